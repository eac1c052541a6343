//! The client spec (`socle.yaml`): reading, schema validation, typed form.
//!
//! Validation happens in two passes so that a consultant sees every mistake at
//! once: the JSON Schema pass reports all structural errors (with the line of
//! the offending field), and only a spec that passes it is deserialised into
//! [`Spec`], followed by the cross-field checks a schema cannot express
//! (unique names, at most one environment of each kind).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::spec_schema as schema;
use crate::locate::LineIndex;

/// The commented example spec, also the default of `socle new`.
pub const EXAMPLE: &str = include_str!(concat!(
    env!("SOCLE_DATA"),
    "/blueprints/example/socle.yaml"
));

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The blueprint the spec is written for (`socle blueprint list`);
    /// `None` takes the one socle renders with.
    #[serde(default)]
    pub blueprint: Option<String>,
    pub client: Client,
    pub domain: String,
    pub repository: Repository,
    pub environments: Vec<Environment>,
    pub components: Choices,
    #[serde(default = "default_sizing")]
    pub sizing: String,
    /// Required by the blueprints that read it (`spec_sections`); absent
    /// for the others.
    #[serde(default)]
    pub keycloak: Keycloak,
    /// The client's own OpenID Connect provider (a Keycloak realm), for
    /// the blueprints whose UIs sign users in there instead of hosting one.
    #[serde(default)]
    pub sso: Option<Sso>,
    #[serde(default)]
    pub data_domains: Vec<DataDomain>,
    #[serde(default)]
    pub notebooks: Notebooks,
    #[serde(default)]
    pub object_storage: Option<ObjectStorage>,
    #[serde(default)]
    pub secrets: Option<Secrets>,
    #[serde(default)]
    pub argocd: ArgoCd,
    #[serde(default)]
    pub mirror: Option<Mirror>,
    /// Where the cluster's API server and the external hosts live, so that
    /// egress is opened to them only.
    #[serde(default)]
    pub network: Option<Network>,
    #[serde(default)]
    pub author: Option<Author>,
}

fn default_sizing() -> String {
    "standard".to_owned()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub name: String,
    pub slug: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Repository {
    pub url: String,
    #[serde(default = "default_revision")]
    pub revision: String,
}

fn default_revision() -> String {
    "main".to_owned()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub name: String,
    /// Where the environment runs: `kubernetes` (the default),
    /// `compose`, one Docker host (see [`Environment::is_compose`]), or a
    /// managed cloud's Kubernetes (`eks`, see [`Environment::cloud`]).
    #[serde(default)]
    pub target: Option<String>,
    /// The cluster's API server; empty for a Compose environment, and
    /// optional on a managed cloud (whose Terraform creates the cluster).
    #[serde(default)]
    pub cluster: String,
    /// A managed cloud's account facts (targets such as `eks` only): where
    /// its Terraform creates the cluster and the services around it.
    #[serde(default)]
    pub cloud: Option<Cloud>,
    #[serde(default)]
    pub namespace_suffix: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
    /// Overrides of the environment defaults (same keys as `environments/<name>.yaml`).
    #[serde(default)]
    pub overrides: Option<serde_json::Map<String, Value>>,
    /// The nodes of the cluster that hold Mayastor's replicated volumes,
    /// with their data disks (environments running Mayastor only): each
    /// disk becomes a DiskPool, each node gets the bootstrap's preparation
    /// (huge pages, `nvme_tcp`, the `openebs.io/engine=mayastor` label).
    #[serde(default)]
    pub storage_nodes: Vec<StorageNode>,
    /// An object store outside this environment's cluster that its backups
    /// go to (Velero, PostgreSQL base backups and WAL). Required in prod:
    /// backups kept in the cluster they protect are lost with it.
    #[serde(default)]
    pub backup_target: Option<BackupTarget>,
    /// Compose only: services the blueprint marks as needing the host's
    /// Docker socket (they start containers themselves) may mount it. Off
    /// by default: the socket gives control of the whole host.
    #[serde(default)]
    pub docker_socket: bool,
    /// This environment's addresses (each key replaces the spec's
    /// `network` key of the same name: environments are often clusters of
    /// their own).
    #[serde(default)]
    pub network: Option<Network>,
}

/// Where a managed cloud environment lives.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cloud {
    pub region: String,
    /// The network the cluster gets (its nodes, its API server's private
    /// endpoint and the managed services live in it).
    pub vpc_cidr: String,
    /// The cluster's Kubernetes minor version, when not the blueprint's.
    #[serde(default)]
    pub kubernetes_version: Option<String>,
    /// The account (12 digits) the environment lives in. Given, the
    /// Terraform refuses to run with another account's credentials, and
    /// the account's ARNs are known before a plan, so the clients that
    /// name their role's ARN (web identity) can sign in to S3.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The Google Cloud project (GKE): its workload identity pool and the
    /// Terraform's provider are the project's.
    #[serde(default)]
    pub project: Option<String>,
    /// The Azure subscription and Entra ID tenant (AKS, UUIDs): the
    /// Terraform's provider and the secret store name them.
    #[serde(default)]
    pub subscription: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
    /// The client IDs Azure gave the environment's managed identities
    /// (AKS; `terraform output client_ids`), by identity: Azure assigns one
    /// only when it creates the identity, and the workload identity
    /// webhook reads it from each service account's annotation.
    #[serde(default)]
    pub client_ids: std::collections::BTreeMap<String, String>,
}

