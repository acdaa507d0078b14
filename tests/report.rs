//! The reporting layer as a user and CI meet it: charts (SVG and PNG),
//! `junit.xml`, `report.html`, classification and projection in
//! `report.json` (including growth traced to one process of a watched
//! tree), `memsoak baseline save`, `memsoak compare` (both outcomes),
//! `memsoak report`, and `ci/gate.sh` and `ci/nightly.sh` end to end.
//!
//! Two short synthetic runs (one leaking on purpose, one clean) are shared
//! by the tests; a test that writes into a run folder works on its own copy.

mod common;
use common::MIB;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{json, memsoak, repo};

/// Width and height of every chart PNG (`memsoak::report::chart`).
const PNG_SIZE: (u32, u32) = (
    memsoak::report::chart::WIDTH,
    memsoak::report::chart::HEIGHT,
);

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_memsoak"))
}

/// The brief synthetic run every test starts from.
fn run_args(out: &Path, inject: Option<&str>) -> Vec<String> {
    let mut a: Vec<String> = [
        "run",
        "--backend",
        "synthetic",
        "--duration",
        "8s",
        "--sample-every",
        "200ms",
        "--cost",
        "1ms",
        "-q",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(out.display().to_string());
    if let Some(i) = inject {
        a.push("--inject".into());
        a.push(i.into());
    }
    a
}

struct Runs {
    _tmp: tempfile::TempDir,
    leak: PathBuf,
    clean: PathBuf,
    clean2: PathBuf,
}

/// The shared runs, made once (concurrently) for all tests.
fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let leak = tmp.path().join("leak");
        let clean = tmp.path().join("clean");
        let clean2 = tmp.path().join("clean2");
        let spawn = |dir: &Path, inject| {
            memsoak()
                .args(run_args(dir, inject))
                .spawn()
                .expect("memsoak starts")
        };
        let mut children = [
            spawn(&leak, Some("linear:4KiB")),
            spawn(&clean, None),
            spawn(&clean2, None),
        ];
        let codes: Vec<i32> = children
            .iter_mut()
            .map(|c| c.wait().unwrap().code().unwrap_or(-1))
            .collect();
        assert_eq!(codes, [1, 0, 0], "leak fails, clean runs pass");
        Runs {
            _tmp: tmp,
            leak,
            clean,
            clean2,
        }
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Copy a run folder (flat) so a test can write into it.
fn copy_run(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dest.join(e.file_name())).unwrap();
        }
    }
}

