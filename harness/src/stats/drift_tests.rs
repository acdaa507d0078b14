//! Verdict tests for `drift` on the memory shapes a soak test meets, in real
//! units (x in seconds, y in bytes), with deterministic seeded noise.

use super::*;
use crate::stats::auto_warmup;
use crate::stats::test_rng::Rng;
use proptest::prelude::*;

use crate::units::MIB;
const BASE: f64 = 200.0 * MIB;
/// The leak threshold used by the verdicts: 2 MiB/min, in bytes per second.
const LIMIT: f64 = 2.0 * MIB / 60.0;

/// Sample times for `seconds` at `hz`.
fn times(seconds: f64, hz: f64) -> Vec<f64> {
    let n = (seconds * hz).round() as usize;
    (0..n).map(|i| i as f64 / hz).collect()
}

/// Leak rate in MiB/min as bytes per second.
fn per_min(mib: f64) -> f64 {
    mib * MIB / 60.0
}

struct Verdict {
    drift: Drift,
    warmup: usize,
    leak: bool,
}

/// Warm-up truncation, then drift at 95%, then the verdict rule.
fn analyse(x: &[f64], y: &[f64]) -> Verdict {
    let warmup = auto_warmup(x, y);
    let drift = drift(&x[warmup..], &y[warmup..], 0.95).expect("enough points");
    let leak = drift.significant && drift.slope > LIMIT;
    Verdict {
        drift,
        warmup,
        leak,
    }
}

fn show(name: &str, v: &Verdict) {
    let d = &v.drift;
    println!(
        "{name}: warmup={} slope={:.3} MiB/min CI=[{:.3}, {:.3}] p={:.4} sig={} leak={} \
         blocks={} block_len={} cycle={:?} n_eff={:.1} ols={:.3} MiB/min | {} ({}) | {}",
        v.warmup,
        d.slope * 60.0 / MIB,
        d.ci_low * 60.0 / MIB,
        d.ci_high * 60.0 / MIB,
        d.p_value,
        d.significant,
        v.leak,
        d.blocks,
        d.block_len,
        d.cycle_len,
        d.effective_n,
        d.ols.map_or(f64::NAN, |o| o.slope * 60.0 / MIB),
        d.model.name(),
        d.reason,
        d.method
    );
}

/// base + leak·t + N(0, σ²) white noise.
fn linear(x: &[f64], leak: f64, sigma: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    x.iter()
        .map(|t| BASE + leak * t + sigma * rng.normal())
        .collect()
}

/// The shape of a sawtooth: each cycle memory ramps up by `amp`, then drops
/// back to the floor; cycle lengths are `period` seconds, or uniform in
/// `period ± jitter`; `white` Gaussian noise on top.
#[derive(Clone, Copy)]
struct Cycles {
    amp: f64,
    white: f64,
    period: f64,
    jitter: f64,
}

/// GC sawtooth: [`Cycles`] of 300 MiB with 4 MiB of white noise.
fn sawtooth(x: &[f64], period: f64, jitter: f64, phase: f64, leak: f64, seed: u64) -> Vec<f64> {
    let shape = Cycles {
        amp: 300.0 * MIB,
        white: 4.0 * MIB,
        period,
        jitter,
    };
    cycles(x, shape, phase, leak, seed)
}

/// Sawtooth samples at `x`: the floor rises by `leak` per second; `phase`
/// in [0, 1) is where in the first cycle the run starts.
fn cycles(x: &[f64], shape: Cycles, phase: f64, leak: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut cycle_len = shape.period;
    let mut cycle_start = -phase * shape.period;
    let mut out = Vec::with_capacity(x.len());
    for &t in x {
        while t >= cycle_start + cycle_len {
            cycle_start += cycle_len;
            cycle_len = shape.period + shape.jitter * (2.0 * rng.uniform() - 1.0);
        }
        let ramp = shape.amp * (t - cycle_start) / cycle_len;
        out.push(BASE + leak * t + ramp + shape.white * rng.normal());
    }
    out
}

/// Stationary AR(1) noise with lag-1 correlation `phi` and marginal sd `sigma`.
fn ar1(n: usize, phi: f64, sigma: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let innovation = sigma * (1.0 - phi * phi).sqrt();
    let mut e = sigma * rng.normal();
    (0..n)
        .map(|_| {
            let v = e;
            e = phi * e + innovation * rng.normal();
            v
        })
        .collect()
}

fn rel_err(got: f64, want: f64) -> f64 {
    ((got - want) / want).abs()
}

// ---- healthy shapes: no leak ------------------------------------------------

#[test]
fn flat_noise_is_not_a_leak() {
    for (secs, hz) in [(90.0, 1.0), (600.0, 10.0)] {
        let x = times(secs, hz);
        let y = linear(&x, 0.0, 4.0 * MIB, 7);
        let v = analyse(&x, &y);
        show(&format!("flat {secs}s@{hz}Hz"), &v);
        assert!(!v.leak);
        assert!(v.drift.slope.abs() < LIMIT, "slope {}", v.drift.slope);
        assert_eq!(
            v.drift.cycle_len, None,
            "noise must not look like a sawtooth"
        );
    }
}

#[test]
fn warmup_plateau_is_cut_and_not_a_leak() {
    let x = times(90.0, 1.0);
    let fill = 300.0 * MIB;
    let mut rng = Rng::new(11);
    let lin: Vec<f64> = x
        .iter()
        .map(|&t| BASE + fill * (t / 20.0).min(1.0) + 4.0 * MIB * rng.normal())
        .collect();
    // Exponential fill, 99% done by 20 s (time constant 20/ln 100 ≈ 4.3 s).
    let tau = 20.0 / 100f64.ln();
    let exp: Vec<f64> = x
        .iter()
        .map(|&t| BASE + fill * (1.0 - (-t / tau).exp()) + 4.0 * MIB * rng.normal())
        .collect();
    for (name, y) in [("linear fill", lin), ("exponential fill", exp)] {
        let v = analyse(&x, &y);
        show(name, &v);
        assert!(v.warmup >= 20, "{name}: warm-up cut at {} < 20 s", v.warmup);
        assert!(!v.leak, "{name}");
    }
}

#[test]
fn gc_sawtooth_is_not_a_leak() {
    // 300 MiB ramps over 10 s then a drop back, runs of 95 s so they end
    // mid-cycle, several phase offsets, at 1 Hz and 10 Hz.
    let mut worst_ols = 0.0f64;
    let mut significant = 0;
    for hz in [1.0, 10.0] {
        let x = times(95.0, hz);
        for (i, phase) in [0.0, 0.3, 0.55, 0.8].into_iter().enumerate() {
            let y = sawtooth(&x, 10.0, 0.0, phase, 0.0, 100 + i as u64);
            let v = analyse(&x, &y);
            show(&format!("sawtooth 10s {hz}Hz phase {phase}"), &v);
            assert!(!v.leak);
            assert_eq!(v.drift.model, DriftModel::Cycles);
            significant += usize::from(v.drift.significant);
            let p = v.drift.cycle_len.expect("sawtooth detected") as f64 / hz;
            assert!((p - 10.0).abs() <= 1.0, "period {p}");
            worst_ols = worst_ols.max(v.drift.ols.unwrap().slope.abs());
        }
    }
    // The cycle means are tested at 95%: a significant flat run is the 5%
    // the confidence allows, and must stay that rare.
    assert!(significant <= 1, "{significant}/8");
    let x = times(95.0, 1.0);
    let alarms = (0..200u64)
        .filter(|&seed| {
            let y = sawtooth(
                &x,
                10.0,
                0.0,
                (0.618 * seed as f64).fract(),
                0.0,
                20_000 + seed,
            );
            analyse(&x, &y).drift.significant
        })
        .count();
    println!("flat sawtooth 95 s at 1 Hz: significant {alarms}/200");
    assert!(alarms <= 14, "{alarms}/200");
    // Why whole cycles matter: a plain fit over a run that ends mid-cycle
    // is biased by the partial ramp by far more than the leak limit.
    println!(
        "worst |OLS| on flat sawtooth: {:.2} MiB/min",
        worst_ols * 60.0 / MIB
    );
    assert!(worst_ols > LIMIT);
}

#[test]
fn gc_sawtooth_other_periods_and_jitter_is_not_a_leak() {
    let (mut leaks, mut significant, mut runs) = (0, 0, 0);
    for hz in [1.0, 10.0] {
        let x = times(95.0, hz);
        for (period, jitter) in [(7.0, 0.0), (13.0, 0.0), (10.0, 2.0)] {
            for seed in 0..20u64 {
                let phase = 0.37 * seed as f64;
                let y = sawtooth(&x, period, jitter, phase.fract(), 0.0, 200 + seed);
                let v = analyse(&x, &y);
                if seed == 0 {
                    show(
                        &format!("sawtooth {period}±{jitter}s {hz}Hz seed {seed}"),
                        &v,
                    );
                }
                assert!(v.drift.cycle_len.is_some());
                leaks += usize::from(v.leak);
                significant += usize::from(v.drift.significant);
                runs += 1;
            }
        }
    }
    // At 1 Hz a 300 MiB ramp climbs 30 MiB a sample: where a jittered
    // cycle starts between two samples moves its mean by several MiB, real
    // noise that the test's 95% allows for, no more.
    println!("other sawtooths: leak verdicts {leaks}/{runs}, significant {significant}/{runs}");
    assert!(leaks * 100 <= 3 * runs, "{leaks}/{runs}");
    assert!(significant * 100 <= 7 * runs, "{significant}/{runs}");
}

#[test]
fn bounded_cache_is_not_a_leak() {
    // Cache filling towards an asymptote: 200 MiB·(1 - e^{-t/60 s}), 15 min at
    // 1 Hz. A careful engineer would say: memory *is* still rising at the end
    // (the test may well call the trend significant), but the growth is
    // bounded and decaying: after warm-up (~4-5 time constants) what is left
    // is e^{-4..5} of the fill, a few MiB spread over ten minutes, far below
    // 2 MiB/min. The slope limit, not significance alone, is what keeps a
    // cache from being called a leak; a longer run would show it flatten.
    let x = times(900.0, 1.0);
    let mut rng = Rng::new(31);
    let y: Vec<f64> = x
        .iter()
        .map(|&t| BASE + 200.0 * MIB * (1.0 - (-t / 60.0).exp()) + 4.0 * MIB * rng.normal())
        .collect();
    let v = analyse(&x, &y);
    show("bounded cache", &v);
    assert!(!v.leak);
    assert!(v.drift.slope < LIMIT);
    assert!(v.warmup >= 120, "warm-up cut at {}", v.warmup);
}

/// 111 MiB + a fill of 36 MiB · (1 − e^(−t/τ)) under `sigma` MiB of white
/// noise, 15 s at 10 Hz.
fn fill(tau: f64, sigma: f64, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let x = times(15.0, 10.0);
    let mut rng = Rng::new(seed);
    let y = x
        .iter()
        .map(|&t| (111.0 + 36.0 * (1.0 - (-t / tau).exp()) + sigma * rng.normal()) * MIB)
        .collect();
    (x, y)
}

#[test]
fn a_fast_fill_that_flattens_is_cut_away() {
    // The shape of a healthy 15 s candle run in CI: rss rose 111 → 147 MiB
    // (jemalloc's high-water mark over new batch shapes) and then held; a
    // fixed 5 s warm-up left the end of the rise in, read as 8.7 MiB/min.
    // Here the rise has τ = 1.5 s under 1 MiB noise: a fixed 5 s cut
    // leaves 1.3 MiB of it and calls 21 of 50 runs a leak; the
    // saturating-fill cut waits to the 40% cap (6 s, 1.8% of the fill
    // left) and calls 4 of 50. Not 0: at the cap the fill has not quite
    // settled, and a rise still going at 40% of the run is the trend
    // test's to judge (next test).
    let (mut auto, mut fixed) = (0, 0);
    for seed in 0..50 {
        let (x, y) = fill(1.5, 1.0, seed);
        let v = analyse(&x, &y);
        if seed == 0 {
            show("fast fill", &v);
        }
        assert!(v.warmup >= 45, "seed {seed}: cut at {}", v.warmup);
        auto += usize::from(v.leak);
        let d = drift(&x[50..], &y[50..], 0.95).expect("enough points");
        fixed += usize::from(d.significant && d.slope > LIMIT);
    }
    println!("fast fill: leaks after the auto cut {auto}/50, after a fixed 5 s {fixed}/50");
    assert!(auto <= 6, "{auto}/50");
    assert!(fixed >= 15, "{fixed}/50: the shape no longer tests the cut");
}

