//! `memsoak report RUN_DIR [--baseline NAME|DIR]`: re-render a run folder's
//! charts, `report.html`, `summary.md` and `junit.xml` (not `report.json`,
//! which stays as the run wrote it). Without `--baseline`, a comparison
//! already in the folder (`compare.json`) is kept in them.

use std::path::Path;

use anyhow::Result;

use super::compare::{judge, print_comparison, render};
use super::fail;
use crate::cli::plan::ReportPlan;
use crate::runfolder::baseline;
use crate::runfolder::samples::read_samples;
use crate::runfolder::{COMPARE_JSON, RunFolder};

/// `memsoak report`: exit code 0 once written.
pub fn report(plan: &ReportPlan) -> Result<i32> {
    let run = RunFolder::load(&plan.run_dir).map_err(fail)?;
    // NOTE: with no samples the charts were skipped and the old ones left
    // beside a summary of the samples that are gone: exit 0, before.
    if run.samples.is_empty() {
        return Err(fail(format!(
            "{}: no samples to chart (report.json is left as the run wrote it)",
            run.folder.file(crate::runfolder::SAMPLES_CSV).display()
        )));
    }
    let (comparison, base_samples) = match &plan.baseline {
        Some(choice) => {
            let (c, s) = judge(&run, choice).map_err(fail)?;
            (Some(c), s)
        }
        None => match run.folder.read_comparison().map_err(fail)? {
            Some(c) => {
                if !plan.quiet {
                    eprintln!(
                        "memsoak: keeping the comparison with baseline {} from {COMPARE_JSON}",
                        c.baseline.name
                    );
                }
                // NOTE: the baseline's samples (for the chart) when its
                // folder is still there.
                let s = baseline::load(Path::new(&c.baseline.dir))
                    .ok()
                    .and_then(|(_, p)| p)
                    .and_then(|p| read_samples(&p).ok());
                (Some(c), s)
            }
            None => (None, None),
        },
    };
    let mut written = render(&run, comparison.as_ref(), base_samples.as_ref()).map_err(fail)?;
    // NOTE: a run killed before its end left its heap dumps but no pprof
    // profiles of them; report.json is not touched, so the reason one
    // cannot be written is said here.
    match super::heap_pprofs(&run.folder, super::PprofWrite::IfMissing) {
        Ok(p) => written.extend(p),
        Err(e) => eprintln!("memsoak: note: {e}"),
    }
    if !plan.quiet {
        if let Some(c) = &comparison {
            print_comparison(c, None);
        }
        eprintln!(
            "memsoak: wrote {} file(s) in {}",
            written.len(),
            plan.run_dir.display()
        );
    }
    Ok(0)
}
