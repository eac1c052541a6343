//! The validated model: spec + blueprint + environment defaults, resolved into
//! the values templates see. Everything a template needs is computed here once
//! (namespace names with suffixes, hosts, endpoints, sized resources, waves),
//! so templates stay declarative and the same spec always gives the same
//! context.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::blueprint::{self, Component, Manifest};
use crate::core::charts::ChartFacts;
use crate::quantity;
use crate::source::Tree;
use crate::spec::Spec;

/// The cert-manager ClusterIssuer every Ingress refers to.
pub const ISSUER: &str = "platform-ca";

/// The trust bundle: the ConfigMap trust-manager writes into every platform
/// namespace (the Bundle of the component that distributes the platform CA)
/// and that every component trusting the CA mounts, with its keys and where
/// the consumers mount it. Templates read these as `ca_bundle.*`.
pub const CA_BUNDLE: &str = "platform-ca-bundle";
/// PEM key of the bundle (the platform CA and the public CAs).
pub const CA_BUNDLE_PEM: &str = "ca.crt";
/// The same certificates as a password-less PKCS#12 trust store, for JVMs.
pub const CA_BUNDLE_PKCS12: &str = "truststore.p12";
/// Where the consumers mount the ConfigMap.
pub const CA_BUNDLE_DIR: &str = "/etc/platform-ca";

/// The bucket Zeppelin keeps its notes in when `notebooks.storage` is `s3`.
pub const NOTEBOOK_BUCKET: &str = "notebooks";

/// The API server of the cluster Argo CD runs in, as Argo CD names it
/// without any cluster Secret.
pub const IN_CLUSTER: &str = "https://kubernetes.default.svc";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{origin}/{path}: {message}")]
    Defaults {
        origin: String,
        path: String,
        message: String,
    },
    #[error("environment {0:?} has no defaults (expected environments/{0}.yaml)")]
    UnknownEnvironment(String),
    #[error("environment {env:?}: network: {message}")]
    Network { env: String, message: String },
    #[error("environment {env:?}: storage_nodes: {message}")]
    StorageNodes { env: String, message: String },
}

#[derive(Debug, Clone)]
pub struct Model {
    pub spec: Spec,
    pub manifest: Manifest,
    /// Enabled components in wave order (ties by blueprint order).
    pub components: Vec<Enabled>,
    /// The context common to every template.
    pub base: Value,
    /// Per environment, in spec order: the `env` object.
    pub envs: Vec<Value>,
    /// Per environment (same order): each component's sizing, which
    /// templates see as `env.size` in that component's files only.
    pub sizes: Vec<Map<String, Value>>,
}

#[derive(Debug, Clone)]
pub struct Enabled {
    pub component: Component,
    pub wave: i64,
}

pub use crate::core::spec::environment_names;

fn yaml_file(tree: &Tree, path: &str) -> Result<Option<Value>, ModelError> {
    let Some(bytes) = tree.get(path) else {
        return Ok(None);
    };
    crate::yaml::from_slice::<Value>(bytes)
        .map(Some)
        .map_err(|e| ModelError::Defaults {
            origin: tree.origin.clone(),
            path: path.to_owned(),
            message: crate::yaml::describe(&e),
        })
}

/// Helm's merge: maps merge key by key, everything else is replaced.
pub use crate::core::values::deep_merge;

