//! Writing a rendered file set to disk, all or nothing.
//!
//! Files go to a temporary directory beside the target (same filesystem, so
//! the final step is a rename); the caller may finish the tree there (the git
//! commit), and only then does it replace the target. The previous tree is
//! renamed aside whole, the new one renamed in, and only then is the old one
//! deleted. The temporary directories are named after the target
//! (`.socle-new-<name>.XXXXXX`, `.socle-old-<name>.XXXXXX`), so the next run
//! for the same target finds what a killed run left: it puts a previous tree
//! that never got replaced back, and removes the rest.

use std::path::{Path, PathBuf};

use crate::render::FileSet;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{0} exists and is not empty; choose another --out or pass --force to replace it")]
    NotEmpty(PathBuf),
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error("{0}: the output must name a directory (not `.` or `..`); pass its path instead")]
    Unnamed(PathBuf),
    #[error(
        "{path} holds a git repository with work that --force would destroy: {work}; commit and push it, choose another --out, or pass --discard-work as well to replace it anyway"
    )]
    UnsavedWork {
        path: PathBuf,
        work: Box<crate::git::UnsavedWork>,
    },
    #[error(
        "{path} holds a git repository that could not be inspected for unsaved work ({source}); repair it, choose another --out, or pass --discard-work as well to replace it anyway"
    )]
    Uninspectable {
        path: PathBuf,
        source: crate::git::GitError,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What the caller allows to be replaced.
#[derive(Debug, Clone, Copy, Default)]
pub struct Replace {
    /// A non-empty target may be replaced.
    pub force: bool,
    /// ... even when it holds a git repository with uncommitted changes,
    /// untracked files or commits on no remote.
    pub discard_work: bool,
}

fn is_empty_dir(path: &Path) -> std::io::Result<bool> {
    Ok(fs_err::read_dir(path)?.next().is_none())
}

const NEW: &str = ".socle-new-";
const OLD: &str = ".socle-old-";
/// tempfile's default: six random alphanumerics after the prefix.
const RANDOM_LEN: usize = 6;

fn temp_prefix(kind: &str, name: &str) -> String {
    format!("{kind}{name}.")
}

/// Whether `entry` is one of socle's temporary directories of this kind for
/// the target `name`. The random tail must be exactly what tempfile writes,
/// so the folders of a target `repo.x` never pass for those of `repo`.
fn is_ours(entry: &str, kind: &str, name: &str) -> bool {
    entry
        .strip_prefix(&temp_prefix(kind, name))
        .is_some_and(|tail| {
            tail.len() == RANDOM_LEN && tail.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

fn exists_no_follow(path: &Path) -> bool {
    fs_err::symlink_metadata(path).is_ok()
}

/// Undo what a killed run for `target` left in `parent`: a previous tree
/// moved aside while the target is missing goes back into place; staging
/// trees and previous trees already replaced are removed. Nothing but
/// socle's own directories for this target is touched.
fn recover_leftovers(parent: &Path, target: &Path, name: &str) -> Result<(), OutputError> {
    let mut staged = Vec::new();
    let mut old = Vec::new();
    for entry in fs_err::read_dir(parent)? {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        // A symlink or file with our name is not ours to delete.
        if !fs_err::symlink_metadata(entry.path())?.is_dir() {
            continue;
        }
        if is_ours(&file_name, NEW, name) {
            staged.push(entry.path());
        } else if is_ours(&file_name, OLD, name) {
            old.push(entry.path());
        }
    }
    if !exists_no_follow(target) {
        // Killed between the two renames: the newest previous tree is the
        // user's, and goes back.
        let newest = old
            .iter()
            .filter(|d| d.join("previous").is_dir())
            .max_by_key(|d| fs_err::metadata(d).and_then(|m| m.modified()).ok())
            .cloned();
        if let Some(dir) = newest {
            fs_err::rename(dir.join("previous"), target)?;
        }
    }
    for dir in staged.iter().chain(&old) {
        fs_err::remove_dir_all(dir)?;
    }
    Ok(())
}

/// Write `files` into `target`, running `finish` on the complete temporary
/// tree before it is moved into place.
pub fn write_atomically<E>(
    target: &Path,
    files: &FileSet,
    replace: Replace,
    finish: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<Result<(), E>, OutputError> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| OutputError::Unnamed(target.to_path_buf()))?;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs_err::create_dir_all(&parent)?;
    recover_leftovers(&parent, target, &name)?;

    let exists = target.exists();
    if exists {
        if !target.is_dir() {
            return Err(OutputError::NotADirectory(target.to_path_buf()));
        }
        if !replace.force && !is_empty_dir(target)? {
            return Err(OutputError::NotEmpty(target.to_path_buf()));
        }
        if !replace.discard_work {
            match crate::git::unsaved_work(target) {
                Ok(None) => {}
                Ok(Some(work)) => {
                    return Err(OutputError::UnsavedWork {
                        path: target.to_path_buf(),
                        work: Box::new(work),
                    });
                }
                Err(source) => {
                    return Err(OutputError::Uninspectable {
                        path: target.to_path_buf(),
                        source,
                    });
                }
            }
        }
    }
    let staging = tempfile::Builder::new()
        .prefix(&temp_prefix(NEW, &name))
        .rand_bytes(RANDOM_LEN)
        .tempdir_in(&parent)?;
    // Each directory is created once: on slow filesystems a failed mkdir
    // per file costs as much as the file itself.
    let mut made = std::collections::BTreeSet::new();
    for (path, bytes) in files {
        if let Some((dir, _)) = path.rsplit_once('/') {
            if !made.contains(dir) {
                fs_err::create_dir_all(staging.path().join(dir))?;
                let mut d = dir;
                loop {
                    made.insert(d.to_owned());
                    match d.rsplit_once('/') {
                        Some((parent, _)) => d = parent,
                        None => break,
                    }
                }
            }
        }
        fs_err::write(staging.path().join(path), bytes)?;
    }
    if let Err(e) = finish(staging.path()) {
        return Ok(Err(e));
    }
    if exists {
        // The old tree stays whole beside the target until the new one is in
        // place: a run killed in between leaves it for the next run to put back.
        let old = tempfile::Builder::new()
            .prefix(&temp_prefix(OLD, &name))
            .rand_bytes(RANDOM_LEN)
            .tempdir_in(&parent)?
            .keep();
        let previous = old.join("previous");
        fs_err::rename(target, &previous)?;
        if let Err(e) = fs_err::rename(staging.path(), target) {
            // The user's tree goes back; the staging tree is dropped.
            fs_err::rename(&previous, target)?;
            fs_err::remove_dir(&old)?;
            return Err(e.into());
        }
        let _ = staging.keep();
        // The new tree is in place: a previous tree that fails to go now is
        // removed by the next run for this target, so this run still succeeds.
        let _ = fs_err::remove_dir_all(&old);
    } else {
        fs_err::rename(staging.path(), target)?;
        let _ = staging.keep();
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_targets_temporary_directories_are_ours() {
        assert!(is_ours(".socle-new-repo.AbC123", NEW, "repo"));
        assert!(is_ours(".socle-old-repo.000000", OLD, "repo"));
        assert!(!is_ours(".socle-old-repo.AbC123", NEW, "repo"));
        assert!(!is_ours(".socle-new-repo.x.AbC123", NEW, "repo"));
        assert!(!is_ours(".socle-new-repo.AbC12", NEW, "repo"));
        assert!(!is_ours(".socle-new-repo.AbC1234", NEW, "repo"));
        assert!(!is_ours(".socle-new-repox", NEW, "repo"));
        assert!(!is_ours(".socle-new-AbC123", NEW, "repo"));
    }
}
