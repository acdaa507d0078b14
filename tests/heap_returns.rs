//! The leak unit test to copy: after a warm-up, more batches through an
//! in-process embedder must leave the live heap where it was.
//!
//! dhat is this test binary's global allocator, so it counts every block
//! exactly: no sampling, no statistics, no allocator caches in the way. Copy
//! `after_warm_up`, `main` and one check below, put your embedder in, and it
//! fails the day a batch starts keeping memory. On failure `dhat::assert!`
//! writes the profile (see `profile`) for DHAT's viewer, dh_view.html, which
//! names the allocation sites still live.
//!
//! dhat counts the blocks of every thread in the process, so nothing else
//! may allocate while a check measures. libtest does: it runs tests on
//! parallel threads and, on its own thread, stores a finished test's
//! captured output and result; CI runs saw the synthetic embedder "grow"
//! 2,072 and 12,430 bytes that way (4 runs in 30 here failed). So this file
//! is its own harness (`harness = false` in Cargo.toml): libtest-mimic keeps
//! `cargo test`'s filters and report, and runs the checks one after another
//! on the main thread, capturing nothing.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};

use memsoak::backend::Embedder;
use memsoak::backend::synthetic::{Behaviour, SyntheticEmbedder, SyntheticOptions};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Batches before the level is taken: buffers and caches fill up here.
const WARM_UP: usize = 3;
/// Batches after it.
const BATCHES: usize = 20;
/// Growth of the live heap over [`BATCHES`] that still passes, in bytes: a
/// leak of more than ~50 bytes a batch fails.
const TOLERANCE: i64 = 1024;

/// Where a failing `dhat::assert!` writes the profile of `test`.
fn profile(test: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("dhat-heap-{test}.json"))
}

/// Embed `batch` [`WARM_UP`] times, take the live heap, embed it
/// [`BATCHES`] more times and hand the growth in bytes to `check` while dhat
/// still profiles (so a `dhat::assert!` there can write the profile).
fn after_warm_up<R>(
    test: &str,
    embedder: &mut dyn Embedder,
    batch: &[String],
    check: impl FnOnce(i64) -> R,
) -> R {
    let _profiler = dhat::Profiler::builder()
        .testing()
        .file_name(profile(test))
        .build();
    let mut embed = || {
        let out = embedder.embed(batch).expect("embed failed");
        assert_eq!(out.count(), batch.len());
    };
    let live = || dhat::HeapStats::get().curr_bytes as i64;
    (0..WARM_UP).for_each(|_| embed());
    let level = live();
    (0..BATCHES).for_each(|_| embed());
    let now = live();
    eprintln!("{test}: live heap {level} B after warm-up, {now} B {BATCHES} batches later");
    check(now - level)
}

fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("sentence number {i} about memory that should be freed"))
        .collect()
}

fn synthetic(behaviour: Behaviour) -> SyntheticEmbedder {
    SyntheticEmbedder::new(SyntheticOptions {
        cost_per_item: Duration::ZERO,
        behaviour,
        ..SyntheticOptions::default()
    })
}

/// The checks, one after another on this (the main) thread: see the
/// file's head for why.
fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    #[allow(unused_mut)] // the candle check joins under the candle feature
    let mut trials = vec![
        Trial::test(
            "synthetic_heap_returns_after_warm_up",
            synthetic_heap_returns,
        ),
        Trial::test(
            "the_same_check_catches_an_injected_leak",
            injected_leak_caught,
        ),
    ];
    #[cfg(feature = "candle")]
    trials.push(Trial::test(
        "candle_heap_returns_after_warm_up",
        candle_heap_returns,
    ));
    libtest_mimic::run(&args, trials).exit_code()
}

/// The check itself: [`after_warm_up`], and at most [`TOLERANCE`] bytes of
/// growth (`dhat::assert!`, so a failure writes the profile).
fn heap_returns(test: &str, embedder: &mut dyn Embedder, batch: &[String]) -> Result<(), Failed> {
    after_warm_up(test, embedder, batch, |grown| {
        dhat::assert!(grown <= TOLERANCE, "live heap grew {grown} bytes");
    });
    Ok(())
}

fn synthetic_heap_returns() -> Result<(), Failed> {
    heap_returns("synthetic", &mut synthetic(Behaviour::None), &texts(16))
}

fn injected_leak_caught() -> Result<(), Failed> {
    // 64 bytes kept per item: 20 KiB over the 20 batches of 16 texts.
    let mut e = synthetic(Behaviour::Linear { bytes_per_item: 64 });
    let grown = after_warm_up("synthetic-leak", &mut e, &texts(16), |grown| grown);
    let kept = (64 * 16 * BATCHES) as i64;
    if grown > TOLERANCE && grown >= kept {
        Ok(())
    } else {
        Err(format!(
            "the check missed the leak: the live heap grew {grown} bytes, {kept} kept on purpose"
        )
        .into())
    }
}

#[cfg(feature = "candle")]
fn candle_heap_returns() -> Result<(), Failed> {
    use memsoak::backend::candle::{CandleEmbedder, CandleOptions, resolve_model_dir};

    let model_dir = match resolve_model_dir(None) {
        Ok(dir) => dir,
        Err(e) => {
            common::cannot_run(
                "candle_heap_returns_after_warm_up",
                &format!("{e} (CI runs ci/fetch-model.sh first)"),
            );
            return Ok(());
        }
    };
    let mut e = CandleEmbedder::load(&CandleOptions {
        model_dir: Some(model_dir),
        ..CandleOptions::default()
    })
    .expect("loading the model failed");
    heap_returns("candle", &mut e, &texts(8))
}
