//! `memsoak record --listen ADDR --upstream URL --out TRACE.jsonl`: a
//! recording HTTP proxy in front of an embedding server.
//!
//! Every request is forwarded upstream untouched (method, path, query,
//! headers including `Authorization`, body bytes) and the reply is passed
//! back as it came. Embedding requests (`POST .../v1/embeddings` with
//! `input`, `POST .../embed` with `inputs`) are appended to the trace the
//! moment they arrive, one flushed line each. Headers are never written to
//! the trace: bearer tokens go upstream and nowhere else.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::format::Header;
use super::{TraceError, TraceWriter};

/// Settings of the recording proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyOptions {
    /// Address to listen on (`127.0.0.1:8090`; port 0 picks a free one).
    pub listen: String,
    /// Base URL of the embedding server (`http://127.0.0.1:8080`).
    pub upstream: String,
    /// The trace to write.
    pub out: PathBuf,
    /// Keep only each text's shape.
    pub redact: bool,
    /// Replace `out` if it exists.
    pub replace: bool,
    /// Stop after this long (`None`: until SIGINT/SIGTERM).
    pub duration: Option<Duration>,
    /// Longest wait for the upstream server's reply.
    pub timeout: Duration,
    /// Requests handled at once.
    pub workers: usize,
}

/// Why the proxy could not start or went on.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The listen address could not be bound.
    #[error("--listen {addr}: {why}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        why: String,
    },
    /// The upstream URL is not usable.
    #[error("--upstream {0}: expected http://HOST:PORT[/PATH]")]
    Upstream(String),
    /// The trace could not be created or written.
    #[error("{0}")]
    Trace(#[from] TraceError),
}

/// What a recording session did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxySummary {
    /// Requests forwarded.
    pub requests: u64,
    /// Requests appended to the trace.
    pub recorded: u64,
    /// Texts appended.
    pub texts: u64,
    /// Embedding requests forwarded but not recorded (no texts in them).
    pub not_recorded: u64,
    /// Requests the upstream server could not be reached for (answered 502).
    pub upstream_errors: u64,
}

/// What the proxy records of an embedding request.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRequest {
    /// The texts, in order.
    pub texts: Vec<String>,
    /// The endpoint path, without the query string.
    pub endpoint: String,
    /// The OpenAI `model` field, if any.
    pub model: Option<String>,
}

/// The embedding request in `body` sent to `path`: `Ok(None)` when the path
/// is not an embedding endpoint, `Err` (why) when it is one but holds no
/// texts to record.
pub fn embedding_request(
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Option<EmbeddingRequest>, String> {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    let (key, endpoint) = if path.ends_with("/v1/embeddings") || path == "/embeddings" {
        ("input", path)
    } else if path.ends_with("/embed") {
        ("inputs", path)
    } else {
        return Ok(None);
    };
    if !method.eq_ignore_ascii_case("POST") {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| "body is not JSON".to_string())?;
    let texts = match v.get(key) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if a.is_empty() => return Err(format!("`{key}` is empty")),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("`{key}` holds token ids or other values, not texts"))?,
        Some(_) => return Err(format!("`{key}` is neither a text nor a list of texts")),
        None => return Err(format!("no `{key}` field")),
    };
    let model = v.get("model").and_then(Value::as_str).map(str::to_string);
    Ok(Some(EmbeddingRequest {
        texts,
        endpoint: endpoint.to_string(),
        model,
    }))
}

/// The upstream URL as a trace may show it: scheme, host, port and path,
/// without user info or query string (either may hold a secret).
pub fn public_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" {
        return None;
    }
    // NOTE: the authority ends at the first '/', '?' or '#':
    // `http://host?token=s` has no path but still a query to drop.
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next()?;
    if host.is_empty() {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or("");
    Some(format!("http://{host}{}", path.trim_end_matches('/')))
}

