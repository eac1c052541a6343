//! The lakehouse on Google Kubernetes Engine: prod's cluster, Cloud SQL and
//! Cloud Storage from its own Terraform, Dremio's storage and
//! Elasticsearch's snapshots in Cloud Storage with their workload
//! identities (no key, no annotation), secret-store entries named as Secret
//! Manager allows, and the whole judged by socle check (which says what it
//! does not model of Google Cloud), kustomize, python-hcl2 and checkov.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::{
    check_json, finds, materialise, prod_egress, render_text, socle_in, text, tool,
};

const PROJECT: &str = "acme-lakehouse-prod";

/// The lakehouse example with prod on GKE, in project [`PROJECT`].
pub fn spec() -> String {
    spec_with(&format!(
        "    cloud: {{project: {PROJECT}, region: europe-west9, vpc_cidr: 10.30.0.0/16}}\n"
    ))
}

/// The example with prod on GKE, its `cloud` line being `cloud`.
fn spec_with(cloud: &str) -> String {
    crate::support::lakehouse_prod_on("gke", cloud)
}

#[test]
fn prod_on_gke_gets_its_own_terraform_cloud_sql_and_cloud_storage_and_passes_socle_check() {
    let files = crate::support::render_lakehouse_gke();
    let tf: BTreeSet<&str> = files
        .keys()
        .filter_map(|p| p.strip_prefix("terraform/prod/"))
        .collect();
    for file in [
        "README.md",
        "main.tf",
        "network.tf",
        "postgresql.tf",
        "storage.tf",
        "identities.tf",
        "secret-store.yaml",
    ] {
        assert!(tf.contains(file), "{file} in {tf:?}");
    }
    // None of EKS's files, nor the data platform's.
    assert!(!tf.contains("eks.tf"), "{tf:?}");
    assert!(!files.keys().any(|p| p.starts_with("terraform/staging/")));
    let main = text(&files, "terraform/prod/main.tf");
    assert!(main.contains("hashicorp/google"), "{main}");
    assert!(!main.contains("hashicorp/aws"), "{main}");

    // Cloud SQL in place of CloudNativePG; GKE grows its node pool itself.
    for gone in ["cloudnative-pg", "barman-cloud", "postgresql"] {
        assert!(!files.contains_key(&format!("argocd/prod/applications/{gone}.yaml")));
        assert!(files.contains_key(&format!("argocd/staging/applications/{gone}.yaml")));
    }
    assert!(files.contains_key("argocd/prod/applications/managed-postgresql.yaml"));
    assert!(!files.contains_key("argocd/prod/applications/cluster-autoscaler.yaml"));
    let service = text(
        &files,
        "components/managed-postgresql/overlays/prod/service.yaml",
    );
    assert!(
        service.contains("externalName: postgresql.acme-prod.internal"),
        "{service}"
    );
    // The Terraform's private zone holds that name.
    let terraform: String = files
        .iter()
        .filter(|(p, _)| p.starts_with("terraform/prod/") && p.ends_with(".tf"))
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(
        terraform.contains("acme-prod.internal."),
        "the private zone"
    );
    assert!(terraform.contains("POSTGRES_17"), "Cloud SQL's version");
    assert!(
        terraform.contains("\"REGIONAL\""),
        "prod is highly available"
    );
    assert!(
        terraform.contains("ADVANCED_DATAPATH"),
        "NetworkPolicies enforced"
    );
    assert!(
        terraform.contains("acme-lakehouse-prod.svc.id.goog"),
        "the pool"
    );

    // Dremio's storage moved to Cloud Storage: Google's default
    // credentials, no key, no AWS profile, no annotation.
    let core_site = text(&files, "components/dremio/overlays/prod/core-site.xml");
    for line in [
        "<value>com.dremio.plugins.gcs.GoogleBucketFileSystem</value>",
        "<name>dremio.gcs.use_keyfile</name>\n    <value>false</value>",
        &format!("<value>{PROJECT}</value>"),
        "<value>acme-prod-dremio</value>",
    ] {
        assert!(core_site.contains(line), "{line} in {core_site}");
    }
    assert!(!core_site.contains("s3a"), "{core_site}");
    let conf = text(&files, "components/dremio/overlays/prod/dremio.conf");
    assert!(
        conf.contains("dist: \"dremiogcs:///acme-prod-dremio/prod\""),
        "{conf}"
    );
    assert!(!files.contains_key("components/dremio/overlays/prod/externalsecret.yaml"));
    assert!(!files.contains_key("components/dremio/overlays/prod/aws-profile"));
    let backup = text(
        &files,
        "components/dremio/overlays/prod/catalog-backup.yaml",
    );
    assert!(
        backup.contains("dremiogcs:///acme-prod-dremio/prod/catalog-backups"),
        "{backup}"
    );
    assert!(!backup.contains("mc rm"), "{backup}");
    // Staging keeps the client's S3 store.
    let staging = text(&files, "components/dremio/overlays/staging/dremio.conf");
    assert!(staging.contains("dremioS3:///"), "{staging}");

    // Elasticsearch's snapshots: a gcs repository in the backups' bucket,
    // written by its service account, no key in the keystore.
    let snapshots = text(
        &files,
        "components/elasticsearch/manifests/prod/snapshots.yaml",
    );
    assert!(
        snapshots.contains(
            "{\"type\": \"gcs\", \"settings\": {\"client\": \"default\", \"bucket\": \"acme-prod-backups\""
        ),
        "{snapshots}"
    );
    assert!(!snapshots.contains("ExternalSecret"), "{snapshots}");
    let values = text(&files, "components/elasticsearch/values-prod.yaml");
    assert!(
        values.contains("serviceAccountName: elasticsearch"),
        "{values}"
    );
    assert!(!values.contains("s3.client"), "{values}");

    // Secret Manager allows no `/` in a name: prod's entries use `_`,
    // staging's keep their paths.
    let superset = text(
        &files,
        "components/superset/overlays/prod/externalsecret.yaml",
    );
    assert!(
        superset.contains("key: acme_prod_superset_app"),
        "{superset}"
    );
    assert!(!superset.contains("acme/prod/"), "{superset}");
    let staging = text(
        &files,
        "components/superset/overlays/staging/externalsecret.yaml",
    );
    assert!(
        staging.contains("key: acme/staging/superset/app"),
        "{staging}"
    );
    let store = text(&files, "terraform/prod/secret-store.yaml");
    assert!(store.contains("gcpsm:"), "{store}");
    assert!(store.contains(&format!("projectID: {PROJECT}")), "{store}");

    // Egress: Google's APIs at private.googleapis.com, the metadata server,
    // Cloud SQL in the network; no EBS class, no Pod Identity agent.
    let core = prod_egress(&files, "core");
    for want in [
        "allow-external-secret-store 199.36.153.8/30:443",
        "allow-external-workload-identity 169.254.169.254/32:80",
    ] {
        assert!(core.contains(want), "{want} in {core:?}");
    }
    let query = prod_egress(&files, "query");
    assert!(
        query.contains("allow-external-cloud-buckets 199.36.153.8/30:443"),
        "{query:?}"
    );
    let storage = prod_egress(&files, "storage");
    assert!(
        storage.contains("allow-external-databases 10.30.0.0/16:5432"),
        "{storage:?}"
    );
    let all: Vec<String> = ["core", "storage", "query"]
        .iter()
        .flat_map(|ns| prod_egress(&files, ns))
        .collect();
    assert!(!all.iter().any(|e| e.contains("169.254.170.23")), "{all:?}");
    assert!(!files.contains_key("platform/overlays/prod/storageclass.yaml"));

    // socle check: no finding, and it says what it does not judge of GKE.
    let dir = materialise(&files);
    let (code, out, err) = socle_in(dir.path(), &["check", "."]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("prod: Google Kubernetes Engine cluster (google_container_cluster): socle reads whether it enforces NetworkPolicies, the buckets its Terraform creates and the roles IAM grants the service accounts of their consumers and of External Secrets, whether those pods reach Google's APIs and the metadata server, and the names and ranges of the managed database"),
        "{out}"
    );
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
    // The graph draws Dremio's bucket to the cloud's storage.
    let (code, graph, err) = socle_in(dir.path(), &["graph", ".", "--env", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        graph.contains("dremio_prod -->|\"bucket acme-prod-dremio\"| Cloud_Storage__terraform_"),
        "{graph}"
    );
    assert!(!graph.contains("missing"), "{graph}");

    // What it does judge: a cluster on GKE's default datapath ignores
    // every NetworkPolicy; Dremio's bucket must be one the Terraform makes.
    let legacy = crate::support::with_replaced(
        &files,
        "terraform/prod/gke.tf",
        "  datapath_provider = \"ADVANCED_DATAPATH\"\n",
        "",
    );
    let (code, findings) = check_json(&legacy);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-019",
            &["its GKE cluster does not enforce them"]
        ),
        "{findings:#?}"
    );
    let renamed = crate::support::with_replaced(
        &files,
        "terraform/prod/storage.tf",
        "\"acme-prod-dremio\"",
        "\"acme-prod-engine\"",
    );
    let (code, findings) = check_json(&renamed);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-012",
            &["dremio-prod", "acme-prod-dremio"]
        ),
        "{findings:#?}"
    );
    // Cloud Storage admits Dremio by its own service account's grant: one
    // to another account, or a role that only reads, is refused.
    let identities = text(&files, "terraform/prod/identities.tf");
    let member = "/ns/lakehouse-query/sa/dremio\"";
    let user = "roles/storage.objectUser\"\n  member = \"${local.workload_principal}/ns/lakehouse-query/sa/dremio\"";
    let viewer = user.replace("objectUser", "objectViewer");
    for (from, to, says) in [
        (
            member,
            "/ns/lakehouse-query/sa/other\"",
            "hold no role on it",
        ),
        (
            user,
            viewer.as_str(),
            "hold only roles/storage.objectViewer",
        ),
    ] {
        let changed =
            crate::support::with_replaced(&files, "terraform/prod/identities.tf", from, to);
        let (code, findings) = check_json(&changed);
        assert_eq!(code, 1, "{to}");
        assert!(
            finds(
                &findings,
                "SOC-SYS-028",
                &["dremio-prod", "acme-prod-dremio", says]
            ),
            "{findings:#?}"
        );
    }
    // External Secrets reads every entry of prod by its own account's
    // grant, held to prod's prefix: another account, or another prefix,
    // and every ExternalSecret of prod fails.
    let operator = "/ns/lakehouse-core/sa/external-secrets\"";
    let prefix = "store_prefix = \"acme_prod_\"";
    assert!(identities.contains(operator), "{identities}");
    assert!(identities.contains(prefix), "{identities}");
    for (from, to, says) in [
        (
            operator,
            "/ns/lakehouse-core/sa/other\"",
            "whose Kubernetes service account holds no role",
        ),
        (
            prefix,
            "store_prefix = \"acme_staging_\"",
            "none of which reaches it",
        ),
    ] {
        let changed =
            crate::support::with_replaced(&files, "terraform/prod/identities.tf", from, to);
        let (code, findings) = check_json(&changed);
        assert_eq!(code, 1, "{to}");
        let denied = findings
            .iter()
            .filter(|f| f["rule"] == "SOC-SYS-021")
            .count();
        assert!(denied >= 20, "{denied}: {findings:#?}");
        assert!(
            finds(
                &findings,
                "SOC-SYS-021",
                &["\"acme_prod_superset_app\" from Secret Manager", says]
            ),
            "{findings:#?}"
        );
    }
}