/// An S3 store off the cluster, for backups.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackupTarget {
    pub endpoint: String,
    pub bucket: String,
    #[serde(default)]
    pub region: Option<String>,
}

/// Environments whose backups must leave the cluster: the spec requires a
/// `backup_target` for them, and `socle check` denies their in-cluster
/// backups (on repositories socle did not write too, hence "production").
pub const OFF_CLUSTER_BACKUPS: &[&str] = &["prod", "production"];

/// The target of an environment that runs on one Docker host.
pub const COMPOSE: &str = "compose";

/// The spec's sizing profiles (`sizing`).
pub const SIZINGS: &[&str] = &["small", "standard", "large"];

/// Whether `text` matches `pattern` (a constant of this module).
fn regex_is(text: &str, pattern: &str) -> bool {
    regex::Regex::new(pattern).is_ok_and(|r| r.is_match(text))
}

/// The managed-cloud targets: a Kubernetes cluster synced by Argo CD, the
/// cluster and the services around it created by generated Terraform.
pub const CLOUDS: &[&str] = &["eks", "gke", "aks"];

/// Amazon EKS, whose accounts and ARNs the spec may name.
pub const EKS: &str = "eks";

/// Google Kubernetes Engine, whose project the spec names.
pub const GKE: &str = "gke";

/// Azure Kubernetes Service, whose subscription and tenant the spec names.
pub const AKS: &str = "aks";

/// A UUID as Azure writes its identifiers (subscriptions, tenants, client
/// IDs).
const AZURE_UUID: &str =
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

impl Environment {
    /// Whether it runs on one Docker host (Docker Compose) rather than on a
    /// Kubernetes cluster synced by Argo CD.
    pub fn is_compose(&self) -> bool {
        self.target.as_deref() == Some(COMPOSE)
    }

    /// The managed cloud it runs on, if any.
    pub fn cloud_target(&self) -> Option<&str> {
        self.target.as_deref().filter(|t| CLOUDS.contains(t))
    }

    /// The key that tells clusters apart: the API server URL, or, for a
    /// managed cloud cluster not yet created, the environment itself (its
    /// Terraform creates a cluster of its own).
    pub fn cluster_key(&self) -> String {
        if self.cluster.is_empty() && self.cloud_target().is_some() {
            format!(
                "{}:{}",
                self.target.as_deref().unwrap_or_default(),
                self.name
            )
        } else {
            self.cluster.trim_end_matches('/').to_owned()
        }
    }
}

/// Addresses NetworkPolicies open egress to. A NetworkPolicy cannot name a
/// host, and the API server is not a pod: without CIDRs, egress to them is
/// open to any destination on their ports, which `socle check` reports.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The addresses the Kubernetes API server listens on (the endpoints
    /// of Service `kubernetes` in namespace `default`).
    #[serde(default)]
    pub api_server: Vec<String>,
    /// The nodes' addresses (Prometheus scrapes the kubelets and
    /// node-exporter on host networking).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// External endpoints by name (the blueprint's `external_endpoints`).
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub cidrs: Vec<String>,
    /// TCP ports, when not the blueprint's.
    #[serde(default)]
    pub ports: Option<Vec<u16>>,
}

impl Network {
    /// `env` over `spec`, key by key.
    pub fn merged(spec: Option<&Network>, env: Option<&Network>) -> Network {
        let mut out = spec.cloned().unwrap_or_default();
        if let Some(env) = env {
            if !env.api_server.is_empty() {
                out.api_server = env.api_server.clone();
            }
            if !env.nodes.is_empty() {
                out.nodes = env.nodes.clone();
            }
            for (k, v) in &env.endpoints {
                out.endpoints.insert(k.clone(), v.clone());
            }
        }
        out
    }
}

/// A Mayastor storage node: its Kubernetes node name and its data disks.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageNode {
    pub name: String,
    /// Device paths, best a stable link (`/dev/disk/by-id/...`), optionally
    /// with Mayastor's scheme (`aio://`, `uring://`).
    pub disks: Vec<String>,
}

/// The blueprint's choices, by option key (`components:`; the schema
/// holds the keys and values to the blueprint's `options`).
pub type Choices = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Keycloak {
    pub realm: String,
    pub groups: Vec<Group>,
}

