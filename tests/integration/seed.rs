//! What the seed documents ask of the running platform, judged on the
//! rendered files: Trino's resource groups per role and team, Spark's prod
//! sizing, the Airbyte workers' autoscaler, the object store's lifecycle
//! rules, maintained images only, and no package fetched from the internet
//! when the spec names mirrors.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use socle::render::FileSet;

use crate::support::{fixture, render, text};

const SPECS: [Option<&str>; 3] = [None, Some("full.yaml"), Some("hostile.yaml")];

fn yaml(files: &FileSet, path: &str) -> Value {
    serde_saphyr::from_str(text(files, path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn spec(name: Option<&str>) -> Value {
    let text = match name {
        Some(n) => fs_err::read_to_string(fixture(&format!("specs/{n}"))).expect("fixture"),
        None => socle::spec::EXAMPLE.to_owned(),
    };
    serde_saphyr::from_str(&text).expect("spec")
}

fn env_names(spec: &Value) -> Vec<String> {
    spec["environments"]
        .as_array()
        .expect("environments")
        .iter()
        .map(|e| e["name"].as_str().expect("name").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// Trino resource groups

/// The file-based resource group configuration as Trino reads it
/// (`ManagerSpec`, `ResourceGroupSpec`, `SelectorSpec` of
/// trino-resource-group-managers): unknown fields are refused so that a
/// misspelt limit does not silently fall back to a default.
fn trino_resource_groups_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["rootGroups", "selectors"],
        "properties": {
            "rootGroups": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/group"}},
            "selectors": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/selector"}},
            "cpuQuotaPeriod": {"type": "string"}
        },
        "$defs": {
            "limit": {"type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?%|[0-9]+(\\.[0-9]+)?[kMGTP]?B)$"},
            "group": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "softMemoryLimit", "hardConcurrencyLimit", "maxQueued"],
                "properties": {
                    "name": {"type": "string", "pattern": "^([^.$]+|\\$\\{USER\\}|\\$\\{SOURCE\\})$"},
                    "softMemoryLimit": {"$ref": "#/$defs/limit"},
                    "hardConcurrencyLimit": {"type": "integer", "minimum": 0},
                    "softConcurrencyLimit": {"type": "integer", "minimum": 0},
                    "maxQueued": {"type": "integer", "minimum": 0},
                    "schedulingPolicy": {"enum": ["fair", "weighted", "weighted_fair", "query_priority"]},
                    "schedulingWeight": {"type": "integer", "minimum": 1},
                    "jmxExport": {"type": "boolean"},
                    "softCpuLimit": {"type": "string"},
                    "hardCpuLimit": {"type": "string"},
                    "hardPhysicalDataScanLimit": {"type": "string"},
                    "subGroups": {"type": "array", "items": {"$ref": "#/$defs/group"}}
                }
            },
            "selector": {
                "type": "object",
                "additionalProperties": false,
                "required": ["group"],
                "minProperties": 2,
                "properties": {
                    "group": {"type": "string"},
                    "user": {"type": "string"},
                    "userGroup": {"type": "string"},
                    "originalUser": {"type": "string"},
                    "authenticatedUser": {"type": "string"},
                    "source": {"type": "string"},
                    "queryType": {"type": "string"},
                    "clientTags": {"type": "array", "items": {"type": "string"}},
                    "selectorResourceEstimate": {"type": "object"}
                }
            }
        }
    })
}

/// Every group id of the configuration, with whether it is a leaf (queries
/// run only in leaves).
fn group_ids(groups: &Value, prefix: &str, out: &mut BTreeMap<String, bool>) {
    for g in groups.as_array().into_iter().flatten() {
        let name = g["name"].as_str().expect("group name");
        let id = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        };
        let subs = g["subGroups"].as_array().map(Vec::len).unwrap_or(0);
        assert!(
            out.insert(id.clone(), subs == 0).is_none(),
            "group {id} defined twice"
        );
        group_ids(&g["subGroups"], &id, out);
    }
}

