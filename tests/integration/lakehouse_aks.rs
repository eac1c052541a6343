//! The lakehouse on Azure Kubernetes Service: prod's cluster, PostgreSQL
//! flexible server, Key Vault and backups' storage account from its own
//! Terraform; External Secrets and Elasticsearch signing in with managed
//! identities federated with their service accounts (Microsoft Entra
//! Workload ID), whose client IDs the spec gives once Azure has assigned
//! them; secret-store entries named as Key Vault allows; and the whole
//! judged by socle check, kustomize, python-hcl2 and checkov.

use std::collections::BTreeSet;

use crate::support::{
    check_json, finds, materialise, prod_egress, render_text, socle_in, text, tool,
};

const SUBSCRIPTION: &str = "4f6c2a1e-8b7d-4c3a-9e21-5d0b7a6c9f13";
const TENANT: &str = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
const OPERATOR_ID: &str = "0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e";
const ELASTICSEARCH_ID: &str = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5";

/// The lakehouse example with prod on AKS, the client IDs of its two
/// identities given (as after the first `terraform apply`).
pub fn spec() -> String {
    spec_with(&format!(
        "    cloud: {{subscription: {SUBSCRIPTION}, tenant: {TENANT}, region: francecentral, vpc_cidr: 10.30.0.0/16,\n             client_ids: {{external-secrets: {OPERATOR_ID}, elasticsearch: {ELASTICSEARCH_ID}}}}}\n"
    ))
}

/// The same before the first apply: no client ID yet.
fn spec_before_apply() -> String {
    spec_with(&format!(
        "    cloud: {{subscription: {SUBSCRIPTION}, tenant: {TENANT}, region: francecentral, vpc_cidr: 10.30.0.0/16}}\n"
    ))
}

/// The example with prod on AKS, its `cloud` line being `cloud`.
fn spec_with(cloud: &str) -> String {
    crate::support::lakehouse_prod_on("aks", cloud)
}

