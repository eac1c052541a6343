//! Reading the files of a repository: what is read, and what is refused.

use std::path::{Path, PathBuf};

use super::finding::{Finding, Severity};

/// Files larger than this are not parsed (and reported).
pub const MAX_FILE: u64 = 10 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct Input {
    /// Repository-relative path → contents, sorted by path.
    pub files: Vec<(String, Vec<u8>)>,
    /// Problems found while reading (links out of the tree, huge files).
    pub findings: Vec<Finding>,
    pub skipped: Vec<(String, String)>,
    /// Git blob ids of files, when the caller knows them (read from git):
    /// they key the per-file cache without hashing the contents again.
    pub blob_ids: std::collections::HashMap<String, String>,
}

impl Input {
    pub fn from_memory(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        let mut files: Vec<_> = files.into_iter().collect();
        files.sort();
        Self {
            files,
            ..Default::default()
        }
    }

    /// Walk `root`, skipping `.git` and what git ignores (`.gitignore`,
    /// `.git/info/exclude`) unless the index tracks it: what a clone holds
    /// is what is deployed. Symbolic links are not followed: one that
    /// resolves inside the repository is skipped (its target is read on its
    /// own), one that leaves it is a finding.
    pub fn from_dir(root: &Path) -> Result<Self, std::io::Error> {
        let root_real = fs_err::canonicalize(root)?;
        let mut input = Input::default();
        let walker = ignore::WalkBuilder::new(root)
            .follow_links(false)
            .sort_by_file_name(std::cmp::Ord::cmp)
            // Only git's own rules: hidden files are read (`.github/`, a
            // `.env` could hold a credential), and neither `.ignore` files
            // nor the user's global excludes (which differ between a laptop
            // and CI) hide anything.
            .hidden(false)
            .ignore(false)
            .git_global(false)
            .git_ignore(true)
            .git_exclude(true)
            .parents(true)
            .require_git(true)
            // Everything else is read, `.socle/` included: a skipped folder
            // is one a pull request could hide a credential in.
            .filter_entry(|e| e.depth() == 0 || e.file_name() != ".git")
            .build();
        let mut seen = std::collections::HashSet::new();
        for entry in walker {
            let entry =
                entry.map_err(|e| std::io::Error::other(format!("{}: {e}", root.display())))?;
            if entry.depth() == 0 {
                continue;
            }
            let rel = relative(root, entry.path());
            seen.insert(rel.clone());
            input.read(&root_real, &rel, entry.path())?;
        }
        // Tracked files under an ignored pattern.
        if let Some(tracked) = crate::git::tracked_under(root) {
            let mut extra: Vec<&String> = tracked.iter().filter(|p| !seen.contains(*p)).collect();
            extra.sort();
            for rel in extra {
                let path = root.join(rel);
                if fs_err::symlink_metadata(&path).is_ok() && !has_dot_git(rel) {
                    input.read(&root_real, rel, &path)?;
                }
            }
        }
        input.files.sort();
        Ok(input)
    }

    /// Read one walked path (a file, a link or a folder).
    fn read(&mut self, root_real: &Path, rel: &str, path: &Path) -> Result<(), std::io::Error> {
        let meta = fs_err::symlink_metadata(path)?;
        if meta.file_type().is_symlink() {
            let written = fs_err::read_link(path).ok();
            match fs_err::canonicalize(path).ok() {
                Some(t) if t.starts_with(root_real) => self
                    .skipped
                    .push((rel.to_owned(), "symbolic link inside the repository".into())),
                // A link to a path the tree does not hold (its target
                // renamed or removed), which stays inside it when read as
                // written: Argo CD's repo server judges links so, and
                // there is nothing to read.
                None if written.as_deref().is_some_and(|w| stays_inside(rel, w)) => {
                    self.skipped.push((
                        rel.to_owned(),
                        format!(
                            "symbolic link to {}, which the repository does not hold",
                            written
                                .as_deref()
                                .map(Path::display)
                                .map(|d| d.to_string())
                                .unwrap_or_default()
                        ),
                    ))
                }
                _ => self.findings.push(outside(
                    rel,
                    &written
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                )),
            }
            return Ok(());
        }
        if !meta.is_file() {
            return Ok(());
        }
        if meta.len() > MAX_FILE {
            self.findings.push(too_large(rel, meta.len()));
            return Ok(());
        }
        self.files.push((rel.to_owned(), fs_err::read(path)?));
        Ok(())
    }
}

/// A symbolic link that leaves the repository: Argo CD's repo server
/// refuses the whole source, and what it reaches is not the repository's.
pub(crate) fn outside(rel: &str, target: &str) -> Finding {
    Finding::new(
        "SOC-REPO-001",
        Severity::Deny,
        rel,
        None,
        format!("symbolic link to {target} points outside the repository"),
    )
}

/// Whether the link at `rel` (a repository path) to `target`, read as
/// written (`..` against the folders above it, not through other links),
/// stays inside the repository.
pub(crate) fn stays_inside(rel: &str, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: usize = rel.split('/').count().saturating_sub(1);
    for part in target.components() {
        match part {
            std::path::Component::ParentDir => {
                let Some(up) = depth.checked_sub(1) else {
                    return false;
                };
                depth = up;
            }
            std::path::Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    true
}

fn has_dot_git(rel: &str) -> bool {
    rel.split('/').any(|c| c == ".git")
}

/// A file over [`MAX_FILE`] is not parsed, and so not judged: a denial,
/// since it could be deployed (padding a Secret with comments must not
/// carry it past the check).
pub(crate) fn too_large(path: &str, size: u64) -> Finding {
    Finding::new(
        "SOC-REPO-002",
        Severity::Deny,
        path,
        None,
        format!(
            "{:.1} MB: larger than the {} MB socle parses, so not checked; split it, or keep it out of the repository",
            size as f64 / (1024.0 * 1024.0),
            MAX_FILE / (1024 * 1024)
        ),
    )
}

fn relative(root: &Path, path: &Path) -> String {
    let rel: PathBuf = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    rel.to_string_lossy()
        .replace(std::path::MAIN_SEPARATOR, "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_stays_inside_when_its_target_read_as_written_does() {
        assert!(stays_inside(
            "advanced-cluster-security",
            Path::new("rhacs-operator")
        ));
        assert!(stays_inside("a/b/link", Path::new("../../c")));
        assert!(!stays_inside("a/link", Path::new("../../c")));
        assert!(!stays_inside("a/link", Path::new("/etc/passwd")));
        assert!(stays_inside("a/link", Path::new("./x/../y")));
    }
}
