//! `report.json`: the machine-readable report (schema version 1), as
//! [`Report::to_json`] writes it.

use super::{Artifact, ExportContext, ExportError, Exporter};
use crate::runfolder::{REPORT_JSON, Report};

/// The JSON exporter.
pub struct Json;

impl Exporter for Json {
    fn file_name(&self) -> &'static str {
        REPORT_JSON
    }

    fn render(&self, ctx: &ExportContext<'_>) -> Result<Vec<Artifact>, ExportError> {
        Ok(vec![Artifact::text(
            self.file_name(),
            Json::text(ctx.report),
        )])
    }
}

impl Json {
    /// The report as pretty JSON, newline-terminated.
    pub fn text(report: &Report) -> String {
        report.to_json()
    }
}
