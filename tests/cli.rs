//! memsoak as a user runs it: `watch` of real child processes, `run` with
//! the synthetic backend, `analyze`, bad inputs, and how a run ends, through
//! exit codes, files and report contents. The real backends are in
//! `backends.rs`. Each test gets its own temp dir.

mod common;
use common::MIB;

use std::path::Path;
use std::process::Command;

use common::{
    Outcome, cannot_run, fixture, marked_pids, memsoak, outcome_of, report, rows, run_with, skip,
    summary,
};
use serde_json::Value;

fn targets() -> String {
    fixture("targets.py")
}

fn run(args: &[&str]) -> Outcome {
    run_with(args, &[], &[])
}

fn watch(shape: &[&str], duration: &str) -> Outcome {
    watch_with(shape, duration, &[])
}

fn watch_with(shape: &[&str], duration: &str, extra: &[&str]) -> Outcome {
    let t = targets();
    let args = [
        &[
            "watch",
            "--duration",
            duration,
            "--sample-every",
            "500ms",
            "-t",
            "rss.slope<2MiB/min",
            "-q",
        ][..],
        extra,
    ]
    .concat();
    run_with(&args, &[&["python3", t.as_str()][..], shape].concat(), &[])
}

/// A metric's fitted drift in a report, MiB/min.
fn slope_mib_per_min(r: &Value, metric: &str) -> f64 {
    r["analysis"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} in {}", r["analysis"]))["slope_per_min"]["value"]
        .as_f64()
        .unwrap()
        / MIB
}

// ---- watch: the acceptance shapes, 90 s or less each ----

#[test]
fn watch_leak_under_noise_fails() {
    let o = watch(&["leak", "--rate", "5", "--noise", "4"], "90s");
    assert_eq!(o.code, 1, "{}", o.stderr);
    let r = report(&o.dir);
    assert_eq!(r["verdict"], "fail");
    assert_eq!(outcome_of(&r, "rss.slope<2MiB/min"), "fail");
    let rss = r["analysis"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "rss")
        .unwrap()
        .clone();
    let slope = rss["slope_per_min"]["value"].as_f64().unwrap() / MIB;
    assert!(
        (2.5..9.0).contains(&slope),
        "slope {slope} MiB/min, truth 5"
    );
    assert!(rows(&o.dir) >= 170);
}

#[test]
fn watch_gc_sawtooth_passes() {
    let o = watch(&["sawtooth", "--peak", "300", "--period", "10"], "90s");
    let r = report(&o.dir);
    assert_eq!(o.code, 0, "{}\n{}", o.stderr, r["analysis"]["thresholds"]);
    assert_eq!(r["verdict"], "pass");
    let max = r["analysis"]["metrics"][0]["max"].as_f64().unwrap();
    assert!(max > 250.0 * MIB, "the sawtooth really happened: max {max}");
}

#[test]
fn watch_warmup_fill_then_flat_passes() {
    let o = watch(&["plateau", "--fill", "300", "--over", "20"], "90s");
    let r = report(&o.dir);
    assert_eq!(o.code, 0, "{}\n{}", o.stderr, r["analysis"]["metrics"][0]);
    let rss = &r["analysis"]["metrics"][0];
    assert_eq!(rss["metric"], "rss");
    assert!(
        rss["warmup_end_s"].as_f64().unwrap() >= 15.0,
        "warm-up found at {}",
        rss["warmup_end_s"]
    );
    assert!(rss["max"].as_f64().unwrap() > 280.0 * MIB);
}

