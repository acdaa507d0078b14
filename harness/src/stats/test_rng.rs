//! The seeded random source of the statistics' tests (and the analysis
//! tests that simulate noisy runs): rand's `StdRng` with rand_distr's
//! normal, so a seed gives the same numbers on every machine.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use rand_distr::StandardNormal;

/// A seeded generator of uniforms and standard normals.
pub(crate) struct Rng(StdRng);

impl Rng {
    /// A generator from a seed.
    pub(crate) fn new(seed: u64) -> Self {
        Rng(StdRng::seed_from_u64(seed))
    }

    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        self.0.random()
    }

    /// Standard normal.
    pub(crate) fn normal(&mut self) -> f64 {
        self.0.sample(StandardNormal)
    }
}
