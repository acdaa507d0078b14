//! The target's whole process tree: `rss` (and its anonymous and
//! file-backed parts, `rss_anon` and `rss_file`), `pss` and `swap`.
//!
//! Descendants are re-discovered at every sample through
//! `/proc/<pid>/task/<tid>/children`, so a worker that forks a leaking
//! grandchild is counted. `rss`, its parts and `swap` come from `/proc/<pid>/status`
//! (kernel counters, constant cost); `pss` needs `smaps_rollup`, which walks
//! every page table (~850 µs at 80 MiB RSS), so it is read on a bounded
//! duty cycle (see [`ProcessTreeSampler`]).

use std::fs::{self, File};
use std::io::Read;
use std::sync::Mutex;

/// Pids that are memsoak's own helpers (watchdogs), never part of a target.
static EXCLUDED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Leave `pid` (and its subtree) out of every process tree from now on.
pub fn exclude_from_trees(pid: u32) {
    EXCLUDED.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
}

/// Undo [`exclude_from_trees`].
pub fn include_in_trees(pid: u32) {
    EXCLUDED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|p| *p != pid);
}

use super::{Metric, Sampler};

/// Parse the number of a `Key:   123 kB` line into bytes.
pub(crate) fn kb_value(line: &[u8]) -> Option<u64> {
    let colon = line.iter().position(|&b| b == b':')?;
    let rest = std::str::from_utf8(&line[colon + 1..]).ok()?;
    let mut it = rest.split_ascii_whitespace();
    let n: u64 = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") => Some(n * 1024),
        None => Some(n),
        Some(_) => None,
    }
}

/// Rss (and its parts), Pss and Swap of one process, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcMem {
    /// Resident set size.
    pub rss: u64,
    /// Resident anonymous and shared memory (`RssAnon` + `RssShmem`):
    /// heaps, stacks, private mappings, shared memory and tmpfs: pages the
    /// kernel can only swap out, never drop.
    pub anon: u64,
    /// Resident file-backed memory (`RssFile`): mapped files (a
    /// memory-mapped dataset, the model's weights, shared libraries), pages
    /// the kernel drops when memory runs short and reads back on use.
    pub file: u64,
    /// Whether the kernel gave the split (`RssAnon`, Linux 4.5 and later):
    /// without it `anon` and `file` are unknown, not 0.
    pub split: bool,
    /// Proportional set size.
    pub pss: u64,
    /// Swapped out.
    pub swap: u64,
}

/// Parse `VmRSS`, `RssAnon` + `RssShmem`, `RssFile` and `VmSwap` (bytes)
/// from the text of `/proc/<pid>/status` (`pss` left 0). `None` without a
/// `VmRSS` line.
///
/// NOTE: shared memory goes with the anonymous part: the kernel keeps
/// shmem pages on its anonymous lists (swap-backed, never dropped), and a
/// leak through `/dev/shm` (tensors handed between data-loader workers) is
/// as real as one on the heap.
pub fn parse_status(text: &[u8]) -> Option<ProcMem> {
    let mut m = ProcMem::default();
    let mut rss = None;
    for line in text.split(|&b| b == b'\n') {
        let value = || kb_value(line).unwrap_or(0);
        if line.starts_with(b"VmRSS:") {
            rss = kb_value(line);
        } else if line.starts_with(b"RssAnon:") || line.starts_with(b"RssShmem:") {
            m.split |= line.starts_with(b"RssAnon:");
            m.anon += value();
        } else if line.starts_with(b"RssFile:") {
            m.file = value();
        } else if line.starts_with(b"VmSwap:") {
            m.swap = value();
        }
    }
    // NOTE: kernel threads and zombies have no Vm lines: nothing to count.
    m.rss = rss?;
    Some(m)
}

/// Parse the text of `/proc/<pid>/smaps_rollup`.
pub fn parse_smaps_rollup(text: &[u8]) -> Option<ProcMem> {
    let mut m = ProcMem::default();
    let mut seen = 0;
    for line in text.split(|&b| b == b'\n') {
        let slot = if line.starts_with(b"Rss:") {
            &mut m.rss
        } else if line.starts_with(b"Pss:") {
            &mut m.pss
        } else if line.starts_with(b"Swap:") {
            &mut m.swap
        } else {
            continue;
        };
        *slot = kb_value(line)?;
        seen += 1;
    }
    (seen >= 2).then_some(m)
}

