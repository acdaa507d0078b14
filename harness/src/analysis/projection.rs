//! Projection: at the fitted drift, how long until the host runs out of
//! memory, and until each cap (`rss.max<4GiB`, `sys_available.min>1GiB`) is
//! reached. "At this rate: out of memory in 3 d 4 h."
//!
//! Pure: consumes an [`Analysis`]; does no I/O. Only a significant drift in
//! the bad direction is projected; a flat series never runs out.

use serde::{Deserialize, Serialize};

use crate::analysis::classify::SHARED_OVERCOUNT;
use crate::analysis::threshold::{Op, Stat};
use crate::analysis::{Analysis, MetricAnalysis};
use crate::sample::Metric;
use crate::units::{fmt_bytes, fmt_secs};

/// The time until one limit is reached at the fitted drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeTo {
    /// What runs out: `host memory` or a threshold expression.
    pub what: String,
    /// The metric whose drift drives it.
    pub metric: Metric,
    /// Where it stands now (last sample), bytes.
    pub level: f64,
    /// The limit, bytes.
    pub limit: f64,
    /// Drift towards the limit, bytes per second (positive = approaching);
    /// `None` when no significant drift in that direction was found.
    pub rate_per_s: Option<f64>,
    /// Seconds until the limit at the point estimate of the drift; `None`
    /// when it is not approached; 0 when it is already reached.
    pub seconds: Option<f64>,
    /// Seconds until the limit at the upper end of the drift's CI (the
    /// earliest plausible time).
    pub earliest_s: Option<f64>,
    /// One line for people.
    pub text: String,
}

/// All projections of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Projection {
    /// Host memory (`sys_available`) exhausted by the tree's RSS drift.
    pub out_of_memory: Option<TimeTo>,
    /// Host memory exhausted by the host's shared memory (`sys_shmem`)
    /// where it grows significantly: memory no process's RSS may count
    /// (see [`project`]); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_memory: Option<TimeTo>,
    /// Each `max` (or `min`) threshold, in the order given.
    pub caps: Vec<TimeTo>,
    /// The target's memory cgroup limit, reached by the working set's drift
    /// (what the kernel OOM-kills a container at); absent without a limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_limit: Option<TimeTo>,
}

impl Projection {
    /// Every projection: host memory (the tree's, then shared memory's),
    /// the caps, the cgroup limit.
    pub fn all(&self) -> impl Iterator<Item = &TimeTo> {
        self.out_of_memory
            .iter()
            .chain(&self.shared_memory)
            .chain(&self.caps)
            .chain(&self.cgroup_limit)
    }

    /// Projections that actually reach their limit (the ones worth a line).
    pub fn reaching(&self) -> impl Iterator<Item = &TimeTo> {
        self.all().filter(|t| t.seconds.is_some())
    }
}

/// Drift towards the limit, bytes/s, when significant.
#[derive(Debug, Clone, Copy)]
struct Approach {
    /// The point estimate.
    rate: f64,
    /// The end of its interval that reaches the limit soonest.
    fast: f64,
    /// Seconds of the trailing window the rate was read over, where growth
    /// began late ([`crate::analysis::LateWindow`]); `None`: the whole
    /// steady state.
    window_s: Option<f64>,
}