#[test]
fn a_rise_still_climbing_at_the_end_is_a_leak() {
    // The same 36 MiB fill with τ = 30 s: at the end of 15 s it still climbs
    // at 44 MiB/min. Nothing in the data says it will stop, so it is a leak
    // whatever the warm-up cut does (which may take at most 40% of the run).
    for seed in 0..20 {
        let (x, y) = fill(30.0, 0.5, seed);
        let v = analyse(&x, &y);
        if seed == 0 {
            show("slow fill", &v);
        }
        assert!(v.warmup <= 60, "seed {seed}: cut at {}", v.warmup);
        assert!(v.leak, "seed {seed}");
    }
}

#[test]
fn gc_drop_spread_over_several_samples_is_one_cycle() {
    // At 10 Hz a collection that takes 0.3 s shows as three falling samples.
    let x = times(95.0, 10.0);
    let mut rng = Rng::new(17);
    let y: Vec<f64> = (0..x.len())
        .map(|i| {
            let phase = i % 100;
            let level = if phase < 97 {
                phase as f64 / 97.0
            } else {
                (100 - phase) as f64 / 4.0
            };
            BASE + 300.0 * MIB * level + 4.0 * MIB * rng.normal()
        })
        .collect();
    let v = analyse(&x, &y);
    show("sawtooth, 3-sample drops", &v);
    assert_eq!(v.drift.cycle_len, Some(100));
    assert!(!v.leak);
    assert!(!v.drift.significant);
}

/// One-sample spikes of +500 MiB on 1% of the samples (a bad read, a
/// transient buffer).
fn with_spikes(mut y: Vec<f64>, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    for v in &mut y {
        if rng.uniform() < 0.01 {
            *v += 500.0 * MIB;
        }
    }
    y
}

#[test]
fn spikes_are_not_a_sawtooth_nor_a_leak() {
    let x = times(600.0, 1.0);
    let y = with_spikes(linear(&x, 0.0, 4.0 * MIB, 61), 62);
    let v = analyse(&x, &y);
    show("flat + spikes", &v);
    assert_eq!(v.drift.cycle_len, None);
    assert!(!v.leak);
    assert!(!v.drift.significant);
    // And a leak under the same spikes is still measured well.
    let truth = per_min(5.0);
    let y = with_spikes(linear(&x, truth, 4.0 * MIB, 63), 64);
    let v = analyse(&x, &y);
    show("leak + spikes", &v);
    assert!(v.leak);
    assert!(
        rel_err(v.drift.slope, truth) < 0.1,
        "slope {}",
        v.drift.slope * 60.0 / MIB
    );
}

// ---- leaks --------------------------------------------------------------

#[test]
fn linear_leak_is_found_with_the_right_slope() {
    let truth = per_min(5.0);
    let x = times(90.0, 1.0);
    let v = analyse(&x, &linear(&x, truth, 4.0 * MIB, 42));
    show("leak 5 MiB/min 90s", &v);
    assert!(v.leak);
    assert!(
        rel_err(v.drift.slope, truth) < 0.3,
        "slope {}",
        v.drift.slope * 60.0 / MIB
    );
    assert!(v.drift.ci_low <= truth && truth <= v.drift.ci_high);
    // Over 200 seeds: the slope's standard error here is ~1 MiB/min (20%),
    // so ±30% is a 1.5-sigma band: ~87% is the best any estimator can do.
    let (mut found, mut within) = (0, 0);
    let mut errors = Vec::new();
    for seed in 0..200u64 {
        let v = analyse(&x, &linear(&x, truth, 4.0 * MIB, 100 + seed));
        found += usize::from(v.leak);
        within += usize::from(rel_err(v.drift.slope, truth) < 0.3);
        errors.push(rel_err(v.drift.slope, truth));
    }
    let median_err = crate::stats::median(&errors).unwrap();
    println!(
        "5 MiB/min, σ 4 MiB, 90 s: leak found {found}/200, slope within ±30% {within}/200, \
         median |error| {:.1}%",
        100.0 * median_err
    );
    assert!(found >= 190, "{found}/200");
    assert!(within >= 160, "{within}/200");
    assert!(median_err < 0.2);
}

#[test]
fn leak_under_the_limit_is_not_a_breach() {
    // 1 MiB/min for 10 min: the trend is real (significant), but below 2 MiB/min.
    let truth = per_min(1.0);
    let x = times(600.0, 1.0);
    let y = linear(&x, truth, 4.0 * MIB, 43);
    let v = analyse(&x, &y);
    show("leak 1 MiB/min 10min", &v);
    assert!(v.drift.significant);
    assert!(!v.leak);
    assert!(rel_err(v.drift.slope, truth) < 0.3);
    // Same leak in a 90 s run: too short to pin down; count breaches over seeds.
    let x = times(90.0, 1.0);
    let breaches = (0..100u64)
        .filter(|&s| analyse(&x, &linear(&x, truth, 4.0 * MIB, 1000 + s)).leak)
        .count();
    println!("1 MiB/min over 90 s: {breaches}/100 breaches of the 2 MiB/min limit");
    assert!(breaches <= 20, "{breaches}/100");
}

#[test]
fn despiked_by_hand() {
    // Most steps 0 or ±1, so the steps' robust sigma is 1.4826 and a spike
    // must stand 7.41 beyond both neighbours. A one-sample dip of 9 goes to
    // its neighbours' level; a two-sample spike of 11 between 2 and 2.6 goes
    // onto the line between them (2.2, 2.4); the step to 12 that stays, and
    // the ends, are left.
    let y = [
        0.0, 1.0, 1.0, -8.0, 1.0, 2.0, 2.0, 11.0, 11.0, 2.6, 3.0, 12.0, 12.0, 12.0,
    ];
    let want = [
        0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.2, 2.4, 2.6, 3.0, 12.0, 12.0, 12.0,
    ];
    let got = despiked(&y);
    assert!(
        got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-12),
        "{got:?}"
    );
    // The ends never move, so neither does the mean step.
    assert_eq!((got[0], got[13]), (y[0], y[13]));
    // Too short to have an inside, or nothing moving: as it was.
    assert_eq!(despiked(&[1.0, 5.0]), vec![1.0, 5.0]);
    assert_eq!(despiked(&[3.0; 5]), vec![3.0; 5]);
    assert!(despiked(&[]).is_empty());
    // Smooth noise keeps its extremes: nothing there is 5 sigmas out.
    let smooth = [0.0, 1.0, 2.0, 1.5, 2.5, 3.0, 2.0, 2.5, 3.5, 4.0];
    assert_eq!(despiked(&smooth), smooth.to_vec());
}

/// A staircase written as a user would (`analyze` of a hand-made
/// samples.csv, 1 Hz, bytes): RSS climbs 17.2 → 30.6 MiB in 90 s in steps
/// held 1–10 s and never falls, but for four one-sample dips of 3–4 MiB
/// (a buffer freed and taken again between two readings).
const DIPPED_STAIRCASE: [u64; 91] = [
    18087936, 18087936, 18481152, 18481152, 18481152, 18743296, 15302522, 19136512, 19529728,
    19529728, 19529728, 19529728, 19529728, 19529728, 19529728, 19529728, 19529728, 19529728,
    19922944, 19922944, 19922944, 19922944, 19922944, 19922944, 19922944, 20250624, 20250624,
    20250624, 20512768, 20840448, 20840448, 21233664, 21233664, 21233664, 21626880, 22085632,
    22085632, 22413312, 22806528, 22806528, 23068672, 23461888, 23461888, 23789568, 24117248,
    24117248, 24117248, 24379392, 24379392, 24707072, 25165824, 25624576, 25624576, 22993921,
    25952256, 26345472, 26738688, 26738688, 26738688, 26738688, 26738688, 27066368, 27066368,
    27066368, 27066368, 27066368, 27066368, 27459584, 23477155, 27852800, 28180480, 28180480,
    28639232, 25031766, 29425664, 29425664, 29818880, 29818880, 29818880, 30081024, 30081024,
    30474240, 30474240, 30867456, 31326208, 31326208, 31784960, 32047104, 32047104, 32047104,
    32047104,
];

#[test]
fn a_staircase_with_one_sample_dips_is_a_leak() {
    // Each dip is two steps of 3.5 MiB among steps of 0.4: the mean step's
    // spread hid the climb (p = 0.36, a pass); without the dips, p < 1e-4.
    // Four of 40 such files, and a real watch with one dip (p = 0.09).
    let x = times(91.0, 1.0);
    let y: Vec<f64> = DIPPED_STAIRCASE.iter().map(|&b| b as f64).collect();
    let v = analyse(&x, &y);
    show("dipped staircase", &v);
    assert!(v.leak, "{}", v.drift.reason);
    assert!(v.drift.ci_low > LIMIT, "the step interval goes with it");
}

#[test]
fn step_leak_is_a_breach() {
    // A 50 MiB jump at the middle of a 90 s run, flat otherwise.
    let x = times(90.0, 1.0);
    let step = |seed: u64| {
        let mut rng = Rng::new(seed);
        x.iter()
            .map(|&t| BASE + if t >= 45.0 { 50.0 * MIB } else { 0.0 } + 4.0 * MIB * rng.normal())
            .collect::<Vec<f64>>()
    };
    let v = analyse(&x, &step(5));
    show("step 50 MiB at 45 s", &v);
    assert!(v.drift.significant);
    assert!(v.drift.slope > 0.0);
    assert!(v.leak);
    let mut slopes = Vec::new();
    for seed in 0..100u64 {
        let v = analyse(&x, &step(600 + seed));
        assert!(v.leak, "seed {seed}: {}", v.drift.slope * 60.0 / MIB);
        slopes.push(v.drift.slope * 60.0 / MIB);
    }
    slopes.sort_by(f64::total_cmp);
    // Theil–Sen of a step: half the pairs straddle it, so the median slope is
    // about the smallest straddling slope, 50 MiB / ~70 s.
    println!(
        "step: breach in 100/100 seeds, slope median {:.1} MiB/min (range {:.1}..{:.1}); \
         the average rise over the run is 33 MiB/min",
        slopes[50], slopes[0], slopes[99]
    );
}

#[test]
fn sawtooth_on_a_leak_shows_the_leak() {
    // 5 MiB/min on the floor under a 300 MiB / 10 s sawtooth, 10 min.
    let truth = per_min(5.0);
    let mut worst = 0.0f64;
    for hz in [1.0, 10.0] {
        let x = times(600.0, hz);
        for seed in 0..10u64 {
            let y = sawtooth(&x, 10.0, 0.0, 0.1 * seed as f64, truth, 300 + seed);
            let v = analyse(&x, &y);
            if seed == 0 {
                show(&format!("sawtooth + leak {hz}Hz"), &v);
            }
            assert!(v.leak, "{hz} Hz seed {seed}");
            assert!(v.drift.cycle_len.is_some());
            worst = worst.max(rel_err(v.drift.slope, truth));
        }
        // Jittered cycles too.
        let y = sawtooth(&x, 10.0, 2.0, 0.5, truth, 399);
        let v = analyse(&x, &y);
        show(&format!("jittered sawtooth + leak {hz}Hz"), &v);
        assert!(v.leak);
        worst = worst.max(rel_err(v.drift.slope, truth));
    }
    println!(
        "sawtooth + leak: worst slope error {:.1}% over 22 runs",
        100.0 * worst
    );
    assert!(worst < 0.4);
}

