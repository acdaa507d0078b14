//! Where memory grows: the live bytes of every allocation site over a
//! run's periodic heap snapshots (tracemalloc's for Python targets,
//! jemalloc's sampled heap profiles for the in-process backends), fitted
//! with the gate's own drift statistics, ranked by significant growth and
//! share of the traced growth. Pure: snapshots in, ranked sites out; no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Estimate, nan_if_null};
use crate::stats;
use crate::units::{KIB, fmt_bytes};

/// Materiality floor of a site: fitted growth over the snapshots below this
/// is never named, however significant.
pub const MIN_SITE_GROWTH: f64 = 64.0 * KIB;
/// A site must also hold this share of its process's traced growth.
pub const MIN_SITE_SHARE: f64 = 0.01;
/// Sites kept in the report.
pub const TOP_SITES: usize = 10;
/// Fewest snapshots of a process whose sites are fitted at all (the
/// increment test and step rate below [`DRIFT_SNAPSHOTS`]).
pub const MIN_SNAPSHOTS: usize = 3;
/// From this many snapshots on, a site's drift is [`stats::drift`]'s.
pub const DRIFT_SNAPSHOTS: usize = 8;

/// What took a run's snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tracer {
    /// Python's tracemalloc, in every Python process of a target.
    #[default]
    Tracemalloc,
    /// jemalloc's sampled heap profiles of memsoak's own process (the
    /// in-process backends).
    Jemalloc,
}

impl Tracer {
    /// The name in files and reports: `tracemalloc`, `jemalloc`.
    pub fn name(self) -> &'static str {
        match self {
            Tracer::Tracemalloc => "tracemalloc",
            Tracer::Jemalloc => "jemalloc",
        }
    }

    /// The tracer of that name.
    pub fn from_name(name: &str) -> Option<Tracer> {
        [Tracer::Tracemalloc, Tracer::Jemalloc]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

/// One heap snapshot of one process, as the analysis takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The process.
    pub pid: u32,
    /// The request it answered (increasing over a run).
    pub seq: u32,
    /// When it was taken, seconds (any origin, the same for every snapshot
    /// of a process).
    pub t_s: f64,
    /// All bytes the tracer saw live, listed sites or not.
    pub traced_bytes: f64,
    /// Live bytes per site. A site absent from a snapshot had less than the
    /// tracer's listing floor (1 KiB for tracemalloc), read as 0.
    pub sites: Vec<SiteBytes>,
}

/// The live bytes of one site in one snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteBytes {
    /// The site: its frames (`file:line`), most recent first.
    pub frames: Vec<String>,
    /// The source line of the first frame, when the tracer could read it.
    pub code: String,
    /// Live bytes allocated there.
    pub bytes: f64,
    /// Live blocks allocated there.
    pub count: u64,
}

/// The attribution of a run: where the traced memory grew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// What took the snapshots (`tracemalloc`, `jemalloc`).
    pub source: String,
    /// Snapshots read, all processes together.
    pub snapshots: usize,
    /// The processes that took them.
    pub processes: Vec<u32>,
    /// Fitted growth of everything traced over the snapshots, bytes (summed
    /// over the processes).
    #[serde(default)]
    pub traced_growth: Option<f64>,
    /// The run's fitted RSS growth after warm-up, bytes, for comparison.
    #[serde(default)]
    pub rss_growth: Option<f64>,
    /// What the tracer could see of the growth, in one sentence.
    pub visibility: String,
    /// The top sites by significant growth, then growth.
    pub sites: Vec<SiteDrift>,
    /// Snapshots left out, too few to fit.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The drift of one site's live bytes over the snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteDrift {
    /// The process.
    pub pid: u32,
    /// `file:line` frames, most recent first.
    pub frames: Vec<String>,
    /// The source line of the first frame.
    #[serde(default)]
    pub code: String,
    /// Live bytes at the first snapshot.
    pub bytes_first: f64,
    /// Live bytes at the last snapshot.
    pub bytes_last: f64,
    /// Live blocks at the last snapshot.
    pub count_last: u64,
    /// Drift, bytes per minute, with its confidence interval.
    pub slope_per_min: Estimate,
    /// Trend test p-value.
    #[serde(deserialize_with = "nan_if_null")]
    pub p_value: f64,
    /// `drift` ([`stats::drift`], 8 snapshots or more) or `increments`
    /// (the increment test and step rate, 3–7 snapshots).
    pub method: String,
    /// Fitted growth over the snapshots' span, bytes.
    pub growth: f64,
    /// Share of its process's fitted traced growth.
    #[serde(default)]
    pub share: Option<f64>,
    /// Growing with significance (p below 1 − confidence, the interval above
    /// 0) and above the materiality floors.
    pub significant: bool,
    /// The live bytes at each snapshot of the process, `[seconds since its
    /// first snapshot, bytes]` (0 where a snapshot did not list the site):
    /// the series the drift was fitted to. Empty in a report written
    /// before it was kept.
    #[serde(default)]
    pub series: Vec<[f64; 2]>,
}

