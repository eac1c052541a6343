//! Per-file results kept on disk between runs (`socle check --cache DIR`).
//!
//! A file's findings depend only on its path, its content and the policies,
//! so an entry is keyed by (path, blob id) under a directory named by the
//! policy bundle's digest: a new socle version or a changed repository
//! policy starts a fresh directory, and nothing is ever invalidated in
//! place.
//!
//! Each run adds what it evaluated as one pack file, written to a temporary
//! file and renamed, so runs that share the directory never read half a
//! pack; a pack that does not read is ignored. One file per run rather than
//! per entry because creating hundreds of small files costs more than the
//! evaluation they save. When packs pile up, a run folds them into one.
//! Deleting the directory loses nothing but time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::finding::Finding;

/// Packs beyond which a run folds every pack it read into one.
const FOLD_AT: usize = 16;

pub struct DiskCache {
    dir: PathBuf,
    entries: HashMap<String, Vec<Finding>>,
    /// Packs read at open (folded away when there are too many).
    packs: Vec<PathBuf>,
    /// Entries evaluated by this run, written as one pack when it ends.
    fresh: Mutex<Vec<(String, Vec<Finding>)>>,
}

fn key(path: &str, blob: &str) -> String {
    format!("{path}\n{blob}")
}

impl DiskCache {
    /// The cache for one policy bundle under `root`, created if missing.
    pub fn open(root: &Path, bundle: &str) -> std::io::Result<Self> {
        let dir = root.join(bundle);
        fs_err::create_dir_all(&dir)?;
        let mut entries = HashMap::new();
        let mut packs = Vec::new();
        for e in fs_err::read_dir(&dir)?.flatten() {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "pack") {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if let Ok(pack) = serde_json::from_slice::<HashMap<String, Vec<Finding>>>(&bytes) {
                entries.extend(pack);
                packs.push(path);
            }
        }
        Ok(Self {
            dir,
            entries,
            packs,
            fresh: Mutex::new(Vec::new()),
        })
    }

    pub fn get(&self, path: &str, blob: &str) -> Option<Vec<Finding>> {
        self.entries.get(&key(path, blob)).cloned()
    }

    /// Remember a result; it reaches the disk when the cache is flushed.
    pub fn put(&self, path: &str, blob: &str, findings: &[Finding]) {
        if let Ok(mut fresh) = self.fresh.lock() {
            fresh.push((key(path, blob), findings.to_vec()));
        }
    }

    /// Write this run's entries as one pack (and fold the packs into one
    /// when there are many). A cache that cannot be written only costs
    /// time, so the error is for the caller to mention, not to fail on.
    pub fn flush(&mut self) -> std::io::Result<()> {
        use std::io::Write as _;
        let fresh = std::mem::take(
            self.fresh
                .get_mut()
                .map_err(|_| std::io::Error::other("poisoned"))?,
        );
        if fresh.is_empty() {
            return Ok(());
        }
        let fold = self.packs.len() >= FOLD_AT;
        let pack: HashMap<&String, &Vec<Finding>> = if fold {
            self.entries
                .iter()
                .chain(fresh.iter().map(|(k, v)| (k, v)))
                .collect()
        } else {
            fresh.iter().map(|(k, v)| (k, v)).collect()
        };
        let bytes = serde_json::to_vec(&pack).map_err(std::io::Error::other)?;
        let name = crate::git::blob_id(&bytes);
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&bytes)?;
        tmp.persist(self.dir.join(format!("{name}.pack")))
            .map_err(|e| e.error)?;
        if fold {
            // Their entries are in the pack just written; a run reading
            // them at this moment already holds them open.
            for old in std::mem::take(&mut self.packs) {
                let _ = std::fs::remove_file(old);
            }
        }
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
    fn entries_round_trip_through_packs_and_damage_is_a_miss() {
        let root = tempfile::tempdir().unwrap();
        let f = Finding::new("SOC-X", Severity::Deny, "a.yaml", Some(3), "m");
        {
            let mut cache = DiskCache::open(root.path(), "b").unwrap();
            assert!(cache.get("a.yaml", "1").is_none());
            cache.put("a.yaml", "1", std::slice::from_ref(&f));
            cache.flush().unwrap();
        }
        let cache = DiskCache::open(root.path(), "b").unwrap();
        let back = cache.get("a.yaml", "1").unwrap();
        assert_eq!((back[0].rule.as_str(), back[0].line), ("SOC-X", Some(3)));
        // Same content under another path is another entry.
        assert!(cache.get("b.yaml", "1").is_none());
        // A torn pack is ignored, not an error.
        fs_err::write(root.path().join("b").join("torn.pack"), b"{not json").unwrap();
        let cache = DiskCache::open(root.path(), "b").unwrap();
        assert!(cache.get("a.yaml", "1").is_some());
    }

    #[test]
    fn many_packs_are_folded_into_one() {
        let root = tempfile::tempdir().unwrap();
        for i in 0..=FOLD_AT {
            let mut cache = DiskCache::open(root.path(), "b").unwrap();
            cache.put(&format!("f{i}.yaml"), "1", &[]);
            cache.flush().unwrap();
        }
        let packs = fs_err::read_dir(root.path().join("b")).unwrap().count();
        assert_eq!(packs, 1, "folded");
        let cache = DiskCache::open(root.path(), "b").unwrap();
        for i in 0..=FOLD_AT {
            assert!(cache.get(&format!("f{i}.yaml"), "1").is_some(), "f{i}");
        }
    }
}
