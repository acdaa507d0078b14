//! The built-in synthetic multilingual workload: paginated paragraph-sized
//! texts in several scripts, deterministic from a seed, with a configurable
//! length distribution (variable lengths are what stress allocator caches).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

use super::{Page, Workload, WorkloadError};

/// How long each text is, in words.
#[derive(Debug, Clone, PartialEq)]
pub enum Lengths {
    /// Every text has this many words.
    Fixed(usize),
    /// Uniform in `[min, max]` words.
    Uniform {
        /// Fewest words.
        min: usize,
        /// Most words.
        max: usize,
    },
    /// Log-normal with this median, capped: most texts short, a few very long.
    LongTail {
        /// Median words.
        median: usize,
        /// Cap.
        max: usize,
    },
}

impl Lengths {
    /// Parse `fixed:N`, `uniform:MIN-MAX` or `longtail:MEDIAN-MAX`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid length distribution `{s}` (expected fixed:N, uniform:MIN-MAX or longtail:MEDIAN-MAX)"
            )
        };
        let (kind, arg) = s.split_once(':').ok_or_else(bad)?;
        let num = |t: &str| t.trim().parse::<usize>().ok().filter(|v| *v > 0);
        let pair = || {
            let (a, b) = arg.split_once('-')?;
            let (a, b) = (num(a)?, num(b)?);
            (a <= b).then_some((a, b))
        };
        match kind {
            "fixed" => num(arg).map(Lengths::Fixed).ok_or_else(bad),
            "uniform" => pair()
                .map(|(min, max)| Lengths::Uniform { min, max })
                .ok_or_else(bad),
            "longtail" => pair()
                .map(|(median, max)| Lengths::LongTail { median, max })
                .ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

/// Settings of the synthetic workload.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticWorkloadOptions {
    /// Seed: the same seed gives the same texts.
    pub seed: u64,
    /// Texts per page.
    pub page_size: usize,
    /// Length distribution.
    pub lengths: Lengths,
    /// Stop after this many pages (`None`: endless).
    pub pages: Option<u64>,
}

impl Default for SyntheticWorkloadOptions {
    fn default() -> Self {
        SyntheticWorkloadOptions {
            seed: 42,
            page_size: 32,
            lengths: Lengths::LongTail {
                median: 60,
                max: 400,
            },
            pages: None,
        }
    }
}

/// Scripts the generator writes in, each with a small vocabulary.
const SCRIPTS: &[(&str, &[&str], &str)] = &[
    (
        "latin",
        &[
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
            "while",
            "tokens",
            "flow",
            "through",
            "pipeline",
            "vector",
            "embedding",
            "paragraph",
            "quiet",
            "river",
            "under",
            "bridge",
            "data",
            "many",
            "small",
            "tests",
            "pass",
            "until",
            "scale",
            "arrives",
            "and",
            "then",
            "swap",
            "fills",
        ],
        ".",
    ),
    (
        "cyrillic",
        &[
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
            "мостом",
            "и",
            "потом",
            "всё",
            "снова",
            "работает",
        ],
        ".",
    ),
    (
        "cjk",
        &[
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
            "安静",
            "河流",
            "桥下",
            "测试",
            "通过",
            "直到",
            "规模",
            "到来",
            "嵌入",
        ],
        "。",
    ),
    (
        "arabic",
        &[
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
            "هادئ",
            "النهر",
            "تحت",
            "الجسر",
            "ثم",
            "يعمل",
        ],
        ".",
    ),
    (
        "devanagari",
        &[
            "स्मृति",
            "मॉडल",
            "धीरे",
            "बढ़ती",
            "हर",
            "दिन",
            "सर्वर",
            "वेक्टर",
            "पाठ",
            "अनुच्छेद",
            "डेटा",
            "रात",
            "शांत",
            "नदी",
            "पुल",
            "के",
            "नीचे",
            "फिर",
            "चलता",
            "है",
        ],
        "।",
    ),
    (
        "greek",
        &[
            "μνήμη",
            "μοντέλο",
            "αυξάνεται",
            "αργά",
            "κάθε",
            "μέρα",
            "διακομιστής",
            "διάνυσμα",
            "κείμενο",
            "δεδομένα",
            "νύχτα",
            "ήσυχο",
            "ποτάμι",
            "γέφυρα",
            "και",
            "μετά",
        ],
        ".",
    ),
];

/// The synthetic workload generator. See the module docs.
///
/// # Examples
/// ```
/// use memsoak::workload::{Workload, synthetic::{SyntheticWorkload, SyntheticWorkloadOptions}};
/// let mut w = SyntheticWorkload::new(SyntheticWorkloadOptions { pages: Some(1), ..Default::default() }).unwrap();
/// assert_eq!(w.next_page().unwrap().unwrap().texts.len(), 32);
/// assert!(w.next_page().unwrap().is_none());
/// ```
pub struct SyntheticWorkload {
    opts: SyntheticWorkloadOptions,
    rng: StdRng,
    served: u64,
    lognormal: Option<LogNormal<f64>>,
}