fn resource_groups(files: &FileSet, env: &str) -> Value {
    let path = format!("components/trino/values-{env}.yaml");
    let values = yaml(files, &path);
    assert_eq!(
        values["resourceGroups"]["type"], "configmap",
        "{path}: the chart mounts the file only with type configmap"
    );
    let config = values["resourceGroups"]["resourceGroupsConfig"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no resourceGroupsConfig"));
    serde_json::from_str(config).unwrap_or_else(|e| panic!("{path}: not JSON: {e}"))
}

#[test]
fn trino_resource_groups_give_each_role_and_team_a_group_selected_by_the_realm_groups() {
    let schema = jsonschema::validator_for(&trino_resource_groups_schema()).expect("schema");
    for name in SPECS {
        let spec = spec(name);
        let files = render(name);
        // Groups of the spec, by the role they grant, in spec order.
        let mut by_role: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut spec_groups = BTreeSet::new();
        for g in spec["keycloak"]["groups"].as_array().expect("groups") {
            let (group, role) = (g["name"].as_str().unwrap(), g["role"].as_str().unwrap());
            by_role.entry(role.into()).or_default().push(group.into());
            spec_groups.insert(group.to_owned());
        }
        for env in env_names(&spec) {
            let at = format!("{name:?}/{env}");
            let config = resource_groups(&files, &env);
            let errors: Vec<String> = schema
                .iter_errors(&config)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{at}: not a valid Trino resource group file: {errors:#?}"
            );

            let mut ids = BTreeMap::new();
            group_ids(&config["rootGroups"], "", &mut ids);
            // One group per role, one per team under it.
            for (role, groups) in &by_role {
                assert!(
                    ids.contains_key(&format!("platform.{role}")),
                    "{at}: no group for role {role}"
                );
                for g in groups {
                    assert!(
                        ids.contains_key(&format!("platform.{role}.{g}")),
                        "{at}: no group for team {g} under role {role}"
                    );
                }
            }

            let selectors = config["selectors"].as_array().unwrap();
            for s in selectors {
                let target = s["group"].as_str().unwrap();
                assert_eq!(
                    ids.get(target),
                    Some(&true),
                    "{at}: selector {s} targets no leaf group"
                );
            }
            // Every realm group is selected, into its role's team group, and
            // no selector names a group the realm does not have.
            let selected: BTreeSet<String> = selectors
                .iter()
                .filter_map(|s| s["userGroup"].as_str().map(str::to_owned))
                .collect();
            assert_eq!(
                selected, spec_groups,
                "{at}: selected groups differ from the spec's"
            );
            for s in selectors.iter().filter(|s| s["userGroup"].is_string()) {
                let group = s["userGroup"].as_str().unwrap();
                let (role, _) = by_role
                    .iter()
                    .find(|(_, gs)| gs.iter().any(|g| g == group))
                    .unwrap();
                assert!(
                    s["group"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("platform.{role}.{group}")),
                    "{at}: members of {group} ({role}) run in {}",
                    s["group"]
                );
            }
            // A user in groups of several roles runs in the most privileged.
            let order = [
                "platform-admin",
                "data-engineer",
                "data-scientist",
                "data-analyst",
            ];
            let ranks: Vec<usize> = selectors
                .iter()
                .filter_map(|s| s["group"].as_str()?.split('.').nth(1))
                .filter_map(|role| order.iter().position(|r| *r == role))
                .collect();
            assert!(
                ranks.windows(2).all(|w| w[0] <= w[1]),
                "{at}: selectors not by role precedence: {ranks:?}"
            );
            // The pipelines' service account has no groups: selected by user.
            let pipelines: Vec<&Value> = selectors
                .iter()
                .filter(|s| s["user"] == "service-account-pipelines")
                .collect();
            assert_eq!(
                pipelines.len(),
                1,
                "{at}: the pipelines' service account is not selected"
            );
            assert!(pipelines[0].get("userGroup").is_none());
            assert_eq!(pipelines[0]["group"], "platform.pipelines", "{at}");
            // Limits: the root caps what its children may take together.
            let root = &config["rootGroups"][0];
            for child in root["subGroups"].as_array().unwrap() {
                assert!(
                    child["hardConcurrencyLimit"].as_i64() <= root["hardConcurrencyLimit"].as_i64(),
                    "{at}: {} runs more queries than the cluster",
                    child["name"]
                );
            }
        }
    }
}

#[test]
fn trino_resource_groups_are_sized_per_environment() {
    let files = render(None);
    let running =
        |env: &str| resource_groups(&files, env)["rootGroups"][0]["hardConcurrencyLimit"].as_i64();
    assert!(running("dev") < running("staging") && running("staging") < running("prod"));
}

// ---------------------------------------------------------------------------
// Spark jobs

/// A Spark memory setting ("3g", "512m") in MiB.
fn spark_mib(v: &Value) -> u64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a Spark size: {v}"));
    let (n, unit) = s.split_at(s.len() - 1);
    let n: u64 = n
        .parse()
        .unwrap_or_else(|_| panic!("not a Spark size: {s}"));
    match unit {
        "g" => n * 1024,
        "m" => n,
        _ => panic!("not a Spark size: {s}"),
    }
}