impl Model {
    pub fn build(
        spec: Spec,
        manifest: Manifest,
        blueprint: &Tree,
        environments: &Tree,
    ) -> Result<Self, ModelError> {
        let choices: BTreeMap<&str, &str> = [
            ("ingestion", spec.components.ingestion.as_str()),
            ("catalog", spec.components.catalog.as_str()),
            ("logs", spec.components.logs.as_str()),
            ("postgresql", spec.components.postgresql.as_str()),
            ("notebooks", spec.notebooks.storage.as_str()),
            (
                "object_storage",
                if spec.object_storage.is_some() {
                    "external"
                } else {
                    "minio"
                },
            ),
        ]
        .into_iter()
        .collect();
        let enabled: Vec<&Component> = manifest
            .components
            .iter()
            .filter(|c| c.enabled(&choices))
            .collect();
        let waves = blueprint::waves(&enabled);
        let mut components: Vec<Enabled> = enabled
            .iter()
            .map(|c| Enabled {
                component: (*c).clone(),
                wave: waves[&c.id],
            })
            .collect();
        // Stable sort keeps blueprint order inside a wave.
        components.sort_by_key(|e| e.wave);

        let factor = match spec.sizing.as_str() {
            "small" => 0.5,
            "large" => 2.0,
            _ => 1.0,
        };

        let mut envs = Vec::new();
        let mut all_sizes = Vec::new();
        let mut clusters_seen = std::collections::BTreeSet::new();
        for env in &spec.environments {
            // The first environment on a cluster deploys what a cluster runs once.
            let owns_cluster = clusters_seen.insert(cluster_key(&env.cluster));
            let mut defaults = yaml_file(environments, &format!("{}.yaml", env.name))?
                .ok_or_else(|| ModelError::UnknownEnvironment(env.name.clone()))?;
            if let Some(over) = &env.overrides {
                deep_merge(&mut defaults, &Value::Object(over.clone()));
            }
            let suffix = env.namespace_suffix.clone().unwrap_or_default();
            let ns: Map<String, Value> = manifest
                .namespaces
                .iter()
                .map(|n| {
                    // System namespaces hold per-cluster agents: never suffixed.
                    let name = if n.system {
                        n.name.clone()
                    } else {
                        format!("{}{suffix}", n.name)
                    };
                    (n.id.clone(), Value::String(name))
                })
                .collect();
            let domain = env.domain.clone().unwrap_or_else(|| {
                if env.name == "prod" {
                    spec.domain.clone()
                } else {
                    format!("{}.{}", env.name, spec.domain)
                }
            });
            let storage_ns = ns
                .get("storage")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_owned();
            let s3_endpoint = match &spec.object_storage {
                Some(store) => store.endpoint.clone(),
                None => format!("http://minio.{storage_ns}.svc.cluster.local"),
            };
            let keycloak_url = format!("https://keycloak.{domain}");
            let replicas = defaults
                .get("replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let mut obj = json!({
                "name": env.name,
                "cluster": env.cluster,
                "suffix": suffix,
                "ns": ns,
                "domain": domain,
                "s3": {"endpoint": s3_endpoint},
                "postgres": {"host": format!("postgresql-rw.{storage_ns}.svc.cluster.local"), "port": 5432},
                "keycloak": {"url": keycloak_url, "issuer": format!("{keycloak_url}/realms/{}", spec.keycloak.realm)},
                "issuer": ISSUER,
                "ha": replicas > 1,
                "owns_cluster": owns_cluster,
            });
            deep_merge(&mut obj, &defaults);
            // Defaults must not rename the environment or hide what was resolved.
            obj["name"] = json!(env.name);
            derive_backup(&mut obj["backup"]);
            // Where backups go: the spec's off-cluster store, else the
            // environment's own object store (bucket "backups").
            let region = spec
                .object_storage
                .as_ref()
                .and_then(|o| o.region.clone())
                .unwrap_or_else(|| "us-east-1".into());
            obj["backup_target"] = match &env.backup_target {
                Some(t) => json!({
                    "endpoint": t.endpoint,
                    "bucket": t.bucket,
                    "region": t.region.clone().unwrap_or(region),
                    "off_cluster": true,
                }),
                None => json!({
                    "endpoint": obj["s3"]["endpoint"],
                    "bucket": "backups",
                    "region": region,
                    "off_cluster": false,
                }),
            };
            // Sized resources of every component, scaled by the sizing profile.
            let mut sizes = Map::new();
            for e in &components {
                let path = format!("components/{}.yaml", e.component.id);
                if let Some(mut all) = yaml_file(environments, &path)? {
                    let mut size = all.get_mut(&env.name).map(Value::take).unwrap_or(json!({}));
                    quantity::scale_resources(&mut size, factor);
                    sizes.insert(e.component.id.clone(), size);
                }
            }
            obj["storage"] = storage(env, &sizes, owns_cluster)?;
            obj["notebooks"] = notebook_interpreters(&spec, env, &defaults, &environments.origin)?;
            all_sizes.push(sizes);
            envs.push(obj);
        }
        let argocd = place_argocd(&spec, &mut envs);

        let enabled_map: Map<String, Value> = components
            .iter()
            .map(|e| (e.component.id.clone(), Value::Bool(true)))
            .collect();
        let domains: Vec<String> = spec.data_domains.iter().map(|d| d.name.clone()).collect();
        let wiring = wiring(&manifest, &components, &choices, &domains, &spec);
        let callers = endpoint_callers(&manifest, &components, &choices);
        for (env, obj) in spec.environments.iter().zip(envs.iter_mut()) {
            let (network, egress) = egress(env, &spec, &manifest, &callers)?;
            obj["network"] = network;
            obj["egress"] = egress;
        }
        let buckets: Vec<String> = wiring["buckets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["name"].as_str().map(str::to_owned))
            .collect();
        let mut chart_repos: Vec<String> = components
            .iter()
            .filter_map(|e| e.component.chart.as_ref().map(chart_source_url))
            .collect();
        chart_repos.sort();
        chart_repos.dedup();
        let secrets = spec.secrets.clone().unwrap_or(crate::spec::Secrets {
            store: "platform-secrets".into(),
            kind: "ClusterSecretStore".into(),
        });
        let bootstrap = bootstrap(&spec, &components, &secrets, &argocd, &mut envs);
        let webhooks = webhook_ingress(&manifest, &components, blueprint)?;
        let base = json!({
            "client": spec.client,
            "domain": spec.domain,
            "repo": spec.repository,
            "choices": spec.components,
            "enabled": enabled_map,
            "keycloak": keycloak_context(&spec.keycloak),
            "domains": spec.data_domains.iter().map(|d| json!({
                "name": d.name,
                "slug": d.name,
                "ident": d.name.replace('-', "_"),
                "description": d.description.clone().unwrap_or_default(),
            })).collect::<Vec<_>>(),
            "buckets": buckets,
            "wiring": wiring,
            "notebooks": {
                "storage": spec.notebooks.storage,
                "s3": spec.notebooks.on_s3(),
                "bucket": if spec.notebooks.on_s3() { Value::String(NOTEBOOK_BUCKET.into()) } else { Value::Null },
                "groups": notebook_groups(&spec.keycloak),
            },
            "sizing": spec.sizing,
            "s3": {
                "region": spec.object_storage.as_ref().and_then(|o| o.region.clone()).unwrap_or_else(|| "us-east-1".into()),
                "external": spec.object_storage.is_some(),
            },
            "secrets": secrets,
            "artifacts": artifacts(spec.mirror.as_ref()),
            "argocd": argocd,
            "bootstrap": bootstrap,
            "webhooks": webhooks,
            "ca_bundle": {
                "configmap": CA_BUNDLE,
                "pem": CA_BUNDLE_PEM,
                "pkcs12": CA_BUNDLE_PKCS12,
                "dir": CA_BUNDLE_DIR,
                "pem_path": format!("{CA_BUNDLE_DIR}/{CA_BUNDLE_PEM}"),
                "pkcs12_path": format!("{CA_BUNDLE_DIR}/{CA_BUNDLE_PKCS12}"),
            },
            "namespaces": manifest.namespaces,
            "chart_repos": chart_repos,
            "blueprint": {"name": manifest.name, "version": manifest.version},
            "socle_version": env!("CARGO_PKG_VERSION"),
        });
        let mut model = Model {
            spec,
            manifest,
            components,
            base,
            envs,
            sizes: all_sizes,
        };
        let listed: Vec<Value> = model
            .components
            .iter()
            .map(|e| model.component_value(e, None, blueprint))
            .collect();
        model.base["components"] = Value::Array(listed);
        model.base["environments"] = Value::Array(model.envs.clone());
        // The environments whose cluster runs Mayastor (their storage nodes
        // are prepared at bootstrap), with and without declared nodes.
        let mayastor: Vec<&Value> = model
            .envs
            .iter()
            .filter(|e| e["storage"]["mayastor"] == true)
            .collect();
        let names = |declared: Option<bool>| -> Vec<Value> {
            mayastor
                .iter()
                .filter(|e| {
                    declared.is_none_or(|d| {
                        e["storage"]["pools"]
                            .as_array()
                            .is_some_and(|p| !p.is_empty())
                            == d
                    })
                })
                .map(|e| e["name"].clone())
                .collect()
        };
        model.base["mayastor"] = json!({
            "environments": names(None),
            "declared": names(Some(true)),
            "undeclared": names(Some(false)),
        });
        Ok(model)
    }

