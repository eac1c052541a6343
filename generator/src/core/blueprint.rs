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

#[derive(Debug, Default, Deserialize)]
struct Manifest {
    #[serde(default)]
    components: Vec<Component>,
    #[serde(default)]
    options: Vec<SpecOption>,
}

fn embedded() -> Manifest {
    Tree::embedded_blueprint()
        .get("blueprint.yaml")
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|t| serde_saphyr::from_str::<Manifest>(t).ok())
        .unwrap_or_default()
}

/// The embedded blueprint's spec options (see [`components`] for an
/// unreadable manifest: none, and the spec's schema then refuses every
/// `components:` key rather than accept a guess).
pub fn options() -> Vec<SpecOption> {
    embedded().options
}

/// The embedded blueprint's components. The file is validated by the
/// generator (and its tests) when it loads; an unreadable one gives no
/// components, so the rules that use them find nothing to judge rather than
/// judging against a guess.
pub fn components() -> Vec<Component> {
    embedded().components
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_blueprint_is_read() {
        let c = super::components();
        assert!(c.len() > 20);
        assert!(c.iter().any(|c| c.critical));
        assert!(c.iter().any(|c| c.id == "platform" && c.needs.is_empty()));
        assert!(!super::options().is_empty());
    }
}
