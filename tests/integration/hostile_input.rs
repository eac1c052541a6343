//! Input crafted to slip past the check or to exhaust it: each case is
//! reported as a denial naming the file, in bounded time.

use std::time::{Duration, Instant};

use socle::render::FileSet;

use crate::support::check_json;

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\nstringData:\n  password: hunter2hunter2\n";

fn one(path: &str, bytes: Vec<u8>) -> FileSet {
    FileSet::from([(path.to_owned(), bytes)])
}

/// The rule ids reported against `file`.
fn rules_on(findings: &[serde_json::Value], file: &str) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f["file"] == file && f["severity"] == "deny")
        .filter_map(|f| f["rule"].as_str().map(str::to_owned))
        .collect()
}

fn assert_denied(files: &FileSet, file: &str, rule: &str) {
    let (code, findings) = check_json(files);
    assert_eq!(code, 1, "{file}: {findings:#?}");
    let rules = rules_on(&findings, file);
    assert!(
        rules.iter().any(|r| r == rule),
        "{file}: {rule} expected, got {findings:#?}"
    );
}

#[test]
fn a_secret_padded_past_the_size_limit_is_denied() {
    let mut text = SECRET.to_owned();
    let pad = format!("# {}\n", "x".repeat(98));
    while text.len() <= 11 * 1024 * 1024 {
        text.push_str(&pad);
    }
    assert_denied(
        &one("apps/secret.yaml", text.into_bytes()),
        "apps/secret.yaml",
        "SOC-REPO-002",
    );
}

fn utf16(text: &str, big: bool) -> Vec<u8> {
    let mut out = if big {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for u in text.encode_utf16() {
        out.extend(if big {
            u.to_be_bytes()
        } else {
            u.to_le_bytes()
        });
    }
    out
}

fn utf32(text: &str, big: bool) -> Vec<u8> {
    let mut out = if big {
        vec![0, 0, 0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE, 0, 0]
    };
    for c in text.chars() {
        let u = c as u32;
        out.extend(if big {
            u.to_be_bytes()
        } else {
            u.to_le_bytes()
        });
    }
    out
}

/// kubectl reads UTF-16 and UTF-32 with a byte-order mark: so does the
/// check, and the Secret inside is judged like any other.
#[test]
fn secrets_in_other_encodings_are_judged() {
    for (name, bytes) in [
        ("utf16le.yaml", utf16(SECRET, false)),
        ("utf16be.yaml", utf16(SECRET, true)),
        ("utf32le.yaml", utf32(SECRET, false)),
        ("utf32be.yaml", utf32(SECRET, true)),
    ] {
        assert_denied(&one(name, bytes), name, "SOC-SEC-001");
    }
}

/// A YAML or JSON name with bytes that are not text (a NUL byte, random
/// bytes) is a denial, where it used to be skipped as binary.
#[test]
fn binary_data_under_a_yaml_name_is_denied() {
    let mut nul = SECRET.as_bytes().to_vec();
    nul.extend(b"\0\n");
    assert_denied(&one("nul.yaml", nul), "nul.yaml", "SOC-PARSE-001");
    // Fixed pseudo-random bytes: the test must not depend on luck.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    assert_denied(
        &one("blob.yaml", noise.clone()),
        "blob.yaml",
        "SOC-PARSE-001",
    );
    assert_denied(&one("blob.json", noise), "blob.json", "SOC-PARSE-001");
    // The same bytes under a binary name are not judged as a manifest.
    let (code, findings) = check_json(&one("logo.png", vec![0x89, b'P', b'N', b'G', 0, 0, 0, 13]));
    assert_eq!(code, 0, "{findings:#?}");
}

/// A byte-order mark before valid YAML is not "more than one document".
#[test]
fn a_utf8_byte_order_mark_is_dropped() {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: apps\ndata:\n  a: b\n");
    let (code, findings) = check_json(&one("c.yaml", bytes));
    assert_eq!(code, 0, "{findings:#?}");
    let mut secret = vec![0xEF, 0xBB, 0xBF];
    secret.extend(SECRET.as_bytes());
    assert_denied(&one("s.yaml", secret), "s.yaml", "SOC-SEC-001");
}

