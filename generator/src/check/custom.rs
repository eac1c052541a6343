//! Custom resources against the schemas of their CustomResourceDefinitions.
//!
//! A custom resource with a misspelt field applies nowhere: the API server
//! refuses it under strict field validation (kubectl's and Argo CD's
//! default), or prunes the field, and the operator never sees the setting.
//! The schema comes from a CRD found in the checked tree (its served
//! versions), else from the schemas bundled for the operators socle's
//! platform deploys (`policies/crds.json`, derived from the upstream CRDs by
//! `tests/tools/crd_facts.py`). A document of a kind no schema covers is not
//! a pass: it is counted as "not validated", by kind, in the report.
//!
//! A CRD's `openAPIV3Schema` is made strict as the core schemas are:
//! unknown fields are refused where the schema lists properties, unless it
//! preserves unknown fields; `x-kubernetes-int-or-string`, `nullable` and
//! embedded resources mean what the API server makes of them; formats and
//! CEL rules (`x-kubernetes-validations`) are not checked.
//!
//! A tree may define one kind's version more than once, differently: a
//! chart's CRDs at two releases, a test's golden output beside the chart
//! that renders it. Which one a cluster runs, the tree does not say, so a
//! resource is refused only when every definition refuses it; the finding
//! then gives the first one's reasons (by path) and names the others.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use serde_json::{json, Map, Value};

use super::finding::{Finding, Severity};
use super::parse::Document;

/// `group/version/Kind` of a document's `apiVersion` and `kind`.
fn key(api_version: &str, kind: &str) -> String {
    if api_version.contains('/') {
        format!("{api_version}/{kind}")
    } else {
        format!("/{api_version}/{kind}")
    }
}

/// The bundled schemas, as text, and the upstream release each API group's
/// come from (`cloudnative-pg@v1.30.0`), read once per process when first
/// needed; each schema is parsed only when a document of its kind is
/// checked (the file holds dozens of large schemas, a repository uses a
/// few).
struct Bundled {
    schemas: HashMap<String, &'static serde_json::value::RawValue>,
    sources: HashMap<&'static str, &'static str>,
}

fn bundle() -> &'static Bundled {
    #[derive(serde::Deserialize)]
    struct Entry<'a> {
        #[serde(borrow)]
        schema: &'a serde_json::value::RawValue,
    }
    #[derive(serde::Deserialize)]
    struct File<'a> {
        #[serde(borrow)]
        schemas: HashMap<String, Entry<'a>>,
        #[serde(borrow)]
        sources: HashMap<&'a str, &'a str>,
    }
    static BUNDLED: OnceLock<Bundled> = OnceLock::new();
    BUNDLED.get_or_init(|| {
        crate::source::Tree::embedded_policy_file("crds.json")
            .and_then(|bytes| serde_json::from_slice::<File<'static>>(bytes).ok())
            .map_or_else(
                || Bundled {
                    schemas: HashMap::new(),
                    sources: HashMap::new(),
                },
                |f| Bundled {
                    schemas: f.schemas.into_iter().map(|(k, e)| (k, e.schema)).collect(),
                    sources: f.sources,
                },
            )
    })
}

fn bundled() -> &'static HashMap<String, &'static serde_json::value::RawValue> {
    &bundle().schemas
}

/// The upstream release the bundled schemas of `api_version`'s group come
/// from.
fn bundled_source(api_version: &str) -> Option<&'static str> {
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    bundle().sources.get(group).copied()
}

/// The bundled schema of a custom resource kind, strict as the API server
/// reads it, compiled once per process: the check of custom resources and
/// the test of whether a left-out document is a part share it.
pub(crate) fn bundled_validator(
    api_version: &str,
    kind: &str,
) -> Option<Arc<jsonschema::Validator>> {
    type Compiled = HashMap<String, Option<Arc<jsonschema::Validator>>>;
    static COMPILED: OnceLock<std::sync::Mutex<Compiled>> = OnceLock::new();
    let k = key(api_version, kind);
    let mut compiled = COMPILED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    compiled
        .entry(k)
        .or_insert_with_key(|k| {
            let raw = bundled().get(k)?;
            let schema: Value = serde_json::from_str(raw.get()).ok()?;
            jsonschema::validator_for(&strict(&schema, api_version, kind))
                .ok()
                .map(Arc::new)
        })
        .clone()
}

/// The groups the bundled schemas cover, for the report.
pub fn bundled_kinds() -> Vec<String> {
    let mut kinds: Vec<String> = bundled().keys().cloned().collect();
    kinds.sort();
    kinds
}

