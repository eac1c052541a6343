//! The system input: the model of one environment that the system rules
//! (`policies/system.rego`, and a repository's own `policies/`) judge. Its
//! JSON Schema is printed by `socle system schema`, so that teams can write
//! their own system rules against it.
//!
//! Rust fills it with what Rego is poor at (kustomize's semantics,
//! NetworkPolicy selectors, chart facts); every judgement is left to Rego.

use schemars::JsonSchema;
use serde::Serialize;

/// A place in the repository: a document (the line it starts on) and,
/// within it, a field as a JSON pointer. socle turns the pointer into the
/// field's own line when it reports a finding there, so the model does not
/// pay for line numbers nobody reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
pub struct At {
    pub file: String,
    pub line: usize,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pointer: String,
}

impl At {
    pub(crate) fn field(doc: &crate::check::parse::Document, path: &[serde_json::Value]) -> Self {
        Self {
            file: doc.path.clone(),
            line: doc.line,
            pointer: crate::check::parse::pointer_of(path),
        }
    }
}

/// One environment: a bootstrap Application and everything it syncs.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct System {
    /// The environment's name (its bootstrap Application's
    /// `socle.dev/environment` label, else the Application's name).
    pub environment: String,
    /// The bootstrap Application.
    pub root: String,
    pub applications: Vec<Application>,
    /// Every AppProject of the repository, by name.
    pub projects: Vec<Project>,
    /// Every object the environment's Applications create.
    pub objects: Vec<Object>,
    /// The kinds each Application creates, per namespace: what an
    /// AppProject admits or refuses (the first object of each is named).
    pub kinds: Vec<KindUse>,
    /// What the objects need, one entry per Application and needed thing
    /// (the first field that names it), with what satisfies it.
    pub needs: Vec<NeedUse>,
    /// Clusters registered in the repository (ArgoCD cluster Secrets, or
    /// ExternalSecrets producing them), plus the in-cluster API.
    pub clusters: Vec<Cluster>,
    /// Servers the repository's configuration declares registered outside it.
    pub external_clusters: Vec<String>,
    /// Objects that exist before the bootstrap Application syncs: ArgoCD's
    /// own (its namespace and CRDs) and those `socle-check.yaml` declares
    /// (`prerequisites:`, e.g. a ClusterSecretStore or an IngressClass the
    /// cluster's owner provides).
    pub prerequisites: Vec<Prerequisite>,
    /// Consumer → provider links read back from the rendered files.
    pub connections: Vec<Connection>,
    /// Object stores (MinIO tenants) and the buckets they create.
    pub stores: Vec<Store>,
    /// Buckets `socle-check.yaml` declares on stores outside the
    /// repository (created by the client).
    pub external_buckets: Vec<String>,
    /// Buckets each Application's configuration names.
    pub bucket_uses: Vec<BucketUse>,
    /// OIDC realms (keycloak-config-cli ConfigMaps, KeycloakRealmImports)
    /// and their clients.
    pub realms: Vec<Realm>,
    /// OIDC clients each Application's configuration signs in with.
    pub oidc_uses: Vec<OidcUse>,
    /// cert-manager issuers, the hosts they sign certificates for (Ingress
    /// blocks that ask for one) and the names their CA certificate is
    /// distributed under.
    pub issuers: Vec<Issuer>,
    /// HTTPS endpoints each Application calls whose certificate an issuer
    /// of the repository signs, with the trust material it names.
    pub tls_uses: Vec<TlsUse>,
    /// The hosts each Application's configuration calls over HTTPS (a
    /// cloud's model picks its services' endpoints among them). Not part
    /// of the rules' input.
    #[serde(skip)]
    #[schemars(skip)]
    pub https_calls: Vec<HostCall>,
    /// The issuers each Application asks for a certificate (Ingress
    /// annotations, in manifests or in Helm values).
    pub issuer_uses: Vec<IssuerUse>,
    /// Where PostgreSQL and Velero write their backups, and whether that
    /// is inside the cluster they protect.
    pub backup_destinations: Vec<BackupDestination>,
    /// This environment's backups must leave its cluster (its name is one
    /// of `core::spec::OFF_CLUSTER_BACKUPS`, the list the spec enforces).
    pub backups_off_cluster: bool,
    /// Admission webhooks, with whether the API server can reach them.
    pub webhooks: Vec<WebhookReach>,
    /// Egress rules open to any destination on a port.
    pub wide_egress: Vec<WideEgress>,
    /// What the model could not follow (remote bases, charts without facts).
    pub not_modelled: Vec<Gap>,
    /// Sources kustomize would refuse to build (a listed file or a
    /// generator's input that is not in the repository, a cycle of bases):
    /// ArgoCD cannot sync their Application at all.
    pub unbuildable: Vec<Gap>,
    /// Namespaces an Application deploys to whose sources are not all
    /// modelled: a Service may exist there that the model does not see.
    pub partly_modelled_namespaces: Vec<String>,
    /// Applications whose sources are not all modelled (a remote base, a
    /// chart without facts, a path outside the repository): they may
    /// create what no object of the model does (a CRD, a namespace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partly_modelled_apps: Vec<String>,
    /// The managed cluster the environment's Terraform (`terraform/<env>/`)
    /// declares, when it declares one.
    pub cloud: Option<Cloud>,
}

