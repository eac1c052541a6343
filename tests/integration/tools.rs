//! The generated repository through the real tools of each ecosystem:
//! yamllint, kubernetes-validate (strict, offline schemas) and kustomize (as
//! shipped in kubectl). `.ci/run` installs them and sets
//! `SOCLE_REQUIRE_TOOLS=1`, so in CI a missing tool fails instead of skipping.

use std::path::Path;
use std::process::Command;

use crate::support::{materialise, render, to_json, tool, yaml_docs};

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// API groups whose kinds kubernetes-validate knows offline.
fn is_core(api_version: &str) -> bool {
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    group.is_empty()
        || (group.ends_with(".k8s.io")
            && !group.contains("sparkoperator")
            && !group.contains("x-k8s"))
        || ["apps", "batch", "policy", "autoscaling"].contains(&group)
}

fn validate_docs(kv: &Path, docs: Vec<(String, serde_json::Value)>, label: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, (origin, doc)) in docs.iter().enumerate() {
        let p = dir.path().join(format!("{i:04}.yaml"));
        fs_err::write(
            &p,
            // JSON is YAML, with the origin as a YAML comment before it.
            format!("# {origin}\n{}", serde_json::to_string_pretty(doc).unwrap()),
        )
        .unwrap();
        paths.push(p);
    }
    if paths.is_empty() {
        return 0;
    }
    let (ok, out) = run(Command::new(kv)
        .args(["-k", "1.33", "--strict"])
        .args(&paths));
    if !ok {
        let index: Vec<String> = docs
            .iter()
            .enumerate()
            .map(|(i, (o, _))| format!("{i:04}.yaml = {o}"))
            .collect();
        panic!(
            "kubernetes-validate failed on {label}:\n{out}\n{}",
            index.join("\n")
        );
    }
    paths.len()
}

#[test]
fn yamllint_accepts_every_yaml_file() {
    let Some(yamllint) = tool("yamllint") else {
        return;
    };
    let mut specs = crate::support::renders_of_every_shape().to_vec();
    // The other blueprint and the other clouds too.
    specs.extend(
        crate::support::renders_of_other_targets()
            .into_iter()
            .map(|(label, _, files)| (label, files)),
    );
    for (spec, files) in specs {
        let dir = materialise(&files);
        let (ok, out) = run(Command::new(&yamllint)
            .args(["-d", "relaxed", "-f", "parsable", "--no-warnings", "."])
            .current_dir(dir.path()));
        assert!(ok, "yamllint {spec}:\n{out}");
    }
}

#[test]
fn kubernetes_validate_accepts_core_documents_and_built_overlays() {
    let Some(kv) = tool("kubernetes-validate") else {
        return;
    };
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let mut specs = vec![
        ("default", render(None)),
        ("full.yaml", render(Some("full.yaml"))),
        ("prod on EKS", crate::support::render_eks()),
    ];
    specs.extend(
        crate::support::renders_of_other_targets()
            .into_iter()
            .map(|(label, _, files)| (label, files)),
    );
    // One run of kubernetes-validate for every document: it starts in a
    // quarter of a second, and the three renders build 150 overlays. A
    // document two renders share (EKS changes prod only) is judged once.
    let mut docs: Vec<(String, serde_json::Value)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut add = |origin: String, doc: serde_json::Value| {
        if seen.insert(doc.to_string()) {
            docs.push((origin, doc));
        }
    };
    for (spec, files) in specs {
        // Documents outside overlays (overlay patches are partial by design
        // and are checked through the built overlay below).
        let mut n = 0;
        for (path, doc) in yaml_docs(&files) {
            if path.contains("/overlays/") || path.ends_with("kustomization.yaml") {
                continue;
            }
            let doc = to_json(&doc);
            if doc["apiVersion"].as_str().is_some_and(is_core) && doc["kind"].is_string() {
                n += 1;
                add(format!("{spec}: {path}"), doc);
            }
        }
        assert!(n > 20, "{spec}: only {n} core documents");

        let builds = crate::support::Builds::new(&kubectl, &files);
        let overlays: Vec<String> = files
            .keys()
            .filter_map(|p| p.strip_suffix("/kustomization.yaml"))
            .filter(|p| p.rsplit('/').nth(1) == Some("overlays"))
            .map(str::to_owned)
            .collect();
        assert!(overlays.len() >= 4, "{overlays:?}");
        for overlay in overlays {
            let out = builds.build(&overlay).unwrap_or_else(|e| panic!("{e}"));
            for doc in crate::support::yaml_stream::<serde_json::Value>(&out)
                .expect("kustomize output parses")
                .into_iter()
                .filter(|d| d["apiVersion"].as_str().is_some_and(is_core))
            {
                add(format!("{spec}: {overlay} (built)"), doc);
            }
        }
    }
    validate_docs(&kv, docs, "the source documents and built overlays");
}

