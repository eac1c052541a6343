//! A GKE cluster as its environment's Terraform declares it: whether it
//! enforces the NetworkPolicies the environment deploys, the Cloud Storage
//! buckets the Terraform creates (which consumers name in their
//! `dremiogcs:///` and `gs://` URLs), the IAM roles each consumer's
//! Kubernetes service accounts hold on them, and those the External
//! Secrets operator's holds on the Secret Manager entries the
//! ExternalSecrets read: with Workload Identity Federation for GKE an
//! account is an IAM principal of its own, so an account no grant names is
//! refused. The managed database and the reach of Google's APIs are not
//! read: the gap says so, so that a green check is not taken for a judged
//! one.

use serde_json::Value;

use super::build::Modelled;
use super::cloud::at;
use std::net::{IpAddr, Ipv4Addr};

use super::input::{
    At, BucketUse, Cloud, Gap, GcsGrant, ManagedReach, PodIdentity, PrivateName, SecretRead,
    Verdict,
};
use super::kustomize::Files;
use super::network::{Peer, PodPort};
use crate::check::terraform::{Evaluator, Instance, Located, Module};
use crate::core::charts::ChartFacts;
use crate::core::clouds;

/// The roles that let a principal read a bucket's objects (list and get),
/// and those that also let it write and delete them.
const READS: &[&str] = &[
    "roles/storage.objectViewer",
    "roles/storage.objectUser",
    "roles/storage.objectAdmin",
    "roles/storage.admin",
];
/// The grants read: on buckets, on the project, on Secret Manager entries.
const IAM_KINDS: [&str; 6] = [
    "google_storage_bucket_iam_member",
    "google_storage_bucket_iam_binding",
    "google_project_iam_member",
    "google_project_iam_binding",
    "google_secret_manager_secret_iam_member",
    "google_secret_manager_secret_iam_binding",
];

const WRITES: &[&str] = &[
    "roles/storage.objectUser",
    "roles/storage.objectAdmin",
    "roles/storage.admin",
];

pub(crate) fn resolve(
    m: &Modelled,
    files: &Files,
    facts: &ChartFacts,
    module: &Module,
    cluster: &Located,
    gaps: &mut Vec<Gap>,
) -> Cloud {
    let mut cloud = judge(
        module,
        cluster,
        &m.system.root,
        super::cloud::network_policies(m),
        super::cloud::policy_plugin(m),
        gaps,
    );
    let uses: Vec<(&BucketUse, Vec<(String, String)>)> = m
        .system
        .bucket_uses
        .iter()
        .filter(|u| cloud.buckets.contains(&u.bucket))
        .map(|u| (u, super::cloud_iam::accounts(m, facts, &u.consumer)))
        .collect();
    // The IAM grants of the roles judged here, read once; what only a
    // plan knows of them is said once.
    let ev = Evaluator::new(module);
    let symbolic = Evaluator::symbolic(module);
    let root = m.system.root.clone();
    let gap = move |file: &str, line: usize, message: String| Gap {
        app: root.clone(),
        at: at(file, line),
        message,
    };
    let roles: Vec<&str> = READS.iter().chain(SECRET_READERS).copied().collect();
    let iam = iam_grants(module, &symbolic, &IAM_KINDS, &roles, &gap, gaps);
    let pool = pool(&symbolic, cluster, &iam);
    let acting = pool
        .as_deref()
        .map(|p| impersonations(m, files, facts, module, &ev, &symbolic, p))
        .unwrap_or_default();
    cloud.gcs_grants = grants(cluster, &uses, &iam, pool.as_deref(), &acting, &gap, gaps);
    // A key the Terraform issues itself may be the file a consumer's pods
    // name: those are then not judged rather than denied.
    let issued = ["google_service_account_key", "google_storage_hmac_key"]
        .into_iter()
        .find_map(|kind| module.resources(kind).next());
    if let Some(k) = issued {
        gaps.push(gap(
            &k.file,
            k.line,
            "this Terraform issues keys: whether a bucket's consumer signs in with them rather than its workload identity is not judged".into(),
        ));
    } else {
        cloud.key_files = super::cloud_keys::key_files(m, files, &cloud.buckets);
    }
    (cloud.workload_pool, cloud.node_metadata_pools) = node_identity(
        module,
        &ev,
        &symbolic,
        cluster,
        pool.is_some(),
        gaps,
        &m.system.root,
    );
    let operators = super::cloud::operators(m, facts);
    if let Some(pool) = &pool {
        cloud.secret_reads = secret_reads(
            m, files, module, &symbolic, &iam, pool, gaps, &gap, &operators,
        );
        cloud.identities = identities(m, facts, &iam, pool);
    } else if cloud.workload_pool == Some(false) {
        // No pool: the accounts the grants name, in whatever pool, are
        // those whose grants are void.
        cloud.identities = identities(m, facts, &iam, "");
    } else if !operators.is_empty() {
        gaps.push(Gap {
            app: m.system.root.clone(),
            at: at(&cluster.file, cluster.line),
            message: "the cluster's workload pool is not known before a plan: which entries of Secret Manager External Secrets may read, and whose pods take an identity, is not judged".into(),
        });
    }
    (cloud.private_names, cloud.managed_reaches) = managed_names(m, module, &ev, &symbolic, gaps);
    // Where the pods' calls go: Google's APIs, and the metadata server
    // their identity comes from.
    let net = super::wiring::network(m);
    let (apis, endpoint) = google_apis(module, &symbolic, &m.system.root, gaps);
    let reach = |namespace: &str| -> Verdict {
        let from = Peer::Pods {
            namespace,
            labels: None,
        };
        let port = PodPort {
            number: Some(clouds::GOOGLE_API_PORT),
            name: None,
        };
        match &apis {
            Apis::Public => net.verdict(&from, &Peer::Public, &port, true),
            Apis::Private(addresses) => addresses
                .iter()
                .map(|a| net.verdict(&from, &Peer::Address(IpAddr::V4(*a)), &port, true))
                .find(|v| !v.allowed)
                .unwrap_or(Verdict {
                    allowed: true,
                    ..Verdict::default()
                }),
        }
    };
    for r in &mut cloud.secret_reads {
        let namespace = r.operator.split('/').next().unwrap_or_default().to_owned();
        r.reach = reach(&namespace);
        r.endpoint.clone_from(&endpoint);
    }
    for g in &mut cloud.gcs_grants {
        // Its pods run in its Application's namespace (the accounts').
        let namespace = g
            .accounts
            .first()
            .and_then(|a| a.split('/').next())
            .unwrap_or_default()
            .to_owned();
        g.reach = reach(&namespace);
        g.endpoint.clone_from(&endpoint);
    }
    let metadata = Peer::Address(IpAddr::V4(clouds::GKE_METADATA_SERVER));
    let port = PodPort {
        number: Some(clouds::GKE_METADATA_PORT),
        name: None,
    };
    for i in &mut cloud.identities {
        let from = Peer::Pods {
            namespace: &i.namespace,
            labels: None,
        };
        i.agent = net.verdict(&from, &metadata, &port, true);
    }
    cloud
}

