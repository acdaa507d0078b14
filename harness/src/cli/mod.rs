//! The command layer: the command line as typed ([`args`]), TOML profiles
//! ([`config`]), validation into plans ([`plan`], every bad value one line
//! and exit code 2), the exit codes ([`exit`]) and one module per command
//! ([`commands`]).

pub mod args;
pub mod commands;
pub mod config;
pub mod exit;
pub mod plan;

use anyhow::Result;

use args::{BaselineCommand, Cli, Command};

/// Run a parsed command line; returns the exit code. `Err` is a usage or
/// input error (exit code 2), printed as one line.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(a) => commands::run::run(&a),
        Command::Watch(a) => commands::watch::watch(plan::watch_plan(&a)?),
        Command::Analyze(a) if a.prometheus.prometheus.is_some() => {
            commands::prometheus::analyze(&plan::prometheus_plan(&a)?)
        }
        Command::Analyze(a) => commands::analyze::analyze(plan::analyze_plan(&a)?),
        Command::Record(a) => commands::record::record(plan::record_plan(&a)?),
        Command::Report(a) => commands::report::report(&plan::report_plan(&a)?),
        Command::Compare(a) => commands::compare::compare(&plan::compare_plan(&a)?),
        Command::Summarize(a) => commands::summarize::summarize(&plan::summarize_plan(&a)),
        Command::Baseline(BaselineCommand::Save(a)) => {
            commands::baseline::save(&plan::save_plan(&a))
        }
    }
}
