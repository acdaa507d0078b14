//! The `attribution/` folder of a run (`--attribute`): the one owner of its
//! files. For a Python target memsoak writes the Python side
//! (`python/sitecustomize.py`) and the `request` counter there, and each
//! Python process of the target writes its snapshots `snap-NNNN-pPID.json`;
//! for an in-process backend memsoak writes its own jemalloc snapshots,
//! `jeprof-NNNN-pPID.json` beside the raw dumps `jeprof-NNNN-pPID.heap`
//! ([`SnapshotFile`], typed both ways), and from the dumps pprof's
//! profiles of the first and last snapshot and of the growth between
//! them (`heap-first.pb.gz`, `heap-last.pb.gz`, `heap-growth.pb.gz`; the
//! format is [`super::pprof`]'s). For either, once sampling has ended,
//! memsoak writes the time (`sampling-ended`): a snapshot taken later is
//! left out of the analysis.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::pprof::{self, HeapMeta, StackValues};
use super::{FolderError, RunFolder, write_atomic};
use crate::analysis::attribution::{SiteBytes, Snapshot, Tracer};
use crate::sample::heap_profile::{self, Folded, Frame, HeapProfile, Relocation, Symbolizer};

/// The folder, inside the run folder.
pub const ATTRIBUTION_DIR: &str = "attribution";
/// The request counter memsoak raises to ask for a snapshot.
pub const REQUEST_FILE: &str = "request";
/// When the soak's sampling ended (seconds since the Unix epoch, one line):
/// a snapshot taken later is not of the heap the samples measured.
pub const ENDED_FILE: &str = "sampling-ended";
/// Where the Python side is written, inside [`ATTRIBUTION_DIR`].
pub const PYTHON_DIR: &str = "python";
/// The environment variable that tells the Python side where to work.
pub const DIR_VAR: &str = "MEMSOAK_ATTRIBUTE_DIR";
/// The `format` of a snapshot file.
pub const SNAPSHOT_FORMAT: &str = "memsoak-attribution";
/// The snapshot layout this memsoak writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;
/// The file name prefix of tracemalloc's snapshots.
pub const TRACEMALLOC_PREFIX: &str = "snap-";
/// The file name prefix of jemalloc's snapshots (and raw dumps).
pub const JEMALLOC_PREFIX: &str = "jeprof-";
/// The extension of a raw jemalloc heap profile.
pub const HEAP_DUMP_EXT: &str = "heap";
/// pprof's profile of the first raw dump (`go tool pprof -base` it).
pub const HEAP_FIRST_PPROF: &str = "heap-first.pb.gz";
/// pprof's profile of the last raw dump.
pub const HEAP_LAST_PPROF: &str = "heap-last.pb.gz";
/// pprof's profile of the growth from the first dump to the last, per
/// stack (negative where a stack shrank).
pub const HEAP_GROWTH_PPROF: &str = "heap-growth.pb.gz";

/// How late a snapshot came: milliseconds under a second (a request
/// answered during the teardown is tens of them late), else
/// [`crate::units::fmt_secs`].
fn late(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else {
        crate::units::fmt_secs(s)
    }
}

fn tracemalloc() -> String {
    Tracer::Tracemalloc.name().into()
}

/// The Python side, carried in the binary so an installed memsoak needs no
/// file beside it.
const SITECUSTOMIZE: &str = include_str!("../../python/sitecustomize.py");

/// One snapshot file, as the Python side writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// [`SNAPSHOT_FORMAT`].
    pub format: String,
    /// [`SNAPSHOT_VERSION`].
    pub version: u32,
    /// What took it: `tracemalloc` (the default, which the Python side
    /// does not write) or `jemalloc`.
    #[serde(default = "tracemalloc")]
    pub source: String,
    /// The request it answered.
    pub seq: u32,
    /// The process.
    pub pid: u32,
    /// When it was taken, Unix seconds.
    pub t_unix: f64,
    /// When this process started tracing, Unix seconds.
    #[serde(default)]
    pub tracing_since_unix: Option<f64>,
    /// All bytes traced live.
    pub traced_bytes: u64,
    /// Sites under this many bytes are summed into `other_bytes`.
    #[serde(default)]
    pub min_site_bytes: u64,
    /// Bytes of the sites not listed.
    #[serde(default)]
    pub other_bytes: u64,
    /// Blocks of the sites not listed.
    #[serde(default)]
    pub other_count: u64,
    /// The sites listed.
    pub sites: Vec<SiteEntry>,
    /// How long memsoak took to take it, dump to file, milliseconds
    /// (jemalloc's: it runs in memsoak's own process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_ms: Option<f64>,
}

