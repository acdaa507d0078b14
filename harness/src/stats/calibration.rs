//! Simulated memory series for calibrating the drift detector: noise
//! families × true behaviours × run lengths × sample rates, seeded so that a
//! table is the same on every machine. Pure: the verdict and the fail-fast
//! look are passed in by the caller (the calibration example and the tests
//! pass the functions the product itself calls).
//!
//! Every noise family has the same scale, [`SIGMA`] = 4 MiB, and every leak
//! is a multiple of the limit [`LIMIT`] = 2 MiB/min.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal, StudentT};
use std::f64::consts::PI;

/// Bytes per MiB.
pub use crate::units::MIB;
/// The noise scale of every family, bytes (marginal standard deviation).
pub const SIGMA: f64 = 4.0 * MIB;
/// The slope limit the verdicts use: 2 MiB/min, in bytes per second.
pub const LIMIT: f64 = 2.0 * MIB / 60.0;
/// The level memory sits at, bytes.
const BASE: f64 = 200.0 * MIB;
/// Mean time a jump-noise level is held, seconds.
const JUMP_HOLD_S: f64 = 5.0;
/// Amplitude of the GC sawtooth families, bytes.
const SAW_AMP: f64 = 24.0 * MIB;
/// White noise on top of the sawtooth, bytes.
const SAW_WHITE: f64 = MIB;
/// Page step of the quantised family, bytes.
const QUANTUM: f64 = 4.0 * MIB;
/// One-sided z of α = 5% and z of 80% power, for T*.
const Z_ALPHA: f64 = 1.644_853_626_951_472_2;
const Z_BETA: f64 = 0.841_621_233_572_914_3;

/// How memory fluctuates around its true course.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// Gaussian, sd σ.
    White,
    /// Student t with 3 degrees of freedom, scaled to sd σ.
    HeavyTailed,
    /// AR(1) with this lag-1 correlation (per sample), marginal sd σ.
    Ar1(f64),
    /// A level redrawn (uniform, sd σ) at random times and held for an
    /// exponential time of mean 5 s: buffers held by an allocator.
    Jump,
    /// A GC sawtooth: 24 MiB ramps every 10 s, then a drop back; 1 MiB white.
    Sawtooth,
    /// The same with cycle lengths uniform in 6–14 s.
    JitteredSawtooth,
    /// The same with a period of 0.6 × the run: one or two drops per run.
    SlowSawtooth,
    /// The same with a period drawn per run in 9.8–10.2 s: a cache that a
    /// timer flushes, its period off the sampling grid, so that where each
    /// drop falls between two samples drifts from cycle to cycle.
    TimerSawtooth,
    /// White sd 2 MiB, and the whole reading (signal included) rounded to
    /// 4 MiB steps (pages, arenas), as a reader of page counts sees it.
    Quantised,
    /// Jump noise (sd 3 MiB) + Student t3 (sd 2 MiB) + AR(1) 0.9 (sd 2 MiB).
    Mixture,
}

impl Noise {
    /// Every family of the table.
    pub const ALL: [Noise; 12] = [
        Noise::White,
        Noise::HeavyTailed,
        Noise::Ar1(0.5),
        Noise::Ar1(0.9),
        Noise::Ar1(0.98),
        Noise::Jump,
        Noise::Sawtooth,
        Noise::JitteredSawtooth,
        Noise::SlowSawtooth,
        Noise::TimerSawtooth,
        Noise::Quantised,
        Noise::Mixture,
    ];

    /// Name for the table.
    pub fn name(self) -> String {
        match self {
            Noise::White => "white".into(),
            Noise::HeavyTailed => "student t3".into(),
            Noise::Ar1(phi) => format!("AR(1) {phi}"),
            Noise::Jump => "jump (held levels)".into(),
            Noise::Sawtooth => "GC sawtooth".into(),
            Noise::JitteredSawtooth => "jittered sawtooth".into(),
            Noise::SlowSawtooth => "slow sawtooth".into(),
            Noise::TimerSawtooth => "timer sawtooth".into(),
            Noise::Quantised => "quantised".into(),
            Noise::Mixture => "mixture".into(),
        }
    }

