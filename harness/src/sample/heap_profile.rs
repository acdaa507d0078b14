//! jemalloc's sampled heap profiles of memsoak's own process (`--attribute`
//! for the in-process backends): turning profiling on at the end of
//! warm-up, dumping a profile, reading jemalloc's `heap_v2` text back
//! (unsampled as `jeprof` does), symbolizing its addresses in-process and
//! folding each stack to the frames of memsoak's own code.

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::path::Path;

/// The malloc conf memsoak's binaries compile in (the `_rjem_malloc_conf`
/// static): profiling built in but inactive, so it costs nothing until
/// [`activate`]; one sample per 512 KiB allocated (2^19) once active.
/// `_RJEM_MALLOC_CONF` in the environment is read after it and wins.
pub const MALLOC_CONF: &CStr = c"prof:true,prof_active:false,lg_prof_sample:19";

/// Frames of memsoak's own code kept per site: the line that allocates and
/// two callers, as the Python side folds a traceback.
pub const SITE_FRAMES: usize = 3;

/// The module path of this file in a demangled function name: stacks
/// through it are the profiler's own (its symbol cache), left out.
const SELF_MODULE: &str = "memsoak::sample::heap_profile::";

/// Why a heap profile could not be had or read.
#[derive(Debug, thiserror::Error)]
pub enum HeapProfileError {
    /// jemalloc refused a control (`prof.*`): profiling is off or absent.
    #[error(
        "jemalloc heap profiling is off in this process ({name} refused: {why}); \
         is prof:false in _RJEM_MALLOC_CONF?"
    )]
    Control {
        /// The mallctl name.
        name: &'static str,
        /// jemalloc's error.
        why: String,
    },
    /// A dump's path cannot be passed to jemalloc.
    #[error("cannot dump a heap profile to {0}: the path holds a NUL byte")]
    Path(String),
    /// Reading a dump back failed.
    #[error("reading heap profile {path}: {why}")]
    Read {
        /// The dump.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// A dump's text is not jemalloc's `heap_v2` format.
    #[error("heap profile line {line}: {why}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What was expected.
        why: String,
    },
}

fn control(name: &'static str) -> impl Fn(tikv_jemalloc_ctl::Error) -> HeapProfileError {
    move |e| HeapProfileError::Control {
        name: name.trim_end_matches('\0'),
        why: e.to_string(),
    }
}

/// Whether jemalloc was started with profiling (`opt.prof`): `false` when
/// `_RJEM_MALLOC_CONF` turned it off or the allocator is built without it.
pub fn available() -> bool {
    // SAFETY: `opt.prof` is a bool.
    unsafe { tikv_jemalloc_ctl::raw::read::<bool>(b"opt.prof\0") }.unwrap_or(false)
}

/// The sampling period in force, bytes (2^`prof.lg_sample`).
pub fn sample_period() -> Result<u64, HeapProfileError> {
    // SAFETY: `prof.lg_sample` is a size_t.
    let lg: usize = unsafe { tikv_jemalloc_ctl::raw::read(b"prof.lg_sample\0") }
        .map_err(control("prof.lg_sample"))?;
    Ok(1u64 << lg.min(63))
}

/// Forget every sample so far (`prof.reset`, keeping the sample rate) and
/// start sampling (`prof.active`): what was allocated before, loading a
/// model, is not charged.
pub fn activate() -> Result<(), HeapProfileError> {
    // SAFETY: `prof.lg_sample` is a size_t, `prof.reset` takes one (the
    // rate to keep), `prof.active` a bool.
    unsafe {
        let lg: usize =
            tikv_jemalloc_ctl::raw::read(b"prof.lg_sample\0").map_err(control("prof.lg_sample"))?;
        tikv_jemalloc_ctl::raw::write(b"prof.reset\0", lg).map_err(control("prof.reset"))?;
        tikv_jemalloc_ctl::raw::write(b"prof.active\0", true).map_err(control("prof.active"))?;
    }
    Ok(())
}

