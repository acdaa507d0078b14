//! `report.json`: the machine-readable report (schema version 1).

use super::{Artifact, ExportContext, ExportError, Exporter, Report};

/// The JSON exporter.
pub struct Json;

impl Exporter for Json {
    fn file_name(&self) -> &'static str {
        "report.json"
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
        // NOTE: non-finite floats serialise as null; the report never fails
        // to render because of one odd value.
        let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|e| {
            format!("{{\"schema_version\":1,\"verdict\":\"error\",\"errors\":[\"{e}\"]}}")
        });
        s.push('\n');
        s
    }
}
