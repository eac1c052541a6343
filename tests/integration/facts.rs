//! Upstream facts the tests judge socle's output against — each pinned
//! chart's default values and `values.schema.json`, Argo CD's CRD schemas —
//! kept in the repository as compact JSON (`tests/fixtures/facts/`), so that
//! the tests using them run the same on a clone with nothing beside it.
//!
//! They are derived from the reference set (`../shared/reference`, or
//! `SOCLE_REFERENCE`) by the code below: `reference_facts_are_current`
//! derives them again whenever the reference set is there and fails on any
//! difference, and `SOCLE_UPDATE_FACTS=1` (see `tests/tools/reference_facts.sh`)
//! rewrites the files instead. Only what the tests read is kept: defaults
//! without their comments, schemas without their prose. A chart the
//! reference set lacks is read from `SOCLE_CHART_SOURCES` (its values file
//! taken from its upstream repository at the release tag), and keeps its
//! committed facts where that folder is not given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Map, Value};
use socle::model::deep_merge;

use crate::support::{reference, repo_root};

const CHARTS: &str = "tests/fixtures/facts/chart-values.json";
const ARGOCD: &str = "tests/fixtures/facts/argocd-schemas.json";

/// The Argo CD kinds whose CRD schema is kept, with the reference file.
const ARGOCD_KINDS: &[(&str, &str)] = &[
    ("Application", "application-argoproj-v1alpha1.json"),
    ("ApplicationSet", "applicationset-argoproj-v1alpha1.json"),
    ("AppProject", "appproject-argoproj-v1alpha1.json"),
];

/// A chart version's upstream defaults (its sub-charts' under their names,
/// as Helm passes `<subchart>.*` down) and its values schema, if it has one.
pub struct ChartFacts {
    pub defaults: Value,
    pub schema: Option<Value>,
}

/// The facts of `name` at `version`, or `None` when the reference set did
/// not hold that chart version.
pub fn chart(name: &str, version: &str) -> Option<ChartFacts> {
    let all = stored(CHARTS);
    let entry = all.get("charts")?.get(format!("{name}@{version}"))?;
    Some(ChartFacts {
        defaults: entry.get("defaults").cloned().unwrap_or(Value::Null),
        schema: entry.get("schema").cloned(),
    })
}

/// Argo CD's upstream CRD schema (openAPIV3Schema) for `kind`.
pub fn argocd_schema(kind: &str) -> Value {
    stored(ARGOCD)
        .get(kind)
        .cloned()
        .unwrap_or_else(|| panic!("{ARGOCD} has no schema for {kind}"))
}

fn stored(path: &'static str) -> &'static Value {
    static CACHE: OnceLock<BTreeMap<&'static str, Value>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        [CHARTS, ARGOCD]
            .into_iter()
            .map(|p| {
                let bytes = fs_err::read(repo_root().join(p)).unwrap_or_else(|e| {
                    panic!("{p}: {e}; regenerate it (tests/tools/reference_facts.sh)")
                });
                (
                    p,
                    serde_json::from_slice(&bytes).expect("fact file is JSON"),
                )
            })
            .collect()
    });
    &all[path]
}

/// Keywords whose values are data, not schemas: copied untouched.
const DATA_KEYWORDS: &[&str] = &["default", "enum", "const", "examples", "example"];

/// A schema without its prose: `description` (and `title`) keywords go, a
/// property that happens to be named so stays (it is an object, not text).
fn without_prose(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, v)| !(matches!(k.as_str(), "description" | "title") && v.is_string()))
                .map(|(k, v)| {
                    let v = if DATA_KEYWORDS.contains(&k.as_str()) {
                        v.clone()
                    } else {
                        without_prose(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_prose).collect()),
        other => other.clone(),
    }
}

fn yaml(bytes: &[u8]) -> Value {
    let v: Value = crate::support::yaml_slice(bytes).expect("values parse");
    match v {
        Value::Null => Value::Object(Map::new()),
        v => v,
    }
}

/// Where the reference set keeps a chart whose name is shared by two
/// vendors' charts.
fn reference_dir(chart: &str) -> &str {
    match chart {
        "operator" => "minio-operator",
        "tenant" => "minio-tenant",
        other => other,
    }
}

/// A chart's defaults with its stored sub-charts' defaults under their names.
fn chart_defaults(reference: &Path, dir: &Path, chart: &str) -> Value {
    let mut defaults = yaml(&fs_err::read(dir.join("values.yaml")).expect("values.yaml"));
    let mut subs: Vec<(String, PathBuf)> = Vec::new();
    for folder in ["subcharts", "charts"] {
        if let Ok(entries) = fs_err::read_dir(dir.join(folder)) {
            for e in entries.filter_map(Result::ok) {
                subs.push((
                    e.file_name().to_string_lossy().into_owned(),
                    e.path().join("values.yaml"),
                ));
            }
        }
    }
    subs.sort();
    // Remote dependencies stored as charts of their own.
    if chart == "kube-prometheus-stack" {
        subs.push((
            "grafana".into(),
            reference.join("charts/grafana/12.11.1/values.yaml"),
        ));
    }
    for (name, path) in subs {
        if let Ok(bytes) = fs_err::read(&path) {
            let mut merged = yaml(&bytes);
            if let Some(parent) = defaults.get(&name) {
                deep_merge(&mut merged, parent);
            }
            defaults[name] = merged;
        }
    }
    defaults
}

