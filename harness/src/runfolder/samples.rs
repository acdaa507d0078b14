//! `samples.csv`: appended and flushed one row at a time as samples are
//! taken (so a crash loses nothing), and read back for analysis.
//!
//! Format: a header `t_s,items,<metric>...`, then one row per sample; values
//! in bytes, `items` cumulative (empty when the run counts no items), an
//! empty cell where a reading failed.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::analysis::samples::SampleTable;
use crate::sample::Metric;
use crate::trace::format::MAX_T;

/// Appends sample rows to `samples.csv`, flushing each.
pub struct Recorder {
    out: BufWriter<File>,
    width: usize,
    line: String,
}

impl Recorder {
    /// Create (truncate) the file and write the header.
    pub fn create(path: &Path, metrics: &[Metric]) -> io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        let mut header = String::from("t_s,items");
        for m in metrics {
            header.push(',');
            header.push_str(m.name());
        }
        header.push('\n');
        out.write_all(header.as_bytes())?;
        out.flush()?;
        Ok(Recorder {
            out,
            width: metrics.len(),
            line: String::with_capacity(256),
        })
    }

    /// Append one row and flush it to the OS. Returns `t_s` as written
    /// (to the millisecond), which is what reading the file back gives.
    pub fn append(
        &mut self,
        t_s: f64,
        items: Option<u64>,
        values: &[Option<u64>],
    ) -> io::Result<f64> {
        use std::fmt::Write as _;
        debug_assert_eq!(values.len(), self.width);
        self.line.clear();
        let _ = write!(self.line, "{t_s:.3}");
        let written = self.line.parse::<f64>().unwrap_or(t_s);
        self.line.push(',');
        if let Some(i) = items {
            let _ = write!(self.line, "{i}");
        }
        for v in values {
            self.line.push(',');
            if let Some(v) = v {
                let _ = write!(self.line, "{v}");
            }
        }
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())?;
        self.out.flush()?;
        Ok(written)
    }
}

/// Why a samples file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SamplesError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The header is not `t_s,items,<metric>...`.
    #[error("{path}: line 1: {why}")]
    Header {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A row in the middle of the file is malformed.
    #[error("{path}: line {line}: {why}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
}

fn parse_cell(cell: &str) -> Result<f64, String> {
    if cell.is_empty() {
        return Ok(f64::NAN);
    }
    let v = cell
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("`{}` is not a number", cell.escape_default()))?;
    // NOTE: counts and bytes are written as u64; one past that is no reading.
    if v.abs() >= u64::MAX as f64 {
        return Err(format!("`{cell}` is past what 64 bits hold"));
    }
    Ok(v)
}

