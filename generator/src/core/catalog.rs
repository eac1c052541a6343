//! The catalog of embedded rules (`policies/catalog.yaml`).

use serde::Deserialize;

use crate::source::Tree;

/// How a finding weighs: a denial fails the check, a warning is reported.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Deny,
    Warn,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Deny => "deny",
            Severity::Warn => "warn",
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub severity: String,
    pub title: String,
    pub remediation: String,
    pub example: String,
    /// `platform` for the rules that check conventions of the platform
    /// socle renders; absent for the rules that apply to any repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// The rules whose findings are credentials written into a file. Git keeps
/// every blob a branch ever pointed at, so removing the file or the value in
/// a later commit does not undo such a finding: a range check holds them
/// against the range even when its last commit no longer has them.
pub(crate) const CREDENTIAL_RULES: &[&str] = &[
    "SOC-SEC-001", // Secret with data
    "SOC-SEC-002", // private key or cloud access key
    "SOC-SEC-003", // literal password in a document
    "SOC-SEC-004", // Secret generated from committed literals or files
    "SOC-SEC-005", // Terraform state (every secret Terraform handled)
    "SOC-DBT-001", // literal credential in a DBT profile
    "SOC-ZEP-002", // credential in a Zeppelin note
];

/// The rules whose denials on a freshly rendered repository stand for what
/// only the cloud gives, after the first `terraform apply` (a managed
/// identity's client ID): `socle new` writes the repository and lists them
/// as the step left, rather than call them a blueprint bug. `socle check`
/// denies them like any other until the spec gives the values.
pub const AWAITING_APPLY_RULES: &[&str] = &["SOC-SYS-030"];

/// Whether a finding of `rule` waits on the first `terraform apply`.
pub fn awaits_apply(rule: &str) -> bool {
    AWAITING_APPLY_RULES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(rule))
}

/// Whether a finding of `rule` is a credential written into a file.
pub(crate) fn is_credential_rule(rule: &str) -> bool {
    CREDENTIAL_RULES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(rule))
}

pub struct Catalog {
    pub rules: Vec<Rule>,
}

impl Catalog {
    pub fn embedded() -> Self {
        let rules = Tree::embedded_policy_file("catalog.yaml")
            .and_then(|b| crate::yaml::from_slice(b).ok())
            .unwrap_or_default();
        Self { rules }
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id.eq_ignore_ascii_case(id))
    }

    /// Whether `id` is a rule of the `platform` profile.
    pub fn is_platform(&self, id: &str) -> bool {
        self.get(id)
            .is_some_and(|r| r.profile.as_deref() == Some("platform"))
    }

    pub fn severity(&self, id: &str) -> Severity {
        match self.get(id).map(|r| r.severity.as_str()) {
            Some("warn") => Severity::Warn,
            _ => Severity::Deny,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_parses_and_ids_are_unique() {
        let c = Catalog::embedded();
        assert!(c.rules.len() >= 20);
        let mut ids: Vec<_> = c.rules.iter().map(|r| r.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), c.rules.len());
        assert!(c
            .rules
            .iter()
            .all(|r| r.severity == "deny" || r.severity == "warn"));
    }

    #[test]
    fn credential_rules_are_catalogued_denials() {
        let c = Catalog::embedded();
        for id in CREDENTIAL_RULES {
            assert!(c.get(id).is_some(), "{id} not in the catalog");
            assert_eq!(c.severity(id), Severity::Deny, "{id}");
        }
    }
}