#[test]
fn prod_on_aks_gets_its_own_terraform_and_federated_identities_and_passes_socle_check() {
    let files = crate::support::render_lakehouse_aks();
    let tf: BTreeSet<&str> = files
        .keys()
        .filter_map(|p| p.strip_prefix("terraform/prod/"))
        .collect();
    for file in [
        "README.md",
        "main.tf",
        "aks.tf",
        "postgresql.tf",
        "storage.tf",
        "identities.tf",
        "secret-store.yaml",
    ] {
        assert!(tf.contains(file), "{file} in {tf:?}");
    }
    assert!(!tf.contains("eks.tf") && !tf.contains("gke.tf"), "{tf:?}");
    let main = text(&files, "terraform/prod/main.tf");
    assert!(main.contains("hashicorp/azurerm"), "{main}");
    assert!(main.contains(SUBSCRIPTION), "{main}");
    assert!(!main.contains("hashicorp/google"), "{main}");

    // The flexible server in place of CloudNativePG; AKS grows its nodes.
    for gone in ["cloudnative-pg", "barman-cloud", "postgresql"] {
        assert!(!files.contains_key(&format!("argocd/prod/applications/{gone}.yaml")));
        assert!(files.contains_key(&format!("argocd/staging/applications/{gone}.yaml")));
    }
    assert!(files.contains_key("argocd/prod/applications/managed-postgresql.yaml"));
    assert!(!files.contains_key("argocd/prod/applications/cluster-autoscaler.yaml"));
    let provision = text(
        &files,
        "components/managed-postgresql/overlays/prod/provision.yaml",
    );
    assert!(provision.contains("CREATE EXTENSION IF NOT EXISTS pgaudit"));

    // External Secrets signs in as its managed identity: the label the
    // webhook selects, the client ID the spec gives; the store reads the
    // environment's Key Vault with the operator's own identity.
    let operator = text(&files, "components/external-secrets/values-prod.yaml");
    assert!(
        operator.contains("podLabels:\n  azure.workload.identity/use: \"true\""),
        "{operator}"
    );
    assert!(
        operator.contains(&format!(
            "azure.workload.identity/client-id: \"{OPERATOR_ID}\""
        )),
        "{operator}"
    );
    let staging = text(&files, "components/external-secrets/values-staging.yaml");
    assert!(!staging.contains("azure"), "{staging}");
    let store = text(&files, "terraform/prod/secret-store.yaml");
    assert!(store.contains("azurekv:"), "{store}");
    assert!(store.contains("authType: WorkloadIdentity"), "{store}");
    assert!(
        store.contains("vaultUrl: \"https://acme-prod-kv.vault.azure.net"),
        "{store}"
    );
    let parsed: serde_json::Value = crate::support::yaml(store).expect("the store");
    assert!(
        parsed["spec"]["provider"]["azurekv"]
            .get("serviceAccountRef")
            .is_none(),
        "{store}"
    );

    // Key Vault allows no `/` nor `_`: prod's entries use `-`.
    let superset = text(
        &files,
        "components/superset/overlays/prod/externalsecret.yaml",
    );
    assert!(
        superset.contains("key: acme-prod-superset-app"),
        "{superset}"
    );

    // Elasticsearch snapshots to an azure repository in the backups'
    // container, as its own identity: the account's name in the keystore,
    // the token projected inside its configuration directory.
    let snapshots = text(
        &files,
        "components/elasticsearch/manifests/prod/snapshots.yaml",
    );
    assert!(
        snapshots.contains(
            "{\"type\": \"azure\", \"settings\": {\"client\": \"default\", \"container\": \"acme-prod-backups\""
        ),
        "{snapshots}"
    );
    assert!(
        snapshots.contains(&format!(
            "azure.workload.identity/client-id: \"{ELASTICSEARCH_ID}\""
        )),
        "{snapshots}"
    );
    assert!(
        snapshots.contains("key: acme-prod-elasticsearch-azure"),
        "{snapshots}"
    );
    let values = text(&files, "components/elasticsearch/values-prod.yaml");
    for want in [
        "secretName: elasticsearch-azure",
        "azure.workload.identity/use: \"true\"",
        "value: /usr/share/elasticsearch/config/storage-azure/azure-federated-token",
        "audience: api://AzureADTokenExchange",
    ] {
        assert!(values.contains(want), "{want} in {values}");
    }
    assert!(!values.contains("s3.client"), "{values}");

    // Egress: Entra ID's public ranges on 443 for the token exchange, the
    // network (its private endpoints, the database's subnet) for the rest;
    // no node agent, no EBS class.
    let core = prod_egress(&files, "core");
    for range in [
        "20.20.32.0/19",
        "20.190.128.0/18",
        "20.231.128.0/19",
        "40.126.0.0/18",
    ] {
        let want = format!("allow-external-workload-identity {range}:443");
        assert!(core.contains(&want), "{want} in {core:?}");
    }
    assert!(
        core.contains("allow-external-secret-store 10.30.0.0/16:443"),
        "{core:?}"
    );
    let storage = prod_egress(&files, "storage");
    for want in [
        "allow-external-databases 10.30.0.0/16:5432",
        "allow-external-backup-target 10.30.0.0/16:443",
        "allow-external-workload-identity 20.190.128.0/18:443",
    ] {
        assert!(storage.contains(want), "{want} in {storage:?}");
    }
    let all: Vec<String> = ["core", "storage", "query"]
        .iter()
        .flat_map(|ns| prod_egress(&files, ns))
        .collect();
    assert!(!all.iter().any(|e| e.contains("169.254.")), "{all:?}");
    assert!(!files.contains_key("platform/overlays/prod/storageclass.yaml"));

    // socle check: no finding, and it says what it does not judge of AKS.
    let dir = materialise(&files);
    let (code, out, err) = socle_in(dir.path(), &["check", "."]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("prod: Azure Kubernetes Service cluster (azurerm_kubernetes_cluster): socle reads whether it enforces NetworkPolicies"),
        "{out}"
    );
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
}

