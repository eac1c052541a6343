//! Access keys that shadow a pod identity. The AWS SDKs' default chain
//! reads `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` from the
//! environment before it asks EKS's Pod Identity agent: a pod given keys
//! signs in with them, whatever role its service account has. A bucket the
//! environment's Terraform creates has no keys (no IAM user of its), so a
//! consumer whose pods are given keys from the secret store is refused by
//! S3 though its pod identity would be granted.
//!
//! Which Secret a chart's pods take their keys from is a chart fact
//! (`secrets[].aws_keys`): the first two keys of that Secret are the pair;
//! a manifest's containers name it in their environment.
//! What fills them is the ExternalSecret producing the Secret: a remote
//! reference (or an extract, which may hold any key) fills them; a
//! template value of `""` leaves them empty, which the chain skips.
//!
//! On GKE the same shadow is a key file: Google's clients read the file
//! `GOOGLE_APPLICATION_CREDENTIALS` names before the metadata server. It is
//! looked for in the consumer's containers (a value, a key of a ConfigMap
//! or Secret, `envFrom` one that holds it) and in its chart's merged Helm
//! values (an entry, or an `envFrom` list), and reported where it is set.
//! A storage client's own configuration may name a key too (a Hadoop key
//! file, Trino's `gcs.json-key`): the configuration scan of `resources`
//! finds those settings, and they count the same.

use serde_json::Value;

use super::build::Modelled;
use super::input::{At, BucketUse, KeyFile, Keyed};
use super::kustomize::Files;
use crate::core::charts::ChartFacts;

/// The variable that points Google's clients at a credentials file. Their
/// Application Default Credentials read the file it names before they ask
/// the metadata server, where GKE's workload identity answers: pods that
/// set it sign in as whatever the file holds, or fail where it is missing,
/// never as their workload identity.
pub(crate) const GOOGLE_KEY_FILE: &str = "GOOGLE_APPLICATION_CREDENTIALS";

/// How an ExternalSecret fills one key of the Secret it produces.
enum Fill {
    /// From an entry of the secret store (its name).
    Entry(String),
    /// From every key of an entry (`dataFrom`), which may hold this one.
    Extract(String),
    /// A literal value of its template, not empty.
    Literal,
}

/// How `key` of the Secret `v` (an ExternalSecret) produces is filled,
/// if at all. The template's value wins: with `mergePolicy: Merge` it is
/// written over what the data fetched.
fn fill(v: &Value, key: &str) -> Option<Fill> {
    let template = &v["spec"]["target"]["template"];
    if let Some(t) = template["data"].get(key) {
        return match t.as_str() {
            Some("") => None,
            _ => Some(Fill::Literal),
        };
    }
    // Without `mergePolicy: Merge` a template's data is the whole Secret:
    // what the data fetched only feeds it.
    if template["data"].is_object() && template["mergePolicy"].as_str() != Some("Merge") {
        return None;
    }
    let data = v["spec"]["data"].as_array().into_iter().flatten();
    for d in data {
        if d["secretKey"].as_str() == Some(key) {
            let entry = d["remoteRef"]["key"].as_str().unwrap_or_default();
            return Some(Fill::Entry(entry.to_owned()));
        }
    }
    let extract = v["spec"]["dataFrom"].as_array().into_iter().flatten();
    extract
        .filter_map(|d| d["extract"]["key"].as_str())
        .map(|e| Fill::Extract(e.to_owned()))
        .next()
}

/// The uses of `keyless` buckets whose consumer's pods get access keys
/// from a Secret an ExternalSecret fills.
pub(crate) fn keyed(m: &Modelled, facts: &ChartFacts, keyless: &[String]) -> Vec<Keyed> {
    m.system
        .bucket_uses
        .iter()
        .filter(|u| keyless.contains(&u.bucket))
        .filter_map(|u| keyed_use(m, facts, u))
        .collect()
}

