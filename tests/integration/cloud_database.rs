//! PostgreSQL on a managed cloud: prod on EKS runs it on Amazon RDS, from
//! the same wiring graph as the in-cluster cluster of the other
//! environments. The provisioning Job's script runs for real against a
//! PostgreSQL server whose administrator is no superuser, as a cloud's is;
//! `socle check` models the ExternalName Services and the Job's catalog.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::{check_json, text};

const PROVISION: &str = "components/managed-postgresql/overlays/prod/provision.yaml";

/// The `data` of the provisioning ConfigMap, by key.
fn provision_data(files: &socle::render::FileSet) -> serde_json::Map<String, serde_json::Value> {
    let docs: Vec<serde_json::Value> = text(files, PROVISION)
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).expect("provision.yaml parses"))
        .collect();
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("the provisioning ConfigMap");
    cm["data"].as_object().expect("data").clone()
}

fn first_words(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_str()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn prod_on_eks_runs_postgresql_on_rds_from_the_same_wiring() {
    let files = crate::support::render_eks();
    // No operator, cluster or archiver in prod; staging keeps them.
    for id in ["postgresql", "cloudnative-pg", "barman-cloud"] {
        assert!(!files.contains_key(&format!("argocd/prod/applications/{id}.yaml")));
        assert!(files.contains_key(&format!("argocd/staging/applications/{id}.yaml")));
    }
    assert!(files.contains_key("argocd/prod/applications/managed-postgresql.yaml"));
    // Nor may prod's project read their charts.
    let cnpg = "- https://cloudnative-pg.github.io/charts\n";
    assert!(!text(&files, "argocd/prod/project.yaml").contains(cnpg));
    assert!(text(&files, "argocd/staging/project.yaml").contains(cnpg));
    assert!(!files.contains_key("argocd/staging/applications/managed-postgresql.yaml"));

    // The consumers keep their in-cluster names, which resolve to the
    // Terraform's private name for the instance.
    let services = text(
        &files,
        "components/managed-postgresql/overlays/prod/service.yaml",
    );
    assert_eq!(
        services
            .matches("externalName: postgresql.acme-prod.internal")
            .count(),
        2,
        "{services}"
    );
    assert!(text(&files, "components/keycloak/values-prod.yaml")
        .contains("postgresql-rw.data-platform-storage.svc.cluster.local"));
    let database = text(&files, "terraform/prod/database.tf");
    for want in [
        "name    = \"postgresql.acme-prod.internal\"",
        "multi_az = true",
        "password_wo ",
        "storage_encrypted     = true",
        "deletion_protection        = true",
        "backup_retention_period    = 35",
        "\"rds.force_ssl\"",
    ] {
        assert!(database.contains(want), "{want} missing:\n{database}");
    }
    assert!(!database.contains("password    ="), "{database}");

    // The databases and roles created in prod are those staging's
    // CloudNativePG cluster declares: one wiring graph for both.
    let staging: serde_json::Value =
        serde_saphyr::from_str(text(&files, "components/postgresql/values.yaml"))
            .expect("values parse");
    let names = |v: &serde_json::Value| -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["name"].as_str())
            .map(str::to_owned)
            .collect()
    };
    let data = provision_data(&files);
    assert_eq!(
        first_words(&data["databases"]),
        names(&staging["databases"])
    );
    let mut roles = names(&staging["cluster"]["roles"]);
    // The logical dumps' role belongs to the in-cluster cluster's dumps.
    roles.remove("logical-backup");
    assert_eq!(first_words(&data["roles"]), roles);

    // Every database consumer's namespace reaches it through the VPC.
    for ns in ["core", "storage", "processing", "observability"] {
        let egress = text(
            &files,
            &format!("platform/overlays/prod/namespaces/{ns}/egress.yaml"),
        );
        let rule = egress
            .split("\n---\n")
            .find(|d| d.contains("name: allow-external-databases"))
            .unwrap_or_else(|| panic!("{ns}: no egress to the database"));
        assert!(
            rule.contains("10.30.0.0/16") && rule.contains("port: 5432"),
            "{rule}"
        );
    }
    insta::assert_snapshot!("eks_prod_database_tf", database);

    // `socle secrets list` says the administrator's entry is the
    // Terraform's to write, not the client's to fill.
    let all: Vec<(String, Vec<u8>)> = files.clone().into_iter().collect();
    let (listing, _) = socle::secrets::list_files(&all);
    let admin = listing
        .entries
        .iter()
        .find(|e| e.key == "acme/prod/postgresql/admin")
        .expect("the administrator's entry");
    assert!(
        admin
            .written_by
            .as_deref()
            .is_some_and(|w| w.starts_with("terraform/prod/database.tf:")),
        "{admin:?}"
    );
    // So is the catalog's vending role and external ID (identity.tf).
    let written: Vec<(&str, &str)> = listing
        .entries
        .iter()
        .filter_map(|e| Some((e.key.as_str(), e.written_by.as_deref()?)))
        .map(|(k, w)| (k, w.split(':').next().unwrap_or_default()))
        .collect();
    assert_eq!(
        written,
        [
            ("acme/prod/lakekeeper/aws", "terraform/prod/identity.tf"),
            ("acme/prod/postgresql/admin", "terraform/prod/database.tf"),
        ]
    );
}

