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

pub(crate) mod access;
pub(crate) mod backups;
pub(crate) mod build;
pub(crate) mod cloud;
pub(crate) mod cloud_aks;
pub(crate) mod cloud_dns;
pub(crate) mod cloud_gke;
pub(crate) mod cloud_iam;
pub(crate) mod cloud_keys;
pub(crate) mod cloud_trust;
pub(crate) mod key_settings;
pub(crate) mod kustomize;
pub(crate) mod needs;
pub(crate) mod network;
pub(crate) mod objects;
pub(crate) mod outside;
pub(crate) mod project;
pub(crate) mod resources;
pub(crate) mod scans;
pub(crate) mod shift;
pub(crate) mod wiring;

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::engine::{Embedded, Local, PolicyError};
use super::finding::{Finding, Severity};
use super::parse::Document;
use crate::core::charts::ChartFacts;

pub use input::System;

const RULE: &str = "data.socle.system.result";

/// The model of every environment of a repository.
pub fn model(docs: &[&Document], files: &[(String, Vec<u8>)], facts: &ChartFacts) -> Vec<System> {
    model_reading(docs, files, facts).0
}

/// [`model`], and the files whose contents it read beyond their documents.
fn model_reading(
    docs: &[&Document],
    files: &[(String, Vec<u8>)],
    facts: &ChartFacts,
) -> (Vec<System>, BTreeSet<String>) {
    let repo = build::Repository::new(docs, files, facts);
    let systems = repo
        .systems()
        .into_iter()
        .map(|mut m| {
            resolve(&mut m, &repo.files, facts, None);
            m.system
        })
        .collect();
    (systems, read_whole(&repo.files))
}

/// What the components of one system provide, consume and reach, then
/// its projects' judgement.
fn resolve(
    m: &mut build::Modelled,
    files: &kustomize::Files,
    facts: &ChartFacts,
    kept: Option<(&mut Scans, &mut build::AppKey)>,
) {
    let app_keys = m.app_keys.clone();
    match kept {
        Some((scans, key)) => {
            let memo = scans::Memo {
                table: &mut scans.addresses,
                key: &mut *key,
                app_keys: &app_keys,
            };
            wiring::resolve(m, files, facts, Some(memo));
            let memo = scans::Memo {
                table: &mut scans.said,
                key,
                app_keys: &app_keys,
            };
            resources::resolve(m, files, Some(memo));
        }
        None => {
            wiring::resolve(m, files, facts, None);
            resources::resolve(m, files, None);
        }
    }
    backups::resolve(m, files, facts);
    cloud::resolve(m, files, facts);
    // A bucket the environment's Terraform creates is the cloud's, even
    // where `socle-check.yaml` lists it among the client's (an
    // environment's backups): its consumers reach it at the cloud's
    // endpoints, which the cloud's rules judge.
    if let Some(cloud) = &m.system.cloud {
        for u in &mut m.system.bucket_uses {
            if cloud.buckets.contains(&u.bucket) {
                u.outside = None;
            }
        }
    }
    needs::resolve(&mut m.system);
    project::judge(&mut m.system);
}

/// The files the model has read whole so far.
fn read_whole(files: &kustomize::Files) -> BTreeSet<String> {
    files
        .read
        .lock()
        .map(|r| r.iter().map(|p| (*p).to_owned()).collect())
        .unwrap_or_default()
}

/// The model of a set of files (a repository's, or a rendered one in memory).
pub fn model_files(files: &[(String, Vec<u8>)]) -> Vec<System> {
    let parsed = super::parse::parse_all(files);
    let docs: Vec<&Document> = parsed.documents.iter().collect();
    model(&docs, files, &ChartFacts::embedded())
}

/// The models as JSON, each place's line resolved to the field it points
/// at (what `socle graph --format json` prints for people and tools).
pub fn model_json(files: &[(String, Vec<u8>)]) -> Vec<Value> {
    let parsed = super::parse::parse_all(files);
    let docs: Vec<&Document> = parsed.documents.iter().collect();
    let places: HashMap<(&str, usize), &Document> = docs
        .iter()
        .map(|d| ((d.path.as_str(), d.line), *d))
        .collect();
    model(&docs, files, &ChartFacts::embedded())
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            resolve_lines(&mut v, &places, 0);
            v
        })
        .collect()
}

/// One step of a path into a value, borrowed from the value. The scans
/// of the wiring and of the resources step into every key of every
/// configuration; only what they find needs its path as JSON values.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'v> {
    Key(&'v str),
    Index(usize),
}

impl<'v> Step<'v> {
    pub(crate) fn key(self) -> Option<&'v str> {
        match self {
            Step::Key(k) => Some(k),
            Step::Index(_) => None,
        }
    }
}

/// `base` then `steps`, as the JSON path [`input::At::field`] reads.
pub(crate) fn owned_path(base: &[Value], steps: &[Step<'_>]) -> Vec<Value> {
    let mut path = Vec::with_capacity(base.len() + steps.len());
    path.extend_from_slice(base);
    path.extend(steps.iter().map(|s| match s {
        Step::Key(k) => Value::from(*k),
        Step::Index(i) => Value::from(*i),
    }));
    path
}

/// A configuration file carried in a string value (an ingestion recipe or
/// workflow in a ConfigMap), as the YAML mapping it is. Only strings that
/// start like one are parsed: every multi-line value of every document
/// reaches here (scripts, SQL, dashboards of several hundred kilobytes), and
/// parsing each of them as YAML cost more than the rest of the model.
pub(crate) fn carried_yaml(s: &str) -> Option<Value> {
    const MAX: usize = 64 * 1024;
    if s.len() > MAX || !s.contains('\n') {
        return None;
    }
    let first = s
        .lines()
        .map(str::trim_end)
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))?;
    let key = first.split_once(':')?;
    let plain_key = !key.0.is_empty()
        && key
            .0
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !plain_key || !(key.1.is_empty() || key.1.starts_with(' ')) {
        return None;
    }
    match serde_saphyr::from_str::<Value>(s) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// How deep the walks over a document's values go: every level a parsed
