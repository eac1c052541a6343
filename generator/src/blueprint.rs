//! The blueprint manifest (`blueprint.yaml`) and its dependency graph.
//!
//! Sync waves are derived here, never written by hand: a component's wave is
//! one more than the highest wave among the enabled components it needs. A
//! blueprint with a cycle or a need on an undeclared component is refused when
//! it is loaded, whatever the spec's choices, so a broken blueprint cannot
//! hide behind an option nobody happened to test.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::core::wiring::{self, Consumes, Provides};
use crate::source::Tree;

pub const MANIFEST: &str = "blueprint.yaml";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    /// The blueprint a spec without `blueprint:` renders (exactly one of
    /// the embedded blueprints says so).
    #[serde(default)]
    pub default: bool,
    /// The spec's optional sections this blueprint reads (of
    /// `core::spec_schema::OPTIONAL_SECTIONS`); absent: all of them. The
    /// spec's schema offers only these, so a section the blueprint would
    /// ignore is refused.
    #[serde(default)]
    pub spec_sections: Option<Vec<String>>,
    /// The sections of `spec_sections` a spec must give when it has a
    /// Kubernetes environment: what the clusters cannot run without (an
    /// object store the blueprint does not deploy there).
    #[serde(default)]
    pub cluster_sections: Vec<String>,
    /// The roles its UIs grant the groups of the spec's `sso` section: the
    /// values `sso.groups[].role` may take. Required when `spec_sections`
    /// lists `sso`; without them, the spec is not offered `sso`.
    #[serde(default)]
    pub sso_roles: Vec<String>,
    /// Those of `sso_roles` that administer the UIs: a spec's `sso` maps
    /// at least one group to one of them, or nobody administers the UIs
    /// once users sign in with the realm.
    #[serde(default)]
    pub sso_admin_roles: Vec<String>,
    /// The interpreters its notebooks offer: the values the spec's
    /// `notebooks.interpreters` lists may take.
    #[serde(default)]
    pub notebooks: crate::core::blueprint::Notebooks,
    /// Its own words for the keys of the spec it reads, by JSON pointer
    /// into the spec's schema (e.g.
    /// `/properties/notebooks/properties/interpreters`): the schema's
    /// descriptions, which `socle spec schema` prints and validation errors
    /// quote, speak of what this blueprint deploys.
    #[serde(default)]
    pub spec_descriptions: BTreeMap<String, String>,
    /// A consumer's user in the S3 store the blueprint deploys, with
    /// `{consumer}` for the consumer's id (default: the id itself).
    #[serde(default)]
    pub s3_user: Option<String>,
    /// The StorageClasses its templates define: a class the spec names
    /// that is not one of them is the cluster's, a bootstrap prerequisite.
    #[serde(default)]
    pub storage_classes: Vec<String>,
    /// Replicated volumes, where an environment's sizing turns them on:
    /// the spec's `storage_nodes` are their nodes.
    #[serde(default)]
    pub replicated_storage: Option<ReplicatedStorage>,
    /// Where, in each environment, the platform's shared services answer
    /// (the templates' `env.s3.endpoint`, `env.postgres.host`,
    /// `env.keycloak.url`).
    #[serde(default)]
    pub addresses: Addresses,
    pub namespaces: Vec<Namespace>,
    pub components: Vec<Component>,
    /// Consumers installed before any component (Argo CD, at bootstrap):
    /// they consume like components, but are nobody's need.
    #[serde(default)]
    pub bootstrap_consumers: Vec<BootstrapConsumer>,
    /// Hosts outside the cluster that components call. NetworkPolicies can
    /// only name them by address, which the blueprint cannot know: the spec
    /// gives their CIDRs (`network.endpoints`), and each namespace's egress
    /// to them is derived from the components that declare `egress`.
    #[serde(default)]
    pub external_endpoints: Vec<ExternalEndpoint>,
    /// Addresses of the cluster that are not pods (the API server, the
    /// nodes): NetworkPolicies can name them only by address, which the
    /// spec's `network` gives. A namespace lists those its pods call.
    #[serde(default)]
    pub cluster_endpoints: Vec<ClusterEndpoint>,
    /// The data's path through the platform in the client's use case, as
    /// the generated README's architecture picture draws it; a step whose
    /// ends are not both enabled is left out.
    #[serde(default)]
    pub data_flow: Vec<FlowStep>,
    /// Where its environments can run (the spec's `target`): `kubernetes`,
    /// and `compose` when the blueprint declares its single-host services.
    #[serde(default = "kubernetes_only")]
    pub targets: Vec<String>,
    /// The single-host target (required when `targets` lists compose).
    #[serde(default)]
    pub compose: Option<crate::compose::ComposeTarget>,
    /// The managed-cloud targets, by target (one for each cloud `targets`
    /// lists): what the cloud provides in place of components.
    #[serde(default)]
    pub clouds: BTreeMap<String, CloudTarget>,
    /// The choices a spec makes under `components:` (its schema offers
    /// exactly these), which components' `when` test.
    #[serde(default)]
    pub options: Vec<crate::core::blueprint::SpecOption>,
}

/// Addresses as patterns: `{ns.<id>}` is the name of a namespace of the
/// blueprint in the environment (suffix included), `{domain}` the
/// environment's domain. An address a blueprint does not give is empty.
/// The blueprint's replicated volumes: which component's environment
/// sizing turns them on, and what the spec's storage nodes become.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicatedStorage {
    /// The component whose sizing (`environments/components/<id>.yaml`)
    /// says whether the environment runs them, under `flag`.
    pub component: String,
    pub flag: String,
    /// The storage engine, as messages name it.
    pub engine: String,
    /// The StorageClass of the replicated volumes.
    pub class: String,
    /// Copies of each volume, each on its own node: the least number of
    /// storage nodes.
    pub replicas: usize,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Addresses {
    /// The in-cluster S3 endpoint (a spec's `object_storage` replaces it).
    #[serde(default)]
    pub s3: Option<String>,
    /// The PostgreSQL host the consumers connect to.
    #[serde(default)]
    pub postgres: Option<String>,
    /// The base URL of the identity provider.
    #[serde(default)]
    pub keycloak: Option<String>,
    /// The OpenID Connect issuer of the spec's realm (`{realm}`: its name).
    #[serde(default)]
    pub issuer: Option<String>,
}

