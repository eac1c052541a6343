//! An AKS cluster as its environment's Terraform declares it: whether it
//! enforces the NetworkPolicies the environment deploys, whether it issues
//! the tokens workload identities exchange (its OIDC issuer and the
//! workload identity webhook), which service accounts a managed identity is
//! federated with, whether those accounts' pods carry what the webhook
//! needs (the client ID's annotation, the pod label) and reach Microsoft
//! Entra ID, what the identity of the External Secrets operator may read of
//! the Key Vault its stores name, whether a consumer of a container is
//! given a shared key its storage account refuses, and the private names
//! and subnets of the managed database.
//!
//! With Microsoft Entra Workload ID a pod signs in as the managed identity
//! whose federated credential names its service account: no credential is
//! federated with an account, and its pods get no token at all. Which
//! identity a client ID in an annotation is, only Azure knows: the check
//! says so rather than judge it.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::Value;

use super::build::Modelled;
use super::cloud::at;
use super::input::{
    At, BucketUse, Cloud, Gap, GcsGrant, ManagedReach, PodIdentity, PrivateName, SecretRead,
    Verdict,
};
use super::kustomize::Files;
use super::network::{Peer, PodPort};
use crate::check::terraform::{Evaluator, Instance, Located, Module};
use crate::core::charts::ChartFacts;
use crate::core::clouds;