/// An upper-case extension is still YAML.
#[test]
fn an_upper_case_yaml_extension_is_judged() {
    assert_denied(
        &one("s.YAML", SECRET.as_bytes().to_vec()),
        "s.YAML",
        "SOC-SEC-001",
    );
}

/// 100,000 nested flow collections (a 200 KB file) took 39 s to refuse:
/// the nesting is now refused before parsing.
#[test]
fn deep_nesting_is_refused_quickly() {
    let depth = 100_000;
    for (name, text) in [
        (
            "seq.yaml",
            format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth)),
        ),
        (
            "map.yaml",
            format!("a: {}1{}\n", "{k: ".repeat(depth), "}".repeat(depth)),
        ),
    ] {
        let started = Instant::now();
        assert_denied(&one(name, text.into_bytes()), name, "SOC-PARSE-001");
        // A bound on a hang, not a speed target (BENCHMARKS.md has those).
        assert!(started.elapsed() < Duration::from_secs(20), "{name}");
    }
    // Brackets inside quotes, comments and block scalars do not count.
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: apps\ndata:\n",
    );
    text.push_str(&format!("  quoted: \"{}\"\n", "[".repeat(500)));
    text.push_str(&format!("  # {}\n", "{".repeat(500)));
    text.push_str(&format!("  block: |\n    {}\n", "[".repeat(500)));
    let flow = format!(
        "flow: ['{}', \"{}\", it's]\n",
        "{".repeat(500),
        "[".repeat(500)
    );
    let mut files = one("c.yaml", text.into_bytes());
    files.insert("values.yaml".into(), flow.into_bytes());
    let (code, findings) = check_json(&files);
    assert_eq!(code, 0, "{findings:#?}");
}

/// One document over the 3 MB the API server accepts is refused, not
/// judged: a 10 MB mapping cost 5 s and 560 MB.
#[test]
fn a_document_larger_than_the_api_server_accepts_is_denied() {
    let mut text = String::from("values:\n");
    while text.len() <= 4 * 1024 * 1024 {
        text.push_str(&format!("  key_{:09}: some value\n", text.len()));
    }
    assert_denied(
        &one("values.yaml", text.clone().into_bytes()),
        "values.yaml",
        "SOC-REPO-002",
    );
    let json = serde_json::to_vec(&serde_json::json!({ "pad": text })).expect("json");
    assert_denied(&one("big.json", json), "big.json", "SOC-REPO-002");
}

/// `--spec` reads a regular file of at most 1 MiB: `/dev/zero` grew to
/// 23 GB, a FIFO or `/dev/urandom` hung. Each is now exit 2, at once,
/// naming the path, and nothing is written.
#[test]
fn a_spec_that_is_not_a_small_regular_file_is_refused() {
    use assert_cmd::cargo::CommandCargoExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let fifo = tmp.path().join("spec.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let huge = tmp.path().join("huge.yaml");
    fs_err::write(&huge, "# padding\n".repeat(200_000)).expect("write");
    let out_dir = tmp.path().join("out");
    for (spec, says) in [
        (std::path::PathBuf::from("/dev/zero"), "not a regular file"),
        (
            std::path::PathBuf::from("/dev/urandom"),
            "not a regular file",
        ),
        (fifo, "not a regular file"),
        (tmp.path().to_path_buf(), "not a regular file"),
        (huge, "larger than 1024 KiB"),
    ] {
        let started = Instant::now();
        let out = std::process::Command::cargo_bin("socle")
            .expect("socle binary")
            .args(["new", "-q", "--spec"])
            .arg(&spec)
            .arg("--out")
            .arg(&out_dir)
            .output()
            .expect("socle new runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", spec.display());
        assert!(
            stderr.contains(says) && stderr.contains(&*spec.to_string_lossy()),
            "{stderr}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            spec.display()
        );
        assert!(!out_dir.exists(), "nothing is written");
    }
}

/// A credential written straight into a workload's environment or into a
/// chart's values is reported like one in a Secret.
#[test]
fn literal_credentials_in_workloads_and_values_are_denied() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: apps\nspec:\n  selector:\n    matchLabels: {app: app}\n  template:\n    metadata:\n      labels: {app: app}\n    spec:\n      containers:\n        - name: app\n          image: registry.example/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n          env:\n            - name: DB_PASSWORD\n              value: hunter2hunter2\n";
    assert_denied(
        &one("apps/deployment.yaml", deployment.into()),
        "apps/deployment.yaml",
        "SOC-SEC-003",
    );
    assert_denied(
        &one(
            "components/wordpress/values.yaml",
            b"wordpressUsername: admin\nwordpressPassword: foo\n".to_vec(),
        ),
        "components/wordpress/values.yaml",
        "SOC-SEC-003",
    );
}