/// What the CRDs of one tree define.
#[derive(Default)]
pub(crate) struct Definitions {
    /// `group/version/Kind` → the version's schemas, for served versions:
    /// each different one, with the file of its first definition, in path
    /// order.
    served: HashMap<String, Vec<(Value, String)>>,
    /// `group/version/Kind` of versions a CRD defines and does not serve.
    unserved: HashMap<String, String>,
    /// Digest of the above: a file's results hold while it is unchanged.
    pub(crate) digest: String,
}

impl Definitions {
    pub(crate) fn of(documents: &[&Document]) -> Self {
        let mut out = Self::default();
        let mut text = String::new();
        for d in documents {
            let v = &d.value;
            if v["kind"] != "CustomResourceDefinition"
                || v["apiVersion"] != "apiextensions.k8s.io/v1"
            {
                continue;
            }
            let (Some(group), Some(kind)) = (
                v["spec"]["group"].as_str(),
                v["spec"]["names"]["kind"].as_str(),
            ) else {
                continue;
            };
            for version in v["spec"]["versions"].as_array().into_iter().flatten() {
                let Some(name) = version["name"].as_str() else {
                    continue;
                };
                let k = format!("{group}/{name}/{kind}");
                let schema = &version["schema"]["openAPIV3Schema"];
                text.push_str(&k);
                text.push_str(&schema.to_string());
                if version["served"] == Value::Bool(false) {
                    out.unserved.insert(k, d.path.clone());
                } else {
                    // Served without a schema: anything goes, as for the
                    // API server (apiextensions v1 requires one).
                    let schema = if schema.is_object() {
                        schema.clone()
                    } else {
                        json!({"x-kubernetes-preserve-unknown-fields": true})
                    };
                    let defined = out.served.entry(k).or_default();
                    if !defined.iter().any(|(s, _)| *s == schema) {
                        defined.push((schema, d.path.clone()));
                    }
                }
            }
        }
        if !text.is_empty() {
            out.digest = crate::git::digest(text.as_bytes());
        }
        out
    }

