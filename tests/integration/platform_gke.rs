//! The data platform on Google Kubernetes Engine: prod's cluster, Cloud SQL
//! and Cloud Storage from its own Terraform; Loki's buckets and Airflow's
//! logs in Cloud Storage with their Kubernetes service accounts' own grants
//! (no key); Velero writing the backups' bucket as the Google service
//! account its account impersonates; secret-store entries named as Secret
//! Manager allows; and the whole judged by socle check, kustomize,
//! python-hcl2 and checkov.

use crate::support::{check_json, finds, materialise, socle_in, text, tool};

/// The example with prod on GKE, in project `acme-data-prod`.
pub fn spec() -> String {
    crate::cloud::eks_spec_with(
        "  - name: prod\n    target: gke\n    cloud: {project: acme-data-prod, region: europe-west9, vpc_cidr: 10.30.0.0/16}\n",
    )
}

#[test]
fn prod_on_gke_gets_its_terraform_and_moves_the_identified_buckets_to_cloud_storage() {
    let files = crate::support::render_platform_gke();
    for file in [
        "README.md",
        "database.tf",
        "identity.tf",
        "buckets.tf",
        "secret-store.yaml",
    ] {
        assert!(
            files.contains_key(&format!("terraform/prod/{file}")),
            "{file}"
        );
    }
    assert!(
        !files.contains_key("terraform/prod/cluster.tf") || {
            let cluster = text(&files, "terraform/prod/cluster.tf");
            !cluster.contains("aws_eks_cluster")
        }
    );
    // Cloud SQL in place of CloudNativePG; OpenEBS's place taken by GKE's
    // disks, kept when their claim goes.
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
        "name: pd-balanced-retain",
        "provisioner: pd.csi.storage.gke.io",
        "reclaimPolicy: Retain",
    ] {
        assert!(classes.contains(want), "{want} in {classes}");
    }

    // Loki and Airflow's logs in Cloud Storage, with Google's default
    // credentials.
    let loki = text(&files, "components/loki/values-prod.yaml");
    for want in [
        "type: gcs",
        "chunks: acme-prod-loki-chunks",
        "object_store: gcs",
        "delete_request_store: gcs",
    ] {
        assert!(loki.contains(want), "{want} in {loki}");
    }
    let airflow = text(&files, "components/airflow/values-prod.yaml");
    assert!(
        airflow.contains("remote_base_log_folder: \"gs://acme-prod-airflow-logs\""),
        "{airflow}"
    );
    let connection = text(
        &files,
        "components/airflow/manifests/prod/externalsecrets.yaml",
    );
    assert!(
        connection.contains("{\"conn_type\": \"google_cloud_platform\", \"extra\": {\"project\": \"acme-data-prod\"}}"),
        "{connection}"
    );
    // Staging keeps MinIO.
    let staging = text(&files, "components/loki/values-staging.yaml");
    assert!(!staging.contains("gcs"), "{staging}");

    // Velero: the GCP plugin, the account it impersonates, no Secret.
    let velero = text(&files, "components/velero/values-prod.yaml");
    for want in [
        "image: velero/velero-plugin-for-gcp:",
        "iam.gke.io/gcp-service-account: acme-prod-velero@acme-data-prod.iam.gserviceaccount.com",
        "provider: velero.io/gcp",
        "serviceAccount: acme-prod-velero@acme-data-prod.iam.gserviceaccount.com",
        "useSecret: false",
    ] {
        assert!(velero.contains(want), "{want} in {velero}");
    }
    assert!(!velero.contains("velero-plugin-for-aws"), "{velero}");

    // Secret Manager allows no `/`: prod's entries use `_`.
    let keycloak = text(
        &files,
        "components/keycloak/manifests/prod/externalsecrets.yaml",
    );
    assert!(keycloak.contains("key: acme_prod_keycloak_"), "{keycloak}");
    assert!(!keycloak.contains("acme/prod/"), "{keycloak}");
    let store = text(&files, "terraform/prod/secret-store.yaml");
    assert!(store.contains("gcpsm:"), "{store}");

    // socle check: no finding, and it says what it does not judge.
    let dir = materialise(&files);
    let (code, out, err) = socle_in(dir.path(), &["check", "."]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("prod: Google Kubernetes Engine cluster (google_container_cluster)"),
        "{out}"
    );
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
}

