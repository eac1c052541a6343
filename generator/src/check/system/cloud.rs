//! The managed cluster under an environment, read from its Terraform
//! (`terraform/<environment>/*.tf`, the layout `socle new` writes): which
//! service accounts get an AWS role, through EKS Pod Identity or as IAM
//! roles for service accounts (IRSA, see [`super::cloud_trust`]), and whether
//! the cluster enforces NetworkPolicies. The Kubernetes side is judged
//! against it: a pod whose NetworkPolicies block the node's Pod Identity
//! agent never gets its credentials, and an EKS cluster whose VPC CNI is
//! not told to enforce policies accepts every NetworkPolicy and ignores it.
//!
//! What the roles of the pod identities may do is [`super::cloud_iam`]'s
//! to read, and the managed services named by private DNS
//! [`super::cloud_dns`]'s.
//!
//! Only what is known before a plan is read (see [`crate::check::terraform`]);
//! what cannot be evaluated is reported as not modelled, never taken as a pass.

use std::net::IpAddr;

use serde_json::Value;

use super::build::Modelled;
use super::cloud_iam::{self, Grant};
use super::cloud_trust::{self, Caller};
use super::input::{
    AssumedBucket, AssumedRole, At, Cloud, Gap, Misbound, PodIdentity, ServiceCall, Verdict,
};
use super::kustomize::Files;
use super::network::{Peer, PodPort};
use crate::check::terraform::{self, Evaluator, Module};
use crate::core::charts::ChartFacts;
use crate::core::clouds;

/// The folder of an environment's Terraform.
pub(crate) fn folder(environment: &str) -> String {
    format!("terraform/{environment}")
}