/// The strict schemas socle derives agree with kubernetes-validate on
/// unknown fields. On closed value sets socle is stricter: the API server
/// refuses `imagePullPolicy: Sometimes`, kubernetes-validate's schemas
/// (like the OpenAPI documents they come from) do not say so.
#[test]
fn schema_findings_agree_with_kubernetes_validate() {
    let Some(kv) = tool("kubernetes-validate") else {
        return;
    };
    let files = render(None);
    let sts = "components/zeppelin/base/statefulset.yaml";
    let text = String::from_utf8_lossy(&files[sts]).into_owned();
    let cases = [
        ("typo", text.replacen("  replicas: 1\n", "  replica: 1\n", 1)),
        (
            "enum",
            text.replacen(
                "- name: zeppelin-server\n          image: apache/zeppelin:0.12.1\n",
                "- name: zeppelin-server\n          image: apache/zeppelin:0.12.1\n          imagePullPolicy: Sometimes\n",
                1,
            ),
        ),
    ];
    for (label, mutated) in cases {
        assert_ne!(mutated, text, "{label}: mutation did not apply");
        let (ok, out, code, report) = judged_by_both(&kv, "sts.yaml", &mutated);
        assert_eq!(ok, label == "enum", "{label}: kubernetes-validate:\n{out}");
        assert_eq!(code, Some(1), "{label}: {report}");
        assert!(report.contains("SOC-SCHEMA-001"), "{label}: {report}");
    }
    // And the unmutated document passes both.
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("sts.yaml"), &text).unwrap();
    let (ok, out) = run(Command::new(&kv)
        .args(["-k", "1.33", "--strict"])
        .arg(dir.path().join("sts.yaml")));
    assert!(ok, "{out}");
}

/// `text`, as the one file `name` of a repository, judged by
/// kubernetes-validate (strict, Kubernetes 1.33) and by `socle check`:
/// whether the first accepts it and what it says, then socle's exit code
/// and report.
fn judged_by_both(
    kv: &std::path::Path,
    name: &str,
    text: &str,
) -> (bool, String, Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    fs_err::write(&file, text).unwrap();
    let (ok, out) = run(Command::new(kv).args(["-k", "1.33", "--strict"]).arg(&file));
    let socle = Command::new(assert_cmd::cargo::cargo_bin("socle"))
        .arg("check")
        .arg(dir.path())
        .output()
        .unwrap();
    (
        ok,
        out,
        socle.status.code(),
        String::from_utf8_lossy(&socle.stdout).into_owned(),
    )
}

/// The API's kinds beyond workloads are validated too, where they were
/// "not validated": a CustomResourceDefinition (whose schema's `default`,
/// `enum` and `example` values are any JSON), an APIService, a
/// ReplicationController. socle and kubernetes-validate agree on each,
/// valid or misspelt.
#[test]
fn the_apis_other_kinds_are_validated_as_kubernetes_validate_does() {
    let Some(kv) = tool("kubernetes-validate") else {
        return;
    };
    let crd = |scope: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {{kind: Widget, plural: widgets, listKind: WidgetList, singular: widget}}
  {scope}: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {{status: {{}}}}
      additionalPrinterColumns:
        - {{name: Size, type: integer, jsonPath: .spec.size}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: {{type: integer, default: 3, minimum: 1}}
                mode: {{type: string, enum: [fast, safe], example: safe}}
                labels: {{type: object, additionalProperties: {{type: string}}}}
                extra: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
                ports:
                  type: array
                  x-kubernetes-list-type: map
                  x-kubernetes-list-map-keys: [port]
                  items:
                    type: object
                    required: [port]
                    properties:
                      port: {{x-kubernetes-int-or-string: true, anyOf: [{{type: integer}}, {{type: string}}]}}
                settings: {{type: object, additionalProperties: true, default: {{a: 1}}}}
"
        )
    };
    let api_service = "apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service: {name: metrics-server, namespace: kube-system}
