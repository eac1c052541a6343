//! Report formats: what people and CI systems read, one file per format
//! behind [`Reporter`].
//!
//! `text` for terminals, `json` for scripts, `junit` for test dashboards,
//! `sarif` (2.1.0) for GitHub code scanning, `github` for workflow
//! annotations (plus the full table in the step summary, since GitHub shows
//! only the first annotations of a step), `gitlab` for Code Quality, `html`
//! for a browser.

mod github;
mod gitlab;
mod html;
mod json;
mod junit;
mod sarif;
mod text;

pub use github::summary_markdown;
pub use json::{json_schema, JsonReport, JsonSkipped, JsonSummary};
pub use sarif::fingerprint;

use super::finding::Finding;
use super::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Junit,
    Sarif,
    Github,
    Gitlab,
    Html,
}

/// Lines shown before and after a finding's line in the reports that show
/// the file (`html`).
pub const SNIPPET_CONTEXT: usize = 2;

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

/// One output format: the outcome of a check as one reader wants it.
pub trait Reporter {
    fn render(&self, outcome: &Outcome, style: &Style) -> String;
}

impl Format {
    pub fn reporter(self) -> &'static dyn Reporter {
        match self {
            Format::Text => &text::Text,
            Format::Json => &json::Json,
            Format::Junit => &junit::Junit,
            Format::Sarif => &sarif::Sarif,
            Format::Github => &github::Github,
            Format::Gitlab => &gitlab::Gitlab,
            Format::Html => &html::Html,
        }
    }
}

pub fn render(format: Format, outcome: &Outcome, style: &Style) -> String {
    format.reporter().render(outcome, style)
}

fn paint(style: &Style, colour: anstyle::Style, text: &str) -> String {
    crate::colour::paint(style.colour, colour, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every format has a writer, and an empty check is still a report its
    /// reader accepts (an empty JUnit file or SARIF log would be refused).
    #[test]
    fn every_format_renders_an_empty_outcome() {
        let outcome = Outcome::default();
        let style = Style { colour: false };
        for format in <Format as clap::ValueEnum>::value_variants() {
            let out = format.reporter().render(&outcome, &style);
            match format {
                Format::Json | Format::Sarif | Format::Gitlab => {
                    serde_json::from_str::<serde_json::Value>(&out).expect("JSON");
                }
                Format::Junit => assert!(out.contains("<testsuites"), "{out}"),
                Format::Html => assert!(out.starts_with("<!DOCTYPE html>"), "{out}"),
                Format::Text | Format::Github => assert!(!out.is_empty()),
            }
        }
    }
}
