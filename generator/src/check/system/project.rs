//! AppProject admission, evaluated as ArgoCD does (its `IsSourcePermitted`,
//! `IsDestinationPermitted` and `IsGroupKindPermitted`, globs included).
//! The verdicts go into the input; the system rules decide what to report.

use std::collections::HashMap;

use serde_json::Value;

use super::input::{Project, System};

/// ArgoCD's patterns are globs in which `*` also matches `/`.
fn glob(pattern: &str, value: &str) -> bool {
    if pattern == value || pattern == "*" {
        return true;
    }
    if !pattern.contains(['*', '?', '[']) {
        return false;
    }
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher().is_match(value))
        .unwrap_or(false)
}

/// ArgoCD compares repository URLs case-insensitively, without a trailing
/// slash or `.git`.
fn norm_repo(url: &str) -> String {
    let u = url.trim().to_ascii_lowercase();
    let u = u.trim_end_matches('/');
    u.strip_suffix(".git").unwrap_or(u).to_owned()
}

fn list<'a>(spec: &'a Value, field: &str) -> &'a [Value] {
    spec[field].as_array().map_or(&[], Vec::as_slice)
}

fn source_permitted(spec: &Value, repo: &str) -> bool {
    let repo = norm_repo(repo);
    list(spec, "sourceRepos")
        .iter()
        .filter_map(Value::as_str)
        .any(|p| glob(&norm_repo(p), &repo) || p == "*")
}

/// A destination (server or cluster name, namespace) against the project's
/// destinations; `!`-prefixed namespaces deny.
fn destination_permitted(spec: &Value, server: &str, name: &str, namespace: &str) -> bool {
    let matches_cluster = |d: &Value| {
        let by_server = d["server"]
            .as_str()
            .is_some_and(|p| !server.is_empty() && glob(p, server));
        let by_name = d["name"]
            .as_str()
            .is_some_and(|p| !name.is_empty() && glob(p, name));
        by_server || by_name
    };
    let entries = list(spec, "destinations");
    let denied = entries.iter().any(|d| {
        matches_cluster(d)
            && d["namespace"]
                .as_str()
                .and_then(|n| n.strip_prefix('!'))
                .is_some_and(|n| glob(n, namespace))
    });
    !denied
        && entries.iter().any(|d| {
            matches_cluster(d)
                && d["namespace"]
                    .as_str()
                    .is_none_or(|n| !n.starts_with('!') && glob(n, namespace))
        })
}

fn in_list(spec: &Value, field: &str, group: &str, kind: &str) -> bool {
    list(spec, field).iter().any(|e| {
        glob(e["group"].as_str().unwrap_or(""), group)
            && glob(e["kind"].as_str().unwrap_or(""), kind)
    })
}

/// `IsGroupKindPermitted`: a missing namespaced whitelist admits every
/// kind, an empty one none; cluster-scoped kinds need a whitelist entry.
fn kind_permitted(spec: &Value, group: &str, kind: &str, namespaced: bool) -> bool {
    if namespaced {
        let white = spec
            .get("namespaceResourceWhitelist")
            .filter(|v| !v.is_null())
            .is_none()
            || in_list(spec, "namespaceResourceWhitelist", group, kind);
        white && !in_list(spec, "namespaceResourceBlacklist", group, kind)
    } else {
        in_list(spec, "clusterResourceWhitelist", group, kind)
            && !in_list(spec, "clusterResourceBlacklist", group, kind)
    }
}

pub(crate) fn judge(system: &mut System) {
    let projects: HashMap<&str, &Project> = system
        .projects
        .iter()
        .rev()
        .map(|p| (p.name.as_str(), p))
        .collect();
    let mut dests: HashMap<String, (String, String)> = HashMap::new();
    for app in &mut system.applications {
        let Some(p) = projects.get(app.project.as_str()) else {
            continue;
        };
        for s in &mut app.sources {
            s.permitted = Some(source_permitted(&p.spec, &s.repo_url));
        }
        let server = app.destination.server.clone().unwrap_or_default();
        let name = app.destination.name.clone().unwrap_or_default();
        let ns = app.destination.namespace.clone().unwrap_or_default();
        app.destination_permitted = Some(destination_permitted(&p.spec, &server, &name, &ns));
        dests.insert(app.name.clone(), (server, name));
    }
    let app_projects: HashMap<&str, &str> = system
        .applications
        .iter()
        .map(|a| (a.name.as_str(), a.project.as_str()))
        .collect();
    for k in &mut system.kinds {
        let Some(p) = app_projects
            .get(k.app.as_str())
            .and_then(|n| projects.get(n))
        else {
            continue;
        };
        // ArgoCD learns a kind's scope from the cluster; a kind the model
        // cannot scope is judged as namespaced, the common case.
        let namespaced = k.namespaced != Some(false);
        k.kind_permitted = Some(kind_permitted(&p.spec, &k.group, &k.kind, namespaced));
        if namespaced && !k.namespace.is_empty() {
            let (server, name) = dests.get(&k.app).cloned().unwrap_or_default();
            k.namespace_permitted =
                Some(destination_permitted(&p.spec, &server, &name, &k.namespace));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn admission_follows_argocd() {
        let spec = json!({
            "sourceRepos": ["https://git.example/*"],
            "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "team-*"},
                             {"server": "*", "namespace": "!team-secret"}],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}],
        });
        assert!(source_permitted(&spec, "https://git.example/a/b.git"));
        assert!(!source_permitted(&spec, "https://other.example/a"));
        assert!(destination_permitted(
            &spec,
            "https://kubernetes.default.svc",
            "",
            "team-a"
        ));
        assert!(!destination_permitted(
            &spec,
            "https://kubernetes.default.svc",
            "",
            "team-secret"
        ));
        assert!(!destination_permitted(
            &spec,
            "https://kubernetes.default.svc",
            "",
            "default"
        ));
        assert!(kind_permitted(&spec, "", "Namespace", false));
        assert!(!kind_permitted(
            &spec,
            "rbac.authorization.k8s.io",
            "ClusterRole",
            false
        ));
        assert!(kind_permitted(&spec, "apps", "Deployment", true));
        assert!(!kind_permitted(&spec, "", "ResourceQuota", true));
        // An empty namespaced whitelist admits nothing; a missing one everything.
        assert!(!kind_permitted(
            &json!({"namespaceResourceWhitelist": []}),
            "apps",
            "Deployment",
            true
        ));
    }
}
