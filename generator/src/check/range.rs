//! `socle check --range BASE..HEAD` and `--commit REV`: commits read straight
//! from the object database, each judged on what it introduces.
//!
//! Every commit of the range is checked as a whole tree, through one
//! [`Checker`] whose per-file results are cached by content, so unchanged
//! files cost nothing after the first commit. A finding is identified by its
//! fingerprint (rule, file, resource; not the line), which is what makes
//! "introduced by", "pre-existing" and "fixed" well defined. Repository
//! policies and exceptions are taken from BASE, so that a pull request cannot
//! weaken the rules it is judged by.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::files::{Input, MAX_FILE};
use super::finding::{Finding, Severity};
use super::{report, CheckError, Checker, Options, Outcome};
use crate::git::{CommitInfo, GitError, Reader, TreeFile};

#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error("{0}")]
    Usage(String),
}

#[derive(Debug, Clone, Default)]
pub struct RangeOptions {
    /// Fail when any commit of the range introduces a denial, even one fixed later.
    pub every_commit_must_pass: bool,
    /// Changes to `policies/` in the range are denials rather than warnings.
    pub protect_policies: bool,
}

/// Walks a range keeping what later commits still need, and no more: the
/// blobs of the last tree checked, the trees and findings of commits whose
/// children are still to come, and the report's details for HEAD alone. So
/// memory stays flat however long the range.
struct Walker<'a> {
    reader: &'a Reader,
    checker: Checker,
    blobs: HashMap<String, Vec<u8>>,
    trees: HashMap<String, std::rc::Rc<Vec<TreeFile>>>,
    /// The subtrees of the last tree read, shared with the next one.
    tree_memo: crate::git::TreeMemo,
    states: HashMap<String, Vec<Finding>>,
    /// Commits of the range still to be checked that name each commit as
    /// a parent: its tree and findings are dropped when none is left.
    pending_children: HashMap<String, usize>,
    /// Kept whatever the count: the base and HEAD.
    pinned: BTreeSet<String>,
    head: String,
    documents: usize,
    /// Files of HEAD deliberately not parsed (binary, templates), with the reason.
    skipped: Vec<(String, String)>,
    not_modelled: Vec<String>,
    not_validated: std::collections::BTreeMap<String, usize>,
}

/// What judges a tree besides socle itself: the repository's policies and
/// exceptions, and the gate half of `socle-check.yaml`.
fn policy_files(files: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .filter(|(p, _)| p.starts_with("policies/") || p == super::config::PATH)
        .cloned()
        .collect()
}

impl<'a> Walker<'a> {
    fn new(
        reader: &'a Reader,
        checker: Checker,
        commits: &[CommitInfo],
        base: &str,
        head: &str,
    ) -> Self {
        let mut pending_children: HashMap<String, usize> = HashMap::new();
        for c in commits {
            for p in &c.parents {
                *pending_children.entry(p.clone()).or_default() += 1;
            }
        }
        Self {
            reader,
            checker,
            blobs: HashMap::new(),
            trees: HashMap::new(),
            tree_memo: Default::default(),
            states: HashMap::new(),
            pending_children,
            pinned: [base.to_owned(), head.to_owned()].into(),
            head: head.to_owned(),
            documents: 0,
            skipped: Vec::new(),
            not_modelled: Vec::new(),
            not_validated: Default::default(),
        }
    }

    /// `commit` is done: what only it and its parents needed goes.
    fn done(&mut self, commit: &CommitInfo) {
        let mut finished = vec![commit.id.clone()];
        for p in &commit.parents {
            if let Some(n) = self.pending_children.get_mut(p) {
                *n = n.saturating_sub(1);
            }
            finished.push(p.clone());
        }
        for id in finished {
            let waiting = self.pending_children.get(&id).copied().unwrap_or(0);
            if waiting == 0 && !self.pinned.contains(&id) {
                self.trees.remove(&id);
                self.states.remove(&id);
            }
        }
    }

