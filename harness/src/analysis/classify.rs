//! Leak classification: from the per-metric analyses together, name the most
//! likely pattern (live heap, allocator retention, bounded cache, GPU caching
//! allocator, host memory pressure, growth confined to one process of the
//! tree) with the numbers that support it.
//!
//! Pure: consumes an [`Analysis`] (and optionally the steady-state shape of a
//! few series, see [`shapes`], and the drift of each process of the tree,
//! see [`process_trends`]); does no I/O. When the evidence does not point
//! one way the answer is [`Pattern::Unknown`]: a wrong confident answer sends
//! people to the wrong fix, an honest "unknown" does not.

use serde::{Deserialize, Serialize};

use crate::analysis::attribution::Attribution;
use crate::analysis::samples::ProcessTable;
use crate::analysis::samples::SampleTable;
use crate::analysis::threshold::Op;
use crate::analysis::{Analysis, MetricAnalysis, Outcome, ThresholdResult};
use crate::sample::Metric;
use crate::units::{fmt_bytes, fmt_secs};

/// The patterns memsoak can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Nothing grows after warm-up.
    Steady,
    /// Live objects accumulate in the process: the jemalloc heap grows.
    LiveHeapGrowth,
    /// RSS grows while the live heap is flat: the allocator keeps freed
    /// pages (retention or fragmentation).
    AllocatorRetention,
    /// Growth that stops: a bounded cache filling, or a warm-up transient.
    BoundedPlateau,
    /// GPU memory grows while host memory is flat: a caching allocator.
    GpuCachingAllocator,
    /// The host runs short: swap grows (and available memory falls).
    HostMemoryPressure,
    /// The tree's growth is one process's: it grows, the others are flat.
    OneProcess,
    /// RSS grows in file-backed pages while anonymous memory is flat: mapped
    /// files being read (a memory-mapped dataset or model), not a heap.
    MappedFiles,
    /// The tree's memory is flat while the host's shared memory grows:
    /// files left in `/dev/shm` (or tmpfs), which no process's RSS counts.
    SharedMemory,
    /// Growth whose cause the samples cannot tell.
    Unknown,
}

impl Pattern {
    /// A short title for people.
    pub fn title(self) -> &'static str {
        match self {
            Pattern::Steady => "steady: no growth after warm-up",
            Pattern::LiveHeapGrowth => "live-heap growth in the process",
            Pattern::AllocatorRetention => "allocator retention / fragmentation",
            Pattern::BoundedPlateau => "bounded cache / warm-up plateau",
            Pattern::GpuCachingAllocator => "GPU caching allocator",
            Pattern::HostMemoryPressure => "host memory pressure",
            Pattern::OneProcess => "growth confined to one process of the tree",
            Pattern::MappedFiles => "file-backed pages: mapped files being read",
            Pattern::SharedMemory => "shared memory left outside the tree (/dev/shm)",
            Pattern::Unknown => "unknown",
        }
    }
}

/// How strongly the evidence points at the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Consistent with the pattern, but other readings remain open.
    Low,
    /// The main signals agree.
    Medium,
    /// The main signals agree by a wide margin.
    High,
}

/// What one metric did after warm-up, as the classifier reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Significant and material growth.
    Grows,
    /// Significant and material fall.
    Falls,
    /// No material change (whatever the p-value).
    Flat,
    /// A material change that is not statistically significant.
    Unclear,
}

/// One metric's numbers behind a classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The metric.
    pub metric: Metric,
    /// How the classifier reads it.
    pub trend: Trend,
    /// Drift after warm-up, bytes per minute.
    pub slope_per_min: Option<f64>,
    /// Fitted growth after warm-up, bytes.
    pub growth: Option<f64>,
    /// Trend p-value.
    pub p_value: Option<f64>,
    /// Last sample minus first sample, bytes (warm-up included).
    pub rise: f64,
    /// The first sample, bytes: where `rise` is counted from. A watched
    /// command's first sample is taken as it is spawned, before its
    /// interpreter has loaded. `None` in reports written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<f64>,
    /// Whether the steady-state growth flattens (late half much slower
    /// than the early half, and growing by less than the materiality floor),
    /// when the samples were looked at.
    pub flattens: Option<bool>,
    /// Where growth began late or sped up (seconds from the start): the
    /// slope, growth and p are then a trailing window's, from here to the
    /// end ([`crate::analysis::LateWindow`]), whose rate rose above the
    /// whole steady state's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_from_s: Option<f64>,
    /// The fit read one to three drops (the `long-cycle` model): no trend
    /// test (p = 1, its interval the data's range), or one on three floors'
    /// single degree of freedom. No growth found there is not evidence of
    /// none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub untested: bool,
    /// Growth that did not flatten but measurably slowed: the drifts of
    /// the steady state's two halves, where the second is at most two
    /// thirds of the first and below it by more than 1.645 standard errors
    /// (one-sided 5%). A cache still filling, in a run too short to see it
    /// level off, reads so; so does a leak under one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowed: Option<Halves>,
}

/// The drifts of the two halves of a steady state, bytes per minute, with
/// the second's 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Halves {
    /// The first half's drift.
    pub early_per_min: f64,
    /// The second half's drift.
    pub late_per_min: f64,
    /// The second half's drift, 95% interval.
    pub late_ci_per_min: [f64; 2],
}

impl Evidence {
    /// Growth past the materiality floor that is not significant: what the
    /// run cannot tell from noise, or from a plateau still settling.
    pub fn grows_unclearly(&self) -> bool {
        self.trend == Trend::Unclear && self.growth.unwrap_or(0.0) > 0.0
    }

    /// A long-cycle fit that ran no trend test at all (one or two drops:
    /// p = 1), where three floors' is a test on one degree of freedom.
    fn no_trend_test(&self) -> bool {
        self.untested && self.p_value.is_none_or(|p| p >= 1.0)
    }

    /// Where the growth slowed ([`Evidence::slowed`]), one clause for
    /// people: `rss's growth slowed: 21.0 MiB/min over the first half of
    /// the steady state, 6.10 MiB/min over the second (95% CI …)`; `None`
    /// where it did not.
    pub fn describe_slowing(&self) -> Option<String> {
        let h = self.slowed?;
        Some(format!(
            "{}'s growth slowed: {}/min over the first half of the steady state, {}/min over the second (95% CI {}/min … {}/min), as a cache still filling does, or a leak under one",
            self.metric,
            fmt_bytes(h.early_per_min),
            fmt_bytes(h.late_per_min),
            fmt_bytes(h.late_ci_per_min[0]),
            fmt_bytes(h.late_ci_per_min[1]),
        ))
    }

    /// One line for people: `heap: +21.4 MiB after warm-up (177 MiB/min, p=0.010)`.
    pub fn describe(&self) -> String {
        let mut s = format!("{}: ", self.metric);
        match (self.growth, self.slope_per_min) {
            (Some(g), Some(r)) => {
                let sign = if g >= 0.0 { "+" } else { "" };
                let since = self
                    .late_from_s
                    .map_or("after warm-up".to_string(), |from| {
                        format!("from {} on, where its rate rose", fmt_secs(from))
                    });
                s.push_str(&format!(
                    "{sign}{} {since} ({}/min",
                    fmt_bytes(g),
                    fmt_bytes(r)
                ));
                if let Some(p) = self.p_value {
                    s.push_str(&format!(", {}", crate::units::fmt_p_is(p)));
                }
                s.push(')');
            }
            _ => s.push_str("no drift fit"),
        }
        // NOTE: the rise is counted from the first sample, which for a
        // watched command is the just-spawned process: "+65.3 MiB over the
        // run" was mostly an interpreter's start-up (from 200 KiB). Its base
        // is named so it is not read as growth.
        match self.first {
            Some(first) => s.push_str(&format!(
                ", {} from the first sample ({})",
                signed(self.rise),
                fmt_bytes(first)
            )),
            None => s.push_str(&format!(", {} over the run", signed(self.rise))),
        }
        if self.flattens == Some(true) {
            s.push_str(", flattening");
        }
        s
    }
}

/// The steady-state shape of one series: drift of its early and late halves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    /// The metric.
    pub metric: Metric,
    /// Drift of the first half of the steady state, bytes/s.
    pub early_slope: f64,
    /// Drift of the second half, bytes/s.
    pub late_slope: f64,
    /// Whether the second half's trend is significant.
    pub late_significant: bool,
    /// Standard errors of the two drifts, bytes/s (each half's interval
    /// over its two-sided normal quantile); 0 where unknown.
    #[serde(default)]
    pub early_se: f64,
    /// See `early_se`.
    #[serde(default)]
    pub late_se: f64,
    /// Seconds covered by each half.
    pub half_span_s: f64,
}

/// The classifier's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// The most likely pattern.
    pub pattern: Pattern,
    /// How strongly the evidence points there.
    pub confidence: Confidence,
    /// One line for people, with the numbers.
    pub summary: String,
    /// The numbers of the metrics that were looked at.
    pub evidence: Vec<Evidence>,
    /// What to try next.
    pub advice: Vec<String>,
    /// The process the growth is confined to (pattern `one_process`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessFinding>,
    /// What the tree's largest processes did after warm-up, most growth
    /// first (from `processes.csv`; empty without it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<ProcessTrend>,
    /// The allocation site the growth is traced to (`--attribute`): the top
    /// significantly growing site, in a few words ([`with_site`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// The classification, with the growth traced to where it is allocated:
/// the top significantly growing site of `--attribute`'s snapshots, named
/// in the summary ("… at `retain` (synthetic.rs:105), 100% of the
/// jemalloc-traced growth") and first in the advice, in place of the advice
/// to run with `--attribute`. Otherwise unchanged when no
/// site grows significantly, or when the pattern says nothing grows
/// (steady, a plateau): a site cannot make a leak of a run that has none.
pub fn with_site(mut c: Classification, a: &Attribution) -> Classification {
    // The run took snapshots: the advice to take them is moot.
    c.advice.retain(|s| s != ATTRIBUTE_ADVICE);
    if matches!(c.pattern, Pattern::Steady | Pattern::BoundedPlateau) {
        return c;
    }
    let Some(top) = a.sites.iter().find(|s| s.significant) else {
        return c;
    };
    // NOTE: tracemalloc's `code` is the source line, jemalloc's the
    // function; either reads better than the bare frames.
    let what = if top.code.is_empty() {
        format!("`{}`", top.short())
    } else {
        format!("`{}` ({})", top.code.trim(), top.short())
    };
    let share = top.share.map_or(String::new(), |s| {
        format!(", {:.0}% of the {}-traced growth", 100.0 * s, a.source)
    });
    let site = format!("{what}{share}");
    c.summary = format!("{}; at {site}", c.summary.trim_end_matches('.'));
    c.advice.insert(
        0,
        format!(
            "Start at {what}: it grew {} over the snapshots ({}).",
            fmt_bytes(top.growth),
            crate::units::fmt_p_is(top.p_value)
        ),
    );
    c.site = Some(site);
    c
}

/// What one process of the tree did after warm-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessTrend {
    /// Its pid.
    pub pid: u32,
    /// Its short command line.
    pub name: String,
    /// Readings of it (`processes.csv` rows).
    pub samples: usize,
    /// When it was first seen, seconds from the start.
    pub first_s: f64,
    /// When it was last seen.
    pub last_s: f64,
    /// Drift after warm-up, bytes per minute (`None`: too few readings).
    pub slope_per_min: Option<f64>,
    /// Fitted growth over the part of the steady state it was seen in, bytes.
    pub growth: Option<f64>,
    /// Trend p-value.
    pub p_value: Option<f64>,
    /// Whether the trend is significant.
    pub significant: bool,
    /// First reading, bytes.
    pub first: f64,
    /// Last reading, bytes.
    pub last: f64,
    /// Highest reading, bytes.
    pub max: f64,
    /// Where its fit began when that is not the end of warm-up but where
    /// the tree's rate rose late (seconds from the start; see
    /// [`classify_run`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_from_s: Option<f64>,
}

impl ProcessTrend {
    /// Whether it was read often enough to fit (a shim that exec'd at once
    /// was not).
    pub fn fitted(&self) -> bool {
        self.growth.is_some()
    }

    /// Significant growth that reaches the materiality floor.
    pub fn grows(&self, floor: f64) -> bool {
        self.significant && self.growth.is_some_and(|g| g >= floor)
    }

    /// One line for people: ``pid 42 `python3 w.py`: +38 MiB after warm-up (60 MiB/min, p<0.001)``.
    pub fn describe(&self) -> String {
        let what = match (self.growth, self.slope_per_min) {
            (Some(g), Some(r)) => format!(
                "{} {} ({}/min{})",
                signed(g),
                self.late_from_s
                    .map_or("after warm-up".to_string(), |f| format!(
                        "from {} on",
                        fmt_secs(f)
                    )),
                fmt_bytes(r),
                self.p_value.map_or(String::new(), |p| format!(
                    ", {}",
                    crate::units::fmt_p_is(p)
                ))
            ),
            _ => format!("too few readings to fit ({})", self.samples),
        };
        format!("pid {} `{}`: {what}", self.pid, self.name)
    }
}

/// The process a tree's growth is confined to, with the numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessFinding {
    /// Its pid.
    pub pid: u32,
    /// Its short command line.
    pub name: String,
    /// Its fitted growth after warm-up, bytes.
    pub growth: f64,
    /// Its drift, bytes per minute.
    pub slope_per_min: f64,
    /// The whole tree's fitted growth after warm-up (`rss`), bytes.
    pub tree_growth: f64,
    /// The tree's drift, bytes per minute.
    pub tree_slope_per_min: Option<f64>,
    /// `growth / tree_growth`.
    pub share: f64,
    /// Other processes seen.
    pub others: usize,
    /// The others' fitted growth, positive parts summed, bytes (what the
    /// share test weighs).
    pub others_growth: f64,
    /// The others' net fitted growth, bytes: rises and falls summed (what
    /// the summary says). 0 in reports written before it was kept.
    #[serde(default)]
    pub others_net: f64,
}