/// An EKS cluster as its Terraform declares it: the pod identities it
/// grants and whether it enforces NetworkPolicies.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Cloud {
    pub provider: String,
    /// The cluster's resource.
    pub at: At,
    /// Where the node's Pod Identity agent answers (address:port).
    pub agent: String,
    pub identities: Vec<PodIdentity>,
    /// ServiceAccounts naming a role that does not trust them.
    pub misbound: Vec<Misbound>,
    /// Whether the cluster enforces NetworkPolicies (None: not known).
    pub enforces_policies: Option<bool>,
    /// What decides it: the VPC CNI add-on (or its default, at the
    /// cluster), or an Application installing another network plugin.
    pub enforcement_by: String,
    pub enforcement_at: At,
    /// NetworkPolicies the environment deploys.
    pub network_policies: usize,
    /// Secrets Manager entries the External Secrets operator reads with
    /// its pod identity, each judged against the role's policies.
    pub secret_reads: Vec<SecretRead>,
    /// The S3 buckets the Terraform creates.
    pub buckets: Vec<String>,
    /// What the pod identity of a consumer of an S3 store outside the
    /// cluster is granted on each bucket it uses.
    pub bucket_grants: Vec<BucketGrant>,
    /// The roles a pod identity's role assumes in turn.
    pub assumed_roles: Vec<AssumedRole>,
    /// The Applications naming S3's endpoint that use no bucket grant of
    /// their own (a catalog's clients, with the credentials it vends).
    pub service_calls: Vec<ServiceCall>,
    /// Consumers of a bucket the Terraform creates none of whose service
    /// accounts has a pod identity.
    pub unsigned: Vec<Unsigned>,
    /// Consumers of a bucket the Terraform creates whose pods are given
    /// access keys from a Secret.
    pub keyed: Vec<Keyed>,
    /// On EKS: consumers of a bucket the Terraform creates, and of no
    /// other, whose storage client's configuration gives it an access key.
    pub configured_keys: Vec<KeyFile>,
    /// Consumers of a bucket in Cloud Storage the Terraform creates whose
    /// pods point Google's clients at a credentials file.
    pub key_files: Vec<KeyFile>,
    /// On AKS: consumers of a container whose storage account refuses
    /// shared keys, whose configuration signs in with one (or a SAS).
    pub shared_keys: Vec<SharedKey>,
    /// ExternalName Services forwarding to a name in a private DNS zone
    /// the Terraform declares, with whether a record of the zone has it.
    pub private_names: Vec<PrivateName>,
    /// Connections to a managed service the Terraform places in known
    /// subnets, with the subnets the consumer's egress does not reach.
    pub managed_reaches: Vec<ManagedReach>,
    /// On GKE: each use of a bucket the Terraform creates, with the IAM
    /// roles the consumer's Kubernetes service accounts hold on it.
    pub gcs_grants: Vec<GcsGrant>,
    /// On GKE: whether the cluster has a workload pool, without which no
    /// pod gets its service account's identity; on AKS, whether it issues
    /// workload identity tokens (its OIDC issuer and the webhook on). None:
    /// not known, or another cloud.
    pub workload_pool: Option<bool>,
    /// On GKE: the node pools (or the cluster's default one) whose pods see
    /// the node's own metadata (`GCE_METADATA`), and get the node's
    /// identity instead of their service account's.
    pub node_metadata_pools: Vec<At>,
}

