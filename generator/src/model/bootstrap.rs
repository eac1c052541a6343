//! What exists before Argo CD syncs anything, because the bootstrap creates
//! it (README.md, Bootstrap).

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Serialize;

use super::argocd::Argocd;
use super::environment::Env;
use super::Enabled;
use crate::spec::Spec;

/// The `bootstrap` object, which `socle-check.yaml` declares to the checker.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Bootstrap {
    /// The External Secrets chart, when enabled.
    pub external_secrets: Option<ChartVersion>,
    pub prerequisites: Vec<Prerequisite>,
    /// The environments bootstrapped after others on their cluster.
    pub environments: Vec<After>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChartVersion {
    pub version: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Prerequisite {
    /// Why it exists, on the first entry of a group only (empty after).
    pub why: String,
    pub object: ObjectRef,
}

/// An object the checker takes as existing; printed as JSON, in this order.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ObjectRef {
    pub group: String,
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct After {
    pub name: String,
    pub after: Vec<String>,
}

/// The `bootstrap` object and the order of environments on a shared
/// cluster. Sets `env.after` (the environments bootstrapped before this one
/// on its cluster) and `env.store_namespaces` (where a namespaced
/// SecretStore must exist).
pub(crate) fn bootstrap(
    spec: &Spec,
    components: &[Enabled],
    secret_operator: Option<&Enabled>,
    secrets: &crate::spec::Secrets,
    argocd: &Argocd,
    storage_classes: &[String],
    envs: &mut [Env],
) -> Bootstrap {
    let eso = secret_operator.and_then(|e| e.component.chart.as_ref());
    let operator_id = secret_operator.map(|e| e.component.id.as_str());
    let cluster_store = secrets.kind == "ClusterSecretStore";
    let mut prerequisites: Vec<Prerequisite> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut push = |why: &str, group: &str, kind: &str, name: &str, namespace: &str| {
        if seen.insert((kind.to_owned(), namespace.to_owned(), name.to_owned())) {
            prerequisites.push(Prerequisite {
                why: why.to_owned(),
                object: ObjectRef {
                    group: group.to_owned(),
                    kind: kind.to_owned(),
                    name: name.to_owned(),
                    namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
                },
            });
        }
    };
    if eso.is_some() {
        push(
            "prerequisite 2: the External Secrets CRDs, so that the store exists before the operator syncs",
            crate::core::kinds::EXTERNAL_SECRETS_GROUP,
            "CustomResourceDefinition",
            &secrets.kind,
            "",
        );
    }
    if cluster_store {
        push(
            "prerequisite 3: the store every ExternalSecret reads",
            crate::core::kinds::EXTERNAL_SECRETS_GROUP,
            "ClusterSecretStore",
            &secrets.store,
            "",
        );
    }
    // The hub's cluster Secrets, and the OIDC client secret of every Argo CD,
    // are ExternalSecrets in its argocd namespace.
    let registers = !argocd.clusters.is_empty();
    let mut after_list = Vec::new();
    let mut store_namespaces: Vec<String> = Vec::new();
    for (i, env) in spec.environments.iter().enumerate() {
        let key = env.cluster_key();
        let after: Vec<String> = spec.environments[..i]
            .iter()
            .filter(|e| e.cluster_key() == key)
            .map(|e| e.name.clone())
            .collect();
        let owns = envs[i].owns_cluster;
        let mut namespaces: Vec<String> = components
            .iter()
            .filter(|e| operator_id.is_some_and(|id| e.component.needs.iter().any(|n| n == id)))
            .filter(|e| owns || !e.component.cluster_wide)
            .filter_map(|e| envs[i].ns.get(&e.component.namespace))
            .cloned()
            .collect();
        // The Argo CD an environment installs reads its OIDC client secret
        // through an ExternalSecret of its namespace (argocd-values.yaml).
        if envs[i].argocd.installs || (registers && envs[i].argocd.hub) {
            namespaces.push("argocd".into());
        }
        namespaces.sort();
        namespaces.dedup();
        if !cluster_store {
            store_namespaces.extend(namespaces.iter().cloned());
        }
        envs[i].store_namespaces = namespaces;
        if !after.is_empty() {
            after_list.push(After {
                name: env.name.clone(),
                after: after.clone(),
            });
        }
        envs[i].after = after;
    }
    for ns in store_namespaces.iter().filter(|n| *n != "argocd") {
        push(
            "prerequisite 3: namespaces of the SecretStores, created ahead of the platform Application (which adopts them)",
            "",
            "Namespace",
            ns,
            "",
        );
    }
    for ns in &store_namespaces {
        push(
            "prerequisite 3: in each namespace with ExternalSecrets, the store they read",
            crate::core::kinds::EXTERNAL_SECRETS_GROUP,
            "SecretStore",
            &secrets.store,
            ns,
        );
    }
    // A storage class the spec names that the blueprint does not define
    // (its manifest's `storage_classes`) is the cluster's: it must
    // exist before the first volume is claimed. A blueprint that defines
    // none names none in its claims: they get the cluster's default.
    for env in envs.iter() {
        for class in [
            &env.defaults.storage_class,
            &env.defaults.object_store_class,
        ] {
            let Some(class) = class.as_ref().and_then(|c| c.0.as_str()) else {
                continue;
            };
            if !storage_classes.is_empty() && !storage_classes.iter().any(|c| c == class) {
                push(
                    "the cluster's own storage classes that socle.yaml names (storage_class, object_store_class): socle does not define them",
                    "storage.k8s.io",
                    "StorageClass",
                    class,
                    "",
                );
            }
        }
    }
    // One comment per group of entries.
    let mut last = String::new();
    for p in &mut prerequisites {
        let why = std::mem::take(&mut p.why);
        if why != last {
            p.why = why.clone();
        }
        last = why;
    }
    Bootstrap {
        external_secrets: eso.map(|c| ChartVersion {
            version: c.version.clone(),
        }),
        prerequisites,
        environments: after_list,
    }
}
