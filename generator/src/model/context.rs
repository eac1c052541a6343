//! The types of the context templates render with: every field a template
//! can name is a field of these structs (`render::unresolved_in_schema`
//! refuses any other, whatever the spec), built from the spec, the
//! environment files and the wiring graph, and converted to JSON only for
//! handlebars. Fields keep the order the context has always had wherever a
//! template can observe it (`#each` over an object, `json`, `indent`); the
//! maps templates only look up by key (`enabled`, `env.ns`,
//! `wiring.callers`) are sorted by key.
//!
//! A few fields stay `serde_json::Value` (or [`Scalar`]): values whose shape
//! the spec, the blueprint or the environment files choose, which no Rust
//! type here could describe without copying those files. Each says so.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::blueprint::Namespace;
use crate::core::wiring::{Access, Consumes};

/// A leaf of the environment defaults (`environments/<env>.yaml`, after the
/// spec's overrides): kept as the YAML gave it (a quantity may be `"8"` or
/// `8`, a ratio `0.25`), since templates print it as it is. Its schema is
/// any scalar, so a path going further into it is refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scalar(pub Value);

impl JsonSchema for Scalar {
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({"type": ["string", "number", "boolean", "null"]})
    }
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Terraform {
    pub environments: Vec<String>,
    /// One of them has a workload that signs in by web identity (IRSA).
    pub web_identity: bool,
    /// By managed cloud target (every one socle knows): whether an
    /// environment runs on it.
    pub clouds: std::collections::BTreeMap<String, bool>,
}

/// What every template sees.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Base {
    /// The single-host environments (`target: compose`) and what runs on
    /// their host; `compose.environments` is empty when there are none.
    pub compose: crate::compose::ComposeContext,
    /// The environments on a managed cloud, which get `terraform/<env>/`.
    pub terraform: Terraform,
    pub client: Client,
    pub domain: String,
    pub repo: Repository,
    /// The blueprint's options as the spec chose them (`components:`).
    pub choices: BTreeMap<String, String>,
    /// The enabled components, by id (always `true`: a disabled component
    /// is absent).
    pub enabled: BTreeMap<String, bool>,
    pub keycloak: Keycloak,
    /// The client's own realm (the spec's `sso`), when it gives one.
    pub sso: Option<Sso>,
    pub domains: Vec<Domain>,
    /// The names of every bucket of `wiring.buckets`.
    pub buckets: Vec<String>,
    pub wiring: super::wiring::Wiring,
    pub notebooks: Notebooks,
    pub sizing: String,
    pub s3: S3,
    pub secrets: Secrets,
    pub artifacts: Artifacts,
    pub argocd: super::argocd::Argocd,
    pub bootstrap: super::bootstrap::Bootstrap,
    /// By namespace id, the admission webhooks of its charts.
    pub webhooks: BTreeMap<String, Vec<Webhook>>,
    /// By namespace id, the namespaces it connects to and is connected
    /// from (consumers to providers, callers to what they call).
    pub flows: BTreeMap<String, NamespaceFlows>,
    pub ca_bundle: CaBundle,
    pub namespaces: Vec<Namespace>,
    pub blueprint: BlueprintRef,
    pub socle_version: String,
    /// Every enabled component, in wave order, not resolved for an
    /// environment (`namespace` without suffix).
    pub components: Vec<ComponentContext>,
    pub environments: Vec<super::environment::Env>,
    pub replicated_storage: ReplicatedStorage,
    /// The architecture picture: enabled components by namespace, and the
    /// data flow between them.
    pub architecture: Architecture,
}

