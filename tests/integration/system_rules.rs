//! The system rules (SOC-SYS-001..015) through the binary: each one catches
//! a single broken link of the default repository at the right place and
//! names both of its ends, the untouched repository does not report it, and
//! a small ArgoCD repository socle did not write is modelled and judged too.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use socle::render::FileSet;

use crate::support::{fixture, materialise, render, repo_root};

fn socle() -> Command {
    let mut cmd = Command::cargo_bin("socle").expect("socle binary");
    cmd.env("NO_COLOR", "1");
    cmd
}

#[derive(Debug, Clone)]
struct Finding {
    rule: String,
    severity: String,
    message: String,
    file: String,
    line: u64,
}

#[derive(Debug)]
struct Report {
    code: i32,
    findings: Vec<Finding>,
}

impl Report {
    /// The findings of `rule` in `file` whose message holds every needle
    /// (and on `line`, when given).
    fn matching(
        &self,
        rule: &str,
        file: &str,
        line: Option<u64>,
        needles: &[&str],
    ) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.rule == rule && f.file == file)
            .filter(|f| line.is_none_or(|l| f.line == l))
            .filter(|f| needles.iter().all(|n| f.message.contains(n)))
            .collect()
    }

    fn of_rule(&self, rule: &str) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.rule == rule).collect()
    }
}

/// `socle check DIR --format json`: the exit code and the active findings.
fn check(dir: &Path) -> Report {
    let out = socle()
        .arg("check")
        .arg(dir)
        .args(["--format", "json"])
        .output()
        .expect("run socle check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let findings = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f.get("excepted_by").is_none())
        .map(|f| Finding {
            rule: f["rule"].as_str().unwrap_or_default().to_owned(),
            severity: f["severity"].as_str().unwrap_or_default().to_owned(),
            message: f["message"].as_str().unwrap_or_default().to_owned(),
            file: f["file"].as_str().unwrap_or_default().to_owned(),
            line: f["line"].as_u64().unwrap_or(0),
        })
        .collect();
    Report {
        code: out.status.code().unwrap_or(-1),
        findings,
    }
}

/// `socle graph DIR --format json`: one model per environment.
fn graph(dir: &Path) -> Vec<Value> {
    let out = socle()
        .arg("graph")
        .arg(dir)
        .args(["--format", "json"])
        .output()
        .expect("run socle graph");
    assert!(
        out.status.success(),
        "socle graph: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("graph JSON");
    json.as_array().expect("a list of models").clone()
}

/// The severity of each rule, as `policies/catalog.yaml` declares it today.
fn severities() -> &'static BTreeMap<String, String> {
    static CATALOG: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let text =
            fs_err::read_to_string(repo_root().join("policies/catalog.yaml")).expect("catalog");
        let list: Vec<serde_json::Value> = crate::support::yaml(&text).expect("catalog parses");
        list.iter()
            .filter_map(|r| {
                Some((
                    r["id"].as_str()?.to_owned(),
                    r["severity"].as_str()?.to_owned(),
                ))
            })
            .collect()
    })
}

fn is_denial(rule: &str) -> bool {
    match severities().get(rule).map(String::as_str) {
        Some("deny") => true,
        Some("warn") => false,
        other => panic!("{rule}: severity {other:?} in policies/catalog.yaml"),
    }
}

/// The default repository, rendered once.
fn pristine() -> &'static FileSet {
    static FILES: OnceLock<FileSet> = OnceLock::new();
    FILES.get_or_init(|| render(None))
}

/// The untouched default repository's report, checked once.
fn baseline() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        let dir = materialise(pristine());
        check(dir.path())
    })
}

fn text<'a>(files: &'a FileSet, path: &str) -> &'a str {
    let bytes = files
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not in the repository"));
    std::str::from_utf8(bytes).expect("utf-8")
}

/// Replace the first occurrence of `from` in one file; panics when `from`
/// is not there, so a test never passes on a change that did not happen.
fn edit(files: &mut FileSet, path: &str, from: &str, to: &str) {
    let old = text(files, path);
    assert!(old.contains(from), "{path} does not contain {from:?}");
    let new = old.replacen(from, to, 1);
    files.insert(path.to_owned(), new.into_bytes());
}

/// Remove the YAML document of one file that holds `marker`.
fn remove_document(files: &mut FileSet, path: &str, marker: &str) {
    let old = text(files, path);
    let docs: Vec<&str> = old.split("\n---\n").collect();
    let hits = docs.iter().filter(|d| d.contains(marker)).count();
    assert_eq!(hits, 1, "{path}: {hits} documents hold {marker:?}");
    let kept: Vec<&str> = docs.into_iter().filter(|d| !d.contains(marker)).collect();
    files.insert(path.to_owned(), kept.join("\n---\n").into_bytes());
}

/// The 1-based line of the first line holding `needle`.
fn line_of(files: &FileSet, path: &str, needle: &str) -> u64 {
    text(files, path)
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {path}")) as u64
        + 1
}

/// One broken link: the finding it must cause, where, and what the
/// message names.
struct Expect<'a> {
    rule: &'a str,
    file: &'a str,
    line: Option<u64>,
    needles: &'a [&'a str],
}

/// Check the mutated repository: the finding is there, with the catalog's
/// severity (and exit 1 when that is a denial); the untouched repository
/// does not report it.
fn assert_caught(files: &FileSet, e: &Expect) -> Report {
    let dir = materialise(files);
    let report = check(dir.path());
    let hits = report.matching(e.rule, e.file, e.line, e.needles);
    assert!(
        !hits.is_empty(),
        "{} expected at {}:{:?} naming {:?}; the rule reported:\n{:#?}",
        e.rule,
        e.file,
        e.line,
        e.needles,
        report.of_rule(e.rule)
    );
    let expected_severity = severities()[e.rule].as_str();
    for f in &hits {
        assert_eq!(f.severity, expected_severity, "{f:?}");
    }
    if is_denial(e.rule) {
        assert_eq!(report.code, 1, "{} is a denial: exit 1", e.rule);
    }
    let before = baseline().matching(e.rule, e.file, None, e.needles);
    assert!(
        before.is_empty(),
        "the untouched repository already reports it: {before:#?}"
    );
    report
}

