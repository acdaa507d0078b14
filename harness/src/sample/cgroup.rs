//! A memory cgroup: what the kernel charges a container or a systemd unit
//! and OOM-kills it by (`cgroup`, `cgroup_anon`, `cgroup_file`,
//! `cgroup_working_set`), its limit and its OOM-kill count. cgroup v2
//! (`memory.current`, `memory.stat`, `memory.max`, `memory.events`) and v1
//! (`memory.usage_in_bytes`, `memory.stat`'s `total_*`, `memory.limit_in_bytes`,
//! `memory.oom_control`). Read only: nothing here ever writes a cgroup file.
//!
//! A process's memory cgroup is found from `/proc/<pid>/cgroup` and the
//! mounts in `/proc/self/mountinfo` ([`locate`]); the parsing is pure, so
//! fixture trees test both versions.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Metric, Sampler};

/// The cgroup interface a folder speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Version {
    /// The unified hierarchy (`memory.current`).
    V2,
    /// The v1 memory controller (`memory.usage_in_bytes`).
    V1,
}

/// A memory cgroup's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupDir {
    /// The folder (`/sys/fs/cgroup/system.slice/x.service`).
    pub path: PathBuf,
    /// Its interface.
    pub version: Version,
}

/// Limits at or above this are "no limit" (v1 writes 2^63 rounded down
/// to a page; v2 writes `max`).
const UNLIMITED: u64 = 1 << 60;

impl CgroupDir {
    /// The memory cgroup at `path`, by the files it holds; `None` when it is
    /// not one (no `memory.current` nor `memory.usage_in_bytes`).
    pub fn open(path: &Path) -> Option<CgroupDir> {
        let version = if path.join("memory.current").is_file() {
            Version::V2
        } else if path.join("memory.usage_in_bytes").is_file() {
            Version::V1
        } else {
            return None;
        };
        Some(CgroupDir {
            path: path.to_path_buf(),
            version,
        })
    }

    fn read(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.path.join(name)).ok()
    }

    /// One reading of every file, `None` where a file is missing or
    /// unreadable (the cgroup removed: the container is gone). Cost: four
    /// small reads of kernel-generated text, a few µs.
    pub fn reading(&self) -> Reading {
        match self.version {
            Version::V2 => {
                let stat = self.read("memory.stat").unwrap_or_default();
                parse_v2(
                    self.read("memory.current").as_deref(),
                    &stat,
                    self.read("memory.max").as_deref(),
                    self.read("memory.events").as_deref(),
                )
            }
            Version::V1 => {
                let stat = self.read("memory.stat").unwrap_or_default();
                parse_v1(
                    self.read("memory.usage_in_bytes").as_deref(),
                    &stat,
                    self.read("memory.limit_in_bytes").as_deref(),
                    self.read("memory.oom_control").as_deref(),
                )
            }
        }
    }
}

/// What one read of a memory cgroup gives, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    /// Everything charged (`memory.current` / `memory.usage_in_bytes`).
    pub usage: Option<u64>,
    /// Anonymous memory (v2 `anon`, v1 `total_rss`).
    pub anon: Option<u64>,
    /// Page cache, tmpfs and shared memory (v2 `file`, v1 `total_cache`).
    pub file: Option<u64>,
    /// Usage less inactive page cache: what Kubernetes evicts on.
    pub working_set: Option<u64>,
    /// The limit; `None` when there is none.
    pub limit: Option<u64>,
    /// Processes the cgroup's OOM killer has killed, ever.
    pub oom_kills: Option<u64>,
}

fn number(text: Option<&str>) -> Option<u64> {
    text?.trim().parse().ok()
}

/// The value of `key N` in a flat-keyed file (`memory.stat`, `memory.events`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn limit(v: Option<u64>) -> Option<u64> {
    v.filter(|&l| l < UNLIMITED)
}

