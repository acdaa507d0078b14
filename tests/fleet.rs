//! Containers and fleets, as a user runs them: `summarize` over real run
//! folders, cgroup metrics (`watch --cgroup` on a fixture tree, and this
//! machine's own memory cgroup), the live `--metrics-listen` endpoint, and
//! `analyze --prometheus` against a real Prometheus server scraping real
//! runs (and a fixture server for 1,000 series × a day). Each test gets its
//! own temp dir.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Outcome, cannot_run, free_port, json, memsoak, report, run_with};
use serde_json::Value;

/// The arguments of a quiet synthetic `run` (1 ms of CPU per item) of
/// `dur`, sampled every `every`, leaking 4 KiB per item or not.
fn synthetic_args(leak: bool, dur: &str, every: &str) -> Vec<String> {
    let mut args: Vec<String> = ["run", "--backend", "synthetic", "--cost", "1ms", "-q"]
        .map(String::from)
        .to_vec();
    args.extend(["--duration", dur, "--sample-every", every].map(String::from));
    if leak {
        args.extend(["--inject", "linear:4KiB"].map(String::from));
    }
    args
}

/// A short synthetic run judged on `rss.slope<2MiB/min`, with extra flags.
fn synthetic(leak: bool, secs: u32, extra: &[&str]) -> Outcome {
    let mut args = synthetic_args(leak, &format!("{secs}s"), "250ms");
    args.extend(["-t", "rss.slope<2MiB/min"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_with(&args, &[], &[])
}

/// `memsoak ARGS --out OUT`: exit code, stdout, stderr.
fn memsoak_out(args: &[&str], out: &Path) -> (i32, String, String) {
    let o = memsoak().args(args).arg("--out").arg(out).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A usage error: exit 2 and one line, naming `want`.
fn usage_error(code: i32, stderr: &str, want: &str) {
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(want), "{stderr}");
}

fn summarize(dirs: &[&Path], out: &Path) -> (i32, String, String) {
    let mut args = vec!["summarize"];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap()));
    memsoak_out(&args, out)
}