";
    let rc = |replicas: &str| {
        format!(
            "apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  {replicas}: 2
  selector: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: registry.example/web:1.0
"
        )
    };
    for (label, name, text, valid) in [
        ("crd", "crd.yaml", crd("scope"), true),
        ("crd misspelt", "crd.yaml", crd("scpoe"), false),
        (
            "api service",
            "apiservice.yaml",
            api_service.to_owned(),
            true,
        ),
        ("rc", "rc.yaml", rc("replicas"), true),
        ("rc misspelt", "rc.yaml", rc("replica"), false),
    ] {
        let (ok, out, _, report) = judged_by_both(&kv, name, &text);
        assert_eq!(ok, valid, "{label}: kubernetes-validate:\n{out}");
        assert_eq!(
            report.contains("SOC-SCHEMA-001"),
            !valid,
            "{label}: {report}"
        );
        assert!(!report.contains("Not validated"), "{label}: {report}");
    }
}

/// Manifests are read as kubectl reads them, with YAML 1.1's scalars (as
/// PyYAML in kubernetes-validate does): `defaultMode: 0755` is an octal
/// integer and passes; `value: yes` is a boolean, which a string field
/// refuses; a quoted `"0755"` is a string, which an integer field refuses.
/// socle and kubernetes-validate agree on each.
#[test]
fn yaml_scalars_are_read_as_kubernetes_reads_them() {
    let Some(kv) = tool("kubernetes-validate") else {
        return;
    };
    let pod = |mode: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: registry.example/web:1.0\n      env:\n        - name: DEBUG\n          value: {value}\n      volumeMounts:\n        - name: scripts\n          mountPath: /scripts\n  volumes:\n    - name: scripts\n      configMap:\n        name: scripts\n        defaultMode: {mode}\n"
        )
    };
    for (label, text, valid) in [
        ("octal", pod("0755", "\"yes\""), true),
        ("boolean", pod("0755", "yes"), false),
        ("quoted", pod("\"0755\"", "\"yes\""), false),
    ] {
        let (ok, out, _, report) = judged_by_both(&kv, "pod.yaml", &text);
        assert_eq!(ok, valid, "{label}: kubernetes-validate:\n{out}");
        assert_eq!(
            report.contains("SOC-SCHEMA-001"),
            !valid,
            "{label}: {report}"
        );
    }
}

/// `socle check --render` builds the overlays with the real kustomize and
/// finds what only the rendered objects show, traced back to the source file.
#[test]
fn render_checks_what_overlays_produce() {
    let Some(_kubectl) = tool("kubectl") else {
        return;
    };
    let files = render(None);
    let dir = materialise(&files);
    let overlay = dir
        .path()
        .join("components/zeppelin/overlays/prod/kustomization.yaml");
    let mut text = fs_err::read_to_string(&overlay).unwrap();
    text.push_str("images:\n  - name: apache/zeppelin\n    newTag: latest\n");
    fs_err::write(&overlay, text).unwrap();
    let socle = |extra: &[&str]| {
        let out = Command::new(assert_cmd::cargo::cargo_bin("socle"))
            .arg("check")
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // The files alone show it too: the kustomize model applies images:.
    let (code, report) = socle(&[]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains("un-pins it in components/zeppelin/overlays/prod (apache/zeppelin:latest)"),
        "{report}"
    );
    let (code, report) = socle(&["--render"]);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains("components/zeppelin/base/statefulset.yaml:") && report.contains("[components/zeppelin/overlays/prod] container \"zeppelin-server\" uses image \"apache/zeppelin:latest\""),
        "{report}"
    );
    // Without kustomize or kubectl, --render is a usage error that says so.
    let out = Command::new(assert_cmd::cargo::cargo_bin("socle"))
        .arg("check")
        .arg(dir.path())
        .arg("--render")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs `kustomize` or `kubectl`"));
}

/// `socle check --render --format json` on `dir`.
fn render_json(dir: &std::path::Path) -> std::process::Output {
    Command::new(assert_cmd::cargo::cargo_bin("socle"))
        .arg("check")
        .arg(dir)
        .args(["--render", "--format", "json"])
        .output()
        .unwrap()
}

