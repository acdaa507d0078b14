//! Prometheus as a source (`memsoak analyze --prometheus URL --query
//! PROMQL`): a range query through the HTTP API
//! (`GET /api/v1/query_range`), each returned series (label set) read into
//! times and values. What Prometheus keeps is judged as memsoak judges its
//! own samples; this module only fetches and reads.
//!
//! Bad data is named, never guessed at: `NaN` and infinite values are left
//! out and counted, as are gaps (steps with no point: a target down, a
//! stale marker); a query error, an unreachable server or a result that is
//! not a range of series is an error in one line.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::sample::Metric;

/// Prometheus answers at most this many points per series and query; a
/// longer range is fetched in windows of this many steps.
const MAX_POINTS: u64 = 10_000;

/// One series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels (`__name__` included when the query kept it).
    pub labels: BTreeMap<String, String>,
    /// Unix seconds of each kept point.
    pub t: Vec<f64>,
    /// Its values.
    pub y: Vec<f64>,
    /// Points left out because they were `NaN` or infinite.
    pub non_finite: usize,
    /// Gaps: runs of missing steps between two kept points.
    pub gaps: usize,
}

impl Series {
    /// The series as PromQL writes it: `name{a="1", b="2"}`.
    pub fn name(&self) -> String {
        let name = self.labels.get("__name__").cloned().unwrap_or_default();
        let rest: Vec<String> = self
            .labels
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        format!("{name}{{{}}}", rest.join(", "))
    }
}

/// The memsoak metric a series measures, from its `__name__`: memsoak's
/// own (`memsoak_rss_bytes`), the process exporters'
/// (`process_resident_memory_bytes`), cAdvisor's container series
/// (`container_memory_working_set_bytes`...) and node_exporter's host
/// series (`node_memory_MemAvailable_bytes`). `None` when the name says
/// nothing (a PromQL function drops it).
pub fn infer_metric(labels: &BTreeMap<String, String>) -> Option<Metric> {
    let name = labels.get("__name__")?;
    if let Some(m) = name
        .strip_prefix("memsoak_")
        .and_then(|n| n.strip_suffix("_bytes"))
        .and_then(Metric::from_name)
    {
        return Some(m);
    }
    Some(match name.as_str() {
        "process_resident_memory_bytes" => Metric::Rss,
        "container_memory_working_set_bytes" => Metric::CgroupWorkingSet,
        "container_memory_usage_bytes" => Metric::Cgroup,
        "container_memory_rss" => Metric::CgroupAnon,
        "container_memory_cache" => Metric::CgroupFile,
        "container_memory_swap" => Metric::Swap,
        "node_memory_MemAvailable_bytes" => Metric::SysAvailable,
        "node_memory_Shmem_bytes" => Metric::SysShmem,
        _ => return None,
    })
}

/// Why a query gave nothing to judge.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PromError {
    /// The server could not be reached.
    #[error("--prometheus {url}: cannot reach it: {why}")]
    Unreachable {
        /// The server, as shown.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// Prometheus refused the query (`status: error`).
    #[error("--query: Prometheus refused it: {kind}: {why}")]
    Query {
        /// `errorType` (`bad_data`, `timeout`...).
        kind: String,
        /// `error`.
        why: String,
    },
    /// The answer was not a Prometheus API reply.
    #[error("--prometheus {url}: not a Prometheus API reply ({why})")]
    NotProm {
        /// The server, as shown.
        url: String,
        /// What was wrong with it.
        why: String,
    },
    /// The server did not answer whole within the timeout.
    #[error("--prometheus {url}: timed out after {after} (no whole reply)")]
    TimedOut {
        /// The server, as shown.
        url: String,
        /// The timeout, as people read it (`60 s`).
        after: String,
    },
    /// A query whose result is not a range of series (a scalar, a string).
    #[error("--query: Prometheus returned {}", not_series(.0))]
    NotMatrix(String),
}

