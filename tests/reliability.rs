//! Every way a soak can end, with real processes that misbehave on purpose
//! (`tests/fixtures/faults.py`): what memsoak exits with, what it leaves in
//! the run folder, and that no process of the target outlives it. Processes
//! are found independently of memsoak through an environment mark they all
//! inherit.

mod common;

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{fixture, marked_pids, memsoak, report, rows, serve_args, survivors};

/// A memsoak started in the background with its own mark and run folder.
struct Soak {
    child: Child,
    mark: String,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Soak {
    fn start(name: &str, args: &[&str], target: &[&str]) -> Soak {
        let mark = format!("{name}-{}", std::process::id());
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let child = memsoak()
            .env("MEMSOAK_TEST_MARK", &mark)
            .args(args)
            .arg("--out")
            .arg(&dir)
            .arg("--")
            .args(target)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Soak {
            child,
            mark,
            dir,
            _tmp: tmp,
        }
    }

    /// Wait until at least `n` marked processes run besides memsoak.
    fn wait_for_tree(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while marked_pids(&self.mark).len() < n + 1 {
            assert!(Instant::now() < deadline, "the target tree never started");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until at least `n` marked processes ignore SIGTERM: a
    /// `stubborn` tree is deaf only once python has got that far, which a
    /// busy box can delay by seconds.
    fn wait_for_deaf_tree(&self, n: usize) {
        let deaf = |pid: &u32| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            status
                .lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
                .is_some_and(|m| m & (1 << (libc::SIGTERM - 1)) != 0)
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while marked_pids(&self.mark).iter().filter(|p| deaf(p)).count() < n {
            assert!(Instant::now() < deadline, "the tree never ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Send `sig` and wait: memsoak must exit `code` within the budget of
    /// the README's 2 s ([`common::Interrupted::assert_within_budget`]).
    /// The fault line goes to the test's output; returns memsoak's stderr.
    fn interrupt(&mut self, sig: i32, code: i32, what: &str) -> String {
        let got = common::interrupt(&mut self.child, sig, &self.dir);
        eprintln!("fault: {what}: {got}");
        assert_eq!(got.code, code, "{}", got.stderr);
        got.assert_within_budget(what);
        got.stderr
    }

    /// Wait for memsoak to exit: its exit code (-1 for a signal) and stderr.
    fn wait(&mut self) -> (i32, String) {
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut err).unwrap();
        }
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), err)
    }
}

/// The report and summary of a run interrupted by memsoak's own signal say
/// that memsoak stopped the target on the interrupt (SIGTERM, or SIGKILL
/// after the grace), never "killed by SIGTERM" as if from outside.
fn assert_stopped_by_memsoak_on_interrupt(dir: &std::path::Path) {
    let r = report(dir);
    let status = &r["target"]["status"];
    assert_eq!(status["by_memsoak"], true, "{r}");
    let name = status["name"].as_str().unwrap();
    assert!(matches!(name, "SIGTERM" | "SIGKILL"), "{r}");
    let summary = common::summary(dir);
    assert!(
        summary.contains(&format!(
            "(stopped by memsoak ({name}) when memsoak was interrupted)"
        )),
        "{summary}"
    );
    assert!(!summary.contains("killed by"), "{summary}");
}

fn watch_args<'a>(duration: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "watch",
        "--duration",
        duration,
        "--sample-every",
        "200ms",
        "-q",
    ];
    v.extend_from_slice(extra);
    v
}

// ---- no orphans, in every ending of `watch` ----

#[test]
fn duration_end_kills_a_tree_that_ignores_sigterm() {
    let faults = fixture("faults.py");
    let mut s = Soak::start(
        "duration",
        // NOTE: 10 s, for the tree to be deaf to SIGTERM before the end
        // on a busy box; it counts stopping a tree, no leak verdict.
        &watch_args("10s", &["--grace", "500ms", "-t", "rss.max<1TiB"]),
        &["python3", &faults, "stubborn", "--children", "2"],
    );
    let (code, err) = s.wait();
    assert_eq!(code, 0, "{err}");
    let r = report(&s.dir);
    assert_eq!(r["ended_by"], "duration");
    assert_eq!(r["target"]["stop"]["killed"], true, "SIGTERM was ignored");
    assert_eq!(r["target"]["stop"]["processes"], 3);
    assert_eq!(survivors(&s.mark, 2), Vec::<u32>::new());
}

