//! The wiring graph of the blueprint: every consumer's declaration becomes
//! the provider's object (a bucket in the tenant, a role and database in the
//! PostgreSQL cluster, a client in the realm), for the components the spec
//! enables, and a blueprint whose consumer has no provider is refused when
//! it loads, naming both ends.

use serde_json::Value;
use socle::blueprint::Manifest;
use socle::core::wiring::bucket_names;
use socle::source::Tree;

use crate::support::{render, text};

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("yaml")
}

/// Component ids the rendered repository deploys (one Application each).
fn deployed(files: &socle::render::FileSet) -> Vec<String> {
    files
        .keys()
        .filter_map(|p| p.strip_prefix("argocd/dev/applications/"))
        .filter_map(|p| p.strip_suffix(".yaml"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_declared_consumption_is_created_by_its_provider() {
    let manifest = Manifest::load(&Tree::embedded_blueprint()).expect("blueprint");
    for spec in [None, Some("full.yaml")] {
        let files = render(spec);
        let on = deployed(&files);
        let socle_yaml = yaml(text(&files, "socle.yaml"));
        let domains: Vec<String> = socle_yaml["data_domains"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect();
        let dev = &socle_yaml["environments"][0];
        assert_eq!(dev["name"], "dev");
        let env_domain = dev["domain"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!("dev.{}", socle_yaml["domain"].as_str().unwrap_or_default())
            });
        let notebooks_s3 = socle_yaml["notebooks"]["storage"] == "s3";
        let catalog = socle_yaml["components"]["catalog"]
            .as_str()
            .unwrap_or("datahub")
            .to_owned();
        // The tenant's buckets, or those the client creates on an external
        // store (socle-check.yaml).
        let external = socle_yaml
            .get("object_storage")
            .is_some_and(|o| !o.is_null());
        assert_eq!(
            files.contains_key("components/minio/values.yaml"),
            !external
        );
        let store = if external {
            yaml(text(&files, "socle-check.yaml"))["buckets"].clone()
        } else {
            yaml(text(&files, "components/minio/values.yaml"))["tenant"]["buckets"].clone()
        };
        let buckets: Vec<String> = store
            .as_array()
            .expect("buckets")
            .iter()
            .filter_map(|b| b.as_str().or_else(|| b["name"].as_str()).map(str::to_owned))
            .collect();
        let buckets: Vec<&str> = buckets.iter().map(String::as_str).collect();
        let pg = yaml(text(&files, "components/postgresql/values.yaml"));
        let roles: Vec<&str> = pg["cluster"]["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        let databases: Vec<(&str, &str)> = pg["databases"]
            .as_array()
            .expect("databases")
            .iter()
            .filter_map(|d| Some((d["name"].as_str()?, d["owner"].as_str()?)))
            .collect();
        let realm_cm = yaml(text(&files, "components/keycloak/manifests/dev/realm.yaml"));
        let realm = yaml(realm_cm["data"]["realm.yaml"].as_str().expect("realm"));
        let clients = realm["clients"].as_array().expect("clients");
        let mut expected_buckets = 0;
        let consumers = manifest
            .components
            .iter()
            .filter(|c| on.contains(&c.id))
            .map(|c| (c.id.as_str(), &c.consumes))
            .chain(
                manifest
                    .bootstrap_consumers
                    .iter()
                    .map(|b| (b.id.as_str(), &b.consumes)),
            );
        for (id, consumes) in consumers {
            for b in &consumes.buckets {
                if b.when.contains_key("notebooks") && !notebooks_s3 {
                    continue;
                }
                if b.when.get("catalog").is_some_and(|c| !c.contains(&catalog)) {
                    continue;
                }
                for name in bucket_names(&b.name, &domains) {
                    expected_buckets += 1;
                    assert!(
                        buckets.contains(&name.as_str()),
                        "{spec:?}: {id} consumes bucket {name}, not in the tenant: {buckets:?}"
                    );
                }
            }
            for d in &consumes.databases {
                assert!(
                    databases.contains(&(d.name.as_str(), d.role())),
                    "{spec:?}: {id} consumes database {} owned by {}: {databases:?}",
                    d.name,
                    d.role()
                );
                assert!(roles.contains(&d.role()), "{spec:?}: role {}", d.role());
            }
            for o in &consumes.oidc {
                let c = clients
                    .iter()
                    .find(|c| c["clientId"] == o.client.as_str())
                    .unwrap_or_else(|| {
                        panic!("{spec:?}: {id}'s client {} is not in the realm", o.client)
                    });
                let host = o.host.clone().unwrap_or_else(|| id.to_owned());
                for path in &o.redirect {
                    let uri = format!("https://{host}.{env_domain}{path}");
                    assert!(
                        c["redirectUris"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|u| u == uri.as_str()),
                        "{spec:?}: client {} lacks redirect {uri}",
                        o.client
                    );
                }
                assert_eq!(
                    c["serviceAccountsEnabled"] == true,
                    o.service_account,
                    "{}",
                    o.client
                );
                assert_eq!(c["publicClient"] == true, o.public, "{}", o.client);
            }
        }
        // Nothing is created that no enabled consumer asked for (MinIO's
        // users live in the same list, as `minio-user-*`).
        let created = buckets
            .iter()
            .filter(|b| !b.starts_with("minio-user-"))
            .count();
        assert!(
            expected_buckets >= created,
            "{spec:?}: unrequested buckets in {buckets:?}"
        );
    }
}

#[test]
fn a_consumer_without_a_provider_is_refused_naming_both_ends() {
    let mut tree = Tree::embedded_blueprint();
    let (_, bytes) = tree
        .files
        .iter_mut()
        .find(|(p, _)| p == "blueprint.yaml")
        .expect("blueprint.yaml");
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    // MinIO stops providing buckets: Loki's chunks have nowhere to go.
    let broken = text.replacen("provides: { buckets: true }", "provides: {}", 1);
    assert_ne!(broken, text);
    *bytes = broken.into_bytes().into();
    let err = Manifest::load(&tree).expect_err("refused").to_string();
    assert!(err.contains("consumes bucket"), "{err}");
    assert!(err.contains("no component provides buckets"), "{err}");

    // A consumer that does not need its provider would sync before it.
    let mut tree = Tree::embedded_blueprint();
    let (_, bytes) = tree
        .files
        .iter_mut()
        .find(|(p, _)| p == "blueprint.yaml")
        .expect("blueprint.yaml");
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    let broken = text.replacen(
        "needs: [zeppelin, minio, prometheus-operator-crds, external-secrets]",
        "needs: [prometheus-operator-crds, external-secrets]",
        1,
    );
    assert_ne!(broken, text);
    *bytes = broken.into_bytes().into();
    let err = Manifest::load(&tree).expect_err("refused").to_string();
    assert!(
        err.contains("loki consumes bucket \"loki-chunks\" from minio, but does not need it"),
        "{err}"
    );
}

/// Where an environment sends its backups off the cluster, the in-cluster
/// store keeps no backups' bucket and no account for the backup writers:
/// their keys would be entries someone fills in for nothing. Where the
/// backups stay in the store, both are there.
#[test]
fn backups_sent_off_the_cluster_leave_no_account_in_the_store() {
    let files = render(None);
    let socle_yaml = yaml(text(&files, "socle.yaml"));
    let off_cluster: Vec<&str> = socle_yaml["environments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| !e["backup_target"].is_null())
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(
        off_cluster,
        ["prod"],
        "the example's prod sends its backups off"
    );
    for env in ["dev", "staging", "prod"] {
        let policies = text(
            &files,
            &format!("components/minio/manifests/{env}/policies.yaml"),
        );
        let keys = text(
            &files,
            &format!("components/minio/manifests/{env}/externalsecrets.yaml"),
        );
        let tenant = yaml(text(&files, &format!("components/minio/values-{env}.yaml")));
        let buckets = &tenant["tenant"]["buckets"];
        for writer in ["velero", "postgresql"] {
            let user = format!("\"minio-user-{writer}\"");
            let entry = format!("key: acme/{env}/{writer}/s3");
            if env == "prod" {
                assert!(!policies.contains(&user), "{env}: {writer}");
                assert!(!keys.contains(&entry), "{env}: {writer}");
            } else {
                assert!(policies.contains(&user), "{env}: {writer}");
                assert!(keys.contains(&entry), "{env}: {writer}");
            }
        }
        if env == "prod" {
            let names: Vec<&str> = buckets
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| b["name"].as_str())
                .collect();
            assert!(!names.contains(&"backups"), "{names:?}");
            assert!(names.contains(&"iceberg-raw"), "{names:?}");
        } else {
            // The shared values' list, every bucket, applies.
            assert!(buckets.is_null(), "{env}: {buckets}");
        }
    }
}