const KEYCLOAK_VALUES: &str = "components/keycloak/values-dev.yaml";
const STORAGE_POLICIES: &str = "platform/base/namespaces/storage/networkpolicies.yaml";
const CORE_POLICIES: &str = "platform/base/namespaces/core/networkpolicies.yaml";

/// An Application's sync wave, as rendered.
fn wave(files: &FileSet, app: &str) -> i64 {
    let text = text(files, app);
    let line = text
        .lines()
        .find(|l| l.contains("argocd.argoproj.io/sync-wave:"))
        .unwrap_or_else(|| panic!("{app} has no sync wave"));
    line.rsplit(':')
        .next()
        .map(|w| w.trim().trim_matches('"'))
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("{app}: {line}"))
}
const PROJECT: &str = "argocd/dev/project.yaml";

/// The Application document's first line (after its leading comments).
fn app_line(files: &FileSet, path: &str) -> u64 {
    line_of(files, path, "apiVersion: argoproj.io/v1alpha1")
}

#[test]
fn the_default_repository_is_wired_and_open() {
    let report = baseline();
    for rule in ["SOC-SYS-004", "SOC-SYS-005"] {
        assert!(
            report.of_rule(rule).is_empty(),
            "{rule}: {:#?}",
            report.of_rule(rule)
        );
    }
    // The model sees the connections the mutations below break.
    let dir = materialise(pristine());
    let models = graph(dir.path());
    let dev = models
        .iter()
        .find(|m| m["environment"] == "dev")
        .expect("a dev model");
    let keycloak_db = dev["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["consumer"] == "keycloak-dev" && c["service"] == "postgresql-rw")
        .expect("keycloak-dev connects to postgresql-rw");
    assert_eq!(keycloak_db["port"], 5432);
    assert_eq!(keycloak_db["provider"]["app"], "postgresql-dev");
    assert_eq!(keycloak_db["ingress"]["allowed"], true);
    assert_eq!(
        keycloak_db["at"]["line"],
        line_of(pristine(), KEYCLOAK_VALUES, "hostname: postgresql-rw.")
    );
}

#[test]
fn sys_004_a_renamed_service_host() {
    let mut files = pristine().clone();
    edit(
        &mut files,
        KEYCLOAK_VALUES,
        "hostname: postgresql-rw.",
        "hostname: postgres-rw.",
    );
    let line = line_of(&files, KEYCLOAK_VALUES, "hostname: postgres-rw.");
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-004",
            file: KEYCLOAK_VALUES,
            line: Some(line),
            needles: &[
                "[dev]",
                "Application \"keycloak-dev\" (wave 8)",
                "postgres-rw.data-platform-storage.svc.cluster.local",
                "no Service \"postgres-rw\" exists in namespace \"data-platform-storage\"",
            ],
        },
    );
}

#[test]
fn sys_004_a_wrong_port() {
    let mut files = pristine().clone();
    edit(
        &mut files,
        KEYCLOAK_VALUES,
        "svc.cluster.local\n  port: 5432\n",
        "svc.cluster.local\n  port: 5433\n",
    );
    let line = line_of(&files, KEYCLOAK_VALUES, "hostname: postgresql-rw.");
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-004",
            file: KEYCLOAK_VALUES,
            line: Some(line),
            needles: &[
                "[dev]",
                "Application \"keycloak-dev\"",
                "Service data-platform-storage/postgresql-rw (argocd/dev/applications/postgresql.yaml:",
                "Application \"postgresql-dev\"",
                "serves ports [5432], not 5433",
            ],
        },
    );
}

#[test]
fn sys_005_a_deleted_network_policy_rule() {
    let mut files = pristine().clone();
    remove_document(&mut files, STORAGE_POLICIES, "name: allow-from-platform\n");
    let line = line_of(&files, KEYCLOAK_VALUES, "hostname: postgresql-rw.");
    let report = assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-005",
            file: KEYCLOAK_VALUES,
            line: Some(line),
            needles: &[
                "[dev]",
                "Application \"keycloak-dev\" (wave 8)",
                "postgresql-rw.data-platform-storage.svc.cluster.local",
                "ingress to namespace \"data-platform-storage\" from \"data-platform-core\" is denied",
                "platform/base/namespaces/storage/networkpolicies.yaml:",
            ],
        },
    );
    // Flows inside the namespace (lakekeeper to postgresql) stay open.
    assert!(report
        .matching(
            "SOC-SYS-005",
            "components/lakekeeper/values-dev.yaml",
            None,
            &[]
        )
        .is_empty());
}

#[test]
fn sys_001_a_project_without_a_namespace() {
    let mut files = pristine().clone();
    edit(
        &mut files,
        PROJECT,
        "    - server: https://kubernetes.default.svc\n      namespace: data-platform-storage\n",
        "",
    );
    let app = "argocd/dev/applications/postgresql.yaml";
    let line = app_line(&files, app);
    let project_line = line_of(&files, PROJECT, "kind: AppProject") - 1;
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-001",
            file: app,
            line: Some(line),
            needles: &[
                "[dev]",
                "Application \"postgresql-dev\" (wave 7)",
                "namespace \"data-platform-storage\"",
                &format!("project \"acme-dev\" does not allow ({PROJECT}:{project_line})"),
            ],
        },
    );
}

