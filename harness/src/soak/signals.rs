//! The signals that interrupt a soak (SIGINT, SIGTERM, SIGHUP): raised as
//! flags the monitor polls, so the run folder still gets its report. A
//! second signal of the same kind exits at once (the run folder already
//! holds every sample).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
        use signal_hook::flag;
        let s = Signals {
            flags: [Interrupt::Int, Interrupt::Term, Interrupt::Hup]
                .map(|i| (i, Arc::new(AtomicBool::new(false)))),
        };
        for (i, f) in &s.flags {
            flag::register_conditional_shutdown(i.signal(), i.exit_code(), f.clone())?;
            flag::register(i.signal(), f.clone())?;
        }
        // SAFETY: setting a signal's disposition to SIG_IGN.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        Ok(s)
    }

    /// Flags no handler sets: for tests of what reads them, without
    /// changing the test process's signal handling.
    #[cfg(test)]
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