/// Where Google's APIs answer the cluster's pods.
enum Apis {
    /// At their public addresses (no private zone for them).
    Public,
    /// At the addresses a private `googleapis.com.` zone gives them.
    Private(Vec<Ipv4Addr>),
}

/// Where the Terraform sends the pods' calls to Google's APIs: a private
/// zone `googleapis.com.` whose `*.googleapis.com.` name points at
/// private.googleapis.com (or restricted), with that name's A records;
/// or, without such a zone, their public addresses. A zone that does not
/// say it is read as public, with a gap.
fn google_apis(
    module: &Module,
    symbolic: &Evaluator<'_>,
    root: &str,
    gaps: &mut Vec<Gap>,
) -> (Apis, String) {
    let public = || {
        (
            Apis::Public,
            format!(
                "Google's public API addresses, port {}",
                clouds::GOOGLE_API_PORT
            ),
        )
    };
    let single = |r: &Located, k: &str| symbolic.attribute(&r.block, k, &Instance::Single);
    let Some(zone) = module.resources("google_dns_managed_zone").find(|z| {
        single(z, "dns_name") == Some(Value::String("googleapis.com.".into()))
            && single(z, "visibility") == Some(Value::String("private".into()))
    }) else {
        return public();
    };
    let zone_names: Vec<String> = [
        zone.resource()
            .map(|(_, n)| format!("${{google_dns_managed_zone.{n}.name}}")),
        match single(zone, "name") {
            Some(Value::String(n)) => Some(n),
            _ => None,
        },
    ]
    .into_iter()
    .flatten()
    .collect();
    let records: Vec<&Located> = module
        .resources("google_dns_record_set")
        .filter(|r| {
            matches!(single(r, "managed_zone"), Some(Value::String(z)) if zone_names.contains(&z))
        })
        .collect();
    let record = |name: &str, kind: &str| {
        records.iter().find(|r| {
            single(r, "name") == Some(Value::String(name.into()))
                && single(r, "type") == Some(Value::String(kind.into()))
        })
    };
    let vip = match record("*.googleapis.com.", "CNAME").map(|r| single(r, "rrdatas")) {
        Some(Some(Value::Array(to))) => to
            .first()
            .and_then(Value::as_str)
            .filter(|t| clouds::GOOGLE_API_VIPS.contains(t))
            .map(str::to_owned),
        _ => None,
    };
    let addresses: Option<Vec<Ipv4Addr>> = vip
        .as_deref()
        .and_then(|v| record(v, "A"))
        .and_then(|r| match single(r, "rrdatas") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().and_then(|s| s.parse().ok()))
                .collect(),
            _ => None,
        })
        .filter(|a: &Vec<Ipv4Addr>| !a.is_empty());
    match (vip, addresses) {
        (Some(vip), Some(addresses)) => {
            let text = addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            (
                Apis::Private(addresses),
                format!(
                    "{} ({text}), port {}, by the private zone {}",
                    vip.trim_end_matches('.'),
                    clouds::GOOGLE_API_PORT,
                    zone.file
                ),
            )
        }
        _ => {
            gaps.push(Gap {
                app: root.to_owned(),
                at: at(&zone.file, zone.line),
                message: "the private zone googleapis.com. has no *.googleapis.com. CNAME to private.googleapis.com. or restricted.googleapis.com. with known A records: where the pods reach Google's APIs is judged as their public addresses".into(),
            });
            public()
        }
    }
}

/// The Kubernetes service accounts the Terraform grants a storage or
/// Secret Manager role, in the cluster's pool: each one's pods take that
/// identity from the metadata server (their reach of it is set by the
/// caller).
fn identities(m: &Modelled, facts: &ChartFacts, iam: &[IamGrant], pool: &str) -> Vec<PodIdentity> {
    let mut out: Vec<PodIdentity> = Vec::new();
    for g in iam {
        for member in &g.members {
            let Some((namespace, account)) = principal(member, pool) else {
                continue;
            };
            if let Some(i) = out
                .iter_mut()
                .find(|i| i.namespace == namespace && i.service_account == account)
            {
                if !i.role.split(", ").any(|r| r == g.role) {
                    i.role = format!("{}, {}", i.role, g.role);
                }
                continue;
            }
            let namespace_exists = clouds::GKE_SYSTEM_NAMESPACES.contains(&namespace.as_str())
                || super::cloud::namespace_created(m, &namespace);
            out.push(PodIdentity {
                account_exists: super::cloud::account_exists(m, facts, &namespace, &account),
                namespace,
                service_account: account,
                at: g.at.clone(),
                agent: Verdict::default(),
                credentials_from: format!(
                    "GKE's metadata server, {}:{}",
                    clouds::GKE_METADATA_SERVER,
                    clouds::GKE_METADATA_PORT
                ),
                namespace_exists,
                mechanism: "workload-identity".into(),
                role: g.role.clone(),
                trusted: Some(true),
                annotated: None,
                labelled: None,
            });
        }
    }
    out
}

