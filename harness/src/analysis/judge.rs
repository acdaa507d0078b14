//! Judging a threshold at the end of a run: its outcome from a metric's
//! analysis ([`evaluate`], a trailing window's included), a swap limit
//! skipped on a host without swap ([`no_swap_skip`]), and the run length a
//! pass that is not conclusive would need ([`settle`]). Pure; no I/O.

use crate::analysis::threshold::{Op, Stat, Threshold};
use crate::analysis::{Estimate, MetricAnalysis, Outcome, ResultWindow, ThresholdResult};
use crate::sample::Metric;
use crate::stats;

/// A swap limit on a host with no swap (`swap_total` `Some(0)`), skipped
/// with the reason: `swap` (the tree's `VmSwap`) and `sys_swap_used` are 0
/// on every sample there, and a limit that 0 holds (`swap.max<64MiB`, the
/// default) would pass on a column of zeros, a gate that cannot fail. A
/// limit 0 does not hold (`swap.max>1MiB`) is judged: it fails. `None` for
/// any other threshold, or where the host has swap or is not known. O(1).
pub fn no_swap_skip(th: &Threshold, swap_total: Option<u64>) -> Option<ThresholdResult> {
    let on_swap = matches!(th.metric, Metric::Swap | Metric::SysSwapUsed);
    (on_swap && swap_total == Some(0) && th.op.holds(0.0, th.limit)).then(|| {
        ThresholdResult::skipped(
            th,
            format!(
                "this host has no swap (SwapTotal 0 kB); {}.{} cannot be breached here",
                th.metric,
                th.stat.name()
            ),
        )
    })
}