#[test]
fn spark_jobs_in_prod_follow_the_seed_annex() {
    for name in [None, Some("full.yaml")] {
        let files = render(name);
        let app = yaml(&files, "airflow/dags/data_platform/spark/ingest-prod.yaml");
        assert_eq!(app["kind"], "SparkApplication");
        let spec = &app["spec"];
        // Driver 2 CPU / 4 Gi, executors 2 CPU / 8 Gi (pod = memory + overhead).
        for (role, cpu, gib) in [("driver", 2, 4), ("executor", 2, 8)] {
            let pod = &spec[role];
            assert_eq!(pod["cores"], cpu, "{name:?} {role}");
            assert_eq!(pod["coreLimit"], cpu.to_string(), "{name:?} {role}");
            assert_eq!(
                spark_mib(&pod["memory"]) + spark_mib(&pod["memoryOverhead"]),
                gib * 1024,
                "{name:?} {role}: {pod}"
            );
        }
        // 2 to 50 executors, following the load.
        let dynamic = &spec["dynamicAllocation"];
        assert_eq!(dynamic["enabled"], true);
        assert_eq!(dynamic["minExecutors"], 2);
        assert_eq!(dynamic["initialExecutors"], 2);
        assert_eq!(dynamic["maxExecutors"], 50);
        assert!(spec["sparkConf"]["spark.dynamicAllocation.shuffleTracking.enabled"] == "true");
        assert!(
            spec.get("deps").is_none_or(|d| d.get("packages").is_none()),
            "{name:?}: packages are resolved at run time"
        );
    }
    // The smaller environments stay smaller.
    let files = render(None);
    let max = |env: &str| {
        yaml(
            &files,
            &format!("airflow/dags/data_platform/spark/ingest-{env}.yaml"),
        )["spec"]["dynamicAllocation"]["maxExecutors"]
            .as_u64()
            .unwrap()
    };
    assert!(max("dev") < max("staging") && max("staging") < max("prod"));
}

// ---------------------------------------------------------------------------
// Airbyte workers