/// One site of a snapshot file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteEntry {
    /// `file:line`, most recent first.
    pub frames: Vec<String>,
    /// The source line of the first frame (tracemalloc), or its function
    /// (jemalloc).
    #[serde(default)]
    pub code: String,
    /// Live bytes (jemalloc's: unsampled, an estimate).
    pub bytes: u64,
    /// Live blocks.
    pub count: u64,
}

impl SnapshotFile {
    /// The file's name: `snap-0003-p4242.json` (tracemalloc),
    /// `jeprof-0003-p4242.json` (jemalloc).
    pub fn name(&self) -> String {
        format!("{}.json", self.stem())
    }

    /// The name without its extension, shared with a raw dump's.
    fn stem(&self) -> String {
        let prefix = match self.tracer() {
            Some(Tracer::Jemalloc) => JEMALLOC_PREFIX,
            _ => TRACEMALLOC_PREFIX,
        };
        format!("{prefix}{:04}-p{}", self.seq, self.pid)
    }

    /// What took it, when it is a tracer memsoak knows.
    pub fn tracer(&self) -> Option<Tracer> {
        Tracer::from_name(&self.source)
    }

    /// Read a snapshot text; the error says what is wrong in one line.
    pub fn from_json(text: &str) -> Result<SnapshotFile, String> {
        let s: SnapshotFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if s.format != SNAPSHOT_FORMAT || s.version != SNAPSHOT_VERSION {
            return Err(format!(
                "not a {SNAPSHOT_FORMAT} snapshot of version {SNAPSHOT_VERSION}"
            ));
        }
        Ok(s)
    }

    /// The snapshot as the analysis takes it.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            pid: self.pid,
            seq: self.seq,
            t_s: self.t_unix,
            traced_bytes: self.traced_bytes as f64,
            sites: self
                .sites
                .iter()
                .map(|s| SiteBytes {
                    frames: s.frames.clone(),
                    code: s.code.clone(),
                    bytes: s.bytes as f64,
                    count: s.count,
                })
                .collect(),
        }
    }
}

/// The snapshots of a run folder and the notes on what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshots {
    /// What took them: named by the files, else by the folder (a Python
    /// side written there is tracemalloc's).
    pub tracer: Tracer,
    /// Every snapshot read, in file name order.
    pub snapshots: Vec<Snapshot>,
    /// One line per file left out (torn by a kill, not a snapshot).
    pub notes: Vec<String>,
}

impl RunFolder {
    /// The `attribution/` folder.
    pub fn attribution_dir(&self) -> PathBuf {
        self.file(ATTRIBUTION_DIR)
    }

    /// Make the folder ready for a Python target: write the Python side and
    /// return the environment the target needs (its `PYTHONPATH`, with
    /// `existing_pythonpath` after memsoak's folder, and [`DIR_VAR`]).
    pub fn prepare_attribution(
        &self,
        existing_pythonpath: Option<OsString>,
    ) -> Result<Vec<(String, OsString)>, FolderError> {
        let dir = self.attribution_dir();
        let py = dir.join(PYTHON_DIR);
        let write_err = |path: PathBuf| move |source| FolderError::Write { path, source };
        std::fs::create_dir_all(&py).map_err(write_err(py.clone()))?;
        let file = py.join("sitecustomize.py");
        std::fs::write(&file, SITECUSTOMIZE).map_err(write_err(file.clone()))?;
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut pythonpath = abs(&py).into_os_string();
        if let Some(old) = existing_pythonpath.filter(|p| !p.is_empty()) {
            pythonpath.push(":");
            pythonpath.push(old);
        }
        Ok(vec![
            ("PYTHONPATH".into(), pythonpath),
            (DIR_VAR.into(), abs(&dir).into_os_string()),
        ])
    }

    /// Make the folder ready for memsoak's own jemalloc snapshots (an
    /// in-process backend).
    pub fn prepare_heap_profiles(&self) -> Result<(), FolderError> {
        let dir = self.attribution_dir();
        std::fs::create_dir_all(&dir).map_err(|source| FolderError::Write { path: dir, source })
    }