/// Share of the tree's growth one process must hold to be named.
const ONE_PROCESS_SHARE: f64 = 0.8;

/// Processes listed in a classification.
const LISTED_PROCESSES: usize = 8;

/// The drift of each process of `table` after the tree's warm-up (ending at
/// `warmup_end_s`), most growth first. A process first seen after the
/// warm-up (a worker started later) gets its own warm-up cut
/// ([`crate::stats::warmup_end`]) so its start-up is not read as growth;
/// its growth is over the part of the run it was seen in.
///
/// Cost: one drift fit per process, each O(n) plus the fit's bounded block
/// cost.
pub fn process_trends(
    table: &ProcessTable,
    warmup_end_s: f64,
    confidence: f64,
) -> Vec<ProcessTrend> {
    let mut out: Vec<ProcessTrend> = table
        .series
        .iter()
        .filter(|s| !s.t.is_empty())
        .map(|s| {
            let (mut t, mut y): (Vec<f64>, Vec<f64>) =
                s.t.iter()
                    .zip(&s.rss)
                    .filter(|(t, y)| **t >= warmup_end_s && y.is_finite())
                    .map(|(t, y)| (*t, *y))
                    .unzip();
            // NOTE: "later" means past one reading interval of the cut:
            // processes.csv is written about once a second.
            if t.first().is_some_and(|&t0| t0 > warmup_end_s + 1.5) {
                let w = crate::stats::warmup_end(&y);
                t.drain(..w);
                y.drain(..w);
            }
            let d = crate::stats::drift(&t, &y, confidence);
            let span = match (t.first(), t.last()) {
                (Some(a), Some(b)) => b - a,
                _ => 0.0,
            };
            let fold = |f: fn(f64, f64) -> f64, init| s.rss.iter().copied().fold(init, f);
            ProcessTrend {
                pid: s.pid,
                name: s.name.clone(),
                samples: s.t.len(),
                first_s: s.t[0],
                last_s: s.t[s.t.len() - 1],
                slope_per_min: d.as_ref().map(|d| d.slope * 60.0),
                growth: d.as_ref().map(|d| d.slope * span),
                p_value: d.as_ref().map(|d| d.p_value),
                significant: d.as_ref().is_some_and(|d| d.significant),
                first: s.rss[0],
                last: s.rss[s.rss.len() - 1],
                max: fold(f64::max, f64::NEG_INFINITY),
                late_from_s: None,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let g = |p: &ProcessTrend| p.growth.unwrap_or(f64::NEG_INFINITY);
        g(b).total_cmp(&g(a)).then(a.pid.cmp(&b.pid))
    });
    out
}

/// The tree's RSS grew by more than this many times its PSS: the growth is
/// counted over again in the processes that share it. The out-of-memory
/// projection reads the anonymous drift against PSS's with the same factor.
pub(crate) const SHARED_OVERCOUNT: f64 = 1.5;

/// The process the tree's growth is confined to, if there is one: the tree
/// has at least two processes; one grows (significantly, past the floor)
/// by at least [`ONE_PROCESS_SHARE`] of the tree's fitted growth; no other
/// grows, and together the others add at most the rest.
fn one_process_finding(
    tree: &Evidence,
    procs: &[ProcessTrend],
    floor: f64,
) -> Option<ProcessFinding> {
    if procs.len() < 2 {
        return None;
    }
    let tree_growth = tree.growth.filter(|g| *g >= floor)?;
    let lead = procs
        .iter()
        .filter(|p| p.fitted())
        .max_by(|a, b| a.growth.unwrap_or(0.0).total_cmp(&b.growth.unwrap_or(0.0)))?;
    let growth = lead.growth?;
    if !lead.grows(floor) || growth < ONE_PROCESS_SHARE * tree_growth {
        return None;
    }
    let others: Vec<&ProcessTrend> = procs.iter().filter(|p| p.pid != lead.pid).collect();
    if others.iter().any(|p| p.grows(floor)) {
        return None;
    }
    let fitted = || others.iter().filter_map(|p| p.growth);
    let others_growth: f64 = fitted().map(|g| g.max(0.0)).sum();
    if others_growth > (1.0 - ONE_PROCESS_SHARE) * tree_growth {
        return None;
    }
    Some(ProcessFinding {
        pid: lead.pid,
        name: lead.name.clone(),
        growth,
        slope_per_min: lead.slope_per_min.unwrap_or(0.0),
        tree_growth,
        tree_slope_per_min: tree.slope_per_min,
        share: growth / tree_growth,
        others: others.len(),
        others_growth,
        others_net: fitted().sum(),
    })
}

/// Metrics whose steady-state shape [`shapes`] measures.
const SHAPED: [Metric; 4] = [Metric::Rss, Metric::Pss, Metric::Heap, Metric::Vram];

/// Fewest samples per half for a shape to be measured.
const MIN_HALF: usize = 12;

/// Measure the steady-state shape (early vs late drift) of the main series.
///
/// Cost: two drift fits per metric of `SHAPED` present, each
/// `O(n)` plus the fit's bounded block cost.
pub fn shapes(table: &SampleTable, analysis: &Analysis, confidence: f64) -> Vec<Shape> {
    let mut out = Vec::new();
    for metric in SHAPED {
        let (Some(col), Some(m)) = (table.column(metric), analysis.metric(metric)) else {
            continue;
        };
        let (t, y): (Vec<f64>, Vec<f64>) = table
            .t
            .iter()
            .zip(col)
            .filter(|(t, y)| y.is_finite() && **t >= m.warmup_end_s)
            .map(|(t, y)| (*t, *y))
            .unzip();
        if t.len() < 2 * MIN_HALF {
            continue;
        }
        let mid = (t[0] + t[t.len() - 1]) / 2.0;
        let cut = t.partition_point(|&x| x < mid);
        if cut < MIN_HALF || t.len() - cut < MIN_HALF {
            continue;
        }
        let z = crate::stats::normal_quantile(0.5 + 0.5 * confidence);
        let early = crate::stats::drift_of_part(&t[..cut], &y[..cut], confidence);
        let late = crate::stats::drift_of_part(&t[cut..], &y[cut..], confidence);
        if let (Some(e), Some(l)) = (early, late) {
            out.push(Shape {
                metric,
                early_slope: e.slope,
                late_slope: l.slope,
                late_significant: l.significant,
                early_se: (e.ci_high - e.ci_low) / (2.0 * z),
                late_se: (l.ci_high - l.ci_low) / (2.0 * z),
                half_span_s: mid - t[0],
            });
        }
    }
    out
}

fn signed(v: f64) -> String {
    if v >= 0.0 {
        format!("+{}", fmt_bytes(v))
    } else {
        fmt_bytes(v)
    }
}

/// How the classifier reads one metric, with `floor` as the smallest growth
/// that counts (the materiality floor).
pub fn read_metric(m: &MetricAnalysis, floor: f64, shape: Option<&Shape>) -> Evidence {
    let growth = m.growth.unwrap_or(0.0);
    let material = growth.abs() >= floor;
    let trend = match (m.significant, material) {
        (true, true) if growth > 0.0 => Trend::Grows,
        (true, true) => Trend::Falls,
        (false, true) => Trend::Unclear,
        (_, false) => Trend::Flat,
    };
    // NOTE: the late half must be measurably slower than the early one (the
    // difference past 1.645 standard errors, one-sided 5%): a small late
    // slope alone is what any half too noisy to fit gives. A 6 MiB/min leak
    // under ±8 MiB of thread-arena churn (90 s, failing its gate: halves
    // 8.5 MiB/min, CI 1.4–18.0, and 1.4, CI −7.4–8.2) was called "growth
    // that flattens, not (yet) a leak".
    // NOTE: and the late half must itself grow by less than the floor,
    // significant or not: a half too short to test its growth has not shown
    // that growth stopped. A cache filled to 120 MiB by 100 s over a
    // 6 MiB/min leak (3 min, failing its gate at 20.8 MiB/min, p = 0.001)
    // had halves of about 61 and 10 MiB/min, the late one not significant
    // in its 55 s, and was called "a cache filling towards its bound, not
    // (yet) a leak".
    let measurably_slower =
        |s: &Shape| s.early_slope - s.late_slope >= 1.645 * s.early_se.hypot(s.late_se);
    let flattens = shape.map(|s| {
        s.early_slope > 0.0
            && s.early_slope * s.half_span_s >= floor
            && s.late_slope <= 0.25 * s.early_slope
            && measurably_slower(s)
            && s.late_slope * s.half_span_s < floor
    });
    // NOTE: two thirds of the first half's rate at most, and measurably
    // below it: the same test as `flattens` with a weaker bound on the
    // ratio (at half, a cache filling as 1 − e^(−t/45 s) over 90 s, halves
    // of about 27 and 15 MiB/min, was read so in 35% of seeded runs; at
    // two thirds 82%, steady leaks 0–2% either way: the tests below). A
    // per-shape cache watched for 90 s (new batch shapes ever rarer; the
    // probe is described in `docs/detection-log.md`) grew 15.6 MiB/min
    // after warm-up and failed its gate with nothing said of its slowing.
    let slowed = shape.filter(|_| flattens != Some(true)).and_then(|s| {
        let slower = s.late_slope <= 2.0 / 3.0 * s.early_slope && measurably_slower(s);
        (s.early_slope > 0.0 && slower).then(|| {
            let z = crate::stats::normal_quantile(0.975);
            Halves {
                early_per_min: s.early_slope * 60.0,
                late_per_min: s.late_slope * 60.0,
                late_ci_per_min: [
                    (s.late_slope - z * s.late_se) * 60.0,
                    (s.late_slope + z * s.late_se) * 60.0,
                ],
            }
        })
    });
    let evidence = Evidence {
        slowed,
        metric: m.metric,
        trend,
        slope_per_min: m.slope_per_min.map(|e| e.value),
        growth: m.growth,
        p_value: m.trend_p_value,
        rise: m.last - m.first,
        first: Some(m.first),
        flattens,
        late_from_s: None,
        untested: m.model.as_deref() == Some(crate::stats::DriftModel::LongCycle.name()),
    };
    // Growth that began late (or sped up): a trailing window grew
    // significantly at its stricter level, at a rate above the whole run's.
    // Its rate is what goes on; the whole run's dilutes it (a real 10-minute
    // watch of churn.py leaking 6 MiB/min from 7 min on: 1.26 MiB/min over
    // the steady state, 5.88 over its last 3.5 min).
    match m.late.as_ref() {
        Some(l) if l.grew(floor) => Evidence {
            trend: Trend::Grows,
            slope_per_min: Some(l.slope_per_min.value),
            growth: Some(l.growth),
            p_value: Some(l.p_value),
            flattens: None,
            slowed: None,
            late_from_s: Some(l.from_s),
            ..evidence
        },
        _ => evidence,
    }
}

/// A warm-up rise counts as a plateau when it is at least this many floors
/// and this share of the starting level: the ordinary start-up of a process
/// (thread stacks, first buffers) is neither.
const PLATEAU_FLOORS: f64 = 8.0;
const PLATEAU_SHARE: f64 = 0.2;

/// Name the most likely pattern from the run's metrics alone: see
/// [`classify_tree`], without per-process data.
///
/// # Examples
/// ```
/// use memsoak::analysis::Analysis;
/// use memsoak::analysis::classify::{classify, Pattern};
/// let empty = Analysis {
///     duration_s: 0.0, samples: 0, items: None, dropped_rows: 0,
///     gaps: vec![], metrics: vec![], thresholds: vec![],
/// };
/// assert_eq!(classify(&empty, &[], 1048576.0).pattern, Pattern::Unknown);
/// ```
pub fn classify(analysis: &Analysis, shapes: &[Shape], floor: f64) -> Classification {
    classify_tree(analysis, shapes, &[], floor)
}

/// Name the most likely pattern. `floor` is the materiality floor in bytes
/// (growth below it is noise: the run's `--min-growth`, by default
/// [`crate::analysis::DEFAULT_MIN_GROWTH`]); `shapes` and `processes` (the
/// tree's processes, [`process_trends`]) may be empty.
pub fn classify_tree(
    analysis: &Analysis,
    shapes: &[Shape],
    processes: &[ProcessTrend],
    floor: f64,
) -> Classification {
    let mut c = classify_inner(analysis, shapes, processes, floor);
    c.processes = processes.iter().take(LISTED_PROCESSES).cloned().collect();
    c
}

/// Classify a whole run: its analysis, sharpened by the shapes of its
/// samples (early vs late drift) when given, and traced to one process by
/// the tree's per-process readings when given. Each process is fitted from
/// the tree's warm-up end on, so process and tree drifts cover the same
/// steady state.
pub fn classify_run(
    analysis: &Analysis,
    samples: Option<&SampleTable>,
    processes: Option<&ProcessTable>,
    confidence: f64,
    floor: f64,
) -> Classification {
    let shapes = samples.map_or_else(Vec::new, |t| shapes(t, analysis, confidence));
    // NOTE: where the tree's growth is a trailing window's (its rate rose
    // late, see `read_metric`), its processes are fitted over that window
    // too: over the whole steady state, a real watch's one leaking process
    // read 13.2 MiB against the window's 20.7, 64% of it, and the growth was
    // called "not confined to one process".
    let rss = analysis.metric(Metric::Rss);
    let late_from = rss
        .and_then(|m| m.late.as_ref())
        .filter(|l| l.grew(floor))
        .map(|l| l.from_s);
    let tree = late_from.or(rss.map(|m| m.warmup_end_s)).unwrap_or(0.0);
    let trends: Vec<ProcessTrend> = processes
        .map_or_else(Vec::new, |p| process_trends(p, tree, confidence))
        .into_iter()
        .map(|t| ProcessTrend {
            late_from_s: late_from,
            ..t
        })
        .collect();
    classify_tree(analysis, &shapes, &trends, floor)
}

/// A live heap that grows by at least this share of the RSS growth is the
/// growth's cause (live objects accumulate); from [`LIVE_HEAP_HIGH_SHARE`]
/// on, with high confidence.
const LIVE_HEAP_SHARE: f64 = 0.5;
/// See [`LIVE_HEAP_SHARE`].
const LIVE_HEAP_HIGH_SHARE: f64 = 0.75;
/// Below this share of the RSS growth the live heap is not the cause: the
/// allocator retains pages (or the growth is outside the jemalloc heap).
const RETENTION_SHARE: f64 = 0.25;
/// One process holding at least this share of the tree's growth is named
/// with high confidence.
const ONE_PROCESS_HIGH_SHARE: f64 = 0.9;
/// Growing processes named when a black box's growth is spread over several.
const SPREAD_LISTED: usize = 3;

/// What the classifier reads of one run: each metric's evidence.
struct Readings<'a> {
    analysis: &'a Analysis,
    processes: &'a [ProcessTrend],
    floor: f64,
    /// `rss`, else `pss`.
    rss: Option<Evidence>,
    /// `pss` itself (shared pages split among the processes sharing them).
    pss: Option<Evidence>,
    heap: Option<Evidence>,
    vram: Option<Evidence>,
    swap: Option<Evidence>,
    sys_swap: Option<Evidence>,
    sys_avail: Option<Evidence>,
    sys_shmem: Option<Evidence>,
    /// jemalloc's own counters (`heap_active`, `heap_resident`...).
    allocator: Vec<Evidence>,
    /// The parts of RSS: anonymous, and file-backed or shared.
    rss_anon: Option<Evidence>,
    rss_file: Option<Evidence>,
    /// Every metric looked at, for the answer.
    evidence: Vec<Evidence>,
}