/// A consumer of a Cloud Storage bucket of a GKE cluster's Terraform, and
/// what IAM grants its service accounts (Workload Identity Federation for
/// GKE: each one is a principal of its own) on the bucket.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct GcsGrant {
    pub consumer: String,
    pub bucket: String,
    /// `read` or `write` (see [`BucketUse::access`]).
    pub access: String,
    /// Where the consumer names the bucket.
    pub at: At,
    /// Its namespace/service account pairs.
    pub accounts: Vec<String>,
    /// The roles they hold on the bucket (or the project), with where each
    /// is granted.
    pub roles: Vec<String>,
    pub places: Vec<String>,
    /// Whether one of the roles gives the access.
    pub allowed: bool,
    /// Egress from the consumer's namespace to Google's APIs on 443, and
    /// where they answer (a private zone's addresses, or public ones).
    pub reach: Verdict,
    pub endpoint: String,
    /// On AKS, the storage accounts the Terraform creates a container of
    /// that name in (their names where known before a plan), and those
    /// the consumer's configuration names (see
    /// [`BucketUse::storage_accounts`]; empty: not said, not judged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holding_accounts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub named_accounts: Vec<String>,
    /// On AKS, why the container's service answers at no address the
    /// consumer could reach, whatever its egress ("" when it answers
    /// somewhere): an account with a hierarchical namespace that refuses
    /// public network access and has no Data Lake private endpoint.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unreachable: String,
}

/// A connection to a managed service (an RDS instance behind a private
/// record) and whether the consumer's egress reaches every subnet where
/// the service may answer (a Multi-AZ standby takes over in another).
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct ManagedReach {
    pub consumer: String,
    pub consumer_namespace: String,
    pub host: String,
    pub port: u16,
    pub at: At,
    /// The Terraform resource of the service.
    pub service_at: At,
    pub subnets: Vec<String>,
    /// Subnets egress from the namespace does not reach on the port.
    pub unreached: Vec<String>,
    /// The policies that isolate the namespace's egress.
    pub egress: Verdict,
    /// Whether the connection's egress verdict (any address of an
    /// ipBlock) already allows it: when it does not, SOC-SYS-005 says so.
    pub egress_allowed: bool,
}

/// An ExternalName Service whose host falls in a private zone.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct PrivateName {
    pub app: String,
    /// namespace/name of the Service.
    pub service: String,
    pub host: String,
    pub zone: String,
    /// The zone's resource.
    pub zone_at: At,
    /// The Service's `externalName`.
    pub at: At,
    /// A record of the zone has the host's name.
    pub resolves: bool,
}

/// A consumer's pod identity and the S3 actions its role's policies grant
/// on a bucket it uses.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct BucketGrant {
    pub consumer: String,
    pub bucket: String,
    /// `read` or `write` (see [`BucketUse::access`]).
    pub access: String,
    /// Where the consumer names the bucket.
    pub at: At,
    /// namespace/service account.
    pub identity: String,
    pub role: String,
    pub policies: Vec<String>,
    /// The S3 actions the role may take on the bucket.
    pub actions: Vec<String>,
    /// Egress from the identity's namespace to S3 on 443, and where S3
    /// answers (its interface endpoint's subnets, or its public endpoint).
    pub reach: Verdict,
    pub endpoint: String,
}

