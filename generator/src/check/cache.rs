//! Per-file results kept on disk between runs (`socle check --cache[=DIR]`).
//!
//! A file's findings depend only on its path, its content and the policies,
//! so an entry is keyed by a digest of (policy bundle, path, blob id), under
//! a directory named by the bundle's digest: a new socle version or a changed
//! repository policy starts a fresh directory, and nothing is ever
//! invalidated in place.
//!
//! An entry that says "no findings" is as good as a pass, so the cache is
//! never where the judged repository can write: by default it is in the
//! user's cache directory, one folder per repository ([`location`]), and a
//! directory inside the repository is refused. Each entry also carries an
//! HMAC over its key and findings, with a random key kept beside the packs
//! (`key`, never in a repository): an entry edited, emptied, moved to
//! another file's key or copied from another cache does not verify, and is
//! evaluated again rather than trusted.
//!
//! Each run adds what it evaluated as one pack file, written to a temporary
//! file and renamed, so runs that share the directory never read half a
//! pack; a pack that does not read is ignored. One file per run rather than
//! per entry because creating hundreds of small files costs more than the
//! evaluation they save. When packs pile up, a run folds them into one.
//! Deleting the directory loses nothing but time.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::finding::Finding;

/// Packs beyond which a run folds every pack it read into one.
const FOLD_AT: usize = 16;

/// The file, in the cache's root, holding the key entries are signed with.
const KEY_FILE: &str = "key";

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("{what} {dir} is inside the repository being checked ({repo}): its files are the pull request's to write, and an entry there could pass anything. Pass --cache=DIR outside the repository, or --cache alone for the user's cache directory")]
    Inside {
        what: &'static str,
        dir: String,
        repo: String,
    },
    #[error("no user cache directory (neither XDG_CACHE_HOME nor HOME is an absolute path); results are not kept. Set one, or pass --cache=DIR outside the repository")]
    NoUserCache,
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn absolute(v: std::ffi::OsString) -> Option<PathBuf> {
    let p = PathBuf::from(v);
    p.is_absolute().then_some(p)
}

#[cfg(windows)]
fn platform_cache_dir() -> Option<PathBuf> {
    absolute(std::env::var_os("LOCALAPPDATA")?)
}

#[cfg(target_os = "macos")]
fn platform_cache_dir() -> Option<PathBuf> {
    Some(
        absolute(std::env::var_os("HOME")?)?
            .join("Library")
            .join("Caches"),
    )
}

#[cfg(not(any(windows, target_os = "macos")))]
fn platform_cache_dir() -> Option<PathBuf> {
    Some(absolute(std::env::var_os("HOME")?)?.join(".cache"))
}

/// The user's cache directory: `$XDG_CACHE_HOME` when set (on every
/// platform, so that CI and tests can move it), else `~/.cache`,
/// `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows.
pub(crate) fn user_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .and_then(absolute)
        .or_else(platform_cache_dir)
}

/// `path` with symbolic links resolved as far as it exists: a cache
/// directory not created yet is judged by where it will be.
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let path = std::path::absolute(path)?;
    let mut existing = path.as_path();
    let mut rest = Vec::new();
    loop {
        match fs_err::canonicalize(existing) {
            Ok(real) => {
                return Ok(rest.iter().rev().fold(real, |p, c| p.join(c)));
            }
            Err(e) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_owned());
                    existing = parent;
                }
                _ => return Err(e),
            },
        }
    }
}

/// Where `socle check --cache[=DIR]` of the repository `repo` keeps its
/// results: DIR, or the user's cache directory's `socle/<repository>-<digest
/// of its canonical path>`. Refused when inside the repository.
pub fn location(repo: &Path, explicit: Option<&Path>) -> Result<PathBuf, LocationError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| LocationError::Io { path, source }
    };
    let repo_real = fs_err::canonicalize(repo).map_err(io(repo))?;
    let (what, dir) = match explicit {
        Some(dir) => ("--cache=DIR", dir.to_path_buf()),
        None => {
            let base = user_cache_dir().ok_or(LocationError::NoUserCache)?;
            let digest = hex(&Sha256::digest(repo_real.to_string_lossy().as_bytes()));
            let name = repo_real
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                "the user cache directory",
                base.join("socle").join(format!("{name}-{}", &digest[..32])),
            )
        }
    };
    // A range check reads the whole repository `repo` is in (the nearest
    // folder holding `.git`), so all of it is the pull request's.
    let judged = repo_real
        .ancestors()
        .find(|a| a.join(".git").exists())
        .unwrap_or(&repo_real);
    if resolve(&dir).map_err(io(&dir))?.starts_with(judged) {
        return Err(LocationError::Inside {
            what,
            dir: dir.display().to_string(),
            repo: judged.display().to_string(),
        });
    }
    Ok(dir)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA256 (RFC 2104) of `parts`, each length-prefixed so that no two
