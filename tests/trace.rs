//! Recorded workloads end to end: record real traffic through `memsoak
//! record` in front of a loopback embedding server, then replay the trace
//! against the http backend and the candle backend, checking texts, batch
//! boundaries and pacing against what was sent. Also: redaction leaves no
//! text behind, imports, bad input, definitions, and SIGINT during a paced
//! wait.
//!
//! The candle tests need the model (`bash ci/fetch-model.sh`); without it
//! they fail, saying so, like tests/candle.rs.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::{free_port, memsoak, one_at_a_time, repo};
use memsoak::trace::{Batch, TraceReader, redact::shape_of};
use memsoak::workload::trace::{Pace, ReplayStats, TraceWorkload};
use memsoak::workload::{Cancel, Workload};
use serde_json::Value;

const TOKEN: &str = "s3cret-token-do-not-record";

/// Timing tolerance of one replayed request against its recorded offset.
/// The box is a loaded 2-core machine: generous, yet an unpaced replay
/// (everything at once) or a replay at the wrong speed is far outside it.
const TOLERANCE_S: f64 = 0.35;

/// A child killed (and reaped) on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16) {
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "port {port} never opened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The loopback embedding server (tests/fixtures/embed_server.py), logging
/// each request's texts and arrival time to `log`.
fn server(port: u16, log: &Path, token: bool) -> Guard {
    let mut c = Command::new("python3");
    c.arg(repo("tests/fixtures/embed_server.py"))
        .args(["--port", &port.to_string(), "--log"])
        .arg(log)
        .stderr(Stdio::null());
    if token {
        c.args(["--require-token-env", "EMBED_TOKEN"])
            .env("EMBED_TOKEN", TOKEN);
    }
    let g = Guard(c.spawn().expect("python3 runs the fixture server"));
    wait_port(port);
    g
}

/// `memsoak record` as a proxy on a port it picks; returns it and its URL.
fn proxy(upstream: u16, out: &Path, redact: bool) -> (Guard, String) {
    let mut c = memsoak();
    c.args(["record", "--listen", "127.0.0.1:0", "--upstream"])
        .arg(format!("http://127.0.0.1:{upstream}"))
        .arg("--out")
        .arg(out)
        .stderr(Stdio::piped());
    if redact {
        c.arg("--redact");
    }
    let mut child = c.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    // Keep draining stderr so the proxy never blocks on a full pipe.
    std::thread::spawn(move || for _ in err.lines() {});
    (Guard(child), format!("http://{addr}"))
}

