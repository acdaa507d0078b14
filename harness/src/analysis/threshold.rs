//! Threshold expressions, k6-like: `METRIC.STAT OP VALUE`.
//!
//! `rss.slope<2MiB/min`, `heap.slope_per_1k<64KiB`, `rss.growth<100MiB`,
//! `rss.max<4GiB`, `sys_available.min>1GiB`, and floors on a fall:
//! `sys_available.slope>-2MiB/min`. Parsing only; evaluation
//! against an analysis lives in [`crate::analysis`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::sample::Metric;
use crate::units::{self, PerTime};

/// The statistic a threshold limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    /// Drift per unit time after warm-up (limit stored in bytes/s; the unit
    /// typed is kept for display).
    Slope,
    /// Drift per 1000 items embedded (`slope_per_1k`, as typed; reports
    /// written before said `slope_per1k`, which still reads).
    #[serde(rename = "slope_per_1k", alias = "slope_per1k")]
    SlopePer1k,
    /// Fitted growth from the end of warm-up to the end of the run.
    Growth,
    /// Highest sample over the whole run.
    Max,
    /// Lowest sample over the whole run (for `sys_available`).
    Min,
}

impl Stat {
    /// Name as typed.
    pub fn name(self) -> &'static str {
        match self {
            Stat::Slope => "slope",
            Stat::SlopePer1k => "slope_per_1k",
            Stat::Growth => "growth",
            Stat::Max => "max",
            Stat::Min => "min",
        }
    }

    /// Whether it is read off a drift fitted after warm-up (`slope`,
    /// `slope_per_1k`, `growth`), which needs
    /// [`crate::stats::MIN_DRIFT_POINTS`] samples there; `max` and `min`
    /// are read off every sample.
    pub fn fitted(self) -> bool {
        matches!(self, Stat::Slope | Stat::SlopePer1k | Stat::Growth)
    }
}

/// Comparison operator: the threshold *holds* when `measured OP limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    /// Whether `measured OP limit` is true.
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Op::Lt => measured < limit,
            Op::Le => measured <= limit,
            Op::Gt => measured > limit,
            Op::Ge => measured >= limit,
        }
    }

    /// The operator as typed.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A parsed threshold.
///
/// # Examples
/// ```
/// use memsoak::analysis::threshold::{Threshold, Stat};
/// let t: Threshold = "rss.slope<2MiB/min".parse().unwrap();
/// assert_eq!(t.stat, Stat::Slope);
/// assert!((t.limit - 2.0 * 1048576.0 / 60.0).abs() < 1e-9);
/// ```
///
/// Read back (from `report.json`) by parsing its expression again, so the
/// unit typed, which the file does not hold, is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Stored")]
pub struct Threshold {
    /// The expression as typed (whitespace removed).
    pub expr: String,
    /// The metric it limits.
    pub metric: Metric,
    /// The statistic.
    pub stat: Stat,
    /// The comparison.
    pub op: Op,
    /// The limit: bytes/s for `slope`, bytes otherwise.
    pub limit: f64,
    /// For `slope`: the time unit typed, for display.
    #[serde(skip)]
    pub per: PerTime,
}

impl Threshold {
    /// The limit formatted as typed (`2.00 MiB/min`).
    pub fn limit_text(&self) -> String {
        self.format_value(self.limit)
    }

    /// Whether a breach is shown against the limit itself, not against no
    /// drift: a lower limit above 0 on a drift (`rss.slope>1MiB/min`:
    /// memory must keep growing, as a cache being filled does), where no
    /// drift at all is the breach. Such a limit is breached once the whole
    /// interval is below it; every other drift limit once the estimate is
    /// past it and the trend is significant (and material).
    pub fn judged_at_limit(&self) -> bool {
        matches!(self.op, Op::Gt | Op::Ge) && self.limit > 0.0 && self.stat.fitted()
    }

    /// Format a measured value of this threshold's statistic.
    pub fn format_value(&self, v: f64) -> String {
        match self.stat {
            Stat::Slope => units::fmt_rate(v, self.per),
            Stat::SlopePer1k => format!("{}/1k items", units::fmt_bytes(v)),
            _ => units::fmt_bytes(v),
        }
    }
}

/// A drift limit to suggest for `m` in a message: an upper one, or a floor
/// on a fall for a metric whose fall is the bad direction
/// (`sys_available.slope>-2MiB/min`).
pub fn example_for(m: Metric) -> String {
    if m.lower_is_worse() {
        format!("{m}.slope>-2MiB/min")
    } else {
        format!("{m}.slope<2MiB/min")
    }
}

