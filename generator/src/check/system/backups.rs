//! Where each environment's backups go: the endpoints PostgreSQL
//! (CloudNativePG), Elasticsearch (its snapshot clients) and Velero write
//! their backups to, whether that endpoint is inside the cluster being
//! backed up, and whether the writers' egress policies let them reach it.
//! A backup kept in the cluster it protects is lost with it, which the
//! rules deny for prod; one its writers cannot reach is never taken.

use serde_json::Value;

use super::build::Modelled;
use super::input::{At, BackupDestination};
use super::kustomize::Files;
use super::resources::configurations;
use crate::core::charts::{Chart, ChartFacts};
use crate::core::url::host_of;

/// Whether a host names something inside the cluster: a Service name
/// (`svc`, `svc.cluster.local`, a bare or `<name>.<namespace>` name that
/// cluster DNS resolves from a pod's search domains), or a Service the
/// model knows.
fn in_cluster(host: &str, services: &[(String, String)]) -> bool {
    if host.ends_with(".svc") || host.contains(".svc.") || host.ends_with(".cluster.local") {
        return true;
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        [_] => true,
        [name, namespace] => services.iter().any(|(n, ns)| n == name && ns == namespace),
        _ => false,
    }
}

/// The facts of the chart an Application deploys.
fn chart_of<'f>(m: &Modelled, app: &str, facts: &'f ChartFacts) -> Option<&'f Chart> {
    let a = m.system.applications.iter().find(|a| a.name == app)?;
    a.sources.iter().find_map(|s| s.chart_facts(facts))
}

/// The strings at a values path (see [`crate::core::charts::BackupEndpoint`]) in `v`,
/// each with its path of keys and indices.
pub(crate) fn at_path<'v>(
    v: &'v Value,
    segs: &[&str],
    trail: &mut Vec<Value>,
    out: &mut Vec<(Vec<Value>, &'v str)>,
) {
    if segs.is_empty() {
        if let Some(s) = v.as_str() {
            out.push((trail.clone(), s));
        }
        return;
    }
    for (key, child) in v.as_object().into_iter().flatten() {
        // A key may hold several segments at once (a flat dotted key);
        // only the last of them may be a list.
        let parts: Vec<&str> = key.split('.').collect();
        let n = parts.len();
        if n > segs.len() || segs[..n - 1].iter().any(|s| s.ends_with("[]")) {
            continue;
        }
        let matched = parts.iter().zip(segs).all(|(p, s)| {
            let s = s.strip_suffix("[]").unwrap_or(s);
            s == "*" || s == *p
        });
        if !matched {
            continue;
        }
        trail.push(Value::from(key.as_str()));
        if segs[n - 1].ends_with("[]") {
            for (i, item) in child.as_array().into_iter().flatten().enumerate() {
                trail.push(Value::from(i));
                at_path(item, &segs[n..], trail, out);
                trail.pop();
            }
        } else {
            at_path(child, &segs[n..], trail, out);
        }
        trail.pop();
    }
}