/// Dump the live sampled heap to `path` (`prof.dump`), jemalloc's
/// `heap_v2` text.
pub fn dump(path: &Path) -> Result<(), HeapProfileError> {
    let shown = || path.display().to_string();
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| HeapProfileError::Path(shown()))?;
    // SAFETY: `prof.dump` takes a `const char *`, read during the call.
    unsafe { tikv_jemalloc_ctl::raw::write::<*const c_char>(b"prof.dump\0", c.as_ptr()) }
        .map_err(control("prof.dump"))
}

/// Read back and parse a dump [`dump`] wrote.
pub fn read_dump(path: &Path) -> Result<HeapProfile, HeapProfileError> {
    let text = std::fs::read_to_string(path).map_err(|e| HeapProfileError::Read {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    parse(&text)
}

/// One allocation stack of a profile and its live objects and bytes,
/// unsampled.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// Return addresses, innermost first.
    pub addrs: Vec<u64>,
    /// Live objects, scaled up from the samples.
    pub objects: f64,
    /// Live bytes, scaled up from the samples.
    pub bytes: f64,
}

/// One mapping of the `MAPPED_LIBRARIES` section (`/proc/PID/maps`).
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Offset in the file.
    pub offset: u64,
    /// The file mapped (empty for an anonymous mapping).
    pub path: String,
}

/// A heap profile read back.
#[derive(Debug, Clone, PartialEq)]
pub struct HeapProfile {
    /// The mean sampling period, bytes (`heap_v2/PERIOD`).
    pub period: u64,
    /// Every stack with live objects.
    pub stacks: Vec<Stack>,
    /// The executable mappings of the process when it was dumped.
    pub libraries: Vec<Mapping>,
}

impl HeapProfile {
    /// All live bytes, unsampled.
    pub fn bytes(&self) -> f64 {
        self.stacks.iter().map(|s| s.bytes).sum()
    }

    /// The file mapped at `addr`, if any.
    pub fn library_of(&self, addr: u64) -> Option<&str> {
        self.libraries
            .iter()
            .find(|m| (m.start..m.end).contains(&addr))
            .map(|m| m.path.as_str())
    }
}

/// `n` sampled objects of `s` bytes in all, scaled to what was allocated:
/// jeprof's `AdjustSamples` for `heap_v2` (each allocation of size X is
/// sampled with probability 1 − exp(−X/period)). jemalloc writes its
/// counts in this sampled form (also with `prof_unbias`, its default).
pub fn unsample(n: u64, s: u64, period: u64) -> (f64, f64) {
    if n == 0 || period == 0 {
        return (n as f64, s as f64);
    }
    let ratio = (s as f64 / n as f64) / period as f64;
    let scale = 1.0 / (1.0 - (-ratio).exp());
    (n as f64 * scale, s as f64 * scale)
}

/// `N: S [N: S]` of a `t*:` line: the live objects and bytes.
fn counts(rest: &str) -> Option<(u64, u64)> {
    let mut it = rest.split(|c: char| c == ':' || c.is_whitespace() || c == '[' || c == ']');
    let mut nums = it.by_ref().filter(|t| !t.is_empty());
    let n = nums.next()?.parse().ok()?;
    let s = nums.next()?.parse().ok()?;
    Some((n, s))
}

fn hex(t: &str) -> Option<u64> {
    u64::from_str_radix(t.trim_start_matches("0x"), 16).ok()
}