/// Before the first apply the spec has no client IDs: the repository
/// renders (the Terraform is what gives them), and socle check says which
/// service accounts name no identity and how to fix it.
#[test]
fn before_the_client_ids_are_known_socle_check_says_what_to_copy() {
    // `socle new` writes it, and says what is left.
    let dir = tempfile::tempdir().expect("tempdir");
    fs_err::write(dir.path().join("socle.yaml"), spec_before_apply()).expect("spec");
    let (code, out, err) = socle_in(
        dir.path(),
        &["new", "--spec", "socle.yaml", "--no-git", "--out", "out"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("Left for after the first `terraform apply`"),
        "{err}"
    );
    assert!(
        err.contains("lakehouse-core/external-secrets is federated with managed identity acme-prod-external-secrets"),
        "{err}"
    );
    assert!(dir.path().join("out/terraform/prod/identities.tf").exists());
    let files = render_text(&spec_before_apply());
    let operator = text(&files, "components/external-secrets/values-prod.yaml");
    assert!(!operator.contains("client-id"), "{operator}");
    let (code, findings) = check_json(&files);
    assert_eq!(code, 1, "{findings:#?}");
    for account in [
        "lakehouse-core/external-secrets",
        "lakehouse-storage/elasticsearch",
    ] {
        assert!(
            finds(
                &findings,
                "SOC-SYS-030",
                &[
                    account,
                    "has no client ID in its annotation azure.workload.identity/client-id",
                    "terraform output -json client_ids"
                ]
            ),
            "{account}: {findings:#?}"
        );
    }
}

/// What socle check judges of the cluster and the identities: a mutation
/// of each makes it deny, naming what broke.
#[test]
fn socle_check_judges_the_aks_cluster_and_its_identities() {
    let files = crate::support::render_lakehouse_aks();
    let aks = text(&files, "terraform/prod/aks.tf");
    let identities = text(&files, "terraform/prod/identities.tf");
    let cases: Vec<(&str, &str, &str, &str, &[&str])> = vec![
        // No policy engine: every NetworkPolicy is accepted and ignored.
        (
            "terraform/prod/aks.tf",
            "network_policy      = \"cilium\"",
            "",
            "SOC-SYS-019",
            &["its AKS cluster does not enforce them"],
        ),
        // No workload identity webhook: every federated credential is void.
        (
            "terraform/prod/aks.tf",
            "workload_identity_enabled = true",
            "workload_identity_enabled = false",
            "SOC-SYS-029",
            &[
                "does not issue workload identity tokens",
                "lakehouse-core/external-secrets",
            ],
        ),
        // A credential federated with another account.
        (
            "terraform/prod/identities.tf",
            "system:serviceaccount:lakehouse-core:external-secrets",
            "system:serviceaccount:lakehouse-core:other",
            "SOC-SYS-021",
            &[
                "acme-prod-superset-app",
                "no credential is federated with its service account",
            ],
        ),
        // A role that cannot read secrets.
        (
            "terraform/prod/identities.tf",
            "\"Key Vault Secrets User\"",
            "\"Key Vault Reader\"",
            "SOC-SYS-021",
            &[
                "acme-prod-superset-app",
                "holds no role able to read its secrets",
            ],
        ),
        // An audience Entra ID does not exchange for the webhook's tokens.
        (
            "terraform/prod/identities.tf",
            "api://AzureADTokenExchange",
            "api://other",
            "SOC-SYS-031",
            &["does not trust this cluster's tokens"],
        ),
    ];
    for (path, from, to, rule, says) in cases {
        let file = if path.ends_with("aks.tf") {
            aks
        } else {
            identities
        };
        assert!(file.contains(from), "{from} in {path}:\n{file}");
        let changed = crate::support::with_replaced(&files, path, from, to);
        let (code, findings) = check_json(&changed);
        assert_eq!(code, 1, "{from} -> {to}");
        assert!(
            finds(&findings, rule, says),
            "{from} -> {to}: {findings:#?}"
        );
    }
    // Pods without the webhook's label get no identity.
    let unlabelled = crate::support::with_replaced(
        &files,
        "components/external-secrets/values-prod.yaml",
        "podLabels:\n  azure.workload.identity/use: \"true\"\n",
        "podLabels: {}\n",
    );
    let (code, findings) = check_json(&unlabelled);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-031",
            &[
                "lakehouse-core/external-secrets",
                "lack the label azure.workload.identity/use"
            ]
        ),
        "{findings:#?}"
    );
    // Key Vault refuses a name with `/`: the entry cannot exist.
    let slashed = crate::support::with_replaced(
        &files,
        "components/superset/overlays/prod/externalsecret.yaml",
        "key: acme-prod-superset-app",
        "key: acme/prod/superset/app",
    );
    let (code, findings) = check_json(&slashed);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-021",
            &[
                "\"acme/prod/superset/app\" from Key Vault",
                "whose entry names allow letters, digits and `-`"
            ]
        ),
        "{findings:#?}"
    );
    // Egress that does not reach Entra ID leaves the pods without tokens.
    let path = "platform/overlays/prod/namespaces/storage/egress.yaml";
    let egress = text(&files, path);
    let kept: Vec<&str> = egress
        .split("\n---\n")
        .filter(|d| !d.contains("name: allow-external-workload-identity\n"))
        .collect();
    let mut cut = files.clone();
    cut.insert(path.into(), kept.join("\n---\n").into_bytes());
    let (code, findings) = check_json(&cut);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-018",
            &[
                "lakehouse-storage/elasticsearch",
                "Microsoft Entra ID (login.microsoftonline.com)"
            ]
        ),
        "{findings:#?}"
    );
}