/// Parse cgroup v2 files (each `None` when missing).
pub fn parse_v2(
    current: Option<&str>,
    stat: &str,
    max: Option<&str>,
    events: Option<&str>,
) -> Reading {
    let usage = number(current);
    let inactive = keyed(stat, "inactive_file");
    Reading {
        usage,
        anon: keyed(stat, "anon"),
        file: keyed(stat, "file"),
        working_set: usage.map(|u| u.saturating_sub(inactive.unwrap_or(0))),
        limit: limit(number(max)),
        oom_kills: events.and_then(|e| keyed(e, "oom_kill")),
    }
}

/// Parse cgroup v1 files. The hierarchical `total_*` counters of
/// `memory.stat` are preferred (they include child cgroups, as the usage
/// does); the limit is the lower of this cgroup's and its ancestors'.
pub fn parse_v1(
    usage: Option<&str>,
    stat: &str,
    limit_in_bytes: Option<&str>,
    oom_control: Option<&str>,
) -> Reading {
    let stat_of = |k: &str| keyed(stat, &format!("total_{k}")).or_else(|| keyed(stat, k));
    let usage = number(usage);
    let inactive = stat_of("inactive_file");
    let own = number(limit_in_bytes);
    let hierarchical = keyed(stat, "hierarchical_memory_limit");
    Reading {
        usage,
        anon: stat_of("rss"),
        file: stat_of("cache"),
        working_set: usage.map(|u| u.saturating_sub(inactive.unwrap_or(0))),
        limit: limit(match (own, hierarchical) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }),
        oom_kills: oom_control.and_then(|t| keyed(t, "oom_kill")),
    }
}

/// A cgroup hierarchy that may hold the memory controller, as
/// `/proc/self/mountinfo` mounts it.
struct Mount<'a> {
    /// The folder of the hierarchy shown at the mount point (`/`, or
    /// `/docker/<id>` where only a sub-tree is mounted).
    root: &'a str,
    /// Where it is mounted.
    point: &'a str,
    /// v2 (`cgroup2`: every controller), or v1 with `memory` among its
    /// options.
    version: Version,
}

/// The mounts in `mountinfo` text of v2 and of v1's memory controller, in
/// order. Pure; one parse for [`locate`] and [`is_mount_point`].
fn memory_mounts(mountinfo: &str) -> impl Iterator<Item = Mount<'_>> {
    mountinfo.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut l = left.split(' ').skip(3);
        let (root, point) = (l.next()?, l.next()?);
        let mut r = right.split(' ');
        let version = match r.next()? {
            "cgroup2" => Version::V2,
            "cgroup" if r.nth(1)?.split(',').any(|x| x == "memory") => Version::V1,
            _ => return None,
        };
        Some(Mount {
            root,
            point,
            version,
        })
    })
}

/// The memory cgroup of a process, from its `/proc/<pid>/cgroup` text and
/// this machine's `/proc/self/mountinfo`, with `exists` telling which
/// candidate folders are memory cgroups (the real file system, or a
/// fixture). The unified hierarchy wins when its folder has the memory
/// controller (`memory.current`); else the v1 memory controller's folder.
/// `None` when the process has no memory cgroup of its own: the v1
/// hierarchy's root is the whole machine, and the v2 root has no
/// `memory.current` (inside a container's cgroup namespace, `/` is the
/// container's own cgroup and has one).
pub fn locate(
    proc_cgroup: &str,
    mountinfo: &str,
    open: impl Fn(&Path) -> Option<CgroupDir>,
) -> Option<CgroupDir> {
    let mut v2_path = None;
    let mut v1_path = None;
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if id == "0" && ctrls.is_empty() {
            v2_path = Some(path);
        } else if ctrls.split(',').any(|c| c == "memory") {
            v1_path = Some(path);
        }
    }
    let mut v2_mount = None;
    let mut v1_mount = None;
    for m in memory_mounts(mountinfo) {
        match m.version {
            Version::V2 => v2_mount = Some((m.root, m.point)),
            Version::V1 => v1_mount = Some((m.root, m.point)),
        }
    }
    let join = |(root, point): (&str, &str), path: &str| {
        // NOTE: a mount of a sub-tree (root ≠ /) shows paths below it.
        let rel = path
            .strip_prefix(root)
            .filter(|_| root != "/")
            .unwrap_or(path);
        PathBuf::from(point).join(rel.trim_start_matches('/'))
    };
    if let (Some(m), Some(p)) = (v2_mount, v2_path)
        && let Some(d) = open(&join(m, p))
        && d.version == Version::V2
    {
        return Some(d);
    }
    let (m, p) = (v1_mount?, v1_path?);
    if p == "/" {
        return None;
    }
    open(&join(m, p)).filter(|d| d.version == Version::V1)
}

