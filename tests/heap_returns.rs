//! The leak unit test to copy: after a warm-up, more batches through an
//! in-process embedder must leave the live heap where it was.
//!
//! dhat is this test binary's global allocator, so it counts every block
//! exactly: no sampling, no statistics, no allocator caches in the way. Copy
//! `after_warm_up` and one test below, put your embedder in, and it fails
//! the day a batch starts keeping memory. On failure `dhat::assert!` writes
//! the profile (see `profile`) for DHAT's viewer, dh_view.html, which names
//! the allocation sites still live.

mod common;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use memsoak::backend::Embedder;
use memsoak::backend::synthetic::{Behaviour, SyntheticEmbedder, SyntheticOptions};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Batches before the level is taken: buffers and caches fill up here.
const WARM_UP: usize = 3;
/// Batches after it.
const BATCHES: usize = 20;
/// Growth of the live heap over [`BATCHES`] (in each window) that still passes, in bytes: a
/// leak of more than ~50 bytes a batch fails.
const TOLERANCE: i64 = 1024;

/// dhat allows one profiler per process, and the test runner runs tests on
/// parallel threads that allocate too: each test holds this from its start
/// (before its embedder loads) to its end.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a failing `dhat::assert!` writes the profile of `test`.
fn profile(test: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("dhat-heap-{test}.json"))
}

/// Embed `batch` [`WARM_UP`] times, take the live heap, embed it
/// [`BATCHES`] more times, twice, and hand the smaller of the two windows'
/// growth in bytes to `check` while dhat still profiles (so a
/// `dhat::assert!` there can write the profile).
///
/// NOTE: the smaller of two windows, because dhat counts every thread of
/// the process: the test runner's own thread records a test that just
/// finished (its captured output, its result) while the next one measures,
/// and a CI run saw the synthetic embedder "grow" 12,430 bytes in one
/// window that way. A leak grows the heap in both windows; such a one-off
/// lands in one.
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
    let middle = live();
    (0..BATCHES).for_each(|_| embed());
    let now = live();
    eprintln!(
        "{test}: live heap {level} B after warm-up, {middle} B {BATCHES} batches later, \
         {now} B after {BATCHES} more"
    );
    check((middle - level).min(now - middle))
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

#[test]
fn synthetic_heap_returns_after_warm_up() {
    let _one = one_at_a_time();
    let mut e = synthetic(Behaviour::None);
    after_warm_up("synthetic", &mut e, &texts(16), |grown| {
        dhat::assert!(grown <= TOLERANCE, "live heap grew {grown} bytes");
    });
}

#[test]
fn the_same_check_catches_an_injected_leak() {
    // 64 bytes kept per item: 16 KiB over the 20 batches of 16 texts.
    let _one = one_at_a_time();
    let mut e = synthetic(Behaviour::Linear { bytes_per_item: 64 });
    let grown = after_warm_up("synthetic-leak", &mut e, &texts(16), |grown| grown);
    let kept = (64 * 16 * BATCHES) as i64;
    assert!(
        grown > TOLERANCE && grown >= kept,
        "the check missed the leak: the live heap grew {grown} bytes, {kept} kept on purpose"
    );
}

#[cfg(feature = "candle")]
#[test]
fn candle_heap_returns_after_warm_up() {
    use memsoak::backend::candle::{CandleEmbedder, CandleOptions, resolve_model_dir};

    let _one = one_at_a_time();
    let model_dir = match resolve_model_dir(None) {
        Ok(dir) => dir,
        Err(e) => {
            return common::cannot_run(
                "candle_heap_returns_after_warm_up",
                &format!("{e} (CI runs ci/fetch-model.sh first)"),
            );
        }
    };
    let mut e = CandleEmbedder::load(&CandleOptions {
        model_dir: Some(model_dir),
        ..CandleOptions::default()
    })
    .expect("loading the model failed");
    after_warm_up("candle", &mut e, &texts(8), |grown| {
        dhat::assert!(grown <= TOLERANCE, "live heap grew {grown} bytes");
    });
}