#[test]
fn airbyte_workers_scale_with_an_autoscaler_argo_cd_leaves_alone() {
    let mut checked = 0;
    for name in SPECS {
        let spec = spec(name);
        if !matches!(
            spec["components"]["ingestion"].as_str(),
            Some("airbyte" | "both")
        ) {
            continue;
        }
        let files = render(name);
        for env in env_names(&spec) {
            let app = yaml(&files, &format!("argocd/{env}/applications/airbyte.yaml"));
            let chart = &app["spec"]["sources"][0];
            assert_eq!(chart["chart"], "airbyte");
            // The chart names the workers' Deployment <release>-worker
            // (templates/airbyte-worker/deployment.yaml of chart 2.2.0).
            let release = chart["helm"]["releaseName"].as_str().unwrap();
            let deployment = format!("{release}-worker");
            let namespace = app["spec"]["destination"]["namespace"].as_str().unwrap();

            let hpa = yaml(
                &files,
                &format!("components/airbyte/manifests/{env}/hpa.yaml"),
            );
            assert_eq!(hpa["apiVersion"], "autoscaling/v2");
            assert_eq!(hpa["kind"], "HorizontalPodAutoscaler");
            assert_eq!(hpa["metadata"]["namespace"], namespace);
            assert_eq!(
                hpa["spec"]["scaleTargetRef"],
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment})
            );
            let (min, max) = (
                hpa["spec"]["minReplicas"].as_u64().unwrap(),
                hpa["spec"]["maxReplicas"].as_u64().unwrap(),
            );
            assert!(min >= 1 && min < max, "{env}: {min}..{max}");
            if env == "prod" {
                assert_eq!((min, max), (2, 10), "seeds: 2 to 10 workers in prod");
            }
            let metric = &hpa["spec"]["metrics"][0];
            assert_eq!(metric["resource"]["name"], "cpu");
            // Utilization is relative to the request: the workers have one.
            let values = yaml(&files, &format!("components/airbyte/values-{env}.yaml"));
            assert!(values["worker"]["resources"]["requests"]["cpu"].is_string());
            assert_eq!(values["worker"]["replicaCount"].as_u64(), Some(min));
            // The chart's own (unused) switch stays off: one autoscaler.
            let common = yaml(&files, "components/airbyte/values.yaml");
            assert_ne!(common["worker"]["hpa"]["enabled"], true);

            // Argo CD neither reports the scaled count as drift nor resets it.
            let ignored = app["spec"]["ignoreDifferences"]
                .as_array()
                .expect("ignoreDifferences");
            assert!(
                ignored.iter().any(|d| d["kind"] == "Deployment"
                    && d["group"] == "apps"
                    && d["name"] == deployment.as_str()
                    && d["namespace"] == namespace
                    && d["jsonPointers"] == json!(["/spec/replicas"])),
                "{env}: {ignored:?}"
            );
            let options = app["spec"]["syncPolicy"]["syncOptions"].as_array().unwrap();
            assert!(options.contains(&json!("RespectIgnoreDifferences=true")));
            checked += 1;
        }
        // Applications of other components keep their replica counts in sync.
        let trino = yaml(&files, "argocd/prod/applications/trino.yaml");
        assert!(trino["spec"].get("ignoreDifferences").is_none());
    }
    assert!(checked >= 4, "no spec with Airbyte was checked");
}

// ---------------------------------------------------------------------------
// Object lifecycle

/// The example spec with `lines` added to the prod environment's entry.
fn example_with_prod(lines: &str) -> String {
    let prod = "    cluster: https://prod.k8s.acme.example:6443\n";
    let example = socle::spec::EXAMPLE;
    assert!(example.contains(prod));
    example.replacen(prod, &format!("{prod}{lines}"), 1)
}

/// Run a rendered configure.sh with an `mc` that records its calls and the
/// lifecycle each bucket gets; `tiers` are the tiers the tenant declares.
/// Returns the exit status, the calls and the imported lifecycle per bucket.
fn run_configure(
    files: &FileSet,
    env: &str,
    tiers: &[&str],
) -> (bool, Vec<String>, BTreeMap<String, Value>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let script = text(files, &format!("backup/overlays/{env}/configure.sh"))
        // The tenant's root credentials are mounted there in the Job.
        .replace(
            "/admin/config.env",
            &root.join("config.env").display().to_string(),
        );
    fs_err::write(root.join("configure.sh"), &script).unwrap();
    fs_err::write(
        root.join("config.env"),
        "export MINIO_ROOT_USER=u MINIO_ROOT_PASSWORD=p\n",
    )
    .unwrap();
    fs_err::create_dir(root.join("bin")).unwrap();
    fs_err::create_dir(root.join("rules")).unwrap();
    let mc = format!(
        r#"#!/bin/sh
echo "$*" >> "{log}"
case "$1 $2 $3" in
  "ilm rule import") cat > "{rules}/$(basename "$4")" ;;
  "ilm tier info") case " {tiers} " in *" $5 "*) exit 0 ;; *) exit 1 ;; esac ;;
esac
exit 0
"#,
        log = root.join("calls").display(),
        rules = root.join("rules").display(),
        tiers = tiers.join(" "),
    );
    let mc_path = root.join("bin/mc");
    fs_err::write(&mc_path, mc).unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&mc_path)
        .status()
        .unwrap();
    let syntax = std::process::Command::new("sh")
        .arg("-n")
        .arg(root.join("configure.sh"))
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "{env}: sh -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    let path = format!(
        "{}:{}",
        root.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("sh")
        .arg(root.join("configure.sh"))
        .env("PATH", path)
        .env("S3_ENDPOINT", "http://minio.example")
        .env("S3_ACCESS_KEY", "a")
        .env("S3_SECRET_KEY", "s")
        .env("DR_ENDPOINT", "https://dr.example")
        .env("DR_ACCESS_KEY", "a")
        .env("DR_SECRET_KEY", "s")
        .env("RETENTION_DAYS", "30d")
        .output()
        .unwrap();
    let calls = fs_err::read_to_string(root.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut rules = BTreeMap::new();
    for entry in fs_err::read_dir(root.join("rules")).unwrap() {
        let entry = entry.unwrap();
        let body = fs_err::read_to_string(entry.path()).unwrap();
        let bucket = entry.file_name().to_string_lossy().into_owned();
        let json: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{env}/{bucket}: not JSON ({e}):\n{body}"));
        rules.insert(bucket, json);
    }
    (out.status.success(), calls, rules)
}

