//! Least privilege, judged from the rendered files: every component that
//! uses buckets has its own MinIO user bound to a policy granting exactly the
//! buckets and access its wiring declares (nothing missing, nothing wider),
//! no service user keeps `consoleAdmin`, the Job that applies the bindings is
//! valid shell and does what the bindings say; an external store gets the
//! same list in the README. OPA's own API admits only the decision Trino
//! asks for, with the token Trino's context file carries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use socle::blueprint::Manifest;
use socle::core::wiring::{bucket_names, Access};
use socle::render::FileSet;
use socle::source::Tree;

use crate::support::{fixture, render, text, to_json, yaml_docs};

/// Every YAML document of one file, as JSON.
fn docs(files: &FileSet, path: &str) -> Vec<Value> {
    let mut one = FileSet::new();
    one.insert(path.to_owned(), files[path].clone());
    yaml_docs(&one).iter().map(|(_, v)| to_json(v)).collect()
}

fn doc_of_kind(files: &FileSet, path: &str, kind: &str, name: &str) -> Value {
    docs(files, path)
        .into_iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{path}: no {kind} {name}"))
}

fn spec_text(spec: Option<&str>) -> String {
    match spec {
        Some(name) => fs_err::read_to_string(fixture(&format!("specs/{name}"))).expect("fixture"),
        None => socle::spec::EXAMPLE.to_owned(),
    }
}

/// What each consumer may do, by bucket: `true` for read and write.
type Expected = BTreeMap<String, BTreeMap<String, bool>>;

/// The grants the blueprint declares for a spec, computed from the
/// blueprint and the spec alone (not from the model the templates read).
fn declared(spec: Option<&str>, files: &FileSet) -> Expected {
    declared_in(&spec_text(spec), files)
}

/// [`declared`] for a spec's text.
fn declared_in(spec: &str, files: &FileSet) -> Expected {
    let manifest = Manifest::load(&Tree::embedded_blueprint()).expect("blueprint");
    let envs = socle::model::environment_names(&Tree::embedded_environments());
    let parsed = socle::spec::parse(
        spec,
        "socle.yaml",
        &envs,
        &socle::core::blueprint::options(),
    )
    .expect("spec");
    let choices: BTreeMap<&str, String> = parsed
        .components
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .chain([
            ("notebooks", parsed.notebooks.storage.clone()),
            (
                "object_storage",
                if parsed.object_storage.is_some() {
                    "external".to_owned()
                } else {
                    "in-cluster".to_owned()
                },
            ),
        ])
        .collect();
    let holds = |when: &BTreeMap<String, Vec<String>>| {
        when.iter().all(|(k, allowed)| {
            let v = choices
                .get(k.as_str())
                .unwrap_or_else(|| panic!("unknown choice {k}"));
            allowed.contains(v)
        })
    };
    let domains: Vec<String> = parsed.data_domains.iter().map(|d| d.name.clone()).collect();
    let deployed = |id: &str| files.contains_key(&format!("argocd/dev/applications/{id}.yaml"));
    let mut out = Expected::new();
    for c in manifest.components.iter().filter(|c| deployed(&c.id)) {
        // A use through a catalog's vended credentials is the catalog's
        // account's, not the consumer's.
        let own = |b: &&socle::core::wiring::BucketUse| holds(&b.when) && b.through.is_none();
        for b in c.consumes.buckets.iter().filter(own) {
            for name in bucket_names(&b.name, &domains) {
                let w = out
                    .entry(c.id.clone())
                    .or_default()
                    .entry(name)
                    .or_default();
                *w |= b.access == Access::Write;
            }
        }
    }
    out
}

const READ_BUCKET: &[&str] = &["s3:GetBucketLocation", "s3:ListBucket"];
const READ_OBJECTS: &[&str] = &["s3:GetObject"];
const WRITE_BUCKET: &[&str] = &["s3:ListBucketMultipartUploads"];
const WRITE_OBJECTS: &[&str] = &[
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
];

