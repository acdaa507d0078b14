//! One trace line in, one value out (and back): the header, the records, and
//! the shape of a redacted text. Pure: no files, so every malformed line is
//! testable (and fuzzable) on its own.
//!
//! ```text
//! {"memsoak_trace":1,"created":"2025-01-01T00:00:00Z","source":"proxy","redacted":false}
//! {"t":0.0,"texts":["first text","second"],"endpoint":"/v1/embeddings","model":"m"}
//! {"t":0.25,"shapes":[{"chars":42,"tokens":9,"script":"latin"}],"endpoint":"/embed"}
//! ```

use serde::{Deserialize, Serialize};

/// The trace format version this memsoak writes and reads.
pub const VERSION: u64 = 1;

/// Largest time offset a record may have, seconds (about 317 years: an
/// offset beyond it is a mistake, such as an absolute timestamp).
pub const MAX_T: f64 = 1e10;

/// The longest text a redacted shape may stand for, in characters: 10
/// million (a whole book). A shape of 4 billion was regenerated into a
/// 12.5 GB heap, and the run hung on it.
pub const MAX_SHAPE_CHARS: u32 = 10_000_000;

/// The key of the header line that names the format and its version.
pub const HEADER_KEY: &str = "memsoak_trace";

/// The first line of a trace.
///
/// # Examples
/// ```
/// use memsoak::trace::format::{Header, parse_header};
/// let h = Header::new("proxy", false);
/// assert_eq!(parse_header(&h.to_line()).unwrap(), h);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Format version ([`VERSION`]).
    #[serde(rename = "memsoak_trace")]
    pub version: u64,
    /// When the trace was started (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Where the records came from: `proxy`, `jsonl` or `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Whether records keep only the shape of each text.
    #[serde(default)]
    pub redacted: bool,
    /// The upstream server a proxy recorded (scheme, host, port and path
    /// only: never credentials or a query string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

impl Header {
    /// A current-version header created now.
    pub fn new(source: &str, redacted: bool) -> Self {
        Header {
            version: VERSION,
            created: Some(
                chrono::Utc::now()
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string(),
            ),
            source: Some(source.into()),
            redacted,
            upstream: None,
        }
    }

    /// The header as one JSON line, without the newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a header always serialises")
    }
}

/// The dominant writing system of a text (the letters of one script
/// outnumber every other's); `other` when it has no letters of a known one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Script {
    /// Latin letters (English, French, Vietnamese...).
    Latin,
    /// Cyrillic.
    Cyrillic,
    /// Greek.
    Greek,
    /// Arabic.
    Arabic,
    /// Hebrew.
    Hebrew,
    /// Devanagari (Hindi, Marathi...).
    Devanagari,
    /// Thai.
    Thai,
    /// Hangul (Korean).
    Hangul,
    /// Hiragana and katakana (Japanese).
    Kana,
    /// Han ideographs (Chinese, Japanese kanji): each one a token.
    Han,
    /// Digits, symbols, emoji or a script not listed.
    Other,
}

impl Script {
    /// Every script, in a fixed order.
    pub const ALL: [Script; 11] = [
        Script::Latin,
        Script::Cyrillic,
        Script::Greek,
        Script::Arabic,
        Script::Hebrew,
        Script::Devanagari,
        Script::Thai,
        Script::Hangul,
        Script::Kana,
        Script::Han,
        Script::Other,
    ];
}

/// What a redacted trace keeps of a text: its length in characters
/// (Unicode scalar values) and in basic tokens, and its script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    /// Length in characters (Unicode scalar values).
    pub chars: u32,
    /// Length in basic tokens (see [`crate::trace::redact::basic_tokens`]).
    pub tokens: u32,
    /// Dominant script.
    pub script: Script,
}

/// The texts of one request: verbatim, or only their shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// The texts as sent.
    Texts(Vec<String>),
    /// Redacted: one shape per text.
    Shapes(Vec<Shape>),
}

impl Batch {
    /// Texts in the batch.
    pub fn len(&self) -> usize {
        match self {
            Batch::Texts(t) => t.len(),
            Batch::Shapes(s) => s.len(),
        }
    }

