//! The Airflow pipelines of the generated repository: a task group per data
//! domain, ingestion tasks that follow the spec's choice, git-sync on the
//! spec's repository, Spark and dbt in each environment's processing
//! namespace; and the DAG folder loaded by a real Airflow
//! (`tests/tools/airflow_check.sh`, with the virtualenv python named by
//! `SOCLE_AIRFLOW_PYTHON`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;
use socle::render::FileSet;

use crate::support::{doc, materialise, render, repo_root, text, to_json, yaml_docs};

/// Every document of the files under `prefix`, as JSON.
fn docs_under(files: &FileSet, prefix: &str) -> Vec<Value> {
    yaml_docs(files)
        .into_iter()
        .filter(|(p, _)| p.starts_with(prefix))
        .map(|(_, v)| to_json(&v))
        .collect()
}

/// The example spec with another ingestion choice.
fn render_with_ingestion(choice: &str) -> FileSet {
    let spec = socle::spec::EXAMPLE.replace("ingestion: nifi ", &format!("ingestion: {choice} "));
    assert!(
        spec.contains(&format!("ingestion: {choice} ")),
        "example spec changed shape"
    );
    crate::support::render_text(&spec)
}

fn spec(files: &FileSet) -> Value {
    doc(files, "socle.yaml")
}

fn env_names(files: &FileSet) -> Vec<String> {
    spec(files)["environments"]
        .as_array()
        .expect("environments")
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

fn domain_slugs(files: &FileSet) -> Vec<String> {
    spec(files)["data_domains"]
        .as_array()
        .expect("data_domains")
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The PLATFORM_* variables Airflow's deployment sets in an environment.
fn platform_env(files: &FileSet, env: &str) -> std::collections::BTreeMap<String, String> {
    let values = doc(files, &format!("components/airflow/values-{env}.yaml"));
    values["env"]
        .as_array()
        .unwrap_or_else(|| panic!("values-{env}.yaml has no env list"))
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["value"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{e}: env values must be strings"))
                    .to_owned(),
            )
        })
        .collect()
}

/// Destination namespace of a component's Application in an environment.
fn app_namespace(files: &FileSet, env: &str, component: &str) -> String {
    doc(
        files,
        &format!("argocd/{env}/applications/{component}.yaml"),
    )["spec"]["destination"]["namespace"]
        .as_str()
        .expect("destination namespace")
        .to_owned()
}

#[test]
fn one_pipeline_group_per_domain_in_both_specs() {
    for (name, files) in [
        ("example", render(None)),
        ("full", render(Some("full.yaml"))),
        // Prod's landing buckets in S3, under their cloud names.
        ("prod on EKS", crate::support::render_eks_account()),
    ] {
        let slugs = domain_slugs(&files);
        assert!(!slugs.is_empty());
        let settings = text(&files, "airflow/dags/data_platform/settings.py");
        let declared: Vec<&str> = settings
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Domain(slug=\""))
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        assert_eq!(declared, slugs, "{name}: domains of settings.py");
        // Task group ids come from the slugs; they must stay distinct.
        let groups: BTreeSet<String> = slugs.iter().map(|s| s.replace('-', "_")).collect();
        assert_eq!(
            groups.len(),
            slugs.len(),
            "{name}: two domains share a group id"
        );
        let readme = text(&files, "airflow/README.md");
        for slug in &slugs {
            let group = slug.replace('-', "_");
            assert!(
                readme.contains(&format!("| `{group}` | `{slug}`")),
                "{name}: README does not list the {group} group"
            );
        }
        let dag = text(&files, "airflow/dags/data_pipeline.py");
        assert!(dag.contains("for _domain in DOMAINS:"), "{name}");
        assert!(dag.contains("TaskGroup(group_id=_domain.ident"), "{name}");
        assert!(dag.contains("loads >> build >> quality_gate()"), "{name}");
        assert!(
            files.contains_key("airflow/dags/iceberg_maintenance.py"),
            "{name}"
        );
        assert!(!readme.contains("will hold"), "{name}: placeholder README");
    }
    let example = domain_slugs(&render(None));
    let full = domain_slugs(&render(Some("full.yaml")));
    assert_ne!(
        example, full,
        "the two specs must exercise different domains"
    );
}