/// Judge one threshold against a metric's analysis.
pub fn evaluate(th: &Threshold, m: Option<&MetricAnalysis>, min_growth: f64) -> ThresholdResult {
    let result = |measured, ci, p_value, outcome, note: String| ThresholdResult {
        threshold: th.clone(),
        measured,
        ci,
        p_value,
        outcome,
        note,
        conclusive: None,
        settle_run_s: None,
        window: None,
        unjudged: None,
    };
    let skipped = |note: String| ThresholdResult::skipped(th, note);
    // Skipped, and the run cannot pass on it: `why` says what would let it be judged.
    let unjudged = |why: String, note: String| ThresholdResult {
        unjudged: Some(why),
        ..skipped(note)
    };
    let Some(m) = m else {
        return skipped(format!("`{}` was not sampled on this run", th.metric));
    };
    let fitted = |est: Option<Estimate>, scale: f64| -> ThresholdResult {
        let Some(e) = est else {
            return unjudged(
                format!(
                    "it needs {} after warm-up (a longer run, a shorter --warmup or a faster --sample-every)",
                    stats::MIN_DRIFT_POINTS
                ),
                format!(
                    "too few samples after warm-up to fit a drift ({})",
                    m.steady_samples
                ),
            );
        };
        let (v, lo, hi) = (e.value * scale, e.ci_low * scale, e.ci_high * scale);
        let p = m.trend_p_value;
        let p_text = p.map_or("p=n/a".to_string(), crate::units::fmt_p_is);
        let over = !th.op.holds(v, th.limit);
        let growth = m.growth.unwrap_or(0.0);
        // A limit judged at itself (memory must keep growing) is breached
        // by too little growth: its evidence is the whole interval below
        // it, and no materiality floor applies.
        let at_limit = th.judged_at_limit();
        let material = at_limit || growth.abs() >= min_growth;
        let shown = if at_limit {
            !th.op.holds(hi, th.limit)
        } else {
            m.significant
        };
        let (outcome, note) = match (over, shown) {
            (true, true) if !material => (
                Outcome::Pass,
                format!(
                    "{} is past {} and significant ({p_text}), but the fitted growth after warm-up, {}, is below the {} materiality floor",
                    th.format_value(v),
                    th.limit_text(),
                    crate::units::fmt_bytes(growth),
                    crate::units::fmt_bytes(min_growth)
                ),
            ),
            (true, true) if at_limit => (
                Outcome::Fail,
                format!(
                    "{} is below {} and so is its whole interval ({} … {})",
                    th.format_value(v),
                    th.limit_text(),
                    th.format_value(lo),
                    th.format_value(hi)
                ),
            ),
            (true, true) => (
                Outcome::Fail,
                format!(
                    "{} {} {} and the trend is significant ({p_text})",
                    th.format_value(v),
                    if matches!(th.op, Op::Lt | Op::Le) {
                        "exceeds"
                    } else {
                        "is below"
                    },
                    th.limit_text()
                ),
            ),
            (true, false) if at_limit => (
                Outcome::Pass,
                format!(
                    "{} is below {} but its interval reaches {} (a drift at the limit is not ruled out)",
                    th.format_value(v),
                    th.limit_text(),
                    th.format_value(hi)
                ),
            ),
            (true, false) => (
                Outcome::Pass,
                format!(
                    "{} is past {} but the trend is not statistically significant ({p_text})",
                    th.format_value(v),
                    th.limit_text()
                ),
            ),
            (false, _) => (
                Outcome::Pass,
                format!("{} within {}", th.format_value(v), th.limit_text()),
            ),
        };
        result(Some(v), Some((lo, hi)), p, outcome, note)
    };
    match th.stat {
        Stat::Slope => {
            let whole = fitted(m.slope_per_min, 1.0 / 60.0);
            if whole.outcome == Outcome::Pass {
                late_breach(th, m, min_growth, &whole).unwrap_or(whole)
            } else {
                whole
            }
        }
        Stat::SlopePer1k => {
            if m.slope_per_1k.is_none() && m.slope_per_min.is_some() {
                return match m.items_stalled_at {
                    Some(n) => unjudged(
                        "the workload must make progress after warm-up (is the pipeline stuck, or the warm-up too long?)".into(),
                        format!(
                            "no item was finished after warm-up (the count stayed at {n}), so there is no drift per item to fit"
                        ),
                    ),
                    None => skipped("items are not counted on this run".into()),
                };
            }
            let whole = fitted(m.slope_per_1k, 1.0);
            if whole.outcome == Outcome::Pass {
                late_breach(th, m, min_growth, &whole).unwrap_or(whole)
            } else {
                whole
            }
        }
        Stat::Growth => {
            let est = m.growth.zip(m.slope_per_min).map(|(g, s)| {
                let (ci_low, ci_high) = m.growth_ci.unwrap_or_else(|| {
                    let f = if s.value != 0.0 { g / s.value } else { 0.0 };
                    (s.ci_low * f, s.ci_high * f)
                });
                Estimate {
                    value: g,
                    ci_low,
                    ci_high,
                }
            });
            let whole = fitted(est, 1.0);
            if whole.outcome == Outcome::Pass {
                late_breach(th, m, min_growth, &whole).unwrap_or(whole)
            } else {
                whole
            }
        }
        Stat::Max | Stat::Min => {
            let v = if th.stat == Stat::Max { m.max } else { m.min };
            let ok = th.op.holds(v, th.limit);
            let note = if ok {
                format!("{} within {}", th.format_value(v), th.limit_text())
            } else {
                format!("{} is past the cap {}", th.format_value(v), th.limit_text())
            };
            result(
                Some(v),
                None,
                None,
                if ok { Outcome::Pass } else { Outcome::Fail },
                note,
            )
        }
    }
}

