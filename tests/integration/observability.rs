//! Alerts, dashboards and runbooks of the generated repository: every alert
//! has a severity and a runbook that is rendered, the alerts of the seeds
//! exist with each environment's thresholds, the dashboards are Grafana JSON
//! with real queries, every deployed component has its runbook (and the
//! policy denies one without), the recovery plan states each environment's
//! objectives, and promtool accepts the rules and fires them at the
//! configured thresholds.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use socle::generate::{generate, Inputs};
use socle::render::FileSet;
use socle::source::Tree;

use crate::support::{materialise, render, repo_root, text, to_json, yaml_docs};

const SPECS: [Option<&str>; 2] = [None, Some("full.yaml")];

/// The alerts the seeds ask for (availability, pipelines, Trino, disks,
/// Iceberg compaction, PostgreSQL replication, backups), with a metric each
/// must be computed from.
const REQUIRED_ALERTS: &[(&str, &str)] = &[
    ("PlatformServiceDown", "up{"),
    ("PlatformComponentUnhealthy", "argocd_app_info"),
    ("PlatformPodsNotReady", "kube_pod_status_ready"),
    ("AirflowDagRepeatedFailures", "airflow_dagrun_failed_count"),
    (
        "TrinoSlowQueries",
        "trino_execution_querymanager_executiontime",
    ),
    (
        "TrinoQueryFailures",
        "trino_execution_querymanager_internalfailures",
    ),
    (
        "PersistentVolumeUsageHigh",
        "kubelet_volume_stats_used_bytes",
    ),
    (
        "IcebergCompactionNeeded",
        "minio_bucket_objects_size_distribution",
    ),
    ("PostgresReplicationLagHigh", "cnpg_pg_replication_lag"),
    (
        "PostgresBackupFailed",
        "cnpg_collector_last_failed_backup_timestamp",
    ),
    (
        "PostgresBackupTooOld",
        "cnpg_collector_last_available_backup_timestamp",
    ),
    ("VeleroBackupFailed", "velero_backup_failure_total"),
    (
        "VeleroBackupTooOld",
        "velero_backup_last_successful_timestamp",
    ),
];

const DASHBOARD_TITLES: [&str; 7] = [
    "Infrastructure overview",
    "Data platform health",
    "Pipelines",
    "Trino performance",
    "Iceberg tables",
    "Data quality",
    "Cost per team",
];

fn spec_text(spec: Option<&str>) -> String {
    match spec {
        Some(name) => fs_err::read_to_string(repo_root().join("tests/fixtures/specs").join(name))
            .expect("fixture"),
        None => socle::spec::EXAMPLE.to_owned(),
    }
}

/// Environment names of a spec, in order.
fn env_names(spec: Option<&str>) -> Vec<String> {
    let v: serde_json::Value = crate::support::yaml(&spec_text(spec)).expect("spec");
    to_json(&v)["environments"]
        .as_array()
        .expect("environments")
        .iter()
        .map(|e| e["name"].as_str().expect("name").to_owned())
        .collect()
}