#[test]
fn sys_001_a_project_without_a_kind() {
    let mut files = pristine().clone();
    edit(
        &mut files,
        PROJECT,
        "    - group: cert-manager.io\n      kind: ClusterIssuer\n",
        "",
    );
    let file = "components/pki/base/clusterissuer.yaml";
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-001",
            file,
            line: Some(line_of(&files, file, "apiVersion:")),
            needles: &[
                "[dev]",
                "Application \"pki-dev\"",
                "ClusterIssuer platform-ca (cert-manager.io/ClusterIssuer)",
                "a kind project \"acme-dev\" does not admit (argocd/dev/project.yaml:",
            ],
        },
    );
}

#[test]
fn sys_002_an_unregistered_cluster() {
    let mut files = pristine().clone();
    let app = "argocd/dev/applications/trino.yaml";
    let trino = format!("Application \"trino-dev\" (wave {})", wave(&files, app));
    edit(
        &mut files,
        app,
        "server: https://kubernetes.default.svc",
        "server: https://trino.k8s.example:6443",
    );
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-002",
            file: app,
            line: Some(app_line(&files, app)),
            needles: &[
                "[dev]",
                &trino,
                "deploys to https://trino.k8s.example:6443",
                "no cluster Secret names it",
            ],
        },
    );
}

#[test]
fn sys_003_a_crd_installed_after_its_consumer() {
    let mut files = pristine().clone();
    let nifikop = "argocd/dev/applications/nifikop.yaml";
    let pipelines = wave(&files, "argocd/dev/applications/pipelines.yaml");
    let later = pipelines + 1;
    let before = wave(&files, nifikop);
    edit(
        &mut files,
        nifikop,
        &format!("argocd.argoproj.io/sync-wave: \"{}\"", before),
        &format!("argocd.argoproj.io/sync-wave: \"{later}\""),
    );
    let file = "spark/overlays/dev/nifiuser.yaml";
    let consumer = format!("NifiUser airflow of Application \"pipelines-dev\" (wave {pipelines})");
    let provider = format!(
        "created by Application \"nifikop-dev\" in wave {later} (argocd/dev/applications/nifikop.yaml:"
    );
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-003",
            file,
            line: Some(line_of(&files, file, "apiVersion:")),
            needles: &[
                "[dev]",
                &consumer,
                "needs the CRD of nifi.konpyutaika.com/NifiUser",
                &provider,
                "it must come first",
            ],
        },
    );
}

#[test]
fn sys_003_a_crd_nobody_installs() {
    // The Application that installs the NiFi CRDs is gone from dev.
    let mut files = pristine().clone();
    files
        .remove("argocd/dev/applications/nifikop.yaml")
        .expect("nifikop's Application");
    let file = "spark/overlays/dev/nifiuser.yaml";
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-003",
            file,
            line: Some(line_of(&files, file, "apiVersion:")),
            needles: &[
                "[dev]",
                "NifiUser airflow of Application \"pipelines-dev\"",
                "needs the CRD of nifi.konpyutaika.com/NifiUser, which nothing in this environment creates",
            ],
        },
    );
}

#[test]
fn sys_006_a_webhook_behind_a_tightened_policy() {
    let webhook = "admission webhook \"cert-manager-webhook\" of Application \"cert-manager-dev\"";
    let app = "argocd/dev/applications/cert-manager.yaml";
    // The generated repository admits the API server to cert-manager's
    // webhook pods (a rule with no `from` on their port).
    assert!(
        baseline()
            .matching("SOC-SYS-006", app, None, &[webhook])
            .is_empty(),
        "{:#?}",
        baseline().of_rule("SOC-SYS-006")
    );
    // Tightened to pods of labelled namespaces, that rule admits the API
    // server no more (it is not a pod).
    let mut tight = pristine().clone();
    let marker = "name: \"allow-webhook-cert-manager\"";
    let old = text(&tight, CORE_POLICIES).to_owned();
    let start = old.find(marker).expect("the generated webhook policy");
    let end = old[start..]
        .find("\n---\n")
        .map_or(old.len(), |i| start + i);
    let doc = &old[start..end];
    let rule = "  ingress:\n    - ports:\n";
    assert!(doc.contains(rule), "{doc}");
    let tightened = doc.replacen(
        rule,
        "  ingress:\n    - from:\n        - namespaceSelector: {}\n      ports:\n",
        1,
    );
    let new = format!("{}{}{}", &old[..start], tightened, &old[end..]);
    tight.insert(CORE_POLICIES.to_owned(), new.into_bytes());
    let dir = materialise(&tight);
    let report = check(dir.path());
    let hits = report.matching(
        "SOC-SYS-006",
        app,
        None,
        &[
            "[dev]",
            webhook,
            "(Service data-platform-core/cert-manager-webhook port 443)",
            CORE_POLICIES,
            "admit no traffic from outside the pod network",
        ],
    );
    assert!(!hits.is_empty(), "{:#?}", report.of_rule("SOC-SYS-006"));
    for f in hits {
        assert_eq!(f.severity, severities()["SOC-SYS-006"]);
    }
    if is_denial("SOC-SYS-006") {
        assert_eq!(report.code, 1);
    }
}

#[test]
fn sys_008_a_provider_in_a_later_wave() {
    let mut files = pristine().clone();
    let postgresql = "argocd/dev/applications/postgresql.yaml";
    let keycloak = wave(&files, "argocd/dev/applications/keycloak.yaml");
    let before = wave(&files, postgresql);
    edit(
        &mut files,
        postgresql,
        &format!("argocd.argoproj.io/sync-wave: \"{}\"", before),
        &format!("argocd.argoproj.io/sync-wave: \"{keycloak}\""),
    );
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-008",
            file: KEYCLOAK_VALUES,
            line: Some(line_of(&files, KEYCLOAK_VALUES, "hostname: postgresql-rw.")),
            needles: &[
                "[dev]",
                &format!("Application \"keycloak-dev\" (wave {keycloak}) connects to postgresql-rw.data-platform-storage.svc.cluster.local"),
                &format!("served by Application \"postgresql-dev\" in wave {keycloak} (argocd/dev/applications/postgresql.yaml:"),
            ],
        },
    );
}

