//! A GKE cluster as its environment's Terraform declares it: whether it
//! enforces the NetworkPolicies the environment deploys, and the Cloud
//! Storage buckets the Terraform creates, which consumers name in their
//! `dremiogcs:///` and `gs://` URLs. Google's IAM (which Kubernetes service
//! accounts may use those buckets or read Secret Manager) and the reach of
//! Google's APIs are not read: the gap says so, so that a green check is
//! not taken for a judged one.

use serde_json::Value;

use super::build::Modelled;
use super::cloud::at;
use super::input::{At, Cloud, Gap};
use crate::check::terraform::{Evaluator, Instance, Located, Module};

/// What GKE's metadata server answers at for the pods of a cluster with
/// Dataplane V2 (their service account's identity): where the Kubernetes
/// side's egress must reach.
const METADATA_SERVER: &str = "169.254.169.254:80";

pub(crate) fn resolve(
    m: &Modelled,
    module: &Module,
    cluster: &Located,
    gaps: &mut Vec<Gap>,
) -> Cloud {
    judge(
        module,
        cluster,
        &m.system.root,
        super::cloud::network_policies(m),
        super::cloud::policy_plugin(m),
        gaps,
    )
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
        "Google Kubernetes Engine cluster (google_container_cluster): socle reads whether it enforces NetworkPolicies and which buckets its Terraform creates; its workload identity grants (IAM members), the managed database and whether the pods reach Google's APIs are not judged".into(),
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
}