/// Read jemalloc's `heap_v2` text: the header (`heap_v2/PERIOD`, `t*:`
/// totals, one line per thread), then per stack an `@ 0x.. 0x..` line and
/// its `t*: curobjs: curbytes [accumobjs: accumbytes]` line (per-thread
/// lines after it are skipped), then `MAPPED_LIBRARIES:` and the maps.
/// Counts are unsampled ([`unsample`]). Cost: O(size of the text).
///
/// # Examples
/// ```
/// use memsoak::sample::heap_profile::parse;
/// let text = "heap_v2/524288\n  t*: 1: 1048576 [0: 0]\n  t0: 1: 1048576 [0: 0]\n\
///             @ 0x10 0x20\n  t*: 1: 1048576 [0: 0]\n  t0: 1: 1048576 [0: 0]\n";
/// let p = parse(text).unwrap();
/// assert_eq!(p.stacks[0].addrs, [0x10, 0x20]);
/// // One 1 MiB object sampled at 512 KiB: 1 / (1 - e^-2) of it.
/// assert!((p.bytes() - 1048576.0 / (1.0 - (-2f64).exp())).abs() < 1.0);
/// ```
pub fn parse(text: &str) -> Result<HeapProfile, HeapProfileError> {
    let bad = |line: usize, why: &str| HeapProfileError::Parse {
        line,
        why: why.to_string(),
    };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (_, head) = lines.next().ok_or_else(|| bad(1, "empty file"))?;
    let period = head
        .trim()
        .strip_prefix("heap_v2/")
        .and_then(|p| p.parse::<u64>().ok())
        .ok_or_else(|| {
            bad(
                1,
                "not a jemalloc heap_v2 profile (`heap_v2/PERIOD` expected)",
            )
        })?;
    let mut stacks = Vec::new();
    let mut libraries = Vec::new();
    let mut pending: Option<(usize, Vec<u64>)> = None;
    let mut in_maps = false;
    for (no, line) in lines {
        if in_maps {
            if let Some(m) = mapping(line) {
                libraries.push(m);
            }
            continue;
        }
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t == "MAPPED_LIBRARIES:" {
            in_maps = true;
            continue;
        }
        if let Some(rest) = t.strip_prefix('@') {
            if let Some((at, _)) = pending {
                return Err(bad(at, "a stack without its `t*:` counts"));
            }
            let addrs = rest
                .split_whitespace()
                .map(hex)
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| bad(no, "an address that is not hexadecimal"))?;
            pending = Some((no, addrs));
        } else if let Some(rest) = t.strip_prefix("t*:") {
            let (n, s) = counts(rest).ok_or_else(|| bad(no, "`t*: N: S [N: S]` expected"))?;
            // NOTE: the header's `t*:` (before any stack) is the total,
            // which the stacks sum to; only a stack's own line is kept.
            if let Some((_, addrs)) = pending.take() {
                let (objects, bytes) = unsample(n, s, period);
                stacks.push(Stack {
                    addrs,
                    objects,
                    bytes,
                });
            }
        } else if t.starts_with('t') && t.contains(':') {
            // A thread's line (`t3: N: S [N: S] name`): its counts are in `t*:`.
        } else {
            return Err(bad(no, "neither a stack, its counts nor MAPPED_LIBRARIES"));
        }
    }
    if let Some((at, _)) = pending {
        return Err(bad(at, "a stack without its `t*:` counts (torn file?)"));
    }
    Ok(HeapProfile {
        period,
        stacks,
        libraries,
    })
}

/// One line of `/proc/PID/maps`, if it maps code (`r-xp`).
fn mapping(line: &str) -> Option<Mapping> {
    let mut f = line.split_whitespace();
    let (start, end) = f.next()?.split_once('-')?;
    let perms = f.next()?;
    let offset = hex(f.next()?)?;
    let path = f.nth(2).unwrap_or_default().to_string();
    perms.contains('x').then(|| Mapping {
        start: hex(start).unwrap_or(0),
        end: hex(end).unwrap_or(0),
        offset,
        path,
    })
}

/// Moves return addresses of a dumped process to where the same files are
/// mapped in this one, so that this process can symbolize them (a later
/// `memsoak analyze` of a run's dumps): an address at offset `o` of file
/// `F` there is at offset `o` of `F` here. Addresses in files this process
/// has not mapped (or mapped under another path) have no place here.
// NOTE: files are matched by path alone: the dump records no build id, so
// a binary rebuilt in place since the run symbolizes wrongly (as jeprof or
// pprof would, reading the same file).
#[derive(Debug, Clone, PartialEq)]
pub struct Relocation {
    /// (their mapping, our start, our file offset), per file both map.
    pairs: Vec<(Mapping, u64, u64)>,
}

impl Relocation {
    /// From the code mappings of the dumped process to `ours`.
    pub fn between(theirs: &[Mapping], ours: &[Mapping]) -> Relocation {
        let pairs = theirs
            .iter()
            .filter(|t| !t.path.is_empty())
            .filter_map(|t| {
                // The mapping of ours that holds the same file offset.
                ours.iter()
                    .find(|o| {
                        o.path == t.path
                            && (o.offset..o.offset + (o.end - o.start)).contains(&t.offset)
                    })
                    .map(|o| (t.clone(), o.start, o.offset))
            })
            .collect();
        Relocation { pairs }
    }