    /// Whether the batch holds no text.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One recorded request.
///
/// # Examples
/// ```
/// use memsoak::trace::format::{Batch, Record, parse_record};
/// let r = Record { t: 1.5, batch: Batch::Texts(vec!["hi".into()]), endpoint: None, model: None };
/// assert_eq!(parse_record(&r.to_line()).unwrap(), r);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Seconds since the start of the trace (replay waits until this offset).
    pub t: f64,
    /// The request's texts, in order: one record is one batch.
    pub batch: Batch,
    /// The endpoint path the request went to (`/v1/embeddings`, `/embed`).
    pub endpoint: Option<String>,
    /// The OpenAI `model` field, when there was one.
    pub model: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct RawRecord {
    t: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    texts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shapes: Option<Vec<Shape>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
}

impl Record {
    /// The record as one JSON line, without the newline. `t` is rounded to
    /// the microsecond.
    pub fn to_line(&self) -> String {
        let (texts, shapes) = match &self.batch {
            Batch::Texts(t) => (Some(t.clone()), None),
            Batch::Shapes(s) => (None, Some(s.clone())),
        };
        let raw = RawRecord {
            t: (self.t * 1e6).round() / 1e6,
            texts,
            shapes,
            endpoint: self.endpoint.clone(),
            model: self.model.clone(),
        };
        serde_json::to_string(&raw).expect("a record always serialises")
    }
}

/// Keep serde's message on one line and short.
fn one_line(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let s = s.replace('\n', " ");
    if s.chars().count() > 200 {
        s.chars().take(200).collect::<String>() + "..."
    } else {
        s
    }
}

/// Parse the header line. An unknown version is reported as
/// `Err(HeaderError::Version)` so callers can say so precisely.
pub fn parse_header(line: &str) -> Result<Header, HeaderError> {
    let v: serde_json::Value = serde_json::from_str(line.trim()).map_err(|e| {
        HeaderError::Bad(format!(
            "not a memsoak trace header (expected {{\"{HEADER_KEY}\": {VERSION}, ...}}): {}",
            one_line(&e)
        ))
    })?;
    let version = match v.get(HEADER_KEY) {
        Some(x) => x.as_u64().ok_or_else(|| {
            HeaderError::Bad(format!("`{HEADER_KEY}` must be a positive integer version"))
        })?,
        None => {
            return Err(HeaderError::Bad(format!(
                "not a memsoak trace: the first line must be a header like {{\"{HEADER_KEY}\": {VERSION}}}"
            )));
        }
    };
    if version != VERSION {
        return Err(HeaderError::Version(version));
    }
    serde_json::from_value(v).map_err(|e| HeaderError::Bad(format!("bad header: {}", one_line(&e))))
}

/// Why a header line was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HeaderError {
    /// Not a header.
    #[error("{0}")]
    Bad(String),
    /// A header of another format version.
    #[error("trace format version {0} is not supported (this memsoak reads version {VERSION})")]
    Version(u64),
}

/// Whether `t` is a time offset a record may have: seconds from 0 to
/// [`MAX_T`]. The one rule for every writer and reader of traces (an
/// import must not write what a replay refuses); the error is one line.
///
/// # Examples
/// ```
/// use memsoak::trace::format::check_t;
/// assert!(check_t(2.5).is_ok());
/// assert_eq!(
///     check_t(1e300).unwrap_err(),
///     "time offset t = 1e300 must be a number of seconds from 0 to 1e10"
/// );
/// ```
pub fn check_t(t: f64) -> Result<(), String> {
    if t.is_finite() && (0.0..=MAX_T).contains(&t) {
        Ok(())
    } else {
        Err(format!(
            "time offset t = {} must be a number of seconds from 0 to {MAX_T:e}",
            crate::units::fmt_num(t)
        ))
    }
}