// --- A repository socle did not write ---

/// Every file under `dir`, by its path relative to `dir`.
fn load_dir(dir: &Path) -> FileSet {
    fn walk(root: &Path, dir: &Path, out: &mut FileSet) {
        for entry in fs_err::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, fs_err::read(&path).expect("read"));
            }
        }
    }
    let mut out = FileSet::new();
    walk(dir, dir, &mut out);
    out
}

fn foreign() -> FileSet {
    let files = load_dir(&fixture("system/foreign"));
    assert!(files.contains_key("argocd/root.yaml"), "{:?}", files.keys());
    files
}

fn find(list: &Value, pred: impl Fn(&Value) -> bool) -> Option<&Value> {
    list.as_array().expect("a list").iter().find(|v| pred(v))
}

const CONFIGMAP: &str = "web/configmap.yaml";
const WEB_POLICIES: &str = "web/networkpolicy.yaml";

#[test]
fn a_foreign_repository_is_modelled() {
    let files = foreign();
    let dir = materialise(&files);
    let models = graph(dir.path());
    assert_eq!(models.len(), 1, "one root Application, one system");
    let m = &models[0];
    assert_eq!(m["root"], "shop-root");
    // No environment label: the system is named after its root.
    assert_eq!(m["environment"], "shop-root");

    // The root and the two Applications it syncs, with their waves and models.
    let apps = &m["applications"];
    let app = |name: &str| {
        find(apps, |a| a["name"] == name).unwrap_or_else(|| panic!("Application {name}: {apps:#}"))
    };
    assert_eq!(apps.as_array().unwrap().len(), 3, "{apps:#}");
    assert!(app("shop-root")["parent"].is_null());
    for (name, wave, model, path) in [
        ("backend", 1, "kustomize", "backend/overlays/prod"),
        ("web", 2, "directory", "web"),
    ] {
        let a = app(name);
        assert_eq!(a["parent"], "shop-root", "{a:#}");
        assert_eq!(a["wave"], wave, "{a:#}");
        assert_eq!(a["project"], "shop");
        assert_eq!(a["sources"][0]["model"], model, "{a:#}");
        assert_eq!(a["sources"][0]["path"], path);
        assert_eq!(a["sources"][0]["permitted"], true);
        assert_eq!(a["destination_permitted"], true);
        assert_eq!(a["at"]["file"], format!("argocd/apps/{name}.yaml"));
    }
    assert_eq!(app("shop-root")["sources"][0]["model"], "directory");

    // What each Application creates, in its namespace.
    let objects = &m["objects"];
    let object = |app: &str, kind: &str, base: &str| {
        find(objects, |o| {
            o["app"] == app && o["kind"] == kind && o["base_name"] == base
        })
        .unwrap_or_else(|| panic!("{app} creates no {kind} {base}: {objects:#}"))
    };
    for (app, kind, name) in [
        ("shop-root", "AppProject", "shop"),
        ("shop-root", "Application", "backend"),
        ("shop-root", "Application", "web"),
    ] {
        assert_eq!(object(app, kind, name)["namespace"], "argocd");
    }
    for (kind, name, file) in [
        ("Deployment", "api", "backend/base/deployment.yaml"),
        ("Service", "api", "backend/base/service.yaml"),
        (
            "ConfigMap",
            "api-settings",
            "backend/overlays/prod/kustomization.yaml",
        ),
    ] {
        let o = object("backend", kind, name);
        assert_eq!(
            o["namespace"], "shop-backend",
            "the overlay's namespace: {o:#}"
        );
        assert_eq!(o["at"]["file"], file, "{o:#}");
    }
    // The generated ConfigMap carries kustomize's content hash.
    let generated = object("backend", "ConfigMap", "api-settings");
    let name = generated["name"].as_str().unwrap();
    assert!(
        name.starts_with("api-settings-") && name.len() > "api-settings-".len(),
        "{generated:#}"
    );
    for (kind, name, file) in [
        ("Deployment", "web", "web/deployment.yaml"),
        ("Service", "web", "web/service.yaml"),
        ("ConfigMap", "web-settings", CONFIGMAP),
        ("NetworkPolicy", "default-deny", WEB_POLICIES),
        ("NetworkPolicy", "allow-to-backend", WEB_POLICIES),
    ] {
        let o = object("web", kind, name);
        assert_eq!(
            o["namespace"], "shop-web",
            "the destination namespace: {o:#}"
        );
        assert_eq!(o["at"]["file"], file, "{o:#}");
    }
    // The Deployment's reference to the generated ConfigMap resolves to it.
    let need = find(&m["needs"], |u| {
        u["app"] == "backend" && u["need"]["what"] == "configmap"
    })
    .expect("the api Deployment needs its ConfigMap");
    assert_eq!(need["need"]["name"], "api-settings");
    assert_eq!(need["need"]["providers"][0]["app"], "backend");

    // The connection from web's ConfigMap to the backend's Service.
    let c = find(&m["connections"], |c| c["service"] == "api")
        .unwrap_or_else(|| panic!("no connection to api: {:#}", m["connections"]));
    assert_eq!(c["consumer"], "web");
    assert_eq!(c["consumer_namespace"], "shop-web");
    assert_eq!(c["namespace"], "shop-backend");
    assert_eq!(c["address"], "http://api.shop-backend.svc.cluster.local");
    assert_eq!(c["port"], 80);
    assert_eq!(c["at"]["file"], CONFIGMAP);
    assert_eq!(c["at"]["line"], line_of(&files, CONFIGMAP, "API_URL:"));
    assert_eq!(c["provider"]["app"], "backend");
    assert_eq!(c["provider"]["wave"], 1);
    assert_eq!(c["provider"]["ports"], serde_json::json!([80]));
    assert_eq!(c["provider"]["port_served"], true);
    // shop-web is isolated; the rule on the backend's pod port (8080, the
    // Service's targetPort) lets the call out. shop-backend has no policy.
    assert_eq!(c["egress"]["isolated"], true);
    assert_eq!(c["egress"]["allowed"], true);
    assert_eq!(c["egress"]["allowed_by"]["file"], WEB_POLICIES);
    assert_eq!(
        c["egress"]["allowed_by"]["line"],
        line_of(&files, WEB_POLICIES, "# The web pods call") + 1
    );
    assert_eq!(c["ingress"]["isolated"], false);
    assert_eq!(c["ingress"]["allowed"], true);
}

