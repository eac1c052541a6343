//! `socle check`: a repository (or an in-memory file set) through the
//! embedded Rego policies and the repository's own.
//!
//! The stages follow the data: files ([`files`]) → parsed documents
//! ([`parse`]) → policy input and evaluation ([`engine`]) → findings, with
//! exceptions applied ([`exceptions`]) → a report ([`report`]).

pub mod argocd;
pub mod catalog;
pub mod engine;
pub mod exceptions;
pub mod files;
pub mod finding;
pub mod parse;
pub mod render;
pub mod report;
pub mod schema;
pub mod testing;

use std::time::Duration;

pub use finding::{Finding, Severity};

/// What a check looked at, and what it found.
#[derive(Debug, Default, serde::Serialize)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub files: usize,
    pub documents: usize,
    /// Files recognised and deliberately not parsed, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl Outcome {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.excepted_by.is_none() && f.severity == severity)
            .count()
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Load Rego files from the repository's `policies/` directory.
    pub local_policies: bool,
    /// Parse repository policies as Rego v0 (conftest's `--rego-version v0`).
    pub rego_v0: bool,
    /// Wall-clock limit of one repository-policy evaluation.
    pub policy_timeout: Duration,
    /// Build each kustomize overlay of this directory and check the result.
    pub render_root: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            local_policies: true,
            rego_v0: false,
            policy_timeout: Duration::from_secs(5),
            render_root: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Policy(#[from] engine::PolicyError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Render(#[from] render::RenderError),
}

/// Check a set of files (relative path → bytes).
pub fn check_files(input: files::Input, options: &Options) -> Result<Outcome, CheckError> {
    let parsed = parse::parse_all(&input.files);
    let mut findings = input.findings;
    findings.extend(parsed.findings);

    findings.extend(schema::validate(&parsed.documents));
    findings.extend(schema::validate_spec(&input.files));

    let embedded = engine::Embedded::load()?;
    findings.extend(embedded.evaluate(&parsed.documents, &parsed.texts, &input.files)?);

    if let Some(root) = &options.render_root {
        for (overlay, rendered) in render::render_all(root, &input.files)? {
            let mut found = schema::validate(&rendered);
            found.extend(embedded.evaluate(&rendered, &[], &input.files)?);
            findings.extend(render::trace(found, &overlay, &rendered, &parsed.documents));
        }
    }

    if options.local_policies {
        let local = engine::Local::load(&input.files, options)?;
        findings.extend(local.evaluate(&parsed.documents));
    }

    // The catalog is the one place an embedded rule's severity is decided.
    let catalog = catalog::Catalog::embedded();
    for f in findings.iter_mut().filter(|f| f.source == "embedded") {
        if catalog.get(&f.rule).is_some() {
            f.severity = catalog.severity(&f.rule);
        }
    }
    let exceptions = exceptions::Exceptions::load(&input.files);
    findings = exceptions.apply(findings, exceptions::today());
    findings.sort_by(|a, b| {
        (&a.file, a.line, &a.rule, &a.message).cmp(&(&b.file, b.line, &b.rule, &b.message))
    });
    findings.dedup_by(|a, b| {
        a.file == b.file && a.line == b.line && a.rule == b.rule && a.message == b.message
    });

    let mut skipped = input.skipped;
    skipped.extend(parsed.skipped);
    skipped.sort();
    Ok(Outcome {
        findings,
        files: input.files.len(),
        documents: parsed.documents.len(),
        skipped,
    })
}
