//! Living repositories: what a new spec or a new socle would change in a
//! generated repository (`socle diff`), applying it without losing the
//! team's edits (`socle update`), and where a file comes from (`socle why`).
//!
//! Three versions of each file are in play: the lock file's blob id (what
//! socle rendered last, whose content is kept in git under
//! [`crate::git::PRISTINE_REF`]), the working tree (the team's), and the new
//! render. Comparing the working tree with the lock tells a generated file
//! nobody touched from one the team edited or deleted; the pristine content
//! is the base of the three-way merge.

pub mod envdiff;
pub mod merge;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::generate::{self, Generated, Inputs, SPEC_PATH};
use crate::git::{blob_id, Reader};
use crate::lock::{self, Lock};
use crate::render::FileSet;
use crate::source::Tree;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error(transparent)]
    Generate(#[from] generate::GenerateError),
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecFileError),
    #[error("{0}")]
    Usage(String),
}

/// How a file stands between the last render, the working tree and the new render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Untouched here; the blueprint now renders it differently.
    Changed,
    /// Edited here and changed by the blueprint.
    BothChanged,
    /// New in the blueprint.
    Added,
    /// New in the blueprint, but a file of the team's is already there.
    AddedOverTeamFile,
    /// The blueprint no longer renders it; untouched here.
    Removed,
    /// The blueprint no longer renders it, but it was edited here.
    RemovedButEdited,
    /// Deleted here, and the blueprint changed it since.
    DeletedButChanged,
    /// Edited here; the blueprint renders what it rendered before.
    Edited,
    /// Deleted here; the blueprint renders what it rendered before.
    Deleted,
}

impl Status {
    /// Whether the blueprint's output differs from the last render: what
    /// `socle diff` calls drift. The team's own edits are not drift.
    pub fn is_drift(self) -> bool {
        !matches!(self, Status::Edited | Status::Deleted)
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Changed => "changed by the blueprint",
            Status::BothChanged => "edited here and changed by the blueprint",
            Status::Added => "added by the blueprint",
            Status::AddedOverTeamFile => "added by the blueprint over a file of yours",
            Status::Removed => "removed by the blueprint",
            Status::RemovedButEdited => "removed by the blueprint, edited here",
            Status::DeletedButChanged => "deleted here, changed by the blueprint",
            Status::Edited => "edited here",
            Status::Deleted => "deleted here",
        }
    }
}

pub struct Change {
    pub path: String,
    pub status: Status,
    /// The working tree's content (None: absent).
    pub ours: Option<Vec<u8>>,
    /// The new render's content (None: not rendered any more).
    pub theirs: Option<Vec<u8>>,
}

/// A repository and its new render.
pub struct Drift {
    pub dir: PathBuf,
    /// Where the spec was read from.
    pub spec_origin: String,
    pub lock: Lock,
    pub generated: Generated,
    /// Every file that differs somewhere, by path.
    pub changes: Vec<Change>,
}

impl Change {
    /// How the file stands, in words; the spec itself is the client's
    /// document, not the blueprint's.
    pub fn label(&self) -> &'static str {
        match self.status {
            Status::Changed | Status::BothChanged if self.path == SPEC_PATH => "the new spec",
            s => s.label(),
        }
    }
}

