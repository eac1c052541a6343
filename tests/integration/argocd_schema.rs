//! ArgoCD documents against the upstream CRD schemas, made strict: every
//! object that lists `properties` (and does not preserve unknown fields)
//! rejects any other field, so a misspelt key fails here instead of being
//! dropped by the API server.

use serde_json::Value;

use crate::facts::argocd_schema;
use crate::support::{to_json, yaml_docs};

fn strict(schema: &mut Value) {
    if let Value::Object(map) = schema {
        let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        if map.contains_key("properties") && !preserve && !map.contains_key("additionalProperties")
        {
            map.insert("additionalProperties".into(), Value::Bool(false));
        }
        for v in map.values_mut() {
            strict(v);
        }
    } else if let Value::Array(items) = schema {
        items.iter_mut().for_each(strict);
    }
}

#[test]
fn argocd_documents_match_the_strict_crd_schemas() {
    let load = |kind: &str| {
        let mut v = argocd_schema(kind);
        strict(&mut v);
        jsonschema::validator_for(&v).expect("schema compiles")
    };
    let validators = [
        ("Application", load("Application")),
        ("AppProject", load("AppProject")),
        ("ApplicationSet", load("ApplicationSet")),
    ];
    let mut count = 0;
    let mut problems = Vec::new();
    let mut specs = crate::support::renders_of_every_shape().to_vec();
    specs.extend(
        crate::support::renders_of_other_targets()
            .into_iter()
            .map(|(label, _, files)| (label, files)),
    );
    for (spec, files) in specs {
        for (path, doc) in yaml_docs(&files) {
            let j = to_json(&doc);
            if j["apiVersion"] != "argoproj.io/v1alpha1" {
                continue;
            }
            let kind = j["kind"].as_str().unwrap_or_default();
            let (_, validator) = validators
                .iter()
                .find(|(k, _)| *k == kind)
                .unwrap_or_else(|| panic!("{path}: unknown kind {kind}"));
            count += 1;
            for e in validator.iter_errors(&j) {
                problems.push(format!(
                    "{spec} {path}: {e} at {}",
                    e.instance_path().as_str()
                ));
            }
        }
    }
    assert!(count > 50, "only {count} ArgoCD documents");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn strictness_catches_a_misspelt_field() {
    let mut schema = argocd_schema("Application");
    strict(&mut schema);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let doc = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "x"},
        "spec": {"project": "p", "destination": {"server": "https://k"}, "source": {"repoURL": "r", "targetRevisoin": "1"}}
    });
    assert!(!validator.is_valid(&doc));
}

/// Every field socle's own ArgoCD schemas allow exists in the upstream CRD
/// schema at the same place: socle never accepts an invented field.
#[test]
fn socle_argocd_schemas_only_name_upstream_fields() {
    fn walk(ours: &Value, upstream: &Value, path: &str, problems: &mut Vec<String>) {
        if let Some(props) = ours.get("properties").and_then(Value::as_object) {
            let up = upstream.get("properties").and_then(Value::as_object);
            for (name, sub) in props {
                match up.and_then(|u| u.get(name)) {
                    Some(u) => walk(sub, u, &format!("{path}.{name}"), problems),
                    None => problems.push(format!("{path}.{name}")),
                }
            }
        }
        if let (Some(items), Some(up_items)) = (ours.get("items"), upstream.get("items")) {
            walk(items, up_items, &format!("{path}[]"), problems);
        }
    }
    let mut problems = Vec::new();
    for kind in ["Application", "ApplicationSet", "AppProject"] {
        let upstream = argocd_schema(kind);
        let ours = socle::check::argocd::schema_for(kind).unwrap();
        walk(&ours, &upstream, kind, &mut problems);
    }
    // `metadata` is described by Kubernetes, not by the CRD schema.
    problems.retain(|p| !p.contains(".metadata."));
    assert!(
        problems.is_empty(),
        "fields not in the upstream CRDs: {problems:?}"
    );
}
