//! `socle diff`: drift between the files and what the spec renders, or
//! between two environments.

use std::io::Write;

use super::{colour_stdout, paint};
use crate::cli::{DiffArgs, DiffFormat};

mod table;

pub(crate) fn diff(args: DiffArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    if let Some(pair) = &args.env {
        let Some((from, to)) = pair
            .split_once("..")
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        else {
            anyhow::bail!("--env {pair:?}: expected two environments, e.g. --env dev..prod");
        };
        let components = socle::update::envdiff::compare(&args.dir, from, to)?;
        let flagged_total = components
            .iter()
            .flat_map(|c| &c.differences)
            .filter(|d| d.flag.is_some())
            .count();
        if matches!(args.format, DiffFormat::Table | DiffFormat::Markdown) {
            let table = table::Table::of(from, to, &components);
            let text = if args.format == DiffFormat::Markdown {
                table.markdown()
            } else {
                table.terminal(colour_stdout())
            };
            write!(out, "{text}")?;
            return Ok(u8::from(flagged_total > 0));
        }
        if args.format == DiffFormat::Json {
            let report = serde_json::json!({
                "from": from,
                "to": to,
                "components": components,
                "unexpected": flagged_total,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            return Ok(u8::from(flagged_total > 0));
        }
        let mut flagged = 0;
        for c in &components {
            writeln!(out, "{}", c.component)?;
            for d in &c.differences {
                let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
                write!(out, "  {}: {} -> {}", d.key, show(&d.from), show(&d.to))?;
                if let Some(flag) = &d.flag {
                    flagged += 1;
                    write!(out, "   UNEXPECTED: {flag}")?;
                }
                writeln!(out)?;
            }
        }
        writeln!(
            out,
            "{} component(s) differ between {from} and {to}; {flagged} unexpected difference(s).",
            components.len()
        )?;
        return Ok(u8::from(flagged > 0));
    }
    if matches!(args.format, DiffFormat::Table | DiffFormat::Markdown) {
        anyhow::bail!(
            "--format table and markdown compare two environments: add --env A..B (e.g. --env dev..prod), or use --stat for one line per file"
        );
    }
    let drift = socle::update::drift(&args.dir, args.spec.as_deref())?;
    if args.format == DiffFormat::Json {
        let files: Vec<serde_json::Value> = drift
            .changes
            .iter()
            .map(|c| {
                let (added, deleted) = socle::update::counts(c);
                serde_json::json!({
                    "path": c.path,
                    "status": c.label(),
                    "drift": c.status.is_drift(),
                    "added": added,
                    "deleted": deleted,
                    "diff": c.status.is_drift().then(|| socle::update::unified(c)),
                })
            })
            .collect();
        let drifted = drift.changes.iter().filter(|c| c.status.is_drift()).count();
        let report = serde_json::json!({"files": files, "drifted": drifted});
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(u8::from(drifted > 0));
    }
    let colour = colour_stdout();
    let mut drifted = 0;
    for c in &drift.changes {
        if args.stat {
            let (add, del) = socle::update::counts(c);
            writeln!(out, "{:<48} +{add:<5} -{del:<5} {}", c.path, c.label())?;
        } else if c.status.is_drift() {
            writeln!(out, "# {} ({})", c.path, c.label())?;
            write!(out, "{}", paint(&socle::update::unified(c), colour))?;
        }
        drifted += usize::from(c.status.is_drift());
    }
    let team: Vec<&str> = drift
        .changes
        .iter()
        .filter(|c| !c.status.is_drift())
        .map(|c| c.path.as_str())
        .collect();
    if !args.stat && !team.is_empty() {
        writeln!(
            out,
            "# edited or deleted here (kept by `socle update`): {}",
            team.join(", ")
        )?;
    }
    writeln!(
        out,
        "{drifted} file(s) would change; {} file(s) edited or deleted here.",
        team.len()
    )?;
    Ok(u8::from(drifted > 0))
}
