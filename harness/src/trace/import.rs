//! Import existing data into a trace: a JSON Lines log with a text field
//! (`memsoak record --from-jsonl LOG --field NAME`) or a plain text file, one
//! text per line (`--from-text FILE`). Both stream: the input is never read
//! whole.
//!
//! In a log, the field (a dotted path such as `request.input`) holds either
//! one text, grouped `batch` at a time into records, or an array of texts,
//! which is one record as it is: the batch the log saw. With `time_field`
//! (seconds as a number, or an RFC 3339 timestamp) records keep the log's
//! timing; without it every record is at `t = 0` and replays back to back.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use super::format::check_t;
use super::{TraceError, TraceWriter};
use crate::units::strip_bom;

/// Settings of a JSON Lines import.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonlImport {
    /// Dotted path of the text field (`text`, `request.input`).
    pub field: String,
    /// Dotted path of a time field, if any.
    pub time_field: Option<String>,
    /// Single texts per record.
    pub batch: usize,
    /// Skip (and count) lines without a usable text instead of failing.
    pub skip_bad: bool,
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportSummary {
    /// Records written.
    pub records: u64,
    /// Texts written.
    pub texts: u64,
    /// Input lines skipped as malformed (`skip_bad`).
    pub skipped_lines: u64,
    /// Blank input lines, skipped always (as a text workload skips them).
    pub blank_lines: u64,
}

/// The value at a dotted path.
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, key| v.get(key))
}

/// Seconds from a time value: a number, or an RFC 3339 string.
fn seconds(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("time {n} is not a usable number")),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|d| d.timestamp_micros() as f64 / 1e6)
            .map_err(|e| format!("time `{s}` is not RFC 3339 ({e})")),
        other => Err(format!(
            "time field holds {other}, not a number or a timestamp"
        )),
    }
}

/// Texts of one log line: `Ok((texts, is_batch, time))`, or why the line
/// holds no usable text (one line).
pub fn parse_line(
    line: &str,
    opts: &JsonlImport,
) -> Result<(Vec<String>, bool, Option<f64>), String> {
    let v: Value = serde_json::from_str(line)
        .map_err(|e| format!("not JSON: {}", e.to_string().replace('\n', " ")))?;
    let field = lookup(&v, &opts.field).ok_or_else(|| format!("no field `{}`", opts.field))?;
    let (texts, is_batch) = match field {
        Value::String(s) => (vec![s.clone()], false),
        Value::Array(a) if !a.is_empty() => (
            a.iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    format!(
                        "field `{}` holds an array that is not all strings",
                        opts.field
                    )
                })?,
            true,
        ),
        Value::Array(_) => return Err(format!("field `{}` is an empty array", opts.field)),
        _ => {
            return Err(format!(
                "field `{}` holds neither a text nor an array of texts",
                opts.field
            ));
        }
    };
    let time = match &opts.time_field {
        Some(tf) => Some(seconds(
            lookup(&v, tf).ok_or_else(|| format!("no time field `{tf}`"))?,
        )?),
        None => None,
    };
    Ok((texts, is_batch, time))
}

struct Batcher<'w> {
    out: &'w mut TraceWriter,
    pending: Vec<String>,
    pending_t: f64,
    first: Option<f64>,
    batch: usize,
}

impl Batcher<'_> {
    /// The offset of a line's time from the first line's, refused (one
    /// line) where a replay would refuse it ([`check_t`]).
    fn offset(&mut self, time: Option<f64>) -> Result<f64, String> {
        let t = match time {
            Some(t) => (t - *self.first.get_or_insert(t)).max(0.0),
            None => 0.0,
        };
        check_t(t).map_err(|why| format!("{why} (its time less the first line's)"))?;
        Ok(t)
    }

    fn flush(&mut self) -> Result<(), TraceError> {
        if !self.pending.is_empty() {
            let texts = std::mem::take(&mut self.pending);
            self.out.append_texts(self.pending_t, texts, None, None)?;
        }
        Ok(())
    }

    fn single(&mut self, text: String, t: f64) -> Result<(), TraceError> {
        if self.pending.is_empty() {
            self.pending_t = t;
        }
        self.pending.push(text);
        if self.pending.len() >= self.batch {
            self.flush()?;
        }
        Ok(())
    }

    fn whole(&mut self, texts: Vec<String>, t: f64) -> Result<(), TraceError> {
        self.flush()?;
        self.out.append_texts(t, texts, None, None)
    }
}

