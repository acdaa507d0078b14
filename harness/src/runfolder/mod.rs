//! The run folder: the only module that knows its file names. It creates
//! the folder (proven writable before anything runs), writes and reads
//! every file a run leaves there through one typed owner each — `run.json`
//! ([`RunMeta`]), `samples.csv` ([`samples`]), `processes.csv`
//! ([`processes`]), `report.json` ([`Report`]), `compare.json`
//! ([`Comparison`]), the heap snapshots of `attribution/` ([`attribution`])
//! — and baselines ([`baseline`]).

pub mod attribution;
pub mod baseline;
pub mod matrix;
pub mod meta;
pub mod pprof;
pub mod processes;
pub mod report_file;
pub mod samples;

use std::io;
use std::path::{Path, PathBuf};

pub use meta::RunMeta;
pub use report_file::{Regression, Report, SCHEMA_VERSION, SeriesReport};

use crate::analysis::compare::{COMPARE_SCHEMA_VERSION, Comparison};
use crate::analysis::samples::{ProcessTable, SampleTable};

/// The samples, one row per sample (`t_s,items,<metric>...`).
pub const SAMPLES_CSV: &str = "samples.csv";
/// The RSS of each process of a black-box tree.
pub const PROCESSES_CSV: &str = "processes.csv";
/// What ran, written at the start ([`RunMeta`]).
pub const RUN_JSON: &str = "run.json";
/// A new run's hold on its folder until its `run.json` is written
/// ([`RunFolder::claim`]).
const CLAIM: &str = ".memsoak-claim";

/// Lets go of a folder's claim when dropped, so that a run that stopped
/// before its `run.json` (a model that would not load) leaves the folder
/// free for the next try; a no-op once `run.json` stands for the claim.
#[derive(Debug)]
#[must_use = "the claim goes when this is dropped"]
pub struct ClaimGuard(PathBuf);

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
/// The machine-readable report ([`Report`]).
pub const REPORT_JSON: &str = "report.json";
/// The short human/GitHub summary.
pub const SUMMARY_MD: &str = "summary.md";
/// One test case per threshold, for CI.
pub const JUNIT_XML: &str = "junit.xml";
/// The self-contained HTML report.
pub const REPORT_HTML: &str = "report.html";
/// Drift statistics in Bencher's metric format (value, lower and upper
/// bound per measure), for tracking drift across commits.
pub const BENCHER_JSON: &str = "bencher.json";
/// The comparison with a baseline ([`Comparison`]).
pub const COMPARE_JSON: &str = "compare.json";
/// A `--backend command` worker's stderr.
pub const WORKER_STDERR: &str = "worker-stderr.log";
/// A `--serve`d server's stderr.
pub const SERVER_STDERR: &str = "server-stderr.log";
/// A `watch`ed command's stderr.
pub const TARGET_STDERR: &str = "target-stderr.log";
/// dhat's heap profile of a `run` in a `--features dhat-heap` build (dhat
/// writes it; DHAT's viewer `dh_view.html` reads it).
pub const DHAT_HEAP_JSON: &str = "dhat-heap.json";

/// The name, without extension, of the chart of `kind` (a metric,
/// `items`, `processes`, `compare-<metric>`): `chart-rss`.
pub fn chart_stem(kind: &str) -> String {
    format!("chart-{kind}")
}

/// The file of a chart: its stem ([`chart_stem`]) and `svg` or `png`.
pub fn chart_file(stem: &str, ext: &str) -> String {
    format!("{stem}.{ext}")
}