/// A role a pod identity's role may assume in turn (role chaining: a
/// catalog assuming the role whose credentials it vends its clients): STS
/// hands its credentials out only if its trust policy admits the first
/// role, at STS's endpoint, which the pods must reach.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct AssumedRole {
    /// namespace/service account of the pods taking the first role.
    pub identity: String,
    /// Where that identity is given.
    pub at: At,
    /// The first role, and the one its policies let it assume.
    pub role: String,
    pub assumes: String,
    pub assumes_at: At,
    /// Where the first role's policies are.
    pub policies: Vec<String>,
    /// The buckets the first role's pods use, with what the second role
    /// may do on each, where it grants S3 at all (a catalog's vending
    /// role: its clients get no more).
    pub buckets: Vec<AssumedBucket>,
    /// Whether the second role's trust policy admits the first (None: not
    /// known before a plan).
    pub trusted: Option<bool>,
    /// Egress from the identity's namespace to STS on 443, and where STS
    /// answers.
    pub reach: Verdict,
    pub endpoint: String,
}

/// A bucket the pods of a role use, and what a role it assumes may do on
/// it.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct AssumedBucket {
    pub bucket: String,
    /// `read` or `write`: the pods' own use.
    pub access: String,
    /// The S3 actions the assumed role may take on it.
    pub actions: Vec<String>,
}

/// A consumer of a bucket the Terraform creates, with no pod identity.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Unsigned {
    pub consumer: String,
    pub bucket: String,
    /// Where the consumer names the bucket.
    pub at: At,
    /// The namespace/service account pairs its pods run under.
    pub accounts: Vec<String>,
}

/// A consumer of a bucket the Terraform creates whose pods are given
/// access keys, which the AWS SDKs take before their pod identity.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Keyed {
    pub consumer: String,
    pub bucket: String,
    /// Where the consumer names the bucket.
    pub at: At,
    /// namespace/name of the Secret its pods take the keys from.
    pub secret: String,
    /// The key holding the access key's id.
    pub key: String,
    /// How the ExternalSecret fills it (`from entry <name>`…).
    pub filled: String,
    /// The ExternalSecret producing the Secret.
    pub external_secret: At,
}

/// A consumer of a bucket the Terraform creates whose pods sign in with a
/// key they are given rather than their workload identity: on GKE, they
/// set `GOOGLE_APPLICATION_CREDENTIALS`, which Google's clients read before
/// the metadata server, or their storage client's configuration names a
/// key (a Hadoop key file, Trino's `gcs.json-key`, Dremio's `use_keyfile`);
/// on EKS, their storage client's configuration gives it an access key.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct KeyFile {
    pub consumer: String,
    pub bucket: String,
    /// Where the consumer names the bucket.
    pub at: At,
    /// The variable or setting that gives the key.
    pub setting: String,
    /// What it is set to: a path, or where its value comes from.
    pub value: String,
    /// Where it is set: a container's environment, the Helm values, or
    /// the configuration holding the setting.
    pub set_at: At,
    /// How to take the key away.
    pub fix: String,
}

/// A consumer of a container in a storage account that refuses shared
/// keys (`shared_access_key_enabled = false`) whose storage client is given
/// the account's key, a SAS or a connection string holding one: Azure
/// Storage refuses every request it signs.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct SharedKey {
    pub consumer: String,
    pub bucket: String,
    /// Where the consumer names the container.
    pub at: At,
    /// The storage account, and where the Terraform declares it.
    pub account: String,
    pub account_at: At,
    /// The setting or variable that gives the key, what it is set to (a
    /// reference, or that it is written inline), and where.
    pub setting: String,
    pub value: String,
    pub set_at: At,
}

/// One entry an ExternalSecret reads from Secrets Manager as the operator.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct SecretRead {
    pub app: String,
    /// namespace/name.
    pub external_secret: String,
    pub key: String,
    pub at: At,
    pub store: String,
    pub region: String,
    /// The operator's namespace/service account.
    pub operator: String,
    /// The role its pod identity gives it (a Terraform reference).
    pub role: String,
    /// Where the role's policies are declared.
    pub policies: Vec<String>,
    /// Whether the policies let the role read the entry.
    pub allowed: bool,
    /// Egress from the operator's namespace to Secrets Manager on 443, and
    /// where it answers.
    pub reach: Verdict,
    pub endpoint: String,
    /// Whether the secret manager admits the entry's name at all (Google's
    /// Secret Manager: letters, digits, `_` and `-`; Key Vault: letters,
    /// digits and `-`). None where not judged.
    pub name_valid: Option<bool>,
}