/// The flexible server behind its private name: the ExternalName Service
/// must name a record of the Terraform's zone.
#[test]
fn the_flexible_server_is_judged_by_its_private_name() {
    let files = crate::support::render_lakehouse_aks();
    let service = text(
        &files,
        "components/managed-postgresql/overlays/prod/service.yaml",
    );
    assert!(
        service.contains("externalName: postgresql.acme-prod.internal"),
        "{service}"
    );
    let renamed = crate::support::with_replaced(
        &files,
        "components/managed-postgresql/overlays/prod/service.yaml",
        "externalName: postgresql.acme-prod.internal",
        "externalName: pg.acme-prod.internal",
    );
    let (code, findings) = check_json(&renamed);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-023",
            &["lakehouse-storage/postgresql-rw", "pg.acme-prod.internal"]
        ),
        "{findings:#?}"
    );
}

/// The flexible server answers from its delegated subnet, Key Vault at its
/// private endpoint's: moved out of the network the consumers' egress
/// reaches, each is denied, naming the range.
#[test]
fn the_database_and_the_vault_are_judged_by_where_they_answer() {
    let files = crate::support::render_lakehouse_aks();
    let main = text(&files, "terraform/prod/main.tf");
    for (from, rule, says) in [
        (
            "postgresql_range        = cidrsubnet(local.vpc_cidr, 4, 2)",
            "SOC-SYS-024",
            vec!["lakehouse-storage", "subnets 10.99.0.0/20", "port 5432"],
        ),
        (
            "private_endpoints_range = cidrsubnet(local.vpc_cidr, 4, 1)",
            "SOC-SYS-024",
            vec![
                "lakehouse-core/external-secrets",
                "does not reach Key Vault (its private endpoint in 10.99.0.0/20",
            ],
        ),
    ] {
        assert!(main.contains(from), "{from} in {main}");
        let (name, _) = from.split_once('=').expect("an assignment");
        let to = format!("{name}= \"10.99.0.0/20\"");
        let moved = crate::support::with_replaced(&files, "terraform/prod/main.tf", from, &to);
        let (code, findings) = check_json(&moved);
        assert_eq!(code, 1, "{to}");
        assert!(finds(&findings, rule, &says), "{to}: {findings:#?}");
    }
}

/// kustomize builds what Argo CD syncs in prod: Elasticsearch's account
/// with its client ID, the flexible server's stand-in, no StorageClass.
#[test]
fn kustomize_builds_the_aks_overlays() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let files = crate::support::render_lakehouse_aks();
    let dir = materialise(&files);
    let build = |overlay: &str| crate::support::kustomize_build(&kubectl, dir.path(), overlay);
    assert!(build("platform/overlays/prod")
        .iter()
        .all(|d| d["kind"] != "StorageClass"));
    let sql = build("components/managed-postgresql/overlays/prod");
    let admin = sql
        .iter()
        .find(|d| d["kind"] == "ExternalSecret")
        .expect("ExternalSecret");
    assert_eq!(
        admin["spec"]["data"][0]["remoteRef"]["key"],
        "acme-prod-postgresql-admin"
    );
}