    /// The `component` object, resolved for an environment when one is given.
    pub fn component_value(&self, e: &Enabled, env: Option<&Value>, blueprint: &Tree) -> Value {
        let c = &e.component;
        let ns = self.manifest.namespace(&c.namespace);
        let namespace = match env {
            Some(env) => env["ns"][&c.namespace]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            None => ns.map(|n| n.name.clone()).unwrap_or_default(),
        };
        let extra = format!("components/{}/manifests", c.id);
        let has_extra = blueprint.under(&extra).next().is_some();
        json!({
            "id": c.id,
            "title": c.title,
            "namespace": namespace,
            "ns_id": c.namespace,
            "chart": c.chart.as_ref().map(|ch| json!({
                "repo": ch.repo,
                "name": ch.name,
                "version": ch.version,
                "oci": ch.repo.starts_with("oci://"),
                "source": chart_source_url(ch),
            })),
            "manifests": c.manifests,
            "extra_manifests": has_extra,
            "wave": e.wave,
            "needs": c.needs,
            "critical": c.critical,
            "server_side_apply": c.server_side_apply,
            "cluster_wide": c.cluster_wide,
            "consumes": c.consumes,
            "trusts": c.trusts,
            "distributes": c.distributes,
        })
    }
}

/// The platform roles whose members use notebooks: those who write code
/// against the data. Analysts read the marts through Trino and the BI tools.
pub const NOTEBOOK_ROLES: [&str; 3] = ["platform-admin", "data-engineer", "data-scientist"];

/// The spec's Keycloak groups granting a [`NOTEBOOK_ROLES`] role, in spec
/// order: the groups oauth2-proxy lets through to Zeppelin.
fn notebook_groups(keycloak: &crate::spec::Keycloak) -> Vec<String> {
    keycloak
        .groups
        .iter()
        .filter(|g| NOTEBOOK_ROLES.contains(&g.role.as_str()))
        .map(|g| g.name.clone())
        .collect()
}

/// Interpreters of an environment when neither the spec nor its defaults
/// name them: SQL and Markdown only, no interpreter that runs user code.
const RESTRICTED_INTERPRETERS: [&str; 2] = ["trino", "md"];

/// The Zeppelin interpreters users may run in an environment (`env.notebooks`):
/// the spec's `notebooks.interpreters.<env>`, else the environment's default
/// (`notebooks.interpreters` of `environments/<env>.yaml`, after its
/// overrides), else [`RESTRICTED_INTERPRETERS`]. Markdown is always on.
/// Templates read one flag per setting and the interpreter groups Zeppelin
/// loads (`includes`, ZEPPELIN_INTERPRETER_INCLUDES: the JDBC group serves
/// the `trino` setting).
fn notebook_interpreters(
    spec: &Spec,
    env: &crate::spec::Environment,
    defaults: &Value,
    origin: &str,
) -> Result<Value, ModelError> {
    let listed: Vec<String> = match spec.notebooks.interpreters.get(&env.name) {
        Some(list) => list.clone(),
        None => match defaults.pointer("/notebooks/interpreters") {
            None | Some(Value::Null) => RESTRICTED_INTERPRETERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| ModelError::Defaults {
                            origin: origin.to_owned(),
                            path: format!("{}.yaml", env.name),
                            message: format!(
                                "notebooks.interpreters: {v} is not an interpreter name"
                            ),
                        })
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(ModelError::Defaults {
                    origin: origin.to_owned(),
                    path: format!("{}.yaml", env.name),
                    message: format!(
                        "notebooks.interpreters: expected a list of names, found {other}"
                    ),
                })
            }
        },
    };
    let known = crate::spec::INTERPRETERS;
    if let Some(bad) = listed.iter().find(|n| !known.contains(&n.as_str())) {
        return Err(ModelError::Defaults {
            origin: origin.to_owned(),
            path: format!("{}.yaml", env.name),
            message: format!(
                "notebooks.interpreters: unknown interpreter {bad:?}; one of: {}",
                known.join(", ")
            ),
        });
    }
    let on = |name: &str| name == "md" || listed.iter().any(|n| n == name);
    let enabled: Vec<&str> = known.iter().copied().filter(|n| on(n)).collect();
    let includes: Vec<&str> = enabled
        .iter()
        .map(|n| if *n == "trino" { "jdbc" } else { n })
        .collect();
    Ok(json!({
        "interpreters": enabled,
        "spark": on("spark"),
        "python": on("python"),
        "trino": on("trino"),
        "md": true,
        "includes": includes.join(","),
    }))
}

