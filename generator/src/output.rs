//! Writing a rendered file set to disk, all or nothing.
//!
//! Files go to a temporary directory beside the target (same filesystem, so
//! the final step is a rename); the caller may finish the tree there (the git
//! commit), and only then does it replace the target. An interrupted run
//! leaves at most a `.socle-*` temporary directory, never a half-written repo.

use std::path::{Path, PathBuf};

use crate::render::FileSet;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{0} exists and is not empty; choose another --out or pass --force to replace it")]
    NotEmpty(PathBuf),
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn is_empty_dir(path: &Path) -> std::io::Result<bool> {
    Ok(fs_err::read_dir(path)?.next().is_none())
}

/// Write `files` into `target`, running `finish` on the complete temporary
/// tree before it is moved into place.
pub fn write_atomically<E>(
    target: &Path,
    files: &FileSet,
    force: bool,
    finish: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<Result<(), E>, OutputError> {
    let exists = target.exists();
    if exists {
        if !target.is_dir() {
            return Err(OutputError::NotADirectory(target.to_path_buf()));
        }
        if !force && !is_empty_dir(target)? {
            return Err(OutputError::NotEmpty(target.to_path_buf()));
        }
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs_err::create_dir_all(&parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".socle-new-")
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
        // Move the old tree aside first so that the target is never missing
        // content and never holds a mix of old and new files.
        let old = tempfile::Builder::new()
            .prefix(".socle-old-")
            .tempdir_in(&parent)?;
        let old_path = old.path().join("previous");
        fs_err::rename(target, &old_path)?;
        fs_err::rename(staging.keep(), target)?;
        drop(old);
    } else {
        fs_err::rename(staging.keep(), target)?;
    }
    Ok(Ok(()))
}
