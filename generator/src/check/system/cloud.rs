//! The managed cluster under an environment, read from its Terraform
//! (`terraform/<environment>/*.tf`, the layout `socle new` writes): which
//! service accounts get an AWS role through EKS Pod Identity, and whether
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
use super::cloud_iam::Grant;
use super::input::{At, Cloud, Gap, PodIdentity};
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
    let Some(cluster) = module.resources("aws_eks_cluster").next() else {
        m.system.not_modelled.extend(gaps);
        return;
    };
    let ev = Evaluator::new(&module);
    let mut cloud = Cloud {
        provider: "eks".into(),
        at: at(&cluster.file, cluster.line),
        agent: format!(
            "{}:{}",
            clouds::EKS_POD_IDENTITY_AGENT,
            clouds::EKS_POD_IDENTITY_PORT
        ),
        network_policies: m
            .system
            .objects
            .iter()
            .filter(|o| o.kind == "NetworkPolicy" && o.group == "networking.k8s.io")
            .count(),
        ..Cloud::default()
    };

    // Pod identities: associations, and add-ons' own (in kube-system).
    let mut granted: Vec<(String, String, At)> = Vec::new();
    let symbolic = Evaluator::symbolic(&module);
    let mut grants: Vec<Grant> = Vec::new();
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
                    if let Some(Value::String(role)) = symbolic.attribute(&r.block, "role_arn", &i) {
                        grants.push(Grant {
                            namespace: ns.clone(),
                            service_account: sa.clone(),
                            role,
                        });
                    }
                    granted.push((ns, sa, at(&r.file, r.line)));
                }
                _ => gaps.push(gap(&r.file, r.line, "the namespace or service account of this pod identity association is not known before a plan".into())),
            }
        }
    }
    let mut vpc_cni: Option<(Option<bool>, At)> = None;
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
                    Some(Value::String(sa)) => granted.push(("kube-system".into(), sa, at(&r.file, r.line))),
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
    // Another network plugin installed by an Application enforces the
    // policies itself.
    let plugin = m.system.applications.iter().find_map(|a| {
        a.sources.iter().find_map(|s| {
            s.chart
                .as_deref()
                .filter(|c| clouds::POLICY_ENFORCING_CHARTS.contains(c))
                .map(|c| (a, c))
        })
    });
    (
        cloud.enforces_policies,
        cloud.enforcement_by,
        cloud.enforcement_at,
    ) = match (plugin, vpc_cni) {
        (Some((app, chart)), _) => (
            Some(true),
            format!("chart {chart} of Application {:?}", app.name),
            app.at.clone(),
        ),
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

    let net = super::wiring::network(m);
    let agent = Peer::Address(IpAddr::V4(clouds::EKS_POD_IDENTITY_AGENT));
    let port = PodPort {
        number: Some(clouds::EKS_POD_IDENTITY_PORT),
        name: None,
    };
    for (namespace, service_account, at) in granted {
        let from = Peer::Pods {
            namespace: &namespace,
            labels: None,
        };
        let verdict = net.verdict(&from, &agent, &port, true);
        let namespace_exists = clouds::EKS_SYSTEM_NAMESPACES.contains(&namespace.as_str())
            || m.system
                .objects
                .iter()
                .any(|o| o.kind == "Namespace" && o.group.is_empty() && o.name == namespace)
            || m.system
                .prerequisites
                .iter()
                .any(|p| p.kind == "Namespace" && p.name == namespace);
        let account_exists = account_exists(m, facts, &namespace, &service_account);
        cloud.identities.push(PodIdentity {
            namespace,
            service_account,
            at,
            agent: verdict,
            namespace_exists,
            account_exists,
        });
    }
    // The External Secrets operators of the environment: who reads the
    // stores that authenticate as the operator.
    let operators: Vec<(String, String)> = m
        .system
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
        .collect();
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

pub(crate) fn at(file: &str, line: usize) -> At {
    At {
        file: file.to_owned(),
        line,
        pointer: String::new(),
    }
}

/// Whether a workload of the environment runs as `namespace/account`: a
/// ServiceAccount object, or a chart whose facts name the account. None
/// when a chart deployed there has no such fact (its account is unknown).
fn account_exists(
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
            let Some(chart) = &s.chart else { continue };
            let version = s.target_revision.as_deref().unwrap_or_default();
            match facts.get(&s.repo_url, chart, version) {
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
