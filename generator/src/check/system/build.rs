//! Repository → one [`System`] per bootstrap Application: the Applications
//! it syncs at any depth, what each creates (kustomize and directory
//! sources modelled, charts from their facts), and what each object needs.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::input::{
    Application, At, Cluster, Destination, Gap, GroupKind, Need, Object, Prerequisite, Project,
    Source, System,
};
use super::kustomize::{self, Emitted, Files};
use crate::check::parse::Document;
use crate::core::charts::{ChartFacts, Scope};
use crate::core::kinds;

pub(crate) const IN_CLUSTER: &str = "https://kubernetes.default.svc";
const ENV_LABEL: &str = crate::core::kinds::ENVIRONMENT_LABEL;
/// A bound on Applications of Applications: ArgoCD has none, but a cycle
/// or a hostile repository must not make the model loop.
const MAX_APPLICATIONS: usize = 10_000;

/// An Application as the model follows it.
struct AppDoc<'a> {
    doc: &'a Document,
    name: String,
}

/// What each Application syncs, by the place of its document: modelled
/// now, or kept from an earlier version and not copied out until a system
/// assembled takes it.
type Created<'a> = HashMap<(String, usize), Made<'a>>;

enum Made<'a> {
    Model(Box<AppModel<'a>>),
    Kept,
}

/// The kept model of the Application at a place, copied out for this
/// version (none when it cannot be: the Application is modelled again).
type Recall<'r, 'a> = dyn Fn(&(String, usize)) -> Option<AppModel<'a>> + 'r;

/// A root Application's system, or the environment (name, root) it
/// bootstraps when it was left unassembled.
pub(crate) enum Assembled<'a> {
    System(Box<Modelled<'a>>),
    Unchanged(String, String),
}

/// The environment a root Application bootstraps: its
/// `socle.dev/environment` label, else its name.
fn environment_of(root: &AppDoc<'_>) -> String {
    root.doc.value["metadata"]["labels"][ENV_LABEL]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| root.name.clone())
}

/// A system, with the content of each of its objects (by index) for the
/// parts of the model that read content (network, wiring).
pub(crate) struct Modelled<'a> {
    pub(crate) system: System,
    pub(crate) values: Vec<Option<Cow<'a, Value>>>,
    /// The files whose documents or contents made this system (its
    /// Applications' sources, its kustomizations, its values files), and
    /// whether that was every file; with the repository's structure (see
    /// [`Repository::structure`]) and its file list, they decide it.
    pub(crate) read: BTreeSet<&'a str>,
    pub(crate) read_all: bool,
    /// Each Application's model key, by the place of its document, when
    /// the models are kept across versions (a range): what the scans of
    /// its configuration are kept under (see `scans`).
    pub(crate) app_keys: std::sync::Arc<HashMap<(String, usize), String>>,
}

/// The files each Application's model read, by the place of its document.
type Reads<'a> = HashMap<(String, usize), (BTreeSet<&'a str>, bool)>;

/// What an Application syncs, kept from one version of the repository to
/// the next (see [`AppCache`]).
type AppModel<'a> = (
    Vec<Emitted<'a>>,
    Application,
    Vec<kustomize::Gap>,
    Vec<(Object, Option<Value>)>,
);

/// Each Application's model, by the place of its document, kept while the
/// files it read are unchanged: a commit models again only the
/// Applications whose sources it changed. The objects' documents are kept
/// as places (file and line) and found again in the new version, where the
/// same files hold the same documents.
#[derive(Default)]
pub(crate) struct AppCache {
    apps: HashMap<(String, usize), Remembered>,
}

struct Remembered {
    key: String,
    read: Vec<String>,
    /// Those of `read` some model read whole (a generator's source): they
    /// stay noted so in the versions that recall this model.
    whole: Vec<String>,
    all: bool,
    /// The objects without their documents, and whether each had one.
    modelled: AppModel<'static>,
    documented: Vec<bool>,
}

/// How many Applications' models [`AppCache`] keeps before starting afresh.
const APP_CACHE_BOUND: usize = 4096;

/// The key of an Application's model: the digest of what it read (with the
/// repository's structure and file list, see `system::Judgement`).
pub(crate) type AppKey<'k> = dyn FnMut(&mut dyn Iterator<Item = &str>, bool) -> String + 'k;

fn without_documents<'a>(m: &AppModel<'a>) -> (AppModel<'static>, Vec<bool>) {
    let documented = m.0.iter().map(|e| e.doc.is_some()).collect();
    let emitted =
        m.0.iter()
            .map(|e| Emitted {
                api_version: e.api_version.clone(),
                kind: e.kind.clone(),
                name: e.name.clone(),
                namespace: e.namespace.clone(),
                doc: None,
                file: e.file.clone(),
                line: e.line,
                generated: e.generated.clone(),
                patched: e.patched.clone(),
                images: e.images.clone(),
                selects: e.selects,
                creates: e.creates.clone(),
            })
            .collect();
    ((emitted, m.1.clone(), m.2.clone(), m.3.clone()), documented)
}

/// The repository's files and documents, indexed once.
pub(crate) struct Repository<'a> {
    pub(crate) files: Files<'a>,
    apps: Vec<AppDoc<'a>>,
    projects: Vec<Project>,
    clusters: Vec<Cluster>,
    external_clusters: Vec<String>,
    prerequisites: Vec<Prerequisite>,
    /// Environment → the environments bootstrapped before it on its cluster.
    after: HashMap<String, Vec<String>>,
    facts: &'a ChartFacts,
}

