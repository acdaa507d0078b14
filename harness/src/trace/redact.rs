//! Redaction: what a shared trace keeps of a text (its [`Shape`]: length in
//! characters and basic tokens, and its script) and how replay makes a new
//! text of that shape. Pure functions, no I/O.
//!
//! Tokens are counted by model-independent rules in the spirit of BERT's
//! basic pre-tokenizer: whitespace separates, every punctuation mark and every
//! Han ideograph is a token of its own, and any other run of characters is
//! one token. A WordPiece or BPE model splits words further; the basic count
//! is stable across models, which a shared trace needs.

use rand::Rng;

use super::format::{Script, Shape};

/// The script of one character, or `None` for whitespace, punctuation,
/// digits, symbols and scripts not listed.
pub fn script_of(c: char) -> Option<Script> {
    let u = c as u32;
    Some(match u {
        0x41..=0x5A | 0x61..=0x7A | 0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x24F | 0x1E00..=0x1EFF => {
            Script::Latin
        }
        0x370..=0x3FF | 0x1F00..=0x1FFF => Script::Greek,
        0x400..=0x52F => Script::Cyrillic,
        0x590..=0x5FF => Script::Hebrew,
        0x600..=0x6FF | 0x750..=0x77F | 0x8A0..=0x8FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
            Script::Arabic
        }
        0x900..=0x97F => Script::Devanagari,
        0xE00..=0xE7F => Script::Thai,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => Script::Hangul,
        0x3040..=0x30FF | 0x31F0..=0x31FF => Script::Kana,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F => Script::Han,
        _ => return None,
    })
    .filter(|_| !is_punct(c))
}

/// Punctuation: ASCII marks plus the common marks of the scripts above.
/// Each is a token of its own.
pub fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c as u32,
            0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF
            | 0x37E | 0x387
            | 0x55A..=0x55F | 0x589 | 0x5BE | 0x5C0 | 0x5C3 | 0x5C6 | 0x5F3 | 0x5F4
            | 0x60C | 0x60D | 0x61B | 0x61E | 0x61F | 0x66A..=0x66D | 0x6D4
            | 0x964 | 0x965 | 0x970 | 0xE4F | 0xE5A | 0xE5B
            | 0x2010..=0x2027 | 0x2030..=0x205E
            | 0x3001..=0x3003 | 0x3008..=0x3011 | 0x3014..=0x301F | 0x30FB
            | 0xFF01..=0xFF0F | 0xFF1A..=0xFF20 | 0xFF3B..=0xFF40 | 0xFF5B..=0xFF65)
}

fn is_han(c: char) -> bool {
    script_of(c) == Some(Script::Han)
}

/// Basic tokens in `text` (see the module docs). O(n) in characters.
///
/// # Examples
/// ```
/// use memsoak::trace::redact::basic_tokens;
/// assert_eq!(basic_tokens("Hello, world!"), 4);
/// assert_eq!(basic_tokens("内存泄漏。"), 5);
/// ```
pub fn basic_tokens(text: &str) -> u32 {
    let mut tokens = 0u32;
    let mut in_word = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            in_word = false;
        } else if is_punct(c) || is_han(c) {
            tokens += 1;
            in_word = false;
        } else if !in_word {
            tokens += 1;
            in_word = true;
        }
    }
    tokens
}

/// The dominant script: the one with the most letters (ties go to the one
/// listed first in [`Script::ALL`]); [`Script::Other`] without letters.
pub fn dominant_script(text: &str) -> Script {
    let mut counts = [0usize; Script::ALL.len()];
    for c in text.chars() {
        if let Some(s) = script_of(c) {
            counts[Script::ALL.iter().position(|x| *x == s).expect("listed")] += 1;
        }
    }
    let (i, n) = counts
        .iter()
        .enumerate()
        .fold((Script::ALL.len() - 1, 0), |best, (i, &n)| {
            if n > best.1 { (i, n) } else { best }
        });
    if n == 0 {
        Script::Other
    } else {
        Script::ALL[i]
    }
}

/// The shape of a text: what a redacted trace keeps.
///
/// # Examples
/// ```
/// use memsoak::trace::{format::Script, redact::shape_of};
/// let s = shape_of("Память растёт.");
/// assert_eq!((s.chars, s.tokens, s.script), (14, 3, Script::Cyrillic));
/// ```
/// A text past [`crate::trace::format::MAX_SHAPE_CHARS`] is kept as a
/// shape of that length (its tokens scaled to it), so that the trace it
/// goes into replays.
pub fn shape_of(text: &str) -> Shape {
    use crate::trace::format::MAX_SHAPE_CHARS;
    let chars = text.chars().count();
    let tokens = u64::from(basic_tokens(text));
    let kept = chars.min(MAX_SHAPE_CHARS as usize) as u64;
    Shape {
        chars: kept as u32,
        tokens: (tokens * kept / (chars as u64).max(1)).min(kept) as u32,
        script: dominant_script(text),
    }
}

