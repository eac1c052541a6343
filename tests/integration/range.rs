//! `socle check --range` and `--commit` on real git histories (built with the
//! git binary here; socle reads them through gix).

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use crate::support::git;

/// A generated repository with its initial commit, ready for more: the
/// temporary directory (kept alive by the caller) and the repository in it.
pub(crate) fn repository() -> (tempfile::TempDir, std::path::PathBuf) {
    repository_of(tempfile::tempdir().unwrap(), &[])
}

/// The same, rendered from `spec`.
fn repository_with_spec(spec: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("spec.yaml");
    fs_err::write(&path, spec).unwrap();
    repository_of(tmp, &["--spec".as_ref(), path.as_os_str()])
}

/// [`repository`] in `tmp`, `socle new` given `args` besides its output.
fn repository_of(
    tmp: tempfile::TempDir,
    args: &[&std::ffi::OsStr],
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tmp.path().join("r");
    let status = Command::cargo_bin("socle")
        .unwrap()
        .args(["new", "-q"])
        .args(args)
        .arg("--out")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    git(&dir, &["config", "user.email", "ci@example.invalid"]);
    git(&dir, &["config", "user.name", "CI"]);
    (tmp, dir)
}

pub(crate) fn edit(dir: &Path, file: &str, old: &str, new: &str) {
    let path = dir.join(file);
    let text = fs_err::read_to_string(&path).unwrap();
    assert!(text.contains(old), "{old:?} not in {file}");
    fs_err::write(&path, text.replacen(old, new, 1)).unwrap();
}

pub(crate) fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

pub(crate) const STS: &str = "components/zeppelin/base/statefulset.yaml";
pub(crate) const FLOAT: (&str, &str) = (
    "image: apache/zeppelin:0.12.1\n          ports:",
    "image: apache/zeppelin:latest\n          ports:",
);

/// The user cache directory of the checks of the repository `dir`: beside
/// it, in the test's temporary directory.
pub(crate) fn xdg_cache(dir: &Path) -> std::path::PathBuf {
    dir.parent().unwrap().join("xdg-cache")
}

fn check(dir: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = Command::cargo_bin("socle")
        .unwrap()
        .arg("check")
        .arg(dir)
        .args(args)
        .args(["--format", "json"])
        .env("XDG_CACHE_HOME", xdg_cache(dir))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

/// The findings of a report.
/// The (rule, `field`) of the findings of the rules `keep` names that the
/// range leaves in place (a finding fixed within it is reported as such),
/// sorted.
fn unfixed(json: &Value, field: &str, keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut list: Vec<_> = findings(json)
        .iter()
        .filter(|f| f["fixed_in"].is_null())
        .filter(|f| keep(f["rule"].as_str().unwrap_or_default()))
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_owned(),
                f[field].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    list.sort();
    list
}

/// What `places` keeps of each commit's own check, asserting that the
/// range from `base` to that commit reports the same.
fn agree_at_each_commit<T: PartialEq + std::fmt::Debug>(
    dir: &Path,
    base: &str,
    commits: &[String],
    places: impl Fn(&Value) -> T,
) -> Vec<T> {
    let mut seen = Vec::new();
    for c in commits {
        let (_, alone, stderr) = check(dir, &["--commit", c]);
        let at_commit = places(&alone);
        let (_, range, stderr_range) = check(dir, &["--range", &format!("{base}..{c}")]);
        assert_eq!(places(&range), at_commit, "{c}\n{stderr}\n{stderr_range}");
        seen.push(at_commit);
    }
    seen
}

pub(crate) fn findings(json: &Value) -> Vec<Value> {
    json["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .cloned()
        .collect()
}

#[test]
fn findings_name_the_commit_that_introduced_them() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    commit(&dir, "Float the Zeppelin image");
    edit(&dir, "README.md", "# ", "# Platform: ");
    commit(&dir, "Retitle the README");

    let (code, json, stderr) = check(&dir, &["--range", &format!("{base}..HEAD")]);
    assert_eq!(code, 1, "{json}\n{stderr}");
    let list = findings(&json);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["rule"], "SOC-K8S-002");
    // The line of the floated image in the file as committed.
    let image_line = fs_err::read_to_string(dir.join(STS))
        .unwrap()
        .lines()
        .position(|l| l.contains("image: apache/zeppelin:latest"))
        .unwrap() as u64
        + 1;
    assert_eq!(
        (list[0]["file"].as_str(), list[0]["line"].as_u64()),
        (Some(STS), Some(image_line))
    );
    assert!(
        list[0]["commit"]
            .as_str()
            .unwrap()
            .contains("\"Float the Zeppelin image\""),
        "{list:?}"
    );

    // The same tree read from the object database with --commit.
    let (code, json, _) = check(&dir, &["--commit", "HEAD"]);
    assert_eq!(code, 1);
    assert_eq!(findings(&json).len(), 1);
}

#[test]
fn pre_existing_findings_do_not_fail_the_range() {
    let (_tmp, dir) = repository();
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    let base = commit(&dir, "Float the Zeppelin image");
    edit(&dir, "README.md", "# ", "# Platform: ");
    commit(&dir, "Retitle the README");
    let (code, json, stderr) = check(&dir, &["--range", &format!("{base}..HEAD")]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    let list = findings(&json);
    assert!(
        list.iter().all(|f| f["pre_existing"] == true) && !list.is_empty(),
        "{list:?}"
    );
}

#[test]
fn a_violation_fixed_within_the_range_is_reported_not_failed() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    commit(&dir, "Float the Zeppelin image");
    edit(&dir, STS, FLOAT.1, FLOAT.0);
    commit(&dir, "Pin it again");
    let range = format!("{base}..HEAD");
    let (code, json, _) = check(&dir, &["--range", &range]);
    assert_eq!(code, 0, "{json}");
    let list = findings(&json);
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(list[0]["fixed_in"]
        .as_str()
        .unwrap()
        .contains("Pin it again"));
    let (code, _, _) = check(&dir, &["--range", &range, "--every-commit-must-pass"]);
    assert_eq!(code, 1);
}

