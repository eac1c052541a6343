//! Git: the only module that talks to repositories (through gix, so no git
//! binary is needed on the consultant's machine).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use gix::objs::tree::EntryKind;

use crate::render::FileSet;

#[derive(Debug, thiserror::Error)]
#[error("git: {step} in {path}: {message}")]
pub struct GitError {
    pub step: &'static str,
    pub path: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl Identity {
    /// Parse `Name <email>`.
    pub fn parse(text: &str) -> Option<Self> {
        let (name, rest) = text.split_once('<')?;
        let email = rest.strip_suffix('>')?.trim();
        let name = name.trim();
        (!name.is_empty()
            && email.contains('@')
            && !email.contains(['<', '>', '\n'])
            && !name.contains('\n'))
        .then(|| Self {
            name: name.to_owned(),
            email: email.to_owned(),
        })
    }
}

/// The fallback author when neither the spec, `--author` nor git config name one.
pub const DEFAULT_IDENTITY: (&str, &str) = ("socle", "socle@localhost");

/// Initialise a repository in `dir` (which already holds exactly `files`),
/// commit every file on `branch`, and write the index so that `git status`
/// is clean. Returns the commit id.
pub fn init_and_commit(
    dir: &Path,
    files: &FileSet,
    branch: &str,
    author: Option<&Identity>,
    message: &str,
) -> Result<String, GitError> {
    let err = |step: &'static str| {
        let path = dir.display().to_string();
        move |e: &dyn std::fmt::Display| GitError {
            step,
            path: path.clone(),
            message: e.to_string(),
        }
    };
    // Objects are collected in memory and written as a single pack: hundreds
    // of loose objects would cost one file, one rename and often one
    // directory each, which dominates the run time on slow filesystems.
    let mut repo = gix::init(dir).map_err(|e| err("init")(&e))?;
    repo.objects.enable_object_memory();

    let tree = write_tree(&repo, files).map_err(|e| err("tree")(&e))?;

    let signature = signature(&repo, author);
    let mut buf = gix::date::parse::TimeBuf::default();
    let sig = signature.to_ref(&mut buf);
    let reference = format!("refs/heads/{branch}");
    let commit = repo
        .commit_as(
            sig,
            sig,
            reference.as_str(),
            message,
            tree,
            std::iter::empty::<gix::ObjectId>(),
        )
        .map_err(|e| err("commit")(&e))?
        .detach();

    let objects = repo.objects.take_object_memory().unwrap_or_default();
    write_pack(&repo.git_dir().join("objects").join("pack"), &objects)
        .map_err(|e| err("pack")(&e))?;
    // What was rendered is what was committed: the base of the first update.
    set_pristine(&repo, commit, "socle new").map_err(|e| err("pristine")(&e))?;

    // HEAD names the spec's branch whatever init.defaultBranch says.
    fs_err::write(repo.git_dir().join("HEAD"), format!("ref: {reference}\n"))
        .map_err(|e| err("HEAD")(&e))?;

    let mut index = repo.index_from_tree(&tree).map_err(|e| err("index")(&e))?;
    for (entry, path) in index.entries_mut_with_paths() {
        let full = dir.join(std::str::from_utf8(path).map_err(|e| err("index")(&e))?);
        let meta =
            gix::index::fs::Metadata::from_path_no_follow(&full).map_err(|e| err("index")(&e))?;
        if let Ok(stat) = gix::index::entry::Stat::from_fs(&meta) {
            entry.stat = stat;
        }
    }
    index
        .write(Default::default())
        .map_err(|e| err("index")(&e))?;
    Ok(commit.to_string())
}

/// Who commits, and when: `author`, else git config, else socle. The time
/// honours SOURCE_DATE_EPOCH, which makes a commit reproducible as for builds.
fn signature(repo: &gix::Repository, author: Option<&Identity>) -> gix::actor::Signature {
    let configured = repo.committer().and_then(Result::ok).map(|s| Identity {
        name: s.name.to_string(),
        email: s.email.to_string(),
    });
    let who = author.cloned().or(configured).unwrap_or(Identity {
        name: DEFAULT_IDENTITY.0.into(),
        email: DEFAULT_IDENTITY.1.into(),
    });
    let time = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .map(|s| gix::date::Time::new(s, 0))
        .unwrap_or_else(gix::date::Time::now_local_or_utc);
    gix::actor::Signature {
        name: who.name.into(),
        email: who.email.into(),
        time,
    }
}