fn rule<'a>(lifecycle: &'a Value, id: &str) -> Option<&'a Value> {
    lifecycle["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ID"] == id)
}

#[test]
fn object_store_lifecycle_expires_loaded_files_and_moves_data_to_the_tier() {
    let with_tier = example_with_prod("    overrides:\n      lifecycle:\n        tier: COLD\n");
    for (label, files, tier) in [
        ("example", render(None), None),
        (
            "full (external store)",
            render(Some("full.yaml")),
            Some("GLACIER_IR"),
        ),
        (
            "example with a tier",
            crate::support::render_text(&with_tier),
            Some("COLD"),
        ),
    ] {
        let (ok, calls, rules) = run_configure(&files, "prod", &["COLD"]);
        assert!(ok, "{label}: configure.sh failed: {calls:#?}");
        assert!(!rules.is_empty(), "{label}: no lifecycle imported");
        let buckets: Vec<&String> = rules.keys().collect();
        assert!(
            buckets.iter().any(|b| b.starts_with("domain-"))
                && buckets.iter().any(|b| b.starts_with("iceberg-")),
            "{label}: {buckets:?}"
        );
        for (bucket, lifecycle) in &rules {
            let landing = bucket.starts_with("domain-");
            let warehouse = bucket.starts_with("iceberg-");
            // Every bucket keeps the versions of the retention.
            assert!(
                rule(lifecycle, "expire-noncurrent-versions").is_some(),
                "{label}/{bucket}"
            );
            // Loaded files go after two years; nothing else expires by age.
            let expiry = rule(lifecycle, "expire-loaded-files");
            if landing {
                let expiry = expiry.unwrap_or_else(|| panic!("{label}/{bucket}: no expiry"));
                assert_eq!(expiry["Expiration"]["Days"], 730, "{label}/{bucket}");
                assert_eq!(expiry["Filter"]["Prefix"], "archive/", "{label}/{bucket}");
            } else {
                assert!(expiry.is_none(), "{label}/{bucket}: expires by age");
            }
            for r in lifecycle["Rules"].as_array().unwrap() {
                if r["ID"] != "expire-loaded-files" {
                    assert!(
                        r["Expiration"].get("Days").is_none(),
                        "{label}/{bucket}: {r}"
                    );
                }
            }
            // Cold storage after 90 days for the data, when a tier is named.
            let transition = rule(lifecycle, "transition-to-cold-tier");
            match tier {
                Some(t) if landing || warehouse => {
                    let transition =
                        transition.unwrap_or_else(|| panic!("{label}/{bucket}: no transition"));
                    assert_eq!(
                        transition["Transition"],
                        json!({"Days": 90, "StorageClass": t}),
                        "{label}/{bucket}"
                    );
                }
                _ => assert!(
                    transition.is_none(),
                    "{label}/{bucket}: transition without a tier"
                ),
            }
        }
        // The rules are imported after versioning, bucket by bucket.
        assert!(
            calls
                .iter()
                .any(|c| c.starts_with("ilm rule import platform/domain-")),
            "{label}"
        );
        if tier == Some("COLD") {
            // The in-cluster MinIO must know the tier (an external store's
            // storage classes are its own).
            assert!(
                calls.iter().any(|c| c == "ilm tier info platform COLD"),
                "{label}: tier not checked"
            );
        }
    }
    // A tier the tenant does not declare stops the Job before any import.
    let files = crate::support::render_text(&with_tier);
    let (ok, calls, rules) = run_configure(&files, "prod", &[]);
    assert!(
        !ok,
        "configure.sh succeeded with an unknown tier: {calls:#?}"
    );
    assert!(rules.is_empty(), "rules imported with an unknown tier");
    // Other environments keep the defaults: no tier, no transition.
    let (ok, _, rules) = run_configure(&files, "dev", &[]);
    assert!(ok);
    assert!(rules
        .values()
        .all(|l| rule(l, "transition-to-cold-tier").is_none()));
}