/// The generated README's architecture picture, ready for Mermaid (node
/// ids are component ids with `-` replaced, which Mermaid refuses).
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Architecture {
    pub namespaces: Vec<ArchitectureNamespace>,
    pub flow: Vec<ArchitectureFlow>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ArchitectureNamespace {
    pub node: String,
    pub name: String,
    pub components: Vec<ArchitectureNode>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ArchitectureNode {
    pub node: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ArchitectureFlow {
    pub from: String,
    pub to: String,
    pub label: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Client {
    pub name: String,
    pub slug: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Repository {
    pub url: String,
    pub revision: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Keycloak {
    pub realm: String,
    pub groups: Vec<Group>,
    /// Each platform role some group grants, most privileged first.
    pub roles: Vec<RoleGroups>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Sso {
    /// The realm's issuer URL, without a trailing slash.
    pub issuer: String,
    pub groups: Vec<Group>,
    /// The groups as one JSON object, group name to the list of its roles
    /// (the shape UIs' role mappings commonly take): for a template to pass
    /// it whole to a UI's configuration.
    pub roles_by_group: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Group {
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RoleGroups {
    pub role: String,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Domain {
    pub name: String,
    pub slug: String,
    /// The name as an identifier (`-` → `_`).
    pub ident: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Notebooks {
    pub storage: String,
    pub s3: bool,
    pub bucket: Option<String>,
    pub groups: Vec<String>,
    /// Each interpreter the blueprint offers: whether some environment
    /// lets users run it. The notes ship to every environment; a note
    /// written for an interpreter none offers could run nowhere, and the
    /// content rules refuse it.
    pub on: BTreeMap<String, bool>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct S3 {
    pub region: String,
    pub external: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Secrets {
    pub store: String,
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Artifacts {
    pub maven: String,
    pub maven_mirror: bool,
    pub pypi: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Webhook {
    pub component: String,
    pub service: String,
    /// The labels of the webhook pods (empty when the chart facts do not
    /// know them).
    pub selector: BTreeMap<String, String>,
    /// Pod ports: a number, or a port name as the chart facts give it.
    pub ports: Vec<Value>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CaBundle {
    pub configmap: String,
    pub pem: String,
    pub pkcs12: String,
    pub dir: String,
    pub pem_path: String,
    pub pkcs12_path: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BlueprintRef {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReplicatedStorage {
    pub environments: Vec<String>,
    pub declared: Vec<String>,
    pub undeclared: Vec<String>,
}

/// The `component` object.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ComponentContext {
    pub id: String,
    pub title: String,
    pub namespace: String,
    pub ns_id: String,
    pub chart: Option<ChartContext>,
    pub manifests: Option<String>,
    pub extra_manifests: bool,
    pub wave: i64,
    pub needs: Vec<String>,
    pub critical: bool,
    pub server_side_apply: bool,
    pub cluster_wide: bool,
    pub consumes: Consumes,
    pub trusts: Vec<String>,
    pub distributes: Vec<String>,
    /// Published through an Ingress (the blueprint's ingress controller).
    pub ingress: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChartContext {
    pub repo: String,
    pub name: String,
    pub version: String,
    pub oci: bool,
    pub source: String,
}

/// The namespace ids a namespace's pods connect to, and those whose pods
/// connect to it.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct NamespaceFlows {
    pub to: Vec<String>,
    pub from: Vec<String>,
    /// The pod ports on which clients outside the cluster reach the
    /// ingress controller, when this namespace holds it (its chart's
    /// Services, from the facts); empty elsewhere.
    pub entry_ports: Vec<u16>,
}

/// A consumer of a bucket and what it may do.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BucketConsumer {
    pub consumer: String,
    pub access: Access,
    /// A backup, which an off-cluster backup target takes instead.
    pub backup: bool,
    /// The component whose catalog vends its credentials, when it holds no
    /// account of its own for the bucket.
    pub through: Option<String>,
    /// The cloud targets where it reaches the bucket with its own identity.
    pub direct_on: Vec<String>,
}

/// The schema a template's context has: the base, plus `env`, `component`
/// and `ns` when the template renders with them. `$ref`s point into the
/// returned definitions. The maps keyed by component or namespace id have
/// exactly the ids `manifest` declares, so `enabled.<typo>` is refused too.
pub(crate) fn template_schema(
    manifest: &crate::blueprint::Manifest,
    env: bool,
    component: bool,
    ns: bool,
) -> (Value, Value) {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let base = generator.subschema_for::<Base>();
    let env_schema = generator.subschema_for::<super::environment::TemplateEnv>();
    let component_schema = generator.subschema_for::<ComponentContext>();
    let ns_schema = generator.subschema_for::<Namespace>();
    let mut defs = Value::Object(generator.take_definitions(true));
    let components: Vec<&str> = manifest.components.iter().map(|c| c.id.as_str()).collect();
    let namespaces: Vec<&str> = manifest.namespaces.iter().map(|n| n.id.as_str()).collect();
    for def in ["Base", "Env", "TemplateEnv", "Wiring"] {
        let Some(Value::Object(properties)) = defs.pointer_mut(&format!("/{def}/properties"))
        else {
            continue;
        };
        for (key, ids) in [
            ("enabled", &components),
            ("callers", &components),
            ("cloud_identity", &components),
            ("web_role", &components),
            ("webhooks", &namespaces),
            ("flows", &namespaces),
            ("ns", &namespaces),
            ("egress", &namespaces),
        ] {
            if let Some(map) = properties.get_mut(key) {
                close(map, ids);
            }
        }
    }
    let mut properties = serde_json::Map::new();
    if let Some(Value::Object(p)) = deref(&defs, base.as_value()).get("properties") {
        properties.extend(p.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for (on, name, schema) in [
        (env, "env", env_schema),
        (component, "component", component_schema),
        (ns, "ns", ns_schema),
    ] {
        if on {
            properties.insert(name.into(), schema.to_value());
        }
    }
    (
        serde_json::json!({"type": "object", "properties": properties}),
        defs,
    )
}

/// A map's schema with exactly `keys`, each of the map's value schema.
fn close(map: &mut Value, keys: &[&str]) {
    let Some(value) = map.get("additionalProperties").cloned() else {
        return;
    };
    let properties: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| ((*k).to_owned(), value.clone()))
        .collect();
    map["properties"] = Value::Object(properties);
    map["additionalProperties"] = Value::Bool(false);
}

/// A schema with its `$ref` followed (one level; definitions name types).
fn deref<'v>(defs: &'v Value, schema: &'v Value) -> &'v Value {
    match schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        Some(name) => defs.get(name).unwrap_or(schema),
        None => schema,
    }
}
