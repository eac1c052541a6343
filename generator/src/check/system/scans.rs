//! What the scans of one Application's configuration found (the buckets,
//! clients, hosts and Secrets it names; the addresses it calls), kept from
//! one version of a repository to the next.
//!
//! A scan walks every key and string of an Application's values and
//! manifests; in a range, a commit changes one or two Applications, and
//! scanning all of them again cost more than the rest of the resolution.
//! A scan's result depends on the Application's model (its objects, kept by
//! the key of what that model read, see `build::AppCache`) and on the files
//! the scan reads itself (its values files, its objects' documents), so it
//! is kept under both: the model's key, and the versions of the files the
//! scan noted as read. A hit notes those files as read again, so the
//! environment's judgement is keyed by them as if the scan had run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::build::{AppKey, Modelled};
use super::input::Application;
use super::kustomize::Files;

/// How many Applications' scans a table keeps before starting afresh.
const BOUND: usize = 4096;

/// One scan's result, with what decides it.
struct Kept<T> {
    app_key: String,
    read: Vec<String>,
    all: bool,
    key: String,
    found: Arc<T>,
}

/// The results of one kind of scan, by the place of the Application's
/// document.
pub(crate) struct PerApp<T> {
    kept: HashMap<(String, usize), Kept<T>>,
}

impl<T> Default for PerApp<T> {
    fn default() -> Self {
        Self {
            kept: HashMap::new(),
        }
    }
}

/// Where a scan's results are kept, and how what it read is keyed: given
/// to a resolution in a range, absent for a single check.
pub(crate) struct Memo<'m, 'k, T> {
    pub(crate) table: &'m mut PerApp<T>,
    pub(crate) key: &'m mut AppKey<'k>,
    /// Each Application's model key, by the place of its document.
    pub(crate) app_keys: &'m HashMap<(String, usize), String>,
}

impl<T> Memo<'_, '_, T> {
    /// The scan of the Application at `place`: remembered while its model
    /// and the files the scan read are unchanged, else `scan()` now;
    /// either way, the files it read are noted as read.
    pub(crate) fn scan<'a>(
        &mut self,
        files: &Files<'a>,
        place: &(String, usize),
        scan: impl FnOnce() -> T,
    ) -> Arc<T> {
        let Some(app_key) = self.app_keys.get(place) else {
            return Arc::new(scan());
        };
        let recalled = self.table.kept.get(place).and_then(|k| {
            if &k.app_key != app_key {
                return None;
            }
            let read: BTreeSet<&'a str> = k
                .read
                .iter()
                .map(|p| files.bytes.get_key_value(p.as_str()).map(|(p, _)| *p))
                .collect::<Option<_>>()?;
            ((self.key)(&mut read.iter().copied(), k.all) == k.key)
                .then(|| (k.found.clone(), read, k.all))
        });
        match recalled {
            Some((found, read, all)) => {
                files.note_touched(read, all);
                found
            }
            None => {
                let (found, read, all) = files.nested(scan);
                let found = Arc::new(found);
                if self.table.kept.len() >= BOUND {
                    self.table.kept.clear();
                }
                self.table.kept.insert(
                    place.clone(),
                    Kept {
                        app_key: app_key.clone(),
                        read: read.iter().map(|p| (*p).to_owned()).collect(),
                        all,
                        key: (self.key)(&mut read.iter().copied(), all),
                        found: found.clone(),
                    },
                );
                found
            }
        }
    }
}

/// One scan per Application of a system, `scan(app, objects)` given its
/// description and its objects (indices), kept in a range: in the order
/// of the Applications, each with its name; then one per Application the
/// system has objects of but does not describe, with no description.
///
/// Two Applications of one name (an error ArgoCD reports) share their
/// objects, which neither's model alone decides: each is scanned, the
/// objects with the first, and neither is kept.
pub(crate) fn per_app<'m, T>(
    m: &'m Modelled,
    files: &Files,
    mut memo: Option<Memo<'_, '_, T>>,
    mut scan: impl FnMut(Option<&'m Application>, &[usize]) -> T,
) -> Vec<(&'m str, Arc<T>)> {
    let mut objects_of: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, o) in m.system.objects.iter().enumerate() {
        objects_of.entry(o.app.as_str()).or_default().push(i);
    }
    let mut named: HashMap<&str, usize> = HashMap::new();
    for app in &m.system.applications {
        *named.entry(app.name.as_str()).or_default() += 1;
    }
    let mut out = Vec::with_capacity(m.system.applications.len());
    let mut described = BTreeSet::new();
    for app in &m.system.applications {
        let first = described.insert(app.name.as_str());
        let objects = match objects_of.get(app.name.as_str()) {
            Some(o) if first => o.as_slice(),
            _ => &[],
        };
        let found = match &mut memo {
            Some(memo) if named.get(app.name.as_str()) == Some(&1) => {
                let place = (app.at.file.clone(), app.at.line);
                memo.scan(files, &place, || scan(Some(app), objects))
            }
            _ => Arc::new(scan(Some(app), objects)),
        };
        out.push((app.name.as_str(), found));
    }
    for (name, objects) in &objects_of {
        if !described.contains(name) {
            out.push((*name, Arc::new(scan(None, objects))));
        }
    }
    out
}