/// Width and height from a PNG's IHDR, after checking the signature.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is no PNG",
        path.display()
    );
    assert_eq!(&b[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

fn check_svg(path: &Path) {
    let text = read(path);
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not XML: {e}", path.display()));
    assert_eq!(
        doc.root_element().tag_name().name(),
        "svg",
        "{}",
        path.display()
    );
    assert_eq!(doc.root_element().attribute("width"), Some("1200"));
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Save the shared clean run as baseline `name` in `baselines`.
fn save_clean_baseline(baselines: &Path, name: &str) {
    let o = memsoak()
        .args(["baseline", "save", "-q"])
        .arg(&runs().clean)
        .args(["--name", name, "--baselines-dir"])
        .arg(baselines)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// `memsoak report DIR`, which must exit `code`: its output.
fn memsoak_report(dir: &Path, code: i32) -> Output {
    let o = memsoak().arg("report").arg(dir).output().unwrap();
    assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
    o
}

/// A refusal of a bad input: exit 2 and one line of stderr, naming `why`.
fn assert_refused(o: &Output, why: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains(why) && e.lines().count() == 1, "{e}");
}

/// With `file` of the run folder `dir` rewritten to hold `text` (one that
/// cannot be read, or nothing to chart), `memsoak report DIR` refuses the
/// folder: exit 2 and one line of stderr, naming `why`.
fn assert_report_refuses(dir: &Path, file: &str, text: &str, why: &str) {
    std::fs::write(dir.join(file), text).unwrap();
    assert_refused(&memsoak_report(dir, 2), why);
}

/// (name, failure message) of every test case of a suite of `junit.xml`.
fn junit_cases(path: &Path, suite: &str) -> Vec<(String, Option<String>)> {
    let text = read(path);
    let doc = roxmltree::Document::parse(&text).expect("junit.xml is XML");
    let s = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite") && n.attribute("name") == Some(suite))
        .unwrap_or_else(|| panic!("no suite {suite} in {text}"));
    s.children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|c| {
            let fail = c
                .children()
                .find(|n| n.has_tag_name("failure"))
                .and_then(|f| f.attribute("message").map(str::to_string));
            (c.attribute("name").unwrap_or_default().to_string(), fail)
        })
        .collect()
}

#[test]
fn a_leak_fails_and_every_report_file_says_so() {
    let dir = &runs().leak;
    let r = json(&dir.join("report.json"));
    assert_eq!(r["verdict"], "fail");
    assert_eq!(r["exit_code"], 1);
    assert_eq!(r["schema_version"], 1);
    // 4 KiB per item injected: the heap grows, and carries the RSS growth.
    assert_eq!(r["classification"]["pattern"], "live_heap_growth");
    let evidence = r["classification"]["evidence"].as_array().unwrap();
    let heap = evidence.iter().find(|e| e["metric"] == "heap").unwrap();
    assert_eq!(heap["trend"], "grows");
    let per_1k = r["analysis"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "heap")
        .unwrap()["slope_per_1k"]["value"]
        .as_f64()
        .unwrap();
    // 4 KiB per item is 4 MiB per 1000 items (the allocator adds a little).
    assert!((3.5..5.0).contains(&(per_1k / MIB)), "heap {per_1k} B/1k");
    // Host memory runs out at the RSS drift, in hours on this box.
    let oom = &r["projection"]["out_of_memory"];
    let secs = oom["seconds"].as_f64().expect("a projected time");
    assert!(secs > 60.0 && secs < 30.0 * 86400.0, "{secs}");
    assert!(oom["text"].as_str().unwrap().contains("out of memory in"));

    // junit.xml: one case per threshold, the breaches as failures with
    // measured value against the limit.
    let cases = junit_cases(&dir.join("junit.xml"), "memsoak.thresholds");
    let names: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "rss.slope<2MiB/min",
            "heap.slope<1MiB/min",
            "swap.max<64MiB"
        ]
    );
    let rss = cases[0].1.as_deref().expect("rss.slope fails");
    assert!(
        rss.starts_with("measured ") && rss.contains("MiB/min vs limit < 2.00 MiB/min"),
        "{rss}"
    );
    assert!(cases[2].1.is_none(), "swap.max holds");

    // Charts: SVG that parses, PNG of the stated size, for the main metrics
    // and against items.
    for m in ["rss", "pss", "heap", "sys_available", "items"] {
        check_svg(&dir.join(format!("chart-{m}.svg")));
        assert_eq!(
            png_size(&dir.join(format!("chart-{m}.png"))),
            PNG_SIZE,
            "{m}"
        );
    }
    let svg = read(&dir.join("chart-rss.svg"));
    assert!(svg.contains("rss: FAIL"), "verdict in the title");
    assert!(svg.contains("warm-up"), "warm-up band in the legend");
    assert!(svg.contains("drift fit after warm-up"));
    assert!(
        svg.contains("limit rss.slope&lt;2MiB/min (from the level at warm-up end)"),
        "the slope limit is drawn"
    );
    assert_eq!(
        r["min_growth"].as_f64(),
        Some(memsoak::analysis::DEFAULT_MIN_GROWTH),
        "the run's materiality floor is recorded"
    );
    // No all-zero chart: this box's swap is empty (or the chart has data).
    let swap_max = r["analysis"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "swap")
        .map_or(0.0, |m| m["max"].as_f64().unwrap());
    assert_eq!(dir.join("chart-swap.svg").exists(), swap_max > 0.0);

    // report.html: one self-contained page.
    let html = read(&dir.join("report.html"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("FAIL") && html.contains("live-heap growth"));
    assert!(html.matches("<svg").count() >= 5, "charts inline");
    assert!(
        !html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http")
    );
    assert!(html.contains("commit"), "metadata from run.json");
    // Regression: the allocator row looked up a key run.json never had.
    assert!(
        html.contains("<tr><th>allocator</th><td>jemalloc defaults</td></tr>"),
        "allocator row from run.json"
    );
    let versions = html
        .split("</tr>")
        .find_map(|row| {
            row.find("<tr><th>versions</th>")
                .map(|at| format!("{}</tr>", &row[at..]))
        })
        .expect("a versions row");
    assert!(
        versions.starts_with(&format!(
            "<tr><th>versions</th><td>memsoak {} · ",
            env!("CARGO_PKG_VERSION")
        )),
        "versions row from run.json: {versions}"
    );
    assert!(
        versions.contains(" · jemalloc 5.")
            && versions.ends_with(" · backend synthetic (dim 384)</td></tr>"),
        "{versions}"
    );

    // summary.md carries the classification and the projection.
    let md = read(&dir.join("summary.md"));
    assert!(
        md.contains("**Pattern: live-heap growth in the process**"),
        "{md}"
    );
    assert!(md.contains("out of memory in"), "{md}");
}

#[test]
fn a_clean_run_passes_and_is_steady() {
    let dir = &runs().clean;
    let r = json(&dir.join("report.json"));
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["classification"]["pattern"], "steady");
    assert!(r["projection"]["out_of_memory"]["seconds"].is_null());
    let text = read(&dir.join("junit.xml"));
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.attribute("failures"), Some("0"));
    assert_eq!(root.attribute("tests"), Some("3"));
    assert_eq!(png_size(&dir.join("chart-rss.png")), PNG_SIZE);
    check_svg(&dir.join("chart-heap.svg"));
}

