#!/usr/bin/env bash
# Fuzzes every parser that reads input from outside the process (the
# `traceparent`, `tracestate`, `baggage` and B3 headers, the composite
# extraction, and the JSON Lines and OTLP JSON span readers) for a bounded
# time each, with cargo-fuzz and libFuzzer.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 60; TARGET defaults to every target in
# fuzz/fuzz_targets/. Installs cargo-fuzz if it is missing. Prints the
# executions per target (from libFuzzer's final `#N DONE ... exec/s` line)
# and exits non-zero if any target found a crash, a timeout or an
# out-of-memory input: libFuzzer saves each in fuzz/artifacts/<target>/,
# where `cargo test --test fuzz_corpus` replays it until it is fixed.
#
# The seeds in fuzz/corpus/<target>/ are only read; what libFuzzer adds to
# the corpus goes to fuzz/target/corpus/<target>/ (kept between runs, not
# committed). Logs: fuzz/target/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
fi

# cargo-fuzz builds with nightly-only flags (`-Zsanitizer=address`); this
# lets the stable toolchain accept them.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

echo "==> building ${#targets[@]} fuzz targets"
cargo fuzz build

mkdir -p fuzz/target/logs
failed=()
summary=()
for target in "${targets[@]}"; do
  work="fuzz/target/corpus/$target"
  log="fuzz/target/logs/$target.log"
  mkdir -p "$work" "fuzz/corpus/$target"
  echo "==> $target: ${seconds}s"
  status=0
  # New inputs go to the first corpus directory (the scratch one).
  cargo fuzz run "$target" "$work" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)"
  execs="$(sed -nE 's/^#([0-9]+)[[:space:]]+DONE.*/\1/p' <<<"$done_line")"
  rate="$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$done_line")"
  if [ "$status" -ne 0 ] || [ -z "$execs" ]; then
    failed+=("$target")
    summary+=("$(printf '%-12s FINDING (exit %s), see %s' "$target" "$status" "$log")")
    grep -E 'ERROR|panicked|Test unit written to' "$log" | head -n 5 || true
  else
    summary+=("$(printf '%-12s %12s executions  %8s exec/s' "$target" "$execs" "$rate")")
  fi
done

echo
echo "==> fuzzing summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "findings in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
