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

/// Every pack under `root`, with its entries.
fn packs(root: &Path) -> Vec<(std::path::PathBuf, serde_json::Map<String, Value>)> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
        .map(|e| {
            let pack = serde_json::from_slice(&fs_err::read(e.path()).unwrap()).unwrap();
            (e.into_path(), pack)
        })
        .collect()
}

/// Every entry of every pack under `root` emptied ("no findings"), its MAC
/// kept: what a forger who cannot read the cache's key can write.
fn empty_entries(root: &Path) -> usize {
    let mut emptied = 0;
    for (path, mut pack) in packs(root) {
        for entry in pack.values_mut() {
            entry["findings"] = Value::from("[]");
            emptied += 1;
        }
        fs_err::write(&path, serde_json::to_vec(&pack).unwrap()).unwrap();
    }
    emptied
}

#[test]
fn a_cache_committed_or_tampered_with_never_hides_a_secret() {
    let (tmp, dir) = repository();
    let base = git(&dir, &["rev-parse", "HEAD"]);
    fs_err::write(dir.join(LEAK), SECRET).unwrap();

    // Genuine entries for the tree with the Secret, written outside it...
    let honest = tmp.path().join("honest");
    let (code, json, stderr) = check(&dir, &[&format!("--cache={}", honest.display())], &[]);
    assert_eq!(code, 1, "{json}\n{stderr}");
    assert!(!packs(&honest).is_empty());
    // ...committed as the repository's `.socle/cache` (the old default),
    // emptied, beside a pack in the format of before entries were signed
    // that clears the Secret's (path, blob id).
    let forged = dir.join(".socle/cache");
    for (path, _) in packs(&honest) {
        let to = forged.join(path.strip_prefix(&honest).unwrap());
        fs_err::create_dir_all(to.parent().unwrap()).unwrap();
        fs_err::copy(&path, &to).unwrap();
    }
    assert!(empty_entries(&forged) > 300);
    let blob = git(&dir, &["hash-object", LEAK]);
    let bundle = fs_err::read_dir(&forged)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    fs_err::write(
        bundle.join("legacy.pack"),
        serde_json::json!({ format!("{LEAK}\n{blob}"): [] }).to_string(),
    )
    .unwrap();
    commit(&dir, "Add the database password and a cache that clears it");

    let xdg = tmp.path().join("xdg");
    let env = [("XDG_CACHE_HOME", xdg.as_path())];
    let range = format!("{base}..HEAD");
    for args in [vec!["--cache"], vec!["--range", &range, "--cache"]] {
        // Twice: cold, then warm from the user cache directory.
        for run in ["cold", "warm"] {
            let (code, json, stderr) = check(&dir, &args, &env);
            assert_eq!(code, 1, "{args:?} {run}: {json}\n{stderr}");
            let list = findings(&json);
            assert!(
                active_on(&list, "SOC-SEC-001", LEAK).is_some(),
                "{args:?} {run}: {list:?}"
            );
        }
    }
    assert!(!packs(&xdg).is_empty(), "the default cache is the user's");

    // Pointing --cache at the committed one is refused.
    let (code, _, stderr) = check(&dir, &[&format!("--cache={}", forged.display())], &env);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("inside the repository"), "{stderr}");

    // Entries of the user's cache emptied in place are evaluated again.
    assert!(empty_entries(&xdg) > 300);
    for args in [vec!["--cache"], vec!["--range", &range, "--cache"]] {
        let (code, json, stderr) = check(&dir, &args, &env);
        assert_eq!(code, 1, "{args:?}: {json}\n{stderr}");
        assert!(
            active_on(&findings(&json), "SOC-SEC-001", LEAK).is_some(),
            "{args:?}: {json}"
        );
    }
}

const OVERLAY: &str = "components/zeppelin/overlays/prod";
const REMOTE: &str = "github.com/someone/bases//zeppelin?ref=v1";

/// A `kustomize` that records the overlays it is asked to build and builds
/// nothing, first on PATH: the log of its calls.
fn fake_kustomize(tmp: &Path) -> (std::ffi::OsString, std::path::PathBuf) {
    let bin = tmp.join("bin");
    fs_err::create_dir_all(&bin).unwrap();
    let log = tmp.join("kustomize.log");
    let script = bin.join("kustomize");
    fs_err::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", log.display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    (path, log)
}

