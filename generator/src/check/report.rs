//! Report formats: what people and CI systems read.
//!
//! `text` for terminals, `json` for scripts, `junit` for test dashboards,
//! `sarif` (2.1.0) for GitHub code scanning, `github` for workflow
//! annotations (plus the full table in the step summary, since GitHub shows
//! only the first annotations of a step), `gitlab` for Code Quality.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use super::finding::{Finding, Severity};
use super::Outcome;
use crate::core::catalog::Catalog;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Junit,
    Sarif,
    Github,
    Gitlab,
}

/// One report of a run: a format, written to a file or to stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub format: Format,
    pub path: Option<std::path::PathBuf>,
}

impl std::str::FromStr for Output {
    type Err = String;

    /// `sarif` (stdout) or `sarif=socle.sarif` (a file).
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, path) = match s.split_once('=') {
            Some((name, path)) if !path.is_empty() => (name, Some(path.into())),
            Some((name, _)) => {
                return Err(format!(
                    "{name}=: name the file after `=`, e.g. {name}=socle.{name}"
                ))
            }
            None => (s, None),
        };
        let format = <Format as clap::ValueEnum>::from_str(name, true).map_err(|_| {
            let known: Vec<String> = <Format as clap::ValueEnum>::value_variants()
                .iter()
                .filter_map(|v| {
                    clap::ValueEnum::to_possible_value(v).map(|p| p.get_name().to_owned())
                })
                .collect();
            format!(
                "unknown format {name:?}; one of {}, optionally =FILE",
                known.join(", ")
            )
        })?;
        Ok(Self { format, path })
    }
}

pub struct Style {
    pub colour: bool,
}

fn active(outcome: &Outcome) -> impl Iterator<Item = &Finding> {
    outcome.findings.iter().filter(|f| f.is_active())
}

pub fn render(format: Format, outcome: &Outcome, style: &Style) -> String {
    match format {
        Format::Text => text(outcome, style),
        Format::Json => json(outcome),
        Format::Junit => junit(outcome),
        Format::Sarif => sarif(outcome),
        Format::Github => github(outcome),
        Format::Gitlab => gitlab(outcome),
    }
}

fn paint(style: &Style, code: &str, text: &str) -> String {
    if style.colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn text(outcome: &Outcome, style: &Style) -> String {
    let mut out = String::new();
    let mut by_file: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in active(outcome) {
        by_file.entry(&f.file).or_default().push(f);
    }
    for (file, findings) in &by_file {
        let _ = writeln!(out, "{}", paint(style, "1", file));
        for f in findings {
            let sev = match f.severity {
                Severity::Deny => paint(style, "31", "deny"),
                Severity::Warn => paint(style, "33", "warn"),
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

/// One test case per finding, grouped in one suite per rule; a denial is a
/// failure, a warning passes with its message in system-out. Written by
/// quick-junit, so every suite carries the counts (`errors` included) that
/// Jenkins' and GitLab's readers require; two findings at one place get
/// distinct names (`file:line #2`), since readers merge same-named cases.
fn junit(outcome: &Outcome) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut by_rule: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in active(outcome) {
        by_rule.entry(&f.rule).or_default().push(f);
    }
    let mut report = Report::new("socle check");
    if by_rule.is_empty() {
        let mut suite = TestSuite::new("socle");
        let mut case = TestCase::new("repository", TestCaseStatus::success());
        case.set_classname("socle");
        suite.add_test_case(case);
        report.add_test_suite(suite);
    }
    for (rule, findings) in &by_rule {
        let mut suite = TestSuite::new(*rule);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for f in findings {
            let place = f.location();
            let n = seen.entry(place.clone()).or_default();
            *n += 1;
            let name = if *n == 1 {
                place.clone()
            } else {
                format!("{place} #{n}")
            };
            let status = if f.severity == Severity::Deny {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(f.message.clone())
                    .set_type(*rule)
                    .set_description(format!("{place}: {}", f.full_message()));
                status
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(name, status);
            case.set_classname(*rule);
            if f.severity == Severity::Warn {
                case.set_system_out(format!("warning: {}", f.message));
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().unwrap_or_default()
}

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