/// Dremio's pods get their identity from GKE's metadata server and reach
/// Cloud Storage at private.googleapis.com: egress policies that let
/// either through no longer leave them without credentials or answers.
#[test]
fn gke_workloads_must_reach_the_metadata_server_and_googles_apis() {
    let files = crate::support::render_lakehouse_gke();
    let path = "platform/overlays/prod/namespaces/query/egress.yaml";
    let egress = text(&files, path);
    for (cut, rule, says) in [
        (
            "allow-external-workload-identity",
            "SOC-SYS-018",
            "deny egress to GKE's metadata server, 169.254.169.254:80",
        ),
        (
            "allow-external-cloud-buckets",
            "SOC-SYS-024",
            "does not reach Google's APIs (private.googleapis.com (199.36.153.8, 199.36.153.9, 199.36.153.10, 199.36.153.11), port 443",
        ),
    ] {
        let kept: Vec<&str> = egress
            .split("\n---\n")
            .filter(|d| !d.contains(&format!("name: {cut}\n")))
            .collect();
        assert_eq!(kept.len(), 1, "{cut} in {egress}");
        let mut changed = files.clone();
        changed.insert(path.into(), kept.join("\n---\n").into_bytes());
        let (code, findings) = check_json(&changed);
        assert_eq!(code, 1, "{cut}");
        assert!(
            finds(&findings, rule, &["lakehouse-query", says]),
            "{cut}: {findings:#?}"
        );
    }
}