impl<'a> Repository<'a> {
    pub(crate) fn new(
        docs: &[&'a Document],
        files: &'a [(String, Vec<u8>)],
        facts: &'a ChartFacts,
    ) -> Self {
        let mut by_path: HashMap<&'a str, Vec<&'a Document>> = HashMap::new();
        for d in docs {
            by_path.entry(d.path.as_str()).or_default().push(d);
        }
        let mut custom_scopes = HashMap::new();
        for c in &facts.charts {
            for k in &c.crds {
                custom_scopes.insert((k.group.clone(), k.kind.clone()), k.scope);
            }
        }
        for d in docs
            .iter()
            .filter(|d| d.kind() == "CustomResourceDefinition")
        {
            if let Some(gk) = crd_defines(&d.value) {
                let scope = if d.value["spec"]["scope"].as_str() == Some("Cluster") {
                    Scope::Cluster
                } else {
                    Scope::Namespaced
                };
                custom_scopes.insert((gk.group, gk.kind), scope);
            }
        }
        let is_argo = |d: &Document, kind: &str| {
            d.kind() == kind
                && d.value["apiVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("argoproj.io/"))
        };
        let apps = docs
            .iter()
            .filter(|d| is_argo(d, "Application"))
            .map(|d| AppDoc {
                doc: d,
                name: d.value["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            })
            .collect();
        let projects = docs
            .iter()
            .filter(|d| is_argo(d, "AppProject"))
            .map(|d| Project {
                name: d.value["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                at: at_doc(d),
                spec: d.value.get("spec").cloned().unwrap_or(Value::Null),
            })
            .collect();
        let clusters = registered_clusters(docs);
        let (external_clusters, prerequisites, after) = configuration(docs);
        Self {
            external_clusters,
            prerequisites,
            after,
            files: Files::new(
                files
                    .iter()
                    .map(|(p, b)| (p.as_str(), b.as_slice()))
                    .collect(),
                by_path,
                custom_scopes,
            ),
            apps,
            projects,
            clusters,
            facts,
        }
    }

    /// What a remembered Application's model read, as this version names
    /// those files, when none of them changed (the files it read whole are
    /// noted so again); [`Repository::copied_out`] gives the model itself
    /// to a system that takes it.
    fn recalled(&self, r: &Remembered, key: &mut AppKey) -> Option<(BTreeSet<&'a str>, bool)> {
        // The paths as this version's files name them (a file gone: the
        // model is built again).
        let read: BTreeSet<&'a str> = r
            .read
            .iter()
            .map(|p| self.files.bytes.get_key_value(p.as_str()).map(|(k, _)| *k))
            .collect::<Option<_>>()?;
        if key(&mut read.iter().copied(), r.all) != r.key {
            return None;
        }
        for p in &r.whole {
            if let Some(p) = read.get(p.as_str()) {
                self.files.note_read_whole(p);
            }
        }
        Some((read, r.all))
    }

    /// A model [`Repository::recalled`] found current, copied out with its
    /// documents found again in this version (the files read are the
    /// same, so they are where they were). Finding them notes them as
    /// read, by the system that takes the model: they are in what the
    /// model read.
    fn copied_out(&self, r: &Remembered) -> Option<AppModel<'a>> {
        let mut emitted = Vec::with_capacity(r.modelled.0.len());
        for (e, documented) in r.modelled.0.iter().zip(&r.documented) {
            let doc = if *documented {
                Some(self.files.doc_at(&e.file, e.line)?)
            } else {
                None
            };
            emitted.push(Emitted {
                api_version: e.api_version.clone(),
                kind: e.kind.clone(),
                name: e.name.clone(),
                namespace: e.namespace.clone(),
                doc,
                file: e.file.clone(),
                line: e.line,
                generated: e.generated.clone(),
                patched: e.patched.clone(),
                images: e.images.clone(),
                selects: e.selects,
                creates: e.creates.clone(),
            });
        }
        Some((
            emitted,
            r.modelled.1.clone(),
            r.modelled.2.clone(),
            r.modelled.3.clone(),
        ))
    }

    /// What every system reads besides its own files: the projects, the
    /// clusters, the configuration's prerequisites and order, and the
    /// scopes of custom kinds, as text.
    pub(crate) fn structure(&self) -> String {
        let mut after: Vec<_> = self.after.iter().collect();
        after.sort();
        let mut scopes: Vec<_> = self.files.custom_scopes.iter().collect();
        scopes.sort_by(|a, b| a.0.cmp(b.0));
        format!(
            "{}\n{}\n{:?}\n{}\n{after:?}\n{scopes:?}",
            serde_json::to_string(&self.projects).unwrap_or_default(),
            serde_json::to_string(&self.clusters).unwrap_or_default(),
            self.external_clusters,
            serde_json::to_string(&self.prerequisites).unwrap_or_default(),
        )
    }

    /// One system per bootstrap Application (an Application that no other
    /// Application of the repository syncs).
    pub(crate) fn systems(&self) -> Vec<Modelled<'a>> {
        self.systems_with(None, &|_, _| false)
            .into_iter()
            .filter_map(|a| match a {
                Assembled::System(m) => Some(*m),
                Assembled::Unchanged(..) => None,
            })
            .collect()
    }

    /// [`Repository::systems`], each Application's model taken from
    /// `cache` when its key (`key` of what it read) is unchanged, and the
    /// systems of the environments (name, root) `unchanged` says read
    /// nothing that changed not assembled at all, unless an environment
    /// assembled inherits from them.
    pub(crate) fn systems_with(
        &self,
        mut cache: Option<(&mut AppCache, &mut AppKey)>,
        unchanged: &dyn Fn(&str, &str) -> bool,
    ) -> Vec<Assembled<'a>> {
        // Each Application is modelled once, whichever systems include it.
        let mut created: Created<'a> = HashMap::new();
        let mut reads: Reads<'a> = HashMap::new();
        let mut synced: HashSet<(String, usize)> = HashSet::new();
        let mut app_keys = HashMap::new();
        if let Some((cache, _)) = &mut cache {
            if cache.apps.len() >= APP_CACHE_BOUND {
                cache.apps.clear();
            }
        }
        self.files.take_touched();
        for app in &self.apps {
            let place = (app.doc.path.clone(), app.doc.line);
            let known = match &mut cache {
                Some((cache, key)) => cache
                    .apps
                    .get(&place)
                    .and_then(|r| Some((r, self.recalled(r, &mut **key)?))),
                None => None,
            };
            if let Some((r, (read, all))) = known {
                // What it syncs is read from the kept model: the
                // Applications it creates are where they were.
                for (e, documented) in r.modelled.0.iter().zip(&r.documented) {
                    if e.kind == "Application" && *documented {
                        synced.insert((e.file.clone(), e.line));
                    }
                }
                app_keys.insert(place.clone(), r.key.clone());
                reads.insert(place.clone(), (read, all));
                created.insert(place, Made::Kept);
                continue;
            }
            let modelled = self.app_objects(app);
            let (mut read, all) = self.files.take_touched();
            read.insert(app.doc.path.as_str());
            if let Some((cache, key)) = &mut cache {
                let (kept, documented) = without_documents(&modelled);
                let app_key = key(&mut read.iter().copied(), all);
                app_keys.insert(place.clone(), app_key.clone());
                cache.apps.insert(
                    place.clone(),
                    Remembered {
                        key: app_key,
                        read: read.iter().map(|p| (*p).to_owned()).collect(),
                        whole: read
                            .iter()
                            .filter(|p| self.files.read_whole(p))
                            .map(|p| (*p).to_owned())
                            .collect(),
                        all,
                        modelled: kept,
                        documented,
                    },
                );
            }
            reads.insert(place, (read, all));
            for o in &modelled.0 {
                if o.kind == "Application" {
                    if let Some(d) = o.doc {
                        synced.insert((d.path.clone(), d.line));
                    }
                }
            }
            created.insert(
                (app.doc.path.clone(), app.doc.line),
                Made::Model(Box::new(modelled)),
            );
        }
        // Taken only by the systems assembled below, once each.
        let kept = cache.as_ref().map(|(c, _)| &**c);
        let recall = |place: &(String, usize)| {
            let r = kept.and_then(|c| c.apps.get(place))?;
            self.copied_out(r)
        };
        let roots: Vec<&AppDoc<'a>> = self
            .apps
            .iter()
            .filter(|a| !synced.contains(&(a.doc.path.clone(), a.doc.line)))
            .collect();
        let ids: Vec<(String, String)> = roots
            .iter()
            .map(|r| (environment_of(r), r.name.clone()))
            .collect();
        let mut skipped: Vec<bool> = ids.iter().map(|(e, r)| unchanged(e, r)).collect();
        // An environment assembled finds the cluster-wide objects of those
        // it is bootstrapped after (below): they are assembled too.
        loop {
            let mut more = false;
            for i in 0..ids.len() {
                if skipped[i] {
                    continue;
                }
                for earlier in self.after.get(&ids[i].0).into_iter().flatten() {
                    for (j, (env, _)) in ids.iter().enumerate() {
                        if skipped[j] && env == earlier {
                            skipped[j] = false;
                            more = true;
                        }
                    }
                }
            }
            if !more {
                break;
            }
        }
        let mut out: Vec<Assembled<'a>> = roots
            .into_iter()
            .zip(ids)
            .zip(skipped)
            .map(|((root, (env, name)), skip)| {
                if skip {
                    Assembled::Unchanged(env, name)
                } else {
                    let m = self.system(root, &mut created, &mut reads, &recall);
                    Assembled::System(Box::new(m))
                }
            })
            .collect();
        let systems: Vec<&Modelled<'a>> = out
            .iter()
            .filter_map(|a| match a {
                Assembled::System(m) => Some(&**m),
                Assembled::Unchanged(..) => None,
            })
            .collect();
        // An environment bootstrapped after another on the same cluster
        // finds that one's cluster-wide objects and CRDs in place.
        let mut inherited: Vec<(Vec<Prerequisite>, BTreeSet<&'a str>, bool)> = Vec::new();
        for m in &systems {
            let mut from = Vec::new();
            let mut read = BTreeSet::new();
            let mut all = false;
            for earlier in self.after.get(&m.system.environment).into_iter().flatten() {
                for other in systems.iter().filter(|o| &o.system.environment == earlier) {
                    read.extend(other.read.iter().copied());
                    all |= other.read_all;
                    for o in &other.system.objects {
                        if let Some(gk) = &o.defines {
                            from.push(Prerequisite {
                                group: gk.group.clone(),
                                kind: "CustomResourceDefinition".into(),
                                name: gk.kind.clone(),
                                namespace: String::new(),
                                at: o.at.clone(),
                            });
                        } else if o.namespaced == Some(false) && !o.name.is_empty() {
                            from.push(Prerequisite {
                                group: o.group.clone(),
                                kind: o.kind.clone(),
                                name: o.name.clone(),
                                namespace: String::new(),
                                at: o.at.clone(),
                            });
                        }
                    }
                }
            }
            inherited.push((from, read, all));
        }
        let app_keys = std::sync::Arc::new(app_keys);
        let assembled = out.iter_mut().filter_map(|a| match a {
            Assembled::System(m) => Some(m),
            Assembled::Unchanged(..) => None,
        });
        for (m, (from, read, all)) in assembled.zip(inherited) {
            m.app_keys = app_keys.clone();
            m.system.prerequisites.extend(from);
            m.read.extend(read);
            m.read_all |= all;
        }
        out
    }

    /// The system `root` bootstraps. Each Application's modelled objects
    /// are taken from `created`: an Application that a second system also
    /// reaches (two roots syncing one child) is modelled again for it.
    fn system(
        &self,
        root: &AppDoc<'a>,
        created: &mut Created<'a>,
        reads: &mut Reads<'a>,
        recall: &Recall<'_, 'a>,
    ) -> Modelled<'a> {
        self.files.take_touched();
        let mut read = BTreeSet::new();
        let mut read_all = false;
        let environment = environment_of(root);
        let mut prerequisites = self.prerequisites.clone();
        // ArgoCD runs before it syncs anything: its namespace and CRDs exist.
        let argocd_ns = root.doc.value["metadata"]["namespace"]
            .as_str()
            .unwrap_or("argocd");
        prerequisites.push(Prerequisite {
            kind: "Namespace".into(),
            name: argocd_ns.into(),
            ..Prerequisite::default()
        });
        for kind in ["Application", "AppProject", "ApplicationSet"] {
            prerequisites.push(Prerequisite {
                group: "argoproj.io".into(),
                kind: "CustomResourceDefinition".into(),
                name: kind.into(),
                ..Prerequisite::default()
            });
        }
        let mut system = System {
            environment,
            root: root.name.clone(),
            projects: self.projects.clone(),
            clusters: self.clusters.clone(),
            external_clusters: self.external_clusters.clone(),
            prerequisites,
            ..System::default()
        };
        let mut values: Vec<Option<Cow<'a, Value>>> = Vec::new();
        let mut queue: Vec<(&'a Document, Option<String>)> = vec![(root.doc, None)];
        let mut seen: HashSet<(String, usize)> = HashSet::new();
        while let Some((doc, parent)) = queue.pop() {
            if !seen.insert((doc.path.clone(), doc.line)) || seen.len() > MAX_APPLICATIONS {
                continue;
            }
            let name = doc.value["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let app = AppDoc {
                doc,
                name: name.clone(),
            };
            let place = (doc.path.clone(), doc.line);
            let (emitted, mut application, gaps, chart_objects) = match created.remove(&place) {
                Some(Made::Model(m)) => *m,
                Some(Made::Kept) => recall(&place).unwrap_or_else(|| self.app_objects(&app)),
                None => self.app_objects(&app),
            };
            if let Some((r, all)) = reads.remove(&place) {
                read.extend(r);
                read_all |= all;
            }
            read.insert(doc.path.as_str());
            application.parent = parent;
            let dest_ns = application
                .destination
                .namespace
                .clone()
                .unwrap_or_default();
            for e in emitted {
                if e.kind == "Application" {
                    if let Some(d) = e.doc {
                        queue.push((d, Some(name.clone())));
                    }
                }
                system.objects.push(self.object(&application, &e, &dest_ns));
                values.push(match (e.patched, e.doc, e.generated) {
                    (Some(p), _, _) => Some(Cow::Owned(p)),
                    (None, Some(d), _) => Some(Cow::Borrowed(&d.value)),
                    (None, None, Some(g)) => Some(Cow::Owned(g)),
                    _ => None,
                });
            }
            for (o, v) in chart_objects {
                system.objects.push(o);
                values.push(v.map(Cow::Owned));
            }
            for g in gaps {
                let list = if g.broken {
                    &mut system.unbuildable
                } else {
                    &mut system.not_modelled
                };
                list.push(Gap {
                    app: name.clone(),
                    at: At {
                        file: g.file,
                        line: g.line,
                        pointer: String::new(),
                    },
                    message: g.message,
                });
            }
            system.applications.push(application);
        }
        system
            .applications
            .sort_by(|a, b| (a.wave, &a.name).cmp(&(b.wave, &b.name)));
        one_object_per_name(&mut system);
        system.not_modelled.sort();
        system.not_modelled.dedup();
        // The gaps of an Application's sources, so far the only ones: a
        // chart's incomplete facts still name every Service and CRD it
        // creates, and a second Application of a name is not the first's
        // gap.
        let partial_apps: BTreeSet<&str> = system
            .not_modelled
            .iter()
            .filter(|g| !g.message.contains("facts are incomplete"))
            .filter(|g| !g.message.starts_with("a second Application"))
            .filter(|g| system.applications.iter().any(|a| a.name == g.app))
            .map(|g| g.app.as_str())
            .collect();
        let partial: BTreeSet<String> = partial_apps
            .iter()
            .filter_map(|app| {
                system
                    .applications
                    .iter()
                    .find(|a| a.name == *app)
                    .and_then(|a| a.destination.namespace.clone())
            })
            .collect();
        system.partly_modelled_apps = partial_apps.into_iter().map(str::to_owned).collect();
        system.partly_modelled_namespaces = partial.into_iter().collect();
        let (touched, all) = self.files.take_touched();
        read.extend(touched);
        Modelled {
            system,
            values,
            read,
            read_all: read_all || all,
            app_keys: Default::default(),
        }
    }

    /// What one Application syncs: the objects of its repository sources,
    /// its description, what could not be modelled, and its charts' objects.
    #[allow(clippy::type_complexity)]
    fn app_objects(
        &self,
        app: &AppDoc<'a>,
    ) -> (
        Vec<Emitted<'a>>,
        Application,
        Vec<kustomize::Gap>,
        Vec<(Object, Option<Value>)>,
    ) {
        let v = &app.doc.value;
        let spec = &v["spec"];
        let meta = &v["metadata"];
        let dest = &spec["destination"];
        let mut application = Application {
            name: app.name.clone(),
            at: at_doc(app.doc),
            project: spec["project"].as_str().unwrap_or("default").to_owned(),
            wave: wave_of(meta),
            parent: None,
            destination: Destination {
                server: dest["server"].as_str().map(str::to_owned),
                name: dest["name"].as_str().map(str::to_owned),
                namespace: dest["namespace"].as_str().map(str::to_owned),
            },
            sources: Vec::new(),
            sync_options: spec["syncPolicy"]["syncOptions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            component: meta["labels"]["app.kubernetes.io/component"]
                .as_str()
                .map(str::to_owned),
            destination_permitted: None,
        };
        let mut emitted = Vec::new();
        let mut gaps = Vec::new();
        let mut chart_objects = Vec::new();
        for (path, s) in sources(spec) {
            let at = At::field(app.doc, &path);
            let mut source = Source {
                repo_url: s["repoURL"].as_str().unwrap_or_default().to_owned(),
                path: s["path"].as_str().map(str::to_owned),
                chart: s["chart"].as_str().map(str::to_owned),
                target_revision: s["targetRevision"].as_str().map(str::to_owned),
                reference: s["ref"].as_str().map(str::to_owned),
                model: String::new(),
                at: at.clone(),
                permitted: None,
            };
            let gap = |message: String| kustomize::Gap {
                file: at.file.clone(),
                line: at.line,
                message,
                broken: false,
            };
            let chart_ref = source
                .chart_ref()
                .map(|(repo, chart)| (repo.to_owned(), chart.to_owned()));
            if let Some((repo, chart)) = &chart_ref {
                let version = source.target_revision.clone().unwrap_or_default();
                match self.facts.get(repo, chart, &version) {
                    Some(facts) => {
                        source.model = "chart".into();
                        if !facts.complete {
                            gaps.push(gap(format!(
                                "chart {chart} {version}: facts are incomplete (some templates not read)"
                            )));
                        }
                        chart_objects.extend(self.chart_objects(&application, facts, &at));
                    }
                    None => {
                        source.model = "none".into();
                        gaps.push(gap(format!(
                            "chart {chart} {version} from {repo}: no facts, not modelled"
                        )));
                    }
                }
            } else if let Some(p) = &source.path {
                let dir = kustomize::join("", p);
                let local = dir.is_empty() || self.files.is_dir(&dir);
                if !local {
                    source.model = "remote".into();
                    gaps.push(gap(format!(
                        "path {p} of {} is not in this repository: not modelled",
                        source.repo_url
                    )));
                } else if kustomize::kustomization_file(&self.files, &dir).is_some() {
                    source.model = "kustomize".into();
                    let build = kustomize::build(&self.files, &dir);
                    emitted.extend(build.objects);
                    gaps.extend(build.gaps);
                } else if self
                    .files
                    .bytes
                    .contains_key(kustomize::join(&dir, "Chart.yaml").as_str())
                {
                    source.model = "none".into();
                    gaps.push(gap(format!("Helm chart at {p}: not modelled")));
                } else {
                    source.model = "directory".into();
                    let recurse = s["directory"]["recurse"].as_bool().unwrap_or(false);
                    for file in self.directory_files(&dir, recurse) {
                        emitted.extend(kustomize::documents_of(&self.files, file));
                    }
                }
            } else if source.reference.is_some() {
                source.model = "values".into();
            } else {
                source.model = "none".into();
                gaps.push(gap("a source with neither path nor chart".into()));
            }
            application.sources.push(source);
        }
        (emitted, application, gaps, chart_objects)
    }

    /// The manifests ArgoCD applies from a plain directory source.
    fn directory_files(&self, dir: &str, recurse: bool) -> Vec<&'a str> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.files
            .bytes
            .keys()
            .copied()
            .filter(|p| {
                let Some(rest) = p.strip_prefix(prefix.as_str()) else {
                    return false;
                };
                (recurse || !rest.contains('/'))
                    && [".yaml", ".yml", ".json"].iter().any(|e| rest.ends_with(e))
            })
            .collect()
    }

    fn chart_objects(
        &self,
        app: &Application,
        facts: &crate::core::charts::Chart,
        at: &At,
    ) -> Vec<(Object, Option<Value>)> {
        let ns = app.destination.namespace.clone().unwrap_or_default();
        let object = |group: &str, kind: &str, name: &str, scope: Scope| Object {
            app: app.name.clone(),
            group: group.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            base_name: name.to_owned(),
            namespace: if scope == Scope::Namespaced {
                ns.clone()
            } else {
                String::new()
            },
            namespaced: Some(scope == Scope::Namespaced),
            wave: app.wave,
            at: at.clone(),
            origin: "chart".into(),
            ..Object::default()
        };
        let mut out = Vec::new();
        let gated = facts.creates.iter().any(|k| k.when.is_some())
            || facts.secrets.iter().any(|s| s.when.is_some())
            || facts.made_secrets.iter().any(|s| s.when.is_some());
        let values = (gated || !facts.secrets.is_empty())
            .then(|| super::wiring::app_values(app, &self.files));
        let off = |when: Option<&String>| {
            values
                .as_ref()
                .is_some_and(|v| crate::core::charts::turned_off(when.map(String::as_str), v))
        };
        for k in &facts.creates {
            if off(k.when.as_ref()) {
                continue;
            }
            if matches!(
                k.kind.as_str(),
                "CustomResourceDefinition"
                    | "Service"
                    | "ValidatingWebhookConfiguration"
                    | "MutatingWebhookConfiguration"
            ) && (k.kind != "CustomResourceDefinition" || !facts.crds.is_empty())
                && (k.kind != "Service" || !facts.services.is_empty())
                && (!k.kind.ends_with("WebhookConfiguration") || !facts.webhooks.is_empty())
            {
                continue;
            }
            let mut o = object(&k.group, &k.kind, "", k.scope);
            o.needs = self.kind_needs(&o.group, &o.kind, &o.namespace, at);
            out.push((o, None));
        }
        for c in &facts.crds {
            let mut o = object(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                &c.kind,
                Scope::Cluster,
            );
            o.defines = Some(GroupKind {
                group: c.group.clone(),
                kind: c.kind.clone(),
            });
            out.push((o, None));
        }
        for s in &facts.services {
            let mut o = object("", "Service", &s.name, Scope::Namespaced);
            o.needs = self.kind_needs("", "Service", &ns, at);
            let ports: Vec<Value> = s
                .ports
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "name": p.name,
                        "port": p.port,
                        "targetPort": p.target_port.clone().unwrap_or(Value::from(p.port)),
                    })
                })
                .collect();
            let value = serde_json::json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": s.name, "namespace": ns},
                "spec": {"ports": ports, "selector": s.selector},
            });
            out.push((o, Some(value)));
        }
        for w in &facts.webhooks {
            let mut o = object(
                "admissionregistration.k8s.io",
                &w.kind,
                &w.name,
                Scope::Cluster,
            );
            o.needs = self.kind_needs(&o.group, &o.kind, "", at);
            let value = serde_json::json!({
                "apiVersion": "admissionregistration.k8s.io/v1", "kind": w.kind,
                "metadata": {"name": w.name},
                "webhooks": [{"name": w.name, "clientConfig": {"service": {"name": w.service, "namespace": ns, "port": w.port}}}],
            });
            out.push((o, Some(value)));
        }
        for s in facts.made_secrets.iter().filter(|s| !off(s.when.as_ref())) {
            out.push((object("", "Secret", &s.name, Scope::Namespaced), None));
        }
        // A name with a placeholder (one Secret per role or user) stands for
        // several Secrets the values list; the model cannot name them.
        for s in facts
            .secrets
            .iter()
            .filter(|s| !s.name.contains('<') && !off(s.when.as_ref()))
        {
            // A key the Application's values set to null or "" reads no
            // Secret (Helm drops a null); any other keeps the fact's Secret.
            let set = values.as_ref().and_then(|v| at_dotted(v, &s.value));
            if matches!(set, Some(Value::Null)) || set.and_then(Value::as_str) == Some("") {
                continue;
            }
            // A list the values set (Helm replaces lists whole) in which no
            // entry names the Secret does not read it: `extraEnvFrom: []`.
            if values
                .as_ref()
                .and_then(|v| names_in_list(v, &s.value))
                .is_some_and(|names| !names.contains(&s.name.as_str()))
            {
                continue;
            }
            let mut o = object("", "Secret", "", Scope::Namespaced);
            o.kind = "HelmValuesReference".into();
            o.name = s.value.clone();
            o.needs = vec![Need {
                what: "secret".into(),
                group: String::new(),
                kind: "Secret".into(),
                name: s.name.clone(),
                namespace: ns.clone(),
                at: at.clone(),
                providers: Vec::new(),
            }];
            o.origin = "chart-values".into();
            out.push((o, None));
        }
        out
    }

    fn object(&self, app: &Application, e: &Emitted<'a>, dest_ns: &str) -> Object {
        let group = kinds::group_of(&e.api_version).to_owned();
        let scope = self.files.scope(&e.api_version, &e.kind);
        let namespace = match scope {
            Some(Scope::Cluster) => String::new(),
            _ => e.namespace.clone().unwrap_or_else(|| dest_ns.to_owned()),
        };
        let at = At {
            file: e.file.clone(),
            line: e.line,
            pointer: String::new(),
        };
        let value = e.value();
        let base_name = value
            .and_then(|v| v["metadata"]["name"].as_str())
            .filter(|_| e.generated.is_some())
            .map(|n| n.rsplit_once('-').map_or(n, |(b, _)| b).to_owned())
            .unwrap_or_else(|| e.name.clone());
        let annotations = value.map(|v| &v["metadata"]["annotations"]);
        let sync_options = annotations
            .and_then(|a| a["argocd.argoproj.io/sync-options"].as_str())
            .map(|s| s.split(',').map(|o| o.trim().to_owned()).collect())
            .unwrap_or_default();
        let mut needs = self.kind_needs(&group, &e.kind, &namespace, &at);
        if let (Some(doc), Some(v)) = (e.doc, value) {
            needs.extend(field_needs(doc, v, &e.kind, &namespace));
        }
        let produces = (e.kind == "ExternalSecret").then(|| {
            value
                .and_then(|v| v["spec"]["target"]["name"].as_str())
                .unwrap_or(&e.name)
                .to_owned()
        });
        Object {
            app: app.name.clone(),
            group,
            kind: e.kind.clone(),
            name: e.name.clone(),
            base_name,
            namespace,
            namespaced: scope.map(|s| s == Scope::Namespaced),
            wave: app.wave,
            at,
            origin: if e.generated.is_some() {
                "generator"
            } else {
                "manifest"
            }
            .into(),
            sync_options,
            defines: if e.kind == "CustomResourceDefinition" {
                value.and_then(crd_defines)
            } else {
                None
            },
            produces,
            needs,
        }
    }

    /// What any object of a kind needs: its namespace (unless every
    /// cluster has it), and the CRD of a custom kind.
    fn kind_needs(&self, group: &str, kind: &str, namespace: &str, at: &At) -> Vec<Need> {
        let mut needs = Vec::new();
        if !namespace.is_empty() && !kinds::CLUSTER_NAMESPACES.contains(&namespace) {
            needs.push(Need {
                what: "namespace".into(),
                group: String::new(),
                kind: "Namespace".into(),
                name: namespace.to_owned(),
                namespace: String::new(),
                at: at.clone(),
                providers: Vec::new(),
            });
        }
        if !kinds::is_built_in(group, kind) {
            needs.push(Need {
                what: "crd".into(),
                group: group.to_owned(),
                kind: kind.to_owned(),
                name: String::new(),
                namespace: String::new(),
                at: at.clone(),
                providers: Vec::new(),
            });
        }
        needs
    }
}