/// The drift of `m` towards a limit above (`upward`) or below it, when
/// significant and material (past `floor`).
///
/// NOTE: upward, where growth began late (a trailing window whose rate
/// rose, significant and material: what fails an upper slope limit), the
/// window's rate: memory runs out at the rate it grows now. A 6 MiB/min
/// leak over the last 7.5 of 30 minutes reads 0.56 MiB/min over the whole
/// run, and its time to a limit came out ten times too long.
fn approach(m: &MetricAnalysis, upward: bool, floor: f64) -> Option<Approach> {
    // Downward, the same of a fall that began late (available memory,
    // whose windows are found where it fell: `LateWindow::fell`).
    if let Some(l) = m
        .late
        .as_ref()
        .filter(|l| if upward { l.grew(floor) } else { l.fell(floor) })
    {
        let e = l.slope_per_min;
        let (v, fast) = if upward {
            (e.value, e.ci_high)
        } else {
            (-e.value, -e.ci_low)
        };
        return (v > 0.0).then_some(Approach {
            rate: v / 60.0,
            fast: fast.max(v) / 60.0,
            window_s: Some(l.span_s),
        });
    }
    let e = m.slope_per_min?;
    // NOTE: the same evidence a threshold breach needs: a significant trend
    // whose fitted growth reaches the materiality floor. A few hundred KiB
    // of warm-up extrapolated over days is no projection.
    let material = m.growth.is_some_and(|g| g.abs() >= floor);
    if !m.significant || !material {
        return None;
    }
    let (v, fast) = if upward {
        (e.value, e.ci_high)
    } else {
        (-e.value, -e.ci_low)
    };
    (v > 0.0).then_some(Approach {
        rate: v / 60.0,
        fast: fast.max(v) / 60.0,
        window_s: None,
    })
}

/// How a rate reads in a projection's line: `6.00 MiB/min`, or where it is
/// a trailing window's, `6.00 MiB/min over the last 3.5 min`.
fn rate_text(a: &Approach) -> String {
    let per_min = fmt_bytes(a.rate * 60.0);
    match a.window_s {
        Some(w) => format!("{per_min}/min over the last {}", fmt_secs(w)),
        None => format!("{per_min}/min"),
    }
}

/// `8.5 h`, or `8.5 h (as soon as 4.3 h)` where the interval's fast end
/// reads another time.
fn when(seconds: f64, earliest: Option<f64>) -> String {
    let at = fmt_secs(seconds);
    match earliest.map(fmt_secs).filter(|e| *e != at) {
        Some(e) => format!("{at} (as soon as {e})"),
        None => at,
    }
}

fn time_to(
    what: String,
    metric: Metric,
    level: f64,
    limit: f64,
    rate: Option<Approach>,
    upward: bool,
) -> TimeTo {
    let gap = if upward { limit - level } else { level - limit };
    let (seconds, earliest_s) = if gap <= 0.0 {
        (Some(0.0), Some(0.0))
    } else {
        match rate {
            Some(a) => (Some(gap / a.rate), Some(gap / a.fast)),
            None => (None, None),
        }
    };
    let text = match (seconds, rate) {
        (Some(s), _) if s <= 0.0 => format!("{what}: already reached ({})", fmt_bytes(level)),
        (Some(s), Some(a)) => format!(
            "{what}: at this rate ({}) reached in {}",
            rate_text(&a),
            when(s, earliest_s)
        ),
        _ => format!("{what}: not approached (no significant drift towards it)"),
    };
    TimeTo {
        what,
        metric,
        level,
        limit,
        rate_per_s: rate.map(|a| a.rate),
        seconds,
        earliest_s,
        text,
    }
}

