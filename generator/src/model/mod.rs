//! The validated model: spec + blueprint + environment defaults, resolved into
//! the values templates see. Everything a template needs is computed here once
//! (namespace names with suffixes, hosts, endpoints, sized resources, waves),
//! so templates stay declarative and the same spec always gives the same
//! context.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

pub mod argocd;
pub mod bootstrap;
pub mod buckets;
pub mod context;
pub mod environment;
pub mod wiring;

pub use context::{Base, ComponentContext};
use environment::notebook_interpreters;
pub use environment::Env;

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
    #[error("the compose target: {message}")]
    Compose { message: String },
    #[error("environment {env:?}: storage_nodes: {message}")]
    StorageNodes { env: String, message: String },
    #[error("environment {env:?}: {message}")]
    Bucket { env: String, message: String },
    #[error("environment {env:?}: {message}")]
    Cloud { env: String, message: String },
}

#[derive(Debug, Clone)]
pub struct Model {
    pub spec: Spec,
    pub manifest: Manifest,
    /// Enabled components in wave order (ties by blueprint order).
    pub components: Vec<Enabled>,
    /// The context common to every template.
    pub base: Base,
    /// Per environment (same order as `base.environments`), each
    /// component's sizing, which templates see as `env.size` in that
    /// component's files only: free-form Helm values (see `TemplateEnv`).
    pub sizes: Vec<Map<String, Value>>,
}

#[derive(Debug, Clone)]
pub struct Enabled {
    pub component: Component,
    pub wave: i64,
}

pub use crate::core::spec::environment_names;

/// The components `choices` enable, in wave order (ties by blueprint order).
fn enabled_in_waves(manifest: &Manifest, choices: &BTreeMap<&str, &str>) -> Vec<Enabled> {
    let enabled: Vec<&Component> = manifest
        .components
        .iter()
        .filter(|c| c.enabled(choices))
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
    components
}

/// What runs on the Compose environments' host: the components the
/// choices enable once the blueprint's overrides for the host apply (its
/// own object store, say), wired among themselves.
fn host_context(
    manifest: &Manifest,
    choices: &BTreeMap<&str, &str>,
    domains: &[String],
    spec: &Spec,
    compose_envs: Vec<String>,
    socket_envs: Vec<String>,
    factor: f64,
) -> Result<crate::compose::ComposeContext, ModelError> {
    let mut host_choices = choices.clone();
    if let Some(target) = &manifest.compose {
        for (k, v) in &target.choices {
            host_choices.insert(k.as_str(), v.as_str());
        }
    }
    let host = enabled_in_waves(manifest, &host_choices);
    let host_wiring = wiring::wiring(manifest, &host, &host_choices, domains, spec);
    let on = crate::compose::in_order(
        manifest.compose_declared(),
        host.iter().map(|e| e.component.id.as_str()),
    );
    let view = crate::compose::WiringView {
        databases: host_wiring
            .databases
            .iter()
            .map(|d| crate::compose::DatabaseRef {
                name: &d.name,
                owner: &d.owner,
                schemas: &d.schemas,
                consumer: &d.consumer,
            })
            .collect(),
        s3_accounts: host_wiring
            .s3_accounts
            .iter()
            .map(|a| crate::compose::S3Ref {
                consumer: &a.consumer,
                user: &a.user,
                policy: &a.policy,
                read: &a.read,
                write: &a.write,
            })
            .collect(),
    };
    crate::compose::context(
        manifest.compose.as_ref(),
        compose_envs,
        socket_envs,
        factor,
        &on,
        &view,
    )
    .map_err(|message| ModelError::Compose { message })
}

/// A managed cloud environment's addresses and off-cluster backups, when
/// the spec does not give them: its Terraform creates the network (the API
/// server's private endpoint and the nodes are in it) and the backups'
/// bucket, in its region. Returns whether its Terraform makes that bucket.
fn cloud_defaults(env: &mut crate::spec::Environment, slug: &str, manifest: &Manifest) -> bool {
    let (Some(cloud), Some(target)) = (
        env.cloud.clone(),
        env.cloud_target().and_then(|t| manifest.clouds.get(t)),
    ) else {
        return false;
    };
    let network = env.network.get_or_insert_with(Default::default);
    if network.api_server.is_empty() {
        network.api_server = vec![cloud.vpc_cidr.clone()];
    }
    if network.nodes.is_empty() {
        network.nodes = vec![cloud.vpc_cidr.clone()];
    }
    // The cloud's services answer at private endpoints inside the network
    // (its Terraform's), so egress to them is opened to it, not to the
    // spec's addresses of the on-premise store and backup site; those it
    // serves at fixed addresses are reached there. A backup target the
    // spec gives is its own site, off the cloud: reached at the addresses
    // the spec gives it (`network.endpoints.backup_target`), as on any
    // cluster.
    let own_backups = env.backup_target.is_some();
    let private = target
        .private_endpoints
        .iter()
        .map(|e| (e, vec![cloud.vpc_cidr.clone()]));
    let fixed = target.fixed_endpoints.iter().map(|(e, c)| (e, c.clone()));
    for (endpoint, cidrs) in private.chain(fixed) {
        if own_backups && endpoint == "backup_target" {
            continue;
        }
        network
            .endpoints
            .entry(endpoint.clone())
            .or_insert_with(|| crate::spec::Endpoint {
                cidrs,
                ports: target.fixed_ports.get(endpoint).cloned(),
            });
    }
    if env.backup_target.is_none() {
        // Each cloud's object storage API; Google's answers for every
        // region at one name (the S3-compatible XML API included).
        let endpoint = match env.cloud_target() {
            Some(crate::core::spec::GKE) => "https://storage.googleapis.com".to_owned(),
            // The blob service of the environment's storage account, at its
            // private endpoint in the network (terraform/<env>/).
            Some(crate::core::spec::AKS) => format!(
                "https://{}.blob.core.windows.net",
                environment::azure_storage_account(&format!("{slug}-{}", env.name))
            ),
            _ => format!("https://s3.{}.amazonaws.com", cloud.region),
        };
        env.backup_target = Some(crate::spec::BackupTarget {
            endpoint,
            bucket: cloud_backup_bucket(slug, &env.name),
            region: Some(cloud.region),
        });
        return true;
    }
    false
}

