//! `socle diff`, `socle update` and `socle why` on real repositories: made by
//! `socle new`, edited by hand with git, then updated to another spec.

use std::path::Path;

use crate::support::{git, new_repo, render_text};

const SPEC_A: &str = socle::spec::EXAMPLE;

/// Spec B: the same client with Airbyte added beside NiFi and a domain renamed.
fn spec_b() -> String {
    let b = SPEC_A
        .replace("ingestion: nifi ", "ingestion: both ")
        .replace("name: supply-chain", "name: logistics");
    assert_ne!(b, SPEC_A);
    assert!(b.contains("ingestion: both") && b.contains("name: logistics"));
    b
}

fn socle(dir: &Path, args: &[&str]) -> (i32, String, String) {
    crate::support::socle_in(dir, args)
}

fn read(dir: &Path, path: &str) -> String {
    fs_err::read_to_string(dir.join(path)).unwrap()
}

fn replace(dir: &Path, path: &str, old: &str, new: &str) {
    let text = read(dir, path);
    assert!(text.contains(old), "{old:?} not in {path}");
    fs_err::write(dir.join(path), text.replacen(old, new, 1)).unwrap();
}

#[test]
fn an_update_keeps_the_team_edits_and_lands_the_new_spec() {
    let (tmp, dir) = new_repo();
    let (a, b) = (render_text(SPEC_A), render_text(&spec_b()));

    // The team's edits: a values tweak, a file of their own, a deleted
    // runbook page (one that spec B renders identically), a retitled README.
    replace(
        &dir,
        "components/trino/values-prod.yaml",
        "targetCPUUtilizationPercentage: 70",
        "targetCPUUtilizationPercentage: 60",
    );
    fs_err::create_dir_all(dir.join("notes")).unwrap();
    fs_err::write(dir.join("notes/team.md"), "# Team notes\n").unwrap();
    let deleted = a
        .keys()
        .find(|p| p.starts_with("runbooks/") && b.get(*p) == a.get(*p))
        .expect("a runbook page that spec B leaves alone")
        .clone();
    fs_err::remove_file(dir.join(&deleted)).unwrap();
    let readme = read(&dir, "README.md");
    let title = readme.lines().next().unwrap().to_owned();
    replace(
        &dir,
        "README.md",
        &title,
        "# Acme data platform (team copy)",
    );
    // The same line as spec B's rename: the one conflict expected.
    replace(
        &dir,
        "components/minio/values.yaml",
        "- name: domain-supply-chain\n",
        "- name: domain-supply-chain-eu\n",
    );
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "Team edits"]);

    let spec = tmp.path().join("b.yaml");
    fs_err::write(&spec, spec_b()).unwrap();
    let spec = spec.to_str().unwrap();

    // The plan first: nothing written.
    let before = read(&dir, "socle.lock");
    let pristine_before = git(&dir, &["rev-parse", "refs/socle/pristine"]);
    let (code, out, err) = socle(&dir, &["update", "--dry-run", "--spec", spec]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("CONFLICT  components/minio/values.yaml"),
        "{out}"
    );
    assert_eq!(read(&dir, "socle.lock"), before);
    // The same plan for tools.
    let (code, json, err) = socle(
        &dir,
        &["update", "--dry-run", "--format", "json", "--spec", spec],
    );
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["action"] == "CONFLICT" && s["path"] == "components/minio/values.yaml"));
    assert_eq!(json["conflicts"], 1);
    assert_eq!(read(&dir, "socle.lock"), before);

    // Applied, as JSON: the written plan, the conflict, the check's counts.
    let (code, json, err) = socle(&dir, &["update", "--format", "json", "--spec", spec]);
    assert_eq!(code, 1, "a conflict is left to resolve: {err}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["dry_run"], false);
    assert_eq!(json["conflicts"], 1);
    assert!(json["pristine"].as_str().unwrap().len() >= 40);
    assert!(json["denials"].as_u64().unwrap() >= 1);
    // Back to the state before, to apply the same update as text.
    git(&dir, &["checkout", "-q", "--", "."]);
    git(&dir, &["clean", "-qfd"]);
    git(
        &dir,
        &["update-ref", "refs/socle/pristine", &pristine_before],
    );

    let (code, out, err) = socle(&dir, &["update", "--spec", spec]);
    assert_eq!(code, 1, "a conflict is left to resolve:\n{out}{err}");
    let conflicts: Vec<&str> = out.lines().filter(|l| l.starts_with("CONFLICT")).collect();
    assert_eq!(conflicts.len(), 1, "{out}");
    // The summary: policies compared with the last render, then the check
    // (the conflict markers make the MinIO values unreadable: a denial).
    assert!(
        out.contains("policies unchanged since the last render."),
        "{out}"
    );
    assert!(out.contains("socle check: 1 denial(s)"), "{out}");
    let minio = read(&dir, "components/minio/values.yaml");
    assert!(
        minio.contains("<<<<<<<")
            && minio.contains("domain-supply-chain-eu")
            && minio.contains("domain-logistics")
            && minio.contains(">>>>>>>"),
        "{minio}"
    );

    // The team's edits survive.
    assert!(read(&dir, "components/trino/values-prod.yaml")
        .contains("targetCPUUtilizationPercentage: 60"));
    assert_eq!(read(&dir, "notes/team.md"), "# Team notes\n");
    assert!(!dir.join(&deleted).exists(), "{deleted} stays deleted");
    let readme = read(&dir, "README.md");
    assert!(
        readme.starts_with("# Acme data platform (team copy)"),
        "{readme}"
    );
    // Spec B's changes land, merged into the edited README too.
    assert!(
        readme.contains("logistics") && !readme.contains("supply-chain"),
        "{readme}"
    );
    assert!(dir.join("argocd/dev/applications/airbyte.yaml").is_file());
    assert_eq!(read(&dir, "socle.yaml"), spec_b());
    for (path, bytes) in &b {
        if path.starts_with("argocd/") {
            assert_eq!(&fs_err::read(dir.join(path)).unwrap(), bytes, "{path}");
        }
    }
    assert_eq!(
        read(&dir, "socle.lock").as_bytes(),
        b["socle.lock"].as_slice()
    );
    let pristine = git(&dir, &["rev-parse", "refs/socle/pristine"]);
    assert_eq!(
        git(
            &dir,
            &["show", &format!("{pristine}:components/minio/values.yaml")]
        ),
        String::from_utf8_lossy(&b["components/minio/values.yaml"]).trim_end()
    );

    // Resolved as the team wants, the repository passes the policies and
    // has no drift left; the edits are reported as such.
    let resolved = String::from_utf8_lossy(&b["components/minio/values.yaml"]).replace(
        "- name: domain-logistics\n",
        "- name: domain-logistics-eu\n",
    );
    fs_err::write(dir.join("components/minio/values.yaml"), resolved).unwrap();
    let (code, out, err) = socle(&dir, &["check", "."]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = socle(&dir, &["diff", "."]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("# edited or deleted here"), "{out}");
    assert!(
        out.contains("components/minio/values.yaml") && out.contains(&deleted),
        "{out}"
    );
}

#[test]
fn diff_shows_what_a_new_spec_changes_and_exits_1() {
    let (tmp, dir) = new_repo();
    let (code, out, _) = socle(&dir, &["diff"]);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "0 file(s) would change; 0 file(s) edited or deleted here.\n"
        )
    );
    let spec = tmp.path().join("b.yaml");
    fs_err::write(&spec, spec_b()).unwrap();
    let (code, out, err) = socle(&dir, &["diff", "--spec", spec.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("# argocd/dev/applications/airbyte.yaml (added by the blueprint)"),
        "{out}"
    );
    assert!(
        out.contains("--- /dev/null\n+++ b/argocd/dev/applications/airbyte.yaml"),
        "{out}"
    );
    // The tenant's buckets are sorted: the renamed domain's bucket moves.
    assert!(
        out.contains("\n-    - name: domain-supply-chain\n"),
        "{out}"
    );
    assert!(out.contains("\n+    - name: domain-logistics\n"), "{out}");
    assert!(!out.contains("\x1b["), "no colour off a terminal");
    let (code, stat, _) = socle(&dir, &["diff", "--stat", "--spec", spec.to_str().unwrap()]);
    assert_eq!(code, 1);
    let line = stat
        .lines()
        .find(|l| l.starts_with("components/minio/values.yaml"))
        .unwrap_or_else(|| panic!("{stat}"));
    assert!(
        !line.contains(" -0 ") && line.ends_with("changed by the blueprint"),
        "{line}"
    );
    // The same drift as JSON, for tools; the same exit code.
    let (code, json, _) = socle(
        &dir,
        &["diff", "--format", "json", "--spec", spec.to_str().unwrap()],
    );
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let files = json["files"].as_array().unwrap();
    let added = files
        .iter()
        .find(|f| f["path"] == "argocd/dev/applications/airbyte.yaml")
        .unwrap();
    assert_eq!(added["status"], "added by the blueprint");
    assert!(
        added["drift"] == true
            && added["diff"]
                .as_str()
                .unwrap()
                .contains("+++ b/argocd/dev/applications/airbyte.yaml")
    );
    assert_eq!(
        json["drifted"].as_u64().unwrap() as usize,
        files.iter().filter(|f| f["drift"] == true).count()
    );
}