/// The port an `http://` URL names is one a socket can have (1–65535),
/// or it names none. The reason when not. `http://127.0.0.1:99999` was
/// taken, and every request then failed with "Connection refused".
pub fn check_port(url: &str) -> Result<(), String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let port = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, p)| p).strip_prefix(':'),
        None => host.rsplit_once(':').map(|(_, p)| p),
    };
    match port {
        None => Ok(()),
        Some(p) if p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
        Some(p) => Err(format!("port `{p}` is not one from 1 to 65535")),
    }
}

/// Request headers that belong to one connection, not to the request.
const HOP_BY_HOP: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
];

struct Shared {
    writer: Mutex<TraceWriter>,
    agent: ureq::Agent,
    upstream: String,
    /// `upstream` without user info or query: what logs may show.
    shown: String,
    stop: AtomicBool,
    quiet: bool,
    requests: AtomicU64,
    not_recorded: AtomicU64,
    upstream_errors: AtomicU64,
    write_error: Mutex<Option<TraceError>>,
}

/// A bound proxy, ready to serve.
pub struct Proxy {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    shared: Arc<Shared>,
    opts: ProxyOptions,
}

impl Proxy {
    /// Check the upstream URL, bind the listen address and create the trace
    /// (its header is on disk when this returns).
    pub fn bind(opts: ProxyOptions, quiet: bool) -> Result<Proxy, ProxyError> {
        let public = public_url(&opts.upstream)
            .ok_or_else(|| ProxyError::Upstream(opts.upstream.clone()))?;
        let server =
            tiny_http::Server::http(opts.listen.as_str()).map_err(|e| ProxyError::Bind {
                addr: opts.listen.clone(),
                why: e.to_string(),
            })?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| ProxyError::Bind {
                addr: opts.listen.clone(),
                why: "not an IP address".into(),
            })?;
        let mut header = Header::new("proxy", opts.redact);
        header.upstream = Some(public.clone());
        let writer = TraceWriter::create(&opts.out, header, opts.replace)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(opts.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Ok(Proxy {
            server: Arc::new(server),
            addr,
            shared: Arc::new(Shared {
                writer: Mutex::new(writer),
                agent,
                upstream: opts.upstream.trim_end_matches('/').to_string(),
                shown: public,
                stop: AtomicBool::new(false),
                quiet,
                requests: AtomicU64::new(0),
                not_recorded: AtomicU64::new(0),
                upstream_errors: AtomicU64::new(0),
                write_error: Mutex::new(None),
            }),
            opts,
        })
    }

    /// The address actually bound (the port chosen when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The upstream URL as logs may show it (no user info, no query).
    pub fn upstream_shown(&self) -> &str {
        &self.shared.shown
    }

    /// Serve until `stop()` returns true (checked every 50 ms) or the
    /// duration ends; requests in flight are finished first. A trace that
    /// cannot be written ends the session with that error.
    pub fn serve(self, stop: impl Fn() -> bool) -> Result<ProxySummary, ProxyError> {
        let started = Instant::now();
        let workers: Vec<_> = (0..self.opts.workers.max(1))
            .map(|i| {
                let (server, shared) = (self.server.clone(), self.shared.clone());
                std::thread::Builder::new()
                    .name(format!("memsoak-proxy-{i}"))
                    .spawn(move || {
                        while !shared.stop.load(Ordering::SeqCst) {
                            match server.recv_timeout(Duration::from_millis(50)) {
                                Ok(Some(req)) => handle(&shared, req),
                                Ok(None) => {}
                                Err(_) => break,
                            }
                        }
                    })
                    .expect("spawn proxy worker")
            })
            .collect();
        while !self.shared.stop.load(Ordering::SeqCst)
            && !stop()
            && self.opts.duration.is_none_or(|d| started.elapsed() < d)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        for w in workers {
            let _ = w.join();
        }
        if let Some(e) = self
            .shared
            .write_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(e.into());
        }
        let w = self.shared.writer.lock().unwrap_or_else(|p| p.into_inner());
        Ok(ProxySummary {
            requests: self.shared.requests.load(Ordering::SeqCst),
            recorded: w.records(),
            texts: w.texts(),
            not_recorded: self.shared.not_recorded.load(Ordering::SeqCst),
            upstream_errors: self.shared.upstream_errors.load(Ordering::SeqCst),
        })
    }
}

