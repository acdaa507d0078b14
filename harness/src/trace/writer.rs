//! Append-only trace writer: the header at creation, then one record per
//! call, each written whole with a single `write` and flushed at once, so a
//! recording killed at any moment leaves a valid trace of what it saw.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::TraceError;
use super::format::{Batch, Header, Record};
use super::redact::shape_of;

/// Writes a trace as requests arrive.
///
/// # Examples
/// ```
/// use memsoak::trace::{TraceWriter, format::Header};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.jsonl");
/// let mut w = TraceWriter::create(&path, Header::new("text", false), false).unwrap();
/// w.append_texts(0.0, vec!["hello".into()], None, None).unwrap();
/// assert_eq!(memsoak::trace::scan(&path, false).unwrap().records, 1);
/// ```
pub struct TraceWriter {
    path: PathBuf,
    file: File,
    redact: bool,
    records: u64,
    texts: u64,
    started: Option<Instant>,
}

impl TraceWriter {
    /// Create `path` (it must not exist yet unless `replace`) and write the
    /// header. The header's `redacted` flag is set from `header`.
    pub fn create(path: &Path, header: Header, replace: bool) -> Result<Self, TraceError> {
        let io = |source| TraceError::Io {
            path: path.into(),
            source,
        };
        let mut o = OpenOptions::new();
        o.write(true);
        if replace {
            o.create(true).truncate(true);
        } else {
            o.create_new(true);
        }
        let mut file = o.open(path).map_err(io)?;
        let redact = header.redacted;
        file.write_all(format!("{}\n", header.to_line()).as_bytes())
            .and_then(|_| file.flush())
            .map_err(io)?;
        Ok(TraceWriter {
            path: path.into(),
            file,
            redact,
            records: 0,
            texts: 0,
            started: None,
        })
    }

    /// Append one request's texts at offset `t` seconds; a redacting writer
    /// keeps only their shapes.
    pub fn append_texts(
        &mut self,
        t: f64,
        texts: Vec<String>,
        endpoint: Option<String>,
        model: Option<String>,
    ) -> Result<(), TraceError> {
        let batch = if self.redact {
            Batch::Shapes(texts.iter().map(|s| shape_of(s)).collect())
        } else {
            Batch::Texts(texts)
        };
        self.append(&Record {
            t,
            batch,
            endpoint,
            model,
        })
    }

    /// Append a request arriving now: its offset is the time since the
    /// first request appended this way (so a trace starts at `t = 0` however
    /// long the proxy waited for traffic).
    pub fn append_now(
        &mut self,
        texts: Vec<String>,
        endpoint: Option<String>,
        model: Option<String>,
    ) -> Result<(), TraceError> {
        let t = self.started.get_or_insert_with(Instant::now).elapsed();
        self.append_texts(t.as_secs_f64(), texts, endpoint, model)
    }

    /// Append a record as it is (a redacting writer still refuses texts).
    pub fn append(&mut self, record: &Record) -> Result<(), TraceError> {
        let record = match (&record.batch, self.redact) {
            (Batch::Texts(t), true) => &Record {
                batch: Batch::Shapes(t.iter().map(|s| shape_of(s)).collect()),
                ..record.clone()
            },
            _ => record,
        };
        let mut line = record.to_line();
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|source| TraceError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.records += 1;
        self.texts += record.batch.len() as u64;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Texts written so far.
    pub fn texts(&self) -> u64 {
        self.texts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceReader;

    #[test]
    fn redacting_writer_keeps_only_shapes_and_refuses_to_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.jsonl");
        let mut w = TraceWriter::create(&p, Header::new("text", true), false).unwrap();
        w.append_texts(0.0, vec!["secret words here".into()], None, None)
            .unwrap();
        w.append(&Record {
            t: 1.0,
            batch: Batch::Texts(vec!["another secret".into()]),
            endpoint: Some("/embed".into()),
            model: None,
        })
        .unwrap();
        assert_eq!((w.records(), w.texts()), (2, 2));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("secret"), "{text}");
        let mut r = TraceReader::open(&p, false).unwrap();
        assert!(r.header().redacted);
        assert!(matches!(
            r.next_record().unwrap().unwrap().batch,
            Batch::Shapes(_)
        ));
        let e = TraceWriter::create(&p, Header::new("text", false), false)
            .err()
            .unwrap();
        assert!(e.to_string().contains("t.jsonl"), "{e}");
        assert!(TraceWriter::create(&p, Header::new("text", false), true).is_ok());
    }
}
