//! `junit.xml`: one test case per threshold (a breach is a `<failure>`
//! carrying the measured value against the limit), a run error (or an
//! interrupted run) as an `<error>`, and the baseline comparison as a second suite. CI systems
//! (GitHub, GitLab, Jenkins) show these as test results.

use std::fmt::Write;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Artifact, ExportContext, ExportError, Exporter};
use crate::analysis::verdict::Verdict;
use crate::analysis::{Outcome, ThresholdResult};
use crate::runfolder::Regression;

/// The JUnit exporter.
pub struct Junit;

impl Exporter for Junit {
    fn file_name(&self) -> &'static str {
        crate::runfolder::JUNIT_XML
    }

    fn render(&self, ctx: &ExportContext<'_>) -> Result<Vec<Artifact>, ExportError> {
        Ok(vec![Artifact::text(self.file_name(), Junit::text(ctx)?)])
    }
}

/// One `<testcase>` of a suite: its name, status, message and body.
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

impl Case {
    /// quick-junit's test case. The crate escapes text and drops what
    /// XML 1.0 forbids (a target's stderr may hold control characters).
    fn into_test_case(self, classname: &str) -> TestCase {
        let mut status = match self.kind {
            Kind::Pass => TestCaseStatus::success(),
            Kind::Failure => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Kind::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
            Kind::Skipped => TestCaseStatus::skipped(),
        };
        let ty = match self.kind {
            Kind::Pass => "",
            Kind::Failure => "failure",
            Kind::Error => "error",
            Kind::Skipped => "skipped",
        };
        if !matches!(self.kind, Kind::Pass) {
            status
                .set_message(self.message)
                .set_type(ty)
                .set_description(self.body);
        }
        let mut case = TestCase::new(self.name, status);
        case.set_classname(classname).set_time(Duration::ZERO);
        case
    }
}

/// A `<testsuite>` named `name` holding `cases`, with `props` as its
/// properties and `time_s` as its duration.
fn suite(name: &str, time_s: f64, props: Vec<(String, String)>, cases: Vec<Case>) -> TestSuite {
    let mut s = TestSuite::new(name);
    s.set_time(Duration::from_secs_f64(time_s.max(0.0)));
    s.add_properties(props.into_iter().map(|(k, v)| Property::new(k, v)));
    s.add_test_cases(cases.into_iter().map(|c| c.into_test_case(name)));
    s
}

/// The case of one threshold: a pass, a breach (a failure with the measured
/// value against the limit, the note, CI and p in its body) or a skip.
fn threshold_case(t: &ThresholdResult) -> Case {
    let th = &t.threshold;
    let measured = t.measured_text().unwrap_or_else(|| "not measured".into());
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
    if let Some(ci) = t.ci_text() {
        let _ = write!(body, "\nmeasured {measured}, CI {ci}");
    }
    if let Some(p) = t.p_value {
        let _ = write!(body, ", {}", crate::units::fmt_p_is(p));
    }
    Case {
        name: th.expr.clone(),
        kind,
        message,
        body,
    }
}

/// A `<testsuite>` named `name`, as `junit.xml` writes it for one run: an
/// error case (`error`: why the run could not be judged, and the run's
/// errors), a case per threshold, and a failure for a regression against a
/// baseline that failed the run. For gates over many runs (`memsoak
/// summarize`, `analyze --prometheus`).
pub(crate) fn run_suite(
    name: &str,
    time_s: f64,
    props: Vec<(String, String)>,
    error: Option<(String, String)>,
    thresholds: &[ThresholdResult],
    regression: Option<&Regression>,
) -> TestSuite {
    let error = error.map(|(message, body)| Case {
        name: "run".into(),
        kind: Kind::Error,
        message,
        body,
    });
    // NOTE: a run failed by its regression alone had only passing cases:
    // failures="0" beside a fail verdict read as a gate passed to a CI tool
    // that counts failures.
    let regression = regression.map(|g| Case {
        name: format!("vs baseline {}", g.baseline),
        kind: Kind::Failure,
        message: g.describe(),
        body: g.describe(),
    });
    let cases = error
        .into_iter()
        .chain(thresholds.iter().map(threshold_case))
        .chain(regression)
        .collect();
    suite(name, time_s, props, cases)
}