/// Backup endpoints of every Application, from chart values (where the
/// chart facts say its values send backups: the CloudNativePG `cluster`
/// chart's `backups.endpointURL`, Velero's storage locations, an
/// Elasticsearch's snapshot clients) and from objects (a Cluster's
/// `barmanObjectStore`, a Barman Cloud ObjectStore, a
/// BackupStorageLocation).
pub(crate) fn resolve(m: &mut Modelled, files: &Files, facts: &ChartFacts) {
    let services: Vec<(String, String)> = m
        .system
        .objects
        .iter()
        .filter(|o| o.group.is_empty() && o.kind == "Service")
        .map(|o| (o.name.clone(), o.namespace.clone()))
        .collect();
    let mut found: Vec<(String, String, At, String)> = Vec::new();
    // Only the Applications whose chart sends backups somewhere: the
    // configurations of the others are not read (a Helm values layer
    // hidden by a later one is a copy).
    let backing_up: std::collections::HashSet<&str> = m
        .system
        .applications
        .iter()
        .filter(|a| chart_of(m, &a.name, facts).is_some_and(|c| !c.backups.is_empty()))
        .map(|a| a.name.as_str())
        .collect();
    for (app, doc, at, value, base, _) in configurations(m, files, |a| backing_up.contains(a)) {
        let place = |path: &[Value]| match doc {
            Some(d) if at.pointer.is_empty() => {
                let mut full = base.clone();
                full.extend_from_slice(path);
                At::field(d, &full)
            }
            _ => at.clone(),
        };
        let Some(chart) = chart_of(m, app, facts) else {
            continue;
        };
        for b in &chart.backups {
            let segs: Vec<&str> = b.values.split('.').collect();
            let mut urls = Vec::new();
            at_path(&value, &segs, &mut Vec::new(), &mut urls);
            for (path, url) in urls {
                found.push((app.to_owned(), b.tool.clone(), place(&path), url.to_owned()));
            }
        }
    }
    for (o, v) in m.system.objects.iter().zip(&m.values) {
        let Some(v) = v else { continue };
        let Some(kind) = super::objects::objects()
            .backups
            .iter()
            .find(|k| k.group == o.group && k.kind == o.kind)
        else {
            continue;
        };
        let (tool, url) = (
            kind.tool.as_str(),
            v.pointer(&kind.endpoint).and_then(Value::as_str),
        );
        if let Some(url) = url {
            found.push((o.app.clone(), tool.into(), o.at.clone(), url.to_owned()));
        }
    }
    let mut out: Vec<BackupDestination> = found
        .into_iter()
        .map(|(app, tool, at, endpoint)| {
            let inside = host_of(&endpoint).is_none_or(|h| in_cluster(&h, &services));
            BackupDestination {
                app,
                tool,
                at,
                endpoint,
                in_cluster: inside,
                egress: None,
            }
        })
        .collect();
    // The writers (the database's pods, Velero's) run in their
    // Application's namespace. A host outside the cluster is reached
    // through a rule with no peers or an ipBlock: one holding every address
    // socle.yaml gives the backup target, else (its addresses unknown) any.
    let target = super::outside::backup_target(files, &m.system.environment);
    let net = super::wiring::network(m);
    for d in out.iter_mut().filter(|d| !d.in_cluster) {
        if let Some(namespace) = super::outside::namespace_of(m, &d.app) {
            d.egress = super::outside::egress(&net, namespace, &d.endpoint, target.as_ref());
        }
    }
    drop(net);
    out.sort_by(|a, b| (&a.app, &a.at.file, a.at.line).cmp(&(&b.app, &b.at.file, b.at.line)));
    m.system.backup_destinations = out;
    m.system.backups_off_cluster =
        crate::core::spec::OFF_CLUSTER_BACKUPS.contains(&m.system.environment.as_str());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_inside_and_outside_the_cluster() {
        let services = vec![("minio".to_owned(), "data-platform-storage".to_owned())];
        for (url, inside) in [
            ("http://minio.data-platform-storage.svc.cluster.local", true),
            ("http://minio.data-platform-storage.svc:80/x", true),
            ("http://minio.data-platform-storage", true),
            ("http://minio", true),
            ("https://s3.backup.example.org", false),
            ("http://[2001:db8::1]:9000/", false),
            ("https://10.0.0.5:9000", false),
            ("https://user@s3.eu-west-3.amazonaws.com", false),
            ("other.namespace", false),
        ] {
            let host = host_of(url).expect(url);
            assert_eq!(in_cluster(&host, &services), inside, "{url}");
        }
        assert_eq!(host_of("http:///path"), None);
    }

    #[test]
    fn values_paths_flat_nested_and_in_lists() {
        let values = serde_json::json!({
            "stack": {"nodeSets": [
                {"config": {
                    "node.roles": ["data"],
                    "s3.client.default.endpoint": "https://s3.backup.example.org",
                    "s3.client.default.path_style_access": true,
                }},
                {"config": {"s3": {"client": {"archive": {"endpoint": "https://archive.example.org"}}}}},
            ]},
            "configuration": {"locations": [{"config": {"s3Url": "https://velero.example.org"}}]},
        });
        let find = |path: &str| {
            let segs: Vec<&str> = path.split('.').collect();
            let mut out = Vec::new();
            at_path(&values, &segs, &mut Vec::new(), &mut out);
            out.into_iter()
                .map(|(p, s)| (Value::from(p).to_string(), s.to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            find("stack.nodeSets[].config.s3.client.*.endpoint"),
            vec![
                (
                    r#"["stack","nodeSets",0,"config","s3.client.default.endpoint"]"#.to_owned(),
                    "https://s3.backup.example.org".to_owned()
                ),
                (
                    r#"["stack","nodeSets",1,"config","s3","client","archive","endpoint"]"#
                        .to_owned(),
                    "https://archive.example.org".to_owned()
                ),
            ]
        );
        assert_eq!(find("configuration.locations[].config.s3Url").len(), 1);
        assert!(find("stack.nodeSets.config.s3.client.*.endpoint").is_empty());
        assert!(find("stack.nodeSets[].config.s3.client.*.region").is_empty());
    }
}
