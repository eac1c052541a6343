//! Findings on files that kustomize rewrites before they are applied.
//!
//! Rules judge each file as written, but what reaches the cluster is what
//! kustomize builds from it. A base that names `image: app` and an overlay
//! whose `images:` entry sets `newTag: 1.2.3` deploys a pinned image:
//! reporting the base as unpinned would fail a correct repository. So an
//! unpinned-image finding on a document kustomize emits is settled against
//! every root that emits it (a kustomization no other one includes, or the
//! folder an Application or Flux Kustomization applies): gone when every
//! root pins the image, kept and naming the roots that leave it unpinned
//! otherwise. A document no kustomization emits keeps its finding. A
//! workload's missing `spec.selector` is settled the same way against the
//! roots' `commonLabels`, which create it, and any missing required field
//! against the fields the roots' namespace transformers are configured to
//! create and those the Flux Kustomizations applying a root write with
//! their own `spec.patches` (see [`super::flux`]).

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::finding::Finding;
use super::flux;
use super::parse::{is_kustomization, Document, Layout};
use super::system::kustomize::{self, transform_image, ImageRule};

const RULE: &str = "SOC-K8S-002";

/// The schema rule, whose missing workload selectors kustomize may create.
const SCHEMA_RULE: &str = "SOC-SCHEMA-001";

/// A document by its file and first line.
type DocKey = (String, usize);

/// What kustomize does to the images and selectors of each document it
/// emits.
#[derive(Default)]
pub(crate) struct Kustomized {
    /// (file, document line) → each root that emits it.
    emitted: HashMap<DocKey, Vec<Through>>,
    /// (file, document line) → the lines of its container images.
    images: HashMap<DocKey, Vec<(usize, String)>>,
    /// Folders applied whole without a kustomization: their files reach
    /// the cluster as written.
    raw_folders: Vec<String>,
    /// Images pinned as written that a root's `images:` un-pins, as
    /// findings on the line that names them.
    floated: Vec<Finding>,
}

/// One root's build of a document: what the kustomizations on its way do
/// to it.
struct Through {
    root: String,
    /// The `images:` rules, innermost first.
    images: Vec<ImageRule>,
    /// Whether one sets labels on selectors (see
    /// [`kustomize::sets_selector_labels`]).
    selects: bool,
    /// The fields their namespace transformers create (see
    /// [`kustomize::Emitted::creates`]), and those the Flux Kustomizations
    /// applying the root write with their own patches.
    creates: Vec<String>,
}

/// What a range remembers of each root's build from one version to the
/// next: the documents it emits (by place) with what the kustomizations
/// on their way do to them, kept while the tree lists the same files and
/// the files the build read are the same versions. Building every root
/// again was a third of a commit's check on a Flux repository of 185
/// kustomizations, where a commit changes one file.
#[derive(Default)]
pub(crate) struct Memo {
    /// The digest of the tree's file list the roots were built from: a
    /// build reads which files exist (a kustomization's resources, a
    /// folder's `kustomization.yaml`), which no version records.
    listing: String,
    roots: HashMap<String, Built>,
    /// Each emitted document's container images and resource, with the
    /// version of its file they were read from.
    documents: HashMap<DocKey, ReadOf>,
}

/// What is read of an emitted document: its file's version, its container
/// images (line and name) and its resource.
type ReadOf = (String, Vec<(usize, String)>, Option<String>);

/// One root's build: the key of what it read, and what it emitted.
struct Built {
    read: Vec<String>,
    key: String,
    objects: Vec<Kept>,
}

/// One document a root emits, and what happens to it on the way.
#[derive(Clone)]
struct Kept {
    doc: DocKey,
    images: Vec<ImageRule>,
    selects: bool,
    creates: Vec<String>,
}

/// The digest of the versions of `read`.
fn key_of<'p>(read: impl Iterator<Item = &'p str>, versions: &HashMap<String, String>) -> String {
    let mut text = String::new();
    for path in read {
        text.push_str(path);
        text.push(' ');
        text.push_str(versions.get(path).map_or("", String::as_str));
        text.push('\n');
    }
    crate::git::digest(text.as_bytes())
}