pub(crate) fn resolve(m: &mut Modelled, files: &Files, facts: &ChartFacts) {
    let dir = format!("{}/", folder(&m.system.environment));
    let paths: Vec<&str> = files
        .bytes
        .range(dir.as_str()..)
        .map(|(p, _)| *p)
        .take_while(|p| p.starts_with(&dir))
        .filter(|p| !p[dir.len()..].contains('/'))
        .collect();
    // What a plan in the folder reads: the configuration, then the
    // variable definitions files it loads by themselves, in that order.
    let main_values = format!("{dir}terraform.tfvars");
    let mut tfvars: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| *p == main_values || p.ends_with(".auto.tfvars"))
        .collect();
    tfvars.sort_by_key(|p| (*p != main_values, *p));
    let paths: Vec<&str> = paths.into_iter().filter(|p| p.ends_with(".tf")).collect();
    if paths.is_empty() {
        return;
    }
    let mut module = Module::default();
    let mut gaps = Vec::new();
    let gap = |file: &str, line: usize, message: String| Gap {
        app: m.system.root.clone(),
        at: At {
            file: file.to_owned(),
            line,
            pointer: String::new(),
        },
        message,
    };
    for path in paths {
        let Some(bytes) = files.content(path) else {
            continue;
        };
        let parsed = std::str::from_utf8(bytes)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                if text.len() > crate::check::parse::MAX_DOCUMENT {
                    Err("larger than socle reads in one file".into())
                } else {
                    terraform::parse(text).map_err(|e| format!("line {}: {}", e.line, e.message))
                }
            });
        match parsed {
            Ok(blocks) => module.add(path, blocks),
            Err(why) => gaps.push(gap(
                path,
                1,
                format!("Terraform not read ({why}): the cluster it declares is not judged"),
            )),
        }
    }
    for path in tfvars {
        let values = files
            .content(path)
            .and_then(|b| std::str::from_utf8(b).ok())
            .filter(|t| t.len() <= crate::check::parse::MAX_DOCUMENT)
            .map(terraform::parse_values);
        match values {
            Some(Ok(values)) => module.set_values(values),
            _ => gaps.push(gap(
                path,
                1,
                "variable definitions not read: the values that depend on them are not judged"
                    .into(),
            )),
        }
    }
    if let Some(cluster) = module.resources("google_container_cluster").next() {
        let cloud = super::cloud_gke::resolve(m, files, facts, &module, cluster, &mut gaps);
        m.system.not_modelled.extend(gaps);
        m.system.cloud = Some(cloud);
        return;
    }
    if let Some(cluster) = module.resources("azurerm_kubernetes_cluster").next() {
        let cloud = super::cloud_aks::resolve(m, files, facts, &module, cluster, &mut gaps);
        m.system.not_modelled.extend(gaps);
        m.system.cloud = Some(cloud);
        return;
    }
    let Some(cluster) = module.resources("aws_eks_cluster").next() else {
        m.system.not_modelled.extend(gaps);
        return;
    };
    let ev = Evaluator::new(&module);
    // The accounts the Terraform is kept to: a role in any other is not
    // one it creates, whatever its name.
    let allowed: Option<Vec<String>> = module
        .blocks
        .iter()
        .find(|b| {
            b.block.identifier.as_str() == "provider"
                && b.block.labels.first().map(|l| l.as_str()) == Some("aws")
        })
        .and_then(|p| {
            let ids = ev.attribute(
                &p.block,
                "allowed_account_ids",
                &terraform::Instance::Single,
            )?;
            let ids: Vec<String> = ids
                .as_array()?
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()?;
            Some(ids)
        });
    // Whether an ARN is of an account the Terraform may make roles in.
    let local_account = |arn: &str| {
        let account = arn_account(arn);
        allowed
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|id| id == account))
    };
    let mut cloud = Cloud {
        provider: "eks".into(),
        at: at(&cluster.file, cluster.line),
        agent: format!(
            "{}:{}",
            clouds::EKS_POD_IDENTITY_AGENT,
            clouds::EKS_POD_IDENTITY_PORT
        ),
        network_policies: network_policies(m),
        ..Cloud::default()
    };

    // Pod identities: associations, and add-ons' own (in kube-system);
    // then the accounts roles trust by web identity (IRSA).
    let symbolic = Evaluator::symbolic(&module);
    let (roles, unknown_roles) = cloud_trust::roles(&module, &ev, &symbolic);
    for b in unknown_roles {
        gaps.push(gap(&b.file, b.line, "the instances of this role (for_each or count) are not known before a plan: the accounts it trusts are not judged".into()));
    }
    let mut granted: Vec<Granted> = Vec::new();
    let mut grants: Vec<Grant> = Vec::new();
    // Whether EKS Pod Identity may take the role an association names.
    let pods_trusted = |role: Option<&Value>, place: At, gaps: &mut Vec<Gap>| {
        // By reference, or by the name a literal ARN ends with.
        let found =
            role.and_then(Value::as_str)
                .and_then(|arn| match cloud_iam::role_key(arn) {
                    Some(k) => roles.iter().find(|r| r.key == k),
                    None => role_name(arn)
                        .and_then(|n| roles.iter().find(|r| r.name.as_deref() == Some(n))),
                });
        let Some(r) = found else {
            gaps.push(gap(&place.file, place.line, "the role of this pod identity is not one this Terraform creates: whether its trust policy lets EKS Pod Identity take it is not judged".into()));
            return (String::new(), None);
        };
        // A trust policy that cannot be read is said once, with the role.
        let Ok(trust) = &r.trust else {
            return (r.label().to_owned(), None);
        };
        let trusted = trust.admits(&Caller::Pods);
        if trusted.is_none() {
            gaps.push(gap(&r.block.file, r.block.line, format!("role {}: a condition of its trust policy is not known before a plan: whether EKS Pod Identity may take it is not judged", r.label())));
        }
        (r.label().to_owned(), trusted)
    };
    for r in module.resources("aws_eks_pod_identity_association") {
        let Some(instances) = ev.instances(&r.block) else {
            gaps.push(gap(&r.file, r.line, "the instances of this pod identity association (for_each or count) are not known before a plan".into()));
            continue;
        };
        for i in instances {
            let ns = ev.attribute(&r.block, "namespace", &i);
            let sa = ev.attribute(&r.block, "service_account", &i);
            match (ns, sa) {
                (Some(Value::String(ns)), Some(Value::String(sa))) => {
                    let role = symbolic.attribute(&r.block, "role_arn", &i);
                    if let Some(Value::String(role)) = &role {
                        grants.push(Grant {
                            namespace: ns.clone(),
                            service_account: sa.clone(),
                            role: role.clone(),
                        });
                    }
                    let place = at(&r.file, r.line);
                    let (role, trusted) = pods_trusted(role.as_ref(), place.clone(), &mut gaps);
                    granted.push(Granted::pods(ns, sa, place, role, trusted));
                }
                _ => gaps.push(gap(&r.file, r.line, "the namespace or service account of this pod identity association is not known before a plan".into())),
            }
        }
    }
    let mut vpc_cni: Option<(Option<bool>, At)> = None;
    // The namespaces the add-ons create for their workloads.
    let mut addon_namespaces: std::collections::BTreeSet<&str> = Default::default();
    // An add-on whose name is not known may be the VPC CNI.
    let mut unknown_addon: Option<At> = None;
    for r in module.resources("aws_eks_addon") {
        let Some(instances) = ev.instances(&r.block) else {
            unknown_addon = Some(at(&r.file, r.line));
            gaps.push(gap(
                &r.file,
                r.line,
                "the instances of this add-on (for_each or count) are not known before a plan"
                    .into(),
            ));
            continue;
        };
        for i in instances {
            let name = ev.attribute(&r.block, "addon_name", &i);
            for b in r
                .block
                .body
                .blocks()
                .filter(|b| b.identifier.as_str() == "pod_identity_association")
            {
                match ev.attribute(b, "service_account", &i) {
                    Some(Value::String(sa)) => {
                        let place = at(&r.file, r.line);
                        let role = symbolic.attribute(b, "role_arn", &i);
                        let (role, trusted) = pods_trusted(role.as_ref(), place.clone(), &mut gaps);
                        let namespace =
                            clouds::eks_addon_namespace(name.as_ref().and_then(Value::as_str).unwrap_or_default());
                        addon_namespaces.insert(namespace);
                        granted.push(Granted::pods(namespace.into(), sa, place, role, trusted));
                    }
                    _ => gaps.push(gap(&r.file, r.line, "the service account of this add-on's pod identity is not known before a plan".into())),
                }
            }
            match name {
                Some(Value::String(n)) if n == "vpc-cni" => {
                    let enforced = match ev.attribute(&r.block, "configuration_values", &i) {
                        Some(Value::Null) => Some(false),
                        Some(Value::String(json)) => {
                            Some(serde_json::from_str::<Value>(&json).is_ok_and(|v| {
                                matches!(&v["enableNetworkPolicy"], Value::Bool(true))
                                    || v["enableNetworkPolicy"] == "true"
                            }))
                        }
                        _ => None,
                    };
                    vpc_cni = Some((enforced, at(&r.file, r.line)));
                }
                Some(Value::String(_)) => {}
                _ => {
                    unknown_addon = Some(at(&r.file, r.line));
                    gaps.push(gap(
                        &r.file,
                        r.line,
                        "the name of this add-on is not known before a plan".into(),
                    ));
                }
            }
        }
    }
    (
        cloud.enforces_policies,
        cloud.enforcement_by,
        cloud.enforcement_at,
    ) = match (policy_plugin(m), vpc_cni) {
        (Some((by, place)), _) => (Some(true), by, place),
        (None, Some((enforced, at))) => (enforced, "the vpc-cni add-on".into(), at),
        (None, None) if unknown_addon.is_some() => (
            None,
            "an add-on not known before a plan".into(),
            unknown_addon.clone().unwrap_or_default(),
        ),
        // Without the add-on, EKS runs its default VPC CNI, which enforces
        // no NetworkPolicy.
        (None, None) => (
            Some(false),
            "the cluster's default VPC CNI (no vpc-cni add-on)".into(),
            cloud.at.clone(),
        ),
    };
    if cloud.enforces_policies.is_none() && unknown_addon.is_none() {
        gaps.push(gap(
            &cloud.enforcement_at.file,
            cloud.enforcement_at.line,
            "the vpc-cni add-on's configuration_values are not known before a plan: whether the cluster enforces NetworkPolicies is not judged".into(),
        ));
    }

    // IRSA: the accounts each role trusts by web identity, then the
    // ServiceAccounts naming a role in their annotation.
    let accounts = service_accounts(m, files, facts, clouds::EKS_ROLE_ARN_ANNOTATION, false);
    for r in &roles {
        let trust = match &r.trust {
            Ok(t) => t,
            Err(why) => {
                gaps.push(gap(&r.block.file, r.block.line, format!("role {}: {why}: who may take it (EKS Pod Identity, or service accounts by web identity) is not judged", r.label())));
                continue;
            }
        };
        for (namespace, account) in trust.web_subjects() {
            let pattern = [&namespace, &account]
                .iter()
                .any(|s| s.contains(['*', '?']));
            let trusted = if pattern {
                None
            } else {
                trust.admits(&Caller::Account {
                    namespace: &namespace,
                    account: &account,
                })
            };
            if trusted != Some(false) {
                grants.push(Grant {
                    namespace: namespace.clone(),
                    service_account: account.clone(),
                    role: format!("${{{}.arn}}", r.key),
                });
            }
            // A pattern grants whoever matches it; only accounts named one
            // by one are identities of their own.
            if pattern {
                continue;
            }
            if trusted.is_none() {
                gaps.push(gap(&r.block.file, r.block.line, format!("role {}: a condition of its trust policy is not known before a plan: whether {namespace}/{account} may take it is not judged", r.label())));
            }
            // The account as an object of the environment: its annotation
            // must name the role (a chart's account is not seen).
            let annotated = accounts
                .iter()
                .find(|(ns, sa, _, _)| *ns == namespace && *sa == account)
                .and_then(|(_, _, arn, _)| match arn {
                    Some(arn) => r
                        .name
                        .as_ref()
                        .map(|n| role_name(arn) == Some(n.as_str()) && local_account(arn)),
                    None => Some(false),
                });
            granted.push(Granted {
                namespace,
                service_account: account,
                at: at(&r.block.file, r.block.line),
                mechanism: "irsa",
                role: r.label().to_owned(),
                trusted,
                annotated,
            });
        }
    }
    for (namespace, account, arn, place) in &accounts {
        let Some(name) = arn.as_deref().and_then(role_name) else {
            continue;
        };
        // A role of another account (a cross-account IRSA role) is not
        // this Terraform's, whatever its name.
        let arn = arn.as_deref().unwrap_or_default();
        if !local_account(arn) {
            gaps.push(gap(&place.file, place.line, format!("ServiceAccount {namespace}/{account} takes role {name:?} of account {}, where the environment's Terraform (kept to {}) creates no role: whether the role trusts it is not judged", arn_account(arn), allowed.as_deref().unwrap_or_default().join(", "))));
            continue;
        }
        let Some(r) = roles.iter().find(|r| r.name.as_deref() == Some(name)) else {
            gaps.push(gap(&place.file, place.line, format!("ServiceAccount {namespace}/{account} takes role {name:?}, which the environment's Terraform does not create: whether the role trusts it is not judged")));
            continue;
        };
        let trust = match &r.trust {
            Ok(t) => t,
            Err(why) => {
                gaps.push(gap(&r.block.file, r.block.line, format!("role {}: {why}: whether ServiceAccount {namespace}/{account} may take it is not judged", r.label())));
                continue;
            }
        };
        match trust.admits(&Caller::Account { namespace, account }) {
            Some(true) => {}
            Some(false) => cloud.misbound.push(Misbound {
                namespace: namespace.clone(),
                service_account: account.clone(),
                at: place.clone(),
                role: r.label().to_owned(),
                role_at: at(&r.block.file, r.block.line),
                trusted_accounts: trust
                    .web_subjects()
                    .into_iter()
                    .map(|(ns, sa)| format!("{ns}/{sa}"))
                    .collect(),
            }),
            None => gaps.push(gap(&r.block.file, r.block.line, format!("role {}: a condition of its trust policy is not known before a plan: whether ServiceAccount {namespace}/{account} may take it is not judged", r.label()))),
        }
    }

    let net = super::wiring::network(m);
    let agent = Peer::Address(IpAddr::V4(clouds::EKS_POD_IDENTITY_AGENT));
    let port = PodPort {
        number: Some(clouds::EKS_POD_IDENTITY_PORT),
        name: None,
    };
    let mut reach = ServiceReach::new(&module, &ev, &symbolic, &m.system.root);
    for g in granted {
        let Granted {
            namespace,
            service_account,
            at,
            mechanism,
            role,
            trusted,
            annotated,
        } = g;
        let from = Peer::Pods {
            namespace: &namespace,
            labels: None,
        };
        // An IRSA pod calls STS, not the node's agent.
        let (verdict, credentials_from) = if mechanism == "pod-identity" {
            (net.verdict(&from, &agent, &port, true), cloud.agent.clone())
        } else {
            reach.of(&net, &namespace, "sts", &mut gaps)
        };
        let namespace_exists = clouds::EKS_SYSTEM_NAMESPACES.contains(&namespace.as_str())
            || addon_namespaces.contains(namespace.as_str())
            || namespace_created(m, &namespace);
        // An add-on creates its own accounts, which the repository does
        // not see.
        let account_exists = if addon_namespaces.contains(namespace.as_str()) {
            None
        } else {
            account_exists(m, facts, &namespace, &service_account)
        };
        cloud.identities.push(PodIdentity {
            namespace,
            service_account,
            at,
            agent: verdict,
            credentials_from,
            namespace_exists,
            account_exists,
            mechanism: mechanism.into(),
            role,
            trusted,
            annotated,
            labelled: None,
        });
    }
    let operators = operators(m, facts);
    let (reads, unread) = super::cloud_iam::secret_reads(m, files, &module, &grants, &operators);
    cloud.secret_reads = reads;
    gaps.extend(unread);
    for r in module.resources("aws_s3_bucket") {
        let names = ev.instances(&r.block).map(|all| {
            all.iter()
                .filter_map(|i| match ev.attribute(&r.block, "bucket", i) {
                    Some(Value::String(b)) => Some(b),
                    _ => None,
                })
                .collect::<Vec<_>>()
        });
        match names {
            Some(names) if !names.is_empty() => cloud.buckets.extend(names),
            _ => gaps.push(gap(
                &r.file,
                r.line,
                "the name of this bucket is not known before a plan".into(),
            )),
        }
    }
    // Keys the Terraform issues itself (an IAM user's access key) may be
    // how a consumer signs in: a consumer without a pod identity is then
    // not judged rather than denied.
    let keys = module.resources("aws_iam_access_key").next();
    if let Some(k) = keys {
        gaps.push(gap(
            &k.file,
            k.line,
            "this Terraform issues access keys: whether a bucket's consumer without a pod identity signs in with them is not judged".into(),
        ));
    }
    let keyless: &[String] = if keys.is_some() { &[] } else { &cloud.buckets };
    let (bucket_grants, unsigned, unknown) = super::cloud_iam::bucket_grants(
        m,
        &module,
        &grants,
        facts,
        super::cloud_iam::Created {
            all: &cloud.buckets,
            keyless,
        },
    );
    cloud.bucket_grants = bucket_grants;
    cloud.keyed = super::cloud_keys::keyed(m, facts, keyless);
    cloud.configured_keys = super::cloud_keys::configured_keys(m, keyless);
    // Where the operator reads Secrets Manager, and the consumers S3.
    for r in &mut cloud.secret_reads {
        let namespace = r.operator.split('/').next().unwrap_or_default();
        (r.reach, r.endpoint) = reach.of(&net, namespace, "secretsmanager", &mut gaps);
    }
    for g in &mut cloud.bucket_grants {
        let namespace = g.identity.split('/').next().unwrap_or_default();
        (g.reach, g.endpoint) = reach.of(&net, namespace, "s3", &mut gaps);
    }
    // S3 called with no grant of the caller's own (the credentials a
    // catalog vends): the calls still leave the caller's pods.
    let granted: std::collections::BTreeSet<&str> = cloud
        .bucket_grants
        .iter()
        .map(|g| g.consumer.as_str())
        .collect();
    for c in m
        .system
        .https_calls
        .iter()
        .filter(|c| clouds::is_s3_host(&c.host) && !granted.contains(c.consumer.as_str()))
    {
        let Some(namespace) = super::outside::namespace_of(m, &c.consumer) else {
            continue;
        };
        let (verdict, endpoint) = reach.of(&net, &namespace, "s3", &mut gaps);
        cloud.service_calls.push(ServiceCall {
            consumer: c.consumer.clone(),
            at: c.at.clone(),
            host: c.host.clone(),
            namespace,
            reach: verdict,
            endpoint,
        });
    }
    // Roles a pod identity's role assumes in turn: each must trust it, and
    // its pods call STS for them. Each role's policies are read once, and
    // what is not known said once, however many accounts take it.
    let mut policies: std::collections::BTreeMap<String, Option<cloud_iam::Grants>> =
        Default::default();
    let mut noted = std::collections::BTreeSet::new();
    for g in &grants {
        let Some(key) = cloud_iam::role_key(&g.role) else {
            continue;
        };
        let Some(first) = roles.iter().find(|r| r.key == key) else {
            continue;
        };
        let Some(identity) = cloud
            .identities
            .iter()
            .find(|i| g.covers(&i.namespace, &i.service_account))
        else {
            continue;
        };
        let read = policies
            .entry(key.clone())
            .or_insert_with(|| cloud_iam::role_statements(&module, &symbolic, &key));
        let Some(assumable) = read.as_ref().map(cloud_iam::assumable) else {
            if noted.insert((key.clone(), "policies")) {
                gaps.push(gap(&first.block.file, first.block.line, format!("role {}: a policy is not known before a plan: which roles it may assume is not judged", first.label())));
            }
            continue;
        };
        let who = format!("{}/{}", identity.namespace, identity.service_account);
        for (target, places) in assumable {
            let Some(second) = roles.iter().find(|r| r.key == target) else {
                continue;
            };
            let trusted = second.trust.as_ref().ok().and_then(|t| {
                t.admits(&Caller::Role {
                    key: &key,
                    name: first.name.as_deref(),
                })
            });
            if trusted.is_none() && noted.insert((target.clone(), "trust")) {
                gaps.push(gap(&second.block.file, second.block.line, format!("role {}: its trust policy is not known before a plan: whether role {} may assume it is not judged", second.label(), first.label())));
            }
            let given = policies
                .entry(target.clone())
                .or_insert_with(|| cloud_iam::role_statements(&module, &symbolic, &target));
            if given.is_none() && noted.insert((target.clone(), "buckets")) {
                gaps.push(gap(&second.block.file, second.block.line, format!("role {}: a policy is not known before a plan: what it grants on the buckets of role {}'s pods is not judged", second.label(), first.label())));
            }
            let buckets = cloud
                .bucket_grants
                .iter()
                .filter(|b| b.identity == who)
                .filter_map(|b| {
                    Some(AssumedBucket {
                        actions: cloud_iam::bucket_actions(given.as_ref()?, &b.bucket)?,
                        bucket: b.bucket.clone(),
                        access: b.access.clone(),
                    })
                })
                .collect();
            let (verdict, endpoint) = reach.of(&net, &identity.namespace, "sts", &mut gaps);
            cloud.assumed_roles.push(AssumedRole {
                buckets,
                identity: who.clone(),
                at: identity.at.clone(),
                role: first.label().to_owned(),
                assumes: second.label().to_owned(),
                assumes_at: at(&second.block.file, second.block.line),
                policies: places,
                trusted,
                reach: verdict,
                endpoint,
            });
        }
    }
    cloud.unsigned = unsigned;
    gaps.extend(unknown);
    let (names, unknown) = super::cloud_dns::private_names(m, &module, &ev, &symbolic);
    cloud.private_names = names;
    gaps.extend(unknown);
    cloud.managed_reaches =
        super::cloud_dns::managed_reaches(m, &module, &ev, &symbolic, &mut gaps);
    if ev.exhausted() || symbolic.exhausted() {
        gaps.push(gap(
            &cloud.at.file,
            cloud.at.line,
            format!(
                "evaluating the Terraform's locals stopped at {} values: what depends on them is not judged",
                terraform::BUDGET
            ),
        ));
    }
    m.system.not_modelled.extend(gaps);
    m.system.cloud = Some(cloud);
}

