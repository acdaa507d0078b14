//! pprof's profile format (`profile.proto`, gzipped), the one owner of it:
//! the typed messages, a heap profile of jemalloc's stacks built into one
//! (addresses, their mappings, functions and inlined lines from the
//! in-process symbolization), and the growth between two dumps. Read back
//! by [`decode_gz`] (tests, tools). What files are written where is
//! [`super::attribution`]'s.

use std::collections::HashMap;
use std::io::{Read, Write};

use crate::sample::heap_profile::{Frame, HeapProfile, Mapping as CodeMapping};

// NOTE: prost's derive over hand-declared messages, not a generated
// `profile.proto` (no protoc, no build script) nor the `pprof` crate's
// `protos` (it brings its CPU profiler, signal handlers and a
// protobuf-codegen stack) nor jemalloc_pprof's `pprof_util` (tokio, an
// anyhow API, its own symbolizer): prost adds two crates here, prost and
// prost-derive, whose own dependencies (syn, itertools, anyhow) the build
// already has. The field numbers are profile.proto's
// (github.com/google/pprof/blob/main/proto/profile.proto).

/// A profile (`perftools.profiles.Profile`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// What each value of a sample is (`inuse_objects/count`,
    /// `inuse_space/bytes`).
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The samples: one per stack.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// The code mappings of the process.
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    /// The addresses of the stacks.
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    /// The functions the locations name.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// Every string, indexed by the other messages; entry 0 is "".
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// Regexp of frames to drop (string index).
    #[prost(int64, tag = "7")]
    pub drop_frames: i64,
    /// Regexp of frames to keep (string index).
    #[prost(int64, tag = "8")]
    pub keep_frames: i64,
    /// When the profile was taken, Unix nanoseconds.
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// What span it covers, nanoseconds.
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    /// The kind of events between samples (`space/bytes`).
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    /// The sampling period, in `period_type`'s unit.
    #[prost(int64, tag = "12")]
    pub period: i64,
    /// Free-form comments (string indices).
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    /// The sample type shown by default (string index of its type).
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
}

/// A value's type and unit (string indices).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueType {
    /// `inuse_space`, ...
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// `bytes`, `count`.
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// One stack and its values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The stack's locations, innermost first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// One value per sample type (a growth may be negative).
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
}

/// One mapping of a file into the process.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mapping {
    /// Its id (1-based).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// First address.
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    /// One past the last address.
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    /// Offset in the file.
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    /// The file (string index).
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// Its build id (string index).
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    /// Its locations carry function names.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    /// ... file names.
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    /// ... line numbers.
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    /// ... inlined frames.
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

/// One address of a stack and what it symbolizes to.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    /// Its id (1-based).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The mapping that holds it (0: none).
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    /// The instruction address.
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// Its lines, innermost (inlined) first, the caller they are inlined
    /// into last.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
    /// Several functions folded into one location.
    #[prost(bool, tag = "5")]
    pub is_folded: bool,
}

/// A source line of a location.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Line {
    /// The function.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// The line number (0: unknown).
    #[prost(int64, tag = "2")]
    pub line: i64,
    /// The column (0: unknown).
    #[prost(int64, tag = "3")]
    pub column: i64,
}

/// A function.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Function {
    /// Its id (1-based).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Its name, demangled (string index).
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// Its name as the system knows it (string index).
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// Its source file (string index).
    #[prost(int64, tag = "4")]
    pub filename: i64,
    /// Its first line (0: unknown).
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}

/// Why a pprof file could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum PprofError {
    /// Not gzip.
    #[error("not a gzipped pprof profile: {0}")]
    Gzip(String),
    /// Not a profile.
    #[error("not a pprof profile: {0}")]
    Decode(#[from] prost::DecodeError),
}

