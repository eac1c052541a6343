//! The data platform on Azure Kubernetes Service: prod's cluster, its
//! PostgreSQL flexible server, Key Vault and backups' storage account from
//! its own Terraform; External Secrets and Velero signing in as managed
//! identities federated with their service accounts; and the whole judged
//! by socle check, kustomize, python-hcl2 and checkov.

use crate::support::{check_json, finds, materialise, socle_in, text, tool};

const OPERATOR_ID: &str = "0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e";
const VELERO_ID: &str = "2d3e4f5a-6b7c-4d8e-9f0a-b1c2d3e4f5a6";
pub(crate) const LOKI_ID: &str = "3e4f5a6b-7c8d-4e9f-8a0b-c1d2e3f4a5b6";
pub(crate) const AIRFLOW_ID: &str = "4f5a6b7c-8d9e-4f0a-9b1c-d2e3f4a5b6c7";
pub(crate) const LAKEKEEPER_ID: &str = "5a6b7c8d-9e0f-4a1b-8c2d-e3f4a5b6c7d8";
pub(crate) const TRINO_ID: &str = "6b7c8d9e-0f1a-4b2c-9d3e-f4a5b6c7d8e9";

/// The example with prod on AKS, its identities' client IDs given.
pub fn spec() -> String {
    crate::cloud::eks_spec_with(&format!(
        "  - name: prod\n    target: aks\n    cloud: {{subscription: 4f6c2a1e-8b7d-4c3a-9e21-5d0b7a6c9f13, tenant: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d, region: francecentral, vpc_cidr: 10.30.0.0/16,\n             client_ids: {{external-secrets: {OPERATOR_ID}, velero: {VELERO_ID}, loki: {LOKI_ID}, airflow: {AIRFLOW_ID},\n                          lakekeeper: {LAKEKEEPER_ID}, trino: {TRINO_ID}}}}}\n"
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

/// Loki's buckets and Airflow's task logs are containers of the data
/// account, each consumer signing in as a managed identity of its own,
/// federated with its service accounts one after the other; MinIO keeps
/// the buckets whose consumers need keys, and no key is issued, stored or
/// read for what moved.
#[test]
fn loki_and_airflow_keep_their_buckets_in_azure_storage_as_their_own_identities() {
    let files = crate::support::render_platform_aks();
    let buckets = text(&files, "terraform/prod/buckets.tf");
    for want in [
        "resource \"azurerm_storage_account\" \"data\"",
        "name                     = \"acmeproddata\"",
        "shared_access_key_enabled         = false",
        "public_network_access_enabled = false",
        "name                  = \"acme-prod-loki-chunks\"",
        "name                  = \"acme-prod-airflow-logs\"",
        "resource \"azurerm_private_endpoint\" \"data\"",
    ] {
        assert!(buckets.contains(want), "{want} in {buckets}");
    }
    let identity = text(&files, "terraform/prod/identity.tf");
    for want in [
        "subject                   = \"system:serviceaccount:data-platform-observability:loki\"",
        "subject                   = \"system:serviceaccount:data-platform-core:airflow-worker\"",
        "depends_on = [azurerm_federated_identity_credential.airflow_airflow_triggerer]",
        "scope                = azurerm_storage_container.airflow_logs.id",
    ] {
        assert!(identity.contains(want), "{want} in {identity}");
    }
    // The first of an identity's credentials waits for none.
    let first = identity
        .split(
            "resource \"azurerm_federated_identity_credential\" \"airflow_airflow_api_server\" {",
        )
        .nth(1)
        .and_then(|rest| rest.split("\n}\n").next())
        .expect("the first credential");
    assert!(!first.contains("depends_on"), "{first}");
    let outputs = text(&files, "terraform/prod/outputs.tf");
    assert!(
        outputs.contains("{ \"loki\" = azurerm_user_assigned_identity.loki.client_id },"),
        "{outputs}"
    );

    let loki = text(&files, "components/loki/values-prod.yaml");
    for want in [
        "type: azure",
        "accountName: acmeproddata",
        "useFederatedToken: true",
        "object_store: azure",
        "delete_request_store: azure",
        "azure.workload.identity/use: \"true\"",
        &format!("azure.workload.identity/client-id: \"{LOKI_ID}\""),
    ] {
        assert!(loki.contains(want), "{want} in {loki}");
    }
    let airflow = text(&files, "components/airflow/values-prod.yaml");
    for want in [
        "remote_base_log_folder: wasb://task-logs",
        "remote_wasb_log_container: acme-prod-airflow-logs",
    ] {
        assert!(airflow.contains(want), "{want} in {airflow}");
    }
    // Each of the four accounts: its label and its client ID.
    assert_eq!(
        airflow
            .matches(&format!(
                "azure.workload.identity/client-id: \"{AIRFLOW_ID}\""
            ))
            .count(),
        4,
        "{airflow}"
    );
    let connection = text(
        &files,
        "components/airflow/manifests/prod/externalsecrets.yaml",
    );
    assert!(
        connection.contains("{\"conn_type\": \"wasb\", \"login\": \"acmeproddata\", \"host\": \"https://acmeproddata.blob.core.windows.net/\"}"),
        "{connection}"
    );
    assert!(!connection.contains("s3AccessKey"), "{connection}");
    // MinIO grants no one what moved; staging, on its own cluster, keeps it.
    let policies = text(&files, "components/minio/manifests/prod/policies.yaml");
    assert!(!policies.contains("loki-chunks"), "{policies}");
    assert!(!policies.contains("airflow-logs"), "{policies}");
    assert!(
        text(&files, "components/minio/manifests/staging/policies.yaml").contains("loki-chunks")
    );
    // Zeppelin's Azure notebook storage takes only a key: its notes stay in
    // MinIO, read with its keys, and no identity is made for it.
    assert!(policies.contains("arn:aws:s3:::notebooks/*"), "{policies}");
    assert!(files.contains_key("components/zeppelin/overlays/prod/externalsecret.yaml"));
    assert!(!text(&files, "terraform/prod/identity.tf")
        .contains("azurerm_user_assigned_identity\" \"zeppelin\""));
    let readme = text(&files, "terraform/prod/README.md");
    assert!(
        readme.contains("Zeppelin's notes are among them"),
        "{readme}"
    );
}

/// What socle check proves of the containers' consumers: the role each
/// use needs, and, on every account federated with their identity, the
/// webhook's label and the client ID.
#[test]
fn socle_check_judges_loki_and_airflow_on_their_containers() {
    let files = crate::support::render_platform_aks();
    let role = "resource \"azurerm_role_assignment\" \"airflow_writes_airflow_logs\" {\n  scope                = azurerm_storage_container.airflow_logs.id\n  role_definition_name = \"Storage Blob Data Contributor\"";
    let reader = crate::support::with_replaced(
        &files,
        "terraform/prod/identity.tf",
        role,
        &role.replace("Contributor", "Reader"),
    );
    let (code, findings) = check_json(&reader);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-028",
            &[
                "airflow-prod",
                "acme-prod-airflow-logs",
                "hold only Storage Blob Data Reader"
            ]
        ),
        "{findings:#?}"
    );
    // The task pods' label, on the workers' values only.
    let label = "workers:\n  resources:";
    let airflow = text(&files, "components/airflow/values-prod.yaml");
    let at = airflow.find(label).expect("workers");
    let unlabelled_text = format!(
        "{}{}",
        &airflow[..at],
        airflow[at..].replacen(
            "    azure.workload.identity/use: \"true\"\n",
            "    azure.workload.identity/use: \"false\"\n",
            1
        )
    );
    let mut unlabelled = files.clone();
    unlabelled.insert(
        "components/airflow/values-prod.yaml".into(),
        unlabelled_text.into_bytes(),
    );
    let (code, findings) = check_json(&unlabelled);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-031",
            &[
                "data-platform-core/airflow-worker",
                "lack the label azure.workload.identity/use"
            ]
        ),
        "{findings:#?}"
    );
    assert!(
        !finds(&findings, "SOC-SYS-031", &["airflow-api-server"]),
        "{findings:#?}"
    );
    let anonymous = crate::support::with_replaced(
        &files,
        "components/loki/values-prod.yaml",
        &format!("    azure.workload.identity/client-id: \"{LOKI_ID}\"\n"),
        "    azure.workload.identity/client-id: \"\"\n",
    );
    let (code, findings) = check_json(&anonymous);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-030",
            &["data-platform-observability/loki", "has no client ID"]
        ),
        "{findings:#?}"
    );
    // A container's name is its account's: Loki pointed at the backups'
    // account asks it for containers it does not hold.
    let elsewhere = crate::support::with_replaced(
        &files,
        "components/loki/values-prod.yaml",
        "accountName: acmeproddata",
        "accountName: acmeprodbackups",
    );
    let (code, findings) = check_json(&elsewhere);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-032",
            &[
                "loki-prod",
                "acme-prod-loki-chunks",
                "at storage account acmeprodbackups, but the Terraform creates that container in acmeproddata"
            ]
        ),
        "{findings:#?}"
    );
    assert!(
        !finds(&findings, "SOC-SYS-032", &["velero-prod"]),
        "{findings:#?}"
    );
}

