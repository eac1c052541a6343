//! How socle reaches its users: the installer that the GitHub Action, the
//! GitLab template and the pre-commit hook share, run against a release laid
//! out as the release workflow publishes it (served from a `file://` URL,
//! with this build's binary inside); the release workflow, the container
//! file and the CI files, linted by real tools.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::Digest;

use crate::generated_ci::{run_step, seq, str_of};
use crate::support::{repo_root, tool};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn socle_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("socle")
}

/// The release target the installer picks on this machine (the release
/// workflow builds these), or None where socle publishes no binary.
fn target() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("x86_64-unknown-linux-musl"),
        ("linux", "aarch64") => Some("aarch64-unknown-linux-musl"),
        ("macos", "aarch64") => Some("aarch64-apple-darwin"),
        ("macos", "x86_64") => Some("x86_64-apple-darwin"),
        _ => None,
    }
}

/// A release of `VERSION` as GitHub serves it: `<url>/v<version>/<archive>`
/// and `SHA256SUMS`, built as the release workflow's archive step does.
struct Release {
    _dir: tempfile::TempDir,
    root: PathBuf,
    url: String,
    archive: String,
    sha: String,
}

fn release() -> Option<Release> {
    let target = target()?;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("releases");
    let tag = root.join(format!("v{VERSION}"));
    let name = format!("socle-{VERSION}-{target}");
    fs_err::create_dir_all(tag.join(&name)).unwrap();
    fs_err::copy(socle_bin(), tag.join(&name).join("socle")).unwrap();
    fs_err::copy(repo_root().join("LICENSE"), tag.join(&name).join("LICENSE")).unwrap();
    let archive = format!("{name}.tar.gz");
    let status = Command::new("tar")
        .args(["-czf", &archive, &name])
        .current_dir(&tag)
        .status()
        .unwrap();
    assert!(status.success());
    fs_err::remove_dir_all(tag.join(&name)).unwrap();
    let sha = hex(&sha2::Sha256::digest(
        fs_err::read(tag.join(&archive)).unwrap(),
    ));
    fs_err::write(tag.join("SHA256SUMS"), format!("{sha}  {archive}\n")).unwrap();
    Some(Release {
        url: format!("file://{}", root.display()),
        root,
        archive,
        sha,
        _dir: dir,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// PATH without any socle on it (the machine's tools stay).
fn path_without_socle() -> String {
    let socle_dir = socle_bin().parent().unwrap().to_path_buf();
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .filter(|d| *d != socle_dir && !d.join("socle").is_file())
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

fn has_curl() -> bool {
    Command::new("curl").arg("--version").output().is_ok()
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn install(release: &Release, into: &Path, args: &[&str]) -> Out {
    let out = Command::new("sh")
        .arg(repo_root().join("ci/install.sh"))
        .args(args)
        .env("SOCLE_RELEASES", &release.url)
        .env("SOCLE_INSTALL_DIR", into)
        .env("PATH", path_without_socle())
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_installer_installs_a_release_binary_only_when_its_checksum_matches() {
    let (Some(release), true) = (release(), has_curl()) else {
        eprintln!("skipped: no release target for this machine, or no curl");
        return;
    };
    let scratch = tempfile::tempdir().unwrap();

    // Checked against the release's SHA256SUMS, then against a pinned
    // checksum (the copy installed by the first run is reused).
    let into = scratch.path().join("a");
    let out = install(&release, &into, &[VERSION]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(PathBuf::from(&out.stdout), into.join("socle"));
    let version = Command::new(&out.stdout).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains(VERSION));
    let out = install(&release, &into, &[&format!("v{VERSION}"), &release.sha]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // A pinned checksum that does not match: nothing is installed.
    let wrong = "0".repeat(64);
    let into = scratch.path().join("b");
    let out = install(&release, &into, &[VERSION, &wrong]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("expected {wrong}")) && out.stderr.contains(&release.sha),
        "{}",
        out.stderr
    );
    assert!(!into.join("socle").exists());
    // The copy installed under another checksum is not trusted either.
    let out = install(&release, &scratch.path().join("a"), &[VERSION, &wrong]);
    assert_eq!(out.code, 2, "{}", out.stderr);

    // An archive altered after SHA256SUMS was published.
    let archive = release
        .root
        .join(format!("v{VERSION}"))
        .join(&release.archive);
    let mut bytes = fs_err::read(&archive).unwrap();
    bytes.push(0);
    fs_err::write(&archive, bytes).unwrap();
    let out = install(&release, &scratch.path().join("c"), &[VERSION]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("not installed"), "{}", out.stderr);

    // No such release; no version at all.
    let out = install(&release, &scratch.path().join("d"), &["9.9.9"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cannot download"), "{}", out.stderr);
    let out = install(&release, &scratch.path().join("d"), &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("usage: install.sh VERSION"),
        "{}",
        out.stderr
    );
    // Nothing was left in the scratch folders of failed runs.
    assert!(!scratch.path().join("d").exists());
}

fn action() -> Value {
    serde_saphyr::from_str(
        &fs_err::read_to_string(repo_root().join("ci/github/action.yml")).unwrap(),
    )
    .unwrap()
}

/// The action's install step, as a runner runs it, with these inputs.
fn run_action_install(release: &Release, inputs: &[(&str, &str)]) -> (bool, bool, String) {
    let action = action();
    let step = seq(&action["runs"]["steps"])
        .into_iter()
        .find(|s| str_of(&s["name"]) == "Install socle")
        .expect("the action's install step");
    let scratch = tempfile::tempdir().unwrap();
    let github_path = scratch.path().join("github-path");
    fs_err::write(&github_path, "").unwrap();
    // The inputs' defaults, then the caller's, as `inputs.<name>`.
    let mut known: BTreeMap<String, String> = action["inputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (format!("inputs.{k}"), str_of(&v["default"]).to_owned()))
        .collect();
    known.insert("inputs.socle-releases".into(), release.url.clone());
    known.insert("runner.temp".into(), scratch.path().display().to_string());
    for (k, v) in inputs {
        known.insert(format!("inputs.{k}"), (*v).to_owned());
    }
    let ctx: BTreeMap<&str, String> = known.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let run = run_step(
        &step,
        scratch.path(),
        &[],
        &ctx,
        &[
            (
                "GITHUB_ACTION_PATH",
                repo_root().join("ci/github").display().to_string(),
            ),
            ("GITHUB_PATH", github_path.display().to_string()),
            ("PATH", path_without_socle()),
        ],
    );
    // Whether the folder added to PATH holds socle (read before the
    // runner's temporary folder goes).
    let added = fs_err::read_to_string(&github_path).unwrap();
    let installed = !added.trim().is_empty() && Path::new(added.trim()).join("socle").is_file();
    (run.ok, installed, run.output)
}

#[test]
fn the_action_installs_the_pinned_release_and_builds_nothing() {
    let (Some(release), true) = (release(), has_curl()) else {
        eprintln!("skipped: no release target for this machine, or no curl");
        return;
    };
    let text = fs_err::read_to_string(repo_root().join("ci/github/action.yml")).unwrap();
    assert!(
        !text.contains("cargo install"),
        "the action never builds socle"
    );
    let (ok, installed, output) = run_action_install(&release, &[("socle-version", VERSION)]);
    assert!(ok && installed, "{output}");
    assert!(output.contains(&format!("socle {VERSION}")), "{output}");
    let (ok, _, output) = run_action_install(
        &release,
        &[("socle-version", VERSION), ("socle-sha256", &release.sha)],
    );
    assert!(ok, "{output}");
    let (ok, installed, output) = run_action_install(
        &release,
        &[
            ("socle-version", VERSION),
            ("socle-sha256", &"f".repeat(64)),
        ],
    );
    assert!(!ok && !installed, "{output}");
    assert!(output.contains("not installed"), "{output}");
    // No version and no socle on PATH: a clear error, not a build.
    let (ok, _, output) = run_action_install(&release, &[("socle-version", "")]);
    assert!(!ok && output.contains("no socle is on PATH"), "{output}");
}

#[test]
fn the_gitlab_template_installs_the_pinned_release() {
    let (Some(release), true) = (release(), has_curl()) else {
        eprintln!("skipped: no release target for this machine, or no curl");
        return;
    };
    let template: Value = serde_saphyr::from_str(
        &fs_err::read_to_string(repo_root().join("ci/gitlab/socle.gitlab-ci.yml")).unwrap(),
    )
    .unwrap();
    let job = &template[".socle-check"];
    assert!(!job.to_string().contains("cargo install"));
    let script: Vec<String> = seq(&job["before_script"])
        .iter()
        .map(|l| str_of(l).to_owned())
        .collect();
    let scratch = tempfile::tempdir().unwrap();
    let run = |sha: &str| {
        Command::new("sh")
            .args(["-e", "-c", &script.join("\n")])
            .current_dir(scratch.path())
            .env("PATH", path_without_socle())
            .env("SOCLE_VERSION", VERSION)
            .env("SOCLE_SHA256", sha)
            .env("SOCLE_RELEASES", &release.url)
            .env(
                "SOCLE_INSTALLER",
                format!("file://{}", repo_root().join("ci/install.sh").display()),
            )
            .env(
                "SOCLE_INSTALL_DIR",
                scratch.path().join(format!("bin-{sha}")),
            )
            .output()
            .unwrap()
    };
    let out = run("");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("socle {VERSION}")),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&"1".repeat(64));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not installed"));
}

#[test]
fn the_pre_commit_hook_installs_its_release_and_checks_the_index() {
    let (Some(release), true) = (release(), has_curl()) else {
        eprintln!("skipped: no release target for this machine, or no curl");
        return;
    };
    let hooks: Value = serde_saphyr::from_str(
        &fs_err::read_to_string(repo_root().join(".pre-commit-hooks.yaml")).unwrap(),
    )
    .unwrap();
    let pinned = seq(&hooks)
        .into_iter()
        .find(|h| h["id"] == "socle-check")
        .expect("socle-check hook");
    assert_eq!(pinned["language"], "script");
    let entry = repo_root().join(str_of(&pinned["entry"]));
    let (_tmp, repo) = crate::support::new_repo();
    let hook = |args: &[&str]| {
        Command::new(&entry)
            .args(args)
            .current_dir(&repo)
            .env("PATH", path_without_socle())
            .env("SOCLE_RELEASES", &release.url)
            .env("SOCLE_INSTALL_DIR", repo.parent().unwrap().join("hook-bin"))
            .env("XDG_CACHE_HOME", repo.parent().unwrap().join("cache"))
            .output()
            .unwrap()
    };
    let out = hook(&[]);
    crate::support::assert_success(&out);
    // A staged credential is refused by the installed release.
    fs_err::write(
        repo.join("platform/leak.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak\n  namespace: default\nstringData:\n  password: hunter2hunter2\n",
    )
    .unwrap();
    crate::support::git(&repo, &["add", "platform/leak.yaml"]);
    let out = hook(&[&format!("--sha256={}", release.sha)]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = hook(&["--sha256=nope"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The release workflow lays out what the container file copies, for the
/// architectures it builds, and pins what it pulls.
#[test]
fn the_container_image_is_built_from_the_release_binaries() {
    let root = repo_root();
    let containerfile = fs_err::read_to_string(root.join("Containerfile")).unwrap();
    let from = containerfile
        .lines()
        .find_map(|l| l.strip_prefix("FROM "))
        .expect("FROM");
    assert!(
        regex::Regex::new(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")
            .unwrap()
            .is_match(from),
        "the base image is pinned by digest: {from}"
    );
    assert!(containerfile.contains("COPY --chmod=0755 dist/${TARGETARCH}/socle "));
    let workflow = fs_err::read_to_string(root.join(".github/workflows/release.yaml")).unwrap();
    let parsed: Value = serde_saphyr::from_str(&workflow).unwrap();
    let targets: Vec<String> = seq(&parsed["jobs"]["binaries"]["strategy"]["matrix"]["include"])
        .iter()
        .map(|t| str_of(&t["target"]).to_owned())
        .collect();
    for t in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "aarch64-apple-darwin",
        "x86_64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ] {
        assert!(
            targets.contains(&t.to_owned()),
            "{t} not built: {targets:?}"
        );
    }
    assert!(workflow.contains("--platform linux/amd64,linux/arm64"));
    assert!(workflow.contains("for pair in amd64:x86_64 arm64:aarch64"));
    assert!(workflow.contains(r#"mv "$name/socle" "dist/$arch/socle""#));
    // The installer and the workflow agree on the archive names.
    let installer = fs_err::read_to_string(root.join("ci/install.sh")).unwrap();
    assert!(installer.contains(r#"name="socle-$version-$target""#));
    assert!(workflow.contains(r#"name="socle-$version-$TARGET""#));
    for t in &targets {
        assert!(installer.contains(&format!("target={t}")), "{t}");
    }
}

/// The release workflow, socle's action and the generated workflows pass
/// zizmor's audits (offline: no GitHub API), and the release workflow
/// validates against GitHub's workflow schema.
#[test]
fn workflows_pass_zizmor_and_the_workflow_schema() {
    let Some(zizmor) = tool("zizmor") else {
        return;
    };
    let root = repo_root();
    let rendered = crate::support::materialise(&crate::support::render(Some("full.yaml")));
    let out = Command::new(&zizmor)
        .args(["--offline", "--no-progress", "--min-severity", "low"])
        .arg(root.join(".github/workflows/release.yaml"))
        .arg(root.join("ci/github/action.yml"))
        .arg(rendered.path().join(".github/workflows"))
        .output()
        .unwrap();
    crate::support::assert_success(&out);
    crate::support::assert_builtin_schema(
        "vendor.github-workflows",
        &root.join(".github/workflows/release.yaml"),
    );
}
