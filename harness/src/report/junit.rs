//! `junit.xml`: one test case per threshold (a breach is a `<failure>`
//! carrying the measured value against the limit), a run error as an
//! `<error>`, and the baseline comparison as a second suite. CI systems
//! (GitHub, GitLab, Jenkins) show these as test results.

use std::fmt::Write;

use super::{Artifact, ExportContext, ExportError, Exporter};
use crate::analysis::Outcome;
use crate::analysis::verdict::Verdict;

/// The JUnit exporter.
pub struct Junit;

impl Exporter for Junit {
    fn file_name(&self) -> &'static str {
        crate::runfolder::JUNIT_XML
    }

    fn render(&self, ctx: &ExportContext<'_>) -> Result<Vec<Artifact>, ExportError> {
        Ok(vec![Artifact::text(self.file_name(), Junit::text(ctx))])
    }
}

/// Escape text for an XML attribute or element.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // NOTE: control characters other than tab/newline are not
            // allowed in XML 1.0 at all (a target's stderr may hold them).
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// One `<testcase>`.
struct Case {
    name: String,
    kind: Kind,
    message: String,
    body: String,
}

enum Kind {
    Pass,
    Failure,
    Error,
    Skipped,
}

fn suite(s: &mut String, name: &str, time: f64, props: &[(String, String)], cases: &[Case]) {
    let count = |k: fn(&Kind) -> bool| cases.iter().filter(|c| k(&c.kind)).count();
    let _ = writeln!(
        s,
        r#"  <testsuite name="{}" tests="{}" failures="{}" errors="{}" skipped="{}" time="{time:.3}">"#,
        xml_escape(name),
        cases.len(),
        count(|k| matches!(k, Kind::Failure)),
        count(|k| matches!(k, Kind::Error)),
        count(|k| matches!(k, Kind::Skipped)),
    );
    if !props.is_empty() {
        let _ = writeln!(s, "    <properties>");
        for (k, v) in props {
            let _ = writeln!(
                s,
                r#"      <property name="{}" value="{}"/>"#,
                xml_escape(k),
                xml_escape(v)
            );
        }
        let _ = writeln!(s, "    </properties>");
    }
    for c in cases {
        let _ = write!(
            s,
            r#"    <testcase classname="{}" name="{}" time="0">"#,
            xml_escape(name),
            xml_escape(&c.name)
        );
        let tag = match c.kind {
            Kind::Pass => {
                let _ = writeln!(s, "</testcase>");
                continue;
            }
            Kind::Failure => "failure",
            Kind::Error => "error",
            Kind::Skipped => "skipped",
        };
        let _ = writeln!(
            s,
            "\n      <{tag} message=\"{}\" type=\"{tag}\">{}</{tag}>\n    </testcase>",
            xml_escape(&c.message),
            xml_escape(&c.body)
        );
    }
    let _ = writeln!(s, "  </testsuite>");
}

impl Junit {
    /// The whole document.
    pub fn text(ctx: &ExportContext<'_>) -> String {
        let r = ctx.report;
        let a = &r.analysis;
        let mut cases = Vec::new();
        if r.verdict == Verdict::Error {
            cases.push(Case {
                name: "run".into(),
                kind: Kind::Error,
                message: r
                    .errors
                    .first()
                    .cloned()
                    .unwrap_or_else(|| format!("the run ended in error (exit {})", r.exit_code)),
                body: r.errors.join("\n"),
            });
        }
        for t in &a.thresholds {
            let th = &t.threshold;
            let measured = t
                .measured
                .map_or("not measured".into(), |v| th.format_value(v));
            let (kind, message) = match t.outcome {
                Outcome::Pass => (Kind::Pass, String::new()),
                Outcome::Fail => (
                    Kind::Failure,
                    format!(
                        "measured {measured} vs limit {} {}",
                        th.op.symbol(),
                        th.limit_text()
                    ),
                ),
                Outcome::Skipped => (Kind::Skipped, t.note.clone()),
            };
            let mut body = t.note.clone();
            if let Some((lo, hi)) = t.ci {
                let _ = write!(
                    body,
                    "\nmeasured {measured}, CI {} … {}",
                    th.format_value(lo),
                    th.format_value(hi)
                );
            }
            if let Some(p) = t.p_value {
                let _ = write!(body, ", p={p:.3}");
            }
            cases.push(Case {
                name: th.expr.clone(),
                kind,
                message,
                body,
            });
        }
        let mut props = vec![
            (
                "verdict".to_string(),
                format!("{:?}", r.verdict).to_lowercase(),
            ),
            ("exit_code".to_string(), r.exit_code.to_string()),
            ("ended_by".to_string(), r.ended_by.clone()),
        ];
        if let Some(b) = &r.backend {
            props.push(("backend".into(), b.name.clone()));
        }
        if let Some(w) = &r.workload {
            props.push(("workload".into(), w.clone()));
        }
        if let Some(c) = ctx.git_commit() {
            props.push(("git_commit".into(), c.to_string()));
        }
        if let Some(c) = &r.classification {
            props.push(("pattern".into(), c.pattern.title().into()));
        }
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let mut total = cases.len();
        let mut failures = cases
            .iter()
            .filter(|c| matches!(c.kind, Kind::Failure))
            .count();
        let errors = cases
            .iter()
            .filter(|c| matches!(c.kind, Kind::Error))
            .count();
        let compare_cases: Vec<Case> = ctx.comparison.map_or_else(Vec::new, |c| {
            c.metrics
                .iter()
                .map(|m| Case {
                    name: format!("{} vs baseline {}", m.metric, c.baseline.name),
                    kind: if m.regression {
                        Kind::Failure
                    } else {
                        Kind::Pass
                    },
                    message: if m.regression {
                        format!("regression: {}", m.note)
                    } else {
                        String::new()
                    },
                    body: m.note.clone(),
                })
                .collect()
        });
        total += compare_cases.len();
        failures += compare_cases
            .iter()
            .filter(|c| matches!(c.kind, Kind::Failure))
            .count();
        let _ = writeln!(
            s,
            r#"<testsuites name="memsoak" tests="{total}" failures="{failures}" errors="{errors}" time="{:.3}">"#,
            a.duration_s
        );
        suite(&mut s, "memsoak.thresholds", a.duration_s, &props, &cases);
        if let Some(c) = ctx.comparison {
            let props = vec![
                ("baseline".to_string(), c.baseline.name.clone()),
                (
                    "baseline_commit".to_string(),
                    c.baseline.git_commit.clone().unwrap_or_default(),
                ),
            ];
            suite(&mut s, "memsoak.compare", 0.0, &props, &compare_cases);
        }
        s.push_str("</testsuites>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_xml_forbids() {
        assert_eq!(
            xml_escape("rss.slope<2MiB/min & \"x\" 'y' >\u{1b}"),
            "rss.slope&lt;2MiB/min &amp; &quot;x&quot; &apos;y&apos; &gt;?"
        );
    }
}
