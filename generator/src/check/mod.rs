//! `socle check`: a repository (or an in-memory file set) through the
//! embedded Rego policies and the repository's own.
//!
//! The stages follow the data: files ([`files`]) → parsed documents
//! ([`parse`]) → policy input and evaluation ([`engine`]) → findings, with
//! exceptions applied ([`exceptions`]) → a report ([`report`]).

pub mod argocd;
pub mod cache;
pub mod config;
pub mod custom;
pub mod data;
mod delta;
mod deployed;
pub mod engine;
pub mod exceptions;
pub mod files;
pub mod finding;
mod flux;
mod harness;
mod kustomized;
pub mod parse;
pub mod range;
pub mod render;
pub mod report;
pub mod sandbox;
pub mod schema;
mod sealed;
mod substituted;
pub mod system;
pub(crate) mod terraform;
pub mod testing;
pub mod worker;

pub use finding::{Finding, Severity};

/// What a check looked at, and what it found.
#[derive(Debug, Default, serde::Serialize)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub files: usize,
    pub documents: usize,
    /// Files recognised and deliberately not parsed, with the reason.
    pub skipped: Vec<(String, String)>,
    /// What the system simulation could not model (never silently passed:
    /// the report lists it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_modelled: Vec<String>,
    /// Documents of kinds no schema covers (no CRD in the tree, none
    /// bundled), by `Kind (apiVersion)`: not validated, and said so.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub not_validated: std::collections::BTreeMap<String, usize>,
    /// The model of each environment, when this check built them: empty
    /// when they were remembered from an earlier check of the same files.
    #[serde(skip)]
    pub systems: Vec<system::System>,
    /// By file and line number, the lines around each active finding, when
    /// [`Options::snippets`] asks for them (the HTML report shows them).
    #[serde(skip)]
    pub snippets: std::collections::BTreeMap<String, std::collections::BTreeMap<usize, String>>,
}

impl Outcome {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.is_active() && f.severity == severity)
            .count()
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Load Rego files from the repository's `policies/` directory.
    pub local_policies: bool,
    /// Parse repository policies as Rego v0 (conftest's `--rego-version v0`).
    pub rego_v0: bool,
    /// Bounds of one repository-policy evaluation.
    pub policy_bounds: sandbox::Bounds,
    /// The repository-policy packages to run (conftest's `--namespace`);
    /// empty runs them all (`--all-namespaces`).
    pub namespaces: Vec<String>,
    /// Documents merged into the repository policies' `data` (conftest's
    /// `--data`; see [`data::load`]).
    pub data: Option<serde_json::Value>,
    /// Give the repository policies every document in one input
    /// (conftest's `--combine`) instead of one document at a time.
    pub combine: bool,
    /// Build each kustomize overlay of this directory and check the result.
    pub render_root: Option<std::path::PathBuf>,
    /// Keep per-file results in this directory between runs.
    pub cache_dir: Option<std::path::PathBuf>,
    /// Keep the lines around each finding in [`Outcome::snippets`].
    pub snippets: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            local_policies: true,
            rego_v0: false,
            policy_bounds: sandbox::Bounds::default(),
            namespaces: Vec::new(),
            data: None,
            combine: false,
            render_root: None,
            cache_dir: None,
            snippets: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Policy(#[from] engine::PolicyError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error("cache directory: {0}")]
    Cache(std::io::Error),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
}

/// Check a set of files (relative path → bytes), with the policies and
/// exceptions they carry.
pub fn check_files(input: files::Input, options: &Options) -> Result<Outcome, CheckError> {
    let mut checker = Checker::new(&input.files, options)?;
    checker.check(input)
}

/// Check the repository at `root`. The embedded policies compile while its
/// files are read: neither needs the other.
pub fn check_dir(root: &std::path::Path, options: &Options) -> Result<Outcome, CheckError> {
    let (embedded, input) = std::thread::scope(|scope| {
        let embedded = scope.spawn(engine::Embedded::load);
        let input = files::Input::from_dir(root);
        (join(embedded), input)
    });
    let input = input?;
    let mut checker = Checker::with_embedded(embedded?, &input.files, options)?;
    checker.check(input)
}

/// The disk cache's name for a whole tree's findings (no file has it).
const TREE_ENTRY: &str = "\0tree";