/// References an object's fields make to other objects.
fn field_needs(doc: &Document, v: &Value, kind: &str, namespace: &str) -> Vec<Need> {
    let mut out = Vec::new();
    let mut need = |what: &str, group: &str, kind: &str, name: &str, ns: &str, path: Vec<Value>| {
        if name.is_empty() {
            return;
        }
        out.push(Need {
            what: what.into(),
            group: group.into(),
            kind: kind.into(),
            name: name.into(),
            namespace: ns.into(),
            at: At::field(doc, &path),
            providers: Vec::new(),
        });
    };
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let p = |parts: &[&str]| parts.iter().map(|x| Value::from(*x)).collect::<Vec<_>>();
    match kind {
        "PersistentVolumeClaim" => {
            need(
                "storageclass",
                "storage.k8s.io",
                "StorageClass",
                &s(&v["spec"]["storageClassName"]),
                "",
                p(&["spec", "storageClassName"]),
            );
        }
        "Ingress" => {
            need(
                "ingressclass",
                "networking.k8s.io",
                "IngressClass",
                &s(&v["spec"]["ingressClassName"]),
                "",
                p(&["spec", "ingressClassName"]),
            );
        }
        "ExternalSecret" => {
            let store = &v["spec"]["secretStoreRef"];
            let store_kind = store["kind"].as_str().unwrap_or("SecretStore");
            let (what, ns) = if store_kind == "ClusterSecretStore" {
                ("clustersecretstore", "")
            } else {
                ("secretstore", namespace)
            };
            need(
                what,
                "external-secrets.io",
                store_kind,
                &s(&store["name"]),
                ns,
                p(&["spec", "secretStoreRef", "name"]),
            );
        }
        _ => {}
    }
    if kind == "StatefulSet" {
        for (i, t) in v["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let mut path = p(&["spec", "volumeClaimTemplates"]);
            path.extend([
                Value::from(i),
                Value::from("spec"),
                Value::from("storageClassName"),
            ]);
            need(
                "storageclass",
                "storage.k8s.io",
                "StorageClass",
                &s(&t["spec"]["storageClassName"]),
                "",
                path,
            );
        }
    }
    let pod_path: &[&str] = match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            &["spec", "template", "spec"]
        }
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        "Pod" => &["spec"],
        _ => return out,
    };
    let mut pod = v;
    for k in pod_path {
        pod = &pod[*k];
    }
    let base = p(pod_path);
    let at = |rest: &[Value]| {
        let mut x = base.clone();
        x.extend_from_slice(rest);
        x
    };
    if let Some(sa) = pod["serviceAccountName"].as_str() {
        need(
            "serviceaccount",
            "",
            "ServiceAccount",
            sa,
            namespace,
            at(&[Value::from("serviceAccountName")]),
        );
    }
    for (i, vol) in pod["volumes"].as_array().into_iter().flatten().enumerate() {
        let here = |k: &str, f: &str| {
            at(&[
                Value::from("volumes"),
                Value::from(i),
                Value::from(k),
                Value::from(f),
            ])
        };
        if vol["configMap"]["optional"].as_bool() != Some(true) {
            need(
                "configmap",
                "",
                "ConfigMap",
                &s(&vol["configMap"]["name"]),
                namespace,
                here("configMap", "name"),
            );
        }
        if vol["secret"]["optional"].as_bool() != Some(true) {
            need(
                "secret",
                "",
                "Secret",
                &s(&vol["secret"]["secretName"]),
                namespace,
                here("secret", "secretName"),
            );
        }
    }
    for section in ["initContainers", "containers"] {
        for (ci, c) in pod[section].as_array().into_iter().flatten().enumerate() {
            for (ei, e) in c["envFrom"].as_array().into_iter().flatten().enumerate() {
                for (k, what, kind) in [
                    ("configMapRef", "configmap", "ConfigMap"),
                    ("secretRef", "secret", "Secret"),
                ] {
                    if e[k]["optional"].as_bool() != Some(true) {
                        let path = at(&[
                            Value::from(section),
                            Value::from(ci),
                            Value::from("envFrom"),
                            Value::from(ei),
                            Value::from(k),
                            Value::from("name"),
                        ]);
                        need(what, "", kind, &s(&e[k]["name"]), namespace, path);
                    }
                }
            }
            for (ei, e) in c["env"].as_array().into_iter().flatten().enumerate() {
                for (k, what, kind) in [
                    ("configMapKeyRef", "configmap", "ConfigMap"),
                    ("secretKeyRef", "secret", "Secret"),
                ] {
                    let r = &e["valueFrom"][k];
                    if r["optional"].as_bool() != Some(true) {
                        let path = at(&[
                            Value::from(section),
                            Value::from(ci),
                            Value::from("env"),
                            Value::from(ei),
                            Value::from("valueFrom"),
                            Value::from(k),
                            Value::from("name"),
                        ]);
                        need(what, "", kind, &s(&r["name"]), namespace, path);
                    }
                }
            }
        }
    }
    out
}

