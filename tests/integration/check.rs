//! `socle check` through the binary: generated repositories pass, each rule
//! catches a targeted change at the right place, bad inputs behave, reports
//! parse, and repository policies and exceptions work.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use crate::support::{materialise, render};

fn socle() -> Command {
    let mut cmd = Command::cargo_bin("socle").expect("socle binary");
    cmd.env("NO_COLOR", "1");
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn check(dir: &Path, args: &[&str]) -> Run {
    let out = socle()
        .arg("check")
        .arg(dir)
        .args(args)
        .output()
        .expect("run socle check");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Active findings as (rule, file, line).
fn findings(dir: &Path, extra: &[&str]) -> (i32, Vec<(String, String, u64)>) {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let run = check(dir, &args);
    let json: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    let list = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f.get("excepted_by").is_none())
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["file"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    (run.code, list)
}

#[test]
fn generated_repositories_pass_with_zero_denials() {
    for spec in [None, Some("full.yaml"), Some("hostile.yaml")] {
        let dir = materialise(&render(spec));
        let run = check(dir.path(), &[]);
        assert_eq!(run.code, 0, "{spec:?}:\n{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("0 denial(s)"), "{}", run.stdout);
        // Every kind socle renders has a schema: the core ones, Argo CD's,
        // and the bundled CRDs of the operators it deploys.
        assert!(
            !run.stdout.contains("Not validated"),
            "{spec:?}: {}",
            run.stdout
        );
    }
}

fn line_of(text: &str, needle: &str) -> u64 {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not found")) as u64
        + 1
}

enum Change {
    /// Replace the first occurrence of `.0` by `.1`.
    Replace(&'static str, &'static str),
    Delete,
    Write(&'static str),
}

struct Mutation {
    rule: &'static str,
    file: &'static str,
    change: Change,
    /// Finding expected on the line holding this text (after the change),
    /// or in `at_file` when the finding lands in another file.
    marker: &'static str,
    at_file: Option<&'static str>,
    warn: bool,
}

const STS: &str = "components/zeppelin/base/statefulset.yaml";
const APP_DEV: &str = "argocd/dev/applications/trino.yaml";
const APP_PROD: &str = "argocd/prod/applications/trino.yaml";

fn mutations() -> Vec<Mutation> {
    use Change::*;
    let m = |rule, file, change, marker| Mutation {
        rule,
        file,
        change,
        marker,
        at_file: None,
        warn: false,
    };
    vec![
        m("SOC-K8S-001", STS, Replace("              memory: 64Mi\n", ""), "- name: interpreter-settings"),
        m("SOC-K8S-002", STS, Replace("image: apache/zeppelin:0.12.1\n          ports:", "image: apache/zeppelin:latest\n          ports:"), "apache/zeppelin:latest"),
        m("SOC-K8S-003", STS, Replace("        runAsNonRoot: true\n        runAsUser: 1000", "        runAsNonRoot: false\n        runAsUser: 1000"), "- name: zeppelin-server"),
        m("SOC-K8S-004", STS, Replace("            allowPrivilegeEscalation: false\n", "            privileged: true\n            allowPrivilegeEscalation: false\n"), "privileged: true"),
        m("SOC-K8S-005", STS, Replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"), "- name: interpreter-settings"),
        m("SOC-K8S-006", STS, Replace("      terminationGracePeriodSeconds: 60\n", "      terminationGracePeriodSeconds: 60\n      hostNetwork: true\n"), "hostNetwork: true"),
        Mutation { warn: true, ..m("SOC-K8S-007", STS, Replace("          readinessProbe:\n            httpGet:\n              path: /api/version\n              port: http\n            periodSeconds: 10\n            timeoutSeconds: 5\n            failureThreshold: 3\n", ""), "- name: zeppelin-server") },
        Mutation { warn: true, ..m("SOC-K8S-008", STS, Replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"), "- name: interpreter-settings") },
        m("SOC-ING-001", "components/zeppelin/overlays/dev/ingress.yaml", Replace("  annotations:\n    cert-manager.io/cluster-issuer: platform-ca\n", "  annotations: {}\n"), "metadata:"),
        m("SOC-SEC-001", "platform/base/namespaces/core/leaked.yaml", Write("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: data-platform-core\ndata:\n  password: aHVudGVyMg==\n"), "password: aHVu"),
        m("SOC-SEC-002", "components/trino/values-dev.yaml", Replace("\n", "\ndebugKey: AKIAABCDEFGHIJKLMNOP\n"), "AKIA"),
        m("SOC-SEC-003", "components/trino/values.yaml", Replace("\n", "\nauth:\n  password: hunter2\n"), "password: hunter2"),
        m("SOC-NS-001", "platform/base/namespaces/core/networkpolicies.yaml", Replace("    - Ingress\n    - Egress\n---", "    - Ingress\n---"), "apiVersion"),
        m("SOC-NS-002", "platform/base/namespaces/core/resourcequota.yaml", Delete, "apiVersion"),
        m("SOC-NS-003", "platform/base/namespaces/core/limitrange.yaml", Delete, "apiVersion"),
        m("SOC-NS-004", "platform/base/namespaces/core/namespace.yaml", Replace("    pod-security.kubernetes.io/enforce: restricted\n", ""), "metadata:"),
        m("SOC-ARGO-001", APP_DEV, Replace("project: acme-dev", "project: default"), "project: default"),
        m("SOC-ARGO-002", APP_PROD, Replace("targetRevision: \"1.42.2\"", "targetRevision: \"1.*\""), "1.*"),
        m("SOC-ARGO-003", APP_DEV, Replace("namespace: data-platform-processing", "namespace: kube-system"), "destination:"),
        m("SOC-ARGO-004", APP_DEV, Replace("sync-wave: \"10\"", "sync-wave: \"1\""), "annotations:"),
        m("SOC-ARGO-005", APP_DEV, Replace("trino/values-dev.yaml", "trino/values-qa.yaml"), "values-qa.yaml"),
        m("SOC-ARGO-006", APP_PROD, Replace("  syncPolicy:\n", "  syncPolicy:\n    automated:\n      prune: true\n"), "automated:"),
        m("SOC-PROD-001", "components/keycloak/values-prod.yaml", Replace("replicas: 3", "replicas: 1"), "replicas: 1"),
        m("SOC-PROD-002", "components/postgresql/values-prod.yaml", Replace("enablePDB: true", "enablePDB: false"), "cluster:"),
        m("SOC-SCHEMA-001", STS, Replace("  replicas: 1\n", "  replica: 1\n"), "replica: 1"),
        m("SOC-SCHEMA-001", STS, Replace("- name: zeppelin-server\n          image: apache/zeppelin:0.12.1\n", "- name: zeppelin-server\n          image: apache/zeppelin:0.12.1\n          imagePullPolicy: Sometimes\n"), "imagePullPolicy: Sometimes"),
        m("SOC-SCHEMA-001", APP_DEV, Replace("      releaseName: trino", "      releaseNmae: trino"), "releaseNmae"),
        m("SOC-SCHEMA-001", "components/minio/manifests/dev/externalsecrets.yaml", Replace("  refreshInterval: 1h", "  refreshIntervall: 1h"), "refreshIntervall"),
        m("SOC-SCHEMA-003", STS, Replace("apiVersion: apps/v1\nkind: StatefulSet", "apiVersion: apps/v1beta2\nkind: StatefulSet"), "apps/v1beta2"),
        m("SOC-SCHEMA-002", "socle.yaml", Replace("ingestion: nifi ", "ingestion: kafka"), "ingestion: kafka"),
        m("SOC-DBT-001", "dbt/profiles.yml", Write("platform:\n  target: dev\n  outputs:\n    dev:\n      type: trino\n      user: dbt\n      password: hunter2\n"), "password: hunter2"),
        Mutation { warn: true, ..m("SOC-DBT-002", "dbt/models/staging/stg_orders.sql", Write("select 1 as id\n"), "select 1") },
        m("SOC-ZEP-001", "notebooks/Shell_2ABCDEF.zpln", Write("{\n  \"name\": \"Shell\",\n  \"paragraphs\": [\n    {\"id\": \"p1\",\n     \"text\": \"%sh\\nls /\"}\n  ]\n}\n"), "%sh"),
        m("SOC-ZEP-002", "notebooks/Leak_2ABCDEG.zpln", Write("{\n  \"name\": \"Leak\",\n  \"paragraphs\": [\n    {\"id\": \"p1\",\n     \"text\": \"%python\\npassword = 'hunter22'\"}\n  ]\n}\n"), "hunter22"),
        m("SOC-OBS-001", "observability/alerts.yaml", Write("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: trino\n  namespace: data-platform-observability\nspec:\n  groups:\n    - name: trino\n      rules:\n        - alert: TrinoDown\n          expr: up{job=\"trino\"} == 0\n          annotations:\n            runbook_url: runbooks/trino-down.md\n"), "runbook_url"),
        m("SOC-PARSE-001", "components/trino/values-broken.yaml", Write("a: 1\n  b: 2\n"), "b: 2"),
    ]
    .into_iter()
    .map(|mut m| {
        // Namespace rules point at the Namespace document.
        if m.rule.starts_with("SOC-NS-00") && m.rule != "SOC-NS-004" {
            m.at_file = Some("platform/base/namespaces/core/namespace.yaml");
        }
        m
    })
    .collect()
}

#[test]
fn each_rule_catches_its_mutation_at_the_right_place() {
    let files = render(None);
    let mut failures = Vec::new();
    for m in mutations() {
        let dir = materialise(&files);
        let path = dir.path().join(m.file);
        match &m.change {
            Change::Replace(old, new) => {
                let text = fs_err::read_to_string(&path).unwrap();
                assert!(text.contains(old), "{}: {old:?} not in {}", m.rule, m.file);
                fs_err::write(&path, text.replacen(old, new, 1)).unwrap();
            }
            Change::Delete => fs_err::remove_file(&path).unwrap(),
            Change::Write(content) => {
                fs_err::create_dir_all(path.parent().unwrap()).unwrap();
                fs_err::write(&path, content).unwrap()
            }
        }
        let target = m.at_file.unwrap_or(m.file);
        let text = fs_err::read_to_string(dir.path().join(target)).unwrap();
        let line = line_of(&text, m.marker);
        let extra: &[&str] = if m.warn { &["--fail-on", "warn"] } else { &[] };
        let (code, mut found) = findings(dir.path(), extra);
        // A mutation also breaks links of the system (a wave moved, a
        // destination changed): those consequences are the system rules'
        // own tests (system_rules.rs); here each file rule is judged alone.
        found.retain(|(r, _, _)| !r.starts_with("SOC-SYS-") || m.rule.starts_with("SOC-SYS-"));
        let rules: std::collections::BTreeSet<&str> =
            found.iter().map(|(r, _, _)| r.as_str()).collect();
        let at_place = found
            .iter()
            .any(|(r, f, l)| r == m.rule && f == target && *l == line);
        if code != 1 || rules.len() != 1 || !rules.contains(m.rule) || !at_place {
            failures.push(format!(
                "{}: exit {code}, expected {target}:{line}, got {found:?}",
                m.rule
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_inputs_have_documented_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Empty repository: nothing to check, success.
    let run = check(root, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("0 file(s)"), "{}", run.stdout);

    fs_err::write(root.join("broken.yaml"), "a: 1\nb: [\n").unwrap();
    fs_err::write(
        root.join("image.png"),
        [0x89u8, b'P', b'N', b'G', 0, 0, 0, 13],
    )
    .unwrap();
    fs_err::create_dir_all(root.join("chart/templates")).unwrap();
    fs_err::write(
        root.join("chart/Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
    )
    .unwrap();
    fs_err::write(
        root.join("chart/templates/deployment.yaml"),
        "kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n",
    )
    .unwrap();
    let big = vec![b'#'; 50 * 1024 * 1024];
    fs_err::write(root.join("dump.yaml"), &big).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("values.yaml")).unwrap();
    // A link whose target the tree no longer holds, and that stays inside
    // it: nothing to read, no finding.
    std::os::unix::fs::symlink("renamed", root.join("operator")).unwrap();

    let run = check(root, &["--format", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let by_rule = |rule: &str| -> Vec<Value> {
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == rule)
            .cloned()
            .collect()
    };
    let parse = by_rule("SOC-PARSE-001");
    assert_eq!(parse.len(), 1);
    assert_eq!(
        (parse[0]["file"].as_str(), parse[0]["line"].as_u64()),
        (Some("broken.yaml"), Some(2))
    );
    assert_eq!(by_rule("SOC-REPO-001").len(), 1, "{json}");
    assert_eq!(by_rule("SOC-REPO-001")[0]["file"], "values.yaml");
    assert_eq!(by_rule("SOC-REPO-002")[0]["file"], "dump.yaml");
    let skipped = json["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["path"] == "image.png" && s["reason"] == "binary file"),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|s| s["path"] == "chart/templates/deployment.yaml"),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|s| s["path"] == "operator"
            && s["reason"] == "symbolic link to renamed, which the repository does not hold"),
        "{skipped:?}"
    );

    // Not a directory: usage error.
    let run = check(&root.join("missing"), &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not a directory"), "{}", run.stderr);
}

fn repo_with_policy(policy: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(dir.path().join("policies")).unwrap();
    fs_err::write(dir.path().join("policies/local.rego"), policy).unwrap();
    fs_err::write(
        dir.path().join("deploy.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: debug\n",
    )
    .unwrap();
    dir
}

#[test]
fn conftest_style_policies_run_unchanged() {
    let dir = repo_with_policy(
        "package main\n\ndeny contains msg if {\n\tinput.kind == \"ConfigMap\"\n\tinput.data.mode == \"debug\"\n\tmsg := sprintf(\"%s runs in debug mode\", [input.metadata.name])\n}\n\nwarn contains \"configmaps are checked\" if input.kind == \"ConfigMap\"\n",
    );
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1);
    assert!(
        found.contains(&("main.deny".into(), "deploy.yaml".into(), 1)),
        "{found:?}"
    );
    assert!(found.iter().any(|(r, _, _)| r == "main.warn"), "{found:?}");

    // Rego v0 syntax needs --rego-v0, like conftest's --rego-version v0.
    let v0 = repo_with_policy(
        "package main\n\ndeny[msg] {\n\tinput.kind == \"ConfigMap\"\n\tmsg := \"v0 rule\"\n}\n",
    );
    let run = check(v0.path(), &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("policies/local.rego"), "{}", run.stderr);
    assert!(
        run.stderr.contains("compile as Rego v0: pass --rego-v0"),
        "{}",
        run.stderr
    );
    let (code, found) = findings(v0.path(), &["--rego-v0"]);
    assert_eq!(code, 1);
    assert!(found.iter().any(|(r, _, _)| r == "main.deny"), "{found:?}");
}

#[test]
fn a_policy_syntax_error_is_a_usage_error() {
    let dir = repo_with_policy("package main\n\ndeny contains msg if {\n");
    let run = check(dir.path(), &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("policies/local.rego"), "{}", run.stderr);
    // Not valid as v0 either: no hint that would send the user astray.
    assert!(!run.stderr.contains("--rego-v0"), "{}", run.stderr);
}

#[test]
fn a_slow_policy_is_a_finding_not_a_hung_job() {
    let dir = repo_with_policy(
        "package main\n\ndeny contains msg if {\n\tcount([x | some x in numbers.range(1, 100000000)]) > 0\n\tmsg := \"never\"\n}\n",
    );
    let started = std::time::Instant::now();
    let (code, found) = findings(dir.path(), &["--policy-timeout", "200"]);
    assert!(
        started.elapsed().as_secs() < 60,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(code, 1);
    assert!(
        found
            .iter()
            .any(|(r, f, _)| r == "SOC-POL-001" && f == "policies/local.rego"),
        "{found:?}"
    );
}

/// The default generated repository with `(old, new)` replacements made
/// once each in `file`.
fn generated_with(file: &str, edits: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = materialise(&render(None));
    let path = dir.path().join(file);
    let mut text = fs_err::read_to_string(&path).unwrap();
    for (old, new) in edits {
        assert!(text.contains(old), "{old:?} not in {file}");
        text = text.replacen(old, new, 1);
    }
    fs_err::write(&path, text).unwrap();
    dir
}

#[test]
fn exceptions_waive_expire_and_go_stale() {
    let dir = generated_with(
        STS,
        &[(
            "image: apache/zeppelin:0.12.1\n          ports:",
            "image: apache/zeppelin:latest\n          ports:",
        )],
    );
    fs_err::create_dir_all(dir.path().join("policies")).unwrap();
    let exceptions = dir.path().join("policies/exceptions.yaml");
    fs_err::write(&exceptions, "- rule: SOC-K8S-002\n  path: components/zeppelin/**\n  reason: upstream image only\n  owner: data-team\n  expires: 2099-12-31\n- rule: SOC-K8S-004\n  path: components/**\n  reason: nothing\n  owner: data-team\n  expires: 2099-12-31\n").unwrap();
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 0, "{found:?}");
    assert_eq!(
        found,
        vec![("SOC-EXC-002".into(), "policies/exceptions.yaml".into(), 6)]
    );

    fs_err::write(&exceptions, "- rule: SOC-K8S-002\n  path: components/zeppelin/**\n  reason: upstream image only\n  owner: data-team\n  expires: 2020-01-31\n").unwrap();
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1);
    let rules: Vec<&str> = found.iter().map(|(r, _, _)| r.as_str()).collect();
    assert!(
        rules.contains(&"SOC-EXC-001") && rules.contains(&"SOC-K8S-002"),
        "{found:?}"
    );
}

#[test]
fn reports_in_every_format_parse() {
    let dir = generated_with(
        STS,
        &[
            (
                "readOnlyRootFilesystem: true",
                "readOnlyRootFilesystem: false",
            ),
            ("apache/zeppelin:0.12.1", "apache/zeppelin"),
        ],
    );

    let sarif: Value =
        serde_json::from_str(&check(dir.path(), &["--format", "sarif"]).stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results
        .iter()
        .any(|r| r["ruleId"] == "SOC-K8S-002" && r["level"] == "error"));
    assert!(results
        .iter()
        .all(|r| r["partialFingerprints"]["socle/v1"].is_string()));
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for r in results {
        assert_eq!(
            ids[r["ruleIndex"].as_u64().unwrap() as usize],
            r["ruleId"].as_str().unwrap()
        );
    }
    // Against the OASIS SARIF 2.1.0 schema (as the serde-sarif crate ships
    // it), and read back by its types.
    // One pattern of the schema (`run.language`) has a stray `]`, a literal
    // for ECMA-262 and an error for Rust's regex engine: it is escaped.
    let text = fs_err::read_to_string(sarif_schema()).unwrap();
    let stray = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert!(
        text.contains(stray),
        "the schema changed: revisit this workaround"
    );
    let text = text.replace(stray, r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$""#);
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = Value::from("fatal");
    assert!(!validator.is_valid(&broken), "the schema is enforced");
    let typed: serde_sarif::sarif::Sarif = serde_json::from_value(sarif.clone()).unwrap();
    assert_eq!(typed.runs.len(), 1);
    let k8s002 = rules.iter().find(|r| r["id"] == "SOC-K8S-002").unwrap();
    assert_eq!(k8s002["properties"]["security-severity"], "7.0");
    assert!(k8s002["helpUri"].is_string() && k8s002["fullDescription"]["text"].is_string());
    let sec001 = rules.iter().find(|r| r["id"] == "SOC-SEC-001").unwrap();
    assert_eq!(sec001["properties"]["security-severity"], "9.0");
    assert_eq!(
        sarif["runs"][0]["invocations"][0]["executionSuccessful"],
        true
    );

    let gitlab: Value =
        serde_json::from_str(&check(dir.path(), &["--format", "gitlab"]).stdout).unwrap();
    let issue = &gitlab.as_array().unwrap()[0];
    assert!(issue["fingerprint"].is_string() && issue["location"]["lines"]["begin"].is_u64());

    let junit = check(dir.path(), &["--format", "junit"]).stdout;
    assert!(
        junit.starts_with("<?xml") && junit.contains("<failure") && junit.contains("SOC-K8S-002"),
        "{junit}"
    );
    // Every suite says how many errors it has (Jenkins' schema requires
    // it), and no two cases share class and name (readers merge them).
    assert!(junit.contains("<testsuite "), "{junit}");
    for suite in junit.split("<testsuite ").skip(1) {
        let head = suite.split('>').next().unwrap();
        assert!(
            head.contains(" errors=\"") && head.contains(" failures=\""),
            "{head}"
        );
    }
    let mut cases = std::collections::BTreeSet::new();
    for case in junit.split("<testcase ").skip(1) {
        let head = case.split('>').next().unwrap().to_owned();
        assert!(cases.insert(head.clone()), "two test cases named {head}");
    }
    // Against Jenkins' published JUnit schema (junit-10.xsd), with the
    // report of a passing check too (one success case).
    if let (Some(xsd), Some(python)) = (
        std::env::var_os("SOCLE_JUNIT_XSD"),
        crate::support::tool("python3"),
    ) {
        let clean = crate::support::materialise(&crate::support::render(None));
        let passing = check(clean.path(), &["--format", "junit"]).stdout;
        let reports = tempfile::tempdir().unwrap();
        let (a, b) = (
            reports.path().join("findings.xml"),
            reports.path().join("passing.xml"),
        );
        fs_err::write(&a, &junit).unwrap();
        fs_err::write(&b, &passing).unwrap();
        let out = Command::new(python)
            .arg(crate::support::repo_root().join("tests/tools/junit_check.py"))
            .arg(xsd)
            .args([&a, &b])
            .output()
            .unwrap();
        crate::support::assert_success(&out);
    } else if std::env::var_os("SOCLE_REQUIRE_TOOLS").is_some() {
        panic!("SOCLE_JUNIT_XSD is required (SOCLE_REQUIRE_TOOLS is set)");
    }

    let summary = dir.path().join("summary.md");
    let out = socle()
        .arg("check")
        .arg(dir.path())
        .args(["--format", "github"])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let gh = String::from_utf8_lossy(&out.stdout);
    assert!(
        gh.contains("::error file=components/zeppelin/base/statefulset.yaml,line="),
        "{gh}"
    );
    assert!(gh.contains("::warning file="), "{gh}");
    assert!(fs_err::read_to_string(&summary)
        .unwrap()
        .contains("| deny | SOC-K8S-002 |"));

    let text = check(dir.path(), &[]).stdout;
    assert!(
        text.contains("components/zeppelin/base/statefulset.yaml:"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "colour without a terminal");
}

#[test]
fn policy_list_explain_and_test() {
    let out = socle().args(["policy", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.lines().count() >= 25 && list.contains("SOC-ARGO-006"),
        "{list}"
    );
    let out = socle()
        .args(["policy", "list", "--format", "json"])
        .output()
        .unwrap();
    let rules: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rules.len(), list.lines().count());
    let ing = rules.iter().find(|r| r["id"] == "SOC-ING-001").unwrap();
    assert_eq!(ing["profile"], "platform");
    assert!(ing["remediation"].is_string() && ing["example"].is_string());
    let out = socle()
        .args(["policy", "explain", "soc-k8s-002"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Remediation:") && text.contains("latest"),
        "{text}"
    );
    let out = socle()
        .args(["policy", "explain", "SOC-NOPE"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = socle().args(["policy", "test"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("FAIL") && text.contains(" passed, 0 failed"),
        "{text}"
    );

    // A repository's own tests run too, and a failing one fails the command.
    let dir =
        repo_with_policy("package main\n\ndeny contains \"x\" if input.kind == \"ConfigMap\"\n");
    fs_err::write(
        dir.path().join("policies/local_test.rego"),
        "package main_test\n\nimport data.main\n\ntest_configmap_denied if {\n\t\"x\" in main.deny with input as {\"kind\": \"ConfigMap\"}\n}\n\ntest_wrong if {\n\t\"x\" in main.deny with input as {\"kind\": \"Pod\"}\n}\n",
    )
    .unwrap();
    let out = socle()
        .args(["policy", "test"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("PASS policies/local_test.rego: test_configmap_denied"),
        "{text}"
    );
    assert!(
        text.contains("FAIL policies/local_test.rego: test_wrong"),
        "{text}"
    );
}

/// Every rule id the policies or the checker can emit is in the catalog
/// (which gives its severity, title and remediation), and every catalog
/// entry is emitted somewhere.
#[test]
fn catalog_and_rules_agree() {
    let root = crate::support::repo_root();
    let catalog: Vec<Value> =
        crate::support::yaml_slice(&fs_err::read(root.join("policies/catalog.yaml")).unwrap())
            .unwrap();
    let listed: std::collections::BTreeSet<String> = catalog
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let mut emitted = std::collections::BTreeSet::new();
    let id = |text: &str, out: &mut std::collections::BTreeSet<String>| {
        for (i, _) in text.match_indices("\"SOC-") {
            let rest = &text[i + 1..];
            let end = rest.find('"').unwrap();
            let candidate = &rest[..end];
            if candidate.split('-').count() == 3
                && candidate.ends_with(|c: char| c.is_ascii_digit())
            {
                out.insert(candidate.to_owned());
            }
        }
    };
    for dir in ["policies", "generator/src"] {
        for entry in walkdir::WalkDir::new(root.join(dir))
            .into_iter()
            .filter_map(Result::ok)
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name.ends_with(".rego") && !name.ends_with("_test.rego")) || name.ends_with(".rs") {
                id(&fs_err::read_to_string(entry.path()).unwrap(), &mut emitted);
            }
        }
    }
    let missing: Vec<_> = emitted.difference(&listed).collect();
    let orphans: Vec<_> = listed.difference(&emitted).collect();
    assert!(
        missing.is_empty(),
        "emitted but not in the catalog: {missing:?}"
    );
    assert!(
        orphans.is_empty(),
        "in the catalog but never emitted: {orphans:?}"
    );
}

/// A deployment in the shape conftest's Kubernetes example checks.
/// A Secret with a literal password in git.
const LITERAL_SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n";

/// The file of each SOC-SCHEMA-001 denial of `dir`, in report order.
fn schema_denied(dir: &Path) -> Vec<String> {
    let (_, found) = findings(dir, &[]);
    found
        .into_iter()
        .filter(|(r, _, _)| r == "SOC-SCHEMA-001")
        .map(|(_, f, _)| f)
        .collect()
}

/// The (file, line) of each finding of `rule` among `found`.
fn places<'a>(found: &'a [(String, String, u64)], rule: &str) -> Vec<(&'a str, u64)> {
    found
        .iter()
        .filter(|(r, _, _)| r == rule)
        .map(|(_, f, l)| (f.as_str(), *l))
        .collect()
}

/// `dir`'s text report, which must say `what`.
fn assert_says(dir: &Path, what: &str) {
    let run = check(dir, &[]);
    assert!(run.stdout.contains(what), "{}", run.stdout);
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\nspec:\n  selector:\n    matchLabels:\n      tier: web\n  template:\n    metadata:\n      labels:\n        tier: web\n    spec:\n      containers:\n        - name: hello\n          image: registry.example/hello:1.0\n";

fn repo_with(policies: &[(&str, &str)], documents: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in policies.iter().chain(documents) {
        let path = dir.path().join(path);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }
    dir
}

/// conftest runs `deny_<x>`, `violation_<x>` and `warn_<x>` like `deny`,
/// `violation` and `warn`: a policy written that way is not silently
/// skipped (its Kubernetes example: a root container and a selector without
/// an `app` label are two failures; a warning is not one).
#[test]
fn conftest_prefixed_rules_run() {
    let policy = "package main\n\n\
        deny_run_as_root contains msg if {\n\tinput.kind == \"Deployment\"\n\tnot input.spec.template.spec.securityContext.runAsNonRoot\n\tmsg := \"containers must not run as root\"\n}\n\n\
        violation_app_label contains {\"msg\": \"pod selectors need an app label\"} if {\n\tinput.kind == \"Deployment\"\n\tnot input.spec.selector.matchLabels.app\n}\n\n\
        warn_replicas contains \"no replica count is set\" if {\n\tinput.kind == \"Deployment\"\n\tnot input.spec.replicas\n}\n";
    let dir = repo_with(
        &[("policies/k8s.rego", policy)],
        &[("deployment.yaml", DEPLOYMENT)],
    );
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1, "{found:?}");
    let rules: Vec<&str> = found
        .iter()
        .filter(|(_, f, _)| f == "deployment.yaml")
        .map(|(r, _, _)| r.as_str())
        .filter(|r| r.starts_with("main."))
        .collect();
    assert_eq!(
        rules,
        [
            "main.deny_run_as_root",
            "main.violation_app_label",
            "main.warn_replicas"
        ],
        "{found:?}"
    );
    // The warning alone does not fail the check.
    let fixed = DEPLOYMENT
        .replace("tier: web\n  template", "app: hello\n  template")
        .replace(
            "    spec:\n      containers",
            "    spec:\n      securityContext:\n        runAsNonRoot: true\n      containers",
        );
    let dir = repo_with(
        &[("policies/k8s.rego", policy)],
        &[("deployment.yaml", &fixed)],
    );
    let (_, found) = findings(dir.path(), &[]);
    let ours: Vec<&str> = found
        .iter()
        .map(|(r, _, _)| r.as_str())
        .filter(|r| r.starts_with("main."))
        .collect();
    assert_eq!(ours, ["main.warn_replicas"], "{found:?}");
}

/// conftest's exceptions: `exception` names the rules (`<x>` of
/// `deny_<x>`) that do not apply to an input. As in its example, the
/// excepted deployment is reported as excepted and does not fail; the
/// other one still fails.
#[test]
fn conftest_exceptions_are_honoured() {
    let policy = "package main\n\n\
        deny_run_as_root contains msg if {\n\tinput.kind == \"Deployment\"\n\tnot input.spec.template.spec.securityContext.runAsNonRoot\n\tmsg := sprintf(\"%s runs as root\", [input.metadata.name])\n}\n\n\
        exception contains rules if {\n\tinput.metadata.name == \"can-run-as-root\"\n\trules := [\"run_as_root\"]\n}\n";
    let excepted = DEPLOYMENT.replace("name: hello\nspec", "name: can-run-as-root\nspec");
    let dir = repo_with(
        &[("policies/exceptions.rego", policy)],
        &[("a.yaml", DEPLOYMENT), ("b.yaml", &excepted)],
    );
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1, "{found:?}");
    let denied: Vec<&str> = found
        .iter()
        .filter(|(r, _, _)| r == "main.deny_run_as_root")
        .map(|(_, f, _)| f.as_str())
        .collect();
    assert_eq!(denied, ["a.yaml"], "{found:?}");
    let run = check(dir.path(), &["--format", "json"]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let excepted: Vec<&Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "main.deny_run_as_root" && f["file"] == "b.yaml")
        .collect();
    assert_eq!(excepted.len(), 1, "{}", run.stdout);
    assert!(
        excepted[0]["excepted_by"]
            .as_str()
            .is_some_and(|e| e.contains("exception of main")),
        "{}",
        run.stdout
    );
}

/// `--namespace` runs only the packages it names, as in conftest;
/// `--all-namespaces` (the default) runs them all, and a package no
/// policy declares is a usage error naming the declared ones.
#[test]
fn namespaces_choose_the_packages_that_run() {
    let dir = repo_with(
        &[
            ("policies/main.rego", "package main\n\ndeny contains \"main ran\" if input.kind == \"Deployment\"\n"),
            ("policies/admission.rego", "package kubernetes.admission\n\ndeny contains \"admission ran\" if input.kind == \"Deployment\"\n"),
        ],
        &[("deployment.yaml", DEPLOYMENT)],
    );
    let ran = |args: &[&str]| -> Vec<String> {
        let (_, found) = findings(dir.path(), args);
        let mut rules: Vec<String> = found
            .into_iter()
            .map(|(r, _, _)| r)
            .filter(|r| r.ends_with(".deny") && !r.starts_with("SOC-"))
            .collect();
        rules.sort();
        rules
    };
    assert_eq!(ran(&[]), ["kubernetes.admission.deny", "main.deny"]);
    assert_eq!(
        ran(&["--all-namespaces"]),
        ["kubernetes.admission.deny", "main.deny"]
    );
    assert_eq!(ran(&["--namespace", "main"]), ["main.deny"]);
    assert_eq!(
        ran(&["--namespace", "kubernetes.admission"]),
        ["kubernetes.admission.deny"]
    );
    let run = check(dir.path(), &["--namespace", "nope"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("--namespace nope")
            && run.stderr.contains("kubernetes.admission, main"),
        "{}",
        run.stderr
    );
}

/// Argo CD and kubectl apply each item of a list (`kind: List`, or any
/// `<Kind>List` whose `items` is an array) as an object of its own, and
/// kustomize inlines them: each item is judged as what it is, at its own
/// line, where the list as a whole was judged by the credential scan alone
/// (a Secret with data, a privileged container and a misspelt field
/// passed). `items: null` applies nothing.
#[test]
fn each_item_of_a_list_is_judged_as_the_object_it_is() {
    let list = "apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Secret
    metadata:
      name: creds
    data:
      password: aHVudGVyMg==
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: RoleList
    items:
      - apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata:
          name: reader
        rules:
          - apiGroups: [\"\"]
            resources: [pods]
            verbs: [get]
            verb: [list]
";
    let deployments = format!(
        "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n{}",
        DEPLOYMENT
            .replace(
                "registry.example/hello:1.0",
                "registry.example/hello:latest"
            )
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{}{l}\n", if i == 0 { "  - " } else { "    " }))
            .collect::<String>()
    );
    let empty = "apiVersion: v1\nkind: ConfigMapList\nitems: null\n";
    let dir = repo_with(
        &[],
        &[
            ("list.yaml", list),
            ("deployments.yaml", &deployments),
            ("empty.yaml", empty),
            (
                "kustomization.yaml",
                "resources: [list.yaml, deployments.yaml, empty.yaml]\n",
            ),
        ],
    );
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1, "{found:?}");
    let at = |rule: &str, file: &str| -> Vec<u64> {
        found
            .iter()
            .filter(|(r, f, _)| r == rule && f == file)
            .map(|(_, _, l)| *l)
            .collect()
    };
    assert_eq!(at("SOC-SEC-001", "list.yaml"), [9], "{found:?}");
    // The Role of the RoleList in the List, at its misspelt field.
    assert_eq!(at("SOC-SCHEMA-001", "list.yaml"), [21], "{found:?}");
    assert_eq!(at("SOC-K8S-002", "deployments.yaml"), [19], "{found:?}");
    assert!(
        at("SOC-K8S-001", "deployments.yaml").contains(&18),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|(_, f, _)| f == "empty.yaml"),
        "{found:?}"
    );
    let run = check(dir.path(), &["--format", "json"]);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(report["not_validated"], serde_json::json!({}), "{report}");
    assert_eq!(report["summary"]["documents"], 4, "{report}");
    // kustomize sends the same three objects on, each on its own.
    if let Some(kubectl) = crate::support::tool("kubectl") {
        let built = crate::support::kustomize_build(&kubectl, dir.path(), ".");
        let kinds: Vec<&str> = built.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(kinds, ["Role", "Secret", "Deployment"], "{built:?}");
    }
}

/// An operator scaffold's CRD patches sit one folder below the
/// kustomization that leaves them out of its list
/// (`config/crd/patches/webhook_in_<kind>.yaml`): they are parts of
/// objects, not CRDs missing their group and names; so is a patch it left
/// out at an API version no release serves any more (an old
/// `webhookcainjection_patch.yaml`, metadata only), and a file named as a
/// patch anywhere (`patch.json`, for `kubectl patch --patch-file`). A whole
/// object left out at such a version is still denied, and the CRDs listed
/// are validated whole.
#[test]
fn a_scaffolds_unlisted_crd_patches_are_parts_of_objects() {
    let crd = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
";
    let patch = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  conversion:
    strategy: Webhook
    webhook:
      clientConfig:
        service: {namespace: system, name: webhook-service, path: /convert}
      conversionReviewVersions: [v1]
";
    let patch_json = serde_json::to_string_pretty(
        &crate::support::yaml::<Value>(patch).expect("the patch is YAML"),
    )
    .expect("JSON");
    let kustomization = "resources:
  - bases/example.com_widgets.yaml
#patches:
#- path: patches/webhook_in_widgets.yaml
";
    let files = |crd: &str| {
        repo_with(
            &[],
            &[
                ("config/crd/kustomization.yaml", kustomization),
                ("config/crd/bases/example.com_widgets.yaml", crd),
                ("config/crd/patches/webhook_in_widgets.yaml", patch),
                (
                    "config/default/kustomization.yaml",
                    "resources: [../crd]\n#patchesStrategicMerge:\n#- webhookcainjection_patch.yaml\n",
                ),
                (
                    "config/default/webhookcainjection_patch.yaml",
                    "apiVersion: admissionregistration.k8s.io/v1beta1\nkind: MutatingWebhookConfiguration\nmetadata:\n  name: mutating-webhook-configuration\n  annotations:\n    cert-manager.io/inject-ca-from: system/serving-cert\n",
                ),
                (
                    "config/default/psp.yaml",
                    "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: restricted\nspec:\n  privileged: false\n",
                ),
                ("hack/conversion/patch.json", &patch_json),
            ],
        )
    };
    let dir = files(crd);
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        found,
        [(
            "SOC-SCHEMA-003".to_owned(),
            "config/default/psp.yaml".to_owned(),
            1
        )]
    );
    let dir = files(&crd.replace("scope:", "scpoe:"));
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1);
    let denied: Vec<(&str, &str)> = found
        .iter()
        .map(|(r, f, _)| (r.as_str(), f.as_str()))
        .filter(|(_, f)| *f != "config/default/psp.yaml")
        .collect();
    assert!(!denied.is_empty());
    assert!(
        denied.iter().all(|d| *d
            == (
                "SOC-SCHEMA-001",
                "config/crd/bases/example.com_widgets.yaml"
            )),
        "{found:?}"
    );
}

/// Shapes met in real repositories that the embedded rules once failed on,
/// ending the check with exit 2 and no report: another tool's `models/`
/// YAML holding a list, an alert without a runbook beside one linking
/// outside the repository, a labelled Application whose sync wave is not
/// an integer. Each is judged; none is a failure of the rules.
#[test]
fn shapes_the_embedded_rules_did_not_expect_are_judged() {
    let rules = "apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: zfs}
spec:
  groups:
    - name: zfs
      rules:
        - alert: ZfsPoolState
          expr: zfs_state > 0
          annotations: {summary: pool}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: certs}
spec:
  groups:
    - name: certs
      rules:
        - alert: CertsAbsent
          expr: absent(up)
          annotations:
            runbook_url: https://gitlab.example/mixin/-/blob/master/RUNBOOK.md#absent
";
    let app = "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: trino
  namespace: argocd
  labels: {app.kubernetes.io/component: trino}
  annotations: {argocd.argoproj.io/sync-wave: early}
spec:
  project: default
  destination: {server: https://kubernetes.default.svc, namespace: trino}
  source: {repoURL: https://git.example/charts.git, path: trino, targetRevision: 1.0.0}
";
    let dir = repo_with(
        &[],
        &[
            ("ml/models/registry.yml", "- churn\n- forecast\n"),
            ("ml/models/churn.sql", "select 1\n"),
            ("rules.yaml", rules),
            ("app.yaml", app),
        ],
    );
    for profile in ["generic", "platform"] {
        fs_err::write(
            dir.path().join("socle-check.yaml"),
            format!("rules:\n  profile: {profile}\n"),
        )
        .unwrap();
        let (code, found) = findings(dir.path(), &[]);
        assert!(code == 0 || code == 1, "{profile}: {code}");
        assert!(
            !found.iter().any(|(r, _, _)| r == "SOC-POL-002"),
            "{profile}: {found:?}"
        );
        if profile == "platform" {
            let alerts: Vec<u64> = found
                .iter()
                .filter(|(r, f, _)| r == "SOC-OBS-001" && f == "rules.yaml")
                .map(|(_, _, l)| *l)
                .collect();
            assert_eq!(alerts.len(), 2, "{found:?}");
        }
    }
}

/// A Flux Kustomization with `postBuild` substitutes `${VAR}` before the
/// API server sees the objects: a component's `${APP}-key` in a field whose
/// schema refuses `$` is not a denial where every Kustomization applying
/// it defines APP (inline, or from `substituteFrom`); one that leaves it
/// undefined (Flux writes an empty string) is named; a file nothing
/// substitutes keeps its finding.
#[test]
fn values_flux_substitutes_are_judged_as_flux_applies_them() {
    let secret = |name: &str| {
        format!(
            "apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {name}
spec:
  secretStoreRef: {{kind: ClusterSecretStore, name: vault}}
  target:
    name: {name}-secret
  dataFrom:
    - extract: {{key: anubis}}
"
        )
    };
    let flux = |name: &str, post: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: flux-system
spec:
  interval: 1h
  path: ./apps/{name}/app
  components:
    - ../../../components/anubis
  prune: true
  sourceRef: {{kind: GitRepository, name: flux-system}}
  postBuild:
{post}
"
        )
    };
    let component = "apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources:
  - externalsecret.yaml
";
    let app = "resources: [configmap.yaml]\n";
    let configmap =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n";
    let repo = |wiki: &str| {
        repo_with(
            &[],
            &[
                ("components/anubis/kustomization.yaml", component),
                (
                    "components/anubis/externalsecret.yaml",
                    &secret("${APP}-key"),
                ),
                (
                    "apps/forgejo/ks.yaml",
                    &flux("forgejo", "    substitute:\n      APP: forgejo"),
                ),
                ("apps/forgejo/app/kustomization.yaml", app),
                ("apps/forgejo/app/configmap.yaml", configmap),
                ("apps/wiki/ks.yaml", &flux("wiki", wiki)),
                ("apps/wiki/app/kustomization.yaml", app),
                ("apps/wiki/app/configmap.yaml", configmap),
                ("loose/externalsecret.yaml", &secret("${APP}-loose")),
            ],
        )
    };
    for wiki in [
        "    substitute:\n      APP: wiki",
        "    substituteFrom:\n      - {kind: ConfigMap, name: cluster-settings}",
    ] {
        let dir = repo(wiki);
        assert_eq!(
            schema_denied(dir.path()),
            ["loose/externalsecret.yaml"],
            "{wiki}"
        );
    }
    let dir = repo("    substitute:\n      DOMAIN: wiki.example");
    assert_eq!(
        schema_denied(dir.path()),
        [
            "components/anubis/externalsecret.yaml",
            "loose/externalsecret.yaml"
        ]
    );
    assert_says(
        dir.path(),
        "Flux substitutes an empty string for what flux-system/wiki (${APP}) leave undefined",
    );
    // What `substituteFrom` brings, read from the tree: the keys of the
    // ConfigMaps and Secrets it names (a SOPS-encrypted Secret's keys are
    // in the clear). One the tree does not hold may define anything.
    let settings = |key: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n  namespace: flux-system\ndata:\n  {key}: wiki\n")
    };
    let secrets = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n  namespace: flux-system\nstringData:\n  APP: ENC[AES256_GCM,data:Zm9v,iv:aXY=,tag:dGFn,type:str]\nsops:\n  lastmodified: \"2026-03-01T01:50:31Z\"\n  mac: ENC[AES256_GCM,data:dj9L,iv:aXY=,tag:dGFn,type:str]\n  version: 3.12.1\n";
    let from = |refs: &[&str]| {
        format!(
            "    substituteFrom:\n{}",
            refs.iter()
                .map(|r| format!("      - {r}\n"))
                .collect::<String>()
                .trim_end()
        )
    };
    let settings_ref = "{kind: ConfigMap, name: cluster-settings}";
    let secrets_ref = "{kind: Secret, name: cluster-secrets}";
    for (wiki, files, denied) in [
        (from(&[settings_ref]), vec![settings("APP")], false),
        (from(&[settings_ref]), vec![settings("DOMAIN")], true),
        (
            from(&[settings_ref, secrets_ref]),
            vec![settings("DOMAIN"), secrets.to_owned()],
            false,
        ),
        // Not in the tree: it may define APP.
        (
            from(&[settings_ref, "{kind: Secret, name: made-at-bootstrap}"]),
            vec![settings("DOMAIN")],
            false,
        ),
    ] {
        let dir = repo(&wiki);
        for (i, text) in files.iter().enumerate() {
            fs_err::write(dir.path().join(format!("apps/settings-{i}.yaml")), text).unwrap();
        }
        let mut expected = vec!["loose/externalsecret.yaml"];
        if denied {
            expected.insert(0, "components/anubis/externalsecret.yaml");
        }
        assert_eq!(schema_denied(dir.path()), expected, "{wiki}\n{files:?}");
    }
}

/// A file SOPS encrypted (Flux decrypts it before applying) carries its
/// keys under a top-level `sops` that decryption removes, and ciphertext
/// where the values were: neither the metadata nor the ciphertext is a
/// denial, for a Secret or a custom resource. A Secret without that
/// metadata is judged as before.
#[test]
fn a_file_sops_encrypted_is_judged_as_flux_decrypts_it() {
    let sops = "sops:
  age:
    - recipient: age1zeqkpfz7e3s207ynea0z0auc0mrct0pc7w4sh6j3d0c4qac3dahqj9ufdg
      enc: |
        -----BEGIN AGE ENCRYPTED FILE-----
        YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBKdkxaOE5KQ2g0c3B4SFZU
        -----END AGE ENCRYPTED FILE-----
  lastmodified: \"2026-03-01T01:50:31Z\"
  mac: ENC[AES256_GCM,data:dj9LZxbkYi01,iv:aXY=,tag:dGFn,type:str]
  encrypted_regex: ^(data|stringData|password)$
  version: 3.12.1
";
    let secret = format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: flux-system
  namespace: flux-system
data:
  identity: ENC[AES256_GCM,data:paxkHhaZN+y5ev6v,iv:aXY=,tag:dGFn,type:str]
stringData:
  GITHUB_TOKEN: ENC[AES256_GCM,data:RAusWFjYjs9C6tgA,iv:aXY=,tag:dGFn,type:str]
  UNUSED_KEY: \"\"
{sops}"
    );
    let release = format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {{name: db, namespace: db}}
spec:
  interval: 30m
  chart:
    spec:
      chart: postgresql
      sourceRef: {{kind: HelmRepository, name: charts, namespace: flux-system}}
  values:
    auth:
      password: ENC[AES256_GCM,data:SH/QO/rncxk=,iv:aXY=,tag:dGFn,type:str]
{sops}"
    );
    let dir = repo_with(
        &[],
        &[
            ("secret.sops.yaml", &secret),
            ("release.sops.yaml", &release),
        ],
    );
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!((code, found.as_slice()), (0, &[][..]));
    let plain = secret.replace(sops, "");
    let dir = repo_with(&[], &[("secret.yaml", &plain)]);
    let (_, found) = findings(dir.path(), &[]);
    assert!(
        found.iter().any(|(r, _, _)| r == "SOC-SEC-001"),
        "{found:?}"
    );
}

/// A secretGenerator reading files SOPS encrypted (Flux decrypts them
/// before kustomize builds the Secret) commits ciphertext, not a
/// credential: no SOC-SEC-004 on those entries, for a YAML file and an env
/// file. An entry reading a plain file, or a literal, is still denied; so
/// is a credential such a file leaves in the clear, where it is.
#[test]
fn a_secret_generated_from_sops_encrypted_files_is_not_a_committed_credential() {
    let values = "providers:
  openAI:
    apiKey: ENC[AES256_GCM,data:SH/QO/rncxk=,iv:aXY=,tag:dGFn,type:str]
  other:
    apiKey: hunter2
sops:
  lastmodified: \"2026-03-01T01:50:31Z\"
  mac: ENC[AES256_GCM,data:dj9LZxbkYi01,iv:aXY=,tag:dGFn,type:str]
  encrypted_regex: ^(apiKey)$
  version: 3.12.1
";
    let env = "DB_PASSWORD=ENC[AES256_GCM,data:Zm9v,iv:aXY=,tag:dGFn,type:str]
sops_lastmodified=2026-03-01T01:50:31Z
sops_mac=ENC[AES256_GCM,data:dj9LZxbkYi01,iv:aXY=,tag:dGFn,type:str]
sops_version=3.12.1
";
    let kustomization = "resources: []
secretGenerator:
  - name: values
    files:
      - values.yaml=values.enc.yaml
  - name: db
    envs:
      - db.enc.env
  - name: plain
    files:
      - token.txt
  - name: literal
    literals:
      - password=hunter2
";
    let dir = repo_with(
        &[],
        &[
            ("app/kustomization.yaml", kustomization),
            ("app/values.enc.yaml", values),
            ("app/db.enc.env", env),
            ("app/token.txt", "hunter2\n"),
        ],
    );
    let (_, found) = findings(dir.path(), &[]);
    assert_eq!(
        places(&found, "SOC-SEC-004"),
        [
            ("app/kustomization.yaml", 11),
            ("app/kustomization.yaml", 14)
        ],
        "{found:?}"
    );
    assert_eq!(
        places(&found, "SOC-SEC-003"),
        [("app/values.enc.yaml", 5)],
        "{found:?}"
    );
}

/// A Flux Kustomization applying `./apps` from a `source` (GitRepository,
/// OCIRepository) that patches its child Kustomizations with their
/// `interval` and `prune`, unless labelled `example.com/defaults: disabled`.
fn flux_parent(source: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: cluster
  namespace: flux-system
spec:
  interval: 30m
  path: ./apps
  prune: true
  sourceRef: {{kind: {source}, name: flux-system}}
  patches:
    - patch: |-
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: _
        spec:
          interval: 30m
          prune: true
      target:
        group: kustomize.toolkit.fluxcd.io
        kind: Kustomization
        labelSelector: example.com/defaults!=disabled
"
    )
}

/// A child Flux Kustomization of [`flux_parent`], leaving out its
/// `interval` and `prune`.
fn flux_child(name: &str, labels: &str, source: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: flux-system
  labels: {{{labels}}}
spec:
  path: ./apps/{name}/app
  sourceRef: {{kind: {source}, name: flux-system}}
"
    )
}

/// A parent Flux Kustomization that patches its children with defaults
/// (`spec.patches` targeting `kind: Kustomization`, the children's
/// `interval` and `prune`) fills the fields their files leave out: they
/// are not missing where every Flux Kustomization applying them writes
/// them; a child the patch's label selector leaves out keeps its denial.
#[test]
fn fields_a_parent_flux_kustomization_patches_in_are_not_missing() {
    let parent = flux_parent("GitRepository");
    let child = |name: &str, labels: &str| flux_child(name, labels, "GitRepository");
    let dir = repo_with(
        &[],
        &[
            ("clusters/main/cluster.yaml", &parent),
            (
                "apps/kustomization.yaml",
                "resources: [wiki/ks.yaml, chat/ks.yaml]\n",
            ),
            ("apps/wiki/ks.yaml", &child("wiki", "")),
            (
                "apps/chat/ks.yaml",
                &child("chat", "example.com/defaults: disabled"),
            ),
        ],
    );
    let (_, found) = findings(dir.path(), &[]);
    // The chat child misses both (`interval` and `prune`), at its spec.
    assert_eq!(
        places(&found, "SOC-SCHEMA-001"),
        [("apps/chat/ks.yaml", 7), ("apps/chat/ks.yaml", 7)],
        "{found:?}"
    );
}

/// A Flux Kustomization whose source is an artifact pushed from a
/// subfolder (`flux push artifact --path=./kubernetes`, an OCIRepository)
/// names paths within that folder: `./apps` is `kubernetes/apps` here, so
/// its patches reach the children there. A child its folder's
/// kustomization leaves out (commented out, to switch an app off) misses
/// what the parent would patch in: a part, not a denial.
#[test]
fn a_flux_path_in_an_artifact_pushed_from_a_subfolder_is_read_from_it() {
    let parent = flux_parent("OCIRepository");
    let child = |name: &str, labels: &str| flux_child(name, labels, "OCIRepository");
    let files = [
        ("kubernetes/clusters/main/cluster.yaml", parent),
        (
            "kubernetes/apps/kustomization.yaml",
            "resources: [wiki/ks.yaml, chat/ks.yaml]\n".to_owned(),
        ),
        ("kubernetes/apps/wiki/ks.yaml", child("wiki", "")),
        (
            "kubernetes/apps/chat/ks.yaml",
            child("chat", "example.com/defaults: disabled"),
        ),
        ("kubernetes/apps/off/ks.yaml", child("off", "")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let dir = repo_with(&[], &files);
    let (_, found) = findings(dir.path(), &[]);
    assert_eq!(
        places(&found, "SOC-SCHEMA-001"),
        [
            ("kubernetes/apps/chat/ks.yaml", 7),
            ("kubernetes/apps/chat/ks.yaml", 7)
        ],
        "{found:?}"
    );
}

/// AppProjects of one name in each cluster's folder are one per cluster:
/// each environment is judged against the project its own Applications
/// create (before, two projects of one name ended the check with exit 2).
#[test]
fn each_environment_is_judged_against_its_own_project_of_a_shared_name() {
    let root = |env: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: {env}-root, namespace: argocd}}
spec:
  project: default
  source: {{repoURL: https://git.example/r.git, path: clusters/{env}/apps, targetRevision: main}}
  destination: {{server: https://kubernetes.default.svc, namespace: argocd}}
"
        )
    };
    let project = |ns: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {{name: platform, namespace: argocd}}
spec:
  sourceRepos: [https://git.example/r.git]
  destinations: [{{server: https://kubernetes.default.svc, namespace: {ns}}}]
  clusterResourceWhitelist: [{{group: '', kind: Namespace}}]
"
        )
    };
    let app = |env: &str, ns: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: {ns}-{env}, namespace: argocd}}
spec:
  project: platform
  source: {{repoURL: https://git.example/r.git, path: apps/{ns}, targetRevision: main}}
  destination: {{server: https://kubernetes.default.svc, namespace: {ns}}}
"
        )
    };
    let objects = |ns: &str| {
        format!(
            "apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: {ns}}}
data: {{mode: fast}}
"
        )
    };
    let files = [
        ("clusters/dev/root.yaml", root("dev")),
        ("clusters/dev/apps/project.yaml", project("web")),
        ("clusters/dev/apps/web.yaml", app("dev", "web")),
        ("clusters/prod/root.yaml", root("prod")),
        ("clusters/prod/apps/project.yaml", project("shop")),
        ("clusters/prod/apps/shop.yaml", app("prod", "shop")),
        ("apps/web/objects.yaml", objects("web")),
        ("apps/shop/objects.yaml", objects("shop")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let dir = repo_with(&[], &files);
    let (code, found) = findings(dir.path(), &[]);
    assert_ne!(code, 2, "{found:?}");
    assert_eq!(places(&found, "SOC-SYS-001"), [], "{found:?}");
    assert_eq!(places(&found, "SOC-POL-002"), [], "{found:?}");
}

/// A field left empty (`volumes:` in a rendered chart, `stringData:` with
/// nothing under it) is null, which the API server decodes as unset: the
/// embedded rules judge the object without it, and do not fail on it.
#[test]
fn fields_left_empty_are_judged_unset() {
    let deployment = DEPLOYMENT.replace(
        "          image: registry.example/hello:1.0\n",
        "          image: registry.example/hello:latest\n      volumes:\n      initContainers:\n",
    );
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: empty\nstringData:\ndata:\n";
    let dir = repo_with(
        &[],
        &[("deployment.yaml", &deployment), ("secret.yaml", secret)],
    );
    let (_, found) = findings(dir.path(), &[]);
    assert_eq!(places(&found, "SOC-POL-002"), [], "{found:?}");
    assert_eq!(places(&found, "SOC-SEC-001"), [], "{found:?}");
    // The Deployment is still judged: its floating image is denied.
    assert_eq!(
        places(&found, "SOC-K8S-002"),
        [("deployment.yaml", 16)],
        "{found:?}"
    );
}

/// A document at an API version the API server no longer serves is a
/// denial, not a pass for want of a schema; the served version passes.
#[test]
fn a_removed_api_version_is_a_denial() {
    let old = DEPLOYMENT.replace("apiVersion: apps/v1", "apiVersion: extensions/v1beta1");
    let dir = repo_with(&[], &[("old.yaml", &old), ("new.yaml", DEPLOYMENT)]);
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1, "{found:?}");
    let removed: Vec<(&str, u64)> = found
        .iter()
        .filter(|(r, _, _)| r == "SOC-SCHEMA-003")
        .map(|(_, f, l)| (f.as_str(), *l))
        .collect();
    assert_eq!(removed, [("old.yaml", 1)], "{found:?}");
    let run = check(dir.path(), &[]);
    assert!(
        run.stdout
            .contains("Deployment extensions/v1beta1 was removed in Kubernetes 1.16")
            && run.stdout.contains("use apps/v1"),
        "{}",
        run.stdout
    );
}

/// A Secret whose values only say where a secret manager keeps them is not
/// plaintext in git; the same Secret with one literal value is.
#[test]
fn a_secret_of_secret_manager_references_is_not_plaintext() {
    let references = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: op://platform/db/password\n  token: ref+vault://secret/app#token\n  user: ${DB_USER}\n";
    let literal = references.replace("op://platform/db/password", "hunter2");
    let dir = repo_with(
        &[],
        &[("refs.yaml", references), ("literal.yaml", &literal)],
    );
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1, "{found:?}");
    let denied: Vec<(&str, &str, u64)> = found
        .iter()
        .map(|(r, f, l)| (r.as_str(), f.as_str(), *l))
        .collect();
    assert_eq!(denied, [("SOC-SEC-001", "literal.yaml", 6)], "{found:?}");
}

/// A field set to `null` is the field unset, as the API server decodes it
/// (`kubectl create --dry-run -o yaml` writes `creationTimestamp: null`;
/// an `annotations:` key left empty is null): not a schema denial. A
/// required field set to null is still missing.
#[test]
fn a_null_field_is_the_field_unset() {
    let dumped = DEPLOYMENT
        .replace(
            "  name: hello\n",
            "  name: hello\n  creationTimestamp: null\n  annotations:\n",
        )
        .replace(
            "    metadata:\n",
            "    metadata:\n      creationTimestamp: null\n",
        );
    let unset = DEPLOYMENT.replace(
        "  selector:\n    matchLabels:\n      tier: web\n",
        "  selector: null\n",
    );
    let dir = repo_with(&[], &[("dumped.yaml", &dumped), ("unset.yaml", &unset)]);
    let (_, found) = findings(dir.path(), &[]);
    let schema: Vec<(&str, u64)> = found
        .iter()
        .filter(|(r, _, _)| r == "SOC-SCHEMA-001")
        .map(|(_, f, l)| (f.as_str(), *l))
        .collect();
    assert_eq!(schema, [("unset.yaml", 5)], "{found:?}");
}

/// A value an application builds from a local YAML tag (recyclarr's
/// `!env_var`, Home Assistant's `!secret`) is not a literal credential;
/// the same key with a literal is.
#[test]
fn a_locally_tagged_value_is_not_a_literal_credential() {
    let tagged = "sonarr:\n  series:\n    base_url: http://sonarr.default.svc.cluster.local\n    api_key: !env_var SONARR_API_KEY\nhomeassistant:\n  password: !secret db_password\n";
    let literal = tagged.replace("!env_var SONARR_API_KEY", "f3b1c9d2e8a7");
    let dir = repo_with(
        &[],
        &[
            ("tagged/recyclarr.yml", tagged),
            ("literal/recyclarr.yml", &literal),
        ],
    );
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1, "{found:?}");
    let denied: Vec<(&str, &str, u64)> = found
        .iter()
        .map(|(r, f, l)| (r.as_str(), f.as_str(), *l))
        .collect();
    assert_eq!(
        denied,
        [("SOC-SEC-003", "literal/recyclarr.yml", 4)],
        "{found:?}"
    );
}

/// socle denies a kustomization exactly when kustomize refuses it (checked
/// against the real `kubectl kustomize`), at the field: an unknown field,
/// a numeric image tag, labels that are not strings, `patches:` listing
/// bare paths as kustomize 1 did. The file such a bare path names is a
/// patch all the same, not a whole Deployment to judge.
#[test]
fn a_kustomization_is_denied_when_kustomize_refuses_it() {
    let head = "resources:\n  - deployment.yaml\n";
    let cases: [(&str, String, Option<u64>); 12] = [
        ("valid", format!("{head}namePrefix: a-\n"), None),
        ("typo", format!("{head}namePrefx: a-\n"), Some(3)),
        (
            "numeric-tag",
            format!("{head}images:\n  - name: registry.example/hello\n    newTag: 1.20\n"),
            Some(5),
        ),
        (
            "quoted-tag",
            format!("{head}images:\n  - name: registry.example/hello\n    newTag: \"1.20\"\n"),
            None,
        ),
        (
            "label-number",
            format!("{head}commonLabels:\n  tier: 1\n"),
            Some(4),
        ),
        (
            "label-null",
            format!("{head}commonLabels:\n  team: null\n"),
            None,
        ),
        // kustomize reads YAML 1.1: `no` is a boolean, `0755` an integer.
        ("prefix-no", format!("{head}namePrefix: no\n"), Some(3)),
        (
            "label-octal",
            format!("{head}commonLabels:\n  tier: 0755\n"),
            Some(4),
        ),
        (
            "behavior-add",
            format!("{head}configMapGenerator:\n  - name: settings\n    behavior: add\n    literals: [mode=debug]\n"),
            None,
        ),
        (
            "count-string",
            format!("{head}replicas:\n  - name: hello\n    count: \"2\"\n"),
            Some(5),
        ),
        (
            "bare-patch",
            format!("{head}patches:\n  - replicas.yaml\n"),
            Some(4),
        ),
        (
            "path-patch",
            format!("{head}patches:\n  - path: replicas.yaml\n"),
            None,
        ),
    ];
    let patch =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\nspec:\n  replicas: 2\n";
    let mut files: Vec<(String, String)> = Vec::new();
    for (name, kustomization, _) in &cases {
        files.push((format!("{name}/kustomization.yaml"), kustomization.clone()));
        files.push((format!("{name}/deployment.yaml"), DEPLOYMENT.to_owned()));
        if name.ends_with("-patch") {
            files.push((format!("{name}/replicas.yaml"), patch.to_owned()));
        }
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let dir = repo_with(&[], &refs);
    let (_, found) = findings(dir.path(), &[]);
    for (name, _, line) in &cases {
        let file = format!("{name}/kustomization.yaml");
        let denied: Vec<u64> = found
            .iter()
            .filter(|(r, f, _)| r == "SOC-SCHEMA-006" && *f == file)
            .map(|(_, _, l)| *l)
            .collect();
        assert_eq!(
            denied,
            line.iter().copied().collect::<Vec<_>>(),
            "{name}: {found:?}"
        );
        if let Some(kubectl) = crate::support::tool("kubectl") {
            let out = Command::new(kubectl)
                .args(["kustomize", name])
                .current_dir(dir.path())
                .output()
                .expect("kubectl kustomize");
            assert_eq!(
                out.status.success(),
                line.is_none(),
                "{name}: kustomize and socle disagree: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // The patch a bare path names is partial: no schema or workload
    // finding on it.
    assert!(
        !found.iter().any(|(_, f, _)| f.ends_with("replicas.yaml")),
        "{found:?}"
    );
}

/// A file in a kustomization's folder that no kustomization lists is never
/// built by kustomize (it builds the folder from its list): an operator
/// scaffold's optional patch, left out of the list, is not judged as a
/// Deployment. A whole object left out is judged (skaffold's `rawYaml` or
/// a script may apply it), and a credential in such a file is reported:
/// git holds it.
#[test]
fn what_a_kustomization_leaves_out_of_its_list_is_not_judged_whole() {
    let patch = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\nspec:\n  template:\n    spec:\n      containers:\n        - name: kube-rbac-proxy\n          image: quay.io/brancz/kube-rbac-proxy:latest\n";
    let secret = LITERAL_SECRET;
    let dir = repo_with(
        &[],
        &[
            ("config/default/kustomization.yaml", "resources:\n  - deployment.yaml\n# patches:\n#   - path: manager_auth_proxy_patch.yaml\n"),
            ("config/default/deployment.yaml", DEPLOYMENT),
            ("config/default/manager_auth_proxy_patch.yaml", patch),
            ("config/default/old-secret.yaml", secret),
            ("config/default/loadgenerator.yaml", DEPLOYMENT),
            ("loose/deployment.yaml", patch),
        ],
    );
    let (_, found) = findings(dir.path(), &[]);
    let on = |file: &str| -> Vec<&str> {
        found
            .iter()
            .filter(|(_, f, _)| f == file)
            .map(|(r, _, _)| r.as_str())
            .collect()
    };
    assert!(
        on("config/default/manager_auth_proxy_patch.yaml").is_empty(),
        "{found:?}"
    );
    assert_eq!(
        on("config/default/old-secret.yaml"),
        ["SOC-SEC-001"],
        "{found:?}"
    );
    assert_eq!(
        on("config/default/loadgenerator.yaml"),
        on("config/default/deployment.yaml"),
        "{found:?}"
    );
    assert!(
        !on("config/default/loadgenerator.yaml").is_empty(),
        "{found:?}"
    );
    // Outside any kustomization's folder the same file is judged whole.
    assert!(
        on("loose/deployment.yaml").contains(&"SOC-SCHEMA-001"),
        "{found:?}"
    );
}

/// A base Deployment with no `spec.selector` is whole once built when the
/// kustomizations on its way set commonLabels (kustomize creates the
/// selector from them, as `kubectl kustomize` shows); a root that does not
/// leaves it missing, and the finding names that root.
#[test]
fn a_selector_commonlabels_create_is_not_missing() {
    let bare = DEPLOYMENT.replace("  selector:\n    matchLabels:\n      tier: web\n", "");
    let labelled = "resources:\n  - deployment.yaml\ncommonLabels:\n  app: hello\n";
    let dir = repo_with(
        &[],
        &[
            ("labelled/kustomization.yaml", labelled),
            ("labelled/deployment.yaml", &bare),
            (
                "shared/base/kustomization.yaml",
                "resources:\n  - deployment.yaml\n",
            ),
            ("shared/base/deployment.yaml", &bare),
            (
                "shared/dev/kustomization.yaml",
                "resources:\n  - ../base\ncommonLabels:\n  app: hello\n",
            ),
            (
                "shared/prod/kustomization.yaml",
                "resources:\n  - ../base\nnamePrefix: prod-\n",
            ),
        ],
    );
    assert_eq!(schema_denied(dir.path()), ["shared/base/deployment.yaml"]);
    assert_says(
        dir.path(),
        "kustomize leaves it missing in shared/prod (the other roots' commonLabels create it)",
    );
    if let Some(kubectl) = crate::support::tool("kubectl") {
        let built = crate::support::kustomize_build(&kubectl, dir.path(), "labelled");
        assert_eq!(
            built[0]["spec"]["selector"]["matchLabels"]["app"], "hello",
            "{built:?}"
        );
        assert_eq!(
            built[0]["spec"]["template"]["metadata"]["labels"]["app"], "hello",
            "{built:?}"
        );
    }
}

/// A field a kustomization's transformer configuration has its namespace
/// transformer create (Kubeflow's `configurations: [params.yaml]` filling a
/// webhook's service namespace) is not missing once built, as `kubectl
/// kustomize` shows; a root without that configuration leaves it missing,
/// and the finding names that root.
#[test]
fn a_field_a_namespace_configuration_creates_is_not_missing() {
    let webhook = "apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: defaults
webhooks:
  - name: defaults.example.com
    admissionReviewVersions: [v1]
    sideEffects: None
    clientConfig:
      service:
        name: webhook
        path: /mutate
";
    let params = "namespace:
- kind: MutatingWebhookConfiguration
  group: admissionregistration.k8s.io
  path: webhooks/clientConfig/service/namespace
  create: true
";
    let dir = repo_with(
        &[],
        &[
            (
                "configured/kustomization.yaml",
                "namespace: tools\nresources: [webhook.yaml]\nconfigurations: [params.yaml]\n",
            ),
            ("configured/params.yaml", params),
            ("configured/webhook.yaml", webhook),
            (
                "shared/base/kustomization.yaml",
                "resources: [webhook.yaml]\n",
            ),
            ("shared/base/webhook.yaml", webhook),
            (
                "shared/dev/kustomization.yaml",
                "namespace: dev\nresources: [../base]\nconfigurations: [config/params.yaml]\n",
            ),
            ("shared/dev/config/params.yaml", params),
            (
                "shared/prod/kustomization.yaml",
                "namespace: prod\nresources: [../base]\n",
            ),
            // kustomize reads no configuration from outside the root: it
            // refuses the build.
            (
                "shared/stage/kustomization.yaml",
                "namespace: stage\nresources: [../base]\nconfigurations: [../../configured/params.yaml]\n",
            ),
        ],
    );
    assert_eq!(schema_denied(dir.path()), ["shared/base/webhook.yaml"]);
    assert_says(
        dir.path(),
        "kustomize leaves it missing in shared/prod, shared/stage (the other roots' kustomizations create it)",
    );
    if let Some(kubectl) = crate::support::tool("kubectl") {
        for (root, namespace) in [
            ("configured", Some("tools")),
            ("shared/dev", Some("dev")),
            ("shared/prod", None),
        ] {
            let built = crate::support::kustomize_build(&kubectl, dir.path(), root);
            assert_eq!(
                built[0]["webhooks"][0]["clientConfig"]["service"]["namespace"].as_str(),
                namespace,
                "{root}: {built:?}"
            );
        }
        let stage = Command::new(&kubectl)
            .args(["kustomize", "shared/stage"])
            .current_dir(dir.path())
            .output()
            .expect("kubectl kustomize");
        assert!(!stage.status.success());
    }
}

/// Files no tool deploys are skipped with the reason when they do not
/// parse (settings with comments, an Ansible Jinja template under a
/// `.yaml` name); a file a kustomization lists, or one in a repository that
/// does not say what it deploys, is still denied. An editor's settings and
/// a TypeScript project file are JSON with comments, and read as such.
#[test]
fn what_nothing_deploys_is_skipped_when_it_does_not_parse() {
    let settings = "{\n  // editor settings, with a comment\n  \"editor.tabSize\": 2,\n}\n";
    let jinja = "{% for user in users %}\n- name: {{ user }}\n{% endfor %}\n";
    let broken = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n";
    let kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n  - broken.yaml\n  - ../db\n";
    // A scaffold's kustomization, rendered into a new app's folder before
    // anything builds it; the same one a kustomization lists is denied.
    let scaffold = "resources:\n  - {{ .app_name }}.yaml\n";
    let dir = repo_with(
        &[],
        &[
            ("apps/web/kustomization.yaml", kustomization),
            ("apps/web/deployment.yaml", DEPLOYMENT),
            ("apps/web/broken.yaml", broken),
            ("apps/db/kustomization.yaml", scaffold),
            ("boilerplate/app/kustomization.yaml", scaffold),
            ("tools/settings.json", settings),
            ("ansible/templates/users.yaml", jinja),
            ("empty.json", ""),
        ],
    );
    // The files denied for not parsing, and the skipped files with why.
    let unparsed = |dir: &Path| -> (Vec<String>, String) {
        let run = check(dir, &["--format", "json"]);
        let json: Value =
            serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
        let parse = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "SOC-PARSE-001")
            .map(|f| f["file"].as_str().unwrap().to_owned())
            .collect();
        (parse, json["skipped"].to_string())
    };
    let (parse, skipped) = unparsed(dir.path());
    assert_eq!(
        parse,
        ["apps/db/kustomization.yaml", "apps/web/broken.yaml"],
        "{skipped}"
    );
    for file in [
        "tools/settings.json",
        "ansible/templates/users.yaml",
        "boilerplate/app/kustomization.yaml",
    ] {
        assert!(
            skipped.contains(file)
                && skipped
                    .contains("no kustomization, Application or Flux Kustomization deploys it"),
            "{file}: {skipped}"
        );
    }

    // Nothing says what is deployed: every file may be, so the template
    // is denied.
    let plain = repo_with(
        &[],
        &[
            ("ansible/templates/users.yaml", jinja),
            ("metal/roles/cilium/templates/pool.yaml", jinja),
            ("deployment.yaml", DEPLOYMENT),
            (".vscode/settings.json", settings),
            ("web/tsconfig.app.json", settings),
            ("tools/settings.json", settings),
        ],
    );
    let (parse, skipped) = unparsed(plain.path());
    assert_eq!(
        parse,
        ["ansible/templates/users.yaml", "tools/settings.json"],
        "{skipped}"
    );
    // An Ansible role's templates are Jinja that Ansible renders, as a
    // chart's are Go templates that Helm renders: skipped as templates.
    assert!(
        skipped.contains("metal/roles/cilium/templates/pool.yaml")
            && skipped.contains("template, not YAML until rendered"),
        "{skipped}"
    );
}

/// Kustomize patches are parts of objects: a strategic-merge patch that
/// changes one container's image, or deletes an object, is neither
/// schema-validated nor judged as a workload on its own. The same partial
/// Deployment listed as a resource is a whole object, and judged.
#[test]
fn kustomize_patches_are_not_judged_as_whole_objects() {
    let kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\npatches:\n  - path: image-patch.yaml\npatchesStrategicMerge:\n  - delete.yaml\n";
    let image_patch = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\nspec:\n  template:\n    spec:\n      containers:\n        - name: hello\n          image: registry.example/hello:1.1\n";
    let delete = "$patch: delete\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\n";
    let dir = repo_with(
        &[],
        &[
            ("apps/web/kustomization.yaml", kustomization),
            ("apps/web/deployment.yaml", DEPLOYMENT),
            ("apps/web/image-patch.yaml", image_patch),
            ("apps/web/delete.yaml", delete),
        ],
    );
    let (_, found) = findings(dir.path(), &[]);
    let on_patches: Vec<_> = found
        .iter()
        .filter(|(_, f, _)| f.ends_with("image-patch.yaml") || f.ends_with("delete.yaml"))
        .collect();
    assert!(on_patches.is_empty(), "{on_patches:?}");
    assert!(
        found
            .iter()
            .any(|(_, f, _)| f == "apps/web/deployment.yaml"),
        "the base Deployment is still judged: {found:?}"
    );

    let as_resource = kustomization
        .replace(
            "  - deployment.yaml\n",
            "  - deployment.yaml\n  - image-patch.yaml\n",
        )
        .replace("patches:\n  - path: image-patch.yaml\n", "");
    let dir = repo_with(
        &[],
        &[
            ("apps/web/kustomization.yaml", &as_resource),
            ("apps/web/deployment.yaml", DEPLOYMENT),
            ("apps/web/image-patch.yaml", image_patch),
            ("apps/web/delete.yaml", delete),
        ],
    );
    let (_, found) = findings(dir.path(), &[]);
    assert!(
        found
            .iter()
            .any(|(r, f, _)| f == "apps/web/image-patch.yaml" && r == "SOC-SCHEMA-001"),
        "{found:?}"
    );
}

/// Credentials in Helm values are examined wherever the values are: a Flux
/// HelmRelease's `spec.values`, and an ArgoCD Application's `helm.values`,
/// which holds them as YAML text (placed at the `values` field). References
/// pass.
#[test]
fn credentials_in_helm_values_are_denied_wherever_they_are() {
    let release = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: wordpress\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: wordpress\n  values:\n    wordpressPassword: hunter2\n";
    let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: wp\n  namespace: argocd\nspec:\n  project: apps\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: wp\n  source:\n    repoURL: https://charts.example\n    chart: wordpress\n    targetRevision: 1.2.3\n    helm:\n      values: |\n        auth:\n          password: hunter4\n          existingSecretPassword: ${WP_PASSWORD}\n";
    let dir = repo_with(&[], &[("release.yaml", release), ("app.yaml", app)]);
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1, "{found:?}");
    assert_eq!(
        places(&found, "SOC-SEC-003"),
        [("app.yaml", 16), ("release.yaml", 11)],
        "{found:?}"
    );
}

/// An Ingress with neither TLS nor a cert-manager issuer: what the platform
/// profile's SOC-ING-001 rejects.
const PLAIN_INGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  rules:\n    - host: web.example\n";

/// `socle-check.yaml` turns rules and groups off, changes severities (the
/// most specific entry wins) and excludes paths, each excluded file listed
/// as skipped with its pattern.
#[test]
fn the_configuration_turns_rules_off_changes_severities_and_excludes_paths() {
    let secret = LITERAL_SECRET;
    let files = [
        ("deployment.yaml", DEPLOYMENT),
        ("vendor/upstream/secret.yaml", secret),
    ];
    let dir = repo_with(&[], &files);
    let (code, before) = findings(dir.path(), &[]);
    assert_eq!(code, 1);
    let rules = |found: &[(String, String, u64)], file: &str| -> Vec<String> {
        let mut r: Vec<String> = found
            .iter()
            .filter(|(_, f, _)| f == file)
            .map(|(r, _, _)| r.clone())
            .collect();
        r.dedup();
        r
    };
    assert!(rules(&before, "deployment.yaml").contains(&"SOC-K8S-001".to_owned()));
    assert!(rules(&before, "deployment.yaml").contains(&"SOC-K8S-003".to_owned()));
    assert_eq!(
        rules(&before, "vendor/upstream/secret.yaml"),
        ["SOC-SEC-001"]
    );

    let config = "rules:\n  disable: [SOC-K8S-003]\n  severity:\n    SOC-K8S: warn\n    SOC-K8S-005: deny\nexclude:\n  - vendor\n";
    let dir = repo_with(&[], &[files[0], files[1], ("socle-check.yaml", config)]);
    let run = check(dir.path(), &["--format", "json"]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let list = json["findings"].as_array().unwrap();
    let of = |rule: &str| list.iter().find(|f| f["rule"] == rule);
    assert!(of("SOC-K8S-003").is_none(), "{list:?}");
    assert_eq!(of("SOC-K8S-001").unwrap()["severity"], "warn");
    assert_eq!(of("SOC-K8S-005").unwrap()["severity"], "deny");
    assert!(
        list.iter()
            .all(|f| f["file"] != "vendor/upstream/secret.yaml"),
        "{list:?}"
    );
    assert!(
        json["skipped"]
            .to_string()
            .contains("vendor/upstream/secret.yaml")
            && json["skipped"]
                .to_string()
                .contains("excluded by socle-check.yaml (vendor)"),
        "{}",
        json["skipped"]
    );
    // SOC-K8S-005 stays a denial.
    assert_eq!(run.code, 1, "{}", run.stdout);
    let calmer = config.replace("    SOC-K8S-005: deny\n", "");
    let dir = repo_with(&[], &[files[0], files[1], ("socle-check.yaml", &calmer)]);
    assert_eq!(check(dir.path(), &[]).code, 0);
}

/// A configuration that cannot be applied stops the check (exit 2) at its
/// line: a misspelt key, a rule that keeps the check closed.
#[test]
fn a_configuration_that_cannot_be_applied_is_an_input_error_at_its_line() {
    for (config, line, words) in [
        ("rules:\n  disabled: [SOC-K8S-003]\n", 2, "disabled"),
        ("rules:\n  disable:\n    - SOC-PARSE\n", 3, "SOC-PARSE-001"),
        ("kubernetes_version: \"v1.29\"\n", 1, "1.29"),
        ("exclude: [\"a/[b\"]\n", 1, "not a glob"),
    ] {
        let dir = repo_with(
            &[],
            &[
                ("deployment.yaml", DEPLOYMENT),
                ("socle-check.yaml", config),
            ],
        );
        let run = check(dir.path(), &[]);
        assert_eq!(run.code, 2, "{config}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(&format!("socle-check.yaml:{line}:")) && run.stderr.contains(words),
            "{config}: {}",
            run.stderr
        );
    }
    let schema = socle().args(["check", "--config-schema"]).output().unwrap();
    assert!(schema.status.success());
    let schema: Value = serde_json::from_slice(&schema.stdout).unwrap();
    assert_eq!(schema["title"], "socle-check.yaml");
    assert!(schema["properties"]["rules"].is_object(), "{schema}");
}

/// The platform profile's rules apply to a repository socle rendered (it has
/// a socle.lock) or whose configuration asks for them; generic rules apply
/// everywhere.
#[test]
fn platform_rules_apply_where_socle_rendered_or_where_asked() {
    let ingress_rules = |extra: &[(&str, &str)]| {
        let mut docs = vec![("ingress.yaml", PLAIN_INGRESS)];
        docs.extend_from_slice(extra);
        let dir = repo_with(&[], &docs);
        let (_, found) = findings(dir.path(), &[]);
        found
            .into_iter()
            .filter(|(_, f, _)| f == "ingress.yaml")
            .map(|(r, _, _)| r)
            .collect::<Vec<_>>()
    };
    assert!(!ingress_rules(&[]).contains(&"SOC-ING-001".to_owned()));
    for extra in [
        ("socle-check.yaml", "rules:\n  profile: platform\n"),
        ("socle.lock", "{}\n"),
    ] {
        assert!(
            ingress_rules(&[extra]).contains(&"SOC-ING-001".to_owned()),
            "{extra:?}"
        );
    }
    // A rendered repository can opt out.
    assert!(!ingress_rules(&[
        ("socle.lock", "{}\n"),
        ("socle-check.yaml", "rules:\n  profile: generic\n")
    ])
    .contains(&"SOC-ING-001".to_owned()));
}

/// The target Kubernetes version decides between "removed" (a denial) and
/// "removed later" (a warning before the upgrade).
#[test]
fn the_target_kubernetes_version_decides_removed_or_removed_later() {
    let old = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  rules:\n    - host: web.example\n";
    let dir = repo_with(&[], &[("old.yaml", old)]);
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1);
    assert!(
        found
            .iter()
            .any(|(r, f, l)| r == "SOC-SCHEMA-003" && f == "old.yaml" && *l == 1),
        "{found:?}"
    );
    for (version, rule, code) in [("1.21", "SOC-SCHEMA-004", 0), ("1.22", "SOC-SCHEMA-003", 1)] {
        let config = format!("kubernetes_version: \"{version}\"\n");
        let dir = repo_with(&[], &[("old.yaml", old), ("socle-check.yaml", &config)]);
        let run = check(dir.path(), &[]);
        assert_eq!(run.code, code, "{version}: {}", run.stdout);
        assert!(run.stdout.contains(rule), "{version}: {}", run.stdout);
        if rule == "SOC-SCHEMA-004" {
            assert!(
                run.stdout
                    .contains("served by Kubernetes 1.21, the target, but was removed in 1.22"),
                "{}",
                run.stdout
            );
        }
    }
}

/// What git ignores is not read, unless the index tracks it (a clone has
/// it, so ArgoCD deploys it); outside a git repository `.gitignore` means
/// nothing and every file is read.
#[test]
fn files_git_ignores_are_skipped_unless_tracked() {
    let secret = LITERAL_SECRET;
    let dir = repo_with(
        &[],
        &[
            (".gitignore", "local/\n*.local.yaml\n"),
            ("local/secret.yaml", secret),
            ("dev.local.yaml", secret),
            ("scratch.yaml", secret),
            ("tracked/secret.local.yaml", secret),
        ],
    );
    let sec = |dir: &Path| -> Vec<String> {
        let (_, found) = findings(dir, &[]);
        let mut files: Vec<String> = found
            .into_iter()
            .filter(|(r, _, _)| r == "SOC-SEC-001")
            .map(|(_, f, _)| f)
            .collect();
        files.dedup();
        files
    };
    // Not a repository yet: everything is read.
    assert_eq!(
        sec(dir.path()),
        [
            "dev.local.yaml",
            "local/secret.yaml",
            "scratch.yaml",
            "tracked/secret.local.yaml"
        ]
    );
    crate::support::git(dir.path(), &["init", "-q"]);
    fs_err::write(dir.path().join(".git/info/exclude"), "scratch.yaml\n").unwrap();
    crate::support::git(dir.path(), &["add", "-f", "tracked/secret.local.yaml"]);
    assert_eq!(sec(dir.path()), ["tracked/secret.local.yaml"]);
}

/// A kustomize app as teams write them: a base with an untagged image, an
/// overlay whose `images:` pins it and whose patch sets replicas. What
/// kustomize builds is pinned, so the base is not an unpinned-image denial
/// and the patch is not judged as a whole Deployment; an overlay that leaves
/// the image floating keeps the denial, on the base's line, naming it.
#[test]
fn kustomize_images_are_applied_before_judging_pinning() {
    let base = DEPLOYMENT
        .replace("registry.example/hello:1.0", "registry.example/hello")
        .replace(
            "    spec:\n      containers",
            "    spec:\n      securityContext:\n        runAsNonRoot: true\n      containers",
        );
    let prod = "resources:\n  - ../../base\nimages:\n  - name: registry.example/hello\n    newTag: \"1.4.2\"\npatches:\n  - path: replicas.yaml\n";
    let replicas =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\nspec:\n  replicas: 3\n";
    let files = [
        (
            "app/base/kustomization.yaml",
            "resources:\n  - deployment.yaml\n".to_owned(),
        ),
        ("app/base/deployment.yaml", base.clone()),
        ("app/overlays/prod/kustomization.yaml", prod.to_owned()),
        ("app/overlays/prod/replicas.yaml", replicas.to_owned()),
    ];
    let owned: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let dir = repo_with(&[], &owned);
    let (_, found) = findings(dir.path(), &[]);
    let on = |rule: &str| -> Vec<(String, u64)> {
        found
            .iter()
            .filter(|(r, _, _)| r == rule)
            .map(|(_, f, l)| (f.clone(), *l))
            .collect()
    };
    assert!(on("SOC-K8S-002").is_empty(), "{found:?}");
    assert!(
        found
            .iter()
            .all(|(_, f, _)| f != "app/overlays/prod/replicas.yaml"),
        "{found:?}"
    );
    // The model agrees with kustomize itself.
    if let Some(kubectl) = crate::support::tool("kubectl") {
        let out = Command::new(kubectl)
            .args(["kustomize"])
            .arg(dir.path().join("app/overlays/prod"))
            .output()
            .unwrap();
        let built = String::from_utf8_lossy(&out.stdout);
        assert!(
            built.contains("image: registry.example/hello:1.4.2") && built.contains("replicas: 3"),
            "{built}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let mut with_dev = owned.clone();
    with_dev.push((
        "app/overlays/dev/kustomization.yaml",
        "resources:\n  - ../../base\n",
    ));
    let dir = repo_with(&[], &with_dev);
    let run = check(dir.path(), &["--format", "json"]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let unpinned: Vec<&Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "SOC-K8S-002")
        .collect();
    assert_eq!(unpinned.len(), 1, "{unpinned:?}");
    assert_eq!(unpinned[0]["file"], "app/base/deployment.yaml");
    assert_eq!(
        unpinned[0]["line"].as_u64(),
        Some(line_of(&base, "image: registry.example/hello"))
    );
    assert!(
        unpinned[0]["message"]
            .as_str()
            .unwrap()
            .contains("kustomize leaves it unpinned in app/overlays/dev"),
        "{unpinned:?}"
    );
    // The other way round: a base pinned as written, floated by an overlay.
    let pinned_base = base.replace("registry.example/hello", "registry.example/hello:1.0");
    let floating = prod.replace("newTag: \"1.4.2\"", "newTag: latest");
    let dir = repo_with(
        &[],
        &[
            (
                "app/base/kustomization.yaml",
                "resources:\n  - deployment.yaml\n",
            ),
            ("app/base/deployment.yaml", &pinned_base),
            ("app/overlays/prod/kustomization.yaml", &floating),
            ("app/overlays/prod/replicas.yaml", replicas),
        ],
    );
    let (code, found) = findings(dir.path(), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        found
            .iter()
            .filter(|(r, _, _)| r == "SOC-K8S-002")
            .map(|(_, f, l)| (f.as_str(), *l))
            .collect::<Vec<_>>(),
        [(
            "app/base/deployment.yaml",
            line_of(&pinned_base, "image: registry.example/hello")
        )]
    );
}

/// conftest's `--data`: documents the policies read as `data`. As in its
/// data example, a LoadBalancer Service that exposes a port the data lists
/// is denied; without the data the rule has nothing to compare with.
#[test]
fn data_documents_reach_the_policies() {
    let policy = "package main\n\nimport data.services\n\n\
        deny contains msg if {\n\tinput.kind == \"Service\"\n\tinput.spec.type == \"LoadBalancer\"\n\tsome port in input.spec.ports\n\tport.port in services.ports\n\tmsg := sprintf(\"port %v may not be exposed on a load balancer\", [port.port])\n}\n";
    let service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: ssh\nspec:\n  type: LoadBalancer\n  ports:\n    - port: 22\n  selector:\n    app: ssh\n";
    let dir = repo_with(
        &[("policies/base.rego", policy)],
        &[
            ("service.yaml", service),
            ("exclusions/services.yaml", "services:\n  ports: [22, 21]\n"),
        ],
    );
    let ours = |extra: &[&str]| {
        let (code, found) = findings(dir.path(), extra);
        let rules: Vec<String> = found
            .into_iter()
            .filter(|(r, _, _)| r.starts_with("main."))
            .map(|(r, f, _)| format!("{r} {f}"))
            .collect();
        (code, rules)
    };
    assert_eq!(ours(&[]).1, Vec::<String>::new());
    let data = dir.path().join("exclusions");
    let (code, rules) = ours(&["--data", data.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(rules, ["main.deny service.yaml"]);
    // A data file that does not parse is an input error naming it.
    let bad = dir.path().join("bad.yaml");
    fs_err::write(&bad, "a: 1\n  b: [\n").unwrap();
    let run = check(dir.path(), &["--data", bad.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("bad.yaml:"), "{}", run.stderr);
}

/// conftest's `--combine`: every document in one input, `[{path, contents}]`,
/// one entry per document. As in its combine example, of two Deployments and
/// one Service, the Deployment no Service selects is the one violation; one
/// document at a time, the rule cannot see the Service at all.
#[test]
fn combined_input_lets_a_policy_compare_documents() {
    let policy = "package main\n\n\
        violation contains msg if {\n\tsome entry in input\n\tentry.contents.kind == \"Deployment\"\n\tapp := entry.contents.spec.selector.matchLabels.app\n\tnot selected(app)\n\tmsg := sprintf(\"Deployment %q has no Service\", [entry.contents.metadata.name])\n}\n\n\
        selected(app) if {\n\tsome entry in input\n\tentry.contents.kind == \"Service\"\n\tentry.contents.spec.selector.app == app\n}\n";
    let deployment = |name: &str| {
        DEPLOYMENT
            .replace("name: hello", &format!("name: {name}"))
            .replace("tier: web", &format!("app: {name}"))
    };
    let all = format!(
        "{}---\n{}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: hello\nspec:\n  ports:\n    - port: 80\n  selector:\n    app: hello\n",
        deployment("hello"),
        deployment("goodbye")
    );
    let dir = repo_with(&[("policies/combine.rego", policy)], &[("all.yaml", &all)]);
    let run = check(dir.path(), &["--format", "json", "--combine"]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let ours: Vec<(&str, &str)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "main.violation")
        .map(|f| (f["file"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ours,
        [(
            "policies/combine.rego",
            "(combined) Deployment \"goodbye\" has no Service"
        )]
    );
    assert_eq!(run.code, 1);
    let (_, found) = findings(dir.path(), &[]);
    assert!(
        found.iter().all(|(r, _, _)| r != "main.violation"),
        "{found:?}"
    );
}

/// Custom resources are validated against the CRDs of the checked tree (its
/// served versions; an unserved one is refused), a kind with no schema is
/// counted as not validated, and a CRD's own schema text is no credential.
#[test]
fn custom_resources_meet_their_definitions() {
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          properties:\n            spec:\n              type: object\n              properties:\n                size: {type: integer}\n                password: {type: string, description: \"-----BEGIN PRIVATE KEY----- starts it\", default: hunter2}\n    - name: v1beta1\n      served: false\n      storage: false\n      schema:\n        openAPIV3Schema: {type: object}\n";
    let widgets = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a}\nspec:\n  size: 3\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: b}\nspec:\n  sise: 3\n---\napiVersion: example.com/v1beta1\nkind: Widget\nmetadata: {name: c}\n---\napiVersion: example.org/v1\nkind: Gizmo\nmetadata: {name: d}\n";
    let dir = repo_with(&[], &[("crd.yaml", crd), ("widgets.yaml", widgets)]);
    let run = check(dir.path(), &["--format", "json"]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let found: Vec<(String, String, u64)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["file"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("SOC-SCHEMA-001".to_owned(), "widgets.yaml".to_owned(), 11),
            ("SOC-SCHEMA-003".to_owned(), "widgets.yaml".to_owned(), 13),
        ]
    );
    assert_eq!(
        json["not_validated"],
        serde_json::json!({"Gizmo (example.org/v1)": 1})
    );
    let text = check(dir.path(), &[]);
    assert!(
        text.stdout.contains("Not validated (no schema for the kind: add its CRD to the repository): 1 document(s): Gizmo (example.org/v1) x1"),
        "{}",
        text.stdout
    );
    // Against the repository's own CRD, the finding names no other source.
    assert!(!text.stdout.contains("bundled from"), "{}", text.stdout);
    // Bundled schemas: an ExternalSecret with a misspelt field, no CRD in
    // the tree.
    let es = "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: db}\nspec:\n  secretStoreRef: {name: vault, kind: ClusterSecretStore}\n  target: {name: db}\n  dataFrom:\n    - extract: {key: db}\n  refreshIntervall: 1h\n";
    let dir = repo_with(&[], &[("es.yaml", es)]);
    let (_, found) = findings(dir.path(), &[]);
    assert_eq!(
        found,
        [("SOC-SCHEMA-001".to_owned(), "es.yaml".to_owned(), 9)],
        "{found:?}"
    );
    // The finding names the release whose schema refused it, and how to
    // judge against another: a cluster may run a newer operator.
    let text = check(dir.path(), &[]);
    assert!(
        text.stdout.contains("(the schema bundled from external-secrets@v2.9.0; a CustomResourceDefinition in the repository takes its place)"),
        "{}",
        text.stdout
    );
    // Flux's kinds are bundled too: a HelmRelease with a misspelt field
    // and a Kustomization whose interval is a number are denied, their
    // correct forms (with free-form values) pass.
    let flux = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: charts, namespace: flux-system}\nspec:\n  interval: 1h\n  url: https://charts.example\n---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: web, namespace: web}\nspec:\n  interval: 30m\n  chart:\n    spec:\n      chart: web\n      version: 1.2.3\n      sourceRef: {kind: HelmRepository, name: charts, namespace: flux-system}\n  values:\n    anything: {goes: here}\n---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: api, namespace: web}\nspec:\n  intervall: 30m\n  chart:\n    spec:\n      chart: api\n      sourceRef: {kind: HelmRepository, name: charts, namespace: flux-system}\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\nspec:\n  interval: 10\n  path: ./apps\n  prune: true\n  sourceRef: {kind: GitRepository, name: flux-system}\n";
    let dir = repo_with(&[], &[("flux.yaml", flux)]);
    let run = check(dir.path(), &["--format", "json"]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let schema: Vec<(u64, &str)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "SOC-SCHEMA-001")
        .map(|f| (f["line"].as_u64().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(schema.len(), 3, "{schema:?}");
    assert!(
        schema
            .iter()
            .any(|(l, m)| *l == 25 && m.contains("'intervall' was unexpected")),
        "{schema:?}"
    );
    assert!(
        schema
            .iter()
            .any(|(l, m)| *l == 24 && m.contains("\"interval\" is a required property")),
        "{schema:?}"
    );
    assert!(
        schema
            .iter()
            .any(|(l, m)| *l == 35 && m.contains("10 is not of type \"string\"")),
        "{schema:?}"
    );
    assert_eq!(
        json["not_validated"],
        serde_json::json!({}),
        "{}",
        run.stdout
    );
}

/// One run writes every report a CI job needs: each FORMAT=FILE to its file,
/// at most one format to stdout; the exit code is the check's.
#[test]
fn one_run_writes_several_reports() {
    let dir = repo_with(&[], &[("deployment.yaml", DEPLOYMENT)]);
    let out = tempfile::tempdir().unwrap();
    let sarif = out.path().join("socle.sarif");
    let json = out.path().join("socle.json");
    let run = check(
        dir.path(),
        &[
            "--format",
            &format!("sarif={}", sarif.display()),
            "--format",
            &format!("json={}", json.display()),
            "--format",
            "github",
        ],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("::error file=deployment.yaml"),
        "{}",
        run.stdout
    );
    let sarif: Value = serde_json::from_slice(&fs_err::read(&sarif).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let json: Value = serde_json::from_slice(&fs_err::read(&json).unwrap()).unwrap();
    assert!(json["summary"]["denials"].as_u64().unwrap() > 0);
    for (args, words) in [
        (
            vec!["--format", "json", "--format", "text"],
            "more than one report goes to stdout",
        ),
        (vec!["--format", "xml"], "unknown format \"xml\""),
        (vec!["--format", "sarif="], "name the file"),
    ] {
        let run = check(dir.path(), &args);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(run.stderr.contains(words), "{args:?}: {}", run.stderr);
    }
}

/// The OASIS SARIF 2.1.0 schema file the serde-sarif crate ships (found
/// through cargo, so the test needs no network).
fn sarif_schema() -> std::path::PathBuf {
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc names its host");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
            &host,
        ])
        .current_dir(crate::support::repo_root())
        .output()
        .expect("cargo metadata");
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .expect("serde-sarif is a dependency")["manifest_path"]
        .as_str()
        .unwrap()
        .to_owned();
    std::path::Path::new(&manifest)
        .with_file_name("src")
        .join("schema.json")
}

/// `socle schema report` publishes the schema of `--format json`, and a
/// real report (findings, exceptions, skipped files, unvalidated kinds)
/// meets it; the other schemas print too.
#[test]
fn the_json_report_meets_its_published_schema() {
    let schema = socle().args(["schema", "report"]).output().unwrap();
    assert!(schema.status.success());
    let schema: Value = serde_json::from_slice(&schema.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let gizmo = "apiVersion: example.org/v1\nkind: Gizmo\nmetadata: {name: d}\n";
    let dir = repo_with(
        &[(
            "policies/exceptions.yaml",
            "- rule: SOC-K8S-008\n  path: deployment.yaml\n  reason: vendor image\n  owner: platform\n  expires: 2999-01-01\n",
        )],
        &[
            ("deployment.yaml", DEPLOYMENT),
            ("gizmo.yaml", gizmo),
            ("logo.png", "\u{0}\u{1}binary"),
        ],
    );
    let run = check(dir.path(), &["--format", "json"]);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(!report["findings"].as_array().unwrap().is_empty());
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["excepted_by"].is_string()));
    assert!(!report["not_validated"].as_object().unwrap().is_empty());
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let mut broken = report.clone();
    broken["summary"]["denials"] = Value::from("many");
    assert!(!validator.is_valid(&broken));
    for which in ["spec", "config", "system"] {
        let out = socle().args(["schema", which]).output().unwrap();
        assert!(out.status.success(), "{which}");
        let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(jsonschema::validator_for(&schema).is_ok(), "{which}");
    }
}

const BAD_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n    - name: app\n      image: busybox:latest\n      securityContext:\n        privileged: true\n";

/// A policy library tests its policies with harnesses (chainsaw, Kyverno's
/// CLI): the resources they feed the policies are made to break them, and
/// no cluster is given them. They are skipped, with the harness that reads
/// them; what a harness tests (its policies, an app it applies from
/// outside its folder), what a kustomization lists and what no harness
/// names stay judged.
#[test]
fn a_policy_library_s_test_inputs_are_skipped_and_what_it_tests_is_judged() {
    let chainsaw = "apiVersion: chainsaw.kyverno.io/v1alpha1
kind: Test
metadata:
  name: require-limits
spec:
  steps:
  - try:
    - apply:
        file: ../require-limits.yaml
    - assert:
        file: policy-ready.yaml
    - apply:
        file: ../../apps/web/deployment.yaml
    - apply:
        file: bad-*.yaml
        expect:
        - check:
            ($error != null): true
";
    let kyverno = "apiVersion: cli.kyverno.io/v1alpha1
kind: Test
metadata:
  name: require-limits
policies:
- ../require-limits.yaml
resources:
- resource.yaml
results:
- policy: require-limits
  rule: limits
  kind: Pod
  resources: [bad]
  patchedResources: patched.yaml
  result: fail
";
    let policy = "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: require-limits\nspec:\n  rules: []\n";
    let ready = "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: require-limits\nstatus:\n  (conditions[?type == 'Ready']):\n  - status: 'True'\n";
    let dir = repo_with(
        &[],
        &[
            ("library/require-limits/require-limits.yaml", policy),
            (
                "library/require-limits/.chainsaw-test/chainsaw-test.yaml",
                chainsaw,
            ),
            (
                "library/require-limits/.chainsaw-test/policy-ready.yaml",
                ready,
            ),
            (
                "library/require-limits/.chainsaw-test/bad-privileged.yaml",
                BAD_POD,
            ),
            (
                "library/require-limits/.chainsaw-test/bad-root.yaml",
                BAD_POD,
            ),
            // A fixture in a test's folder that no harness names.
            ("library/require-limits/.chainsaw-test/stray.yaml", BAD_POD),
            // One outside any test's folder: judged.
            ("library/require-limits/samples/stray.yaml", BAD_POD),
            (
                "library/require-limits/.kyverno-test/kyverno-test.yaml",
                kyverno,
            ),
            (
                "library/require-limits/.kyverno-test/resource.yaml",
                BAD_POD,
            ),
            ("library/require-limits/.kyverno-test/patched.yaml", BAD_POD),
            // A test input a kustomization also lists: deployed, judged.
            (
                "library/require-limits/.kyverno-test/kustomization.yaml",
                "resources: [patched.yaml]\n",
            ),
            ("apps/web/deployment.yaml", DEPLOYMENT),
        ],
    );
    let run = check(dir.path(), &["--format", "json"]);
    let json: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(run.code, 1, "{}", run.stdout);
    let mut judged: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    judged.dedup();
    assert_eq!(
        judged,
        [
            "apps/web/deployment.yaml",
            "library/require-limits/.kyverno-test/patched.yaml",
            "library/require-limits/samples/stray.yaml",
        ],
        "{}",
        run.stdout
    );
    let skipped: Vec<(&str, &str)> = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    let chainsaw_input = "a test input of library/require-limits/.chainsaw-test/chainsaw-test.yaml (chainsaw test): no kustomization, Application or Flux Kustomization deploys it";
    let kyverno_input = "a test input of library/require-limits/.kyverno-test/kyverno-test.yaml (Kyverno CLI test): no kustomization, Application or Flux Kustomization deploys it";
    assert_eq!(
        skipped,
        [
            ("library/require-limits/.chainsaw-test/bad-privileged.yaml", chainsaw_input),
            ("library/require-limits/.chainsaw-test/bad-root.yaml", chainsaw_input),
            (
                "library/require-limits/.chainsaw-test/chainsaw-test.yaml",
                "a test (chainsaw test): no kustomization, Application or Flux Kustomization deploys it"
            ),
            ("library/require-limits/.chainsaw-test/policy-ready.yaml", chainsaw_input),
            (
                "library/require-limits/.chainsaw-test/stray.yaml",
                "a test input of library/require-limits/.chainsaw-test/chainsaw-test.yaml (chainsaw test), in its folder: no kustomization, Application or Flux Kustomization deploys it"
            ),
            (
                "library/require-limits/.kyverno-test/kyverno-test.yaml",
                "a test (Kyverno CLI test): no kustomization, Application or Flux Kustomization deploys it"
            ),
            ("library/require-limits/.kyverno-test/resource.yaml", kyverno_input),
        ],
    );
    // The policy, the app, the sample, the listed fixture and its
    // kustomization: the harnesses' files are not counted as checked.
    assert_eq!(json["summary"]["documents"], 5, "{}", run.stdout);
    assert_eq!(
        json["not_validated"]["ClusterPolicy (kyverno.io/v1)"], 1,
        "{}",
        run.stdout
    );
}

/// A kind's version defined twice, differently (a chart's CRD at two
/// releases, a test's golden output beside the chart): the tree does not
/// say which a cluster runs, so a resource is refused only when every
/// definition refuses it, and the finding names them all.
#[test]
fn a_resource_is_refused_only_when_each_definition_of_its_kind_refuses_it() {
    let crd = |fields: &str| {
        format!("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names: {{kind: Widget, plural: widgets}}\n  scope: Namespaced\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          properties:\n            spec:\n              type: object\n              properties: {{{fields}}}\n")
    };
    let widget = |spec: &str| {
        format!("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: default\nspec: {spec}\n")
    };
    let old = crd("size: {type: integer}, shade: {type: string}");
    let new = crd("size: {type: integer}, colour: {type: string}");
    let dir = repo_with(
        &[],
        &[
            ("charts/widgets/crds/widgets.yaml", &new),
            ("charts/widgets/testdata/golden.yaml", &old),
            ("apps/coloured.yaml", &widget("{size: 2, colour: red}")),
            // Only the older definition, the second by path, has it.
            ("apps/shaded.yaml", &widget("{size: 2, shade: dark}")),
            ("apps/misspelt.yaml", &widget("{sise: 2}")),
        ],
    );
    let run = check(dir.path(), &["--format", "json"]);
    let json: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    let schema: Vec<(&str, &str)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "SOC-SCHEMA-001")
        .map(|f| (f["file"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        schema,
        [(
            "apps/misspelt.yaml",
            "Widget spec: Additional properties are not allowed ('sise' was unexpected) (by charts/widgets/crds/widgets.yaml; its other definitions in the repository refuse it too: charts/widgets/testdata/golden.yaml)"
        )],
        "{}",
        run.stdout
    );
    // One definition, the older: the colour is refused.
    fs_err::remove_file(dir.path().join("charts/widgets/crds/widgets.yaml")).unwrap();
    let (_, found) = findings(dir.path(), &[]);
    assert_eq!(
        places(&found, "SOC-SCHEMA-001"),
        [("apps/coloured.yaml", 6), ("apps/misspelt.yaml", 6)],
        "{found:?}"
    );
}