impl SiteDrift {
    /// The site in a few words: `file.py:24 ← file.py:30` (file names
    /// without folders).
    pub fn short(&self) -> String {
        self.frames
            .iter()
            .map(|f| f.rsplit('/').next().unwrap_or(f).to_string())
            .collect::<Vec<_>>()
            .join(" ← ")
    }
}

/// A fit of one series: slope per second with its interval, p, method.
struct Fit {
    slope: f64,
    ci_low: f64,
    ci_high: f64,
    p: f64,
    method: &'static str,
}

/// Fit `y` over `x` (seconds): [`stats::drift`] from
/// [`DRIFT_SNAPSHOTS`] points on, else the increment test with the step
/// rate's interval; `None` below [`MIN_SNAPSHOTS`]. Cost: that of
/// [`stats::drift`], O(n) with n ≤ a few dozen snapshots.
fn fit(x: &[f64], y: &[f64], confidence: f64) -> Option<Fit> {
    if y.len() >= DRIFT_SNAPSHOTS {
        let d = stats::drift(x, y, confidence)?;
        return Some(Fit {
            slope: d.slope,
            ci_low: d.ci_low,
            ci_high: d.ci_high,
            p: d.p_value,
            method: "drift",
        });
    }
    if y.len() < MIN_SNAPSHOTS {
        return None;
    }
    let inc = stats::increment_test(y)?;
    let (slope, ci_low, ci_high) = stats::trend::step_rate(x, y, confidence)?;
    Some(Fit {
        slope,
        ci_low,
        ci_high,
        p: inc.p_value,
        method: "increments",
    })
}

/// The growth of `y` over `x`'s span read from its fit, else last − first.
fn growth(x: &[f64], y: &[f64], f: Option<&Fit>) -> f64 {
    let span = x.last().copied().unwrap_or(0.0) - x.first().copied().unwrap_or(0.0);
    match f {
        Some(f) if f.slope.is_finite() => f.slope * span,
        _ => y.last().copied().unwrap_or(0.0) - y.first().copied().unwrap_or(0.0),
    }
}