/// A Kubernetes service account is an IAM principal only in a cluster with
/// a workload pool, and its pods take that identity only on nodes running
/// GKE's metadata server: without either, every grant is void.
#[test]
fn gke_grants_need_the_workload_pool_and_the_metadata_server() {
    let files = crate::support::render_lakehouse_gke();
    for (from, to, says) in [
        (
            "  workload_identity_config {\n    workload_pool = local.workload_pool\n  }\n",
            "",
            "but its GKE cluster has no workload pool",
        ),
        (
            "      mode = \"GKE_METADATA\"",
            "      mode = \"GCE_METADATA\"",
            "runs its pods with the node's metadata",
        ),
    ] {
        let changed = crate::support::with_replaced(&files, "terraform/prod/gke.tf", from, to);
        let (code, findings) = check_json(&changed);
        assert_eq!(code, 1, "{to}");
        assert!(
            finds(
                &findings,
                "SOC-SYS-029",
                &[
                    says,
                    "lakehouse-core/external-secrets",
                    "lakehouse-query/dremio"
                ]
            ),
            "{findings:#?}"
        );
    }
    // A pool only a plan knows is said, not judged: no finding.
    let unknown = crate::support::with_replaced(
        &files,
        "terraform/prod/gke.tf",
        "workload_pool = local.workload_pool",
        "workload_pool = var.pool",
    );
    let (code, report) = crate::support::check_report(&unknown);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        report["not_modelled"]
            .to_string()
            .contains("the cluster's workload pool is not known before a plan"),
        "{report:#}"
    );
}

