//! Lineage into the data catalog: the emitters (Airflow, the Spark job, the
//! dbt pod) point at the receiver the rendered DataHub serves, the
//! scheduled metadata ingestion exists in every environment with a role
//! that reads no data, and `socle check` notices when either is broken.

use serde_json::Value;
use socle::render::FileSet;

use crate::support::{check_json, render, text, to_json, trino_allows, trino_engine, yaml_docs};

const ENVIRONMENTS: [&str; 3] = ["dev", "staging", "prod"];
/// DataHub's OpenLineage receiver (GMS, LineageApiImpl).
const GMS_SERVICE: &str = "datahub-datahub-gms";
const GMS_PORT: u16 = 8080;
const LINEAGE_PATH: &str = "/openapi/openlineage/api/v1/lineage";

/// The documents of one rendered file, as JSON.
fn docs(files: &FileSet, path: &str) -> Vec<Value> {
    let one: FileSet = [(path.to_owned(), text(files, path).as_bytes().to_vec())].into();
    yaml_docs(&one).iter().map(|(_, v)| to_json(v)).collect()
}

fn env_value<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
}

/// The system simulation of every environment, as `socle check` builds it.
fn systems(files: &FileSet) -> Vec<Value> {
    let list: Vec<(String, Vec<u8>)> = files.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    socle::check::system::model_json(&list)
}

/// The connections of `consumer` in environment `env` to Service `service`.
fn connections<'a>(
    systems: &'a [Value],
    env: &str,
    consumer: &str,
    service: &str,
) -> Vec<&'a Value> {
    systems
        .iter()
        .filter(|s| s["environment"].as_str() == Some(env))
        .flat_map(|s| s["connections"].as_array().into_iter().flatten())
        .filter(|c| {
            c["consumer"].as_str() == Some(consumer) && c["service"].as_str() == Some(service)
        })
        .collect()
}

/// The connection reaches a Service the provider creates, on a port it
/// serves, and both namespaces' policies let it through.
fn assert_reaches(c: &Value, provider: &str, port: u16) {
    assert_eq!(c["port"].as_u64(), Some(u64::from(port)), "{c}");
    assert_eq!(c["provider"]["app"].as_str(), Some(provider), "{c}");
    assert_eq!(c["provider"]["port_served"].as_bool(), Some(true), "{c}");
    assert_eq!(c["egress"]["allowed"].as_bool(), Some(true), "{c}");
    assert_eq!(c["ingress"]["allowed"].as_bool(), Some(true), "{c}");
}

/// The catalog's namespace (the example spec gives no namespace suffix).
const GOVERNANCE: &str = "data-platform-governance";

#[test]
fn datahub_emitters_post_to_the_receiver_gms_serves() {
    let files = render(None);
    let systems = systems(&files);
    for env in ENVIRONMENTS {
        let gms = format!(
            "http://{GMS_SERVICE}.{}.svc.cluster.local:{GMS_PORT}",
            GOVERNANCE
        );

        // Airflow: the OpenLineage provider turns on with OPENLINEAGE_URL.
        let airflow = &docs(&files, &format!("components/airflow/values-{env}.yaml"))[0];
        assert_eq!(
            env_value(&airflow["env"], "OPENLINEAGE_URL").unwrap()["value"].as_str(),
            Some(gms.as_str())
        );
        assert_eq!(
            env_value(&airflow["env"], "OPENLINEAGE_ENDPOINT").unwrap()["value"].as_str(),
            Some(LINEAGE_PATH)
        );
        let shared = &docs(&files, "components/airflow/values.yaml")[0];
        let from = shared["extraEnvFrom"].as_str().expect("extraEnvFrom");
        assert!(
            from.contains("name: airflow-lineage") && from.contains("optional: true"),
            "{from}"
        );

        // The pipeline pods' ConfigMap.
        let lineage = docs(&files, &format!("spark/overlays/{env}/lineage.yaml"));
        let cm = lineage
            .iter()
            .find(|d| d["kind"] == "ConfigMap")
            .expect("ConfigMap");
        assert_eq!(cm["metadata"]["name"], "pipelines-lineage");
        assert_eq!(cm["data"]["OPENLINEAGE_URL"].as_str(), Some(gms.as_str()));
        assert_eq!(
            cm["data"]["OPENLINEAGE_ENDPOINT"].as_str(),
            Some(LINEAGE_PATH)
        );
        let kustomization = text(&files, &format!("spark/overlays/{env}/kustomization.yaml"));
        assert!(kustomization.contains("- lineage.yaml"), "{kustomization}");

        // Spark: listener, jar, and the Java client's transport from that ConfigMap.
        let spark = &docs(
            &files,
            &format!("airflow/dags/data_platform/spark/ingest-{env}.yaml"),
        )[0];
        assert_eq!(
            spark["spec"]["sparkConf"]["spark.extraListeners"],
            "io.openlineage.spark.agent.OpenLineageSparkListener"
        );
        assert!(spark["spec"]["deps"]["jars"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j.as_str().unwrap().ends_with(
                "/io/openlineage/openlineage-spark_2.12/1.52.0/openlineage-spark_2.12-1.52.0.jar"
            )));
        let driver_env = &spark["spec"]["driver"]["env"];
        for (var, key) in [
            ("OPENLINEAGE__TRANSPORT__URL", "OPENLINEAGE_URL"),
            ("OPENLINEAGE__TRANSPORT__ENDPOINT", "OPENLINEAGE_ENDPOINT"),
        ] {
            let r = &env_value(driver_env, var).unwrap()["valueFrom"]["configMapKeyRef"];
            assert_eq!(
                (r["name"].as_str(), r["key"].as_str()),
                (Some("pipelines-lineage"), Some(key))
            );
        }
        assert_eq!(
            env_value(driver_env, "OPENLINEAGE__TRANSPORT__TYPE").unwrap()["value"],
            "http"
        );

        // The simulation sees both connections, and they reach GMS.
        for consumer in [format!("airflow-{env}"), format!("pipelines-{env}")] {
            let found = connections(&systems, env, &consumer, GMS_SERVICE);
            assert!(
                !found.is_empty(),
                "{consumer} does not connect to {GMS_SERVICE}"
            );
            for c in found {
                assert_reaches(c, &format!("datahub-{env}"), GMS_PORT);
            }
        }
    }
    // dbt: dbt-ol, pinned, with the same ConfigMap.
    let settings = text(&files, "airflow/dags/data_platform/settings.py");
    assert!(
        settings.contains("LINEAGE = True")
            && settings.contains("OPENLINEAGE_DBT_VERSION = \"1.52.0\"")
    );
    let run = text(&files, "airflow/dags/data_platform/scripts/dbt_run.py");
    assert!(run.contains("\"dbt-ol\", \"build\""));
}