/// The check judges the managed database as the cluster would reach it: a
/// database the Job does not create, or egress that does not let the pods
/// out to it, is denied at the consumer's line.
#[test]
fn check_models_the_managed_database_and_its_egress() {
    let files = crate::support::render_eks();
    let mut broken = files.clone();
    let provision = text(&files, PROVISION).replace("    keycloak keycloak\n", "");
    broken.insert(PROVISION.into(), provision.into_bytes());
    let (code, findings) = check_json(&broken);
    assert_eq!(code, 1, "{findings:#?}");
    assert!(
        findings.iter().any(|f| f["rule"] == "SOC-SYS-004"
            && f["file"] == "components/keycloak/values-prod.yaml"
            && f["message"]
                .as_str()
                .is_some_and(|m| m.contains("database \"keycloak\""))),
        "{findings:#?}"
    );

    let mut closed = files.clone();
    let path = "platform/overlays/prod/namespaces/storage/egress.yaml";
    let kept: Vec<&str> = text(&files, path)
        .split("\n---\n")
        .filter(|d| !d.contains("name: allow-external-databases"))
        .collect();
    closed.insert(path.into(), kept.join("\n---\n").into_bytes());
    let (code, findings) = check_json(&closed);
    assert_eq!(code, 1, "{findings:#?}");
    // The provisioning Job, in the storage namespace itself, is judged
    // too: the ExternalName Service forwards nothing.
    assert!(
        crate::support::finds(
            &findings,
            "SOC-SYS-005",
            &[
                "\"managed-postgresql-prod\"",
                "resolves to postgresql.acme-prod.internal outside the cluster"
            ]
        ),
        "{findings:#?}"
    );
}

/// The Job's script, run against a real PostgreSQL server by an
/// administrator with CREATEROLE and CREATEDB only: every role can sign in
/// with its password, every database and schema has its owner, a second
/// run changes nothing, and a changed password is applied by the next run.
#[test]
fn the_provisioning_script_creates_the_wiring_in_a_real_postgresql() {
    let Some(bin) = crate::support::postgres_bin() else {
        return;
    };
    let files = crate::support::render_eks();
    let data = provision_data(&files);
    let dir = tempfile::tempdir().expect("tempdir");
    let (provision, roles) = (dir.path().join("provision"), dir.path().join("roles"));
    fs_err::create_dir_all(&provision).expect("mkdir");
    fs_err::create_dir_all(&roles).expect("mkdir");
    for (key, value) in &data {
        let mut body = value.as_str().expect("a string").to_owned();
        if key == "provision.sh" {
            // The Job mounts these at /provision and /roles.
            body = body
                .replace("/provision/", &format!("{}/", provision.display()))
                .replace("/roles/", &format!("{}/", roles.display()));
        }
        fs_err::write(provision.join(key), body).expect("write");
    }
    let role_names = first_words(&data["roles"]);
    for r in &role_names {
        fs_err::write(roles.join(r), format!("pw-{r}-1")).expect("write");
    }
    let out = Command::new("sh")
        .arg(crate::support::repo_root().join("tests/tools/pg_provision.sh"))
        .arg(&bin)
        .arg(&provision)
        .arg(&roles)
        .arg("2")
        .arg(first_role(&role_names))
        .output()
        .expect("pg_provision.sh runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: BTreeSet<&str> = report.lines().collect();
    // Every role signs in with its password (the rotated one's new one).
    for r in &role_names {
        assert!(lines.contains(format!("role {r}").as_str()), "{report}");
        assert!(lines.contains(format!("login {r} ok").as_str()), "{report}");
    }
    for l in data["databases"].as_str().unwrap_or_default().lines() {
        assert!(
            lines.contains(format!("database {l}").as_str()),
            "{l}: {report}"
        );
    }
    for l in data["schemas"].as_str().unwrap_or_default().lines() {
        assert!(
            lines.contains(format!("schema {l}").as_str()),
            "{l}: {report}"
        );
    }
    assert!(lines.contains("database reference trino"), "{report}");
    // The password it replaced no longer signs in.
    assert!(
        lines.contains(format!("old-login {} failed", first_role(&role_names)).as_str()),
        "{report}"
    );
}

fn first_role(roles: &BTreeSet<String>) -> &str {
    roles.iter().next().map_or("", String::as_str)
}
