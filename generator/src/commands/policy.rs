//! `socle policy`: list, explain and test the policies.

use std::io::Write;

use socle::check::{self as checker};

use crate::cli::{ListFormat, PolicyCommand};

pub(crate) fn policy(cmd: PolicyCommand) -> anyhow::Result<u8> {
    let catalog = socle::core::catalog::Catalog::embedded();
    let mut w = std::io::stdout().lock();
    match cmd {
        PolicyCommand::List { format } => {
            match format {
                ListFormat::Text => {
                    for r in &catalog.rules {
                        writeln!(w, "{:<14} {:<5} {}", r.id, r.severity, r.title)?;
                    }
                }
                ListFormat::Json => {
                    writeln!(w, "{}", serde_json::to_string_pretty(&catalog.rules)?)?;
                }
            }
            Ok(0)
        }
        PolicyCommand::Explain { id } => {
            let Some(r) = catalog.get(&id) else {
                anyhow::bail!("no rule {id:?}; `socle policy list` shows them all");
            };
            writeln!(
                w,
                "{} ({}): {}

Remediation: {}

Example it rejects:
",
                r.id, r.severity, r.title, r.remediation
            )?;
            for line in r.example.lines() {
                writeln!(w, "    {line}")?;
            }
            if r.profile.as_deref() == Some("platform") {
                writeln!(w, "\nProfile: platform (applies to repositories with a socle.lock, or with `rules: {{profile: platform}}` in socle-check.yaml)")?;
            }
            Ok(0)
        }
        PolicyCommand::Test {
            dir,
            rego_v0,
            bounds,
        } => {
            let mut results = checker::testing::embedded()?;
            if let Some(dir) = dir {
                let input = checker::files::Input::from_dir(&dir)?;
                results.extend(checker::testing::local(
                    &input.files,
                    rego_v0,
                    bounds.bounds(),
                )?);
            }
            let failed = results.iter().filter(|r| !r.passed).count();
            for r in &results {
                let status = if r.passed { "PASS" } else { "FAIL" };
                let detail = if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.detail)
                };
                writeln!(w, "{status} {}: {}{detail}", r.module, r.name)?;
            }
            writeln!(w, "{} passed, {failed} failed", results.len() - failed)?;
            Ok(if failed > 0 { 1 } else { 0 })
        }
    }
}