pub(crate) fn resolve(
    m: &Modelled,
    files: &Files,
    facts: &ChartFacts,
    module: &Module,
    cluster: &Located,
    gaps: &mut Vec<Gap>,
) -> Cloud {
    let ev = Evaluator::new(module);
    let symbolic = Evaluator::symbolic(module);
    let root = m.system.root.clone();
    let gap = |file: &str, line: usize, message: String| Gap {
        app: root.clone(),
        at: at(file, line),
        message,
    };
    let mut cloud = Cloud {
        provider: "aks".into(),
        at: at(&cluster.file, cluster.line),
        agent: entra_text(),
        network_policies: super::cloud::network_policies(m),
        ..Cloud::default()
    };
    gaps.push(gap(
        &cluster.file,
        cluster.line,
        "Azure Kubernetes Service cluster (azurerm_kubernetes_cluster): socle reads whether it enforces NetworkPolicies and issues workload identity tokens, the service accounts each managed identity is federated with and whether their pods reach Microsoft Entra ID, what External Secrets' identity may read of the Key Vault, the blob containers it creates, the roles their consumers' identities hold on them and whether a consumer is given a shared key its storage account refuses, and the names and subnets of the managed database; which identity a client ID in an annotation is (Azure assigns it) and what the database itself admits (its users, its TLS) are not judged".into(),
    ));
    enforcement(m, &ev, cluster, &mut cloud, gaps);
    cloud.workload_pool = issuer(&ev, cluster, gaps, &gap);

    let (_, cluster_name) = cluster.resource().unwrap_or_default();
    let federated = federated(module, &ev, &symbolic, cluster_name, gaps, &gap);
    let annotated =
        super::cloud::service_accounts(m, files, facts, clouds::AKS_CLIENT_ID_ANNOTATION, true);
    let net = super::wiring::network(m);
    let entra: Vec<String> = clouds::ENTRA_ID_RANGES
        .iter()
        .map(|r| (*r).to_owned())
        .collect();
    let port = PodPort {
        number: Some(clouds::ENTRA_ID_PORT),
        name: None,
    };
    for f in &federated {
        let from = Peer::Pods {
            namespace: &f.namespace,
            labels: None,
        };
        let agent = reach_all(&net, &from, &entra, &port);
        let exists = super::cloud::account_exists(m, facts, &f.namespace, &f.account);
        let namespace_exists = clouds::AKS_SYSTEM_NAMESPACES.contains(&f.namespace.as_str())
            || super::cloud::namespace_created(m, &f.namespace);
        // Annotated: as an object, or in its chart's values where charts
        // take the main account's; None where the account is neither (a
        // chart's other accounts, annotated where this does not read).
        let annotated = annotated
            .iter()
            .find(|(ns, sa, _, _)| *ns == f.namespace && *sa == f.account)
            .map(|(_, _, value, _)| value.as_deref().is_some_and(is_uuid));
        cloud.identities.push(PodIdentity {
            namespace: f.namespace.clone(),
            service_account: f.account.clone(),
            at: f.at.clone(),
            agent,
            credentials_from: entra_text(),
            namespace_exists,
            account_exists: exists,
            mechanism: "azure-workload-identity".into(),
            role: f.identity.clone(),
            trusted: f.trusted,
            annotated,
            labelled: labelled(m, files, facts, &f.namespace, &f.account),
        });
    }

    let operators = super::cloud::operators(m, facts);
    cloud.secret_reads = secret_reads(
        m, files, module, &ev, &symbolic, &federated, &operators, gaps, &gap,
    );
    let endpoints = private_endpoints(module, &ev, &symbolic);
    let vaults = vault_endpoints(module, &ev, &endpoints);
    for r in &mut cloud.secret_reads {
        let namespace = r.operator.split('/').next().unwrap_or_default().to_owned();
        let from = Peer::Pods {
            namespace: &namespace,
            labels: None,
        };
        let port = PodPort {
            number: Some(443),
            name: None,
        };
        match vaults.get(&r.region) {
            Some(Some(ranges)) => {
                r.endpoint = format!("its private endpoint in {}", ranges.join(", "));
                r.reach = reach_all(&net, &from, ranges, &port);
            }
            Some(None) => {}
            None => {
                r.endpoint = format!("{}.vault.azure.net, at public addresses", r.region);
                r.reach = net.verdict(&from, &Peer::Public, &port, true);
            }
        }
    }
    (cloud.private_names, cloud.managed_reaches) = managed_names(m, module, &ev, &symbolic, gaps);

    // The containers the Terraform creates, and what each consumer's
    // identities may do in those it uses.
    let containers = containers(module, &ev, gaps, &gap);
    let account_names = storage_account_names(module, &ev);
    cloud.buckets = containers.iter().map(|c| c.name.clone()).collect();
    cloud.buckets.sort();
    cloud.buckets.dedup();
    let uses: Vec<(&BucketUse, Vec<(String, String)>)> = m
        .system
        .bucket_uses
        .iter()
        .filter(|u| cloud.buckets.contains(&u.bucket))
        .map(|u| (u, super::cloud_iam::accounts(m, facts, &u.consumer)))
        .collect();
    let blob = storage_endpoints(&endpoints);
    let lakes = data_lake_endpoints(module, &ev, &endpoints);
    let keyless = keyless_accounts(module, &ev);
    for (u, _) in &uses {
        cloud
            .shared_keys
            .extend(shared_key(u, &containers, &keyless));
    }
    for (u, accounts) in uses {
        let mut roles = Vec::new();
        let mut places = Vec::new();
        for f in federated.iter().filter(|f| {
            accounts
                .iter()
                .any(|(n, a)| *n == f.namespace && *a == f.account)
        }) {
            for (role, place) in blob_roles(
                module,
                &ev,
                &symbolic,
                &f.key,
                &u.bucket,
                &containers,
                gaps,
                &gap,
            ) {
                if !roles.contains(&role) {
                    roles.push(role);
                    places.push(place);
                }
            }
        }
        let needed: &[&str] = if u.access == "read" {
            clouds::BLOB_READERS
        } else {
            clouds::BLOB_WRITERS
        };
        let namespace = accounts.first().map(|(n, _)| n.clone()).unwrap_or_default();
        let from = Peer::Pods {
            namespace: &namespace,
            labels: None,
        };
        let port = PodPort {
            number: Some(443),
            name: None,
        };
        // A container of an account with a hierarchical namespace is read
        // through its Data Lake endpoint (dfs), which answers at a private
        // endpoint of its own.
        let lake = containers
            .iter()
            .filter(|c| c.name == u.bucket)
            .find_map(|c| lakes.get(&c.account));
        let mut unreachable = String::new();
        let (endpoint, reach) = match (lake, &blob) {
            (
                Some(DataLake {
                    dfs: Some(Some(ranges)),
                    ..
                }),
                _,
            ) => (
                format!("its Data Lake private endpoint in {}", ranges.join(", ")),
                reach_all(&net, &from, ranges, &port),
            ),
            // Its endpoint's subnet is not known before a plan.
            (Some(DataLake { dfs: Some(None), .. }), _) => (String::new(), Verdict::default()),
            (
                Some(DataLake {
                    name,
                    private: true,
                    dfs: None,
                }),
                _,
            ) => {
                unreachable = format!(
                    "storage account {name} has a hierarchical namespace, so its clients call its Data Lake endpoint ({name}.dfs.core.windows.net), but it refuses public network access and no private endpoint serves dfs"
                );
                (String::new(), Verdict::default())
            }
            (Some(DataLake { name, .. }), _) => (
                format!("{name}.dfs.core.windows.net (no Data Lake private endpoint), at public addresses"),
                net.verdict(&from, &Peer::Public, &port, true),
            ),
            (None, Some(ranges)) => (
                format!("its private endpoint in {}", ranges.join(", ")),
                reach_all(&net, &from, ranges, &port),
            ),
            (None, None) => (
                "blob.core.windows.net, at public addresses".to_owned(),
                net.verdict(&from, &Peer::Public, &port, true),
            ),
        };
        // The accounts holding a container of that name; unknown names
        // (an account named by a variable) leave the use unjudged there.
        let holding: Option<Vec<String>> = containers
            .iter()
            .filter(|c| c.name == u.bucket)
            .map(|c| account_names.get(&c.account).cloned())
            .collect();
        cloud.gcs_grants.push(GcsGrant {
            consumer: u.consumer.clone(),
            bucket: u.bucket.clone(),
            access: u.access.clone(),
            at: u.at.clone(),
            accounts: accounts.iter().map(|(n, a)| format!("{n}/{a}")).collect(),
            allowed: roles.iter().any(|r| needed.contains(&r.as_str())),
            roles,
            places,
            reach,
            endpoint,
            holding_accounts: holding.unwrap_or_default(),
            named_accounts: u.storage_accounts.clone(),
            unreachable,
        });
    }
    // A grant read for several uses is said once.
    let mut seen = std::collections::BTreeSet::new();
    gaps.retain(|g| seen.insert(g.clone()));
    cloud
}

