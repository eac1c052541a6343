//! Policy evaluation with regorus.
//!
//! The embedded policies are compiled once into one engine, which is then
//! reused for every input (only the input changes between evaluations).
//! Repository policies run in a process of their own ([`super::sandbox`]),
//! under bounds of time, memory and stack, so that a slow, greedy or broken
//! rule becomes a finding naming its policy instead of a hung or aborted
//! CI job.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};

use super::finding::{Finding, Severity};
use super::parse::{Document, Text};
use super::sandbox::{Bounds, Stopped, Worker};
use super::worker::Reply;
use super::Options;
use crate::source::Tree;
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy {file} does not compile: {message}")]
    Compile { file: String, message: String },
    #[error("embedded policy evaluation failed: {0}")]
    Eval(String),
    #[error("repository policies could not be compiled")]
    Worker(#[from] Stopped),
    #[error(
        "--namespace {name}: no repository policy declares this package (declared: {declared})"
    )]
    Namespace { name: String, declared: String },
    #[error("--data: {0}")]
    Data(String),
}

/// Rules of one document, gathered from the embedded packages.
const DOCUMENT_MODULE: &str = r#"package socle.document

import data.socle.kubernetes

result := {
	"deny": kubernetes.violation,
	"warn": kubernetes.warning,
}

none := {"deny": [], "warn": []}
"#;

/// Rules of the whole repository, gathered from the embedded packages, in
/// two parts that read different inputs: the inventory of the repository,
/// and the effective values of one critical component. Kept apart so that a
/// commit which only touches values re-evaluates only the component it
/// touched.
const REPOSITORY_MODULE: &str = r#"package socle.repository_result

import data.socle.compose
import data.socle.content
import data.socle.repository

structure := {
	"deny": repository.violation,
	"warn": set(),
}

working_content := {
	"deny": content.violation | compose.violation,
	"warn": content.warning | compose.warning,
}

availability := {
	"deny": repository.availability,
	"warn": set(),
}
"#;

const STRUCTURE_RULE: &str = "data.socle.repository_result.structure";
const CONTENT_RULE: &str = "data.socle.repository_result.working_content";

/// The kinds `policies/repository.rego` reads (namespaces and what each
/// needs, ArgoCD's objects): its part of the check gets these documents
/// only. A unit test holds this list to the policy.
const STRUCTURE_KINDS: &[&str] = &[
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "Application",
    "ApplicationSet",
    "AppProject",
];

/// Of those, the kinds of the namespace rules: each relates a Namespace to
/// the objects whose `metadata.namespace` is its name, and nothing else, so
/// each namespace is judged on its own, and a commit that changes one
/// namespace's objects judges that namespace again, not the repository.
/// A unit test holds this to the policy.
const NAMESPACE_KINDS: &[&str] = &["Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange"];

/// The kinds `policies/content.rego` reads, besides the files it finds by
/// path (see [`content_file`]). A unit test holds this list to the policy.
const CONTENT_KINDS: &[&str] = &["PrometheusRule", "Application"];
const AVAILABILITY_RULE: &str = "data.socle.repository_result.availability";

/// Whether a string could be what the secrets rules flag: its key names a
/// credential, or its value carries the marker of a key. A superset of
/// `policies/secrets.rego` (a unit test holds the two together), so that the
/// many strings that cannot match never reach the evaluation.
fn may_be_secret(key: Option<&str>, value: &str) -> bool {
    const KEY_MARKERS: [&str; 4] = ["pass", "pwd", "key", "secret"];
    const VALUE_MARKERS: [&str; 6] = ["PRIVATE KEY", "AKIA", "ASIA", "AIza", "gh", "xox"];
    key.is_some_and(|k| {
        let k = k.to_lowercase();
        KEY_MARKERS.iter().any(|m| k.contains(m))
    }) || VALUE_MARKERS.iter().any(|m| value.contains(m))
}

/// What an environment variable's name holds when the secrets rules may
/// flag its value: a superset of `credential_variable` in
/// `policies/secrets.rego`.
const ENV_MARKERS: [&str; 7] = [
    "pass",
    "secret",
    "token",
    "key",
    "credential",
    "pwd",
    "private",
];

