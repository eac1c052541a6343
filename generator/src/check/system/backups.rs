//! Where each environment's backups go: the endpoints PostgreSQL
//! (CloudNativePG) and Velero write their backups to, and whether that
//! endpoint is inside the cluster being backed up. A backup kept in the
//! cluster it protects is lost with it, which the rules deny for prod.

use serde_json::Value;

use super::build::Modelled;
use super::input::{At, BackupDestination};
use super::kustomize::Files;
use super::resources::configurations;

/// A URL's host, lower-cased, without port or brackets.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

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

fn chart_of(m: &Modelled, app: &str) -> Option<String> {
    let a = m.system.applications.iter().find(|a| a.name == app)?;
    a.sources.iter().find_map(|s| s.chart.clone())
}

/// Backup endpoints of every Application, from chart values (the
/// CloudNativePG `cluster` chart's `backups.endpointURL`, Velero's
/// `configuration.backupStorageLocation[].config.s3Url`) and from objects
/// (a Cluster's `barmanObjectStore`, a Barman Cloud ObjectStore, a
/// BackupStorageLocation).
pub(crate) fn resolve(m: &mut Modelled, files: &Files) {
    let services: Vec<(String, String)> = m
        .system
        .objects
        .iter()
        .filter(|o| o.group.is_empty() && o.kind == "Service")
        .map(|o| (o.name.clone(), o.namespace.clone()))
        .collect();
    let mut found: Vec<(String, String, At, String)> = Vec::new();
    for (app, doc, at, value, base, _) in configurations(m, files) {
        let place = |path: &[Value]| match doc {
            Some(d) if at.pointer.is_empty() => {
                let mut full = base.clone();
                full.extend_from_slice(path);
                At::field(d, &full)
            }
            _ => at.clone(),
        };
        match chart_of(m, app).as_deref() {
            Some("cluster") => {
                if let Some(url) = value["backups"]["endpointURL"].as_str() {
                    let path = [Value::from("backups"), Value::from("endpointURL")];
                    found.push((
                        app.to_owned(),
                        "postgresql".into(),
                        place(&path),
                        url.to_owned(),
                    ));
                }
            }
            Some("velero") => {
                let list = &value["configuration"]["backupStorageLocation"];
                for (i, l) in list.as_array().into_iter().flatten().enumerate() {
                    if let Some(url) = l["config"]["s3Url"].as_str() {
                        let path = [
                            Value::from("configuration"),
                            Value::from("backupStorageLocation"),
                            Value::from(i),
                            Value::from("config"),
                            Value::from("s3Url"),
                        ];
                        found.push((
                            app.to_owned(),
                            "velero".into(),
                            place(&path),
                            url.to_owned(),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    for (o, v) in m.system.objects.iter().zip(&m.values) {
        let Some(v) = v else { continue };
        let (tool, url) = match (o.group.as_str(), o.kind.as_str()) {
            ("postgresql.cnpg.io", "Cluster") => (
                "postgresql",
                v["spec"]["backup"]["barmanObjectStore"]["endpointURL"].as_str(),
            ),
            ("barmancloud.cnpg.io", "ObjectStore") => (
                "postgresql",
                v["spec"]["configuration"]["endpointURL"].as_str(),
            ),
            ("velero.io", "BackupStorageLocation") => {
                ("velero", v["spec"]["config"]["s3Url"].as_str())
            }
            _ => continue,
        };
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
            }
        })
        .collect();
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
}