/// Words each regenerated text is built from, per script. None contains
/// whitespace, punctuation or (outside Han) an ideograph, so every word is
/// exactly one basic token.
fn vocabulary(s: Script) -> &'static [&'static str] {
    match s {
        Script::Latin => &[
            "the",
            "memory",
            "model",
            "batch",
            "server",
            "leak",
            "slowly",
            "grows",
            "every",
            "night",
            "tokens",
            "flow",
            "through",
            "pipeline",
            "vector",
            "paragraph",
            "quiet",
            "river",
            "under",
            "bridge",
            "data",
            "small",
            "tests",
            "pass",
            "until",
            "scale",
        ],
        Script::Cyrillic => &[
            "память",
            "модель",
            "растёт",
            "каждый",
            "день",
            "сервер",
            "медленно",
            "вектор",
            "текст",
            "абзац",
            "очередь",
            "данные",
            "ночью",
            "тихо",
            "река",
            "под",
        ],
        Script::Greek => &[
            "μνήμη",
            "μοντέλο",
            "αυξάνεται",
            "αργά",
            "κάθε",
            "μέρα",
            "διακομιστής",
            "κείμενο",
            "δεδομένα",
            "νύχτα",
            "ποτάμι",
            "και",
        ],
        Script::Arabic => &[
            "الذاكرة",
            "النموذج",
            "ينمو",
            "ببطء",
            "كل",
            "يوم",
            "الخادم",
            "المتجه",
            "النص",
            "الفقرة",
            "البيانات",
            "الليل",
        ],
        Script::Hebrew => &[
            "זיכרון",
            "מודל",
            "גדל",
            "לאט",
            "כל",
            "יום",
            "שרת",
            "וקטור",
            "טקסט",
            "נתונים",
            "לילה",
            "נהר",
        ],
        Script::Devanagari => &[
            "स्मृति",
            "मॉडल",
            "धीरे",
            "बढ़ती",
            "हर",
            "दिन",
            "सर्वर",
            "वेक्टर",
            "पाठ",
            "डेटा",
            "रात",
            "नदी",
        ],
        Script::Thai => &[
            "หน่วยความจำ",
            "แบบจำลอง",
            "เติบโต",
            "ช้า",
            "ทุก",
            "วัน",
            "เซิร์ฟเวอร์",
            "ข้อความ",
            "ข้อมูล",
            "กลางคืน",
        ],
        Script::Hangul => &[
            "메모리",
            "모델",
            "천천히",
            "증가",
            "매일",
            "서버",
            "벡터",
            "텍스트",
            "데이터",
            "밤",
            "강",
            "다리",
        ],
        Script::Kana => &[
            "メモリ",
            "モデル",
            "ゆっくり",
            "ふえる",
            "まいにち",
            "サーバー",
            "ベクトル",
            "テキスト",
            "データ",
            "よる",
        ],
        Script::Han => &[
            "内存",
            "模型",
            "每天",
            "慢慢",
            "增长",
            "服务器",
            "向量",
            "文本",
            "段落",
            "数据",
            "夜晚",
            "河流",
        ],
        Script::Other => &[
            "0", "12", "345", "2024", "77", "1000", "9", "31415", "64", "8",
        ],
    }
}

/// `n` characters of word letters: a vocabulary word cut or extended by
/// more words until it is exactly `n` long.
fn word(vocab: &[&str], n: usize, rng: &mut impl Rng) -> String {
    let mut w = String::new();
    let mut len = 0;
    while len < n {
        for c in vocab[rng.random_range(0..vocab.len())].chars() {
            if len == n {
                break;
            }
            w.push(c);
            len += 1;
        }
    }
    w
}

