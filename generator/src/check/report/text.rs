//! `text`: findings grouped by file, for a terminal (colour per `Style`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{active, paint, Style};
use crate::check::finding::{Finding, Severity};
use crate::check::Outcome;

fn text(outcome: &Outcome, style: &Style) -> String {
    let mut out = String::new();
    let mut by_file: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in active(outcome) {
        by_file.entry(&f.file).or_default().push(f);
    }
    for (file, findings) in &by_file {
        let _ = writeln!(out, "{}", paint(style, crate::colour::HEADING, file));
        for f in findings {
            let sev = match f.severity {
                Severity::Deny => paint(style, crate::colour::DENY, "deny"),
                Severity::Warn => paint(style, crate::colour::WARN, "warn"),
            };
            let line = f.line.map(|l| format!(":{l}")).unwrap_or_default();
            let _ = writeln!(out, "  {file}{line}: {sev} {} {}", f.rule, f.full_message());
        }
    }
    let excepted = outcome
        .findings
        .iter()
        .filter(|f| f.excepted_by.is_some())
        .count();
    let pre_existing = outcome.findings.iter().filter(|f| f.pre_existing).count();
    let fixed = outcome
        .findings
        .iter()
        .filter(|f| f.fixed_in.is_some())
        .count();
    if fixed > 0 {
        let _ = writeln!(out, "Introduced and fixed within the range (not counted):");
        for f in outcome.findings.iter().filter(|f| f.fixed_in.is_some()) {
            let _ = writeln!(out, "  {}: {} {}", f.location(), f.rule, f.full_message());
        }
    }
    if pre_existing > 0 {
        let _ = writeln!(
            out,
            "{pre_existing} finding(s) already present at the base of the range (not counted)."
        );
    }
    if !outcome.not_modelled.is_empty() {
        // Listed, never silently passed: what the system simulation could
        // not model was not judged by the system rules.
        let _ = writeln!(out, "Not modelled by the system simulation:");
        for n in &outcome.not_modelled {
            let _ = writeln!(out, "  {n}");
        }
    }
    if !outcome.not_validated.is_empty() {
        // Counted, never silently passed: no schema covered these kinds.
        let total: usize = outcome.not_validated.values().sum();
        let kinds: Vec<String> = outcome
            .not_validated
            .iter()
            .map(|(kind, n)| format!("{kind} x{n}"))
            .collect();
        let _ = writeln!(
            out,
            "Not validated (no schema for the kind: add its CRD to the repository): {total} document(s): {}",
            kinds.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "{} denial(s), {} warning(s){} in {} file(s), {} document(s) checked{}.",
        outcome.count(Severity::Deny),
        outcome.count(Severity::Warn),
        if excepted > 0 {
            format!(" ({excepted} covered by exceptions)")
        } else {
            String::new()
        },
        outcome.files,
        outcome.documents,
        if outcome.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} skipped", outcome.skipped.len())
        },
    );
    out
}

/// The `text` format.
pub(super) struct Text;

impl super::Reporter for Text {
    fn render(&self, outcome: &Outcome, style: &super::Style) -> String {
        text(outcome, style)
    }
}
