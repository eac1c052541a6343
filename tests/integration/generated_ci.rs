//! The CI of the generated repository: both pipelines (GitHub Actions and
//! GitLab CI) run, on every pull request and push to the default branch, one
//! job per check — every kustomize overlay rendered, `socle check` with the
//! system simulation, `dbt build` on DuckDB, every DAG imported, promtool
//! on the alert rules and their unit tests, the Rego tests — with actions
//! pinned by commit and tools by exact version. Then the commands the GitHub
//! jobs run are run here, in a rendered repository, with the real tools
//! (skipped only when a tool is absent and `SOCLE_REQUIRE_TOOLS` is unset).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use socle::render::FileSet;

use crate::support::{
    airflow_python, git, materialise, missing, render, repo_root, text, venv_bin,
};

/// Each test job of `.github/workflows/tests.yaml` (and of `.gitlab-ci.yml`)
/// and the command it runs, the same in both pipelines.
const CHECK_JOBS: [(&str, &str); 6] = [
    ("render-overlays", "bash ci/render-overlays.sh"),
    ("dbt-build", "bash ci/dbt-build.sh"),
    ("airflow-dags", "bash ci/import-dags.sh"),
    ("alert-rules", "bash ci/check-alert-rules.sh"),
    ("policy-tests", "bash ci/policy-tests.sh"),
    ("opa-tests", "sh ci/opa-tests.sh"),
];

/// What each job installs before its check (in GitHub's "Install" steps and
/// GitLab's `before_script`), and the files its pip cache is keyed on.
const INSTALLS: [(&str, &[&str], &[&str]); 4] = [
    (
        "render-overlays",
        &["python3 ci/install_tool.py kustomize"],
        &[],
    ),
    (
        "dbt-build",
        &["pip install", "-r ci/requirements-dbt.txt"],
        &["ci/requirements-dbt.txt", "ci/constraints-dbt.txt"],
    ),
    (
        "airflow-dags",
        &["pip install", "-r ci/requirements-airflow.txt"],
        &["ci/requirements-airflow.txt", "ci/constraints-airflow.txt"],
    ),
    (
        "alert-rules",
        &[
            "-r ci/requirements-rules.txt",
            "ci/install_tool.py promtool",
        ],
        &["ci/requirements-rules.txt"],
    ),
];

const SOCLE_ACTION: &str = "socle-dev/socle/ci/github";

/// What the repository runs with, recorded where the tests can check the
/// pipelines against it: the Argo CD chart → the kustomize its Argo CD
/// bundles (argo-cd `hack/tool-versions.sh`); the kube-prometheus-stack
/// chart → its Prometheus (the chart's `prometheus.prometheusSpec.image`).
/// A chart upgrade fails here until the CI's pin follows it.
const KUSTOMIZE_OF_ARGO_CD_CHART: (&str, &str) = ("10.1.1", "5.8.1");
const PROMETHEUS_OF_KPS_CHART: (&str, &str) = ("88.5.3", "3.14.0");

/// The rendered repositories, shared by the tests of this file.
fn rendered(spec: Option<&str>) -> &'static FileSet {
    static DEFAULT: OnceLock<FileSet> = OnceLock::new();
    static FULL: OnceLock<FileSet> = OnceLock::new();
    match spec {
        None => DEFAULT.get_or_init(|| render(None)),
        Some("full.yaml") => FULL.get_or_init(|| render(Some("full.yaml"))),
        Some(other) => panic!("no shared render of {other}"),
    }
}

fn default_files() -> &'static FileSet {
    rendered(None)
}