    /// Where jemalloc dumps the raw profile of the snapshot `like` names
    /// (a hidden temporary name: [`RunFolder::write_snapshot`] renames it).
    pub fn heap_dump_tmp(&self, like: &SnapshotFile) -> PathBuf {
        self.attribution_dir()
            .join(format!(".{}.{HEAP_DUMP_EXT}.tmp", like.stem()))
    }

    /// Where jemalloc dumps the profile that primes the symbol cache during
    /// warm-up (hidden and temporary: read, then removed).
    pub fn heap_prime_tmp(&self) -> PathBuf {
        self.attribution_dir()
            .join(format!(".prime.{HEAP_DUMP_EXT}.tmp"))
    }

    /// Write a snapshot memsoak took itself, to a temporary name then
    /// renamed (a kill never leaves half a file under its name); with
    /// `raw`, the dump it was read from ([`RunFolder::heap_dump_tmp`]) is
    /// renamed beside it, `jeprof-NNNN-pPID.heap` (for `jeprof` or pprof).
    pub fn write_snapshot(
        &self,
        snap: &SnapshotFile,
        raw: Option<&Path>,
    ) -> Result<(), FolderError> {
        let dir = self.attribution_dir();
        let path = dir.join(snap.name());
        let text = serde_json::to_string(snap).map_err(|e| FolderError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&path, text)?;
        if let Some(raw) = raw {
            let to = dir.join(format!("{}.{HEAP_DUMP_EXT}", snap.stem()));
            std::fs::rename(raw, &to).map_err(|source| FolderError::Write { path: to, source })?;
        }
        Ok(())
    }

