//! The binary as a consultant runs it: exit codes, messages, what is written.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

use crate::support::{fixture, git};

fn socle() -> Command {
    let mut cmd = Command::cargo_bin("socle").expect("socle binary");
    cmd.env("SOURCE_DATE_EPOCH", "1767225600")
        .env("NO_COLOR", "1");
    cmd
}

/// Exit code and both streams, with the temporary directory made stable, in
/// the form the snapshots record.
fn run(cmd: &mut Command, tmp: &Path) -> String {
    let out = cmd.output().expect("run socle");
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(&tmp.display().to_string(), "[TMP]");
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        clean(&out.stdout),
        clean(&out.stderr)
    )
}

#[test]
fn default_run_writes_and_commits_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("acme-platform");
    let report = run(socle().args(["new", "--out"]).arg(&out), tmp.path());
    assert!(report.starts_with("exit: 0\n"), "{report}");
    assert!(report.contains("Committed "), "{report}");

    let files: Vec<String> = walkdir::WalkDir::new(&out)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(&out)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(files.len() > 100, "{} files", files.len());

    // One commit holding exactly the files on disk, and a clean status.
    assert_eq!(git(&out, &["rev-list", "--count", "HEAD"]).trim(), "1");
    let mut tracked: Vec<String> = git(&out, &["ls-files"])
        .lines()
        .map(str::to_owned)
        .collect();
    let mut on_disk = files.clone();
    tracked.sort();
    on_disk.sort();
    assert_eq!(tracked, on_disk);
    assert_eq!(git(&out, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&out, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    assert!(out.join("socle.yaml").is_file() && out.join("socle.lock").is_file());
    // No temporary directory is left beside the output.
    let leftovers: Vec<_> = fs_err::read_dir(tmp.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".socle-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn full_spec_uses_author_branch_and_every_option() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("full");
    let report = run(
        socle()
            .args(["new", "--spec"])
            .arg(fixture("specs/full.yaml"))
            .arg("--out")
            .arg(&out),
        tmp.path(),
    );
    assert!(report.starts_with("exit: 0\n"), "{report}");
    assert_eq!(
        git(&out, &["log", "-1", "--format=%an <%ae>"]).trim(),
        "Fatima Ouédraogo <fatima@fullopt.example>"
    );
    assert_eq!(
        git(&out, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/platform"
    );
    assert_eq!(git(&out, &["status", "--porcelain"]), "");
    for path in [
        "components/nifi",
        "components/airbyte",
        "components/openmetadata",
    ] {
        assert!(out.join(path).is_dir(), "{path} missing");
    }
    assert!(!out.join("components/datahub").exists());
    let dev_app = fs_err::read_to_string(out.join("argocd/dev/applications/trino.yaml")).unwrap();
    assert!(
        dev_app.contains("namespace: data-platform-processing-dev"),
        "{dev_app}"
    );
}

#[test]
fn output_is_byte_identical_across_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for out in [&a, &b] {
        let status = socle()
            .args(["new", "--no-git", "-q", "--out"])
            .arg(out)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let read = |root: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                (
                    e.path().strip_prefix(root).unwrap().display().to_string(),
                    fs_err::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert!(read(&a) == read(&b), "two runs of the same spec differ");
}

#[test]
fn refuses_a_non_empty_output_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("busy");
    fs_err::create_dir_all(&out).unwrap();
    fs_err::write(out.join("keep.txt"), "mine").unwrap();
    let report = run(
        socle().args(["new", "--no-git", "--out"]).arg(&out),
        tmp.path(),
    );
    insta::assert_snapshot!(report);
    assert!(out.join("keep.txt").exists());

    let status = socle()
        .args(["new", "--no-git", "-q", "--force", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(!out.join("keep.txt").exists() && out.join("socle.lock").exists());
}

/// Each bad spec: exit 2, a message naming the field and line, and nothing written.
fn bad_spec(name: &str, edit: impl Fn(&str) -> String) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join(format!("{name}.yaml"));
    fs_err::write(&spec, edit(socle::spec::EXAMPLE)).unwrap();
    let out = tmp.path().join("out");
    let report = run(
        socle()
            .args(["new", "--spec"])
            .arg(&spec)
            .arg("--out")
            .arg(&out),
        tmp.path(),
    );
    assert!(report.starts_with("exit: 2\n"), "{report}");
    assert!(!out.exists(), "output written for a bad spec");
    report
}

#[test]
fn bad_spec_missing_field() {
    insta::assert_snapshot!(bad_spec("missing", |s| s.replace("domain: data.acme.example\n", "")));
}

#[test]
fn bad_spec_wrong_type() {
    insta::assert_snapshot!(bad_spec("wrong-type", |s| s
        .replace("  groups:\n", "  groups: 3\n  old_groups:\n")));
}

#[test]
fn bad_spec_unknown_component() {
    insta::assert_snapshot!(bad_spec("unknown-component", |s| s
        .replace("ingestion: nifi   ", "ingestion: kafka  ")
        .replace("  logs: loki ", "  queue: kafka\n  logs: loki ")));
}

#[test]
fn bad_spec_slug() {
    insta::assert_snapshot!(bad_spec("slug", |s| s.replace("slug: acme ", "slug: ../x ")));
}

#[test]
fn bad_spec_unknown_environment() {
    insta::assert_snapshot!(bad_spec("unknown-env", |s| s
        .replace("- name: staging", "- name: qa")));
}

#[test]
fn bad_spec_lists_every_error_at_once() {
    let report = bad_spec("many", |s| {
        s.replace("slug: acme ", "slug: Acme ")
            .replace("- name: staging", "- name: qa")
            .replace("sizing: standard", "sizing: huge")
    });
    assert!(report.contains("3 problem(s)"), "{report}");
}

/// The line of the first line of `report` that names `needle`.
fn line_naming(report: &str, needle: &str) -> String {
    report
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line names {needle:?}:\n{report}"))
        .trim()
        .to_owned()
}

#[test]
fn bad_spec_top_level_typo_names_its_line_and_the_key_meant() {
    let report = bad_spec("typo", |s| s.replace("sizing: standard", "sizng: standard"));
    assert!(report.contains("1 problem(s)"), "{report}");
    assert!(
        line_naming(&report, "sizng").ends_with(
            "/typo.yaml:77: unknown key 'sizng' at the top level; did you mean 'sizing'?"
        ),
        "{report}"
    );
}

#[test]
fn bad_spec_nested_typo_names_its_own_line_not_the_parent() {
    let report = bad_spec("nested-typo", |s| {
        s.replace("  realm: acme", "  relam: acme").replacen(
            "      nodes: [10.10.0.0/22]",
            "      nodse: [10.10.0.0/22]",
            1,
        )
    });
    // `keycloak:` is line 79 and `network:` line 22: each misspelt key is
    // named at its own line, below its parent's.
    assert!(
        line_naming(&report, "relam").ends_with(
            "/nested-typo.yaml:80: unknown key 'relam' in keycloak; did you mean 'realm'?"
        ),
        "{report}"
    );
    assert!(
        line_naming(&report, "nodse").ends_with(
            "/nested-typo.yaml:24: unknown key 'nodse' in environments[0].network; did you mean 'nodes'?"
        ),
        "{report}"
    );
}

#[test]
fn bad_spec_duplicate_environment() {
    insta::assert_snapshot!(bad_spec("dup-env", |s| s.replace("- name: staging", "- name: dev")));
}

#[test]
fn bad_yaml_names_the_line() {
    insta::assert_snapshot!(bad_spec("bad-yaml", |s| s.replace("  slug: acme", "  slug: [acme")));
}

#[test]
fn bad_author_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let report = run(
        socle()
            .args(["new", "--author", "nobody", "--out"])
            .arg(tmp.path().join("o")),
        tmp.path(),
    );
    insta::assert_snapshot!(report);
}

#[test]
fn spec_example_is_the_default_and_schema_is_json() {
    let out = socle().args(["spec", "example"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), socle::spec::EXAMPLE);
    let out = socle().args(["spec", "schema"]).output().unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    assert_eq!(
        schema["properties"]["environments"]["items"]["properties"]["name"]["enum"],
        serde_json::json!(["dev", "staging", "prod"])
    );
    // The example validates against the printed schema.
    let example: serde_json::Value = crate::support::yaml(socle::spec::EXAMPLE).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&example));
}

#[test]
fn broken_pipe_is_success() {
    use std::process::Stdio;
    let mut child = socle()
        .args(["spec", "schema"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    assert!(child.wait().unwrap().success());
}

/// A copy of the embedded blueprint, to break on purpose.
fn blueprint_copy(tmp: &Path) -> std::path::PathBuf {
    let blueprint = tmp.join("blueprint");
    let source = crate::support::repo_root().join("blueprints/platform");
    for entry in walkdir::WalkDir::new(&source)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
    {
        let rel = entry.path().strip_prefix(&source).unwrap();
        let dest = blueprint.join(rel);
        fs_err::create_dir_all(dest.parent().unwrap()).unwrap();
        fs_err::copy(entry.path(), dest).unwrap();
    }
    blueprint
}

/// `socle new --blueprints blueprint --out out_dir`, reported by [`run`].
fn new_from(blueprint: &Path, out_dir: &Path, tmp: &Path) -> String {
    run(
        socle()
            .args(["new", "--blueprints"])
            .arg(blueprint)
            .arg("--out")
            .arg(out_dir),
        tmp,
    )
}

/// `new` leaves the parse of the rendered YAML to its check (one parse,
/// not two); a template that renders invalid YAML is still named, as the
/// renderer names it, and nothing is written.
#[test]
fn new_names_the_template_of_a_file_that_is_not_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let blueprint = blueprint_copy(tmp.path());
    let template = blueprint.join("components/trino/values-[env].yaml.hbs");
    let text = fs_err::read_to_string(&template).unwrap();
    fs_err::write(&template, format!("{text}\nbroken: [unclosed\n")).unwrap();
    let out_dir = tmp.path().join("out");
    let report = new_from(&blueprint, &out_dir, tmp.path());
    assert!(report.starts_with("exit: 2\n"), "{report}");
    assert!(
        report.contains("blueprint bug: components/trino/values-")
            && report.contains("(from components/trino/values-[env].yaml.hbs) is not valid YAML"),
        "{report}"
    );
    assert!(!out_dir.exists(), "output written from an invalid render");
}

/// `new` runs the embedded policies on the rendered files before writing:
/// a blueprint that renders a violation writes nothing.
#[test]
fn new_refuses_a_blueprint_that_violates_the_policies() {
    let tmp = tempfile::tempdir().unwrap();
    let blueprint = blueprint_copy(tmp.path());
    let sts = blueprint.join("components/zeppelin/base/statefulset.yaml");
    let text = fs_err::read_to_string(&sts).unwrap();
    assert!(text.contains("apache/zeppelin:0.12.1"));
    fs_err::write(
        &sts,
        text.replace("apache/zeppelin:0.12.1", "apache/zeppelin:latest"),
    )
    .unwrap();

    let out_dir = tmp.path().join("out");
    let report = new_from(&blueprint, &out_dir, tmp.path());
    assert!(report.starts_with("exit: 2\n"), "{report}");
    assert!(
        report.contains("violates the embedded policies") && report.contains("SOC-K8S-002"),
        "{report}"
    );
    assert!(!out_dir.exists(), "output written despite denials");
}

/// Shell completions are valid scripts for their shell, and the man page is
/// roff that groff renders without a warning.
#[test]
fn completions_and_the_man_page_are_what_their_tools_read() {
    let out = socle().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(
        script.contains("check") && script.contains("--range"),
        "{script}"
    );
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(bash.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    assert!(
        bash.wait().unwrap().success(),
        "bash -n refused the completions"
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = socle().args(["completions", shell]).output().unwrap();
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }

    let out = socle().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH socle 1"), "{page}");
    let Some(groff) = crate::support::tool("groff") else {
        return;
    };
    let mut render = Command::new(groff)
        .args(["-man", "-Tutf8", "-ww"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(render.stdin.as_mut().unwrap(), page.as_bytes()).unwrap();
    let rendered = render.wait_with_output().unwrap();
    assert!(rendered.status.success());
    assert!(
        rendered.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    assert!(String::from_utf8_lossy(&rendered.stdout).contains("policy checker"));
}

/// The next steps `socle new` prints work as printed: pushed with the
/// pristine ref, a teammate's clone can run `socle diff` (and so `update`);
/// with `--no-git` they start with `git init`.
#[test]
fn the_next_steps_new_prints_give_a_teammate_what_update_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("platform");
    let printed = socle().arg("new").arg("--out").arg(&out).output().unwrap();
    assert!(printed.status.success());
    let text = String::from_utf8(printed.stdout).unwrap();
    let steps: Vec<&str> = text
        .split("Next steps:\n")
        .nth(1)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("git "))
        .collect();
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("git push origin refs/socle/pristine")),
        "{text}"
    );
    // Run them against a local bare repository instead of the spec's URL.
    let bare = tmp.path().join("origin.git");
    git(
        tmp.path(),
        &["init", "-q", "--bare", bare.to_str().unwrap()],
    );
    for step in steps {
        let step = step.split("  #").next().unwrap().trim();
        let args: Vec<&str> = step.split_whitespace().skip(1).collect();
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if a.starts_with("https://") {
                    bare.display().to_string()
                } else {
                    (*a).to_owned()
                }
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        git(&out, &args);
    }
    let clone = tmp.path().join("teammate");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "-b",
            "main",
            bare.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    git(
        &clone,
        &[
            "fetch",
            "-q",
            "origin",
            "+refs/socle/pristine:refs/socle/pristine",
        ],
    );
    let diff = socle().arg("diff").arg(&clone).output().unwrap();
    assert_eq!(
        diff.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );

    let loose = tmp.path().join("loose");
    let printed = socle()
        .args(["new", "--no-git", "--out"])
        .arg(&loose)
        .output()
        .unwrap();
    let text = String::from_utf8(printed.stdout).unwrap();
    assert!(
        text.contains("  git init -b main && git add -A && git commit"),
        "{text}"
    );
    assert!(!text.contains("refs/socle/pristine"), "{text}");
}

/// `--spec -` reads the spec from standard input; its errors name "(stdin)"
/// and the line.
#[test]
fn the_spec_can_come_from_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    let spec =
        fs_err::read_to_string(crate::support::repo_root().join("blueprints/example/socle.yaml"))
            .unwrap();
    let feed = |text: String, out: &Path| {
        let mut child = socle()
            .args(["new", "-q", "--no-git", "--spec", "-", "--out"])
            .arg(out)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };
    let ok = feed(spec.clone(), &tmp.path().join("a"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(tmp.path().join("a/socle.lock").exists());
    let bad = feed(format!("{spec}\nunknown_key: 1\n"), &tmp.path().join("b"));
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("(stdin):") && stderr.contains("unknown_key"),
        "{stderr}"
    );
}

/// One colour decision for every command: `--color always|never` wins;
/// under `auto`, NO_COLOR removes colour, then CLICOLOR_FORCE forces it,
/// TERM=dumb removes it, and a pipe gets none.
#[test]
fn colour_follows_the_flag_then_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs_err::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n",
    )
    .unwrap();
    let coloured = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::cargo_bin("socle").unwrap();
        cmd.env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env("TERM", "xterm");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.args(args).arg("check").arg(dir).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        out.stdout.contains(&0x1b)
    };
    assert!(!coloured(&[], &[]), "a pipe gets no colour");
    assert!(coloured(&[], &[("CLICOLOR_FORCE", "1")]));
    assert!(!coloured(&[], &[("CLICOLOR_FORCE", "0")]));
    assert!(coloured(&["--color", "always"], &[("NO_COLOR", "1")]));
    assert!(!coloured(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
    // NO_COLOR beats CLICOLOR_FORCE (the flag beats both).
    assert!(!coloured(
        &[],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    ));
    assert!(!coloured(&["--color", "auto"], &[("TERM", "dumb")]));
}

/// Every command's --help ends with examples.
#[test]
fn every_command_has_examples_in_its_help() {
    let top = socle().arg("--help").output().unwrap();
    let text = String::from_utf8(top.stdout).unwrap();
    let commands: Vec<&str> = text
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        // A command's own line; its wrapped description is indented deeper.
        .filter(|l| l.starts_with("  ") && !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 15, "{commands:?}");
    for command in commands {
        let out = socle().args([command, "--help"]).output().unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("Examples:\n  socle "), "{command}:\n{help}");
    }
}

