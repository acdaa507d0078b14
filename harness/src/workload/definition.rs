//! Workload definitions (`--workload FILE.toml`): a weighted mix of sources
//! (the synthetic generator, text files, recorded traces), each with its own
//! page size and, for synthetic text, length distribution.
//!
//! ```toml
//! name = "mixed"            # optional (default: the file name)
//! seed = 7                  # seed of the choice of source for each page
//! pace = "fast"             # pace of trace sources; --pace overrides
//!
//! [[source]]
//! kind = "synthetic"
//! weight = 3                # pages drawn in proportion to the weights
//! page_size = 32
//! lengths = "longtail:60-400"
//! seed = 42
//!
//! [[source]]
//! kind = "text"
//! path = "multilingual.txt" # relative to this file's folder
//! page_size = 8
//!
//! [[source]]
//! kind = "trace"            # recorded batches are kept: no page_size
//! path = "sample-trace.jsonl"
//! ```
//!
//! Each page comes from one source, drawn by weight. A finite source (a text
//! file, a trace, a synthetic source with `pages`) drops out of the draw when
//! exhausted; the mix ends when every source is (and `--loop` starts it all
//! again).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use super::synthetic::{Lengths, SyntheticWorkload, SyntheticWorkloadOptions};
use super::textfile::TextFileWorkload;
use super::trace::{Pace, ReplayStats, TraceWorkload};
use super::{Cancel, Page, Workload, WorkloadError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefinition {
    name: Option<String>,
    #[allow(dead_code)]
    description: Option<String>,
    seed: Option<u64>,
    pace: Option<String>,
    #[serde(default, rename = "source")]
    sources: Vec<RawSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: String,
    weight: Option<f64>,
    page_size: Option<usize>,
    lengths: Option<String>,
    seed: Option<u64>,
    pages: Option<u64>,
    path: Option<PathBuf>,
}

/// One source of a definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The synthetic generator.
    Synthetic(SyntheticWorkloadOptions),
    /// A text file, one text per line.
    Text {
        /// The file (resolved against the definition's folder).
        path: PathBuf,
        /// Texts per page.
        page_size: usize,
    },
    /// A recorded trace (its batches are the pages).
    Trace {
        /// The file (resolved against the definition's folder).
        path: PathBuf,
    },
}

/// A validated workload definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// The file it came from.
    pub path: PathBuf,
    /// Its name (the `name` key, else the file name).
    pub name: String,
    /// Seed of the draw of sources.
    pub seed: u64,
    /// Pace of trace sources, if the file sets one.
    pub pace: Option<Pace>,
    /// The sources and their weights.
    pub sources: Vec<(f64, Source)>,
}