#[test]
fn a_foreign_repository_passes_the_system_rules() {
    let dir = materialise(&foreign());
    let report = check(dir.path());
    let system: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.rule.starts_with("SOC-SYS-"))
        .collect();
    assert!(system.is_empty(), "{system:#?}");
}

/// Check a broken copy of the foreign repository: the finding is reported
/// with the catalog's severity (exit 1 for a denial).
fn assert_foreign_caught(files: &FileSet, e: &Expect) {
    let dir = materialise(files);
    let report = check(dir.path());
    let hits = report.matching(e.rule, e.file, e.line, e.needles);
    assert!(
        !hits.is_empty(),
        "{} expected at {}:{:?} naming {:?}; reported:\n{:#?}",
        e.rule,
        e.file,
        e.line,
        e.needles,
        report.findings
    );
    for f in &hits {
        assert_eq!(f.severity, severities()[e.rule].as_str(), "{f:?}");
    }
    if is_denial(e.rule) {
        assert_eq!(report.code, 1);
    }
}

#[test]
fn foreign_sys_005_the_egress_rule_removed() {
    let mut files = foreign();
    remove_document(&mut files, WEB_POLICIES, "name: allow-to-backend\n");
    let line = line_of(&files, CONFIGMAP, "API_URL:");
    assert_foreign_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-005",
            file: CONFIGMAP,
            line: Some(line),
            needles: &[
                "[shop-root] Application \"web\" (wave 2) connects to http://api.shop-backend.svc.cluster.local",
                "egress from namespace \"shop-web\" is denied by its NetworkPolicies (web/networkpolicy.yaml:2, web/networkpolicy.yaml:12)",
                "allow it to namespace \"shop-backend\"",
            ],
        },
    );
}

#[test]
fn foreign_sys_005_the_egress_rule_on_the_service_port() {
    // Policies apply after the Service: its port (80) is not the pods' (8080).
    let mut files = foreign();
    edit(
        &mut files,
        WEB_POLICIES,
        "          port: 8080\n",
        "          port: 80\n",
    );
    assert_foreign_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-005",
            file: CONFIGMAP,
            line: Some(line_of(&files, CONFIGMAP, "API_URL:")),
            needles: &["Application \"web\"", "egress from namespace \"shop-web\""],
        },
    );
}

#[test]
fn foreign_sys_004_a_misspelt_service() {
    let mut files = foreign();
    edit(
        &mut files,
        CONFIGMAP,
        "http://api.shop-backend",
        "http://api-v2.shop-backend",
    );
    assert_foreign_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-004",
            file: CONFIGMAP,
            line: Some(line_of(&files, CONFIGMAP, "API_URL:")),
            needles: &[
                "[shop-root] Application \"web\" (wave 2)",
                "no Service \"api-v2\" exists in namespace \"shop-backend\"",
            ],
        },
    );
}

#[test]
fn foreign_sys_008_the_backend_after_the_web() {
    let mut files = foreign();
    edit(
        &mut files,
        "argocd/apps/backend.yaml",
        "sync-wave: \"1\"",
        "sync-wave: \"3\"",
    );
    assert_foreign_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-008",
            file: CONFIGMAP,
            line: Some(line_of(&files, CONFIGMAP, "API_URL:")),
            needles: &[
                "Application \"web\" (wave 2) connects to http://api.shop-backend.svc.cluster.local",
                "served by Application \"backend\" in wave 3 (backend/base/service.yaml:1)",
            ],
        },
    );
}

#[test]
fn foreign_sys_001_a_kind_the_project_no_longer_admits() {
    let mut files = foreign();
    edit(
        &mut files,
        "argocd/apps/project.yaml",
        "    - group: \"\"\n      kind: ConfigMap\n",
        "",
    );
    // The generated ConfigMap is reported at its generator.
    for (file, object) in [
        (CONFIGMAP, "ConfigMap web-settings"),
        (
            "backend/overlays/prod/kustomization.yaml",
            "ConfigMap api-settings-",
        ),
    ] {
        assert_foreign_caught(
            &files,
            &Expect {
                rule: "SOC-SYS-001",
                file,
                line: None,
                needles: &[
                    object,
                    "(core/ConfigMap), a kind project \"shop\" does not admit (argocd/apps/project.yaml:1)",
                ],
            },
        );
    }
}

#[test]
fn sys_004_a_renamed_database() {
    // Keycloak's database is named in its common values; the host in the
    // environment's: Helm merges them, and so does the model.
    let mut files = pristine().clone();
    edit(
        &mut files,
        "components/keycloak/values.yaml",
        "  database: keycloak\n",
        "  database: keycloak_v2\n",
    );
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-004",
            file: KEYCLOAK_VALUES,
            line: Some(line_of(&files, KEYCLOAK_VALUES, "hostname: postgresql-rw.")),
            needles: &[
                "[dev]",
                "connects to database \"keycloak_v2\"",
                "which the PostgreSQL cluster of Application \"postgresql-dev\"",
                "argocd/dev/applications/postgresql.yaml:",
            ],
        },
    );
}

