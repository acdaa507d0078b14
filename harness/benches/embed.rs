//! Throughput of the candle backend: sentences per second at batch 32.
//!
//! `cargo bench --profile dev --bench embed [-- --batches N --repeat R
//!  --threads T --split passes|operations --decay on|off
//!  --encoder memsoak|candle-transformers --shapes | --sweep [--rounds K]]`
//!
//! Two workloads, both deterministic: *fixed* (every text exactly 93 tokens,
//! special tokens included) and *variable* (uniform 4..=300 tokens, so some
//! are truncated at 256). Each is embedded in batches of 32 (N batches,
//! default 4) after one warm-up batch, like memsoak's pipeline drives the
//! backend, R times (default 3); the best pass is reported, since on a
//! shared machine contention only ever slows a pass down. The texts are
//! written to `target/embed-bench-texts.json` and the figures to
//! `target/embed-bench-figures.json`, so `ci/bench_sentence_transformers.py`
//! can time sentence-transformers on exactly the same batches and print the
//! ratio. `--shapes` instead times single passes of rows × tokens shapes
//! (what the length-grouping constants were fitted on).
//!
//! The allocator is jemalloc, as in the memsoak binary, with its own page
//! decay as `memsoak run` leaves it (`--decay on`, the default;
//! `_RJEM_MALLOC_CONF` overrides it as it does for memsoak). `--decay off`
//! turns decay off ([`memsoak::sample::jemalloc::disable_decay`], what
//! `memsoak run` did for candle until it was seen to make RSS a staircase),
//! to measure what that would buy. Threads: `--threads T`, else memsoak's default
//! ([`memsoak::backend::candle::default_threads`]), sharing each batch by
//! forward passes (`--split passes`, memsoak's default) or inside every
//! operation (`--split operations`, candle's own threading). `--encoder`
//! picks the forward pass: memsoak's own BERT encoder (the default) or
//! candle-transformers' `BertModel`, to compare the two.
//!
//! `--sweep` runs this bench once per setting (threads 1..=max(4, 2 × CPUs)
//! capped at 8, each split both ways with decay on, and by passes with
//! decay off), in fresh processes since
//! candle's thread pools are sized once per process, over K rounds
//! (default 2) with the settings interleaved, and prints the best of each.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{load_average, process_cpu};

use memsoak::backend::Embedder;
use memsoak::backend::candle::{
    CandleEmbedder, CandleOptions, Encoder, ThreadSplit, resolve_model_dir,
};
use serde_json::json;
use tokenizers::Tokenizer;

#[global_allocator]
static A: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// NOTE: jemalloc's options as `memsoak run` has them (profiling built in,
// inactive), so the bench measures the allocator users run.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: Option<&'static std::ffi::c_char> =
    // SAFETY: a pointer to the first byte of a static C string.
    Some(unsafe { &*memsoak::sample::heap_profile::MALLOC_CONF.as_ptr() });

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
        let cpu = process_cpu();
        for batch in &batches {
            run(e, batch);
        }
        rates.push(texts.len() as f64 / start.elapsed().as_secs_f64());
        cpu_rates.push(texts.len() as f64 / (process_cpu() - cpu).max(1e-9));
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

/// The decay settings new and existing arenas run with now (the `opt.*`
/// values only say how jemalloc started; memsoak changes them at run time).
fn jemalloc_decay() -> String {
    // SAFETY: both names are jemalloc `ssize_t` settings, read as isize.
    let read = |name: &[u8]| unsafe { tikv_jemalloc_ctl::raw::read::<isize>(name) };
    match (
        read(b"arenas.dirty_decay_ms\0"),
        read(b"arenas.muzzy_decay_ms\0"),
    ) {
        (Ok(d), Ok(m)) => format!("dirty_decay_ms={d} muzzy_decay_ms={m}"),
        _ => "unknown".into(),
    }
}

