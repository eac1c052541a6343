//! TLS trust: the platform CA signs every Ingress certificate, Keycloak's
//! included, so every component that calls Keycloak's public URL must trust
//! it. trust-manager writes the CA (and the public CAs) into the platform
//! namespaces as one ConfigMap; each consumer marked `trusts: [platform-ca]`
//! in the blueprint mounts it and points its own trust option at the mounted
//! file. These tests render the default and full specs and fail when a
//! component calls Keycloak without being marked, when a marked component
//! does not mount the bundle or sets no trust option naming it, and when the
//! Bundle does not read the CA where pki keeps it or does not reach the
//! namespaces the consumers run in.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use socle::model::{CA_BUNDLE, CA_BUNDLE_DIR, CA_BUNDLE_PEM, CA_BUNDLE_PKCS12};
use socle::render::FileSet;

use crate::support::{render, repo_root, text, to_json, yaml_docs};

const SPECS: [Option<&str>; 2] = [None, Some("full.yaml")];

fn pem_path() -> String {
    format!("{CA_BUNDLE_DIR}/{CA_BUNDLE_PEM}")
}

fn pkcs12_path() -> String {
    format!("{CA_BUNDLE_DIR}/{CA_BUNDLE_PKCS12}")
}

/// Blueprint components: id → (trusts, distributes).
fn blueprint() -> BTreeMap<String, (Vec<String>, Vec<String>)> {
    let manifest: serde_json::Value = crate::support::yaml_slice(
        &fs_err::read(repo_root().join("blueprints/platform/blueprint.yaml")).unwrap(),
    )
    .unwrap();
    let list = |c: &serde_json::Value, key: &str| -> Vec<String> {
        c.get(key)
            .and_then(|v| v.as_array())
            .map(|s| {
                s.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    manifest["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                (list(c, "trusts"), list(c, "distributes")),
            )
        })
        .collect()
}

fn env_names(files: &FileSet) -> Vec<String> {
    let spec: serde_json::Value = crate::support::yaml_slice(&files["socle.yaml"]).unwrap();
    spec["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The rendered files of a component that apply to one environment: its
/// common files and those of that environment, not those of the others.
fn component_files<'a>(
    files: &'a FileSet,
    id: &str,
    env: &str,
    envs: &[String],
) -> Vec<(&'a String, &'a Vec<u8>)> {
    let prefix = format!("components/{id}/");
    files
        .iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .filter(|(p, _)| {
            envs.iter().filter(|e| *e != env).all(|other| {
                !p.ends_with(&format!("values-{other}.yaml")) && !p.contains(&format!("/{other}/"))
            })
        })
        .collect()
}

fn docs_of(files: &[(&String, &Vec<u8>)]) -> Vec<(String, Value)> {
    let set: FileSet = files
        .iter()
        .map(|(p, b)| ((*p).clone(), (*b).clone()))
        .collect();
    yaml_docs(&set)
        .into_iter()
        .map(|(p, v)| (p, to_json(&v)))
        .collect()
}

/// Every map anywhere in a document.
fn maps<'a>(v: &'a Value, out: &mut Vec<&'a serde_json::Map<String, Value>>) {
    match v {
        Value::Object(m) => {
            out.push(m);
            m.values().for_each(|x| maps(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| maps(x, out)),
        _ => {}
    }
}

/// The volumes of the bundle (name → whether optional) and the directories
/// those volumes are mounted at.
fn bundle_mounts(docs: &[(String, Value)]) -> (BTreeMap<String, bool>, BTreeSet<String>) {
    let mut all = Vec::new();
    for (_, d) in docs {
        maps(d, &mut all);
    }
    let volumes: BTreeMap<String, bool> = all
        .iter()
        .filter(|m| m.get("configMap").and_then(|c| c.get("name")) == Some(&Value::from(CA_BUNDLE)))
        .filter_map(|m| {
            let optional = m["configMap"].get("optional") == Some(&Value::Bool(true));
            m.get("name")?.as_str().map(|n| (n.to_owned(), optional))
        })
        .collect();
    let dirs = all
        .iter()
        .filter(|m| {
            m.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| volumes.contains_key(n))
        })
        .filter_map(|m| m.get("mountPath")?.as_str().map(str::to_owned))
        .collect();
    (volumes, dirs)
}

/// Settings as `name=value` pairs: map entries, `name`/`value` items of
/// environment lists, and the `key=value` lines or words of every string
/// (properties files, JVM options, command-line flags).
fn settings(docs: &[(String, Value)]) -> Vec<(String, String)> {
    fn words(s: &str, out: &mut Vec<(String, String)>) {
        for w in s.split(|c: char| c.is_whitespace() || c == '"') {
            // `a=-Db=c` (a NiFi bootstrap argument) sets a to `-Db=c`, and b to c.
            let mut rest = w;
            while let Some((k, v)) = rest.split_once('=') {
                out.push((k.to_owned(), v.to_owned()));
                rest = v;
            }
        }
    }
    fn walk(v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                if let (Some(Value::String(n)), Some(Value::String(val))) =
                    (m.get("name"), m.get("value"))
                {
                    out.push((n.clone(), val.clone()));
                    words(val, out);
                }
                for (k, x) in m {
                    if let Value::String(s) = x {
                        out.push((k.clone(), s.clone()));
                        words(s, out);
                    } else {
                        walk(x, out);
                    }
                }
            }
            Value::Array(a) => {
                for x in a {
                    match x {
                        Value::String(s) => words(s, out),
                        other => walk(other, out),
                    }
                }
            }
            Value::String(s) => words(s, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (_, d) in docs {
        walk(d, &mut out);
    }
    out
}

/// Options that point a program at a PEM bundle, and those that make a
/// PKCS#12 file the JVM's default trust store.
const PEM_OPTIONS: &[&str] = &[
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "tls_client_ca",
    "oauth2-jwk.http-client.trust-store-path",
    "jwk.http-client.trust-store-path",
    "--serversTransport.rootCAs",
];
const JVM_OPTIONS: &[&str] = &["-Djavax.net.ssl.trustStore", "SSL_TRUSTSTORE_FILE"];
const JVM_TYPE_OPTIONS: &[&str] = &["-Djavax.net.ssl.trustStoreType", "SSL_TRUSTSTORE_TYPE"];

/// Components whose bundle volume may be optional, and why. Everywhere else
/// a pod must not start without the CA it needs.
const OPTIONAL_VOLUME: &[(&str, &str)] = &[(
    "zeppelin",
    "kustomize manifests: socle check does not model the ConfigMaps trust-manager writes, and a required volume of an unknown ConfigMap is a finding (the wave order still puts trust-manager first)",
)];

/// What is wrong with a consumer's trust of the bundle in these documents.
fn trust_problems(docs: &[(String, Value)], optional_allowed: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let (volumes, dirs) = bundle_mounts(docs);
    if volumes.is_empty() {
        problems.push(format!("no volume of the ConfigMap {CA_BUNDLE}"));
    }
    if !optional_allowed && volumes.values().any(|optional| *optional) {
        problems.push(format!(
            "the {CA_BUNDLE} volume is optional: the pods could start without it"
        ));
    }
    if !dirs.contains(CA_BUNDLE_DIR) {
        problems.push(format!(
            "the bundle is not mounted at {CA_BUNDLE_DIR} (mounted at {dirs:?})"
        ));
    }
    let set = settings(docs);
    let pem: Vec<_> = set
        .iter()
        .filter(|(k, v)| PEM_OPTIONS.contains(&k.as_str()) && *v == pem_path())
        .collect();
    let jvm: Vec<_> = set
        .iter()
        .filter(|(k, v)| JVM_OPTIONS.contains(&k.as_str()) && *v == pkcs12_path())
        .collect();
    if pem.is_empty() && jvm.is_empty() {
        problems.push(format!(
            "no trust option names the bundle ({} = {}, or {} = {})",
            PEM_OPTIONS.join("|"),
            pem_path(),
            JVM_OPTIONS.join("|"),
            pkcs12_path()
        ));
    }
    if !jvm.is_empty()
        && !set
            .iter()
            .any(|(k, v)| JVM_TYPE_OPTIONS.contains(&k.as_str()) && v == "PKCS12")
    {
        problems.push(
            "a JVM trust store is the bundle's PKCS#12 file, but its type is not PKCS12".into(),
        );
    }
    // A trust option naming another file under the mount is a typo.
    for (k, v) in &set {
        if v.starts_with(&format!("{CA_BUNDLE_DIR}/")) && *v != pem_path() && *v != pkcs12_path() {
            problems.push(format!("{k} names {v}, which the bundle does not hold"));
        }
    }
    problems
}

/// Whether a component's files call Keycloak at its public URL (the realm's
/// issuer, whose certificate the platform CA signs).
fn calls_keycloak(files: &[(&String, &Vec<u8>)], keycloak_url: &str) -> bool {
    files
        .iter()
        .any(|(_, b)| String::from_utf8_lossy(b).contains(keycloak_url))
}

fn keycloak_url(files: &FileSet, env: &str) -> String {
    let values: serde_json::Value = crate::support::yaml(text(
        files,
        &format!("components/keycloak/values-{env}.yaml"),
    ))
    .unwrap();
    let host = values["extraEnv"]
        .as_str()
        .map(|s| s.to_owned())
        .unwrap_or_default();
    // keycloakx takes its environment as a YAML string; its hostname is the
    // public URL.
    let env_list: serde_json::Value = crate::support::yaml(&host).unwrap_or_default();
    env_list
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"].as_str() == Some("KC_HOSTNAME"))
        .and_then(|e| e["value"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("components/keycloak/values-{env}.yaml sets no KC_HOSTNAME"))
}

#[test]
fn every_component_that_calls_keycloak_trusts_the_platform_ca_and_mounts_the_bundle() {
    let blueprint = blueprint();
    let trusting: BTreeSet<&str> = blueprint
        .iter()
        .filter(|(_, (trusts, _))| trusts.iter().any(|t| t == "platform-ca"))
        .map(|(id, _)| id.as_str())
        .collect();
    assert!(
        trusting.len() >= 9,
        "too few consumers marked: {trusting:?}"
    );
    let mut problems = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for spec in SPECS {
        let files = render(spec);
        let envs = env_names(&files);
        for env in &envs {
            let url = keycloak_url(&files, env);
            for id in blueprint.keys() {
                if !files.contains_key(&format!("argocd/{env}/applications/{id}.yaml")) {
                    continue;
                }
                let own = component_files(&files, id, env, &envs);
                let marked = trusting.contains(id.as_str());
                // Keycloak serves the URL; its realm lists its clients' URLs.
                if id != "keycloak" && calls_keycloak(&own, &url) && !marked {
                    problems.push(format!(
                        "{spec:?} {env}: {id} calls {url} but is not marked `trusts: [platform-ca]` in the blueprint"
                    ));
                }
                if !marked {
                    continue;
                }
                seen.insert(id.clone());
                let optional = OPTIONAL_VOLUME.iter().any(|(c, _)| c == id);
                for p in trust_problems(&docs_of(&own), optional) {
                    problems.push(format!("{spec:?} {env}: {id}: {p}"));
                }
            }
            // Argo CD is installed by the bootstrap, before trust-manager:
            // its volume may (must) be optional.
            let argocd = format!("argocd/{env}/argocd-values.yaml");
            if let Some(bytes) = files.get(&argocd) {
                let own = vec![(&argocd, bytes)];
                assert!(
                    calls_keycloak(&own, &url),
                    "{argocd} no longer signs in with Keycloak?"
                );
                let docs = docs_of(&own);
                for p in trust_problems(&docs, true) {
                    problems.push(format!("{spec:?} {argocd}: {p}"));
                }
                let (volumes, _) = bundle_mounts(&docs);
                if volumes.values().any(|optional| !optional) {
                    problems.push(format!(
                        "{spec:?} {argocd}: the bundle volume must be optional: Argo CD starts before trust-manager"
                    ));
                }
            }
        }
    }
    // Every marked component was checked in some spec and environment.
    let unchecked: Vec<_> = trusting.iter().filter(|id| !seen.contains(**id)).collect();
    assert!(
        unchecked.is_empty(),
        "marked but never rendered: {unchecked:?}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checks_catch_a_missing_mount_and_a_missing_option() {
    let files = render(None);
    let envs = env_names(&files);
    let own = component_files(&files, "trino", "dev", &envs);
    let docs = docs_of(&own);
    assert_eq!(trust_problems(&docs, false), Vec::<String>::new());
    // Without the volume.
    let mut stripped = docs.clone();
    for (_, d) in &mut stripped {
        for role in ["coordinator", "worker"] {
            if let Some(m) = d.get_mut(role).and_then(Value::as_object_mut) {
                m.remove("additionalVolumes");
            }
        }
    }
    assert!(trust_problems(&stripped, false)
        .iter()
        .any(|p| p.starts_with("no volume")));
    // Without any option naming the bundle (Grafana without tls_client_ca).
    let own = component_files(&files, "kube-prometheus-stack", "dev", &envs);
    let mut docs = docs_of(&own);
    for (_, d) in &mut docs {
        if let Some(m) = d
            .pointer_mut("/grafana/grafana.ini/auth.generic_oauth")
            .and_then(Value::as_object_mut)
        {
            m.remove("tls_client_ca");
        }
    }
    assert!(trust_problems(&docs, false)
        .iter()
        .any(|p| p.starts_with("no trust option")));
}

#[test]
fn the_bundle_reads_the_ca_where_pki_keeps_it_and_reaches_every_consumer() {
    let blueprint = blueprint();
    let distributor = blueprint
        .iter()
        .find(|(_, (_, d))| d.iter().any(|c| c == "platform-ca"))
        .map(|(id, _)| id.clone())
        .expect("a component distributes platform-ca");
    for spec in SPECS {
        let files = render(spec);
        let envs = env_names(&files);
        for env in &envs {
            let app_path = format!("argocd/{env}/applications/{distributor}.yaml");
            let Some(app) = files.get(&app_path) else {
                // A cluster shared with an earlier environment: that one
                // deploys it.
                continue;
            };
            let app: Value = to_json(&crate::support::yaml_slice(app).unwrap());
            let wave = |a: &Value| -> i64 {
                a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            // The Bundle.
            let docs = docs_of(&component_files(&files, &distributor, env, &envs));
            let bundles: Vec<&Value> = docs
                .iter()
                .map(|(_, d)| d)
                .filter(|d| d["kind"] == "Bundle")
                .collect();
            assert_eq!(bundles.len(), 1, "{spec:?} {env}: one Bundle");
            let bundle = bundles[0];
            assert_eq!(bundle["apiVersion"], "trust.cert-manager.io/v1alpha1");
            assert_eq!(
                bundle["metadata"]["name"], CA_BUNDLE,
                "the ConfigMap is named after the Bundle"
            );
            let target = &bundle["spec"]["target"];
            assert_eq!(target["configMap"]["key"], CA_BUNDLE_PEM);
            assert_eq!(
                target["additionalFormats"]["pkcs12"]["key"],
                CA_BUNDLE_PKCS12
            );
            let sources = bundle["spec"]["sources"].as_array().unwrap();
            assert!(
                sources.iter().any(|s| s["useDefaultCAs"] == true),
                "public CAs too"
            );
            let secret = sources
                .iter()
                .find_map(|s| s.get("secret"))
                .expect("the CA is read from a Secret");
            // pki keeps the CA's key pair in that Secret, in the namespace
            // trust-manager reads sources from.
            let trust_ns = {
                let values: Value = to_json(
                    &crate::support::yaml(text(
                        &files,
                        &format!("components/{distributor}/values-{env}.yaml"),
                    ))
                    .unwrap(),
                );
                values["app"]["trust"]["namespace"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            let pki: Value = to_json(
                &crate::support::yaml(text(
                    &files,
                    &format!("components/pki/overlays/{env}/externalsecret.yaml"),
                ))
                .unwrap(),
            );
            assert_eq!(pki["spec"]["target"]["name"], secret["name"]);
            assert_eq!(pki["metadata"]["namespace"], Value::from(trust_ns.clone()));
            assert_eq!(secret["key"], "tls.crt");
            let issuer: Value = to_json(
                &crate::support::yaml(text(&files, "components/pki/base/clusterissuer.yaml"))
                    .unwrap(),
            );
            assert_eq!(issuer["spec"]["ca"]["secretName"], secret["name"]);
            let cert_manager: Value = to_json(
                &crate::support::yaml_slice(
                    &files[&format!("argocd/{env}/applications/cert-manager.yaml")],
                )
                .unwrap(),
            );
            assert_eq!(
                cert_manager["spec"]["destination"]["namespace"],
                Value::from(trust_ns),
                "the trust namespace is cert-manager's"
            );
            // The namespaces every consumer runs in carry the selector's labels.
            let selector = bundle["spec"]["target"]["namespaceSelector"]["matchLabels"]
                .as_object()
                .expect("a namespace selector");
            let namespaces: BTreeMap<String, Value> = yaml_docs(&files)
                .into_iter()
                .filter(|(p, _)| p.starts_with("platform/base/namespaces/"))
                .map(|(_, d)| to_json(&d))
                .filter(|d| d["kind"] == "Namespace")
                .map(|d| {
                    (
                        d["metadata"]["labels"]["data-platform/namespace"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                        d,
                    )
                })
                .collect();
            for (id, (trusts, _)) in &blueprint {
                if !trusts.iter().any(|t| t == "platform-ca") {
                    continue;
                }
                let Some(consumer) = files.get(&format!("argocd/{env}/applications/{id}.yaml"))
                else {
                    continue;
                };
                let consumer: Value = to_json(&crate::support::yaml_slice(consumer).unwrap());
                assert!(
                    wave(&consumer) > wave(&app),
                    "{spec:?} {env}: {id} (wave {}) mounts the bundle before {distributor} (wave {}) creates it",
                    wave(&consumer),
                    wave(&app)
                );
                let ns = consumer["spec"]["destination"]["namespace"]
                    .as_str()
                    .unwrap();
                let ns_doc = namespaces
                    .values()
                    .find(|d| {
                        // Base names, before an environment's suffix.
                        ns.starts_with(d["metadata"]["name"].as_str().unwrap())
                    })
                    .unwrap_or_else(|| panic!("{spec:?} {env}: no Namespace for {ns}"));
                for (k, v) in selector {
                    assert_eq!(
                        &ns_doc["metadata"]["labels"][k], v,
                        "{spec:?} {env}: namespace {ns} of {id} lacks the label {k}={v} the Bundle selects"
                    );
                }
            }
            // The project admits the cluster-scoped Bundle.
            let project: Value = yaml_docs(&files)
                .into_iter()
                .filter(|(p, _)| *p == format!("argocd/{env}/project.yaml"))
                .map(|(_, d)| to_json(&d))
                .find(|d| {
                    d["spec"]["clusterResourceWhitelist"].is_array()
                        && d["metadata"]["name"] == app["spec"]["project"]
                })
                .expect("the component project");
            assert!(
                project["spec"]["clusterResourceWhitelist"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["group"] == "trust.cert-manager.io" && k["kind"] == "Bundle"),
                "{spec:?} {env}: the project refuses the Bundle"
            );
        }
    }
}

#[test]
fn no_component_keeps_a_private_copy_of_the_ca() {
    // One source of trust: the Secret copies MinIO and Traefik used to read
    // from the store are gone, and no ExternalSecret but pki's reads the CA.
    for spec in SPECS {
        let files = render(spec);
        for (path, doc) in yaml_docs(&files) {
            let doc = to_json(&doc);
            if doc["kind"] != "ExternalSecret" || path.starts_with("components/pki/") {
                continue;
            }
            let keys: Vec<&str> = doc["spec"]["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["remoteRef"]["key"].as_str())
                .collect();
            assert!(
                !keys.iter().any(|k| k.ends_with("/pki/ca")),
                "{spec:?} {path}: reads the platform CA from the store; mount {CA_BUNDLE} instead"
            );
        }
    }
}