impl Profile {
    /// The string at `index` of the table ("" when out of range).
    pub fn string(&self, index: i64) -> &str {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.string_table.get(i))
            .map_or("", String::as_str)
    }

    /// The index of the sample type named `name` (`inuse_space`).
    pub fn value_index(&self, name: &str) -> Option<usize> {
        self.sample_type
            .iter()
            .position(|t| self.string(t.r#type) == name)
    }

    /// The function names of a sample's stack, innermost first, inlined
    /// frames each (an unsymbolized location is left out).
    pub fn functions(&self, sample: &Sample) -> Vec<&str> {
        let locs: HashMap<u64, &Location> = self.location.iter().map(|l| (l.id, l)).collect();
        let funcs: HashMap<u64, &Function> = self.function.iter().map(|f| (f.id, f)).collect();
        sample
            .location_id
            .iter()
            .filter_map(|id| locs.get(id))
            .flat_map(|l| &l.line)
            .filter_map(|l| funcs.get(&l.function_id))
            .map(|f| self.string(f.name))
            .collect()
    }
}

/// The profile, protobuf-encoded then gzipped: a `.pb.gz` file.
pub fn encode_gz(p: &Profile) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(p);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // NOTE: writing into a Vec cannot fail.
    let _ = gz.write_all(&raw);
    gz.finish().unwrap_or_default()
}

/// A `.pb.gz` file read back.
pub fn decode_gz(bytes: &[u8]) -> Result<Profile, PprofError> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut raw)
        .map_err(|e| PprofError::Gzip(e.to_string()))?;
    Ok(<Profile as prost::Message>::decode(raw.as_slice())?)
}

/// One stack of a heap profile and its values, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct StackValues {
    /// Return addresses, innermost first.
    pub addrs: Vec<u64>,
    /// Live objects (or their change).
    pub objects: f64,
    /// Live bytes (or their change).
    pub bytes: f64,
}

/// Every stack of a dump with its unsampled values.
pub fn stacks_of(p: &HeapProfile) -> Vec<StackValues> {
    p.stacks
        .iter()
        .map(|s| StackValues {
            addrs: s.addrs.clone(),
            objects: s.objects,
            bytes: s.bytes,
        })
        .collect()
}

/// The change of every stack's live objects and bytes from `first` to
/// `last` (a stack absent from one is 0 there); stacks that did not change
/// are left out. In the order of `last`, then the stacks only `first` has.
/// Cost: O(stacks of both).
pub fn growth(first: &HeapProfile, last: &HeapProfile) -> Vec<StackValues> {
    let mut before: HashMap<&[u64], (f64, f64)> = HashMap::new();
    for s in &first.stacks {
        let e = before.entry(s.addrs.as_slice()).or_default();
        e.0 += s.objects;
        e.1 += s.bytes;
    }
    let mut out = Vec::new();
    for s in &last.stacks {
        let (o, b) = before.remove(s.addrs.as_slice()).unwrap_or_default();
        out.push(StackValues {
            addrs: s.addrs.clone(),
            objects: s.objects - o,
            bytes: s.bytes - b,
        });
    }
    // Stacks freed entirely: in `first`'s order.
    for s in &first.stacks {
        if let Some((o, b)) = before.remove(s.addrs.as_slice()) {
            out.push(StackValues {
                addrs: s.addrs.clone(),
                objects: -o,
                bytes: -b,
            });
        }
    }
    out.retain(|s| s.bytes.round() != 0.0 || s.objects.round() != 0.0);
    out
}

/// What a heap profile says of itself beside its stacks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeapMeta {
    /// The sampling period, bytes.
    pub period: u64,
    /// When it was taken (the later dump, for a growth), Unix seconds.
    pub t_unix: Option<f64>,
    /// The span it covers (a growth's), seconds.
    pub duration_s: Option<f64>,
    /// Comments (which dumps, how the values were made).
    pub comments: Vec<String>,
}

