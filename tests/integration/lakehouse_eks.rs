//! The lakehouse on Amazon EKS: prod's cluster, RDS and S3 from its own
//! Terraform (none of the data platform's files), Dremio's storage in S3
//! through a role it takes by web identity (IRSA), Elasticsearch's
//! snapshots through a pod identity, and the whole judged by socle check,
//! kustomize, python-hcl2, checkov and terraform validate.

use std::collections::BTreeSet;

use crate::support::{check_json, finds, materialise, render_text, socle_in, text, tool};

const ACCOUNT: &str = "111122223333";

/// The lakehouse example with prod on EKS, in account [`ACCOUNT`].
pub fn spec() -> String {
    spec_with(&format!(
        "    cloud: {{region: eu-west-3, vpc_cidr: 10.30.0.0/16, account_id: \"{ACCOUNT}\"}}\n"
    ))
}

/// The example with prod on EKS, its `cloud` line being `cloud`.
fn spec_with(cloud: &str) -> String {
    crate::support::lakehouse_prod_on("eks", cloud)
}

const TERRAFORM: [&str; 13] = [
    "README.md",
    "eks.tf",
    "encryption.tf",
    "identities.tf",
    "logging.tf",
    "main.tf",
    "network.tf",
    "outputs.tf",
    "postgresql.tf",
    "registry.tf",
    "secret-store.yaml",
    "storage.tf",
    "variables.tf",
];

