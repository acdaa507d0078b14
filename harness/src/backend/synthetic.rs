//! A deterministic embedder with memory behaviour injected on purpose.
//!
//! Used for demos and self-tests: it produces vectors that depend only on the
//! text, burns a tunable amount of CPU per item, and leaks, steps, plateaus or
//! saw-tooths its retained memory exactly as asked.

use std::time::{Duration, Instant};

use super::{BackendError, BackendInfo, Embedded, Embedder};

/// Memory behaviour to inject. Sizes are in bytes, counted per batch or item.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Retain nothing.
    None,
    /// Retain `bytes_per_item` for every item embedded, forever.
    Linear {
        /// Bytes kept per item.
        bytes_per_item: u64,
    },
    /// Retain one block of `bytes` every `every_items` items.
    Step {
        /// Bytes retained at each step.
        bytes: u64,
        /// Items between steps.
        every_items: u64,
    },
    /// Retain `bytes_per_item` until `total` is reached (a cache filling up).
    Plateau {
        /// Bytes kept per item while filling.
        bytes_per_item: u64,
        /// Cap of the cache.
        total: u64,
    },
    /// Retain `bytes_per_item` until `peak`, then free it all (a GC cycle).
    Sawtooth {
        /// Bytes kept per item while the cycle rises.
        bytes_per_item: u64,
        /// Height of the tooth.
        peak: u64,
    },
}

/// Settings of the synthetic backend.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticOptions {
    /// Vector width.
    pub dim: usize,
    /// Busy CPU time per item.
    pub cost_per_item: Duration,
    /// Memory behaviour.
    pub behaviour: Behaviour,
}

impl Default for SyntheticOptions {
    fn default() -> Self {
        SyntheticOptions {
            dim: 384,
            cost_per_item: Duration::from_micros(200),
            behaviour: Behaviour::None,
        }
    }
}

/// The synthetic embedder. See the module docs.
///
/// # Examples
/// ```
/// use memsoak::backend::{Embedder, synthetic::{SyntheticEmbedder, SyntheticOptions}};
/// let mut e = SyntheticEmbedder::new(SyntheticOptions { dim: 8, ..Default::default() });
/// let out = e.embed(&["hello".to_string()]).unwrap();
/// assert_eq!(out.count(), 1);
/// assert_eq!(out.dim(), 8);
/// ```
pub struct SyntheticEmbedder {
    opts: SyntheticOptions,
    items: u64,
    /// Memory retained on purpose. Each chunk is touched so it counts in RSS.
    retained: Vec<Box<[u8]>>,
    retained_bytes: u64,
}

impl SyntheticEmbedder {
    /// A new embedder with nothing retained yet.
    pub fn new(opts: SyntheticOptions) -> Self {
        SyntheticEmbedder {
            opts,
            items: 0,
            retained: Vec::new(),
            retained_bytes: 0,
        }
    }

    /// Bytes currently retained on purpose.
    pub fn retained_bytes(&self) -> u64 {
        self.retained_bytes
    }

    fn retain(&mut self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        // NOTE: filled with a non-zero byte so the kernel really backs the
        // pages (a zeroed calloc'd block can stay unbacked and invisible in RSS).
        let chunk = vec![0xA5u8; bytes as usize].into_boxed_slice();
        std::hint::black_box(&chunk);
        self.retained.push(chunk);
        self.retained_bytes += bytes;
    }

    fn release_all(&mut self) {
        self.retained.clear();
        self.retained.shrink_to_fit();
        self.retained_bytes = 0;
    }

    fn account(&mut self, n: u64) {
        match self.opts.behaviour.clone() {
            Behaviour::None => {}
            Behaviour::Linear { bytes_per_item } => self.retain(bytes_per_item * n),
            Behaviour::Step { bytes, every_items } => {
                let every = every_items.max(1);
                let steps = (self.items + n) / every - self.items / every;
                for _ in 0..steps {
                    self.retain(bytes);
                }
            }
            Behaviour::Plateau {
                bytes_per_item,
                total,
            } => {
                let want = (bytes_per_item * n).min(total.saturating_sub(self.retained_bytes));
                self.retain(want);
            }
            Behaviour::Sawtooth {
                bytes_per_item,
                peak,
            } => {
                if self.retained_bytes >= peak {
                    self.release_all();
                } else {
                    self.retain(bytes_per_item * n);
                }
            }
        }
        self.items += n;
    }
}