fn keyed_use(m: &Modelled, facts: &ChartFacts, u: &BucketUse) -> Option<Keyed> {
    let app = m
        .system
        .applications
        .iter()
        .find(|a| a.name == u.consumer)?;
    let ns = app.destination.namespace.clone().unwrap_or_default();
    // Where the pods take their access key's id from: (namespace, Secret,
    // key). A chart's, from its facts; a manifest's, from its containers'
    // environment.
    let mut sources: Vec<(String, String, String)> = app
        .sources
        .iter()
        .filter_map(|s| s.chart_facts(facts))
        .flat_map(|c| c.secrets.iter().filter(|s| s.aws_keys))
        .filter_map(|s| Some((ns.clone(), s.name.clone(), s.keys.first()?.clone())))
        .collect();
    for (o, v) in m.system.objects.iter().zip(&m.values) {
        if o.app != u.consumer || o.kind == "ExternalSecret" {
            continue;
        }
        if let Some(v) = v {
            containers_keys(v, &mut |secret, key| {
                sources.push((o.namespace.clone(), secret.to_owned(), key.to_owned()));
            });
        }
    }
    for (namespace, secret, key) in sources {
        let producers = m
            .system
            .objects
            .iter()
            .zip(&m.values)
            .filter(|(o, _)| o.app == u.consumer && o.kind == "ExternalSecret")
            .filter(|(o, _)| o.namespace == namespace && o.produces.as_deref() == Some(&secret));
        for (o, v) in producers {
            let Some(filled) = v.as_deref().and_then(|v| fill(v, &key)) else {
                continue;
            };
            let filled = match filled {
                Fill::Entry(e) => format!("from entry {e}"),
                Fill::Extract(e) => format!("with every key of entry {e}"),
                Fill::Literal => "with a literal value of its template".to_owned(),
            };
            return Some(Keyed {
                consumer: u.consumer.clone(),
                bucket: u.bucket.clone(),
                at: u.at.clone(),
                secret: format!("{namespace}/{secret}"),
                key,
                filled,
                external_secret: At {
                    pointer: String::new(),
                    ..o.at.clone()
                },
            });
        }
    }
    None
}

/// The uses of `keyless` buckets whose consumer's S3 client is given an
/// access key by its configuration (see `BucketUse::aws_keys`). Judged
/// only for a consumer all of whose buckets are keyless: one that also
/// uses another store's bucket (MinIO, the client's S3 store) may hold
/// that store's key. A per-bucket key counts for its bucket alone.
pub(crate) fn configured_keys(m: &Modelled, keyless: &[String]) -> Vec<KeyFile> {
    let all_keyless = |consumer: &str| {
        m.system
            .bucket_uses
            .iter()
            .filter(|u| u.consumer == consumer)
            .all(|u| keyless.contains(&u.bucket))
    };
    m.system
        .bucket_uses
        .iter()
        .filter(|u| keyless.contains(&u.bucket) && all_keyless(&u.consumer))
        .filter_map(|u| {
            let (setting, value, _, set_at) = u
                .aws_keys
                .iter()
                .find(|(_, _, bucket, _)| bucket.as_ref().is_none_or(|b| *b == u.bucket))?;
            Some(KeyFile {
                consumer: u.consumer.clone(),
                bucket: u.bucket.clone(),
                at: u.at.clone(),
                setting: setting.clone(),
                value: value.clone(),
                set_at: set_at.clone(),
                fix: format!("Remove {setting} from the configuration"),
            })
        })
        .collect()
}

/// The Secret keys the containers under `v` (a workload, at any depth)
/// take `AWS_ACCESS_KEY_ID` from: a `secretKeyRef`, or every key of an
/// `envFrom` Secret.
fn containers_keys(v: &Value, note: &mut impl FnMut(&str, &str)) {
    super::each_object(v, &mut |map| {
        let containers = ["containers", "initContainers"]
            .into_iter()
            .filter_map(|c| map.get(c).and_then(Value::as_array))
            .flatten();
        for c in containers {
            let env = c["env"].as_array().into_iter().flatten();
            for e in env.filter(|e| e["name"] == "AWS_ACCESS_KEY_ID") {
                let r = &e["valueFrom"]["secretKeyRef"];
                if let (Some(name), Some(key)) = (r["name"].as_str(), r["key"].as_str()) {
                    note(name, key);
                }
            }
        }
    });
    env_from(v, &mut |_, kind, name| {
        if kind == "Secret" {
            note(name, "AWS_ACCESS_KEY_ID");
        }
    });
}

