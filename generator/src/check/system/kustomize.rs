//! What `kustomize build` emits for a directory, modelled in Rust: the
//! objects (kind, name, namespace) with the file and line each comes from.
//!
//! Why a model rather than running kustomize: `socle check` runs in CI
//! images and pre-commit hooks that have no kubectl, on every commit of a
//! range, and must point each object at the line that declares it, which
//! kustomize's output has lost. The model covers what decides an object's
//! identity — resources, components, generators (with kustomize's name
//! hash), `namespace`, name prefixes and suffixes, delete patches — and a
//! test compares it with `kubectl kustomize` on every kustomization socle
//! renders. What it does not model (remote bases, Helm charts inflated by
//! kustomize, a missing file) is reported, never guessed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::check::parse::Document;
use crate::core::charts::Scope;
use crate::core::kinds;

/// The repository as the model reads it.
pub(crate) struct Files<'a> {
    /// Every file: which exist is read here; contents through [`Files::content`].
    pub(crate) bytes: BTreeMap<&'a str, &'a [u8]>,
    /// The files whose contents the model read (see [`Files::content`]).
    pub(crate) read: Mutex<BTreeSet<&'a str>>,
    /// Documents by file, read through [`Files::docs_of`] and
    /// [`Files::doc_at`] so that what a part of the model reads is known.
    docs: HashMap<&'a str, Vec<&'a Document>>,
    /// Scopes of custom kinds, from the CRDs known to the model.
    pub(crate) custom_scopes: HashMap<(String, String), Scope>,
    /// The files whose documents or contents were read since the last
    /// [`Files::take_touched`], and whether a part read every file: the
    /// first level, then one per part nested in it ([`Files::nested`]),
    /// each noting what it and its own nested parts read.
    touched: Mutex<Vec<Touched<'a>>>,
}

/// What one level of [`Files::touched`] noted.
#[derive(Default)]
struct Touched<'a> {
    paths: BTreeSet<&'a str>,
    all: bool,
}

impl<'a> Files<'a> {
    pub(crate) fn new(
        bytes: BTreeMap<&'a str, &'a [u8]>,
        docs: HashMap<&'a str, Vec<&'a Document>>,
        custom_scopes: HashMap<(String, String), Scope>,
    ) -> Self {
        Files {
            bytes,
            read: Mutex::default(),
            docs,
            custom_scopes,
            touched: Mutex::new(vec![Touched::default()]),
        }
    }

    /// Notes `paths` (and, with `all`, every file) as read, at every
    /// open level.
    fn note(&self, paths: impl IntoIterator<Item = &'a str> + Clone, all: bool) {
        if let Ok(mut levels) = self.touched.lock() {
            for level in levels.iter_mut() {
                level.paths.extend(paths.clone());
                level.all |= all;
            }
        }
    }

    fn touch(&self, path: &'a str) {
        self.note([path], false);
    }

    /// `part()`, and the files it read (and whether that was every file),
    /// which are noted as read by the enclosing part too.
    pub(crate) fn nested<T>(&self, part: impl FnOnce() -> T) -> (T, BTreeSet<&'a str>, bool) {
        if let Ok(mut levels) = self.touched.lock() {
            levels.push(Touched::default());
        }
        let out = part();
        let level = self
            .touched
            .lock()
            .ok()
            .and_then(|mut levels| (levels.len() > 1).then(|| levels.pop()).flatten())
            .unwrap_or_default();
        (out, level.paths, level.all)
    }

    /// What was read since the last call, and whether that was every file.
    pub(crate) fn take_touched(&self) -> (BTreeSet<&'a str>, bool) {
        let first = self
            .touched
            .lock()
            .ok()
            .and_then(|mut levels| levels.first_mut().map(std::mem::take))
            .unwrap_or_default();
        (first.paths, first.all)
    }

    /// Notes files as read since the last [`Files::take_touched`]: what a
    /// remembered result read when it was made.
    pub(crate) fn note_touched(&self, paths: BTreeSet<&'a str>, all: bool) {
        self.note(paths.iter().copied(), all);
    }

