//! The system simulation: its kustomize model against kustomize itself,
//! and the model of the generated repositories.

use std::collections::BTreeSet;

use crate::support::{render, tool};

type Identity = (String, String, String);

/// (kind, name, namespace) of every object `kubectl kustomize` emits.
fn kustomize(builds: &crate::support::Builds, dir: &str) -> BTreeSet<Identity> {
    let text = builds.build(dir).unwrap_or_else(|e| panic!("{e}"));
    let mut set = BTreeSet::new();
    for doc in text.split("\n---\n") {
        let v: serde_json::Value = match serde_saphyr::from_str(doc) {
            Ok(v) => v,
            Err(e) => panic!("kustomize output of {dir} does not parse: {e}"),
        };
        if v.is_null() {
            continue;
        }
        let get = |p: &[&str]| {
            let mut x = &v;
            for k in p {
                x = &x[*k];
            }
            x.as_str().unwrap_or_default().to_owned()
        };
        set.insert((
            get(&["kind"]),
            get(&["metadata", "name"]),
            get(&["metadata", "namespace"]),
        ));
    }
    set
}

/// The model emits exactly the objects kustomize does, for every
/// kustomization of the default and full repositories.
#[test]
fn the_kustomize_model_emits_what_kustomize_emits() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    for spec in [None, Some("full.yaml")] {
        let files = render(spec);
        let list: Vec<(String, Vec<u8>)> =
            files.iter().map(|(p, b)| (p.clone(), b.clone())).collect();
        let builds = crate::support::Builds::new(&kubectl, &files);
        let roots: Vec<String> = list
            .iter()
            .filter_map(|(p, _)| p.strip_suffix("/kustomization.yaml").map(str::to_owned))
            .collect();
        assert!(
            roots.len() > 40,
            "{spec:?}: only {} kustomizations",
            roots.len()
        );
        for root in &roots {
            let (objects, gaps) = socle::check::system::kustomize_identities(&list, root);
            assert!(gaps.is_empty(), "{spec:?} {root}: {gaps:?}");
            let modelled: BTreeSet<Identity> = objects.into_iter().collect();
            let real = kustomize(&builds, root);
            assert_eq!(
                modelled, real,
                "{spec:?}: {root}: model differs from kustomize"
            );
        }
    }
}

/// Copy a fixture tree into a fresh temporary directory.
fn copy_tree(from: &std::path::Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let rel = entry.path().strip_prefix(from).expect("inside");
        let to = dir.path().join(rel);
        if entry.file_type().is_dir() {
            fs_err::create_dir_all(&to).expect("mkdir");
        } else {
            fs_err::copy(entry.path(), &to).expect("copy");
        }
    }
    dir
}

/// A team's own system rule (package `system`) judges the model of each
/// environment, like the embedded ones, and `policy test` runs its tests.
#[test]
fn a_repository_policy_judges_the_system_model() {
    let repo = copy_tree(&crate::support::fixture("system/foreign"));
    fs_err::create_dir_all(repo.path().join("policies")).expect("mkdir");
    fs_err::write(
        repo.path().join("policies/plain_http.rego"),
        r#"package system

# Every connection between namespaces must use TLS.
deny contains {"msg": sprintf("[%s] %s connects to %s in plain HTTP", [input.environment, c.consumer, c.address]), "file": c.at.file, "line": c.at.line, "pointer": object.get(c.at, "pointer", "")} if {
	some c in input.connections
	startswith(c.address, "http://")
}

# The embedded rules read no object, so their input leaves the list out;
# a repository's own rules read it whole.
warn contains {"msg": sprintf("[%s] ConfigMap %s is modelled", [input.environment, o.name]), "file": o.at.file, "line": o.at.line} if {
	some o in input.objects
	o.kind == "ConfigMap"
	o.name == "web-settings"
}
"#,
    )
    .expect("write policy");
    fs_err::write(
        repo.path().join("policies/plain_http_test.rego"),
        r#"package system_test

import data.system

test_plain_http_is_denied if {
	count(system.deny) == 1 with input as {"environment": "e", "connections": [{"consumer": "a", "address": "http://b.c.svc", "at": {"file": "f", "line": 1}}]}
}
"#,
    )
    .expect("write test");
    let out = assert_cmd::Command::cargo_bin("socle")
        .expect("socle")
        .args(["check", "--format", "json"])
        .arg(repo.path())
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let of_rule = |rule: &str| -> Vec<&serde_json::Value> {
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["rule"] == rule)
            .collect()
    };
    let hits = of_rule("system.deny");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["file"], "web/configmap.yaml");
    assert!(hits[0]["line"].as_u64().is_some_and(|l| l > 1), "{hits:?}");
    assert!(hits[0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("plain HTTP"));
    let objects = of_rule("system.warn");
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert!(
        objects[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("ConfigMap web-settings is modelled"),
        "{objects:?}"
    );
    let test = assert_cmd::Command::cargo_bin("socle")
        .expect("socle")
        .args(["policy", "test"])
        .arg(repo.path())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.status.success() && text.contains("test_plain_http_is_denied"),
        "{text}"
    );
}

fn in_memory(files: &socle::render::FileSet) -> socle::check::files::Input {
    socle::check::files::Input::from_memory(files.iter().map(|(p, b)| (p.clone(), b.clone())))
}

/// A model is remembered by what it read: a README edit reuses it (no
/// environment is modelled again), an edit to a file kustomize reads
/// whole (a ConfigMap generator's source) models every environment again.
#[test]
fn a_model_is_reused_until_a_file_it_read_changes() {
    let files = render(None);
    let options = socle::check::Options {
        local_policies: false,
        ..Default::default()
    };
    let mut checker = socle::check::Checker::new(&[], &options).expect("policies load");
    let first = checker.check(in_memory(&files)).expect("check");
    assert_eq!(first.systems.len(), 3, "dev, staging and prod are modelled");

    let mut readme = files.clone();
    readme
        .get_mut("README.md")
        .expect("README")
        .extend_from_slice(b"\nA note added by hand.\n");
    let second = checker.check(in_memory(&readme)).expect("check");
    assert!(
        second.systems.is_empty(),
        "a README edit modelled the repository again"
    );
    assert_eq!(second.findings.len(), first.findings.len());

    let mut job = readme.clone();
    job.get_mut("spark/base/jobs/ingest_landing.py")
        .expect("a generator's source")
        .extend_from_slice(b"# edited\n");
    let third = checker.check(in_memory(&job)).expect("check");
    assert_eq!(
        third.systems.len(),
        3,
        "a file the model read changed, yet its model was reused"
    );
}

/// `socle new` checks the render in the same pass that draws the README
/// graphs: the files are those `repository::render` gives.
#[test]
fn the_checked_render_is_the_render() {
    let inputs = socle::generate::Inputs {
        spec_text: socle::spec::EXAMPLE,
        spec_origin: "socle.yaml",
        blueprint: &socle::source::Tree::embedded_blueprint(),
        environments: &socle::source::Tree::embedded_environments(),
    };
    let (checked, outcome) = socle::repository::render_checked(
        &inputs,
        &socle::check::Options {
            local_policies: false,
            ..Default::default()
        },
    )
    .expect("render and check");
    assert_eq!(outcome.count(socle::check::Severity::Deny), 0);
    assert!(crate::support::text(&checked.files, "README.md").contains("```mermaid"));
    assert_eq!(checked.files, render(None));
}