/// What one file yields on its own: documents, and the findings of the
/// rules that read one file at a time.
#[derive(Clone)]
struct FileResult {
    parsed: parse::Parsed,
    findings: Vec<Finding>,
}

/// The rule of a file that does not parse.
const PARSE_RULE: &str = "SOC-PARSE-001";

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Policies compiled once, and per-file results remembered by content, so
/// that checking many versions of a repository (every commit of a range)
/// costs what changed between them.
pub struct Checker {
    options: Options,
    embedded: engine::Embedded,
    local: engine::Local,
    exceptions: exceptions::Exceptions,
    catalog: crate::core::catalog::Catalog,
    /// `socle-check.yaml` of the tree the policies come from.
    config: config::Config,
    applied: config::Applied,
    /// Digest of what decides a tree's findings besides its files and the
    /// bundle: the configuration's gate, the exceptions, and today (an
    /// exception expires).
    tree_context: String,
    /// Keep compiled schemas between checks (a range's commits); otherwise
    /// they are freed as soon as the tree's custom resources are checked,
    /// which lowers the peak of a single check.
    keep_schemas: bool,
    /// Compiled schemas of custom resources, and each file's results
    /// against them, with the digest of the tree's CRDs they hold for.
    validators: custom::Validators,
    #[allow(clippy::type_complexity)]
    custom_memo: std::collections::HashMap<
        (String, String),
        (
            String,
            Vec<Finding>,
            std::collections::BTreeMap<String, usize>,
        ),
    >,
    /// The checked tree's own `socle-check.yaml` problems, by its blob id.
    config_memo: Option<(String, Vec<Finding>)>,
    /// Per-file results by (path, version). A range walks commits in order,
    /// so a version the current tree does not have is one a later commit
    /// replaced: once the cache holds twice as many entries as the tree has
    /// files, it keeps the current tree's alone. Keeping every version would
    /// grow with the range; pruning at every commit would cost a pass over
    /// the cache per commit.
    cache: std::collections::HashMap<(String, String), FileResult>,
    /// What each kustomization lists, by (path, blob id): read once per
    /// version in a range.
    kustomizations: std::collections::HashMap<(String, String), parse::Entries>,
    /// The spec's findings, by the spec's blob id.
    spec_memo: Option<(String, Vec<Finding>)>,
    /// In a range, each kustomization root's build (see [`kustomized`]).
    kustomized: kustomized::Memo,
    /// System findings per environment, by the digest of its model.
    system_memo: system::Memo,
    /// In a range, the previous version's file versions and its
    /// repository rules' findings (see [`delta`]).
    previous: Option<delta::Previous>,
    facts: crate::core::charts::ChartFacts,
    disk: Option<cache::DiskCache>,
}

impl Drop for Checker {
    /// What this run evaluated reaches the disk cache once, at the end.
    fn drop(&mut self) {
        if let Some(disk) = &mut self.disk {
            if let Err(e) = disk.flush() {
                eprintln!("warning: the check cache could not be written ({e}); results are not kept for the next run");
            }
        }
    }
}

impl Checker {
    /// Files `socle-check.yaml` excludes leave the run here, each listed as
    /// skipped with the pattern that matched it.
    fn exclude(&self, input: &mut files::Input) {
        let applied = &self.applied;
        let mut skipped = Vec::new();
        input
            .files
            .retain(|(path, _)| match applied.excluded(path) {
                Some(pattern) => {
                    skipped.push((
                        path.clone(),
                        format!("excluded by {} ({pattern})", config::PATH),
                    ));
                    false
                }
                None => true,
            });
        input
            .findings
            .retain(|f| applied.excluded(&f.file).is_none());
        input.skipped.retain(|(p, _)| applied.excluded(p).is_none());
        input.skipped.extend(skipped);
    }

    /// `policy_files` supplies the repository policies (`policies/*.rego`)
    /// and exceptions; a range check takes them from its base commit.
    pub fn new(policy_files: &[(String, Vec<u8>)], options: &Options) -> Result<Self, CheckError> {
        Self::with_embedded(engine::Embedded::load()?, policy_files, options)
    }