/// The namespace and service account a member names as a principal of
/// the pool (one account, not a namespace's set).
fn principal(member: &str, pool: &str) -> Option<(String, String)> {
    // Past the pool's name: this one, or (`pool` empty) any.
    let past_pool = |r: &str, end: char| -> Option<String> {
        if pool.is_empty() {
            r.find(end).map(|i| r[i..].to_owned())
        } else {
            r.strip_prefix(pool).map(str::to_owned)
        }
    };
    let rest = if let Some(r) = member.strip_prefix("principal://iam.googleapis.com/") {
        let (_, r) = r
            .strip_prefix("projects/")?
            .split_once("/locations/global/workloadIdentityPools/")?;
        past_pool(r, '/')?.strip_prefix("/subject/ns/")?.to_owned()
    } else {
        let r = past_pool(member.strip_prefix("serviceAccount:")?, '[')?;
        r.strip_prefix('[')?
            .strip_suffix(']')?
            .replacen('/', "/sa/", 1)
    };
    let (namespace, account) = rest.split_once("/sa/")?;
    (!namespace.is_empty() && !account.is_empty() && !account.contains('/'))
        .then(|| (namespace.to_owned(), account.to_owned()))
}

/// Whether the cluster has a workload pool (its `workload_identity_config`
/// block; None when its pool is not known before a plan), and the node
/// pools whose pods reach the node's metadata instead of GKE's metadata
/// server (`workload_metadata_config { mode = "GCE_METADATA" }`), in the
/// cluster's default pool or a `google_container_node_pool` of it.
#[allow(clippy::too_many_arguments)]
fn node_identity(
    module: &Module,
    ev: &Evaluator<'_>,
    symbolic: &Evaluator<'_>,
    cluster: &Located,
    pool_judged: bool,
    gaps: &mut Vec<Gap>,
    root: &str,
) -> (Option<bool>, Vec<At>) {
    let one = Instance::Single;
    let pool = match cluster
        .block
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "workload_identity_config")
    {
        None => Some(false),
        Some(b) => match ev.attribute(b, "workload_pool", &one) {
            Some(Value::Null) => Some(false),
            Some(Value::String(_)) => Some(true),
            _ => pool_judged.then_some(true),
        },
    };
    let (_, name) = cluster.resource().unwrap_or_default();
    let references = [
        format!("${{google_container_cluster.{name}.id}}"),
        format!("${{google_container_cluster.{name}.name}}"),
    ];
    let of_cluster = |p: &&Located| {
        matches!(
            symbolic.attribute(&p.block, "cluster", &one),
            Some(Value::String(c)) if references.contains(&c)
        )
    };
    let pools = std::iter::once(cluster).chain(
        module
            .resources("google_container_node_pool")
            .filter(of_cluster),
    );
    let mut exposed = Vec::new();
    for p in pools {
        let mode = p
            .block
            .body
            .blocks()
            .find(|b| b.identifier.as_str() == "node_config")
            .and_then(|c| {
                c.body
                    .blocks()
                    .find(|b| b.identifier.as_str() == "workload_metadata_config")
            })
            .map(|w| ev.attribute(w, "mode", &one));
        match mode {
            // Unset, a pool of a cluster with a workload pool runs GKE's
            // metadata server.
            None | Some(Some(Value::Null)) => {}
            Some(Some(Value::String(m))) if m == "GKE_METADATA" => {}
            Some(Some(Value::String(_))) => exposed.push(at(&p.file, p.line)),
            Some(_) => gaps.push(Gap {
                app: root.to_owned(),
                at: at(&p.file, p.line),
                message: "the workload metadata mode of this node pool is not known before a plan: whether its pods get their service account's identity is not judged".into(),
            }),
        }
    }
    (pool, exposed)
}

/// The cluster's workload pool as the Terraform writes it (`${…}` where
/// only a plan knows it).
fn pool(symbolic: &Evaluator<'_>, cluster: &Located, iam: &[IamGrant]) -> Option<String> {
    match cluster
        .block
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "workload_identity_config")
        .and_then(|b| symbolic.attribute(b, "workload_pool", &Instance::Single))
    {
        // A pool only a plan knows compares with the members written from
        // the same expression, not with others: those are not judged.
        Some(Value::String(pool)) if !pool.contains("${") || comparable(iam, &pool) => Some(pool),
        _ => None,
    }
}

/// Whether every workload principal the IAM grants name writes its pool
/// as `pool` does (a pool only a plan knows is then known to be theirs).
fn comparable(iam: &[IamGrant], pool: &str) -> bool {
    iam.iter()
        .flat_map(|g| g.members.iter())
        .filter_map(|m| {
            m.split_once("/workloadIdentityPools/")
                .map(|(_, r)| r)
                .or_else(|| {
                    m.strip_prefix("serviceAccount:")
                        .filter(|r| r.contains('['))
                })
        })
        .all(|r| r.starts_with(pool))
}