#[test]
fn datahub_ingests_postgresql_every_night_as_a_role_that_reads_no_data() {
    let files = render(None);
    let systems = systems(&files);
    for env in ENVIRONMENTS {
        let manifests = docs(
            &files,
            &format!("components/datahub/manifests/{env}/ingestion.yaml"),
        );
        let cron = manifests
            .iter()
            .find(|d| d["kind"] == "CronJob")
            .expect("CronJob");
        assert_eq!(cron["metadata"]["name"], "datahub-ingestion-postgresql");
        assert_eq!(cron["metadata"]["namespace"].as_str(), Some(GOVERNANCE));
        let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["automountServiceAccountToken"], false);
        let recipe = manifests
            .iter()
            .find(|d| d["kind"] == "ConfigMap")
            .expect("recipes")["data"]["postgresql.yaml"]
            .as_str()
            .expect("recipe")
            .to_owned();
        let recipe: serde_json::Value = crate::support::yaml(&recipe).expect("recipe is YAML");
        let recipe = to_json(&recipe);
        assert_eq!(recipe["source"]["config"]["username"], "catalog-reader");
        assert_eq!(recipe["source"]["config"]["profiling"]["enabled"], false);
        assert_eq!(
            recipe["sink"]["config"]["server"].as_str(),
            Some(
                format!(
                    "http://{GMS_SERVICE}.{}.svc.cluster.local:{GMS_PORT}",
                    GOVERNANCE
                )
                .as_str()
            )
        );

        // The role: a login, no membership (pg_read_all_data would read rows).
        let values = &docs(&files, "components/postgresql/values.yaml")[0];
        let role = values["cluster"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "catalog-reader")
            .expect("role catalog-reader");
        assert_eq!(role["superuser"], false);
        assert!(role.get("inRoles").is_none(), "{role}");

        // The simulation reads the role from the recipe, and the cluster declares it.
        let found = connections(&systems, env, &format!("datahub-{env}"), "postgresql-ro");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["role"], "catalog-reader");
        assert!(found[0]["provider"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "catalog-reader"));
        assert_reaches(found[0], &format!("postgresql-{env}"), 5432);
    }
}

#[test]
fn openmetadata_gets_no_openlineage_emitters() {
    // OpenMetadata 1.13 takes OpenLineage events only from Kafka, which
    // the platform does not run: nothing emits towards it.
    let files = render(Some("full.yaml"));
    for env in ENVIRONMENTS {
        assert!(
            !text(&files, &format!("components/airflow/values-{env}.yaml")).contains("OPENLINEAGE")
        );
        assert!(!files.contains_key(&format!("spark/overlays/{env}/lineage.yaml")));
        assert!(!text(
            &files,
            &format!("airflow/dags/data_platform/spark/ingest-{env}.yaml")
        )
        .contains("openlineage"));
    }
    assert!(text(&files, "airflow/dags/data_platform/settings.py").contains("LINEAGE = False"));
}

/// Replace `from` by `to` in one rendered file, which must contain it.
fn mutate(files: &FileSet, path: &str, from: &str, to: &str) -> FileSet {
    let mut out = files.clone();
    let before = text(files, path);
    assert!(before.contains(from), "{path} does not contain {from:?}");
    out.insert(path.to_owned(), before.replacen(from, to, 1).into_bytes());
    out
}

/// `socle check` on `files` with `from` replaced by `to` in `path` fails,
/// with a finding of `rule` whose message holds every needle (in `path`
/// itself, unless `anywhere`: a policy blocked at the other end names the
/// other file).
fn assert_reported(
    files: &FileSet,
    (path, from, to): (&str, &str, &str),
    rule: &str,
    anywhere: bool,
    needles: &[&str],
) {
    let broken = mutate(files, path, from, to);
    let (code, findings) = check_json(&broken);
    assert_eq!(code, 1, "{from}: {findings:?}");
    let hit = findings.iter().any(|f| {
        f["rule"].as_str() == Some(rule)
            && (anywhere || f["file"].as_str() == Some(path))
            && f["message"]
                .as_str()
                .is_some_and(|m| needles.iter().all(|n| m.contains(n)))
    });
    assert!(hit, "{from}: no {rule} saying {needles:?}: {findings:#?}");
}

#[test]
fn check_reports_a_lineage_url_on_a_host_nothing_serves() {
    assert_reported(
        &render(None),
        (
            "spark/overlays/dev/lineage.yaml",
            "http://datahub-datahub-gms.",
            "http://datahub-gms.",
        ),
        "SOC-SYS-004",
        false,
        &[],
    );
}

#[test]
fn check_reports_lineage_blocked_by_the_catalog_namespace_policy() {
    // Governance stops admitting processing's pods: the pipelines' lineage
    // to GMS is blocked at the receiving end.
    assert_reported(
        &render(None),
        (
            "platform/base/namespaces/governance/networkpolicies.yaml",
            "values: [core, processing]",
            "values: [core]",
        ),
        "SOC-SYS-005",
        true,
        &["pipelines-", GMS_SERVICE],
    );
}