/// different sequences hash alike.
fn mac(secret: &[u8; 32], parts: &[&str]) -> String {
    const BLOCK: usize = 64;
    let mut key = [0u8; BLOCK];
    key[..secret.len()].copy_from_slice(secret);
    let pad = |byte: u8| key.map(|k| k ^ byte);
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    for part in parts {
        inner.update((part.len() as u64).to_le_bytes());
        inner.update(part.as_bytes());
    }
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    hex(&outer.finalize())
}

/// The cache's signing key, created (32 random bytes, readable by the user
/// only) the first time.
fn secret(root: &Path) -> std::io::Result<[u8; 32]> {
    let path = root.join(KEY_FILE);
    let read = || -> std::io::Result<Option<[u8; 32]>> {
        match std::fs::read(&path) {
            Ok(bytes) => Ok(<[u8; 32]>::try_from(bytes.as_slice()).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            )),
        }
    };
    let existed = path.exists();
    if let Some(key) = read()? {
        return Ok(key);
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(root)?;
    tmp.write_all(&key)?;
    if existed {
        // A damaged key: every entry signed with it becomes a miss.
        tmp.persist(&path).map_err(|e| e.error)?;
        return Ok(key);
    }
    match tmp.persist_noclobber(&path) {
        Ok(_) => Ok(key),
        // Another run created it first: its key is the cache's.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => read()?
            .ok_or_else(|| std::io::Error::other(format!("{}: not a cache key", path.display()))),
        Err(e) => Err(e.error),
    }
}

/// One file's findings, as JSON text (the bytes the MAC covers), and the MAC.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    findings: String,
    mac: String,
}

pub struct DiskCache {
    dir: PathBuf,
    bundle: String,
    secret: [u8; 32],
    entries: HashMap<String, Entry>,
    /// Packs read at open (folded away when there are too many).
    packs: Vec<PathBuf>,
    /// Entries evaluated by this run, written as one pack when it ends.
    fresh: Mutex<Vec<(String, Entry)>>,
}