/// document can have (the deserializer refuses deeper ones, and Helm's
/// merge of values files nests no deeper than they do), so no walk skips
/// what a document holds, and the recursion stays bounded.
pub(crate) const WALK_DEPTH: usize = crate::check::parse::MAX_FLOW_DEPTH;

/// Every JSON object under `v`, `v` included (to [`WALK_DEPTH`]).
pub(crate) fn each_object<'v>(
    v: &'v Value,
    visit: &mut impl FnMut(&'v serde_json::Map<String, Value>),
) {
    fn walk<'v>(
        v: &'v Value,
        visit: &mut impl FnMut(&'v serde_json::Map<String, Value>),
        depth: usize,
    ) {
        if depth > WALK_DEPTH {
            return;
        }
        match v {
            Value::Object(map) => {
                visit(map);
                map.values().for_each(|x| walk(x, visit, depth + 1));
            }
            Value::Array(items) => items.iter().for_each(|x| walk(x, visit, depth + 1)),
            _ => {}
        }
    }
    walk(v, visit, 0);
}

/// [`each_object`], each object given with its JSON pointer under `v`.
pub(crate) fn each_object_at(
    v: &Value,
    visit: &mut impl FnMut(&str, &serde_json::Map<String, Value>),
) {
    fn walk(
        v: &Value,
        at: &mut String,
        visit: &mut impl FnMut(&str, &serde_json::Map<String, Value>),
        depth: usize,
    ) {
        if depth > WALK_DEPTH {
            return;
        }
        let len = at.len();
        match v {
            Value::Object(map) => {
                visit(at, map);
                for (k, x) in map {
                    at.push('/');
                    at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    walk(x, at, visit, depth + 1);
                    at.truncate(len);
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    at.push_str(&format!("/{i}"));
                    walk(x, at, visit, depth + 1);
                    at.truncate(len);
                }
            }
            _ => {}
        }
    }
    walk(v, &mut String::new(), visit, 0);
}

fn resolve_lines(v: &mut Value, places: &HashMap<(&str, usize), &Document>, depth: usize) {
    if depth > WALK_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => {
            let resolved = match (m.get("file"), m.get("line"), m.get("pointer")) {
                (Some(Value::String(f)), Some(l), Some(Value::String(p))) => l
                    .as_u64()
                    .and_then(|l| places.get(&(f.as_str(), l as usize)))
                    .map(|d| d.line_at(p)),
                _ => None,
            };
            if let Some(line) = resolved {
                m.insert("line".into(), Value::from(line));
            }
            for x in m.values_mut() {
                resolve_lines(x, places, depth + 1);
            }
        }
        Value::Array(a) => {
            for x in a {
                resolve_lines(x, places, depth + 1);
            }
        }
        _ => {}
    }
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
    /// The model of each environment, when this run built them (a result
    /// remembered from an earlier version of the repository has none).
    pub systems: Vec<System>,
}

/// A simulation's findings, each with the field it points at, so that a
/// remembered result is placed on the current lines of its files.
#[derive(Debug, Clone, Default)]
struct Remembered {
    findings: Vec<(Finding, String)>,
    not_modelled: Vec<String>,
}

/// One environment's last input (its text) and the findings of its
/// judgement.
struct LastInput {
    text: String,
    findings: Vec<(Finding, String)>,
}

/// One environment's findings, by the digest of its input.
type Judged = (String, Vec<(Finding, String)>);

/// What a range check remembers between commits.
///
/// The model reads which files exist, the documents of every file, and
/// the contents of the few files kustomize reads whole (generators'
/// sources, patch files). Of the Helm values files it reads only what the
/// wiring reads: the in-cluster addresses they name and the keys beside
/// them, buckets, OIDC clients, realms, hosts and the names of Secrets and
/// ConfigMaps. A result is remembered by the list of files, the versions
/// (blob ids) of the files it reads and the addresses of each values file
/// (themselves remembered by blob id), so a commit that only edits values
/// without touching an address, or edits a file the model never reads,
/// reuses it: the per-commit cost is a digest, not a model and an
/// evaluation.
#[derive(Default)]
pub struct Memo {
    results: HashMap<String, Remembered>,
    /// The files the last model read whole. A result is keyed by the files
    /// its model read, so a lookup with the last model's set is sound: the
    /// same documents and the same contents of those files lead the model
    /// to read the same files again.
    read: BTreeSet<String>,
    addresses: HashMap<String, String>,
    /// Per environment input digest → findings (a changed model whose
    /// input is unchanged for an environment skips its rules).
    by_input: HashMap<String, Vec<(Finding, String)>>,
    /// Per environment (and its root Application), the last model judged.
    envs: HashMap<(String, String), Judgement>,
    /// Per environment, the last input judged and its findings: an input
    /// that differs from it in the lines of its places alone takes them,
    /// moved (see [`shift`]).
    inputs: HashMap<(String, String), LastInput>,
    /// Each Application's model, kept while what it read is unchanged.
    apps: build::AppCache,
    /// What the scans of each Application's configuration found, kept
    /// likewise.
    scans: Scans,
    /// The key of the version evaluated last (under `read`), what it was
    /// made of (each file's entry, in the files' order), the values files
    /// of that version's Applications and the files holding them: the
    /// next version's key is the same when the files it changed say what
    /// they said (see `key_from_delta`).
    last: Option<String>,
    entries: Vec<String>,
    values: HashSet<String>,
    app_files: HashSet<String>,
    /// Whether each environment's judgement and each Application's model
    /// are remembered (a range: many versions of one repository). A
    /// single check does not pay for them in memory; a range's outcomes
    /// carry no models, so judgements keep their findings only.
    across_versions: bool,
}

