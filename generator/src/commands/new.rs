//! `socle new`: render, check, write and commit a repository.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use socle::check::report::{self, Format};
use socle::check::{self as checker, Severity};
use socle::generate::{self, Inputs};
use socle::git::Identity;
use socle::source::Tree;
use socle::{output, spec};

use super::load_tree;
use crate::cli::NewArgs;

pub(crate) fn new(args: NewArgs) -> anyhow::Result<u8> {
    let environments = load_tree(args.environments.as_deref(), Tree::embedded_environments)?;
    let (spec_text, origin) = match &args.spec {
        Some(path) if path.as_os_str() == "-" => (spec::read_file(path)?, "(stdin)".to_owned()),
        Some(path) => (spec::read_file(path)?, path.display().to_string()),
        None => (spec::EXAMPLE.to_owned(), "embedded example spec".to_owned()),
    };
    let blueprint = match args.blueprints.as_deref() {
        Some(dir) => Tree::from_dir(dir)?,
        None => socle::blueprint::embedded_for_spec(&spec_text).with_context(|| {
            match socle::locate::LineIndex::new(&spec_text).line_of("/blueprint") {
                Some(line) => format!("{origin}:{line}: blueprint"),
                None => format!("{origin}: blueprint"),
            }
        })?,
    };
    let cli_author = match &args.author {
        Some(text) => Some(Identity::parse(text).with_context(|| {
            format!("--author {text:?}: expected \"Name <email>\", e.g. --author \"Jane Doe <jane@acme.example>\"")
        })?),
        None => None,
    };

    // The same policies CI runs, on the files in memory: a denial here is a
    // blueprint bug, and nothing is written.
    let (generated, outcome) = socle::repository::render_checked(
        &Inputs {
            spec_text: &spec_text,
            spec_origin: &origin,
            blueprint: &blueprint,
            environments: &environments,
        },
        &checker::Options {
            local_policies: false,
            ..Default::default()
        },
    )?;
    // What only the cloud gives after the first `terraform apply` (a
    // managed identity's client ID) is the spec's to fill in later, not a
    // blueprint bug: the repository is written, and the summary lists it.
    let (awaiting, blocking): (Vec<_>, Vec<_>) = outcome
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Deny)
        .partition(|f| socle::core::catalog::awaits_apply(&f.rule));
    if !blocking.is_empty() {
        let text = report::render(Format::Text, &outcome, &report::Style { colour: false });
        return Err(anyhow::anyhow!(
            "the rendered repository violates the embedded policies (a blueprint bug); nothing was written:\n{text}"
        ));
    }
    let awaiting: Vec<String> = awaiting.iter().map(|f| f.message.clone()).collect();
    let spec = &generated.model.spec;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}-platform", spec.client.slug)));
    let author = cli_author.or_else(|| {
        spec.author.as_ref().map(|a| Identity {
            name: a.name.clone(),
            email: a.email.clone(),
        })
    });
    let message = format!(
        "Initial platform for {}\n\nRendered by socle {} from blueprint {} {}.\n",
        spec.client.name.lines().next().unwrap_or_default(),
        env!("CARGO_PKG_VERSION"),
        generated.model.manifest.name,
        generated.model.manifest.version,
    );
    let branch = spec.repository.revision.clone();
    let mut commit = None;
    let replace = output::Replace {
        force: args.force,
        discard_work: args.discard_work,
    };
    output::write_atomically(&out, &generated.files, replace, |dir| {
        if args.no_git {
            return Ok(());
        }
        commit = Some(socle::git::init_and_commit(
            dir,
            &generated.files,
            &branch,
            author.as_ref(),
            &message,
        )?);
        Ok::<(), socle::git::GitError>(())
    })??;

    if !args.quiet {
        print_summary(&out, &generated, commit.as_deref())?;
    }
    if !awaiting.is_empty() {
        // On standard error, quiet or not: the repository is not ready to
        // sync until the spec has them.
        let mut w = std::io::stderr().lock();
        writeln!(
            w,
            "\nLeft for after the first `terraform apply` (`socle check` denies these until then):"
        )?;
        for message in &awaiting {
            writeln!(w, "  {message}")?;
        }
    }
    Ok(0)
}

pub(crate) fn print_summary(
    out: &Path,
    generated: &generate::Generated,
    commit: Option<&str>,
) -> std::io::Result<()> {
    let mut w = std::io::stdout().lock();
    let model = &generated.model;
    writeln!(
        w,
        "Rendered {} files for {} into {} ({} components, {} environments).",
        generated.files.len(),
        model.spec.client.name.lines().next().unwrap_or_default(),
        out.display(),
        // What the clusters deploy and what the Compose hosts run, once.
        model
            .components
            .iter()
            .map(|c| c.component.id.as_str())
            .chain(model.base.compose.components.iter().map(|c| c.id.as_str()))
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        // The clusters' environments and the Compose hosts'.
        model.envs().len() + model.base.compose.environments.len(),
    )?;
    for (area, count) in generate::areas(&generated.files) {
        writeln!(w, "  {area:<16} {count:>4}")?;
    }
    match commit {
        Some(id) => writeln!(
            w,
            "Committed {} on {}.",
            &id[..id.len().min(12)],
            model.spec.repository.revision
        )?,
        None => writeln!(w, "No git repository created (--no-git).")?,
    }
    let branch = &model.spec.repository.revision;
    writeln!(w, "\nNext steps:")?;
    writeln!(w, "  cd {}", out.display())?;
    if commit.is_none() {
        writeln!(
            w,
            "  git init -b {branch} && git add -A && git commit -m \"Platform rendered by socle\""
        )?;
    }
    writeln!(w, "  git remote add origin {}", model.spec.repository.url)?;
    writeln!(w, "  git push -u origin {branch}")?;
    if commit.is_some() {
        // A clone does not fetch refs/socle/*: a teammate's `socle update`
        // needs the pristine render, so it is pushed too.
        writeln!(
            w,
            "  git push origin refs/socle/pristine  # the render `socle update` merges from"
        )?;
    }
    if let Some(first) = model.envs().first() {
        let env = &first.name;
        writeln!(
            w,
            "  # then bootstrap ArgoCD for {env}: see README.md, \"Bootstrap\""
        )?;
    }
    Ok(())
}
