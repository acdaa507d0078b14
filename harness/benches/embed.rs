//! Throughput of the candle backend: sentences per second at batch 32.
//!
//! `cargo bench --features candle --bench embed [-- --batches N --repeat R --shapes]`
//!
//! Two workloads, both deterministic: *fixed* (every text exactly 93 tokens,
//! special tokens included) and *variable* (uniform 4..=300 tokens, so some
//! are truncated at 256). Each is embedded in batches of 32 (N batches,
//! default 4) after one warm-up batch, like memsoak's pipeline drives the
//! backend, R times (default 3); the best pass is reported, since on a
//! shared machine contention only ever slows a pass down. The texts are
//! written to `target/embed-bench-texts.json` so
//! `ci/bench_sentence_transformers.py` can time sentence-transformers on
//! exactly the same batches. `--shapes` instead times single passes of
//! rows × tokens shapes (what the length-grouping constants were fitted on).
//!
//! The allocator is jemalloc, as in the memsoak binary, so the effect of its
//! decay settings can be measured: run once plain and once with
//! `_RJEM_MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1`. Thread count
//! follows `RAYON_NUM_THREADS` (candle's default: one per physical core).

use std::path::{Path, PathBuf};
use std::time::Instant;

use memsoak::backend::Embedder;
use memsoak::backend::candle::{CandleEmbedder, CandleOptions, resolve_model_dir};
use tokenizers::Tokenizer;

#[global_allocator]
static A: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const BATCH: usize = 32;
const FIXED_TOKENS: usize = 93;

/// Words to build texts from: ordinary English, one token each for the most
/// part, so lengths are easy to hit exactly.
const WORDS: &[&str] = &[
    "memory",
    "leak",
    "service",
    "request",
    "batch",
    "model",
    "vector",
    "text",
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "with",
    "as",
    "was",
    "on",
    "be",
    "at",
    "by",
    "this",
    "had",
    "not",
    "are",
    "but",
    "from",
    "or",
    "have",
    "an",
    "they",
    "which",
    "one",
    "you",
    "were",
    "all",
    "we",
    "when",
    "your",
    "can",
    "said",
    "there",
    "use",
    "each",
    "how",
    "their",
    "if",
    "will",
    "up",
    "other",
    "about",
    "out",
    "many",
    "then",
    "them",
    "these",
    "so",
    "some",
    "would",
    "make",
    "like",
    "into",
    "time",
    "has",
    "look",
    "two",
    "more",
    "write",
    "go",
    "see",
    "number",
    "no",
    "way",
    "could",
    "people",
    "my",
    "than",
    "first",
    "water",
    "been",
    "call",
    "who",
    "its",
    "now",
    "find",
    "long",
    "down",
    "day",
    "did",
    "get",
    "come",
    "made",
    "may",
    "part",
    "server",
    "process",
    "thread",
    "allocator",
    "cache",
    "queue",
    "tokenizer",
    "embedding",
    "search",
    "index",
    "query",
    "latency",
    "throughput",
    "night",
    "morning",
    "slowly",
    "quickly",
    "growing",
    "stable",
    "plateau",
    "sample",
    "trend",
    "kernel",
    "page",
];

/// xorshift64*: tiny, deterministic, good enough to pick words.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Token count of `text` with special tokens and without truncation.
fn tokens(tok: &Tokenizer, text: &str) -> usize {
    tok.encode(text, true).map(|e| e.len()).unwrap_or(0)
}

/// A sentence-like text of exactly (or just over) `target` tokens.
fn text_of(tok: &Tokenizer, rng: &mut Rng, target: usize) -> String {
    let mut text = String::new();
    let mut capital = true;
    while tokens(tok, &text) < target {
        let word = WORDS[rng.below(WORDS.len())];
        if !text.is_empty() {
            text.push(' ');
        }
        if capital {
            let mut chars = word.chars();
            if let Some(c) = chars.next() {
                text.extend(c.to_uppercase());
                text.push_str(chars.as_str());
            }
        } else {
            text.push_str(word);
        }
        capital = false;
        if rng.below(9) == 0 && tokens(tok, &text) + 1 < target {
            text.push('.');
            capital = true;
        }
    }
    text
}

struct Figures {
    /// Sentences/s of the fastest pass: contention from other processes on a
    /// shared machine only ever slows a pass down, so the best one is the
    /// most repeatable figure.
    best: f64,
    /// Sentences/s of the median pass.
    median: f64,
    /// Sentences per CPU-second (user + system, all threads) of the pass
    /// that used least CPU: robust to contention with one thread, and with
    /// more it shows what the extra threads cost.
    per_cpu_sec: f64,
    mean_tokens: f64,
}