/// A client ID for an identity prod's Terraform does not create is
/// refused, naming those it does: the blueprint's and the containers'
/// consumers'.
#[test]
fn a_client_id_for_no_identity_of_the_environment_is_refused() {
    let err = crate::support::socle_new_refuses(&spec().replace("loki: ", "lokii: "));
    assert!(
        err.contains("cloud.client_ids.lokii: not a managed identity of this environment's Terraform; its identities: airflow, external-secrets, lakekeeper, loki, trino, velero"),
        "{err}"
    );
}

/// The Iceberg warehouses as containers of the lake account, apart from
/// the data account: it has a hierarchical namespace (Azure narrows a SAS
/// token to a directory, one table, only there), keeps no version (Azure
/// versions no blob in such an account) but soft-deletes, and answers at
/// a blob and a Data Lake (dfs) private endpoint. Lakekeeper signs in as
/// its managed identity, declares its warehouses with that system identity
/// and vends SAS tokens signed with the lake account's user delegation key
/// (Storage Blob Delegator on the account, no data role beyond its
/// containers); the data account keeps Loki's and Airflow's containers,
/// versioned. The pipelines' Spark and Zeppelin read the
/// tables with Azure's FileIO; Trino, whose Iceberg connector takes vended
/// credentials for S3 only, reads its warehouse as its own managed identity.
/// The catalog calls no token service (AKS has none), so its namespace's
/// egress opens none. Without Trino's role on its container, or without
/// the label that gives the catalog's pods their token, the check denies.
#[test]
fn the_iceberg_warehouses_move_to_azure_storage_with_lakekeeper_signing_sas_tokens() {
    let files = crate::support::render_platform_aks();
    let buckets = text(&files, "terraform/prod/buckets.tf");
    for name in ["raw", "staging", "analytics", "ml"] {
        assert!(
            buckets.contains(&format!(
                "name                  = \"acme-prod-iceberg-{name}\""
            )),
            "{name}: {buckets}"
        );
    }
    // Each container in its account: the tables' in the lake account,
    // the others in the data account.
    let resource = |head: &str| crate::support::resource(buckets, head);
    for (key, account) in [
        ("iceberg_raw", "lake"),
        ("iceberg_ml", "lake"),
        ("loki_chunks", "data"),
        ("airflow_logs", "data"),
    ] {
        assert!(
            resource(&format!("\"azurerm_storage_container\" \"{key}\"")).contains(&format!(
                "storage_account_id    = azurerm_storage_account.{account}.id"
            )),
            "{key}"
        );
    }
    let lake = resource("\"azurerm_storage_account\" \"lake\"");
    for want in [
        "name                     = \"acmeprodlake\"",
        "is_hns_enabled           = true",
        "shared_access_key_enabled         = false",
        "public_network_access_enabled = false",
        "delete_retention_policy {",
    ] {
        assert!(lake.contains(want), "{want}: {lake}");
    }
    assert!(!lake.contains("versioning_enabled"), "{lake}");
    let data = resource("\"azurerm_storage_account\" \"data\"");
    assert!(data.contains("versioning_enabled = true") && !data.contains("is_hns_enabled"));
    for service in ["blob", "dfs"] {
        let endpoint = resource(&format!("\"azurerm_private_endpoint\" \"lake_{service}\""));
        assert!(
            endpoint.contains(&format!("subresource_names              = [\"{service}\"]"))
                && endpoint.contains("azurerm_storage_account.lake.id"),
            "{endpoint}"
        );
    }
    assert!(text(&files, "terraform/prod/network.tf")
        .contains("\"dfs\"       = \"privatelink.dfs.core.windows.net\""));
    assert!(text(&files, "terraform/prod/logs.tf").contains(
        "target_resource_id         = \"${azurerm_storage_account.lake.id}/blobServices/default\""
    ));
    let identity = text(&files, "terraform/prod/identity.tf");
    for want in [
        "subject                   = \"system:serviceaccount:data-platform-storage:lakekeeper\"",
        "resource \"azurerm_role_assignment\" \"lakekeeper_delegation\" {\n  scope                = azurerm_storage_account.lake.id\n  role_definition_name = \"Storage Blob Delegator\"",
        "subject                   = \"system:serviceaccount:data-platform-processing:trino\"",
        "resource \"azurerm_role_assignment\" \"trino_writes_iceberg_analytics\"",
    ] {
        assert!(identity.contains(want), "{want}: {identity}");
    }
    assert!(!identity.contains("trino_writes_iceberg_raw"), "{identity}");
    assert!(!identity.contains("trino_delegation"), "{identity}");

    let lakekeeper = text(&files, "components/lakekeeper/values-prod.yaml");
    for want in [
        "LAKEKEEPER__ENABLE_AZURE_SYSTEM_CREDENTIALS",
        "podLabels:\n    azure.workload.identity/use: \"true\"",
        &format!("azure.workload.identity/client-id: \"{LAKEKEEPER_ID}\""),
    ] {
        assert!(lakekeeper.contains(want), "{want}: {lakekeeper}");
    }
    let trino = text(&files, "components/trino/values-prod.yaml");
    for want in [
        "iceberg.rest-catalog.vended-credentials-enabled=false",
        "fs.native-azure.enabled=true",
        "azure.auth-type=DEFAULT",
        &format!("azure.workload.identity/client-id: \"{TRINO_ID}\""),
        "labels: *workload-identity",
    ] {
        assert!(trino.contains(want), "{want}: {trino}");
    }
    assert!(!trino.contains("s3.endpoint"), "{trino}");
    let secrets = text(
        &files,
        "components/lakekeeper/manifests/prod/externalsecrets.yaml",
    );
    assert!(
        !secrets.contains("lakekeeper-s3") && !secrets.contains("lakekeeper-aws"),
        "{secrets}"
    );
    // No token service: the catalog's namespace opens no egress for one.
    let egress = text(
        &files,
        "platform/overlays/prod/namespaces/storage/egress.yaml",
    );
    assert!(!egress.contains("token-service"), "{egress}");

    // The bootstrap Job, run: each warehouse a container of the data
    // account, with the catalog's system identity and SAS on.
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, seen, env) = crate::support::run_catalog_job(&files, "prod", dir.path(), "409");
    crate::support::assert_success(&out);
    assert_eq!(
        env.get("ADLS_ACCOUNT").map(String::as_str),
        Some("acmeprodlake")
    );
    let creates = crate::support::catalog_calls(&seen, "acme-prod-iceberg-ml");
    assert_eq!(creates.len(), 4, "{seen}");
    for b in &creates {
        let name = b["warehouse-name"].as_str().expect("name");
        let profile = &b["storage-profile"];
        assert_eq!(profile["type"], "adls", "{b}");
        assert_eq!(profile["account-name"], "acmeprodlake", "{b}");
        assert_eq!(profile["filesystem"], format!("acme-prod-{name}"), "{b}");
        assert_eq!(profile["sas-enabled"], true, "{b}");
        assert_eq!(b["storage-credential"]["type"], "az", "{b}");
        assert_eq!(
            b["storage-credential"]["credential-type"], "azure-system-identity",
            "{b}"
        );
    }
    let ingest = text(&files, "airflow/dags/data_platform/spark/ingest-prod.yaml");
    for want in [
        "iceberg-azure-bundle-1.9.2.jar",
        "name: ICEBERG_IO_IMPL\n        value: org.apache.iceberg.azure.adlsv2.ADLSFileIO",
    ] {
        assert!(ingest.contains(want), "{want}: {ingest}");
    }

    let (code, findings) = check_json(&files);
    assert_eq!((code, findings.len()), (0, 0), "{findings:#?}");
    let unroled = crate::support::without_resource(
        &files,
        "terraform/prod/identity.tf",
        "\"azurerm_role_assignment\" \"trino_writes_iceberg_analytics\"",
    );
    crate::support::assert_denies(
        &unroled,
        "SOC-SYS-028",
        &["trino", "acme-prod-iceberg-analytics"],
    );
    let unlabelled = crate::support::with_replaced(
        &files,
        "components/lakekeeper/values-prod.yaml",
        "  podLabels:\n    azure.workload.identity/use: \"true\"\n",
        "",
    );
    crate::support::assert_denies(&unlabelled, "SOC-SYS-031", &["lakekeeper"]);
    // Its clients call the lake account's Data Lake endpoint: without its
    // private endpoint, the account (no public access) answers them no one.
    let no_dfs = crate::support::without_resource(
        &files,
        "terraform/prod/buckets.tf",
        "\"azurerm_private_endpoint\" \"lake_dfs\"",
    );
    crate::support::assert_denies(
        &no_dfs,
        "SOC-SYS-024",
        &[
            "trino",
            "acmeprodlake.dfs.core.windows.net",
            "no private endpoint serves dfs",
        ],
    );
    // The catalog's bootstrap names the account of its warehouses: the
    // data account, where no such container is, is denied.
    let misplaced = crate::support::with_replaced(
        &files,
        "components/lakekeeper/manifests/prod/bootstrap-job.yaml",
        "value: acmeprodlake",
        "value: acmeproddata",
    );
    crate::support::assert_denies(
        &misplaced,
        "SOC-SYS-032",
        &["lakekeeper", "acme-prod-iceberg-raw", "acmeprodlake"],
    );
}

