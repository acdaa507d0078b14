//! Workloads: where the texts come from, one page (batch) at a time.
//!
//! One trait ([`Workload`]) is the seam; the built-in synthetic generator,
//! plain text files, recorded traces and workload definitions (a weighted
//! mix of those) are its implementations. Pages are produced lazily so a
//! workload of 100M paragraphs never sits in memory.

pub mod definition;
pub mod synthetic;
pub mod textfile;
pub mod trace;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Why `path` cannot be read as an input file, if it cannot: `no such
/// file`, or that it is a directory (a folder given for a file is not a
/// missing file) or not a regular file. One phrase, for a message that
/// names the flag. O(1): one `stat`.
///
/// # Examples
/// ```
/// use memsoak::workload::unreadable_file;
/// assert_eq!(unreadable_file("/".as_ref()).unwrap(), "is a directory, not a file");
/// assert_eq!(unreadable_file("/no/such".as_ref()).unwrap(), "no such file");
/// ```
pub fn unreadable_file(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Some("is a directory, not a file".into()),
        Ok(m) if !m.is_file() => Some("is not a regular file (a pipe or a device)".into()),
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("no such file".into()),
        Err(e) => Some(e.to_string()),
    }
}

/// Cuts short a paced workload's wait for its next page: the pipeline's
/// loader thread may sleep in [`Workload::next_page`] until a record is due,
/// and a run that ends (duration, SIGINT) must not wait for it.
///
/// # Examples
/// ```
/// use memsoak::workload::Cancel;
/// use std::time::{Duration, Instant};
/// let c = Cancel::default();
/// c.cancel();
/// assert!(!c.sleep_until(Instant::now() + Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Longest slice of a wait between two looks at the flag.
    pub const TICK: Duration = Duration::from_millis(20);

    /// Cancel every wait, now and later.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Sleep until `deadline` in slices of at most [`Cancel::TICK`];
    /// `false` when cancelled first.
    pub fn sleep_until(&self, deadline: Instant) -> bool {
        loop {
            if self.cancelled() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            std::thread::sleep((deadline - now).min(Self::TICK));
        }
    }
}

/// One batch of texts, sent to the embedder as one call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// The texts, in order.
    pub texts: Vec<String>,
    /// For a paced replay: when the page was due. The pipeline calls
    /// [`Due::taken`] as the embedder takes it, so lateness includes the
    /// time spent queued behind a slow backend.
    pub due: Option<Due>,
}

impl Page {
    /// A page of `texts` with no due time.
    pub fn new(texts: Vec<String>) -> Page {
        Page { texts, due: None }
    }
}

/// When a paced page was due, and where its lateness is counted.
#[derive(Debug, Clone)]
pub struct Due {
    at: std::time::Instant,
    stats: std::sync::Arc<trace::ReplayStats>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Due) -> bool {
        self.at == other.at && std::sync::Arc::ptr_eq(&self.stats, &other.stats)
    }
}

impl Due {
    /// A page due `at`, its lateness counted in `stats`.
    pub fn new(at: std::time::Instant, stats: std::sync::Arc<trace::ReplayStats>) -> Due {
        Due { at, stats }
    }

    /// The embedder takes the page now: count how late that is.
    pub fn taken(self) {
        self.stats
            .late(std::time::Instant::now().saturating_duration_since(self.at));
    }
}

/// Why a workload could not produce its next page.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The file could not be opened or read.
    #[error("cannot read workload {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line of the file is unusable.
    #[error("workload {path}: line {line}: {why}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// The workload definition is wrong.
    #[error("workload: {0}")]
    Invalid(String),
}

/// A source of pages.
pub trait Workload: Send {
    /// Short name for the run folder and report (`synthetic`, `corpus.txt`).
    fn name(&self) -> String;
    /// The next page, or `None` when a finite workload is exhausted.
    fn next_page(&mut self) -> Result<Option<Page>, WorkloadError>;
    /// Start again from the beginning (for `--loop`).
    fn rewind(&mut self) -> Result<(), WorkloadError>;
}

/// Repeats a finite workload forever (`--loop`).
pub struct Looping<W> {
    inner: W,
    /// Completed passes over the inner workload.
    pub passes: u64,
}

impl<W: Workload> Looping<W> {
    /// Loop `inner`.
    pub fn new(inner: W) -> Self {
        Looping { inner, passes: 0 }
    }
}

impl<W: Workload> Workload for Looping<W> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn next_page(&mut self) -> Result<Option<Page>, WorkloadError> {
        if let Some(p) = self.inner.next_page()? {
            return Ok(Some(p));
        }
        self.passes += 1;
        self.inner.rewind()?;
        // NOTE: an empty workload would loop forever producing nothing.
        match self.inner.next_page()? {
            Some(p) => Ok(Some(p)),
            None => Err(WorkloadError::Invalid(format!(
                "{} is empty: nothing to loop over",
                self.inner.name()
            ))),
        }
    }

    fn rewind(&mut self) -> Result<(), WorkloadError> {
        self.inner.rewind()
    }
}

impl Workload for Box<dyn Workload> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn next_page(&mut self) -> Result<Option<Page>, WorkloadError> {
        (**self).next_page()
    }
    fn rewind(&mut self) -> Result<(), WorkloadError> {
        (**self).rewind()
    }
}

/// A fixed list of pages, for tests.
pub struct VecWorkload {
    pages: Vec<Page>,
    next: usize,
}

impl VecWorkload {
    /// Serve these pages once.
    pub fn new(pages: Vec<Page>) -> Self {
        VecWorkload { pages, next: 0 }
    }
}

impl Workload for VecWorkload {
    fn name(&self) -> String {
        "vec".into()
    }
    fn next_page(&mut self) -> Result<Option<Page>, WorkloadError> {
        let p = self.pages.get(self.next).cloned();
        self.next += 1;
        Ok(p)
    }
    fn rewind(&mut self) -> Result<(), WorkloadError> {
        self.next = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(s: &str) -> Page {
        Page::new(vec![s.to_string()])
    }

    #[test]
    fn looping_repeats_and_counts_passes() {
        let mut w = Looping::new(VecWorkload::new(vec![page("a"), page("b")]));
        let got: Vec<String> = (0..5)
            .map(|_| w.next_page().unwrap().unwrap().texts[0].clone())
            .collect();
        assert_eq!(got, ["a", "b", "a", "b", "a"]);
        assert_eq!(w.passes, 2);
    }

    #[test]
    fn looping_an_empty_workload_is_an_error() {
        let mut w = Looping::new(VecWorkload::new(vec![]));
        assert!(w.next_page().unwrap_err().to_string().contains("empty"));
    }
}
