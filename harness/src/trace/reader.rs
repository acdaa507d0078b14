//! Streaming trace reader: the header first, then one record at a time, each
//! error naming the file and the 1-based line. A trace of hours of traffic is
//! never held in memory.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::TraceError;
use super::format::{Batch, Header, HeaderError, Record, parse_header, parse_record};

/// Reads a trace file record by record.
///
/// # Examples
/// ```no_run
/// use memsoak::trace::TraceReader;
/// let mut r = TraceReader::open("workloads/sample-trace.jsonl".as_ref(), false).unwrap();
/// while let Some(rec) = r.next_record().unwrap() {
///     println!("{} texts at {} s", rec.batch.len(), rec.t);
/// }
/// ```
pub struct TraceReader {
    path: PathBuf,
    reader: BufReader<File>,
    header: Header,
    line: usize,
    buf: Vec<u8>,
    skip_bad: bool,
    skipped: u64,
}

impl TraceReader {
    /// Open `path` and read its header. With `skip_bad`, malformed record
    /// lines are skipped (and counted) instead of being errors; a bad header
    /// is always an error.
    pub fn open(path: &Path, skip_bad: bool) -> Result<Self, TraceError> {
        let io = |source| TraceError::Io {
            path: path.into(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let mut r = TraceReader {
            path: path.into(),
            reader: BufReader::new(file),
            header: Header::new("", false),
            line: 0,
            buf: Vec::new(),
            skip_bad,
            skipped: 0,
        };
        let first = match r.next_line()? {
            Some(l) => l,
            None => {
                return Err(TraceError::Line {
                    path: path.into(),
                    line: 1,
                    why: "empty file: not a memsoak trace".into(),
                });
            }
        };
        r.header = parse_header(&first).map_err(|e| match e {
            HeaderError::Version(found) => TraceError::Version {
                path: path.into(),
                found,
            },
            HeaderError::Bad(why) => TraceError::Line {
                path: path.into(),
                line: r.line,
                why,
            },
        })?;
        Ok(r)
    }

    /// The trace's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Malformed lines skipped so far (`skip_bad` only).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The next non-blank line, as text; `None` at the end.
    fn next_line(&mut self) -> Result<Option<String>, TraceError> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| TraceError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let text = std::str::from_utf8(&self.buf).map(|s| {
                if self.line == 1 {
                    crate::units::strip_bom(s)
                } else {
                    s
                }
            });
            match text {
                Ok(s) if s.trim().is_empty() => continue,
                Ok(s) => return Ok(Some(s.to_string())),
                Err(e) => {
                    let why = format!("not valid UTF-8 ({e})");
                    if self.skip_bad && self.line > 1 {
                        self.skipped += 1;
                        continue;
                    }
                    return Err(TraceError::Line {
                        path: self.path.clone(),
                        line: self.line,
                        why,
                    });
                }
            }
        }
    }

    /// The next record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>, TraceError> {
        while let Some(line) = self.next_line()? {
            match parse_record(&line) {
                Ok(r) => return Ok(Some(r)),
                Err(_) if self.skip_bad => self.skipped += 1,
                Err(why) => {
                    return Err(TraceError::Line {
                        path: self.path.clone(),
                        line: self.line,
                        why,
                    });
                }
            }
        }
        Ok(None)
    }
}

/// What a whole trace holds, from one pass over it ([`scan`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    /// The header.
    pub header: Header,
    /// Valid records.
    pub records: u64,
    /// Texts in those records.
    pub texts: u64,
    /// Records kept as shapes only.
    pub redacted_records: u64,
    /// Malformed lines skipped (`skip_bad`).
    pub skipped_lines: u64,
    /// Offset of the first record, seconds.
    pub first_t: f64,
    /// Offset of the last record minus the first's, seconds.
    pub span_s: f64,
}