    /// The standard deviation an oracle would face per sample at `hz`: the
    /// long-run (frequency-zero) sd for persistent noise (AR(1): σ²(1+φ)/
    /// (1−φ); jump noise, whose levels are held an exponential time of mean
    /// H samples so that lag k correlates e^(−k/H): σ² coth(1/(2H)) ≈ 2Hσ²), the
    /// marginal sd of the sawtooth as if it were white; `None` for the slow
    /// sawtooth, a cycle about as long as the run (no oracle rate applies).
    pub fn oracle_sd(self, hz: f64) -> Option<f64> {
        // NOTE: Σ_k e^(−|k|/H) = coth(1/(2H)). The geometric hold's 2H − 1
        // (levels redrawn between samples with probability 1/H) read a
        // tenth low at 1 Hz: 9 where the simulated holds give 10.03.
        let jump = |sd: f64| sd * (1.0 / (2.0 * JUMP_HOLD_S * hz)).tanh().recip().sqrt();
        let ar = |sd: f64, phi: f64| sd * ((1.0 + phi) / (1.0 - phi)).sqrt();
        match self {
            Noise::White | Noise::HeavyTailed => Some(SIGMA),
            Noise::Ar1(phi) => Some(ar(SIGMA, phi)),
            Noise::Jump => Some(jump(SIGMA)),
            Noise::Sawtooth | Noise::JitteredSawtooth | Noise::TimerSawtooth => {
                Some((SAW_AMP * SAW_AMP / 12.0 + SAW_WHITE * SAW_WHITE).sqrt())
            }
            Noise::SlowSawtooth => None,
            Noise::Quantised => Some((4.0 * MIB * MIB + QUANTUM * QUANTUM / 12.0).sqrt()),
            Noise::Mixture => Some(
                (jump(3.0 * MIB).powi(2) + (2.0 * MIB).powi(2) + ar(2.0 * MIB, 0.9).powi(2)).sqrt(),
            ),
        }
    }
}

/// What memory truly does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    /// Nothing.
    Flat,
    /// A warm-up transient: 60 MiB filled linearly over the first tenth of
    /// the run, flat after.
    Warmup,
    /// A cache approaching 40 MiB: 40 MiB · (1 − e^(−t/τ)), τ = run/15.
    BoundedCache,
    /// A linear leak of this many times [`LIMIT`].
    Linear(f64),
    /// A step at mid-run as large as 3 × LIMIT over half the run.
    Step,
    /// A leak of 3 × LIMIT on average whose rate swings ±90% three times a run.
    VaryingRate,
    /// A leak of 3 × LIMIT that begins three quarters of the way through
    /// the run: flat until then. Fitted over the whole run it reads at
    /// (1 − ¾)²(1 + 1½) = 0.16 of its rate.
    LateLeak,
}

impl Behaviour {
    /// Every behaviour of the table.
    pub const ALL: [Behaviour; 8] = [
        Behaviour::Flat,
        Behaviour::Warmup,
        Behaviour::BoundedCache,
        Behaviour::Linear(1.5),
        Behaviour::Linear(3.0),
        Behaviour::Step,
        Behaviour::VaryingRate,
        Behaviour::LateLeak,
    ];

    /// Whether this behaviour is a leak (above the limit).
    pub fn is_leak(self) -> bool {
        !matches!(
            self,
            Behaviour::Flat | Behaviour::Warmup | Behaviour::BoundedCache
        )
    }

    /// Name for the table.
    pub fn name(self) -> String {
        match self {
            Behaviour::Flat => "flat".into(),
            Behaviour::Warmup => "warm-up".into(),
            Behaviour::BoundedCache => "bounded cache".into(),
            Behaviour::Linear(r) => format!("leak {r}×"),
            Behaviour::Step => "step".into(),
            Behaviour::VaryingRate => "varying rate".into(),
            Behaviour::LateLeak => "late leak".into(),
        }
    }

