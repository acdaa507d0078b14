//! The exact GELU, `x·½(1 + erf(x/√2))`, for f32 on the CPU, in AVX2
//! lanes: what memsoak's BERT encoder applies between its two feed-forward
//! products in place of candle's `gelu_erf`, in place on the first
//! product's output (`bert.rs`).
//!
//! NOTE: hand-written because candle 0.11's `gelu_erf` calls libm's scalar
//! `erff` once per element: a `perf record` of the encoder had 11–14% of its
//! samples there (README "Measured on the 2-core CI box"). With this kernel
//! a one-thread profile went from 14.9% in libm's `erf` to 3.0% here, and
//! the bench's sentences per CPU-second rose 22% (fixed lengths) and 25%
//! (variable), 2 threads, alternated with the old build at load 3.3–3.7
//! (README "A vectorised exact GELU"). `erf` here is Eigen's and XLA's
//! rational approximation (odd degree-13 numerator over even degree-8
//! denominator, argument clamped to ±4), with no branch and no table. It is
//! evaluated in f64 (four lanes, twice per eight values): in f32, as Eigen
//! and XLA do, rounding in the two polynomials puts it up to 4.2e-7 from the
//! exact `erf`; in f64 it is within 6.5e-8 before the final rounding. The
//! lanes are written with intrinsics, not left to the auto-vectoriser:
//! memsoak's own code builds at opt-level 1 in the `dev` profile, where LLVM
//! does not vectorise loops.

// NOTE: the digits as Eigen and XLA print them, so they can be checked
// against those sources.
/// Numerator coefficients (odd powers 13, 11, …, 1), highest first.
const ALPHA: [f64; 7] = [
    -2.72614225801306e-10,
    2.77068142495902e-08,
    -2.10102402082508e-06,
    -5.69250639462346e-05,
    -7.34990630326855e-04,
    -2.95459980854025e-03,
    -1.60960333262415e-02,
];
/// Denominator coefficients (even powers 8, 6, …, 0), highest first.
const BETA: [f64; 5] = [
    -1.45660718464996e-05,
    -2.13374055278905e-04,
    -1.68282697438203e-03,
    -7.37332916720468e-03,
    -1.42647390514189e-02,
];

/// The rational approximation of `erf(s)`, in plain f64 operations.
fn erf_f64(s: f64) -> f64 {
    let s = s.clamp(-4.0, 4.0);
    let s2 = s * s;
    let mut p = ALPHA[0];
    for a in &ALPHA[1..] {
        p = p * s2 + a;
    }
    let mut q = BETA[0];
    for b in &BETA[1..] {
        q = q * s2 + b;
    }
    s * p / q
}

/// `erf(x)` by the rational approximation above.
///
/// Within 1e-7 of the exact `erf` for every f32 (measured: 9.1e-8 on a
/// dense grid over [-10, 10], see the tests; libm's `erff` 6.0e-8); NaN
/// stays NaN.
pub fn erf(x: f32) -> f32 {
    erf_f64(f64::from(x)) as f32
}

/// The exact GELU of one value, by [`erf`] (the reference the vector lanes
/// are tested against, and the kernel where there are no AVX2 lanes).
pub fn gelu(x: f32) -> f32 {
    let x = f64::from(x);
    (0.5 * x * (1.0 + erf_f64(x * std::f64::consts::FRAC_1_SQRT_2))) as f32
}