#[test]
fn fail_fast_end_leaves_no_process_behind() {
    let faults = fixture("faults.py");
    let mut s = Soak::start(
        "failfast",
        &watch_args(
            "2m",
            &["--fail-fast", "-t", "rss.slope<2MiB/min", "--grace", "1s"],
        ),
        &["python3", &faults, "leak-family", "--children", "2"],
    );
    let (code, err) = s.wait();
    assert_eq!(code, 1, "{err}");
    let r = report(&s.dir);
    assert_eq!(r["ended_by"], "fail_fast");
    assert!(r["analysis"]["duration_s"].as_f64().unwrap() < 60.0);
    assert_eq!(survivors(&s.mark, 2), Vec::<u32>::new());
}

#[test]
fn crash_of_the_root_is_exit_3_and_its_children_are_stopped() {
    let faults = fixture("faults.py");
    let mut s = Soak::start(
        "crash",
        &watch_args("1m", &[]),
        &[
            "python3",
            &faults,
            "crash-family",
            "--after",
            "2",
            "--children",
            "3",
        ],
    );
    s.wait_for_tree(4);
    let (code, err) = s.wait();
    assert_eq!(code, 3, "{err}");
    let r = report(&s.dir);
    assert_eq!(r["verdict"], "error");
    assert_eq!(r["target"]["status"]["code"], 7);
    assert!(
        r["target"]["stderr_tail"]
            .as_str()
            .unwrap()
            .contains("exiting 7"),
        "{r}"
    );
    // NOTE: the root is gone; its orphans are still in its process group.
    assert_eq!(survivors(&s.mark, 2), Vec::<u32>::new());
}

#[test]
fn sigint_during_watch_of_a_stubborn_tree_reports_within_2s() {
    // The tree ignores SIGTERM and --grace is 5 s: an interrupt must not
    // wait that long (it cuts the grace to 0.5 s), and must still leave the
    // whole report behind.
    let faults = fixture("faults.py");
    let mut s = Soak::start(
        "sigint-watch",
        &watch_args("5m", &["--grace", "5s"]),
        &["python3", &faults, "stubborn", "--children", "2"],
    );
    s.wait_for_deaf_tree(3);
    std::thread::sleep(Duration::from_secs(2));
    s.interrupt(libc::SIGINT, 130, "SIGINT, watch of a SIGTERM-deaf tree");
    let r = report(&s.dir);
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["exit_code"], 130);
    assert_eq!(r["target"]["stop"]["killed"], true);
    assert_stopped_by_memsoak_on_interrupt(&s.dir);
    for f in [
        "summary.md",
        "junit.xml",
        "report.html",
        "chart-rss.svg",
        "chart-rss.png",
    ] {
        assert!(s.dir.join(f).is_file(), "{f} missing after SIGINT");
    }
    assert_eq!(survivors(&s.mark, 2), Vec::<u32>::new());
}

#[test]
fn sighup_is_an_interrupt_too() {
    // An ssh session that drops sends SIGHUP: same as SIGINT, exit 129.
    let faults = fixture("faults.py");
    let mut s = Soak::start(
        "sighup",
        &watch_args("5m", &[]),
        &["python3", &faults, "stubborn", "--children", "1"],
    );
    s.wait_for_deaf_tree(2);
    std::thread::sleep(Duration::from_secs(1));
    s.interrupt(libc::SIGHUP, 129, "SIGHUP during watch");
    assert_eq!(report(&s.dir)["interrupted"], true);
    assert_eq!(survivors(&s.mark, 2), Vec::<u32>::new());
}

#[test]
fn zombies_of_a_double_forking_target_do_not_pile_up() {
    // Each orphaned grandchild is re-parented to memsoak (a subreaper) and
    // becomes its zombie when it exits: 20 a second here. Reaped about once
    // a second, they never number more than a couple of seconds' worth.
    let faults = fixture("faults.py");
    let mut s = Soak::start(
        "zombies",
        &watch_args("8s", &[]),
        &["python3", &faults, "double-fork"],
    );
    let me = s.child.id();
    let mut worst = 0;
    let until = Instant::now() + Duration::from_secs(7);
    while Instant::now() < until {
        let zombies = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let f = common::stat_fields(*pid);
                f.len() > 1 && f[0] == "Z" && f[1].parse::<u32>().ok() == Some(me)
            })
            .count();
        worst = worst.max(zombies);
        std::thread::sleep(Duration::from_millis(250));
    }
    let (code, err) = s.wait();
    eprintln!("fault: double-forking target, 20 orphans/s: at most {worst} zombies at once");
    assert_eq!(code, 0, "{err}");
    assert!(worst <= 60, "{worst} zombies of memsoak at once");
    assert_eq!(survivors(&s.mark, 2), Vec::<u32>::new());
}