/// The pids of `root` and all its descendants, root first.
/// O(processes + threads) reads of small proc files.
///
/// Kernels built without `CONFIG_PROC_CHILDREN` have no `children` files;
/// there the tree is found from every process's parent pid instead
/// (O(all processes) reads of `/proc/<pid>/stat`), so grandchildren are
/// never silently missed.
pub fn process_tree(root: u32) -> Vec<u32> {
    static CHILDREN_FILES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let have = *CHILDREN_FILES.get_or_init(|| {
        fs::metadata("/proc/thread-self/children").is_ok()
            || fs::metadata(format!("/proc/self/task/{}/children", std::process::id())).is_ok()
    });
    if have {
        tree_from_children_files(root)
    } else {
        tree_from_parent_pids(root)
    }
}

/// [`process_tree`] through `/proc/<pid>/task/<tid>/children`.
fn tree_from_children_files(root: u32) -> Vec<u32> {
    let excluded = EXCLUDED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut out = vec![root];
    let mut i = 0;
    let mut buf = String::new();
    while i < out.len() {
        let pid = out[i];
        i += 1;
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let mut p = t.path();
            p.push("children");
            buf.clear();
            if File::open(&p)
                .and_then(|mut f| f.read_to_string(&mut buf))
                .is_err()
            {
                continue;
            }
            for c in buf.split_ascii_whitespace() {
                if let Ok(c) = c.parse::<u32>()
                    && !out.contains(&c)
                    && !excluded.contains(&c)
                {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// [`process_tree`] from the parent pid of every process in `/proc`.
fn tree_from_parent_pids(root: u32) -> Vec<u32> {
    let excluded = EXCLUDED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let Ok(dir) = fs::read_dir("/proc") else {
        return vec![root];
    };
    let mut edges: Vec<(u32, u32)> = dir
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // NOTE: fields after the comm's last ')': state ppid ...
            let ppid = stat[stat.rfind(')')? + 1..]
                .split_ascii_whitespace()
                .nth(1)?
                .parse::<u32>()
                .ok()?;
            Some((ppid, pid))
        })
        .collect();
    edges.sort_unstable();
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        i += 1;
        let from = edges.partition_point(|&(p, _)| p < parent);
        for &(_, c) in edges[from..].iter().take_while(|&&(p, _)| p == parent) {
            if !out.contains(&c) && !excluded.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // NOTE: the state field follows the last ')' (comm may contain ')').
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_ascii_whitespace().next())
            .is_some_and(|st| st != "Z" && st != "X"),
        Err(_) => false,
    }
}

/// Whether `pid` is a kernel thread (`PF_KTHREAD` in the flags of
/// `/proc/<pid>/stat`): it has no user memory, so there is nothing of its
/// own to watch. `false` when it cannot be read.
pub fn kernel_thread(pid: u32) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 1..];
            rest.split_ascii_whitespace().nth(6)?.parse::<u64>().ok()
        })
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// Short command name of a process (`/proc/<pid>/comm`).
pub fn comm(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// A process's command line for people, at most `max` characters: the
/// program's file name, then its arguments, a path reduced to its file name
/// (`python3 worker.py --retain` for `/usr/bin/python3 /srv/w/worker.py
/// --retain`).
/// Falls back to `comm` (kernel threads and zombies have no command line),
/// then to `pid N`.
pub fn short_cmdline(pid: u32, max: usize) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let text = shorten_cmdline(&raw, max);
    if !text.is_empty() {
        return text;
    }
    comm(pid)
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("pid {pid}"))
}

/// [`short_cmdline`] of the raw NUL-separated bytes of `/proc/<pid>/cmdline`.
pub fn shorten_cmdline(raw: &[u8], max: usize) -> String {
    let mut args = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(String::from_utf8_lossy);
    let Some(argv0) = args.next() else {
        return String::new();
    };
    // NOTE: paths make every worker of a tree read alike
    // (`python3 /long/path/...`) once cut; the file name tells them apart.
    let base = |a: &str| -> String {
        match a.rsplit('/').next() {
            Some(b) if !b.is_empty() && !a.starts_with('-') => b.to_string(),
            _ => a.to_string(),
        }
    };
    let mut s = base(&argv0);
    for a in args {
        s.push(' ');
        s.push_str(&base(&a));
    }
    // NOTE: control characters (a newline in an argument) would break the
    // one-row-per-line file and the tables that show the name.
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > max {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        s
    }
}

/// Share of wall time `pss` reads may take: past it, `pss` is sampled less
/// often (empty cells in between) so the sampler never becomes the load.
const PSS_DUTY: f64 = 0.01;

