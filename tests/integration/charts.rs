//! Helm values against the real charts: each component's values merged with
//! each environment's file, as Helm merges them, must validate against the
//! chart's `values.schema.json` where it publishes one, and otherwise use only
//! key paths that exist in the chart's default `values.yaml`. ArgoCD would
//! sync an invented key silently and the component would run without it.
//!
//! Paths a values file declares free-form (`# free-form: a.b.c — reason`),
//! maps the chart leaves empty (`annotations: {}`), lists and keys whose
//! default is null are open by construction and not descended into.

use std::collections::BTreeSet;

use serde_json::Value;
use socle::model::deep_merge;

use crate::support::repo_root;

/// Charts whose upstream defaults are not in the reference set, with why.
/// A component missing here and from the reference set fails the test.
const UNVERIFIABLE: &[(&str, &str)] = &[(
    "airflow",
    "airflow 1.22.0 defaults are not in the reference set (apache/airflow snapshot too large)",
)];

/// Paths declared open in a values file: `# free-form: a.b, c.d — reason`.
fn free_form(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("# free-form:"))
        .flat_map(|rest| {
            let list = rest.split(" — ").next().unwrap_or("");
            list.split(',')
                .map(|item| {
                    let item = item.split_whitespace().next().unwrap_or("");
                    item.trim_end_matches(".*")
                        .replace("[]", "")
                        .replace(".*", "")
                })
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Keys whose value is a Kubernetes type that charts pass through verbatim
/// (`toYaml`): their inner fields are Kubernetes', not the chart's.
const KUBERNETES_PASSTHROUGH: &[&str] = &[
    "resources",
    "securityContext",
    "podSecurityContext",
    "containerSecurityContext",
    "annotations",
    "podAnnotations",
    "labels",
    "podLabels",
    "nodeSelector",
    "tolerations",
    "affinity",
];

fn check_paths(
    values: &Value,
    defaults: &Value,
    path: &str,
    open: &[String],
    problems: &mut Vec<String>,
) {
    let Value::Object(map) = values else { return };
    for (k, v) in map {
        if KUBERNETES_PASSTHROUGH.contains(&k.as_str()) && defaults.get(k).is_some() {
            continue;
        }
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        if open
            .iter()
            .any(|o| p == *o || p.starts_with(&format!("{o}.")))
        {
            continue;
        }
        match defaults.get(k) {
            None => problems.push(p),
            Some(Value::Object(d)) if d.is_empty() => {}
            Some(d @ Value::Object(_)) => check_paths(v, d, &p, open, problems),
            Some(_) => {}
        }
    }
}

fn yaml(bytes: &[u8]) -> Value {
    let v: serde_json::Value = crate::support::yaml_slice(bytes).expect("values parse");
    match serde_json::to_value(v).expect("json") {
        Value::Null => Value::Object(Default::default()),
        v => v,
    }
}

#[test]
fn values_use_only_keys_the_charts_have() {
    let manifest = |name: &str| -> serde_json::Value {
        crate::support::yaml_slice(
            &fs_err::read(repo_root().join(format!("blueprints/{name}/blueprint.yaml"))).unwrap(),
        )
        .unwrap()
    };
    let mut problems = Vec::new();
    let mut checked = BTreeSet::new();
    // The example with prod on EKS renders the components of the cloud only.
    let mut renders: Vec<(&str, serde_json::Value, socle::render::FileSet)> =
        crate::support::renders_of_every_shape()
            .into_iter()
            .map(|(spec, files)| (spec, manifest("platform"), files))
            .collect();
    renders.extend(
        crate::support::renders_of_other_targets()
            .into_iter()
            .map(|(label, blueprint, files)| (label, manifest(blueprint), files)),
    );
    for (spec, blueprint, files) in renders {
        for c in blueprint["components"].as_array().unwrap() {
            let Some(chart) = c.get("chart") else {
                continue;
            };
            let id = c["id"].as_str().unwrap();
            let (name, version) = (
                chart["name"].as_str().unwrap(),
                chart["version"].as_str().unwrap(),
            );
            let Some(common) = files.get(&format!("components/{id}/values.yaml")) else {
                continue;
            };
            let Some(crate::facts::ChartFacts { defaults, schema }) =
                crate::facts::chart(name, version)
            else {
                assert!(
                    UNVERIFIABLE.iter().any(|(n, _)| *n == name),
                    "no reference defaults for {name} {version} in the fact file"
                );
                continue;
            };
            for env in ["dev", "staging", "prod"] {
                let env_path = format!("components/{id}/values-{env}.yaml");
                let Some(env_bytes) = files.get(&env_path) else {
                    continue;
                };
                let mut merged = defaults.clone();
                deep_merge(&mut merged, &yaml(common));
                deep_merge(&mut merged, &yaml(env_bytes));
                let mut open = free_form(&String::from_utf8_lossy(common));
                open.extend(free_form(&String::from_utf8_lossy(env_bytes)));
                if let Some(schema) = &schema {
                    let validator = jsonschema::validator_for(schema)
                        .unwrap_or_else(|e| panic!("{name} schema: {e}"));
                    for err in validator.iter_errors(&merged) {
                        problems.push(format!(
                            "{spec:?} {id}/{env}: schema: {} at {}",
                            err,
                            err.instance_path().as_str()
                        ));
                    }
                }
                let mut user = yaml(common);
                deep_merge(&mut user, &yaml(env_bytes));
                let mut missing = Vec::new();
                check_paths(&user, &defaults, "", &open, &mut missing);
                problems.extend(missing.into_iter().map(|p| {
                    format!("{spec:?} {id}/{env}: `{p}` is not a key of {name} {version}")
                }));
                checked.insert(id.to_owned());
            }
        }
    }
    assert!(
        checked.len() >= 20,
        "only {} charts checked: {checked:?}",
        checked.len()
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The values paths the chart facts say an account and its pods' labels
/// are at (`account_values`) are keys of the chart's upstream defaults,
/// where the reference set has them: a path the chart does not have would
/// have `socle check` judge a value Helm never reads.
#[test]
fn account_values_name_keys_the_charts_have() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for c in socle::core::charts::ChartFacts::embedded().charts {
        let Some(crate::facts::ChartFacts { defaults, .. }) =
            crate::facts::chart(&c.name, &c.version)
        else {
            continue;
        };
        // Those the facts give; a main account's conventional place
        // (`serviceAccount`, `podLabels`) is judged only where values set it.
        for a in &c.account_values {
            for path in std::iter::once(&a.values).chain(&a.pod_labels) {
                let at = path.split('.').try_fold(&defaults, |v, key| v.get(key));
                if at.is_none() {
                    problems.push(format!(
                        "{} {}: `{path}` ({}) is not a key of its defaults",
                        c.name, c.version, a.account
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} paths checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