/// The names of a namespace's egress policies in prod.
fn egress(files: &socle::render::FileSet, ns: &str) -> BTreeSet<String> {
    let path = format!("platform/overlays/prod/namespaces/{ns}/egress.yaml");
    text(files, &path)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name: allow-external-"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn prod_on_eks_gets_its_own_terraform_rds_and_s3_and_passes_socle_check() {
    let files = crate::support::render_lakehouse_eks();
    let tf: Vec<&str> = files
        .keys()
        .filter_map(|p| p.strip_prefix("terraform/prod/"))
        .collect();
    assert_eq!(tf, TERRAFORM);
    assert!(!files.keys().any(|p| p.starts_with("terraform/staging/")));

    // RDS in place of CloudNativePG: its stand-in keeps the name the
    // consumers use and creates their roles and databases.
    for gone in ["cloudnative-pg", "barman-cloud", "postgresql"] {
        assert!(!files.contains_key(&format!("argocd/prod/applications/{gone}.yaml")));
        assert!(files.contains_key(&format!("argocd/staging/applications/{gone}.yaml")));
    }
    assert!(files.contains_key("argocd/prod/applications/managed-postgresql.yaml"));
    // The node group grows and shrinks with the pods, on EKS only.
    assert!(files.contains_key("argocd/prod/applications/cluster-autoscaler.yaml"));
    assert!(!files.contains_key("argocd/staging/applications/cluster-autoscaler.yaml"));
    let autoscaler = text(&files, "components/cluster-autoscaler/values-prod.yaml");
    assert!(
        autoscaler.contains("clusterName: \"acme-prod\""),
        "{autoscaler}"
    );
    let service = text(
        &files,
        "components/managed-postgresql/overlays/prod/service.yaml",
    );
    assert!(
        service.contains("externalName: postgresql.acme-prod.internal"),
        "{service}"
    );
    let provision = text(
        &files,
        "components/managed-postgresql/overlays/prod/provision.yaml",
    );
    for line in [
        "    airbyte airbyte\n",
        "    temporal airbyte\n",
        "    superset superset\n",
    ] {
        assert!(provision.contains(line), "{line:?} in {provision}");
    }
    let rds = text(&files, "terraform/prod/postgresql.tf");
    assert!(rds.contains("  multi_az = true\n"), "{rds}");
    assert!(
        rds.contains("name    = \"postgresql.acme-prod.internal\""),
        "{rds}"
    );

    // Dremio's bucket moved to S3 under the client's and environment's
    // names; it signs in by web identity, with no key anywhere.
    let storage = text(&files, "terraform/prod/storage.tf");
    assert!(
        storage.contains("bucket = \"acme-prod-dremio\""),
        "{storage}"
    );
    assert!(
        storage.contains("prefix = \"prod/catalog-backups/\""),
        "{storage}"
    );
    let role = format!("arn:aws:iam::{ACCOUNT}:role/acme-prod-dremio");
    let profile = text(&files, "components/dremio/overlays/prod/aws-profile");
    assert!(
        profile.contains(&format!("role_arn = {role}\n")),
        "{profile}"
    );
    assert!(
        profile.contains(
            "web_identity_token_file = /var/run/secrets/eks.amazonaws.com/serviceaccount/token"
        ),
        "{profile}"
    );
    assert!(!profile.contains("aws_access_key_id"));
    let conf = text(&files, "components/dremio/overlays/prod/dremio.conf");
    assert!(
        conf.contains("dist: \"dremioS3:///acme-prod-dremio/prod\""),
        "{conf}"
    );
    let site = text(&files, "components/dremio/overlays/prod/core-site.xml");
    assert!(
        site.contains("<value>s3.eu-west-3.amazonaws.com</value>"),
        "{site}"
    );
    assert!(!site.contains("dremio.s3.compat"), "{site}");
    assert!(!files.contains_key("components/dremio/overlays/prod/externalsecret.yaml"));
    let backup = text(
        &files,
        "components/dremio/overlays/prod/catalog-backup.yaml",
    );
    assert!(!backup.contains("dremio-backup-s3"), "{backup}");
    assert!(!backup.contains("mc rm"), "{backup}");
    let identities = text(&files, "terraform/prod/identities.tf");
    assert!(
        identities.contains("values   = [\"system:serviceaccount:lakehouse-query:dremio\"]"),
        "{identities}"
    );
    assert!(text(&files, "terraform/prod/eks.tf").contains("aws_iam_openid_connect_provider"));
    // Every container's logs go to CloudWatch, in groups kept and
    // encrypted as the Terraform says.
    assert!(text(&files, "terraform/prod/eks.tf")
        .contains("addon_name                  = \"amazon-cloudwatch-observability\""));
    assert!(text(&files, "terraform/prod/logging.tf")
        .contains("/aws/containerinsights/${local.name}/${each.key}"));
    // Staging keeps the client's store and its keys.
    assert!(!files.contains_key("components/dremio/overlays/staging/aws-profile"));
    assert!(files.contains_key("components/dremio/overlays/staging/externalsecret.yaml"));
    let staging = text(&files, "components/dremio/overlays/staging/dremio.conf");
    assert!(
        staging.contains("dist: \"dremioS3:///dremio/staging\""),
        "{staging}"
    );

    // Elasticsearch snapshots to the Terraform's backups bucket with its
    // pod identity: no key in its keystore.
    let es = text(&files, "components/elasticsearch/values-prod.yaml");
    assert!(es.contains("serviceAccountName: elasticsearch"), "{es}");
    assert!(!es.contains("secureSettings"), "{es}");
    let snapshots = text(
        &files,
        "components/elasticsearch/manifests/prod/snapshots.yaml",
    );
    assert!(!snapshots.contains("elasticsearch-s3"), "{snapshots}");
    assert!(
        snapshots.contains("\"bucket\": \"acme-prod-backups\""),
        "{snapshots}"
    );

    // Egress follows the identities: Dremio's namespace reaches S3 and STS
    // in the network, not the client's store; Airbyte's bucket stayed
    // there, with its keys; the agent is reached by the pod identities'.
    assert_eq!(
        egress(&files, "query"),
        BTreeSet::from(["cloud-buckets".into(), "token-service".into()])
    );
    assert!(egress(&files, "ingestion").contains("object-storage"));
    assert!(egress(&files, "storage").contains("workload-identity"));
    assert!(egress(&files, "storage").contains("databases"));
    assert_eq!(
        egress(&files, "core"),
        BTreeSet::from([
            "cloud-api".into(),
            "secret-store".into(),
            "workload-identity".into()
        ])
    );
    assert!(!egress(&files, "query").contains("workload-identity"));

    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
    assert!(findings.is_empty(), "{findings:#?}");

    // The store holds no key for what signs in with an identity; the
    // database's administrator is the entry the Terraform writes.
    let dir = materialise(&files);
    let (code, out, err) = socle_in(dir.path(), &["secrets", "list", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("acme/prod/dremio/s3"), "{out}");
    assert!(!out.contains("acme/prod/backup-target/s3"), "{out}");
    assert!(out.contains("acme/prod/airbyte/s3"), "{out}");
    assert!(
        out.contains("acme/prod/postgresql/admin")
            && out.contains("(written by terraform/prod/postgresql.tf:"),
        "{out}"
    );

    // Without the ServiceAccount's annotation, EKS projects no token and
    // the role's trust is never met.
    let path = "components/dremio/overlays/prod/kustomization.yaml";
    let kustomization = text(&files, path);
    let start = kustomization
        .find("  # The role its token is for")
        .expect("patch");
    let end = kustomization[start..]
        .find("  - target:\n      kind: StatefulSet")
        .expect("next patch")
        + start;
    let mut unannotated = files.clone();
    unannotated.insert(
        path.into(),
        format!("{}{}", &kustomization[..start], &kustomization[end..]).into_bytes(),
    );
    let (code, findings) = check_json(&unannotated);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-027",
            &[
                "acme-prod-dremio",
                "lakehouse-query/dremio",
                "eks.amazonaws.com/role-arn"
            ]
        ),
        "{findings:#?}"
    );

    // The same role name in another account is another role: the
    // Terraform's is then named by no ServiceAccount, and the other is not
    // judged, which the report says.
    let mut elsewhere = files.clone();
    elsewhere.insert(
        path.into(),
        kustomization
            .replace(&role, "arn:aws:iam::222233334444:role/acme-prod-dremio")
            .into_bytes(),
    );
    let (code, report) = crate::support::check_report(&elsewhere);
    assert_eq!(code, 1);
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    assert!(
        finds(
            &findings,
            "SOC-SYS-027",
            &[
                "acme-prod-dremio",
                "does not name the role in eks.amazonaws.com/role-arn"
            ]
        ),
        "{findings:#?}"
    );
    assert!(
        crate::support::not_modelled(&report).iter().any(|g| g.contains(
            "takes role \"acme-prod-dremio\" of account 222233334444, where the environment's Terraform (kept to 111122223333) creates no role"
        )),
        "{report:#}"
    );

    // Without egress to the VPC's range on 443 (the token service's and
    // S3's endpoints), Dremio's pods cannot exchange their token at STS.
    let path = "platform/overlays/prod/namespaces/query/egress.yaml";
    let kept: Vec<&str> = text(&files, path)
        .split("\n---\n")
        .filter(|d| {
            !d.contains("allow-external-token-service")
                && !d.contains("allow-external-cloud-buckets")
        })
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
                "lakehouse-query/dremio takes AWS role acme-prod-dremio by web identity (IRSA)",
                "deny egress to STS (its interface endpoint in subnets 10.30.0.0/18, 10.30.64.0/18, 10.30.128.0/18, port 443)"
            ]
        ),
        "{findings:#?}"
    );
    // Nor S3 at its endpoint, whatever the role grants.
    assert!(
        finds(
            &findings,
            "SOC-SYS-024",
            &[
                "uses bucket \"acme-prod-dremio\" with the identity of lakehouse-query/dremio",
                "does not reach S3 (its interface endpoint in subnets 10.30.0.0/18"
            ]
        ),
        "{findings:#?}"
    );
    // Without Secrets Manager's interface endpoint, its name resolves to
    // public addresses, which the operator's egress (the VPC's range, the
    // agent) does not reach: no Secret would ever be written.
    let network = text(&files, "terraform/prod/network.tf");
    let mut public = files.clone();
    public.insert(
        "terraform/prod/network.tf".into(),
        network
            .replacen("\"s3\", \"secretsmanager\", \"sts\"", "\"s3\", \"sts\"", 1)
            .into_bytes(),
    );
    assert_ne!(text(&public, "terraform/prod/network.tf"), network);
    let (code, findings) = check_json(&public);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-024",
            &[
                "as the External Secrets operator lakehouse-core/external-secrets",
                "does not reach Secrets Manager (its public endpoint, port 443;"
            ]
        ),
        "{findings:#?}"
    );

    // Every pod identity trusts the agent with both its actions; without
    // sts:TagSession, each is refused, the add-ons' included, in the
    // namespace each add-on creates.
    let untagged = identities.replacen(
        "actions = [\"sts:AssumeRole\", \"sts:TagSession\"]",
        "actions = [\"sts:AssumeRole\"]",
        1,
    );
    assert_ne!(untagged, identities);
    let mut refused = files.clone();
    refused.insert("terraform/prod/identities.tf".into(), untagged.into_bytes());
    let (code, findings) = check_json(&refused);
    assert_eq!(code, 1);
    for account in [
        "amazon-cloudwatch/cloudwatch-agent",
        "kube-system/ebs-csi-controller-sa",
        "lakehouse-core/external-secrets",
        "lakehouse-core/cluster-autoscaler",
        "lakehouse-storage/elasticsearch",
    ] {
        assert!(
            finds(
                &findings,
                "SOC-SYS-027",
                &[&format!("service account {account} gets role")]
            ),
            "{account}: {findings:#?}"
        );
    }
    assert!(
        !findings.iter().any(|f| f["rule"] == "SOC-SYS-020"),
        "{findings:#?}"
    );

    // A trust naming another account refuses Dremio's token.
    let mut other = files.clone();
    other.insert(
        "terraform/prod/identities.tf".into(),
        identities
            .replace(
                "system:serviceaccount:lakehouse-query:dremio",
                "system:serviceaccount:lakehouse-query:other",
            )
            .into_bytes(),
    );
    let (code, findings) = check_json(&other);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-027",
            &["lakehouse-query/dremio", "does not admit it"]
        ),
        "{findings:#?}"
    );
}

