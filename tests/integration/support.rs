use std::path::{Path, PathBuf};

use socle::generate::Inputs;
use socle::render::FileSet;
use socle::source::Tree;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The upstream reference set the fact files are derived from:
/// `../shared/reference` beside the repository, or `SOCLE_REFERENCE`.
/// Only `facts.rs` reads it; the other tests read the fact files.
pub fn reference() -> PathBuf {
    std::env::var_os("SOCLE_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/reference"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}

/// A fixture's text.
pub fn fixture_text(name: &str) -> String {
    fs_err::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Render a spec in-process with the embedded blueprint: the example, or a
/// fixture under `specs/` by name.
pub fn render(spec: Option<&str>) -> FileSet {
    cached(spec.unwrap_or("the example"), || match spec {
        Some(name) => fs_err::read_to_string(fixture(&format!("specs/{name}"))).expect("fixture"),
        None => socle::spec::EXAMPLE.to_owned(),
    })
}

/// The example with prod on EKS, rendered.
pub fn render_eks() -> FileSet {
    cached("prod on EKS", crate::cloud::eks_spec)
}

/// The render of a named spec, made once for the whole run: a hundred tests
/// judge the same few renders, and each costs a second of an unoptimised
/// build. A spec a test varies goes through [`render_text`], never cached.
fn cached(key: &str, text: impl FnOnce() -> String) -> FileSet {
    type Renders = std::sync::Mutex<
        std::collections::HashMap<String, std::sync::Arc<std::sync::OnceLock<FileSet>>>,
    >;
    static RENDERS: std::sync::OnceLock<Renders> = std::sync::OnceLock::new();
    let cell = RENDERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_owned())
        .or_default()
        .clone();
    cell.get_or_init(|| render_text(&text())).clone()
}

/// The lakehouse blueprint's example, rendered once for the whole run.
pub fn render_lakehouse() -> FileSet {
    cached("the lakehouse example", crate::lakehouse::example)
}

/// The lakehouse example with prod on Amazon EKS.
pub fn render_lakehouse_eks() -> FileSet {
    cached("the lakehouse with prod on EKS", crate::lakehouse_eks::spec)
}

/// The lakehouse example with prod on Google Kubernetes Engine.
pub fn render_lakehouse_gke() -> FileSet {
    cached("the lakehouse with prod on GKE", crate::lakehouse_gke::spec)
}

/// The example with prod on EKS and its account named (no MinIO in prod).
pub fn render_eks_account() -> FileSet {
    cached(
        "prod on EKS, its account named",
        crate::cloud::eks_account_spec,
    )
}

/// The data platform's example with prod on Google Kubernetes Engine.
pub fn render_platform_gke() -> FileSet {
    cached("prod on GKE", crate::platform_gke::spec)
}

/// The data platform's example with prod on Azure Kubernetes Service.
pub fn render_platform_aks() -> FileSet {
    cached("prod on AKS", crate::platform_aks::spec)
}

/// The lakehouse example with prod on Azure Kubernetes Service, its
/// identities' client IDs given.
pub fn render_lakehouse_aks() -> FileSet {
    cached("the lakehouse with prod on AKS", crate::lakehouse_aks::spec)
}

/// The renders the real-tool and schema tests judge, by label: the example,
/// the full and hostile fixtures, and the example with prod on EKS.
pub fn renders_of_every_shape() -> [(&'static str, FileSet); 4] {
    [
        ("default", render(None)),
        ("full.yaml", render(Some("full.yaml"))),
        ("hostile.yaml", render(Some("hostile.yaml"))),
        ("prod on EKS", render_eks()),
    ]
}

/// Render a spec given as text in-process with the embedded blueprint it
/// names (the default one when it names none).
pub fn render_text(spec: &str) -> FileSet {
    socle::repository::render(&Inputs {
        spec_text: spec,
        spec_origin: "socle.yaml",
        blueprint: &socle::blueprint::embedded_for_spec(spec).expect("embedded blueprint"),
        environments: &Tree::embedded_environments(),
    })
    .unwrap_or_else(|e| panic!("render: {e}"))
    .files
}

/// A generated file's text.
pub fn text<'a>(files: &'a FileSet, path: &str) -> &'a str {
    let bytes = files
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not rendered"));
    std::str::from_utf8(bytes).expect("utf-8")
}

/// A missing tool: a skip, or a failure when `SOCLE_REQUIRE_TOOLS` is set.
pub fn missing(what: &str) -> Option<PathBuf> {
    if std::env::var_os("SOCLE_REQUIRE_TOOLS").is_some() {
        panic!("{what} is required (SOCLE_REQUIRE_TOOLS is set) but not found");
    }
    eprintln!("skipped: {what} not found (run .ci/run to install it)");
    None
}

/// The `bin` folder of one of `.ci/run`'s virtualenvs.
pub fn venv_bin(name: &str) -> PathBuf {
    repo_root().join(".ci").join(name).join("bin")
}

