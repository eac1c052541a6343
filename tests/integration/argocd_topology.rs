//! The generated repository read as Argo CD reads it: where each Application
//! deploys and whether that cluster is known (per-cluster: in-cluster only;
//! hub: a cluster Secret for every other cluster), whether the project each
//! Application names admits every kind it deploys (the platform's quotas and
//! limits above all), whether OCI chart sources agree with their project,
//! and whether Argo CD's own metrics reach the Prometheus that alerts on them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;
use socle::render::FileSet;

use crate::support::{render, render_text, to_json, tool, yaml_docs};

const IN_CLUSTER: &str = "https://kubernetes.default.svc";

/// Every document of the file set as JSON, with its path.
fn docs(files: &FileSet) -> Vec<(String, Value)> {
    yaml_docs(files)
        .into_iter()
        .map(|(p, d)| (p, to_json(&d)))
        .collect()
}

fn of_kind<'a>(docs: &'a [(String, Value)], kind: &str) -> Vec<&'a (String, Value)> {
    docs.iter()
        .filter(|(_, d)| d["kind"] == kind && d["apiVersion"] == "argoproj.io/v1alpha1")
        .collect()
}

fn projects(docs: &[(String, Value)]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (path, d) in of_kind(docs, "AppProject") {
        let name = d["metadata"]["name"].as_str().unwrap().to_owned();
        assert!(
            out.insert(name.clone(), d.clone()).is_none(),
            "{path}: project {name} declared twice"
        );
    }
    out
}

fn env_names(files: &FileSet) -> BTreeSet<String> {
    files
        .keys()
        .filter_map(|p| p.strip_prefix("argocd/"))
        .filter_map(|p| p.split_once('/').map(|(env, _)| env.to_owned()))
        .collect()
}

/// Argo CD's glob match of a project entry (`*` for any run of characters).
fn glob(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.starts_with(head)
                && (head.len()..=value.len())
                    .filter(|i| value.is_char_boundary(*i))
                    .any(|i| glob(tail, &value[i..]))
        }
    }
}

fn matches_group_kind(list: &Value, group: &str, kind: &str) -> bool {
    list.as_array().into_iter().flatten().any(|e| {
        glob(e["group"].as_str().unwrap_or(""), group) && glob(e["kind"].as_str().unwrap(), kind)
    })
}

/// Kinds Kubernetes keeps outside namespaces, among those the platform or
/// the charts deploy.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "StorageClass",
    "CustomResourceDefinition",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "CSIDriver",
    "VolumeSnapshotClass",
    "PriorityClass",
    "ClusterIssuer",
];

/// Whether an AppProject lets an Application sync an object of this kind,
/// following Argo CD's rules: a cluster-scoped kind must be whitelisted (and
/// not blacklisted); a namespaced kind must match the namespaced whitelist
/// when there is one, and never the blacklist.
fn admits(project: &Value, group: &str, kind: &str) -> bool {
    let spec = &project["spec"];
    if CLUSTER_SCOPED.contains(&kind) {
        matches_group_kind(&spec["clusterResourceWhitelist"], group, kind)
            && !matches_group_kind(&spec["clusterResourceBlacklist"], group, kind)
    } else {
        let white = &spec["namespaceResourceWhitelist"];
        (white.is_null() || matches_group_kind(white, group, kind))
            && !matches_group_kind(&spec["namespaceResourceBlacklist"], group, kind)
    }
}

fn group_of(api_version: &str) -> String {
    match api_version.split_once('/') {
        Some((group, _)) => group.to_owned(),
        None => String::new(),
    }
}

