//! The `env` object: an environment of the spec, resolved (namespaces with
//! their suffix, domain, endpoints), with the defaults of
//! `environments/<env>.yaml` after the spec's overrides, and what the model
//! derives per environment (storage, notebooks, Argo CD placement, egress).

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::context::Scalar;
use super::ModelError;
use crate::blueprint::Manifest;
use crate::spec::Spec;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Env {
    pub name: String,
    pub cluster: String,
    /// The cluster as tables name it: its API server, or, for a managed
    /// cloud cluster its Terraform has not created yet, that cluster and
    /// the folder creating it.
    pub cluster_label: String,
    pub suffix: String,
    /// Namespace names by namespace id.
    pub ns: BTreeMap<String, String>,
    pub domain: String,
    pub s3: EnvS3,
    pub postgres: Postgres,
    pub keycloak: EnvKeycloak,
    pub issuer: String,
    pub ha: bool,
    pub owns_cluster: bool,
    #[serde(flatten)]
    pub defaults: Defaults,
    pub notebooks: Interpreters,
    pub backup_target: BackupTarget,
    pub storage: Storage,
    pub argocd: EnvArgocd,
    pub network: Network,
    /// Every namespace has a list, for templates to look any one up.
    pub egress: Egress,
    pub store_namespaces: Vec<String>,
    pub after: Vec<String>,
    /// The chart repositories of the components deployed here (its
    /// project's `sourceRepos`).
    pub chart_repos: Vec<String>,
    /// The cluster-scoped kinds the charts deployed here create (chart
    /// facts), sorted: what a least-privilege project admits of them.
    pub cluster_kinds: Vec<ClusterKind>,
    /// On a managed cloud: the cluster its Terraform creates.
    pub cloud: Option<EnvCloud>,
    /// Its managed cloud (`eks`, `gke`), "" elsewhere: what templates
    /// compare, since `cloud` may be absent.
    pub cloud_target: String,
    /// By component id (every enabled one): whether it is not deployed
    /// here (the environment's cloud provides in its place, or it runs on
    /// other targets only). A map, so that templates can look one up.
    pub left_out: BTreeMap<String, bool>,
    /// Namespace ids not created here: the cloud replaces all they hold.
    pub absent_namespaces: Vec<String>,
    /// Every bucket of the wiring graph by its graph name: the name its
    /// consumers use here (on a cloud holding it, the cloud's).
    pub bucket: BTreeMap<String, String>,
    /// Every bucket of the wiring graph by its graph name: whether the
    /// cloud holds it here (its consumers then sign in with their
    /// identities, not with the store's keys).
    pub cloud_bucket: BTreeMap<String, bool>,
    /// The cluster object store's accounts here (`wiring.s3_accounts`
    /// less the buckets the cloud holds) and its buckets.
    pub s3_accounts: Vec<super::wiring::S3Account>,
    pub store_buckets: Vec<String>,
    /// Whether the store holds fewer buckets than the graph has here (the
    /// shared values list them all).
    pub store_narrowed: bool,
    /// By enabled component id: whether it reaches its buckets here with
    /// its workload identity (no keys), for templates to look one up.
    pub cloud_identity: BTreeMap<String, bool>,
    /// By enabled component id: whether it reaches cloud buckets here with
    /// credentials a catalog vends it (Iceberg's access delegation), so
    /// its storage client names the cloud's endpoint and region.
    pub vended: BTreeMap<String, bool>,
    /// By enabled component id: the ARN of the role it takes by web
    /// identity here, which its pods' configuration names ("" for none).
    pub web_role: BTreeMap<String, String>,
    /// By OIDC client of the wiring: whether the environment deploys its
    /// consumer (the realm declares no client for a component left out).
    pub oidc_clients: BTreeMap<String, bool>,
    /// By enabled component id: whether it reaches its buckets in Google
    /// Cloud Storage (with its workload identity, on GKE) rather than by
    /// the S3 API, for templates to look one up.
    pub gcs: BTreeMap<String, bool>,
    /// How its secret-store entries are named (`{{store_key env …}}`).
    pub store_keys: StoreKeys,
}