/// A pass of an upper `slope`, `slope_per_1k` or `growth` limit over the
/// whole steady state turned into a failure by growth that began late: a
/// trailing window ([`LateWindow`]) whose drift (per minute, per 1000 of
/// the items it embedded, or as fitted growth over the window) is past
/// the limit, significant at the window's level, above the whole steady
/// state's (its interval wholly so: the rate rose), and whose fitted growth
/// reaches the materiality floor. `None` where no window says so (the whole
/// run's result stands). The result carries the window's slope or growth,
/// its interval and p.
///
/// NOTE: memory that grew by G within the window grew by about G over the
/// steady state, whose rate before the window was lower (the rate rose);
/// the whole run's line spreads that growth over the run and reads a
/// fraction of it (a 6 MiB/min leak over the last 7.5 of 30 minutes grew
/// 45 MiB, and the whole run's fit said 17).
fn late_breach(
    th: &Threshold,
    m: &MetricAnalysis,
    min_growth: f64,
    whole: &ThresholdResult,
) -> Option<ThresholdResult> {
    let l = m.late.as_ref()?;
    // The bad direction only: an upper limit, or a floor on available
    // memory (whose windows are found where it fell).
    let lower_is_worse = th.metric.lower_is_worse();
    if matches!(th.op, Op::Lt | Op::Le) == lower_is_worse {
        return None;
    }
    let e = l.slope_per_min;
    // NOTE: per 1000 items, the window's rate over the items it embedded
    // (its items per second, as counted at its ends): in a window a few
    // minutes long the items' pace is steady enough that its significance
    // and its rise are the time fit's.
    let per = match th.stat {
        Stat::Slope => 1.0 / 60.0,
        Stat::Growth => l.span_s / 60.0,
        Stat::SlopePer1k => 1000.0 / 60.0 / l.items_per_s?,
        _ => return None,
    };
    let (v, lo, hi) = (e.value * per, e.ci_low * per, e.ci_high * per);
    if th.op.holds(v, th.limit) || !l.worsened(min_growth, lower_is_worse) {
        return None;
    }
    let whole_text = whole
        .measured
        .map_or("no fit".to_string(), |w| th.format_value(w));
    Some(ThresholdResult {
        unjudged: None,
        threshold: th.clone(),
        measured: Some(v),
        ci: Some((lo, hi)),
        p_value: Some(l.p_value),
        outcome: Outcome::Fail,
        note: format!(
            "{} began late: over the last {} (from {} on) {} {} {} and the trend is significant ({}, under the {:.4} a trailing window is judged at); over the whole steady state {}",
            if lower_is_worse { "a fall" } else { "growth" },
            crate::units::fmt_secs(l.span_s),
            crate::units::fmt_secs(l.from_s),
            th.format_value(v),
            if lower_is_worse {
                "is below"
            } else {
                "exceeds"
            },
            th.limit_text(),
            crate::units::fmt_p_is(l.p_value),
            1.0 - l.confidence,
            whole_text
        ),
        conclusive: None,
        settle_run_s: None,
        window: Some(ResultWindow {
            from_s: l.from_s,
            span_s: l.span_s,
            confidence: l.confidence,
        }),
    })
}

/// The fewest independent samples (a drift's effective n) a run must be
/// worth for [`settle`] to plan a longer run from it. Below it the run
/// cannot measure how persistent its noise is, and plans from it came out
/// short: AR(1) φ = 0.9 in 90 s at 1 Hz (worth 5–10), its plans (median
/// 213 s) settled 28% of fresh runs, against the 80% planned; held levels
/// 64%, AR(1) φ = 0.98 20%. With 20 those get none, and the plans made
/// settle 77–100% of fresh runs in every family (`calibrate --settle`,
/// 100 seeds, 90 s at 1 and 10 Hz, 10 minutes; 10 left them at 0–60%,
/// 30 dropped most of AR(1) φ = 0.5's and the mixture's good plans).
const MIN_PLAN_EFFECTIVE: f64 = 20.0;

/// ... unless the noise is barely persistent: the steady samples are worth
/// at least a quarter as many independent ones, and a plan extrapolates
/// little more than the sample count. Quantised readings, fitted on means
/// of 3 samples, are worth at most a third of their samples however white
/// they are: in 90 s at 1 Hz, [`MIN_PLAN_EFFECTIVE`] alone planned 42% of
/// their open runs, this 44%, and every plan settled its fresh run. A
/// sixth planned 64% of them, but also 5% of AR(1) φ = 0.9's open runs,
/// whose plans settled a third (`calibrate --settle`, 200 seeds). NOTE: the
/// samples, not the points fitted, on purpose: read against the points
/// (means of 3 quantised or held readings, a point a second at 10 Hz),
/// held levels in 90 s at 1 Hz were planned in 23% of open runs (2%) and
/// those plans settled 53% of fresh runs (67%). So a fit read on fewer
/// points than samples plans only from [`MIN_PLAN_EFFECTIVE`].
const MAX_PLAN_PERSISTENCE: f64 = 4.0;