fn normalise(path: &Path) -> String {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

/// The (group, kind) of every object a kustomization builds, following its
/// `resources` through the in-memory file set (patches never change kinds).
fn kustomize_kinds(files: &FileSet, dir: &str, out: &mut BTreeSet<(String, String)>) {
    let path = format!("{dir}/kustomization.yaml");
    let kustomization: serde_json::Value = crate::support::yaml_slice(
        files
            .get(&path)
            .unwrap_or_else(|| panic!("{path} is not rendered")),
    )
    .unwrap();
    for entry in kustomization["resources"].as_array().into_iter().flatten() {
        let target = normalise(&Path::new(dir).join(entry.as_str().unwrap()));
        if files.contains_key(&format!("{target}/kustomization.yaml")) {
            kustomize_kinds(files, &target, out);
            continue;
        }
        let text = String::from_utf8_lossy(
            files
                .get(&target)
                .unwrap_or_else(|| panic!("{path}: resource {target} is not rendered")),
        )
        .into_owned();
        let docs: Vec<serde_json::Value> = crate::support::yaml_stream(&text).unwrap();
        for v in docs {
            if let (Some(api), Some(kind)) = (v["apiVersion"].as_str(), v["kind"].as_str()) {
                out.insert((group_of(api), kind.to_owned()));
            }
        }
    }
}

/// The same, built by the real kustomize (`kubectl kustomize`) when present.
fn kubectl_kinds(builds: &crate::support::Builds, dir: &str) -> BTreeSet<(String, String)> {
    let text = builds.build(dir).unwrap_or_else(|e| panic!("{e}"));
    crate::support::yaml_stream::<serde_json::Value>(&text)
        .expect("kustomize output parses")
        .into_iter()
        .filter_map(|v| {
            Some((
                group_of(v["apiVersion"].as_str()?),
                v["kind"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Every source of an Application.
fn sources(app: &Value) -> Vec<&Value> {
    match app["spec"]["sources"].as_array() {
        Some(list) => list.iter().collect(),
        None => vec![&app["spec"]["source"]],
    }
}

#[test]
fn per_cluster_applications_deploy_in_cluster_and_register_nothing() {
    let files = render(None);
    let docs = docs(&files);
    let apps = of_kind(&docs, "Application");
    assert!(apps.len() > 60, "{} Applications", apps.len());
    for (path, app) in &apps {
        assert_eq!(
            app["spec"]["destination"]["server"], IN_CLUSTER,
            "{path} deploys outside the cluster its Argo CD runs in"
        );
    }
    for (name, project) in projects(&docs) {
        for d in project["spec"]["destinations"].as_array().unwrap() {
            assert_eq!(d["server"], IN_CLUSTER, "project {name}: {d}");
        }
    }
    assert!(
        !files.keys().any(|p| p.ends_with("/cluster.yaml")),
        "a per-cluster repository registers no cluster"
    );
    // Three clusters, three Argo CD installations.
    for env in ["dev", "staging", "prod"] {
        assert!(files.contains_key(&format!("argocd/{env}/argocd-values.yaml")));
    }
}

#[test]
fn per_cluster_environments_sharing_a_cluster_share_its_argocd() {
    let spec = fs_err::read_to_string(crate::support::fixture("specs/full.yaml"))
        .unwrap()
        .replace(
            "  topology: hub\n  hub: prod\n",
            "  topology: per-cluster\n",
        );
    let files = render_text(&spec);
    // dev and staging share a cluster: one Argo CD there, installed by dev.
    assert!(files.contains_key("argocd/dev/argocd-values.yaml"));
    assert!(!files.contains_key("argocd/staging/argocd-values.yaml"));
    assert!(files.contains_key("argocd/prod/argocd-values.yaml"));
    let staging = crate::support::text(&files, "argocd/staging/bootstrap.yaml");
    assert!(
        staging.contains("argocd/dev/argocd-values.yaml"),
        "{staging}"
    );
    for (path, app) in of_kind(&docs(&files), "Application") {
        assert_eq!(app["spec"]["destination"]["server"], IN_CLUSTER, "{path}");
    }
}

#[test]
fn hub_registers_every_cluster_it_deploys_to() {
    let spec: Value = crate::support::yaml(
        &fs_err::read_to_string(crate::support::fixture("specs/full.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        spec["argocd"]["topology"], "hub",
        "full.yaml is the hub case"
    );
    let hub = spec["argocd"]["hub"].as_str().unwrap();
    let files = render(Some("full.yaml"));
    let docs = docs(&files);

    // Cluster Secrets: ExternalSecrets in the hub's argocd namespace whose
    // target carries Argo CD's cluster label, name, server and config.
    let mut registered = BTreeMap::new();
    for (path, d) in &docs {
        if !path.ends_with("/cluster.yaml") {
            continue;
        }
        assert_eq!(d["kind"], "ExternalSecret", "{path}");
        assert_eq!(d["metadata"]["namespace"], "argocd", "{path}");
        assert_eq!(
            d["spec"]["secretStoreRef"]["name"],
            spec["secrets"]["store"]
        );
        assert_eq!(d["spec"]["secretStoreRef"]["kind"], spec["secrets"]["kind"]);
        let template = &d["spec"]["target"]["template"];
        assert_eq!(
            template["metadata"]["labels"]["argocd.argoproj.io/secret-type"], "cluster",
            "{path}"
        );
        let name = template["data"]["name"].as_str().expect("name");
        assert!(!name.is_empty());
        let config = template["data"]["config"].as_str().expect("config");
        assert!(config.contains(".config"), "{path}: {config}");
        assert!(
            d["spec"]["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["secretKey"] == "config"),
            "{path}: config does not come from the store"
        );
        let server = template["data"]["server"].as_str().expect("server");
        assert_ne!(server, IN_CLUSTER);
        assert!(
            registered
                .insert(server.to_owned(), name.to_owned())
                .is_none(),
            "{server} registered twice"
        );
    }

    let clusters: BTreeMap<String, String> = spec["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["cluster"]
                    .as_str()
                    .unwrap()
                    .trim_end_matches('/')
                    .to_owned(),
            )
        })
        .collect();
    let hub_cluster = &clusters[hub];
    let mut targeted = BTreeSet::new();
    for (path, app) in of_kind(&docs, "Application") {
        let env = path.split('/').nth(1).unwrap();
        let server = app["spec"]["destination"]["server"].as_str().unwrap();
        if path.ends_with("/bootstrap.yaml") {
            // The root only creates Applications, beside the hub's Argo CD.
            assert_eq!(server, IN_CLUSTER, "{path}");
            continue;
        }
        if &clusters[env] == hub_cluster {
            assert_eq!(server, IN_CLUSTER, "{path}: the hub's own cluster");
        } else {
            assert_eq!(server, clusters[env], "{path}: its environment's cluster");
            assert!(
                registered.contains_key(server),
                "{path} deploys to {server}, which no cluster Secret registers"
            );
        }
        targeted.insert(server.to_owned());
    }
    // Every remote cluster is registered, and nothing else is.
    let remote: BTreeSet<String> = targeted.into_iter().filter(|s| s != IN_CLUSTER).collect();
    assert_eq!(remote, registered.keys().cloned().collect::<BTreeSet<_>>());
    assert!(!remote.is_empty(), "the hub case has remote clusters");

    // One Argo CD: only the hub has install values.
    let installs: Vec<&String> = files
        .keys()
        .filter(|p| p.ends_with("/argocd-values.yaml"))
        .collect();
    assert_eq!(installs, vec![&format!("argocd/{hub}/argocd-values.yaml")]);
}

#[test]
fn every_application_is_admitted_by_its_project() {
    for spec in [None, Some("full.yaml")] {
        let files = render(spec);
        let docs = docs(&files);
        let projects = projects(&docs);
        for (path, app) in of_kind(&docs, "Application") {
            let name = app["spec"]["project"].as_str().unwrap();
            let project = projects
                .get(name)
                .unwrap_or_else(|| panic!("{spec:?} {path}: no project {name}"));
            let dest = &app["spec"]["destination"];
            assert!(
                project["spec"]["destinations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|d| glob(
                        d["server"].as_str().unwrap(),
                        dest["server"].as_str().unwrap()
                    ) && glob(
                        d["namespace"].as_str().unwrap(),
                        dest["namespace"].as_str().unwrap()
                    )),
                "{spec:?} {path}: destination {dest} not in project {name}"
            );
            for source in sources(app) {
                let url = source["repoURL"].as_str().unwrap();
                assert!(
                    project["spec"]["sourceRepos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| glob(r.as_str().unwrap(), url)),
                    "{spec:?} {path}: source {url} not in project {name}"
                );
            }
        }
    }
}

#[test]
fn the_platform_project_admits_exactly_what_the_platform_deploys() {
    let kubectl = tool("kubectl");
    for spec in [None, Some("full.yaml")] {
        let files = render(spec);
        let docs = docs(&files);
        let projects = projects(&docs);
        let builds = kubectl
            .as_ref()
            .map(|k| crate::support::Builds::new(k, &files));
        for env in env_names(&files) {
            let app_path = format!("argocd/{env}/applications/platform.yaml");
            let app = &docs
                .iter()
                .find(|(p, _)| *p == app_path)
                .unwrap_or_else(|| panic!("{app_path} missing"))
                .1;
            let overlay = app["spec"]["source"]["path"].as_str().unwrap();
            assert_eq!(overlay, format!("platform/overlays/{env}"));
            let mut kinds = BTreeSet::new();
            kustomize_kinds(&files, overlay, &mut kinds);
            if let Some(builds) = &builds {
                assert_eq!(
                    kinds,
                    kubectl_kinds(builds, overlay),
                    "{spec:?} {env}: kustomize builds other kinds"
                );
            }
            for needed in ["Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy"] {
                assert!(
                    kinds.iter().any(|(_, k)| k == needed),
                    "{spec:?} {env}: the platform deploys no {needed}"
                );
            }
            let name = app["spec"]["project"].as_str().unwrap();
            let project = &projects[name];
            for (group, kind) in &kinds {
                assert!(
                    admits(project, group, kind),
                    "{spec:?} {env}: project {name} refuses {group}/{kind}, which {overlay} deploys"
                );
            }
            // Least privilege: nothing whitelisted that the overlay does not deploy.
            for list in ["clusterResourceWhitelist", "namespaceResourceWhitelist"] {
                for e in project["spec"][list].as_array().unwrap() {
                    let entry = (
                        e["group"].as_str().unwrap().to_owned(),
                        e["kind"].as_str().unwrap().to_owned(),
                    );
                    assert!(
                        kinds.contains(&entry),
                        "{spec:?} {env}: project {name} admits {entry:?}, which the platform never deploys"
                    );
                }
            }
            // The components' project still refuses quotas and limits.
            let components = &projects[&name.trim_end_matches("-platform").to_owned()];
            assert_ne!(components["metadata"]["name"], project["metadata"]["name"]);
            for kind in ["ResourceQuota", "LimitRange"] {
                assert!(
                    !admits(components, "", kind),
                    "{spec:?} {env}: charts could loosen quotas with a {kind}"
                );
            }
            for (path, other) in of_kind(&docs, "Application") {
                if path.starts_with(&format!("argocd/{env}/applications/")) && *path != app_path {
                    assert_eq!(
                        other["spec"]["project"], components["metadata"]["name"],
                        "{path}"
                    );
                }
            }
        }
    }
}

#[test]
fn oci_chart_sources_agree_with_their_project() {
    let mut seen = 0;
    for spec in [None, Some("full.yaml")] {
        let files = render(spec);
        let docs = docs(&files);
        let projects = projects(&docs);
        for (path, app) in of_kind(&docs, "Application") {
            let project = &projects[app["spec"]["project"].as_str().unwrap()];
            let repos: Vec<&str> = project["spec"]["sourceRepos"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            for source in sources(app) {
                let url = source["repoURL"].as_str().unwrap();
                if let Some(reference) = url.strip_prefix("oci://") {
                    // Argo CD ≥ 3.1 native OCI source: the chart's full
                    // reference, `path: .`, no `chart:`.
                    seen += 1;
                    assert_eq!(source["path"], ".", "{path}: {source}");
                    assert!(source["chart"].is_null(), "{path}: {source}");
                    assert!(
                        reference.starts_with("ghcr.io/konpyutaika/helm-charts/"),
                        "{path}: {url}"
                    );
                    let version = source["targetRevision"].as_str().unwrap();
                    assert!(
                        version.split('.').count() == 3
                            && version.split('.').all(|p| p.parse::<u64>().is_ok()),
                        "{path}: {version}"
                    );
                    assert!(
                        repos.contains(&url),
                        "{path}: project does not list {url} verbatim"
                    );
                } else if !source["chart"].is_null() {
                    assert!(url.starts_with("https://"), "{path}: {url}");
                }
            }
        }
    }
    assert!(
        seen >= 4,
        "only {seen} OCI sources (NiFi and NiFiKop expected)"
    );
}

/// Labels the argo-cd chart (10.1.1, release `argocd`) puts on the metrics
/// Services that `metrics.enabled` creates.
const ARGOCD_METRICS_SERVICES: &[(&str, &str)] = &[
    ("argocd-metrics", "application-controller"),
    ("argocd-server-metrics", "server"),
    ("argocd-repo-server-metrics", "repo-server"),
];

fn selects(monitor: &Value, labels: &BTreeMap<&str, &str>) -> bool {
    let selector = &monitor["spec"]["selector"];
    let by_label = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k.as_str()) == v.as_str().as_ref());
    let by_expression = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let value = labels.get(e["key"].as_str().unwrap());
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str().unwrap() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                other => panic!("operator {other}"),
            }
        });
    by_label && by_expression
}

#[test]
fn argocd_metrics_are_scraped_where_its_alerts_are_evaluated() {
    for spec in [None, Some("full.yaml")] {
        let files = render(spec);
        let docs = docs(&files);
        let spec_doc: Value = crate::support::yaml_slice(&files["socle.yaml"]).unwrap();
        let envs: Vec<String> = spec_doc["environments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect();
        let cluster_of = |env: &str| -> String {
            spec_doc["environments"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == env)
                .map(|e| {
                    e["cluster"]
                        .as_str()
                        .unwrap()
                        .trim_end_matches('/')
                        .to_owned()
                })
                .unwrap()
        };
        let hub = (spec_doc["argocd"]["topology"] == "hub").then(|| {
            spec_doc["argocd"]["hub"]
                .as_str()
                .unwrap_or(envs.last().unwrap())
                .to_owned()
        });
        // Where Argo CD runs for an environment: its cluster, or the hub's.
        let argocd_cluster = |env: &str| match &hub {
            Some(hub) => cluster_of(hub),
            None => cluster_of(env),
        };

        // The chart never creates its ServiceMonitors; the server runs
        // behind the ingress's TLS.
        for (path, values) in docs
            .iter()
            .filter(|(p, _)| p.ends_with("/argocd-values.yaml"))
        {
            for part in ["controller", "server", "repoServer", "applicationSet"] {
                assert!(
                    values[part]["metrics"]["serviceMonitor"]["enabled"] != true,
                    "{path}: {part} ServiceMonitor enabled at install time"
                );
            }
            assert_eq!(
                values["configs"]["params"]["server.insecure"], true,
                "{path}"
            );
        }

        // Clusters whose Prometheus scrapes Argo CD, from the monitoring
        // component's ServiceMonitors.
        let mut scraped = BTreeSet::new();
        for (path, d) in &docs {
            let Some(env) = path
                .strip_prefix("observability/overlays/")
                .and_then(|p| p.strip_suffix("/servicemonitors.yaml"))
            else {
                continue;
            };
            if d["kind"] != "ServiceMonitor"
                || d["spec"]["namespaceSelector"]["matchNames"][0] != "argocd"
            {
                continue;
            }
            for (name, component) in ARGOCD_METRICS_SERVICES {
                let labels = BTreeMap::from([
                    ("app.kubernetes.io/name", *name),
                    ("app.kubernetes.io/component", *component),
                    ("app.kubernetes.io/instance", "argocd"),
                    ("app.kubernetes.io/part-of", "argocd"),
                ]);
                assert!(selects(d, &labels), "{path}: misses the Service {name}");
            }
            assert_eq!(d["spec"]["endpoints"][0]["port"], "http-metrics", "{path}");
            let kustomization = crate::support::text(
                &files,
                &format!("observability/overlays/{env}/kustomization.yaml"),
            );
            assert!(kustomization.contains("- servicemonitors.yaml"), "{env}");
            assert!(
                scraped.insert(cluster_of(env)),
                "{spec:?}: Argo CD scraped twice in the cluster of {env}"
            );
        }
        // Argo CD runs in these clusters, and each one's Prometheus scrapes it.
        let running: BTreeSet<String> = envs.iter().map(|e| argocd_cluster(e)).collect();
        assert_eq!(scraped, running, "{spec:?}");

        // The monitoring component syncs after the Prometheus CRDs.
        for env in &envs {
            let wave = |id: &str| -> Option<i64> {
                docs.iter()
                    .find(|(p, _)| *p == format!("argocd/{env}/applications/{id}.yaml"))
                    .map(|(_, d)| {
                        d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                            .as_str()
                            .unwrap()
                            .parse()
                            .unwrap()
                    })
            };
            if let (Some(monitoring), Some(crds)) =
                (wave("monitoring"), wave("prometheus-operator-crds"))
            {
                assert!(monitoring > crds, "{env}: monitoring before the CRDs");
            }
        }

        // Every environment's component-health alerts are evaluated exactly
        // once, in a cluster whose Prometheus has Argo CD's metrics.
        let mut alerted: BTreeMap<String, usize> = BTreeMap::new();
        for (path, d) in &docs {
            let Some(env) = path
                .strip_prefix("observability/overlays/")
                .and_then(|p| p.strip_suffix("/prometheusrules.yaml"))
            else {
                continue;
            };
            for group in d["spec"]["groups"].as_array().unwrap() {
                for rule in group["rules"].as_array().unwrap() {
                    if rule["alert"] != "PlatformComponentUnhealthy" {
                        continue;
                    }
                    let target = rule["labels"]["environment"].as_str().unwrap().to_owned();
                    let expr = rule["expr"].as_str().unwrap();
                    assert!(
                        expr.contains(&format!("-{target}|")),
                        "{path}: {expr} does not name {target}'s Applications"
                    );
                    assert!(
                        scraped.contains(&cluster_of(env)),
                        "{spec:?}: {path} alerts on argocd_app_info in a cluster that does not scrape Argo CD"
                    );
                    assert_eq!(
                        cluster_of(env),
                        argocd_cluster(&target),
                        "{path}: {target}'s Argo CD runs elsewhere"
                    );
                    *alerted.entry(target).or_default() += 1;
                }
            }
        }
        for env in &envs {
            // One critical and one warning rule.
            assert_eq!(alerted.get(env), Some(&2), "{spec:?}: {env}: {alerted:?}");
        }
    }
}

#[test]
fn the_spec_refuses_a_hub_that_is_not_an_environment() {
    let names: Vec<String> = ["dev", "staging", "prod"].map(String::from).to_vec();
    let with = |argocd: &str| format!("{}\n{argocd}", socle::spec::EXAMPLE);
    let err = socle::spec::parse(
        &with("argocd:\n  topology: hub\n  hub: qa\n"),
        "s",
        &names,
        &socle::core::blueprint::options(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("argocd.hub"), "{err}");
    // The example without its prod environment (and that environment's
    // addresses).
    let example = socle::spec::EXAMPLE;
    let start = example
        .find("  - name: prod\n")
        .expect("a prod environment");
    let end = start
        + example[start..]
            .find("      nodes: ")
            .and_then(|i| example[start + i..].find('\n').map(|j| i + j + 1))
            .expect("prod's network");
    let spec = format!("{}{}", &example[..start], &example[end..]);
    assert!(!spec.contains("  - name: prod\n") && !spec.contains("10.30.0."));
    let err = socle::spec::parse(
        &format!("{spec}\nargocd:\n  topology: hub\n  hub: prod\n"),
        "s",
        &names,
        &socle::core::blueprint::options(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not an environment of this spec"), "{err}");
    let err = socle::spec::parse(
        &with("argocd:\n  hub: prod\n"),
        "s",
        &names,
        &socle::core::blueprint::options(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("only applies to `topology: hub`"), "{err}");
    let err = socle::spec::parse(
        &with("argocd:\n  topology: star\n"),
        "s",
        &names,
        &socle::core::blueprint::options(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("per-cluster"), "{err}");
    // Without `hub`, the last environment runs the hub.
    let files = render_text(&with("argocd:\n  topology: hub\n"));
    assert!(files.contains_key("argocd/prod/argocd-values.yaml"));
    assert!(!files.contains_key("argocd/dev/argocd-values.yaml"));
    assert!(files.contains_key("argocd/dev/cluster.yaml"));
    assert!(files.contains_key("argocd/staging/cluster.yaml"));
    assert!(!files.contains_key("argocd/prod/cluster.yaml"));
}

#[test]
fn the_hubs_alertmanager_pages_only_for_environments_that_page() {
    let files = render(Some("full.yaml"));
    let pages = |env: &str| -> bool {
        let defaults: serde_json::Value = crate::support::yaml_slice(
            &fs_err::read(crate::support::repo_root().join(format!("environments/{env}.yaml")))
                .unwrap(),
        )
        .unwrap();
        defaults["alerts"]["pager"].as_bool().unwrap_or(false)
    };
    assert!(pages("prod") && !pages("dev"), "the defaults changed");
    let values: serde_json::Value =
        crate::support::yaml_slice(&files["components/kube-prometheus-stack/values-prod.yaml"])
            .unwrap();
    let routes = to_json(&values["alertmanager"]["config"]["route"]["routes"]);
    let routes = routes.as_array().unwrap();
    let pager = routes
        .iter()
        .position(|r| r["receiver"] == "pager")
        .expect("prod pages");
    let quiet = routes
        .iter()
        .position(|r| {
            r["matchers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m.as_str().unwrap().starts_with("environment =~"))
        })
        .expect("a route for the environments that never page");
    assert!(quiet < pager, "{routes:?}");
    assert_eq!(routes[quiet]["receiver"], "chat");
    let matcher = routes[quiet]["matchers"][0].as_str().unwrap();
    for env in ["dev", "staging"] {
        assert_eq!(matcher.contains(env), !pages(env), "{matcher}");
    }
    assert!(!matcher.contains("prod"), "{matcher}");
    // Per-cluster: every Alertmanager only hears its own environment.
    let files = render(None);
    let values = crate::support::text(&files, "components/kube-prometheus-stack/values-prod.yaml");
    assert!(!values.contains("environment =~"), "{values}");
}
