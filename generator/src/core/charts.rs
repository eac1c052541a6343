//! What each pinned Helm chart creates with the values socle writes
//! (`blueprints/platform/charts.yaml`). Charts cannot be rendered without
//! Helm and their repositories; these facts, read from the charts' templates,
//! stand in for the rendering when the system is modelled.

use serde::Deserialize;

use crate::source::Tree;

/// A kind, by API group, with its scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Kind {
    pub group: String,
    pub kind: String,
    pub scope: Scope,
    /// The boolean value (a dotted path) that turns the kind on: it is
    /// created unless the Application's values set that path to `false`.
    /// A value left to the chart counts as on, so an unread default never
    /// hides an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
pub enum Scope {
    Namespaced,
    Cluster,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    #[serde(default)]
    pub name: String,
    pub port: u16,
    #[serde(default, rename = "targetPort")]
    pub target_port: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    #[serde(default)]
    pub ports: Vec<Port>,
    /// The labels of the pods behind the Service.
    #[serde(default)]
    pub selector: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub kind: String,
    pub name: String,
    pub service: String,
    pub port: u16,
    #[serde(default, rename = "targetPort")]
    pub target_port: Option<serde_json::Value>,
}

/// A Secret the chart reads and does not create.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSecret {
    /// The values key that names it.
    pub value: String,
    pub name: String,
    #[serde(default)]
    pub keys: Vec<String>,
    /// As a kind's `when`: the Secret is read unless the values set this
    /// path to `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The chart sets its pods' `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` from the first two `keys`: filled, they are
    /// what the pods sign in to S3 with, before any pod identity.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aws_keys: bool,
}

/// A Secret the chart, or the operator reading the objects it renders,
/// creates under a fixed name, for other workloads to read (the password
/// and CA an operator issues for the cluster it runs).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MadeSecret {
    pub name: String,
    #[serde(default)]
    pub keys: Vec<String>,
    /// As a kind's `when`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// Where a chart's values send backups: `socle check` follows the URLs
/// found there to judge where the backups land and whether the writers
/// reach them.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackupEndpoint {
    /// What is backed up, for the findings: `postgresql`, `snapshots`…
    pub tool: String,
    /// The values path of the endpoint URLs: `.`-separated keys, `*` any
    /// key, `[]` after a key for each item of its list. A mapping may hold
    /// the rest of the path as one dotted key (`s3.client.default.endpoint`
    /// in a configuration file's flat form).
    pub values: String,
}

/// Whether `values` (an Application's merged values) turn off what a fact's
/// `when` names: only an explicit `false` does.
pub fn turned_off(when: Option<&str>, values: &serde_json::Value) -> bool {
    when.is_some_and(|path| {
        path.split('.')
            .filter(|k| !k.is_empty())
            .try_fold(values, |v, k| v.as_object().and_then(|m| m.get(k)))
            == Some(&serde_json::Value::Bool(false))
    })
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    pub name: String,
    pub repo: String,
    pub version: String,
    /// The release name the Service and webhook names below assume.
    pub release: String,
    /// False when some of the chart's templates could not be read: the
    /// checker then says the chart is only partly modelled.
    #[serde(default = "yes")]
    pub complete: bool,
    #[serde(default)]
    pub creates: Vec<Kind>,
    #[serde(default)]
    pub crds: Vec<Kind>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    #[serde(default)]
    pub secrets: Vec<ExpectedSecret>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub made_secrets: Vec<MadeSecret>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backups: Vec<BackupEndpoint>,
    /// The IngressClass controller (`spec.controller`) the chart's pods
    /// implement, for an ingress controller: `socle check` judges each
    /// Ingress of such a class as a connection from those pods to its
    /// backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_controller: Option<String>,
    /// The account the chart's main workload runs under.
    #[serde(default)]
    pub service_account: Option<String>,
    /// Where the chart's values configure that account (its `name` and
    /// `annotations`), as a dotted path: `serviceAccount` when absent, the
    /// convention of most charts (Velero's is `serviceAccount.server`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_values: Option<String>,
    /// The accounts of its other workloads, where they differ (a chart
    /// with one account per component).
    #[serde(default)]
    pub service_accounts: Vec<String>,
    /// Where the values configure an account and label its pods, for the
    /// accounts a cloud's workload identity needs annotated and labelled:
    /// the other workloads' accounts, and the main one where its pods take
    /// their labels from elsewhere than `podLabels`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub account_values: Vec<AccountValues>,
}