/// Where a [`ProcessTreeSampler`] sends each reading of the tree, one
/// `(pid, rss bytes)` per process (`processes.csv` is one; its writer lives
/// with the run folder, which sits above the samplers).
pub trait TreeLog: Send {
    /// Offer one reading of the tree.
    fn record(&mut self, procs: &mut dyn Iterator<Item = (u32, u64)>);
}

/// Samples the process tree rooted at one pid.
pub struct ProcessTreeSampler {
    root: u32,
    exclude_root: bool,
    buf: Vec<u8>,
    last: Vec<(u32, ProcMem)>,
    next_pss: Option<std::time::Instant>,
    log: Option<Box<dyn TreeLog>>,
    pss_duty: f64,
}

impl ProcessTreeSampler {
    /// Sample the tree rooted at `root`.
    pub fn new(root: u32) -> Self {
        ProcessTreeSampler {
            root,
            exclude_root: false,
            buf: Vec::with_capacity(2048),
            last: Vec::new(),
            next_pss: None,
            log: None,
            pss_duty: PSS_DUTY,
        }
    }

    /// Also write each process's RSS to `log` (`processes.csv`) as the tree
    /// is walked.
    pub fn with_log(mut self, log: impl TreeLog + 'static) -> Self {
        self.log = Some(Box::new(log));
        self
    }

    /// Sample every descendant of memsoak itself, but not memsoak: the
    /// spawned target *and* any orphan re-parented to memsoak as subreaper
    /// (a daemonising grandchild stays counted).
    pub fn descendants_of_self() -> Self {
        ProcessTreeSampler {
            exclude_root: true,
            ..Self::new(std::process::id())
        }
    }

    /// Let `pss` reads take up to this share of wall time (default 1%).
    /// `1.0` reads `smaps_rollup` at every sample, which is what a 10 Hz
    /// cadence gets anyway once a read takes less than the period / 100;
    /// the sampling benchmark uses it to time that worst case.
    pub fn with_pss_duty(mut self, duty: f64) -> Self {
        self.pss_duty = duty.clamp(1e-6, 1.0);
        self
    }

    /// Per-process readings of the last sample (pid, memory).
    pub fn last_breakdown(&self) -> &[(u32, ProcMem)] {
        &self.last
    }

    fn read_file(&mut self, pid: u32, name: &str) -> Option<()> {
        self.buf.clear();
        File::open(format!("/proc/{pid}/{name}"))
            .and_then(|mut f| f.read_to_end(&mut self.buf))
            .ok()
            .map(|_| ())
    }
}

impl Sampler for ProcessTreeSampler {
    fn metrics(&self) -> &[Metric] {
        &[
            Metric::Rss,
            Metric::Pss,
            Metric::Swap,
            Metric::RssAnon,
            Metric::RssFile,
        ]
    }

