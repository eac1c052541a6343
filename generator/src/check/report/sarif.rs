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

fn sarif(outcome: &Outcome) -> String {
    use serde_sarif::sarif::{
        ArtifactLocation, Invocation, Location, Message, MultiformatMessageString,
        PhysicalLocation, PropertyBag, Region, ReportingConfiguration, ReportingDescriptor,
        Result as SarifResult, ResultLevel, Run, Sarif, Tool, ToolComponent,
    };
    let catalog = Catalog::embedded();
    let mut rule_ids: Vec<&str> = active(outcome).map(|f| f.rule.as_str()).collect();
    rule_ids.extend(catalog.rules.iter().map(|r| r.id.as_str()));
    rule_ids.sort();
    rule_ids.dedup();
    let level = |warn: bool| json!(if warn { "warning" } else { "error" });
    let rules: Vec<ReportingDescriptor> = rule_ids
        .iter()
        .map(|id| {
            let c = catalog.get(id);
            let warn = catalog.severity(id) == Severity::Warn;
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
            let text = |t: String| MultiformatMessageString::builder().text(t).build();
            ReportingDescriptor::builder()
                .id(*id)
                .name(id.replace(['-', '.'], ""))
                .short_description(text(title.clone()))
                .full_description(text(format!("{title}. {remediation}")))
                .help(text(remediation))
                .help_uri(HELP_URI)
                .default_configuration(ReportingConfiguration::builder().level(level(warn)).build())
                .properties(
                    PropertyBag::builder()
                        .tags(tags)
                        .additional_properties([("security-severity".to_owned(), json!(security))])
                        .build(),
                )
                .build()
        })
        .collect();
    let results: Vec<SarifResult> = active(outcome)
        .map(|f| {
            let index = rule_ids.iter().position(|r| *r == f.rule).unwrap_or(0);
            let line = i64::try_from(f.line.unwrap_or(1)).unwrap_or(1);
            SarifResult::builder()
                .rule_id(f.rule.clone())
                .rule_index(i64::try_from(index).unwrap_or(0))
                .level(if f.severity == Severity::Warn {
                    ResultLevel::Warning
                } else {
                    ResultLevel::Error
                })
                .message(Message::builder().text(f.full_message()).build())
                .locations(vec![Location::builder()
                    .physical_location(
                        PhysicalLocation::builder()
                            .artifact_location(
                                ArtifactLocation::builder()
                                    .uri(f.file.clone())
                                    .uri_base_id("%SRCROOT%")
                                    .build(),
                            )
                            .region(Region::builder().start_line(line).build())
                            .build(),
                    )
                    .build()])
                .partial_fingerprints([("socle/v1".to_owned(), fingerprint(f))])
                .build()
        })
        .collect();
    let run = Run::builder()
        .tool(
            Tool::builder()
                .driver(
                    ToolComponent::builder()
                        .name("socle")
                        .version(env!("CARGO_PKG_VERSION"))
                        .information_uri("https://github.com/socle-dev/socle")
                        .rules(rules)
                        .build(),
                )
                .build(),
        )
        .results(results)
        // A report exists only when the check ran to its end (an error is
        // exit 2 and writes none).
        .invocations(vec![Invocation::builder()
            .execution_successful(true)
            .build()])
        .build();
    let log = Sarif::builder()
        .schema("https://json.schemastore.org/sarif-2.1.0.json")
        .version(json!("2.1.0"))
        .runs(vec![run])
        .build();
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}

/// The `sarif` format.
pub(super) struct Sarif;

impl super::Reporter for Sarif {
    fn render(&self, outcome: &Outcome, _style: &super::Style) -> String {
        sarif(outcome)
    }
}