/// The python of a virtualenv with Airflow (and so SQLAlchemy).
pub fn airflow_python() -> Option<PathBuf> {
    std::env::var_os("SOCLE_AIRFLOW_PYTHON")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| Some(venv_bin("venv-airflow").join("python")).filter(|p| p.is_file()))
        .or_else(|| missing("a python with Airflow (SOCLE_AIRFLOW_PYTHON or .ci/venv-airflow)"))
}

/// The folder of PostgreSQL's server programs (initdb, pg_ctl, psql):
/// initdb's own, which a `bin` on the path may only link to.
pub fn postgres_bin() -> Option<PathBuf> {
    let initdb = tool("initdb")?;
    let initdb = fs_err::canonicalize(&initdb).expect("initdb resolves");
    Some(initdb.parent().expect("bin").to_owned())
}

/// A real tool's executable, from `SOCLE_TOOLS_BIN` (a path list) or PATH.
/// Missing: a skip, or a failure when `SOCLE_REQUIRE_TOOLS` is set (CI).
pub fn tool(name: &str) -> Option<PathBuf> {
    let dirs = std::env::var_os("SOCLE_TOOLS_BIN")
        .into_iter()
        .chain(std::env::var_os("PATH"));
    for list in dirs {
        for dir in std::env::split_paths(&list) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    if std::env::var_os("SOCLE_REQUIRE_TOOLS").is_some() {
        panic!("{name} is required (SOCLE_REQUIRE_TOOLS is set) but not found");
    }
    eprintln!("skipped: {name} not found (run .ci/run to install it)");
    None
}

/// `file` validates against check-jsonschema's vendored `schema` (e.g.
/// `vendor.compose-spec`); skipped like [`tool`] when it is missing.
pub fn assert_builtin_schema(schema: &str, file: &Path) {
    let Some(cj) = tool("check-jsonschema") else {
        return;
    };
    let out = std::process::Command::new(cj)
        .args(["--builtin-schema", schema])
        .arg(file)
        .output()
        .expect("check-jsonschema runs");
    assert!(
        out.status.success(),
        "{} against {schema}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A rendered repository's generated CI, in `dir`: GitHub's workflows and
/// GitLab's pipeline against their schemas (check-jsonschema), and the
/// workflows clean for zizmor at low severity and above; each tool skipped
/// like [`tool`] when it is missing.
pub fn assert_generated_ci_clean(dir: &Path) {
    assert_builtin_schema(
        "vendor.github-workflows",
        &dir.join(".github/workflows/tests.yaml"),
    );
    assert_builtin_schema("vendor.gitlab-ci", &dir.join(".gitlab-ci.yml"));
    if let Some(zizmor) = tool("zizmor") {
        let out = std::process::Command::new(zizmor)
            .args(["--offline", "--no-progress", "--min-severity", "low"])
            .arg(dir.join(".github/workflows"))
            .output()
            .expect("zizmor");
        assert_success(&out);
    }
}

/// `socle new` refuses each spec (exit 2) with a message containing the
/// text given with it.
pub fn assert_new_refuses(cases: &[(String, &str)]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (i, (spec, expected)) in cases.iter().enumerate() {
        let path = tmp.path().join(format!("spec-{i}.yaml"));
        fs_err::write(&path, spec).expect("write");
        let (code, _, err) = socle_in(
            tmp.path(),
            &[
                "new",
                "-q",
                "--spec",
                path.to_str().expect("utf-8"),
                "--out",
                &format!("out-{i}"),
            ],
        );
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(expected), "{expected:?} not in {err}");
    }
}

/// Read options as socle's own: YAML 1.2 core schema (`yes` and `0755` are
/// strings), duplicate keys refused.
fn yaml_options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.strict_booleans = true;
    o.leading_zero_numbers_as_strings = true;
    o.underscored_numbers_as_strings = true;
    o.merge_keys = serde_saphyr::MergeKeyPolicy::AsOrdinary;
    o.with_snippet = false;
    o
}

/// One YAML document, read as socle reads it.
pub fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, yaml_options())
}

/// One YAML document of UTF-8 bytes, read as socle reads it.
pub fn yaml_slice<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_slice_with_options(bytes, yaml_options())
}

/// Every document of a YAML stream, read as socle reads it.
pub fn yaml_stream<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Result<Vec<T>, serde_saphyr::Error> {
    serde_saphyr::from_multiple_with_options(text, yaml_options())
}

/// The single YAML document of a generated file, as JSON.
pub fn doc(files: &FileSet, path: &str) -> serde_json::Value {
    yaml(text(files, path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every YAML document of the file set, with its path.
pub fn yaml_docs(files: &FileSet) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for (path, bytes) in files {
        if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
            continue;
        }
        let text = std::str::from_utf8(bytes).expect("utf-8");
        let docs: Vec<serde_json::Value> =
            yaml_stream(text).unwrap_or_else(|e| panic!("{path}: {e}"));
        out.extend(
            docs.into_iter()
                .filter(|v| !v.is_null())
                .map(|v| (path.clone(), v)),
        );
    }
    out
}

/// An owned copy of a document read by [`yaml`] or [`yaml_docs`].
pub fn to_json(v: &serde_json::Value) -> serde_json::Value {
    v.clone()
}

/// Write a file set to a fresh temporary directory.
pub fn materialise(files: &FileSet) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, bytes) in files {
        let full = dir.path().join(path);
        fs_err::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        fs_err::write(full, bytes).expect("write");
    }
    dir
}

