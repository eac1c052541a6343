//! Zeppelin behind oauth2-proxy, as rendered: the Ingress reaches the proxy
//! only, the proxy signs in with a client the realm declares for this host,
//! trusts Keycloak's CA through the mounted bundle, reads its secrets from
//! store entries `socle secrets list` reports, and the server admits no
//! traffic from the ingress controller. Interpreters follow the spec per
//! environment. `socle check` catches the proxy losing its CA file.

use std::collections::BTreeSet;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use crate::support::{materialise, render, render_text, text, to_json, yaml_docs};
use socle::render::FileSet;

const ENVS: [&str; 3] = ["dev", "staging", "prod"];

fn docs(files: &FileSet, path: &str) -> Vec<Value> {
    let mut one = FileSet::new();
    one.insert(
        path.to_owned(),
        files
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not rendered"))
            .clone(),
    );
    yaml_docs(&one).iter().map(|(_, v)| to_json(v)).collect()
}

fn kind<'a>(list: &'a [Value], kind: &str) -> &'a Value {
    list.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn args(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect()
}

fn flag<'a>(args: &'a [String], name: &str) -> Vec<&'a str> {
    let prefix = format!("--{name}=");
    args.iter()
        .filter_map(|a| a.strip_prefix(&prefix))
        .collect()
}

fn one<'a>(args: &'a [String], name: &str) -> &'a str {
    let v = flag(args, name);
    assert_eq!(v.len(), 1, "--{name}: {v:?} in {args:?}");
    v[0]
}

/// The realm of an environment, from the Keycloak ConfigMap.
fn realm(files: &FileSet, env: &str) -> Value {
    let list = docs(
        files,
        &format!("components/keycloak/manifests/{env}/realm.yaml"),
    );
    let cm = kind(&list, "ConfigMap");
    let text = cm["data"]["realm.yaml"].as_str().expect("realm.yaml");
    to_json(&crate::support::yaml(text).expect("realm YAML"))
}

fn proxy(files: &FileSet, env: &str) -> Vec<Value> {
    docs(
        files,
        &format!("components/zeppelin/overlays/{env}/oauth2-proxy.yaml"),
    )
}

