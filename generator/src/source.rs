//! Where blueprint and environment files come from: the copy embedded in the
//! binary, or a directory on disk (for blueprint authors).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};

static BLUEPRINTS: Dir<'_> = include_dir!("$SOCLE_DATA/blueprints");
static ENVIRONMENTS: Dir<'_> = include_dir!("$SOCLE_DATA/environments");
static POLICIES: Dir<'_> = include_dir!("$SOCLE_DATA/policies");

/// A tree of files, by `/`-separated relative path, in sorted order.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// Human name of the origin, used in error messages.
    pub origin: String,
    /// Path → contents; embedded trees borrow theirs from the binary (a
    /// blueprint is over a megabyte that `socle new` reads, never changes).
    pub files: Vec<(String, Cow<'static, [u8]>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: file names must be UTF-8")]
    NonUtf8 { path: PathBuf },
}

impl Tree {
    /// The blueprint a spec without `blueprint:` renders: the embedded one
    /// whose manifest says `default: true` (a test holds that exactly one
    /// does).
    pub fn embedded_blueprint() -> Self {
        embedded_blueprint_dirs()
            .find(|(_, manifest)| is_default(manifest))
            .map(|(d, _)| blueprint_tree(d))
            .unwrap_or_default()
    }

    /// Every embedded blueprint: each folder of `blueprints/` with a
    /// manifest, in folder order.
    pub fn embedded_blueprints() -> Vec<Self> {
        embedded_blueprint_dirs()
            .map(|(d, _)| blueprint_tree(d))
            .collect()
    }

    /// One file of every embedded blueprint (its manifest, its chart
    /// facts), without copying the rest: each as a tree of that file alone,
    /// named like the blueprint's own tree.
    pub fn embedded_blueprint_file(file: &str) -> Vec<Self> {
        embedded_blueprint_dirs()
            .filter_map(|(d, _)| {
                let folder = d.path().to_string_lossy().replace('\\', "/");
                d.get_file(d.path().join(file)).map(|f| Self {
                    origin: format!("embedded blueprint {folder}"),
                    files: vec![(file.to_owned(), Cow::Borrowed(f.contents()))],
                })
            })
            .collect()
    }

    pub fn embedded_environments() -> Self {
        Self::from_embedded(&ENVIRONMENTS, "embedded environments")
    }

    /// One embedded policy file, without copying the others.
    pub fn embedded_policy_file(path: &str) -> Option<&'static [u8]> {
        POLICIES.get_file(path).map(|f| f.contents())
    }

    /// Every embedded policy file, borrowed from the binary: the policies
    /// folder also holds the bundled schemas (over a megabyte), which the
    /// readers of the Rego modules and the digests need not copy.
    pub fn embedded_policy_files() -> Vec<(String, &'static [u8])> {
        let mut files = Vec::new();
        borrow_embedded(&POLICIES, &mut files);
        files.sort();
        files
    }

    pub fn embedded_policies() -> Self {
        Self::from_embedded(&POLICIES, "embedded policies")
    }

    fn from_embedded(dir: &'static Dir<'static>, origin: &str) -> Self {
        let mut borrowed = Vec::new();
        borrow_embedded(dir, &mut borrowed);
        let mut files: Vec<(String, Cow<'static, [u8]>)> = borrowed
            .into_iter()
            .map(|(p, b)| (p, Cow::Borrowed(b)))
            .collect();
        files.sort();
        Self {
            origin: origin.to_owned(),
            files,
        }
    }

    pub fn from_dir(root: &Path) -> Result<Self, SourceError> {
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
            let entry = entry.map_err(|e| SourceError::Io {
                path: e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf()),
                source: e.into(),
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
            if is_byproduct(rel) {
                continue;
            }
            let rel = rel
                .to_str()
                .ok_or_else(|| SourceError::NonUtf8 {
                    path: entry.path().to_path_buf(),
                })?
                .replace(std::path::MAIN_SEPARATOR, "/");
            let bytes = fs_err::read(entry.path()).map_err(|e| SourceError::Io {
                path: entry.path().to_path_buf(),
                source: e,
            })?;
            files.push((rel, Cow::Owned(bytes)));
        }
        files.sort();
        Ok(Self {
            origin: root.display().to_string(),
            files,
        })
    }

    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files
            .binary_search_by(|(p, _)| p.as_str().cmp(path))
            .ok()
            .map(|i| &*self.files[i].1)
    }

    /// Files under `prefix/`, with the prefix removed.
    pub fn under<'t>(&'t self, prefix: &str) -> impl Iterator<Item = (&'t str, &'t [u8])> + 't {
        let prefix = format!("{prefix}/");
        self.files
            .iter()
            .filter_map(move |(p, b)| p.strip_prefix(prefix.as_str()).map(|rest| (rest, &**b)))
    }
}

fn embedded_blueprint_dirs() -> impl Iterator<Item = (&'static Dir<'static>, &'static [u8])> {
    BLUEPRINTS.dirs().filter_map(|d| {
        d.get_file(d.path().join("blueprint.yaml"))
            .map(|f| (d, f.contents()))
    })
}

/// One blueprint's files, by path inside its folder.
fn blueprint_tree(dir: &'static Dir<'static>) -> Tree {
    let folder = dir.path().to_string_lossy().replace('\\', "/");
    let mut tree = Tree::from_embedded(dir, &format!("embedded blueprint {folder}"));
    let prefix = format!("{folder}/");
    for (path, _) in &mut tree.files {
        if let Some(rest) = path.strip_prefix(&prefix) {
            *path = rest.to_owned();
        }
    }
    tree
}

/// Whether a manifest marks its blueprint as the default one. A top-level
/// key is a line of its own at column 0; the manifest's loader checks the
/// field's type, so this cheap reading cannot disagree with it silently.
fn is_default(manifest: &[u8]) -> bool {
    manifest
        .split(|b| *b == b'\n')
        .any(|l| l.strip_suffix(b"\r").unwrap_or(l) == b"default: true")
}

/// Python's bytecode caches: what running a blueprint's Python (a check,
/// an editor) leaves beside it, never blueprint data. Rendered, they would
/// land in the client's repository.
fn is_byproduct(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "__pycache__")
        || path.extension().is_some_and(|e| e == "pyc")
}

fn borrow_embedded(dir: &Dir<'static>, out: &mut Vec<(String, &'static [u8])>) {
    for file in dir.files() {
        if is_byproduct(file.path()) {
            continue;
        }
        let path = file.path().to_string_lossy().replace('\\', "/");
        out.push((path, file.contents()));
    }
    for sub in dir.dirs() {
        borrow_embedded(sub, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_caches_beside_a_blueprint_are_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("components/app/__pycache__");
        fs_err::create_dir_all(&cache).expect("mkdir");
        fs_err::write(cache.join("init.cpython-311.pyc"), b"\x00").expect("write");
        fs_err::write(dir.path().join("components/app/stray.pyc"), b"\x00").expect("write");
        fs_err::write(dir.path().join("components/app/init.py"), b"pass\n").expect("write");
        let tree = Tree::from_dir(dir.path()).expect("tree");
        let paths: Vec<&str> = tree.files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["components/app/init.py"]);
    }
}
