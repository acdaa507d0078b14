//! `--backend http --url URL --api openai|tei`: an embedding server over HTTP.
//!
//! OpenAI `POST /v1/embeddings` (`{"input": [...], "model": ...}`) or TEI
//! `POST /embed` (`{"inputs": [...]}`), with several requests in flight, a
//! per-request timeout and a bearer token read from the environment (never
//! written anywhere). The server's process tree is sampled when its pid is
//! known: `--pid PID`, or `--serve -- CMD...` which starts it, waits for it
//! to accept connections, and stops it at the end.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{BackendError, BackendInfo, Embedded, Embedder};
use crate::target::{Target, TargetReport, TargetStatus};

/// Which HTTP API the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// OpenAI `POST /v1/embeddings`.
    OpenAi,
    /// Hugging Face text-embeddings-inference `POST /embed`.
    Tei,
}

impl Api {
    /// Path appended to the base URL.
    pub fn path(self) -> &'static str {
        match self {
            Api::OpenAi => "/v1/embeddings",
            Api::Tei => "/embed",
        }
    }
}

/// The server: attach to a pid, start one, or sample nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Server {
    /// Only requests; no process to sample.
    Remote,
    /// Sample this running pid's tree (never stopped).
    Pid(u32),
    /// Start this command, wait for readiness, stop it at the end.
    Serve(Vec<String>),
}

/// Settings of the HTTP backend.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    /// Base URL (`http://127.0.0.1:8080`) or the full endpoint URL.
    pub url: String,
    /// API flavour.
    pub api: Api,
    /// `model` field of OpenAI requests.
    pub model: String,
    /// Requests in flight.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Name of the environment variable holding the bearer token.
    pub token_env: String,
    /// The server process.
    pub server: Server,
    /// How long `--serve` may take to accept connections.
    pub ready_timeout: Duration,
    /// SIGTERM → SIGKILL grace when stopping a served server.
    pub grace: Duration,
}

#[derive(Deserialize)]
struct OpenAiItem {
    embedding: Vec<f32>,
    index: Option<usize>,
}

#[derive(Deserialize)]
struct OpenAiReply {
    data: Vec<OpenAiItem>,
}

fn flatten(rows: Vec<Vec<f32>>, texts: usize) -> Result<Embedded, String> {
    if rows.len() != texts {
        return Err(format!(
            "server returned {} embeddings for {texts} texts",
            rows.len()
        ));
    }
    let dim = rows.first().map_or(0, |r| r.len());
    if rows.iter().any(|r| r.len() != dim) || (texts > 0 && dim == 0) {
        return Err("server returned vectors of unequal or zero width".into());
    }
    Ok(Embedded::Vectors {
        dim,
        data: rows.into_iter().flatten().collect(),
    })
}

/// Parse a successful reply body. Pure, so every malformed shape is
/// testable without a server.
pub fn parse_reply(api: Api, body: &str, texts: usize) -> Result<Embedded, String> {
    let short: String = body.chars().take(120).collect();
    match api {
        Api::Tei => {
            let rows: Vec<Vec<f32>> = serde_json::from_str(body)
                .map_err(|e| format!("malformed TEI reply: {e}: `{short}`"))?;
            flatten(rows, texts)
        }
        Api::OpenAi => {
            let r: OpenAiReply = serde_json::from_str(body)
                .map_err(|e| format!("malformed OpenAI reply: {e}: `{short}`"))?;
            let mut items = r.data;
            // NOTE: the API says `index` gives each vector's input position.
            if items.iter().all(|i| i.index.is_some()) {
                items.sort_by_key(|i| i.index);
                if items.iter().enumerate().any(|(k, i)| i.index != Some(k)) {
                    return Err("OpenAI reply indices are not 0..n".into());
                }
            }
            flatten(items.into_iter().map(|i| i.embedding).collect(), texts)
        }
    }
}

/// The HTTP embedder.
pub struct HttpEmbedder {
    opts: HttpOptions,
    endpoint: String,
    agent: ureq::Agent,
    token: Option<String>,
    served: Option<Target>,
    requests: u64,
    http_errors: u64,
}

fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hp = rest.split('/').next()?;
    if hp.is_empty() {
        return None;
    }
    Some(if hp.contains(':') {
        hp.to_string()
    } else {
        format!("{hp}:80")
    })
}

impl HttpEmbedder {
    /// Connect (and start the server with `--serve`). `stderr_log` receives a
    /// served server's stderr.
    pub fn start(opts: HttpOptions, stderr_log: &Path) -> Result<Self, BackendError> {
        let setup = |s: String| BackendError::Setup(s);
        if !opts.url.starts_with("http://") && !opts.url.starts_with("https://") {
            return Err(setup(format!(
                "--url {}: expected http://HOST:PORT",
                opts.url
            )));
        }
        let addr =
            host_port(&opts.url).ok_or_else(|| setup(format!("--url {}: no host", opts.url)))?;
        let endpoint = if opts.url.trim_end_matches('/').ends_with(opts.api.path()) {
            opts.url.clone()
        } else {
            format!("{}{}", opts.url.trim_end_matches('/'), opts.api.path())
        };
        let token = std::env::var(&opts.token_env)
            .ok()
            .filter(|t| !t.is_empty());
        let mut served = None;
        match &opts.server {
            Server::Serve(argv) => {
                let t = Target::spawn(argv, stderr_log, true)
                    .map_err(|e| setup(format!("cannot start server `{}`: {e}", argv[0])))?;
                served = Some(t);
            }
            Server::Pid(pid) if !crate::sample::proc::alive(*pid) => {
                return Err(setup(format!("--pid {pid}: no such process")));
            }
            _ => {}
        }
        let mut me = HttpEmbedder {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(opts.timeout))
                .http_status_as_error(false)
                .max_idle_connections_per_host(opts.concurrency.max(1) * 2)
                .build()
                .into(),
            opts,
            endpoint,
            token,
            served,
            requests: 0,
            http_errors: 0,
        };
        me.wait_ready(&addr)?;
        Ok(me)
    }

    fn wait_ready(&mut self, addr: &str) -> Result<(), BackendError> {
        let deadline = Instant::now() + self.opts.ready_timeout;
        loop {
            let ok = addr
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .is_some_and(|a| {
                    TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok()
                });
            if ok {
                return Ok(());
            }
            if let Some(t) = &mut self.served {
                let st = t.poll();
                if st != TargetStatus::Running {
                    return Err(BackendError::Setup(format!(
                        "the server {} before accepting connections on {addr}: {}",
                        st.describe(),
                        t.stderr_tail().lines().last().unwrap_or("")
                    )));
                }
            }
            if Instant::now() >= deadline {
                return Err(BackendError::Setup(format!(
                    "nothing accepts connections on {addr} after {}",
                    humantime::format_duration(self.opts.ready_timeout)
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn request(
        agent: &ureq::Agent,
        endpoint: &str,
        api: Api,
        model: &str,
        token: Option<&str>,
        texts: &[String],
    ) -> Result<Embedded, BackendError> {
        let body = match api {
            Api::OpenAi => serde_json::json!({ "input": texts, "model": model }),
            Api::Tei => serde_json::json!({ "inputs": texts }),
        };
        let mut req = agent.post(endpoint);
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req
            .send_json(&body)
            .map_err(|e| BackendError::Request(format!("POST {endpoint}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(512 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| {
                BackendError::Request(format!("POST {endpoint}: reading the reply: {e}"))
            })?;
        if !(200..300).contains(&status) {
            let short: String = text.chars().take(200).collect();
            return Err(BackendError::Request(format!(
                "POST {endpoint}: HTTP {status}: {short}"
            )));
        }
        // NOTE: a 200 with a body that breaks the protocol is a broken
        // server, not a passing hiccup.
        parse_reply(api, &text, texts.len()).map_err(BackendError::Failed)
    }
}

impl Embedder for HttpEmbedder {
    fn info(&self) -> BackendInfo {
        let mut details = serde_json::Map::new();
        details.insert("url".into(), serde_json::json!(self.endpoint));
        details.insert(
            "api".into(),
            serde_json::json!(match self.opts.api {
                Api::OpenAi => "openai",
                Api::Tei => "tei",
            }),
        );
        details.insert(
            "concurrency".into(),
            serde_json::json!(self.opts.concurrency),
        );
        details.insert(
            "timeout_s".into(),
            serde_json::json!(self.opts.timeout.as_secs_f64()),
        );
        // The token's source, never its value.
        details.insert("token_env".into(), serde_json::json!(self.opts.token_env));
        details.insert("token_set".into(), serde_json::json!(self.token.is_some()));
        BackendInfo {
            name: "http".into(),
            model: (self.opts.api == Api::OpenAi).then(|| self.opts.model.clone()),
            dim: None,
            details,
        }
    }

    fn embed(&mut self, texts: &[String]) -> Result<Embedded, BackendError> {
        self.embed_many(&[texts.to_vec()])
            .pop()
            .unwrap_or_else(|| Err(BackendError::failed("no result")))
    }

    fn max_in_flight(&self) -> usize {
        self.opts.concurrency.max(1)
    }

    fn embed_many(&mut self, batches: &[Vec<String>]) -> Vec<Result<Embedded, BackendError>> {
        let (agent, endpoint, api, model, token) = (
            &self.agent,
            &self.endpoint,
            self.opts.api,
            &self.opts.model,
            self.token.as_deref(),
        );
        let results: Vec<Result<Embedded, BackendError>> = if batches.len() == 1 {
            vec![Self::request(
                agent,
                endpoint,
                api,
                model,
                token,
                &batches[0],
            )]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = batches
                    .iter()
                    .map(|b| s.spawn(move || Self::request(agent, endpoint, api, model, token, b)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(BackendError::failed("request thread panicked"))
                        })
                    })
                    .collect()
            })
        };
        self.requests += results.len() as u64;
        self.http_errors += results.iter().filter(|r| r.is_err()).count() as u64;
        results
    }

    fn target_pid(&self) -> Option<u32> {
        match &self.opts.server {
            Server::Pid(p) => Some(*p),
            Server::Serve(_) => self.served.as_ref().map(|t| t.pid()),
            Server::Remote => None,
        }
    }

    fn finish(&mut self) -> Option<TargetReport> {
        let t = self.served.as_mut()?;
        let early = t.poll();
        let stop = t.stop_tree(self.opts.grace);
        Some(TargetReport {
            pid: t.pid(),
            command: match &self.opts.server {
                Server::Serve(argv) => Some(argv.clone()),
                _ => None,
            },
            status: if early == TargetStatus::Running {
                t.status().clone()
            } else {
                early
            },
            stop: Some(stop),
            stderr_tail: t.stderr_tail(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply(Api::Tei, "[[1,0],[0,1]]", 2).unwrap(),
            Embedded::Vectors {
                dim: 2,
                data: vec![1.0, 0.0, 0.0, 1.0]
            }
        );
        // Out-of-order OpenAI data is put back in input order.
        let body =
            r#"{"data":[{"index":1,"embedding":[0,1]},{"index":0,"embedding":[1,0]}],"model":"m"}"#;
        assert_eq!(
            parse_reply(Api::OpenAi, body, 2).unwrap(),
            Embedded::Vectors {
                dim: 2,
                data: vec![1.0, 0.0, 0.0, 1.0]
            }
        );
        for (api, body, want) in [
            (Api::Tei, "[[1,0]]", "1 embeddings for 2 texts"),
            (Api::Tei, "{}", "malformed TEI"),
            (Api::OpenAi, "[]", "malformed OpenAI"),
            (
                Api::OpenAi,
                r#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}"#,
                "indices",
            ),
            (Api::Tei, "[[1],[1,2]]", "unequal"),
        ] {
            let e = parse_reply(api, body, 2).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
    }

    #[test]
    fn host_ports() {
        assert_eq!(
            host_port("http://127.0.0.1:8080/v1").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            host_port("http://localhost").as_deref(),
            Some("localhost:80")
        );
        assert_eq!(host_port("http://"), None);
    }

    proptest! {
        #[test]
        fn reply_parsers_never_panic(s in "\\PC{0,80}", n in 0usize..4) {
            let _ = parse_reply(Api::Tei, &s, n);
            let _ = parse_reply(Api::OpenAi, &s, n);
        }
    }
}