#[test]
fn ingestion_tasks_follow_the_spec_choice() {
    let cases = [
        ("nifi", render(None)),
        ("airbyte", render_with_ingestion("airbyte")),
        ("both", render(Some("full.yaml"))),
    ];
    for (choice, files) in &cases {
        assert_eq!(spec(files)["components"]["ingestion"], *choice);
        let nifi = *choice != "airbyte";
        let airbyte = *choice != "nifi";
        let dag = text(files, "airflow/dags/data_pipeline.py");
        assert_eq!(
            dag.contains("tasks.nifi_ingest(_domain) >> load"),
            nifi,
            "{choice}: NiFi task"
        );
        assert_eq!(
            dag.contains("airbyte_sync(_domain.ident) >> load"),
            airbyte,
            "{choice}: Airbyte task"
        );
        assert_eq!(
            dag.contains("AirbyteClient"),
            airbyte,
            "{choice}: Airbyte code shipped"
        );
        let settings = text(files, "airflow/dags/data_platform/settings.py");
        assert!(
            settings.contains(&format!("INGESTION = \"{choice}\"")),
            "{choice}"
        );
        for env in env_names(files) {
            let vars = platform_env(files, &env);
            assert_eq!(
                vars.contains_key("PLATFORM_NIFI_API_URL"),
                nifi,
                "{choice}/{env}"
            );
            assert_eq!(
                vars.contains_key("PLATFORM_AIRBYTE_API_URL"),
                airbyte,
                "{choice}/{env}"
            );
            let integration = app_namespace(files, &env, if nifi { "nifi" } else { "airbyte" });
            if nifi {
                assert!(vars["PLATFORM_NIFI_API_URL"].contains(&format!(".{integration}.svc")));
                let user = doc(files, &format!("spark/overlays/{env}/nifiuser.yaml"));
                assert_eq!(user["kind"], "NifiUser");
                assert_eq!(user["spec"]["secretName"], "nifi-airflow-client");
                assert_eq!(user["metadata"]["namespace"], integration.as_str());
            } else {
                assert!(!files.contains_key(&format!("spark/overlays/{env}/nifiuser.yaml")));
            }
            let overlay = text(files, &format!("spark/overlays/{env}/kustomization.yaml"));
            assert_eq!(overlay.contains("nifiuser.yaml"), nifi, "{choice}/{env}");
            let credentials = text(
                files,
                &format!("components/airflow/manifests/{env}/externalsecrets.yaml"),
            );
            assert_eq!(
                credentials.contains("airbyte-api-connection"),
                airbyte,
                "{choice}/{env}"
            );
        }
        let values = doc(files, "components/airflow/values.yaml");
        let secret_envs: Vec<&str> = values["secret"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["envName"].as_str().unwrap())
            .collect();
        assert_eq!(
            secret_envs.contains(&"AIRFLOW_CONN_AIRBYTE_API"),
            airbyte,
            "{choice}"
        );
        assert!(
            secret_envs.contains(&"AIRFLOW_CONN_KEYCLOAK_PIPELINES"),
            "{choice}"
        );
    }
}

#[test]
fn git_sync_pulls_the_dags_from_the_spec_repository() {
    for files in [render(None), render(Some("full.yaml"))] {
        let repository = &spec(&files)["repository"];
        let url = repository["url"].as_str().unwrap();
        let revision = repository["revision"].as_str().unwrap_or("main");
        let git_sync = &doc(&files, "components/airflow/values.yaml")["dags"]["gitSync"];
        assert_eq!(git_sync["enabled"], true);
        assert_eq!(git_sync["repo"], url);
        assert_eq!(git_sync["branch"], revision);
        assert_eq!(git_sync["subPath"], "airflow/dags");
        // The credentials Secret is one an ExternalSecret of every environment makes.
        let secret = git_sync["credentialsSecret"]
            .as_str()
            .expect("credentialsSecret");
        for env in env_names(&files) {
            let targets: Vec<Value> =
                docs_under(&files, &format!("components/airflow/manifests/{env}/"))
                    .into_iter()
                    .filter(|d| d["kind"] == "ExternalSecret")
                    .map(|d| d["spec"]["target"]["name"].clone())
                    .collect();
            assert!(
                targets.contains(&Value::from(secret)),
                "{env}: no ExternalSecret makes {secret}"
            );
        }
        // The dbt pods clone the same repository and branch.
        let settings = text(&files, "airflow/dags/data_platform/settings.py");
        assert!(
            settings.contains(&format!("REPO_URL = {}", Value::from(url))),
            "{settings}"
        );
        assert!(settings.contains(&format!("REPO_REVISION = {}", Value::from(revision))));
    }
}