/// The name of each storage account of the Terraform, by resource name,
/// where it is known before a plan.
fn storage_account_names(
    module: &Module,
    ev: &Evaluator<'_>,
) -> std::collections::HashMap<String, String> {
    module
        .resources("azurerm_storage_account")
        .filter_map(|a| {
            let (_, resource) = a.resource()?;
            match ev.attribute(&a.block, "name", &Instance::Single) {
                Some(Value::String(name)) => Some((resource.to_owned(), name)),
                _ => None,
            }
        })
        .collect()
}

/// The storage accounts of the Terraform that refuse shared keys
/// (`shared_access_key_enabled = false`): by resource name, their name and
/// where they are declared.
fn keyless_accounts(
    module: &Module,
    ev: &Evaluator<'_>,
) -> std::collections::HashMap<String, (String, At)> {
    let one = Instance::Single;
    module
        .resources("azurerm_storage_account")
        .filter(|a| {
            ev.attribute(&a.block, "shared_access_key_enabled", &one) == Some(Value::Bool(false))
        })
        .filter_map(|a| {
            let (_, resource) = a.resource()?;
            let name = match ev.attribute(&a.block, "name", &one) {
                Some(Value::String(n)) => n,
                _ => resource.to_owned(),
            };
            Some((resource.to_owned(), (name, at(&a.file, a.line))))
        })
        .collect()
}

/// The use `u` of a container whose storage account refuses shared keys,
/// when its consumer's configuration signs in with one: the first key
/// setting that may be that account's (a Hadoop key names its account).
fn shared_key(
    u: &BucketUse,
    containers: &[Container],
    keyless: &std::collections::HashMap<String, (String, At)>,
) -> Option<super::input::SharedKey> {
    let (account, account_at) = containers
        .iter()
        .filter(|c| c.name == u.bucket)
        .find_map(|c| keyless.get(&c.account))?;
    let (setting, value, set_at) = u.azure_keys.iter().find(|(setting, _, _)| {
        super::key_settings::keyed_account(setting).is_none_or(|a| a.eq_ignore_ascii_case(account))
    })?;
    Some(super::input::SharedKey {
        consumer: u.consumer.clone(),
        bucket: u.bucket.clone(),
        at: u.at.clone(),
        account: account.clone(),
        account_at: account_at.clone(),
        setting: setting.clone(),
        value: value.clone(),
        set_at: set_at.clone(),
    })
}

/// A blob container of the Terraform: its name, its resource's, and the
/// resource of its storage account (as its `storage_account_id` names it).
struct Container {
    name: String,
    resource: String,
    account: String,
}

fn containers(
    module: &Module,
    ev: &Evaluator<'_>,
    gaps: &mut Vec<Gap>,
    gap: &impl Fn(&str, usize, String) -> Gap,
) -> Vec<Container> {
    let symbolic = Evaluator::symbolic(module);
    let one = Instance::Single;
    let mut out = Vec::new();
    for c in module.resources("azurerm_storage_container") {
        let (_, resource) = c.resource().unwrap_or_default();
        let single = c
            .block
            .body
            .attributes()
            .all(|a| a.key.as_str() != "count" && a.key.as_str() != "for_each");
        match ev.attribute(&c.block, "name", &one) {
            Some(Value::String(name)) if single => {
                let account = match symbolic.attribute(&c.block, "storage_account_id", &one) {
                    Some(Value::String(a)) => a
                        .strip_prefix("${azurerm_storage_account.")
                        .and_then(|a| a.strip_suffix(".id}"))
                        .unwrap_or_default()
                        .to_owned(),
                    _ => String::new(),
                };
                out.push(Container {
                    name,
                    resource: resource.to_owned(),
                    account,
                });
            }
            _ => gaps.push(gap(&c.file, c.line, "the name of this container (or its instances) is not known before a plan: consumers naming it are judged as if it did not exist".into())),
        }
    }
    out
}

/// The blob roles the identity `key` holds on `bucket`: on the container,
/// on its storage account, or on a resource group or subscription holding
/// it, with where each is granted.
#[allow(clippy::too_many_arguments)]
fn blob_roles(
    module: &Module,
    ev: &Evaluator<'_>,
    symbolic: &Evaluator<'_>,
    key: &str,
    bucket: &str,
    containers: &[Container],
    gaps: &mut Vec<Gap>,
    gap: &impl Fn(&str, usize, String) -> Gap,
) -> Vec<(String, String)> {
    let one = Instance::Single;
    let principal = format!("${{azurerm_user_assigned_identity.{key}.principal_id}}");
    let mut out = Vec::new();
    for r in module.resources("azurerm_role_assignment") {
        let Some(Value::String(role)) = ev.attribute(&r.block, "role_definition_name", &one) else {
            continue;
        };
        if !clouds::BLOB_READERS.contains(&role.as_str()) {
            continue;
        }
        match symbolic.attribute(&r.block, "principal_id", &one) {
            Some(Value::String(p)) if p == principal => {}
            Some(Value::String(p)) if is_identity_principal(&p) => continue,
            _ => {
                // An identity named otherwise (for_each, a data source, a
                // literal ID) may be this one: said, and not counted.
                gaps.push(gap(&r.file, r.line, format!("the principal of this grant of {role} is not known before a plan: whether it is a consumer's identity is not judged")));
                continue;
            }
        }
        let scope = match symbolic.attribute(&r.block, "scope", &one) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        let covers = if let Some(c) =
            scope
                .strip_prefix("${azurerm_storage_container.")
                .and_then(|s| {
                    s.strip_suffix(".id}")
                        .or_else(|| s.strip_suffix(".resource_manager_id}"))
                }) {
            containers
                .iter()
                .any(|x| x.resource == c && x.name == bucket)
        } else if let Some(a) = scope
            .strip_prefix("${azurerm_storage_account.")
            .and_then(|s| s.strip_suffix(".id}"))
        {
            containers
                .iter()
                .any(|x| x.account == a && x.name == bucket)
        } else if scope.starts_with("${azurerm_resource_group.")
            || scope.starts_with("/subscriptions/")
            || scope.starts_with("${data.azurerm_subscription.")
        {
            true
        } else {
            gaps.push(gap(&r.file, r.line, format!("the scope of this grant of {role} is not known before a plan: what it gives is not judged")));
            false
        };
        if covers {
            out.push((role, format!("{}:{}", r.file, r.line)));
        }
    }
    out
}