/// The External Secrets operators of the environment (namespace, service
/// account): who reads the stores that authenticate as the operator.
pub(crate) fn operators(m: &Modelled, facts: &ChartFacts) -> Vec<(String, String)> {
    m.system
        .applications
        .iter()
        .flat_map(|a| {
            a.sources
                .iter()
                .filter(|s| s.chart.as_deref() == Some("external-secrets"))
                .map(move |s| {
                    let account = facts
                        .get(
                            &s.repo_url,
                            "external-secrets",
                            s.target_revision.as_deref().unwrap_or_default(),
                        )
                        .and_then(|c| c.service_account.clone())
                        .unwrap_or_else(|| "external-secrets".into());
                    (a.destination.namespace.clone().unwrap_or_default(), account)
                })
        })
        .collect()
}

/// The NetworkPolicies the environment deploys.
pub(crate) fn network_policies(m: &Modelled) -> usize {
    m.system
        .objects
        .iter()
        .filter(|o| o.kind == "NetworkPolicy" && o.group == "networking.k8s.io")
        .count()
}

/// A network plugin an Application installs, which enforces the policies
/// itself whatever the cloud's own plugin does: what it is, and where.
pub(crate) fn policy_plugin(m: &Modelled) -> Option<(String, At)> {
    m.system.applications.iter().find_map(|a| {
        a.sources.iter().find_map(|s| {
            s.chart
                .as_deref()
                .filter(|c| clouds::POLICY_ENFORCING_CHARTS.contains(c))
                .map(|c| {
                    (
                        format!("chart {c} of Application {:?}", a.name),
                        a.at.clone(),
                    )
                })
        })
    })
}