/// The thresholds applied when none are given: a slope limit on each main
/// metric that was sampled.
pub fn defaults(metrics: &[Metric]) -> Vec<Threshold> {
    [
        (Metric::Rss, "rss.slope<2MiB/min"),
        (Metric::Heap, "heap.slope<1MiB/min"),
        (Metric::Vram, "vram.slope<1MiB/min"),
        (Metric::Swap, "swap.max<64MiB"),
    ]
    .into_iter()
    .filter(|(m, _)| metrics.contains(m))
    .map(|(_, s)| s.parse().expect("built-in thresholds parse"))
    .collect()
}

/// A threshold as `report.json` holds it: the expression is what counts.
#[derive(Deserialize)]
struct Stored {
    expr: String,
}

impl TryFrom<Stored> for Threshold {
    type Error = ThresholdError;

    fn try_from(s: Stored) -> Result<Self, Self::Error> {
        s.expr.parse()
    }
}

/// Why a threshold expression was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid threshold `{expr}`: {why}")]
pub struct ThresholdError {
    /// The expression.
    pub expr: String,
    /// What is wrong, in a few words.
    pub why: String,
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expr: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let err = |why: String| ThresholdError {
            expr: s.to_string(),
            why,
        };
        let pos = expr
            .find(['<', '>'])
            .ok_or_else(|| err("no operator (expected <, <=, > or >=)".into()))?;
        let (lhs, rest) = expr.split_at(pos);
        let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else {
            (Op::Gt, &rest[1..])
        };
        let (metric, stat) = lhs.split_once('.').ok_or_else(|| {
            err("expected METRIC.STAT before the operator, e.g. rss.slope".into())
        })?;
        let metric = Metric::from_name(metric).ok_or_else(|| {
            let names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
            err(format!(
                "unknown metric `{metric}` (known: {})",
                names.join(", ")
            ))
        })?;
        let stat = match stat {
            "slope" => Stat::Slope,
            "slope_per_1k" => Stat::SlopePer1k,
            "growth" => Stat::Growth,
            "max" => Stat::Max,
            "min" => Stat::Min,
            other => {
                return Err(err(format!(
                    "unknown statistic `{other}` (known: slope, slope_per_1k, growth, max, min)"
                )));
            }
        };
        if value.is_empty() {
            return Err(err("no value after the operator".into()));
        }
        // A drift may be bounded from below: `sys_available.slope>-2MiB/min`
        // (available memory must not fall faster than 2 MiB/min). A
        // negative limit is a floor on a drift only: an upper one would
        // ask memory to fall, and a size is never negative.
        let (sign, value) = match value.strip_prefix('-') {
            Some(v) => (-1.0, v),
            None => (1.0, value),
        };
        // `-0` is 0, whatever the unit.
        let zero = value
            .trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '/')
            .parse::<f64>()
            .is_ok_and(|v| v == 0.0);
        if sign < 0.0 && !zero {
            if matches!(stat, Stat::Max | Stat::Min) {
                return Err(err(format!(
                    "`{}` takes a size, which is never negative",
                    stat.name()
                )));
            }
            if matches!(op, Op::Lt | Op::Le) {
                return Err(err(format!(
                    "a negative upper limit asks memory to fall; a floor on a fall is `>` \
                     (e.g. {}.{}>{value_neg})",
                    metric.name(),
                    stat.name(),
                    value_neg = format_args!("-{value}")
                )));
            }
        }
        // A unit error quotes the value it read, which had its sign taken
        // off: put it back (`invalid rate \`-2MiB/mn\``).
        let signed = |e: units::UnitError| {
            let text = e.to_string();
            if sign < 0.0 {
                text.replacen(&format!("`{value}`"), &format!("`-{value}`"), 1)
            } else {
                text
            }
        };
        let (limit, per) = match stat {
            Stat::Slope => units::parse_rate(value).map_err(|e| err(signed(e)))?,
            _ => {
                if value.contains('/') {
                    return Err(err(format!(
                        "`{}` takes a size, not a rate (e.g. 64KiB)",
                        stat.name()
                    )));
                }
                (
                    units::parse_size(value).map_err(|e| err(signed(e)))?,
                    PerTime::Minute,
                )
            }
        };
        Ok(Threshold {
            expr,
            metric,
            stat,
            op,
            limit: if zero { 0.0 } else { sign * limit },
            per,
        })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_contract_examples() {
        for (s, m, st) in [
            ("rss.slope<2MiB/min", Metric::Rss, Stat::Slope),
            ("heap.slope_per_1k<64KiB", Metric::Heap, Stat::SlopePer1k),
            ("rss.growth<100MiB", Metric::Rss, Stat::Growth),
            ("rss.max<4GiB", Metric::Rss, Stat::Max),
            ("vram.slope<1MiB/min", Metric::Vram, Stat::Slope),
            ("swap.max<1MiB", Metric::Swap, Stat::Max),
            ("sys_available.min > 1GiB", Metric::SysAvailable, Stat::Min),
        ] {
            let t: Threshold = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!((t.metric, t.stat), (m, st), "{s}");
        }
        let t: Threshold = "rss.max <= 4GiB".parse().unwrap();
        assert_eq!(t.op, Op::Le);
        assert_eq!(t.limit, 4.0 * 1073741824.0);
        assert_eq!(t.expr, "rss.max<=4GiB");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases = [
            ("rss.slope", "no operator"),
            ("rsss.slope<1MiB/min", "unknown metric `rsss`"),
            ("rss.slop<1MiB/min", "unknown statistic `slop`"),
            ("rss.slope<1MiB", "invalid rate"),
            ("rss.max<1MiB/min", "takes a size"),
            ("rss<1MiB", "expected METRIC.STAT"),
            ("rss.max<", "no value"),
            ("rss.max<lots", "invalid size"),
            ("rss.max>-1GiB", "never negative"),
            ("rss.slope<-1MiB/min", "a floor on a fall is `>`"),
            ("rss.growth<=-1MiB", "rss.growth>-1MiB"),
            ("rss.slope>--1MiB/min", "invalid rate"),
            ("rss.slope>-2MiB/mn", "invalid rate `-2MiB/mn`"),
        ];
        for (s, want) in cases {
            let e = s.parse::<Threshold>().unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn a_drift_takes_a_negative_floor() {
        let t: Threshold = "sys_available.slope > -2MiB/min".parse().unwrap();
        assert_eq!(
            (t.metric, t.stat, t.op),
            (Metric::SysAvailable, Stat::Slope, Op::Gt)
        );
        assert_eq!(t.limit, -2.0 * 1048576.0 / 60.0);
        assert_eq!(t.limit_text(), "-2.00 MiB/min");
        let t: Threshold = "rss.growth>=-100MiB".parse().unwrap();
        assert_eq!((t.op, t.limit), (Op::Ge, -100.0 * 1048576.0));
        let t: Threshold = "heap.slope_per_1k>-64KiB".parse().unwrap();
        assert_eq!(t.limit, -65536.0);
        assert!(!t.judged_at_limit());
        // `-0` is 0, on either side.
        for s in [
            "rss.slope<-0B/min",
            "rss.slope>-0MiB/min",
            "rss.growth<-0.0KiB",
        ] {
            let t: Threshold = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(t.limit, 0.0, "{s}");
        }
        assert!(
            "rss.slope>1MiB/min"
                .parse::<Threshold>()
                .unwrap()
                .judged_at_limit()
        );
        assert!(
            !"rss.slope>0B/min"
                .parse::<Threshold>()
                .unwrap()
                .judged_at_limit()
        );
        assert!(
            !"rss.min>1MiB"
                .parse::<Threshold>()
                .unwrap()
                .judged_at_limit()
        );
    }

    #[test]
    fn a_statistic_is_stored_as_it_is_typed() {
        let json = serde_json::to_string(&Stat::SlopePer1k).unwrap();
        assert_eq!(json, "\"slope_per_1k\"");
        for old in ["\"slope_per_1k\"", "\"slope_per1k\""] {
            assert_eq!(serde_json::from_str::<Stat>(old).unwrap(), Stat::SlopePer1k);
        }
    }

    #[test]
    fn ops() {
        assert!(Op::Lt.holds(1.0, 2.0));
        assert!(!Op::Lt.holds(2.0, 2.0));
        assert!(Op::Le.holds(2.0, 2.0));
        assert!(Op::Gt.holds(3.0, 2.0));
        assert!(Op::Ge.holds(2.0, 2.0));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Threshold>();
        }

        #[test]
        fn structured_inputs_never_panic(
            m in "(rss|heap|vram|x)", st in "(slope|max|growth|slope_per_1k|y)",
            op in "(<|<=|>|>=|=)", v in "[0-9.]{0,5}(KiB|MiB|GB|)(/min|/s|/h|)") {
            let _ = format!("{m}.{st}{op}{v}").parse::<Threshold>();
        }
    }
}
