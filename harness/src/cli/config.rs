//! The TOML config: named profiles of sampling, analysis and thresholds.
//! `ci` (minutes) and `nightly` (hours) are built in; a config file can
//! override them or add more.
//!
//! ```toml
//! [profile.ci]
//! duration = "3m"
//! sample_every = "1s"
//! warmup = "auto"
//! thresholds = ["rss.slope<2MiB/min", "heap.slope_per_1k<64KiB"]
//! fail_fast = false
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One profile; every field optional (unset fields fall back to defaults).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Run length.
    pub duration: Option<String>,
    /// Sampling period.
    pub sample_every: Option<String>,
    /// Warm-up rule.
    pub warmup: Option<String>,
    /// Threshold expressions.
    pub thresholds: Option<Vec<String>>,
    /// Fail-fast.
    pub fail_fast: Option<bool>,
    /// Confidence.
    pub confidence: Option<f64>,
    /// Materiality floor (a size).
    pub min_growth: Option<String>,
}

/// A config file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Profiles by name.
    #[serde(default)]
    pub profile: BTreeMap<String, Profile>,
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not readable.
    #[error("cannot read config {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// Not valid TOML or unknown keys.
    #[error("config {path}: {why}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, on one line.
        why: String,
    },
    /// The profile asked for does not exist.
    #[error("unknown profile `{name}` (known: {known})")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// Names available.
        known: String,
    },
}

/// The built-in profiles.
pub fn builtin(name: &str) -> Option<Profile> {
    let p = |d: &str, s: &str, th: &[&str]| Profile {
        duration: Some(d.into()),
        sample_every: Some(s.into()),
        warmup: Some("auto".into()),
        thresholds: (!th.is_empty()).then(|| th.iter().map(|t| t.to_string()).collect()),
        fail_fast: None,
        confidence: None,
        min_growth: None,
    };
    match name {
        "ci" => Some(p("3m", "1s", &[])),
        "nightly" => Some(p("4h", "5s", &[])),
        _ => None,
    }
}

impl Config {
    /// Parse TOML text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            why: e
                .to_string()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        })
    }

    /// Load a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.into(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// The profile `name`: the file's, else a built-in one.
    pub fn profile(&self, name: &str) -> Result<Profile, ConfigError> {
        if let Some(p) = self.profile.get(name) {
            return Ok(p.clone());
        }
        builtin(name).ok_or_else(|| {
            let mut known: Vec<String> = vec!["ci".into(), "nightly".into()];
            // NOTE: a file's own `ci` was listed twice: dedup only drops
            // neighbours, and the file's names come after the built-ins.
            for k in self.profile.keys() {
                if !known.contains(k) {
                    known.push(k.clone());
                }
            }
            ConfigError::UnknownProfile {
                name: name.into(),
                known: known.join(", "),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Lines a memsoak.toml is made of, right and wrong.
    fn config_line() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{1,8}".prop_map(|n| format!("[profile.{n}]")),
            Just("[profile.ci]".to_string()),
            "[0-9]{1,3}[smh]?".prop_map(|d| format!("duration = \"{d}\"")),
            "[0-9a-z.]{0,6}".prop_map(|d| format!("sample_every = \"{d}\"")),
            "[a-z_]{1,6}\\.[a-z_1]{1,9}[<>]=?[0-9]{1,4}[KMG]?i?B?(/min)?"
                .prop_map(|t| format!("thresholds = [\"{t}\"]")),
            (-2.0f64..2.0).prop_map(|c| format!("confidence = {c}")),
            "(auto|[0-9]{1,3}%|[0-9]{1,3}s|x)".prop_map(|w| format!("warmup = \"{w}\"")),
            any::<bool>().prop_map(|b| format!("fail_fast = {b}")),
            "\\PC{0,20}",
        ]
    }

    proptest! {
        // Every config text, valid or not, parses or fails with one line.
        #[test]
        fn any_config_parses_or_fails_with_one_line(lines in prop::collection::vec(config_line(), 0..8)) {
            let text = lines.join("\n");
            match Config::parse(&text, Path::new("memsoak.toml")) {
                Ok(c) => {
                    for name in ["ci", "nightly", "x"] {
                        if let Err(e) = c.profile(name) {
                            prop_assert!(!e.to_string().contains('\n'), "{e}");
                        }
                    }
                }
                Err(e) => prop_assert!(!e.to_string().contains('\n'), "{e}"),
            }
        }
    }

    #[test]
    fn parses_profiles_and_falls_back_to_builtins() {
        let c = Config::parse(
            "[profile.quick]\nduration = \"20s\"\nthresholds = [\"rss.max<1GiB\"]\n",
            Path::new("m.toml"),
        )
        .unwrap();
        assert_eq!(c.profile("quick").unwrap().duration.as_deref(), Some("20s"));
        assert_eq!(c.profile("ci").unwrap().duration.as_deref(), Some("3m"));
        let e = c.profile("weekly").unwrap_err().to_string();
        assert!(
            e.contains("unknown profile `weekly`") && e.contains("quick"),
            "{e}"
        );
    }

    #[test]
    fn known_profiles_are_each_named_once() {
        // Regression: `unknown profile 'quik' (known: ci, nightly, ci, quick)`.
        let c = Config::parse(
            "[profile.ci]\nduration = \"1m\"\n[profile.quick]\nduration = \"20s\"\n",
            Path::new("m.toml"),
        )
        .unwrap();
        assert_eq!(
            c.profile("quik").unwrap_err().to_string(),
            "unknown profile `quik` (known: ci, nightly, quick)"
        );
    }

    #[test]
    fn unknown_keys_and_bad_toml_are_one_line_errors() {
        let e = Config::parse("[profile.ci]\nduraton = \"1m\"\n", Path::new("m.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.toml") && e.contains("duraton"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = Config::parse("[profile.ci\n", Path::new("m.toml"))
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e}");
    }
}