    fn sample(&mut self, out: &mut [Option<u64>]) {
        self.last.clear();
        let tree = process_tree(self.root);
        let now = std::time::Instant::now();
        let want_pss = self.next_pss.is_none_or(|t| now >= t);
        let mut total = ProcMem::default();
        let (mut any, mut all_pss, mut all_split) = (false, true, true);
        for pid in tree {
            if self.exclude_root && pid == self.root {
                continue;
            }
            let Some(mut m) = self
                .read_file(pid, "status")
                .and_then(|_| parse_status(&self.buf))
            else {
                continue;
            };
            if want_pss {
                match self
                    .read_file(pid, "smaps_rollup")
                    .and_then(|_| parse_smaps_rollup(&self.buf))
                {
                    Some(r) => m.pss = r.pss,
                    None => all_pss = false,
                }
            }
            total.rss += m.rss;
            total.pss += m.pss;
            total.swap += m.swap;
            total.anon += m.anon;
            total.file += m.file;
            all_split &= m.split;
            any = true;
            self.last.push((pid, m));
        }
        if want_pss {
            let took = now.elapsed().as_secs_f64();
            self.next_pss = Some(now + std::time::Duration::from_secs_f64(took / self.pss_duty));
        }
        if let Some(log) = self.log.as_mut() {
            log.record(&mut self.last.iter().map(|(pid, m)| (*pid, m.rss)));
        }
        if any {
            out[0] = Some(total.rss);
            out[1] = (want_pss && all_pss).then_some(total.pss);
            out[2] = Some(total.swap);
            out[3] = all_split.then_some(total.anon);
            out[4] = all_split.then_some(total.file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kthreadd_is_a_kernel_thread_and_this_process_is_not() {
        // pid 2 is kthreadd on Linux, unless this runs in a pid namespace.
        if comm(2).as_deref() == Some("kthreadd") {
            assert!(kernel_thread(2));
        }
        assert!(!kernel_thread(std::process::id()));
        assert!(!kernel_thread(u32::MAX));
    }

    #[test]
    fn both_tree_walks_find_the_same_grandchildren() {
        // The parent-pid walk (kernels without CONFIG_PROC_CHILDREN) must see
        // what the children files see: sh -> (sleep, sh -> sleep).
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & sh -c 'sleep 5; true' & wait"])
            .spawn()
            .unwrap();
        let root = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut a = tree_from_children_files(root);
        while a.len() < 4 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            a = tree_from_children_files(root);
        }
        let mut b = tree_from_parent_pids(root);
        for p in &a {
            // SAFETY: plain kill(2) of the processes this test started.
            unsafe {
                libc::kill(*p as i32, libc::SIGKILL);
            }
        }
        let _ = child.wait();
        a.sort_unstable();
        b.sort_unstable();
        assert!(a.len() >= 4, "{a:?}");
        assert_eq!(a, b);
    }

    #[test]
    fn parses_rollup() {
        let t = b"55d0-7ffd ---p 00000000 00:00 0  [rollup]\nRss:                2048 kB\nPss:                1024 kB\nPss_Anon:            512 kB\nSwap:                  4 kB\nSwapPss:               4 kB\n";
        assert_eq!(
            parse_smaps_rollup(t),
            Some(ProcMem {
                rss: 2048 * 1024,
                pss: 1024 * 1024,
                swap: 4096,
                ..ProcMem::default()
            })
        );
        assert_eq!(parse_smaps_rollup(b"garbage"), None);
    }

    #[test]
    fn parses_status() {
        let t = b"Name:\tx\nVmRSS:\t  2048 kB\nRssAnon:\t 1024 kB\nRssFile:\t  768 kB\nRssShmem:\t  256 kB\nVmSwap:\t     4 kB\n";
        assert_eq!(
            parse_status(t),
            Some(ProcMem {
                rss: 2048 * 1024,
                anon: 1280 * 1024,
                file: 768 * 1024,
                split: true,
                pss: 0,
                swap: 4096,
            })
        );
        // Before Linux 4.5 there is no split: unknown, not 0.
        let old = parse_status(b"VmRSS:\t  2048 kB\nVmSwap:\t 0 kB\n").unwrap();
        assert!(!old.split && old.rss == 2048 * 1024);
        assert_eq!(parse_status(b"Name:\tkthreadd\n"), None);
    }

    #[test]
    fn samples_self_and_finds_children() {
        let me = std::process::id();
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let tree = process_tree(me);
        assert_eq!(tree[0], me);
        assert!(tree.contains(&child.id()), "{tree:?} lacks {}", child.id());
        let mut s = ProcessTreeSampler::new(me);
        let mut out = [None; 5];
        s.sample(&mut out);
        assert!(out[0].unwrap() > 1 << 20);
        // The kernel's VmRSS is RssAnon + RssFile + RssShmem, process by
        // process, so the tree's parts add up to its whole.
        assert_eq!(
            out[3].unwrap() + out[4].unwrap(),
            out[0].unwrap(),
            "{out:?}"
        );
        assert!(out[3].unwrap() > 0 && out[4].unwrap() > 0, "{out:?}");
        assert!(s.last_breakdown().len() >= 2);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(alive(me));
    }

    #[test]
    fn command_lines_are_short_and_one_line() {
        assert_eq!(
            shorten_cmdline(
                &[
                    &b"/usr/bin/python3"[..],
                    b"/srv/w.py",
                    b"--rate",
                    b"60",
                    b"--out=/a/b",
                    b""
                ]
                .join(&0u8),
                80
            ),
            "python3 w.py --rate 60 --out=/a/b"
        );
        assert_eq!(shorten_cmdline(b"a\0b\nc\0", 80), "a b c");
        assert_eq!(shorten_cmdline(b"abcdefgh\0", 5), "abcd…");
        assert_eq!(shorten_cmdline(b"", 80), "");
        let me = short_cmdline(std::process::id(), 200);
        assert!(!me.is_empty(), "{me}");
    }

    #[test]
    fn dead_root_gives_nothing() {
        let mut s = ProcessTreeSampler::new(u32::MAX - 1);
        let mut out = [None; 5];
        s.sample(&mut out);
        assert_eq!(out, [None; 5]);
    }
}