impl Memo {
    pub(crate) fn across_versions(&mut self) {
        self.across_versions = true;
    }
}

/// What the scans of each Application's configuration found (see
/// [`scans`]).
#[derive(Default)]
struct Scans {
    addresses: scans::PerApp<wiring::Named>,
    said: scans::PerApp<resources::Saying>,
}

/// One environment's last judged model, reused while what it read is
/// unchanged: a commit that changes one environment's files models the
/// repository's Applications again but resolves and judges that
/// environment alone.
///
/// An environment's model is made of the repository's structure (its
/// projects, clusters, configuration and custom kinds), its file list, and
/// the files its Applications' sources read (noted as they are read, see
/// `kustomize::Files`); its resolution then reads more files (values files,
/// the Terraform beside it). Its key is the digest of the structure, the
/// list, and the versions of both sets of files, the second as its last
/// resolution read them: the same versions of the same files lead the
/// resolution to read the same files again.
struct Judgement {
    key: String,
    resolved_from: Vec<String>,
    resolved_all: bool,
    /// What assembling the system read (every file with documents when
    /// `read_all`), and the files the repository had read whole then: the
    /// key again from them tells, before assembling, whether assembling
    /// would read the same and give the same system.
    read: Vec<String>,
    read_all: bool,
    whole: BTreeSet<String>,
    not_modelled: Vec<String>,
    findings: Vec<(Finding, String)>,
}

/// One environment of a simulation: remembered, or resolved now (`fresh`:
/// its judgement to remember, its findings still to come) and judged by
/// the Rego rules (`found`) unless its input was judged before.
struct Environment {
    id: (String, String),
    system: Option<System>,
    not_modelled: Vec<String>,
    found: Option<Vec<(Finding, String)>>,
    fresh: Option<Judgement>,
    /// The input judged, kept in a range for the next version's (see
    /// [`shift`]).
    input: Option<String>,
}

/// How many models' results [`Memo`] keeps before starting afresh.
const MEMO_BOUND: usize = 16;

/// Models the repository and judges each environment. `versions` (path →
/// blob id) keys what is remembered in `memo`.
pub fn evaluate(
    embedded: &Embedded,
    local: &Local,
    docs: &[&Document],
    files: &[(String, Vec<u8>)],
    versions: &HashMap<String, String>,
    facts: &ChartFacts,
    memo: &mut Memo,
) -> Result<Simulated, PolicyError> {
    evaluate_after(embedded, local, docs, files, versions, facts, memo, None)
}

/// The same, for a version of a range: `delta` is what changed since the
/// version `memo` last saw.
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate_after(
    embedded: &Embedded,
    local: &Local,
    docs: &[&Document],
    files: &[(String, Vec<u8>)],
    versions: &HashMap<String, String>,
    facts: &ChartFacts,
    memo: &mut Memo,
    delta: Option<&crate::check::delta::Delta>,
) -> Result<Simulated, PolicyError> {
    // The file list is the previous version's and each changed file says
    // what it said to the model: so is the key, without a pass over every
    // document.
    let unchanged = delta
        .and_then(|d| d.changed_from())
        .and_then(|changed| key_from_delta(memo, docs, files, versions, facts, changed));
    let key = match unchanged {
        Some(key) => key,
        None => {
            memo.values = wiring::values_files(docs);
            memo.app_files = docs
                .iter()
                .filter(|d| d.kind() == "Application")
                .map(|d| d.path.clone())
                .collect();
            let v = Versions::new(docs, files, &memo.values, versions, facts);
            let (key, entries) = memo_key(&v, files, &memo.read, &mut memo.addresses);
            memo.entries = entries;
            key
        }
    };
    memo.last = None;
    // A system is modelled from its Applications: a repository with none
    // (Flux, plain manifests) has nothing to simulate, and pays only for
    // the key the next version's is patched from.
    if memo.app_files.is_empty() {
        memo.last = Some(key);
        return Ok(Simulated::default());
    }
    if let Some(r) = memo.results.get(&key) {
        let r = r.clone();
        memo.last = Some(key);
        let places = places_of(docs, r.findings.iter().map(|(f, _)| f.file.as_str()));
        return Ok(placed(r, &places, Vec::new()));
    }
    let places: HashMap<(&str, usize), &Document> = docs
        .iter()
        .map(|d| ((d.path.as_str(), d.line), *d))
        .collect();
    // Taken out of the memo while the simulation fills it.
    let values = std::mem::take(&mut memo.values);
    let simulated = {
        let keys = Versions::new(docs, files, &values, versions, facts);
        simulate(embedded, local, docs, files, &keys, facts, &places, memo).map(
            |(r, modelled, read)| {
                let (key, entries) = memo_key(&keys, files, &read, &mut memo.addresses);
                (r, modelled, read, key, entries)
            },
        )
    };
    memo.values = values;
    let (r, modelled, read, key, entries) = simulated?;
    memo.read = read;
    memo.entries = entries;
    // Bounded: a range returns to an earlier model rarely (a revert), and
    // a result per commit would grow with the range.
    if memo.results.len() >= MEMO_BOUND {
        memo.results.clear();
    }
    if memo.by_input.len() >= 4 * MEMO_BOUND {
        memo.by_input.clear();
    }
    if memo.addresses.len() >= 64 * MEMO_BOUND {
        memo.addresses.clear();
    }
    memo.results.insert(key.clone(), r.clone());
    memo.last = Some(key);
    Ok(placed(r, &places, modelled))
}

