//! Where the `items` column comes from: the pipeline's counter in-process,
//! or, for a black box, a file the target writes (`watch --items-file`).
//! The sampling thread reads it at each sample, off the target's path, so
//! `slope_per_1k` works for any process. Bad contents never stop a run: the
//! last good count is kept and a note says what was wrong.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::pipeline::ItemCounter;

/// How the target writes its progress to an items file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemsFormat {
    /// The file's last line is the cumulative count (a whole number): the
    /// target rewrites the file, or appends a line with the new count.
    Count,
    /// Every line is one item done: the target appends a line per item.
    Lines,
}

impl ItemsFormat {
    /// Parse `count` or `lines`.
    pub fn parse(s: &str) -> Option<ItemsFormat> {
        match s {
            "count" => Some(ItemsFormat::Count),
            "lines" => Some(ItemsFormat::Lines),
            _ => None,
        }
    }

    /// The name as typed.
    pub fn name(self) -> &'static str {
        match self {
            ItemsFormat::Count => "count",
            ItemsFormat::Lines => "lines",
        }
    }
}

/// A validated `--items-file PATH [--items-format count|lines]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemsFileSpec {
    /// The file the target writes.
    pub path: PathBuf,
    /// How it writes it.
    pub format: ItemsFormat,
}

/// The source of the `items` column, read once per sample.
pub enum Items {
    /// Texts embedded by the in-process pipeline.
    Pipeline(ItemCounter),
    /// A file a black-box target writes.
    File(ItemsFile),
}

impl From<ItemCounter> for Items {
    fn from(c: ItemCounter) -> Items {
        Items::Pipeline(c)
    }
}

impl Items {
    /// The cumulative count now.
    pub fn get(&mut self) -> u64 {
        match self {
            Items::Pipeline(c) => c.get(),
            Items::File(f) => f.read(),
        }
    }
}

/// The longest count line read (a `u64` has 20 digits; room for spaces).
const TAIL: u64 = 64;

/// What went wrong with an items file, shared between the sampling thread
/// that reads it and the command that writes the report.
#[derive(Debug, Default)]
struct Log {
    /// One note per kind of problem, in the order first seen.
    notes: Vec<String>,
    /// Whether any count (or line) was ever read.
    counted: bool,
}

/// A handle on an items file's notes, kept by the command while the
/// sampling thread owns the [`ItemsFile`].
#[derive(Debug, Clone, Default)]
pub struct ItemsNotes(Arc<Mutex<Log>>);

impl ItemsNotes {
    fn with<T>(&self, f: impl FnOnce(&mut Log) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Every note, for `report.json`, once the run has ended: what was wrong
    /// with the file, and a last note when it never held a count at all.
    pub fn finish(&self, spec: &ItemsFileSpec) -> Vec<String> {
        self.with(|l| {
            let mut v = l.notes.clone();
            if !l.counted {
                v.push(format!(
                    "--items-file {}: no {} was ever read: items stayed at 0",
                    spec.path.display(),
                    match spec.format {
                        ItemsFormat::Count => "count",
                        ItemsFormat::Lines => "line",
                    }
                ));
            }
            v
        })
    }
}

/// An items file, read at each sample.
///
/// - `count`: the last line ending in a newline (or, with no newline at
///   all, the whole file) is the cumulative count. An empty file is a
///   rewrite in progress: the last count stands. A line that is not a
///   whole number, or a count below the last one, is noted once and the
///   last good count kept.
/// - `lines`: the newlines written so far. A file truncated or replaced is
///   noted once and its lines counted on top of those already seen.
///
/// A file that does not exist yet counts 0: the target has done nothing.
///
/// # Examples
///
/// ```
/// use memsoak::soak::items::{ItemsFile, ItemsFileSpec, ItemsFormat};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("items");
/// let spec = ItemsFileSpec { path: path.clone(), format: ItemsFormat::Count };
/// let (mut f, notes) = ItemsFile::new(spec.clone());
/// assert_eq!(f.read(), 0);
/// std::fs::write(&path, "1200\n").unwrap();
/// assert_eq!(f.read(), 1200);
/// assert!(notes.finish(&spec).is_empty());
/// ```
pub struct ItemsFile {
    spec: ItemsFileSpec,
    notes: ItemsNotes,
    /// Last good count (`count`), or lines counted (`lines`).
    last: u64,
    /// `lines`: lines counted in files seen before the current one.
    base: u64,
    /// `lines`: bytes of the current file already counted.
    offset: u64,
    /// `lines`: (device, inode) of the current file.
    id: Option<(u64, u64)>,
    /// Kinds of problem already noted.
    noted: Vec<&'static str>,
}

impl ItemsFile {
    /// A reader of `spec`, and the handle on its notes.
    pub fn new(spec: ItemsFileSpec) -> (ItemsFile, ItemsNotes) {
        let notes = ItemsNotes::default();
        let f = ItemsFile {
            spec,
            notes: notes.clone(),
            last: 0,
            base: 0,
            offset: 0,
            id: None,
            noted: Vec::new(),
        };
        (f, notes)
    }