/// An environment's settings as the model merges them: the defaults of
/// environments/<name>.yaml, then the spec's overrides.
fn env_settings(spec: Option<&str>, name: &str) -> Value {
    let defaults: serde_json::Value = crate::support::yaml(
        &fs_err::read_to_string(repo_root().join(format!("environments/{name}.yaml")))
            .expect("environment defaults"),
    )
    .expect("yaml");
    let mut merged = to_json(&defaults);
    let spec: serde_json::Value = crate::support::yaml(&spec_text(spec)).expect("spec");
    let spec = to_json(&spec);
    let entry = spec["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .expect("environment in spec");
    if let Some(overrides) = entry.get("overrides") {
        socle::model::deep_merge(&mut merged, overrides);
    }
    merged
}

/// Every alert rule of a rendered environment: name → rules (an alert may
/// have several, e.g. one per severity).
fn alerts(files: &FileSet, env: &str) -> BTreeMap<String, Vec<Value>> {
    let path = format!("observability/overlays/{env}/prometheusrules.yaml");
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (p, doc) in yaml_docs(files) {
        if p != path {
            continue;
        }
        let doc = to_json(&doc);
        assert_eq!(doc["kind"], "PrometheusRule", "{p}");
        for group in doc["spec"]["groups"].as_array().expect("groups") {
            for rule in group["rules"].as_array().expect("rules") {
                if let Some(name) = rule["alert"].as_str() {
                    out.entry(name.to_owned()).or_default().push(rule.clone());
                }
            }
        }
    }
    assert!(!out.is_empty(), "no alert rule in {path}");
    out
}

/// The number right after the last `>` of an expression (the threshold).
fn threshold(expr: &str) -> f64 {
    let tail = expr
        .rsplit('>')
        .next()
        .expect("comparison")
        .trim_start_matches('=')
        .trim();
    let number: String = tail
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number
        .parse()
        .unwrap_or_else(|_| panic!("no threshold at the end of {expr}"))
}

fn expr(rules: &BTreeMap<String, Vec<Value>>, alert: &str) -> String {
    rules[alert][0]["expr"].as_str().expect("expr").to_owned()
}

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

#[test]
fn every_alert_has_a_severity_and_a_rendered_runbook() {
    for spec in SPECS {
        let parsed: serde_json::Value = crate::support::yaml(&spec_text(spec)).expect("spec");
        let hub = to_json(&parsed)["argocd"]["topology"] == "hub";
        alerts_have_severities_and_runbooks(
            &render(spec),
            &format!("{spec:?}"),
            &env_names(spec),
            hub,
        );
    }
    // With prod on EKS, prod's rules hold the Cluster Autoscaler's alerts.
    let eks = crate::support::render_eks();
    assert!(alerts(&eks, "prod").contains_key("ClusterAutoscalerNodeGroupFull"));
    let names = ["dev", "staging", "prod"].map(String::from);
    alerts_have_severities_and_runbooks(&eks, "prod on EKS", &names, false);
}

/// Every alert of every environment has a severity, its environment's
/// label, a summary and a description, and links a rendered runbook with
/// the five sections.
fn alerts_have_severities_and_runbooks(files: &FileSet, spec: &str, names: &[String], hub: bool) {
    for env in names {
        for (name, rules) in alerts(files, env) {
            for rule in rules {
                let severity = rule["labels"]["severity"].as_str();
                assert!(
                    matches!(severity, Some("critical" | "warning" | "info")),
                    "{spec}/{env}: {name} has severity {severity:?}"
                );
                // A hub's Prometheus evaluates the Argo CD health alerts
                // of every environment (see argocd_topology.rs).
                let labelled = rule["labels"]["environment"].as_str().unwrap_or_default();
                assert!(
                    labelled == env.as_str()
                        || hub
                            && name == "PlatformComponentUnhealthy"
                            && names.iter().any(|n| n == labelled),
                    "{spec}/{env}: {name} is labelled {labelled:?}"
                );
                for key in ["summary", "description"] {
                    assert!(
                        rule["annotations"][key]
                            .as_str()
                            .is_some_and(|s| !s.is_empty()),
                        "{name} has no {key}"
                    );
                }
                let url = rule["annotations"]["runbook_url"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name} has no runbook_url"));
                assert_eq!(url, format!("runbooks/alerts/{name}.md"));
                let runbook = text(files, url);
                assert!(
                    runbook.starts_with(&format!("# {name}\n")),
                    "{url} is not the runbook of {name}"
                );
                for section in [
                    "## Meaning",
                    "## Impact",
                    "## Diagnosis",
                    "## Fix",
                    "## Escalation",
                ] {
                    assert!(runbook.contains(section), "{url} lacks {section}");
                }
                assert!(
                    !runbook.contains("{{"),
                    "{url} has an unrendered expression"
                );
            }
        }
    }
}

#[test]
fn every_alert_of_the_seeds_exists_on_its_metric() {
    let files = render(None);
    for env in env_names(None) {
        let rules = alerts(&files, &env);
        for (alert, metric) in REQUIRED_ALERTS {
            let rules = rules
                .get(*alert)
                .unwrap_or_else(|| panic!("{env}: alert {alert} missing"));
            assert!(
                rules
                    .iter()
                    .any(|r| r["expr"].as_str().unwrap().contains(metric)),
                "{env}: {alert} does not read {metric}"
            );
        }
    }
    // Environments that share a cluster leave the cluster-wide signals to
    // the environment owning it, and alert on their own namespaces only.
    let full = render(Some("full.yaml"));
    let staging = alerts(&full, "staging");
    assert!(!staging.contains_key("VeleroBackupFailed"));
    let down = expr(&staging, "PlatformServiceDown");
    assert!(down.contains("data-platform-storage-stg"), "{down}");
    assert!(!down.contains("data-platform-storage-dev"), "{down}");
    assert!(alerts(&full, "dev").contains_key("VeleroBackupFailed"));
}

#[test]
fn thresholds_follow_each_environment() {
    for spec in SPECS {
        let files = render(spec);
        for env in env_names(spec) {
            let settings = env_settings(spec, &env);
            let a = &settings["alerts"];
            let rules = alerts(&files, &env);
            for (alert, key) in [
                ("PersistentVolumeUsageHigh", "disk_usage_percent"),
                (
                    "PostgresReplicationLagHigh",
                    "postgres_replication_lag_seconds",
                ),
                ("TrinoSlowQueries", "trino_slow_query_seconds"),
                ("TrinoQueryFailures", "trino_failure_ratio"),
                ("AirflowDagRepeatedFailures", "pipeline_failures"),
            ] {
                assert_eq!(
                    threshold(&expr(&rules, alert)),
                    number(&a[key]),
                    "{spec:?}/{env}: {alert} vs alerts.{key}"
                );
            }
            let backup_age = expr(&rules, "PostgresBackupTooOld");
            assert!(
                backup_age.contains(&format!("> {} * 3600", number(&a["backup_max_age_hours"]))),
                "{backup_age}"
            );
            assert_eq!(
                rules["PlatformServiceDown"][0]["for"], a["service_down_for"],
                "{env}"
            );
            assert!(
                expr(&rules, "AirflowDagRepeatedFailures")
                    .contains(&format!("[{}]", a["pipeline_window"].as_str().unwrap())),
                "{env}"
            );
        }
    }
    // Prod is the strictest environment, and the defaults differ per
    // environment.
    let dev = env_settings(None, "dev")["alerts"].clone();
    let prod = env_settings(None, "prod")["alerts"].clone();
    for key in [
        "disk_usage_percent",
        "postgres_replication_lag_seconds",
        "trino_slow_query_seconds",
        "trino_failure_ratio",
        "pipeline_failures",
        "backup_max_age_hours",
        "iceberg_small_files_ratio",
    ] {
        assert!(
            number(&prod[key]) < number(&dev[key]),
            "prod not stricter on {key}"
        );
    }
    assert_eq!(prod["disk_usage_percent"], 80, "the seeds' 80 % in prod");
    assert_eq!(
        prod["trino_slow_query_seconds"], 300,
        "the seeds' 5 minutes in prod"
    );
    assert_eq!(prod["pager"], true);
    assert_eq!(dev["pager"], false);
}

#[test]
fn changed_environment_defaults_change_the_rules_and_the_routing() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["dev", "staging", "prod"] {
        let mut text =
            fs_err::read_to_string(repo_root().join(format!("environments/{name}.yaml"))).unwrap();
        if name == "dev" {
            assert!(
                text.contains("  disk_usage_percent: 90\n") && text.contains("  pager: false\n")
            );
            text = text
                .replace("  disk_usage_percent: 90\n", "  disk_usage_percent: 70\n")
                .replace("  pager: false\n", "  pager: true\n");
        }
        fs_err::write(dir.path().join(format!("{name}.yaml")), text).unwrap();
    }
    for sub in ["components"] {
        let from = repo_root().join("environments").join(sub);
        if from.is_dir() {
            let to = dir.path().join(sub);
            fs_err::create_dir_all(&to).unwrap();
            for entry in fs_err::read_dir(&from).unwrap() {
                let entry = entry.unwrap();
                fs_err::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }
    let environments = Tree::from_dir(dir.path()).expect("environments");
    let blueprint = Tree::embedded_blueprint();
    let files = generate(&Inputs {
        spec_text: &spec_text(None),
        spec_origin: "socle.yaml",
        blueprint: &blueprint,
        environments: &environments,
    })
    .unwrap_or_else(|e| panic!("render: {e}"))
    .files;
    let receivers = |files: &FileSet| {
        let values: serde_json::Value = crate::support::yaml(text(
            files,
            "components/kube-prometheus-stack/values-dev.yaml",
        ))
        .unwrap();
        to_json(&values)["alertmanager"]["config"]["receivers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let rules = alerts(&files, "dev");
    assert_eq!(threshold(&expr(&rules, "PersistentVolumeUsageHigh")), 70.0);
    assert!(
        receivers(&files).contains(&"pager".to_owned()),
        "paging enabled"
    );
    let default = render(None);
    assert_eq!(
        threshold(&expr(&alerts(&default, "dev"), "PersistentVolumeUsageHigh")),
        90.0
    );
    assert!(
        !receivers(&default).contains(&"pager".to_owned()),
        "dev does not page by default"
    );
    let secrets = text(
        &files,
        "components/kube-prometheus-stack/manifests/dev/externalsecrets.yaml",
    );
    assert!(
        secrets.contains("acme/dev/alertmanager/pagerduty"),
        "routing key from the store"
    );
}

#[test]
fn dashboards_are_grafana_json_with_queries() {
    let files = render(None);
    let kustomization: serde_json::Value =
        crate::support::yaml(text(&files, "observability/base/kustomization.yaml")).unwrap();
    let kustomization = to_json(&kustomization);
    // The labels and folder annotation the Grafana sidecar selects on.
    let kps: serde_json::Value =
        crate::support::yaml(text(&files, "components/kube-prometheus-stack/values.yaml")).unwrap();
    let sidecar = to_json(&kps)["grafana"]["sidecar"]["dashboards"].clone();
    let options = &kustomization["generatorOptions"];
    let label = sidecar["label"].as_str().unwrap();
    assert_eq!(options["labels"][label], sidecar["labelValue"]);
    let folder = sidecar["folderAnnotation"].as_str().unwrap();
    assert!(options["annotations"][folder].is_string());
    assert_eq!(options["disableNameSuffixHash"], true);

    let mut titles = BTreeSet::new();
    let mut uids = BTreeSet::new();
    for entry in kustomization["configMapGenerator"]
        .as_array()
        .expect("generator")
    {
        let file = entry["files"][0].as_str().unwrap();
        let path = format!("observability/base/{file}");
        let dashboard: Value =
            serde_json::from_str(text(&files, &path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let title = dashboard["title"].as_str().unwrap().to_owned();
        assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36, "{path}");
        assert!(
            uids.insert(dashboard["uid"].as_str().unwrap().to_owned()),
            "{path}: uid reused"
        );
        let queries = crate::support::dashboard_queries(&path, &dashboard).len();
        assert!(queries >= 5, "{path}: only {queries} queries");
        titles.insert(title);
    }
    let expected: BTreeSet<String> = DASHBOARD_TITLES.iter().map(|s| s.to_string()).collect();
    assert_eq!(titles, expected);

    // Cost per team prices requests with unit prices the user sets.
    let cost: Value = serde_json::from_str(text(
        &files,
        "observability/base/dashboards/cost-per-team.json",
    ))
    .unwrap();
    let vars = crate::support::dashboard_variables(&cost);
    for v in ["cpu_price", "memory_price", "storage_price"] {
        assert!(vars.contains(v), "cost dashboard lacks ${v}");
    }

    // Dashboards go with the Grafana of each cluster: an environment that
    // shares its cluster does not deploy them a second time.
    let full = render(Some("full.yaml"));
    let overlay = |env: &str| {
        text(
            &full,
            &format!("observability/overlays/{env}/kustomization.yaml"),
        )
        .to_owned()
    };
    assert!(overlay("dev").contains("../../base"));
    assert!(!overlay("staging").contains("../../base"));
    assert!(overlay("prod").contains("../../base"));
}

/// Components deployed in a rendering: the component label of its ArgoCD
/// Applications.
fn deployed(files: &FileSet) -> BTreeSet<String> {
    yaml_docs(files)
        .into_iter()
        .map(|(_, d)| to_json(&d))
        .filter(|d| d["kind"] == "Application" && d["apiVersion"] == "argoproj.io/v1alpha1")
        .filter_map(|d| {
            d["metadata"]["labels"]["app.kubernetes.io/component"]
                .as_str()
                .map(String::from)
        })
        .collect()
}

#[test]
fn every_deployed_component_has_a_runbook_and_only_those() {
    for spec in SPECS {
        let files = render(spec);
        let components = deployed(&files);
        assert!(components.len() > 20, "{spec:?}: {components:?}");
        let runbooks: BTreeSet<String> = files
            .keys()
            .filter_map(|p| p.strip_prefix("runbooks/components/"))
            .filter_map(|p| p.strip_suffix(".md"))
            .map(String::from)
            .collect();
        assert_eq!(runbooks, components, "{spec:?}");
        for c in &components {
            let path = format!("runbooks/components/{c}.md");
            let body = text(&files, &path);
            for section in [
                "## Health checks",
                "## Common failures",
                "## Scaling",
                "## Backup and restore",
            ] {
                assert!(body.contains(section), "{path} lacks {section}");
            }
            assert!(
                body.contains("kubectl") || body.contains("velero"),
                "{path}: no command"
            );
            assert!(
                body.contains(&format!("`{c}-")),
                "{path}: no Application name"
            );
        }
    }
    // Choices decide which runbooks exist.
    let default = render(None);
    let full = render(Some("full.yaml"));
    assert!(default.contains_key("runbooks/components/datahub.md"));
    assert!(!default.contains_key("runbooks/components/airbyte.md"));
    assert!(full.contains_key("runbooks/components/airbyte.md"));
    assert!(!full.contains_key("runbooks/components/datahub.md"));
    // Namespaces and hosts are the client's.
    let trino = text(&full, "runbooks/components/trino.md");
    assert!(trino.contains("data-platform-processing-stg"), "{trino}");
    assert!(
        trino.contains("https://trino.dev.apps.fullopt.example"),
        "{trino}"
    );
}

#[test]
fn disaster_recovery_plan_states_each_environments_objectives() {
    for spec in SPECS {
        let files = render(spec);
        let plan = text(&files, "runbooks/disaster-recovery.md");
        for env in env_names(spec) {
            let s = env_settings(spec, &env);
            let row = format!(
                "| {env} | {} | {} | `{}` |",
                s["rto"].as_str().unwrap(),
                s["rpo"].as_str().unwrap(),
                s["backup"]["schedule"].as_str().unwrap()
            );
            assert!(plan.contains(&row), "{spec:?}: no row {row}");
        }
        // Restore order: cluster, operators, Velero, PostgreSQL, object
        // storage, verification.
        let steps = [
            "## 1. Cluster",
            "## 2. Operators",
            "## 3. Velero",
            "## 4. PostgreSQL point-in-time recovery",
            "## 5. Object storage",
            "## 6. Verification",
        ];
        let positions: Vec<usize> = steps
            .iter()
            .map(|s| plan.find(s).unwrap_or_else(|| panic!("no {s}")))
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "steps out of order"
        );
        // Recovered through the plugin that wrote the archive, from where
        // each environment's archive is.
        for needle in [
            "method: plugin",
            "name: barman-cloud.cloudnative-pg.io",
            "bucket `backups`",
            "/postgresql/prod",
            "pitrTarget",
        ] {
            assert!(plan.contains(needle), "plan lacks {needle}");
        }
    }
    let full = text(&render(Some("full.yaml")), "runbooks/disaster-recovery.md").to_owned();
    assert!(full.contains("| prod | 2h | 30m |"), "override of the spec");
}

#[test]
fn onboarding_covers_each_group_with_the_clients_hosts() {
    let files = render(Some("full.yaml"));
    let guide = text(&files, "runbooks/onboarding.md");
    for group in ["ops", "engineers", "analysts", "scientists"] {
        assert!(
            guide.contains(&format!("### `{group}`")),
            "no section for {group}"
        );
    }
    assert!(guide.contains("https://airflow.dev.apps.fullopt.example"));
    assert!(guide.contains("https://openmetadata.dev.apps.fullopt.example"));
    assert!(!guide.contains("datahub."), "catalog not chosen");
    assert!(guide.contains("https://keycloak.dev.apps.fullopt.example/realms/fullopt-data/account"));
}

fn socle_check(dir: &std::path::Path) -> (bool, String) {
    let out = Command::cargo_bin("socle")
        .expect("socle binary")
        .env("NO_COLOR", "1")
        .args(["check", "--fail-on", "warn"])
        .arg(dir)
        .output()
        .expect("run socle check");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn generated_repositories_have_no_findings() {
    for spec in SPECS {
        let dir = materialise(&render(spec));
        // No denial and no warning: every link resolves, every HTTPS
        // consumer is given the platform CA, and egress leaves the pod
        // network only for the addresses the specs declare.
        let (ok, out) = socle_check(dir.path());
        assert!(
            ok && out.contains("0 denial(s), 0 warning(s)"),
            "{spec:?}: {out}"
        );
    }
}

#[test]
fn a_component_without_its_runbook_is_denied() {
    let dir = materialise(&render(None));
    fs_err::remove_file(dir.path().join("runbooks/components/trino.md")).unwrap();
    let (ok, out) = socle_check(dir.path());
    assert!(!ok, "{out}");
    assert!(out.contains("SOC-OBS-002"), "{out}");
    assert!(out.contains("runbooks/components/trino.md"), "{out}");
}

/// promtool unit test: the volume and replication-lag alerts fire just above
/// the environment's threshold and stay quiet just below it.
fn unit_test(env: &str, storage_ns: &str, disk: f64, lag: f64) -> String {
    let above_disk = disk + 1.0;
    let below_disk = disk - 1.0;
    format!(
        r#"rule_files: [bare.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'kubelet_volume_stats_used_bytes{{namespace="{storage_ns}", persistentvolumeclaim="full"}}'
        values: '{above_disk}x30'
      - series: 'kubelet_volume_stats_capacity_bytes{{namespace="{storage_ns}", persistentvolumeclaim="full"}}'
        values: '100x30'
      - series: 'kubelet_volume_stats_used_bytes{{namespace="{storage_ns}", persistentvolumeclaim="fine"}}'
        values: '{below_disk}x30'
      - series: 'kubelet_volume_stats_capacity_bytes{{namespace="{storage_ns}", persistentvolumeclaim="fine"}}'
        values: '100x30'
      - series: 'cnpg_pg_replication_lag{{namespace="{storage_ns}", pod="postgresql-2"}}'
        values: '{lag_above}x30'
      - series: 'cnpg_pg_replication_lag{{namespace="{storage_ns}", pod="postgresql-3"}}'
        values: '{lag_below}x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: PersistentVolumeUsageHigh
        exp_alerts:
          - exp_labels:
              severity: warning
              environment: {env}
              namespace: {storage_ns}
              persistentvolumeclaim: full
      - eval_time: 10m
        alertname: PostgresReplicationLagHigh
        exp_alerts:
          - exp_labels:
              severity: warning
              environment: {env}
              namespace: {storage_ns}
              pod: postgresql-2
"#,
        lag_above = lag + 1.0,
        lag_below = (lag - 1.0).max(0.0),
    )
}

#[test]
fn promtool_accepts_the_rules_and_fires_them_at_the_thresholds() {
    let Some(promtool) = crate::support::tool("promtool") else {
        return;
    };
    for spec in SPECS {
        let files = render(spec);
        for env in env_names(spec) {
            let path = format!("observability/overlays/{env}/prometheusrules.yaml");
            let doc = yaml_docs(&files)
                .into_iter()
                .find(|(p, _)| *p == path)
                .map(|(_, d)| to_json(&d))
                .expect("rules");
            let dir = tempfile::tempdir().unwrap();
            let rules = dir.path().join("rules.yaml");
            // JSON is YAML: promtool reads it as is.
            fs_err::write(&rules, serde_json::to_string_pretty(&doc["spec"]).unwrap()).unwrap();
            let out = Command::new(&promtool)
                .args(["check", "rules"])
                .arg(&rules)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{spec:?}/{env}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let settings = env_settings(spec, &env);
            let storage_ns = doc["spec"]["groups"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|g| g["rules"].as_array().unwrap().iter())
                .find(|r| r["alert"] == "PostgresReplicationLagHigh")
                .and_then(|r| r["expr"].as_str())
                .and_then(|e| e.split("namespace=\"").nth(1))
                .and_then(|e| e.split('"').next())
                .expect("storage namespace")
                .to_owned();
            // Unit tests compare annotations too; the thresholds are what
            // is tested here, so the test copy of the rules has none.
            let mut bare = doc["spec"].clone();
            for group in bare["groups"].as_array_mut().unwrap() {
                for rule in group["rules"].as_array_mut().unwrap() {
                    rule.as_object_mut().unwrap().remove("annotations");
                }
            }
            fs_err::write(
                dir.path().join("bare.yaml"),
                serde_json::to_string_pretty(&bare).unwrap(),
            )
            .unwrap();
            let test = dir.path().join("test.yaml");
            fs_err::write(
                &test,
                unit_test(
                    &env,
                    &storage_ns,
                    number(&settings["alerts"]["disk_usage_percent"]),
                    number(&settings["alerts"]["postgres_replication_lag_seconds"]),
                ),
            )
            .unwrap();
            let out = Command::new(&promtool)
                .current_dir(dir.path())
                .args(["test", "rules", "test.yaml"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{spec:?}/{env}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn a_spec_overrides_an_environments_alert_thresholds() {
    let spec = socle::spec::EXAMPLE.replace(
        "    cluster: https://prod.k8s.acme.example:6443\n",
        "    cluster: https://prod.k8s.acme.example:6443\n    overrides:\n      alerts:\n        disk_usage_percent: 70\n",
    );
    assert_ne!(spec, socle::spec::EXAMPLE);
    let files = crate::support::render_text(&spec);
    let prod = alerts(&files, "prod");
    assert_eq!(threshold(&expr(&prod, "PersistentVolumeUsageHigh")), 70.0);
    // The other environments keep their defaults.
    let dev = alerts(&files, "dev");
    assert_eq!(
        threshold(&expr(&dev, "PersistentVolumeUsageHigh")),
        number(&env_settings(None, "dev")["alerts"]["disk_usage_percent"])
    );
    // Out of range: refused with the field and its line.
    let bad = spec.replace("disk_usage_percent: 70", "disk_usage_percent: 170");
    let err = generate(&Inputs {
        spec_text: &bad,
        spec_origin: "socle.yaml",
        blueprint: &Tree::embedded_blueprint(),
        environments: &Tree::embedded_environments(),
    })
    .err()
    .expect("refused")
    .to_string();
    assert!(
        err.contains("socle.yaml") && err.contains("alerts.disk_usage_percent"),
        "{err}"
    );
}