    /// A file's contents, noted as read: a remembered model is reused only
    /// while the files it read are unchanged, so a file the model never
    /// reads (a README) can change without modelling the repository again.
    pub(crate) fn content(&self, path: &str) -> Option<&'a [u8]> {
        let (key, bytes) = self.bytes.get_key_value(path)?;
        if let Ok(mut read) = self.read.lock() {
            read.insert(*key);
        }
        self.touch(key);
        Some(*bytes)
    }

    /// Whether some part of the model read this file whole.
    pub(crate) fn read_whole(&self, path: &str) -> bool {
        self.read.lock().is_ok_and(|r| r.contains(path))
    }

    /// Notes `path` as read whole (by a model remembered from an earlier
    /// version, which read it then).
    pub(crate) fn note_read_whole(&self, path: &'a str) {
        if let Ok(mut r) = self.read.lock() {
            r.insert(path);
        }
    }

    /// The documents of a file, noted as read: a file that has none (it
    /// does not parse, or is empty) is read too, as having none.
    pub(crate) fn docs_of(&self, path: &str) -> Option<&Vec<&'a Document>> {
        if let Some((key, _)) = self.bytes.get_key_value(path) {
            self.touch(key);
        }
        self.docs.get(path)
    }

    /// Every file's documents: whoever reads them reads every file.
    pub(crate) fn all_docs(&self) -> impl Iterator<Item = (&&'a str, &Vec<&'a Document>)> {
        self.note([], true);
        self.docs.iter()
    }

    pub(crate) fn is_dir(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.bytes
            .range(prefix.as_str()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(&prefix))
    }

    /// The document that starts at `line` of `file`, noted as read.
    pub(crate) fn doc_at(&self, file: &str, line: usize) -> Option<&'a Document> {
        self.docs_of(file)
            .and_then(|d| d.iter().copied().find(|d| d.line == line))
    }

    pub(crate) fn scope(&self, api_version: &str, kind: &str) -> Option<Scope> {
        let group = kinds::group_of(api_version);
        kinds::built_in_scope(group, kind).or_else(|| {
            self.custom_scopes
                .get(&(group.to_owned(), kind.to_owned()))
                .copied()
        })
    }
}

/// One object of the build.
#[derive(Debug, Clone)]
pub(crate) struct Emitted<'a> {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
    /// Where it is declared: a document, or a generator entry.
    pub(crate) doc: Option<&'a Document>,
    pub(crate) file: String,
    pub(crate) line: usize,
    /// The generated object (generators only; documents have theirs).
    pub(crate) generated: Option<Value>,
    /// The object once the JSON 6902 patches of the kustomizations it
    /// passed through changed its content (an overlay's storage class).
    pub(crate) patched: Option<Value>,
    /// The `images:` entries of the kustomizations it passed through, the
    /// innermost first (the order kustomize applies them in).
    pub(crate) images: Vec<ImageRule>,
    /// Whether a kustomization it passed through sets labels on selectors
    /// (`commonLabels`, or `labels` with `includeSelectors: true`), which
    /// creates a workload's `spec.selector.matchLabels` where it has none.
    pub(crate) selects: bool,
    /// The fields a kustomization's namespace transformer creates on it,
    /// beyond kustomize's own (`webhooks/clientConfig/service/namespace`
    /// from its `configurations:`), as kustomize writes field paths.
    pub(crate) creates: Vec<String>,
}

/// One `images:` entry of a kustomization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRule {
    pub(crate) name: String,
    pub(crate) new_name: Option<String>,
    pub(crate) new_tag: Option<String>,
    pub(crate) digest: Option<String>,
}