/// A service account granted a role, before it is judged.
struct Granted {
    namespace: String,
    service_account: String,
    at: At,
    mechanism: &'static str,
    role: String,
    trusted: Option<bool>,
    annotated: Option<bool>,
}

impl Granted {
    fn pods(
        namespace: String,
        service_account: String,
        at: At,
        role: String,
        trusted: Option<bool>,
    ) -> Self {
        Granted {
            namespace,
            service_account,
            at,
            mechanism: "pod-identity",
            role,
            trusted,
            annotated: None,
        }
    }
}

/// The ServiceAccounts of the environment, with what each names in the
/// cloud's `annotation` (the role in `eks.amazonaws.com/role-arn`, say):
/// (namespace, account, value, where). A
/// chart's main account is one of them where the Application's values
/// annotate it as charts conventionally take it
/// (`serviceAccount.annotations`, the account `serviceAccount.name` or the
/// one its facts name); a chart annotating its accounts elsewhere is not
/// seen. With `unannotated_charts`, a chart's main account whose values
/// lack the annotation is listed too (without a value): where the cloud
/// reads the annotation only there, its absence is known. An account
/// whose place in the values the facts name is listed either way.
pub(crate) fn service_accounts(
    m: &Modelled,
    files: &Files,
    facts: &ChartFacts,
    annotation: &str,
    unannotated_charts: bool,
) -> Vec<(String, String, Option<String>, At)> {
    let mut out: Vec<_> = m
        .system
        .objects
        .iter()
        .zip(&m.values)
        .filter(|(o, _)| o.kind == "ServiceAccount" && o.group.is_empty())
        .map(|(o, v)| {
            let arn = v.as_ref().and_then(|v| {
                v["metadata"]["annotations"][annotation]
                    .as_str()
                    .map(str::to_owned)
            });
            (o.namespace.clone(), o.name.clone(), arn, o.at.clone())
        })
        .collect();
    for app in &m.system.applications {
        let accounts = app
            .sources
            .iter()
            .find_map(|s| Some(s.chart_facts(facts)?.account_values()));
        let Some(accounts) = accounts.filter(|a| !a.is_empty()) else {
            continue;
        };
        let values = super::wiring::app_values(app, files);
        for a in accounts {
            let account = at_path(&values, &a.values);
            let arn = account["annotations"][annotation].as_str();
            if arn.is_none() && !unannotated_charts && !a.placed {
                continue;
            }
            let namespace = app.destination.namespace.clone().unwrap_or_default();
            out.push((
                namespace,
                account_name(account, &a.account),
                arn.map(str::to_owned),
                app.at.clone(),
            ));
        }
    }
    out
}

