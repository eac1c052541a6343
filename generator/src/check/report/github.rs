//! `github`: workflow annotations, and the whole table in the step summary
//! (GitHub shows only a step's first annotations).

use std::fmt::Write as _;

use super::active;
use crate::check::finding::Severity;
use crate::check::Outcome;

fn gh_escape(s: &str, property: bool) -> String {
    let mut out = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

/// Workflow commands; the step summary (when `GITHUB_STEP_SUMMARY` is set)
/// gets the whole table, written by the caller from [`summary_markdown`].
fn github(outcome: &Outcome) -> String {
    let mut out = String::new();
    for f in active(outcome) {
        let level = if f.severity == Severity::Deny {
            "error"
        } else {
            "warning"
        };
        let line = f.line.map(|l| format!(",line={l}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "::{level} file={}{line},title={}::{}",
            gh_escape(&f.file, true),
            gh_escape(&f.rule, true),
            gh_escape(&f.full_message(), false)
        );
    }
    let _ = writeln!(
        out,
        "socle: {} denial(s), {} warning(s)",
        outcome.count(Severity::Deny),
        outcome.count(Severity::Warn)
    );
    out
}

pub fn summary_markdown(outcome: &Outcome) -> String {
    let mut out = format!(
        "### socle check\n\n{} denial(s), {} warning(s) in {} file(s).\n\n",
        outcome.count(Severity::Deny),
        outcome.count(Severity::Warn),
        outcome.files
    );
    if active(outcome).next().is_some() {
        out.push_str("| severity | rule | location | message |\n| --- | --- | --- | --- |\n");
        for f in active(outcome) {
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} |",
                f.severity.as_str(),
                f.rule,
                f.location(),
                f.full_message().replace('|', "\\|").replace('\n', " ")
            );
        }
    }
    out
}

/// The `github` format.
pub(super) struct Github;

impl super::Reporter for Github {
    fn render(&self, outcome: &Outcome, _style: &super::Style) -> String {
        github(outcome)
    }
}