    /// The cumulative count now (the last good one when the file cannot be
    /// read or holds something else). Never fails, never blocks for long:
    /// at most `TAIL` bytes are read for a count, and only what was
    /// appended since the last read for lines.
    pub fn read(&mut self) -> u64 {
        let path = self.spec.path.clone();
        let got = match self.spec.format {
            ItemsFormat::Count => self.read_count(&path),
            ItemsFormat::Lines => self.read_lines(&path),
        };
        match got {
            Ok(Some(n)) => {
                self.notes.with(|l| l.counted = true);
                self.last = n;
            }
            Ok(None) => {}
            Err(Problem(kind, why)) => self.note(kind, why),
        }
        self.last
    }

    fn note(&mut self, kind: &'static str, why: String) {
        if !self.noted.contains(&kind) {
            self.noted.push(kind);
            let line = format!("--items-file {}: {why}", self.spec.path.display());
            self.notes.with(|l| l.notes.push(line));
        }
    }

    /// The file and its metadata, if it exists and is a regular file. It
    /// is opened `O_NONBLOCK` (a pipe with no writer then opens at once
    /// instead of blocking the sampling thread) and checked on the handle:
    /// a pipe or a device (/dev/zero never ends) is noted and never read.
    /// One open and one fstat per sample, on the sampler's path.
    fn open(path: &Path) -> Result<Option<(File, std::fs::Metadata)>, Problem> {
        use std::os::unix::fs::OpenOptionsExt;
        let unreadable = |e: std::io::Error| Problem("unreadable", format!("cannot be read ({e})"));
        let f = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::EISDIR) => return Err(not_a_file()),
            Err(e) => return Err(unreadable(e)),
        };
        let meta = f.metadata().map_err(unreadable)?;
        if !meta.is_file() {
            return Err(not_a_file());
        }
        Ok(Some((f, meta)))
    }

    fn read_count(&mut self, path: &Path) -> Result<Option<u64>, Problem> {
        let Some((mut f, meta)) = Self::open(path)? else {
            return Ok(None);
        };
        let unreadable = |e: std::io::Error| Problem("unreadable", format!("cannot be read ({e})"));
        let len = meta.len();
        let mut buf = Vec::with_capacity(TAIL as usize);
        f.seek(SeekFrom::Start(len.saturating_sub(TAIL)))
            .and_then(|_| f.take(TAIL).read_to_end(&mut buf))
            .map_err(unreadable)?;
        let Some((start, text)) = last_line(&buf) else {
            return Ok(None);
        };
        if start == 0 && len > TAIL {
            // NOTE: the window begins inside this line: a fragment of a long
            // line could parse as a smaller number.
            return Err(Problem(
                "too_long",
                format!(
                    "the last line is longer than {TAIL} bytes, not a count of items; \
                     the last good count ({}) was kept",
                    self.last
                ),
            ));
        }
        let text = String::from_utf8_lossy(text);
        let text = text.trim();
        let Ok(n) = text.parse::<u64>() else {
            let shown: String = text.chars().take(24).collect();
            return Err(Problem(
                "not_a_count",
                format!(
                    "`{shown}` is not a count of items (a whole number on the last line); \
                     the last good count ({}) was kept",
                    self.last
                ),
            ));
        };
        if n < self.last {
            return Err(Problem(
                "went_down",
                format!(
                    "the count went down (from {} to {n}); a count is cumulative, \
                     the higher one was kept",
                    self.last
                ),
            ));
        }
        Ok(Some(n))
    }

    fn read_lines(&mut self, path: &Path) -> Result<Option<u64>, Problem> {
        let Some((mut f, meta)) = Self::open(path)? else {
            return Ok(None);
        };
        let unreadable = |e: std::io::Error| Problem("unreadable", format!("cannot be read ({e})"));
        let id = (meta.dev(), meta.ino());
        let mut replaced = None;
        if self.id.is_some_and(|old| old != id) || meta.len() < self.offset {
            // NOTE: the lines already counted were items done; the new
            // file's lines come on top.
            self.base = self.last;
            self.offset = 0;
            replaced = Some(Problem(
                "replaced",
                "was truncated or replaced during the run; its new lines were counted \
                 on top of the earlier ones"
                    .into(),
            ));
        }
        self.id = Some(id);
        f.seek(SeekFrom::Start(self.offset)).map_err(unreadable)?;
        let mut buf = [0u8; 8192];
        let mut counted = self.last - self.base;
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    // NOTE: a line still being written has no newline yet:
                    // counting newlines counts whole lines only.
                    counted += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                    self.offset += n as u64;
                }
                Err(e) => return Err(unreadable(e)),
            }
        }
        if let Some(p) = replaced {
            self.last = self.base + counted;
            self.notes.with(|l| l.counted = true);
            return Err(p);
        }
        Ok(Some(self.base + counted))
    }
}