/// A realm outside the platform (`sso:`): its issuer, and the groups whose
/// members get each of the UIs' roles (the blueprint's `sso_roles`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sso {
    /// The realm's issuer URL, `https://<host>/realms/<realm>`.
    pub issuer: String,
    #[serde(default)]
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataDomain {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// Where Zeppelin keeps its notes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Notebooks {
    /// `s3`: a bucket of the S3 store the platform uses (the spec's
    /// `object_storage` when set, else the in-cluster MinIO); `pvc`: the
    /// Zeppelin server's persistent volume.
    #[serde(default = "default_notebook_storage")]
    pub storage: String,
    /// Per environment name, the interpreters users may run there
    /// (the blueprint's `notebooks.interpreters`), replacing the environment's default
    /// (`notebooks.interpreters` of `environments/<name>.yaml`).
    #[serde(default)]
    pub interpreters: BTreeMap<String, Vec<String>>,
}

impl Default for Notebooks {
    fn default() -> Self {
        Self {
            storage: default_notebook_storage(),
            interpreters: BTreeMap::new(),
        }
    }
}

impl Notebooks {
    pub fn on_s3(&self) -> bool {
        self.storage == "s3"
    }
}

fn default_notebook_storage() -> String {
    "s3".to_owned()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectStorage {
    pub endpoint: String,
    #[serde(default)]
    pub region: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    pub store: String,
    #[serde(default = "default_store_kind")]
    pub kind: String,
}

fn default_store_kind() -> String {
    "ClusterSecretStore".to_owned()
}

/// Where Argo CD runs and how it reaches each environment's cluster.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ArgoCd {
    /// `per-cluster`: one Argo CD in each cluster, every Application targets
    /// the in-cluster API server and environments sharing a cluster share its
    /// Argo CD. `hub`: one Argo CD, in the cluster of the `hub` environment,
    /// manages every cluster; the others are registered as cluster Secrets.
    #[serde(default = "default_topology")]
    pub topology: String,
    /// `hub` only: the environment whose cluster runs Argo CD (default: the
    /// last environment of the spec).
    #[serde(default)]
    pub hub: Option<String>,
}

impl Default for ArgoCd {
    fn default() -> Self {
        Self {
            topology: default_topology(),
            hub: None,
        }
    }
}

impl ArgoCd {
    pub fn is_hub(&self) -> bool {
        self.topology == TOPOLOGY_HUB
    }
}

pub const TOPOLOGY_PER_CLUSTER: &str = "per-cluster";
pub const TOPOLOGY_HUB: &str = "hub";

fn default_topology() -> String {
    TOPOLOGY_PER_CLUSTER.to_owned()
}

/// Package repositories inside the client's network that pods fetch from
/// when they start, instead of Maven Central and PyPI.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    /// A Maven repository holding Maven Central's artifacts (its root URL).
    #[serde(default)]
    pub maven: Option<String>,
    /// A PyPI index (the URL pip's `--index-url` takes).
    #[serde(default)]
    pub pypi: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Author {
    pub name: String,
    pub email: String,
}