#[test]
fn watch_mapped_file_read_fails_rss_names_file_pages_and_passes_rss_anon() {
    // A dataset read through a shared mapping at 60 MiB/min: RSS grows in
    // file-backed pages; the process's own (anonymous) memory is flat.
    let o = watch_with(
        &["mapped", "--rate", "60"],
        "30s",
        &["-t", "rss_anon.slope<2MiB/min"],
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    let r = report(&o.dir);
    assert_eq!(outcome_of(&r, "rss.slope<2MiB/min"), "fail");
    assert_eq!(outcome_of(&r, "rss_anon.slope<2MiB/min"), "pass");
    let slope = |name: &str| slope_mib_per_min(&r, name);
    assert!(
        (40.0..80.0).contains(&slope("rss_file")),
        "{}",
        slope("rss_file")
    );
    assert!(slope("rss_anon").abs() < 2.0, "{}", slope("rss_anon"));
    let c = &r["classification"];
    assert_eq!(c["pattern"], "mapped_files", "{c}");
    assert!(
        c["advice"][0].as_str().unwrap().contains("rss_anon.slope"),
        "{c}"
    );
    // The host is not running out: the projection reads anonymous memory.
    let summary = std::fs::read_to_string(o.dir.join("summary.md")).unwrap();
    assert!(!summary.contains("out of memory in"), "{summary}");
}

#[test]
fn watch_forking_pool_names_the_parent_and_reads_the_tree_s_own_growth_in_pss() {
    // A parent keeping 6 MiB/min of results, two workers forked from it and
    // recycled every 20 tasks: each new worker inherits the parent's grown
    // pages, and the tree's RSS counts them once per process.
    let pool = fixture("pool.py");
    let o = run_with(
        &[
            "watch",
            "--duration",
            "90s",
            "-t",
            "rss.slope<2MiB/min",
            "-q",
        ],
        &["python3", pool.as_str(), "--leak", "6", "--seed", "2"],
        &[],
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    let r = report(&o.dir);
    let slope = |name: &str| slope_mib_per_min(&r, name);
    let (rss, pss) = (slope("rss"), slope("pss"));
    assert!(rss > 1.5 * pss, "rss {rss} pss {pss} MiB/min: no overcount");
    // NOTE: the workers' buffers are 1–6 MiB: with 2–24 MiB the tree's PSS
    // swung by tens of MiB between samples, its 95% interval was ±7 MiB/min
    // over 90 s, and 1 run in 5 here read under 2 (1.08 once). Now ±1.5,
    // and 5.0–6.2 in 5 runs.
    assert!((3.0..9.0).contains(&pss), "pss {pss} MiB/min, truth 6");
    // The parent is named: as the one process the growth is confined to
    // (its share of the tree's PSS growth, 83% on a quiet box), or, where
    // the workers' own churn took the share under 80% (74% under CI's
    // load), as the tree's first grower.
    let c = &r["classification"];
    match c["pattern"].as_str() {
        Some("one_process") => assert_eq!(c["process"]["pid"], r["target"]["pid"], "{c}"),
        Some("unknown") => assert_eq!(c["processes"][0]["pid"], r["target"]["pid"], "{c}"),
        _ => panic!("{c}"),
    }
    let advice: Vec<&str> = c["advice"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(advice.iter().any(|a| a.contains("pss.slope")), "{advice:?}");
}

#[test]
fn watch_leak_in_grandchild_fails() {
    let o = watch(&["parent-of-leak", "--rate", "60"], "40s");
    assert_eq!(o.code, 1, "{}", o.stderr);
    let r = report(&o.dir);
    assert_eq!(r["target"]["stop"]["left"], 0);
    assert!(r["target"]["stop"]["processes"].as_u64().unwrap() >= 3);
}

#[test]
fn watch_target_killed_by_sigkill_is_exit_3_with_samples_kept() {
    let o = watch(&["sigkill", "--after", "3"], "60s");
    assert_eq!(o.code, 3, "{}", o.stderr);
    let r = report(&o.dir);
    assert_eq!(r["verdict"], "error");
    assert_eq!(r["ended_by"], "target_failed");
    assert_eq!(r["target"]["status"]["name"], "SIGKILL");
    assert!(
        r["target"]["stderr_tail"]
            .as_str()
            .unwrap()
            .contains("ending now")
    );
    assert!(rows(&o.dir) >= 4, "samples kept");
    assert!(
        std::fs::read_to_string(o.dir.join("summary.md"))
            .unwrap()
            .contains("SIGKILL")
    );
}

#[test]
fn watch_target_exit_nonzero_is_exit_3() {
    let o = watch(&["crash", "--after", "1", "--code", "9"], "60s");
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_eq!(report(&o.dir)["target"]["status"]["code"], 9);
    // Regression: analyze of the crashed run said a bare PASS, exit 0.
    let out = memsoak_analyze(&o.dir, &["-t", "rss.max<1GiB"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("ERROR (exit 3) · ended by target_failed")
            && err.contains("error: target exited with status 9"),
        "{err}"
    );
}

/// `watch` of a python target that exits 0 after 2 s, sampled every
/// 500 ms, judged on `threshold`; `extra` flags after it.
fn watch_exit0_after_2s(threshold: &str, extra: &[&str]) -> Outcome {
    let t = targets();
    let args = [
        &[
            "watch",
            "--duration",
            "60s",
            "--sample-every",
            "500ms",
            "-t",
            threshold,
        ][..],
        extra,
    ]
    .concat();
    run_with(
        &args,
        &["python3", t.as_str(), "exit0", "--after", "2"],
        &[],
    )
}

#[test]
fn watch_target_exit_zero_early_is_analysed() {
    // NOTE: this test checks how the run ends; 2 s of a python target is no
    // leak verdict (beside two CPU hogs its start-up breached rss.slope).
    // NOTE: so it is judged on a cap alone, not watch_with's slope limit
    // (under load 9 the start-up alone failed that one: exit 1).
    let o = watch_exit0_after_2s("rss.max<1TiB", &["-q"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = report(&o.dir);
    assert_eq!(r["ended_by"], "target_exit");
    assert!(r["analysis"]["duration_s"].as_f64().unwrap() < 10.0);
}

#[test]
fn watch_too_short_to_judge_a_slope_is_exit_2_saying_so() {
    // The same early exit judged on a slope: its few samples fit no drift.
    // Before, the limit was skipped and the run passed (exit 0) with no
    // reason on the terminal, and the summary called it a bounded cache.
    let o = watch_exit0_after_2s("rss.slope<2MiB/min", &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("ERROR (exit 2)")
            && o.stderr.contains(
                "rss.slope<2MiB/min skipped: too few samples after warm-up to fit a drift"
            )
            && o.stderr
                .contains("error: rss.slope<2MiB/min could not be judged"),
        "{}",
        o.stderr
    );
    let r = report(&o.dir);
    assert_eq!(r["verdict"], "error");
    assert_eq!(r["exit_code"], 2);
    assert_eq!(
        r["classification"]["pattern"], "unknown",
        "{}",
        r["classification"]
    );
}

#[test]
fn a_target_gone_before_the_first_sample_is_exit_2_not_a_pass() {
    // `true` exits before memsoak reads it: every threshold was skipped as
    // "not sampled" and the run passed (exit 0), caps included.
    let o = run_with(
        &["watch", "--duration", "10s", "-t", "rss.max<1GiB"],
        &["true"],
        &[],
    );
    // NOTE: on a loaded box the first sample can come before `true` has
    // even exec'd (the forked copy is read): then it has a reading.
    let csv = std::fs::read_to_string(o.dir.join("samples.csv")).unwrap();
    let rss = csv
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "rss")
        .unwrap();
    let read = csv
        .lines()
        .skip(1)
        .any(|l| !l.split(',').nth(rss).unwrap_or("").is_empty());
    if read {
        common::skip(
            "a_target_gone_before_the_first_sample_is_exit_2_not_a_pass",
            "the first sample read the target before it exited (a loaded box)",
        );
    } else {
        assert_eq!(o.code, 2, "{}", o.stderr);
        assert!(
            o.stderr.contains(
                "rss.max<1GiB could not be judged: `rss` has no reading on this run; the target was gone before the first sample"
            ),
            "{}",
            o.stderr
        );
        assert_eq!(report(&o.dir)["verdict"], "error");
    }
    // A second run into the same folder is refused, the first left whole.
    let again = memsoak()
        .args(["watch", "--duration", "10s", "--out"])
        .arg(&o.dir)
        .args(["--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{err}");
    assert!(err.contains("already holds a run (its run.json)"), "{err}");
    assert_eq!(
        std::fs::read_to_string(o.dir.join("samples.csv")).unwrap(),
        csv
    );
}

#[test]
fn watch_duration_end_stops_the_tree_and_leaves_nothing() {
    // The interpreter's start-up (0 → 50 MiB) is the warm-up of this short run.
    // NOTE: 9 s at 500 ms leaves 12 samples after the warm-up; 6 s left 6–8,
    // and a loaded box's 7 is too few to judge the slope (exit 2).
    let o = watch_with(&["flat"], "9s", &["--warmup", "3s"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = report(&o.dir);
    assert_eq!(r["ended_by"], "duration");
    assert_eq!(r["target"]["stop"]["left"], 0);
    // Regression: memsoak's own SIGTERM at the end read "killed by
    // SIGTERM (signal 15)", like a crash.
    assert_eq!(r["target"]["status"]["by_memsoak"], true, "{}", r["target"]);
    let md = summary(&o.dir);
    assert!(
        md.contains("(stopped by memsoak (SIGTERM) at the end of --duration)")
            && !md.contains("killed by"),
        "{md}"
    );
    let pid = r["target"]["pid"].as_u64().unwrap();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "target {pid} survived"
    );
}

// ---- run: the in-process pipeline ----

#[test]
fn run_synthetic_without_leak_passes() {
    let o = run(&[
        "run",
        "--backend",
        "synthetic",
        "--duration",
        "20s",
        "--sample-every",
        "250ms",
        "--cost",
        "1ms",
        "-q",
        "-t",
        "heap.slope<1MiB/min",
        "-t",
        "heap.slope_per_1k<64KiB",
        "-t",
        "rss.slope<2MiB/min",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = report(&o.dir);
    assert_eq!(r["verdict"], "pass");
    // Busy boxes embed fewer: 1000 and more when idle, under 1000 beside two CPU hogs.
    assert!(r["analysis"]["items"].as_u64().unwrap() > 100, "{r}");
    let cols = std::fs::read_to_string(o.dir.join("samples.csv")).unwrap();
    let header = cols.lines().next().unwrap();
    assert!(
        header.starts_with("t_s,items,rss,pss,swap,rss_anon,rss_file,heap,heap_active"),
        "{header}"
    );
    // vram is sampled exactly when NVML finds a GPU; without one it is
    // absent (and the report says why), never a column of zeros.
    let gpu = memsoak::sample::nvml::try_new(std::process::id()).is_ok();
    assert_eq!(header.contains(",vram,vram_device"), gpu, "{header}");
    if !gpu {
        skip(
            "run_synthetic_without_leak_passes",
            "the vram columns with a GPU: no NVML driver here (their absence is checked)",
        );
        let r = report(&o.dir);
        let notes = r["notes"].to_string();
        assert!(notes.contains("vram metrics absent"), "{notes}");
    }
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(o.dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["backend"]["name"], "synthetic");
}

#[test]
fn progress_is_plain_periodic_lines_when_stderr_is_not_a_terminal() {
    // CI logs: a line every 5 s at least, with time, items/s, memory and
    // the running drift; -q silences them (every other test runs with -q).
    let o = run(&[
        "run",
        "--backend",
        "synthetic",
        "--duration",
        "12s",
        "--sample-every",
        "250ms",
        "--cost",
        "1ms",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().filter(|l| l.contains("elapsed")).collect();
    assert!(lines.len() >= 2, "{}", o.stderr);
    let last = lines.last().unwrap();
    for part in ["s left", "items (", "/s)", "rss ", "heap ", "drift "] {
        assert!(last.contains(part), "`{part}` missing from: {last}");
    }
    assert!(o.stderr.contains("memsoak: PASS (exit 0)"), "{}", o.stderr);
}

#[test]
fn run_synthetic_with_injected_leak_fails() {
    let o = run(&[
        "run",
        "--backend",
        "synthetic",
        "--duration",
        "20s",
        "--sample-every",
        "250ms",
        "--cost",
        "1ms",
        "-q",
        "--inject",
        "linear:4KiB",
        "-t",
        "heap.slope_per_1k<64KiB",
        "-t",
        "heap.slope<1MiB/min",
    ]);
    assert_eq!(
        o.code,
        1,
        "{}\n{}",
        o.stderr,
        std::fs::read_to_string(o.dir.join("summary.md")).unwrap_or_default()
    );
    let r = report(&o.dir);
    let heap = r["analysis"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "heap")
        .unwrap()
        .clone();
    let per_1k = heap["slope_per_1k"]["value"].as_f64().unwrap() / 1024.0;
    assert!(
        (3000.0..5000.0).contains(&per_1k),
        "4 MiB per 1k items injected, measured {per_1k} KiB"
    );
    assert_eq!(outcome_of(&r, "heap.slope_per_1k<64KiB"), "fail");
}

/// A 5-minute synthetic run that keeps 16 KiB per batch, with `--fail-fast`
/// on `threshold`: it must end at a look within a minute, naming it, and
/// fail it. Returns the report.
fn fail_fast_run(threshold: &str) -> Value {
    let o = run(&[
        "run",
        "--backend",
        "synthetic",
        "--duration",
        "5m",
        "--sample-every",
        "200ms",
        "--cost",
        "1ms",
        "-q",
        "--inject",
        "linear:16KiB",
        "-t",
        threshold,
        "--fail-fast",
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let r = report(&o.dir);
    assert_eq!(r["ended_by"], "fail_fast");
    let why = r["fail_fast"].as_str().unwrap();
    assert!(why.starts_with(&format!("{threshold}: ")), "{why}");
    assert!(r["analysis"]["duration_s"].as_f64().unwrap() < 60.0);
    assert_eq!(outcome_of(&r, threshold), "fail");
    r
}

#[test]
fn run_fail_fast_stops_early() {
    fail_fast_run("heap.slope<1MiB/min");
}

#[test]
fn run_fail_fast_stops_on_a_cap_at_the_sample_that_passes_it() {
    // The heap grows up to 64 MiB a second: `heap.max<48MiB` is passed a
    // second or so in (several under a loaded box). A cap is certain on the
    // sample that passes it; it stopped the run only at the first look,
    // 30 s in.
    let o = run(&[
        "run",
        "--backend",
        "synthetic",
        "--duration",
        "2m",
        "--sample-every",
        "200ms",
        "--cost",
        "1ms",
        "-q",
        "--inject",
        "linear:64KiB",
        "-t",
        "heap.max<48MiB",
        "--fail-fast",
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let r = report(&o.dir);
    assert_eq!(r["ended_by"], "fail_fast");
    let why = r["fail_fast"].as_str().unwrap();
    assert!(
        why.starts_with("heap.max<48MiB: ") && why.contains("past the cap"),
        "{why}"
    );
    let took = r["analysis"]["duration_s"].as_f64().unwrap();
    assert!(took < 25.0, "stopped after {took} s");
    assert_eq!(outcome_of(&r, "heap.max<48MiB"), "fail");
    // `-q` silences progress, not the verdict: the closing line names the
    // breach (it printed nothing before).
    assert!(
        o.stderr.contains("heap.max<48MiB BREACHED = "),
        "{}",
        o.stderr
    );
}

#[test]
fn run_fail_fast_stops_on_an_upper_growth_limit() {
    // No look read a growth limit before: this run went on for 5 minutes.
    let r = fail_fast_run("heap.growth<64MiB");
    let why = r["fail_fast"].as_str().unwrap();
    assert!(why.starts_with("heap.growth<64MiB: growth "), "{why}");
}

#[test]
fn run_text_file_workload_ends_when_exhausted_and_writes_npy() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus.txt");
    let texts: Vec<String> = (0..100).map(|i| format!("paragraph number {i}")).collect();
    std::fs::write(&corpus, texts.join("\n")).unwrap();
    let npy = tmp.path().join("e.npy");
    // NOTE: 100 texts take a fraction of a second, too few samples for a
    // slope (such a run is exit 2, `watch_too_short_to_judge_a_slope_…`):
    // this test is about how the run ends, judged on a cap.
    let o = run(&[
        "run",
        "--backend",
        "synthetic",
        "--dim",
        "8",
        "--duration",
        "1m",
        "--sample-every",
        "100ms",
        "-t",
        "rss.max<1TiB",
        "-q",
        "--workload",
        corpus.to_str().unwrap(),
        "--page-size",
        "7",
        "--write-embeddings",
        npy.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = report(&o.dir);
    assert_eq!(r["ended_by"], "workload_exhausted");
    assert_eq!(r["analysis"]["items"], 100);
    let bytes = std::fs::read(&npy).unwrap();
    let header = String::from_utf8_lossy(&bytes[..128]);
    assert!(header.contains("'shape': (100, 8)"), "{header}");
    assert_eq!(bytes.len(), 128 + 100 * 8 * 4);
}

#[test]
fn run_npy_rows_are_the_items_the_report_counts() {
    // Regression: the page in flight when the duration ended was written
    // after the last sample: 58720 rows in the .npy, 58688 items counted.
    // NOTE: 20 ms an item, 32 a page: a page is nearly always in flight.
    let o = run(&[
        "run",
        "--backend",
        "synthetic",
        "--dim",
        "2",
        "--cost",
        "20ms",
        "--duration",
        "3s",
        "--sample-every",
        "100ms",
        "-t",
        "rss.max<1TiB",
        "-q",
        "--write-embeddings",
        "e.npy",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let items = report(&o.dir)["analysis"]["items"].as_u64().unwrap();
    let csv = std::fs::read_to_string(o.dir.join("samples.csv")).unwrap();
    let last: u64 = csv
        .lines()
        .last()
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let bytes = std::fs::read(o.tmp.path().join("e.npy")).unwrap();
    let rows = (bytes.len() as u64 - 128) / (2 * 4);
    assert!(items > 0);
    assert_eq!((rows, last), (items, items));
}

// ---- analyze ----

/// A 6 s synthetic run leaking 16 KiB an item, with `extra` options: past
/// the 1 MiB floor within 6 s even at the 100 items a second of a busy box
/// (1 KiB was not, beside two CPU hogs).
fn leak_run(extra: &[&str]) -> Outcome {
    let args = [
        &[
            "run",
            "--backend",
            "synthetic",
            "--duration",
            "6s",
            "--sample-every",
            "100ms",
            "--cost",
            "1ms",
            "-q",
            "--inject",
            "linear:16KiB",
        ][..],
        extra,
    ]
    .concat();
    run(&args)
}

/// `memsoak analyze PATH ARGS...` (a run folder or a samples file), run
/// to its end.
fn memsoak_analyze(path: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> std::process::Output {
    memsoak()
        .arg("analyze")
        .arg(path)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn analyze_reruns_with_other_thresholds() {
    let o = leak_run(&[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let out = memsoak_analyze(&o.dir, &["-t", "heap.max<16GiB"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("heap.max<16GiB"));
    let out = memsoak_analyze(
        o.dir.join("samples.csv"),
        &["-t", "heap.slope<1KiB/min", "--warmup", "10%"],
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn analyze_keeps_the_runs_own_limits_and_settings_unless_given_others() {
    // A leak run judged on a cap alone passes; re-judged with another
    // warm-up it was judged on the default limits instead (exit 1).
    let o = leak_run(&["-t", "heap.max<16GiB", "--confidence", "0.9"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let out = memsoak_analyze(&o.dir, &["--warmup", "10%"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("heap.max<16GiB") && !text.contains("slope<"),
        "{text}"
    );
    assert!(text.contains("90% CI"), "the run's confidence: {text}");
    // Given, a limit replaces the run's.
    let out = memsoak_analyze(&o.dir, &["-t", "heap.slope<1KiB/min"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn analyze_never_passes_a_samples_file_it_cannot_judge() {
    // Regression: each of these passed, exit 0, with nothing judged: a file
    // with no memory column; one of `sys_available` alone (no default
    // threshold); a `-t` on a metric the file lacks ("rss ... skipped"); a
    // per-1k limit on a watch's file with no items, while rss grew 60 MiB/min.
    let tmp = tempfile::tempdir().unwrap();
    let csv = |name: &str, header: &str, row: &dyn Fn(usize) -> String| {
        let mut text = format!("{header}\n");
        for i in 0..60 {
            text.push_str(&format!("{i},{}\n", row(i)));
        }
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let nometric = csv("nometric.csv", "t_s,items", &|i| format!("{}", i * 10));
    let onlysys = csv("onlysys.csv", "t_s,items,sys_available", &|i| {
        format!("{i},{}", 8_000_000_000 - i * 1_000_000)
    });
    let leak = csv("leak.csv", "t_s,items,rss", &|i| {
        format!(",{}", 100 * 1024 * 1024 + i * 1024 * 1024)
    });
    let cases: &[(&Path, &[&str], &str)] = &[
        (&nometric, &[], "nometric.csv: no memory column"),
        (
            &onlysys,
            &[],
            "onlysys.csv: no default threshold judges its columns (sys_available): give -t (e.g. sys_available.slope>-2MiB/min)",
        ),
        (
            &onlysys,
            &["-t", "rss.slope<2MiB/min"],
            "onlysys.csv has no `rss` column",
        ),
        (
            &leak,
            &["-t", "rss.slope_per_1k<64KiB"],
            "leak.csv counts no items",
        ),
        (
            &leak,
            &["-t", "rss.max<1GiB", "-t", "heap.slope<1MiB/min"],
            "leak.csv has no `heap` column",
        ),
    ];
    for (file, args, want) in cases {
        let out = memsoak_analyze(file, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file:?} {args:?}: {err}");
        assert!(err.contains(want), "{file:?} {args:?}: {err}");
        assert!(
            args.is_empty() || err.contains(&format!("-t {}: ", args[args.len() - 1])),
            "names the limit: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // Given a limit it can judge, the same files are judged: the floor on
    // available memory falling ~57 MiB/min is breached, exit 1.
    let out = memsoak_analyze(&onlysys, &["-t", "sys_available.slope>-2MiB/min"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `samples.csv` of rss at 1 Hz for `n` seconds: 200 MiB plus Gaussian
/// noise of `sd_mib` (seeded: a 64-bit LCG through Box–Muller).
fn noisy_csv(path: &Path, n: usize, sd_mib: f64, seed: u64) {
    noisy_csv_over(path, n, sd_mib, seed, |_| 0.0);
}

/// [`noisy_csv`] over a course: `course(t)` MiB added at second `t`.
fn noisy_csv_over(path: &Path, n: usize, sd_mib: f64, seed: u64, course: impl Fn(f64) -> f64) {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut csv = String::from("t_s,items,rss\n");
    for i in 0..n {
        let z = (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
        let level = 200.0 + course(i as f64) + sd_mib * z;
        csv.push_str(&format!("{i},,{}\n", level * MIB));
    }
    std::fs::write(path, csv).unwrap();
}

/// `memsoak analyze CSV -t rss.slope<2MiB/min`: its exit code, the summary
/// it prints and its closing line.
fn analyze_at_2mib_per_min(csv: &Path) -> (Option<i32>, String, String) {
    analyze_at(csv, "rss.slope<2MiB/min")
}

/// `memsoak analyze CSV -t THRESHOLD`: (exit code, stdout, stderr).
fn analyze_at(csv: &Path, threshold: &str) -> (Option<i32>, String, String) {
    let out = memsoak_analyze(csv, &["-t", threshold]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The measured value of the breached threshold in `memsoak`'s closing
/// line, in MiB (a growth: `BREACHED = 11.3 MiB (…)`) or MiB/min (a slope:
/// `BREACHED = 5.88 MiB/min (…)`).
fn breached_mib(line: &str) -> f64 {
    line.split("BREACHED = ")
        .nth(1)
        .and_then(|s| s.split(" MiB").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no rate in {line}"))
}

#[test]
fn analyze_says_when_a_pass_does_not_rule_out_the_limit_and_how_long_would() {
    // 90 s of 8 MiB noise, flat: the interval is several MiB/min wide,
    // past a 2 MiB/min limit. The run passes, says it is not conclusive,
    // and plans a longer run; the same noise over that length settles it.
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("samples.csv");
    let judge = |csv: &Path| {
        let (code, summary, line) = analyze_at_2mib_per_min(csv);
        assert_eq!(code, Some(0), "{line}");
        (summary, line)
    };
    noisy_csv(&csv, 90, 8.0, 3);
    let (summary, line) = judge(&csv);
    assert!(summary.contains("| pass, not conclusive |"), "{summary}");
    assert!(summary.contains("**Not conclusive**"), "{summary}");
    let planned = line
        .split("a run of about ")
        .nth(1)
        .and_then(|s| s.split(" min would settle it").next())
        .and_then(|m| m.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no planned run in {line}"));
    assert!((1.5..60.0).contains(&planned), "{planned} min");
    let settled = (10..15)
        .filter(|&seed| {
            noisy_csv(&csv, (planned * 60.0).ceil() as usize, 8.0, seed);
            let (summary, _) = judge(&csv);
            !summary.contains("not conclusive")
        })
        .count();
    assert!(
        settled >= 3,
        "{settled} of 5 runs of {planned} min settled it"
    );
}

#[test]
fn analyze_fails_growth_that_began_late_and_says_where() {
    // 30 minutes of 4 MiB noise, flat for 25.5 and then a 6 MiB/min leak:
    // over the whole run it reads about a twentieth of that, under
    // 2 MiB/min. A trailing window shows it; the same noise alone passes.
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("samples.csv");
    let judge = analyze_at_2mib_per_min;
    noisy_csv_over(&csv, 1800, 4.0, 5, |t| (t - 1530.0).max(0.0) * 6.0 / 60.0);
    let (code, summary, line) = judge(&csv);
    assert_eq!(code, Some(1), "{summary}{line}");
    // The steepest significant window (here the last 225 s, from 26.2 min
    // on), the leak at about its rate.
    let said = "**Growth began late** (`rss.slope<2MiB/min`): over the last ";
    let window = summary
        .split(said)
        .nth(1)
        .and_then(|s| s.split(" (from ").next())
        .unwrap_or_else(|| panic!("no late window in {summary}"));
    assert!(window.ends_with(" min"), "{window}");
    assert!(summary.contains(&format!(", last {window} |")), "{summary}");
    assert!(summary.contains("where its rate rose"), "{summary}");
    assert!(line.contains("BREACHED"), "{line}");
    assert!(
        line.contains(&format!("(last {window}, level fit)")),
        "{line}"
    );
    let rate = breached_mib(&line);
    assert!((4.5..8.0).contains(&rate), "{rate}");
    noisy_csv(&csv, 1800, 4.0, 5);
    let (code, summary, line) = judge(&csv);
    assert_eq!(code, Some(0), "{summary}{line}");
    assert!(!summary.contains("began late"), "{summary}");
}

#[test]
fn analyze_fails_a_recorded_sawtooth_whose_leak_began_late() {
    // Recorded from a real process (`tests/fixtures/sawtooth.py`: RSS
    // climbs 24 MiB and falls back every 10 s), 10 minutes at 1 Hz, with
    // 4 MiB/min kept from 7.5 min on. Over the whole steady state it reads
    // 61 KiB/min; with each trailing window's noise measured about a line
    // (the bend in the window read as noise) it was a conclusive pass. Its
    // healthy twin passes.
    let leak = common::repo("tests/fixtures/recorded/sawtooth_late_leak.csv");
    let (code, summary, line) = analyze_at_2mib_per_min(&leak);
    assert_eq!(code, Some(1), "{summary}{line}");
    assert!(summary.contains("**Growth began late**"), "{summary}");
    assert!(line.contains("cycles fit)"), "{line}");
    let rate = breached_mib(&line);
    assert!((2.5..5.0).contains(&rate), "{rate}");
    // It grew about 10 MiB in its last 2.5 minutes; the whole steady
    // state's line reads 0.6 MiB, and a growth limit had passed it.
    let (code, summary, line) = analyze_at(&leak, "rss.growth<5MiB");
    assert_eq!(code, Some(1), "{summary}{line}");
    assert!(summary.contains("**Growth began late**"), "{summary}");
    assert!(line.contains("rss.growth<5MiB BREACHED = "), "{line}");
    assert!(line.contains(" MiB (last 3.5 min, cycles fit)"), "{line}");
    let grew = breached_mib(&line);
    assert!((8.0..14.0).contains(&grew), "{grew}");
    // A cap is projected at the rate it grows now, not the whole run's
    // (61 KiB/min, not significant: "not approached").
    let (code, summary, line) = analyze_at(&leak, "rss.max<1GiB");
    assert_eq!(code, Some(0), "{summary}{line}");
    assert!(
        summary.contains("rss.max<1GiB: at this rate (")
            && summary.contains("/min over the last 3.5 min) reached in"),
        "{summary}"
    );
    let healthy = common::repo("tests/fixtures/recorded/sawtooth_healthy.csv");
    for threshold in ["rss.slope<2MiB/min", "rss.growth<5MiB"] {
        let (code, summary, line) = analyze_at(&healthy, threshold);
        assert_eq!(code, Some(0), "{summary}{line}");
        assert!(!summary.contains("began late"), "{summary}");
    }
}

// ---- bad input: one clear line, exit 2 ----

#[test]
fn bad_inputs_are_one_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--backend", "synthetic", "-t", "rss.slope<2MiB"],
            "invalid rate",
        ),
        (
            &["run", "--backend", "synthetic", "-t", "rsz.max<1GiB"],
            "unknown metric `rsz`",
        ),
        (
            &["run", "--backend", "synthetic", "--duration", "soon"],
            "--duration",
        ),
        (
            &["run", "--backend", "synthetic", "--warmup", "half"],
            "--warmup",
        ),
        (
            &[
                "run",
                "--backend",
                "synthetic",
                "--workload",
                "/nonexistent.txt",
            ],
            "no such file",
        ),
        (
            &["run", "--backend", "synthetic", "--inject", "linear"],
            "--inject",
        ),
        (
            &["run", "--backend", "synthetic", "--profile", "weekly"],
            "unknown profile",
        ),
        (
            &[
                "run",
                "--backend",
                "synthetic",
                "--write-embeddings",
                "x.csv",
            ],
            ".npy",
        ),
        // Regression: refused only after run.json was written, so the
        // same --out was then refused as "already holds a run".
        (
            &[
                "run",
                "--backend",
                "synthetic",
                "--write-embeddings",
                "/nonexistent-dir/e.npy",
            ],
            "--write-embeddings /nonexistent-dir/e.npy: its folder /nonexistent-dir does not exist",
        ),
        (&["watch", "--duration", "10s"], "needs a target"),
        // The command's own refusals come before a run too short, which a
        // longer run would not mend (the pytest marker's heap limit on a
        // 5 s soak was told to run longer).
        (&["watch", "--duration", "2s"], "needs a target"),
        (
            &[
                "watch",
                "--duration",
                "5s",
                "-t",
                "heap.slope<1MiB/min",
                "--",
                "true",
            ],
            "heap.slope<1MiB/min: `heap` is never sampled by watch",
        ),
        // Regression: ran the whole 5 s, then exit 2: its 7 samples fit no
        // drift (8 needed).
        (
            &["watch", "--duration", "5s", "--", "python3", "-c", "pass"],
            "--duration 5s at --sample-every 1s takes at most 7 samples, and fitting a drift needs 8 after warm-up: give --duration 6s or longer, or --sample-every 833ms or shorter",
        ),
        (
            &[
                "run",
                "--backend",
                "synthetic",
                "--duration",
                "5s",
                "--warmup",
                "2s",
            ],
            "--duration 5s at --sample-every 1s takes at most 7 samples, 2 of them in --warmup 2s, and fitting a drift needs 8 after warm-up: give --duration 8s or longer, or --sample-every 500ms or shorter, or a shorter --warmup",
        ),
        // Regression: passed after the run with nothing judged.
        (
            &[
                "watch",
                "--duration",
                "10s",
                "-t",
                "rss.slope_per_1k<64KiB",
                "--",
                "sleep",
                "30",
            ],
            "rss.slope_per_1k<64KiB: slope_per_1k needs the items the target has done, which watch counts only with --items-file PATH",
        ),
        // Regression: beside a max, the per-1k limit was skipped and the
        // run passed on the max alone, exit 0, while RSS grew 58.6 MiB/min.
        (
            &[
                "watch",
                "--duration",
                "10s",
                "-t",
                "rss.slope_per_1k<64KiB",
                "-t",
                "rss.max<1GiB",
                "--",
                "sleep",
                "30",
            ],
            "rss.slope_per_1k<64KiB: slope_per_1k needs the items the target has done",
        ),
        // Regression: passed, exit 0, "heap was not sampled": a black box's
        // heap is never read.
        (
            &[
                "watch",
                "--duration",
                "10s",
                "-t",
                "heap.slope<1MiB/min",
                "--",
                "sleep",
                "30",
            ],
            "heap.slope<1MiB/min: `heap` is never sampled by watch",
        ),
        (
            &[
                "run",
                "--backend",
                "command",
                "-t",
                "heap_active.max<1GiB",
                "--",
                "sleep",
                "30",
            ],
            "heap_active.max<1GiB: `heap_active` is never sampled by run --backend command",
        ),
        (
            &["watch", "--duration", "10s", "--", "/definitely/not/here"],
            "cannot start",
        ),
        (
            &["watch", "--duration", "10s", "--", "no-such-command-here"],
            "cannot start `no-such-command-here`: not found on $PATH",
        ),
        (
            &["watch", "--duration", "10s", "--pid", "4194304"],
            "--pid: no running process with pid 4194304",
        ),
        (
            &["run", "--backend", "command", "--", "no-such-worker"],
            "--backend command: cannot start worker `no-such-worker`: not found on $PATH",
        ),
        (
            &[
                "run",
                "--backend",
                "http",
                "--api",
                "tei",
                "--url",
                "http://127.0.0.1:9",
                "--pid",
                "4194304",
            ],
            "--backend http: --pid 4194304: no such process",
        ),
        (
            &[
                "run",
                "--backend",
                "http",
                "--api",
                "tei",
                "--url",
                "http://localhost:9",
            ],
            "a server on this machine is not sampled without --pid PID",
        ),
        (&["analyze", "/nonexistent-run"], "no samples.csv"),
        (
            &[
                "run",
                "--backend",
                "synthetic",
                "--warmup",
                "30s",
                "--duration",
                "20s",
            ],
            "--warmup 30s is not shorter than --duration 20s",
        ),
        (
            &["run", "--backend", "synthetic", "--warmup", "100%"],
            "--warmup 100% leaves no sample to judge",
        ),
        // A value that starts with '-' is the flag's to judge, named.
        (
            &["watch", "--duration", "-5s", "--", "true"],
            "--duration: invalid duration `-5s`",
        ),
        (
            &["watch", "--confidence", "-0.5", "--", "true"],
            "--confidence -0.5 is out of range",
        ),
        (
            &["run", "--backend", "synthetic", "--warmup", "-10%"],
            "--warmup: invalid percentage `-10%`",
        ),
        // Past what the types hold: a panic each, before.
        (
            &[
                "run",
                "--backend",
                "synthetic",
                "--duration",
                "18446744073709551615s",
            ],
            "--duration: duration `18446744073709551615s` is too long (at most 10 years)",
        ),
        (
            &[
                "run",
                "--backend",
                "synthetic",
                "--cost",
                "18446744073709551615s",
            ],
            "--cost: duration `18446744073709551615s` is too long",
        ),
        (
            &[
                "watch",
                "--min-growth",
                "99999999999999999999GiB",
                "--",
                "true",
            ],
            "--min-growth: size `99999999999999999999GiB` is too large",
        ),
        // A port no socket can have: every request failed later, before.
        (
            &[
                "record",
                "--upstream",
                "http://127.0.0.1:99999",
                "--out",
                "t.jsonl",
            ],
            "--upstream http://127.0.0.1:99999: port `99999` is not one from 1 to 65535",
        ),
        (
            &[
                "analyze",
                "--prometheus",
                "http://127.0.0.1:99999",
                "--query",
                "up",
                "--range",
                "5m",
            ],
            "port `99999` is not one from 1 to 65535",
        ),
        // Regression: skipped in every series, and the query passed.
        (
            &[
                "analyze",
                "--prometheus",
                "http://127.0.0.1:9",
                "--query",
                "up",
                "--range",
                "5m",
                "-t",
                "rss.slope_per_1k<1KiB",
            ],
            "-t rss.slope_per_1k<1KiB: a Prometheus series counts no items",
        ),
        (
            &[
                "run",
                "--backend",
                "http",
                "--api",
                "tei",
                "--url",
                "http://127.0.0.1:0/embed",
            ],
            "--url http://127.0.0.1:0/embed: port `0` is not one",
        ),
        // What clap refuses is one line too (its usage and tips left out).
        (
            &["run", "--backend", "synthetic", "--dim", "-5"],
            "unexpected argument '-5' found: a value cannot start with '-'",
        ),
        (
            &["watch", "--confidence", "abc", "--", "true"],
            "invalid value 'abc' for '--confidence <P>'",
        ),
        (
            &["analyze", "RUN", "--out", "DIR"],
            "cannot be used with: --out <DIR>, --prometheus <URL>",
        ),
        (&["run", "--bogus"], "unexpected argument '--bogus' found"),
        // Regression: accepted, and silently meant nothing.
        (
            &["run", "--backend", "synthetic", "--metrics-allow-remote"],
            "--metrics-allow-remote applies to --metrics-listen ADDR, which was not given",
        ),
        (
            &["watch", "--metrics-allow-remote", "--", "true"],
            "--metrics-allow-remote applies to --metrics-listen ADDR, which was not given",
        ),
    ];
    for (args, want) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let out = memsoak()
            .args(*args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line, got {err}"
        );
        // Refused before anything is written: no run folder holding only
        // run.json for a mistyped command or pid.
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "{args:?} left {left:?}");
    }
}

#[test]
fn a_folder_given_for_an_input_file_is_named_a_directory() {
    // Regression: a directory given to --workload, --from-text or
    // --from-jsonl (or as a definition's source) was "no such file".
    let tmp = tempfile::tempdir().unwrap();
    for d in ["corpus.txt", "log.jsonl", "mix.toml", "vectors.npy"] {
        std::fs::create_dir(tmp.path().join(d)).unwrap();
    }
    std::fs::write(
        tmp.path().join("def.toml"),
        "[[source]]\nkind = \"text\"\npath = \"corpus.txt\"\n",
    )
    .unwrap();
    let synthetic = ["run", "--backend", "synthetic", "--duration", "10s"];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--workload", "corpus.txt"],
            "--workload corpus.txt: is a directory, not a file",
        ),
        (
            &["--workload", "log.jsonl"],
            "--workload log.jsonl: is a directory, not a file",
        ),
        (
            &["--workload", "mix.toml"],
            "--workload mix.toml: is a directory, not a file",
        ),
        (
            &["--workload", "def.toml"],
            "corpus.txt: is a directory, not a file",
        ),
        // Regression: found after run.json was written (the folder left
        // behind then refused the same --out).
        (
            &["--write-embeddings", "vectors.npy"],
            "--write-embeddings vectors.npy: is a directory, not a file",
        ),
    ];
    let record: &[(&[&str], &str)] = &[
        (
            &["record", "--out", "t.jsonl", "--from-text", "corpus.txt"],
            "--from-text corpus.txt: is a directory, not a file",
        ),
        (
            &[
                "record",
                "--out",
                "t.jsonl",
                "--from-jsonl",
                "log.jsonl",
                "--field",
                "text",
            ],
            "--from-jsonl log.jsonl: is a directory, not a file",
        ),
        // A device was "no such file" too.
        (
            &["record", "--out", "t.jsonl", "--from-text", "/dev/zero"],
            "--from-text /dev/zero: is not a regular file",
        ),
    ];
    let runs = cases.iter().map(|(a, w)| {
        let mut args = synthetic.to_vec();
        args.extend_from_slice(a);
        (args, *w)
    });
    for (args, want) in runs.chain(record.iter().map(|(a, w)| (a.to_vec(), *w))) {
        let out = memsoak()
            .args(&args)
            .arg("-q")
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("no such file"), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    let left = std::fs::read_dir(tmp.path()).unwrap().count();
    assert_eq!(left, 5, "nothing written beside the inputs");
}

#[test]
fn prometheus_flags_with_a_run_folder_are_exit_2_naming_the_flag() {
    // They were accepted and ignored: `analyze PATH --out DIR` wrote nothing
    // to DIR and said nothing. clap's own message, on one line: the flag given listed first.
    for flag in [
        &["--out", "x"][..],
        &["--query", "up"],
        &["--range", "1h"],
        &["--step", "15s"],
        &["--metric", "rss"],
        &["--start", "1", "--end", "2"],
    ] {
        let out = memsoak()
            .args(["analyze", "/nonexistent-run"])
            .args(flag)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{flag:?}: {err}");
        assert!(
            err.contains(&format!("'[PATH]' cannot be used with: {}", flag[0])),
            "{flag:?}: {err}"
        );
    }
}

#[test]
fn bad_config_file_is_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("memsoak.toml"),
        "[profile.ci]\nduraton = \"1m\"\n",
    )
    .unwrap();
    let out = memsoak()
        .args(["run", "--backend", "synthetic", "--profile", "ci"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("duraton"));
}

#[test]
fn unwritable_out_is_found_before_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("f");
    std::fs::write(&file, "").unwrap();
    let out = memsoak()
        .args(["run", "--backend", "synthetic", "--out"])
        .arg(file.join("sub"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out"));
}

// ---- reliability: every ending is safe ----

#[test]
fn memsoak_killed_by_sigkill_leaves_no_target_and_its_samples_analyse() {
    let mark = format!("sigkill-{}", std::process::id());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let t = targets();
    let mut child = memsoak()
        .env("MEMSOAK_TEST_MARK", &mark)
        .args([
            "watch",
            "--duration",
            "5m",
            "--sample-every",
            "100ms",
            "-q",
            "--out",
        ])
        .arg(&dir)
        .args(["--", "python3", &t, "parent-of-leak", "--rate", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let before = marked_pids(&mark);
    assert!(
        before.len() >= 4,
        "memsoak + target + child + grandchild: {before:?}"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !marked_pids(&mark).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        marked_pids(&mark),
        Vec::<u32>::new(),
        "the target tree outlived memsoak"
    );
    // Simulate the row memsoak was writing when it died.
    let mut csv = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("samples.csv"))
        .unwrap();
    std::io::Write::write_all(&mut csv, b"99.9,,123").unwrap();
    let out = memsoak_analyze(&dir, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 cut row(s) dropped"), "{stdout}");
}

#[test]
fn sigterm_during_watch_stops_the_tree_and_exits_143() {
    let mark = format!("sigterm-{}", std::process::id());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let t = targets();
    let mut child = memsoak()
        .env("MEMSOAK_TEST_MARK", &mark)
        .args([
            "watch",
            "--duration",
            "5m",
            "--sample-every",
            "100ms",
            "-q",
            "--out",
        ])
        .arg(&dir)
        .args(["--", "python3", &t, "parent-of-leak", "--rate", "30"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let got = common::interrupt(&mut child, libc::SIGTERM, &dir);
    assert_eq!(got.code, 143, "{}", got.stderr);
    got.assert_within_budget("SIGTERM during watch");
    let r = report(&dir);
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["target"]["stop"]["left"], 0);
    assert_eq!(marked_pids(&mark), Vec::<u32>::new());
    // Regression: analyze of the interrupted run said a bare PASS, exit 0.
    let out = memsoak_analyze(&dir, &["-t", "rss.max<1GiB"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(
        err.contains("INTERRUPTED, PASS so far (exit 143) · ended by interrupted"),
        "{err}"
    );
}

#[test]
fn memsoak_itself_does_not_leak() {
    // memsoak watching memsoak: the inner run samples at 10 Hz, so anything
    // it kept per sample (rows, progress state) would show as drift.
    let tmp = tempfile::tempdir().unwrap();
    let inner_out = tmp.path().join("inner");
    let outer = tmp.path().join("outer");
    let bin = assert_cmd::cargo::cargo_bin("memsoak");
    let out = memsoak()
        .args([
            "watch",
            "--duration",
            "120s",
            "--sample-every",
            "500ms",
            "-q",
            "-t",
            "rss.slope<1MiB/min",
            "--out",
        ])
        .arg(&outer)
        .arg("--")
        .arg(&bin)
        .args([
            "run",
            "--backend",
            "synthetic",
            "--duration",
            "1h",
            "--sample-every",
            "100ms",
            "--cost",
            "2ms",
            "-q",
            "--out",
        ])
        .arg(&inner_out)
        .output()
        .unwrap();
    let r = report(&outer);
    let rss = r["analysis"]["metrics"][0].clone();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{rss}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rss["metric"], "rss");
    let slope = rss["slope_per_min"]["value"].as_f64().unwrap() / MIB;
    eprintln!("memsoak self-soak: rss drift {slope:.3} MiB/min");
    assert!(slope < 1.0, "memsoak's own rss drifts {slope} MiB/min");
    assert!(
        rows(&inner_out) > 1000,
        "the inner run really sampled at 10 Hz"
    );
}

#[test]
fn disk_full_mid_run_stops_cleanly_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&small)
        .output();
    match mount {
        Ok(o) if o.status.success() => {}
        failed => {
            let why = match failed {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            return cannot_run(
                "disk_full_mid_run_stops_cleanly_with_exit_2",
                &format!("cannot mount a 64 KiB tmpfs to fill (needs root): {why}"),
            );
        }
    }
    let out = memsoak()
        .args([
            "run",
            "--backend",
            "synthetic",
            "--duration",
            "2m",
            "--sample-every",
            "10ms",
            "-q",
            "--out",
        ])
        .arg(small.join("run"))
        .output()
        .unwrap();
    let _ = Command::new("umount").arg(&small).output();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("writing samples.csv"), "{err}");
}

// ---- watch --items-file: progress from a black box ----

/// `memsoak watch --items-file items [EXTRA]` of `python3 -c SCRIPT`, run in
/// the test's temp dir (where `items` is), sampled every 100 ms.
fn watch_items(script: &str, duration: &str, extra: &[&str]) -> Outcome {
    let args = [
        &[
            "watch",
            "--duration",
            duration,
            "--sample-every",
            "100ms",
            "--items-file",
            "items",
            "-q",
        ][..],
        extra,
    ]
    .concat();
    run_with(&args, &["python3", "-c", script], &[])
}

#[test]
fn watch_items_file_gives_the_drift_per_1000_items_of_a_black_box() {
    // 64 KiB kept per item; the target rewrites its count (write + rename).
    let script = "import os, time\nkept = []; n = 0\nwhile True:\n    \
        for _ in range(10):\n        kept.append(b'x' * 65536); n += 1\n    \
        open('items.tmp', 'w').write(f'{n}\\n'); os.replace('items.tmp', 'items')\n    \
        time.sleep(0.05)\n";
    // NOTE: 8 s: under load 9 a 4 s run failed here (the interpreter's
    // start takes much of it).
    let o = watch_items(script, "8s", &["-t", "rss.slope_per_1k<1MiB"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let r = report(&o.dir);
    assert!(r["analysis"]["items"].as_u64().unwrap() > 100, "{r}");
    let th = &r["analysis"]["thresholds"][0];
    assert_eq!(th["outcome"], "fail", "{th}");
    let per_1k = th["measured"].as_f64().unwrap() / 1048576.0;
    assert!((40.0..100.0).contains(&per_1k), "{per_1k} MiB/1k, truth 64");
    // The items column is the target's cumulative count.
    let csv = std::fs::read_to_string(o.dir.join("samples.csv")).unwrap();
    let items: Vec<u64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(items.windows(2).all(|w| w[1] >= w[0]), "{items:?}");
    assert_eq!(items[0], 0, "nothing done before the target starts");
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(o.dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(meta["config"]["items_file"], "items");
}

#[test]
fn watch_items_file_counts_appended_lines() {
    // One line appended per item: every line is counted.
    let script = "import time\nf = open('items', 'a')\nwhile True:\n    \
        f.write('done\\n' * 5); f.flush(); time.sleep(0.05)\n";
    let o = watch_items(
        script,
        "6s",
        &["--items-format", "lines", "-t", "rss.max<1TiB"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = report(&o.dir);
    let items = r["analysis"]["items"].as_u64().unwrap();
    let lines = std::fs::read_to_string(o.tmp.path().join("items"))
        .unwrap()
        .lines()
        .count() as u64;
    // NOTE: the last sample may come before the last lines; under load the
    // interpreter's start takes much of the run (3 s failed at load 9).
    assert!(items >= 10 && items <= lines, "{items} of {lines} lines");
    assert!(
        r["notes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n.as_str().unwrap().contains("--items-file"))
    );
}

#[test]
fn a_bad_items_file_is_a_note_never_a_crash() {
    let script = "import time\nopen('items', 'w').write('hello\\n')\ntime.sleep(30)\n";
    // NOTE: judged on a cap only: a starting interpreter's growth on a busy
    // box is no concern of this test.
    let o = watch_items(script, "4s", &["-t", "rss.max<1TiB"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = report(&o.dir);
    let notes: Vec<&str> = r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("`hello` is not a count")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("no count was ever read")),
        "{notes:?}"
    );
    assert_eq!(r["analysis"]["items"], 0);
    // A bad flag is one line and exit 2, before anything runs.
    for (args, want) in [
        (
            &["--items-file", "x", "--items-format", "bytes"][..],
            "expected count",
        ),
        (&["--items-format", "lines"][..], "needs --items-file"),
    ] {
        let o = run_with(&[&["watch"][..], args].concat(), &["true"], &[]);
        assert_eq!(o.code, 2, "{}", o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
        assert!(o.stderr.contains(want), "{}", o.stderr);
        assert!(!o.dir.exists());
    }
}

#[test]
fn watch_pid_of_its_own_parent_never_counts_memsoak() {
    // Regression: the pytest plugin starts memsoak on its own process, so
    // memsoak is in the tree it samples; its memory is not the target's.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let me = std::process::id().to_string();
    let child = memsoak()
        .args([
            "watch",
            "--pid",
            &me,
            "--duration",
            "2s",
            "-t",
            "rss.max<1TiB",
        ])
        .args(["--sample-every", "100ms", "-q", "--out"])
        .arg(&dir)
        .spawn()
        .unwrap();
    let ms = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let procs = std::fs::read_to_string(dir.join("processes.csv")).unwrap();
    let pids: Vec<u32> = procs
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    // NOTE: the test binary itself is in the tree, but processes.csv keeps
    // the 16 largest processes only, and the watches other tests run beside
    // this one (children of this binary, each larger than it) can fill them.
    assert!(!pids.is_empty(), "{procs}");
    assert!(!pids.contains(&ms), "memsoak {ms} sampled itself:\n{procs}");
}
