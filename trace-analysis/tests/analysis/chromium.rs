//! The HTML report in real headless Chromium, at 1400×900 and 800×900: a
//! self-test script clicks a trace and a span and checks what is drawn (and
//! that names have tooltips, the waterfall fills the window, the trace list
//! tells traces apart, the critical-path overlay is there); screenshots are
//! kept as `target/tmp/analysis/chromium/waterfall-<W>x<H>.png`.
//!
//! The test is `#[ignore]`d, so `cargo test` reports it as ignored rather
//! than passed on a machine without Chromium; `cargo test --test analysis --
//! --ignored` runs it (CI does) and fails when no Chromium is found on `PATH`
//! or in `$CHROMIUM`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trace_analysis::{assemble, html_report};

use super::sample;

/// Collects script errors from the start, before the report's own script runs.
const ERRORS: &str = "<script>window.__errors = []; \
    addEventListener('error', (e) => window.__errors.push(String(e.message)));</script>\n";

/// Clicks through the page and writes `PASS …`/`FAIL …` lines into `#selftest`.
const SELF_TEST: &str = r##"<script>
(function () {
  const out = [];
  const check = (name, ok) => out.push((ok ? "PASS " : "FAIL ") + name);
  try {
    const q = (s) => document.querySelectorAll(s);
    check("12 traces listed", q("#trace-list .trace-item").length === 12);
    check("2 traces marked failed", [...q(".trace-item .mark")].filter((m) => m.textContent === "✖").length === 2);
    check("first trace shown", q("#timeline .row").length === 12);
    check("no stray text", !document.getElementById("trace").textContent.match(/null|undefined|NaN/));
    document.querySelector('.trace-item[data-trace="__FAILING__"]').click();
    check("failing trace selected", document.querySelector(".trace-item.selected").dataset.trace === "__FAILING__");
    check("12 span rows", q("#timeline .row").length === 12);
    check("6 error rows", q("#timeline .row.error").length === 6);
    check("critical path drawn", q("#timeline .seg").length >= 6 && q("#timeline .row.on-path").length >= 6);
    check("root cause named", document.querySelector(".cause").textContent.includes("payments"));
    const bars = [...q("#timeline .bar")];
    check("bars nested in time", bars.every((b) => parseFloat(b.style.left) >= 0 && parseFloat(b.style.left) + parseFloat(b.style.width) <= 100.01));
    check("bars coloured by service", new Set(bars.map((b) => b.style.backgroundColor)).size === 4);
    check("no detail yet", document.getElementById("detail").textContent.includes("Click a span"));
    document.querySelector('.row[data-span-id="__CARD__"] .bar').click();
    let detail = document.getElementById("detail").textContent;
    check("detail shows span ID", detail.includes("__CARD__"));
    check("detail shows trace ID", detail.includes("__FAILING__"));
    check("detail shows status", detail.includes("error: card declined"));
    check("detail shows tags", detail.includes("amount.cents") && detail.includes("1304"));
    check("detail shows events", detail.includes("retry") && detail.includes("attempt") && detail.includes("backoff.ms"));
    check("row selected", document.querySelector('.row.selected').dataset.spanId === "__CARD__");
    document.querySelector("#detail .detail-link").click();
    detail = document.getElementById("detail").textContent;
    check("parent link opens the parent", detail.includes("POST /charge") && detail.includes("402 payment required"));
    const box = document.getElementById("show-critical");
    box.click();
    check("critical path can be hidden", document.getElementById("timeline").classList.contains("hide-critical"));
    document.querySelector(".trace-item").click();
    check("another trace resets the detail", document.getElementById("detail").textContent.includes("Click a span"));
    // The view: tooltips, width, a list that tells traces apart, the overlay.
    document.querySelector('.trace-item[data-trace="__FAILING__"]').click();
    const data = JSON.parse(document.getElementById("trace-data").textContent);
    const shown = data.traces.find((t) => t.id === document.querySelector(".trace-item.selected").dataset.trace);
    const labels = [...q("#timeline .row")].map((row) => [row.querySelector(".label"), shown.spans[row.dataset.span]]);
    check("labels carry full-name tooltips", labels.length === 12 && labels.every(([l, s]) => l.title.startsWith(s.service + " " + s.name + " ") && l.querySelector(".op").title === s.name));
    check("no name cut", labels.every(([l]) => l.scrollWidth <= l.clientWidth + 1));
    const ratio = document.getElementById("timeline").getBoundingClientRect().width / window.innerWidth;
    check("waterfall fills " + Math.round(ratio * 100) + "% of the " + window.innerWidth + " px window", ratio >= 0.8);
    const items = [...q(".trace-item")];
    check("trace list entries differ as shown", new Set(items.map((i) => i.innerText)).size === items.length);
    check("trace list shows the slowest span", new Set(items.map((i) => i.querySelector(".slowest").textContent.replace(/[0-9.]+ [mµn]?s$/, ""))).size === 2);
    check("trace list names have tooltips", items.every((i) => i.querySelector(".name").title.endsWith("POST /checkout")));
    const segs = shown.spans.reduce((n, s) => n + s.segs.length, 0);
    check("critical-path overlay over the bars", segs >= 6 && q("#timeline .lane .seg").length === segs && [...q("#timeline .seg")].every((g) => g.parentNode.querySelector(".bar")));
    check("critical-path legend", q(".controls .crit-key").length === 1);
    const timeline = document.getElementById("timeline");
    const handle = document.querySelector("#timeline .resizer");
    const left = timeline.getBoundingClientRect().left;
    handle.dispatchEvent(new PointerEvent("pointerdown", { bubbles: true, clientX: left + 200 }));
    window.dispatchEvent(new PointerEvent("pointermove", { clientX: left + 400 }));
    window.dispatchEvent(new PointerEvent("pointerup", { clientX: left + 400 }));
    check("name column resizable", timeline.style.getPropertyValue("--label-width") === "400px");
    handle.dispatchEvent(new MouseEvent("dblclick", { bubbles: true }));
    check("double-click fits the names again", timeline.style.getPropertyValue("--label-width") !== "400px");
    document.querySelector('.row[data-span-id="__CARD__"] .bar').click();
    check("detail under the selected row", document.getElementById("detail").previousElementSibling === document.querySelector(".row.selected"));
    check("no script errors", window.__errors.length === 0 || (out.push("errors: " + window.__errors.join("; ")), false));
  } catch (e) {
    out.push("FAIL exception: " + e);
  }
  const pre = document.createElement("pre");
  pre.id = "selftest";
  pre.textContent = out.join("\n");
  document.body.append(pre);
})();
</script>
"##;

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(path.into());
    }
    let names = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];
    std::env::split_paths(&std::env::var_os("PATH")?)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|path| path.is_file())
}