/// Replace every value of `xs` by its GELU. Single-threaded: memsoak's
/// threads each run whole forward passes (`ThreadSplit::Passes`).
pub fn gelu_in_place(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features `avx2_fma` is compiled for.
        unsafe { avx2_fma::gelu_in_place(xs) };
        return;
    }
    for x in xs {
        *x = gelu(*x);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2_fma {
    use std::arch::x86_64::{
        __m256, __m256d, _mm256_add_pd, _mm256_castps256_ps128, _mm256_cvtpd_ps, _mm256_cvtps_pd,
        _mm256_div_pd, _mm256_extractf128_ps, _mm256_fmadd_pd, _mm256_loadu_ps, _mm256_max_pd,
        _mm256_min_pd, _mm256_mul_pd, _mm256_set_m128, _mm256_set1_pd, _mm256_storeu_ps,
    };

    use super::{ALPHA, BETA};

    /// GELU of four f64 lanes: the operations of [`super::gelu`], with
    /// each `p·s² + a` fused.
    #[target_feature(enable = "avx2,fma")]
    fn gelu4(x: __m256d) -> __m256d {
        let s = _mm256_mul_pd(x, _mm256_set1_pd(std::f64::consts::FRAC_1_SQRT_2));
        // NOTE: max then min returns the bound for a NaN lane (maxpd gives
        // its second operand); x·(…) below makes it NaN again.
        let s = _mm256_min_pd(_mm256_max_pd(s, _mm256_set1_pd(-4.0)), _mm256_set1_pd(4.0));
        let s2 = _mm256_mul_pd(s, s);
        let mut p = _mm256_set1_pd(ALPHA[0]);
        for &a in &ALPHA[1..] {
            p = _mm256_fmadd_pd(p, s2, _mm256_set1_pd(a));
        }
        let mut q = _mm256_set1_pd(BETA[0]);
        for &b in &BETA[1..] {
            q = _mm256_fmadd_pd(q, s2, _mm256_set1_pd(b));
        }
        let erf = _mm256_div_pd(_mm256_mul_pd(s, p), q);
        let half_x = _mm256_mul_pd(x, _mm256_set1_pd(0.5));
        _mm256_mul_pd(half_x, _mm256_add_pd(_mm256_set1_pd(1.0), erf))
    }

    /// GELU of eight f32 lanes, through two halves in f64.
    #[target_feature(enable = "avx2,fma")]
    fn gelu8(x: __m256) -> __m256 {
        let lo = gelu4(_mm256_cvtps_pd(_mm256_castps256_ps128(x)));
        let hi = gelu4(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x)));
        _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo))
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gelu_in_place(xs: &mut [f32]) {
        let mut chunks = xs.chunks_exact_mut(8);
        for c in &mut chunks {
            // SAFETY: `c` is 8 f32s; unaligned loads and stores.
            unsafe { _mm256_storeu_ps(c.as_mut_ptr(), gelu8(_mm256_loadu_ps(c.as_ptr()))) };
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            // The tail through the same lanes, so every value is computed
            // the same way.
            let mut buf = [0f32; 8];
            buf[..rest.len()].copy_from_slice(rest);
            // SAFETY: `buf` is 8 f32s.
            unsafe { _mm256_storeu_ps(buf.as_mut_ptr(), gelu8(_mm256_loadu_ps(buf.as_ptr()))) };
            rest.copy_from_slice(&buf[..rest.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// `n + 1` evenly spaced points of `[lo, hi]`.
    fn grid(lo: f64, hi: f64, n: usize) -> Vec<f32> {
        (0..=n)
            .map(|i| (lo + (hi - lo) * i as f64 / n as f64) as f32)
            .collect()
    }

    /// Max |y − erf(x)|, the exact `erf` in f64 (statrs).
    fn max_erf_error(xs: &[f32], ys: &[f32]) -> f64 {
        xs.iter()
            .zip(ys)
            .map(|(x, y)| (f64::from(*y) - statrs::function::erf::erf(f64::from(*x))).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn erf_within_1e7_of_exact() {
        let xs = grid(-10.0, 10.0, 2_000_000);
        let ours: Vec<f32> = xs.iter().map(|&x| erf(x)).collect();
        let ours = max_erf_error(&xs, &ours);
        // libm's erff (candle's `erf` op) on the same grid, for scale.
        let libm = Tensor::new(xs.as_slice(), &Device::Cpu)
            .and_then(|t| t.erf())
            .and_then(|t| t.to_vec1::<f32>())
            .expect("candle erf");
        let libm = max_erf_error(&xs, &libm);
        eprintln!("max |erf - exact| on [-10, 10]: {ours:.3e} (libm erff {libm:.3e})");
        assert!(ours <= 1e-7, "erf: max error {ours:.3e}");
    }

    /// The exact GELU in f64.
    fn exact_gelu(x: f32) -> f64 {
        let x = f64::from(x);
        0.5 * x * (1.0 + statrs::function::erf::erf(x / std::f64::consts::SQRT_2))
    }

    #[test]
    fn lanes_within_1e7_relative_of_exact_gelu() {
        // An odd count: full lanes and a tail of 1..7 values.
        let xs = grid(-10.0, 10.0, 200_002);
        assert_ne!(xs.len() % 8, 0);
        let mut lanes = xs.clone();
        gelu_in_place(&mut lanes);
        let mut worst = 0.0f64;
        for (x, y) in xs.iter().zip(&lanes) {
            // erf's error scaled by x/2, and the result's own rounding.
            let err = (f64::from(*y) - exact_gelu(*x)).abs() / f64::from(x.abs().max(1.0));
            assert!(err <= 1e-7, "gelu({x}) = {y}, exact {}", exact_gelu(*x));
            worst = worst.max(err);
            // Fused or not, the f64 evaluations differ by ulps of f64: at
            // most one f32 rounding apart (absolute near 0, where 1 + erf
            // cancels).
            let scalar = gelu(*x);
            assert!(
                (y - scalar).abs() <= f32::EPSILON * scalar.abs() + 1e-12,
                "gelu({x}): lanes {y}, scalar {scalar}"
            );
        }
        eprintln!("max |gelu - exact| / max(1, |x|) on [-10, 10]: {worst:.3e}");
    }

    #[test]
    fn matches_candle_gelu_erf() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(15);
        let xs: Vec<f32> = (0..37 * 1536)
            .map(|_| rng.random_range(-10.0f32..10.0))
            .collect();
        let theirs = Tensor::new(xs.as_slice(), &Device::Cpu)
            .and_then(|t| t.gelu_erf())
            .and_then(|t| t.to_vec1::<f32>())
            .expect("candle gelu_erf");
        let mut ours = xs;
        gelu_in_place(&mut ours);
        let d = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!("max |gelu - candle gelu_erf| on 37 x 1536 in [-10, 10]: {d:.3e}");
        assert!(d <= 1e-6, "max |ours - gelu_erf| = {d:.3e}");
    }
}