/// What one invocation was asked to do.
struct Args {
    n_batches: usize,
    repeat: usize,
    shapes: bool,
    sweep: bool,
    rounds: usize,
    threads: Option<usize>,
    split: ThreadSplit,
    encoder: Encoder,
    decay_off: bool,
    json: bool,
    texts: Option<PathBuf>,
}

fn parse_args() -> Args {
    // NOTE: `cargo test --all-targets` runs this without `--bench`: then it
    // is a smoke test (one batch, once), not a measurement.
    let smoke = !std::env::args().any(|a| a == "--bench");
    if smoke {
        println!(
            "embed bench: smoke run (cargo test, one batch): not a measurement; see cargo bench"
        );
    }
    let mut a = Args {
        n_batches: if smoke { 1 } else { 4 },
        repeat: if smoke { 1 } else { 3 },
        shapes: false,
        sweep: false,
        rounds: 2,
        threads: None,
        split: ThreadSplit::default(),
        encoder: Encoder::default(),
        decay_off: false,
        json: false,
        texts: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut num = |name: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| die(&format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--batches" => a.n_batches = num("--batches"),
            "--repeat" => a.repeat = num("--repeat"),
            "--rounds" => a.rounds = num("--rounds"),
            "--threads" => a.threads = Some(num("--threads")),
            "--shapes" => a.shapes = true,
            "--sweep" => a.sweep = true,
            "--json" => a.json = true,
            "--texts" => {
                a.texts = Some(
                    args.next()
                        .map(PathBuf::from)
                        .unwrap_or_else(|| die("--texts FILE")),
                )
            }
            "--split" => {
                a.split = match args.next().as_deref() {
                    Some("passes") => ThreadSplit::Passes,
                    Some("operations") => ThreadSplit::Operations,
                    _ => die("--split passes|operations"),
                }
            }
            "--encoder" => {
                a.encoder = match args.next().as_deref() {
                    Some("memsoak") => Encoder::Memsoak,
                    Some("candle-transformers") => Encoder::CandleTransformers,
                    _ => die("--encoder memsoak|candle-transformers"),
                }
            }
            "--decay" => match args.next().as_deref() {
                Some("on") => a.decay_off = false,
                Some("off") => a.decay_off = true,
                _ => die("--decay on|off"),
            },
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            other => die(&format!("unknown argument {other}")),
        }
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("embed bench: {msg}");
    std::process::exit(2)
}

fn main() {
    let args = parse_args();
    if args.sweep {
        return sweep(&args);
    }
    // Before anything allocates much.
    let decay = if args.decay_off {
        memsoak::sample::jemalloc::disable_decay()
    } else {
        None
    };

    let (dir, tok) = model_and_tokenizer();
    let load = |dir: &Path| {
        CandleEmbedder::load(&CandleOptions {
            model_dir: Some(dir.to_path_buf()),
            threads: args.threads,
            split: args.split,
            encoder: args.encoder,
            ..CandleOptions::default()
        })
        .unwrap_or_else(|e| die(&e.to_string()))
    };

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    if args.shapes {
        let mut e = load(&dir);
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
    let (fixed, variable) = match &args.texts {
        Some(path) => read_texts(path),
        None => {
            let t = make_texts(&tok, &mut rng, args.n_batches);
            write_texts(&dir, &t.0, &t.1);
            t
        }
    };

    let mut e = load(&dir);
    let info = e.info();
    let threads = info
        .details
        .get("threads")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let decay_text = jemalloc_decay();
    if !args.json {
        println!(
            "candle embed bench: model {} | encoder {} | threads {threads} ({}) | jemalloc {decay_text} ({}) | load average {}",
            info.model.unwrap_or_default(),
            args.encoder.as_str(),
            args.split.as_str(),
            match (decay, std::env::var("_RJEM_MALLOC_CONF")) {
                (_, Ok(v)) => format!("_RJEM_MALLOC_CONF={v}"),
                (Some(_), _) => "decay off (--decay off)".into(),
                (None, _) => "jemalloc defaults, as memsoak run leaves them".into(),
            },
            load_average(),
        );
    }
    let mut figures = serde_json::Map::new();
    for (name, texts) in [("fixed", &fixed), ("variable", &variable)] {
        let f = measure(&mut e, texts, &tok, args.repeat);
        if !args.json {
            println!(
                "{name:>8}: {:7.1} sentences/s best, {:7.1} median of {}, {:7.1} per CPU-second  (batch {BATCH}, {} texts, mean {:.1} tokens/text after truncation, rss {:.0} MiB)",
                f.best,
                f.median,
                args.repeat,
                f.per_cpu_sec,
                texts.len(),
                f.mean_tokens,
                rss_mib()
            );
        }
        figures.insert(
            name.into(),
            json!({
                "best": f.best,
                "median": f.median,
                "per_cpu_sec": f.per_cpu_sec,
                "texts": texts.len(),
                "mean_tokens": f.mean_tokens,
            }),
        );
    }
    let doc = json!({
        "backend": "candle",
        "threads": threads,
        "split": args.split.as_str(),
        "encoder": args.encoder.as_str(),
        "decay": if decay.is_some() { "off" } else { "jemalloc" },
        "jemalloc": decay_text,
        "batch_size": BATCH,
        "figures": figures,
    });
    if args.json {
        println!("{doc}");
    } else {
        let path = target_dir().join("embed-bench-figures.json");
        if let Err(e) = std::fs::write(&path, doc.to_string()) {
            eprintln!("note: could not write {}: {e}", path.display());
        }
    }
}

/// The model directory and its tokenizer, without truncation or padding
/// (to count tokens exactly).
fn model_and_tokenizer() -> (PathBuf, Tokenizer) {
    let dir = match resolve_model_dir(None) {
        Ok(dir) => dir,
        Err(e) => die(&e.to_string()),
    };
    let tok = match Tokenizer::from_file(dir.join("tokenizer.json")) {
        Ok(mut t) => {
            t.with_padding(None);
            match t.with_truncation(None) {
                Ok(_) => t,
                Err(e) => die(&format!("tokenizer: {e}")),
            }
        }
        Err(e) => die(&format!("tokenizer: {e}")),
    };
    (dir, tok)
}

/// The fixed and variable workloads, `n_batches` batches each.
fn make_texts(tok: &Tokenizer, rng: &mut Rng, n_batches: usize) -> (Vec<String>, Vec<String>) {
    let n = n_batches * BATCH;
    let fixed = (0..n).map(|_| text_of(tok, rng, FIXED_TOKENS)).collect();
    let variable = (0..n)
        .map(|_| {
            let target = 4 + rng.below(297);
            text_of(tok, rng, target)
        })
        .collect();
    (fixed, variable)
}

/// Texts written by [`write_texts`] (the sweep's children reuse them).
fn read_texts(path: &Path) -> (Vec<String>, Vec<String>) {
    let doc: serde_json::Value = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| die(&format!("cannot read texts from {}", path.display())));
    let list = |k: &str| -> Vec<String> {
        doc[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    (list("fixed"), list("variable"))
}

/// `--sweep`: every thread count and decay setting in its own process,
/// interleaved over rounds; the best of each.
fn sweep(args: &Args) {
    let exe = std::env::current_exe().unwrap_or_else(|e| die(&e.to_string()));
    // Generate the texts once; every child embeds the same ones.
    let (dir, tok) = model_and_tokenizer();
    let (fixed, variable) = make_texts(&tok, &mut Rng(0x9E37_79B9_7F4A_7C15), args.n_batches);
    let texts = write_texts(&dir, &fixed, &variable);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let max_threads = (2 * cpus).clamp(4, 8);
    // Each thread count with decay on (as memsoak runs) split both ways,
    // and with decay off as memsoak splits by default (one thread splits
    // nothing).
    let settings: Vec<(usize, ThreadSplit, bool)> = (1..=max_threads)
        .flat_map(|t| {
            let ops = (t > 1).then_some((t, ThreadSplit::Operations, false));
            [(t, ThreadSplit::Passes, false)]
                .into_iter()
                .chain(ops)
                .chain([(t, ThreadSplit::Passes, true)])
        })
        .collect();
    println!(
        "candle thread sweep: {cpus} CPUs, threads 1..={max_threads} split by passes and by operations, decay on (jemalloc default, as memsoak runs) and off, {} rounds x {} passes of {} batches of {BATCH}; load average {}",
        args.rounds,
        args.repeat,
        args.n_batches,
        load_average()
    );
    // (fixed best, variable best, fixed per CPU-s, variable per CPU-s)
    let mut best = vec![[0f64; 4]; settings.len()];
    for round in 0..args.rounds.max(1) {
        for (k, &(threads, split, decay_off)) in settings.iter().enumerate() {
            let mut cmd = std::process::Command::new(&exe);
            cmd.args(["--json", "--threads", &threads.to_string()])
                .args(["--split", split.as_str()])
                .args(["--encoder", args.encoder.as_str()])
                .arg("--texts")
                .arg(&texts)
                .args(["--batches", &args.n_batches.to_string()])
                .args(["--repeat", &args.repeat.to_string()])
                .args(["--decay", if decay_off { "off" } else { "on" }])
                .env_remove("RAYON_NUM_THREADS")
                .env_remove("CANDLE_NUM_THREADS")
                .env_remove("_RJEM_MALLOC_CONF");
            let out = cmd.output().unwrap_or_else(|e| die(&e.to_string()));
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
                die(&format!(
                    "threads {threads}: no figures: {}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            });
            let get = |w: &str, k: &str| doc["figures"][w][k].as_f64().unwrap_or(0.0);
            let now = [
                get("fixed", "best"),
                get("variable", "best"),
                get("fixed", "per_cpu_sec"),
                get("variable", "per_cpu_sec"),
            ];
            for (b, v) in best[k].iter_mut().zip(now) {
                *b = b.max(v);
            }
            eprintln!(
                "  round {} threads {threads} {:10} decay {}: fixed {:.1}/s variable {:.1}/s",
                round + 1,
                split.as_str(),
                if decay_off { "off" } else { "on " },
                now[0],
                now[1]
            );
        }
    }
    println!(
        "threads  split       decay | fixed sent/s  variable sent/s | fixed /CPU-s  variable /CPU-s"
    );
    for (&(threads, split, decay_off), b) in settings.iter().zip(&best) {
        println!(
            "{threads:7}  {:10}  {:5} | {:12.1}  {:15.1} | {:12.1}  {:15.1}",
            split.as_str(),
            if decay_off { "off" } else { "on" },
            b[0],
            b[1],
            b[2],
            b[3]
        );
    }
    let score = |b: &[f64; 4]| b[0] + b[1];
    if let Some((k, _)) = best
        .iter()
        .enumerate()
        .max_by(|x, y| score(x.1).total_cmp(&score(y.1)))
    {
        let (threads, split, decay_off) = settings[k];
        println!(
            "fastest (fixed + variable sentences/s): threads {threads}, split by {}, decay {}",
            split.as_str(),
            if decay_off { "off" } else { "on" }
        );
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Write the texts for `ci/bench_sentence_transformers.py` next to the
/// build output (best effort: the bench itself does not need them).
fn write_texts(model_dir: &Path, fixed: &[String], variable: &[String]) -> PathBuf {
    let path = target_dir().join("embed-bench-texts.json");
    let doc = serde_json::json!({
        "model_dir": model_dir.display().to_string(),
        "batch_size": BATCH,
        "fixed": fixed,
        "variable": variable,
    });
    if let Err(e) = std::fs::write(&path, doc.to_string()) {
        eprintln!("note: could not write {}: {e}", path.display());
    }
    path
}
