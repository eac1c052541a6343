//! The single-host target: an environment with `target: compose` gets
//! `compose/<env>/` instead of the cluster's files, proven with the Compose
//! specification's schema, the real `docker-compose config`, and socle's
//! own check.

use std::process::Command;

use crate::support::{
    bring_up_compose_host, check_json, materialise, render_text, socle_in, text, tool,
};

const DEV_CLUSTER: &str = "  - name: dev
    cluster: https://dev.k8s.acme.example:6443
    network:                  # this cluster's addresses (egress is opened to them only)
      api_server: [10.10.0.10/32, 10.10.0.11/32, 10.10.0.12/32]   # kubectl get endpoints kubernetes -n default
      nodes: [10.10.0.0/22]
";

/// The Compose rules' findings of `socle check` on a file set: the exit
/// code and those findings.
fn compose_findings(files: &socle::render::FileSet) -> (i32, Vec<serde_json::Value>) {
    let (code, findings) = check_json(files);
    let cmp = findings
        .into_iter()
        .filter(|f| f["rule"].as_str().is_some_and(|r| r.starts_with("SOC-CMP")))
        .collect();
    (code, cmp)
}

/// The rendered `compose.yaml` of dev, parsed.
fn compose_doc(files: &socle::render::FileSet) -> serde_json::Value {
    crate::support::yaml(text(files, "compose/dev/compose.yaml")).expect("compose.yaml parses")
}

/// The example spec with dev on one Docker host.
pub fn compose_spec() -> String {
    assert!(
        socle::spec::EXAMPLE.contains(DEV_CLUSTER),
        "the example's dev entry changed"
    );
    socle::spec::EXAMPLE.replace(DEV_CLUSTER, "  - name: dev\n    target: compose\n")
}

#[test]
fn dev_on_compose_gets_the_host_files_and_no_cluster_files() {
    let files = render_text(&compose_spec());
    for path in [
        "compose/dev/compose.yaml",
        "compose/dev/.env.example",
        "compose/dev/init-env.sh",
        "compose/dev/README.md",
        "compose/dev/init/postgresql/provision.sh",
        "compose/dev/init/minio/provision.sh",
        "compose/dev/init/lakekeeper/bootstrap.sh",
        "compose/dev/trino/catalog/iceberg.properties",
    ] {
        assert!(files.contains_key(path), "{path} is not rendered");
    }
    let cluster_dev: Vec<&String> = files
        .keys()
        .filter(|p| p.contains("/dev/") && !p.starts_with("compose/") || p.contains("-dev."))
        .collect();
    assert!(
        cluster_dev.is_empty(),
        "cluster files for dev: {cluster_dev:?}"
    );
    assert!(
        files.contains_key("argocd/staging/root.yaml")
            || files.keys().any(|p| p.starts_with("argocd/staging/"))
    );

    let compose = text(&files, "compose/dev/compose.yaml");
    insta::assert_snapshot!("compose_dev", compose);
    let example = text(&files, "compose/dev/.env.example");
    insta::assert_snapshot!("compose_dev_env_example", example);

    // No value in .env.example but the project's name; every variable the
    // services read is listed there.
    let mut listed = Vec::new();
    for line in example
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = line.split_once('=').expect("NAME=VALUE");
        if name != "COMPOSE_PROJECT_NAME" {
            assert_eq!(value, "", "{name} has a value in .env.example");
        }
        listed.push(name.to_owned());
    }
    for var in socle::compose::variables(compose) {
        assert!(listed.contains(&var), "${{{var}}} is not in .env.example");
    }
    assert!(!compose.contains(":latest") && !compose.contains("version:"));
    assert!(text(&files, ".gitignore").contains("/compose/*/.env"));

    // depends_on comes from the blueprint's needs: Trino waits for the
    // catalog to be healthy and its warehouses to be declared.
    let doc = compose_doc(&files);
    let trino = &doc["services"]["trino"]["depends_on"];
    assert_eq!(trino["lakekeeper"]["condition"], "service_healthy");
    assert_eq!(
        trino["lakekeeper-bootstrap"]["condition"],
        "service_completed_successfully"
    );
    assert_eq!(
        trino["minio-init"]["condition"],
        "service_completed_successfully"
    );
    // The provisioning derived from the wiring: Trino's role and database,
    // Lakekeeper's warehouses' buckets, nothing for a consumer off the host.
    let pg = text(&files, "compose/dev/init/postgresql/provision.sh");
    assert!(
        pg.contains("role trino \"$TRINO_DB_PASSWORD\"") && pg.contains("database reference trino")
    );
    assert!(!pg.contains("keycloak") && !pg.contains("grafana"));
    let minio = text(&files, "compose/dev/init/minio/provision.sh");
    assert!(minio.contains("mc mb --ignore-existing local/iceberg-raw"));
    assert!(!minio.contains("loki-chunks") && !minio.contains("minio-user-postgresql"));
    let readme = text(&files, "compose/dev/README.md");
    assert!(
        readme.contains("| Keycloak (SSO) | No single sign-on on one host"),
        "{readme}"
    );
}