#[test]
fn the_ingress_reaches_oauth2_proxy_which_signs_in_with_the_realm_client() {
    let files = render(None);
    for env in ENVS {
        let ingress = &docs(
            &files,
            &format!("components/zeppelin/overlays/{env}/ingress.yaml"),
        )[0];
        let rule = &ingress["spec"]["rules"][0];
        let host = rule["host"].as_str().unwrap();
        for p in rule["http"]["paths"].as_array().unwrap() {
            assert_eq!(
                p["backend"]["service"]["name"], "oauth2-proxy",
                "{env}: the Ingress must route to oauth2-proxy"
            );
        }
        let list = proxy(&files, env);
        let service = kind(&list, "Service");
        assert_eq!(service["metadata"]["name"], "oauth2-proxy");
        let port = service["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "http")
            .expect("http port");
        let deployment = kind(&list, "Deployment");
        let a = args(deployment);
        let listen = one(&a, "http-address");
        assert!(
            listen.ends_with(&format!(":{}", port["port"])),
            "{env}: service port {} vs {listen}",
            port["port"]
        );
        assert_eq!(one(&a, "provider"), "keycloak-oidc");

        // Issuer and client: the realm's.
        let realm = realm(&files, env);
        let name = realm["realm"].as_str().unwrap();
        let issuer = one(&a, "oidc-issuer-url");
        let keycloak_host = issuer
            .strip_prefix("https://")
            .and_then(|r| r.split('/').next())
            .unwrap();
        assert_eq!(
            issuer,
            format!("https://{keycloak_host}/realms/{name}"),
            "{env}"
        );
        assert!(
            keycloak_host.starts_with("keycloak.")
                && host.ends_with(&keycloak_host["keycloak.".len()..]),
            "{env}: issuer {issuer} is not the environment's Keycloak ({host})"
        );
        let client_id = one(&a, "client-id");
        let client = realm["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["clientId"] == client_id)
            .unwrap_or_else(|| panic!("{env}: realm has no client {client_id}"));
        let callback = format!("https://{host}/oauth2/callback");
        assert!(
            client["redirectUris"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u == callback.as_str()),
            "{env}: {:?} lacks {callback}",
            client["redirectUris"]
        );
        assert_eq!(one(&a, "redirect-url"), callback);
        // The groups claim reaches the proxy: the client has the scope.
        assert!(client["defaultClientScopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "groups"));

        // Allowed groups: the spec's groups granting a notebook role.
        let spec: Value =
            to_json(&crate::support::yaml(socle::spec::EXAMPLE).expect("example spec"));
        let expected: BTreeSet<&str> = spec["keycloak"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| {
                ["data-engineer", "data-scientist", "platform-admin"]
                    .contains(&g["role"].as_str().unwrap())
            })
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        let allowed: BTreeSet<&str> = flag(&a, "allowed-group").into_iter().collect();
        assert_eq!(allowed, expected, "{env}");
        assert!(!expected.is_empty());

        // The upstream is the server's Service, on its HTTP port.
        let upstream = one(&a, "upstream");
        assert!(
            upstream.starts_with("http://zeppelin-server.") && upstream.contains(":8080"),
            "{env}: {upstream}"
        );
        for f in ["reverse-proxy", "skip-provider-button"] {
            assert!(a.iter().any(|x| x == &format!("--{f}")), "{env}: --{f}");
        }
        assert_eq!(one(&a, "cookie-secure"), "true");

        // HA environments run two replicas.
        let defaults: serde_json::Value = crate::support::yaml(
            &fs_err::read_to_string(
                crate::support::repo_root().join(format!("environments/{env}.yaml")),
            )
            .unwrap(),
        )
        .unwrap();
        let ha = defaults["replicas"].as_i64().unwrap_or(1) > 1;
        let expected_replicas = if ha { 2 } else { 1 };
        assert_eq!(deployment["spec"]["replicas"], expected_replicas, "{env}");

        // Restricted Pod Security.
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let c = &pod["containers"][0];
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
        assert!(c["resources"]["limits"]["memory"].is_string());
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ping");
        let image = c["image"].as_str().unwrap();
        assert!(
            image.starts_with("quay.io/oauth2-proxy/oauth2-proxy:v7."),
            "{image}"
        );
    }
}

#[test]
fn oauth2_proxy_trusts_the_mounted_bundle_and_reads_listed_store_entries() {
    let files = render(None);
    let dir = materialise(&files);
    for env in ENVS {
        let list = proxy(&files, env);
        let deployment = kind(&list, "Deployment");
        let a = args(deployment);
        let pod = &deployment["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        let mount_of = |volume: &str| -> String {
            c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == volume)
                .and_then(|m| m["mountPath"].as_str())
                .unwrap_or_else(|| panic!("{env}: volume {volume} not mounted"))
                .trim_end_matches('/')
                .to_owned()
        };
        let volume = |pred: &dyn Fn(&Value) -> bool| -> String {
            pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| pred(v))
                .and_then(|v| v["name"].as_str())
                .expect("volume")
                .to_owned()
        };
        let ca_volume = volume(&|v| v["configMap"]["name"] == "platform-ca-bundle");
        let ca_dir = mount_of(&ca_volume);
        let ca_file = one(&a, "provider-ca-file");
        assert!(
            ca_file.starts_with(&format!("{ca_dir}/")),
            "{env}: {ca_file} is not inside the bundle's mount {ca_dir}"
        );

        // Secrets: files of the Secret the ExternalSecret produces.
        let es = kind(&list, "ExternalSecret");
        let target = es["spec"]["target"]["name"].as_str().unwrap();
        let secret_volume = volume(&|v| v["secret"]["secretName"] == target);
        let secret_dir = mount_of(&secret_volume);
        let data = es["spec"]["data"].as_array().unwrap();
        let remote_of = |file: &str| -> (String, String) {
            let key = file
                .strip_prefix(&format!("{secret_dir}/"))
                .unwrap_or_else(|| panic!("{env}: {file} is not in {secret_dir}"));
            let d = data
                .iter()
                .find(|d| d["secretKey"] == key)
                .unwrap_or_else(|| panic!("{env}: no secretKey {key}"));
            (
                d["remoteRef"]["key"].as_str().unwrap().to_owned(),
                d["remoteRef"]["property"].as_str().unwrap().to_owned(),
            )
        };
        let client = remote_of(one(&a, "client-secret-file"));
        let cookie = remote_of(one(&a, "cookie-secret-file"));
        assert_eq!(client.0, format!("acme/{env}/zeppelin/oidc"));

        // socle secrets list reports both entries, read by this
        // ExternalSecret; the client secret is the one Keycloak reads too.
        let out = Command::cargo_bin("socle")
            .unwrap()
            .args(["secrets", "list"])
            .arg(dir.path())
            .args(["--env", env, "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
        let entries = listing["entries"].as_array().unwrap();
        for (key, property) in [&client, &cookie] {
            let entry = entries
                .iter()
                .find(|e| e["key"] == key.as_str())
                .unwrap_or_else(|| panic!("{env}: {key} not listed"));
            assert!(
                entry["properties"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p == property.as_str()),
                "{env}: {key} lacks {property}"
            );
            assert!(entry["readers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == es["metadata"]["name"] && r["component"] == "zeppelin"));
        }
        let client_entry = entries
            .iter()
            .find(|e| e["key"] == client.0.as_str())
            .unwrap();
        assert!(client_entry["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "keycloak"));
    }
}

#[test]
fn the_server_admits_its_http_port_from_the_proxy_not_the_ingress_controller() {
    let files = render(None);
    let policy = &docs(&files, "components/zeppelin/base/networkpolicy.yaml")[0];
    let sts = &docs(&files, "components/zeppelin/base/statefulset.yaml")[0];
    let server_labels = sts["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    let mut http_from = Vec::new();
    for rule in policy["spec"]["ingress"].as_array().unwrap() {
        let ports: Vec<u64> = rule["ports"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["port"].as_u64())
            .collect();
        for peer in rule["from"].as_array().unwrap() {
            if ports.contains(&8080) {
                http_from.push(peer.clone());
            }
            assert_ne!(
                peer["namespaceSelector"]["matchLabels"]["data-platform/namespace"], "ingress",
                "the server's policy admits the ingress controller"
            );
        }
    }
    assert!(http_from
        .iter()
        .any(|p| { p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "oauth2-proxy" }));
    // The platform's namespace-wide allowance of the ingress controller does
    // not select the server pod, in any namespace of any environment.
    for (path, _) in files
        .iter()
        .filter(|(p, _)| p.ends_with("networkpolicies.yaml"))
    {
        for d in docs(&files, path) {
            let ingress_peer = d["spec"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r["from"].as_array().into_iter().flatten())
                .any(|p| {
                    p["namespaceSelector"]["matchLabels"]["data-platform/namespace"] == "ingress"
                });
            if !ingress_peer {
                continue;
            }
            let selector = &d["spec"]["podSelector"];
            let excluded = selector["matchExpressions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| {
                    e["operator"] == "DoesNotExist"
                        && e["key"]
                            .as_str()
                            .is_some_and(|k| server_labels.contains_key(k))
                });
            let ns = d["metadata"]["namespace"].as_str().unwrap_or_default();
            if ns.contains("datalab") {
                assert!(
                    excluded,
                    "{path}: {} selects the Zeppelin server",
                    d["metadata"]["name"]
                );
            }
        }
    }
}

fn settings(files: &FileSet, env: &str) -> BTreeSet<String> {
    let json: Value = serde_json::from_str(text(
        files,
        &format!("components/zeppelin/overlays/{env}/interpreter.json"),
    ))
    .expect("interpreter.json");
    json["interpreterSettings"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn includes(files: &FileSet, env: &str) -> BTreeSet<String> {
    let k = &docs(
        files,
        &format!("components/zeppelin/overlays/{env}/kustomization.yaml"),
    )[0];
    let patch = k["patches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["target"]["name"] == "zeppelin-server-env")
        .expect("server env patch");
    let ops: Value = to_json(&crate::support::yaml(patch["patch"].as_str().unwrap()).unwrap());
    ops.as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"] == "/data/ZEPPELIN_INTERPRETER_INCLUDES")
        .and_then(|o| o["value"].as_str())
        .expect("includes")
        .split(',')
        .map(str::to_owned)
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn interpreters_follow_the_spec_per_environment() {
    let files = render(None);
    assert_eq!(
        settings(&files, "dev"),
        set(&["spark", "python", "trino", "md"])
    );
    assert_eq!(settings(&files, "prod"), set(&["trino", "md"]));
    assert_eq!(includes(&files, "prod"), set(&["jdbc", "md"]));
    assert_eq!(
        includes(&files, "dev"),
        set(&["spark", "python", "jdbc", "md"])
    );

    let spec = socle::spec::EXAMPLE.replace(
        "\nsecrets:\n",
        "\nnotebooks:\n  interpreters:\n    prod: [python, trino]\n    dev: [trino]\nsecrets:\n",
    );
    assert_ne!(spec, socle::spec::EXAMPLE);
    // The library's parse reads the default blueprint's interpreters too.
    let names = ["dev".to_owned(), "staging".to_owned(), "prod".to_owned()];
    let parsed = socle::spec::parse(
        &spec,
        "socle.yaml",
        &names,
        &socle::core::blueprint::options(),
    )
    .expect("the blueprint's interpreters are accepted");
    assert_eq!(parsed.notebooks.interpreters["dev"], ["trino"]);
    let files = render_text(&spec);
    assert_eq!(settings(&files, "prod"), set(&["python", "trino", "md"]));
    assert_eq!(includes(&files, "prod"), set(&["python", "jdbc", "md"]));
    assert_eq!(settings(&files, "dev"), set(&["trino", "md"]));
    // Staging keeps its default.
    assert_eq!(
        settings(&files, "staging"),
        set(&["spark", "python", "trino", "md"])
    );

    // An environment the spec does not have is refused, with its line.
    let bad = socle::spec::EXAMPLE.replace(
        "\nsecrets:\n",
        "\nnotebooks:\n  interpreters:\n    prd: [python]\nsecrets:\n",
    );
    let err = socle::repository::render(&socle::generate::Inputs {
        spec_text: &bad,
        spec_origin: "socle.yaml",
        blueprint: &socle::source::Tree::embedded_blueprint(),
        environments: &socle::source::Tree::embedded_environments(),
    })
    .err()
    .expect("an unknown environment is refused")
    .to_string();
    assert!(err.contains("notebooks.interpreters"), "{err}");
    let shell = socle::spec::EXAMPLE.replace(
        "\nsecrets:\n",
        "\nnotebooks:\n  interpreters:\n    dev: [sh]\nsecrets:\n",
    );
    let err = socle::spec::parse(
        &shell,
        "socle.yaml",
        &names,
        &socle::core::blueprint::options(),
    )
    .expect_err("sh is not an interpreter of the blueprint")
    .to_string();
    assert!(err.contains("notebooks.interpreters.dev[0]"), "{err}");
    assert!(socle::repository::render(&socle::generate::Inputs {
        spec_text: &shell,
        spec_origin: "socle.yaml",
        blueprint: &socle::source::Tree::embedded_blueprint(),
        environments: &socle::source::Tree::embedded_environments(),
    })
    .is_err());
}

fn findings(files: &FileSet) -> Vec<(String, String)> {
    crate::support::check_json(files)
        .1
        .iter()
        .filter(|f| f.get("excepted_by").is_none())
        .filter(|f| f["severity"] == "deny")
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["file"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn check_reports_oauth2_proxy_without_the_ca_file() {
    let files = render(None);
    assert!(findings(&files).is_empty(), "{:?}", findings(&files));
    let path = "components/zeppelin/overlays/prod/oauth2-proxy.yaml";
    let original = text(&files, path);
    let mutated: String = original
        .lines()
        .filter(|l| !l.contains("--provider-ca-file"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(mutated, original);
    let mut files = files.clone();
    files.insert(path.to_owned(), mutated.into_bytes());
    let found = findings(&files);
    assert!(
        found.iter().any(|(r, f)| r == "SOC-SYS-014" && f == path),
        "{found:?}"
    );
}