/// The documents of `files`, by place (file and line).
fn places_of<'d, 'p>(
    docs: &[&'d Document],
    files: impl Iterator<Item = &'p str>,
) -> HashMap<(&'d str, usize), &'d Document> {
    let files: HashSet<&str> = files.collect();
    docs.iter()
        .filter(|d| files.contains(d.path.as_str()))
        .map(|d| ((d.path.as_str(), d.line), *d))
        .collect()
}

/// A remembered result, its findings placed on this version's lines.
fn placed(
    remembered: Remembered,
    places: &HashMap<(&str, usize), &Document>,
    systems: Vec<System>,
) -> Simulated {
    Simulated {
        findings: remembered
            .findings
            .into_iter()
            .map(|(mut f, pointer)| {
                if let Some(d) = f.line.and_then(|l| places.get(&(f.file.as_str(), l))) {
                    f.line = Some(d.line_at(&pointer));
                    f.resource = d.resource();
                }
                f
            })
            .collect(),
        not_modelled: remembered.not_modelled,
        systems,
    }
}

/// What the model reads of each file, as text (see [`Memo`]).
struct Versions<'k> {
    docs: &'k [&'k Document],
    files: &'k [(String, Vec<u8>)],
    /// The Helm values files of the repository's Applications.
    values: &'k HashSet<String>,
    with_documents: HashSet<&'k str>,
    versions: &'k HashMap<String, String>,
    facts: &'k ChartFacts,
}

impl<'k> Versions<'k> {
    fn new(
        docs: &'k [&'k Document],
        files: &'k [(String, Vec<u8>)],
        values: &'k HashSet<String>,
        versions: &'k HashMap<String, String>,
        facts: &'k ChartFacts,
    ) -> Self {
        Versions {
            docs,
            files,
            values,
            with_documents: docs.iter().map(|d| d.path.as_str()).collect(),
            versions,
            facts,
        }
    }

    /// A file's blob id or, for a Helm values file the model does not read
    /// whole, what the wiring and the chart facts read of it.
    fn of(
        &self,
        path: &str,
        whole: &BTreeSet<String>,
        addresses: &mut HashMap<String, String>,
    ) -> String {
        let id = self.id(path);
        if !self.values.contains(path) || whole.contains(path) {
            return id;
        }
        // A values file that does not parse is read as having no
        // configuration: that it parses is part of what is read.
        if !self.with_documents.contains(path) {
            return format!("no documents {id}");
        }
        addresses
            .entry(id)
            .or_insert_with(|| {
                let own = || self.docs.iter().copied().filter(|d| d.path == path);
                let mut read = wiring::addresses_of(own());
                for d in own() {
                    chart_reads(d, self.facts, &mut read);
                    account_reads(d, self.facts, &mut read);
                }
                read
            })
            .clone()
    }

    /// A file's blob id (a check gives every file's).
    fn id(&self, path: &str) -> String {
        self.versions.get(path).cloned().unwrap_or_else(|| {
            let bytes = self.files.iter().find(|(p, _)| p == path);
            crate::git::blob_id(bytes.map_or(&[][..], |(_, b)| b.as_slice()))
        })
    }

    /// The digest of every path, which the model reads as a listing.
    fn listing(&self) -> String {
        let mut paths: Vec<&str> = self.files.iter().map(|(p, _)| p.as_str()).collect();
        paths.sort_unstable();
        crate::git::digest(paths.join("\n").as_bytes())
    }
}

/// The digest of what the model reads (see [`Memo`]), and what it is made
/// of: each file's entry, in the files' order.
fn memo_key(
    v: &Versions,
    files: &[(String, Vec<u8>)],
    read: &BTreeSet<String>,
    addresses: &mut HashMap<String, String>,
) -> (String, Vec<String>) {
    let entries: Vec<String> = files
        .iter()
        .map(|(path, _)| entry(v, path, read, addresses))
        .collect();
    (digest(files, &entries), entries)
}

/// The digest of each file's path and entry.
fn digest(files: &[(String, Vec<u8>)], entries: &[String]) -> String {
    let mut text = String::new();
    for ((path, _), entry) in files.iter().zip(entries) {
        text.push_str(path);
        text.push(' ');
        text.push_str(entry);
        text.push('\n');
    }
    crate::git::digest(text.as_bytes())
}

/// What the model reads of the file at `path`: nothing for a file with no
/// documents that it does not read whole.
fn entry(
    v: &Versions,
    path: &str,
    read: &BTreeSet<String>,
    addresses: &mut HashMap<String, String>,
) -> String {
    if read.contains(path) || v.with_documents.contains(path) {
        v.of(path, read, addresses)
    } else {
        String::new()
    }
}