/// One problem found in a spec, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted field path, e.g. `environments[1].name`; empty for the document.
    pub field: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let field = if self.field.is_empty() {
            "(document)"
        } else {
            &self.field
        };
        match self.line {
            // A problem that names its own place (an unknown key) needs no field.
            Some(line) if self.field.is_empty() => write!(f, "line {line}: {}", self.message),
            Some(line) => write!(f, "line {line}: {field}: {}", self.message),
            None => write!(f, "{field}: {}", self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{origin}: not valid YAML{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Yaml {
        origin: String,
        line: Option<usize>,
        message: String,
    },
    #[error("{origin}: {} problem(s) in the spec:\n{}", problems.len(), render_problems(origin, problems))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

/// The largest spec socle reads: a real one is a few kilobytes.
pub const MAX_SPEC_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SpecFileError {
    #[error("{path}: not a regular file (a device, a FIFO or a directory); give the path of a spec file")]
    NotAFile { path: String },
    #[error("{path}: larger than {} KiB; a spec is a few kilobytes (is this the right file?)", MAX_SPEC_BYTES / 1024)]
    TooLarge { path: String },
    #[error("{path}: not UTF-8 text")]
    NotText { path: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A spec file's text (`-`: standard input). Only a regular file is opened (a FIFO or a device
/// such as `/dev/zero` would hang the read or fill the memory), and no more
/// than [`MAX_SPEC_BYTES`] is read, whatever its size claims.
pub fn read_file(path: &std::path::Path) -> Result<String, SpecFileError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let io = |source| SpecFileError::Io {
        path: shown.clone(),
        source,
    };
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        // `--spec -`: standard input, bounded like a file.
        std::io::stdin()
            .lock()
            .take(MAX_SPEC_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| SpecFileError::Io {
                path: "(stdin)".into(),
                source,
            })?;
        if bytes.len() as u64 > MAX_SPEC_BYTES {
            return Err(SpecFileError::TooLarge {
                path: "(stdin)".into(),
            });
        }
        return String::from_utf8(bytes).map_err(|_| SpecFileError::NotText {
            path: "(stdin)".into(),
        });
    }
    let meta = fs_err::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(SpecFileError::NotAFile { path: shown });
    }
    fs_err::File::open(path)
        .map_err(io)?
        .take(MAX_SPEC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        return Err(SpecFileError::TooLarge { path: shown });
    }
    String::from_utf8(bytes).map_err(|_| SpecFileError::NotText { path: shown })
}

fn render_problems(origin: &str, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| match p.line {
            // A problem that names its own place (an unknown key) needs no field.
            Some(line) if p.field.is_empty() => format!("  {origin}:{line}: {}", p.message),
            Some(line) => format!(
                "  {origin}:{line}: {}: {}",
                display_field(&p.field),
                p.message
            ),
            None => format!("  {origin}: {}: {}", display_field(&p.field), p.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn display_field(field: &str) -> &str {
    if field.is_empty() {
        "(document)"
    } else {
        field
    }
}

/// Parse and validate a spec for the default blueprint (what it reads of
/// the spec: its interpreters, its words). `origin` names the file in
/// messages; `environments` lists the environment names that have
/// defaults.
pub fn parse(
    text: &str,
    origin: &str,
    environments: &[String],
    options: &[crate::core::blueprint::SpecOption],
) -> Result<Spec, SpecError> {
    let manifest = crate::core::blueprint::named(None).unwrap_or_default();
    parse_for(text, origin, environments, options, manifest.reads())
}

/// [`parse`] for a blueprint that reads only some of the spec's optional
/// sections (`reads`): the others are unknown keys.
pub fn parse_for(
    text: &str,
    origin: &str,
    environments: &[String],
    options: &[crate::core::blueprint::SpecOption],
    reads: schema::Reads<'_>,
) -> Result<Spec, SpecError> {
    let value: Value = crate::yaml::from_str(text).map_err(|e| SpecError::Yaml {
        origin: origin.to_owned(),
        line: crate::yaml::error_line(&e),
        message: crate::yaml::error_message(&e),
    })?;

    let lines = LineIndex::new(text);
    let schema = schema::spec_schema_for(environments, options, reads);
    let mut problems = schema::validate(&schema, &value)
        .into_iter()
        .map(|(field_ptr, message)| {
            if message.starts_with(schema::UNKNOWN_KEY) {
                // The key's own line, and no field: the message names both.
                return Problem {
                    line: lines
                        .exact(&field_ptr)
                        .or_else(|| lines.line_of(&field_ptr)),
                    field: String::new(),
                    message,
                };
            }
            Problem {
                // The document's own line says nothing useful about a missing key.
                line: if field_ptr.is_empty() {
                    None
                } else {
                    lines.line_of(&field_ptr)
                },
                field: pointer_to_field(&field_ptr),
                message: shortened(message),
            }
        })
        .collect::<Vec<_>>();
    if !problems.is_empty() {
        problems.sort_by(|a, b| (a.line, &a.field).cmp(&(b.line, &b.field)));
        problems.dedup();
        return Err(SpecError::Invalid {
            origin: origin.to_owned(),
            problems,
        });
    }

    let spec: Spec = serde_json::from_value(value).map_err(|e| SpecError::Invalid {
        origin: origin.to_owned(),
        problems: vec![Problem {
            field: String::new(),
            line: None,
            message: e.to_string(),
        }],
    })?;

    let mut problems = cross_checks(&spec, &lines);
    if let Some(sso) = &spec.sso {
        let admins = reads.sso_admin_roles;
        if !admins.is_empty() && !sso.groups.iter().any(|g| admins.contains(&g.role)) {
            problems.push(Problem {
                line: lines.line_of("/sso/groups").or_else(|| lines.line_of("/sso")),
                field: "sso.groups".into(),
                message: format!(
                    "no group gets {}: once users sign in with the realm, nobody could administer the UIs; map the realm's administrators' group to it",
                    admins.join(" or ")
                ),
            });
        }
    }
    if !problems.is_empty() {
        return Err(SpecError::Invalid {
            origin: origin.to_owned(),
            problems,
        });
    }
    Ok(spec)
}

/// A problem's message with any echoed value cut to a readable length: a
/// 1 MB value is the user's own, and repeating it whole hides the message.
fn shortened(message: String) -> String {
    const MAX: usize = 400;
    if message.chars().count() <= MAX {
        return message;
    }
    let head: String = message.chars().take(MAX).collect();
    format!("{head}… ({} characters in all)", message.chars().count())
}

/// One token of a JSON pointer, unescaped (`~1` is `/`, `~0` is `~`,
/// in that order: RFC 6901).
pub(crate) fn pointer_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// `/environments/1/name` → `environments[1].name`.
pub fn pointer_to_field(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = pointer_token(token);
        if token.chars().all(|c| c.is_ascii_digit()) && !token.is_empty() {
            out.push_str(&format!("[{token}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    out
}

fn cross_checks(spec: &Spec, lines: &LineIndex) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut dup = |list: Vec<(String, String)>, what: &str| {
        let mut seen = BTreeSet::new();
        for (ptr, name) in list {
            if !seen.insert(name.clone()) {
                problems.push(Problem {
                    line: lines.line_of(&ptr),
                    field: pointer_to_field(&ptr),
                    message: format!("{what} {name:?} appears twice; each must be unique"),
                });
            }
        }
    };
    dup(
        spec.environments
            .iter()
            .enumerate()
            .map(|(i, e)| (format!("/environments/{i}/name"), e.name.clone()))
            .collect(),
        "environment",
    );
    dup(
        spec.data_domains
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("/data_domains/{i}/name"), d.name.clone()))
            .collect(),
        "data domain",
    );
    dup(
        spec.keycloak
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (format!("/keycloak/groups/{i}/name"), g.name.clone()))
            .collect(),
        "Keycloak group",
    );
    // Interpreters are given for environments of this spec: a name that is
    // not one would silently leave that environment on its default.
    for name in spec.notebooks.interpreters.keys() {
        if !spec.environments.iter().any(|e| &e.name == name) {
            let ptr = format!(
                "/notebooks/interpreters/{}",
                name.replace('~', "~0").replace('/', "~1")
            );
            problems.push(Problem {
                line: lines.line_of(&ptr),
                field: pointer_to_field(&ptr),
                message: format!(
                    "{name:?} is not an environment of this spec; one of: {}",
                    spec.environments
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    // The hub must be an environment of this spec, and only a hub has one.
    if let Some(hub) = &spec.argocd.hub {
        let ptr = "/argocd/hub";
        if !spec.argocd.is_hub() {
            problems.push(Problem {
                line: lines.line_of(ptr),
                field: pointer_to_field(ptr),
                message: format!(
                    "`hub` only applies to `topology: hub` (topology is {:?}); remove it or set `topology: hub`",
                    spec.argocd.topology
                ),
            });
        } else if !spec.environments.iter().any(|e| &e.name == hub) {
            problems.push(Problem {
                line: lines.line_of(ptr),
                field: pointer_to_field(ptr),
                message: format!(
                    "hub {hub:?} is not an environment of this spec; one of: {}",
                    spec.environments
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    // A Compose environment is one Docker host: none of a cluster's keys
    // apply, and it is no place for production (no redundancy).
    for (i, env) in spec.environments.iter().enumerate() {
        let ptr = format!("/environments/{i}");
        let mut problem = |key: &str, message: String| {
            let at = format!("{ptr}/{key}");
            problems.push(Problem {
                line: lines.line_of(&at),
                field: pointer_to_field(&at),
                message,
            });
        };
        match (env.cloud_target(), &env.cloud) {
            (Some(target), None) => problem(
                "target",
                format!("target {target} creates the cluster with Terraform: give its `cloud` (region and vpc_cidr), e.g. cloud: {{region: eu-west-3, vpc_cidr: 10.40.0.0/16}}"),
            ),
            (None, Some(_)) => problem(
                "cloud",
                format!("`cloud` describes a managed cloud environment (target: {}): remove it or set the target", CLOUDS.join(" | ")),
            ),
            (Some(target), Some(cloud)) => {
                // Each cloud's own identifiers, so that a spec moved from
                // one cloud to another does not carry the first's over.
                if target != EKS && cloud.account_id.is_some() {
                    problem(
                        "cloud/account_id",
                        format!("`account_id` is an AWS account (target eks); on {target} remove it"),
                    );
                }
                if target == GKE && cloud.project.is_none() {
                    problem(
                        "cloud",
                        "target gke creates the cluster in a Google Cloud project: give its ID, e.g. cloud: {project: acme-data-prod, region: europe-west9, vpc_cidr: 10.40.0.0/16}".into(),
                    );
                }
                if target != GKE && cloud.project.is_some() {
                    problem(
                        "cloud/project",
                        format!("`project` is a Google Cloud project (target gke); on {target} remove it"),
                    );
                }
                if target == AKS {
                    for (key, value) in [("subscription", &cloud.subscription), ("tenant", &cloud.tenant)] {
                        match value {
                            None => problem(
                                "cloud",
                                format!("target aks creates the cluster in an Azure subscription of an Entra ID tenant: give `{key}` (a UUID, `az account show --query {}`), e.g. cloud: {{subscription: <uuid>, tenant: <uuid>, region: francecentral, vpc_cidr: 10.40.0.0/16}}", if key == "tenant" { "tenantId" } else { "id" }),
                            ),
                            Some(v) if !regex_is(v, AZURE_UUID) => problem(
                                &format!("cloud/{key}"),
                                format!("{v:?} is not an Azure {key} ID: a UUID such as 4f6c2a1e-8b7d-4c3a-9e21-5d0b7a6c9f13"),
                            ),
                            _ => {}
                        }
                    }
                    for (name, id) in &cloud.client_ids {
                        if !regex_is(id, AZURE_UUID) {
                            problem(
                                &format!("cloud/client_ids/{name}"),
                                format!("{id:?} is not a client ID: copy the UUIDs of `terraform output -json client_ids` (terraform/{}/)", env.name),
                            );
                        }
                    }
                } else {
                    for (key, given) in [
                        ("subscription", cloud.subscription.is_some()),
                        ("tenant", cloud.tenant.is_some()),
                        ("client_ids", !cloud.client_ids.is_empty()),
                    ] {
                        if given {
                            problem(
                                &format!("cloud/{key}"),
                                format!("`{key}` is Azure's (target aks); on {target} remove it"),
                            );
                        }
                    }
                }
                let (region, example) = match target {
                    EKS => (regex_is(&cloud.region, r"^[a-z]{2}(-[a-z]+)+-[0-9]$"), "eu-west-3"),
                    // Azure's locations are one word: francecentral, westeurope.
                    AKS => (regex_is(&cloud.region, r"^[a-z]+[a-z0-9]*$") && !cloud.region.contains('-'), "francecentral"),
                    _ => (regex_is(&cloud.region, r"^[a-z]+(-[a-z]+)*[0-9]+$"), "europe-west9"),
                };
                if !region {
                    problem(
                        "cloud/region",
                        format!("{:?} is not a {target} region; e.g. {example}", cloud.region),
                    );
                }
            }
            _ => {}
        }
        let hub = spec
            .argocd
            .hub
            .as_deref()
            .or_else(|| spec.environments.last().map(|e| e.name.as_str()));
        if env.cloud_target().is_some()
            && env.cluster.is_empty()
            && spec.argocd.is_hub()
            && hub != Some(env.name.as_str())
        {
            problem(
                "cluster",
                "with argocd.topology hub, Argo CD reaches this cluster at its API server URL: give `cluster` (terraform output cluster_endpoint, once its Terraform is applied)".into(),
            );
        }
        if env.cloud_target().is_some() && !env.storage_nodes.is_empty() {
            problem(
                "storage_nodes",
                "a managed cloud cluster keeps its volumes on the cloud's block storage (no Mayastor): remove `storage_nodes`".into(),
            );
        }
        if !env.is_compose() {
            if env.docker_socket {
                problem(
                    "docker_socket",
                    "`docker_socket` applies to a Compose environment (target: compose) only: remove it".into(),
                );
            }
            if env.cluster.is_empty() && env.cloud_target().is_none() {
                problem(
                    "cluster",
                    "a Kubernetes environment needs its cluster's API server URL, e.g. cluster: https://dev.k8s.example.org:6443 (or target: compose for one Docker host)".into(),
                );
            }
            continue;
        }
        if OFF_CLUSTER_BACKUPS.contains(&env.name.as_str()) {
            problem(
                "target",
                format!("{} cannot run on one Docker host (no redundancy, no off-host backups): use target: kubernetes", env.name),
            );
        }
        let cluster_keys = [
            ("cluster", !env.cluster.is_empty()),
            ("namespace_suffix", env.namespace_suffix.is_some()),
            ("storage_nodes", !env.storage_nodes.is_empty()),
            ("network", env.network.is_some()),
            ("backup_target", env.backup_target.is_some()),
        ];
        for (key, given) in cluster_keys {
            if given {
                problem(
                    key,
                    format!("`{key}` describes a Kubernetes cluster; a Compose environment runs on one Docker host: remove it"),
                );
            }
        }
    }
    // Prod's backups leave its cluster.
    for (i, env) in spec.environments.iter().enumerate() {
        if OFF_CLUSTER_BACKUPS.contains(&env.name.as_str())
            && env.backup_target.is_none()
            && !env.is_compose()
            // The cloud's Terraform makes a bucket off the cluster for them.
            && env.cloud_target().is_none()
        {
            let ptr = format!("/environments/{i}/name");
            problems.push(Problem {
                line: lines.line_of(&ptr),
                field: format!("environments[{i}].backup_target"),
                message: format!(
                    "{} must keep its backups off its cluster (a lost cluster loses the backups it holds): give an S3 store elsewhere, e.g. backup_target: {{endpoint: https://backup.example.org, bucket: {}-backups}}",
                    env.name, env.name
                ),
            });
        }
    }
    // Network addresses: each a CIDR an ipBlock accepts.
    let mut networks: Vec<(String, &Network)> = Vec::new();
    if let Some(n) = &spec.network {
        networks.push(("/network".into(), n));
    }
    for (i, env) in spec.environments.iter().enumerate() {
        if let Some(n) = &env.network {
            networks.push((format!("/environments/{i}/network"), n));
        }
    }
    for (i, env) in spec.environments.iter().enumerate() {
        if let Some(cloud) = &env.cloud {
            // Three private and three public subnets are cut from it, each
            // large enough for a zone's nodes and pods: an IPv4 /16 to /20.
            let why = check_cidr(&cloud.vpc_cidr).err().or_else(|| {
                let (address, prefix) = cloud.vpc_cidr.split_once('/')?;
                let ipv4 = address.parse::<std::net::Ipv4Addr>().is_ok();
                let fits = prefix.parse::<u8>().is_ok_and(|p| (16..=20).contains(&p));
                (!ipv4 || !fits)
                    .then(|| "the cluster's network is an IPv4 range of /16 to /20".to_owned())
            });
            if let Some(why) = why {
                let ptr = format!("/environments/{i}/cloud/vpc_cidr");
                problems.push(Problem {
                    line: lines.line_of(&ptr),
                    field: pointer_to_field(&ptr),
                    message: format!(
                        "{:?} is not a usable network ({why}); give the network's range, e.g. \"10.40.0.0/16\"",
                        cloud.vpc_cidr
                    ),
                });
            }
        }
    }
    for (base, n) in networks {
        let lists = [("api_server", &n.api_server), ("nodes", &n.nodes)]
            .into_iter()
            .map(|(k, l)| (format!("{base}/{k}"), l))
            .chain(
                n.endpoints
                    .iter()
                    .map(|(k, e)| (format!("{base}/endpoints/{k}/cidrs"), &e.cidrs)),
            );
        for (ptr, list) in lists {
            for (j, cidr) in list.iter().enumerate() {
                if let Err(why) = check_cidr(cidr) {
                    let ptr = format!("{ptr}/{j}");
                    problems.push(Problem {
                        line: lines.line_of(&ptr),
                        field: pointer_to_field(&ptr),
                        message: format!(
                            "{cidr:?} is not a CIDR ({why}); write an address and a prefix length, e.g. \"10.0.0.10/32\""
                        ),
                    });
                }
            }
        }
    }
    // Storage nodes: each node once, each of its disks once.
    for (i, env) in spec.environments.iter().enumerate() {
        let mut nodes = BTreeSet::new();
        for (j, node) in env.storage_nodes.iter().enumerate() {
            if !nodes.insert(node.name.as_str()) {
                let ptr = format!("/environments/{i}/storage_nodes/{j}/name");
                problems.push(Problem {
                    line: lines.line_of(&ptr),
                    field: pointer_to_field(&ptr),
                    message: format!(
                        "storage node {:?} appears twice; list each node once with all its disks",
                        node.name
                    ),
                });
            }
            let mut disks = BTreeSet::new();
            for (k, disk) in node.disks.iter().enumerate() {
                if !disks.insert(disk.as_str()) {
                    let ptr = format!("/environments/{i}/storage_nodes/{j}/disks/{k}");
                    problems.push(Problem {
                        line: lines.line_of(&ptr),
                        field: pointer_to_field(&ptr),
                        message: format!("disk {disk:?} appears twice on node {:?}", node.name),
                    });
                }
            }
        }
    }
    // Environments sharing a cluster must not share namespaces.
    let mut by_cluster: std::collections::BTreeMap<String, Vec<(usize, &Environment)>> =
        Default::default();
    for (i, env) in spec.environments.iter().enumerate() {
        if env.is_compose() {
            continue;
        }
        by_cluster
            .entry(env.cluster_key())
            .or_default()
            .push((i, env));
    }
    for envs in by_cluster.values().filter(|v| v.len() > 1) {
        let mut suffixes = BTreeSet::new();
        for (i, env) in envs {
            let suffix = env.namespace_suffix.clone().unwrap_or_default();
            if !suffixes.insert(suffix) {
                let ptr = format!("/environments/{i}");
                problems.push(Problem {
                    line: lines.line_of(&ptr),
                    field: pointer_to_field(&ptr),
                    message: format!(
                        "environment {:?} shares cluster {} with another environment and the same namespace suffix; set a distinct `namespace_suffix` (e.g. \"-{}\")",
                        env.name, env.cluster, env.name
                    ),
                });
            }
        }
    }
    problems
}

/// An IPv4 or IPv6 CIDR as a NetworkPolicy's `ipBlock.cidr` takes it.
pub(crate) fn check_cidr(cidr: &str) -> Result<(), String> {
    let (addr, len) = cidr
        .split_once('/')
        .ok_or_else(|| "no prefix length".to_owned())?;
    let max = match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => 32,
        Ok(std::net::IpAddr::V6(_)) => 128,
        Err(_) => return Err(format!("{addr:?} is not an IP address")),
    };
    match len.parse::<u8>() {
        Ok(n) if n <= max => Ok(()),
        _ => Err(format!("prefix length {len:?} is not between 0 and {max}")),
    }
}

/// Environment names that have defaults (`environments/<name>.yaml`), in
impl Spec {
    /// Whether the spec gives one of its optional sections
    /// (`spec_schema::OPTIONAL_SECTIONS`).
    pub fn gives(&self, section: &str) -> bool {
        match section {
            "data_domains" => !self.data_domains.is_empty(),
            "object_storage" => self.object_storage.is_some(),
            "secrets" => self.secrets.is_some(),
            "mirror" => self.mirror.is_some(),
            "network" => self.network.is_some(),
            // Sections with defaults are always there.
            _ => true,
        }
    }
}

/// promotion order: dev, staging, prod, then the others by name.
pub fn environment_names(environments: &crate::source::Tree) -> Vec<String> {
    let mut names: Vec<String> = environments
        .files
        .iter()
        .filter_map(|(p, _)| p.strip_suffix(".yaml"))
        .filter(|p| !p.contains('/'))
        .map(str::to_owned)
        .collect();
    names.sort_by_key(|n| (promotion_rank(n), n.clone()));
    names
}

/// dev → staging → prod is the promotion order; others sort after.
fn promotion_rank(name: &str) -> usize {
    ["dev", "staging", "prod"]
        .iter()
        .position(|e| *e == name)
        .unwrap_or(3)
}

/// The spec's `blueprint:` against the blueprint socle renders with: a spec
/// written for another one is refused, at its line, with the name to use.
pub fn check_blueprint(
    spec: &Spec,
    text: &str,
    origin: &str,
    blueprint: &str,
    targets: &[String],
    cluster_sections: &[String],
) -> Result<(), SpecError> {
    // What the blueprint's clusters cannot run without (the lakehouse's
    // object store): refused at the spec, not found missing in a cluster.
    if spec.environments.iter().any(|e| !e.is_compose()) {
        if let Some(missing) = cluster_sections.iter().find(|s| !spec.gives(s)) {
            return Err(SpecError::Invalid {
                origin: origin.to_owned(),
                problems: vec![Problem {
                    line: LineIndex::new(text).line_of("/environments"),
                    field: missing.clone(),
                    message: format!(
                        "blueprint {blueprint:?} needs `{missing}` for its Kubernetes environments ({}); add it (`socle spec example --blueprint {blueprint}` shows one)",
                        spec.environments
                            .iter()
                            .filter(|e| !e.is_compose())
                            .map(|e| e.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }],
            });
        }
    }
    // A blueprint with a cluster target renders the GitOps repository for
    // at least one cluster; the Compose hosts run beside it. One that
    // renders Compose hosts only has no cluster to ask for.
    if targets.iter().any(|t| t != COMPOSE) && spec.environments.iter().all(Environment::is_compose)
    {
        return Err(SpecError::Invalid {
            origin: origin.to_owned(),
            problems: vec![Problem {
                line: LineIndex::new(text).line_of("/environments"),
                field: "environments".into(),
                message: "every environment targets compose; socle renders the GitOps repository for at least one Kubernetes environment (e.g. staging or prod), beside which the Compose environments run".into(),
            }],
        });
    }
    for (i, env) in spec.environments.iter().enumerate() {
        let target = env.target.as_deref().unwrap_or("kubernetes");
        if !targets.iter().any(|t| t == target) {
            return Err(SpecError::Invalid {
                origin: origin.to_owned(),
                problems: vec![Problem {
                    field: format!("environments[{i}].target"),
                    line: LineIndex::new(text).line_of(&format!("/environments/{i}/target")),
                    message: format!(
                        "blueprint {blueprint:?} does not render target {target:?}; it renders: {}",
                        targets.join(", ")
                    ),
                }],
            });
        }
    }
    match &spec.blueprint {
        Some(wanted) if wanted != blueprint => Err(SpecError::Invalid {
            origin: origin.to_owned(),
            problems: vec![Problem {
                field: "blueprint".into(),
                line: LineIndex::new(text).line_of("/blueprint"),
                message: format!(
                    "{wanted:?} is not a blueprint this socle renders; `socle blueprint list` shows them (here: {blueprint:?})"
                ),
            }],
        }),
        _ => Ok(()),
    }
}