    /// With the embedded policies already compiled (e.g. on another thread
    /// while the files were read or rendered).
    pub fn with_embedded(
        embedded: engine::Embedded,
        policy_files: &[(String, Vec<u8>)],
        options: &Options,
    ) -> Result<Self, CheckError> {
        let local = if options.local_policies {
            engine::Local::load(policy_files, options)?
        } else {
            engine::Local::load(&[], options)?
        };
        let config = config::Config::from_files(policy_files)?;
        let disk = match &options.cache_dir {
            Some(dir) => Some(
                cache::DiskCache::open(
                    dir,
                    &cache::bundle_digest(policy_files, options, config.target()),
                )
                .map_err(CheckError::Cache)?,
            ),
            None => None,
        };
        let exceptions_text = policy_files
            .iter()
            .find(|(p, _)| p == exceptions::PATH)
            .map(|(_, b)| crate::git::blob_id(b))
            .unwrap_or_default();
        let tree_context = crate::git::blob_id(
            format!(
                "{}\n{exceptions_text}\n{}",
                config.gate(),
                exceptions::today()
            )
            .as_bytes(),
        );
        Ok(Self {
            disk,
            tree_context,
            applied: config::Applied::new(&config),
            config,
            config_memo: None,
            keep_schemas: false,
            validators: Default::default(),
            custom_memo: Default::default(),
            options: options.clone(),
            embedded,
            local,
            exceptions: exceptions::Exceptions::load(policy_files),
            catalog: crate::core::catalog::Catalog::embedded(),
            cache: Default::default(),
            spec_memo: None,
            kustomizations: Default::default(),
            kustomized: Default::default(),
            system_memo: Default::default(),
            previous: None,
            facts: crate::core::charts::ChartFacts::embedded(),
        })
    }

    /// Keep compiled schemas from one check to the next (many trees).
    pub(crate) fn keep_schemas(&mut self) {
        self.keep_schemas = true;
    }

    /// Checks of many versions of one repository (a range): each
    /// environment's judgement and each Application's model are
    /// remembered from one version to the next.
    pub(crate) fn across_versions(&mut self) {
        self.system_memo.across_versions();
        self.previous = Some(Default::default());
    }

    /// The active findings of a whole tree, from the disk cache: a range
    /// checked again (a re-run, a rebased pull request) skips the trees it
    /// has seen.
    pub(crate) fn remembered_tree(&self, tree: &str) -> Option<Vec<Finding>> {
        self.disk
            .as_ref()?
            .get_any(TREE_ENTRY, &self.tree_key(tree))
    }

    pub(crate) fn remember_tree(&self, tree: &str, findings: &[Finding]) {
        if let Some(disk) = &self.disk {
            disk.put(TREE_ENTRY, &self.tree_key(tree), findings);
        }
    }

    fn tree_key(&self, tree: &str) -> String {
        format!("{tree}+{}", self.tree_context)
    }

    /// `socle.yaml` against the spec's schema, once per version of it.
    fn spec_findings(
        &mut self,
        files: &[(String, Vec<u8>)],
        versions: &std::collections::HashMap<String, String>,
    ) -> Vec<Finding> {
        let Some(id) = versions.get(crate::core::SPEC_PATH) else {
            return Vec::new();
        };
        if let Some((seen, found)) = &self.spec_memo {
            if seen == id {
                return found.clone();
            }
        }
        let found = schema::validate_spec(files);
        self.spec_memo = Some((id.clone(), found.clone()));
        found
    }

    /// The checked tree's `socle-check.yaml` against its schema, once per
    /// version of it (a range's commits; the configuration in force came
    /// from BASE).
    fn config_findings(
        &mut self,
        files: &[(String, Vec<u8>)],
        versions: &std::collections::HashMap<String, String>,
    ) -> Vec<Finding> {
        let Some(id) = versions.get(config::PATH) else {
            return Vec::new();
        };
        if let Some((seen, found)) = &self.config_memo {
            if seen == id {
                return found.clone();
            }
        }
        let found: Vec<Finding> = config::Config::from_files(files)
            .err()
            .map(|e| e.finding())
            .into_iter()
            .collect();
        self.config_memo = Some((id.clone(), found.clone()));
        found
    }