#[test]
fn check_reports_an_ingestion_role_the_cluster_does_not_declare() {
    assert_reported(
        &render(None),
        (
            "components/datahub/manifests/dev/ingestion.yaml",
            "username: catalog-reader",
            "username: postgres",
        ),
        "SOC-SYS-004",
        false,
        &["role \"postgres\""],
    );
}

const DATAHUB_TRINO_USER: &str = "service-account-datahub-ingestion";

#[test]
fn datahub_ingests_trino_as_a_service_account_that_lists_and_reads_no_row() {
    let files = render(None);
    let systems = systems(&files);
    for env in ENVIRONMENTS {
        let manifests = docs(
            &files,
            &format!("components/datahub/manifests/{env}/ingestion.yaml"),
        );
        let recipes = &manifests
            .iter()
            .find(|d| d["kind"] == "ConfigMap")
            .expect("recipes")["data"];
        let recipe: serde_json::Value =
            crate::support::yaml(recipes["trino.yaml"].as_str().expect("trino.yaml"))
                .expect("recipe is YAML");
        let recipe = to_json(&recipe);
        let source = &recipe["source"]["config"];
        assert_eq!(recipe["source"]["type"], "trino");
        assert_eq!(
            source["host_port"].as_str(),
            Some("trino.data-platform-processing.svc.cluster.local:8080")
        );
        assert_eq!(source["username"], DATAHUB_TRINO_USER);
        assert_eq!(
            source["options"]["connect_args"]["http_headers"]["Authorization"],
            "Bearer ${TRINO_JWT}"
        );
        assert!(source.get("password").is_none(), "{source}");
        let script = recipes["trino_ingest.py"].as_str().expect("entry point");
        assert!(script.contains("\"grant_type\": \"client_credentials\""));
        assert!(script.contains("\"/recipes/trino.yaml\""));

        let cron = manifests
            .iter()
            .find(|d| d["kind"] == "CronJob" && d["metadata"]["name"] == "datahub-ingestion-trino")
            .expect("CronJob datahub-ingestion-trino");
        let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        let container = &pod["containers"][0];
        assert_eq!(
            container["securityContext"]["allowPrivilegeEscalation"],
            false
        );
        assert_eq!(
            env_value(&container["env"], "KEYCLOAK_CLIENT_ID").unwrap()["value"],
            "datahub-ingestion"
        );
        // Each job reads its own keys only: no PostgreSQL password here.
        assert!(env_value(&container["env"], "POSTGRES_PASSWORD").is_none());
        assert!(container.get("envFrom").is_none());

        // The realm's client: a service account with metadata-reader only.
        let realm = text(
            &files,
            &format!("components/keycloak/manifests/{env}/realm.yaml"),
        );
        assert!(realm.contains("- clientId: datahub-ingestion"), "{env}");
        let user = realm
            .split("- username: ")
            .find(|u| u.starts_with(&format!("\"{DATAHUB_TRINO_USER}\"")))
            .expect("service account user");
        assert!(
            user.contains("realmRoles:\n          - metadata-reader\n"),
            "{user}"
        );
        assert!(!user.contains("groups:"), "{user}");

        // The simulation sees the token request and the Trino connection,
        // and both namespaces' policies let them through.
        let found = connections(&systems, env, &format!("datahub-{env}"), "trino");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_reaches(found[0], &format!("trino-{env}"), 8080);
        let found = connections(&systems, env, &format!("datahub-{env}"), "keycloak-http");
        assert!(!found.is_empty());
        for c in found {
            assert_reaches(c, &format!("keycloak-{env}"), 80);
        }
    }
}

#[test]
fn trino_lets_the_catalog_ingestion_list_metadata_and_read_no_row() {
    let files = render(None);
    for env in ENVIRONMENTS {
        let mut engine = trino_engine(&files, env);
        let table = |catalog: &str, schema: &str, name: &str| serde_json::json!({"table": {"catalogName": catalog, "schemaName": schema, "tableName": name}});
        let columns = serde_json::json!({"table": {
            "catalogName": "iceberg", "schemaName": "analytics", "tableName": "orders",
            "columns": ["id", "amount"],
        }});
        for (operation, resource, expected) in [
            ("ExecuteQuery", serde_json::json!({}), true),
            (
                "AccessCatalog",
                serde_json::json!({"catalog": {"name": "iceberg"}}),
                true,
            ),
            (
                "FilterSchemas",
                serde_json::json!({"schema": {"catalogName": "iceberg", "schemaName": "raw"}}),
                true,
            ),
            (
                "FilterTables",
                table("iceberg", "sandbox", "features"),
                true,
            ),
            ("FilterColumns", columns.clone(), true),
            ("ShowColumns", table("iceberg", "analytics", "orders"), true),
            // The information_schema queries the ingestion runs.
            (
                "SelectFromColumns",
                table("iceberg", "information_schema", "columns"),
                true,
            ),
            // A table's properties and comment, not its rows.
            (
                "SelectFromColumns",
                table("iceberg", "analytics", "orders$properties"),
                true,
            ),
            // No row of any table, reference data included.
            ("SelectFromColumns", columns.clone(), false),
            (
                "SelectFromColumns",
                table("iceberg", "analytics", "orders$files"),
                false,
            ),
            (
                "SelectFromColumns",
                table("postgresql", "reference", "countries"),
                false,
            ),
            ("InsertIntoTable", table("iceberg", "raw", "orders"), false),
            ("CreateTable", table("iceberg", "sandbox", "x"), false),
            (
                "AccessCatalog",
                serde_json::json!({"catalog": {"name": "hive"}}),
                false,
            ),
        ] {
            assert_eq!(
                trino_allows(
                    &mut engine,
                    DATAHUB_TRINO_USER,
                    &[],
                    operation,
                    resource.clone()
                ),
                expected,
                "{env}: {operation} {resource}"
            );
        }
        // The pipelines still read the reference data.
        assert!(trino_allows(
            &mut engine,
            "service-account-pipelines",
            &[],
            "SelectFromColumns",
            table("postgresql", "reference", "countries")
        ));
    }
}

