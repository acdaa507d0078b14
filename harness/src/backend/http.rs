//! `--backend http --url URL --api openai|tei`: an embedding server over HTTP.
//!
//! OpenAI `POST /v1/embeddings` (`{"input": [...], "model": ...}`) or TEI
//! `POST /embed` (`{"inputs": [...]}`), with `--concurrency` persistent
//! request threads, a per-request timeout and a bearer token read from the
//! environment (never written anywhere). The server's process tree is
//! sampled when its pid is known: `--pid PID`, or `--serve -- CMD...` which
//! starts it, waits for it to accept connections, and stops it at the end.
//!
//! Plain `http://` only: memsoak is built without TLS (a soak runs next to
//! the server; put a TLS-terminating proxy on loopback if it only speaks
//! HTTPS). User info (`user:password@`) becomes a Basic `Authorization`
//! header; it and the query string may hold secrets, so only
//! [`public_url`](crate::trace::proxy::public_url)'s form of the URL is ever
//! written or printed.

use std::fmt;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use serde::Deserialize;

use super::{BackendError, BackendInfo, Embedded, Embedder, OwnedTree, Pending, PendingSender};
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
    /// Only requests, to a server on another machine: no process of it to
    /// sample (memsoak's own are sampled, and said to be the client's).
    Remote,
    /// Sample this running pid's tree (never stopped).
    Pid(u32),
    /// Start this command, wait for readiness, stop it at the end.
    Serve(Vec<String>),
}

/// Settings of the HTTP backend.
#[derive(Clone, PartialEq)]
pub struct HttpOptions {
    /// Base URL (`http://127.0.0.1:8080`) or the full endpoint URL.
    pub url: String,
    /// API flavour.
    pub api: Api,
    /// `model` field of OpenAI requests.
    pub model: String,
    /// Requests in flight: this many request threads.
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
    /// Set on top of memsoak's environment for a `--serve` server
    /// (`--attribute`: the `PYTHONPATH` of memsoak's tracemalloc hook).
    pub env: Vec<(String, std::ffi::OsString)>,
}

// NOTE: by hand, because `run.json` records the plan's Debug form and the
// URL may carry a password or a token.
impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("url", &redact_url(&self.url))
            .field("api", &self.api)
            .field("model", &self.model)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .field("token_env", &self.token_env)
            .field("server", &self.server)
            .field("ready_timeout", &self.ready_timeout)
            .field("grace", &self.grace)
            .field("env", &self.env)
            .finish()
    }
}

/// `url` as it may be written down: without user info or query (see
/// [`public_url`](crate::trace::proxy::public_url)); a URL that does not
/// parse is replaced whole, since it cannot be shown to hold no secret.
pub fn redact_url(url: &str) -> String {
    // NOTE: `https://` is refused (no TLS), but its line showed
    // `<url withheld>` for a URL with no secret in it: it is stripped of
    // user info and query as an `http://` one is.
    let public = match url.strip_prefix("https://") {
        Some(rest) => crate::trace::proxy::public_url(&format!("http://{rest}"))
            .map(|p| p.replacen("http://", "https://", 1)),
        None => crate::trace::proxy::public_url(url),
    };
    public.unwrap_or_else(|| "<url withheld>".into())
}

