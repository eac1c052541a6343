//! Egress outside the pod network: each namespace reaches the API server,
//! the nodes and the external hosts its components call at the addresses
//! the spec declares, and nowhere else; without addresses the rules open
//! their ports to any destination and `socle check` says so (SOC-SYS-007).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use socle::render::FileSet;

use crate::support::{check_json as check, render, render_text, text};

/// Every NetworkPolicy of an environment's platform overlay egress files,
/// by namespace id: policy name → (CIDRs, ports) of each egress rule.
pub type Rules = BTreeMap<String, Vec<(Vec<String>, Vec<u64>)>>;

pub fn egress(files: &FileSet, env: &str) -> BTreeMap<String, Rules> {
    let mut out = BTreeMap::new();
    let prefix = format!("platform/overlays/{env}/namespaces/");
    for (path, _) in files
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix) && p.ends_with("/egress.yaml"))
    {
        let ns = path[prefix.len()..].split('/').next().unwrap().to_owned();
        let mut rules = Rules::new();
        for doc in serde_saphyr::from_multiple::<Value>(text(files, path)).unwrap() {
            if doc.is_null() {
                continue;
            }
            assert_eq!(doc["kind"], "NetworkPolicy", "{path}");
            let name = doc["metadata"]["name"].as_str().unwrap().to_owned();
            let list = doc["spec"]["egress"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let cidrs = r["to"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| {
                            p["ipBlock"]["cidr"]
                                .as_str()
                                .expect("only ipBlocks")
                                .to_owned()
                        })
                        .collect();
                    let ports = r["ports"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p["port"].as_u64().unwrap())
                        .collect();
                    (cidrs, ports)
                })
                .collect();
            rules.insert(name, list);
        }
        out.insert(ns, rules);
    }
    out
}

#[test]
fn every_namespace_reaches_only_the_addresses_the_spec_declares() {
    let files = render(None);
    let prod = egress(&files, "prod");
    let api = ["10.30.0.10/32", "10.30.0.11/32", "10.30.0.12/32"];
    // Every platform namespace but governance calls the API server; the
    // storage engine's namespace has no NetworkPolicy at all.
    let expected: BTreeSet<&str> = [
        "core",
        "storage",
        "integration",
        "processing",
        "observability",
        "datalab",
        "ingress",
        "backup",
    ]
    .into_iter()
    .collect();
    assert_eq!(
        prod.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected
    );
    for (ns, rules) in &prod {
        assert_eq!(
            rules["allow-kube-apiserver"],
            vec![(api.iter().map(|s| s.to_string()).collect(), vec![443, 6443])],
            "{ns}"
        );
    }
    // The external endpoints, where their callers live.
    let one = |cidr: &str, ports: &[u64]| vec![(vec![cidr.to_owned()], ports.to_vec())];
    assert_eq!(
        prod["core"]["allow-external-git"],
        one("203.0.113.10/32", &[443, 22])
    );
    assert_eq!(
        prod["core"]["allow-external-secret-store"],
        one("203.0.113.20/32", &[443, 8200])
    );
    assert_eq!(
        prod["observability"]["allow-external-alerting"],
        one("203.0.113.30/32", &[443, 587])
    );
    assert_eq!(
        prod["observability"]["allow-to-nodes"],
        one("10.30.0.0/22", &[9100, 10250])
    );
    for ns in ["processing", "datalab"] {
        assert_eq!(
            prod[ns]["allow-external-artifacts"],
            one("203.0.113.40/32", &[443]),
            "{ns}"
        );
    }
    assert_eq!(
        prod["integration"]["allow-external-sources"],
        one("198.51.100.0/24", &[443])
    );
    // Nothing else leaves the pod network: no endpoint where nobody calls it,
    // and the base keeps no rule open to any destination.
    assert_eq!(
        prod["storage"]
            .keys()
            .filter(|k| k.starts_with("allow-external-"))
            .collect::<Vec<_>>(),
        ["allow-external-backup-target"],
        "PostgreSQL's backups only"
    );
    assert!(!prod["core"].contains_key("allow-external-sources"));
    let dev = egress(&files, "dev");
    assert_eq!(
        dev["core"]["allow-kube-apiserver"][0].0,
        vec!["10.10.0.10/32", "10.10.0.11/32", "10.10.0.12/32"]
    );
    for (path, bytes) in files
        .iter()
        .filter(|(p, _)| p.starts_with("platform/base/"))
    {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("allow-kube-apiserver") && !text.contains("egress:\n    - {}"),
            "{path}"
        );
    }
    let (code, findings) = check(&files);
    assert_eq!(code, 0, "{findings:#?}");
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn an_external_store_is_reached_by_its_bucket_consumers_only() {
    let files = render(Some("full.yaml"));
    // Shared cluster (dev and staging): the spec's addresses, on the port
    // of the store's URL (https://s3.fullopt.example: 443, not every port
    // an S3 store may use); prod: its own addresses and ports.
    let dev = egress(&files, "dev");
    let prod = egress(&files, "prod");
    assert_eq!(
        dev["storage"]["allow-external-object-storage"],
        vec![(vec!["192.0.2.128/25".to_owned()], vec![443])]
    );
    assert_eq!(
        prod["storage"]["allow-external-object-storage"],
        vec![(vec!["10.41.0.0/24".to_owned()], vec![443])]
    );
    assert_eq!(
        prod["core"]["allow-kube-apiserver"][0].0,
        vec!["10.40.0.10/32", "fd00:40::10/128"]
    );
    assert_eq!(
        prod["core"]["allow-external-git"],
        vec![(vec!["192.0.2.10/32".to_owned()], vec![443])]
    );
    assert_eq!(
        prod["integration"]["allow-external-sources"][0].1,
        vec![443, 1521, 5432]
    );
    // Keycloak's namespace-mates in core (Airflow writes its logs to S3)
    // reach the store; the ingress controller's namespace does not.
    assert!(prod["core"].contains_key("allow-external-object-storage"));
    assert!(!prod["ingress"].contains_key("allow-external-object-storage"));
    let (code, findings) = check(&files);
    assert_eq!(code, 0, "{findings:#?}");
    assert!(findings.is_empty(), "{findings:#?}");
}