impl DiskCache {
    /// The cache for one policy bundle under `root`, created if missing.
    pub fn open(root: &Path, bundle: &str) -> std::io::Result<Self> {
        let dir = root.join(bundle);
        fs_err::create_dir_all(&dir)?;
        let secret = secret(root)?;
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
            if let Ok(pack) = serde_json::from_slice::<HashMap<String, Entry>>(&bytes) {
                entries.extend(pack);
                packs.push(path);
            }
        }
        Ok(Self {
            dir,
            bundle: bundle.to_owned(),
            secret,
            entries,
            packs,
            fresh: Mutex::new(Vec::new()),
        })
    }

    /// What an entry is filed under: everything its findings depend on.
    fn key(&self, path: &str, blob: &str) -> String {
        hex(&Sha256::digest(
            format!("{}\n{path}\n{blob}", self.bundle).as_bytes(),
        ))
    }

    /// The findings of `path` at `blob`, when an entry for exactly that
    /// verifies; anything else is a miss, to be evaluated.
    pub fn get(&self, path: &str, blob: &str) -> Option<Vec<Finding>> {
        let findings = self.get_any(path, blob)?;
        findings.iter().all(|f| f.file == path).then_some(findings)
    }

    /// The findings filed under `path` and `blob`, about any file (a whole
    /// tree's, filed under a name no file has).
    pub fn get_any(&self, path: &str, blob: &str) -> Option<Vec<Finding>> {
        let key = self.key(path, blob);
        let entry = self.entries.get(&key)?;
        if mac(&self.secret, &[&key, &entry.findings]) != entry.mac {
            return None;
        }
        serde_json::from_str(&entry.findings).ok()
    }

    /// Remember a result; it reaches the disk when the cache is flushed.
    pub fn put(&self, path: &str, blob: &str, findings: &[Finding]) {
        let Ok(text) = serde_json::to_string(findings) else {
            return;
        };
        let key = self.key(path, blob);
        let entry = Entry {
            mac: mac(&self.secret, &[&key, &text]),
            findings: text,
        };
        if let Ok(mut fresh) = self.fresh.lock() {
            fresh.push((key, entry));
        }
    }

    /// Write this run's entries as one pack (and fold the packs into one
    /// when there are many). A cache that cannot be written only costs
    /// time, so the error is for the caller to mention, not to fail on.
    pub fn flush(&mut self) -> std::io::Result<()> {
        let fresh = std::mem::take(
            self.fresh
                .get_mut()
                .map_err(|_| std::io::Error::other("poisoned"))?,
        );
        if fresh.is_empty() {
            return Ok(());
        }
        let fold = self.packs.len() >= FOLD_AT;
        let pack: HashMap<&String, &Entry> = if fold {
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
/// socle's version (its rules and schemas), the repository policies, and
/// the Kubernetes version the schemas are judged for.
pub fn bundle_digest(
    policy_files: &[(String, Vec<u8>)],
    options: &super::Options,
    target: (u32, u32),
) -> String {
    let mut text = format!(
        "socle {}\nlocal {}\nrego-v0 {}\nbounds {:?}\nnamespaces {:?}\nkubernetes {target:?}\ncombine {}\ndata {}\n",
        env!("CARGO_PKG_VERSION"),
        options.local_policies,
        options.rego_v0,
        // A finding that says a bound was hit holds for that bound only.
        options.policy_bounds,
        options.namespaces,
        options.combine,
        options
            .data
            .as_ref()
            .map(|d| crate::git::blob_id(d.to_string().as_bytes()))
            .unwrap_or_default()
    );
    for (path, bytes) in crate::source::Tree::embedded_policy_files() {
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

    /// The entries of every pack under `root`, as stored.
    fn stored(root: &Path) -> Vec<(PathBuf, HashMap<String, Entry>)> {
        walkdir::WalkDir::new(root)
            .into_iter()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
            .map(|e| {
                let pack = serde_json::from_slice(&fs_err::read(e.path()).unwrap()).unwrap();
                (e.into_path(), pack)
            })
            .collect()
    }

    #[test]
    fn an_entry_edited_swapped_or_copied_is_a_miss() {
        let root = tempfile::tempdir().unwrap();
        let deny = |file: &str| Finding::new("SOC-SEC-001", Severity::Deny, file, Some(1), "m");
        {
            let mut cache = DiskCache::open(root.path(), "b").unwrap();
            cache.put("a.yaml", "1", &[deny("a.yaml")]);
            cache.put("b.yaml", "2", &[]);
            cache.flush().unwrap();
        }
        let key =
            |path: &str, blob: &str| DiskCache::open(root.path(), "b").unwrap().key(path, blob);
        let (pack, mut entries) = stored(root.path()).remove(0);
        let clean = entries.get(&key("b.yaml", "2")).unwrap().clone();

        // Emptied: the findings no longer match the MAC.
        entries.get_mut(&key("a.yaml", "1")).unwrap().findings = "[]".into();
        fs_err::write(&pack, serde_json::to_vec(&entries).unwrap()).unwrap();
        assert!(DiskCache::open(root.path(), "b")
            .unwrap()
            .get("a.yaml", "1")
            .is_none());

        // Another file's (valid) entry filed under this file's key.
        entries.insert(key("a.yaml", "1"), clean.clone());
        fs_err::write(&pack, serde_json::to_vec(&entries).unwrap()).unwrap();
        assert!(DiskCache::open(root.path(), "b")
            .unwrap()
            .get("a.yaml", "1")
            .is_none());
        assert!(DiskCache::open(root.path(), "b")
            .unwrap()
            .get("b.yaml", "2")
            .is_some());

        // The same entry in a cache with another key (copied, or forged by
        // someone who cannot read this one's key).
        let other = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(other.path().join("b")).unwrap();
        fs_err::copy(&pack, other.path().join("b").join("x.pack")).unwrap();
        assert!(DiskCache::open(other.path(), "b")
            .unwrap()
            .get("b.yaml", "2")
            .is_none());

        // An entry under another bundle (other policies) is not this one's.
        assert!(DiskCache::open(root.path(), "c")
            .unwrap()
            .get("b.yaml", "2")
            .is_none());

        // The entries of a cache written before entries were signed.
        let legacy = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(legacy.path().join("b")).unwrap();
        fs_err::write(
            legacy.path().join("b").join("old.pack"),
            b"{\"a.yaml\\n1\": []}",
        )
        .unwrap();
        assert!(DiskCache::open(legacy.path(), "b")
            .unwrap()
            .get("a.yaml", "1")
            .is_none());
    }

    #[test]
    fn a_cache_inside_the_repository_is_refused() {
        let repo = tempfile::tempdir().unwrap();
        let inside = repo.path().join(".socle").join("cache");
        assert!(matches!(
            location(repo.path(), Some(&inside)),
            Err(LocationError::Inside { .. })
        ));
        // Through a link from outside, too.
        #[cfg(unix)]
        {
            let out = tempfile::tempdir().unwrap();
            let link = out.path().join("link");
            std::os::unix::fs::symlink(repo.path(), &link).unwrap();
            assert!(matches!(
                location(repo.path(), Some(&link.join("cache"))),
                Err(LocationError::Inside { .. })
            ));
        }
        // Checking a folder of a git repository protects the repository.
        fs_err::create_dir_all(repo.path().join(".git")).unwrap();
        fs_err::create_dir_all(repo.path().join("platform")).unwrap();
        assert!(matches!(
            location(&repo.path().join("platform"), Some(&inside)),
            Err(LocationError::Inside { .. })
        ));
        let out = tempfile::tempdir().unwrap();
        assert_eq!(location(repo.path(), Some(out.path())).unwrap(), out.path());
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