/// `socle check --format json` on a file set written to a temporary
/// directory: the exit code and the findings.
pub fn check_json(files: &FileSet) -> (i32, Vec<serde_json::Value>) {
    let (code, json) = check_report(files);
    (
        code,
        json["findings"].as_array().cloned().unwrap_or_default(),
    )
}

/// `socle check` of `files` exits 1 with a finding of `rule` whose
/// message holds every fragment.
pub fn assert_denies(files: &FileSet, rule: &str, fragments: &[&str]) {
    let (code, findings) = check_json(files);
    assert_eq!(code, 1, "{findings:#?}");
    assert!(
        finds(&findings, rule, fragments),
        "{rule} {fragments:?}: {findings:#?}"
    );
}

/// `socle check` of `files` exits 1 with at least one finding of `rule`,
/// and every finding of `rule` holds every fragment and is placed in
/// `file` at `line` (1-based).
pub fn assert_denied_at(files: &FileSet, rule: &str, fragments: &[&str], file: &str, line: usize) {
    let (code, findings) = check_json(files);
    assert_eq!(code, 1, "{findings:#?}");
    let denied: Vec<&serde_json::Value> = findings.iter().filter(|f| f["rule"] == rule).collect();
    assert!(!denied.is_empty(), "{rule}: {findings:#?}");
    for f in denied {
        let message = f["message"].as_str().unwrap_or_default();
        assert!(
            fragments.iter().all(|x| message.contains(x)),
            "{fragments:?}: {message}"
        );
        assert_eq!(
            (f["file"].as_str(), f["line"].as_u64()),
            (Some(file), Some(line as u64)),
            "{message}"
        );
    }
}

/// The 1-based line of `path` in `files` that the first line matching
/// `is` starts, plus `after` lines.
pub fn line_of(files: &FileSet, path: &str, is: impl Fn(&str) -> bool, after: usize) -> usize {
    text(files, path)
        .lines()
        .position(is)
        .unwrap_or_else(|| panic!("no such line in {path}"))
        + 1
        + after
}

/// Whether a finding of `rule` has a message holding every fragment.
pub fn finds(findings: &[serde_json::Value], rule: &str, fragments: &[&str]) -> bool {
    findings.iter().any(|f| {
        f["rule"] == rule
            && f["message"]
                .as_str()
                .is_some_and(|m| fragments.iter().all(|x| m.contains(x)))
    })
}

/// `socle check --format json` of a file set: the exit code and the whole
/// report (findings, what was skipped or not modelled).
pub fn check_report(files: &FileSet) -> (i32, serde_json::Value) {
    use assert_cmd::cargo::CommandCargoExt;
    let dir = materialise(files);
    let out = std::process::Command::cargo_bin("socle")
        .expect("socle binary")
        .args(["check", "--format", "json"])
        .arg(dir.path())
        .output()
        .expect("socle check runs");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), json)
}

/// The "not modelled" lines of a report.
pub fn not_modelled(report: &serde_json::Value) -> Vec<String> {
    report["not_modelled"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g.as_str().map(str::to_owned))
        .collect()
}

/// Run git in `dir` (tests build histories with it; socle itself never
/// runs git); the output, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The Trino access policy of `env` (`trino.rego` of the OPA ConfigMap
/// `components/opa/manifests/<env>/trino-policy.yaml`, labelled as a
/// policy for OPA's kube-mgmt), compiled.
pub fn trino_engine(files: &FileSet, env: &str) -> regorus::Engine {
    let path = format!("components/opa/manifests/{env}/trino-policy.yaml");
    let cm = yaml_docs(files)
        .into_iter()
        .find(|(p, _)| *p == path)
        .map(|(_, d)| to_json(&d))
        .unwrap_or_else(|| panic!("{path} is rendered"));
    assert_eq!(
        cm["metadata"]["labels"]["openpolicyagent.org/policy"],
        "rego"
    );
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(false);
    engine
        .add_policy(
            "trino.rego".into(),
            cm["data"]["trino.rego"]
                .as_str()
                .expect("trino.rego")
                .to_owned(),
        )
        .expect("the policy compiles");
    engine
}