impl ImageRule {
    fn of(entry: &Value) -> Option<Self> {
        let field = |k: &str| match &entry[k] {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            // `newTag: 1.2` reads as a number; kustomize takes its text.
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        Some(Self {
            name: field("name")?,
            new_name: field("newName"),
            new_tag: field("newTag"),
            digest: field("digest"),
        })
    }

    /// `image` after this rule, as kustomize's image transformer writes it:
    /// a rule matches the image's name (without tag or digest); a digest
    /// replaces tag and digest, a new tag replaces both, a new name keeps
    /// what the image had.
    pub(crate) fn apply(&self, image: &str) -> Option<String> {
        let (name, rest) = split_image(image);
        if name != self.name {
            return None;
        }
        let name = self.new_name.as_deref().unwrap_or(name);
        Some(match (&self.digest, &self.new_tag) {
            (Some(d), _) => format!("{name}@{d}"),
            (None, Some(t)) => format!("{name}:{t}"),
            (None, None) => format!("{name}{rest}"),
        })
    }
}

/// `registry:5000/app:1.2@sha256:…` → (`registry:5000/app`, `:1.2@sha256:…`).
fn split_image(image: &str) -> (&str, &str) {
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    let cut = image[last_slash..]
        .find([':', '@'])
        .map_or(image.len(), |i| last_slash + i);
    image.split_at(cut)
}

/// `image` as the kustomization chain `rules` leaves it.
pub(crate) fn transform_image(image: &str, rules: &[ImageRule]) -> String {
    let mut image = image.to_owned();
    for rule in rules {
        if let Some(changed) = rule.apply(&image) {
            image = changed;
        }
    }
    image
}

impl Emitted<'_> {
    pub(crate) fn value(&self) -> Option<&Value> {
        self.patched
            .as_ref()
            .or(self.doc.map(|d| &d.value))
            .or(self.generated.as_ref())
    }

    /// One JSON 6902 operation on the object's content (`add`, `replace`,
    /// `remove`); an operation whose path does not resolve changes nothing
    /// (kustomize would refuse the build, which `--render` reports).
    fn patch(&mut self, op: &Value) {
        let (Some(verb), Some(path)) = (op["op"].as_str(), op["path"].as_str()) else {
            return;
        };
        let Some(mut v) = self.value().cloned() else {
            return;
        };
        let (parent, key) = path.rsplit_once('/').unwrap_or(("", path));
        let key = crate::core::spec::pointer_token(key);
        match (verb, v.pointer_mut(parent)) {
            ("replace", Some(Value::Object(m))) if m.contains_key(&key) => {
                m.insert(key, op["value"].clone());
            }
            ("add", Some(Value::Object(m))) => {
                m.insert(key, op["value"].clone());
            }
            ("remove", Some(Value::Object(m))) => {
                m.remove(&key);
            }
            ("replace" | "add" | "remove", Some(Value::Array(a))) => {
                let index = if key == "-" {
                    Some(a.len())
                } else {
                    key.parse().ok()
                };
                match (verb, index) {
                    ("replace", Some(i)) if i < a.len() => a[i] = op["value"].clone(),
                    ("add", Some(i)) if i <= a.len() => a.insert(i, op["value"].clone()),
                    ("remove", Some(i)) if i < a.len() => {
                        a.remove(i);
                    }
                    _ => return,
                }
            }
            _ => return,
        }
        self.patched = Some(v);
    }
}

/// What the model could not follow, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gap {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) message: String,
    /// kustomize itself would fail here (a listed file that does not
    /// exist), as opposed to what the model does not follow (a remote base).
    pub(crate) broken: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Build<'a> {
    pub(crate) objects: Vec<Emitted<'a>>,
    pub(crate) gaps: Vec<Gap>,
}

/// kustomize refuses deeper trees long before this; the bound keeps a
/// hostile cycle of bases from exhausting the stack.
const MAX_DEPTH: usize = 32;

pub(crate) fn kustomization_file(files: &Files, dir: &str) -> Option<String> {
    crate::check::parse::KUSTOMIZATION_NAMES
        .iter()
        .map(|n| join(dir, n))
        .find(|p| files.bytes.contains_key(p.as_str()))
}

/// `kustomize build dir`.
pub(crate) fn build<'a>(files: &Files<'a>, dir: &str) -> Build<'a> {
    let mut out = Build::default();
    build_into(files, dir, 0, &mut out);
    out
}