/// What `root` emits: remembered in `memo` while what its build read is
/// unchanged, else built now (and remembered, unless the build read every
/// file).
fn built(
    model: &kustomize::Files,
    root: &str,
    memo: Option<(&mut Memo, &HashMap<String, String>)>,
) -> Vec<Kept> {
    let kept = |objects: Vec<kustomize::Emitted>| -> Vec<Kept> {
        objects
            .into_iter()
            .filter_map(|o| {
                let doc = o.doc?;
                Some(Kept {
                    doc: (doc.path.clone(), doc.line),
                    images: o.images,
                    selects: o.selects,
                    creates: o.creates,
                })
            })
            .collect()
    };
    let Some((memo, versions)) = memo else {
        return kept(kustomize::build(model, root).objects);
    };
    if let Some(b) = memo.roots.get(root) {
        if key_of(b.read.iter().map(String::as_str), versions) == b.key {
            return b.objects.clone();
        }
    }
    let (build, read, all) = model.nested(|| kustomize::build(model, root));
    let objects = kept(build.objects);
    if all {
        memo.roots.remove(root);
    } else {
        memo.roots.insert(
            root.to_owned(),
            Built {
                key: key_of(read.iter().copied(), versions),
                read: read.iter().map(|p| (*p).to_owned()).collect(),
                objects: objects.clone(),
            },
        );
    }
    objects
}

/// The workload kinds whose `spec.selector.matchLabels` kustomize's
/// commonLabels create where it is missing.
const SELECTED: [&str; 4] = ["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"];

impl Kustomized {
    /// Nothing to settle unless some kustomization rewrites images or sets
    /// labels on selectors.
    pub(crate) fn of(
        files: &[(String, Vec<u8>)],
        documents: &[&Document],
        layout: &Layout,
        mut memo: Option<(&mut Memo, &HashMap<String, String>)>,
    ) -> Self {
        let rewrites = documents.iter().any(|d| {
            (is_kustomization(&d.path)
                && (d.value.get("images").is_some()
                    || kustomize::sets_selector_labels(&d.value)
                    || d.value.get("configurations").is_some()))
                || (flux::is_kustomization(&d.value) && d.value["spec"]["patches"].is_array())
        });
        if !rewrites {
            return Self::default();
        }
        let mut docs: HashMap<&str, Vec<&Document>> = HashMap::new();
        for d in documents {
            docs.entry(d.path.as_str()).or_default().push(d);
        }
        let model = kustomize::Files::new(
            files
                .iter()
                .map(|(p, b)| (p.as_str(), b.as_slice()))
                .collect(),
            docs,
            HashMap::new(),
        );
        let dir_of = |p: &str| p.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
        let mut roots: BTreeSet<String> = files
            .iter()
            .filter(|(p, _)| is_kustomization(p))
            .map(|(p, _)| dir_of(p))
            .filter(|d| !layout.listed.contains(d))
            .collect();
        let mut raw_folders = Vec::new();
        // Each root's Flux Kustomizations, by what their own patches write.
        let mut by_flux: HashMap<String, Vec<Option<Vec<flux::Patch>>>> = HashMap::new();
        let tree = super::deployed::Folders::of(files);
        for d in documents {
            for folder in super::deployed::source_paths(d, &tree) {
                if flux::is_kustomization(&d.value) {
                    by_flux
                        .entry(folder.clone())
                        .or_default()
                        .push(flux::patches(d));
                }
                if kustomize::kustomization_file(&model, &folder).is_some() {
                    roots.insert(folder);
                } else {
                    raw_folders.push(folder);
                }
            }
        }
        let mut out = Self {
            raw_folders,
            ..Self::default()
        };
        if let Some((memo, _)) = &mut memo {
            let mut paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
            paths.sort_unstable();
            let listing = crate::git::digest(paths.join("\n").as_bytes());
            if memo.listing != listing {
                memo.roots.clear();
                memo.documents.clear();
                memo.listing = listing;
            }
            memo.roots.retain(|root, _| roots.contains(root));
        }
        let mut resources: HashMap<DocKey, Option<String>> = HashMap::new();
        for root in &roots {
            for mut o in built(&model, root, memo.as_mut().map(|(m, v)| (&mut **m, &**v))) {
                let Some(doc) = model.doc_at(&o.doc.0, o.doc.1) else {
                    continue;
                };
                // The fields every Flux Kustomization applying the root
                // writes on the object with its own patches.
                if let Some(appliers) = by_flux.get(root) {
                    let written = |a: &Option<Vec<flux::Patch>>| -> BTreeSet<String> {
                        a.iter()
                            .flatten()
                            .flat_map(|p| p.writes(doc))
                            .cloned()
                            .collect()
                    };
                    let mut all = appliers.iter().map(written);
                    if let Some(first) = all.next() {
                        let common = all.fold(first, |acc, w| &acc & &w);
                        o.creates.extend(common);
                    }
                }
                let key = (doc.path.clone(), doc.line);
                if !out.images.contains_key(&key) {
                    let (images, resource) = match &mut memo {
                        Some((memo, versions)) => {
                            let version = versions.get(&doc.path).cloned().unwrap_or_default();
                            let read = memo.documents.get(&key).filter(|d| d.0 == version);
                            match read {
                                Some((_, images, resource)) => (images.clone(), resource.clone()),
                                None => {
                                    let read = (container_images(doc), doc.resource());
                                    memo.documents.insert(
                                        key.clone(),
                                        (version, read.0.clone(), read.1.clone()),
                                    );
                                    read
                                }
                            }
                        }
                        None => (container_images(doc), doc.resource()),
                    };
                    resources.insert(key.clone(), resource);
                    out.images.insert(key.clone(), images);
                }
                out.emitted.entry(key).or_default().push(Through {
                    root: root.clone(),
                    images: o.images,
                    selects: o.selects,
                    creates: o.creates,
                });
            }
        }
        // Documents that moved or went leave their entries: pruned when
        // they outnumber the current ones.
        if let Some((memo, _)) = &mut memo {
            if memo.documents.len() > 2 * out.images.len() + 64 {
                memo.documents.retain(|key, _| out.images.contains_key(key));
            }
        }
        // The other way round: a pinned image an overlay sets to `latest`
        // (or to no tag) is deployed floating, though every file looks
        // pinned.
        for (key, roots) in &out.emitted {
            for (line, image) in out.images.get(key).into_iter().flatten() {
                if !pinned(image) {
                    continue;
                }
                let mut floated: BTreeSet<(String, String)> = BTreeSet::new();
                for Through { root, images, .. } in roots {
                    let built = transform_image(image, images);
                    if !pinned(&built) {
                        floated.insert((
                            if root.is_empty() {
                                ".".into()
                            } else {
                                root.clone()
                            },
                            built,
                        ));
                    }
                }
                if floated.is_empty() {
                    continue;
                }
                let shown: Vec<String> = floated
                    .iter()
                    .map(|(root, built)| format!("{root} ({built})"))
                    .collect();
                let mut f = Finding::new(
                    RULE,
                    super::finding::Severity::Deny,
                    &key.0,
                    Some(*line),
                    format!(
                        "image {image:?} is pinned here, but kustomize's images: un-pins it in {}; pin an explicit tag or digest, never latest",
                        shown.join(", ")
                    ),
                );
                f.resource = resources.get(key).cloned().flatten();
                out.floated.push(f);
            }
        }
        out.floated
            .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        out
    }

