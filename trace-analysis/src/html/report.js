"use strict";
// The waterfall view. Data: #trace-data (see html.rs). Every text from the
// data goes through textContent, never innerHTML.
(function () {
  const data = JSON.parse(document.getElementById("trace-data").textContent);
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
  // labelWidth: the name column's width in pixels once the user dragged it; null: fitted to the names.
  // Moved under the selected row, so held here while out of the document.
  const detailPanel = document.getElementById("detail");
  const state = { trace: null, span: null, showCritical: true, labelWidth: null };

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

  // The span with the most time on the critical path: where the trace's time went.
  function slowest(t) {
    let best = null;
    for (const s of t.spans) if (s.crit > 0 && (best === null || s.crit > best.crit)) best = s;
    return best;
  }

  function notAwaited(s) {
    return s.detached === "consumer"
      ? "a consumer: the producer above it did not wait for it"
      : "follows from its parent, which did not wait for it";
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function renderList() {
    const list = document.getElementById("trace-list");
    if (data.traces.length === 0) {
      list.replaceChildren(el("p", { className: "empty" }, "No traces."));
      return;
    }
    const head = el(
      "div",
      { className: "trace-head" },
      el("span", {}),
      el("span", {}, "root span"),
      el("span", { className: "dur" }, "duration"),
      el("span", { className: "slowest" }, "most time on critical path"),
      el("span", { className: "count" }, "spans"),
      el("span", { className: "services" }, "services"),
      el("span", { className: "when" }, "started")
    );
    const items = data.traces.map((t) => {
      const top = slowest(t);
      const services = [...new Set(t.spans.map((s) => s.service))];
      const root = t.service + " " + t.name;
      const topText = top ? top.service + " " + top.name : "";
      const took = top ? fmt(top.crit) : "";
      return el(
        "div",
        {
          className: "trace-item" + (t.errors > 0 ? " failed" : "") + (t === state.trace ? " selected" : ""),
          dataset: { trace: t.id },
          title:
            root + " · " + fmt(t.duration) + " · trace " + t.id +
            (t.errors > 0 ? " · " + plural(t.errors, "error") : "") +
            (t.orphans > 0 ? " · " + plural(t.orphans, "orphan") : ""),
          onclick: () => select(t, null),
        },
        el("span", { className: "mark", title: t.errors > 0 ? plural(t.errors, "error span") : "" }, t.errors > 0 ? "✖" : ""),
        el("span", { className: "name", title: root }, el("span", { className: "svc" }, t.service), t.name),
        el("span", { className: "dur" }, fmt(t.duration)),
        el(
          "span",
          { className: "slowest", title: top ? topText + ": " + took + " on the critical path" : "" },
          topText,
          el("span", { className: "took" }, took)
        ),
        el(
          "span",
          { className: "count", title: plural(t.spans.length, "span") + (t.errors > 0 ? ", " + plural(t.errors, "error") : "") },
          String(t.spans.length),
          t.errors > 0 ? el("span", { className: "errors" }, " ✖" + t.errors) : null
        ),
        el("span", { className: "services", title: services.join(", ") }, services.join(", ")),
        el("span", { className: "when", title: wallClock(t.start_unix_nanos) }, timeOfDay(t.start_unix_nanos))
      );
    });
    list.replaceChildren(head, ...items);
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
        { title: "The critical path: at each moment, the span the request was waiting on" },
        el("input", {
          type: "checkbox",
          id: "show-critical",
          checked: state.showCritical,
          onchange: (e) => {
            state.showCritical = e.target.checked;
            document.getElementById("timeline").classList.toggle("hide-critical", !state.showCritical);
          },
        }),
        " critical path",
        el("span", { className: "crit-key" }),
        fmt(t.critical) + " (spans off the path are faded)"
      ),
      el("span", { className: "legend-error" }, el("span", { className: "err" }, "✖"), " error span"),
      el("span", { className: "hint" }, "drag the name column's edge to resize it; double-click the edge to fit the names")
    );
    const axis = el(
      "div",
      { className: "axis" },
      el("div", { className: "names" }, "service · operation"),
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
        {
          className: "label",
          style: { paddingLeft: 6 + s.depth * 12 + "px" },
          title: s.service + " " + s.name + " · " + fmt(s.dur) + (s.crit > 0 ? " · " + fmt(s.crit) + " on the critical path" : ""),
        },
        s.status.code === "error" ? el("span", { className: "err" }, "✖") : null,
        el("span", { className: "svc" }, swatch(s.svc), s.service),
        el("span", { className: "op", title: s.name }, s.name),
        s.orphan ? el("span", { className: "orphan" }, "orphan") : null,
        s.detached ? el("span", { className: "orphan", title: notAwaited(s) }, "not awaited") : null
      );
      const lane = el(
        "div",
        { className: "lane" },
        el("div", { className: "bar", style: { left: left + "%", width: width + "%", backgroundColor: color(s.svc) } }),
        ...s.segs.map(([a, b]) =>
          el("div", { className: "seg", title: "critical path: " + fmt(b - a), style: { left: pct(a), width: pct(b - a) } })
        ),
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
    const resizer = el("div", {
      className: "resizer",
      title: "drag to resize the name column; double-click to fit the names",
      onpointerdown: startResize,
      ondblclick: () => {
        state.labelWidth = null;
        fitLabels();
      },
    });
    const timeline = el("div", { id: "timeline", className: state.showCritical ? "" : "hide-critical" }, ...grid, axis, ...rows, resizer);
    main.replaceChildren(...[el("h2", {}, t.service + " " + t.name), meta, cause, controls, timeline].filter(Boolean));
    fitLabels();
  }

  // The name column: as wide as the longest name (indent included), at
  // most 45% of the waterfall, unless the user dragged it; names cut to fit
  // keep their full text in a tooltip.
  function fitLabels() {
    const timeline = document.getElementById("timeline");
    if (!timeline) return;
    const total = timeline.clientWidth;
    const widest = Math.max(120, Math.floor(total - 160));
    let width = state.labelWidth;
    if (width === null) {
      timeline.style.setProperty("--label-width", "1px");
      let needed = 0;
      for (const label of timeline.querySelectorAll(".row .label")) needed = Math.max(needed, label.scrollWidth);
      width = Math.min(needed + 4, Math.floor(total * 0.45));
    }
    width = Math.max(80, Math.min(width, widest));
    timeline.style.setProperty("--label-width", width + "px");
  }

  function startResize(down) {
    down.preventDefault();
    const timeline = document.getElementById("timeline");
    const handle = down.currentTarget;
    handle.classList.add("dragging");
    const move = (e) => {
      state.labelWidth = Math.round(e.clientX - timeline.getBoundingClientRect().left);
      fitLabels();
    };
    const up = () => {
      handle.classList.remove("dragging");
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  function table(pairs) {
    return el("table", {}, ...pairs.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v))));
  }

  // The detail panel sits under the selected span's row, across the full
  // width; with no span selected, under the waterfall as a hint.
  function renderDetail() {
    const panel = detailPanel;
    const t = state.trace;
    if (!t || state.span === null) {
      panel.className = "empty-detail";
      panel.replaceChildren(el("p", { className: "hint" }, "Click a span for its details."));
      const main = document.getElementById("trace");
      if (t) main.append(panel);
      return;
    }
    panel.className = "";
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
    const timing = el(
      "div",
      {},
      el("h4", {}, "Status"),
      status,
      el("h4", {}, "Timing"),
      table([
        ["duration", fmt(s.dur)],
        ["start", "+" + fmt(s.start) + " from trace start"],
        ["self time", fmt(s.self)],
        [
          "critical path",
          s.crit > 0
            ? fmt(s.crit) + " (" + ((s.crit / Math.max(t.critical, 1)) * 100).toFixed(1) + "%)"
            : "not on the path" + (s.detached ? ": " + notAwaited(s) : ""),
        ],
      ])
    );
    const ids = el(
      "div",
      {},
      el("h4", {}, "IDs"),
      table([
        ["trace", el("code", {}, t.id)],
        ["span", el("code", {}, s.id)],
        ["parent", el("code", {}, parent)],
      ]),
      el("h4", {}, "Tags (" + s.tags.length + ")"),
      s.tags.length ? table(s.tags.map(([k, v]) => [k, tagValue(v)])) : el("p", { className: "hint" }, "none")
    );
    const events = el(
      "div",
      {},
      el("h4", {}, "Events (" + s.events.length + ")" + (s.events.length ? " · times from span start" : "")),
      ...s.events.map((e) =>
        el(
          "div",
          { className: "event" },
          el("span", { className: "when" }, "+" + fmt(e.t)),
          el("strong", {}, e.name),
          e.tags.length ? table(e.tags.map(([k, v]) => [k, tagValue(v)])) : null
        )
      )
    );
    if (s.links.length) {
      events.append(el("h4", {}, "Links (" + s.links.length + ")"));
      events.append(table(s.links.map((l) => [el("code", {}, l.span_id), el("code", {}, l.trace_id)])));
    }
    const head = el("div", { className: "head" }, el("h3", {}, s.name), el("div", {}, swatch(s.svc), s.service + " · " + s.kind));
    panel.replaceChildren(head, timing, ids, events);
    const row = document.querySelector('.row[data-span="' + state.span + '"]');
    if (row) row.after(panel);
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
  window.addEventListener("resize", fitLabels);
})();