/// Trino's decision for `user` in `groups`, on the input its OPA access
/// control posts (a service account's JWT carries no groups).
pub fn trino_allows(
    engine: &mut regorus::Engine,
    user: &str,
    groups: &[&str],
    operation: &str,
    resource: serde_json::Value,
) -> bool {
    let input = serde_json::json!({
        "context": {
            "identity": {"user": user, "groups": groups},
            "softwareStack": {"trinoVersion": "480"},
        },
        "action": {"operation": operation, "resource": resource},
    });
    engine.set_input(regorus::Value::from(input));
    engine
        .eval_rule("data.trino.allow".to_owned())
        .expect("data.trino.allow evaluates")
        == regorus::Value::from(true)
}

/// `socle new` on `spec` in a fresh directory, which must refuse it (exit
/// 2) and write nothing: its standard error.
pub fn socle_new_refuses(spec: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    fs_err::write(dir.path().join("socle.yaml"), spec).expect("spec");
    let (code, out, err) = socle_in(
        dir.path(),
        &["new", "--spec", "socle.yaml", "--no-git", "--out", "out"],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(!dir.path().join("out").exists(), "{err}");
    err
}

/// Run `socle` in `dir`: exit code, stdout, stderr. The check cache goes
/// beside the repository (under the test's temporary directory), never to
/// the user's cache directory.
pub fn socle_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    use assert_cmd::cargo::CommandCargoExt;
    let out = std::process::Command::cargo_bin("socle")
        .expect("socle binary")
        .args(args)
        .current_dir(dir)
        .env(
            "XDG_CACHE_HOME",
            dir.parent().unwrap_or(dir).join("xdg-cache"),
        )
        .output()
        .expect("socle runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A repository made by `socle new` in `<tmp>/repo`, with a committer.
pub fn new_repo() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("repo");
    let (code, _, err) = socle_in(tmp.path(), &["new", "-q", "--out", "repo"]);
    assert_eq!(code, 0, "{err}");
    git(&dir, &["config", "user.email", "team@example.invalid"]);
    git(&dir, &["config", "user.name", "Team"]);
    (tmp, dir)
}

/// A command's run that must succeed, its output in the failure message.
/// The documents `kubectl kustomize OVERLAY` builds in `dir`, which must
/// succeed.
pub fn kustomize_build(kubectl: &Path, dir: &Path, overlay: &str) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(kubectl)
        .args(["kustomize", overlay])
        .current_dir(dir)
        .output()
        .expect("kubectl kustomize");
    assert_success(&out);
    String::from_utf8_lossy(&out.stdout)
        .split("\n---\n")
        .map(|d| yaml(d).expect("kustomize's output parses"))
        .collect()
}

/// `files` with the text `from` of file `path` replaced by `to` (which it
/// must hold): a mutation for the checker to find.
pub fn with_replaced(files: &FileSet, path: &str, from: &str, to: &str) -> FileSet {
    let before = text(files, path);
    assert!(before.contains(from), "{from:?} in {path}:\n{before}");
    let mut changed = files.clone();
    changed.insert(path.into(), before.replace(from, to).into_bytes());
    changed
}

/// `files` with `env` (a container's `env:` list, its items indented as
/// a container's fields are) given to the oauth2-proxy container of
/// Zeppelin's prod overlay: a manifest's container in a consumer of the
/// notebooks' bucket.
pub fn with_oauth2_proxy_env(files: &FileSet, env: &str) -> FileSet {
    let container =
        "        - name: oauth2-proxy\n          image: quay.io/oauth2-proxy/oauth2-proxy:v7.15.3\n";
    with_replaced(
        files,
        "components/zeppelin/overlays/prod/oauth2-proxy.yaml",
        container,
        &format!("{container}          env:\n{env}"),
    )
}

/// The Terraform resource of `text` whose header (what follows
/// `resource `) starts with `head`, up to the next resource.
pub fn resource<'a>(text: &'a str, head: &str) -> &'a str {
    text.split("\nresource ")
        .find(|r| r.starts_with(head))
        .unwrap_or_else(|| panic!("no resource {head} in:\n{text}"))
}

/// `files` with the Terraform resource `head` of file `path` replaced by
/// one that does nothing: what the environment is without it.
pub fn without_resource(files: &FileSet, path: &str, head: &str) -> FileSet {
    let gone = resource(text(files, path), head).to_owned();
    with_replaced(files, path, &gone, "\"terraform_data\" \"nothing\" {\n}\n")
}

pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Points the dev Airflow at a Trino Service nothing creates: a break only
/// the system simulation sees (SOC-SYS-004, a broken link in the graph).
pub fn point_airflow_at_a_missing_trino(repo: &Path) {
    let values = repo.join("components/airflow/values-dev.yaml");
    let text = fs_err::read_to_string(&values).unwrap();
    let broken = text.replace(
        "trino.data-platform-processing.svc",
        "trinoo.data-platform-processing.svc",
    );
    assert_ne!(broken, text, "Airflow's dev values changed shape");
    fs_err::write(&values, broken).unwrap();
}

/// `kubectl kustomize` of a rendered file set's kustomizations, each built
/// once per content for the whole run: several tests judge the same builds
/// of the same renders, and each build costs a third of a second of CPU.
pub struct Builds {
    kubectl: PathBuf,
    digest: String,
    dir: tempfile::TempDir,
}