/// The uses of `keyless` buckets (in Cloud Storage) whose consumer's pods
/// set [`GOOGLE_KEY_FILE`]: in the containers of its manifests, or in the
/// Helm values of its chart (any environment entry of that name: charts
/// name their lists `env`, `extraEnv`, `extraEnvVars`…).
pub(crate) fn key_files(m: &Modelled, files: &Files, keyless: &[String]) -> Vec<KeyFile> {
    // Once per consumer: one with several buckets (Loki's chunks and
    // ruler) is one set of pods, and its values are merged once.
    let mut of_consumer: std::collections::HashMap<&str, Option<Key>> =
        std::collections::HashMap::new();
    m.system
        .bucket_uses
        .iter()
        .filter(|u| keyless.contains(&u.bucket))
        .filter_map(|u| {
            let key = of_consumer
                .entry(u.consumer.as_str())
                .or_insert_with(|| {
                    key_file(m, files, &u.consumer)
                        .map(|(value, set_at)| Key {
                            setting: GOOGLE_KEY_FILE.to_owned(),
                            value,
                            set_at,
                            fix: format!("Remove the variable {GOOGLE_KEY_FILE}"),
                        })
                        .or_else(|| u.google_keys.first().map(configured))
                })
                .clone()?;
            Some(KeyFile {
                consumer: u.consumer.clone(),
                bucket: u.bucket.clone(),
                at: u.at.clone(),
                setting: key.setting,
                value: key.value,
                set_at: key.set_at,
                fix: key.fix,
            })
        })
        .collect()
}

/// A key a consumer's pods sign in with, and how to take it away.
#[derive(Clone)]
struct Key {
    setting: String,
    value: String,
    set_at: At,
    fix: String,
}

/// A key the storage client's configuration names (see
/// `BucketUse::google_keys`).
fn configured((setting, value, at): &(String, String, At)) -> Key {
    let fix = if setting.to_ascii_lowercase().ends_with("use_keyfile") {
        format!("Set {setting} to false")
    } else if setting.to_ascii_lowercase().ends_with("auth.type") {
        format!("Set {setting} to APPLICATION_DEFAULT")
    } else {
        format!("Remove {setting} from the configuration")
    };
    // A key written inline (Trino's `gcs.json-key`) is not repeated in the
    // report; a path or a reference is.
    let key_itself = setting.to_ascii_lowercase().ends_with("json-key");
    Key {
        setting: setting.clone(),
        value: if key_itself {
            super::key_settings::shown(value)
        } else {
            value.clone()
        },
        set_at: at.clone(),
        fix,
    }
}

/// Where the pods of Application `app` set [`GOOGLE_KEY_FILE`], and to
/// what: the first place found.
fn key_file(m: &Modelled, files: &Files, app: &str) -> Option<(String, At)> {
    let mut found: Option<(String, At)> = None;
    for (o, v) in m.system.objects.iter().zip(&m.values) {
        let Some(v) = v.as_deref().filter(|_| o.app == app) else {
            continue;
        };
        let at = |pointer: &str| At {
            pointer: format!("{}{pointer}", o.at.pointer),
            ..o.at.clone()
        };
        key_variables(v, GOOGLE_KEY_FILE, &mut |pointer, value| {
            found.get_or_insert_with(|| (value, at(&pointer)));
        });
        env_from(v, &mut |pointer, kind, name| {
            if found.is_none() {
                found = sets_key_file(m, &o.namespace, kind, name).map(|v| (v, at(&pointer)));
            }
        });
    }
    if found.is_some() {
        return found;
    }
    // The chart's values as Helm merges them: a later file replacing a
    // list drops what an earlier one set.
    let a = m.system.applications.iter().find(|a| a.name == app)?;
    let merged = super::wiring::app_values(a, files);
    let mut in_values = None;
    key_variables(&merged, GOOGLE_KEY_FILE, &mut |pointer, value| {
        in_values.get_or_insert((pointer, value));
    });
    if in_values.is_none() {
        let namespace = a.destination.namespace.clone().unwrap_or_default();
        env_from(&merged, &mut |pointer, kind, name| {
            if in_values.is_none() {
                in_values = sets_key_file(m, &namespace, kind, name).map(|v| (pointer, v));
            }
        });
    }
    let (pointer, value) = in_values?;
    Some((value, values_place(a, files, &merged, &pointer)?))
}