/// What a result type that is not a matrix is, for [`PromError::NotMatrix`].
fn not_series(kind: &str) -> String {
    match kind {
        "vector" => {
            "an instant vector (one point per series), not a matrix (series over time)".into()
        }
        // NOTE: the server's text, escaped and cut short: one line.
        k => format!(
            "a {}, not a matrix (series over time)",
            k.chars().take(40).collect::<String>().escape_default()
        ),
    }
}

/// A range query.
#[derive(Debug, Clone)]
pub struct RangeQuery {
    /// The server's base URL (`http://127.0.0.1:9090`).
    pub url: String,
    /// The PromQL expression.
    pub query: String,
    /// Unix seconds.
    pub start: f64,
    /// Unix seconds.
    pub end: f64,
    /// Seconds between points.
    pub step: f64,
    /// Longest wait for one answer.
    pub timeout: Duration,
}

#[derive(Deserialize)]
struct Reply<'a> {
    status: String,
    #[serde(borrow, default)]
    data: Option<Data<'a>>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(borrow, default)]
    result: Vec<RawSeries<'a>>,
}

/// A reply's status and result type alone: what a reply that is not a
/// matrix still says about itself.
#[derive(Deserialize)]
struct Head {
    status: String,
    #[serde(default)]
    data: Option<HeadData>,
}

#[derive(Deserialize)]
struct HeadData {
    #[serde(rename = "resultType")]
    result_type: String,
}

#[derive(Deserialize)]
struct RawSeries<'a> {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(borrow, default)]
    values: Vec<(f64, &'a str)>,
}

/// Read one `query_range` reply (the body's text) into its series, gaps
/// counted against `step`. Cost: O(points).
pub fn parse_reply(text: &str, url: &str, step: f64) -> Result<Vec<Series>, PromError> {
    let reply: Reply<'_> = serde_json::from_str(text).map_err(|e| {
        // NOTE: a scalar's or a string's `result` is no list of series, so
        // the whole reply does not parse; its head still says what it is
        // (read only then: a matrix is parsed once).
        match serde_json::from_str::<Head>(text) {
            Ok(Head {
                status,
                data: Some(HeadData { result_type }),
            }) if status == "success" && result_type != "matrix" => {
                PromError::NotMatrix(result_type)
            }
            _ => PromError::NotProm {
                url: url.into(),
                why: format!("{e}"),
            },
        }
    })?;
    if reply.status != "success" {
        return Err(PromError::Query {
            kind: reply.error_type.unwrap_or_else(|| "error".into()),
            why: reply.error.unwrap_or_default(),
        });
    }
    let data = reply.data.ok_or_else(|| PromError::NotProm {
        url: url.into(),
        why: "no data".into(),
    })?;
    if data.result_type != "matrix" {
        return Err(PromError::NotMatrix(data.result_type));
    }
    Ok(data
        .result
        .into_iter()
        .map(|raw| {
            let mut s = Series {
                labels: raw.metric,
                t: Vec::with_capacity(raw.values.len()),
                y: Vec::with_capacity(raw.values.len()),
                non_finite: 0,
                gaps: 0,
            };
            for (t, v) in raw.values {
                match v.parse::<f64>() {
                    Ok(y) if y.is_finite() => {
                        if s.t.last().is_some_and(|&last| t - last > 1.5 * step) {
                            s.gaps += 1;
                        }
                        s.t.push(t);
                        s.y.push(y);
                    }
                    _ => s.non_finite += 1,
                }
            }
            s
        })
        .collect())
}

/// Append the series of one window to those already read (a series is
/// matched by its labels).
fn merge(into: &mut Vec<Series>, more: Vec<Series>, step: f64) {
    for s in more {
        match into.iter_mut().find(|x| x.labels == s.labels) {
            Some(x) => {
                if let (Some(&last), Some(&first)) = (x.t.last(), s.t.first())
                    && first - last > 1.5 * step
                {
                    x.gaps += 1;
                }
                x.t.extend(s.t);
                x.y.extend(s.y);
                x.non_finite += s.non_finite;
                x.gaps += s.gaps;
            }
            None => into.push(s),
        }
    }
}