type BuildCache = std::sync::Mutex<
    std::collections::HashMap<(String, String), std::sync::Arc<std::sync::OnceLock<Built>>>,
>;

/// A build's standard output, or the reason it failed.
pub type Built = Result<std::sync::Arc<str>, String>;

impl Builds {
    pub fn new(kubectl: &Path, files: &FileSet) -> Self {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        for (path, bytes) in files {
            hash.update((path.len() as u64).to_le_bytes());
            hash.update(path.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        }
        let digest = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Builds {
            kubectl: kubectl.to_path_buf(),
            digest,
            dir: materialise(files),
        }
    }

    /// The build of the kustomization at `root` (a directory of the set).
    pub fn build(&self, root: &str) -> Built {
        static CACHE: std::sync::OnceLock<BuildCache> = std::sync::OnceLock::new();
        let cell = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((self.digest.clone(), root.to_owned()))
            .or_default()
            .clone();
        cell.get_or_init(|| {
            let out = std::process::Command::new(&self.kubectl)
                .arg("kustomize")
                .arg(self.dir.path().join(root))
                .output()
                .map_err(|e| format!("kubectl kustomize {root}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "kubectl kustomize {root}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            String::from_utf8(out.stdout)
                .map(std::sync::Arc::from)
                .map_err(|e| format!("kubectl kustomize {root}: {e}"))
        })
        .clone()
    }
}

/// A Compose host folder as a developer brings it up: its scripts parse
/// (`sh -n`), `compose.yaml` passes the Compose specification's schema,
/// `docker-compose config` refuses it until `init-env.sh` has written
/// `.env`, a second `init-env.sh` changes nothing, and then it resolves.
/// Returns `.env` and the resolved file; `None` when docker-compose is
/// missing (a skip, like [`tool`]).
pub fn bring_up_compose_host(host: &Path, scripts: &[&str]) -> Option<(String, String)> {
    use std::process::Command;
    for script in scripts {
        let out = Command::new("sh")
            .arg("-n")
            .arg(host.join(script))
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_builtin_schema("vendor.compose-spec", &host.join("compose.yaml"));
    let dc = tool("docker-compose")?;
    let config = || {
        Command::new(&dc)
            .arg("config")
            .current_dir(host)
            .output()
            .expect("docker-compose")
    };
    // Without .env, Compose refuses: every credential is required.
    let out = config();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not set: run sh init-env.sh"));
    let init = || {
        let out = Command::new("sh")
            .arg("init-env.sh")
            .current_dir(host)
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs_err::read_to_string(host.join(".env")).expect(".env")
    };
    let env = init();
    assert_eq!(init(), env, "a second run of init-env.sh changed .env");
    let out = config();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((env, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// `tests/tools/dbt_check.sh` with the real `dbt` on a rendered repository
/// in `dir`: whether it passed, and its whole output.
pub fn dbt_check(dbt: &Path, dir: &Path) -> (bool, String) {
    dbt_check_queries(dbt, dir, "")
}

/// [`dbt_check`], then `queries` (one per line) on the local build, each
/// of which must return rows.
pub fn dbt_check_queries(dbt: &Path, dir: &Path, queries: &str) -> (bool, String) {
    let out = std::process::Command::new("bash")
        .arg(repo_root().join("tests/tools/dbt_check.sh"))
        .arg(dbt)
        .arg(dir)
        .env("DBT_CHECK_SQL", queries)
        .output()
        .expect("run dbt_check.sh");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The literal value of a container's environment variable `name`.
pub fn env_value(container: &serde_json::Value, name: &str) -> String {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("env {name}"))
        .to_owned()
}

/// The alerting rule `alert` of a PrometheusRule's groups.
pub fn alert_rule<'a>(rule: &'a serde_json::Value, alert: &str) -> &'a serde_json::Value {
    rule["spec"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .find(|r| r["alert"] == alert)
        .unwrap_or_else(|| panic!("no alert {alert}"))
}

/// Runs `promtool test rules` on `test` (a unit-test file's content, its
/// rule files relative to `dir`) and asserts it passes.
pub fn promtool_test(promtool: &Path, dir: &Path, test: &serde_json::Value) {
    let path = dir.join("test.yaml");
    fs_err::write(&path, serde_json::to_string(test).expect("json")).expect("test written");
    let out = std::process::Command::new(promtool)
        .args(["test", "rules"])
        .arg(&path)
        .output()
        .expect("promtool");
    assert_success(&out);
}

/// Variables a dashboard's queries may use: its own and Grafana's
/// built-ins.
pub fn dashboard_variables(dashboard: &serde_json::Value) -> std::collections::BTreeSet<String> {
    let mut out: std::collections::BTreeSet<String> = ["__rate_interval", "__range", "__interval"]
        .into_iter()
        .map(String::from)
        .collect();
    for v in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        out.insert(v["name"].as_str().expect("variable name").to_owned());
    }
    out
}

fn balanced(expr: &str) -> bool {
    let mut stack = Vec::new();
    let mut in_string = false;
    for c in expr.chars() {
        match c {
            '"' => in_string = !in_string,
            _ if in_string => {}
            '(' | '{' | '[' => stack.push(c),
            ')' | '}' | ']' => {
                let open = stack.pop();
                let want = match c {
                    ')' => '(',
                    '}' => '{',
                    _ => '[',
                };
                if open != Some(want) {
                    return false;
                }
            }
            _ => {}
        }
    }
    stack.is_empty() && !in_string
}

/// The queries of a Grafana dashboard, once it holds what Grafana needs of
/// every panel: a place on the 24-column grid, the `datasource` variable as
/// data source, at least one balanced query naming only defined variables.
pub fn dashboard_queries(path: &str, dashboard: &serde_json::Value) -> Vec<String> {
    let vars = dashboard_variables(dashboard);
    assert!(
        vars.contains("datasource"),
        "{path}: no datasource variable"
    );
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let pos = &panel["gridPos"];
        for k in ["x", "y", "w", "h"] {
            assert!(
                pos[k].is_u64(),
                "{path}: panel {} has no gridPos.{k}",
                panel["title"]
            );
        }
        assert!(pos["x"].as_u64().unwrap_or(99) + pos["w"].as_u64().unwrap_or(99) <= 24);
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{path}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(
            !targets.is_empty(),
            "{path}: panel {} has no query",
            panel["title"]
        );
        for t in targets {
            let e = t["expr"].as_str().unwrap_or("");
            assert!(
                !e.trim().is_empty(),
                "{path}: empty query in {}",
                panel["title"]
            );
            assert!(balanced(e), "{path}: unbalanced query {e}");
            for var in e.split('$').skip(1) {
                let name: String = var
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    assert!(vars.contains(&name), "{path}: ${name} is not defined");
                }
            }
            queries.push(e.to_owned());
        }
    }
    queries
}

/// python-hcl2 parses every `.tf` file of `terraform/<env>/`, and checkov's
/// Terraform framework fails none of its checks there, each check skipped
/// inline being listed in that folder's README (its exceptions). Returns
/// checkov's summary; None where the tools are missing and not required.
pub fn assert_terraform_passes_hcl2_and_checkov(
    files: &FileSet,
    env: &str,
) -> Option<serde_json::Value> {
    let python = match std::env::var_os("SOCLE_HCL_PYTHON") {
        Some(p) => p,
        None if std::env::var_os("SOCLE_REQUIRE_TOOLS").is_some() => {
            panic!("SOCLE_HCL_PYTHON is required (SOCLE_REQUIRE_TOOLS is set): the python of a virtualenv with python-hcl2")
        }
        None => {
            eprintln!("skipped: SOCLE_HCL_PYTHON not set (run .ci/run)");
            return None;
        }
    };
    let checkov = tool("checkov")?;
    let dir = materialise(files);
    let folder = format!("terraform/{env}/");
    let tf = dir.path().join(&folder);
    let parse = std::process::Command::new(&python)
        .args([
            "-c",
            "import glob, sys, hcl2\nfor f in sorted(glob.glob(sys.argv[1] + '/*.tf')):\n    with open(f) as h: hcl2.load(h)\n    print(f)",
        ])
        .arg(&tf)
        .output()
        .expect("python runs");
    assert_success(&parse);
    let tf_files = files
        .keys()
        .filter(|p| p.starts_with(&folder) && p.ends_with(".tf"))
        .count();
    assert_eq!(
        String::from_utf8_lossy(&parse.stdout).lines().count(),
        tf_files
    );

    // Not --quiet: it leaves the skipped checks out of the report.
    let out = std::process::Command::new(&checkov)
        .args([
            "--framework",
            "terraform",
            "--skip-download",
            "-o",
            "json",
            "-d",
        ])
        .arg(&tf)
        .env("BC_SKIP_MAPPING", "TRUE")
        .output()
        .expect("checkov runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov's report: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let summary = report["summary"].clone();
    eprintln!(
        "checkov {folder}: {} passed, {} failed, {} skipped",
        summary["passed"], summary["failed"], summary["skipped"]
    );
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{} {} ({})", c["check_id"], c["resource"], c["file_path"]))
        .collect();
    assert!(failed.is_empty(), "checkov failed: {failed:#?}");
    let readme = text(files, &format!("{folder}README.md"));
    let skipped: std::collections::BTreeSet<String> = report["results"]["skipped_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["check_id"].as_str().map(str::to_owned))
        .collect();
    assert!(
        summary["skipped"].as_u64() == Some(0) || !skipped.is_empty(),
        "checkov skipped checks its report does not list"
    );
    for id in &skipped {
        assert!(
            readme.contains(&format!("`{id}`")),
            "{id} is skipped but not in the README's exceptions"
        );
    }
    Some(summary)
}

/// Runs `script` with bash in `dir`, terraform on the PATH and its
/// providers from the local mirror (`SOCLE_TF_PLUGINS`): its stdout, or
/// None where the machine has no mirror or no terraform.
pub fn run_with_terraform_mirror(dir: &Path, script: &str) -> Option<String> {
    let Some(mirror) = std::env::var_os("SOCLE_TF_PLUGINS") else {
        eprintln!("skipped: SOCLE_TF_PLUGINS not set (no local provider mirror)");
        return None;
    };
    let terraform = tool("terraform")?;
    let rc = dir.join("terraformrc");
    fs_err::write(
        &rc,
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path = {:?}\n  }}\n}}\n",
            mirror.to_string_lossy()
        ),
    )
    .expect("write");
    let path = std::env::join_paths(
        std::iter::once(
            terraform
                .parent()
                .expect("terraform's folder")
                .to_path_buf(),
        )
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .expect("PATH");
    let out = std::process::Command::new("bash")
        .args(["-eo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("TF_CLI_CONFIG_FILE", &rc)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("bash");
    assert_success(&out);
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The lakehouse example with prod on the managed cloud `target`, its
/// `cloud` line being `cloud`.
pub fn lakehouse_prod_on(target: &str, cloud: &str) -> String {
    let example = crate::lakehouse::example();
    let start = example.find("  - name: prod\n").expect("prod");
    let end = example.find("\ncomponents:").expect("components");
    format!(
        "{}  - name: prod\n    target: {target}\n{cloud}{}",
        &example[..start],
        &example[end..]
    )
}

/// The addresses and ports a namespace's egress policies in prod open, as
/// "policy cidr:port".
pub fn prod_egress(files: &FileSet, ns: &str) -> std::collections::BTreeSet<String> {
    let path = format!("platform/overlays/prod/namespaces/{ns}/egress.yaml");
    let mut out = std::collections::BTreeSet::new();
    for doc in text(files, &path).split("\n---\n") {
        let Ok(doc) = yaml::<serde_json::Value>(doc) else {
            continue;
        };
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        for rule in doc["spec"]["egress"].as_array().into_iter().flatten() {
            for to in rule["to"].as_array().into_iter().flatten() {
                let Some(cidr) = to["ipBlock"]["cidr"].as_str() else {
                    continue;
                };
                for port in rule["ports"].as_array().into_iter().flatten() {
                    out.insert(format!("{name} {cidr}:{}", port["port"]));
                }
            }
        }
    }
    out
}

/// The other renders the real-tool and schema tests judge besides
/// [`renders_of_every_shape`], by label with their blueprint (its folder
/// name): the lakehouse's example and its cloud targets, and the data
/// platform on the clouds other than EKS.
pub fn renders_of_other_targets() -> Vec<(&'static str, &'static str, FileSet)> {
    vec![
        ("the lakehouse example", "lakehouse", render_lakehouse()),
        (
            "the lakehouse with prod on EKS",
            "lakehouse",
            render_lakehouse_eks(),
        ),
        (
            "the lakehouse with prod on GKE",
            "lakehouse",
            render_lakehouse_gke(),
        ),
        (
            "the lakehouse with prod on AKS",
            "lakehouse",
            render_lakehouse_aks(),
        ),
        (
            "the data platform with prod on EKS, its account named",
            "platform",
            render_eks_account(),
        ),
        (
            "the data platform with prod on GKE",
            "platform",
            render_platform_gke(),
        ),
        (
            "the data platform with prod on AKS",
            "platform",
            render_platform_aks(),
        ),
    ]
}

/// The document of `kind` among `built` whose name is `prefix` followed by
/// the hash suffix kustomize gives generated objects.
pub fn generated<'a>(
    built: &'a [serde_json::Value],
    kind: &str,
    prefix: &str,
) -> &'a serde_json::Value {
    built
        .iter()
        .find(|d| {
            d["kind"] == kind
                && d["metadata"]["name"]
                    .as_str()
                    .and_then(|n| n.strip_prefix(prefix))
                    .is_some_and(|hash| hash.starts_with('-'))
        })
        .unwrap_or_else(|| panic!("{kind} {prefix}-<hash>"))
}

/// An executable `name` in `bin` running `body` with `sh`: a recording
/// stand-in for a tool a generated script calls.
pub fn stand_in(bin: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = bin.join(name);
    fs_err::write(&path, format!("#!/bin/sh\n{body}")).expect("stand-in");
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// `curl` as Lakekeeper's bootstrap scripts see it: each call's arguments
/// appended to `$SEEN` (one per line, calls separated by `--`); a token for
/// a Keycloak token URL; warehouses `iceberg-ml` (id `w-ml`) and
/// `iceberg-raw` (`w-raw`) listed; a creation of `iceberg-ml` answered
/// `$ML_STATUS` (409, already there, by default), every other call a
/// success.
pub const CATALOG_CURL: &str = r#"for a in "$@"; do printf '%s\n' "$a"; done >> "$SEEN"
printf '%s\n' "--" >> "$SEEN"
out= url= post= body=
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out=$2; shift ;;
    -d) body=$2; shift ;;
    -X) [ "$2" = POST ] && post=1; shift ;;
    http://*) url=$1 ;;
  esac
  shift
done
case "$post$url" in
  *openid-connect/token) printf '{"access_token":"t0k3n","token_type":"Bearer"}' ;;
  http://*/management/v1/warehouse)
    # A GET: the catalog's warehouses.
    printf '{"warehouses":[{"id":"w-ml","warehouse-id":"w-ml","name":"iceberg-ml","project-id":"p"},{"id":"w-raw","warehouse-id":"w-raw","name":"iceberg-raw","project-id":"p"}]}' > "$out"
    printf '200' ;;
  1*/storage) printf '200' ;;
  *) case "$body" in
       *'"warehouse-name":"iceberg-ml"'*) printf '%s' "${ML_STATUS:-409}" ;;
       *) printf '201' ;;
     esac ;;
