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

    /// Walk `root`, skipping `.git`. Symbolic links are not followed: one
    /// that resolves inside the repository is skipped (its target is read on
    /// its own), one that leaves it is a finding.
    pub fn from_dir(root: &Path) -> Result<Self, std::io::Error> {
        let root_real = fs_err::canonicalize(root)?;
        let mut input = Input::default();
        let walker = walkdir::WalkDir::new(root)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            // Everything else is read, `.socle/` included: the check cache
            // is no longer kept there, and a skipped folder is one a pull
            // request could hide a credential in.
            .filter_entry(|e| e.depth() == 0 || e.file_name() != ".git");
        for entry in walker {
            let entry = entry.map_err(|e| {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf());
                std::io::Error::other(format!("{}: {e}", path.display()))
            })?;
            let rel = relative(root, entry.path());
            if entry.path_is_symlink() {
                let target = fs_err::canonicalize(entry.path()).ok();
                match target {
                    Some(t) if t.starts_with(&root_real) => input
                        .skipped
                        .push((rel, "symbolic link inside the repository".into())),
                    _ => input.findings.push(Finding::new(
                        "SOC-REPO-001",
                        Severity::Deny,
                        &rel,
                        None,
                        format!(
                            "symbolic link to {} points outside the repository",
                            fs_err::read_link(entry.path())
                                .map(|p| p.display().to_string())
                                .unwrap_or_default()
                        ),
                    )),
                }
                continue;
            }
            if !entry.file_type().is_file() {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if size > MAX_FILE {
                input.findings.push(too_large(&rel, size));
                continue;
            }
            input.files.push((rel, fs_err::read(entry.path())?));
        }
        input.files.sort();
        Ok(input)
    }
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