fn grows(e: &Option<Evidence>) -> bool {
    e.as_ref().is_some_and(|e| e.trend == Trend::Grows)
}

fn describe(e: &Option<Evidence>) -> String {
    e.as_ref().map(Evidence::describe).unwrap_or_default()
}

impl<'a> Readings<'a> {
    /// Where the metric's fit read one to three drops (long cycles), why it
    /// could not rule growth out, in the fit's own words (`model_reason`).
    /// `None` for any other fit.
    fn long_cycles(&self, e: &Evidence) -> Option<&'a str> {
        e.untested.then(|| {
            self.analysis
                .metric(e.metric)
                .and_then(|m| m.model_reason.as_deref())
                .unwrap_or("one to three drops, read as long cycles")
        })
    }

    fn new(
        analysis: &'a Analysis,
        shapes: &[Shape],
        processes: &'a [ProcessTrend],
        floor: f64,
    ) -> Self {
        let ev = |m: Metric| {
            analysis
                .metric(m)
                .map(|a| read_metric(a, floor, shapes.iter().find(|s| s.metric == m)))
        };
        let rss = ev(Metric::Rss).or_else(|| ev(Metric::Pss));
        let pss = ev(Metric::Pss);
        let heap = ev(Metric::Heap);
        let vram = ev(Metric::Vram);
        let swap = ev(Metric::Swap);
        let sys_swap = ev(Metric::SysSwapUsed);
        let sys_avail = ev(Metric::SysAvailable);
        let sys_shmem = ev(Metric::SysShmem);
        let allocator: Vec<Evidence> = [
            Metric::HeapActive,
            Metric::HeapResident,
            Metric::HeapRetained,
            Metric::HeapMapped,
        ]
        .into_iter()
        .filter_map(ev)
        .collect();
        let mut evidence: Vec<Evidence> = [&rss, &heap, &vram, &swap, &sys_swap, &sys_avail]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        evidence.extend(allocator.iter().cloned());
        let (rss_anon, rss_file) = (ev(Metric::RssAnon), ev(Metric::RssFile));
        Readings {
            analysis,
            processes,
            floor,
            rss,
            pss,
            heap,
            vram,
            swap,
            sys_swap,
            sys_avail,
            sys_shmem,
            allocator,
            rss_anon,
            rss_file,
            evidence,
        }
    }

    /// The tree's `pss` evidence where its `rss` counts the pages its
    /// processes share once per process: the tree has two processes or
    /// more, and RSS grew past the floor by over [`SHARED_OVERCOUNT`] × the
    /// PSS growth (a worker forked from a grown parent inherits its pages,
    /// and each process's RSS counts them all). PSS splits a shared page
    /// among its sharers, so its growth is the tree's own.
    fn pss_if_rss_overcounts(&self) -> Option<&Evidence> {
        if self.processes.len() < 2 {
            return None;
        }
        let rss = self.rss.as_ref().filter(|e| e.metric == Metric::Rss)?;
        let pss = self.pss.as_ref()?;
        let (rg, pg) = (rss.growth?, pss.growth?);
        (rg >= self.floor && rg > SHARED_OVERCOUNT * pg.max(self.floor)).then_some(pss)
    }

    /// The answer: `pattern` with what it rests on.
    fn answer(
        &self,
        pattern: Pattern,
        confidence: Confidence,
        summary: String,
        advice: Vec<String>,
    ) -> Classification {
        Classification {
            pattern,
            confidence,
            summary,
            evidence: self.evidence.clone(),
            advice,
            process: None,
            processes: vec![],
            site: None,
        }
    }
}

/// The rules, in order: the first that recognises its pattern answers.
fn classify_inner(
    analysis: &Analysis,
    shapes: &[Shape],
    processes: &[ProcessTrend],
    floor: f64,
) -> Classification {
    let r = Readings::new(analysis, shapes, processes, floor);
    if r.rss.is_none() && r.heap.is_none() && r.vram.is_none() {
        return r.answer(
            Pattern::Unknown,
            Confidence::Low,
            "no process memory was sampled".into(),
            vec![],
        );
    }
    // NOTE: with no drift fit on any process metric (too few samples after
    // warm-up: a warm-up as long as the run, a target that ended early)
    // nothing says what memory did after warm-up. The rules below read a
    // missing fit as no growth, and a 20 s run whose warm-up took all of
    // it was "a bounded cache that stopped growing".
    let fitted = |e: &Option<Evidence>| e.as_ref().is_some_and(|e| e.slope_per_min.is_some());
    if !(fitted(&r.rss) || fitted(&r.heap) || fitted(&r.vram)) {
        let steady = [Metric::Rss, Metric::Pss, Metric::Heap, Metric::Vram]
            .into_iter()
            .find_map(|m| analysis.metric(m))
            .map_or(0, |m| m.steady_samples);
        return r.answer(
            Pattern::Unknown,
            Confidence::Low,
            format!(
                "too few samples after warm-up to fit a drift ({steady}; {} at least): the run cannot say what memory did",
                crate::stats::MIN_DRIFT_POINTS
            ),
            vec!["run longer than the warm-up, or shorten --warmup".into()],
        );
    }
    let mut c = host_memory_pressure(&r)
        .or_else(|| gpu_caching_allocator(&r))
        .or_else(|| growth(&r))
        .or_else(|| shared_memory(&r))
        .or_else(|| warmup_plateau(&r))
        .or_else(|| too_noisy(&r))
        .unwrap_or_else(|| steady(&r));
    if let (Some(pss), Some(rss)) = (r.pss_if_rss_overcounts(), r.rss.as_ref()) {
        c.advice.push(format!(
            "RSS counts the pages the tree's processes share once per process (a worker forked from a grown parent inherits its pages): the tree's RSS grew {} and its PSS, its own memory, {}; gate a forking pool on `pss.slope`",
            rss.growth.map_or("–".into(), signed),
            pss.growth.map_or("–".into(), signed)
        ));
    }
    c
}

/// Host pressure: the tree's memory is going to swap (its RSS then
/// understates the growth), or the host's swap grows while available
/// memory falls. NOTE: available memory alone falling is not enough: on a
/// shared machine other programs move it.
fn host_memory_pressure(r: &Readings) -> Option<Classification> {
    let avail_falls = r
        .sys_avail
        .as_ref()
        .is_some_and(|e| e.trend == Trend::Falls);
    if !(grows(&r.swap) || (grows(&r.sys_swap) && avail_falls)) {
        return None;
    }
    let mut why = Vec::new();
    if let Some(e) = r.swap.as_ref().filter(|e| e.trend == Trend::Grows) {
        why.push(format!("the tree's swap grows ({})", e.describe()));
    }
    if let Some(e) = r.sys_swap.as_ref().filter(|e| e.trend == Trend::Grows) {
        why.push(format!("host swap grows ({})", e.describe()));
    }
    if let Some(e) = r.sys_avail.as_ref().filter(|_| avail_falls) {
        why.push(format!("available memory falls ({})", e.describe()));
    }
    let confidence = if grows(&r.swap) && avail_falls {
        Confidence::High
    } else {
        Confidence::Medium
    };
    Some(r.answer(
        Pattern::HostMemoryPressure,
        confidence,
        format!("host memory pressure: {}", why.join("; ")),
        vec![
            "RSS understates growth while pages go to swap: judge rss + swap together".into(),
            "check what else runs on the host, and the leak pattern of the tree once swap is off (swapoff or a cgroup memory limit)".into(),
        ],
    ))
}

/// GPU memory grows while host memory is flat.
fn gpu_caching_allocator(r: &Readings) -> Option<Classification> {
    if !grows(&r.vram) || grows(&r.rss) {
        return None;
    }
    let v = describe(&r.vram);
    let flat = r
        .rss
        .as_ref()
        .map_or("host memory not sampled".into(), |e| {
            format!("host memory flat ({})", e.describe())
        });
    let flattens = r.vram.as_ref().and_then(|e| e.flattens) == Some(true);
    Some(r.answer(
        Pattern::GpuCachingAllocator,
        if r.rss.is_some() {
            Confidence::Medium
        } else {
            Confidence::Low
        },
        format!(
            "GPU memory grows while host memory is flat: {v}; {flat}{}",
            if flattens {
                " — and the growth flattens, as a caching allocator's pool does"
            } else {
                ""
            }
        ),
        vec![
            "a caching allocator (CUDA/PyTorch, candle) keeps freed blocks per shape: bucket or pad batch shapes so blocks are reused".into(),
            "free the cache between phases (torch.cuda.empty_cache()) once to tell cached from live: live tensors stay".into(),
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True reduces per-shape fragmentation".into(),
        ],
    ))
}

/// The tree's RSS (or the live heap alone) grows: what kind of growth.
fn growth(r: &Readings) -> Option<Classification> {
    if !(grows(&r.rss) || grows(&r.heap)) {
        return None;
    }
    let mut c = flattening_growth(r)
        .or_else(|| mapped_files(r))
        .or_else(|| one_process(r))
        .or_else(|| heap_ahead_of_rss(r))
        .or_else(|| black_box_growth(r))
        .or_else(|| live_heap_growth(r))
        .or_else(|| retention_or_native(r))
        .unwrap_or_else(|| mixed_growth(r));
    let main = if grows(&r.rss) { &r.rss } else { &r.heap };
    if let Some(slowing) = main.as_ref().and_then(Evidence::describe_slowing) {
        c.summary.push_str(&format!("; {slowing}"));
        c.advice.push(SLOWED_ADVICE.into());
    }
    Some(c)
}

/// What to do about growth that slowed ([`Evidence::slowed`]).
const SLOWED_ADVICE: &str = "run at least twice as long: a cache still filling levels off, a leak keeps its rate (the second half's is the better guess of the rate that goes on)";

/// The growing series' second half grows at a quarter of the first's rate
/// or less, and by less than the floor: a cache filling towards its bound
/// (see [`read_metric`]).
fn flattening_growth(r: &Readings) -> Option<Classification> {
    let main = if grows(&r.rss) { &r.rss } else { &r.heap };
    if main.as_ref().and_then(|e| e.flattens) != Some(true) {
        return None;
    }
    Some(r.answer(
        Pattern::BoundedPlateau,
        Confidence::Medium,
        format!(
            "growth that flattens: {}; the second half of the steady state grows at a quarter of the first half's rate or less",
            describe(main)
        ),
        vec![
            "a cache filling towards its bound, not (yet) a leak: run longer to see it level off".into(),
            "give the cache an explicit size limit so its bound is known".into(),
        ],
    ))
}

/// The tree's memory is flat (nothing in it grows) while the host's shared
/// memory (`Shmem`: tmpfs, `/dev/shm`) grows: what a process writes there
/// stays when it closes the file or unmaps it, and then no process's RSS
/// counts it (a `multiprocessing.shared_memory` block closed but never
/// unlinked, tensors a crashed data-loader worker handed over). Medium
/// confidence at most: any program on the host moves `Shmem`.
fn shared_memory(r: &Readings) -> Option<Classification> {
    let shm = r.sys_shmem.as_ref().filter(|e| e.trend == Trend::Grows)?;
    if grows(&r.rss) || grows(&r.heap) {
        return None;
    }
    let mut c = r.answer(
        Pattern::SharedMemory,
        Confidence::Medium,
        format!(
            "the host's shared memory grows ({}) while the tree's memory is flat ({}): files left in /dev/shm or another tmpfs, which no process's RSS counts once nothing maps them (or another program on the host)",
            shm.describe(),
            describe(&r.rss)
        ),
        vec![
            "list what is there, newest first: `ls -lt /dev/shm`; a `multiprocessing.shared_memory` block needs `unlink()`, not only `close()`".into(),
            "gate on `sys_shmem.slope` where nothing else on the host writes shared memory (a CI runner, a container of its own)".into(),
            "in a container /dev/shm is small (Docker's default: 64 MiB) and charged to its cgroup (`cgroup_file`)".into(),
        ],
    );
    c.evidence.push(shm.clone());
    Some(c)
}