#[test]
fn spark_and_dbt_run_in_each_environment_processing_namespace() {
    let files = render(Some("full.yaml"));
    let spec = spec(&files);
    let mut owners: std::collections::BTreeMap<String, String> = Default::default();
    for env in env_names(&files) {
        let processing = app_namespace(&files, &env, "trino");
        let core = app_namespace(&files, &env, "airflow");
        let storage = app_namespace(&files, &env, "lakekeeper");
        let vars = platform_env(&files, &env);
        assert_eq!(vars["PLATFORM_ENVIRONMENT"], env);
        assert_eq!(vars["PLATFORM_NAMESPACE_PROCESSING"], processing);
        assert_eq!(
            vars["PLATFORM_TRINO_HOST"],
            format!("trino.{processing}.svc.cluster.local")
        );
        assert_eq!(
            vars["PLATFORM_ICEBERG_CATALOG_URI"],
            format!("http://lakekeeper.{storage}.svc:8181/catalog")
        );
        assert!(vars["PLATFORM_TOKEN_URL"]
            .contains(&format!(".{core}.svc.cluster.local/realms/fullopt-data/")));
        // The Spark load the DAG submits: in that namespace, with the
        // catalog and the token endpoint of this environment.
        let app = doc(
            &files,
            &format!("airflow/dags/data_platform/spark/ingest-{env}.yaml"),
        );
        assert_eq!(app["kind"], "SparkApplication");
        assert_eq!(app["metadata"]["namespace"], processing.as_str(), "{env}");
        let driver_env: BTreeMap<&str, &Value> = app["spec"]["driver"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["name"].as_str().unwrap(), &e["value"]))
            .collect();
        assert_eq!(
            driver_env["ICEBERG_CATALOG_URI"],
            vars["PLATFORM_ICEBERG_CATALOG_URI"].as_str()
        );
        assert_eq!(driver_env["TOKEN_URL"], vars["PLATFORM_TOKEN_URL"].as_str());
        // Off the clouds, the tables' files are in the landing store.
        assert_eq!(
            driver_env["ICEBERG_S3_ENDPOINT"],
            &app["spec"]["sparkConf"]["spark.hadoop.fs.s3a.endpoint"]
        );

        // Everything the pipelines need outside Airflow sits in that namespace.
        let overlay = format!("spark/overlays/{env}/");
        let objects = docs_under(&files, &overlay);
        let secrets: BTreeSet<&str> = objects
            .iter()
            .filter(|d| d["kind"] == "ExternalSecret")
            .map(|d| {
                assert_eq!(
                    d["metadata"]["namespace"],
                    processing.as_str(),
                    "{env}: {d}"
                );
                d["metadata"]["name"].as_str().unwrap()
            })
            .collect();
        let wanted: BTreeSet<&str> = [
            "pipelines-keycloak-client",
            "pipelines-git-credentials",
            "pipelines-s3",
        ]
        .into();
        assert_eq!(secrets, wanted, "{env}");
        let binding = objects
            .iter()
            .find(|d| {
                d["kind"] == "RoleBinding" && d["metadata"]["namespace"] == processing.as_str()
            })
            .unwrap_or_else(|| panic!("{env}: no RoleBinding for Airflow in {processing}"));
        for subject in binding["subjects"].as_array().unwrap() {
            assert_eq!(
                subject["namespace"],
                core.as_str(),
                "{env}: Airflow runs in {core}"
            );
        }
        let role = objects
            .iter()
            .find(|d| d["kind"] == "Role" && d["metadata"]["namespace"] == processing.as_str())
            .unwrap();
        assert!(
            role.to_string().contains("sparkapplications"),
            "{env}: {role}"
        );
        let kustomization = text(&files, &format!("{overlay}kustomization.yaml"));
        assert!(
            kustomization.contains(&format!("value: {processing}\n")),
            "{env}: {kustomization}"
        );

        // The Spark Operator watches this namespace: the operator of the
        // environment that owns the cluster lists every processing namespace on it.
        let cluster = spec["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == env.as_str())
            .unwrap()["cluster"]
            .as_str()
            .unwrap()
            .to_owned();
        let owner = owners.entry(cluster).or_insert_with(|| env.clone()).clone();
        let watched = doc(
            &files,
            &format!("components/spark-operator/values-{owner}.yaml"),
        )["spark"]["jobNamespaces"]
            .clone();
        assert!(
            watched
                .as_array()
                .unwrap()
                .contains(&Value::from(processing.as_str())),
            "{env}: {processing} not watched by the operator of {owner}: {watched}"
        );
    }
    // dev and staging share a cluster in full.yaml: the check above must have
    // looked at a list of two namespaces.
    let dev_watch =
        doc(&files, "components/spark-operator/values-dev.yaml")["spark"]["jobNamespaces"].clone();
    assert_eq!(dev_watch.as_array().unwrap().len(), 2, "{dev_watch}");
    // The drivers' account is the one the chart creates in job namespaces.
    let spark = doc(&files, "components/spark-operator/values.yaml");
    let account = spark["spark"]["serviceAccount"]["name"].as_str().unwrap();
    let job = text(&files, "spark/base/kustomization.yaml");
    assert!(job.contains("name: pipelines-spark-jobs") && job.contains("jobs/ingest_landing.py"));
    for env in env_names(&files) {
        let app = doc(
            &files,
            &format!("airflow/dags/data_platform/spark/ingest-{env}.yaml"),
        );
        assert_eq!(app["spec"]["driver"]["serviceAccount"], account, "{env}");
        assert_eq!(
            app["spec"]["volumes"][0]["configMap"]["name"], "pipelines-spark-jobs",
            "{env}"
        );
    }
}

