//! Schema validation of Kubernetes core kinds and of `socle.yaml`.
//!
//! The Kubernetes schemas are k8s-openapi's types' JSON schemas, made strict
//! (the derived schemas accept unknown fields and free strings where the API
//! server would refuse them, so a typo such as `replica:` or
//! `imagePullPolicy: Sometimes` would pass). They are bundled in
//! `policies/kubernetes.json`, each definition once, rather than derived at
//! run time: deriving them cost every run 13 ms of CPU and kept
//! k8s-openapi's code (2.5 MB) in the binary. A test derives them again and
//! fails while the file disagrees (`SOCLE_UPDATE_FACTS=1` rewrites it).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::value::RawValue;
use serde_json::Value;

use super::finding::{Finding, Severity};
use super::parse::Document;

/// `policies/kubernetes.json`: each kind's root schema by
/// `<apiVersion>/<kind>`, and the definitions they refer to (`$ref` to
/// `#/$defs/<name>`), kept as text until a kind present needs them.
#[derive(serde::Deserialize, Default)]
struct Bundle<'a> {
    #[serde(borrow)]
    kinds: HashMap<String, &'a RawValue>,
    #[serde(borrow)]
    definitions: HashMap<String, &'a RawValue>,
}

const BUNDLE: &str = "kubernetes.json";

fn bundle() -> &'static Bundle<'static> {
    static BUNDLED: OnceLock<Bundle<'static>> = OnceLock::new();
    BUNDLED.get_or_init(|| {
        crate::source::Tree::embedded_policy_file(BUNDLE)
            .and_then(|bytes| serde_json::from_slice(bytes).ok())
            .unwrap_or_default()
    })
}

/// The names of the definitions a schema refers to.
fn refs_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                if let Some(name) = r.strip_prefix("#/$defs/") {
                    out.push(crate::core::spec::pointer_token(name));
                }
            }
            m.values().for_each(|x| refs_in(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs_in(x, out)),
        _ => {}
    }
}