/// [`resolve`] on what it reads of the system: the environment's root
/// Application (where gaps are reported), its NetworkPolicies and the
/// network plugin an Application installs.
fn judge(
    module: &Module,
    cluster: &Located,
    root: &str,
    network_policies: usize,
    plugin: Option<(String, At)>,
    gaps: &mut Vec<Gap>,
) -> Cloud {
    let ev = Evaluator::new(module);
    let gap = |file: &str, line: usize, message: String| Gap {
        app: root.to_owned(),
        at: at(file, line),
        message,
    };
    let mut cloud = Cloud {
        provider: "gke".into(),
        at: at(&cluster.file, cluster.line),
        agent: format!(
            "{}:{}",
            clouds::GKE_METADATA_SERVER,
            clouds::GKE_METADATA_PORT
        ),
        network_policies,
        ..Cloud::default()
    };
    gaps.push(gap(
        &cluster.file,
        cluster.line,
        "Google Kubernetes Engine cluster (google_container_cluster): socle reads whether it enforces NetworkPolicies, the buckets its Terraform creates and the roles IAM grants the service accounts of their consumers and of External Secrets, whether those pods reach Google's APIs and the metadata server, and the names and ranges of the managed database; what Cloud SQL itself admits (its users, its TLS) is not judged".into(),
    ));

    // Dataplane V2 enforces NetworkPolicies itself; the older datapath
    // only with its network_policy add-on (Calico) on.
    let datapath = ev.attribute(&cluster.block, "datapath_provider", &Instance::Single);
    let calico = cluster
        .block
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "network_policy")
        .map(|b| ev.attribute(b, "enabled", &Instance::Single));
    let (enforced, by) = match (datapath, calico) {
        (Some(Value::String(d)), _) if d == "ADVANCED_DATAPATH" => {
            (Some(true), "Dataplane V2 (datapath_provider)".to_owned())
        }
        (None, _) => (None, "datapath_provider, not known before a plan".into()),
        (_, Some(Some(Value::Bool(on)))) => (Some(on), "the network_policy block".into()),
        (_, Some(_)) => (
            None,
            "the network_policy block, not known before a plan".into(),
        ),
        (_, None) => (
            Some(false),
            "the cluster's default datapath: no Dataplane V2 and no network_policy block".into(),
        ),
    };
    (
        cloud.enforces_policies,
        cloud.enforcement_by,
        cloud.enforcement_at,
    ) = match plugin {
        Some((by, place)) => (Some(true), by, place),
        None => (enforced, by, cloud.at.clone()),
    };
    if cloud.enforces_policies.is_none() {
        gaps.push(gap(
            &cluster.file,
            cluster.line,
            format!(
                "{}: whether the cluster enforces NetworkPolicies is not judged",
                cloud.enforcement_by
            ),
        ));
    }

    // The buckets, by the names they are created with.
    for r in module.resources("google_storage_bucket") {
        match ev.attribute(&r.block, "name", &Instance::Single) {
            Some(Value::String(name)) if r.block.body.attributes().all(|a| {
                a.key.as_str() != "count" && a.key.as_str() != "for_each"
            }) =>
            {
                cloud.buckets.push(name);
            }
            _ => gaps.push(gap(
                &r.file,
                r.line,
                "the name of this bucket (or its instances) is not known before a plan: consumers naming it are judged as if it did not exist".into(),
            )),
        }
    }
    cloud.buckets.sort();
    cloud.buckets.dedup();
    cloud
}

/// A Kubernetes service account as the principals IAM knows it by, in
/// the cluster's workload pool: `principal://…/subject/ns/N/sa/S`, the
/// namespace's `principalSet://…/namespace/N`, or the older
/// `serviceAccount:POOL[N/S]`. `pool` is the pool as the Terraform writes
/// it (`${…}` where it is known only after a plan): a member naming
/// another pool is another cluster's account.
fn is_account(member: &str, pool: &str, namespace: &str, account: &str) -> bool {
    let federated = |rest: &str| -> Option<String> {
        let (_, rest) = rest
            .strip_prefix("projects/")?
            .split_once("/locations/global/workloadIdentityPools/")?;
        rest.strip_prefix(pool).map(str::to_owned)
    };
    if let Some(rest) = member
        .strip_prefix("principal://iam.googleapis.com/")
        .and_then(federated)
    {
        return rest == format!("/subject/ns/{namespace}/sa/{account}");
    }
    if let Some(rest) = member
        .strip_prefix("principalSet://iam.googleapis.com/")
        .and_then(federated)
    {
        return rest == format!("/namespace/{namespace}");
    }
    member == format!("serviceAccount:{pool}[{namespace}/{account}]")
}

/// One instance of an IAM grant (a `*_iam_member` or `*_iam_binding`
/// resource) of a role of interest, known before a plan.
struct IamGrant {
    kind: &'static str,
    role: String,
    members: Vec<String>,
    /// The resource it is granted on (`bucket`, `secret_id`), as written;
    /// None for a project's grant.
    on: Option<String>,
    /// Its condition's expression, if it has one.
    condition: Option<String>,
    /// Where it is declared, as a finding names it and as a gap does.
    place: String,
    at: At,
}