/// The ranges of the subnets where the Terraform's storage accounts answer
/// (their blob private endpoints); None when none has one.
fn storage_endpoints(endpoints: &[Endpoint]) -> Option<Vec<String>> {
    let mut ranges: Vec<String> = endpoints
        .iter()
        .filter(|e| e.target.starts_with("${azurerm_storage_account."))
        .flat_map(|e| e.ranges.iter().flatten().cloned())
        .collect();
    ranges.sort();
    ranges.dedup();
    (!ranges.is_empty()).then_some(ranges)
}

/// A storage account with a hierarchical namespace, whose clients call
/// its Data Lake service (`dfs`).
struct DataLake {
    name: String,
    /// It refuses public network access (`public_network_access_enabled
    /// = false`): without a private endpoint, it answers no one.
    private: bool,
    /// The ranges of the subnet where that service answers at a private
    /// endpoint: None with no such endpoint, Some(None) where the subnet
    /// is not known before a plan.
    dfs: Option<Option<Vec<String>>>,
}

/// The Terraform's storage accounts with a hierarchical namespace, by
/// resource name.
fn data_lake_endpoints(
    module: &Module,
    ev: &Evaluator<'_>,
    endpoints: &[Endpoint],
) -> std::collections::BTreeMap<String, DataLake> {
    let one = Instance::Single;
    let mut out = std::collections::BTreeMap::new();
    for a in module.resources("azurerm_storage_account") {
        let Some((_, resource)) = a.resource() else {
            continue;
        };
        if ev.attribute(&a.block, "is_hns_enabled", &one) != Some(Value::Bool(true)) {
            continue;
        }
        let name = match ev.attribute(&a.block, "name", &one) {
            Some(Value::String(n)) => n,
            _ => resource.to_owned(),
        };
        let private = ev.attribute(&a.block, "public_network_access_enabled", &one)
            == Some(Value::Bool(false));
        out.insert(
            resource.to_owned(),
            DataLake {
                name,
                private,
                dfs: None,
            },
        );
    }
    for e in endpoints
        .iter()
        .filter(|e| e.services.iter().any(|s| s == "dfs"))
    {
        let account = e
            .target
            .strip_prefix("${azurerm_storage_account.")
            .and_then(|r| r.strip_suffix(".id}"));
        if let Some(entry) = account.and_then(|a| out.get_mut(a)) {
            entry.dfs = Some(e.ranges.clone());
        }
    }
    out
}

/// Whether `reference` is a user-assigned identity's principal, named as
/// one resource's (`${azurerm_user_assigned_identity.NAME.principal_id}`).
fn is_identity_principal(reference: &str) -> bool {
    reference
        .strip_prefix("${azurerm_user_assigned_identity.")
        .and_then(|r| r.strip_suffix(".principal_id}"))
        .is_some_and(|name| !name.contains(['.', '[', '$']))
}

/// Egress from `from` on `port` to the first address of every range: the
/// first that is denied, or an allowed verdict (a service may answer from
/// any of them).
fn reach_all(
    net: &super::network::Network<'_>,
    from: &Peer<'_>,
    ranges: &[String],
    port: &PodPort,
) -> Verdict {
    ranges
        .iter()
        .filter_map(|c| first_address(c))
        .map(|a| net.verdict(from, &Peer::Address(IpAddr::V4(a)), port, true))
        .find(|v| !v.allowed)
        .unwrap_or(Verdict {
            allowed: true,
            ..Verdict::default()
        })
}

/// A private endpoint of the Terraform: the `${type.name.id}` reference
/// of the resource it connects to, the services of that resource it
/// serves (`subresource_names`), and the ranges of its subnet (None: not
/// known before a plan).
struct Endpoint {
    target: String,
    services: Vec<String>,
    ranges: Option<Vec<String>>,
}