/// Cloud Storage admits Loki and Airflow by their own service accounts'
/// grants: without them, or with buckets the Terraform does not create,
/// the check denies.
#[test]
fn socle_check_judges_the_platforms_grants_on_gke() {
    let files = crate::support::render_platform_gke();
    let identity = text(&files, "terraform/prod/identity.tf");
    let loki = "/sa/loki\"";
    assert!(identity.contains(loki), "{identity}");
    let changed =
        crate::support::with_replaced(&files, "terraform/prod/identity.tf", loki, "/sa/other\"");
    let (code, findings) = check_json(&changed);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-028",
            &["loki-prod", "acme-prod-loki-chunks"]
        ),
        "{findings:#?}"
    );
    let buckets = text(&files, "terraform/prod/buckets.tf");
    assert!(buckets.contains("acme-prod-airflow-logs"), "{buckets}");
    let renamed = crate::support::with_replaced(
        &files,
        "terraform/prod/buckets.tf",
        "acme-prod-airflow-logs",
        "acme-prod-other-logs",
    );
    let (code, findings) = check_json(&renamed);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-012",
            &["airflow-prod", "acme-prod-airflow-logs"]
        ),
        "{findings:#?}"
    );
}

/// Velero acts as the Google service account its annotation names only
/// where IAM lets its Kubernetes account impersonate it: without that
/// grant, the backups' bucket refuses it.
#[test]
fn velero_writes_the_backups_as_the_account_it_may_impersonate() {
    let files = crate::support::render_platform_gke();
    let identity = text(&files, "terraform/prod/identity.tf");
    let binding = "[velero/velero-server]\"";
    assert!(identity.contains(binding), "{identity}");
    let changed = crate::support::with_replaced(
        &files,
        "terraform/prod/identity.tf",
        binding,
        "[velero/other]\"",
    );
    let (code, findings) = check_json(&changed);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-028",
            &["velero-prod", "acme-prod-backups", "velero/velero-server"]
        ),
        "{findings:#?}"
    );
}