    /// The raw dumps kept (`jeprof-NNNN-pPID.heap`), their stems in name
    /// (request) order.
    fn heap_dump_stems(&self) -> Result<Vec<String>, FolderError> {
        let dir = self.attribution_dir();
        let rd = std::fs::read_dir(&dir).map_err(|e| FolderError::Read {
            path: dir.clone(),
            why: e.to_string(),
        })?;
        let ext = format!(".{HEAP_DUMP_EXT}");
        let mut stems: Vec<String> = rd
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with(JEMALLOC_PREFIX)
                    .then(|| n.strip_suffix(&ext).map(str::to_string))
                    .flatten()
            })
            .collect();
        stems.sort();
        Ok(stems)
    }

    /// Write pprof's profiles of the raw jemalloc dumps into
    /// `attribution/`: the first and the last dump of the process that took
    /// the last ([`HEAP_FIRST_PPROF`], [`HEAP_LAST_PPROF`]) and the growth
    /// between them ([`HEAP_GROWTH_PPROF`]), each stack's addresses
    /// symbolized by `symbols` where this process maps the same files
    /// ([`Relocation`]). Stacks through the profiler itself are left out,
    /// as from the snapshots. With `if_missing`, a folder that already has
    /// the growth profile is left alone (the run wrote it, symbolized by
    /// the binary that ran). Returns the files written: none without two
    /// dumps. Cost: O(dump size) plus one symbolization per address.
    pub fn write_heap_pprofs(
        &self,
        symbols: &mut Symbolizer,
        if_missing: bool,
    ) -> Result<Vec<PathBuf>, FolderError> {
        let dir = self.attribution_dir();
        if !dir.is_dir() || (if_missing && dir.join(HEAP_GROWTH_PPROF).is_file()) {
            return Ok(Vec::new());
        }
        let stems = self.heap_dump_stems()?;
        let Some(last) = stems.last() else {
            return Ok(Vec::new());
        };
        let pid_part = last.rsplit('-').next().unwrap_or_default();
        let Some(first) = stems.iter().find(|s| s.ends_with(&format!("-{pid_part}"))) else {
            return Ok(Vec::new());
        };
        if first == last {
            return Ok(Vec::new());
        }
        let read = |stem: &str| -> Result<(HeapProfile, Option<f64>), FolderError> {
            let path = dir.join(format!("{stem}.{HEAP_DUMP_EXT}"));
            let text = std::fs::read_to_string(&path).map_err(|e| FolderError::Read {
                path: path.clone(),
                why: e.to_string(),
            })?;
            let p = heap_profile::parse(&text).map_err(|e| FolderError::Read {
                path,
                why: e.to_string(),
            })?;
            let t = std::fs::read_to_string(dir.join(format!("{stem}.json")))
                .ok()
                .and_then(|t| SnapshotFile::from_json(&t).ok())
                .map(|s| s.t_unix);
            Ok((p, t))
        };
        let (first_p, t0) = read(first)?;
        let (last_p, t1) = read(last)?;
        // Every address symbolized once, in this process's terms.
        let reloc = Relocation::to_here(&last_p.libraries);
        let mut frames: std::collections::HashMap<u64, Vec<Frame>> = Default::default();
        for a in first_p
            .stacks
            .iter()
            .chain(&last_p.stacks)
            .flat_map(|s| &s.addrs)
        {
            frames.entry(*a).or_insert_with(|| {
                reloc
                    .map(*a)
                    .map_or_else(Vec::new, |b| symbols.frames(b).to_vec())
            });
        }
        let root = heap_profile::own_root();
        let profilers = |p: &HeapProfile| -> HeapProfile {
            let mut p = p.clone();
            p.stacks.retain(|s| {
                let all: Vec<Frame> = s.addrs.iter().flat_map(|a| frames[a].clone()).collect();
                heap_profile::fold(&all, root) != Folded::Profiler
            });
            p
        };
        let (first_p, last_p) = (profilers(&first_p), profilers(&last_p));
        let mut symbolize = |a: u64| frames.get(&a).cloned().unwrap_or_default();
        let meta = |t: Option<f64>, what: String| HeapMeta {
            period: last_p.period,
            t_unix: t,
            duration_s: None,
            comments: vec![what],
        };
        let growth_meta = HeapMeta {
            duration_s: t0.zip(t1).map(|(a, b)| b - a),
            ..meta(
                t1,
                format!(
                    "memsoak: live heap growth from {first} to {last} (jemalloc, unsampled; negative where it shrank)"
                ),
            )
        };
        let files: [(&str, Vec<StackValues>, HeapMeta); 3] = [
            (
                HEAP_FIRST_PPROF,
                pprof::stacks_of(&first_p),
                meta(
                    t0,
                    format!("memsoak: live heap at {first} (jemalloc, unsampled)"),
                ),
            ),
            (
                HEAP_LAST_PPROF,
                pprof::stacks_of(&last_p),
                meta(
                    t1,
                    format!("memsoak: live heap at {last} (jemalloc, unsampled)"),
                ),
            ),
            (
                HEAP_GROWTH_PPROF,
                pprof::growth(&first_p, &last_p),
                growth_meta,
            ),
        ];
        let mut written = Vec::new();
        for (name, stacks, meta) in files {
            let libraries = &last_p.libraries;
            let bytes = pprof::encode_gz(&pprof::heap(&stacks, libraries, &mut symbolize, &meta));
            let path = dir.join(name);
            write_atomic(&path, bytes)?;
            written.push(path);
        }
        Ok(written)
    }

    /// Ask the target for request `n` (the first starts its tracing, each
    /// later one a snapshot). NOTE: written then renamed, so the target
    /// never reads a half-written number.
    pub fn request_snapshot(&self, n: u32) -> Result<(), FolderError> {
        write_atomic(&self.attribution_dir().join(REQUEST_FILE), format!("{n}\n"))
    }

    /// Mark that the soak's sampling ended at `t_unix`: a snapshot the
    /// target takes after it (a request answered late, while the workload
    /// was torn down) is left out when the folder is read.
    pub fn end_attribution(&self, t_unix: f64) -> Result<(), FolderError> {
        write_atomic(
            &self.attribution_dir().join(ENDED_FILE),
            format!("{t_unix:.6}\n"),
        )
    }

    /// Its snapshots; `None` when the run was not attributed. A file that
    /// does not read (a snapshot torn by a kill, a stray file) is left out
    /// with a note, never an error: the others still say where memory grew.
    /// So is a snapshot taken after sampling ended
    /// ([`RunFolder::end_attribution`]): the samples never saw that heap
    /// (kept outputs freed as the workload stopped, say), and fitting it
    /// would bend every site's drift.
    pub fn read_attribution(&self) -> Result<Option<Snapshots>, FolderError> {
        let dir = self.attribution_dir();
        if !dir.is_dir() {
            return Ok(None);
        }
        let rd = std::fs::read_dir(&dir).map_err(|e| FolderError::Read {
            path: dir.clone(),
            why: e.to_string(),
        })?;
        let mut names: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                (n.starts_with(TRACEMALLOC_PREFIX) || n.starts_with(JEMALLOC_PREFIX))
                    && n.ends_with(".json")
            })
            .collect();
        names.sort();
        let mut out = Snapshots {
            tracer: if dir.join(PYTHON_DIR).is_dir() {
                Tracer::Tracemalloc
            } else {
                Tracer::Jemalloc
            },
            snapshots: Vec::new(),
            notes: Vec::new(),
        };
        // When sampling ended; without a mark (an old folder, a killed run)
        // no snapshot is later than it.
        let ended = match std::fs::read_to_string(dir.join(ENDED_FILE)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(f64::INFINITY),
            Err(e) => Err(e.to_string()),
            Ok(t) => match t.trim().parse::<f64>() {
                Ok(t) if t.is_finite() => Ok(t),
                _ => Err(format!("it does not hold a time ({:?})", t.trim())),
            },
        }
        .unwrap_or_else(|why| {
            out.notes.push(format!(
                "{ATTRIBUTION_DIR}/{ENDED_FILE}: {why}: snapshots taken after sampling ended are kept"
            ));
            f64::INFINITY
        });
        let mut seen = None;
        for n in names {
            let read = std::fs::read_to_string(dir.join(&n))
                .map_err(|e| e.to_string())
                .and_then(|t| SnapshotFile::from_json(&t))
                .and_then(|s| match s.tracer() {
                    Some(t) if seen.is_none_or(|o| o == t) => Ok((t, s)),
                    Some(t) => Err(format!(
                        "taken by {}, the others by {}",
                        t.name(),
                        seen.map_or("", Tracer::name)
                    )),
                    None => Err(format!("taken by an unknown tracer `{}`", s.source)),
                });
            match read {
                Ok((_, s)) if s.t_unix > ended => out.notes.push(format!(
                    "{ATTRIBUTION_DIR}/{n} left out: taken {} after sampling ended, of a heap the samples never saw",
                    late(s.t_unix - ended)
                )),
                Ok((t, s)) => {
                    seen = Some(t);
                    out.tracer = t;
                    out.snapshots.push(s.snapshot());
                }
                Err(e) => out.notes.push(format!(
                    "{ATTRIBUTION_DIR}/{n} left out (torn or not a snapshot): {e}"
                )),
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(seq: u32) -> SnapshotFile {
        SnapshotFile {
            format: SNAPSHOT_FORMAT.into(),
            version: SNAPSHOT_VERSION,
            source: "tracemalloc".into(),
            seq,
            pid: 42,
            t_unix: 1.7e9 + f64::from(seq),
            tracing_since_unix: Some(1.7e9),
            traced_bytes: 5000,
            min_site_bytes: 1024,
            other_bytes: 900,
            other_count: 3,
            sites: vec![SiteEntry {
                frames: vec!["/app/leak.py:21".into(), "/app/leak.py:30".into()],
                code: "kept.append(x)".into(),
                bytes: 4100,
                count: 2,
            }],
            snapshot_ms: None,
        }
    }

    #[test]
    fn snapshots_round_trip_and_a_torn_one_is_a_note() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = RunFolder::at(tmp.path());
        assert_eq!(folder.read_attribution().unwrap(), None);
        let env = folder.prepare_attribution(Some("/opt/lib".into())).unwrap();
        let pythonpath = env[0].1.to_string_lossy().into_owned();
        assert!(
            pythonpath.ends_with("attribution/python:/opt/lib"),
            "{pythonpath}"
        );
        assert!(
            folder
                .attribution_dir()
                .join("python/sitecustomize.py")
                .is_file()
        );
        folder.request_snapshot(3).unwrap();
        let req = std::fs::read_to_string(folder.attribution_dir().join(REQUEST_FILE)).unwrap();
        assert_eq!(req, "3\n");
        for seq in [2, 3] {
            let f = file(seq);
            let text = serde_json::to_string(&f).unwrap();
            assert_eq!(SnapshotFile::from_json(&text).unwrap(), f);
            std::fs::write(folder.attribution_dir().join(f.name()), text).unwrap();
        }
        let torn = serde_json::to_string(&file(4)).unwrap();
        std::fs::write(
            folder.attribution_dir().join(file(4).name()),
            &torn[..torn.len() / 2],
        )
        .unwrap();
        let s = folder.read_attribution().unwrap().unwrap();
        assert_eq!(s.tracer, Tracer::Tracemalloc);
        assert_eq!(s.snapshots.len(), 2);
        assert_eq!(s.snapshots[1].seq, 3);
        assert_eq!(s.snapshots[0].sites[0].bytes, 4100.0);
        assert_eq!(s.notes.len(), 1);
        assert!(
            s.notes[0].contains("snap-0004-p42.json left out"),
            "{:?}",
            s.notes
        );
    }

    #[test]
    fn a_snapshot_taken_after_sampling_ended_is_left_out_with_a_note() {
        // A snapshot answered after the workload stopped (kept outputs
        // freed) was fitted with the others and named no site (CI, stop 42).
        let tmp = tempfile::tempdir().unwrap();
        let folder = RunFolder::at(tmp.path());
        folder.prepare_attribution(None).unwrap();
        for seq in [2, 3, 4] {
            let f = file(seq);
            std::fs::write(
                folder.attribution_dir().join(f.name()),
                serde_json::to_string(&f).unwrap(),
            )
            .unwrap();
        }
        // Snapshot 4 is taken at 1.7e9 + 4, 0.5 s after the end.
        folder.end_attribution(1.7e9 + 3.5).unwrap();
        let s = folder.read_attribution().unwrap().unwrap();
        let seqs: Vec<u32> = s.snapshots.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, [2, 3]);
        assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
        assert!(
            s.notes[0].contains("snap-0004-p42.json left out: taken 500 ms after sampling ended"),
            "{:?}",
            s.notes
        );
        // A mark that does not read keeps every snapshot, and says so.
        std::fs::write(folder.attribution_dir().join(ENDED_FILE), "soon\n").unwrap();
        let s = folder.read_attribution().unwrap().unwrap();
        assert_eq!(s.snapshots.len(), 3);
        assert!(
            s.notes[0].contains("sampling-ended: it does not hold a time (\"soon\")"),
            "{:?}",
            s.notes
        );
    }

    #[test]
    fn a_python_sides_file_without_a_source_is_tracemallocs() {
        let mut v = serde_json::to_value(file(2)).unwrap();
        v.as_object_mut().unwrap().remove("source");
        let f = SnapshotFile::from_json(&v.to_string()).unwrap();
        assert_eq!(f.tracer(), Some(Tracer::Tracemalloc));
        assert_eq!(f.name(), "snap-0002-p42.json");
    }

    #[test]
    fn jemalloc_snapshots_are_written_with_their_dump_and_read_back_as_jemallocs() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = RunFolder::at(tmp.path());
        folder.prepare_heap_profiles().unwrap();
        assert_eq!(
            folder.read_attribution().unwrap().unwrap().tracer,
            Tracer::Jemalloc
        );
        for seq in [2, 3] {
            let f = SnapshotFile {
                source: "jemalloc".into(),
                ..file(seq)
            };
            assert_eq!(f.name(), format!("jeprof-000{seq}-p42.json"));
            let raw = folder.heap_dump_tmp(&f);
            std::fs::write(&raw, "heap_v2/524288\n").unwrap();
            folder.write_snapshot(&f, Some(&raw)).unwrap();
            assert!(!raw.exists());
        }
        let dir = folder.attribution_dir();
        assert!(dir.join("jeprof-0003-p42.heap").is_file());
        let s = folder.read_attribution().unwrap().unwrap();
        assert_eq!(s.tracer, Tracer::Jemalloc);
        assert_eq!(s.snapshots.len(), 2);
        assert!(s.notes.is_empty(), "{:?}", s.notes);
        // A tracemalloc snapshot among them is left out with a note.
        std::fs::write(
            dir.join(file(4).name()),
            serde_json::to_string(&file(4)).unwrap(),
        )
        .unwrap();
        let s = folder.read_attribution().unwrap().unwrap();
        assert_eq!((s.tracer, s.snapshots.len()), (Tracer::Jemalloc, 2));
        assert!(
            s.notes[0].contains("snap-0004-p42.json left out"),
            "{:?}",
            s.notes
        );
    }

    #[test]
    fn another_format_is_refused() {
        let mut f = file(2);
        f.version = 9;
        let e = SnapshotFile::from_json(&serde_json::to_string(&f).unwrap()).unwrap_err();
        assert!(e.contains("version 1"), "{e}");
    }
}
