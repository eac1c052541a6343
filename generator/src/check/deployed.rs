//! Which files of a repository something deploys.
//!
//! A file that does not parse is a denial when it could reach a cluster:
//! nothing can show it safe. Repositories also hold files no tool applies
//! (editor settings with comments, Ansible's Jinja templates under a `.yaml`
//! name); denying those would fail correct repositories, so they are
//! skipped, with the reason, when the repository says what it deploys.
//!
//! A file may be deployed when
//! - the repository has no kustomization and no GitOps object naming a
//!   path: nothing says what is applied (`kubectl apply -f` on any folder),
//!   so every file may be;
//! - the repository was written by socle (`socle.lock`): its DBT project,
//!   DAGs and notes are consumed by the platform even where no kustomization
//!   lists them;
//! - a kustomization lists it, or it is a kustomization (`kubectl apply
//!   -k`), unless it holds template syntax and nothing lists or applies it:
//!   a scaffold's template (`name: {{ .app_name }}-values`);
//! - it lies under the path of an ArgoCD Application or ApplicationSet
//!   source, or of a Flux Kustomization (which apply whole folders);
//! - it is Terraform (`.tf`, `.tfvars`): `terraform apply` reads such files
//!   of its folder, and no GitOps object says which folders that is.

use std::collections::BTreeSet;

use serde_json::Value;

use super::flux;
use super::parse::{is_kustomization, Document, Layout};

pub(crate) struct Deployed<'a> {
    everything: bool,
    listed: &'a BTreeSet<String>,
    /// Folders applied whole, without a trailing `/` ("" is the root).
    folders: BTreeSet<String>,
    /// Kustomizations holding template syntax that nothing lists or
    /// applies: a scaffold's (`name: {{ .app_name }}-values`), rendered
    /// into a new app's folder before anything builds it.
    templates: BTreeSet<String>,
}

impl<'a> Deployed<'a> {
    /// What `files` deploy, the folders being [`folders`]'s.
    pub(crate) fn with(
        files: &[(String, Vec<u8>)],
        layout: &'a Layout,
        folders: BTreeSet<String>,
    ) -> Self {
        let socle_made = socle_made(files);
        let kustomizations = files.iter().any(|(p, _)| is_kustomization(p));
        let everything = socle_made || (folders.is_empty() && !kustomizations);
        let templates = if everything {
            BTreeSet::new()
        } else {
            files
                .iter()
                .filter(|(p, bytes)| {
                    let dir = p.rsplit_once('/').map_or("", |(d, _)| d);
                    is_kustomization(p)
                        && !layout.listed.contains(dir)
                        && !folders.iter().any(|f| under(p, f))
                        && bytes.windows(2).any(|w| w == b"{{")
                })
                .map(|(p, _)| p.clone())
                .collect()
        };
        Self {
            everything,
            listed: &layout.listed,
            folders,
            templates,
        }
    }

    pub(crate) fn may_deploy(&self, path: &str) -> bool {
        self.everything
            || self.listed.contains(path)
            || (is_kustomization(path) && !self.templates.contains(path))
            || path.ends_with(".tf")
            || path.ends_with(".tfvars")
            || self.folders.iter().any(|f| under(path, f))
    }
}

/// Whether `path` is in folder `dir` or below it ("" is the root).
pub(crate) fn under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether socle wrote the tree (it holds `socle.lock`): such a repository
/// deploys all it holds, and its platform rules apply.
pub(crate) fn socle_made(files: &[(String, Vec<u8>)]) -> bool {
    files.iter().any(|(p, _)| p == crate::lock::PATH)
}

/// The folders the GitOps objects of `docs` apply whole.
pub(crate) fn folders(files: &[(String, Vec<u8>)], docs: &[&Document]) -> BTreeSet<String> {
    // A repository socle made deploys everything it holds: its
    // Applications' folders are not read (every document of every commit
    // of a range would be).
    if socle_made(files) {
        return BTreeSet::new();
    }
    let tree = Folders::of(files);
    docs.iter().flat_map(|d| source_paths(d, &tree)).collect()
}