fn crd_defines(v: &Value) -> Option<GroupKind> {
    Some(GroupKind {
        group: v["spec"]["group"].as_str()?.to_owned(),
        kind: v["spec"]["names"]["kind"].as_str()?.to_owned(),
    })
}

/// An Application's sources (`spec.sources`, else `spec.source`), each with
/// its path in the document.
pub(crate) fn sources(spec: &Value) -> Vec<(Vec<Value>, &Value)> {
    match spec["sources"].as_array() {
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let path = vec![Value::from("spec"), Value::from("sources"), Value::from(i)];
                (path, s)
            })
            .collect(),
        None => vec![(
            vec![Value::from("spec"), Value::from("source")],
            &spec["source"],
        )],
    }
}

/// The repository paths of a source's Helm value files that come from a
/// `ref` source of this repository (`$values/components/x/values.yaml`).
pub(crate) fn value_files(source: &Value) -> impl Iterator<Item = &str> {
    source["helm"]["valueFiles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|f| f.strip_prefix('$')?.split_once('/').map(|(_, p)| p))
}

pub(crate) fn wave_of(meta: &Value) -> i64 {
    meta["annotations"]["argocd.argoproj.io/sync-wave"]
        .as_str()
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) fn at_doc(d: &Document) -> At {
    At {
        file: d.path.clone(),
        line: d.line,
        pointer: String::new(),
    }
}

/// Clusters the repository registers with ArgoCD: Secrets labelled
/// `argocd.argoproj.io/secret-type: cluster`, or ExternalSecrets whose
/// target template carries that label (the server then read from the
/// template's data, or the `server` key's remote reference when static).
fn registered_clusters(docs: &[&Document]) -> Vec<Cluster> {
    let mut out = vec![Cluster {
        server: IN_CLUSTER.into(),
        name: "in-cluster".into(),
        at: At::default(),
    }];
    let label = "argocd.argoproj.io/secret-type";
    let mut seen = BTreeSet::new();
    for d in docs {
        let v = &d.value;
        let (labels, data) = match d.kind() {
            "Secret" => (
                &v["metadata"]["labels"],
                if v["stringData"].is_object() {
                    &v["stringData"]
                } else {
                    &v["data"]
                },
            ),
            "ExternalSecret" => (
                &v["spec"]["target"]["template"]["metadata"]["labels"],
                &v["spec"]["target"]["template"]["data"],
            ),
            _ => continue,
        };
        if labels[label].as_str() != Some("cluster") {
            continue;
        }
        let server = data["server"].as_str().unwrap_or_default();
        let server = if d.kind() == "Secret" && v["stringData"].is_null() {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(server)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default()
        } else {
            server.to_owned()
        };
        let name = data["name"].as_str().unwrap_or_default().to_owned();
        if server.is_empty() || !seen.insert(server.clone()) {
            continue;
        }
        out.push(Cluster {
            server,
            name,
            at: at_doc(d),
        });
    }
    out
}

/// The repository's declarations for the simulation (`socle-check.yaml`):
/// clusters registered outside the repository, and objects that exist
/// before the first sync.
pub(crate) const CONFIG_FILE: &str = "socle-check.yaml";

#[allow(clippy::type_complexity)]
fn configuration(
    docs: &[&Document],
) -> (Vec<String>, Vec<Prerequisite>, HashMap<String, Vec<String>>) {
    let Some(doc) = docs.iter().find(|d| d.path == CONFIG_FILE) else {
        return Default::default();
    };
    let v = &doc.value;
    let clusters = v["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().or_else(|| c["server"].as_str()))
        .map(str::to_owned)
        .collect();
    let prerequisites = v["prerequisites"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, p)| {
            Some(Prerequisite {
                group: p["group"].as_str().unwrap_or_default().to_owned(),
                kind: p["kind"].as_str()?.to_owned(),
                name: p["name"].as_str()?.to_owned(),
                namespace: p["namespace"].as_str().unwrap_or_default().to_owned(),
                at: At::field(doc, &[Value::from("prerequisites"), Value::from(i)]),
            })
        })
        .collect();
    let after = v["environments"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(env, e)| {
            let list = e["after"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            (env.clone(), list)
        })
        .collect();
    (clusters, prerequisites, after)
}

/// The strings at `path` (`a.b[].c`: `c` of each entry of list `a.b`;
/// `a.b`: the entries themselves, when the values make it a list) in
/// `values`, when the values set the list; None when they do not (the
/// chart's default then decides) or set no list there.
fn names_in_list<'v>(values: &'v Value, path: &str) -> Option<Vec<&'v str>> {
    let (list, rest) = path.split_once("[]").unwrap_or((path, ""));
    let entries = at_dotted(values, list)?.as_array()?;
    let rest = rest.trim_start_matches('.');
    Some(
        entries
            .iter()
            .filter_map(|e| at_dotted(e, rest).and_then(Value::as_str))
            .collect(),
    )
}