#[test]
fn why_names_the_blueprint_file_and_the_state() {
    let (_tmp, dir) = new_repo();
    let (code, out, _) = socle(&dir, &["why", "argocd/prod/applications/trino.yaml"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("templates/argocd/[env]/applications/[component].yaml.hbs"),
        "{out}"
    );
    assert!(out.contains("unchanged since"), "{out}");
    replace(
        &dir,
        "argocd/prod/applications/trino.yaml",
        "retry:",
        "retry: # tuned\n   ",
    );
    let (_, out, _) = socle(&dir, &["why", "argocd/prod/applications/trino.yaml"]);
    assert!(out.contains("edited here since"), "{out}");
    let (_, out, _) = socle(&dir, &["why", "socle.yaml"]);
    assert!(out.contains("the client spec"), "{out}");
    let (code, _, err) = socle(&dir, &["why", "notes/mine.md"]);
    assert_eq!(code, 2);
    assert!(err.contains("not generated by socle"), "{err}");
    // The repository as a positional DIR, like every other command (and
    // still as --dir).
    let elsewhere = dir.parent().unwrap();
    let repo = dir.to_str().unwrap();
    for args in [
        ["why", "socle.yaml", repo],
        ["why", "socle.yaml", &format!("--dir={repo}")],
    ] {
        let (code, out, err) = socle(elsewhere, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("the client spec"), "{out}");
    }
}

#[test]
fn bad_inputs_get_clear_errors() {
    // Not made by socle.
    let plain = tempfile::tempdir().unwrap();
    fs_err::write(plain.path().join("socle.yaml"), SPEC_A).unwrap();
    let (code, _, err) = socle(plain.path(), &["diff"]);
    assert_eq!(code, 2);
    assert!(err.contains("no socle.lock here"), "{err}");
    let (code, _, err) = socle(plain.path(), &["update"]);
    assert_eq!(code, 2);
    assert!(err.contains("no socle.lock here"), "{err}");

    // A lock file that is not one.
    let (_tmp, dir) = new_repo();
    let lock = read(&dir, "socle.lock");
    fs_err::write(dir.join("socle.lock"), "files: [").unwrap();
    let (code, _, err) = socle(&dir, &["diff"]);
    assert_eq!(code, 2);
    assert!(err.contains("socle.lock: not a socle lock file"), "{err}");
    // A lock that names a path outside the repository is refused, not followed.
    let outside = lock.replacen("files:\n", "files:\n  ../outside.txt:\n    blob: e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\n    from: spec\n", 1);
    assert_ne!(outside, lock);
    fs_err::write(dir.join("socle.lock"), outside).unwrap();
    let (code, _, err) = socle(&dir, &["diff"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("\"../outside.txt\" is not a relative path inside the repository"),
        "{err}"
    );
    fs_err::write(dir.join("socle.lock"), lock).unwrap();

    // Uncommitted edits, then a clone without the pristine ref.
    replace(&dir, "README.md", "# ", "# Draft: ");
    let (code, _, err) = socle(&dir, &["update"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("README.md") && err.contains("--allow-dirty"),
        "{err}"
    );
    git(&dir, &["checkout", "-q", "--", "README.md"]);
    git(&dir, &["update-ref", "-d", "refs/socle/pristine"]);
    let (code, _, err) = socle(&dir, &["update"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no refs/socle/pristine ref") && err.contains("git fetch"),
        "{err}"
    );

    let (code, _, err) = socle(&dir, &["diff", "--env", "dev..qa"]);
    assert_eq!(code, 2);
    assert!(err.contains("environment \"qa\""), "{err}");
    let (code, _, err) = socle(&dir, &["diff", "--env", "dev"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected two environments"), "{err}");
}

#[test]
fn the_promotion_view_lists_differences_and_flags_a_skipped_promotion() {
    let (_tmp, dir) = new_repo();
    let (code, out, err) = socle(&dir, &["diff", "--env", "staging..prod"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("trino\n"), "{out}");
    let (code, json, _) = socle(
        &dir,
        &["diff", "--env", "staging..prod", "--format", "json"],
    );
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let trino = json["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "trino")
        .unwrap();
    assert!(trino["differences"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["key"] == "sync" && d["from"] == "automated" && d["to"] == "manual"));
    assert!(out.contains("  sync: automated -> manual"), "{out}");
    assert!(out.contains("values server.workers: "), "{out}");
    assert!(out.contains("0 unexpected difference(s)"), "{out}");

    let app = "argocd/prod/applications/trino.yaml";
    let text = read(&dir, app);
    let version = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("targetRevision: "))
        .map(|v| v.trim_matches('"'))
        .find(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .unwrap()
        .to_owned();
    let line = text
        .lines()
        .find(|l| l.contains("targetRevision: ") && l.contains(&version))
        .unwrap()
        .trim()
        .to_owned();
    replace(&dir, app, &line, "targetRevision: 99.0.0");
    let (code, out, _) = socle(&dir, &["diff", "--env", "staging..prod"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "chart trino: {version} -> 99.0.0   UNEXPECTED: prod is ahead of staging"
        )),
        "{out}"
    );

    // The table views: one row per difference, the exit code unchanged.
    let (_, json, _) = socle(&dir, &["diff", "--env", "dev..prod", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let differences: usize = json["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["differences"].as_array().unwrap().len())
        .sum();
    let (code, text, _) = socle(&dir, &["diff", "--env", "dev..prod"]);
    let (table_code, table, err) =
        socle(&dir, &["diff", "--env", "dev..prod", "--format", "table"]);
    assert_eq!(table_code, code, "{err}");
    // Multi-line values are one row each: the text view runs much longer.
    let rows = table.lines().count();
    assert_eq!(rows, differences + 3, "{table}");
    assert!(
        text.lines().count() > rows + 100,
        "{}",
        text.lines().count()
    );
    let header = table.lines().next().unwrap();
    let prod_at = header.find("prod").unwrap();
    let flagged = table
        .lines()
        .find(|l| l.starts_with('!'))
        .expect("the unexpected difference is marked");
    assert!(
        flagged.contains("chart trino")
            && flagged.contains("99.0.0")
            && flagged.contains("unexpected: prod is ahead"),
        "{flagged}"
    );
    assert_eq!(
        flagged.find("99.0.0"),
        Some(prod_at),
        "aligned under prod:\n{table}"
    );
    assert!(
        table.contains("l."),
        "a multi-line value shows the line that differs:\n{table}"
    );

    let (md_code, md, _) = socle(
        &dir,
        &["diff", "--env", "dev..prod", "--format", "markdown"],
    );
    assert_eq!(md_code, code);
    let table_lines: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table_lines.len(), differences + 2, "{md}");
    for l in &table_lines {
        // Six unescaped pipes: five cells on every row.
        let pipes = l.matches('|').count() - l.matches("\\|").count();
        assert_eq!(pipes, 6, "{l}");
    }
    assert!(
        md.contains("| **trino** |") && md.contains("⚠ prod is ahead of"),
        "{md}"
    );
    // Without --env, a table has nothing to compare.
    let (code, _, err) = socle(&dir, &["diff", "--format", "table"]);
    assert_eq!(code, 2);
    assert!(err.contains("add --env A..B"), "{err}");
}

#[test]
fn promote_copies_chart_versions_and_leaves_sizing_alone() {
    let (_tmp, dir) = new_repo();
    let app = "argocd/staging/applications/trino.yaml";
    let text = read(&dir, app);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("targetRevision: \"1."))
        .unwrap()
        .to_owned();
    let indent = &line[..line.len() - line.trim_start().len()];
    replace(
        &dir,
        app,
        &line,
        &format!("{indent}targetRevision: \"1.43.0\""),
    );
    let prod_values = read(&dir, "components/trino/values-prod.yaml");

    // --dry-run shows the same change and writes nothing.
    let prod_app = read(&dir, "argocd/prod/applications/trino.yaml");
    let (code, out, err) = socle(&dir, &["promote", "staging", "prod", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("+{indent}targetRevision: \"1.43.0\""))
            && out.contains(
                "1 setting(s) would be promoted from staging to prod (--dry-run: nothing written)"
            ),
        "{out}"
    );
    assert_eq!(read(&dir, "argocd/prod/applications/trino.yaml"), prod_app);
    let (code, json, err) = socle(
        &dir,
        &[
            "promote",
            "staging",
            "prod",
            "--dry-run",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["promoted"][0]["to"], "1.43.0", "{json}");
    assert_eq!(
        json["files"][0]["path"],
        "argocd/prod/applications/trino.yaml"
    );
    assert!(json["denials"].is_null() && json["dry_run"] == true);
    assert_eq!(read(&dir, "argocd/prod/applications/trino.yaml"), prod_app);

    let (code, out, err) = socle(&dir, &["promote", "staging", "prod"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("+++ b/argocd/prod/applications/trino.yaml"),
        "{out}"
    );
    assert!(
        out.contains(&format!("+{indent}targetRevision: \"1.43.0\"")),
        "{out}"
    );
    assert!(
        out.contains("1 setting(s) promoted from staging to prod; socle check: 0 denial(s)"),
        "{out}"
    );
    assert!(
        read(&dir, "argocd/prod/applications/trino.yaml").contains("targetRevision: \"1.43.0\"")
    );
    // Replicas and sizing are prod's own.
    assert_eq!(read(&dir, "components/trino/values-prod.yaml"), prod_values);
    let (code, out, _) = socle(&dir, &["diff", "--env", "staging..prod"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("chart trino"), "{out}");
}

/// What `socle diff` prints for spec B, with its exit code: the summary of
/// every file, and the full diff of the files outside the per-domain and
/// per-component trees (which the file list already covers).
#[test]
fn diff_output_snapshot() {
    let (tmp, dir) = new_repo();
    let spec = tmp.path().join("b.yaml");
    fs_err::write(&spec, spec_b()).unwrap();
    let spec = spec.to_str().unwrap();
    let (code, stat, err) = socle(&dir, &["diff", "--stat", "--spec", spec]);
    insta::assert_snapshot!(
        "diff_stat",
        format!("exit: {code}\n--- stdout\n{stat}--- stderr\n{err}")
    );
    let (code, out, _) = socle(&dir, &["diff", "--spec", spec]);
    let minio: String = out
        .split("\n# ")
        .filter(|part| {
            part.starts_with("components/minio/values.yaml ") || part.starts_with("socle.yaml ")
        })
        .map(|part| format!("# {part}\n"))
        .collect();
    insta::assert_snapshot!("diff_minio_and_spec", format!("exit: {code}\n{minio}"));
}

#[test]
fn an_update_says_which_policies_changed_since_the_last_render() {
    let (_tmp, dir) = new_repo();
    // The lock of a repository rendered by a socle without SOC-OBS-002.
    let lock = read(&dir, "socle.lock");
    let digest_line = lock
        .lines()
        .skip_while(|l| *l != "policies:")
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(digest_line.starts_with("  digest: "), "{digest_line}");
    let older = lock.replace("  - SOC-OBS-002\n", "").replace(
        &digest_line,
        "  digest: 0000000000000000000000000000000000000000",
    );
    fs_err::write(dir.join("socle.lock"), older).unwrap();
    git(&dir, &["commit", "-q", "-am", "Rendered by an older socle"]);
    let (code, out, err) = socle(&dir, &["update"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "policies changed since the last render: 1 rule(s) added (SOC-OBS-002), 0 removed."
        ),
        "{out}"
    );
    assert!(out.contains("socle check: 0 denial(s), "), "{out}");
    assert_eq!(
        read(&dir, "socle.lock"),
        lock,
        "the lock is this socle's again"
    );
}

#[test]
fn promote_refuses_what_is_not_an_environment_name() {
    let (_tmp, dir) = new_repo();
    for (from, to, says) in [
        ("staging", "prod prod", "not an environment name"),
        ("staging", "../../x/argocd/prod", "not an environment name"),
        ("Staging", "prod", "not an environment name"),
        ("prod", "prod", "to itself"),
        ("staging", "qa", "not in"),
    ] {
        let (code, out, err) = socle(&dir, &["promote", from, to]);
        assert_eq!(code, 2, "{from} -> {to}: {out}{err}");
        assert!(err.contains(says), "{from} -> {to}: {err}");
    }
}

/// The generated README's "Working with socle" section: each command of
/// its example block runs, as written, in a repository fresh from `socle
/// new`, and the section names the lock, the pristine ref and the CI files.
#[test]
fn the_generated_readme_explains_the_socle_workflow_and_its_commands_run() {
    let (_tmp, dir) = crate::support::new_repo();
    let readme = fs_err::read_to_string(dir.join("README.md")).unwrap();
    let section = readme
        .split("\n## Working with socle\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Working with socle section");
    for named in [
        "socle.lock",
        "refs/socle/pristine",
        "git push origin refs/socle/pristine",
        "git fetch origin refs/socle/pristine:refs/socle/pristine",
        ".github/workflows/socle.yaml",
        ".gitlab-ci.yml",
        "socle hook install",
        "--range",
    ] {
        assert!(section.contains(named), "the section does not name {named}");
    }
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("an example block");
    let mut ran = Vec::new();
    for line in block.lines() {
        let command = line.split(" #").next().unwrap_or("").trim();
        let Some(args) = command.strip_prefix("socle ") else {
            continue;
        };
        let args: Vec<&str> = args.split_whitespace().collect();
        let (code, out, err) = crate::support::socle_in(&dir, &args);
        assert_eq!(code, 0, "`{command}`: {out}{err}");
        ran.push(args[0].to_owned());
    }
    assert_eq!(ran, ["check", "diff", "update", "promote", "why"]);
}