impl Addresses {
    fn patterns(&self) -> [(&'static str, Option<&String>); 4] {
        [
            ("s3", self.s3.as_ref()),
            ("postgres", self.postgres.as_ref()),
            ("keycloak", self.keycloak.as_ref()),
            ("issuer", self.issuer.as_ref()),
        ]
    }
}

/// The placeholder of a consumer's id in `s3_user`.
pub const CONSUMER: &str = "{consumer}";

/// The placeholder of the realm's name in an address pattern, filled
/// before the others.
pub const REALM: &str = "{realm}";

/// An address pattern filled for one environment; `Err` names a
/// placeholder that is neither `{domain}` nor a declared `{ns.<id>}`.
pub fn expand_address(
    pattern: &str,
    ns: &BTreeMap<String, String>,
    domain: &str,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("{pattern:?}: a '{{' without its '}}'"))?;
        let key = &after[..close];
        match key.strip_prefix("ns.") {
            None if key == "domain" => out.push_str(domain),
            Some(id) if ns.contains_key(id) => out.push_str(&ns[id]),
            _ => {
                return Err(format!(
                    "{pattern:?}: unknown placeholder {{{key}}}; use {{domain}} or {{ns.<namespace id>}}"
                ))
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn kubernetes_only() -> Vec<String> {
    vec!["kubernetes".into()]
}

/// The environments an external endpoint may be limited to (`only_with`):
/// those whose spec gives a backup target, whose cloud runs the databases,
/// or that run on a managed cloud.
pub(crate) const ONLY_WITH: [&str; 4] =
    ["backup_target", "cloud_database", "cloud", "cloud_buckets"];

/// Whose calls an external endpoint takes without a component listing it
/// in `egress` (`used_by`): the consumers of buckets or databases; on a
/// cloud, those reaching its buckets with a workload identity, and among
/// them those asking the node's agent (`pod_identity`) or exchanging their
/// token with the token service (`web_identity`, which also takes the calls
/// of a catalog assuming the role it vends credentials from).
pub(crate) const USED_BY: [&str; 5] = [
    "buckets",
    "databases",
    "cloud_buckets",
    "pod_identity",
    "web_identity",
];

/// The targets socle knows how to render.
pub const KNOWN_TARGETS: &[&str] = &[
    "kubernetes",
    crate::core::spec::COMPOSE,
    crate::core::spec::EKS,
    crate::core::spec::GKE,
    crate::core::spec::AKS,
];

/// A managed cloud as a target: its Kubernetes side is the blueprint's
/// cluster, less what the cloud provides; its Terraform is rendered from
/// the blueprint's `targets/<cloud>/` templates to `terraform/<env>/`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CloudTarget {
    /// The cluster's Kubernetes minor version (the spec's
    /// `cloud.kubernetes_version` overrides it).
    pub kubernetes_version: String,
    /// Components the cloud replaces, each with what replaces it (said in
    /// the environment's Terraform README and `socle blueprint show`).
    #[serde(default)]
    pub left_out: BTreeMap<String, String>,
    /// Environment defaults the cloud changes (storage classes, say),
    /// applied before the spec's `overrides`.
    #[serde(default)]
    pub defaults: serde_json::Map<String, serde_json::Value>,
    /// External endpoints the cloud serves inside the environment's network
    /// (private endpoints of its services): egress to them is opened to
    /// the network's range.
    #[serde(default)]
    pub private_endpoints: Vec<String>,
    /// External endpoints the cloud serves at fixed addresses, with them
    /// (its workload identity agent on every node, say): egress to them is
    /// opened to these addresses.
    #[serde(default)]
    pub fixed_endpoints: BTreeMap<String, Vec<String>>,
    /// The ports of a fixed endpoint where the cloud serves it on others
    /// than the endpoint's (a token service in place of a node agent).
    #[serde(default)]
    pub fixed_ports: BTreeMap<String, Vec<u16>>,
    /// The identities its Terraform creates for workloads: on AKS, managed
    /// identities whose client IDs the spec gives once the cloud has
    /// assigned them (`cloud.client_ids`; templates find every one, ""
    /// until given); on GKE, Google service accounts a workload
    /// impersonates (`env.cloud.google_accounts`, IDs the model keeps to
    /// Google's 30 characters).
    #[serde(default)]
    pub identities: Vec<String>,
    /// The cloud's managed PostgreSQL, when it runs the databases in place
    /// of a left-out provider.
    #[serde(default)]
    pub database: Option<CloudDatabase>,
    /// The cloud's object storage holds the buckets whose consumers all
    /// sign in with workload identities (see `Component::workload_identity`).
    #[serde(default)]
    pub buckets: bool,
    /// The buckets of a catalog's tables (those a catalog consumes, or a
    /// consumer reaches `through` one) live apart from the others, in an
    /// account of their own with a hierarchical namespace: Azure narrows a
    /// SAS token to a directory (one table) only in such an account, and
    /// versions no blob there, so the others keep their versions.
    #[serde(default)]
    pub lake_account: bool,
    /// Components that run for the cluster's object store alone (the store,
    /// its operator, the job protecting its buckets), each with why it is
    /// not needed: left out of an environment where the cloud holds every
    /// bucket the environment uses, so that no store runs empty.
    #[serde(default)]
    pub store_only: BTreeMap<String, String>,
}

/// A managed PostgreSQL as a cloud target declares it: what its Terraform
/// creates. The roles and databases in it come from the wiring graph, and
/// `component` (a component of this cloud only) creates them in the cluster.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CloudDatabase {
    /// The component standing in the cluster for the database: it provides
    /// `databases` and runs on this cloud only (`targets`).
    pub component: String,
    /// The engine's major version (the cloud applies its minor versions).
    pub engine_version: String,
    /// The parameter group family of that version (AWS's; none elsewhere).
    #[serde(default)]
    pub parameter_family: String,
    /// The instance class for each of the spec's sizing profiles.
    pub instance_class: BTreeMap<String, String>,
    /// Storage at creation, and the ceiling the cloud may grow it to (GB).
    pub storage_gb: u32,
    pub max_storage_gb: u32,
    /// Days of automated backups (point-in-time recovery within them).
    pub backup_retention_days: u32,
}

/// One arrow of the data flow: component `from` hands data to `to`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowStep {
    pub from: String,
    pub to: String,
    pub label: String,
}