    /// The fresh files' results join the run's findings and are kept, in
    /// memory and on disk, for the next version of the repository.
    fn remember(
        &mut self,
        fresh: parse::Parsed,
        fresh_keys: Vec<(String, String)>,
        found: Vec<Finding>,
        findings: &mut Vec<Finding>,
        skipped: &mut Vec<(String, String)>,
    ) {
        let mut by_path: std::collections::HashMap<String, FileResult> = fresh_keys
            .iter()
            .map(|(p, _)| {
                (
                    p.clone(),
                    FileResult {
                        parsed: parse::Parsed::default(),
                        findings: Vec::new(),
                    },
                )
            })
            .collect();
        for d in fresh.documents {
            if let Some(r) = by_path.get_mut(&d.path) {
                r.parsed.documents.push(d);
            }
        }
        for t in fresh.texts {
            if let Some(r) = by_path.get_mut(&t.path) {
                r.parsed.texts.push(t);
            }
        }
        for s in fresh.skipped {
            skipped.push(s.clone());
            if let Some(r) = by_path.get_mut(&s.0) {
                r.parsed.skipped.push(s);
            }
        }
        for f in fresh.findings.into_iter().chain(found) {
            match by_path.get_mut(&f.file) {
                Some(r) => {
                    findings.push(f.clone());
                    r.findings.push(f);
                }
                None => findings.push(f),
            }
        }
        for key in fresh_keys {
            if let Some(r) = by_path.remove(&key.0) {
                if let Some(disk) = &self.disk {
                    disk.put(&key.0, &key.1, &r.findings);
                }
                self.cache.insert(key, r);
            }
        }
    }

    pub fn check(&mut self, mut input: files::Input) -> Result<Outcome, CheckError> {
        self.check_in_place(&mut input)
    }

    /// [`Checker::check`] of files the caller keeps (a render's, which
    /// `socle new` writes after the check): they are moved in and handed
    /// back rather than copied, with `extra` files checked beside them
    /// where `files` lacks them and not handed back. Files the
    /// configuration excludes stay with the caller (the check sees a copy,
    /// and reports it as excluded).
    pub(crate) fn check_lent(
        &mut self,
        files: &mut std::collections::BTreeMap<String, Vec<u8>>,
        extra: Vec<(String, Vec<u8>)>,
    ) -> Result<Outcome, CheckError> {
        let mut kept = std::collections::BTreeMap::new();
        let mut lent = Vec::with_capacity(files.len());
        for (path, bytes) in std::mem::take(files) {
            if self.applied.excluded(&path).is_some() {
                // A copy goes in, for the report to list it as excluded.
                lent.push((path.clone(), bytes.clone()));
                kept.insert(path, bytes);
            } else {
                lent.push((path, bytes));
            }
        }
        let lent_paths = lent.len();
        let mut added = std::collections::HashSet::new();
        for (path, bytes) in extra {
            if !kept.contains_key(&path) && !lent.iter().any(|(p, _)| *p == path) {
                added.insert(path.clone());
                lent.push((path, bytes));
            }
        }
        let mut input = files::Input::from_memory(lent);
        let outcome = self.check_in_place(&mut input);
        debug_assert!(input.files.len() == lent_paths - kept.len() + added.len());
        *files = kept;
        files.extend(
            input
                .files
                .into_iter()
                .filter(|(path, _)| !added.contains(path)),
        );
        outcome
    }