/// Every `.tf` file parses with python-hcl2 and checkov's Terraform
/// framework fails none of its checks; each one skipped inline is in the
/// README's exceptions. `terraform validate` needs the azurerm provider,
/// which these machines do not have: the README says so.
#[test]
fn the_aks_terraform_parses_and_passes_checkov() {
    let files = crate::support::render_lakehouse_aks();
    if let Some(summary) = crate::support::assert_terraform_passes_hcl2_and_checkov(&files, "prod")
    {
        assert!(summary["passed"].as_u64().unwrap_or(0) > 50, "{summary}");
    }
    let readme = text(&files, "terraform/prod/README.md");
    assert!(
        readme.contains("terraform output -json client_ids"),
        "{readme}"
    );
}

/// An AKS environment names its subscription and tenant; other clouds'
/// fields, a malformed ID and another cloud's region are refused, naming
/// the field.
#[test]
fn aks_needs_its_subscription_and_tenant_and_refuses_other_clouds_fields() {
    for (cloud, wants, field) in [
        (
            "    cloud: {tenant: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d, region: francecentral, vpc_cidr: 10.30.0.0/16}\n",
            "give `subscription`",
            "environments[2].cloud",
        ),
        (
            "    cloud: {subscription: 4f6c2a1e-8b7d-4c3a-9e21-5d0b7a6c9f13, tenant: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d, region: francecentral, vpc_cidr: 10.30.0.0/16, project: acme-lakehouse-prod}\n",
            "`project` is a Google Cloud project",
            "environments[2].cloud.project",
        ),
        (
            "    cloud: {subscription: 4f6c2a1e-8b7d-4c3a-9e21-5d0b7a6c9f13, tenant: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d, region: europe-west9, vpc_cidr: 10.30.0.0/16}\n",
            "\"europe-west9\" is not a aks region",
            "environments[2].cloud.region",
        ),
        (
            "    cloud: {subscription: 4f6c2a1e-8b7d-4c3a-9e21-5d0b7a6c9f13, tenant: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d, region: francecentral, vpc_cidr: 10.30.0.0/16, client_ids: {external-secrets: not-a-uuid}}\n",
            "is not a client ID",
            "environments[2].cloud.client_ids.external-secrets",
        ),
    ] {
        let err = crate::support::socle_new_refuses(&spec_with(cloud));
        assert!(err.contains(wants), "{wants}: {err}");
        assert!(err.contains(field), "{field}: {err}");
    }
    // A client ID for an identity the Terraform does not create (a typo)
    // is refused, naming the ones it does.
    let err =
        crate::support::socle_new_refuses(&spec().replace("elasticsearch: ", "elasticsaerch: "));
    assert!(
        err.contains("cloud.client_ids.elasticsaerch: not a managed identity of this environment's Terraform; its identities: elasticsearch, external-secrets"),
        "{err}"
    );
    // And on another cloud, Azure's fields are refused.
    let gke = crate::lakehouse_gke::spec().replace(
        "region: europe-west9,",
        "region: europe-west9, tenant: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d,",
    );
    let err = crate::support::socle_new_refuses(&gke);
    assert!(err.contains("`tenant` is Azure's (target aks)"), "{err}");
}

/// `socle blueprint show` says what AKS replaces.
#[test]
fn blueprint_show_says_what_aks_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = socle_in(dir.path(), &["blueprint", "show", "lakehouse"]);
    assert_eq!(code, 0, "{err}");
    let aks = out
        .split("\naks (")
        .nth(1)
        .expect("an aks section")
        .split("\n\n")
        .next()
        .unwrap_or_default();
    assert!(
        aks.contains("  leaves out postgresql: Azure Database for PostgreSQL"),
        "{aks}"
    );
    assert!(aks.contains("  adds managed-postgresql: "), "{aks}");
    assert!(!aks.contains("cluster-autoscaler"), "{aks}");
}