/// The memory cgroup of process `pid` on this machine; `None` when it has
/// none of its own (see [`locate`]) or `/proc` cannot be read.
pub fn of_pid(pid: u32) -> Option<CgroupDir> {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    locate(&cg, &mi, CgroupDir::open)
}

/// A cgroup named on the command line (`--cgroup PATH`): a folder, or a
/// path below the v2 mount or the v1 memory mount
/// (`system.slice/x.service`, `/kubepods/pod…/…`). Its path is the
/// folder's canonical one, as `report.json` stores it.
pub fn resolve(path: &Path) -> Option<CgroupDir> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let mut d = CgroupDir::open(path).or_else(|| {
        [
            "/sys/fs/cgroup",
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup/memory",
        ]
        .iter()
        .find_map(|m| CgroupDir::open(&Path::new(m).join(rel)))
    })?;
    // NOTE: stored as typed, `--cgroup .` said "." in report.json, which
    // names no cgroup once the run is over.
    if let Ok(canonical) = std::fs::canonicalize(&d.path) {
        d.path = canonical;
    }
    Some(d)
}

/// Whether `dir` is where the v1 memory hierarchy's root is mounted
/// (`/sys/fs/cgroup/memory`), by this machine's `mountinfo` text: a mount
/// of the v1 memory controller at `dir` whose root field is `/`. Outside a
/// container that root charges every process on the machine. A container
/// without a cgroup namespace sees its own cgroup mounted there
/// (`/docker/<id>` in the root field): not this. v2 is left out: its real
/// root has no `memory.current` and is no memory cgroup to sample, so a v2
/// mount that has one is a container's own namespaced root. Pure; `dir`
/// is compared as given and canonicalised by the caller.
pub fn is_mount_point(dir: &Path, mountinfo: &str) -> bool {
    memory_mounts(mountinfo)
        .any(|m| m.version == Version::V1 && m.root == "/" && Path::new(m.point) == dir)
}

/// A note for a run that samples `dir` (`watch --cgroup`) when it is the
/// root of the v1 memory hierarchy as mounted here ([`is_mount_point`], read
/// from `/proc/self/mountinfo`): what it charges is more than one
/// container's unless memsoak runs in that container's namespace.
/// `None` for any other folder, or where the mounts cannot be read.
/// `dir` is as [`resolve`] gives it: its path already canonical.
pub fn root_note(dir: &CgroupDir) -> Option<String> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    (dir.version == Version::V1 && is_mount_point(&dir.path, &mi)).then(|| {
        format!(
            "cgroup metrics: --cgroup {} is the root of the v1 memory hierarchy mounted here: \
             it charges every process on the machine (unless memsoak runs in a container's \
             own cgroup namespace), not one container or unit",
            dir.path.display(),
        )
    })
}

/// Samples a memory cgroup's `cgroup`, `cgroup_anon`, `cgroup_file` and
/// `cgroup_working_set`: its usage file and `memory.stat`, through handles
/// opened once and re-read from offset 0 (the limit and the OOM count are
/// read at the run's start and end, by [`CgroupWatch`]).
pub struct CgroupSampler {
    version: Version,
    usage: Option<File>,
    stat: Option<File>,
    usage_text: String,
    stat_text: String,
}