#[test]
fn check_reports_a_trino_ingestion_on_a_port_trino_does_not_serve() {
    assert_reported(
        &render(None),
        (
            "components/datahub/manifests/dev/ingestion.yaml",
            "host_port: \"trino.data-platform-processing.svc.cluster.local:8080\"",
            "host_port: \"trino.data-platform-processing.svc.cluster.local:8443\"",
        ),
        "SOC-SYS-004",
        false,
        &[],
    );
}

#[test]
fn check_reports_an_ingestion_client_the_realm_does_not_declare() {
    assert_reported(
        &render(None),
        (
            "components/datahub/manifests/dev/ingestion.yaml",
            "value: datahub-ingestion\n",
            "value: datahub-ingest\n",
        ),
        "SOC-SYS-013",
        false,
        &["\"datahub-ingest\""],
    );
}

/// One workflow of the OpenMetadata ingestion ConfigMap of `env`, as JSON.
fn om_workflow(files: &FileSet, env: &str, name: &str) -> Value {
    let manifests = docs(
        files,
        &format!("components/openmetadata/manifests/{env}/ingestion.yaml"),
    );
    let cm = manifests
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("workflows");
    assert_eq!(cm["metadata"]["name"], "openmetadata-ingestion-workflows");
    let text = cm["data"][name].as_str().expect("workflow").to_owned();
    let parsed: serde_json::Value = crate::support::yaml(&text).expect("workflow is YAML");
    to_json(&parsed)
}

#[test]
fn openmetadata_pulls_postgresql_and_trino_every_night_with_least_privilege() {
    let files = render(Some("full.yaml"));
    let systems = systems(&files);
    for env in ENVIRONMENTS {
        let manifests = docs(
            &files,
            &format!("components/openmetadata/manifests/{env}/ingestion.yaml"),
        );
        for name in [
            "openmetadata-ingestion-postgresql",
            "openmetadata-ingestion-trino",
        ] {
            let cron = manifests
                .iter()
                .find(|d| d["kind"] == "CronJob" && d["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{env}: CronJob {name}"));
            let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
            assert_eq!(pod["automountServiceAccountToken"], false);
            let c = &pod["containers"][0];
            assert_eq!(
                c["image"],
                "docker.getcollate.io/openmetadata/ingestion-base:1.13.1"
            );
            assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
            assert!(c.get("envFrom").is_none(), "{c}");
        }

        // Both sinks: the API the server serves, as the ingestion bot.
        for name in ["postgresql.yaml", "trino.yaml"] {
            let w = om_workflow(&files, env, name);
            let server = &w["workflowConfig"]["openMetadataServerConfig"];
            assert_eq!(server["authProvider"], "openmetadata");
            assert_eq!(server["securityConfig"]["jwtToken"], "${OPENMETADATA_JWT}");
            let host = server["hostPort"].as_str().unwrap();
            assert!(
                host.starts_with("http://openmetadata.") && host.ends_with(":8585/api"),
                "{host}"
            );
            assert_eq!(w["sink"]["type"], "metadata-rest");
            assert_eq!(w["sourceConfig"], Value::Null);
            assert_eq!(
                w["source"]["sourceConfig"]["config"]["type"],
                "DatabaseMetadata"
            );
        }
        let pg = om_workflow(&files, env, "postgresql.yaml");
        let pg = &pg["source"]["serviceConnection"]["config"];
        assert_eq!(pg["username"], "catalog-reader");
        assert_eq!(pg["ingestAllDatabases"], true);
        let trino = om_workflow(&files, env, "trino.yaml");
        let trino = &trino["source"]["serviceConnection"]["config"];
        assert_eq!(trino["username"], "service-account-openmetadata-ingestion");
        assert_eq!(
            trino["connectionArguments"]["http_headers"]["Authorization"],
            "Bearer ${TRINO_JWT}"
        );

        // The simulation sees every connection, and each gets through.
        let app = format!("openmetadata-{env}");
        let found: Vec<&Value> = connections(&systems, env, &app, "postgresql-ro")
            .into_iter()
            .filter(|c| c["role"] == "catalog-reader")
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["database"], "postgres");
        assert_reaches(found[0], &format!("postgresql-{env}"), 5432);
        for (service, provider, port) in [
            ("trino", "trino", 8080),
            ("keycloak-http", "keycloak", 80),
            ("openmetadata", "openmetadata", 8585),
        ] {
            let found = connections(&systems, env, &app, service);
            assert!(!found.is_empty(), "{env}: {app} -> {service}");
            for c in found {
                assert_reaches(c, &format!("{provider}-{env}"), port);
            }
        }

        // Trino's policy: list, never read.
        let mut engine = trino_engine(&files, env);
        let user = "service-account-openmetadata-ingestion";
        let orders = serde_json::json!({"table": {
            "catalogName": "iceberg", "schemaName": "analytics", "tableName": "orders",
        }});
        assert!(trino_allows(
            &mut engine,
            user,
            &[],
            "ShowColumns",
            orders.clone()
        ));
        assert!(!trino_allows(
            &mut engine,
            user,
            &[],
            "SelectFromColumns",
            orders
        ));
    }
    // The role exists for either catalog, and never for none.
    let values = &docs(&files, "components/postgresql/values.yaml")[0];
    assert!(values["cluster"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "catalog-reader"));
    // The bot's token is a first-sync step of the README.
    assert!(text(&files, "README.md").contains("/<env>/openmetadata/ingestion-bot"));
}