/// Replicas of a volume of the `openebs-replicated` StorageClass
/// (`repl` in platform/base/cluster/storageclasses.yaml), each on its own node.
const MAYASTOR_REPLICAS: usize = 3;

/// Mayastor in an environment (`env.storage`): whether its cluster runs it
/// (the environment's OpenEBS sizing), the storage nodes the spec declares
/// and one DiskPool per declared disk. The nodes' preparation (huge pages,
/// `nvme_tcp`, the engine label) is a bootstrap step: kernel settings and
/// the labels of Nodes that the cluster owns are not objects to sync.
fn storage(
    env: &crate::spec::Environment,
    sizes: &Map<String, Value>,
    owns_cluster: bool,
) -> Result<Value, ModelError> {
    let mayastor = sizes
        .get("openebs")
        .and_then(|s| s["mayastor"].as_bool())
        .unwrap_or(false);
    let nodes = &env.storage_nodes;
    let refuse = |message: String| ModelError::StorageNodes {
        env: env.name.clone(),
        message,
    };
    if !nodes.is_empty() {
        if !mayastor {
            return Err(refuse(
                "this environment runs no Mayastor (environments/components/openebs.yaml): its volumes are local, remove the storage nodes".into(),
            ));
        }
        if !owns_cluster {
            return Err(refuse(
                "an earlier environment on the same cluster deploys OpenEBS: declare the storage nodes there".into(),
            ));
        }
        if nodes.len() < MAYASTOR_REPLICAS {
            return Err(refuse(format!(
                "openebs-replicated keeps {MAYASTOR_REPLICAS} replicas of each volume on {MAYASTOR_REPLICAS} different nodes: declare at least {MAYASTOR_REPLICAS} storage nodes (found {})",
                nodes.len()
            )));
        }
    }
    let pools: Vec<Value> = nodes
        .iter()
        .flat_map(|n| {
            n.disks.iter().enumerate().map(move |(k, disk)| {
                json!({"name": format!("pool-{}-{}", n.name, k + 1), "node": n.name, "disk": disk})
            })
        })
        .collect();
    Ok(json!({
        "mayastor": mayastor && owns_cluster,
        "replicas": MAYASTOR_REPLICAS,
        "nodes": nodes,
        "pools": pools,
    }))
}

/// For each external endpoint the enabled components call: the endpoint and
/// the namespace ids of its callers (sorted).
fn endpoint_callers<'m>(
    manifest: &'m Manifest,
    components: &[Enabled],
    choices: &BTreeMap<&str, &str>,
) -> Vec<(&'m crate::blueprint::ExternalEndpoint, Vec<String>)> {
    let chosen = |when: &BTreeMap<String, Vec<String>>| {
        when.iter().all(|(k, allowed)| {
            choices
                .get(k.as_str())
                .is_some_and(|v| allowed.iter().any(|a| a == v))
        })
    };
    manifest
        .external_endpoints
        .iter()
        .filter(|e| chosen(&e.when))
        .filter_map(|e| {
            let namespaces: BTreeSet<String> = components
                .iter()
                .map(|c| &c.component)
                .filter(|c| {
                    c.egress.contains(&e.name)
                        || match e.used_by.as_deref() {
                            Some("buckets") => c.consumes.buckets.iter().any(|b| chosen(&b.when)),
                            Some("databases") => !c.consumes.databases.is_empty(),
                            _ => false,
                        }
                })
                .map(|c| c.namespace.clone())
                .collect();
            (!namespaces.is_empty()).then(|| (e, namespaces.into_iter().collect()))
        })
        .collect()
}

