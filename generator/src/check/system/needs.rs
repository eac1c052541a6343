//! Each need resolved to what satisfies it, by index: the rules then only
//! compare waves (a lookup per need, instead of a scan of every object).

use std::collections::HashMap;

use super::input::{Provided, System};

pub(crate) fn resolve(system: &mut System) {
    let waves: HashMap<&str, i64> = system
        .applications
        .iter()
        .map(|a| (a.name.as_str(), a.wave))
        .collect();
    // (what, group-or-namespace, name) → providers.
    let mut index: HashMap<(&str, String, String), Vec<Provided>> = HashMap::new();
    let provided = |app: &str, at: &super::input::At| Provided {
        app: app.to_owned(),
        wave: waves.get(app).copied().unwrap_or(0),
        at: at.clone(),
    };
    for o in &system.objects {
        let p = provided(&o.app, &o.at);
        let mut add = |what: &'static str, scope: &str, name: &str| {
            index
                .entry((what, scope.to_owned(), name.to_owned()))
                .or_default()
                .push(p.clone());
        };
        match o.kind.as_str() {
            "Namespace" => add("namespace", "", &o.name),
            "StorageClass" => add("storageclass", "", &o.name),
            "IngressClass" => add("ingressclass", "", &o.name),
            "ClusterSecretStore" => add("clustersecretstore", "", &o.name),
            "SecretStore" => add("secretstore", &o.namespace, &o.name),
            "ServiceAccount" => add("serviceaccount", &o.namespace, &o.name),
            "ConfigMap" => {
                add("configmap", &o.namespace, &o.name);
                if o.base_name != o.name {
                    add("configmap", &o.namespace, &o.base_name);
                }
            }
            "Secret" => {
                add("secret", &o.namespace, &o.name);
                if o.base_name != o.name {
                    add("secret", &o.namespace, &o.base_name);
                }
            }
            "ExternalSecret" => {
                if let Some(target) = &o.produces {
                    add("secret", &o.namespace, target);
                }
            }
            _ => {}
        }
        if let Some(gk) = &o.defines {
            add("crd", &gk.group, &gk.kind);
        }
    }
    // What exists before the first sync comes before every wave.
    for p in &system.prerequisites {
        let before = Provided {
            app: "(prerequisite)".into(),
            wave: i64::MIN / 2,
            at: p.at.clone(),
        };
        let key = match p.kind.as_str() {
            "Namespace" => Some(("namespace", String::new(), p.name.clone())),
            "CustomResourceDefinition" => Some(("crd", p.group.clone(), p.name.clone())),
            "StorageClass" => Some(("storageclass", String::new(), p.name.clone())),
            "IngressClass" => Some(("ingressclass", String::new(), p.name.clone())),
            "ClusterSecretStore" => Some(("clustersecretstore", String::new(), p.name.clone())),
            "SecretStore" => Some(("secretstore", p.namespace.clone(), p.name.clone())),
            "ServiceAccount" => Some(("serviceaccount", p.namespace.clone(), p.name.clone())),
            "ConfigMap" => Some(("configmap", p.namespace.clone(), p.name.clone())),
            "Secret" => Some(("secret", p.namespace.clone(), p.name.clone())),
            _ => None,
        };
        if let Some(key) = key {
            index.entry(key).or_default().push(before);
        }
    }
    for a in &system.applications {
        if a.sync_options.iter().any(|o| o == "CreateNamespace=true") {
            if let Some(ns) = &a.destination.namespace {
                index
                    .entry(("namespace", String::new(), ns.clone()))
                    .or_default()
                    .push(provided(&a.name, &a.at));
            }
        }
    }
    let mut seen_needs = std::collections::HashSet::new();
    let mut seen_kinds = std::collections::HashSet::new();
    let mut uses = Vec::new();
    let mut kinds = Vec::new();
    for o in &mut system.objects {
        let label = if o.name.is_empty() {
            format!("{} (chart)", o.kind)
        } else {
            format!("{} {}", o.kind, o.name)
        };
        if o.kind != "HelmValuesReference"
            && seen_kinds.insert((
                o.app.clone(),
                o.group.clone(),
                o.kind.clone(),
                o.namespace.clone(),
            ))
        {
            kinds.push(super::input::KindUse {
                app: o.app.clone(),
                group: o.group.clone(),
                kind: o.kind.clone(),
                namespaced: o.namespaced,
                namespace: o.namespace.clone(),
                object: label.clone(),
                at: o.at.clone(),
                kind_permitted: None,
                namespace_permitted: None,
            });
        }
        let skip_dry_run = o
            .sync_options
            .iter()
            .any(|s| s == "SkipDryRunOnMissingResource=true");
        for mut n in std::mem::take(&mut o.needs) {
            let key = match n.what.as_str() {
                "crd" => (n.group.clone(), n.kind.clone()),
                "namespace" | "storageclass" | "ingressclass" | "clustersecretstore" => {
                    (String::new(), n.name.clone())
                }
                _ => (n.namespace.clone(), n.name.clone()),
            };
            let what: &str = n.what.as_str();
            n.providers = index
                .get(&(what, key.0, key.1))
                .cloned()
                .unwrap_or_default();
            if seen_needs.insert((
                o.app.clone(),
                n.what.clone(),
                n.group.clone(),
                n.kind.clone(),
                n.namespace.clone(),
                n.name.clone(),
                skip_dry_run,
            )) {
                uses.push(super::input::NeedUse {
                    app: o.app.clone(),
                    object: label.clone(),
                    skip_dry_run,
                    need: n,
                });
            }
        }
    }
    system.kinds = kinds;
    system.needs = uses;
}