/// A service account that gets an AWS role: through EKS Pod Identity, or
/// as an IAM role for service accounts (IRSA).
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct PodIdentity {
    pub namespace: String,
    pub service_account: String,
    pub at: At,
    /// Egress from the namespace's pods to where their credentials come
    /// from: the node's Pod Identity agent (`pod-identity`), or STS, where
    /// an `irsa` pod exchanges its token (on every subnet of its interface
    /// endpoint, whichever address the name resolves to).
    pub agent: Verdict,
    /// That place, for a reader: the agent's address, or STS's endpoint
    /// and the subnets it answers from.
    pub credentials_from: String,
    /// The namespace exists in the environment (an Application creates
    /// it, or the cluster has it).
    pub namespace_exists: bool,
    /// A workload of the environment runs as the account (None: an
    /// Application deploys there whose accounts the model does not know).
    pub account_exists: Option<bool>,
    /// How its pods get the role: `pod-identity` (an association: the
    /// node's agent takes the role for them) or `irsa` (the role's trust
    /// policy names the account: their SDK takes it with the account's
    /// projected token).
    pub mechanism: String,
    /// The role (its name, where the Terraform gives one).
    pub role: String,
    /// Whether the role's trust policy lets the mechanism take it (None:
    /// not known before a plan).
    pub trusted: Option<bool>,
    /// `irsa` only: whether the ServiceAccount names the role in
    /// `eks.amazonaws.com/role-arn`, without which its pods get no token
    /// (None: the account is not an object of the environment, a chart's
    /// say, or the mechanism is not `irsa`). On AKS, whether it names a
    /// client ID in `azure.workload.identity/client-id`, without which the
    /// webhook gives its pods no identity.
    pub annotated: Option<bool>,
    /// On AKS: whether the pods running as the account carry the label
    /// `azure.workload.identity/use: "true"`, without which the webhook
    /// leaves them alone (None: no such pod is seen, or not AKS).
    pub labelled: Option<bool>,
}

