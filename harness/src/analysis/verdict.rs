//! The verdict of a run: pass, fail (a threshold breached) or error (the
//! run could not be judged).

use serde::{Deserialize, Serialize};

use super::Analysis;

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Ran to the end, every threshold held.
    Pass,
    /// A threshold was breached.
    Fail,
    /// The run could not be judged (target or backend failed, bad input).
    Error,
}

impl Verdict {
    /// The word of the closing line and the charts' titles (`PASS`).
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
        }
    }
}

/// The worst of many verdicts (error, then fail, then pass): the verdict
/// of a gate over a matrix of runs. `Pass` when there are none.
///
/// # Examples
/// ```
/// use memsoak::analysis::verdict::{Verdict, worst};
/// assert_eq!(worst([Verdict::Pass, Verdict::Fail, Verdict::Pass]), Verdict::Fail);
/// assert_eq!(worst([Verdict::Fail, Verdict::Error]), Verdict::Error);
/// ```
pub fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    let rank = |v: Verdict| match v {
        Verdict::Pass => 0,
        Verdict::Fail => 1,
        Verdict::Error => 2,
    };
    verdicts
        .into_iter()
        .max_by_key(|v| rank(*v))
        .unwrap_or(Verdict::Pass)
}

/// Judge a run: `failed` when it could not be judged (target or backend
/// failed, bad input), else by its thresholds: a breach fails it; a
/// threshold left without samples to judge ([`Analysis::unjudged`]) makes
/// it an error, not a pass, since nothing says that limit held; so does a
/// run whose every threshold was skipped ([`Analysis::nothing_judged`]).
pub fn verdict(analysis: &Analysis, failed: bool) -> Verdict {
    if failed {
        Verdict::Error
    } else if analysis.breached() {
        Verdict::Fail
    } else if analysis.unjudged().next().is_some() || analysis.nothing_judged() {
        Verdict::Error
    } else {
        Verdict::Pass
    }
}