/// Where the traced memory grew: for every process, every site's live bytes
/// over its snapshots (in `seq` order) fitted as the gate fits a metric;
/// the sites above both materiality floors ([`MIN_SITE_GROWTH`],
/// [`MIN_SITE_SHARE`]) ranked significant first, then by growth, top
/// [`TOP_SITES`]. `tracer` took the snapshots; `rss_growth` is the run's
/// fitted RSS growth, for the visibility sentence.
///
/// Cost: O(S · k) for S distinct sites over k snapshots, plus one fit per
/// site whose range reaches the floor.
///
/// # Examples
/// ```
/// use memsoak::analysis::attribution::{attribute, SiteBytes, Snapshot, Tracer};
/// let snaps: Vec<Snapshot> = (0..10)
///     .map(|i| Snapshot {
///         pid: 7,
///         seq: i + 2,
///         t_s: f64::from(i),
///         traced_bytes: 1e6 + 1e6 * f64::from(i),
///         sites: vec![SiteBytes {
///             frames: vec!["app.py:12".into()],
///             code: "kept.append(x)".into(),
///             bytes: 1e6 * f64::from(i),
///             count: u64::from(i),
///         }],
///     })
///     .collect();
/// let a = attribute(&snaps, Tracer::Tracemalloc, None, 0.95);
/// assert!(a.sites[0].significant);
/// assert_eq!(a.sites[0].frames, ["app.py:12"]);
/// ```
pub fn attribute(
    snapshots: &[Snapshot],
    tracer: Tracer,
    rss_growth: Option<f64>,
    confidence: f64,
) -> Attribution {
    let alpha = 1.0 - confidence;
    let mut by_pid: BTreeMap<u32, BTreeMap<u32, &Snapshot>> = BTreeMap::new();
    for s in snapshots {
        by_pid.entry(s.pid).or_default().insert(s.seq, s);
    }
    let mut notes = Vec::new();
    if snapshots.is_empty() {
        notes.push(
            match tracer {
                Tracer::Tracemalloc => {
                    "no snapshot was taken: the target is not a Python program, \
                                    ignored PYTHONPATH (python -E or -I), or ended before the \
                                    second request after warm-up"
                }
                Tracer::Jemalloc => {
                    "no snapshot was taken: the run ended before the second \
                                 request after warm-up"
                }
            }
            .to_string(),
        );
    }
    let mut sites = Vec::new();
    let mut traced_growth: Option<f64> = None;
    for (pid, snaps) in &by_pid {
        let snaps: Vec<&Snapshot> = snaps.values().copied().collect();
        if snaps.len() < MIN_SNAPSHOTS {
            notes.push(format!(
                "pid {pid}: {} snapshot(s), too few to fit a site's drift ({MIN_SNAPSHOTS} at least)",
                snaps.len()
            ));
            continue;
        }
        let t0 = snaps[0].t_s;
        let x: Vec<f64> = snaps.iter().map(|s| s.t_s - t0).collect();
        let total: Vec<f64> = snaps.iter().map(|s| s.traced_bytes).collect();
        let total_growth = growth(&x, &total, fit(&x, &total, confidence).as_ref());
        *traced_growth.get_or_insert(0.0) += total_growth;
        // Every site's series, 0 where a snapshot did not list it.
        let mut series: BTreeMap<&[String], (Vec<f64>, &str, u64)> = BTreeMap::new();
        for (i, s) in snaps.iter().enumerate() {
            for b in &s.sites {
                let e = series
                    .entry(b.frames.as_slice())
                    .or_insert_with(|| (vec![0.0; snaps.len()], b.code.as_str(), 0));
                e.0[i] += b.bytes;
                if i + 1 == snaps.len() {
                    e.2 += b.count;
                }
            }
        }
        for (frames, (y, code, count_last)) in series {
            let (lo, hi) = y
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            // NOTE: a fitted growth is at most the series' range (drift
            // clamps to it; the step rate is last − first), so a site whose
            // range is under the floor is never material: no fit needed.
            if hi - lo < MIN_SITE_GROWTH {
                continue;
            }
            let Some(f) = fit(&x, &y, confidence) else {
                continue;
            };
            let g = growth(&x, &y, Some(&f));
            let share = (total_growth > 0.0).then(|| g / total_growth);
            let material = g >= MIN_SITE_GROWTH && share.is_none_or(|s| s >= MIN_SITE_SHARE);
            if !material {
                continue;
            }
            let significant = f.p < alpha && f.slope > 0.0 && f.ci_low > 0.0;
            sites.push(SiteDrift {
                pid: *pid,
                frames: frames.to_vec(),
                code: code.to_string(),
                bytes_first: y[0],
                bytes_last: y[y.len() - 1],
                count_last,
                slope_per_min: Estimate {
                    value: f.slope * 60.0,
                    ci_low: f.ci_low * 60.0,
                    ci_high: f.ci_high * 60.0,
                },
                p_value: f.p,
                method: f.method.into(),
                growth: g,
                share,
                significant,
                series: x.iter().zip(&y).map(|(t, b)| [*t, *b]).collect(),
            });
        }
    }
    sites.sort_by(|a, b| {
        b.significant
            .cmp(&a.significant)
            .then(b.growth.total_cmp(&a.growth))
    });
    sites.truncate(TOP_SITES);
    Attribution {
        source: tracer.name().into(),
        snapshots: snapshots.len(),
        processes: by_pid.keys().copied().collect(),
        traced_growth,
        rss_growth,
        visibility: visibility(tracer, traced_growth, rss_growth),
        sites,
        notes,
    }
}