    /// The true course at `t` of a run `run` seconds long, bytes above base.
    fn course(self, t: f64, run: f64) -> f64 {
        let leak = 3.0 * LIMIT;
        match self {
            Behaviour::Flat => 0.0,
            Behaviour::Warmup => 60.0 * MIB * (t / (0.1 * run)).min(1.0),
            Behaviour::BoundedCache => 40.0 * MIB * (1.0 - (-t * 15.0 / run).exp()),
            Behaviour::Linear(r) => r * LIMIT * t,
            Behaviour::Step => {
                if t >= 0.5 * run {
                    leak * 0.5 * run
                } else {
                    0.0
                }
            }
            Behaviour::VaryingRate => {
                // ∫ leak (1 + 0.9 sin(2π t / (run/3))) dt
                let w = 2.0 * PI * 3.0 / run;
                leak * (t + 0.9 * (1.0 - (w * t).cos()) / w)
            }
            Behaviour::LateLeak => leak * (t - 0.75 * run).max(0.0),
        }
    }
}

/// One cell of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// The noise family.
    pub noise: Noise,
    /// The true behaviour.
    pub behaviour: Behaviour,
    /// Run length, seconds.
    pub seconds: f64,
    /// Sample rate, Hz.
    pub hz: f64,
}

impl Scenario {
    /// The oracle time T* = (12 (z_α + z_β)² σ² / (f β²))^(1/3) to catch
    /// slope β with 80% power at one-sided α = 5%, for the family's oracle
    /// sd ([`Noise::oracle_sd`]) and β = `slope` (bytes/s). `None` where no
    /// oracle rate applies.
    pub fn t_star(&self, slope: f64) -> Option<f64> {
        let sd = self.noise.oracle_sd(self.hz)?;
        let z = Z_ALPHA + Z_BETA;
        Some((12.0 * z * z * sd * sd / (self.hz * slope * slope)).cbrt())
    }

    /// The share of runs in which an oracle (least squares with the
    /// family's oracle sd known, [`Noise::oracle_sd`]) would put the whole
    /// two-sided interval at `confidence` under `limit` (bytes/s) when the
    /// true slope is 0: Φ(limit / se − z_q), with se = σ √(12 / (f T³)) the
    /// slope's error over the whole run. What a conclusive pass can be
    /// held against. `None` where no oracle rate applies. O(1).
    pub fn oracle_conclusive(&self, limit: f64, confidence: f64) -> Option<f64> {
        let sd = self.noise.oracle_sd(self.hz)?;
        let se = sd * (12.0 / (self.hz * self.seconds.powi(3))).sqrt();
        let z_q = super::normal_quantile(0.5 + 0.5 * confidence);
        Some(super::normal_cdf(limit / se - z_q))
    }

    /// When an oracle `--fail-fast` would stop the run `t`, `y` (this
    /// scenario's, from [`Scenario::simulate`]), in seconds (`None`: never
    /// within the run). The oracle looks on the monitor's
    /// schedule ([`time_to_detection`]), spends α as memsoak does
    /// ([`super::look_alpha`] of `1 − confidence`) and stops on memsoak's
    /// rule: the whole two-sided interval at the look's level above
    /// `limit` (bytes/s), its lower bound worth `min_growth` bytes over
    /// the span. What it does not have to do is estimate anything: its
    /// slope is least squares on every sample from the start (it knows
    /// there is no warm-up), its error σ/√Σ(t − t̄)² with σ the family's
    /// oracle sd ([`Noise::oracle_sd`]), read on the normal. So memsoak's
    /// time over this one is what estimating the noise costs; this one
    /// over T* is what looking often and the limit's margin cost (β − L
    /// to establish, not β). `None` also where no oracle rate applies.
    /// O(n) per look.
    pub fn oracle_fail_fast(
        &self,
        t: &[f64],
        y: &[f64],
        limit: f64,
        confidence: f64,
        min_growth: f64,
    ) -> Option<f64> {
        let sd = self.noise.oracle_sd(self.hz)?;
        time_to_detection(t, y, 1.0 / self.hz, |t, y, k| {
            let Some(fit) = super::ols(t, y) else {
                return false;
            };
            let mean = t.iter().sum::<f64>() / t.len() as f64;
            let sxx: f64 = t.iter().map(|v| (v - mean).powi(2)).sum();
            let z = super::normal_quantile(1.0 - super::look_alpha(1.0 - confidence, k) / 2.0);
            let low = fit.slope - z * sd / sxx.sqrt();
            let span = t[t.len() - 1] - t[0];
            low > limit && low * span >= min_growth
        })
    }