impl Definition {
    /// Read and validate `path`.
    pub fn load(path: &Path) -> Result<Definition, WorkloadError> {
        let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::Io {
            path: path.into(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Validate TOML `text`; `path` names the file in errors and anchors
    /// relative source paths. Source files must exist.
    pub fn parse(text: &str, path: &Path) -> Result<Definition, WorkloadError> {
        let bad = |why: String| WorkloadError::Invalid(format!("{}: {why}", path.display()));
        let raw: RawDefinition = toml::from_str(text).map_err(|e| {
            bad(e
                .to_string()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join(" "))
        })?;
        if raw.sources.is_empty() {
            return Err(bad(
                "no sources: add at least one [[source]] with kind = \"synthetic\", \"text\" or \"trace\"".into(),
            ));
        }
        let pace = raw
            .pace
            .as_deref()
            .map(Pace::parse)
            .transpose()
            .map_err(|e| bad(format!("pace: {e}")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut sources = Vec::new();
        for (i, s) in raw.sources.into_iter().enumerate() {
            let at = |why: String| bad(format!("source {} ({}): {why}", i + 1, s.kind));
            let weight = s.weight.unwrap_or(1.0);
            if !weight.is_finite() || weight <= 0.0 {
                return Err(at(format!("weight {weight} must be a number > 0")));
            }
            let page_size = s.page_size.unwrap_or(32);
            if page_size == 0 {
                return Err(at("page_size must be at least 1".into()));
            }
            let file = |p: &Option<PathBuf>| -> Result<PathBuf, WorkloadError> {
                let p = p.as_ref().ok_or_else(|| at("needs a `path`".into()))?;
                let full = dir.join(p);
                if let Some(why) = super::unreadable_file(&full) {
                    return Err(at(format!("{}: {why}", full.display())));
                }
                Ok(full)
            };
            let only_synthetic =
                |s: &RawSource| s.lengths.is_some() || s.seed.is_some() || s.pages.is_some();
            let source = match s.kind.as_str() {
                "synthetic" => {
                    if s.path.is_some() {
                        return Err(at("`path` applies to text and trace sources".into()));
                    }
                    let lengths = match &s.lengths {
                        Some(l) => Lengths::parse(l).map_err(|e| at(format!("lengths: {e}")))?,
                        None => SyntheticWorkloadOptions::default().lengths,
                    };
                    Source::Synthetic(SyntheticWorkloadOptions {
                        seed: s.seed.unwrap_or(42),
                        page_size,
                        lengths,
                        pages: s.pages,
                    })
                }
                "text" if only_synthetic(&s) => {
                    return Err(at(
                        "`lengths`, `seed` and `pages` apply to synthetic sources".into(),
                    ));
                }
                "text" => Source::Text {
                    path: file(&s.path)?,
                    page_size,
                },
                "trace" if only_synthetic(&s) || s.page_size.is_some() => {
                    return Err(at(
                        "a trace keeps its recorded batches: `page_size`, `lengths`, `seed` and `pages` do not apply".into(),
                    ));
                }
                "trace" => Source::Trace {
                    path: file(&s.path)?,
                },
                other => {
                    return Err(at(format!(
                        "unknown kind `{other}` (expected synthetic, text or trace)"
                    )));
                }
            };
            sources.push((weight, source));
        }
        Ok(Definition {
            name: raw.name.unwrap_or_else(|| {
                path.file_name()
                    .map_or("definition".into(), |n| n.to_string_lossy().into_owned())
            }),
            path: path.into(),
            seed: raw.seed.unwrap_or(0),
            pace,
            sources,
        })
    }

    /// The trace files among the sources.
    pub fn traces(&self) -> Vec<&Path> {
        self.sources
            .iter()
            .filter_map(|(_, s)| match s {
                Source::Trace { path } => Some(path.as_path()),
                _ => None,
            })
            .collect()
    }

    /// Open every source. Trace sources replay at `pace`, skipping bad
    /// lines with `skip_bad`, waits cut short by `cancel`.
    pub fn build(
        &self,
        pace: Pace,
        skip_bad: bool,
        cancel: &Cancel,
        stats: &Arc<ReplayStats>,
    ) -> Result<Mixture, WorkloadError> {
        let mut sources = Vec::new();
        for (w, s) in &self.sources {
            let wl: Box<dyn Workload> = match s {
                Source::Synthetic(o) => Box::new(SyntheticWorkload::new(o.clone())?),
                Source::Text { path, page_size } => {
                    Box::new(TextFileWorkload::open(path, *page_size)?)
                }
                Source::Trace { path } => Box::new(TraceWorkload::open(
                    path,
                    pace,
                    skip_bad,
                    cancel.clone(),
                    stats.clone(),
                )?),
            };
            sources.push(Mixed {
                weight: *w,
                workload: wl,
                exhausted: false,
            });
        }
        Ok(Mixture {
            name: self.name.clone(),
            seed: self.seed,
            rng: StdRng::seed_from_u64(self.seed),
            sources,
        })
    }
}

struct Mixed {
    weight: f64,
    workload: Box<dyn Workload>,
    exhausted: bool,
}

/// Pages drawn from several workloads by weight. See the module docs.
pub struct Mixture {
    name: String,
    seed: u64,
    rng: StdRng,
    sources: Vec<Mixed>,
}

impl Mixture {
    /// Mix `sources` (weight, workload); the same seed draws the same order.
    pub fn new(name: &str, seed: u64, sources: Vec<(f64, Box<dyn Workload>)>) -> Self {
        Mixture {
            name: name.into(),
            seed,
            rng: StdRng::seed_from_u64(seed),
            sources: sources
                .into_iter()
                .map(|(weight, workload)| Mixed {
                    weight,
                    workload,
                    exhausted: false,
                })
                .collect(),
        }
    }
}

impl Workload for Mixture {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn next_page(&mut self) -> Result<Option<Page>, WorkloadError> {
        loop {
            let total: f64 = self
                .sources
                .iter()
                .filter(|s| !s.exhausted)
                .map(|s| s.weight)
                .sum();
            if total <= 0.0 {
                return Ok(None);
            }
            let mut r = self.rng.random::<f64>() * total;
            let live = self.sources.iter().filter(|s| !s.exhausted).count();
            let mut pick = None;
            for (i, s) in self
                .sources
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.exhausted)
            {
                pick = Some(i);
                if r < s.weight {
                    break;
                }
                r -= s.weight;
            }
            let i = pick.expect("a live source");
            match self.sources[i].workload.next_page()? {
                Some(p) => return Ok(Some(p)),
                None => {
                    self.sources[i].exhausted = true;
                    if live == 1 {
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn rewind(&mut self) -> Result<(), WorkloadError> {
        for s in &mut self.sources {
            s.workload.rewind()?;
            s.exhausted = false;
        }
        self.rng = StdRng::seed_from_u64(self.seed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Lines a workload definition is made of, right and wrong.
    fn definition_line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("[[source]]".to_string()),
            "(synthetic|text|trace|bogus)".prop_map(|k| format!("kind = \"{k}\"")),
            (-3.0f64..5.0).prop_map(|w| format!("weight = {w}")),
            (0i64..100).prop_map(|n| format!("page_size = {n}")),
            "(fixed|uniform|longtail|x):[0-9]{0,3}(-[0-9]{0,4})?"
                .prop_map(|l| format!("lengths = \"{l}\"")),
            "(multilingual.txt|sample-trace.jsonl|missing.txt|)"
                .prop_map(|p| format!("path = \"{p}\"")),
            "(fast|original|x[0-9.]{0,3}|slow)".prop_map(|p| format!("pace = \"{p}\"")),
            (0u64..10).prop_map(|s| format!("seed = {s}")),
            "\\PC{0,20}",
        ]
    }

    proptest! {
        // A workload file is outside input: it validates or fails with one
        // line naming the file, never a panic.
        #[test]
        fn any_definition_parses_or_fails_with_one_line(lines in prop::collection::vec(definition_line(), 0..10)) {
            match parse(&lines.join("\n")) {
                // Valid means usable: every trace it names exists.
                Ok(d) => prop_assert!(d.traces().iter().all(|p| p.is_file())),
                Err(e) => {
                    prop_assert!(!e.contains('\n'), "{e}");
                    prop_assert!(e.contains("x.toml"), "{e}");
                }
            }
        }
    }

    use crate::workload::VecWorkload;

    fn parse(text: &str) -> Result<Definition, String> {
        Definition::parse(text, Path::new("../workloads/x.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn sources_validate_with_one_line_errors() {
        let d = parse(
            "seed = 3\npace = \"x2\"\n[[source]]\nkind = \"synthetic\"\nweight = 2\nlengths = \"fixed:5\"\npage_size = 4\n[[source]]\nkind = \"text\"\npath = \"multilingual.txt\"\n",
        )
        .unwrap();
        assert_eq!(
            (d.seed, d.pace, d.name.as_str()),
            (3, Some(Pace::Scaled(2.0)), "x.toml")
        );
        assert_eq!(d.sources.len(), 2);
        assert!(matches!(
            &d.sources[1].1,
            Source::Text { page_size: 32, .. }
        ));
        for (toml, want) in [
            ("", "no sources"),
            (
                "[[source]]\nkind = \"magic\"\n",
                "source 1 (magic): unknown kind",
            ),
            ("[[source]]\nkind = \"synthetic\"\nweight = 0\n", "weight 0"),
            (
                "[[source]]\nkind = \"synthetic\"\nlengths = \"bell\"\n",
                "lengths: invalid",
            ),
            ("[[source]]\nkind = \"text\"\n", "needs a `path`"),
            (
                "[[source]]\nkind = \"text\"\npath = \"nope.txt\"\n",
                "no such file",
            ),
            // Regression: a folder given as a source's file was "no such file".
            (
                "[[source]]\nkind = \"text\"\npath = \".\"\n",
                "is a directory, not a file",
            ),
            (
                "[[source]]\nkind = \"trace\"\npath = \"multilingual.txt\"\npage_size = 3\n",
                "recorded batches",
            ),
            ("[[source]]\nkind = \"synthetic\"\nwieght = 1\n", "wieght"),
            (
                "pace = \"slow\"\n[[source]]\nkind = \"synthetic\"\n",
                "invalid pace",
            ),
            ("[[source]\n", "x.toml"),
        ] {
            let e = parse(toml).unwrap_err();
            assert!(e.contains(want) && e.contains("x.toml"), "{toml:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    fn pages(tag: &str, n: usize) -> Box<dyn Workload> {
        Box::new(VecWorkload::new(
            (0..n)
                .map(|i| Page::new(vec![format!("{tag}{i}")]))
                .collect(),
        ))
    }

    #[test]
    fn mixture_follows_weights_and_drains_every_source() {
        let mut m = Mixture::new(
            "m",
            1,
            vec![(3.0, pages("a", 3000)), (1.0, pages("b", 1000))],
        );
        let first: Vec<String> = (0..400)
            .map(|_| m.next_page().unwrap().unwrap().texts[0].clone())
            .collect();
        let b = first.iter().filter(|t| t.starts_with('b')).count();
        assert!((60..140).contains(&b), "{b} of 400 from weight 1/4");
        let mut n = 400;
        while m.next_page().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 4000);
        m.rewind().unwrap();
        let again: Vec<String> = (0..400)
            .map(|_| m.next_page().unwrap().unwrap().texts[0].clone())
            .collect();
        assert_eq!(again, first);
    }
}