/// Google takes 30 characters for a service account's ID: a long cluster
/// name is cut (with a digest), the same in the Terraform and in the
/// annotation, and socle check still follows the impersonation.
#[test]
fn a_long_cluster_name_keeps_velero_within_googles_limit() {
    let long = spec().replacen("slug: acme ", "slug: acme-corporation-europe ", 1);
    assert_ne!(long, spec(), "the example's slug line changed");
    let files = crate::support::render_text(&long);
    let identity = text(&files, "terraform/prod/identity.tf");
    let id = identity
        .lines()
        .find_map(|l| l.trim().strip_prefix("account_id   = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("velero's account_id");
    assert!(id.len() <= 30, "{id}");
    assert!(id.starts_with("acme-corporation-europe"), "{id}");
    let velero = text(&files, "components/velero/values-prod.yaml");
    assert!(
        velero.contains(&format!(
            "iam.gke.io/gcp-service-account: {id}@acme-data-prod.iam.gserviceaccount.com"
        )),
        "{velero}"
    );
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
}

/// kustomize builds prod's cluster objects: the GKE class, no OpenEBS ones.
#[test]
fn kustomize_builds_the_gke_storage_class() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let files = crate::support::render_platform_gke();
    let dir = materialise(&files);
    let built =
        crate::support::kustomize_build(&kubectl, dir.path(), "platform/overlays/prod/cluster");
    let classes: Vec<&str> = built
        .iter()
        .filter(|d| d["kind"] == "StorageClass")
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(classes, ["pd-balanced-retain"]);
}

/// Every `.tf` file parses with python-hcl2 and checkov's Terraform
/// framework fails none of its checks (each skip is in the README).
#[test]
fn the_platforms_gke_terraform_parses_and_passes_checkov() {
    let files = crate::support::render_platform_gke();
    if let Some(summary) = crate::support::assert_terraform_passes_hcl2_and_checkov(&files, "prod")
    {
        assert!(summary["passed"].as_u64().unwrap_or(0) > 50, "{summary}");
    }
}

/// Zeppelin's notes are in Cloud Storage: the server's Kubernetes service
/// account has its own grant on the bucket, the notebook storage is
/// Zeppelin's Cloud Storage one, with Google's default credentials and no
/// key, and the example notes are copied in by rclone signing in the same
/// way. Removing the grant is a denial.
#[test]
fn zeppelin_keeps_its_notes_in_cloud_storage_with_its_own_grant() {
    let files = crate::support::render_platform_gke();
    assert!(text(&files, "terraform/prod/buckets.tf").contains("acme-prod-notebooks"));
    // MinIO holds no bucket of prod's, so it does not run there at all.
    assert!(!files.contains_key("components/minio/values-prod.yaml"));
    let identity = text(&files, "terraform/prod/identity.tf");
    assert!(
        identity.contains("/ns/data-platform-datalab/sa/zeppelin-server\""),
        "{identity}"
    );
    assert!(!files.contains_key("components/zeppelin/overlays/prod/externalsecret.yaml"));
    let readme = text(&files, "notebooks/README.md");
    assert!(
        readme.contains("In prod the bucket is the cloud's `acme-prod-notebooks`"),
        "{readme}"
    );
    if let Some(kubectl) = tool("kubectl") {
        let dir = materialise(&files);
        let built = crate::support::kustomize_build(
            &kubectl,
            dir.path(),
            "components/zeppelin/overlays/prod",
        );
        let storage = crate::support::generated(&built, "ConfigMap", "zeppelin-notebook-storage");
        assert_eq!(
            storage["data"]["ZEPPELIN_NOTEBOOK_STORAGE"],
            "org.apache.zeppelin.notebook.repo.GCSNotebookRepo"
        );
        assert_eq!(
            storage["data"]["ZEPPELIN_NOTEBOOK_GCS_STORAGE_DIR"],
            "gs://acme-prod-notebooks/zeppelin/notebook"
        );
        let pod = &built
            .iter()
            .find(|d| d["kind"] == "StatefulSet")
            .expect("StatefulSet")["spec"]["template"]["spec"];
        assert!(!pod.to_string().contains("zeppelin-s3"), "{pod}");
        let seed = &pod["initContainers"][1];
        assert!(
            seed["env"].to_string().contains("google cloud storage"),
            "{seed}"
        );
    }
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
    let grant = identity
        .split("\nresource ")
        .find(|r| {
            r.starts_with("\"google_storage_bucket_iam_member\"")
                && r.contains("sa/zeppelin-server")
        })
        .expect("zeppelin's grant");
    let ungranted = crate::support::with_replaced(
        &files,
        "terraform/prod/identity.tf",
        grant,
        "\"terraform_data\" \"nothing\" {\n}\n",
    );
    let (code, findings) = check_json(&ungranted);
    assert_eq!(code, 1, "{findings:#?}");
    assert!(
        findings.iter().any(|f| f["message"]
            .as_str()
            .is_some_and(|m| m.contains("zeppelin") && m.contains("acme-prod-notebooks"))),
        "{findings:#?}"
    );
}

/// The data domains' landing buckets in Cloud Storage: NiFi's processors
/// and the Spark loads take their service accounts' identities from GKE's
/// metadata server, the grants name those accounts, and the loaded files
/// expire as the store's job expired them.
#[test]
fn the_landing_buckets_move_to_cloud_storage_with_nifi_and_the_spark_loads() {
    let files = crate::support::render_platform_gke();
    let buckets = text(&files, "terraform/prod/buckets.tf");
    for key in ["domain_sales", "domain_supply_chain"] {
        assert!(
            buckets.contains(&format!("resource \"google_storage_bucket\" \"{key}\"")),
            "{key}"
        );
    }
    assert_eq!(
        buckets.matches("matches_prefix = [\"archive/\"]").count(),
        2,
        "{buckets}"
    );
    let identity = text(&files, "terraform/prod/identity.tf");
    for member in [
        "/ns/data-platform-integration/sa/nifi\"",
        "/ns/data-platform-processing/sa/spark-driver\"",
    ] {
        assert!(identity.contains(member), "{member}");
    }
    // NiFi: no key, and no Secret of keys read.
    let nifi = text(&files, "components/nifi/values-prod.yaml");
    assert!(
        nifi.contains("additionalSharedEnvs: []") && !nifi.contains("AWS_"),
        "{nifi}"
    );
    assert!(!text(
        &files,
        "components/nifi/manifests/prod/externalsecrets.yaml"
    )
    .contains("nifi-s3"));
    // The Spark loads: the connector, the gs scheme, the drivers' account
    // for the executors, no keys; staging keeps the store.
    let load = |env: &str| {
        text(
            &files,
            &format!("airflow/dags/data_platform/spark/ingest-{env}.yaml"),
        )
    };
    let prod = load("prod");
    for want in [
        "gcs-connector-hadoop3-2.2.21-shaded.jar",
        "spark.hadoop.fs.gs.impl: com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
        "name: LANDING_SCHEME\n        value: gs",
        "serviceAccount: spark-driver\n    volumeMounts",
    ] {
        assert!(prod.contains(want), "{want}: {prod}");
    }
    assert!(
        !prod.contains("pipelines-s3") && !prod.contains("AWS_ROLE_ARN"),
        "{prod}"
    );
    let staging = load("staging");
    assert!(staging.contains("value: s3a") && staging.contains("name: pipelines-s3"));
    assert!(!staging.contains("gcs-connector"));
    let job = text(&files, "spark/base/jobs/ingest_landing.py");
    assert!(
        job.contains("os.environ.get('LANDING_SCHEME', 's3a')"),
        "{job}"
    );
    let readme = text(&files, "README.md");
    assert!(readme.contains("In prod those buckets are in Cloud Storage and NiFi holds no key"));

    let (code, findings) = crate::support::check_json(&files);
    assert_eq!((code, findings.len()), (0, 0), "{findings:#?}");
}

/// The Iceberg warehouses in Cloud Storage: Lakekeeper acts as a Google
/// service account of the Terraform (Credential Access Boundaries downscope
/// a service account's tokens only), declares its warehouses with that
/// system identity, and vends the pipelines' Spark and Zeppelin tokens
/// their Cloud Storage FileIO reads; Trino, whose Iceberg connector takes
/// vended credentials for S3 only, reads its one warehouse as its own
/// account. With every bucket in the cloud, MinIO does not run in prod.
/// Without the annotation that makes Lakekeeper's pods act as that
/// account, the check denies.
#[test]
fn the_iceberg_warehouses_move_to_cloud_storage_with_lakekeeper_as_a_google_account() {
    let files = crate::support::render_platform_gke();
    let buckets = text(&files, "terraform/prod/buckets.tf");
    for name in ["raw", "staging", "analytics", "ml"] {
        assert!(
            buckets.contains(&format!("\"acme-prod-iceberg-{name}\"")),
            "{name}: {buckets}"
        );
    }
    for gone in ["minio", "minio-operator", "data-protection"] {
        assert!(
            !files.contains_key(&format!("argocd/prod/applications/{gone}.yaml")),
            "{gone}"
        );
    }
    // The backups' README says which store versions which bucket.
    let backups = text(&files, "backup/README.md");
    assert!(
        backups.contains("\n- prod: none.\n")
            && backups.contains("\n- staging: `airflow-logs`, `backups`"),
        "{backups}"
    );
    assert!(files.contains_key("argocd/staging/applications/minio.yaml"));

    // The catalog's Google service account: its Kubernetes account may act
    // as it, and it alone holds the warehouses' grants.
    let identity = text(&files, "terraform/prod/identity.tf");
    for want in [
        "resource \"google_service_account\" \"lakekeeper\" {\n  account_id   = \"acme-prod-lakekeeper\"",
        "member             = \"serviceAccount:${local.workload_pool}[data-platform-storage/lakekeeper]\"",
        "resource \"google_storage_bucket_iam_member\" \"lakekeeper_writes_iceberg_raw\" {\n  bucket = google_storage_bucket.iceberg_raw.name\n  role   = \"roles/storage.objectUser\"\n  member = \"serviceAccount:${google_service_account.lakekeeper.email}\"",
    ] {
        assert!(identity.contains(want), "{want}: {identity}");
    }
    assert!(!identity.contains("sa/lakekeeper\""), "{identity}");
    // Trino: its one warehouse, as its own account.
    let trino_grants: Vec<&str> = identity
        .split("\nresource ")
        .filter(|r| r.contains("/sa/trino\""))
        .collect();
    assert_eq!(trino_grants.len(), 2, "{trino_grants:#?}");
    assert!(trino_grants
        .iter()
        .all(|r| r.contains("google_storage_bucket.iceberg_analytics.name")));
    let trino = text(&files, "components/trino/values-prod.yaml");
    for want in [
        "iceberg.rest-catalog.vended-credentials-enabled=false",
        "fs.native-gcs.enabled=true",
    ] {
        assert!(trino.contains(want), "{want}: {trino}");
    }
    assert!(
        !trino.contains("s3.endpoint") && !trino.contains("fs.native-s3"),
        "{trino}"
    );
    assert!(text(&files, "components/trino/values-staging.yaml")
        .contains("iceberg.rest-catalog.vended-credentials-enabled=true"));
    assert!(text(&files, "components/trino/values.yaml").contains("create: true\n  name: trino"));

    // Lakekeeper: the system identity on, its account annotated, no key.
    let values = text(&files, "components/lakekeeper/values-prod.yaml");
    for want in [
        "LAKEKEEPER__ENABLE_GCP_SYSTEM_CREDENTIALS",
        "iam.gke.io/gcp-service-account: acme-prod-lakekeeper@acme-data-prod.iam.gserviceaccount.com",
    ] {
        assert!(values.contains(want), "{want}: {values}");
    }
    assert!(!values.contains("LAKEKEEPER__ENABLE_AWS"), "{values}");
    let secrets = text(
        &files,
        "components/lakekeeper/manifests/prod/externalsecrets.yaml",
    );
    assert!(
        !secrets.contains("lakekeeper-s3") && !secrets.contains("lakekeeper-aws"),
        "{secrets}"
    );

    // The bootstrap Job, run: each warehouse on its Cloud Storage bucket,
    // with the catalog's system identity and STS on.
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, seen, env) = crate::support::run_catalog_job(&files, "prod", dir.path(), "409");
    crate::support::assert_success(&out);
    assert!(!env.keys().any(|k| k.starts_with("S3_")), "{env:?}");
    let creates = crate::support::catalog_calls(&seen, "acme-prod-iceberg-ml");
    assert_eq!(creates.len(), 4, "{seen}");
    for b in &creates {
        let name = b["warehouse-name"].as_str().expect("name");
        let profile = &b["storage-profile"];
        assert_eq!(profile["type"], "gcs", "{b}");
        assert_eq!(profile["bucket"], format!("acme-prod-{name}"), "{b}");
        assert_eq!(profile["sts-enabled"], true, "{b}");
        let credential = &b["storage-credential"];
        assert_eq!(credential["type"], "gcs", "{b}");
        assert_eq!(credential["credential-type"], "gcp-system-identity", "{b}");
    }

    // The vended clients read the tables' files with Cloud Storage's FileIO.
    let ingest = text(&files, "airflow/dags/data_platform/spark/ingest-prod.yaml");
    for want in [
        "iceberg-gcp-bundle-1.9.2.jar",
        "name: ICEBERG_IO_IMPL\n        value: org.apache.iceberg.gcp.gcs.GCSFileIO",
    ] {
        assert!(ingest.contains(want), "{want}: {ingest}");
    }
    assert!(!ingest.contains("ICEBERG_S3_ENDPOINT"), "{ingest}");
    let job = text(&files, "spark/base/jobs/ingest_landing.py");
    assert!(
        job.contains("os.environ.get(\"ICEBERG_IO_IMPL\", S3_FILE_IO)"),
        "{job}"
    );

    let (code, findings) = check_json(&files);
    assert_eq!((code, findings.len()), (0, 0), "{findings:#?}");
    let unannotated = crate::support::with_replaced(
        &files,
        "components/lakekeeper/values-prod.yaml",
        "    iam.gke.io/gcp-service-account: acme-prod-lakekeeper@acme-data-prod.iam.gserviceaccount.com\n",
        "    {}\n",
    );
    crate::support::assert_denies(
        &unannotated,
        "SOC-SYS-028",
        &["lakekeeper", "acme-prod-iceberg-raw"],
    );
    // Trino's use of its warehouse's bucket is judged too: the check pairs
    // its catalog's warehouse with the bucket the bootstrap declares it on.
    let ungranted = crate::support::without_resource(
        &files,
        "terraform/prod/identity.tf",
        "\"google_storage_bucket_iam_member\" \"trino_trino_writes_iceberg_analytics\"",
    );
    crate::support::assert_denies(
        &ungranted,
        "SOC-SYS-028",
        &["trino", "acme-prod-iceberg-analytics"],
    );
}