/// Why a run folder could not be created, read or written.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// The folder cannot be created or written (`--out`).
    #[error("--out {}: {why}", dir.display())]
    Create {
        /// The folder.
        dir: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// A file is missing, unreadable or not what it should be.
    #[error("{}: {why}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// Its `samples.csv` is unreadable or malformed (the error names the
    /// file and line).
    #[error(transparent)]
    Samples(#[from] samples::SamplesError),
    /// Its `processes.csv` is (the error names the file and line).
    #[error(transparent)]
    Processes(#[from] processes::ProcessesError),
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// A run folder on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFolder {
    dir: PathBuf,
}

/// Make a name safe as a path component.
fn slug(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.chars().take(40).collect()
}

/// `reports/<UTC timestamp>-<workload>-<backend>/` under the current dir.
pub fn default_dir(workload: &str, backend: &str) -> PathBuf {
    let ts = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    PathBuf::from("reports").join(format!("{ts}-{}-{}", slug(workload), slug(backend)))
}

impl RunFolder {
    /// The folder at `dir`, as it is (nothing is read or created).
    pub fn at(dir: &Path) -> RunFolder {
        RunFolder { dir: dir.into() }
    }

    /// Create `dir` and prove it writable. Any failure here is a usage error
    /// (nothing has run yet).
    pub fn prepare(dir: &Path) -> Result<RunFolder, FolderError> {
        let fail = |why: String| FolderError::Create {
            dir: dir.into(),
            why,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| fail(format!("cannot create the run folder: {e}")))?;
        // NOTE: one probe per process: two memsoaks given one --out at once
        // removed each other's probe, and one said "cannot write there".
        let probe = dir.join(format!(".memsoak-write-probe-{}", std::process::id()));
        std::fs::write(&probe, b"ok")
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(|e| fail(format!("cannot write there: {e}")))?;
        Ok(RunFolder::at(dir))
    }

    /// The file that shows `dir` already holds a run (its `run.json`,
    /// `samples.csv` or `report.json`), if one does.
    pub fn run_file_in(dir: &Path) -> Option<&'static str> {
        [RUN_JSON, SAMPLES_CSV, REPORT_JSON]
            .into_iter()
            .find(|f| dir.join(f).exists())
    }

    /// The file that shows `dir` holds a run's samples (its `run.json` or
    /// `samples.csv`), if one does: what `summarize` and `analyze
    /// --prometheus` must not write beside. Their own earlier output (a
    /// `report.json` with neither) may be written again.
    pub fn sampled_run_in(dir: &Path) -> Option<&'static str> {
        [RUN_JSON, SAMPLES_CSV]
            .into_iter()
            .find(|f| dir.join(f).exists())
    }

    /// [`RunFolder::prepare`] for what `summarize` and `analyze
    /// --prometheus` write, refused where `dir` holds a run
    /// ([`RunFolder::sampled_run_in`]): `summarize --out RUN` wrote over
    /// that run's summary, junit and bencher files, and `analyze
    /// --prometheus --out RUN` over its `report.json`.
    pub fn prepare_beside_no_run(dir: &Path) -> Result<RunFolder, FolderError> {
        Self::refuse_run_in(dir)?;
        Self::prepare(dir)
    }

    /// The error of [`RunFolder::prepare_beside_no_run`], alone: for a
    /// command that checks before slow work and prepares after it.
    pub fn refuse_run_in(dir: &Path) -> Result<(), FolderError> {
        match Self::sampled_run_in(dir) {
            Some(f) => Err(FolderError::Create {
                dir: dir.into(),
                why: format!(
                    "already holds a run (its {f}): give another --out, or move that run away"
                ),
            }),
            None => Ok(()),
        }
    }

    /// Create `dir` (see [`RunFolder::prepare`]) and write `run.json` there.
    pub fn create(dir: &Path, meta: &RunMeta) -> Result<RunFolder, FolderError> {
        let folder = RunFolder::prepare(dir)?;
        folder.write_meta(meta)?;
        Ok(folder)
    }

    /// Write `run.json`: what was run, with what settings (write then
    /// rename), and drop the claim [`RunFolder::claim`] left, which it
    /// stands for from now on.
    pub fn write_meta(&self, meta: &RunMeta) -> Result<(), FolderError> {
        write_atomic(&self.file(RUN_JSON), meta.to_json())?;
        let _ = std::fs::remove_file(self.file(CLAIM));
        Ok(())
    }

    /// A fresh folder for a new run at `dir` (see [`RunFolder::prepare`]).
    /// A folder that already holds a run (its `run.json`, `samples.csv` or
    /// `report.json`) is refused: a second run there wrote over the first's
    /// files and left its charts beside the new ones. With `unique` (the
    /// name is memsoak's own, from the clock: [`default_dir`]), a name
    /// another run took in the same second becomes `NAME-2`, `NAME-3`, …
    /// instead; the leaf is made with one `mkdir`, so two runs never share
    /// one. The folder's own path says which ([`RunFolder::dir`]).
    pub fn claim(dir: &Path, unique: bool) -> Result<(RunFolder, ClaimGuard), FolderError> {
        let fail = |dir: &Path, why: String| FolderError::Create {
            dir: dir.into(),
            why,
        };
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| fail(dir, format!("cannot create the run folder: {e}")))?;
        }
        for k in 1..=1000 {
            let path = if k == 1 {
                dir.to_path_buf()
            } else {
                let mut name = dir.as_os_str().to_owned();
                name.push(format!("-{k}"));
                PathBuf::from(name)
            };
            match std::fs::create_dir(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if unique {
                        continue;
                    }
                    if let Some(f) = Self::run_file_in(&path) {
                        return Err(fail(
                            &path,
                            format!(
                                "already holds a run (its {f}): give another --out, or move that run away"
                            ),
                        ));
                    }
                }
                Err(e) => return Err(fail(&path, format!("cannot create the run folder: {e}"))),
            }
            // NOTE: the claim, made with O_EXCL, is the folder's until
            // run.json stands for it (a model's load can come between): a
            // second run given the same --out then finds it. It is also
            // the proof that the folder is writable.
            return match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path.join(CLAIM))
            {
                Ok(_) => Ok((RunFolder::at(&path), ClaimGuard(path.join(CLAIM)))),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && unique => continue,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(fail(
                    &path,
                    "another run is starting there: give another --out".into(),
                )),
                Err(e) => Err(fail(&path, format!("cannot write there: {e}"))),
            };
        }
        Err(fail(dir, "1000 runs of that name already".into()))
    }

    /// A new, empty folder at `dir` for output that is not a run
    /// (`summarize` without `--out`): the name is memsoak's own, from the
    /// clock ([`default_dir`]), so a name taken, by a run or by another
    /// summary of the same second, becomes `NAME-2`, `NAME-3`, … by the
    /// rule of [`RunFolder::claim`] with `unique`. The folder's own path
    /// says which.
    pub fn create_unique(dir: &Path) -> Result<RunFolder, FolderError> {
        // NOTE: the claim file only guards a run until its run.json; the
        // folder itself was made by one mkdir, so it is ours without it.
        let (folder, claim) = Self::claim(dir, true)?;
        drop(claim);
        Ok(folder)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of one of its files (one of this module's names).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Write `bytes` as the file `name`. NOTE: write then rename, so a
    /// reader never sees half a file.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, FolderError> {
        let path = self.file(name);
        write_atomic(&path, bytes)?;
        Ok(path)
    }

    fn read_text(&self, name: &str) -> Result<String, FolderError> {
        let path = self.file(name);
        std::fs::read_to_string(&path).map_err(|e| FolderError::Read {
            path,
            why: e.to_string(),
        })
    }

    /// Its `samples.csv`.
    pub fn read_samples(&self) -> Result<SampleTable, FolderError> {
        Ok(samples::read_samples(&self.file(SAMPLES_CSV))?)
    }

    /// Its `processes.csv`, when the run took per-process readings.
    pub fn read_processes(&self) -> Result<Option<ProcessTable>, FolderError> {
        let path = self.file(PROCESSES_CSV);
        if !path.is_file() {
            return Ok(None);
        }
        Ok(Some(processes::read(&path)?))
    }

    /// Its `run.json`.
    pub fn read_meta(&self) -> Result<RunMeta, FolderError> {
        let text = self.read_text(RUN_JSON)?;
        serde_json::from_str(&text).map_err(|e| FolderError::Read {
            path: self.file(RUN_JSON),
            why: format!("not a memsoak run.json: {e}"),
        })
    }

    /// Its `report.json`.
    pub fn read_report(&self) -> Result<Report, FolderError> {
        if !self.dir.is_dir() {
            return Err(FolderError::Read {
                path: self.dir.clone(),
                why: "not a run folder".into(),
            });
        }
        let path = self.file(REPORT_JSON);
        if path.is_dir() {
            return Err(FolderError::Read {
                path,
                why: "is a directory, not a report file".into(),
            });
        }
        if !path.is_file() {
            return Err(FolderError::Read {
                path: self.dir.clone(),
                why: "no report.json here (expected a run folder)".into(),
            });
        }
        Report::from_json(&self.read_text(REPORT_JSON)?)
            .map_err(|why| FolderError::Read { path, why })
    }

    /// Write `report.json`.
    pub fn write_report(&self, report: &Report) -> Result<PathBuf, FolderError> {
        self.write(REPORT_JSON, report.to_json().as_bytes())
    }

    /// The comparison an earlier `memsoak compare` (or `run --baseline`)
    /// left in `compare.json`; `None` when there is none.
    pub fn read_comparison(&self) -> Result<Option<Comparison>, FolderError> {
        let path = self.file(COMPARE_JSON);
        if !path.is_file() {
            return Ok(None);
        }
        let bad = |why: String| FolderError::Read {
            path: path.clone(),
            why,
        };
        let text = self.read_text(COMPARE_JSON)?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        if value.get("schema_version").and_then(|v| v.as_u64())
            != Some(u64::from(COMPARE_SCHEMA_VERSION))
        {
            return Err(bad(format!(
                "not a memsoak comparison of schema_version {COMPARE_SCHEMA_VERSION}"
            )));
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| bad(format!("not a comparison: {e}")))
    }

    /// Write `compare.json`.
    pub fn write_comparison(&self, c: &Comparison) -> Result<PathBuf, FolderError> {
        let mut text = serde_json::to_string_pretty(c).unwrap_or_default();
        text.push('\n');
        self.write(COMPARE_JSON, text.as_bytes())
    }

    /// Read a finished run back: its report, samples, per-process readings
    /// and `run.json` (when present and valid).
    pub fn load(dir: &Path) -> Result<FinishedRun, FolderError> {
        let folder = RunFolder::at(dir);
        let report = folder.read_report()?;
        let samples = folder.read_samples()?;
        let processes = folder.read_processes()?;
        let meta = folder.read_meta().ok();
        Ok(FinishedRun {
            folder,
            report: report.reread(&samples, processes.as_ref()),
            samples,
            processes,
            meta,
        })
    }
}