    /// Sample times and values for `seed`. O(n).
    pub fn simulate(&self, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = (self.seconds * self.hz).round() as usize;
        let dt = 1.0 / self.hz;
        let t: Vec<f64> = (0..n).map(|i| i as f64 * dt).collect();
        let mut noise = NoiseState::new(self.noise, self.seconds, &mut rng);
        // NOTE: the quantised family rounds the whole reading, not the noise
        // alone: a page count moves in whole pages whatever grew. With only
        // the noise rounded, a leak or a step was a smooth line under it and
        // the readings never tied on a leak; rounded together, a 3 MiB/min
        // leak under 2 MiB noise ties 41% of its pairs, where Sen's median
        // of pairwise slopes fell to 0.1 MiB/min (see drift's level view).
        let rounded = self.noise == Noise::Quantised;
        let y = t
            .iter()
            .map(|&ti| {
                let v =
                    BASE + self.behaviour.course(ti, self.seconds) + noise.next(ti, dt, &mut rng);
                if rounded {
                    (v / QUANTUM).round() * QUANTUM
                } else {
                    v
                }
            })
            .collect();
        (t, y)
    }
}

/// Uniform level with sd `sd`: width sd·√12, centred on 0.
fn uniform_level(sd: f64, rng: &mut StdRng) -> f64 {
    sd * 12f64.sqrt() * (rng.random::<f64>() - 0.5)
}

/// The running state of one noise family.
struct NoiseState {
    noise: Noise,
    /// AR(1) value (the AR component of the mixture).
    ar: f64,
    /// The held jump level and when it is redrawn.
    level: f64,
    until: f64,
    /// Sawtooth cycle: start and length, seconds.
    cycle_start: f64,
    cycle_len: f64,
    t3: StudentT<f64>,
}

impl NoiseState {
    fn new(noise: Noise, run: f64, rng: &mut StdRng) -> Self {
        let period = match noise {
            Noise::SlowSawtooth => 0.6 * run,
            // NOTE: drawn before the phase, so that the other families'
            // seeds draw what they drew before this family was added.
            Noise::TimerSawtooth => 9.8 + 0.4 * rng.random::<f64>(),
            _ => 10.0,
        };
        let phase: f64 = rng.random();
        let ar_sd = match noise {
            Noise::Mixture => 2.0 * MIB,
            _ => SIGMA,
        };
        // NOTE: 3 degrees of freedom is a valid Student t.
        let t3 = StudentT::new(3.0).unwrap_or_else(|_| unreachable!());
        NoiseState {
            noise,
            ar: ar_sd * rng.sample::<f64, _>(StandardNormal),
            level: 0.0,
            until: f64::NEG_INFINITY,
            cycle_start: -phase * period,
            cycle_len: period,
            t3,
        }
    }