/// Stop a proxy as a user does (SIGINT) and check it exits 0.
fn stop(mut g: Guard) {
    unsafe { libc::kill(g.0.id() as i32, libc::SIGINT) };
    let t0 = Instant::now();
    loop {
        if let Some(st) = g.0.try_wait().unwrap() {
            assert_eq!(st.code(), Some(0), "record exit");
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "proxy did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The traffic sent through the proxy: (offset s, endpoint, texts).
fn schedule() -> Vec<(f64, &'static str, Vec<String>)> {
    let corpus: Vec<String> = std::fs::read_to_string(repo("workloads/multilingual.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    // Bursts and gaps; batch sizes 1 to 7.
    let gaps = [0.0, 0.2, 0.05, 0.6, 0.1, 0.1, 0.9, 0.3, 0.05, 0.5, 0.2, 0.7];
    let mut t = 0.0;
    let mut k = 0;
    gaps.iter()
        .enumerate()
        .map(|(i, g)| {
            t += g;
            let n = 1 + (i * 5) % 7;
            let texts = (0..n)
                .map(|j| {
                    k += 1;
                    format!("{} #{k}.{j}", corpus[k % corpus.len()])
                })
                .collect();
            (
                t,
                if i % 2 == 0 {
                    "/v1/embeddings"
                } else {
                    "/embed"
                },
                texts,
            )
        })
        .collect()
}

fn send(base: &str, endpoint: &str, texts: &[String]) {
    let body = if endpoint == "/embed" {
        serde_json::json!({ "inputs": texts })
    } else {
        serde_json::json!({ "input": texts, "model": "test-model" })
    };
    let resp = ureq::post(format!("{base}{endpoint}"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send_json(&body)
        .expect("the proxy answers");
    assert_eq!(resp.status().as_u16(), 200, "{endpoint}");
}

/// Drive the schedule through a proxy at `base`; returns the actual send
/// offsets (relative to the first send).
fn drive(base: &str, plan: &[(f64, &str, Vec<String>)]) -> Vec<f64> {
    let t0 = Instant::now();
    plan.iter()
        .map(|(t, endpoint, texts)| {
            let due = t0 + Duration::from_secs_f64(*t);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
            let at = t0.elapsed().as_secs_f64();
            send(base, endpoint, texts);
            at
        })
        .collect()
}

struct Recorded {
    _dir: tempfile::TempDir,
    trace: PathBuf,
    plan: Vec<(f64, &'static str, Vec<String>)>,
    sent_at: Vec<f64>,
    upstream_log: PathBuf,
}

/// One recording session shared by the tests (it takes a few seconds).
fn recorded() -> &'static Recorded {
    static R: OnceLock<Recorded> = OnceLock::new();
    R.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("upstream.log");
        let _srv = server(port, &log, true);
        let trace = dir.path().join("trace.jsonl");
        let (p, base) = proxy(port, &trace, false);
        let plan = schedule();
        let sent_at = drive(&base, &plan);
        stop(p);
        Recorded {
            trace,
            plan,
            sent_at,
            upstream_log: log,
            _dir: dir,
        }
    })
}

fn read_trace(p: &Path) -> Vec<(f64, Batch, Option<String>, Option<String>)> {
    let mut r = TraceReader::open(p, false).unwrap();
    let mut v = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        v.push((rec.t, rec.batch, rec.endpoint, rec.model));
    }
    v
}

/// One request as the fixture server logged it.
struct Arrival {
    /// When the server began handling it (epoch seconds).
    start: f64,
    /// When it had its answer ready (epoch seconds).
    done: f64,
    /// Its texts.
    texts: Vec<String>,
}

/// Every request, in order, from the fixture server's log.
fn server_log(p: &Path) -> Vec<Arrival> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let texts = v["texts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            Arrival {
                start: v["start"].as_f64().unwrap(),
                done: v["t"].as_f64().unwrap(),
                texts,
            }
        })
        .collect()
}

/// Check a replay against the trace: same batches, same texts, in order,
/// and paced: no request before its offset (scaled by `speed`), and none
/// later than its offset or the end of the request before it (a replay
/// sends one request at a time), plus the tolerance.
///
/// The replay's start is not visible to the server; it is read from the
/// requests that waited for their time (those that arrived after the one
/// before them had its answer): each was sent when due, so all of them
/// must agree on one start. How late the box made a request (a slow first
/// answer, a busy scheduler) then counts against that request only, never
/// against the pacing. An unpaced replay has no request that waited, and
/// one at the wrong speed has waiting requests that disagree.
fn assert_replay_matches(replayed: &[Arrival], speed: f64) {
    let r = recorded();
    assert_eq!(replayed.len(), r.plan.len(), "one request per record");
    for (i, (a, (_, _, sent))) in replayed.iter().zip(&r.plan).enumerate() {
        assert_eq!(&a.texts, sent, "record {i}: texts and batch boundary");
    }
    let due: Vec<f64> = r
        .sent_at
        .iter()
        .map(|s| (s - r.sent_at[0]) / speed)
        .collect();
    let waited: Vec<usize> = (1..replayed.len())
        .filter(|&i| replayed[i].start > replayed[i - 1].done + 0.02)
        .collect();
    let starts: Vec<f64> = waited.iter().map(|&i| replayed[i].start - due[i]).collect();
    let table = || {
        replayed
            .iter()
            .zip(&due)
            .map(|(a, d)| {
                format!(
                    "start {:.3} done {:.3} due {d:.3}",
                    a.start - replayed[0].start,
                    a.done - replayed[0].start
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        starts.len() * 2 >= replayed.len() - 1,
        "most requests must wait for their time, {} of {} did (speed {speed}):\n{}",
        starts.len(),
        replayed.len() - 1,
        table()
    );
    let first = starts.iter().copied().fold(f64::INFINITY, f64::min);
    let last = starts.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!(
        last - first <= TOLERANCE_S,
        "the requests that waited disagree on the replay's start by {:.3} s (speed {speed}):\n{}",
        last - first,
        table()
    );
    for (i, a) in replayed.iter().enumerate() {
        let on_time = first + due[i];
        assert!(
            a.start >= on_time - TOLERANCE_S,
            "record {i}: {:.3} s early (speed {speed}):\n{}",
            on_time - a.start,
            table()
        );
        let free = if i == 0 {
            a.start
        } else {
            replayed[i - 1].done
        };
        assert!(
            a.start <= on_time.max(free) + TOLERANCE_S,
            "record {i}: {:.3} s late with the server free (speed {speed}):\n{}",
            a.start - on_time.max(free),
            table()
        );
    }
}

#[test]
fn proxy_records_every_request_as_sent_and_never_the_token() {
    let _serial = one_at_a_time();
    let r = recorded();
    let recs = read_trace(&r.trace);
    assert_eq!(recs.len(), r.plan.len());
    for (i, ((t, batch, endpoint, model), (_, ep, texts))) in recs.iter().zip(&r.plan).enumerate() {
        assert_eq!(batch, &Batch::Texts(texts.clone()), "record {i}");
        assert_eq!(endpoint.as_deref(), Some(*ep));
        assert_eq!(model.is_some(), *ep == "/v1/embeddings");
        let want = r.sent_at[i] - r.sent_at[0];
        assert!((t - want).abs() < 0.1, "record {i}: t {t} vs sent {want}");
    }
    // Forwarded untouched: the upstream server (which demands the token)
    // saw every request, with the same texts.
    let up = server_log(&r.upstream_log);
    assert_eq!(
        up.iter().map(|u| u.texts.clone()).collect::<Vec<_>>(),
        r.plan.iter().map(|p| p.2.clone()).collect::<Vec<_>>()
    );
    let raw = std::fs::read_to_string(&r.trace).unwrap();
    assert!(!raw.contains(TOKEN) && !raw.to_lowercase().contains("authorization"));
    let header: Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert_eq!(header["memsoak_trace"], 1);
    assert_eq!(header["source"], "proxy");
}

/// Replay through `memsoak run --backend http --serve` against a fresh
/// fixture server; returns what that server saw and the report.
fn replay_http(pace: &str) -> (Vec<Arrival>, Value) {
    let r = recorded();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let log = dir.path().join("replay.log");
    let out = memsoak()
        .args(["run", "--backend", "http", "--api", "tei", "--serve", "-q"])
        // NOTE: this test times the replay; a short replay is no leak verdict.
        .args(["--threshold", "rss.max<1TiB"])
        .args(["--url", &format!("http://127.0.0.1:{port}")])
        .args([
            "--duration",
            "60s",
            "--sample-every",
            "100ms",
            "--pace",
            pace,
        ])
        .arg("--workload")
        .arg(&r.trace)
        .arg("--out")
        .arg(dir.path().join("run"))
        .args(["--", "python3"])
        .arg(repo("tests/fixtures/embed_server.py"))
        .args(["--port", &port, "--log"])
        .arg(&log)
        .output()
        .unwrap();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/report.json")).unwrap())
            .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (server_log(&log), report)
}

#[test]
fn replay_against_http_keeps_texts_batches_and_pacing() {
    let _serial = one_at_a_time();
    let (seen, report) = replay_http("original");
    assert_replay_matches(&seen, 1.0);
    let texts: usize = recorded().plan.iter().map(|p| p.2.len()).sum();
    assert_eq!(report["ended_by"], "workload_exhausted");
    assert_eq!(report["analysis"]["items"], texts as u64);
    assert_eq!(report["replay"]["records"], recorded().plan.len() as u64);
    assert_eq!(report["replay"]["texts"], texts as u64);
    assert_eq!(report["replay"]["pace"], "original");
    // The replay's own count of how late it ran matches what the server
    // saw: on a quiet box both are near 0, on a loaded one both show the
    // late requests.
    let due = |i: usize| recorded().sent_at[i] - recorded().sent_at[0];
    let first = (0..seen.len())
        .map(|i| seen[i].start - due(i))
        .fold(f64::INFINITY, f64::min);
    let late_max = (0..seen.len())
        .map(|i| seen[i].start - first - due(i))
        .fold(0.0, f64::max);
    let behind = report["replay"]["behind_max_s"].as_f64().unwrap();
    assert!(
        (0.0..=late_max + TOLERANCE_S).contains(&behind),
        "the replay says {behind:.3} s behind at worst, the server saw {late_max:.3} s"
    );
}

#[test]
fn replay_at_x2_takes_half_the_time_and_fast_takes_none() {
    let _serial = one_at_a_time();
    let (seen, _) = replay_http("x2");
    assert_replay_matches(&seen, 2.0);
    let (seen, _) = replay_http("fast");
    // The pacing check itself refuses an unpaced replay.
    let unpaced = std::panic::catch_unwind(|| assert_replay_matches(&seen, 1.0));
    assert!(
        unpaced.is_err(),
        "an unpaced replay passed the pacing check"
    );
    let span = seen.last().unwrap().start - seen[0].start;
    let recorded_span = recorded().sent_at.last().unwrap() - recorded().sent_at[0];
    assert_eq!(seen.len(), recorded().plan.len());
    assert!(
        span < recorded_span / 3.0,
        "fast replay took {span:.2} s of {recorded_span:.2} s"
    );
}

/// Replay through the real model: built with the candle feature (the
/// default); `--no-default-features` builds the rest of this file.
#[cfg(feature = "candle")]
mod candle_replay {
    use super::*;
    use memsoak::backend::{BackendError, BackendInfo, Embedded, Embedder};
    use memsoak::soak::pipeline::{Pipeline, PipelineEnd};
    use std::sync::Mutex;

    /// Each embed call: when it started, when it ended, its texts.
    type CallLog = Arc<Mutex<Vec<(Instant, Instant, Vec<String>)>>>;

    /// An embedder that logs each call in front of another.
    struct Spy<E> {
        inner: E,
        log: CallLog,
    }

    impl<E: Embedder> Embedder for Spy<E> {
        fn info(&self) -> BackendInfo {
            self.inner.info()
        }
        fn embed(&mut self, texts: &[String]) -> Result<Embedded, BackendError> {
            let start = Instant::now();
            let out = self.inner.embed(texts);
            self.log
                .lock()
                .unwrap()
                .push((start, Instant::now(), texts.to_vec()));
            out
        }
    }

    fn candle() -> memsoak::backend::candle::CandleEmbedder {
        use memsoak::backend::candle::{CandleEmbedder, CandleOptions, resolve_model_dir};
        let dir = resolve_model_dir(None).unwrap_or_else(|e| {
            panic!("the candle replay test needs the model: {e} (CI runs ci/fetch-model.sh first)")
        });
        CandleEmbedder::load(&CandleOptions {
            model_dir: Some(dir),
            ..CandleOptions::default()
        })
        .unwrap_or_else(|e| panic!("loading the model failed: {e}"))
    }

    #[test]
    fn replay_against_candle_keeps_texts_batches_and_pacing() {
        let _serial = one_at_a_time();
        let r = recorded();
        let mut warm = candle();
        // NOTE: the first call pays one-off setup; keep it out of the timing.
        warm.embed(&["warm up".to_string()]).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let spy = Spy {
            inner: warm,
            log: log.clone(),
        };
        let stats = Arc::new(ReplayStats::default());
        let w = TraceWorkload::open(
            &r.trace,
            Pace::Original,
            false,
            Cancel::default(),
            stats.clone(),
        )
        .unwrap();
        let p = Pipeline::start(
            Box::new(w),
            Box::new(spy),
            Box::new(memsoak::soak::npy::Discard),
            2,
            0,
        );
        let t0 = Instant::now();
        while p.state() == PipelineEnd::Running {
            assert!(t0.elapsed() < Duration::from_secs(60), "replay never ended");
            std::thread::sleep(Duration::from_millis(20));
        }
        let (end, items, _) = p.join();
        let texts: usize = r.plan.iter().map(|p| p.2.len()).sum();
        assert_eq!((end, items), (PipelineEnd::Exhausted, texts as u64));
        let calls = log.lock().unwrap();
        assert_eq!(calls.len(), r.plan.len(), "one call per record");
        let first = calls[0].0;
        let at = |t: Instant| t.duration_since(first).as_secs_f64();
        for (i, ((start, _, texts), (_, _, sent))) in calls.iter().zip(&r.plan).enumerate() {
            assert_eq!(texts, sent, "record {i}: texts and batch boundary");
            // In process, candle may still be busy with the previous batch when
            // a record is due: then it starts the moment candle is free.
            let due = r.sent_at[i] - r.sent_at[0];
            let free = if i == 0 { 0.0 } else { at(calls[i - 1].1) };
            let got = at(*start);
            assert!(
                got >= due - 0.06 && got <= due.max(free) + TOLERANCE_S,
                "record {i}: started at {got:.3} s, due at {due:.3} s, candle free at {free:.3} s"
            );
        }
        assert_eq!(stats.texts(), texts as u64);
    }

    #[test]
    fn replay_through_the_cli_with_candle_counts_and_stores_every_text() {
        let _serial = one_at_a_time();
        let r = recorded();
        candle(); // fail loudly here when the model is missing
        let dir = tempfile::tempdir().unwrap();
        let npy = dir.path().join("v.npy");
        let out = memsoak()
            .args(["run", "--backend", "candle", "-q", "--pace", "x4"])
            // NOTE: this test counts texts; a one-second run is no leak verdict.
            .args(["--threshold", "rss.max<1TiB"])
            .args(["--duration", "60s", "--sample-every", "100ms"])
            .arg("--workload")
            .arg(&r.trace)
            .arg("--write-embeddings")
            .arg(&npy)
            .arg("--out")
            .arg(dir.path().join("run"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let texts: u64 = r.plan.iter().map(|p| p.2.len() as u64).sum();
        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("run/report.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(report["analysis"]["items"], texts);
        assert_eq!(report["replay"]["records"], r.plan.len() as u64);
        // The .npy header names the shape: one 384-wide row per replayed text.
        let head = std::fs::read(&npy).unwrap();
        let head = String::from_utf8_lossy(&head[..128]);
        assert!(head.contains(&format!("({texts}, 384)")), "{head}");
    }
}

#[test]
fn a_redacted_trace_holds_none_of_the_text_and_replays_its_shapes() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _srv = server(port, &dir.path().join("up.log"), true);
    let trace = dir.path().join("redacted.jsonl");
    let (p, base) = proxy(port, &trace, true);
    let texts: Vec<String> = vec![
        "Quokkas photobomb zanzibar tourists".into(),
        "Конфиденциальный отчёт о зарплатах".into(),
        "机密的客户名单".into(),
        "patient diagnosis: xerophthalmia".into(),
    ];
    send(&base, "/v1/embeddings", &texts[..2]);
    send(&base, "/embed", &texts[2..]);
    stop(p);
    let raw = std::fs::read_to_string(&trace).unwrap();
    assert!(!raw.contains(TOKEN));
    for t in &texts {
        for word in t
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 3)
        {
            assert!(!raw.contains(word), "`{word}` leaked into {raw}");
        }
        for ch in t.chars().filter(|c| !c.is_ascii()) {
            assert!(!raw.contains(ch), "`{ch}` leaked into {raw}");
        }
    }
    let header: Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert_eq!(header["redacted"], true);
    // Replay regenerates new texts of the same shapes, batch by batch.
    let mut w = TraceWorkload::open(
        &trace,
        Pace::Fast,
        false,
        Cancel::default(),
        Arc::new(ReplayStats::default()),
    )
    .unwrap();
    let a = w.next_page().unwrap().unwrap().texts;
    let b = w.next_page().unwrap().unwrap().texts;
    assert!(w.next_page().unwrap().is_none());
    assert_eq!((a.len(), b.len()), (2, 2));
    for (new, old) in a.iter().chain(&b).zip(&texts) {
        assert_eq!(shape_of(new), shape_of(old), "{new:?} vs {old:?}");
        assert_ne!(new, old);
    }
}

fn run_synthetic(args: &[&str], dir: &Path) -> (i32, String, Option<Value>) {
    let out = memsoak()
        .args(["run", "--backend", "synthetic", "--cost", "0s", "-q"])
        .args(["--duration", "3s", "--sample-every", "100ms"])
        // NOTE: these runs test how a trace is read; a few short records
        // are no leak verdict (too few samples for a slope: exit 2).
        .args(["--threshold", "rss.max<1TiB"])
        .args(args)
        .arg("--out")
        .arg(dir.join("run"))
        .output()
        .unwrap();
    let report = std::fs::read_to_string(dir.join("run/report.json"))
        .ok()
        .map(|s| serde_json::from_str(&s).unwrap());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        report,
    )
}

#[test]
fn bad_trace_lines_and_versions_are_exit_2_or_counted_with_skip_bad() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("bad.jsonl");
    std::fs::write(
        &t,
        "{\"memsoak_trace\":1}\n{\"t\":0,\"texts\":[\"a\",\"b\"]}\n{\"t\":0.1,\"texts\":[]}\n{\"t\":0.2,\"texts\":[\"c\"]}\n{oops\n",
    )
    .unwrap();
    let ts = t.to_str().unwrap();
    let (code, err, report) = run_synthetic(&["--workload", ts], dir.path());
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.jsonl: line 3: a record needs at least one text"),
        "{err}"
    );
    assert!(report.is_none(), "nothing was run");
    let (code, err, report) = run_synthetic(&["--workload", ts, "--skip-bad"], dir.path());
    assert_eq!(code, 0, "{err}");
    let r = report.unwrap();
    assert_eq!(r["replay"]["skipped_lines"], 2);
    assert_eq!(r["analysis"]["items"], 3);
    let v = dir.path().join("v9.jsonl");
    std::fs::write(&v, "{\"memsoak_trace\":9}\n{\"t\":0,\"texts\":[\"a\"]}\n").unwrap();
    let (code, err, _) = run_synthetic(
        &["--workload", v.to_str().unwrap(), "--skip-bad"],
        dir.path(),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("v9.jsonl: line 1: trace format version 9 is not supported"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn sigint_cuts_a_long_paced_wait_short() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("gap.jsonl");
    std::fs::write(
        &t,
        "{\"memsoak_trace\":1}\n{\"t\":0,\"texts\":[\"a\"]}\n{\"t\":3600,\"texts\":[\"b\"]}\n",
    )
    .unwrap();
    let mut child = memsoak()
        .args(["run", "--backend", "synthetic", "-q", "--duration", "2h"])
        .args(["--sample-every", "100ms", "--workload"])
        .arg(&t)
        .arg("--out")
        .arg(dir.path().join("run"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Signal once the first record is embedded (the items column of a
    // sample), however long the box takes to get there: then the replay is
    // in its hour-long wait.
    let run = dir.path().join("run");
    let t0 = Instant::now();
    while !std::fs::read_to_string(run.join("samples.csv")).is_ok_and(|csv| {
        csv.lines()
            .skip(1)
            .any(|row| row.split(',').nth(1).is_some_and(|items| items == "1"))
    }) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no record replayed in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = common::interrupt(&mut child, libc::SIGINT, &run);
    assert_eq!(got.code, 130, "{}", got.stderr);
    got.assert_within_budget("SIGINT during a paced wait");
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/report.json")).unwrap())
            .unwrap();
    assert_eq!(
        (r["interrupted"].as_bool(), r["replay"]["records"].as_u64()),
        (Some(true), Some(1))
    );
}

#[test]
fn imports_from_jsonl_logs_and_text_files() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(
        &log,
        "{\"ts\":10,\"req\":{\"input\":[\"x\",\"y\"]}}\n{\"ts\":10.5,\"req\":{\"input\":\"z\"}}\n{\"ts\":11,\"msg\":\"no text\"}\n",
    )
    .unwrap();
    let out = dir.path().join("imported.jsonl");
    let rec = |extra: &[&str]| {
        memsoak()
            .args(["record", "--from-jsonl"])
            .arg(&log)
            .args(["--field", "req.input", "--time-field", "ts", "--out"])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = rec(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("app.log: line 3: no field `req.input`"),
        "{err}"
    );
    assert!(!out.exists(), "a failed import leaves no trace behind");
    let o = rec(&["--skip-bad", "--redact"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let recs = read_trace(&out);
    assert_eq!(recs.len(), 2);
    assert!((recs[1].0 - 0.5).abs() < 1e-9);
    assert!(matches!(&recs[0].1, Batch::Shapes(s) if s.len() == 2));
    let o = rec(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    // Regression: a failed import with --force deleted the trace it was to
    // replace; the old one stays until a new one is complete.
    let before = std::fs::read_to_string(&out).unwrap();
    let o = rec(&["--force"]);
    assert_eq!(o.status.code(), Some(2), "the third line still has no text");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), before);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no staging file left"
    );
    let txt_out = dir.path().join("text.jsonl");
    let o = memsoak()
        .args(["record", "--from-text"])
        .arg(repo("workloads/multilingual.txt"))
        .args(["--batch", "6", "--out"])
        .arg(&txt_out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let sizes: Vec<usize> = read_trace(&txt_out).iter().map(|r| r.1.len()).collect();
    assert_eq!(sizes, [6, 6, 6, 2]);
    for (args, want) in [
        (vec!["record", "--out", "x.jsonl"], "needs a source"),
        (
            vec!["record", "--out", "x.txt", "--upstream", "http://h:1"],
            "end in .jsonl",
        ),
        (
            vec!["record", "--out", "x.jsonl", "--upstream", "ftp://h"],
            "--upstream ftp://h",
        ),
        (
            vec!["record", "--out", "x.jsonl", "--from-jsonl", "Cargo.toml"],
            "--field",
        ),
    ] {
        let o = memsoak()
            .current_dir(dir.path())
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn shipped_definitions_run_and_the_default_one_is_the_builtin_workload() {
    let _serial = one_at_a_time();
    use memsoak::workload::definition::Definition;
    use memsoak::workload::synthetic::SyntheticWorkload;
    let def = Definition::load(&repo("workloads/default.toml")).unwrap();
    let cancel = Cancel::default();
    let stats = Arc::new(ReplayStats::default());
    let mut mix = def.build(Pace::Fast, false, &cancel, &stats).unwrap();
    let mut builtin = SyntheticWorkload::new(Default::default()).unwrap();
    for _ in 0..5 {
        assert_eq!(mix.next_page().unwrap(), builtin.next_page().unwrap());
    }
    // The long-tail mix: page sizes and lengths vary widely.
    let def = Definition::load(&repo("workloads/long-tail.toml")).unwrap();
    let mut mix = def.build(Pace::Fast, false, &cancel, &stats).unwrap();
    let pages: Vec<Vec<String>> = (0..300)
        .map(|_| mix.next_page().unwrap().unwrap().texts)
        .collect();
    let sizes: std::collections::BTreeSet<usize> = pages.iter().map(Vec::len).collect();
    assert!(sizes.len() >= 3, "page sizes {sizes:?}");
    let mut chars: Vec<usize> = pages.iter().flatten().map(|t| t.chars().count()).collect();
    chars.sort();
    let (median, p99) = (chars[chars.len() / 2], chars[chars.len() * 99 / 100]);
    assert!(p99 > 6 * median, "no long tail: median {median}, p99 {p99}");
    // Through the CLI, by name, and the shipped sample trace by path.
    let dir = tempfile::tempdir().unwrap();
    for w in ["long-tail", "workloads/sample-trace.jsonl"] {
        let out = memsoak()
            .current_dir(repo(""))
            .args([
                "run",
                "--backend",
                "synthetic",
                "--cost",
                "0s",
                "-q",
                "--pace",
                "fast",
                // NOTE: a fast replay of a shipped trace ends in about a
                // second: no leak verdict, so judged on a cap.
                "--threshold",
                "rss.max<1TiB",
            ])
            .args([
                "--duration",
                "2s",
                "--sample-every",
                "100ms",
                "--workload",
                w,
                "--out",
            ])
            .arg(dir.path().join(w.replace('/', "_")))
            .output()
            .unwrap();
        let code = out.status.code();
        assert_eq!(
            code,
            Some(0),
            "{w}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(w.replace('/', "_")).join("report.json"))
                .unwrap(),
        )
        .unwrap();
        // Both replay the shipped trace (long-tail.toml mixes it in).
        assert_eq!(r["replay"]["skipped_lines"], 0, "{w}");
        assert!(r["replay"]["records"].as_u64().unwrap() >= 1, "{w}");
        assert!(r["analysis"]["items"].as_u64().unwrap() > 20, "{w}");
    }
}