/// The frames pprof drops from the leaf end of every stack
/// (`drop_frames`, matched against whole function names): jemalloc's
/// sampling and allocation path, the global allocator's glue, and the
/// standard library's allocating leaves (`RawVec`'s growth, `Vec::push`,
/// `vec![x; n]`), so that `-top` charges the code that called them, as
/// jeprof does.
// NOTE: only functions that never call back into other code: pprof cuts
// each stack at the first matching frame from the root, so a match on the
// caller side (`Box<dyn FnOnce>::call_once`, `Vec::extend` calling a
// closure) would cut the frames below it.
pub const ALLOCATOR_FRAMES: &str = concat!(
    "(_rjem_|je_|prof_|imalloc|ialloc|irallocx|do_rallocx|__rust_|__rustc::|__rdl_|__rg_",
    "|tikv_jemallocator::|<tikv_jemallocator::|alloc::alloc::|<alloc::alloc::",
    "|alloc::raw_vec::|<alloc::raw_vec::|alloc::vec::from_elem",
    "|alloc::vec::Vec<[^>]*>::(push|push_mut|with_capacity|with_capacity_in)$",
    ").*"
);

/// Builds a [`Profile`]: interns strings, functions and locations.
struct Builder<'s> {
    p: Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<(String, String), u64>,
    locations: HashMap<u64, u64>,
    symbolize: &'s mut dyn FnMut(u64) -> Vec<Frame>,
}

impl Builder<'_> {
    fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.p.string_table.len() as i64;
        self.p.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    fn function(&mut self, f: &Frame) -> u64 {
        let key = (f.function.clone(), f.file.clone().unwrap_or_default());
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let id = self.p.function.len() as u64 + 1;
        let name = self.string(&key.0);
        let filename = self.string(&key.1);
        self.p.function.push(Function {
            id,
            name,
            system_name: name,
            filename,
            start_line: 0,
        });
        self.functions.insert(key, id);
        id
    }

    fn location(&mut self, addr: u64) -> u64 {
        if let Some(&id) = self.locations.get(&addr) {
            return id;
        }
        let id = self.p.location.len() as u64 + 1;
        let frames = (self.symbolize)(addr);
        let line = frames
            .iter()
            .filter(|f| !f.function.is_empty())
            .map(|f| Line {
                function_id: self.function(f),
                line: f.line.map_or(0, i64::from),
                column: 0,
            })
            .collect();
        let mapping_id = self
            .p
            .mapping
            .iter()
            .find(|m| (m.memory_start..m.memory_limit).contains(&addr))
            .map_or(0, |m| m.id);
        self.p.location.push(Location {
            id,
            mapping_id,
            // NOTE: a return address points after its call; one byte back
            // is inside the call instruction, the address pprof's own
            // symbolization expects of a caller's frame (as the lines here
            // are resolved).
            address: addr.saturating_sub(1),
            line,
            is_folded: false,
        });
        self.locations.insert(addr, id);
        id
    }
}