// ---- run: interrupts and output limits ----

/// Interrupt a `run` of the synthetic backend with `sig` once it has 20
/// samples (`twice`: two at once, as GNU `timeout` sends it to the process
/// and then its group): it must exit `code` within the budget of the
/// README's 2 s, with report, summary and charts written.
fn interrupt_a_run(sig: i32, code: i32, twice: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut child = memsoak()
        .args([
            "run",
            "--backend",
            "synthetic",
            "--duration",
            "5m",
            "--sample-every",
            "100ms",
            "-q",
            "--out",
        ])
        .arg(&dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // 20 rows or more, however slowly the box lets them come.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(dir.join("samples.csv")).map_or(0, |t| t.lines().count()) <= 20 {
        assert!(Instant::now() < deadline, "fewer than 20 rows in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    if twice {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(child.id() as i32, sig);
        }
    }
    let got = common::interrupt(&mut child, sig, &dir);
    eprintln!("fault: signal {sig} during run: {got}");
    assert_eq!(got.code, code, "{}", got.stderr);
    got.assert_within_budget(&format!("signal {sig} during run"));
    let r = report(&dir);
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["exit_code"], code);
    assert!(rows(&dir) >= 20);
    assert!(dir.join("summary.md").is_file() && dir.join("chart-heap.png").is_file());
    // The headline is no green pass beside an exit code of 130: whatever
    // the samples so far say, it says the run was cut short.
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    let verdict = r["verdict"].as_str().unwrap().to_uppercase();
    assert!(
        summary.starts_with(&format!("## memsoak: ⚠️ INTERRUPTED, {verdict} so far")),
        "{summary}"
    );
}

#[test]
fn sigint_while_the_last_batch_finishes_is_an_interrupt() {
    // --duration 2s, but a batch takes 16 s (4 texts at 4 s each): the run
    // waits for it once sampling stopped. A SIGINT then was ignored, and
    // the run exited 0 a batch later, "interrupted": false.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut child = memsoak()
        .args([
            "run",
            "--backend",
            "synthetic",
            "--cost",
            "4s",
            "--page-size",
            "4",
        ])
        .args(["--duration", "2s", "--sample-every", "100ms", "-q", "--out"])
        .arg(&dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Sampling has stopped once no row came for a second.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut seen, mut still_since) = (0, Instant::now());
    loop {
        let n = std::fs::read_to_string(dir.join("samples.csv")).map_or(0, |t| t.lines().count());
        if n != seen {
            (seen, still_since) = (n, Instant::now());
        } else if n >= 10 && still_since.elapsed() > Duration::from_secs(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sampling never stopped ({n} rows)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = common::interrupt(&mut child, libc::SIGINT, &dir);
    eprintln!("fault: SIGINT while the last batch finishes: {got}");
    assert_eq!(got.code, 130, "{}", got.stderr);
    assert!(got.took < Duration::from_secs(5), "{got}");
    let r = report(&dir);
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["ended_by"], "interrupted");
}

#[test]
fn sigint_during_run_writes_the_report_and_exits_130() {
    interrupt_a_run(libc::SIGINT, 130, false);
}

#[test]
fn sigterm_during_run_writes_the_report_and_exits_143() {
    interrupt_a_run(libc::SIGTERM, 143, false);
}

#[test]
fn sigterm_sent_twice_at_once_still_writes_the_report() {
    // `timeout 2 memsoak run ...` lost its report in 3 of 22 tries while
    // any repeat exited at once.
    interrupt_a_run(libc::SIGTERM, 143, true);
}

#[test]
fn a_file_size_limit_mid_run_stops_cleanly_with_exit_2() {
    // The disk filling up, without root: `ulimit -f` makes every write past
    // 64 KiB fail. memsoak ignores SIGXFSZ, so the write fails with EFBIG
    // and memsoak stops with the reason instead of being killed silently.
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut cmd = memsoak();
    cmd.args([
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
    .arg(&dir);
    // SAFETY: setrlimit only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64 * 1024,
                rlim_max: 64 * 1024,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            Ok(())
        });
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("writing samples.csv"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60));
    // Every row written before the limit is intact and analysable.
    let a = memsoak().arg("analyze").arg(&dir).output().unwrap();
    assert!(
        matches!(a.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&a.stderr)
    );
}