#[test]
fn sys_012_a_bucket_the_store_does_not_create() {
    let mut files = pristine().clone();
    let loki = "components/loki/values.yaml";
    edit(
        &mut files,
        loki,
        "chunks: loki-chunks",
        "chunks: loki-chunk",
    );
    let line = line_of(&files, loki, "chunks: loki-chunk");
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-012",
            file: loki,
            line: Some(line),
            needles: &[
                "[dev]",
                "Application \"loki-dev\"",
                "bucket \"loki-chunk\"",
                "data-platform-storage/minio (components/minio/values.yaml:",
                "Application \"minio-dev\"",
            ],
        },
    );
}

const GRAFANA_VALUES: &str = "components/kube-prometheus-stack/values-dev.yaml";
const REALM: &str = "components/keycloak/manifests/dev/realm.yaml";

#[test]
fn sys_013_a_client_the_realm_does_not_declare() {
    let mut files = pristine().clone();
    edit(
        &mut files,
        GRAFANA_VALUES,
        "client_id: grafana\n",
        "client_id: grafana-ui\n",
    );
    let line = line_of(&files, GRAFANA_VALUES, "client_id: grafana-ui");
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-013",
            file: GRAFANA_VALUES,
            line: Some(line),
            needles: &[
                "[dev]",
                "Application \"kube-prometheus-stack-dev\"",
                "OIDC client \"grafana-ui\"",
                &format!("realm acme ({REALM}:"),
            ],
        },
    );
}

#[test]
fn sys_013_a_client_that_redirects_elsewhere() {
    let mut files = pristine().clone();
    edit(
        &mut files,
        REALM,
        "- \"https://grafana.dev.data.acme.example/login/generic_oauth\"",
        "- \"https://grafana.example.org/login/generic_oauth\"",
    );
    let line = line_of(&files, GRAFANA_VALUES, "client_id: grafana");
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-013",
            file: GRAFANA_VALUES,
            line: Some(line),
            needles: &[
                "OIDC client \"grafana\" of realm \"acme\"",
                "https://grafana.example.org/login/generic_oauth",
                "grafana.dev.data.acme.example",
            ],
        },
    );
}

#[test]
fn sys_014_a_consumer_that_no_longer_trusts_the_platform_ca() {
    let mut files = pristine().clone();
    let minio = "components/minio/values.yaml";
    edit(
        &mut files,
        minio,
        "name: platform-ca-bundle",
        "name: other-ca",
    );
    let minio_dev = "components/minio/values-dev.yaml";
    let line = line_of(&files, minio_dev, "https://keycloak.dev.data.acme.example");
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-014",
            file: minio_dev,
            line: Some(line),
            needles: &[
                "[dev]",
                "Application \"minio-dev\"",
                "calls https://keycloak.dev.data.acme.example",
                "ClusterIssuer \"platform-ca\" (components/pki/base/clusterissuer.yaml:",
                "platform-ca-bundle",
            ],
        },
    );
}

#[test]
fn sys_016_a_kustomization_listing_a_missing_file() {
    let mut files = pristine().clone();
    assert!(files
        .remove("platform/overlays/dev/namespaces/core/egress.yaml")
        .is_some());
    let kustomization = "platform/overlays/dev/namespaces/core/kustomization.yaml";
    let line = line_of(&files, kustomization, "- egress.yaml");
    let report = assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-016",
            file: kustomization,
            line: Some(line),
            needles: &[
                "[dev]",
                "Application \"platform-dev\" (wave 0) cannot be built",
                "lists egress.yaml, which is not in the repository",
            ],
        },
    );
    // Only dev's overlay is broken.
    assert_eq!(report.of_rule("SOC-SYS-016").len(), 1, "{report:#?}");
}

/// The S3 policies of the tenant in `env`.
fn policies(env: &str) -> String {
    format!("components/minio/manifests/{env}/policies.yaml")
}

/// Replace the first occurrence of `from` after `marker` in one file.
fn edit_after(files: &mut FileSet, path: &str, marker: &str, from: &str, to: &str) {
    let old = text(files, path);
    let start = old
        .find(marker)
        .unwrap_or_else(|| panic!("{path} does not contain {marker:?}"));
    let at = old[start..]
        .find(from)
        .unwrap_or_else(|| panic!("{path} has no {from:?} after {marker:?}"))
        + start;
    let new = format!("{}{to}{}", &old[..at], &old[at + from.len()..]);
    files.insert(path.to_owned(), new.into_bytes());
}

#[test]
fn sys_015_the_default_identities_are_granted_what_they_use() {
    assert!(
        baseline().of_rule("SOC-SYS-015").is_empty(),
        "{:#?}",
        baseline().of_rule("SOC-SYS-015")
    );
    // Not for want of a model: every bucket use on the tenant is judged
    // against the policy of the identity the consumer reads.
    let dir = materialise(pristine());
    for model in graph(dir.path()) {
        let env = model["environment"]
            .as_str()
            .expect("environment")
            .to_owned();
        let uses = model["bucket_uses"].as_array().expect("bucket uses");
        assert!(!uses.is_empty(), "{env}: no bucket uses");
        // Prod's backups go to the off-cluster store, not the tenant.
        let on_tenant = uses
            .iter()
            .filter(|u| u["stores"].as_array().is_some_and(|s| !s.is_empty()));
        for u in on_tenant {
            let consumer = u["consumer"].as_str().unwrap_or_default();
            let component = consumer.trim_end_matches(&format!("-{env}"));
            let grants = u["grants"].as_array().expect("grants");
            assert_eq!(grants.len(), 1, "{env} {consumer}: {grants:#?}");
            assert_eq!(grants[0]["identity"], format!("minio-user-{component}"));
            assert_eq!(grants[0]["policy"], component);
            assert_eq!(grants[0]["at"]["file"], policies(&env));
            assert_eq!(u["access"], "write", "{u:#?}");
            assert_eq!(
                grants[0]["actions"],
                serde_json::json!([
                    "s3:ListBucket",
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject"
                ]),
                "{u:#?}"
            );
        }
    }
}