fn build_into<'a>(files: &Files<'a>, dir: &str, depth: usize, out: &mut Build<'a>) {
    let Some(path) = kustomization_file(files, dir) else {
        out.gaps.push(Gap {
            file: dir.to_owned(),
            line: 1,
            message: format!("{dir}: no kustomization.yaml"),
            broken: false,
        });
        return;
    };
    if depth > MAX_DEPTH {
        out.gaps.push(Gap {
            file: path,
            line: 1,
            message: format!("kustomize bases nest deeper than {MAX_DEPTH} levels (a cycle?)"),
            broken: true,
        });
        return;
    }
    // Through `docs_of`: the kustomization is read, and a model kept
    // across versions is built again when it changes.
    let Some(doc) = files
        .docs_of(path.as_str())
        .and_then(|d| d.first().copied())
    else {
        out.gaps.push(Gap {
            file: path.clone(),
            line: 1,
            message: format!("{path} could not be read as YAML"),
            broken: false,
        });
        return;
    };
    let k = &doc.value;
    let line_of = |keys: &[Value]| doc.line_of(keys);
    let mut objects: Vec<Emitted<'a>> = Vec::new();
    let mut gaps = Vec::new();
    for key in ["resources", "bases"] {
        for (i, entry) in strings(&k[key]).into_iter().enumerate() {
            // Resolved only for a gap: indexing every kustomization's lines
            // would cost more than the build.
            let line = || line_of(&[Value::from(key), Value::from(i)]);
            if is_remote(entry) {
                gaps.push(Gap {
                    file: path.clone(),
                    line: line(),
                    message: format!("remote resource {entry} is not modelled"),
                    broken: false,
                });
                continue;
            }
            let target = join(dir, entry);
            if files.bytes.contains_key(target.as_str()) {
                objects.extend(documents_of(files, &target));
            } else if files.is_dir(&target) {
                let mut sub = Build::default();
                build_into(files, &target, depth + 1, &mut sub);
                objects.extend(sub.objects);
                gaps.extend(sub.gaps);
            } else {
                gaps.push(Gap {
                    file: path.clone(),
                    line: line(),
                    message: format!("{path} lists {entry}, which is not in the repository"),
                    broken: true,
                });
            }
        }
    }
    // Generators.
    let options = &k["generatorOptions"];
    for (key, kind) in [
        ("configMapGenerator", "ConfigMap"),
        ("secretGenerator", "Secret"),
    ] {
        for (i, generator) in k[key].as_array().into_iter().flatten().enumerate() {
            let line = line_of(&[Value::from(key), Value::from(i)]);
            match generate(files, dir, kind, generator, options) {
                Ok(value) => {
                    let behavior = generator["behavior"].as_str().unwrap_or("create");
                    let name = value["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    let namespace = generator["namespace"].as_str().map(str::to_owned);
                    if behavior != "create" {
                        // merge/replace change an object of the bases; its
                        // identity stays.
                        continue;
                    }
                    objects.push(Emitted {
                        api_version: "v1".into(),
                        kind: kind.into(),
                        name,
                        namespace,
                        doc: None,
                        file: path.clone(),
                        line,
                        generated: Some(value),
                        patched: None,
                        images: Vec::new(),
                        selects: false,
                        creates: Vec::new(),
                    });
                }
                Err(message) => gaps.push(Gap {
                    file: path.clone(),
                    line,
                    message,
                    broken: true,
                }),
            }
        }
    }
    // Components add their objects, then transform everything so far.
    for (i, entry) in strings(&k["components"]).into_iter().enumerate() {
        let target = join(dir, entry);
        let mut sub = Build::default();
        if is_remote(entry) {
            gaps.push(Gap {
                file: path.clone(),
                line: line_of(&[Value::from("components"), Value::from(i)]),
                message: format!("remote component {entry} is not modelled"),
                broken: false,
            });
            continue;
        }
        build_into(files, &target, depth + 1, &mut sub);
        objects.extend(sub.objects);
        gaps.extend(sub.gaps);
    }
    if k.get("helmCharts").is_some() || k.get("helmChartInflationGenerator").is_some() {
        gaps.push(Gap {
            file: path.clone(),
            line: line_of(&[Value::from("helmCharts")]),
            message: "charts inflated by kustomize (helmCharts) are not modelled".into(),
            broken: false,
        });
    }
    apply_delete_patches(files, dir, k, &mut objects);
    apply_identity_patches(files, dir, k, &mut objects);
    // Names: generators get their hash once their own kustomization is done
    // (kustomize hashes them at the level that declares them).
    let disable_all = options["disableNameSuffixHash"].as_bool().unwrap_or(false);
    for (o, _) in objects.iter_mut().zip(0..) {
        let Some(generated) = &o.generated else {
            continue;
        };
        if o.file != path || generated.get("__hashed").is_some() {
            continue;
        }
        let disable = generated["__disable_hash"].as_bool().unwrap_or(disable_all);
        if !disable {
            o.name = format!("{}-{}", o.name, hash(generated));
        }
        if let Some(Value::Object(m)) = o.generated.as_mut() {
            m.insert("__hashed".into(), Value::Bool(true));
            m.remove("__disable_hash");
            if let Some(Value::Object(meta)) = m.get_mut("metadata") {
                meta.insert("name".into(), Value::from(o.name.clone()));
            }
        }
    }
    if let Some(ns) = k["namespace"].as_str() {
        let created = created_namespace_fields(files, &path, k);
        for o in &mut objects {
            o.creates.extend(
                created
                    .iter()
                    .filter(|(group, kind, _)| {
                        *kind == o.kind
                            && group
                                .as_deref()
                                .is_none_or(|g| g == kinds::group_of(&o.api_version))
                    })
                    .map(|(_, _, field)| field.clone()),
            );
            // kustomize sets the namespace of every object it does not know
            // to be cluster-scoped, custom kinds included.
            if files.scope(&o.api_version, &o.kind) != Some(Scope::Cluster) {
                o.namespace = Some(ns.to_owned());
            } else if o.kind == "Namespace" {
                // kustomize renames Namespace objects to the namespace it sets.
                o.name = ns.to_owned();
            }
        }
    }
    let images: Vec<ImageRule> = k["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(ImageRule::of)
        .collect();
    if !images.is_empty() {
        for o in &mut objects {
            o.images.extend(images.iter().cloned());
        }
    }
    if sets_selector_labels(k) {
        for o in &mut objects {
            o.selects = true;
        }
    }
    let prefix = k["namePrefix"].as_str().unwrap_or("");
    let suffix = k["nameSuffix"].as_str().unwrap_or("");
    if !prefix.is_empty() || !suffix.is_empty() {
        for o in &mut objects {
            if o.kind != "CustomResourceDefinition" && o.kind != "Namespace" {
                o.name = format!("{prefix}{}{suffix}", o.name);
            }
        }
    }
    out.objects.extend(objects);
    out.gaps.extend(gaps);
}

/// The Kubernetes objects of one file, `List`s expanded.
pub(crate) fn documents_of<'a>(files: &Files<'a>, path: &str) -> Vec<Emitted<'a>> {
    let mut out = Vec::new();
    for d in files.docs_of(path).into_iter().flatten() {
        if !d.is_object() {
            continue;
        }
        out.push(emitted(d, &d.value));
    }
    out
}

