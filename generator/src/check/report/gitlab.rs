//! `gitlab`: Code Quality issues for merge request widgets.

use serde_json::json;

use super::{active, fingerprint};
use crate::check::finding::Severity;
use crate::check::Outcome;

fn gitlab(outcome: &Outcome) -> String {
    let issues: Vec<_> = active(outcome)
        .map(|f| {
            json!({
                "description": format!("{}: {}", f.rule, f.full_message()),
                "check_name": f.rule,
                "fingerprint": fingerprint(f),
                "severity": if f.severity == Severity::Deny { "major" } else { "minor" },
                "location": {"path": f.file, "lines": {"begin": f.line.unwrap_or(1)}},
            })
        })
        .collect();
    serde_json::to_string_pretty(&issues).unwrap_or_default() + "\n"
}

/// The `gitlab` format.
pub(super) struct Gitlab;

impl super::Reporter for Gitlab {
    fn render(&self, outcome: &Outcome, _style: &super::Style) -> String {
        gitlab(outcome)
    }
}
