//! Files a policy test harness reads, which no cluster is given.
//!
//! Repositories of admission policies test them with a harness: Kyverno's
//! CLI (`kyverno test`, a `cli.kyverno.io` Test, or any Test in a file
//! named `kyverno-test.yaml`), chainsaw (`chainsaw.kyverno.io` Test and
//! StepTemplate) and Gatekeeper's gator (`test.gatekeeper.sh` Suite). Their
//! inputs are resources made to break the policy under test
//! (`pod-bad.yaml`), resources made to pass only that one policy, and
//! expectations (chainsaw's assert files: partial objects with JMESPath
//! keys). Judged as deployments, they are denials made on purpose: 94,347
//! on Kyverno's policy library, every one at a test input. Such files, and
//! the harness files, are skipped with the harness that reads them, and
//! nothing they hold enters the model of the system.
//!
//! A file is a test input when a harness names it as one:
//! - Kyverno's CLI: `resources`, `targetResources`, `variables`,
//!   `userinfo`, `context`, and each result's `patchedResources`,
//!   `generatedResource` and `cloneSourceResource`;
//! - gator: each case's `object` and `inventory`;
//! - chainsaw: the files of `assert` and `error` operations, wherever they
//!   are (they describe what a cluster should or should not hold), and the
//!   files it applies, creates, patches, updates or deletes that lie in the
//!   test's own folder or below, whether an operation names them, a step
//!   template's operation through the step's bindings (`file: ($file)`), or
//!   a script's `kubectl apply -f`. A file applied from elsewhere is the
//!   subject under test (`file: ../policy.yaml`) or shared, and stays
//!   judged.
//!
//! A file in a test's own folder that no harness names (a fixture a test no
//! longer reads, one a Go test reads) is a test input too, when the folder
//! is a test's alone: not the repository's root, holding no kustomization
//! and nothing a harness tests.
//!
//! It stays judged when a harness names it as the subject under test
//! (Kyverno's `policies` and `exceptions`, gator's `template` and
//! `constraint`), when a kustomization lists it or is it, when it lies
//! under a path an Argo CD Application or a Flux Kustomization applies, and
//! in a repository socle wrote (which deploys all it holds).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::deployed;
use super::parse::{is_kustomization, Document, Layout};
use super::system::kustomize::join;

/// Chainsaw's operations that name a file, and whether the file states an
/// expectation (read wherever it is) rather than an object to apply.
const CHAINSAW_OPERATIONS: [(&str, bool); 7] = [
    ("assert", true),
    ("error", true),
    ("apply", false),
    ("create", false),
    ("patch", false),
    ("update", false),
    ("delete", false),
];

/// Fields of a Kyverno CLI Test naming its inputs, at its top level.
const KYVERNO_INPUTS: [&str; 5] = [
    "resources",
    "targetResources",
    "variables",
    "userinfo",
    "context",
];

/// Fields of each of a Kyverno CLI Test's results naming an input
/// (`patchedResource` is the name older tests use).
const KYVERNO_RESULT_INPUTS: [&str; 4] = [
    "patchedResources",
    "patchedResource",
    "generatedResource",
    "cloneSourceResource",
];

/// Fields of a Kyverno CLI Test naming what it tests.
const KYVERNO_SUBJECTS: [&str; 2] = ["policies", "exceptions"];

/// The harness files of a tree and the test inputs they name, each with
/// why it is skipped.
#[derive(Default)]
pub(crate) struct Harnesses {
    skipped: BTreeMap<String, String>,
}