/// The key of this version from the previous version's entries: the file
/// list is the same, so only the changed files' entries are computed again
/// (the previous key when none differs). Files holding Applications decide
/// which files are values files, so a change to one (in either version) is
/// left to the whole key.
fn key_from_delta(
    memo: &mut Memo,
    docs: &[&Document],
    files: &[(String, Vec<u8>)],
    versions: &HashMap<String, String>,
    facts: &ChartFacts,
    changed: &[(String, String)],
) -> Option<String> {
    let last = memo.last.as_ref()?;
    if memo.entries.len() != files.len() || changed.iter().any(|(c, _)| memo.app_files.contains(c))
    {
        return None;
    }
    let own: Vec<&Document> = docs
        .iter()
        .copied()
        .filter(|d| changed.iter().any(|(c, _)| *c == d.path))
        .collect();
    if own.iter().any(|d| d.kind() == "Application") {
        return None;
    }
    let last = last.clone();
    let v = Versions::new(&own, files, &memo.values, versions, facts);
    let at: Vec<usize> = changed
        .iter()
        .map(|(c, _)| files.iter().position(|(p, _)| p == c))
        .collect::<Option<_>>()?;
    let mut same = true;
    for ((path, _), i) in changed.iter().zip(at) {
        let now = entry(&v, path, &memo.read, &mut memo.addresses);
        if now != memo.entries[i] {
            memo.entries[i] = now;
            same = false;
        }
    }
    Some(if same {
        last
    } else {
        digest(files, &memo.entries)
    })
}

/// The key of one environment's judgement (see [`Judgement`]).
fn judgement_key<'p>(
    v: &Versions,
    common: &str,
    read: impl Iterator<Item = &'p str>,
    all: bool,
    whole: &BTreeSet<String>,
    addresses: &mut HashMap<String, String>,
) -> String {
    key_of(v, common, read, all, |path| v.of(path, whole, addresses))
}

/// The digest of `common` and of the `version` of each file read (of every
/// file with documents when a part read them all).
fn key_of<'p>(
    v: &Versions,
    common: &str,
    read: impl Iterator<Item = &'p str>,
    all: bool,
    mut version: impl FnMut(&str) -> String,
) -> String {
    let mut text = format!("{common}\n");
    let mut paths: BTreeSet<&str> = read.collect();
    if all {
        paths.extend(v.with_documents.iter().copied());
    }
    for path in paths {
        text.push_str(path);
        text.push(' ');
        text.push_str(&version(path));
        text.push('\n');
    }
    crate::git::digest(text.as_bytes())
}

/// What the chart facts read of a values file (part of what a range check
/// remembers of it, see [`Memo`]): a value that turns a chart's object or
/// Secret off, names the Secret it reads, or sends its backups somewhere.
fn chart_reads(d: &Document, facts: &ChartFacts, out: &mut String) {
    for path in facts.values_read() {
        let segs: Vec<&str> = path.split('.').filter(|k| !k.is_empty()).collect();
        // The whole value down to the first list or wildcard of the path:
        // emptying a list (`extraEnvFrom: []`) is a change too.
        let mut at = Some(&d.value);
        for seg in &segs {
            if *seg == "*" {
                break;
            }
            let list = seg.strip_suffix("[]");
            at = at.and_then(|v| v.get(list.unwrap_or(seg)));
            if list.is_some() {
                break;
            }
        }
        if let Some(v) = at.filter(|_| segs.first() != Some(&"*")) {
            out.push_str(&format!("{}:{path}={v};", d.line));
        }
        let mut strings = Vec::new();
        backups::at_path(&d.value, &segs, &mut Vec::new(), &mut strings);
        for (at, s) in strings {
            out.push_str(&format!("{}:{path}:{at:?}={s};", d.line));
        }
    }
}

/// What a cloud's workload identity reads of a values file (part of what
/// a range check remembers of it, see [`Memo`]): each chart account's
/// configuration (its name and annotations: a role ARN, a client ID) and
/// the labels of its pods, where the chart facts say they are, and every
/// pod template the values carry (its account and labels, as the AKS
/// judgement finds them), and any environment entry pointing Google's
/// clients at a key file, or `envFrom` list that may. A commit that only drops the label AKS's webhook
/// wants is a change.
fn account_reads(d: &Document, facts: &ChartFacts, out: &mut String) {
    for c in &facts.charts {
        for a in c.account_values() {
            let paths = std::iter::once(&a.values).chain(&a.pod_labels);
            for path in paths {
                let at = cloud::at_path(&d.value, path);
                if !at.is_null() {
                    out.push_str(&format!("{}:{path}={at};", d.line));
                }
            }
        }
    }
    cloud_aks::pod_templates(&d.value, &mut |account, labels| {
        out.push_str(&format!("template:{account}={labels};"));
    });
    cloud_keys::key_variables(&d.value, cloud_keys::GOOGLE_KEY_FILE, &mut |at, value| {
        out.push_str(&format!("{}:key file {at}={value};", d.line));
    });
    cloud_keys::env_from(&d.value, &mut |at, kind, name| {
        out.push_str(&format!("{}:env from {at}={kind} {name};", d.line));
    });
}

/// A simulation's result, the models it judged, and the files it read
/// whole.
type Simulation = (Remembered, Vec<System>, BTreeSet<String>);