/// File-backed pages carry at least this share of the RSS growth, and
/// anonymous memory at most [`MAPPED_ANON_SHARE`] of it, for the growth to
/// be mapped files'.
const MAPPED_FILE_SHARE: f64 = 0.75;
/// See [`MAPPED_FILE_SHARE`].
const MAPPED_ANON_SHARE: f64 = 0.25;

/// RSS grows, and the growth is in file-backed pages (`rss_file`) while
/// the anonymous part (`rss_anon`, shared memory included) stays flat: the
/// process is reading a mapped file (a memory-mapped dataset, Arrow or
/// numpy `mmap_mode`, the model's weights). The kernel drops clean file
/// pages when memory runs short, so this is not the process's heap; a gate
/// on `rss` fails on it all the same.
fn mapped_files(r: &Readings) -> Option<Classification> {
    let rss = r.rss.as_ref().filter(|e| e.trend == Trend::Grows)?;
    let (anon, file) = (r.rss_anon.as_ref()?, r.rss_file.as_ref()?);
    let total = rss.growth.filter(|g| *g > 0.0)?;
    let file_growth = file.growth.unwrap_or(0.0);
    let anon_growth = anon.growth.unwrap_or(0.0);
    if !(file.trend == Trend::Grows
        && file_growth >= MAPPED_FILE_SHARE * total
        && anon_growth <= MAPPED_ANON_SHARE * total)
    {
        return None;
    }
    let confidence = if anon.trend == Trend::Grows {
        Confidence::Medium
    } else {
        Confidence::High
    };
    let mut c = r.answer(
        Pattern::MappedFiles,
        confidence,
        format!(
            "RSS grows in file-backed pages: {:.0}% of the growth ({}), while anonymous memory {} ({}): mapped files being read, pages the kernel can drop, not the process's heap",
            100.0 * file_growth / total,
            file.describe(),
            if anon.trend == Trend::Grows { "grows far less" } else { "is flat" },
            anon.describe()
        ),
        vec![
            "clean file pages are dropped by the kernel when memory runs short: gate on `rss_anon.slope` to judge what the process itself holds".into(),
            "in a container they count towards the cgroup until reclaimed: `cgroup_working_set` leaves inactive file pages out".into(),
            "a file read once need not stay mapped: read it in chunks, or `madvise(MADV_DONTNEED)` the part already read".into(),
        ],
    );
    c.evidence.extend([anon.clone(), file.clone()]);
    Some(c)
}

/// The tree's growth is one process's (see [`one_process_finding`]).
fn one_process(r: &Readings) -> Option<Classification> {
    // NOTE: where RSS counts shared pages once per process (a pool forked
    // from a parent that keeps growing), the tree's own growth is its PSS:
    // a parent keeping 6 MiB/min read 6.0 MiB/min in its own RSS, 6.3 in
    // the tree's PSS and 16.4 in the tree's RSS (two workers recycled every
    // 20 tasks), and was "not confined" at 36% of the RSS growth.
    let tree_evidence = r.pss_if_rss_overcounts().or(r.rss.as_ref());
    let f = tree_evidence
        .filter(|_| grows(&r.rss))
        .and_then(|e| one_process_finding(e, r.processes, r.floor))?;
    let tree = tree_evidence.map(Evidence::describe).unwrap_or_default();
    let lead = r
        .processes
        .iter()
        .find(|p| p.pid == f.pid)
        .map(ProcessTrend::describe)
        .unwrap_or_default();
    // NOTE: the text gives the others' net change, not `others_growth`
    // (their rises only), which read "+0 B together" beside a process that
    // fell 197 KiB.
    // NOTE: a process seen too briefly to fit is not one that does not
    // grow: a pyenv shim (`bash pyenv exec python3 …`, one reading at 0 s
    // before it exec'd) was "the other 1 process(es) do not grow (+0 B
    // together)", of which nothing was measured.
    let brief: Vec<String> = r
        .processes
        .iter()
        .filter(|p| p.pid != f.pid && !p.fitted())
        .map(ProcessTrend::describe)
        .collect();
    let fitted = f.others - brief.len();
    let listed = brief
        .iter()
        .take(SPREAD_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    let others = match (fitted, brief.len()) {
        (n, 0) => format!(
            "the other {n} process(es) do not grow ({} together)",
            signed(f.others_net)
        ),
        (0, k) => {
            format!("the tree's other {k} process(es) were seen too briefly to fit ({listed})")
        }
        (n, k) => format!(
            "the other {n} process(es) do not grow ({} together), and {k} more were seen too briefly to fit ({listed})",
            signed(f.others_net)
        ),
    };
    let mut c = r.answer(
        Pattern::OneProcess,
        if f.share >= ONE_PROCESS_HIGH_SHARE {
            Confidence::High
        } else {
            Confidence::Medium
        },
        format!(
            "the growth is one process's: {lead}, {:.0}% of the tree's growth ({tree}); {others}",
            f.share * 100.0,
        ),
        vec![
            format!(
                "look at pid {} (`{}`) alone: `memsoak watch --pid {}`, or /proc/{}/smaps for which mappings grow",
                f.pid, f.name, f.pid, f.pid
            ),
            "run that stage in-process (memsoak run) or give it jemalloc statistics to tell live-heap growth from allocator retention".into(),
        ],
    );
    c.process = Some(f);
    Some(c)
}

/// The heap grows but RSS does not (yet): jemalloc is reusing pages it
/// already held; RSS will follow when they run out.
fn heap_ahead_of_rss(r: &Readings) -> Option<Classification> {
    if grows(&r.rss) {
        return None;
    }
    Some(r.answer(
        Pattern::LiveHeapGrowth,
        Confidence::Medium,
        format!(
            "the live heap grows ({}) while RSS is not yet growing: freed pages are being reused, RSS follows when they run out",
            describe(&r.heap)
        ),
        live_heap_advice(),
    ))
}

/// RSS grows in a black box (no heap statistics): the cause cannot be told.
fn black_box_growth(r: &Readings) -> Option<Classification> {
    if r.heap.is_some() {
        return None;
    }
    let procs = r.processes;
    // NOTE: with per-process data and no single culprit, say which
    // processes grew, so people know where to look.
    // NOTE: "of its N processes" counts those fitted; one seen too briefly
    // to fit (a shim that exec'd) is named apart, not counted as not growing.
    let fitted = procs.iter().filter(|p| p.fitted()).count();
    let spread = if procs.len() >= 2 {
        let growing: Vec<String> = procs
            .iter()
            .filter(|p| p.growth.is_some_and(|g| g >= r.floor))
            .take(SPREAD_LISTED)
            .map(ProcessTrend::describe)
            .collect();
        let brief = match procs.len() - fitted {
            0 => String::new(),
            k => format!(" ({k} more seen too briefly to fit)"),
        };
        if growing.is_empty() {
            format!(
                "; no single one of its {fitted} processes grows on its own{brief} (processes appearing or leaving move the total)"
            )
        } else {
            format!(
                "; the growth is not confined to one of its {fitted} processes{brief}: {}",
                growing.join("; ")
            )
        }
    } else {
        String::new()
    };
    Some(r.answer(
        Pattern::Unknown,
        Confidence::Low,
        format!(
            "memory grows ({}), but the target is a black box (no heap statistics): live-heap growth and allocator retention cannot be told apart{spread}",
            describe(&r.rss)
        ),
        vec![
            "run the pipeline in-process (memsoak run) or give the target jemalloc statistics to tell live heap from retention".into(),
            "try the target with a different allocator setting (MALLOC_ARENA_MAX=2, malloc_trim) — growth that stops is retention".into(),
        ],
    ))
}

/// The live heap's share of the RSS growth (both grow here).
fn heap_share(r: &Readings) -> f64 {
    let growth = |e: &Option<Evidence>| e.as_ref().and_then(|e| e.growth).unwrap_or(0.0);
    let rss = growth(&r.rss);
    if rss > 0.0 {
        growth(&r.heap) / rss
    } else {
        0.0
    }
}

/// Live objects accumulate: the heap grows by at least
/// [`LIVE_HEAP_SHARE`] of the RSS growth.
fn live_heap_growth(r: &Readings) -> Option<Classification> {
    let heap = r.heap.as_ref()?;
    let share = heap_share(r);
    if heap.trend != Trend::Grows || share < LIVE_HEAP_SHARE {
        return None;
    }
    Some(r.answer(
        Pattern::LiveHeapGrowth,
        if share >= LIVE_HEAP_HIGH_SHARE {
            Confidence::High
        } else {
            Confidence::Medium
        },
        format!(
            "live objects accumulate: {}, which is {:.0}% of the RSS growth ({})",
            heap.describe(),
            share * 100.0,
            describe(&r.rss)
        ),
        live_heap_advice(),
    ))
}

/// The live heap explains under [`RETENTION_SHARE`] of the RSS growth:
/// the allocator holds freed pages, or (no jemalloc counter grows) the
/// growth is outside the jemalloc heap.
fn retention_or_native(r: &Readings) -> Option<Classification> {
    let heap = r.heap.as_ref()?;
    let share = heap_share(r);
    if share >= RETENTION_SHARE {
        return None;
    }
    let rss_text = describe(&r.rss);
    let held: Vec<String> = r
        .allocator
        .iter()
        .filter(|e| e.trend == Trend::Grows)
        .map(Evidence::describe)
        .collect();
    if held.is_empty() {
        return Some(r.answer(
            Pattern::Unknown,
            Confidence::Low,
            format!(
                "RSS grows ({rss_text}) outside the jemalloc heap ({}; no jemalloc counter grows): native allocations (C/C++ libraries, their own malloc), mmap'd files or thread stacks",
                heap.describe()
            ),
            vec![
                "look at /proc/PID/smaps of the process: which mappings grow (anonymous, file, stack)".into(),
                "libraries with their own allocator (ONNX Runtime, BLAS, tokenizers' native code) are candidates".into(),
            ],
        ));
    }
    Some(r.answer(
        Pattern::AllocatorRetention,
        if heap.trend == Trend::Flat {
            Confidence::High
        } else {
            Confidence::Medium
        },
        format!(
            "the allocator holds freed pages: RSS grows ({rss_text}) while the live heap is flat ({}, {:.0}% of it); {}",
            heap.describe(),
            share.max(0.0) * 100.0,
            held.join("; ")
        ),
        vec![
            "let jemalloc return pages sooner: _RJEM_MALLOC_CONF=dirty_decay_ms:1000,muzzy_decay_ms:1000 (its default holds freed pages up to 10 s; dirty_decay_ms:-1 holds them for good)".into(),
            "fewer arenas for fewer threads' caches: narenas:2 (jemalloc) or MALLOC_ARENA_MAX=2 (glibc)".into(),
            "glibc: call malloc_trim(0) after large batches; variable batch shapes fragment the heap, so bucket them".into(),
        ],
    ))
}

/// The live heap explains part of the RSS growth, neither most nor little.
fn mixed_growth(r: &Readings) -> Classification {
    r.answer(
        Pattern::Unknown,
        Confidence::Low,
        format!(
            "mixed: the live heap explains {:.0}% of the RSS growth ({}; {}): both live objects and allocator retention may be involved",
            heap_share(r) * 100.0,
            describe(&r.heap),
            describe(&r.rss)
        ),
        live_heap_advice(),
    )
}

/// Nothing grows after warm-up, but the warm-up rose by
/// [`PLATEAU_FLOORS`] floors and [`PLATEAU_SHARE`] of the start: a plateau.
/// Not when the series that rose went on rising after warm-up by more than
/// the floor without significance: whether it stopped is what the run
/// cannot tell ([`too_noisy`] says so).
fn warmup_plateau(r: &Readings) -> Option<Classification> {
    if grows(&r.vram) {
        return None;
    }
    let rise_of = |e: &Option<Evidence>, m: Metric| -> Option<(Metric, f64, f64)> {
        let e = e.as_ref()?;
        let first = r.analysis.metric(m)?.first;
        (e.rise >= PLATEAU_FLOORS * r.floor && e.rise >= PLATEAU_SHARE * first.max(0.0))
            .then_some((m, e.rise, first))
    };
    let (m, rise, first) = rise_of(&r.rss, Metric::Rss)
        .or_else(|| rise_of(&r.heap, Metric::Heap))
        .or_else(|| rise_of(&r.vram, Metric::Vram))?;
    let fit = r.analysis.metric(m);
    let (end, cut) = fit.map_or((0.0, false), |a| {
        (a.warmup_end_s, a.steady_samples < a.samples)
    });
    let e = r.evidence.iter().find(|e| e.metric == m);
    // NOTE: a Python process whose retained objects pin pymalloc's arenas
    // (6 MiB/min kept under 16 MiB of churn, watched 90 s) rose 39 MiB in
    // its first 30 s and then climbed a staircase of 5.4 MiB/min, p = 0.23:
    // "then stayed flat … not a leak at this run length" was said of a
    // leak. A material rise after warm-up that is not significant is not
    // flat; a 5-minute watch of it failed at 6.3 MiB/min.
    if e.is_some_and(Evidence::grows_unclearly) {
        return None;
    }
    // NOTE: one to three drops test no trend (p = 1) or one on a single
    // degree of freedom: that the level stopped growing is then what the
    // run could hardly show, as in [`steady`].
    let untested = e.and_then(|e| r.long_cycles(e));
    let e = e.map(Evidence::describe).unwrap_or_default();
    // NOTE: with no warm-up cut (auto found none, or `--warmup 0`) the rise
    // came before the window began: a watched command's first sample is
    // taken as it is spawned, before its interpreter has loaded. "During
    // the first 0 s" said nothing. The cut is read from the samples it left
    // out, not from its time: the first sample is taken a millisecond or so
    // after the start, and "0.001 s > 0" printed "the first 0 s" again.
    // NOTE: the rise is the run's, first sample to last: where the run
    // ends on a cycle's top it is more than the warm-up climbed, and "rose
    // +20.4 MiB during the first 1 s" was said of a sawtooth whose first
    // second rose 13.7. What the warm-up cut says is when growth stopped.
    let when = if cut {
        format!("after the first {}", fmt_secs(end))
    } else {
        "after start-up".to_string()
    };
    // NOTE: under cycles the last sample sits anywhere on a ramp: a
    // sawtooth watched from its spawn (36 s, three equal floors) read "rose
    // +28.3 MiB over the run (from 512 KiB) and stopped growing after the
    // first 251 ms", of a rise that was mostly the last cycle's phase. What
    // stopped growing there is the cycles' floors.
    let cycles = fit.and_then(|a| a.model.as_deref()).is_some_and(|name| {
        name == crate::stats::DriftModel::Cycles.name()
            || name == crate::stats::DriftModel::LongCycle.name()
    });
    let period = fit
        .and_then(|a| a.cycle_s)
        .map(|s| format!(" of ≈ {}", fmt_secs(s)))
        .unwrap_or_default();
    let what = if cycles {
        format!(
            "{m} rose from {} at the first sample into cycles{period} (the last sample {} from it), whose floors stopped growing {when} ({e})",
            fmt_bytes(first),
            signed(rise)
        )
    } else {
        format!(
            "{m} rose {} over the run (from {}) and stopped growing {when} ({e})",
            signed(rise),
            fmt_bytes(first)
        )
    };
    let mut advice = vec![
        "a warm-up transient or a cache that reached its bound: not a leak at this run length"
            .into(),
        "a longer run (nightly profile) confirms the bound holds".into(),
    ];
    let (confidence, what) = match untested {
        Some(why) => {
            advice.insert(0, CYCLES_ADVICE.into());
            (
                Confidence::Low,
                format!("{what}; but too few cycles to rule growth out: {why}"),
            )
        }
        None => (Confidence::Medium, what),
    };
    Some(r.answer(Pattern::BoundedPlateau, confidence, what, advice))
}

/// The gates that settle a metric's drift as within bounds: it has at
/// least one upper limit on a fitted drift (`slope`, `slope_per_1k`,
/// `growth`), and each such limit passed on an interval wholly within it
/// ([`ThresholdResult::conclusive`]). Empty otherwise.
fn settled_by<'a>(r: &Readings<'a>, metric: Metric) -> Vec<&'a ThresholdResult> {
    let limits: Vec<&ThresholdResult> = r
        .analysis
        .thresholds
        .iter()
        .filter(|t| {
            t.threshold.metric == metric
                && t.threshold.stat.fitted()
                && matches!(t.threshold.op, Op::Lt | Op::Le)
        })
        .collect();
    let settled = limits
        .iter()
        .all(|t| t.outcome == Outcome::Pass && t.conclusive == Some(true));
    if settled { limits } else { vec![] }
}

