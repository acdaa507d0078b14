//! `memsoak baseline save RUN_DIR --name NAME`: promote a run folder into
//! `baselines/NAME/`.

use anyhow::Result;

use super::fail;
use crate::analysis::verdict::Verdict;
use crate::cli::plan::SavePlan;
use crate::runfolder::baseline;

/// `memsoak baseline save`: exit code 0 once saved.
pub fn save(plan: &SavePlan) -> Result<i32> {
    let (b, dir) =
        baseline::save(&plan.run_dir, &plan.name, &plan.root, plan.force).map_err(fail)?;
    if !plan.quiet {
        if b.verdict == Some(Verdict::Fail) {
            eprintln!(
                "memsoak: warning: {} failed its thresholds; saved as a baseline anyway",
                plan.run_dir.display()
            );
        }
        eprintln!(
            "memsoak: baseline {} saved in {}",
            b.side.name,
            dir.display()
        );
    }
    Ok(0)
}