/// Cloud SQL behind its private name: the ExternalName Service must name
/// a record of the Terraform's zone, and the consumers' egress must reach
/// the range the network lends Google's services, where the instance
/// takes its address.
#[test]
fn cloud_sql_is_judged_by_its_private_name_and_its_range() {
    let files = crate::support::render_lakehouse_gke();
    let postgresql = text(&files, "terraform/prod/postgresql.tf");
    let record = "name         = \"postgresql.acme-prod.internal.\"";
    assert!(postgresql.contains(record), "{postgresql}");
    let renamed = crate::support::with_replaced(
        &files,
        "terraform/prod/postgresql.tf",
        record,
        "name         = \"pg.acme-prod.internal.\"",
    );
    let (code, findings) = check_json(&renamed);
    assert_eq!(code, 1);
    assert!(
        finds(
            &findings,
            "SOC-SYS-023",
            &[
                "lakehouse-storage/postgresql-rw",
                "postgresql.acme-prod.internal"
            ]
        ),
        "{findings:#?}"
    );
    let main = text(&files, "terraform/prod/main.tf");
    let range = "cidrsubnet(local.vpc_cidr, 4, 2)";
    assert!(main.contains(range), "{main}");
    let moved =
        crate::support::with_replaced(&files, "terraform/prod/main.tf", range, "\"10.99.0.0/20\"");
    let (code, findings) = check_json(&moved);
    assert_eq!(code, 1);
    for namespace in ["lakehouse-ingestion", "lakehouse-storage", "lakehouse-bi"] {
        assert!(
            finds(
                &findings,
                "SOC-SYS-024",
                &[namespace, "subnets 10.99.0.0/20", "port 5432"]
            ),
            "{namespace}: {findings:#?}"
        );
    }
}

