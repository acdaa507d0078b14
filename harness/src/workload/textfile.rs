//! A plain text file as a workload: one text per line, streamed (never read
//! whole), empty lines skipped.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::{Page, Workload, WorkloadError};

/// Pages of lines from a text file.
pub struct TextFileWorkload {
    path: PathBuf,
    page_size: usize,
    reader: BufReader<File>,
    line: usize,
    buf: Vec<u8>,
}

impl TextFileWorkload {
    /// Open `path`; pages hold `page_size` texts.
    pub fn open(path: &Path, page_size: usize) -> Result<Self, WorkloadError> {
        if page_size == 0 {
            return Err(WorkloadError::Invalid(
                "page size must be at least 1".into(),
            ));
        }
        let file = File::open(path).map_err(|source| WorkloadError::Io {
            path: path.into(),
            source,
        })?;
        Ok(TextFileWorkload {
            path: path.into(),
            page_size,
            reader: BufReader::new(file),
            line: 0,
            buf: Vec::new(),
        })
    }
}

impl Workload for TextFileWorkload {
    fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "textfile".into())
    }

    fn next_page(&mut self) -> Result<Option<Page>, WorkloadError> {
        let mut texts = Vec::with_capacity(self.page_size);
        while texts.len() < self.page_size {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| WorkloadError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            self.line += 1;
            let text = std::str::from_utf8(&self.buf).map_err(|e| WorkloadError::Line {
                path: self.path.clone(),
                line: self.line,
                why: format!("not valid UTF-8 ({e})"),
            })?;
            let text = if self.line == 1 {
                crate::units::strip_bom(text)
            } else {
                text
            };
            let text = text.trim_end_matches(['\n', '\r']);
            if !text.trim().is_empty() {
                texts.push(text.to_string());
            }
        }
        Ok((!texts.is_empty()).then_some(Page::new(texts)))
    }

    fn rewind(&mut self) -> Result<(), WorkloadError> {
        *self = TextFileWorkload::open(&self.path.clone(), self.page_size)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_lines_and_skips_blanks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        std::fs::write(&p, "a\n\nb\r\nc\nd").unwrap();
        let mut w = TextFileWorkload::open(&p, 3).unwrap();
        assert_eq!(w.next_page().unwrap().unwrap().texts, ["a", "b", "c"]);
        assert_eq!(w.next_page().unwrap().unwrap().texts, ["d"]);
        assert!(w.next_page().unwrap().is_none());
        w.rewind().unwrap();
        assert_eq!(w.next_page().unwrap().unwrap().texts.len(), 3);
        assert_eq!(w.name(), "t.txt");
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_text() {
        // Regression: a text file saved with a UTF-8 BOM sent it to the
        // embedder as the first character of its first text.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        std::fs::write(&p, "\u{feff}a\nb\n").unwrap();
        let mut w = TextFileWorkload::open(&p, 8).unwrap();
        assert_eq!(w.next_page().unwrap().unwrap().texts, ["a", "b"]);
    }

    #[test]
    fn bad_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        std::fs::write(&p, b"ok\n\xff\xfe\n").unwrap();
        let mut w = TextFileWorkload::open(&p, 8).unwrap();
        let e = w.next_page().unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("UTF-8"), "{e}");
        let e = TextFileWorkload::open(&dir.path().join("nope.txt"), 1)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("nope.txt"), "{e}");
    }
}