/// (resource, action) pairs: a resource is `<bucket>` or `<bucket>/*`.
type Grants = BTreeSet<(String, String)>;

/// What an IAM policy allows, as (resource, action) pairs. Anything the
/// comparison could not see through (a Deny, a condition, a wildcard in an
/// action or a bucket name, a resource that is not a bucket or all its
/// objects) is an error: it is either wider or not least privilege.
fn granted(policy: &Value) -> Result<Grants, String> {
    if policy["Version"] != "2012-10-17" {
        return Err(format!("Version {}", policy["Version"]));
    }
    let mut out = Grants::new();
    for s in policy["Statement"].as_array().ok_or("no Statement list")? {
        if s["Effect"] != "Allow" {
            return Err(format!("statement {s}: only Allow statements are expected"));
        }
        let allowed_keys = ["Sid", "Effect", "Action", "Resource"];
        if let Some(extra) = s
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
            .find(|k| !allowed_keys.contains(&k.as_str()))
        {
            return Err(format!("statement {s}: unexpected {extra}"));
        }
        let list = |v: &Value| -> Result<Vec<String>, String> {
            match v {
                Value::String(one) => Ok(vec![one.clone()]),
                Value::Array(many) => many
                    .iter()
                    .map(|x| x.as_str().map(str::to_owned).ok_or(format!("{x}")))
                    .collect(),
                other => Err(format!("not a string or list: {other}")),
            }
        };
        let actions = list(&s["Action"])?;
        let resources = list(&s["Resource"])?;
        for a in &actions {
            if a.contains(['*', '?']) || !a.starts_with("s3:") {
                return Err(format!("action {a} is wider than named S3 actions"));
            }
        }
        for r in &resources {
            let rest = r
                .strip_prefix("arn:aws:s3:::")
                .ok_or(format!("resource {r} is not an S3 ARN"))?;
            let bucket = rest.strip_suffix("/*").unwrap_or(rest);
            if bucket.is_empty() || bucket.contains(['*', '?', '/']) {
                return Err(format!("resource {r} is wider than one bucket"));
            }
            for a in &actions {
                out.insert((rest.to_owned(), a.clone()));
            }
        }
    }
    Ok(out)
}

/// The grants read or write access to these buckets means.
fn expected_grants(buckets: &BTreeMap<String, bool>) -> Grants {
    let mut out = Grants::new();
    for (b, write) in buckets {
        let mut add = |resource: String, actions: &[&str]| {
            for a in actions {
                out.insert((resource.clone(), (*a).to_owned()));
            }
        };
        add(b.clone(), READ_BUCKET);
        add(format!("{b}/*"), READ_OBJECTS);
        if *write {
            add(b.clone(), WRITE_BUCKET);
            add(format!("{b}/*"), WRITE_OBJECTS);
        }
    }
    out
}

/// Compares a policy with the declared access: the differences, if any.
fn judge(policy: &Value, declared: &BTreeMap<String, bool>) -> Result<(), String> {
    let got = granted(policy)?;
    let want = expected_grants(declared);
    let wider: Vec<_> = got.difference(&want).collect();
    let missing: Vec<_> = want.difference(&got).collect();
    if wider.is_empty() && missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "grants beyond the wiring: {wider:?}; missing: {missing:?}"
        ))
    }
}

const POLICIES: &str = "components/minio/manifests/dev/policies.yaml";
const JOB: &str = "components/minio/manifests/dev/policies-job.yaml";

fn policies_cm(files: &FileSet) -> Value {
    doc_of_kind(files, POLICIES, "ConfigMap", "minio-policies")
}