/// Where a chart's values configure one of its accounts, and label the
/// pods running under it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountValues {
    pub account: String,
    /// The dotted path of the account's `name` and `annotations`.
    pub values: String,
    /// The dotted paths of the label maps its pods carry, merged (a
    /// chart's labels for every pod, then the component's). Empty: the
    /// pods' labels are not known, and are not judged.
    #[serde(default)]
    pub pod_labels: Vec<String>,
    /// A main account at the charts' conventional places (not listed in
    /// the facts): values that leave its labels unset are not judged.
    #[serde(skip)]
    pub conventional: bool,
    /// The facts name where its `name` and `annotations` are (a listed
    /// account, or the main one's `service_account_values`): values that
    /// leave its annotations unset leave the account unannotated, where a
    /// conventional path may be the wrong one.
    #[serde(skip, default = "yes")]
    pub placed: bool,
}

impl Chart {
    /// Where the values configure each account socle knows of: the main
    /// one first (at `service_account_values`, its pods labelled from
    /// `podLabels` unless `account_values` says otherwise), then those
    /// `account_values` adds.
    pub fn account_values(&self) -> Vec<AccountValues> {
        let mut out: Vec<AccountValues> = self
            .service_account
            .iter()
            .filter(|main| !self.account_values.iter().any(|a| &a.account == *main))
            .map(|main| AccountValues {
                account: main.clone(),
                values: self
                    .service_account_values
                    .clone()
                    .unwrap_or_else(|| "serviceAccount".into()),
                pod_labels: vec!["podLabels".into()],
                conventional: true,
                placed: self.service_account_values.is_some(),
            })
            .collect();
        out.extend(self.account_values.iter().cloned());
        out
    }

    /// Every account the chart's pods may run under.
    pub fn accounts(&self) -> impl Iterator<Item = &str> {
        self.service_account
            .iter()
            .chain(&self.service_accounts)
            .map(String::as_str)
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    charts: Vec<Chart>,
    #[serde(default)]
    planned: Vec<Chart>,
}

#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// The chart facts of a blueprint.
#[derive(Debug, Default, Clone)]
pub struct ChartFacts {
    pub charts: Vec<Chart>,
}

pub const FACTS_FILE: &str = "charts.yaml";

impl ChartFacts {
    /// The values paths the facts read from an Application's Helm values:
    /// those their `when` conditions test, those naming the Secrets a chart
    /// reads, and where backups go (`.`-separated; backups' may hold `*`
    /// and `[]`, see [`BackupEndpoint::values`]).
    pub fn values_read(&self) -> std::collections::BTreeSet<&str> {
        let mut out = std::collections::BTreeSet::new();
        for c in &self.charts {
            out.extend(c.creates.iter().filter_map(|k| k.when.as_deref()));
            for s in &c.secrets {
                out.insert(s.value.as_str());
                out.extend(s.when.as_deref());
            }
            out.extend(c.made_secrets.iter().filter_map(|s| s.when.as_deref()));
            out.extend(c.backups.iter().map(|b| b.values.as_str()));
        }
        out
    }

    /// The facts of every embedded blueprint's charts: the checker judges a
    /// repository whatever blueprint made it. They are checked by the
    /// tests, so a broken file cannot ship; should it happen anyway, that
    /// blueprint's charts are not modelled and each is reported as such
    /// (never silently passed).
    pub fn embedded() -> Self {
        let mut charts: Vec<Chart> = Vec::new();
        for tree in Tree::embedded_blueprint_file(FACTS_FILE) {
            for c in Self::load(&tree).unwrap_or_default().charts {
                // Two blueprints may pin the same chart at the same version:
                // one set of facts describes it.
                if !charts
                    .iter()
                    .any(|k| k.name == c.name && k.version == c.version && k.repo == c.repo)
                {
                    charts.push(c);
                }
            }
        }
        Self { charts }
    }

    pub fn load(tree: &Tree) -> Result<Self, FactsError> {
        let Some(bytes) = tree.get(FACTS_FILE) else {
            return Ok(Self::default());
        };
        let invalid = |message: String| FactsError::Invalid {
            file: format!("{}/{FACTS_FILE}", tree.origin),
            message,
        };
        let text = std::str::from_utf8(bytes).map_err(|e| invalid(e.to_string()))?;
        let file: File = serde_saphyr::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut charts = file.charts;
        charts.extend(file.planned);
        Ok(Self { charts })
    }