/// API versions the Kubernetes API server no longer serves: (apiVersion,
/// kinds, the release that removed them, what replaces them). A repository
/// that still uses one fails to apply on any cluster socle targets (the
/// newest release it knows); the schemas above only know the versions that
/// are served, so without this such a document would pass unvalidated.
const REMOVED: &[(&str, &[&str], &str, &str)] = &[
    (
        "extensions/v1beta1",
        &["Deployment", "DaemonSet", "ReplicaSet"],
        "1.16",
        "apps/v1",
    ),
    (
        "extensions/v1beta1",
        &["NetworkPolicy"],
        "1.16",
        "networking.k8s.io/v1",
    ),
    (
        "extensions/v1beta1",
        &["PodSecurityPolicy"],
        "1.16",
        "Pod Security admission",
    ),
    (
        "extensions/v1beta1",
        &["Ingress"],
        "1.22",
        "networking.k8s.io/v1",
    ),
    (
        "apps/v1beta1",
        &[
            "Deployment",
            "StatefulSet",
            "ReplicaSet",
            "ControllerRevision",
        ],
        "1.16",
        "apps/v1",
    ),
    (
        "apps/v1beta2",
        &[
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "ControllerRevision",
        ],
        "1.16",
        "apps/v1",
    ),
    (
        "networking.k8s.io/v1beta1",
        &["Ingress", "IngressClass"],
        "1.22",
        "networking.k8s.io/v1",
    ),
    (
        "rbac.authorization.k8s.io/v1beta1",
        &["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"],
        "1.22",
        "rbac.authorization.k8s.io/v1",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        &[
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ],
        "1.22",
        "admissionregistration.k8s.io/v1",
    ),
    (
        "apiextensions.k8s.io/v1beta1",
        &["CustomResourceDefinition"],
        "1.22",
        "apiextensions.k8s.io/v1",
    ),
    (
        "apiregistration.k8s.io/v1beta1",
        &["APIService"],
        "1.22",
        "apiregistration.k8s.io/v1",
    ),
    (
        "certificates.k8s.io/v1beta1",
        &["CertificateSigningRequest"],
        "1.22",
        "certificates.k8s.io/v1",
    ),
    (
        "coordination.k8s.io/v1beta1",
        &["Lease"],
        "1.22",
        "coordination.k8s.io/v1",
    ),
    (
        "scheduling.k8s.io/v1beta1",
        &["PriorityClass"],
        "1.22",
        "scheduling.k8s.io/v1",
    ),
    (
        "storage.k8s.io/v1beta1",
        &["CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"],
        "1.22",
        "storage.k8s.io/v1",
    ),
    (
        "storage.k8s.io/v1beta1",
        &["CSIStorageCapacity"],
        "1.27",
        "storage.k8s.io/v1",
    ),
    ("batch/v1beta1", &["CronJob"], "1.25", "batch/v1"),
    (
        "discovery.k8s.io/v1beta1",
        &["EndpointSlice"],
        "1.25",
        "discovery.k8s.io/v1",
    ),
    (
        "events.k8s.io/v1beta1",
        &["Event"],
        "1.25",
        "events.k8s.io/v1",
    ),
    (
        "autoscaling/v2beta1",
        &["HorizontalPodAutoscaler"],
        "1.25",
        "autoscaling/v2",
    ),
    (
        "autoscaling/v2beta2",
        &["HorizontalPodAutoscaler"],
        "1.26",
        "autoscaling/v2",
    ),
    (
        "policy/v1beta1",
        &["PodDisruptionBudget"],
        "1.25",
        "policy/v1",
    ),
    (
        "policy/v1beta1",
        &["PodSecurityPolicy"],
        "1.25",
        "Pod Security admission",
    ),
    (
        "node.k8s.io/v1beta1",
        &["RuntimeClass"],
        "1.25",
        "node.k8s.io/v1",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta1",
        &["FlowSchema", "PriorityLevelConfiguration"],
        "1.26",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta2",
        &["FlowSchema", "PriorityLevelConfiguration"],
        "1.29",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta3",
        &["FlowSchema", "PriorityLevelConfiguration"],
        "1.32",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
];

/// Whether some Kubernetes release removed `kind` at `api`.
pub(crate) fn was_removed(doc: &Value) -> bool {
    let (Some(api), Some(kind)) = (
        doc.get("apiVersion").and_then(Value::as_str),
        doc.get("kind").and_then(Value::as_str),
    ) else {
        return false;
    };
    REMOVED
        .iter()
        .any(|(a, kinds, _, _)| *a == api && kinds.contains(&kind))
}

/// SOC-SCHEMA-003 when `kind` is no longer served at `api` by the target
/// Kubernetes version; SOC-SCHEMA-004 when the target still serves it but
/// a later release removed it (the upgrade would break it).
fn removed(doc: &Document, api: &str, kind: &str, target: (u32, u32)) -> Option<Finding> {
    let (_, _, release, instead) = REMOVED
        .iter()
        .find(|(a, kinds, _, _)| *a == api && kinds.contains(&kind))?;
    let gone = super::config::parse_version(release).is_none_or(|r| r <= target);
    let mut f = if gone {
        Finding::new(
            "SOC-SCHEMA-003",
            Severity::Deny,
            &doc.path,
            Some(doc.line_of(&[Value::from("apiVersion")])),
            format!("{kind} {api} was removed in Kubernetes {release}: the API server refuses it; use {instead}"),
        )
    } else {
        Finding::new(
            "SOC-SCHEMA-004",
            Severity::Warn,
            &doc.path,
            Some(doc.line_of(&[Value::from("apiVersion")])),
            format!("{kind} {api} is served by Kubernetes {}.{}, the target, but was removed in {release}: move to {instead} before upgrading", target.0, target.1),
        )
    };
    f.resource = doc.resource();
    Some(f)
}

/// Strict schema of a core kind, if socle knows it: its root schema with
/// the definitions it reaches.
pub fn schema_for(api_version: &str, kind: &str) -> Option<Value> {
    let bundle = bundle();
    let root = bundle.kinds.get(&format!("{api_version}/{kind}"))?;
    let mut schema: Value = serde_json::from_str(root.get()).ok()?;
    let mut pending = Vec::new();
    refs_in(&schema, &mut pending);
    let mut defs = serde_json::Map::new();
    while let Some(name) = pending.pop() {
        if defs.contains_key(&name) {
            continue;
        }
        // A name the bundle lacks stays unresolved: the schema then fails
        // to compile, and the kind is reported as not validated.
        let Some(def) = bundle
            .definitions
            .get(&name)
            .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        else {
            continue;
        };
        refs_in(&def, &mut pending);
        defs.insert(name, def);
    }
    if !defs.is_empty() {
        schema["$defs"] = Value::Object(defs);
    }
    Some(schema)
}

/// Compiled validators of core and Argo CD kinds, by kind, shared by
/// threads.
#[derive(Default)]
struct Kept(std::sync::Mutex<HashMap<String, Option<Arc<jsonschema::Validator>>>>);

impl Kept {
    fn get(&self, api: &str, kind: &str) -> Option<Arc<jsonschema::Validator>> {
        let key = format!("{api}/{kind}");
        let lock = || {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(found) = lock().get(&key) {
            return found.clone();
        }
        // Compiled outside the lock: two threads may compile one kind
        // once each; the first kept wins.
        let validator = compile(api, kind);
        lock().entry(key).or_insert(validator).clone()
    }
}

/// Validate every document of a known core kind; validators are compiled
/// once per kind present, and freed after. Keeping them for a range's
/// commits was measured: no change in CPU per commit (8.76 and 8.70 ms on
/// the mixed history) for 7 MB more at the peak.
pub fn validate(docs: &[Document], target: (u32, u32)) -> Vec<Finding> {
    let mut validators: HashMap<(String, String), Option<Arc<jsonschema::Validator>>> =
        HashMap::new();
    let mut out = Vec::new();
    for doc in docs.iter().filter(|d| !d.partial) {
        if super::parse::is_kustomization(&doc.path) {
            out.extend(kustomization(doc));
            continue;
        }
        let (Some(api), Some(kind)) = (
            doc.value.get("apiVersion").and_then(Value::as_str),
            doc.value.get("kind").and_then(Value::as_str),
        ) else {
            continue;
        };
        if let Some(f) = removed(doc, api, kind, target) {
            out.push(f);
            continue;
        }
        let validator = validators
            .entry((api.to_owned(), kind.to_owned()))
            .or_insert_with(|| compile(api, kind));
        let Some(validator) = validator else { continue };
        let decoded = as_decoded(&doc.value);
        for err in validator.iter_errors(&decoded) {
            out.push(finding_of(doc, kind, &err));
        }
    }
    out
}

/// A kustomization that kustomize refuses to decode (an unknown field, a
/// value of the wrong type: `newTag: 1.20` is a number, `patches:` listing
/// bare paths as kustomize 1 did) fails the build of every overlay that
/// includes it, and ArgoCD syncs none of them: SOC-SCHEMA-006 at the field.
fn kustomization(doc: &Document) -> Vec<Finding> {
    static VALIDATOR: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        crate::source::Tree::embedded_policy_file("kustomization.json")
            .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
            .and_then(|schema| jsonschema::validator_for(&schema).ok())
    });
    let Some(validator) = validator else {
        return Vec::new();
    };
    let decoded = as_decoded(&doc.value);
    validator
        .iter_errors(&decoded)
        .map(|err| {
            let mut f = finding_of(doc, "Kustomization", &err);
            f.rule = "SOC-SCHEMA-006".to_owned();
            f.message = format!("{}; kustomize refuses the kustomization", f.message);
            f
        })
        .collect()
}