    fn tree(&mut self, commit: &str) -> Result<std::rc::Rc<Vec<TreeFile>>, RangeError> {
        if let Some(t) = self.trees.get(commit) {
            return Ok(t.clone());
        }
        let files = std::rc::Rc::new(self.reader.files_with(commit, &mut self.tree_memo)?);
        self.trees.insert(commit.to_owned(), files.clone());
        Ok(files)
    }

    fn input(&mut self, commit: &str) -> Result<Input, RangeError> {
        let files = self.tree(commit)?;
        tree_input(self.reader, files.iter().cloned(), &mut self.blobs)
    }

    /// The findings of a commit's whole tree (memoised).
    fn state(&mut self, commit: &str) -> Result<Vec<Finding>, RangeError> {
        if let Some(s) = self.states.get(commit) {
            return Ok(s.clone());
        }
        // HEAD is checked in full: the report describes its tree.
        let tree = self.reader.tree_of(commit)?;
        if commit != self.head {
            if let Some(found) = self.checker.remembered_tree(&tree) {
                self.states.insert(commit.to_owned(), found.clone());
                return Ok(found);
            }
        }
        let mut input = self.input(commit)?;
        let outcome = self.checker.check_in_place(&mut input)?;
        // The blobs of this tree, and no others, go back for the next
        // commit, which shares most of them.
        self.blobs.clear();
        for (path, bytes) in std::mem::take(&mut input.files) {
            if let Some(id) = input.blob_ids.remove(&path) {
                self.blobs.insert(id, bytes);
            }
        }
        if commit == self.head {
            self.documents = outcome.documents;
            self.skipped = outcome.skipped;
            self.not_modelled = outcome.not_modelled;
            self.not_validated = outcome.not_validated;
        }
        let active: Vec<Finding> = outcome
            .findings
            .into_iter()
            .filter(|f| f.excepted_by.is_none())
            .collect();
        self.checker.remember_tree(&tree, &active);
        self.states.insert(commit.to_owned(), active.clone());
        Ok(active)
    }

    fn fingerprints(&mut self, commit: &str) -> Result<BTreeSet<String>, RangeError> {
        Ok(self
            .state(commit)?
            .iter()
            .map(report::fingerprint)
            .collect())
    }
}

/// The files of a tree as checker input, each blob taken from `blobs` (the
/// last tree's) or read.
fn tree_input(
    reader: &Reader,
    files: impl IntoIterator<Item = TreeFile>,
    blobs: &mut HashMap<String, Vec<u8>>,
) -> Result<Input, RangeError> {
    let mut input = Input::default();
    for f in files {
        if f.link {
            // A link's blob is its target, as written.
            let target = reader.blob(&f.blob)?;
            let target = String::from_utf8_lossy(&target);
            if super::files::stays_inside(&f.path, std::path::Path::new(target.as_ref())) {
                input.skipped.push((f.path, "symbolic link".into()));
            } else {
                input.findings.push(super::files::outside(&f.path, &target));
            }
            continue;
        }
        // Taken from the last tree's blobs when it had this one (two paths
        // with the same contents share a blob: the second is read again).
        let bytes = match blobs.remove(&f.blob) {
            Some(bytes) => bytes,
            None => reader.blob(&f.blob)?,
        };
        if bytes.len() as u64 > MAX_FILE {
            input
                .findings
                .push(super::files::too_large(&f.path, bytes.len() as u64));
            continue;
        }
        input.blob_ids.insert(f.path.clone(), f.blob.clone());
        input.files.push((f.path, bytes));
    }
    Ok(input)
}

