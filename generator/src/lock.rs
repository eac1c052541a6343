//! The lock file (`socle.lock`): what rendered this repository, so that a
//! later socle can render it again and tell generated files from edited ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::render::FileSet;
use crate::source::Tree;

pub const PATH: &str = "socle.lock";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Lock {
    pub socle_version: String,
    pub blueprint: BlueprintRef,
    pub spec: String,
    /// Generated path → git blob id of what was rendered.
    pub files: BTreeMap<String, String>,
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
    let mut buf = Vec::new();
    for tree in trees {
        for (path, bytes) in &tree.files {
            buf.extend_from_slice(format!("{} {}\n", path, bytes.len()).as_bytes());
            buf.extend_from_slice(bytes);
        }
    }
    crate::git::blob_id(&buf)
}

impl Lock {
    pub fn new(name: &str, version: &str, digest: String, spec: &str, files: &FileSet) -> Self {
        Self {
            socle_version: env!("CARGO_PKG_VERSION").to_owned(),
            blueprint: BlueprintRef {
                name: name.to_owned(),
                version: version.to_owned(),
                digest,
            },
            spec: spec.to_owned(),
            files: files
                .iter()
                .map(|(p, b)| (p.clone(), crate::git::blob_id(b)))
                .collect(),
        }
    }

    pub fn to_yaml(&self) -> String {
        let body = serde_yaml::to_string(self).unwrap_or_default();
        format!(
            "# Written by socle: how this repository was rendered, so that it can be\n# rendered again. Do not edit by hand.\n{body}"
        )
    }
}
