//! Per-file results kept on disk between runs (`socle check --cache DIR`).
//!
//! A file's findings depend only on its path, its content and the policies,
//! so an entry is named by (path, blob id) under a directory named by the
//! policy bundle's digest: a new socle version or a changed repository
//! policy starts a fresh directory, and nothing is ever invalidated in
//! place. Entries are written to a temporary file and renamed, so runs that
//! share the directory never read half an entry; an unreadable entry is a
//! miss. Deleting the directory loses nothing but time.

use std::path::{Path, PathBuf};

use super::finding::Finding;

pub struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    /// The cache for one policy bundle under `root`, created if missing.
    pub fn open(root: &Path, bundle: &str) -> std::io::Result<Self> {
        let dir = root.join(bundle);
        fs_err::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn entry(&self, path: &str, blob: &str) -> PathBuf {
        let name = crate::git::blob_id(format!("{path}\n{blob}").as_bytes());
        self.dir.join(format!("{name}.json"))
    }

    pub fn get(&self, path: &str, blob: &str) -> Option<Vec<Finding>> {
        let bytes = std::fs::read(self.entry(path, blob)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Best effort: a cache that cannot be written only costs time, so the
    /// error is returned for the caller to mention, never to fail on.
    pub fn put(&self, path: &str, blob: &str, findings: &[Finding]) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&serde_json::to_vec(findings).map_err(std::io::Error::other)?)?;
        tmp.persist(self.entry(path, blob)).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The digest of everything a file's findings depend on besides the file:
/// socle's version (its rules and schemas), and the repository policies.
pub fn bundle_digest(policy_files: &[(String, Vec<u8>)], options: &super::Options) -> String {
    let mut text = format!(
        "socle {}\nlocal {}\nrego-v0 {}\n",
        env!("CARGO_PKG_VERSION"),
        options.local_policies,
        options.rego_v0
    );
    for (path, bytes) in crate::source::Tree::embedded_policies().files.iter() {
        text.push_str(&format!("embedded {path} {}\n", crate::git::blob_id(bytes)));
    }
    if options.local_policies {
        for (path, bytes) in policy_files.iter().filter(|(p, _)| p.ends_with(".rego")) {
            text.push_str(&format!("local {path} {}\n", crate::git::blob_id(bytes)));
        }
    }
    crate::git::blob_id(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::finding::Severity;

    #[test]
    fn entries_round_trip_and_misses_are_none() {
        let root = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(root.path(), "b").unwrap();
        assert!(cache.get("a.yaml", "1").is_none());
        let f = Finding::new("SOC-X", Severity::Deny, "a.yaml", Some(3), "m");
        cache.put("a.yaml", "1", std::slice::from_ref(&f)).unwrap();
        let back = cache.get("a.yaml", "1").unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!((back[0].rule.as_str(), back[0].line), ("SOC-X", Some(3)));
        // Same content under another path is another entry.
        assert!(cache.get("b.yaml", "1").is_none());
        // A torn or foreign file is a miss, not an error.
        fs_err::write(cache.entry("c.yaml", "2"), b"{not json").unwrap();
        assert!(cache.get("c.yaml", "2").is_none());
    }
}