/// Where and how to send requests, from `--url` and `--api`.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL requests go to: the endpoint path added, user info removed,
    /// query kept.
    pub request: String,
    /// The same URL as it may be written down (no user info, no query).
    pub public: String,
    /// `HOST:PORT` to probe for readiness.
    pub host_port: String,
    /// `Basic ...` from the URL's user info, if it had one.
    basic: Option<String>,
    /// Raw pieces of the URL that must never appear in a message.
    secrets: Vec<String>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("public", &self.public)
            .field("host_port", &self.host_port)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Parse `--url` for `api`. Errors are one line and never repeat the
    /// URL's user info or query.
    pub fn parse(url: &str, api: Api) -> Result<Endpoint, String> {
        let shown = redact_url(url);
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!("--url {shown}: expected http://HOST:PORT"));
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err(format!(
                "--url {shown}: https is not supported (memsoak is built without TLS): use http://, e.g. through a TLS-terminating proxy on loopback"
            ));
        }
        if scheme != "http" {
            return Err(format!(
                "--url {shown}: unsupported scheme {scheme:?}, expected http://HOST:PORT"
            ));
        }
        let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(cut);
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() || host.starts_with(':') {
            return Err(format!("--url {shown}: no host"));
        }
        let tail = tail.split('#').next().unwrap_or("");
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (tail, None),
        };
        let path = path.trim_end_matches('/');
        let path = if path.ends_with(api.path()) {
            path.to_string()
        } else {
            format!("{path}{}", api.path())
        };
        let query = query.filter(|q| !q.is_empty());
        let request = match query {
            Some(q) => format!("http://{host}{path}?{q}"),
            None => format!("http://{host}{path}"),
        };
        let mut secrets: Vec<String> = Vec::new();
        secrets.extend(userinfo.filter(|u| !u.is_empty()).map(str::to_string));
        secrets.extend(query.map(str::to_string));
        let basic = userinfo.filter(|u| !u.is_empty()).map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let decode = |s| percent_encoding::percent_decode_str(s).decode_utf8_lossy();
            let plain = format!("{}:{}", decode(user), decode(pass));
            format!("Basic {}", BASE64_STANDARD.encode(plain))
        });
        Ok(Endpoint {
            public: crate::trace::proxy::public_url(&request)
                .ok_or_else(|| format!("--url {shown}: expected http://HOST:PORT"))?,
            host_port: default_port(host),
            request,
            basic,
            secrets,
        })
    }

    /// Whether the address the requests go to is this machine's: its host
    /// (or an address it resolves to) is loopback, unspecified (`0.0.0.0`),
    /// v4-mapped loopback, or one of this machine's own interfaces (a socket
    /// can be bound to it). A name that does not resolve is not.
    ///
    /// NOTE: a bind to port 0 is how the kernel itself answers "is this
    /// address mine", without listing interfaces (no crate needed); the
    /// socket is closed at once.
    pub fn is_on_this_machine(&self) -> bool {
        use std::net::{IpAddr, ToSocketAddrs, UdpSocket};
        let addrs: Vec<IpAddr> = self
            .host_port
            .to_socket_addrs()
            .map(|a| a.map(|s| s.ip().to_canonical()).collect())
            .unwrap_or_default();
        addrs
            .iter()
            .any(|ip| ip.is_loopback() || ip.is_unspecified() || UdpSocket::bind((*ip, 0)).is_ok())
    }

    /// `msg` with every secret piece of the URL masked.
    fn scrub(&self, msg: String) -> String {
        let mut msg = msg.replace(&self.request, &self.public);
        for s in &self.secrets {
            msg = msg.replace(s.as_str(), "***");
        }
        msg
    }
}

/// `host[:port]` with port 80 made explicit (IPv6 literals keep their
/// brackets).
fn default_port(host: &str) -> String {
    let has_port = match host.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => host.contains(':'),
    };
    if has_port {
        host.to_string()
    } else {
        format!("{host}:80")
    }
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

/// One batch for a request thread, and where its result goes.
struct Job {
    texts: Vec<String>,
    reply: PendingSender,
}

/// What every request thread shares.
struct Shared {
    agent: ureq::Agent,
    endpoint: Endpoint,
    api: Api,
    model: String,
    timeout: Duration,
    /// `Authorization` header value: the bearer token, else Basic from the
    /// URL's user info.
    auth: Option<String>,
    served: Option<OwnedTree>,
    attached: Option<u32>,
}

