//! The system simulation: each environment modelled as ArgoCD, the API
//! server and the components would see it, then judged by the system rules
//! (`policies/system.rego`).
//!
//! Stages, one module each: the repository's Applications followed from
//! each bootstrap Application, with what each creates ([`build`], with
//! [`kustomize`] for kustomize sources and the chart facts for charts) →
//! the links between components and the network ([`wiring`], [`network`])
//! → the [`input`] the Rego rules read → findings.

pub mod graph;
pub mod input;

pub(crate) mod build;
pub(crate) mod kustomize;
pub(crate) mod needs;
pub(crate) mod network;
pub(crate) mod project;
pub(crate) mod wiring;

use std::collections::HashMap;

use serde_json::Value;

use super::engine::{Embedded, PolicyError};
use super::finding::{Finding, Severity};
use super::parse::Document;
use crate::core::charts::ChartFacts;

pub use input::System;

const RULE: &str = "data.socle.system.result";

/// The model of every environment of a repository.
pub fn model(docs: &[&Document], files: &[(String, Vec<u8>)], facts: &ChartFacts) -> Vec<System> {
    let repo = build::Repository::new(docs, files, facts);
    repo.systems()
        .into_iter()
        .map(|mut m| {
            wiring::resolve(&mut m, &repo.files);
            needs::resolve(&mut m.system);
            project::judge(&mut m.system);
            m.system
        })
        .collect()
}

/// The model of a set of files (a repository's, or a rendered one in memory).
pub fn model_files(files: &[(String, Vec<u8>)]) -> Vec<System> {
    let parsed = super::parse::parse_all(files);
    let docs: Vec<&Document> = parsed.documents.iter().collect();
    model(&docs, files, &ChartFacts::embedded())
}

/// The objects `kustomize build DIR` emits, as the model sees them
/// (kind, name, namespace), with what it could not follow. Exposed so
/// that the model can be compared with kustomize itself.
pub fn kustomize_identities(
    files: &[(String, Vec<u8>)],
    dir: &str,
) -> (Vec<(String, String, String)>, Vec<String>) {
    let parsed = super::parse::parse_all(files);
    let docs: Vec<&Document> = parsed.documents.iter().collect();
    let facts = ChartFacts::embedded();
    let repo = build::Repository::new(&docs, files, &facts);
    let b = kustomize::build(&repo.files, dir);
    let objects = b
        .objects
        .iter()
        .map(|o| {
            (
                o.kind.clone(),
                o.name.clone(),
                o.namespace.clone().unwrap_or_default(),
            )
        })
        .collect();
    (objects, b.gaps.into_iter().map(|g| g.message).collect())
}

/// What the simulation found, and what it could not model.
#[derive(Debug, Default, Clone)]
pub struct Simulated {
    pub findings: Vec<Finding>,
    /// `environment: message (file:line)`, for the report's summary.
    pub not_modelled: Vec<String>,
}

/// Models the repository and judges each environment. Each environment's
/// findings are remembered by the digest of its input, so a range check
/// pays the rules only for environments a commit changed.
pub fn evaluate(
    embedded: &Embedded,
    docs: &[&Document],
    files: &[(String, Vec<u8>)],
    facts: &ChartFacts,
    memo: &mut HashMap<String, Vec<Finding>>,
) -> Result<Simulated, PolicyError> {
    let mut out = Simulated::default();
    let places: HashMap<(&str, usize), &Document> = docs
        .iter()
        .map(|d| ((d.path.as_str(), d.line), *d))
        .collect();
    let systems = model(docs, files, facts);
    for system in systems {
        for gap in &system.not_modelled {
            out.not_modelled.push(format!(
                "{}: {} ({}:{}, Application {})",
                system.environment, gap.message, gap.at.file, gap.at.line, gap.app
            ));
        }
        let input = serde_json::to_string(&system).map_err(|e| PolicyError::Eval(e.to_string()))?;
        let key = crate::git::blob_id(input.as_bytes());
        if let Some(found) = memo.get(&key) {
            out.findings.extend(found.iter().cloned());
            continue;
        }
        let result = embedded.evaluate_rule_json(RULE, &input)?;
        let found = findings(&result, &places);
        memo.insert(key, found.clone());
        out.findings.extend(found);
    }
    out.not_modelled.sort();
    out.not_modelled.dedup();
    Ok(out)
}

/// Findings of a result; a finding at a field of a document gets that
/// field's line.
fn findings(result: &Value, places: &HashMap<(&str, usize), &Document>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (key, severity) in [("deny", Severity::Deny), ("warn", Severity::Warn)] {
        for item in result[key].as_array().into_iter().flatten() {
            let file = item["file"].as_str().unwrap_or_default();
            let line = item["line"].as_u64().map(|l| l as usize).filter(|l| *l > 0);
            let pointer = item["pointer"].as_str().unwrap_or_default();
            let doc = line.and_then(|l| places.get(&(file, l)));
            let line = match doc {
                Some(d) => Some(d.line_at(pointer)),
                None => line,
            };
            let mut f = Finding::new(
                item["id"].as_str().unwrap_or("SOC-UNKNOWN"),
                severity,
                file,
                line,
                item["msg"].as_str().unwrap_or_default(),
            );
            f.resource = doc.and_then(|d| d.resource());
            out.push(f);
        }
    }
    out
}
