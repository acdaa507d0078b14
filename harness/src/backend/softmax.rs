//! Attention's softmax for f32 on the CPU, with the padding mask added in
//! the same pass and `exp` in AVX2 lanes: what memsoak's BERT encoder runs
//! on its attention scores in place of candle's `broadcast_add` followed by
//! `candle_nn::ops::softmax_last_dim`.
//!
//! NOTE: hand-written because candle-nn 0.11's softmax calls libm's scalar
//! `expf` once per score: a one-thread `perf record` of the encoder had
//! 5.5% of all its samples in `__expf_fma` (7.7% of the forward pass), and
//! the mask was a separate single-threaded pass over the scores. `exp` here
//! is Cephes' `expf` (the range reduction x = n·ln 2 + r with ln 2 split in
//! two, a degree-5 polynomial for e^r, 2^n put into the exponent bits),
//! within 2 ulp of the exact value, in the form SLEEF, Eigen and most SIMD
//! libraries use. The lanes are intrinsics for the reason `gelu.rs` gives
//! (memsoak builds at opt-level 1 in the `dev` profile).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Below this, `exp` is 0 in f32 (and the lanes clamp here, so that 2ⁿ
/// stays a normal number or zero).
const EXP_LO: f32 = -87.336_55;
/// Above this, `exp` overflows f32.
const EXP_HI: f32 = 88.376_26;
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 in two parts, the first exact in few bits, so that n·LN2_HI is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes' `expf` polynomial for e^r − 1 − r over r², highest first (its
/// last coefficient, printed 5.0000001E-1, is 0.5 in f32).
const P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_345e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];

/// `exp(x)` by the same steps as the lanes (the reference they are tested
/// against, and the kernel where there are no AVX2 lanes). 0 below
/// `EXP_LO`; NaN stays NaN.
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x < EXP_LO {
        return 0.0;
    }
    let x = x.min(EXP_HI);
    let n = (x * LOG2E).round();
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x));
    let mut y = P[0];
    for p in &P[1..] {
        y = y.mul_add(r, *p);
    }
    let y = y.mul_add(r * r, r) + 1.0;
    // n is in [-126, 128] here; 2^128 overflows to infinity as exp does.
    y * 2f32.powi(n as i32)
}

/// Softmax of one row in place, after adding `mask` (same length) when
/// there is one.
fn softmax_row(row: &mut [f32], mask: Option<&[f32]>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features `avx2_fma` is compiled for.
        unsafe { avx2_fma::softmax_row(row, mask) };
        return;
    }
    if let Some(mask) = mask {
        for (x, m) in row.iter_mut().zip(mask) {
            *x += m;
        }
    }
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for x in row.iter_mut() {
        *x = exp(*x - max);
        sum += *x;
    }
    let inv = 1.0 / sum;
    for x in row.iter_mut() {
        *x *= inv;
    }
}

/// Rows handed to one rayon task: a few score rows are too little work to
/// be worth a hand-off.
const MIN_ROWS_PER_TASK: usize = 64;

/// Softmax over every `len`-long row of `data`; with a mask `(m,
/// rows_per_mask)`, row `k` after adding the `k / rows_per_mask`-th
/// `len`-long row of `m`.
fn softmax_rows(data: &[f32], len: usize, mask: Option<(&[f32], usize)>) -> Vec<f32> {
    let mut out = data.to_vec();
    out.par_chunks_mut(len)
        .with_min_len(MIN_ROWS_PER_TASK)
        .enumerate()
        .for_each(|(k, row)| {
            let m = mask.map(|(m, rows_per_mask)| {
                let b = k / rows_per_mask;
                &m[b * len..(b + 1) * len]
            });
            softmax_row(row, m);
        });
    out
}

/// The values of a contiguous f32 tensor's CPU storage (`None` for any
/// other dtype or a strided layout).
pub(super) fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> Option<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(data), Some((start, end))) => Some(&data[start..end]),
        _ => None,
    }
}

/// [`contiguous_f32`], or the error for an op that `masked_softmax` only
/// sends contiguous f32.
fn values<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    match contiguous_f32(storage, layout) {
        Some(v) => Ok(v),
        None => candle_core::bail!("memsoak-softmax: needs contiguous f32 storage"),
    }
}