/// The data account refuses shared keys (`shared_access_key_enabled =
/// false`): Loki given the account's key instead of its federated token,
/// or an Airflow worker given a connection string holding one, is refused
/// by Azure Storage on every call. A key beside the federated token is
/// not used (Loki asks for the token first).
#[test]
fn a_shared_key_for_an_account_that_refuses_them_is_denied_where_it_is_set() {
    let files = crate::support::render_platform_aks();
    let loki = "components/loki/values-prod.yaml";
    let federated = "      useFederatedToken: true\n";
    let keyed = crate::support::with_replaced(
        &files,
        loki,
        federated,
        "      accountKey: ${LOKI_AZURE_KEY}\n",
    );
    crate::support::assert_denied_at(
        &keyed,
        "SOC-SYS-025",
        &[
            "Application \"loki-prod\"",
            "of storage account acmeproddata, which refuses shared keys (shared_access_key_enabled = false, terraform/prod/buckets.tf:",
            "but it sets accountKey (${LOKI_AZURE_KEY})",
        ],
        loki,
        crate::support::line_of(&keyed, loki, |l| l.contains("accountKey"), 0),
    );
    // Beside the federated token, the key is never used.
    let (code, findings) = check_json(&crate::support::with_replaced(
        &files,
        loki,
        federated,
        &format!("{federated}      accountKey: ${{LOKI_AZURE_KEY}}\n"),
    ));
    assert_eq!(code, 0, "{findings:#?}");

    // A container's variable: a connection string signed by the key,
    // written inline (and not repeated in the report).
    let airflow = "components/airflow/values-prod.yaml";
    let env = "\nenv:\n";
    let connection = crate::support::with_replaced(
        &files,
        airflow,
        env,
        &format!("{env}  - name: AZURE_STORAGE_CONNECTION_STRING\n    value: DefaultEndpointsProtocol=https;AccountName=acmeproddata;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net\n"),
    );
    crate::support::assert_denies(
        &connection,
        "SOC-SYS-025",
        &[
            "Application \"airflow-prod\"",
            "but it sets AZURE_STORAGE_CONNECTION_STRING (a key written inline)",
        ],
    );
    let (_, findings) = check_json(&connection);
    assert!(
        !findings.iter().any(|f| f["message"]
            .as_str()
            .unwrap_or_default()
            .contains("c2VjcmV0")),
        "{findings:#?}"
    );
}