/// kustomize builds what Argo CD syncs in prod: Dremio with its profile
/// and its projected token, the default StorageClass, the RDS stand-in.
#[test]
fn kustomize_builds_the_eks_overlays() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let files = crate::support::render_lakehouse_eks();
    let dir = materialise(&files);
    let build = |overlay: &str| crate::support::kustomize_build(&kubectl, dir.path(), overlay);
    let dremio = build("components/dremio/overlays/prod");
    let account = dremio
        .iter()
        .find(|d| d["kind"] == "ServiceAccount" && d["metadata"]["name"] == "dremio")
        .expect("ServiceAccount dremio");
    assert_eq!(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        format!("arn:aws:iam::{ACCOUNT}:role/acme-prod-dremio")
    );
    for name in ["dremio-master", "dremio-executor"] {
        let set = dremio
            .iter()
            .find(|d| d["kind"] == "StatefulSet" && d["metadata"]["name"] == name)
            .expect(name);
        let pod = &set["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "dremio");
        let volumes = pod["volumes"].as_array().expect("volumes");
        let s3 = volumes.iter().find(|v| v["name"] == "s3").expect("s3");
        assert!(
            s3["configMap"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("dremio-aws-profile-")),
            "{s3}"
        );
        assert!(s3.get("secret").is_none(), "{s3}");
        let token = volumes
            .iter()
            .find(|v| v["name"] == "aws-iam-token")
            .expect("token volume");
        assert_eq!(
            token["projected"]["sources"][0]["serviceAccountToken"]["audience"],
            "sts.amazonaws.com"
        );
        let mounted = pod["containers"][0]["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .any(|m| {
                m["name"] == "aws-iam-token"
                    && m["mountPath"] == "/var/run/secrets/eks.amazonaws.com/serviceaccount"
            });
        assert!(mounted, "{name}");
    }
    let platform = build("platform/overlays/prod");
    let classes: Vec<&serde_json::Value> = platform
        .iter()
        .filter(|d| d["kind"] == "StorageClass")
        .collect();
    assert_eq!(classes.len(), 1);
    assert_eq!(
        classes[0]["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
        "true"
    );
    assert!(build("platform/overlays/staging")
        .iter()
        .all(|d| d["kind"] != "StorageClass"));
    let rds = build("components/managed-postgresql/overlays/prod");
    assert!(rds
        .iter()
        .all(|d| d["metadata"]["namespace"] == "lakehouse-storage"));
    assert!(rds.iter().any(|d| d["kind"] == "Job"));
}