fn lines(
    path: &Path,
) -> Result<impl Iterator<Item = (usize, std::io::Result<Vec<u8>>)>, TraceError> {
    let f = File::open(path).map_err(|source| TraceError::Io {
        path: path.into(),
        source,
    })?;
    Ok(BufReader::new(f)
        .split(b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l)))
}

/// Import a JSON Lines log into `out`. Blank lines are skipped and counted; any other
/// line without a usable text is an error naming the file and line, or
/// skipped and counted with `skip_bad`.
pub fn import_jsonl(
    input: &Path,
    opts: &JsonlImport,
    out: &mut TraceWriter,
) -> Result<ImportSummary, TraceError> {
    let (r0, t0) = (out.records(), out.texts());
    let mut skipped = 0;
    let mut blank = 0;
    let mut b = Batcher {
        out,
        pending: Vec::new(),
        pending_t: 0.0,
        first: None,
        batch: opts.batch.max(1),
    };
    for (n, line) in lines(input)? {
        let line = line.map_err(|source| TraceError::Io {
            path: input.into(),
            source,
        })?;
        let parsed = std::str::from_utf8(&line)
            .map_err(|e| format!("not valid UTF-8 ({e})"))
            .map(|l| if n == 1 { strip_bom(l) } else { l })
            .and_then(|l| {
                if l.trim().is_empty() {
                    Ok(None)
                } else {
                    let (texts, is_batch, time) = parse_line(l, opts)?;
                    Ok(Some((texts, is_batch, b.offset(time)?)))
                }
            });
        match parsed {
            Ok(None) => blank += 1,
            Ok(Some((texts, true, t))) => b.whole(texts, t)?,
            Ok(Some((mut texts, false, t))) => b.single(texts.remove(0), t)?,
            Err(_) if opts.skip_bad => skipped += 1,
            Err(why) => {
                return Err(TraceError::Line {
                    path: input.into(),
                    line: n,
                    why,
                });
            }
        }
    }
    b.flush()?;
    Ok(ImportSummary {
        records: b.out.records() - r0,
        texts: b.out.texts() - t0,
        skipped_lines: skipped,
        blank_lines: blank,
    })
}

