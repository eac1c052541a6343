//! `socle new --force` and `socle update` never lose or escape the user's
//! work: a repository with unsaved work is not replaced, killed runs leave
//! nothing behind, nothing is written through a symlink out of the
//! repository, file modes survive an update, and an interrupted update says
//! so and resumes.

use std::path::Path;

use crate::support::{git, new_repo};

fn socle(dir: &Path, args: &[&str]) -> (i32, String, String) {
    crate::support::socle_in(dir, args)
}

fn commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read(dir: &Path, path: &str) -> String {
    fs_err::read_to_string(dir.join(path)).unwrap()
}

fn replace(dir: &Path, path: &str, old: &str, new: &str) {
    let text = read(dir, path);
    assert!(text.contains(old), "{old:?} not in {path}");
    fs_err::write(dir.join(path), text.replacen(old, new, 1)).unwrap();
}

// ---- 12: `new --force` over a repository with unsaved work ----

#[test]
fn new_force_refuses_a_repository_with_unsaved_work_and_says_what() {
    let (tmp, dir) = new_repo();
    replace(&dir, "README.md", "# ", "# Team: ");
    commit_all(&dir, "Team title");
    replace(&dir, "socle.yaml", "client:", "client:  # edited");
    fs_err::write(dir.join("notes.txt"), "mine\n").unwrap();
    fs_err::write(dir.join("todo.md"), "- ship\n").unwrap();
    let head = git(&dir, &["rev-parse", "HEAD"]);

    let (code, _, err) = socle(tmp.path(), &["new", "-q", "--force", "--out", "repo"]);
    assert_eq!(code, 2, "{err}");
    for expected in [
        "repo holds a git repository with work that --force would destroy",
        "1 file with uncommitted changes (socle.yaml)",
        "2 untracked files (notes.txt, todo.md)",
        "1 commit on main not on any remote",
        "Team title",
        "--discard-work",
    ] {
        assert!(err.contains(expected), "{expected:?} missing:\n{err}");
    }
    // Nothing was touched, and nothing was left beside it.
    assert_eq!(read(&dir, "notes.txt"), "mine\n");
    assert!(read(&dir, "socle.yaml").contains("# edited"));
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), head);
    assert_eq!(entries(tmp.path()), ["repo"]);

    // --discard-work needs --force; together they replace the repository.
    let (code, _, err) = socle(
        tmp.path(),
        &["new", "-q", "--discard-work", "--out", "repo"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--force"), "{err}");
    let (code, _, err) = socle(
        tmp.path(),
        &["new", "-q", "--force", "--discard-work", "--out", "repo"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!dir.join("notes.txt").exists());
    assert_ne!(git(&dir, &["rev-parse", "HEAD"]), head);
    assert_eq!(entries(tmp.path()), ["repo"]);
}

#[test]
fn new_force_replaces_a_repository_whose_work_is_saved() {
    // Straight from `socle new`: its one commit is socle's own render.
    let (tmp, dir) = new_repo();
    let (code, _, err) = socle(tmp.path(), &["new", "-q", "--force", "--out", "repo"]);
    assert_eq!(code, 0, "a fresh render is not the user's work: {err}");

    // A commit pushed to a remote is saved; the stash is not.
    replace(&dir, "README.md", "# ", "# Team: ");
    commit_all(&dir, "Team title");
    let remote = tmp.path().join("remote.git");
    git(
        tmp.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    git(&dir, &["remote", "add", "origin", remote.to_str().unwrap()]);
    git(&dir, &["push", "-q", "origin", "main"]);
    replace(&dir, "README.md", "# ", "# Draft: ");
    git(&dir, &["stash", "-q"]);
    let (code, _, err) = socle(tmp.path(), &["new", "-q", "--force", "--out", "repo"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("2 commits on refs/stash not on any remote")
            && !err.contains("on main not on any remote"),
        "only the stash is unsaved:\n{err}"
    );
    git(&dir, &["stash", "drop", "-q"]);
    let (code, _, err) = socle(tmp.path(), &["new", "-q", "--force", "--out", "repo"]);
    assert_eq!(code, 0, "everything is on the remote: {err}");

    // A directory that is no git repository: --force replaces it, as before.
    let plain = tmp.path().join("plain");
    fs_err::create_dir_all(&plain).unwrap();
    fs_err::write(plain.join("keep.txt"), "mine").unwrap();
    let (code, _, err) = socle(tmp.path(), &["new", "-q", "--force", "--out", "plain"]);
    assert_eq!(code, 0, "{err}");
    assert!(!plain.join("keep.txt").exists() && plain.join(".git").exists());
}

// ---- 13: leftovers of killed `new` runs ----

#[test]
fn new_cleans_what_killed_runs_left_for_its_target_and_nothing_else() {
    let (tmp, dir) = new_repo();
    let parent = tmp.path();
    // As a killed run leaves them: a half-written staging tree, and a
    // previous tree half deleted after the new one went into place.
    fs_err::create_dir_all(parent.join(".socle-new-repo.AbC123/components")).unwrap();
    fs_err::write(parent.join(".socle-new-repo.AbC123/components/x"), "half").unwrap();
    fs_err::create_dir_all(parent.join(".socle-old-repo.XyZ789/previous/argocd")).unwrap();
    // Not this target's, or not socle's: left alone.
    let others = [
        ".socle-new-other.AAAAAA",
        ".socle-new-repo.x.BBBBBB",
        ".socle-new-repox",
        "repo.backup",
    ];
    for o in others {
        fs_err::create_dir_all(parent.join(o)).unwrap();
    }
    fs_err::write(parent.join(".socle-old-repo.CCCCCC"), "a file, not ours").unwrap();

    let (code, _, err) = socle(parent, &["new", "-q", "--force", "--out", "repo"]);
    assert_eq!(code, 0, "{err}");
    let mut expected: Vec<String> = others.iter().map(|s| s.to_string()).collect();
    expected.extend([".socle-old-repo.CCCCCC".into(), "repo".into()]);
    expected.sort();
    assert_eq!(entries(parent), expected);
    assert!(dir.join("socle.lock").exists());
}

#[test]
fn new_puts_back_a_tree_a_killed_run_had_moved_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path();
    // Killed between moving the old tree aside and moving the new one in:
    // the target is missing, the user's tree is whole beside it.
    let aside = parent.join(".socle-old-repo.QqQ123/previous");
    fs_err::create_dir_all(&aside).unwrap();
    fs_err::write(aside.join("mine.txt"), "the user's").unwrap();
    fs_err::create_dir_all(parent.join(".socle-new-repo.RrR456/argocd")).unwrap();

    // Without --force the restored tree is not replaced.
    let (code, _, err) = socle(parent, &["new", "-q", "--no-git", "--out", "repo"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exists and is not empty"), "{err}");
    assert_eq!(entries(parent), ["repo"]);
    assert_eq!(read(&parent.join("repo"), "mine.txt"), "the user's");
}

#[test]
fn new_leaves_no_temporary_directory_after_success_or_failure() {
    let (tmp, dir) = new_repo();
    assert_eq!(entries(tmp.path()), ["repo"]);
    let (code, _, err) = socle(tmp.path(), &["new", "-q", "--force", "--out", "repo"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(entries(tmp.path()), ["repo"]);

    // A run that fails after staging (the commit: a branch name longer than
    // a file name may be, which the spec's schema cannot know) leaves the
    // previous tree as it was and no temporary directory.
    let lock = read(&dir, "socle.lock");
    let spec = tmp.path().join("bad.yaml");
    let long = format!("revision: {}", "b".repeat(300));
    fs_err::write(
        &spec,
        socle::spec::EXAMPLE.replacen("revision: main", &long, 1),
    )
    .unwrap();
    let (code, _, err) = socle(
        tmp.path(),
        &[
            "new", "-q", "--force", "--spec", "bad.yaml", "--out", "repo",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("git: commit in"), "{err}");
    assert_eq!(entries(tmp.path()), ["bad.yaml", "repo"]);
    assert_eq!(read(&dir, "socle.lock"), lock);
}

// ---- 14: update and symlinks, update and file modes ----

/// Spec B: Airbyte beside NiFi and a domain renamed (changes MinIO's
/// files, Airflow's settings and the backup scripts, adds Airbyte's).
fn spec_b(tmp: &Path) -> String {
    let b = socle::spec::EXAMPLE
        .replace("ingestion: nifi ", "ingestion: both ")
        .replace("name: supply-chain", "name: logistics");
    assert_ne!(b, socle::spec::EXAMPLE);
    let path = tmp.join("b.yaml");
    fs_err::write(&path, b).unwrap();
    path.to_str().unwrap().to_owned()
}

#[cfg(unix)]
#[test]
fn update_refuses_to_write_through_a_symlink_out_of_the_repository() {
    let (tmp, dir) = new_repo();
    let outside = tmp.path().join("outdir");
    fs_err::rename(dir.join("components/minio"), &outside).unwrap();
    std::os::unix::fs::symlink("../../outdir", dir.join("components/minio")).unwrap();
    commit_all(&dir, "MinIO lives elsewhere");
    let values = read(&outside, "values.yaml");
    let lock = read(&dir, "socle.lock");
    let spec = spec_b(tmp.path());

    for args in [
        vec!["update", "--spec", &spec],
        vec!["update", "--dry-run", "--spec", &spec],
    ] {
        let (code, out, err) = socle(&dir, &args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(
            err.contains("components/minio")
                && err.contains("-> ../../outdir, which leads out of the repository")
                && err.contains("nothing was written"),
            "{err}"
        );
    }
    assert_eq!(read(&outside, "values.yaml"), values);
    assert_eq!(read(&dir, "socle.lock"), lock);
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");

    // A symlink that stays inside the repository is written through.
    fs_err::remove_file(dir.join("components/minio")).unwrap();
    fs_err::rename(&outside, dir.join("components/minio-real")).unwrap();
    std::os::unix::fs::symlink("minio-real", dir.join("components/minio")).unwrap();
    commit_all(&dir, "MinIO lives beside its link");
    // (The check then denies the unknown component directory: exit 1.)
    let (_, out, err) = socle(&dir, &["update", "--spec", &spec]);
    assert!(
        out.contains("updated 74 file(s), 0 conflict(s)"),
        "{out}{err}"
    );
    assert_ne!(read(&dir, "components/minio-real/values.yaml"), values);
}

#[cfg(unix)]
#[test]
fn update_keeps_the_mode_of_each_file_it_rewrites() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o7777;
    let (tmp, dir) = new_repo();
    let script = dir.join("backup/overlays/dev/configure.sh");
    fs_err::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let readme = dir.join("README.md");
    fs_err::set_permissions(&readme, std::fs::Permissions::from_mode(0o644)).unwrap();
    commit_all(&dir, "The configure scripts are executable");
    let spec = spec_b(tmp.path());

    let (code, out, err) = socle(&dir, &["update", "--spec", &spec]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("update    backup/overlays/dev/configure.sh"),
        "{out}"
    );
    assert!(out.contains("update    README.md"), "{out}");
    assert_eq!(mode(&script), 0o755);
    assert_eq!(mode(&readme), 0o644);
    // A new file gets what any new file gets here (0666 less the umask).
    let probe = tmp.path().join("probe");
    fs_err::write(&probe, "").unwrap();
    assert_eq!(
        mode(&dir.join("components/airbyte/values.yaml")),
        mode(&probe)
    );
}

// ---- 15: an interrupted update ----

/// Make the repository's update stop partway: a file where spec B needs
/// the directory `components/airbyte` (files sort before it are written,
/// those after are not).
fn interrupt_update(dir: &Path, spec: &str) {
    fs_err::write(dir.join("components/airbyte"), "in the way\n").unwrap();
    let (code, out, err) = socle(dir, &["update", "--spec", spec]);
    assert_eq!(code, 2, "the update should fail partway: {out}{err}");
    fs_err::remove_file(dir.join("components/airbyte")).unwrap();
}

/// Every file of the working tree but .git and the check cache, with its content.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git" && e.file_name() != ".socle")
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            (rel, fs_err::read(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn an_interrupted_update_says_so_and_resumes_to_what_one_run_gives() {
    // The same team edit in two repositories; one update runs through, the
    // other is interrupted and resumed. The edit conflicts with spec B in a
    // file written before the interruption.
    let edit = |dir: &Path| {
        replace(
            dir,
            "airflow/dags/data_platform/settings.py",
            "INGESTION = \"nifi\"",
            "INGESTION = \"nifi-only\"",
        );
        commit_all(dir, "Team edit");
    };
    let (tmp, reference) = new_repo();
    edit(&reference);
    let spec = spec_b(tmp.path());
    let (code, out, err) = socle(&reference, &["update", "--spec", &spec]);
    assert_eq!(code, 1, "one conflict: {out}{err}");

    let (_tmp2, dir) = new_repo();
    edit(&dir);
    let (code, _, err) = socle(&dir, &["update", "--resume", "--spec", &spec]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no interrupted `socle update` to resume"),
        "{err}"
    );
    interrupt_update(&dir, &spec);

    // A plain re-run names the interruption and the way out, and writes nothing.
    let before = tree(&dir);
    let (code, out, err) = socle(&dir, &["update", "--spec", &spec]);
    assert_eq!(code, 2, "{out}{err}");
    let written = regex::Regex::new(
        r"an earlier `socle update` \(spec .*b\.yaml\) was interrupted after writing (\d+) of (\d+) file\(s\); run `socle update --resume`",
    )
    .unwrap();
    let caps = written.captures(&err).unwrap_or_else(|| panic!("{err}"));
    let (n, m): (usize, usize) = (caps[1].parse().unwrap(), caps[2].parse().unwrap());
    assert!(n > 0 && n < m, "{n} of {m}");
    assert!(
        err.contains("socle-update.json"),
        "how to abandon it: {err}"
    );
    let (code, _, err) = socle(&dir, &["update", "--allow-dirty", "--spec", &spec]);
    assert_eq!(code, 2, "--allow-dirty does not skip the journal: {err}");
    // Resuming with another spec would mix two renders.
    let (code, _, err) = socle(&dir, &["update", "--resume"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("from a different render") && err.contains("--spec"),
        "{err}"
    );
    let (code, out, _) = socle(&dir, &["update", "--dry-run", "--spec", &spec]);
    assert_eq!(code, 0);
    assert!(out.contains("was interrupted after writing"), "{out}");
    assert_eq!(tree(&dir), before);

    // --resume finishes it: the same files as the run that went through,
    // the conflict reported once, its markers not nested.
    let (code, out, err) = socle(&dir, &["update", "--resume", "--spec", &spec]);
    assert_eq!(code, 1, "one conflict: {out}{err}");
    assert!(out.contains("(written before the interruption)"), "{out}");
    assert!(out.contains(", 1 conflict(s)"), "{out}");
    assert_eq!(tree(&dir), tree(&reference));
    let settings = read(&dir, "airflow/dags/data_platform/settings.py");
    assert_eq!(settings.matches("<<<<<<<").count(), 1, "{settings}");
    assert!(!dir.join(".git/socle-update.json").exists());
    let (code, _, err) = socle(&dir, &["update", "--resume", "--spec", &spec]);
    assert_eq!(code, 2, "nothing left to resume: {err}");
}