esac
"#;

/// Runs `cmd` (a catalog bootstrap script) in `dir` with [`CATALOG_CURL`]
/// first on its PATH, a creation of `iceberg-ml` answered `ml_status`, and
/// `TMPDIR` in `dir`: its output and the calls the stand-in recorded.
pub fn run_with_catalog_curl(
    dir: &Path,
    mut cmd: std::process::Command,
    ml_status: &str,
) -> (std::process::Output, String) {
    let bin = dir.join("bin");
    fs_err::create_dir_all(&bin).expect("bin");
    stand_in(&bin, "curl", CATALOG_CURL);
    let seen = dir.join(format!("curl-{ml_status}"));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = cmd
        .env("PATH", path)
        .env("SEEN", &seen)
        .env("ML_STATUS", ml_status)
        .env("TMPDIR", dir)
        .output()
        .expect("sh");
    (out, fs_err::read_to_string(&seen).unwrap_or_default())
}

/// The catalog's bootstrap Job of `env` run by `sh` against
/// [`CATALOG_CURL`], with its variables (a Secret's as its own name,
/// `from-<NAME>`): what it printed and the calls it made, and its
/// variables' literal values.
pub fn run_catalog_job(
    files: &FileSet,
    env: &str,
    dir: &Path,
    ml_status: &str,
) -> (
    std::process::Output,
    String,
    std::collections::BTreeMap<String, String>,
) {
    let path = format!("components/lakekeeper/manifests/{env}/bootstrap-job.yaml");
    let job = yaml_stream::<serde_json::Value>(text(files, &path))
        .expect("the Job")
        .into_iter()
        .find(|d| d["kind"] == "Job")
        .expect("a Job");
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["command"][0], "/bin/sh");
    let script = container["command"][2].as_str().expect("script");
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-ec", script]);
    let mut literal = std::collections::BTreeMap::new();
    for e in container["env"].as_array().expect("env") {
        let name = e["name"].as_str().expect("name");
        let value = e["value"]
            .as_str()
            .map_or_else(|| format!("from-{name}"), str::to_owned);
        if e["value"].is_string() {
            literal.insert(name.to_owned(), value.clone());
        }
        cmd.env(name, value);
    }
    let (out, seen) = run_with_catalog_curl(dir, cmd, ml_status);
    (out, seen, literal)
}

