//! `sarif`: SARIF 2.1.0 for GitHub code scanning, with the catalog's rule
//! descriptions, help links and security severities.

use serde_json::json;

use super::active;
use crate::check::finding::{Finding, Severity};
use crate::check::Outcome;
use crate::core::catalog::Catalog;

/// A stable identity of a finding: rule, file and resource, not the line,
/// so that moving a block does not make an old finding look new.
pub fn fingerprint(f: &Finding) -> String {
    // The message tells apart two findings of one rule on one resource (two
    // containers of a pod); it carries names, never line numbers.
    let key = format!(
        "{}\n{}\n{}\n{}",
        f.rule,
        f.file,
        f.resource.as_deref().unwrap_or(""),
        f.message
    );
    crate::git::blob_id(key.as_bytes())
}

/// Where a rule's remediation is explained at length (`socle policy
/// explain ID` prints the same).
const HELP_URI: &str =
    "https://github.com/socle-dev/socle/blob/main/README.md#checking-a-repository";

pub(super) fn sarif(outcome: &Outcome) -> String {
    let catalog = Catalog::embedded();
    let mut rule_ids: Vec<&str> = active(outcome).map(|f| f.rule.as_str()).collect();
    rule_ids.extend(catalog.rules.iter().map(|r| r.id.as_str()));
    rule_ids.sort();
    rule_ids.dedup();
    let rules: Vec<_> = rule_ids
        .iter()
        .map(|id| {
            let c = catalog.get(id);
            let warn = catalog.severity(id) == Severity::Warn;
            let level = if warn { "warning" } else { "error" };
            let title = c
                .map(|r| r.title.clone())
                .unwrap_or_else(|| format!("Repository policy {id}"));
            let remediation = c
                .map(|r| r.remediation.clone())
                .unwrap_or_else(|| "See the repository's policies/ directory.".into());
            // GitHub ranks alerts by `security-severity` (9+ critical, 7+
            // high, 4+ medium): a committed credential is critical, a
            // denial high, a warning medium.
            let security = if crate::core::catalog::is_credential_rule(id) {
                "9.0"
            } else if warn {
                "4.0"
            } else {
                "7.0"
            };
            let group = id
                .split('-')
                .nth(1)
                .unwrap_or("policy")
                .to_ascii_lowercase();
            let mut tags = vec!["security".to_owned(), group];
            if c.and_then(|r| r.profile.as_deref()) == Some("platform") {
                tags.push("platform".into());
            }
            json!({
                "id": id,
                "name": id.replace(['-', '.'], ""),
                "shortDescription": {"text": title},
                "fullDescription": {"text": format!("{title}. {remediation}")},
                "help": {"text": remediation},
                "helpUri": HELP_URI,
                "defaultConfiguration": {"level": level},
                "properties": {"tags": tags, "security-severity": security},
            })
        })
        .collect();
    let results: Vec<_> = active(outcome)
        .map(|f| {
            let index = rule_ids.iter().position(|r| *r == f.rule).unwrap_or(0);
            json!({
                "ruleId": f.rule,
                "ruleIndex": index,
                "level": if f.severity == Severity::Deny { "error" } else { "warning" },
                "message": {"text": f.full_message()},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": f.line.unwrap_or(1)},
                }}],
                "partialFingerprints": {"socle/v1": fingerprint(f)},
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "socle",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/socle-dev/socle",
                "rules": rules,
            }},
            "results": results,
            // A report exists only when the check ran to its end (an error
            // is exit 2 and writes none).
            "invocations": [{"executionSuccessful": true}],
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}