/// Read the whole trace once: check every line (so a bad line deep in a
/// long trace stops the run before it starts, not hours into it) and count
/// what it holds. A trace without records is an error. Streams: O(1) memory.
pub fn scan(path: &Path, skip_bad: bool) -> Result<TraceSummary, TraceError> {
    let mut r = TraceReader::open(path, skip_bad)?;
    let (mut records, mut texts, mut redacted) = (0u64, 0u64, 0u64);
    let (mut first, mut last) = (None, 0.0f64);
    while let Some(rec) = r.next_record()? {
        records += 1;
        texts += rec.batch.len() as u64;
        if matches!(rec.batch, Batch::Shapes(_)) {
            redacted += 1;
        }
        first.get_or_insert(rec.t);
        last = last.max(rec.t);
    }
    if records == 0 {
        return Err(TraceError::Empty { path: path.into() });
    }
    let first_t = first.unwrap_or(0.0);
    Ok(TraceSummary {
        header: r.header().clone(),
        records,
        texts,
        redacted_records: redacted,
        skipped_lines: r.skipped(),
        first_t,
        span_s: (last - first_t).max(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("t.jsonl");
        std::fs::write(&p, text).unwrap();
        p
    }

    const HEAD: &str = "{\"memsoak_trace\":1}\n";

    #[test]
    fn reads_records_and_names_bad_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            &format!(
                "{HEAD}{{\"t\":0,\"texts\":[\"a\"]}}\n\n{{\"t\":1,\"texts\":[\"b\",\"c\"]}}\nnot json\n{{\"t\":2,\"texts\":[\"d\"]}}"
            ),
        );
        let e = scan(&p, false).unwrap_err().to_string();
        assert!(e.contains("t.jsonl: line 5: not a trace record"), "{e}");
        assert!(!e.contains('\n'));
        let s = scan(&p, true).unwrap();
        assert_eq!(
            (s.records, s.texts, s.skipped_lines, s.span_s),
            (3, 4, 1, 2.0)
        );
        let mut r = TraceReader::open(&p, true).unwrap();
        let mut n = 0;
        while r.next_record().unwrap().is_some() {
            n += 1;
        }
        assert_eq!((n, r.skipped()), (3, 1));
    }

    #[test]
    fn a_byte_order_mark_before_the_header_is_dropped() {
        // Regression: a trace saved with a UTF-8 BOM was "not a memsoak trace
        // header" at line 1.
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            &format!("\u{feff}{HEAD}{{\"t\":0,\"texts\":[\"a\"]}}\n"),
        );
        let s = scan(&p, false).unwrap();
        assert_eq!((s.records, s.texts), (1, 1));
        // Only before the first line: elsewhere it is not a record.
        let p = write(
            d.path(),
            &format!("{HEAD}\u{feff}{{\"t\":0,\"texts\":[\"a\"]}}\n"),
        );
        let e = scan(&p, false).unwrap_err().to_string();
        assert!(e.contains("line 2: not a trace record"), "{e}");
    }

    #[test]
    fn header_problems() {
        let d = tempfile::tempdir().unwrap();
        let e = scan(&write(d.path(), "{\"memsoak_trace\":7}\n"), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") && e.contains("version 7"), "{e}");
        let e = scan(&write(d.path(), ""), false).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("empty"), "{e}");
        let e = scan(&write(d.path(), "{\"t\":0,\"texts\":[\"a\"]}\n"), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") && e.contains("header"), "{e}");
        let e = scan(&write(d.path(), HEAD), false).unwrap_err().to_string();
        assert!(e.contains("no records"), "{e}");
        let e = scan(&write(d.path(), &format!("{HEAD}\u{0}\u{ff}\n")), false).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let mut bytes = HEAD.as_bytes().to_vec();
        bytes.extend_from_slice(b"\xff\xfe\n{\"t\":0,\"texts\":[\"a\"]}\n");
        std::fs::write(d.path().join("b.jsonl"), bytes).unwrap();
        let e = scan(&d.path().join("b.jsonl"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("UTF-8"), "{e}");
        assert_eq!(
            scan(&d.path().join("b.jsonl"), true).unwrap().skipped_lines,
            1
        );
    }
}