impl Drift {
    pub fn drifted(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.status.is_drift())
    }
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, std::io::Error> {
    match fs_err::read(path) {
        Ok(b) => Ok(Some(b)),
        // Under a file there is no file: writing there is what fails, with
        // the path named.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Render the repository again, from its `socle.yaml` (or `spec`) with this
/// socle's blueprint, and compare each file three ways.
pub fn drift(dir: &Path, spec: Option<&Path>) -> Result<Drift, UpdateError> {
    let lock = Lock::read(dir)?;
    let (spec_text, origin) = match spec {
        Some(p) => (crate::spec::read_file(p)?, p.display().to_string()),
        None => {
            let p = dir.join(SPEC_PATH);
            (crate::spec::read_file(&p)?, p.display().to_string())
        }
    };
    let blueprint =
        crate::blueprint::embedded_for_spec(&spec_text).map_err(generate::GenerateError::from)?;
    let generated = crate::repository::render(&Inputs {
        spec_text: &spec_text,
        spec_origin: &origin,
        blueprint: &blueprint,
        environments: &Tree::embedded_environments(),
    })?;
    // Blueprints share no file: a merge from one to another would replace
    // the whole repository. That is a new repository, not an update.
    if generated.model.manifest.name != lock.blueprint.name {
        return Err(UpdateError::Usage(format!(
            "{}: this repository was rendered from blueprint {:?}, and the spec names {:?}; socle diff and update keep a repository on its blueprint. Render the other blueprint into a new directory with socle new, or set the spec's `blueprint:` back to {:?}",
            dir.join(lock::PATH).display(),
            lock.blueprint.name,
            generated.model.manifest.name,
            lock.blueprint.name
        )));
    }
    // A lock file is input like any other: a path that is not a plain
    // relative path inside the repository is never read, written or removed.
    if let Some(bad) = lock.files.keys().find(|p| !crate::render::check_path(p)) {
        return Err(UpdateError::Usage(format!(
            "{}: the path {bad:?} is not a relative path inside the repository; restore the lock file from git history",
            dir.join(lock::PATH).display()
        )));
    }
    let paths: BTreeSet<&String> = generated
        .files
        .keys()
        .chain(lock.files.keys())
        .filter(|p| p.as_str() != lock::PATH)
        .collect();
    let mut changes = Vec::new();
    for path in paths {
        let ours = read_opt(&dir.join(path))?;
        let theirs = generated.files.get(path).cloned();
        if ours == theirs {
            continue;
        }
        let last = lock.files.get(path).map(|f| f.blob.as_str());
        let ours_id = ours.as_deref().map(blob_id);
        let theirs_id = theirs.as_deref().map(blob_id);
        let untouched = ours_id.as_deref() == last;
        let blueprint_same = theirs_id.as_deref() == last;
        let status = match (last, &ours, &theirs) {
            (None, None, _) => Status::Added,
            (None, Some(_), _) => Status::AddedOverTeamFile,
            (Some(_), _, None) if untouched => Status::Removed,
            (Some(_), _, None) => Status::RemovedButEdited,
            (Some(_), None, Some(_)) if blueprint_same => Status::Deleted,
            (Some(_), None, Some(_)) => Status::DeletedButChanged,
            (Some(_), Some(_), Some(_)) if untouched => Status::Changed,
            (Some(_), Some(_), Some(_)) if blueprint_same => Status::Edited,
            (Some(_), Some(_), Some(_)) => Status::BothChanged,
        };
        changes.push(Change {
            path: path.clone(),
            status,
            ours,
            theirs,
        });
    }
    Ok(Drift {
        dir: dir.to_path_buf(),
        spec_origin: origin,
        lock,
        generated,
        changes,
    })
}

/// A unified diff of one change, from the working tree to the new render.
pub fn unified(change: &Change) -> String {
    let text = |b: &Option<Vec<u8>>| {
        b.as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let (old, new) = (text(&change.ours), text(&change.theirs));
    let a = if change.ours.is_some() {
        format!("a/{}", change.path)
    } else {
        "/dev/null".to_owned()
    };
    let b = if change.theirs.is_some() {
        format!("b/{}", change.path)
    } else {
        "/dev/null".to_owned()
    };
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string()
}

/// Lines added and removed by a change.
pub fn counts(change: &Change) -> (usize, usize) {
    let text = |b: &Option<Vec<u8>>| {
        b.as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let (old, new) = (text(&change.ours), text(&change.theirs));
    let diff = similar::TextDiff::from_lines(&old, &new);
    let mut add = 0;
    let mut del = 0;
    for op in diff.iter_all_changes() {
        match op.tag() {
            similar::ChangeTag::Insert => add += 1,
            similar::ChangeTag::Delete => del += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    (add, del)
}

/// What `socle update` does to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Write(Vec<u8>),
    Merge(Vec<u8>),
    Conflict(Vec<u8>),
    Delete,
    Keep,
}

impl Action {
    pub fn label(&self) -> &'static str {
        match self {
            Action::Write(_) => "update",
            Action::Merge(_) => "merge",
            Action::Conflict(_) => "CONFLICT",
            Action::Delete => "remove",
            Action::Keep => "keep",
        }
    }
}

pub struct Step {
    pub path: String,
    pub status: Status,
    pub action: Action,
    pub note: String,
}

/// The plan of an update: each changed file's action.
pub fn plan(drift: &Drift) -> Result<Vec<Step>, UpdateError> {
    let reader = Reader::open(&drift.dir)?;
    let base_commit = reader.pristine().ok_or_else(|| {
        UpdateError::Usage(format!(
            "{}: no {} ref, so the last render is unknown and a three-way merge is impossible; fetch it from the remote it was pushed to (`git fetch origin '+{}:{}'`), or push it from the repository socle created",
            drift.dir.display(),
            crate::git::PRISTINE_REF,
            crate::git::PRISTINE_REF,
            crate::git::PRISTINE_REF
        ))
    })?;
    let base_blobs: BTreeMap<String, String> = reader
        .files(&base_commit)?
        .into_iter()
        .map(|f| (f.path, f.blob))
        .collect();
    let base_of = |path: &str| -> Result<Vec<u8>, UpdateError> {
        match base_blobs.get(path) {
            Some(id) => Ok(reader.blob(id)?),
            None => Ok(Vec::new()),
        }
    };
    let mut steps = Vec::new();
    for c in &drift.changes {
        let theirs = c.theirs.clone().unwrap_or_default();
        let ours = c.ours.clone().unwrap_or_default();
        let (action, note) = match c.status {
            Status::Changed | Status::Added => (Action::Write(theirs), String::new()),
            Status::Removed => (Action::Delete, String::new()),
            Status::Edited => (Action::Keep, "your edit stays".into()),
            Status::Deleted => (Action::Keep, "stays deleted".into()),
            Status::BothChanged | Status::AddedOverTeamFile => {
                match merge::merge(&c.path, &base_of(&c.path)?, &ours, &theirs) {
                    merge::Merged::Clean(b) => (Action::Merge(b), String::new()),
                    merge::Merged::Conflict(b) => (
                        Action::Conflict(b),
                        "both sides changed the same lines: resolve the markers".into(),
                    ),
                }
            }
            Status::RemovedButEdited => (
                Action::Keep,
                "the blueprint no longer renders it; kept because you edited it: delete it if it is obsolete".into(),
            ),
            Status::DeletedButChanged => (
                Action::Conflict(theirs),
                "you deleted it and the blueprint changed it: restored with the new content; delete it again if it is still unwanted".into(),
            ),
        };
        if !matches!(action, Action::Keep) {
            refuse_escape(&drift.dir, &c.path)?;
        }
        steps.push(Step {
            path: c.path.clone(),
            status: c.status,
            action,
            note,
        });
    }
    Ok(steps)
}

/// The first symlink on the way from `dir` to `rel`'s directory that leads
/// out of the repository (a dangling one included: where it would lead is
/// unknown), if any.
fn escape(dir: &Path, rel: &str) -> Result<Option<PathBuf>, std::io::Error> {
    let root = fs_err::canonicalize(dir)?;
    let mut at = dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    // The file itself may be a symlink: writing renames over the link and
    // removing unlinks it, so neither reaches its target.
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        at.push(part);
        let meta = match fs_err::symlink_metadata(&at) {
            Ok(m) => m,
            // Nothing there (or a file where a directory should be): the
            // write creates it inside the repository, or fails.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if meta.file_type().is_symlink() {
            let inside = fs_err::canonicalize(&at).is_ok_and(|real| real.starts_with(&root));
            if !inside {
                return Ok(Some(at));
            }
        }
    }
    Ok(None)
}

/// Fail closed before anything is written through a symlink that leaves
/// the repository.
fn refuse_escape(dir: &Path, rel: &str) -> Result<(), UpdateError> {
    if let Some(link) = escape(dir, rel)? {
        let target = fs_err::read_link(&link)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(UpdateError::Usage(format!(
            "{}: the update would write through the symlink {} -> {target}, which leads out of the repository; nothing was written. Replace the symlink with a directory inside the repository (or remove it) and run the update again",
            dir.join(rel).display(),
            link.display(),
        )));
    }
    Ok(())
}

/// Tracked files whose working-tree content differs from HEAD.
pub fn dirty_files(dir: &Path) -> Result<Vec<String>, UpdateError> {
    let reader = Reader::open(dir)?;
    let Some(head) = reader.head() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for f in reader.files(&head)? {
        if f.link {
            continue;
        }
        match read_opt(&dir.join(&f.path))? {
            Some(b) if blob_id(&b) == f.blob => {}
            _ => out.push(f.path),
        }
    }
    Ok(out)
}

/// The folders of a deleted file that it leaves empty, up to the
/// repository's root (a target moved off Kubernetes leaves whole trees
/// behind otherwise). `remove_dir` refuses a folder that is not empty, so
/// nothing of the user's can go; a failure only leaves a folder in place.
fn remove_empty_parents(root: &Path, relative: &str) {
    let mut parent = Path::new(relative).parent();
    while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
        if std::fs::remove_dir(root.join(dir)).is_err() {
            break;
        }
        parent = dir.parent();
    }
}

/// Write the plan's files, then the lock file, then the pristine ref: the
/// lock and the ref move only once every file is in place. `alongside` runs
/// once the files are written, while the pristine render is recorded (the
/// re-check, which reads only the working tree); returns the pristine
/// commit and what `alongside` returned.
pub fn apply<T: Send>(
    drift: &Drift,
    steps: &[Step],
    journal: &Journal,
    alongside: impl FnOnce() -> T + Send,
) -> Result<(String, T), UpdateError> {
    for s in steps {
        if !matches!(s.action, Action::Keep) {
            refuse_escape(&drift.dir, &s.path)?;
        }
    }
    let journal_path = Journal::path(&drift.dir)?;
    write_file(
        &journal_path,
        &serde_json::to_vec_pretty(journal).map_err(std::io::Error::other)?,
    )?;
    for s in steps {
        let path = drift.dir.join(&s.path);
        match &s.action {
            Action::Write(b) | Action::Merge(b) | Action::Conflict(b) => write_file(&path, b)?,
            Action::Delete => {
                if path.exists() {
                    fs_err::remove_file(&path)?;
                }
                remove_empty_parents(&drift.dir, &s.path);
            }
            Action::Keep => {}
        }
    }
    if let Some(lock) = drift.generated.files.get(lock::PATH) {
        write_file(&drift.dir.join(lock::PATH), lock)?;
    }
    let message = format!(
        "socle {}: render of blueprint {} {}",
        env!("CARGO_PKG_VERSION"),
        drift.generated.model.manifest.name,
        drift.generated.model.manifest.version
    );
    let (pristine, other) = std::thread::scope(|s| {
        let other = s.spawn(alongside);
        let pristine = crate::git::record_pristine(&drift.dir, &drift.generated.files, &message);
        (pristine, other.join())
    });
    let other =
        other.map_err(|_| UpdateError::Usage("the check after the update panicked".into()))?;
    let pristine = pristine?;
    fs_err::remove_file(&journal_path)?;
    Ok((pristine, other))
}

/// What an update is about to write, kept in the git directory from before
/// the first write until the pristine render is recorded: a re-run that
/// finds it knows an update was interrupted, and how far it got.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Journal {
    /// The blob id of the new lock file: the render being applied.
    pub render: String,
    /// Where the spec came from, to say how to resume.
    pub spec: String,
    pub steps: Vec<JournalStep>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct JournalStep {
    pub path: String,
    /// The action's label, as the plan prints it.
    pub action: String,
    /// The blob id the file gets (None: removed).
    pub blob: Option<String>,
}

impl Journal {
    pub fn new(drift: &Drift, steps: &[Step]) -> Self {
        Journal {
            render: render_id(drift),
            spec: drift.spec_origin.clone(),
            steps: steps
                .iter()
                .filter_map(|s| {
                    let blob = match &s.action {
                        Action::Write(b) | Action::Merge(b) | Action::Conflict(b) => {
                            Some(blob_id(b))
                        }
                        Action::Delete => None,
                        Action::Keep => return None,
                    };
                    Some(JournalStep {
                        path: s.path.clone(),
                        action: s.action.label().to_owned(),
                        blob,
                    })
                })
                .collect(),
        }
    }

    /// Where the journal of the repository at `dir` lives: in its git
    /// directory, so it is never committed nor seen as the team's file.
    pub fn path(dir: &Path) -> Result<PathBuf, UpdateError> {
        Ok(crate::git::git_dir(dir)?.join("socle-update.json"))
    }

    pub fn read(dir: &Path) -> Result<Option<Journal>, UpdateError> {
        let path = Self::path(dir)?;
        let Some(bytes) = read_opt(&path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            UpdateError::Usage(format!(
                "{}: an interrupted `socle update` left this journal, but it is unreadable ({e}); restore the files it was writing (`git status` lists them), delete it, and run the update again",
                path.display()
            ))
        })
    }

    /// The steps whose file is already what the update meant to write.
    pub fn done(&self, dir: &Path) -> Result<Vec<&JournalStep>, UpdateError> {
        let mut out = Vec::new();
        for s in &self.steps {
            let now = read_opt(&dir.join(&s.path))?.map(|b| blob_id(&b));
            if now == s.blob {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Whether `drift` renders what the interrupted update was applying.
    pub fn matches(&self, drift: &Drift) -> bool {
        self.render == render_id(drift)
    }

    /// Take over what the interrupted update already wrote: a step the
    /// journal has done keeps the file as it is now (merging a merged or
    /// conflicted file again would nest the markers), with the journal's
    /// action; done steps the new plan no longer has are returned, to be
    /// reported.
    pub fn resume(&self, dir: &Path, steps: &mut [Step]) -> Result<Vec<JournalStep>, UpdateError> {
        let mut gone = Vec::new();
        for done in self.done(dir)? {
            match steps.iter_mut().find(|s| s.path == done.path) {
                Some(step) => {
                    let now = read_opt(&dir.join(&done.path))?;
                    step.action = match (done.action.as_str(), now) {
                        (_, None) => Action::Delete,
                        ("CONFLICT", Some(b)) => Action::Conflict(b),
                        ("merge", Some(b)) => Action::Merge(b),
                        (_, Some(b)) => Action::Write(b),
                    };
                    step.note = "written before the interruption".into();
                }
                None => gone.push(done.clone()),
            }
        }
        Ok(gone)
    }
}

fn render_id(drift: &Drift) -> String {
    drift
        .generated
        .files
        .get(lock::PATH)
        .map(|b| blob_id(b))
        .unwrap_or_default()
}

/// A file replaced in one step: written beside it, then renamed over it.
/// The file keeps its mode (a script stays executable); a new file gets
/// the mode git would check it out with (0666 less the umask), not
/// tempfile's private 0600.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    use std::io::Write as _;
    let parent = path.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)?;
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(parent)?;
    // A symlink is replaced, not followed: its target's mode is not the file's.
    match fs_err::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => tmp.as_file().set_permissions(meta.permissions())?,
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Rule ids added and removed between the lock's policies and this socle's.
pub fn policy_changes(old: &Lock, new: &FileSet) -> (Vec<String>, Vec<String>, bool) {
    let Some(new) = new
        .get(lock::PATH)
        .and_then(|b| crate::yaml::from_slice::<Lock>(b).ok())
    else {
        return (Vec::new(), Vec::new(), false);
    };
    let before: BTreeSet<&String> = old.policies.rules.iter().collect();
    let after: BTreeSet<&String> = new.policies.rules.iter().collect();
    (
        after.difference(&before).map(|s| (*s).clone()).collect(),
        before.difference(&after).map(|s| (*s).clone()).collect(),
        old.policies.digest != new.policies.digest,
    )
}

/// Where a generated file comes from, from the lock file.
pub fn why(dir: &Path, file: &str) -> Result<String, UpdateError> {
    let lock = Lock::read(dir)?;
    let rel = file.trim_start_matches("./");
    let Some(entry) = lock.files.get(rel) else {
        return Err(UpdateError::Usage(format!(
            "{rel}: not generated by socle (not in {}): it is the team's own file",
            lock::PATH
        )));
    };
    let state = match read_opt(&dir.join(rel))? {
        None => "deleted here since".to_owned(),
        Some(b) if blob_id(&b) == entry.blob => "unchanged since".to_owned(),
        Some(_) => "edited here since".to_owned(),
    };
    let from = if entry.from == "spec" {
        "the client spec, kept verbatim".to_owned()
    } else {
        format!(
            "blueprint {} {}, file {}",
            lock.blueprint.name, lock.blueprint.version, entry.from
        )
    };
    Ok(format!(
        "{rel}\n  rendered from {from}\n  by socle {} ({state} that render)\n",
        lock.socle_version
    ))
}
