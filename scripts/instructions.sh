#!/usr/bin/env bash
# Instructions per span on the calling thread, counted by callgrind, for each
# library and case of the benches (issues 7 and 12). Unlike times, the counts
# do not depend on what else runs on the machine, so they compare commits and
# libraries on a shared machine; they do not see cache misses, atomics'
# latency or the clock's real cost.
#
#   scripts/instructions.sh                # all cases, TRACES=2000 each
#   scripts/instructions.sh ours/tag1      # one case, printed only
#
# With all cases, writes target/instructions.json ({ "library/case":
# instructions_per_span }) and copies it into target/bench-summary.json as
# instr/<case>/<library>, then prints the bench table. Keeps each callgrind
# profile in target/profile/ for callgrind_annotate. A case that cannot be
# counted stops the script with an error.
set -euo pipefail
cd "$(dirname "$0")/.."
traces=${TRACES:-2000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

exe=$(cargo bench --bench spans_all_in --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*spans_all_in[^"]*"' | tail -1 | cut -d'"' -f4)
[ -n "$exe" ] && [ -x "$exe" ] || { echo "cannot build or find the spans_all_in bench binary" >&2; exit 1; }

cases=("$@")
all=$(( $# == 0 ))
if [ "$all" = 1 ]; then
  cases=(
    ours/untagged ours/tag1 ours/tags2 ours/async ours/root ours/unsampled ours/no_tracer
    floor/untagged
    fastrace/untagged fastrace/tag1 fastrace/tags2 fastrace/async fastrace/root
    fastrace/unsampled fastrace/no_tracer
    tracing/untagged tracing/tag1 tracing/tags2 tracing/async tracing/root tracing/no_tracer
    otel/untagged otel/tag1 otel/tags2
    ours/otlp_json
  )
fi

mkdir -p target/profile
json="{"
sep=""
printf '%-20s %12s\n' case "Ir/span"
for case in "${cases[@]}"; do
  library=${case%/*}
  shape=${case#*/}
  n=$traces
  [ "$shape" = root ] && n=$((traces * (${BENCH_CHILDREN:-100} + 1)))
  [ "$shape" = otlp_json ] && n=5
  profile=target/profile/callgrind.$library.$shape.out
  figures=$(valgrind --tool=callgrind --callgrind-out-file="$profile" \
    "$exe" --child profile "$library" "$shape" "$n" 2>/dev/null | sed -n 's/^FIGURES //p')
  spans=$(echo "$figures" | grep -o '"spans":[0-9]*' | cut -d: -f2)
  ir=$(callgrind_annotate --inclusive=yes "$profile" 2>/dev/null |
    grep -E 'spans_all_in::measured( |$)' | head -1 | awk '{ gsub(",", "", $1); print $1 }')
  if [ -z "$ir" ] || [ -z "$spans" ] || [ "$spans" = 0 ]; then
    echo "$case: no count (see $profile)" >&2
    exit 1
  fi
  per_span=$(awk -v ir="$ir" -v spans="$spans" 'BEGIN { printf "%.0f", ir / spans }')
  printf '%-20s %12s\n' "$case" "$per_span"
  json+="$sep"$'\n'"  \"$case\": $per_span"
  sep=","
done
json+=$'\n'"}"
if [ "$all" = 1 ]; then
  echo "$json" >target/instructions.json
  "$exe" --instructions
fi