/// The Terraform's private endpoints.
fn private_endpoints(
    module: &Module,
    ev: &Evaluator<'_>,
    symbolic: &Evaluator<'_>,
) -> Vec<Endpoint> {
    let one = Instance::Single;
    module
        .resources("azurerm_private_endpoint")
        .filter_map(|p| {
            let connection = p
                .block
                .body
                .blocks()
                .find(|b| b.identifier.as_str() == "private_service_connection")?;
            let target =
                match symbolic.attribute(connection, "private_connection_resource_id", &one) {
                    Some(Value::String(s)) => s,
                    _ => return None,
                };
            let services = match ev.attribute(connection, "subresource_names", &one) {
                Some(Value::Array(names)) => names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            let ranges = match symbolic.attribute(&p.block, "subnet_id", &one) {
                Some(Value::String(s)) => subnet_ranges(module, ev, &s),
                _ => None,
            };
            Some(Endpoint {
                target,
                services,
                ranges,
            })
        })
        .collect()
}

fn entra_text() -> String {
    format!(
        "Microsoft Entra ID (login.microsoftonline.com), {}:{}",
        clouds::ENTRA_ID_RANGES.join(", "),
        clouds::ENTRA_ID_PORT
    )
}

/// The first host address of an IPv4 range (the address itself for a
/// /31 or /32, which have no network address to skip).
fn first_address(cidr: &str) -> Option<Ipv4Addr> {
    let (net, bits) = cidr.split_once('/')?;
    let net: Ipv4Addr = net.parse().ok()?;
    let bits: u8 = bits.parse().ok().filter(|b| *b <= 32)?;
    let skip = u32::from(bits < 31);
    Some(Ipv4Addr::from(u32::from(net).saturating_add(skip)))
}

fn is_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Whether the cluster enforces NetworkPolicies: its `network_policy`
/// engine (Cilium, Azure's, Calico), or a plugin an Application installs.
fn enforcement(
    m: &Modelled,
    ev: &Evaluator<'_>,
    cluster: &Located,
    cloud: &mut Cloud,
    gaps: &mut Vec<Gap>,
) {
    let profile = cluster
        .block
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "network_profile");
    let (enforced, by) = match profile.map(|p| ev.attribute(p, "network_policy", &Instance::Single))
    {
        None => (
            Some(false),
            "no network_profile: kubenet, without a network policy engine".to_owned(),
        ),
        Some(Some(Value::Null)) => (
            Some(false),
            "network_profile without network_policy: no engine".to_owned(),
        ),
        Some(Some(Value::String(p))) => (
            Some(clouds::AKS_POLICY_ENGINES.contains(&p.as_str())),
            format!("network_policy {p:?}"),
        ),
        Some(_) => (None, "network_policy, not known before a plan".to_owned()),
    };
    (
        cloud.enforces_policies,
        cloud.enforcement_by,
        cloud.enforcement_at,
    ) = match super::cloud::policy_plugin(m) {
        Some((by, place)) => (Some(true), by, place),
        None => (enforced, by, cloud.at.clone()),
    };
    if cloud.enforces_policies.is_none() {
        gaps.push(Gap {
            app: m.system.root.clone(),
            at: cloud.at.clone(),
            message: format!(
                "{}: whether the cluster enforces NetworkPolicies is not judged",
                cloud.enforcement_by
            ),
        });
    }
}

/// Whether the cluster issues the tokens a federated credential trusts:
/// its OIDC issuer and the workload identity webhook both on.
fn issuer(
    ev: &Evaluator<'_>,
    cluster: &Located,
    gaps: &mut Vec<Gap>,
    gap: &impl Fn(&str, usize, String) -> Gap,
) -> Option<bool> {
    let mut on = Some(true);
    for key in ["oidc_issuer_enabled", "workload_identity_enabled"] {
        match ev.attribute(&cluster.block, key, &Instance::Single) {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false) | Value::Null) => on = Some(false),
            _ => {
                gaps.push(gap(&cluster.file, cluster.line, format!("{key} is not known before a plan: whether the cluster's pods get workload identity tokens is not judged")));
                if on == Some(true) {
                    on = None;
                }
            }
        }
    }
    on
}

/// A managed identity's federated credential for one service account.
struct Federated {
    namespace: String,
    account: String,
    at: At,
    /// The identity's resource name (`azurerm_user_assigned_identity.X`),
    /// and its name in Azure where known.
    key: String,
    identity: String,
    /// Whether it trusts this cluster's tokens: its issuer is the cluster's
    /// and its audience the webhook's (None: only a plan knows).
    trusted: Option<bool>,
}

