//! `socle promote`: one environment's versions into the next.

use std::io::Write;
use std::path::Path;

use socle::check::{self as checker, Severity};

use super::{colour_stdout, paint};
use crate::cli::ListFormat;

pub(crate) fn promote(
    from: &str,
    to: &str,
    dir: &Path,
    dry_run: bool,
    format: ListFormat,
) -> anyhow::Result<u8> {
    let plan = socle::update::envdiff::promote(dir, from, to, !dry_run)?;
    let (done, manual) = (&plan.done, &plan.manual);
    let mut out = std::io::stdout().lock();
    if format == ListFormat::Json {
        let files: Vec<serde_json::Value> = plan
            .files
            .iter()
            .map(|(file, (old, new))| {
                let diff = similar::TextDiff::from_lines(old, new)
                    .unified_diff()
                    .header(&format!("a/{file}"), &format!("b/{file}"))
                    .to_string();
                serde_json::json!({"path": file, "diff": diff})
            })
            .collect();
        let (denials, warnings) = if dry_run {
            (None, None)
        } else {
            let outcome = checker::check_files(
                checker::files::Input::from_dir(dir)?,
                &checker::Options::default(),
            )?;
            (
                Some(outcome.count(Severity::Deny)),
                Some(outcome.count(Severity::Warn)),
            )
        };
        let report = serde_json::json!({
            "from": from,
            "to": to,
            "dry_run": dry_run,
            "promoted": done,
            "not_promoted": manual,
            "files": files,
            "denials": denials,
            "warnings": warnings,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(u8::from(denials.unwrap_or(0) > 0));
    }
    let colour = colour_stdout();
    for (file, (old, new)) in &plan.files {
        let diff = similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .header(&format!("a/{file}"), &format!("b/{file}"))
            .to_string();
        write!(out, "{}", paint(&diff, colour))?;
    }
    let verb = if dry_run { "would promote" } else { "promoted" };
    for p in done {
        writeln!(out, "{verb} {} {}: {} -> {}", p.file, p.key, p.from, p.to)?;
    }
    for m in manual {
        writeln!(out, "not promoted: {m}")?;
    }
    if dry_run {
        writeln!(
            out,
            "{} setting(s) would be promoted from {from} to {to} (--dry-run: nothing written).",
            done.len()
        )?;
        return Ok(0);
    }
    let outcome = checker::check_files(
        checker::files::Input::from_dir(dir)?,
        &checker::Options::default(),
    )?;
    writeln!(
        out,
        "{} setting(s) promoted from {from} to {to}; socle check: {} denial(s), {} warning(s).",
        done.len(),
        outcome.count(Severity::Deny),
        outcome.count(Severity::Warn)
    )?;
    Ok(u8::from(outcome.count(Severity::Deny) > 0))
}