fn yaml(files: &FileSet, path: &str) -> Value {
    serde_saphyr::from_str(text(files, path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn socle_version(files: &FileSet) -> String {
    let lock = yaml(files, "socle.lock");
    let version = lock["socle_version"].as_str().expect("socle_version");
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    version.to_owned()
}

fn revision(files: &FileSet) -> String {
    yaml(files, "socle.yaml")["repository"]["revision"]
        .as_str()
        .unwrap_or("main")
        .to_owned()
}

pub(crate) fn seq(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

pub(crate) fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// The steps of a job that install its tools, by the name convention of the
/// generated workflows ("Install ..."); the others are the check.
fn is_install(step: &Value) -> bool {
    str_of(&step["name"]).starts_with("Install ")
}

fn check_runs(job: &Value) -> Vec<String> {
    seq(&job["steps"])
        .iter()
        .filter(|s| s["run"].is_string() && !is_install(s))
        .map(|s| str_of(&s["run"]).trim().to_owned())
        .collect()
}

/// A workflow's triggers: pull requests (any branch) and pushes to the
/// default branch.
fn assert_triggers(name: &str, workflow: &Value, revision: &str) {
    let on = &workflow["on"];
    assert!(
        on.get("pull_request").is_some(),
        "{name}: not run on pull requests: {on}"
    );
    assert!(
        on["pull_request"].is_null() || on["pull_request"]["branches"].is_null(),
        "{name}: pull requests filtered by branch: {on}"
    );
    assert_eq!(
        seq(&on["push"]["branches"]),
        vec![Value::from(revision)],
        "{name}: pushes to {revision}"
    );
}

#[test]
fn github_runs_every_check_on_pull_requests() {
    for spec in [None, Some("full.yaml")] {
        let files = rendered(spec);
        let version = socle_version(files);
        let revision = revision(files);

        let socle = yaml(files, ".github/workflows/socle.yaml");
        assert_triggers("socle.yaml", &socle, &revision);
        let jobs = socle["jobs"].as_object().expect("jobs");
        assert_eq!(jobs.keys().collect::<Vec<_>>(), ["socle-check"], "{spec:?}");
        let steps = seq(&jobs["socle-check"]["steps"]);
        let checkout = steps
            .iter()
            .find(|s| str_of(&s["uses"]).starts_with("actions/checkout@"))
            .expect("checkout");
        assert_eq!(
            checkout["with"]["fetch-depth"], 0,
            "the range needs history"
        );
        let action = steps
            .iter()
            .find(|s| str_of(&s["uses"]).starts_with(SOCLE_ACTION))
            .expect("socle's action");
        assert_eq!(
            str_of(&action["uses"]),
            format!("{SOCLE_ACTION}@v{version}"),
            "socle's action of the release that rendered the repository"
        );
        let with = &action["with"];
        assert_eq!(str_of(&with["socle-version"]), version);
        assert!(str_of(&with["base"]).contains("github.event.pull_request.base.sha"));
        assert!(str_of(&with["head"]).contains("github.event.pull_request.head.sha"));

        let tests = yaml(files, ".github/workflows/tests.yaml");
        assert_triggers("tests.yaml", &tests, &revision);
        let jobs = tests["jobs"].as_object().expect("jobs");
        let names: BTreeSet<&str> = jobs.keys().map(String::as_str).collect();
        let expected: BTreeSet<&str> = CHECK_JOBS.iter().map(|(j, _)| *j).collect();
        assert_eq!(names, expected, "{spec:?}: one job per check");
        for (job, command) in CHECK_JOBS {
            let job_value = &jobs[job];
            assert!(job_value.get("if").is_none(), "{job}: runs on every event");
            assert_eq!(check_runs(job_value), [command], "{spec:?}: {job}");
            // The check runs after its tools are installed.
            let steps = seq(&job_value["steps"]);
            let check_at = steps
                .iter()
                .position(|s| str_of(&s["run"]).trim() == command)
                .unwrap();
            assert!(
                steps[..check_at]
                    .iter()
                    .any(|s| str_of(&s["uses"]).starts_with("actions/checkout@")),
                "{job}: no checkout before the check"
            );
            for later in &steps[check_at + 1..] {
                assert!(
                    !is_install(later),
                    "{job}: installs after its check: {later}"
                );
            }
        }
        for (job, installs, cache_keys) in INSTALLS {
            let steps = seq(&jobs[job]["steps"]);
            let installed: String = steps
                .iter()
                .filter(|s| is_install(s))
                .map(|s| str_of(&s["run"]))
                .collect();
            for install in installs {
                assert!(installed.contains(install), "{job}: no `{install}`");
            }
            if let Some(python) = steps
                .iter()
                .find(|s| str_of(&s["uses"]).starts_with("actions/setup-python@"))
            {
                assert_eq!(python["with"]["cache"], "pip", "{job}");
                let keys = str_of(&python["with"]["cache-dependency-path"]);
                for key in cache_keys {
                    assert!(keys.contains(key), "{job}: pip cache not keyed on {key}");
                }
            }
        }
        // socle for the policy tests: the release, installed by socle's
        // action without checking anything.
        let install = seq(&jobs["policy-tests"]["steps"])
            .into_iter()
            .find(|s| str_of(&s["uses"]).starts_with(SOCLE_ACTION))
            .expect("socle install");
        assert_eq!(
            str_of(&install["uses"]),
            format!("{SOCLE_ACTION}@v{version}")
        );
        assert_eq!(str_of(&install["with"]["socle-version"]), version);
        assert_eq!(str_of(&install["with"]["check"]), "false");
        assert!(
            !text(files, ".github/workflows/tests.yaml").contains("cargo install"),
            "socle is never built in CI"
        );
    }
}

#[test]
fn gitlab_runs_the_same_checks_on_merge_requests() {
    for spec in [None, Some("full.yaml")] {
        let files = rendered(spec);
        let version = socle_version(files);
        let revision = revision(files);
        let ci = yaml(files, ".gitlab-ci.yml");

        let rules: Vec<String> = seq(&ci["workflow"]["rules"])
            .iter()
            .map(|r| str_of(&r["if"]).to_owned())
            .collect();
        assert_eq!(
            rules,
            [
                "$CI_PIPELINE_SOURCE == \"merge_request_event\"".to_owned(),
                format!("$CI_COMMIT_BRANCH == '{revision}'"),
            ],
            "{spec:?}: pipelines on merge requests and on {revision}"
        );
        let include = str_of(&seq(&ci["include"])[0]["remote"]).to_owned();
        assert!(
            include.ends_with(&format!("/v{version}/ci/gitlab/socle.gitlab-ci.yml")),
            "socle's template of the release: {include}"
        );

        let socle = &ci["socle"];
        assert_eq!(socle["extends"], ".socle-check");
        assert_eq!(str_of(&socle["variables"]["SOCLE_VERSION"]), version);
        let job_rules = seq(&socle["rules"]);
        assert!(job_rules
            .iter()
            .any(|r| str_of(&r["if"]).contains("merge_request_event")));
        let protected = job_rules
            .iter()
            .find(|r| str_of(&r["if"]).contains(&format!("'{revision}'")))
            .expect("default branch rule");
        assert_eq!(
            protected["variables"]["SOCLE_FLAGS"],
            "--every-commit-must-pass"
        );

        let tests = yaml(files, ".github/workflows/tests.yaml");
        for (job, command) in CHECK_JOBS {
            let gl = &ci[job];
            assert!(gl.is_object(), "{spec:?}: no GitLab job {job}");
            let script: Vec<String> = seq(&gl["script"])
                .iter()
                .map(|l| str_of(l).trim().to_owned())
                .collect();
            // The same script as the GitHub job: one place to change a check.
            assert_eq!(script, [command], "{job}");
            assert_eq!(check_runs(&tests["jobs"][job]), [command], "{job}");
            assert!(
                gl.get("rules").is_none() && gl.get("only").is_none(),
                "{job}: runs in every pipeline the workflow allows"
            );
        }
        for (job, installs, cache_keys) in INSTALLS {
            let before: String = seq(&ci[job]["before_script"])
                .iter()
                .map(|l| format!("{}\n", str_of(l)))
                .collect();
            for install in installs {
                assert!(before.contains(install), "GitLab {job}: no `{install}`");
            }
            let keys: Vec<String> = seq(&ci[job]["cache"]["key"]["files"])
                .iter()
                .map(|k| str_of(k).to_owned())
                .collect();
            assert_eq!(keys, *cache_keys, "GitLab {job}: pip cache key");
        }
        // The policy tests take socle's install from its template.
        assert_eq!(ci["policy-tests"]["extends"], ".socle-check");
        assert_eq!(
            str_of(&ci["policy-tests"]["variables"]["SOCLE_VERSION"]),
            version
        );
        assert!(ci["policy-tests"]["artifacts"].is_null());
    }
    // socle's template installs the release when SOCLE_VERSION is set.
    let template: Value = serde_saphyr::from_str(
        &fs_err::read_to_string(repo_root().join("ci/gitlab/socle.gitlab-ci.yml")).unwrap(),
    )
    .unwrap();
    let install = seq(&template[".socle-check"]["before_script"])
        .iter()
        .map(|l| str_of(l).to_owned())
        .collect::<String>();
    // (distribution.rs runs it against a release.)
    assert!(
        install.contains("socle-install.sh \"$SOCLE_VERSION\" \"$SOCLE_SHA256\"")
            && !install.contains("cargo install"),
        "{install}"
    );
}

/// Every `uses:` of a file with its line, raw (the version comment is not
/// in the parsed YAML).
fn uses_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("- ").unwrap_or(l).strip_prefix("uses: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_action_is_pinned_by_commit() {
    let pinned =
        regex::Regex::new(r"^([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)$").unwrap();
    let files = default_files();
    let version = socle_version(files);
    let mut sources: Vec<(String, String)> = [
        ".github/workflows/socle.yaml",
        ".github/workflows/tests.yaml",
    ]
    .iter()
    .map(|p| (p.to_string(), text(files, p).to_owned()))
    .collect();
    for own in ["ci/github/action.yml", ".github/workflows/release.yaml"] {
        sources.push((
            format!("{own} (socle's)"),
            fs_err::read_to_string(repo_root().join(own)).unwrap(),
        ));
    }
    // One commit per action and version across the files.
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut count = 0;
    for (path, source) in &sources {
        for uses in uses_lines(source) {
            count += 1;
            if let Some(rest) = uses.strip_prefix(&format!("{SOCLE_ACTION}@")) {
                // socle's own action cannot be pinned by a commit socle
                // does not know when it renders: it is the release tag of
                // the socle that rendered the repository, which also
                // installs that release.
                assert_eq!(
                    rest,
                    format!("v{version} # zizmor: ignore[unpinned-uses]"),
                    "{path}: {uses}"
                );
                continue;
            }
            let caps = pinned.captures(&uses).unwrap_or_else(|| {
                panic!("{path}: `{uses}` is not pinned by commit with its version")
            });
            let repo: String = caps[1].split('/').take(2).collect::<Vec<_>>().join("/");
            let pin = (caps[2].to_owned(), caps[3].to_owned());
            if let Some(previous) = seen.insert(repo.clone(), pin.clone()) {
                assert_eq!(previous, pin, "{repo} pinned twice differently");
            }
        }
    }
    assert!(count >= 12, "only {count} uses");
    for action in [
        "actions/checkout",
        "actions/setup-python",
        "actions/upload-artifact",
        "open-policy-agent/setup-opa",
        "github/codeql-action",
    ] {
        assert!(seen.contains_key(action), "{action} not used: {seen:?}");
    }
}

fn exact(version: &str) -> bool {
    regex::Regex::new(r"^\d+\.\d+\.\d+$")
        .unwrap()
        .is_match(version)
}

/// `name==version` lines of a requirements or constraints file, the package
/// name normalised as pip does.
fn pins(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with("--constraint ") {
            continue;
        }
        let (name, version) = line
            .split_once("==")
            .unwrap_or_else(|| panic!("`{line}` is not pinned with =="));
        let name = name
            .split('[')
            .next()
            .unwrap()
            .to_lowercase()
            .replace(['_', '.'], "-");
        assert!(
            version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.'),
            "`{line}`: not one exact version"
        );
        out.insert(name, version.to_owned());
    }
    out
}

/// The version `.ci/run` installs a package at (what socle's own tests use).
fn ci_run_pin(package: &str) -> String {
    let run = fs_err::read_to_string(repo_root().join(".ci/run")).unwrap();
    let needle = format!("{package}==");
    let at = run
        .find(&needle)
        .unwrap_or_else(|| panic!(".ci/run does not pin {package}"));
    run[at + needle.len()..]
        .split(|c: char| c.is_whitespace() || c == '"')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn every_tool_is_pinned_to_an_exact_version() {
    let files = default_files();
    let tests = yaml(files, ".github/workflows/tests.yaml");
    let ci = yaml(files, ".gitlab-ci.yml");

    // Python and OPA by exact version in the workflow.
    let mut pythons = BTreeSet::new();
    for job in tests["jobs"].as_object().unwrap().values() {
        for step in seq(&job["steps"]) {
            let uses = str_of(&step["uses"]);
            if uses.starts_with("actions/setup-python@") {
                pythons.insert(str_of(&step["with"]["python-version"]).to_owned());
            }
            if uses.starts_with("open-policy-agent/setup-opa@") {
                let opa = str_of(&step["with"]["version"]);
                assert!(exact(opa), "OPA {opa}");
                // The OPA the platform runs.
                let values = yaml(files, "components/opa/values.yaml");
                assert_eq!(str_of(&values["image"]["tag"]), opa);
                assert_eq!(
                    str_of(&ci["opa-tests"]["image"]["name"]),
                    format!("openpolicyagent/opa:{opa}-debug")
                );
            }
        }
    }
    assert_eq!(pythons.len(), 1, "{pythons:?}");
    let python = pythons.into_iter().next().unwrap();
    assert!(exact(&python), "python {python}");
    // GitLab images by exact tag, the same Python.
    for (name, job) in ci.as_object().unwrap() {
        let image = match &job["image"] {
            Value::String(s) => s.clone(),
            Value::Object(o) => str_of(&o["name"]).to_owned(),
            _ => continue,
        };
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        let version = tag.split('-').next().unwrap_or("");
        assert!(
            exact(version),
            "{name}: image {image} is not an exact version"
        );
        if image.starts_with("python:") {
            assert_eq!(version, python, "{name}");
        }
    }

    // Python packages: every requirement and constraint pinned, and the
    // versions socle tests the generated project with.
    let dbt = pins(text(files, "ci/requirements-dbt.txt"));
    let dbt_all = pins(text(files, "ci/constraints-dbt.txt"));
    for package in ["dbt-core", "dbt-duckdb"] {
        assert_eq!(dbt[package], ci_run_pin(package), "{package}");
        assert_eq!(dbt_all[package], dbt[package], "{package}");
    }
    let airflow = pins(text(files, "ci/requirements-airflow.txt"));
    assert_eq!(airflow["apache-airflow"], "3.2.2");
    let airflow_all = pins(text(files, "ci/constraints-airflow.txt"));
    let tested = pins(
        &fs_err::read_to_string(repo_root().join("tests/tools/airflow-constraints.txt")).unwrap(),
    );
    assert_eq!(
        airflow_all, tested,
        "the constraints socle imports the DAGs with"
    );
    assert_eq!(airflow_all["apache-airflow"], "3.2.2");
    assert!(airflow_all.contains_key("apache-airflow-providers-cncf-kubernetes"));
    for (requirements, constraints) in [
        ("dbt", "constraints-dbt.txt"),
        ("airflow", "constraints-airflow.txt"),
    ] {
        let path = format!("ci/requirements-{requirements}.txt");
        assert!(
            text(files, &path)
                .lines()
                .any(|l| l == format!("--constraint {constraints}")),
            "{path} is not constrained by {constraints}"
        );
    }
    pins(text(files, "ci/requirements-rules.txt"));

    // Binaries by version and checksum, the ones the platform runs with.
    let installer = text(files, "ci/install_tool.py");
    let tool = |name: &str| -> (String, String) {
        let block = installer
            .split(&format!("\"{name}\": {{"))
            .nth(1)
            .unwrap_or_else(|| panic!("{name} not in install_tool.py"));
        let field = |key: &str| {
            block
                .split(&format!("\"{key}\": \""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_else(|| panic!("{name}: no {key}"))
                .to_owned()
        };
        let (version, url, sha) = (field("version"), field("url"), field("sha256"));
        assert!(exact(&version), "{name} {version}");
        assert!(url.contains(&format!("v{version}/")), "{name}: {url}");
        assert!(
            sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()),
            "{name}: {sha}"
        );
        (version, url)
    };
    let readme = text(files, "README.md");
    let (argo_chart, kustomize) = KUSTOMIZE_OF_ARGO_CD_CHART;
    assert!(
        readme.contains(&format!("--version {argo_chart} --namespace argocd")),
        "the Argo CD chart is no longer {argo_chart}: pin the kustomize its Argo CD bundles in ci/install_tool.py"
    );
    assert_eq!(tool("kustomize").0, kustomize);
    let (kps_chart, prometheus) = PROMETHEUS_OF_KPS_CHART;
    let application = yaml(files, "argocd/prod/applications/kube-prometheus-stack.yaml");
    let chart = seq(&application["spec"]["sources"])
        .into_iter()
        .find(|s| s["chart"] == "kube-prometheus-stack")
        .expect("the chart's source");
    assert_eq!(
        str_of(&chart["targetRevision"]),
        kps_chart,
        "kube-prometheus-stack is no longer {kps_chart}: pin its Prometheus's promtool in ci/install_tool.py"
    );
    assert_eq!(tool("promtool").0, prometheus);
}

#[test]
fn readme_documents_the_pipeline() {
    let files = default_files();
    let readme = text(files, "README.md");
    let section = readme
        .split("\n## Continuous integration\n")
        .nth(1)
        .expect("README has a CI section")
        .split("\n## ")
        .next()
        .unwrap();
    for (job, command) in CHECK_JOBS {
        assert!(
            section.contains(&format!("| `{job}`")) && section.contains(&format!("`{command}`")),
            "README CI section misses {job}"
        );
    }
    let version = socle_version(files);
    for pinned in [
        "`socle-check`".to_owned(),
        format!("socle {version}"),
        "kustomize 5.8.1".into(),
        "dbt-core 1.11.16".into(),
        "dbt-duckdb 1.11.1".into(),
        "apache-airflow 3.2.2".into(),
        "promtool 3.14.0".into(),
        "OPA 1.16.1".into(),
        "Python 3.11.13".into(),
    ] {
        assert!(
            section.contains(&pinned),
            "README CI section misses {pinned}"
        );
    }
    assert!(readme.contains("[Continuous integration](#continuous-integration)"));
}

// ---------------------------------------------------------------------------
// The jobs, run here.

/// A tool from `SOCLE_TOOLS_BIN`, PATH or the given fallbacks, without the
/// skip-or-fail of `support::tool` (for tools that have an alternative).
fn find(name: &str, fallbacks: &[PathBuf]) -> Option<PathBuf> {
    let dirs = std::env::var_os("SOCLE_TOOLS_BIN")
        .into_iter()
        .chain(std::env::var_os("PATH"))
        .flat_map(|list| std::env::split_paths(&list).collect::<Vec<_>>())
        .chain(fallbacks.iter().cloned());
    dirs.map(|d| d.join(name)).find(|p| p.is_file())
}

fn socle_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("socle")
}

/// A GitHub expression, for the contexts the generated workflows and
/// socle's action use: `a || b`, `a == 'b'` and context paths.
fn evaluate(expr: &str, ctx: &BTreeMap<&str, String>) -> String {
    let expr = expr.trim();
    if let Some((left, right)) = expr.split_once("||") {
        let left = evaluate(left, ctx);
        return if left.is_empty() {
            evaluate(right, ctx)
        } else {
            left
        };
    }
    if let Some((left, right)) = expr.split_once("==") {
        let literal = right.trim().trim_matches('\'');
        return (evaluate(left, ctx) == literal).to_string();
    }
    ctx.get(expr).cloned().unwrap_or_default()
}

pub(crate) fn expand(text: &str, ctx: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("unclosed expression") + start;
        out.push_str(&evaluate(&rest[start + 3..end], ctx));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

pub(crate) struct Run {
    pub(crate) ok: bool,
    pub(crate) output: String,
}

/// Runs a step's script as GitHub's runners do (`bash -e -o pipefail`, or
/// `sh -e` for `shell: sh`), in `dir`, with `bins` first on PATH.
pub(crate) fn run_step(
    step: &Value,
    dir: &Path,
    bins: &[PathBuf],
    ctx: &BTreeMap<&str, String>,
    env: &[(&str, String)],
) -> Run {
    let script = expand(str_of(&step["run"]), ctx);
    let path = std::env::join_paths(bins.iter().cloned().chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
        .current_dir(dir)
        .env("PATH", path)
        // A runner sets neither: the jobs must keep the repository clean
        // of bytecode on their own.
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .env_remove("PYTHONPYCACHEPREFIX");
    if let Some(vars) = step["env"].as_object() {
        for (k, v) in vars {
            cmd.env(k, expand(str_of(v), ctx));
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("{script}: {e}"));
    Run {
        ok: out.status.success(),
        output: format!(
            "$ {script}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Runs the check steps of a job of `tests.yaml` in `dir`.
fn run_job(job: &str, dir: &Path, bins: &[PathBuf]) -> Run {
    let workflow = yaml(default_files(), ".github/workflows/tests.yaml");
    let scratch = tempfile::tempdir().unwrap();
    let ctx: BTreeMap<&str, String> =
        [("runner.temp", scratch.path().display().to_string())].into();
    let mut output = String::new();
    for step in seq(&workflow["jobs"][job]["steps"]) {
        if step["run"].is_null() || is_install(&step) {
            continue;
        }
        let run = run_step(&step, dir, bins, &ctx, &[]);
        output.push_str(&run.output);
        if !run.ok {
            return Run { ok: false, output };
        }
    }
    assert!(!output.is_empty(), "{job}: no step ran");
    Run { ok: true, output }
}

fn fresh_repo() -> tempfile::TempDir {
    materialise(default_files())
}

#[test]
fn ci_render_overlays_job_builds_every_kustomization() {
    let tool = match find("kustomize", &[]) {
        Some(t) => t,
        None => match find("kubectl", &[]) {
            Some(t) => t,
            None => {
                missing("kustomize or kubectl");
                return;
            }
        },
    };
    let bins = [tool.parent().unwrap().to_path_buf()];
    let dir = fresh_repo();
    let run = run_job("render-overlays", dir.path(), &bins);
    assert!(run.ok, "{}", run.output);
    let kustomizations = default_files()
        .keys()
        .filter(|p| p.ends_with("/kustomization.yaml"))
        .count();
    assert!(
        run.output
            .contains(&format!("{kustomizations} kustomization(s)"))
            && run.output.contains(", 0 failed"),
        "{}",
        run.output
    );
    for overlay in [
        "platform/overlays/prod",
        "observability/overlays/dev",
        "spark/overlays/staging",
    ] {
        assert!(
            run.output.contains(&format!("ok   {overlay} (")),
            "{overlay}\n{}",
            run.output
        );
    }
    // A kustomization naming a file that is not there fails the job, named
    // (on the scripts and the Spark overlays alone: the rest built above).
    let small = tempfile::tempdir().unwrap();
    let subset: FileSet = default_files()
        .iter()
        .filter(|(p, _)| p.starts_with("ci/") || p.starts_with("spark/"))
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect();
    for (path, bytes) in &subset {
        let full = small.path().join(path);
        fs_err::create_dir_all(full.parent().unwrap()).unwrap();
        fs_err::write(full, bytes).unwrap();
    }
    let broken = small.path().join("spark/overlays/dev/kustomization.yaml");
    let text = fs_err::read_to_string(&broken).unwrap();
    let edited = text.replacen("resources:\n", "resources:\n  - missing.yaml\n", 1);
    assert_ne!(edited, text, "the overlay changed shape");
    fs_err::write(&broken, edited).unwrap();
    let run = run_job("render-overlays", small.path(), &bins);
    assert!(!run.ok, "{}", run.output);
    assert!(
        run.output.contains("FAIL spark/overlays/dev"),
        "{}",
        run.output
    );
    assert!(
        run.output.contains("ok   spark/overlays/prod ("),
        "{}",
        run.output
    );
    assert!(run.output.contains(", 1 failed"), "{}", run.output);
}

/// socle's action, as GitHub runs it for a pull request from `base` to
/// `head`: its steps but the install, with the inputs the generated
/// workflow passes.
fn run_socle_action(dir: &Path, base: &str, head: &str, event: &str) -> Run {
    let workflow = yaml(default_files(), ".github/workflows/socle.yaml");
    let steps = seq(&workflow["jobs"]["socle-check"]["steps"]);
    let call = steps
        .iter()
        .find(|s| str_of(&s["uses"]).starts_with(SOCLE_ACTION))
        .unwrap();
    let (base_key, head_key) = if event == "push" {
        ("github.event.before", "github.sha")
    } else {
        (
            "github.event.pull_request.base.sha",
            "github.event.pull_request.head.sha",
        )
    };
    let github: BTreeMap<&str, String> = [
        ("github.event_name", event.to_owned()),
        (base_key, base.to_owned()),
        (head_key, head.to_owned()),
    ]
    .into();
    let action: Value = serde_saphyr::from_str(
        &fs_err::read_to_string(repo_root().join("ci/github/action.yml")).unwrap(),
    )
    .unwrap();
    let mut inputs: BTreeMap<String, String> = action["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (format!("inputs.{k}"), str_of(&v["default"]).to_owned()))
        .collect();
    for (k, v) in call["with"].as_object().unwrap() {
        let value = match v {
            Value::String(s) => expand(s, &github),
            other => other.to_string(),
        };
        inputs.insert(format!("inputs.{k}"), value);
    }
    assert_eq!(inputs["inputs.base"], base);
    assert_eq!(inputs["inputs.head"], head);
    // What the steps see: the inputs, then each step's outputs (written to
    // $GITHUB_OUTPUT) as `steps.<id>.outputs.<name>`.
    let mut known: BTreeMap<String, String> = inputs.clone();
    let summary = dir.join("..").join(format!("summary-{event}.md"));
    let bins = [socle_bin().parent().unwrap().to_path_buf()];
    let mut output = String::new();
    let mut ran = 0;
    for (i, step) in seq(&action["runs"]["steps"]).iter().enumerate() {
        if step["run"].is_null() || is_install(step) {
            continue;
        }
        ran += 1;
        let outputs = dir.join("..").join(format!("outputs-{event}-{i}"));
        fs_err::write(&outputs, "").unwrap();
        let ctx: BTreeMap<&str, String> =
            known.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let run = run_step(
            step,
            dir,
            &bins,
            &ctx,
            &[
                ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
                ("GITHUB_OUTPUT", outputs.display().to_string()),
            ],
        );
        output.push_str(&run.output);
        if let Some(id) = step["id"].as_str() {
            for line in fs_err::read_to_string(&outputs).unwrap().lines() {
                if let Some((k, v)) = line.split_once('=') {
                    known.insert(format!("steps.{id}.outputs.{k}"), v.to_owned());
                }
            }
        }
        if !run.ok {
            return Run { ok: false, output };
        }
    }
    assert_eq!(ran, 2, "socle's action: the check and the decision");
    Run { ok: true, output }
}

#[test]
fn ci_socle_check_job_checks_the_range_with_the_simulation() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("repo");
    let out = Command::new(socle_bin())
        .args(["new", "-q", "--out"])
        .arg(&dir)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git(&dir, &["config", "user.email", "ci@example.org"]);
    git(&dir, &["config", "user.name", "CI"]);
    let base = git(&dir, &["rev-parse", "HEAD"]);
    // A pull request that changes a values file.
    let values = dir.join("components/trino/values-dev.yaml");
    let mut text = fs_err::read_to_string(&values).unwrap();
    text.push_str("# reviewed\n");
    fs_err::write(&values, text).unwrap();
    git(&dir, &["commit", "-qam", "Review Trino's dev values"]);
    let head = git(&dir, &["rev-parse", "HEAD"]);

    let run = run_socle_action(&dir, &base, &head, "pull_request");
    assert!(run.ok, "{}", run.output);
    let sarif: Value =
        serde_json::from_str(&fs_err::read_to_string(dir.join("socle.sarif")).unwrap())
            .expect("SARIF");
    assert_eq!(sarif["version"], "2.1.0");
    // The system rules are part of the check.
    let rules: Vec<String> = seq(&sarif["runs"][0]["tool"]["driver"]["rules"])
        .iter()
        .map(|r| str_of(&r["id"]).to_owned())
        .collect();
    assert!(rules.iter().any(|r| r.starts_with("SOC-SYS-")), "{rules:?}");
    fs_err::remove_file(dir.join("socle.sarif")).unwrap();

    // A commit that only the system simulation finds wrong (Airflow
    // pointed at a Service nothing creates) fails the job, on the pull
    // request and on the default branch.
    crate::support::point_airflow_at_a_missing_trino(&dir);
    git(&dir, &["commit", "-qam", "Point Airflow at another Trino"]);
    let bad = git(&dir, &["rev-parse", "HEAD"]);
    for event in ["pull_request", "push"] {
        let run = run_socle_action(&dir, &head, &bad, event);
        assert!(!run.ok, "{event}: {}", run.output);
        assert!(
            run.output.contains("::error") && run.output.contains("SOC-SYS-004"),
            "{event}: {}",
            run.output
        );
        let _ = fs_err::remove_file(dir.join("socle.sarif"));
    }

    // GitLab: socle's template's script, with the merge request's variables.
    let template: Value = serde_saphyr::from_str(
        &fs_err::read_to_string(repo_root().join("ci/gitlab/socle.gitlab-ci.yml")).unwrap(),
    )
    .unwrap();
    let script = seq(&template[".socle-check"]["script"])
        .iter()
        .map(|l| str_of(l).to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    let gitlab = |sha: &str| {
        Command::new("bash")
            .args(["-eo", "pipefail", "-c", &script])
            .current_dir(&dir)
            .env(
                "PATH",
                std::env::join_paths(
                    std::iter::once(socle_bin().parent().unwrap().to_path_buf()).chain(
                        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
                    ),
                )
                .unwrap(),
            )
            .env("CI_MERGE_REQUEST_DIFF_BASE_SHA", &base)
            .env("CI_COMMIT_SHA", sha)
            .env("SOCLE_FLAGS", "")
            .output()
            .unwrap()
    };
    let out = gitlab(&head);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_str(
        &fs_err::read_to_string(dir.join("gl-code-quality-report.json")).unwrap(),
    )
    .expect("Code Quality JSON");
    assert!(report.is_array());
    assert!(fs_err::read_to_string(dir.join("socle-junit.xml"))
        .unwrap()
        .contains("<testsuite"));
    assert!(!gitlab(&bad).status.success());
}

#[test]
fn ci_dbt_job_builds_the_project_on_duckdb() {
    let Some(dbt) =
        find("dbt", &[venv_bin("venv-dbt")]).or_else(|| missing("dbt (with dbt-duckdb)"))
    else {
        return;
    };
    let dir = fresh_repo();
    let run = run_job(
        "dbt-build",
        dir.path(),
        &[dbt.parent().unwrap().to_path_buf()],
    );
    assert!(run.ok, "{}", run.output);
    assert!(
        run.output.contains("dbt-build: ") && run.output.contains(" OK"),
        "{}",
        run.output
    );
    for kind in ["seed(s)", "model(s)", "test(s)"] {
        assert!(run.output.contains(kind), "{kind}\n{}", run.output);
    }
}

#[test]
fn ci_airflow_job_imports_every_dag_of_every_environment() {
    let Some(python) = airflow_python() else {
        return;
    };
    // The venv's bin holds python3 too, which the script calls.
    let bins = [python.parent().unwrap().to_path_buf()];
    let dir = fresh_repo();
    // A file that does not compile fails before Airflow is even imported.
    let broken = dir.path().join("airflow/dags/broken.py");
    fs_err::write(&broken, "from airflow import DAG\ndef dag(:\n").unwrap();
    let run = run_job("airflow-dags", dir.path(), &bins);
    assert!(
        !run.ok && run.output.contains("broken.py"),
        "{}",
        run.output
    );
    fs_err::remove_file(&broken).unwrap();

    let run = run_job("airflow-dags", dir.path(), &bins);
    assert!(run.ok, "{}", run.output);
    for env in ["dev", "staging", "prod"] {
        assert!(
            run.output.contains(&format!("== {env}: ")),
            "{env}\n{}",
            run.output
        );
    }
    assert!(run.output.contains("data_pipeline: "), "{}", run.output);
    assert!(
        run.output.contains("iceberg_maintenance: "),
        "{}",
        run.output
    );
    assert!(run.output.contains("import-dags: OK"), "{}", run.output);
    // Compiling and importing the DAGs writes nothing into the repository.
    let written: Vec<_> = walkdir::WalkDir::new(dir.path())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() == "__pycache__")
        .map(|e| e.path().to_path_buf())
        .collect();
    assert!(written.is_empty(), "{written:?}");
}

/// A python3 that has PyYAML (the alert-rules job installs it).
fn python_with_yaml() -> Option<PathBuf> {
    let candidates = [venv_bin("venv"), venv_bin("venv-dbt")];
    candidates
        .iter()
        .map(|d| d.join("python3"))
        .chain(find("python3", &[]))
        .find(|p| {
            p.is_file()
                && Command::new(p)
                    .args(["-c", "import yaml"])
                    .output()
                    .is_ok_and(|o| o.status.success())
        })
        .or_else(|| missing("a python3 with PyYAML"))
}

#[test]
fn ci_alert_rules_job_checks_and_unit_tests_the_rules() {
    let Some(promtool) = find("promtool", &[]).or_else(|| missing("promtool")) else {
        return;
    };
    let Some(python) = python_with_yaml() else {
        return;
    };
    let bins = [
        promtool.parent().unwrap().to_path_buf(),
        python.parent().unwrap().to_path_buf(),
    ];
    // With prod on EKS, prod's rules and unit tests hold the Cluster
    // Autoscaler's alerts too.
    let eks = crate::support::render_eks();
    assert!(text(&eks, "observability/tests/prod/thresholds.yaml")
        .contains("alertname: ClusterAutoscalerNodeGroupFull"));
    assert!(
        !text(&eks, "observability/tests/staging/thresholds.yaml").contains("ClusterAutoscaler")
    );
    let dir = materialise(&eks);
    let run = run_job("alert-rules", dir.path(), &bins);
    assert!(
        run.ok
            && run
                .output
                .contains("3 rule file(s) checked, 6 unit test file(s) passed"),
        "prod on EKS: {}",
        run.output
    );
    for spec in [None, Some("full.yaml")] {
        let files = rendered(spec);
        let envs: Vec<String> = seq(&yaml(files, "socle.yaml")["environments"])
            .iter()
            .map(|e| str_of(&e["name"]).to_owned())
            .collect();
        let dir = materialise(files);
        let run = run_job("alert-rules", dir.path(), &bins);
        assert!(run.ok, "{spec:?}: {}", run.output);
        assert!(
            run.output.contains(&format!(
                "{} rule file(s) checked, {} unit test file(s) passed",
                envs.len(),
                2 * envs.len()
            )),
            "{spec:?}: {}",
            run.output
        );
        if spec.is_some() {
            continue;
        }
        // A threshold that drifts from the environment's setting fails the
        // unit test of that environment only.
        let rules = dir
            .path()
            .join("observability/overlays/prod/prometheusrules.yaml");
        let text = fs_err::read_to_string(&rules).unwrap();
        let prod = yaml(files, "observability/overlays/prod/prometheusrules.yaml");
        let threshold = seq(&prod["spec"]["groups"])
            .iter()
            .flat_map(|g| seq(&g["rules"]))
            .find(|r| r["alert"] == "PersistentVolumeUsageHigh")
            .and_then(|r| {
                str_of(&r["expr"])
                    .trim_end()
                    .rsplit("> ")
                    .next()
                    .map(str::to_owned)
            })
            .expect("threshold");
        let drifted = text.replacen(&format!(") > {threshold}\n"), ") > 99\n", 1);
        assert_ne!(drifted, text, "rule changed shape");
        fs_err::write(&rules, drifted).unwrap();
        let run = run_job("alert-rules", dir.path(), &bins);
        assert!(!run.ok, "{}", run.output);
        assert!(
            run.output.contains("alertname: PersistentVolumeUsageHigh"),
            "{}",
            run.output
        );
        // And a rule promtool refuses fails the check itself.
        fs_err::write(
            &rules,
            text.replacen("expr: |\n", "expr: |\n            sum(\n", 1),
        )
        .unwrap();
        let run = run_job("alert-rules", dir.path(), &bins);
        assert!(
            !run.ok && run.output.contains("prod/prometheusrules.yaml"),
            "{}",
            run.output
        );
    }
}

#[test]
fn ci_policy_jobs_run_the_rego_tests() {
    let bins = [socle_bin().parent().unwrap().to_path_buf()];
    let dir = fresh_repo();
    let run = run_job("policy-tests", dir.path(), &bins);
    assert!(run.ok, "{}", run.output);
    assert!(run.output.contains(" passed, 0 failed"), "{}", run.output);
    // Without plain Rego, opa has nothing to test (and is not needed).
    let run = run_job("opa-tests", dir.path(), &[]);
    assert!(
        run.ok && run.output.contains("nothing for opa to test"),
        "{}",
        run.output
    );

    // A repository policy with its tests: socle runs them, and a failing
    // one fails the job.
    let policies = dir.path().join("policies");
    fs_err::create_dir_all(&policies).unwrap();
    fs_err::write(
        policies.join("labels.rego"),
        "package platform.labels\n\ndeny contains msg if {\n\tinput.kind == \"Deployment\"\n\tnot input.metadata.labels.team\n\tmsg := \"a Deployment names its team\"\n}\n",
    )
    .unwrap();
    let test = |body: &str| {
        fs_err::write(
            policies.join("labels_test.rego"),
            format!("package platform.labels_test\n\nimport data.platform.labels\n\n{body}"),
        )
        .unwrap()
    };
    test("test_team_required if {\n\tcount(labels.deny) == 1 with input as {\"kind\": \"Deployment\", \"metadata\": {}}\n}\n\ntest_wrong_expectation if {\n\tcount(labels.deny) == 0 with input as {\"kind\": \"Deployment\", \"metadata\": {}}\n}\n");
    let run = run_job("policy-tests", dir.path(), &bins);
    assert!(
        !run.ok,
        "a failing repository test fails the job: {}",
        run.output
    );
    assert!(
        run.output.contains("test_wrong_expectation"),
        "{}",
        run.output
    );
    test("test_team_required if {\n\tcount(labels.deny) == 1 with input as {\"kind\": \"Deployment\", \"metadata\": {}}\n}\n\ntest_team_given if {\n\tcount(labels.deny) == 0 with input as {\"kind\": \"Deployment\", \"metadata\": {\"labels\": {\"team\": \"data\"}}}\n}\n");
    let run = run_job("policy-tests", dir.path(), &bins);
    assert!(run.ok, "{}", run.output);
    assert!(
        run.output.contains("test_team_required") && run.output.contains("test_team_given"),
        "{}",
        run.output
    );

    // OPA's own CLI is not in any registry this project installs from: it
    // runs where it is present.
    match find("opa", &[]) {
        Some(opa) => {
            let run = run_job(
                "opa-tests",
                dir.path(),
                &[opa.parent().unwrap().to_path_buf()],
            );
            assert!(
                run.ok && run.output.contains("test_team_required"),
                "{}",
                run.output
            );
        }
        None => eprintln!(
            "skipped: opa not found; its job ran above on a repository without plain Rego"
        ),
    }
}