/// A heap profile in pprof's format: values `inuse_objects/count` and
/// `inuse_space/bytes` (the default) per stack, rounded; the code
/// `mappings`; each address a location whose lines are what `symbolize`
/// makes of it (innermost inlined frame first; none when it knows
/// nothing, and pprof can symbolize from the mappings itself). Cost:
/// O(frames) plus one `symbolize` call per distinct address.
///
/// # Examples
/// ```
/// use memsoak::runfolder::pprof::{HeapMeta, StackValues, decode_gz, encode_gz, heap};
/// let stacks = vec![StackValues { addrs: vec![0x11, 0x21], objects: 2.0, bytes: 4096.0 }];
/// let p = heap(&stacks, &[], &mut |_| vec![], &HeapMeta { period: 524288, ..HeapMeta::default() });
/// let back = decode_gz(&encode_gz(&p)).unwrap();
/// assert_eq!(back.sample[0].value, [2, 4096]);
/// assert_eq!(back.location.len(), 2);
/// ```
pub fn heap(
    stacks: &[StackValues],
    mappings: &[CodeMapping],
    symbolize: &mut dyn FnMut(u64) -> Vec<Frame>,
    meta: &HeapMeta,
) -> Profile {
    let mut b = Builder {
        p: Profile::default(),
        strings: HashMap::new(),
        functions: HashMap::new(),
        locations: HashMap::new(),
        symbolize,
    };
    b.string("");
    let objects = ValueType {
        r#type: b.string("inuse_objects"),
        unit: b.string("count"),
    };
    let space = ValueType {
        r#type: b.string("inuse_space"),
        unit: b.string("bytes"),
    };
    b.p.default_sample_type = space.r#type;
    b.p.sample_type = vec![objects, space];
    b.p.period_type = Some(ValueType {
        r#type: b.string("space"),
        unit: b.string("bytes"),
    });
    b.p.period = i64::try_from(meta.period).unwrap_or(i64::MAX);
    b.p.time_nanos = meta.t_unix.map_or(0, |t| (t * 1e9) as i64);
    b.p.duration_nanos = meta.duration_s.map_or(0, |d| (d * 1e9) as i64);
    b.p.comment = meta.comments.iter().map(|c| b.string(c)).collect();
    b.p.drop_frames = b.string(ALLOCATOR_FRAMES);
    for (i, m) in mappings.iter().enumerate() {
        let filename = b.string(&m.path);
        b.p.mapping.push(Mapping {
            id: i as u64 + 1,
            memory_start: m.start,
            memory_limit: m.end,
            file_offset: m.offset,
            filename,
            build_id: 0,
            has_functions: false,
            has_filenames: false,
            has_line_numbers: false,
            has_inline_frames: false,
        });
    }
    for s in stacks {
        let location_id = s.addrs.iter().map(|&a| b.location(a)).collect();
        b.p.sample.push(Sample {
            location_id,
            value: vec![s.objects.round() as i64, s.bytes.round() as i64],
        });
    }
    // A mapping whose locations all have lines is symbolized; pprof then
    // does not look for its file.
    let p = &mut b.p;
    for m in &mut p.mapping {
        let mine: Vec<&Location> = p.location.iter().filter(|l| l.mapping_id == m.id).collect();
        let all = !mine.is_empty() && mine.iter().all(|l| !l.line.is_empty());
        m.has_functions = all;
        m.has_filenames = all;
        m.has_line_numbers = all;
        m.has_inline_frames = all;
    }
    b.p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::heap_profile::parse;

    /// Two dumps of one process: a stack that grows from one 1 MiB object
    /// to three, one freed, one new.
    const FIRST: &str = "heap_v2/524288
  t*: 2: 1572864 [0: 0]
@ 0x1010 0x2020
  t*: 1: 1048576 [0: 0]
@ 0x1030
  t*: 1: 524288 [0: 0]

MAPPED_LIBRARIES:
00001000-00003000 r-xp 00000000 08:01 1234 /bin/app
";
    const LAST: &str = "heap_v2/524288
  t*: 4: 3670016 [0: 0]
@ 0x1010 0x2020
  t*: 3: 3145728 [0: 0]
@ 0x1040 0x9999
  t*: 1: 524288 [0: 0]

MAPPED_LIBRARIES:
00001000-00003000 r-xp 00000000 08:01 1234 /bin/app
";

    fn frames_of(addr: u64) -> Vec<Frame> {
        let f = |function: &str, line: u32| Frame {
            function: function.into(),
            file: Some("/src/app.rs".into()),
            line: Some(line),
        };
        match addr {
            // An inlined helper inside its caller.
            0x1010 => vec![f("app::helper", 7), f("app::retain", 21)],
            0x2020 => vec![f("app::main", 40)],
            0x1030 | 0x1040 => vec![f("app::cache", 9)],
            _ => vec![],
        }
    }

    #[test]
    fn the_growth_is_last_minus_first_per_stack_and_decodes_back() {
        let (first, last) = (parse(FIRST).unwrap(), parse(LAST).unwrap());
        let g = growth(&first, &last);
        let scale = 1.0 / (1.0 - (-2f64).exp());
        let half = 1.0 / (1.0 - (-1f64).exp());
        assert_eq!(g.len(), 3, "{g:?}");
        assert_eq!(g[0].addrs, [0x1010, 0x2020]);
        assert!((g[0].bytes - 2.0 * 1048576.0 * scale).abs() < 1e-6, "{g:?}");
        assert_eq!(
            (g[1].addrs.as_slice(), g[1].bytes),
            (&[0x1040, 0x9999][..], 524288.0 * half)
        );
        assert_eq!(
            (g[2].addrs.as_slice(), g[2].bytes),
            (&[0x1030][..], -524288.0 * half)
        );
        let meta = HeapMeta {
            period: first.period,
            t_unix: Some(1.7e9 + 10.0),
            duration_s: Some(10.0),
            comments: vec!["growth from a to b".into()],
        };
        let bytes = encode_gz(&heap(&g, &last.libraries, &mut frames_of, &meta));
        assert_eq!(&bytes[..2], [0x1f, 0x8b], "gzip");
        let p = decode_gz(&bytes).unwrap();
        assert_eq!(p.string(p.sample_type[1].r#type), "inuse_space");
        assert_eq!(p.string(p.sample_type[1].unit), "bytes");
        assert_eq!(p.string(p.sample_type[0].r#type), "inuse_objects");
        assert_eq!(p.string(p.default_sample_type), "inuse_space");
        assert_eq!(p.period, 524288);
        assert_eq!(p.duration_nanos, 10_000_000_000);
        assert_eq!(p.string(p.comment[0]), "growth from a to b");
        assert_eq!(p.string(p.drop_frames), ALLOCATOR_FRAMES);
        let space = p.value_index("inuse_space").unwrap();
        let values: Vec<i64> = p.sample.iter().map(|s| s.value[space]).collect();
        assert_eq!(
            values,
            [
                (2.0 * 1048576.0 * scale).round() as i64,
                (524288.0 * half).round() as i64,
                -(524288.0 * half).round() as i64
            ]
        );
        assert_eq!(
            p.sample[0].value[0],
            (2.0 * scale).round() as i64,
            "objects"
        );
        // The inlined helper and its caller are two lines of one location,
        // innermost first.
        assert_eq!(
            p.functions(&p.sample[0]),
            ["app::helper", "app::retain", "app::main"]
        );
        let loc = &p.location[0];
        assert_eq!((loc.address, loc.line.len()), (0x100f, 2));
        assert_eq!((loc.line[0].line, loc.line[1].line), (7, 21));
        // 0x9999 is outside the mapping and unknown: a bare address.
        let bare = p.location.iter().find(|l| l.address == 0x9998).unwrap();
        assert!(bare.line.is_empty() && bare.mapping_id == 0, "{bare:?}");
        assert_eq!(p.mapping.len(), 1);
        assert_eq!(p.string(p.mapping[0].filename), "/bin/app");
        assert!(p.mapping[0].has_functions);
    }

    #[test]
    fn a_snapshot_is_its_stacks_and_an_unchanged_stack_is_no_growth() {
        let last = parse(LAST).unwrap();
        assert!(growth(&last, &last).is_empty());
        let p = heap(
            &stacks_of(&last),
            &last.libraries,
            &mut |_| vec![],
            &HeapMeta::default(),
        );
        let total: i64 = p.sample.iter().map(|s| s.value[1]).sum();
        assert_eq!(total, last.bytes().round() as i64);
        // Nothing symbolized: pprof must look the mapping's file up itself.
        assert!(!p.mapping[0].has_functions);
    }

    #[test]
    fn other_bytes_are_one_line_errors() {
        let e = decode_gz(b"not gzip").unwrap_err();
        assert!(e.to_string().starts_with("not a gzipped pprof"), "{e}");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[0xff, 0xff, 0xff]).unwrap();
        let e = decode_gz(&gz.finish().unwrap()).unwrap_err();
        assert!(e.to_string().starts_with("not a pprof profile"), "{e}");
    }
}
