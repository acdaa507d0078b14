//! `--attribute` end to end: a Python target's allocation sites named by
//! the drift of their live bytes over tracemalloc snapshots, and an
//! in-process backend's over jemalloc's heap profiles of memsoak itself, as
//! a user runs memsoak (`watch -- CMD`, `run --backend command|synthetic`,
//! `analyze DIR`).

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    MIN_SNAPS, assert_no_site, fixture, memsoak, named, report, run_with, run_worker, serve_args,
    summary,
};

/// Held by the soaks that take snapshots, so that on a busy box they do
/// not starve each other's targets (a starved target answers late, its
/// requests merge and it takes fewer snapshots).
static SOAK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SOAK.lock().unwrap_or_else(|p| p.into_inner())
}

/// `memsoak watch` of the fixture target in `mode` with 2 s of warm-up and
/// a snapshot every 500 ms (up to 19 in a 12 s run; fewer on a busy box,
/// where the target's thread answers late and requests merge).
fn watch_target(mode: &str) -> common::Outcome {
    let _one = one_at_a_time();
    run_with(
        &[
            "watch",
            "--duration",
            "12s",
            "--sample-every",
            "200ms",
            "--warmup",
            "2s",
            "--attribute",
            "--attribute-every",
            "500ms",
            "-q",
        ],
        &["python3", &fixture("attribute_target.py"), mode],
        &[],
    )
}

#[test]
fn the_leaking_line_is_the_top_site_with_nearly_all_of_the_growth() {
    let o = watch_target("leak");
    let r = report(&o.dir);
    let sites = named(&r);
    assert!(!sites.is_empty(), "{}\n{}", r["attribution"], o.stderr);
    let top = &sites[0];
    assert!(
        top["code"].as_str().unwrap().contains("LEAK"),
        "top site: {top}"
    );
    assert!(
        top["frames"][0]
            .as_str()
            .unwrap()
            .contains("attribute_target.py:"),
        "{top}"
    );
    let share = top["share"].as_f64().unwrap();
    assert!(share >= 0.9, "share {share}: {top}");
    assert!(
        top["bytes_last"].as_f64().unwrap() > 2.0 * common::MIB,
        "{top}"
    );
    assert_eq!(sites.len(), 1, "only the leak grows: {sites:?}");
    let snaps = r["attribution"]["snapshots"].as_u64().unwrap();
    assert!(snaps >= MIN_SNAPS, "{snaps} snapshots");
    let run = common::json(&o.dir.join("run.json"));
    assert_eq!(
        run["config"]["attribute"], "from 2.0s, every 500ms",
        "{}",
        run["config"]
    );
    let vis = r["attribution"]["visibility"].as_str().unwrap();
    assert!(vis.contains("of the RSS growth"), "{vis}");
    let md = summary(&o.dir);
    assert!(md.contains("**Where it grows**"), "{md}");
    assert!(md.contains("attribute_target.py:"), "{md}");
    assert!(md.contains("LEAK: kept forever"), "{md}");
    let html = std::fs::read_to_string(o.dir.join("report.html")).unwrap();
    assert!(
        html.contains("<h2>Where it grows</h2>"),
        "no attribution in report.html"
    );
    assert!(html.contains("LEAK: kept forever"));
}

#[test]
fn a_healthy_target_names_no_site() {
    let o = watch_target("healthy");
    assert_no_site(&o);
}

#[test]
fn a_command_worker_that_retains_its_inputs_is_attributed_to_that_line() {
    let _one = one_at_a_time();
    let o = run_worker(
        &[
            "--duration",
            "10s",
            "--page-size",
            "4",
            "--warmup",
            "2s",
            "--attribute",
            "--attribute-every",
            "500ms",
        ],
        &["leak", "--retain-kib", "16"],
    );
    let r = report(&o.dir);
    let sites = named(&r);
    assert!(!sites.is_empty(), "{}\n{}", r["attribution"], o.stderr);
    assert!(
        sites[0]["code"].as_str().unwrap().contains("bytearray"),
        "top site: {}",
        sites[0]
    );
    assert!(sites[0]["share"].as_f64().unwrap() >= 0.9, "{}", sites[0]);
}