#[test]
fn sys_015_a_policy_without_put_object() {
    let mut files = pristine().clone();
    let envs = ["dev", "staging", "prod"];
    for env in envs {
        edit_after(
            &mut files,
            &policies(env),
            "  loki.json: |",
            "\"s3:PutObject\", ",
            "",
        );
    }
    let report = assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-015",
            file: &policies("dev"),
            line: Some(line_of(&files, &policies("dev"), "  loki.json: |")),
            needles: &[
                "[dev]",
                &format!(
                    "Application \"loki-dev\" (wave {})",
                    wave(&files, "argocd/dev/applications/loki.yaml")
                ),
                "data-platform-storage/minio",
                &format!(
                    "policy \"loki\" ({}:{}) bound to its MinIO user minio-user-loki",
                    policies("dev"),
                    line_of(&files, &policies("dev"), "apiVersion: v1")
                ),
                "loki-chunks needs write, granted read (missing s3:PutObject)",
                "loki-admin needs write",
                "loki-ruler needs write",
            ],
        },
    );
    // One finding per environment, on its own policy, and none elsewhere.
    let found = report.of_rule("SOC-SYS-015");
    assert_eq!(found.len(), envs.len(), "{found:#?}");
    for env in envs {
        let file = policies(env);
        let line = line_of(&files, &file, "  loki.json: |");
        let here = report.matching("SOC-SYS-015", &file, Some(line), &[&format!("[{env}]")]);
        assert_eq!(here.len(), 1, "{env}: {found:#?}");
    }
}

#[test]
fn sys_015_a_policy_that_does_not_parse() {
    let mut files = pristine().clone();
    let file = policies("dev");
    edit_after(
        &mut files,
        &file,
        "  zeppelin.json: |",
        "\"Version\": \"2012-10-17\",",
        "\"Version\" \"2012-10-17\",",
    );
    let report = assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-015",
            file: &file,
            line: Some(line_of(&files, &file, "  zeppelin.json: |")),
            needles: &[
                "[dev]",
                "Application \"zeppelin-dev\"",
                "notebooks needs write",
                "as MinIO user minio-user-zeppelin, whose policy \"zeppelin\"",
                "cannot be evaluated: zeppelin.json does not parse",
            ],
        },
    );
    let found = report.of_rule("SOC-SYS-015");
    assert_eq!(found.len(), 1, "{found:#?}");
}

#[test]
fn sys_015_a_consumer_without_a_binding() {
    let mut files = pristine().clone();
    let file = policies("dev");
    edit(
        &mut files,
        &file,
        "      \"minio-user-velero\": {\"consumer\": \"velero\", \"policy\": \"velero\", \"store\": \"acme/dev/velero/s3\"},\n",
        "",
    );
    let report = assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-015",
            file: &file,
            line: Some(line_of(&files, &file, "  bindings.json: |")),
            needles: &[
                "[dev]",
                "Application \"velero-dev\"",
                "(backups needs write) but holds none of the S3 identities bindings.json",
            ],
        },
    );
    let found = report.of_rule("SOC-SYS-015");
    assert_eq!(found.len(), 1, "{found:#?}");
}

#[test]
fn sys_015_a_read_only_consumer_needs_only_read() {
    let mut files = pristine().clone();
    let file = policies("dev");
    edit_after(
        &mut files,
        &file,
        "  velero.json: |",
        "\"s3:PutObject\", \"s3:DeleteObject\", ",
        "",
    );
    // Velero writes its backups (`accessMode: ReadWrite`): refused.
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-015",
            file: &file,
            line: Some(line_of(&files, &file, "  velero.json: |")),
            needles: &[
                "[dev]",
                "Application \"velero-dev\"",
                "backups needs write, granted read (missing s3:PutObject, s3:DeleteObject)",
            ],
        },
    );
    // A location Velero only restores from needs read, which the policy
    // still grants.
    let values = "components/velero/values-dev.yaml";
    edit(
        &mut files,
        values,
        "accessMode: ReadWrite",
        "accessMode: ReadOnly",
    );
    let dir = materialise(&files);
    let report = check(dir.path());
    assert!(
        report.of_rule("SOC-SYS-015").is_empty(),
        "{:#?}",
        report.of_rule("SOC-SYS-015")
    );
    let models = graph(dir.path());
    let dev = models
        .iter()
        .find(|m| m["environment"] == "dev")
        .expect("a dev model");
    let velero = dev["bucket_uses"]
        .as_array()
        .expect("bucket uses")
        .iter()
        .find(|u| u["consumer"] == "velero-dev")
        .expect("velero-dev uses a bucket");
    assert_eq!(velero["access"], "read", "{velero:#?}");
}

#[test]
fn sys_017_prod_backups_inside_the_cluster() {
    let mut files = pristine().clone();
    let velero = "components/velero/values-prod.yaml";
    let target = "s3Url: https://s3.backup.acme.example";
    let line = line_of(&files, velero, target);
    edit(
        &mut files,
        velero,
        target,
        "s3Url: http://minio.data-platform-storage.svc.cluster.local",
    );
    let report = assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-017",
            file: velero,
            line: Some(line),
            needles: &[
                "[prod]",
                "Application \"velero-prod\"",
                "writes its velero backups to http://minio.data-platform-storage.svc.cluster.local, inside the cluster they protect",
            ],
        },
    );
    // PostgreSQL's still leave the cluster; dev and staging may keep theirs.
    assert_eq!(report.of_rule("SOC-SYS-017").len(), 1, "{report:#?}");
}

