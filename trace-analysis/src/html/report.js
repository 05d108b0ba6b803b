"use strict";
// The waterfall view. Data: #trace-data (see html.rs). Every text from the
// data goes through textContent, never innerHTML.
(function () {
  const data = JSON.parse(document.getElementById("trace-data").textContent);
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
  const state = { trace: null, span: null, showCritical: true };

  function color(svc) {
    return svc < PALETTE.length ? PALETTE[svc] : "hsl(" + ((svc * 137.5) % 360) + ", 45%, 60%)";
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "style") Object.assign(node.style, value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node[key] = value;
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function fmt(ns) {
    const a = Math.abs(ns);
    if (a < 1e3) return ns + " ns";
    if (a < 1e6) return (ns / 1e3).toFixed(1) + " µs";
    if (a < 1e9) return (ns / 1e6).toFixed(1) + " ms";
    return (ns / 1e9).toFixed(2) + " s";
  }

  function wallClock(unixNanos) {
    try {
      return new Date(Number(BigInt(unixNanos) / 1000000n)).toISOString().replace("T", " ").replace("Z", " UTC");
    } catch (e) {
      return unixNanos + " ns";
    }
  }

  function timeOfDay(unixNanos) {
    const text = wallClock(unixNanos);
    return text.length > 19 ? text.slice(11, 23) : text;
  }

  function swatch(svc) {
    return el("span", { className: "swatch", style: { background: color(svc) } });
  }

  function tagValue(v) {
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  function renderHeader() {
    const spans = data.traces.reduce((n, t) => n + t.spans.length, 0);
    const failed = data.traces.filter((t) => t.errors > 0).length;
    document.getElementById("totals").textContent =
      data.traces.length + " traces, " + spans + " spans, " + failed + " with errors";
    document.getElementById("legend").replaceChildren(
      ...data.services.map((name, i) => el("span", { className: "service" }, swatch(i), name))
    );
  }

  function renderList() {
    const list = document.getElementById("trace-list");
    if (data.traces.length === 0) {
      list.replaceChildren(el("p", { className: "empty" }, "No traces."));
      return;
    }
    list.replaceChildren(
      ...data.traces.map((t) =>
        el(
          "div",
          {
            className: "trace-item" + (t === state.trace ? " selected" : ""),
            dataset: { trace: t.id },
            title: "trace " + t.id + (t.errors > 0 ? " (has errors)" : ""),
            onclick: () => select(t, null),
          },
          el("span", { className: "mark" }, t.errors > 0 ? "✖" : ""),
          el("span", { className: "name" }, t.name),
          el("span", { className: "dur" }, fmt(t.duration)),
          el("span", { className: "meta" }, t.service + " · " + t.spans.length + " spans · " +
            (t.errors > 0 ? t.errors + " error" + (t.errors > 1 ? "s" : "") + " · " : "") +
            (t.orphans > 0 ? t.orphans + " orphan" + (t.orphans > 1 ? "s" : "") + " · " : "") +
            timeOfDay(t.start_unix_nanos))
        )
      )
    );
  }

  // Round tick spacing: 1, 2 or 5 times a power of ten, about eight ticks.
  function ticks(total) {
    if (total <= 0) return [0];
    const raw = total / 8;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
    const out = [];
    for (let t = 0; t <= total * 1.0001; t += step) out.push(t);
    return out;
  }

  function failingCallers(t) {
    return t.cause.chain.slice(1).filter((i) => t.spans[i].status.code === "error").length;
  }

  function renderTrace() {
    const main = document.getElementById("trace");
    const t = state.trace;
    if (!t) {
      main.replaceChildren(el("p", { className: "empty" }, "No trace selected."));
      return;
    }
    const total = Math.max(t.duration, 1);
    const pct = (ns) => (ns / total) * 100 + "%";
    const meta = el(
      "div",
      { className: "trace-meta" },
      fmt(t.duration) + " · " + t.spans.length + " spans · started " + wallClock(t.start_unix_nanos) + " · trace ",
      el("code", {}, t.id),
      t.orphans > 0 ? " · " + t.orphans + " orphan span(s): their parent never arrived" : "",
      t.duplicates > 0 ? " · " + t.duplicates + " duplicate span record(s) dropped" : ""
    );
    let cause = null;
    if (t.cause) {
      const origin = t.spans[t.cause.span];
      cause = el(
        "div",
        { className: "cause" },
        "✖ Error originated in ",
        el("strong", {}, t.cause.service),
        ": ",
        el("a", { onclick: () => select(t, t.cause.span) }, origin.name),
        " — " + t.cause.message + " (propagated through " + failingCallers(t) + " failing caller span(s))"
      );
    }
    const controls = el(
      "div",
      { className: "controls" },
      el(
        "label",
        {},
        el("input", {
          type: "checkbox",
          id: "show-critical",
          checked: state.showCritical,
          onchange: (e) => {
            state.showCritical = e.target.checked;
            document.getElementById("timeline").classList.toggle("hide-critical", !state.showCritical);
          },
        }),
        " highlight critical path ",
        el("span", { className: "crit-key" }),
        fmt(t.critical)
      ),
      el("span", {}, el("span", { className: "err" }, "✖"), " error span")
    );
    const axis = el(
      "div",
      { className: "axis" },
      el("div", {}),
      el("div", { className: "ticks" }, ...ticks(t.duration).map((v) => el("span", { className: "tick", style: { left: pct(v) } }, v === 0 ? "0" : fmt(v))))
    );
    const rows = t.spans.map((s, i) => {
      const left = (s.start / total) * 100;
      const width = (s.dur / total) * 100;
      const text = el("span", { className: "bar-text" }, fmt(s.dur));
      if (left + width <= 82) text.style.left = left + width + 0.5 + "%";
      else if (left >= 12) text.style.right = 100 - left + 0.5 + "%";
      else {
        text.style.right = Math.max(100 - left - width, 0) + 0.5 + "%";
        text.classList.add("inside");
      }
      const label = el(
        "div",
        { className: "label", style: { paddingLeft: 6 + s.depth * 12 + "px" }, title: s.service + " " + s.name },
        s.status.code === "error" ? el("span", { className: "err" }, "✖") : null,
        el("span", { className: "svc" }, swatch(s.svc), s.service),
        el("span", { className: "op" }, s.name),
        s.orphan ? el("span", { className: "orphan" }, "orphan") : null
      );
      const lane = el(
        "div",
        { className: "lane" },
        el("div", { className: "bar", style: { left: left + "%", width: width + "%", backgroundColor: color(s.svc) } }),
        ...s.segs.map(([a, b]) => el("div", { className: "seg", style: { left: pct(a), width: pct(b - a) } })),
        text
      );
      return el(
        "div",
        {
          className: "row" + (s.status.code === "error" ? " error" : "") + (s.crit > 0 ? " on-path" : "") + (i === state.span ? " selected" : ""),
          dataset: { span: i, spanId: s.id },
          onclick: () => select(t, i),
        },
        label,
        lane
      );
    });
    const grid = ticks(t.duration).map((v) =>
      el("div", { className: "gridline", style: { left: "calc(var(--label-width) + (100% - var(--label-width)) * " + v / total + ")" } })
    );
    const timeline = el("div", { id: "timeline", className: state.showCritical ? "" : "hide-critical" }, ...grid, axis, ...rows);
    main.replaceChildren(...[el("h2", {}, t.service + " " + t.name), meta, cause, controls, timeline].filter(Boolean));
  }

  function table(pairs) {
    return el("table", {}, ...pairs.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v))));
  }

  function renderDetail() {
    const panel = document.getElementById("detail");
    const t = state.trace;
    if (!t || state.span === null) {
      panel.replaceChildren(el("p", { className: "hint" }, "Click a span for its details."));
      return;
    }
    const s = t.spans[state.span];
    const status =
      s.status.code === "error"
        ? el("span", { className: "status-error" }, "error: " + (s.status.message || ""))
        : el("span", { className: "status-" + s.status.code }, s.status.code);
    const parent =
      s.parent !== null
        ? el("a", { className: "detail-link", onclick: () => select(t, s.parent) }, s.parent_id)
        : s.parent_id
          ? s.parent_id + " (not found: orphan)"
          : "none (root)";
    const sections = [
      el("h3", {}, s.name),
      el("div", {}, swatch(s.svc), s.service + " · " + s.kind),
      el("h4", {}, "Status"),
      status,
      el("h4", {}, "Timing"),
      table([
        ["duration", fmt(s.dur)],
        ["start", "+" + fmt(s.start) + " from trace start"],
        ["self time", fmt(s.self)],
        ["critical path", s.crit > 0 ? fmt(s.crit) + " (" + ((s.crit / Math.max(t.critical, 1)) * 100).toFixed(1) + "%)" : "not on the path"],
      ]),
      el("h4", {}, "IDs"),
      table([
        ["trace", el("code", {}, t.id)],
        ["span", el("code", {}, s.id)],
        ["parent", el("code", {}, parent)],
      ]),
      el("h4", {}, "Tags (" + s.tags.length + ")"),
      s.tags.length ? table(s.tags.map(([k, v]) => [k, tagValue(v)])) : el("p", { className: "hint" }, "none"),
      el("h4", {}, "Events (" + s.events.length + ")" + (s.events.length ? " · times from span start" : "")),
      ...s.events.map((e) =>
        el(
          "div",
          { className: "event" },
          el("span", { className: "when" }, "+" + fmt(e.t)),
          el("strong", {}, e.name),
          e.tags.length ? table(e.tags.map(([k, v]) => [k, tagValue(v)])) : null
        )
      ),
    ];
    if (s.links.length) {
      sections.push(el("h4", {}, "Links (" + s.links.length + ")"));
      sections.push(table(s.links.map((l) => [el("code", {}, l.span_id), el("code", {}, l.trace_id)])));
    }
    panel.replaceChildren(...sections);
  }

  function select(trace, span) {
    const changed = trace !== state.trace;
    state.trace = trace;
    state.span = span;
    if (changed) renderList();
    else for (const item of document.querySelectorAll(".trace-item")) item.classList.toggle("selected", item.dataset.trace === trace.id);
    renderTrace();
    renderDetail();
    const hash = "#trace=" + trace.id + (span !== null ? "&span=" + trace.spans[span].id : "");
    try {
      if (location.hash !== hash) history.replaceState(null, "", hash);
    } catch (e) {
      // Some browsers refuse to change the address of a file: page.
    }
    if (span !== null) {
      const row = document.querySelector('.row[data-span="' + span + '"]');
      if (row && row.scrollIntoView) row.scrollIntoView({ block: "nearest" });
    }
  }

  function fromHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const trace = data.traces.find((t) => t.id === params.get("trace")) || data.traces[0];
    if (!trace) return;
    const index = trace.spans.findIndex((s) => s.id === params.get("span"));
    select(trace, index >= 0 ? index : null);
  }

  renderHeader();
  renderList();
  renderTrace();
  renderDetail();
  fromHash();
  window.addEventListener("hashchange", fromHash);
})();
