//! Live progress: an indicatif bar on a terminal, plain periodic lines when
//! stderr is not a TTY (CI logs), nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::units::{fmt_bytes, fmt_secs};

/// What the monitor knows at one moment.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// Seconds elapsed.
    pub elapsed: f64,
    /// Items so far, when counted.
    pub items: Option<u64>,
    /// (metric name, latest value) of the main metrics.
    pub current: Vec<(&'static str, f64)>,
    /// Running drift estimate of the first metric, bytes/min.
    pub slope_per_min: Option<f64>,
}

enum Mode {
    Bar(ProgressBar),
    Lines {
        every: Duration,
        last: Option<Instant>,
    },
    Quiet,
}

/// The progress display.
pub struct Progress {
    mode: Mode,
    total: Duration,
    last_items: Option<(f64, u64)>,
    rate: f64,
}

impl Progress {
    /// A display for a run of `total`.
    pub fn new(total: Duration, quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(
                Some(total.as_millis() as u64),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            bar.set_style(
                ProgressStyle::with_template("{bar:24.cyan/blue} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Mode::Bar(bar)
        } else {
            let every = (total / 20).clamp(Duration::from_secs(5), Duration::from_secs(60));
            Mode::Lines { every, last: None }
        };
        Progress {
            mode,
            total,
            last_items: None,
            rate: 0.0,
        }
    }

    fn line(&mut self, s: &Status) -> String {
        if let Some(items) = s.items {
            if let Some((t0, i0)) = self.last_items
                && s.elapsed - t0 >= 2.0
            {
                self.rate = (items - i0) as f64 / (s.elapsed - t0);
                self.last_items = Some((s.elapsed, items));
            } else if self.last_items.is_none() {
                self.last_items = Some((s.elapsed, items));
            }
        }
        let remaining = (self.total.as_secs_f64() - s.elapsed).max(0.0);
        let mut out = format!(
            "{} elapsed, {} left",
            fmt_secs(s.elapsed),
            fmt_secs(remaining)
        );
        if let Some(i) = s.items {
            out.push_str(&format!(" · {i} items ({:.1}/s)", self.rate));
        }
        for (name, v) in &s.current {
            out.push_str(&format!(" · {name} {}", fmt_bytes(*v)));
        }
        if let Some(sl) = s.slope_per_min {
            out.push_str(&format!(" · drift {}/min", fmt_bytes(sl)));
        }
        out
    }

    /// Show a new status.
    pub fn update(&mut self, s: &Status) {
        if matches!(self.mode, Mode::Quiet) {
            return;
        }
        let text = self.line(s);
        match &mut self.mode {
            Mode::Bar(b) => {
                b.set_position((s.elapsed * 1000.0) as u64);
                b.set_message(text);
            }
            Mode::Lines { every, last } => {
                if last.is_none_or(|l| l.elapsed() >= *every) {
                    *last = Some(Instant::now());
                    eprintln!("memsoak: {text}");
                }
            }
            Mode::Quiet => {}
        }
    }

    /// Remove the bar.
    pub fn finish(&mut self) {
        if let Mode::Bar(b) = &self.mode {
            b.finish_and_clear();
        }
    }

    /// Print a line above the bar (or plainly).
    pub fn println(&self, msg: &str) {
        match &self.mode {
            Mode::Bar(b) => b.println(msg),
            Mode::Lines { .. } => eprintln!("{msg}"),
            Mode::Quiet => {}
        }
    }
}