#[test]
fn check_reports_broken_openmetadata_ingestion_connections() {
    let files = render(Some("full.yaml"));
    let path = "components/openmetadata/manifests/dev/ingestion.yaml";
    for (from, to, rule, says) in [
        // A role the cluster does not declare.
        (
            "username: catalog-reader",
            "username: postgres",
            "SOC-SYS-004",
            "role \"postgres\"",
        ),
        // A server the namespace does not run.
        (
            "hostPort: \"http://openmetadata.",
            "hostPort: \"http://openmetadata-server.",
            "SOC-SYS-004",
            "no Service \"openmetadata-server\"",
        ),
        // A client the realm does not declare.
        (
            "value: openmetadata-ingestion\n",
            "value: openmetadata-ingest\n",
            "SOC-SYS-013",
            "\"openmetadata-ingest\"",
        ),
        // The Airflow ingestion as a role the cluster does not declare.
        (
            "username: catalog-airflow-reader",
            "username: airflow-reader",
            "SOC-SYS-004",
            "role \"airflow-reader\"",
        ),
        // A bucket no store holds.
        (
            "dbtBucketName: dbt-artifacts",
            "dbtBucketName: dbt-artefacts",
            "SOC-SYS-012",
            "bucket \"dbt-artefacts\"",
        ),
    ] {
        assert_reported(&files, (path, from, to), rule, false, &[says]);
    }
}

#[test]
fn openmetadata_reads_the_dbt_artifacts_the_dbt_pod_leaves_in_their_bucket() {
    let files = render(Some("full.yaml"));
    // The dbt pod copies them there, with the pipelines' S3 keys.
    let settings = text(&files, "airflow/dags/data_platform/settings.py");
    assert!(settings.contains("DBT_ARTIFACTS_BUCKET = \"dbt-artifacts\""));
    let run = text(&files, "airflow/dags/data_platform/scripts/dbt_run.py");
    assert!(run.contains("upload_artifacts(project)"));
    for env in ENVIRONMENTS {
        let w = om_workflow(&files, env, "dbt.yaml");
        let source = &w["source"]["sourceConfig"]["config"]["dbtConfigSource"];
        assert_eq!(w["source"]["serviceName"], "trino");
        assert_eq!(source["dbtConfigType"], "s3");
        assert_eq!(source["dbtPrefixConfig"]["dbtBucketName"], "dbt-artifacts");
        assert_eq!(source["dbtPrefixConfig"]["dbtObjectPrefix"], env);
        // The catalog's own keys, read-only on that bucket.
        assert_eq!(
            source["dbtSecurityConfig"]["awsAccessKeyId"],
            "${AWS_ACCESS_KEY_ID}"
        );
        let es = docs(
            &files,
            &format!("components/openmetadata/manifests/{env}/ingestion.yaml"),
        )
        .into_iter()
        .find(|d| d["kind"] == "ExternalSecret")
        .expect("ExternalSecret");
        let keys: Vec<&str> = es["spec"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["remoteRef"]["key"].as_str())
            .collect();
        assert!(
            keys.contains(&format!("fullopt/{env}/openmetadata/s3").as_str()),
            "{keys:?}"
        );
    }
    // The simulation sees a read of the bucket by the catalog.
    let systems = systems(&files);
    for env in ENVIRONMENTS {
        let uses: Vec<&Value> = systems
            .iter()
            .filter(|s| s["environment"].as_str() == Some(env))
            .flat_map(|s| s["bucket_uses"].as_array().into_iter().flatten())
            .filter(|u| {
                u["bucket"] == "dbt-artifacts"
                    && u["consumer"].as_str() == Some(&format!("openmetadata-{env}"))
            })
            .collect();
        assert_eq!(uses.len(), 1, "{env}: {uses:?}");
        assert_eq!(uses[0]["access"], "read");
    }
    // Nothing is copied when the catalog does not read it.
    let default = render(None);
    assert!(text(&default, "airflow/dags/data_platform/settings.py")
        .contains("DBT_ARTIFACTS_BUCKET = None"));
}