/// A repository whose only environment is prod on GKE: what runs for the
/// cluster's store alone is deployed nowhere, so none of it is rendered (no
/// shared values, runbook or environment files), as with what the cloud
/// replaces; the backups' README, which covers Velero too, stays. The
/// repository checks clean.
#[test]
fn a_component_deployed_in_no_environment_is_not_rendered() {
    let spec = spec();
    let start = spec.find("  - name: dev").expect("dev");
    let end = spec.find("  - name: prod").expect("prod");
    let files = crate::support::render_text(&format!("{}{}", &spec[..start], &spec[end..]));
    for gone in ["minio", "minio-operator", "openebs", "cloudnative-pg"] {
        assert!(
            !files
                .keys()
                .any(|p| p.starts_with(&format!("components/{gone}/"))),
            "{gone}"
        );
        assert!(
            !files.contains_key(&format!("runbooks/components/{gone}.md")),
            "{gone}"
        );
    }
    assert!(!files.keys().any(|p| p.starts_with("backup/overlays/")));
    // It lists no bucket of prod among those the store's Job versions.
    let backups = text(&files, "backup/README.md");
    assert!(backups.contains("\n- prod: none.\n"), "{backups}");
    assert!(files.contains_key("runbooks/components/lakekeeper.md"));
    let (code, findings) = check_json(&files);
    assert_eq!((code, findings.len()), (0, 0), "{findings:#?}");
}

