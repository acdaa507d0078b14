//! `processes.csv`: the RSS of each process of the sampled tree, so growth
//! can be traced to one process (`watch`, and the `command` and `http`
//! backends, where the target is a tree). Appended and flushed as it is
//! taken, like `samples.csv`, and read back for classification.
//!
//! Long format, one row per process per write: `t_s,pid,name,rss` (seconds
//! since the first sample, pid, a short command line, bytes). To bound its
//! size it is written at most once per [`DEFAULT_EVERY`] and only for the
//! [`DEFAULT_TOP`] largest processes by RSS at that moment.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::analysis::samples::ProcessTable;
use crate::sample::proc::TreeLog;

/// The file name inside the run folder.
pub const FILE_NAME: &str = "processes.csv";

/// Processes written per row group: the largest by RSS.
pub const DEFAULT_TOP: usize = 16;

/// Shortest interval between two writes.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(1);

/// Characters of a command line kept as a process's name.
const NAME_CHARS: usize = 80;

const HEADER: &str = "t_s,pid,name,rss\n";

/// Appends per-process rows to `processes.csv`, flushing each write. It is
/// the [`TreeLog`] of a black-box tree's sampler.
pub struct ProcessLog {
    out: BufWriter<File>,
    top: usize,
    every: Duration,
    /// The first write's instant: `t_s` counts from it.
    start: Option<Instant>,
    next: Option<Instant>,
    scratch: Vec<(u32, u64)>,
    line: String,
    failed: bool,
}

impl ProcessLog {
    /// Create (truncate) `path` and write the header; rows go out at most
    /// once per `every`, for the `top` largest processes.
    pub fn create(path: &Path, top: usize, every: Duration) -> io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        out.write_all(HEADER.as_bytes())?;
        out.flush()?;
        Ok(ProcessLog {
            out,
            top: top.max(1),
            every,
            start: None,
            next: None,
            scratch: Vec::with_capacity(64),
            line: String::with_capacity(256),
            failed: false,
        })
    }

    /// Offer one reading of the tree, `(pid, rss bytes)` per process. It is
    /// written when the interval since the last write has passed.
    ///
    /// NOTE: `t_s` counts from the first call, which the sampling thread
    /// makes at its first sample, the moment `samples.csv` counts from
    /// (within the time of one sample's reads).
    fn offer(&mut self, procs: &mut dyn Iterator<Item = (u32, u64)>) {
        if self.failed {
            return;
        }
        let now = Instant::now();
        if self.next.is_some_and(|n| now < n) {
            return;
        }
        let start = *self.start.get_or_insert(now);
        self.next = Some(now + self.every);
        self.scratch.clear();
        self.scratch.extend(procs);
        self.scratch
            .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        self.scratch.truncate(self.top);
        let t = now.duration_since(start).as_secs_f64();
        let rows: Vec<(u32, String, u64)> = self
            .scratch
            .iter()
            .map(|&(pid, rss)| {
                (
                    pid,
                    crate::sample::proc::short_cmdline(pid, NAME_CHARS),
                    rss,
                )
            })
            .collect();
        // NOTE: a side file must not stop the soak: on a write error
        // (disk full) it stops growing, and `samples.csv`, which fails the
        // same way, ends the run with the reason.
        if self.write_rows(t, &rows).is_err() {
            self.failed = true;
        }
    }

    /// Append rows taken at `t_s` and flush them.
    pub fn write_rows(&mut self, t_s: f64, rows: &[(u32, String, u64)]) -> io::Result<()> {
        use std::fmt::Write as _;
        self.line.clear();
        for (pid, name, rss) in rows {
            let _ = writeln!(self.line, "{t_s:.3},{pid},{},{rss}", csv_field(name));
        }
        self.out.write_all(self.line.as_bytes())?;
        self.out.flush()
    }
}

impl TreeLog for ProcessLog {
    fn record(&mut self, procs: &mut dyn Iterator<Item = (u32, u64)>) {
        self.offer(procs);
    }
}

/// A CSV field: quoted (quotes doubled) when it holds a comma or a quote.
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// Why a `processes.csv` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcessesError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A line is not `t_s,pid,name,rss`.
    #[error("{path}: line {line}: {why}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// Parse the text of a `processes.csv` (`path` only names it in errors).