/// The document as the API server decodes it: a field set to `null`
/// (`creationTimestamp: null` from `kubectl create --dry-run -o yaml`, an
/// `annotations:` key left empty) is the field unset, in a built-in kind's
/// Go type as in a custom resource (whose non-nullable nulls are pruned
/// before validation), so it is validated as absent: a required field set
/// to `null` is still missing. Nulls inside lists are kept: the server
/// decodes them as empty elements, which its validation refuses. A file
/// SOPS encrypted carries its keys and MAC under a top-level `sops`, which
/// decryption (Flux's kustomize-controller, `sops -d`) removes before the
/// API server sees the object: it is left out too.
pub(crate) fn as_decoded(v: &Value) -> std::borrow::Cow<'_, Value> {
    if let Some(m) = v.as_object().filter(|m| is_sops_metadata(m.get("sops"))) {
        let mut owned = Value::Object(m.clone());
        if let Value::Object(o) = &mut owned {
            o.remove("sops");
        }
        let stripped = match as_decoded_plain(&owned) {
            std::borrow::Cow::Owned(stripped) => Some(stripped),
            std::borrow::Cow::Borrowed(_) => None,
        };
        return std::borrow::Cow::Owned(stripped.unwrap_or(owned));
    }
    as_decoded_plain(v)
}