/// With the client's own object store (the fullest spec, prod on GKE), no
/// MinIO runs anywhere: the cloud's README does not say one runs for the
/// buckets left in the store, which are the client's.
#[test]
fn an_external_store_is_not_described_as_minio() {
    let full = crate::support::fixture_text("specs/full.yaml");
    let cluster = "    cluster: https://prod.k8s.fullopt.example:6443\n";
    assert!(full.contains(cluster), "full.yaml's prod entry changed");
    let files = crate::support::render_text(&full.replace(
        cluster,
        "    target: gke\n    cloud: {project: fullopt-prod, region: europe-west9, vpc_cidr: 10.40.0.0/16}\n",
    ));
    assert!(!files.contains_key("argocd/prod/applications/minio.yaml"));
    let readme = text(&files, "terraform/prod/README.md");
    assert!(!readme.contains("MinIO"), "{readme}");
}

/// Google's clients read the file GOOGLE_APPLICATION_CREDENTIALS names
/// before GKE's metadata server: a consumer of the Terraform's buckets that
/// sets it, in its chart's values or its containers, is denied where it
/// sets it; emptied, it is no variable.
#[test]
fn a_key_file_shadows_the_workload_identity_of_a_cloud_storage_consumer() {
    let files = crate::support::render_platform_gke();
    let values = "components/airflow/values-prod.yaml";
    let env = "\nenv:\n";
    let set = |value: &str| {
        crate::support::with_replaced(
            &files,
            values,
            env,
            &format!("{env}  - name: GOOGLE_APPLICATION_CREDENTIALS\n    value: {value}\n"),
        )
    };
    crate::support::assert_denied_at(
        &set("/var/secrets/google/key.json"),
        "SOC-SYS-025",
        &[
            "Application \"airflow-prod\"",
            "in Cloud Storage, but it sets GOOGLE_APPLICATION_CREDENTIALS (/var/secrets/google/key.json)",
        ],
        values,
        crate::support::line_of(&files, values, |l| l == "env:", 1),
    );
    let (code, findings) = check_json(&set("\"\""));
    assert_eq!(code, 0, "{findings:#?}");
    // With keys of its own, the Terraform may have issued the file: not
    // judged, and said so.
    let mut issued = set("/var/secrets/google/key.json");
    let identity = "terraform/prod/identity.tf";
    let tf = format!(
        "{}\nresource \"google_service_account_key\" \"airflow\" {{\n  service_account_id = \"airflow\"\n}}\n",
        text(&issued, identity)
    );
    issued.insert(identity.into(), tf.into_bytes());
    let (code, report) = crate::support::check_report(&issued);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        crate::support::not_modelled(&report)
            .iter()
            .any(|g| g.contains("this Terraform issues keys")),
        "{report:#}"
    );

    // A manifest's container, its value from a Secret.
    let keyed = crate::support::with_oauth2_proxy_env(
        &files,
        "            - name: GOOGLE_APPLICATION_CREDENTIALS\n              valueFrom: {secretKeyRef: {name: zeppelin-oauth2-proxy, key: cookie-secret}}\n",
    );
    crate::support::assert_denies(
        &keyed,
        "SOC-SYS-025",
        &[
            "Application \"zeppelin-prod\"",
            "acme-prod-notebooks",
            "GOOGLE_APPLICATION_CREDENTIALS (from key cookie-secret of Secret zeppelin-oauth2-proxy)",
        ],
    );
    // Every key of a ConfigMap that holds it; one without it is no
    // variable.
    let proxy = "components/zeppelin/overlays/prod/oauth2-proxy.yaml";
    let from_config_map = |data: &str| {
        let mut changed = crate::support::with_oauth2_proxy_env(
            &files,
            "            - {name: OTHER, value: x}\n          envFrom:\n            - configMapRef: {name: google-key}\n",
        );
        let with_map = format!(
            "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: google-key\ndata:\n  {data}\n",
            text(&changed, proxy)
        );
        changed.insert(proxy.into(), with_map.into_bytes());
        changed
    };
    crate::support::assert_denies(
        &from_config_map("GOOGLE_APPLICATION_CREDENTIALS: /var/secrets/google/key.json"),
        "SOC-SYS-025",
        &["GOOGLE_APPLICATION_CREDENTIALS (/var/secrets/google/key.json, from ConfigMap google-key)"],
    );
    let (code, findings) = check_json(&from_config_map("LOG_LEVEL: info"));
    assert_eq!(code, 0, "{findings:#?}");
}

