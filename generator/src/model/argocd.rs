//! Where Argo CD runs for each environment and how it reaches the cluster.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::context::Scalar;
use super::environment::{Env, EnvArgocd, Health};
use super::IN_CLUSTER;
use crate::spec::Spec;

/// The top-level `argocd` object.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Argocd {
    pub topology: String,
    pub hub: Option<String>,
    /// The clusters a hub registers, once each.
    pub clusters: Vec<Cluster>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Cluster {
    pub name: String,
    pub server: String,
    pub environments: Vec<String>,
    pub registered_by: String,
}

/// Sets `env.argocd` on every environment and returns the top-level
/// `argocd` object (`topology`, `hub`, and the `clusters` a hub registers).
///
/// per-cluster: every environment is managed by the Argo CD of its own
/// cluster (shared by the environments on that cluster, installed by the
/// first of them), so every destination is the in-cluster API server.
/// hub: one Argo CD in the cluster of the hub environment; environments on
/// that cluster use the in-cluster API server, the others their cluster URL,
/// registered once per cluster (by the first environment on it) with a
/// cluster Secret.
pub(crate) fn place_argocd(spec: &Spec, envs: &mut [Env]) -> Argocd {
    let hub_mode = spec.argocd.is_hub();
    let hub = spec
        .argocd
        .hub
        .clone()
        .or_else(|| spec.environments.last().map(|e| e.name.clone()))
        .unwrap_or_default();
    let hub_cluster = spec
        .environments
        .iter()
        .find(|e| e.name == hub)
        .map(|e| e.cluster_key());
    let mut on_cluster: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &spec.environments {
        on_cluster
            .entry(e.cluster_key())
            .or_default()
            .push(e.name.clone());
    }
    // The Argo CD health alerts of an environment belong with the Prometheus
    // of the cluster its Argo CD runs in (the only one with its metrics).
    let health: Vec<Health> = envs
        .iter()
        .map(|e| {
            let alerts = e.defaults.alerts.as_ref();
            let scalar = |v: Option<&Scalar>| v.cloned().unwrap_or_default();
            Health {
                name: e.name.clone(),
                service_down_for: scalar(alerts.and_then(|a| a.service_down_for.as_ref())),
                pods_not_ready_for: scalar(alerts.and_then(|a| a.pods_not_ready_for.as_ref())),
                pager: alerts
                    .and_then(|a| a.pager.as_ref())
                    .and_then(|p| p.0.as_bool())
                    .unwrap_or(false),
            }
        })
        .collect();
    let mut clusters = Vec::new();
    for (i, (env, obj)) in spec.environments.iter().zip(envs.iter_mut()).enumerate() {
        let key = env.cluster_key();
        let owns = obj.owns_cluster;
        let local = !hub_mode || hub_cluster.as_deref() == Some(key.as_str());
        let is_hub = hub_mode && env.name == hub;
        let sharing = &on_cluster[&key];
        let name = format!("{}-{}", spec.client.slug, sharing.join("-"));
        let register = hub_mode && !local && owns;
        if register {
            clusters.push(Cluster {
                name: name.clone(),
                server: key.clone(),
                environments: sharing.clone(),
                registered_by: env.name.clone(),
            });
        }
        let watched = if !hub_mode {
            vec![health[i].clone()]
        } else if is_hub {
            health.clone()
        } else {
            Vec::new()
        };
        // The Alertmanager of the hub's cluster (deployed by the environment
        // owning it) receives the health alerts of every environment; those
        // of environments that never page must not page there.
        let quiet: Vec<&str> = if hub_mode && local && owns {
            health
                .iter()
                .filter(|h| h.name != env.name && !h.pager)
                .map(|h| h.name.as_str())
                .collect()
        } else {
            Vec::new()
        };
        obj.argocd = EnvArgocd {
            server: if local {
                IN_CLUSTER.to_owned()
            } else {
                key.clone()
            },
            local,
            hub: is_hub,
            installs: if hub_mode { is_hub } else { owns },
            installed_by: if hub_mode {
                hub.clone()
            } else {
                sharing[0].clone()
            },
            monitors: local && owns,
            register,
            cluster_name: (!local).then(|| name.clone()),
            registered_by: (!local).then(|| sharing[0].clone()),
            shared_with: sharing
                .iter()
                .filter(|n| **n != env.name)
                .cloned()
                .collect(),
            watched,
            quiet: (!quiet.is_empty()).then(|| format!("environment =~ \"{}\"", quiet.join("|"))),
        };
    }
    Argocd {
        topology: spec.argocd.topology.clone(),
        hub: hub_mode.then_some(hub),
        clusters,
    }
}