    /// Drop or narrow the unpinned-image findings kustomize settles.
    pub(crate) fn settle(&self, findings: &mut Vec<Finding>) {
        if self.emitted.is_empty() {
            return;
        }

        findings.retain_mut(|f| {
            if self.applied_raw(&f.file) {
                return true;
            }
            if f.rule == SCHEMA_RULE {
                return self.keeps_missing_field(f);
            }
            if f.rule != RULE {
                return true;
            }
            let (Some(line), Some((key, roots))) = (f.line, self.document_of(f)) else {
                return true;
            };
            let Some(image) = self
                .images
                .get(key)
                .and_then(|list| list.iter().find(|(l, _)| *l == line))
                .map(|(_, image)| image)
            else {
                return true;
            };
            let unpinned: Vec<&str> = roots
                .iter()
                .filter(|t| !pinned(&transform_image(image, &t.images)))
                .map(|t| t.root.as_str())
                .collect();
            if unpinned.is_empty() {
                return false;
            }
            if unpinned.len() < roots.len() {
                let shown: Vec<&str> = unpinned
                    .iter()
                    .map(|r| if r.is_empty() { "." } else { r })
                    .collect();
                f.message = format!(
                    "{}; kustomize leaves it unpinned in {} (the other overlays' images: pin it)",
                    f.message,
                    shown.join(", ")
                );
            }
            true
        });
        findings.extend(self.floated.iter().cloned());
    }

    /// The document holding finding `f`, and the roots that emit it: the
    /// last document starting at or before its line.
    fn document_of(&self, f: &Finding) -> Option<(&DocKey, &Vec<Through>)> {
        let line = f.line?;
        self.emitted
            .iter()
            .filter(|((file, start), _)| *file == f.file && *start <= line)
            .max_by_key(|((_, start), _)| *start)
    }

