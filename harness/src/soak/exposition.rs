//! The live OpenMetrics endpoint of a soak (`--metrics-listen ADDR`), so
//! the Prometheus that already scrapes a fleet scrapes memsoak too. Served
//! in the exposition format of the official Rust client
//! (`prometheus-client`), every series labelled with the run's id, mode,
//! backend, workload, model and git commit:
//!
//! - `memsoak_<metric>_bytes`: each sampled metric, a gauge;
//! - `memsoak_items_total`: items embedded, a counter;
//! - `memsoak_drift_bytes_per_minute{metric, bound="estimate|lower|upper"}`
//!   and `memsoak_drift_p_value{metric}`: the running drift and its CI;
//! - `memsoak_threshold_breached{threshold}`: 1 when the threshold would
//!   fail if the run ended now;
//! - `memsoak_elapsed_seconds`.
//!
//! The monitor updates it (atomic stores) as it drains each row; the drift
//! is refitted at most every [`FIT_EVERY_S`]. A small thread answers the
//! scrapes; it is stopped and joined on drop.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::analysis::samples::SampleTable;
use crate::analysis::threshold::Threshold;
use crate::analysis::{self, Outcome};
use crate::sample::Metric;

/// Seconds between two refits of the running drift.
pub const FIT_EVERY_S: f64 = 10.0;

/// The content type of the OpenMetrics text format.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type F64Gauge = Gauge<f64, AtomicU64>;
type Labels = Vec<(String, String)>;

/// Who the series belong to: constant labels on every series.
#[derive(Debug, Clone, Default)]
pub struct RunLabels {
    /// The run's id (its folder's name).
    pub run_id: String,
    /// `run` or `watch`.
    pub mode: String,
    /// The backend (`candle`, `synthetic`...), empty for `watch`.
    pub backend: String,
    /// The workload name, empty for `watch`.
    pub workload: String,
    /// The model, when the backend has one.
    pub model: String,
    /// The git commit memsoak runs from, when known.
    pub git_commit: String,
}

impl RunLabels {
    fn pairs(&self) -> Vec<(Cow<'static, str>, Cow<'static, str>)> {
        [
            ("run_id", &self.run_id),
            ("mode", &self.mode),
            ("backend", &self.backend),
            ("workload", &self.workload),
            ("model", &self.model),
            ("git_commit", &self.git_commit),
        ]
        .into_iter()
        .map(|(k, v)| (Cow::Borrowed(k), Cow::Owned(v.clone())))
        .collect()
    }
}

