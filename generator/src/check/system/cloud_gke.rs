//! A GKE cluster as its environment's Terraform declares it: whether it
//! enforces the NetworkPolicies the environment deploys, the Cloud Storage
//! buckets the Terraform creates (which consumers name in their
//! `dremiogcs:///` and `gs://` URLs), and the IAM roles each consumer's
//! Kubernetes service accounts hold on them: with Workload Identity
//! Federation for GKE an account is an IAM principal of its own, so a
//! consumer none of whose accounts is granted the bucket is refused by
//! Cloud Storage. Secret Manager's grants, the managed database and the
//! reach of Google's APIs are not read: the gap says so, so that a green
//! check is not taken for a judged one.

use serde_json::Value;

use super::build::Modelled;
use super::cloud::at;
use super::input::{At, BucketUse, Cloud, Gap, GcsGrant};
use crate::check::terraform::{Evaluator, Instance, Located, Module};
use crate::core::charts::ChartFacts;

/// The roles that let a principal read a bucket's objects (list and get),
/// and those that also let it write and delete them.
const READS: &[&str] = &[
    "roles/storage.objectViewer",
    "roles/storage.objectUser",
    "roles/storage.objectAdmin",
    "roles/storage.admin",
];
const WRITES: &[&str] = &[
    "roles/storage.objectUser",
    "roles/storage.objectAdmin",
    "roles/storage.admin",
];

/// What GKE's metadata server answers at for the pods of a cluster with
/// Dataplane V2 (their service account's identity): where the Kubernetes
/// side's egress must reach.
const METADATA_SERVER: &str = "169.254.169.254:80";

pub(crate) fn resolve(
    m: &Modelled,
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
    cloud.gcs_grants = grants(module, cluster, &uses, &m.system.root, gaps);
    cloud
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
        agent: METADATA_SERVER.into(),
        network_policies,
        ..Cloud::default()
    };
    gaps.push(gap(
        &cluster.file,
        cluster.line,
        "Google Kubernetes Engine cluster (google_container_cluster): socle reads whether it enforces NetworkPolicies, the buckets its Terraform creates and the storage roles IAM grants the consumers' service accounts on them; Secret Manager's grants, the managed database and whether the pods reach Google's APIs are not judged".into(),
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

/// A grant of a storage role, known before a plan: the bucket (empty for
/// the project's, which reaches every bucket), the role, its members and
/// where it is declared.
struct Binding {
    bucket: String,
    role: String,
    members: Vec<String>,
    place: String,
}

/// The grants of the roles that read or write objects; those not known
/// before a plan are said.
fn bindings(
    module: &Module,
    symbolic: &Evaluator<'_>,
    gap: &dyn Fn(&str, usize, String) -> Gap,
    gaps: &mut Vec<Gap>,
) -> Vec<Binding> {
    let mut out = Vec::new();
    let kinds = [
        ("google_storage_bucket_iam_member", false, true),
        ("google_storage_bucket_iam_binding", true, true),
        ("google_project_iam_member", false, false),
        ("google_project_iam_binding", true, false),
    ];
    for (kind, many, on_bucket) in kinds {
        for r in module.resources(kind) {
            let attr = |k: &str| symbolic.attribute(&r.block, k, &Instance::Single);
            let role = match attr("role") {
                Some(Value::String(role)) if !role.contains("${") => role,
                _ => {
                    gaps.push(gap(&r.file, r.line, "the role of this grant is not known before a plan: what it gives is not judged".into()));
                    continue;
                }
            };
            if !READS.contains(&role.as_str()) {
                continue;
            }
            let repeated = r
                .block
                .body
                .attributes()
                .any(|a| matches!(a.key.as_str(), "for_each" | "count"));
            let conditional = r
                .block
                .body
                .blocks()
                .any(|b| b.identifier.as_str() == "condition");
            if repeated || conditional {
                gaps.push(gap(&r.file, r.line, format!("this grant of {role} has instances (for_each or count) or a condition: whom it admits is not judged")));
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
            let bucket = if on_bucket {
                match attr("bucket") {
                    Some(Value::String(b)) if !b.contains("${") => b,
                    _ => {
                        gaps.push(gap(&r.file, r.line, format!("the bucket of this grant of {role} is not known before a plan: not judged")));
                        continue;
                    }
                }
            } else {
                String::new()
            };
            out.push(Binding {
                bucket,
                role,
                members,
                place: format!("{}:{}", r.file, r.line),
            });
        }
    }
    out
}

/// For each use of a bucket the Terraform creates, the roles the
/// consumer's accounts hold on it, from the bucket's IAM members and
/// bindings and the project's.
fn grants(
    module: &Module,
    cluster: &Located,
    uses: &[(&BucketUse, Vec<(String, String)>)],
    root: &str,
    gaps: &mut Vec<Gap>,
) -> Vec<GcsGrant> {
    if uses.is_empty() {
        return Vec::new();
    }
    let symbolic = Evaluator::symbolic(module);
    let gap = |file: &str, line: usize, message: String| Gap {
        app: root.to_owned(),
        at: at(file, line),
        message,
    };
    let pool = cluster
        .block
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "workload_identity_config")
        .and_then(|b| symbolic.attribute(b, "workload_pool", &Instance::Single));
    let Some(Value::String(pool)) = pool else {
        gaps.push(gap(&cluster.file, cluster.line, "the cluster's workload pool (workload_identity_config) is absent or not known: which service accounts Cloud Storage admits is not judged".into()));
        return Vec::new();
    };
    let bindings = bindings(module, &symbolic, &gap, gaps);
    let mut out = Vec::new();
    for (u, accounts) in uses {
        let mut roles = Vec::new();
        let mut places = Vec::new();
        for b in &bindings {
            if !(b.bucket.is_empty() || b.bucket == u.bucket) {
                continue;
            }
            let holds = b
                .members
                .iter()
                .any(|m| accounts.iter().any(|(n, a)| is_account(m, &pool, n, a)));
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
        });
    }
    out
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
    }
}