fn emitted<'a>(d: &'a Document, v: &Value) -> Emitted<'a> {
    let meta = &v["metadata"];
    Emitted {
        api_version: v["apiVersion"].as_str().unwrap_or_default().to_owned(),
        kind: v["kind"].as_str().unwrap_or_default().to_owned(),
        name: meta["name"].as_str().unwrap_or_default().to_owned(),
        namespace: meta["namespace"].as_str().map(str::to_owned),
        doc: Some(d),
        file: d.path.clone(),
        line: d.line,
        generated: None,
        patched: None,
        images: Vec::new(),
        selects: false,
        creates: Vec::new(),
    }
}

/// The namespace fields the transformer configurations of kustomization
/// `k` (at `path`) have kustomize create, as (group, kind, field path):
/// the `namespace:` field specs with `create: true` of each file its
/// `configurations:` names. kustomize reads those from the
/// kustomization's folder or below only (it refuses the build otherwise).
fn created_namespace_fields(
    files: &Files,
    path: &str,
    k: &Value,
) -> Vec<(Option<String>, String, String)> {
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    let mut out = Vec::new();
    for entry in k["configurations"].as_array().into_iter().flatten() {
        let Some(rel) = entry.as_str() else { continue };
        let file = join(dir, rel);
        let below = dir.is_empty() && !file.starts_with("../")
            || file.strip_prefix(dir).is_some_and(|r| r.starts_with('/'));
        if !below {
            continue;
        }
        for d in files.docs_of(&file).into_iter().flatten() {
            for spec in d.value["namespace"].as_array().into_iter().flatten() {
                if spec["create"] != Value::Bool(true) {
                    continue;
                }
                if let (Some(kind), Some(field)) = (spec["kind"].as_str(), spec["path"].as_str()) {
                    out.push((
                        spec["group"].as_str().map(str::to_owned),
                        kind.to_owned(),
                        field.to_owned(),
                    ));
                }
            }
        }
    }
    out
}

