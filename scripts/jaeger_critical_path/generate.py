"""Random traces for compare_critical_path_with_jaeger.sh: traces.json (the
spans, times in µs) for jaeger.js and traces.jsonl (the same spans) for
trace_report. Usage: generate.py [SEED] [PLAIN]; PLAIN=1 makes no deliberate
back-to-back siblings or ties (clipping to a parent's end still makes some).
"""
import json
import random
import sys

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 17
plain = len(sys.argv) > 2 and sys.argv[2] == "1"
random.seed(seed)
BASE = 1_000_000  # µs: Jaeger's walk reads a start time of 0 as "none"


def trace(number):
    spans = []

    def new(parent, kind, start, end, name):
        spans.append(dict(id=len(spans) + 1, parent=parent, kind=kind, start=start,
                          end=max(end, start + 1), name=name))
        return spans[-1]

    def grow(parent, depth):
        if depth >= 3:
            return
        count = random.choice([0, 1, 2, 3, 4] if depth else [1, 2, 3, 4])
        previous = None
        for _ in range(count):
            mode = random.random()
            length = parent["end"] - parent["start"]
            if previous and mode < 0.15 and not plain:
                start = previous["end"]  # back-to-back with the previous sibling
            elif previous and mode < 0.20:
                start = previous["start"] + random.randint(1, max(1, (previous["end"] - previous["start"]) // 2))
            else:
                start = random.randint(parent["start"], max(parent["start"], parent["end"] - 5))
            end = start + random.randint(5, max(6, length // 2))
            if previous and 0.20 <= mode < 0.25 and not plain:
                end = previous["end"]  # ends with the previous sibling
                start = min(start, end - 1)
            overflow = random.random()
            if overflow < 0.08:
                end = parent["end"] + random.randint(1, 200)
            elif overflow < 0.10:
                start = parent["start"] - random.randint(1, 30)
            kind = "producer" if random.random() < 0.10 else "internal"
            child = new(parent["id"], kind, start, end, "op%d" % (len(spans) + 1))
            if kind == "producer":
                new(child["id"], "consumer",
                    child["start"] + random.randint(0, child["end"] - child["start"]),
                    child["end"] + random.randint(-5, 300), "consume")
            grow(child, depth + 1)
            previous = child

    grow(new(None, "server", 0, random.randint(200, 1000), "root"), 0)
    if number % 25 == 0:  # a second root
        grow(new(None, "server", random.randint(0, 100), random.randint(200, 900), "root2"), 1)
    for span in spans:
        span["start"] += BASE
        span["end"] += BASE
    return dict(trace=number, spans=spans)


traces = [trace(n) for n in range(1, 201)]
json.dump(traces, open("traces.json", "w"))
with open("traces.jsonl", "w") as out:
    for t in traces:
        for s in t["spans"]:
            out.write(json.dumps({
                "trace_id": "%032x" % t["trace"], "span_id": "%016x" % s["id"],
                "parent_id": "%016x" % s["parent"] if s["parent"] else None,
                "service": "svc", "name": s["name"], "kind": s["kind"],
                "start_unix_nanos": s["start"] * 1000,
                "duration_nanos": (s["end"] - s["start"]) * 1000}) + "\n")
print(len(traces), "traces,", sum(len(t["spans"]) for t in traces), "spans,",
      sum(s["kind"] == "consumer" for t in traces for s in t["spans"]), "consumers under producers")