#[test]
fn compose_file_passes_the_compose_schema_and_docker_compose_config() {
    let files = render_text(&compose_spec());
    let dir = materialise(&files);
    let host = dir.path().join("compose/dev");
    if let Some(yamllint) = tool("yamllint") {
        let out = Command::new(yamllint)
            .args([
                "-d",
                "relaxed",
                "-f",
                "parsable",
                "--no-warnings",
                "compose.yaml",
            ])
            .current_dir(&host)
            .output()
            .expect("yamllint");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let Some((env, resolved)) = bring_up_compose_host(
        &host,
        &[
            "init-env.sh",
            "init/postgresql/provision.sh",
            "init/minio/provision.sh",
            "init/lakekeeper/bootstrap.sh",
        ],
    ) else {
        return;
    };
    // init-env.sh filled every variable with a random value.
    assert!(
        env.lines()
            .all(|l| l.split_once('=').is_some_and(|(_, v)| v.len() >= 8)),
        "{env}"
    );
    // The resolved file carries the generated credentials, and the one-shot
    // services are not restarted (`no` read as a string, not false).
    let pw = env
        .lines()
        .find_map(|l| l.strip_prefix("POSTGRES_PASSWORD="))
        .expect("password");
    assert!(resolved.contains(pw));
    assert!(
        resolved.contains("restart: 'no'") || resolved.contains("restart: \"no\""),
        "{resolved}"
    );
}

#[test]
fn compose_environment_checks_clean_and_its_breaks_are_denied() {
    let mut files = render_text(&compose_spec());
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
    let (_, cmp) = compose_findings(&files);
    assert!(cmp.is_empty(), "{cmp:#?}");

    let compose = text(&files, "compose/dev/compose.yaml")
        .replace(
            "docker.io/trinodb/trino:480",
            "docker.io/trinodb/trino:latest",
        )
        .replace("          memory: 4G", "          memory: 15G")
        .replacen(
            "@postgresql:5432/lakekeeper",
            "@postgres:5432/lakekeeper",
            1,
        );
    files.insert("compose/dev/compose.yaml".into(), compose.into_bytes());
    let (code, findings) = compose_findings(&files);
    let rules: Vec<&str> = findings.iter().filter_map(|f| f["rule"].as_str()).collect();
    assert_eq!(code, 1);
    for rule in ["SOC-CMP-002", "SOC-CMP-009", "SOC-CMP-010"] {
        assert!(rules.contains(&rule), "{rule} not in {rules:?}");
    }
}

#[test]
fn compose_targets_are_refused_where_they_do_not_fit() {
    let cases = [
        (
            compose_spec().replace(
                "    target: compose\n",
                "    target: compose\n    cluster: https://dev.k8s.acme.example:6443\n",
            ),
            "`cluster` describes a Kubernetes cluster",
        ),
        (
            compose_spec().replace("  - name: prod\n", "  - name: prod\n    target: compose\n"),
            "prod cannot run on one Docker host",
        ),
        (
            compose_spec().replace("    target: compose\n", "    target: swarm\n"),
            "environments[0].target",
        ),
        (
            compose_spec().replace(
                "  - name: staging\n",
                "  - name: staging\n    docker_socket: true\n",
            ),
            "`docker_socket` applies to a Compose environment",
        ),
    ];
    crate::support::assert_new_refuses(&cases);
}

#[test]
fn update_moves_dev_between_kubernetes_and_compose_and_back() {
    let (_tmp, dir) = crate::support::new_repo();
    let spec = dir.join("socle.yaml");
    let kubernetes = fs_err::read_to_string(&spec).expect("spec");
    let compose = kubernetes.replace(DEV_CLUSTER, "  - name: dev\n    target: compose\n");
    assert_ne!(compose, kubernetes, "the example's dev entry changed");

    for (text, on_host) in [(&compose, true), (&kubernetes, false)] {
        fs_err::write(&spec, text).expect("write");
        crate::support::git(&dir, &["commit", "-qam", "move dev"]);
        let (code, out, err) = socle_in(&dir, &["update"]);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(dir.join("compose/dev/compose.yaml").exists(), on_host);
        assert_eq!(dir.join("compose/dev/.env.example").exists(), on_host);
        // The other target's files are gone, folders included.
        assert_eq!(dir.join("argocd/dev").exists(), !on_host, "{out}");
        if !on_host {
            // Only what the host wrote stays: its .env is the user's, not socle's.
            let left: Vec<String> = fs_err::read_dir(dir.join("compose/dev"))
                .expect("compose/dev")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(left, [".env"], "{out}");
        }
        assert!(out.contains("0 conflict(s)"), "{out}");
        if on_host {
            // The credentials written on the host stay out of git: ignored,
            // and denied once forced in.
            let out = Command::new("sh")
                .arg("compose/dev/init-env.sh")
                .current_dir(&dir)
                .output()
                .expect("sh");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                crate::support::git(&dir, &["status", "--porcelain", "--", "compose/dev/.env"]),
                ""
            );
            let (code, out, _) = socle_in(&dir, &["check", "."]);
            assert_eq!(code, 0, "{out}");
            crate::support::git(&dir, &["add", "-f", "compose/dev/.env"]);
            let (code, out, _) = socle_in(&dir, &["check", "."]);
            assert_eq!(code, 1, "{out}");
            assert!(out.contains("SOC-CMP-012"), "{out}");
            crate::support::git(&dir, &["rm", "-q", "--cached", "compose/dev/.env"]);
        }
        crate::support::git(&dir, &["add", "-A"]);
        crate::support::git(&dir, &["commit", "-qm", "update"]);
    }
}

