//! `json`: the whole outcome for scripts, with a published JSON Schema
//! (`socle schema report`) derived from the same types.

use std::collections::BTreeMap;

use crate::check::finding::{Finding, Severity};
use crate::check::Outcome;

/// The `--format json` report. Typed, so that its published schema
/// (`socle schema report`) is the one the report is written from.
#[derive(serde::Serialize, schemars::JsonSchema)]
#[schemars(
    title = "socle check report",
    description = "What `socle check --format json` prints."
)]
pub struct JsonReport<'a> {
    pub summary: JsonSummary,
    /// Every finding, active or covered by an exception (`excepted_by`).
    pub findings: &'a [Finding],
    /// Files deliberately not parsed, with the reason.
    pub skipped: Vec<JsonSkipped<'a>>,
    /// What the system simulation could not model (not judged by the
    /// system rules).
    pub not_modelled: &'a [String],
    /// Documents of kinds no schema covers, by `Kind (apiVersion)`.
    pub not_validated: &'a BTreeMap<String, usize>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct JsonSummary {
    /// Active denials: the check fails when there is one.
    pub denials: usize,
    pub warnings: usize,
    pub files: usize,
    pub documents: usize,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct JsonSkipped<'a> {
    pub path: &'a str,
    pub reason: &'a str,
}

/// The JSON Schema of the `--format json` report.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(JsonReport<'static>)).unwrap_or_default()
}

fn json(outcome: &Outcome) -> String {
    let report = JsonReport {
        summary: JsonSummary {
            denials: outcome.count(Severity::Deny),
            warnings: outcome.count(Severity::Warn),
            files: outcome.files,
            documents: outcome.documents,
        },
        findings: &outcome.findings,
        skipped: outcome
            .skipped
            .iter()
            .map(|(path, reason)| JsonSkipped { path, reason })
            .collect(),
        not_modelled: &outcome.not_modelled,
        not_validated: &outcome.not_validated,
    };
    serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
}

/// The `json` format.
pub(super) struct Json;

impl super::Reporter for Json {
    fn render(&self, outcome: &Outcome, _style: &super::Style) -> String {
        json(outcome)
    }
}