/// SOPS's metadata: a mapping with its MAC and the time it was written.
pub(crate) fn is_sops_metadata(v: Option<&Value>) -> bool {
    v.and_then(Value::as_object)
        .is_some_and(|s| s.contains_key("mac") && s.contains_key("lastmodified"))
}

/// `v` with its fields set to `null` left out, as the API server decodes
/// them (see [`as_decoded`]); borrowed when it has none.
pub(crate) fn as_decoded_plain(v: &Value) -> std::borrow::Cow<'_, Value> {
    fn has_null_field(v: &Value, depth: usize) -> bool {
        match v {
            Value::Object(m) => m
                .values()
                .any(|x| x.is_null() || (depth < MAX_DEPTH && has_null_field(x, depth + 1))),
            Value::Array(a) => depth < MAX_DEPTH && a.iter().any(|x| has_null_field(x, depth + 1)),
            _ => false,
        }
    }
    fn strip(v: &mut Value, depth: usize) {
        match v {
            Value::Object(m) => {
                m.retain(|_, x| !x.is_null());
                if depth < MAX_DEPTH {
                    m.values_mut().for_each(|x| strip(x, depth + 1));
                }
            }
            Value::Array(a) if depth < MAX_DEPTH => a.iter_mut().for_each(|x| strip(x, depth + 1)),
            _ => {}
        }
    }
    // The parser refuses deeper documents; the bound keeps the walk's stack
    // bounded whatever reaches it.
    const MAX_DEPTH: usize = 256;
    if has_null_field(v, 0) {
        let mut owned = v.clone();
        strip(&mut owned, 0);
        std::borrow::Cow::Owned(owned)
    } else {
        std::borrow::Cow::Borrowed(v)
    }
}

/// Whether a core or Argo CD schema exists for the kind (which
/// [`compile`] compiles).
fn has_schema(api: &str, kind: &str) -> bool {
    if api == "argoproj.io/v1alpha1" {
        matches!(kind, "Application" | "ApplicationSet" | "AppProject")
    } else {
        bundle().kinds.contains_key(&format!("{api}/{kind}"))
    }
}

/// The validator of a core or Argo CD kind; `None` for a kind the bundle
/// lacks, or whose schema does not compile.
fn compile(api: &str, kind: &str) -> Option<Arc<jsonschema::Validator>> {
    let schema = if api == "argoproj.io/v1alpha1" {
        super::argocd::schema_for(kind)
    } else {
        schema_for(api, kind)
    };
    schema
        .and_then(|s| jsonschema::validator_for(&s).ok())
        .map(Arc::new)
}

/// [`compile`], once per kind and process: the parsing threads ask it of
/// every patch, bounded by the kinds the bundle knows.
fn compiled(api: &str, kind: &str) -> Option<Arc<jsonschema::Validator>> {
    static KEPT: OnceLock<Kept> = OnceLock::new();
    KEPT.get_or_init(Default::default).get(api, kind)
}

