//! What a Flux Kustomization's own `spec.patches` write on the objects it
//! applies.
//!
//! kustomize-controller builds the Kustomization's path, then applies its
//! `spec.patches` (strategic-merge or JSON 6902, each with a target) to what
//! it built, before the API server sees it. Repositories set defaults that
//! way: a parent Kustomization patches every child Kustomization with its
//! `interval` and `prune`, which the children's files then leave out. The
//! fields each patch writes are read here, so that a required field a
//! patch fills is not reported missing (see [`super::kustomized`]).

use regex::Regex;
use serde_json::Value;

use super::parse::Document;

/// Whether `v` is a Flux Kustomization (not a kustomize one).
pub(crate) fn is_kustomization(v: &Value) -> bool {
    v["kind"] == "Kustomization"
        && v["apiVersion"]
            .as_str()
            .is_some_and(|a| a.starts_with("kustomize.toolkit.fluxcd.io/"))
}

/// One entry of a Flux Kustomization's `spec.patches`.
pub(crate) struct Patch {
    group: Option<String>,
    kind: Option<String>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    /// `key=value`, `key!=value`, `key` and `!key` terms, all to hold.
    selector: Vec<Term>,
    /// The fields it writes, as kustomize writes field paths
    /// (`spec/interval`).
    fields: Vec<String>,
}

enum Term {
    Is(String, String),
    IsNot(String, String),
    Has(String),
    HasNot(String),
}

/// The patches of `doc` when it is a Flux Kustomization; `None` when one
/// of them cannot be read (a selector or target this does not model): then
/// no field counts as written.
pub(crate) fn patches(doc: &Document) -> Option<Vec<Patch>> {
    let v = &doc.value;
    if !is_kustomization(v) {
        return Some(Vec::new());
    }
    v["spec"]["patches"]
        .as_array()
        .into_iter()
        .flatten()
        .map(patch)
        .collect()
}

fn patch(entry: &Value) -> Option<Patch> {
    let target = &entry["target"];
    if target.get("annotationSelector").is_some() {
        return None;
    }
    let anchored = |key: &str| -> Option<Option<Regex>> {
        match target[key].as_str() {
            None => Some(None),
            Some(p) => Regex::new(&format!("^(?:{p})$")).ok().map(Some),
        }
    };
    let selector = match target["labelSelector"].as_str() {
        None => Vec::new(),
        Some(s) => terms(s)?,
    };
    let text = entry["patch"].as_str()?;
    let body: Value = serde_saphyr::from_str(text).ok()?;
    let mut fields = Vec::new();
    match &body {
        // JSON 6902: the paths its additions and replacements write.
        Value::Array(ops) => {
            for op in ops {
                if matches!(op["op"].as_str(), Some("add" | "replace")) {
                    if let Some(path) = op["path"].as_str() {
                        fields.push(path.trim_start_matches('/').to_owned());
                    }
                }
            }
        }
        // Strategic merge: every field it sets, at any depth.
        Value::Object(m) => {
            for (k, child) in m {
                if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    keys(child, k, &mut fields);
                }
            }
        }
        _ => return None,
    }
    Some(Patch {
        group: target["group"].as_str().map(str::to_owned),
        kind: target["kind"].as_str().map(str::to_owned),
        name: anchored("name")?,
        namespace: anchored("namespace")?,
        selector,
        fields,
    })
}

fn keys(v: &Value, at: &str, out: &mut Vec<String>) {
    out.push(at.to_owned());
    if let Value::Object(m) = v {
        for (k, child) in m {
            keys(child, &format!("{at}/{k}"), out);
        }
    }
}

/// A label selector's equality and existence terms; `None` for set-based
/// ones (`in`, `notin`), which are not modelled.
fn terms(selector: &str) -> Option<Vec<Term>> {
    let mut out = Vec::new();
    for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if term.contains(" in ") || term.contains(" notin ") || term.contains('(') {
            return None;
        }
        out.push(if let Some((k, v)) = term.split_once("!=") {
            Term::IsNot(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            Term::Is(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some(k) = term.strip_prefix('!') {
            Term::HasNot(k.trim().to_owned())
        } else {
            Term::Has(term.to_owned())
        });
    }
    Some(out)
}

impl Patch {
    /// The fields it writes on `doc`, when its target selects it.
    pub(crate) fn writes(&self, doc: &Document) -> &[String] {
        if self.selects(&doc.value) {
            &self.fields
        } else {
            &[]
        }
    }

    fn selects(&self, v: &Value) -> bool {
        let api = v["apiVersion"].as_str().unwrap_or("");
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        let meta = &v["metadata"];
        let label = |k: &str| meta["labels"][k].as_str();
        self.group.as_deref().is_none_or(|g| g == group)
            && self.kind.as_deref().is_none_or(|k| v["kind"] == k)
            && self
                .name
                .as_ref()
                .is_none_or(|re| re.is_match(meta["name"].as_str().unwrap_or("")))
            && self
                .namespace
                .as_ref()
                .is_none_or(|re| re.is_match(meta["namespace"].as_str().unwrap_or("")))
            && self.selector.iter().all(|t| match t {
                Term::Is(k, val) => label(k) == Some(val.as_str()),
                Term::IsNot(k, val) => label(k) != Some(val.as_str()),
                Term::Has(k) => label(k).is_some(),
                Term::HasNot(k) => label(k).is_none(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equality and existence terms select as Kubernetes does; a set-based
    /// selector is not modelled, so its patch counts for nothing.
    #[test]
    fn label_selectors_select_as_kubernetes_does() {
        let labels = serde_json::json!({"metadata": {"labels": {"tier": "web", "team": "a"}}});
        let holds = |s: &str| {
            let patch = Patch {
                group: None,
                kind: None,
                name: None,
                namespace: None,
                selector: terms(s).expect("modelled"),
                fields: Vec::new(),
            };
            patch.selects(&labels)
        };
        assert!(holds("tier=web,team"));
        assert!(holds("tier==web, !owner, team!=b"));
        assert!(!holds("tier=db"));
        assert!(!holds("!team"));
        assert!(terms("tier in (web, db)").is_none());
    }
}