/// The value at a dotted path of map keys (`a.b.c`; empty: `v` itself).
fn at_dotted<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .filter(|k| !k.is_empty())
        .try_fold(v, |v, k| v.as_object().and_then(|m| m.get(k)))
}

/// Argo CD objects of one kind and name are one object in the cluster.
/// AppProjects of one name in several folders (one per cluster) are usual:
/// the environment is judged against the one its own Applications create,
/// else the first. Two Applications of one name in one environment are
/// one object synced twice, the last apply winning: the first (by wave) is
/// judged, and the other is recorded as not modelled.
fn one_object_per_name(system: &mut System) {
    let created: HashSet<(&str, usize)> = system
        .objects
        .iter()
        .filter(|o| o.kind == "AppProject")
        .map(|o| (o.at.file.as_str(), o.at.line))
        .collect();
    let mut chosen: HashMap<String, usize> = HashMap::new();
    for (i, p) in system.projects.iter().enumerate() {
        let own = created.contains(&(p.at.file.as_str(), p.at.line));
        match chosen.get(&p.name) {
            None => {
                chosen.insert(p.name.clone(), i);
            }
            Some(&j) => {
                let q = &system.projects[j];
                if own && !created.contains(&(q.at.file.as_str(), q.at.line)) {
                    chosen.insert(p.name.clone(), i);
                }
            }
        }
    }
    if chosen.len() < system.projects.len() {
        let keep: HashSet<usize> = chosen.into_values().collect();
        let mut i = 0;
        system.projects.retain(|_| {
            i += 1;
            keep.contains(&(i - 1))
        });
    }
    let mut names: HashMap<String, At> = HashMap::new();
    let mut twins = Vec::new();
    system.applications.retain(|a| match names.get(&a.name) {
        None => {
            names.insert(a.name.clone(), a.at.clone());
            true
        }
        Some(first) => {
            twins.push(Gap {
                app: a.name.clone(),
                at: a.at.clone(),
                message: format!(
                    "a second Application {:?} in this environment (the first at {}:{}); the cluster holds one, the one applied last, and the first is judged",
                    a.name, first.file, first.line
                ),
            });
            false
        }
    });
    system.not_modelled.extend(twins);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_the_values_set_names_its_secrets_only() {
        let path = "defaults.extraEnvFrom[].secretRef.name";
        let set =
            serde_json::json!({"defaults": {"extraEnvFrom": [{"secretRef": {"name": "loki-s3"}}]}});
        assert_eq!(names_in_list(&set, path), Some(vec!["loki-s3"]));
        let emptied = serde_json::json!({"defaults": {"extraEnvFrom": []}});
        assert_eq!(names_in_list(&emptied, path), Some(vec![]));
        // Not set: the chart's default decides, which the facts name.
        assert_eq!(names_in_list(&serde_json::json!({}), path), None);
        assert_eq!(names_in_list(&set, "defaults.name"), None);
        // A list of names (`alertmanagerSpec.secrets: [a, b]`).
        let names = serde_json::json!({"spec": {"secrets": ["receivers"]}});
        assert_eq!(
            names_in_list(&names, "spec.secrets"),
            Some(vec!["receivers"])
        );
        let emptied = serde_json::json!({"spec": {"secrets": []}});
        assert_eq!(names_in_list(&emptied, "spec.secrets"), Some(vec![]));
        assert_eq!(names_in_list(&names, "spec"), None);
    }
}