impl CgroupSampler {
    /// A sampler of `dir`.
    pub fn new(dir: CgroupDir) -> Self {
        let usage = match dir.version {
            Version::V2 => "memory.current",
            Version::V1 => "memory.usage_in_bytes",
        };
        CgroupSampler {
            version: dir.version,
            usage: File::open(dir.path.join(usage)).ok(),
            stat: File::open(dir.path.join("memory.stat")).ok(),
            usage_text: String::with_capacity(32),
            stat_text: String::with_capacity(4096),
        }
    }
}

/// Read `file` again from its start into `buf`; false when that failed
/// (the cgroup was removed: the container is gone).
fn reread(file: &mut Option<File>, buf: &mut String) -> bool {
    buf.clear();
    file.as_mut()
        .is_some_and(|f| f.seek(SeekFrom::Start(0)).is_ok() && f.read_to_string(buf).is_ok())
}

impl Sampler for CgroupSampler {
    fn metrics(&self) -> &[Metric] {
        &[
            Metric::Cgroup,
            Metric::CgroupAnon,
            Metric::CgroupFile,
            Metric::CgroupWorkingSet,
        ]
    }

    fn sample(&mut self, out: &mut [Option<u64>]) {
        let usage =
            reread(&mut self.usage, &mut self.usage_text).then_some(self.usage_text.as_str());
        if !reread(&mut self.stat, &mut self.stat_text) {
            self.stat_text.clear();
        }
        let r = match self.version {
            Version::V2 => parse_v2(usage, &self.stat_text, None, None),
            Version::V1 => parse_v1(usage, &self.stat_text, None, None),
        };
        out[0] = r.usage;
        out[1] = r.anon;
        out[2] = r.file;
        out[3] = r.working_set;
    }
}

/// What `report.json` says of the cgroup a run sampled (`cgroup`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CgroupReport {
    /// The folder.
    pub path: String,
    /// v1 or v2.
    pub version: Version,
    /// Its memory limit at the end of the run, bytes; `None` when unlimited.
    pub limit: Option<u64>,
    /// Processes its OOM killer killed during the run; `None` when the
    /// kernel does not count them (v1 before Linux 4.13).
    pub oom_kills: Option<u64>,
}

/// A cgroup followed through a run: its OOM-kill count at the start, so
/// that the end can say how many happened during the run.
#[derive(Debug, Clone)]
pub struct CgroupWatch {
    dir: CgroupDir,
    oom_at_start: Option<u64>,
}

impl CgroupWatch {
    /// Start following `dir`.
    pub fn start(dir: CgroupDir) -> Self {
        let oom_at_start = dir.reading().oom_kills;
        CgroupWatch { dir, oom_at_start }
    }

    /// The folder followed.
    pub fn dir(&self) -> &CgroupDir {
        &self.dir
    }