/// The rendered dbt pod's script, run by `harness` (Python, given the
/// script's folder), with no cloud credentials of this machine's in its
/// environment: the JSON the harness prints last. None without python3.
fn run_dbt_harness(harness: &str) -> Option<Value> {
    let python = crate::support::tool("python3")?;
    let files = render(Some("full.yaml"));
    let dir = tempfile::tempdir().expect("temporary directory");
    fs_err::write(
        dir.path().join("dbt_run.py"),
        text(&files, "airflow/dags/data_platform/scripts/dbt_run.py"),
    )
    .expect("script written");
    let out = std::process::Command::new(python)
        .args(["-c", harness])
        .arg(dir.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The script prints what it copied; the report is the last line.
    let stdout = String::from_utf8_lossy(&out.stdout);
    Some(serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON report"))
}

/// A stand-in for the object store: it checks each PUT's Signature Version
/// 4 the way the store does (from the request it received), then keeps it.
const FAKE_S3: &str = r#"
import hashlib, hmac, http.server, json, os, sys, tempfile, threading, urllib.parse

sys.path.insert(0, sys.argv[1])
import dbt_run

got = []

class Store(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        auth = self.headers["Authorization"]
        algo, rest = auth.split(" ", 1)
        fields = dict(p.strip().split("=", 1) for p in rest.split(","))
        ak, day, region, service, term = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        canonical = "\n".join(
            ["PUT", self.path, ""]
            + [f"{h}:{self.headers[h].strip()}" for h in signed]
            + ["", ";".join(signed), self.headers["x-amz-content-sha256"]]
        )
        to_sign = "\n".join([algo, self.headers["x-amz-date"], f"{day}/{region}/{service}/{term}",
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = b"AWS4" + b"secret-key"
        for part in (day, region, service, term):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        ok = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest() == fields["Signature"]
        ok = ok and hashlib.sha256(body).hexdigest() == self.headers["x-amz-content-sha256"]
        got.append({"path": self.path, "ok": ok, "ak": ak, "region": region, "signed": signed, "size": len(body)})
        self.send_response(200 if ok else 403)
        self.end_headers()

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Store)
threading.Thread(target=server.serve_forever, daemon=True).start()
project = tempfile.mkdtemp()
os.makedirs(os.path.join(project, "target"))
for name in ("manifest.json", "run_results.json"):
    with open(os.path.join(project, "target", name), "w") as f:
        f.write(json.dumps({"name": name}))
os.environ.update({
    "ARTIFACTS_BUCKET": "dbt-artifacts", "ARTIFACTS_PREFIX": "dev",
    "S3_ENDPOINT": f"http://127.0.0.1:{server.server_port}", "S3_REGION": "eu-west-3",
    "AWS_ACCESS_KEY_ID": "access-key", "AWS_SECRET_ACCESS_KEY": "secret-key",
})
dbt_run.upload_artifacts(project)
server.shutdown()
print(json.dumps(got))
"#;

#[test]
fn the_dbt_pod_signs_its_artifact_uploads_as_the_store_checks_them() {
    let Some(got) = run_dbt_harness(FAKE_S3) else {
        return;
    };
    let got = got.as_array().expect("requests");
    // catalog.json is absent: copied only when a build wrote it.
    let paths: Vec<&str> = got.iter().filter_map(|r| r["path"].as_str()).collect();
    assert_eq!(
        paths,
        [
            "/dbt-artifacts/dev/manifest.json",
            "/dbt-artifacts/dev/run_results.json"
        ]
    );
    for r in got {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["ak"], "access-key");
        assert_eq!(r["region"], "eu-west-3");
        assert_eq!(
            r["signed"],
            serde_json::json!(["host", "x-amz-content-sha256", "x-amz-date"])
        );
    }
}

#[test]
fn openmetadata_reads_airflow_dags_and_runs_as_a_role_granted_those_tables_only() {
    let files = render(Some("full.yaml"));
    let systems = systems(&files);
    for env in ENVIRONMENTS {
        let w = om_workflow(&files, env, "airflow.yaml");
        let conn = &w["source"]["serviceConnection"]["config"];
        assert_eq!(conn["type"], "Airflow");
        assert_eq!(conn["connection"]["username"], "catalog-airflow-reader");
        assert_eq!(conn["connection"]["database"], "airflow");
        assert_eq!(
            w["source"]["sourceConfig"]["config"]["type"],
            "PipelineMetadata"
        );
        let found: Vec<&Value> = connections(
            &systems,
            env,
            &format!("openmetadata-{env}"),
            "postgresql-ro",
        )
        .into_iter()
        .filter(|c| c["role"] == "catalog-airflow-reader")
        .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0]["database"], "airflow");
        assert_reaches(found[0], &format!("postgresql-{env}"), 5432);

        // Airflow's role grants the DAG, run and task tables, nothing else.
        let job = &docs(
            &files,
            &format!("components/airflow/manifests/{env}/catalog-grants.yaml"),
        )[0];
        assert_eq!(job["kind"], "Job");
        let cmd = job["spec"]["template"]["spec"]["containers"][0]["command"]
            .as_array()
            .unwrap();
        let grant = cmd.last().and_then(Value::as_str).unwrap();
        assert!(grant.starts_with("GRANT SELECT ON TABLE "), "{grant}");
        assert!(grant.ends_with(" TO \"catalog-airflow-reader\""), "{grant}");
        for secret_table in ["connection", "variable", "xcom"] {
            assert!(
                !grant.split([' ', ',']).any(|t| t == secret_table),
                "{grant}"
            );
        }
    }
    let values = &docs(&files, "components/postgresql/values.yaml")[0];
    let role = values["cluster"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "catalog-airflow-reader")
        .expect("role");
    assert!(role.get("inRoles").is_none(), "{role}");
    // DataHub receives Airflow's lineage as events: no such role or Job.
    let default = render(None);
    assert!(!default.contains_key("components/airflow/manifests/dev/catalog-grants.yaml"));
    assert!(!text(&default, "components/postgresql/values.yaml").contains("catalog-airflow-reader"));
}

#[test]
fn check_reports_the_trino_ingestion_blocked_by_the_processing_namespace_policy() {
    // Processing stops admitting the catalog's namespace: the nightly
    // ingestion's queries to Trino are blocked at the receiving end.
    assert_reported(
        &render(None),
        (
            "platform/base/namespaces/processing/networkpolicies.yaml",
            "values: [core, datalab, governance]",
            "values: [core, datalab]",
        ),
        "SOC-SYS-005",
        true,
        &["datahub-", "trino"],
    );
}

/// The example with OpenMetadata as its catalog and prod on `prod`.
fn openmetadata_spec(prod: &str) -> String {
    let spec = crate::cloud::eks_spec_with(prod);
    assert!(
        spec.contains("  catalog: datahub "),
        "the example's catalog changed"
    );
    spec.replacen("  catalog: datahub ", "  catalog: openmetadata ", 1)
}

/// Where the cloud holds every other bucket of prod, the dbt artifacts
/// move too: the dbt pod runs as an account of its own that takes the
/// pipelines' identity, OpenMetadata's dbt ingestion reads them as an
/// account of its own, neither holds a key, and no MinIO runs in prod. On
/// EKS that is by web identity (the pod) and Pod Identity (the catalog),
/// on GKE by each account's own grant. The check follows the catalog's
/// use to its grant.
#[test]
fn the_dbt_artifacts_move_to_the_cloud_with_the_dbt_pod_and_the_catalog_on_their_identities() {
    let eks = crate::support::render_text(&openmetadata_spec(
        "  - name: prod\n    target: eks\n    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/16, account_id: \"123456789012\"}\n",
    ));
    let gke = crate::support::render_text(&openmetadata_spec(
        "  - name: prod\n    target: gke\n    cloud: {project: acme-data-prod, region: europe-west9, vpc_cidr: 10.30.0.0/16}\n",
    ));
    for (files, store, region) in [(&eks, "s3", "eu-west-3"), (&gke, "gcs", "")] {
        for gone in ["minio", "minio-operator", "data-protection"] {
            assert!(
                !files.contains_key(&format!("argocd/prod/applications/{gone}.yaml")),
                "{store}: {gone}"
            );
        }
        let buckets = text(files, "terraform/prod/buckets.tf");
        assert!(buckets.contains("\"acme-prod-dbt-artifacts\""), "{buckets}");
        // The catalog's workflow names the cloud's bucket and no key.
        let dbt = om_workflow(files, "prod", "dbt.yaml");
        let source = &dbt["source"]["sourceConfig"]["config"]["dbtConfigSource"];
        assert_eq!(source["dbtConfigType"], store, "{source}");
        assert_eq!(
            source["dbtPrefixConfig"]["dbtBucketName"],
            "acme-prod-dbt-artifacts"
        );
        let security = &source["dbtSecurityConfig"];
        if store == "gcs" {
            assert_eq!(
                security,
                &serde_json::json!({"gcpConfig": {"type": "gcp_adc"}})
            );
        } else {
            assert_eq!(security, &serde_json::json!({"awsRegion": region}));
        }
        let ingestion = docs(
            files,
            "components/openmetadata/manifests/prod/ingestion.yaml",
        );
        let cron = ingestion
            .iter()
            .find(|d| d["metadata"]["name"] == "openmetadata-ingestion-dbt")
            .expect("dbt CronJob");
        let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "openmetadata-dbt");
        assert!(!pod.to_string().contains("AWS_"), "{pod}");
        assert!(ingestion
            .iter()
            .any(|d| d["kind"] == "ServiceAccount" && d["metadata"]["name"] == "openmetadata-dbt"));
        let secret = ingestion
            .iter()
            .find(|d| d["kind"] == "ExternalSecret")
            .expect("ExternalSecret");
        assert!(!secret.to_string().contains("openmetadata/s3"), "{secret}");
        // Airflow tells the dbt pod where the bucket is and gives it no key.
        let airflow = text(files, "components/airflow/values-prod.yaml");
        assert!(
            airflow.contains(&format!(
                "name: PLATFORM_ARTIFACTS_STORE\n    value: {store}\n"
            )),
            "{airflow}"
        );
        let staging = text(files, "components/airflow/values-staging.yaml");
        assert!(staging.contains("name: PLATFORM_ARTIFACTS_STORE\n    value: store\n"));
        let tasks = text(files, "airflow/dags/data_platform/tasks.py");
        assert!(tasks.contains("service_account_name=settings.DBT_SERVICE_ACCOUNT"));
        assert!(tasks.contains("if store == \"store\":"), "{tasks}");
        let (code, findings) = check_json(files);
        assert_eq!((code, findings.len()), (0, 0), "{store}: {findings:#?}");
    }
    // EKS: the dbt pod's account takes the pipelines' role by web identity;
    // the catalog's account is associated with a role reading that bucket.
    let account = text(&eks, "spark/overlays/prod/dbt-account.yaml");
    assert!(
        account.contains(
            "eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/acme-prod-pipelines"
        ),
        "{account}"
    );
    let identity = text(&eks, "terraform/prod/identity.tf");
    assert!(
        identity.contains("\"system:serviceaccount:data-platform-processing:dbt\""),
        "{identity}"
    );
    let association = "\"aws_eks_pod_identity_association\" \"openmetadata_openmetadata_dbt\"";
    assert!(crate::support::resource(identity, association)
        .contains("service_account = \"openmetadata-dbt\""));
    // Without it, the catalog's reads are signed by no role: denied.
    let unassociated =
        crate::support::without_resource(&eks, "terraform/prod/identity.tf", association);
    crate::support::assert_denies(
        &unassociated,
        "SOC-SYS-025",
        &["openmetadata", "acme-prod-dbt-artifacts"],
    );
    // GKE: each account has its own grant.
    let identity = text(&gke, "terraform/prod/identity.tf");
    for member in [
        "/ns/data-platform-processing/sa/dbt\"",
        "/ns/data-platform-governance/sa/openmetadata-dbt\"",
    ] {
        assert!(identity.contains(member), "{member}");
    }
    // On EKS the dbt pod's role is named by its ARN: without the account,
    // and no store in the cluster to keep its keys in, the spec is refused
    // with what to give (naming the first such client: NiFi's flows, which
    // take their role by web identity too).
    let err = crate::support::socle_new_refuses(
        &crate::cloud::full_spec_on_eks().replace(", account_id: \"210987654321\"", ""),
    );
    assert!(
        err.contains("signs in to the cloud's storage by web identity")
            && err.contains("cloud.account_id"),
        "{err}"
    );
    // On the cluster, the store and its keys, as before.
    let kubernetes = render(Some("full.yaml"));
    let airflow = text(&kubernetes, "components/airflow/values-prod.yaml");
    assert!(airflow.contains("name: PLATFORM_ARTIFACTS_STORE\n    value: store\n"));
}