#[test]
fn dags_load_in_a_real_airflow() {
    let Some(python) = std::env::var_os("SOCLE_AIRFLOW_PYTHON") else {
        if std::env::var_os("SOCLE_REQUIRE_TOOLS").is_some() {
            panic!("SOCLE_AIRFLOW_PYTHON is required (SOCLE_REQUIRE_TOOLS is set): the python of a virtualenv with apache-airflow");
        }
        eprintln!("skipped: SOCLE_AIRFLOW_PYTHON is not set (python of a virtualenv with apache-airflow and its cncf-kubernetes provider)");
        return;
    };
    let script = repo_root().join("tests/tools/airflow_check.sh");
    for (name, files) in [
        ("example", render(None)),
        ("full", render(Some("full.yaml"))),
        // Prod's landing buckets in S3, under their cloud names.
        ("prod on EKS", crate::support::render_eks_account()),
    ] {
        let dir = materialise(&files);
        let out = Command::new("bash")
            .arg(&script)
            .arg(&python)
            .arg(dir.path())
            .output()
            .expect("run airflow_check.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: airflow_check.sh failed\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for envname in env_names(&files) {
            assert!(
                stdout.contains(&format!("== {envname}\n")),
                "{name}: {envname} not checked\n{stdout}"
            );
        }
        assert!(stdout.contains("data_pipeline:"), "{name}\n{stdout}");
        let (domain, cloud) = match name {
            "full" => ("finance", false),
            other => ("sales", other == "prod on EKS"),
        };
        let at = |bucket: &str| format!("{domain}.spark_load_iceberg: bucket {bucket}\n");
        assert!(
            stdout.contains(&at(&format!("domain-{domain}"))),
            "{name}\n{stdout}"
        );
        assert_eq!(
            stdout.contains(&at(&format!("acme-prod-domain-{domain}"))),
            cloud,
            "{name}\n{stdout}"
        );
        assert!(stdout.contains("iceberg_maintenance:"), "{name}\n{stdout}");
        assert!(stdout.contains("airflow check: OK"), "{name}\n{stdout}");
    }
}
