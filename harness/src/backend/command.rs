//! `--backend command -- CMD [ARGS...]`: a worker process speaking JSON Lines.
//!
//! Request: `{"id": 7, "texts": ["...", "..."]}`. Reply, one line per request:
//! `{"id": 7, "embeddings": [[...], ...]}`, or `{"id": 7, "count": 2, "dim": 384}`
//! when the worker persists vectors itself, or `{"id": 7, "error": "..."}`.
//! The worker's whole process tree is sampled like a `watch` target, and it
//! is stopped (and reaped) in `finish` or on drop.
//!
//! An `error` reply is the worker saying "this request failed, I live on":
//! it counts against `--max-errors`. Anything else that breaks the protocol
//! (malformed JSON, a wrong id or count, a crash, a hang) leaves the two ends
//! out of step, so it ends the run.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ChildStdin;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Duration;

use serde::Deserialize;

use super::{BackendError, BackendInfo, Embedded, Embedder, OwnedTree};
use crate::target::{Target, TargetReport, TargetStatus};

/// Settings of the command backend.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOptions {
    /// The worker's command line.
    pub argv: Vec<String>,
    /// Longest wait for one reply.
    pub timeout: Duration,
    /// Grace between SIGTERM and SIGKILL at the end.
    pub grace: Duration,
    /// Environment variables set for the worker on top of memsoak's own
    /// (`--attribute`'s `PYTHONPATH`).
    pub env: Vec<(String, std::ffi::OsString)>,
}

/// One reply line, as the protocol allows it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    id: Option<u64>,
    embeddings: Option<Vec<Vec<f32>>>,
    count: Option<usize>,
    dim: Option<usize>,
    error: Option<String>,
}

/// Why a reply line is not a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A well-formed `{"id", "error"}` reply: the worker failed this request
    /// and can take the next one.
    #[error("worker error on request {id}: {message}")]
    Worker {
        /// The request's id.
        id: u64,
        /// The worker's message.
        message: String,
    },
    /// The reply breaks the protocol (malformed JSON, wrong id, wrong count,
    /// missing fields).
    #[error("{0}")]
    Protocol(String),
}

/// Check one reply line against the request it answers. Pure, so every
/// malformed shape is testable (and fuzzable) without a process.
pub fn parse_reply(line: &str, id: u64, texts: usize) -> Result<Embedded, ReplyError> {
    use ReplyError::Protocol;
    let short: String = line.chars().take(120).collect();
    let r: Reply = serde_json::from_str(line)
        .map_err(|e| Protocol(format!("malformed reply to request {id}: {e}: `{short}`")))?;
    match r.id {
        Some(got) if got == id => {}
        Some(got) => {
            return Err(Protocol(format!(
                "reply id {got} does not match request id {id}"
            )));
        }
        None => return Err(Protocol(format!("reply to request {id} has no `id`"))),
    }
    if let Some(message) = r.error {
        if r.embeddings.is_some() || r.count.is_some() || r.dim.is_some() {
            return Err(Protocol(format!(
                "reply to request {id} has both `error` and a result"
            )));
        }
        return Err(ReplyError::Worker { id, message });
    }
    match (r.embeddings, r.count, r.dim) {
        (Some(rows), None, _) => {
            if rows.len() != texts {
                return Err(Protocol(format!(
                    "reply to request {id} has {} embeddings for {texts} texts",
                    rows.len()
                )));
            }
            let dim = rows.first().map_or(0, |r| r.len());
            if rows.iter().any(|r| r.len() != dim) || (texts > 0 && dim == 0) {
                return Err(Protocol(format!(
                    "reply to request {id} has vectors of unequal or zero width"
                )));
            }
            Ok(Embedded::Vectors {
                dim,
                data: rows.into_iter().flatten().collect(),
            })
        }
        (None, Some(count), Some(dim)) => {
            if count != texts {
                return Err(Protocol(format!(
                    "reply to request {id} counts {count} vectors for {texts} texts"
                )));
            }
            Ok(Embedded::Counted { count, dim })
        }
        _ => Err(Protocol(format!(
            "reply to request {id} needs `embeddings`, or `count` and `dim`, or `error`"
        ))),
    }
}