/// Every instance of the grants of `kinds` whose role is one of `roles`;
/// what only a plan knows is said, and the grant left out (it admits
/// nobody the model can name).
fn iam_grants(
    module: &Module,
    symbolic: &Evaluator<'_>,
    kinds: &[&'static str],
    roles: &[&str],
    gap: &dyn Fn(&str, usize, String) -> Gap,
    gaps: &mut Vec<Gap>,
) -> Vec<IamGrant> {
    let mut out = Vec::new();
    for kind in kinds {
        let many = kind.ends_with("_binding");
        let target = if kind.starts_with("google_storage_bucket") {
            Some("bucket")
        } else if kind.starts_with("google_secret_manager_secret") {
            Some("secret_id")
        } else {
            None
        };
        for r in module.resources(kind) {
            let Some(instances) = symbolic.instances(&r.block) else {
                gaps.push(gap(&r.file, r.line, "the instances of this grant (for_each or count) are not known before a plan: whom it admits is not judged".into()));
                continue;
            };
            for i in instances {
                let attr = |k: &str| symbolic.attribute(&r.block, k, &i);
                let role = match attr("role") {
                    Some(Value::String(role)) if !role.contains("${") => role,
                    _ => {
                        gaps.push(gap(&r.file, r.line, "the role of this grant is not known before a plan: what it gives is not judged".into()));
                        continue;
                    }
                };
                if !roles.contains(&role.as_str()) {
                    continue;
                }
                let members = match attr(if many { "members" } else { "member" }) {
                    Some(Value::String(m)) if !many => vec![m],
                    Some(Value::Array(ms)) if many => ms
                        .into_iter()
                        .filter_map(|m| m.as_str().map(str::to_owned))
                        .collect(),
                    _ => {
                        gaps.push(gap(&r.file, r.line, format!("the members of this grant of {role} are not known before a plan: not judged")));
                        continue;
                    }
                };
                let on = match target.map(attr) {
                    None => None,
                    Some(Some(Value::String(t))) => Some(t),
                    Some(_) => {
                        gaps.push(gap(&r.file, r.line, format!("what this grant of {role} is on is not known before a plan: not judged")));
                        continue;
                    }
                };
                let condition = match r
                    .block
                    .body
                    .blocks()
                    .find(|b| b.identifier.as_str() == "condition")
                    .map(|b| symbolic.attribute(b, "expression", &i))
                {
                    None => None,
                    Some(Some(Value::String(e))) => Some(e),
                    Some(_) => {
                        gaps.push(gap(&r.file, r.line, format!("the condition of this grant of {role} is not known before a plan: not judged")));
                        continue;
                    }
                };
                out.push(IamGrant {
                    kind,
                    role,
                    members,
                    on,
                    condition,
                    place: format!("{}:{}", r.file, r.line),
                    at: at(&r.file, r.line),
                });
            }
        }
    }
    out
}

/// For each use of a bucket the Terraform creates, the roles the
/// consumer's accounts hold on it, from the bucket's IAM members and
/// bindings and the project's.
#[allow(clippy::too_many_arguments)]
fn grants<'g>(
    cluster: &Located,
    uses: &[(&BucketUse, Vec<(String, String)>)],
    iam: &'g [IamGrant],
    pool: Option<&str>,
    acting: &[Acting],
    gap: &dyn Fn(&str, usize, String) -> Gap,
    gaps: &mut Vec<Gap>,
) -> Vec<GcsGrant> {
    if uses.is_empty() {
        return Vec::new();
    }
    let Some(pool) = pool else {
        gaps.push(gap(&cluster.file, cluster.line, "the cluster's workload pool (workload_identity_config) is absent or not known: which service accounts Cloud Storage admits is not judged".into()));
        return Vec::new();
    };
    let mut bindings: Vec<(String, &'g IamGrant)> = Vec::new();
    let storage = iam.iter().filter(|g| {
        !g.kind.starts_with("google_secret_manager") && READS.contains(&g.role.as_str())
    });
    for g in storage {
        // A condition limits a grant in ways (time, object names) this
        // does not follow: it is said, and admits nobody here.
        if g.condition.is_some() {
            gaps.push(Gap {
                at: g.at.clone(),
                ..gap(
                    "",
                    0,
                    format!(
                        "this grant of {} has a condition: whom it admits to the buckets is not judged",
                        g.role
                    ),
                )
            });
            continue;
        }
        let bucket = match g.on.clone() {
            None => String::new(),
            Some(b) if !b.contains("${") => b,
            Some(_) => {
                gaps.push(Gap {
                    at: g.at.clone(),
                    ..gap(
                        "",
                        0,
                        format!(
                            "the bucket of this grant of {} is not known before a plan: not judged",
                            g.role
                        ),
                    )
                });
                continue;
            }
        };
        bindings.push((bucket, g));
    }
    let mut out = Vec::new();
    for (u, accounts) in uses {
        let mut roles = Vec::new();
        let mut places = Vec::new();
        for (bucket, b) in &bindings {
            if !(bucket.is_empty() || *bucket == u.bucket) {
                continue;
            }
            // An account annotated with a Google service account acts as
            // that account (when it may), never as itself.
            let holds = b.members.iter().any(|m| {
                accounts.iter().any(|(n, a)| {
                    match acting.iter().find(|x| x.namespace == *n && x.account == *a) {
                        Some(x) => x.members.iter().any(|g| g == m),
                        None => is_account(m, pool, n, a),
                    }
                })
            });
            if holds {
                roles.push(b.role.clone());
                places.push(b.place.clone());
            }
        }
        let needed = if u.access == "read" { READS } else { WRITES };
        out.push(GcsGrant {
            consumer: u.consumer.clone(),
            bucket: u.bucket.clone(),
            access: u.access.clone(),
            at: u.at.clone(),
            accounts: accounts.iter().map(|(n, a)| format!("{n}/{a}")).collect(),
            allowed: roles.iter().any(|r| needed.contains(&r.as_str())),
            roles,
            places,
            reach: Verdict::default(),
            endpoint: String::new(),
            // Bucket names are global on Cloud Storage.
            holding_accounts: Vec::new(),
            named_accounts: Vec::new(),
            unreachable: String::new(),
        });
    }
    out
}

/// A Kubernetes service account whose annotation names a Google service
/// account: the members its pods act as (that account's, as IAM bindings
/// write them), none when it may not impersonate it.
struct Acting {
    namespace: String,
    account: String,
    members: Vec<String>,
}

/// The accounts that act as a Google service account of the Terraform: the
/// annotation names it by email, whose local part is its `account_id`, and
/// a grant of roles/iam.workloadIdentityUser on it to the account's member
/// in the pool lets them.
fn impersonations(
    m: &Modelled,
    files: &Files,
    facts: &ChartFacts,
    module: &Module,
    ev: &Evaluator<'_>,
    symbolic: &Evaluator<'_>,
    pool: &str,
) -> Vec<Acting> {
    let one = Instance::Single;
    let annotated =
        super::cloud::service_accounts(m, files, facts, clouds::GKE_GSA_ANNOTATION, false);
    let mut out = Vec::new();
    for (namespace, account, email, _) in annotated {
        let Some(email) = email else { continue };
        let local = email.split('@').next().unwrap_or_default();
        let found = module.resources("google_service_account").find(|g| {
            matches!(ev.attribute(&g.block, "account_id", &one), Some(Value::String(id)) if id == local)
        });
        let mut members = Vec::new();
        if let Some((_, name)) = found.and_then(|g| g.resource()) {
            let refs = [
                format!("${{google_service_account.{name}.name}}"),
                format!("${{google_service_account.{name}.id}}"),
            ];
            let allowed = module
                .resources("google_service_account_iam_member")
                .any(|b| {
                    let attr = |k: &str| symbolic.attribute(&b.block, k, &one);
                    matches!(attr("role"), Some(Value::String(r)) if r == "roles/iam.workloadIdentityUser")
                        && matches!(attr("service_account_id"), Some(Value::String(s)) if refs.contains(&s))
                        && matches!(attr("member"), Some(Value::String(mm)) if is_account(&mm, pool, &namespace, &account))
                });
            if allowed {
                members.push(format!(
                    "serviceAccount:${{google_service_account.{name}.email}}"
                ));
                members.push(format!("serviceAccount:{email}"));
            }
        }
        out.push(Acting {
            namespace,
            account,
            members,
        });
    }
    out
}

/// The roles that let a principal read a Secret Manager entry's versions.
const SECRET_READERS: &[&str] = &[
    "roles/secretmanager.secretAccessor",
    "roles/secretmanager.admin",
    "roles/owner",
];

/// Where a grant of a reading role reaches: every entry of the project,
/// those whose name begins with a prefix (the IAM condition
/// `resource.name.startsWith("projects/…/secrets/PREFIX")`), or one entry.
enum Reach {
    Project,
    Prefix(String),
    Entry(String),
}

/// The prefix of a condition of the one form this reads; None for any
/// other expression.
fn condition_prefix(expression: &str) -> Option<String> {
    let inner = expression
        .trim()
        .strip_prefix("resource.name.startsWith(\"")?
        .strip_suffix("\")")?;
    let (_, rest) = inner.strip_prefix("projects/")?.split_once("/secrets/")?;
    (!rest.contains('"') && !rest.contains("${")).then(|| rest.to_owned())
}

/// An entry's id as a grant on it names it: literally, or through the
/// `google_secret_manager_secret` it declares.
fn secret_id(module: &Module, symbolic: &Evaluator<'_>, text: &str) -> Option<String> {
    if !text.contains("${") {
        return Some(text.rsplit('/').next().unwrap_or(text).to_owned());
    }
    let name = text
        .strip_prefix("${google_secret_manager_secret.")?
        .strip_suffix('}')?;
    let (name, attr) = name.split_once('.')?;
    if !matches!(attr, "secret_id" | "id" | "name") {
        return None;
    }
    let r = module
        .resources("google_secret_manager_secret")
        .find(|r| r.resource().is_some_and(|(_, n)| n == name))?;
    match symbolic.attribute(&r.block, "secret_id", &Instance::Single)? {
        Value::String(id) if !id.contains("${") => Some(id),
        _ => None,
    }
}

/// Every Secret Manager entry the operator reads for the environment
/// through a store that signs in as the operator (provider `gcpsm`, no
/// `auth`), judged against the reading roles IAM grants the operator's
/// service account on the project or on the entry.
#[allow(clippy::too_many_arguments)]
fn secret_reads(
    m: &Modelled,
    files: &Files,
    module: &Module,
    symbolic: &Evaluator<'_>,
    iam: &[IamGrant],
    pool: &str,
    gaps: &mut Vec<Gap>,
    gap: &dyn Fn(&str, usize, String) -> Gap,
    operators: &[(String, String)],
) -> Vec<SecretRead> {
    let stores = super::cloud_iam::operator_stores(m, files, |p| {
        let gcp = &p["gcpsm"];
        (gcp.get("auth").is_none())
            .then(|| gcp["projectID"].as_str().map(str::to_owned))
            .flatten()
    });
    let entries = super::cloud_iam::store_entries(m, &stores);
    if entries.is_empty() {
        return Vec::new();
    }
    let mut grants: Vec<(Reach, String, Vec<String>, String)> = Vec::new();
    let readers = iam.iter().filter(|g| {
        !g.kind.starts_with("google_storage_bucket") && SECRET_READERS.contains(&g.role.as_str())
    });
    for g in readers {
        let reach = match (&g.on, &g.condition) {
            (None, None) => Some(Reach::Project),
            (None, Some(e)) => condition_prefix(e).map(Reach::Prefix),
            (Some(id), None) => secret_id(module, symbolic, id).map(Reach::Entry),
            (Some(_), Some(_)) => None,
        };
        let Some(reach) = reach else {
            gaps.push(Gap {
                at: g.at.clone(),
                ..gap("", 0, format!("what this grant of {} ({}) reaches (its condition or its entry) is not known before a plan: not judged", g.role, g.kind))
            });
            continue;
        };
        grants.push((reach, g.role.clone(), g.members.clone(), g.place.clone()));
    }
    let mut out = Vec::new();
    for (namespace, account) in operators {
        let mine: Vec<&(Reach, String, Vec<String>, String)> = grants
            .iter()
            .filter(|(_, _, members, _)| {
                members
                    .iter()
                    .any(|mb| is_account(mb, pool, namespace, account))
            })
            .collect();
        for e in &entries {
            let reads: Vec<&&(Reach, String, Vec<String>, String)> = mine
                .iter()
                .filter(|(reach, ..)| match reach {
                    Reach::Project => true,
                    Reach::Prefix(p) => e.key.starts_with(p.as_str()),
                    Reach::Entry(id) => *id == e.key,
                })
                .collect();
            out.push(SecretRead {
                app: e.object.app.clone(),
                external_secret: format!("{}/{}", e.object.namespace, e.object.name),
                key: e.key.clone(),
                at: e.at.clone(),
                store: e.store.clone(),
                region: e.place.clone(),
                operator: format!("{namespace}/{account}"),
                role: mine
                    .iter()
                    .map(|(_, role, ..)| role.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                policies: mine.iter().map(|(.., place)| place.clone()).collect(),
                allowed: !reads.is_empty(),
                reach: Default::default(),
                endpoint: String::new(),
                // Secret Manager's IDs: 255 letters, digits, `_` or `-`.
                name_valid: Some(
                    !e.key.is_empty()
                        && e.key.len() <= 255
                        && e.key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                ),
            });
        }
    }
    out
}

/// The managed database behind private DNS: the ExternalName Services
/// forwarding into a private zone of the Terraform (each must name one of
/// its records), and the connections to a Cloud SQL instance a record
/// points at, whose egress must reach the ranges the instance takes its
/// private address from (the network's private services access).
fn managed_names(
    m: &Modelled,
    module: &Module,
    ev: &Evaluator<'_>,
    symbolic: &Evaluator<'_>,
    gaps: &mut Vec<Gap>,
) -> (Vec<PrivateName>, Vec<ManagedReach>) {
    use super::cloud_dns::{dns, Servers, Zones};
    let one = Instance::Single;
    let mut zones = Zones::default();
    for z in module.resources("google_dns_managed_zone") {
        if ev.attribute(&z.block, "visibility", &one) != Some(Value::String("private".into())) {
            continue;
        }
        let (_, resource) = z.resource().unwrap_or_default();
        match ev.attribute(&z.block, "dns_name", &one) {
            Some(Value::String(name)) => {
                zones.zones.push((resource.to_owned(), dns(&name), at(&z.file, z.line)));
                zones.called.push((format!("${{google_dns_managed_zone.{resource}.name}}"), resource.to_owned()));
                if let Some(Value::String(n)) = ev.attribute(&z.block, "name", &one) {
                    zones.called.push((n, resource.to_owned()));
                }
            }
            _ => gaps.push(Gap {
                app: m.system.root.clone(),
                at: at(&z.file, z.line),
                message: "the name of this private zone is not known before a plan: the names forwarded into it are not judged".into(),
            }),
        }
    }
    let servers = Servers {
        records: &["google_dns_record_set"],
        zone: "managed_zone",
        server: "google_sql_database_instance",
    };
    let targets = |r: &Located| match symbolic.attribute(&r.block, "rrdatas", &one) {
        Some(Value::Array(targets)) => targets
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|t| {
                t.strip_prefix("${google_sql_database_instance.")
                    .and_then(|t| t.strip_suffix(".private_ip_address}"))
                    .map(str::to_owned)
            })
            .collect(),
        _ => Vec::new(),
    };
    let ranges = |r: &Located| instance_ranges(module, ev, symbolic, r);
    super::cloud_dns::managed_names(
        m,
        module,
        ev,
        symbolic,
        gaps,
        zones,
        &servers,
        targets,
        ranges,
        |fqdn| {
            format!("the ranges the instance behind {fqdn} takes its private address from are not known before a plan: whether its consumers' egress reaches them is not judged")
        },
    )
}

/// The ranges a Cloud SQL instance takes its private address from: its
/// `allocated_ip_range`, or every range the network lends Google's
/// services (`google_compute_global_address` with purpose VPC_PEERING).
fn instance_ranges(
    module: &Module,
    ev: &Evaluator<'_>,
    symbolic: &Evaluator<'_>,
    instance: &Located,
) -> Option<Vec<String>> {
    let one = Instance::Single;
    let ip = instance
        .block
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "settings")?
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "ip_configuration")?;
    let allocated = match symbolic.attribute(ip, "allocated_ip_range", &one)? {
        Value::Null => None,
        Value::String(s) => Some(s),
        _ => return None,
    };
    let range = |r: &Located| -> Option<String> {
        let address = ev.attribute(&r.block, "address", &one)?;
        let length = ev.attribute(&r.block, "prefix_length", &one)?;
        let cidr = format!("{}/{}", address.as_str()?, length.as_u64()?);
        crate::core::spec::check_cidr(&cidr).ok()?;
        Some(cidr)
    };
    let lent = module
        .resources("google_compute_global_address")
        .filter(|r| {
            ev.attribute(&r.block, "purpose", &one) == Some(Value::String("VPC_PEERING".into()))
        });
    match allocated {
        Some(name) => {
            let (resource, by_name) = match name
                .strip_prefix("${google_compute_global_address.")
                .and_then(|n| n.strip_suffix(".name}"))
            {
                Some(res) => (Some(res.to_owned()), None),
                None => (None, Some(name)),
            };
            let r = lent.into_iter().find(|r| {
                r.resource()
                    .is_some_and(|(_, n)| Some(n) == resource.as_deref())
                    || by_name.as_ref().is_some_and(|b| {
                        ev.attribute(&r.block, "name", &one) == Some(Value::String(b.clone()))
                    })
            })?;
            Some(vec![range(r)?])
        }
        None => {
            let all: Option<Vec<String>> = lent.map(range).collect();
            all.filter(|a| !a.is_empty())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(text: &str) -> Module {
        let mut m = Module::default();
        m.add("gke.tf", crate::check::terraform::parse(text).expect("HCL"));
        m
    }

    fn cloud(text: &str) -> (Cloud, Vec<Gap>) {
        let module = module(text);
        let cluster = module
            .resources("google_container_cluster")
            .next()
            .expect("cluster");
        let mut gaps = Vec::new();
        (judge(&module, cluster, "root", 3, None, &mut gaps), gaps)
    }

    #[test]
    fn dataplane_v2_or_calico_enforces_policies_and_the_default_does_not() {
        for (body, enforced) in [
            ("datapath_provider = \"ADVANCED_DATAPATH\"", Some(true)),
            ("network_policy {\n    enabled = true\n  }", Some(true)),
            ("network_policy {\n    enabled = false\n  }", Some(false)),
            ("", Some(false)),
            ("datapath_provider = var.datapath", None),
        ] {
            let (c, gaps) = cloud(&format!(
                "variable \"datapath\" {{}}\nresource \"google_container_cluster\" \"this\" {{\n  name = \"c\"\n  {body}\n}}\n"
            ));
            assert_eq!(c.enforces_policies, enforced, "{body}");
            assert_eq!(c.provider, "gke");
            // The identities are never judged: always said.
            assert!(gaps[0].message.contains("not judged"), "{gaps:?}");
            assert_eq!(gaps.len(), 1 + usize::from(enforced.is_none()), "{gaps:?}");
        }
    }

    #[test]
    fn buckets_are_known_by_their_names_before_a_plan() {
        let (c, gaps) = cloud(
            r#"
locals {
  name = "acme-prod"
}
resource "google_container_cluster" "this" {
  name              = local.name
  datapath_provider = "ADVANCED_DATAPATH"
}
resource "google_storage_bucket" "dremio" {
  name = "${local.name}-dremio"
}
resource "google_storage_bucket" "many" {
  for_each = toset(["a", "b"])
  name     = "acme-${each.key}"
}
"#,
        );
        assert_eq!(c.buckets, ["acme-prod-dremio"]);
        assert_eq!(gaps.len(), 2, "{gaps:?}");
        assert!(gaps[1].message.contains("not known before a plan"));
    }

    #[test]
    fn an_account_is_known_by_each_form_of_its_principal_in_its_pool_only() {
        let pool = "acme-prod.svc.id.goog";
        let base = "principal://iam.googleapis.com/projects/${data.google_project.this.number}/locations/global/workloadIdentityPools";
        for (member, holds) in [
            (format!("{base}/{pool}/subject/ns/query/sa/dremio"), true),
            (format!("{base}/{pool}/subject/ns/query/sa/dremio-x"), false),
            (format!("{base}/other.svc.id.goog/subject/ns/query/sa/dremio"), false),
            (
                format!("principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/{pool}/namespace/query"),
                true,
            ),
            (
                format!("principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/{pool}/namespace/bi"),
                false,
            ),
            (format!("serviceAccount:{pool}[query/dremio]"), true),
            ("serviceAccount:dremio@acme-prod.iam.gserviceaccount.com".to_owned(), false),
        ] {
            assert_eq!(is_account(&member, pool, "query", "dremio"), holds, "{member}");
        }
        // With no pool of its own, a cluster's grants are read in any pool.
        let any = format!("{base}/other.svc.id.goog/subject/ns/query/sa/dremio");
        assert_eq!(principal(&any, ""), Some(("query".into(), "dremio".into())));
        assert_eq!(principal(&any, pool), None);
        assert_eq!(
            principal("serviceAccount:other.svc.id.goog[query/dremio]", ""),
            Some(("query".into(), "dremio".into()))
        );
    }

    #[test]
    fn a_condition_of_the_one_form_read_gives_its_prefix() {
        assert_eq!(
            condition_prefix("resource.name.startsWith(\"projects/${data.google_project.this.number}/secrets/acme_prod_\")").as_deref(),
            Some("acme_prod_")
        );
        for other in [
            "resource.name.startsWith(\"projects/1/secrets/${var.prefix}\")",
            "resource.name.endsWith(\"projects/1/secrets/acme_prod_\")",
            "resource.name.startsWith(\"projects/1/secrets/a\") || true",
            "request.time < timestamp(\"2027-01-01T00:00:00Z\")",
        ] {
            assert_eq!(condition_prefix(other), None, "{other}");
        }
    }

    #[test]
    fn grants_are_read_per_instance_and_an_entry_by_its_resource() {
        let module = module(
            r#"
resource "google_project_iam_member" "nodes" {
  for_each = toset(["roles/logging.logWriter", "roles/secretmanager.secretAccessor"])
  project  = "p"
  role     = each.key
  member   = "serviceAccount:pool[core/eso]"
}
resource "google_secret_manager_secret" "admin" {
  secret_id = "acme_prod_postgresql_admin"
}
resource "google_secret_manager_secret_iam_member" "admin" {
  secret_id = google_secret_manager_secret.admin.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:pool[core/eso]"
}
"#,
        );
        let symbolic = Evaluator::symbolic(&module);
        let gap = |file: &str, line: usize, message: String| Gap {
            app: "root".into(),
            at: at(file, line),
            message,
        };
        let mut gaps = Vec::new();
        let grants = iam_grants(
            &module,
            &symbolic,
            &[
                "google_project_iam_member",
                "google_secret_manager_secret_iam_member",
            ],
            SECRET_READERS,
            &gap,
            &mut gaps,
        );
        assert!(gaps.is_empty(), "{gaps:?}");
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[0].on, None);
        let on = grants[1].on.clone().expect("an entry");
        assert_eq!(
            secret_id(&module, &symbolic, &on).as_deref(),
            Some("acme_prod_postgresql_admin")
        );
    }

    #[test]
    fn a_pool_only_a_plan_knows_is_judged_only_against_members_written_alike() {
        let text = |member: &str| {
            format!(
                r#"
variable "project" {{}}
resource "google_container_cluster" "this" {{
  name = "c"
  workload_identity_config {{
    workload_pool = "${{var.project}}.svc.id.goog"
  }}
}}
resource "google_storage_bucket_iam_member" "dremio" {{
  bucket = "b"
  role   = "roles/storage.objectUser"
  member = "{member}"
}}
"#
            )
        };
        for (member, judged) in [
            ("principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/${var.project}.svc.id.goog/subject/ns/q/sa/d", true),
            ("principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/acme.svc.id.goog/subject/ns/q/sa/d", false),
        ] {
            let m = module(&text(member));
            let cluster = m.resources("google_container_cluster").next().expect("cluster");
            let symbolic = Evaluator::symbolic(&m);
            let mut gaps = Vec::new();
            let gap = |file: &str, line: usize, message: String| Gap {
                app: "root".into(),
                at: at(file, line),
                message,
            };
            let iam = iam_grants(&m, &symbolic, &IAM_KINDS, READS, &gap, &mut gaps);
            assert_eq!(pool(&symbolic, cluster, &iam).is_some(), judged, "{member}");
        }
    }
}