    /// [`Checker::check`], leaving the files with the caller (a range hands
    /// them back to the next commit instead of copying every blob).
    pub(crate) fn check_in_place(
        &mut self,
        input: &mut files::Input,
    ) -> Result<Outcome, CheckError> {
        self.exclude(input);
        let ids: Vec<String> = input
            .files
            .iter()
            .map(|(path, bytes)| {
                input
                    .blob_ids
                    .get(path)
                    .cloned()
                    .unwrap_or_else(|| crate::git::blob_id(bytes))
            })
            .collect();
        let memo = &mut self.kustomizations;
        let mut seen = std::collections::HashSet::new();
        let layout = parse::Layout::with(&input.files, |i, path, bytes| {
            let key = (path.to_owned(), ids[i].clone());
            seen.insert(key.clone());
            memo.entry(key)
                .or_insert_with(|| parse::kustomization_entries(path, bytes))
                .clone()
        });
        // Only this version's kustomizations: the next commit shares them.
        memo.retain(|key, _| seen.contains(key));
        let mut findings = std::mem::take(&mut input.findings);
        let mut skipped = std::mem::take(&mut input.skipped);
        let keys: Vec<(String, String)> = input
            .files
            .iter()
            .zip(&ids)
            .map(|((path, _), id)| {
                // A listed file is read as YAML: not the same result as the
                // same bytes unlisted.
                if layout.patches.contains(path) {
                    return (path.clone(), format!("{id}+patch"));
                }
                if layout.stray.contains(path) {
                    return (path.clone(), format!("{id}+stray"));
                }
                if layout.listed.contains(path) {
                    return (path.clone(), format!("{id}+listed"));
                }
                (path.clone(), id.clone())
            })
            .collect();
        // Files not seen before are parsed and evaluated together, so that
        // their documents share the evaluation threads.
        let mut to_parse: Vec<(&str, &[u8])> = Vec::new();
        let mut fresh_keys = Vec::new();
        for ((path, bytes), key) in input.files.iter().zip(&keys) {
            if self.cache.contains_key(key) {
                continue;
            }
            // Found on disk: parsed (the repository rules need the
            // documents), not evaluated.
            if let Some(found) = self.disk.as_ref().and_then(|d| d.get(&key.0, &key.1)) {
                let mut parsed = parse::Parsed::default();
                parse::parse_file(path, bytes, &layout, &mut parsed);
                parsed.findings.clear();
                self.cache.insert(
                    key.clone(),
                    FileResult {
                        parsed,
                        findings: found,
                    },
                );
                continue;
            }
            to_parse.push((path.as_str(), bytes.as_slice()));
            fresh_keys.push(key.clone());
        }
        let fresh = parse::parse_many(&to_parse, &layout);
        // The parsing threads' scratch is freed, so the rules start on
        // clean heaps; only after a large parse (a range's commits parse a
        // few files each, and the trim walks every heap).
        if to_parse.len() >= 64 {
            crate::memory::release();
        }
        let versions: std::collections::HashMap<String, String> = keys.iter().cloned().collect();
        findings.extend(self.spec_findings(&input.files, &versions));
        findings.extend(self.config_findings(&input.files, &versions));

        // Where each fresh file's documents sit in `fresh` (parsing pushes
        // them file by file).
        let mut fresh_ranges: std::collections::HashMap<&str, std::ops::Range<usize>> =
            std::collections::HashMap::new();
        for (i, d) in fresh.documents.iter().enumerate() {
            fresh_ranges
                .entry(d.path.as_str())
                .and_modify(|r| r.end = i + 1)
                .or_insert(i..i + 1);
        }
        // Every file's documents, remembered or fresh, in file order.
        let mut documents: Vec<&parse::Document> = Vec::new();
        for key in &keys {
            if let Some(hit) = self.cache.get(key) {
                documents.extend(hit.parsed.documents.iter());
                skipped.extend(hit.parsed.skipped.iter().cloned());
                findings.extend(hit.findings.iter().cloned());
            } else if let Some(range) = fresh_ranges.get(key.0.as_str()) {
                documents.extend(fresh.documents[range.clone()].iter());
            }
        }

        let delta = self.previous.as_mut().map(|p| p.advance(&keys));
        // Whether no file this version changed holds, in either version,
        // what `reads` says a part reads (a version no longer remembered
        // may have): that part then sees the previous version's input.
        let cache = &self.cache;
        let documents_of = |key: &(String, String), now: bool| match cache.get(key) {
            Some(hit) => Some(hit.parsed.documents.as_slice()),
            // Not remembered: parsed now, or a previous version forgotten.
            None if now => {
                let range = fresh_ranges
                    .get(key.0.as_str())
                    .cloned()
                    .unwrap_or_default();
                Some(&fresh.documents[range])
            }
            None => None,
        };
        let unchanged_for = |reads: &dyn Fn(&str, &[parse::Document]) -> bool| {
            let changed = delta.as_ref().and_then(|d| d.changed_from());
            changed.is_some_and(|changed| {
                changed.iter().all(|(path, was)| {
                    let now = versions.get(path).cloned().unwrap_or_default();
                    [(was.clone(), false), (now, true)]
                        .into_iter()
                        .all(|(version, now)| {
                            documents_of(&(path.clone(), version), now)
                                .is_some_and(|docs| !reads(path, docs))
                        })
                })
            })
        };
        // The previous version's repository findings, and the folders its
        // GitOps objects apply, when still this version's. Taken: a check
        // that fails from here on, or does not need them, leaves none.
        let embedded = &self.embedded;
        let previous = self.previous.as_mut();
        let (repository_unchanged, folders_unchanged) = match previous {
            Some(p) => (
                p.repository.take().filter(|_| {
                    // A harness changed says anew which documents are
                    // test inputs, which the repository rules do not see.
                    unchanged_for(&|path, docs| {
                        embedded.repository_reads(path, docs)
                            || docs.iter().any(harness::is_harness)
                    })
                }),
                p.folders.take().filter(|_| {
                    unchanged_for(&|_, docs| docs.iter().any(deployed::applies_folders))
                }),
            ),
            None => (None, None),
        };

        // The folders the tree's GitOps objects apply: read from every
        // document, when first asked (by the harnesses, or for a file that
        // does not parse), once.
        let applied_folders = std::cell::OnceCell::new();
        let applied_folders_of = |documents: &[&parse::Document]| {
            applied_folders
                .get_or_init(|| {
                    folders_unchanged
                        .clone()
                        .unwrap_or_else(|| deployed::folders(&input.files, documents))
                })
                .clone()
        };
        // What only a test harness reads is no part of the system.
        let harnesses = harness::Harnesses::of(&input.files, &documents, &layout, || {
            applied_folders_of(&documents)
        });
        if !harnesses.is_empty() {
            documents.retain(|d| !harnesses.skips(&d.path));
        }

        // Custom resources against the tree's CRDs and the bundled ones,
        // file by file, remembered while the file and the CRDs are unchanged.
        let definitions = custom::Definitions::of(&documents);
        let mut not_validated: std::collections::BTreeMap<String, usize> = Default::default();
        let mut start = 0;
        while start < documents.len() {
            let path = &documents[start].path;
            let end = start
                + documents[start..]
                    .iter()
                    .take_while(|d| d.path == *path)
                    .count();
            let key = (
                path.clone(),
                versions.get(path).cloned().unwrap_or_default(),
            );
            let remembered = self
                .custom_memo
                .get(&key)
                .filter(|(digest, _, _)| *digest == definitions.digest);
            let (found, counts) = match remembered {
                Some((_, found, counts)) => (found.clone(), counts.clone()),
                None => {
                    let checked = self.validators.check(&documents[start..end], &definitions);
                    self.custom_memo.insert(
                        key,
                        (
                            definitions.digest.clone(),
                            checked.findings.clone(),
                            checked.not_validated.clone(),
                        ),
                    );
                    (checked.findings, checked.not_validated)
                }
            };
            findings.extend(found);
            for (kind, n) in counts {
                *not_validated.entry(kind).or_default() += n;
            }
            start = end;
        }
        if !self.keep_schemas {
            self.validators = Default::default();
        }

        let paths: Vec<String> = input.files.iter().map(|(p, _)| p.clone()).collect();
        // The rules of the fresh files, the repository rules and the system
        // simulation read the same documents and nothing of each other: the
        // repository rules run beside the other two, which keeps both cores
        // busy from parsing to the report. Two threads, not three: each
        // thread that allocates holds a heap of its own, and the machine's
        // cores are the bound anyway.
        let target = self.config.target();
        let combine = self.options.combine;
        let (embedded, local, facts, memo) = (
            &self.embedded,
            &self.local,
            &self.facts,
            &mut self.system_memo,
        );
        let (fresh_found, repository, simulated) = std::thread::scope(|scope| {
            // Remembered, or evaluated beside the simulation.
            let repository = match repository_unchanged {
                Some(found) => Ok(found),
                None => Err(scope
                    .spawn(|| embedded.evaluate_repository(&documents, &paths, Some(&versions)))),
            };
            let simulated = system::evaluate_after(
                embedded,
                local,
                &documents,
                &input.files,
                &versions,
                facts,
                memo,
                delta.as_ref(),
            );
            let fresh_found = if fresh_keys.is_empty() {
                Ok(Vec::new())
            } else {
                let mut found = schema::validate(&fresh.documents, target);
                embedded
                    .evaluate_files(&fresh.documents, &fresh.texts)
                    .map(|more| {
                        found.extend(more);
                        if !combine {
                            found.extend(local.evaluate(&fresh.documents));
                        }
                        found
                    })
            };
            let repository = match repository {
                Ok(found) => Ok(found),
                Err(evaluating) => join(evaluating),
            };
            (fresh_found, repository, simulated)
        });
        let fresh_found = fresh_found?;
        let repository = repository?;
        if let Some(previous) = &mut self.previous {
            previous.repository = Some(repository.clone());
        }
        findings.extend(repository);
        let simulated = simulated?;
        findings.extend(simulated.findings);

        let mut rendered_found = Vec::new();
        if let Some(root) = &self.options.render_root {
            let rendered = render::render_all(root, &input.files)?;
            findings.extend(rendered.refused);
            let mut by_path: std::collections::HashMap<&str, Vec<&parse::Document>> =
                std::collections::HashMap::new();
            for d in &documents {
                by_path.entry(d.path.as_str()).or_default().push(d);
            }
            let model = system::kustomize::Files::new(
                input
                    .files
                    .iter()
                    .map(|(p, b)| (p.as_str(), b.as_slice()))
                    .collect(),
                by_path,
                Default::default(),
            );
            let mut traced = Vec::new();
            for (overlay, rendered) in rendered.overlays {
                let mut found = schema::validate(&rendered, self.config.target());
                // Document rules only: the repository rules read the whole
                // tree, which one build is not.
                found.extend(self.embedded.evaluate_files(&rendered, &[])?);
                traced.extend(render::trace(
                    found, &overlay, &rendered, &documents, &model,
                ));
            }
            rendered_found = render::merge_overlays(traced);
        }

        let document_count = documents.len();
        if combine {
            findings.extend(self.local.evaluate_combined(&documents));
        }
        // Only a file that does not parse asks whether it is deployed, and
        // the answer reads every document: asked only then.
        let unparsed = |f: &Finding| f.rule == PARSE_RULE;
        let deployed = (findings.iter().any(unparsed)
            || fresh.findings.iter().any(unparsed)
            || fresh_found.iter().any(unparsed)
            || rendered_found.iter().any(unparsed))
        .then(|| {
            let folders = applied_folders_of(&documents);
            if let Some(p) = &mut self.previous {
                p.folders = Some(folders.clone());
            }
            deployed::Deployed::with(&input.files, &layout, folders)
        });
        // A range remembers each kustomization root's build.
        let kustomized_memo = self
            .previous
            .is_some()
            .then_some((&mut self.kustomized, &versions));
        let kustomized =
            kustomized::Kustomized::of(&input.files, &documents, &layout, kustomized_memo);
        let substituted = substituted::Substituted::of(&input.files, &documents);
        let sealed = sealed::Sealed::of(&input.files, &documents);
        drop(documents);
        self.remember(fresh, fresh_keys, fresh_found, &mut findings, &mut skipped);
        kustomized.settle(&mut findings);
        substituted.settle(&mut findings);
        sealed.settle(&mut findings);
        if !rendered_found.is_empty() {
            // What the files already say is not said again for each build.
            let said: std::collections::HashSet<(&str, &str, &str)> = findings
                .iter()
                .map(|f| (f.file.as_str(), f.rule.as_str(), f.message.as_str()))
                .collect();
            let fresh: Vec<Finding> = rendered_found
                .into_iter()
                .filter(|f| {
                    let plain = f
                        .message
                        .split_once("] ")
                        .map_or(f.message.as_str(), |(_, m)| m);
                    !said.contains(&(f.file.as_str(), f.rule.as_str(), plain))
                })
                .collect();
            findings.extend(fresh);
        }
        // A file nothing deploys is skipped, with the reason, when it does
        // not parse (see `deployed`).
        findings.retain(|f| {
            if f.rule != PARSE_RULE || deployed.as_ref().is_none_or(|d| d.may_deploy(&f.file)) {
                return true;
            }
            skipped.push((
                f.file.clone(),
                format!(
                    "does not parse ({}) and no kustomization, Application or Flux Kustomization deploys it",
                    f.message
                ),
            ));
            false
        });
        if !harnesses.is_empty() {
            findings.retain(|f| !harnesses.skips(&f.file));
            skipped.retain(|(p, _)| !harnesses.skips(p));
            skipped.extend(harnesses.skipped());
        }
        let bound = 2 * keys.len() + 64;
        if self.cache.len() > bound || self.custom_memo.len() > bound {
            let current: std::collections::HashSet<(String, String)> = keys.into_iter().collect();
            self.cache.retain(|key, _| current.contains(key));
            self.custom_memo.retain(|key, _| current.contains(key));
        }

        // The catalog is the one place an embedded rule's severity is
        // decided, and the configuration the one place it is changed.
        for f in findings.iter_mut().filter(|f| f.source == "embedded") {
            if self.catalog.get(&f.rule).is_some() {
                f.severity = self.catalog.severity(&f.rule);
            }
        }
        let platform = self.applied.platform(deployed::socle_made(&input.files));
        if !platform {
            findings.retain(|f| f.source != "embedded" || !self.catalog.is_platform(&f.rule));
        }
        self.applied.apply(&mut findings);
        let mut findings = self.exceptions.apply(findings, exceptions::today());
        findings.sort_by(|a, b| {
            (&a.file, a.line, &a.rule, &a.message).cmp(&(&b.file, b.line, &b.rule, &b.message))
        });
        findings.dedup_by(|a, b| {
            a.file == b.file && a.line == b.line && a.rule == b.rule && a.message == b.message
        });
        skipped.sort();
        skipped.dedup();
        let snippets = if self.options.snippets {
            snippets(&findings, &input.files)
        } else {
            Default::default()
        };
        Ok(Outcome {
            findings,
            files: input.files.len(),
            documents: document_count,
            skipped,
            not_modelled: simulated.not_modelled,
            not_validated,
            systems: simulated.systems,
            snippets,
        })
    }
}