fn federated(
    module: &Module,
    ev: &Evaluator<'_>,
    symbolic: &Evaluator<'_>,
    cluster: &str,
    gaps: &mut Vec<Gap>,
    gap: &impl Fn(&str, usize, String) -> Gap,
) -> Vec<Federated> {
    let mut out = Vec::new();
    let own_issuer = format!("${{azurerm_kubernetes_cluster.{cluster}.oidc_issuer_url}}");
    for r in module.resources("azurerm_federated_identity_credential") {
        let Some(instances) = ev.instances(&r.block) else {
            gaps.push(gap(&r.file, r.line, "the instances of this federated credential (for_each or count) are not known before a plan: the service accounts it names are not judged".into()));
            continue;
        };
        for i in &instances {
            let subject = ev.attribute(&r.block, "subject", i);
            let Some(Value::String(subject)) = subject else {
                gaps.push(gap(&r.file, r.line, "the subject of this federated credential is not known before a plan: the service account it names is not judged".into()));
                continue;
            };
            // Other subjects (a CI system's, say) are not service accounts.
            let Some((namespace, account)) = subject
                .strip_prefix("system:serviceaccount:")
                .and_then(|s| s.split_once(':'))
            else {
                continue;
            };
            let trusted_issuer = match symbolic.attribute(&r.block, "issuer", i) {
                Some(Value::String(s)) if s == own_issuer => Some(true),
                // Another cluster's issuer, or anything else a reference
                // names, is not this cluster's.
                Some(Value::String(s)) if s.starts_with("${") => Some(false),
                // A literal URL may be this cluster's, copied after an
                // apply: only Azure knows.
                _ => None,
            };
            let audience = match ev.attribute(&r.block, "audience", i) {
                Some(Value::Array(a)) => Some(a.iter().any(|v| v == clouds::AKS_TOKEN_AUDIENCE)),
                _ => None,
            };
            let trusted = match (trusted_issuer, audience) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            };
            if trusted.is_none() {
                gaps.push(gap(&r.file, r.line, format!("the issuer or audience of the credential federated with {namespace}/{account} is not known before a plan: whether it trusts this cluster's tokens is not judged")));
            }
            // azurerm 4 names the identity `user_assigned_identity_id`, 3
            // `parent_id`.
            let parent = ["user_assigned_identity_id", "parent_id"]
                .iter()
                .find_map(|k| match symbolic.attribute(&r.block, k, i) {
                    Some(Value::String(p)) => Some(p),
                    _ => None,
                })
                .unwrap_or_default();
            let key = parent
                .strip_prefix("${azurerm_user_assigned_identity.")
                .and_then(|p| p.strip_suffix(".id}"))
                .unwrap_or_default()
                .to_owned();
            let identity = module
                .resources("azurerm_user_assigned_identity")
                .find(|b| b.resource().is_some_and(|(_, n)| n == key))
                .and_then(
                    |b| match ev.attribute(&b.block, "name", &Instance::Single) {
                        Some(Value::String(n)) => Some(n),
                        _ => None,
                    },
                )
                .unwrap_or_else(|| {
                    if key.is_empty() {
                        parent.clone()
                    } else {
                        key.clone()
                    }
                });
            out.push(Federated {
                namespace: namespace.to_owned(),
                account: account.to_owned(),
                at: at(&r.file, r.line),
                key,
                identity,
                trusted,
            });
        }
    }
    out
}

/// Whether the pods running as `namespace/account` carry the label the
/// webhook selects: in a workload's pod template (an object, or one a
/// chart's values embed, ECK's `podTemplate` say), or in the `podLabels`
/// of the chart whose main account it is. None where no such pod is seen.
fn labelled(
    m: &Modelled,
    files: &Files,
    facts: &ChartFacts,
    namespace: &str,
    account: &str,
) -> Option<bool> {
    let mut seen: Option<bool> = None;
    let mut note = |labels: &Value| {
        let on = labels[clouds::AKS_USE_LABEL] == "true";
        seen = Some(seen.unwrap_or(true) && on);
    };
    for (o, v) in m.system.objects.iter().zip(&m.values) {
        let Some(v) = v else { continue };
        if o.namespace != namespace {
            continue;
        }
        templates(v, account, &mut note);
    }
    for app in m
        .system
        .applications
        .iter()
        .filter(|a| a.destination.namespace.as_deref() == Some(namespace))
    {
        let values = super::wiring::app_values(app, files);
        templates(&values, account, &mut note);
        for s in &app.sources {
            let Some(c) = s.chart_facts(facts) else {
                continue;
            };
            for a in c.account_values() {
                let named = super::cloud::account_name(
                    super::cloud::at_path(&values, &a.values),
                    &a.account,
                );
                if named != account || a.pod_labels.is_empty() {
                    continue;
                }
                // The pods' labels, merged from where the chart reads
                // them. Charts conventionally label their main pods from
                // `podLabels`; where the facts say no more, values that
                // leave it unset are not judged.
                let mut labels = serde_json::Map::new();
                let mut set = false;
                for path in &a.pod_labels {
                    if let Some(map) = super::cloud::at_path(&values, path).as_object() {
                        set = true;
                        labels.extend(map.clone());
                    }
                }
                if set || !a.conventional {
                    note(&Value::Object(labels));
                }
            }
        }
    }
    seen
}

/// Every pod template under `v` whose pods run as `account`, its labels
/// given to `note`.
fn templates(v: &Value, account: &str, note: &mut impl FnMut(&Value)) {
    pod_templates(v, &mut |a, labels| {
        if a == account {
            note(labels);
        }
    });
}

/// Every pod template under `v` (at any depth: a Deployment's
/// `spec.template`, ECK's `podTemplate`, a chart's values), its account
/// and its labels given to `visit`. A range remembers of a values file
/// what this walk finds there (see `system::account_reads`).
pub(crate) fn pod_templates(v: &Value, visit: &mut impl FnMut(&str, &Value)) {
    super::each_object(v, &mut |map| {
        let spec = map.get("spec");
        let account = spec.and_then(|s| s["serviceAccountName"].as_str());
        if let (Some(account), Some(spec)) = (account, spec) {
            if map.contains_key("metadata") && spec.get("containers").is_some() {
                visit(account, &map["metadata"]["labels"]);
            }
        }
    });
}