/// kustomize builds what Argo CD syncs in prod: Dremio with no credentials
/// file, the platform without an EBS class, the Cloud SQL stand-in.
#[test]
fn kustomize_builds_the_gke_overlays() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let files = crate::support::render_lakehouse_gke();
    let dir = materialise(&files);
    let build = |overlay: &str| crate::support::kustomize_build(&kubectl, dir.path(), overlay);
    let dremio = build("components/dremio/overlays/prod");
    let account = dremio
        .iter()
        .find(|d| d["kind"] == "ServiceAccount" && d["metadata"]["name"] == "dremio")
        .expect("ServiceAccount dremio");
    assert!(
        account["metadata"].get("annotations").is_none(),
        "{account}"
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
        assert!(s3.get("emptyDir").is_some(), "{s3}");
        assert!(s3.get("secret").is_none(), "{s3}");
        assert!(!volumes.iter().any(|v| v["name"] == "aws-iam-token"));
    }
    assert!(!dremio
        .iter()
        .any(|d| d["kind"] == "ExternalSecret" && d["metadata"]["name"] == "dremio-s3"));
    assert!(build("platform/overlays/prod")
        .iter()
        .all(|d| d["kind"] != "StorageClass"));
    let sql = build("components/managed-postgresql/overlays/prod");
    assert!(sql
        .iter()
        .all(|d| d["metadata"]["namespace"] == "lakehouse-storage"));
    let admin = sql
        .iter()
        .find(|d| d["kind"] == "ExternalSecret")
        .expect("ExternalSecret");
    assert_eq!(
        admin["spec"]["data"][0]["remoteRef"]["key"],
        "acme_prod_postgresql_admin"
    );
}

/// Every `.tf` file parses with python-hcl2 and checkov's Terraform
/// framework fails none of its checks; each one skipped inline is in the
/// README's exceptions. `terraform validate` needs Google's provider,
/// which the machines running these tests do not have: the README says
/// the repository's workflow validates it where the network is.
#[test]
fn the_terraform_parses_and_passes_checkov() {
    let files = crate::support::render_lakehouse_gke();
    if let Some(summary) = crate::support::assert_terraform_passes_hcl2_and_checkov(&files, "prod")
    {
        assert!(summary["passed"].as_u64().unwrap_or(0) > 50, "{summary}");
    }
    let workflow = text(&files, ".github/workflows/checks.yaml");
    assert!(workflow.contains("validate"), "{workflow}");
    let readme = text(&files, "terraform/prod/README.md");
    assert!(
        readme.contains(
            "socle's tests do not validate\nthese files (the providers are not available offline)"
        ),
        "{readme}"
    );
    // Formatting needs no provider: terraform itself checks it, where the
    // machine has it (as for the EKS environments' validation).
    let Some(terraform) = std::env::var_os("SOCLE_TF_PLUGINS").and_then(|_| tool("terraform"))
    else {
        eprintln!("skipped: terraform fmt (SOCLE_TF_PLUGINS not set)");
        return;
    };
    let dir = materialise(&files);
    let out = Command::new(terraform)
        .args(["fmt", "-check", "-diff", "-recursive", "terraform/prod"])
        .current_dir(dir.path())
        .output()
        .expect("terraform fmt");
    crate::support::assert_success(&out);
}

/// A GKE environment names its project; AWS's account and a region of
/// another cloud are refused, naming the field.
#[test]
fn gke_needs_its_project_and_refuses_aws_fields() {
    for (cloud, wants) in [
        (
            "    cloud: {region: europe-west9, vpc_cidr: 10.30.0.0/16}\n",
            "target gke creates the cluster in a Google Cloud project",
        ),
        (
            "    cloud: {project: acme-lakehouse-prod, region: europe-west9, vpc_cidr: 10.30.0.0/16, account_id: \"111122223333\"}\n",
            "`account_id` is an AWS account",
        ),
        (
            "    cloud: {project: acme-lakehouse-prod, region: eu-west-3, vpc_cidr: 10.30.0.0/16}\n",
            "\"eu-west-3\" is not a gke region",
        ),
    ] {
        let err = crate::support::socle_new_refuses(&spec_with(cloud));
        assert!(err.contains(wants), "{wants}: {err}");
        assert!(err.contains("environments[2].cloud"), "{err}");
    }
    let files = render_text(&spec());
    assert!(files.contains_key("terraform/prod/main.tf"));
}

