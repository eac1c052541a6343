//! The lock file (`socle.lock`): what rendered this repository, so that a
//! later socle can render it again and tell generated files from edited ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::render::FileSet;
use crate::source::Tree;

pub const PATH: &str = crate::core::LOCK_PATH;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{0}: no socle.lock here; this repository was not rendered by socle (or its lock file was deleted: restore it from git history)")]
    Missing(String),
    #[error("{path}: not a socle lock file ({message}); restore it from git history")]
    Invalid { path: String, message: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lock {
    pub socle_version: String,
    pub blueprint: BlueprintRef,
    pub spec: String,
    /// The embedded policies this repository was rendered under, so that an
    /// update can say which rules changed.
    pub policies: PolicyRef,
    /// Every generated path: what was rendered, and from which blueprint file.
    pub files: BTreeMap<String, LockedFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PolicyRef {
    /// Digest of the embedded policy files.
    pub digest: String,
    /// Ids of the catalogued rules.
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockedFile {
    /// Git blob id of the rendered content: a file whose blob id still
    /// matches is untouched since socle wrote it.
    pub blob: String,
    /// The blueprint file it was rendered from (`spec` for `socle.yaml`).
    pub from: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlueprintRef {
    pub name: String,
    pub version: String,
    /// Digest of every blueprint and environment-default file, so an edited
    /// blueprint is told apart from the released one of the same version.
    pub digest: String,
}

/// One digest over several trees: path and length delimit each file.
pub fn digest(trees: &[&Tree]) -> String {
    digest_files(
        trees
            .iter()
            .flat_map(|t| t.files.iter().map(|(p, b)| (p.as_str(), &**b))),
    )
}

/// [`digest`] of files listed one by one.
fn digest_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut buf = Vec::new();
    for (path, bytes) in files {
        buf.extend_from_slice(format!("{} {}\n", path, bytes.len()).as_bytes());
        buf.extend_from_slice(bytes);
    }
    crate::git::blob_id(&buf)
}

impl Lock {
    pub fn new(
        name: &str,
        version: &str,
        digest: String,
        spec: &str,
        files: &FileSet,
        sources: &BTreeMap<String, String>,
    ) -> Self {
        let catalog = crate::core::catalog::Catalog::embedded();
        Self {
            socle_version: env!("CARGO_PKG_VERSION").to_owned(),
            blueprint: BlueprintRef {
                name: name.to_owned(),
                version: version.to_owned(),
                digest,
            },
            spec: spec.to_owned(),
            policies: PolicyRef {
                digest: digest_files(
                    Tree::embedded_policy_files()
                        .iter()
                        .map(|(p, b)| (p.as_str(), *b)),
                ),
                rules: catalog.rules.iter().map(|r| r.id.clone()).collect(),
            },
            files: files
                .iter()
                .map(|(p, b)| {
                    let from = sources.get(p).cloned().unwrap_or_else(|| "spec".to_owned());
                    (
                        p.clone(),
                        LockedFile {
                            blob: crate::git::blob_id(b),
                            from,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Read a repository's lock file, naming the file in every error.
    pub fn read(dir: &std::path::Path) -> Result<Self, LockError> {
        let path = dir.join(PATH);
        let text = match fs_err::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LockError::Missing(dir.display().to_string()))
            }
            Err(e) => return Err(LockError::Io(e)),
        };
        crate::yaml::from_str(&text).map_err(|e| LockError::Invalid {
            path: path.display().to_string(),
            message: crate::yaml::describe(&e),
        })
    }

    pub fn to_yaml(&self) -> String {
        let body = serde_json::to_value(self)
            .map(|v| crate::yaml::to_string(&v))
            .unwrap_or_default();
        format!(
            "# Written by socle: how this repository was rendered, so that it can be\n# rendered again. Do not edit by hand.\n{body}"
        )
    }
}