/// Where the entry at `pointer` of an Application's merged Helm `values`
/// comes from: the last values file, or the `valuesObject`, that gives it
/// its merged value (the Application itself when none does alone).
fn values_place(
    a: &super::input::Application,
    files: &Files,
    merged: &Value,
    pointer: &str,
) -> Option<At> {
    let entry = merged.pointer(pointer);
    let doc = files.doc_at(&a.at.file, a.at.line)?;
    let mut at = At {
        pointer: String::new(),
        ..a.at.clone()
    };
    for (path, s) in super::build::sources(&doc.value["spec"]) {
        for rel in super::build::value_files(s) {
            for d in files.docs_of(rel).into_iter().flatten() {
                if d.value.pointer(pointer) == entry {
                    at = At {
                        file: d.path.clone(),
                        line: d.line,
                        pointer: pointer.to_owned(),
                    };
                }
            }
        }
        if let Some(object) = s["helm"].get("valuesObject") {
            if object.pointer(pointer) == entry {
                let base = crate::check::parse::pointer_of(&path);
                at = At {
                    pointer: format!("{base}/helm/valuesObject{pointer}"),
                    ..a.at.clone()
                };
            }
        }
    }
    Some(at)
}

/// Every environment entry named `name` under `v` (at any depth) that sets
/// a value, given to `note` with its JSON pointer and what it is set to.
pub(crate) fn key_variables(v: &Value, name: &str, note: &mut impl FnMut(String, String)) {
    super::each_object_at(v, &mut |at, entry| {
        if entry.get("name").and_then(Value::as_str) == Some(name) {
            if let Some(value) = set_to(entry) {
                note(at.to_owned(), value);
            }
        }
    });
}

/// Every `envFrom` source under `v` (a workload, or a chart's values, at
/// any depth), given to `note` with its JSON pointer, its kind
/// (`ConfigMap` or `Secret`) and its name. Charts name their lists
/// `envFrom` or `extraEnvFrom`, or take one Secret's or ConfigMap's name
/// (`extraEnvVarsSecret`, `extraEnvVarsCM`).
pub(crate) fn env_from(v: &Value, note: &mut impl FnMut(String, &str, &str)) {
    super::each_object_at(v, &mut |at, map| {
        for (key, x) in map {
            let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
            let lower = key.to_ascii_lowercase();
            if lower == "envfrom" || lower.ends_with("envfrom") {
                for (i, f) in x.as_array().into_iter().flatten().enumerate() {
                    for (kind, reference) in
                        [("ConfigMap", "configMapRef"), ("Secret", "secretRef")]
                    {
                        if let Some(name) = f[reference]["name"].as_str() {
                            note(format!("{here}/{i}"), kind, name);
                        }
                    }
                }
            }
            let named = [("envvarssecret", "Secret"), ("envvarscm", "ConfigMap")]
                .into_iter()
                .find(|(suffix, _)| lower.ends_with(suffix));
            if let (Some((_, kind)), Some(name)) = (named, x.as_str()) {
                note(here, kind, name);
            }
        }
    });
}