fn bindings(files: &FileSet) -> BTreeMap<String, Value> {
    let cm = policies_cm(files);
    let text = cm["data"]["bindings.json"].as_str().expect("bindings.json");
    let v: Value = serde_json::from_str(text).expect("bindings.json is JSON");
    v.as_object()
        .expect("bindings.json is an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn policy(files: &FileSet, name: &str) -> Value {
    let cm = policies_cm(files);
    let text = cm["data"][format!("{name}.json")]
        .as_str()
        .unwrap_or_else(|| panic!("no policy {name}.json"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}.json: {e}"))
}

/// Specs with the in-cluster tenant.
const TENANT_SPECS: [Option<&str>; 2] = [None, Some("hostile.yaml")];

#[test]
fn every_consumer_policy_grants_exactly_its_declared_buckets() {
    for spec in TENANT_SPECS {
        let files = render(spec);
        let declared = declared(spec, &files);
        assert!(declared.len() >= 5, "{spec:?}: {declared:?}");
        let bindings = bindings(&files);
        let cm = policies_cm(&files);
        let keys: BTreeSet<&str> = cm["data"]
            .as_object()
            .expect("data")
            .keys()
            .map(String::as_str)
            .collect();
        // One binding per consumer, and a policy key per binding, nothing else.
        let consumers: BTreeSet<&str> = bindings
            .values()
            .map(|b| b["consumer"].as_str().expect("consumer"))
            .collect();
        assert_eq!(
            consumers,
            declared.keys().map(String::as_str).collect(),
            "{spec:?}"
        );
        assert_eq!(consumers.len(), bindings.len(), "{spec:?}: one user each");
        let mut expected_keys: BTreeSet<String> = bindings
            .values()
            .map(|b| format!("{}.json", b["policy"].as_str().expect("policy")))
            .collect();
        expected_keys.insert("bindings.json".into());
        assert_eq!(
            keys,
            expected_keys.iter().map(String::as_str).collect(),
            "{spec:?}"
        );
        for (user, b) in &bindings {
            let consumer = b["consumer"].as_str().expect("consumer");
            let p = policy(&files, b["policy"].as_str().expect("policy"));
            if let Err(e) = judge(&p, &declared[consumer]) {
                panic!("{spec:?}: {user} ({consumer}): {e}");
            }
        }
    }
}

#[test]
fn the_comparison_refuses_a_missing_bucket_and_wider_access() {
    // The pipelines write the landing buckets and dbt's artifacts for
    // OpenMetadata, which reads them.
    let spec = socle::spec::EXAMPLE.replace("catalog: datahub", "catalog: openmetadata");
    assert_ne!(spec, socle::spec::EXAMPLE);
    let files = crate::support::render_text(&spec);
    let declared = declared_in(&spec, &files);
    let with = |good: &Value, statements: Vec<Value>| {
        let mut p = good.clone();
        p["Statement"] = Value::Array(statements);
        p
    };

    // One bucket fewer.
    let (consumer, buckets) = declared
        .iter()
        .find(|(_, b)| b.len() > 1)
        .expect("a consumer of several buckets");
    let good = policy(&files, consumer);
    judge(&good, buckets).expect("the rendered policy matches");
    let mut fewer = good["Statement"].as_array().expect("statements").clone();
    for s in &mut fewer {
        if let Some(r) = s["Resource"].as_array_mut() {
            r.remove(0);
        }
    }
    assert!(judge(&with(&good, fewer), buckets).is_err());

    // A bucket more, a wildcard, an action more, write on a read-only bucket.
    let (reader, buckets) = declared
        .iter()
        .find(|(_, b)| !b.is_empty() && b.values().all(|w| !w))
        .expect("a consumer that only reads");
    let good = policy(&files, reader);
    judge(&good, buckets).expect("the rendered policy matches");
    let statements = good["Statement"].as_array().expect("statements").clone();
    let read_only = buckets.keys().next().expect("read-only");
    for extra in [
        json!({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::other-bucket/*"]}),
        json!({"Effect": "Allow", "Action": ["s3:*"], "Resource": [format!("arn:aws:s3:::{read_only}/*")]}),
        json!({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::*"]}),
        json!({"Effect": "Allow", "Action": ["s3:PutBucketPolicy"], "Resource": [format!("arn:aws:s3:::{read_only}")]}),
        json!({"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [format!("arn:aws:s3:::{read_only}/*")]}),
        json!({"Effect": "Allow", "Action": ["admin:*"], "Resource": ["arn:minio:admin:::*"]}),
    ] {
        let mut more = statements.clone();
        more.push(extra.clone());
        assert!(judge(&with(&good, more), buckets).is_err(), "{extra}");
    }
}

#[test]
fn each_consumer_identity_reaches_its_user_and_no_service_user_keeps_console_admin() {
    let builtin = [
        "consoleAdmin",
        "readwrite",
        "readonly",
        "writeonly",
        "diagnostics",
    ];
    for spec in TENANT_SPECS {
        let files = render(spec);
        // The operator would give every listed user consoleAdmin: none listed.
        let tenant: Value = to_json(
            &yaml_docs(&FileSet::from([(
                "components/minio/values.yaml".to_owned(),
                files["components/minio/values.yaml"].clone(),
            )]))[0]
                .1,
        );
        let users = &tenant["tenant"]["users"];
        assert!(
            users.is_null() || users.as_array().is_some_and(Vec::is_empty),
            "{spec:?}: tenant.users {users}"
        );
        let externalsecrets = "components/minio/manifests/dev/externalsecrets.yaml";
        // Store entries read by ExternalSecrets outside the tenant: the
        // consumers' side of each account.
        let mut consumer_entries: BTreeSet<String> = BTreeSet::new();
        for (path, d) in yaml_docs(&files) {
            let d = to_json(&d);
            if d["kind"] != "ExternalSecret" || path.starts_with("components/minio/") {
                continue;
            }
            for item in d["spec"]["data"].as_array().into_iter().flatten() {
                if let Some(k) = item["remoteRef"]["key"].as_str() {
                    consumer_entries.insert(k.to_owned());
                }
            }
        }
        for (user, b) in bindings(&files) {
            let policy = b["policy"].as_str().expect("policy");
            let consumer = b["consumer"].as_str().expect("consumer");
            let store = b["store"].as_str().expect("store");
            assert!(
                !builtin.contains(&policy),
                "{spec:?}: {user} bound to {policy}"
            );
            assert_eq!(user, format!("minio-user-{consumer}"));
            // The tenant's Secret for the user reads the binding's entry...
            let es = doc_of_kind(&files, externalsecrets, "ExternalSecret", &user);
            assert_eq!(es["spec"]["target"]["name"], user.as_str());
            let keys: BTreeMap<&str, &str> = es["spec"]["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|d| {
                    (
                        d["secretKey"].as_str().expect("secretKey"),
                        d["remoteRef"]["key"].as_str().expect("key"),
                    )
                })
                .collect();
            assert_eq!(keys.get("CONSOLE_ACCESS_KEY"), Some(&store), "{user}");
            assert_eq!(keys.get("CONSOLE_SECRET_KEY"), Some(&store), "{user}");
            // ...and so does the consumer's own configuration (NiFi's flows
            // find theirs in the containers' environment).
            assert!(
                consumer_entries.contains(store),
                "{spec:?}: {consumer}'s S3 account {store} is not read by its configuration"
            );
        }
    }
}

/// The Job's script, run against a stand-in `mc` that records its calls and
/// answers `admin user info` as for a user the operator provisioned.
fn run_script(script: &str, bindings: &BTreeMap<String, Value>, dir: &Path) -> String {
    let root = dir.to_str().expect("utf-8 path");
    for sub in ["admin", "policies", "bin"] {
        fs_err::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    fs_err::write(
        dir.join("admin/config.env"),
        "export MINIO_ROOT_USER=root\nexport MINIO_ROOT_PASSWORD=root-password\n",
    )
    .expect("config.env");
    for (user, b) in bindings {
        let keys = dir.join("users").join(user);
        fs_err::create_dir_all(&keys).expect("mkdir");
        fs_err::write(keys.join("CONSOLE_ACCESS_KEY"), format!("ak-{user}")).expect("key");
        fs_err::write(keys.join("CONSOLE_SECRET_KEY"), format!("sk-{user}")).expect("key");
        let policy = b["policy"].as_str().expect("policy");
        fs_err::write(dir.join(format!("policies/{policy}.json")), "{}").expect("policy");
    }
    let mc = format!(
        r#"#!/bin/sh
log="{root}/calls"
if [ "$1 $2" = "admin user" ] && [ "$3" = "add" ]; then
  printf '%s | stdin=%s\n' "$*" "$(cat)" >> "$log"
  exit 0
fi
printf '%s\n' "$*" >> "$log"
if [ "$1 $2 $3" = "admin user info" ]; then
  printf '{{"status":"success","accessKey":"%s","policyName":"consoleAdmin,readwrite","userStatus":"enabled"}}\n' "$5"
fi
exit 0
"#
    );
    let mc_path = dir.join("bin/mc");
    fs_err::write(&mc_path, mc).expect("mc");
    {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(&mc_path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let script = script
        .replace("/admin/", &format!("{root}/admin/"))
        .replace("/users/", &format!("{root}/users/"))
        .replace("/policies/", &format!("{root}/policies/"));
    let path = std::env::var("PATH").unwrap_or_default();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("PATH", format!("{root}/bin:{path}"))
        .env("S3_ENDPOINT", "http://minio.test")
        .stdin(Stdio::null())
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "script failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    fs_err::read_to_string(dir.join("calls")).expect("calls")
}

#[test]
fn the_job_applies_every_binding_and_takes_console_admin_away() {
    for spec in TENANT_SPECS {
        let files = render(spec);
        let bindings = bindings(&files);
        let script_cm = doc_of_kind(&files, JOB, "ConfigMap", "minio-policies-script");
        let script = script_cm["data"]["apply.sh"].as_str().expect("apply.sh");

        let check = Command::new("sh")
            .arg("-n")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(script.as_bytes())?;
                child.wait_with_output()
            })
            .expect("sh -n runs");
        assert!(
            check.status.success(),
            "{spec:?}: apply.sh: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        for (user, b) in &bindings {
            let line = format!("bind {user} {}", b["policy"].as_str().expect("policy"));
            assert!(
                script.lines().any(|l| l.trim() == line),
                "{spec:?}: apply.sh lacks `{line}`"
            );
        }

        let dir = tempfile::tempdir().expect("tempdir");
        let calls = run_script(script, &bindings, dir.path());
        for (user, b) in &bindings {
            let policy = b["policy"].as_str().expect("policy");
            let ak = format!("ak-{user}");
            let root = dir.path().to_str().expect("utf-8");
            for expected in [
                format!("admin policy create platform {policy} {root}/policies/{policy}.json"),
                format!("admin user add platform {ak} | stdin=sk-{user}"),
                format!("admin policy detach platform consoleAdmin --user {ak}"),
                format!("admin policy detach platform readwrite --user {ak}"),
                format!("admin policy attach platform {policy} --user {ak}"),
            ] {
                assert!(
                    calls.lines().any(|l| l == expected),
                    "{spec:?}: no `{expected}` in\n{calls}"
                );
            }
            // The only policy attached to the user is its own.
            for l in calls
                .lines()
                .filter(|l| l.ends_with(&format!("--user {ak}")))
            {
                if l.starts_with("admin policy attach") {
                    assert_eq!(
                        l,
                        format!("admin policy attach platform {policy} --user {ak}")
                    );
                }
            }
            // The secret key never reaches the command line.
            assert!(
                !calls
                    .lines()
                    .any(|l| l.contains(&format!("sk-{user}")) && !l.contains("stdin=")),
                "{spec:?}: secret key of {user} on a command line"
            );
        }

        // The Job: a PostSync hook on the pinned mc image, restricted, with
        // the root credentials, the policies and every user's Secret.
        let job = doc_of_kind(&files, JOB, "Job", "minio-policies");
        assert_eq!(
            job["metadata"]["annotations"]["argocd.argoproj.io/hook"],
            "PostSync"
        );
        let pod = &job["spec"]["template"]["spec"];
        let c = &pod["containers"][0];
        let image = c["image"].as_str().expect("image");
        assert!(image.starts_with("quay.io/minio/mc:RELEASE."), "{image}");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
        let endpoint = c["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == "S3_ENDPOINT")
            .expect("S3_ENDPOINT")["value"]
            .as_str()
            .expect("value")
            .to_owned();
        assert!(
            endpoint.starts_with("http://minio.") && endpoint.ends_with(".svc.cluster.local"),
            "{endpoint}"
        );
        let volumes = pod["volumes"].as_array().expect("volumes");
        let secret_of = |name: &str| {
            volumes.iter().find(|v| v["name"] == name).expect(name)["secret"]["secretName"].clone()
        };
        assert_eq!(secret_of("admin"), "minio-env-configuration");
        let projected: BTreeSet<&str> = volumes
            .iter()
            .find(|v| v["name"] == "users")
            .expect("users")["projected"]["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .map(|s| s["secret"]["name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            projected,
            bindings.keys().map(String::as_str).collect(),
            "{spec:?}"
        );
    }
}

#[test]
fn an_external_store_gets_no_job_and_the_readme_lists_each_account() {
    let spec = Some("full.yaml");
    let files = render(spec);
    assert!(
        !files.keys().any(|p| p.starts_with("components/minio/")),
        "the tenant is not deployed with an external store"
    );
    let readme = text(&files, "README.md");
    let declared = declared(spec, &files);
    assert!(!declared.is_empty());
    for (consumer, buckets) in &declared {
        let line = readme
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("- `{consumer}`")))
            .unwrap_or_else(|| panic!("README does not list {consumer}'s account"));
        let (reads, writes) = match line.split_once("reads and writes") {
            Some((r, w)) => (r, w),
            None => (line, ""),
        };
        for (b, write) in buckets {
            let quoted = format!("`{b}`");
            if *write {
                assert!(writes.contains(&quoted), "{line}: write {b}");
            } else {
                assert!(
                    reads.contains(&quoted) && !writes.contains(&quoted),
                    "{line}: read {b}"
                );
            }
        }
        let named = line.matches('`').count() / 2 - 1;
        assert_eq!(named, buckets.len(), "{line}: buckets beyond the wiring");
    }
}

/// OPA's values for an environment, merged as Helm merges them.
fn opa_values(files: &FileSet, env: &str) -> Value {
    let read =
        |p: &str| to_json(&yaml_docs(&FileSet::from([(p.to_owned(), files[p].clone())]))[0].1);
    let mut v = read("components/opa/values.yaml");
    socle::model::deep_merge(&mut v, &read(&format!("components/opa/values-{env}.yaml")));
    v
}

/// The authorization policy OPA runs with: the chart's own rules (kube-mgmt's
/// token; written by its init container, modelled here by one rule) and the
/// platform's, with OPA's environment given as data.
fn authz_engine(platform_rules: &str, env_token: &str) -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    engine
        .add_policy(
            "chart-authz.rego".into(),
            "package system.authz\nimport rego.v1\ndefault allow := false\nallow if input.identity == \"kube-mgmt-token\"\n".into(),
        )
        .expect("chart rules");
    // regorus does not expose the process environment: the runtime's env
    // is read from data instead.
    assert!(platform_rules.contains("opa.runtime().env.TRINO_OPA_TOKEN"));
    let rules = platform_rules.replace("opa.runtime().env", "data.runtime_env");
    engine
        .add_policy("trino-authz.rego".into(), rules)
        .expect("platform authz rules parse");
    engine
        .add_data(regorus::Value::from(
            json!({"runtime_env": {"TRINO_OPA_TOKEN": env_token}}),
        ))
        .expect("data");
    engine
}

fn allowed(engine: &mut regorus::Engine, request: Value) -> bool {
    engine.set_input(regorus::Value::from(request));
    engine
        .eval_rule("data.system.authz.allow".to_owned())
        .expect("allow evaluates")
        == regorus::Value::from(true)
}

#[test]
fn opa_admits_only_trinos_decision_with_trinos_token() {
    for spec in [None, Some("full.yaml")] {
        let files = render(spec);
        for env in ["dev", "prod"] {
            let values = opa_values(&files, env);
            assert_eq!(values["authz"]["enabled"], true, "{spec:?} {env}");
            let rules = values["bootstrapPolicies"]["trino-authz"]
                .as_str()
                .expect("the platform's authz rules");
            // The chart writes it through an unquoted shell here-document.
            assert!(!rules.contains(['$', '`', '\\']), "{rules}");
            let env_var = values["extraEnv"]
                .as_array()
                .expect("extraEnv")
                .iter()
                .find(|e| e["name"] == "TRINO_OPA_TOKEN")
                .expect("TRINO_OPA_TOKEN");
            let secret = &env_var["valueFrom"]["secretKeyRef"];
            assert_eq!(secret["name"], "opa-trino-token");

            // The Secret both ends read, and what Trino puts in its requests.
            let es = doc_of_kind(
                &files,
                &format!("components/opa/manifests/{env}/externalsecrets.yaml"),
                "ExternalSecret",
                "opa-trino-token",
            );
            assert_eq!(es["spec"]["target"]["name"], "opa-trino-token");
            let template = &es["spec"]["target"]["template"]["data"];
            assert_eq!(
                template[secret["key"].as_str().expect("key")],
                "{{ .token }}"
            );
            let context = template["context.properties"]
                .as_str()
                .expect("context file");
            let (property, value) = context.trim_end().split_once('=').expect("key=value");
            assert_eq!(value, "{{ .token }}");
            assert!(
                rules.contains(&format!("properties[\"{property}\"]")),
                "{rules}"
            );

            // Trino's coordinator presents that file.
            let read = |p: &str| {
                to_json(&yaml_docs(&FileSet::from([(p.to_owned(), files[p].clone())]))[0].1)
            };
            let mut trino = read("components/trino/values.yaml");
            socle::model::deep_merge(
                &mut trino,
                &read(&format!("components/trino/values-{env}.yaml")),
            );
            let props = trino["accessControl"]["properties"]
                .as_str()
                .expect("properties");
            let file = props
                .lines()
                .find_map(|l| l.strip_prefix("opa.context-file="))
                .expect("opa.context-file");
            let mount = trino["coordinator"]["secretMounts"]
                .as_array()
                .expect("secretMounts")
                .iter()
                .find(|m| m["secretName"] == "opa-trino-token")
                .expect("the token's mount");
            let dir = mount["path"].as_str().expect("path");
            assert_eq!(file, format!("{dir}/context.properties"));
            let uri = props
                .lines()
                .find_map(|l| l.strip_prefix("opa.policy.uri="))
                .expect("opa.policy.uri");
            let path: Vec<&str> = uri
                .split_once(":8181/")
                .expect("OPA's port")
                .1
                .split('/')
                .collect();

            let token = "0123456789abcdef0123456789abcdef";
            let mut engine = authz_engine(rules, token);
            let trino_request = |token: &str, path: &[&str], method: &str, params: Value| {
                json!({
                    "method": method,
                    "path": path,
                    "params": params,
                    "headers": {"Content-Type": ["application/json"]},
                    "body": {"input": {
                        "context": {
                            "identity": {"user": "jane", "groups": ["data-engineers"]},
                            "softwareStack": {"trinoVersion": "480"},
                            "properties": {property: token},
                        },
                        "action": {"operation": "ExecuteQuery"},
                    }},
                })
            };
            assert!(allowed(
                &mut engine,
                trino_request(token, &path, "POST", json!({}))
            ));
            // Without the token, with another, or anything but that decision.
            assert!(!allowed(
                &mut engine,
                trino_request("guess", &path, "POST", json!({}))
            ));
            let mut anonymous = trino_request(token, &path, "POST", json!({}));
            anonymous["body"]["input"]["context"]["properties"] = json!({});
            assert!(!allowed(&mut engine, anonymous));
            assert!(!allowed(
                &mut engine,
                trino_request(token, &path, "POST", json!({"explain": ["full"]}))
            ));
            for other in [
                vec!["v1", "data", "trino", "batch"],
                vec!["v1", "data", "system", "authz", "allow"],
                vec!["v1", "data"],
                vec!["v1", "query"],
                vec!["v1", "compile"],
            ] {
                assert!(
                    !allowed(&mut engine, trino_request(token, &other, "POST", json!({}))),
                    "{other:?}"
                );
            }
            for (method, p) in [
                ("GET", vec!["v1", "policies"]),
                ("PUT", vec!["v1", "policies", "trino"]),
                ("PUT", vec!["v1", "data", "trino"]),
                ("GET", vec!["v1", "data", "trino", "allow"]),
                ("GET", vec!["v1", "config"]),
            ] {
                let mut r = trino_request(token, &p, method, json!({}));
                r.as_object_mut().expect("object").remove("body");
                assert!(!allowed(&mut engine, r), "{method} {p:?}");
            }
            // kube-mgmt keeps its access (the chart's rule).
            let mut mgmt = trino_request("", &["v1", "policies", "x"], "PUT", json!({}));
            mgmt["identity"] = json!("kube-mgmt-token");
            assert!(allowed(&mut engine, mgmt));
            // A short or missing token in OPA's environment opens nothing.
            let mut weak = authz_engine(rules, "short");
            assert!(!allowed(
                &mut weak,
                trino_request("short", &path, "POST", json!({}))
            ));
            let mut unset = authz_engine(rules, "");
            assert!(!allowed(
                &mut unset,
                trino_request("", &path, "POST", json!({}))
            ));
        }
    }
}

/// The catalog's bootstrap Job, its script run with the Job's environment
/// against a recording stand-in for `curl`: every warehouse is declared
/// with STS on (the catalog vends its clients' credentials, scoped to a
/// table) and the catalog's own S3 keys, and one an earlier sync made
/// (409) is found by name and given that storage again, which is how an
/// update turns STS on; a refused creation fails the Job.
#[test]
fn the_catalog_bootstrap_job_turns_sts_on_for_new_and_existing_warehouses() {
    let files = render(None);
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, seen, env) = crate::support::run_catalog_job(&files, "prod", dir.path(), "409");
    crate::support::assert_success(&out);
    let creates = crate::support::catalog_calls(&seen, "iceberg-ml");
    let wiring: BTreeSet<String> = env["WAREHOUSES"].split(' ').map(str::to_owned).collect();
    let declared: BTreeSet<String> = creates
        .iter()
        .map(|b| b["warehouse-name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(declared, wiring, "{seen}");
    assert!(wiring.contains("iceberg-ml"), "{wiring:?}");
    // In the cluster's store, each bucket has its warehouse's name.
    assert_eq!(env["WAREHOUSE_BUCKETS"], env["WAREHOUSES"]);
    for b in &creates {
        assert_eq!(b["storage-profile"]["bucket"], b["warehouse-name"]);
        assert_eq!(b["storage-profile"]["sts-enabled"], true, "{b}");
        assert_eq!(b["storage-profile"]["flavor"], "s3-compat");
        assert_eq!(
            b["storage-credential"]["aws-access-key-id"],
            "from-S3_ACCESS_KEY"
        );
    }
    // Signed in: every management call carries the realm's token.
    assert!(
        seen.split("\n--\n")
            .filter(|c| c.contains("/management/v1/"))
            .all(|c| c.contains("Authorization: Bearer t0k3n")),
        "{seen}"
    );

    let (out, _, _) = crate::support::run_catalog_job(&files, "prod", dir.path(), "500");
    assert!(!out.status.success(), "a refused warehouse passed");
}