/// The endpoint: the gauges the monitor sets and the thread serving them.
pub struct Exposition {
    addr: SocketAddr,
    registry: Arc<Mutex<Registry>>,
    gauges: Vec<(Metric, F64Gauge)>,
    items: Counter,
    items_seen: u64,
    elapsed: F64Gauge,
    drift: Family<Labels, F64Gauge>,
    p_value: Family<Labels, F64Gauge>,
    breached: Family<Labels, Gauge>,
    next_fit: f64,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Exposition {
    /// Bind `addr` and start serving (before anything runs: an address
    /// in use is a usage error). The sampled metrics' gauges come with
    /// [`Exposition::add_metrics`]. Fails (one line) when the address
    /// cannot be bound.
    pub fn bind(addr: SocketAddr, labels: &RunLabels) -> Result<Exposition, String> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| format!("--metrics-listen {addr}: cannot listen there: {e}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| format!("--metrics-listen {addr}: not an IP address"))?;
        let mut reg = Registry::with_prefix_and_labels("memsoak", labels.pairs().into_iter());
        let items = Counter::default();
        reg.register("items", "items embedded so far", items.clone());
        let elapsed = F64Gauge::default();
        reg.register_with_unit(
            "elapsed",
            "time since sampling began",
            Unit::Seconds,
            elapsed.clone(),
        );
        let drift = Family::<Labels, F64Gauge>::default();
        reg.register_with_unit(
            "drift",
            "running drift after warm-up (bound: estimate, lower and upper end of its CI)",
            Unit::Other("bytes_per_minute".into()),
            drift.clone(),
        );
        let p_value = Family::<Labels, F64Gauge>::default();
        reg.register(
            "drift_p_value",
            "trend p-value of the running drift",
            p_value.clone(),
        );
        let breached = Family::<Labels, Gauge>::default();
        reg.register(
            "threshold_breached",
            "1 when the threshold would fail if the run ended now",
            breached.clone(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let registry = Arc::new(Mutex::new(reg));
        let served = registry.clone();
        let thread = std::thread::Builder::new()
            .name("memsoak-metrics".into())
            .spawn(move || serve(&server, &served, &flag))
            .map_err(|e| format!("--metrics-listen: cannot start its thread: {e}"))?;
        Ok(Exposition {
            addr,
            registry,
            gauges: Vec::new(),
            items,
            items_seen: 0,
            elapsed,
            drift,
            p_value,
            breached,
            next_fit: FIT_EVERY_S,
            stop,
            thread: Some(thread),
        })
    }

    /// The address served (the port chosen when `:0` was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve a gauge for each metric sampled, `metrics` in the order of
    /// the rows given to [`Exposition::row`].
    pub fn add_metrics(&mut self, metrics: &[Metric]) {
        let mut reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        for &m in metrics {
            let g = F64Gauge::default();
            reg.register_with_unit(m.name(), m.describe(), Unit::Bytes, g.clone());
            self.gauges.push((m, g));
        }
    }

    /// Whether [`Exposition::refit`] would refit at `now`.
    pub fn due(&self, now: f64) -> bool {
        now >= self.next_fit
    }

    /// Publish one row: its values (in `metrics` order), items and time.
    pub fn row(&mut self, t: f64, items: Option<u64>, values: &[Option<u64>]) {
        self.elapsed.set(t);
        for ((_, g), v) in self.gauges.iter().zip(values) {
            if let Some(v) = v {
                g.set(*v as f64);
            }
        }
        if let Some(n) = items.filter(|&n| n > self.items_seen) {
            self.items.inc_by(n - self.items_seen);
            self.items_seen = n;
        }
    }

    /// Refit the running drift of every metric a threshold names (and
    /// `rss`) from `table`, and judge each threshold as the run's end
    /// would, when [`FIT_EVERY_S`] has passed since the last fit.
    pub fn refit(
        &mut self,
        now: f64,
        table: &SampleTable,
        thresholds: &[Threshold],
        opts: &analysis::AnalysisOptions,
    ) {
        if now < self.next_fit {
            return;
        }
        self.next_fit = now + FIT_EVERY_S;
        let mut fitted: Vec<(Metric, Option<analysis::MetricAnalysis>)> = Vec::new();
        let wanted = thresholds
            .iter()
            .map(|t| t.metric)
            .chain(std::iter::once(Metric::Rss));
        for m in wanted {
            if fitted.iter().any(|f| f.0 == m) {
                continue;
            }
            let fit = table.column(m).and_then(|y| {
                analysis::analyze_metric(m, &table.t, &table.items, y, opts.warmup, opts.confidence)
            });
            fitted.push((m, fit));
        }
        for (m, fit) in &fitted {
            let Some(e) = fit.as_ref().and_then(|f| f.slope_per_min) else {
                continue;
            };
            for (bound, v) in [
                ("estimate", e.value),
                ("lower", e.ci_low),
                ("upper", e.ci_high),
            ] {
                self.drift
                    .get_or_create(&vec![
                        ("metric".into(), m.name().into()),
                        ("bound".into(), bound.into()),
                    ])
                    .set(v);
            }
            if let Some(p) = fit.as_ref().and_then(|f| f.trend_p_value) {
                self.p_value
                    .get_or_create(&vec![("metric".into(), m.name().into())])
                    .set(p);
            }
        }
        for th in thresholds {
            let fit = fitted
                .iter()
                .find(|f| f.0 == th.metric)
                .and_then(|f| f.1.as_ref());
            let r = analysis::evaluate(th, fit, opts.min_growth);
            self.breached
                .get_or_create(&vec![("threshold".into(), th.expr.clone())])
                .set(i64::from(r.outcome == Outcome::Fail));
        }
    }
}

impl Drop for Exposition {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answer scrapes until `stop`: `GET /metrics` (or `/`) gets the registry,
/// anything else 404.
fn serve(server: &tiny_http::Server, reg: &Mutex<Registry>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        let path = req.url().split('?').next().unwrap_or("");
        let resp = if matches!(path, "/metrics" | "/") {
            let mut body = String::new();
            let reg = reg.lock().unwrap_or_else(|p| p.into_inner());
            if encode(&mut body, &reg).is_err() {
                body.clear();
            }
            let header = tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE)
                .expect("a valid header");
            tiny_http::Response::from_string(body).with_header(header)
        } else {
            tiny_http::Response::from_string("not found: try /metrics\n").with_status_code(404)
        };
        let _ = req.respond(resp);
    }
}

/// Parse `--metrics-listen`: `HOST:PORT`, or a bare `PORT` (loopback).
/// A non-loopback address needs `allow_remote` (the series name the host,
/// the workload and the commit).
pub fn parse_listen(s: &str, allow_remote: bool) -> Result<SocketAddr, String> {
    let s = s.trim();
    // NOTE: a host name (`localhost:9941`) is resolved, its first address
    // taken; it had been refused as "expected HOST:PORT".
    let named = || {
        std::net::ToSocketAddrs::to_socket_addrs(s)
            .ok()
            .and_then(|mut a| a.next())
    };
    let addr: SocketAddr = match s.parse::<u16>() {
        Ok(port) => SocketAddr::from(([127, 0, 0, 1], port)),
        Err(_) => s.parse().ok().or_else(named).ok_or_else(|| {
            format!("--metrics-listen {s}: expected HOST:PORT (127.0.0.1:9464) or a port")
        })?,
    };
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(format!(
            "--metrics-listen {s}: not a loopback address; add --metrics-allow-remote to serve it beyond this machine"
        ));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_stay_on_loopback_unless_allowed() {
        assert_eq!(
            parse_listen("9464", false).unwrap(),
            "127.0.0.1:9464".parse().unwrap()
        );
        assert!(parse_listen("[::1]:9464", false).is_ok());
        assert!(
            parse_listen("localhost:9464", false)
                .unwrap()
                .ip()
                .is_loopback()
        );
        assert!(parse_listen("localhost:99999", false).is_err());
        let e = parse_listen("0.0.0.0:9464", false).unwrap_err();
        assert!(e.contains("--metrics-allow-remote"), "{e}");
        assert!(parse_listen("0.0.0.0:9464", true).is_ok());
        assert!(parse_listen("localhost:x", false).is_err());
    }

    #[test]
    fn serves_gauges_counter_drift_and_threshold_state() {
        let labels = RunLabels {
            run_id: "r1".into(),
            mode: "run".into(),
            backend: "synthetic".into(),
            ..RunLabels::default()
        };
        let mut e = Exposition::bind("127.0.0.1:0".parse().unwrap(), &labels).unwrap();
        e.add_metrics(&[Metric::Rss, Metric::Cgroup]);
        let mut table = SampleTable::new(vec![Metric::Rss]);
        for i in 0..120u64 {
            let rss = 100_000_000 + i * 1_000_000;
            table.push(i as f64, Some(i * 10), &[Some(rss)]);
            e.row(i as f64, Some(i * 10), &[Some(rss), None]);
        }
        let th: Threshold = "rss.slope<2MiB/min".parse().unwrap();
        let opts = analysis::AnalysisOptions {
            warmup: analysis::Warmup::Auto,
            confidence: 0.95,
            thresholds: vec![th.clone()],
            min_growth: analysis::DEFAULT_MIN_GROWTH,
            swap_total: None,
        };
        e.refit(120.0, &table, &[th], &opts);
        let url = format!("http://{}/metrics", e.addr());
        let resp = ureq::get(&url).call().unwrap();
        let ct = resp
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
        let body = resp.into_body().read_to_string().unwrap();
        assert!(body.contains("# TYPE memsoak_rss_bytes gauge"), "{body}");
        assert!(
            body.contains(r#"memsoak_rss_bytes{run_id="r1",mode="run",backend="synthetic",workload="",model="",git_commit=""} 219000000"#),
            "{body}"
        );
        assert!(body.contains("memsoak_items_total{"), "{body}");
        assert!(body.contains("} 1190\n"), "{body}");
        let est = body
            .lines()
            .find(|l| {
                l.starts_with("memsoak_drift_bytes_per_minute{")
                    && l.contains(r#"bound="estimate""#)
            })
            .unwrap();
        let v: f64 = est.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((v - 60e6).abs() < 1e6, "{est}");
        assert!(
            body.contains(r#"threshold="rss.slope<2MiB/min"} 1"#),
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");
        let missing = ureq::get(&format!("http://{}/nope", e.addr())).call();
        assert!(missing.is_err());
        drop(e);
        assert!(ureq::get(&url).call().is_err(), "still serving after drop");
    }
}