// ---------------------------------------------------------------------------
// Maintained images

/// Bitnami's community images are frozen in an archive that receives no
/// updates (and the original names no longer resolve).
#[test]
fn no_rendered_file_uses_the_frozen_bitnami_images() {
    for name in SPECS {
        let files = render(name);
        for (path, bytes) in &files {
            let Ok(text) = std::str::from_utf8(bytes) else {
                continue;
            };
            for (n, line) in text.lines().enumerate() {
                let l = line.to_lowercase();
                assert!(
                    !(l.contains("bitnamilegacy")
                        || l.contains("docker.io/bitnami/")
                        || l.contains("repository: bitnami/")
                        || l.contains("image: bitnami/")),
                    "{name:?}: {path}:{}: {line}",
                    n + 1
                );
            }
        }
        let spec = spec(name);
        // The charts that default to Bitnami images get maintained ones.
        let openebs = yaml(&files, "components/openebs/values.yaml");
        assert_eq!(
            openebs["mayastor"]["etcd"]["image"]["repository"],
            "openebs/etcd"
        );
        assert!(
            openebs["mayastor"]["etcd"]["image"]["tag"].is_string(),
            "pinned by tag"
        );
        assert_eq!(
            openebs["preUpgradeHook"]["image"]["repo"],
            "openebs/kubectl"
        );
        let trino = yaml(&files, "components/trino/values.yaml");
        assert_eq!(
            trino["jmx"]["exporter"]["enabled"], false,
            "the chart's exporter sidecar needs a Bitnami image"
        );
        for env in env_names(&spec) {
            let values = yaml(&files, &format!("components/trino/values-{env}.yaml"));
            for role in ["coordinator", "worker"] {
                let sidecar = &values["sidecarContainers"][role][0];
                assert_eq!(sidecar["name"], "jmx-exporter", "{env} {role}");
                assert_eq!(
                    sidecar["image"],
                    format!(
                        "{}:{}",
                        trino["image"]["repository"].as_str().unwrap(),
                        trino["image"]["tag"].as_str().unwrap()
                    ),
                    "{env} {role}: the exporter runs in Trino's own image"
                );
                assert_eq!(
                    values[role]["additionalExposedPorts"]["jmx-exporter"]["port"], 5556,
                    "{env} {role}"
                );
            }
        }
        if spec["components"]["catalog"] == "datahub" {
            let prerequisites = yaml(&files, "components/datahub-prerequisites/values.yaml");
            assert_eq!(
                prerequisites["kafka"]["enabled"], false,
                "the chart's Kafka is Bitnami's"
            );
            // Kafka from Apache's image instead, where DataHub looks for it.
            let datahub = yaml(&files, "components/datahub/values.yaml");
            let bootstrap = datahub["global"]["kafka"]["bootstrap"]["server"]
                .as_str()
                .unwrap();
            for env in env_names(&spec) {
                let path = format!("components/datahub-prerequisites/manifests/{env}/kafka.yaml");
                let docs: Vec<Value> = serde_saphyr::from_multiple(text(&files, &path))
                    .unwrap_or_else(|e| panic!("{path}: {e}"));
                let kind = |k: &str| docs.iter().filter(|d| d["kind"] == k).collect::<Vec<_>>();
                let set = kind("StatefulSet")[0];
                let pod = &set["spec"]["template"]["spec"];
                let image = pod["containers"][0]["image"].as_str().unwrap();
                assert!(
                    image.starts_with("apache/kafka:") && !image.ends_with(":latest"),
                    "{path}: {image}"
                );
                let vars: BTreeMap<&str, &Value> = pod["containers"][0]["env"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| (e["name"].as_str().unwrap(), e))
                    .collect();
                let voters = vars["KAFKA_CONTROLLER_QUORUM_VOTERS"]["value"]
                    .as_str()
                    .unwrap()
                    .split(',')
                    .count();
                assert_eq!(
                    Some(voters as u64),
                    set["spec"]["replicas"].as_u64(),
                    "{path}: every node votes"
                );
                assert_eq!(
                    vars["KAFKA_NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"],
                    "metadata.labels['apps.kubernetes.io/pod-index']"
                );
                let (host, port) = bootstrap.split_once(':').unwrap();
                let service = kind("Service")
                    .into_iter()
                    .find(|s| s["metadata"]["name"] == host)
                    .unwrap_or_else(|| panic!("{path}: no Service {host}"));
                assert_eq!(
                    service["spec"]["ports"][0]["port"]
                        .as_u64()
                        .map(|p| p.to_string()),
                    Some(port.to_owned())
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Packages fetched at run time

/// Files that run in the cluster (not documentation, not CI).
fn runtime_files(files: &FileSet) -> Vec<(&str, &str)> {
    files
        .iter()
        .filter(|(p, _)| {
            !(p.ends_with(".md")
                || p.starts_with("ci/")
                || p.starts_with(".github/")
                || p.as_str() == ".gitlab-ci.yml"
                || p.as_str() == "socle.yaml")
        })
        .filter_map(|(p, b)| Some((p.as_str(), std::str::from_utf8(b).ok()?)))
        .collect()
}

/// Every URL of a jar a file names.
fn jar_urls(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"https?://[^\s"',]+\.jar"#).unwrap();
    re.find_iter(text).map(|m| m.as_str().to_owned()).collect()
}

#[test]
fn with_mirrors_no_pod_fetches_packages_from_the_internet() {
    let full = spec(Some("full.yaml"));
    let maven = full["mirror"]["maven"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let pypi = full["mirror"]["pypi"].as_str().unwrap().to_owned();
    let files = render(Some("full.yaml"));
    let mut jars = 0;
    for (path, text) in runtime_files(&files) {
        for public in [
            "://repo1.maven.org",
            "://repo.maven.apache.org",
            "://pypi.org",
            "://files.pythonhosted.org",
            "jars.packages",
            "jars.ivy",
        ] {
            assert!(!text.contains(public), "{path} names {public}");
        }
        for url in jar_urls(text) {
            assert!(
                url.starts_with(&format!("{maven}/")),
                "{path}: {url} is not on the mirror"
            );
            jars += 1;
        }
    }
    // The Spark load, Zeppelin's Spark and JDBC interpreters and Trino's
    // exporter, in each of the three environments.
    assert!(jars >= 3 * 4, "only {jars} jar URLs found");
    for env in env_names(&full) {
        let app = yaml(
            &files,
            &format!("airflow/dags/data_platform/spark/ingest-{env}.yaml"),
        );
        assert!(
            app["spec"]["deps"].get("packages").is_none(),
            "{env}: Spark would resolve packages"
        );
        assert!(!app["spec"]["deps"]["jars"].as_array().unwrap().is_empty());
    }
    // dbt comes from the PyPI mirror.
    let settings = text(&files, "airflow/dags/data_platform/settings.py");
    assert!(
        settings.contains(&format!("PYPI_INDEX = \"{pypi}\"")),
        "{settings}"
    );
    let tasks = text(&files, "airflow/dags/data_platform/tasks.py");
    assert!(tasks.contains(r#"["--index-url", settings.PYPI_INDEX] if settings.PYPI_INDEX"#));
    assert!(tasks.contains(r#""pip", "install""#) && tasks.contains("*index,"));
    let readme = text(&files, "README.md");
    assert!(
        readme.contains(&format!("the Maven mirror `{maven}`"))
            && readme.contains(&format!("the PyPI mirror `{pypi}`"))
    );

    // Without mirrors: the public repositories, said so in the README.
    let files = render(None);
    for (path, text) in runtime_files(&files) {
        for url in jar_urls(text) {
            assert!(
                url.starts_with("https://repo1.maven.org/maven2/"),
                "{path}: {url}"
            );
        }
    }
    assert!(text(&files, "airflow/dags/data_platform/settings.py").contains("PYPI_INDEX = None"));
    let readme = text(&files, "README.md");
    assert!(
        readme.contains("## Packages fetched at run time") && readme.contains("mirror:\n  maven:")
    );
}