/// The worker-process embedder.
pub struct CommandEmbedder {
    opts: CommandOptions,
    target: OwnedTree,
    stdin: Option<BufWriter<ChildStdin>>,
    lines: Receiver<std::io::Result<String>>,
    next_id: u64,
    failed: bool,
    line: String,
}

impl CommandEmbedder {
    /// Start the worker. Its stderr goes to `stderr_log` (and the tail to
    /// the report).
    pub fn start(opts: CommandOptions, stderr_log: &Path) -> Result<Self, BackendError> {
        if opts.argv.is_empty() {
            return Err(BackendError::Setup(
                "--backend command needs a worker: -- CMD [ARGS...]".into(),
            ));
        }
        let mut target =
            Target::spawn_env(&opts.argv, stderr_log, true, true, &opts.env).map_err(|e| {
                BackendError::Setup(format!("cannot start worker `{}`: {e}", opts.argv[0]))
            })?;
        let (stdin, stdout) = target.take_stdio();
        let (stdin, stdout) = stdin
            .zip(stdout)
            .ok_or_else(|| BackendError::Setup("worker has no stdio pipes".into()))?;
        // NOTE: a reader thread turns the blocking pipe into a channel, so a
        // hung worker is caught by the per-request timeout.
        let (tx, rx) = sync_channel(4);
        std::thread::Builder::new()
            .name("memsoak-worker-stdout".into())
            .spawn(move || {
                let mut r = BufReader::new(stdout);
                loop {
                    let mut line = String::new();
                    match r.read_line(&mut line) {
                        Ok(0) => return,
                        Ok(_) => {
                            if tx.send(Ok(line)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| BackendError::Setup(e.to_string()))?;
        let target = OwnedTree::new(target, opts.grace);
        Ok(CommandEmbedder {
            opts,
            target,
            stdin: Some(BufWriter::new(stdin)),
            lines: rx,
            next_id: 0,
            failed: false,
            line: String::new(),
        })
    }

    fn dead(&mut self, what: &str) -> BackendError {
        self.failed = true;
        // Give a dying worker a moment so its exit status is known.
        for _ in 0..50 {
            if self.target.poll() != TargetStatus::Running {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let st = self.target.poll();
        let how = if st == TargetStatus::Running {
            String::new()
        } else {
            format!(" (worker {})", st.describe())
        };
        BackendError::Failed(format!("{what}{how}"))
    }
}

impl Embedder for CommandEmbedder {
    fn info(&self) -> BackendInfo {
        let mut details = serde_json::Map::new();
        details.insert("command".into(), serde_json::json!(self.opts.argv));
        details.insert(
            "timeout_s".into(),
            serde_json::json!(self.opts.timeout.as_secs_f64()),
        );
        BackendInfo {
            name: "command".into(),
            model: None,
            dim: None,
            details,
        }
    }

    fn embed(&mut self, texts: &[String]) -> Result<Embedded, BackendError> {
        if self.failed {
            return Err(BackendError::failed("worker already failed"));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.line.clear();
        serde_json::to_writer(
            string_writer(&mut self.line),
            &serde_json::json!({ "id": id, "texts": texts }),
        )
        .map_err(BackendError::failed)?;
        self.line.push('\n');
        let sent = match self.stdin.as_mut() {
            Some(w) => w.write_all(self.line.as_bytes()).and_then(|_| w.flush()),
            None => Err(std::io::Error::other("stdin closed")),
        };
        if let Err(e) = sent {
            return Err(self.dead(&format!("cannot send request {id} to the worker: {e}")));
        }
        let line = match self.lines.recv_timeout(self.opts.timeout) {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                return Err(self.dead(&format!("reading the worker's reply to request {id}: {e}")));
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(self.dead(&format!(
                    "worker did not answer request {id} within {}",
                    humantime::format_duration(self.opts.timeout)
                )));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(self.dead(&format!(
                    "worker closed its stdout before answering request {id}"
                )));
            }
        };
        match parse_reply(line.trim_end(), id, texts.len()) {
            Ok(out) => Ok(out),
            // NOTE: the worker answered in step and can take the next
            // request: a failed request, not a failed worker.
            Err(e @ ReplyError::Worker { .. }) => Err(BackendError::Request(e.to_string())),
            Err(ReplyError::Protocol(e)) => Err(self.dead(&e)),
        }
    }

    fn target_pid(&self) -> Option<u32> {
        Some(self.target.pid())
    }

    fn owned_tree(&self) -> Option<OwnedTree> {
        Some(self.target.clone())
    }

    fn finish(&mut self) -> Option<TargetReport> {
        // NOTE: closing stdin is the polite stop; a worker that exits on EOF
        // within the grace period ends with its own status.
        self.stdin = None;
        let wait = self.opts.grace.min(Duration::from_secs(2));
        let t0 = std::time::Instant::now();
        while self.target.poll() == TargetStatus::Running && t0.elapsed() < wait {
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(self.target.report(Some(self.opts.argv.clone())))
    }
}

/// `io::Write` into a `String` (serde_json only writes UTF-8).
fn string_writer(s: &mut String) -> impl Write + '_ {
    struct W<'a>(&'a mut String);
    impl Write for W<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .push_str(std::str::from_utf8(buf).map_err(std::io::Error::other)?);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    W(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply(r#"{"id":3,"embeddings":[[1,0],[0,1]]}"#, 3, 2).unwrap(),
            Embedded::Vectors {
                dim: 2,
                data: vec![1.0, 0.0, 0.0, 1.0]
            }
        );
        assert_eq!(
            parse_reply(r#"{"id":3,"count":2,"dim":384}"#, 3, 2).unwrap(),
            Embedded::Counted { count: 2, dim: 384 }
        );
        let bad = [
            (
                r#"{"id":3,"embeddings":[[1,0]]}"#,
                "1 embeddings for 2 texts",
            ),
            (
                r#"{"id":4,"count":2,"dim":3}"#,
                "does not match request id 3",
            ),
            (r#"{"id":3,"error":"CUDA OOM"}"#, "CUDA OOM"),
            (r#"{"id":3,"count":1,"dim":3}"#, "counts 1 vectors"),
            (r#"{"id":3}"#, "needs `embeddings`"),
            (r#"{"id":3,"embeddings":[[1],[1,2]]}"#, "unequal"),
            (r#"{"id":3,"embedings":[]}"#, "malformed"),
            ("not json", "malformed"),
            (r#"{"count":2,"dim":3}"#, "no `id`"),
        ];
        for (line, want) in bad {
            let e = parse_reply(line, 3, 2).unwrap_err().to_string();
            assert!(e.contains(want), "{line}: {e}");
        }
        // Only a clean error reply is the worker's own, countable failure.
        assert_eq!(
            parse_reply(r#"{"id":3,"error":"CUDA OOM"}"#, 3, 2),
            Err(ReplyError::Worker {
                id: 3,
                message: "CUDA OOM".into()
            })
        );
        for line in [
            r#"{"id":4,"error":"x"}"#,
            r#"{"id":3,"error":"x","count":2,"dim":3}"#,
            r#"{"error":"x"}"#,
        ] {
            assert!(
                matches!(parse_reply(line, 3, 2), Err(ReplyError::Protocol(_))),
                "{line}"
            );
        }
    }

    proptest! {
        #[test]
        fn reply_parser_never_panics(s in "\\PC{0,80}", id in 0u64..5, n in 0usize..4) {
            let _ = parse_reply(&s, id, n);
        }
    }
}