/// Project every limit of a run.
///
/// Host memory: the tree's drift eats into the host's last
/// `sys_available`. The drift is `rss_anon`'s, or `pss`'s where that is
/// significant and under 1/1.5 of it (RSS, else PSS, where
/// neither was sampled). NOTE: the drift of
/// `sys_available` itself is not used: on a shared machine other programs
/// move it. NOTE: not all of RSS: the kernel counts clean file pages (a
/// mapped dataset read page by page) as available, and drops them before
/// it runs out; a process reading a mapped file at 60 MiB/min was projected
/// "out of memory in 6.6 h" from its RSS. And RSS, anonymous part included,
/// counts a page shared by several processes once per process (workers
/// forked from a parent that keeps growing inherit its pages): a parent
/// keeping 6 MiB/min with two recycled workers read 17.5 MiB/min in
/// `rss_anon` and 6.3 in `pss`. Both overstate what the host loses, each in
/// its own way (PSS counts file pages): where they part that far, PSS is
/// the closer.
///
/// Host shared memory (`sys_shmem`: tmpfs, `/dev/shm`, shared anonymous
/// mappings) that grows is projected on a line of its own against the
/// same available memory ([`Projection::shared_memory`]). NOTE: once
/// nothing maps it no process's memory counts it, and `rss_anon` never
/// does: a target leaving 12 MiB/min in `/dev/shm` with a flat tree was
/// "not running out" while the classification named the leak. Its own
/// line, not added to the tree's: any program on the host moves it.
///
/// # Examples
/// ```
/// use memsoak::analysis::Analysis;
/// let a = Analysis { duration_s: 0.0, samples: 0, items: None, dropped_rows: 0,
///                    gaps: vec![], metrics: vec![], thresholds: vec![] };
/// let p = memsoak::analysis::projection::project(&a, memsoak::analysis::DEFAULT_MIN_GROWTH);
/// assert!(p.out_of_memory.is_none() && p.caps.is_empty());
/// ```
pub fn project(analysis: &Analysis, floor: f64) -> Projection {
    let rate = |m: &MetricAnalysis| m.slope_per_min.map_or(f64::NAN, |e| e.value);
    let anon = analysis.metric(Metric::RssAnon);
    let pss = analysis.metric(Metric::Pss);
    // NOTE: PSS only where it plainly grows slower (significant, and under
    // 1/1.5 of the anonymous drift): it is read on a 1% duty cycle, and a
    // big process's sparse PSS, noisier, would otherwise win half the time
    // and hide a real leak as "not significant".
    let overcounted = anon
        .zip(pss)
        .is_some_and(|(a, p)| p.significant && rate(p) * SHARED_OVERCOUNT < rate(a));
    let tree = if overcounted { pss } else { anon }
        .or_else(|| analysis.metric(Metric::Rss))
        .or(pss);
    let out_of_memory = analysis
        .metric(Metric::SysAvailable)
        .zip(tree)
        .map(|(avail, tree)| {
            let rate = approach(tree, true, floor);
            let mut t = time_to(
                format!("host memory ({} available)", fmt_bytes(avail.last)),
                tree.metric,
                0.0,
                avail.last,
                rate,
                true,
            );
            // Host memory counts the other way round: the tree's growth
            // uses up what is available.
            t.text = match (t.seconds, rate) {
                (Some(s), Some(a)) => format!(
                    "at this rate ({} {}): out of memory in {}",
                    tree.metric,
                    rate_text(&a),
                    when(s, t.earliest_s)
                ),
                _ => format!(
                    "host memory: not running out ({} does not grow significantly)",
                    tree.metric
                ),
            };
            t
        });
    let shared_memory = analysis
        .metric(Metric::SysAvailable)
        .zip(analysis.metric(Metric::SysShmem))
        .and_then(|(avail, shm)| {
            let rate = approach(shm, true, floor)?;
            let mut t = time_to(
                format!("host memory ({} available)", fmt_bytes(avail.last)),
                shm.metric,
                0.0,
                avail.last,
                Some(rate),
                true,
            );
            let s = t.seconds?;
            t.text = format!(
                "host shared memory grows ({} {}, any program on the host may): the host's available memory gone in {}",
                shm.metric,
                rate_text(&rate),
                when(s, t.earliest_s)
            );
            Some(t)
        });
    let caps = analysis
        .thresholds
        .iter()
        .filter(|r| matches!(r.threshold.stat, Stat::Max | Stat::Min))
        .filter_map(|r| {
            let th = &r.threshold;
            let m = analysis.metric(th.metric)?;
            // A max cap is approached from below by growth; a min floor
            // from above by a fall. The other combinations cannot be
            // "reached" by drift in the bad direction.
            let upward = match (th.stat, th.op) {
                (Stat::Max, Op::Lt | Op::Le) => true,
                (Stat::Min, Op::Gt | Op::Ge) => false,
                _ => return None,
            };
            // NOTE: a cap passed by any sample is reached (as the threshold
            // judges it); otherwise the gap is counted from the last sample.
            let extreme = if upward { m.max } else { m.min };
            let passed = if upward {
                extreme >= th.limit
            } else {
                extreme <= th.limit
            };
            Some(time_to(
                th.expr.clone(),
                th.metric,
                if passed { extreme } else { m.last },
                th.limit,
                approach(m, upward, floor),
                upward,
            ))
        })
        .collect();
    Projection {
        out_of_memory,
        shared_memory,
        caps,
        cgroup_limit: None,
    }
}

