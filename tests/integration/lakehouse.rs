//! The second embedded blueprint: a spec chooses it by name, it renders
//! through the same engine, wiring graph and checker as the default one,
//! and it shares no file with it. Its first target is the single-host
//! development environment, proven with the Compose specification's schema
//! and the real `docker-compose config`.

use std::process::Command;

use socle::source::Tree;

use crate::support::{
    bring_up_compose_host, check_json, materialise, render_text, socle_in, text, tool,
};

const NAME: &str = "lakehouse";

/// The lakehouse blueprint's own example spec, as `socle spec example
/// --blueprint lakehouse` prints it.
pub(crate) fn example() -> String {
    let tree = socle::blueprint::embedded(Some(NAME)).expect("embedded");
    String::from_utf8(tree.get("example.yaml").expect("example.yaml").to_vec()).expect("utf-8")
}

#[test]
fn socle_lists_both_blueprints_and_prints_each_example() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, list, _) = socle_in(dir.path(), &["blueprint", "list"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(list);
    let (code, printed, _) = socle_in(dir.path(), &["spec", "example", "--blueprint", NAME]);
    assert_eq!(code, 0);
    assert_eq!(printed, example());
    let (code, shown, _) = socle_in(dir.path(), &["blueprint", "show", NAME]);
    assert_eq!(code, 0);
    assert!(shown.contains("spec sections read (besides client, domain, repository, environments, components): data_domains, secrets, network, object_storage, mirror, sso\nrequired with a Kubernetes environment: object_storage\nroles a group of `sso` may get: Admin, Alpha, Gamma, sql_lab\nroles of which `sso` gives one to a group (its administrators): Admin\n"), "{shown}");
    // Its schema offers only the sections it reads.
    let (code, schema, _) = socle_in(dir.path(), &["spec", "schema", "--blueprint", NAME]);
    assert_eq!(code, 0);
    let schema: serde_json::Value = serde_json::from_str(&schema).expect("json");
    assert!(schema["properties"]["data_domains"].is_object());
    assert!(schema["properties"]["secrets"].is_object());
    assert!(schema["properties"]["object_storage"].is_object());
    assert_eq!(
        schema["properties"]["sso"]["properties"]["groups"]["items"]["properties"]["role"]["enum"],
        serde_json::json!(["Admin", "Alpha", "Gamma", "sql_lab"])
    );
    for section in ["keycloak", "notebooks", "argocd"] {
        assert!(schema["properties"][section].is_null(), "{section}");
    }
    let (_, default_schema, _) = socle_in(dir.path(), &["spec", "schema"]);
    assert!(default_schema.contains("\"keycloak\"") && !default_schema.contains("\"sso\""));
    let (code, default, _) = socle_in(dir.path(), &["spec", "example"]);
    assert_eq!(code, 0);
    assert_eq!(default, socle::spec::EXAMPLE);
    let (code, _, err) = socle_in(dir.path(), &["spec", "example", "--blueprint", "lakehose"]);
    assert_eq!(code, 2);
    assert!(err.contains("\"lakehose\" is not a blueprint this socle renders; it renders: "));
}

#[test]
fn a_spec_is_refused_for_a_blueprint_or_target_socle_does_not_render() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            example().replace("blueprint: lakehouse", "blueprint: lakehose"),
            "blueprint: \"lakehose\" is not a blueprint this socle renders",
        ),
        // A section of the spec the lakehouse does not read is refused,
        // not ignored.
        (
            format!(
                "{}keycloak: {{realm: acme, groups: [{{name: a, role: data-analyst}}]}}\n",
                example()
            ),
            "unknown key 'keycloak' at the top level",
        ),
        // A group of the realm may get only one of Superset's roles.
        (
            example().replace("{name: bi-admins, role: Admin}", "{name: bi-admins, role: admin}"),
            "sso.groups[0].role",
        ),
        // Signed in with the realm, Superset has no local account: a group
        // must administer it.
        (
            example().replace("{name: bi-admins, role: Admin}", "{name: bi-admins, role: Alpha}"),
            "sso.groups: no group gets Admin: once users sign in with the realm, nobody could administer the UIs",
        ),
        // The default blueprint hosts its own realm: the client's is not
        // a section it reads.
        (
            format!(
                "{}sso: {{issuer: https://sso.acme.example/realms/acme}}\n",
                socle::spec::EXAMPLE
            ),
            "unknown key 'sso' at the top level",
        ),
        // A target socle does not render is refused at its line.
        (
            example().replace("    target: compose\n", "    target: swarm\n"),
            "environments[0].target: \"swarm\" is not one of \"kubernetes\", \"compose\" or 3 other candidates",
        ),
        // The clusters keep the query engine's distributed storage on the
        // client's S3 store: a spec with a cluster must give it.
        (
            example().replace(
                "object_storage:\n  endpoint: https://s3.acme.example\n  region: eu-west-3\n",
                "",
            ),
            "object_storage: blueprint \"lakehouse\" needs `object_storage` for its Kubernetes environments (staging, prod)",
        ),
    ];
    for (spec, expected) in cases {
        let path = dir.path().join("socle.yaml");
        fs_err::write(&path, &spec).expect("spec");
        let (code, _, err) = socle_in(
            dir.path(),
            &["new", "--spec", "socle.yaml", "--no-git", "--out", "out"],
        );
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(expected), "{err}");
        assert!(!dir.path().join("out").exists());
    }
}

#[test]
fn no_file_is_shared_between_the_blueprints() {
    let trees = Tree::embedded_blueprints();
    assert!(trees.len() >= 2, "two blueprints are embedded");
    for (i, a) in trees.iter().enumerate() {
        for b in &trees[i + 1..] {
            for (path, bytes) in &a.files {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if let Some((other, _)) = b.files.iter().find(|(_, o)| o == bytes) {
                    panic!(
                        "{}/{path} and {}/{other} are the same file: a blueprint's templates are its own",
                        a.origin, b.origin
                    );
                }
            }
        }
    }
}

