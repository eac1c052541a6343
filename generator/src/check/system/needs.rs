//! Each need resolved to what satisfies it, by index: the rules then only
//! compare waves (a lookup per need, instead of a scan of every object).

use std::collections::HashMap;

use super::input::{Provided, System};

/// What provides a need: an object, a prerequisite, or an Application
/// that creates its namespace (by index), made a [`Provided`] only where a
/// need names it.
#[derive(Clone, Copy)]
enum Source {
    Object(usize),
    Prerequisite(usize),
    Application(usize),
}

pub(crate) fn resolve(system: &mut System) {
    // The needs are taken out first, so that the index and the sets below
    // borrow the objects' names instead of copying them.
    let needs: Vec<Vec<super::input::Need>> = system
        .objects
        .iter_mut()
        .map(|o| std::mem::take(&mut o.needs))
        .collect();
    let (kinds, uses) = resolve_needs(system, needs);
    system.kinds = kinds;
    system.needs = uses;
}

fn resolve_needs(
    system: &System,
    needs: Vec<Vec<super::input::Need>>,
) -> (Vec<super::input::KindUse>, Vec<super::input::NeedUse>) {
    let waves: HashMap<&str, i64> = system
        .applications
        .iter()
        .map(|a| (a.name.as_str(), a.wave))
        .collect();
    // (what, group-or-namespace, name) → providers.
    type Index<'s> = HashMap<(&'static str, &'s str, &'s str), Vec<Source>>;
    fn put<'s>(index: &mut Index<'s>, key: (&'static str, &'s str, &'s str), source: Source) {
        index.entry(key).or_default().push(source);
    }
    let mut index: Index<'_> = HashMap::new();
    for (i, o) in system.objects.iter().enumerate() {
        let mut add = |what: &'static str, scope, name| {
            put(&mut index, (what, scope, name), Source::Object(i))
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
    for (i, p) in system.prerequisites.iter().enumerate() {
        let key = match p.kind.as_str() {
            "Namespace" => Some(("namespace", "", p.name.as_str())),
            "CustomResourceDefinition" => Some(("crd", p.group.as_str(), p.name.as_str())),
            "StorageClass" => Some(("storageclass", "", p.name.as_str())),
            "IngressClass" => Some(("ingressclass", "", p.name.as_str())),
            "ClusterSecretStore" => Some(("clustersecretstore", "", p.name.as_str())),
            "SecretStore" => Some(("secretstore", p.namespace.as_str(), p.name.as_str())),
            "ServiceAccount" => Some(("serviceaccount", p.namespace.as_str(), p.name.as_str())),
            "ConfigMap" => Some(("configmap", p.namespace.as_str(), p.name.as_str())),
            "Secret" => Some(("secret", p.namespace.as_str(), p.name.as_str())),
            _ => None,
        };
        if let Some(key) = key {
            put(&mut index, key, Source::Prerequisite(i));
        }
    }
    for (i, a) in system.applications.iter().enumerate() {
        if a.sync_options.iter().any(|o| o == "CreateNamespace=true") {
            if let Some(ns) = &a.destination.namespace {
                put(
                    &mut index,
                    ("namespace", "", ns.as_str()),
                    Source::Application(i),
                );
            }
        }
    }
    let provided = |s: &Source| match *s {
        Source::Object(i) => {
            let o = &system.objects[i];
            Provided {
                app: o.app.clone(),
                wave: waves.get(o.app.as_str()).copied().unwrap_or(0),
                at: o.at.clone(),
            }
        }
        Source::Prerequisite(i) => Provided {
            app: "(prerequisite)".into(),
            wave: i64::MIN / 2,
            at: system.prerequisites[i].at.clone(),
        },
        Source::Application(i) => {
            let a = &system.applications[i];
            Provided {
                app: a.name.clone(),
                wave: waves.get(a.name.as_str()).copied().unwrap_or(0),
                at: a.at.clone(),
            }
        }
    };
    let mut seen_needs = std::collections::HashSet::new();
    let mut seen_kinds = std::collections::HashSet::new();
    let mut uses = Vec::new();
    let mut kinds = Vec::new();
    // Which needs are new, decided on borrowed names before they are moved.
    let mut fresh: Vec<Vec<bool>> = Vec::with_capacity(needs.len());
    for (o, list) in system.objects.iter().zip(&needs) {
        let skip_dry_run = skips_dry_run(o);
        fresh.push(
            list.iter()
                .map(|n| {
                    seen_needs.insert((
                        o.app.as_str(),
                        n.what.as_str(),
                        n.group.as_str(),
                        n.kind.as_str(),
                        n.namespace.as_str(),
                        n.name.as_str(),
                        skip_dry_run,
                    ))
                })
                .collect(),
        );
    }
    let mut resolved: Vec<(usize, super::input::Need)> = Vec::new();
    for ((i, list), fresh) in needs.into_iter().enumerate().zip(fresh) {
        resolved.extend(
            list.into_iter()
                .zip(fresh)
                .filter(|(_, f)| *f)
                .map(|(n, _)| (i, n)),
        );
    }
    let mut resolved = resolved.into_iter().peekable();
    for (i, o) in system.objects.iter().enumerate() {
        let label = if o.name.is_empty() {
            format!("{} (chart)", o.kind)
        } else {
            format!("{} {}", o.kind, o.name)
        };
        if o.kind != "HelmValuesReference"
            && seen_kinds.insert((
                o.app.as_str(),
                o.group.as_str(),
                o.kind.as_str(),
                o.namespace.as_str(),
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
        let skip_dry_run = skips_dry_run(o);
        while let Some((_, mut n)) = resolved.next_if(|(at, _)| *at == i) {
            let key = match n.what.as_str() {
                "crd" => (n.group.as_str(), n.kind.as_str()),
                "namespace" | "storageclass" | "ingressclass" | "clustersecretstore" => {
                    ("", n.name.as_str())
                }
                _ => (n.namespace.as_str(), n.name.as_str()),
            };
            n.providers = index
                .get(&(n.what.as_str(), key.0, key.1))
                .into_iter()
                .flatten()
                .map(provided)
                .collect();
            uses.push(super::input::NeedUse {
                app: o.app.clone(),
                object: label.clone(),
                skip_dry_run,
                need: n,
            });
        }
    }
    (kinds, uses)
}

fn skips_dry_run(o: &super::input::Object) -> bool {
    o.sync_options
        .iter()
        .any(|s| s == "SkipDryRunOnMissingResource=true")
}