#[test]
fn a_killed_run_keeps_its_snapshots_and_analyze_names_the_site() {
    let _one = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut child = memsoak()
        .args([
            "watch",
            "--duration",
            "60s",
            "--sample-every",
            "200ms",
            "--warmup",
            "1s",
            "--attribute",
            "--attribute-every",
            "400ms",
            "-q",
            "--out",
        ])
        .arg(&dir)
        .args(["--", "python3", &fixture("attribute_target.py"), "leak"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let snaps = || {
        std::fs::read_dir(dir.join("attribution"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("snap-"))
                    .count()
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    while snaps() < 6 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(snaps() >= 6, "only {} snapshots in 40 s", snaps());
    assert!(!dir.join("report.json").exists());
    let out = memsoak().arg("analyze").arg(&dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("**Where it grows**"), "{text}");
    let table: Vec<&str> = text.lines().filter(|l| l.starts_with("| `")).collect();
    assert!(
        table.iter().any(|l| l.contains("LEAK: kept forever")),
        "{text}"
    );
}

#[test]
fn bad_attribute_flags_are_one_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["watch", "--attribute-every", "1s", "--", "true"],
            "--attribute-every needs --attribute",
        ),
        (
            &[
                "watch",
                "--attribute",
                "--attribute-every",
                "soon",
                "--",
                "true",
            ],
            "--attribute-every",
        ),
        (
            &[
                "watch",
                "--attribute",
                "--attribute-every",
                "50ms",
                "--",
                "true",
            ],
            "too fast",
        ),
        (
            &[
                "watch",
                "--duration",
                "5s",
                "--attribute",
                "--attribute-every",
                "10s",
                "--",
                "true",
            ],
            "no snapshot fits",
        ),
        (&["watch", "--attribute", "--pid", "1"], "--pid"),
    ];
    for (args, want) in cases {
        let o = run_with(args, &[], &[]);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{args:?}: {}", o.stderr);
        assert!(!o.dir.exists(), "{args:?} left a run folder");
    }
}

#[test]
fn the_http_backend_refuses_attribute_without_serve_in_one_line() {
    let o = run_with(
        &[
            "run",
            "--backend",
            "http",
            "--url",
            "http://127.0.0.1:9/v1/embeddings",
            "--attribute",
            "--duration",
            "10s",
        ],
        &[],
        &[],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("--attribute") && o.stderr.contains("--serve"),
        "{}",
        o.stderr
    );
    assert!(!o.dir.exists());
}

#[test]
fn a_served_python_http_server_that_keeps_every_request_is_attributed_to_that_line() {
    // `--backend http --serve -- python3 embed_server.py --leak-kib 16`: a
    // real HTTP server on loopback, started by memsoak with its tracemalloc
    // hook on PYTHONPATH, that keeps 16 KiB per text forever.
    let _one = one_at_a_time();
    let port = common::free_port().to_string();
    let url = format!("http://127.0.0.1:{port}");
    let o = run_with(
        &serve_args(
            &url,
            // NOTE: 20 s, not 10: beside a calibration on both cores the
            // server's tracemalloc snapshots slowed as its heap grew, 4 in
            // 8 s, and the leaking line read p = 0.07 (not significant).
            &[
                "--duration",
                "20s",
                "--warmup",
                "2s",
                "--attribute",
                "--attribute-every",
                "500ms",
            ],
        ),
        &[
            "python3",
            &fixture("embed_server.py"),
            "--port",
            &port,
            "--leak-kib",
            "16",
        ],
        &[],
    );
    assert!(matches!(o.code, 0 | 1), "{}", o.stderr);
    let r = report(&o.dir);
    let sites = named(&r);
    assert!(!sites.is_empty(), "{}\n{}", r["attribution"], o.stderr);
    assert!(
        sites[0]["frames"][0]
            .as_str()
            .unwrap()
            .contains("embed_server.py:"),
        "top site: {}",
        sites[0]
    );
    assert!(
        sites[0]["code"].as_str().unwrap().contains("bytearray"),
        "top site: {}",
        sites[0]
    );
    assert!(sites[0]["share"].as_f64().unwrap() >= 0.9, "{}", sites[0]);
    assert_eq!(
        r["attribution"]["source"], "tracemalloc",
        "{}",
        r["attribution"]
    );
}

/// `memsoak run --backend synthetic --inject INJECT --attribute`: 9 s, 2 s
/// of warm-up, a jemalloc snapshot every 500 ms (up to 13), 500 us of CPU
/// per item (about 2000 items/s: `linear:4KiB` keeps some 8 MiB/s).
fn run_synthetic(inject: &str, env: &[(&str, &str)]) -> common::Outcome {
    let _one = one_at_a_time();
    run_with(
        &[
            "run",
            "--backend",
            "synthetic",
            "--inject",
            inject,
            "--cost",
            "500us",
            "--duration",
            "9s",
            "--sample-every",
            "200ms",
            "--warmup",
            "2s",
            "--attribute",
            "--attribute-every",
            "500ms",
            "-q",
        ],
        &[],
        env,
    )
}

/// The jemalloc snapshots (and raw dumps) of a run folder.
fn jeprof_files(dir: &Path, ext: &str) -> usize {
    std::fs::read_dir(dir.join("attribution"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with("jeprof-") && n.ends_with(ext)
                })
                .count()
        })
        .unwrap_or(0)
}