/// Every `.tf` file parses with python-hcl2; checkov's Terraform framework
/// fails none of its checks, and each one skipped inline is in the
/// README's exceptions; the workflow's own step formats and validates the
/// files with terraform and the local provider mirror.
#[test]
fn the_terraform_parses_passes_checkov_and_validates() {
    let files = crate::support::render_lakehouse_eks();
    if let Some(summary) = crate::support::assert_terraform_passes_hcl2_and_checkov(&files, "prod")
    {
        assert!(summary["passed"].as_u64().unwrap_or(0) > 200, "{summary}");
        assert!(summary["skipped"].as_u64().unwrap_or(0) > 0, "{summary}");
    }
    let workflow: serde_json::Value =
        crate::support::yaml(text(&files, ".github/workflows/checks.yaml")).expect("yaml");
    let script = workflow["jobs"]["terraform"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains("validate"))
        .expect("the validate step");
    let dir = materialise(&files);
    let Some(stdout) = crate::support::run_with_terraform_mirror(dir.path(), script) else {
        return;
    };
    assert!(
        stdout.contains("Success! The configuration is valid."),
        "{stdout}"
    );
    assert!(stdout.contains("terraform/prod/: valid"), "{stdout}");
}

/// Dremio's role ARN is written into its pods' configuration: without the
/// environment's account the spec is refused, naming the field.
#[test]
fn web_identity_needs_the_account() {
    let err = crate::support::socle_new_refuses(&spec_with(
        "    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/16}\n",
    ));
    assert!(err.contains("environment \"prod\""), "{err}");
    assert!(
        err.contains("dremio signs in to the cloud's storage by web identity"),
        "{err}"
    );
    assert!(err.contains("cloud.account_id"), "{err}");
    // The same spec with the account renders.
    let files = render_text(&spec());
    assert!(files.contains_key("terraform/prod/identities.tf"));
}