/// Every Key Vault entry the operator reads through a store that signs in
/// as the operator's own workload identity, judged against the roles its
/// federated identity holds.
#[allow(clippy::too_many_arguments)]
fn secret_reads(
    m: &Modelled,
    files: &Files,
    module: &Module,
    ev: &Evaluator<'_>,
    symbolic: &Evaluator<'_>,
    federated: &[Federated],
    operators: &[(String, String)],
    gaps: &mut Vec<Gap>,
    gap: &impl Fn(&str, usize, String) -> Gap,
) -> Vec<SecretRead> {
    // A store without serviceAccountRef signs in as the operator's pods.
    let stores = super::cloud_iam::operator_stores(m, files, |p| {
        let kv = &p["azurekv"];
        (kv["authType"] == "WorkloadIdentity" && kv["serviceAccountRef"].is_null())
            .then(|| vault_name(kv["vaultUrl"].as_str().unwrap_or_default()))
    });
    if stores.is_empty() {
        return Vec::new();
    }
    // The vaults by resource name, with their names in Azure.
    let vaults: Vec<(String, Option<String>)> = module
        .resources("azurerm_key_vault")
        .map(|v| {
            let (_, key) = v.resource().unwrap_or_default();
            let name = match ev.attribute(&v.block, "name", &Instance::Single) {
                Some(Value::String(n)) => Some(n.to_ascii_lowercase()),
                _ => None,
            };
            (key.to_owned(), name)
        })
        .collect();
    let mut out = Vec::new();
    for (namespace, account) in operators {
        let identity = federated
            .iter()
            .find(|f| f.namespace == *namespace && f.account == *account);
        // (role, scope: the vault's name, or "*" for a wider scope, where)
        let mut roles: Vec<(String, String, String)> = Vec::new();
        if let Some(f) = identity.filter(|f| !f.key.is_empty()) {
            let principal = format!("${{azurerm_user_assigned_identity.{}.principal_id}}", f.key);
            for r in module.resources("azurerm_role_assignment") {
                let one = Instance::Single;
                if symbolic.attribute(&r.block, "principal_id", &one)
                    != Some(Value::String(principal.clone()))
                {
                    continue;
                }
                let Some(Value::String(role)) =
                    ev.attribute(&r.block, "role_definition_name", &one)
                else {
                    continue;
                };
                if !clouds::KEY_VAULT_SECRET_READERS.contains(&role.as_str()) {
                    continue;
                }
                let scope = match symbolic.attribute(&r.block, "scope", &one) {
                    Some(Value::String(s)) => s,
                    _ => String::new(),
                };
                let vault = scope
                    .strip_prefix("${azurerm_key_vault.")
                    .and_then(|s| s.strip_suffix(".id}"));
                let scope = match vault {
                    Some(key) => match vaults.iter().find(|(k, _)| k == key) {
                        Some((_, Some(name))) => name.clone(),
                        _ => {
                            gaps.push(gap(&r.file, r.line, "the name of the Key Vault this role is granted on is not known before a plan: what External Secrets may read there is not judged".into()));
                            continue;
                        }
                    },
                    // A resource group's or a subscription's scope holds
                    // every vault in it.
                    None if scope.starts_with("${azurerm_resource_group.")
                        || scope.starts_with("/subscriptions/")
                        || scope.starts_with("${data.azurerm_subscription.") =>
                    {
                        "*".to_owned()
                    }
                    None => {
                        gaps.push(gap(&r.file, r.line, "the scope of this role is not known before a plan: what External Secrets may read is not judged".into()));
                        continue;
                    }
                };
                roles.push((role, scope, format!("{}:{}", r.file, r.line)));
            }
        }
        for e in super::cloud_iam::store_entries(m, &stores) {
            let granted: Vec<&(String, String, String)> = roles
                .iter()
                .filter(|(_, scope, _)| scope == "*" || *scope == e.place)
                .collect();
            // Key Vault's secret names: 127 letters, digits or `-`.
            let name_valid = !e.key.is_empty()
                && e.key.len() <= 127
                && e.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            out.push(SecretRead {
                app: e.object.app.clone(),
                external_secret: format!("{}/{}", e.object.namespace, e.object.name),
                key: e.key,
                at: e.at,
                store: e.store,
                region: e.place,
                operator: format!("{namespace}/{account}"),
                role: identity.map(|f| f.identity.clone()).unwrap_or_default(),
                policies: roles
                    .iter()
                    .map(|(r, s, at)| format!("{r} on {s} ({at})"))
                    .collect(),
                allowed: !granted.is_empty(),
                reach: Verdict::default(),
                endpoint: String::new(),
                name_valid: Some(name_valid),
            });
        }
    }
    out
}