/// The example without its `network` blocks.
fn example_without_network() -> String {
    let mut out = String::new();
    let mut skipping: Option<usize> = None;
    for line in socle::spec::EXAMPLE.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(at) = skipping {
            if line.trim().is_empty() || indent > at {
                continue;
            }
            skipping = None;
        }
        if line.trim_start().starts_with("network:") {
            skipping = Some(indent);
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(
        !out.contains("network:") && !out.contains("api_server"),
        "{out}"
    );
    out
}

#[test]
fn without_addresses_egress_is_open_and_the_check_says_so() {
    let files = render_text(&example_without_network());
    let prod = egress(&files, "prod");
    for (ns, rules) in &prod {
        for (name, list) in rules {
            assert!(
                list.iter().all(|(cidrs, _)| cidrs.is_empty()),
                "{ns}/{name}"
            );
        }
    }
    let core = text(&files, "platform/overlays/prod/namespaces/core/egress.yaml");
    assert!(
        core.contains("socle.yaml gives no `network.api_server` for prod"),
        "{core}"
    );
    assert!(core.contains("no `network.endpoints.git`"), "{core}");
    let (code, findings) = check(&files);
    assert_eq!(code, 0, "warnings only: {findings:#?}");
    let wide: Vec<&Value> = findings
        .iter()
        .filter(|f| f["rule"] == "SOC-SYS-007")
        .collect();
    assert_eq!(wide.len(), findings.len(), "{findings:#?}");
    let at = |file: &str, needle: &str| {
        wide.iter()
            .any(|f| f["file"] == file && f["message"].as_str().is_some_and(|m| m.contains(needle)))
    };
    assert!(at(
        "platform/overlays/prod/namespaces/core/egress.yaml",
        "NetworkPolicy data-platform-core/allow-external-git opens egress to any destination on port(s) 443, 22"
    ), "{wide:#?}");
    assert!(
        at(
            "platform/overlays/dev/namespaces/observability/egress.yaml",
            "allow-to-nodes opens egress to any destination on port(s) 9100, 10250"
        ),
        "{wide:#?}"
    );
}

fn new_with(spec: &str) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("socle.yaml");
    fs_err::write(&path, spec).unwrap();
    let out = Command::cargo_bin("socle")
        .unwrap()
        .args(["new", "-q", "--spec"])
        .arg(&path)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    assert!(!tmp.path().join("out").exists() || out.status.success());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_addresses_are_refused_naming_the_field() {
    let example = socle::spec::EXAMPLE;
    let (code, err) = new_with(&example.replacen("10.30.0.11/32", "10.30.0.300/32", 1));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("environments[2].network.api_server[1]")
            && err.contains("\"10.30.0.300/32\" is not a CIDR")
            && err.contains("socle.yaml:"),
        "{err}"
    );
    let (code, err) = new_with(&example.replacen("[10.10.0.0/22]", "[10.10.0.0/33]", 1));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("prefix length \"33\" is not between 0 and 32"),
        "{err}"
    );
    let (code, err) = new_with(&example.replacen(
        "    git: {",
        "    ftp: {cidrs: [192.0.2.1/32]}\n    git: {",
        1,
    ));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("network: endpoints: unknown endpoint \"ftp\"")
            && err.contains("git, secret_store, alerting, artifacts, sources, object_storage"),
        "{err}"
    );
}