/// The spec keys (`network.<name>`) a cluster endpoint's addresses come from.
pub const CLUSTER_ENDPOINT_KEYS: &[&str] = &["api_server", "nodes"];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterEndpoint {
    /// Also the spec key of its addresses: `network.<name>`.
    pub name: String,
    /// The NetworkPolicy that opens it.
    pub policy: String,
    pub purpose: String,
    pub ports: Vec<u16>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalEndpoint {
    pub name: String,
    /// What it is, for the comment above its NetworkPolicy and the spec's
    /// documentation.
    pub purpose: String,
    /// TCP ports, unless the spec gives its own.
    pub ports: Vec<u16>,
    /// Spec choices under which it exists (an external object store).
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
    /// Every component consuming this kind of resource in the wiring graph
    /// calls it (`buckets`: the S3 clients, when the store is external), on
    /// top of the components that list it in their `egress`.
    #[serde(default)]
    pub used_by: Option<String>,
    /// Only in some environments: `backup_target`, those whose spec entry
    /// gives one (the off-cluster backup store); `cloud_database`, those
    /// whose cloud runs the databases; `cloud`, those on a managed cloud.
    #[serde(default)]
    pub only_with: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapConsumer {
    pub id: String,
    pub consumes: Consumes,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Namespace {
    pub id: String,
    pub name: String,
    pub purpose: String,
    pub pod_security: String,
    #[serde(default)]
    pub system: bool,
    /// The cluster endpoints (`cluster_endpoints`) its pods call.
    #[serde(default)]
    pub calls: Vec<String>,
    /// Whether NetworkPolicies isolate it (default yes).
    #[serde(default = "isolated_by_default")]
    pub isolated: bool,
}

fn isolated_by_default() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub id: String,
    pub title: String,
    pub namespace: String,
    #[serde(default)]
    pub needs: Vec<String>,
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub chart: Option<Chart>,
    #[serde(default)]
    pub manifests: Option<String>,
    #[serde(default)]
    pub server_side_apply: bool,
    #[serde(default)]
    pub critical: bool,
    #[serde(default)]
    pub cluster_wide: bool,
    /// What it offers other components (see `core::wiring`).
    #[serde(default)]
    pub provides: Provides,
    /// What it uses from other components.
    #[serde(default)]
    pub consumes: Consumes,
    /// Private CAs (beyond the public ones) the component's pods trust: they
    /// mount the bundle of those CAs that the component distributing them
    /// writes into every platform namespace, and the component must need
    /// that distributor, directly or through its needs.
    #[serde(default)]
    pub trusts: Vec<String>,
    /// CAs this component distributes to the platform namespaces (the
    /// trust bundle its `trusts` consumers mount).
    #[serde(default)]
    pub distributes: Vec<String>,
    /// External endpoints (`external_endpoints`) the component's pods call.
    #[serde(default)]
    pub egress: Vec<String>,
    /// Components whose Services its pods connect to besides the providers
    /// of what it consumes (a BI tool to its query engine). With the
    /// wiring, the flows a blueprint's NetworkPolicies open.
    #[serde(default)]
    pub calls: Vec<String>,
    /// Its Services are published through an Ingress: the namespace of the
    /// blueprint's ingress controller connects to it.
    #[serde(default)]
    pub ingress: bool,
    /// It is the blueprint's ingress controller: clients reach its pods
    /// from outside the cluster on its Services' pod ports (chart facts).
    #[serde(default)]
    pub serves_ingress: bool,
    /// The service accounts whose pods call the object store, when the
    /// component's S3 client takes the pod's own cloud identity once no key
    /// is configured. On a managed cloud that holds buckets, a bucket every
    /// consumer of which lists them is created by the environment's
    /// Terraform and reached with a workload identity per account; a bucket
    /// with a consumer that needs keys stays in the cluster's store. A
    /// catalog that other consumers' uses go `through` vends them the
    /// cloud's credentials wherever it takes its identity.
    #[serde(default)]
    pub workload_identity: Vec<String>,
    /// Its S3 client takes that identity by exchanging the service
    /// account's projected token with the cloud's token service (web
    /// identity federation: IRSA on EKS) rather than from the node's agent,
    /// because its SDK predates the agent. The pods' configuration then
    /// names the role's ARN, so the environment must name its account.
    #[serde(default)]
    pub web_identity: bool,
    /// The cloud targets where its client takes that identity, when not
    /// every cloud's: a client that signs in to S3 and Cloud Storage by the
    /// pod's identity may need a key for Azure Storage. Elsewhere it keeps
    /// its keys, and so its buckets stay in the cluster's store. Empty:
    /// every cloud.
    #[serde(default)]
    pub identity_targets: Vec<String>,
    /// Its services on one Docker host, by service name (target compose).
    #[serde(default)]
    pub compose: BTreeMap<String, crate::compose::Service>,
    /// The only targets it runs on (a cloud's stand-in for a component the
    /// cloud replaces); empty: every target.
    #[serde(default)]
    pub targets: Vec<String>,
}

impl Component {
    /// Whether the component runs in an environment on `target`.
    pub fn runs_on(&self, target: &str) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|t| t == target)
    }

    /// Whether its client takes its pods' cloud identity on `target`.
    pub fn identity_on(&self, target: &str) -> bool {
        !self.workload_identity.is_empty()
            && (self.identity_targets.is_empty()
                || self.identity_targets.iter().any(|t| t == target))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    pub repo: String,
    pub name: String,
    pub version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BlueprintError {
    #[error("{origin}: {MANIFEST} is missing")]
    Missing { origin: String },
    #[error("{origin}/{MANIFEST}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        origin: String,
        line: Option<usize>,
        message: String,
    },
    #[error("{origin}/{MANIFEST}: {message}")]
    Invalid { origin: String, message: String },
    #[error("{name:?} is not a blueprint this socle renders; it renders: {}. Set the spec's `blueprint:` to one of them (`socle blueprint list`)", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
}

/// The embedded blueprint named `name`, or the default one (`default:
/// true`) for `None`.
pub fn embedded(name: Option<&str>) -> Result<Tree, BlueprintError> {
    let Some(name) = name else {
        return Ok(Tree::embedded_blueprint());
    };
    let mut known = Vec::new();
    for tree in Tree::embedded_blueprints() {
        let m = Manifest::load(&tree)?;
        if m.name == name {
            return Ok(tree);
        }
        known.push(m.name);
    }
    Err(BlueprintError::Unknown {
        name: name.to_owned(),
        known,
    })
}

/// The embedded blueprint a spec's text names (`blueprint:`). A spec that
/// does not parse gets the default one: rendering it reports the spec's
/// own error, with its line.
pub fn embedded_for_spec(spec_text: &str) -> Result<Tree, BlueprintError> {
    let name = crate::yaml::from_str::<serde_json::Value>(spec_text)
        .ok()
        .and_then(|v| {
            v.get("blueprint")
                .and_then(|b| b.as_str())
                .map(str::to_owned)
        });
    embedded(name.as_deref())
}

/// The spec choice keys a component's `when` may test.
/// Choices the spec makes outside `components:` that `when` can test too:
/// notebooks' storage, whether the object store is the spec's
/// (`object_storage`: `external`) or the blueprint's own (`in-cluster`) and whether users sign in with the client's own OpenID
/// Connect provider (`sso`: `external` or `none`).
pub const DERIVED_CHOICES: &[&str] = &["notebooks", "object_storage", "sso"];

/// The values each of [`DERIVED_CHOICES`] takes.
fn derived_values(key: &str) -> &'static [&'static str] {
    match key {
        "notebooks" => &["s3", "pvc"],
        "object_storage" => &["external", "in-cluster"],
        "sso" => &["external", "none"],
        _ => &[],
    }
}

/// Exact chart versions only: ArgoCD would otherwise float to whatever the
/// chart repository serves on the day of the sync.
fn is_exact_version(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

pub(crate) fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.ends_with('-')
}

impl Manifest {
    pub fn load(tree: &Tree) -> Result<Self, BlueprintError> {
        let origin = tree.origin.clone();
        let bytes = tree.get(MANIFEST).ok_or_else(|| BlueprintError::Missing {
            origin: origin.clone(),
        })?;
        let manifest: Manifest =
            crate::yaml::from_slice(bytes).map_err(|e| BlueprintError::Parse {
                origin: origin.clone(),
                line: crate::yaml::error_line(&e),
                message: crate::yaml::error_message(&e),
            })?;
        manifest
            .check()
            .and_then(|()| manifest.check_data_flow())
            .and_then(|()| manifest.check_options())
            .and_then(|()| manifest.check_targets())
            .map_err(|message| BlueprintError::Invalid { origin, message })?;
        Ok(manifest)
    }