/// The charts every blueprint's manifest pins, as (name, version).
fn pinned_charts() -> Vec<(String, String)> {
    let mut manifests: Vec<Value> = Vec::new();
    for entry in fs_err::read_dir(repo_root().join("blueprints")).unwrap() {
        let path = entry.unwrap().path().join("blueprint.yaml");
        if path.is_file() {
            manifests.push(crate::support::yaml_slice(&fs_err::read(&path).unwrap()).unwrap());
        }
    }
    let mut charts: Vec<(String, String)> = manifests
        .iter()
        .flat_map(|m| m["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c.get("chart").cloned())
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    charts.sort();
    charts.dedup();
    charts
}

/// Where a pinned chart's files are: the reference set, else a folder of
/// `SOCLE_CHART_SOURCES` (`<dir>/<chart>/<version>/values.yaml`, for charts
/// the reference set lacks, extracted from the chart's upstream repository
/// at its release tag).
fn chart_dir(reference: &Path, name: &str, version: &str) -> Option<PathBuf> {
    let mut dirs = vec![reference
        .join("charts")
        .join(reference_dir(name))
        .join(version)];
    if let Some(extra) = std::env::var_os("SOCLE_CHART_SOURCES") {
        dirs.extend(std::env::split_paths(&extra).map(|d| d.join(name).join(version)));
    }
    dirs.into_iter().find(|d| d.join("values.yaml").is_file())
}

fn derive_charts(reference: &Path) -> Value {
    // A chart no source holds here keeps its committed facts: they were
    // derived where its source was at hand.
    let committed: Value = fs_err::read(repo_root().join(CHARTS))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let mut charts = Map::new();
    for (name, version) in pinned_charts() {
        let key = format!("{name}@{version}");
        let Some(dir) = chart_dir(reference, &name, &version) else {
            if let Some(kept) = committed["charts"].get(&key) {
                charts.insert(key, kept.clone());
            }
            continue;
        };
        let mut entry = Map::new();
        entry.insert("defaults".into(), chart_defaults(reference, &dir, &name));
        if let Ok(bytes) = fs_err::read(dir.join("values.schema.json")) {
            let schema: Value = serde_json::from_slice(&bytes).expect("values.schema.json");
            entry.insert("schema".into(), without_prose(&schema));
        }
        charts.insert(key, Value::Object(entry));
    }
    serde_json::json!({ "charts": charts })
}

fn derive_argocd(reference: &Path) -> Value {
    let dir = reference.join("schemas/argocd");
    Value::Object(
        ARGOCD_KINDS
            .iter()
            .map(|(kind, file)| {
                let schema: Value =
                    serde_json::from_slice(&fs_err::read(dir.join(file)).expect("schema"))
                        .expect("schema is JSON");
                ((*kind).to_owned(), without_prose(&schema))
            })
            .collect(),
    )
}

fn encode(v: &Value) -> String {
    let mut s = serde_json::to_string(v).expect("JSON");
    s.push('\n');
    s
}

#[test]
fn reference_facts_are_current() {
    let reference = reference();
    if !reference.join("charts").is_dir() {
        eprintln!(
            "{} absent: the committed fact files are used as they are",
            reference.display()
        );
        return;
    }
    let update = std::env::var_os("SOCLE_UPDATE_FACTS").is_some();
    let mut stale = Vec::new();
    for (path, derived) in [
        (CHARTS, derive_charts(&reference)),
        (ARGOCD, derive_argocd(&reference)),
    ] {
        let text = encode(&derived);
        let file = repo_root().join(path);
        if update {
            fs_err::create_dir_all(file.parent().unwrap()).unwrap();
            fs_err::write(&file, &text).unwrap();
        } else if fs_err::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} differ from what {} gives: run tests/tools/reference_facts.sh",
        reference.display()
    );
}

#[test]
fn prose_is_dropped_but_a_property_named_description_is_kept() {
    let schema = serde_json::json!({
        "description": "text", "title": "t",
        "properties": {"description": {"type": "string", "description": "x"}},
        "default": {"description": "kept: data"}
    });
    assert_eq!(
        without_prose(&schema),
        serde_json::json!({
            "properties": {"description": {"type": "string"}},
            "default": {"description": "kept: data"}
        })
    );
}