#[test]
fn the_lakehouse_host_passes_socle_check_the_compose_schema_and_docker_compose() {
    let files = crate::support::render_lakehouse();
    // Every file the repository gets, and nothing of the other blueprint.
    let paths: Vec<&str> = files.keys().map(String::as_str).collect();
    insta::assert_snapshot!(paths.join("\n"));
    insta::assert_snapshot!(text(&files, "compose/dev/compose.yaml"));
    // The database Superset consumes is the one the init service creates.
    assert!(text(&files, "compose/dev/init/postgresql/provision.sh")
        .contains("\nprovision superset \"$SUPERSET_DB_PASSWORD\" superset\n"));
    assert!(text(&files, ".gitignore").contains("compose/*/.env\n"));
    // No value in the committed .env.example but the project's name.
    let example_env = text(&files, "compose/dev/.env.example");
    for line in example_env.lines().filter(|l| !l.starts_with('#')) {
        if let Some((name, value)) = line.split_once('=') {
            assert!(value.is_empty() || name == "COMPOSE_PROJECT_NAME", "{line}");
        }
    }
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
    assert!(findings.is_empty(), "{findings:#?}");

    let dir = materialise(&files);
    // The clusters' graph: Superset's connection to its database, and
    // Traefik's route to Superset, which syncs later and is not a broken
    // link for it (no edge drawn red).
    let (code, out, err) = socle_in(dir.path(), &["graph", "."]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("superset_prod -->|\"postgresql-rw:5432\"| postgresql_prod")
            && out.contains("traefik_prod -->|\"superset:8088\"| superset_prod")
            && !out.contains("linkStyle"),
        "{out}"
    );
    let host = dir.path().join("compose/dev");
    if let Some(python) = tool("python3") {
        let out = Command::new(python)
            .args(["-m", "py_compile", "superset/superset_config.py"])
            .current_dir(&host)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let Some((env, resolved)) =
        bring_up_compose_host(&host, &["init-env.sh", "init/postgresql/provision.sh"])
    else {
        return;
    };
    // The project's name as .env.example gives it, every other variable
    // random.
    assert!(env.contains("COMPOSE_PROJECT_NAME=acme-dev\n"), "{env}");
    assert!(
        env.lines()
            .filter(|l| !l.starts_with("COMPOSE_PROJECT_NAME="))
            .all(|l| l.split_once('=').is_some_and(|(_, v)| v.len() == 48)),
        "{env}"
    );
    let pw = env
        .lines()
        .find_map(|l| l.strip_prefix("SUPERSET_DB_PASSWORD="))
        .expect("password");
    assert!(resolved.contains(&format!("superset:{pw}@postgresql:5432/superset")));
}

/// The dbt project's models, each with its YAML entry: every model and
/// column is described, every model tested.
#[test]
fn every_lakehouse_model_is_documented_and_tested() {
    let files = crate::support::render_lakehouse();
    let models: Vec<&str> = files
        .keys()
        .filter_map(|p| p.strip_prefix("dbt/models/"))
        .filter_map(|p| p.strip_suffix(".sql"))
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .collect();
    assert_eq!(models.len(), 5, "{models:?}");
    let mut documented = Vec::new();
    for (path, _) in files
        .iter()
        .filter(|(p, _)| p.starts_with("dbt/models/") && p.ends_with(".yml"))
    {
        let doc: serde_json::Value = crate::support::yaml(text(&files, path)).expect("yaml");
        for model in doc["models"].as_array().expect("models") {
            let name = model["name"].as_str().expect("name");
            documented.push(name.to_owned());
            assert!(
                model["description"].as_str().is_some_and(|d| d.len() > 20),
                "{path}: {name} has no real description"
            );
            let columns = model["columns"].as_array().expect("columns");
            assert!(
                columns.iter().all(|c| c["description"].is_string()),
                "{path}: a column of {name} is not described"
            );
            assert!(
                columns.iter().any(|c| c["data_tests"].is_array()),
                "{path}: {name} is not tested"
            );
        }
    }
    documented.sort();
    let mut sql: Vec<String> = models.iter().map(|m| (*m).to_owned()).collect();
    sql.sort();
    assert_eq!(sql, documented, "model files and their YAML entries differ");
    // The spec's data domains are the closed list of the orders' domain.
    assert!(text(&files, "dbt/models/staging/_staging.yml").contains("                  - sales\n"));
}

/// The real dbt: `dbt build` on DuckDB (seeds, models and tests, offline),
/// then `dbt parse` on the Dremio target of the development host.
#[test]
fn real_dbt_builds_the_lakehouse_project_locally_and_parses_its_dremio_target() {
    let Some(dbt) = tool("dbt") else {
        return;
    };
    let files = crate::support::render_lakehouse();
    let dir = materialise(&files);
    // The starter dashboard's queries, on the tables dbt builds.
    let queries = starter_queries(&files);
    let (ok, text) = crate::support::dbt_check_queries(&dbt, dir.path(), &queries.join("\n"));
    assert!(ok, "{text}");
    assert!(text.contains("Registered adapter: dremio="), "{text}");
    assert!(text.contains("parse on: dev"), "{text}");
    assert_eq!(text.matches("sql ok, ").count(), queries.len(), "{text}");
}

/// The string `field` of each object in the list `v[key]`.
fn fields(v: &serde_json::Value, key: &str, field: &str) -> Vec<String> {
    v[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c[field].as_str().map(str::to_owned))
        .collect()
}

/// The starter dashboard Superset imports (components/superset/base, the
/// host's copy the same) holds together, and reads the dbt mart it names:
/// its dataset is a mart model with that model's documented columns, in
/// the schema the Dremio targets write tables to; its metrics sum those
/// columns; its charts use the dataset's metrics and columns; its layout
/// places exactly its charts. Returns, per chart, the aggregate query
/// Superset would send (its group-by columns and metrics on the table),
/// for the local build to run.
fn starter_queries(files: &std::collections::BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let base = "components/superset/base/starter_dashboard.yaml";
    assert_eq!(
        text(files, base),
        text(files, "compose/dev/superset/starter_dashboard.yaml")
    );
    let bundle: serde_json::Value = crate::support::yaml(text(files, base)).expect("bundle");
    let entries = bundle.as_object().expect("a mapping of export paths");
    let of = |prefix: &str| -> Vec<&serde_json::Value> {
        entries
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .collect()
    };
    let (datasets, charts, dashboards) = (of("datasets/"), of("charts/"), of("dashboards/"));
    assert_eq!((datasets.len(), dashboards.len()), (1, 1), "{entries:?}");
    assert!(charts.len() >= 3);
    let dataset = datasets[0];
    let table = dataset["table_name"].as_str().expect("table_name");
    // A mart of the dbt project, materialised as a table where Dremio's
    // targets put tables.
    assert!(
        files.contains_key(&format!("dbt/models/marts/{table}.sql")),
        "{table}"
    );
    let profiles: serde_json::Value =
        crate::support::yaml(text(files, "dbt/profiles.yml")).expect("profiles");
    let dremio: Vec<&serde_json::Value> = profiles["lakehouse"]["outputs"]
        .as_object()
        .expect("outputs")
        .values()
        .filter(|o| o["type"] == "dremio")
        .collect();
    assert!(!dremio.is_empty());
    for target in dremio {
        assert_eq!(target["object_storage_source"], dataset["schema"]);
    }
    let marts: serde_json::Value =
        crate::support::yaml(text(files, "dbt/models/marts/_marts.yml")).expect("marts");
    let model = marts["models"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == table)
        .expect("the mart is documented");
    let mut columns = fields(dataset, "columns", "column_name");
    let mut documented = fields(model, "columns", "name");
    columns.sort();
    documented.sort();
    assert_eq!(columns, documented);
    let metrics: std::collections::BTreeMap<String, String> = dataset["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| {
            let expression = m["expression"].as_str().expect("expression");
            let summed = expression
                .strip_prefix("SUM(")
                .and_then(|e| e.strip_suffix(')'))
                .expect("a sum of a column");
            assert!(columns.iter().any(|c| c == summed), "{expression}");
            (
                m["metric_name"].as_str().expect("name").to_owned(),
                expression.to_owned(),
            )
        })
        .collect();
    let uuid = |v: &serde_json::Value| v["uuid"].as_str().expect("uuid").to_owned();
    let mut placed: Vec<String> = dashboards[0]["position"]
        .as_object()
        .expect("position")
        .values()
        .filter(|n| n["type"] == "CHART")
        .map(|n| n["meta"]["uuid"].as_str().expect("chart uuid").to_owned())
        .collect();
    let mut chart_uuids: Vec<String> = charts.iter().map(|c| uuid(c)).collect();
    placed.sort();
    chart_uuids.sort();
    assert_eq!(placed, chart_uuids);
    let mut queries = Vec::new();
    for chart in charts {
        assert_eq!(chart["dataset_uuid"].as_str(), Some(uuid(dataset).as_str()));
        let params = &chart["params"];
        assert_eq!(params["viz_type"], chart["viz_type"]);
        let used: Vec<String> = params["metrics"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![params["metric"].clone()])
            .iter()
            .map(|m| m.as_str().expect("a saved metric").to_owned())
            .collect();
        let by: Vec<String> = params["x_axis"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .chain(
                params["groupby"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|g| g.as_str().map(str::to_owned)),
            )
            .collect();
        for c in &by {
            assert!(columns.contains(c), "{c}");
        }
        let select: Vec<String> = by
            .iter()
            .cloned()
            .chain(
                used.iter()
                    .map(|m| metrics.get(m).cloned().expect("a dataset metric")),
            )
            .collect();
        let group = if by.is_empty() {
            String::new()
        } else {
            format!(" group by {}", by.join(", "))
        };
        queries.push(format!("select {} from {table}{group}", select.join(", ")));
    }
    queries
}

/// The generated workflow: GitHub's schema, zizmor at low severity, and
/// its Compose step run for real (Docker Compose v2's `docker compose`
/// played by the `docker-compose` this machine has).
#[test]
fn the_lakehouse_workflow_is_valid_and_its_compose_step_passes() {
    let files = crate::support::render_lakehouse();
    let dir = materialise(&files);
    let workflow = dir.path().join(".github/workflows/checks.yaml");
    crate::support::assert_builtin_schema("vendor.github-workflows", &workflow);
    if let Some(zizmor) = tool("zizmor") {
        let out = Command::new(zizmor)
            .args(["--offline", "--no-progress", "--min-severity", "low"])
            .arg(dir.path().join(".github/workflows"))
            .output()
            .expect("zizmor");
        crate::support::assert_success(&out);
    }
    let doc: serde_json::Value =
        crate::support::yaml(text(&files, ".github/workflows/checks.yaml")).expect("yaml");
    let steps = doc["jobs"]["compose-config"]["steps"]
        .as_array()
        .expect("steps");
    let script = steps
        .iter()
        .find_map(|s| s["run"].as_str())
        .expect("a run step");
    let Some(dc) = tool("docker-compose") else {
        return;
    };
    let shim = tempfile::tempdir().expect("tempdir");
    let docker = shim.path().join("docker");
    fs_err::write(
        &docker,
        format!(
            "#!/bin/sh\n[ \"$1\" = compose ] || exit 64\nshift\nexec {} \"$@\"\n",
            dc.display()
        ),
    )
    .expect("shim");
    fs_err::set_permissions(&docker, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let path = format!(
        "{}:{}",
        shim.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-eo", "pipefail", "-c", script])
        .current_dir(dir.path())
        .env("PATH", path)
        .output()
        .expect("bash");
    crate::support::assert_success(&out);
    // The throwaway .env is gone: nothing of it could be committed.
    assert!(!dir.path().join("compose/dev/.env").exists());
}

/// A repository stays on the blueprint it was rendered from: diff and
/// update refuse a spec that names another one (exit 2) and write nothing.
#[test]
fn diff_and_update_refuse_to_move_a_repository_to_another_blueprint() {
    let (tmp, dir) = crate::support::new_repo();
    let spec = tmp.path().join("lakehouse.yaml");
    fs_err::write(&spec, example()).expect("spec");
    let before = crate::support::git(&dir, &["status", "--porcelain"]);
    for command in ["diff", "update"] {
        let (code, _, err) = socle_in(
            &dir,
            &[command, "--spec", spec.to_str().expect("utf-8 path")],
        );
        assert_eq!(code, 2, "{command}: {err}");
        assert!(
            err.contains("this repository was rendered from blueprint \"data-platform\", and the spec names \"lakehouse\""),
            "{command}: {err}"
        );
    }
    assert_eq!(
        crate::support::git(&dir, &["status", "--porcelain"]),
        before
    );
}

/// Blueprints are data only: no name of either blueprint's own (its name,
/// its namespaces', the components the other blueprint does not have) is
/// in a string of socle's code outside its tests, so nothing in the engine
/// special-cases one. The spec's key names are the spec format's words,
/// which each blueprint reads or not (its `spec_sections`): a literal that
/// is exactly one of them is that format, not a special case.
#[test]
fn no_name_of_either_blueprint_is_in_the_code() {
    let manifest = |name: &str| -> serde_json::Value {
        let tree = socle::blueprint::embedded(Some(name)).expect("embedded");
        crate::support::yaml_slice(tree.get("blueprint.yaml").expect("manifest")).expect("yaml")
    };
    let default_name = socle::blueprint::Manifest::load(&Tree::embedded_blueprint())
        .expect("default")
        .name;
    let blueprints = [
        (NAME, manifest(NAME)),
        (default_name.as_str(), manifest(&default_name)),
    ];
    let mut names: Vec<String> = Vec::new();
    for (i, (name, ours)) in blueprints.iter().enumerate() {
        let theirs = fields(&blueprints[1 - i].1, "components", "id");
        let own: Vec<String> = fields(ours, "components", "id")
            .into_iter()
            .filter(|id| !theirs.contains(id))
            .chain(fields(ours, "namespaces", "name"))
            .chain([(*name).to_owned()])
            .collect();
        assert!(own.len() >= 5, "{own:?}");
        names.extend(own);
    }
    names.sort();
    names.dedup();
    // The spec format's key names, at any depth.
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, schema, _) = socle_in(dir.path(), &["spec", "schema"]);
    assert_eq!(code, 0);
    let schema: serde_json::Value = serde_json::from_str(&schema).expect("json");
    let mut keys = std::collections::BTreeSet::new();
    let mut stack = vec![&schema];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                    keys.extend(props.keys().cloned());
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    assert!(keys.contains("data_domains"), "{keys:?}");
    let src = crate::support::repo_root().join("generator/src");
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.expect("walk");
        if entry.path().extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = fs_err::read_to_string(entry.path()).expect("read");
        // The code, not its unit tests.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            // The string literals of the line: every other piece between quotes.
            for literal in line.split('"').skip(1).step_by(2) {
                // A key of the spec, or a path of them ("/a/{i}/b", "a.b").
                let words: Vec<&str> = literal
                    .split(['/', '.'])
                    .filter(|w| !w.is_empty() && !w.starts_with('{'))
                    .collect();
                if !words.is_empty() && words.iter().all(|w| keys.contains(*w)) {
                    continue;
                }
                for name in &names {
                    // The name as a word of its own ("dremio-client" holds
                    // it, "dremiox" does not).
                    let alone = literal.match_indices(name.as_str()).any(|(i, _)| {
                        let before = literal[..i].chars().next_back();
                        let after = literal[i + name.len()..].chars().next();
                        !before.is_some_and(|c| c.is_ascii_alphanumeric())
                            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
                    });
                    if alone {
                        found.push(format!("{}:{}: {name}", entry.path().display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

/// The lakehouse's Kubernetes environments come up as a system: `socle
/// check` finds nothing, the network policies are the graph's flows (and
/// the check sees a flow they drop, a database renamed), each project
/// admits exactly its charts' cluster-scoped kinds, and every overlay
/// builds with the real kustomize.
#[test]
fn the_lakehouse_clusters_pass_socle_check_and_kustomize() {
    let files = crate::support::render_lakehouse();
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
    assert!(findings.is_empty(), "{findings:#?}");
    for env in ["staging", "prod"] {
        for id in [
            "platform",
            "external-secrets",
            "cloudnative-pg",
            "barman-cloud",
            "dremio",
            "postgresql",
            "eck-operator",
            "elasticsearch",
            "cert-manager",
            "pki",
            "traefik",
            "airbyte",
            "superset",
            "prometheus-operator-crds",
            "kube-prometheus-stack",
            "monitoring",
        ] {
            assert!(
                files.contains_key(&format!("argocd/{env}/applications/{id}.yaml")),
                "{env}: {id}"
            );
        }
    }
    // Superset (bi) consumes a database of PostgreSQL (storage), queries
    // Dremio (query) and is published by Traefik (edge): the flows between
    // namespaces, opened on both sides, and clients reach Traefik's pod
    // ports only.
    let bi = text(&files, "platform/base/namespaces/bi/networkpolicies.yaml");
    assert!(
        bi.contains("name: allow-to-providers") && bi.contains("values: [\"query\",\"storage\"]"),
        "{bi}"
    );
    assert!(bi.contains("name: allow-from-callers") && bi.contains("values: [\"edge\"]"));
    let storage = text(
        &files,
        "platform/base/namespaces/storage/networkpolicies.yaml",
    );
    assert!(
        storage.contains("name: allow-from-callers")
            && storage.contains("values: [\"bi\",\"ingestion\"]"),
        "{storage}"
    );
    let edge = text(&files, "platform/base/namespaces/edge/networkpolicies.yaml");
    assert!(
        edge.contains("name: allow-clients") && edge.contains("port: 8443"),
        "{edge}"
    );
    // The entry point's namespace has no quota: its Service is the load
    // balancer every other namespace's quota forbids.
    assert!(!files.contains_key("platform/base/namespaces/edge/quota.yaml"));
    // The components' project admits the cluster-scoped kinds of the
    // charts' facts, nothing more (no StorageClass, no Namespace).
    let project = text(&files, "argocd/prod/project.yaml");
    assert!(project.contains("kind: ValidatingWebhookConfiguration"));
    let components = project.split("---").next().unwrap_or_default();
    assert!(
        !components.contains("kind: StorageClass") && !components.contains("kind: Namespace\n")
    );

    // What the check sees: each edit of one file, and the findings of the
    // render with it.
    let edited = |path: &str, text: String| {
        let mut f = files.clone();
        f.insert(path.into(), text.into_bytes());
        check_json(&f)
    };
    let policies = "platform/base/namespaces/bi/networkpolicies.yaml";
    // Superset's egress to its database dropped.
    let egress = bi.split("---\n# Calls:").next().unwrap_or_default();
    let (code, findings) = edited(policies, egress.to_owned());
    assert_eq!(code, 1);
    assert!(
        crate::support::finds(
            &findings,
            "SOC-SYS-005",
            &["superset-prod", "lakehouse-storage"]
        ),
        "{findings:#?}"
    );
    // Traefik's route to Superset crosses namespaces: without the policy
    // admitting the controller's namespace, the route is denied where the
    // Ingress names its backend (and a route is never a wave problem).
    let (head, rest) = bi.split_once("# Called by:").unwrap_or_default();
    let tail = rest.split_once("---\n").map(|(_, t)| t).unwrap_or_default();
    let (_, findings) = edited(policies, format!("{head}{tail}"));
    assert!(
        crate::support::finds(
            &findings,
            "SOC-SYS-005",
            &["traefik-prod", "superset.lakehouse-bi.svc:8088"]
        ),
        "{findings:#?}"
    );
    assert!(
        !crate::support::finds(&findings, "SOC-SYS-008", &[]),
        "{findings:#?}"
    );
    // An issuer the environment does not create.
    let ingress = "components/superset/overlays/prod/ingress.yaml";
    let (_, findings) = edited(
        ingress,
        text(&files, ingress).replace("issuer: lakehouse-ca", "issuer: acme-ca"),
    );
    assert!(
        crate::support::finds(&findings, "SOC-SYS-026", &["superset-prod", "acme-ca"]),
        "{findings:#?}"
    );
    // A database the PostgreSQL cluster does not declare.
    let overlay = "components/superset/overlays/prod/kustomization.yaml";
    let (_, findings) = edited(
        overlay,
        text(&files, overlay).replace("5432/superset", "5432/bi"),
    );
    assert!(
        crate::support::finds(&findings, "SOC-SYS-004", &["superset-prod", "\"bi\""]),
        "{findings:#?}"
    );
    // Superset's database "Dremio" at a port Dremio's Service does not
    // serve (Arrow Flight is 32010).
    let (_, findings) = edited(
        overlay,
        text(&files, overlay).replace("svc.cluster.local:32010", "svc.cluster.local:32011"),
    );
    assert!(
        crate::support::finds(
            &findings,
            "SOC-SYS-004",
            &["superset-prod", "dremio-client", "32011"]
        ),
        "{findings:#?}"
    );

    // Dremio's distributed storage: the bucket dremio of the client's S3
    // store, which the query namespace's egress reaches; without that
    // policy, the check denies the use where the bucket is named.
    let conf = text(&files, "components/dremio/overlays/prod/dremio.conf");
    assert!(conf.contains("dist: \"dremioS3:///dremio/prod\""), "{conf}");
    let site = text(&files, "components/dremio/overlays/prod/core-site.xml");
    assert!(site.contains("<value>s3.acme.example</value>"), "{site}");
    // Hadoop refuses a configuration file that is not well-formed XML.
    if let Some(python) = tool("python3") {
        let out = Command::new(python)
            .args([
                "-c",
                "import sys, xml.etree.ElementTree as E; E.fromstring(sys.stdin.read())",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(site.as_bytes())?;
                child.wait_with_output()
            })
            .expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(text(&files, "socle-check.yaml").contains("\n  - dremio\n"));
    // The findings once a namespace's egress to the S3 store is dropped.
    let without_store_egress = |ns: &str| {
        let path = format!("platform/overlays/prod/namespaces/{ns}/egress.yaml");
        let kept: Vec<&str> = text(&files, &path)
            .split("\n---\n")
            .filter(|d| !d.contains("allow-external-object-storage"))
            .collect();
        edited(&path, kept.join("\n---\n"))
    };
    let (code, findings) = without_store_egress("query");
    assert_eq!(code, 1);
    assert!(
        crate::support::finds(
            &findings,
            "SOC-SYS-005",
            &["dremio-prod", "uses bucket \"dremio\" on the S3 store outside the cluster (https://s3.acme.example)", "lakehouse-query"]
        ),
        "{findings:#?}"
    );

    // Airbyte: its own bucket per environment on the client's S3 store,
    // listed for the client to create; three databases under one role;
    // connectors reach the declared sources only, on their ports.
    let values = text(&files, "components/airbyte/values-prod.yaml");
    assert!(values.contains("state: airbyte-prod"), "{values}");
    let declared = text(&files, "socle-check.yaml");
    assert!(
        declared.contains("\n  - airbyte-staging\n  - airbyte-prod\n")
            && !declared.contains("airbyte-dev"),
        "{declared}"
    );
    let pg = text(&files, "components/postgresql/values.yaml");
    for db in ["airbyte", "temporal", "temporal_visibility"] {
        assert!(
            pg.contains(&format!("  - name: {db}\n    owner: airbyte\n")),
            "{db}: {pg}"
        );
    }
    let ingestion = text(
        &files,
        "platform/overlays/prod/namespaces/ingestion/egress.yaml",
    );
    assert!(
        ingestion.contains("198.51.100.0/24") && ingestion.contains("port: 5432"),
        "{ingestion}"
    );
    let hpa = text(&files, "components/airbyte/manifests/prod/hpa.yaml");
    assert!(hpa.contains("minReplicas: 2") && hpa.contains("maxReplicas: 10"));
    let app = text(&files, "argocd/prod/applications/airbyte.yaml");
    assert!(app.contains("name: airbyte-worker") && app.contains("RespectIgnoreDifferences=true"));
    // Its bucket unreachable: the namespace's store egress dropped.
    let (code, findings) = without_store_egress("ingestion");
    assert_eq!(code, 1);
    assert!(
        crate::support::finds(
            &findings,
            "SOC-SYS-005",
            &["airbyte-prod", "\"airbyte-prod\"", "lakehouse-ingestion"]
        ),
        "{findings:#?}"
    );
    // A database the cluster does not declare.
    let common = "components/airbyte/values.yaml";
    let (_, findings) = edited(
        common,
        text(&files, common).replace("    name: airbyte\n", "    name: ingest\n"),
    );
    assert!(
        crate::support::finds(&findings, "SOC-SYS-004", &["airbyte-prod", "\"ingest\""]),
        "{findings:#?}"
    );

    // Monitoring: every namespace admits Prometheus's scrapes, whose
    // egress to the nodes is the environment's node addresses; an alert
    // whose runbook is gone is denied.
    for ns in ["storage", "query", "bi", "ingestion", "core", "edge"] {
        let policies = text(
            &files,
            &format!("platform/base/namespaces/{ns}/networkpolicies.yaml"),
        );
        assert!(policies.contains("name: allow-prometheus-scraping"), "{ns}");
    }
    let nodes = text(
        &files,
        "platform/overlays/prod/namespaces/monitoring/egress.yaml",
    );
    assert!(
        nodes.contains("10.30.1.0/24") && nodes.contains("port: 10250"),
        "{nodes}"
    );
    // CloudNativePG's dashboard lands where Grafana's sidecar reads it.
    let operator = text(&files, "components/cloudnative-pg/values-prod.yaml");
    assert!(
        operator.contains("namespace: lakehouse-monitoring"),
        "{operator}"
    );
    let mut gone = files.clone();
    gone.remove("runbooks/alerts/PostgreSQLArchivingFailing.md");
    let (code, findings) = check_json(&gone);
    assert_eq!(code, 1);
    assert!(
        crate::support::finds(&findings, "SOC-OBS-001", &["PostgreSQLArchivingFailing"]),
        "{findings:#?}"
    );
    // promtool reads the rule groups as Prometheus would.
    if let Some(promtool) = tool("promtool") {
        let rules: serde_json::Value = crate::support::yaml_slice(
            text(&files, "components/monitoring/overlays/prod/alerts.yaml").as_bytes(),
        )
        .expect("rules");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rules.yaml");
        fs_err::write(
            &path,
            serde_json::to_string(&serde_json::json!({"groups": rules["spec"]["groups"]}))
                .expect("json"),
        )
        .expect("write");
        let out = Command::new(&promtool)
            .args(["check", "rules"])
            .arg(&path)
            .output()
            .expect("promtool");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("SUCCESS: 14 rules found"),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Dremio's scrape target, as its PodMonitor names it, down for
        // 15 minutes fires the alert; up, it does not.
        let query = "lakehouse-query";
        let test = serde_json::json!({
            "rule_files": ["rules.yaml"],
            "evaluation_interval": "1m",
            "tests": [{
                "interval": "1m",
                "input_series": [
                    {"series": format!("up{{job=\"{query}/dremio\", pod=\"dremio-executor-1\"}}"), "values": "0x20"},
                    {"series": format!("up{{job=\"{query}/dremio\", pod=\"dremio-executor-0\"}}"), "values": "1x20"}
                ],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "DremioMetricsDown", "exp_alerts": []},
                    {"eval_time": "15m", "alertname": "DremioMetricsDown", "exp_alerts": [{
                        "exp_labels": {"severity": "warning", "environment": "prod", "job": format!("{query}/dremio"), "pod": "dremio-executor-1"},
                        "exp_annotations": {
                            "summary": "Dremio node dremio-executor-1 has not answered Prometheus for 10 minutes",
                            "description": crate::support::alert_rule(&rules, "DremioMetricsDown")["annotations"]["description"],
                            "runbook_url": "runbooks/alerts/DremioMetricsDown.md"
                        }
                    }]}
                ]
            }]
        });
        crate::support::promtool_test(&promtool, dir.path(), &test);
        dremio_job_alerts(&promtool, dir.path(), &rules);
    }
    // Prometheus scrapes every Dremio node on the port its PodMonitor names.
    let monitor: serde_json::Value = crate::support::yaml_slice(
        text(&files, "components/dremio/base/podmonitor.yaml").as_bytes(),
    )
    .expect("podmonitor");
    assert_eq!(monitor["spec"]["podMetricsEndpoints"][0]["port"], "metrics");
    for node in ["master", "executor"] {
        let set = text(&files, &format!("components/dremio/base/{node}.yaml"));
        assert!(
            set.contains("- name: metrics\n              containerPort: 9010\n"),
            "{node}"
        );
    }

    // Alertmanager's configuration as Helm gives it (the chart's defaults,
    // then the shared values, then the environment's), with its template
    // file, passes the real amtool; prod pages, staging does not.
    if let Some(amtool) = tool("amtool") {
        let facts = crate::facts::chart("kube-prometheus-stack", "88.5.3").expect("facts");
        let dir = tempfile::tempdir().expect("tempdir");
        for (env, pages) in [("staging", false), ("prod", true)] {
            let mut values = facts.defaults.clone();
            for file in ["values.yaml", &format!("values-{env}.yaml")] {
                let layer: serde_json::Value = crate::support::yaml_slice(
                    text(&files, &format!("components/kube-prometheus-stack/{file}")).as_bytes(),
                )
                .expect("values");
                socle::model::deep_merge(&mut values, &layer);
            }
            let am = &values["alertmanager"];
            let mut config = am["config"].clone();
            let templates = dir.path().join(env);
            fs_err::create_dir_all(&templates).expect("dir");
            for (name, body) in am["templateFiles"].as_object().expect("templates") {
                fs_err::write(templates.join(name), body.as_str().expect("text")).expect("write");
            }
            config["templates"] = serde_json::json!([format!("{}/*.tmpl", templates.display())]);
            let receivers: Vec<&str> = config["receivers"]
                .as_array()
                .expect("receivers")
                .iter()
                .filter_map(|r| r["name"].as_str())
                .collect();
            assert_eq!(receivers.contains(&"pager"), pages, "{env}: {receivers:?}");
            let path = dir.path().join(format!("{env}.yaml"));
            fs_err::write(&path, serde_json::to_string(&config).expect("json")).expect("write");
            let out = Command::new(&amtool)
                .arg("check-config")
                .arg(&path)
                .output()
                .expect("amtool");
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && said.contains("1 templates"),
                "{env}: {said}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let builds = crate::support::Builds::new(&kubectl, &files);
    for env in ["staging", "prod"] {
        for root in [
            format!("platform/overlays/{env}"),
            format!("components/superset/overlays/{env}"),
            format!("components/dremio/overlays/{env}"),
            format!("components/pki/overlays/{env}"),
            format!("components/monitoring/overlays/{env}"),
        ] {
            let out = builds.build(&root).unwrap_or_else(|e| panic!("{e}"));
            assert!(out.contains("kind:"), "{root}");
        }
    }
    // Superset's web servers scale between the environment's bounds, and
    // Argo CD leaves their count to the autoscaler.
    let built = builds
        .build("components/superset/overlays/prod")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        built.contains("kind: HorizontalPodAutoscaler")
            && built.contains("maxReplicas: 10")
            && built.contains("minReplicas: 3"),
        "{built}"
    );
    // Three executors in prod, with the environment's memory split.
    let built = builds
        .build("components/dremio/overlays/prod")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        built.contains("replicas: 3")
            && built.contains("DREMIO_MAX_DIRECT_MEMORY_SIZE_MB: \"20480\"")
            && built.contains("storage: 200Gi"),
        "{built}"
    );
    let app = text(&files, "argocd/prod/applications/superset.yaml");
    assert!(app.contains("- /spec/replicas") && app.contains("RespectIgnoreDifferences=true"));
}

/// Backups leave each cluster that has a backup target: PostgreSQL's WAL
/// and base backups through the Barman Cloud plugin, Elasticsearch's
/// snapshots by a lifecycle policy a PostSync Job registers. The check
/// follows both to the target and through the storage namespace's egress
/// policies; an environment without a target renders none of it.
#[test]
fn the_lakehouse_clusters_back_up_off_the_cluster() {
    let files = crate::support::render_lakehouse();
    for env in ["staging", "prod"] {
        assert!(files.contains_key(&format!("argocd/{env}/applications/barman-cloud.yaml")));
        let pg = text(&files, &format!("components/postgresql/values-{env}.yaml"));
        assert!(
            pg.contains(
                "backups:\n  enabled: true\n  endpointURL: https://s3.backup.acme.example\n"
            ) && pg.contains(&format!("bucket: acme-{env}-backups"))
                && pg.contains(&format!("path: /postgresql/{env}")),
            "{pg}"
        );
        let es = text(
            &files,
            &format!("components/elasticsearch/values-{env}.yaml"),
        );
        assert!(
            es.contains("- secretName: elasticsearch-s3")
                && es.contains("s3.client.default.endpoint: https://s3.backup.acme.example"),
            "{es}"
        );
        let egress = text(
            &files,
            &format!("platform/overlays/{env}/namespaces/storage/egress.yaml"),
        );
        assert!(
            egress.contains("name: allow-external-backup-target")
                && egress.contains("cidr: \"203.0.113.50/32\""),
            "{egress}"
        );
        // The Job's bodies are JSON, with the schedule in Quartz's form.
        let snapshots = text(
            &files,
            &format!("components/elasticsearch/manifests/{env}/snapshots.yaml"),
        );
        let config: Vec<serde_json::Value> = snapshots
            .split("\n---\n")
            .map(|d| serde_saphyr::from_str(d).expect("yaml"))
            .collect();
        let data = config
            .iter()
            .find(|d| d["kind"] == "ConfigMap")
            .map(|d| &d["data"])
            .expect("ConfigMap");
        let repository: serde_json::Value =
            serde_json::from_str(data["repository.json"].as_str().unwrap_or_default())
                .expect("repository.json");
        assert_eq!(
            repository["settings"]["bucket"],
            format!("acme-{env}-backups")
        );
        let policy: serde_json::Value =
            serde_json::from_str(data["policy.json"].as_str().unwrap_or_default())
                .expect("policy.json");
        let schedule = if env == "prod" {
            "0 0 * * * ?"
        } else {
            "0 0 */6 * * ?"
        };
        assert_eq!(policy["schedule"], schedule);
        assert_eq!(policy["retention"]["expire_after"], "30d");
        if let Some(sh) = tool("sh") {
            let script = tempfile::NamedTempFile::new().expect("temp");
            fs_err::write(script.path(), data["apply.sh"].as_str().unwrap_or_default())
                .expect("write");
            let ok = Command::new(sh)
                .arg("-n")
                .arg(script.path())
                .status()
                .expect("sh -n");
            assert!(ok.success(), "apply.sh does not parse");
        }
    }
    let readme = text(&files, "README.md");
    assert!(!readme.contains("has none: its replicas"), "{readme}");

    // What the check sees of the backups.
    let edited = |path: &str, text: String| {
        let mut f = files.clone();
        f.insert(path.into(), text.into_bytes());
        check_json(&f)
    };
    // The snapshot Job names Elasticsearch by its full address (one of
    // ECK's certificate names), which the check follows to ECK's Service.
    let path = "components/elasticsearch/manifests/prod/snapshots.yaml";
    let wrong = text(&files, path).replace(".svc:9200", ".svc:9201");
    assert_ne!(wrong, text(&files, path));
    let (code, findings) = edited(path, wrong);
    assert_eq!(code, 1, "{findings:#?}");
    assert!(
        crate::support::finds(&findings, "SOC-SYS-004", &["elasticsearch-es-http", "9201"]),
        "{findings:#?}"
    );
    // The storage namespace's egress to the target dropped: neither the
    // database nor the search store can write a backup.
    let path = "platform/overlays/prod/namespaces/storage/egress.yaml";
    let kept: Vec<&str> = text(&files, path)
        .split("\n---\n")
        .filter(|d| !d.contains("allow-external-backup-target"))
        .collect();
    let (code, findings) = edited(path, kept.join("\n---\n"));
    assert_eq!(code, 1);
    for (app, tool) in [
        ("postgresql-prod", "postgresql"),
        ("elasticsearch-prod", "elasticsearch"),
    ] {
        assert!(
            crate::support::finds(
                &findings,
                "SOC-SYS-005",
                &[
                    app,
                    &format!("writes its {tool} backups to https://s3.backup.acme.example"),
                    "lakehouse-storage",
                    "port 443"
                ]
            ),
            "{findings:#?}"
        );
    }
    // Prod's snapshots sent to a store inside its own cluster.
    let path = "components/elasticsearch/values-prod.yaml";
    let (_, findings) = edited(
        path,
        text(&files, path).replace(
            "endpoint: https://s3.backup.acme.example",
            "endpoint: http://minio.lakehouse-storage.svc:9000",
        ),
    );
    assert!(
        crate::support::finds(
            &findings,
            "SOC-SYS-017",
            &["elasticsearch-prod", "inside the cluster"]
        ),
        "{findings:#?}"
    );

    // Without a target, staging archives nothing and says so.
    let spec = example().replace(
        "    backup_target:\n      endpoint: https://s3.backup.acme.example\n      bucket: acme-staging-backups\n",
        "",
    );
    assert_ne!(spec, example(), "the example's staging entry changed");
    let files = render_text(&spec);
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
    let pg = text(&files, "components/postgresql/values-staging.yaml");
    assert!(
        !pg.contains("backups:") && pg.contains("no backup_target"),
        "{pg}"
    );
    assert!(!files.contains_key("components/elasticsearch/manifests/staging/snapshots.yaml"));
    assert!(!text(&files, "components/elasticsearch/values-staging.yaml").contains("s3.client"));
    assert!(
        !text(&files, "argocd/staging/applications/elasticsearch.yaml")
            .contains("manifests/staging")
    );
    assert!(
        text(&files, "README.md").contains("`staging` has none: its replicas are its only copy.")
    );
}

/// `socle update` moves the lakehouse's dev environment from its Docker
/// host to a cluster and back, with the three-way merge, and each result
/// passes `socle check`.
#[test]
fn update_moves_lakehouse_dev_between_compose_and_kubernetes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spec_path = tmp.path().join("spec.yaml");
    fs_err::write(&spec_path, example()).expect("spec");
    let (code, out, err) = socle_in(tmp.path(), &["new", "--spec", "spec.yaml", "--out", "repo"]);
    assert_eq!(code, 0, "{out}{err}");
    let dir = tmp.path().join("repo");
    let spec = dir.join("socle.yaml");
    let compose = fs_err::read_to_string(&spec).expect("spec");
    let kubernetes = compose.replace(
        "    target: compose\n",
        "    cluster: https://dev.k8s.acme.example:6443\n    network:\n      api_server: [10.10.0.10/32]\n",
    );
    assert_ne!(compose, kubernetes, "the example's dev entry changed");
    for (text, on_host) in [(&kubernetes, false), (&compose, true)] {
        fs_err::write(&spec, text).expect("write");
        crate::support::git(&dir, &["commit", "-qam", "move dev"]);
        let (code, out, err) = socle_in(&dir, &["update"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("0 conflict(s)"), "{out}");
        assert_eq!(dir.join("compose/dev/compose.yaml").exists(), on_host);
        assert_eq!(dir.join("argocd/dev/project.yaml").exists(), !on_host);
        assert_eq!(
            dir.join("components/superset/overlays/dev/kustomization.yaml")
                .exists(),
            !on_host
        );
        crate::support::git(&dir, &["add", "-A"]);
        crate::support::git(&dir, &["commit", "-qm", "update"]);
        let (code, out, _) = socle_in(&dir, &["check", "."]);
        assert_eq!(code, 0, "{out}");
    }
}

/// Superset's init script, run for real on both targets with a stand-in
/// for the `superset` command and for Superset's Python API (the image is
/// not here): it upgrades the schema, then sets the roles up, then
/// registers Dremio with a URI that gives back the user, the password
/// (URI delimiters included), the host and the port it was given; it
/// refuses a password with "%", which Superset 5 would alter; without a
/// Dremio endpoint it registers nothing. The drivers it relies
/// on are pinned, and installed without their dependencies.
#[test]
fn superset_init_registers_dremio_with_the_credentials_it_is_given() {
    let files = crate::support::render_lakehouse();
    // Any python with SQLAlchemy: Airflow's has it.
    let Some(python) = crate::support::airflow_python() else {
        return;
    };
    for (config, flight) in [
        (
            "components/superset/base",
            "dremio-client.lakehouse-query.svc.cluster.local:32010",
        ),
        ("compose/dev/superset", "dremio:32010"),
    ] {
        let requirements = text(&files, &format!("{config}/requirements.txt"));
        let pins: Vec<&str> = requirements
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        // The clusters sign users in with the client's realm: Authlib too.
        let sso: &[&str] = if config.starts_with("compose") {
            &[]
        } else {
            &["Authlib==1.6.5"]
        };
        assert!(
            pins == [
                &["psycopg2-binary==2.9.10", "sqlalchemy-dremio==3.0.3"][..],
                sso
            ]
            .concat(),
            "{requirements}"
        );
        // The address the environment gives superset-init is the one checked.
        let given = if config.starts_with("compose") {
            text(&files, "compose/dev/compose.yaml")
        } else {
            text(
                &files,
                "components/superset/overlays/prod/kustomization.yaml",
            )
        };
        assert!(given.contains(flight), "{config}: {given}");

        let dir = tempfile::tempdir().expect("tempdir");
        let stub = dir.path().join("stub");
        let bin = dir.path().join("bin");
        for d in [stub.join("superset/utils"), bin.clone()] {
            fs_err::create_dir_all(&d).expect("mkdir");
        }
        let log = dir.path().join("log");
        let write =
            |path: std::path::PathBuf, body: &str| fs_err::write(path, body).expect("write");
        write(stub.join("superset/__init__.py"), "");
        write(stub.join("superset/utils/__init__.py"), "");
        write(
            stub.join("superset/app.py"),
            "import contextlib\nclass App:\n    def app_context(self):\n        return contextlib.nullcontext()\ndef create_app():\n    return App()\n",
        );
        write(
            stub.join("superset/extensions.py"),
            "import os\nclass Session:\n    def commit(self):\n        open(os.environ['LOG'], 'a').write('commit\\n')\nclass Db:\n    session = Session()\ndb = Db()\n",
        );
        write(
            stub.join("superset/utils/database.py"),
            "import json, os\nfrom sqlalchemy.engine import make_url\ndef get_or_create_db(name, uri):\n    u = make_url(uri)\n    open(os.environ['LOG'], 'a').write(json.dumps([name, u.drivername, u.username, u.password, u.host, u.port, u.database, dict(u.query)]) + '\\n')\n",
        );
        write(
            bin.join("superset"),
            "#!/bin/sh\necho \"superset $*\" >> \"$LOG\"\n",
        );
        // A wrapper, not a link: the virtualenv's python finds its packages
        // from its own path.
        write(
            bin.join("python"),
            &format!("#!/bin/sh\nexec '{}' \"$@\"\n", python.to_string_lossy()),
        );
        for f in ["superset", "python"] {
            std::fs::set_permissions(
                bin.join(f),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .expect("chmod");
        }
        let conf = dir.path().join("config");
        fs_err::create_dir_all(&conf).expect("mkdir");
        for f in ["init.sh", "register_dremio.py"] {
            write(conf.join(f), text(&files, &format!("{config}/{f}")));
        }
        // The import runs in the real Superset only (superset_init.sh):
        // here, that init.sh runs it after the registration.
        write(
            conf.join("import_starter.py"),
            "import os\nopen(os.environ['LOG'], 'a').write('import_starter\\n')\n",
        );
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let password = "p@ss:w/rd ?&#+=;x";
        for with_dremio in [true, false] {
            let _ = std::fs::remove_file(&log);
            let mut cmd = Command::new("sh");
            cmd.arg(conf.join("init.sh"))
                .env("PATH", &path)
                .env("PYTHONPATH", &stub)
                .env("LOG", &log)
                .env_remove("DREMIO_FLIGHT");
            if with_dremio {
                cmd.env("DREMIO_FLIGHT", flight)
                    .env("DREMIO_USER", "superset")
                    .env("DREMIO_PASSWORD", password);
            }
            let out = cmd.output().expect("sh");
            assert!(
                out.status.success(),
                "{config}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let logged = fs_err::read_to_string(&log).expect("log");
            let lines: Vec<&str> = logged.lines().collect();
            assert_eq!(
                lines[..2],
                ["superset db upgrade", "superset init"],
                "{config}: {logged}"
            );
            if !with_dremio {
                assert_eq!(lines.len(), 2, "{config}: {logged}");
                continue;
            }
            let (host, port) = flight.rsplit_once(':').expect("host:port");
            let registered: serde_json::Value =
                serde_json::from_str(lines[2]).expect("registered database");
            assert_eq!(
                registered,
                serde_json::json!([
                    "Dremio",
                    "dremio+flight",
                    "superset",
                    password,
                    host,
                    port.parse::<u16>().expect("port"),
                    "dremio",
                    {"UseEncryption": "false"}
                ]),
                "{config}"
            );
            assert_eq!(lines.get(3), Some(&"commit"), "{config}: {logged}");
            assert_eq!(lines[4..], ["import_starter"], "{config}: {logged}");
        }
        // A password Superset 5 would alter (it decodes %XX in the URI it
        // builds) is refused, named, before anything is registered.
        let out = Command::new("sh")
            .arg(conf.join("init.sh"))
            .env("PATH", &path)
            .env("PYTHONPATH", &stub)
            .env("LOG", &log)
            .env("DREMIO_FLIGHT", flight)
            .env("DREMIO_USER", "superset")
            .env("DREMIO_PASSWORD", "ab%20c")
            .output()
            .expect("sh");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("DREMIO_PASSWORD contains '%'"),
            "{config}: {err}"
        );
    }
    // Where the spec names a PyPI mirror, the drivers come from it (and
    // the README says so); without one, from PyPI.
    let overlay = "components/superset/overlays/prod/kustomization.yaml";
    assert!(!text(&files, overlay).contains("UV_INDEX_URL"));
    let mirror = "https://nexus.acme.example/repository/pypi/simple";
    let mirrored = render_text(&format!("{}\nmirror:\n  pypi: {mirror}/\n", example()));
    assert!(
        text(&mirrored, overlay).contains(&format!("- UV_INDEX_URL={mirror}\n")),
        "{}",
        text(&mirrored, overlay)
    );
    assert!(text(&mirrored, "README.md").contains(&format!("the PyPI mirror `{mirror}`")));
    let (code, findings) = check_json(&mirrored);
    assert_eq!(code, 0, "{findings:#?}");

    // The host and the clusters run the same init: one blueprint file,
    // named by the Compose target's `.from` files, rendered in both places
    // (the host's repository may have no cluster files), and `socle why`
    // sends an author to that one file.
    for f in [
        "init.sh",
        "register_dremio.py",
        "import_starter.py",
        "starter_dashboard.yaml",
    ] {
        assert_eq!(
            text(&files, &format!("compose/dev/superset/{f}")),
            text(&files, &format!("components/superset/base/{f}")),
            "{f}"
        );
        let locked = format!("  compose/dev/superset/{f}:\n    blob: ");
        let entry = text(&files, "socle.lock")
            .split_once(&locked)
            .and_then(|(_, rest)| rest.lines().nth(1))
            .unwrap_or_default();
        assert_eq!(
            entry,
            format!("    from: components/superset/base/{f}"),
            "{f}"
        );
    }

    // The drivers are installed before anything imports them: the web
    // servers and the Job alike, without dependencies that would shadow
    // Superset's own.
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let built = crate::support::Builds::new(&kubectl, &files)
        .build("components/superset/overlays/prod")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(built.matches("  name: drivers\n").count(), 2, "{built}");
    assert_eq!(
        built.matches("uv pip install --no-deps").count(),
        2,
        "{built}"
    );
    assert_eq!(
        built
            .matches("value: /app/pythonpath:/app/packages")
            .count(),
        2,
        "{built}"
    );
}

/// The same init, with the real Apache Superset of the image's version and
/// a real PostgreSQL (tests/tools/superset_init.sh): the database "Dremio"
/// is registered, loads its Arrow Flight dialect from the drivers folder,
/// and signs in with the password it was given, after a second run that
/// changed it. Then a user signs in through a stand-in Keycloak realm
/// (tests/tools/superset_sso.py) with the configuration and roles mapping
/// the overlay gives: Superset sends the browser to the realm with the
/// client `superset` and its callback, exchanges the code, and gives the
/// user the roles of its mapped group only. Superset and its hundred dependencies take minutes to
/// install, beyond what `.ci/run` can spend, so this runs where
/// `SOCLE_SUPERSET_VENV` names a virtualenv that has them (the script says
/// how to make one).
#[test]
fn superset_init_and_sign_in_work_in_a_real_superset() {
    let Some(venv) = std::env::var_os("SOCLE_SUPERSET_VENV") else {
        eprintln!(
            "skipped: SOCLE_SUPERSET_VENV is not set (a virtualenv with apache-superset 5.0.0)"
        );
        return;
    };
    let Some(bin) = crate::support::postgres_bin() else {
        return;
    };
    let files = crate::support::render_lakehouse();
    let dir = materialise(&files);
    // The roles of each group as the overlay gives them to Superset; the
    // stand-in realm puts the user in one mapped group and one that is not.
    let overlay: serde_json::Value = crate::support::yaml(text(
        &files,
        "components/superset/overlays/prod/kustomization.yaml",
    ))
    .expect("overlay");
    let mapping = overlay["configMapGenerator"][0]["literals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .find_map(|l| l.strip_prefix("OIDC_ROLES_MAPPING="))
        .expect("roles mapping");
    let out = Command::new("sh")
        .arg(crate::support::repo_root().join("tests/tools/superset_init.sh"))
        .arg(&bin)
        .arg(&venv)
        .arg(dir.path().join("components/superset/base"))
        .env("OIDC_ROLES_MAPPING", mapping)
        .env("SSO_GROUPS", r#"["analysts","another-team"]"#)
        .output()
        .expect("superset_init.sh runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = report
        .lines()
        .filter(|l| !l.starts_with("Loaded your"))
        .collect();
    assert_eq!(
        lines,
        [
            "starter dashboard: already imported, left as it is",
            "database Dremio",
            "dialect DremioDialect_flight",
            "password ok",
            "dashboard Starter, edited published 3 charts on $scratch.agg_revenue_daily on Dremio",
            "redirect superset https://superset.acme.example/oauth-authorized/keycloak",
            "user jdoe Alpha,Public,sql_lab"
        ],
        "{report}"
    );
}

/// Where the spec gives the client's Keycloak realm (`sso`), Superset on
/// the clusters signs users in there: its configuration names the realm,
/// the client and the roles of each group, the client secret comes from
/// the store, the `bi` namespace's egress reaches the realm's address on
/// 443 only, and the README says what to create in the realm. Without the
/// section, none of it: Superset keeps its own accounts.
#[test]
fn superset_signs_users_in_with_the_clients_realm_where_the_spec_gives_one() {
    let files = crate::support::render_lakehouse();
    let overlay = "components/superset/overlays/prod/kustomization.yaml";
    let doc: serde_json::Value = crate::support::yaml(text(&files, overlay)).expect("overlay");
    let literals: Vec<&str> = doc["configMapGenerator"][0]["literals"]
        .as_array()
        .expect("literals")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    for expected in [
        "OIDC_ISSUER=https://sso.acme.example/realms/acme",
        "OIDC_CLIENT_ID=superset",
        r#"OIDC_ROLES_MAPPING={"analysts":["Alpha","sql_lab"],"bi-admins":["Admin"],"business":["Gamma"]}"#,
    ] {
        assert!(literals.contains(&expected), "{expected}: {literals:?}");
    }
    let secret = text(
        &files,
        "components/superset/overlays/prod/externalsecret.yaml",
    );
    assert!(
        secret.contains("- secretKey: OIDC_CLIENT_SECRET\n      remoteRef:\n        key: acme/prod/superset/oidc\n        property: client-secret\n"),
        "{secret}"
    );
    let egress = text(&files, "platform/overlays/prod/namespaces/bi/egress.yaml");
    assert!(
        egress.contains("cidr: \"203.0.113.80/32\"\n      ports:\n        - protocol: TCP\n          port: 443\n"),
        "{egress}"
    );
    let readme = text(&files, "README.md");
    assert!(
        readme.contains("`https://superset.data.acme.example/oauth-authorized/keycloak`")
            && readme.contains("| `analysts` | sql_lab |"),
        "{readme}"
    );
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");

    let start = example().find("sso:\n").expect("sso section");
    let end = example()[start..].find("\n\n").expect("section end") + start;
    let without = format!("{}{}", &example()[..start], &example()[end + 2..]);
    assert!(!without.contains("sso:\n"));
    let plain = render_text(&without);
    for path in [
        overlay,
        "components/superset/overlays/prod/externalsecret.yaml",
        "platform/overlays/prod/namespaces/bi/egress.yaml",
    ] {
        let t = text(&plain, path);
        assert!(
            !t.contains("OIDC") && !t.contains("203.0.113.80"),
            "{path}: {t}"
        );
    }
    assert!(!text(&plain, "README.md").contains("oauth-authorized"));
    let (code, findings) = check_json(&plain);
    assert_eq!(code, 0, "{findings:#?}");
}

/// The labels Prometheus gives the master's scrape target in prod (the
/// PodMonitor's job `<namespace>/dremio`).
const DREMIO_TARGET: &str =
    "job=\"lakehouse-query/dremio\", namespace=\"lakehouse-query\", pod=\"dremio-master-0\"";

/// Dremio's job counters as its Micrometer registry names them for
/// Prometheus (`jobs`, `jobs.server_error`, `jobs.failed` with its
/// `error_type` tag), on the coordinator's scrape target.
fn dremio_job_alerts(promtool: &std::path::Path, dir: &std::path::Path, rules: &serde_json::Value) {
    let target = DREMIO_TARGET;
    let series = |name: &str, labels: &str, values: &str| serde_json::json!({"series": format!("{name}{{{target}{labels}}}"), "values": values});
    let fired = |alert: &str, value: &str| {
        let rule = crate::support::alert_rule(rules, alert);
        serde_json::json!([{
            "exp_labels": {"severity": "warning", "environment": "prod", "namespace": "lakehouse-query"},
            "exp_annotations": {
                "summary": rule["annotations"]["summary"],
                "description": rule["annotations"]["description"].as_str().unwrap_or_default()
                    .replace("{{ $value | humanize }}", value),
                "runbook_url": format!("runbooks/alerts/{alert}.md")
            }
        }])
    };
    let oom = ", error_type=\"EXECUTOR_CANCEL_DIRECT_MEMORY_EXCEEDED\", error_origin=\"EXECUTOR\"";
    let parse = ", error_type=\"PARSE\", error_origin=\"COORDINATOR\"";
    let test = serde_json::json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            // 100 jobs a minute, one server error a minute from minute 10:
            // 15 errors in 15 minutes, 1% of the jobs: below 5%, no alert.
            {
                "interval": "1m",
                "input_series": [
                    series("jobs_total", ", workload_type=\"UI_RUN\", user_type=\"user\"", "0+100x40"),
                    series("jobs_server_error_total", "", "0x10 1+1x30")
                ],
                "alert_rule_test": [
                    {"eval_time": "35m", "alertname": "DremioJobsFailing", "exp_alerts": []}
                ]
            },
            // 10 jobs a minute, one server error a minute from minute 10
            // (10%): pending once 3 errors are counted, firing 5 minutes
            // later; 15 errors in 15 minutes by then. Client errors (a
            // typo: PARSE) count in jobs_failed_total only.
            {
                "interval": "1m",
                "input_series": [
                    series("jobs_total", ", workload_type=\"JDBC\", user_type=\"user\"", "0+10x40"),
                    series("jobs_server_error_total", "", "0x10 1+1x30"),
                    series("jobs_failed_total", parse, "0+50x40")
                ],
                "alert_rule_test": [
                    {"eval_time": "12m", "alertname": "DremioJobsFailing", "exp_alerts": []},
                    {"eval_time": "35m", "alertname": "DremioJobsFailing", "exp_alerts": fired("DremioJobsFailing", "15")},
                    {"eval_time": "35m", "alertname": "DremioQueriesOutOfMemory", "exp_alerts": []}
                ]
            },
            // Two memory cancellations in an hour: no alert; a third: alert.
            {
                "interval": "10m",
                "input_series": [
                    series("jobs_failed_total", oom, "0 1 2 2 2 2 3 3 3"),
                    series("jobs_failed_total", parse, "0+100x8")
                ],
                "alert_rule_test": [
                    {"eval_time": "50m", "alertname": "DremioQueriesOutOfMemory", "exp_alerts": []},
                    {"eval_time": "60m", "alertname": "DremioQueriesOutOfMemory", "exp_alerts": fired("DremioQueriesOutOfMemory", "3")}
                ]
            },
            // The reflection manager's gauges, each minute: a reflection
            // retrying for 39 minutes, then refreshed, does not alert; one
            // that fails again at minute 51, retries and is given up
            // (failed) at minute 81 alerts an hour after minute 51,
            // counted once in either state.
            {
                "interval": "1m",
                "input_series": [
                    series("reflections_retrying", "", "0 1x38 0x10 1x29 0x40"),
                    series("reflections_failed", "", "0x80 1x40"),
                    series("reflections_active", "", "5x120")
                ],
                "alert_rule_test": [
                    {"eval_time": "45m", "alertname": "DremioReflectionsNotRefreshing", "exp_alerts": []},
                    {"eval_time": "105m", "alertname": "DremioReflectionsNotRefreshing", "exp_alerts": []},
                    {"eval_time": "115m", "alertname": "DremioReflectionsNotRefreshing", "exp_alerts": fired("DremioReflectionsNotRefreshing", "1")}
                ]
            }
        ]
    });
    crate::support::promtool_test(promtool, dir, &test);
}

/// Dremio's dashboard reads only what Dremio serves (its Micrometer job
/// counters, reflection gauges and JVM meters), the scrape target its
/// PodMonitor makes and the containers' CPU; every query parses as
/// Prometheus parses it, the failure rate computes what the alert compares,
/// the stale reflections what the other alert counts, and Grafana's
/// sidecar finds the ConfigMap kustomize builds.
#[test]
fn the_dremio_dashboard_reads_what_dremio_serves() {
    let files = crate::support::render_lakehouse();
    let path = "components/monitoring/overlays/prod/dashboards/dremio.json";
    let dashboard: serde_json::Value = serde_json::from_str(text(&files, path)).expect(path);
    assert_eq!(dashboard["uid"], "lakehouse-dremio");
    assert!(dashboard["schemaVersion"].as_u64() >= Some(36));
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(variables, ["datasource", "namespace"]);
    let served = [
        "jobs_total",
        "jobs_failed_total",
        "jobs_server_error_total",
        "jobs_active",
        "jvm_memory_used_bytes",
        "jvm_memory_max_bytes",
        "jvm_buffer_memory_used_bytes",
        "jvm_gc_pause_seconds_sum",
        "container_cpu_usage_seconds_total",
        "reflections_active",
        "reflections_refreshing",
        "reflections_retrying",
        "reflections_failed",
        "up",
    ];
    let metric = regex::Regex::new(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{").expect("regex");
    let exprs = crate::support::dashboard_queries(path, &dashboard);
    for e in &exprs {
        for m in metric.captures_iter(e) {
            assert!(served.contains(&&m[1]), "{e}: {} is not served", &m[1]);
        }
        assert!(e.contains("namespace=\"$namespace\""), "{e}");
    }
    assert!(exprs.len() >= 12, "{exprs:?}");
    let Some(promtool) = tool("promtool") else {
        return;
    };
    // Every query as a recording rule, the variables as Grafana fills them.
    let filled = |e: &str| {
        e.replace("$namespace", "lakehouse-query")
            .replace("$__rate_interval", "5m")
    };
    let rules: Vec<serde_json::Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| serde_json::json!({"record": format!("dashboard:query{i}"), "expr": filled(e)}))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    fs_err::write(
        dir.path().join("rules.yaml"),
        serde_json::to_string(
            &serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]}),
        )
        .expect("json"),
    )
    .expect("rules written");
    let out = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(dir.path().join("rules.yaml"))
        .output()
        .expect("promtool");
    crate::support::assert_success(&out);
    // 10 jobs a minute, one of them failing on the server side: the
    // failure-rate panel shows 10%, the jobs panel 10 a minute.
    let rate = exprs
        .iter()
        .find(|e| e.starts_with("sum(rate(jobs_server_error_total"))
        .expect("failure rate panel");
    let per_minute = exprs
        .iter()
        .find(|e| e.contains("rate(jobs_total") && e.contains("workload_type"))
        .expect("jobs panel");
    let stale = exprs
        .iter()
        .find(|e| e.contains("reflections_failed") && e.contains("reflections_retrying"))
        .expect("stale reflections panel");
    // Rates are floating point: compared to a thousandth.
    let rounded = |e: &str| format!("round({}, 0.001)", filled(e));
    let target = DREMIO_TARGET;
    let test = serde_json::json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": format!("jobs_total{{{target}, workload_type=\"JDBC\", user_type=\"user\"}}"), "values": "0+10x30"},
                {"series": format!("jobs_server_error_total{{{target}}}"), "values": "0+1x30"},
                {"series": format!("reflections_failed{{{target}}}"), "values": "1x30"},
                {"series": format!("reflections_retrying{{{target}}}"), "values": "2x30"}
            ],
            "promql_expr_test": [
                {"expr": rounded(rate), "eval_time": "20m", "exp_samples": [{"labels": "{}", "value": 0.1}]},
                {"expr": filled(stale), "eval_time": "20m", "exp_samples": [{"labels": "{}", "value": 3}]},
                {"expr": rounded(per_minute), "eval_time": "20m", "exp_samples": [{"labels": "{workload_type=\"JDBC\"}", "value": 10}]}
            ]
        }]
    });
    crate::support::promtool_test(&promtool, dir.path(), &test);
    // What Grafana's sidecar selects.
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let built = crate::support::Builds::new(&kubectl, &files)
        .build("components/monitoring/overlays/prod")
        .unwrap_or_else(|e| panic!("{e}"));
    let documents: Vec<serde_json::Value> =
        crate::support::yaml_stream(&built).expect("kustomize output");
    let config_map = documents
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("dashboard ConfigMap");
    assert_eq!(config_map["metadata"]["name"], "dashboard-dremio");
    assert_eq!(config_map["metadata"]["namespace"], "lakehouse-monitoring");
    assert_eq!(config_map["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(config_map["data"]["dremio.json"], text(&files, path));
}

/// Airbyte's community edition has no metrics: the bootstrap sends its
/// failed syncs to the webhook Alertmanager posts to, named as the store
/// holds it for Alertmanager.
#[test]
fn airbytes_failed_syncs_go_to_the_alerts_webhook() {
    let files = crate::support::render_lakehouse();
    let readme = text(&files, "README.md");
    let step = readme
        .split("\n\n")
        .find(|p| p.contains("**Settings → Notifications**"))
        .expect("the notification step");
    assert!(
        step.contains("`acme/<env>/alerting/receivers`, property\n`slack-webhook-url`"),
        "{step}"
    );
    for env in ["staging", "prod"] {
        let secret = text(
            &files,
            &format!("components/kube-prometheus-stack/manifests/{env}/externalsecrets.yaml"),
        );
        assert!(
            secret.contains(&format!(
                "key: acme/{env}/alerting/receivers\n        property: slack-webhook-url"
            )),
            "{secret}"
        );
    }
    assert!(text(&files, "runbooks/components/airbyte.md").contains("## Failed syncs"));
}