    fn next(&mut self, t: f64, dt: f64, rng: &mut StdRng) -> f64 {
        let normal = |rng: &mut StdRng| rng.sample::<f64, _>(StandardNormal);
        match self.noise {
            Noise::White => SIGMA * normal(rng),
            Noise::HeavyTailed => SIGMA / 3f64.sqrt() * self.t3.sample(rng),
            Noise::Ar1(phi) => self.ar_step(phi, SIGMA, rng),
            Noise::Jump => self.jump(t, SIGMA, rng),
            Noise::Sawtooth
            | Noise::JitteredSawtooth
            | Noise::SlowSawtooth
            | Noise::TimerSawtooth => {
                while t >= self.cycle_start + self.cycle_len {
                    self.cycle_start += self.cycle_len;
                    if self.noise == Noise::JitteredSawtooth {
                        self.cycle_len = 6.0 + 8.0 * rng.random::<f64>();
                    }
                }
                let _ = dt;
                SAW_AMP * (t - self.cycle_start) / self.cycle_len + SAW_WHITE * normal(rng)
            }
            // Rounded with the signal, in `Scenario::simulate`.
            Noise::Quantised => 2.0 * MIB * normal(rng),
            Noise::Mixture => {
                self.jump(t, 3.0 * MIB, rng)
                    + 2.0 * MIB / 3f64.sqrt() * self.t3.sample(rng)
                    + self.ar_step(0.9, 2.0 * MIB, rng)
            }
        }
    }

    fn ar_step(&mut self, phi: f64, sd: f64, rng: &mut StdRng) -> f64 {
        let v = self.ar;
        self.ar =
            phi * self.ar + sd * (1.0 - phi * phi).sqrt() * rng.sample::<f64, _>(StandardNormal);
        v
    }

    fn jump(&mut self, t: f64, sd: f64, rng: &mut StdRng) -> f64 {
        if t >= self.until {
            self.level = uniform_level(sd, rng);
            let u: f64 = rng.random();
            self.until = t - JUMP_HOLD_S * (1.0 - u).ln();
        }
        self.level
    }
}