/// Run a range query: every series, windows of `MAX_POINTS` steps
/// stitched together. `shown` is the server as messages show it (no user
/// info, no query string).
pub fn query_range(q: &RangeQuery, shown: &str) -> Result<Vec<Series>, PromError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(q.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let endpoint = format!("{}/api/v1/query_range", q.url.trim_end_matches('/'));
    let window = q.step * MAX_POINTS as f64;
    let mut out = Vec::new();
    let mut from = q.start;
    loop {
        let to = (from + window).min(q.end);
        let read = agent
            .get(&endpoint)
            .query("query", &q.query)
            .query("start", format!("{from:.3}"))
            .query("end", format!("{to:.3}"))
            .query("step", format!("{}", q.step))
            .call()
            .and_then(|mut r| {
                let status = r.status().as_u16();
                r.body_mut()
                    .with_config()
                    .limit(4 * 1024 * 1024 * 1024)
                    .read_to_string()
                    .map(|t| (status, t))
            });
        let (status, text) = read.map_err(|e| match e {
            ureq::Error::Timeout(_) => PromError::TimedOut {
                url: shown.into(),
                after: crate::units::fmt_secs(q.timeout.as_secs_f64()),
            },
            e => PromError::Unreachable {
                url: shown.into(),
                why: e.to_string(),
            },
        })?;
        // NOTE: Prometheus answers a bad query with 400 and a JSON error;
        // anything else that is not JSON is not Prometheus.
        let part = parse_reply(&text, shown, q.step).map_err(|e| match e {
            PromError::NotProm { .. } if status != 200 => PromError::NotProm {
                url: shown.into(),
                why: format!(
                    "HTTP {status}: {}",
                    text.chars().take(120).collect::<String>()
                ),
            },
            e => e,
        })?;
        merge(&mut out, part, q.step);
        // NOTE: Prometheus includes both ends; the next window starts one
        // step after this one's end.
        from = to + q.step;
        if from > q.end {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_series_counting_gaps_and_non_finite_points() {
        let text = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"memsoak_rss_bytes","run_id":"a"},
             "values":[[100,"1"],[115,"2"],[130,"NaN"],[145,"4"],[205,"5"],[220,"+Inf"]]},
            {"metric":{"run_id":"b"},"values":[[100,"7"]]}]}}"#;
        let s = parse_reply(text, "http://p", 15.0).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].t, vec![100.0, 115.0, 145.0, 205.0]);
        assert_eq!(s[0].y, vec![1.0, 2.0, 4.0, 5.0]);
        assert_eq!(s[0].non_finite, 2);
        // 115 → 145 skips the NaN's step (a gap), 145 → 205 three steps.
        assert_eq!(s[0].gaps, 2);
        assert_eq!(s[0].name(), r#"memsoak_rss_bytes{run_id="a"}"#);
        assert_eq!(s[1].name(), r#"{run_id="b"}"#);
    }

    #[test]
    fn the_metric_is_read_from_the_series_name() {
        let of = |n: &str| infer_metric(&BTreeMap::from([("__name__".to_string(), n.to_string())]));
        assert_eq!(of("memsoak_heap_bytes"), Some(Metric::Heap));
        assert_eq!(
            of("memsoak_cgroup_working_set_bytes"),
            Some(Metric::CgroupWorkingSet)
        );
        assert_eq!(
            of("container_memory_working_set_bytes"),
            Some(Metric::CgroupWorkingSet)
        );
        assert_eq!(
            of("node_memory_MemAvailable_bytes"),
            Some(Metric::SysAvailable)
        );
        assert_eq!(of("node_memory_Shmem_bytes"), Some(Metric::SysShmem));
        assert_eq!(of("node_load1"), None);
        assert_eq!(infer_metric(&BTreeMap::new()), None);
    }

    #[test]
    fn errors_are_named() {
        let e = parse_reply(
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 4"}"#,
            "http://p",
            15.0,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "--query: Prometheus refused it: bad_data: parse error at char 4"
        );
        // Regression: a scalar or a string result was a raw serde error
        // ("invalid type: integer, expected struct RawSeries").
        for (kind, result) in [("scalar", "[1,\"2\"]"), ("string", "[1,\"up\"]")] {
            let reply = format!(
                r#"{{"status":"success","data":{{"resultType":"{kind}","result":{result}}}}}"#
            );
            let e = parse_reply(&reply, "http://p", 15.0).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("--query: Prometheus returned a {kind}, not a matrix (series over time)")
            );
        }
        let e = parse_reply(
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
            "http://p",
            15.0,
        )
        .unwrap_err();
        assert!(e.to_string().contains("an instant vector"), "{e}");
        let e = parse_reply("<html>", "http://p", 15.0).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--prometheus http://p: not a Prometheus API reply")
        );
    }

    /// `up` over a minute from a server on loopback at `port`.
    fn up_on(port: u16, timeout: Duration) -> RangeQuery {
        RangeQuery {
            url: format!("http://127.0.0.1:{port}"),
            query: "up".into(),
            start: 0.0,
            end: 60.0,
            step: 15.0,
            timeout,
        }
    }

    #[test]
    fn an_unreachable_server_is_one_line() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let q = up_on(port, Duration::from_secs(5));
        let e = query_range(&q, "http://127.0.0.1").unwrap_err().to_string();
        assert!(
            e.starts_with("--prometheus http://127.0.0.1: cannot reach it"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }

    #[test]
    fn a_server_slower_than_the_timeout_is_said_to_time_out() {
        // Regression: it was "cannot reach it: timeout: global".
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts, reads the request and never answers.
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(1).collect();
            std::thread::sleep(Duration::from_secs(10));
            drop(held);
        });
        let q = up_on(port, Duration::from_secs(1));
        let e = query_range(&q, "http://127.0.0.1").unwrap_err().to_string();
        assert_eq!(
            e,
            "--prometheus http://127.0.0.1: timed out after 1 s (no whole reply)"
        );
    }

    proptest::proptest! {
        // Outside input never panics: any text is series or one error, and
        // every kept point is finite with its time.
        #[test]
        fn any_reply_is_series_or_one_error(
            text in "\\PC{0,200}",
            values in proptest::collection::vec(("[1-9][0-9]{0,3}", "(NaN|[+-]Inf|-?[0-9]{1,6}(\\.[0-9]{1,3})?|x)"), 0..20),
        ) {
            let _ = parse_reply(&text, "http://p", 15.0);
            let pts: Vec<String> = values.iter().map(|(t, v)| format!("[{t},\"{v}\"]")).collect();
            let reply = format!(
                r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{}]}}]}}}}"#,
                pts.join(",")
            );
            let s = parse_reply(&reply, "http://p", 15.0).unwrap();
            proptest::prop_assert_eq!(s[0].t.len(), s[0].y.len());
            proptest::prop_assert_eq!(s[0].t.len() + s[0].non_finite, values.len());
            proptest::prop_assert!(s[0].y.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn windows_are_stitched_by_labels() {
        let mk = |t: Vec<f64>| Series {
            labels: BTreeMap::from([("a".to_string(), "1".to_string())]),
            y: t.clone(),
            t,
            non_finite: 0,
            gaps: 0,
        };
        let mut all = vec![mk(vec![0.0, 15.0])];
        merge(&mut all, vec![mk(vec![30.0, 45.0])], 15.0);
        merge(&mut all, vec![mk(vec![90.0])], 15.0);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].t, vec![0.0, 15.0, 30.0, 45.0, 90.0]);
        assert_eq!(all[0].gaps, 1);
    }
}