/// The JSON body (`-d`) of one call a `curl` stand-in recorded.
pub fn curl_body(call: &str) -> serde_json::Value {
    let text = call
        .lines()
        .skip_while(|l| *l != "-d")
        .nth(1)
        .unwrap_or_else(|| panic!("no body: {call}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// What a bootstrap script told [`CATALOG_CURL`]: the bodies of the
/// warehouses it declared, after checking the one update the existing
/// `iceberg-ml` must get (its storage again, in `ml_bucket`, vending on, at
/// its id).
pub fn catalog_calls(seen: &str, ml_bucket: &str) -> Vec<serde_json::Value> {
    let calls: Vec<&str> = seen.split("\n--\n").collect();
    let updates: Vec<&&str> = calls
        .iter()
        .filter(|c| c.contains("/management/v1/warehouse/"))
        .collect();
    assert_eq!(updates.len(), 1, "{seen}");
    assert!(
        updates[0].contains("/management/v1/warehouse/w-ml/storage"),
        "{seen}"
    );
    let update = curl_body(updates[0]);
    let profile = &update["storage-profile"];
    // An ADLS profile names its container `filesystem`, and vends SAS
    // tokens where the others vend from an STS.
    let (bucket, vends) = match profile["type"].as_str() {
        Some("adls") => (&profile["filesystem"], &profile["sas-enabled"]),
        _ => (&profile["bucket"], &profile["sts-enabled"]),
    };
    assert_eq!(bucket, ml_bucket);
    assert_eq!(vends, true);
    assert!(update.get("warehouse-name").is_none(), "{update}");
    calls
        .iter()
        .filter(|c| c.contains("\"warehouse-name\""))
        .map(|c| curl_body(c))
        .collect()
}
