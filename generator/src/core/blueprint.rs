//! What the checker needs to know of the blueprint socle renders from: each
//! component's dependencies (the waves rule) and which components are
//! critical (the prod availability rules). The generator reads the whole
//! manifest (`crate::blueprint`); this is the part both pipelines share.

use serde::{Deserialize, Serialize};

use crate::source::Tree;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Component {
    pub id: String,
    #[serde(default)]
    pub needs: Vec<String>,
    #[serde(default)]
    pub critical: bool,
}

/// A choice the spec makes under `components:`, declared by the blueprint
/// (`options`): the spec's schema offers exactly these keys and values, and
/// components are enabled by them (`when`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SpecOption {
    pub key: String,
    pub values: Vec<String>,
    pub description: String,
}

/// An interpreter a blueprint's notebooks offer: the name a spec gives in
/// `notebooks.interpreters`, and the interpreter group the notebook server
/// loads for it (its name when the group has the same).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Interpreter {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// On in every environment, whatever the lists say.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub always: bool,
}

/// The interpreters a blueprint's notebooks offer (manifest `notebooks`);
/// without any, the spec's `notebooks.interpreters` has nothing to name.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Notebooks {
    /// In the order the notebook server lists them.
    #[serde(default)]
    pub interpreters: Vec<Interpreter>,
    /// An environment's interpreters when neither the spec nor the
    /// environment's defaults name them.
    #[serde(default)]
    pub default: Vec<String>,
}

/// What the checker reads of a blueprint's manifest.
#[derive(Debug, Default, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    components: Vec<Component>,
    #[serde(default)]
    pub options: Vec<SpecOption>,
    #[serde(default = "kubernetes_only")]
    pub targets: Vec<String>,
    #[serde(default)]
    pub default: bool,
    /// The spec's optional sections the blueprint reads (`None`: all).
    #[serde(default)]
    pub spec_sections: Option<Vec<String>>,
    /// The sections a spec with a Kubernetes environment must give.
    #[serde(default)]
    pub cluster_sections: Vec<String>,
    /// The roles the groups of the spec's `sso` section may get.
    #[serde(default)]
    pub sso_roles: Vec<String>,
    /// Those of `sso_roles` that administer the UIs: a spec's `sso` maps
    /// at least one group to one of them, or nobody administers the UIs
    /// once users sign in with the realm.
    #[serde(default)]
    pub sso_admin_roles: Vec<String>,
    /// The interpreters its notebooks offer.
    #[serde(default)]
    pub notebooks: Notebooks,
    /// Its own words for keys of the spec (JSON pointer into the spec's
    /// schema → description).
    #[serde(default)]
    pub spec_descriptions: std::collections::BTreeMap<String, String>,
}

impl Manifest {
    /// What of the spec this blueprint reads besides its options.
    pub fn reads(&self) -> crate::core::spec_schema::Reads<'_> {
        crate::core::spec_schema::Reads {
            sections: self.spec_sections.as_deref(),
            sso_roles: &self.sso_roles,
            sso_admin_roles: &self.sso_admin_roles,
            interpreters: &self.notebooks.interpreters,
            descriptions: &self.spec_descriptions,
        }
    }
}

fn kubernetes_only() -> Vec<String> {
    vec!["kubernetes".into()]
}

fn read(tree: &Tree) -> Manifest {
    tree.get("blueprint.yaml")
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|t| serde_saphyr::from_str::<Manifest>(t).ok())
        .unwrap_or_default()
}

/// The names of the embedded blueprints, in folder order.
pub fn names() -> Vec<String> {
    Tree::embedded_blueprint_file("blueprint.yaml")
        .iter()
        .map(|t| read(t).name)
        .filter(|n| !n.is_empty())
        .collect()
}

/// The spec options of the blueprint a spec names (`blueprint:`), or of the
/// default one when it names none. A name socle does not embed gives none:
/// the spec's schema then refuses every `components:` key, and its
/// `blueprint` field says which names exist.
pub fn options_for(name: Option<&str>) -> Vec<SpecOption> {
    named(name).map(|m| m.options).unwrap_or_default()
}

/// The embedded blueprint a spec names, or the default one for `None`.
pub fn named(name: Option<&str>) -> Option<Manifest> {
    Tree::embedded_blueprint_file("blueprint.yaml")
        .iter()
        .map(read)
        .find(|m| match name {
            None => m.default,
            Some(name) => m.name == name,
        })
}

/// The default blueprint's spec options (see [`options_for`]).
pub fn options() -> Vec<SpecOption> {
    options_for(None)
}

/// The components of every embedded blueprint, for the rules that judge a
/// repository whatever blueprint made it: a component id two blueprints
/// share is listed once, with the needs of both (a test holds that one
/// blueprint's needs of a shared id include the other's, so the union is
/// one blueprint's own declaration) and critical if either says so. A manifest that cannot be read gives no
/// components, so the rules that use them find nothing to judge rather
/// than judging against a guess; the generator's tests load every
/// manifest strictly.
pub fn components() -> Vec<Component> {
    let mut by_id: std::collections::BTreeMap<String, Component> = Default::default();
    for tree in Tree::embedded_blueprint_file("blueprint.yaml") {
        for c in read(&tree).components {
            let entry = by_id.entry(c.id.clone()).or_insert_with(|| Component {
                id: c.id.clone(),
                ..Default::default()
            });
            for n in c.needs {
                if !entry.needs.contains(&n) {
                    entry.needs.push(n);
                }
            }
            entry.critical |= c.critical;
        }
    }
    by_id.into_values().collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn exactly_one_embedded_blueprint_is_the_default() {
        let trees = crate::source::Tree::embedded_blueprint_file("blueprint.yaml");
        let defaults: Vec<String> = trees
            .iter()
            .map(super::read)
            .filter(|m| m.default)
            .map(|m| m.name)
            .collect();
        assert_eq!(defaults.len(), 1, "{defaults:?}");
        // The cheap reading of the flag agrees with the manifest's.
        let default = super::read(&crate::source::Tree::embedded_blueprint());
        assert_eq!(vec![default.name], defaults);
        let names = super::names();
        assert_eq!(
            names.len(),
            trees.len(),
            "every manifest is read: {names:?}"
        );
        assert!(super::named(Some("no-such-blueprint")).is_none());
    }

    /// The union of the blueprints' needs judges every repository: a
    /// component id two blueprints share must declare, in one of them, all
    /// the needs it has in the other, so that the union is one blueprint's
    /// own declaration and orders nothing the other would not.
    #[test]
    fn shared_component_ids_do_not_disagree_on_their_needs() {
        let manifests: Vec<super::Manifest> =
            crate::source::Tree::embedded_blueprint_file("blueprint.yaml")
                .iter()
                .map(super::read)
                .collect();
        for (i, a) in manifests.iter().enumerate() {
            for b in &manifests[i + 1..] {
                for ca in &a.components {
                    let Some(cb) = b.components.iter().find(|c| c.id == ca.id) else {
                        continue;
                    };
                    let within = |x: &super::Component, y: &super::Component| {
                        x.needs.iter().all(|n| y.needs.contains(n))
                    };
                    assert!(
                        within(ca, cb) || within(cb, ca),
                        "{} needs {:?} in {} and {:?} in {}",
                        ca.id,
                        ca.needs,
                        a.name,
                        cb.needs,
                        b.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_embedded_blueprint_is_read() {
        let c = super::components();
        assert!(c.len() > 20);
        assert!(c.iter().any(|c| c.critical));
        assert!(c.iter().any(|c| c.id == "platform" && c.needs.is_empty()));
        assert!(!super::options().is_empty());
    }
}
