//! Schema findings on values Flux substitutes before it applies them.
//!
//! A Flux Kustomization with `postBuild` has kustomize-controller replace
//! each `${VAR}` of what it builds (from `substitute`, `substituteFrom`, or
//! the reference's own default, `${VAR:=default}`) before the API server
//! sees it: a component's `name: ${APP}-key` reaches the cluster as
//! `forgejo-key`, and a schema that refuses `$` in names is not what
//! decides. So a schema finding whose value holds such a reference is
//! settled against the Flux Kustomizations that apply the file (it is under
//! their `path` or one of their `components`): gone when each defines every
//! variable the value names; kept otherwise, naming those that leave one
//! undefined (Flux writes an empty string in its place). A file no such
//! Kustomization applies keeps its finding: nothing substitutes it. The
//! variables `substituteFrom` brings are the keys of the ConfigMaps and
//! Secrets it names, read from the tree (a SOPS-encrypted Secret's keys
//! are in the clear); when one of them is not in the tree (made at
//! bootstrap, or by a generator), the Kustomization is taken to define
//! every variable: what it holds cannot be known.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use super::finding::Finding;
use super::parse::Document;

const SCHEMA_RULE: &str = "SOC-SCHEMA-001";

/// The Flux Kustomizations of a tree that substitute variables.
#[derive(Default)]
pub(crate) struct Substituted {
    appliers: Vec<Applier>,
}

struct Applier {
    /// `namespace/name` of the Kustomization, as its finding names it.
    name: String,
    /// The folders it builds: its path, and its components.
    dirs: Vec<String>,
    /// The variables `substitute` defines.
    vars: BTreeSet<String>,
    /// Whether `substituteFrom` brings variables the tree does not show.
    from: bool,
}

/// `${VAR}`, `${VAR:=default}`, `${VAR:-default}`... with the name, and
/// whether a default follows it; `$${VAR}` too, which Flux writes as the
/// literal `${VAR}` (the caller leaves it out).
fn references() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-=+?][^}]*)?\}")
            .unwrap_or_else(|_| unreachable!("the pattern is a constant"))
    })
}

impl Substituted {
    pub(crate) fn of(files: &[(String, Vec<u8>)], documents: &[&Document]) -> Self {
        let tree = super::deployed::Folders::of(files);
        let substituting: Vec<&&Document> = documents
            .iter()
            .filter(|d| {
                super::flux::is_kustomization(&d.value) && d.value["spec"]["postBuild"].is_object()
            })
            .collect();
        // The ConfigMaps and Secrets by name, only for a tree that reads
        // some (every document is looked at).
        let mut sources: std::collections::HashMap<&str, Vec<&Document>> = Default::default();
        if substituting
            .iter()
            .any(|d| d.value["spec"]["postBuild"]["substituteFrom"].is_array())
        {
            for d in documents {
                if let ("v1", Some("ConfigMap" | "Secret"), Some(name)) = (
                    d.value["apiVersion"].as_str().unwrap_or_default(),
                    d.value["kind"].as_str(),
                    d.value["metadata"]["name"].as_str(),
                ) {
                    sources.entry(name).or_default().push(d);
                }
            }
        }
        let appliers = substituting
            .into_iter()
            .map(|d| {
                let spec = &d.value["spec"];
                let path = super::deployed::source_paths(d, &tree)
                    .pop()
                    .unwrap_or_default();
                let mut dirs = vec![path.clone()];
                dirs.extend(
                    spec["components"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(|c| super::system::kustomize::join(&path, c)),
                );
                let post = &spec["postBuild"];
                let meta = &d.value["metadata"];
                let namespace = meta["namespace"].as_str().unwrap_or("flux-system");
                let mut vars: BTreeSet<String> = post["substitute"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                let mut from = false;
                for reference in post["substituteFrom"].as_array().into_iter().flatten() {
                    // In the Kustomization's namespace; a file that names
                    // none takes the one its kustomization gives it.
                    let found: Vec<&&Document> = reference["name"]
                        .as_str()
                        .and_then(|name| sources.get(name))
                        .into_iter()
                        .flatten()
                        .filter(|s| s.value["kind"] == reference["kind"])
                        .filter(|s| {
                            s.value["metadata"]["namespace"]
                                .as_str()
                                .is_none_or(|n| n == namespace)
                        })
                        .collect();
                    if found.is_empty() {
                        from = true;
                    }
                    for source in found {
                        for field in ["data", "stringData"] {
                            if let Some(keys) = source.value[field].as_object() {
                                vars.extend(keys.keys().cloned());
                            }
                        }
                    }
                }
                Applier {
                    name: format!("{namespace}/{}", meta["name"].as_str().unwrap_or("")),
                    dirs,
                    vars,
                    from,
                }
            })
            .collect();
        Self { appliers }
    }

    /// Drop or narrow the schema findings on substituted values.
    pub(crate) fn settle(&self, findings: &mut Vec<Finding>) {
        if !self.appliers.is_empty() {
            findings.retain_mut(|f| self.keeps(f));
        }
    }

    fn keeps(&self, f: &mut Finding) -> bool {
        if f.rule != SCHEMA_RULE || !f.message.contains("${") {
            return true;
        }
        let found: Vec<regex::Captures<'_>> = references()
            .captures_iter(&f.message)
            .filter(|c| !c[0].starts_with("$$"))
            .collect();
        if found.is_empty() {
            return true;
        }
        // The variables the refused value names without a default.
        let needed: BTreeSet<String> = found
            .iter()
            .filter(|c| c.get(2).is_none())
            .map(|c| c[1].to_owned())
            .collect();
        let applying: Vec<&Applier> = self
            .appliers
            .iter()
            .filter(|a| a.dirs.iter().any(|d| super::deployed::under(&f.file, d)))
            .collect();
        if applying.is_empty() {
            return true;
        }
        let short: Vec<String> = applying
            .iter()
            .filter(|a| !a.from)
            .filter_map(|a| {
                let missing: Vec<&str> = needed
                    .iter()
                    .map(String::as_str)
                    .filter(|v| !a.vars.contains(*v))
                    .collect();
                (!missing.is_empty())
                    .then(|| format!("{} (${{{}}})", a.name, missing.join("}, ${")))
            })
            .collect();
        if short.is_empty() {
            return false;
        }
        f.message = format!(
            "{}; Flux substitutes an empty string for what {} leave undefined",
            f.message,
            short.join(", ")
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adjacent references are each read; an escaped one is not a
    /// reference; one with a default needs nothing defined.
    #[test]
    fn the_variables_a_value_needs() {
        let needs = |text: &str| -> Vec<String> {
            references()
                .captures_iter(text)
                .filter(|c| !c[0].starts_with("$$"))
                .filter(|c| c.get(2).is_none())
                .map(|c| c[1].to_owned())
                .collect()
        };
        assert_eq!(needs("${A}${B}-x"), ["A", "B"]);
        assert_eq!(needs("$${C} ${D:=d} ${E:-e} ${F}"), ["F"]);
        assert!(needs("${1X} $G {H}").is_empty());
    }
}
