//! A matrix of run folders (the artifacts of a CI matrix, of Kubernetes
//! Jobs): found under the folders given to `memsoak summarize`, each read
//! back through [`RunFolder`]. A folder whose run never finished (it holds
//! `run.json` or `samples.csv` but no `report.json`) is a cell without a
//! report, kept and named, never dropped.

use std::path::{Path, PathBuf};

use super::{FolderError, REPORT_JSON, RUN_JSON, RunFolder, RunMeta, SAMPLES_CSV};
use crate::analysis::compare::Comparison;
use crate::runfolder::Report;

/// How deep below a given folder run folders are looked for
/// (`artifacts/<job>/<run>/report.json` is depth 2).
pub const MAX_DEPTH: usize = 4;

/// The run folders found ([`discover`]), and where the search stopped.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// One cell per run folder, in the order found.
    pub cells: Vec<Cell>,
    /// Folders [`MAX_DEPTH`] levels down that hold folders, which were not
    /// searched: a run below one is not among `cells`.
    pub unsearched: Vec<PathBuf>,
}

/// One run folder of a matrix.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The folder.
    pub dir: PathBuf,
    /// Its `report.json`; `None` when the run never wrote one.
    pub report: Option<Report>,
    /// Its `run.json`, when present and valid (git commit, backend...).
    pub meta: Option<RunMeta>,
    /// Its `compare.json`, when a `memsoak compare` (or `run --baseline`)
    /// left one.
    pub comparison: Option<Comparison>,
}

impl Cell {
    /// The cell's name for tables: its path as found.
    pub fn name(&self) -> String {
        self.dir.display().to_string()
    }
}

fn is_run_folder(dir: &Path) -> bool {
    [REPORT_JSON, RUN_JSON, SAMPLES_CSV]
        .iter()
        .any(|f| dir.join(f).is_file())
}

