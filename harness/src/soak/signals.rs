//! The signals that interrupt a soak (SIGINT, SIGTERM, SIGHUP): raised as
//! flags the monitor polls, so the run folder still gets its report. A
//! second signal of the same kind, [`REPEAT_AFTER`] or more after the
//! first, exits at once (the run folder already holds every sample).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How long after the first signal one of the same kind means "exit now".
/// One that comes sooner is the same interrupt delivered twice: GNU
/// `timeout` sends its signal to the process and then to the process
/// group it leads, microseconds apart.
///
/// NOTE: with every repeat exiting at once, `timeout 2 memsoak run ...`
/// exited 143 without its report in 3 of 22 tries (black-box probe,
/// 2026-12-07); a person pressing Ctrl-C again is seconds later.
pub const REPEAT_AFTER: Duration = Duration::from_millis(500);

/// CLOCK_MONOTONIC in nanoseconds, at least 1 (0 means "no signal yet").
/// Async-signal-safe: `clock_gettime` is on POSIX's list.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec we own.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
        .max(1)
}

/// What one signal does to its flag: the first raises it and notes when;
/// a repeat [`REPEAT_AFTER`] or more later says exit (`true`). Pure apart
/// from the atomics, so the rule is tested without signals.
fn on_signal(flag: &AtomicBool, first_ns: &AtomicU64, now_ns: u64) -> bool {
    match first_ns.compare_exchange(0, now_ns, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => {
            flag.store(true, Ordering::SeqCst);
            false
        }
        Err(first) => now_ns.saturating_sub(first) >= REPEAT_AFTER.as_nanos() as u64,
    }
}

/// The signal that interrupted a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM.
    Term,
    /// SIGHUP (the terminal or ssh session went away).
    Hup,
}

impl Interrupt {
    /// The signal's number.
    pub fn signal(self) -> i32 {
        match self {
            Interrupt::Int => libc::SIGINT,
            Interrupt::Term => libc::SIGTERM,
            Interrupt::Hup => libc::SIGHUP,
        }
    }

    /// The status a process killed by this signal reports to a shell,
    /// `128 + signal` (130, 143, 129): what memsoak exits with when
    /// interrupted.
    pub fn exit_code(self) -> i32 {
        128 + self.signal()
    }
}

/// Flags raised by SIGINT / SIGTERM / SIGHUP.
///
/// SIGXFSZ is ignored: a file-size limit (`ulimit -f`) then fails the write
/// with `EFBIG`, which memsoak reports like a full disk, instead of killing
/// it without a report.
#[derive(Clone)]
pub struct Signals {
    flags: [(Interrupt, Arc<AtomicBool>); 3],
}

impl Signals {
    /// Install the handlers.
    pub fn install() -> std::io::Result<Signals> {
        let s = Signals::unregistered();
        for (i, f) in &s.flags {
            let (flag, first, code) = (f.clone(), AtomicU64::new(0), i.exit_code());
            // NOTE: signal-hook's `register_conditional_shutdown` exits on
            // any repeat, however soon; this is the same with a time gate.
            // SAFETY: the action only reads and writes atomics, reads
            // CLOCK_MONOTONIC and calls `_exit`: all async-signal-safe.
            unsafe {
                signal_hook::low_level::register(i.signal(), move || {
                    if on_signal(&flag, &first, monotonic_ns()) {
                        signal_hook::low_level::exit(code);
                    }
                })?;
            }
        }
        // SAFETY: setting a signal's disposition to SIG_IGN.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        Ok(s)
    }

    /// Flags no handler sets yet ([`Signals::install`] registers them);
    /// tests of what reads them use them as they are, without changing the
    /// test process's signal handling.
    pub(crate) fn unregistered() -> Signals {
        Signals {
            flags: [Interrupt::Int, Interrupt::Term, Interrupt::Hup]
                .map(|i| (i, Arc::new(AtomicBool::new(false)))),
        }
    }

    /// The signal received, if any.
    pub fn received(&self) -> Option<Interrupt> {
        self.flags
            .iter()
            .find(|(_, f)| f.load(Ordering::SeqCst))
            .map(|(i, _)| *i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_exits_only_when_it_comes_later() {
        let (flag, first) = (AtomicBool::new(false), AtomicU64::new(0));
        let t0 = 5_000_000_000;
        assert!(!on_signal(&flag, &first, t0), "the first raises the flag");
        assert!(flag.load(Ordering::SeqCst));
        // `timeout`'s second delivery, 20 µs later: the same interrupt.
        assert!(!on_signal(&flag, &first, t0 + 20_000));
        let gate = REPEAT_AFTER.as_nanos() as u64;
        assert!(!on_signal(&flag, &first, t0 + gate - 1));
        assert!(
            on_signal(&flag, &first, t0 + gate),
            "a person's second Ctrl-C"
        );
    }

    #[test]
    fn the_clock_moves_and_is_never_0() {
        let a = monotonic_ns();
        std::thread::sleep(Duration::from_millis(2));
        assert!(a >= 1 && monotonic_ns() > a);
    }
}