/// A deterministic vector for a text: FNV-1a seeded xorshift, L2-normalised.
fn vector_for(text: &str, dim: usize, out: &mut Vec<f32>) {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    let start = out.len();
    let mut norm = 0.0f32;
    for _ in 0..dim {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        let v = ((h >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
        norm += v * v;
        out.push(v);
    }
    let norm = norm.sqrt().max(f32::MIN_POSITIVE);
    for v in &mut out[start..] {
        *v /= norm;
    }
}

fn burn(d: Duration) {
    if d.is_zero() {
        return;
    }
    let end = Instant::now() + d;
    let mut x = 1u64;
    while Instant::now() < end {
        for _ in 0..64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

impl Embedder for SyntheticEmbedder {
    fn info(&self) -> BackendInfo {
        let mut details = serde_json::Map::new();
        details.insert(
            "behaviour".into(),
            serde_json::Value::String(format!("{:?}", self.opts.behaviour)),
        );
        details.insert(
            "cost_per_item_us".into(),
            serde_json::json!(self.opts.cost_per_item.as_micros() as u64),
        );
        BackendInfo {
            name: "synthetic".into(),
            model: None,
            dim: Some(self.opts.dim),
            details,
        }
    }

    fn embed(&mut self, texts: &[String]) -> Result<Embedded, BackendError> {
        let mut data = Vec::with_capacity(texts.len() * self.opts.dim);
        for t in texts {
            burn(self.opts.cost_per_item);
            vector_for(t, self.opts.dim, &mut data);
        }
        self.account(texts.len() as u64);
        Ok(Embedded::Vectors {
            dim: self.opts.dim,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("text {i}")).collect()
    }

    fn run(behaviour: Behaviour, batches: usize) -> Vec<u64> {
        let mut e = SyntheticEmbedder::new(SyntheticOptions {
            dim: 4,
            cost_per_item: Duration::ZERO,
            behaviour,
        });
        (0..batches)
            .map(|_| {
                e.embed(&texts(10)).unwrap();
                e.retained_bytes()
            })
            .collect()
    }

    #[test]
    fn vectors_are_deterministic_and_normalised() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        vector_for("héllo", 16, &mut a);
        vector_for("héllo", 16, &mut b);
        assert_eq!(a, b);
        let norm: f32 = a.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        let mut c = Vec::new();
        vector_for("hello", 16, &mut c);
        assert_ne!(a, c);
    }

    #[test]
    fn linear_retains_per_item() {
        assert_eq!(
            run(
                Behaviour::Linear {
                    bytes_per_item: 100
                },
                3
            ),
            vec![1000, 2000, 3000]
        );
    }

    #[test]
    fn step_retains_every_n_items() {
        let r = run(
            Behaviour::Step {
                bytes: 7,
                every_items: 25,
            },
            5,
        );
        assert_eq!(r, vec![0, 0, 7, 7, 14]);
    }

    #[test]
    fn plateau_stops_at_total() {
        let r = run(
            Behaviour::Plateau {
                bytes_per_item: 100,
                total: 2500,
            },
            4,
        );
        assert_eq!(r, vec![1000, 2000, 2500, 2500]);
    }

    #[test]
    fn sawtooth_frees_at_peak() {
        let r = run(
            Behaviour::Sawtooth {
                bytes_per_item: 100,
                peak: 2000,
            },
            4,
        );
        assert_eq!(r, vec![1000, 2000, 0, 1000]);
    }

    #[test]
    fn embed_returns_one_vector_per_text() {
        let mut e = SyntheticEmbedder::new(SyntheticOptions {
            dim: 3,
            cost_per_item: Duration::ZERO,
            behaviour: Behaviour::None,
        });
        let out = e.embed(&texts(5)).unwrap();
        assert_eq!(out.count(), 5);
        assert_eq!(out.dim(), 3);
    }
}