/// Where socle keeps what it rendered last (a commit whose tree is the
/// rendered file set, parented on the previous one): the base of the
/// three-way merge that `socle update` performs.
pub const PRISTINE_REF: &str = "refs/socle/pristine";

fn write_tree(repo: &gix::Repository, files: &FileSet) -> Result<gix::ObjectId, String> {
    let mut editor = repo
        .edit_tree(gix::ObjectId::empty_tree(repo.object_hash()))
        .map_err(|e| e.to_string())?;
    for (path, bytes) in files {
        let id = repo.write_blob(bytes).map_err(|e| e.to_string())?;
        editor
            .upsert(path.as_str(), EntryKind::Blob, id)
            .map_err(|e| e.to_string())?;
    }
    Ok(editor.write().map_err(|e| e.to_string())?.detach())
}

fn set_pristine(repo: &gix::Repository, commit: gix::ObjectId, why: &str) -> Result<(), String> {
    repo.reference(
        PRISTINE_REF,
        commit,
        gix::refs::transaction::PreviousValue::Any,
        why,
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Record `files` as the new pristine render of the repository containing
/// `dir`, on top of the previous one. Only objects the repository lacks are
/// written, as one pack. Returns the new commit id.
pub fn record_pristine(dir: &Path, files: &FileSet, message: &str) -> Result<String, GitError> {
    let fail = |step: &'static str| {
        let path = dir.display().to_string();
        move |e: String| GitError {
            step,
            path: path.clone(),
            message: e,
        }
    };
    let mut repo = gix::discover(dir).map_err(|e| fail("open")(e.to_string()))?;
    let parent = repo
        .try_find_reference(PRISTINE_REF)
        .ok()
        .flatten()
        .and_then(|mut r| r.peel_to_id().ok().map(|id| id.detach()));
    repo.objects.enable_object_memory();
    let tree = write_tree(&repo, files).map_err(fail("tree"))?;
    let signature = signature(&repo, None);
    let mut buf = gix::date::parse::TimeBuf::default();
    let sig = signature.to_ref(&mut buf);
    let commit = repo
        .new_commit_as(sig, sig, message, tree, parent)
        .map_err(|e| fail("commit")(e.to_string()))?
        .id;
    let mut objects = repo.objects.take_object_memory().unwrap_or_default();
    objects.retain(|id, _| !repo.has_object(id));
    if !objects.is_empty() {
        write_pack(&repo.git_dir().join("objects").join("pack"), &objects).map_err(fail("pack"))?;
    }
    set_pristine(&repo, commit, "socle update").map_err(fail("pristine"))?;
    Ok(commit.to_string())
}

fn write_pack(pack_dir: &Path, objects: &gix::odb::memory::Storage) -> Result<(), String> {
    use gix_pack::data::output;
    let mut ids: Vec<_> = objects.keys().copied().collect();
    ids.sort();
    // Each object compresses on its own: on every core.
    let entries = crate::parallel::map(&ids, |id| {
        let (kind, data) = &objects[id];
        let count = output::Count::from_data(*id, None);
        output::Entry::from_data(
            &count,
            &gix::objs::Data::new(data, *kind, gix::hash::Kind::Sha1),
            gix_zlib::Compression::BEST_SPEED,
        )
        .map_err(|e| e.to_string())
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let mut pack = Vec::new();
    let num = entries.len() as u32;
    let chunks = std::iter::once(Ok(entries));
    for step in output::bytes::FromEntriesIter::new(
        chunks,
        &mut pack,
        num,
        gix_pack::data::Version::V2,
        gix::hash::Kind::Sha1,
    ) {
        step.map_err(|e| e.to_string())?;
    }
    fs_err::create_dir_all(pack_dir).map_err(|e| e.to_string())?;
    gix_pack::Bundle::write_to_directory(
        &mut pack.as_slice(),
        Some(pack_dir),
        &mut gix::progress::Discard,
        &std::sync::atomic::AtomicBool::new(false),
        None::<gix::objs::find::Never>,
        gix::hash::Kind::Sha1,
        gix_pack::bundle::write::Options::default(),
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// A digest of `bytes` for keys that live in memory or in socle's own
/// cache, never compared with git's ids: SHA-256, which processors with
/// SHA extensions compute faster than the collision-detecting SHA-1 that
/// blob ids need; a range hashes each environment's model per commit.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// The git blob id of `bytes`, as `git hash-object` prints it.
pub fn blob_id(bytes: &[u8]) -> String {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes)
        .map(|id| id.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_parse() {
        assert_eq!(
            Identity::parse("Jane Doe <jane@acme.example>"),
            Some(Identity {
                name: "Jane Doe".into(),
                email: "jane@acme.example".into()
            })
        );
        assert_eq!(Identity::parse("no email"), None);
        assert_eq!(Identity::parse("<x@y>"), None);
    }

    #[test]
    fn blob_ids_match_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }
}

/// A commit as range checks report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: String,
    pub short: String,
    pub subject: String,
    pub parents: Vec<String>,
}

/// Listings of the subtrees of the last tree read (see
/// [`Reader::files_with`]).
#[derive(Default)]
pub struct TreeMemo(HashMap<gix::ObjectId, std::rc::Rc<Listing>>);

/// One tree's entries: its files, and its folders by their own listing,
/// shared with every tree that holds the same folder. A commit that
/// changes one file reads the trees above it alone, and each of those
/// lists its own entries, not every file below it.
#[derive(Default)]
struct Listing {
    files: Vec<TreeFile>,
    folders: Vec<(String, std::rc::Rc<Listing>)>,
}

impl Listing {
    /// Every file below, its path under `prefix`, or the bound it would
    /// pass: folders nested too deep (a listing read at a shallow place
    /// may be reused deeper, so the bound holds here too), or too many
    /// files (a tree may name one folder many times, and each of those
    /// folders the next: a few kilobytes of trees can list billions of
    /// files).
    fn flatten(
        &self,
        prefix: &mut String,
        depth: usize,
        out: &mut Vec<TreeFile>,
    ) -> Result<(), String> {
        if depth > MAX_TREE_DEPTH {
            return Err(format!("folders nest deeper than {MAX_TREE_DEPTH} levels"));
        }
        if out.len() + self.files.len() > MAX_TREE_FILES {
            return Err(format!(
                "the tree lists more than {MAX_TREE_FILES} files (folders repeated under many names?)"
            ));
        }
        let len = prefix.len();
        for f in &self.files {
            prefix.push_str(&f.path);
            out.push(TreeFile {
                path: prefix.clone(),
                blob: f.blob.clone(),
                link: f.link,
            });
            prefix.truncate(len);
        }
        for (name, listing) in &self.folders {
            prefix.push_str(name);
            prefix.push('/');
            listing.flatten(prefix, depth + 1, out)?;
            prefix.truncate(len);
        }
        Ok(())
    }
}

/// Git itself refuses paths this deep; a crafted tree cannot exhaust the
/// stack.
const MAX_TREE_DEPTH: usize = 256;

/// Far above any repository's files (the Linux kernel's tree lists under
/// 100,000): a listing this long would take about 100 MB before a single
/// file is read.
const MAX_TREE_FILES: usize = 500_000;

/// A file of a commit's tree: path, blob id, and whether it is a symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    pub path: String,
    pub blob: String,
    pub link: bool,
}

/// What gix says of an object it cannot decode ("Object type 0 is
/// unsupported", "Failed to decompress pack entry") is true but tells the
/// user neither that the repository is damaged nor what to do: say both.
fn corruption(message: String) -> String {
    const MARKS: [&str; 5] = [
        "is unsupported",
        "decompress",
        "Failed to decode",
        "checksum",
        "corrupt",
    ];
    if MARKS.iter().any(|m| message.contains(m)) {
        corrupt(&message)
    } else {
        message
    }
}

fn corrupt(detail: &str) -> String {
    format!(
        "the repository's object database is corrupt (a damaged pack or object file: \
         {detail}); `git fsck` names the damaged objects: restore them from another clone"
    )
}

/// Read access to a repository's object database: commits, trees and blobs,
/// straight from git's storage (no checkout, no git binary).
pub struct Reader {
    repo: gix::Repository,
    path: String,
}

/// What a revision the repository cannot resolve means, in the user's
/// terms: gix's messages name its parser's internals
/// (`delegate.traverse(NthAncestor(999)) failed, input="~999"`).
fn why_unresolved(message: &str) -> String {
    let number = |after: &str| {
        message.split_once(after).and_then(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u64>().ok()
        })
    };
    if let Some(n) = number("NthAncestor(") {
        return format!(
            "the history there has fewer than {n} ancestor(s) (`git log --oneline` shows it)"
        );
    }
    if let Some(n) = number("NthParent(") {
        return format!("that commit has no parent {n}");
    }
    if message.contains("unknown navigation") {
        return "that commit has no such parent (REV^N is the Nth parent of a merge)".into();
    }
    if message.contains("couldn't parse") || message.contains("could not parse") {
        return "not a revision socle can read: use a branch, a tag, a commit id, or REV~N / REV^N"
            .into();
    }
    // Otherwise the message without the parser's echo of the input.
    let plain = message.split(", input=").next().unwrap_or(message);
    if plain.contains("delegate") {
        "no branch, tag or commit has that name".into()
    } else {
        plain.to_owned()
    }
}

impl Reader {
    pub fn open(dir: &Path) -> Result<Self, GitError> {
        let path = dir.display().to_string();
        let repo = gix::discover(dir).map_err(|e| GitError {
            step: "open",
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(Self { repo, path })
    }

    fn err(&self, step: &'static str, e: impl std::fmt::Display) -> GitError {
        GitError {
            step,
            path: self.path.clone(),
            message: corruption(e.to_string()),
        }
    }

    /// The commit a revision names, as a full id.
    pub fn resolve(&self, rev: &str) -> Result<String, GitError> {
        let id = self.repo.rev_parse_single(rev).map_err(|e| {
            if let Some(damage) = self.damaged_reference(rev) {
                return GitError {
                    step: "resolve",
                    path: self.path.clone(),
                    message: damage,
                };
            }
            let shallow = self.repo.is_shallow().unwrap_or(false);
            let hint = if shallow {
                " (this is a shallow clone: fetch the full history, e.g. `git fetch --unshallow` or `fetch-depth: 0`)"
            } else {
                ""
            };
            self.err(
                "resolve",
                format!("unknown revision {rev:?}{hint}: {}", why_unresolved(&e.to_string())),
            )
        })?;
        let commit = id
            .object()
            .map_err(|e| self.err("resolve", e))?
            .peel_to_commit()
            .map_err(|e| self.err("resolve", format!("{rev:?} is not a commit: {e}")))?;
        Ok(commit.id.to_string())
    }

    /// When `rev` is a reference whose object cannot be read, what to say:
    /// the revision parser reports a damaged commit as a malformed name,
    /// which would send the user looking for a typo.
    fn damaged_reference(&self, rev: &str) -> Option<String> {
        let mut reference = self.repo.find_reference(rev).ok()?;
        // Symbolic references (HEAD -> refs/heads/main) are followed
        // without reading any object; a loop of them gives up.
        for _ in 0..8 {
            match reference.target().try_id().map(ToOwned::to_owned) {
                Some(id) => {
                    return self.repo.find_object(id).err().map(|e| {
                        corrupt(&format!("{rev} points at {id}, which cannot be read: {e}"))
                    });
                }
                None => reference = reference.follow()?.ok()?,
            }
        }
        None
    }

    pub fn commit(&self, id: &str) -> Result<CommitInfo, GitError> {
        let oid = gix::ObjectId::from_hex(id.as_bytes()).map_err(|e| self.err("commit", e))?;
        let commit = self
            .repo
            .find_commit(oid)
            .map_err(|e| self.err("commit", e))?;
        let message = commit.message_raw_sloppy().to_string();
        Ok(CommitInfo {
            id: id.to_owned(),
            short: id[..id.len().min(10)].to_owned(),
            subject: message.lines().next().unwrap_or_default().to_owned(),
            parents: commit.parent_ids().map(|p| p.to_string()).collect(),
        })
    }

    /// The id of a commit's tree: two commits with the same tree hold the
    /// same files (a rebase keeps them).
    pub fn tree_of(&self, commit: &str) -> Result<String, GitError> {
        let oid = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| self.err("tree", e))?;
        Ok(self
            .repo
            .find_commit(oid)
            .map_err(|e| self.err("tree", e))?
            .tree_id()
            .map_err(|e| self.err("tree", e))?
            .to_string())
    }

    /// Whether the repository is a shallow clone (part of its history is
    /// missing).
    pub fn is_shallow(&self) -> bool {
        self.repo.is_shallow().unwrap_or(false)
    }

    /// Commits reachable from `head` and from no remote-tracking branch
    /// (`refs/remotes/*`), oldest first: what a push would publish.
    pub fn unpublished(&self, head: &str) -> Result<Vec<CommitInfo>, GitError> {
        let to_oid =
            |s: &str| gix::ObjectId::from_hex(s.as_bytes()).map_err(|e| self.err("range", e));
        let mut published = Vec::new();
        let refs = self.repo.references().map_err(|e| self.err("range", e))?;
        for r in refs
            .remote_branches()
            .map_err(|e| self.err("range", e))?
            .flatten()
        {
            let mut r = r;
            if let Ok(id) = r.peel_to_id() {
                published.push(id.detach());
            }
        }
        self.walk(to_oid(head)?, published)
    }

    /// Commits reachable from `head` and not from `base`, oldest first.
    pub fn range(&self, base: &str, head: &str) -> Result<Vec<CommitInfo>, GitError> {
        let to_oid =
            |s: &str| gix::ObjectId::from_hex(s.as_bytes()).map_err(|e| self.err("range", e));
        self.walk(to_oid(head)?, vec![to_oid(base)?])
    }

    /// Commits reachable from `head` and from none of `hidden`, oldest first.
    fn walk(
        &self,
        head: gix::ObjectId,
        hidden: Vec<gix::ObjectId>,
    ) -> Result<Vec<CommitInfo>, GitError> {
        let walk = self
            .repo
            .rev_walk([head])
            .with_hidden(hidden)
            .all()
            .map_err(|e| self.err("range", e))?;
        let mut ids = Vec::new();
        for info in walk {
            ids.push(info.map_err(|e| self.err("range", e))?.id.to_string());
        }
        ids.reverse();
        ids.iter().map(|id| self.commit(id)).collect()
    }

    /// Every file of a commit's tree.
    pub fn files(&self, commit: &str) -> Result<Vec<TreeFile>, GitError> {
        self.files_with(commit, &mut TreeMemo::default())
    }

    /// Every file of a commit's tree, reusing the listings of the subtrees
    /// `memo` holds from the previous call: consecutive commits share all
    /// but the folders they changed, which are the only ones read. `memo`
    /// then holds this tree's subtrees, no more, so it does not grow over
    /// a range.
    pub fn files_with(&self, commit: &str, memo: &mut TreeMemo) -> Result<Vec<TreeFile>, GitError> {
        let oid = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| self.err("tree", e))?;
        let tree = self
            .repo
            .find_commit(oid)
            .map_err(|e| self.err("tree", e))?
            .tree_id()
            .map_err(|e| self.err("tree", e))?
            .detach();
        let mut next = TreeMemo::default();
        let listing = self.subtree(tree, memo, &mut next, 0)?;
        *memo = next;
        let mut out = Vec::new();
        listing
            .flatten(&mut String::new(), 0, &mut out)
            .map_err(|bound| self.err("tree", bound))?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The entries of one tree, and of the trees below it.
    fn subtree(
        &self,
        id: gix::ObjectId,
        previous: &TreeMemo,
        next: &mut TreeMemo,
        depth: usize,
    ) -> Result<std::rc::Rc<Listing>, GitError> {
        if let Some(listing) = next.0.get(&id).or_else(|| previous.0.get(&id)) {
            let listing = listing.clone();
            next.0.insert(id, listing.clone());
            return Ok(listing);
        }
        if depth > MAX_TREE_DEPTH {
            return Err(self.err(
                "tree",
                format!("folders nest deeper than {MAX_TREE_DEPTH} levels"),
            ));
        }
        let tree = self.repo.find_tree(id).map_err(|e| self.err("tree", e))?;
        let mut listing = Listing::default();
        let mut subtrees = Vec::new();
        for entry in tree.iter() {
            let entry = entry.map_err(|e| self.err("tree", e))?;
            let mode = entry.mode();
            let name = entry.filename().to_string();
            if mode.is_tree() {
                subtrees.push((name, entry.oid().to_owned()));
            } else if mode.is_blob() || mode.is_link() {
                listing.files.push(TreeFile {
                    path: name,
                    blob: entry.oid().to_string(),
                    link: mode.is_link(),
                });
            }
        }
        for (name, sub) in subtrees {
            let below = self.subtree(sub, previous, next, depth + 1)?;
            listing.folders.push((name, below));
        }
        let listing = std::rc::Rc::new(listing);
        next.0.insert(id, listing.clone());
        Ok(listing)
    }

    /// The files of the index: what the next commit will hold, which is
    /// what a pre-commit hook must judge (the working tree may differ).
    /// Files added with `--intent-to-add` hold nothing yet and are left
    /// out; a conflict or a sparse index is an error, since the next commit
    /// cannot be told from it.
    pub fn staged(&self) -> Result<Vec<TreeFile>, GitError> {
        use gix::index::entry::{Flags, Mode};
        let index = self
            .repo
            .index_or_empty()
            .map_err(|e| self.err("index", e))?;
        let mut out = Vec::new();
        for entry in index.entries() {
            let path = entry.path(&index).to_string();
            if entry.stage_raw() != 0 {
                return Err(self.err(
                    "index",
                    format!("{path} has an unresolved conflict: resolve it and stage the result"),
                ));
            }
            if entry.mode.is_sparse() {
                return Err(self.err(
                    "index",
                    format!("{path}/ is collapsed in a sparse index, so its files cannot be read: check the working tree, or run `git sparse-checkout disable`"),
                ));
            }
            if entry.flags.contains(Flags::INTENT_TO_ADD) || entry.mode.is_submodule() {
                continue;
            }
            out.push(TreeFile {
                path,
                blob: entry.id.to_string(),
                link: entry.mode == Mode::SYMLINK,
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The commit of the last render (`refs/socle/pristine`), if any.
    pub fn pristine(&self) -> Option<String> {
        let mut r = self.repo.try_find_reference(PRISTINE_REF).ok().flatten()?;
        r.peel_to_id().ok().map(|id| id.to_string())
    }

    /// HEAD's commit, if the repository has one.
    pub fn head(&self) -> Option<String> {
        self.repo.head_id().ok().map(|id| id.to_string())
    }

    pub fn blob(&self, id: &str) -> Result<Vec<u8>, GitError> {
        let oid = gix::ObjectId::from_hex(id.as_bytes()).map_err(|e| self.err("blob", e))?;
        let blob = self.repo.find_blob(oid).map_err(|e| self.err("blob", e))?;
        Ok(blob.data.clone())
    }
}

/// The git directory of the repository containing `dir` (per work tree).
/// The paths the index of the repository holding `dir` tracks under it,
/// relative to `dir`; none when `dir` is in no repository with a work tree.
/// Git deploys a tracked file even when `.gitignore` matches it, so the
/// check reads those too.
pub(crate) fn tracked_under(dir: &Path) -> Option<std::collections::HashSet<String>> {
    let repo = gix::discover(dir).ok()?;
    let workdir = std::fs::canonicalize(repo.workdir()?).ok()?;
    let dir = std::fs::canonicalize(dir).ok()?;
    let prefix = dir.strip_prefix(&workdir).ok()?;
    let prefix = prefix
        .to_string_lossy()
        .replace(std::path::MAIN_SEPARATOR, "/");
    let index = repo.index_or_empty().ok()?;
    Some(
        index
            .entries()
            .iter()
            .filter_map(|e| {
                let path = e.path(&index).to_string();
                if prefix.is_empty() {
                    return Some(path);
                }
                path.strip_prefix(&prefix)?
                    .strip_prefix('/')
                    .map(str::to_owned)
            })
            .collect(),
    )
}

pub(crate) fn git_dir(dir: &Path) -> Result<std::path::PathBuf, GitError> {
    let repo = gix::discover(dir).map_err(|e| GitError {
        step: "open",
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(repo.git_dir().to_path_buf())
}

/// The hooks directory of the repository containing `dir`.
pub fn hooks_dir(dir: &Path) -> Result<std::path::PathBuf, GitError> {
    let repo = gix::discover(dir).map_err(|e| GitError {
        step: "open",
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    // `core.hooksPath` (husky, pre-commit and many teams set it): git runs
    // the hooks there, relative to the work tree when relative.
    let configured = repo
        .config_snapshot()
        .trusted_path("core.hooksPath")
        .map_err(|e| GitError {
            step: "config",
            path: dir.display().to_string(),
            message: format!("core.hooksPath: {e}"),
        })?;
    Ok(match configured {
        Some(path) if path.is_relative() => {
            repo.workdir().unwrap_or_else(|| repo.git_dir()).join(path)
        }
        Some(path) => path,
        None => repo.git_dir().join("hooks"),
    })
}

/// Whether `path` lies in the repository holding `dir` (its work tree or
/// its git directory), as far as the file system can tell.
pub fn is_inside_repository(dir: &Path, path: &Path) -> bool {
    let Ok(repo) = gix::discover(dir) else {
        return false;
    };
    // The path may not exist yet: compare its nearest existing ancestor.
    let mut probe = path.to_path_buf();
    let real = loop {
        if let Ok(real) = std::fs::canonicalize(&probe) {
            break real;
        }
        if !probe.pop() {
            return false;
        }
    };
    let inside = [repo.workdir(), Some(repo.git_dir())]
        .into_iter()
        .flatten()
        .filter_map(|root| std::fs::canonicalize(root).ok())
        .any(|root| real.starts_with(root));
    inside
}

/// What deleting a repository's directory would lose for good.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsavedWork {
    /// Tracked paths whose staged or working-tree content differs from HEAD.
    pub changed: Vec<String>,
    /// Files git does not track (ignored ones too: they would go as well).
    pub untracked: Vec<String>,
    /// How many commits no remote-tracking branch reaches.
    pub commit_count: usize,
    /// The newest few of them, as `short-id "subject"`.
    pub commits: Vec<String>,
    /// The local branches, tags or stash that hold those commits.
    pub refs: Vec<String>,
}

impl UnsavedWork {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.untracked.is_empty() && self.commit_count == 0
    }
}

fn few(items: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut out = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        out.push_str(", ...");
    }
    out
}

impl std::fmt::Display for UnsavedWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = Vec::new();
        if !self.changed.is_empty() {
            parts.push(format!(
                "{} ({})",
                plural(
                    self.changed.len(),
                    "file with uncommitted changes",
                    "files with uncommitted changes"
                ),
                few(&self.changed)
            ));
        }
        if !self.untracked.is_empty() {
            parts.push(format!(
                "{} ({})",
                plural(self.untracked.len(), "untracked file", "untracked files"),
                few(&self.untracked)
            ));
        }
        if self.commit_count > 0 {
            parts.push(format!(
                "{} on {} not on any remote ({})",
                plural(self.commit_count, "commit", "commits"),
                self.refs.join(", "),
                few(&self.commits)
            ));
        }
        f.write_str(&parts.join(", "))
    }
}

/// What would be lost if `dir`, the work tree of a git repository, were
/// deleted: uncommitted changes, untracked files and commits that no
/// remote-tracking branch reaches. None when `dir` holds no repository of
/// its own (`dir/.git` absent) or nothing would be lost. The renders socle
/// recorded under `refs/socle/` count as saved: `socle new` makes them again.
pub(crate) fn unsaved_work(dir: &Path) -> Result<Option<UnsavedWork>, GitError> {
    if fs_err::symlink_metadata(dir.join(".git")).is_err() {
        return Ok(None);
    }
    let path = dir.display().to_string();
    let repo = gix::open(dir).map_err(|e| GitError {
        step: "open",
        path: path.clone(),
        message: e.to_string(),
    })?;
    let reader = Reader { repo, path };
    let mut work = UnsavedWork::default();

    let head: BTreeMap<String, String> = match reader.head() {
        Some(id) => reader
            .files(&id)?
            .into_iter()
            .map(|f| (f.path, f.blob))
            .collect(),
        None => BTreeMap::new(),
    };
    let index = reader
        .repo
        .index_or_empty()
        .map_err(|e| reader.err("index", e))?;
    let mut staged = BTreeMap::new();
    let mut submodules = BTreeSet::new();
    for entry in index.entries() {
        let p = entry.path(&index).to_string();
        if entry.mode == gix::index::entry::Mode::COMMIT {
            submodules.insert(p);
            continue;
        }
        staged.insert(p, entry.id.to_string());
    }
    for p in head.keys().chain(staged.keys()).collect::<BTreeSet<_>>() {
        if submodules.contains(p) {
            continue;
        }
        let Some(blob) = staged.get(p).filter(|b| head.get(p) == Some(*b)) else {
            work.changed.push(p.clone());
            continue;
        };
        if worktree_blob(&dir.join(p))
            .map_err(|e| reader.err("status", e))?
            .as_ref()
            != Some(blob)
        {
            work.changed.push(p.clone());
        }
    }

    let mut walk = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| reader.err("status", e))?;
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if entry.file_type().is_dir() {
            // The repository itself, socle's own check cache (documented as
            // safe to delete) and submodules (their own repositories) are
            // not the work tree's files.
            if rel == ".git" || rel == ".socle/cache" || submodules.contains(&rel) {
                walk.skip_current_dir();
            } else if entry.file_name() == ".git" {
                // Another repository inside: its history goes with the tree.
                work.untracked.push(format!("{rel}/"));
                walk.skip_current_dir();
            }
            continue;
        }
        if !head.contains_key(&rel) && !staged.contains_key(&rel) {
            work.untracked.push(rel);
        }
    }

    (work.commit_count, work.commits, work.refs) = unpushed(&reader)?;
    Ok((!work.is_empty()).then_some(work))
}

/// The blob id of a working-tree file as git would hash it (a symlink by
/// its target), or None when it is absent or not a file.
fn worktree_blob(path: &Path) -> std::io::Result<Option<String>> {
    let meta = match fs_err::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        let target = fs_err::read_link(path)?;
        return Ok(Some(blob_id(target.to_string_lossy().as_bytes())));
    }
    if !meta.is_file() {
        return Ok(None);
    }
    Ok(Some(blob_id(&fs_err::read(path)?)))
}

/// Commits reachable from HEAD, a local branch, a tag or the stash but from
/// no remote-tracking branch and no socle render: how many, the first few
/// the walk meets (the tips first), and the refs that hold them.
fn unpushed(reader: &Reader) -> Result<(usize, Vec<String>, Vec<String>), GitError> {
    let repo = &reader.repo;
    let platform = repo.references().map_err(|e| reader.err("refs", e))?;
    let commit_of = |r: Result<gix::Reference<'_>, gix::Error>| -> Result<Option<(String, gix::ObjectId)>, GitError> {
        let mut r = r.map_err(|e| reader.err("refs", e))?;
        let name = r.name().shorten().to_string();
        let id = r.peel_to_id().map_err(|e| reader.err("refs", e))?.detach();
        Ok(repo.find_commit(id).is_ok().then_some((name, id)))
    };
    let mut tips = Vec::new();
    if let Ok(id) = repo.head_id() {
        tips.push(("HEAD".to_owned(), id.detach()));
    }
    let local = platform
        .local_branches()
        .map_err(|e| reader.err("refs", e))?
        .chain(platform.tags().map_err(|e| reader.err("refs", e))?)
        .chain(
            platform
                .prefixed("refs/stash")
                .map_err(|e| reader.err("refs", e))?,
        );
    for r in local {
        tips.extend(commit_of(r)?);
    }
    let mut hidden = Vec::new();
    let saved = platform
        .remote_branches()
        .map_err(|e| reader.err("refs", e))?
        .chain(
            platform
                .prefixed("refs/socle/")
                .map_err(|e| reader.err("refs", e))?,
        );
    for r in saved {
        hidden.extend(commit_of(r)?.map(|(_, id)| id));
    }
    let walk = repo
        .rev_walk(tips.iter().map(|(_, id)| *id))
        .with_hidden(hidden)
        .all()
        .map_err(|e| reader.err("log", e))?;
    let mut ids = BTreeSet::new();
    let mut commits = Vec::new();
    for info in walk {
        let id = info.map_err(|e| reader.err("log", e))?.id;
        // Only the few the message names are read: a long unpushed history
        // is counted, not formatted.
        if commits.len() < 4 {
            let c = reader.commit(&id.to_string())?;
            commits.push(format!("{} {:?}", &c.id[..c.id.len().min(7)], c.subject));
        }
        ids.insert(id);
    }
    let mut refs: Vec<String> = tips
        .into_iter()
        .filter(|(_, id)| ids.contains(id))
        .map(|(name, _)| name)
        .collect();
    refs.dedup();
    // HEAD is named only when no branch explains it (a detached HEAD).
    if refs.len() > 1 {
        refs.retain(|r| r != "HEAD");
    }
    Ok((ids.len(), commits, refs))
}