/// The folders of a tree that hold files, found once when first asked.
pub(crate) struct Folders<'a> {
    files: &'a [(String, Vec<u8>)],
    held: std::cell::OnceCell<std::collections::HashSet<&'a str>>,
}

impl<'a> Folders<'a> {
    pub(crate) fn of(files: &'a [(String, Vec<u8>)]) -> Self {
        Self {
            files,
            held: std::cell::OnceCell::new(),
        }
    }

    /// Whether a file lies in `dir` or below it ("" is the root).
    fn hold(&self, dir: &str) -> bool {
        dir.is_empty()
            || self
                .held
                .get_or_init(|| {
                    let mut held = std::collections::HashSet::new();
                    for (path, _) in self.files {
                        let mut p = path.as_str();
                        while let Some((parent, _)) = p.rsplit_once('/') {
                            if !held.insert(parent) {
                                break;
                            }
                            p = parent;
                        }
                    }
                    held
                })
                .contains(dir)
    }
}

/// Whether `doc` is a GitOps object that applies folders whole.
pub(crate) fn applies_folders(doc: &Document) -> bool {
    !named_paths(doc).is_empty()
}

/// The repository folders a GitOps object of `tree` applies whole.
pub(crate) fn source_paths(doc: &Document, tree: &Folders<'_>) -> Vec<String> {
    let paths = named_paths(doc);
    if flux::is_kustomization(&doc.value) {
        paths
            .into_iter()
            .map(|p| artifact_folder(p, &doc.path, tree))
            .collect()
    } else {
        paths
    }
}

/// The repository folder a Flux Kustomization declared in `file` names
/// with `path`.
///
/// Its path is relative to its source's artifact: the repository's root for
/// a GitRepository, but a subfolder for an OCIRepository pushed from one
/// (`flux push artifact --path=./kubernetes`), which the repository does
/// not record. A Kustomization that reconciles its own cluster lies in the
/// artifact it reads, so the path is read from the root when files lie
/// under it there, else from the nearest folder above `file` under which
/// it names a folder holding files; else from the root, as written.
fn artifact_folder(path: String, file: &str, tree: &Folders<'_>) -> String {
    if tree.hold(&path) {
        return path;
    }
    let mut dir = file;
    while let Some((parent, _)) = dir.rsplit_once('/') {
        let candidate = format!("{parent}/{path}");
        if tree.hold(&candidate) {
            return candidate;
        }
        dir = parent;
    }
    path
}

/// The paths a GitOps object names, as written (normalised).
fn named_paths(doc: &Document) -> Vec<String> {
    let api = doc
        .value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let spec = doc.value.get("spec");
    let mut raw: Vec<&str> = Vec::new();
    match (api.split('/').next().unwrap_or(""), doc.kind()) {
        ("argoproj.io", "Application") => sources(spec, &mut raw),
        ("argoproj.io", "ApplicationSet") => sources(
            spec.and_then(|s| s.get("template"))
                .and_then(|t| t.get("spec")),
            &mut raw,
        ),
        ("kustomize.toolkit.fluxcd.io", "Kustomization") => {
            raw.extend(spec.and_then(|s| s.get("path")).and_then(Value::as_str));
        }
        _ => {}
    }
    raw.into_iter().map(normalise).collect()
}

fn sources<'v>(spec: Option<&'v Value>, out: &mut Vec<&'v str>) {
    let Some(spec) = spec else { return };
    let one = spec.get("source").into_iter();
    let many = spec
        .get("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for source in one.chain(many) {
        // A chart from a Helm repository has no path in this repository.
        if source.get("chart").is_none() {
            out.extend(source.get("path").and_then(Value::as_str));
        }
    }
}

/// `./apps/x/` → `apps/x`; `.` and `./` → the root.
pub(crate) fn normalise(path: &str) -> String {
    let mut p = path.trim();
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    let p = p.trim_end_matches('/');
    if p == "." {
        String::new()
    } else {
        p.to_owned()
    }
}
