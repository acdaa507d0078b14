//! `memsoak record`: capture a workload trace.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::fail;
use crate::cli::exit;
use crate::cli::plan::{RecordPlan, RecordSource};
use crate::soak::signals::Signals;
use crate::trace::format::Header;
use crate::trace::import::{self, ImportSummary};
use crate::trace::proxy::Proxy;
use crate::trace::{TraceError, TraceWriter};

/// `memsoak record`: a recording proxy in front of an embedding server,
/// or an import of a JSON Lines log or a text file, into a trace.
pub fn record(plan: RecordPlan) -> Result<i32> {
    let say = |msg: String| {
        if !plan.quiet {
            eprintln!("memsoak record: {msg}");
        }
    };
    let out = plan.out.display().to_string();
    match &plan.source {
        RecordSource::Proxy(o) => {
            let signals = Signals::install().context("installing signal handlers")?;
            let proxy = Proxy::bind(o.clone(), plan.quiet).map_err(fail)?;
            // NOTE: always printed (even with -q): a script that asked for
            // port 0 learns the port from this line.
            eprintln!(
                "memsoak record: listening on http://{} -> {}, writing {out}{}",
                proxy.addr(),
                proxy.upstream_shown(),
                if plan.redact { " (redacted)" } else { "" }
            );
            let s = proxy.serve(|| signals.received().is_some()).map_err(fail)?;
            say(format!(
                "{} request(s) forwarded; {} recorded ({} texts) in {out}{}{}",
                s.requests,
                s.recorded,
                s.texts,
                if s.not_recorded > 0 {
                    format!(
                        "; {} embedding request(s) without texts not recorded",
                        s.not_recorded
                    )
                } else {
                    String::new()
                },
                if s.upstream_errors > 0 {
                    format!("; upstream unreachable {} time(s)", s.upstream_errors)
                } else {
                    String::new()
                }
            ));
            Ok(exit::PASS)
        }
        RecordSource::Jsonl {
            input,
            import: opts,
        } => {
            let to = staging_path(&plan);
            let mut w = TraceWriter::create(&to, Header::new("jsonl", plan.redact), plan.force)
                .map_err(fail)?;
            let s = import::import_jsonl(input, opts, &mut w);
            finish_import(s, &plan, &to, &say)
        }
        RecordSource::Text {
            input,
            batch,
            skip_bad,
        } => {
            let to = staging_path(&plan);
            let mut w = TraceWriter::create(&to, Header::new("text", plan.redact), plan.force)
                .map_err(fail)?;
            let s = import::import_text(input, *batch, *skip_bad, &mut w);
            finish_import(s, &plan, &to, &say)
        }
    }
}

/// Where an import writes: `--out` itself, or, when `--force` replaces an
/// existing trace, a hidden file beside it that is renamed over it only once
/// the import succeeded (a failed import must not cost the old trace).
fn staging_path(plan: &RecordPlan) -> PathBuf {
    if plan.force && plan.out.exists() {
        let name = plan
            .out
            .file_name()
            .map_or("trace".into(), |n| n.to_string_lossy().into_owned());
        plan.out.with_file_name(format!(".{name}.importing"))
    } else {
        plan.out.clone()
    }
}

/// The summary of an import that wrote records: what it skipped, and why.
fn imported_line(s: &ImportSummary, out: &Path) -> String {
    let mut line = format!(
        "imported {} record(s) ({} texts) into {}",
        s.records,
        s.texts,
        out.display()
    );
    if s.skipped_lines > 0 {
        line += &format!("; {} malformed line(s) skipped", s.skipped_lines);
    }
    // NOTE: blank lines are skipped, as a text workload skips them; they
    // were dropped without a word.
    if s.blank_lines > 0 {
        line += &format!("; {} blank line(s) skipped", s.blank_lines);
    }
    line
}

fn finish_import(
    result: Result<ImportSummary, TraceError>,
    plan: &RecordPlan,
    written: &Path,
    say: &dyn Fn(String),
) -> Result<i32> {
    if let Ok(s) = &result
        && s.records > 0
        && written != plan.out
    {
        std::fs::rename(written, &plan.out)
            .map_err(|e| fail(format!("--out {}: {e}", plan.out.display())))?;
    }
    match result {
        Ok(s) if s.records == 0 => {
            // NOTE: a trace without records is unusable: leave nothing behind.
            let _ = std::fs::remove_file(written);
            Err(fail(format!(
                "nothing to import: no texts found{}",
                if s.skipped_lines + s.blank_lines > 0 {
                    format!(" ({} line(s) skipped)", s.skipped_lines + s.blank_lines)
                } else {
                    String::new()
                }
            )))
        }
        Ok(s) => {
            say(imported_line(&s, &plan.out));
            Ok(exit::PASS)
        }
        Err(e) => {
            let _ = std::fs::remove_file(written);
            Err(fail(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_import_summary_says_what_it_skipped() {
        // Regression: `record --from-text` dropped blank lines without a word.
        let mut s = ImportSummary {
            records: 2,
            texts: 5,
            skipped_lines: 0,
            blank_lines: 0,
        };
        let out = Path::new("t.jsonl");
        assert_eq!(
            imported_line(&s, out),
            "imported 2 record(s) (5 texts) into t.jsonl"
        );
        s.skipped_lines = 1;
        s.blank_lines = 3;
        assert_eq!(
            imported_line(&s, out),
            "imported 2 record(s) (5 texts) into t.jsonl; 1 malformed line(s) skipped; 3 blank line(s) skipped"
        );
    }
}