/// Whether `doc` is part of an object rather than a whole one: its kind's
/// schema (a core kind's, an Argo CD kind's or a bundled CRD's) says a
/// required field is missing (a strategic-merge patch names only what it
/// changes). Unknown kinds are taken as whole. Validators are
/// compiled once per kind and process; the parsing threads share them.
pub(crate) fn misses_required(doc: &Value) -> bool {
    let (Some(api), Some(kind)) = (
        doc.get("apiVersion").and_then(Value::as_str),
        doc.get("kind").and_then(Value::as_str),
    ) else {
        return false;
    };
    let validator = if has_schema(api, kind) {
        compiled(api, kind)
    } else {
        super::custom::bundled_validator(api, kind)
    };
    let Some(validator) = validator else {
        return false;
    };
    let decoded = as_decoded(doc);
    let mut errors = validator.iter_errors(&decoded);
    errors.any(|e| {
        matches!(
            e.kind(),
            jsonschema::error::ValidationErrorKind::Required { .. }
        )
    })
}

/// Whether [`validate`] has a schema for the kind (a core kind socle
/// knows, or an Argo CD kind).
pub(crate) fn knows(api_version: &str, kind: &str) -> bool {
    has_schema(api_version, kind)
        || REMOVED
            .iter()
            .any(|(a, kinds, _, _)| *a == api_version && kinds.contains(&kind))
}

/// A schema error as a SOC-SCHEMA-001 finding at the field's line.
pub(crate) fn finding_of(doc: &Document, kind: &str, err: &jsonschema::ValidationError) -> Finding {
    let pointer = err.instance_path().as_str().to_owned();
    let mut path: Vec<Value> = pointer
        .split('/')
        .skip(1)
        .map(|t| {
            let t = crate::core::spec::pointer_token(t);
            t.parse::<u64>()
                .map(Value::from)
                .unwrap_or(Value::String(t))
        })
        .collect();
    // An unknown field is reported on its own line, not its parent's.
    if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } = err.kind()
    {
        if let Some(first) = unexpected.first() {
            path.push(Value::String(first.clone()));
        }
    }
    let field = if pointer.is_empty() {
        "(document)".to_owned()
    } else {
        crate::core::spec::pointer_to_field(&pointer)
    };
    let mut f = Finding::new(
        "SOC-SCHEMA-001",
        Severity::Deny,
        &doc.path,
        Some(doc.line_of(&path)),
        format!("{kind} {field}: {err}"),
    );
    f.resource = doc.resource();
    f
}

