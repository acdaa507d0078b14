//! A tiny deterministic random source for the statistics' tests (and the
//! analysis tests that simulate noisy runs): no rand crate, same numbers on
//! every machine.

/// xorshift64* with Box–Muller normals.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from a seed; small seeds are spread over the state.
    pub(crate) fn new(seed: u64) -> Self {
        // NOTE: keep the state non-zero (xorshift's one fixed point).
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03 | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal.
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: ln is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}