/// `socle update` moves prod from its cluster to GKE, from GKE to EKS, to
/// AKS, and back to its cluster, with the three-way merge: Terraform, the managed
/// database's stand-in and EKS's autoscaler come and go with the target,
/// CloudNativePG the other way, socle check passes at each step, and the
/// Terraform state is never committable.
#[test]
fn update_moves_lakehouse_prod_to_gke_then_eks_then_aks_and_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fs_err::write(tmp.path().join("spec.yaml"), crate::lakehouse::example()).expect("spec");
    let (code, out, err) = socle_in(tmp.path(), &["new", "--spec", "spec.yaml", "--out", "repo"]);
    assert_eq!(code, 0, "{out}{err}");
    let dir = tmp.path().join("repo");
    let path = dir.join("socle.yaml");
    let kubernetes = fs_err::read_to_string(&path).expect("spec");
    let gke = spec();
    let eks = crate::lakehouse_eks::spec();
    let aks = crate::lakehouse_aks::spec();
    for (text, target) in [
        (&gke, "gke"),
        (&eks, "eks"),
        (&aks, "aks"),
        (&kubernetes, "kubernetes"),
    ] {
        fs_err::write(&path, text).expect("write");
        crate::support::git(&dir, &["commit", "-qam", "move prod"]);
        let (code, out, err) = socle_in(&dir, &["update"]);
        assert_eq!(code, 0, "{target}: {out}{err}");
        assert!(out.contains("0 conflict(s)"), "{target}: {out}");
        assert_eq!(
            dir.join("terraform/prod/eks.tf").exists(),
            target == "eks",
            "{out}"
        );
        let on_cloud = target != "kubernetes";
        assert_eq!(dir.join("terraform").exists(), on_cloud, "{out}");
        let secret_store = dir.join("terraform/prod/secret-store.yaml");
        let gcpsm = fs_err::read_to_string(&secret_store).is_ok_and(|t| t.contains("gcpsm:"));
        assert_eq!(gcpsm, target == "gke", "{target}");
        let azurekv = fs_err::read_to_string(&secret_store).is_ok_and(|t| t.contains("azurekv:"));
        assert_eq!(azurekv, target == "aks", "{target}");
        for (app, there) in [
            ("cloudnative-pg", !on_cloud),
            ("postgresql", !on_cloud),
            ("managed-postgresql", on_cloud),
            ("cluster-autoscaler", target == "eks"),
        ] {
            let file = format!("argocd/prod/applications/{app}.yaml");
            assert_eq!(dir.join(&file).exists(), there, "{target}: {file}");
        }
        // The Terraform state is never committable.
        if on_cloud {
            let state = "terraform/prod/terraform.tfstate";
            fs_err::write(dir.join(state), "{\"version\": 4}").expect("write");
            assert_eq!(
                crate::support::git(&dir, &["check-ignore", state]).trim(),
                state
            );
            fs_err::remove_file(dir.join(state)).expect("remove");
        }
        crate::support::git(&dir, &["add", "-A"]);
        crate::support::git(&dir, &["commit", "-qm", "update"]);
        let (code, out, _) = socle_in(&dir, &["check", "."]);
        assert_eq!(code, 0, "{target}: {out}");
    }
}

/// `socle blueprint show` says what GKE replaces.
#[test]
fn blueprint_show_says_what_gke_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = socle_in(dir.path(), &["blueprint", "show", "lakehouse"]);
    assert_eq!(code, 0, "{err}");
    let gke = out
        .split("\ngke (")
        .nth(1)
        .expect("a gke section")
        .split("\n\n")
        .next()
        .unwrap_or_default();
    assert!(
        gke.contains("  leaves out postgresql: Cloud SQL for PostgreSQL"),
        "{gke}"
    );
    assert!(gke.contains("  adds managed-postgresql: "), "{gke}");
    assert!(!gke.contains("cluster-autoscaler"), "{gke}");
}

/// Dremio's Cloud Storage plugin takes the metadata server's credentials
/// unless its core-site says `dremio.gcs.use_keyfile=true`: then it signs in
/// with a key, never as its workload identity, and the Terraform issues
/// none.
#[test]
fn dremio_told_to_use_a_key_file_is_denied_where_it_says_so() {
    let files = crate::support::render_lakehouse_gke();
    let core_site = "components/dremio/overlays/prod/core-site.xml";
    let flag = "<name>dremio.gcs.use_keyfile</name>\n    <value>false</value>";
    let keyed =
        crate::support::with_replaced(&files, core_site, flag, &flag.replace("false", "true"));
    crate::support::assert_denies(
        &keyed,
        "SOC-SYS-025",
        &[
            "Application \"dremio-prod\"",
            "in Cloud Storage, but it sets dremio.gcs.use_keyfile (true)",
            "Set dremio.gcs.use_keyfile to false so the pods take their workload identity",
        ],
    );
}