/// Runs Chromium headless on `url` with `extra` arguments, killing its
/// process group if it takes longer than a minute; returns its stdout.
fn run_chromium(chromium: &Path, profile: &Path, extra: &[String], url: &str) -> String {
    use std::os::unix::process::CommandExt as _;
    let mut child = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        .args([
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
            panic!("chromium took over a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

pub fn check_report(dir: &Path) {
    let chromium = find_chromium().expect(
        "no Chromium found on PATH (chromium, chromium-browser, google-chrome) nor in $CHROMIUM",
    );
    let spans = sample::batch();
    let failing = spans.iter().find(|s| s.status.is_error()).unwrap().trace_id;
    let card = spans
        .iter()
        .find(|s| s.trace_id == failing && s.name == "card network authorize")
        .unwrap()
        .span_id;
    let html = html_report(&assemble(spans));
    let report = dir.join("report.html");
    std::fs::write(&report, &html).unwrap();

    let test_page = html.replacen("<head>\n", &format!("<head>\n{ERRORS}"), 1).replacen(
        "</body>",
        &format!(
            "{}</body>",
            SELF_TEST
                .replace("__FAILING__", &failing.to_string())
                .replace("__CARD__", &card.to_string())
        ),
        1,
    );
    let test_file = dir.join("selftest.html");
    std::fs::write(&test_file, test_page).unwrap();
    let profile = dir.join("profile");
    for (width, height) in SIZES {
        let size = format!("--window-size={width},{height}");
        let dom = run_chromium(
            &chromium,
            &profile,
            &["--dump-dom".to_owned(), size.clone()],
            &format!("file://{}", test_file.display()),
        );
        let results = dom
            .split("<pre id=\"selftest\">")
            .nth(1)
            .and_then(|rest| rest.split("</pre>").next())
            .unwrap_or_else(|| panic!("no self-test output in the page:\n{dom}"));
        let failures: Vec<&str> = results.lines().filter(|l| !l.starts_with("PASS ")).collect();
        assert!(failures.is_empty(), "self-test failed at {width}×{height}:\n{results}");
        assert_eq!(results.lines().count(), 33, "{results}");
        assert!(results.contains(&format!(" of the {width} px window")), "{results}");

        // A screenshot of the failing trace with its failing span selected.
        let screenshot = dir.join(format!("waterfall-{width}x{height}.png"));
        let _ = std::fs::remove_file(&screenshot);
        let url = format!("file://{}#trace={failing}&span={card}", report.display());
        let extra = [format!("--screenshot={}", screenshot.display()), size];
        run_chromium(&chromium, &profile, &extra, &url);
        let bytes = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
        assert!(bytes > 10_000, "screenshot missing or blank: {bytes} bytes");
        eprintln!("screenshot of the HTML report at {width}×{height}: {}", screenshot.display());
    }
}

/// The window sizes the view is checked and photographed at.
const SIZES: [(u32, u32); 2] = [(1400, 900), (800, 900)];