fn handle(shared: &Shared, mut req: tiny_http::Request) {
    let n = shared.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let method = req.method().as_str().to_string();
    let url = req.url().to_string();
    let mut body = Vec::new();
    if let Err(e) = req.as_reader().read_to_end(&mut body) {
        let _ = req.respond(reply(400, &format!("cannot read the request body: {e}")));
        return;
    }
    // NOTE: record before forwarding: the trace holds the request even when
    // the upstream server dies on it, and file order is arrival order.
    match embedding_request(&method, &url, &body) {
        Ok(Some(r)) => {
            let mut w = shared.writer.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = w.append_now(r.texts, Some(r.endpoint), r.model) {
                shared.stop.store(true, Ordering::SeqCst);
                shared
                    .write_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
            }
        }
        Ok(None) => {}
        Err(why) => {
            shared.not_recorded.fetch_add(1, Ordering::SeqCst);
            if !shared.quiet {
                eprintln!(
                    "memsoak record: request {n} ({method} {url}) forwarded, not recorded: {why}"
                );
            }
        }
    }
    let response = forward(shared, &req, &method, &url, body);
    let _ = req.respond(response);
}

fn reply(code: u16, msg: &str) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let body = serde_json::json!({ "error": msg }).to_string();
    tiny_http::Response::from_string(body)
        .with_status_code(code)
        .with_header(
            tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
                .expect("static header"),
        )
}

