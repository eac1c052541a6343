//! `socle-check.yaml`: what a repository tells its checker.
//!
//! One typed file, so that a misspelt key is an error naming its line rather
//! than a setting silently ignored. Two halves with different readers:
//! - what the system simulation cannot see (`prerequisites`, `buckets`,
//!   `clusters`, `environments`), read from each checked tree as a document;
//! - the gate itself (`rules`, `exclude`, `kubernetes_version`, `render`),
//!   which decides what fails. A range check reads it from BASE, like the
//!   policies, so a pull request cannot relax the check it is judged by.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::finding::{Finding, Severity};

/// The file's path, at the repository's root.
pub const PATH: &str = "socle-check.yaml";

/// The newest Kubernetes minor version whose removals socle knows: the
/// default target.
pub const NEWEST_KUBERNETES: (u32, u32) = (1, 33);

/// Rules that keep the check closed: what socle cannot read, or a policy
/// it cannot run, is never waved through by configuration.
const GUARDS: &[&str] = &[
    "SOC-PARSE-001",
    "SOC-REPO-001",
    "SOC-REPO-002",
    "SOC-POL-001",
    "SOC-POL-002",
    "SOC-EXC-001",
    "SOC-SCHEMA-005",
];

/// What `socle check` reads from `socle-check.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "socle-check.yaml",
    description = "What a repository tells `socle check`: rules, profile, excluded paths, the target Kubernetes version, the remote bases `--render` may fetch, and what exists before the first sync."
)]
pub struct Config {
    /// Rules turned off, severities changed, and the rule profile.
    #[serde(default)]
    pub rules: Rules,
    /// Paths not checked at all, as globs relative to the repository
    /// (`vendor/**`, `**/*.tmpl.yaml`). A file matched here is listed as
    /// skipped with the pattern that matched it.
    #[serde(default, deserialize_with = "empty_when_null")]
    #[schemars(with = "Option<Vec<String>>")]
    pub exclude: Vec<String>,
    /// The Kubernetes minor version the repository deploys to, e.g. "1.29".
    /// An API version removed at or before it is a denial
    /// (SOC-SCHEMA-003); one still served by it but removed later is a
    /// warning (SOC-SCHEMA-004). Default: the newest version socle knows.
    #[serde(default)]
    #[schemars(regex(pattern = r"^1\.[0-9]{1,3}$"))]
    pub kubernetes_version: Option<String>,
    #[serde(default)]
    pub render: Render,
    /// Objects that exist before Argo CD syncs anything (created by the
    /// bootstrap or the cluster's provider). A CRD is named by the kind it
    /// defines, in its API group.
    #[serde(default, deserialize_with = "empty_when_null")]
    #[schemars(with = "Option<Vec<Prerequisite>>")]
    pub prerequisites: Vec<Prerequisite>,
    /// Buckets on an object store outside the repository, which the client
    /// creates before the first sync.
    #[serde(default, deserialize_with = "empty_when_null")]
    #[schemars(with = "Option<Vec<NamedEntry>>")]
    pub buckets: Vec<NamedEntry>,
    /// API servers registered with Argo CD outside the repository.
    #[serde(default, deserialize_with = "empty_when_null")]
    #[schemars(with = "Option<Vec<ClusterEntry>>")]
    pub clusters: Vec<ClusterEntry>,
    /// Environments bootstrapped after another one on the same cluster.
    #[serde(default, deserialize_with = "empty_when_null")]
    #[schemars(with = "Option<BTreeMap<String, EnvironmentOrder>>")]
    pub environments: BTreeMap<String, EnvironmentOrder>,
}

/// A section left with its key and no entry (`buckets:` once its last
/// entry is deleted) is YAML's null: read as empty, as the user meant.
fn empty_when_null<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Rule ids (`SOC-K8S-005`) or groups (`SOC-ZEP`, `SOC-SYS`) turned
    /// off; a repository policy's rules by the id they report. The rules
    /// that keep the check closed (SOC-PARSE-001, SOC-REPO-001,
    /// SOC-REPO-002, SOC-POL-001, SOC-EXC-001, SOC-SCHEMA-005) cannot be.
    #[serde(default)]
    pub disable: Vec<String>,
    /// A severity per rule id or group; the most specific entry wins.
    #[serde(default)]
    pub severity: BTreeMap<String, Severity>,
    /// Which of the embedded rules apply.
    #[serde(default)]
    pub profile: Profile,
}