/// Airbyte keeps its job logs and sync state in a bucket it names in a map
/// by purpose (`global.storage.bucket`); the object store must create it,
/// and the check reads every name of that map.
#[test]
fn sys_012_airbyte_storage_bucket_the_store_does_not_create() {
    let mut files = render(Some("hostile.yaml")).clone();
    let values = "components/airbyte/values-dev.yaml";
    for purpose in ["log", "state", "workloadOutput", "activityPayload"] {
        assert!(
            text(&files, values).contains(&format!("      {purpose}: airbyte\n")),
            "{purpose}"
        );
    }
    edit(
        &mut files,
        "components/minio/values.yaml",
        "    - name: airbyte\n      region: us-east-1\n      objectLock: false\n",
        "",
    );
    // The map's first name in key order.
    let line = line_of(&files, values, "activityPayload: airbyte");
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-012",
            file: values,
            line: Some(line),
            needles: &["Application \"airbyte-dev\"", "bucket \"airbyte\""],
        },
    );
}

/// Airbyte's database: the host in each environment's values, the name in
/// the shared values (`global.database: {name: ...}`), which Helm merges.
#[test]
fn sys_004_airbyte_database_named_in_the_shared_values() {
    let mut files = render(Some("hostile.yaml")).clone();
    let values = "components/airbyte/values-dev.yaml";
    edit(
        &mut files,
        "components/airbyte/values.yaml",
        "    name: airbyte\n",
        "    name: airbyte-jobs\n",
    );
    let line = line_of(&files, values, "host: postgresql-rw.");
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-004",
            file: values,
            line: Some(line),
            needles: &[
                "Application \"airbyte-dev\"",
                "connects to database \"airbyte-jobs\"",
                "does not declare",
            ],
        },
    );
}

/// An Ingress asking cert-manager for its certificate names an issuer the
/// environment creates.
#[test]
fn sys_026_an_issuer_nothing_creates() {
    let mut files = pristine().clone();
    let ingress = "components/zeppelin/overlays/dev/ingress.yaml";
    edit(
        &mut files,
        ingress,
        "cert-manager.io/cluster-issuer: platform-ca\n",
        "cert-manager.io/cluster-issuer: platform-ca2\n",
    );
    assert_caught(
        &files,
        &Expect {
            rule: "SOC-SYS-026",
            file: ingress,
            line: None,
            needles: &[
                "[dev]",
                "Application \"zeppelin-dev\"",
                "asks ClusterIssuer \"platform-ca2\" for the certificate of zeppelin.dev.data.acme.example",
                "the environment's ClusterIssuers are platform-ca (components/pki/base/clusterissuer.yaml:",
            ],
        },
    );
}

/// Every cluster has `default` and the `kube-*` namespaces: an Application
/// deploying into one needs no Namespace of the repository's, while one
/// deploying into a namespace nothing creates is still SOC-SYS-003.
#[test]
fn the_clusters_own_namespaces_need_no_namespace_object() {
    let web = "argocd/apps/web.yaml";
    let into = |namespace: &str| {
        let mut files = foreign();
        edit(&mut files, web, "      - CreateNamespace=true\n", "");
        edit(
            &mut files,
            web,
            "namespace: shop-web",
            &format!("namespace: {namespace}"),
        );
        edit(
            &mut files,
            "argocd/apps/project.yaml",
            "      namespace: shop-*\n",
            "      namespace: shop-*\n    - server: https://kubernetes.default.svc\n      namespace: default\n",
        );
        let dir = materialise(&files);
        check(dir.path())
    };
    let report = into("default");
    assert!(
        report.of_rule("SOC-SYS-003").is_empty(),
        "{:#?}",
        report.findings
    );
    let report = into("shop-elsewhere");
    assert!(
        report.of_rule("SOC-SYS-003").iter().any(|f| f
            .message
            .contains("needs Namespace shop-elsewhere, which nothing in this environment creates")),
        "{:#?}",
        report.findings
    );
}

/// A remote base is not fetched, so what it creates is unknown: a custom
/// resource whose CRD nothing of the model creates is then a warning that
/// names the Application only partly modelled, not a denial; without the
/// remote base, the same resource is denied.
#[test]
fn a_need_a_remote_base_may_meet_is_a_warning() {
    let widget = "apiVersion: example.org/v1\nkind: Widget\nmetadata:\n  name: api\n";
    let with = |resources: &str| {
        let mut files = foreign();
        files.insert(
            "backend/base/widget.yaml".into(),
            widget.as_bytes().to_vec(),
        );
        edit(
            &mut files,
            "backend/base/kustomization.yaml",
            "  - service.yaml\n",
            &format!("  - service.yaml\n  - widget.yaml\n{resources}"),
        );
        let dir = materialise(&files);
        check(dir.path())
    };
    let report = with("  - https://github.com/example/widgets//config/crd?ref=v1.2.0\n");
    assert!(
        report.of_rule("SOC-SYS-003").is_empty(),
        "{:#?}",
        report.findings
    );
    assert!(
        report.of_rule("SOC-SYS-009").iter().any(|f| f
            .message
            .contains("needs the CRD of example.org/Widget, which no object of the model creates; one Application is not fully modelled (backend) and may create it")),
        "{:#?}",
        report.findings
    );
    let report = with("");
    assert!(
        report
            .of_rule("SOC-SYS-003")
            .iter()
            .any(|f| f.message.contains(
                "needs the CRD of example.org/Widget, which nothing in this environment creates"
            )),
        "{:#?}",
        report.findings
    );
}