fn forward(
    shared: &Shared,
    req: &tiny_http::Request,
    method: &str,
    url: &str,
    body: Vec<u8>,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut b = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{url}", shared.upstream));
    for h in req.headers() {
        let name = h.field.as_str().as_str();
        if !HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str()) {
            b = b.header(name, h.value.as_str());
        }
    }
    let result = b
        .body(body)
        .map_err(|e| e.to_string())
        .and_then(|r| shared.agent.run(r).map_err(|e| e.to_string()));
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            shared.upstream_errors.fetch_add(1, Ordering::SeqCst);
            if !shared.quiet {
                eprintln!("memsoak record: upstream {}: {e}", shared.shown);
            }
            return reply(502, &format!("memsoak record: upstream unreachable: {e}"));
        }
    };
    let status = resp.status().as_u16();
    let headers: Vec<tiny_http::Header> = resp
        .headers()
        .iter()
        .filter(|(k, _)| !HOP_BY_HOP.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            tiny_http::Header::from_bytes(k.as_str().as_bytes(), v.as_bytes()).ok()
        })
        .collect();
    let data = match resp.into_body().with_config().limit(1 << 30).read_to_vec() {
        Ok(d) => d,
        Err(e) => {
            shared.upstream_errors.fetch_add(1, Ordering::SeqCst);
            return reply(
                502,
                &format!("memsoak record: reading the upstream reply: {e}"),
            );
        }
    };
    let len = data.len();
    tiny_http::Response::new(
        tiny_http::StatusCode(status),
        headers,
        std::io::Cursor::new(data),
        Some(len),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_a_port_a_socket_can_have() {
        for ok in [
            "http://127.0.0.1:8080/embed",
            "http://host",
            "http://u:p@host:1/x?y",
            "http://[::1]:9090",
            "http://[::1]",
        ] {
            assert_eq!(check_port(ok), Ok(()), "{ok}");
        }
        for (bad, port) in [
            ("http://127.0.0.1:99999", "99999"),
            ("http://host:0/x", "0"),
            ("http://host:http", "http"),
            ("http://[::1]:70000", "70000"),
            ("http://host:", ""),
        ] {
            assert_eq!(
                check_port(bad),
                Err(format!("port `{port}` is not one from 1 to 65535")),
                "{bad}"
            );
        }
    }
    use proptest::prelude::*;

    proptest! {
        // What a client sends the recording proxy is outside input.
        #[test]
        fn any_request_is_recognised_or_refused_with_one_line(
            method in "(POST|GET|post|PUT)",
            path in "(/v1/embeddings|/embed|/embeddings|/health|/[a-z/?=]{0,12})",
            body in prop_oneof![
                "\\PC{0,40}",
                "[a-z\"]{0,8}".prop_map(|t| format!(r#"{{"input": ["{t}", 3]}}"#)),
                "[a-z ]{0,8}".prop_map(|t| format!(r#"{{"inputs": "{t}"}}"#)),
                "[a-z ]{0,8}".prop_map(|t| format!(r#"{{"input": [], "model": "{t}"}}"#)),
            ],
        ) {
            match embedding_request(&method, &path, body.as_bytes()) {
                Ok(Some(r)) => prop_assert!(!r.texts.is_empty()),
                Ok(None) => {}
                Err(e) => prop_assert!(!e.contains('\n'), "{e}"),
            }
        }

        #[test]
        fn public_urls_never_keep_user_info_or_queries(
            user in "[a-z]{1,6}", secret in "[a-z0-9]{6,12}", host in "[a-z]{1,8}", port in 1u16..,
        ) {
            for url in [
                format!("http://{user}:{secret}@{host}:{port}/v1?token={secret}"),
                // Regression: a query with no path was kept whole.
                format!("http://{host}:{port}?token={secret}"),
                format!("http://{host}#{secret}"),
            ] {
                let shown = public_url(&url).expect("a URL");
                prop_assert!(!shown.contains(&secret), "{url} -> {shown}");
            }
        }
    }

    #[test]
    fn secrets_in_the_upstream_url_reach_neither_logs_nor_the_trace() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t.jsonl");
        let p = Proxy::bind(
            ProxyOptions {
                listen: "127.0.0.1:0".into(),
                upstream: "http://user:s3cr3t@127.0.0.1:9?token=s3cr3t".into(),
                out: out.clone(),
                redact: false,
                replace: false,
                duration: None,
                timeout: Duration::from_secs(1),
                workers: 1,
            },
            true,
        )
        .unwrap();
        assert_eq!(p.upstream_shown(), "http://127.0.0.1:9");
        assert!(p.addr().ip().is_loopback());
        drop(p);
        let trace = std::fs::read_to_string(&out).unwrap();
        assert!(!trace.contains("s3cr3t"), "{trace}");
    }

    #[test]
    fn embedding_requests_are_recognised() {
        let r = embedding_request(
            "POST",
            "/v1/embeddings",
            br#"{"input": ["a", "b"], "model": "m"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            r,
            EmbeddingRequest {
                texts: vec!["a".into(), "b".into()],
                endpoint: "/v1/embeddings".into(),
                model: Some("m".into())
            }
        );
        let r = embedding_request("POST", "/embed?x=1", br#"{"inputs": "one"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.texts, r.endpoint.as_str(), r.model),
            (vec!["one".to_string()], "/embed", None)
        );
        assert_eq!(embedding_request("GET", "/health", b"").unwrap(), None);
        assert_eq!(embedding_request("GET", "/embed", b"").unwrap(), None);
        let bad = |p: &str, b: &[u8]| embedding_request("POST", p, b).unwrap_err();
        assert!(bad("/v1/embeddings", br#"{"input": [[1, 2]]}"#).contains("token ids"));
        assert!(bad("/embed", b"{").contains("not JSON"));
        assert!(bad("/embed", br#"{"input": ["a"]}"#).contains("no `inputs`"));
        assert!(bad("/embed", br#"{"inputs": []}"#).contains("empty"));
    }

    #[test]
    fn public_url_drops_secrets() {
        assert_eq!(
            public_url("http://user:pw@127.0.0.1:8080/base/?key=s3cret").as_deref(),
            Some("http://127.0.0.1:8080/base")
        );
        assert_eq!(
            public_url("http://localhost:1").as_deref(),
            Some("http://localhost:1")
        );
        assert_eq!(public_url("https://x"), None);
        assert_eq!(public_url("localhost:8080"), None);
        assert_eq!(public_url("http://"), None);
    }
}