/// Stand-ins for what the dbt pod calls in the cloud: STS, which takes the
/// projected token for a role's session credentials; EKS's Pod Identity
/// agent; GKE's metadata server and Cloud Storage's upload API. Each
/// checks what it is sent as the service would, and the S3 PUTs are
/// checked as `FAKE_S3` checks them, with the session's secret.
const FAKE_CLOUD: &str = r#"
import hashlib, hmac, http.server, json, os, sys, tempfile, threading, urllib.parse

sys.path.insert(0, sys.argv[1])
import dbt_run

got = []
SESSION = {"AccessKeyId": "ASIASESSION", "SecretAccessKey": "session-secret", "Token": "session-token"}

class Cloud(http.server.BaseHTTPRequestHandler):
    def _reply(self, code, body=b"", kind="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/sts/":
            form = dict(urllib.parse.parse_qsl(body.decode()))
            ok = (form.get("Action") == "AssumeRoleWithWebIdentity"
                  and form.get("RoleArn") == "arn:aws:iam::123456789012:role/acme-prod-pipelines"
                  and form.get("WebIdentityToken") == "projected-token")
            got.append({"call": "sts", "ok": ok})
            xml = ('<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                   "<AssumeRoleWithWebIdentityResult><Credentials>"
                   f"<AccessKeyId>{SESSION['AccessKeyId']}</AccessKeyId>"
                   f"<SecretAccessKey>{SESSION['SecretAccessKey']}</SecretAccessKey>"
                   f"<SessionToken>{SESSION['Token']}</SessionToken>"
                   "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>")
            return self._reply(200 if ok else 403, xml.encode(), "text/xml")
        query = dict(urllib.parse.parse_qsl(url.query))
        ok = (url.path == "/upload/storage/v1/b/acme-prod-dbt-artifacts/o"
              and query.get("uploadType") == "media"
              and self.headers["Authorization"] == "Bearer metadata-token")
        got.append({"call": "gcs", "ok": ok, "name": query.get("name"), "size": len(body)})
        self._reply(200 if ok else 401, b"{}")

    def do_GET(self):
        if self.path == "/pod-identity":
            ok = self.headers["Authorization"] == "agent-token"
            got.append({"call": "agent", "ok": ok})
            return self._reply(200 if ok else 401, json.dumps(SESSION).encode())
        ok = (self.path == "/computeMetadata/v1/instance/service-accounts/default/token"
              and self.headers["Metadata-Flavor"] == "Google")
        got.append({"call": "metadata", "ok": ok})
        self._reply(200 if ok else 403, json.dumps({"access_token": "metadata-token"}).encode())

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        fields = dict(p.strip().split("=", 1) for p in self.headers["Authorization"].split(" ", 1)[1].split(","))
        ak, day, region, service, term = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        canonical = "\n".join(["PUT", self.path, ""] + [f"{h}:{self.headers[h].strip()}" for h in signed]
                              + ["", ";".join(signed), self.headers["x-amz-content-sha256"]])
        to_sign = "\n".join(["AWS4-HMAC-SHA256", self.headers["x-amz-date"], f"{day}/{region}/{service}/{term}",
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = b"AWS4" + SESSION["SecretAccessKey"].encode()
        for part in (day, region, service, term):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        ok = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest() == fields["Signature"]
        ok = ok and self.headers.get("x-amz-security-token") == SESSION["Token"]
        got.append({"call": "s3", "ok": ok, "path": self.path, "ak": ak, "signed": signed})
        self._reply(200 if ok else 403)

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Cloud)
threading.Thread(target=server.serve_forever, daemon=True).start()
base = f"127.0.0.1:{server.server_port}"
project = tempfile.mkdtemp()
os.makedirs(os.path.join(project, "target"))
with open(os.path.join(project, "target", "manifest.json"), "w") as f:
    f.write("{}")
token = os.path.join(project, "token")
with open(token, "w") as f:
    f.write("projected-token\n")
agent = os.path.join(project, "agent")
with open(agent, "w") as f:
    f.write("agent-token")
common = {"ARTIFACTS_BUCKET": "acme-prod-dbt-artifacts", "ARTIFACTS_PREFIX": "prod"}
s3 = {**common, "ARTIFACTS_STORE": "s3", "S3_ENDPOINT": f"http://{base}", "S3_REGION": "eu-west-3"}
cases = {
    "web-identity": {**s3, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/acme-prod-pipelines",
                     "AWS_WEB_IDENTITY_TOKEN_FILE": token, "AWS_ENDPOINT_URL_STS": f"http://{base}/sts"},
    "pod-identity": {**s3, "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://{base}/pod-identity",
                     "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": agent},
    "gcs": {**common, "ARTIFACTS_STORE": "gcs", "GCE_METADATA_HOST": base, "STORAGE_EMULATOR_HOST": f"http://{base}"},
    "nothing": dict(s3),
}
report = {}
clean = dict(os.environ)
for name, env in cases.items():
    os.environ.clear()
    os.environ.update(clean)
    os.environ.update(env)
    got.clear()
    try:
        dbt_run.upload_artifacts(project)
        report[name] = list(got)
    except RuntimeError as e:
        report[name] = str(e)
server.shutdown()
print(json.dumps(report))
"#;

#[test]
fn the_dbt_pod_signs_in_to_the_clouds_bucket_with_its_accounts_identity() {
    let Some(report) = run_dbt_harness(FAKE_CLOUD) else {
        return;
    };
    let calls = |case: &str| -> Vec<String> {
        report[case]
            .as_array()
            .unwrap_or_else(|| panic!("{case}: {}", report[case]))
            .iter()
            .map(|c| {
                assert_eq!(c["ok"], true, "{case}: {c}");
                c["call"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    };
    // The projected token for the role's session, then the PUT signed with
    // it, its session token among the signed headers.
    assert_eq!(calls("web-identity"), ["sts", "s3"]);
    let put = &report["web-identity"][1];
    assert_eq!(put["path"], "/acme-prod-dbt-artifacts/prod/manifest.json");
    assert_eq!(put["ak"], "ASIASESSION");
    assert_eq!(
        put["signed"],
        serde_json::json!([
            "host",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-security-token"
        ])
    );
    assert_eq!(calls("pod-identity"), ["agent", "s3"]);
    // Cloud Storage: the account's token from the metadata server.
    assert_eq!(calls("gcs"), ["metadata", "gcs"]);
    assert_eq!(report["gcs"][1]["name"], "prod/manifest.json");
    // No key and no identity: it says so rather than send an unsigned PUT.
    let nothing = report["nothing"].as_str().unwrap_or_default();
    assert!(nothing.starts_with("no S3 credentials"), "{nothing}");
}