/// Whether kustomization `k` adds labels to selectors: `commonLabels`, or
/// a `labels` entry with `includeSelectors: true` (kustomize's
/// commonLabels field specs create `spec.selector.matchLabels` on
/// Deployments, ReplicaSets, DaemonSets and StatefulSets).
pub(crate) fn sets_selector_labels(k: &Value) -> bool {
    let some = |v: &Value| v.as_object().is_some_and(|m| !m.is_empty());
    some(&k["commonLabels"])
        || k["labels"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["includeSelectors"] == Value::Bool(true) && some(&l["pairs"]))
}

/// `$patch: delete` strategic-merge patches remove their target.
fn apply_delete_patches(files: &Files, dir: &str, k: &Value, objects: &mut Vec<Emitted>) {
    let mut deletes: Vec<(String, String)> = Vec::new();
    let mut consider = |v: &Value| {
        if v["$patch"].as_str() == Some("delete") {
            if let (Some(kind), Some(name)) = (v["kind"].as_str(), v["metadata"]["name"].as_str()) {
                deletes.push((kind.to_owned(), name.to_owned()));
            }
        }
    };
    let mut patch_docs = |entry: &Value| {
        if let Some(p) = entry.as_str().or_else(|| entry["path"].as_str()) {
            for d in files.docs_of(join(dir, p).as_str()).into_iter().flatten() {
                consider(&d.value);
            }
        }
        if let Some(text) = entry["patch"].as_str() {
            if let Ok(v) = serde_saphyr::from_str::<Value>(text) {
                consider(&v);
            }
        }
    };
    for key in ["patches", "patchesStrategicMerge"] {
        for entry in k[key].as_array().into_iter().flatten() {
            patch_docs(entry);
        }
    }
    objects.retain(|o| {
        !deletes
            .iter()
            .any(|(kind, name)| *kind == o.kind && *name == o.name)
    });
}

/// JSON 6902 patches (`patches` with a `target`): those that set an
/// object's name or namespace change its identity; the others change its
/// content, which the system's rules read (a storage class, a replica
/// count).
fn apply_identity_patches(files: &Files, dir: &str, k: &Value, objects: &mut [Emitted]) {
    for entry in k["patches"].as_array().into_iter().flatten() {
        let target = &entry["target"];
        if target.is_null() {
            continue;
        }
        let ops: Option<Value> = match (entry["patch"].as_str(), entry["path"].as_str()) {
            (Some(text), _) => serde_saphyr::from_str(text).ok(),
            (None, Some(p)) => files
                .content(join(dir, p).as_str())
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(|t| serde_saphyr::from_str(t).ok()),
            _ => None,
        };
        let Some(Value::Array(ops)) = ops else {
            continue;
        };
        // kustomize matches target names and namespaces as anchored regexes.
        let pattern = |field: &str| {
            target[field]
                .as_str()
                .and_then(|p| regex::Regex::new(&format!("^(?:{p})$")).ok())
        };
        let (name, namespace) = (pattern("name"), pattern("namespace"));
        let kind = target["kind"].as_str();
        for o in objects.iter_mut() {
            let matches = kind.is_none_or(|k| k == o.kind)
                && name.as_ref().is_none_or(|r| r.is_match(&o.name))
                && namespace
                    .as_ref()
                    .is_none_or(|r| r.is_match(o.namespace.as_deref().unwrap_or("")));
            if !matches {
                continue;
            }
            for op in &ops {
                let verb = op["op"].as_str().unwrap_or_default();
                if verb == "add" || verb == "replace" {
                    match (op["path"].as_str(), op["value"].as_str()) {
                        (Some("/metadata/name"), Some(v)) => o.name = v.to_owned(),
                        (Some("/metadata/namespace"), Some(v)) => o.namespace = Some(v.to_owned()),
                        _ => {}
                    }
                }
                o.patch(op);
            }
        }
    }
}