/// CPU time of this process so far (all threads), in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn measure(e: &mut CandleEmbedder, texts: &[String], tok: &Tokenizer, repeat: usize) -> Figures {
    let batches: Vec<&[String]> = texts.chunks(BATCH).collect();
    let run = |e: &mut CandleEmbedder, batch: &[String]| {
        if let Err(err) = e.embed(batch) {
            eprintln!("embed failed: {err}");
            std::process::exit(1);
        }
    };
    // One warm-up batch: first-touch page faults and lazy pool start-up are
    // not steady-state cost.
    if let Some(first) = batches.first() {
        run(e, first);
    }
    let mut rates = Vec::new();
    let mut cpu_rates = Vec::new();
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        let cpu = cpu_seconds();
        for batch in &batches {
            run(e, batch);
        }
        rates.push(texts.len() as f64 / start.elapsed().as_secs_f64());
        cpu_rates.push(texts.len() as f64 / (cpu_seconds() - cpu).max(1e-9));
    }
    rates.sort_by(f64::total_cmp);
    cpu_rates.sort_by(f64::total_cmp);
    let used: usize = texts.iter().map(|t| tokens(tok, t).min(256)).sum();
    Figures {
        best: rates[rates.len() - 1],
        median: rates[rates.len() / 2],
        per_cpu_sec: cpu_rates[cpu_rates.len() - 1],
        mean_tokens: used as f64 / texts.len() as f64,
    }
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |pages| pages * 4096.0 / (1024.0 * 1024.0))
}

fn jemalloc_decay() -> String {
    // SAFETY: both names are jemalloc `ssize_t` options, read as isize.
    let read = |name: &[u8]| unsafe { tikv_jemalloc_ctl::raw::read::<isize>(name) };
    match (read(b"opt.dirty_decay_ms\0"), read(b"opt.muzzy_decay_ms\0")) {
        (Ok(d), Ok(m)) => format!("dirty_decay_ms={d} muzzy_decay_ms={m}"),
        _ => "unknown".into(),
    }
}

fn main() {
    let mut n_batches = 4usize;
    let mut repeat = 3usize;
    let mut shapes = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--batches" {
            n_batches = args
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(n_batches);
        }
        if arg == "--repeat" {
            repeat = args.next().and_then(|v| v.parse().ok()).unwrap_or(repeat);
        }
        if arg == "--shapes" {
            shapes = true;
        }
    }

    let dir = match resolve_model_dir(None) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let tok = match Tokenizer::from_file(dir.join("tokenizer.json")) {
        Ok(mut t) => {
            t.with_padding(None);
            match t.with_truncation(None) {
                Ok(_) => t,
                Err(e) => {
                    eprintln!("tokenizer: {e}");
                    std::process::exit(2);
                }
            }
        }
        Err(e) => {
            eprintln!("tokenizer: {e}");
            std::process::exit(2);
        }
    };

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    if shapes {
        let mut e = match CandleEmbedder::load(&CandleOptions {
            model_dir: Some(dir.clone()),
            ..CandleOptions::default()
        }) {
            Ok(e) => e,
            Err(err) => {
                eprintln!("{err}");
                std::process::exit(2);
            }
        };
        for len in [8usize, 16, 32, 64, 128, 256] {
            for rows in [1usize, 2, 4, 8, 16, 32] {
                let texts: Vec<String> = (0..rows).map(|_| text_of(&tok, &mut rng, len)).collect();
                let _ = e.embed(&texts);
                let mut best = f64::MAX;
                for _ in 0..3 {
                    let t = Instant::now();
                    let _ = e.embed(&texts);
                    best = best.min(t.elapsed().as_secs_f64());
                }
                println!(
                    "shape len {len:3} rows {rows:2}: {:8.2} ms  {:7.1} us/token",
                    best * 1e3,
                    best * 1e6 / (rows * len) as f64
                );
            }
        }
        return;
    }
    let n = n_batches * BATCH;
    let fixed: Vec<String> = (0..n)
        .map(|_| text_of(&tok, &mut rng, FIXED_TOKENS))
        .collect();
    let variable: Vec<String> = (0..n)
        .map(|_| {
            let target = 4 + rng.below(297);
            text_of(&tok, &mut rng, target)
        })
        .collect();
    write_texts(&dir, &fixed, &variable);

    let mut e = match CandleEmbedder::load(&CandleOptions {
        model_dir: Some(dir),
        ..CandleOptions::default()
    }) {
        Ok(e) => e,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(2);
        }
    };
    let info = e.info();
    println!(
        "candle embed bench: model {} | threads {} | RAYON_NUM_THREADS={} | jemalloc {} ({})",
        info.model.unwrap_or_default(),
        info.details
            .get("threads")
            .map(ToString::to_string)
            .unwrap_or_default(),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into()),
        jemalloc_decay(),
        std::env::var("_RJEM_MALLOC_CONF").map_or("_RJEM_MALLOC_CONF unset".into(), |v| format!(
            "_RJEM_MALLOC_CONF={v}"
        )),
    );
    for (name, texts) in [("fixed", &fixed), ("variable", &variable)] {
        let f = measure(&mut e, texts, &tok, repeat);
        println!(
            "{name:>8}: {:7.1} sentences/s best, {:7.1} median of {repeat}, {:7.1} per CPU-second  (batch {BATCH}, {} texts, mean {:.1} tokens/text after truncation, rss {:.0} MiB)",
            f.best,
            f.median,
            f.per_cpu_sec,
            texts.len(),
            f.mean_tokens,
            rss_mib()
        );
    }
}

/// Write the texts for `ci/bench_sentence_transformers.py` next to the
/// build output (best effort: the bench itself does not need them).
fn write_texts(model_dir: &Path, fixed: &[String], variable: &[String]) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("embed-bench-texts.json");
    let doc = serde_json::json!({
        "model_dir": model_dir.display().to_string(),
        "batch_size": BATCH,
        "fixed": fixed,
        "variable": variable,
    });
    if let Err(e) = std::fs::write(&path, doc.to_string()) {
        eprintln!("note: could not write {}: {e}", path.display());
    }
}