/// `generic` rules (Kubernetes, secrets, Argo CD, the system simulation)
/// apply to every repository; `platform` rules check conventions of the
/// platform socle renders (runbooks for alerts, cert-manager issuers on
/// Ingress, the DBT and Zeppelin content rules, platform namespaces…).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// `platform` when the repository has a `socle.lock` (socle rendered
    /// it), `generic` otherwise.
    #[default]
    Auto,
    Generic,
    Platform,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Render {
    /// URL prefixes of remote bases `socle check --render` may fetch
    /// (compared as prefixes: end them with `/` or `//`).
    #[serde(default)]
    pub allowed_remote_bases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prerequisite {
    #[serde(default)]
    pub group: String,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum NamedEntry {
    Name(String),
    Object { name: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ClusterEntry {
    Server(String),
    Object { server: String },
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentOrder {
    /// Environments whose bootstrap comes first on the same cluster.
    #[serde(default)]
    pub after: Vec<String>,
}

/// Why `socle-check.yaml` cannot be used, at which line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{PATH}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub line: Option<usize>,
    pub message: String,
}

impl ConfigError {
    fn at(line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }

    /// The same problem as a finding on the file (a commit of a range whose
    /// configuration is broken).
    pub(crate) fn finding(&self) -> Finding {
        Finding::new(
            "SOC-SCHEMA-005",
            Severity::Deny,
            PATH,
            self.line,
            self.message.clone(),
        )
    }
}

/// The JSON Schema of `socle-check.yaml` (`socle check --config-schema`).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default()
}

impl Config {
    /// The configuration among `files` (none: the defaults).
    pub fn from_files(files: &[(String, Vec<u8>)]) -> Result<Self, ConfigError> {
        match files.iter().find(|(p, _)| p == PATH) {
            Some((_, bytes)) => Self::parse(bytes),
            None => Ok(Self::default()),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let config: Self = crate::yaml::from_slice(bytes).map_err(|e| {
            ConfigError::at(
                crate::yaml::error_line(&e),
                format!(
                    "{}; `socle check --config-schema` prints what the file may hold",
                    crate::yaml::error_message(&e)
                ),
            )
        })?;
        config.validate(bytes)?;
        Ok(config)
    }

    fn validate(&self, bytes: &[u8]) -> Result<(), ConfigError> {
        let text = String::from_utf8_lossy(bytes);
        let index = crate::locate::LineIndex::new(&text);
        let line = |pointer: &str| index.line_of(pointer);
        for (i, id) in self.rules.disable.iter().enumerate() {
            if let Some(guard) = GUARDS.iter().find(|g| covers(id, g)) {
                return Err(ConfigError::at(
                    line(&format!("/rules/disable/{i}")),
                    format!("rules.disable: {id} would turn off {guard}, which keeps the check closed (what socle cannot read or evaluate is never a pass); remove it"),
                ));
            }
            if id.trim().is_empty() {
                return Err(ConfigError::at(
                    line(&format!("/rules/disable/{i}")),
                    "rules.disable: an empty rule id; name a rule (SOC-K8S-005) or a group (SOC-K8S)",
                ));
            }
        }
        for (id, severity) in &self.rules.severity {
            if *severity == Severity::Warn {
                if let Some(guard) = GUARDS.iter().find(|g| covers(id, g)) {
                    return Err(ConfigError::at(
                        line(&format!("/rules/severity/{id}")),
                        format!("rules.severity: {id} would make {guard} a warning; it keeps the check closed and stays a denial"),
                    ));
                }
            }
        }
        for (i, pattern) in self.exclude.iter().enumerate() {
            if let Err(e) = globset::Glob::new(pattern) {
                return Err(ConfigError::at(
                    line(&format!("/exclude/{i}")),
                    format!("exclude: {pattern:?} is not a glob ({})", e.kind()),
                ));
            }
        }
        if let Some(v) = &self.kubernetes_version {
            if parse_version(v).is_none() {
                return Err(ConfigError::at(
                    line("/kubernetes_version"),
                    format!("kubernetes_version: {v:?} is not a Kubernetes minor version; write it as \"1.29\""),
                ));
            }
        }
        Ok(())
    }

    /// The Kubernetes version the repository targets.
    pub fn target(&self) -> (u32, u32) {
        self.kubernetes_version
            .as_deref()
            .and_then(parse_version)
            .unwrap_or(NEWEST_KUBERNETES)
    }

    /// The part of the file that decides what fails, as text: a range
    /// reports a commit that changes it, and the disk cache keys on it.
    pub fn gate(&self) -> String {
        serde_json::json!({
            "rules": self.rules,
            "exclude": self.exclude,
            "kubernetes_version": self.kubernetes_version,
            "render": self.render,
        })
        .to_string()
    }
}

/// `1.29` → (1, 29).
pub(crate) fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.trim().split_once('.')?;
    let parse = |s: &str| {
        (!s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    Some((parse(major)?, parse(minor)?)).filter(|(major, _)| *major == 1)
}

/// Whether `entry` (an id or a group) names `rule`: `SOC-K8S` covers
/// `SOC-K8S-005`, `SOC-K8S-005` only itself.
fn covers(entry: &str, rule: &str) -> bool {
    let entry = entry.trim();
    rule.eq_ignore_ascii_case(entry)
        || (rule.len() > entry.len()
            && rule.as_bytes()[entry.len()] == b'-'
            && rule[..entry.len()].eq_ignore_ascii_case(entry))
}

/// The configuration applied to a run's findings and files.
pub(crate) struct Applied {
    disable: Vec<String>,
    /// Longest entry first: the most specific one wins.
    severity: Vec<(String, Severity)>,
    exclude: Option<(globset::GlobSet, Vec<String>)>,
    profile: Profile,
}

impl Applied {
    pub(crate) fn new(config: &Config) -> Self {
        let mut severity: Vec<(String, Severity)> = config
            .rules
            .severity
            .iter()
            .map(|(k, v)| (k.trim().to_owned(), *v))
            .collect();
        severity.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        let exclude = (!config.exclude.is_empty()).then(|| {
            let mut set = globset::GlobSetBuilder::new();
            for p in &config.exclude {
                if let Ok(g) = globset::GlobBuilder::new(p).literal_separator(true).build() {
                    set.add(g);
                }
            }
            (
                set.build().unwrap_or_else(|_| globset::GlobSet::empty()),
                config.exclude.clone(),
            )
        });
        Self {
            disable: config.rules.disable.clone(),
            severity,
            exclude,
            profile: config.rules.profile,
        }
    }

    /// The pattern that excludes `path`, if one does.
    pub(crate) fn excluded(&self, path: &str) -> Option<&str> {
        let (set, patterns) = self.exclude.as_ref()?;
        set.matches(path)
            .first()
            .map(|i| patterns[*i].as_str())
            // A pattern naming a folder excludes what is under it.
            .or_else(|| {
                let mut dir = path;
                while let Some((parent, _)) = dir.rsplit_once('/') {
                    if let Some(i) = set.matches(parent).first() {
                        return Some(patterns[*i].as_str());
                    }
                    dir = parent;
                }
                None
            })
    }

    /// Whether the platform rules apply to a tree with these files.
    pub(crate) fn platform(&self, has_lock: bool) -> bool {
        match self.profile {
            Profile::Auto => has_lock,
            Profile::Generic => false,
            Profile::Platform => true,
        }
    }

    /// Drop disabled rules' findings and set the configured severities.
    pub(crate) fn apply(&self, findings: &mut Vec<Finding>) {
        findings.retain(|f| {
            GUARDS.contains(&f.rule.as_str()) || !self.disable.iter().any(|d| covers(d, &f.rule))
        });
        for f in findings.iter_mut() {
            if let Some((_, s)) = self.severity.iter().find(|(k, _)| covers(k, &f.rule)) {
                if !(GUARDS.contains(&f.rule.as_str()) && *s == Severity::Warn) {
                    f.severity = *s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_covers_its_rules_and_nothing_else() {
        assert!(covers("SOC-K8S", "SOC-K8S-005"));
        assert!(covers("soc-k8s-005", "SOC-K8S-005"));
        assert!(!covers(concat!("SOC-K8S", "-00"), "SOC-K8S-005"));
        assert!(!covers("SOC-K8", "SOC-K8S-005"));
        assert!(!covers("SOC-K8S-005", "SOC-K8S"));
    }

    #[test]
    fn versions_are_minor_versions_of_kubernetes_1() {
        assert_eq!(parse_version("1.29"), Some((1, 29)));
        assert_eq!(parse_version(" 1.3 "), Some((1, 3)));
        for bad in ["1", "2.0", "1.x", "v1.29", "1.29.1", "1.", "1.12345"] {
            assert_eq!(parse_version(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_misspelt_key_names_its_line() {
        let e = Config::parse(b"rules:\n  disabled: [SOC-K8S-005]\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("disabled"), "{e}");
    }

    #[test]
    fn guards_stay_on_and_stay_denials() {
        let e = Config::parse(b"rules:\n  disable:\n    - SOC-K8S\n    - SOC-PARSE\n").unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("SOC-PARSE-001"), "{e}");
        let e = Config::parse(b"rules:\n  severity:\n    SOC-REPO: warn\n").unwrap_err();
        assert!(e.message.contains("SOC-REPO-001"), "{e}");
        // Raising a guard's severity is harmless.
        assert!(Config::parse(b"rules:\n  severity:\n    SOC-REPO: deny\n").is_ok());
    }

    #[test]
    fn an_odd_version_is_refused() {
        let e = Config::parse(b"kubernetes_version: \"2.1\"\n").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
        // The scalar's text is kept: unquoted 1.30 is not the number 1.3.
        assert_eq!(
            Config::parse(b"kubernetes_version: 1.30\n")
                .unwrap()
                .target(),
            (1, 30)
        );
        let ok = Config::parse(b"kubernetes_version: \"1.21\"\n").unwrap();
        assert_eq!(ok.target(), (1, 21));
        assert_eq!(Config::default().target(), NEWEST_KUBERNETES);
    }

    #[test]
    fn the_most_specific_severity_wins() {
        let config = Config::parse(
            b"rules:\n  disable: [SOC-ZEP]\n  severity:\n    SOC-K8S: warn\n    SOC-K8S-002: deny\n",
        )
        .unwrap();
        let applied = Applied::new(&config);
        let f = |rule: &str| Finding::new(rule, Severity::Deny, "a.yaml", None, "m");
        let mut found = vec![
            f("SOC-K8S-001"),
            f("SOC-K8S-002"),
            f("SOC-ZEP-001"),
            f("SOC-PARSE-001"),
        ];
        applied.apply(&mut found);
        let got: Vec<(&str, Severity)> = found
            .iter()
            .map(|f| (f.rule.as_str(), f.severity))
            .collect();
        assert_eq!(
            got,
            [
                ("SOC-K8S-001", Severity::Warn),
                ("SOC-K8S-002", Severity::Deny),
                ("SOC-PARSE-001", Severity::Deny)
            ]
        );
    }

    #[test]
    fn a_folder_pattern_excludes_what_is_under_it() {
        let config = Config::parse(b"exclude: [vendor, \"**/*.tmpl.yaml\"]\n").unwrap();
        let applied = Applied::new(&config);
        assert_eq!(applied.excluded("vendor/a/b.yaml"), Some("vendor"));
        assert_eq!(applied.excluded("apps/x.tmpl.yaml"), Some("**/*.tmpl.yaml"));
        assert_eq!(applied.excluded("apps/vendor.yaml"), None);
    }

    #[test]
    fn a_section_left_without_entries_is_empty() {
        let c = Config::parse(b"exclude:\nprerequisites:\nbuckets:\nclusters:\nenvironments:\n")
            .expect("empty sections parse");
        assert_eq!(c, Config::default());
        assert!(Config::parse(b"buckets: 3\n").is_err());
    }

    #[test]
    fn the_schema_admits_the_generated_file_and_names_every_section() {
        let schema = schema();
        let properties = schema["properties"].as_object().unwrap();
        for key in [
            "rules",
            "exclude",
            "kubernetes_version",
            "render",
            "prerequisites",
            "buckets",
            "clusters",
            "environments",
        ] {
            assert!(properties.contains_key(key), "{key}");
        }
    }
}