/// An environment's `network` (the spec's, this environment's keys over
/// it) and, per namespace id, the external endpoints its pods call with the
/// CIDRs the spec gives (none: the NetworkPolicy opens their ports to any
/// destination, and says how to narrow it).
fn egress(
    env: &crate::spec::Environment,
    spec: &Spec,
    manifest: &Manifest,
    callers: &[(&crate::blueprint::ExternalEndpoint, Vec<String>)],
) -> Result<(Value, Value), ModelError> {
    let network = crate::spec::Network::merged(spec.network.as_ref(), env.network.as_ref());
    let known: Vec<&str> = manifest
        .external_endpoints
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    if let Some(name) = network
        .endpoints
        .keys()
        .find(|k| !known.contains(&k.as_str()))
    {
        return Err(ModelError::Network {
            env: env.name.clone(),
            message: format!(
                "endpoints: unknown endpoint {name:?}; the blueprint's external endpoints are {}",
                known.join(", ")
            ),
        });
    }
    // Every namespace has its list, empty or not, for templates to look up:
    // first the cluster's own addresses it calls, then the external ones.
    let mut by_ns: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for ns in &manifest.namespaces {
        let mut rules = Vec::new();
        for call in &ns.calls {
            let Some(e) = manifest.cluster_endpoints.iter().find(|e| &e.name == call) else {
                continue;
            };
            let cidrs = match e.name.as_str() {
                "api_server" => network.api_server.clone(),
                "nodes" => network.nodes.clone(),
                _ => Vec::new(),
            };
            rules.push(json!({
                "name": e.name,
                "policy": e.policy,
                "purpose": e.purpose,
                "ports": e.ports,
                "cidrs": cidrs,
                "spec_key": e.name,
            }));
        }
        by_ns.insert(ns.id.clone(), rules);
    }
    let isolated: Vec<&str> = manifest
        .namespaces
        .iter()
        .filter(|n| n.isolated)
        .map(|n| n.id.as_str())
        .collect();
    for (e, namespaces) in callers {
        if e.only_with.as_deref() == Some("backup_target") && env.backup_target.is_none() {
            continue;
        }
        let given = network.endpoints.get(&e.name);
        let ports = given
            .and_then(|g| g.ports.clone())
            .unwrap_or_else(|| e.ports.clone());
        let cidrs = given.map(|g| g.cidrs.clone()).unwrap_or_default();
        for ns in namespaces
            .iter()
            .filter(|ns| isolated.contains(&ns.as_str()))
        {
            by_ns.entry(ns.clone()).or_default().push(json!({
                "name": e.name,
                "policy": format!("allow-external-{}", e.name.replace('_', "-")),
                "purpose": e.purpose,
                "ports": ports,
                "cidrs": cidrs,
                "spec_key": format!("endpoints.{}", e.name),
            }));
        }
    }
    Ok((
        json!({"api_server": network.api_server, "nodes": network.nodes}),
        json!(by_ns),
    ))
}

/// The StorageClasses `platform/base/cluster/storageclasses.yaml` defines.
const GENERATED_STORAGE_CLASSES: &[&str] = &["openebs-hostpath", "openebs-replicated"];