/// The lines around each finding that names one, by file: what a report
/// shows under the message. Bounded: at most 2,000 findings, lines cut at
/// 400 characters.
fn snippets(
    findings: &[Finding],
    files: &[(String, Vec<u8>)],
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<usize, String>> {
    let context = report::SNIPPET_CONTEXT;
    let mut wanted: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for f in findings.iter().take(2_000) {
        if let Some(line) = f.line {
            wanted.entry(f.file.as_str()).or_default().push(line);
        }
    }
    let mut out = std::collections::BTreeMap::new();
    for (path, bytes) in files {
        let Some(lines) = wanted.get(path.as_str()) else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        let mut shown = std::collections::BTreeMap::new();
        for (i, l) in text.lines().enumerate() {
            let n = i + 1;
            if lines
                .iter()
                .any(|&at| n + context >= at && n <= at + context)
            {
                shown.insert(n, l.chars().take(400).collect());
            }
        }
        out.insert(path.clone(), shown);
    }
    out
}

#[cfg(test)]
mod lent_tests {
    use std::collections::BTreeMap;

    use super::{Checker, Options};

    /// Every file comes back unchanged, an extra file is checked but not
    /// handed back, and an excluded file stays with the caller yet is
    /// reported as excluded.
    #[test]
    fn lent_files_come_back_whole() {
        let config = (
            super::config::PATH.to_owned(),
            b"exclude: [\"scratch/**\"]\n".to_vec(),
        );
        let mut checker =
            Checker::new(std::slice::from_ref(&config), &Options::default()).expect("checker");
        let mut files: BTreeMap<String, Vec<u8>> = [
            config,
            ("README.md".to_owned(), b"# r\n".to_vec()),
            ("scratch/x.yaml".to_owned(), b"a: [\n".to_vec()),
            (
                "cm.yaml".to_owned(),
                b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n".to_vec(),
            ),
        ]
        .into_iter()
        .collect();
        let before = files.clone();
        let extra = vec![
            ("socle.lock".to_owned(), Vec::new()),
            // Present already: the caller's version is checked and kept.
            ("README.md".to_owned(), b"other\n".to_vec()),
        ];
        let outcome = checker.check_lent(&mut files, extra).expect("checked");
        assert_eq!(files, before);
        assert!(
            outcome
                .skipped
                .iter()
                .any(|(p, why)| p == "scratch/x.yaml" && why.contains("excluded")),
            "{:?}",
            outcome.skipped
        );
        assert!(
            !outcome.findings.iter().any(|f| f.file == "scratch/x.yaml"),
            "{:?}",
            outcome.findings
        );
    }
}