#[test]
fn commands_comparing_clusters_say_where_a_compose_environment_is() {
    let dir = materialise(&render_text(&compose_spec()));
    let repo = dir.path().to_str().expect("utf-8");
    for args in [
        vec!["promote", "dev", "staging", repo],
        vec!["diff", "--env", "dev..staging", repo],
        vec!["graph", "--env", "dev", repo],
        vec!["secrets", "list", "--env", "dev", repo],
    ] {
        let (code, _, err) = socle_in(dir.path(), &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("dev runs on one Docker host (compose/dev/)"),
            "{args:?}: {err}"
        );
    }
}

/// The rendered repository's CI resolves its Compose environments: a job in
/// each pipeline, its script run here for real, the workflow clean for
/// zizmor and GitHub's and GitLab's schemas.
#[test]
fn generated_ci_resolves_the_compose_environments() {
    let files = render_text(&compose_spec());
    assert!(text(&files, ".github/workflows/tests.yaml").contains("run: sh ci/compose-config.sh"));
    assert!(text(&files, ".gitlab-ci.yml").contains("- sh ci/compose-config.sh"));
    let dir = materialise(&files);
    crate::support::assert_generated_ci_clean(dir.path());
    if tool("docker-compose").is_none() {
        return;
    }
    let out = Command::new("sh")
        .arg("ci/compose-config.sh")
        .current_dir(dir.path())
        .output()
        .expect("sh");
    crate::support::assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("compose/dev/compose.yaml: resolved"));
}

/// With an external object store for the clusters, the host keeps its own
/// MinIO (the blueprint's `compose.choices`): its services still find one.
#[test]
fn an_external_object_store_leaves_the_host_its_own() {
    let spec = format!(
        "{}\nobject_storage:\n  endpoint: https://s3.acme.example\n  region: eu-west-3\n",
        compose_spec()
    );
    let files = render_text(&spec);
    assert!(
        !files.keys().any(|p| p.starts_with("components/minio/")),
        "the clusters use the external store"
    );
    let compose = compose_doc(&files);
    assert!(
        compose["services"]["minio"].is_object() && compose["services"]["minio-init"].is_object()
    );
    assert!(text(&files, "compose/dev/trino/catalog/iceberg.properties")
        .contains("s3.region=us-east-1"));
    let (_, cmp) = compose_findings(&files);
    assert!(cmp.is_empty(), "{cmp:#?}");
}

