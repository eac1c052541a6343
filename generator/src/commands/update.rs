//! `socle update`: a new spec or a new socle, merged three ways.

use std::io::Write;

use socle::check::{self as checker, Severity};

use crate::cli::{ListFormat, UpdateArgs};

pub(crate) fn update(args: UpdateArgs) -> anyhow::Result<u8> {
    let drift = socle::update::drift(&args.dir, args.spec.as_deref())?;
    let interrupted = socle::update::Journal::read(&args.dir)?;
    let mut out = std::io::stdout().lock();
    if let Some(journal) = &interrupted {
        let done = journal.done(&args.dir)?.len();
        let journal_path = socle::update::Journal::path(&args.dir)?;
        let what = format!(
            "an earlier `socle update` (spec {}) was interrupted after writing {done} of {} file(s)",
            journal.spec,
            journal.steps.len()
        );
        if args.dry_run {
            writeln!(out, "note: {what}; `socle update --resume` finishes it.")?;
        } else if !args.resume {
            anyhow::bail!(
                "{}: {what}; run `socle update --resume` (with the same --spec) to finish it, or, to abandon it, restore the files it wrote (`git status` lists them) and delete {}",
                args.dir.display(),
                journal_path.display()
            );
        } else if !journal.matches(&drift) {
            anyhow::bail!(
                "{}: {what}, but from a different render than this one; resume it with the spec it was applying (`socle update --resume --spec {}`), or abandon it: restore the files it wrote and delete {}",
                args.dir.display(),
                journal.spec,
                journal_path.display()
            );
        }
    } else if args.resume {
        anyhow::bail!(
            "{}: no interrupted `socle update` to resume; run `socle update` without --resume",
            args.dir.display()
        );
    }
    let resuming = interrupted.as_ref().filter(|_| args.resume);
    if !args.allow_dirty && !args.dry_run {
        let mut dirty = socle::update::dirty_files(&args.dir)?;
        // What the interrupted update wrote is expected to differ from HEAD.
        if let Some(journal) = resuming {
            dirty.retain(|p| p != socle::lock::PATH && !journal.steps.iter().any(|s| &s.path == p));
        }
        if !dirty.is_empty() {
            anyhow::bail!(
                "{}: {} tracked file(s) differ from HEAD ({}{}); commit or stash them first, or pass --allow-dirty",
                args.dir.display(),
                dirty.len(),
                dirty.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if dirty.len() > 5 { ", ..." } else { "" }
            );
        }
    }
    let mut steps = socle::update::plan(&drift)?;
    let (journal, already) = match resuming {
        Some(journal) => {
            let gone = journal.resume(&args.dir, &mut steps)?;
            (journal.clone(), gone)
        }
        None => (socle::update::Journal::new(&drift, &steps), Vec::new()),
    };
    let json = args.format == ListFormat::Json;
    let mut conflicts = 0;
    let mut planned: Vec<serde_json::Value> = Vec::new();
    for s in &already {
        conflicts += usize::from(s.action == "CONFLICT");
        planned.push(serde_json::json!({"action": s.action, "path": s.path, "written_before_interruption": true}));
        if !json {
            writeln!(
                out,
                "{:<9} {} (written before the interruption)",
                s.action, s.path
            )?;
        }
    }
    for s in &steps {
        conflicts += usize::from(matches!(s.action, socle::update::Action::Conflict(_)));
        planned.push(serde_json::json!({
            "action": s.action.label(),
            "path": s.path,
            "status": s.status.label(),
            "note": s.note,
        }));
        if json {
            continue;
        }
        write!(
            out,
            "{:<9} {} ({})",
            s.action.label(),
            s.path,
            s.status.label()
        )?;
        if !s.note.is_empty() {
            write!(out, ": {}", s.note)?;
        }
        writeln!(out)?;
    }
    if args.dry_run {
        if json {
            let report =
                serde_json::json!({"dry_run": true, "steps": planned, "conflicts": conflicts});
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        } else {
            writeln!(
                out,
                "{} file(s) in the plan; nothing written (--dry-run).",
                steps.len()
            )?;
        }
        return Ok(0);
    }
    // The check reads the repository's check cache (what `socle check
    // --cache` and the pre-commit hook keep): only the files the update
    // changed are evaluated. Without a user cache directory it runs in full.
    let recheck = || -> anyhow::Result<checker::Outcome> {
        Ok(checker::check_files(
            checker::files::Input::from_dir(&args.dir)?,
            &checker::Options {
                cache_dir: checker::cache::location(&args.dir, None).ok(),
                ..Default::default()
            },
        )?)
    };
    let (pristine, outcome) = socle::update::apply(&drift, &steps, &journal, recheck)?;
    let outcome = outcome?;
    let (added, removed, changed) =
        socle::update::policy_changes(&drift.lock, &drift.generated.files);
    let failed = conflicts > 0 || outcome.count(Severity::Deny) > 0;
    if json {
        let report = serde_json::json!({
            "dry_run": false,
            "steps": planned,
            "conflicts": conflicts,
            "pristine": pristine,
            "policies": {"added": added, "removed": removed, "changed": changed},
            "denials": outcome.count(Severity::Deny),
            "warnings": outcome.count(Severity::Warn),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(u8::from(failed));
    }
    writeln!(
        out,
        "updated {} file(s), {conflicts} conflict(s); last render recorded as {}.",
        steps.len() + already.len(),
        &pristine[..pristine.len().min(10)]
    )?;
    if changed || !added.is_empty() || !removed.is_empty() {
        writeln!(
            out,
            "policies changed since the last render: {} rule(s) added{}, {} removed{}.",
            added.len(),
            if added.is_empty() {
                String::new()
            } else {
                format!(" ({})", added.join(", "))
            },
            removed.len(),
            if removed.is_empty() {
                String::new()
            } else {
                format!(" ({})", removed.join(", "))
            },
        )?;
    } else {
        writeln!(out, "policies unchanged since the last render.")?;
    }
    writeln!(
        out,
        "socle check: {} denial(s), {} warning(s).",
        outcome.count(Severity::Deny),
        outcome.count(Severity::Warn)
    )?;
    Ok(u8::from(failed))
}