/// Softmax over the last dimension.
struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "memsoak-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let data = values(storage, layout)?;
        let len = layout.dims().last().copied().unwrap_or(1).max(1);
        let out = softmax_rows(data, len, None);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// Softmax over the last dimension of `(b, heads, s, len)` scores after
/// adding a `(b, len)` mask, row `i` of the mask to the `heads·s` score
/// rows of sequence `i`.
struct MaskedSoftmax;

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "memsoak-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        scores: &CpuStorage,
        scores_layout: &Layout,
        mask: &CpuStorage,
        mask_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let data = values(scores, scores_layout)?;
        let m = values(mask, mask_layout)?;
        let (b, heads, s, len) = scores_layout.shape().dims4()?;
        if mask_layout.dims() != [b, len] {
            candle_core::bail!(
                "memsoak-masked-softmax: mask {:?} does not fit scores {:?}",
                mask_layout.dims(),
                scores_layout.dims()
            );
        }
        let out = softmax_rows(data, len, Some((m, heads * s)));
        Ok((CpuStorage::F32(out), scores_layout.shape().clone()))
    }
}

/// `softmax(scores + mask)` over the last dimension, for attention scores
/// `(b, heads, s, len)` and an optional additive mask `(b, len)` that
/// applies to every head and query row of its sequence (without a mask,
/// any shape). Contiguous f32 on the CPU goes through this module's lanes
/// (within 1e-6 of candle's ops); anything else through candle's
/// `broadcast_add` and `softmax_last_dim`. A NaN score makes its row NaN.
pub fn masked_softmax(scores: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let fast = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous();
    match mask {
        None if fast(scores) => scores.apply_op1_no_bwd(&Softmax),
        None => candle_nn::ops::softmax_last_dim(&scores.contiguous()?),
        Some(m) if fast(scores) && fast(m) => scores.apply_op2_no_bwd(m, &MaskedSoftmax),
        Some(m) => {
            let (b, _, _, len) = scores.dims4()?;
            let summed = scores.broadcast_add(&m.reshape((b, 1, 1, len))?)?;
            candle_nn::ops::softmax_last_dim(&summed.contiguous()?)
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2_fma {
    use std::arch::x86_64::{
        __m256, _CMP_LT_OQ, _MM_FROUND_NO_EXC, _MM_FROUND_TO_NEAREST_INT, _mm_add_ps, _mm_add_ss,
        _mm_cvtss_f32, _mm_max_ps, _mm_max_ss, _mm_movehl_ps, _mm_shuffle_ps, _mm256_add_epi32,
        _mm256_add_ps, _mm256_andnot_ps, _mm256_castps256_ps128, _mm256_castsi256_ps,
        _mm256_cmp_ps, _mm256_cvtps_epi32, _mm256_extractf128_ps, _mm256_fmadd_ps,
        _mm256_fnmadd_ps, _mm256_loadu_ps, _mm256_max_ps, _mm256_min_ps, _mm256_mul_ps,
        _mm256_round_ps, _mm256_set1_epi32, _mm256_set1_ps, _mm256_slli_epi32, _mm256_storeu_ps,
    };

    use super::{EXP_HI, EXP_LO, LN2_HI, LN2_LO, LOG2E, P};

    /// `exp` of eight lanes: the steps of [`super::exp`], NaN kept (maxps
    /// and minps return their second operand when either is NaN), 0 below
    /// [`EXP_LO`] (a masked score).
    #[target_feature(enable = "avx2,fma")]
    fn exp8(x: __m256) -> __m256 {
        let under = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(EXP_LO));
        let x = _mm256_min_ps(
            _mm256_set1_ps(EXP_HI),
            _mm256_max_ps(_mm256_set1_ps(EXP_LO), x),
        );
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(x, _mm256_set1_ps(LOG2E)),
        );
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
        let mut y = _mm256_set1_ps(P[0]);
        for &p in &P[1..] {
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(p));
        }
        let y = _mm256_add_ps(
            _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r),
            _mm256_set1_ps(1.0),
        );
        // 2^n: n + 127 in the exponent bits (n ≥ -126 after the clamp; the
        // upper clamp can give n = 128, which is infinity, as exp is).
        let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvtps_epi32(n),
            _mm256_set1_epi32(127),
        ));
        _mm256_andnot_ps(under, _mm256_mul_ps(y, _mm256_castsi256_ps(bits)))
    }

    /// Horizontal max of eight lanes.
    #[target_feature(enable = "avx2,fma")]
    fn hmax(v: __m256) -> f32 {
        let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps::<1>(m, m)))
    }

    /// Horizontal sum of eight lanes.
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let m = _mm_add_ps(m, _mm_movehl_ps(m, m));
        _mm_cvtss_f32(_mm_add_ss(m, _mm_shuffle_ps::<1>(m, m)))
    }

    /// # Safety
    /// The CPU must have AVX2 and FMA; `mask`, when given, is as long as
    /// `row`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn softmax_row(row: &mut [f32], mask: Option<&[f32]>) {
        let n = row.len();
        let full = n - n % 8;
        if let Some(mask) = mask {
            for i in (0..full).step_by(8) {
                // SAFETY: i + 8 ≤ full ≤ n = mask.len().
                unsafe {
                    let v = _mm256_add_ps(
                        _mm256_loadu_ps(row.as_ptr().add(i)),
                        _mm256_loadu_ps(mask.as_ptr().add(i)),
                    );
                    _mm256_storeu_ps(row.as_mut_ptr().add(i), v);
                }
            }
            for i in full..n {
                row[i] += mask[i];
            }
        }
        let mut vmax = _mm256_set1_ps(f32::NEG_INFINITY);
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 ≤ n.
            vmax = _mm256_max_ps(vmax, unsafe { _mm256_loadu_ps(row.as_ptr().add(i)) });
        }
        let max = row[full..].iter().copied().fold(hmax(vmax), f32::max);
        let vm = _mm256_set1_ps(max);
        let mut vsum = _mm256_set1_ps(0.0);
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 ≤ n.
            unsafe {
                let e = exp8(_mm256_add_ps(
                    _mm256_loadu_ps(row.as_ptr().add(i)),
                    _mm256_mul_ps(vm, _mm256_set1_ps(-1.0)),
                ));
                _mm256_storeu_ps(row.as_mut_ptr().add(i), e);
                vsum = _mm256_add_ps(vsum, e);
            }
        }
        let mut sum = hsum(vsum);
        if full < n {
            // The tail through the same lanes, so every value is computed
            // the same way (padded with -inf, whose exp is 0).
            let mut buf = [f32::NEG_INFINITY; 8];
            buf[..n - full].copy_from_slice(&row[full..]);
            // SAFETY: `buf` is 8 f32s.
            unsafe {
                let e = exp8(_mm256_add_ps(
                    _mm256_loadu_ps(buf.as_ptr()),
                    _mm256_mul_ps(vm, _mm256_set1_ps(-1.0)),
                ));
                _mm256_storeu_ps(buf.as_mut_ptr(), e);
            }
            for (x, e) in row[full..].iter_mut().zip(&buf) {
                *x = *e;
                sum += e;
            }
        }
        let inv = _mm256_set1_ps(1.0 / sum);
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 ≤ n.
            unsafe {
                let v = _mm256_mul_ps(_mm256_loadu_ps(row.as_ptr().add(i)), inv);
                _mm256_storeu_ps(row.as_mut_ptr().add(i), v);
            }
        }
        let inv = 1.0 / sum;
        for x in &mut row[full..] {
            *x *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn exp_within_2_ulp_of_exact() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let ours = f64::from(exp(x));
            let exact = f64::from(x).exp();
            let ulp = f64::from(f32::EPSILON) * exact;
            worst = worst.max((ours - exact).abs() / ulp);
            x += 0.000_37;
        }
        eprintln!("max |exp - exact| on [-87, 88]: {worst:.2} ulp");
        assert!(worst <= 2.0, "exp: {worst:.2} ulp");
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
    }

    fn random(shape: (usize, usize, usize), seed: u64) -> Tensor {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n = shape.0 * shape.1 * shape.2;
        let v: Vec<f32> = (0..n).map(|_| rng.random_range(-12.0f32..12.0)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).expect("tensor")
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .and_then(|d| d.abs())
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.max(0))
            .and_then(|d| d.to_scalar::<f32>())
            .expect("difference")
    }

    #[test]
    fn matches_candle_softmax_every_tail_length() {
        // Row lengths with every remainder mod 8, and rows of one.
        for len in [1, 3, 8, 13, 93, 256] {
            let scores = random((12, len, len), len as u64);
            let ours = masked_softmax(&scores, None).expect("softmax");
            let theirs = candle_nn::ops::softmax_last_dim(&scores).expect("candle");
            let d = max_diff(&ours, &theirs);
            assert!(d <= 1e-6, "len {len}: max |ours - candle| = {d:.3e}");
        }
    }

    #[test]
    fn masked_matches_broadcast_add_then_softmax() {
        let (b, heads, s) = (3, 4, 21);
        let scores = random((b * heads, s, s), 5)
            .reshape((b, heads, s, s))
            .unwrap();
        // Padding from position 7 of sequence 1 and 15 of sequence 2, as
        // the encoder builds it (f32::MIN where padded).
        let mut m = vec![0f32; b * s];
        for j in 7..s {
            m[s + j] = f32::MIN;
        }
        for j in 15..s {
            m[2 * s + j] = f32::MIN;
        }
        let mask = Tensor::from_vec(m, (b, s), &Device::Cpu).unwrap();
        let ours = masked_softmax(&scores, Some(&mask)).expect("masked");
        let theirs = candle_nn::ops::softmax_last_dim(
            &scores
                .broadcast_add(&mask.reshape((b, 1, 1, s)).unwrap())
                .unwrap(),
        )
        .unwrap();
        let d = max_diff(&ours, &theirs);
        assert!(d <= 1e-6, "max |ours - candle| = {d:.3e}");
        // Padded keys get nothing; every row still sums to 1.
        let rows = ours
            .reshape((b * heads, s, s))
            .unwrap()
            .to_vec3::<f32>()
            .unwrap();
        for (k, row) in rows.iter().flatten().enumerate() {
            let seq = k / (heads * s);
            let real = [s, 7, 15][seq];
            assert!(row[real..].iter().all(|&p| p == 0.0), "row {k}");
            let total: f32 = row.iter().sum();
            assert!((total - 1.0).abs() < 1e-5, "row {k} sums to {total}");
        }
        // A mask that does not fit is an error, not a wrong answer.
        let bad = Tensor::zeros((2, s), DType::F32, &Device::Cpu).unwrap();
        assert!(masked_softmax(&scores, Some(&bad)).is_err());
        // Strided scores with a mask: candle's ops, the same answer.
        let strided = scores
            .transpose(2, 3)
            .unwrap()
            .contiguous()
            .unwrap()
            .transpose(2, 3)
            .unwrap();
        assert!(!strided.is_contiguous());
        let d = max_diff(&masked_softmax(&strided, Some(&mask)).unwrap(), &ours);
        assert!(d <= 1e-6, "strided: {d:.3e}");
    }

    #[test]
    fn a_nan_score_makes_its_row_nan() {
        for len in [5, 16, 21] {
            let mut v = vec![0.5f32; 2 * len];
            v[len / 2] = f32::NAN;
            let t = Tensor::from_vec(v, (2, len), &Device::Cpu).unwrap();
            let rows = masked_softmax(&t, None).unwrap().to_vec2::<f32>().unwrap();
            assert!(
                rows[0].iter().all(|p| p.is_nan()),
                "len {len}: {:?}",
                rows[0]
            );
            assert!(rows[1].iter().all(|&p| (p - 1.0 / len as f32).abs() < 1e-6));
        }
    }

    #[test]
    fn strided_input_falls_back_to_candle() {
        let scores = random((2, 9, 9), 3).transpose(1, 2).unwrap();
        assert!(!scores.is_contiguous());
        let ours = masked_softmax(&scores, None).unwrap();
        let theirs = candle_nn::ops::softmax_last_dim(&scores.contiguous().unwrap()).unwrap();
        assert_eq!(max_diff(&ours, &theirs), 0.0);
    }
}