impl Harnesses {
    /// What the harnesses among `documents` read, less what is deployed.
    /// `folders` gives the folders the tree's GitOps objects apply; asked
    /// only when a harness is found.
    pub(crate) fn of(
        files: &[(String, Vec<u8>)],
        documents: &[&Document],
        layout: &Layout,
        folders: impl FnOnce() -> BTreeSet<String>,
    ) -> Self {
        if deployed::socle_made(files) {
            return Self::default();
        }
        let harnesses: Vec<(&Document, &'static str)> = documents
            .iter()
            .filter_map(|d| Some((*d, harness(d)?)))
            .collect();
        if harnesses.is_empty() {
            return Self::default();
        }
        let paths: BTreeSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        let mut subjects = BTreeSet::new();
        let mut inputs: BTreeMap<String, String> = BTreeMap::new();
        let mut tests: BTreeMap<String, &'static str> = BTreeMap::new();
        // Each step template's files, walked once for every step using it.
        let mut templates: std::collections::HashMap<&str, Vec<(&str, bool)>> = Default::default();
        for (doc, _) in harnesses
            .iter()
            .filter(|(d, _)| d.value["kind"] == "StepTemplate")
        {
            let mut inner = Chainsaw::default();
            inner.walk(&doc.value["spec"], None);
            templates
                .entry(doc.path.as_str())
                .or_default()
                .extend(inner.files);
        }
        for (doc, what) in &harnesses {
            tests.entry(doc.path.clone()).or_insert(what);
            let dir = doc.path.rsplit_once('/').map_or("", |(d, _)| d);
            let mut input = |name: &str| {
                for path in matching(dir, name, &paths) {
                    inputs
                        .entry(path)
                        .or_insert_with(|| format!("{} ({what})", doc.path));
                }
            };
            match *what {
                KYVERNO_TEST => {
                    for field in KYVERNO_INPUTS {
                        names(&doc.value[field]).for_each(&mut input);
                    }
                    for result in doc.value["results"].as_array().into_iter().flatten() {
                        for field in KYVERNO_RESULT_INPUTS {
                            names(&result[field]).for_each(&mut input);
                        }
                    }
                    for field in KYVERNO_SUBJECTS {
                        for name in names(&doc.value[field]) {
                            subjects.extend(matching(dir, name, &paths));
                        }
                    }
                }
                GATOR_SUITE => {
                    for test in doc.value["tests"].as_array().into_iter().flatten() {
                        for field in ["template", "constraint"] {
                            for name in names(&test[field]) {
                                subjects.extend(matching(dir, name, &paths));
                            }
                        }
                        for case in test["cases"].as_array().into_iter().flatten() {
                            for field in ["object", "inventory"] {
                                names(&case[field]).for_each(&mut input);
                            }
                        }
                    }
                }
                _ => {
                    let mut found = Chainsaw::default();
                    found.walk(&doc.value["spec"], None);
                    let mut named = found.files;
                    // A step template's file given by a binding of the
                    // step that uses it (`file: ($file)`), named from
                    // the test's folder.
                    for (template, bindings) in found.uses {
                        let files = templates.get(join(dir, template).as_str());
                        for (name, expectation) in files.into_iter().flatten() {
                            if let Some(bound) = bound(name, bindings) {
                                named.push((bound, *expectation));
                            }
                        }
                    }
                    for (name, expectation) in named {
                        if expectation || deployed::under(&join(dir, name), dir) {
                            input(name);
                        }
                    }
                }
            }
        }
        // The rest of each test's own folder, when the folder is a test's
        // alone.
        let mut by_folder: std::collections::HashMap<&str, Vec<&str>> = Default::default();
        for path in &paths {
            if let Some((dir, _)) = path.rsplit_once('/') {
                by_folder.entry(dir).or_default().push(path);
            }
        }
        for (doc, what) in &harnesses {
            let Some(own) = doc
                .path
                .rsplit_once('/')
                .and_then(|(dir, _)| by_folder.get(dir))
            else {
                continue;
            };
            if doc.value["kind"] == "StepTemplate"
                || own
                    .iter()
                    .any(|p| is_kustomization(p) || subjects.contains(*p))
            {
                continue;
            }
            for path in own {
                if [".yaml", ".yml", ".json"].iter().any(|e| path.ends_with(e)) {
                    inputs
                        .entry((*path).to_owned())
                        .or_insert_with(|| format!("{} ({what}), in its folder", doc.path));
                }
            }
        }
        let folders = folders();
        let kept = |path: &str| {
            subjects.contains(path)
                || is_kustomization(path)
                || layout.listed.contains(path)
                || folders.iter().any(|f| deployed::under(path, f))
        };
        let mut skipped = BTreeMap::new();
        for (path, what) in tests {
            if !kept(&path) {
                skipped.insert(
                    path,
                    format!("a test ({what}): no kustomization, Application or Flux Kustomization deploys it"),
                );
            }
        }
        for (path, by) in inputs {
            if !kept(&path) && !skipped.contains_key(&path) {
                skipped.insert(
                    path,
                    format!("a test input of {by}: no kustomization, Application or Flux Kustomization deploys it"),
                );
            }
        }
        Self { skipped }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.skipped.is_empty()
    }

    /// Whether the file at `path` is read by a harness and nothing else.
    pub(crate) fn skips(&self, path: &str) -> bool {
        self.skipped.contains_key(path)
    }

    /// The files skipped, each with its reason.
    pub(crate) fn skipped(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.skipped.iter().map(|(p, r)| (p.clone(), r.clone()))
    }
}

const KYVERNO_TEST: &str = "Kyverno CLI test";
const GATOR_SUITE: &str = "gator suite";
const CHAINSAW_TEST: &str = "chainsaw test";

/// Whether `doc` is a harness's own file: what it reads depends on it.
pub(crate) fn is_harness(doc: &Document) -> bool {
    harness(doc).is_some()
}

/// Which harness `doc` is, if it is one.
fn harness(doc: &Document) -> Option<&'static str> {
    let api = doc.value["apiVersion"].as_str().unwrap_or_default();
    let kind = doc.value["kind"].as_str().unwrap_or_default();
    let group = api.split_once('/').map_or("", |(g, _)| g);
    match (group, kind) {
        ("cli.kyverno.io", "Test") => Some(KYVERNO_TEST),
        ("test.gatekeeper.sh", "Suite") => Some(GATOR_SUITE),
        ("chainsaw.kyverno.io", "Test" | "StepTemplate") => Some(CHAINSAW_TEST),
        // `kyverno test` finds its tests by file name, and reads those
        // written before they had a kind, or with another group.
        (_, "" | "Test") if is_named_kyverno_test(doc) => Some(KYVERNO_TEST),
        _ => None,
    }
}