/// The strings of a document the secrets rules may flag, with their paths.
fn leaves(value: &Value) -> Vec<Value> {
    fn walk(v: &Value, path: &mut Vec<Value>, out: &mut Vec<Value>) {
        match v {
            // ArgoCD's `helm.values` holds a chart's values as YAML text:
            // the credentials in it are as committed as any other. They
            // are read with their keys, and placed at the `values` field.
            Value::String(s) => {
                if let Some(values) = is_helm_values(path).then(|| embedded_values(s)).flatten() {
                    walk(&values, path, out);
                } else if may_be_secret(path.last().and_then(Value::as_str), s) {
                    out.push(json!({"path": path.clone(), "value": s}));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(json!(i));
                    walk(item, path, out);
                    path.pop();
                }
            }
            Value::Object(map) => {
                // A container's environment variable: its value is a
                // credential when its name says so (`DB_PASSWORD`).
                let in_env = path.len() >= 2 && path[path.len() - 2] == "env";
                if let (true, Some(Value::String(name)), Some(Value::String(value))) =
                    (in_env, map.get("name"), map.get("value"))
                {
                    let lower = name.to_lowercase();
                    if ENV_MARKERS.iter().any(|m| lower.contains(m)) {
                        for (key, leaf) in [("name", name), ("value", value)] {
                            path.push(json!(key));
                            out.push(json!({"path": path.clone(), "value": leaf}));
                            path.pop();
                        }
                    }
                }
                for (k, item) in map {
                    path.push(json!(k));
                    walk(item, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    // A kustomization's secretGenerator: what it reads is committed.
    for (i, generator) in value["secretGenerator"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        for field in ["literals", "envs", "files", "env"] {
            match &generator[field] {
                Value::String(s) => {
                    out.push(json!({"path": ["secretGenerator", i, field], "value": s}))
                }
                Value::Array(items) => {
                    for (j, item) in items.iter().enumerate() {
                        if let Some(s) = item.as_str() {
                            out.push(json!({"path": ["secretGenerator", i, field, j], "value": s}));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn is_helm_values(path: &[Value]) -> bool {
    matches!(path, [.., helm, values] if helm == "helm" && values == "values")
}

/// Values written as YAML text, when they read as a mapping (within the
/// nesting bound every checked document has).
fn embedded_values(text: &str) -> Option<Value> {
    if super::parse::too_deep(text, super::parse::MAX_FLOW_DEPTH).is_some() {
        return None;
    }
    crate::yaml::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
}

/// The repository parts' findings of the last two versions checked, each
/// with the version that last used it: a part whose files a commit changed
/// is evaluated again, and its old result dropped after the next version,
/// so that a long range keeps two versions' results, not one per commit.
#[derive(Default)]
struct RepositoryMemo {
    version: u64,
    found: HashMap<String, (u64, Vec<Finding>)>,
}

pub struct Embedded {
    engine: regorus::Engine,
    /// Repository findings by the versions of the files each part reads:
    /// commits of a range that change nothing a part reads reuse its
    /// findings.
    repository_memo: std::sync::Mutex<RepositoryMemo>,
    /// The blueprint's critical components (the availability part's scope).
    critical: Vec<String>,
    /// The kinds the per-document Kubernetes rules judge
    /// (`data.socle.kubernetes.judged_kinds`): other documents skip them.
    judged_kinds: std::collections::HashSet<String>,
}

fn to_json(v: &regorus::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Object(m) if m.is_empty() => Vec::new(),
        _ => Vec::new(),
    }
}

/// The policy modules of a tree: `(path, source)` of every `.rego` file,
/// tests included or not.
pub fn rego_files<B: AsRef<[u8]>>(
    tree: &[(String, B)],
    prefix: &str,
    tests: bool,
) -> Vec<(String, String)> {
    tree.iter()
        .filter(|(p, _)| p.starts_with(prefix) && p.ends_with(".rego"))
        .filter(|(p, _)| tests || !p.ends_with("_test.rego"))
        .map(|(p, b)| (p.clone(), String::from_utf8_lossy(b.as_ref()).into_owned()))
        .collect()
}

impl Embedded {
    pub fn load() -> Result<Self, PolicyError> {
        Self::load_with(false)
    }

    /// With `tests`, the `_test.rego` modules are compiled too (for
    /// `socle policy test`).
    pub fn load_with(tests: bool) -> Result<Self, PolicyError> {
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(false);
        for (path, source) in rego_files(&Tree::embedded_policy_files(), "", tests) {
            engine
                .add_policy(format!("policies/{path}"), source)
                .map_err(|e| PolicyError::Compile {
                    file: format!("policies/{path}"),
                    message: e.to_string(),
                })?;
        }
        for (name, module) in [
            ("document", DOCUMENT_MODULE),
            ("repository_result", REPOSITORY_MODULE),
        ] {
            engine
                .add_policy(format!("policies/{name}.rego"), module.into())
                .map_err(|e| PolicyError::Compile {
                    file: format!("{name}.rego"),
                    message: e.to_string(),
                })?;
        }
        // The embedded blueprint's dependency graph (for the wave rule) and
        // its critical components (for the prod availability rules).
        let components = crate::core::blueprint::components();
        let needs: BTreeMap<&str, &Vec<String>> = components
            .iter()
            .map(|c| (c.id.as_str(), &c.needs))
            .collect();
        let critical: Vec<String> = components
            .iter()
            .filter(|c| c.critical)
            .map(|c| c.id.clone())
            .collect();
        engine
            .add_data(regorus::Value::from(
                json!({"socle": {"blueprint": {"needs": needs, "critical": critical}}}),
            ))
            .map_err(|e| PolicyError::Eval(e.to_string()))?;
        // The first evaluation analyses and schedules the modules; doing it
        // here means every clone of the engine starts prepared.
        engine.set_input(regorus::Value::new_object());
        engine
            .eval_rule("data.socle.document.result".into())
            .map_err(|e| PolicyError::Eval(e.to_string()))?;
        let judged_kinds: std::collections::HashSet<String> = engine
            .eval_rule("data.socle.kubernetes.judged_kinds".into())
            .map_err(|e| PolicyError::Eval(e.to_string()))
            .map(|v| to_json(&v))?
            .as_array()
            .map(|kinds| {
                kinds
                    .iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        // An empty list would silently skip every document: refuse it.
        if judged_kinds.is_empty() {
            return Err(PolicyError::Eval(
                "data.socle.kubernetes.judged_kinds names no kind".into(),
            ));
        }
        Ok(Self {
            engine,
            repository_memo: Default::default(),
            critical,
            judged_kinds,
        })
    }

    /// One rule on one input, on a copy of the prepared engine.
    pub fn evaluate_rule(&self, rule: &str, input: Value) -> Result<Value, PolicyError> {
        let mut engine = self.engine.clone();
        Self::eval(&mut engine, &input, rule)
    }

    /// One rule on an input given as JSON text (read straight into
    /// regorus's values, without an intermediate document).
    pub fn evaluate_rule_json(&self, rule: &str, input: &str) -> Result<Value, PolicyError> {
        let mut engine = self.engine.clone();
        let value =
            regorus::Value::from_json_str(input).map_err(|e| PolicyError::Eval(e.to_string()))?;
        engine.set_input(value);
        engine
            .eval_rule(rule.to_owned())
            .map(|v| to_json(&v))
            .map_err(|e| PolicyError::Eval(format!("{rule}: {e}")))
    }

    pub fn engine(&self) -> regorus::Engine {
        self.engine.clone()
    }

    fn eval(engine: &mut regorus::Engine, input: &Value, rule: &str) -> Result<Value, PolicyError> {
        // Read from the document where it is: converting an owned value
        // would first need a copy of every document.
        use serde::Deserialize;
        engine.set_input(regorus::Value::deserialize(input).unwrap_or(regorus::Value::Undefined));
        engine
            .eval_rule(rule.to_owned())
            .map(|v| to_json(&v))
            .map_err(|e| PolicyError::Eval(format!("{rule}: {e}")))
    }

    /// Every (rule, input) the embedded policies are evaluated on, in the
    /// order [`Embedded::evaluate`] uses: per document its rules then its
    /// secrets, then each text file, then the repository's parts.
    pub fn inputs(
        &self,
        docs: &[Document],
        texts: &[Text],
        paths: &[String],
    ) -> Vec<(&'static str, Value)> {
        let mut out: Vec<(&'static str, Value)> = self
            .file_inputs(docs, texts)
            .into_iter()
            .map(|(rule, input)| (rule, input.into_owned()))
            .collect();
        let docs: Vec<&Document> = docs.iter().collect();
        let (parts, groups) = self.repository_parts(&docs, paths, None);
        out.extend(parts.into_iter().map(|p| (p.rule, (p.input)())));
        // The namespaces, as a check judges them: all in one input.
        let all: Vec<&Document> = groups.iter().flat_map(|g| g.docs.iter().copied()).collect();
        if !all.is_empty() {
            out.push((STRUCTURE_RULE, namespaces_input(&all)));
        }
        out
    }

    fn file_inputs<'d>(
        &self,
        docs: &'d [Document],
        texts: &[Text],
    ) -> Vec<(&'static str, Cow<'d, Value>)> {
        let mut out = Vec::with_capacity(docs.len() * 2 + texts.len());
        for doc in docs {
            // Kubernetes rules only concern the kinds they judge; values
            // files and other documents get the secrets rules alone. A part
            // of an object (a patch, a file no kustomization lists) is not
            // judged as a whole one, except a Secret: its data is in git
            // whatever applies it.
            let whole = !doc.partial || doc.kind() == "Secret";
            // A field set to `null` (an empty `volumes:` in a rendered
            // chart) is judged unset, as the API server decodes it.
            if doc.is_object() && whole && self.judged_kinds.contains(doc.kind()) {
                out.push((
                    "data.socle.document.result",
                    super::schema::as_decoded_plain(&doc.value),
                ));
            } else {
                out.push((NONE, Cow::Owned(Value::Null)));
            }
            // A CRD's schema documents fields (descriptions quoting a PEM
            // header, defaults naming the `password` key): no credential.
            let candidates = if doc.kind() == "CustomResourceDefinition" {
                Vec::new()
            } else {
                leaves(&doc.value)
            };
            if candidates.is_empty() {
                out.push((NONE, Cow::Owned(Value::Null)));
            } else {
                out.push((
                    "data.socle.secrets.violation",
                    Cow::Owned(json!({"kind": doc.kind(), "path": doc.path, "leaves": candidates})),
                ));
            }
        }
        for text in texts {
            out.push((
                "data.socle.text.violation",
                Cow::Owned(json!({"path": text.path, "text": text.text})),
            ));
        }
        out
    }

    /// Evaluate independent inputs, each thread on a contiguous share with its
    /// own clone of the compiled engine; results keep their order.
    fn eval_all(
        &self,
        inputs: &[(&'static str, Cow<'_, Value>)],
    ) -> Result<Vec<Value>, PolicyError> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8);
        let chunk = inputs.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = inputs
                .chunks(chunk)
                .map(|part| {
                    let mut engine = self.engine.clone();
                    scope.spawn(move || {
                        part.iter()
                            .map(|(rule, input)| {
                                if *rule == NONE {
                                    return Ok(json!({"deny": [], "warn": []}));
                                }
                                // One input the rules fail on is denied;
                                // the others are still judged.
                                Ok(Self::eval(&mut engine, input, rule)
                                    .unwrap_or_else(|e| failed_result(rule, &e)))
                            })
                            .collect::<Result<Vec<_>, PolicyError>>()
                    })
                })
                .collect();
            let mut all = Vec::with_capacity(inputs.len());
            for handle in handles {
                let part = handle
                    .join()
                    .map_err(|_| PolicyError::Eval("an evaluation thread panicked".into()))?;
                all.extend(part?);
            }
            Ok(all)
        })
    }

    /// Rules of each document and text file on its own.
    pub fn evaluate_files(
        &self,
        docs: &[Document],
        texts: &[Text],
    ) -> Result<Vec<Finding>, PolicyError> {
        let results = self.eval_all(&self.file_inputs(docs, texts))?;
        let mut results = results.into_iter();
        let mut next = || results.next().unwrap_or(Value::Null);
        let mut out = Vec::new();
        for doc in docs {
            let mut result = next();
            let secrets = next();
            if let Some(deny) = result.get_mut("deny").and_then(Value::as_array_mut) {
                deny.extend(items(&secrets));
            }
            for (key, severity) in [("deny", Severity::Deny), ("warn", Severity::Warn)] {
                for item in items(&result[key]) {
                    let path = item["path"].as_array().cloned().unwrap_or_default();
                    let mut f = Finding::new(
                        item["id"].as_str().unwrap_or("SOC-UNKNOWN"),
                        severity,
                        &doc.path,
                        Some(doc.line_of(&path)),
                        item["msg"].as_str().unwrap_or_default(),
                    );
                    f.resource = doc.resource();
                    out.push(f);
                }
            }
        }
        for text in texts {
            for item in items(&next()) {
                out.push(Finding::new(
                    item["id"].as_str().unwrap_or("SOC-UNKNOWN"),
                    Severity::Deny,
                    &text.path,
                    item["line"].as_u64().map(|l| l as usize),
                    item["msg"].as_str().unwrap_or_default(),
                ));
            }
        }
        Ok(out)
    }

    /// The parts of the repository rules, each with its input and, when
    /// `versions` (path → blob id) is known, a key naming exactly the file
    /// versions that input is built from.
    fn repository_parts<'a>(
        &'a self,
        docs: &'a [&'a Document],
        paths: &'a [String],
        versions: Option<&HashMap<String, String>>,
    ) -> (Vec<Part<'a>>, Vec<Namespace<'a>>) {
        // Which files exist, and the versions of the files the part reads.
        let key = |name: &str, listing: &[String], files: &mut dyn Iterator<Item = &str>| {
            let versions = versions?;
            let mut text = String::from(name);
            for f in listing {
                text.push('\n');
                text.push_str(f);
            }
            for f in files {
                text.push('\n');
                text.push_str(f);
                text.push(' ');
                text.push_str(versions.get(f).map_or("-", String::as_str));
            }
            Some(crate::git::digest(text.as_bytes()))
        };
        // The namespace rules' documents by the namespace they concern (a
        // Namespace by its name, the others by theirs); the rest of the
        // structure rules read the ArgoCD objects and the file list.
        let mut structural: Vec<&Document> = Vec::new();
        let mut namespaces: BTreeMap<&str, Vec<&Document>> = BTreeMap::new();
        for d in docs
            .iter()
            .copied()
            .filter(|d| d.is_object() && STRUCTURE_KINDS.contains(&d.kind()))
        {
            if NAMESPACE_KINDS.contains(&d.kind()) {
                let meta = &d.value["metadata"];
                let of = if d.kind() == "Namespace" {
                    &meta["name"]
                } else {
                    &meta["namespace"]
                };
                namespaces
                    .entry(of.as_str().unwrap_or_default())
                    .or_default()
                    .push(d);
            } else {
                structural.push(d);
            }
        }
        let content: Vec<&Document> = docs
            .iter()
            .copied()
            .filter(|d| content_file(&d.path) || CONTENT_KINDS.contains(&d.kind()))
            .collect();
        let read = |docs: &[&'a Document]| {
            let mut read: Vec<&str> = docs.iter().map(|d| d.path.as_str()).collect();
            read.dedup();
            read
        };
        let structure_key = key("structure", paths, &mut read(&structural).into_iter());
        let content_key = key("content", paths, &mut read(&content).into_iter());
        let first = |docs: &[&Document]| docs.first().map(|d| d.path.clone()).unwrap_or_default();
        let (structure_place, content_place) = (first(&structural), first(&content));
        let mut parts = vec![
            Part {
                rule: STRUCTURE_RULE,
                input: Box::new(
                    move || json!({"files": paths, "documents": inventory(&structural)}),
                ),
                key: structure_key,
                place: structure_place,
            },
            Part {
                rule: CONTENT_RULE,
                input: Box::new(move || json!({"files": paths, "documents": inventory(&content)})),
                key: content_key,
                place: content_place,
            },
        ];
        let groups = namespaces
            .into_iter()
            .map(|(namespace, docs)| Namespace {
                key: key(
                    &format!("namespace {namespace}"),
                    &[],
                    &mut read(&docs).into_iter(),
                ),
                docs,
            })
            .collect();
        for id in &self.critical {
            let common = format!("components/{id}/values.yaml");
            let file = format!("components/{id}/values-prod.yaml");
            if !docs.iter().any(|d| d.path == file) {
                continue;
            }
            let input = move || {
                let own: Vec<&Document> = docs.iter().copied().filter(|d| d.path == file).collect();
                let prod = effective_values(docs, id, "prod");
                json!({"documents": inventory(&own), "values": {id.as_str(): {"prod": prod}}})
            };
            let file = format!("components/{id}/values-prod.yaml");
            parts.push(Part {
                rule: AVAILABILITY_RULE,
                input: Box::new(input),
                key: key(
                    &format!("availability {id}"),
                    &[],
                    &mut [common.as_str(), file.as_str()].into_iter(),
                ),
                place: file.clone(),
            });
        }
        (parts, groups)
    }

    /// Whether the repository rules read the file at `path` holding `docs`
    /// (besides its name, which is in the file list they all read): a
    /// document of the parts' kinds, a file the content rules read, or a
    /// critical component's values.
    pub(crate) fn repository_reads(&self, path: &str, docs: &[Document]) -> bool {
        content_file(path)
            || self.critical.iter().any(|id| {
                path.strip_prefix("components/")
                    .and_then(|p| p.strip_prefix(id.as_str()))
                    .is_some_and(|p| p == "/values.yaml" || p == "/values-prod.yaml")
            })
            || docs.iter().any(|d| {
                (d.is_object() && STRUCTURE_KINDS.contains(&d.kind()))
                    || CONTENT_KINDS.contains(&d.kind())
            })
    }

    /// Rules that span files, on the whole set of documents. With
    /// `versions`, each part's findings are remembered by the file versions
    /// it read.
    pub fn evaluate_repository(
        &self,
        docs: &[&Document],
        paths: &[String],
        versions: Option<&HashMap<String, String>>,
    ) -> Result<Vec<Finding>, PolicyError> {
        let by_place: BTreeMap<(&str, usize), &Document> = docs
            .iter()
            .map(|d| ((d.path.as_str(), d.line), *d))
            .collect();
        let version = self.repository_memo.lock().map_or(0, |mut m| {
            m.version += 1;
            m.version
        });
        let evaluate = |part: Part<'_>| -> Result<Vec<Finding>, PolicyError> {
            let remembered = part.key.as_ref().and_then(|k| {
                let mut m = self.repository_memo.lock().ok()?;
                let (used, found) = m.found.get_mut(k)?;
                *used = version;
                Some(found.clone())
            });
            if let Some(found) = remembered {
                return Ok(found);
            }
            let mut engine = self.engine.clone();
            let result = match Self::eval(&mut engine, &(part.input)(), part.rule) {
                Ok(result) => result,
                // Denied, not remembered: a later version may evaluate.
                Err(e) => return Ok(vec![unevaluated(part.rule, &e, &part.place, None)]),
            };
            let found = repository_findings(&result, &by_place);
            if let Some(k) = part.key {
                if let Ok(mut m) = self.repository_memo.lock() {
                    m.found.insert(k, (version, found.clone()));
                }
            }
            Ok(found)
        };
        // The structure part is the largest; the content and availability
        // parts run beside it.
        // The namespaces not remembered are judged in one evaluation, whose
        // findings are then told apart by the document they are placed on:
        // one evaluation per namespace would cost an engine each.
        let namespaces = |groups: Vec<Namespace<'_>>| -> Result<Vec<Finding>, PolicyError> {
            let mut out = Vec::new();
            let mut missing = Vec::new();
            for g in groups {
                let remembered = g.key.as_ref().and_then(|k| {
                    let mut m = self.repository_memo.lock().ok()?;
                    let (used, found) = m.found.get_mut(k)?;
                    *used = version;
                    Some(found.clone())
                });
                match remembered {
                    Some(found) => out.extend(found),
                    None => missing.push(g),
                }
            }
            if missing.is_empty() {
                return Ok(out);
            }
            let all: Vec<&Document> = missing
                .iter()
                .flat_map(|g| g.docs.iter().copied())
                .collect();
            let mut engine = self.engine.clone();
            let result = match Self::eval(&mut engine, &namespaces_input(&all), STRUCTURE_RULE) {
                Ok(result) => result,
                Err(e) => {
                    let first = all.first().map(|d| (d.path.as_str(), d.line));
                    let (file, line) = first.unwrap_or_default();
                    out.push(unevaluated(STRUCTURE_RULE, &e, file, Some(line)));
                    return Ok(out);
                }
            };
            let group_of: HashMap<(&str, usize), usize> = missing
                .iter()
                .enumerate()
                .flat_map(|(i, g)| g.docs.iter().map(move |d| ((d.path.as_str(), d.line), i)))
                .collect();
            let mut found: Vec<Vec<Finding>> = vec![Vec::new(); missing.len()];
            // A finding on no document of the groups (none is expected)
            // is reported, and nothing of this evaluation remembered.
            let mut placed = true;
            for (place, f) in placed_findings(&result, &by_place) {
                let group = place
                    .as_ref()
                    .and_then(|(file, line)| group_of.get(&(file.as_str(), *line)).copied());
                match group {
                    Some(i) => found[i].push(f),
                    None => {
                        placed = false;
                        out.push(f);
                    }
                }
            }
            for (g, f) in missing.into_iter().zip(found) {
                if let (Some(k), true) = (g.key, placed) {
                    if let Ok(mut m) = self.repository_memo.lock() {
                        m.found.insert(k, (version, f.clone()));
                    }
                }
                out.extend(f);
            }
            Ok(out)
        };
        let (parts, groups) = self.repository_parts(docs, paths, versions);
        let mut parts = parts.into_iter();
        let Some(first) = parts.next() else {
            return Ok(Vec::new());
        };
        let (first, rest, namespaced) = std::thread::scope(|scope| {
            let first = scope.spawn(|| evaluate(first));
            let rest: Result<Vec<Vec<Finding>>, PolicyError> = parts.map(evaluate).collect();
            let namespaced = namespaces(groups);
            let first = first
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (first, rest, namespaced)
        });
        if let Ok(mut m) = self.repository_memo.lock() {
            m.found.retain(|_, (used, _)| *used + 1 >= version);
        }
        let mut out = first?;
        out.extend(rest?.into_iter().flatten());
        out.extend(namespaced?);
        Ok(out)
    }

    /// Both, for one set of files.
    pub fn evaluate(
        &self,
        docs: &[Document],
        texts: &[Text],
        paths: &[String],
    ) -> Result<Vec<Finding>, PolicyError> {
        let mut out = self.evaluate_files(docs, texts)?;
        out.extend(self.evaluate_repository(&docs.iter().collect::<Vec<_>>(), paths, None)?);
        Ok(out)
    }
}

/// The rule name of inputs that no rule concerns.
const NONE: &str = "data.socle.document.none";

/// One part of the repository rules: the rule, its input, and the key its
/// findings are remembered by.
struct Part<'a> {
    rule: &'static str,
    /// Built only when the findings are not remembered.
    input: Box<dyn Fn() -> Value + Send + Sync + 'a>,
    key: Option<String>,
    /// Where a failure to evaluate it is reported: the first file it reads.
    place: String,
}

/// The SOC-POL-002 denial standing for embedded rules that could not be
/// evaluated on `file`: what they would have judged is denied, not passed,
/// and the rest of the check goes on.
pub(crate) fn unevaluated(
    rule: &str,
    error: &PolicyError,
    file: &str,
    line: Option<usize>,
) -> Finding {
    Finding::new(
        "SOC-POL-002",
        Severity::Deny,
        file,
        line,
        unevaluated_message(rule, error),
    )
}

/// The message of a SOC-POL-002 denial: the rules, and the engine's error
/// on one line (where in which policy, and what it expected).
fn unevaluated_message(rule: &str, error: &PolicyError) -> String {
    let text = match error {
        PolicyError::Eval(text) => text.as_str(),
        _ => "",
    };
    let at = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("--> "))
        .map(str::trim);
    let what = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::trim);
    let reason = match (at, what) {
        (Some(at), Some(what)) => format!("{at}: {what}"),
        _ if text.is_empty() => error.to_string(),
        _ => text.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    format!("socle's embedded rules ({rule}) could not judge this, so it is denied: {reason}")
}

/// An evaluation's error as the result of the rule it failed: the shape
/// each caller reads ({deny, warn} for a document's rules, a list of
/// findings otherwise), holding one SOC-POL-002 finding.
fn failed_result(rule: &str, error: &PolicyError) -> Value {
    let item = json!({
        "id": "SOC-POL-002",
        "msg": unevaluated_message(rule, error),
        "path": [],
    });
    if rule == "data.socle.document.result" {
        json!({"deny": [item], "warn": []})
    } else {
        json!([item])
    }
}

/// The namespace rules' documents of one namespace, and the key of the
/// file versions they are read from.
struct Namespace<'a> {
    key: Option<String>,
    docs: Vec<&'a Document>,
}

/// Findings of a repository part's result, placed on their documents.
fn repository_findings(
    result: &Value,
    by_place: &BTreeMap<(&str, usize), &Document>,
) -> Vec<Finding> {
    placed_findings(result, by_place)
        .into_iter()
        .map(|(_, f)| f)
        .collect()
}

/// The namespace rules' input: their documents, and no file list (the
/// file rules are the structure part's).
fn namespaces_input(docs: &[&Document]) -> Value {
    json!({"files": [], "documents": inventory(docs)})
}

/// The same, each with the place (file, line) of the document it names.
fn placed_findings(
    result: &Value,
    by_place: &BTreeMap<(&str, usize), &Document>,
) -> Vec<(Option<(String, usize)>, Finding)> {
    let mut out = Vec::new();
    for (key, severity) in [("deny", Severity::Deny), ("warn", Severity::Warn)] {
        for item in items(&result[key]) {
            let file = item["file"].as_str().unwrap_or_default();
            let doc_line = item["line"].as_u64().map(|l| l as usize);
            let doc = doc_line.and_then(|l| by_place.get(&(file, l)));
            let path = item["doc_path"].as_array().cloned().unwrap_or_default();
            let line = doc.map(|d| d.line_of(&path)).or(doc_line);
            let mut f = Finding::new(
                item["id"].as_str().unwrap_or("SOC-UNKNOWN"),
                severity,
                file,
                line,
                item["msg"].as_str().unwrap_or_default(),
            );
            f.resource = doc.and_then(|d| d.resource());
            out.push((doc_line.map(|l| (file.to_owned(), l)), f));
        }
    }
    out
}

/// The inventory of documents the repository rules read: identity fields
/// always, content where a rule reads it.
fn inventory(docs: &[&Document]) -> Vec<Value> {
    docs.iter()
        .map(|d| {
            let meta = d.value.get("metadata");
            let get = |k: &str| meta.and_then(|m| m.get(k)).cloned().unwrap_or(Value::Null);
            json!({
                "path": d.path,
                "line": d.line,
                "kind": d.kind(),
                "apiVersion": d.value.get("apiVersion").cloned().unwrap_or(Value::Null),
                "name": get("name"),
                "namespace": get("namespace"),
                "labels": meta.and_then(|m| m.get("labels")).cloned().unwrap_or(json!({})),
                "annotations": meta.and_then(|m| m.get("annotations")).cloned().unwrap_or(json!({})),
                "content": if spans_files(d) { d.value.clone() } else { Value::Null },
            })
        })
        .collect()
}

/// Files the content rules read by path: dbt profiles and model YAML,
/// Zeppelin notes and interpreter settings.
fn content_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let compose = (name.starts_with("compose.") || name.starts_with("docker-compose."))
        && (name.ends_with(".yaml") || name.ends_with(".yml"));
    compose
        || path.ends_with("profiles.yml")
        || path.ends_with(".zpln")
        || path.ends_with("/interpreter.json")
        || ((path.starts_with("models/") || path.contains("/models/"))
            && (path.ends_with(".yml") || path.ends_with(".yaml")))
}

/// Whether the repository rules read this document's content (the
/// inventory fields of every document are always there). Leaving the rest
/// out keeps the repository input small, which is what makes re-evaluating
/// it for every commit of a range affordable.
fn spans_files(d: &Document) -> bool {
    const KINDS: &[&str] = &[
        "NetworkPolicy",
        "Application",
        "ApplicationSet",
        "AppProject",
        "PrometheusRule",
    ];
    KINDS.contains(&d.kind()) || content_file(&d.path)
}

/// A component's Helm values for one environment, as Helm merges them:
/// `components/<id>/values.yaml` under `components/<id>/values-<env>.yaml`.
/// None when the component has no file for that environment.
pub fn effective_values(docs: &[&Document], id: &str, env: &str) -> Option<Value> {
    let common = format!("components/{id}/values.yaml");
    let own = format!("components/{id}/values-{env}.yaml");
    let over = docs.iter().find(|d| d.path == own)?;
    let mut merged = docs
        .iter()
        .find(|d| d.path == common)
        .map(|d| d.value.clone())
        .unwrap_or_else(|| json!({}));
    crate::core::values::deep_merge(&mut merged, &over.value);
    Some(merged)
}

/// Repository policies (the checked repository's `policies/*.rego`),
/// conftest-style: every package's `deny`, `violation` and `warn` rules are
/// evaluated against each document.
pub struct Local {
    /// The modules, kept to start a new worker after one hit a bound.
    modules: Vec<(String, String)>,
    rego_v0: bool,
    bounds: Bounds,
    /// `--data` documents, as JSON text, given to every worker.
    data: Option<String>,
    packages: Vec<Package>,
    /// The running worker, if any; evaluations take turns with it.
    worker: Mutex<Option<Worker>>,
}

/// One repository-policy package and the rules conftest would run in it.
struct Package {
    /// As `data.x.y`.
    name: String,
    /// The file that declared it first.
    file: String,
    /// `deny`, `violation` and `warn`, then the `deny_<x>`, `violation_<x>`
    /// and `warn_<x>` rules the package declares, with their severity.
    rules: Vec<(String, Severity)>,
    /// Whether the package declares `exception` (conftest's exceptions:
    /// a set of rule names, `<x>` for `deny_<x>`, that do not apply to the
    /// input).
    exceptions: bool,
}

/// The conftest rules a module declares: the names of rule heads at the
/// start of a line that are `deny`, `violation`, `warn` or one of them
/// followed by `_<x>` (conftest's own prefix match), and whether it
/// declares `exception`.
fn declared_rules(source: &str) -> (Vec<String>, bool) {
    static HEAD: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(head) = HEAD
        .get_or_init(|| regex::Regex::new(r"(?m)^(deny|violation|warn|exception)(_\w+)?\b").ok())
    else {
        return (Vec::new(), false);
    };
    let mut rules = Vec::new();
    let mut exceptions = false;
    for m in head.find_iter(source) {
        match m.as_str() {
            "exception" => exceptions = true,
            name if !name.starts_with("exception") => rules.push(name.to_owned()),
            _ => {}
        }
    }
    (rules, exceptions)
}

fn severity_of(rule: &str) -> Severity {
    if rule == "warn" || rule.starts_with("warn_") {
        Severity::Warn
    } else {
        Severity::Deny
    }
}

/// The rule names an `exception` rule yielded: a set of lists of names (or
/// of names).
fn excepted_names(values: &[Value]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for value in values {
        for entry in items(value) {
            match entry {
                Value::String(name) => {
                    out.insert(name);
                }
                Value::Array(names) => {
                    out.extend(names.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                _ => {}
            }
        }
    }
    out
}

/// One package's rule items as findings, each placed by `place` (given the
/// message), named `<package>.<rule>`, sourced to the policy file, and
/// marked when the package's `exception` covers it.
fn package_findings(
    package: &Package,
    items: Vec<RuleItem>,
    place: impl Fn(String) -> Finding,
) -> Vec<Finding> {
    let short = package.name.trim_start_matches("data.");
    let file = &package.file;
    items
        .into_iter()
        .map(|(rule, severity, item, excepted)| {
            let mut f = place(message_of(&item));
            f.rule = format!("{short}.{rule}");
            f.severity = severity;
            f.source = file.clone();
            if excepted {
                f.excepted_by = Some(format!("exception of {short} ({file})"));
            }
            f
        })
        .collect()
}

/// A rule's message: the value itself, or its `msg`.
fn message_of(item: &Value) -> String {
    match item {
        Value::String(s) => s.clone(),
        other => other
            .get("msg")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| other.to_string()),
    }
}

/// Packages under `socle.` belong to the embedded policies.
const RESERVED: &str = "data.socle.";

/// Packages under `system` judge the system model of each environment
/// (`socle system schema`) instead of each document.
const SYSTEM: &str = "data.system";

fn is_system(package: &str) -> bool {
    package == SYSTEM || package.starts_with("data.system.")
}

impl Local {
    pub fn load(files: &[(String, Vec<u8>)], options: &Options) -> Result<Self, PolicyError> {
        let modules = rego_files(files, "policies/", false);
        let mut local = Self {
            modules,
            rego_v0: options.rego_v0,
            bounds: options.policy_bounds,
            data: options.data.as_ref().map(|d| d.to_string()),
            packages: Vec::new(),
            worker: Mutex::new(None),
        };
        if local.modules.is_empty() {
            return Ok(local);
        }
        let (worker, packages) = match start(&local.modules, local.rego_v0, local.bounds) {
            Err(PolicyError::Compile { file, message }) if !local.rego_v0 => {
                // A conftest repository's policies are often Rego v0: say
                // so when they would compile as such.
                let v0 = start(&local.modules, true, local.bounds).is_ok();
                return Err(PolicyError::Compile {
                    file,
                    message: if v0 {
                        format!("{message}\n  the policies compile as Rego v0: pass --rego-v0 (conftest's --rego-version v0)")
                    } else {
                        message
                    },
                });
            }
            other => other?,
        };
        let mut worker = worker;
        if let Some(data) = &local.data {
            if let Reply::Error(e) = worker.data(data)? {
                return Err(PolicyError::Data(e));
            }
        }
        for (name, path) in packages {
            if name.starts_with(RESERVED) {
                continue;
            }
            let source = local
                .modules
                .iter()
                .find(|(p, _)| *p == path)
                .map_or("", |(_, s)| s.as_str());
            let (rules, exceptions) = declared_rules(source);
            let package = match local.packages.iter_mut().find(|p| p.name == name) {
                Some(p) => p,
                None => {
                    local.packages.push(Package {
                        rules: ["deny", "violation", "warn"]
                            .map(|r| (r.to_owned(), severity_of(r)))
                            .to_vec(),
                        name,
                        file: path,
                        exceptions: false,
                    });
                    let last = local.packages.len() - 1;
                    &mut local.packages[last]
                }
            };
            package.exceptions |= exceptions;
            for rule in rules {
                if !package.rules.iter().any(|(r, _)| *r == rule) {
                    let severity = severity_of(&rule);
                    package.rules.push((rule, severity));
                }
            }
        }
        if !options.namespaces.is_empty() {
            for name in &options.namespaces {
                let full = format!("data.{name}");
                if !local.packages.iter().any(|p| p.name == full) {
                    return Err(PolicyError::Namespace {
                        name: name.clone(),
                        declared: local
                            .packages
                            .iter()
                            .map(|p| p.name.trim_start_matches("data."))
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
            local.packages.retain(|p| {
                options
                    .namespaces
                    .iter()
                    .any(|n| p.name.trim_start_matches("data.") == n)
            });
        }
        if !local.packages.is_empty() {
            local.worker = Mutex::new(Some(worker));
        }
        Ok(local)
    }

    /// One package's rule items on `input`, each marked when an exception
    /// of the package covers its rule, or the query that failed and why.
    fn package_items(
        &self,
        worker: &mut Option<Worker>,
        package: &Package,
        input: &str,
        fresh_input: &mut bool,
    ) -> Result<Vec<RuleItem>, (String, String)> {
        let excepted = if package.exceptions {
            let query = format!("{}.exception", package.name);
            excepted_names(&self.values(worker, input, fresh_input, &query)?)
        } else {
            BTreeSet::new()
        };
        let mut out = Vec::new();
        for (rule, severity) in &package.rules {
            let query = format!("{}.{rule}", package.name);
            let values = self.values(worker, input, fresh_input, &query)?;
            let is_excepted = rule
                .split_once('_')
                .is_some_and(|(_, name)| excepted.contains(name));
            out.extend(
                values
                    .iter()
                    .flat_map(items)
                    .map(|item| (rule.clone(), *severity, item, is_excepted)),
            );
        }
        Ok(out)
    }

    /// The values of `query`, or the query and why it failed.
    fn values(
        &self,
        worker: &mut Option<Worker>,
        input: &str,
        fresh_input: &mut bool,
        query: &str,
    ) -> Result<Vec<Value>, (String, String)> {
        match self.ask(worker, input, fresh_input, query) {
            Ok(Reply::Values(values)) => Ok(values),
            Ok(Reply::Error(e)) => Err((query.to_owned(), timer_bound(&e, self.bounds))),
            Ok(other) => Err((query.to_owned(), format!("unexpected reply {other:?}"))),
            Err(stopped) => {
                // The next question goes to a new worker.
                *worker = None;
                Err((query.to_owned(), stopped.to_string()))
            }
        }
    }

    /// Runs `query`, on a new worker (given `input` first) when the last
    /// one stopped.
    fn ask(
        &self,
        worker: &mut Option<Worker>,
        input: &str,
        fresh_input: &mut bool,
        query: &str,
    ) -> Result<Reply, Stopped> {
        let w = match worker {
            Some(w) => w,
            None => {
                *fresh_input = true;
                let w = worker.insert(Worker::start(&self.modules, self.rego_v0, self.bounds)?.0);
                if let Some(data) = &self.data {
                    if let Reply::Error(e) = w.data(data)? {
                        return Ok(Reply::Error(format!("--data: {e}")));
                    }
                }
                w
            }
        };
        if *fresh_input {
            w.input(input)?;
            *fresh_input = false;
        }
        w.query(query)
    }

    fn worker(&self) -> std::sync::MutexGuard<'_, Option<Worker>> {
        // A panic elsewhere leaves at worst a worker that is replaced.
        self.worker.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn evaluate(&self, docs: &[Document]) -> Vec<Finding> {
        let mut packages: Vec<&Package> = self
            .packages
            .iter()
            .filter(|p| !is_system(&p.name))
            .collect();
        let mut out = Vec::new();
        if packages.is_empty() {
            return out;
        }
        let mut worker = self.worker();
        for doc in docs {
            if packages.is_empty() {
                break;
            }
            let input = doc.value.to_string();
            let mut fresh_input = true;
            // A package that fails on one document is reported once and
            // not run on the others: its failure is the finding.
            packages.retain(|package| {
                let file = &package.file;
                match self.package_items(&mut worker, package, &input, &mut fresh_input) {
                    Ok(items) => {
                        out.extend(package_findings(package, items, |message| {
                            let mut f = Finding::new(
                                "",
                                Severity::Deny,
                                &doc.path,
                                Some(doc.line),
                                message,
                            );
                            f.resource = doc.resource();
                            f
                        }));
                        true
                    }
                    Err((query, why)) => {
                        let on = format!("{}:{}", doc.path, doc.line);
                        out.push(policy_failure(file, &query, &on, &why));
                        false
                    }
                }
            });
        }
        out
    }

    /// conftest's `--combine`: every document in one input, an array of
    /// `{"path": file, "contents": document}` (one entry per document, so a
    /// file of several documents gives several entries), queried once.
    /// Findings are placed on the policy file: no one document is at fault.
    pub fn evaluate_combined(&self, docs: &[&Document]) -> Vec<Finding> {
        let packages: Vec<&Package> = self
            .packages
            .iter()
            .filter(|p| !is_system(&p.name))
            .collect();
        if packages.is_empty() {
            return Vec::new();
        }
        let input = Value::Array(
            docs.iter()
                .map(|d| serde_json::json!({"path": d.path, "contents": d.value}))
                .collect(),
        )
        .to_string();
        let mut worker = self.worker();
        let mut fresh_input = true;
        let mut out = Vec::new();
        for package in packages {
            let file = &package.file;
            match self.package_items(&mut worker, package, &input, &mut fresh_input) {
                Ok(items) => out.extend(package_findings(package, items, |message| {
                    Finding::new(
                        "",
                        Severity::Deny,
                        file,
                        None,
                        format!("(combined) {message}"),
                    )
                })),
                Err((query, why)) => {
                    out.push(policy_failure(file, &query, "the combined input", &why))
                }
            }
        }
        out
    }

    /// Whether the repository has system rules of its own: they may read
    /// any part of the model, where the embedded ones read no object.
    pub fn judges_systems(&self) -> bool {
        self.packages.iter().any(|p| is_system(&p.name))
    }

    /// The repository's system rules (packages `system` and `system.*`) on
    /// one environment's model. A rule yields a message, or an object with
    /// `msg` and optionally `file`, `line` and `pointer` (as the model's
    /// places give them); the finding is placed there, else on the policy.
    pub fn evaluate_system(&self, input_json: &str) -> Vec<(Finding, String)> {
        let mut out = Vec::new();
        let systems: Vec<&Package> = self
            .packages
            .iter()
            .filter(|p| is_system(&p.name))
            .collect();
        if systems.is_empty() {
            return out;
        }
        let mut worker = self.worker();
        let mut fresh_input = true;
        for package in systems {
            let file = &package.file;
            let short = package.name.trim_start_matches("data.");
            match self.package_items(&mut worker, package, input_json, &mut fresh_input) {
                Ok(items) => {
                    for (rule, severity, item, excepted) in items {
                        let place = item["file"].as_str().unwrap_or(file);
                        let line = item["line"].as_u64().map(|l| l as usize);
                        let pointer = item["pointer"].as_str().unwrap_or_default().to_owned();
                        let mut f = Finding::new(
                            &format!("{short}.{rule}"),
                            severity,
                            place,
                            line,
                            message_of(&item),
                        );
                        f.source = file.clone();
                        if excepted {
                            f.excepted_by = Some(format!("exception of {short} ({file})"));
                        }
                        out.push((f, pointer));
                    }
                }
                Err((query, why)) => out.push((
                    policy_failure(file, &query, "the system model", &why),
                    String::new(),
                )),
            }
        }
        out
    }
}

/// Starts a worker on `modules`: the packages they declare, or why not.
pub(crate) fn start(
    modules: &[(String, String)],
    rego_v0: bool,
    bounds: Bounds,
) -> Result<(Worker, Vec<(String, String)>), PolicyError> {
    match Worker::start(modules, rego_v0, bounds)? {
        (worker, Reply::Packages(packages)) => Ok((worker, packages)),
        (_, Reply::CompileError { file, message }) => Err(PolicyError::Compile { file, message }),
        (_, other) => Err(PolicyError::Eval(format!(
            "unexpected reply of the policy worker: {other:?}"
        ))),
    }
}

/// A value a repository rule yielded: `(rule, severity, value, whether an
/// exception of its package covers it)`.
type RuleItem = (String, Severity, Value, bool);

/// SOC-POL-001 on the policy file: `query` could not be evaluated on `on`.
fn policy_failure(file: &str, query: &str, on: &str, why: &str) -> Finding {
    let mut f = Finding::new(
        "SOC-POL-001",
        Severity::Deny,
        file,
        None,
        format!("{query} failed on {on}: {why}"),
    );
    f.source = file.to_owned();
    f
}

/// Regorus' own timer message, said as the bound it enforces.
fn timer_bound(error: &str, bounds: Bounds) -> String {
    if error.contains("exceeded time limit") {
        Stopped::Time(bounds.time).to_string()
    } else {
        error.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// An input the embedded rules fail on (a text rule given a number)
    /// is a SOC-POL-002 denial naming the rule and where it failed, in the
    /// shape its caller reads; the inputs beside it are still judged.
    #[test]
    fn an_input_the_embedded_rules_fail_on_is_denied_and_the_others_judged() {
        let embedded = Embedded::load().expect("embedded policies");
        let inputs = [
            (
                "data.socle.text.violation",
                Cow::Owned(json!({"path": "dags/a.py", "text": 5})),
            ),
            (
                "data.socle.text.violation",
                Cow::Owned(json!({"path": "dags/b.py", "text": "AKIAABCDEFGHIJKLMNOP = 1"})),
            ),
        ];
        let results = embedded.eval_all(&inputs).expect("evaluated");
        let failed = items(&results[0]);
        assert_eq!(failed.len(), 1, "{results:?}");
        assert_eq!(failed[0]["id"], "SOC-POL-002");
        let msg = failed[0]["msg"].as_str().unwrap_or_default();
        assert!(
            msg.starts_with("socle's embedded rules (data.socle.text.violation) could not judge this, so it is denied: policies/text.rego:"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
        assert!(!items(&results[1]).is_empty(), "{results:?}");
    }

    /// The pre-selection never drops a string the secrets rules would flag:
    /// every credential key of the policy, and a value of each key pattern.
    #[test]
    fn secret_candidates_cover_the_secrets_policy() {
        let tree = Tree::embedded_policies();
        let source = tree
            .files
            .iter()
            .find(|(p, _)| p == "secrets.rego")
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .expect("secrets.rego");
        let set = source
            .split("password_keys := {")
            .nth(1)
            .and_then(|rest| rest.split('}').next())
            .expect("password_keys");
        let keys: Vec<&str> = set
            .split(',')
            .map(|k| k.trim().trim_matches('"'))
            .filter(|k| !k.is_empty())
            .collect();
        assert!(keys.len() >= 10, "{keys:?}");
        for key in keys {
            assert!(may_be_secret(Some(key), "hunter2"), "{key}");
            assert!(may_be_secret(Some(&key.to_uppercase()), "hunter2"), "{key}");
        }
        for value in [
            "-----BEGIN RSA PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----",
            "AKIAABCDEFGHIJKLMNOP",
            "ASIAABCDEFGHIJKLMNOP",
            "AIzaSyA1234567890abcdefghijklmnopqrstu",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "xoxb-1234567890-abc",
        ] {
            assert!(may_be_secret(Some("note"), value), "{value}");
        }
        // One marker per kind of key in the policy: a new pattern needs one here.
        let patterns = source
            .split("key_patterns := {")
            .nth(1)
            .and_then(|rest| rest.split("\n}").next())
            .expect("key_patterns");
        assert_eq!(
            patterns.matches("\"a ").count() + patterns.matches("\"an ").count(),
            5
        );
        assert!(!may_be_secret(Some("image"), "apache/zeppelin:0.12.1"));
        // Every word `credential_variable` looks for in a variable's name
        // carries one of the markers that select the variable.
        let words = source
            .split("credential_variable(name) if {")
            .nth(1)
            .and_then(|rest| rest.split("`(").nth(1))
            .and_then(|rest| rest.split(")`").next())
            .expect("credential_variable's pattern");
        for word in words.split('|') {
            let word = word.replace("_?", "_").replace("s?", "s");
            assert!(ENV_MARKERS.iter().any(|m| word.contains(m)), "{word}");
        }
    }

    /// A document breaking every per-document rule at once, under any kind.
    fn worst(kind: &str) -> Value {
        let pod = json!({
            "hostNetwork": true, "hostPID": true,
            "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            "containers": [{"name": "c", "image": "x:latest",
                "securityContext": {"privileged": true, "runAsUser": 0}}],
        });
        json!({
            "apiVersion": "v1", "kind": kind, "metadata": {"name": "w"},
            "data": {"password": "aHVudGVyMg=="}, "stringData": {"password": "hunter2"},
            "spec": {
                "containers": pod["containers"], "volumes": pod["volumes"], "hostNetwork": true,
                "template": {"spec": pod},
                "jobTemplate": {"spec": {"template": {"spec": pod}}},
                "rules": [{"host": "x"}],
            },
        })
    }

    #[test]
    fn the_document_rules_judge_only_the_kinds_they_list() {
        let embedded = Embedded::load().expect("embedded policies");
        assert!(embedded.judged_kinds.contains("Deployment"));
        for kind in &embedded.judged_kinds {
            let found = embedded
                .evaluate_rule("data.socle.document.result", worst(kind))
                .expect("evaluates");
            assert!(
                !found["deny"].as_array().is_none_or(Vec::is_empty),
                "{kind}: {found}"
            );
        }
        // Kinds of a typical repository that no rule reads: a rule that
        // judged one of them would be skipped, so it must be listed.
        for kind in [
            "ConfigMap",
            "Service",
            "NetworkPolicy",
            "Application",
            "AppProject",
            "ExternalSecret",
            "Namespace",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ServiceMonitor",
            "SparkApplication",
            "Kustomization",
            "Other",
        ] {
            let found = embedded
                .evaluate_rule("data.socle.document.result", worst(kind))
                .expect("evaluates");
            assert_eq!(found, json!({"deny": [], "warn": []}), "{kind}");
        }
    }

    fn policy_source(name: &str) -> String {
        Tree::embedded_policies()
            .files
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .expect(name)
    }

    /// Every `"<Kind>"` literal after one of `markers` in a policy.
    fn kinds_named(source: &str, markers: &[&str]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for marker in markers {
            for rest in source.split(marker).skip(1) {
                if let Some(kind) = rest.split('"').next() {
                    out.insert(kind.to_owned());
                }
            }
        }
        out
    }

    #[test]
    fn each_repository_part_gets_every_document_its_rules_read() {
        let structure = kinds_named(
            &policy_source("repository.rego"),
            &["docs_of(\"", "in_namespace(\"", "kind == \""],
        );
        assert!(structure.len() >= 5, "{structure:?}");
        for kind in &structure {
            assert!(STRUCTURE_KINDS.contains(&kind.as_str()), "{kind}");
        }
        // The namespace rules read their kinds through `in_namespace`, by
        // the Namespace's name: each namespace is a part of its own.
        let namespaced = kinds_named(&policy_source("repository.rego"), &["in_namespace(\""]);
        assert!(namespaced.len() >= 3, "{namespaced:?}");
        for kind in namespaced.iter().map(String::as_str).chain(["Namespace"]) {
            assert!(NAMESPACE_KINDS.contains(&kind), "{kind}");
        }
        let source = policy_source("content.rego");
        let content = kinds_named(&source, &["kind == \""]);
        assert!(content.len() >= 2, "{content:?}");
        for kind in &content {
            assert!(CONTENT_KINDS.contains(&kind.as_str()), "{kind}");
        }
        // The files the content rules find by path.
        for suffix in kinds_named(&source, &["endswith(d.path, \""]) {
            assert!(content_file(&format!("a/b{suffix}")), "{suffix}");
        }
        for path in [
            "dbt/models/marts/schema.yml",
            "models/x.yaml",
            "components/zeppelin/overlays/dev/interpreter.json",
        ] {
            assert!(content_file(path), "{path}");
        }
        assert!(!content_file("components/trino/values.yaml"));
    }
}
