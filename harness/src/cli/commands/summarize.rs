//! `memsoak summarize RUN_DIR...`: one gate over many runs. Every run
//! folder given (or found below the folders given) becomes one row of
//! `summary.md`, one suite of `junit.xml` and one benchmark of
//! `bencher.json`; the exit code is the worst verdict.

use anyhow::Result;

use super::fail;
use crate::analysis::verdict::{Verdict, worst};
use crate::cli::exit;
use crate::cli::plan::SummarizePlan;
use crate::report::bencher;
use crate::report::fleet::{FleetRow, junit_xml, summary_md};
use crate::runfolder::matrix::{Cell, Found, MAX_DEPTH, discover};
use crate::runfolder::{BENCHER_JSON, JUNIT_XML, REPORT_JSON, Regression, RunFolder, SUMMARY_MD};

/// A cell's judgement in the gate.
struct Judged {
    verdict: Verdict,
    /// Why, when its report does not say.
    why: Option<String>,
    /// The regression against a baseline that failed it.
    regression: Option<Regression>,
}

/// A cell's verdict in the gate, and why when its report does not say: a
/// run that never wrote its report, or was interrupted, was not judged
/// whole, so it cannot pass a gate. A regression fails the run, whether
/// `run --baseline` recorded it in the report or a separate `memsoak
/// compare` left it in `compare.json` (counted once: the report's first).
fn judge(c: &Cell) -> Judged {
    let error = |why: String| Judged {
        verdict: Verdict::Error,
        why: Some(why),
        regression: None,
    };
    match &c.report {
        None => error(format!(
            "no {REPORT_JSON}: the run did not finish (memsoak was killed, or the job died)"
        )),
        Some(r) if r.interrupted => error(format!(
            "interrupted (exit {}): the report covers only part of the run",
            r.exit_code
        )),
        Some(r) => {
            let regression = r
                .regression
                .clone()
                .or_else(|| c.comparison.as_ref().and_then(Regression::from_comparison));
            let verdict = match (&regression, r.verdict) {
                (Some(_), Verdict::Pass) => Verdict::Fail,
                (_, v) => v,
            };
            Judged {
                verdict,
                why: None,
                regression,
            }
        }
    }
}

/// The exit code of the gate: 0 when every run passed, 1 when one failed
/// its thresholds, 3 when one could not be judged.
fn code(v: Verdict) -> i32 {
    match v {
        Verdict::Pass => exit::PASS,
        Verdict::Fail => exit::BREACH,
        Verdict::Error => exit::TARGET,
    }
}

/// What the summary and stderr say when the search for run folders
/// stopped [`MAX_DEPTH`] levels down with folders left below: a run there
/// is in no row and no verdict. `None` when it searched everything.
fn stopped_note(unsearched: &[std::path::PathBuf]) -> Option<String> {
    let (first, rest) = unsearched.split_first()?;
    let more = match rest.len() {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Some(format!(
        "the search for runs stopped {MAX_DEPTH} levels down: folders in {}{more} were not searched; \
         a run there is not in this summary (give its folder to summarize)",
        first.display()
    ))
}

/// `memsoak summarize`: write the summary and exit with the worst verdict.
pub fn summarize(plan: &SummarizePlan) -> Result<i32> {
    let Found { cells, unsearched } = discover(&plan.dirs).map_err(fail)?;
    let judged: Vec<Judged> = cells.iter().map(judge).collect();
    let names: Vec<String> = cells.iter().map(Cell::name).collect();
    let rows: Vec<FleetRow<'_>> = cells
        .iter()
        .zip(&judged)
        .zip(&names)
        .map(|((c, j), name)| FleetRow {
            name,
            verdict: j.verdict,
            report: c.report.as_ref(),
            meta: c.meta.as_ref(),
            why: j.why.as_deref(),
            regression: j.regression.as_ref(),
        })
        .collect();
    let overall = worst(judged.iter().map(|j| j.verdict));
    let mut md = summary_md(overall, &rows, ("run", "runs"));
    let stopped = stopped_note(&unsearched);
    if let Some(note) = &stopped {
        md.push_str(&format!("\n_Note: {note}_\n"));
    }
    let bench: Vec<(String, &crate::runfolder::Report)> = rows
        .iter()
        .filter_map(|r| Some((r.name.to_string(), r.report?)))
        .collect();
    let folder = if plan.unique {
        RunFolder::create_unique(&plan.out)
    } else {
        RunFolder::prepare_beside_no_run(&plan.out)
    }
    .map_err(fail)?;
    for (name, bytes) in [
        (SUMMARY_MD, md.clone()),
        (JUNIT_XML, junit_xml(&rows)),
        (BENCHER_JSON, bencher::document(&bench)),
    ] {
        folder.write(name, bytes.as_bytes()).map_err(fail)?;
    }
    let code = code(overall);
    if let Some(note) = stopped.filter(|_| !plan.quiet) {
        eprintln!("memsoak: warning: {note}");
    }
    if !plan.quiet {
        print!("{md}");
        eprintln!(
            "memsoak: summary of {} run(s): {} (exit {code}) · written to {}",
            rows.len(),
            overall.word(),
            folder.dir().display()
        );
    }
    Ok(code)
}