/// Import a plain text file, one text per line (blank lines skipped and
/// counted, as `run --workload FILE.txt` skips them),
/// `batch` texts per record, all at `t = 0`.
pub fn import_text(
    input: &Path,
    batch: usize,
    skip_bad: bool,
    out: &mut TraceWriter,
) -> Result<ImportSummary, TraceError> {
    let (r0, t0) = (out.records(), out.texts());
    let mut skipped = 0;
    let mut blank = 0;
    let mut b = Batcher {
        out,
        pending: Vec::new(),
        pending_t: 0.0,
        first: None,
        batch: batch.max(1),
    };
    for (n, line) in lines(input)? {
        let line = line.map_err(|source| TraceError::Io {
            path: input.into(),
            source,
        })?;
        match String::from_utf8(line) {
            Ok(s) => {
                let s = if n == 1 { strip_bom(&s) } else { &s };
                let s = s.trim_end_matches('\r');
                if s.trim().is_empty() {
                    blank += 1;
                } else {
                    b.single(s.to_string(), 0.0)?;
                }
            }
            Err(_) if skip_bad => skipped += 1,
            Err(e) => {
                return Err(TraceError::Line {
                    path: input.into(),
                    line: n,
                    why: format!("not valid UTF-8 ({})", e.utf8_error()),
                });
            }
        }
    }
    b.flush()?;
    Ok(ImportSummary {
        records: b.out.records() - r0,
        texts: b.out.texts() - t0,
        skipped_lines: skipped,
        blank_lines: blank,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Every line of an imported log is outside input.
        #[test]
        fn any_log_line_gives_texts_or_a_one_line_reason(
            line in prop_oneof![
                "\\PC{0,40}",
                "[a-z \"]{0,10}".prop_map(|t| format!(r#"{{"request": {{"input": "{t}"}}, "ts": 3}}"#)),
                "[a-z ]{0,10}".prop_map(|t| format!(r#"{{"request": {{"input": ["{t}", null]}}, "ts": "x"}}"#)),
                "[0-9:TZ-]{0,20}".prop_map(|t| format!(r#"{{"request": {{"input": ["a"]}}, "ts": "{t}"}}"#)),
            ],
        ) {
            let opts = JsonlImport {
                field: "request.input".into(),
                time_field: Some("ts".into()),
                batch: 4,
                skip_bad: false,
            };
            match parse_line(&line, &opts) {
                Ok((texts, _, t)) => {
                    prop_assert!(!texts.is_empty());
                    prop_assert!(t.is_none_or(f64::is_finite));
                }
                Err(e) => prop_assert!(!e.contains('\n'), "{e}"),
            }
        }
    }

    use crate::trace::format::{Batch, Header};
    use crate::trace::{TraceReader, scan};

    fn records(p: &Path) -> Vec<(f64, Vec<String>)> {
        let mut r = TraceReader::open(p, false).unwrap();
        let mut v = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            let Batch::Texts(t) = rec.batch else {
                panic!("redacted")
            };
            v.push((rec.t, t));
        }
        v
    }

    #[test]
    fn jsonl_singles_are_batched_and_arrays_kept() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log.jsonl");
        std::fs::write(
            &log,
            concat!(
                "{\"ts\": 100.0, \"req\": {\"text\": \"a\"}}\n",
                "{\"ts\": 100.5, \"req\": {\"text\": \"b\"}}\n",
                "\n",
                "{\"ts\": \"1970-01-01T00:01:42Z\", \"req\": {\"text\": [\"c\", \"d\"]}}\n",
                "{\"ts\": 103, \"req\": {\"text\": \"e\"}}\n",
            ),
        )
        .unwrap();
        let out = d.path().join("t.jsonl");
        let mut w = TraceWriter::create(&out, Header::new("jsonl", false), false).unwrap();
        let opts = JsonlImport {
            field: "req.text".into(),
            time_field: Some("ts".into()),
            batch: 2,
            skip_bad: false,
        };
        let s = import_jsonl(&log, &opts, &mut w).unwrap();
        assert_eq!((s.records, s.texts, s.skipped_lines), (3, 5, 0));
        assert_eq!(
            records(&out),
            vec![
                (0.0, vec!["a".to_string(), "b".into()]),
                (2.0, vec!["c".into(), "d".into()]),
                (3.0, vec!["e".into()]),
            ]
        );
    }

    #[test]
    fn bad_log_lines_name_the_line_or_are_counted() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log.jsonl");
        std::fs::write(
            &log,
            "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n[1\n{\"text\": 5}\n",
        )
        .unwrap();
        let opts = JsonlImport {
            field: "text".into(),
            time_field: None,
            batch: 8,
            skip_bad: false,
        };
        let mut w = TraceWriter::create(
            &d.path().join("t.jsonl"),
            Header::new("jsonl", false),
            false,
        )
        .unwrap();
        let e = import_jsonl(&log, &opts, &mut w).unwrap_err().to_string();
        assert!(e.contains("log.jsonl: line 2: no field `text`"), "{e}");
        let mut w = TraceWriter::create(
            &d.path().join("u.jsonl"),
            Header::new("jsonl", false),
            false,
        )
        .unwrap();
        let s = import_jsonl(
            &log,
            &JsonlImport {
                skip_bad: true,
                ..opts
            },
            &mut w,
        )
        .unwrap();
        assert_eq!((s.records, s.texts, s.skipped_lines), (1, 1, 3));
    }

    #[test]
    fn a_time_a_replay_would_refuse_is_refused_on_its_line() {
        // Regression: `record --from-jsonl` wrote t = 1e300, which the replay
        // of the trace then refused (printed as 301 digits).
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log.jsonl");
        std::fs::write(
            &log,
            "{\"ts\": 0, \"text\": \"a\"}\n{\"ts\": 1e300, \"text\": \"b\"}\n",
        )
        .unwrap();
        let opts = JsonlImport {
            field: "text".into(),
            time_field: Some("ts".into()),
            batch: 1,
            skip_bad: false,
        };
        let out = d.path().join("t.jsonl");
        let mut w = TraceWriter::create(&out, Header::new("jsonl", false), false).unwrap();
        let e = import_jsonl(&log, &opts, &mut w).unwrap_err().to_string();
        assert!(
            e.ends_with(
                "log.jsonl: line 2: time offset t = 1e300 must be a number of seconds \
                 from 0 to 1e10 (its time less the first line's)"
            ),
            "{e}"
        );
        // Skipped and counted with skip_bad, as any other unusable line.
        let mut w = TraceWriter::create(&out, Header::new("jsonl", false), true).unwrap();
        let opts = JsonlImport {
            skip_bad: true,
            ..opts
        };
        let s = import_jsonl(&log, &opts, &mut w).unwrap();
        assert_eq!((s.records, s.skipped_lines), (1, 1));
        assert_eq!(records(&out), vec![(0.0, vec!["a".to_string()])]);
    }

    #[test]
    fn a_byte_order_mark_before_the_first_line_is_dropped() {
        // Regression: a log saved with a UTF-8 BOM was refused at line 1
        // ("not JSON"), and a text file's BOM became part of its first text.
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log.jsonl");
        std::fs::write(&log, "\u{feff}{\"text\": \"a\"}\n{\"text\": \"b\"}\n").unwrap();
        let opts = JsonlImport {
            field: "text".into(),
            time_field: None,
            batch: 8,
            skip_bad: false,
        };
        let out = d.path().join("t.jsonl");
        let mut w = TraceWriter::create(&out, Header::new("jsonl", false), false).unwrap();
        import_jsonl(&log, &opts, &mut w).unwrap();
        assert_eq!(
            records(&out),
            vec![(0.0, vec!["a".to_string(), "b".into()])]
        );
        let txt = d.path().join("c.txt");
        std::fs::write(&txt, "\u{feff}one\ntwo\n").unwrap();
        let out = d.path().join("u.jsonl");
        let mut w = TraceWriter::create(&out, Header::new("text", false), false).unwrap();
        import_text(&txt, 8, false, &mut w).unwrap();
        assert_eq!(
            records(&out),
            vec![(0.0, vec!["one".to_string(), "two".into()])]
        );
    }

    #[test]
    fn text_files_are_paged() {
        let d = tempfile::tempdir().unwrap();
        let txt = d.path().join("c.txt");
        std::fs::write(&txt, "one\n\ntwo\r\nthree\nfour\nfive").unwrap();
        let out = d.path().join("t.jsonl");
        let mut w = TraceWriter::create(&out, Header::new("text", false), false).unwrap();
        let s = import_text(&txt, 2, false, &mut w).unwrap();
        // Regression: the blank line was dropped without a word.
        assert_eq!((s.records, s.texts, s.blank_lines), (3, 5, 1));
        let r = records(&out);
        assert_eq!(r[1].1, ["three", "four"]);
        assert_eq!(scan(&out, false).unwrap().span_s, 0.0);
    }
}
