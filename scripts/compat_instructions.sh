#!/usr/bin/env bash
# Instructions per `tracing` span for each row of benches/compat.rs (issue
# 15), every thread included, counted by callgrind: a run of SPANS spans
# minus a run of none, over SPANS. Unlike the bench's CPU times, the counts
# do not depend on what else runs on the machine.
#
#   scripts/compat_instructions.sh                 # every row, SPANS=101000
#   scripts/compat_instructions.sh ours otel       # chosen rows
set -euo pipefail
cd "$(dirname "$0")/.."
spans=${SPANS:-101000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
exe=$(cargo bench --bench compat --no-run 2>&1 |
  grep -o 'target/[^ )]*/deps/compat-[0-9a-f]*' | tail -1)
[ -x "$exe" ] || { echo "cannot find the compat bench binary" >&2; exit 1; }
rows=("$@")
[ ${#rows[@]} -eq 0 ] && rows=(registry ours ours_unsampled otel fastrace)
total() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$exe" --child "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
printf '%-16s %12s\n' row "Ir/span"
for row in "${rows[@]}"; do
  with=$(total "$row" "$spans")
  without=$(total "$row" 0)
  [ -n "$with" ] && [ -n "$without" ] || { echo "callgrind gave no count for $row" >&2; exit 1; }
  awk -v a="$with" -v b="$without" -v n="$spans" -v r="$row" 'BEGIN { printf "%-16s %12.0f\n", r, (a - b) / n }'
done