/// The bucket a cloud environment's Terraform creates for its backups.
fn cloud_backup_bucket(slug: &str, env: &str) -> String {
    format!("{slug}-{env}-backups")
}

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
        mut spec: Spec,
        manifest: Manifest,
        blueprint: &Tree,
        environments: &Tree,
    ) -> Result<Self, ModelError> {
        // The blueprint's options as the spec chose them, and the choices
        // other sections of the spec make.
        let choices: BTreeMap<&str, &str> = spec
            .components
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([
                ("notebooks", spec.notebooks.storage.as_str()),
                (
                    "object_storage",
                    if spec.object_storage.is_some() {
                        "external"
                    } else {
                        "in-cluster"
                    },
                ),
                (
                    "sso",
                    if spec.sso.is_some() {
                        "external"
                    } else {
                        "none"
                    },
                ),
            ])
            .collect();
        // The cluster's files are rendered for the Kubernetes environments
        // only; the Compose ones get the host's files (`compose`).
        let compose_envs: Vec<String> = spec
            .environments
            .iter()
            .filter(|e| e.is_compose())
            .map(|e| e.name.clone())
            .collect();
        let socket_envs: Vec<String> = spec
            .environments
            .iter()
            .filter(|e| e.is_compose() && e.docker_socket)
            .map(|e| e.name.clone())
            .collect();
        spec.environments.retain(|e| !e.is_compose());
        let mut cloud_backups = BTreeSet::new();
        for env in &mut spec.environments {
            if cloud_defaults(env, &spec.client.slug, &manifest) {
                cloud_backups.insert(env.name.clone());
            }
        }
        // What each environment's cloud provides in place of components,
        // and the components that run on other targets only.
        let left_out: Vec<BTreeSet<String>> = spec
            .environments
            .iter()
            .map(|e| {
                let target = e.cloud_target().unwrap_or("kubernetes");
                let mut out: BTreeSet<String> = manifest
                    .clouds
                    .get(target)
                    .map(|c| c.left_out.keys().cloned().collect())
                    .unwrap_or_default();
                out.extend(
                    manifest
                        .components
                        .iter()
                        .filter(|c| !c.runs_on(target))
                        .map(|c| c.id.clone()),
                );
                out
            })
            .collect();
        let mut components = enabled_in_waves(&manifest, &choices);
        // A namespace whose every enabled component an environment's cloud
        // replaces is not created in that environment.
        let absent_namespaces: Vec<Vec<String>> = left_out
            .iter()
            .map(|l| {
                manifest
                    .namespaces
                    .iter()
                    .filter(|n| {
                        let mut here = components
                            .iter()
                            .filter(|c| c.component.namespace == n.id)
                            .peekable();
                        here.peek().is_some() && here.all(|c| l.contains(&c.component.id))
                    })
                    .map(|n| n.id.clone())
                    .collect()
            })
            .collect();
        // A component every environment's cloud replaces is not rendered.
        components.retain(|c| left_out.iter().any(|l| !l.contains(&c.component.id)));

        let factor = match spec.sizing.as_str() {
            "small" => 0.5,
            "large" => 2.0,
            _ => 1.0,
        };
        let region = spec
            .object_storage
            .as_ref()
            .and_then(|o| o.region.clone())
            .unwrap_or_else(|| "us-east-1".into());

        let mut envs = Vec::new();
        let mut all_sizes = Vec::new();
        let mut clusters_seen = std::collections::BTreeSet::new();
        for ((env, left_out), absent_namespaces) in spec
            .environments
            .iter()
            .zip(&left_out)
            .zip(absent_namespaces)
        {
            // The first environment on a cluster deploys what a cluster runs once.
            let owns_cluster = clusters_seen.insert(env.cluster_key());
            let mut merged = yaml_file(environments, &format!("{}.yaml", env.name))?
                .ok_or_else(|| ModelError::UnknownEnvironment(env.name.clone()))?;
            let cloud_target = env.cloud_target().and_then(|t| manifest.clouds.get(t));
            if let Some(target) = cloud_target {
                deep_merge(&mut merged, &Value::Object(target.defaults.clone()));
            }
            if let Some(over) = &env.overrides {
                deep_merge(&mut merged, &Value::Object(over.clone()));
            }
            let suffix = env.namespace_suffix.clone().unwrap_or_default();
            let ns: BTreeMap<String, String> = manifest
                .namespaces
                .iter()
                .map(|n| {
                    // System namespaces hold per-cluster agents: never suffixed.
                    let name = if n.system {
                        n.name.clone()
                    } else {
                        format!("{}{suffix}", n.name)
                    };
                    (n.id.clone(), name)
                })
                .collect();
            let domain = env.domain.clone().unwrap_or_else(|| {
                if env.name == "prod" {
                    spec.domain.clone()
                } else {
                    format!("{}.{}", env.name, spec.domain)
                }
            });
            // The blueprint's addresses, filled for this environment (the
            // manifest's patterns were checked when it loaded).
            let address = |pattern: &Option<String>| -> String {
                pattern
                    .as_deref()
                    .and_then(|p| blueprint::expand_address(p, &ns, &domain).ok())
                    .unwrap_or_default()
            };
            let s3_endpoint = match &spec.object_storage {
                Some(store) => store.endpoint.clone(),
                None => address(&manifest.addresses.s3),
            };
            let postgres_host = address(&manifest.addresses.postgres);
            let keycloak_url = address(&manifest.addresses.keycloak);
            let issuer = address(
                &manifest
                    .addresses
                    .issuer
                    .as_ref()
                    .map(|p| p.replace(blueprint::REALM, &spec.keycloak.realm)),
            );
            let replicas = merged.get("replicas").and_then(Value::as_i64).unwrap_or(1);
            // Sized resources of every component, scaled by the sizing profile.
            let mut sizes = Map::new();
            for e in components
                .iter()
                .filter(|e| !left_out.contains(&e.component.id))
            {
                let path = format!("components/{}.yaml", e.component.id);
                if let Some(mut all) = yaml_file(environments, &path)? {
                    let mut size = all
                        .get_mut(&env.name)
                        .map(Value::take)
                        .unwrap_or(Value::Object(Map::new()));
                    quantity::scale_resources(&mut size, factor);
                    sizes.insert(e.component.id.clone(), size);
                }
            }
            let notebooks = notebook_interpreters(
                &spec,
                env,
                &manifest.notebooks,
                &merged,
                &environments.origin,
            )?;
            let storage = environment::storage(
                env,
                manifest.replicated_storage.as_ref(),
                &sizes,
                owns_cluster,
            )?;
            // Where backups go: the spec's off-cluster store, else the
            // environment's own object store (bucket "backups").
            let backup_target = match &env.backup_target {
                Some(t) => environment::BackupTarget {
                    endpoint: t.endpoint.clone(),
                    bucket: t.bucket.clone(),
                    region: t.region.clone().unwrap_or_else(|| region.clone()),
                    off_cluster: true,
                },
                None => environment::BackupTarget {
                    endpoint: s3_endpoint.clone(),
                    bucket: "backups".into(),
                    region: region.clone(),
                    off_cluster: false,
                },
            };
            // The name a managed cloud's Terraform gives the cluster.
            let cloud_cluster = format!("{}-{}", spec.client.slug, env.name);
            envs.push(Env {
                store_keys: environment::StoreKeys::new(
                    &spec.client.slug,
                    &env.name,
                    env.cloud_target(),
                ),
                name: env.name.clone(),
                cluster: env.cluster.clone(),
                cluster_label: if env.cluster.is_empty() && env.cloud.is_some() {
                    format!("{cloud_cluster} (terraform/{}/)", env.name)
                } else {
                    env.cluster.clone()
                },
                suffix,
                ns,
                domain,
                s3: environment::EnvS3::new(s3_endpoint),
                postgres: environment::Postgres {
                    host: postgres_host,
                    port: 5432,
                },
                keycloak: environment::EnvKeycloak {
                    issuer,
                    url: keycloak_url,
                },
                issuer: ISSUER.into(),
                ha: replicas > 1,
                owns_cluster,
                defaults: environment::defaults(merged, &environments.origin, &env.name)?,
                notebooks,
                backup_target,
                storage,
                argocd: Default::default(),
                network: Default::default(),
                egress: BTreeMap::new(),
                store_namespaces: Vec::new(),
                after: Vec::new(),
                chart_repos: Vec::new(),
                cluster_kinds: Vec::new(),
                cloud_target: env.cloud_target().unwrap_or_default().to_owned(),
                cloud: env
                    .cloud
                    .as_ref()
                    .zip(cloud_target)
                    .map(|(c, t)| environment::EnvCloud {
                        target: env.target.clone().unwrap_or_default(),
                        region: c.region.clone(),
                        vpc_cidr: c.vpc_cidr.clone(),
                        kubernetes_version: c
                            .kubernetes_version
                            .clone()
                            .unwrap_or_else(|| t.kubernetes_version.clone()),
                        account_id: c.account_id.clone(),
                        s3_endpoint: (env.cloud_target() == Some(crate::core::spec::EKS))
                            .then(|| crate::core::clouds::s3_endpoint(&c.region)),
                        project: c.project.clone(),
                        subscription: c.subscription.clone(),
                        tenant: c.tenant.clone(),
                        key_vault: (env.cloud_target() == Some(crate::core::spec::AKS))
                            .then(|| environment::azure_key_vault(&cloud_cluster)),
                        storage_account: (env.cloud_target() == Some(crate::core::spec::AKS))
                            .then(|| environment::azure_storage_account(&cloud_cluster)),
                        data_account: (env.cloud_target() == Some(crate::core::spec::AKS))
                            .then(|| environment::azure_data_account(&cloud_cluster)),
                        lake_account: (env.cloud_target() == Some(crate::core::spec::AKS))
                            .then(|| environment::azure_lake_account(&cloud_cluster)),
                        data_buckets: Vec::new(),
                        lake_buckets: Vec::new(),
                        // Every identity of the cloud, "" until the spec
                        // gives its client ID.
                        client_ids: t
                            .identities
                            .iter()
                            .filter(|_| env.cloud_target() == Some(crate::core::spec::AKS))
                            .map(|id| {
                                (
                                    id.clone(),
                                    c.client_ids.get(id).cloned().unwrap_or_default(),
                                )
                            })
                            .collect(),
                        google_accounts: match (env.cloud_target(), &c.project) {
                            (Some(crate::core::spec::GKE), Some(project)) => t
                                .identities
                                .iter()
                                .map(|what| {
                                    let id = environment::google_account_id(&cloud_cluster, what);
                                    let email = format!("{id}@{project}.iam.gserviceaccount.com");
                                    (what.clone(), environment::GoogleAccount { id, email })
                                })
                                .collect(),
                            _ => BTreeMap::new(),
                        },
                        cluster_name: cloud_cluster.clone(),
                        backups_bucket: cloud_backups
                            .contains(&env.name)
                            .then(|| cloud_backup_bucket(&spec.client.slug, &env.name)),
                        left_out: t
                            .left_out
                            .iter()
                            .map(|(id, why)| environment::LeftOut {
                                id: id.clone(),
                                why: why.clone(),
                            })
                            .collect(),
                        buckets: Vec::new(),
                        identities: Vec::new(),
                        web_identity: false,
                        token_service: false,
                        awaiting_account: Vec::new(),
                        database: t.database.as_ref().map(|d| {
                            environment::cloud_database(
                                d,
                                &cloud_cluster,
                                &spec.sizing,
                                replicas > 1,
                            )
                        }),
                    }),
                bucket: BTreeMap::new(),
                cloud_bucket: BTreeMap::new(),
                s3_accounts: Vec::new(),
                store_buckets: Vec::new(),
                store_narrowed: false,
                cloud_identity: BTreeMap::new(),
                vended: BTreeMap::new(),
                web_role: BTreeMap::new(),
                oidc_clients: BTreeMap::new(),
                gcs: BTreeMap::new(),
                left_out: components
                    .iter()
                    .map(|c| (c.component.id.clone(), false))
                    .chain(left_out.iter().map(|id| (id.clone(), true)))
                    .collect(),
                absent_namespaces,
            });
            all_sizes.push(sizes);
        }
        let argocd = argocd::place_argocd(&spec, &mut envs);
        let envs_on_cloud: Vec<String> = envs
            .iter()
            .filter(|e| e.cloud.is_some())
            .map(|e| e.name.clone())
            .collect();

        let enabled_map: BTreeMap<String, bool> = components
            .iter()
            .map(|e| (e.component.id.clone(), true))
            .collect();
        let domains: Vec<String> = spec.data_domains.iter().map(|d| d.name.clone()).collect();
        let wiring = wiring::wiring(&manifest, &components, &choices, &domains, &spec);
        for (env, obj) in spec.environments.iter().zip(envs.iter_mut()) {
            let holds = env
                .cloud_target()
                .and_then(|t| manifest.clouds.get(t))
                .is_some_and(|t| t.buckets);
            let placed = buckets::place(
                &wiring,
                &components,
                &buckets::Here {
                    env: &env.name,
                    slug: &spec.client.slug,
                    left_out: &obj.left_out,
                    ns: &obj.ns,
                    holds,
                    lake: env
                        .cloud_target()
                        .and_then(|t| manifest.clouds.get(t))
                        .is_some_and(|t| t.lake_account),
                    off_cluster_backups: obj.backup_target.off_cluster,
                    cluster: obj.cloud.as_ref().map_or("", |c| c.cluster_name.as_str()),
                    target: env.cloud_target().unwrap_or_default(),
                    account_id: env.cloud.as_ref().and_then(|c| c.account_id.as_deref()),
                    region: env.cloud.as_ref().map_or("", |c| c.region.as_str()),
                    store: wiring
                        .providers
                        .buckets
                        .as_ref()
                        .is_some_and(|p| obj.left_out.get(p) == Some(&false)),
                },
            )?;
            // The cloud holds every bucket the environment uses: what runs
            // for the cluster's store alone is left out, as what the cloud
            // replaces is.
            if holds && placed.store_buckets.is_empty() {
                let store_only = env
                    .cloud_target()
                    .and_then(|t| manifest.clouds.get(t))
                    .map(|t| &t.store_only);
                if let (Some(store_only), Some(cloud)) = (store_only, obj.cloud.as_mut()) {
                    for (id, why) in store_only {
                        if obj.left_out.get(id) == Some(&false) {
                            obj.left_out.insert(id.clone(), true);
                            cloud.left_out.push(environment::LeftOut {
                                id: id.clone(),
                                why: why.clone(),
                            });
                        }
                    }
                }
            }
            obj.oidc_clients = wiring
                .oidc_clients
                .iter()
                .map(|c| {
                    let here = obj.left_out.get(&c.consumer) != Some(&true);
                    (c.client.clone(), here)
                })
                .collect();
            let consumers = placed.consumers();
            let store_consumers: BTreeSet<String> = placed
                .s3_accounts
                .iter()
                .map(|a| a.consumer.clone())
                .collect();
            // A catalog vends credentials from the cloud's token service
            // where its target has one (STS on EKS, Google's on GKE): on a
            // cloud without one, a catalog's vending pods call none.
            let token_service = env
                .cloud_target()
                .and_then(|t| manifest.clouds.get(t))
                .is_some_and(|t| {
                    manifest
                        .external_endpoints
                        .iter()
                        .filter(|e| e.used_by.as_deref() == Some("web_identity"))
                        .any(|e| {
                            t.private_endpoints.contains(&e.name)
                                || t.fixed_endpoints.contains_key(&e.name)
                        })
                });
            let callers = environment::endpoint_callers(
                &manifest,
                &components,
                &choices,
                &environment::CloudCallers {
                    identities: &consumers,
                    vended: &placed.vended,
                    vendors: &placed
                        .identities
                        .iter()
                        .filter(|i| token_service && !i.vends_to.is_empty())
                        .map(|i| i.consumer.clone())
                        .collect(),
                },
                &store_consumers,
            );
            let (network, egress) =
                environment::egress(env, &spec, &manifest, &callers, !placed.cloud.is_empty())?;
            obj.cloud_identity = components
                .iter()
                .map(|e| {
                    let id = &e.component.id;
                    (id.clone(), consumers.contains_key(id))
                })
                .collect();
            obj.vended = components
                .iter()
                .map(|e| {
                    let id = &e.component.id;
                    (id.clone(), placed.vended.contains(id))
                })
                .collect();
            let on_gcs = env.cloud_target() == Some(crate::core::spec::GKE);
            obj.gcs = obj
                .cloud_identity
                .iter()
                .map(|(id, cloud)| (id.clone(), *cloud && on_gcs))
                .collect();
            // Every component, "" for those that take no role by web
            // identity here, so templates may look any of them up.
            obj.web_role = components
                .iter()
                .map(|e| {
                    let arn = placed
                        .identities
                        .iter()
                        .find(|i| i.web_identity && i.consumer == e.component.id)
                        .and_then(|i| i.role_arn.clone());
                    (e.component.id.clone(), arn.unwrap_or_default())
                })
                .collect();
            obj.cloud_bucket = placed
                .names
                .keys()
                .map(|b| (b.clone(), placed.cloud.iter().any(|c| &c.name == b)))
                .collect();
            obj.bucket = placed.names;
            obj.s3_accounts = placed.s3_accounts;
            obj.store_buckets = placed.store_buckets;
            obj.store_narrowed = placed.store_narrowed;
            if let Some(c) = &mut obj.cloud {
                let given = env.cloud.as_ref().map(|s| &s.client_ids);
                if env.cloud_target() == Some(crate::core::spec::AKS) {
                    // Each consumer of the cloud's containers signs in as a
                    // managed identity of its own, whose client ID the spec
                    // gives like the blueprint's.
                    for i in &placed.identities {
                        let id = given
                            .and_then(|g| g.get(&i.consumer))
                            .cloned()
                            .unwrap_or_default();
                        c.client_ids.insert(i.consumer.clone(), id);
                    }
                }
                if let Some(unknown) = given
                    .into_iter()
                    .flat_map(|g| g.keys())
                    .find(|k| !c.client_ids.contains_key(*k))
                {
                    let known: Vec<&str> = c.client_ids.keys().map(String::as_str).collect();
                    return Err(ModelError::Cloud {
                        env: env.name.clone(),
                        message: format!(
                            "cloud.client_ids.{unknown}: not a managed identity of this environment's Terraform; its identities: {}",
                            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                        ),
                    });
                }
                c.web_identity = placed.identities.iter().any(|i| i.web_identity);
                c.token_service = placed
                    .identities
                    .iter()
                    .any(|i| i.web_identity || (token_service && !i.vends_to.is_empty()));
                c.awaiting_account = placed.awaiting_account.clone();
                let (lake, data): (Vec<_>, Vec<_>) = placed.cloud.iter().partition(|b| b.lake);
                c.lake_buckets = lake.into_iter().map(|b| b.bucket.clone()).collect();
                c.data_buckets = data.into_iter().map(|b| b.bucket.clone()).collect();
                c.buckets = placed.cloud;
                c.identities = placed.identities;
                // A consumer the cloud gives a Google service account of
                // its own acts as it: its grants name that account.
                for i in &mut c.identities {
                    i.google_account = c.google_accounts.get(&i.consumer).cloned();
                }
            }
            obj.network = network;
            obj.egress = egress;
            // The project lets an environment's Applications read the chart
            // repositories of the components it deploys, no others.
            let mut repos: Vec<String> = components
                .iter()
                .filter(|e| obj.left_out.get(&e.component.id) != Some(&true))
                .filter_map(|e| e.component.chart.as_ref().map(chart_source_url))
                .collect();
            repos.sort();
            repos.dedup();
            obj.chart_repos = repos;
        }
        // A component no environment deploys (the store's own, where every
        // environment's cloud holds its buckets) is not rendered at all, as
        // one every cloud replaces is not: no shared values, runbook or
        // README entry for what runs nowhere.
        let nowhere: BTreeSet<String> = components
            .iter()
            .map(|c| c.component.id.clone())
            .filter(|id| !envs.is_empty() && envs.iter().all(|e| e.left_out.get(id) == Some(&true)))
            .collect();
        components.retain(|c| !nowhere.contains(&c.component.id));
        let enabled_map: BTreeMap<String, bool> = enabled_map
            .into_iter()
            .filter(|(id, _)| !nowhere.contains(id))
            .collect();
        // A bucket per environment is listed once for each environment
        // that uses it.
        let mut buckets: Vec<String> = Vec::new();
        for b in &wiring.buckets {
            if b.name.contains(buckets::ENV_PLACEHOLDER) {
                buckets.extend(
                    envs.iter()
                        .map(|e| buckets::per_environment(&b.name, &e.name))
                        .filter(|here| envs.iter().any(|e| e.store_buckets.contains(here))),
                );
            } else {
                buckets.push(b.name.clone());
            }
        }
        let secrets = spec.secrets.clone().unwrap_or(crate::spec::Secrets {
            store: "platform-secrets".into(),
            kind: "ClusterSecretStore".into(),
        });
        let facts = ChartFacts::load(blueprint).map_err(|e| ModelError::Defaults {
            origin: blueprint.origin.clone(),
            path: crate::core::charts::FACTS_FILE.into(),
            message: e.to_string(),
        })?;
        for env in &mut envs {
            env.cluster_kinds = cluster_kinds(env, &components, &facts);
        }
        let bootstrap = bootstrap::bootstrap(
            &spec,
            &components,
            secret_operator(&components, &facts),
            &secrets,
            &argocd,
            &manifest.storage_classes,
            &mut envs,
        );
        let webhooks = webhook_ingress(&manifest, &components, &facts);
        let flows = namespace_flows(&manifest, &components, &facts);
        // The environments whose cluster runs replicated volumes (their
        // storage nodes are prepared at bootstrap), with and without
        // declared nodes.
        let names = |declared: Option<bool>| -> Vec<String> {
            envs.iter()
                .filter(|e| e.storage.replicated)
                .filter(|e| declared.is_none_or(|d| e.storage.pools.is_empty() != d))
                .map(|e| e.name.clone())
                .collect()
        };
        let replicated_storage = context::ReplicatedStorage {
            environments: names(None),
            declared: names(Some(true)),
            undeclared: names(Some(false)),
        };
        let web_identity = envs
            .iter()
            .any(|e| e.cloud.as_ref().is_some_and(|c| c.web_identity));
        let clouds = crate::core::spec::CLOUDS
            .iter()
            .map(|t| ((*t).to_owned(), envs.iter().any(|e| e.cloud_target == *t)))
            .collect();
        let mut base = Base {
            client: context::Client {
                name: spec.client.name.clone(),
                slug: spec.client.slug.clone(),
            },
            domain: spec.domain.clone(),
            repo: context::Repository {
                url: spec.repository.url.clone(),
                revision: spec.repository.revision.clone(),
            },
            choices: spec.components.clone(),
            enabled: enabled_map,
            keycloak: keycloak_context(&spec.keycloak),
            sso: spec.sso.as_ref().map(sso_context),
            domains: spec
                .data_domains
                .iter()
                .map(|d| context::Domain {
                    name: d.name.clone(),
                    slug: d.name.clone(),
                    ident: d.name.replace('-', "_"),
                    description: d.description.clone().unwrap_or_default(),
                })
                .collect(),
            buckets,
            wiring,
            notebooks: context::Notebooks {
                storage: spec.notebooks.storage.clone(),
                s3: spec.notebooks.on_s3(),
                bucket: spec.notebooks.on_s3().then(|| NOTEBOOK_BUCKET.into()),
                groups: notebook_groups(&spec.keycloak),
                on: manifest
                    .notebooks
                    .interpreters
                    .iter()
                    .map(|i| {
                        let on = envs
                            .iter()
                            .any(|e| e.notebooks.on.get(&i.name) == Some(&true));
                        (i.name.clone(), on)
                    })
                    .collect(),
            },
            sizing: spec.sizing.clone(),
            s3: context::S3 {
                region,
                external: spec.object_storage.is_some(),
            },
            secrets: context::Secrets {
                store: secrets.store,
                kind: secrets.kind,
            },
            artifacts: artifacts(spec.mirror.as_ref()),
            argocd,
            bootstrap,
            webhooks,
            flows,
            ca_bundle: context::CaBundle {
                configmap: CA_BUNDLE.into(),
                pem: CA_BUNDLE_PEM.into(),
                pkcs12: CA_BUNDLE_PKCS12.into(),
                dir: CA_BUNDLE_DIR.into(),
                pem_path: format!("{CA_BUNDLE_DIR}/{CA_BUNDLE_PEM}"),
                pkcs12_path: format!("{CA_BUNDLE_DIR}/{CA_BUNDLE_PKCS12}"),
            },
            namespaces: manifest.namespaces.clone(),
            blueprint: context::BlueprintRef {
                name: manifest.name.clone(),
                version: manifest.version.clone(),
            },
            socle_version: env!("CARGO_PKG_VERSION").into(),
            components: Vec::new(),
            environments: envs,
            replicated_storage,
            architecture: Default::default(),
            compose: Default::default(),
            terraform: context::Terraform {
                environments: envs_on_cloud,
                web_identity,
                clouds,
            },
        };
        if !compose_envs.is_empty() {
            base.compose = host_context(
                &manifest,
                &choices,
                &domains,
                &spec,
                compose_envs,
                socket_envs,
                factor,
            )?;
        }
        let mut model = Model {
            spec,
            manifest,
            components,
            base,
            sizes: all_sizes,
        };
        model.base.components = model
            .components
            .iter()
            .map(|e| model.component_context(e, None, blueprint))
            .collect();
        model.base.architecture = architecture(&model.manifest, &model.base.components);
        Ok(model)
    }

    /// The environments, in spec order.
    pub fn envs(&self) -> &[Env] {
        &self.base.environments
    }

    /// The `component` object, resolved for an environment when one is given.
    pub fn component_context(
        &self,
        e: &Enabled,
        env: Option<&Env>,
        blueprint: &Tree,
    ) -> ComponentContext {
        let c = &e.component;
        let namespace = match env {
            Some(env) => env.ns.get(&c.namespace).cloned().unwrap_or_default(),
            None => self
                .manifest
                .namespace(&c.namespace)
                .map(|n| n.name.clone())
                .unwrap_or_default(),
        };
        let extra = format!("components/{}/manifests", c.id);
        let has_extra = blueprint.under(&extra).next().is_some();
        ComponentContext {
            id: c.id.clone(),
            title: c.title.clone(),
            namespace,
            ns_id: c.namespace.clone(),
            chart: c.chart.as_ref().map(|ch| context::ChartContext {
                repo: ch.repo.clone(),
                name: ch.name.clone(),
                version: ch.version.clone(),
                oci: ch.repo.starts_with("oci://"),
                source: chart_source_url(ch),
            }),
            manifests: c.manifests.clone(),
            extra_manifests: has_extra,
            wave: e.wave,
            needs: c.needs.clone(),
            critical: c.critical,
            server_side_apply: c.server_side_apply,
            cluster_wide: c.cluster_wide,
            consumes: c.consumes.clone(),
            trusts: c.trusts.clone(),
            distributes: c.distributes.clone(),
            ingress: c.ingress,
        }
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
    facts: &ChartFacts,
) -> BTreeMap<String, Vec<context::Webhook>> {
    // Every namespace has an entry, so templates can look any one up.
    let mut by_ns: BTreeMap<String, Vec<context::Webhook>> = manifest
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
                Some(Value::Number(n)) => Value::Number(n.clone()),
                Some(Value::String(name)) if !name.is_empty() => Value::String(name.clone()),
                _ => Value::from(w.port),
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
                .push(context::Webhook {
                    component: e.component.id.clone(),
                    service: service.to_owned(),
                    selector,
                    ports,
                });
        }
    }
    by_ns
}