/// The value at a dotted path of a chart's values (null where absent).
pub(crate) fn at_path<'v>(values: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(values, |v, key| &v[key])
}

/// The name an account's values give it, else the chart's.
pub(crate) fn account_name(account: &Value, default: &str) -> String {
    account["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or(default)
        .to_owned()
}

/// The account of an ARN (`arn:<partition>:<service>:<region>:<account>:…`).
fn arn_account(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

/// The role name of an IAM role ARN (`arn:aws:iam::1:role/path/name`).
fn role_name(arn: &str) -> Option<&str> {
    let (_, resource) = arn.split_once(":role/")?;
    resource.rsplit('/').next().filter(|n| !n.is_empty())
}

pub(crate) fn at(file: &str, line: usize) -> At {
    At {
        file: file.to_owned(),
        line,
        pointer: String::new(),
    }
}

/// Whether an Application of the environment creates the namespace, or
/// the bootstrap does (a prerequisite).
pub(crate) fn namespace_created(m: &Modelled, namespace: &str) -> bool {
    m.system
        .objects
        .iter()
        .any(|o| o.kind == "Namespace" && o.group.is_empty() && o.name == namespace)
        || m.system
            .prerequisites
            .iter()
            .any(|p| p.kind == "Namespace" && p.name == namespace)
}

/// Whether a workload of the environment runs as `namespace/account`: a
/// ServiceAccount object, or a chart whose facts name the account. None
/// when a chart deployed there has no such fact (its account is unknown).
pub(crate) fn account_exists(
    m: &Modelled,
    facts: &ChartFacts,
    namespace: &str,
    account: &str,
) -> Option<bool> {
    if clouds::EKS_SYSTEM_NAMESPACES.contains(&namespace) {
        // Add-ons create their accounts; the repository does not see them.
        return None;
    }
    if m.system.objects.iter().any(|o| {
        o.kind == "ServiceAccount"
            && o.group.is_empty()
            && o.namespace == namespace
            && o.name == account
    }) {
        return Some(true);
    }
    let mut unknown = false;
    for a in m
        .system
        .applications
        .iter()
        .filter(|a| a.destination.namespace.as_deref() == Some(namespace))
    {
        for s in &a.sources {
            if s.chart_ref().is_none() {
                continue;
            }
            match s.chart_facts(facts) {
                Some(c) if c.accounts().any(|sa| sa == account) => return Some(true),
                Some(c) if c.accounts().next().is_some() => {}
                _ => unknown = true,
            }
        }
    }
    if unknown
        || m.system
            .partly_modelled_namespaces
            .iter()
            .any(|n| n == namespace)
    {
        None
    } else {
        Some(false)
    }
}

/// Whether a namespace's pods reach an AWS API of the environment's region,
/// at the interface endpoint the Terraform gives it or at its public
/// addresses; an endpoint the Terraform leaves unknown is not judged (and
/// said once per service).
struct ServiceReach<'m> {
    module: &'m Module,
    ev: &'m Evaluator<'m>,
    symbolic: &'m Evaluator<'m>,
    endpoints: std::collections::BTreeMap<String, super::cloud_dns::ServiceEndpoint>,
    /// What `of` answered, by namespace and service: every grant and read
    /// of a namespace asks the same question.
    answers: std::collections::BTreeMap<(String, String), (Verdict, String)>,
    /// The Application a gap is reported on (the environment's root).
    app: String,
}

impl<'m> ServiceReach<'m> {
    fn new(
        module: &'m Module,
        ev: &'m Evaluator<'m>,
        symbolic: &'m Evaluator<'m>,
        app: &str,
    ) -> Self {
        Self {
            module,
            ev,
            symbolic,
            endpoints: std::collections::BTreeMap::new(),
            answers: std::collections::BTreeMap::new(),
            app: app.to_owned(),
        }
    }

    /// The verdict of egress from `namespace` to `service` on 443, and where
    /// the service answers, for a reader.
    fn of(
        &mut self,
        net: &super::network::Network<'_>,
        namespace: &str,
        service: &str,
        gaps: &mut Vec<Gap>,
    ) -> (Verdict, String) {
        let key = (namespace.to_owned(), service.to_owned());
        if let Some(answer) = self.answers.get(&key) {
            return answer.clone();
        }
        let answer = self.answer(net, namespace, service, gaps);
        self.answers.insert(key, answer.clone());
        answer
    }

    fn answer(
        &mut self,
        net: &super::network::Network<'_>,
        namespace: &str,
        service: &str,
        gaps: &mut Vec<Gap>,
    ) -> (Verdict, String) {
        use super::cloud_dns::ServiceEndpoint;
        let port = PodPort {
            number: Some(clouds::AWS_API_PORT),
            name: None,
        };
        let from = Peer::Pods {
            namespace,
            labels: None,
        };
        let allowed = Verdict {
            allowed: true,
            ..Verdict::default()
        };
        if !self.endpoints.contains_key(service) {
            let found =
                super::cloud_dns::service_endpoint(self.module, self.ev, self.symbolic, service);
            if let ServiceEndpoint::Unknown { at } = &found {
                gaps.push(Gap {
                    app: self.app.clone(),
                    at: at.clone(),
                    message: format!("an interface endpoint whose service, private DNS or subnets are not known before a plan: whether the pods that call {service} reach it is not judged"),
                });
            }
            self.endpoints.insert(service.to_owned(), found);
        }
        match &self.endpoints[service] {
            ServiceEndpoint::Public => (
                net.verdict(&from, &Peer::Public, &port, true),
                format!("its public endpoint, port {}", clouds::AWS_API_PORT),
            ),
            ServiceEndpoint::Private { subnets } => (
                subnets
                    .iter()
                    .map(|s| net.verdict(&from, &Peer::Range(s), &port, true))
                    .find(|v| !v.allowed)
                    .unwrap_or(allowed),
                format!(
                    "its interface endpoint in subnets {}, port {}",
                    subnets.join(", "),
                    clouds::AWS_API_PORT
                ),
            ),
            ServiceEndpoint::Unknown { .. } => (allowed, String::new()),
        }
    }
}
