//! The exit codes of the contract (`DESIGN.md`) and how a run's ending
//! maps to one.

use crate::analysis::verdict::Verdict;
use crate::soak::signals::Interrupt;

/// Ran to the end; every threshold held.
pub const PASS: i32 = 0;
/// A threshold was breached (or a baseline comparison found a regression).
pub const BREACH: i32 = 1;
/// Usage, config or input error: nothing was run, or the input was unusable.
pub const USAGE: i32 = 2;
/// The target or backend failed.
pub const TARGET: i32 = 3;
/// Interrupted by SIGINT.
pub const SIGINT: i32 = 130;
/// Interrupted by SIGTERM.
pub const SIGTERM: i32 = 143;
/// Interrupted by SIGHUP (the terminal or ssh session went away).
pub const SIGHUP: i32 = 129;

/// The exit code of an interrupted run.
pub fn interrupted(i: Interrupt) -> i32 {
    match i {
        Interrupt::Int => SIGINT,
        Interrupt::Term => SIGTERM,
        Interrupt::Hup => SIGHUP,
    }
}

/// The exit code of a run: the signal's when interrupted, else the
/// failure's (`USAGE`, `TARGET`) when it failed, else the verdict's (an
/// error with no failure is input that could not be judged: `USAGE`).
pub fn code(verdict: Verdict, failure: Option<i32>, interrupt: Option<Interrupt>) -> i32 {
    interrupt
        .map(interrupted)
        .or(failure)
        .unwrap_or(match verdict {
            Verdict::Pass => PASS,
            Verdict::Fail => BREACH,
            Verdict::Error => USAGE,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_exit_as_a_shell_reports_them() {
        for i in [Interrupt::Int, Interrupt::Term, Interrupt::Hup] {
            assert_eq!(interrupted(i), i.exit_code());
        }
        assert_eq!(code(Verdict::Fail, None, Some(Interrupt::Term)), SIGTERM);
        assert_eq!(code(Verdict::Error, Some(TARGET), None), TARGET);
        assert_eq!(code(Verdict::Fail, None, None), BREACH);
        assert_eq!(code(Verdict::Pass, None, None), PASS);
        assert_eq!(code(Verdict::Error, None, None), USAGE);
    }
}
