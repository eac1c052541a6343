//! The managed-cloud target: an environment with `target: eks` is the
//! cluster on Amazon EKS, less what the cloud provides, plus
//! `terraform/<env>/`, proven with python-hcl2, checkov's Terraform
//! framework and socle's own check. `terraform validate` needs the AWS
//! provider from the registry, which these tests do not reach.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::{
    check_json, check_report, materialise, not_modelled, render_text, socle_in, text, tool,
};

const PROD_CLUSTER: &str = "  - name: prod
    cluster: https://prod.k8s.acme.example:6443
    # Prod's backups leave its cluster (required): another site's S3 store,
    # or a cloud bucket; the client creates the bucket.
    backup_target:
      endpoint: https://s3.backup.acme.example
      bucket: acme-prod-backups
    network:                  # this cluster's addresses (egress is opened to them only)
      api_server: [10.30.0.10/32, 10.30.0.11/32, 10.30.0.12/32]   # kubectl get endpoints kubernetes -n default
      nodes: [10.30.0.0/22]
";

const PROD_EKS: &str = "  - name: prod
    target: eks
    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/16}
";

/// The example spec with prod on EKS (`prod` replaced by `with`).
pub fn eks_spec_with(with: &str) -> String {
    assert!(
        socle::spec::EXAMPLE.contains(PROD_CLUSTER),
        "the example's prod entry changed"
    );
    socle::spec::EXAMPLE.replace(PROD_CLUSTER, with)
}

pub fn eks_spec() -> String {
    eks_spec_with(PROD_EKS)
}

const TERRAFORM: [&str; 15] = [
    "README.md",
    "access-logs.tf",
    "backups.tf",
    "buckets.tf",
    "cluster.tf",
    "database.tf",
    "identity.tf",
    "kms.tf",
    "logs.tf",
    "network.tf",
    "outputs.tf",
    "registry.tf",
    "secret-store.yaml",
    "variables.tf",
    "versions.tf",
];

#[test]
fn prod_on_eks_gets_its_terraform_and_leaves_openebs_to_the_cloud() {
    let files = crate::support::render_eks();
    let rendered: Vec<&str> = files
        .keys()
        .filter_map(|p| p.strip_prefix("terraform/prod/"))
        .collect();
    assert_eq!(rendered, TERRAFORM);
    assert!(!files
        .keys()
        .any(|p| p.starts_with("terraform/staging/") || p.starts_with("terraform/dev/")));

    // OpenEBS runs in dev and staging, not in prod, whose volumes are EBS.
    assert!(files.contains_key("argocd/staging/applications/openebs.yaml"));
    assert!(!files.contains_key("argocd/prod/applications/openebs.yaml"));
    assert!(!files
        .keys()
        .any(|p| p.starts_with("components/openebs/manifests/prod")));
    // Nor its namespace, which holds nothing else.
    assert!(!files
        .keys()
        .any(|p| p.starts_with("platform/overlays/prod/namespaces/openebs/")));
    assert!(files.contains_key("platform/overlays/staging/namespaces/openebs/kustomization.yaml"));
    assert!(
        !text(&files, "platform/overlays/prod/kustomization.yaml").contains("namespaces/openebs")
    );
    let prod_values = text(&files, "components/loki/values-prod.yaml");
    assert!(
        prod_values.contains("storageClass: ebs-gp3"),
        "{prod_values}"
    );
    let overlay = text(&files, "platform/overlays/prod/cluster/kustomization.yaml");
    assert!(
        overlay.contains("storageclasses.yaml") && overlay.contains("name: openebs-replicated")
    );
    assert!(!files.contains_key("platform/overlays/staging/cluster/storageclasses.yaml"));

    // Egress to the API server and the nodes is the cluster's network.
    let egress: Vec<&String> = files
        .keys()
        .filter(|p| {
            p.starts_with("platform/overlays/prod/namespaces/") && p.ends_with("egress.yaml")
        })
        .collect();
    assert!(egress
        .iter()
        .any(|p| text(&files, p).contains("10.30.0.0/16")));
    // The secret manager answers inside the network (an interface
    // endpoint), not at the on-premise store's address.
    let core = text(&files, "platform/overlays/prod/namespaces/core/egress.yaml");
    let store = core
        .split("---")
        .find(|d| d.contains("name: allow-external-secret-store"))
        .expect("the secret store's egress");
    assert!(
        store.contains("10.30.0.0/16") && !store.contains("203.0.113.20"),
        "{store}"
    );
    let network = text(&files, "terraform/prod/network.tf");
    assert!(network.contains("\"secretsmanager\""));
    // AWS refuses S3's interface endpoint with private DNS for outside
    // resolvers only unless an S3 gateway endpoint exists; with none, the
    // endpoint answers the VPC's own lookups.
    assert!(
        !network.contains("vpc_endpoint_type = \"Gateway\"")
            && network
                .contains("private_dns_only_for_inbound_resolver_endpoint = dns_options.value")
            && network.contains("for_each = each.value == \"s3\" ? [false] : []"),
        "{network}"
    );

    // Backups go to the bucket its Terraform makes, off the cluster, with
    // Velero's pod identity: no keys, no credentials Secret.
    let velero = text(&files, "components/velero/values-prod.yaml");
    assert!(velero.contains("acme-prod-backups"), "{velero}");
    assert!(
        velero.contains("https://s3.eu-west-3.amazonaws.com"),
        "{velero}"
    );
    assert!(
        velero.contains("useSecret: false") && velero.contains("name: velero-server"),
        "{velero}"
    );
    assert!(!files.contains_key("components/velero/manifests/prod/externalsecrets.yaml"));
    assert!(files.contains_key("components/velero/manifests/staging/externalsecrets.yaml"));
    let identity = text(&files, "terraform/prod/identity.tf");
    assert!(
        identity.contains(
            "\"velero\" = { namespace = \"velero\", service_account = \"velero-server\" }"
        ) && identity.contains("policy_arn = aws_iam_policy.backups_writer.arn"),
        "{identity}"
    );

    // The repository's README sends the bootstrap to the Terraform first.
    let readme = text(&files, "README.md");
    assert!(
        readme.contains("### On a managed cloud") && readme.contains("`terraform/prod/` creates")
    );
    assert!(text(&files, ".gitignore").contains("*.tfstate"));
    // Tables name prod's cluster by what creates it: it has no URL yet.
    assert!(
        readme.contains("| prod | `acme-prod (terraform/prod/)` |"),
        "{readme}"
    );
    assert!(!text(&files, "runbooks/components/keycloak.md").contains("| `` |"));

    // CloudWatch Logs uses the key as its regional service principal: the
    // key policy names that one, or encrypted log groups cannot be created.
    let kms = text(&files, "terraform/prod/kms.tf");
    assert!(
        kms.contains(
            "identifiers = [\"logs.${local.region}.${data.aws_partition.current.dns_suffix}\"]"
        ),
        "{kms}"
    );

    // The cluster enforces the NetworkPolicies above: EKS's VPC CNI ignores
    // them unless its add-on enables its policy agent.
    let cluster = text(&files, "terraform/prod/cluster.tf");
    assert!(
        cluster.contains(
            "configuration_values = each.value == \"vpc-cni\" ? jsonencode({ enableNetworkPolicy = \"true\" }) : null"
        ),
        "{cluster}"
    );

    insta::assert_snapshot!(
        "eks_prod_cluster_tf",
        text(&files, "terraform/prod/cluster.tf")
    );
    insta::assert_snapshot!("eks_prod_readme", text(&files, "terraform/prod/README.md"));
}

#[test]
fn socle_check_finds_the_eks_repository_whole() {
    let files = crate::support::render_eks();
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
    assert!(findings.is_empty(), "{findings:#?}");

    // Velero reads no credentials Secret in prod because its values drop
    // the shared values' one: without that, the Secret nothing creates is
    // a missing prerequisite.
    let path = "components/velero/values-prod.yaml";
    let values = text(&files, path);
    assert!(values.contains("  existingSecret: null\n"), "{values}");
    let mut kept = files.clone();
    kept.insert(
        path.into(),
        values.replace("  existingSecret: null\n", "").into_bytes(),
    );
    // A warning: a chart or operator may create it.
    let (_, findings) = check_json(&kept);
    assert!(
        crate::support::finds(&findings, "SOC-SYS-009", &["velero/velero-s3"]),
        "{findings:#?}"
    );
}

/// Every `.tf` file parses with python-hcl2, and checkov's Terraform
/// framework fails none of its checks; each check skipped inline is
/// listed, with its reason, in the environment's README.
#[test]
fn terraform_parses_and_checkov_fails_nothing() {
    // Without the account, with an off-cluster backup target, and with the
    // account (every bucket in S3, the landing buckets' lifecycle too).
    for spec in [
        eks_spec(),
        eks_spec_with(&format!("{PROD_EKS}    backup_target: {{endpoint: https://s3.backup.acme.example, bucket: acme-prod-backups}}\n")),
        eks_account_spec(),
    ] {
        let Some(summary) =
            crate::support::assert_terraform_passes_hcl2_and_checkov(&render_text(&spec), "prod")
        else {
            return;
        };
        assert!(summary["passed"].as_u64().unwrap_or(0) > 100, "{summary}");
    }
}