#[test]
fn summarize_gates_a_matrix_of_real_runs_with_the_worst_verdict() {
    let (leak, flat) = std::thread::scope(|s| {
        let a = s.spawn(|| synthetic(true, 8, &[]));
        let b = s.spawn(|| synthetic(false, 8, &[]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(leak.code, 1, "{}", leak.stderr);
    assert_eq!(flat.code, 0, "{}", flat.stderr);
    // Each run also leaves its drift in Bencher's format.
    let b = json(&flat.dir.join("bencher.json"));
    let bench = b.as_object().unwrap().values().next().unwrap();
    let rss = &bench["rss-slope"];
    assert!(rss["lower_value"].as_f64().unwrap() <= rss["value"].as_f64().unwrap());
    assert!(rss["value"].as_f64().unwrap() <= rss["upper_value"].as_f64().unwrap());

    // A matrix: the two runs under one folder, as CI artifacts arrive.
    let m = tempfile::tempdir().unwrap();
    let art = m.path().join("artifacts");
    for (name, o) in [("leak", &leak), ("flat", &flat)] {
        let cell = art.join(name).join("run");
        std::fs::create_dir_all(cell.parent().unwrap()).unwrap();
        let copied = Command::new("cp")
            .arg("-r")
            .arg(&o.dir)
            .arg(&cell)
            .status()
            .unwrap();
        assert!(copied.success());
    }
    let out = m.path().join("summary");
    let (code, stdout, stderr) = summarize(&[&art], &out);
    assert_eq!(code, 1, "{stderr}\n{stdout}");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert_eq!(md, stdout);
    assert!(md.contains("2 runs: 1 pass, 1 fail, 0 error"), "{md}");
    assert!(md.contains("/leak/run` | ❌ FAIL"), "{md}");
    assert!(md.contains("/flat/run` | ✅ PASS"), "{md}");
    assert!(md.contains("`rss.slope<2MiB/min` measured"), "{md}");
    let xml = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2, "{xml}");
    let failures: usize = suites
        .iter()
        .map(|s| s.attribute("failures").unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(failures, 1, "{xml}");
    let bmf = json(&out.join("bencher.json"));
    assert_eq!(bmf.as_object().unwrap().len(), 2, "{bmf}");

    // A cell whose run never finished (memsoak killed: run.json, no
    // report) is an error row, never dropped: exit 3.
    let dead = art.join("dead");
    std::fs::create_dir_all(&dead).unwrap();
    std::fs::copy(flat.dir.join("run.json"), dead.join("run.json")).unwrap();
    let (code, stdout, stderr) = summarize(&[&art], &out);
    assert_eq!(code, 3, "{stderr}");
    assert!(stdout.contains("/dead` | ⚠️ ERROR"), "{stdout}");
    assert!(stdout.contains("no report.json"), "{stdout}");

    // Bad input: one line, exit 2.
    let (code, _, stderr) = summarize(&[&m.path().join("nope")], &out);
    usage_error(code, &stderr, "not a folder");
    let empty = m.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, stderr) = summarize(&[&empty], &out);
    usage_error(code, &stderr, "no run folder here");
    // --out naming a run: its summary, junit and bencher files were
    // written over.
    let before = std::fs::read_to_string(flat.dir.join("summary.md")).unwrap();
    let (code, _, stderr) = summarize(&[&art], &flat.dir);
    usage_error(code, &stderr, "already holds a run (its run.json)");
    assert_eq!(
        std::fs::read_to_string(flat.dir.join("summary.md")).unwrap(),
        before
    );
    // So does `analyze --prometheus`, before it fetches anything (it
    // replaced the run's report.json).
    let args = [
        "analyze",
        "--prometheus",
        "http://127.0.0.1:9",
        "--query",
        "up",
        "--range",
        "5m",
    ];
    let (code, _, stderr) = memsoak_out(&args, &flat.dir);
    usage_error(code, &stderr, "already holds a run (its run.json)");
}

#[test]
fn summarize_of_a_run_whose_report_json_is_a_folder_is_exit_2() {
    // Regression: it was an error row and exit 3, as if the run had died;
    // it is unusable input, one line naming the file.
    let m = tempfile::tempdir().unwrap();
    let run = m.path().join("run");
    std::fs::create_dir_all(run.join("report.json")).unwrap();
    std::fs::write(run.join("samples.csv"), "t_s,items,rss\n").unwrap();
    let out = m.path().join("summary");
    let (code, _, stderr) = summarize(&[&run], &out);
    usage_error(
        code,
        &stderr,
        "report.json: is a directory, not a report file",
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn summarize_says_where_its_search_stopped_with_folders_left_below() {
    // Regression: a run 5 levels down was dropped without a word ("1 runs").
    let m = tempfile::tempdir().unwrap();
    let root = m.path().join("m2");
    for dir in ["a/b/c/r4", "x/y/z/w/r5"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join("samples.csv"), "t_s,items,rss\n").unwrap();
    }
    let out = m.path().join("sm2");
    let (code, stdout, stderr) = summarize(&[&root], &out);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stdout.contains("\n1 run: 0 pass, 0 fail, 1 error\n"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let stopped = "the search for runs stopped 4 levels down: folders in ";
    assert!(
        md.contains(stopped) && md.contains("/m2/x/y/z/w were not searched"),
        "{md}"
    );
    let warned: Vec<&str> = stderr.lines().filter(|l| l.contains(stopped)).collect();
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(warned[0].starts_with("memsoak: warning: "), "{stderr}");
}

#[test]
fn summarize_without_out_never_writes_over_a_summary_of_the_same_second() {
    // Regression: two `summarize RUN` in one second both wrote
    // reports/<UTC ts>-summary-matrix; the second wrote over the first.
    let m = tempfile::tempdir().unwrap();
    let run = m.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("samples.csv"), "t_s,items,rss\n").unwrap();
    // Earlier summaries hold every name of the next few seconds.
    let now = chrono::Utc::now();
    let names: Vec<String> = (-1..10)
        .map(|k| {
            let ts = now + chrono::Duration::seconds(k);
            format!("{}-summary-matrix", ts.format("%Y%m%dT%H%M%SZ"))
        })
        .collect();
    let reports = m.path().join("reports");
    for n in &names {
        std::fs::create_dir_all(reports.join(n)).unwrap();
        std::fs::write(reports.join(n).join("summary.md"), "earlier\n").unwrap();
    }
    let o = memsoak()
        .current_dir(m.path())
        .args(["summarize", "run", "-q"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    for n in &names {
        let md = std::fs::read_to_string(reports.join(n).join("summary.md")).unwrap();
        assert_eq!(md, "earlier\n", "{n} was written over");
    }
    let new: Vec<String> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !names.contains(n))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0].ends_with("-summary-matrix-2"), "{new:?}");
    let md = std::fs::read_to_string(reports.join(&new[0]).join("summary.md")).unwrap();
    assert!(md.contains("`run`"), "{md}");
}

/// A fixture memory cgroup (v2) with this much charged and this many OOM
/// kills so far.
fn cgroup_v2(dir: &Path, current: u64, limit: u64, oom: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let w = |n: &str, t: String| std::fs::write(dir.join(n), t).unwrap();
    w("memory.current", format!("{current}\n"));
    w(
        "memory.stat",
        format!(
            "anon {}\nfile {}\ninactive_file {}\n",
            current / 2,
            current / 4,
            current / 8
        ),
    );
    w("memory.max", format!("{limit}\n"));
    w("memory.events", format!("oom 0\noom_kill {oom}\n"));
}

#[test]
fn watch_samples_a_named_cgroup_and_names_an_oom_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let cg = tmp.path().join("cg/kubepods/pod1");
    let mib = 1u64 << 20;
    cgroup_v2(&cg, 100 * mib, 512 * mib, 3);
    let out = tmp.path().join("run");
    let mut child = memsoak()
        .args(["watch", "--duration", "4s", "--sample-every", "200ms", "-q"])
        .arg("--cgroup")
        .arg(&cg)
        .arg("--out")
        .arg(&out)
        .args(["--", "sleep", "30"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The "container" grows and its OOM killer strikes once mid-run.
    for i in 1..=10u64 {
        std::thread::sleep(Duration::from_millis(300));
        cgroup_v2(
            &cg,
            (100 + 10 * i) * mib,
            512 * mib,
            if i >= 5 { 4 } else { 3 },
        );
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let csv = std::fs::read_to_string(out.join("samples.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(",cgroup,cgroup_anon,cgroup_file,cgroup_working_set"),
        "{header}"
    );
    let last: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
    let n = last.len();
    let (cur, ws): (u64, u64) = (last[n - 4].parse().unwrap(), last[n - 1].parse().unwrap());
    assert_eq!(ws, cur - cur / 8, "working set = usage − inactive_file");
    let r = report(&out);
    assert_eq!(r["cgroup"]["limit"], 512 * mib);
    assert_eq!(r["cgroup"]["version"], "v2");
    assert_eq!(r["cgroup"]["oom_kills"], 1, "{}", r["cgroup"]);
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("OOM kill: the kernel killed 1 process(es)"),
        "{notes}"
    );
    assert!(!notes.contains("root of the"), "{notes}");
    let limit = &r["projection"]["cgroup_limit"];
    assert_eq!(limit["limit"].as_f64(), Some((512 * mib) as f64), "{limit}");

    // Not a cgroup: one line, exit 2, nothing run.
    let not_cg = tmp.path().to_str().unwrap();
    let (code, _, err) = memsoak_out(
        &[
            "watch",
            "--duration",
            "10s",
            "--cgroup",
            not_cg,
            "--",
            "true",
        ],
        &tmp.path().join("nothing"),
    );
    usage_error(code, &err, "not a memory cgroup");
}

/// Where this machine mounts the v1 memory hierarchy's root, from
/// `/proc/self/mountinfo` (the library's own reading of it).
fn memory_hierarchy_mount() -> Option<String> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mi.lines()
        .filter_map(|l| l.split_once(" - ")?.0.split(' ').nth(4))
        .find(|p| memsoak::sample::cgroup::is_mount_point(std::path::Path::new(p), &mi))
        .map(str::to_string)
}

#[test]
fn watch_of_a_memory_hierarchy_s_root_says_it_charges_the_whole_machine() {
    // The real root of this machine's memory hierarchy, read only: sampled
    // as asked, with a note that it is not one container's cgroup.
    let Some(root) = memory_hierarchy_mount() else {
        common::skip(
            "watch_of_a_memory_hierarchy_s_root_says_it_charges_the_whole_machine",
            "no memory cgroup hierarchy with a usage file is mounted here",
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = memsoak()
        .args(["watch", "--duration", "4s", "--sample-every", "200ms", "-q"])
        .args(["--cgroup", &root, "--out"])
        .arg(&out)
        .args(["--", "sleep", "30"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let csv = std::fs::read_to_string(out.join("samples.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains(",cgroup,"), "{csv}");
    let notes = report(&out)["notes"].to_string();
    assert!(
        notes.contains(&format!("--cgroup {root} is the root of the"))
            && notes.contains("every process on the machine"),
        "{notes}"
    );
}

#[test]
fn a_run_samples_its_own_memory_cgroup_when_it_has_one() {
    let own = memsoak::sample::cgroup::of_pid(std::process::id());
    let o = synthetic(false, 3, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let csv = std::fs::read_to_string(o.dir.join("samples.csv")).unwrap();
    let header = csv.lines().next().unwrap().to_string();
    let r = report(&o.dir);
    match own {
        Some(c) => {
            // A real read of the cgroup this test runs in, cross-checked
            // against the run's own RSS: the charge holds at least it.
            assert!(header.contains(",cgroup,"), "{header}");
            let cols: Vec<&str> = header.split(',').collect();
            let at = |name: &str| cols.iter().position(|c| *c == name).unwrap();
            let last: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
            let rss: f64 = last[at("rss")].parse().unwrap();
            let cg: f64 = last[at("cgroup")].parse().unwrap();
            assert!(cg >= rss * 0.9, "cgroup {cg} < rss {rss} ({c:?})");
            assert_eq!(r["cgroup"]["path"], c.path.display().to_string());
        }
        None => {
            assert!(!header.contains("cgroup"), "{header}");
            assert!(r["notes"].to_string().contains("cgroup metrics absent"));
            common::skip(
                "a_run_samples_its_own_memory_cgroup_when_it_has_one",
                "this test runs in no memory cgroup of its own: only the absence is checked",
            );
        }
    }
}

fn scrape(url: &str) -> Option<String> {
    let mut r = ureq::get(url).call().ok()?;
    r.body_mut().read_to_string().ok()
}

#[test]
fn metrics_listen_serves_live_series_and_refuses_a_public_address_without_consent() {
    let port = free_port();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut child = memsoak()
        .args(synthetic_args(true, "15s", "100ms"))
        .arg("--metrics-listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--out")
        .arg(&out)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(14);
    let mut body = String::new();
    // The drift is fitted every 10 s of the run.
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        if let Some(b) = scrape(&url)
            && b.contains("memsoak_drift_bytes_per_minute{")
        {
            body = b;
            break;
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(!body.is_empty(), "no drift was ever served at {url}");
    let run_id = "run";
    for needle in [
        "# TYPE memsoak_rss_bytes gauge",
        "# TYPE memsoak_heap_bytes gauge",
        "# TYPE memsoak_items counter",
        "# TYPE memsoak_threshold_breached gauge",
        r#"bound="upper""#,
        &format!(r#"run_id="{run_id}",mode="run",backend="synthetic",workload="synthetic""#),
    ] {
        assert!(body.contains(needle), "{needle} missing:\n{body}");
    }
    let items = body
        .lines()
        .find(|l| l.starts_with("memsoak_items_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap();
    assert!(items > 0.0, "{body}");
    // Gone with the run.
    assert!(scrape(&url).is_none());

    let public = tmp.path().join("public");
    let (code, _, err) = memsoak_out(
        &[
            "run",
            "--backend",
            "synthetic",
            "--duration",
            "10s",
            "--metrics-listen",
            "0.0.0.0:9464",
        ],
        &public,
    );
    usage_error(code, &err, "--metrics-allow-remote");
    assert!(!public.exists());
    // An address already in use: one line, exit 2, before anything runs.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for cmd in [
        &["run", "--backend", "synthetic", "--duration", "10s"][..],
        &["watch", "--duration", "10s"][..],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--metrics-listen", addr.as_str()]);
        if cmd[0] == "watch" {
            args.extend(["--", "sleep", "5"]);
        }
        let dir = tmp.path().join(format!("taken-{}", cmd[0]));
        let (code, _, err) = memsoak_out(&args, &dir);
        usage_error(code, &err, "cannot listen there");
        assert!(
            !dir.join("samples.csv").exists(),
            "{}: sampled anyway",
            cmd[0]
        );
    }
}

/// A Prometheus server of its own, on loopback, stopped on drop.
struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `prometheus` scraping `targets` every second; `None` (after
/// `cannot_run`) when the binary is missing.
fn prometheus(test: &str, dir: &Path, targets: &[String]) -> Option<Prometheus> {
    let bin = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let Some(bin) = bin else {
        cannot_run(
            test,
            "no prometheus binary (the Debian package `prometheus`; .ci/run installs it)",
        );
        return None;
    };
    let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: memsoak\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .unwrap();
    let p = Prometheus { child, port };
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    let deadline = Instant::now() + Duration::from_secs(30);
    while scrape(&ready).is_none() {
        assert!(
            Instant::now() < deadline,
            "prometheus not ready in 30 s: {}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Some(p)
}

fn analyze_prom(url: &str, args: &[&str], out: &Path) -> (i32, String) {
    let mut all = vec!["analyze", "--prometheus", url, "-q"];
    all.extend(args);
    let (code, _, stderr) = memsoak_out(&all, out);
    (code, stderr)
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn a_real_prometheus_scrapes_two_runs_and_analyze_judges_each_series() {
    let test = "a_real_prometheus_scrapes_two_runs_and_analyze_judges_each_series";
    let tmp = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let Some(prom) = prometheus(
        test,
        tmp.path(),
        &[format!("127.0.0.1:{pa}"), format!("127.0.0.1:{pb}")],
    ) else {
        return;
    };
    let start = now_s() - 2.0;
    let (leak, flat) = std::thread::scope(|s| {
        let listen_a = format!("127.0.0.1:{pa}");
        let listen_b = format!("127.0.0.1:{pb}");
        let a = s.spawn(move || synthetic(true, 30, &["--metrics-listen", &listen_a]));
        let b = s.spawn(move || synthetic(false, 30, &["--metrics-listen", &listen_b]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(leak.code, 1, "{}", leak.stderr);
    assert_eq!(flat.code, 0, "{}", flat.stderr);
    let end = now_s() + 1.0;
    let url = format!("http://127.0.0.1:{}", prom.port);
    let out = tmp.path().join("prom-report");
    let (s, e) = (format!("{start:.0}"), format!("{end:.0}"));
    let (code, stderr) = analyze_prom(
        &url,
        &[
            "--query",
            r#"memsoak_rss_bytes{job="memsoak"}"#,
            "--start",
            &s,
            "--end",
            &e,
            "--step",
            "1s",
            "-t",
            "rss.slope<2MiB/min",
        ],
        &out,
    );
    assert_eq!(code, 1, "{stderr}");
    let r = report(&out);
    let series = r["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{r}");
    let verdict_of = |port: u16| -> Value {
        series
            .iter()
            .find(|s| s["labels"]["instance"] == format!("127.0.0.1:{port}"))
            .unwrap_or_else(|| panic!("no series of :{port} in {r}"))
            .clone()
    };
    let (a, b) = (verdict_of(pa), verdict_of(pb));
    assert_eq!(a["verdict"], "fail", "{a}");
    assert_eq!(b["verdict"], "pass", "{b}");
    assert!(a["points"].as_u64().unwrap() >= 15, "{a}");
    assert_eq!(a["labels"]["run_id"], "run");
    assert_eq!(a["labels"]["backend"], "synthetic");
    assert_eq!(r["verdict"], "fail");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("1 pass, 1 fail"), "{md}");

    // Bad input against the real server: one line, exit 2.
    let bad = |args: &[&str], want: &str| {
        let (code, err) = analyze_prom(&url, args, &tmp.path().join("bad"));
        usage_error(code, &err, want);
        assert!(
            !tmp.path().join("bad").exists(),
            "{args:?}: a report was written"
        );
    };
    bad(
        &["--query", "rate((", "--range", "5m"],
        "Prometheus refused it: bad_data",
    );
    bad(
        &["--query", "no_such_metric_at_all", "--range", "5m"],
        "no series",
    );
    bad(
        &["--query", "up", "--start", &e, "--end", &s],
        "--start must be before --end",
    );
    bad(&["--query", "up"], "--range");
    drop(prom);
    bad(&["--query", "up", "--range", "5m"], "cannot reach it");
}

/// A Prometheus API reply of `n` series × `points` at 15 s: flat noise,
/// but series 0 leaks 4 MiB a minute; series `n` has only 5 points; a few
/// points are NaN and a few steps are missing.
fn day_reply(n: usize, points: usize, t0: f64) -> String {
    let mut s = String::with_capacity(n * points * 28);
    s.push_str(r#"{"status":"success","data":{"resultType":"matrix","result":["#);
    let mut rng = 0x2545F4914F6CDD1Du64;
    for k in 0..=n {
        if k > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"metric":{{"__name__":"memsoak_rss_bytes","job":"fleet","pod":"pod-{k}"}},"values":["#
        ));
        let len = if k == n { 5 } else { points };
        let mut first = true;
        for i in 0..len {
            if k % 97 == 3 && i % 500 == 7 {
                continue; // a gap
            }
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let noise = (rng % 4_000_000) as f64;
            let leak = if k == 0 {
                i as f64 * 15.0 / 60.0 * 4.0 * 1_048_576.0
            } else {
                0.0
            };
            let v = if k % 101 == 5 && i == 10 {
                "NaN".to_string()
            } else {
                format!("{}", (300_000_000.0 + noise + leak) as u64)
            };
            if !first {
                s.push(',');
            }
            first = false;
            s.push_str(&format!(r#"[{},"{v}"]"#, t0 + i as f64 * 15.0));
        }
        s.push_str("]}");
    }
    s.push_str("]}}");
    s
}

/// A fixture server on loopback that answers every request with `body`
/// until dropped.
struct FixedReply {
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn fixed_reply(body: &str) -> FixedReply {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let body = body.to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(50)) {
                let _ = req.respond(tiny_http::Response::from_string(body.clone()));
            }
        }
    });
    FixedReply {
        url: format!("http://127.0.0.1:{port}"),
        stop,
        thread: Some(thread),
    }
}

impl Drop for FixedReply {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn analyze_prometheus_names_a_result_that_is_not_series() {
    // Regression: a scalar or a string result was a raw serde error
    // ("invalid type: integer `1700000000`, expected struct RawSeries").
    for kind in ["scalar", "string"] {
        let server = fixed_reply(&format!(
            r#"{{"status":"success","data":{{"resultType":"{kind}","result":[1700000000,"2"]}}}}"#
        ));
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let (code, stderr) = analyze_prom(&server.url, &["--query", "up", "--range", "1h"], &out);
        usage_error(
            code,
            &stderr,
            &format!("--query: Prometheus returned a {kind}, not a matrix (series over time)"),
        );
        assert!(!out.exists(), "nothing written");
    }
}

#[test]
fn analyze_prometheus_leaves_no_out_folder_when_every_series_is_skipped() {
    // Regression: the --out folder was made before the series were judged,
    // and left empty when none could be.
    let server = fixed_reply(
        r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"memsoak_rss_bytes"},"values":[[1700000000,"1"],[1700000015,"2"]]}]}}"#,
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (code, stderr) = analyze_prom(&server.url, &["--query", "up", "--range", "1h"], &out);
    usage_error(
        code,
        &stderr,
        "--query up: every series was skipped (memsoak_rss_bytes{}: 2 point(s), fewer than 10",
    );
    assert!(!out.exists(), "an empty --out folder was left behind");
}

#[test]
fn analyze_prometheus_reads_node_memory_as_sys_available_and_refuses_a_threshold_no_series_measures()
 {
    // node_exporter's MemAvailable falling 5 MiB/min: read as
    // `sys_available`, a floor on its fall fails. A threshold on a metric
    // no series measures was skipped in every series, and the gate passed
    // on nothing judged: now one line, exit 2, nothing written.
    let values: Vec<String> = (0..120)
        .map(|i| {
            let v = 8_000_000_000.0 - i as f64 * 15.0 * 5.0 * 1_048_576.0 / 60.0;
            format!("[{},\"{v}\"]", 1_700_000_000 + 15 * i)
        })
        .collect();
    let server = fixed_reply(&format!(
        r#"{{"status":"success","data":{{"resultType":"matrix","result":[
            {{"metric":{{"__name__":"node_memory_MemAvailable_bytes","instance":"a"}},"values":[{}]}}]}}}}"#,
        values.join(",")
    ));
    let tmp = tempfile::tempdir().unwrap();
    let q = ["--query", "node_memory_MemAvailable_bytes", "--range", "1h"];
    let out = tmp.path().join("floor");
    let floor = [&q[..], &["-t", "sys_available.slope>-2MiB/min"]].concat();
    let (code, stderr) = analyze_prom(&server.url, &floor, &out);
    assert_eq!(code, 1, "{stderr}");
    // Refused in one line, nothing written: a threshold no series
    // measures, and (with no -t) a series read as sys_available, which
    // has no default threshold and passed with nothing judged.
    for (name, extra, want) in [
        (
            "rss",
            &["-t", "rss.slope<2MiB/min"][..],
            "-t rss.slope<2MiB/min: no series of --query node_memory_MemAvailable_bytes measures rss (they are read as sys_available",
        ),
        (
            "none",
            &[][..],
            // Regression: suggested `sys_available.slope<2MiB/min`, an upper
            // limit on available memory, which is bad when it falls.
            "is read as sys_available, which has no default threshold: give -t (e.g. sys_available.slope>-2MiB/min)",
        ),
    ] {
        let out = tmp.path().join(name);
        let (code, stderr) = analyze_prom(&server.url, &[&q[..], extra].concat(), &out);
        usage_error(code, &stderr, want);
        assert!(!out.exists(), "{name}: nothing written");
    }
}

#[test]
fn summarize_and_baseline_save_read_a_prometheus_report_for_what_it_is() {
    // Regression: `summarize` of an `analyze --prometheus` folder gave a
    // FAIL row with nothing breached and no detail, and `baseline save`
    // blamed "too few samples after warm-up".
    let t0 = 1_700_000_000.0;
    let server = fixed_reply(&day_reply(2, 240, t0));
    let tmp = tempfile::tempdir().unwrap();
    let prom = tmp.path().join("prom");
    let (s, e) = (format!("{t0}"), format!("{}", t0 + 239.0 * 15.0));
    let q = ["--query", "memsoak_rss_bytes", "--start", &s, "--end", &e];
    let (code, stderr) = analyze_prom(&server.url, &q, &prom);
    drop(server);
    assert_eq!(code, 1, "{stderr}");
    let (code, stdout, stderr) = summarize(&[&prom], &tmp.path().join("sum"));
    assert_eq!(code, 1, "{stderr}");
    let leak = r#"memsoak_rss_bytes{job="fleet", pod="pod-0"}"#;
    assert!(
        stdout.contains("| `rss.slope<2MiB/min` (1 of 3 series failing) |"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("| {leak}: `rss` ")), "{stdout}");
    assert!(
        stdout.contains(&format!("series `{leak}`: `rss.slope<2MiB/min` measured ")),
        "{stdout}"
    );
    assert!(stdout.contains("pod-2\"}`: skipped: "), "{stdout}");
    let junit = std::fs::read_to_string(tmp.path().join("sum/junit.xml")).unwrap();
    assert!(junit.contains(r#"failures="1""#), "{junit}");
    let o = memsoak()
        .args(["baseline", "save"])
        .arg(&prom)
        .args(["--name", "p", "--baselines-dir"])
        .arg(tmp.path().join("baselines"))
        .output()
        .unwrap();
    usage_error(
        o.status.code().unwrap_or(-1),
        &String::from_utf8_lossy(&o.stderr),
        "prom: an `analyze --prometheus` report (3 series), not a run: it cannot be a baseline or be compared",
    );
}

#[test]
fn analyze_prometheus_judges_a_thousand_series_of_a_day_in_seconds() {
    const SERIES: usize = 1000;
    const POINTS: usize = 5760;
    let t0 = 1_700_000_000.0;
    let body = day_reply(SERIES, POINTS, t0);
    let server = fixed_reply(&body);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("day");
    let (s, e) = (
        format!("{t0}"),
        format!("{}", t0 + (POINTS - 1) as f64 * 15.0),
    );
    let began = Instant::now();
    // NOTE: reaped by wait4 below (for its rusage), not by Child::wait.
    #[allow(clippy::zombie_processes)]
    let mut child = memsoak()
        .args(["analyze", "--prometheus", &server.url, "-q"])
        .args(["--query", "memsoak_rss_bytes", "--start", &s, "--end", &e])
        .arg("--out")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let stderr_pipe = child.stderr.take().unwrap();
    let reader =
        std::thread::spawn(move || std::io::read_to_string(stderr_pipe).unwrap_or_default());
    // NOTE: wait4 gives the CPU time of this child alone (other tests run
    // children of this process at the same time).
    let (mut status, mut usage) = (0i32, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for the child spawned above, with valid out-pointers.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let wall = began.elapsed().as_secs_f64();
    let cpu = usage.ru_utime.tv_sec as f64
        + usage.ru_utime.tv_usec as f64 / 1e6
        + usage.ru_stime.tv_sec as f64
        + usage.ru_stime.tv_usec as f64 / 1e6;
    let code = libc::WEXITSTATUS(status);
    let stderr = reader.join().unwrap();
    drop(server);
    eprintln!(
        "analyze --prometheus: {SERIES} series × {POINTS} points ({} MB of JSON) in {wall:.2} s, {cpu:.2} s of CPU",
        body.len() / 1_000_000
    );
    assert_eq!(code, 1, "{stderr}");
    // The short series is skipped and named; the others judged.
    assert!(
        stderr.contains(&format!(
            r#"skipped memsoak_rss_bytes{{job="fleet", pod="pod-{SERIES}"}}"#
        )),
        "{stderr}"
    );
    let r = report(&out);
    let series = r["series"].as_array().unwrap();
    assert_eq!(series.len(), SERIES + 1);
    let failed: Vec<&str> = series
        .iter()
        .filter(|s| s["verdict"] == "fail")
        .map(|s| s["labels"]["pod"].as_str().unwrap())
        .collect();
    assert_eq!(failed, vec!["pod-0"], "only the leaking pod fails");
    let gappy = series
        .iter()
        .find(|s| s["labels"]["pod"] == "pod-3")
        .unwrap();
    assert!(gappy["gaps"].as_u64().unwrap() > 0, "{gappy}");
    let nan = series
        .iter()
        .find(|s| s["labels"]["pod"] == "pod-5")
        .unwrap();
    assert_eq!(nan["non_finite"], 1, "{nan}");
    // NOTE: the target, 10 s on the 2-core dev box, is met by the release
    // build (README "Fleets"); this test build runs memsoak at opt-level 1
    // (about 3x slower) on a box shared with other builds, so CPU time is
    // bounded, not the wall clock.
    assert!(cpu < 45.0, "{cpu} s of CPU");
}