    /// From the code mappings of the dumped process to this process's own
    /// (`/proc/self/maps`); none when that cannot be read.
    pub fn to_here(theirs: &[Mapping]) -> Relocation {
        let ours: Vec<Mapping> = std::fs::read_to_string("/proc/self/maps")
            .map(|t| t.lines().filter_map(mapping).collect())
            .unwrap_or_default();
        Relocation::between(theirs, &ours)
    }

    /// Where `addr` of the dumped process is in this one.
    pub fn map(&self, addr: u64) -> Option<u64> {
        self.pairs
            .iter()
            .find(|(t, _, _)| (t.start..t.end).contains(&addr))
            .map(|(t, start, offset)| addr - t.start + t.offset - offset + start)
    }
}

/// One frame of a symbolized address (an inlined function is a frame of
/// its own).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The demangled function, without its hash (empty when unknown).
    pub function: String,
    /// The source file, when the debug info has it.
    pub file: Option<String>,
    /// The source line.
    pub line: Option<u32>,
}

impl Frame {
    /// `file:line`, else the function.
    pub fn site(&self) -> String {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{f}:{l}"),
            (Some(f), None) => f.clone(),
            _ if !self.function.is_empty() => self.function.clone(),
            _ => "?".into(),
        }
    }
}

/// Symbolizes return addresses of this process, each once (the debug info
/// is read and kept by `backtrace`'s own cache).
// NOTE: `backtrace::resolve` (gimli/addr2line underneath, the symbolizer of
// std's own backtraces) over a hand-written DWARF reader: it finds the
// mapping of each address itself (ASLR, shared objects) and expands inlined
// frames, which a profile of opt-level ≥ 1 code is full of.
#[derive(Default)]
pub struct Symbolizer {
    cache: HashMap<u64, Vec<Frame>>,
}

impl Symbolizer {
    /// A symbolizer with nothing read yet.
    pub fn new() -> Symbolizer {
        Symbolizer::default()
    }

    /// Read the running binary's debug info now (slow, and it allocates
    /// tens of MiB once), so that it happens before the soak's sampling,
    /// not at the first snapshot.
    pub fn warm_up(&mut self) {
        for ip in return_addresses(4) {
            self.frames(ip);
        }
    }

    /// The frames of one return address, innermost (inlined) first.
    pub fn frames(&mut self, addr: u64) -> &[Frame] {
        self.cache.entry(addr).or_insert_with(|| {
            let mut out = Vec::new();
            // NOTE: a return address points after the call; one byte back
            // is inside it (jeprof's FixCallerAddresses).
            let pc = addr.saturating_sub(1) as usize as *mut std::ffi::c_void;
            backtrace::resolve(pc, |s| {
                out.push(Frame {
                    function: s.name().map(|n| format!("{n:#}")).unwrap_or_default(),
                    file: s.filename().map(|p| p.display().to_string()),
                    line: s.lineno(),
                });
            });
            out
        })
    }

    /// Every frame of a stack, innermost first.
    pub fn stack(&mut self, addrs: &[u64]) -> Vec<Frame> {
        let mut out = Vec::new();
        for &a in addrs {
            let f = self.frames(a);
            if f.is_empty() {
                out.push(Frame {
                    function: String::new(),
                    file: None,
                    line: None,
                });
            } else {
                out.extend_from_slice(f);
            }
        }
        out
    }
}

/// The return addresses of the calling thread's innermost `n` frames.
fn return_addresses(n: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(n);
    backtrace::trace(|f| {
        out.push(f.ip() as usize as u64);
        out.len() < n
    });
    out
}

/// A stack folded to its site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folded {
    /// Up to [`SITE_FRAMES`] frames (`file:line`, innermost first) and the
    /// function of the first.
    Site {
        /// `file:line` per frame.
        frames: Vec<String>,
        /// The function of the first frame.
        function: String,
    },
    /// The profiler's own allocation (its symbol cache): not a site.
    Profiler,
    /// Only allocator and standard library frames, nothing else known.
    Unknown,
}

