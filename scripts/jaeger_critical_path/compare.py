"""Compares trace_report's critical paths (ours.json) with Jaeger UI's
(jaeger_out.json) on the generated traces (traces.json): the traces that
agree, and the others grouped by the documented differences they contain.
Jaeger walks every root and concatenates the sections, so ours are compared
as the union of the paths walked from roots and orphans.
"""
import sys
import json, collections
traces = {t["trace"]: t["spans"] for t in json.load(open("traces.json"))}
jaeger = json.load(open("jaeger_out.json"))
ours_doc = json.load(open("ours.json"))
def merge(segs):
    segs = sorted(segs, key=lambda s: (s[1], s[2]))
    out = []
    for s in segs:
        if out and out[-1][0] == s[0] and out[-1][2] == s[1]:
            out[-1] = [s[0], out[-1][1], s[2]]
        else:
            out.append(list(s))
    return out
ours = {}
for tr in ours_doc["traces"]:
    t = int(tr["trace_id"], 16)
    segs = []
    for p in tr["paths"]:
        if p["origin"] in ("root", "orphan"):  # Jaeger walks every root; not consumers on their own
            for sp in p["spans"]:
                for g in sp["segments"]:
                    segs.append([int(sp["span_id"], 16), g["start_unix_nanos"] // 1000, g["end_unix_nanos"] // 1000])
    ours[t] = segs
agree = 0; kinds = collections.Counter(); worst = collections.defaultdict(float); examples = {}
for t, spans in traces.items():
    a, b = merge(ours[t]), merge(jaeger[str(t)])
    if a == b:
        agree += 1; continue
    by = {s["id"]: s for s in spans}
    kids = collections.defaultdict(list)
    for s in spans:
        if s["parent"]: kids[s["parent"]].append(s)
    # Clip as both walks do, then look for the documented differences.
    feats = set()
    for p, cs in kids.items():
        P = by[p]
        iv = [(max(c["start"], P["start"]), min(c["end"], P["end"])) for c in cs if not (P["kind"] == "producer" and c["kind"] == "consumer")]
        iv = [x for x in iv if x[0] < x[1]]
        ends = [e for _, e in iv]; starts = [s for s, _ in iv]
        if any(e in starts for e in ends): feats.add("back-to-back")
        if len(ends) != len(set(ends)): feats.add("tie")
    if sum(1 for s in spans if s["parent"] is None) > 1: feats.add("several roots")
    key = "+".join(sorted(feats)) or "unexplained"
    kinds[key] += 1
    total = sum(e - s for _, s, e in a) or 1
    da = collections.Counter(); 
    for sid, s, e in a: da[sid] += e - s
    db = collections.Counter()
    for sid, s, e in b: db[sid] += e - s
    moved = sum(abs(da[k] - db[k]) for k in set(da) | set(db)) / 2
    worst[key] = max(worst[key], moved / total)
    examples.setdefault(key, t)
print("traces:", len(traces), "agree:", agree)
for k, n in kinds.most_common():
    print(f"  differ ({k}): {n}, at most {worst[k]*100:.1f}% of a trace's path time charged to other spans; e.g. trace {examples[k]}")
# A difference none of the documented rules explains is a disagreement.
if kinds["unexplained"]:
    sys.exit(1)