/// The names of an environment's secret-store entries: the client's and
/// the environment's names, then the entry's own parts, joined by `/`
/// (Vault paths, AWS Secrets Manager names) or, where the store allows no
/// `/` in a name (Google's Secret Manager: letters, digits, `_`, `-`), by
/// `_`, which no client, environment or component name holds.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StoreKeys {
    pub prefix: String,
    pub separator: String,
}

impl StoreKeys {
    pub(crate) fn new(slug: &str, env: &str, cloud: Option<&str>) -> Self {
        let separator = match cloud {
            Some(crate::core::spec::GKE) => "_",
            // Key Vault's names: letters, digits and `-` only.
            Some(crate::core::spec::AKS) => "-",
            _ => "/",
        };
        StoreKeys {
            prefix: format!("{slug}{separator}{env}"),
            separator: separator.to_owned(),
        }
    }
}

/// A managed cloud environment's cluster, as its Terraform creates it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnvCloud {
    /// The spec's target (`eks`, `gke`).
    pub target: String,
    pub region: String,
    pub vpc_cidr: String,
    pub kubernetes_version: String,
    /// The spec's account, when it names one (EKS).
    pub account_id: Option<String>,
    /// S3's regional endpoint (EKS), for clients that take an endpoint.
    pub s3_endpoint: Option<String>,
    /// The spec's project (GKE).
    pub project: Option<String>,
    /// The spec's subscription and tenant (AKS).
    pub subscription: Option<String>,
    pub tenant: Option<String>,
    /// The environment's Key Vault and storage account (AKS): their names
    /// are global across Azure, and short (`short_name`).
    pub key_vault: Option<String>,
    pub storage_account: Option<String>,
    /// The storage account holding the containers of its consumers with a
    /// workload identity (AKS), apart from the backups' so that neither a
    /// grant nor a policy on one reaches the other.
    pub data_account: Option<String>,
    /// The storage account holding the containers of a catalog's tables
    /// (AKS): with a hierarchical namespace, where the catalog's SAS
    /// tokens are narrowed to a table's directory.
    pub lake_account: Option<String>,
    /// The cloud names of the buckets it holds here in the data account
    /// and in the lake account (`buckets`, each by its `lake`).
    pub data_buckets: Vec<String>,
    pub lake_buckets: Vec<String>,
    /// The client IDs of its managed identities (AKS), by identity: every
    /// one the blueprint's Terraform creates (its own, and one for each
    /// consumer of the cloud's containers), "" until the spec gives it.
    pub client_ids: BTreeMap<String, String>,
    /// The emails of the Google service accounts its Terraform creates
    /// (GKE), by identity: their IDs are 30 characters at most
    /// (`google_account_id`), which the Terraform and the annotations
    /// naming them both take from here.
    pub google_accounts: BTreeMap<String, GoogleAccount>,
    pub cluster_name: String,
    /// The bucket its Terraform creates for the backups, unless the spec
    /// sends them elsewhere (`backup_target`).
    pub backups_bucket: Option<String>,
    /// What the cloud provides in place of components, with the reason.
    pub left_out: Vec<LeftOut>,
    /// Its managed PostgreSQL, when the cloud runs the databases.
    pub database: Option<CloudDatabase>,
    /// The buckets its Terraform creates, and the workload identities of
    /// their consumers (`model::buckets`).
    pub buckets: Vec<super::buckets::CloudBucket>,
    pub identities: Vec<super::buckets::BucketIdentity>,
    /// One of them signs in by web identity: the cluster's token issuer
    /// must be trusted by the cloud's IAM.
    pub web_identity: bool,
    /// A pod calls the cloud's token service here: one signing in by web
    /// identity, or a catalog assuming its vending role.
    pub token_service: bool,
    /// The consumers that would sign in by web identity but keep their
    /// keys in the cluster's store, since the spec names no account.
    pub awaiting_account: Vec<String>,
}

