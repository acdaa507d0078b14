//! Alpha spending for sequential (fail-fast) looks at a running soak test:
//! checking after every chunk of samples would inflate the false-alarm rate,
//! so look k only spends a share of alpha that sums to at most alpha.

/// The look by which half of alpha is spent ([`look_alpha`]): look k
/// spends a share c / ((k + c)(k − 1 + c)), so the first look gets 1/(c + 1)
/// and the looks up to K together K/(K + c).
const HALF_SPENT_AT_LOOK: f64 = 5.0;

/// Sequential (fail-fast) looks: alpha to spend at look k (1-based) so that the
/// sum over all k is <= alpha: `alpha * c / ((k + c)(k − 1 + c))` with
/// c = 5 (the sum to K telescopes to `alpha * K / (K + c)`).
///
/// NOTE: the first look gets a sixth of alpha, half is spent by look 5 and
/// the rest goes on later, where the samples say most. The earlier rule,
/// `alpha * 6 / (π² k²)`, spent 61% at the first look (30 s in), where
/// persistence is least measurable and a slope worth least, and left look
/// 19 (3.5 min at 1 Hz) 8.4e-5, a fifth of what it gets now (4.5e-4): on
/// 200 seeded runs per cell `--fail-fast` stopped a 3× leak after 1.63× the
/// oracle time on white noise (was 1.83×), 2.17× on held levels (2.55×),
/// 2.75× on AR(1) φ = 0.9 (3.36×), and stopped fewer healthy runs (the
/// mixture at 10 Hz: 10%, was 12%). It costs the very first look: a leak
/// big enough to be plain at 30 s (white noise at 10 Hz) waits one look
/// more (1.32× → 1.53×).
///
/// Cost O(1). `alpha` is clamped to `[0, 1]` (NaN counts as 0); look 0 is not a
/// look and gets 0, so no caller can spend more than `alpha` in total.
pub fn look_alpha(alpha: f64, look: u32) -> f64 {
    if look == 0 || alpha.is_nan() {
        return 0.0;
    }
    let alpha = alpha.clamp(0.0, 1.0);
    let (k, c) = (f64::from(look), HALF_SPENT_AT_LOOK);
    alpha * c / ((k + c) * (k - 1.0 + c))
}

/// When the `--fail-fast` monitor looks first, in seconds from the start:
/// after 30 samples, and at least 30 s. Enough samples to fit anything, and
/// long enough that a GC cycle of up to 15 s has dropped twice: before its
/// first drop a cycle's ramp is a leak to any test (a 10 s sawtooth sampled
/// at 10 Hz, looked at from 10 s, stopped a quarter of healthy runs).
pub fn first_look_s(sample_every_s: f64) -> f64 {
    (sample_every_s * 30.0).max(30.0)
}

/// Seconds between the monitor's later looks: 10 samples, at least 10 s,
/// so that from 1 Hz up the looks fall at the same times whatever the rate.
///
/// NOTE: the floor was 5 s, so 10 Hz looked twice as often as 1 Hz and each
/// look spent half as much alpha, for samples that persistent noise makes
/// worth little more than 1 Hz's. Measured with `calibrate --runs 600@10`
/// (50 seeds) and `--runs 90@10` (200): over 10 minutes `--fail-fast` stops a
/// 3× leak at 1.75× T\* on white noise (1.97×), 2.74× on held levels
/// (2.93×), 2.34× on the mixture (2.50×), with the same healthy runs
/// stopped; heavy tails and AR(1) 0.5 a look later, in 90 s as over
/// 10 minutes (1.53 → 1.75×, 1.67 → 1.82×); white noise in 90 s as before
/// (1.75×). AR(1) 0.9 read 1.89 → 1.81× at 50 seeds, 1.97× at 200.
/// It halves the looks' fits at 10 Hz, work done inside the process `run`
/// measures. At 1 Hz and slower nothing changes.
pub fn look_interval_s(sample_every_s: f64) -> f64 {
    (sample_every_s * 10.0).max(10.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        // Look 1: 5/(6·5) = 1/6; look 5: 5/(10·9) = 1/18; the first five
        // together 5/10 = a half.
        assert!((look_alpha(0.05, 1) - 0.05 / 6.0).abs() < 1e-15);
        assert!((look_alpha(0.05, 5) - 0.05 / 18.0).abs() < 1e-15);
        let five: f64 = (1..=5).map(|k| look_alpha(0.05, k)).sum();
        assert!((five - 0.025).abs() < 1e-15, "{five}");
        assert_eq!(look_alpha(0.05, 0), 0.0);
        assert_eq!(look_alpha(f64::NAN, 3), 0.0);
        assert_eq!(look_alpha(-1.0, 3), 0.0);
        assert_eq!(look_alpha(7.0, 1), look_alpha(1.0, 1));
    }

    #[test]
    fn looks_fall_at_the_same_times_from_1_hz_up() {
        assert_eq!(look_interval_s(1.0), 10.0);
        assert_eq!(look_interval_s(0.1), 10.0);
        assert_eq!(look_interval_s(0.25), 10.0);
        assert_eq!(look_interval_s(2.0), 20.0);
        assert_eq!(first_look_s(0.1), 30.0);
        assert_eq!(first_look_s(2.0), 60.0);
    }

    proptest! {
        #[test]
        fn total_spend_never_exceeds_alpha(alpha in 0.0f64..1.0, looks in 1u32..20_000) {
            let total: f64 = (1..=looks).map(|k| look_alpha(alpha, k)).sum();
            prop_assert!(total <= alpha * (1.0 + 1e-12));
            prop_assert!(look_alpha(alpha, looks + 1) <= look_alpha(alpha, looks));
        }
    }
}
