#!/usr/bin/env python3
"""Prints the README's performance table from target/bench-summary.json,
which scripts/bench.sh writes: every figure of the table comes from that
one run. In brackets, the peer's figure divided by ours (above 1x we are
cheaper)."""
import json
import sys

summary = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "target/bench-summary.json"))
peers = ["fastrace", "tracing", "otel"]
rows = [
    ("no tags", "untagged"),
    ("1 integer tag", "tag1"),
    ("integer + `&str` tags¹", "tags2"),
    ("`async fn`", "async"),
    ("root span alone", "root"),
    ("no trace started / unsampled²", "unsampled"),
    ("no tracer or subscriber installed", "no_tracer"),
]


def cell(kind, case, library, ours, digits):
    value = summary.get(f"{kind}/{case}/{library}")
    if value is None:
        return "—"
    text = f"{value:.{digits}f}"
    return text if ours is None else f"{text} ({value / ours:.2f}×)"


print("| per span, calling thread | trace-runtime | fastrace | `tracing` | OTel SDK |")
print("| --- | ---: | ---: | ---: | ---: |")
for label, case in rows:
    for kind, unit, digits in [("hot", "ns", 1), ("instr", "instructions", 0)]:
        ours = summary.get(f"{kind}/{case}/ours")
        if ours is None:
            continue
        cells = [cell(kind, case, peer, ours, digits) for peer in peers]
        print(f"| {label}, {unit} | **{ours:.{digits}f}** | " + " | ".join(cells) + " |")