#[test]
fn slow_leak_under_heavy_noise() {
    let truth = per_min(3.0);
    let sigma = 20.0 * MIB;
    // 30 min: enough evidence.
    let x = times(1800.0, 1.0);
    let v = analyse(&x, &linear(&x, truth, sigma, 77));
    show("3 MiB/min σ=20 MiB 30 min", &v);
    assert!(v.leak);
    assert!(rel_err(v.drift.slope, truth) < 0.3);
    // 90 s: 4.5 MiB of drift under 20 MiB noise is not evidence; most seeds
    // must not reach significance (the power here is ~10%).
    let x = times(90.0, 1.0);
    let v = analyse(&x, &linear(&x, truth, sigma, 77));
    show("3 MiB/min σ=20 MiB 90 s", &v);
    assert!(!v.drift.significant);
    let sig = (0..100u64)
        .filter(|&s| {
            analyse(&x, &linear(&x, truth, sigma, 2000 + s))
                .drift
                .significant
        })
        .count();
    println!("3 MiB/min σ=20 MiB over 90 s: significant in {sig}/100 seeds");
    assert!(sig <= 30, "{sig}/100");
}

// ---- calibration -----------------------------------------------------------

#[test]
fn ar1_noise_false_alarm_rate_in_short_runs() {
    // Regression: Hamed–Rao alone under-corrects short persistent series;
    // AR(1) φ = 0.9 flat noise gave 25% false alarms over 60 samples and
    // 18% over 180 (nominal 5%). A CI gate runs minutes at 1 Hz: exactly
    // these lengths.
    for secs in [60.0, 180.0] {
        let x = times(secs, 1.0);
        let alarms = (0..200u64)
            .filter(|&seed| {
                let y: Vec<f64> = ar1(x.len(), 0.9, 5.0 * MIB, 7000 + seed)
                    .iter()
                    .map(|e| BASE + e)
                    .collect();
                analyse(&x, &y).drift.significant
            })
            .count();
        println!("AR(1) φ=0.9 over {secs} s at 1 Hz: false alarms {alarms}/200");
        assert!(alarms <= 16, "{secs} s: {alarms}/200");
    }
}

#[test]
fn ar1_noise_false_alarm_rate() {
    // φ = 0.9, marginal σ = 5 MiB, flat, 10 min at 1 Hz, 200 seeds.
    let x = times(600.0, 1.0);
    let (mut corrected, mut plain) = (0, 0);
    for seed in 0..200u64 {
        let y: Vec<f64> = ar1(x.len(), 0.9, 5.0 * MIB, 5000 + seed)
            .iter()
            .map(|e| BASE + e)
            .collect();
        let v = analyse(&x, &y);
        corrected += usize::from(v.drift.significant);
        // The same Mann–Kendall without the Hamed–Rao correction.
        let w = v.warmup;
        let s = crate::stats::trend::mk_s(&y[w..]);
        let var0 = crate::stats::slope::mk_variance(&y[w..]);
        let z0 = (s.abs() - 1.0).max(0.0) / var0.sqrt();
        plain += usize::from(2.0 * crate::stats::normal_cdf(-z0) < 0.05);
    }
    println!("AR(1) φ=0.9: false alarms {corrected}/200 corrected, {plain}/200 uncorrected MK");
    assert!(corrected <= 20, "{corrected}/200");
    assert!(plain > 60, "uncorrected MK should be far off: {plain}/200");
}

#[test]
fn white_noise_null_calibration() {
    for (secs, hz) in [(90.0, 1.0), (600.0, 1.0)] {
        let x = times(secs, hz);
        let alarms = (0..200u64)
            .filter(|&s| {
                analyse(&x, &linear(&x, 0.0, 4.0 * MIB, 9000 + s))
                    .drift
                    .significant
            })
            .count();
        println!("white noise {secs}s@{hz}Hz: false alarms {alarms}/200");
        assert!(alarms <= 16, "{alarms}/200");
    }
}

// ---- scale -----------------------------------------------------------------

#[test]
fn a_day_at_10hz_finishes_and_finds_the_leak() {
    // 864 000 points: slow leak 1 MiB/min + noise + 300 MiB sawtooth every 10 s.
    let truth = per_min(1.0);
    let x = times(86_400.0, 10.0);
    let y = sawtooth(&x, 10.0, 0.0, 0.4, truth, 864);
    let start = std::time::Instant::now();
    let v = analyse(&x, &y);
    println!("864k points analysed in {:?}", start.elapsed());
    show("day at 10 Hz", &v);
    assert!(v.drift.significant);
    assert!(rel_err(v.drift.slope, truth) < 0.1);
    assert!(v.drift.blocks <= MAX_BLOCKS);
}

// ---- degenerate input --------------------------------------------------------

#[test]
fn degenerate_inputs() {
    let x: Vec<f64> = (0..20).map(f64::from).collect();
    assert!(drift(&[], &[], 0.95).is_none());
    assert!(drift(&x[..7], &x[..7], 0.95).is_none(), "7 points");
    assert!(drift(&x, &x[..19], 0.95).is_none(), "length mismatch");
    assert!(drift(&[3.0; 20], &x, 0.95).is_none(), "all x equal");
    assert!(drift(&x, &x, 1.0).is_none());
    assert!(drift(&x, &x, f64::NAN).is_none());
    // Constant y: zero slope, nothing to test.
    let c = drift(&x, &[5.0; 20], 0.95).unwrap();
    assert_eq!((c.slope, c.p_value, c.significant), (0.0, 1.0, false));
    // Eight points: the minimum; a perfect ramp is significant.
    let d = drift(&x[..8], &x[..8], 0.95).unwrap();
    assert_eq!(d.slope, 1.0);
    assert!(d.significant);
    // NaN/inf samples are skipped: same answer as without them.
    let mut xn = x.clone();
    let mut yn: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
    xn.insert(5, 4.5);
    yn.insert(5, f64::NAN);
    xn.push(f64::INFINITY);
    yn.push(1.0);
    let a = drift(&xn, &yn, 0.95).unwrap();
    assert_eq!(a.slope, 2.0);
    assert_eq!(a.blocks, 20);
    // Out-of-order x is sorted, not rejected.
    let mut rev_x = x.clone();
    rev_x.reverse();
    let rev_y: Vec<f64> = rev_x.iter().map(|v| 3.0 * v + 1.0).collect();
    let r = drift(&rev_x, &rev_y, 0.95).unwrap();
    assert_eq!(r.slope, 3.0);
    assert!(r.z > 0.0);
    // A span of 1e240 s, 40 samples: a point a second would be more slots
    // than a count holds (it overflowed one, found by proptest).
    let far: Vec<f64> = (0..40).map(|i| f64::from(i) * 1e238).collect();
    let y0 = vec![0.0; 40];
    assert!(drift(&far, &y0, 0.95).is_some());
}