    /// Its limit and the OOM kills since [`CgroupWatch::start`].
    pub fn finish(&self) -> CgroupReport {
        let r = self.dir.reading();
        CgroupReport {
            path: self.dir.path.display().to_string(),
            version: self.dir.version,
            limit: r.limit,
            oom_kills: r
                .oom_kills
                .map(|n| n.saturating_sub(self.oom_at_start.unwrap_or(0))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_cgroup_named_by_a_relative_path_is_resolved_to_its_canonical_folder() {
        // Regression: `watch --cgroup .` stored "." in report.json.
        let d = tempfile::tempdir().unwrap();
        let cg = d.path().join("cg");
        fixture(&cg, Version::V2, 8 * MIB, 0, "max", 0);
        std::fs::create_dir_all(d.path().join("other")).unwrap();
        let typed = d.path().join("other/../cg/.");
        let r = resolve(&typed).unwrap();
        assert_eq!(r.path, std::fs::canonicalize(&cg).unwrap());
        assert_eq!(r.version, Version::V2);
    }

    /// A fixture cgroup folder of `version` with these readings.
    fn fixture(dir: &Path, version: Version, usage: u64, inactive: u64, limit: &str, oom: u64) {
        std::fs::create_dir_all(dir).unwrap();
        let w = |n: &str, t: String| std::fs::write(dir.join(n), t).unwrap();
        match version {
            Version::V2 => {
                w("memory.current", format!("{usage}\n"));
                w(
                    "memory.stat",
                    format!(
                        "anon {}\nfile {}\nkernel 4096\ninactive_file {inactive}\nactive_file 0\n",
                        usage / 2,
                        usage / 4
                    ),
                );
                w("memory.max", format!("{limit}\n"));
                w(
                    "memory.events",
                    format!("low 0\nhigh 0\nmax 3\noom 1\noom_kill {oom}\n"),
                );
            }
            Version::V1 => {
                w("memory.usage_in_bytes", format!("{usage}\n"));
                w(
                    "memory.stat",
                    format!(
                        "cache 1\nrss 1\ninactive_file 1\nhierarchical_memory_limit 9223372036854771712\ntotal_cache {}\ntotal_rss {}\ntotal_inactive_file {inactive}\n",
                        usage / 4,
                        usage / 2
                    ),
                );
                w("memory.limit_in_bytes", format!("{limit}\n"));
                w(
                    "memory.oom_control",
                    format!("oom_kill_disable 0\nunder_oom 0\noom_kill {oom}\n"),
                );
            }
        }
    }

    #[test]
    fn reads_v2_and_v1_fixture_trees_alike() {
        let d = tempfile::tempdir().unwrap();
        for (version, limit) in [(Version::V2, "536870912"), (Version::V1, "536870912")] {
            let dir = d.path().join(format!("{version:?}"));
            fixture(&dir, version, 100 * MIB, 30 * MIB, limit, 2);
            let c = CgroupDir::open(&dir).unwrap();
            assert_eq!(c.version, version);
            let r = c.reading();
            assert_eq!(r.usage, Some(100 * MIB));
            assert_eq!(r.anon, Some(50 * MIB));
            assert_eq!(r.file, Some(25 * MIB));
            assert_eq!(r.working_set, Some(70 * MIB));
            assert_eq!(r.limit, Some(512 * MIB));
            assert_eq!(r.oom_kills, Some(2));
            let mut s = CgroupSampler::new(c);
            let mut out = [None; 4];
            s.sample(&mut out);
            assert_eq!(
                out,
                [
                    Some(100 * MIB),
                    Some(50 * MIB),
                    Some(25 * MIB),
                    Some(70 * MIB)
                ]
            );
        }
        // No limit: v2 `max`, v1 2^63 rounded to a page.
        let v2 = d.path().join("nolimit2");
        fixture(&v2, Version::V2, MIB, 0, "max", 0);
        assert_eq!(CgroupDir::open(&v2).unwrap().reading().limit, None);
        let v1 = d.path().join("nolimit1");
        fixture(&v1, Version::V1, MIB, 0, "9223372036854771712", 0);
        assert_eq!(CgroupDir::open(&v1).unwrap().reading().limit, None);
        assert!(CgroupDir::open(d.path()).is_none());
    }

    #[test]
    fn a_hierarchy_s_mount_point_is_its_root_and_a_folder_below_is_not() {
        let mi = "\
25 24 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
31 25 0:27 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu
32 25 0:28 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
";
        assert!(is_mount_point(Path::new("/sys/fs/cgroup/memory"), mi));
        // v2's real root is no memory cgroup; one with memory.current is a
        // container's namespaced root.
        assert!(!is_mount_point(Path::new("/sys/fs/cgroup/unified"), mi));
        // Docker on v1 without a cgroup namespace: its own cgroup there.
        let docker = "30 25 0:26 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory";
        assert!(!is_mount_point(Path::new("/sys/fs/cgroup/memory"), docker));
        assert!(!is_mount_point(
            Path::new("/sys/fs/cgroup/memory/docker/abc"),
            mi
        ));
        // A tmpfs holding the mounts, and a v1 hierarchy of another controller.
        assert!(!is_mount_point(Path::new("/sys/fs/cgroup"), mi));
        assert!(!is_mount_point(Path::new("/sys/fs/cgroup/cpu"), mi));
        assert!(!is_mount_point(Path::new("/sys/fs/cgroup/memory"), ""));
    }

    #[test]
    fn oom_kills_during_the_run_are_counted_from_its_start() {
        let d = tempfile::tempdir().unwrap();
        fixture(d.path(), Version::V2, MIB, 0, "max", 5);
        let w = CgroupWatch::start(CgroupDir::open(d.path()).unwrap());
        fixture(d.path(), Version::V2, MIB, 0, "1048576", 7);
        let r = w.finish();
        assert_eq!(r.oom_kills, Some(2));
        assert_eq!(r.limit, Some(MIB));
        assert_eq!(r.version, Version::V2);
    }

    const MOUNTS_HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn locates_the_memory_cgroup_of_a_process() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        // Hybrid (this machine): v2 mounted beside v1 without the memory
        // controller, so the v1 memory folder is the one.
        let mounts = MOUNTS_HYBRID.replace("/sys/fs/cgroup", &root.display().to_string());
        let v1 = root.join("memory/process_api/abc");
        fixture(&v1, Version::V1, MIB, 0, "max", 0);
        std::fs::create_dir_all(root.join("unified")).unwrap();
        let cg = "4:memory:/process_api/abc\n1:cpu:/\n0::/\n";
        let got = locate(cg, &mounts, CgroupDir::open).unwrap();
        assert_eq!((got.path, got.version), (v1.clone(), Version::V1));
        // The v1 root is the whole machine: no cgroup of its own.
        fixture(&root.join("memory"), Version::V1, MIB, 0, "max", 0);
        assert_eq!(locate("4:memory:/\n0::/\n", &mounts, CgroupDir::open), None);
        // Pure v2 (Kubernetes nodes): the unified folder with memory.current.
        let mounts2 = format!("40 23 0:37 / {} rw - cgroup2 cgroup2 rw\n", root.display());
        let pod = root.join("kubepods.slice/pod1/ctr");
        fixture(&pod, Version::V2, MIB, 0, "max", 0);
        let got = locate("0::/kubepods.slice/pod1/ctr\n", &mounts2, CgroupDir::open).unwrap();
        assert_eq!((got.path, got.version), (pod, Version::V2));
        // The v2 root has no memory.current: nothing of its own.
        assert_eq!(locate("0::/\n", &mounts2, CgroupDir::open), None);
    }

    #[test]
    fn reads_the_cgroup_this_test_runs_in_and_it_holds_our_rss() {
        // A real read (never a write) of this machine's hierarchy.
        let Some(c) = of_pid(std::process::id()) else {
            eprintln!("no memory cgroup of our own here: nothing to cross-check");
            return;
        };
        let keep = vec![7u8; 64 * MIB as usize];
        let rss = std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
            * 1024;
        let r = c.reading();
        let usage = r.usage.unwrap();
        // The cgroup is charged at least this process's anonymous memory
        // (the 64 MiB touched above) and counts what RSS does.
        assert!(usage >= 64 * MIB, "usage {usage} < 64 MiB ({c:?})");
        assert!(
            r.anon.unwrap() + r.file.unwrap() <= usage + 16 * MIB,
            "{r:?}"
        );
        assert!(
            usage as f64 >= rss as f64 * 0.5,
            "cgroup usage {usage} far below our RSS {rss}"
        );
        assert!(r.working_set.unwrap() <= usage);
        assert!(keep.iter().all(|&b| b == 7));
    }
}