/// A new text of the given shape. The result has exactly `shape.chars`
/// characters; it has `shape.tokens` basic tokens and the shape's script
/// whenever `tokens <= chars` (always true of a real text's shape): then
/// `shape_of(&regenerate(s, rng)) == s`, except that a text with no token is
/// all spaces and so of script [`Script::Other`]. Words come from a small
/// vocabulary of the script, at lengths close to the vocabulary's own;
/// when the shape has more tokens than fit as spaced words, punctuation
/// marks close the text.
///
/// # Examples
/// ```
/// use memsoak::trace::redact::{regenerate, shape_of};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let s = shape_of("A quiet river under the bridge.");
/// let t = regenerate(&s, &mut rng);
/// assert_eq!(shape_of(&t), s);
/// assert_ne!(t, "A quiet river under the bridge.");
/// ```
pub fn regenerate(shape: &Shape, rng: &mut impl Rng) -> String {
    let c = shape.chars as usize;
    let t = (shape.tokens as usize).min(c);
    let vocab = vocabulary(shape.script);
    let mut out = String::with_capacity(c * 3);
    if t == 0 {
        out.extend(std::iter::repeat_n(' ', c));
        return out;
    }
    if shape.script == Script::Han {
        // Every ideograph is a token: `t` of them, the rest spaces between.
        let glyphs = word(vocab, t, rng);
        let spaces = c - t;
        for (i, g) in glyphs.chars().enumerate() {
            out.push(g);
            // Spread the spaces evenly after the glyphs.
            let due = (spaces * (i + 1)) / t - (spaces * i) / t;
            out.extend(std::iter::repeat_n(' ', due));
        }
        return out;
    }
    // Spaced words, then punctuation marks when the tokens are too dense
    // for words alone: w words and p marks, with w + (w - 1) + p <= c.
    let words = t.min(c - t + 1);
    let marks = t - words;
    let mut letters = c - (words - 1) - marks;
    let longest = vocab.iter().map(|w| w.chars().count()).max().unwrap_or(1);
    for i in 0..words {
        let left = words - i;
        let natural = vocab[rng.random_range(0..vocab.len())].chars().count();
        // At least 1 letter for each word still to come, and no more left
        // over than those words can hold at their longest.
        let hi = letters - (left - 1);
        let lo = letters.saturating_sub((left - 1) * longest).max(1);
        let n = if left == 1 {
            letters
        } else {
            natural.clamp(lo, hi)
        };
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&word(vocab, n, rng));
        letters -= n;
    }
    let mark = if shape.script == Script::Devanagari {
        '।'
    } else {
        '.'
    };
    out.extend(std::iter::repeat_n(mark, marks));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn shapes_of_real_texts() {
        let s = |t: &str| {
            let s = shape_of(t);
            (s.chars, s.tokens, s.script)
        };
        assert_eq!(s("Hello, world!"), (13, 4, Script::Latin));
        assert_eq!(
            s("内存泄漏通常在长时间运行后才会出现。"),
            (18, 18, Script::Han)
        );
        assert_eq!(s("Утечка памяти."), (14, 3, Script::Cyrillic));
        assert_eq!(s("स्मृति धीरे बढ़ती है।"), (21, 5, Script::Devanagari));
        assert_eq!(s("メモリ・リーク"), (7, 3, Script::Kana));
        assert_eq!(s("🙂 42"), (4, 2, Script::Other));
        assert_eq!(s(""), (0, 0, Script::Other));
        assert_eq!(s("  \t"), (3, 0, Script::Other));
        assert_eq!(s("fn main() { x.len() }"), (21, 11, Script::Latin));
    }

    #[test]
    fn every_vocabulary_word_is_one_token_of_its_script() {
        for s in Script::ALL {
            for w in vocabulary(s) {
                if s == Script::Han {
                    assert_eq!(basic_tokens(w) as usize, w.chars().count(), "{w}");
                } else {
                    assert_eq!(basic_tokens(w), 1, "{w}");
                }
                assert_eq!(dominant_script(w), s, "{w}");
            }
        }
    }

    proptest! {
        #[test]
        fn regenerated_text_has_the_shape(
            chars in 0u32..400,
            tokens in 0u32..200,
            script in 0..Script::ALL.len(),
            seed in any::<u64>(),
        ) {
            let shape = Shape { chars, tokens, script: Script::ALL[script] };
            let text = regenerate(&shape, &mut StdRng::seed_from_u64(seed));
            let got = shape_of(&text);
            prop_assert_eq!(got.chars, chars, "{:?}", text);
            prop_assert_eq!(got.tokens, tokens.min(chars), "{:?}", text);
            if got.tokens > 0 {
                prop_assert_eq!(got.script, shape.script, "{:?}", text);
            }
        }

        #[test]
        fn shape_of_any_text_regenerates_exactly(text in any::<String>(), seed in any::<u64>()) {
            let s = shape_of(&text);
            prop_assert!(s.tokens <= s.chars);
            let again = shape_of(&regenerate(&s, &mut StdRng::seed_from_u64(seed)));
            prop_assert_eq!(again.chars, s.chars);
            prop_assert_eq!(again.tokens, s.tokens);
            if s.tokens > 0 && s.script != Script::Other {
                prop_assert_eq!(again.script, s.script);
            }
        }
    }
}