#[test]
fn a_pull_request_cannot_weaken_the_rules_it_is_judged_by() {
    let (_tmp, dir) = repository();
    fs_err::create_dir_all(dir.join("policies")).unwrap();
    fs_err::write(
        dir.join("policies/no-debug.rego"),
        "package main\n\ndeny contains msg if {\n\tinput.kind == \"ConfigMap\"\n\tinput.data.mode == \"debug\"\n\tmsg := \"no debug mode in git\"\n}\n",
    )
    .unwrap();
    let base = commit(&dir, "Add a repository policy");

    fs_err::remove_file(dir.join("policies/no-debug.rego")).unwrap();
    fs_err::write(
        dir.join("platform/debug.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: debug\ndata:\n  mode: debug\n",
    )
    .unwrap();
    commit(&dir, "Drop the rule and turn debug on");

    let range = format!("{base}..HEAD");
    let (code, json, stderr) = check(&dir, &["--range", &range]);
    assert_eq!(code, 1, "{json}\n{stderr}");
    let list = findings(&json);
    assert!(
        list.iter()
            .any(|f| f["rule"] == "main.deny" && f["file"] == "platform/debug.yaml"),
        "{list:?}"
    );
    let policy_change = list
        .iter()
        .find(|f| f["rule"] == "SOC-RANGE-001")
        .expect("policy change reported");
    assert_eq!(policy_change["severity"], "warn");
    assert_eq!(policy_change["file"], "policies/no-debug.rego");

    let (_, json, _) = check(&dir, &["--range", &range, "--protect-policies"]);
    let list = findings(&json);
    assert!(
        list.iter()
            .any(|f| f["rule"] == "SOC-RANGE-001" && f["severity"] == "deny"),
        "{list:?}"
    );
}

#[test]
fn a_merge_is_judged_on_what_none_of_its_parents_had() {
    let (_tmp, dir) = repository();
    let start = git(&dir, &["rev-parse", "HEAD"]);
    // main moves on with a violation of its own...
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    commit(&dir, "Float the Zeppelin image on main");
    // ...while a feature branch, started before, makes a clean change and
    // then merges main in.
    git(&dir, &["checkout", "-q", "-b", "feature", &start]);
    edit(&dir, "README.md", "# ", "# Platform: ");
    commit(&dir, "Retitle the README");
    git(&dir, &["merge", "-q", "--no-edit", "main"]);
    let (code, json, stderr) = check(&dir, &["--range", "main..feature"]);
    assert_eq!(code, 0, "the merge brings nothing new:\n{json}\n{stderr}");
    assert!(
        findings(&json).iter().all(|f| f["pre_existing"] == true),
        "{json}"
    );
}

#[test]
fn bad_ranges_are_usage_errors() {
    let (_tmp, dir) = repository();
    edit(&dir, "README.md", "# ", "# Platform: ");
    commit(&dir, "Retitle the README");
    for (args, expected) in [
        (vec!["--range", "nope..HEAD"], "unknown revision \"nope\""),
        (vec!["--range", "HEAD..HEAD~1"], "empty or inverted"),
        (vec!["--range", "HEAD"], "expected BASE..HEAD"),
        (vec!["--commit", "nope"], "unknown revision \"nope\""),
    ] {
        let (code, _, stderr) = check(&dir, &args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // Not a git repository at all.
    let plain = tempfile::tempdir().unwrap();
    let (code, _, stderr) = check(plain.path(), &["--commit", "HEAD"]);
    assert_eq!(code, 2, "{stderr}");
}

/// A commit's symbolic links are judged as a working tree's: one whose
/// target, read as written, leaves the repository is a denial (Argo CD's
/// repo server refuses such a source); one that stays inside is skipped.
#[test]
fn a_commit_s_link_out_of_the_repository_is_a_denial() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    fs_err::create_dir_all(dir.join("apps")).unwrap();
    git(&dir, &["init", "-q"]);
    git(&dir, &["config", "user.email", "ci@example.invalid"]);
    git(&dir, &["config", "user.name", "CI"]);
    fs_err::write(dir.join("README.md"), "# Links\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("values.yaml")).unwrap();
    std::os::unix::fs::symlink("../../elsewhere", dir.join("apps/up.yaml")).unwrap();
    std::os::unix::fs::symlink("../README.md", dir.join("apps/readme.md")).unwrap();
    commit(&dir, "Links");
    let (code, json, stderr) = check(&dir, &["--commit", "HEAD"]);
    assert_eq!(code, 1, "{json}\n{stderr}");
    let list = findings(&json);
    let mut outside: Vec<(&str, &str)> = list
        .iter()
        .map(|f| (f["file"].as_str().unwrap(), f["rule"].as_str().unwrap()))
        .collect();
    outside.sort();
    assert_eq!(
        outside,
        [
            ("apps/up.yaml", "SOC-REPO-001"),
            ("values.yaml", "SOC-REPO-001")
        ],
        "{json}"
    );
}

#[test]
fn the_installed_hook_refuses_a_violating_commit() {
    let (_tmp, dir) = repository();
    let out = Command::cargo_bin("socle")
        .unwrap()
        .args(["hook", "install"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Installing again is fine; replacing someone else's hook needs --force.
    assert!(Command::cargo_bin("socle")
        .unwrap()
        .args(["hook", "install"])
        .arg(&dir)
        .status()
        .unwrap()
        .success());
    fs_err::write(dir.join(".git/hooks/pre-commit"), "#!/bin/sh\nexit 0\n").unwrap();
    let out = Command::cargo_bin("socle")
        .unwrap()
        .args(["hook", "install"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert!(Command::cargo_bin("socle")
        .unwrap()
        .args(["hook", "install", "--force"])
        .arg(&dir)
        .status()
        .unwrap()
        .success());

    // The hook runs the socle on PATH.
    let bin = assert_cmd::cargo::cargo_bin("socle");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let commit_with_hook = |message: &str| {
        git(&dir, &["add", "-A"]);
        Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["commit", "-q", "-m", message])
            .env("PATH", &path)
            .env("XDG_CACHE_HOME", xdg_cache(&dir))
            .output()
            .unwrap()
    };
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    let out = commit_with_hook("Float the Zeppelin image");
    assert!(!out.status.success(), "the hook let a denial through");
    // git sends a hook's output to its standard error.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("SOC-K8S-002"), "{said}");
    edit(&dir, STS, FLOAT.1, FLOAT.0);
    edit(&dir, "README.md", "# ", "# Platform: ");
    let out = commit_with_hook("Retitle the README");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_long_range_is_silent_when_stderr_is_not_a_terminal() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    for i in 0..25 {
        edit(&dir, "README.md", "# ", &format!("# {i} "));
        commit(&dir, &format!("Retitle {i}"));
    }
    let (code, json, stderr) = check(&dir, &["--range", &format!("{base}..HEAD")]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert_eq!(stderr, "", "no progress bar off a terminal");
}

fn cache_entries(dir: &Path) -> Vec<std::path::PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn the_persistent_cache_gives_the_same_findings_and_survives_damage() {
    let (tmp, dir) = repository();
    let cache = xdg_cache(&dir).join("socle");
    let summary = |args: &[&str]| {
        let (code, json, stderr) = check(&dir, args);
        let rules: Vec<String> = findings(&json)
            .iter()
            .map(|f| format!("{} {} {}", f["rule"], f["file"], f["line"]))
            .collect();
        (code, rules, stderr)
    };

    let cold = summary(&["--cache"]);
    assert_eq!(cold.0, 0, "{cold:?}");
    let packs = cache_entries(&cache);
    assert_eq!(packs.len(), 1, "one pack per run: {packs:?}");
    assert!(!dir.join(".socle").exists(), "nothing in the repository");
    let pack: serde_json::Map<String, Value> =
        serde_json::from_slice(&fs_err::read(&packs[0]).unwrap()).unwrap();
    assert!(pack.len() > 300, "one entry per file: {}", pack.len());

    // A change: the warm run sees it, as an uncached run does.
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    let uncached = summary(&[]);
    assert_eq!(uncached.0, 1, "{uncached:?}");
    assert_eq!(summary(&["--cache"]), uncached);
    let explicit = tmp.path().join("explicit");
    let flag = format!("--cache={}", explicit.display());
    assert_eq!(summary(&[&flag]), uncached);
    assert_eq!(summary(&[&flag]), uncached);
    assert!(!cache_entries(&explicit).is_empty());

    // Torn entries are misses, and a deleted cache is rebuilt.
    for e in cache_entries(&cache) {
        fs_err::write(&e, b"{torn").unwrap();
    }
    assert_eq!(summary(&["--cache"]), uncached);
    fs_err::remove_dir_all(&cache).unwrap();
    assert_eq!(summary(&["--cache"]), uncached);
    assert!(!cache_entries(&cache).is_empty());

    // Concurrent runs on one cache directory agree.
    fs_err::remove_dir_all(&cache).unwrap();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            Command::cargo_bin("socle")
                .unwrap()
                .arg("check")
                .arg(&dir)
                .args(["--format", "json", "--cache"])
                .env("XDG_CACHE_HOME", xdg_cache(&dir))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(findings(&json).len(), uncached.1.len());
    }
}

#[test]
fn a_range_reads_and_fills_the_cache() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    commit(&dir, "Float the Zeppelin image");
    let range = format!("{base}..HEAD");
    let plain = check(&dir, &["--range", &range]);
    let cold = check(&dir, &["--range", &range, "--cache"]);
    let warm = check(&dir, &["--range", &range, "--cache"]);
    assert_eq!(plain.0, 1);
    assert_eq!((cold.0, &cold.1), (plain.0, &plain.1));
    assert_eq!((warm.0, &warm.1), (plain.0, &plain.1));
}

#[test]
fn binary_blobs_are_skipped_and_huge_ones_fail_the_range() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    fs_err::write(dir.join("docs-logo.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    fs_err::write(
        dir.join("seed-dump.csv"),
        "id,name\n".repeat(11 * 1024 * 1024 / 8),
    )
    .unwrap();
    commit(&dir, "Add a logo and a large seed dump");
    let (code, json, stderr) = check(&dir, &["--range", &format!("{base}..HEAD")]);
    // Too large to parse is too large to show safe: a denial (a Secret
    // padded past the limit must not pass).
    assert_eq!(code, 1, "{json}\n{stderr}");
    let list = findings(&json);
    let huge = list
        .iter()
        .find(|f| f["rule"] == "SOC-REPO-002")
        .unwrap_or_else(|| panic!("{list:?}"));
    assert_eq!(huge["file"], "seed-dump.csv");
    assert!(huge["message"].as_str().unwrap().contains("not checked"));
    assert!(huge["commit"].as_str().unwrap().contains("large seed dump"));
    let skipped = json["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["path"] == "docs-logo.png"
                && s["reason"].as_str().unwrap().contains("binary")),
        "{skipped:?}"
    );
}

#[test]
fn a_shallow_clone_missing_the_base_says_how_to_fetch_it() {
    let (tmp, dir) = repository();
    edit(&dir, "README.md", "# ", "# Platform: ");
    commit(&dir, "Retitle the README");
    let shallow = tmp.path().join("shallow");
    let url = format!("file://{}", dir.display());
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &url,
            shallow.to_str().unwrap(),
        ],
    );
    let (code, _, stderr) = check(&shallow, &["--range", "HEAD~1..HEAD"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("shallow clone"), "{stderr}");
    assert!(stderr.contains("fetch-depth: 0"), "{stderr}");
}

/// `--staged` judges what the next commit holds (the index), not the
/// working tree: a denial only in the working tree passes, a denial staged
/// and then undone in the working tree fails. The hook runs it, and
/// replaces the hook an earlier socle wrote without `--force`.
#[test]
fn staged_judges_the_index_not_the_working_tree() {
    let (_tmp, dir) = repository();
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    let (code, json, stderr) = check(&dir, &["--staged"]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    let (code, _, _) = check(&dir, &[]);
    assert_eq!(code, 1, "the working tree holds the denial");

    git(&dir, &["add", STS]);
    edit(&dir, STS, FLOAT.1, FLOAT.0);
    let (code, json, stderr) = check(&dir, &["--staged"]);
    assert_eq!(code, 1, "{json}\n{stderr}");
    assert!(json.to_string().contains("SOC-K8S-002"), "{json}");
    let (code, _, _) = check(&dir, &[]);
    assert_eq!(code, 0, "the working tree is clean again");

    let hook = dir.join(".git/hooks/pre-commit");
    fs_err::create_dir_all(hook.parent().unwrap()).unwrap();
    fs_err::write(&hook, "#!/bin/sh\n# Installed by `socle hook install`: check the repository against its\n# policies before each commit (socle must be on PATH).\nexec socle check --cache .\n").unwrap();
    let out = Command::cargo_bin("socle")
        .unwrap()
        .args(["hook", "install"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fs_err::read_to_string(&hook)
        .unwrap()
        .contains("socle check --staged --cache"));
}

/// `socle-check.yaml` is read from BASE like the policies: a pull request
/// that turns a rule off is still judged by it, and the change is reported
/// for review; a commit that breaks the file is a denial at its line.
#[test]
fn a_pull_request_cannot_relax_the_configuration_it_is_judged_by() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    let config = dir.join("socle-check.yaml");
    let text = fs_err::read_to_string(&config).unwrap();
    fs_err::write(
        &config,
        format!("{text}\nrules:\n  disable: [SOC-K8S-002]\n"),
    )
    .unwrap();
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    commit(&dir, "Float zeppelin and turn the pinning rule off");
    let range = format!("{base}..HEAD");
    let (code, json, stderr) = check(&dir, &["--range", &range]);
    assert_eq!(code, 1, "{json}\n{stderr}");
    let list = findings(&json);
    assert!(
        list.iter()
            .any(|f| f["rule"] == "SOC-K8S-002" && f["file"] == STS),
        "{list:?}"
    );
    assert!(
        list.iter().any(|f| f["rule"] == "SOC-RANGE-001"
            && f["file"] == "socle-check.yaml"
            && f["severity"] == "warn"),
        "{list:?}"
    );

    fs_err::write(&config, format!("{text}\nrules:\n  disabled: []\n")).unwrap();
    commit(&dir, "Break the configuration");
    let line = text.lines().count() + 3;
    let (code, json, stderr) = check(&dir, &["--range", &range]);
    assert_eq!(code, 1, "{json}\n{stderr}");
    let list = findings(&json);
    assert!(
        list.iter().any(|f| f["rule"] == "SOC-SCHEMA-005"
            && f["file"] == "socle-check.yaml"
            && f["line"] == line as u64),
        "{list:?}"
    );
}

/// The configuration at BASE is the one in force: a rule BASE turns off is
/// off for the whole range.
#[test]
fn the_base_configuration_is_in_force_for_the_range() {
    let (_tmp, dir) = repository();
    let config = dir.join("socle-check.yaml");
    let text = fs_err::read_to_string(&config).unwrap();
    fs_err::write(
        &config,
        format!("{text}\nrules:\n  disable: [SOC-K8S-002]\n"),
    )
    .unwrap();
    let base = commit(&dir, "Turn the pinning rule off");
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    commit(&dir, "Float zeppelin");
    let (code, json, stderr) = check(&dir, &["--range", &format!("{base}..HEAD")]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(
        findings(&json).iter().all(|f| f["rule"] != "SOC-K8S-002"),
        "{json}"
    );
}

/// A range checked again with the persistent cache (a re-run, a rebased
/// pull request) reuses each tree's findings: the report is the one an
/// uncached run gives, commit labels and fixes included.
#[test]
fn a_warm_range_agrees_with_an_uncached_one() {
    let (tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    commit(&dir, "Float zeppelin");
    edit(&dir, STS, FLOAT.1, FLOAT.0);
    commit(&dir, "Pin it again");
    edit(
        &dir,
        "components/trino/values.yaml",
        "\n",
        "\nauth:\n  password: hunter2\n",
    );
    commit(&dir, "A literal password");
    let range = format!("{base}..HEAD");
    let flag = format!("--cache={}", tmp.path().join("cache").display());
    let (code, uncached, _) = check(&dir, &["--range", &range, "--every-commit-must-pass"]);
    assert_eq!(code, 1);
    for _ in 0..2 {
        let (warm_code, warm, stderr) = check(
            &dir,
            &["--range", &range, "--every-commit-must-pass", &flag],
        );
        assert_eq!(warm_code, code, "{stderr}");
        assert_eq!(findings(&warm), findings(&uncached));
    }
}

/// A branch's first push and manual pipelines pass forty zeros as the base,
/// and a force-push leaves a base commit nothing has: the range is then the
/// commits of HEAD that no remote branch has, judged against where they
/// leave the published history; with none, HEAD's tree. A base name that
/// resolves to nothing stays an error (`bad_ranges_are_usage_errors`).
#[test]
fn a_zero_or_vanished_base_checks_what_the_push_publishes() {
    let (tmp, origin) = repository();
    let clone = tmp.path().join("clone");
    let url = format!("file://{}", origin.display());
    git(tmp.path(), &["clone", "-q", &url, clone.to_str().unwrap()]);
    git(&clone, &["config", "user.email", "ci@example.invalid"]);
    git(&clone, &["config", "user.name", "CI"]);
    let zero = "0".repeat(40);
    // Nothing unpublished: HEAD's tree, clean.
    let (code, json, stderr) = check(&clone, &["--range", &format!("{zero}..HEAD")]);
    assert_eq!(code, 0, "{json}\n{stderr}");
    assert!(stderr.contains("checking the tree at HEAD"), "{stderr}");

    edit(&clone, STS, FLOAT.0, FLOAT.1);
    commit(&clone, "Float zeppelin");
    edit(&clone, "README.md", "# ", "# Platform: ");
    commit(&clone, "Retitle the README");
    for base in [zero.as_str(), "0123456789abcdef0123456789abcdef01234567"] {
        let (code, json, stderr) = check(&clone, &["--range", &format!("{base}..HEAD")]);
        assert_eq!(code, 1, "{base}: {json}\n{stderr}");
        assert!(
            stderr.contains("2 commit(s) of HEAD that no remote branch has"),
            "{stderr}"
        );
        let float = findings(&json)
            .into_iter()
            .find(|f| f["rule"] == "SOC-K8S-002")
            .expect("the floating image");
        assert!(
            float["commit"].as_str().unwrap().contains("Float zeppelin"),
            "{float}"
        );
    }
    // No remote at all: the whole history is new, so HEAD's tree.
    let (code, _, stderr) = check(&origin, &["--range", &format!("{zero}..HEAD")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("checking the tree at HEAD"), "{stderr}");
}

/// `socle hook install` writes the hook where git runs it: under
/// `core.hooksPath` when the repository sets one (relative to the work tree).
#[test]
fn the_hook_goes_where_core_hooks_path_says() {
    let (_tmp, dir) = repository();
    git(&dir, &["config", "core.hooksPath", ".githooks"]);
    let out = Command::cargo_bin("socle")
        .unwrap()
        .args(["hook", "install"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hook = fs_err::read_to_string(dir.join(".githooks/pre-commit")).unwrap();
    assert!(hook.contains("socle check --staged"), "{hook}");
    assert!(!dir.join(".git/hooks/pre-commit").exists());
    // A hooks folder shared by every repository is not written unasked.
    let shared = dir.parent().unwrap().join("shared-hooks");
    git(
        &dir,
        &["config", "core.hooksPath", shared.to_str().unwrap()],
    );
    let out = Command::cargo_bin("socle")
        .unwrap()
        .args(["hook", "install"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside this repository"));
    assert!(!shared.exists());
}

/// A revision the repository cannot resolve is explained in git's terms,
/// never with the revision parser's internals.
#[test]
fn an_unresolvable_revision_is_explained_without_internals() {
    let (_tmp, dir) = crate::support::new_repo();
    for (args, expected) in [
        (
            vec!["check", "--commit", "HEAD~999"],
            "fewer than 999 ancestor(s)",
        ),
        (
            vec!["check", "--range", "HEAD~999..HEAD"],
            "fewer than 999 ancestor(s)",
        ),
        (vec!["check", "--commit", "HEAD^2"], "no such parent"),
        (
            vec!["check", "--commit", "nope@{upstream}"],
            "not a revision socle can read",
        ),
    ] {
        let (code, out, err) = crate::support::socle_in(&dir, &args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(
            !err.contains("delegate") && !err.contains("input="),
            "{args:?}: {err}"
        );
    }
}

/// A values edit that turns a chart's object off names no address: ECK's
/// Elasticsearch, and with it the Secrets its consumers read. The range
/// models that commit again, and reports what a check of the commit
/// reports, instead of the model of the commit before it.
#[test]
fn a_values_edit_that_turns_a_charts_object_off_is_modelled_at_its_commit() {
    let out = Command::cargo_bin("socle")
        .unwrap()
        .args(["spec", "example", "--blueprint", "lakehouse"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (_tmp, dir) = repository_with_spec(&String::from_utf8_lossy(&out.stdout));
    let base = git(&dir, &["rev-parse", "HEAD"]);
    edit(
        &dir,
        "components/elasticsearch/values.yaml",
        "eck-elasticsearch:\n  enabled: true\n",
        "eck-elasticsearch:\n  enabled: false\n",
    );
    commit(&dir, "Turn Elasticsearch off");

    let places = |json: &Value| -> Vec<(String, String, u64)> {
        let mut list: Vec<_> = findings(json)
            .iter()
            .map(|f| {
                (
                    f["rule"].as_str().unwrap_or_default().to_owned(),
                    f["file"].as_str().unwrap_or_default().to_owned(),
                    f["line"].as_u64().unwrap_or_default(),
                )
            })
            .collect();
        list.sort();
        list
    };
    let (_, head, stderr) = check(&dir, &[]);
    let at_head = places(&head);
    assert!(
        at_head.iter().any(|(rule, _, _)| rule == "SOC-SYS-009"),
        "{at_head:?}\n{stderr}"
    );
    let (_, range, stderr) = check(&dir, &["--range", &format!("{base}..HEAD")]);
    assert_eq!(places(&range), at_head, "{stderr}");
}

/// Commits that each change one environment: the range resolves and
/// judges that environment again and reuses the others' judgements. What
/// it reports is what a check of each commit reports: a dev finding
/// introduced then fixed, a prod finding that stays while dev changes, and
/// a dev realm edit whose finding lands in another dev file.
#[test]
fn a_range_of_one_environment_commits_agrees_with_a_check_of_each() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    let ingress = |env: &str| format!("components/zeppelin/overlays/{env}/ingress.yaml");
    let issuer = (
        "cert-manager.io/cluster-issuer: platform-ca\n",
        "cert-manager.io/cluster-issuer: platform-ca2\n",
    );
    let places = |json: &Value| unfixed(json, "file", |_| true);
    let mut commits = Vec::new();
    edit(&dir, &ingress("dev"), issuer.0, issuer.1);
    commits.push(commit(&dir, "dev: an issuer nothing creates"));
    edit(&dir, &ingress("prod"), issuer.0, issuer.1);
    commits.push(commit(&dir, "prod: the same"));
    edit(&dir, &ingress("dev"), issuer.1, issuer.0);
    commits.push(commit(&dir, "dev: fixed"));
    edit(
        &dir,
        "components/keycloak/manifests/dev/realm.yaml",
        "- \"https://grafana.dev.data.acme.example/login/generic_oauth\"",
        "- \"https://grafana.example.org/login/generic_oauth\"",
    );
    commits.push(commit(&dir, "dev: Grafana's client redirects elsewhere"));

    let seen = agree_at_each_commit(&dir, &base, &commits, places);
    let sys026 = |env: &str| ("SOC-SYS-026".to_owned(), ingress(env));
    assert_eq!(seen[0], vec![sys026("dev")]);
    assert_eq!(seen[1], vec![sys026("dev"), sys026("prod")]);
    assert_eq!(seen[2], vec![sys026("prod")]);
    assert_eq!(
        seen[3],
        vec![
            (
                "SOC-SYS-013".to_owned(),
                "components/kube-prometheus-stack/values-dev.yaml".to_owned()
            ),
            sys026("prod")
        ]
    );
}

/// What an Application's configuration says (the buckets it names, the
/// addresses it calls) is kept per Application across a range: a commit
/// scans again only the Applications whose files it changed. Commits that
/// change what one Application says (a values file all environments read,
/// a manifest of one environment), then undo it, are reported at each
/// commit as a check of that commit reports them.
#[test]
fn what_each_application_says_is_kept_and_agrees_with_a_check_of_each_commit() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    let bucket = (
        "components/loki/values.yaml",
        "chunks: loki-chunks\n",
        "chunks: loki-chunkz\n",
    );
    let address = (
        "components/airflow/manifests/dev/externalsecrets.yaml",
        "\"http://minio.data-platform-storage.svc.cluster.local\"",
        "\"http://minio2.data-platform-storage.svc.cluster.local\"",
    );
    let mut commits = Vec::new();
    edit(&dir, bucket.0, bucket.1, bucket.2);
    commits.push(commit(&dir, "Loki writes to a bucket nothing creates"));
    edit(&dir, address.0, address.1, address.2);
    commits.push(commit(&dir, "dev: Airflow calls a store nothing serves"));
    edit(&dir, bucket.0, bucket.2, bucket.1);
    commits.push(commit(&dir, "Loki's bucket back"));
    edit(&dir, address.0, address.2, address.1);
    commits.push(commit(&dir, "dev: Airflow's store back"));

    let places = |json: &Value| unfixed(json, "file", |rule| rule.starts_with("SOC-SYS-"));
    let seen = agree_at_each_commit(&dir, &base, &commits, places);
    let at = |file: &str| {
        seen.iter()
            .map(|s| s.iter().any(|(_, f)| f == file))
            .collect::<Vec<_>>()
    };
    // Each change is found at its commit and gone once undone.
    assert_eq!(at(bucket.0), [true, true, false, false], "{seen:?}");
    assert_eq!(at(address.0), [false, true, true, false], "{seen:?}");
    assert!(seen[3].is_empty(), "{seen:?}");
}

/// The namespace rules judge each namespace on its own, remembered by the
/// files of its objects: a commit to one namespace keeps another's finding,
/// and each commit's findings are those of a check of that commit.
#[test]
fn namespaces_judged_one_by_one_agree_with_a_check_of_each_commit() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    let ns = |name: &str, file: &str| format!("platform/base/namespaces/{name}/{file}.yaml");
    let moved = (
        "  namespace: data-platform-core\n",
        "  namespace: data-platform-elsewhere\n",
    );
    let mut commits = Vec::new();
    edit(&dir, &ns("core", "limitrange"), moved.0, moved.1);
    commits.push(commit(&dir, "core's LimitRange elsewhere"));
    edit(
        &dir,
        &ns("storage", "networkpolicies"),
        "  namespace: data-platform-storage\n  labels:\n",
        "  namespace: data-platform-storage\n  labels:\n    example.org/note: \"1\"\n",
    );
    commits.push(commit(&dir, "storage: a label"));
    edit(
        &dir,
        &ns("storage", "namespace"),
        "    pod-security.kubernetes.io/enforce: restricted\n",
        "",
    );
    commits.push(commit(&dir, "storage: no enforced level"));
    edit(&dir, &ns("core", "limitrange"), moved.1, moved.0);
    commits.push(commit(&dir, "core's LimitRange back"));

    let rules = |json: &Value| unfixed(json, "message", |rule| rule.starts_with("SOC-NS-"));
    let mut seen = Vec::new();
    for c in &commits {
        let (_, alone, stderr) = check(&dir, &["--commit", c]);
        let (_, range, stderr_range) = check(&dir, &["--range", &format!("{base}..{c}")]);
        assert_eq!(
            rules(&range),
            rules(&alone),
            "{c}\n{stderr}\n{stderr_range}"
        );
        seen.push(rules(&alone));
    }
    let no_limits = (
        "SOC-NS-003".to_owned(),
        "namespace \"data-platform-core\" has no LimitRange".to_owned(),
    );
    let no_level = (
        "SOC-NS-004".to_owned(),
        "namespace \"data-platform-storage\" has no pod-security.kubernetes.io/enforce label"
            .to_owned(),
    );
    assert_eq!(seen[0], vec![no_limits.clone()]);
    assert_eq!(seen[1], vec![no_limits.clone()]);
    assert_eq!(seen[2], vec![no_limits, no_level.clone()]);
    assert_eq!(seen[3], vec![no_level]);
}

/// An Application's model is remembered by the files it read, a
/// generator's source among them: a line added to a Spark job (which
/// kustomize turns into a ConfigMap) that calls a Service nothing creates
/// is found at its commit in every environment, as a check of the commit
/// finds it.
#[test]
fn a_generators_source_edited_is_modelled_again() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    let job = dir.join("spark/base/jobs/ingest_landing.py");
    let mut text = fs_err::read_to_string(&job).unwrap();
    text.push_str("URL = \"http://nothing.data-platform-processing.svc.cluster.local:8080/x\"\n");
    fs_err::write(&job, text).unwrap();
    let head = commit(&dir, "A job that calls nothing");
    let rules = |json: &Value| -> Vec<String> {
        let mut list: Vec<String> = findings(json)
            .iter()
            .map(|f| format!("{} {}", f["rule"], f["file"]))
            .collect();
        list.sort();
        list
    };
    let (_, alone, _) = check(&dir, &["--commit", &head]);
    assert_eq!(
        rules(&alone),
        vec!["\"SOC-SYS-004\" \"spark/base/kustomization.yaml\"".to_owned(); 3]
    );
    let (_, range, stderr) = check(&dir, &["--range", &format!("{base}..HEAD")]);
    assert_eq!(rules(&range), rules(&alone), "{stderr}");
}

/// Commits that change only files holding no document (a README) reuse
/// what the previous commit's repository rules and system model found,
/// without reading every document again; a file the model reads whole (a
/// generator's source), a document that no longer parses and a file list
/// that changes are judged again. At every commit the range reports what
/// a check of that commit reports.
#[test]
fn commits_to_files_without_documents_agree_with_a_check_of_each_commit() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    let job = "spark/base/jobs/ingest_landing.py";
    let limits = "platform/base/namespaces/core/limitrange.yaml";
    let runbook = "runbooks/components/airflow.md";
    let (job_text, limits_text, runbook_text) = (
        fs_err::read_to_string(dir.join(job)).unwrap(),
        fs_err::read_to_string(dir.join(limits)).unwrap(),
        fs_err::read_to_string(dir.join(runbook)).unwrap(),
    );
    let mut commits = vec![readme_commit(&dir)];
    fs_err::write(
        dir.join(job),
        format!("{job_text}URL = \"http://nothing.data-platform-processing.svc.cluster.local:8080/x\"\n"),
    )
    .unwrap();
    commits.push(commit(&dir, "A job that calls nothing"));
    commits.push(readme_commit(&dir));
    edit(
        &dir,
        limits,
        "  namespace: data-platform-core\n",
        "  namespace: [data-platform-core\n",
    );
    commits.push(commit(&dir, "A LimitRange that does not parse"));
    commits.push(readme_commit(&dir));
    fs_err::remove_file(dir.join(runbook)).unwrap();
    commits.push(commit(&dir, "No runbook for Airflow"));
    commits.push(readme_commit(&dir));
    fs_err::write(dir.join(job), job_text).unwrap();
    fs_err::write(dir.join(limits), limits_text).unwrap();
    fs_err::write(dir.join(runbook), runbook_text).unwrap();
    commits.push(commit(&dir, "All back"));
    commits.push(readme_commit(&dir));

    let rules = |json: &Value| unfixed(json, "file", |_| true);
    let seen = agree_at_each_commit(&dir, &base, &commits, rules);
    let of = |list: &[(String, String)], rule: &str| list.iter().filter(|(r, _)| r == rule).count();
    assert_eq!(seen[0], vec![]);
    assert_eq!(of(&seen[1], "SOC-SYS-004"), 3, "{:?}", seen[1]);
    assert_eq!(seen[2], seen[1]);
    assert_eq!(of(&seen[3], "SOC-PARSE-001"), 1, "{:?}", seen[3]);
    assert_eq!(of(&seen[3], "SOC-NS-003"), 1, "{:?}", seen[3]);
    assert_eq!(seen[4], seen[3]);
    assert_eq!(of(&seen[5], "SOC-OBS-002"), 3, "{:?}", seen[5]);
    assert_eq!(seen[6], seen[5]);
    assert_eq!(seen[7], vec![]);
    assert_eq!(seen[8], vec![]);
}

/// The folders a repository's GitOps objects apply decide whether a file
/// that does not parse is denied or skipped. A range reuses them from the
/// previous commit while the files it changes hold no such object: an
/// Application moved onto a folder with an Ansible template denies it at
/// that commit and at the README commits after it, and no more once it
/// moves back, as a check of each commit says.
#[test]
fn the_folders_an_application_applies_are_followed_across_a_range() {
    let app = |path: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: https://git.example.org/ops.git\n    targetRevision: main\n    path: {path}\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: web\n"
        )
    };
    let files = [
        ("argocd/web.yaml", app("apps")),
        (
            "apps/settings.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: web\ndata:\n  mode: fast\n".to_owned(),
        ),
        (
            "ansible/users.yaml",
            "{% for user in users %}\n- name: {{ user }}\n{% endfor %}\n".to_owned(),
        ),
        ("README.md", "# Operations\n".to_owned()),
    ];
    let (_tmp, dir, base) = plain_repository(&files);
    let mut commits = vec![readme_commit(&dir)];
    fs_err::write(dir.join("argocd/web.yaml"), app("ansible")).unwrap();
    commits.push(commit(&dir, "Deploy the Ansible folder"));
    commits.push(readme_commit(&dir));
    fs_err::write(dir.join("argocd/web.yaml"), app("apps")).unwrap();
    commits.push(commit(&dir, "Back to apps"));
    commits.push(readme_commit(&dir));

    let unparsed = |json: &Value| unfixed(json, "file", |rule| rule == "SOC-PARSE-001");
    let seen = agree_at_each_commit(&dir, &base, &commits, unparsed);
    let denied = vec![("SOC-PARSE-001".to_owned(), "ansible/users.yaml".to_owned())];
    assert_eq!(seen, [vec![], denied.clone(), denied, vec![], vec![]]);
}

/// A repository socle did not make, committed with `files`: the temporary
/// directory (kept alive by the caller), the repository and its commit.
/// An Application of the default project deploying `apps` to namespace
/// `web`.
const WEB_APP: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: https://git.example.org/ops.git\n    targetRevision: main\n    path: apps\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: web\n";

/// The Kyverno CLI test of [`policy_library`].
const KYVERNO_TEST: &str = "lib/p/.kyverno-test/kyverno-test.yaml";

/// A Kyverno CLI test feeding the library's policy `resources` (paths
/// from the test's folder).
fn kyverno_test(resources: &str) -> String {
    format!("apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\nmetadata:\n  name: t\npolicies: [../policy.yaml]\nresources: [{resources}]\n")
}

/// A policy library: a Kyverno policy, its test in its own folder fed
/// `resources`, the fixture `name` (under `lib/p/fixtures/`) holding
/// `fixture`, and a README for commits that change nothing judged.
fn policy_library(
    name: &str,
    fixture: &str,
    resources: &str,
) -> (tempfile::TempDir, std::path::PathBuf, String) {
    plain_repository(&[
        ("lib/p/policy.yaml", "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: p\nspec:\n  rules: []\n".to_owned()),
        (KYVERNO_TEST, kyverno_test(resources)),
        (&format!("lib/p/fixtures/{name}"), fixture.to_owned()),
        ("README.md", "# Policies\n".to_owned()),
    ])
}

fn plain_repository(files: &[(&str, String)]) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("r");
    fs_err::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.email", "ci@example.invalid"]);
    git(&dir, &["config", "user.name", "CI"]);
    for (path, text) in files {
        let path = dir.join(path);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }
    let base = commit(&dir, "Operations");
    (tmp, dir, base)
}

/// A repository with no Application has no system to model, which a
/// range skips; one written into a file mid-range is modelled at its
/// commit (a Service its Deployment calls that nothing creates), and no
/// more once taken out.
#[test]
fn an_application_added_to_a_repository_without_one_is_modelled_at_its_commit() {
    let web = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27.0\n          env:\n            - name: API\n              value: http://api.web.svc.cluster.local:8080\n";
    let app = WEB_APP;
    // The Application comes and goes in a file that stays: the file list
    // does not change, only what the file holds.
    let later = "# ArgoCD's Application, once the cluster runs ArgoCD.\n";
    let (_tmp, dir, base) = plain_repository(&[
        ("apps/web.yaml", web.to_owned()),
        ("argocd/web.yaml", later.to_owned()),
        ("README.md", "# Operations\n".to_owned()),
    ]);
    let mut commits = vec![readme_commit(&dir)];
    fs_err::write(dir.join("argocd/web.yaml"), app).unwrap();
    commits.push(commit(&dir, "Deploy apps with ArgoCD"));
    commits.push(readme_commit(&dir));
    fs_err::write(dir.join("argocd/web.yaml"), later).unwrap();
    commits.push(commit(&dir, "No ArgoCD"));
    commits.push(readme_commit(&dir));

    let system = |json: &Value| unfixed(json, "file", |rule| rule.starts_with("SOC-SYS-"));
    let seen = agree_at_each_commit(&dir, &base, &commits, system);
    let unserved = ("SOC-SYS-004".to_owned(), "apps/web.yaml".to_owned());
    assert!(seen[1].contains(&unserved), "{:?}", seen[1]);
    assert_eq!(seen[2], seen[1]);
    assert_eq!(seen[0], vec![]);
    assert_eq!(seen[3], vec![]);
    assert_eq!(seen[4], vec![]);
}

/// A commit that changes the README alone: a file holding no document.
fn readme_commit(dir: &Path) -> String {
    let path = dir.join("README.md");
    let text = fs_err::read_to_string(&path).unwrap();
    fs_err::write(&path, format!("{text}\nOne more line.\n")).unwrap();
    commit(dir, "A line in the README")
}

/// `git mktree` in `dir` on `entries` (mode, type, id, name).
fn mktree(dir: &Path, entries: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .arg("mktree")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(entries.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A tree may name one folder many times, and each of those folders the
/// next: six levels of ten names list a million files from a few
/// kilobytes of trees. Listing them would take the machine's memory; the
/// check stops at its bound and says which.
#[test]
fn a_tree_that_lists_too_many_files_is_refused_with_its_bound() {
    let (_tmp, dir, _) = plain_repository(&[("README.md", "# Operations\n".to_owned())]);
    let blob = git(&dir, &["rev-parse", "HEAD:README.md"]);
    let mut tree = mktree(&dir, &format!("100644 blob {blob}\tREADME.md\n"));
    for _ in 0..6 {
        let entries: String = (0..10)
            .map(|i| format!("040000 tree {tree}\td{i}\n"))
            .collect();
        tree = mktree(&dir, &entries);
    }
    let bomb = git(&dir, &["commit-tree", &tree, "-m", "A million files"]);
    let (code, _, stderr) = check(&dir, &["--commit", &bomb]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("more than 500000 files"), "{stderr}");
}

/// What a cloud's workload identity reads of the values (an account's
/// client ID, its pods' label) is part of what a range remembers of them:
/// a commit that drops either, or puts it back, is judged at its commit.
#[test]
fn a_values_edit_to_an_identitys_label_or_client_id_is_judged_at_its_commit() {
    let (_tmp, dir) = repository_with_spec(&crate::platform_aks::spec());
    let base = git(&dir, &["rev-parse", "HEAD"]);
    let label = "    azure.workload.identity/use: \"true\"";
    let unlabelled = "    azure.workload.identity/use: \"false\"";
    let values = "components/loki/values-prod.yaml";
    let mut commits = Vec::new();
    edit(&dir, values, label, unlabelled);
    commits.push(commit(&dir, "Loki's pods unlabelled"));
    let client = format!("client-id: \"{}\"", crate::platform_aks::AIRFLOW_ID);
    edit(
        &dir,
        "components/airflow/values-prod.yaml",
        &client,
        "client-id: \"\"",
    );
    commits.push(commit(
        &dir,
        "The API server's account without its client ID",
    ));
    edit(&dir, values, unlabelled, label);
    commits.push(commit(&dir, "Loki's pods labelled again"));
    let seen = agree_at_each_commit(&dir, &base, &commits, |json| {
        unfixed(json, "message", |rule| {
            rule == "SOC-SYS-030" || rule == "SOC-SYS-031"
        })
    });
    let counts: Vec<usize> = seen.iter().map(Vec::len).collect();
    assert_eq!(counts, [1, 2, 1], "{seen:#?}");
}

/// A small deterministic generator (xorshift64): the edits below are the
/// same on every run.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// One edit of a line that says something (`key: value`, `key = value`),
/// preferring the lines the system model reads (accounts, labels, hosts,
/// ports, buckets, names): a flag flipped, a number raised, a value
/// lengthened, or the line removed. None when the file has no such line.
fn edit_a_line(text: &str, draw: &mut Draw) -> Option<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let says = |l: &str| {
        let t = l.trim_start();
        !t.starts_with('#') && (t.contains(": ") || t.contains(" = ")) && !t.ends_with(':')
    };
    let read = [
        "azure",
        "account",
        "label",
        "annotation",
        "client",
        "host",
        "port",
        "bucket",
        "secret",
        "name",
        "region",
        "endpoint",
    ];
    let candidates: Vec<usize> = (0..lines.len()).filter(|i| says(&lines[*i])).collect();
    let hot: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|i| {
            let context = format!(
                "{} {}",
                lines[i.saturating_sub(1)].to_ascii_lowercase(),
                lines[*i].to_ascii_lowercase()
            );
            read.iter().any(|w| context.contains(w))
        })
        .collect();
    let pool = if !hot.is_empty() && draw.below(5) < 4 {
        &hot
    } else {
        &candidates
    };
    let i = *pool.get(draw.below(pool.len()))?;
    let line = lines[i].clone();
    match draw.below(4) {
        0 if line.contains("true") => lines[i] = line.replacen("true", "false", 1),
        0 if line.contains("false") => lines[i] = line.replacen("false", "true", 1),
        1 if line.trim_end().ends_with(|c: char| c.is_ascii_digit()) => {
            lines[i] = format!("{}1", line.trim_end());
        }
        2 => {
            lines.remove(i);
        }
        _ => {
            let end = line.trim_end().trim_end_matches('"').len();
            lines[i] = format!("{}x{}", &line[..end], &line[end..]);
        }
    }
    Some(lines.join("\n") + "\n")
}

/// Edits of what the system model reads, on a repository whose prod runs
/// on AKS (its Terraform, managed identities, containers): one per commit,
/// in files chosen by a fixed draw. At every commit the range reports what
/// a check of that commit reports, whatever part of the range's memory
/// (values read in part, environments and Applications kept) the edit
/// falls in.
#[test]
fn drawn_edits_of_what_the_model_reads_agree_with_a_check_of_each_commit() {
    let (_tmp, dir) = repository_with_spec(&crate::platform_aks::spec());
    let base = git(&dir, &["rev-parse", "HEAD"]);
    let files: Vec<String> = git(
        &dir,
        &[
            "ls-files",
            "components/*/values-prod.yaml",
            "components/*/manifests/prod/*.yaml",
            "terraform/prod/*.tf",
        ],
    )
    .lines()
    .map(str::to_owned)
    .collect();
    assert!(files.len() > 40, "{files:?}");
    // This draw's fourteen edits include External Secrets' client ID and
    // the label of Loki's pods, which the range remembers of values files
    // read in part, beside realms, Terraform, jobs and policies.
    let mut draw = Draw(0x5eed_0000_0000_001e);
    let mut commits = Vec::new();
    while commits.len() < 14 {
        let file = &files[draw.below(files.len())];
        let path = dir.join(file);
        let text = fs_err::read_to_string(&path).unwrap();
        let Some(edited) = edit_a_line(&text, &mut draw) else {
            continue;
        };
        if edited == text {
            continue;
        }
        fs_err::write(&path, edited).unwrap();
        commits.push(commit(&dir, &format!("Edit {file}")));
    }
    let seen = agree_at_each_commit(&dir, &base, &commits, |json| {
        unfixed(json, "message", |_| true)
    });
    // The draw reaches findings: the test would see a range that misses
    // one.
    assert!(seen.iter().any(|f| !f.is_empty()), "{seen:#?}");
}

/// A kustomization is read by the Applications that build it: a commit
/// that moves its objects to another namespace models them there, at its
/// commit, rather than keeping the Application's model of the version
/// before.
#[test]
fn a_kustomization_edited_is_modelled_again_at_its_commit() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    edit(
        &dir,
        "backup/overlays/prod/kustomization.yaml",
        "namespace: data-platform-storage\n",
        "namespace: data-platform-storage-moved\n",
    );
    let commits = vec![commit(&dir, "Move prod's backups' objects")];
    let seen = agree_at_each_commit(&dir, &base, &commits, |json| {
        unfixed(json, "file", |rule| rule.starts_with("SOC-SYS-"))
    });
    assert!(
        seen[0]
            .iter()
            .any(|(rule, file)| rule == "SOC-SYS-001" && file.starts_with("backup/overlays/prod/")),
        "{seen:#?}"
    );
}

/// An environment bootstrapped after another on the same cluster finds
/// that one's cluster-wide objects in place (`socle-check.yaml`,
/// `environments`). A range leaves unassembled an environment none of
/// whose files changed, but not one that a changed environment inherits
/// from: here staging's Widget needs the CRD only dev creates, and commits
/// that change staging alone, then dev's CRD, agree with a check of each.
#[test]
fn an_environment_inherits_from_an_unchanged_one_across_a_range() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    edit(
        &dir,
        "socle-check.yaml",
        "environments: {}",
        "environments:\n  staging: { after: [dev] }",
    );
    fs_err::write(
        dir.join("components/keycloak/manifests/dev/widget-crd.yaml"),
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names: { kind: Widget, plural: widgets, singular: widget, listKind: WidgetList }\n  scope: Namespaced\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true }\n",
    )
    .unwrap();
    let widget = "components/keycloak/manifests/staging/widget.yaml";
    fs_err::write(
        dir.join(widget),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: gear\n  namespace: data-platform-core\nspec:\n  size: 1\n",
    )
    .unwrap();
    let mut commits = vec![commit(&dir, "staging after dev: a Widget, dev's CRD")];
    edit(&dir, widget, "size: 1", "size: 2");
    commits.push(commit(&dir, "staging alone"));
    edit(
        &dir,
        "components/keycloak/manifests/dev/widget-crd.yaml",
        "kind: Widget, plural: widgets",
        "kind: Gadget, plural: gadgets",
    );
    commits.push(commit(&dir, "dev's CRD defines another kind"));
    let places = |json: &Value| unfixed(json, "message", |r| r.starts_with("SOC-SYS"));
    let seen = agree_at_each_commit(&dir, &base, &commits, places);
    let widget_missing = |found: &Vec<(String, String)>| {
        found
            .iter()
            .any(|(rule, msg)| rule == "SOC-SYS-003" && msg.contains("example.com/Widget"))
    };
    assert!(!widget_missing(&seen[0]), "{:?}", seen[0]);
    assert!(!widget_missing(&seen[1]), "{:?}", seen[1]);
    assert!(widget_missing(&seen[2]), "{:?}", seen[2]);
}

/// A fixture becomes a test input when a harness names it, and is judged
/// again when the harness no longer does: a range follows, commit by
/// commit, what a check of each commit says.
#[test]
fn a_fixture_a_harness_names_mid_range_is_skipped_from_its_commit() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n    - name: app\n      image: busybox:latest\n";
    // Outside the test's folder: judged unless the test names it.
    let (_tmp, dir, base) = policy_library("bad.yaml", pod, "");
    let mut commits = vec![readme_commit(&dir)];
    fs_err::write(dir.join(KYVERNO_TEST), kyverno_test("../fixtures/bad.yaml")).unwrap();
    commits.push(commit(&dir, "Test the policy on bad.yaml"));
    commits.push(readme_commit(&dir));
    fs_err::write(dir.join(KYVERNO_TEST), kyverno_test("")).unwrap();
    commits.push(commit(&dir, "No test input"));

    let files = |json: &Value| {
        let mut judged: Vec<String> = unfixed(json, "file", |_| true)
            .into_iter()
            .map(|(_, file)| file)
            .collect();
        judged.dedup();
        judged
    };
    let seen = agree_at_each_commit(&dir, &base, &commits, files);
    let judged = vec!["lib/p/fixtures/bad.yaml".to_owned()];
    assert_eq!(seen, [judged.clone(), vec![], vec![], judged]);
}

/// A commit that adds a line to a file's first document moves the later
/// ones without changing what the system rules judge: a range carries the
/// environment's judgement over, each finding and each `file:line` of its
/// messages moved with its document, as a check of that commit places
/// them.
#[test]
fn findings_of_documents_a_commit_moved_are_placed_where_a_check_puts_them() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    let project = "argocd/dev/project.yaml";
    let secrets = "components/nifi/manifests/dev/externalsecrets.yaml";
    let label = (
        "    socle.dev/environment: dev\n",
        "    socle.dev/environment: dev\n    note: moved\n",
    );
    let mut commits = Vec::new();
    // The foundation's project (the file's second document) no longer
    // lists this repository, and NiFi's second ExternalSecret leaves the
    // project's namespaces: findings in the second documents, and
    // messages naming the project's place.
    edit(
        &dir,
        project,
        "    - https://git.acme.example/platform/acme-data-platform.git\n  destinations:",
        "    - https://git.acme.example/platform/elsewhere.git\n  destinations:",
    );
    edit(
        &dir,
        secrets,
        "  name: nifi-s3\n  namespace: data-platform-integration\n",
        "  name: nifi-s3\n  namespace: data-platform-elsewhere\n",
    );
    commits.push(commit(&dir, "dev: two findings in second documents"));
    edit(&dir, project, label.0, label.1);
    commits.push(commit(&dir, "dev: a label on the first project"));
    edit(&dir, secrets, "  labels:\n", "  labels:\n    note: moved\n");
    commits.push(commit(&dir, "dev: a label on NiFi's first ExternalSecret"));

    let places = |json: &Value| {
        let mut list: Vec<(String, String, u64, String)> = findings(json)
            .iter()
            .filter(|f| f["fixed_in"].is_null())
            .filter(|f| {
                f["rule"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("SOC-SYS-")
            })
            .map(|f| {
                (
                    f["rule"].as_str().unwrap_or_default().to_owned(),
                    f["file"].as_str().unwrap_or_default().to_owned(),
                    f["line"].as_u64().unwrap_or_default(),
                    f["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        list.sort();
        list
    };
    let seen = agree_at_each_commit(&dir, &base, &commits, places);
    let naming = |s: &[(String, String, u64, String)], file: &str| -> Vec<String> {
        s.iter()
            .filter(|f| f.3.contains(file))
            .map(|f| f.3.clone())
            .collect()
    };
    let at = |s: &[(String, String, u64, String)], file: &str| -> Vec<u64> {
        s.iter().filter(|f| f.1 == file).map(|f| f.2).collect()
    };
    // Both edits found, and each later commit moved what it must.
    assert!(!naming(&seen[0], project).is_empty(), "{seen:?}");
    assert!(!at(&seen[0], secrets).is_empty(), "{seen:?}");
    assert_ne!(naming(&seen[1], project), naming(&seen[0], project));
    assert_eq!(at(&seen[1], secrets), at(&seen[0], secrets));
    assert_eq!(naming(&seen[2], project), naming(&seen[1], project));
    let moved: Vec<u64> = at(&seen[1], secrets).iter().map(|l| l + 1).collect();
    assert_eq!(at(&seen[2], secrets), moved, "{seen:?}");
}

/// What the repository rules judge follows the harnesses too: an
/// Application a test feeds its policy is not judged while the test names
/// it, and is from the commit that stops naming it, though that commit
/// changes only the test.
#[test]
fn a_commit_to_a_harness_alone_judges_the_repository_again() {
    let (_tmp, dir, base) = policy_library("app.yaml", WEB_APP, "../fixtures/app.yaml");
    let mut commits = vec![readme_commit(&dir)];
    fs_err::write(dir.join(KYVERNO_TEST), kyverno_test("")).unwrap();
    commits.push(commit(&dir, "No test input"));
    commits.push(readme_commit(&dir));
    fs_err::write(dir.join(KYVERNO_TEST), kyverno_test("../fixtures/app.yaml")).unwrap();
    commits.push(commit(&dir, "The Application is a test input again"));

    let rules = |json: &Value| unfixed(json, "file", |rule| rule.starts_with("SOC-ARGO-"));
    let seen = agree_at_each_commit(&dir, &base, &commits, rules);
    let judged = vec![(
        "SOC-ARGO-001".to_owned(),
        "lib/p/fixtures/app.yaml".to_owned(),
    )];
    assert_eq!(seen, [vec![], judged.clone(), judged, vec![]]);
}

/// A range builds each kustomization root once and keeps the build while
/// what it read is unchanged: an overlay's `images:` edited, the base's
/// image edited, and a new overlay are each judged at their commit, as a
/// check of that commit judges them.
#[test]
fn kustomization_builds_kept_across_a_range_agree_with_a_check_of_each_commit() {
    let deploy = |image: &str| {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  selector:\n    matchLabels: {{app: app}}\n  template:\n    metadata:\n      labels: {{app: app}}\n    spec:\n      containers:\n        - name: app\n          image: {image}\n")
    };
    let overlay = |images: &str| {
        format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../../base]\nimages:\n  - {images}\n")
    };
    let (_tmp, dir, base) = plain_repository(&[
        (
            "base/kustomization.yaml",
            "resources: [deploy.yaml]\n".to_owned(),
        ),
        ("base/deploy.yaml", deploy("app")),
        (
            "overlays/prod/kustomization.yaml",
            overlay("{name: app, newTag: \"1.2.3\"}"),
        ),
        ("README.md", "# Apps\n".to_owned()),
    ]);
    let mut commits = vec![readme_commit(&dir)];
    fs_err::write(
        dir.join("overlays/prod/kustomization.yaml"),
        overlay("{name: app, newName: registry.example/app}"),
    )
    .unwrap();
    commits.push(commit(&dir, "prod: the image renamed, no tag"));
    commits.push(readme_commit(&dir));
    fs_err::create_dir_all(dir.join("overlays/dev")).unwrap();
    fs_err::write(
        dir.join("overlays/dev/kustomization.yaml"),
        overlay("{name: app, newTag: latest}"),
    )
    .unwrap();
    commits.push(commit(&dir, "dev: an overlay that floats the image"));
    fs_err::write(dir.join("base/deploy.yaml"), deploy("app:2.0.0")).unwrap();
    commits.push(commit(&dir, "The base pins its image, which dev floats"));
    // A resource listed before it exists: the commit that adds it changes
    // no file the builds read, only the tree's list of files.
    fs_err::write(
        dir.join("base/kustomization.yaml"),
        "resources: [deploy.yaml, extra.yaml]\n",
    )
    .unwrap();
    fs_err::write(
        dir.join("overlays/prod/kustomization.yaml"),
        "resources: [../../base]\nimages:\n  - {name: app, newName: registry.example/app}\n  - {name: other, newTag: \"1.0.0\"}\n",
    )
    .unwrap();
    commits.push(commit(
        &dir,
        "The base lists a resource to come; prod pins it",
    ));
    fs_err::write(
        dir.join("base/extra.yaml"),
        deploy("other").replace("name: app\n", "name: other\n"),
    )
    .unwrap();
    commits.push(commit(&dir, "The resource comes"));

    let rules = |json: &Value| unfixed(json, "message", |rule| rule == "SOC-K8S-002");
    let seen = agree_at_each_commit(&dir, &base, &commits, rules);
    let said = |at: usize| -> Vec<&str> { seen[at].iter().map(|(_, m)| m.as_str()).collect() };
    assert!(seen[0].is_empty(), "{seen:?}");
    for at in 1..=3 {
        assert_eq!(seen[at].len(), 1, "{seen:?}");
    }
    assert_eq!(seen[4].len(), 1, "{seen:?}");
    assert!(said(4)[0].contains("is pinned here"), "{seen:?}");
    assert!(
        said(6)
            .iter()
            .any(|m| m.contains("\"other\"") && m.contains("leaves it unpinned in overlays/dev")),
        "{seen:?}"
    );
}