/// Whether the ConfigMap or Secret `name` in `namespace`, as the
/// environment creates it, holds [`GOOGLE_KEY_FILE`], and how: its data, or
/// the ExternalSecret that fills it with that key (an entry's every key,
/// `dataFrom`, is not counted: a secret store's entry holding a file's path
/// is not one a consumer's Google client would be given).
fn sets_key_file(m: &Modelled, namespace: &str, kind: &str, name: &str) -> Option<String> {
    let objects = m.system.objects.iter().zip(&m.values);
    for (o, v) in objects.filter(|(o, _)| o.namespace == namespace) {
        let Some(v) = v.as_deref() else { continue };
        let named = o.name == name || o.base_name == name;
        if o.kind == kind && named {
            let held = ["data", "stringData"]
                .iter()
                .find_map(|d| v[d][GOOGLE_KEY_FILE].as_str().filter(|s| !s.is_empty()));
            if let Some(held) = held {
                return Some(match kind {
                    "ConfigMap" => format!("{held}, from ConfigMap {name}"),
                    _ => format!("from Secret {name}"),
                });
            }
        }
        if kind == "Secret" && o.kind == "ExternalSecret" && o.produces.as_deref() == Some(name) {
            let how = match fill(v, GOOGLE_KEY_FILE) {
                Some(Fill::Entry(e)) => format!("filled from entry {e}"),
                Some(Fill::Literal) => "filled with a literal value of its template".to_owned(),
                Some(Fill::Extract(_)) | None => continue,
            };
            return Some(format!(
                "from Secret {name}, {how} by the ExternalSecret at {}:{}",
                o.at.file, o.at.line
            ));
        }
    }
    None
}