/// `socle.yaml` at the repository root, against the spec's schema.
pub fn validate_spec(files: &[(String, Vec<u8>)]) -> Vec<Finding> {
    let Some((_, bytes)) = files.iter().find(|(p, _)| p == crate::core::SPEC_PATH) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(bytes);
    let envs = crate::core::spec::environment_names(&crate::source::Tree::embedded_environments());
    // The spec's choices are those of the blueprint it names.
    let named = crate::yaml::from_str::<Value>(&text).ok().and_then(|v| {
        v.get("blueprint")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let blueprint = crate::core::blueprint::named(named.as_deref());
    if let (Some(name), None) = (&named, &blueprint) {
        // Its choices and sections are unknown: nothing else can be judged.
        return vec![Finding::new(
            "SOC-SCHEMA-002",
            Severity::Deny,
            crate::core::SPEC_PATH,
            crate::locate::LineIndex::new(&text).line_of("/blueprint"),
            format!(
                "blueprint: {name:?} is not a blueprint this socle renders; it renders: {}",
                crate::core::blueprint::names().join(", ")
            ),
        )];
    }
    let options = blueprint
        .as_ref()
        .map(|m| m.options.clone())
        .unwrap_or_default();
    let parsed = crate::core::spec::parse_for(
        &text,
        crate::core::SPEC_PATH,
        &envs,
        &options,
        blueprint.as_ref().map(|m| m.reads()).unwrap_or_default(),
    )
    .and_then(|spec| {
        match &blueprint {
            // The spec against the blueprint it names: its targets (a
            // blueprint socle does not embed is the checker's to name).
            Some(m) => crate::core::spec::check_blueprint(
                &spec,
                &text,
                crate::core::SPEC_PATH,
                &m.name,
                &m.targets,
                &m.cluster_sections,
            ),
            None => Ok(()),
        }
    });
    match parsed {
        Ok(_) => Vec::new(),
        // A YAML error is reported by the parser already.
        Err(crate::core::spec::SpecError::Yaml { .. }) => Vec::new(),
        Err(crate::core::spec::SpecError::Invalid { problems, .. }) => problems
            .into_iter()
            .map(|p| {
                Finding::new(
                    "SOC-SCHEMA-002",
                    Severity::Deny,
                    crate::core::SPEC_PATH,
                    p.line,
                    match (p.field.is_empty(), p.line) {
                        // A problem that names its own place (an unknown key).
                        (true, Some(_)) => p.message,
                        (true, None) => format!("(document): {}", p.message),
                        (false, _) => format!("{}: {}", p.field, p.message),
                    },
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    /// A spec is judged against the blueprint it names: the lakehouse's
    /// spec passes, gives `keycloak` it does not read and is denied, names
    /// a blueprint socle does not have and is denied at that line.
    #[test]
    fn the_spec_is_judged_against_the_blueprint_it_names() {
        let judge = |text: &str| {
            validate_spec(&[(crate::core::SPEC_PATH.to_owned(), text.as_bytes().to_vec())])
                .into_iter()
                .map(|f| (f.line, f.message))
                .collect::<Vec<_>>()
        };
        let tree = crate::source::Tree::embedded_blueprint_file("example.yaml");
        let example = tree
            .iter()
            .find_map(|t| t.get("example.yaml"))
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .expect("a blueprint with its own example");
        assert_eq!(judge(&example), Vec::new());
        let with_keycloak = format!("{example}keycloak: {{realm: acme, groups: []}}\n");
        let found = judge(&with_keycloak);
        assert!(
            found
                .iter()
                .any(|(_, m)| m.contains("unknown key 'keycloak'")),
            "{found:?}"
        );
        let unknown = example.replacen("\nblueprint: ", "\nblueprint: x", 1);
        let found = judge(&unknown);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].0.is_some());
        assert!(found[0].1.contains("is not a blueprint this socle renders"));
    }

    use super::*;
    use serde_json::json;

    fn valid(doc: Value) -> Vec<String> {
        let api = doc["apiVersion"].as_str().unwrap().to_owned();
        let kind = doc["kind"].as_str().unwrap().to_owned();
        let schema = schema_for(&api, &kind).expect("known kind");
        let v = jsonschema::validator_for(&schema).unwrap();
        v.iter_errors(&doc).map(|e| e.to_string()).collect()
    }

    fn deployment(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"}, "spec": spec})
    }

    #[test]
    fn the_embedded_kustomization_schema_compiles_and_is_strict() {
        let doc = |text: &str| {
            Document::rendered("k/kustomization.yaml", crate::yaml::from_str(text).unwrap())
        };
        assert!(kustomization(&doc("resources: [a.yaml]\nnamePrefix: x-\n")).is_empty());
        let found = kustomization(&doc("resources: [a.yaml]\nnamePrefx: x-\n"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, "SOC-SCHEMA-006");
    }

    #[test]
    fn typos_and_bad_enums_are_caught() {
        let good = json!({"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": [{"name": "c", "image": "i:1", "imagePullPolicy": "IfNotPresent", "resources": {"requests": {"cpu": 1, "memory": "1Gi"}}}]}}});
        assert!(
            valid(deployment(good.clone())).is_empty(),
            "{:?}",
            valid(deployment(good.clone()))
        );
        let mut typo = good.clone();
        typo["replica"] = json!(2);
        assert_eq!(valid(deployment(typo)).len(), 1);
        let mut policy = good;
        policy["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Sometimes");
        assert_eq!(valid(deployment(policy)).len(), 1);
    }
}

/// How `policies/kubernetes.json` is made: k8s-openapi's schemas of the
/// core kinds socle validates, made strict.
#[cfg(test)]
mod derivation {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    type SchemaFn = fn() -> Value;

    fn derived<T: schemars::JsonSchema>() -> Value {
        serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null)
    }

    macro_rules! kinds {
        ($($t:ty),* $(,)?) => {
            vec![$((
                <$t as k8s_openapi::Resource>::API_VERSION,
                <$t as k8s_openapi::Resource>::KIND,
                derived::<$t> as SchemaFn,
            )),*]
        };
    }

    fn table() -> Vec<(&'static str, &'static str, SchemaFn)> {
        use k8s_openapi::api::{
            admissionregistration, apps, autoscaling, batch, certificates, coordination, core,
            discovery, flowcontrol, networking, node, policy, rbac, scheduling, storage,
        };
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
        use k8s_openapi::kube_aggregator::pkg::apis::apiregistration;
        kinds![
            core::v1::Namespace,
            core::v1::PersistentVolume,
            apps::v1::ReplicaSet,
            networking::v1::IngressClass,
            admissionregistration::v1::ValidatingWebhookConfiguration,
            admissionregistration::v1::MutatingWebhookConfiguration,
            core::v1::ResourceQuota,
            core::v1::LimitRange,
            core::v1::ConfigMap,
            core::v1::Secret,
            core::v1::Service,
            core::v1::ServiceAccount,
            core::v1::Pod,
            core::v1::PersistentVolumeClaim,
            apps::v1::Deployment,
            apps::v1::StatefulSet,
            apps::v1::DaemonSet,
            batch::v1::Job,
            batch::v1::CronJob,
            networking::v1::NetworkPolicy,
            networking::v1::Ingress,
            policy::v1::PodDisruptionBudget,
            rbac::v1::Role,
            rbac::v1::RoleBinding,
            rbac::v1::ClusterRole,
            rbac::v1::ClusterRoleBinding,
            storage::v1::StorageClass,
            scheduling::v1::PriorityClass,
            autoscaling::v2::HorizontalPodAutoscaler,
            // Kinds repositories carry beside their workloads: an
            // operator's CRDs above all, then the API's other objects.
            apiextensions::v1::CustomResourceDefinition,
            apiregistration::v1::APIService,
            admissionregistration::v1::ValidatingAdmissionPolicy,
            admissionregistration::v1::ValidatingAdmissionPolicyBinding,
            apps::v1::ControllerRevision,
            autoscaling::v1::HorizontalPodAutoscaler,
            certificates::v1::CertificateSigningRequest,
            coordination::v1::Lease,
            core::v1::Endpoints,
            core::v1::PodTemplate,
            core::v1::ReplicationController,
            discovery::v1::EndpointSlice,
            flowcontrol::v1::FlowSchema,
            flowcontrol::v1::PriorityLevelConfiguration,
            networking::v1::IPAddress,
            networking::v1::ServiceCIDR,
            node::v1::RuntimeClass,
            storage::v1::CSIDriver,
            storage::v1::CSINode,
            storage::v1::CSIStorageCapacity,
            storage::v1::VolumeAttachment,
        ]
    }

    /// Closed value sets the API server enforces but the derived schemas
    /// leave as free strings, by property name.
    const ENUMS: &[(&str, &[&str])] = &[
        ("imagePullPolicy", &["Always", "IfNotPresent", "Never"]),
        (
            "dnsPolicy",
            &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
        ),
        ("protocol", &["TCP", "UDP", "SCTP"]),
        ("pathType", &["Exact", "Prefix", "ImplementationSpecific"]),
        ("concurrencyPolicy", &["Allow", "Forbid", "Replace"]),
        ("podManagementPolicy", &["OrderedReady", "Parallel"]),
        (
            "terminationMessagePolicy",
            &["File", "FallbackToLogsOnError"],
        ),
        ("reclaimPolicy", &["Retain", "Delete", "Recycle"]),
        ("volumeBindingMode", &["Immediate", "WaitForFirstConsumer"]),
        ("fsGroupChangePolicy", &["OnRootMismatch", "Always"]),
        ("sessionAffinity", &["ClientIP", "None"]),
    ];

    /// Reject unknown fields everywhere the schema lists properties, and
    /// close the known enumerations.
    fn make_strict(schema: &mut Value) {
        match schema {
            Value::Object(map) => {
                let preserve =
                    map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
                if map.contains_key("properties")
                    && !preserve
                    && !map.contains_key("additionalProperties")
                {
                    map.insert("additionalProperties".into(), Value::Bool(false));
                }
                if let Some(Value::Object(props)) = map.get_mut("properties") {
                    for (name, values) in ENUMS {
                        if let Some(Value::Object(p)) = props.get_mut(*name) {
                            if p.get("type") == Some(&json!("string")) {
                                p.insert("enum".into(), json!(values));
                            }
                        }
                    }
                }
                for v in map.values_mut() {
                    make_strict(v);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(make_strict),
            _ => {}
        }
    }

    /// Each kind's strict schema, whole (its definitions under `$defs`).
    fn strict_schemas() -> Vec<(String, Value)> {
        table()
            .into_iter()
            .map(|(api, kind, derive)| {
                let mut schema = derive();
                // A CRD schema's `default`, `enum` and `example` values are
                // any JSON; k8s-openapi types them as objects.
                if let Some(Value::Object(json)) = schema.pointer_mut(
                    "/$defs/io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
                ) {
                    json.remove("type");
                }
                make_strict(&mut schema);
                schema["properties"]["apiVersion"] = json!({"const": api});
                schema["properties"]["kind"] = json!({"const": kind});
                (format!("{api}/{kind}"), schema)
            })
            .collect()
    }

    /// The bundle's text: the roots by kind, each definition once.
    fn bundle_text() -> String {
        let mut kinds = BTreeMap::new();
        let mut definitions: BTreeMap<String, Value> = BTreeMap::new();
        for (key, mut schema) in strict_schemas() {
            let defs = schema
                .as_object_mut()
                .and_then(|m| m.remove("$defs"))
                .unwrap_or_default();
            for (name, def) in defs.as_object().into_iter().flatten() {
                if let Some(seen) = definitions.get(name) {
                    assert_eq!(seen, def, "{name} differs between kinds");
                }
                definitions.insert(name.clone(), def.clone());
            }
            kinds.insert(key, schema);
        }
        let mut text = serde_json::to_string(&json!({"kinds": kinds, "definitions": definitions}))
            .expect("JSON");
        text.push('\n');
        text
    }

    /// The bundled file is what k8s-openapi's types give today (run with
    /// `SOCLE_UPDATE_FACTS=1` after moving k8s-openapi to another
    /// Kubernetes release, to rewrite it).
    #[test]
    fn the_bundled_kubernetes_schemas_are_k8s_openapis_made_strict() {
        let text = bundle_text();
        let bundled = crate::source::Tree::embedded_policy_file(super::BUNDLE).unwrap_or_default();
        if bundled == text.as_bytes() {
            return;
        }
        if std::env::var_os("SOCLE_UPDATE_FACTS").is_some() {
            let path = std::path::Path::new(env!("SOCLE_DATA"))
                .join("policies")
                .join(super::BUNDLE);
            fs_err::write(&path, &text).expect("write the bundle");
            return;
        }
        panic!(
            "policies/{} is not what k8s-openapi derives: run `SOCLE_UPDATE_FACTS=1 cargo test -p socle --lib bundled_kubernetes_schemas` and rebuild",
            super::BUNDLE
        );
    }

    /// A kind's schema assembled from the bundle is the one derived whole:
    /// every definition it reaches, none it does not.
    #[test]
    fn each_kinds_schema_is_rebuilt_whole_from_the_bundle() {
        for (key, whole) in strict_schemas() {
            let (api, kind) = key.rsplit_once('/').expect("api/kind");
            let mut rebuilt = super::schema_for(api, kind).expect("bundled");
            let mut whole = whole;
            for s in [&mut rebuilt, &mut whole] {
                if let Some(Value::Object(defs)) = s.get_mut("$defs") {
                    defs.sort_keys();
                }
            }
            assert_eq!(rebuilt, whole, "{key}");
            assert!(super::knows(api, kind), "{key}");
        }
    }
}