impl SyntheticWorkload {
    /// A generator at the start of its sequence.
    pub fn new(opts: SyntheticWorkloadOptions) -> Result<Self, WorkloadError> {
        if opts.page_size == 0 {
            return Err(WorkloadError::Invalid(
                "page size must be at least 1".into(),
            ));
        }
        let lognormal = match opts.lengths {
            // NOTE: sigma 0.9 gives a tail where ~2% of texts are 6x the median.
            Lengths::LongTail { median, .. } => Some(
                LogNormal::new((median as f64).ln(), 0.9)
                    .map_err(|e| WorkloadError::Invalid(e.to_string()))?,
            ),
            _ => None,
        };
        Ok(SyntheticWorkload {
            rng: StdRng::seed_from_u64(opts.seed),
            opts,
            served: 0,
            lognormal,
        })
    }

    fn words(&mut self) -> usize {
        match self.opts.lengths {
            Lengths::Fixed(n) => n,
            Lengths::Uniform { min, max } => self.rng.random_range(min..=max),
            Lengths::LongTail { max, .. } => {
                let d = self.lognormal.expect("built with LongTail");
                (d.sample(&mut self.rng).round() as usize).clamp(1, max)
            }
        }
    }

    fn text(&mut self) -> String {
        let n = self.words();
        let (_, vocab, stop) = SCRIPTS[self.rng.random_range(0..SCRIPTS.len())];
        let cjk = vocab[0] == "内存";
        let mut s = String::with_capacity(n * 8);
        let mut since_stop = 0;
        for i in 0..n {
            if i > 0 && !cjk {
                s.push(' ');
            }
            s.push_str(vocab[self.rng.random_range(0..vocab.len())]);
            since_stop += 1;
            if since_stop >= 6 && self.rng.random_bool(0.2) {
                s.push_str(stop);
                since_stop = 0;
            }
        }
        s.push_str(stop);
        s
    }
}

impl Workload for SyntheticWorkload {
    fn name(&self) -> String {
        "synthetic".into()
    }

    fn next_page(&mut self) -> Result<Option<Page>, WorkloadError> {
        if self.opts.pages.is_some_and(|p| self.served >= p) {
            return Ok(None);
        }
        self.served += 1;
        let texts = (0..self.opts.page_size).map(|_| self.text()).collect();
        Ok(Some(Page::new(texts)))
    }

    fn rewind(&mut self) -> Result<(), WorkloadError> {
        self.rng = StdRng::seed_from_u64(self.opts.seed);
        self.served = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(lengths: Lengths) -> SyntheticWorkload {
        SyntheticWorkload::new(SyntheticWorkloadOptions {
            lengths,
            pages: Some(20),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn deterministic_from_seed_and_rewind() {
        let mut a = make(Lengths::Fixed(10));
        let mut b = make(Lengths::Fixed(10));
        let pa = a.next_page().unwrap().unwrap();
        assert_eq!(pa, b.next_page().unwrap().unwrap());
        a.rewind().unwrap();
        assert_eq!(pa, a.next_page().unwrap().unwrap());
    }

    #[test]
    fn covers_every_script() {
        let mut w = make(Lengths::Fixed(5));
        let all: String = (0..20)
            .flat_map(|_| w.next_page().unwrap().unwrap().texts)
            .collect();
        for probe in ['m', 'м', '内', 'ا', 'स', 'μ'] {
            assert!(all.contains(probe), "no {probe}");
        }
    }

    #[test]
    fn length_distributions() {
        let count = |t: &str| t.split(' ').count();
        // CJK texts have no spaces between words: leave them out of the count.
        let spaced = |t: &String| !t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        let mut w = make(Lengths::Uniform { min: 5, max: 9 });
        let texts: Vec<String> = (0..20)
            .flat_map(|_| w.next_page().unwrap().unwrap().texts)
            .filter(spaced)
            .collect();
        assert!(texts.iter().all(|t| (5..=9).contains(&count(t))));
        let mut w = make(Lengths::LongTail {
            median: 20,
            max: 300,
        });
        let mut n: Vec<usize> = (0..20)
            .flat_map(|_| w.next_page().unwrap().unwrap().texts)
            .filter(spaced)
            .map(|t| count(&t))
            .collect();
        n.sort();
        let median = n[n.len() / 2];
        assert!((14..=28).contains(&median), "median {median}");
        assert!(
            *n.last().unwrap() > 3 * median,
            "no tail: max {}",
            n.last().unwrap()
        );
    }

    #[test]
    fn parse_lengths() {
        assert_eq!(Lengths::parse("fixed:64").unwrap(), Lengths::Fixed(64));
        assert_eq!(
            Lengths::parse("uniform:5-9").unwrap(),
            Lengths::Uniform { min: 5, max: 9 }
        );
        assert!(Lengths::parse("uniform:9-5").is_err());
        assert!(Lengths::parse("fixed:0").is_err());
        assert!(Lengths::parse("gaussian:3").is_err());
    }

    #[test]
    fn finite_when_asked() {
        let mut w = make(Lengths::Fixed(3));
        assert_eq!((0..25).filter_map(|_| w.next_page().unwrap()).count(), 20);
    }
}