/// A cluster's identity: its API server URL without a trailing slash.
fn cluster_key(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

/// Where Argo CD runs for each environment and how it reaches the cluster;
/// sets `env.argocd` on every environment and returns the top-level
/// `argocd` object (`topology`, `hub`, and the `clusters` a hub registers).
///
/// per-cluster: every environment is managed by the Argo CD of its own
/// cluster (shared by the environments on that cluster, installed by the
/// first of them), so every destination is the in-cluster API server.
/// hub: one Argo CD in the cluster of the hub environment; environments on
/// that cluster use the in-cluster API server, the others their cluster URL,
/// registered once per cluster (by the first environment on it) with a
/// cluster Secret.
fn place_argocd(spec: &Spec, envs: &mut [Value]) -> Value {
    let hub_mode = spec.argocd.is_hub();
    let hub = spec
        .argocd
        .hub
        .clone()
        .or_else(|| spec.environments.last().map(|e| e.name.clone()))
        .unwrap_or_default();
    let hub_cluster = spec
        .environments
        .iter()
        .find(|e| e.name == hub)
        .map(|e| cluster_key(&e.cluster));
    let mut on_cluster: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &spec.environments {
        on_cluster
            .entry(cluster_key(&e.cluster))
            .or_default()
            .push(e.name.clone());
    }
    // The Argo CD health alerts of an environment belong with the Prometheus
    // of the cluster its Argo CD runs in (the only one with its metrics).
    let health: Vec<Value> = envs
        .iter()
        .map(|e| {
            json!({
                "name": e["name"],
                "service_down_for": e["alerts"]["service_down_for"],
                "pods_not_ready_for": e["alerts"]["pods_not_ready_for"],
                "pager": e["alerts"]["pager"].as_bool().unwrap_or(false),
            })
        })
        .collect();
    let mut clusters = Vec::new();
    for (i, (env, obj)) in spec.environments.iter().zip(envs.iter_mut()).enumerate() {
        let key = cluster_key(&env.cluster);
        let owns = obj["owns_cluster"].as_bool().unwrap_or(true);
        let local = !hub_mode || hub_cluster.as_deref() == Some(key.as_str());
        let is_hub = hub_mode && env.name == hub;
        let sharing = &on_cluster[&key];
        let name = format!("{}-{}", spec.client.slug, sharing.join("-"));
        let register = hub_mode && !local && owns;
        if register {
            clusters.push(json!({
                "name": name,
                "server": key,
                "environments": sharing,
                "registered_by": env.name,
            }));
        }
        let watched = if !hub_mode {
            vec![health[i].clone()]
        } else if is_hub {
            health.clone()
        } else {
            Vec::new()
        };
        // The Alertmanager of the hub's cluster (deployed by the environment
        // owning it) receives the health alerts of every environment; those
        // of environments that never page must not page there.
        let quiet: Vec<&str> = if hub_mode && local && owns {
            health
                .iter()
                .filter(|h| h["name"] != env.name.as_str() && h["pager"] != true)
                .filter_map(|h| h["name"].as_str())
                .collect()
        } else {
            Vec::new()
        };
        obj["argocd"] = json!({
            "server": if local { IN_CLUSTER.to_owned() } else { key.clone() },
            "local": local,
            "hub": is_hub,
            "installs": if hub_mode { is_hub } else { owns },
            // The environment whose argocd-values.yaml installs that Argo CD.
            "installed_by": if hub_mode { hub.clone() } else { sharing[0].clone() },
            "monitors": local && owns,
            "register": register,
            "cluster_name": if local { Value::Null } else { json!(name) },
            "registered_by": if local { Value::Null } else { json!(sharing[0]) },
            "shared_with": sharing.iter().filter(|n| **n != env.name).collect::<Vec<_>>(),
            "watched": watched,
            // An Alertmanager matcher of those environments.
            "quiet": if quiet.is_empty() {
                Value::Null
            } else {
                json!(format!("environment =~ \"{}\"", quiet.join("|")))
            },
        });
    }
    json!({
        "topology": spec.argocd.topology,
        "hub": if hub_mode { json!(hub) } else { Value::Null },
        "clusters": clusters,
    })
}

/// The admission webhooks of the enabled charts, from the blueprint's chart
/// facts (`charts.yaml`), by namespace id: for each chart with webhooks, the
/// labels of the webhook pods (the selector of the Service the webhooks
/// call; empty, so every pod of the namespace, when the facts do not know
/// it) and the pod ports they listen on. The platform's NetworkPolicies open
/// exactly these to the API server, which is not a pod and so can only be
/// admitted by a rule without sources.
fn webhook_ingress(
    manifest: &Manifest,
    components: &[Enabled],
    blueprint: &Tree,
) -> Result<Value, ModelError> {
    let facts = ChartFacts::load(blueprint).map_err(|e| ModelError::Defaults {
        origin: blueprint.origin.clone(),
        path: crate::core::charts::FACTS_FILE.into(),
        message: e.to_string(),
    })?;
    // Every namespace has an entry, so templates can look any one up.
    let mut by_ns: BTreeMap<String, Vec<Value>> = manifest
        .namespaces
        .iter()
        .map(|n| (n.id.clone(), Vec::new()))
        .collect();
    for e in components {
        let Some(chart) = &e.component.chart else {
            continue;
        };
        let Some(f) = facts.get(&chart.repo, &chart.name, &chart.version) else {
            continue;
        };
        // One policy per Service the webhooks call.
        let mut services: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for w in &f.webhooks {
            let port = match &w.target_port {
                Some(Value::Number(n)) => json!(n),
                Some(Value::String(name)) if !name.is_empty() => json!(name),
                _ => json!(w.port),
            };
            let ports = services.entry(w.service.as_str()).or_default();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        for (service, ports) in services {
            let selector = f
                .services
                .iter()
                .find(|s| s.name == service)
                .map(|s| s.selector.clone())
                .unwrap_or_default();
            by_ns
                .entry(e.component.namespace.clone())
                .or_default()
                .push(json!({
                    "component": e.component.id,
                    "service": service,
                    "selector": selector,
                    "ports": ports,
                }));
        }
    }
    Ok(json!(by_ns))
}

/// The objects the providers create for their consumers, derived from the
/// blueprint's wiring graph (`provides` / `consumes`) for the enabled
/// components: the buckets, the databases and login roles, the realm's
/// OIDC clients. Templates of the providers iterate over these, so a
/// consumer's declaration is the only place a bucket, a database or a
/// client is named. Resources whose provider is not enabled (an external
/// PostgreSQL, say) are listed under `external`, for the bootstrap steps.
fn wiring(
    manifest: &Manifest,
    components: &[Enabled],
    choices: &BTreeMap<&str, &str>,
    domains: &[String],
    spec: &Spec,
) -> Value {
    use crate::core::wiring::{bucket_names, Access};
    let provided = |pick: fn(&crate::core::wiring::Provides) -> bool| {
        components
            .iter()
            .find(|e| pick(&e.component.provides))
            .map(|e| e.component.id.clone())
    };
    let consumers = components
        .iter()
        .map(|e| (e.component.id.as_str(), &e.component.consumes))
        .chain(
            manifest
                .bootstrap_consumers
                .iter()
                .map(|b| (b.id.as_str(), &b.consumes)),
        );
    let mut buckets: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut databases = Vec::new();
    let mut clients = Vec::new();
    for (id, consumes) in consumers {
        for b in &consumes.buckets {
            let applies = b.when.iter().all(|(k, allowed)| {
                choices
                    .get(k.as_str())
                    .is_some_and(|v| allowed.iter().any(|a| a == v))
            });
            if !applies {
                continue;
            }
            for name in bucket_names(&b.name, domains) {
                buckets.entry(name).or_default().push(json!({
                    "consumer": id,
                    "access": match b.access { Access::Read => "read", Access::Write => "write" },
                }));
            }
        }
        for d in &consumes.databases {
            databases.push(json!({
                "name": d.name,
                "owner": d.role(),
                "schemas": d.schemas,
                "purpose": d.purpose,
                "consumer": id,
            }));
        }
        for o in &consumes.oidc {
            let host =
                (!o.redirect.is_empty()).then(|| o.host.clone().unwrap_or_else(|| id.to_owned()));
            let mut v = serde_json::to_value(o).unwrap_or_default();
            v["consumer"] = json!(id);
            v["host"] = json!(host);
            v["variable"] = json!(o.secret_variable());
            v["store"] = json!(o.store_entry());
            // Every token carries the user's groups unless the client
            // declares the claims it reads.
            if o.scopes.is_empty() {
                v["scopes"] = json!(["groups"]);
            }
            // The spec's groups granting the service account's roles.
            v["groups"] = json!(spec
                .keycloak
                .groups
                .iter()
                .filter(|g| o.roles.contains(&g.role))
                .map(|g| g.name.clone())
                .collect::<Vec<_>>());
            clients.push(v);
        }
    }
    databases.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    clients.sort_by(|a, b| a["client"].as_str().cmp(&b["client"].as_str()));
    let mut roles: Vec<Value> = Vec::new();
    for d in &databases {
        if !roles.iter().any(|r| r["name"] == d["owner"]) {
            roles.push(json!({"name": d["owner"], "consumer": d["consumer"]}));
        }
    }
    roles.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let buckets: Vec<Value> = buckets
        .into_iter()
        .map(|(name, consumers)| json!({"name": name, "consumers": consumers}))
        .collect();
    // Principals of the clients that sign in as themselves, by component
    // they call: Keycloak names a service account's user
    // `service-account-<client>` (its tokens' preferred_username), and the
    // called component grants it the realm roles the client declares.
    let mut callers: Map<String, Value> = components
        .iter()
        .map(|e| (e.component.id.clone(), json!([])))
        .collect();
    for c in clients.iter().filter(|c| c["service_account"] == true) {
        for called in c["calls"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if let Some(Value::Array(list)) = callers.get_mut(called) {
                list.push(json!({
                    "user": format!("service-account-{}", c["client"].as_str().unwrap_or_default()),
                    "client": c["client"],
                    "roles": c["roles"],
                }));
            }
        }
    }
    json!({
        "callers": callers,
        "providers": {
            "databases": provided(|p| p.databases),
            "buckets": provided(|p| p.buckets),
            "oidc": provided(|p| p.oidc),
        },
        "s3_accounts": s3_accounts(&buckets),
        "buckets": buckets,
        "databases": databases,
        "roles": roles,
        "oidc_clients": clients,
    })
}

/// The S3 account of every consumer of buckets, from the buckets' consumers
/// (`wiring.buckets`): its MinIO user (the Secret holding its keys), the
/// secret-store entry both the tenant and the consumer read, the policy
/// named after it, and the buckets it may read only and read and write.
/// Writing a bucket includes reading it; a consumer declaring both gets
/// write. Sorted by consumer, buckets by name, so the output is stable.
fn s3_accounts(buckets: &[Value]) -> Vec<Value> {
    let mut grants: BTreeMap<&str, BTreeMap<&str, bool>> = BTreeMap::new();
    for b in buckets {
        let Some(name) = b["name"].as_str() else {
            continue;
        };
        for c in b["consumers"].as_array().into_iter().flatten() {
            let Some(consumer) = c["consumer"].as_str() else {
                continue;
            };
            let write = c["access"] == "write";
            let entry = grants.entry(consumer).or_default().entry(name).or_default();
            *entry |= write;
        }
    }
    grants
        .into_iter()
        .map(|(consumer, buckets)| {
            let pick = |write: bool| -> Vec<&str> {
                buckets
                    .iter()
                    .filter(|(_, w)| **w == write)
                    .map(|(b, _)| *b)
                    .collect()
            };
            json!({
                "consumer": consumer,
                "user": format!("minio-user-{consumer}"),
                "store": format!("{consumer}/s3"),
                "policy": consumer,
                "buckets": buckets.keys().collect::<Vec<_>>(),
                "read": pick(false),
                "write": pick(true),
            })
        })
        .collect()
}

/// Maven Central, where pods fetch jars from unless the spec names a mirror.
pub const MAVEN_CENTRAL: &str = "https://repo1.maven.org/maven2";

/// Where pods fetch the packages they need when they start: `maven`, the
/// root of a Maven repository (the spec's mirror, else Maven Central,
/// without a trailing slash so that templates append `/group/path`);
/// `maven_mirror`, whether that is the spec's; `pypi`, the spec's PyPI
/// index or null (pip's default index).
fn artifacts(mirror: Option<&crate::spec::Mirror>) -> Value {
    let trim = |url: &Option<String>| url.as_deref().map(|u| u.trim_end_matches('/').to_owned());
    json!({
        "maven": mirror.and_then(|m| trim(&m.maven)).unwrap_or_else(|| MAVEN_CENTRAL.to_owned()),
        "maven_mirror": mirror.is_some_and(|m| m.maven.is_some()),
        "pypi": mirror.and_then(|m| trim(&m.pypi)),
    })
}

/// Platform roles, most privileged first: the order in which a user who is
/// in groups of several roles is placed (Trino's resource groups take the
/// first selector that matches).
pub const ROLES: [&str; 4] = [
    "platform-admin",
    "data-engineer",
    "data-scientist",
    "data-analyst",
];

/// The spec's realm and groups, plus `roles`: each platform role that at
/// least one group grants, most privileged first, with those groups in spec
/// order (templates that nest teams under their role iterate this instead
/// of filtering `groups`).
fn keycloak_context(keycloak: &crate::spec::Keycloak) -> Value {
    let roles: Vec<Value> = ROLES
        .iter()
        .filter_map(|role| {
            let groups: Vec<&str> = keycloak
                .groups
                .iter()
                .filter(|g| g.role == *role)
                .map(|g| g.name.as_str())
                .collect();
            (!groups.is_empty()).then(|| json!({"role": role, "groups": groups}))
        })
        .collect();
    json!({
        "realm": keycloak.realm,
        "groups": keycloak.groups,
        "roles": roles,
    })
}

/// The component that installs the External Secrets CRDs and controller.
pub const EXTERNAL_SECRETS: &str = "external-secrets";

/// What exists before Argo CD syncs anything, because the bootstrap
/// creates it (README.md, Bootstrap), and the order of environments on a
/// shared cluster: the `bootstrap` object of the context, which
/// `socle-check.yaml` declares to the checker. Sets `env.after` (the
/// environments bootstrapped before this one on its cluster) and
/// `env.store_namespaces` (where a namespaced SecretStore must exist).
fn bootstrap(
    spec: &Spec,
    components: &[Enabled],
    secrets: &crate::spec::Secrets,
    argocd: &Value,
    envs: &mut [Value],
) -> Value {
    let eso = components
        .iter()
        .find(|e| e.component.id == EXTERNAL_SECRETS)
        .and_then(|e| e.component.chart.clone());
    let cluster_store = secrets.kind == "ClusterSecretStore";
    let mut prerequisites: Vec<Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut push = |why: &str, group: &str, kind: &str, name: &str, namespace: &str| {
        if seen.insert((kind.to_owned(), namespace.to_owned(), name.to_owned())) {
            let mut object = json!({"group": group, "kind": kind, "name": name});
            if !namespace.is_empty() {
                object["namespace"] = json!(namespace);
            }
            prerequisites.push(json!({"why": why, "object": object}));
        }
    };
    if eso.is_some() {
        push(
            "prerequisite 2: the External Secrets CRDs, so that the store exists before the operator syncs",
            "external-secrets.io",
            "CustomResourceDefinition",
            &secrets.kind,
            "",
        );
    }
    if cluster_store {
        push(
            "prerequisite 3: the store every ExternalSecret reads",
            "external-secrets.io",
            "ClusterSecretStore",
            &secrets.store,
            "",
        );
    }
    // The hub's cluster Secrets, and the OIDC client secret of every Argo CD,
    // are ExternalSecrets in its argocd namespace.
    let registers = argocd["clusters"].as_array().is_some_and(|c| !c.is_empty());
    let mut after_list = Vec::new();
    let mut store_namespaces: Vec<String> = Vec::new();
    for (i, env) in spec.environments.iter().enumerate() {
        let key = cluster_key(&env.cluster);
        let after: Vec<String> = spec.environments[..i]
            .iter()
            .filter(|e| cluster_key(&e.cluster) == key)
            .map(|e| e.name.clone())
            .collect();
        let owns = envs[i]["owns_cluster"].as_bool().unwrap_or(true);
        let mut namespaces: Vec<String> = components
            .iter()
            .filter(|e| e.component.needs.iter().any(|n| n == EXTERNAL_SECRETS))
            .filter(|e| owns || !e.component.cluster_wide)
            .filter_map(|e| envs[i]["ns"][&e.component.namespace].as_str())
            .map(str::to_owned)
            .collect();
        // The Argo CD an environment installs reads its OIDC client secret
        // through an ExternalSecret of its namespace (argocd-values.yaml).
        let installs = envs[i]["argocd"]["installs"].as_bool() == Some(true);
        if installs || (registers && envs[i]["argocd"]["hub"].as_bool() == Some(true)) {
            namespaces.push("argocd".into());
        }
        namespaces.sort();
        namespaces.dedup();
        if !cluster_store {
            store_namespaces.extend(namespaces.iter().cloned());
        }
        envs[i]["store_namespaces"] = json!(namespaces);
        envs[i]["after"] = json!(after);
        if !after.is_empty() {
            after_list.push(json!({"name": env.name, "after": after}));
        }
    }
    for ns in store_namespaces.iter().filter(|n| *n != "argocd") {
        push(
            "prerequisite 3: namespaces of the SecretStores, created ahead of the platform Application (which adopts them)",
            "",
            "Namespace",
            ns,
            "",
        );
    }
    for ns in &store_namespaces {
        push(
            "prerequisite 3: in each namespace with ExternalSecrets, the store they read",
            "external-secrets.io",
            "SecretStore",
            &secrets.store,
            ns,
        );
    }
    // A storage class the spec names that the platform does not define
    // (platform/base/cluster/storageclasses.yaml) is the cluster's: it must
    // exist before the first volume is claimed.
    for env in envs.iter() {
        for key in ["storage_class", "object_store_class"] {
            let Some(class) = env[key].as_str() else {
                continue;
            };
            if !GENERATED_STORAGE_CLASSES.contains(&class) {
                push(
                    "the cluster's own storage classes that socle.yaml names (storage_class, object_store_class): socle does not define them",
                    "storage.k8s.io",
                    "StorageClass",
                    class,
                    "",
                );
            }
        }
    }
    // One comment per group of entries.
    let mut last = String::new();
    for p in &mut prerequisites {
        let why = p["why"].as_str().unwrap_or_default().to_owned();
        if why == last {
            p["why"] = json!("");
        }
        last = why;
    }
    json!({
        "external_secrets": eso.map(|c| json!({"version": c.version})),
        "prerequisites": prerequisites,
        "environments": after_list,
    })
}

/// Forms of the backup settings that some charts need: CloudNativePG reads a
/// six-field cron (seconds first) and retention in days.
fn derive_backup(backup: &mut Value) {
    if let Some(schedule) = backup.get("schedule").and_then(Value::as_str) {
        backup["cnpg_schedule"] = json!(format!("0 {schedule}"));
    }
    if let Some(hours) = backup
        .get("retention")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_suffix('h'))
        .and_then(|h| h.parse::<u64>().ok())
    {
        backup["retention_days"] = json!(format!("{}d", hours.div_ceil(24).max(1)));
    }
}

/// The `repoURL` ArgoCD uses for a chart, which the AppProject's
/// `sourceRepos` lists verbatim. OCI charts are addressed by their full
/// reference, `oci://<registry>/<path>/<chart>`: ArgoCD ≥ 3.1 reads such an
/// OCI artifact natively (no repository Secret, no `chart:` field) and then
/// requires `path: .`, the root of the extracted chart. Classic Helm
/// repositories are addressed by the repository URL, with `chart:`.
pub fn chart_source_url(chart: &blueprint::Chart) -> String {
    if chart.repo.starts_with("oci://") {
        format!("{}/{}", chart.repo.trim_end_matches('/'), chart.name)
    } else {
        chart.repo.clone()
    }
}