/// A storage client's own configuration may name a Google key (Trino's
/// `gcs.json-key-file-path`), and a chart's `envFrom` list may give the
/// pods `GOOGLE_APPLICATION_CREDENTIALS` from a Secret: either shadows the
/// workload identity as the variable in an `env` list does.
#[test]
fn a_storage_clients_key_or_a_charts_env_from_shadows_the_workload_identity() {
    let files = crate::support::render_platform_gke();
    let native = "    fs.native-gcs.enabled=true\n";
    let keyed = crate::support::with_replaced(
        &files,
        "components/trino/values-prod.yaml",
        native,
        &format!("{native}    gcs.json-key-file-path=/etc/trino/gcs/key.json\n"),
    );
    let trino = "components/trino/values-prod.yaml";
    crate::support::assert_denied_at(
        &keyed,
        "SOC-SYS-025",
        &[
            "Application \"trino-prod\"",
            "in Cloud Storage, but it sets gcs.json-key-file-path (/etc/trino/gcs/key.json)",
            "Remove gcs.json-key-file-path from the configuration",
        ],
        trino,
        crate::support::line_of(&files, trino, |l| l.starts_with("  iceberg:"), 0),
    );
    // The same file, told to ask the metadata server: no key.
    let (code, findings) = check_json(&crate::support::with_replaced(
        &files,
        "components/trino/values-prod.yaml",
        native,
        &format!("{native}    gcs.json-key-file-path=\n"),
    ));
    assert_eq!(code, 0, "{findings:#?}");

    // The chart's `envFrom` names the Secret its ExternalSecret fills:
    // given the variable by its template, every Trino pod has it.
    let secrets = "components/trino/manifests/prod/externalsecrets.yaml";
    let template = "      mergePolicy: Merge\n      data:\n";
    let from_secret = crate::support::with_replaced(
        &files,
        secrets,
        template,
        &format!("{template}        GOOGLE_APPLICATION_CREDENTIALS: /var/run/google/key.json\n"),
    );
    let values = "components/trino/values.yaml";
    crate::support::assert_denied_at(
        &from_secret,
        "SOC-SYS-025",
        &[
            "Application \"trino-prod\"",
            "it sets GOOGLE_APPLICATION_CREDENTIALS (from Secret trino-credentials, filled with a literal value of its template by the ExternalSecret at components/trino/manifests/prod/externalsecrets.yaml:",
        ],
        values,
        crate::support::line_of(&files, values, |l| l == "envFrom:", 1),
    );
}
