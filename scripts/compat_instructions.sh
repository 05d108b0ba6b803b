#!/usr/bin/env bash
# Instructions per `tracing` span for each row of benches/compat.rs (issue
# 15), every thread included, counted by callgrind: a run of SPANS spans
# minus a run of none, over SPANS. Unlike the bench's CPU times, the counts
# do not depend on what else runs on the machine, but the all-threads count
# still moves by a few hundred per span between runs: how the export
# thread's batches fall, and what it spins, depend on timing. The second
# column counts the application thread only (the inclusive cost of
# `drive`, the registry's work included), which repeats to a few
# instructions: compare changes of the layer with it. The profile of each
# row's run is kept in target/profile/callgrind.compat.<row>.out.
#
# Only code run by Rust threads' bodies is counted (main's and every spawned
# thread's, through std's __rust_begin_short_backtrace): not what runs
# before main, where fastant calibrates its clock by spinning until two
# 10 ms windows agree, a count that varies by millions with the machine's
# load and made the per-span figures move by hundreds between runs.
#
#   scripts/compat_instructions.sh                 # every row, SPANS=101000
#   scripts/compat_instructions.sh ours otel       # chosen rows
#   EXE=/path/to/compat-binary scripts/compat_instructions.sh ours  # a saved build
set -euo pipefail
cd "$(dirname "$0")/.."
spans=${SPANS:-101000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
exe=${EXE:-$(cargo bench --bench compat --no-run 2>&1 |
  grep -o 'target/[^ )]*/deps/compat-[0-9a-f]*' | tail -1)}
[ -x "$exe" ] || { echo "cannot find the compat bench binary" >&2; exit 1; }
rows=("$@")
[ ${#rows[@]} -eq 0 ] && rows=(registry ours ours_unsampled otel fastrace)
mkdir -p target/profile
# Under valgrind the export threads (ours and the OTel SDK's) fall behind
# the application thread, and their default queues of 2048 spans would drop
# most of the run (counted, but never converted or exported, so missing
# from the count): both get a queue as long as the run, through the
# standard variable each reads. A row that delivers fewer spans than it
# made is printed with what it delivered (fastrace's collector, which has
# no such setting, loses spans under valgrind): its all-threads count then
# misses the work those spans would have cost.
export OTEL_BSP_MAX_QUEUE_SIZE=$((spans + 1000))
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Prints the run's instruction count, and a note on stderr if a row that
# exports delivered fewer spans than it made.
total() {
  local figures
  figures=$(valgrind --tool=callgrind --callgrind-out-file="$3" --log-file="$log" \
    --toggle-collect='std::sys::backtrace::__rust_begin_short_backtrace*' \
    "$exe" --child "$1" "$2")
  read -r _ made delivered _ <<<"$figures"
  case $1 in
    ours | otel | fastrace)
      [ "$delivered" = "$made" ] || echo "$1: delivered $delivered of $made spans under valgrind" >&2 ;;
  esac
  sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$log"
}
printf '%-16s %12s %12s\n' row "Ir/span" "app thread"
for row in "${rows[@]}"; do
  profile=target/profile/callgrind.compat.$row.out
  with=$(total "$row" "$spans" "$profile")
  without=$(total "$row" 0 /dev/null)
  [ -n "$with" ] && [ -n "$without" ] || { echo "callgrind gave no count for $row" >&2; exit 1; }
  app=$(callgrind_annotate --inclusive=yes "$profile" 2>/dev/null |
    grep -E 'compat::drive( |$)' | head -1 | awk '{ gsub(",", "", $1); print $1 }') || true
  [ -n "$app" ] || { echo "no count of compat::drive in $profile" >&2; exit 1; }
  awk -v a="$with" -v b="$without" -v n="$spans" -v r="$row" -v d="$app" \
    'BEGIN { printf "%-16s %12.0f %12.0f\n", r, (a - b) / n, d / n }'
done