/// Allocator glue and the standard library: never a site's first frame.
fn is_glue(f: &Frame) -> bool {
    const PREFIXES: &[&str] = &[
        "_rjem_",
        "je_",
        "prof_",
        "imalloc",
        "malloc",
        "calloc",
        "realloc",
        "__rust_",
        "__rustc::",
        "__rdl_",
        "__rg_",
        "alloc::",
        "<alloc::",
        "core::",
        "<core::",
        "std::",
        "<std::",
        "hashbrown::",
        "<hashbrown::",
        "tikv_jemallocator::",
        "<tikv_jemallocator::",
    ];
    f.function.is_empty() || PREFIXES.iter().any(|p| f.function.starts_with(p))
}

/// Fold a symbolized stack (innermost first) to its site: from the
/// innermost frame whose file is under `own_root` (memsoak's own sources),
/// the next [`SITE_FRAMES`] frames of memsoak's own code, skipping the
/// library frames between them (iterator adapters, closures' shims); with
/// no own frame, from the innermost frame that is not allocator glue or
/// the standard library (a dependency's function). Stacks through this
/// module are [`Folded::Profiler`]. Cost: O(frames).
pub fn fold(frames: &[Frame], own_root: &str) -> Folded {
    if frames.iter().any(|f| f.function.contains(SELF_MODULE)) {
        return Folded::Profiler;
    }
    let own = |f: &&Frame| f.file.as_deref().is_some_and(|p| p.starts_with(own_root));
    let mut picked: Vec<&Frame> = frames.iter().filter(own).take(SITE_FRAMES).collect();
    if picked.is_empty() {
        picked = frames
            .iter()
            .skip_while(|f| is_glue(f))
            .take(SITE_FRAMES)
            .collect();
    }
    match picked.first() {
        None => Folded::Unknown,
        Some(first) => Folded::Site {
            frames: picked.iter().map(|f| f.site()).collect(),
            function: first.function.clone(),
        },
    }
}

