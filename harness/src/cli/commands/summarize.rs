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
use crate::runfolder::{BENCHER_JSON, JUNIT_XML, REPORT_JSON, RunFolder, SUMMARY_MD};

/// A cell's verdict in the gate, and why when its report does not say: a
/// run that never wrote its report, or was interrupted, was not judged
/// whole, so it cannot pass a gate.
fn judge(c: &Cell) -> (Verdict, Option<String>) {
    match &c.report {
        None => (
            Verdict::Error,
            Some(format!(
                "no {REPORT_JSON}: the run did not finish (memsoak was killed, or the job died)"
            )),
        ),
        Some(r) if r.interrupted => (
            Verdict::Error,
            Some(format!(
                "interrupted (exit {}): the report covers only part of the run",
                r.exit_code
            )),
        ),
        Some(r) => (r.verdict, None),
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
    let judged: Vec<(Verdict, Option<String>)> = cells.iter().map(judge).collect();
    let names: Vec<String> = cells.iter().map(Cell::name).collect();
    let rows: Vec<FleetRow<'_>> = cells
        .iter()
        .zip(&judged)
        .zip(&names)
        .map(|((c, (v, why)), name)| FleetRow {
            name,
            verdict: *v,
            report: c.report.as_ref(),
            meta: c.meta.as_ref(),
            why: why.as_deref(),
        })
        .collect();
    let overall = worst(judged.iter().map(|j| j.0));
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