/// Parse one record line (not the header). The error is one line saying
/// what is wrong, without the file or line number.
pub fn parse_record(line: &str) -> Result<Record, String> {
    let raw: RawRecord = serde_json::from_str(line.trim())
        .map_err(|e| format!("not a trace record: {}", one_line(&e)))?;
    check_t(raw.t)?;
    let batch = match (raw.texts, raw.shapes) {
        (Some(t), None) => Batch::Texts(t),
        (None, Some(s)) => Batch::Shapes(s),
        (Some(_), Some(_)) => return Err("a record has `texts` or `shapes`, not both".into()),
        (None, None) => return Err("a record needs `texts` (or `shapes` when redacted)".into()),
    };
    if batch.is_empty() {
        return Err("a record needs at least one text".into());
    }
    // NOTE: more tokens than characters is not refused: traces of version 1
    // hold such shapes, and regeneration keeps min(tokens, chars).
    if let Batch::Shapes(shapes) = &batch
        && let Some(s) = shapes.iter().find(|s| s.chars > MAX_SHAPE_CHARS)
    {
        return Err(format!(
            "a shape of {} characters is longer than the {MAX_SHAPE_CHARS} a text may have",
            s.chars
        ));
    }
    Ok(Record {
        t: raw.t,
        batch,
        endpoint: raw.endpoint,
        model: raw.model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_round_trip_and_errors() {
        let mut h = Header::new("proxy", true);
        h.upstream = Some("http://127.0.0.1:8080".into());
        assert_eq!(parse_header(&h.to_line()).unwrap(), h);
        assert_eq!(
            parse_header(r#"{"memsoak_trace": 2}"#).unwrap_err(),
            HeaderError::Version(2)
        );
        let bad = |s: &str| parse_header(s).unwrap_err().to_string();
        assert!(bad(r#"{"t": 0, "texts": ["a"]}"#).contains("first line must be a header"));
        assert!(bad("nope").contains("not a memsoak trace header"));
        assert!(bad(r#"{"memsoak_trace": "1"}"#).contains("positive integer"));
        assert!(bad(r#"{"memsoak_trace": 1, "redacted": "yes"}"#).contains("bad header"));
        // Unknown keys are ignored within a version.
        let h = parse_header(r#"{"memsoak_trace": 1, "future": [1]}"#).unwrap();
        assert!(!h.redacted && h.source.is_none());
    }

    #[test]
    fn records_parse_and_refuse_bad_lines() {
        let r = parse_record(r#"{"t": 0.5, "texts": ["a", "b"], "model": "m"}"#).unwrap();
        assert_eq!(r.batch, Batch::Texts(vec!["a".into(), "b".into()]));
        assert_eq!(r.model.as_deref(), Some("m"));
        let r =
            parse_record(r#"{"t":1,"shapes":[{"chars":3,"tokens":1,"script":"han"}]}"#).unwrap();
        assert_eq!(
            r.batch,
            Batch::Shapes(vec![Shape {
                chars: 3,
                tokens: 1,
                script: Script::Han
            }])
        );
        let bad = |s: &str| parse_record(s).unwrap_err();
        assert!(
            bad(r#"{"t":0,"shapes":[{"chars":4000000000,"tokens":1,"script":"latin"}]}"#)
                .contains("longer than the 10000000")
        );
        assert!(bad(r#"{"t": -1, "texts": ["a"]}"#).contains("from 0"));
        assert!(bad(r#"{"t": 1.7e308, "texts": ["a"]}"#).contains("from 0"));
        assert!(bad(r#"{"t": 0, "texts": []}"#).contains("at least one"));
        assert!(bad(r#"{"t": 0}"#).contains("needs `texts`"));
        assert!(bad(r#"{"t": 0, "texts": ["a"], "shapes": []}"#).contains("not both"));
        assert!(bad(r#"{"texts": ["a"]}"#).contains("missing field `t`"));
        assert!(bad(r#"{"t": 0, "texts": [1]}"#).contains("not a trace record"));
        assert!(
            bad(r#"{"t":0,"shapes":[{"chars":1,"tokens":1,"script":"klingon"}]}"#)
                .contains("klingon")
        );
        assert!(bad(r#"{"t":0,"shapes":[{"chars":-1,"tokens":1,"script":"latin"}]}"#).len() > 10);
        assert!(bad("{\"t\": 0, \"texts\": [\"a\"").contains("not a trace record"));
    }

    /// A shape a trace may hold: at most [`MAX_SHAPE_CHARS`].
    fn arb_shape() -> impl Strategy<Value = Shape> {
        (0..=MAX_SHAPE_CHARS, any::<u32>(), 0..Script::ALL.len()).prop_map(|(chars, tokens, s)| {
            Shape {
                chars,
                tokens,
                script: Script::ALL[s],
            }
        })
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        let batch = prop_oneof![
            prop::collection::vec(any::<String>(), 1..6).prop_map(Batch::Texts),
            prop::collection::vec(arb_shape(), 1..6).prop_map(Batch::Shapes),
        ];
        (
            0u64..10_000_000_000,
            batch,
            proptest::option::of(any::<String>()),
            proptest::option::of("[a-z/-]{0,12}"),
        )
            .prop_map(|(us, batch, model, endpoint)| Record {
                t: us as f64 / 1e6,
                batch,
                endpoint,
                model,
            })
    }

    proptest! {
        #[test]
        fn any_record_survives_the_round_trip(r in arb_record()) {
            let line = r.to_line();
            prop_assert!(!line.contains('\n'));
            let back = parse_record(&line).unwrap();
            prop_assert_eq!(back.batch, r.batch);
            prop_assert_eq!(back.model, r.model);
            prop_assert_eq!(back.endpoint, r.endpoint);
            prop_assert!((back.t - r.t).abs() < 1e-6);
        }

        #[test]
        fn any_input_gives_a_record_or_a_one_line_error(s in any::<String>()) {
            match parse_record(&s) {
                Ok(r) => {
                    prop_assert!(r.t.is_finite() && r.t >= 0.0);
                    prop_assert!(!r.batch.is_empty());
                    prop_assert_eq!(parse_record(&r.to_line()).unwrap().batch, r.batch);
                }
                Err(e) => prop_assert!(!e.contains('\n') && !e.is_empty()),
            }
            if let Err(e) = parse_header(&s) {
                prop_assert!(!e.to_string().contains('\n'));
            }
        }

        #[test]
        fn json_shaped_noise_is_refused_on_one_line(
            t in prop_oneof![Just("0".to_string()), Just("-3".to_string()), Just("1e999".to_string()), Just("1.7e308".to_string()), Just("\"x\"".to_string()), (0.0..2e10f64).prop_map(|x| x.to_string())],
            texts in prop_oneof![Just("[]".to_string()), Just("[\"a\"]".to_string()), Just("[1,2]".to_string()), Just("null".to_string())],
            cut in 0usize..40,
        ) {
            let line = format!("{{\"t\": {t}, \"texts\": {texts}}}");
            let cut_line: String = line.chars().take(cut).collect();
            for l in [line.as_str(), cut_line.as_str()] {
                match parse_record(l) {
                    Ok(r) => {
                        prop_assert!(r.t >= 0.0 && !r.batch.is_empty());
                        prop_assert!(parse_record(&r.to_line()).is_ok());
                    }
                    Err(e) => prop_assert!(!e.contains('\n')),
                }
            }
        }
    }
}
