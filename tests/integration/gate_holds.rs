//! A credential must never pass the gate: `socle check` and `socle check
//! --range` against what a pull request controls (its files, a committed
//! cache, a credential it adds and then removes, a remote base it asks
//! `--render` to fetch).

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use crate::range::{commit, edit, findings, repository, FLOAT, STS};
use crate::support::git;

const LEAK: &str = "platform/leak.yaml";
const SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n";

/// `socle check DIR ARGS --format json` with the environment `env`:
/// the exit code, the report and stderr.
fn check(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> (i32, Value, String) {
    let mut cmd = Command::cargo_bin("socle").unwrap();
    cmd.arg("check")
        .arg(dir)
        .args(args)
        .args(["--format", "json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

fn active_on<'a>(list: &'a [Value], rule: &str, file: &str) -> Option<&'a Value> {
    list.iter().find(|f| {
        f["rule"] == rule
            && f["file"] == file
            && f["severity"] == "deny"
            && f.get("fixed_in").is_none()
            && f.get("pre_existing").is_none()
    })
}

#[test]
fn a_credential_removed_later_in_the_range_still_fails_it() {
    let (_tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    fs_err::write(dir.join(LEAK), SECRET).unwrap();
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    commit(&dir, "Add the database password and float Zeppelin");
    fs_err::remove_file(dir.join(LEAK)).unwrap();
    edit(&dir, STS, FLOAT.1, FLOAT.0);
    commit(&dir, "Remove them again");
    let added = git(&dir, &["rev-parse", "--short=10", "HEAD~1"]);

    let (code, json, stderr) = check(&dir, &["--range", &format!("{base}..HEAD")], &[]);
    assert_eq!(code, 1, "{json}\n{stderr}");
    let list = findings(&json);
    let leak = active_on(&list, "SOC-SEC-001", LEAK).unwrap_or_else(|| panic!("{list:?}"));
    let message = leak["message"].as_str().unwrap();
    assert!(message.contains("stays in the history"), "{message}");
    assert!(message.contains("Remove them again"), "{message}");
    assert!(message.contains(&added), "{message}");
    // Any other finding fixed within the range is still only reported.
    let floated = list
        .iter()
        .find(|f| f["rule"] == "SOC-K8S-002")
        .unwrap_or_else(|| panic!("{list:?}"));
    assert!(
        floated["fixed_in"]
            .as_str()
            .is_some_and(|c| c.contains("Remove them again")),
        "{floated}"
    );
    assert_eq!(
        list.iter()
            .filter(|f| f["severity"] == "deny" && f.get("fixed_in").is_none())
            .count(),
        1,
        "{list:?}"
    );

    // Without the credential, the same history passes.
    git(&dir, &["checkout", "-q", "-b", "clean", &base]);
    edit(&dir, STS, FLOAT.0, FLOAT.1);
    commit(&dir, "Float Zeppelin");
    edit(&dir, STS, FLOAT.1, FLOAT.0);
    commit(&dir, "Pin it again");
    let (code, json, stderr) = check(&dir, &["--range", &format!("{base}..clean")], &[]);
    assert_eq!(code, 0, "{json}\n{stderr}");
}