    /// A required field missing in its file is there once built when every
    /// root that emits the document creates it: a workload's
    /// `spec.selector` from a kustomization setting labels on selectors
    /// (kustomize creates `matchLabels` from those labels, and puts them on
    /// the pod template too), a field a kustomization's namespace
    /// transformer is configured to create (`configurations:`, a webhook's
    /// service namespace), a field the Flux Kustomizations applying the
    /// root patch in (a child Kustomization's `interval`). Kept, naming the
    /// roots that leave it missing, when some do not.
    fn keeps_missing_field(&self, f: &mut Finding) -> bool {
        let Some((kind, field)) = missing_field(&f.message) else {
            return true;
        };
        let selector = field == "spec/selector" && SELECTED.contains(&kind);
        let Some((_, roots)) = self.document_of(f) else {
            return true;
        };
        let left: Vec<&str> = roots
            .iter()
            .filter(|t| !(t.creates.contains(&field) || selector && t.selects))
            .map(|t| {
                if t.root.is_empty() {
                    "."
                } else {
                    t.root.as_str()
                }
            })
            .collect();
        if left.is_empty() {
            return false;
        }
        if left.len() < roots.len() {
            f.message = format!(
                "{}; kustomize leaves it missing in {} (the other roots' {} create it)",
                f.message,
                left.join(", "),
                if selector {
                    "commonLabels"
                } else {
                    "kustomizations"
                }
            );
        }
        true
    }

    fn applied_raw(&self, path: &str) -> bool {
        self.raw_folders
            .iter()
            .any(|f| super::deployed::under(path, f))
    }
}

/// The kind and the field (as kustomize writes field paths, without list
/// indexes) of a "required property" schema finding:
/// `MutatingWebhookConfiguration webhooks[0].clientConfig.service:
/// "namespace" is a required property` gives `webhooks/clientConfig/service/namespace`.
fn missing_field(message: &str) -> Option<(&str, String)> {
    let (kind, rest) = message.split_once(' ')?;
    let (parent, rest) = rest.split_once(": \"")?;
    // What follows says which schema refused it (a bundled one's release).
    let (property, _) = rest.split_once("\" is a required property")?;
    let mut field: Vec<&str> = Vec::new();
    if parent != "(document)" {
        for part in parent.split('.') {
            field.push(part.split_once('[').map_or(part, |(name, _)| name));
        }
    }
    field.push(property);
    Some((kind, field.join("/")))
}

/// The image of every container of a document, with its line.
fn container_images(doc: &Document) -> Vec<(usize, String)> {
    fn walk(v: &Value, path: &mut Vec<Value>, doc: &Document, out: &mut Vec<(usize, String)>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let containers = matches!(
                        k.as_str(),
                        "containers" | "initContainers" | "ephemeralContainers"
                    );
                    path.push(Value::from(k.as_str()));
                    if let (true, Value::Array(items)) = (containers, child) {
                        for (i, c) in items.iter().enumerate() {
                            if let Some(image) = c.get("image").and_then(Value::as_str) {
                                path.push(Value::from(i));
                                path.push(Value::from("image"));
                                out.push((doc.line_of(path), image.to_owned()));
                                path.truncate(path.len() - 2);
                            }
                        }
                    } else if path.len() < 16 {
                        walk(child, path, doc, out);
                    }
                    path.pop();
                }
            }
            Value::Array(items) if path.len() < 16 => {
                for (i, child) in items.iter().enumerate() {
                    path.push(Value::from(i));
                    walk(child, path, doc, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&doc.value, &mut Vec::new(), doc, &mut out);
    out
}

/// The embedded rule's notion of a pinned image: a digest, or a tag that
/// is not `latest`.
fn pinned(image: &str) -> bool {
    if image.contains("@sha256:") {
        return true;
    }
    if image.contains('@') {
        return false;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => !tag.is_empty() && tag != "latest" && !tag.contains(':'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::pinned;

    #[test]
    fn pinned_agrees_with_the_rule() {
        for (image, expected) in [
            ("app:1.2.3", true),
            ("app@sha256:ab", true),
            ("registry:5000/app:1", true),
            ("app", false),
            ("app:latest", false),
            ("registry:5000/app", false),
            ("app@md5:x", false),
        ] {
            assert_eq!(pinned(image), expected, "{image}");
        }
    }
}
