//! What upstream custom resources mean to the system model
//! (`policies/objects.yaml`): the kinds that send backups to an S3
//! endpoint and the kinds an operator serves as an S3 store. These are
//! facts about the operators, kept as data beside the policies so the
//! model's code names no product.

use std::sync::OnceLock;

use serde::Deserialize;

/// A kind that writes backups to the S3 endpoint at `endpoint`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackupKind {
    pub(crate) group: String,
    pub(crate) kind: String,
    /// JSON pointer into the object.
    pub(crate) endpoint: String,
    pub(crate) tool: String,
}

/// A kind an operator serves as an S3 store, and the chart that renders it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreKind {
    pub(crate) group: String,
    pub(crate) kind: String,
    /// The Service answering the store's S3 API, in the object's namespace.
    pub(crate) service: String,
    /// JSON pointer to the list of buckets (items with a `name`).
    pub(crate) buckets: String,
    pub(crate) chart: String,
    /// A host name part of the chart's repository URL.
    pub(crate) repo_host: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Objects {
    #[serde(default)]
    pub(crate) backups: Vec<BackupKind>,
    #[serde(default)]
    pub(crate) stores: Vec<StoreKind>,
}

/// The embedded facts. They are part of the binary, checked by the unit
/// test below: an unreadable file would be a build defect, not input.
pub(crate) fn objects() -> &'static Objects {
    static OBJECTS: OnceLock<Objects> = OnceLock::new();
    OBJECTS.get_or_init(|| {
        crate::source::Tree::embedded_policy_file("objects.yaml")
            .and_then(|b| crate::yaml::from_slice(b).ok())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_facts_parse_and_name_kinds() {
        let bytes = crate::source::Tree::embedded_policy_file("objects.yaml").expect("embedded");
        let parsed: super::Objects = crate::yaml::from_slice(bytes).expect("objects.yaml parses");
        assert!(parsed.backups.len() >= 3 && !parsed.stores.is_empty());
        for b in &parsed.backups {
            assert!(b.endpoint.starts_with('/'), "{b:?}");
        }
        assert_eq!(super::objects().backups.len(), parsed.backups.len());
    }
}