/// The host's provisioning scripts, run against recording stand-ins for
/// `mc` and `psql`: each consumer on the host gets its buckets, its user
/// (secret through stdin), exactly its policy (attached once), its role
/// (password as a psql variable, never in the SQL) and its database.
#[test]
fn provisioning_scripts_create_what_the_wiring_says() {
    let files = render_text(&compose_spec());
    let dir = materialise(&files);
    let host = dir.path().join("compose/dev");
    let bin = dir.path().join("bin");
    let seen = dir.path().join("seen");
    fs_err::create_dir_all(&bin).expect("bin");
    fs_err::create_dir_all(&seen).expect("seen");
    crate::support::stand_in(
        &bin,
        "mc",
        r#"echo "mc $*" >> "$SEEN/calls"
case "$*" in
  "admin user add "*) read -r secret; echo "secret $5 $secret" >> "$SEEN/calls" ;;
  "admin policy create "*) cp "$6" "$SEEN/$5.json" ;;
  "admin user info local minio-user-trino --json") echo '{"status":"success","policyName":"trino"}' ;;
  "admin user info "*) echo '{"status":"success"}' ;;
esac
"#,
    );
    crate::support::stand_in(
        &bin,
        "psql",
        "echo \"psql $*\" >> \"$SEEN/calls\"\ncat > /dev/null\n",
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for script in ["init/minio/provision.sh", "init/postgresql/provision.sh"] {
        let out = Command::new("sh")
            .arg(host.join(script))
            .env("PATH", &path)
            .env("SEEN", &seen)
            .env("TMPDIR", dir.path())
            .envs([
                ("MINIO_ROOT_USER", "root"),
                ("MINIO_ROOT_PASSWORD", "rootpw"),
                ("TRINO_S3_SECRET_KEY", "trino-s3"),
                ("LAKEKEEPER_S3_SECRET_KEY", "lk-s3"),
                ("AIRFLOW_S3_SECRET_KEY", "af-s3"),
                ("TRINO_DB_PASSWORD", "trino-db"),
                ("LAKEKEEPER_DB_PASSWORD", "lk-db"),
                ("AIRFLOW_DB_PASSWORD", "af-db"),
            ])
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let calls = fs_err::read_to_string(seen.join("calls")).expect("calls");
    for bucket in ["iceberg-raw", "iceberg-analytics", "airflow-logs"] {
        assert!(
            calls.contains(&format!("mc mb --ignore-existing local/{bucket}\n")),
            "{calls}"
        );
    }
    assert!(
        calls.contains("secret minio-user-lakekeeper lk-s3\n"),
        "{calls}"
    );
    assert!(
        !calls.contains("mc admin user add local minio-user-lakekeeper lk-s3"),
        "a secret on a command line"
    );
    // Attached once: trino's user already has its policy.
    assert!(calls.contains("mc admin policy attach local lakekeeper --user minio-user-lakekeeper"));
    assert!(
        !calls.contains("mc admin policy attach local trino"),
        "{calls}"
    );
    // Airflow writes its logs bucket and nothing else.
    let airflow: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(seen.join("airflow.json")).expect("policy"))
            .expect("policy JSON");
    let resources: Vec<&str> = airflow["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .flat_map(|s| s["Resource"].as_array().expect("resources"))
        .filter_map(|r| r.as_str())
        .collect();
    assert!(
        resources
            .iter()
            .all(|r| r.starts_with("arn:aws:s3:::airflow-logs")),
        "{resources:?}"
    );
    assert!(airflow.to_string().contains("s3:PutObject"));
    // Roles with their passwords as variables, then databases and schemas.
    assert!(calls.contains("-v role=trino -v pw=trino-db"), "{calls}");
    assert!(calls.contains("-v db=reference -v owner=trino"), "{calls}");
    assert!(
        calls.contains("-v schema=reference -v owner=trino"),
        "{calls}"
    );
    // The policy files went to a folder of their own, removed on exit.
    let left: Vec<_> = fs_err::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("minio-policies.")
        })
        .collect();
    assert!(left.is_empty(), "policy files left behind");
}