impl Junit {
    /// The whole document.
    pub fn text(ctx: &ExportContext<'_>) -> Result<String, ExportError> {
        let r = ctx.report;
        let a = &r.analysis;
        let mut cases = Vec::new();
        // NOTE: an interrupted run is an error case too, whatever its
        // verdict so far: exit 130 beside errors="0" read as a gate passed.
        let mut errors = r.errors.clone();
        if r.interrupted {
            errors.insert(
                0,
                format!(
                    "{} (exit {}): the report covers the samples taken so far",
                    r.headline(),
                    r.exit_code
                ),
            );
        }
        if r.verdict == Verdict::Error || r.interrupted {
            cases.push(Case {
                name: "run".into(),
                kind: Kind::Error,
                message: errors
                    .first()
                    .cloned()
                    .unwrap_or_else(|| format!("the run ended in error (exit {})", r.exit_code)),
                body: errors.join("\n"),
            });
        }
        cases.extend(a.thresholds.iter().map(threshold_case));
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
        let mut doc = Report::new("memsoak");
        doc.set_time(Duration::from_secs_f64(a.duration_s.max(0.0)));
        doc.add_test_suite(suite("memsoak.thresholds", a.duration_s, props, cases));
        if let Some(c) = ctx.comparison {
            let props = vec![
                ("baseline".to_string(), c.baseline.name.clone()),
                (
                    "baseline_commit".to_string(),
                    c.baseline.git_commit.clone().unwrap_or_default(),
                ),
            ];
            doc.add_test_suite(suite("memsoak.compare", 0.0, props, compare_cases));
        }
        doc.to_string().map_err(|e| ExportError::Render {
            what: crate::runfolder::JUNIT_XML.into(),
            why: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(cases: Vec<Case>) -> String {
        let mut doc = Report::new("memsoak");
        doc.add_test_suite(suite("memsoak.thresholds", 1.5, vec![], cases));
        doc.to_string().unwrap()
    }

    #[test]
    fn escapes_what_xml_forbids_and_counts_each_kind() {
        let case = |name: &str, kind| Case {
            name: name.into(),
            kind,
            message: "measured 3 MiB/min vs limit < 2MiB/min & \"x\" \u{1b}[31m".into(),
            body: "stderr: \u{1}bad".into(),
        };
        let xml = text_of(vec![
            case("rss.slope<2MiB/min", Kind::Failure),
            case("heap.slope<1MiB/min", Kind::Pass),
            case("run", Kind::Error),
            case("pss.max<1GiB", Kind::Skipped),
        ]);
        assert!(xml.contains(r#"name="rss.slope&lt;2MiB/min""#), "{xml}");
        assert!(xml.contains("&amp;"), "{xml}");
        assert!(!xml.contains('\u{1b}') && !xml.contains('\u{1}'), "{xml}");
        assert!(xml.contains(r#"tests="4""#), "{xml}");
        assert!(xml.contains(r#"failures="1""#), "{xml}");
        assert!(xml.contains(r#"errors="1""#), "{xml}");
        assert!(xml.contains("<skipped"), "{xml}");
        assert!(
            xml.contains(r#"<failure message="measured 3 MiB/min"#),
            "{xml}"
        );
    }

    #[test]
    fn an_interrupted_or_failed_run_is_an_error_case() {
        // Regression: a run interrupted by SIGINT (exit 130) wrote
        // errors="0" failures="0": a CI reading junit.xml saw a pass.
        let mut r = crate::runfolder::Report::from_json(include_str!(
            "../runfolder/fixtures/report-watch.json"
        ))
        .unwrap();
        r.verdict = Verdict::Pass;
        r.errors.clear();
        let text = |r: &crate::runfolder::Report| Junit::text(&ExportContext::new(r)).unwrap();
        let xml = text(&r);
        assert!(xml.contains(r#"errors="0""#), "{xml}");
        r.interrupted = true;
        r.exit_code = 130;
        r.ended_by = "interrupted".into();
        let xml = text(&r);
        assert!(xml.contains(r#"errors="1""#), "{xml}");
        assert!(
            xml.contains(
                r#"<error message="INTERRUPTED, PASS so far (exit 130): the report covers the samples taken so far""#
            ),
            "{xml}"
        );
        // A crashed target: the run's error, first.
        r.interrupted = false;
        r.verdict = Verdict::Error;
        r.exit_code = 3;
        r.errors = vec!["target exited with status 7".into()];
        let xml = text(&r);
        assert!(xml.contains(r#"errors="1""#), "{xml}");
        assert!(
            xml.contains(r#"<error message="target exited with status 7""#),
            "{xml}"
        );
    }
}