/// `socle blueprint list|show` read the embedded manifest; a spec names
/// its blueprint, and one written for another blueprint is refused at its
/// line with the command that lists them.
#[test]
fn blueprints_are_listed_shown_and_named_by_the_spec() {
    let manifest: serde_json::Value = crate::support::yaml(
        &fs_err::read_to_string(
            crate::support::repo_root().join("blueprints/platform/blueprint.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    let name = manifest["name"].as_str().unwrap().to_owned();
    let components = manifest["components"].as_array().unwrap().len();

    let out = socle().args(["blueprint", "list"]).output().unwrap();
    assert!(out.status.success());
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.starts_with(&name) && list.contains(&format!("{components} components")),
        "{list}"
    );

    let out = socle()
        .args(["blueprint", "show", &name, "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["components"].as_array().unwrap().len(), components);
    assert_eq!(
        shown["targets"],
        serde_json::json!(["kubernetes", "compose", "eks", "gke", "aks"])
    );
    assert_eq!(
        shown["clouds"]["eks"]["left_out"]
            .as_object()
            .map(|o| o.len()),
        Some(4)
    );
    let ingestion: Vec<&str> = shown["options"]["ingestion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ingestion, ["nifi", "airbyte", "both"]);
    // The single-host target: what runs there and why the rest does not.
    let on_host: Vec<&str> = shown["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["compose_services"].as_array().unwrap().is_empty())
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        on_host.contains(&"postgresql") && on_host.contains(&"trino"),
        "{on_host:?}"
    );
    let left_out = shown["compose"]["left_out"].as_object().unwrap();
    // The others run on other targets only (a cloud's stand-in).
    let elsewhere: Vec<&str> = shown["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            let targets = c["targets"].as_array().unwrap();
            !targets.is_empty() && !targets.iter().any(|t| t == "compose")
        })
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(elsewhere, ["cluster-autoscaler", "managed-postgresql"]);
    assert_eq!(on_host.len() + left_out.len() + elsewhere.len(), components);
    assert!(left_out["keycloak"].as_str().unwrap().contains("sign"));
    let text = socle().args(["blueprint", "show"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("chart trino "));
    assert!(
        text.contains("compose (one Docker host of 4 cores and 16G"),
        "{text}"
    );

    let out = socle()
        .args(["blueprint", "show", "lakehose"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no blueprint named \"lakehose\"; this socle has: ") && err.contains(&name),
        "{err}"
    );

    let out = socle()
        .args(["spec", "example", "--blueprint", &name])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), socle::spec::EXAMPLE);
    let out = socle()
        .args(["spec", "example", "--blueprint", "lakehose"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // `socle new` on a spec's text: its exit code, stderr and the spec's path.
    let dir = tempfile::tempdir().unwrap();
    let new_with = |label: &str, text: String| {
        let spec = dir.path().join(format!("{label}.yaml"));
        fs_err::write(&spec, text).unwrap();
        let out = socle()
            .args(["new", "-q", "--no-git", "--spec"])
            .arg(&spec)
            .arg("--out")
            .arg(dir.path().join(format!("out-{label}")))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err, spec)
    };

    // Each environment's target: Kubernetes, or Compose (which keeps none
    // of a cluster's keys), or one the blueprint does not render.
    for (target, code, message) in [
        ("kubernetes", 0, ""),
        (
            "compose",
            2,
            "environments[0].cluster: `cluster` describes a Kubernetes cluster",
        ),
        (
            "swarm",
            2,
            "environments[0].target: \"swarm\" is not one of \"kubernetes\", \"compose\" or 3 other candidates",
        ),
    ] {
        let text = socle::spec::EXAMPLE.replacen(
            "  - name: dev\n",
            &format!("  - name: dev\n    target: {target}\n"),
            1,
        );
        assert_ne!(
            text,
            socle::spec::EXAMPLE,
            "the example's environments changed shape"
        );
        let (status, err, _) = new_with(target, text);
        assert_eq!(status, Some(code), "{err}");
        assert!(err.contains(message), "{err}");
    }

    // The spec's `blueprint:`.
    for (blueprint, code) in [(name.as_str(), 0), ("lakehose", 2)] {
        let (status, err, spec) = new_with(
            blueprint,
            format!("blueprint: {blueprint}\n{}", socle::spec::EXAMPLE),
        );
        assert_eq!(status, Some(code), "{err}");
        if code == 2 {
            assert!(
                err.contains(&format!(
                    "{}:1: blueprint: \"lakehose\" is not a blueprint",
                    spec.display()
                )) && err.contains("socle blueprint list"),
                "{err}"
            );
        }
    }
}