/// The functions of the stack that grew most in the run folder's
/// `attribution/heap-growth.pb.gz`, after checking that the first and last
/// snapshots' profiles are there and decode too.
fn top_growth_stack(dir: &Path) -> Vec<String> {
    let read = |name: &str| {
        let path = dir.join("attribution").join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        memsoak::runfolder::pprof::decode_gz(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    for name in ["heap-first.pb.gz", "heap-last.pb.gz"] {
        let p = read(name);
        assert!(!p.sample.is_empty(), "{name}: no sample");
        assert_eq!(p.string(p.default_sample_type), "inuse_space", "{name}");
    }
    let g = read("heap-growth.pb.gz");
    let space = g.value_index("inuse_space").expect("inuse_space");
    assert!(g.value_index("inuse_objects").is_some());
    let top = g
        .sample
        .iter()
        .max_by_key(|s| s.value[space])
        .expect("a growth sample");
    assert!(top.value[space] > 0, "{top:?}");
    g.functions(top).into_iter().map(String::from).collect()
}

#[test]
fn an_in_process_leak_is_attributed_to_the_function_that_retains() {
    let o = run_synthetic("linear:4KiB", &[]);
    // NOTE: the gate's verdict on 7 s of steady state is not this test's
    // question (tests/cli.rs judges injected leaks): beside two CPU hogs the
    // item rate stalls and starts, and rss came out at p = 0.04–0.07. The
    // run must end normally, and the snapshots must name the site.
    assert!(matches!(o.code, 0 | 1), "exit {}: {}", o.code, o.stderr);
    let r = report(&o.dir);
    let at = &r["attribution"];
    assert_eq!(at["source"], "jemalloc", "{at}");
    let sites = named(&r);
    assert!(!sites.is_empty(), "{at}\n{}", o.stderr);
    let top = &sites[0];
    assert!(
        top["code"]
            .as_str()
            .unwrap()
            .contains("SyntheticEmbedder::retain"),
        "top site: {top}"
    );
    assert!(
        top["frames"][0]
            .as_str()
            .unwrap()
            .contains("harness/src/backend/synthetic.rs:"),
        "{top}"
    );
    let share = top["share"].as_f64().unwrap();
    assert!(share >= 0.9, "share {share}: {top}");
    let snaps = at["snapshots"].as_u64().unwrap();
    assert!(snaps >= MIN_SNAPS, "{snaps} snapshots");
    assert_eq!(jeprof_files(&o.dir, ".json") as u64, snaps);
    assert_eq!(
        jeprof_files(&o.dir, ".heap") as u64,
        snaps,
        "raw dumps kept"
    );
    let vis = at["visibility"].as_str().unwrap();
    assert!(vis.starts_with("jemalloc saw"), "{vis}");
    // pprof's profiles of the dumps: the stack that grew most runs through
    // the function that retains.
    let stack = top_growth_stack(&o.dir);
    assert!(
        stack
            .iter()
            .any(|f| f.contains("SyntheticEmbedder::retain")),
        "{stack:#?}"
    );
    // A folder without them (an older memsoak's) gets them from `report`.
    let growth = o.dir.join("attribution/heap-growth.pb.gz");
    std::fs::remove_file(&growth).unwrap();
    let out = memsoak().arg("report").arg(&o.dir).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(top_growth_stack(&o.dir), stack, "the same profile again");
    let md = summary(&o.dir);
    assert!(md.contains("**Where it grows** (jemalloc,"), "{md}");
    assert!(md.contains("synthetic.rs:"), "{md}");
    let html = std::fs::read_to_string(o.dir.join("report.html")).unwrap();
    assert!(html.contains("<h2>Where it grows</h2>") && html.contains("jemalloc, "));
    // The classification names the site whenever it calls the run growing
    // (live-heap growth on a quiet box, "mixed" under load; a run whose
    // 7 s of steady state a loaded box left unclear is named no site).
    let c = &r["classification"];
    if !matches!(c["pattern"].as_str(), Some("steady" | "bounded_plateau")) {
        let site = c["site"].as_str().unwrap_or_default();
        assert!(site.contains("SyntheticEmbedder::retain"), "{c}");
        assert!(c["summary"].as_str().unwrap().contains("; at `"), "{c}");
    }
}

#[test]
fn an_in_process_plateau_names_no_site() {
    // A cache of 16 MiB, full within the warm-up.
    let o = run_synthetic("plateau:64KiB/16MiB", &[]);
    assert_eq!(report(&o.dir)["attribution"]["source"], "jemalloc");
    assert_no_site(&o);
}

#[test]
fn an_in_process_run_with_profiling_turned_off_is_one_line_and_exit_2() {
    let o = run_synthetic("none", &[("_RJEM_MALLOC_CONF", "prof:false")]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("prof:false"), "{}", o.stderr);
    assert!(!o.dir.exists());
}

#[test]
fn a_killed_in_process_run_keeps_its_snapshots_and_analyze_names_the_site() {
    let _one = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut child = memsoak()
        .args([
            "run",
            "--backend",
            "synthetic",
            "--inject",
            "linear:4KiB",
            "--cost",
            "500us",
            "--duration",
            "30s",
            "--sample-every",
            "200ms",
            "--warmup",
            "1s",
            "--attribute",
            "--attribute-every",
            "400ms",
            "-q",
            "--out",
        ])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // NOTE: 12 snapshots (4.4 s of leaking after the warm-up), not 6: on
    // a box with two CPU hogs beside it, 6 snapshots spanned so few items
    // that jemalloc saw 1.7 MiB of the heap's 57 MiB (1 run in 4) and no
    // site was significant.
    let deadline = Instant::now() + Duration::from_secs(25);
    while jeprof_files(&dir, ".json") < 12 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGKILL: nothing of memsoak's runs after it.
    child.kill().unwrap();
    child.wait().unwrap();
    let snaps = jeprof_files(&dir, ".json");
    assert!(snaps >= 12, "only {snaps} snapshots in 25 s");
    assert!(!dir.join("report.json").exists());
    assert!(!dir.join("attribution/heap-growth.pb.gz").exists());
    let out = memsoak().arg("analyze").arg(&dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (_, sites) = text
        .split_once("**Where it grows** (jemalloc,")
        .unwrap_or_else(|| panic!("no jemalloc attribution: {text}"));
    let top = sites.lines().find(|l| l.starts_with("| `"));
    assert!(
        top.is_some_and(|l| l.contains("SyntheticEmbedder::retain")),
        "{text}"
    );
    // The run left no pprof profiles; analyze wrote them from the dumps,
    // symbolized in its own process.
    let stack = top_growth_stack(&dir);
    assert!(
        stack
            .iter()
            .any(|f| f.contains("SyntheticEmbedder::retain")),
        "{stack:#?}"
    );
}

#[test]
fn the_python_side_is_silent_without_memsoak_and_chains_to_the_sitecustomize_it_shadows() {
    let tmp = tempfile::tempdir().unwrap();
    let theirs = tmp.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::write(
        theirs.join("sitecustomize.py"),
        "import builtins\nbuiltins.THEIRS_RAN = True\n",
    )
    .unwrap();
    let ours = common::repo("harness/python");
    let pythonpath = format!("{}:{}", ours.display(), theirs.display());
    let script = "import builtins, sys, threading; \
                  print(getattr(builtins, 'THEIRS_RAN', False), \
                  sorted(t.name for t in threading.enumerate()), \
                  'tracemalloc' in sys.modules)";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .env("PYTHONPATH", &pythonpath)
        .env_remove("MEMSOAK_ATTRIBUTE_DIR")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    // The shadowed sitecustomize ran; no thread, no tracing, nothing said.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "True ['MainThread'] False"
    );
}
