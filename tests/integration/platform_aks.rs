//! The data platform on Azure Kubernetes Service: prod's cluster, its
//! PostgreSQL flexible server, Key Vault and backups' storage account from
//! its own Terraform; External Secrets and Velero signing in as managed
//! identities federated with their service accounts; and the whole judged
//! by socle check, kustomize, python-hcl2 and checkov.

use crate::support::{check_json, finds, materialise, socle_in, text, tool};

const OPERATOR_ID: &str = "0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e";
const VELERO_ID: &str = "2d3e4f5a-6b7c-4d8e-9f0a-b1c2d3e4f5a6";

/// The example with prod on AKS, its identities' client IDs given.
pub fn spec() -> String {
    crate::cloud::eks_spec_with(&format!(
        "  - name: prod\n    target: aks\n    cloud: {{subscription: 4f6c2a1e-8b7d-4c3a-9e21-5d0b7a6c9f13, tenant: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d, region: francecentral, vpc_cidr: 10.30.0.0/16,\n             client_ids: {{external-secrets: {OPERATOR_ID}, velero: {VELERO_ID}}}}}\n"
    ))
}

#[test]
fn prod_on_aks_gets_its_terraform_and_signs_in_with_federated_identities() {
    let files = crate::support::render_platform_aks();
    for file in [
        "README.md",
        "identity.tf",
        "database.tf",
        "secret-store.yaml",
    ] {
        assert!(
            files.contains_key(&format!("terraform/prod/{file}")),
            "{file}"
        );
    }
    for gone in ["cloudnative-pg", "barman-cloud", "postgresql", "openebs"] {
        assert!(
            !files.contains_key(&format!("argocd/prod/applications/{gone}.yaml")),
            "{gone}"
        );
    }
    assert!(files.contains_key("argocd/prod/applications/managed-postgresql.yaml"));
    assert!(!files.contains_key("argocd/prod/applications/cluster-autoscaler.yaml"));
    let classes = text(&files, "platform/overlays/prod/cluster/storageclasses.yaml");
    for want in [
        "name: managed-csi-retain",
        "provisioner: disk.csi.azure.com",
        "reclaimPolicy: Retain",
    ] {
        assert!(classes.contains(want), "{want} in {classes}");
    }
    // External Secrets and Velero: the webhook's label, their client IDs.
    let operator = text(&files, "components/external-secrets/values-prod.yaml");
    assert!(
        operator.contains(&format!(
            "azure.workload.identity/client-id: \"{OPERATOR_ID}\""
        )),
        "{operator}"
    );
    let velero = text(&files, "components/velero/values-prod.yaml");
    for want in [
        "image: velero/velero-plugin-for-microsoft-azure:",
        &format!("azure.workload.identity/client-id: \"{VELERO_ID}\""),
        "azure.workload.identity/use: \"true\"",
        "provider: velero.io/azure",
        "useSecret: false",
    ] {
        assert!(velero.contains(want), "{want} in {velero}");
    }
    assert!(!velero.contains("velero-plugin-for-aws"), "{velero}");
    // Key Vault's names: `-` between the parts.
    let keycloak = text(
        &files,
        "components/keycloak/manifests/prod/externalsecrets.yaml",
    );
    assert!(keycloak.contains("key: acme-prod-keycloak-"), "{keycloak}");
    let store = text(&files, "terraform/prod/secret-store.yaml");
    assert!(store.contains("azurekv:"), "{store}");

    let dir = materialise(&files);
    let (code, out, err) = socle_in(dir.path(), &["check", "."]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("prod: Azure Kubernetes Service cluster (azurerm_kubernetes_cluster)"),
        "{out}"
    );
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
}

/// Velero writes the backups' container as its federated identity: a role
/// that only reads, or none, and Azure Storage refuses it.
#[test]
fn socle_check_judges_velero_on_the_backups_container() {
    let files = crate::support::render_platform_aks();
    let identity = text(&files, "terraform/prod/identity.tf");
    let role = "\"Storage Blob Data Contributor\"";
    assert!(identity.contains(role), "{identity}");
    let changed = crate::support::with_replaced(
        &files,
        "terraform/prod/identity.tf",
        role,
        "\"Storage Blob Data Reader\"",
    );
    let (code, findings) = check_json(&changed);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-028",
            &[
                "velero-prod",
                "acme-prod-backups",
                "hold only Storage Blob Data Reader"
            ]
        ),
        "{findings:#?}"
    );
    let subject = "system:serviceaccount:velero:velero-server";
    assert!(identity.contains(subject), "{identity}");
    let other = crate::support::with_replaced(
        &files,
        "terraform/prod/identity.tf",
        subject,
        "system:serviceaccount:velero:other",
    );
    let (code, findings) = check_json(&other);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-028",
            &["velero-prod", "hold no role on it"]
        ),
        "{findings:#?}"
    );
}

/// Velero's server pods carry the webhook's label, or they get no
/// identity; its account names a client ID once the spec gives it.
#[test]
fn velero_needs_the_webhooks_label_and_its_client_id() {
    let files = crate::support::render_platform_aks();
    let unlabelled = crate::support::with_replaced(
        &files,
        "components/velero/values-prod.yaml",
        "\npodLabels:\n  azure.workload.identity/use: \"true\"\n",
        "\npodLabels: {}\n",
    );
    let (code, findings) = check_json(&unlabelled);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-031",
            &[
                "velero/velero-server",
                "lack the label azure.workload.identity/use"
            ]
        ),
        "{findings:#?}"
    );
    let anonymous = crate::support::with_replaced(
        &files,
        "components/velero/values-prod.yaml",
        &format!("      azure.workload.identity/client-id: \"{VELERO_ID}\"\n"),
        "",
    );
    let anonymous = crate::support::with_replaced(
        &anonymous,
        "components/velero/values-prod.yaml",
        "    annotations:\n",
        "",
    );
    let (code, findings) = check_json(&anonymous);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-030",
            &["velero/velero-server", "has no client ID"]
        ),
        "{findings:#?}"
    );
}

/// kustomize builds prod's cluster objects: the AKS class only.
#[test]
fn kustomize_builds_the_aks_storage_class() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let files = crate::support::render_platform_aks();
    let dir = materialise(&files);
    let built =
        crate::support::kustomize_build(&kubectl, dir.path(), "platform/overlays/prod/cluster");
    let classes: Vec<&str> = built
        .iter()
        .filter(|d| d["kind"] == "StorageClass")
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(classes, ["managed-csi-retain"]);
}

/// Every `.tf` file parses with python-hcl2 and checkov's Terraform
/// framework fails none of its checks (each skip is in the README).
#[test]
fn the_platforms_aks_terraform_parses_and_passes_checkov() {
    let files = crate::support::render_platform_aks();
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