fn is_named_kyverno_test(doc: &Document) -> bool {
    let name = doc.path.rsplit('/').next().unwrap_or_default();
    matches!(name, "kyverno-test.yaml" | "kyverno-test.yml")
        && doc.value["policies"].is_array()
        && doc.value["resources"].is_array()
}

/// The file names a field holds: one, or a list of them.
fn names(v: &Value) -> Box<dyn Iterator<Item = &str> + '_> {
    match v {
        Value::String(s) => Box::new(std::iter::once(s.as_str())),
        Value::Array(items) => Box::new(items.iter().filter_map(Value::as_str)),
        _ => Box::new(std::iter::empty()),
    }
}

/// What chainsaw's operations under a Test's or StepTemplate's `spec`
/// name.
#[derive(Default)]
struct Chainsaw<'a> {
    /// The files, each with whether it states an expectation.
    files: Vec<(&'a str, bool)>,
    /// The step templates used (`use.template`), with their bindings.
    uses: Vec<(&'a str, &'a Value)>,
}

impl<'a> Chainsaw<'a> {
    fn walk(&mut self, v: &'a Value, operation: Option<bool>) {
        match v {
            Value::Object(fields) => {
                for (key, value) in fields {
                    if let Some((_, expectation)) =
                        CHAINSAW_OPERATIONS.iter().find(|(op, _)| op == key)
                    {
                        self.walk(value, Some(*expectation));
                    } else if key == "file" {
                        if let (Some(expectation), Some(name)) = (operation, value.as_str()) {
                            self.files.push((name, expectation));
                        }
                    } else if key == "script" {
                        // A script's `kubectl apply -f pod.yaml` applies
                        // the file as an `apply` operation would.
                        if let Some(content) = value["content"].as_str() {
                            self.files.extend(
                                kubectl_files()
                                    .captures_iter(content)
                                    .filter_map(|c| c.get(1).map(|m| (m.as_str(), false))),
                            );
                        }
                    } else if key == "use" {
                        if let Some(template) = value["template"].as_str() {
                            self.uses.push((template, &value["with"]["bindings"]));
                        }
                    } else {
                        self.walk(value, operation);
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.walk(item, operation);
                }
            }
            _ => {}
        }
    }
}

/// The file `kubectl apply`, `create`, `replace` or `delete` is given.
fn kubectl_files() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"kubectl(?:\s+--?[\w-]+(?:=\S+|\s+[^\s-]\S*)?)*?\s+(?:apply|create|replace|delete)\b[^\n;&|]*?\s(?:-f|--filename)[\s=]+([^\s;&|]+)",
        )
        .unwrap_or_else(|_| unreachable!("the pattern is a constant"))
    })
}