/// The time of the first `--fail-fast` look that calls a breach, following
/// the monitor's schedule ([`super::first_look_s`], [`super::look_interval_s`])
/// over samples `t`, `y` taken every `sample_every` seconds; `None` if no look
/// does. `look(t, y, k)` is look number k on the samples so far.
pub fn time_to_detection(
    t: &[f64],
    y: &[f64],
    sample_every: f64,
    mut look: impl FnMut(&[f64], &[f64], u32) -> bool,
) -> Option<f64> {
    let mut next = super::first_look_s(sample_every);
    let mut k = 0;
    for i in 0..t.len() {
        if t[i] >= next {
            k += 1;
            next = t[i] + super::look_interval_s(sample_every);
            if look(&t[..=i], &y[..=i], k) {
                return Some(t[i]);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oracle_settles_white_noise_by_hand() {
        // 4 MiB white at 1 Hz over 90 s: se = 4 √(12 / 90³) MiB/s
        // = 0.974 MiB/min; Φ(2 / 0.974 − 1.960) = Φ(0.094) ≈ 0.537.
        let s = Scenario {
            noise: Noise::White,
            behaviour: Behaviour::Flat,
            seconds: 90.0,
            hz: 1.0,
        };
        let p = s.oracle_conclusive(LIMIT, 0.95).unwrap();
        assert!((p - 0.537).abs() < 0.005, "{p}");
        let slow = Scenario {
            noise: Noise::SlowSawtooth,
            ..s
        };
        assert_eq!(slow.oracle_conclusive(LIMIT, 0.95), None);
    }

    #[test]
    fn families_have_the_stated_scale() {
        for noise in [
            Noise::White,
            Noise::HeavyTailed,
            Noise::Ar1(0.5),
            Noise::Jump,
        ] {
            let s = Scenario {
                noise,
                behaviour: Behaviour::Flat,
                seconds: 20_000.0,
                hz: 1.0,
            };
            let (_, y) = s.simulate(1);
            let mean = y.iter().sum::<f64>() / y.len() as f64;
            let sd = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / y.len() as f64).sqrt();
            assert!(
                (sd / SIGMA - 1.0).abs() < 0.15,
                "{}: sd {}",
                noise.name(),
                sd / MIB
            );
        }
    }

    #[test]
    fn the_jump_oracle_is_the_simulated_long_run_variance() {
        // The long-run variance factor 1 + 2 Σ ρ_k of 2,000,000 simulated
        // samples (lags to 60 s, where e^(−k/5) is 6e-6) against the
        // oracle's: 10.03 (±1%), where the geometric 2H − 1 said 9.
        let s = Scenario {
            noise: Noise::Jump,
            behaviour: Behaviour::Flat,
            seconds: 2_000_000.0,
            hz: 1.0,
        };
        let (_, y) = s.simulate(3);
        let rho = super::super::trend::autocorrelation(&y).unwrap();
        let factor = 1.0 + 2.0 * rho[1..=60].iter().sum::<f64>();
        let oracle = (Noise::Jump.oracle_sd(1.0).unwrap() / SIGMA).powi(2);
        assert!(
            (factor / oracle - 1.0).abs() < 0.04,
            "simulated {factor}, oracle {oracle}"
        );
    }

    #[test]
    fn t_star_by_hand() {
        // White σ = 4 MiB at 1 Hz, β = 6 MiB/min: 12·2.486²·16/0.01 → 49.2 s.
        let s = Scenario {
            noise: Noise::White,
            behaviour: Behaviour::Linear(3.0),
            seconds: 90.0,
            hz: 1.0,
        };
        let t = s.t_star(3.0 * LIMIT).unwrap();
        assert!((t - 49.2).abs() < 0.1, "{t}");
    }

    #[test]
    fn the_fail_fast_oracle_pays_for_its_looks_and_the_margin() {
        // White noise at 1 Hz, a 3× leak: the oracle's median stop is near
        // where its expected lower bound reaches the limit, (β − L) T^(3/2)
        // √(f/12) = z_k σ. Around look 6 (80 s), z_k = z(1 − α·5/(11·10)/2)
        // ≈ 3.05, so T ≈ (12 · 3.05² · 16 / (1 · (4 MiB/min)²))^(1/3)
        // ≈ 74 s, 1.5 T*; it never stops a healthy run in these seeds, and
        // a slow sawtooth has no oracle.
        let s = Scenario {
            noise: Noise::White,
            behaviour: Behaviour::Linear(3.0),
            seconds: 600.0,
            hz: 1.0,
        };
        let oracle = |s: &Scenario, seed| {
            let (t, y) = s.simulate(seed);
            s.oracle_fail_fast(&t, &y, LIMIT, 0.95, MIB)
        };
        let mut stops: Vec<f64> = (0..101).map(|seed| oracle(&s, seed).unwrap()).collect();
        stops.sort_by(f64::total_cmp);
        let ratio = stops[50] / s.t_star(3.0 * LIMIT).unwrap();
        assert!((1.35..1.7).contains(&ratio), "{ratio}");
        let flat = Scenario {
            behaviour: Behaviour::Flat,
            ..s
        };
        assert!((0..50).all(|seed| oracle(&flat, seed).is_none()));
        let slow = Scenario {
            noise: Noise::SlowSawtooth,
            ..s
        };
        assert_eq!(oracle(&slow, 0), None);
    }

    #[test]
    fn looks_follow_the_monitor_schedule() {
        let t: Vec<f64> = (0..100).map(f64::from).collect();
        let mut at = Vec::new();
        let found = time_to_detection(&t, &t, 1.0, |t, _, k| {
            at.push((t[t.len() - 1], k));
            false
        });
        assert_eq!(found, None);
        assert_eq!(&at[..3], &[(30.0, 1), (40.0, 2), (50.0, 3)]);
        let mut first = None;
        time_to_detection(&t, &t, 0.1, |t, _, _| {
            first.get_or_insert(t[t.len() - 1]);
            true
        });
        assert_eq!(first, Some(30.0));
    }
}