impl Shared {
    fn request(&self, texts: &[String]) -> Result<Embedded, BackendError> {
        let public = &self.endpoint.public;
        let body = match self.api {
            Api::OpenAi => serde_json::json!({ "input": texts, "model": self.model }),
            Api::Tei => serde_json::json!({ "inputs": texts }),
        };
        let mut req = self.agent.post(&self.endpoint.request);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let read = req.send_json(&body).and_then(|mut resp| {
            let status = resp.status().as_u16();
            resp.body_mut()
                .with_config()
                .limit(512 * 1024 * 1024)
                .read_to_string()
                .map(|text| (status, text))
        });
        let (status, text) = match read {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                return Err(BackendError::Request(format!(
                    "POST {public}: no reply within {} (--timeout)",
                    humantime::format_duration(self.timeout)
                )));
            }
            Err(e) => {
                let msg = self.endpoint.scrub(format!("POST {public}: {e}"));
                return Err(self.server_gone().unwrap_or(BackendError::Request(msg)));
            }
        };
        if !(200..300).contains(&status) {
            let short: String = text.chars().take(200).collect();
            return Err(BackendError::Request(
                self.endpoint
                    .scrub(format!("POST {public}: HTTP {status}: {short}")),
            ));
        }
        // NOTE: a 200 with a body that breaks the protocol is a broken
        // server, not a passing hiccup.
        parse_reply(self.api, &text, texts.len())
            .map_err(|e| BackendError::Failed(self.endpoint.scrub(format!("POST {public}: {e}"))))
    }

    /// After a transport error: has the server died? A served server's exit
    /// status comes a moment after its sockets close, so wait briefly.
    fn server_gone(&self) -> Option<BackendError> {
        if let Some(pid) = self.attached {
            return (!crate::sample::proc::alive(pid))
                .then(|| BackendError::Failed(format!("the server (--pid {pid}) is gone")));
        }
        let served = self.served.as_ref()?;
        for _ in 0..30 {
            let gone = {
                let mut t = served.lock();
                let st = t.poll();
                (st != TargetStatus::Running).then(|| server_died(&st, &t))
            };
            if gone.is_some() {
                return gone;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

/// The failure of a served server that ended during the run.
fn server_died(status: &TargetStatus, t: &Target) -> BackendError {
    // NOTE: its last line ("dying on ...") may still be in the pipe.
    let tail = t.stderr_tail_settled(Duration::from_millis(500));
    let last = tail.lines().rev().find(|l| !l.trim().is_empty());
    BackendError::Failed(format!(
        "the server {} during the run{}",
        status.describe(),
        last.map_or(String::new(), |l| format!(" (stderr: {})", l.trim()))
    ))
}

/// The HTTP embedder.
pub struct HttpEmbedder {
    opts: HttpOptions,
    shared: Arc<Shared>,
    jobs: Option<SyncSender<Job>>,
    token_set: bool,
    pid: Option<u32>,
}

impl HttpEmbedder {
    /// Connect (and start the server with `--serve`), then start
    /// `concurrency` request threads. `stderr_log` receives a served
    /// server's stderr. The wait for the server to accept connections ends
    /// early, with [`BackendError::Interrupted`], once `interrupted()`.
    pub fn start(
        opts: HttpOptions,
        stderr_log: &Path,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<Self, BackendError> {
        let setup = BackendError::Setup;
        let endpoint = Endpoint::parse(&opts.url, opts.api).map_err(setup)?;
        let token = std::env::var(&opts.token_env)
            .ok()
            .filter(|t| !t.is_empty());
        let token_set = token.is_some();
        let mut served = None;
        let mut attached = None;
        match &opts.server {
            Server::Serve(argv) => {
                let t = Target::spawn_env(argv, stderr_log, true, false, &opts.env)
                    .map_err(|e| setup(format!("cannot start server `{}`: {e}", argv[0])))?;
                served = Some(t);
            }
            Server::Pid(pid) if !crate::sample::proc::alive(*pid) => {
                return Err(setup(format!("--pid {pid}: no such process")));
            }
            Server::Pid(pid) => attached = Some(*pid),
            Server::Remote => {}
        }
        // NOTE: a served server that never gets ready is dropped here, and
        // Target's drop stops its tree: nothing is left running.
        wait_ready(
            &endpoint.host_port,
            opts.ready_timeout,
            served.as_mut(),
            interrupted,
        )?;
        let pid = served.as_ref().map(Target::pid).or(attached);
        let n = opts.concurrency.max(1);
        let shared = Arc::new(Shared {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(opts.timeout))
                .http_status_as_error(false)
                .max_idle_connections_per_host(n * 2)
                .build()
                .into(),
            auth: token
                .map(|t| format!("Bearer {t}"))
                .or_else(|| endpoint.basic.clone()),
            endpoint,
            api: opts.api,
            model: opts.model.clone(),
            timeout: opts.timeout,
            served: served.map(|t| OwnedTree::new(t, opts.grace)),
            attached,
        });
        let (tx, rx) = sync_channel::<Job>(4 * n);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n {
            let (shared, rx) = (shared.clone(), rx.clone());
            std::thread::Builder::new()
                .name(format!("memsoak-http-{i}"))
                .spawn(move || request_thread(&shared, &rx))
                .map_err(|e| setup(format!("cannot start a request thread: {e}")))?;
        }
        Ok(HttpEmbedder {
            opts,
            shared,
            jobs: Some(tx),
            token_set,
            pid,
        })
    }
}

/// One of the `--concurrency` request threads: take the next batch, send
/// it, hand back the result; ends when the embedder is dropped.
fn request_thread(shared: &Shared, jobs: &Mutex<Receiver<Job>>) {
    loop {
        // NOTE: the lock is held only while waiting for a job; the request
        // itself runs unlocked, so every thread has one in flight.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let _ = job.reply.send(shared.request(&job.texts));
    }
}

/// Wait until `addr` accepts connections. Both ways of never getting there
/// are setup errors (exit 2: nothing was soaked): the served server ended
/// first (with its status), or `ready_timeout` passed. `interrupted()` ends
/// the wait at once.
fn wait_ready(
    addr: &str,
    ready_timeout: Duration,
    mut served: Option<&mut Target>,
    interrupted: &dyn Fn() -> bool,
) -> Result<(), BackendError> {
    let deadline = Instant::now() + ready_timeout;
    loop {
        if interrupted() {
            // NOTE: an interrupt promises an exit within 2 s; Target's drop
            // would give a server deaf to SIGTERM 2 s of grace.
            if let Some(t) = served.as_deref_mut() {
                t.stop_tree(Duration::from_millis(500));
            }
            return Err(BackendError::Interrupted(format!(
                "waiting for the server to accept connections on {addr}"
            )));
        }
        let ok = addr
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok());
        if ok {
            return Ok(());
        }
        if let Some(t) = served.as_deref_mut() {
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
            let what = if served.is_some() {
                "the server is running but "
            } else {
                ""
            };
            return Err(BackendError::Setup(format!(
                "--ready-timeout {}: {what}nothing accepts connections on {addr} (check --url, or allow more time)",
                humantime::format_duration(ready_timeout)
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Embedder for HttpEmbedder {
    fn info(&self) -> BackendInfo {
        let mut details = serde_json::Map::new();
        details.insert("url".into(), serde_json::json!(self.shared.endpoint.public));
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
        details.insert("token_set".into(), serde_json::json!(self.token_set));
        BackendInfo {
            name: "http".into(),
            model: (self.opts.api == Api::OpenAi).then(|| self.opts.model.clone()),
            dim: None,
            details,
        }
    }

    fn embed(&mut self, texts: &[String]) -> Result<Embedded, BackendError> {
        self.submit(texts.to_vec()).wait()
    }

    /// Four times `--concurrency`: the pipeline collects results in input
    /// order, so while the oldest request is slow the other threads work
    /// through the queued batches; a request must last as long as ~3N
    /// others before any thread idles. (Measured: 3.94 of 4 in flight on
    /// average, on requests of 50-350 ms.)
    fn max_in_flight(&self) -> usize {
        4 * self.opts.concurrency.max(1)
    }

    fn submit(&mut self, texts: Vec<String>) -> Pending {
        if let Some(t) = &self.shared.served {
            let mut t = t.lock();
            let st = t.poll();
            if st != TargetStatus::Running {
                return Pending::ready(Err(server_died(&st, &t)));
            }
        }
        let (reply, pending) = Pending::channel();
        match &self.jobs {
            Some(jobs) if jobs.send(Job { texts, reply }).is_ok() => pending,
            _ => Pending::ready(Err(BackendError::failed("the request threads have ended"))),
        }
    }

    fn target_pid(&self) -> Option<u32> {
        self.pid
    }

    fn owned_tree(&self) -> Option<OwnedTree> {
        self.shared.served.clone()
    }

    fn finish(&mut self) -> Option<TargetReport> {
        // No more jobs: the request threads end after their current request.
        self.jobs = None;
        let t = self.shared.served.as_ref()?;
        Some(t.report(match &self.opts.server {
            Server::Serve(argv) => Some(argv.clone()),
            _ => None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_on_this_machine_is_told_from_one_elsewhere() {
        let local = |u: &str| Endpoint::parse(u, Api::Tei).unwrap().is_on_this_machine();
        assert!(local("http://127.0.0.1:8080"));
        assert!(local("http://127.3.4.5:8080/embed"));
        assert!(local("http://[::1]:8080"));
        assert!(local("http://0.0.0.0:8080"));
        assert!(local("http://[::ffff:127.0.0.1]:8080"));
        // This machine's own address off loopback: the one a socket
        // connected outward is bound to (no packet is sent).
        let own = std::net::UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| s.connect("192.0.2.77:9").map(|()| s))
            .and_then(|s| s.local_addr());
        if let Some(a) = own.ok().filter(|a| !a.ip().is_unspecified()) {
            assert!(local(&format!("http://{}:8080", a.ip())), "{a}");
        }
        // TEST-NET-3: documentation addresses, no machine's own.
        assert!(!local("http://203.0.113.77:8080"));
    }
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
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:8080", Api::Tei).unwrap();
        assert_eq!(
            (e.request.as_str(), e.public.as_str(), e.host_port.as_str()),
            (
                "http://127.0.0.1:8080/embed",
                "http://127.0.0.1:8080/embed",
                "127.0.0.1:8080"
            )
        );
        let e = Endpoint::parse("http://localhost/v1/embeddings/", Api::OpenAi).unwrap();
        assert_eq!(e.request, "http://localhost/v1/embeddings");
        assert_eq!(e.host_port, "localhost:80");
        assert_eq!(
            Endpoint::parse("http://[::1]", Api::Tei).unwrap().host_port,
            "[::1]:80"
        );
        // Secrets: the request keeps the query, loses the user info (sent as
        // Basic auth); the public form has neither.
        let e = Endpoint::parse("http://me:p%40ss@h:9/api?key=tok#frag", Api::Tei).unwrap();
        assert_eq!(e.request, "http://h:9/api/embed?key=tok");
        assert_eq!(e.public, "http://h:9/api/embed");
        assert_eq!(e.basic.as_deref(), Some("Basic bWU6cEBzcw=="));
        // A `%` that starts no escape is sent as it is.
        let e = Endpoint::parse("http://a%zz:b@h:9", Api::Tei).unwrap();
        assert_eq!(e.basic.as_deref(), Some("Basic YSV6ejpi"));
        let e = Endpoint::parse("http://h:9?key=tok", Api::Tei).unwrap();
        assert_eq!(e.request, "http://h:9/embed?key=tok");
        assert!(
            !e.scrub("POST http://h:9/embed?key=tok: x".into())
                .contains("tok")
        );
        let e = Endpoint::parse("http://me:pw@h:9", Api::Tei).unwrap();
        assert_eq!(e.scrub("failed for me:pw".into()), "failed for ***");
    }

    #[test]
    fn bad_urls_are_refused_without_their_secrets() {
        for (url, want) in [
            ("https://me:pw@h:443/x?key=tok", "https is not supported"),
            ("ftp://h/x", "unsupported scheme"),
            ("http://", "no host"),
            ("http://me:pw@", "no host"),
            ("127.0.0.1:8080", "expected http://"),
        ] {
            let e = Endpoint::parse(url, Api::Tei).unwrap_err();
            assert!(e.contains(want), "{url}: {e}");
            assert!(!e.contains("pw") && !e.contains("tok"), "{url}: {e}");
        }
    }

    #[test]
    fn redacted_urls() {
        assert_eq!(redact_url("http://u:p@h:1/a/?t=s"), "http://h:1/a");
        assert_eq!(redact_url("http://h:1?t=s"), "http://h:1");
        assert_eq!(redact_url("not a url"), "<url withheld>");
        // Regression: an https URL with no secret was withheld whole.
        assert_eq!(redact_url("https://example.com"), "https://example.com");
        assert_eq!(redact_url("https://u:p@h/e?t=s"), "https://h/e");
        let o = HttpOptions {
            url: "http://u:secret@h:1/?token=secret".into(),
            api: Api::Tei,
            model: "m".into(),
            concurrency: 1,
            timeout: Duration::from_secs(1),
            token_env: "T".into(),
            server: Server::Remote,
            ready_timeout: Duration::from_secs(1),
            grace: Duration::from_secs(1),
            env: Vec::new(),
        };
        assert!(!format!("{o:?}").contains("secret"));
    }

    proptest! {
        #[test]
        fn reply_parsers_never_panic(s in "\\PC{0,80}", n in 0usize..4) {
            let _ = parse_reply(Api::Tei, &s, n);
            let _ = parse_reply(Api::OpenAi, &s, n);
        }

        #[test]
        fn url_parsing_never_panics_nor_leaks(s in "\\PC{0,60}") {
            let url = format!("http://u:SECRET@{s}");
            if let Ok(e) = Endpoint::parse(&url, Api::Tei) {
                prop_assert!(!e.public.contains("SECRET"));
            }
            prop_assert!(!redact_url(&url).contains("SECRET"));
        }
    }
}