/// What an environment entry sets its variable to, when it sets one: an
/// empty value leaves the variable empty, which Google's clients skip.
pub(crate) fn set_to(entry: &serde_json::Map<String, Value>) -> Option<String> {
    if let Some(value) = entry.get("value") {
        return match value {
            Value::Null => None,
            Value::String(path) if path.is_empty() => None,
            Value::String(path) => Some(path.clone()),
            other => Some(other.to_string()),
        };
    }
    let from = entry.get("valueFrom")?;
    for (kind, reference) in [("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")] {
        let r = &from[reference];
        if let (Some(n), Some(k)) = (r["name"].as_str(), r["key"].as_str()) {
            return Some(format!("from key {k} of {kind} {n}"));
        }
    }
    Some(format!("from {from}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn external_secret(spec: Value) -> Value {
        serde_json::json!({"kind": "ExternalSecret", "spec": spec})
    }

    #[test]
    fn a_key_is_filled_by_a_reference_an_extract_or_a_literal_not_by_an_empty_template() {
        let reference = external_secret(serde_json::json!({
            "data": [{"secretKey": "AWS_ACCESS_KEY_ID", "remoteRef": {"key": "acme/prod/web/s3"}}]
        }));
        assert!(
            matches!(fill(&reference, "AWS_ACCESS_KEY_ID"), Some(Fill::Entry(e)) if e == "acme/prod/web/s3")
        );
        assert!(fill(&reference, "OTHER").is_none());
        let extract = external_secret(
            serde_json::json!({"dataFrom": [{"extract": {"key": "acme/prod/web"}}]}),
        );
        assert!(matches!(
            fill(&extract, "AWS_ACCESS_KEY_ID"),
            Some(Fill::Extract(_))
        ));
        // An empty template value wins over what the data fetched.
        let emptied = external_secret(serde_json::json!({
            "target": {"template": {"mergePolicy": "Merge", "data": {"AWS_ACCESS_KEY_ID": ""}}},
            "data": [{"secretKey": "AWS_ACCESS_KEY_ID", "remoteRef": {"key": "acme/prod/web/s3"}}]
        }));
        assert!(fill(&emptied, "AWS_ACCESS_KEY_ID").is_none());
        let literal = external_secret(serde_json::json!({
            "target": {"template": {"data": {"AWS_ACCESS_KEY_ID": "AKIA{{ .id }}"}}}
        }));
        assert!(matches!(
            fill(&literal, "AWS_ACCESS_KEY_ID"),
            Some(Fill::Literal)
        ));
        // A template replacing the data (no merge) without the key leaves
        // it out of the Secret.
        let replaced = external_secret(serde_json::json!({
            "target": {"template": {"data": {"config": "{{ .AWS_ACCESS_KEY_ID }}"}}},
            "data": [{"secretKey": "AWS_ACCESS_KEY_ID", "remoteRef": {"key": "acme/prod/web/s3"}}]
        }));
        assert!(fill(&replaced, "AWS_ACCESS_KEY_ID").is_none());
    }

    #[test]
    fn a_key_file_variable_is_found_in_a_workload_and_in_a_charts_values() {
        let found = |v: Value| {
            let mut out = Vec::new();
            key_variables(&v, GOOGLE_KEY_FILE, &mut |p, value| out.push((p, value)));
            out
        };
        let deployment = serde_json::json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "env": [
                {"name": "OTHER", "value": "x"},
                {"name": GOOGLE_KEY_FILE, "value": "/var/secrets/google/key.json"}
            ]}
        ]}}}});
        assert_eq!(
            found(deployment),
            [(
                "/spec/template/spec/containers/0/env/1".to_owned(),
                "/var/secrets/google/key.json".to_owned()
            )]
        );
        // A chart's own list, its value from a Secret.
        let values = serde_json::json!({"worker": {"extraEnv": [
            {"name": GOOGLE_KEY_FILE, "valueFrom": {"secretKeyRef": {"name": "gcp", "key": "path"}}}
        ]}});
        assert_eq!(
            found(values),
            [(
                "/worker/extraEnv/0".to_owned(),
                "from key path of Secret gcp".to_owned()
            )]
        );
        // Emptied, or only named: the clients skip it.
        let empty = serde_json::json!({"env": [
            {"name": GOOGLE_KEY_FILE, "value": ""},
            {"name": GOOGLE_KEY_FILE}
        ]});
        assert!(found(empty).is_empty());
        // As deep as a parsed document may nest: not skipped.
        let mut deep = serde_json::json!({"env": [{"name": GOOGLE_KEY_FILE, "value": "/k.json"}]});
        for _ in 0..100 {
            deep = serde_json::json!({ "x": deep });
        }
        assert_eq!(found(deep).len(), 1);
    }

    #[test]
    fn a_containers_access_key_comes_from_a_key_reference_or_an_env_from_secret() {
        let deployment = serde_json::json!({"spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "env": [
                {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "id"}}}
            ]}],
            "containers": [{"name": "app", "envFrom": [
                {"configMapRef": {"name": "settings"}},
                {"secretRef": {"name": "keys"}}
            ]}]
        }}}});
        let mut out = Vec::new();
        containers_keys(&deployment, &mut |secret, key| {
            out.push((secret.to_owned(), key.to_owned()))
        });
        out.sort();
        assert_eq!(
            out,
            [
                ("keys".to_owned(), "AWS_ACCESS_KEY_ID".to_owned()),
                ("s3".to_owned(), "id".to_owned()),
            ]
        );
    }

    /// Charts' own lists and names: `extraEnvFrom`, and the one Secret or
    /// ConfigMap of `extraEnvVarsSecret` / `extraEnvVarsCM`.
    #[test]
    fn env_from_sources_are_found_in_a_charts_values() {
        let values = serde_json::json!({"worker": {
            "extraEnvFrom": [{"secretRef": {"name": "google"}}],
            "extraEnvVarsCM": "settings",
            "extraEnvVarsSecret": "keys",
            "env": [{"name": "X", "value": "y"}]
        }});
        let mut out = Vec::new();
        env_from(&values, &mut |p, kind, name| {
            out.push((p, kind.to_owned(), name.to_owned()))
        });
        out.sort();
        let row =
            |p: &str, kind: &str, name: &str| (p.to_owned(), kind.to_owned(), name.to_owned());
        assert_eq!(
            out,
            [
                row("/worker/extraEnvFrom/0", "Secret", "google"),
                row("/worker/extraEnvVarsCM", "ConfigMap", "settings"),
                row("/worker/extraEnvVarsSecret", "Secret", "keys"),
            ]
        );
    }

    #[test]
    fn env_from_sources_are_found_with_their_place() {
        let deployment = serde_json::json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "envFrom": [
                {"configMapRef": {"name": "settings"}},
                {"secretRef": {"name": "keys"}}
            ]}
        ]}}}});
        let mut out = Vec::new();
        env_from(&deployment, &mut |p, kind, name| {
            out.push((p, kind.to_owned(), name.to_owned()))
        });
        let at = "/spec/template/spec/containers/0/envFrom";
        assert_eq!(
            out,
            [
                (
                    format!("{at}/0"),
                    "ConfigMap".to_owned(),
                    "settings".to_owned()
                ),
                (format!("{at}/1"), "Secret".to_owned(), "keys".to_owned()),
            ]
        );
    }
}