/// An overlay kustomize cannot build is a denial on its kustomization,
/// with kustomize's reason in paths of the repository; the other overlays
/// are still built and judged, rather than the whole check stopping.
#[test]
fn render_denies_an_overlay_kustomize_cannot_build_and_goes_on() {
    let Some(_kubectl) = tool("kubectl") else {
        return;
    };
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: registry.example/web:1.0\n";
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in [
        (
            "good/kustomization.yaml",
            "resources:\n  - deployment.yaml\nimages:\n  - name: registry.example/web\n    newTag: latest\n",
        ),
        ("good/deployment.yaml", deployment),
        ("broken/kustomization.yaml", "resources:\n  - ../missing\n"),
    ] {
        let path = dir.path().join(path);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }
    let out = render_json(dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let findings = json["findings"].as_array().unwrap();
    let unbuilt: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["rule"] == "SOC-RENDER-002")
        .collect();
    assert_eq!(unbuilt.len(), 1, "{stdout}");
    assert_eq!(unbuilt[0]["file"], "broken/kustomization.yaml");
    let message = unbuilt[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("kustomize cannot build overlay broken: ")
            && message.contains("missing"),
        "{message}"
    );
    let root = fs_err::canonicalize(dir.path()).unwrap();
    assert!(!stdout.contains(&root.display().to_string()), "{stdout}");
    // What only the built overlay shows: its image, un-pinned by images:.
    assert!(
        findings.iter().any(|f| f["rule"] == "SOC-K8S-002"
            && f["message"]
                .as_str()
                .unwrap()
                .contains("[good] container \"web\" uses image \"registry.example/web:latest\"")),
        "{stdout}"
    );
}

/// The CI files socle ships and generates validate against the vendored
/// GitHub and GitLab schemas of check-jsonschema.
#[test]
fn ci_files_validate_with_check_jsonschema() {
    let root = crate::support::repo_root();
    let validate = crate::support::assert_builtin_schema;
    validate("vendor.github-actions", &root.join("ci/github/action.yml"));
    validate(
        "vendor.gitlab-ci",
        &root.join("ci/gitlab/socle.gitlab-ci.yml"),
    );
    for spec in [None, Some("full.yaml")] {
        let dir = materialise(&render(spec));
        let workflow = dir.path().join(".github/workflows/socle.yaml");
        let text = fs_err::read_to_string(&workflow).unwrap();
        assert!(
            text.contains("fetch-depth: 0") && text.contains("github.event.pull_request.base.sha"),
            "{text}"
        );
        validate("vendor.github-workflows", &workflow);
        validate("vendor.gitlab-ci", &dir.path().join(".gitlab-ci.yml"));
    }
}

/// `--render` builds every kustomization root (one no other kustomization
/// includes), wherever it sits, and reports a problem only the builds show
/// once, at the shared base's line, naming the roots that build it (names
/// changed by a prefix are traced back to their source); what the files
/// already show is not repeated for each build.
#[test]
fn render_builds_every_root_and_reports_a_shared_base_once() {
    let Some(_kubectl) = tool("kubectl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let p = dir.path().join(path);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, text).unwrap();
    };
    write(
        "app/base/kustomization.yaml",
        "resources:\n  - deployment.yaml\n",
    );
    write(
        "app/base/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: registry.example/web:1.0\n",
    );
    for env in ["dev", "prod"] {
        write(
            &format!("deploy/{env}/kustomization.yaml"),
            &format!("namePrefix: {env}-\nresources:\n  - ../../app/base\nimages:\n  - name: registry.example/web\n    newTag: latest\n"),
        );
    }
    let out = render_json(dir.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rendered: Vec<&serde_json::Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["message"].as_str().unwrap().starts_with('['))
        .collect();
    assert_eq!(rendered.len(), 1, "{rendered:?}");
    assert_eq!(rendered[0]["file"], "app/base/deployment.yaml");
    assert_eq!(rendered[0]["line"], 1);
    assert_eq!(rendered[0]["rule"], "SOC-K8S-002");
    assert!(
        rendered[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("[deploy/dev, deploy/prod] "),
        "{rendered:?}"
    );
}