/// A name a cloud keeps short (Azure's Key Vaults and storage accounts,
/// Google's service accounts):
/// `base` when it fits in `max` characters (letters and digits only where
/// `alphanumeric`), else its start and a digest of the whole, so that two
/// long names stay apart.
pub(crate) fn short_name(base: &str, max: usize, alphanumeric: bool) -> String {
    use sha2::{Digest, Sha256};
    let mut name: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || (!alphanumeric && *c == '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if alphanumeric {
        name = name.replace('-', "");
    }
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    if name.len() <= max {
        return name;
    }
    let digest = Sha256::digest(base.as_bytes());
    let tag: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
    let keep = max - tag.len() - usize::from(!alphanumeric);
    let head = name[..keep].trim_end_matches('-');
    if alphanumeric {
        format!("{head}{tag}")
    } else {
        format!("{head}-{tag}")
    }
}

/// A Google service account of a GKE environment's Terraform.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GoogleAccount {
    /// Its `account_id` (6 to 30 characters, from the cluster's name).
    pub id: String,
    pub email: String,
}

/// The ID of the cluster's Google service account for `what`: Google takes
/// 30 characters at most, so a long cluster name is cut, with a digest.
pub(crate) fn google_account_id(cluster: &str, what: &str) -> String {
    short_name(&format!("{cluster}-{what}"), 30, false)
}

/// The Key Vault and the storage account of an AKS cluster's environment.
pub(crate) fn azure_key_vault(cluster: &str) -> String {
    short_name(&format!("{cluster}-kv"), 24, false)
}

pub(crate) fn azure_storage_account(cluster: &str) -> String {
    short_name(&format!("{cluster}backups"), 24, true)
}

pub(crate) fn azure_data_account(cluster: &str) -> String {
    short_name(&format!("{cluster}data"), 24, true)
}

pub(crate) fn azure_lake_account(cluster: &str) -> String {
    short_name(&format!("{cluster}lake"), 24, true)
}

/// A cloud environment's managed PostgreSQL, as its Terraform creates it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CloudDatabase {
    /// The private DNS zone its Terraform creates in the network, and the
    /// name there that points at the instance: what the cluster's
    /// ExternalName Services resolve to.
    pub zone: String,
    pub host: String,
    pub engine_version: String,
    pub parameter_family: String,
    pub instance_class: String,
    pub storage_gb: u32,
    pub max_storage_gb: u32,
    pub backup_retention_days: u32,
    /// A standby in another zone, failed over to automatically (with HA).
    pub multi_az: bool,
    /// The component that creates the roles and databases in it.
    pub component: String,
}