#[allow(clippy::too_many_arguments)]
fn simulate(
    embedded: &Embedded,
    local: &Local,
    docs: &[&Document],
    files: &[(String, Vec<u8>)],
    keys: &Versions,
    facts: &ChartFacts,
    places: &HashMap<(&str, usize), &Document>,
    memo: &mut Memo,
) -> Result<Simulation, PolicyError> {
    let mut out = Remembered::default();
    let repo = build::Repository::new(docs, files, facts);
    // What every key starts with: the structure and the file list, hashed
    // once.
    let common = crate::git::digest(format!("{}\n{}", repo.structure(), keys.listing()).as_bytes());
    // An Application's model is keyed by the blob ids of what it read: the
    // chart facts read a values file through the merged values, whole.
    let mut app_key = |read: &mut dyn Iterator<Item = &str>, all: bool| {
        key_of(keys, &common, read, all, |path| keys.id(path))
    };
    // The environments none of whose reads changed, by their key again
    // from what they read last time: not even assembled.
    let unchanged: HashSet<(String, String)> = if memo.across_versions {
        let addresses = &mut memo.addresses;
        memo.envs
            .iter()
            .filter(|(_, last)| {
                let read = last
                    .read
                    .iter()
                    .chain(last.resolved_from.iter())
                    .map(String::as_str);
                let all = last.read_all || last.resolved_all;
                judgement_key(keys, &common, read, all, &last.whole, addresses) == last.key
            })
            .map(|(id, _)| id.clone())
            .collect()
    } else {
        HashSet::new()
    };
    let modelled = if memo.across_versions {
        repo.systems_with(Some((&mut memo.apps, &mut app_key)), &|env, root| {
            unchanged.contains(&(env.to_owned(), root.to_owned()))
        })
    } else {
        repo.systems_with(None, &|_, _| false)
    };
    let whole = read_whole(&repo.files);
    // Each environment: its last judgement when what it read is unchanged,
    // else resolved and judged again (the Rego rules after this loop).
    let mut envs: Vec<Environment> = Vec::with_capacity(modelled.len());
    let mut pending: Vec<Pending> = Vec::new();
    for assembled in modelled {
        let mut m = match assembled {
            build::Assembled::System(m) => *m,
            build::Assembled::Unchanged(env, root) => {
                let id = (env, root);
                if let Some(last) = memo.envs.get(&id) {
                    envs.push(Environment {
                        not_modelled: last.not_modelled.clone(),
                        found: Some(last.findings.clone()),
                        id,
                        system: None,
                        fresh: None,
                        input: None,
                    });
                }
                continue;
            }
        };
        let id = (m.system.environment.clone(), m.system.root.clone());
        // Only an environment found unchanged before assembling reuses its
        // judgement here (assembled because one after it inherits its
        // objects): any other's key is of the same files' versions, which
        // changed.
        let reused = unchanged
            .contains(&id)
            .then(|| memo.envs.get(&id))
            .flatten();
        if let Some(last) = reused {
            // A range's outcomes carry no models: none is kept.
            envs.push(Environment {
                id,
                system: None,
                not_modelled: last.not_modelled.clone(),
                found: Some(last.findings.clone()),
                fresh: None,
                input: None,
            });
            continue;
        }
        repo.files.take_touched();
        let kept = memo
            .across_versions
            .then_some((&mut memo.scans, &mut app_key as &mut build::AppKey));
        resolve(&mut m, &repo.files, facts, kept);
        let (resolved, resolved_all) = repo.files.take_touched();
        let key = if memo.across_versions {
            judgement_key(
                keys,
                &common,
                m.read.iter().chain(resolved.iter()).copied(),
                m.read_all || resolved_all,
                &whole,
                &mut memo.addresses,
            )
        } else {
            String::new()
        };
        // The embedded rules read what the objects need, create and
        // connect to, never the list of objects itself: two fifths of the
        // model's text, left out of their input unless a repository's own
        // system rules may read it.
        let objects = if local.judges_systems() {
            Vec::new()
        } else {
            std::mem::take(&mut m.system.objects)
        };
        let input = serde_json::to_string(&m.system);
        if !objects.is_empty() {
            m.system.objects = objects;
        }
        let input = input.map_err(|e| PolicyError::Eval(e.to_string()))?;
        let digest = crate::git::digest(input.as_bytes());
        let mut found = memo.by_input.get(&digest).cloned();
        let mut kept_input = None;
        // A repository's own system rules may read lines as they wish:
        // only the embedded ones' findings are moved.
        if found.is_none() && memo.across_versions && !local.judges_systems() {
            found = memo.inputs.get(&id).and_then(|last| {
                shift::moved(&last.text, &input).map(|moved| shift::placed(&last.findings, &moved))
            });
            if let Some(judged) = &found {
                memo.by_input.insert(digest.clone(), judged.clone());
            }
        }
        if found.is_none() {
            // A judgement that fails is reported at the bootstrap
            // Application, which stands for the environment.
            let root = m
                .system
                .applications
                .iter()
                .find(|a| a.name == m.system.root)
                .map(|a| (a.at.file.clone(), a.at.line));
            pending.push((envs.len(), digest, input, root));
        } else if memo.across_versions {
            kept_input = Some(input);
        }
        let not_modelled = m
            .system
            .not_modelled
            .iter()
            .map(|gap| {
                format!(
                    "{}: {} ({}:{}, Application {})",
                    m.system.environment, gap.message, gap.at.file, gap.at.line, gap.app
                )
            })
            .collect();
        envs.push(Environment {
            id,
            system: Some(m.system),
            not_modelled,
            found,
            input: kept_input,
            fresh: memo.across_versions.then(|| Judgement {
                key,
                resolved_from: resolved.into_iter().map(str::to_owned).collect(),
                resolved_all,
                read: m.read.iter().map(|p| (*p).to_owned()).collect(),
                read_all: m.read_all,
                whole: whole.clone(),
                not_modelled: Vec::new(),
                findings: Vec::new(),
            }),
        });
    }
    // Environments are judged independently, on the machine's cores, each
    // on its own copy of the prepared engine.
    // One the embedded rules cannot evaluate (an input of a shape they did
    // not expect) is a SOC-POL-002 denial: the environment is not passed,
    // and the rest of the check goes on.
    let results: Vec<Result<(usize, Judged), PolicyError>> =
        crate::parallel::map(&pending, |(at, digest, input, root)| {
            let mut judged = judge(embedded, input, root.as_ref(), places);
            judged.extend(local.evaluate_system(input));
            Ok((*at, (digest.clone(), judged)))
        });
    for r in results {
        let (at, (digest, judged)) = r?;
        memo.by_input.insert(digest, judged.clone());
        envs[at].found = Some(judged);
    }
    if memo.across_versions {
        for (at, _, input, _) in pending {
            envs[at].input = Some(input);
        }
    }
    if memo.envs.len() >= MEMO_BOUND {
        memo.envs.clear();
    }
    if memo.inputs.len() >= MEMO_BOUND {
        memo.inputs.clear();
    }
    let mut systems = Vec::with_capacity(envs.len());
    for env in envs {
        let judged = env.found.unwrap_or_default();
        out.findings.extend(judged.iter().cloned());
        out.not_modelled.extend(env.not_modelled.iter().cloned());
        if let Some(input) = env.input {
            memo.inputs.insert(
                env.id.clone(),
                LastInput {
                    text: input,
                    findings: judged.clone(),
                },
            );
        }
        if let Some(mut fresh) = env.fresh {
            fresh.not_modelled = env.not_modelled;
            fresh.findings = judged;
            memo.envs.insert(env.id, fresh);
        }
        systems.extend(env.system);
    }
    out.not_modelled.sort();
    out.not_modelled.dedup();
    Ok((out, systems, read_whole(&repo.files)))
}

