#!/usr/bin/env bash
# Runs the official W3C Trace Context test suite (Level 2, strict) against
# examples/w3c_service.rs.
#
#   scripts/w3c_suite.sh PATH_TO_TRACE_CONTEXT_CHECKOUT [PYTHON]
#
# PATH_TO_TRACE_CONTEXT_CHECKOUT is a clone of github.com/w3c/trace-context
# (the suite is its test/ folder; it is not copied here). PYTHON defaults to
# python3 and needs the `aiohttp` package (`pip install aiohttp`).
# SERVICE_PORT (default 5000) is where the example service listens; the
# suite's harness listens on 7777. Exits with the suite's status: 0 when
# every test passed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ ! -f "$1/test/test.py" ]; then
  echo "usage: scripts/w3c_suite.sh PATH_TO_TRACE_CONTEXT_CHECKOUT [PYTHON]" >&2
  exit 2
fi
suite="$(cd "$1/test" && pwd)"
python="${2:-python3}"
port="${SERVICE_PORT:-5000}"

cargo build --quiet --example w3c_service
target="${CARGO_TARGET_DIR:-target}"
"$target/debug/examples/w3c_service" --listen "127.0.0.1:$port" &
service=$!
trap 'kill "$service" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done

cd "$suite"
SPEC_LEVEL=2 STRICT_LEVEL=2 "$python" test.py "http://127.0.0.1:$port/test"