/// Material growth that is not statistically significant.
fn too_noisy(r: &Readings) -> Option<Classification> {
    let unclear: Vec<&Evidence> = [&r.rss, &r.heap, &r.vram]
        .into_iter()
        .flatten()
        .filter(|e| e.grows_unclearly())
        .collect();
    if unclear.is_empty() {
        return None;
    }
    // NOTE: an estimate past the floor whose interval every gate on it
    // rules out is no noise the run cannot call: a sawtooth freeing all
    // every 60 s (4 min) read +1.29 MiB after warm-up, p = 0.173, its
    // interval −846 KiB … 1.48 MiB/min a conclusive pass of
    // `rss.slope<2MiB/min`, and was "growth too noisy to call".
    let (settled, noisy): (Vec<&Evidence>, Vec<&Evidence>) = unclear
        .into_iter()
        .partition(|e| !settled_by(r, e.metric).is_empty());
    if noisy.is_empty() {
        let within: Vec<String> = settled
            .iter()
            .map(|e| {
                let gates: Vec<String> = settled_by(r, e.metric)
                    .iter()
                    .map(|t| {
                        format!(
                            "{} within `{}`",
                            t.ci_text().unwrap_or_default(),
                            t.threshold.expr
                        )
                    })
                    .collect();
                format!("{}; interval {}", e.describe(), gates.join(", "))
            })
            .collect();
        return Some(r.answer(
            Pattern::Steady,
            Confidence::Medium,
            format!(
                "no significant growth after warm-up, and its interval rules out a drift at the gate's limit: {}",
                within.join("; ")
            ),
            vec!["the estimate is past the materiality floor but not significant: a longer run narrows the interval, if a drift under the limit matters".into()],
        ));
    }
    // NOTE: one to three drops read as long cycles test no trend (p = 1)
    // or one on a single degree of freedom: "not statistically significant"
    // was said of a 20 MiB/min leak under two drops (9.92 MiB/min, p = 1)
    // that no test had looked at. The fit's own words say which.
    let untested_only = noisy.iter().all(|e| e.no_trend_test());
    let unclear: Vec<String> = noisy
        .iter()
        .map(|e| match r.long_cycles(e) {
            Some(why) if e.no_trend_test() => format!("{} (no trend test: {why})", e.describe()),
            Some(why) => format!("{} (not statistically significant: {why})", e.describe()),
            None => format!("{} (not statistically significant)", e.describe()),
        })
        .collect();
    let (headline, advice) = if untested_only {
        ("growth the run could not test", CYCLES_ADVICE)
    } else {
        (
            "growth too noisy to call",
            "run longer: the growth is past the materiality floor but the data do not yet tell it from noise, or from a plateau still settling",
        )
    };
    Some(r.answer(
        Pattern::Unknown,
        Confidence::Low,
        format!("{headline}: {}", unclear.join("; ")),
        vec![advice.into()],
    ))
}

/// The advice where a fit read one to three drops (long cycles).
const CYCLES_ADVICE: &str =
    "run several cycles long: a trend is tested across cycles, not within one or two";

/// No material growth after warm-up.
fn steady(r: &Readings) -> Classification {
    let main = r.rss.as_ref().or(r.heap.as_ref()).or(r.vram.as_ref());
    let text = main.map(Evidence::describe).unwrap_or_default();
    // NOTE: a fit whose interval is the data's range tested nothing: a
    // climb of 6 MiB/min whose last sample fell back was one ramp and drop
    // (p = 1), and was called steady with high confidence.
    // NOTE: the words are the fit's own (`model_reason`): one to three
    // drops read as long cycles, and "one ramp and drop back" was said of a
    // fit that had read three.
    if let Some(why) = main.and_then(|e| r.long_cycles(e)) {
        return r.answer(
            Pattern::Steady,
            Confidence::Low,
            format!(
                "no material growth after warm-up ({text}), but too few cycles to rule growth out: {why}"
            ),
            vec![CYCLES_ADVICE.into()],
        );
    }
    r.answer(
        Pattern::Steady,
        Confidence::High,
        format!("no material growth after warm-up ({text})"),
        vec![],
    )
}

/// The live-heap advice that points at `--attribute`; left out of a run
/// that took snapshots ([`with_site`]).
const ATTRIBUTE_ADVICE: &str = "run it again with --attribute: the allocation sites whose live bytes grow, ranked by the same drift test (memsoak run: jemalloc's profile; a Python target: tracemalloc); or build with the dhat-heap feature for an exact per-site account of a short run";

