//! `memsoak baseline save RUN_DIR --name NAME`: promote a run folder into
//! `baselines/NAME/`.

use std::path::Path;

use anyhow::Result;

use super::fail;
use crate::analysis::verdict::Verdict;
use crate::cli::plan::SavePlan;
use crate::runfolder::baseline::{self, Baseline};

/// What a baseline saved from `run_dir` is warned of: a run that failed
/// its thresholds, or was interrupted (its drift covers part of the run).
fn warning(b: &Baseline, run_dir: &Path) -> Option<String> {
    let dir = run_dir.display();
    let why = match (b.interrupted, b.verdict == Some(Verdict::Fail)) {
        (true, true) => "was interrupted and failed its thresholds",
        (true, false) => "was interrupted: its drift covers only the part of the run taken",
        (false, true) => "failed its thresholds",
        (false, false) => return None,
    };
    Some(format!("{dir} {why}; saved as a baseline anyway"))
}

/// `memsoak baseline save`: exit code 0 once saved.
pub fn save(plan: &SavePlan) -> Result<i32> {
    let (b, dir) =
        baseline::save(&plan.run_dir, &plan.name, &plan.root, plan.force).map_err(fail)?;
    if !plan.quiet {
        if let Some(w) = warning(&b, &plan.run_dir) {
            eprintln!("memsoak: warning: {w}");
        }
        eprintln!(
            "memsoak: baseline {} saved in {}",
            b.side.name,
            dir.display()
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_run_is_warned_of_as_a_failed_one_is() {
        // Regression: a failed run was warned of, an interrupted one not.
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(
            run.join("report.json"),
            include_str!("../../runfolder/fixtures/report-run.json"),
        )
        .unwrap();
        let mut b = baseline::from_run(&run, "x").unwrap();
        b.verdict = Some(Verdict::Pass);
        assert_eq!(warning(&b, &run), None);
        b.interrupted = true;
        let w = warning(&b, &run).unwrap();
        assert!(
            w.ends_with("run was interrupted: its drift covers only the part of the run taken; saved as a baseline anyway"),
            "{w}"
        );
        b.verdict = Some(Verdict::Fail);
        assert!(
            warning(&b, &run)
                .unwrap()
                .contains("was interrupted and failed its thresholds")
        );
        b.interrupted = false;
        assert!(
            warning(&b, &run)
                .unwrap()
                .ends_with("run failed its thresholds; saved as a baseline anyway")
        );
    }
}