/// A last line without its newline was cut mid-write and is dropped.
///
/// Cost: O(rows × processes seen) (a linear pid lookup per row; a run has
/// few processes).
pub fn parse(text: &str, path: &Path) -> Result<ProcessTable, ProcessesError> {
    let err = |line: usize, why: String| ProcessesError::Line {
        path: path.to_path_buf(),
        line,
        why,
    };
    let mut lines = text.split_inclusive('\n').enumerate();
    match lines.next() {
        Some((_, h)) if h == HEADER => {}
        Some((_, h)) => {
            return Err(err(
                1,
                format!("header `{}` is not `{}`", h.trim_end(), HEADER.trim_end()),
            ));
        }
        None => return Err(err(1, "empty file (no header)".into())),
    }
    let mut table = ProcessTable::default();
    for (i, raw) in lines {
        let Some(line) = raw.strip_suffix('\n') else {
            table.dropped_rows += 1;
            continue;
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| err(i + 1, format!("{why} (expected t_s,pid,name,rss)"));
        let mut head = line.splitn(3, ',');
        let (Some(t), Some(pid), Some(rest)) = (head.next(), head.next(), head.next()) else {
            return Err(bad("too few fields"));
        };
        // NOTE: the name may hold commas; rss is the last field, so it is
        // split off from the right.
        let Some((name, rss)) = rest.rsplit_once(',') else {
            return Err(bad("too few fields"));
        };
        let t: f64 = t
            .parse()
            .ok()
            .filter(|t: &f64| t.is_finite())
            .ok_or_else(|| bad(&format!("t_s `{t}` is not a number")))?;
        let pid: u32 = pid
            .parse()
            .map_err(|_| bad(&format!("pid `{pid}` is not a number")))?;
        let rss: u64 = rss
            .parse()
            .map_err(|_| bad(&format!("rss `{rss}` is not a number of bytes")))?;
        let name = match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
            Some(q) => q.replace("\"\"", "\""),
            None => name.to_string(),
        };
        table.push(t, pid, &name, rss as f64);
    }
    Ok(table)
}

/// Read a `processes.csv`.
pub fn read(path: &Path) -> Result<ProcessTable, ProcessesError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProcessesError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_with_awkward_names() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(FILE_NAME);
        let mut log = ProcessLog::create(&p, 16, DEFAULT_EVERY).unwrap();
        log.write_rows(
            0.0,
            &[
                (10, "python3 w.py --a=1,2".into(), 4096),
                (11, "say \"hi\"".into(), 8192),
            ],
        )
        .unwrap();
        log.write_rows(1.0, &[(10, "python3 w.py --a=1,2".into(), 5000)])
            .unwrap();
        let t = read(&p).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.series[0].name, "python3 w.py --a=1,2");
        assert_eq!(t.series[0].t, [0.0, 1.0]);
        assert_eq!(t.series[0].rss, [4096.0, 5000.0]);
        assert_eq!(t.series[1].name, "say \"hi\"");
    }

    #[test]
    fn record_keeps_the_largest_and_waits_its_interval() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(FILE_NAME);
        let mut log = ProcessLog::create(&p, 2, Duration::from_secs(3600)).unwrap();
        let me = std::process::id();
        log.record(&mut [(me, 10), (me + 1_000_000, 30), (me + 2_000_000, 20)].into_iter());
        // Within the interval: not written.
        log.record(&mut [(me, 99)].into_iter());
        let t = read(&p).unwrap();
        let pids: Vec<u32> = t.series.iter().map(|s| s.pid).collect();
        assert_eq!(pids, [me + 1_000_000, me + 2_000_000]);
        assert!(t.series.iter().all(|s| s.t == [0.0]));
    }

    #[test]
    fn a_cut_last_row_is_dropped_and_bad_lines_name_their_number() {
        let p = Path::new("processes.csv");
        let t = parse("t_s,pid,name,rss\n0.000,7,x,100\n1.000,7,x,1", p).unwrap();
        assert_eq!(t.series[0].rss, [100.0]);
        assert_eq!(t.dropped_rows, 1);
        let e = parse("t_s,pid,name,rss\n0.000,7,x,100\n1.0,seven,x,1\n", p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "processes.csv: line 3: pid `seven` is not a number (expected t_s,pid,name,rss)"
        );
        let e = parse("time,pid\n", p).unwrap_err();
        assert!(e.to_string().contains("line 1: header"), "{e}");
        assert!(parse("", p).is_err());
    }

    #[test]
    fn the_log_gets_one_row_per_process() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("processes.csv");
        let log = ProcessLog::create(&path, 16, std::time::Duration::ZERO).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        // NOTE: spawn returns when exec closes the CLOEXEC pipe, which is
        // before the kernel sets the new image's arguments: for a moment
        // the cmdline is empty (and the name falls back to `comm`).
        let cmdline = format!("/proc/{}/cmdline", child.id());
        for _ in 0..200 {
            if std::fs::read(&cmdline).is_ok_and(|c| !c.is_empty()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        use crate::sample::Sampler as _;
        let mut s = crate::sample::proc::ProcessTreeSampler::new(std::process::id()).with_log(log);
        let mut out = [None; 5];
        s.sample(&mut out);
        s.sample(&mut out);
        child.kill().unwrap();
        child.wait().unwrap();
        let t = read(&path).unwrap();
        let sleep = t
            .series
            .iter()
            .find(|p| p.pid == child.id())
            .expect("child logged");
        assert_eq!(sleep.name, "sleep 5");
        assert_eq!(sleep.t.len(), 2);
        let me = t
            .series
            .iter()
            .find(|p| p.pid == std::process::id())
            .unwrap();
        assert!(me.rss[0] > 1e6);
    }
}