fn live_heap_advice() -> Vec<String> {
    vec![
        "look for references kept to every batch's output (a list of results, a log of tensors)".into(),
        "unbounded caches keyed by input (tokenizer caches, per-shape kernels) grow with distinct inputs: bound them".into(),
        ATTRIBUTE_ADVICE.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Estimate;

    use crate::units::MIB;

    /// A metric that moved `rise` bytes over a 600 s run, `growth` of it
    /// after a 60 s warm-up, significant or not.
    fn m(metric: Metric, first: f64, rise: f64, growth: f64, significant: bool) -> MetricAnalysis {
        let per_min = growth / 9.0;
        MetricAnalysis {
            metric,
            samples: 600,
            warmup_end_s: 60.0,
            steady_samples: 540,
            slope_per_min: Some(Estimate {
                value: per_min,
                ci_low: per_min * 0.9,
                ci_high: per_min * 1.1,
            }),
            slope_per_1k: None,
            trend_p_value: Some(if significant { 0.001 } else { 0.6 }),
            significant,
            method: Some("test".into()),
            model: None,
            model_reason: None,
            cycle_s: None,
            ols_slope_per_min: None,
            growth: Some(growth),
            growth_ci: None,
            effective_samples: None,
            interval_from_range: false,
            items_stalled_at: None,
            late: None,
            max: first + rise.max(0.0),
            min: first + rise.min(0.0),
            first,
            last: first + rise,
        }
    }

    /// An analysis of `rss` alone, growing significantly: first level,
    /// rise and growth after warm-up, MiB.
    fn growing_rss(first: f64, rise: f64, growth: f64) -> Analysis {
        analysis(vec![m(
            Metric::Rss,
            first * MIB,
            rise * MIB,
            growth * MIB,
            true,
        )])
    }

    fn analysis(metrics: Vec<MetricAnalysis>) -> Analysis {
        Analysis {
            duration_s: 600.0,
            samples: 600,
            items: Some(100_000),
            dropped_rows: 0,
            gaps: vec![],
            metrics,
            thresholds: vec![],
        }
    }

    fn flat(metric: Metric, level: f64) -> MetricAnalysis {
        m(metric, level, 0.1 * MIB, 0.05 * MIB, false)
    }

    /// `base` as a `long-cycle` fit (one to three drops) with trend p
    /// `p` and the fit's `reason`, if any.
    fn long_cycle(base: MetricAnalysis, p: f64, reason: Option<&str>) -> MetricAnalysis {
        MetricAnalysis {
            model: Some("long-cycle".into()),
            model_reason: reason.map(String::from),
            trend_p_value: Some(p),
            ..base
        }
    }

    /// Two drops' reason, as the fit words it.
    const TWO_DROPS: &str =
        "2 ramps and drops (cycles of ≈ 41 samples): too few whole cycles to test a trend";

    /// Three drops' reason, as the fit words it.
    const THREE_DROPS: &str = "3 ramps and drops (cycles of ≈ 40 samples): too few whole cycles for their means; the trend of their 3 floors tested on 1 degree of freedom";

    fn site(code: &str, share: f64, significant: bool) -> crate::analysis::attribution::SiteDrift {
        crate::analysis::attribution::SiteDrift {
            pid: 7,
            frames: vec!["src/writer.rs:42".into(), "src/main.rs:9".into()],
            code: code.into(),
            bytes_first: MIB,
            bytes_last: 180.0 * MIB,
            count_last: 10,
            slope_per_min: Estimate {
                value: 20.0 * MIB,
                ci_low: 18.0 * MIB,
                ci_high: 22.0 * MIB,
            },
            p_value: 0.0001,
            method: "drift".into(),
            growth: 179.0 * MIB,
            share: Some(share),
            significant,
            series: vec![],
        }
    }

    fn attribution(sites: Vec<crate::analysis::attribution::SiteDrift>) -> Attribution {
        Attribution {
            source: "jemalloc".into(),
            snapshots: 10,
            processes: vec![7],
            traced_growth: Some(180.0 * MIB),
            rss_growth: Some(200.0 * MIB),
            visibility: String::new(),
            sites,
            notes: vec![],
        }
    }

    #[test]
    fn growth_that_began_late_is_growth_from_where_it_began() {
        // Over the whole steady state nothing significant; the last 5
        // minutes grew 30 MiB, significant at the window's level.
        let late = |significant: bool| crate::analysis::LateWindow {
            from_s: 300.0,
            span_s: 300.0,
            slope_per_min: Estimate {
                value: 6.0 * MIB,
                ci_low: 4.0 * MIB,
                ci_high: 8.0 * MIB,
            },
            p_value: if significant { 0.0001 } else { 0.2 },
            confidence: 0.9875,
            significant,
            rose: significant,
            fell: false,
            growth: 30.0 * MIB,
            windows: 1,
            model: "level".into(),
            items_per_s: None,
        };
        let rss = MetricAnalysis {
            late: Some(late(true)),
            ..m(Metric::Rss, 100.0 * MIB, 32.0 * MIB, 4.0 * MIB, false)
        };
        let e = read_metric(&rss, MIB, None);
        assert_eq!(e.trend, Trend::Grows);
        assert_eq!((e.growth, e.late_from_s), (Some(30.0 * MIB), Some(300.0)));
        assert!(
            e.describe().starts_with(
                "rss: +30.0 MiB from 5.0 min on, where its rate rose (6.00 MiB/min, p<0.001)"
            ),
            "{}",
            e.describe()
        );
        let c = classify(&analysis(vec![rss]), &[], MIB);
        assert_eq!(c.pattern, Pattern::Unknown, "{}", c.summary);
        assert!(
            c.summary
                .starts_with("memory grows (rss: +30.0 MiB from 5.0 min on"),
            "{}",
            c.summary
        );
        // Not significant at the window's level: the whole run's reading.
        let rss = MetricAnalysis {
            late: Some(late(false)),
            ..m(Metric::Rss, 100.0 * MIB, 32.0 * MIB, 4.0 * MIB, false)
        };
        let e = read_metric(&rss, MIB, None);
        assert_eq!((e.trend, e.late_from_s), (Trend::Unclear, None));
    }

    #[test]
    fn the_top_growing_site_is_named_in_the_classification() {
        let a = analysis(vec![
            m(Metric::Rss, 100.0 * MIB, 210.0 * MIB, 200.0 * MIB, true),
            m(Metric::Heap, 50.0 * MIB, 190.0 * MIB, 180.0 * MIB, true),
        ]);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::LiveHeapGrowth);
        // A site that is not significant is not named; the first
        // significant one is.
        let sites = vec![
            site("noise::wobble", 0.3, false),
            site("writer::push", 0.92, true),
        ];
        let named = with_site(c.clone(), &attribution(sites));
        assert_eq!(
            named.site.as_deref(),
            Some("`writer::push` (writer.rs:42 ← main.rs:9), 92% of the jemalloc-traced growth")
        );
        assert!(
            named.summary.ends_with(named.site.as_deref().unwrap()),
            "{}",
            named.summary
        );
        assert!(
            named.advice[0].starts_with("Start at `writer::push`"),
            "{:?}",
            named.advice
        );
        assert!(!named.advice.iter().any(|a| a == ATTRIBUTE_ADVICE));
        // Without snapshots the advice is to take them; with snapshots
        // that name no site, only that advice goes.
        assert!(c.advice.iter().any(|a| a == ATTRIBUTE_ADVICE));
        let mut without = c.clone();
        without.advice.retain(|a| a != ATTRIBUTE_ADVICE);
        assert_eq!(
            with_site(c.clone(), &attribution(vec![site("x", 1.0, false)])),
            without
        );
        // A run with no growth gets no site, whatever the snapshots say.
        let steady = classify(&analysis(vec![flat(Metric::Rss, 100.0 * MIB)]), &[], MIB);
        assert_eq!(
            with_site(steady.clone(), &attribution(vec![site("w", 1.0, true)])),
            steady
        );
    }

    #[test]
    fn heap_growth_is_live_heap() {
        let a = analysis(vec![
            m(Metric::Rss, 100.0 * MIB, 210.0 * MIB, 200.0 * MIB, true),
            m(Metric::Heap, 50.0 * MIB, 190.0 * MIB, 180.0 * MIB, true),
            m(
                Metric::HeapResident,
                60.0 * MIB,
                200.0 * MIB,
                190.0 * MIB,
                true,
            ),
        ]);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::LiveHeapGrowth);
        assert_eq!(c.confidence, Confidence::High);
        // 180 of 200 MiB.
        assert!(c.summary.contains("90%"), "{}", c.summary);
        assert!(c.summary.contains("+180 MiB"), "{}", c.summary);
    }

    #[test]
    fn rss_growth_with_flat_heap_and_growing_resident_is_retention() {
        let a = analysis(vec![
            m(Metric::Rss, 100.0 * MIB, 130.0 * MIB, 120.0 * MIB, true),
            flat(Metric::Heap, 40.0 * MIB),
            m(
                Metric::HeapResident,
                60.0 * MIB,
                125.0 * MIB,
                118.0 * MIB,
                true,
            ),
            flat(Metric::HeapRetained, 8.0 * MIB),
        ]);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::AllocatorRetention);
        assert_eq!(c.confidence, Confidence::High);
        assert!(
            c.summary.contains("heap_resident: +118 MiB"),
            "{}",
            c.summary
        );
        assert!(c.advice.iter().any(|a| a.contains("dirty_decay_ms")));
    }

    #[test]
    fn rss_growth_outside_jemalloc_is_unknown() {
        let a = analysis(vec![
            m(Metric::Rss, 100.0 * MIB, 130.0 * MIB, 120.0 * MIB, true),
            flat(Metric::Heap, 40.0 * MIB),
            flat(Metric::HeapResident, 60.0 * MIB),
        ]);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::Unknown);
        assert!(
            c.summary.contains("outside the jemalloc heap"),
            "{}",
            c.summary
        );
    }

    #[test]
    fn black_box_growth_is_unknown_not_a_guess() {
        let a = growing_rss(100.0, 60.0, 50.0);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::Unknown);
        assert!(c.summary.contains("black box"), "{}", c.summary);
    }

    #[test]
    fn rss_growing_in_file_pages_is_mapped_files_and_in_anonymous_pages_is_not() {
        // A memory-mapped dataset read page by page: RSS grows, all of it
        // file-backed, anonymous memory flat.
        let a = analysis(vec![
            m(Metric::Rss, 100.0 * MIB, 220.0 * MIB, 200.0 * MIB, true),
            flat(Metric::RssAnon, 60.0 * MIB),
            m(Metric::RssFile, 40.0 * MIB, 220.0 * MIB, 200.0 * MIB, true),
        ]);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::MappedFiles, "{}", c.summary);
        assert_eq!(c.confidence, Confidence::High);
        assert!(c.summary.contains("100% of the growth"), "{}", c.summary);
        assert!(c.advice.iter().any(|a| a.contains("rss_anon.slope")));
        assert!(c.evidence.iter().any(|e| e.metric == Metric::RssFile));
        // The same RSS growth in anonymous pages is the black box's.
        let a = analysis(vec![
            m(Metric::Rss, 100.0 * MIB, 220.0 * MIB, 200.0 * MIB, true),
            m(Metric::RssAnon, 60.0 * MIB, 220.0 * MIB, 200.0 * MIB, true),
            flat(Metric::RssFile, 40.0 * MIB),
        ]);
        assert_eq!(classify(&a, &[], MIB).pattern, Pattern::Unknown);
        // Half and half is not mapped files' either.
        let a = analysis(vec![
            m(Metric::Rss, 100.0 * MIB, 220.0 * MIB, 200.0 * MIB, true),
            m(Metric::RssAnon, 60.0 * MIB, 110.0 * MIB, 100.0 * MIB, true),
            m(Metric::RssFile, 40.0 * MIB, 110.0 * MIB, 100.0 * MIB, true),
        ]);
        assert_eq!(classify(&a, &[], MIB).pattern, Pattern::Unknown);
    }

    #[test]
    fn host_shared_memory_growing_beside_a_flat_tree_is_named() {
        let a = analysis(vec![
            flat(Metric::Rss, 15.0 * MIB),
            m(Metric::SysShmem, 2.0 * MIB, 18.0 * MIB, 12.0 * MIB, true),
        ]);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::SharedMemory, "{}", c.summary);
        assert_eq!(c.confidence, Confidence::Medium);
        assert!(c.summary.contains("sys_shmem: +12.0 MiB"), "{}", c.summary);
        assert!(c.advice.iter().any(|a| a.contains("ls -lt /dev/shm")));
        // The tree growing as well is the tree's growth first.
        let a = analysis(vec![
            m(Metric::Rss, 100.0 * MIB, 60.0 * MIB, 50.0 * MIB, true),
            m(Metric::SysShmem, 2.0 * MIB, 18.0 * MIB, 12.0 * MIB, true),
        ]);
        assert_ne!(classify(&a, &[], MIB).pattern, Pattern::SharedMemory);
        // Flat shared memory says nothing.
        let a = analysis(vec![
            flat(Metric::Rss, 15.0 * MIB),
            flat(Metric::SysShmem, 2.0 * MIB),
        ]);
        assert_eq!(classify(&a, &[], MIB).pattern, Pattern::Steady);
    }

    #[test]
    fn no_growth_from_one_ramp_and_drop_is_steady_with_low_confidence() {
        // One ramp and drop back tests no trend (p = 1): a climb whose end
        // fell back passed as "steady (high confidence)". A tested flat fit
        // keeps its high confidence.
        let one_cycle = long_cycle(flat(Metric::Rss, 100.0 * MIB), 1.0, None);
        let c = classify(&analysis(vec![one_cycle]), &[], MIB);
        assert_eq!(
            (c.pattern, c.confidence),
            (Pattern::Steady, Confidence::Low)
        );
        assert!(c.summary.contains("too few cycles"), "{}", c.summary);
        // The words are the fit's: three drops are not "one ramp and drop".
        let three = long_cycle(flat(Metric::Rss, 100.0 * MIB), 0.4, Some(THREE_DROPS));
        let c = classify(&analysis(vec![three]), &[], MIB);
        assert_eq!(c.confidence, Confidence::Low);
        assert!(
            c.summary.contains("3 ramps and drops") && !c.summary.contains("one ramp"),
            "{}",
            c.summary
        );
        let c = classify(&analysis(vec![flat(Metric::Rss, 100.0 * MIB)]), &[], MIB);
        assert_eq!(
            (c.pattern, c.confidence),
            (Pattern::Steady, Confidence::High)
        );
    }

    #[test]
    fn half_heap_half_retention_is_unknown() {
        let a = analysis(vec![
            m(Metric::Rss, 100.0 * MIB, 110.0 * MIB, 100.0 * MIB, true),
            m(Metric::Heap, 50.0 * MIB, 40.0 * MIB, 35.0 * MIB, true),
        ]);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::Unknown);
        assert!(c.summary.contains("35%"), "{}", c.summary);
    }

    #[test]
    fn vram_growth_with_flat_host_is_gpu_caching() {
        let a = analysis(vec![
            flat(Metric::Rss, 900.0 * MIB),
            flat(Metric::Heap, 300.0 * MIB),
            m(Metric::Vram, 1024.0 * MIB, 800.0 * MIB, 600.0 * MIB, true),
        ]);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::GpuCachingAllocator);
        assert!(c.summary.contains("vram: +600 MiB"), "{}", c.summary);
    }

    #[test]
    fn swap_growth_is_host_pressure_but_falling_available_alone_is_not() {
        let a = analysis(vec![
            flat(Metric::Rss, 900.0 * MIB),
            m(Metric::Swap, 0.0, 300.0 * MIB, 280.0 * MIB, true),
            m(
                Metric::SysAvailable,
                4096.0 * MIB,
                -900.0 * MIB,
                -800.0 * MIB,
                true,
            ),
        ]);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::HostMemoryPressure);
        assert_eq!(c.confidence, Confidence::High);
        assert!(c.summary.contains("swap: +280 MiB"), "{}", c.summary);

        // Regression guard: on a shared machine other programs move
        // MemAvailable; that alone says nothing about the target.
        let a = analysis(vec![
            flat(Metric::Rss, 900.0 * MIB),
            flat(Metric::Heap, 300.0 * MIB),
            m(
                Metric::SysAvailable,
                4096.0 * MIB,
                -900.0 * MIB,
                -800.0 * MIB,
                true,
            ),
        ]);
        assert_eq!(classify(&a, &[], MIB).pattern, Pattern::Steady);
    }

    #[test]
    fn the_rise_names_the_first_sample_it_is_counted_from() {
        // Regression: "+65.3 MiB over the run" was counted from a watched
        // interpreter's first reading, taken as it was spawned (200 KiB):
        // mostly its start-up, not growth, and the text did not say so.
        let a = analysis(vec![m(
            Metric::Rss,
            0.2 * MIB,
            65.3 * MIB,
            1.3 * MIB,
            false,
        )]);
        let e = read_metric(&a.metrics[0], MIB, None);
        assert_eq!(e.first, Some(0.2 * MIB));
        let text = e.describe();
        assert!(
            text.ends_with(", +65.3 MiB from the first sample (205 KiB)"),
            "{text}"
        );
        assert!(!text.contains("over the run"), "{text}");
        // A report written before the base was kept still reads.
        let old: Evidence = serde_json::from_str(
            r#"{"metric":"rss","trend":"flat","slope_per_min":0.0,"growth":0.0,"p_value":1.0,"rise":1048576.0,"flattens":null}"#,
        )
        .unwrap();
        assert_eq!(old.first, None);
        assert!(old.describe().ends_with(", +1.00 MiB over the run"));
    }

    #[test]
    fn a_plateau_under_cycles_says_its_floors_stopped_growing() {
        // A sawtooth watched from its spawn: the interpreter's load, then
        // cycles whose floors hold; the last sample is on a ramp.
        let saw = MetricAnalysis {
            model: Some("cycles".into()),
            cycle_s: Some(10.0),
            ..m(Metric::Rss, 0.5 * MIB, 28.3 * MIB, 0.0, false)
        };
        let c = classify(&analysis(vec![saw.clone()]), &[], MIB);
        assert_eq!(
            (c.pattern, c.confidence),
            (Pattern::BoundedPlateau, Confidence::Medium)
        );
        assert!(
            c.summary.starts_with(
                "rss rose from 512 KiB at the first sample into cycles of ≈ 10 s (the last sample +28.3 MiB from it), whose floors stopped growing after the first 60 s"
            ),
            "{}",
            c.summary
        );
        // Two drops test no trend: that they stopped is not shown.
        let two = long_cycle(saw, 1.0, Some(TWO_DROPS));
        let c = classify(&analysis(vec![two]), &[], MIB);
        assert_eq!(
            (c.pattern, c.confidence),
            (Pattern::BoundedPlateau, Confidence::Low)
        );
        assert!(
            c.summary
                .contains("; but too few cycles to rule growth out: 2 ramps and drops"),
            "{}",
            c.summary
        );
        assert!(
            c.advice[0].starts_with("run several cycles long"),
            "{:?}",
            c.advice
        );
    }

    #[test]
    fn big_warmup_rise_then_flat_is_a_plateau() {
        let a = analysis(vec![
            m(Metric::Rss, 100.0 * MIB, 300.0 * MIB, 0.2 * MIB, false),
            m(Metric::Heap, 40.0 * MIB, 290.0 * MIB, 0.1 * MIB, false),
        ]);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::BoundedPlateau);
        assert!(c.summary.contains("rss rose +300 MiB"), "{}", c.summary);
        assert!(
            c.summary.contains("stopped growing after the first 60 s"),
            "{}",
            c.summary
        );
        // No warm-up cut: the rise came at start-up (a watched command's
        // first sample is taken before its interpreter loads), not "during
        // the first 0 s".
        let mut rss = m(Metric::Rss, 0.02 * MIB, 14.0 * MIB, 0.0, false);
        (rss.warmup_end_s, rss.steady_samples) = (0.001, rss.samples);
        let c = classify(&analysis(vec![rss]), &[], MIB);
        assert_eq!(c.pattern, Pattern::BoundedPlateau);
        assert!(
            c.summary.contains(
                "rose +14.0 MiB over the run (from 20.5 KiB) and stopped growing after start-up"
            ),
            "{}",
            c.summary
        );
    }

    #[test]
    fn growth_under_two_drops_is_said_untested_not_insignificant() {
        // A real watch of sawtooth.py with 20 MiB/min kept under its 10 s
        // cycles, 26 s: two drops, 9.92 MiB/min, p = 1 (no test). It read
        // "growth too noisy to call … (not statistically significant)".
        let rising = m(Metric::Rss, 0.2 * MIB, 39.5 * MIB, 3.8 * MIB, false);
        let two = long_cycle(rising.clone(), 1.0, Some(TWO_DROPS));
        let c = classify(&analysis(vec![two]), &[], MIB);
        assert_eq!(
            (c.pattern, c.confidence),
            (Pattern::Unknown, Confidence::Low)
        );
        assert!(
            c.summary.starts_with("growth the run could not test: rss: +3.80 MiB")
                && c.summary.contains(
                    "(no trend test: 2 ramps and drops (cycles of ≈ 41 samples): too few whole cycles"
                )
                && !c.summary.contains("not statistically significant"),
            "{}",
            c.summary
        );
        assert!(
            c.advice[0].starts_with("run several cycles long"),
            "{:?}",
            c.advice
        );
        // Three floors are tested, on one degree of freedom: insignificant.
        let three = long_cycle(rising, 0.4, Some(THREE_DROPS));
        let c = classify(&analysis(vec![three]), &[], MIB);
        assert!(
            c.summary.starts_with("growth too noisy to call")
                && c.summary
                    .contains("(not statistically significant: 3 ramps and drops"),
            "{}",
            c.summary
        );
    }

    #[test]
    fn a_rise_that_goes_on_rising_without_significance_is_not_a_plateau() {
        // A pymalloc staircase: 39 MiB in the warm-up, then +5.4 MiB more,
        // p = 0.6. Whether it stopped growing is what the run cannot tell.
        let c = classify(
            &analysis(vec![m(
                Metric::Rss,
                0.02 * MIB,
                39.0 * MIB,
                5.4 * MIB,
                false,
            )]),
            &[],
            MIB,
        );
        assert_eq!(c.pattern, Pattern::Unknown, "{}", c.summary);
        assert!(
            c.summary
                .starts_with("growth too noisy to call: rss: +5.40 MiB after warm-up"),
            "{}",
            c.summary
        );
        assert!(
            c.summary
                .contains("+39.0 MiB from the first sample (20.5 KiB)"),
            "{}",
            c.summary
        );
        assert!(
            !c.advice.iter().any(|a| a.contains("not a leak")),
            "{:?}",
            c.advice
        );
        // Below the floor after warm-up, or falling, it stopped growing.
        for growth in [0.5 * MIB, -3.0 * MIB] {
            let c = classify(
                &analysis(vec![m(Metric::Rss, 0.02 * MIB, 39.0 * MIB, growth, false)]),
                &[],
                MIB,
            );
            assert_eq!(c.pattern, Pattern::BoundedPlateau, "{}", c.summary);
            assert!(c.summary.contains("and stopped growing"), "{}", c.summary);
        }
    }

    #[test]
    fn growth_that_flattens_in_the_steady_state_is_a_plateau() {
        let a = analysis(vec![
            m(Metric::Rss, 100.0 * MIB, 210.0 * MIB, 200.0 * MIB, true),
            m(Metric::Heap, 50.0 * MIB, 190.0 * MIB, 180.0 * MIB, true),
        ]);
        let s = [Shape {
            metric: Metric::Rss,
            early_slope: 0.6 * MIB,
            late_slope: 0.002 * MIB,
            late_significant: false,
            early_se: 0.05 * MIB,
            late_se: 0.05 * MIB,
            half_span_s: 270.0,
        }];
        let c = classify(&a, &s, MIB);
        assert_eq!(c.pattern, Pattern::BoundedPlateau);
        assert!(c.summary.contains("flattens"), "{}", c.summary);
        // A steady linear leak does not flatten.
        let s = [Shape {
            late_slope: 0.55 * MIB,
            late_significant: true,
            ..s[0]
        }];
        assert_eq!(classify(&a, &s, MIB).pattern, Pattern::LiveHeapGrowth);
        // Nor does one whose halves are too noisy to tell apart: the late
        // slope came out small, but within 1.645 standard errors of the
        // early one (a 6 MiB/min leak under ±8 MiB of thread-arena churn,
        // 90 s).
        let s = [Shape {
            late_slope: 0.002 * MIB,
            late_significant: false,
            early_se: 0.3 * MIB,
            late_se: 0.3 * MIB,
            ..s[0]
        }];
        assert_eq!(classify(&a, &s, MIB).pattern, Pattern::LiveHeapGrowth);
    }

    #[test]
    fn a_cache_filling_over_a_leak_is_growth_not_a_plateau() {
        // Regression: a cache filled to 120 MiB by 100 s over a 6 MiB/min
        // leak (3 min, failing its gate at 20.8 MiB/min, p = 0.001) was "a
        // cache filling towards its bound, not (yet) a leak": its halves
        // read about 61 and 10 MiB/min, the late one not significant in 55 s.
        let mut rss = m(Metric::Rss, 0.7 * MIB, 186.0 * MIB, 38.1 * MIB, true);
        (rss.warmup_end_s, rss.steady_samples) = (70.0, 112);
        let a = analysis(vec![rss]);
        let knee = Shape {
            metric: Metric::Rss,
            early_slope: 61.0 / 60.0 * MIB,
            late_slope: 10.0 / 60.0 * MIB,
            late_significant: false,
            early_se: 4.0 / 60.0 * MIB,
            late_se: 6.0 / 60.0 * MIB,
            half_span_s: 55.0,
        };
        let c = classify(&a, &[knee], MIB);
        assert_ne!(c.pattern, Pattern::BoundedPlateau, "{}", c.summary);
        assert!(c.summary.starts_with("memory grows"), "{}", c.summary);
        assert!(!c.summary.contains("flattening"), "{}", c.summary);
        assert!(
            !c.advice.iter().any(|a| a.contains("not (yet) a leak")),
            "{:?}",
            c.advice
        );
        // The same fill levelling off (its late half within the floor) is
        // the cache's plateau.
        let full = Shape {
            late_slope: -0.8 / 60.0 * MIB,
            ..knee
        };
        let c = classify(&a, &[full], MIB);
        assert_eq!(c.pattern, Pattern::BoundedPlateau, "{}", c.summary);
        assert!(c.summary.contains("flattening"), "{}", c.summary);
    }

    #[test]
    fn growth_past_the_floor_that_a_conclusive_pass_bounds_is_not_too_noisy() {
        // Regression: a sawtooth freeing all every 60 s (4 min) read
        // +1.29 MiB after warm-up, p = 0.173, its interval −846 KiB …
        // 1.48 MiB/min a conclusive pass of `rss.slope<2MiB/min`, and was
        // "growth too noisy to call".
        let gate = |ci_high_per_min: f64, outcome: Outcome, conclusive: bool| {
            let threshold: crate::analysis::threshold::Threshold =
                "rss.slope<2MiB/min".parse().unwrap();
            ThresholdResult {
                measured: Some(0.33 * MIB / 60.0),
                ci: Some((-0.83 * MIB / 60.0, ci_high_per_min * MIB / 60.0)),
                p_value: Some(0.173),
                outcome,
                conclusive: Some(conclusive),
                ..ThresholdResult::skipped(&threshold, String::new())
            }
        };
        let run = |gates: Vec<ThresholdResult>| {
            let mut a = analysis(vec![m(
                Metric::Rss,
                0.2 * MIB,
                65.3 * MIB,
                1.29 * MIB,
                false,
            )]);
            a.thresholds = gates;
            classify(&a, &[], MIB)
        };
        let c = run(vec![gate(1.48, Outcome::Pass, true)]);
        assert_eq!(c.pattern, Pattern::Steady, "{}", c.summary);
        assert_eq!(c.confidence, Confidence::Medium);
        assert!(!c.summary.contains("too noisy"), "{}", c.summary);
        assert!(
            c.summary
                .ends_with("; interval -850 KiB/min … 1.48 MiB/min within `rss.slope<2MiB/min`"),
            "{}",
            c.summary
        );
        // An interval that reaches past the limit, no gate, or a gate on
        // another metric: too noisy to call, still.
        let vram: crate::analysis::threshold::Threshold = "vram.slope<2MiB/min".parse().unwrap();
        let elsewhere = ThresholdResult {
            conclusive: Some(true),
            outcome: Outcome::Pass,
            ..ThresholdResult::skipped(&vram, String::new())
        };
        for gates in [
            vec![gate(13.5, Outcome::Pass, false)],
            vec![
                gate(1.48, Outcome::Pass, true),
                gate(13.5, Outcome::Pass, false),
            ],
            vec![],
            vec![elsewhere],
        ] {
            let c = run(gates);
            assert_eq!(c.pattern, Pattern::Unknown, "{}", c.summary);
            assert!(
                c.summary.starts_with("growth too noisy to call"),
                "{}",
                c.summary
            );
        }
    }

    #[test]
    fn nothing_grows_is_steady_and_noise_is_unknown() {
        let a = analysis(vec![
            flat(Metric::Rss, 100.0 * MIB),
            flat(Metric::Heap, 40.0 * MIB),
        ]);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::Steady);
        let a = analysis(vec![
            m(Metric::Rss, 100.0 * MIB, 12.0 * MIB, 10.0 * MIB, false),
            flat(Metric::Heap, 40.0 * MIB),
        ]);
        let c = classify(&a, &[], MIB);
        assert_eq!(c.pattern, Pattern::Unknown);
        assert!(c.summary.contains("too noisy"), "{}", c.summary);
    }

    /// One process of a synthetic tree: `(pid, name, first seen, last
    /// seen, rss(t))`.
    type Proc<'a> = (u32, &'a str, f64, f64, &'a dyn Fn(f64) -> f64);

    /// A tree sampled once a second for 120 s.
    fn tree(procs: &[Proc<'_>]) -> ProcessTable {
        let mut t = ProcessTable::default();
        for i in 0..=120 {
            let x = f64::from(i);
            for (pid, name, from, to, rss) in procs {
                if (*from..=*to).contains(&x) {
                    t.push(x, *pid, name, rss(x));
                }
            }
        }
        t
    }

    /// A few KiB of deterministic jitter, no trend.
    fn jitter(x: f64) -> f64 {
        ((x as u64 * 7919) % 13) as f64 * 4096.0
    }

    #[test]
    fn a_forking_pool_s_parent_is_named_against_the_tree_s_pss() {
        // The parent keeps 1 MiB/s; workers forked from it live 10 s each
        // and start with its pages, so the tree's RSS grows 2.5 times as
        // fast as what the tree holds (PSS).
        let parent = |x: f64| 20.0 * MIB + x * MIB;
        // Each worker holds what it inherited at its fork, no more.
        type Held = Box<dyn Fn(f64) -> f64>;
        let workers: Vec<(u32, f64, Held)> = (0..12)
            .map(|k| {
                let from = 10.0 * f64::from(k);
                let held: Held = Box::new(move |x| 20.0 * MIB + from * MIB + jitter(x));
                (100 + k, from, held)
            })
            .collect();
        let mut procs: Vec<Proc<'_>> = vec![(10, "python3 pool.py", 0.0, 120.0, &parent)];
        for (pid, from, held) in &workers {
            procs.push((*pid, "python3 pool.py", *from, from + 9.0, held.as_ref()));
        }
        let trends = process_trends(&tree(&procs), 10.0, 0.95);
        let rss_pss = |rss_growth: f64| {
            analysis(vec![
                m(Metric::Rss, 400.0 * MIB, 280.0 * MIB, rss_growth, true),
                m(Metric::Pss, 150.0 * MIB, 115.0 * MIB, 112.0 * MIB, true),
            ])
        };
        let c = classify_tree(&rss_pss(280.0 * MIB), &[], &trends, MIB);
        assert_eq!(c.pattern, Pattern::OneProcess, "{}", c.summary);
        assert_eq!(c.process.as_ref().unwrap().pid, 10);
        assert!(
            c.summary.contains("of the tree's growth (pss: +112 MiB"),
            "{}",
            c.summary
        );
        assert!(
            c.advice
                .iter()
                .any(|a| a.contains("`pss.slope`") && a.contains("+280 MiB")),
            "{:?}",
            c.advice
        );
        // RSS and PSS growing alike: RSS is the tree's measure, no advice.
        let c = classify_tree(&rss_pss(120.0 * MIB), &[], &trends, MIB);
        assert_eq!(c.pattern, Pattern::OneProcess, "{}", c.summary);
        assert!(c.summary.contains("(rss: +120 MiB"), "{}", c.summary);
        assert!(
            !c.advice.iter().any(|a| a.contains("pss.slope")),
            "{:?}",
            c.advice
        );
    }

    #[test]
    fn the_others_of_one_growing_process_are_given_net_of_their_falls() {
        // One other process gives back 2 KiB a second: the text said
        // "+0 B together" (only rises were summed).
        let leak = |x: f64| 50.0 * MIB + x * MIB;
        let shrinks = |x: f64| 80.0 * MIB - x * 2048.0;
        let trends = process_trends(
            &tree(&[
                (11, "python3 targets.py leak", 0.0, 120.0, &leak),
                (12, "python3 targets.py shrinks", 0.0, 120.0, &shrinks),
            ]),
            10.0,
            0.95,
        );
        let a = growing_rss(140.0, 120.0, 110.0);
        let c = classify_tree(&a, &[], &trends, MIB);
        assert_eq!(c.pattern, Pattern::OneProcess, "{}", c.summary);
        let f = c.process.as_ref().unwrap();
        assert_eq!(f.others_growth, 0.0);
        assert!(
            (f.others_net + 220.0 * 1024.0).abs() < 1024.0,
            "{}",
            f.others_net
        );
        assert!(
            c.summary
                .contains("the other 1 process(es) do not grow (-220 KiB together)"),
            "{}",
            c.summary
        );
    }

    #[test]
    fn a_process_seen_too_briefly_to_fit_is_not_said_to_stay_flat() {
        // Regression: a pyenv shim (`bash pyenv exec python3 …`), seen once
        // at 0 s before it exec'd, was "the other 1 process(es) do not grow
        // (+0 B together)": nothing was measured of it.
        let leak = |x: f64| 50.0 * MIB + x * MIB;
        let shim = |_: f64| 0.3 * MIB;
        let flat = |x: f64| 80.0 * MIB + jitter(x);
        let a = growing_rss(50.0, 120.0, 110.0);
        let classify_with = |procs: &[Proc<'_>]| {
            classify_tree(&a, &[], &process_trends(&tree(procs), 10.0, 0.95), MIB)
        };
        let c = classify_with(&[
            (7, "python3 w.py", 0.0, 120.0, &leak),
            (8, "bash pyenv exec python3 w.py", 0.0, 0.0, &shim),
        ]);
        assert_eq!(c.pattern, Pattern::OneProcess, "{}", c.summary);
        assert!(!c.summary.contains("do not grow"), "{}", c.summary);
        assert!(
            c.summary.ends_with(
                "; the tree's other 1 process(es) were seen too briefly to fit (pid 8 `bash pyenv exec python3 w.py`: too few readings to fit (1))"
            ),
            "{}",
            c.summary
        );
        // Beside one that was fitted, each is said for what it is.
        let c = classify_with(&[
            (7, "python3 w.py", 0.0, 120.0, &leak),
            (8, "bash pyenv exec python3 w.py", 0.0, 0.0, &shim),
            (9, "python3 flat.py", 0.0, 120.0, &flat),
        ]);
        assert_eq!(c.pattern, Pattern::OneProcess, "{}", c.summary);
        assert!(
            c.summary.contains(
                "; the other 1 process(es) do not grow (+0 B together), and 1 more were seen too briefly to fit (pid 8 "
            ),
            "{}",
            c.summary
        );
    }

    #[test]
    fn growth_in_one_child_names_it() {
        let parent = |x: f64| 10.0 * MIB + jitter(x);
        let leak = |x: f64| 50.0 * MIB + x * MIB;
        let flat = |x: f64| 80.0 * MIB + jitter(x + 3.0);
        let p = tree(&[
            (10, "python3 targets.py parent", 0.0, 120.0, &parent),
            (11, "python3 targets.py leak", 0.0, 120.0, &leak),
            (12, "python3 targets.py flat", 0.0, 120.0, &flat),
        ]);
        let trends = process_trends(&p, 10.0, 0.95);
        assert_eq!(trends[0].pid, 11, "most growth first: {trends:?}");
        // 1 MiB/s from 10 s to 120 s.
        let g = trends[0].growth.unwrap() / MIB;
        assert!((g - 110.0).abs() < 0.5, "{g}");
        let a = growing_rss(140.0, 120.0, 112.0);
        let c = classify_tree(&a, &[], &trends, MIB);
        assert_eq!(c.pattern, Pattern::OneProcess, "{}", c.summary);
        assert_eq!(c.confidence, Confidence::High);
        let f = c.process.as_ref().unwrap();
        assert_eq!((f.pid, f.name.as_str()), (11, "python3 targets.py leak"));
        assert_eq!(f.others, 2);
        assert!((f.share - 110.0 / 112.0).abs() < 0.01, "{}", f.share);
        assert!(f.others_growth < MIB, "{}", f.others_growth);
        assert!(
            c.summary
                .contains("pid 11 `python3 targets.py leak`: +110 MiB")
                && c.summary
                    .contains("98% of the tree's growth (rss: +112 MiB"),
            "{}",
            c.summary
        );
        assert_eq!(c.processes.len(), 3);
        // Without per-process data the same run is a black box.
        assert_eq!(classify(&a, &[], MIB).pattern, Pattern::Unknown);
    }

    #[test]
    fn growth_shared_by_two_processes_names_neither() {
        let leak = |x: f64| 50.0 * MIB + 0.5 * x * MIB;
        let p = tree(&[(10, "a", 0.0, 120.0, &leak), (11, "b", 0.0, 120.0, &leak)]);
        let a = growing_rss(100.0, 120.0, 110.0);
        let c = classify_tree(&a, &[], &process_trends(&p, 10.0, 0.95), MIB);
        assert_eq!(c.pattern, Pattern::Unknown);
        assert!(c.process.is_none());
        assert!(
            c.summary
                .contains("not confined to one of its 2 processes: pid 10 `a`: +55.0 MiB"),
            "{}",
            c.summary
        );
    }

    #[test]
    fn a_process_that_appears_mid_run_is_no_leak_of_its_own() {
        // The tree steps up by 100 MiB when a worker starts at 60 s (its
        // start-up ramp takes 4 s); no process grows after its warm-up.
        let parent = |x: f64| 10.0 * MIB + jitter(x);
        let worker = |x: f64| (100.0 * MIB * (x - 59.0) / 4.0).min(100.0 * MIB);
        let brief = |_| 300.0 * MIB;
        let p = tree(&[
            (10, "parent", 0.0, 120.0, &parent),
            (11, "worker", 60.0, 120.0, &worker),
            // Seen twice only: too few readings to fit, still a process.
            (12, "brief", 30.0, 31.0, &brief),
        ]);
        let trends = process_trends(&p, 5.0, 0.95);
        let w = trends.iter().find(|t| t.pid == 11).unwrap();
        assert_eq!(w.first_s, 60.0);
        assert!(w.growth.unwrap().abs() < MIB, "{w:?}");
        let b = trends.iter().find(|t| t.pid == 12).unwrap();
        assert_eq!((b.samples, b.growth), (2, None));
        let a = growing_rss(10.0, 100.0, 90.0);
        let c = classify_tree(&a, &[], &trends, MIB);
        assert_eq!(c.pattern, Pattern::Unknown);
        assert!(
            // The brief one is not counted among those that do not grow.
            c.summary.contains(
                "no single one of its 2 processes grows on its own (1 more seen too briefly to fit)"
            ),
            "{}",
            c.summary
        );
    }

    #[test]
    fn a_process_holding_too_small_a_share_or_alone_is_not_named() {
        // It grows 55 MiB of the tree's 110 MiB: the rest comes from
        // elsewhere (a process appearing), so naming it would mislead.
        let leak = |x: f64| 50.0 * MIB + 0.5 * x * MIB;
        let flat = |x: f64| 20.0 * MIB + jitter(x);
        let p = tree(&[(10, "a", 0.0, 120.0, &leak), (11, "b", 0.0, 120.0, &flat)]);
        let a = growing_rss(100.0, 120.0, 110.0);
        let trends = process_trends(&p, 10.0, 0.95);
        assert_eq!(
            classify_tree(&a, &[], &trends, MIB).pattern,
            Pattern::Unknown
        );
        // A tree of one process has nothing to single out.
        let alone = tree(&[(10, "a", 0.0, 120.0, &leak)]);
        let a = growing_rss(50.0, 60.0, 55.0);
        let c = classify_tree(&a, &[], &process_trends(&alone, 10.0, 0.95), MIB);
        assert_eq!(c.pattern, Pattern::Unknown);
        assert!(c.summary.contains("black box"), "{}", c.summary);
    }

    #[test]
    fn shapes_measure_early_and_late_drift() {
        // A cache that fills at 1 MiB/s for 100 s, then stays put.
        let mut t = SampleTable::new(vec![Metric::Rss]);
        for i in 0..200 {
            let x = i as f64;
            let y = 100.0 * MIB + x.min(100.0) * MIB;
            t.push(x, None, &[Some(y as u64)]);
        }
        let a = analysis(vec![MetricAnalysis {
            warmup_end_s: 0.0,
            ..m(Metric::Rss, 100.0 * MIB, 100.0 * MIB, 100.0 * MIB, true)
        }]);
        let s = shapes(&t, &a, 0.95);
        assert_eq!(s.len(), 1);
        assert!((s[0].early_slope / MIB - 1.0).abs() < 0.05, "{:?}", s[0]);
        assert!(s[0].late_slope.abs() < 0.05 * MIB, "{:?}", s[0]);
        let c = classify(&a, &s, MIB);
        assert_eq!(c.pattern, Pattern::BoundedPlateau);
    }

    #[test]
    fn growth_that_slows_without_flattening_says_how_fast_it_goes_on() {
        // A black box's rss, 24 MiB/min over the first half of its steady
        // state, 6 over the second: still growing by more than the floor in
        // the second half (no plateau), measurably slower.
        let a = growing_rss(100.0, 60.0, 50.0);
        let shape = Shape {
            metric: Metric::Rss,
            early_slope: 0.4 * MIB,
            late_slope: 0.1 * MIB,
            late_significant: true,
            early_se: 0.03 * MIB,
            late_se: 0.03 * MIB,
            half_span_s: 45.0,
        };
        let c = classify(&a, &[shape], MIB);
        assert_eq!(c.pattern, Pattern::Unknown, "{}", c.summary);
        assert!(
            c.summary.contains(
                "; rss's growth slowed: 24.0 MiB/min over the first half of the steady state, 6.00 MiB/min over the second (95% CI 2.47 MiB/min … 9.53 MiB/min)"
            ),
            "{}",
            c.summary
        );
        assert!(
            c.advice.iter().any(|a| a == SLOWED_ADVICE),
            "{:?}",
            c.advice
        );
        // Not two thirds as fast, or not measurably slower: nothing is said.
        for quiet in [
            Shape {
                late_slope: 0.3 * MIB,
                ..shape
            },
            Shape {
                early_se: 0.2 * MIB,
                ..shape
            },
        ] {
            let c = classify(&a, &[quiet], MIB);
            assert!(!c.summary.contains("slowed"), "{}", c.summary);
            assert!(
                !c.advice.iter().any(|a| a == SLOWED_ADVICE),
                "{:?}",
                c.advice
            );
        }
        // Flattening (the second half under the floor) is a plateau, and
        // says so instead.
        let flat = Shape {
            late_slope: 0.001 * MIB,
            ..shape
        };
        let c = classify(&a, &[flat], MIB);
        assert_eq!(c.pattern, Pattern::BoundedPlateau, "{}", c.summary);
        assert!(!c.summary.contains("slowed"), "{}", c.summary);
    }

    /// The share of 200 seeded runs of `behaviour` under `noise` (90 s at
    /// 1 Hz, the auto warm-up) whose rss is read as growth that slowed.
    fn slowed_share(
        noise: crate::stats::calibration::Noise,
        behaviour: crate::stats::calibration::Behaviour,
    ) -> f64 {
        let scenario = crate::stats::calibration::Scenario {
            noise,
            behaviour,
            seconds: 90.0,
            hz: 1.0,
        };
        let runs = 200;
        let slowed = (0..runs)
            .filter(|&seed| {
                let (t, y) = scenario.simulate(seed);
                let y: Vec<f64> = y.iter().map(|v| v + 200.0 * MIB).collect();
                rss_read(&t, &y).slowed.is_some()
            })
            .count();
        slowed as f64 / runs as f64
    }

    /// How the classifier reads rss sampled as `y` at times `t` (no items;
    /// the default analysis: auto warm-up, 95%), its halves measured as a
    /// run's report measures them.
    fn rss_read(t: &[f64], y: &[f64]) -> Evidence {
        let mut table = SampleTable::new(vec![Metric::Rss]);
        for (x, v) in t.iter().zip(y) {
            table.push(*x, None, &[Some(*v as u64)]);
        }
        let a = crate::analysis::analyze(&table, &super::super::test_support::opts(&[]));
        let shape = shapes(&table, &a, 0.95);
        read_metric(
            a.metric(Metric::Rss).expect("rss analysed"),
            MIB,
            shape.first(),
        )
    }

    #[test]
    fn a_cache_still_filling_at_the_end_is_mostly_said_to_slow() {
        // 60 MiB filling as 1 − e^(−t/45 s) under 2 MiB of white noise, 90 s
        // at 1 Hz: from the warm-up cut (35 s) about 27 MiB/min over the
        // first half of the steady state and 15 over the second, still
        // growing past the floor in each: growth, not (yet) a plateau.
        let runs = 200;
        let slowed = (0..runs)
            .filter(|&seed| {
                let mut rng = crate::stats::test_rng::Rng::new(seed);
                let t: Vec<f64> = (0..90).map(f64::from).collect();
                let y: Vec<f64> = t
                    .iter()
                    .map(|x| {
                        200.0 * MIB
                            + 60.0 * MIB * (1.0 - (-x / 45.0).exp())
                            + 2.0 * MIB * rng.normal()
                    })
                    .collect();
                let e = rss_read(&t, &y);
                e.trend == Trend::Grows && e.slowed.is_some()
            })
            .count();
        let share = slowed as f64 / runs as f64;
        println!("a cache still filling read as slowing in {share:.3}");
        assert!(share >= 0.7, "{share}");
    }

    #[test]
    fn a_steady_leak_is_rarely_said_to_slow() {
        // The one-sided 5% test on the halves, with the second at most two
        // thirds of the first: a leak of 1.5× or 3× the default limit that
        // keeps its rate is read as slowing in few runs under any of these
        // noises.
        use crate::stats::calibration::{Behaviour, Noise};
        let noises = [
            Noise::White,
            Noise::Jump,
            Noise::Ar1(0.9),
            Noise::Sawtooth,
            Noise::Mixture,
        ];
        for noise in noises {
            for leak in [Behaviour::Linear(1.5), Behaviour::Linear(3.0)] {
                let share = slowed_share(noise, leak);
                println!("{noise:?} {leak:?}: a steady leak read as slowing in {share:.3}");
                assert!(share <= 0.05, "{noise:?} {leak:?}: {share}");
            }
        }
    }
}