/// The value `bindings` give the binding a template's `($name)` reads.
fn bound<'a>(expression: &str, bindings: &'a Value) -> Option<&'a str> {
    let name = expression.strip_prefix("($")?.strip_suffix(')')?;
    bindings.as_array()?.iter().find(|b| b["name"] == name)?["value"].as_str()
}

/// The tree's files that `name`, written in folder `dir`, names: one path,
/// or those a glob matches (chainsaw takes globs). URLs, and names of
/// files the tree does not hold, name none.
fn matching(dir: &str, name: &str, paths: &BTreeSet<&str>) -> Vec<String> {
    if name.contains("://") || name.is_empty() {
        return Vec::new();
    }
    let joined = join(dir, name);
    if !name.contains(['*', '?', '[', '{']) {
        return if paths.contains(joined.as_str()) {
            vec![joined]
        } else {
            Vec::new()
        };
    }
    match globset::GlobBuilder::new(&joined)
        .literal_separator(true)
        .build()
    {
        Ok(glob) => {
            let matcher = glob.compile_matcher();
            paths
                .iter()
                .filter(|p| matcher.is_match(p))
                .map(|p| (*p).to_owned())
                .collect()
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::parse;

    fn harnesses(files: &[(&str, &str)]) -> BTreeMap<String, String> {
        let files: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
            .collect();
        let layout = Layout::with(&files, |_, path, bytes| {
            parse::kustomization_entries(path, bytes)
        });
        let mut parsed = parse::Parsed::default();
        for (p, b) in &files {
            parse::parse_file(p, b, &layout, &mut parsed);
        }
        let docs: Vec<&Document> = parsed.documents.iter().collect();
        Harnesses::of(&files, &docs, &layout, || deployed::folders(&files, &docs)).skipped
    }

    fn paths(skipped: &BTreeMap<String, String>) -> Vec<&str> {
        skipped.keys().map(String::as_str).collect()
    }

    const CHAINSAW: &str = "apiVersion: chainsaw.kyverno.io/v1alpha1
kind: Test
metadata: {name: t}
spec:
  steps:
  - try:
    - apply: {file: ../policy.yaml}
    - assert: {file: ready.yaml}
    - apply: {file: good.yaml}
    - apply:
        file: bad-*.yaml
        expect: [{check: {($error != null): true}}]
";

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: nginx}]}\n";

    #[test]
    fn chainsaw_fixtures_beside_the_test_are_inputs_and_its_subject_is_not() {
        let skipped = harnesses(&[
            ("p/policy.yaml", POD),
            ("p/.chainsaw-test/chainsaw-test.yaml", CHAINSAW),
            ("p/.chainsaw-test/ready.yaml", POD),
            ("p/.chainsaw-test/good.yaml", POD),
            ("p/.chainsaw-test/bad-1.yaml", POD),
            ("p/.chainsaw-test/bad-2.yaml", POD),
            ("p/.chainsaw-test/unnamed.yaml", POD),
        ]);
        assert_eq!(
            paths(&skipped),
            [
                "p/.chainsaw-test/bad-1.yaml",
                "p/.chainsaw-test/bad-2.yaml",
                "p/.chainsaw-test/chainsaw-test.yaml",
                "p/.chainsaw-test/good.yaml",
                "p/.chainsaw-test/ready.yaml",
                "p/.chainsaw-test/unnamed.yaml",
            ]
        );
        assert!(skipped["p/.chainsaw-test/good.yaml"]
            .starts_with("a test input of p/.chainsaw-test/chainsaw-test.yaml (chainsaw test):"));
        assert!(skipped["p/.chainsaw-test/unnamed.yaml"].starts_with(
            "a test input of p/.chainsaw-test/chainsaw-test.yaml (chainsaw test), in its folder:"
        ));
    }

    #[test]
    fn a_template_s_bound_file_and_a_script_s_kubectl_file_are_inputs() {
        let test = "apiVersion: chainsaw.kyverno.io/v1alpha1
kind: Test
metadata: {name: t}
spec:
  steps:
  - use:
      template: ../templates/create.yaml
      with:
        bindings:
        - {name: file, value: policy.yaml}
  - try:
    - script:
        content: kubectl apply -f bad.yaml
        check: {($error != null): true}
    - script:
        content: kubectl get pods -o yaml > out.yaml
    - script:
        content: |
          if kubectl --context=tester create -f denied.yaml; then exit 1; fi
          kubectl -n apps apply --server-side -f ./kept.yaml
";
        let template = "apiVersion: chainsaw.kyverno.io/v1alpha1
kind: StepTemplate
metadata: {name: create}
spec:
  try:
  - create: {file: ($file)}
";
        let skipped = harnesses(&[
            ("c/t/chainsaw-test.yaml", test),
            ("c/templates/create.yaml", template),
            ("c/t/policy.yaml", POD),
            ("c/t/bad.yaml", POD),
            ("c/t/out.yaml", POD),
            // Its other files are judged, so that what names them shows.
            ("c/t/kustomization.yaml", "resources: []\n"),
            ("c/t/denied.yaml", POD),
            ("c/t/kept.yaml", POD),
        ]);
        assert_eq!(
            paths(&skipped),
            [
                "c/t/bad.yaml",
                "c/t/chainsaw-test.yaml",
                "c/t/denied.yaml",
                "c/t/kept.yaml",
                "c/t/policy.yaml",
                "c/templates/create.yaml",
            ]
        );
    }

    #[test]
    fn an_assert_file_outside_the_test_is_an_input() {
        let test = CHAINSAW.replace("file: ready.yaml", "file: ../shared/ready.yaml");
        let skipped = harnesses(&[
            ("p/t/chainsaw-test.yaml", &test),
            ("p/shared/ready.yaml", POD),
        ]);
        assert!(skipped.contains_key("p/shared/ready.yaml"));
    }

    #[test]
    fn kyverno_cli_inputs_are_skipped_and_its_policies_judged() {
        let test = "apiVersion: cli.kyverno.io/v1alpha1
kind: Test
metadata: {name: t}
policies: [../policy.yaml]
resources: [resource.yaml]
variables: values.yaml
results:
- {policy: p, rule: r, resources: [policy.yaml], patchedResources: patched.yaml, kind: Pod, result: pass}
- {policy: p, rule: r, resources: [x], patchedResource: old.yaml, kind: Pod, result: pass}
";
        let skipped = harnesses(&[
            ("k/policy.yaml", POD),
            ("k/.kyverno-test/kyverno-test.yaml", test),
            ("k/.kyverno-test/resource.yaml", POD),
            ("k/.kyverno-test/patched.yaml", POD),
            ("k/.kyverno-test/old.yaml", POD),
            ("k/.kyverno-test/values.yaml", "policies: []\n"),
        ]);
        assert_eq!(
            paths(&skipped),
            [
                "k/.kyverno-test/kyverno-test.yaml",
                "k/.kyverno-test/old.yaml",
                "k/.kyverno-test/patched.yaml",
                "k/.kyverno-test/resource.yaml",
                "k/.kyverno-test/values.yaml",
            ]
        );
    }

    #[test]
    fn a_kyverno_test_is_found_by_its_name() {
        let test = "name: t\npolicies: [policy.yaml]\nresources: [resource.yaml]\n";
        let skipped = harnesses(&[
            ("k/kyverno-test.yaml", test),
            ("k/policy.yaml", POD),
            ("k/resource.yaml", POD),
        ]);
        assert!(skipped.contains_key("k/resource.yaml"));
        assert!(!skipped.contains_key("k/policy.yaml"));
        // The same fields under another name are not a harness.
        let skipped = harnesses(&[("k/other.yaml", test), ("k/resource.yaml", POD)]);
        assert!(skipped.is_empty());
        // Kyverno's own tests give some another group.
        let test = format!("apiVersion: kyverno.io/v1\nkind: Test\n{test}");
        let skipped = harnesses(&[("k/kyverno-test.yaml", &test), ("k/resource.yaml", POD)]);
        assert!(skipped.contains_key("k/resource.yaml"));
    }

    #[test]
    fn gator_cases_are_inputs_and_its_templates_judged() {
        let suite = "apiVersion: test.gatekeeper.sh/v1alpha1
kind: Suite
tests:
- template: template.yaml
  constraint: samples/constraint.yaml
  cases:
  - {object: samples/bad.yaml, inventory: [samples/ns.yaml]}
";
        let skipped = harnesses(&[
            ("g/suite.yaml", suite),
            ("g/template.yaml", POD),
            ("g/samples/constraint.yaml", POD),
            ("g/samples/bad.yaml", POD),
            ("g/samples/ns.yaml", POD),
        ]);
        assert_eq!(
            paths(&skipped),
            ["g/samples/bad.yaml", "g/samples/ns.yaml", "g/suite.yaml"]
        );
    }

    /// A test at the root, or in a folder with a kustomization, does not
    /// make its neighbours test inputs; nor does a step template.
    #[test]
    fn only_a_test_folder_s_unnamed_files_are_inputs() {
        let template = "apiVersion: chainsaw.kyverno.io/v1alpha1\nkind: StepTemplate\nmetadata: {name: s}\nspec: {try: []}\n";
        let skipped = harnesses(&[
            ("chainsaw-test.yaml", CHAINSAW),
            ("app.yaml", POD),
            ("web/chainsaw-test.yaml", CHAINSAW),
            ("web/kustomization.yaml", "resources: [deployment.yaml]\n"),
            ("web/deployment.yaml", POD),
            ("web/other.yaml", POD),
            ("templates/create.yaml", template),
            ("templates/pod.yaml", POD),
        ]);
        // A policy's folder with its test beside it: another policy there
        // is no test input.
        let legacy = "name: t\npolicies: [a.yaml]\nresources: [resource.yaml]\n";
        let mut more = harnesses(&[
            ("policy/kyverno-test.yaml", legacy),
            ("policy/a.yaml", POD),
            ("policy/b.yaml", POD),
            ("policy/resource.yaml", POD),
        ]);
        assert!(more.remove("policy/resource.yaml").is_some());
        assert!(more.remove("policy/kyverno-test.yaml").is_some());
        assert!(more.is_empty(), "{more:?}");
        for kept in [
            "app.yaml",
            "web/deployment.yaml",
            "web/other.yaml",
            "templates/pod.yaml",
        ] {
            assert!(!skipped.contains_key(kept), "{kept}: {skipped:?}");
        }
    }

    #[test]
    fn what_a_kustomization_lists_stays_judged() {
        let skipped = harnesses(&[
            ("p/chainsaw-test.yaml", CHAINSAW),
            ("p/good.yaml", POD),
            ("p/ready.yaml", POD),
            ("p/kustomization.yaml", "resources: [good.yaml]\n"),
        ]);
        assert!(!skipped.contains_key("p/good.yaml"));
        assert!(skipped.contains_key("p/ready.yaml"));
    }

    #[test]
    fn a_repository_socle_wrote_deploys_its_fixtures() {
        let skipped = harnesses(&[
            ("socle.lock", "{}\n"),
            ("p/chainsaw-test.yaml", CHAINSAW),
            ("p/good.yaml", POD),
        ]);
        assert!(skipped.is_empty());
    }
}