/// A problem with the file: its kind (noted once) and the note.
struct Problem(&'static str, String);

/// The note on a path that is not a regular file.
fn not_a_file() -> Problem {
    Problem(
        "not_a_file",
        "is not a regular file (a directory, a pipe or a device); it is not read, and the \
         last good count was kept"
            .into(),
    )
}

/// The last line that ends in a newline (with no newline at all, the whole
/// text) and where it starts in `buf`; `None` when that is blank (a rewrite
/// in progress).
fn last_line(buf: &[u8]) -> Option<(usize, &[u8])> {
    let (start, line) = match buf.iter().rposition(|&b| b == b'\n') {
        Some(e) => {
            let start = buf[..e]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            (start, &buf[start..e])
        }
        None => (0, buf),
    };
    (!line.iter().all(u8::is_ascii_whitespace)).then_some((start, line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn reader(format: ItemsFormat) -> (tempfile::TempDir, PathBuf, ItemsFile, ItemsNotes) {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("items");
        let (f, n) = ItemsFile::new(ItemsFileSpec {
            path: path.clone(),
            format,
        });
        (d, path, f, n)
    }

    fn spec(path: &Path, format: ItemsFormat) -> ItemsFileSpec {
        ItemsFileSpec {
            path: path.into(),
            format,
        }
    }

    #[test]
    fn a_count_rewritten_or_appended_is_read_from_its_last_line() {
        let (_d, path, mut f, notes) = reader(ItemsFormat::Count);
        assert_eq!(f.read(), 0, "no file yet: nothing done");
        std::fs::write(&path, "17").unwrap();
        assert_eq!(f.read(), 17, "no newline at all: the whole file");
        std::fs::write(&path, "40\n").unwrap();
        assert_eq!(f.read(), 40);
        std::fs::write(&path, "").unwrap();
        assert_eq!(f.read(), 40, "an empty file is a rewrite in progress");
        let mut a = File::options().append(true).open(&path).unwrap();
        a.write_all(b"50\n60\n7").unwrap();
        assert_eq!(
            f.read(),
            60,
            "a line without its newline is still being written"
        );
        a.write_all(b"0 \r\n").unwrap();
        assert_eq!(f.read(), 70);
        // A long appended log: only its tail is read.
        let long = (0..100_000).map(|i| format!("{i}\n")).collect::<String>();
        std::fs::write(&path, long).unwrap();
        assert_eq!(f.read(), 99_999);
        assert!(notes.finish(&spec(&path, ItemsFormat::Count)).is_empty());
    }

    #[test]
    fn bad_contents_keep_the_last_count_and_are_noted_once() {
        let (_d, path, mut f, notes) = reader(ItemsFormat::Count);
        std::fs::write(&path, "100\n").unwrap();
        assert_eq!(f.read(), 100);
        std::fs::write(&path, "done: 120\n").unwrap();
        assert_eq!(f.read(), 100);
        std::fs::write(&path, "99999999999999999999999\n").unwrap();
        assert_eq!(f.read(), 100);
        std::fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
        assert_eq!(f.read(), 100);
        std::fs::write(&path, "-5\n").unwrap();
        assert_eq!(f.read(), 100);
        std::fs::write(&path, "30\n").unwrap();
        assert_eq!(f.read(), 100, "a count never goes down");
        std::fs::write(&path, "130\n").unwrap();
        assert_eq!(f.read(), 130);
        // Only the tail is read: a line longer than that is never taken in part.
        std::fs::write(&path, format!("{}140\n", "x".repeat(100))).unwrap();
        assert_eq!(f.read(), 130);
        std::fs::write(&path, "150\n").unwrap();
        assert_eq!(f.read(), 150);
        let n = notes.finish(&spec(&path, ItemsFormat::Count));
        assert_eq!(n.len(), 3, "{n:?}");
        assert!(n[2].contains("longer than 64 bytes"), "{n:?}");
        assert!(n[0].contains("`done: 120` is not a count"), "{n:?}");
        assert!(n[0].contains("(100) was kept"), "{n:?}");
        assert!(n[1].contains("went down (from 100 to 30)"), "{n:?}");
    }

    #[test]
    fn a_file_that_never_holds_a_count_is_noted() {
        let (_d, path, mut f, notes) = reader(ItemsFormat::Count);
        assert_eq!(f.read(), 0);
        let n = notes.finish(&spec(&path, ItemsFormat::Count));
        assert_eq!(n.len(), 1);
        assert!(n[0].contains("no count was ever read"), "{n:?}");
        // A directory cannot be read as a file.
        std::fs::create_dir(&path).unwrap();
        assert_eq!(f.read(), 0);
        let n = notes.finish(&spec(&path, ItemsFormat::Count));
        assert!(n[0].contains("is not a regular file"), "{n:?}");
    }

    #[test]
    fn lines_are_counted_as_they_are_appended_and_across_a_replacement() {
        let (_d, path, mut f, notes) = reader(ItemsFormat::Lines);
        assert_eq!(f.read(), 0);
        let mut a = File::create(&path).unwrap();
        a.write_all(b"a\nb\nc").unwrap();
        assert_eq!(f.read(), 2, "the third line is still being written");
        a.write_all(b"\n").unwrap();
        assert_eq!(f.read(), 3);
        a.write_all(&b"x\n".repeat(10_000)).unwrap();
        assert_eq!(f.read(), 10_003);
        assert!(notes.finish(&spec(&path, ItemsFormat::Lines)).is_empty());
        // Replaced by a new, shorter file: its lines come on top.
        drop(a);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "y\ny\n").unwrap();
        assert_eq!(f.read(), 10_005);
        assert_eq!(f.read(), 10_005);
        let n = notes.finish(&spec(&path, ItemsFormat::Lines));
        assert_eq!(n.len(), 1);
        assert!(n[0].contains("truncated or replaced"), "{n:?}");
    }

    #[test]
    fn a_pipe_or_a_device_is_noted_and_never_read() {
        for format in [ItemsFormat::Count, ItemsFormat::Lines] {
            let (_dir, path, mut f, notes) = reader(format);
            std::fs::write(&path, "7\n").unwrap();
            assert_eq!(f.read(), if format == ItemsFormat::Count { 7 } else { 1 });
            // A pipe with no writer: opening it would block the sampler.
            std::fs::remove_file(&path).unwrap();
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: mkfifo on a path we own, a valid C string.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let kept = if format == ItemsFormat::Count { 7 } else { 1 };
            assert_eq!(f.read(), kept, "the last good count is kept");
            assert_eq!(f.read(), kept);
            let n = notes.finish(&spec(&path, format));
            assert!(
                n.iter().any(|l| l.contains("is not a regular file")),
                "{n:?}"
            );
        }
    }

    #[test]
    fn formats_parse_by_name() {
        for f in [ItemsFormat::Count, ItemsFormat::Lines] {
            assert_eq!(ItemsFormat::parse(f.name()), Some(f));
        }
        assert_eq!(ItemsFormat::parse("bytes"), None);
    }
}