/// `r` with whether its interval settles it ([`ThresholdResult::conclusive`])
/// and, for a slope's pass that it does not settle, the run length that
/// would ([`ThresholdResult::settle_run_s`]), with a clause on the note
/// saying so. The run's samples span `start_s` to `end_s`; `m` is the
/// analysis `r` was evaluated on. Caps and skipped thresholds are returned
/// as they are.
///
/// A pass within the limit is settled once the interval's far side is
/// within it too; one past the limit but not significant, once the
/// interval leaves 0 (then it fails), or for a limit judged at itself
/// ([`Threshold::judged_at_limit`]), once it leaves the limit. The run length is left out where the
/// interval is not a statistical one (a long-cycle fit's or one clamped to
/// the data's range), for a pass held only by the materiality floor, and
/// for `growth`, whose limit does not scale with the run.
pub fn settle(
    mut r: ThresholdResult,
    m: Option<&MetricAnalysis>,
    start_s: f64,
    end_s: f64,
    confidence: f64,
) -> ThresholdResult {
    let (Some(v), Some((lo, hi)), Some(m)) = (r.measured, r.ci, m) else {
        return r;
    };
    let th = &r.threshold;
    if r.outcome == Outcome::Skipped || matches!(th.stat, Stat::Max | Stat::Min) {
        return r;
    }
    // The interval's bound toward the limit's far side, and the one toward 0.
    let upper = matches!(th.op, Op::Lt | Op::Le);
    let (far, near) = if upper { (hi, lo) } else { (lo, hi) };
    // A pass: the whole interval within the limit; a breach: all of it past.
    let conclusive = if r.outcome == Outcome::Pass {
        th.op.holds(far, th.limit)
    } else {
        !th.op.holds(near, th.limit)
    };
    r.conclusive = Some(conclusive);
    if conclusive
        || r.outcome != Outcome::Pass
        || !matches!(th.stat, Stat::Slope | Stat::SlopePer1k)
    {
        return r;
    }
    let statistical = !m.interval_from_range;
    let worth = m.effective_samples.unwrap_or(f64::NAN);
    // NOTE: a cycle fit's points are its cycles, as many as the run holds
    // (9 in 90 s of a 10 s sawtooth), tested on their own m − 2 degrees of
    // freedom: its plans are sound however few they are (every one made
    // settled its fresh run). A level fit is held to the rule.
    let measured_noise = m.model.as_deref() == Some(stats::DriftModel::Cycles.name())
        || worth >= MIN_PLAN_EFFECTIVE
        || m.steady_samples as f64 <= MAX_PLAN_PERSISTENCE * worth;
    let steady_s = end_s - m.warmup_end_s;
    let past = !th.op.holds(v, th.limit);
    // What a breach is shown against: no drift, or the limit itself
    // (`Threshold::judged_at_limit`).
    let null = if th.judged_at_limit() { th.limit } else { 0.0 };
    if past && m.significant && !th.judged_at_limit() {
        // Held by the materiality floor alone.
        return r;
    }
    // Within the limit: how long until the far side is within it too, the
    // drift taken at its estimate, or at 0 where it came out falling (a
    // healthy run's slope is noise about 0, and a fall would promise a
    // run shorter than the noise allows). Past it: until the interval
    // leaves 0.
    let (half, distance) = if past {
        ((v - near).abs(), (v - null).abs())
    } else {
        // 0 lies on the healthy side of an upper limit above it (a lower
        // limit below it), and the drift is taken no further out than 0.
        let healthy_zero = if upper {
            th.limit > 0.0
        } else {
            th.limit < 0.0
        };
        let assumed = if healthy_zero {
            if upper { v.max(0.0) } else { v.min(0.0) }
        } else {
            v
        };
        ((far - v).abs(), (th.limit - assumed).abs())
    };
    let steady = (statistical && measured_noise)
        .then(|| stats::settle_steady_s(steady_s, half, distance, confidence))
        .flatten();
    r.settle_run_s = steady.map(|t| m.warmup_end_s - start_s + t);
    let bound = th.format_value(far);
    let plan = match r.settle_run_s {
        Some(run) if past && th.judged_at_limit() => format!(
            " (a run of {} would show whether it stays below {})",
            crate::units::fmt_about_secs(run),
            th.limit_text()
        ),
        Some(run) if past => format!(
            " (a run of {} would show whether the drift is real)",
            crate::units::fmt_about_secs(run)
        ),
        Some(run) => format!(
            " (a run of {} would settle it at this drift)",
            crate::units::fmt_about_secs(run)
        ),
        None if statistical && !measured_noise => format!(
            " (the run is worth about {worth:.0} independent samples, too few to plan a longer one from)"
        ),
        None if !statistical => {
            " (its interval is the range the data allow, not a statistical one: \
             no run length can be planned from it)"
                .to_string()
        }
        None => String::new(),
    };
    let clause = if past {
        format!("; not conclusive{plan}")
    } else {
        format!(
            "; not conclusive: the interval reaches {bound}, past the limit, so a drift at the limit is not ruled out{plan}"
        )
    };
    r.note.push_str(&clause);
    r
}