/// The time until a memory cgroup's `limit` (bytes) at the fitted drift of
/// its working set (else of its whole charge): when a container will be
/// OOM-killed if nothing changes. `None` when neither was sampled.
pub fn cgroup_limit(analysis: &Analysis, limit: f64, floor: f64) -> Option<TimeTo> {
    let m = analysis
        .metric(Metric::CgroupWorkingSet)
        .or_else(|| analysis.metric(Metric::Cgroup))?;
    let level = if m.max >= limit { m.max } else { m.last };
    let mut t = time_to(
        format!("cgroup limit ({})", fmt_bytes(limit)),
        m.metric,
        level,
        limit,
        approach(m, true, floor),
        true,
    );
    if t.seconds.is_none() {
        t.text = format!(
            "cgroup limit ({}): not approached ({} does not grow significantly)",
            fmt_bytes(limit),
            m.metric
        );
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Estimate, Outcome, ThresholdResult};

    use crate::units::GIB;
    use crate::units::MIB;

    fn m(metric: Metric, last: f64, per_min: f64, significant: bool) -> MetricAnalysis {
        MetricAnalysis {
            metric,
            samples: 100,
            warmup_end_s: 10.0,
            steady_samples: 90,
            slope_per_min: Some(Estimate {
                value: per_min,
                ci_low: per_min * 0.5,
                ci_high: per_min * 2.0,
            }),
            slope_per_1k: None,
            trend_p_value: Some(0.01),
            significant,
            method: None,
            model: None,
            model_reason: None,
            cycle_s: None,
            ols_slope_per_min: None,
            growth: Some(per_min),
            growth_ci: None,
            effective_samples: None,
            interval_from_range: false,
            items_stalled_at: None,
            late: None,
            max: last,
            min: last,
            first: last,
            last,
        }
    }

    fn th(expr: &str) -> ThresholdResult {
        ThresholdResult {
            unjudged: None,
            threshold: expr.parse().unwrap(),
            measured: None,
            ci: None,
            p_value: None,
            outcome: Outcome::Pass,
            note: String::new(),
            conclusive: None,
            settle_run_s: None,
            window: None,
        }
    }

    fn analysis(metrics: Vec<MetricAnalysis>, thresholds: &[&str]) -> Analysis {
        Analysis {
            duration_s: 100.0,
            samples: 100,
            items: None,
            dropped_rows: 0,
            gaps: vec![],
            metrics,
            thresholds: thresholds.iter().map(|t| th(t)).collect(),
        }
    }

    #[test]
    fn out_of_memory_at_the_rss_drift() {
        // 10 GiB available, RSS grows 2 MiB/min: 5120 min = 3 d 13 h.
        let a = analysis(
            vec![
                m(Metric::Rss, 500.0 * MIB, 2.0 * MIB, true),
                m(Metric::SysAvailable, 10.0 * GIB, -50.0 * MIB, true),
            ],
            &[],
        );
        let p = project(&a, MIB);
        let oom = p.out_of_memory.unwrap();
        assert!((oom.seconds.unwrap() - 5120.0 * 60.0).abs() < 1.0);
        // At the CI's upper end (4 MiB/min) it is twice as soon.
        assert!((oom.earliest_s.unwrap() - 2560.0 * 60.0).abs() < 1.0);
        assert_eq!(
            oom.text,
            "at this rate (rss 2.00 MiB/min): out of memory in 3 d 13 h (as soon as 42.7 h)"
        );
    }

    #[test]
    fn growth_that_began_late_is_projected_at_its_window_rate() {
        // The whole steady state reads 0.5 MiB/min; its last 5 minutes
        // grow at 6 MiB/min, a rate that rose: memory runs out at that.
        let window = |significant, rose| crate::analysis::LateWindow {
            from_s: 1500.0,
            span_s: 300.0,
            slope_per_min: Estimate {
                value: 6.0 * MIB,
                ci_low: 4.0 * MIB,
                ci_high: 8.0 * MIB,
            },
            p_value: 1e-6,
            confidence: 0.9975,
            significant,
            rose,
            fell: false,
            growth: 30.0 * MIB,
            windows: 5,
            model: "level".into(),
            items_per_s: None,
        };
        let mut rss = m(Metric::Rss, 500.0 * MIB, 0.5 * MIB, true);
        rss.growth = Some(15.0 * MIB);
        rss.late = Some(window(true, true));
        let mut a = analysis(
            vec![rss, m(Metric::SysAvailable, 6.0 * GIB, 0.0, false)],
            &["rss.max<1GiB"],
        );
        let p = project(&a, MIB);
        let oom = p.out_of_memory.unwrap();
        // 6 GiB at 6 MiB/min: 1024 min; at 8, 768.
        assert!((oom.seconds.unwrap() - 1024.0 * 60.0).abs() < 1.0);
        assert!((oom.earliest_s.unwrap() - 768.0 * 60.0).abs() < 1.0);
        assert_eq!(
            oom.text,
            "at this rate (rss 6.00 MiB/min over the last 5.0 min): out of memory in 17.1 h (as soon as 12.8 h)"
        );
        // The cap: 524 MiB to go at 6 MiB/min.
        let cap = &p.caps[0];
        assert!((cap.seconds.unwrap() - 524.0 / 6.0 * 60.0).abs() < 1.0);
        assert!(cap.text.contains("over the last 5.0 min"), "{}", cap.text);
        // A window that is not significant, or whose rate did not rise,
        // leaves the whole steady state's rate.
        for (significant, rose) in [(false, true), (true, false)] {
            a.metrics[0].late = Some(window(significant, rose));
            let oom = project(&a, MIB).out_of_memory.unwrap();
            assert!((oom.seconds.unwrap() - 6.0 * 1024.0 / 0.5 * 60.0).abs() < 1.0);
        }
    }

    #[test]
    fn shared_memory_left_on_the_host_runs_it_out_too() {
        // 12 MiB/min left in /dev/shm; the tree's anonymous memory flat.
        let mut a = analysis(
            vec![
                m(Metric::RssAnon, 400.0 * MIB, 0.0, false),
                m(Metric::SysShmem, 100.0 * MIB, 12.0 * MIB, true),
                m(Metric::SysAvailable, 6.0 * GIB, -12.0 * MIB, true),
            ],
            &[],
        );
        let p = project(&a, MIB);
        assert_eq!(p.out_of_memory.as_ref().unwrap().seconds, None);
        let shm = p.shared_memory.as_ref().unwrap();
        // 6 GiB at 12 MiB/min: 512 min; at 24 (the interval's top), 256.
        assert!(
            (shm.seconds.unwrap() - 512.0 * 60.0).abs() < 1.0,
            "{}",
            shm.text
        );
        assert_eq!(shm.metric, Metric::SysShmem);
        assert_eq!(
            shm.text,
            "host shared memory grows (sys_shmem 12.0 MiB/min, any program on the host may): the host's available memory gone in 8.5 h (as soon as 4.3 h)"
        );
        let lines: Vec<_> = p.reaching().map(|t| t.metric).collect();
        assert_eq!(lines, [Metric::SysShmem]);
        // Flat, or not sampled: no line.
        a.metrics[1] = m(Metric::SysShmem, 100.0 * MIB, 0.0, false);
        assert!(project(&a, MIB).shared_memory.is_none());
        a.metrics.remove(1);
        assert!(project(&a, MIB).shared_memory.is_none());
    }

    #[test]
    fn out_of_memory_at_the_smaller_of_anonymous_and_proportional_drift() {
        // A forking pool: RSS (anonymous part too) counts the parent's
        // pages once per worker; PSS splits them. A mapped file: RSS grows
        // in file pages, its anonymous part is flat.
        let pool = analysis(
            vec![
                m(Metric::Rss, 500.0 * MIB, 16.0 * MIB, true),
                m(Metric::Pss, 300.0 * MIB, 6.0 * MIB, true),
                m(Metric::RssAnon, 400.0 * MIB, 17.0 * MIB, true),
                m(Metric::SysAvailable, 10.0 * GIB, -6.0 * MIB, true),
            ],
            &[],
        );
        let oom = project(&pool, MIB).out_of_memory.unwrap();
        assert!(
            oom.text.starts_with("at this rate (pss 6.00 MiB/min)"),
            "{}",
            oom.text
        );
        let mapped = analysis(
            vec![
                m(Metric::Rss, 500.0 * MIB, 60.0 * MIB, true),
                m(Metric::Pss, 500.0 * MIB, 60.0 * MIB, true),
                m(Metric::RssAnon, 60.0 * MIB, 0.0, false),
                m(Metric::SysAvailable, 10.0 * GIB, 0.0, false),
            ],
            &[],
        );
        let oom = project(&mapped, MIB).out_of_memory.unwrap();
        assert_eq!(oom.seconds, None, "{}", oom.text);
        assert!(oom.text.contains("rss_anon does not grow"), "{}", oom.text);
    }

    #[test]
    fn the_runs_materiality_floor_decides() {
        // Regression: the projection used the default 1 MiB floor whatever
        // the run's --min-growth. 2 MiB of fitted growth clears 1 MiB, not 4.
        let a = analysis(
            vec![
                m(Metric::Rss, 500.0 * MIB, 2.0 * MIB, true),
                m(Metric::SysAvailable, 10.0 * GIB, 0.0, false),
            ],
            &[],
        );
        assert!(project(&a, MIB).out_of_memory.unwrap().seconds.is_some());
        let p = project(&a, 4.0 * MIB);
        assert_eq!(p.out_of_memory.unwrap().seconds, None);
    }

    #[test]
    fn flat_or_insignificant_never_runs_out() {
        let a = analysis(
            vec![
                m(Metric::Rss, 500.0 * MIB, 2.0 * MIB, false),
                m(Metric::SysAvailable, 10.0 * GIB, 0.0, false),
            ],
            &["rss.max<1GiB"],
        );
        let p = project(&a, MIB);
        assert_eq!(p.out_of_memory.as_ref().unwrap().seconds, None);
        assert!(
            p.out_of_memory
                .as_ref()
                .unwrap()
                .text
                .contains("not running out")
        );
        assert_eq!(p.caps[0].seconds, None);
        assert_eq!(p.reaching().count(), 0);
    }

    #[test]
    fn caps_max_and_min() {
        let a = analysis(
            vec![
                m(Metric::Rss, 1.0 * GIB, 4.0 * MIB, true),
                m(Metric::Heap, 300.0 * MIB, 1.0 * MIB, true),
                m(Metric::SysAvailable, 3.0 * GIB, -8.0 * MIB, true),
            ],
            &[
                "rss.max<2GiB",
                "heap.max<200MiB",
                "sys_available.min>1GiB",
                "rss.slope<1MiB/min",
            ],
        );
        let p = project(&a, MIB);
        assert_eq!(p.caps.len(), 3);
        // 1 GiB to go at 4 MiB/min: 256 min.
        assert!((p.caps[0].seconds.unwrap() - 256.0 * 60.0).abs() < 1e-6);
        assert!(
            p.caps[0].text.contains("reached in 4.3 h"),
            "{}",
            p.caps[0].text
        );
        // Already past the cap.
        assert_eq!(p.caps[1].seconds, Some(0.0));
        assert!(p.caps[1].text.contains("already reached"));
        // 2 GiB above the floor, falling 8 MiB/min: 256 min.
        assert!((p.caps[2].seconds.unwrap() - 256.0 * 60.0).abs() < 1e-6);
        // The three caps and host memory.
        assert_eq!(p.reaching().count(), 4);
    }
}