#[test]
fn three_cycles_are_tested_on_their_offsets() {
    // Three whole sawtooth cycles (45 s of a 10 s cycle), whose means get
    // least squares' t test on 1 degree of freedom: a 60 MiB/min rise under
    // a 300 MiB sawtooth is measured and tested (it was "too few blocks,
    // p = 1").
    let x = times(45.0, 1.0);
    let y = sawtooth(&x, 10.0, 0.0, 0.0, per_min(60.0), 1);
    let d = drift(&x, &y, 0.95).unwrap();
    println!("{} | {}", d.reason, d.method);
    assert!(d.blocks < MIN_BLOCKS_FOR_TEST);
    assert_eq!(d.model, DriftModel::Cycles);
    assert!(d.p_value < 1.0);
    assert!(
        rel_err(d.slope, per_min(60.0)) < 0.2,
        "{}",
        d.slope * 60.0 / MIB
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_periods_that_fit_agree_with_every_pair(
        period in 2.0f64..30.0,
        phase in 0.0f64..1.0,
        drops in 2usize..60,
        every in 0.05f64..2.0,
        jitter in 0.0f64..0.5,
        seed in 0u64..1000,
    ) {
        // Drops on a period, each moved by up to ±jitter periods, seen
        // between the samples (every `every` s) around it: one range or
        // none, as all pairs of drops say.
        let mut rng = Rng::new(seed);
        let hi: Vec<f64> = (0..drops)
            .map(|k| {
                let t = (phase + k as f64) * period + jitter * period * (rng.uniform() - 0.5);
                (t / every).ceil() * every
            })
            .collect();
        let lo: Vec<f64> = hi.iter().map(|h| h - every).collect();
        match (periods_that_fit(&lo, &hi), pairwise_periods(&lo, &hi)) {
            (Some((x, y)), Some((pa, pb))) => {
                prop_assert!((x - pa).abs() <= 1e-9 * pb && (y - pb).abs() <= 1e-9 * pb,
                    "{x}–{y} against {pa}–{pb}");
            }
            (None, None) => {}
            // A range narrower than the search's tolerance may come out
            // either way.
            (got, want) => prop_assert!(
                want.is_some_and(|(pa, pb)| pb - pa <= 1e-9 * pb) || got.is_some_and(|(x, y)| y - x <= 1e-9 * y),
                "{got:?} against {want:?}"
            ),
        }
    }

    #[test]
    fn slope_of_a_line_is_b(a in -1e9f64..1e9, b in -1e6f64..1e6, n in 8usize..400) {
        let x: Vec<f64> = (0..n).map(|i| i as f64 * 0.1).collect();
        let y: Vec<f64> = x.iter().map(|x| a + b * x).collect();
        let d = drift(&x, &y, 0.95).unwrap();
        prop_assert!((d.slope - b).abs() <= 1e-6 * (1.0 + b.abs()) + 1e-9 * a.abs(), "{} vs {}", d.slope, b);
        prop_assert!(d.ci_low <= d.slope && d.slope <= d.ci_high);
    }

    #[test]
    fn invariant_to_a_constant_offset(seed in 0u64..1000, c in -1e9f64..1e9) {
        let x = times(120.0, 1.0);
        let y = linear(&x, per_min(3.0), 4.0 * MIB, seed);
        let shifted: Vec<f64> = y.iter().map(|v| v + c.round()).collect();
        let (a, b) = (drift(&x, &y, 0.95).unwrap(), drift(&x, &shifted, 0.95).unwrap());
        prop_assert!((a.slope - b.slope).abs() <= 1e-6 * a.slope.abs());
        prop_assert_eq!(a.significant, b.significant);
    }

    #[test]
    fn never_panics_and_stays_in_range(
        x in proptest::collection::vec(prop::num::f64::ANY, 0..64),
        y in proptest::collection::vec(prop::num::f64::ANY, 0..64),
        conf in prop::num::f64::ANY,
    ) {
        if let Some(d) = drift(&x, &y, conf) {
            prop_assert!((0.0..=1.0).contains(&d.p_value));
            prop_assert!(d.ci_low <= d.slope && d.slope <= d.ci_high);
            prop_assert!(d.blocks >= 2);
        }
    }

    #[test]
    fn p_in_unit_interval_ci_contains_estimate(seed in 0u64..10_000, leak in -10.0f64..10.0, n in 8usize..300) {
        let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let y = linear(&x, per_min(leak), 4.0 * MIB, seed);
        let d = drift(&x, &y, 0.9).unwrap();
        prop_assert!((0.0..=1.0).contains(&d.p_value));
        prop_assert!(d.ci_low <= d.slope && d.slope <= d.ci_high);
        prop_assert!(d.effective_n <= d.blocks as f64);
    }
}

#[test]
fn slow_sawtooth_with_one_or_two_cycles_is_not_a_leak() {
    // A GC or allocator cycle as long as the run itself: 300 MiB ramps over
    // 40-80 s in a 90 s run leave one or two drops, too few for floors of
    // whole cycles. The ramp is not evidence of a leak when memory came back
    // down to where it started; the honest verdict is "cannot tell" (p = 1),
    // not a 300 MiB/min leak.
    for hz in [1.0, 10.0] {
        let x = times(90.0, hz);
        for period in [40.0, 60.0, 80.0] {
            for (i, phase) in [0.0, 0.25, 0.5, 0.75].into_iter().enumerate() {
                let y = sawtooth(&x, period, 0.0, phase, 0.0, 300 + i as u64);
                let v = analyse(&x, &y);
                show(&format!("slow sawtooth {period}s {hz}Hz phase {phase}"), &v);
                assert!(!v.leak, "period {period} phase {phase} at {hz} Hz");
            }
        }
    }
}

#[test]
fn a_leak_with_one_release_bigger_than_a_cycle_of_the_run_is_a_leak() {
    // A steady 6 MiB/min leak in a 90 s watch, and a 30 MiB start-up
    // buffer freed once part-way: read as one long cycle (floors before and
    // after the drop: −25 MiB/min, p = 1) it passed. No cycle that a 90 s
    // run could hold gives back 30 MiB where memory climbs 9 MiB a run.
    let x = times(90.0, 1.0);
    for free_at in [20.0, 40.0, 55.0, 70.0] {
        for seed in 0..10u64 {
            let mut rng = Rng::new(3000 + seed + free_at as u64);
            let y: Vec<f64> = x
                .iter()
                .map(|&t| {
                    let held = if t < free_at { 30.0 * MIB } else { 0.0 };
                    BASE + held + per_min(6.0) * t + 0.5 * MIB * rng.normal()
                })
                .collect();
            let v = analyse(&x, &y);
            show(&format!("released at {free_at} s, seed {seed}"), &v);
            assert!(v.leak, "released at {free_at} s, seed {seed}");
            assert_eq!(v.drift.model, DriftModel::Level);
            // (Unless the warm-up cut took the drop, or all but a few
            // samples before it: then a climb, or a drop after no ramp.)
            if v.warmup + MIN_POINTS <= free_at as usize {
                assert!(
                    v.drift.reason.contains("one-off release"),
                    "{}",
                    v.drift.reason
                );
            }
            assert!(
                rel_err(v.drift.slope, per_min(6.0)) < 0.2,
                "{}",
                v.drift.slope / per_min(1.0)
            );
        }
    }
    // The same release with nothing leaking, and one after a warm-up's
    // fill that then holds flat: no climb on both sides, no release read.
    for seed in 0..10u64 {
        let mut rng = Rng::new(3100 + seed);
        let flat: Vec<f64> = x
            .iter()
            .map(|&t| BASE + if t < 50.0 { 30.0 * MIB } else { 0.0 } + 0.5 * MIB * rng.normal())
            .collect();
        let filled: Vec<f64> = x
            .iter()
            .map(|&t| {
                let level = if t < 40.0 {
                    40.0 * MIB * t / 40.0
                } else {
                    10.0 * MIB
                };
                BASE + level + 0.5 * MIB * rng.normal()
            })
            .collect();
        for (what, y) in [("flat", flat), ("filled", filled)] {
            let v = analyse(&x, &y);
            show(&format!("{what} with one free, seed {seed}"), &v);
            assert!(!v.leak, "{what}, seed {seed}: {}", v.drift.reason);
            assert!(!v.drift.reason.contains("release"), "{}", v.drift.reason);
        }
    }
}

#[test]
fn a_long_cycle_seen_from_just_before_its_drop_is_not_a_leak() {
    // What a warm-up cut leaves of a slow sawtooth: the window opens a few
    // seconds before the one drop, and the ramp after it climbs back to the
    // top. The ramp before the drop is too short to tell from a jump, so the
    // level view used to fit the ramp's rate (300 MiB per 360 s cycle: a
    // 50 MiB/min "leak"). The ramp after the drop shows the cycle.
    let x = times(360.0, 1.0);
    for (i, drop_at) in [5.0, 15.0, 30.0, 60.0].into_iter().enumerate() {
        for seed in 0..3u64 {
            let y = sawtooth(
                &x,
                360.0,
                0.0,
                1.0 - drop_at / 360.0,
                0.0,
                900 + 10 * seed + i as u64,
            );
            let v = analyse(&x, &y);
            show(&format!("one drop at {drop_at} s, seed {seed}"), &v);
            assert!(
                !v.leak,
                "drop at {drop_at} s, seed {seed}: {}",
                v.drift.reason
            );
            assert_eq!(v.drift.model, DriftModel::LongCycle, "drop at {drop_at} s");
            assert!(v.drift.interval_from_range, "drop at {drop_at} s");
            // The tops of the one cycle, not a mid-ramp start against the
            // floor after the drop (−64 MiB/min before). The end is as far
            // short of the next top as the drop is from the start (up to
            // 60 s: 50 MiB lower after 5 min, −10 MiB/min): the slope of one
            // drop is not a trend, and has no test (p = 1).
            assert!(
                v.drift.slope.abs() < per_min(12.0),
                "{}",
                v.drift.slope / per_min(1.0)
            );
            // Untested, so no interval that excludes 0 either (Sen's on
            // the two tops was the slope itself).
            assert!(
                v.drift.ci_low <= 0.0 && v.drift.ci_high >= 0.0,
                "{} … {}",
                v.drift.ci_low / per_min(1.0),
                v.drift.ci_high / per_min(1.0)
            );
        }
    }
    // The same drop with a leak after it that climbs well past the top
    // before the drop is no cycle: still a leak.
    let y: Vec<f64> = sawtooth(&x, 360.0, 0.0, 1.0 - 15.0 / 360.0, 0.0, 950)
        .into_iter()
        .zip(&x)
        .map(|(v, &t)| v + per_min(60.0) * (t - 15.0).max(0.0))
        .collect();
    let v = analyse(&x, &y);
    show("one drop, then a leak past the top", &v);
    assert!(v.leak, "{}", v.drift.reason);
    // Nor is a load that climbs to a peak and frees part of it, then leaks
    // without reaching that peak again: memory never came back down to
    // where the window began, so the drop ends no cycle.
    let mut rng = Rng::new(951);
    let y: Vec<f64> = x
        .iter()
        .map(|&t| {
            let load = if t < 20.0 {
                400.0 * MIB * t / 20.0
            } else {
                300.0 * MIB + per_min(10.0) * (t - 20.0)
            };
            BASE + load + 2.0 * MIB * rng.normal()
        })
        .collect();
    // (The warm-up cut takes the load away; the fit must hold without it.)
    let d = drift(&x, &y, 0.95).unwrap();
    assert!(
        d.significant && d.slope > per_min(5.0),
        "{} MiB/min, {}",
        d.slope / per_min(1.0),
        d.reason
    );
}

#[test]
fn leak_with_a_one_off_free_is_still_a_leak() {
    // The other side of the one-drop rule: 10 MiB/min leaking for 20 min
    // while a cache fills to 80 MiB and is freed once at 5 min. Memory does
    // not come back down to where it started, so the drop is no cycle end
    // and the leak stays visible.
    let x = times(1200.0, 1.0);
    let mut rng = Rng::new(77);
    let y: Vec<f64> = x
        .iter()
        .map(|&t| {
            let cache = if t < 300.0 {
                80.0 * MIB * t / 300.0
            } else {
                0.0
            };
            BASE + per_min(10.0) * t + cache + 2.0 * MIB * rng.normal()
        })
        .collect();
    let v = analyse(&x, &y);
    show("leak + one-off free", &v);
    assert!(!v.drift.method.contains("one drop"), "{}", v.drift.method);
    assert!(v.leak);
    assert!(
        rel_err(v.drift.slope, per_min(10.0)) < 0.5,
        "{}",
        v.drift.slope
    );
}

#[test]
fn leak_whose_rate_varies_is_a_leak() {
    // Regression: memory allocated per item while throughput rises and
    // falls (a loaded CI box). The heap grew 39 MiB in 20 s without ever
    // falling, and scored p = 0.52: its residuals about a line wander like a
    // random walk, and the persistence correction took the run for 2 or 3
    // independent samples. The steps show it plainly.
    let x = times(20.0, 4.0);
    for seed in 0..20u64 {
        let mut rng = Rng::new(900 + seed);
        let (mut heap, mut rate) = (BASE, 1.0f64);
        let y: Vec<f64> = x
            .iter()
            .map(|_| {
                rate = (0.8 * rate + 0.2 * (1.0 + 0.9 * rng.normal())).max(0.0);
                heap += rate * 0.5 * MIB;
                heap
            })
            .collect();
        let v = analyse(&x, &y);
        show(&format!("varying-rate leak seed {seed}"), &v);
        assert!(v.leak, "seed {seed}");
        assert!(
            v.drift.ci_low > LIMIT,
            "seed {seed}: the interval shows it too"
        );
    }
}

// ---- the issue 11 failures, reproduced ----------------------------------------

/// A level redrawn uniformly in 0..`churn` at random times, held for an
/// exponential time of mean `hold` seconds (buffers held by an allocator).
fn jump_noise(x: &[f64], churn: f64, hold: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let (mut level, mut until) = (0.0, f64::NEG_INFINITY);
    x.iter()
        .map(|&t| {
            if t >= until {
                level = churn * rng.uniform();
                until = t - hold * (1.0 - rng.uniform()).ln();
            }
            level
        })
        .collect()
}

#[test]
fn jump_noise_over_a_leak_is_a_leak() {
    // The new user's first try: churn of up to 16 MiB redrawn about every
    // second, 6 MiB/min leaking underneath, 90 s at 1 Hz. It passed (slope
    // 73 KiB/min, CI −13..+15 MiB/min): the jumps were taken for GC cycles.
    let x = times(90.0, 1.0);
    let (mut caught, mut alarms) = (0, 0);
    for seed in 0..100u64 {
        let noise = jump_noise(&x, 16.0 * MIB, 1.0, 11_000 + seed);
        let leak: Vec<f64> = x
            .iter()
            .zip(&noise)
            .map(|(t, n)| BASE + per_min(6.0) * t + n)
            .collect();
        let v = analyse(&x, &leak);
        if seed == 0 {
            show("jump noise + 6 MiB/min", &v);
        }
        assert_eq!(
            v.drift.model,
            DriftModel::Level,
            "seed {seed}: {}",
            v.drift.reason
        );
        caught += usize::from(v.leak);
        let flat: Vec<f64> = noise.iter().map(|n| BASE + n).collect();
        alarms += usize::from(analyse(&x, &flat).drift.significant);
    }
    println!("jump noise 16 MiB, 90 s: leak caught {caught}/100, false alarms {alarms}/100");
    assert!(caught >= 80, "{caught}/100");
    assert!(alarms <= 7, "{alarms}/100");
}

#[test]
fn a_climb_with_a_few_dips_is_a_leak() {
    // The sentence-transformers pipeline that kept every page's
    // embeddings: 55 MiB/min for 6 min with four small dips on the way.
    // It was "4 cycle floors; too few blocks, p = 1".
    let x = times(360.0, 1.0);
    for seed in 0..10u64 {
        let mut rng = Rng::new(12_000 + seed);
        let y: Vec<f64> = x
            .iter()
            .map(|&t| {
                let dips = (1..=4).filter(|k| t >= 70.0 * *k as f64).count() as f64;
                BASE + per_min(55.0) * t - 12.0 * MIB * dips + 2.0 * MIB * rng.normal()
            })
            .collect();
        let v = analyse(&x, &y);
        if seed == 0 {
            show("climb with 4 dips", &v);
        }
        assert_eq!(v.drift.model, DriftModel::Level, "{}", v.drift.reason);
        assert!(
            v.leak && v.drift.p_value < 1e-6,
            "seed {seed}: p {}",
            v.drift.p_value
        );
        // The net rate: 55 MiB/min less the four 12 MiB dips.
        assert!(rel_err(v.drift.slope, per_min(55.0 - 48.0 / 6.0)) < 0.1);
    }
}

#[test]
fn a_sawtooth_on_one_period_says_what_the_sampling_grid_can_hide() {
    // A GC sawtooth of 300 MiB every 10 s over 5 MiB/min, 90 s: the
    // floors alone gave the right slope at p = 0.08 (issue 11), and whole
    // cycle means, with the grid's error taken as random, caught it in 28
    // to 35 runs of 50 at 1 Hz. But every drop fits one period of
    // 9.86–10.14 s, and over 7 cycles a period at either end moves the
    // sampled means by one sample's climb of the ramp (30 MiB): ±26 MiB/min
    // that 90 s at 1 Hz cannot tell from a leak of 5 (a cache flushed every
    // 9.85 s failed a gate on that). Not significant, and the interval
    // holds the truth; at 10 Hz a sample's climb is 3 MiB, and the leak is
    // caught in every run.
    let truth = per_min(5.0);
    for hz in [1.0, 10.0] {
        let x = times(90.0, hz);
        let mut caught = 0;
        for seed in 0..20u64 {
            let y = sawtooth(&x, 10.0, 0.0, 0.02 * seed as f64, truth, 13_000 + seed);
            let v = analyse(&x, &y);
            if seed == 0 {
                show(
                    &format!("sawtooth on one period + 5 MiB/min 90 s {hz} Hz"),
                    &v,
                );
            }
            assert!(v.drift.method.contains("one period"), "{}", v.drift.method);
            assert!(v.drift.ci_low <= truth && truth <= v.drift.ci_high);
            caught += usize::from(v.leak);
        }
        println!("{hz} Hz: caught {caught}/20");
        if hz == 1.0 {
            assert_eq!(caught, 0);
        } else {
            assert!(caught >= 18, "{caught}/20");
        }
    }
}

#[test]
fn sparse_samples_stay_in_the_data_range() {
    // pss read on a 1% duty cycle: ~30 samples over 20 min of a flat
    // process whose pss jumps between 100 and 160 MiB. The floors of "2
    // cycles" gave −26 MiB/min, a growth of −344 MiB on a 60 MiB range.
    let x: Vec<f64> = (0..30).map(|i| 40.0 * i as f64).collect();
    let mut significant = 0;
    for seed in 0..200u64 {
        let y: Vec<f64> = jump_noise(&x, 60.0 * MIB, 60.0, 14_000 + seed)
            .iter()
            .map(|n| 100.0 * MIB + n)
            .collect();
        let d = drift(&x, &y, 0.95).unwrap();
        let (lo, hi) = y
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        let growth = d.slope * (x[29] - x[0]);
        assert!(
            growth.abs() <= 1.25 * (hi - lo),
            "seed {seed}: growth {} MiB",
            growth / MIB
        );
        significant += usize::from(d.significant);
    }
    println!("sparse jumpy pss: significant {significant}/200");
    assert!(significant <= 14, "{significant}/200");
}

#[test]
fn a_flat_jumpy_heap_has_an_interval_the_noise_allows() {
    // The candle heap jumping 104–123 MiB batch to batch, 1,200 samples:
    // the 95% CI was −17.8 … +18.9 MiB/min. White noise of that spread
    // allows about ±0.05 MiB/min; ten times that is still a useful gate.
    let x = times(1200.0, 1.0);
    let mut widest = 0.0f64;
    for seed in 0..20u64 {
        let y: Vec<f64> = jump_noise(&x, 19.0 * MIB, 1.5, 15_000 + seed)
            .iter()
            .map(|n| 104.0 * MIB + n)
            .collect();
        let v = analyse(&x, &y);
        if seed == 0 {
            show("flat jumpy heap 20 min", &v);
        }
        let half = 0.5 * (v.drift.ci_high - v.drift.ci_low) * 60.0 / MIB;
        widest = widest.max(half);
        assert!(!v.leak);
    }
    println!("flat jumpy heap: widest CI half-width {widest:.3} MiB/min");
    assert!(widest < 0.5, "{widest} MiB/min");
}

// ---- calibration targets (issue 11), on the calibration scenarios ---------

use crate::stats::calibration::{self as cal, Behaviour, Noise, Scenario};

/// The end-of-run verdict of `memsoak` at 95% on one simulated run: (threshold
/// failed, trend significant either way). The materiality floor is 1 MiB.
fn verdict_of(s: &Scenario, seed: u64) -> (bool, bool) {
    let (x, y) = s.simulate(seed);
    let v = analyse(&x, &y);
    let span = x[x.len() - 1] - x[v.warmup];
    let fail = v.drift.significant && v.drift.slope > cal::LIMIT && v.drift.slope * span >= MIB;
    (fail, v.drift.significant)
}

/// Share of `seeds` runs for which `pick` holds, on two threads.
fn rate(s: &Scenario, seeds: u64, pick: fn((bool, bool)) -> bool) -> f64 {
    let hits: usize = std::thread::scope(|sc| {
        let h: Vec<_> = (0..2u64)
            .map(|k| {
                sc.spawn(move || {
                    (k..seeds)
                        .step_by(2)
                        .filter(|&seed| pick(verdict_of(s, 50_000 + seed)))
                        .count()
                })
            })
            .collect();
        h.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    hits as f64 / seeds as f64
}

/// Cells where the target does not hold yet, with the bound they are held
/// to instead (README "Detection calibration", still weak): short (90 s)
/// runs of persistent noise, where 90 samples cannot measure how
/// persistent it is, the mixture of jump and persistent noise at every
/// length, and a cache still filling after the warm-up cut.
fn weak_bound(seconds: f64, noise: Noise, behaviour: Behaviour) -> f64 {
    let short = seconds < 100.0;
    match (behaviour, noise) {
        // NOTE: the mixture's persistence (holds of 5 s, AR(1) 0.9) is
        // under-measured at every length: 10–20% in the full table.
        (Behaviour::Flat, Noise::Mixture) => 0.2,
        (Behaviour::Flat, Noise::Ar1(_) | Noise::JitteredSawtooth) if short => 0.15,
        (Behaviour::Warmup, Noise::Ar1(_) | Noise::Mixture) if short => 0.18,
        // NOTE: a warm-up cut can leave part of the fill in front of a
        // long cycle's drop, and the one drop then keeps most of the rise:
        // 6–8% at 90 s (10–11% while the cut could also stay on the drop's
        // top, `a_warm_up_cut_never_strands_a_long_cycles_drop`).
        (Behaviour::Warmup, Noise::SlowSawtooth) if short => 0.09,
        // NOTE: 0–8% on these seeds with the saturating-fill warm-up cut
        // (the full table had up to 20% at 1 Hz without it); 0.15 leaves
        // room for the mixture, at 9–12% in the full table.
        (Behaviour::BoundedCache, _) if short => 0.15,
        _ => 0.07,
    }
}

#[test]
fn a_warm_up_cut_never_strands_a_long_cycles_drop() {
    // A 60 MiB warm-up fill, then a 24 MiB cycle of 54 s, 90 s at 1 and
    // 10 Hz. MSER cut the first four runs at the top of the ramp before the
    // cycle's drop (35 s, at its 40% cap) or on the sample after it (36 s):
    // what was left showed no drop and read as a climb of 26 MiB/min,
    // p < 1e-9, because the whole run, fill included, made the one drop
    // "keep most of the rise" and the cut was left where MSER put it. In
    // the last three the cycle also drops inside the fill (at 1–1.7 s), and
    // MSER cut 5–6.5 s into the fill: its rest and the ramp read as a climb
    // into a drop that kept most of it (8–11 MiB/min, p < 0.01).
    for (hz, seed) in [
        (1.0, 5),
        (1.0, 6),
        (1.0, 109),
        (10.0, 6),
        (10.0, 1),
        (10.0, 18),
        (10.0, 30),
    ] {
        let s = Scenario {
            noise: Noise::SlowSawtooth,
            behaviour: Behaviour::Warmup,
            seconds: 90.0,
            hz,
        };
        let (x, y) = s.simulate(seed);
        // The long cycle's drop: the last fall of more than 10 MiB.
        let top = (1..y.len())
            .rev()
            .find(|&i| y[i] < y[i - 1] - 10.0 * MIB)
            .map(|i| i - 1)
            .expect("the cycle drops");
        let fill_end = (9.0 * hz) as usize;
        let cut = auto_warmup(&x, &y);
        assert!(
            fill_end <= cut && cut < top,
            "{hz} Hz seed {seed}: cut {cut}, fill until {fill_end}, drop after {top}"
        );
        let v = analyse(&x, &y);
        assert_eq!(v.drift.model, DriftModel::LongCycle, "{hz} Hz seed {seed}");
        assert!(
            !v.drift.significant,
            "{hz} Hz seed {seed}: p = {}",
            v.drift.p_value
        );
    }
}

#[test]
fn calibration_false_alarms_and_power_hold_in_every_cell() {
    // The targets of issue 11 on 100 seeds a cell (the full table, 200
    // seeds and more lengths: `cargo run --release --example calibrate`):
    // false alarms ≤ 7% in every no-leak cell, power ≥ 90% for a leak 3×
    // the limit wherever the oracle needs at most half the run. The cells
    // in [`weak_bound`] are held to their own bound.
    let seeds = 100;
    let mut failures = Vec::new();
    for (seconds, hz) in [(90.0, 1.0), (600.0, 1.0)] {
        for noise in Noise::ALL {
            let cell = |behaviour| Scenario {
                noise,
                behaviour,
                seconds,
                hz,
            };
            let mut row = format!("{seconds} s {hz} Hz {:<20}", noise.name());
            for b in [Behaviour::Flat, Behaviour::Warmup, Behaviour::BoundedCache] {
                let fa = if b == Behaviour::Flat {
                    rate(&cell(b), seeds, |v| v.1)
                } else {
                    rate(&cell(b), seeds, |v| v.0)
                };
                row.push_str(&format!(" {} {:>3.0}%", b.name(), 100.0 * fa));
                if fa > weak_bound(seconds, noise, b) {
                    failures.push(format!("{row}: {}", b.name()));
                }
            }
            let leak = cell(Behaviour::Linear(3.0));
            if leak
                .t_star(3.0 * cal::LIMIT)
                .is_some_and(|t| t <= seconds / 2.0)
            {
                let power = rate(&leak, seeds, |v| v.0);
                row.push_str(&format!(" power 3× {:>3.0}%", 100.0 * power));
                if power < 0.9 {
                    failures.push(format!("{row}: power"));
                }
            }
            println!("{row}");
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_step_at_mid_run_under_held_levels_or_a_gc_sawtooth_is_caught() {
    // A step as large as 3× the limit over half a 30-minute run (90 MiB)
    // under levels redrawn and held, and under a 24 MiB GC sawtooth: the
    // step was read as persistence (held levels: MAD of the differences 0,
    // the step left in; p ≈ 0.2), or it hid the cycles (the sawtooth's
    // drops were under a quarter of the range it made). 0% and 34% of the
    // 200 runs were caught.
    for noise in [Noise::Jump, Noise::Sawtooth, Noise::Quantised] {
        let s = Scenario {
            noise,
            behaviour: Behaviour::Step,
            seconds: 1800.0,
            hz: 1.0,
        };
        let caught = (0..12u64).filter(|&seed| verdict_of(&s, seed).0).count();
        println!("{}: step caught {caught}/12", noise.name());
        assert!(caught >= 11, "{}: {caught}/12", noise.name());
    }
}

#[test]
fn an_interval_never_leaves_the_data_range() {
    // Levels held ~5 s, sampled at 10 Hz for 90 s: 900 samples worth a
    // handful. Sen's rank bounds fell off the ends of the pairwise slopes,
    // and the interval became −7,500 … +6,600 MiB/min on 20 MiB of data.
    let s = Scenario {
        noise: Noise::Jump,
        behaviour: Behaviour::Linear(3.0),
        seconds: 90.0,
        hz: 10.0,
    };
    let mut clamped = 0;
    for seed in 0..12u64 {
        let (x, y) = s.simulate(seed);
        let v = analyse(&x, &y);
        let tail = &y[v.warmup..];
        let (lo, hi) = tail
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let span = x[x.len() - 1] - x[v.warmup];
        let bound = 1.25 * (hi - lo) / span * (1.0 + 1e-9);
        assert!(
            v.drift.ci_low >= -bound && v.drift.ci_high <= bound,
            "seed {seed}: [{}, {}] beyond ±{} MiB/min",
            v.drift.ci_low * 60.0 / MIB,
            v.drift.ci_high * 60.0 / MIB,
            bound * 60.0 / MIB
        );
        // Flagged exactly where the reason says it was clamped: a plan
        // cannot be made from such an interval (`analysis::settle`).
        assert_eq!(
            v.drift.interval_from_range,
            v.drift.reason.contains("clamped"),
            "seed {seed}: {}",
            v.drift.reason
        );
        clamped += usize::from(v.drift.interval_from_range);
    }
    assert!(clamped > 0, "no seed reached the range bound");
    let white = Scenario {
        noise: Noise::White,
        ..s
    };
    let (x, y) = white.simulate(0);
    assert!(!analyse(&x, &y).drift.interval_from_range);
}

#[test]
fn a_leak_on_page_quantised_readings_is_fitted_at_its_rate() {
    // The whole reading rounded to 4 MiB pages, 2 MiB of noise, a leak of
    // 1.5× the limit (3 MiB/min) over 90 s at 1 Hz: 41% of the pairs tie,
    // and Sen's median of the pairwise slopes on the samples was
    // 0.1 MiB/min (8% of such runs failed the limit). The slope of block
    // means is unbiased.
    let s = Scenario {
        noise: Noise::Quantised,
        behaviour: Behaviour::Linear(1.5),
        seconds: 90.0,
        hz: 1.0,
    };
    let mut slopes = Vec::new();
    let mut caught = 0;
    for seed in 0..40u64 {
        let (x, y) = s.simulate(seed);
        let v = analyse(&x, &y);
        assert!(
            v.drift.method.contains("block means"),
            "seed {seed}: {}",
            v.drift.method
        );
        slopes.push(v.drift.slope);
        caught += usize::from(verdict_of(&s, seed).0);
    }
    let med = crate::stats::median(&slopes).unwrap_or(0.0);
    println!(
        "median slope {:.2} MiB/min, caught {caught}/40",
        med * 60.0 / MIB
    );
    assert!(rel_err(med, 1.5 * cal::LIMIT) < 0.1, "{}", per_min(med));
    assert!(caught >= 32, "{caught}/40");
    // No blocking where nothing ties: the same leak under white noise.
    let (x, y) = Scenario {
        noise: Noise::White,
        ..s
    }
    .simulate(1);
    assert!(analyse(&x, &y).drift.method.contains("all 90 samples"));
}

/// Readings of a real run, in 4 KiB pages one second apart: (seconds, bytes).
fn page_readings(pages: &[u32]) -> (Vec<f64>, Vec<f64>) {
    let x = (0..pages.len()).map(|i| i as f64).collect();
    (x, pages.iter().map(|&p| f64::from(p) * 4096.0).collect())
}

/// The fit of a real run's [`page_readings`] from the warm-up cut the run
/// made (`cut` samples in), shown.
fn page_readings_fit(name: &str, pages: &[u32], cut: usize) -> Drift {
    let (x, y) = page_readings(pages);
    let v = Verdict {
        drift: drift(&x[cut..], &y[cut..], 0.95).expect("enough points"),
        warmup: cut,
        leak: false,
    };
    show(name, &v);
    v.drift
}

#[test]
fn a_staircase_climbing_under_a_flushed_cache_is_a_leak() {
    // RSS in pages, one reading a second, of a real Python target (90 s,
    // `memsoak watch`): a cache of 64 KiB buffers filled to 48 MiB and
    // cleared every 10 s, and a leak of 6 MiB/min kept in 64 KiB pieces on
    // glibc's heap. The leak pins the heap's top, the flushed cache is
    // never given back, and RSS climbs as a staircase: levels held 10 s,
    // one step up a flush. On the samples the held levels read as
    // persistence: 7.6 MiB/min with an interval of 6.6–8.6, but p = 0.06,
    // and the gate passed it.
    const PAGES: [u32; 92] = [
        1237, 4611, 5877, 7142, 8423, 9649, 10891, 12140, 13422, 14687, 15953, 15393, 15393, 15393,
        15393, 15393, 15393, 15393, 15393, 15393, 16161, 15585, 15585, 15585, 15585, 15585, 15585,
        15585, 15585, 15585, 16369, 15873, 15873, 15873, 15873, 15873, 15873, 15873, 15873, 15873,
        16625, 16817, 16817, 16817, 16817, 16817, 16817, 16817, 16817, 16817, 16882, 17074, 17074,
        17074, 17074, 17074, 17074, 17074, 17074, 17074, 17138, 17331, 17331, 17331, 17331, 17331,
        17331, 17331, 17331, 17331, 17379, 17635, 17635, 17635, 17635, 17635, 17635, 17635, 17635,
        17635, 17635, 17828, 17828, 17828, 17828, 17828, 17828, 17828, 17828, 17828, 17828, 17844,
    ];
    // After the first fill (the 20 s the run cut as warm-up).
    let d = page_readings_fit("staircase", &PAGES, 20);
    assert!(d.method.contains("block means"), "{}", d.method);
    // RSS itself climbed 9.6 MiB in the 80 s after the first flush.
    assert_staircase_leak(&d, 0.01, 5.0..10.0);
}

/// A staircase's fit: significant below `p_max`, its whole interval past
/// the limit, its slope within `mib_per_min`.
fn assert_staircase_leak(d: &Drift, p_max: f64, mib_per_min: std::ops::Range<f64>) {
    assert!(d.significant && d.p_value < p_max, "p = {}", d.p_value);
    assert!(d.ci_low > LIMIT, "{} MiB/min", d.ci_low * 60.0 / MIB);
    assert!(
        d.slope > per_min(mib_per_min.start) && d.slope < per_min(mib_per_min.end),
        "{} MiB/min",
        d.slope * 60.0 / MIB
    );
}

#[test]
fn a_staircase_that_starts_with_its_largest_step_is_a_leak() {
    // The same target with the cache in 256 KiB buffers, watched 120 s: it
    // climbed 11.6 MiB in the 80 s after the warm-up cut, one level a
    // flush, but the first step (4 MiB, after a one-sample spike and a dip)
    // is three times the others. About a line, its 27 means bend (low at
    // the start, high in the middle) and read as persistence: worth 3.1,
    // Student's t on 1.2 degrees of freedom, p = 0.077, and the gate
    // passed it (1 of 4 such runs by hand). The means' steps are up in 13
    // of 26 and down in 1: the mean step's t test, which persistence only
    // makes conservative, reads p = 0.008.
    const PAGES: [u32; 122] = [
        399, 4587, 5773, 7105, 8373, 9624, 10956, 12208, 13475, 14807, 15994, 4766, 5998, 7310,
        8558, 9790, 11038, 12270, 13582, 14831, 16063, 15583, 15583, 15583, 15583, 15583, 15583,
        15583, 15583, 15583, 16399, 15919, 15919, 15919, 15919, 15919, 15919, 15919, 15919, 15919,
        16735, 16255, 16255, 16255, 16255, 16255, 16255, 16255, 16255, 16255, 17072, 17344, 17344,
        17344, 17344, 17344, 17344, 17344, 17344, 17344, 17344, 17680, 17680, 17680, 17680, 17680,
        17680, 17680, 17680, 17680, 17680, 18016, 18016, 18016, 18016, 18016, 18016, 18016, 18016,
        18016, 18016, 18352, 18352, 18352, 18352, 18352, 18352, 18352, 18352, 18352, 18353, 18689,
        18689, 18689, 18689, 18689, 18689, 18689, 18689, 18689, 18689, 18929, 18929, 18929, 18929,
        18929, 18929, 18929, 18929, 18929, 18929, 19265, 19265, 19265, 19265, 19265, 19265, 19265,
        19265, 19265, 19265, 19265,
    ];
    // From the warm-up cut the run made, at 40 s.
    let d = page_readings_fit("staircase, largest step first", &PAGES, 40);
    assert!(d.method.contains("mean step"), "{}", d.method);
    assert_staircase_leak(&d, 0.02, 7.0..10.0);
}

#[test]
fn on_quantised_readings_significance_and_the_interval_agree() {
    // One fit decides both (`quantised_fit`): significant exactly when the
    // interval leaves 0. The test ran on the samples before and the two
    // parted in 10–11% of quantised bounded caches and 4–6% of flat runs.
    let mut fitted = 0;
    for behaviour in [
        Behaviour::Flat,
        Behaviour::BoundedCache,
        Behaviour::Step,
        Behaviour::Linear(1.5),
    ] {
        for hz in [1.0, 10.0] {
            let s = Scenario {
                noise: Noise::Quantised,
                behaviour,
                seconds: 90.0,
                hz,
            };
            for seed in 0..40u64 {
                let (x, y) = s.simulate(seed);
                let d = analyse(&x, &y).drift;
                if !d.method.contains("least squares' t test on the means") {
                    continue;
                }
                fitted += 1;
                let clear = d.ci_low > 0.0 || d.ci_high < 0.0;
                assert_eq!(
                    d.significant,
                    clear,
                    "{} at {hz} Hz, seed {seed}: p {} CI {}..{}",
                    behaviour.name(),
                    d.p_value,
                    d.ci_low,
                    d.ci_high
                );
            }
        }
    }
    assert!(fitted >= 300, "{fitted} of 320 runs fitted on the means");
}

#[test]
fn cycles_that_end_in_a_climb_are_not_one_long_cycle() {
    // RSS in pages, one reading a second, of a real Python target (90 s,
    // `memsoak watch`): a cache of 256 KiB buffers filled to 48 MiB and
    // flushed every 10 s over a 6 MiB/min leak. The first two flushes gave
    // the pages back (mmapped buffers); then glibc raised its mmap
    // threshold, the buffers stayed on the heap, and RSS climbed as a
    // staircase for the 70 s left. One drop and no other: it was fitted as
    // one long cycle (p = 1, slope clamped to ±56 MiB/min) and passed.
    const PAGES: [u32; 92] = [
        1304, 4652, 5903, 7236, 8503, 9689, 11022, 12273, 13605, 14873, 16124, 4830, 6062, 7374,
        8622, 9918, 11167, 12335, 13647, 14895, 16127, 16335, 16335, 16335, 16335, 16335, 16335,
        16335, 16335, 16335, 16399, 16672, 16672, 16672, 16673, 16673, 16673, 16673, 16673, 16673,
        16737, 17009, 17009, 17009, 17009, 17009, 17009, 17009, 17009, 17009, 17073, 17345, 17345,
        17345, 17345, 17345, 17345, 17345, 17345, 17345, 17409, 17681, 17681, 17681, 17681, 17681,
        17681, 17681, 17681, 17681, 17745, 18018, 18018, 18018, 18018, 18018, 18018, 18018, 18018,
        18018, 18018, 18354, 18354, 18354, 18354, 18354, 18354, 18354, 18354, 18354, 18354, 18418,
    ];
    let (x, y) = page_readings(&PAGES);
    // On the whole window the one drop is no cycle view.
    let whole = drift(&x, &y, 0.95).expect("enough points");
    assert_eq!(whole.model, DriftModel::Level, "{}", whole.reason);
    assert!(
        whole.reason.contains("the cycles ended"),
        "{}",
        whole.reason
    );
    // So the warm-up cut may fall after the cycles (it was moved back to
    // the start, to keep the "long cycle" whole).
    let v = analyse(&x, &y);
    show("cycles then a staircase", &v);
    let d = &v.drift;
    assert!(v.warmup >= 20, "warm-up cut at {}", v.warmup);
    assert_eq!(d.model, DriftModel::Level, "{}", d.reason);
    assert!(
        v.leak && d.ci_low > LIMIT,
        "{} MiB/min",
        d.ci_low * 60.0 / MIB
    );
    // The staircase itself: 16,335 → 18,418 pages (8.1 MiB) in 70 s.
    assert!(
        d.slope > per_min(5.0) && d.slope < per_min(9.0),
        "{} MiB/min",
        d.slope * 60.0 / MIB
    );
}

#[test]
fn a_cache_a_timer_flushes_off_the_sampling_grid_is_no_leak() {
    // `flush.py --period 9.85` watched 90 s at 1 Hz, RSS in pages: a cache
    // filled to 48 MiB and dropped every 9.85 s (plus the loop's few ms).
    // Each drop falls 0.15 s later in the sampling grid than the one
    // before, so each cycle is sampled a little higher up its ramp: the
    // cycle means climb one sample's worth of ramp (4.8 MiB) over the
    // run. Read as random, that was 4.56 MiB/min, p = 0.003, and the
    // healthy process failed `rss.slope<2MiB/min`. (The run's last reading,
    // taken again at exit at the same time, is left out.)
    const PAGES: [u32; 91] = [
        380, 4671, 5922, 7171, 8436, 9686, 10936, 12185, 13450, 14700, 3626, 4874, 6123, 7323,
        8571, 9820, 11084, 12332, 13581, 14845, 3754, 5002, 6251, 7435, 8699, 9948, 11196, 12460,
        13709, 14957, 3866, 5130, 6379, 7627, 8827, 10076, 11340, 12588, 13837, 15101, 4058, 5306,
        6571, 7819, 9003, 10252, 11516, 12764, 14013, 15261, 4186, 5435, 6683, 7931, 9195, 10444,
        11692, 12892, 14141, 15389, 4314, 5563, 6811, 8075, 9323, 10572, 11836, 13084, 14269,
        15533, 4426, 5691, 6939, 8187, 9435, 10684, 11948, 13196, 14445, 15709, 4618, 5819, 7067,
        8315, 9564, 10828, 12076, 13324, 14573, 15837, 4746,
    ];
    let (x, y) = page_readings(&PAGES);
    let v = analyse(&x, &y);
    show("flush.py --period 9.85", &v);
    assert_eq!(v.drift.model, DriftModel::Cycles, "{}", v.drift.reason);
    assert!(v.drift.method.contains("one period"), "{}", v.drift.method);
    assert!(!v.leak && !v.drift.significant, "p = {}", v.drift.p_value);
    assert!(v.drift.ci_low < 0.0 && v.drift.ci_high > 0.0);
}

#[test]
fn timer_flushes_pass_healthy_and_fail_leaking_wherever_the_period_falls() {
    // Periods across one sample of phase drift each way (9.8–10.2 s at
    // 1 Hz), 90 s runs, 24 MiB ramps: healthy runs stay within the 7%
    // target and a 6 MiB/min leak under them is caught.
    let (mut false_alarms, mut caught, mut runs) = (0, 0, 0);
    for (i, period) in [
        9.8, 9.85, 9.9, 9.95, 9.99, 10.0, 10.01, 10.05, 10.1, 10.15, 10.2,
    ]
    .into_iter()
    .enumerate()
    {
        let shape = Cycles {
            amp: 24.0 * MIB,
            white: MIB,
            period,
            jitter: 0.0,
        };
        let x = times(90.0, 1.0);
        for seed in 0..10 {
            let s = 1000 * i as u64 + seed;
            let phase = 0.1 * seed as f64;
            let healthy = analyse(&x, &cycles(&x, shape, phase, 0.0, s));
            let leaking = analyse(&x, &cycles(&x, shape, phase, per_min(6.0), s));
            false_alarms += usize::from(healthy.drift.significant);
            caught += usize::from(leaking.leak);
            runs += 1;
        }
    }
    println!("timer flushes: {false_alarms} of {runs} significant healthy, {caught} leaks caught");
    assert!(false_alarms * 100 <= 7 * runs, "{false_alarms} of {runs}");
    assert!(caught * 100 >= 90 * runs, "{caught} of {runs}");
}

#[test]
fn drops_on_one_period_give_the_range_of_periods_that_fit_them() {
    // Drops every 9.85 s sampled at 1 Hz: the range holds 9.85 and
    // narrows as drops accumulate; drops at 6–14 s spacing fit none.
    let on_period = |period: f64, count: usize| {
        let x: Vec<f64> = (0..(period * count as f64) as usize + 12)
            .map(|i| i as f64)
            .collect();
        let troughs: Vec<usize> = (1..=count)
            .map(|k| (0.3 + k as f64 * period).ceil() as usize)
            .collect();
        let saw = Sawtooth {
            drop_starts: troughs.iter().map(|&t| t - 1).collect(),
            troughs,
            period: period.round() as usize,
        };
        let cycles: Vec<(usize, usize)> = (0..count - 1)
            .map(|k| (saw.troughs[k], saw.drop_starts[k + 1]))
            .collect();
        let mx: Vec<f64> = cycles.iter().map(|&(a, b)| 0.5 * (x[a] + x[b])).collect();
        let my = vec![0.0; cycles.len()];
        on_one_period(&x, &saw, &cycles, &mx, &my, 1.0)
    };
    let few = on_period(9.85, 9).expect("one period fits");
    let many = on_period(9.85, 60).expect("one period fits");
    for g in [&few, &many] {
        assert!(
            g.period_lo <= 9.85 && 9.85 <= g.period_hi,
            "{}–{}",
            g.period_lo,
            g.period_hi
        );
    }
    assert!(many.period_hi - many.period_lo < 0.2 * (few.period_hi - few.period_lo));
    assert!(many.bound < few.bound);
    let x: Vec<f64> = (0..80).map(f64::from).collect();
    let troughs = vec![6, 20, 27, 41, 48, 62];
    let saw = Sawtooth {
        drop_starts: troughs.iter().map(|&t| t - 1).collect(),
        troughs,
        period: 10,
    };
    let cycles: Vec<(usize, usize)> = (0..5)
        .map(|k| (saw.troughs[k], saw.drop_starts[k + 1]))
        .collect();
    assert!(on_one_period(&x, &saw, &cycles, &[0.0; 5], &[0.0; 5], 1.0).is_none());
}

/// The positive periods every pair of drops allows, by brute force: pair
/// j < k allows (lo_k − hi_j)/(k − j) ≤ P ≤ (hi_k − lo_j)/(k − j). O(D²),
/// the oracle `periods_that_fit` is held to.
fn pairwise_periods(lo: &[f64], hi: &[f64]) -> Option<(f64, f64)> {
    let (mut a, mut b) = (f64::NEG_INFINITY, f64::INFINITY);
    for k in 0..lo.len() {
        for j in 0..k {
            let d = (k - j) as f64;
            a = a.max((lo[k] - hi[j]) / d);
            b = b.min((hi[k] - lo[j]) / d);
        }
    }
    (a <= b && a > 0.0).then_some((a, b))
}

#[test]
fn the_periods_that_fit_are_those_every_pair_of_drops_allows() {
    // The range is what all pairs allow, over every drop however many.
    let mut rng = Rng::new(11);
    for (period, drops) in [(9.85, 9), (10.0, 40), (9.8732, 700), (10.0917, 2000)] {
        // Sampled at 1 Hz, each drop seen between the samples around it.
        let phase = rng.uniform();
        let hi: Vec<f64> = (0..drops)
            .map(|k| (phase + k as f64 * period).ceil())
            .collect();
        let lo: Vec<f64> = hi.iter().map(|h| h - 1.0).collect();
        let (a, b) = periods_that_fit(&lo, &hi).expect("one period fits");
        let (pa, pb) = pairwise_periods(&lo, &hi).expect("one period fits");
        assert!(
            (a - pa).abs() < 1e-9 && (b - pb).abs() < 1e-9,
            "{drops} drops: {a}–{b} against {pa}–{pb}"
        );
        assert!(a <= period && period <= b);
        // At either end τ₀ still has room: every drop k allows
        // τ₀ ∈ (lo_k − kP, hi_k − kP], and these meet.
        for p in [a, b] {
            let top = (0..drops)
                .map(|k| lo[k] - k as f64 * p)
                .fold(f64::MIN, f64::max);
            let bottom = (0..drops)
                .map(|k| hi[k] - k as f64 * p)
                .fold(f64::MAX, f64::min);
            assert!(
                top <= bottom + 1e-6,
                "{drops} drops at {p}: {top} > {bottom}"
            );
        }
    }
    // Drops 6–14 s apart fit no one period, nor do fewer than two.
    let hi: Vec<f64> = [6.0, 20.0, 27.0, 41.0, 48.0, 62.0, 70.0].to_vec();
    let lo: Vec<f64> = hi.iter().map(|h| h - 1.0).collect();
    assert_eq!(pairwise_periods(&lo, &hi), None);
    assert_eq!(periods_that_fit(&lo, &hi), None);
    assert_eq!(periods_that_fit(&[4.0], &[5.0]), None);
}

#[test]
fn a_t_error_plus_a_uniform_one_has_the_tails_of_both() {
    // No uniform part: Student's t itself.
    assert!((t_plus_uniform_sf(2.0, 1.0, 5.0, 0.0) - t_sf(2.0, 5.0)).abs() < 1e-12);
    // Symmetric about 0, and a uniform of ±1 with no t part: its own tail.
    assert!((t_plus_uniform_sf(0.0, 1.0, 5.0, 3.0) - 0.5).abs() < 1e-9);
    assert!((t_plus_uniform_sf(0.5, 0.0, 5.0, 1.0) - 0.25).abs() < 1e-9);
    // The quantile inverts the tail, and the sum is wider than either.
    let h = t_plus_uniform_quantile(0.975, 1.0, 10.0, 2.0);
    assert!((t_plus_uniform_sf(h, 1.0, 10.0, 2.0) - 0.025).abs() < 1e-6);
    assert!(h > t_quantile(0.975, 10.0) && h > 0.95 * 2.0);
    assert!(h < t_quantile(0.975, 10.0) + 2.0);
}

#[test]
fn a_long_cycle_needs_a_steady_ramp() {
    // A straight climb is perfectly correlated with its order; a constant,
    // not at all.
    let line: Vec<f64> = (0..50).map(|i| 3.0 + 2.0 * f64::from(i)).collect();
    assert!((correlation_with_index(&line) - 1.0).abs() < 1e-12);
    assert_eq!(correlation_with_index(&[5.0; 10]), 0.0);
    // A ramp of 24 under noise of sd 1, and the same after a steep start
    // (a warm-up's remnant in front of it): steady, bend or not.
    let mut rng = Rng::new(4);
    let ramp: Vec<f64> = (0..60)
        .map(|i| 24.0 * f64::from(i) / 59.0 + rng.normal())
        .collect();
    assert!(long_ramp_rise(&ramp, 0, 59).is_some());
    let bent: Vec<f64> = (0..60)
        .map(|i| {
            let t = f64::from(i);
            40.0 * (t / 10.0).min(1.0) + 0.4 * t + rng.normal()
        })
        .collect();
    assert!(long_ramp_rise(&bent, 0, 59).is_some());
    // A climb whose lowest sample comes late: the last 20 of 60 samples
    // climb, after 40 that wander about the top.
    let mut wander: Vec<f64> = (0..40).map(|_| 20.0 + 3.0 * rng.normal()).collect();
    wander.extend((0..20).map(|i| 24.0 * f64::from(i) / 19.0));
    wander[40] = 0.0;
    assert!(ramp_rise(&wander, 0, 59).is_some(), "gradual, step by step");
    assert!(
        long_ramp_rise(&wander, 0, 59).is_none(),
        "a third of the stretch"
    );
    // From its lowest sample to its highest in gradual steps, but as a
    // swell of ±8 over a rise of 12.
    let mut swell: Vec<f64> = (0..60)
        .map(|i| 0.2 * f64::from(i) + 8.0 * (f64::from(i) / 4.0).sin())
        .collect();
    swell[0] = -10.0;
    swell[59] = 25.0;
    let rho = correlation_with_index(&average_ranks(&swell));
    assert!(rho < 0.7, "{rho}");
    assert!(ramp_rise(&swell, 0, 59).is_some());
    assert!(long_ramp_rise(&swell, 0, 59).is_none());
    // Readings held at equal levels are no climb, ties or not.
    let held = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 3.0];
    assert!(long_ramp_rise(&held, 0, 11).is_none());
}

#[test]
fn the_mixture_sampled_at_10_hz_is_read_a_point_a_second_too() {
    // Held levels of 5 s under AR(1) 0.9 per sample and heavy tails (the
    // table's mixture), 90 s at 10 Hz: read on the samples alone, 14% of
    // flat runs were significant and 12% of bounded caches failed (200
    // seeds). The weaker of the samples and a point a second holds both
    // to 7%.
    let seeds = 100;
    let cell = |behaviour| Scenario {
        noise: Noise::Mixture,
        behaviour,
        seconds: 90.0,
        hz: 10.0,
    };
    let flat = rate(&cell(Behaviour::Flat), seeds, |v| v.1);
    let cache = rate(&cell(Behaviour::BoundedCache), seeds, |v| v.0);
    println!("mixture at 10 Hz: flat significant {flat}, caches failed {cache}");
    assert!(flat <= 0.07, "flat runs significant: {flat}");
    assert!(cache <= 0.07, "caches failed: {cache}");
    // The second reading runs, and is the one reported where it is the
    // weaker (its `method` says so).
    let s = cell(Behaviour::Flat);
    let read_per_second = (0..20)
        .filter(|&seed| {
            let (x, y) = s.simulate(seed);
            let w = auto_warmup(&x, &y);
            let d = drift(&x[w..], &y[w..], 0.95).expect("enough points");
            d.method.contains("a point a second")
        })
        .count();
    assert!(read_per_second >= 5, "{read_per_second} of 20");
}

#[test]
fn samples_a_second_apart_or_slower_short_spans_and_items_are_read_once() {
    // At 1 Hz the point-a-second reading is the samples themselves (also
    // with the sampler's jitter: its timestamps are read after each sample,
    // and a span a few ms under n − 1 s had made one block of two), and
    // under 29 s there is no second reading: the fit is the one without
    // it, to the bit. So is a fit over items done, whose x here are the
    // very seconds that the seconds axis reads twice.
    let same = |a: &Drift, b: &Drift| {
        a.slope.to_bits() == b.slope.to_bits()
            && a.p_value.to_bits() == b.p_value.to_bits()
            && a.ci_low.to_bits() == b.ci_low.to_bits()
            && a.method == b.method
    };
    let once = |x: &[f64], y: &[f64]| {
        drift_in_blocks(
            x,
            y,
            0.95,
            MAX_BLOCKS,
            0.0,
            NoiseAbout::Line,
            Span::WholeRun,
        )
        .expect("enough points")
    };
    for noise in [Noise::Mixture, Noise::White, Noise::Jump, Noise::Quantised] {
        for (hz, seconds) in [(1.0, 90.0), (0.5, 600.0), (1.0, 1800.0), (10.0, 28.5)] {
            let s = Scenario {
                noise,
                behaviour: Behaviour::Linear(1.5),
                seconds,
                hz,
            };
            for seed in 0..5 {
                let (x, y) = s.simulate(seed);
                let d = drift(&x, &y, 0.95).expect("enough points");
                assert!(same(&d, &once(&x, &y)), "{noise:?} {hz} Hz seed {seed}");
                // Each timestamp late by 1–20 ms, as the sampler's are.
                let mut rng = Rng::new(seed);
                let late: Vec<f64> = x
                    .iter()
                    .map(|t| t + 0.001 + 0.019 * rng.uniform())
                    .collect();
                let d = drift(&late, &y, 0.95).expect("enough points");
                assert!(
                    same(&d, &once(&late, &y)),
                    "{noise:?} {hz} Hz jittered seed {seed}"
                );
            }
        }
        let s = Scenario {
            noise,
            behaviour: Behaviour::Flat,
            seconds: 90.0,
            hz: 10.0,
        };
        let mut read_twice = 0;
        for seed in 0..5 {
            let (x, y) = s.simulate(seed);
            let d = drift_on(Axis::Items, &x, &y, 0.95).expect("enough points");
            assert!(same(&d, &once(&x, &y)), "{noise:?} items seed {seed}");
            read_twice += usize::from(!same(&drift(&x, &y, 0.95).expect("enough points"), &d));
        }
        // The same x as seconds: the second reading is what differs.
        assert!(read_twice > 0, "{noise:?}: seconds read as items");
    }
}

#[test]
fn a_climb_whose_last_sample_falls_back_is_a_climb() {
    // 6 MiB/min for 90 s at 1 Hz under 0.3 MiB of white noise, the last
    // sample back at the start's level (a black-box probe's shape). The
    // drop has no step after it, so nothing tells a cycle's end from a
    // one-sample dip: it was read as one ramp and drop (long cycle, p = 1)
    // and passed. Now it is no drop, and the climb is a leak. The same
    // with the fall one sample earlier (a step after it, which stays down)
    // is still one ramp and drop back.
    let x = times(91.0, 1.0);
    for seed in 0..10 {
        let mut y = linear(&x, per_min(6.0), 0.3 * MIB, seed);
        let n = y.len();
        y[n - 1] = BASE;
        let v = analyse(&x, &y);
        show("last sample back", &v);
        assert!(v.leak, "seed {seed}: {}", v.drift.method);
        assert_eq!(v.drift.drops, 0, "seed {seed}");
        assert!((v.drift.slope / per_min(6.0) - 1.0).abs() < 0.1);
        y[n - 2] = BASE;
        let v = analyse(&x, &y);
        assert_eq!(
            v.drift.model,
            DriftModel::LongCycle,
            "seed {seed}: {}",
            v.drift.method
        );
    }
}

/// Three drops in the run (two whole cycles): the three floors' trend is
/// tested on its one degree of freedom, where it had been untested (p = 1)
/// whatever the floors showed. Healthy 4-minute runs of cycles of 60–80 s
/// (regular or jittered, 0.5 or 1.5 MiB of noise, read as they are or in
/// whole MiB, where three floors may lie on a line by chance), 100 seeded
/// runs each: at most 7% significant in all, at most 10% in any one
/// family. The same cycles over a 5 MiB/min leak: tested on three floors
/// (p < 1) and mostly caught.
#[test]
fn three_drops_are_tested_on_their_floors() {
    let x = times(240.0, 1.0);
    let whole_mib =
        |y: Vec<f64>| -> Vec<f64> { y.iter().map(|v| (v / MIB).floor() * MIB).collect() };
    let (mut all, mut all_significant, mut on_floors, mut floors_significant) = (0, 0, 0, 0);
    let (mut leaks, mut caught) = (0, 0);
    for period in [60.0, 70.0, 80.0] {
        for jitter in [0.0, 5.0] {
            for white in [0.5, 1.5] {
                for quantised in [false, true] {
                    let shape = Cycles {
                        amp: 40.0 * MIB,
                        white: white * MIB,
                        period,
                        jitter,
                    };
                    let read = |y: Vec<f64>| if quantised { whole_mib(y) } else { y };
                    let mut significant = 0;
                    for seed in 0..100u64 {
                        let phase = (seed as f64 * 0.618_033_988_75).fract();
                        let v = analyse(&x, &read(cycles(&x, shape, phase, 0.0, 7000 + seed)));
                        let floors = v.drift.model == DriftModel::LongCycle && v.drift.blocks >= 3;
                        on_floors += usize::from(floors);
                        floors_significant += usize::from(floors && v.drift.significant);
                        significant += usize::from(v.drift.significant);
                        all += 1;
                    }
                    let family =
                        format!("{period} s ± {jitter}, {white} MiB, whole MiB {quantised}");
                    println!("healthy {family}: {significant} of 100 significant");
                    assert!(significant <= 10, "{family}: {significant} of 100");
                    all_significant += significant;
                    for seed in 0..10u64 {
                        let v =
                            analyse(&x, &read(cycles(&x, shape, 0.1, per_min(5.0), 8000 + seed)));
                        if v.drift.model == DriftModel::LongCycle && v.drift.blocks >= 3 {
                            leaks += 1;
                            caught += usize::from(v.leak);
                            assert!(v.drift.p_value < 1.0, "{family}: {}", v.drift.reason);
                        }
                    }
                }
            }
        }
    }
    println!(
        "healthy: {all_significant} of {all} significant, {floors_significant} of the {on_floors} on three floors; leaks on three floors: {caught} of {leaks} caught"
    );
    assert!(
        all_significant * 100 <= 7 * all,
        "{all_significant} of {all}"
    );
    assert!(
        floors_significant * 100 <= 7 * on_floors,
        "{floors_significant} of {on_floors}"
    );
    assert!(
        on_floors * 4 >= all,
        "{on_floors} of {all} runs read three floors"
    );
    assert!(leaks >= 40 && caught * 2 >= leaks, "{caught} of {leaks}");
}

#[test]
fn a_fill_that_levels_off_past_the_cap_is_cut_at_its_bend() {
    // The fifth probe's cache: filled in a line to 200 MiB over the first
    // 180 s of 5 minutes at 1 Hz, then held. MSER's cut stopped at its 40%
    // cap, and what was left (the fill's end and the level) failed 1 of 3
    // healthy runs and passed 1 of 2 with 5 MiB/min kept after the fill.
    // 18 families: fills of 100 and 200 MiB ending at 50, 60 and 65% of
    // the run, under 2 MiB of white noise, churn of up to 16 MiB held about
    // a second, or AR(1) 0.9 of 2 MiB. Before the bend was cut for, 307 of
    // the 720 healthy runs were significant (up to 40 of 40 in a family).
    let x = times(300.0, 1.0);
    let (mut runs, mut alarms, mut caught_clear) = (0, 0, 0);
    for height in [100.0, 200.0] {
        for end in [150.0, 180.0, 195.0] {
            for noise in 0..3 {
                let (mut family_alarms, mut family_caught) = (0, 0);
                for seed in 0..40u64 {
                    let s = 13_000 + seed;
                    let n: Vec<f64> = match noise {
                        0 => linear(&x, 0.0, 2.0 * MIB, s)
                            .iter()
                            .map(|v| v - BASE)
                            .collect(),
                        1 => jump_noise(&x, 16.0 * MIB, 1.0, s),
                        _ => ar1(x.len(), 0.9, 2.0 * MIB, s),
                    };
                    let run = |leak: f64| {
                        let y: Vec<f64> = x
                            .iter()
                            .zip(&n)
                            .map(|(&t, e)| {
                                BASE + height * MIB * (t / end).min(1.0)
                                    + leak * (t - end).max(0.0)
                                    + e
                            })
                            .collect();
                        analyse(&x, &y)
                    };
                    let v = run(0.0);
                    assert!(
                        v.warmup as f64 >= end,
                        "{height} MiB to {end} s: cut {}",
                        v.warmup
                    );
                    family_alarms += usize::from(v.drift.significant);
                    family_caught += usize::from(run(per_min(6.0)).leak);
                }
                let family = format!("{height} MiB to {end} s, noise {noise}");
                println!(
                    "{family}: {family_alarms}/40 healthy significant, 6 MiB/min after: {family_caught}/40 caught"
                );
                assert!(family_alarms <= 4, "{family}: {family_alarms}/40");
                // Under white noise and churn the level after the fill
                // (105–150 s) holds the leak plainly; under AR(1) 0.9 its
                // T* is about the level's length, and 30–60% are caught.
                if noise < 2 {
                    assert!(family_caught >= 36, "{family}: {family_caught}/40 caught");
                    caught_clear += family_caught;
                }
                runs += 40;
                alarms += family_alarms;
            }
        }
    }
    println!(
        "healthy {alarms}/{runs} significant; leaks under white noise and churn {caught_clear}/480 caught"
    );
    assert!(alarms * 100 <= 5 * runs, "{alarms}/{runs}");
}

#[test]
fn a_leak_that_slows_or_steps_is_not_cut_as_a_fill() {
    // The bend is cut for only where the level holds after it: a leak that
    // slows to a third of its rate, one that steps up, and one that begins
    // late keep the 40% cap (5 minutes at 1 Hz, 2 MiB of white noise);
    // the first two are still caught.
    let x = times(300.0, 1.0);
    for seed in 0..20u64 {
        let n = linear(&x, 0.0, 2.0 * MIB, 14_000 + seed);
        type Shape = fn(f64) -> f64;
        let shapes: [(&str, Shape); 3] = [
            ("slows", |t| {
                per_min(30.0) * t.min(180.0) + per_min(10.0) * (t - 180.0).max(0.0)
            }),
            ("steps", |t| if t >= 180.0 { 30.0 * MIB } else { 0.0 }),
            ("late", |t| per_min(30.0) * (t - 180.0).max(0.0)),
        ];
        for (name, shape) in shapes {
            let y: Vec<f64> = x.iter().zip(&n).map(|(&t, e)| shape(t) + e).collect();
            let v = analyse(&x, &y);
            assert!(v.warmup <= 120, "{name}, seed {seed}: cut {}", v.warmup);
            // (A leak that begins late is judged on the whole window, where
            // it is still weak: README "Detection calibration".)
            if name != "late" {
                assert!(v.leak, "{name}, seed {seed}: {}", v.drift.reason);
            }
        }
    }
}
