//! Hosts outside the cluster that pods call (an off-cluster backup target,
//! the client's S3 store): the addresses socle.yaml gives them, and
//! whether a namespace's egress policies let its pods reach them there.

use super::build::Modelled;
use super::input::OutsideEgress;
use super::kustomize::Files;
use super::network::{Network, Peer, PodPort};
use crate::core::url::{host_of, port_of};

/// An outside host as socle.yaml describes it, when the repository has
/// one: its URL, and the addresses `network.endpoints.<name>` gives it
/// (the environment's over the spec's), which egress must reach.
pub(crate) struct Described {
    pub(crate) url: String,
    pub(crate) cidrs: Vec<String>,
    /// The one bucket the spec names there (a backup target's).
    pub(crate) bucket: Option<String>,
}

/// The environment's off-cluster backup target (`backup_target`).
pub(crate) fn backup_target(files: &Files, env: &str) -> Option<Described> {
    let spec = &files.docs_of("socle.yaml")?.first()?.value;
    let e = environment(spec, env)?;
    let url = e["backup_target"]["endpoint"].as_str()?.to_owned();
    Some(Described {
        url,
        cidrs: cidrs(spec, e, "backup_target"),
        bucket: e["backup_target"]["bucket"].as_str().map(str::to_owned),
    })
}

/// The client's S3 store (`object_storage`).
pub(crate) fn object_storage(files: &Files, env: &str) -> Option<Described> {
    let spec = &files.docs_of("socle.yaml")?.first()?.value;
    let url = spec["object_storage"]["endpoint"].as_str()?.to_owned();
    let cidrs = environment(spec, env)
        .map(|e| cidrs(spec, e, "object_storage"))
        .unwrap_or_default();
    Some(Described {
        url,
        cidrs,
        bucket: None,
    })
}

fn environment<'v>(spec: &'v serde_json::Value, env: &str) -> Option<&'v serde_json::Value> {
    spec["environments"]
        .as_array()?
        .iter()
        .find(|e| e["name"].as_str() == Some(env))
}

fn cidrs(spec: &serde_json::Value, env: &serde_json::Value, name: &str) -> Vec<String> {
    env["network"]["endpoints"][name]["cidrs"]
        .as_array()
        .or_else(|| spec["network"]["endpoints"][name]["cidrs"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
}

/// The namespace an Application deploys to.
pub(crate) fn namespace_of(m: &Modelled, app: &str) -> Option<String> {
    m.system
        .applications
        .iter()
        .find(|a| a.name == app)
        .and_then(|a| a.destination.namespace.clone())
}

/// Whether pods of `namespace` reach `url` outside the cluster: through a
/// rule with no peers or an ipBlock holding every address socle.yaml gives
/// the host (`described`, when it is that host), else (its addresses
/// unknown) through any ipBlock.
pub(crate) fn egress(
    net: &Network,
    namespace: String,
    url: &str,
    described: Option<&Described>,
) -> Option<OutsideEgress> {
    let port = port_of(url)?;
    let from = Peer::Pods {
        namespace: &namespace,
        labels: None,
    };
    let pod_port = PodPort {
        number: Some(port),
        name: None,
    };
    let verdict = match described {
        Some(d) if !d.cidrs.is_empty() && host_of(&d.url) == host_of(url) => {
            let mut verdicts = d
                .cidrs
                .iter()
                .map(|c| net.verdict(&from, &Peer::Range(c), &pod_port, true));
            let first = verdicts.next();
            verdicts.find(|v| !v.allowed).or(first).unwrap_or_default()
        }
        _ => net.verdict(&from, &Peer::Outside, &pod_port, true),
    };
    Some(OutsideEgress {
        namespace,
        port,
        verdict,
    })
}