    /// The facts of one chart at one version. Repositories are compared
    /// without scheme and trailing slash, as ArgoCD normalises them.
    pub fn get(&self, repo: &str, name: &str, version: &str) -> Option<&Chart> {
        let repo = normalise_repo(repo);
        self.charts
            .iter()
            .find(|c| c.name == name && c.version == version && normalise_repo(&c.repo) == repo)
    }
}

pub fn normalise_repo(repo: &str) -> String {
    let r = repo.trim().trim_end_matches('/');
    let r = r
        .strip_prefix("oci://")
        .or_else(|| r.strip_prefix("https://"))
        .or_else(|| r.strip_prefix("http://"))
        .unwrap_or(r);
    r.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The main account is at `serviceAccount` with its pods labelled from
    /// `podLabels`, unless the facts list it; listed accounts follow.
    #[test]
    fn account_values_default_the_main_account_and_add_the_listed_ones() {
        let chart = |extra: &str| -> Chart {
            serde_json::from_str(&format!(
                r#"{{"name": "c", "repo": "r", "version": "1", "release": "c",
                    "service_account": "main"{extra}}}"#
            ))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let plain = chart("").account_values();
        assert_eq!(plain.len(), 1);
        assert_eq!(
            (plain[0].values.as_str(), plain[0].pod_labels.clone()),
            ("serviceAccount", vec!["podLabels".to_owned()])
        );
        let listed = chart(
            r#", "account_values": [
                {"account": "main", "values": "serviceAccount", "pod_labels": ["app.podLabels"]},
                {"account": "worker", "values": "worker.serviceAccount", "pod_labels": ["labels", "worker.labels"]}]"#,
        )
        .account_values();
        let accounts: Vec<(&str, &[String])> = listed
            .iter()
            .map(|a| (a.account.as_str(), a.pod_labels.as_slice()))
            .collect();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].0, "main");
        assert_eq!(accounts[0].1, ["app.podLabels".to_owned()]);
        assert_eq!(accounts[1].0, "worker");
    }
    #[test]
    fn only_an_explicit_false_turns_a_fact_off() {
        let values =
            serde_json::json!({"backups": {"enabled": false}, "monitoring": {"enabled": true}});
        assert!(turned_off(Some("backups.enabled"), &values));
        assert!(!turned_off(Some("monitoring.enabled"), &values));
        // Left to the chart's default, or no condition: on.
        assert!(!turned_off(Some("cluster.monitoring.enabled"), &values));
        assert!(!turned_off(None, &values));
    }

    /// The checker judges a repository with the facts of every blueprint,
    /// the first of them for a chart two blueprints pin: the two must agree.
    #[test]
    fn blueprints_pinning_the_same_chart_share_its_facts() {
        let mut seen: Vec<(String, Chart)> = Vec::new();
        for tree in Tree::embedded_blueprints() {
            for c in ChartFacts::load(&tree).expect("charts.yaml parses").charts {
                if let Some((origin, other)) = seen
                    .iter()
                    .find(|(_, o)| o.name == c.name && o.version == c.version && o.repo == c.repo)
                {
                    assert_eq!(
                        serde_json::to_value(other).ok(),
                        serde_json::to_value(&c).ok(),
                        "{} {}: the facts of {origin} and {} differ",
                        c.name,
                        c.version,
                        tree.origin
                    );
                } else {
                    seen.push((tree.origin.clone(), c));
                }
            }
        }
    }

    #[test]
    fn facts_parse_and_name_real_scopes() {
        let tree = Tree::embedded_blueprint();
        let facts = ChartFacts::load(&tree).expect("charts.yaml parses");
        for c in &facts.charts {
            for k in c.creates.iter().chain(&c.crds) {
                assert!(!k.kind.is_empty(), "{}: a kind without a name", c.name);
            }
            for w in &c.webhooks {
                assert!(
                    c.services.iter().any(|s| s.name == w.service),
                    "{}: webhook {} names Service {} that the chart does not create",
                    c.name,
                    w.name,
                    w.service
                );
            }
        }
    }

    #[test]
    fn repositories_compare_as_argocd_does() {
        assert_eq!(
            normalise_repo("oci://ghcr.io/x/charts/"),
            "ghcr.io/x/charts"
        );
        assert_eq!(normalise_repo("https://Charts.example/"), "charts.example");
    }
}
