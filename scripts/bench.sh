#!/usr/bin/env bash
# The one command for every benchmark figure (issue 12): the hot path (a
# child process per library and case, collectors drained between samples),
# the all-in runs (every thread's CPU, drops, peak RSS) and instructions per
# span (callgrind). Writes target/bench-summary.json (hot/, all_in/, instr/,
# drop/, faults/), target/bench-details.json (every pass, counts, the load
# average at the start and end of each run) and target/bench-report.md (the
# table printed at the end).
#
#   scripts/bench.sh                   # about 10 minutes on an idle 2-core machine
#   BENCH_PASSES=5 scripts/bench.sh    # more passes (the lowest figure is kept)
#
# Other knobs: BENCH_TRACES (hot path: traces per row and pass, 10000),
# BENCH_SAMPLE_TRACES (traces between two drains, 10), BENCH_CHILDREN (child
# spans per trace, 100), BENCH_SPANS (all-in: spans per run, 5050000),
# BENCH_RATE (all-in paced rate, spans/s), TRACES (callgrind: traces per
# case, 2000). Exits non-zero if a bench fails or spans are not accounted
# for; the other steps still run, and their figures are kept.
# The benches are the package trace-benches (benches/Cargo.toml), a default
# member of the workspace, so `cargo bench --bench NAME` finds them here.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
status=0
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cargo bench --bench spans >/dev/null || status=1
cargo bench --bench spans_all_in >/dev/null || status=1
# Prints the whole table, every bench's figures included.
scripts/instructions.sh || status=1
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit "$status"
