// Runs Jaeger UI's own critical-path code (transpiled from a jaeger-ui
// checkout by compare_critical_path_with_jaeger.sh) on traces.json and
// prints, per trace, its sections as [span ID, start µs, end µs].
const criticalPath = require("./src/components/TracePage/CriticalPath/index.js").default;
const traces = require("./traces.json");
const out = {};
for (const trace of traces) {
  // The fields of Jaeger's OpenTelemetry span model the code reads.
  const byId = new Map();
  for (const s of trace.spans) {
    byId.set(s.id, {
      spanID: String(s.id),
      parentSpanID: s.parent ? String(s.parent) : undefined,
      kind: s.kind.toUpperCase(),
      startTime: s.start,
      endTime: s.end,
      duration: s.end - s.start,
      childSpans: [],
    });
  }
  for (const s of trace.spans) {
    const parent = s.parent ? byId.get(s.parent) : undefined;
    if (parent) {
      byId.get(s.id).parentSpan = parent;
      parent.childSpans.push(byId.get(s.id));
    }
  }
  for (const s of byId.values()) s.childSpans.sort((a, b) => a.startTime - b.startTime);
  const rootSpans = [...byId.values()].filter((s) => !s.parentSpan).sort((a, b) => a.startTime - b.startTime);
  const result = criticalPath({ rootSpans, spans: [...byId.values()] });
  out[trace.trace] = result.sections.map((x) => [Number(x.spanID), x.sectionStart, x.sectionEnd]);
}
console.log(JSON.stringify(out));
