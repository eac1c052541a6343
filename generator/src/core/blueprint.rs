//! What the checker needs to know of the blueprint socle renders from: each
//! component's dependencies (the waves rule) and which components are
//! critical (the prod availability rules). The generator reads the whole
//! manifest (`crate::blueprint`); this is the part both pipelines share.

use serde::Deserialize;

use crate::source::Tree;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Component {
    pub id: String,
    #[serde(default)]
    pub needs: Vec<String>,
    #[serde(default)]
    pub critical: bool,
}

#[derive(Debug, Default, Deserialize)]
struct Manifest {
    #[serde(default)]
    components: Vec<Component>,
}

/// The embedded blueprint's components. The file is validated by the
/// generator (and its tests) when it loads; an unreadable one gives no
/// components, so the rules that use them find nothing to judge rather than
/// judging against a guess.
pub fn components() -> Vec<Component> {
    Tree::embedded_blueprint()
        .get("blueprint.yaml")
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|t| serde_saphyr::from_str::<Manifest>(t).ok())
        .map(|m| m.components)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_blueprint_is_read() {
        let c = super::components();
        assert!(c.len() > 20);
        assert!(c.iter().any(|c| c.critical));
        assert!(c.iter().any(|c| c.id == "platform" && c.needs.is_empty()));
    }
}