/// A generated ConfigMap or Secret, before its name hash.
fn generate(
    files: &Files,
    dir: &str,
    kind: &str,
    g: &Value,
    options: &Value,
) -> Result<Value, String> {
    let name = g["name"]
        .as_str()
        .ok_or_else(|| format!("a {kind} generator has no name"))?;
    let mut data: BTreeMap<String, String> = BTreeMap::new();
    for literal in strings(&g["literals"]) {
        let (k, v) = literal
            .split_once('=')
            .ok_or_else(|| format!("literal {literal:?} of {name} is not KEY=VALUE"))?;
        data.insert(k.to_owned(), unquote(v).to_owned());
    }
    for entry in strings(&g["files"]) {
        let (key, file) = match entry.split_once('=') {
            Some((k, f)) => (k.to_owned(), f),
            None => (basename(entry).to_owned(), entry),
        };
        let text = read_text(files, dir, file, name)?;
        data.insert(key, text);
    }
    for env in strings(&g["envs"]).into_iter().chain(g["env"].as_str()) {
        let text = read_text(files, dir, env, name)?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                data.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    let mut value = serde_json::json!({
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": name},
    });
    if kind == "Secret" {
        use base64::Engine;
        let encoded: BTreeMap<String, String> = data
            .into_iter()
            .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v)))
            .collect();
        value["data"] = serde_json::json!(encoded);
        value["type"] = Value::from(g["type"].as_str().unwrap_or("Opaque"));
    } else {
        value["data"] = serde_json::json!(data);
    }
    let own = &g["options"];
    if let Some(b) = own["disableNameSuffixHash"]
        .as_bool()
        .or_else(|| options["disableNameSuffixHash"].as_bool())
    {
        value["__disable_hash"] = Value::Bool(b);
    }
    if let Some(b) = own["immutable"]
        .as_bool()
        .or_else(|| options["immutable"].as_bool())
    {
        value["immutable"] = Value::Bool(b);
    }
    Ok(value)
}

fn read_text(files: &Files, dir: &str, file: &str, name: &str) -> Result<String, String> {
    let path = join(dir, file);
    let bytes = files
        .content(path.as_str())
        .ok_or_else(|| format!("generator {name} reads {file}, which is not in the repository"))?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| format!("generator {name} reads {file}, which is not UTF-8"))
}

/// kustomize's name suffix: the first ten hex digits of the SHA-256 of the
/// object's JSON encoding (Go's, keys sorted, HTML characters escaped), with
/// vowel-like digits replaced.
///
/// kustomize v5 looks the name up as the single field `metadata/name`,
/// which finds nothing, so the name it hashes is always empty; the model
/// hashes what kustomize hashes (the test below pins it to kustomize's own
/// output).
pub(crate) fn hash(generated: &Value) -> String {
    let mut m = serde_json::Map::new();
    let kind = generated["kind"].as_str().unwrap_or_default();
    m.insert("kind".into(), Value::from(kind));
    m.insert("name".into(), Value::from(""));
    m.insert("data".into(), generated["data"].clone());
    if kind == "Secret" {
        m.insert("type".into(), generated["type"].clone());
    }
    let text = go_json(&Value::Object(m));
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    hex.chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// JSON as Go's `encoding/json` writes it: object keys sorted, `<`, `>`,
/// `&`, U+2028 and U+2029 escaped.
fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(v, &mut out);
    out
}

fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            out.push('{');
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(k, out);
                out.push(':');
                write_go_json(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(x, out);
            }
            out.push(']');
        }
        Value::String(s) => write_go_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn unquote(v: &str) -> &str {
    let t = v;
    if t.len() >= 2
        && ((t.starts_with('"') && t.ends_with('"')) || (t.starts_with('\'') && t.ends_with('\'')))
    {
        &t[1..t.len() - 1]
    } else {
        t
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

pub(crate) fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("github.com/")
        || entry.starts_with("git@")
        || entry.contains("?ref=")
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// `dir/rel`, with `.` and `..` resolved; never above the repository root
/// (a path that climbs out resolves to something absent, hence a gap).
pub(crate) fn join(dir: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = if dir.is_empty() || dir == "." {
        Vec::new()
    } else {
        dir.split('/').collect()
    };
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return format!("../{rel}");
                }
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    /// An object of a document, as a kustomization emits it.
    fn emitted(doc: &crate::check::parse::Document) -> super::Emitted<'_> {
        super::Emitted {
            api_version: "apps/v1".into(),
            kind: "StatefulSet".into(),
            name: "db".into(),
            namespace: None,
            doc: Some(doc),
            file: "base/db.yaml".into(),
            line: 1,
            generated: None,
            patched: None,
            images: Vec::new(),
            selects: false,
            creates: Vec::new(),
        }
    }

    #[test]
    fn json_patches_change_the_content_kustomize_would_change() {
        use serde_json::json;
        let value = json!({
            "metadata": {"name": "db", "annotations": {"a/b": "x"}},
            "spec": {"replicas": 1, "volumeClaimTemplates": [{"spec": {"storageClassName": "local"}}],
                     "template": {"spec": {"containers": [{"name": "a"}]}}}
        });
        let doc = crate::check::parse::Document::rendered("base/db.yaml", value.clone());
        let mut o = emitted(&doc);
        for op in [
            json!({"op": "replace", "path": "/spec/volumeClaimTemplates/0/spec/storageClassName", "value": "ebs-gp3"}),
            json!({"op": "replace", "path": "/spec/replicas", "value": 3}),
            json!({"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "b"}}),
            json!({"op": "remove", "path": "/metadata/annotations/a~1b"}),
            // Paths that do not resolve change nothing.
            json!({"op": "replace", "path": "/spec/missing", "value": 1}),
            json!({"op": "replace", "path": "/spec/volumeClaimTemplates/5/spec", "value": 1}),
            json!({"op": "move", "path": "/spec/replicas", "from": "/x"}),
        ] {
            o.patch(&op);
        }
        let v = o.value().expect("patched");
        assert_eq!(
            v["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
            "ebs-gp3"
        );
        assert_eq!(v["spec"]["replicas"], 3);
        assert_eq!(v["spec"]["template"]["spec"]["containers"][1]["name"], "b");
        assert!(v["metadata"]["annotations"].get("a/b").is_none());
        assert!(v["spec"].get("missing").is_none());
        // The document itself is unchanged: other kustomizations that
        // include the same base see it as written.
        assert_eq!(doc.value, value);
    }

    #[test]
    fn images_are_rewritten_as_kustomize_rewrites_them() {
        use super::{transform_image, ImageRule};
        let rule = |name: &str, new_name: Option<&str>, tag: Option<&str>, digest: Option<&str>| {
            ImageRule {
                name: name.into(),
                new_name: new_name.map(Into::into),
                new_tag: tag.map(Into::into),
                digest: digest.map(Into::into),
            }
        };
        let tag = [rule("app", None, Some("1.2.3"), None)];
        assert_eq!(transform_image("app", &tag), "app:1.2.3");
        assert_eq!(transform_image("app:latest", &tag), "app:1.2.3");
        assert_eq!(transform_image("app@sha256:ab", &tag), "app:1.2.3");
        assert_eq!(transform_image("other/app", &tag), "other/app");
        assert_eq!(
            transform_image(
                "registry:5000/app:1",
                &[rule("registry:5000/app", Some("mirror/app"), None, None)]
            ),
            "mirror/app:1"
        );
        assert_eq!(
            transform_image("app:1", &[rule("app", None, None, Some("sha256:cd"))]),
            "app@sha256:cd"
        );
        // Inner first: the outer rule matches the renamed image.
        let chain = [
            rule("app", Some("mirror/app"), None, None),
            rule("mirror/app", None, Some("2"), None),
        ];
        assert_eq!(transform_image("app", &chain), "mirror/app:2");
    }

    use super::*;

    #[test]
    fn paths_resolve_inside_the_repository() {
        assert_eq!(join("a/b", "../c"), "a/c");
        assert_eq!(join("a", "./x.yaml"), "a/x.yaml");
        assert!(join("", "../x").starts_with("../"));
    }

    #[test]
    fn name_hash_is_kustomizes() {
        // Names `kubectl kustomize` (kustomize v5.5.0) gives these generators.
        let cm = serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "b", "q": "<&>"}});
        assert_eq!(hash(&cm), "6mm5tktgm4");
        let s = serde_json::json!({"kind": "Secret", "type": "Opaque", "metadata": {"name": "s"}, "data": {"p": "eA=="}});
        assert_eq!(hash(&s), "bm76c6cd96");
    }
}