/// `socle blueprint show` says what EKS replaces and adds, and which
/// components run there only.
#[test]
fn blueprint_show_says_what_eks_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = socle_in(dir.path(), &["blueprint", "show", "lakehouse"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("targets: compose, kubernetes, eks, gke, aks"),
        "{out}"
    );
    assert!(
        out.contains("  leaves out postgresql: Amazon RDS for PostgreSQL"),
        "{out}"
    );
    assert!(out.contains("  adds managed-postgresql: "), "{out}");
    for (id, only) in [
        ("managed-postgresql", "on eks, gke, aks only"),
        ("cluster-autoscaler", "on eks only"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(id) && l.ends_with(only)),
            "{id}: {out}"
        );
    }
    assert!(out
        .lines()
        .any(|l| l.trim_start().starts_with("dremio ") && l.ends_with("always")));
}

/// Elasticsearch's snapshot repository (the REST body its Job PUTs, in a
/// ConfigMap) is a use of the backups' bucket under its `base_path`: its
/// grant is judged on every cloud, on the objects under that prefix.
#[test]
fn elasticsearch_snapshots_are_a_bucket_use_judged_on_every_cloud() {
    let repository = "components/elasticsearch/manifests/prod/snapshots.yaml";
    // EKS: the role grants the object actions under elasticsearch/prod/
    // only, which is where the repository writes; under another prefix,
    // the repository's writes are refused.
    let files = crate::support::render_lakehouse_eks();
    assert!(text(&files, repository).contains("\"base_path\": \"elasticsearch/prod\""));
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
    let refused = crate::support::with_replaced(
        &files,
        "terraform/prod/identities.tf",
        "${aws_s3_bucket.backups.arn}/elasticsearch/prod/*",
        "${aws_s3_bucket.backups.arn}/elasticsearch/staging/*",
    );
    let (code, findings) = check_json(&refused);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-022",
            &[
                "\"elasticsearch-prod\"",
                "bucket \"acme-prod-backups\"",
                "missing s3:GetObject, s3:PutObject, s3:DeleteObject"
            ]
        ),
        "{findings:#?}"
    );

    // GKE and AKS: without the object role on the bucket (the container),
    // Cloud Storage (Azure Storage) refuses the nodes.
    for (files, grant, rule) in [
        (
            crate::support::render_lakehouse_gke(),
            "\"elasticsearch_backups\" {\n  bucket = google_storage_bucket.backups.name\n  role   = \"roles/storage.objectUser\"",
            "in Cloud Storage",
        ),
        (
            crate::support::render_lakehouse_aks(),
            "role_definition_name = \"Storage Blob Data Contributor\"\n  principal_id         = azurerm_user_assigned_identity.elasticsearch",
            "in Azure Storage",
        ),
    ] {
        let (code, findings) = check_json(&files);
        assert_eq!(code, 0, "{findings:#?}");
        let reader = grant
            .replace("roles/storage.objectUser", "roles/storage.objectViewer")
            .replace("Storage Blob Data Contributor", "Storage Blob Data Reader");
        let refused =
            crate::support::with_replaced(&files, "terraform/prod/identities.tf", grant, &reader);
        let (code, findings) = check_json(&refused);
        assert_eq!(code, 1, "{rule}");
        assert!(
            finds(
                &findings,
                "SOC-SYS-028",
                &["\"elasticsearch-prod\"", "\"acme-prod-backups\"", rule]
            ),
            "{rule}: {findings:#?}"
        );
    }
}