/// On EKS the Iceberg buckets move to S3 with their catalog: Lakekeeper
/// signs in with its pod identity and vends Trino, the pipelines' Spark and
/// Zeppelin credentials of a second role, which trusts Lakekeeper's role
/// only with an external ID the Terraform writes to the secret store. Its
/// clients take no role and point their S3 client at S3; their namespaces
/// reach S3's endpoint, the catalog's reaches STS's; staging keeps MinIO.
/// `socle check` follows the catalog's role to the one it assumes, and
/// the clients' calls to S3.
#[test]
fn the_iceberg_buckets_move_to_s3_with_the_catalog_that_vends_them() {
    let files = crate::support::render_eks();
    let identity = text(&files, "terraform/prod/identity.tf");
    for expected in [
        "namespace       = \"data-platform-storage\"\n  service_account = \"lakekeeper\"\n  role_arn        = aws_iam_role.lakekeeper.arn",
        "resource \"aws_iam_role\" \"lakekeeper_vended\"",
        "identifiers = [aws_iam_role.lakekeeper.arn]",
        "variable = \"sts:ExternalId\"\n      values   = [terraform_data.lakekeeper_external_id.output]",
        "role   = aws_iam_role.lakekeeper_vended.id\n  policy = data.aws_iam_policy_document.lakekeeper_buckets.json",
        "resources = [aws_iam_role.lakekeeper_vended.arn]",
        "name                    = \"acme/prod/lakekeeper/aws\"",
    ] {
        assert!(identity.contains(expected), "{expected}: {identity}");
    }
    // Its clients hold no role of their own.
    for client in ["trino", "pipelines", "zeppelin"] {
        assert!(
            !identity.contains(&format!("resource \"aws_iam_role\" \"{client}\"")),
            "{client}: {identity}"
        );
    }

    // The catalog: its system identity on, the vending role's entry read,
    // no key of MinIO's; staging keeps its keys.
    let values = |env: &str| text(&files, &format!("components/lakekeeper/values-{env}.yaml"));
    assert!(values("prod").contains("LAKEKEEPER__ENABLE_AWS_SYSTEM_CREDENTIALS"));
    assert!(!values("staging").contains("LAKEKEEPER__"));
    let secrets = |env: &str| {
        text(
            &files,
            &format!("components/lakekeeper/manifests/{env}/externalsecrets.yaml"),
        )
    };
    assert!(secrets("prod").contains("name: lakekeeper-aws"));
    assert!(!secrets("prod").contains("lakekeeper-s3"));
    assert!(secrets("staging").contains("name: lakekeeper-s3"));
    assert!(!text(&files, "components/minio/manifests/prod/policies.yaml").contains("iceberg"));

    // The bootstrap Job declares the warehouses on the S3 buckets, vending
    // from the role in the store with its external ID.
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, seen, env) = crate::support::run_catalog_job(&files, "prod", dir.path(), "409");
    crate::support::assert_success(&out);
    assert!(!env.contains_key("S3_ENDPOINT"), "{env:?}");
    let creates = crate::support::catalog_calls(&seen, "acme-prod-iceberg-ml");
    assert_eq!(creates.len(), 4, "{seen}");
    for b in &creates {
        let name = b["warehouse-name"].as_str().expect("name");
        assert!(name.starts_with("iceberg-"), "{b}");
        let profile = &b["storage-profile"];
        assert_eq!(profile["bucket"], format!("acme-prod-{name}"), "{b}");
        assert_eq!(profile["flavor"], "aws");
        assert_eq!(profile["region"], "eu-west-3");
        assert_eq!(profile["sts-enabled"], true);
        assert_eq!(profile["sts-role-arn"], "from-ROLE_ARN");
        // An endpoint would carry the STS calls too.
        assert!(profile.get("endpoint").is_none(), "{b}");
        let credential = &b["storage-credential"];
        assert_eq!(credential["credential-type"], "aws-system-identity");
        assert_eq!(credential["external-id"], "from-EXTERNAL_ID");
    }

    // The clients reach the tables' files in S3.
    let trino = |env: &str| text(&files, &format!("components/trino/values-{env}.yaml"));
    assert!(trino("prod")
        .contains("s3.endpoint=https://s3.eu-west-3.amazonaws.com\n    s3.region=eu-west-3\n"));
    assert!(!trino("prod").contains("s3.path-style-access"));
    assert!(trino("staging").contains("s3.path-style-access=true"));
    let ingest = text(&files, "airflow/dags/data_platform/spark/ingest-prod.yaml");
    assert!(
        ingest.contains(
            "name: ICEBERG_S3_ENDPOINT\n        value: https://s3.eu-west-3.amazonaws.com"
        ),
        "{ingest}"
    );
    let interpreter = text(
        &files,
        "components/zeppelin/overlays/staging/interpreter.json",
    );
    assert!(interpreter.contains("\"spark.sql.catalog.iceberg.s3.path-style-access\": \"true\""));
    // Their namespaces reach S3's endpoint, and the catalog's STS's.
    let cloud_buckets = |ns: &str| {
        text(
            &files,
            &format!("platform/overlays/prod/namespaces/{ns}/egress.yaml"),
        )
    };
    assert!(cloud_buckets("processing").contains("name: allow-external-cloud-buckets"));
    assert!(cloud_buckets("storage").contains("name: allow-external-token-service"));
    assert!(!cloud_buckets("processing").contains("name: allow-external-token-service"));
    let network = text(&files, "terraform/prod/network.tf");
    assert!(network.contains("\"sts\""), "{network}");

    // The whole system is right as `socle check` sees it, which follows
    // the catalog's role to the one it assumes.
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
    let edit =
        |path: &str, from: &str, to: &str| crate::support::with_replaced(&files, path, from, to);
    let messages = |findings: &[serde_json::Value], rule: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["rule"] == rule)
            .map(|f| f["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    // A vending role trusting another role refuses the catalog.
    let (code, findings) = check_json(&edit(
        "terraform/prod/identity.tf",
        "identifiers = [aws_iam_role.lakekeeper.arn]",
        "identifiers = [aws_iam_role.loki.arn]",
    ));
    assert_eq!(code, 1, "{findings:#?}");
    let refused = messages(&findings, "SOC-SYS-027");
    assert_eq!(refused.len(), 1, "{findings:#?}");
    assert!(
        refused[0].contains("role acme-prod-lakekeeper (data-platform-storage/lakekeeper")
            && refused[0].contains("let it assume role acme-prod-lakekeeper-vended"),
        "{refused:#?}"
    );
    // A vending role granted Loki's buckets in place of the catalog's:
    // what it vends is refused on every Iceberg bucket (a warning: a role
    // assumed for something else need not cover the workload's buckets).
    let (code, findings) = check_json(&edit(
        "terraform/prod/identity.tf",
        "role   = aws_iam_role.lakekeeper_vended.id\n  policy = data.aws_iam_policy_document.lakekeeper_buckets.json",
        "role   = aws_iam_role.lakekeeper_vended.id\n  policy = data.aws_iam_policy_document.loki_buckets.json",
    ));
    assert_eq!(code, 0, "{findings:#?}");
    let short = messages(&findings, "SOC-SYS-034");
    assert_eq!(short.len(), 4, "{findings:#?}");
    assert!(
        short.iter().all(
            |m| m.contains("may assume role acme-prod-lakekeeper-vended")
                && m.contains("which grants nothing on it")
        ),
        "{short:#?}"
    );
    // A vending role with an AWS managed policy: what it grants is not
    // known before a plan, and the report says so instead of passing it.
    let mut managed = files.clone();
    managed.insert(
        "terraform/prod/vended-managed.tf".into(),
        b"resource \"aws_iam_role_policy_attachment\" \"vended_s3\" {\n  role       = aws_iam_role.lakekeeper_vended.name\n  policy_arn = \"arn:aws:iam::aws:policy/AmazonS3FullAccess\"\n}\n".to_vec(),
    );
    let (_, report) = crate::support::check_report(&managed);
    assert!(
        crate::support::not_modelled(&report).iter().any(|g| g.contains(
            "role acme-prod-lakekeeper-vended: a policy is not known before a plan: what it grants on the buckets of role acme-prod-lakekeeper's pods is not judged"
        )),
        "{report:#}"
    );
    // The engine's namespace kept off S3's endpoint (its egress narrowed
    // to a range outside the endpoint's subnets): it calls S3 with the
    // catalog's credentials, and every read of the tables' files fails.
    let (code, findings) = check_json(&edit(
        "platform/overlays/prod/namespaces/processing/egress.yaml",
        "cidr: \"10.30.0.0/16\"",
        "cidr: \"10.30.200.0/24\"",
    ));
    assert_eq!(code, 1, "{findings:#?}");
    assert!(
        messages(&findings, "SOC-SYS-024")
            .iter()
            .any(|m| m.contains("Application \"trino-prod\" (wave ")
                && m.contains("calls S3 at s3.eu-west-3.amazonaws.com")),
        "{findings:#?}"
    );
    // Without STS inside the network, the catalog's namespace (egress to
    // the VPC's range) cannot ask for the role.
    let (code, findings) = check_json(&edit("terraform/prod/network.tf", "\"sts\", ", ""));
    assert_eq!(code, 1, "{findings:#?}");
    let cut = messages(&findings, "SOC-SYS-018");
    assert_eq!(cut.len(), 1, "{findings:#?}");
    assert!(
        cut[0].contains("service account data-platform-storage/lakekeeper assumes role acme-prod-lakekeeper-vended")
            && cut[0].contains("deny egress to STS (its public endpoint"),
        "{cut:#?}"
    );
}

/// On EKS, S3 holds the buckets whose every consumer signs in with a pod
/// identity (Loki's), named for the client and the environment; MinIO keeps
/// the others, and no key is issued, stored or read for what moved.
#[test]
fn prod_on_eks_moves_to_s3_the_buckets_whose_consumers_have_pod_identities() {
    let files = crate::support::render_eks();
    let buckets = text(&files, "terraform/prod/buckets.tf");
    let names: Vec<&str> = buckets
        .lines()
        .filter_map(|l| l.trim().strip_prefix("bucket = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .collect();
    assert_eq!(
        names,
        [
            "acme-prod-airflow-logs",
            "acme-prod-iceberg-analytics",
            "acme-prod-iceberg-ml",
            "acme-prod-iceberg-raw",
            "acme-prod-iceberg-staging",
            "acme-prod-loki-admin",
            "acme-prod-loki-chunks",
            "acme-prod-loki-ruler"
        ]
    );
    let identity = text(&files, "terraform/prod/identity.tf");
    assert!(identity.contains(
        "namespace       = \"data-platform-observability\"\n  service_account = \"loki\"\n  role_arn        = aws_iam_role.loki.arn"
    ), "{identity}");

    // Airflow's role is taken by the account of each of its pods that
    // touches the logs, as the chart names them.
    for account in [
        "airflow-api-server",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    ] {
        assert!(identity.contains(&format!(
            "namespace       = \"data-platform-core\"\n  service_account = \"{account}\"\n  role_arn        = aws_iam_role.airflow.arn"
        )), "{account}: {identity}");
    }

    // MinIO in prod keeps the other buckets and users; staging keeps all.
    let tenant = |env: &str| text(&files, &format!("components/minio/values-{env}.yaml"));
    assert!(!tenant("prod").contains("loki-"), "{}", tenant("prod"));
    assert!(tenant("prod").contains("- name: domain-sales"));
    assert!(!tenant("prod").contains("iceberg"));
    assert!(text(&files, "components/minio/values.yaml").contains("- name: loki-chunks"));
    assert!(!tenant("staging").contains("buckets:"));
    let policies = |env: &str| {
        text(
            &files,
            &format!("components/minio/manifests/{env}/policies.yaml"),
        )
    };
    assert!(!policies("prod").contains("loki"), "{}", policies("prod"));
    assert!(
        !policies("prod").contains("airflow"),
        "{}",
        policies("prod")
    );
    assert!(
        !tenant("prod").contains("airflow-logs"),
        "{}",
        tenant("prod")
    );
    assert!(policies("staging").contains("loki.json"));
    assert!(!text(
        &files,
        "components/minio/manifests/prod/externalsecrets.yaml"
    )
    .contains("loki"));

    // Loki in prod: the cloud's names, no key, no Secret of keys, and an
    // Application without the manifests folder that would hold it.
    let values = text(&files, "components/loki/values-prod.yaml");
    for expected in [
        "chunks: acme-prod-loki-chunks",
        "accessKeyId: null",
        "secretAccessKey: null",
        "extraEnvFrom: []",
        "name: loki",
    ] {
        assert!(values.contains(expected), "{expected}: {values}");
    }
    assert!(!files.contains_key("components/loki/manifests/prod/externalsecrets.yaml"));
    assert!(files.contains_key("components/loki/manifests/staging/externalsecrets.yaml"));
    assert!(
        !text(&files, "argocd/prod/applications/loki.yaml").contains("components/loki/manifests")
    );
    assert!(text(&files, "argocd/staging/applications/loki.yaml")
        .contains("path: components/loki/manifests/staging"));

    // Airflow in prod: its logs in the cloud's bucket, a connection with no
    // key, and no entry of keys read; staging keeps MinIO's.
    let airflow = |env: &str| text(&files, &format!("components/airflow/values-{env}.yaml"));
    assert!(airflow("prod").contains(r#"remote_base_log_folder: "s3://acme-prod-airflow-logs""#));
    assert!(airflow("staging").contains(r#"remote_base_log_folder: "s3://airflow-logs""#));
    let credentials = |env: &str| {
        text(
            &files,
            &format!("components/airflow/manifests/{env}/externalsecrets.yaml"),
        )
    };
    assert!(
        credentials("prod").contains(
            r#"task-logs-connection: |-
          {"conn_type": "aws", "extra": {"region_name": "eu-west-3"}}"#
        ),
        "{}",
        credentials("prod")
    );
    assert!(!credentials("prod").contains("airflow/s3"));
    assert!(credentials("staging").contains("acme/staging/airflow/s3"));
    assert!(credentials("staging").contains(r#""login": "{{ .s3AccessKey }}""#));

    // Its namespace reaches S3's endpoint in the network, in prod only.
    let egress = |env: &str| {
        text(
            &files,
            &format!("platform/overlays/{env}/namespaces/observability/egress.yaml"),
        )
    };
    assert!(egress("prod").contains("name: allow-external-cloud-buckets"));
    assert!(!egress("staging").contains("cloud-buckets"));

    // No secret-store entry for keys nobody reads.
    let dir = materialise(&files);
    let (code, listed, err) = socle_in(dir.path(), &["secrets", "list", ".", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(!listed.contains("acme/prod/loki/s3"), "{listed}");
    assert!(!listed.contains("acme/prod/airflow/s3"), "{listed}");
    assert!(listed.contains("acme/prod/nifi/s3"), "{listed}");
}

#[test]
fn a_backup_target_in_the_spec_takes_the_place_of_the_terraform_bucket() {
    let files = render_text(&eks_spec_with(&format!(
        "{PROD_EKS}    backup_target: {{endpoint: https://s3.backup.acme.example, bucket: acme-prod-backups}}\n"
    )));
    assert!(!files.contains_key("terraform/prod/backups.tf"));
    let outputs = text(&files, "terraform/prod/outputs.tf");
    assert!(!outputs.contains("backups_bucket"));
    let velero = text(&files, "components/velero/values-prod.yaml");
    assert!(
        velero.contains("https://s3.backup.acme.example"),
        "{velero}"
    );
    // Another site's store takes keys, from the store.
    assert!(!velero.contains("useSecret: false"), "{velero}");
    assert!(text(
        &files,
        "components/velero/manifests/prod/externalsecrets.yaml"
    )
    .contains("acme/prod/backup-target/s3"));
    assert!(!text(&files, "terraform/prod/identity.tf").contains("velero"));
}

/// The prod cluster overlay, built by the real kustomize: EBS's class in,
/// OpenEBS's classes out.
#[test]
fn kustomize_builds_the_cloud_storage_classes() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let files = crate::support::render_eks();
    let dir = materialise(&files);
    let classes = |env: &str| -> BTreeSet<String> {
        let out = Command::new(&kubectl)
            .arg("kustomize")
            .arg(dir.path().join(format!("platform/overlays/{env}/cluster")))
            .output()
            .expect("kubectl kustomize");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        crate::support::yaml_stream::<serde_json::Value>(&String::from_utf8_lossy(&out.stdout))
            .expect("kustomize output parses")
            .into_iter()
            .filter(|v| v["kind"] == "StorageClass")
            .filter_map(|v| v["metadata"]["name"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(classes("prod"), BTreeSet::from(["ebs-gp3".to_owned()]));
    assert_eq!(
        classes("staging"),
        BTreeSet::from([
            "openebs-hostpath".to_owned(),
            "openebs-replicated".to_owned()
        ])
    );
}

#[test]
fn the_spec_refuses_an_incomplete_cloud_environment() {
    let cases = [
        (
            "  - name: prod\n    target: eks\n",
            "give its `cloud`",
        ),
        (
            "  - name: prod\n    cluster: https://prod.k8s.acme.example:6443\n    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/16}\n    backup_target: {endpoint: https://s3.backup.acme.example, bucket: acme-prod-backups}\n",
            "`cloud` describes a managed cloud environment",
        ),
        (
            &format!("{PROD_EKS}    storage_nodes:\n      - {{name: a, disks: [/dev/sdb]}}\n"),
            "remove `storage_nodes`",
        ),
        (
            "  - name: prod\n    target: eks\n    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/33}\n",
            "is not a usable network",
        ),
        (
            "  - name: prod\n    target: eks\n    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/24}\n",
            "an IPv4 range of /16 to /20",
        ),
    ];
    // With a hub, Argo CD reaches the cloud cluster at its URL.
    let hub = eks_spec().replace(
        "\nkeycloak:",
        "\nargocd: {topology: hub, hub: staging}\n\nkeycloak:",
    );
    let specs: Vec<(String, &str)> = cases
        .iter()
        .map(|(entry, message)| (eks_spec_with(entry), *message))
        .chain([(hub, "give `cluster`")])
        .collect();
    crate::support::assert_new_refuses(&specs);
}

/// The generated CI's `ci/terraform-validate.sh`, run for real where
/// terraform and the AWS provider are at hand in a local mirror
/// (`SOCLE_TF_PLUGINS`, set by `.ci/run` when the machine has one): every
/// file formatted as `terraform fmt` writes it, and `terraform validate`
/// passes, `init` installing nothing from the network.
#[test]
fn terraform_validates_with_the_local_provider_mirror() {
    let Some(stdout) = terraform_validate(&crate::support::render_eks()) else {
        return;
    };
    assert!(
        stdout.contains("Success! The configuration is valid."),
        "{stdout}"
    );
    assert!(stdout.contains("terraform/prod: valid"), "{stdout}");
}

/// The output of the rendered repository's `ci/terraform-validate.sh`, run
/// with the local provider mirror (None where the machine has none).
fn terraform_validate(files: &socle::render::FileSet) -> Option<String> {
    let dir = materialise(files);
    crate::support::run_with_terraform_mirror(dir.path(), "sh ci/terraform-validate.sh")
}

/// An environment that names its account keeps its Terraform to it: the
/// provider refuses another account's credentials before reading or
/// changing anything, and the account's ARNs are known before a plan. A
/// malformed account is refused at the spec's line.
#[test]
fn an_account_id_keeps_the_terraform_to_its_account() {
    let files = crate::support::render_eks_account();
    let versions = text(&files, "terraform/prod/versions.tf");
    assert!(
        versions.contains("  allowed_account_ids = [\"123456789012\"]\n")
            && versions.contains("  account_id = \"123456789012\"\n")
            && !versions.contains("aws_caller_identity"),
        "{versions}"
    );
    assert!(text(&files, "terraform/prod/README.md").contains(
        "credentials of the client's AWS account (123456789012: the provider refuses any other's"
    ));
    // Without it, the account is the credentials' own, as before.
    let unnamed = crate::support::render_eks();
    let before = text(&unnamed, "terraform/prod/versions.tf");
    assert!(
        !before.contains("allowed_account_ids")
            && before.contains("account_id = data.aws_caller_identity.current.account_id"),
        "{before}"
    );
    let (code, findings) = check_json(&files);
    assert_eq!((code, findings.len()), (0, 0), "{findings:#?}");
    if let Some(stdout) = terraform_validate(&files) {
        assert!(stdout.contains("terraform/prod: valid"), "{stdout}");
    }
    let refused = |account: &str| {
        eks_spec_with(&format!(
        "  - name: prod\n    target: eks\n    cloud: {{region: eu-west-3, vpc_cidr: 10.30.0.0/16, account_id: {account}}}\n"
    ))
    };
    crate::support::assert_new_refuses(&[
        (
            refused("\"12345\""),
            "environments[2].cloud.account_id: \"12345\" does not match \"^[0-9]{12}$\"",
        ),
        (
            refused("123456789012"),
            "environments[2].cloud.account_id: 123456789012 is not of type \"string\"",
        ),
    ]);
}

/// The rendered repository's CI checks its Terraform: a job in each
/// pipeline, clean for zizmor and GitHub's and GitLab's schemas; the
/// installer pins terraform by checksum.
#[test]
fn generated_ci_validates_the_terraform() {
    let files = crate::support::render_eks();
    assert!(
        text(&files, ".github/workflows/tests.yaml").contains("run: sh ci/terraform-validate.sh")
    );
    assert!(text(&files, ".gitlab-ci.yml").contains("- sh ci/terraform-validate.sh"));
    assert!(text(&files, "ci/install_tool.py").contains("terraform_1.11.4_linux_amd64.zip"));
    crate::support::assert_generated_ci_clean(materialise(&files).path());
    // Without a managed-cloud environment, none of it.
    let default = crate::support::render(None);
    assert!(!default.contains_key("ci/terraform-validate.sh"));
    assert!(!text(&default, ".github/workflows/tests.yaml").contains("terraform"));
    assert!(!text(&default, "README.md").contains("On a managed cloud"));
}

/// `socle update` moves prod onto EKS and back, with the three-way merge:
/// the Terraform comes and goes, and so do prod's OpenEBS files.
#[test]
fn update_moves_prod_between_its_cluster_eks_gke_and_aks_and_back() {
    let (_tmp, dir) = crate::support::new_repo();
    let spec = dir.join("socle.yaml");
    let kubernetes = fs_err::read_to_string(&spec).expect("spec");
    let eks = kubernetes.replace(PROD_CLUSTER, PROD_EKS);
    assert_ne!(eks, kubernetes, "the example's prod entry changed");
    let gke = kubernetes.replace(
        PROD_CLUSTER,
        "  - name: prod\n    target: gke\n    cloud: {project: acme-data-prod, region: europe-west9, vpc_cidr: 10.30.0.0/16}\n",
    );

    let aks = kubernetes.replace(
        PROD_CLUSTER,
        "  - name: prod\n    target: aks\n    cloud: {subscription: 4f6c2a1e-8b7d-4c3a-9e21-5d0b7a6c9f13, tenant: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d, region: francecentral, vpc_cidr: 10.30.0.0/16,\n             client_ids: {external-secrets: 0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e, velero: 2d3e4f5a-6b7c-4d8e-9f0a-b1c2d3e4f5a6,\n                          loki: 3e4f5a6b-7c8d-4e9f-8a0b-c1d2e3f4a5b6, airflow: 4f5a6b7c-8d9e-4f0a-9b1c-d2e3f4a5b6c7,\n                          lakekeeper: 5a6b7c8d-9e0f-4a1b-8c2d-e3f4a5b6c7d8, trino: 6b7c8d9e-0f1a-4b2c-9d3e-f4a5b6c7d8e9}}\n",
    );

    // With the account named on EKS, and on GKE, MinIO leaves prod and
    // comes back after.
    let eks_account = kubernetes.replace(
        PROD_CLUSTER,
        "  - name: prod\n    target: eks\n    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/16, account_id: \"123456789012\"}\n",
    );

    // To EKS, its account named, from EKS to GKE, to AKS, and back to the
    // cluster.
    for (text, target) in [
        (&eks, "eks"),
        (&eks_account, "eks"),
        (&gke, "gke"),
        (&aks, "aks"),
        (&kubernetes, "kubernetes"),
    ] {
        let on_eks = target != "kubernetes";
        fs_err::write(&spec, text).expect("write");
        crate::support::git(&dir, &["commit", "-qam", "move prod"]);
        let (code, out, err) = socle_in(&dir, &["update"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("0 conflict(s)"), "{out}");
        assert_eq!(
            dir.join("terraform/prod/cluster.tf").exists(),
            on_eks,
            "{out}"
        );
        let cluster =
            fs_err::read_to_string(dir.join("terraform/prod/cluster.tf")).unwrap_or_default();
        assert_eq!(
            cluster.contains("google_container_cluster"),
            target == "gke",
            "{target}"
        );
        assert_eq!(
            cluster.contains("aws_eks_cluster"),
            target == "eks",
            "{target}"
        );
        assert_eq!(
            cluster.contains("azurerm_kubernetes_cluster"),
            target == "aks",
            "{target}"
        );
        assert_eq!(dir.join("terraform").exists(), on_eks, "{out}");
        assert_eq!(
            dir.join("argocd/prod/applications/openebs.yaml").exists(),
            !on_eks
        );
        assert_eq!(
            dir.join("argocd/prod/applications/minio.yaml").exists()
                && dir.join("backup/overlays/prod").exists(),
            !std::ptr::eq(text, &eks_account) && target != "gke",
            "{target}"
        );
        let (code, out, _) = socle_in(&dir, &["check", "."]);
        assert_eq!(code, 0, "{out}");
        if on_eks {
            // Terraform's state stays out of git: ignored, and denied once
            // forced in.
            let state = dir.join("terraform/prod/terraform.tfstate");
            fs_err::write(&state, "{\"version\": 4}").expect("write");
            assert_eq!(
                crate::support::git(&dir, &["check-ignore", "terraform/prod/terraform.tfstate"])
                    .trim(),
                "terraform/prod/terraform.tfstate"
            );
            crate::support::git(&dir, &["add", "-f", "terraform/prod/terraform.tfstate"]);
            let (code, out, _) = socle_in(&dir, &["check", "."]);
            assert_eq!(code, 1, "{out}");
            assert!(out.contains("SOC-SEC-005"), "{out}");
            crate::support::git(
                &dir,
                &["rm", "-q", "--cached", "terraform/prod/terraform.tfstate"],
            );
            fs_err::remove_file(&state).expect("remove");
        }
        crate::support::git(&dir, &["add", "-A"]);
        crate::support::git(&dir, &["commit", "-qm", "update"]);
    }
}

/// The fullest spec with prod on EKS.
pub fn full_spec_on_eks() -> String {
    let full = crate::support::fixture_text("specs/full.yaml");
    let cluster = "    cluster: https://prod.k8s.fullopt.example:6443\n";
    assert!(full.contains(cluster), "full.yaml's prod entry changed");
    full.replace(
        cluster,
        // The account: the pipelines' dbt pod takes its role by web
        // identity for the catalog's bucket, whose ARN names it.
        "    target: eks\n    cloud: {region: eu-central-1, vpc_cidr: 10.40.0.0/16, account_id: \"210987654321\"}\n",
    )
}

/// The fullest spec (every choice, per-namespace SecretStores, its own
/// backup target, overrides) with prod on EKS: the gate passes, the spec's
/// storage class override wins over the cloud's default, and the README
/// leaves the stores to the client.
#[test]
fn the_full_spec_runs_on_eks_with_its_own_choices() {
    let files = render_text(&full_spec_on_eks());
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
    assert!(!files.contains_key("terraform/prod/secret-store.yaml"));
    assert!(!files.contains_key("terraform/prod/backups.tf"));
    let readme = text(&files, "terraform/prod/README.md");
    assert!(!readme.contains("secret-store.yaml"), "{readme}");
    assert!(readme.contains("are the client's"), "{readme}");
    let values = text(&files, "components/loki/values-prod.yaml");
    assert!(values.contains("storageClass: fast-replicated"), "{values}");
    // PostgreSQL is the cloud's, with the spec's large sizing.
    let database = text(&files, "terraform/prod/variables.tf");
    assert!(database.contains("\"db.m7g.2xlarge\""), "{database}");
}

/// The namespaces of an environment whose NetworkPolicies let pods reach
/// `cidr` on `port`, by name (the overlay's `namespace:` of each).
fn namespaces_reaching(
    files: &socle::render::FileSet,
    env: &str,
    cidr: &str,
    port: u64,
) -> BTreeSet<String> {
    crate::egress::egress(files, env)
        .into_iter()
        .filter(|(_, policies)| {
            policies
                .values()
                .flatten()
                .any(|(cidrs, ports)| cidrs.iter().any(|c| c == cidr) && ports.contains(&port))
        })
        .map(|(id, _)| {
            let path = format!("platform/overlays/{env}/namespaces/{id}/kustomization.yaml");
            text(files, &path)
                .lines()
                .find_map(|l| l.strip_prefix("namespace: "))
                .unwrap_or_else(|| panic!("{path}: no namespace"))
                .to_owned()
        })
        .collect()
}

/// Every service account the Terraform gives a pod identity gets its
/// credentials from the node's agent: its namespace's egress reaches the
/// agent (EKS Pod Identity answers at 169.254.170.23, port 80), or External
/// Secrets and Velero would time out before their first call. Namespaces
/// with no such account, and environments off the cloud, do not reach it.
#[test]
fn pods_with_a_pod_identity_reach_the_agent() {
    const AGENT: &str = "169.254.170.23/32";
    for (spec, with_velero) in [
        (eks_spec(), true),
        (
            eks_spec_with(&format!(
                "{PROD_EKS}    backup_target: {{endpoint: https://s3.backup.acme.example, bucket: acme-prod-backups}}\n"
            )),
            false,
        ),
    ] {
        let files = render_text(&spec);
        let identity = text(&files, "terraform/prod/identity.tf");
        let identities: BTreeSet<String> = identity
            .lines()
            .filter_map(|l| {
                // `namespace = "…"`, aligned or in a map entry.
                let value = l.split_once("namespace ")?.1.trim_start();
                value.strip_prefix("= \"")?.split_once('"')
            })
            .map(|(ns, _)| ns.to_owned())
            // kube-system's pods (the EBS CSI driver) are under no policy.
            .filter(|ns| ns != "kube-system")
            .collect();
        // Loki reaches its buckets in S3 with its own, Lakekeeper the
        // Iceberg buckets.
        let mut expected = BTreeSet::from([
            "data-platform-core".to_owned(),
            "data-platform-observability".to_owned(),
            "data-platform-storage".to_owned(),
        ]);
        if with_velero {
            expected.insert("velero".to_owned());
        }
        assert_eq!(identities, expected, "{identity}");
        let reaching = namespaces_reaching(&files, "prod", AGENT, 80);
        assert!(
            identities.is_subset(&reaching),
            "namespaces with a pod identity {identities:?}, reaching the agent {reaching:?}"
        );
        // Velero's namespace keeps the rule when the spec's own store takes
        // keys: it only lets pods ask an agent that has nothing for them.
        let mut allowed = identities.clone();
        allowed.insert("velero".to_owned());
        assert!(reaching.is_subset(&allowed), "{reaching:?}");
        for env in ["dev", "staging"] {
            assert!(namespaces_reaching(&files, env, AGENT, 80).is_empty());
        }
    }
}

/// The node group's bounds mean something: on the cloud, the Cluster
/// Autoscaler resizes it, found by the tags EKS gives it, with a pod
/// identity limited to this cluster's groups, reaching the cloud's APIs
/// inside the network. Environments off the cloud have no autoscaler.
#[test]
fn the_cloud_node_group_is_resized_by_the_cluster_autoscaler() {
    let files = crate::support::render_eks();
    assert!(files.contains_key("argocd/prod/applications/cluster-autoscaler.yaml"));
    for env in ["dev", "staging"] {
        assert!(!files.contains_key(&format!(
            "argocd/{env}/applications/cluster-autoscaler.yaml"
        )));
        assert!(!files.contains_key(&format!("components/cluster-autoscaler/values-{env}.yaml")));
    }
    let values: serde_json::Value = crate::support::yaml_slice(
        text(&files, "components/cluster-autoscaler/values-prod.yaml").as_bytes(),
    )
    .unwrap();
    let common: serde_json::Value = crate::support::yaml_slice(
        text(&files, "components/cluster-autoscaler/values.yaml").as_bytes(),
    )
    .unwrap();
    // The cluster it discovers is the one the Terraform names, in its region,
    // and its minor version is the cluster's.
    let tf = text(&files, "terraform/prod/cluster.tf");
    assert!(tf.contains("version  = \"1.33\""), "{tf}");
    assert_eq!(values["autoDiscovery"]["clusterName"], "acme-prod");
    // (the cluster is named local.name)
    assert!(tf.contains("name     = local.name"), "{tf}");
    assert!(text(&files, "terraform/prod/versions.tf").contains("name       = \"acme-prod\""));
    assert_eq!(values["awsRegion"], "eu-west-3");
    assert!(values["image"]["tag"]
        .as_str()
        .unwrap()
        .starts_with("v1.33."));
    // No keys: its service account is the one the pod identity names.
    assert_eq!(common["cloudProvider"], "aws");
    assert!(common.get("awsAccessKeyID").is_none());
    let account = common["rbac"]["serviceAccount"]["name"].as_str().unwrap();
    let identity = text(&files, "terraform/prod/identity.tf");
    assert!(
        identity.contains(&format!(
            "\"cluster-autoscaler\" = {{ namespace = \"data-platform-core\", service_account = \"{account}\" }}"
        )) && identity.contains("resource \"aws_eks_pod_identity_association\" \"cluster_autoscaler\""),
        "{identity}"
    );
    // It may resize this cluster's groups only.
    assert!(
        identity.contains("\"autoscaling:SetDesiredCapacity\"")
            && identity.contains(
                "variable = \"aws:ResourceTag/k8s.io/cluster-autoscaler/${aws_eks_cluster.this.name}\""
            ),
        "{identity}"
    );
    // The APIs it calls answer inside the VPC, where its egress goes (and
    // STS, where the catalog assumes the role it vends credentials from).
    let network = text(&files, "terraform/prod/network.tf");
    assert!(
        network.contains(
            "toset([\"s3\", \"secretsmanager\", \"sts\", \"autoscaling\", \"ec2\", \"eks\"])"
        ),
        "{network}"
    );
    assert!(namespaces_reaching(&files, "prod", "10.30.0.0/16", 443).contains("data-platform-core"));
    let core = text(&files, "platform/overlays/prod/namespaces/core/egress.yaml");
    assert!(core.contains("name: allow-external-cloud-api"), "{core}");
    // The project lets prod deploy it from its chart repository.
    assert!(text(&files, "argocd/prod/project.yaml")
        .contains("https://kubernetes.github.io/autoscaler"));
    assert!(!text(&files, "argocd/staging/project.yaml").contains("autoscaler"));

    // A cluster of another minor version gets the autoscaler of that minor.
    let newer = render_text(&eks_spec_with(
        "  - name: prod\n    target: eks\n    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/16, kubernetes_version: \"1.34\"}\n",
    ));
    assert!(text(&newer, "terraform/prod/cluster.tf").contains("version  = \"1.34\""));
    assert!(
        text(&newer, "components/cluster-autoscaler/values-prod.yaml").contains("tag: \"v1.34.0\"")
    );

    // Off the cloud, nothing of it.
    let plain = crate::support::render(None);
    assert!(!plain.keys().any(|p| p.contains("cluster-autoscaler")));
    assert!(!plain
        .iter()
        .any(|(_, b)| String::from_utf8_lossy(b).contains("allow-external-cloud-api")));
}

/// Each pod identity the Terraform grants names a service account the
/// cluster's side runs under: the component's Application deploys into that
/// namespace, and its chart's facts (`charts.yaml`, which `socle check`
/// reads) give that account. A renamed account or namespace would leave
/// the pods without their role, silently.
#[test]
fn every_pod_identity_names_the_account_its_component_runs_under() {
    let charts: serde_json::Value = crate::support::yaml_slice(
        &fs_err::read(crate::support::repo_root().join("blueprints/platform/charts.yaml")).unwrap(),
    )
    .unwrap();
    let blueprint: serde_json::Value = crate::support::yaml_slice(
        &fs_err::read(crate::support::repo_root().join("blueprints/platform/blueprint.yaml"))
            .unwrap(),
    )
    .unwrap();
    let files = crate::support::render_eks();
    let identity = text(&files, "terraform/prod/identity.tf");
    let mut seen = Vec::new();
    for line in identity.lines() {
        let Some((key, rest)) = line.trim().split_once(" = { namespace = \"") else {
            continue;
        };
        let key = key.trim_matches('"');
        let (namespace, rest) = rest.split_once('"').unwrap();
        let account = rest
            .split_once("service_account = \"")
            .and_then(|(_, r)| r.split_once('"'))
            .map(|(a, _)| a)
            .unwrap_or_else(|| panic!("{line}"));
        if namespace == "kube-system" {
            // The EBS CSI driver: an EKS add-on, which Terraform installs
            // with the same association.
            assert!(identity.contains(&format!("service_account = \"{account}\"")));
            continue;
        }
        let app: serde_json::Value = crate::support::yaml_slice(
            text(&files, &format!("argocd/prod/applications/{key}.yaml")).as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{key}: no Application in prod: {e}"));
        assert_eq!(app["spec"]["destination"]["namespace"], namespace, "{key}");
        let chart = blueprint["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == key)
            .and_then(|c| c["chart"]["name"].as_str())
            .unwrap_or_else(|| panic!("{key}: not a chart component"));
        let facts = charts["charts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == chart)
            .unwrap_or_else(|| panic!("{chart}: no chart facts"));
        assert_eq!(facts["service_account"], account, "{key}");
        seen.push(key.to_owned());
    }
    assert_eq!(seen, ["external-secrets", "cluster-autoscaler", "velero"]);
}

/// `socle check` reads the cluster under prod from its Terraform, as the
/// cloud would apply it, and judges the Kubernetes side against it: a pod
/// identity whose namespace cannot reach the node's agent, a cluster that
/// ignores the NetworkPolicies it is given, an identity for a namespace or
/// account nothing runs under, and Terraform that does not parse.
#[test]
fn check_judges_the_cluster_its_terraform_declares() {
    let files = crate::support::render_eks();
    let with = |path: &str, from: &str, to: &str| {
        let before = text(&files, path);
        assert!(before.contains(from), "{path}: {from}");
        let mut changed = files.clone();
        changed.insert(path.into(), before.replacen(from, to, 1).into_bytes());
        changed
    };
    let found = |files: &socle::render::FileSet, rule: &str, file: &str, words: &str| {
        let (code, findings) = check_json(files);
        assert!(
            findings.iter().any(|f| f["rule"] == rule
                && f["file"] == file
                && f["message"].as_str().is_some_and(|m| m.contains(words))),
            "{rule} at {file} ({words}): {findings:#?}"
        );
        (code, findings)
    };
    let count = |findings: &[serde_json::Value], rule: &str| {
        findings.iter().filter(|f| f["rule"] == rule).count()
    };
    // A namespace's egress without its rule to the Pod Identity agent.
    let cut_from_agent = |namespace: &str| {
        let path = format!("platform/overlays/prod/namespaces/{namespace}/egress.yaml");
        let kept: Vec<&str> = text(&files, &path)
            .split("\n---\n")
            .filter(|d| !d.contains("169.254.170.23"))
            .collect();
        let mut cut = files.clone();
        cut.insert(path, kept.join("\n---\n").into_bytes());
        cut
    };
    let line_of = |path: &str, needle: &str| {
        text(&files, path)
            .lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("{path}: {needle}"))
    };

    // Velero's namespace without its rule to the agent.
    let (code, findings) = found(
        &cut_from_agent("backup"),
        "SOC-SYS-018",
        "terraform/prod/identity.tf",
        "service account velero/velero-server gets an AWS role through EKS Pod Identity",
    );
    assert_eq!(code, 1);
    let f = findings
        .iter()
        .find(|f| f["rule"] == "SOC-SYS-018")
        .expect("finding");
    assert_eq!(
        f["line"],
        line_of(
            "terraform/prod/identity.tf",
            "resource \"aws_eks_pod_identity_association\" \"velero\""
        )
    );
    assert_eq!(count(&findings, "SOC-SYS-018"), 1, "{findings:#?}");

    // The VPC CNI not told to enforce policies, then not declared at all.
    let cluster = "terraform/prod/cluster.tf";
    let setting = "configuration_values = each.value == \"vpc-cni\" ? jsonencode({ enableNetworkPolicy = \"true\" }) : null";
    let (code, _) = found(
        &with(cluster, setting, "configuration_values = null"),
        "SOC-SYS-019",
        cluster,
        "does not enforce them (the vpc-cni add-on)",
    );
    assert_eq!(code, 1);
    found(
        &with(
            cluster,
            setting,
            "configuration_values = each.value == \"vpc-cni\" ? jsonencode({ enableNetworkPolicy = \"false\" }) : null",
        ),
        "SOC-SYS-019",
        cluster,
        "the vpc-cni add-on",
    );
    found(
        &with(cluster, "toset([\"vpc-cni\", ", "toset(["),
        "SOC-SYS-019",
        cluster,
        "the cluster's default VPC CNI (no vpc-cni add-on)",
    );

    // An identity for a namespace, then an account, nothing runs under:
    // a warning, and Velero, left without one, has no credentials for the
    // bucket the Terraform creates.
    let identity = "terraform/prod/identity.tf";
    let moved = with(identity, "namespace = \"velero\"", "namespace = \"backup\"");
    let (code, _) = found(
        &moved,
        "SOC-SYS-020",
        identity,
        "names namespace \"backup\", which nothing in this environment creates",
    );
    let (_, findings) = found(
        &moved,
        "SOC-SYS-025",
        "components/velero/values-prod.yaml",
        "uses bucket \"acme-prod-backups\", which the environment's Terraform creates, but none of its service accounts (velero/velero-server) has a pod identity",
    );
    assert_eq!(code, 1);
    assert!(
        findings
            .iter()
            .filter(|f| f["severity"] == "deny")
            .all(|f| f["rule"] == "SOC-SYS-025"),
        "{findings:#?}"
    );
    found(
        &with(
            identity,
            "service_account = \"velero-server\"",
            "service_account = \"velero\"",
        ),
        "SOC-SYS-020",
        identity,
        "names a service account that no workload of namespace \"velero\" runs as",
    );

    // Terraform that does not parse is a denial at its line, and the
    // cluster is then not judged rather than passed.
    let network = "terraform/prod/network.tf";
    let mut broken = files.clone();
    let mut bytes = text(&files, network).to_owned();
    let line = bytes.lines().count() + 2;
    bytes.push_str("\nresource \"aws_vpc\" \"more\" {\n  cidr_block = \n}\n");
    broken.insert(network.into(), bytes.into_bytes());
    let (code, findings) = found(&broken, "SOC-PARSE-001", network, "invalid Terraform (HCL)");
    assert_eq!(code, 1);
    let f = findings
        .iter()
        .find(|f| f["rule"] == "SOC-PARSE-001")
        .expect("finding");
    assert_eq!(f["line"], line + 1, "{f:#?}");
    let (_, report) = check_report(&broken);
    assert!(
        not_modelled(&report)
            .iter()
            .any(|g| g.contains("terraform/prod/network.tf")
                && g.contains("the cluster it declares is not judged")),
        "{report:#}"
    );

    // An entry outside the operator's grant, then a grant for another
    // environment's entries.
    let airflow = "components/airflow/manifests/prod/externalsecrets.yaml";
    let (code, findings) = found(
        &with(
            airflow,
            "key: acme/prod/airflow/postgresql",
            "key: acme/shared/airflow/postgresql",
        ),
        "SOC-SYS-021",
        airflow,
        "reads \"acme/shared/airflow/postgresql\" from Secrets Manager (store \"platform-secrets\", eu-west-3) as the External Secrets operator data-platform-core/external-secrets",
    );
    assert_eq!(code, 1);
    assert_eq!(
        count(&findings, "SOC-SYS-021"),
        1,
        "one of the two keys: {findings:#?}"
    );
    let (_, findings) = found(
        &with(identity, "secret:acme/prod/*", "secret:acme/staging/*"),
        "SOC-SYS-021",
        airflow,
        "grants secretsmanager:GetSecretValue on none of it (terraform/prod/identity.tf:",
    );
    let denied = count(&findings, "SOC-SYS-021");
    let reads: usize = files
        .iter()
        .filter(|(p, _)| p.contains("/prod/") || p.contains("overlays/prod"))
        .map(|(_, b)| {
            String::from_utf8_lossy(b)
                .matches("key: acme/prod/")
                .count()
        })
        .sum();
    assert!(denied >= 40 && denied <= reads, "{denied} of {reads}");

    // Velero's role without the right to write objects; the bucket known
    // from the Terraform even when socle-check.yaml does not list it.
    let backups = "terraform/prod/backups.tf";
    let velero = "components/velero/values-prod.yaml";
    let (code, _) = found(
        &with(backups, "      \"s3:PutObject\",\n", ""),
        "SOC-SYS-022",
        velero,
        "uses bucket \"acme-prod-backups\" (write access) with the pod identity of velero/velero-server, whose role aws_iam_role.workload[\"velero\"] grants s3:ListBucket, s3:GetObject, s3:DeleteObject on it (terraform/prod/backups.tf:",
    );
    assert_eq!(code, 1);
    let unlisted = with(
        "socle-check.yaml",
        "  - acme-prod-backups\n",
        "  - acme-prod-other\n",
    );
    let (code, findings) = check_json(&unlisted);
    assert_eq!(code, 0, "{findings:#?}");
    assert!(findings.is_empty(), "{findings:#?}");
    let mut renamed = unlisted.clone();
    let tf = text(&unlisted, backups).replacen(
        "bucket = \"acme-prod-backups\"",
        "bucket = \"acme-prod-backup\"",
        1,
    );
    renamed.insert(backups.into(), tf.into_bytes());
    let (code, findings) = check_json(&renamed);
    assert_eq!(code, 1);
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "SOC-SYS-012" && f["file"] == velero),
        "{findings:#?}"
    );

    // Loki's buckets in S3: its role without the right to write, its pod
    // identity given to another account, its namespace cut off from the
    // agent, a bucket of the Terraform renamed.
    let loki = "components/loki/values-prod.yaml";
    let policy = text(&files, identity);
    // A consumer's role without the right to write its buckets.
    let without_put = |consumer: &str| {
        let start = policy
            .find(&format!(
                "data \"aws_iam_policy_document\" \"{consumer}_buckets\""
            ))
            .unwrap_or_else(|| panic!("{consumer}'s policy"));
        let mut cut = files.clone();
        cut.insert(
            identity.into(),
            format!(
                "{}{}",
                &policy[..start],
                policy[start..].replacen("      \"s3:PutObject\",\n", "", 1)
            )
            .into_bytes(),
        );
        cut
    };
    let cut = without_put("loki");
    let (code, findings) = found(
        &cut,
        "SOC-SYS-022",
        loki,
        "uses bucket \"acme-prod-loki-chunks\" (write access) with the pod identity of data-platform-observability/loki, whose role aws_iam_role.loki grants s3:ListBucket, s3:GetObject, s3:DeleteObject on it",
    );
    assert_eq!(code, 1);
    assert_eq!(
        count(&findings, "SOC-SYS-022"),
        3,
        "one per bucket: {findings:#?}"
    );
    // Airflow's role, taken by four accounts (charts.yaml's
    // service_accounts), though Airflow also reaches MinIO (the endpoint its
    // DAGs hand to the pipelines): each account is judged on the cloud's
    // bucket.
    let cut = without_put("airflow");
    let (code, findings) = found(
        &cut,
        "SOC-SYS-022",
        "components/airflow/values-prod.yaml",
        "uses bucket \"acme-prod-airflow-logs\" (write access) with the pod identity of data-platform-core/airflow-worker, whose role aws_iam_role.airflow grants",
    );
    assert_eq!(code, 1);
    assert_eq!(
        count(&findings, "SOC-SYS-022"),
        4,
        "one per account: {findings:#?}"
    );
    let unbound = with(
        identity,
        "service_account = \"loki\"",
        "service_account = \"loki-gateway\"",
    );
    let (code, _) = found(
        &unbound,
        "SOC-SYS-025",
        loki,
        "uses bucket \"acme-prod-loki-chunks\", which the environment's Terraform creates, but none of its service accounts (data-platform-observability/loki) has a pod identity",
    );
    assert_eq!(code, 1);
    // With access keys of its own, the Terraform may sign the consumer in
    // without a pod identity: not judged, and said so.
    let mut keyed = unbound.clone();
    let tf = format!(
        "{}\nresource \"aws_iam_access_key\" \"loki\" {{\n  user = \"loki\"\n}}\n",
        text(&unbound, identity)
    );
    keyed.insert(identity.into(), tf.into_bytes());
    let (code, report) = check_report(&keyed);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        not_modelled(&report)
            .iter()
            .any(|g| g.contains("this Terraform issues access keys")),
        "{report:#}"
    );
    found(
        &cut_from_agent("observability"),
        "SOC-SYS-018",
        identity,
        "service account data-platform-observability/loki gets an AWS role through EKS Pod Identity",
    );
    let (code, _) = found(
        &with(
            "terraform/prod/buckets.tf",
            "bucket = \"acme-prod-loki-ruler\"",
            "bucket = \"acme-prod-loki-rules\"",
        ),
        "SOC-SYS-012",
        loki,
        "acme-prod-loki-ruler",
    );
    assert_eq!(code, 1);

    // A Service forwarding to a name the private zone does not have; a
    // record named relative to its zone is the same name.
    let service = "components/managed-postgresql/overlays/prod/service.yaml";
    let (code, findings) = found(
        &with(
            service,
            "externalName: postgresql.acme-prod.internal",
            "externalName: postgres.acme-prod.internal",
        ),
        "SOC-SYS-023",
        service,
        "forwards to postgres.acme-prod.internal, in the private zone \"acme-prod.internal\" of the environment's Terraform (terraform/prod/database.tf:",
    );
    assert_eq!(code, 1);
    let f = findings
        .iter()
        .find(|f| f["rule"] == "SOC-SYS-023")
        .expect("finding");
    assert_eq!(
        f["line"],
        line_of(service, "externalName: postgresql.acme-prod.internal")
    );
    let (code, findings) = check_json(&with(
        "terraform/prod/database.tf",
        "name    = \"postgresql.acme-prod.internal\"",
        "name    = \"postgresql\"",
    ));
    assert_eq!(code, 0, "{findings:#?}");

    // A record whose zone only a plan knows may be the missing name: the
    // zone is then not judged, rather than its Services denied.
    let mut elsewhere = with(
        service,
        "externalName: postgresql.acme-prod.internal",
        "externalName: postgres.acme-prod.internal",
    );
    elsewhere.insert(
        "terraform/prod/dns.tf".into(),
        b"resource \"aws_route53_record\" \"postgres\" {\n  zone_id = var.zone_id\n  name    = \"postgres.acme-prod.internal\"\n  type    = \"CNAME\"\n  ttl     = 60\n  records = [aws_db_instance.postgresql.address]\n}\n".to_vec(),
    );
    let (code, report) = check_report(&elsewhere);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        not_modelled(&report)
            .iter()
            .any(|g| g.contains("a record of the private zone acme-prod.internal is not known")),
        "{report:#}"
    );

    // Egress to the database narrowed to one of its three subnets: the
    // standby in another zone would be out of reach.
    let storage = "platform/overlays/prod/namespaces/storage/egress.yaml";
    let narrowed: Vec<String> = text(&files, storage)
        .split("\n---\n")
        .map(|d| {
            if d.contains("name: allow-external-databases") {
                d.replacen("cidr: \"10.30.0.0/16\"", "cidr: \"10.30.0.0/18\"", 1)
            } else {
                d.to_owned()
            }
        })
        .collect();
    let mut narrow = files.clone();
    narrow.insert(storage.into(), narrowed.join("\n---\n").into_bytes());
    let (code, findings) = found(
        &narrow,
        "SOC-SYS-024",
        "components/managed-postgresql/overlays/prod/provision.yaml",
        "in subnets 10.30.0.0/18, 10.30.64.0/18, 10.30.128.0/18, but egress from namespace \"data-platform-storage\" on port 5432 does not reach 10.30.64.0/18, 10.30.128.0/18",
    );
    assert_eq!(code, 1);
    assert!(
        !findings.iter().any(|f| f["rule"] == "SOC-SYS-005"),
        "an ipBlock is there: SOC-SYS-005 passes, 024 says what it misses: {findings:#?}"
    );

    // Variable definitions are Terraform too: one that does not parse is
    // a denial, and what depends on it is not judged.
    let mut values = files.clone();
    values.insert(
        "terraform/prod/zones.auto.tfvars".into(),
        b"zones = [\n".to_vec(),
    );
    let (code, _) = found(
        &values,
        "SOC-PARSE-001",
        "terraform/prod/zones.auto.tfvars",
        "invalid Terraform (HCL)",
    );
    assert_eq!(code, 1);

    // What is not known before a plan is said, not passed.
    let unknown = with(
        cluster,
        "for_each = toset([\"vpc-cni\", \"coredns\", \"kube-proxy\", \"eks-pod-identity-agent\"])",
        "for_each = toset(data.aws_eks_addon_version.all.names)",
    );
    let (_, report) = check_report(&unknown);
    assert!(
        not_modelled(&report)
            .iter()
            .any(|g| g.contains("the instances of this add-on")),
        "{report:#}"
    );
}

/// The trust policy of each workload's role, read as STS reads it: a
/// pod identity's role must trust the Pod Identity agent with both its
/// actions; an IRSA role takes the place of an association when it trusts
/// the account by web identity, and a ServiceAccount naming a role must be
/// one the role trusts, and the reverse.
#[test]
fn check_judges_the_trust_of_each_workload_role() {
    let files = crate::support::render_eks();
    let identity = "terraform/prod/identity.tf";
    let edit = |files: &socle::render::FileSet, path: &str, from: &str, to: &str| {
        let before = text(files, path);
        assert!(before.contains(from), "{path}: {from}");
        let mut changed = files.clone();
        changed.insert(path.into(), before.replacen(from, to, 1).into_bytes());
        changed
    };
    let of_rule = |findings: &[serde_json::Value], rule: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["rule"] == rule)
            .map(|f| {
                format!(
                    "{}:{} {}",
                    f["file"].as_str().unwrap_or(""),
                    f["line"],
                    f["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    let denials = |findings: &[serde_json::Value]| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["severity"] == "deny")
            .map(|f| format!("{} {}", f["rule"], f["message"]))
            .collect()
    };

    // The Pod Identity trust without sts:TagSession: every pod identity
    // (associations, and the EBS CSI add-on's) is refused, Velero's too,
    // whose association names its role by a literal ARN.
    let untagged = edit(
        &edit(
            &files,
            identity,
            "actions = [\"sts:AssumeRole\", \"sts:TagSession\"]",
            "actions = [\"sts:AssumeRole\"]",
        ),
        identity,
        "role_arn        = aws_iam_role.workload[\"velero\"].arn",
        "role_arn        = \"arn:aws:iam::123456789012:role/acme-prod-velero\"",
    );
    let (code, findings) = check_json(&untagged);
    assert_eq!(code, 1);
    let refused = of_rule(&findings, "SOC-SYS-027");
    let identities: usize = files
        .iter()
        .filter(|(p, _)| p.starts_with("terraform/prod/") && p.ends_with(".tf"))
        .map(|(_, b)| {
            let t = String::from_utf8_lossy(b);
            t.matches("resource \"aws_eks_pod_identity_association\"")
                .count()
                + t.matches("  pod_identity_association {").count()
        })
        .sum();
    assert!(identities >= 4, "{identities}");
    assert_eq!(refused.len(), identities, "{refused:#?}");
    assert!(
        refused.iter().any(|r| r.contains("service account velero/velero-server gets role acme-prod-velero through EKS Pod Identity, but the role's trust policy does not let the service pods.eks.amazonaws.com call both sts:AssumeRole and sts:TagSession")),
        "{refused:#?}"
    );

    // Velero on an IAM role for service accounts instead of its
    // association: its bucket grant and credentials are judged the same.
    let association = "resource \"aws_eks_pod_identity_association\" \"velero\" {\n  cluster_name    = aws_eks_cluster.this.name\n  namespace       = local.workloads[\"velero\"].namespace\n  service_account = local.workloads[\"velero\"].service_account\n  role_arn        = aws_iam_role.workload[\"velero\"].arn\n}\n";
    let irsa = |subject: &str| {
        format!(
            r#"
resource "aws_iam_openid_connect_provider" "eks" {{
  url            = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list = ["sts.amazonaws.com"]
}}

resource "aws_iam_role" "velero_irsa" {{
  name = "${{local.name}}-velero-irsa"
  assume_role_policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = {{ Federated = aws_iam_openid_connect_provider.eks.arn }}
      Condition = {{
        StringEquals = {{
          "${{replace(aws_iam_openid_connect_provider.eks.url, "https://", "")}}:sub" = "system:serviceaccount:{subject}"
          "${{replace(aws_iam_openid_connect_provider.eks.url, "https://", "")}}:aud" = "sts.amazonaws.com"
        }}
      }}
    }}]
  }})
}}

resource "aws_iam_role_policy_attachment" "velero_irsa" {{
  role       = aws_iam_role.velero_irsa.name
  policy_arn = aws_iam_policy.backups_writer.arn
}}
"#
        )
    };
    let velero_values = "components/velero/values-prod.yaml";
    let server = "serviceAccount:\n  server:\n    name: velero-server\n";
    let on_irsa = |subject: &str| {
        // Without STS's interface endpoint, which the catalog's vending
        // opens here.
        let without_sts = edit(&files, "terraform/prod/network.tf", "\"sts\", ", "");
        let mut changed = edit(&without_sts, identity, association, "");
        changed.insert("terraform/prod/irsa.tf".into(), irsa(subject).into_bytes());
        // Velero's server account names the role where its chart reads it.
        if subject == "velero:velero-server" {
            changed = edit(
                &changed,
                velero_values,
                server,
                &format!("{server}    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/acme-prod-velero-irsa\n"),
            );
        }
        changed
    };
    // An IRSA pod exchanges its token at STS: with no interface endpoint
    // for it in the network, at its public addresses, which Velero's
    // egress (the VPC's range) does not reach; nor does the catalog's,
    // which assumes its vending role there.
    let (code, findings) = check_json(&on_irsa("velero:velero-server"));
    assert_eq!(code, 1);
    assert_eq!(denials(&findings).len(), 2, "{findings:#?}");
    assert!(
        of_rule(&findings, "SOC-SYS-018")
            .iter()
            .any(|f| f.contains("data-platform-storage/lakekeeper assumes role")),
        "{findings:#?}"
    );
    assert!(
        of_rule(&findings, "SOC-SYS-018")
            .iter()
            .any(|f| f.contains(
                "velero/velero-server takes AWS role acme-prod-velero-irsa by web identity (IRSA)"
            ) && f.contains("deny egress to STS (its public endpoint, port 443)")),
        "{findings:#?}"
    );
    // With STS's interface endpoint in the network, its name resolves
    // inside the VPC's range, which Velero reaches.
    let endpoints = "for_each            = toset([\"s3\", \"secretsmanager\",";
    let velero = edit(
        &on_irsa("velero:velero-server"),
        "terraform/prod/network.tf",
        endpoints,
        "for_each            = toset([\"sts\", \"s3\", \"secretsmanager\",",
    );
    let (code, findings) = check_json(&velero);
    assert_eq!((code, denials(&findings)), (0, vec![]), "{findings:#?}");
    // Without the role's name on the chart's account, where its facts
    // place it: EKS would project no token.
    let unnamed = edit(
        &velero,
        velero_values,
        "    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/acme-prod-velero-irsa\n",
        "",
    );
    let (_, findings) = check_json(&unnamed);
    assert!(
        of_rule(&findings, "SOC-SYS-027").iter().any(|f| f.starts_with("terraform/prod/irsa.tf:")
            && f.contains("role acme-prod-velero-irsa trusts service account velero/velero-server by web identity (IRSA), but that ServiceAccount does not name the role")),
        "{findings:#?}"
    );
    let (_, findings) = check_json(&on_irsa("velero:velero"));
    assert!(
        of_rule(&findings, "SOC-SYS-025").iter().any(|f| f
            .contains("none of its service accounts (velero/velero-server) has a pod identity")),
        "{findings:#?}"
    );
    assert!(
        of_rule(&findings, "SOC-SYS-020")
            .iter()
            .any(|f| f.starts_with("terraform/prod/irsa.tf:")
                && f.contains(
                    "names a service account that no workload of namespace \"velero\" runs as"
                )),
        "{findings:#?}"
    );

    // A ServiceAccount of the environment naming a role: the pod
    // identity role trusts no web identity, the IRSA role another account.
    let accounts = "components/zeppelin/base/serviceaccounts.yaml";
    let annotate = |files: &socle::render::FileSet, role: &str| {
        edit(
            files,
            accounts,
            "  name: zeppelin-server\n",
            &format!("  name: zeppelin-server\n  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/{role}\n"),
        )
    };
    let (code, findings) = check_json(&annotate(&files, "acme-prod-velero"));
    assert_eq!(code, 1);
    let misbound = of_rule(&findings, "SOC-SYS-027");
    assert_eq!(misbound.len(), 1, "{misbound:#?}");
    assert!(
        misbound[0].starts_with(&format!("{accounts}:")) && misbound[0].contains("ServiceAccount data-platform-datalab/zeppelin-server takes role acme-prod-velero (terraform/prod/identity.tf:") && misbound[0].contains("(it trusts no service account by web identity)"),
        "{misbound:#?}"
    );
    let (_, findings) = check_json(&annotate(&velero, "acme-prod-velero-irsa"));
    assert!(
        of_rule(&findings, "SOC-SYS-027")
            .iter()
            .any(|f| f.contains("(it trusts velero/velero-server)")),
        "{findings:#?}"
    );
    // A chart's account annotated in its Application's values, as charts
    // conventionally take it: External Secrets' main account named with
    // Velero's pod identity role.
    let eso = "components/external-secrets/values-prod.yaml";
    let mut chart = files.clone();
    chart.insert(
        eso.into(),
        format!(
            "{}\nserviceAccount:\n  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/acme-prod-velero\n",
            text(&files, eso)
        )
        .into_bytes(),
    );
    let (_, findings) = check_json(&chart);
    assert!(
        of_rule(&findings, "SOC-SYS-027").iter().any(|f| f
            .starts_with("argocd/prod/applications/external-secrets.yaml:")
            && f.contains(
                "ServiceAccount data-platform-core/external-secrets takes role acme-prod-velero"
            )),
        "{findings:#?}"
    );
    // A chart that keeps its main account elsewhere in its values, as
    // its facts say: Velero's server account, under serviceAccount.server.
    let chart = edit(
        &files,
        velero_values,
        server,
        "serviceAccount:\n  server:\n    name: velero-server\n    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/acme-prod-external-secrets\n",
    );
    let (_, findings) = check_json(&chart);
    assert!(
        of_rule(&findings, "SOC-SYS-027").iter().any(|f| f
            .starts_with("argocd/prod/applications/velero.yaml:")
            && f.contains(
                "ServiceAccount velero/velero-server takes role acme-prod-external-secrets"
            )),
        "{findings:#?}"
    );
    // A role the Terraform does not create is not judged, and says so.
    let (code, report) = check_report(&annotate(&files, "made-elsewhere"));
    assert_eq!(code, 0, "{report:#}");
    assert!(
        not_modelled(&report).iter().any(|g| g.contains("ServiceAccount data-platform-datalab/zeppelin-server takes role \"made-elsewhere\", which the environment's Terraform does not create")),
        "{report:#}"
    );

    // The IRSA role trusting Zeppelin's server: the account must name it.
    let zeppelin = on_irsa("data-platform-datalab:zeppelin-server");
    let (code, findings) = check_json(&zeppelin);
    assert_eq!(code, 1);
    assert!(
        of_rule(&findings, "SOC-SYS-027").iter().any(|f| f.starts_with("terraform/prod/irsa.tf:") && f.contains("role acme-prod-velero-irsa trusts service account data-platform-datalab/zeppelin-server by web identity (IRSA), but that ServiceAccount does not name the role")),
        "{findings:#?}"
    );
    let (_, findings) = check_json(&annotate(&zeppelin, "acme-prod-velero-irsa"));
    assert_eq!(of_rule(&findings, "SOC-SYS-027"), Vec::<String>::new());

    // A trust policy only a plan knows: said, and Velero, whose only role
    // it was, is not taken as signed in.
    let mut opaque = velero.clone();
    let irsa_tf = text(&velero, "terraform/prod/irsa.tf");
    let start = irsa_tf
        .find("  assume_role_policy = jsonencode(")
        .expect("trust");
    let end = irsa_tf[start..].find("\n  })\n").expect("end") + start + "\n  })\n".len();
    opaque.insert(
        "terraform/prod/irsa.tf".into(),
        format!("{}  assume_role_policy = var.velero_trust\n{}\nvariable \"velero_trust\" {{ type = string }}\n", &irsa_tf[..start], &irsa_tf[end..]).into_bytes(),
    );
    let (code, report) = check_report(&opaque);
    assert_eq!(code, 1, "{report:#}");
    assert!(
        not_modelled(&report).iter().any(|g| g.contains("role acme-prod-velero-irsa: its trust policy is not known before a plan: who may take it (EKS Pod Identity, or service accounts by web identity) is not judged")),
        "{report:#}"
    );
    let (_, findings) = check_json(&opaque);
    assert!(
        of_rule(&findings, "SOC-SYS-025")
            .iter()
            .any(|f| f.contains("velero/velero-server")),
        "{findings:#?}"
    );
}

/// A pull request that turns the cluster's NetworkPolicy enforcement off
/// in the Terraform is caught at its commit by `--range`, between commits
/// that reuse the remembered model (a README edit changes no file the
/// model reads).
#[test]
fn a_range_sees_a_terraform_change_at_its_commit() {
    use crate::range::{commit, edit};
    let tmp = tempfile::tempdir().expect("temporary directory");
    let spec = tmp.path().join("socle.yaml");
    fs_err::write(&spec, eks_spec()).expect("spec");
    let dir = tmp.path().join("r");
    let out = Command::new(env!("CARGO_BIN_EXE_socle"))
        .args(["new", "-q", "--spec"])
        .arg(&spec)
        .arg("--out")
        .arg(&dir)
        .output()
        .expect("socle new");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    crate::support::git(&dir, &["config", "user.email", "ci@example.invalid"]);
    crate::support::git(&dir, &["config", "user.name", "CI"]);
    let base = crate::support::git(&dir, &["rev-parse", "HEAD"]);
    edit(&dir, "README.md", "# ", "# Platform: ");
    commit(&dir, "Retitle the README");
    edit(
        &dir,
        "terraform/prod/cluster.tf",
        "enableNetworkPolicy = \"true\"",
        "enableNetworkPolicy = \"false\"",
    );
    commit(&dir, "Turn the policy agent off");
    edit(&dir, "README.md", "# Platform: ", "# The platform: ");
    commit(&dir, "Retitle the README again");
    let out = Command::new(env!("CARGO_BIN_EXE_socle"))
        .arg("check")
        .arg(&dir)
        .args(["--range", &format!("{base}..HEAD"), "--format", "json"])
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .output()
        .expect("socle check");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(out.status.code(), Some(1), "{json:#}");
    let list = crate::range::findings(&json);
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["rule"], "SOC-SYS-019");
    assert_eq!(list[0]["file"], "terraform/prod/cluster.tf");
    assert!(
        list[0]["commit"]
            .as_str()
            .is_some_and(|c| c.contains("\"Turn the policy agent off\"")),
        "{list:#?}"
    );
}

/// Zeppelin's notes move to S3 once the spec names prod's account: its
/// client (the AWS SDK for Java v1) takes the server's role by web
/// identity, which its configuration names. The Terraform then trusts the
/// cluster's token issuer and opens STS inside the network; kustomize
/// builds a server with the role's annotation, its projected token and no
/// key, whose notes are copied in with rclone; `socle check` finds the
/// whole system right, checkov fails none of its checks and `terraform
/// validate` passes. Without the account the notes stay in MinIO, and the
/// README says what would move them.
#[test]
fn zeppelin_notes_move_to_s3_by_web_identity_once_the_account_is_named() {
    let without = crate::support::render_eks();
    let tenant = text(&without, "components/minio/values-prod.yaml");
    assert!(tenant.contains("- name: notebooks"), "{tenant}");
    assert!(!text(&without, "terraform/prod/buckets.tf").contains("notebooks"));
    assert!(!text(&without, "terraform/prod/cluster.tf").contains("openid_connect"));
    // STS answers inside the network either way: the catalog assumes the
    // role it vends Iceberg credentials from there.
    assert!(text(&without, "terraform/prod/network.tf").contains("\"sts\""));
    let readme = text(&without, "terraform/prod/README.md");
    assert!(
        readme.contains("**zeppelin's buckets** stay in the cluster's store")
            && readme.contains("`cloud.account_id`"),
        "{readme}"
    );

    let files = crate::support::render_eks_account();
    let role = "arn:aws:iam::123456789012:role/acme-prod-zeppelin";
    assert!(text(&files, "terraform/prod/buckets.tf").contains("bucket = \"acme-prod-notebooks\""));
    // With the data domains' buckets, S3 holds every bucket of prod: no
    // MinIO runs there to keep the notes.
    assert!(!files.contains_key("components/minio/values-prod.yaml"));
    let identity = text(&files, "terraform/prod/identity.tf");
    assert!(
        identity.contains("\"sts:AssumeRoleWithWebIdentity\"")
            && identity.contains(
                "values   = [\"system:serviceaccount:data-platform-datalab:zeppelin-server\"]"
            )
            && !identity.contains("service_account = \"zeppelin-server\""),
        "{identity}"
    );
    assert!(text(&files, "terraform/prod/cluster.tf")
        .contains("resource \"aws_iam_openid_connect_provider\" \"cluster\""));
    assert!(text(&files, "terraform/prod/network.tf").contains("\"secretsmanager\", \"sts\","));
    assert!(text(&files, "terraform/prod/README.md").contains(role));
    assert!(!files.contains_key("components/zeppelin/overlays/prod/externalsecret.yaml"));
    assert!(files.contains_key("components/zeppelin/overlays/staging/externalsecret.yaml"));
    // Zeppelin reads the Iceberg tables with Lakekeeper's credentials: with
    // its notes gone, it has no keys in prod.
    let dir = materialise(&files);
    let (code, listed, err) = socle_in(dir.path(), &["secrets", "list", ".", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(!listed.contains("acme/prod/zeppelin/s3"), "{listed}");
    let egress = text(
        &files,
        "platform/overlays/prod/namespaces/datalab/egress.yaml",
    );
    assert!(
        egress.contains("name: allow-external-token-service"),
        "{egress}"
    );

    let (code, findings) = check_json(&files);
    assert_eq!((code, findings.len()), (0, 0), "{findings:#?}");
    // The server's account without the role's name: EKS would project no
    // token, and the check says so.
    let (_, findings) = check_json(&crate::support::with_replaced(
        &files,
        "components/zeppelin/overlays/prod/kustomization.yaml",
        &format!("eks.amazonaws.com/role-arn: {role}"),
        "eks.amazonaws.com/audience: sts.amazonaws.com",
    ));
    assert!(
        crate::support::finds(
            &findings,
            "SOC-SYS-027",
            &[
                "acme-prod-zeppelin",
                "data-platform-datalab/zeppelin-server"
            ]
        ),
        "{findings:#?}"
    );

    // Without STS's endpoint in the network, its public addresses are not
    // among those the namespace may reach (the spec's are documentation
    // ones): the server would never get its credentials.
    let public_sts = crate::support::with_replaced(
        &files,
        "terraform/prod/network.tf",
        "\"secretsmanager\", \"sts\",",
        "\"secretsmanager\",",
    );
    let (_, findings) = check_json(&public_sts);
    assert!(
        crate::support::finds(
            &findings,
            "SOC-SYS-018",
            &[
                "data-platform-datalab/zeppelin-server",
                "STS (its public endpoint"
            ]
        ),
        "{findings:#?}"
    );
    // Egress opened to one provider range: STS may answer from elsewhere,
    // which socle cannot know; said as a warning, not passed in silence.
    // Opened to every public address: nothing to say.
    // (The catalog's namespace too, which assumes its vending role there,
    // and NiFi's and the Spark loads', which take theirs there.)
    let opened = |block: &str| {
        let mut changed = public_sts.clone();
        for id in ["datalab", "storage", "integration", "processing"] {
            let egress = format!("platform/overlays/prod/namespaces/{id}/egress.yaml");
            changed.insert(
                egress.clone(),
                format!(
                    "{}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: allow-aws-apis\n  namespace: data-platform-{id}\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n    - to:\n        - ipBlock: {block}\n      ports:\n        - {{ port: 443, protocol: TCP }}\n",
                    text(&files, &egress).trim_end()
                )
                .into_bytes(),
            );
        }
        check_json(&changed)
    };
    let (code, findings) = opened("{ cidr: 52.94.0.0/16 }");
    assert_eq!(code, 0, "a warning: {findings:#?}");
    assert!(
        crate::support::finds(
            &findings,
            "SOC-SYS-033",
            &[
                "service account data-platform-datalab/zeppelin-server reaches STS (its public endpoint, port 443)",
                "only through ipBlock 52.94.0.0/16 of platform/overlays/prod/namespaces/datalab/egress.yaml:"
            ]
        ),
        "{findings:#?}"
    );
    assert!(
        !findings.iter().any(|f| f["rule"] == "SOC-SYS-018"),
        "{findings:#?}"
    );
    let (code, findings) =
        opened("{ cidr: 0.0.0.0/0, except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16] }");
    assert_eq!(code, 0, "{findings:#?}");
    assert!(
        !findings
            .iter()
            .any(|f| f["rule"] == "SOC-SYS-018" || f["rule"] == "SOC-SYS-033"),
        "{findings:#?}"
    );

    if let Some(kubectl) = tool("kubectl") {
        let built = crate::support::kustomize_build(
            &kubectl,
            dir.path(),
            "components/zeppelin/overlays/prod",
        );
        let account = built
            .iter()
            .find(|d| d["kind"] == "ServiceAccount" && d["metadata"]["name"] == "zeppelin-server")
            .expect("ServiceAccount zeppelin-server");
        assert_eq!(
            account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
            role
        );
        let storage = crate::support::generated(&built, "ConfigMap", "zeppelin-notebook-storage");
        assert_eq!(
            storage["data"]["ZEPPELIN_NOTEBOOK_S3_BUCKET"],
            "acme-prod-notebooks"
        );
        assert_eq!(
            storage["data"]["ZEPPELIN_NOTEBOOK_S3_ENDPOINT"],
            "https://s3.eu-west-3.amazonaws.com"
        );
        assert!(storage["data"].get("AWS_ACCESS_KEY_ID").is_none());
        let pod = &built
            .iter()
            .find(|d| d["kind"] == "StatefulSet")
            .expect("StatefulSet")["spec"]["template"]["spec"];
        let token_mounted = |c: &serde_json::Value| {
            c["volumeMounts"].as_array().is_some_and(|m| {
                m.iter().any(|m| {
                    m["name"] == "aws-iam-token"
                        && m["mountPath"] == "/var/run/secrets/eks.amazonaws.com/serviceaccount"
                })
            })
        };
        // The role, token and region in each container's own env, where
        // EKS's webhook looks before adding its own.
        let named = |c: &serde_json::Value, name: &str| {
            c["env"]
                .as_array()
                .and_then(|e| e.iter().find(|v| v["name"] == name))
                .map(|v| v["value"].clone())
        };
        let server = &pod["containers"][0];
        assert!(token_mounted(server), "{server}");
        assert_eq!(named(server, "AWS_ROLE_ARN"), Some(role.into()));
        assert_eq!(
            named(server, "AWS_STS_REGIONAL_ENDPOINTS"),
            Some("regional".into())
        );
        assert!(!server.to_string().contains("zeppelin-s3"), "{server}");
        let seed = &pod["initContainers"][1];
        assert_eq!(seed["name"], "example-notes");
        assert!(seed["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("rclone/rclone:")));
        assert!(token_mounted(seed), "{seed}");
        assert_eq!(named(seed, "AWS_ROLE_ARN"), Some(role.into()));
    }
    if let Some(stdout) = terraform_validate(&files) {
        assert!(
            stdout.contains("Success! The configuration is valid."),
            "{stdout}"
        );
    }
    crate::support::assert_terraform_passes_hcl2_and_checkov(&files, "prod");
}

/// The example with prod on EKS and its account named: every consumer of
/// the data domains' buckets then signs in by web identity.
pub fn eks_account_spec() -> String {
    eks_spec_with(
        "  - name: prod\n    target: eks\n    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/16, account_id: \"123456789012\"}\n",
    )
}

/// [`eks_account_spec`] with other choices.
fn eks_with_account(choices: &[(&str, &str)]) -> socle::render::FileSet {
    if choices.is_empty() {
        return crate::support::render_eks_account();
    }
    let mut spec = eks_account_spec();
    for (from, to) in choices {
        assert!(spec.contains(from), "{from}");
        spec = spec.replace(from, to);
    }
    render_text(&spec)
}

#[test]
fn the_data_domains_buckets_move_to_s3_once_nifi_and_the_spark_loads_take_their_roles() {
    let files = eks_with_account(&[]);
    let buckets = text(&files, "terraform/prod/buckets.tf");
    for name in ["acme-prod-domain-sales", "acme-prod-domain-supply-chain"] {
        assert!(
            buckets.contains(&format!("bucket = \"{name}\"")),
            "{name}: {buckets}"
        );
    }
    // Their landing files loaded are expired as the store's job did.
    assert_eq!(
        buckets.matches("id     = \"expire-loaded-files\"").count(),
        2,
        "{buckets}"
    );

    // S3 then holds every bucket of prod: no MinIO, no operator, no job
    // protecting its buckets, no client of it in the realm, and no entry
    // for any of them in the store; staging keeps them all.
    for app in ["minio", "minio-operator", "data-protection"] {
        assert!(
            !files.contains_key(&format!("argocd/prod/applications/{app}.yaml")),
            "{app}"
        );
        assert!(
            files.contains_key(&format!("argocd/staging/applications/{app}.yaml")),
            "{app}"
        );
    }
    assert!(!files
        .keys()
        .any(|p| p.starts_with("components/minio/manifests/prod/")
            || p.starts_with("backup/overlays/prod/")));
    assert!(files.contains_key("backup/overlays/staging/configure.sh"));
    let realm = |env: &str| {
        text(
            &files,
            &format!("components/keycloak/manifests/{env}/realm.yaml"),
        )
    };
    assert!(!realm("prod").contains("clientId: minio") && !realm("prod").contains("minio-policy"));
    assert!(
        realm("staging").contains("clientId: minio") && realm("staging").contains("minio-policy")
    );
    let readme = text(&files, "terraform/prod/README.md");
    for id in ["minio", "minio-operator", "data-protection"] {
        assert!(
            readme.contains(&format!("- **{id}** is not deployed in prod:")),
            "{id}: {readme}"
        );
    }
    assert!(
        !readme.contains("**The object store** still runs"),
        "{readme}"
    );
    assert!(!text(&files, "argocd/prod/project.yaml").contains("operator.min.io"));
    let dir = materialise(&files);
    let (code, listed, err) = socle_in(dir.path(), &["secrets", "list", ".", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    for entry in [
        "acme/prod/nifi/s3",
        "acme/prod/pipelines/s3",
        "acme/prod/minio/",
    ] {
        assert!(!listed.contains(entry), "{entry}: {listed}");
    }
    let (code, listed, err) = socle_in(dir.path(), &["secrets", "list", ".", "--env", "staging"]);
    assert_eq!(code, 0, "{err}");
    assert!(listed.contains("acme/staging/minio/oidc"), "{listed}");

    // Each role trusts its component's accounts alone, by web identity (the
    // pipelines': the Spark loads' and the dbt pod's).
    let identity = text(&files, "terraform/prod/identity.tf");
    for subjects in [
        "\"system:serviceaccount:data-platform-integration:nifi\"",
        "\"system:serviceaccount:data-platform-processing:spark-driver\", \"system:serviceaccount:data-platform-processing:dbt\"",
    ] {
        assert!(
            identity.contains(&format!("values   = [{subjects}]")),
            "{subjects}"
        );
    }

    // NiFi: its account names the role, every container has the role and
    // the token, and no key.
    let nifi_role = "arn:aws:iam::123456789012:role/acme-prod-nifi";
    let nifi = crate::support::doc(&files, "components/nifi/values-prod.yaml");
    assert_eq!(
        nifi["cluster"]["managerServiceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
        nifi_role
    );
    let envs = &nifi["cluster"]["additionalSharedEnvs"];
    assert!(
        envs.as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "AWS_ROLE_ARN" && e["value"] == nifi_role),
        "{envs}"
    );
    assert!(!envs.to_string().contains("nifi-s3"), "{envs}");
    let volumes = &nifi["cluster"]["nodeConfigGroups"]["default-group"]["externalVolumeConfigs"];
    assert!(
        volumes.as_array().unwrap().iter().any(|v| v["mountPath"]
            == "/var/run/secrets/eks.amazonaws.com/serviceaccount"
            && v["projected"]["sources"][0]["serviceAccountToken"]["audience"]
                == "sts.amazonaws.com"),
        "{volumes}"
    );
    assert!(!text(
        &files,
        "components/nifi/manifests/prod/externalsecrets.yaml"
    )
    .contains("nifi-s3"));

    // The Spark loads: the drivers' account names the pipelines' role, and
    // drivers and executors take it with Hadoop's web identity provider.
    let pipelines_role = "arn:aws:iam::123456789012:role/acme-prod-pipelines";
    let operator = crate::support::doc(&files, "components/spark-operator/values-prod.yaml");
    assert_eq!(
        operator["spark"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"],
        pipelines_role
    );
    let app = crate::support::doc(&files, "airflow/dags/data_platform/spark/ingest-prod.yaml");
    let conf = &app["spec"]["sparkConf"];
    assert_eq!(
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"],
        "com.amazonaws.auth.WebIdentityTokenCredentialsProvider"
    );
    assert_eq!(
        conf["spark.hadoop.fs.s3a.endpoint"],
        "https://s3.eu-west-3.amazonaws.com"
    );
    for pod in ["driver", "executor"] {
        let spec = &app["spec"][pod];
        assert_eq!(spec["serviceAccount"], "spark-driver", "{pod}");
        assert!(spec["envFrom"].is_null(), "{pod}: {spec}");
        let env = spec["env"].as_array().unwrap();
        assert!(
            env.iter()
                .any(|e| e["name"] == "AWS_ROLE_ARN" && e["value"] == pipelines_role),
            "{pod}"
        );
        assert!(
            spec["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["name"] == "aws-iam-token"),
            "{pod}"
        );
    }
    assert!(!text(&files, "spark/overlays/prod/externalsecrets.yaml").contains("pipelines-s3"));
    assert!(
        text(&files, "spark/overlays/staging/externalsecrets.yaml").contains("name: pipelines-s3")
    );

    let (code, findings) = check_json(&files);
    assert_eq!((code, findings.len()), (0, 0), "{findings:#?}");
    // Either account without the role's name: its pods would get no token.
    for (path, from, role, account) in [
        (
            "components/nifi/values-prod.yaml",
            format!("      eks.amazonaws.com/role-arn: {nifi_role}\n"),
            "acme-prod-nifi",
            "data-platform-integration/nifi",
        ),
        (
            "components/spark-operator/values-prod.yaml",
            format!("      eks.amazonaws.com/role-arn: {pipelines_role}\n"),
            "acme-prod-pipelines",
            "data-platform-processing/spark-driver",
        ),
    ] {
        let (_, findings) = check_json(&crate::support::with_replaced(
            &files,
            path,
            &from,
            "      example.com/unrelated: \"true\"\n",
        ));
        assert!(
            crate::support::finds(&findings, "SOC-SYS-027", &[role, account]),
            "{path}: {findings:#?}"
        );
    }
}

#[test]
fn the_spark_loads_may_write_the_landing_buckets_they_archive_into() {
    // The load moves each file it loaded under archive/: a copy and a
    // delete in the same bucket.
    let files = crate::support::render(None);
    let job = text(&files, "spark/base/jobs/ingest_landing.py");
    assert!(job.contains("fs.rename(source, target)"), "{job}");
    let policies = text(&files, "components/minio/manifests/staging/policies.yaml");
    let pipelines = policies
        .split("pipelines.json: |")
        .nth(1)
        .and_then(|p| p.split("bindings.json").next())
        .unwrap_or_default();
    for action in ["s3:PutObject", "s3:DeleteObject"] {
        assert!(pipelines.contains(action), "{action}: {pipelines}");
    }
    // And so may their role in S3.
    let eks = eks_with_account(&[]);
    let identity = text(&eks, "terraform/prod/identity.tf");
    let role = identity
        .split("data \"aws_iam_policy_document\" \"pipelines_buckets\"")
        .nth(1)
        .unwrap_or_default();
    assert!(
        role.contains("\"s3:PutObject\"") && role.contains("\"s3:DeleteObject\""),
        "{role}"
    );
}

#[test]
fn a_bucket_the_cloud_holds_is_drawn_to_it_though_its_consumer_names_the_store() {
    // With OpenMetadata, Airflow names the cluster's store for the dbt
    // artifacts; its logs are in S3.
    let files = eks_with_account(&[("catalog: datahub ", "catalog: openmetadata ")]);
    let (code, findings) = check_json(&files);
    assert_eq!((code, findings.len()), (0, 0), "{findings:#?}");
    let dir = materialise(&files);
    let (code, graph, err) = socle_in(dir.path(), &["graph", ".", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        graph.contains("airflow_prod -->|\"bucket acme-prod-airflow-logs\"| S3__terraform_"),
        "{graph}"
    );
    assert!(!graph.contains("linkStyle"), "{graph}");
    assert!(text(&files, "components/airflow/values-prod.yaml").contains("PLATFORM_S3_ENDPOINT"));
    assert!(!text(
        &eks_with_account(&[]),
        "components/airflow/values-prod.yaml"
    )
    .contains("PLATFORM_S3_ENDPOINT"));
}

/// Airbyte on EKS keeps its job logs and state in S3 and writes the data
/// domains' buckets there, as its own account (`airbyte-admin`, which the
/// connector pods run as too) by EKS Pod Identity: its storage is the
/// chart's `s3` type with no key, the Secret's keys are empty (the chart
/// reads them whatever the type), and MinIO leaves prod. Staging keeps
/// MinIO and its keys; on GKE, where Airbyte's storage client reads a key
/// file, so does prod. Without the association the check denies.
#[test]
fn airbyte_stores_in_s3_as_its_account_on_eks() {
    // The account, for the pipelines' role (web identity), which the
    // domains' buckets need to move too.
    let spec = eks_spec_with(
        "  - name: prod\n    target: eks\n    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/16, account_id: \"123456789012\"}\n",
    )
    .replace("ingestion: nifi ", "ingestion: airbyte ");
    assert!(
        spec.contains("ingestion: airbyte "),
        "the example's ingestion line changed"
    );
    let files = render_text(&spec);
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");

    let values = |env: &str| text(&files, &format!("components/airbyte/values-{env}.yaml"));
    let prod: serde_json::Value = crate::support::yaml(values("prod")).expect("values");
    let storage = &prod["global"]["storage"];
    assert_eq!(storage["type"], "s3", "{storage}");
    assert_eq!(storage["s3"]["region"], "eu-west-3", "{storage}");
    assert_eq!(
        storage["s3"]["authenticationType"], "instanceProfile",
        "{storage}"
    );
    assert!(storage.get("minio").is_none(), "{storage}");
    for bucket in [
        "log",
        "state",
        "workloadOutput",
        "activityPayload",
        "auditLogging",
    ] {
        assert_eq!(storage["bucket"][bucket], "acme-prod-airbyte", "{bucket}");
    }
    assert!(
        values("staging").contains("endpoint: http://minio."),
        "{}",
        values("staging")
    );

    let secrets = |env: &str| -> serde_json::Value {
        crate::support::yaml(text(
            &files,
            &format!("components/airbyte/manifests/{env}/externalsecrets.yaml"),
        ))
        .expect("ExternalSecret")
    };
    let reads = |s: &serde_json::Value| -> Vec<String> {
        s["spec"]["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| d["secretKey"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let prod = secrets("prod");
    assert!(
        !reads(&prod).iter().any(|k| k.starts_with("AWS_")),
        "{prod}"
    );
    let template = &prod["spec"]["target"]["template"];
    assert_eq!(template["mergePolicy"], "Merge", "{prod}");
    for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        assert_eq!(template["data"][key], "", "{prod}");
        assert!(reads(&secrets("staging")).iter().any(|k| k == key));
    }

    let identity = text(&files, "terraform/prod/identity.tf");
    let association = crate::support::resource(
        identity,
        "\"aws_eks_pod_identity_association\" \"airbyte_airbyte_admin\"",
    );
    assert!(
        association.contains("service_account = \"airbyte-admin\""),
        "{association}"
    );
    assert!(
        association.contains("\"data-platform-integration\""),
        "{association}"
    );
    let buckets = text(&files, "terraform/prod/buckets.tf");
    for bucket in [
        "acme-prod-airbyte",
        "acme-prod-domain-sales",
        "acme-prod-domain-supply-chain",
    ] {
        assert!(buckets.contains(&format!("\"{bucket}\"")), "{bucket}");
    }
    assert!(!files.contains_key("argocd/prod/applications/minio.yaml"));
    assert!(files.contains_key("argocd/staging/applications/minio.yaml"));
    // The cost, in the README's risks: the connectors hold the role.
    let readme = text(&files, "README.md");
    assert!(
        readme.contains("**Airbyte's connectors hold its role in prod.**")
            && !readme.contains("hold its role in staging"),
        "{readme}"
    );
    let runbook = text(&files, "runbooks/components/airbyte.md");
    for domain in ["sales", "supply-chain"] {
        assert!(
            runbook.contains(&format!(
                "  - `acme-prod-domain-{domain}`: Amazon S3, region `eu-west-3`, no access key"
            )),
            "{runbook}"
        );
    }
    assert!(!runbook.contains("`acme/prod/airbyte/s3`"), "{runbook}");

    // Without the account the pipelines and NiFi keep their keys, so the
    // domains' buckets stay in MinIO: Airbyte's own bucket alone moves,
    // and its destinations there keep the store's keys.
    let without = render_text(&eks_spec().replace("ingestion: nifi ", "ingestion: airbyte "));
    let (code, findings) = check_json(&without);
    assert_eq!(code, 0, "{findings:#?}");
    assert!(text(&without, "components/airbyte/values-prod.yaml").contains("type: s3"));
    let runbook = text(&without, "runbooks/components/airbyte.md");
    assert!(
        runbook.contains("  - `domain-sales`: S3-compatible, endpoint `http://minio.")
            && runbook.contains("`acme/prod/airbyte/s3`")
            && !runbook.contains("Amazon S3"),
        "{runbook}"
    );
    assert!(
        text(&without, "README.md")
            .contains("Airbyte's buckets\n  are in S3 there (`acme-prod-airbyte`),"),
        "{}",
        text(&without, "README.md")
    );

    crate::support::assert_denies(
        &crate::support::without_resource(
            &files,
            "terraform/prod/identity.tf",
            "\"aws_eks_pod_identity_association\" \"airbyte_airbyte_admin\"",
        ),
        "SOC-SYS-025",
        &[
            "acme-prod-airbyte",
            "data-platform-integration/airbyte-admin",
        ],
    );

    // Keys in the Secret would be what the pods sign in with: from the
    // store, or written in the template.
    let secret = "components/airbyte/manifests/prod/externalsecrets.yaml";
    let template = "    template:\n      mergePolicy: Merge\n      data:\n        AWS_ACCESS_KEY_ID: \"\"\n        AWS_SECRET_ACCESS_KEY: \"\"\n";
    let from_store = crate::support::with_replaced(
        &crate::support::with_replaced(&files, secret, template, ""),
        secret,
        "  data:\n",
        "  data:\n    - secretKey: AWS_ACCESS_KEY_ID\n      remoteRef: {key: acme/prod/airbyte/s3, property: access-key}\n    - secretKey: AWS_SECRET_ACCESS_KEY\n      remoteRef: {key: acme/prod/airbyte/s3, property: secret-key}\n",
    );
    crate::support::assert_denies(
        &from_store,
        "SOC-SYS-025",
        &[
            "acme-prod-airbyte",
            "access keys from Secret data-platform-integration/airbyte-config-secrets (AWS_ACCESS_KEY_ID, filled from entry acme/prod/airbyte/s3",
        ],
    );
    crate::support::assert_denies(
        &crate::support::with_replaced(
            &files,
            secret,
            "AWS_ACCESS_KEY_ID: \"\"",
            "AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLE",
        ),
        "SOC-SYS-025",
        &["filled with a literal value of its template"],
    );

    let gke = crate::support::render_text(&spec.replace(
        "    target: eks\n    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/16, account_id: \"123456789012\"}\n",
        "    target: gke\n    cloud: {project: acme-data-prod, region: europe-west9, vpc_cidr: 10.30.0.0/16}\n",
    ));
    let values = text(&gke, "components/airbyte/values-prod.yaml");
    assert!(
        values.contains("endpoint: http://minio.") && !values.contains("type: s3"),
        "{values}"
    );
    assert!(gke.contains_key("argocd/prod/applications/minio.yaml"));
}

/// A manifest's container given an access key from a Secret the secret
/// store fills signs in with it before its pod identity: Zeppelin's notes
/// are in S3 (the account named), and one of its pods taking
/// `AWS_ACCESS_KEY_ID` from an ExternalSecret's entry is SOC-SYS-025, as
/// a chart's would be.
#[test]
fn a_manifests_access_key_shadows_its_pod_identity() {
    let files = crate::support::render_eks_account();
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
    let keyed = crate::support::with_oauth2_proxy_env(
        &files,
        "            - name: AWS_ACCESS_KEY_ID\n              valueFrom: {secretKeyRef: {name: zeppelin-oauth2-proxy, key: cookie-secret}}\n",
    );
    crate::support::assert_denies(
        &keyed,
        "SOC-SYS-025",
        &[
            "Application \"zeppelin-prod\"",
            "access keys from Secret data-platform-datalab/zeppelin-oauth2-proxy (cookie-secret, filled from entry acme/prod/zeppelin/oauth2-proxy",
        ],
    );
}

/// A key in the storage client's own configuration is signed with before
/// the pod identity is asked: Loki's `accessKeyId`, which prod's values
/// empty (`null`) where the pod identity replaces the keys, given back is
/// SOC-SYS-025 at its line.
#[test]
fn a_storage_clients_configured_key_shadows_its_pod_identity() {
    let files = crate::support::render_eks();
    let loki = "components/loki/values-prod.yaml";
    let keyed = crate::support::with_replaced(
        &files,
        loki,
        "      accessKeyId: null\n",
        "      accessKeyId: ${LOKI_S3_ACCESS_KEY}\n",
    );
    crate::support::assert_denied_at(
        &keyed,
        "SOC-SYS-025",
        &[
            "Application \"loki-prod\"",
            "its storage client's configuration gives it an access key (accessKeyId: ${LOKI_S3_ACCESS_KEY})",
        ],
        loki,
        crate::support::line_of(&keyed, loki, |l| l.contains("accessKeyId"), 0),
    );
}