    /// What of the spec this blueprint reads besides its options.
    pub fn reads(&self) -> crate::core::spec_schema::Reads<'_> {
        crate::core::spec_schema::Reads {
            sections: self.spec_sections.as_deref(),
            sso_roles: &self.sso_roles,
            sso_admin_roles: &self.sso_admin_roles,
            interpreters: &self.notebooks.interpreters,
            descriptions: &self.spec_descriptions,
        }
    }

    /// The values choice `key` takes (none for an unknown key).
    fn choice_values(&self, key: &str) -> Vec<&str> {
        match self.options.iter().find(|o| o.key == key) {
            Some(o) => o.values.iter().map(String::as_str).collect(),
            None => derived_values(key).to_vec(),
        }
    }

    /// A `when` (of `what`) tests known choices, and the derived ones for
    /// values they take (`check_options` holds the options to theirs): a
    /// value no spec can make would silently turn its subject off.
    fn check_when(&self, what: &str, when: &BTreeMap<String, Vec<String>>) -> Result<(), String> {
        for (key, values) in when {
            if !self.choice_keys().contains(&key.as_str()) {
                return Err(format!(
                    "{what}: `when` tests unknown choice {key:?} (known: {})",
                    self.choice_keys().join(", ")
                ));
            }
            if !DERIVED_CHOICES.contains(&key.as_str()) {
                continue;
            }
            let known = derived_values(key);
            if let Some(v) = values.iter().find(|v| !known.contains(&v.as_str())) {
                return Err(format!(
                    "{what}: `when` tests {key} for {v:?}, a value it never takes (one of: {})",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The keys `when` may test: the blueprint's options and the derived
    /// choices.
    pub fn choice_keys(&self) -> Vec<&str> {
        self.options
            .iter()
            .map(|o| o.key.as_str())
            .chain(DERIVED_CHOICES.iter().copied())
            .collect()
    }

    /// Options are unique keys with distinct values, and a component's
    /// `when` names only values its option offers (a typo would leave the
    /// component out for every spec).
    fn check_options(&self) -> Result<(), String> {
        let mut keys = BTreeSet::new();
        for o in &self.options {
            let ident = !o.key.is_empty()
                && o.key.starts_with(|c: char| c.is_ascii_lowercase())
                && o.key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ident || !keys.insert(o.key.as_str()) || DERIVED_CHOICES.contains(&o.key.as_str()) {
                return Err(format!(
                    "option {:?}: the key must be a unique snake_case name",
                    o.key
                ));
            }
            let distinct: BTreeSet<&String> = o.values.iter().collect();
            if o.values.is_empty() || distinct.len() != o.values.len() {
                return Err(format!(
                    "option {}: `values` must list distinct values",
                    o.key
                ));
            }
        }
        for c in &self.components {
            for (key, values) in &c.when {
                if let Some(o) = self.options.iter().find(|o| &o.key == key) {
                    if let Some(v) = values.iter().find(|v| !o.values.contains(v)) {
                        return Err(format!(
                            "component {}: `when` tests {key} = {v:?}, which option {key} does not offer ({})",
                            c.id,
                            o.values.join(", ")
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every target is one socle renders; the compose target's declarations
    /// cover every component (services, or the reason it is left out).
    fn check_targets(&self) -> Result<(), String> {
        for t in &self.targets {
            if !KNOWN_TARGETS.contains(&t.as_str()) {
                return Err(format!(
                    "targets: {t:?} is not a target socle renders ({})",
                    KNOWN_TARGETS.join(", ")
                ));
            }
        }
        for t in self
            .targets
            .iter()
            .filter(|t| crate::core::spec::CLOUDS.contains(&t.as_str()))
        {
            if !self.clouds.contains_key(t) {
                return Err(format!(
                    "targets lists {t}: declare it under `clouds` (kubernetes_version, left_out, defaults)"
                ));
            }
        }
        for (t, cloud) in &self.clouds {
            if !self.targets.contains(t) {
                return Err(format!(
                    "clouds.{t} is declared, but `targets` does not list {t}"
                ));
            }
            if let Some(id) = cloud
                .left_out
                .keys()
                .find(|id| !self.components.iter().any(|c| &c.id == *id))
            {
                return Err(format!("clouds.{t}.left_out: {id:?} is not a component"));
            }
            if let Some(id) = cloud
                .store_only
                .keys()
                .find(|id| !self.components.iter().any(|c| &c.id == *id))
            {
                return Err(format!("clouds.{t}.store_only: {id:?} is not a component"));
            }
            if cloud.lake_account && !cloud.buckets {
                return Err(format!(
                    "clouds.{t}.lake_account: the cloud holds no bucket (`buckets: true`)"
                ));
            }
            if !cloud.store_only.is_empty() && !cloud.buckets {
                return Err(format!(
                    "clouds.{t}.store_only: the cloud holds no bucket (`buckets: true`), so the store is never left empty"
                ));
            }
            // What a consumer reads from a provider must still exist: the
            // cloud takes the place of a provider only with a component of
            // its own providing the same kinds.
            let stand_in = |kind: &str| {
                self.components.iter().any(|s| {
                    !s.targets.is_empty()
                        && s.runs_on(t)
                        && !cloud.left_out.contains_key(&s.id)
                        && s.provides.offers(kind)
                })
            };
            for c in self
                .components
                .iter()
                .filter(|c| cloud.left_out.contains_key(&c.id))
            {
                if let Some(kind) = wiring::KINDS
                    .iter()
                    .find(|k| c.provides.offers(k) && !stand_in(k))
                {
                    return Err(format!(
                        "clouds.{t}.left_out: {} provides {kind} to other components through the wiring graph; leaving it out needs a component of {t} (`targets: [{t}]`) providing {kind} in its place",
                        c.id
                    ));
                }
            }
            if let Some(db) = &cloud.database {
                let ok = self.components.iter().any(|c| {
                    c.id == db.component
                        && c.provides.databases
                        && !c.targets.is_empty()
                        && c.runs_on(t)
                });
                if !ok {
                    return Err(format!(
                        "clouds.{t}.database.component: {:?} must be a component providing databases with `targets: [{t}]`",
                        db.component
                    ));
                }
                if let Some(p) = crate::core::spec::SIZINGS
                    .iter()
                    .find(|p| !db.instance_class.contains_key(**p))
                {
                    return Err(format!(
                        "clouds.{t}.database.instance_class: give the class for sizing {p:?} ({})",
                        crate::core::spec::SIZINGS.join(", ")
                    ));
                }
            }
        }
        for (t, cloud) in &self.clouds {
            if let Some(e) = cloud
                .private_endpoints
                .iter()
                .find(|e| !self.external_endpoints.iter().any(|x| &x.name == *e))
            {
                return Err(format!(
                    "clouds.{t}.private_endpoints: {e:?} is not an external endpoint"
                ));
            }
            for (e, cidrs) in &cloud.fixed_endpoints {
                if !self.external_endpoints.iter().any(|x| &x.name == e) {
                    return Err(format!(
                        "clouds.{t}.fixed_endpoints: {e:?} is not an external endpoint"
                    ));
                }
                for cidr in cidrs {
                    if let Err(why) = crate::core::spec::check_cidr(cidr) {
                        return Err(format!("clouds.{t}.fixed_endpoints.{e}: {cidr:?}: {why}"));
                    }
                }
            }
            if let Some(e) = cloud
                .fixed_ports
                .keys()
                .find(|e| !cloud.fixed_endpoints.contains_key(*e))
            {
                return Err(format!(
                    "clouds.{t}.fixed_ports: {e:?} is not one of the cloud's fixed_endpoints"
                ));
            }
        }
        for c in &self.components {
            if let Some(bad) = c.targets.iter().find(|t| !self.targets.contains(t)) {
                return Err(format!(
                    "component {}: `targets` lists {bad:?}, which the blueprint's `targets` does not",
                    c.id
                ));
            }
        }
        let offers = self.targets.iter().any(|t| t == crate::core::spec::COMPOSE);
        match (&self.compose, offers) {
            (Some(target), true) => {
                let keys = self.choice_keys();
                if let Some(k) = target.choices.keys().find(|k| !keys.contains(&k.as_str())) {
                    return Err(format!(
                        "compose.choices: {k:?} is not a choice (known: {})",
                        keys.join(", ")
                    ));
                }
                for (k, v) in &target.choices {
                    let known = self.choice_values(k);
                    if !known.contains(&v.as_str()) {
                        return Err(format!(
                            "compose.choices: {k} is never {v:?} (one of: {})",
                            known.join(", ")
                        ));
                    }
                }
                crate::compose::check(target, &self.compose_declared())
            }
            (None, false) => match self.components.iter().find(|c| !c.compose.is_empty()) {
                Some(c) => Err(format!(
                    "component {}: declares compose services, but `targets` does not list compose",
                    c.id
                )),
                None => Ok(()),
            },
            (None, true) => Err(
                "targets lists compose: declare the `compose` section (host, network, left_out)"
                    .into(),
            ),
            (Some(_), false) => {
                Err("the `compose` section is declared, but `targets` does not list compose".into())
            }
        }
    }

    /// The components as the compose target sees them, in blueprint order.
    pub fn compose_declared(&self) -> Vec<crate::compose::Declared<'_>> {
        self.components
            .iter()
            .filter(|c| c.runs_on(crate::core::spec::COMPOSE))
            .map(|c| crate::compose::Declared {
                id: &c.id,
                title: &c.title,
                needs: &c.needs,
                provides: &c.provides,
                services: &c.compose,
            })
            .collect()
    }

    /// A step naming a component the blueprint does not declare would be
    /// dropped from the picture in silence: refused when the blueprint loads.
    fn check_data_flow(&self) -> Result<(), String> {
        for step in &self.data_flow {
            for end in [&step.from, &step.to] {
                if !self.components.iter().any(|c| &c.id == end) {
                    return Err(format!(
                        "data_flow step {} -> {} ({}): no component {end:?} is declared",
                        step.from, step.to, step.label
                    ));
                }
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        let ns: BTreeMap<String, String> = self
            .namespaces
            .iter()
            .map(|n| (n.id.clone(), n.name.clone()))
            .collect();
        for (key, pattern) in self.addresses.patterns() {
            if let Some(p) = pattern {
                expand_address(&p.replace(REALM, "realm"), &ns, "example.org")
                    .map_err(|e| format!("addresses.{key}: {e}"))?;
            }
        }
        for section in self.spec_sections.iter().flatten() {
            if !crate::core::spec_schema::OPTIONAL_SECTIONS.contains(&section.as_str()) {
                return Err(format!(
                    "spec_sections: {section:?} is not an optional section of the spec (one of: {})",
                    crate::core::spec_schema::OPTIONAL_SECTIONS.join(", ")
                ));
            }
        }
        let full = crate::core::spec_schema::spec_schema_for(&[], &[], self.reads());
        for pointer in self.spec_descriptions.keys() {
            if !full
                .pointer(pointer)
                .is_some_and(serde_json::Value::is_object)
            {
                return Err(format!(
                    "spec_descriptions: {pointer:?} is not a key of the spec's schema (`socle spec schema` prints it; e.g. /properties/notebooks)"
                ));
            }
        }
        let offered = &self.notebooks.interpreters;
        for name in &self.notebooks.default {
            if !offered.iter().any(|i| &i.name == name) {
                return Err(format!(
                    "notebooks.default: {name:?} is not one of notebooks.interpreters"
                ));
            }
        }
        if let Some(r) = &self.replicated_storage {
            if !self.components.iter().any(|c| c.id == r.component) {
                return Err(format!(
                    "replicated_storage.component: {:?} is not a component of this blueprint",
                    r.component
                ));
            }
            if r.replicas == 0 {
                return Err("replicated_storage.replicas: at least 1".into());
            }
        }
        if let Some(r) = self
            .sso_admin_roles
            .iter()
            .find(|r| !self.sso_roles.contains(r))
        {
            return Err(format!(
                "sso_admin_roles: {r:?} is not one of sso_roles ({})",
                self.sso_roles.join(", ")
            ));
        }
        let lists_sso = self.spec_sections.iter().flatten().any(|s| s == "sso");
        if lists_sso && self.sso_roles.is_empty() {
            return Err(
                "sso_roles: a blueprint that reads the spec's sso section lists the roles its groups may get".into(),
            );
        }
        for section in &self.cluster_sections {
            let offered = match &self.spec_sections {
                Some(list) => list.contains(section),
                None => crate::core::spec_schema::OPTIONAL_SECTIONS.contains(&section.as_str()),
            };
            if !offered {
                return Err(format!(
                    "cluster_sections: {section:?} is not one of the spec sections this blueprint reads (spec_sections)"
                ));
            }
        }
        let mut ns_ids = BTreeSet::new();
        for ns in &self.namespaces {
            if !is_slug(&ns.id) || !ns_ids.insert(ns.id.as_str()) {
                return Err(format!("namespace id {:?} is not a unique slug", ns.id));
            }
            if !["privileged", "baseline", "restricted"].contains(&ns.pod_security.as_str()) {
                return Err(format!(
                    "namespace {}: pod_security must be privileged, baseline or restricted, not {:?}",
                    ns.id, ns.pod_security
                ));
            }
        }
        let mut ids = BTreeSet::new();
        for c in &self.components {
            if !is_slug(&c.id) || !ids.insert(c.id.as_str()) {
                return Err(format!("component id {:?} is not a unique slug", c.id));
            }
            if !ns_ids.contains(c.namespace.as_str()) {
                return Err(format!(
                    "component {}: unknown namespace {:?}",
                    c.id, c.namespace
                ));
            }
            // A component that runs on Compose hosts only (`targets:
            // [compose]`, or every component of a blueprint that renders
            // nothing else) has no cluster to deploy a chart or manifests
            // to: it is its services.
            let cluster = self
                .targets
                .iter()
                .any(|t| t != crate::core::spec::COMPOSE && c.runs_on(t));
            match (&c.chart, &c.manifests) {
                (None, None) if !cluster && !c.compose.is_empty() => {}
                (Some(_), Some(_)) | (None, None) => {
                    return Err(format!(
                        "component {}: declare exactly one of `chart` or `manifests`{}",
                        c.id,
                        if cluster {
                            ""
                        } else {
                            " (or, for a component that runs on Compose hosts only, `compose` services)"
                        }
                    ))
                }
                (Some(chart), None) if !is_exact_version(&chart.version) => {
                    return Err(format!(
                        "component {}: chart version {:?} is not an exact version (x.y.z)",
                        c.id, chart.version
                    ))
                }
                (None, Some(path)) if path.split('/').any(|seg| seg.is_empty() || seg == "..") => {
                    return Err(format!(
                        "component {}: manifests path {path:?} must be a relative path",
                        c.id
                    ))
                }
                _ => {}
            }
            self.check_when(&format!("component {}", c.id), &c.when)?;
        }
        for c in &self.components {
            for need in &c.needs {
                if !ids.contains(need.as_str()) {
                    return Err(format!(
                        "component {} needs unknown component {need:?}",
                        c.id
                    ));
                }
            }
        }
        if let Some(cycle) = find_cycle(&self.components) {
            return Err(format!("dependency cycle: {}", cycle.join(" -> ")));
        }
        for c in &self.components {
            for b in &c.consumes.buckets {
                self.check_when(&format!("component {}, bucket {}", c.id, b.name), &b.when)?;
                if let Some(through) = &b.through {
                    // The vending component holds the account whose
                    // credentials it hands out: it must use the bucket.
                    let vends = self.components.iter().any(|v| {
                        &v.id == through
                            && v.id != c.id
                            && v.consumes
                                .buckets
                                .iter()
                                .any(|u| u.name == b.name && u.through.is_none())
                    });
                    if !vends {
                        return Err(format!(
                            "component {}, bucket {}: `through: {through}` names no other component that consumes this bucket with an account of its own",
                            c.id, b.name
                        ));
                    }
                }
                // Reaching the bucket directly on a cloud replaces the
                // catalog's credentials there: it needs both a catalog to
                // replace and an identity on that cloud.
                for target in &b.direct_on {
                    if b.through.is_none() || !c.identity_on(target) {
                        return Err(format!(
                            "component {}, bucket {}: `direct_on: [{target}]` needs `through` (the catalog whose credentials it replaces) and a workload identity on {target} (`workload_identity`, `identity_targets`)",
                            c.id, b.name
                        ));
                    }
                }
            }
        }
        self.check_trust()?;
        self.check_endpoints()?;
        self.check_wiring()
    }

    /// Every endpoint a component calls is in the catalog, and the
    /// catalog's choices and wiring kinds exist.
    fn check_endpoints(&self) -> Result<(), String> {
        for e in &self.cluster_endpoints {
            if !CLUSTER_ENDPOINT_KEYS.contains(&e.name.as_str()) {
                return Err(format!(
                    "cluster endpoint {:?}: its addresses come from the spec's network.<name>; expected one of {}",
                    e.name,
                    CLUSTER_ENDPOINT_KEYS.join(", ")
                ));
            }
        }
        for ns in &self.namespaces {
            for call in &ns.calls {
                if !self.cluster_endpoints.iter().any(|e| &e.name == call) {
                    return Err(format!(
                        "namespace {}: `calls` names {call:?}, which is not a cluster endpoint",
                        ns.id
                    ));
                }
            }
            if !ns.isolated && !ns.calls.is_empty() {
                return Err(format!(
                    "namespace {}: `calls` opens egress in a namespace that is not isolated",
                    ns.id
                ));
            }
        }
        let mut names = BTreeSet::new();
        for e in &self.external_endpoints {
            if !names.insert(e.name.as_str()) {
                return Err(format!("external endpoint {:?} is declared twice", e.name));
            }
            if e.ports.is_empty() {
                return Err(format!("external endpoint {}: `ports` is empty", e.name));
            }
            self.check_when(&format!("external endpoint {}", e.name), &e.when)?;
            if let Some(key) = &e.only_with {
                if !ONLY_WITH.contains(&key.as_str()) {
                    return Err(format!(
                        "external endpoint {}: `only_with` is {key:?}; expected one of {}",
                        e.name,
                        ONLY_WITH.join(", ")
                    ));
                }
            }
            if let Some(kind) = &e.used_by {
                if !USED_BY.contains(&kind.as_str()) {
                    return Err(format!(
                        "external endpoint {}: `used_by` is {kind:?}; expected one of {}",
                        e.name,
                        USED_BY.join(", ")
                    ));
                }
            }
        }
        let controllers: Vec<&str> = self
            .components
            .iter()
            .filter(|c| c.serves_ingress)
            .map(|c| c.id.as_str())
            .collect();
        if controllers.len() > 1 {
            return Err(format!(
                "components {} all declare `serves_ingress`: a blueprint has one ingress controller",
                controllers.join(", ")
            ));
        }
        if let Some(c) = self.components.iter().find(|c| c.ingress) {
            if controllers.is_empty() {
                return Err(format!(
                    "component {}: `ingress: true`, but no component declares `serves_ingress`",
                    c.id
                ));
            }
        }
        for c in &self.components {
            if c.web_identity && c.workload_identity.is_empty() {
                return Err(format!(
                    "component {}: `web_identity: true` needs the service accounts that take the identity (`workload_identity`)",
                    c.id
                ));
            }
            if !c.identity_targets.is_empty() && c.workload_identity.is_empty() {
                return Err(format!(
                    "component {}: `identity_targets` names where the service accounts of `workload_identity` take the identity, and it lists none",
                    c.id
                ));
            }
            if let Some(t) = c
                .identity_targets
                .iter()
                .find(|t| !self.clouds.contains_key(*t))
            {
                return Err(format!(
                    "component {}: `identity_targets` names {t:?}, which is not a cloud of this blueprint (`clouds`)",
                    c.id
                ));
            }
            for id in &c.calls {
                // A call opens a flow to that component's namespace; it must
                // exist, and start first, like anything a component uses.
                if !c.needs.contains(id) {
                    return Err(format!(
                        "component {}: calls {id:?}, which it does not list in `needs`",
                        c.id
                    ));
                }
            }
            for name in &c.egress {
                if !names.contains(name.as_str()) {
                    return Err(format!(
                        "component {}: egress to unknown external endpoint {name:?} (declared: {})",
                        c.id,
                        names.iter().copied().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every trusted CA has exactly one distributor, and every component
    /// that trusts it needs that distributor (directly or through its
    /// needs), so its pods never start before the bundle they mount exists.
    fn check_trust(&self) -> Result<(), String> {
        let mut distributor: BTreeMap<&str, &str> = BTreeMap::new();
        for c in &self.components {
            for ca in &c.distributes {
                if let Some(other) = distributor.insert(ca, &c.id) {
                    return Err(format!(
                        "CA {ca:?} is distributed by both {other} and {}",
                        c.id
                    ));
                }
            }
        }
        let index: BTreeMap<&str, &Component> =
            self.components.iter().map(|c| (c.id.as_str(), c)).collect();
        for c in &self.components {
            for ca in &c.trusts {
                let Some(source) = distributor.get(ca.as_str()) else {
                    return Err(format!(
                        "component {} trusts CA {ca:?}, which no component distributes",
                        c.id
                    ));
                };
                if !wiring::reaches(&c.id, source, |id| {
                    index.get(id).map_or(&[][..], |c| c.needs.as_slice())
                }) {
                    return Err(format!(
                        "component {} trusts CA {ca:?} but does not need {source}, which distributes it",
                        c.id
                    ));
                }
            }
        }
        Ok(())
    }

    /// The wiring graph must hold whatever the spec enables: every
    /// component is checked with the whole blueprint, then each set of
    /// mutually exclusive choices is checked again when the model is built.
    fn check_wiring(&self) -> Result<(), String> {
        let nodes: Vec<wiring::Node> = self.components.iter().map(Component::node).collect();
        let none = Provides::default();
        let outside: Vec<wiring::Node> = self
            .bootstrap_consumers
            .iter()
            .map(|b| wiring::Node {
                id: &b.id,
                needs: &[],
                provides: &none,
                consumes: &b.consumes,
            })
            .collect();
        let external: Vec<(&str, &BTreeMap<String, Vec<String>>)> = self
            .external_endpoints
            .iter()
            .filter_map(|e| Some((e.used_by.as_deref()?, &e.when)))
            .collect();
        wiring::check(&nodes, &outside, &external).map_err(|e| format!("wiring: {e}"))
    }

    pub fn namespace(&self, id: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.id == id)
    }
}

impl Component {
    pub fn node(&self) -> wiring::Node<'_> {
        wiring::Node {
            id: &self.id,
            needs: &self.needs,
            provides: &self.provides,
            consumes: &self.consumes,
        }
    }

    pub fn enabled(&self, choices: &BTreeMap<&str, &str>) -> bool {
        self.when.iter().all(|(key, allowed)| {
            choices
                .get(key.as_str())
                .is_some_and(|v| allowed.iter().any(|a| a == v))
        })
    }
}

/// A cycle in the `needs` graph, as a path that ends where it starts.
fn find_cycle(components: &[Component]) -> Option<Vec<String>> {
    let index: BTreeMap<&str, &Component> = components.iter().map(|c| (c.id.as_str(), c)).collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        id: &'a str,
        index: &BTreeMap<&'a str, &'a Component>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(id) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = path.iter().position(|p| *p == id).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(id.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(id, Mark::Visiting);
        path.push(id);
        if let Some(c) = index.get(id) {
            for need in &c.needs {
                if let Some(cycle) = visit(need, index, marks, path) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        marks.insert(id, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for c in components {
        if let Some(cycle) = visit(&c.id, &index, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

/// Waves of the enabled components. Needs on disabled components are dropped:
/// a catalog that is not deployed cannot hold Velero back.
pub fn waves(enabled: &[&Component]) -> BTreeMap<String, i64> {
    let index: BTreeMap<&str, &Component> = enabled.iter().map(|c| (c.id.as_str(), *c)).collect();
    fn wave_of(
        id: &str,
        index: &BTreeMap<&str, &Component>,
        memo: &mut BTreeMap<String, i64>,
    ) -> i64 {
        if let Some(w) = memo.get(id) {
            return *w;
        }
        let w = index[id]
            .needs
            .iter()
            .filter(|n| index.contains_key(n.as_str()))
            .map(|n| wave_of(n, index, memo) + 1)
            .max()
            .unwrap_or(0);
        memo.insert(id.to_owned(), w);
        w
    }
    let mut memo = BTreeMap::new();
    for c in enabled {
        wave_of(&c.id, &index, &mut memo);
    }
    memo
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_fill_namespaces_and_domain_and_refuse_unknown_placeholders() {
        let ns: BTreeMap<String, String> = [("storage".to_owned(), "store-b".to_owned())]
            .into_iter()
            .collect();
        assert_eq!(
            expand_address("http://s3.{ns.storage}.svc:{domain}", &ns, "d.example").as_deref(),
            Ok("http://s3.store-b.svc:d.example")
        );
        for bad in ["{ns.nowhere}", "{env}", "https://{domain"] {
            assert!(expand_address(bad, &ns, "d").is_err(), "{bad}");
        }
        let mut m = manifest(Vec::new());
        m.addresses.s3 = Some("http://{ns.elsewhere}".into());
        let err = m.check().unwrap_err();
        assert!(
            err.contains("addresses.s3") && err.contains("ns.elsewhere"),
            "{err}"
        );
    }

    use super::*;

    fn comp(id: &str, needs: &[&str]) -> Component {
        Component {
            id: id.into(),
            title: id.into(),
            namespace: "core".into(),
            needs: needs.iter().map(|s| s.to_string()).collect(),
            when: Default::default(),
            chart: None,
            manifests: Some(format!("components/{id}")),
            server_side_apply: false,
            critical: false,
            cluster_wide: false,
            provides: Default::default(),
            consumes: Default::default(),
            trusts: Vec::new(),
            distributes: Vec::new(),
            egress: Vec::new(),
            calls: Vec::new(),
            ingress: false,
            serves_ingress: false,
            workload_identity: Vec::new(),
            web_identity: false,
            identity_targets: Vec::new(),
            compose: Default::default(),
            targets: Vec::new(),
        }
    }

    fn manifest(components: Vec<Component>) -> Manifest {
        Manifest {
            name: "t".into(),
            version: "0.0.0".into(),
            default: false,
            spec_sections: None,
            cluster_sections: Vec::new(),
            sso_roles: Vec::new(),
            sso_admin_roles: Vec::new(),
            notebooks: Default::default(),
            spec_descriptions: BTreeMap::new(),
            s3_user: None,
            storage_classes: Vec::new(),
            replicated_storage: None,
            addresses: Addresses::default(),
            namespaces: vec![Namespace {
                id: "core".into(),
                name: "core".into(),
                purpose: String::new(),
                pod_security: "restricted".into(),
                system: false,
                calls: Vec::new(),
                isolated: true,
            }],
            components,
            bootstrap_consumers: Vec::new(),
            external_endpoints: Vec::new(),
            cluster_endpoints: Vec::new(),
            data_flow: Vec::new(),
            targets: kubernetes_only(),
            compose: None,
            clouds: BTreeMap::new(),
            options: Vec::new(),
        }
    }

    #[test]
    fn a_blueprint_reading_sso_lists_the_roles_its_groups_may_get() {
        let mut m = manifest(vec![comp("a", &[])]);
        m.spec_sections = Some(vec!["sso".into()]);
        let err = m.check().unwrap_err();
        assert!(err.starts_with("sso_roles:"), "{err}");
        m.sso_roles = vec!["Viewer".into()];
        assert!(m.check().is_ok());
        // Its administrators' role is one of them.
        m.sso_admin_roles = vec!["Owner".into()];
        let err = m.check().unwrap_err();
        assert!(
            err.starts_with("sso_admin_roles: \"Owner\" is not one of sso_roles (Viewer)"),
            "{err}"
        );
        m.sso_admin_roles = vec!["Viewer".into()];
        assert!(m.check().is_ok());
        m.sso_admin_roles.clear();
        // Without spec_sections, every section but `sso` is offered: the
        // realm needs roles to map its groups to.
        m.spec_sections = None;
        m.sso_roles.clear();
        let schema = crate::core::spec_schema::spec_schema_for(&[], &[], m.reads());
        assert!(schema["properties"]["sso"].is_null());
        assert!(schema["properties"]["keycloak"].is_object());
        m.sso_roles = vec!["Viewer".into(), "Editor".into()];
        let schema = crate::core::spec_schema::spec_schema_for(&[], &[], m.reads());
        assert_eq!(
            schema["properties"]["sso"]["properties"]["groups"]["items"]["properties"]["role"]
                ["enum"],
            serde_json::json!(["Viewer", "Editor"])
        );
    }

    #[test]
    fn when_tests_only_declared_options_and_their_values() {
        let mut c = comp("a", &[]);
        c.when.insert("ingestion".into(), vec!["nifi".into()]);
        let mut m = manifest(vec![c]);
        let err = m.check().unwrap_err();
        assert!(err.contains("unknown choice \"ingestion\""), "{err}");
        m.options.push(crate::core::blueprint::SpecOption {
            key: "ingestion".into(),
            values: vec!["airbyte".into()],
            description: "Ingestion.".into(),
        });
        assert!(m.check().is_ok());
        let err = m.check_options().unwrap_err();
        assert!(err.contains("does not offer (airbyte)"), "{err}");
        m.options[0].values.push("nifi".into());
        assert!(m.check_options().is_ok());
        m.options[0].values.push("nifi".into());
        assert!(m.check_options().unwrap_err().contains("distinct"));
        // A derived choice tested for a value it never takes.
        m.components[0]
            .when
            .insert("object_storage".into(), vec!["minio".into()]);
        let err = m.check().unwrap_err();
        assert!(
            err.contains("tests object_storage for \"minio\", a value it never takes (one of: external, in-cluster)"),
            "{err}"
        );
    }

    #[test]
    fn a_cloud_target_is_declared_and_leaves_out_only_what_nobody_consumes() {
        let mut provider = comp("db", &[]);
        provider.provides.databases = true;
        let mut m = manifest(vec![comp("disks", &[]), provider]);
        m.targets.push("eks".into());
        let err = m.check_targets().unwrap_err();
        assert!(err.contains("declare it under `clouds`"), "{err}");
        let cloud = |left_out: &[&str]| CloudTarget {
            kubernetes_version: "1.33".into(),
            left_out: left_out
                .iter()
                .map(|id| (id.to_string(), "the cloud's".to_string()))
                .collect(),
            defaults: Default::default(),
            private_endpoints: Vec::new(),
            fixed_endpoints: BTreeMap::new(),
            fixed_ports: BTreeMap::new(),
            identities: Vec::new(),
            database: None,
            buckets: false,
            lake_account: false,
            store_only: BTreeMap::new(),
        };
        m.clouds.insert("eks".into(), cloud(&["disks"]));
        assert!(m.check_targets().is_ok());
        m.clouds.insert("eks".into(), cloud(&["nothing"]));
        let err = m.check_targets().unwrap_err();
        assert!(err.contains("\"nothing\" is not a component"), "{err}");
        // What runs for the store alone: components, on a cloud that
        // holds buckets.
        let mut store = cloud(&["disks"]);
        store.store_only = BTreeMap::from([("store".to_owned(), "none".to_owned())]);
        m.clouds.insert("eks".into(), store.clone());
        let err = m.check_targets().unwrap_err();
        assert!(
            err.contains("store_only: \"store\" is not a component"),
            "{err}"
        );
        store.store_only = BTreeMap::from([("disks".to_owned(), "none".to_owned())]);
        m.clouds.insert("eks".into(), store.clone());
        let err = m.check_targets().unwrap_err();
        assert!(err.contains("the cloud holds no bucket"), "{err}");
        store.buckets = true;
        m.clouds.insert("eks".into(), store.clone());
        assert!(m.check_targets().is_ok());
        // A lake account for the catalogs' buckets, on a cloud holding
        // buckets only.
        let mut lake = cloud(&["disks"]);
        lake.lake_account = true;
        m.clouds.insert("eks".into(), lake);
        let err = m.check_targets().unwrap_err();
        assert!(
            err.contains("lake_account: the cloud holds no bucket"),
            "{err}"
        );
        store.lake_account = true;
        m.clouds.insert("eks".into(), store);
        assert!(m.check_targets().is_ok());
        m.clouds.insert("eks".into(), cloud(&["db"]));
        let err = m.check_targets().unwrap_err();
        assert!(
            err.contains("db provides databases to other components"),
            "{err}"
        );
        // A stand-in of the cloud's own, providing the same kind, may take
        // its place; the cloud's database must name it.
        let mut stand_in = comp("managed-db", &[]);
        stand_in.provides.databases = true;
        stand_in.targets = vec!["eks".into()];
        m.components.push(stand_in);
        assert!(m.check_targets().is_ok());
        let mut with_db = cloud(&["db"]);
        with_db.database = Some(CloudDatabase {
            component: "db".into(),
            engine_version: "17".into(),
            parameter_family: "postgres17".into(),
            instance_class: crate::core::spec::SIZINGS
                .iter()
                .map(|s| (s.to_string(), "db.m7g.large".to_string()))
                .collect(),
            storage_gb: 100,
            max_storage_gb: 200,
            backup_retention_days: 7,
        });
        m.clouds.insert("eks".into(), with_db.clone());
        let err = m.check_targets().unwrap_err();
        assert!(err.contains("database.component: \"db\""), "{err}");
        if let Some(d) = with_db.database.as_mut() {
            d.component = "managed-db".into();
            d.instance_class.remove("large");
        }
        m.clouds.insert("eks".into(), with_db.clone());
        let err = m.check_targets().unwrap_err();
        assert!(err.contains("sizing \"large\""), "{err}");
        with_db.private_endpoints = vec!["nowhere".into()];
        if let Some(d) = with_db.database.as_mut() {
            d.instance_class
                .insert("large".into(), "db.m7g.2xlarge".into());
        }
        m.clouds.insert("eks".into(), with_db.clone());
        let err = m.check_targets().unwrap_err();
        assert!(
            err.contains("\"nowhere\" is not an external endpoint"),
            "{err}"
        );
        // A fixed address names a declared endpoint, as a CIDR.
        with_db.private_endpoints.clear();
        with_db
            .fixed_endpoints
            .insert("agent".into(), vec!["169.254.170.23/32".into()]);
        m.clouds.insert("eks".into(), with_db.clone());
        let err = m.check_targets().unwrap_err();
        assert!(
            err.contains("fixed_endpoints: \"agent\" is not an external endpoint"),
            "{err}"
        );
        m.external_endpoints.push(ExternalEndpoint {
            name: "agent".into(),
            purpose: "credentials".into(),
            ports: vec![80],
            when: BTreeMap::new(),
            used_by: None,
            only_with: Some("cloud".into()),
        });
        with_db
            .fixed_endpoints
            .insert("agent".into(), vec!["169.254.170.23".into()]);
        m.clouds.insert("eks".into(), with_db.clone());
        let err = m.check_targets().unwrap_err();
        assert!(
            err.contains("fixed_endpoints.agent: \"169.254.170.23\""),
            "{err}"
        );
        with_db.fixed_endpoints.clear();
        m.clouds.insert("eks".into(), with_db);
        // A stand-in runs on the blueprint's targets only.
        m.components[2].targets = vec!["gke".into()];
        m.clouds.insert("eks".into(), cloud(&[]));
        let err = m.check_targets().unwrap_err();
        assert!(err.contains("`targets` lists \"gke\""), "{err}");
        m.components.pop();
        m.clouds.insert("eks".into(), cloud(&[]));
        m.targets.retain(|t| t != "eks");
        let err = m.check_targets().unwrap_err();
        assert!(err.contains("`targets` does not list eks"), "{err}");
    }

    #[test]
    fn a_data_flow_step_must_name_declared_components() {
        let mut m = manifest(vec![comp("a", &[])]);
        m.data_flow.push(FlowStep {
            from: "a".into(),
            to: "b".into(),
            label: "rows".into(),
        });
        assert!(m.check().is_ok());
        let err = m.check_data_flow().unwrap_err();
        assert!(err.contains("data_flow") && err.contains("\"b\""), "{err}");
    }

    #[test]
    fn waves_follow_the_longest_chain() {
        let cs = [
            comp("a", &[]),
            comp("b", &["a"]),
            comp("c", &["a", "b"]),
            comp("d", &["missing-but-disabled"]),
        ];
        let refs: Vec<&Component> = cs.iter().collect();
        let w = waves(&refs);
        assert_eq!((w["a"], w["b"], w["c"], w["d"]), (0, 1, 2, 0));
    }

    #[test]
    fn cycles_are_refused_with_their_path() {
        let err = manifest(vec![
            comp("a", &["c"]),
            comp("b", &["a"]),
            comp("c", &["b"]),
        ])
        .check()
        .unwrap_err();
        assert_eq!(err, "dependency cycle: a -> c -> b -> a");
    }

    /// `identity_targets` narrows `workload_identity` to clouds the
    /// blueprint has: without service accounts or with an unknown cloud it
    /// would quietly keep every bucket in the store.
    #[test]
    fn identity_targets_need_accounts_and_known_clouds() {
        let mut c = comp("notes", &[]);
        c.identity_targets = vec!["eks".into()];
        let err = manifest(vec![c.clone()]).check().unwrap_err();
        assert!(err.contains("lists none"), "{err}");
        c.workload_identity = vec!["notes".into()];
        let err = manifest(vec![c.clone()]).check().unwrap_err();
        assert!(err.contains("names \"eks\", which is not a cloud"), "{err}");
        assert!(c.identity_on("eks") && !c.identity_on("aks"));
        c.identity_targets.clear();
        assert!(c.identity_on("aks"));
    }

    /// A use through another component's vended credentials needs that
    /// component to hold an account for the same bucket.
    #[test]
    fn a_vended_bucket_use_names_a_component_with_its_own_account() {
        let use_of = |through: Option<&str>| crate::core::wiring::BucketUse {
            name: "tables".into(),
            through: through.map(str::to_owned),
            ..Default::default()
        };
        let mut catalog = comp("catalog", &[]);
        let mut notes = comp("notes", &["catalog"]);
        notes.consumes.buckets = vec![use_of(Some("catalog"))];
        let err = manifest(vec![catalog.clone(), notes.clone()])
            .check()
            .unwrap_err();
        assert!(
            err.contains("component notes, bucket tables: `through: catalog`"),
            "{err}"
        );
        catalog.consumes.buckets = vec![use_of(None)];
        let mut store = comp("store", &[]);
        store.provides.buckets = true;
        catalog.needs.push("store".into());
        let checked = manifest(vec![store.clone(), catalog.clone(), notes.clone()]).check();
        assert!(checked.is_ok(), "{checked:?}");

        // Reaching it directly on a cloud needs an identity there.
        notes.consumes.buckets[0].direct_on = vec!["gke".into()];
        let err = manifest(vec![store.clone(), catalog.clone(), notes.clone()])
            .check()
            .unwrap_err();
        assert!(
            err.contains("component notes, bucket tables: `direct_on: [gke]` needs `through`"),
            "{err}"
        );
        // An identity on every target (no `identity_targets`).
        notes.workload_identity = vec!["notes".into()];
        let checked = manifest(vec![store, catalog, notes]).check();
        assert!(checked.is_ok(), "{checked:?}");
    }

    #[test]
    fn unknown_needs_are_refused() {
        let err = manifest(vec![comp("a", &["ghost"])]).check().unwrap_err();
        assert!(err.contains("needs unknown component \"ghost\""), "{err}");
    }

    #[test]
    fn a_trusted_ca_needs_its_distributor() {
        let mut ca = comp("ca", &[]);
        ca.distributes = vec!["platform-ca".into()];
        let mut direct = comp("direct", &["ca"]);
        direct.trusts = vec!["platform-ca".into()];
        let mut through = comp("through", &["direct"]);
        through.trusts = vec!["platform-ca".into()];
        assert_eq!(
            manifest(vec![ca.clone(), direct.clone(), through.clone()]).check(),
            Ok(())
        );

        let mut stray = comp("stray", &[]);
        stray.trusts = vec!["platform-ca".into()];
        let err = manifest(vec![ca.clone(), stray]).check().unwrap_err();
        assert_eq!(
            err,
            "component stray trusts CA \"platform-ca\" but does not need ca, which distributes it"
        );

        let mut unknown = comp("unknown", &["ca"]);
        unknown.trusts = vec!["other-ca".into()];
        let err = manifest(vec![ca.clone(), unknown]).check().unwrap_err();
        assert!(err.contains("which no component distributes"), "{err}");

        let mut twice = comp("twice", &[]);
        twice.distributes = vec!["platform-ca".into()];
        let err = manifest(vec![ca, twice]).check().unwrap_err();
        assert!(err.contains("distributed by both ca and twice"), "{err}");
    }

    #[test]
    fn exact_versions_only() {
        assert!(is_exact_version("1.42.2"));
        assert!(is_exact_version("v1.21.1"));
        for v in ["1.x", "*", "HEAD", ">=1.0.0", "1.2", "^1.2.3"] {
            assert!(!is_exact_version(v), "{v}");
        }
    }

    #[test]
    fn a_namespace_calls_only_declared_cluster_endpoints() {
        let mut m = manifest(Vec::new());
        m.namespaces[0].calls = vec!["api_server".into()];
        let err = m
            .check_endpoints()
            .expect_err("no cluster endpoint declared");
        assert!(err.contains("core") && err.contains("api_server"), "{err}");
        m.cluster_endpoints = vec![ClusterEndpoint {
            name: "api_server".into(),
            policy: "allow-kube-apiserver".into(),
            purpose: "the API".into(),
            ports: vec![443],
        }];
        assert!(m.check_endpoints().is_ok());
        m.namespaces[0].isolated = false;
        let err = m
            .check_endpoints()
            .expect_err("egress in a namespace left open");
        assert!(err.contains("not isolated"), "{err}");
        m.namespaces[0].isolated = true;
        m.cluster_endpoints[0].name = "gateway".into();
        let err = m.check_endpoints().expect_err("unknown spec key");
        assert!(err.contains("network.<name>"), "{err}");
    }

    /// A call opens a flow between namespaces: only to what the component
    /// needs, so the callee exists and starts first.
    #[test]
    fn a_component_calls_only_what_it_needs() {
        let mut caller = comp("bi", &["engine"]);
        caller.calls = vec!["engine".into()];
        let m = manifest(vec![comp("engine", &[]), caller.clone()]);
        assert!(m.check_endpoints().is_ok());
        caller.needs.clear();
        let m = manifest(vec![comp("engine", &[]), caller]);
        let err = m
            .check_endpoints()
            .expect_err("a call to what it does not need");
        assert!(err.contains("calls \"engine\""), "{err}");
    }

    #[test]
    fn a_published_component_needs_the_one_ingress_controller() {
        let mut ui = comp("ui", &[]);
        ui.ingress = true;
        let err = manifest(vec![ui.clone()])
            .check_endpoints()
            .expect_err("no controller");
        assert!(err.contains("serves_ingress"), "{err}");
        let mut edge = comp("edge", &[]);
        edge.serves_ingress = true;
        assert!(manifest(vec![ui.clone(), edge.clone()])
            .check_endpoints()
            .is_ok());
        let mut other = comp("other", &[]);
        other.serves_ingress = true;
        let err = manifest(vec![ui, edge, other])
            .check_endpoints()
            .expect_err("two controllers");
        assert!(err.contains("one ingress controller"), "{err}");
    }
}