/// A bar on stderr while a long range is checked, when someone watches
/// (stderr is a terminal); nothing otherwise, so CI logs stay clean.
fn progress_bar(commits: usize) -> indicatif::ProgressBar {
    const LONG: usize = 20;
    if commits < LONG || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(commits as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} commits  {wide_msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix("checking");
    bar
}

fn label(c: &CommitInfo) -> String {
    format!("{} {:?}", c.short, c.subject)
}

enum Base {
    Commit(String),
    /// No commit to judge the range against: judge HEAD's tree.
    Tree,
}

/// The base of a range. CI systems pass forty zeros for a branch's first
/// push (GitHub's `before`, GitLab's `CI_COMMIT_BEFORE_SHA`) and for manual
/// or scheduled pipelines, and a base commit a force-push removed is
/// unknown (a base *name* that resolves to nothing is a typo: an error). Then
/// the range is what a push publishes: the commits of HEAD that no
/// remote-tracking branch has, judged against the commit they leave the
/// published history from. When there is no such commit (HEAD is published,
/// or its whole history is new), HEAD's tree is checked. In a shallow clone
/// an unknown base is an error: the history that would say is missing.
fn base_of(reader: &Reader, base_rev: &str, head: &str) -> Result<Base, RangeError> {
    let zero = base_rev.len() >= 7 && base_rev.bytes().all(|b| b == b'0');
    // A commit id nothing has (a force-push removed it); a name that
    // resolves to nothing is a typo, and an error.
    let id = (7..=40).contains(&base_rev.len()) && base_rev.bytes().all(|b| b.is_ascii_hexdigit());
    if !zero {
        match reader.resolve(base_rev) {
            Ok(base) => return Ok(Base::Commit(base)),
            Err(e) if reader.is_shallow() || !id => return Err(e.into()),
            Err(e) => eprintln!(
                "note: base {base_rev:?} is not in this repository ({e}); checking the commits of HEAD that no remote branch has"
            ),
        }
    }
    let new = reader.unpublished(head)?;
    let ids: BTreeSet<&str> = new.iter().map(|c| c.id.as_str()).collect();
    let fork = new
        .first()
        .and_then(|oldest| oldest.parents.iter().find(|p| !ids.contains(p.as_str())));
    Ok(match fork {
        Some(parent) => {
            eprintln!(
                "note: checking the {} commit(s) of HEAD that no remote branch has, against {}",
                new.len(),
                &parent[..parent.len().min(10)]
            );
            Base::Commit(parent.clone())
        }
        None => Base::Tree,
    })
}

/// Check the tree of one commit, with the policies it carries.
pub fn check_commit(
    dir: &std::path::Path,
    rev: &str,
    options: &Options,
) -> Result<Outcome, RangeError> {
    let reader = Reader::open(dir)?;
    let id = reader.resolve(rev)?;
    check_tree(&reader, reader.files(&id)?, options)
}

/// One tree's files judged with the policies and configuration they carry.
fn check_tree(
    reader: &Reader,
    files: Vec<TreeFile>,
    options: &Options,
) -> Result<Outcome, RangeError> {
    let input = tree_input(reader, files, &mut HashMap::new())?;
    let mut checker = Checker::new(
        &policy_files(&input.files),
        &Options {
            render_root: None,
            ..options.clone()
        },
    )?;
    Ok(checker.check(input)?)
}

/// Check the index (what the next commit holds), with the policies it
/// carries: the pre-commit hook's check.
pub fn check_staged(dir: &std::path::Path, options: &Options) -> Result<Outcome, RangeError> {
    let reader = Reader::open(dir)?;
    check_tree(&reader, reader.staged()?, options)
}

pub fn check_range(
    dir: &std::path::Path,
    spec: &str,
    options: &Options,
    range: &RangeOptions,
) -> Result<Outcome, RangeError> {
    let (base_rev, head_rev) = match spec.split_once("..") {
        Some((b, h)) if !b.is_empty() && !h.is_empty() && !h.starts_with('.') => (b, h),
        _ => {
            return Err(RangeError::Usage(format!(
                "--range {spec:?}: expected BASE..HEAD, e.g. --range origin/main..HEAD"
            )))
        }
    };
    let reader = Reader::open(dir)?;
    let head = reader.resolve(head_rev)?;
    let base = match base_of(&reader, base_rev, &head)? {
        Base::Commit(base) => base,
        Base::Tree => {
            eprintln!(
                "note: --range {spec}: nothing before HEAD is published (no remote branch holds its history); checking the tree at HEAD"
            );
            return check_commit(dir, &head, options);
        }
    };
    let commits = reader.range(&base, &head)?;
    if commits.is_empty() {
        return Err(RangeError::Usage(format!(
            "--range {spec}: no commit is in {head_rev} and not in {base_rev} (the range is empty or inverted)"
        )));
    }

    // Repository policies and exceptions come from BASE.
    let base_files: Vec<(String, Vec<u8>)> = {
        let mut out = Vec::new();
        for f in reader.files(&base)?.into_iter().filter(|f| {
            (f.path.starts_with("policies/") || f.path == super::config::PATH) && !f.link
        }) {
            out.push((f.path.clone(), reader.blob(&f.blob)?));
        }
        out
    };
    let checker = Checker::new(
        &base_files,
        &Options {
            render_root: None,
            ..options.clone()
        },
    )?;
    let mut checker = checker;
    checker.keep_schemas();
    checker.across_versions();
    let mut walker = Walker::new(&reader, checker, &commits, &base, &head);

    let pre_existing = walker.fingerprints(&base)?;
    let mut introduced: BTreeMap<String, (usize, Finding)> = BTreeMap::new();
    let mut extra = Vec::new();
    // Where each introduced finding was first gone again.
    let mut fixed_at: HashMap<String, usize> = HashMap::new();
    let progress = progress_bar(commits.len());
    for (i, commit) in commits.iter().enumerate() {
        progress.set_position(i as u64);
        progress.set_message(label(commit));
        let state = walker.state(&commit.id)?;
        // A merge is judged on what none of its parents had.
        let mut parent_prints = BTreeSet::new();
        for p in &commit.parents {
            parent_prints.extend(walker.fingerprints(p)?);
        }
        let prints: BTreeSet<String> = state.iter().map(report::fingerprint).collect();
        for f in &state {
            let fp = report::fingerprint(f);
            if !parent_prints.contains(&fp) && !pre_existing.contains(&fp) {
                introduced.entry(fp).or_insert((i, f.clone()));
            }
        }
        for (fp, (first, _)) in &introduced {
            if *first < i && !prints.contains(fp) && !fixed_at.contains_key(fp) {
                fixed_at.insert(fp.clone(), i);
            }
        }

        // Changes to the repository's policies need a reviewer's eye.
        let policy_blobs = |tree: &[TreeFile]| -> BTreeMap<String, String> {
            tree.iter()
                .filter(|f| f.path.starts_with("policies/"))
                .map(|f| (f.path.clone(), f.blob.clone()))
                .collect()
        };
        let parent_policies = match commit.parents.first() {
            Some(p) => policy_blobs(&walker.tree(p)?),
            None => BTreeMap::new(),
        };
        let policies = policy_blobs(&walker.tree(&commit.id)?);
        let changed: BTreeSet<&String> = parent_policies
            .iter()
            .filter(|(p, b)| policies.get(*p) != Some(b))
            .map(|(p, _)| p)
            .chain(
                policies
                    .iter()
                    .filter(|(p, b)| parent_policies.get(*p) != Some(b))
                    .map(|(p, _)| p),
            )
            .collect();
        // The configuration's gate (rules, profile, excludes, target
        // version, the remote bases `--render` may fetch) decides what
        // fails: a pull request that changes it is reviewed like a policy
        // change.
        let config = super::config::PATH;
        let config_blob = |files: &[TreeFile]| files.iter().find(|f| f.path == config).cloned();
        let before = match commit.parents.first() {
            Some(p) => config_blob(&walker.tree(p)?),
            None => None,
        };
        let after = config_blob(&walker.tree(&commit.id)?);
        if before.as_ref().map(|f| &f.blob) != after.as_ref().map(|f| &f.blob) {
            let gate = |f: Option<TreeFile>| -> Result<_, RangeError> {
                let files = match f {
                    Some(f) => vec![(config.to_owned(), reader.blob(&f.blob)?)],
                    None => Vec::new(),
                };
                // A file that does not parse is its own finding
                // (SOC-SCHEMA-005); as a gate it is a change.
                Ok(super::config::Config::from_files(&files)
                    .map(|c| c.gate())
                    .unwrap_or_else(|e| e.to_string()))
            };
            if gate(before)? != gate(after)? {
                let mut f = Finding::new(
                    "SOC-RANGE-001",
                    if range.protect_policies { Severity::Deny } else { Severity::Warn },
                    config,
                    None,
                    format!("commit {} changes what decides the check in {config} (rules, exclude, kubernetes_version or render.allowed_remote_bases); the range is judged by the base's, and this change needs review", label(commit)),
                );
                f.commit = Some(label(commit));
                extra.push(f);
            }
        }
        for path in changed {
            let verb = if !policies.contains_key(path) {
                "deletes"
            } else if !parent_policies.contains_key(path) {
                "adds"
            } else {
                "changes"
            };
            let mut f = Finding::new(
                "SOC-RANGE-001",
                if range.protect_policies { Severity::Deny } else { Severity::Warn },
                path,
                None,
                format!("commit {} {verb} a policy file; the range is judged by the base's policies, and this change needs review", label(commit)),
            );
            f.commit = Some(label(commit));
            extra.push(f);
        }
        walker.done(commit);
    }

    progress.finish_and_clear();
    let head_state = walker.state(&head)?;
    let head_prints: BTreeSet<String> = head_state.iter().map(report::fingerprint).collect();
    let mut findings = Vec::new();
    for mut f in head_state {
        let fp = report::fingerprint(&f);
        if pre_existing.contains(&fp) {
            f.pre_existing = true;
        } else if let Some((i, _)) = introduced.get(&fp) {
            f.commit = Some(label(&commits[*i]));
        }
        findings.push(f);
    }
    // Introduced and fixed inside the range.
    for (fp, (i, f)) in &introduced {
        if head_prints.contains(fp) {
            continue;
        }
        let fixed = fixed_at.get(fp).copied().unwrap_or(commits.len() - 1);
        let mut f = f.clone();
        f.commit = Some(label(&commits[*i]));
        f.fixed_in = Some(label(&commits[fixed]));
        if crate::core::catalog::is_credential_rule(&f.rule) {
            // Whoever can fetch the branch can read the credential in the
            // commit that added it: only rewriting history and rotating the
            // credential undo it, so the range fails with or without the flag.
            f.severity = Severity::Deny;
            f.message = format!(
                "{} (removed later, in {}, but it stays in the history: rotate the credential and rewrite the branch without commit {}, e.g. squash the pull request or git rebase -i)",
                f.message,
                label(&commits[fixed]),
                commits[*i].short
            );
            f.fixed_in = None;
        } else if range.every_commit_must_pass && f.severity == Severity::Deny {
            // Counted: protected branches require every commit to pass.
            f.message = format!("{} (fixed later, in {})", f.message, label(&commits[fixed]));
            f.fixed_in = None;
        }
        findings.push(f);
    }
    findings.extend(extra);
    findings.sort_by(|a, b| (&a.file, a.line, &a.rule).cmp(&(&b.file, b.line, &b.rule)));
    Ok(Outcome {
        findings,
        files: walker.trees.get(&head).map_or(0, |t| t.len()),
        documents: walker.documents,
        skipped: std::mem::take(&mut walker.skipped),
        not_modelled: std::mem::take(&mut walker.not_modelled),
        not_validated: std::mem::take(&mut walker.not_validated),
        systems: Vec::new(),
        snippets: Default::default(),
    })
}