/// A vault's name from its URL (`https://NAME.vault.azure.net/`).
fn vault_name(url: &str) -> String {
    url.trim_start_matches("https://")
        .split(['.', '/'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// By vault name: the ranges of the subnets its private endpoints are in
/// (None: not known before a plan). A vault absent has none: it answers
/// at its public addresses.
fn vault_endpoints(
    module: &Module,
    ev: &Evaluator<'_>,
    endpoints: &[Endpoint],
) -> std::collections::BTreeMap<String, Option<Vec<String>>> {
    let mut out = std::collections::BTreeMap::new();
    for Endpoint { target, ranges, .. } in endpoints {
        let Some(vault) = target
            .strip_prefix("${azurerm_key_vault.")
            .and_then(|t| t.strip_suffix(".id}"))
        else {
            continue;
        };
        let name = module
            .resources("azurerm_key_vault")
            .find(|b| b.resource().is_some_and(|(_, n)| n == vault))
            .and_then(
                |b| match ev.attribute(&b.block, "name", &Instance::Single) {
                    Some(Value::String(n)) => Some(n.to_ascii_lowercase()),
                    _ => None,
                },
            );
        if let Some(name) = name {
            out.insert(name, ranges.clone());
        }
    }
    out
}

/// The address prefixes of the subnet a `${azurerm_subnet.X.id}` names.
fn subnet_ranges(module: &Module, ev: &Evaluator<'_>, reference: &str) -> Option<Vec<String>> {
    let key = reference
        .strip_prefix("${azurerm_subnet.")?
        .strip_suffix(".id}")?;
    let subnet = module
        .resources("azurerm_subnet")
        .find(|b| b.resource().is_some_and(|(_, n)| n == key))?;
    let Some(Value::Array(prefixes)) =
        ev.attribute(&subnet.block, "address_prefixes", &Instance::Single)
    else {
        return None;
    };
    prefixes
        .iter()
        .map(|p| p.as_str().map(str::to_owned))
        .collect()
}

/// The ExternalName Services forwarding into the Terraform's private DNS
/// zones, and the connections to the PostgreSQL servers their CNAME
/// records name (which answer from their delegated subnet).
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
    for z in module.resources("azurerm_private_dns_zone") {
        let (_, resource) = z.resource().unwrap_or_default();
        let instances = ev.instances(&z.block).unwrap_or_default();
        let names: Option<Vec<(Instance, String)>> = instances
            .into_iter()
            .map(|i| match ev.attribute(&z.block, "name", &i) {
                Some(Value::String(name)) => Some((i, name)),
                _ => None,
            })
            .collect();
        match names.filter(|n| !n.is_empty()) {
            Some(names) => {
                for (i, name) in names {
                    // One zone per instance (`for_each` over names), known
                    // to records by its name.
                    let key = match &i {
                        Instance::Single => resource.to_owned(),
                        Instance::Each { key, .. } => format!("{resource}[{key}]"),
                        Instance::Count(n) => format!("{resource}[{n}]"),
                    };
                    if matches!(i, Instance::Single) {
                        zones.called.push((format!("${{azurerm_private_dns_zone.{resource}.name}}"), key.clone()));
                    }
                    zones.zones.push((key.clone(), dns(&name), at(&z.file, z.line)));
                    zones.called.push((name, key));
                }
            }
            None => gaps.push(Gap {
                app: m.system.root.clone(),
                at: at(&z.file, z.line),
                message: "the name of this private zone is not known before a plan: the names forwarded into it are not judged".into(),
            }),
        }
    }
    let servers = Servers {
        records: &[
            "azurerm_private_dns_cname_record",
            "azurerm_private_dns_a_record",
        ],
        zone: "zone_name",
        server: "azurerm_postgresql_flexible_server",
    };
    let targets = |r: &Located| match symbolic.attribute(&r.block, "record", &one) {
        Some(Value::String(target)) => target
            .strip_prefix("${azurerm_postgresql_flexible_server.")
            .and_then(|t| t.strip_suffix(".fqdn}"))
            .map(str::to_owned)
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    // A flexible server answers from its delegated subnet.
    let ranges = |r: &Located| match symbolic.attribute(&r.block, "delegated_subnet_id", &one) {
        Some(Value::String(s)) => subnet_ranges(module, ev, &s),
        _ => None,
    };
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
            format!("the subnet the server behind {fqdn} answers from is not known before a plan: whether its consumers' egress reaches it is not judged")
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vaults_name_is_its_urls_first_label() {
        assert_eq!(
            vault_name("https://Acme-Prod-KV.vault.azure.net/"),
            "acme-prod-kv"
        );
        assert_eq!(
            vault_name("https://acme-prod-kv.vault.azure.net"),
            "acme-prod-kv"
        );
    }

    #[test]
    fn a_client_id_is_a_uuid() {
        assert!(is_uuid("0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e"));
        assert!(!is_uuid("${azurerm_user_assigned_identity.x.client_id}"));
        assert!(!is_uuid("0b1c2d3e4f5a4b6c9d7e8f9a0b1c2d3e"));
    }

    #[test]
    fn the_first_address_of_a_range_is_its_first_host() {
        assert_eq!(
            first_address("20.190.128.0/18"),
            Some(Ipv4Addr::new(20, 190, 128, 1))
        );
        assert_eq!(
            first_address("10.0.0.7/32"),
            Some(Ipv4Addr::new(10, 0, 0, 7))
        );
        assert_eq!(first_address("nonsense"), None);
        assert_eq!(first_address("10.0.0.0/40"), None);
    }
}