/// The host's catalog bootstrap and the cluster's Job declare warehouses
/// with one text of the blueprint (a partial), each rendering it where it
/// includes it: the script's top level, the Job's block scalar.
#[test]
fn the_host_and_the_cluster_declare_warehouses_with_one_shared_text() {
    let blueprint = socle::source::Tree::embedded_blueprint();
    let read =
        |path: &str| String::from_utf8(blueprint.get(path).expect(path).to_vec()).expect("utf-8");
    let shared = read("partials/lakekeeper_warehouses.sh.hbs");
    for template in [
        "targets/compose/init/lakekeeper/bootstrap.sh.hbs",
        "components/lakekeeper/manifests/[env]/bootstrap-job.yaml.hbs",
    ] {
        let text = read(template);
        assert!(
            text.contains("{{> lakekeeper_warehouses}}") && !text.contains("declare_warehouse() {"),
            "{template}"
        );
    }
    let files = render_text(&compose_spec());
    let script = text(&files, "compose/dev/init/lakekeeper/bootstrap.sh");
    let job = text(
        &files,
        "components/lakekeeper/manifests/staging/bootstrap-job.yaml",
    );
    for line in shared.lines() {
        assert!(script.contains(&format!("\n{line}\n")), "{line}");
        assert!(job.contains(&format!("\n              {line}\n")), "{line}");
    }
}

/// The catalog's bootstrap on the host, against a recording stand-in for
/// curl: the terms accepted once, then one warehouse per Iceberg bucket of
/// the catalog, on the host's MinIO as the catalog's own S3 user; a
/// warehouse that exists already (409) is no failure, an error is.
#[test]
fn the_catalog_bootstrap_declares_one_warehouse_per_bucket() {
    let files = render_text(&compose_spec());
    let dir = materialise(&files);
    let run = |ml_status: &str| {
        let mut cmd = Command::new("sh");
        cmd.arg(dir.path().join("compose/dev/init/lakekeeper/bootstrap.sh"))
            .env("LAKEKEEPER_S3_SECRET_KEY", "lk-s3");
        crate::support::run_with_catalog_curl(dir.path(), cmd, ml_status)
    };
    let (out, calls) = run("409");
    crate::support::assert_success(&out);
    assert!(
        calls.contains("http://lakekeeper:8181/management/v1/bootstrap"),
        "{calls}"
    );
    // iceberg-ml existed (409): found in the listing by name, its storage
    // brought to the declared one.
    let warehouses = crate::support::catalog_calls(&calls, "iceberg-ml");
    assert_eq!(warehouses.len(), 4, "{calls}");
    for bucket in [
        "iceberg-raw",
        "iceberg-staging",
        "iceberg-analytics",
        "iceberg-ml",
    ] {
        let v = warehouses
            .iter()
            .find(|v| v["warehouse-name"] == bucket)
            .unwrap_or_else(|| panic!("no warehouse {bucket}: {calls}"));
        assert_eq!(v["storage-profile"]["bucket"], bucket);
        assert_eq!(v["storage-profile"]["endpoint"], "http://minio:9000");
        // The catalog vends its clients credentials (Trino holds no key).
        assert_eq!(v["storage-profile"]["sts-enabled"], true);
        assert_eq!(
            v["storage-credential"]["aws-access-key-id"],
            "minio-user-lakekeeper"
        );
        assert_eq!(v["storage-credential"]["aws-secret-access-key"], "lk-s3");
    }
    let (out, _) = run("500");
    assert!(!out.status.success(), "a failed warehouse passed");
}

/// The spec's sizing scales the host and every limit together, so the
/// services still fit: large is the deployment guide's 32 GB host.
#[test]
fn sizing_scales_the_host_and_its_limits() {
    for (sizing, trino, host) in [("small", "2G", "8G"), ("large", "8G", "32G")] {
        let spec = compose_spec().replace("sizing: standard", &format!("sizing: {sizing}"));
        assert_ne!(spec, compose_spec());
        let files = render_text(&spec);
        let compose = compose_doc(&files);
        assert_eq!(
            compose["services"]["trino"]["deploy"]["resources"]["limits"]["memory"],
            trino
        );
        assert_eq!(compose["x-socle"]["host"]["memory"], host, "{sizing}");
        let (_, cmp) = compose_findings(&files);
        assert!(cmp.is_empty(), "{sizing}: {cmp:#?}");
    }
}