/// What a kustomization deploys is judged whatever its name or folder: a
/// Secret in `s.txt`, one under `.socle/`, one as a chart's plain template,
/// and a Secret generated from literals or a committed env file.
#[test]
fn what_a_kustomization_deploys_is_judged_whatever_its_name() {
    let mut files = FileSet::new();
    files.insert(
        "a/kustomization.yaml".into(),
        b"resources:\n  - s.txt\n  - ../.socle/hidden.yaml\n".to_vec(),
    );
    files.insert("a/s.txt".into(), SECRET.as_bytes().to_vec());
    files.insert(
        ".socle/hidden.yaml".into(),
        SECRET.replace("name: db", "name: hidden").into_bytes(),
    );
    files.insert(
        "chart/Chart.yaml".into(),
        b"apiVersion: v2\nname: c\nversion: 0.1.0\n".to_vec(),
    );
    files.insert(
        "chart/templates/secret.yaml".into(),
        SECRET.as_bytes().to_vec(),
    );
    files.insert(
        "chart/templates/configmap.yaml".into(),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n".to_vec(),
    );
    files.insert(
        "b/kustomization.yaml".into(),
        b"secretGenerator:\n  - name: db\n    envs:\n      - db.env\n".to_vec(),
    );
    files.insert("b/db.env".into(), b"PASSWORD=hunter2hunter2\n".to_vec());
    files.insert(
        "c/kustomization.yaml".into(),
        b"secretGenerator:\n  - name: db\n    literals:\n      - password=hunter2hunter2\n"
            .to_vec(),
    );
    let (code, findings) = check_json(&files);
    assert_eq!(code, 1, "{findings:#?}");
    for (file, rule) in [
        ("a/s.txt", "SOC-SEC-001"),
        (".socle/hidden.yaml", "SOC-SEC-001"),
        ("chart/templates/secret.yaml", "SOC-SEC-001"),
        ("b/kustomization.yaml", "SOC-SEC-004"),
        ("c/kustomization.yaml", "SOC-SEC-004"),
    ] {
        assert!(
            rules_on(&findings, file).iter().any(|r| r == rule),
            "{file}: {rule} expected in {findings:#?}"
        );
    }
    // The literal is not repeated in the report.
    assert!(!findings.iter().any(|f| f["message"]
        .as_str()
        .unwrap_or_default()
        .contains("hunter2")));
    // A template with template syntax is still left to the chart's render.
    assert!(rules_on(&findings, "chart/templates/configmap.yaml").is_empty());
}