/// A ServiceAccount naming, in `eks.amazonaws.com/role-arn`, a role of the
/// environment's Terraform whose trust policy does not let it take the role.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Misbound {
    pub namespace: String,
    pub service_account: String,
    /// The ServiceAccount.
    pub at: At,
    pub role: String,
    pub role_at: At,
    /// The accounts the role trusts by web identity
    /// (`namespace/account`, with IAM's wildcards).
    pub trusted_accounts: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Application {
    pub name: String,
    pub at: At,
    pub project: String,
    /// `argocd.argoproj.io/sync-wave` of the Application, 0 when unset.
    pub wave: i64,
    /// The Application that syncs this one (None for the bootstrap).
    pub parent: Option<String>,
    pub destination: Destination,
    pub sources: Vec<Source>,
    #[serde(rename = "syncOptions")]
    pub sync_options: Vec<String>,
    /// `app.kubernetes.io/component` label.
    pub component: Option<String>,
    /// Whether its project admits its destination (None: no such project).
    pub destination_permitted: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Destination {
    pub server: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Source {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    pub path: Option<String>,
    pub chart: Option<String>,
    #[serde(rename = "targetRevision")]
    pub target_revision: Option<String>,
    /// `ref` of a values-only source.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// How the source was modelled: `kustomize`, `directory`, `chart`
    /// (from the chart facts), `values` (a `ref` source), `remote` (another
    /// repository), or `none` (could not be modelled).
    pub model: String,
    pub at: At,
    /// Whether the Application's project lists the repository in
    /// `sourceRepos` (None: no such project).
    pub permitted: Option<bool>,
}

impl Source {
    /// The chart it deploys, as (repository, chart): `chart` from
    /// `repoURL`, or an OCI source's (`oci://registry/path/chart`, ArgoCD
    /// 3.1+), whose URL names the chart in its last segment.
    pub(crate) fn chart_ref(&self) -> Option<(&str, &str)> {
        match &self.chart {
            Some(chart) => Some((self.repo_url.as_str(), chart.as_str())),
            None if self.repo_url.starts_with("oci://") => self.repo_url.rsplit_once('/'),
            None => None,
        }
    }

    /// The facts of the chart it deploys, at its version.
    pub(crate) fn chart_facts<'f>(
        &self,
        facts: &'f crate::core::charts::ChartFacts,
    ) -> Option<&'f crate::core::charts::Chart> {
        let (repo, chart) = self.chart_ref()?;
        let version = self.target_revision.as_deref().unwrap_or_default();
        facts.get(repo, chart, version)
    }
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Project {
    pub name: String,
    pub at: At,
    /// The AppProject's `spec`, as written.
    pub spec: serde_json::Value,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Object {
    /// The Application that creates it.
    pub app: String,
    pub group: String,
    pub kind: String,
    pub name: String,
    /// For a generated object, its name before kustomize's hash suffix
    /// (references in the same build name it so).
    pub base_name: String,
    /// Effective namespace (its own, else the destination's); empty for
    /// cluster-scoped objects.
    pub namespace: String,
    /// Whether the kind is namespaced; None when no CRD or fact says.
    pub namespaced: Option<bool>,
    /// The creating Application's wave.
    pub wave: i64,
    pub at: At,
    /// `manifest`, `generator` or `chart`.
    pub origin: String,
    /// The object's `argocd.argoproj.io/sync-options` annotation.
    pub sync_options: Vec<String>,
    /// For a CRD: the group and kind it defines.
    pub defines: Option<GroupKind>,
    /// For an ExternalSecret: the Secret it produces.
    pub produces: Option<String>,
    /// What must exist for the API server to accept it and for it to run
    /// (moved to the system's `needs` once resolved).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<Need>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct KindUse {
    pub app: String,
    pub group: String,
    pub kind: String,
    pub namespaced: Option<bool>,
    pub namespace: String,
    /// `Kind name` of the first such object.
    pub object: String,
    pub at: At,
    /// Whether the project admits the kind (its scope's whitelist and
    /// blacklist), as ArgoCD evaluates them; None: no such project.
    pub kind_permitted: Option<bool>,
    /// For a namespaced kind: whether the project admits the namespace as
    /// a destination on the Application's cluster.
    pub namespace_permitted: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct NeedUse {
    pub app: String,
    /// `Kind name` of the first object with this need.
    pub object: String,
    /// Whether the object sets SkipDryRunOnMissingResource=true.
    pub skip_dry_run: bool,
    pub need: Need,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Need {
    /// `namespace`, `crd`, `storageclass`, `secretstore`,
    /// `clustersecretstore`, `serviceaccount`, `configmap`, `secret`,
    /// `ingressclass`.
    pub what: String,
    pub group: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// The field that names it.
    pub at: At,
    /// What in the environment satisfies it: objects of that kind and name
    /// (CRDs defining the kind, ExternalSecrets producing the Secret), and
    /// Applications that create the namespace (`CreateNamespace=true`).
    pub providers: Vec<Provided>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Provided {
    pub app: String,
    pub wave: i64,
    pub at: At,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Prerequisite {
    pub group: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// Where it is declared (empty for ArgoCD's own).
    pub at: At,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Cluster {
    pub server: String,
    pub name: String,
    pub at: At,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Connection {
    /// The consuming Application and the namespace its pods run in.
    pub consumer: String,
    pub consumer_namespace: String,
    /// Where the consumer names the provider.
    pub at: At,
    /// As written (`host:port`).
    pub address: String,
    pub service: String,
    pub namespace: String,
    pub port: u16,
    /// For a PostgreSQL connection: the database and role it asks for.
    pub database: Option<String>,
    pub role: Option<String>,
    /// An Ingress route, from the ingress controller's pods to a backend:
    /// the controller serves routes whose backends come later, so no wave
    /// order is asked of it.
    pub routed: bool,
    /// The provider's Service, when the model has it.
    pub provider: Option<Provider>,
    pub egress: Verdict,
    pub ingress: Verdict,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Provider {
    pub app: String,
    pub wave: i64,
    pub at: At,
    pub ports: Vec<u16>,
    /// Whether the Service serves the connection's port.
    pub port_served: bool,
    /// For an ExternalName Service: the outside host it names, which the
    /// consumer's pods call directly (only an ipBlock admits them).
    pub external_name: Option<String>,
    /// For a CloudNativePG cluster's Service, or a managed PostgreSQL's
    /// that a provisioning Job fills: the databases and roles it declares
    /// (None for any other Service).
    pub databases: Option<Vec<String>>,
    pub roles: Option<Vec<String>>,
}

/// A NetworkPolicy verdict for one direction of one flow, as Kubernetes
/// evaluates it.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Verdict {
    pub allowed: bool,
    /// Whether any policy selects the pods for this direction.
    pub isolated: bool,
    /// The policy whose rule allows the flow.
    pub allowed_by: Option<At>,
    /// The policies that isolate the pods (where a fix goes).
    pub isolated_by: Vec<At>,
    /// For a cloud service's public endpoint: the range of the rule that
    /// allows it when that range holds only part of the public addresses.
    /// The service's addresses are not known, so the flow is taken as
    /// allowed and SOC-SYS-033 warns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_range: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct WebhookReach {
    pub app: String,
    pub name: String,
    pub service: String,
    pub namespace: String,
    pub port: u16,
    pub at: At,
    /// Ingress to the webhook's pods from the API server (which is not a
    /// pod: only rules with no `from`, or an ipBlock, admit it).
    pub ingress: Verdict,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Store {
    pub app: String,
    pub namespace: String,
    /// The Service of its S3 API.
    pub service: String,
    pub buckets: Vec<String>,
    /// Where its bucket list is written.
    pub at: At,
    /// False when a file holding its bucket list could not be read: its
    /// buckets are then unknown, not absent.
    pub modelled: bool,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct BucketUse {
    pub consumer: String,
    pub at: At,
    pub bucket: String,
    /// The prefix the consumer's objects are under, where every place
    /// naming the bucket says so (an Elasticsearch repository's
    /// `base_path`): its grants are judged on those objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `namespace/service` of the stores the consumer connects to (empty:
    /// an endpoint outside the model, e.g. an external S3 store).
    pub stores: Vec<String>,
    /// `read` or `write`: the access the consumer needs. A configuration
    /// names a bucket without saying whether it reads or writes it, and
    /// `socle check` judges a repository by its files alone (the blueprint
    /// that declares each use's access is not among them), so a use needs
    /// `write` unless every place naming the bucket marks it read-only
    /// beside it (`accessMode: ReadOnly`, `readOnly: true`): assuming less
    /// would pass a consumer whose writes MinIO refuses.
    pub access: String,
    /// What the consumer's S3 identity is granted on the bucket, one entry
    /// per identity on each store it reaches whose users and policies the
    /// model reads (empty: not judged).
    pub grants: Vec<Grant>,
    /// On the client's S3 store outside the cluster (`socle-check.yaml`
    /// declares the bucket there): its URL, and whether the consumer's
    /// namespace may call it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside: Option<OutsideUse>,
    /// The Azure storage accounts the consumer's configuration names (an
    /// account name, a blob or Data Lake endpoint): a container name is
    /// one account's, so the container it uses is in one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage_accounts: Vec<String>,
    /// The settings of the consumer's configuration that make its Google
    /// Cloud Storage client sign in with a key, not the pod's identity:
    /// (setting, value, where). Read by the GKE model; not part of the
    /// rules' input.
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) google_keys: Vec<(String, String, At)>,
    /// The settings of the consumer's configuration that make its Azure
    /// Storage client sign in with the account's shared key or a SAS:
    /// (setting, value as a report may show it, where). Read by the AKS
    /// model; not part of the rules' input.
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) azure_keys: Vec<(String, String, At)>,
    /// The settings of the consumer's configuration that give its S3
    /// client a static access key: (setting, value as a report may show
    /// it, the bucket a per-bucket setting is for, where). Read by the EKS
    /// model; not part of the rules' input.
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) aws_keys: Vec<(String, String, Option<String>, At)>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OutsideUse {
    pub endpoint: String,
    pub egress: OutsideEgress,
}

/// A MinIO user of a consumer and what its policy lets it do on a bucket,
/// as the store's `minio-policies` ConfigMap (`bindings.json` and one
/// `<policy>.json` per user) declares them.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Grant {
    /// `namespace/service` of the store.
    pub store: String,
    /// The user, named by the Secret holding its keys (a `bindings.json`
    /// key), whose secret-store entry the consumer's ExternalSecrets read;
    /// None when the consumer reads none of the store's users' entries.
    pub identity: Option<String>,
    /// The policy bound to that user.
    pub policy: Option<String>,
    /// Where the policy is written (its key in the ConfigMap); the
    /// bindings when there is no identity or no such policy.
    pub at: At,
    /// Which of `s3:ListBucket` (on the bucket), `s3:GetObject`,
    /// `s3:PutObject` and `s3:DeleteObject` (on every object of the bucket)
    /// the policy allows, as IAM evaluates it (wildcards, `NotAction`,
    /// `NotResource`, Deny over Allow, a conditional Allow counting for
    /// nothing); None when the grants are unknown.
    pub actions: Option<Vec<String>>,
    /// Why the grants are unknown: the policy or the bindings do not
    /// parse, or the bound policy is not in the ConfigMap.
    pub unknown: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Realm {
    pub app: String,
    pub name: String,
    pub at: At,
    pub clients: Vec<RealmClient>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct RealmClient {
    pub client_id: String,
    pub public: bool,
    /// The browser sign-in (authorization code) flow.
    pub standard_flow: bool,
    /// Client credentials (a service account).
    pub service_account: bool,
    /// Absolute (resolved against `rootUrl`).
    pub redirect_uris: Vec<String>,
    pub redirect_hosts: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct OidcUse {
    pub consumer: String,
    pub at: At,
    pub client: String,
    /// Realms the consumer's configuration names (`.../realms/<name>`).
    pub realms: Vec<String>,
    /// Hosts the consumer's configuration names (its own public hosts
    /// among them).
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Issuer {
    /// `ClusterIssuer` or `Issuer`.
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// Not an ACME issuer: its certificates are trusted only by those
    /// given its CA.
    pub private: bool,
    pub at: At,
    pub hosts: Vec<String>,
    /// Secrets and bundles that carry its CA certificate.
    pub trust: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct IssuerUse {
    pub consumer: String,
    pub at: At,
    /// `ClusterIssuer` or `Issuer`.
    pub kind: String,
    pub issuer: String,
    /// A host whose certificate it asks for.
    pub host: String,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct TlsUse {
    pub consumer: String,
    pub at: At,
    pub host: String,
    pub issuer_kind: String,
    pub issuer: String,
    /// Trust material (an issuer's `trust` names) the consumer's
    /// configuration names.
    pub trusts: Vec<String>,
}

/// A host an Application's configuration calls over HTTPS (the model's,
/// never the rules' input).
#[derive(Debug, Clone, Default)]
pub struct HostCall {
    pub consumer: String,
    pub at: At,
    pub host: String,
}

/// An Application calling one of the cloud's services at an endpoint its
/// configuration names (S3's, for a catalog's clients whose credentials it
/// vends), whatever identity signs the calls: its pods must reach it.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct ServiceCall {
    pub consumer: String,
    pub at: At,
    pub host: String,
    /// The namespace its pods run in.
    pub namespace: String,
    /// Egress from that namespace to the service on 443, and where the
    /// service answers.
    pub reach: Verdict,
    pub endpoint: String,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct BackupDestination {
    pub app: String,
    /// `postgresql` (base backups and WAL), `elasticsearch` (snapshots)
    /// or `velero`.
    pub tool: String,
    pub at: At,
    pub endpoint: String,
    /// The endpoint's host is a Service of the cluster (a `.svc` name, a
    /// name cluster DNS resolves, a Service the model knows).
    pub in_cluster: bool,
    /// Off the cluster: the namespace whose pods write the backups, the
    /// port they call, and whether its NetworkPolicies let them out there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<OutsideEgress>,
}

/// Egress from a namespace to a host outside the cluster.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OutsideEgress {
    pub namespace: String,
    pub port: u16,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct WideEgress {
    pub namespace: String,
    pub policy: String,
    pub at: At,
    pub ports: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
pub struct Gap {
    pub app: String,
    pub at: At,
    pub message: String,
}

/// The schema of [`System`], for `socle system schema`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(System)).unwrap_or_default()
}