fn collect(dir: &Path, depth: usize, out: &mut Vec<PathBuf>, unsearched: &mut Vec<PathBuf>) {
    if is_run_folder(dir) {
        out.push(dir.to_path_buf());
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut subs = rd.flatten().map(|e| e.path()).filter(|p| p.is_dir());
    // NOTE: a run folder past the depth was dropped without a word, a
    // failing one too. Only whether this folder holds any folder is
    // looked at: no deeper walk for a note.
    if depth == 0 {
        if subs.next().is_some() {
            unsearched.push(dir.to_path_buf());
        }
        return;
    }
    let mut subs: Vec<PathBuf> = subs.collect();
    subs.sort();
    for s in subs {
        collect(&s, depth - 1, out, unsearched);
    }
}

/// Every run folder at or under `dirs` (each a run folder, or a folder of
/// them up to four levels down), in the order given and by name below
/// each. A folder given that does not exist, or holds no run folder, and a
/// `report.json` or `compare.json` that cannot be read, are errors: a gate over a matrix
/// must not pass on a cell it could not read. A run reached twice (`A A`,
/// `S S/A`, `A ./A/`) is one cell, where it is first met. The folders
/// where the search stopped with folders left below are named
/// ([`Found::unsearched`]).
pub fn discover(dirs: &[PathBuf]) -> Result<Found, FolderError> {
    let mut cells = Vec::new();
    let mut unsearched = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for d in dirs {
        if !d.is_dir() {
            return Err(FolderError::Read {
                path: d.clone(),
                why: "not a folder".into(),
            });
        }
        let mut found = Vec::new();
        let before = unsearched.len();
        collect(d, MAX_DEPTH, &mut found, &mut unsearched);
        if found.is_empty() {
            // NOTE: a run deeper than the search goes was "no run folder
            // here", with no word of where the search stopped.
            let stopped = match &unsearched[before..] {
                [] => String::new(),
                [first, rest @ ..] => format!(
                    "; the search stopped {MAX_DEPTH} levels down: folders in {}{} were not searched (give a run's own folder)",
                    first.display(),
                    match rest.len() {
                        0 => String::new(),
                        n => format!(" and {n} more"),
                    }
                ),
            };
            return Err(FolderError::Read {
                path: d.clone(),
                why: format!(
                    "no run folder here (no {REPORT_JSON}, {RUN_JSON} or {SAMPLES_CSV}){stopped}"
                ),
            });
        }
        for dir in found {
            // NOTE: counted once per folder on disk, however it was named.
            if !seen.insert(std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone())) {
                continue;
            }
            let folder = RunFolder::at(&dir);
            // NOTE: present is read (a report.json that is a folder is an
            // error naming it); only one that is absent is a run unfinished.
            let report = if folder.file(REPORT_JSON).exists() {
                Some(folder.read_report()?)
            } else {
                None
            };
            // NOTE: a separate `memsoak compare` step's regression is a
            // failure of the run: one that cannot be read must not pass.
            let comparison = folder.read_comparison()?;
            cells.push(Cell {
                meta: folder.read_meta().ok(),
                dir,
                report,
                comparison,
            });
        }
    }
    Ok(Found { cells, unsearched })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_reached_twice_is_one_cell() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::write(a.join(SAMPLES_CSV), "t_s,items,rss\n").unwrap();
        let twice = [
            a.clone(),
            a.join("."),
            d.path().to_path_buf(),
            d.path().join("a/../a"),
        ];
        let cells = discover(&twice).unwrap().cells;
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].dir, a);
    }

    #[test]
    fn finds_nested_run_folders_and_keeps_unfinished_ones() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("job-a/run");
        let b = d.path().join("job-b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join(SAMPLES_CSV), "t_s,items,rss\n").unwrap();
        std::fs::write(b.join(RUN_JSON), RunMeta::now("watch").to_json()).unwrap();
        std::fs::create_dir_all(d.path().join("empty")).unwrap();
        let found = discover(&[d.path().to_path_buf()]).unwrap();
        assert!(found.unsearched.is_empty());
        let cells = found.cells;
        let dirs: Vec<&Path> = cells.iter().map(|c| c.dir.as_path()).collect();
        assert_eq!(dirs, vec![a.as_path(), b.as_path()]);
        assert!(cells.iter().all(|c| c.report.is_none()));
        assert_eq!(cells[1].meta.as_ref().unwrap().mode, "watch");
    }

    #[test]
    fn names_where_the_search_stopped_with_folders_left_below() {
        // Regression: a run 5 levels down (a failing one too) was dropped
        // without a word.
        let d = tempfile::tempdir().unwrap();
        let near = d.path().join("a/b/c/r4");
        let stop = d.path().join("x/y/z/w");
        for dir in [&near, &stop.join("r5")] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(SAMPLES_CSV), "t_s,items,rss\n").unwrap();
        }
        // A folder at the depth with no folder below is no note.
        std::fs::create_dir_all(d.path().join("p/q/r/s")).unwrap();
        let found = discover(&[d.path().to_path_buf()]).unwrap();
        let dirs: Vec<&Path> = found.cells.iter().map(|c| c.dir.as_path()).collect();
        assert_eq!(dirs, vec![near.as_path()]);
        assert_eq!(found.unsearched, vec![stop]);
    }

    #[test]
    fn a_run_found_only_past_the_depth_names_where_the_search_stopped() {
        // Regression: a folder whose only run was 5 levels down gave "no
        // run folder here" and no word of the depth.
        let d = tempfile::tempdir().unwrap();
        let stop = d.path().join("a/b/c/d");
        std::fs::create_dir_all(stop.join("run")).unwrap();
        std::fs::write(stop.join("run").join(SAMPLES_CSV), "t_s,items,rss\n").unwrap();
        let e = discover(&[d.path().to_path_buf()]).unwrap_err().to_string();
        assert!(
            e.ends_with(&format!(
                "no run folder here (no report.json, run.json or samples.csv); the search stopped 4 levels down: folders in {} were not searched (give a run's own folder)",
                stop.display()
            )),
            "{e}"
        );
    }

    #[test]
    fn refuses_a_folder_without_runs_and_a_broken_report() {
        let d = tempfile::tempdir().unwrap();
        let e = discover(&[d.path().to_path_buf()]).unwrap_err().to_string();
        assert!(e.contains("no run folder here"), "{e}");
        let e = discover(&[d.path().join("nope")]).unwrap_err().to_string();
        assert!(e.contains("not a folder"), "{e}");
        std::fs::write(d.path().join(REPORT_JSON), "{").unwrap();
        let e = discover(&[d.path().to_path_buf()]).unwrap_err().to_string();
        assert!(e.contains(REPORT_JSON), "{e}");
    }
}
