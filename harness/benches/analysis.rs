//! Cost of the leak analysis on a day at 10 Hz (864 000 samples): a slow
//! leak plus noise plus a GC sawtooth, the largest input memsoak produces.
//! Needs `[[bench]] name = "analysis" harness = false` in harness/Cargo.toml.

use criterion::{Criterion, criterion_group, criterion_main};
use memsoak::stats::{drift, warmup_end};
use std::hint::black_box;

const N: usize = 864_000;
const MIB: f64 = 1024.0 * 1024.0;

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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
