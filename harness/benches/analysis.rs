//! Cost of the leak analysis on a day at 10 Hz (864 000 samples): a slow
//! leak plus noise plus a GC sawtooth, the largest input memsoak produces.
//! The statistics on one series, then what `memsoak analyze` really does:
//! read a `samples.csv` of ten metrics and analyse every one of them (a
//! warm-up cut and two drift fits each, against time and against items).
//! Target: the analysis ≤ 1 s.

use criterion::{Criterion, criterion_group, criterion_main};
use memsoak::analysis::threshold::defaults as default_thresholds;
use memsoak::analysis::{AnalysisOptions, DEFAULT_MIN_GROWTH, Warmup, analyze};
use memsoak::runfolder::samples::{Recorder, read_samples};
use memsoak::sample::Metric;
use memsoak::stats::{drift, warmup_end};
use std::hint::black_box;

const N: usize = 864_000;
use memsoak::units::MIB;

/// x in seconds, y in bytes: 200 MiB + 1 MiB/min + 300 MiB ramps every 10 s
/// + Gaussian noise (σ 4 MiB) from a small xorshift + Box–Muller.
fn day_at_10hz() -> (Vec<f64>, Vec<f64>) {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut uniform = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let x: Vec<f64> = (0..N).map(|i| i as f64 / 10.0).collect();
    let y = x
        .iter()
        .map(|&t| {
            let noise = (-2.0 * (1.0 - uniform()).ln()).sqrt()
                * (2.0 * std::f64::consts::PI * uniform()).cos();
            200.0 * MIB + MIB / 60.0 * t + 300.0 * MIB * (t / 10.0).fract() + 4.0 * MIB * noise
        })
        .collect();
    (x, y)
}

fn bench(c: &mut Criterion) {
    let (x, y) = day_at_10hz();
    let mut g = c.benchmark_group("analysis_864k");
    g.sample_size(20);
    g.bench_function("warmup_end", |b| b.iter(|| warmup_end(black_box(&y))));
    g.bench_function("drift", |b| {
        b.iter(|| drift(black_box(&x), black_box(&y), 0.95))
    });
    g.bench_function("warmup_end+drift", |b| {
        b.iter(|| {
            let w = warmup_end(black_box(&y));
            drift(black_box(&x[w..]), black_box(&y[w..]), 0.95)
        })
    });

    // A `memsoak run` table: ten metrics, items counted.
    // NOTE: every metric but the GPU's, which a host without one never has.
    let metrics: Vec<Metric> = Metric::ALL
        .into_iter()
        .filter(|m| !matches!(m, Metric::Vram | Metric::VramDevice))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("samples.csv");
    let mut rec = Recorder::create(&csv, &metrics).expect("samples.csv");
    let mut row = vec![None; metrics.len()];
    for (i, (t, v)) in x.iter().zip(&y).enumerate() {
        for (k, cell) in row.iter_mut().enumerate() {
            // NOTE: vary the columns so no fit sees the same series twice.
            *cell = Some((*v + (k as f64) * 1e6 * (*t / 3600.0)) as u64);
        }
        rec.append(*t, Some(i as u64 * 32), &row).expect("append");
    }
    drop(rec);
    let opts = AnalysisOptions {
        warmup: Warmup::Auto,
        confidence: 0.95,
        thresholds: default_thresholds(&metrics),
        min_growth: DEFAULT_MIN_GROWTH,
        swap_total: None,
    };
    let table = read_samples(&csv).expect("read back");
    g.bench_function("read_samples(10 metrics)", |b| {
        b.iter(|| read_samples(black_box(&csv)).expect("read"))
    });
    g.bench_function("analyze(10 metrics)", |b| {
        b.iter(|| analyze(black_box(&table), &opts))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