/// memsoak's own source folder as its debug info names it (the crate's
/// manifest folder at build time).
pub fn own_root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dump as jemalloc 5.3 writes it (two stacks, two threads, a cut
    /// maps section).
    const FIXTURE: &str = "heap_v2/524288
  t*: 3: 2621440 [0: 0]
  t0: 1: 524288 [0: 0]
  t1: 2: 2097152 [0: 0] memsoak-embed
@ 0x55d0c0a01234 0x55d0c0a05678 0x7f12aa001000
  t*: 2: 2097152 [0: 0]
  t1: 2: 2097152 [0: 0]
@ 0x55d0c0a09999
  t*: 1: 524288 [0: 0]
  t0: 1: 524288 [0: 0]

MAPPED_LIBRARIES:
55d0c0800000-55d0c0900000 r--p 00000000 08:01 1234 /work/target/debug/memsoak
55d0c0900000-55d0c0b00000 r-xp 00100000 08:01 1234 /work/target/debug/memsoak
7f12aa000000-7f12aa100000 r-xp 00000000 08:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
";

    #[test]
    fn a_dump_parses_into_unsampled_stacks_and_its_code_mappings() {
        let p = parse(FIXTURE).unwrap();
        assert_eq!(p.period, 524288);
        assert_eq!(p.stacks.len(), 2);
        assert_eq!(
            p.stacks[0].addrs,
            [0x55d0c0a01234, 0x55d0c0a05678, 0x7f12aa001000]
        );
        // Two 1 MiB objects, each sampled with probability 1 - e^-2.
        let scale = 1.0 / (1.0 - (-2f64).exp());
        assert!((p.stacks[0].bytes - 2097152.0 * scale).abs() < 1e-6);
        assert!((p.stacks[0].objects - 2.0 * scale).abs() < 1e-9);
        // One 512 KiB object: probability 1 - e^-1.
        let scale = 1.0 / (1.0 - (-1f64).exp());
        assert!((p.stacks[1].bytes - 524288.0 * scale).abs() < 1e-6);
        assert_eq!(p.libraries.len(), 2, "{:?}", p.libraries);
        assert_eq!(
            p.library_of(0x55d0c0a01234),
            Some("/work/target/debug/memsoak")
        );
        assert_eq!(
            p.library_of(0x7f12aa001000),
            Some("/usr/lib/x86_64-linux-gnu/libc.so.6")
        );
        assert_eq!(p.library_of(0x1000), None);
    }

    #[test]
    fn small_objects_are_scaled_up_by_about_the_period_over_their_size() {
        // 100 sampled 64-byte objects stand for ~100 * 512 KiB / 64 B.
        let (n, s) = unsample(100, 6400, 524288);
        assert!((n / (100.0 * 524288.0 / 64.0) - 1.0).abs() < 1e-3, "{n}");
        assert!((s / n - 64.0).abs() < 1e-9);
        assert_eq!(unsample(0, 0, 524288), (0.0, 0.0));
    }

    #[test]
    fn addresses_move_to_where_the_same_file_is_mapped_here() {
        let theirs = parse(FIXTURE).unwrap().libraries;
        let map = |start: u64, end: u64, offset: u64, path: &str| Mapping {
            start,
            end,
            offset,
            path: path.into(),
        };
        let ours = vec![
            map(
                0x7000_0000,
                0x7020_0000,
                0x0010_0000,
                "/work/target/debug/memsoak",
            ),
            map(0x6000_0000, 0x6010_0000, 0, "/usr/lib/other.so"),
        ];
        let r = Relocation::between(&theirs, &ours);
        // 0x101234 bytes into the binary there and here.
        assert_eq!(r.map(0x55d0c0a01234), Some(0x7010_1234));
        // libc is not mapped here; nor is an address outside every mapping.
        assert_eq!(r.map(0x7f12aa001000), None);
        assert_eq!(r.map(0x10), None);
        // This process's own mappings move to themselves.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let here: Vec<Mapping> = maps.lines().filter_map(mapping).collect();
        let me = return_addresses(1)[0];
        assert_eq!(Relocation::to_here(&here).map(me), Some(me));
    }

    #[test]
    fn an_empty_profile_has_no_stacks() {
        let p = parse("heap_v2/524288\n  t*: 0: 0 [0: 0]\n").unwrap();
        assert!(p.stacks.is_empty() && p.libraries.is_empty());
        assert_eq!(p.bytes(), 0.0);
    }

    #[test]
    fn bad_text_is_one_line_with_its_line_number() {
        for (text, line, want) in [
            ("", 1, "empty"),
            ("heap_v1/1\n", 1, "heap_v2"),
            ("heap_v2/524288\n@ 0x10 zz\n", 2, "hexadecimal"),
            ("heap_v2/524288\n@ 0x10\n  t*: lots\n", 3, "t*: N: S"),
            (
                "heap_v2/524288\n@ 0x10\n@ 0x20\n  t*: 1: 2 [0: 0]\n",
                2,
                "without",
            ),
            ("heap_v2/524288\n@ 0x10\n", 2, "torn"),
            ("heap_v2/524288\nhello\n", 2, "neither"),
        ] {
            match parse(text) {
                Err(HeapProfileError::Parse { line: l, why }) => {
                    assert_eq!(l, line, "{text:?}: {why}");
                    assert!(why.contains(want), "{text:?}: {why}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    fn frame(function: &str, file: &str, line: u32) -> Frame {
        Frame {
            function: function.into(),
            file: (!file.is_empty()).then(|| file.into()),
            line: (line > 0).then_some(line),
        }
    }

    const ROOT: &str = "/src/memsoak/harness";

    /// A leak's stack as jemalloc records it: the allocator, alloc's
    /// RawVec, then memsoak's code (with a std closure shim between).
    fn leak_stack() -> Vec<Frame> {
        vec![
            frame("_rjem_je_prof_backtrace", "", 0),
            frame("_rjem_je_malloc_default", "", 0),
            frame("_rjem_malloc", "", 0),
            frame("__rustc::__rust_alloc", "", 0),
            frame(
                "alloc::raw_vec::RawVecInner<A>::try_allocate_in",
                "/rustc/abc/library/alloc/src/raw_vec/mod.rs",
                470,
            ),
            frame(
                "alloc::vec::from_elem",
                "/rustc/abc/library/alloc/src/vec/spec_from_elem.rs",
                60,
            ),
            frame(
                "memsoak::backend::synthetic::SyntheticEmbedder::retain",
                "/src/memsoak/harness/src/backend/synthetic.rs",
                98,
            ),
            frame(
                "memsoak::backend::synthetic::SyntheticEmbedder::account",
                "/src/memsoak/harness/src/backend/synthetic.rs",
                114,
            ),
            frame(
                "core::ops::function::FnOnce::call_once",
                "/rustc/abc/library/core/src/ops/function.rs",
                250,
            ),
            frame(
                "<memsoak::backend::synthetic::SyntheticEmbedder as memsoak::backend::Embedder>::embed",
                "/src/memsoak/harness/src/backend/synthetic.rs",
                230,
            ),
            frame(
                "memsoak::soak::pipeline::embed_stage",
                "/src/memsoak/harness/src/soak/pipeline.rs",
                300,
            ),
            frame(
                "std::sys::thread::unix::Thread::new::thread_start",
                "/rustc/abc/library/std/src/sys/thread/unix.rs",
                100,
            ),
        ]
    }

    #[test]
    fn a_stack_folds_to_its_first_three_frames_in_memsoaks_own_code() {
        let f = fold(&leak_stack(), ROOT);
        assert_eq!(
            f,
            Folded::Site {
                frames: vec![
                    "/src/memsoak/harness/src/backend/synthetic.rs:98".into(),
                    "/src/memsoak/harness/src/backend/synthetic.rs:114".into(),
                    "/src/memsoak/harness/src/backend/synthetic.rs:230".into(),
                ],
                function: "memsoak::backend::synthetic::SyntheticEmbedder::retain".into(),
            }
        );
    }

    #[test]
    fn a_stack_with_no_own_frame_folds_to_the_first_frame_past_the_glue() {
        let stack = vec![
            frame("_rjem_malloc", "", 0),
            frame(
                "alloc::alloc::alloc",
                "/rustc/abc/library/alloc/src/alloc.rs",
                90,
            ),
            frame("candle_core::cpu_backend::MatMul::f", "", 0),
            frame("candle_core::tensor::Tensor::matmul", "", 0),
            frame("", "", 0),
            frame("rayon_core::registry::WorkerThread::run", "", 0),
        ];
        let Folded::Site { frames, function } = fold(&stack, ROOT) else {
            panic!()
        };
        assert_eq!(function, "candle_core::cpu_backend::MatMul::f");
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1], "candle_core::tensor::Tensor::matmul");
        assert_eq!(frames[2], "?");
    }

    #[test]
    fn the_profilers_own_stacks_and_pure_glue_are_not_sites() {
        let mut own = leak_stack();
        own.insert(
            6,
            frame(
                "memsoak::sample::heap_profile::Symbolizer::frames",
                "/src/memsoak/harness/src/sample/heap_profile.rs",
                300,
            ),
        );
        assert_eq!(fold(&own, ROOT), Folded::Profiler);
        let glue = vec![
            frame("_rjem_malloc", "", 0),
            frame("std::rt::lang_start", "/rustc/x/std/src/rt.rs", 1),
        ];
        assert_eq!(fold(&glue, ROOT), Folded::Unknown);
        assert_eq!(fold(&[], ROOT), Folded::Unknown);
    }

    #[test]
    fn this_processs_own_addresses_symbolize_to_memsoaks_sources() {
        let mut s = Symbolizer::new();
        let frames = s.stack(&return_addresses(8));
        let me = frames
            .iter()
            .find(|f| f.function.contains("this_processs_own_addresses_symbolize"))
            .unwrap_or_else(|| panic!("{frames:?}"));
        assert!(
            me.file.as_deref().is_some_and(
                |p| p.starts_with(own_root()) && p.ends_with("src/sample/heap_profile.rs")
            ),
            "{me:?} not under {}",
            own_root()
        );
        assert!(me.line.is_some(), "{me:?}");
    }
}