/// An environment to judge: its index, the digest of its input, the
/// input, and where its bootstrap Application is.
type Pending = (usize, String, String, Option<(String, usize)>);

/// The embedded system rules' findings on one environment's input; a
/// SOC-POL-002 denial at `root` (the bootstrap Application) when they
/// cannot evaluate it.
fn judge(
    embedded: &Embedded,
    input: &str,
    root: Option<&(String, usize)>,
    places: &HashMap<(&str, usize), &Document>,
) -> Vec<(Finding, String)> {
    match embedded.evaluate_rule_json(RULE, input) {
        Ok(result) => findings(&result, places),
        Err(e) => {
            let (file, line) = root.cloned().unwrap_or_default();
            vec![(
                super::engine::unevaluated(RULE, &e, &file, (line > 0).then_some(line)),
                String::new(),
            )]
        }
    }
}

/// Findings of a result, at their document's line, each with the pointer
/// of the field it names (placed on that field's line when reported).
fn findings(result: &Value, places: &HashMap<(&str, usize), &Document>) -> Vec<(Finding, String)> {
    let mut out = Vec::new();
    for (key, severity) in [("deny", Severity::Deny), ("warn", Severity::Warn)] {
        for item in result[key].as_array().into_iter().flatten() {
            let file = item["file"].as_str().unwrap_or_default();
            let line = item["line"].as_u64().map(|l| l as usize).filter(|l| *l > 0);
            let pointer = item["pointer"].as_str().unwrap_or_default();
            let _ = places;
            let f = Finding::new(
                item["id"].as_str().unwrap_or("SOC-UNKNOWN"),
                severity,
                file,
                line,
                item["msg"].as_str().unwrap_or_default(),
            );
            out.push((f, pointer.to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{account_reads, carried_yaml, chart_reads};
    use crate::core::charts::ChartFacts;

    /// An environment the embedded system rules cannot evaluate (two
    /// projects of one name, which the model never hands them) is a
    /// SOC-POL-002 denial at its bootstrap Application, not an end of the
    /// check.
    #[test]
    fn an_environment_the_system_rules_fail_on_is_denied() {
        let embedded = super::Embedded::load().expect("embedded policies");
        let input = serde_json::json!({
            "environment": "dev",
            "applications": [
                {"name": "web", "project": "p", "wave": 0, "at": {"file": "web.yaml", "line": 1}},
            ],
            "projects": [
                {"name": "p", "at": {"file": "a.yaml", "line": 1}, "spec": {}},
                {"name": "p", "at": {"file": "b.yaml", "line": 1}, "spec": {"sourceRepos": ["*"]}},
            ],
        })
        .to_string();
        let root = ("argocd/dev/bootstrap.yaml".to_owned(), 3);
        let judged = super::judge(&embedded, &input, Some(&root), &Default::default());
        assert_eq!(judged.len(), 1, "{judged:?}");
        let f = &judged[0].0;
        assert_eq!(
            (f.rule.as_str(), f.file.as_str(), f.line),
            ("SOC-POL-002", "argocd/dev/bootstrap.yaml", Some(3))
        );
        assert!(f.message.contains("policies/system.rego:"), "{}", f.message);
    }

    /// `simulate` leaves the list of objects out of the embedded rules'
    /// input: a rule of theirs reading it would see none, and pass.
    #[test]
    fn the_embedded_system_rules_read_no_list_of_objects() {
        let rules = include_str!("../../../../policies/system.rego");
        for read in [
            "input.objects",
            "input[\"objects\"]",
            "object.get(input, \"objects\"",
        ] {
            assert!(!rules.contains(read), "policies/system.rego reads {read}");
        }
    }

    /// What `reader` remembers of a values file holding `yaml`.
    fn remembered(
        yaml: &str,
        reader: fn(&crate::check::parse::Document, &ChartFacts, &mut String),
    ) -> String {
        let facts = ChartFacts::embedded();
        let files = vec![(
            "components/x/values.yaml".to_owned(),
            yaml.as_bytes().to_vec(),
        )];
        let parsed = crate::check::parse::parse_all(&files);
        let mut out = String::new();
        for d in &parsed.documents {
            reader(d, &facts, &mut out);
        }
        out
    }

    #[test]
    fn what_the_chart_facts_read_of_a_values_file_is_remembered() {
        let read = |yaml: &str| remembered(yaml, chart_reads);
        let base = "backups:\n  enabled: true\ndefaults:\n  extraEnvFrom:\n    - secretRef:\n        name: loki-s3\nreplicas: 2\n";
        let remembered = read(base);
        // A gate turned off, a list of Secrets emptied: read.
        assert_ne!(
            remembered,
            read(&base.replace("enabled: true", "enabled: false"))
        );
        assert_ne!(
            remembered,
            read("backups:\n  enabled: true\ndefaults:\n  extraEnvFrom: []\nreplicas: 2\n")
        );
        // A value no fact reads: not.
        assert_eq!(
            remembered,
            read(&base.replace("replicas: 2", "replicas: 3"))
        );
    }

    /// What a workload identity reads of a values file: an account's
    /// annotations and its pods' labels where the facts say, and the
    /// labels and account of any pod template; not the rest.
    #[test]
    fn what_a_workload_identity_reads_of_a_values_file_is_remembered() {
        let read = |yaml: &str| remembered(yaml, account_reads);
        let base = "serviceAccount:\n  annotations:\n    azure.workload.identity/client-id: a\nloki:\n  podLabels:\n    azure.workload.identity/use: \"true\"\nworkers:\n  labels: {}\nnodes:\n  - podTemplate:\n      metadata:\n        labels:\n          azure.workload.identity/use: \"true\"\n      spec:\n        serviceAccountName: es\n        containers: []\nreplicas: 2\n";
        let remembered = read(base);
        for (from, to) in [
            ("client-id: a", "client-id: b"),
            (
                "  podLabels:\n    azure.workload.identity/use: \"true\"",
                "  podLabels: {}",
            ),
            (
                "labels: {}",
                "labels: {azure.workload.identity/use: \"true\"}",
            ),
            (
                "          azure.workload.identity/use: \"true\"\n      spec",
                "          x: y\n      spec",
            ),
            ("serviceAccountName: es", "serviceAccountName: other"),
            (
                "workers:\n  labels: {}",
                "workers:\n  labels: {}\n  env:\n    - {name: GOOGLE_APPLICATION_CREDENTIALS, value: /k.json}",
            ),
            (
                "workers:\n  labels: {}",
                "workers:\n  labels: {}\n  extraEnvFrom:\n    - configMapRef: {name: google-key}",
            ),
        ] {
            assert!(base.contains(from), "{from}");
            assert_ne!(remembered, read(&base.replacen(from, to, 1)), "{from}");
        }
        assert_eq!(
            remembered,
            read(&base.replace("replicas: 2", "replicas: 3"))
        );
    }

    /// A range remembers what a values file says (see `Memo`): a commit
    /// that only gives a storage client a key in a values file changes
    /// what is remembered, so the commit is judged again.
    #[test]
    fn a_key_setting_added_to_a_values_file_changes_what_is_remembered() {
        let read = |yaml: &str| remembered(yaml, |d, _, out| super::resources::read_of(d, out));
        let base = "catalogs:\n  lake: |\n    connector.name=iceberg\n    fs.native-gcs.enabled=true\nstorage:\n  azure:\n    useFederatedToken: true\n  s3:\n    region: eu-west-1\n";
        let remembered = read(base);
        for (from, to) in [
            (
                "fs.native-gcs.enabled=true\n",
                "fs.native-gcs.enabled=true\n    gcs.json-key-file-path=/k.json\n",
            ),
            ("useFederatedToken: true", "accountKey: ${KEY}"),
            ("region: eu-west-1", "accessKeyId: ${KEY}"),
        ] {
            assert!(base.contains(from), "{from}");
            assert_ne!(remembered, read(&base.replacen(from, to, 1)), "{to}");
        }
    }

    #[test]
    fn only_strings_that_start_like_a_yaml_mapping_are_read_as_one() {
        let recipe =
            "source:\n  type: postgres\n  config:\n    host_port: pg-ro.storage.svc:5432\n";
        assert_eq!(
            carried_yaml(recipe).expect("a recipe")["source"]["config"]["host_port"],
            "pg-ro.storage.svc:5432"
        );
        assert!(carried_yaml("# a workflow\n\nworkflowConfig:\n  x: 1\n").is_some());
        for not_yaml in [
            "import os\nURL = 'http://x.svc:80'\n",
            "def main():\n    pass\n",
            "{\n  \"panels\": []\n}\n",
            "select 1;\nselect 2;\n",
            "a=b\nc: d\n",
            "http://x.svc:80/\nmore\n",
            "single line: no newline",
        ] {
            assert!(carried_yaml(not_yaml).is_none(), "{not_yaml}");
        }
        let huge = format!("source:\n{}", "  # padding\n".repeat(8000));
        assert!(carried_yaml(&huge).is_none());
    }
}