/// The managed PostgreSQL of a cloud environment named `cluster`, sized by
/// the spec's profile.
pub(crate) fn cloud_database(
    d: &crate::blueprint::CloudDatabase,
    cluster: &str,
    sizing: &str,
    ha: bool,
) -> CloudDatabase {
    let zone = format!("{cluster}.internal");
    CloudDatabase {
        host: format!("postgresql.{zone}"),
        zone,
        engine_version: d.engine_version.clone(),
        parameter_family: d.parameter_family.clone(),
        instance_class: d.instance_class.get(sizing).cloned().unwrap_or_default(),
        storage_gb: d.storage_gb,
        max_storage_gb: d.max_storage_gb,
        backup_retention_days: d.backup_retention_days,
        multi_az: ha,
        component: d.component.clone(),
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LeftOut {
    pub id: String,
    pub why: String,
}

/// The `env` of a template rendered for one component: also its sizing.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TemplateEnv {
    #[serde(flatten)]
    pub env: Env,
    /// The component's entry in `environments/components/<id>.yaml`, scaled
    /// by the sizing profile: Helm values (resources, replicas, per-chart
    /// settings) whose keys each component's file chooses, so free-form.
    pub size: Option<Value>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnvS3 {
    pub endpoint: String,
    /// The endpoint's host (and port), for clients configured by host and
    /// a TLS switch (Hadoop's S3A) rather than by URL.
    pub host: String,
    /// The endpoint is HTTPS.
    pub tls: bool,
}

impl EnvS3 {
    pub(crate) fn new(endpoint: String) -> Self {
        let (scheme, rest) = endpoint.split_once("://").unwrap_or(("https", &endpoint));
        let host = rest
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .to_owned();
        Self {
            tls: !scheme.eq_ignore_ascii_case("http"),
            host,
            endpoint,
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Postgres {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnvKeycloak {
    pub url: String,
    pub issuer: String,
}

/// The defaults of `environments/<env>.yaml`, after the spec's overrides.
/// A key the file leaves out stays out of the context (as it always has);
/// `backup` reads as null then.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Defaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_store_class: Option<Scalar>,
    #[serde(default)]
    pub backup: Option<Backup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_retention: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_retention: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark: Option<Spark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Alerts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dr: Option<Dr>,
}

macro_rules! scalars {
    ($(#[$doc:meta])* $name:ident { $($field:ident),* $(,)? } $(extra { $($x:ident: $t:ty),* })?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
        pub struct $name {
            $(
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<Scalar>,
            )*
            $($(
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $x: Option<$t>,
            )*)?
        }
    };
}

scalars!(SyncPolicy {
    automated,
    prune,
    self_heal
});
scalars!(
    /// `cnpg_schedule`, `quartz_schedule` and `retention_days` are derived:
    /// CloudNativePG reads a six-field cron (seconds first), Elasticsearch's
    /// snapshot lifecycle a Quartz cron, and both retention in days.
    Backup { schedule, retention, wal_retention, cnpg_schedule, quartz_schedule, retention_days }
);
scalars!(Quota {
    requests_cpu,
    requests_memory,
    limits_cpu,
    limits_memory,
    persistentvolumeclaims
});
scalars!(Limits {
    default_cpu,
    default_memory,
    default_request_cpu,
    default_request_memory,
    max_cpu,
    max_memory,
});
scalars!(Spark {} extra { driver: SparkPod, executor: SparkPod, executors: SparkExecutors });
scalars!(SparkPod {
    cores,
    memory,
    overhead
});
scalars!(SparkExecutors { min, max });
scalars!(Lifecycle {
    transition_days,
    expiration_days,
    tier
});
scalars!(
    Alerts {
        pager,
        service_down_for,
        pods_not_ready_for,
        pipeline_failures,
        pipeline_window,
        trino_slow_query_seconds,
        trino_failure_ratio,
        disk_usage_percent,
        iceberg_small_files_ratio,
        iceberg_min_objects,
        postgres_replication_lag_seconds,
        backup_max_age_hours,
    }
    extra { email: Email }
);
scalars!(Email {
    to,
    from,
    smarthost
});
scalars!(Dr { replication_target });

/// A five-field cron as Quartz reads it (Elasticsearch's schedules):
/// seconds first, `?` in whichever day field is unrestricted, and days of
/// the week counted from 1 (Sunday) rather than 0. `Err` when both day
/// fields are restricted (cron runs on either, Quartz cannot say so);
/// `None` when it is not five fields.
fn quartz(schedule: &str) -> Option<Result<String, String>> {
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields.as_slice() else {
        return None;
    };
    let (dom, dow) = match (*dom, *dow) {
        (dom, "*") => (dom.to_owned(), "?".to_owned()),
        ("*", dow) => {
            // Digits name days, except after `/`, where they are a step.
            let mut out = String::with_capacity(dow.len());
            let mut step = false;
            for c in dow.chars() {
                match c.to_digit(10) {
                    Some(d) if !step && d <= 7 => out.push_str(&((d % 7) + 1).to_string()),
                    _ => out.push(c),
                }
                if c == '/' {
                    step = true;
                } else if !c.is_ascii_digit() {
                    step = false;
                }
            }
            ("?".to_owned(), out)
        }
        _ => {
            return Some(Err(format!(
                "backup.schedule `{schedule}` restricts both the day of the month and the day of the week, which a Quartz cron (Elasticsearch's snapshot schedules) cannot express: restrict one of them"
            )))
        }
    };
    Some(Ok(format!("0 {minute} {hour} {dom} {month} {dow}")))
}

impl Backup {
    /// Adds the forms of the settings some charts need.
    fn derive(&mut self) -> Result<(), String> {
        if let Some(Scalar(Value::String(schedule))) = &self.schedule {
            let schedule = schedule.clone();
            self.cnpg_schedule = Some(Scalar(Value::String(format!("0 {schedule}"))));
            if let Some(q) = quartz(&schedule) {
                self.quartz_schedule = Some(Scalar(Value::String(q?)));
            }
        }
        if let Some(hours) = self
            .retention
            .as_ref()
            .and_then(|r| r.0.as_str())
            .and_then(|r| r.strip_suffix('h'))
            .and_then(|h| h.parse::<u64>().ok())
        {
            self.retention_days = Some(Scalar(Value::String(format!(
                "{}d",
                hours.div_ceil(24).max(1)
            ))));
        }
        Ok(())
    }
}

/// Reads the merged defaults into their type, deriving what they imply.
pub(crate) fn defaults(merged: Value, origin: &str, env: &str) -> Result<Defaults, ModelError> {
    let mut d: Defaults = serde_json::from_value(merged).map_err(|e| ModelError::Defaults {
        origin: origin.to_owned(),
        path: format!("{env}.yaml"),
        message: e.to_string(),
    })?;
    if let Some(b) = &mut d.backup {
        b.derive().map_err(|message| ModelError::Defaults {
            origin: origin.to_owned(),
            path: format!("{env}.yaml"),
            message,
        })?;
    }
    Ok(d)
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BackupTarget {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub off_cluster: bool,
}

/// The notebook interpreters users may run in the environment.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Interpreters {
    /// The names of those on, in the blueprint's order.
    pub interpreters: Vec<String>,
    /// Each interpreter the blueprint offers: whether it is on.
    pub on: BTreeMap<String, bool>,
    /// The interpreter groups the server loads, comma-separated.
    pub includes: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Storage {
    /// The environment's cluster runs the blueprint's replicated volumes
    /// (and this environment deploys them).
    pub replicated: bool,
    pub replicas: usize,
    pub nodes: Vec<StorageNode>,
    pub pools: Vec<Pool>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StorageNode {
    pub name: String,
    pub disks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Pool {
    pub name: String,
    pub node: String,
    pub disk: String,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct EnvArgocd {
    pub server: String,
    pub local: bool,
    pub hub: bool,
    pub installs: bool,
    /// The environment whose argocd-values.yaml installs that Argo CD.
    pub installed_by: String,
    pub monitors: bool,
    pub register: bool,
    pub cluster_name: Option<String>,
    pub registered_by: Option<String>,
    pub shared_with: Vec<String>,
    pub watched: Vec<Health>,
    /// An Alertmanager matcher of the environments that never page.
    pub quiet: Option<String>,
}

/// The Argo CD health alert settings of an environment.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Health {
    pub name: String,
    pub service_down_for: Scalar,
    pub pods_not_ready_for: Scalar,
    pub pager: bool,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Network {
    pub api_server: Vec<String>,
    pub nodes: Vec<String>,
}

/// By namespace id, the rules of its pods' calls out of the cluster's pods.
pub type Egress = BTreeMap<String, Vec<EgressRule>>;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EgressRule {
    pub name: String,
    pub policy: String,
    pub purpose: String,
    pub ports: Vec<u16>,
    pub cidrs: Vec<String>,
    /// Where the spec sets the CIDRs.
    pub spec_key: String,
}

/// The notebook interpreters users may run in an environment
/// (`env.notebooks`): the spec's `notebooks.interpreters.<env>`, else the
/// environment's default (`notebooks.interpreters` of
/// `environments/<env>.yaml`, after its overrides), else the blueprint's
/// `notebooks.default`; those the blueprint marks `always` are on whatever
/// the lists say. Templates read one flag per interpreter (`on.<name>`) and
/// the interpreter groups the server loads (`includes`). A blueprint whose
/// notebooks offer none has none to turn on.
pub(crate) fn notebook_interpreters(
    spec: &Spec,
    env: &crate::spec::Environment,
    offered: &crate::core::blueprint::Notebooks,
    defaults: &Value,
    origin: &str,
) -> Result<Interpreters, ModelError> {
    if offered.interpreters.is_empty() {
        return Ok(Interpreters::default());
    }
    let refuse = |message: String| ModelError::Defaults {
        origin: origin.to_owned(),
        path: format!("{}.yaml", env.name),
        message,
    };
    let listed: Vec<String> = match spec.notebooks.interpreters.get(&env.name) {
        Some(list) => list.clone(),
        None => match defaults.pointer("/notebooks/interpreters") {
            None | Some(Value::Null) => offered.default.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        refuse(format!(
                            "notebooks.interpreters: {v} is not an interpreter name"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(refuse(format!(
                    "notebooks.interpreters: expected a list of names, found {other}"
                )))
            }
        },
    };
    if let Some(bad) = listed
        .iter()
        .find(|n| !offered.interpreters.iter().any(|i| &i.name == *n))
    {
        let known: Vec<&str> = offered
            .interpreters
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        return Err(refuse(format!(
            "notebooks.interpreters: unknown interpreter {bad:?}; one of: {}",
            known.join(", ")
        )));
    }
    let enabled: Vec<&crate::core::blueprint::Interpreter> = offered
        .interpreters
        .iter()
        .filter(|i| i.always || listed.contains(&i.name))
        .collect();
    Ok(Interpreters {
        includes: enabled
            .iter()
            .map(|i| i.group.as_deref().unwrap_or(&i.name))
            .collect::<Vec<_>>()
            .join(","),
        interpreters: enabled.iter().map(|i| i.name.clone()).collect(),
        on: offered
            .interpreters
            .iter()
            .map(|i| (i.name.clone(), enabled.iter().any(|e| e.name == i.name)))
            .collect(),
    })
}

/// Replicated volumes in an environment (`env.storage`), as the blueprint
/// declares them (`replicated_storage`): whether its cluster runs them (the
/// environment's sizing of the declared component), the storage nodes the
/// spec declares and one pool per declared disk. The nodes' preparation is
/// a bootstrap step: kernel settings and the labels of Nodes that the
/// cluster owns are not objects to sync.
pub(crate) fn storage(
    env: &crate::spec::Environment,
    declared: Option<&crate::blueprint::ReplicatedStorage>,
    sizes: &serde_json::Map<String, Value>,
    owns_cluster: bool,
) -> Result<Storage, ModelError> {
    let on = declared.is_some_and(|d| {
        sizes
            .get(&d.component)
            .and_then(|s| s[d.flag.as_str()].as_bool())
            .unwrap_or(false)
    });
    let replicas = declared.map_or(0, |d| d.replicas);
    let nodes = &env.storage_nodes;
    let refuse = |message: String| ModelError::StorageNodes {
        env: env.name.clone(),
        message,
    };
    if !nodes.is_empty() {
        let Some(d) = declared else {
            return Err(refuse(
                "this blueprint has no replicated volumes: remove the storage nodes".into(),
            ));
        };
        if !on {
            return Err(refuse(format!(
                "this environment runs no {} (environments/components/{}.yaml): its volumes are local, remove the storage nodes",
                d.engine, d.component
            )));
        }
        if !owns_cluster {
            return Err(refuse(format!(
                "an earlier environment on the same cluster deploys {}: declare the storage nodes there",
                d.component
            )));
        }
        if nodes.len() < d.replicas {
            return Err(refuse(format!(
                "{} keeps {replicas} replicas of each volume on {replicas} different nodes: declare at least {replicas} storage nodes (found {})",
                d.class,
                nodes.len()
            )));
        }
    }
    let pools: Vec<Pool> = nodes
        .iter()
        .flat_map(|n| {
            n.disks.iter().enumerate().map(move |(k, disk)| Pool {
                name: format!("pool-{}-{}", n.name, k + 1),
                node: n.name.clone(),
                disk: disk.clone(),
            })
        })
        .collect();
    Ok(Storage {
        replicated: on && owns_cluster,
        replicas,
        nodes: nodes
            .iter()
            .map(|n| StorageNode {
                name: n.name.clone(),
                disks: n.disks.clone(),
            })
            .collect(),
        pools,
    })
}

/// A cluster-scoped kind by API group (`""` for the core group).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
pub struct ClusterKind {
    pub group: String,
    pub kind: String,
}

/// Who calls the cloud's storage and token service in an environment.
pub(crate) struct CloudCallers<'a> {
    /// The consumers of cloud buckets with their workload identities, with
    /// whether each signs in by web identity.
    pub identities: &'a BTreeMap<String, bool>,
    /// Those reaching cloud buckets with credentials a catalog vends.
    pub vended: &'a BTreeSet<String>,
    /// The catalogs vending them, which call the token service.
    pub vendors: &'a BTreeSet<String>,
}

/// For each external endpoint the enabled components call: the endpoint and
/// the namespace ids of its callers (sorted). `cloud` says who reaches the
/// environment's cloud buckets (`used_by: cloud_buckets`) and how.
pub(crate) fn endpoint_callers<'m>(
    manifest: &'m Manifest,
    components: &[super::Enabled],
    choices: &BTreeMap<&str, &str>,
    cloud: &CloudCallers<'_>,
    store_consumers: &BTreeSet<String>,
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
                            // Those whose buckets here are all in the cloud's
                            // storage (or unused) do not call the store.
                            Some("buckets") => {
                                c.consumes.buckets.iter().any(|b| chosen(&b.when))
                                    && store_consumers.contains(&c.id)
                            }
                            Some("databases") => !c.consumes.databases.is_empty(),
                            Some("cloud_buckets") => {
                                cloud.identities.contains_key(&c.id) || cloud.vended.contains(&c.id)
                            }
                            Some("pod_identity") => cloud.identities.get(&c.id) == Some(&false),
                            Some("web_identity") => {
                                cloud.identities.get(&c.id) == Some(&true)
                                    || cloud.vendors.contains(&c.id)
                            }
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
pub(crate) fn egress(
    env: &crate::spec::Environment,
    spec: &Spec,
    manifest: &Manifest,
    callers: &[(&crate::blueprint::ExternalEndpoint, Vec<String>)],
    cloud_buckets: bool,
) -> Result<(Network, Egress), ModelError> {
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
    let mut by_ns: BTreeMap<String, Vec<EgressRule>> = BTreeMap::new();
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
            rules.push(EgressRule {
                name: e.name.clone(),
                policy: e.policy.clone(),
                purpose: e.purpose.clone(),
                ports: e.ports.clone(),
                cidrs,
                spec_key: e.name.clone(),
            });
        }
        by_ns.insert(ns.id.clone(), rules);
    }
    let isolated: Vec<&str> = manifest
        .namespaces
        .iter()
        .filter(|n| n.isolated)
        .map(|n| n.id.as_str())
        .collect();
    let cloud_database = env
        .cloud_target()
        .and_then(|t| manifest.clouds.get(t))
        .is_some_and(|c| c.database.is_some());
    for (e, namespaces) in callers {
        // The blueprint accepts only these (`blueprint::ONLY_WITH`).
        let here = match e.only_with.as_deref() {
            Some("backup_target") => env.backup_target.is_some(),
            Some("cloud_database") => cloud_database,
            Some("cloud") => env.cloud_target().is_some(),
            Some("cloud_buckets") => cloud_buckets,
            _ => true,
        };
        if !here {
            continue;
        }
        let given = network.endpoints.get(&e.name);
        // Where the spec gives the endpoint's URL, its port is the one
        // called (a backup target on :9000); else the blueprint's.
        let url = match e.name.as_str() {
            "backup_target" => env.backup_target.as_ref().map(|t| t.endpoint.as_str()),
            "object_storage" => spec.object_storage.as_ref().map(|o| o.endpoint.as_str()),
            _ => None,
        };
        let ports = given
            .and_then(|g| g.ports.clone())
            .or_else(|| url.and_then(crate::core::url::port_of).map(|p| vec![p]))
            .unwrap_or_else(|| e.ports.clone());
        let cidrs = given.map(|g| g.cidrs.clone()).unwrap_or_default();
        for ns in namespaces
            .iter()
            .filter(|ns| isolated.contains(&ns.as_str()))
        {
            by_ns.entry(ns.clone()).or_default().push(EgressRule {
                name: e.name.clone(),
                policy: format!("allow-external-{}", e.name.replace('_', "-")),
                purpose: e.purpose.clone(),
                ports: ports.clone(),
                cidrs: cidrs.clone(),
                spec_key: format!("endpoints.{}", e.name),
            });
        }
    }
    Ok((
        Network {
            api_server: network.api_server,
            nodes: network.nodes,
        },
        by_ns,
    ))
}

#[cfg(test)]
mod tests {

    #[test]
    fn google_account_ids_fit_in_thirty_characters() {
        assert_eq!(
            super::google_account_id("acme-prod", "velero"),
            "acme-prod-velero"
        );
        let long = super::google_account_id("acme-corporation-europe-production", "velero");
        assert!(long.len() <= 30, "{long}");
        assert!(long.starts_with("acme-corporation-europe"), "{long}");
    }

    #[test]
    fn azure_names_fit_and_stay_apart() {
        assert_eq!(super::azure_key_vault("acme-prod"), "acme-prod-kv");
        assert_eq!(super::azure_storage_account("acme-prod"), "acmeprodbackups");
        let long = super::azure_key_vault("a-very-long-client-name-production");
        let other = super::azure_key_vault("a-very-long-client-name-productioN2");
        assert!(long.len() <= 24 && other.len() <= 24, "{long} {other}");
        assert_ne!(long, other);
        assert!(!long.contains("--") && !long.ends_with('-'), "{long}");
        let account = super::azure_storage_account("a-very-long-client-name-production");
        assert!(account.len() <= 24, "{account}");
        assert!(
            account
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{account}"
        );
    }

    use super::quartz;

    #[test]
    fn an_s3_endpoint_by_host_and_tls() {
        let s3 = super::EnvS3::new("https://s3.acme.example:9443/base".into());
        assert_eq!((s3.host.as_str(), s3.tls), ("s3.acme.example:9443", true));
        let s3 = super::EnvS3::new("http://minio.storage.svc".into());
        assert_eq!((s3.host.as_str(), s3.tls), ("minio.storage.svc", false));
    }

    #[test]
    fn a_cron_schedule_reads_the_same_in_quartz() {
        let q = |s: &str| quartz(s).map(|r| r.unwrap_or_else(|e| e));
        assert_eq!(q("0 * * * *").as_deref(), Some("0 0 * * * ?"));
        assert_eq!(q("0 */6 * * *").as_deref(), Some("0 0 */6 * * ?"));
        assert_eq!(q("30 2 1 * *").as_deref(), Some("0 30 2 1 * ?"));
        // Sunday is 0 (or 7) in cron and 1 in Quartz; a step is no day.
        assert_eq!(q("0 3 * * 0").as_deref(), Some("0 0 3 ? * 1"));
        assert_eq!(q("0 3 * * 1-5").as_deref(), Some("0 0 3 ? * 2-6"));
        assert_eq!(q("0 3 * * 7").as_deref(), Some("0 0 3 ? * 1"));
        assert_eq!(q("0 3 * * */2").as_deref(), Some("0 0 3 ? * */2"));
        assert_eq!(q("0 3 * * 1/2").as_deref(), Some("0 0 3 ? * 2/2"));
        assert_eq!(q("0 3 * * MON").as_deref(), Some("0 0 3 ? * MON"));
        assert!(quartz("0 3 1 * 1").is_some_and(|r| r.is_err()));
        assert!(quartz("@daily").is_none());
    }
}