/// The cluster-scoped kinds the charts an environment deploys create,
/// from their facts.
fn cluster_kinds(
    env: &environment::Env,
    components: &[Enabled],
    facts: &ChartFacts,
) -> Vec<environment::ClusterKind> {
    let mut kinds: Vec<environment::ClusterKind> = components
        .iter()
        .filter(|e| env.left_out.get(&e.component.id) != Some(&true))
        .filter_map(|e| e.component.chart.as_ref())
        .filter_map(|c| facts.get(&c.repo, &c.name, &c.version))
        .flat_map(|f| &f.creates)
        .filter(|k| k.scope == crate::core::charts::Scope::Cluster)
        .map(|k| environment::ClusterKind {
            group: k.group.clone(),
            kind: k.kind.clone(),
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// By namespace id, the namespaces its pods open connections to and those
/// whose pods connect to it, from the graph: a consumer connects to the
/// provider of each kind of resource it consumes, a component to those it
/// `calls`, and the ingress controller to the components it publishes
/// (`ingress`). A blueprint's NetworkPolicies open exactly these between
/// namespaces (a flow within a namespace crosses none).
fn namespace_flows(
    manifest: &Manifest,
    components: &[Enabled],
    facts: &ChartFacts,
) -> BTreeMap<String, context::NamespaceFlows> {
    let mut by_ns: BTreeMap<String, context::NamespaceFlows> = manifest
        .namespaces
        .iter()
        .map(|n| (n.id.clone(), context::NamespaceFlows::default()))
        .collect();
    let provider = |pick: fn(&crate::core::wiring::Provides) -> bool| {
        components
            .iter()
            .find(|e| pick(&e.component.provides))
            .map(|e| e.component.namespace.as_str())
    };
    let databases = provider(|p| p.databases);
    let buckets = provider(|p| p.buckets);
    let oidc = provider(|p| p.oidc);
    for e in components {
        let c = &e.component;
        let consumed = [
            (!c.consumes.databases.is_empty()).then_some(databases),
            (!c.consumes.buckets.is_empty()).then_some(buckets),
            (!c.consumes.oidc.is_empty()).then_some(oidc),
        ];
        let called = c.calls.iter().map(|id| {
            components
                .iter()
                .find(|o| &o.component.id == id)
                .map(|o| o.component.namespace.as_str())
        });
        let targets = consumed.into_iter().flatten().chain(called).flatten();
        for to in targets.filter(|to| *to != c.namespace) {
            if let Some(f) = by_ns.get_mut(&c.namespace) {
                f.to.push(to.to_owned());
            }
            if let Some(f) = by_ns.get_mut(to) {
                f.from.push(c.namespace.clone());
            }
        }
    }
    if let Some(edge) = components.iter().find(|e| e.component.serves_ingress) {
        let from = edge.component.namespace.clone();
        let published = components
            .iter()
            .filter(|e| e.component.ingress && e.component.namespace != from)
            .map(|e| e.component.namespace.clone())
            .collect::<Vec<_>>();
        for to in published {
            if let Some(f) = by_ns.get_mut(&from) {
                f.to.push(to.clone());
            }
            if let Some(f) = by_ns.get_mut(&to) {
                f.from.push(from.clone());
            }
        }
        let ports = edge
            .component
            .chart
            .as_ref()
            .and_then(|c| facts.get(&c.repo, &c.name, &c.version))
            .into_iter()
            .flat_map(|f| &f.services)
            .flat_map(|s| &s.ports)
            .map(|p| {
                p.target_port
                    .as_ref()
                    .and_then(Value::as_u64)
                    .and_then(|n| u16::try_from(n).ok())
                    .unwrap_or(p.port)
            });
        if let Some(f) = by_ns.get_mut(&from) {
            f.entry_ports.extend(ports);
        }
    }
    for f in by_ns.values_mut() {
        for list in [&mut f.to, &mut f.from] {
            list.sort_unstable();
            list.dedup();
        }
        f.entry_ports.sort_unstable();
        f.entry_ports.dedup();
    }
    by_ns
}

/// Maven Central, where pods fetch jars from unless the spec names a mirror.
pub const MAVEN_CENTRAL: &str = "https://repo1.maven.org/maven2";

/// Where pods fetch the packages they need when they start: `maven`, the
/// root of a Maven repository (the spec's mirror, else Maven Central,
/// without a trailing slash so that templates append `/group/path`);
/// `maven_mirror`, whether that is the spec's; `pypi`, the spec's PyPI
/// index or null (pip's default index).
fn artifacts(mirror: Option<&crate::spec::Mirror>) -> context::Artifacts {
    let trim = |url: &Option<String>| url.as_deref().map(|u| u.trim_end_matches('/').to_owned());
    context::Artifacts {
        maven: mirror
            .and_then(|m| trim(&m.maven))
            .unwrap_or_else(|| MAVEN_CENTRAL.to_owned()),
        maven_mirror: mirror.is_some_and(|m| m.maven.is_some()),
        pypi: mirror.and_then(|m| trim(&m.pypi)),
    }
}

/// The spec's `sso` section as templates read it.
fn sso_context(sso: &crate::spec::Sso) -> context::Sso {
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for g in &sso.groups {
        let roles = by_group.entry(g.name.as_str()).or_default();
        if !roles.contains(&g.role.as_str()) {
            roles.push(g.role.as_str());
        }
    }
    context::Sso {
        issuer: sso.issuer.trim_end_matches('/').to_owned(),
        groups: group_contexts(&sso.groups),
        roles_by_group: serde_json::to_string(&by_group).unwrap_or_default(),
    }
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
fn keycloak_context(keycloak: &crate::spec::Keycloak) -> context::Keycloak {
    let roles: Vec<context::RoleGroups> = ROLES
        .iter()
        .filter_map(|role| {
            let groups: Vec<String> = keycloak
                .groups
                .iter()
                .filter(|g| g.role == *role)
                .map(|g| g.name.clone())
                .collect();
            (!groups.is_empty()).then(|| context::RoleGroups {
                role: (*role).to_owned(),
                groups,
            })
        })
        .collect();
    context::Keycloak {
        realm: keycloak.realm.clone(),
        groups: group_contexts(&keycloak.groups),
        roles,
    }
}

fn group_contexts(groups: &[crate::spec::Group]) -> Vec<context::Group> {
    groups
        .iter()
        .map(|g| context::Group {
            name: g.name.clone(),
            role: g.role.clone(),
        })
        .collect()
}

/// The enabled component whose chart installs the ExternalSecret kind (by
/// the chart facts): every credential reaches the platform through it, so
/// it comes first at bootstrap and the components that render
/// ExternalSecrets need it.
fn secret_operator<'c>(components: &'c [Enabled], facts: &ChartFacts) -> Option<&'c Enabled> {
    components.iter().find(|e| {
        e.component.chart.as_ref().is_some_and(|chart| {
            facts
                .get(&chart.repo, &chart.name, &chart.version)
                .is_some_and(|f| {
                    f.crds.iter().any(|k| {
                        k.kind == "ExternalSecret"
                            && k.group == crate::core::kinds::EXTERNAL_SECRETS_GROUP
                    })
                })
        })
    })
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

/// The architecture picture's data: each namespace with its enabled
/// components, in wave order, and the blueprint's data flow between
/// enabled components.
fn architecture(
    manifest: &crate::blueprint::Manifest,
    components: &[context::ComponentContext],
) -> context::Architecture {
    let node = |id: &str| id.replace('-', "_");
    let namespaces = manifest
        .namespaces
        .iter()
        .filter_map(|ns| {
            let members: Vec<context::ArchitectureNode> = components
                .iter()
                .filter(|c| c.ns_id == ns.id)
                .map(|c| context::ArchitectureNode {
                    node: node(&c.id),
                    title: c.title.clone(),
                })
                .collect();
            (!members.is_empty()).then(|| context::ArchitectureNamespace {
                node: format!("ns_{}", node(&ns.id)),
                name: ns.name.clone(),
                components: members,
            })
        })
        .collect();
    let enabled = |id: &str| components.iter().any(|c| c.id == id);
    let flow = manifest
        .data_flow
        .iter()
        .filter(|f| enabled(&f.from) && enabled(&f.to))
        .map(|f| context::ArchitectureFlow {
            from: node(&f.from),
            to: node(&f.to),
            label: f.label.clone(),
        })
        .collect();
    context::Architecture { namespaces, flow }
}