#[cfg(unix)]
#[test]
fn render_does_not_fetch_a_remote_base_the_repository_does_not_allow() {
    let (tmp, dir) = repository();
    let base_commit = git(&dir, &["rev-parse", "HEAD"]);
    let (path, log) = fake_kustomize(tmp.path());
    let built = || fs_err::read_to_string(&log).unwrap_or_default();
    let kustomization = format!("{OVERLAY}/kustomization.yaml");
    edit(
        &dir,
        &kustomization,
        "  - ../../base\n",
        &format!("  - ../../base\n  - {REMOTE}\n"),
    );
    let env = [("PATH", Path::new(&path))];

    let (code, json, stderr) = check(&dir, &["--render"], &env);
    assert_eq!(code, 1, "{json}\n{stderr}");
    let list = findings(&json);
    let refused = with_rule(&list, "SOC-RENDER-001");
    assert_eq!(refused.len(), 1, "{list:?}");
    assert_eq!(refused[0]["file"], kustomization.as_str());
    assert_eq!(refused[0]["severity"], "deny");
    let line = fs_err::read_to_string(dir.join(&kustomization))
        .unwrap()
        .lines()
        .position(|l| l.contains(REMOTE))
        .unwrap()
        + 1;
    assert_eq!(refused[0]["line"], line as u64);
    let message = refused[0]["message"].as_str().unwrap();
    assert!(message.contains(REMOTE), "{message}");
    assert!(message.contains("socle-check.yaml"), "{message}");
    // The other overlays were built; this one never reached kustomize.
    assert!(built().contains("zeppelin/overlays/dev"), "{}", built());
    assert!(!built().contains(OVERLAY), "{}", built());

    // The same base reached through a local one: every overlay above it is
    // refused, naming the base's kustomization.
    fs_err::remove_file(&log).unwrap();
    edit(&dir, &kustomization, &format!("  - {REMOTE}\n"), "");
    let base = "components/zeppelin/base/kustomization.yaml";
    let url = "https://example.com/bases/zeppelin.yaml";
    edit(
        &dir,
        base,
        "  - service.yaml\n",
        &format!("  - service.yaml\n  - {url}\n"),
    );
    let (code, json, stderr) = check(&dir, &["--render"], &env);
    assert_eq!(code, 1, "{json}\n{stderr}");
    let list = findings(&json);
    let refused = with_rule(&list, "SOC-RENDER-001");
    assert_eq!(refused.len(), 3, "dev, staging, prod: {list:?}");
    assert!(refused.iter().all(|f| f["file"] == base), "{refused:?}");
    assert!(!built().contains("zeppelin/overlays"), "{}", built());

    // Named by the repository's allow-list, they are built.
    fs_err::remove_file(&log).unwrap();
    let config = dir.join("socle-check.yaml");
    let text = fs_err::read_to_string(&config).unwrap();
    fs_err::write(
        &config,
        format!("{text}\nrender:\n  allowed_remote_bases:\n    - https://example.com/bases/\n"),
    )
    .unwrap();
    let (code, json, stderr) = check(&dir, &["--render"], &env);
    assert!(
        findings(&json)
            .iter()
            .all(|f| f["rule"] != "SOC-RENDER-001"),
        "{code} {json}\n{stderr}"
    );
    assert!(built().contains(OVERLAY), "{}", built());
    assert_eq!(code, 0, "{json}\n{stderr}");

    // An allow-list that does not read stops the check (exit 2) at its line,
    // before anything is built.
    fs_err::write(
        &config,
        format!("{text}\nrender:\n  allowed_remote_bases: https://example.com/\n"),
    )
    .unwrap();
    let line = text.lines().count() + 3;
    fs_err::remove_file(&log).unwrap();
    let (code, _, stderr) = check(&dir, &["--render"], &env);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("socle-check.yaml:{line}:")),
        "{stderr}"
    );
    assert!(!log.exists(), "nothing is built");

    // A pull request that widens the allow-list is a change for review in
    // the range check, as a policy change is.
    fs_err::write(
        &config,
        format!("{text}\nrender:\n  allowed_remote_bases:\n    - https://example.com/bases/\n"),
    )
    .unwrap();
    commit(&dir, "Allow a remote base");
    let range = format!("{base_commit}..HEAD");
    for (args, severity) in [
        (vec!["--range", &range], "warn"),
        (vec!["--range", &range, "--protect-policies"], "deny"),
    ] {
        let (_, json, stderr) = check(&dir, &args, &[]);
        let list = findings(&json);
        assert!(
            list.iter().any(|f| f["rule"] == "SOC-RANGE-001"
                && f["file"] == "socle-check.yaml"
                && f["severity"] == severity),
            "{args:?}: {list:?}\n{stderr}"
        );
    }
}

/// The findings of one rule.
fn with_rule<'a>(list: &'a [Value], rule: &str) -> Vec<&'a Value> {
    list.iter().filter(|f| f["rule"] == rule).collect()
}