/// Read a `samples.csv`. A last line without its newline (a row cut
/// mid-write) is dropped and counted in `dropped_rows`; any malformed row
/// that ends in a newline, the last one too, is an error naming its line.
pub fn read_samples(path: &Path) -> Result<SampleTable, SamplesError> {
    let io_err = |source| SamplesError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut reader = BufReader::new(file);
    let mut raw = Vec::new();
    if reader.read_until(b'\n', &mut raw).map_err(io_err)? == 0 {
        return Err(SamplesError::Header {
            path: path.into(),
            why: "the file is empty".into(),
        });
    }
    let header = String::from_utf8_lossy(&raw)
        .trim_end_matches('\n')
        .to_string();
    let header = crate::units::strip_bom(&header);
    let mut cols = header.trim_end_matches('\r').split(',');
    if cols.next() != Some("t_s") || cols.next() != Some("items") {
        // NOTE: escaped and cut short, so a binary file's bytes are not
        // echoed to the terminal.
        let shown: String = header.trim_end().chars().take(80).collect();
        return Err(SamplesError::Header {
            path: path.into(),
            why: format!(
                "expected `t_s,items,<metric>...`, found `{}`",
                shown.escape_default()
            ),
        });
    }
    let mut metrics = Vec::new();
    for c in cols {
        let m = Metric::from_name(c).ok_or_else(|| SamplesError::Header {
            path: path.into(),
            why: format!("unknown metric column `{}`", c.escape_default()),
        })?;
        if metrics.contains(&m) {
            return Err(SamplesError::Header {
                path: path.into(),
                why: format!("the column `{c}` comes twice"),
            });
        }
        metrics.push(m);
    }
    let width = metrics.len() + 2;
    let mut table = SampleTable::new(metrics);
    let mut lineno = 1;
    // The last count read, for the check that it never falls (kept here:
    // looking back for it on each row made a day at 10 Hz O(n²)).
    let mut last_items = f64::NEG_INFINITY;
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw).map_err(io_err)? == 0 {
            break;
        }
        lineno += 1;
        // NOTE: memsoak ends every row with a newline in one flushed write,
        // so a last line without one was cut mid-write, even when what is
        // left parses (`2.0,64,3` cut from `2.0,64,30` is a wrong value).
        let complete = raw.last() == Some(&b'\n');
        if complete {
            raw.pop();
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        // NOTE: only a line without its newline, necessarily the last, is
        // forgiven (memsoak was killed mid-write). A short row that ends in
        // a newline was whole when written, last or not: it was dropped as
        // "cut" on the last line and refused anywhere else.
        if !complete {
            table.dropped_rows += 1;
            break;
        }
        let row_err = |why: String| SamplesError::Row {
            path: path.into(),
            line: lineno,
            why,
        };
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != width {
            return Err(row_err(format!(
                "expected {width} fields, found {}",
                cells.len()
            )));
        }
        let parsed: Result<Vec<f64>, String> = cells.iter().map(|c| parse_cell(c)).collect();
        // NOTE: a whole row (it ended in a newline) whose time runs back or
        // whose count is negative was not cut mid-write: it is refused at
        // once. Read as it was, a file in reverse gave a run of −75 s whose
        // slope and growth had opposite signs.
        if let Ok(v) = &parsed {
            if let Some(&before) = table.t.last()
                && v[0] < before
            {
                return Err(row_err(format!(
                    "t_s {} is before the row above's {before}: rows must be in time order",
                    v[0]
                )));
            }
            // NOTE: a t_s of 5.9e13 was read as a run of 682870370 d; the
            // bound is the one trace records have (trace::format::MAX_T).
            if v[0] > MAX_T {
                return Err(row_err(format!(
                    "t_s {} is past {MAX_T:e} s, the latest time offset memsoak reads",
                    crate::units::fmt_num(v[0])
                )));
            }
            // NOTE: `items` is a running count: read back as it was, a
            // count that fell (4900 then 10) was sorted into the items
            // axis and `slope_per_1k` judged on it, exit 0.
            if v[1] < last_items {
                return Err(row_err(format!(
                    "items {} is below the row above's {last_items}: it is a running count, which never falls",
                    v[1]
                )));
            }
            let names = std::iter::once("items").chain(table.metrics.iter().map(|m| m.name()));
            if let Some((name, x)) = names.zip(&v[1..]).find(|(_, x)| **x < 0.0) {
                return Err(row_err(format!(
                    "`{name}` is negative ({x}): counts and bytes never are"
                )));
            }
        }
        match parsed {
            Ok(v) if v[0].is_finite() => {
                if v[1].is_finite() {
                    last_items = v[1];
                }
                table.t.push(v[0]);
                table.items.push(v[1]);
                for (col, x) in table.values.iter_mut().zip(&v[2..]) {
                    col.push(*x);
                }
            }
            Ok(_) => return Err(row_err("missing t_s".into())),
            Err(why) => return Err(row_err(why)),
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // A samples.csv is outside input for `analyze` (hand-edited, cut,
        // another tool's): any bytes read back or fail with one line.
        #[test]
        fn any_samples_file_reads_or_fails_with_one_line(
            header in "(t_s,items(,(rss|heap|vram|bogus))*|[a-z_,]{0,20})",
            rows in prop::collection::vec("[0-9.,e+-]{0,24}", 0..12),
            newline in any::<bool>(),
        ) {
            let mut text = format!("{header}\n{}", rows.join("\n"));
            if newline {
                text.push('\n');
            }
            match read_samples_text(&text) {
                Ok(t) => {
                    prop_assert!(t.t.iter().all(|v| v.is_finite()));
                    prop_assert!(t.values.iter().all(|c| c.len() == t.len()));
                    prop_assert!(t.dropped_rows <= 1);
                }
                Err(e) => prop_assert!(!e.to_string().contains('\n'), "{e}"),
            }
        }
    }

    #[test]
    fn roundtrip_and_cut_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples.csv");
        let mut r = Recorder::create(&p, &[Metric::Rss, Metric::Heap]).unwrap();
        r.append(0.0, Some(0), &[Some(100), None]).unwrap();
        r.append(1.0, Some(32), &[Some(200), Some(7)]).unwrap();
        drop(r);
        let t = read_samples(&p).unwrap();
        assert_eq!(t.metrics, vec![Metric::Rss, Metric::Heap]);
        assert_eq!(t.t, vec![0.0, 1.0]);
        assert_eq!(t.items, vec![0.0, 32.0]);
        assert_eq!(t.column(Metric::Rss).unwrap(), &[100.0, 200.0]);
        assert!(t.column(Metric::Heap).unwrap()[0].is_nan());
        assert_eq!(t.dropped_rows, 0);

        // Regression: memsoak killed mid-write leaves a partial last row.
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("2.000,64,30");
        std::fs::write(&p, &text).unwrap();
        let t = read_samples(&p).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.dropped_rows, 1);

        // Regression: a row cut inside its last field still has every
        // field; without its newline it must not be read as a good row.
        for cut in ["2.000,64,30,1", "2.000,64,30,"] {
            let rows = format!("2.000,64,7,8\n{cut}");
            let t = read_samples_text(&text.replace("2.000,64,30", &rows)).unwrap();
            assert_eq!(t.len(), 3, "{cut}");
            assert_eq!(t.column(Metric::Rss).unwrap()[2], 7.0);
            assert_eq!(t.dropped_rows, 1, "{cut}");
        }
    }

    #[test]
    fn a_whole_short_last_row_is_refused_and_only_a_cut_one_dropped() {
        // Regression: a short last row that ended in its newline was
        // dropped as "cut"; by the README only a last line without one is.
        let head = "t_s,items,rss\n0,,1\n1,,2\n";
        for (last, why) in [
            ("2,,3,4\n", "expected 3 fields, found 4"),
            ("2,\n", "expected 3 fields, found 2"),
            ("2,,lots\n", "`lots` is not a number"),
            (",,3\n", "missing t_s"),
        ] {
            let e = read_samples_text(&format!("{head}{last}"))
                .unwrap_err()
                .to_string();
            assert!(e.ends_with(&format!("samples.csv: line 4: {why}")), "{e}");
        }
        let t = read_samples_text(&format!("{head}2,,")).unwrap();
        assert_eq!((t.len(), t.dropped_rows), (2, 1));
    }

    fn read_samples_text(text: &str) -> Result<SampleTable, SamplesError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples.csv");
        std::fs::write(&p, text).unwrap();
        read_samples(&p)
    }

    #[test]
    fn a_header_is_read_as_a_spreadsheet_saves_it_and_refused_when_it_cannot_be() {
        let t = read_samples_text("\u{feff}t_s,items,rss\n0,,1\n1,,2\n").unwrap();
        assert_eq!(t.column(Metric::Rss).unwrap(), &[1.0, 2.0]);
        let e = read_samples_text("t_s,items,rss,rss\n0,,1,1\n").unwrap_err();
        assert!(
            e.to_string().contains("the column `rss` comes twice"),
            "{e}"
        );
        // A binary file's bytes are escaped, not echoed to the terminal.
        let e = read_samples_text("\u{1b}[2J\u{7}junk\n")
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\u{1b}') && e.contains("\\u{1b}[2J"), "{e}");
        let e = read_samples_text("t_s,items,rss\n0,,99999999999999999999999\n1,,2\n");
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("past what 64 bits hold")
        );
    }

    #[test]
    fn bad_rows_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.csv");
        std::fs::write(&p, "t_s,items,rss\n0,,1\n1,,x\n2,,3\n").unwrap();
        let e = read_samples(&p).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("`x`"), "{e}");
        std::fs::write(&p, "t_s,items,bogus\n").unwrap();
        let e = read_samples(&p).unwrap_err().to_string();
        assert!(e.contains("unknown metric column `bogus`"), "{e}");
        std::fs::write(&p, "").unwrap();
        assert!(read_samples(&p).unwrap_err().to_string().contains("empty"));
        // Time runs forward, and nothing counted is negative: whole rows
        // that say otherwise are refused, the last one too.
        for (text, want) in [
            (
                "t_s,items,rss\n0,,1\n2,,2\n1,,3\n",
                "line 4: t_s 1 is before the row above's 2",
            ),
            (
                "t_s,items,rss\n0,,1\n1,,-5\n",
                "line 3: `rss` is negative (-5)",
            ),
            (
                "t_s,items,rss\n0,-1,1\n",
                "line 2: `items` is negative (-1)",
            ),
            (
                "t_s,items,rss\n0,5,1\n1,,1\n2,4,1\n",
                "line 4: items 4 is below the row above's 5",
            ),
            // Regression: read as a run of 682870370 d.
            (
                "t_s,items,rss\n0,,1\n59000000000000,,2\n",
                "line 3: t_s 59000000000000 is past 1e10 s, the latest time offset memsoak reads",
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = read_samples(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        // Equal times are in order, and so is a count that holds.
        std::fs::write(&p, "t_s,items,rss\n0,,1\n0,,2\n1,,3\n").unwrap();
        assert_eq!(read_samples(&p).unwrap().len(), 3);
        std::fs::write(&p, "t_s,items,rss\n0,0,1\n1,3,2\n2,3,3\n").unwrap();
        assert_eq!(read_samples(&p).unwrap().len(), 3);
    }
}