/// Spec values that passed the schema and failed later, blaming the
/// blueprint or git, now fail at the schema, naming the field and its line;
/// a huge value is not echoed whole.
#[test]
fn spec_values_that_would_fail_later_name_their_field() {
    use assert_cmd::cargo::CommandCargoExt;
    let replace = |key: &str, value: &str| -> String {
        let mut done = false;
        socle::spec::EXAMPLE
            .lines()
            .map(|l| {
                if !done && l.starts_with(&format!("  {key}: ")) {
                    done = true;
                    format!("  {key}: {value}")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let huge = format!("\"{}..x\"", "a".repeat(1_000_000));
    let tmp = tempfile::tempdir().expect("tempdir");
    for (key, value, field) in [
        (
            "url",
            "\"https://git.example/{{x}}\\\"q\"",
            "repository.url",
        ),
        ("revision", "\"a/../..\"", "repository.revision"),
        ("revision", "\"main.lock\"", "repository.revision"),
        ("name", "\"Acme\\u0000Corp\"", "client.name"),
        ("revision", huge.as_str(), "repository.revision"),
    ] {
        let spec = tmp.path().join("socle.yaml");
        let text = replace(key, value);
        let line = text
            .lines()
            .position(|l| l.starts_with(&format!("  {key}: ")))
            .expect("the key")
            + 1;
        fs_err::write(&spec, &text).expect("write");
        let out = std::process::Command::cargo_bin("socle")
            .expect("socle binary")
            .args(["new", "-q", "--no-git", "--spec"])
            .arg(&spec)
            .arg("--out")
            .arg(tmp.path().join("out"))
            .output()
            .expect("socle new runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(
            stderr.contains(&format!("socle.yaml:{line}: {field}:")),
            "{key}: {stderr}"
        );
        assert!(
            stderr.len() < 4096,
            "{key}: {} bytes of error",
            stderr.len()
        );
    }
}

const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: apps\ndata:\n  a: b\n";

/// A repository with `deploy.yaml` and one policy module; `socle` with
/// `args` run in it: exit code, stdout, stderr, and the time it took.
fn with_policy(name: &str, rego: &str, args: &[&str]) -> (i32, String, String, Duration) {
    let dir = crate::support::materialise(&FileSet::from([
        ("deploy.yaml".to_owned(), CONFIG_MAP.as_bytes().to_vec()),
        (format!("policies/{name}"), rego.as_bytes().to_vec()),
    ]));
    let start = Instant::now();
    let (code, out, err) = crate::support::socle_in(dir.path(), args);
    (code, out, err, start.elapsed())
}

/// The SOC-POL-001 findings of a `check --format json` output.
fn policy_failures(stdout: &str) -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    json["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["rule"] == "SOC-POL-001" && f["severity"] == "deny")
        .map(|f| format!("{}: {}", f["file"], f["message"]))
        .collect()
}

const RECURSIVE: &str =
    "package team\n\nf(x) := f(x + 1)\n\ndeny contains msg if { f(1) > 0; msg := \"never\" }\n";

#[test]
fn a_recursive_policy_is_a_finding_not_a_crash() {
    let (code, out, err, took) =
        with_policy("loop.rego", RECURSIVE, &["check", "--format", "json", "."]);
    assert_eq!(code, 1, "{out}{err}");
    let failures = policy_failures(&out);
    assert!(
        failures
            .iter()
            .any(|f| f.contains("policies/loop.rego") && f.contains("stack bound hit")),
        "{failures:#?}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");

    let test = RECURSIVE.replace(
        "deny contains msg if { f(1) > 0; msg := \"never\" }",
        "test_loops if { f(1) > 0 }\n\ntest_holds if { 1 == 1 }",
    );
    let (code, out, err, _) = with_policy("loop_test.rego", &test, &["policy", "test", "."]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("FAIL policies/loop_test.rego: test_loops (stack bound hit"),
        "{out}"
    );
    // The tests after the one that ended its worker still run.
    assert!(
        out.contains("PASS policies/loop_test.rego: test_holds"),
        "{out}"
    );
}

#[test]
fn a_greedy_policy_hits_the_memory_bound() {
    for n in ["1e9", "1e8"] {
        let rego = format!(
            "package team\n\ndeny contains msg if {{ count(numbers.range(1, {n})) > 0; msg := \"big\" }}\n"
        );
        let (code, out, err, took) = with_policy(
            "greedy.rego",
            &rego,
            &["check", "--format", "json", "--policy-memory", "256", "."],
        );
        assert_eq!(code, 1, "{n}: {out}{err}");
        let failures = policy_failures(&out);
        assert!(
            failures
                .iter()
                .any(|f| f.contains("memory bound hit") && f.contains("256 MiB")),
            "{n}: {failures:#?}"
        );
        assert!(took < Duration::from_secs(20), "{n}: {took:?}");
    }
}

#[test]
fn a_slow_policy_hits_the_time_bound_it_was_given() {
    // One builtin call that never returns to regorus' own timer checks.
    let rego = "package team\n\ndeny contains msg if {\n  some i in numbers.range(1, 3000000)\n  some j in numbers.range(1, 3000000)\n  i == j + 10000000\n  msg := \"slow\"\n}\n";
    let (code, out, err, took) = with_policy(
        "slow.rego",
        rego,
        &["check", "--format", "json", "--policy-timeout", "300", "."],
    );
    assert_eq!(code, 1, "{out}{err}");
    let failures = policy_failures(&out);
    assert!(
        failures
            .iter()
            .any(|f| f.contains("time bound hit") && f.contains("300 ms")),
        "{failures:#?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");

    let (code, _, err, _) =
        with_policy("slow.rego", rego, &["check", "--policy-timeout", "0", "."]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--policy-timeout"), "{err}");
}

#[test]
fn a_policy_too_deep_to_parse_is_refused_with_its_bound() {
    let deep = format!(
        "package team\n\nx := {}{}\n",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let (code, out, err, took) = with_policy("deep.rego", &deep, &["check", "."]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("repository policies could not be compiled") && err.contains("bound hit"),
        "{err}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn a_corrupt_pack_is_named_as_such() {
    let (_tmp, repo) = crate::support::new_repo();
    let pack = fs_err::read_dir(repo.join(".git/objects/pack"))
        .expect("pack folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "pack"))
        .expect("socle new writes one pack");
    let mut bytes = fs_err::read(&pack).expect("pack");
    // Past the 12-byte header: the first objects' type and data.
    bytes[12..4012].fill(0);
    let mut perms = fs_err::metadata(&pack).expect("pack").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs_err::set_permissions(&pack, perms).expect("chmod");
    fs_err::write(&pack, bytes).expect("damage the pack");
    let (code, out, err) = crate::support::socle_in(&repo, &["check", "--commit", "HEAD", "."]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("object database is corrupt") && err.contains("git fsck"),
        "{err}"
    );
}

/// Terraform that would exhaust a naive reader: nesting past the parser's
/// bound is a denial at once, and locals that double one another thirty
/// times (a value of a billion strings if copied out) stop at the
/// evaluation's bound, which the report names.
#[test]
fn hostile_terraform_is_bounded() {
    let depth = 100_000;
    let deep = format!(
        "locals {{\n  a = {}1{}\n}}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let started = Instant::now();
    assert_denied(
        &one("terraform/prod/deep.tf", deep.into_bytes()),
        "terraform/prod/deep.tf",
        "SOC-PARSE-001",
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // Where Applications say which folders the cluster gets, Terraform is
    // still applied: its files are judged wherever they are.
    let mut files = one(
        "infra/main.tf",
        b"resource \"aws_vpc\" \"this\" {\n  cidr_block = \n}\n".to_vec(),
    );
    files.insert(
        "argocd/app.yaml".into(),
        b"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: apps\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: https://git.example.org/r.git\n    path: apps\n    targetRevision: main\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: apps\n".to_vec(),
    );
    assert_denied(&files, "infra/main.tf", "SOC-PARSE-001");

    let mut files = crate::support::render_eks();
    let mut text = String::from("locals {\n  d0 = [\"x\", \"y\"]\n");
    for i in 1..=30 {
        text.push_str(&format!("  d{i} = [local.d{0}, local.d{0}]\n", i - 1));
    }
    text.push_str("}\n\nresource \"aws_eks_pod_identity_association\" \"grown\" {\n  namespace       = local.d30[0][0]\n  service_account = \"x\"\n}\n");
    files.insert("terraform/prod/grown.tf".into(), text.into_bytes());
    let started = Instant::now();
    let (_, report) = crate::support::check_report(&files);
    assert!(started.elapsed() < Duration::from_secs(60));
    let gaps: Vec<String> = crate::support::not_modelled(&report)
        .into_iter()
        .filter(|g| g.contains("terraform/prod/"))
        .collect();
    assert!(
        gaps.iter().any(|g| g.contains("stopped at 1000000 values")),
        "{gaps:#?}"
    );
    assert!(
        gaps.iter()
            .any(|g| g.contains("grown.tf") && g.contains("not known before a plan")),
        "{gaps:#?}"
    );
}
