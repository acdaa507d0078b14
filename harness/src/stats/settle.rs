//! How long a run must be for its interval to settle a question: a pass
//! whose interval still reaches past the limit says "no evidence of a
//! leak", not "no leak"; this says how much longer would tell.

use super::normal::normal_quantile;

/// The power a planned run is sized for: the share of such runs whose
/// interval would settle the question if the drift is what was measured.
pub const PLAN_POWER: f64 = 0.8;

/// The steady-state length (seconds) at which an interval would lie wholly
/// on one side of a value `distance` away from the drift's estimate, with
/// probability [`PLAN_POWER`], where `steady_s` seconds gave a half-width
/// of `half_width` (the interval's side toward that value) at `confidence`.
///
/// The drift's standard error falls as the steady length to the power
/// −3/2 (a slope over evenly spaced samples: its variance is
/// 12 σ² / (f T³), and the long-run σ² of persistent noise takes the
/// place of σ² once the run is long against its memory), so
/// T' = T · (h (z_q + z_β) / (z_q d))^(2/3), with z_q the interval's
/// quantile and z_β that of the power. It reads the half-width the run
/// measured, persistence factor and Student's t included, so it leans
/// long where the run was too short to know its noise (the t quantile
/// shrinks as the run grows).
///
/// Never less than `steady_s`. `None` where nothing can be said: a
/// distance or half-width that is not positive and finite (a drift at the
/// value itself: no run length settles it), a steady length that is not
/// positive, or a confidence outside (0, 1). O(1).
pub fn settle_steady_s(
    steady_s: f64,
    half_width: f64,
    distance: f64,
    confidence: f64,
) -> Option<f64> {
    let finite_positive = |v: f64| v.is_finite() && v > 0.0;
    if !(finite_positive(steady_s)
        && finite_positive(half_width)
        && finite_positive(distance)
        && confidence > 0.0
        && confidence < 1.0)
    {
        return None;
    }
    let z_q = normal_quantile(0.5 + 0.5 * confidence);
    let z_b = normal_quantile(PLAN_POWER);
    let ratio = half_width * (z_q + z_b) / (z_q * distance);
    let t = steady_s * ratio.powf(2.0 / 3.0);
    t.is_finite().then_some(t.max(steady_s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_rng::Rng;

    #[test]
    fn by_hand() {
        // At 95%: z_q = 1.960, z_β = 0.8416; a half-width equal to the
        // distance needs (2.8016 / 1.960)^(2/3) = 1.2688 × the run.
        let t = settle_steady_s(100.0, 2.0, 2.0, 0.95).unwrap();
        assert!((t - 126.88).abs() < 0.05, "{t}");
        // Eight times the half-width: four times the run, times the same.
        let t = settle_steady_s(100.0, 16.0, 2.0, 0.95).unwrap();
        assert!((t - 507.5).abs() < 0.2, "{t}");
        // Already settled with room: never shorter than the run.
        assert_eq!(settle_steady_s(100.0, 0.1, 2.0, 0.95), Some(100.0));
    }

    #[test]
    fn nothing_to_say() {
        assert_eq!(settle_steady_s(100.0, 2.0, 0.0, 0.95), None);
        assert_eq!(settle_steady_s(100.0, 2.0, -1.0, 0.95), None);
        assert_eq!(settle_steady_s(0.0, 2.0, 1.0, 0.95), None);
        assert_eq!(settle_steady_s(100.0, f64::NAN, 1.0, 0.95), None);
        assert_eq!(settle_steady_s(100.0, 2.0, 1.0, 1.0), None);
    }

    #[test]
    fn ols_intervals_on_white_noise_settle_at_the_planned_rate() {
        // Least squares on white noise at 1 Hz, no drift, limit 1 unit/s
        // per 100 s: plan from one short run the length at which the
        // upper bound falls under the limit, then draw runs of that
        // length and count how often it does (80% planned; the t
        // quantile of the short run makes the plan a little long).
        let mut rng = Rng::new(7);
        let sd = 1.0;
        let limit = 0.01;
        let fit = |n: usize, rng: &mut Rng| {
            let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let y: Vec<f64> = (0..n).map(|_| sd * rng.normal()).collect();
            crate::stats::ols(&x, &y).unwrap()
        };
        let z = normal_quantile(0.975);
        let f = fit(60, &mut rng);
        let half = z * f.slope_stderr;
        let planned = settle_steady_s(60.0, half, limit, 0.95).unwrap().round() as usize;
        assert!(planned > 60, "{planned}");
        let settled = (0..400)
            .filter(|_| {
                let f = fit(planned, &mut rng);
                f.slope + z * f.slope_stderr < limit
            })
            .count();
        assert!(
            (280..=376).contains(&settled),
            "{settled} of 400 at {planned} s"
        );
    }
}