/// What the tracer saw of the growth, in one sentence.
fn visibility(tracer: Tracer, traced: Option<f64>, rss: Option<f64>) -> String {
    let name = tracer.name();
    let Some(t) = traced else {
        return format!("{name} took too few snapshots to say where memory grew.");
    };
    let (blind, outside) = match tracer {
        Tracer::Tracemalloc => (
            "memory from C/C++ allocators (torch CPU tensors, native \
             extensions' own heaps) is invisible to it",
            "outside the Python heap",
        ),
        Tracer::Jemalloc => (
            "it sees memsoak's whole heap, sampled (one allocation per 512 KiB \
             allocated on average, scaled up), but not memory mapped outside \
             malloc (model files, thread stacks) nor pages the allocator keeps \
             after a free",
            "outside the live heap",
        ),
    };
    match rss.filter(|r| *r > 0.0) {
        Some(r) if t < 0.5 * r => format!(
            "{name} saw {} of the RSS growth {} ({:.0}%); {blind}, so most of this \
             growth is {outside} and the metric pattern above applies to it.",
            fmt_bytes(t.max(0.0)),
            fmt_bytes(r),
            100.0 * t.max(0.0) / r
        ),
        Some(r) => format!(
            "{name} saw {} of the RSS growth {}; {blind}.",
            fmt_bytes(t.max(0.0)),
            fmt_bytes(r)
        ),
        None => format!("{name} saw {} of traced growth; {blind}.", fmt_bytes(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::MIB;

    fn attribute_t(s: &[Snapshot], rss: Option<f64>, c: f64) -> Attribution {
        attribute(s, Tracer::Tracemalloc, rss, c)
    }

    /// `n` snapshots of one process, 10 s apart: a site leaking `leak` bytes
    /// per snapshot, one churning around 512 KiB, one flat at 4 MiB.
    fn run(n: u32, leak: f64) -> Vec<Snapshot> {
        (0..n)
            .map(|i| {
                let k = f64::from(i);
                let churn = 512.0 * KIB + if i % 2 == 0 { 30e3 } else { -30e3 };
                let site = |f: &str, bytes: f64| SiteBytes {
                    frames: vec![f.into(), "main.py:40".into()],
                    code: String::new(),
                    bytes,
                    count: 1,
                };
                let mut sites = vec![site("churn.py:9", churn), site("model.py:3", 4.0 * MIB)];
                if i > 0 {
                    sites.push(site("leak.py:21", leak * k));
                }
                Snapshot {
                    pid: 1,
                    seq: i + 2,
                    t_s: 1.7e9 + 10.0 * k,
                    traced_bytes: 4.0 * MIB + churn + leak * k + 2e4,
                    sites,
                }
            })
            .collect()
    }

    #[test]
    fn a_leaking_line_is_the_top_site_with_nearly_all_of_the_growth() {
        let a = attribute_t(&run(10, 256.0 * KIB), Some(40.0 * MIB), 0.95);
        let top = &a.sites[0];
        assert_eq!(top.frames[0], "leak.py:21");
        assert!(top.significant && top.method == "drift", "{top:?}");
        assert!(top.share.unwrap() > 0.9, "{top:?}");
        // 256 KiB per 10 s.
        assert!(
            (top.slope_per_min.value - 1.5 * MIB).abs() < 0.01 * MIB,
            "{top:?}"
        );
        assert_eq!(top.bytes_first, 0.0);
        assert_eq!(top.bytes_last, 9.0 * 256.0 * KIB);
        // The series fitted: one point per snapshot, 10 s apart.
        assert_eq!(top.series.len(), 10);
        assert_eq!(top.series[3], [30.0, 3.0 * 256.0 * KIB]);
        assert!(a.sites.iter().skip(1).all(|s| !s.significant), "{a:?}");
        assert!(
            a.visibility.contains("of the RSS growth 40.0 MiB"),
            "{}",
            a.visibility
        );
        assert!(
            a.visibility.contains("outside the Python heap"),
            "{}",
            a.visibility
        );
    }

    #[test]
    fn a_healthy_run_names_no_site() {
        let a = attribute_t(&run(10, 0.0), Some(0.0), 0.95);
        assert!(a.sites.iter().all(|s| !s.significant), "{a:?}");
    }

    #[test]
    fn three_to_seven_snapshots_use_the_increment_test() {
        let a = attribute_t(&run(5, 256.0 * KIB), None, 0.95);
        let top = &a.sites[0];
        assert_eq!(top.frames[0], "leak.py:21");
        assert_eq!(top.method, "increments");
        assert!(top.significant, "{top:?}");
    }

    #[test]
    fn growth_below_the_floor_is_never_named() {
        // 4 KiB per snapshot: significant, but 36 KiB in all.
        let a = attribute_t(&run(10, 4.0 * KIB), None, 0.95);
        assert!(a.sites.iter().all(|s| s.frames[0] != "leak.py:21"), "{a:?}");
    }

    #[test]
    fn too_few_snapshots_are_a_note_not_a_fit() {
        let a = attribute_t(&run(2, 256.0 * KIB), None, 0.95);
        assert!(a.sites.is_empty());
        assert_eq!(a.traced_growth, None);
        assert!(a.notes[0].contains("2 snapshot(s)"), "{:?}", a.notes);
        assert!(a.visibility.contains("too few"), "{}", a.visibility);
    }

    #[test]
    fn no_snapshot_at_all_says_why_it_may_be() {
        let a = attribute_t(&[], Some(1e6), 0.95);
        assert!(a.sites.is_empty() && a.processes.is_empty());
        assert!(a.notes[0].contains("not a Python program"), "{:?}", a.notes);
    }

    #[test]
    fn jemallocs_snapshots_are_named_and_their_blind_spots_said() {
        let a = attribute(
            &run(10, 256.0 * KIB),
            Tracer::Jemalloc,
            Some(40.0 * MIB),
            0.95,
        );
        assert_eq!(a.source, "jemalloc");
        assert!(a.visibility.starts_with("jemalloc saw"), "{}", a.visibility);
        assert!(
            a.visibility.contains("outside the live heap"),
            "{}",
            a.visibility
        );
        let a = attribute(&[], Tracer::Jemalloc, None, 0.95);
        assert!(!a.notes[0].contains("Python"), "{:?}", a.notes);
        assert_eq!(Tracer::from_name("jemalloc"), Some(Tracer::Jemalloc));
        assert_eq!(Tracer::from_name("perf"), None);
    }

    #[test]
    fn processes_are_fitted_apart() {
        let mut snaps = run(10, 256.0 * KIB);
        snaps.extend(run(10, 0.0).into_iter().map(|s| Snapshot { pid: 2, ..s }));
        let a = attribute_t(&snaps, None, 0.95);
        assert_eq!(a.processes, [1, 2]);
        let named: Vec<_> = a.sites.iter().filter(|s| s.significant).collect();
        assert_eq!(named.len(), 1, "{a:?}");
        assert_eq!(named[0].pid, 1);
    }

    #[test]
    fn attribution_round_trips_through_json() {
        let a = attribute_t(&run(10, 256.0 * KIB), Some(1.0), 0.95);
        let back: Attribution = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
        // A report written before the series was kept still reads.
        let mut v = serde_json::to_value(&a).unwrap();
        v["sites"][0].as_object_mut().unwrap().remove("series");
        let old: Attribution = serde_json::from_value(v).unwrap();
        assert!(old.sites[0].series.is_empty());
        assert_eq!(old.sites[0].frames, a.sites[0].frames);
    }
}