#[test]
fn memsoak_killed_during_a_command_run_leaves_no_worker() {
    let worker = fixture("worker.py");
    let mut s = Soak::start(
        "sigkill-run",
        &[
            "run",
            "--backend",
            "command",
            "--duration",
            "5m",
            "--sample-every",
            "200ms",
            "-q",
        ],
        &["python3", &worker, "ok"],
    );
    s.wait_for_tree(1);
    std::thread::sleep(Duration::from_secs(1));
    s.signal(libc::SIGKILL);
    let (code, _) = s.wait();
    assert_eq!(code, -1, "killed by a signal");
    assert_eq!(survivors(&s.mark, 5), Vec::<u32>::new());
}

#[test]
fn sigint_during_a_run_with_a_hung_worker_reports_within_2s() {
    // The worker stops answering; its request would block until --timeout
    // (60 s). An interrupt stops the worker's group instead of waiting.
    let worker = fixture("worker.py");
    let mut s = Soak::start(
        "sigint-hung",
        &[
            "run",
            "--backend",
            "command",
            "--timeout",
            "60s",
            "--duration",
            "5m",
            "--sample-every",
            "200ms",
            "-q",
        ],
        &["python3", &worker, "hang", "--after", "3"],
    );
    s.wait_for_tree(1);
    std::thread::sleep(Duration::from_secs(3));
    s.interrupt(libc::SIGINT, 130, "SIGINT, run with a hung worker");
    let r = report(&s.dir);
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["ended_by"], "interrupted");
    assert_stopped_by_memsoak_on_interrupt(&s.dir);
    assert_eq!(survivors(&s.mark, 2), Vec::<u32>::new());
}

#[test]
fn sigint_during_a_run_with_a_served_server_says_memsoak_stopped_it() {
    // Regression: on an interrupt `run` signalled its worker's or server's
    // group itself, outside Target::stop_tree, and the report said the
    // server was "killed by SIGTERM (signal 15)", like a crash. A request
    // of 1 s is in flight when the interrupt comes: the request thread that
    // sees the server gone reaps it, which told the signal as one from
    // outside every time (without one, 3 times in 4).
    let server = fixture("embed_server.py");
    let port = common::free_port().to_string();
    let url = format!("http://127.0.0.1:{port}");
    let mut s = Soak::start(
        "sigint-served",
        &serve_args(&url, &["--duration", "5m", "--sample-every", "200ms"]),
        &["python3", &server, "--port", &port, "--delay-ms", "1000"],
    );
    // Soaking: the server answers and samples are being written.
    let deadline = Instant::now() + Duration::from_secs(30);
    let sampled = |d: &std::path::Path| {
        std::fs::read_to_string(d.join("samples.csv")).map_or(0, |t| t.lines().count())
    };
    while sampled(&s.dir) <= 5 {
        assert!(Instant::now() < deadline, "the soak never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    s.interrupt(libc::SIGINT, 130, "SIGINT, run with a served server");
    let r = report(&s.dir);
    assert_eq!(r["ended_by"], "interrupted");
    assert_stopped_by_memsoak_on_interrupt(&s.dir);
    assert_eq!(r["target"]["stop"]["processes"], 1, "{r}");
    assert_eq!(survivors(&s.mark, 2), Vec::<u32>::new());
}

#[test]
fn sigint_while_waiting_for_a_served_server_exits_130_and_stops_it() {
    // The server never listens and, with its child, ignores SIGTERM;
    // --ready-timeout would wait a minute. An interrupt ends the wait and
    // stops the server's tree (SIGKILL after 0.5 s).
    let faults = fixture("faults.py");
    let port = common::free_port().to_string();
    let url = format!("http://127.0.0.1:{port}");
    let mut s = Soak::start(
        "sigint-ready",
        &serve_args(&url, &[]),
        &["python3", &faults, "stubborn", "--children", "1"],
    );
    // NOTE: three besides memsoak: the watchdog, the server and its child,
    // forked after the server ignores SIGTERM, so both are deaf to it then.
    s.wait_for_tree(3);
    let err = s.interrupt(
        libc::SIGINT,
        130,
        "SIGINT while waiting for a served server",
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("interrupted while waiting for the server to accept connections"),
        "{err}"
    );
    assert_eq!(survivors(&s.mark, 2), Vec::<u32>::new());
}