/// Prod on EKS with a backup site of its own (`backup_target` in the spec)
/// keeps its snapshots there, off the cloud: its egress goes to the
/// addresses the spec gives that site, not to the network's range, no
/// backups' bucket is made in S3, and the repository passes socle check.
#[test]
fn a_cloud_environment_with_its_own_backup_site_reaches_that_site() {
    let spec = spec_with(&format!(
        "    cloud: {{region: eu-west-3, vpc_cidr: 10.30.0.0/16, account_id: \"{ACCOUNT}\"}}\n    backup_target: {{endpoint: \"https://backup.acme.example\", bucket: acme-prod-offsite}}\n"
    ));
    let files = render_text(&spec);
    let es = text(&files, "components/elasticsearch/values-prod.yaml");
    assert!(es.contains("backup.acme.example"), "{es}");
    let storage = text(
        &files,
        "platform/overlays/prod/namespaces/storage/egress.yaml",
    );
    let site = storage
        .split("---")
        .find(|p| p.contains("name: allow-external-backup-target"))
        .unwrap_or_else(|| panic!("{storage}"));
    // The spec's backup site (network.endpoints.backup_target), not the VPC.
    assert!(site.contains("203.0.113.50/32"), "{site}");
    assert!(!site.contains("10.30.0.0/16"), "{site}");
    assert!(!text(&files, "terraform/prod/storage.tf").contains("acme-prod-backups"));
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
}