/// A finished run read back from its folder. The stored statistics and
/// threshold outcomes are authoritative: a report re-rendered by a newer
/// memsoak keeps the verdict and the numbers the run had. What is read
/// from them (classification, projection) is read again from the folder as
/// it is now (a `processes.csv` removed takes its findings with it).
#[derive(Debug, Clone)]
pub struct FinishedRun {
    /// The folder.
    pub folder: RunFolder,
    /// Its `report.json`.
    pub report: Report,
    /// Its samples.
    pub samples: SampleTable,
    /// Its per-process readings, when the run took them.
    pub processes: Option<ProcessTable>,
    /// Its `run.json`, when present and valid.
    pub meta: Option<RunMeta>,
}

/// Write `bytes` to `path` through a hidden temporary beside it
/// (`.NAME.tmp`), then rename: a reader (or a kill) never sees half a
/// file under its name. The one way the run folder's files are written.
pub(crate) fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), FolderError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| {
            // NOTE: a failed write (a full disk, `ulimit -f`) left its
            // hidden half file in the run folder.
            let _ = std::fs::remove_file(&tmp);
            FolderError::Write {
                path: path.to_path_buf(),
                source,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_no_temporary_behind() {
        // Regression: under `ulimit -f 20` a run exited 2 and left
        // .report.json.tmp, .report.html.tmp and .chart-rss.svg.tmp.
        let d = tempfile::tempdir().unwrap();
        // NOTE: the temporary is written, then renaming it onto a folder
        // that holds a file fails.
        let path = d.path().join("report.json");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), "x").unwrap();
        let e = write_atomic(&path, "{}").unwrap_err();
        assert!(e.to_string().contains("report.json"), "{e}");
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, ["report.json"]);
    }

    #[test]
    fn a_new_run_never_lands_in_a_folder_that_holds_one() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("a").join("run");
        // --out: made with its parents; an empty folder given is fine.
        std::fs::create_dir_all(&out).unwrap();
        let (f, _claim) = RunFolder::claim(&out, false).unwrap();
        assert_eq!(f.dir(), out);
        std::fs::write(f.file(SAMPLES_CSV), "t_s,items,rss\n").unwrap();
        // Once it holds a run, a second one is refused and nothing is touched.
        let e = RunFolder::claim(&out, false).unwrap_err().to_string();
        assert!(e.contains("already holds a run (its samples.csv)"), "{e}");
        assert_eq!(
            std::fs::read_to_string(f.file(SAMPLES_CSV)).unwrap(),
            "t_s,items,rss\n"
        );
        // A name of memsoak's own that is taken, by a run or an empty
        // folder another run just made, gets the next free suffix.
        let named = d
            .path()
            .join("reports")
            .join("20261206T110006Z-python3-watch");
        let (first, _c1) = RunFolder::claim(&named, true).unwrap();
        let (second, _c2) = RunFolder::claim(&named, true).unwrap();
        let (third, c3) = RunFolder::claim(&named, true).unwrap();
        // A claim not yet turned into run.json (a model loading) is
        // another run's too; once written, run.json stands for it.
        let e = RunFolder::claim(&named, false).unwrap_err().to_string();
        assert!(e.contains("another run is starting there"), "{e}");
        first.write_meta(&RunMeta::now("run")).unwrap();
        assert!(!first.file(CLAIM).exists());
        let e = RunFolder::claim(&named, false).unwrap_err().to_string();
        assert!(e.contains("already holds a run (its run.json)"), "{e}");
        // A run that stopped before its run.json lets its folder go.
        drop(c3);
        assert!(RunFolder::claim(third.dir(), false).is_ok());
        assert_eq!(first.dir(), named);
        assert!(
            second.dir().to_string_lossy().ends_with("-watch-2"),
            "{second:?}"
        );
        assert!(
            third.dir().to_string_lossy().ends_with("-watch-3"),
            "{third:?}"
        );
    }

    #[test]
    fn creates_and_refuses_unwritable() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b");
        let f = RunFolder::create(&dir, &RunMeta::now("run")).unwrap();
        let m = f.read_meta().unwrap();
        assert_eq!(m.mode, "run");
        assert!(m.host.unwrap().cpus >= 1);
        // A path under a regular file cannot be a folder.
        let file = d.path().join("file");
        std::fs::write(&file, "").unwrap();
        let e = RunFolder::create(&file.join("x"), &RunMeta::now("run"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot create"), "{e}");
    }

    #[test]
    fn default_dir_is_under_reports() {
        let p = default_dir("my corpus.txt", "candle");
        assert!(p.starts_with("reports"));
        assert!(p.to_string_lossy().ends_with("-my_corpus.txt-candle"));
    }
}