    /// The files defining `key` differently, when more than one does.
    fn defined_in(&self, key: &str) -> Vec<&str> {
        match self.served.get(key) {
            Some(defined) if defined.len() > 1 => {
                defined.iter().map(|(_, path)| path.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// Compiled validators, kept between the checks of a range.
#[derive(Default)]
pub(crate) struct Validators {
    /// Those of each definition of a kind's version, in the definitions'
    /// order; none when one does not compile (what it would accept is
    /// unknown).
    compiled: HashMap<(String, String), Option<Vec<Arc<jsonschema::Validator>>>>,
}

/// What checking one tree's custom resources found.
#[derive(Default)]
pub(crate) struct Checked {
    pub(crate) findings: Vec<Finding>,
    /// `Kind (apiVersion)` → documents of it no schema covers.
    pub(crate) not_validated: BTreeMap<String, usize>,
}

/// Kinds that configure a tool and reach no API server.
fn is_tool_config(api_version: &str) -> bool {
    let group = api_version.split('/').next().unwrap_or("");
    matches!(
        group,
        "kustomize.config.k8s.io" | "config.kubernetes.io" | "builtin"
    )
}

impl Validators {
    /// Validate the custom resources among `documents` (core and Argo CD
    /// kinds are [`super::schema`]'s), and count what nothing validates.
    pub(crate) fn check(&mut self, documents: &[&Document], defs: &Definitions) -> Checked {
        let mut out = Checked::default();
        for doc in documents.iter().filter(|d| !d.partial) {
            let (Some(api), Some(kind)) = (
                doc.value.get("apiVersion").and_then(Value::as_str),
                doc.value.get("kind").and_then(Value::as_str),
            ) else {
                continue;
            };
            if super::schema::knows(api, kind) || is_tool_config(api) || kind == "List" {
                continue;
            }
            let k = key(api, kind);
            if let Some(crd) = defs.unserved.get(&k) {
                let mut f = Finding::new(
                    "SOC-SCHEMA-003",
                    Severity::Deny,
                    &doc.path,
                    Some(doc.line_of(&[Value::from("apiVersion")])),
                    format!("{kind} {api} is not served: its CustomResourceDefinition ({crd}) sets served: false for this version; use a served one"),
                );
                f.resource = doc.resource();
                out.findings.push(f);
                continue;
            }
            let validators = self.validators(&k, api, kind, defs);
            let Some(validator) = validators.as_ref().and_then(|v| v.first()) else {
                *out.not_validated
                    .entry(format!("{kind} ({api})"))
                    .or_default() += 1;
                continue;
            };
            // A bundled schema is one release's: a cluster running another
            // may accept what it refuses, so the finding says which.
            let bundled = (!defs.served.contains_key(&k))
                .then(|| bundled_source(api))
                .flatten();
            let decoded = super::schema::as_decoded(&doc.value);
            let others = validators.iter().flatten().skip(1);
            if others.clone().any(|v| v.is_valid(&decoded)) {
                continue;
            }
            let defined_in = defs.defined_in(&k);
            for err in validator.iter_errors(&decoded) {
                let mut f = super::schema::finding_of(doc, kind, &err);
                if let Some(source) = bundled {
                    f.message.push_str(&format!(
                        " (the schema bundled from {source}; a CustomResourceDefinition in the repository takes its place)"
                    ));
                } else if !defined_in.is_empty() {
                    f.message.push_str(&format!(
                        " (by {}; its other definitions in the repository refuse it too: {})",
                        defined_in[0],
                        defined_in[1..].join(", ")
                    ));
                }
                out.findings.push(f);
            }
        }
        out
    }

    fn validators(
        &mut self,
        k: &str,
        api: &str,
        kind: &str,
        defs: &Definitions,
    ) -> Option<Vec<Arc<jsonschema::Validator>>> {
        let Some(defined) = defs.served.get(k) else {
            return bundled_validator(api, kind).map(|v| vec![v]);
        };
        self.compiled
            .entry((k.to_owned(), defs.digest.clone()))
            .or_insert_with(|| {
                defined
                    .iter()
                    .map(|(schema, _)| {
                        jsonschema::validator_for(&strict(schema, api, kind))
                            .ok()
                            .map(Arc::new)
                    })
                    .collect()
            })
            .clone()
    }
}

/// A CRD version's schema as a strict JSON Schema for one kind.
fn strict(schema: &Value, api: &str, kind: &str) -> Value {
    let mut s = convert(schema, 0, true);
    if let Value::Object(map) = &mut s {
        let props = map
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(props) = props {
            props.insert("apiVersion".into(), json!({"const": api}));
            props.insert("kind".into(), json!({"const": kind}));
            props
                .entry("metadata")
                .or_insert_with(|| json!({"type": "object"}));
        }
        // The root of a resource with no listed fields stays open.
        if map.get("x-kubernetes-preserve-unknown-fields") != Some(&Value::Bool(true))
            && schema.get("properties").is_some()
        {
            map.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
    s
}

/// Bounds the walk: as deep as a parsed document can be (the deserializer
/// refuses a deeper CRD), so no schema a CRD holds is cut short into an
/// open one, and a hostile CRD still cannot nest forever.
const MAX_DEPTH: usize = super::parse::MAX_FLOW_DEPTH;

/// `structural` is false under `anyOf`, `oneOf`, `allOf` and `not`: there
/// a schema only constrains values (a structural schema's value
/// validations), and its `properties` do not make other fields unknown; a
/// branch closed to them would fail every object with one more field
/// (Gateway API's address, whose branches each name only `type` or
/// `value`).
fn convert(node: &Value, depth: usize, structural: bool) -> Value {
    let Value::Object(map) = node else {
        return node.clone();
    };
    if depth > MAX_DEPTH {
        return json!({});
    }
    let mut out = Map::new();
    let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let embedded = map.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true));
    let int_or_string = map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let nullable = map.get("nullable") == Some(&Value::Bool(true));
    for (k, v) in map {
        match k.as_str() {
            // Not checkable here, or not JSON Schema. References are not
            // allowed in a structural schema: one in a CRD from a pull
            // request is dropped, never followed.
            "$ref" | "$schema" | "$id" | "$anchor" | "$dynamicRef" => {}
            "format"
            | "x-kubernetes-validations"
            | "nullable"
            | "description"
            | "example"
            | "externalDocs" => {}
            k if k.starts_with("x-kubernetes-") => {}
            "properties" | "patternProperties" | "definitions" => {
                let Value::Object(props) = v else { continue };
                let converted: Map<String, Value> = props
                    .iter()
                    .map(|(name, p)| (name.clone(), convert(p, depth + 1, structural)))
                    .collect();
                out.insert(k.into(), Value::Object(converted));
            }
            "items" | "additionalProperties" => {
                out.insert(k.into(), convert(v, depth + 1, structural));
            }
            "not" => {
                out.insert(k.into(), convert(v, depth + 1, false));
            }
            "anyOf" | "oneOf" | "allOf" => {
                let list = v
                    .as_array()
                    .map(|a| a.iter().map(|i| convert(i, depth + 1, false)).collect())
                    .unwrap_or_default();
                out.insert(k.into(), Value::Array(list));
            }
            _ => {
                out.insert(k.into(), v.clone());
            }
        }
    }
    // The API server fills a missing field from its schema's `default`
    // before it validates the object: a required field with a default is
    // never missing where its parent is set (External Secrets' Password
    // generator requires `allowRepeat`, defaulted to false).
    if let (Some(Value::Array(required)), Some(Value::Object(props))) =
        (map.get("required"), map.get("properties"))
    {
        let left: Vec<Value> = required
            .iter()
            .filter(|r| {
                r.as_str()
                    .and_then(|name| props.get(name))
                    .is_none_or(|p| p.get("default").is_none())
            })
            .cloned()
            .collect();
        if left.len() < required.len() {
            out.insert("required".into(), Value::Array(left));
        }
    }
    if int_or_string {
        out.remove("type");
        // The API server's int-or-string: structural schemas may add
        // anyOf [integer, string] themselves; either way both are allowed.
        out.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    if embedded {
        if let Some(Value::Object(props)) = out.get_mut("properties") {
            for field in ["apiVersion", "kind", "metadata"] {
                props.entry(field).or_insert_with(|| json!({}));
            }
        }
    }
    if structural
        && out.contains_key("properties")
        && !preserve
        && !out.contains_key("additionalProperties")
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    if nullable {
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), json!([t, "null"]));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(schema: Value, instance: Value) -> Vec<String> {
        let s = strict(&schema, "example.com/v1", "Widget");
        let v = jsonschema::validator_for(&s).unwrap();
        v.iter_errors(&instance).map(|e| e.to_string()).collect()
    }

    /// A CRD version's schema whose `spec` has `properties`, `required`.
    fn with_spec(properties: Value, required: &[&str]) -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": properties, "required": required},
            },
        })
    }

    #[test]
    fn crd_schemas_are_strict_as_the_api_server_reads_them() {
        let schema = with_spec(
            json!({
                "port": {"x-kubernetes-int-or-string": true},
                "size": {"type": "string", "nullable": true, "format": "quantity"},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}},
            }),
            &["port"],
        );
        let ok = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"port": "http", "size": null, "extra": {"anything": 1},
                     "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {}}}});
        assert_eq!(validate(schema.clone(), ok), Vec::<String>::new());
        let typo = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"prot": 80}});
        let errors = validate(schema.clone(), typo);
        assert_eq!(errors.len(), 2, "{errors:?}");
        let wrong_kind =
            json!({"apiVersion": "example.com/v1", "kind": "Gadget", "spec": {"port": 1}});
        assert_eq!(validate(schema, wrong_kind).len(), 1);
    }

    /// A branch of `oneOf` (or `anyOf`, `allOf`, `not`) constrains values
    /// only: the fields it does not name are not unknown to it. Gateway
    /// API's address is one of an IP address or another type, each branch
    /// naming one field; the unknown field is still refused by the
    /// structural part.
    #[test]
    fn a_logical_branch_s_properties_do_not_close_the_object() {
        let schema = with_spec(
            json!({
                "addresses": {"type": "array", "items": {
                    "type": "object",
                    "oneOf": [
                        {"properties": {"type": {"enum": ["IPAddress"]}, "value": {"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}}},
                        {"properties": {"type": {"not": {"enum": ["IPAddress"]}}}},
                    ],
                    "properties": {"type": {"type": "string"}, "value": {"type": "string"}},
                }},
            }),
            &[],
        );
        let widget = |address: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"addresses": [address]}});
        let hostname = widget(json!({"type": "Hostname", "value": "gateway.example.org"}));
        assert_eq!(validate(schema.clone(), hostname), Vec::<String>::new());
        let address = widget(json!({"type": "IPAddress", "value": "10.0.0.1"}));
        assert_eq!(validate(schema.clone(), address), Vec::<String>::new());
        let typo = widget(json!({"type": "Hostname", "vaule": "gateway.example.org"}));
        assert_eq!(validate(schema, typo).len(), 1);
    }

    /// The API server defaults before it validates: a required field with
    /// a default is filled, one without is still missing.
    #[test]
    fn a_required_field_with_a_default_is_filled_before_validation() {
        let schema = with_spec(
            json!({
                "length": {"type": "integer", "default": 24},
                "noUpper": {"type": "boolean", "default": false},
                "name": {"type": "string"},
            }),
            &["length", "noUpper", "name"],
        );
        let some = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"name": "w"}});
        assert_eq!(validate(schema.clone(), some), Vec::<String>::new());
        let none = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {}});
        let errors = validate(schema, none);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("\"name\" is a required property"),
            "{errors:?}"
        );
    }

    #[test]
    fn references_in_a_crd_are_never_followed() {
        let schema = json!({"type": "object", "properties": {"spec": {"$ref": "http://127.0.0.1:9/x.json", "type": "object"}}});
        let ok = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {}});
        assert_eq!(validate(schema, ok), Vec::<String>::new());
    }
}