#[test]
fn prod_backups_leave_the_cluster() {
    let files = render(None);
    // Velero and PostgreSQL write prod's backups to the spec's target, with
    // the target's credentials; dev keeps them in its own MinIO.
    let velero = text(&files, "components/velero/values-prod.yaml");
    assert!(
        velero.contains("bucket: acme-prod-backups")
            && velero.contains("s3Url: https://s3.backup.acme.example"),
        "{velero}"
    );
    let pg = text(&files, "components/postgresql/values-prod.yaml");
    assert!(
        pg.contains("endpointURL: https://s3.backup.acme.example")
            && pg.contains("bucket: acme-prod-backups"),
        "{pg}"
    );
    for path in [
        "components/velero/manifests/prod/externalsecrets.yaml",
        "components/postgresql/manifests/prod/externalsecrets.yaml",
    ] {
        assert!(
            text(&files, path).contains("key: acme/prod/backup-target/s3"),
            "{path}"
        );
    }
    let dev = text(&files, "components/velero/values-dev.yaml");
    assert!(
        dev.contains("bucket: backups") && dev.contains("svc.cluster.local"),
        "{dev}"
    );
    // Their egress reaches the target, in prod only.
    let prod = egress(&files, "prod");
    for ns in ["storage", "backup"] {
        assert_eq!(
            prod[ns]["allow-external-backup-target"],
            vec![(vec!["203.0.113.50/32".to_owned()], vec![443])],
            "{ns}"
        );
    }
    assert!(!egress(&files, "dev")["storage"].contains_key("allow-external-backup-target"));
    // The client creates the bucket: socle check takes it as existing.
    assert!(text(&files, "socle-check.yaml").contains("  - acme-prod-backups"));
    // Velero does not file-copy MinIO's and PostgreSQL's volumes.
    let policy = text(
        &files,
        "components/velero/manifests/prod/volume-policy.yaml",
    );
    assert!(
        policy.contains("cnpg.io/cluster: postgresql")
            && policy.contains("v1.min.io/tenant: minio"),
        "{policy}"
    );
    assert_eq!(
        velero.matches("name: velero-volume-policy").count(),
        5,
        "{velero}"
    );
}

#[test]
fn a_prod_without_an_off_cluster_backup_target_is_refused() {
    let example = socle::spec::EXAMPLE;
    let start = example
        .find("    backup_target:\n")
        .expect("prod's backup target");
    let end = start
        + example[start..]
            .find("bucket: acme-prod-backups\n")
            .unwrap()
        + "bucket: acme-prod-backups\n".len();
    let spec = format!("{}{}", &example[..start], &example[end..]);
    let (code, err) = new_with(&spec);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("environments[2].backup_target: prod must keep its backups off its cluster"),
        "{err}"
    );
}