#[test]
fn compare_finds_the_leak_and_passes_the_clean_run() {
    let r = runs();
    let tmp = tempfile::tempdir().unwrap();
    let baselines = tmp.path().join("baselines");
    let o = memsoak()
        .args(["baseline", "save"])
        .arg(&r.clean)
        .args(["--name", "clean", "--baselines-dir"])
        .arg(&baselines)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let b = json(&baselines.join("clean/baseline.json"));
    assert_eq!(b["name"], "clean");
    assert_eq!(b["backend"], "synthetic");
    assert_eq!(b["workload"], "synthetic");
    assert!(b["git_commit"].is_string() || b["git_commit"].is_null());
    let rss = b["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "rss")
        .unwrap();
    assert!(
        rss["slope_per_min"]["ci_high"].as_f64().is_some() && rss["max"].as_f64().unwrap() > 1e6
    );
    assert!(baselines.join("clean/samples.csv").is_file());
    // Saving again without --force is refused.
    let o = memsoak()
        .args(["baseline", "save"])
        .arg(&r.clean)
        .args(["--name", "clean", "--baselines-dir"])
        .arg(&baselines)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));

    // The leak regresses: drift and max.
    let leak = tmp.path().join("leak");
    copy_run(&r.leak, &leak);
    let o = memsoak()
        .arg("compare")
        .arg(&leak)
        .args(["--baseline", "clean", "--baselines-dir"])
        .arg(&baselines)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("REGRESSION against baseline clean"),
        "{}",
        stderr(&o)
    );
    let c = json(&leak.join("compare.json"));
    assert_eq!(c["regression"], true);
    assert_eq!(c["exit_code"], 1);
    let rss = c["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "rss")
        .unwrap();
    assert_eq!(rss["slope_regression"], true);
    assert_eq!(rss["max_regression"], true);
    assert!(
        rss["current_slope"]["ci_low"].as_f64().unwrap()
            > rss["baseline_slope"]["ci_high"].as_f64().unwrap() + MIB
    );
    let cases = junit_cases(&leak.join("junit.xml"), "memsoak.compare");
    let rss_case = cases
        .iter()
        .find(|c| c.0 == "rss vs baseline clean")
        .unwrap();
    assert!(
        rss_case
            .1
            .as_deref()
            .unwrap()
            .starts_with("regression: drift")
    );
    assert!(
        read(&leak.join("summary.md"))
            .contains("### Compared with baseline `clean`: ❌ REGRESSION")
    );
    check_svg(&leak.join("chart-compare-rss.svg"));
    assert_eq!(png_size(&leak.join("chart-compare-rss.png")), PNG_SIZE);
    assert!(read(&leak.join("report.html")).contains("Compared with baseline"));

    // Another clean run of the same code does not.
    let clean2 = tmp.path().join("clean2");
    copy_run(&r.clean2, &clean2);
    let o = memsoak()
        .arg("compare")
        .arg(&clean2)
        .arg("--baseline")
        .arg(baselines.join("clean"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = json(&clean2.join("compare.json"));
    assert_eq!(c["regression"], false);
    assert_eq!(c["metrics"].as_array().unwrap().len(), 3, "rss, swap, heap");
    let cases = junit_cases(&clean2.join("junit.xml"), "memsoak.compare");
    assert!(cases.iter().all(|c| c.1.is_none()));

    // Bad input: one line, exit 2.
    for (args, want) in [
        (vec!["--baseline", "nope"], "baseline `nope` not found"),
        (
            vec!["--baseline", "clean", "--slope-tolerance", "1MiB"],
            "--slope-tolerance: invalid rate",
        ),
        (
            vec!["--baseline", "clean", "--max-tolerance", "lots"],
            "--max-tolerance",
        ),
    ] {
        let o = memsoak()
            .arg("compare")
            .arg(&clean2)
            .args(&args)
            .arg("--baselines-dir")
            .arg(&baselines)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert!(
            e.contains(want) && e.trim_end().lines().count() == 1,
            "{args:?}: {e}"
        );
    }
    let o = memsoak()
        .arg("compare")
        .arg(tmp.path().join("no-such-run"))
        .args(["--baseline", "clean"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    // A tolerance with nothing to compare with was ignored without a word.
    let o = memsoak()
        .arg("report")
        .arg(&clean2)
        .args(["--slope-tolerance", "1MiB/min"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim_end(),
        "memsoak: error: --slope-tolerance applies with --baseline only"
    );
}

#[test]
fn report_regenerates_the_derived_files_and_keeps_report_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    copy_run(&runs().leak, &dir);
    let before = read(&dir.join("report.json"));
    for f in [
        "report.html",
        "junit.xml",
        "summary.md",
        "chart-rss.svg",
        "chart-rss.png",
    ] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    memsoak_report(&dir, 0);
    assert_eq!(
        read(&dir.join("report.json")),
        before,
        "report.json is the run's"
    );
    assert_eq!(png_size(&dir.join("chart-rss.png")), PNG_SIZE);
    check_svg(&dir.join("chart-rss.svg"));
    let cases = junit_cases(&dir.join("junit.xml"), "memsoak.thresholds");
    assert!(cases[0].1.as_deref().unwrap().contains("vs limit"));
    assert!(read(&dir.join("summary.md")).contains("❌ FAIL"));
    assert!(read(&dir.join("report.html")).contains("live-heap growth"));

    // With a baseline, the comparison joins the files.
    let o = memsoak()
        .arg("report")
        .arg(&dir)
        .arg("--baseline")
        .arg(&runs().clean)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Regression: it printed "REGRESSION against baseline clean (exit 1)"
    // and exited 0.
    assert!(
        stderr(&o).contains(
            "REGRESSION against baseline clean (not gated here: `memsoak compare` exits 1 on a regression)"
        ),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("(exit 1)"), "{}", stderr(&o));
    assert!(read(&dir.join("summary.md")).contains("Compared with baseline `clean`"));
    assert!(dir.join("chart-compare-rss.svg").is_file());

    let o = memsoak_report(tmp.path(), 2);
    assert!(stderr(&o).contains("no report.json"), "{}", stderr(&o));

    // samples.csv emptied after the run: nothing to chart, one line, exit
    // 2 (it wrote a summary of the report's samples beside old charts).
    let header = read(&dir.join("samples.csv"))
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert_report_refuses(
        &dir,
        "samples.csv",
        &format!("{header}\n"),
        "samples.csv: no samples to chart",
    );
}

/// The gate tests' workload: 3,000 texts of 3–40 words, one per line.
fn gate_texts(tmp: &Path) -> PathBuf {
    let path = tmp.join("gate-texts.txt");
    if !path.is_file() {
        let words = [
            "memory", "leak", "batch", "vector", "page", "cache", "night", "model",
        ];
        let text: String = (0..3000)
            .map(|i| {
                let n = 3 + (i * 13) % 38;
                let line: Vec<&str> = (0..n).map(|k| words[(i + k * 3) % words.len()]).collect();
                line.join(" ") + "\n"
            })
            .collect();
        let part = tmp.join(format!("gate-texts.{:?}", std::thread::current().id()));
        std::fs::write(&part, text).unwrap();
        std::fs::rename(&part, &path).unwrap();
    }
    path
}

fn gate(tmp: &Path, baselines: &Path, name: &str, args: &str) -> (i32, String, PathBuf) {
    let out = tmp.join(format!("gate-{name}"));
    let summary = tmp.join(format!("summary-{name}.md"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/gate.sh");
    let o = Command::new("bash")
        .arg(script)
        .env("MEMSOAK", bin())
        .env("MEMSOAK_BACKEND", "synthetic")
        // NOTE: a fixed number of texts, not a fixed time: what a soak
        // fills while warming up (allocator caches, queues) is filled per
        // text, and two CPU hogs cut the texts of an 8 s soak tenfold, so
        // a timed clean soak on a loaded box ended before its warm-up did.
        .env("MEMSOAK_WORKLOAD", gate_texts(tmp))
        .env("MEMSOAK_DURATION", "5m")
        .env("MEMSOAK_SAMPLE_EVERY", "200ms")
        .env("MEMSOAK_ARGS", args)
        .env("MEMSOAK_BASELINES_DIR", baselines)
        .env("MEMSOAK_BASELINE", "clean")
        // NOTE: two 8 s soaks side by side on a shared 2-core box drift
        // by a few MiB/min while warming up; the leak drifts ~200 MiB/min.
        .env("MEMSOAK_COMPARE_ARGS", "--slope-tolerance 4MiB/min")
        .env("MEMSOAK_OUT", &out)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env_remove("GITHUB_OUTPUT")
        .env_remove("_RJEM_MALLOC_CONF")
        .output()
        .unwrap();
    assert!(!stderr(&o).is_empty());
    (o.status.code().unwrap_or(-1), read(&summary), out)
}

#[test]
fn the_gate_script_passes_clean_code_and_fails_a_leak() {
    let tmp = tempfile::tempdir().unwrap();
    let baselines = tmp.path().join("baselines");
    save_clean_baseline(&baselines, "clean");
    // Both gates at once: each is 8 s of soak.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| gate(tmp.path(), &baselines, "clean", "--cost 1ms"));
        let b = s.spawn(|| {
            gate(
                tmp.path(),
                &baselines,
                "leak",
                "--cost 1ms --inject linear:4KiB",
            )
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    let (code, summary, out) = a;
    assert_eq!(code, 0, "{summary}");
    assert!(summary.contains("## memsoak: ✅ PASS"), "{summary}");
    assert!(
        summary.contains("Compared with baseline `clean`: ✅ no regression"),
        "{summary}"
    );
    assert_eq!(json(&out.join("compare.json"))["regression"], false);
    let (code, summary, out) = b;
    assert_eq!(code, 1, "{summary}");
    assert!(summary.contains("## memsoak: ❌ FAIL"), "{summary}");
    assert!(summary.contains("❌ REGRESSION"), "{summary}");
    assert_eq!(json(&out.join("report.json"))["verdict"], "fail");

    // A missing baseline leaves the verdict to the thresholds.
    let (code, summary, _) = gate(tmp.path(), &tmp.path().join("none"), "nobase", "--cost 1ms");
    assert_eq!(code, 0, "{summary}");
    assert!(summary.contains("No baseline `clean`"), "{summary}");
}

#[test]
fn run_with_a_baseline_compares_when_the_run_ends() {
    let tmp = tempfile::tempdir().unwrap();
    // A baseline that cannot be found is refused before anything runs.
    let out = tmp.path().join("never");
    let o = memsoak()
        .args(run_args(&out, None))
        .args(["--baseline", "no-such-baseline"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("baseline `no-such-baseline` not found"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists(), "nothing ran");

    let out = tmp.path().join("leak");
    let o = memsoak()
        .args(run_args(&out, Some("linear:4KiB")))
        .arg("--baseline")
        .arg(&runs().clean)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let c = json(&out.join("compare.json"));
    assert_eq!(c["regression"], true);
    assert_eq!(c["baseline"]["name"], "clean");
    assert!(read(&out.join("summary.md")).contains("Compared with baseline `clean`"));
}

#[test]
fn a_regression_of_run_baseline_fails_the_run_in_its_own_files() {
    // Regression: `run --baseline` exited 1 on a regression while its
    // report.json, summary.md and junit.xml said pass, exit 0, and
    // `summarize` of the folder passed.
    // Regression: its closing line "memsoak: PASS (exit 0)" came before
    // the comparison, and a second line "memsoak: FAIL" after it.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("leak");
    let loud = tmp.path().join("loud");
    let soak = |out: &Path, quiet: bool| {
        memsoak()
            .args(
                run_args(out, Some("linear:4KiB"))
                    .into_iter()
                    .filter(|a| quiet || a != "-q"),
            )
            .args(["-t", "rss.max<10GiB", "--baseline"])
            .arg(&runs().clean)
            .output()
            .unwrap()
    };
    // With -q and without: one closing verdict line, the regression's.
    let (o, l) = std::thread::scope(|s| {
        let q = s.spawn(|| soak(&out, true));
        let l = s.spawn(|| soak(&loud, false));
        (q.join().unwrap(), l.join().unwrap())
    });
    for o in [&o, &l] {
        let err = stderr(o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        let verdicts: Vec<&str> = err
            .lines()
            .filter(|l| ["PASS", "FAIL", "ERROR"].iter().any(|v| l.contains(v)))
            .collect();
        assert_eq!(verdicts.len(), 1, "{err}");
        let line = verdicts[0];
        assert!(
            line.starts_with(
                "memsoak: FAIL (exit 1) · ended by duration · regression against baseline clean ("
            ) && line.contains("rss"),
            "{err}"
        );
    }
    // Without -q the comparison's details come before the closing line.
    let err = stderr(&l);
    let details = err.find("memsoak: REGRESSION against baseline clean (exit 1)");
    let closing = err.find("memsoak: FAIL (exit 1)");
    assert!(details.is_some() && details < closing, "{err}");
    let r = json(&out.join("report.json"));
    let thresholds = r["analysis"]["thresholds"].as_array().unwrap();
    assert!(
        thresholds.iter().all(|t| t["outcome"] == "pass"),
        "{thresholds:?}"
    );
    assert_eq!(r["verdict"], "fail");
    assert_eq!(r["exit_code"], 1);
    assert_eq!(r["regression"]["baseline"], "clean");
    let regressed = r["regression"]["metrics"].as_array().unwrap();
    assert!(regressed.iter().any(|m| m == "rss"), "{regressed:?}");
    let md = read(&out.join("summary.md"));
    assert!(md.starts_with("## memsoak: ❌ FAIL\n"), "{md}");
    assert!(md.contains(" · exit code 1\n"), "{md}");
    assert!(
        md.contains("**Regression**: regression against baseline clean (rss"),
        "{md}"
    );
    let junit = read(&out.join("junit.xml"));
    assert!(
        junit.contains(r#"<property name="verdict" value="fail"/>"#)
            && junit.contains(r#"<property name="exit_code" value="1"/>"#),
        "{junit}"
    );
    let o = memsoak()
        .arg("summarize")
        .arg(&out)
        .arg("--out")
        .arg(tmp.path().join("sum"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let sum = read(&tmp.path().join("sum/summary.md"));
    // Its compare.json holds the same regression: counted once.
    assert_regression_on_clean_named_once(&sum);
}

/// A fleet summary names the regression against baseline `clean` in its
/// row, and describes it once however many files of the run hold it.
fn assert_regression_on_clean_named_once(sum: &str) {
    assert!(
        sum.contains("regression vs baseline `clean`")
            && sum
                .matches("regression against baseline clean (rss")
                .count()
                == 1,
        "{sum}"
    );
}

#[test]
fn summarize_counts_a_regression_a_separate_compare_left_in_compare_json() {
    // Regression: `summarize` ignored the compare.json of a separate
    // `memsoak compare RUN --baseline X` step (exit 1), and counted a run
    // that regressed as passing.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("leak");
    let o = memsoak()
        .args(run_args(&out, Some("linear:4KiB")))
        .args(["-t", "rss.max<10GiB"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = memsoak()
        .arg("compare")
        .arg(&out)
        .arg("-q")
        .arg("--baseline")
        .arg(&runs().clean)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let summarize = |name: &str| {
        memsoak()
            .arg("summarize")
            .arg(&out)
            .arg("-q")
            .arg("--out")
            .arg(tmp.path().join(name))
            .output()
            .unwrap()
    };
    let o = summarize("sum");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let sum = read(&tmp.path().join("sum/summary.md"));
    assert!(sum.contains("1 run: 0 pass, 1 fail, 0 error"), "{sum}");
    assert!(sum.contains("| ❌ FAIL |"), "{sum}");
    assert_regression_on_clean_named_once(&sum);
    // Its junit.xml fails it too: a fail verdict beside failures="0" read as
    // a pass to a CI tool that counts failures.
    let junit = read(&tmp.path().join("sum/junit.xml"));
    assert!(
        junit.contains(r#"failures="1""#)
            && junit.contains(r#"<testcase name="vs baseline clean""#)
            && junit.contains("regression against baseline clean (rss"),
        "{junit}"
    );
    // A compare.json that cannot be read is a bad input: one line naming it.
    std::fs::write(out.join("compare.json"), "{").unwrap();
    assert_refused(
        &summarize("sum2"),
        &format!("{}: invalid JSON", out.join("compare.json").display()),
    );
}

#[test]
fn compare_refuses_a_run_that_ended_in_error() {
    // Regression: `compare` of a watch whose target exited at once (no
    // samples) said "no regression" and exited 0.
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path().join("w");
    let o = memsoak()
        .args(["watch", "--duration", "10s", "-q", "--out"])
        .arg(&w)
        .args(["--", "false"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let o = memsoak()
        .arg("compare")
        .arg(&w)
        .arg("--baseline")
        .arg(&runs().clean)
        .output()
        .unwrap();
    assert_refused(
        &o,
        "w: the run ended in error (exit 3) (target exited with status 1",
    );
    assert!(
        stderr(&o).trim_end().ends_with(": nothing to compare"),
        "{}",
        stderr(&o)
    );
    assert!(!w.join("compare.json").exists());
}

#[test]
fn report_keeps_an_earlier_comparison() {
    // Regression: `memsoak report RUN_DIR` without --baseline dropped the
    // comparison an earlier `memsoak compare` had left in compare.json.
    let tmp = tempfile::tempdir().unwrap();
    let baselines = tmp.path().join("baselines");
    save_clean_baseline(&baselines, "clean");
    let dir = tmp.path().join("leak");
    copy_run(&runs().leak, &dir);
    let o = memsoak()
        .arg("compare")
        .arg(&dir)
        .args(["--baseline", "clean", "-q", "--baselines-dir"])
        .arg(&baselines)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    for f in [
        "summary.md",
        "junit.xml",
        "report.html",
        "chart-compare-rss.svg",
    ] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    let o = memsoak_report(&dir, 0);
    assert!(
        stderr(&o).contains("keeping the comparison with baseline clean from compare.json"),
        "{}",
        stderr(&o)
    );
    assert!(
        read(&dir.join("summary.md")).contains("### Compared with baseline `clean`: ❌ REGRESSION")
    );
    let cases = junit_cases(&dir.join("junit.xml"), "memsoak.compare");
    let rss = cases
        .iter()
        .find(|c| c.0 == "rss vs baseline clean")
        .unwrap();
    assert!(rss.1.is_some(), "the regression is still a failure");
    assert!(read(&dir.join("report.html")).contains("Compared with baseline"));
    check_svg(&dir.join("chart-compare-rss.svg"));

    // A compare.json that cannot be read is one line, exit 2.
    assert_report_refuses(
        &dir,
        "compare.json",
        "{ not json",
        "compare.json: invalid JSON",
    );
}

#[test]
fn the_runs_min_growth_governs_classification_and_projection() {
    // Regression: classification and projection used the default 1 MiB
    // floor whatever the run's --min-growth, so a run that judged its
    // growth immaterial still reported a leak and a time to out-of-memory.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut args = run_args(&dir, Some("linear:4KiB"));
    args.extend(["--min-growth".into(), "1GiB".into()]);
    let o = memsoak().args(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&dir.join("report.json"));
    assert_eq!(r["min_growth"].as_f64(), Some(1073741824.0));
    assert_eq!(r["classification"]["pattern"], "steady");
    assert!(r["projection"]["out_of_memory"]["seconds"].is_null());
    // `memsoak report` re-derives both with the floor the run recorded.
    std::fs::remove_file(dir.join("summary.md")).unwrap();
    memsoak_report(&dir, 0);
    let md = read(&dir.join("summary.md"));
    assert!(md.contains("**Pattern: steady"), "{md}");
    assert!(!md.contains("out of memory in"), "{md}");
    // The same samples at the default floor, given (analyze keeps the
    // run's own otherwise), are a live-heap leak.
    let o = memsoak()
        .arg("analyze")
        .arg(&dir)
        .args(["--min-growth", "1MiB"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("**Pattern: live-heap growth"), "{out}");
}

/// The Python interpreter itself: a version-manager shim (pyenv) would add
/// its own short-lived helper processes to the watched tree.
fn python() -> String {
    let o = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 runs");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn targets() -> PathBuf {
    repo("tests/fixtures/targets.py")
}

#[test]
fn watch_names_the_one_process_of_the_tree_that_leaks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let o = memsoak()
        .args(["watch", "--duration", "25s", "--sample-every", "500ms"])
        .args(["--warmup", "5s", "-t", "rss.slope<2MiB/min", "-q", "--out"])
        .arg(&dir)
        .arg("--")
        .arg(python())
        .arg(targets())
        .args(["parent-of-two", "--rate", "120"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // The children say who they are on stderr, which the tree shares.
    let log = read(&dir.join("target-stderr.log"));
    let pid_of = |shape: &str| -> u64 {
        let key = format!("target {shape} pid ");
        let at = log.find(&key).unwrap_or_else(|| panic!("{key} in {log}")) + key.len();
        let digits: String = log[at..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap()
    };
    let (leak, flat) = (pid_of("leak"), pid_of("flat"));

    let r = json(&dir.join("report.json"));
    let c = &r["classification"];
    assert_eq!(c["pattern"], "one_process", "{}", c["summary"]);
    let p = &c["process"];
    assert_eq!(p["pid"], leak, "{}", c["summary"]);
    assert!(
        p["name"].as_str().unwrap().contains("targets.py leak"),
        "{}",
        p["name"]
    );
    let share = p["share"].as_f64().unwrap();
    assert!((0.8..1.2).contains(&share), "{share}");
    let per_min = p["slope_per_min"].as_f64().unwrap() / MIB;
    assert!(
        (90.0..150.0).contains(&per_min),
        "leak child {per_min} MiB/min"
    );
    assert!(
        p["others"].as_u64().unwrap() >= 2,
        "the parent and the flat child at least: {}",
        p["others"]
    );
    let flat_child = c["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["pid"] == flat)
        .expect("the flat child is listed");
    assert!(flat_child["growth"].as_f64().unwrap().abs() < MIB);
    assert!(
        c["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("pid {leak} `python3 targets.py leak")),
        "{}",
        c["summary"]
    );

    // processes.csv: long format, at most one write per second.
    let csv = read(&dir.join("processes.csv"));
    assert_eq!(csv.lines().next(), Some("t_s,pid,name,rss"));
    let mut times: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| &l[..l.find(',').unwrap()])
        .collect();
    times.dedup();
    assert!(
        (15..=27).contains(&times.len()),
        "{} writes in 25 s",
        times.len()
    );
    assert!(csv.contains(&format!(",{leak},python3 targets.py leak --rate 120")));

    let md = read(&dir.join("summary.md"));
    assert!(
        md.contains("**Pattern: growth confined to one process of the tree**"),
        "{md}"
    );
    assert!(md.contains(&format!("| {leak} ⬅ |")), "{md}");
    let html = read(&dir.join("report.html"));
    assert!(html.contains("Processes of the tree") && html.contains("id=\"chart-processes\""));
    check_svg(&dir.join("chart-processes.svg"));
    assert_eq!(png_size(&dir.join("chart-processes.png")), PNG_SIZE);

    // `memsoak report` derives it again from the files...
    std::fs::remove_file(dir.join("summary.md")).unwrap();
    memsoak_report(&dir, 0);
    assert!(read(&dir.join("summary.md")).contains(&format!("| {leak} ⬅ |")));
    // `memsoak analyze` of the folder names it as well.
    let o = memsoak().arg("analyze").arg(&dir).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("growth confined to one process of the tree"),
        "{text}"
    );
    // ...from processes.csv: without it the tree is a black box again.
    std::fs::remove_file(dir.join("processes.csv")).unwrap();
    memsoak_report(&dir, 0);
    let md = read(&dir.join("summary.md"));
    assert!(
        !md.contains("growth confined to one process") && md.contains("black box"),
        "{md}"
    );
    // A processes.csv that cannot be read is one line, exit 2.
    assert_report_refuses(
        &dir,
        "processes.csv",
        "pid;rss\n",
        "processes.csv: line 1: header",
    );
}

#[test]
fn the_nightly_script_soaks_and_compares_with_the_nightly_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    let baselines = tmp.path().join("baselines");
    // The naming rule: <backend>-<workload>-nightly, the workload file's
    // name without its extension (`default` for the synthetic workload).
    save_clean_baseline(&baselines, "synthetic-gate-texts-nightly");
    let out = tmp.path().join("nightly");
    let summary = tmp.path().join("summary.md");
    let outputs = tmp.path().join("outputs");
    let o = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/nightly.sh"))
        .env("MEMSOAK", bin())
        // A fixed number of texts, as in `gate`.
        .env("MEMSOAK_WORKLOAD", gate_texts(tmp.path()))
        .env("MEMSOAK_DURATION", "5m")
        .env("MEMSOAK_SAMPLE_EVERY", "200ms")
        .env("MEMSOAK_ARGS", "--cost 1ms")
        .env("MEMSOAK_BASELINES_DIR", &baselines)
        .env("MEMSOAK_COMPARE_ARGS", "--slope-tolerance 4MiB/min")
        .env("MEMSOAK_OUT", &out)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env_remove("MEMSOAK_BASELINE")
        .env_remove("MEMSOAK_BASELINE_SUFFIX")
        .env_remove("MEMSOAK_PROFILE")
        .env("MEMSOAK_BACKEND", "synthetic")
        .env_remove("_RJEM_MALLOC_CONF")
        .output()
        .unwrap();
    let md = read(&summary);
    assert_eq!(o.status.code(), Some(0), "{}\n{md}", stderr(&o));
    assert!(md.contains("## memsoak: ✅ PASS"), "{md}");
    assert!(
        md.contains("Compared with baseline `synthetic-gate-texts-nightly`: ✅ no regression"),
        "{md}"
    );
    let c = json(&out.join("compare.json"));
    assert_eq!(c["baseline"]["name"], "synthetic-gate-texts-nightly");
    // The nightly profile, shortened by the environment.
    let line: Vec<String> = json(&out.join("run.json"))["command_line"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(
        line.windows(2).any(|w| w == ["--profile", "nightly"]),
        "{line:?}"
    );
    assert!(
        line.windows(2).any(|w| w == ["--duration", "5m"]),
        "{line:?}"
    );
    assert_eq!(read(&outputs).trim(), format!("run_dir={}", out.display()));
    let r = json(&out.join("report.json"));
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["ended_by"], "workload_exhausted", "{r}");
    assert_eq!(r["analysis"]["items"], 3000, "{r}");
}
