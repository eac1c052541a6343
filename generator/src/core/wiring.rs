//! The wiring graph: what each component provides to the others and what it
//! consumes from them (PostgreSQL databases and roles, buckets, OIDC
//! clients). The blueprint declares it once; the generator derives every
//! cross-component object from it (the cluster's managed roles and
//! databases, the object store's buckets, the realm's clients), and the
//! checker reads the same declarations, so the two sides of a connection
//! cannot be written twice and disagree.
//!
//! A consumer never names its provider: it names a kind of resource
//! (`databases`, `buckets`, `oidc`), and the provider is the enabled
//! component that declares it provides that kind. A blueprint where some
//! consumer has no provider, or does not need (directly or through its
//! needs) the component that provides it, is refused when it loads.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The kinds of resource a component can provide to others.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Provides {
    /// A PostgreSQL cluster: a login role and a database per consumer.
    #[serde(default)]
    pub databases: bool,
    /// An S3 store: the buckets its consumers name.
    #[serde(default)]
    pub buckets: bool,
    /// An OIDC realm: a client per consumer.
    #[serde(default)]
    pub oidc: bool,
}

/// The kinds of resource, as `provides` and `consumes` name them.
pub const KINDS: [&str; 3] = ["databases", "buckets", "oidc"];

impl Provides {
    /// Whether it provides `kind` (one of [`KINDS`]).
    pub fn offers(&self, kind: &str) -> bool {
        provides(self, kind)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Consumes {
    #[serde(default)]
    pub databases: Vec<DatabaseUse>,
    #[serde(default)]
    pub buckets: Vec<BucketUse>,
    #[serde(default)]
    pub oidc: Vec<OidcUse>,
}

impl Consumes {
    pub fn is_empty(&self) -> bool {
        self.databases.is_empty() && self.buckets.is_empty() && self.oidc.is_empty()
    }
}

/// A database the consumer connects to, owned by its login role.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseUse {
    pub name: String,
    /// The login role (the database's owner); the database's name when unset.
    #[serde(default)]
    pub role: Option<String>,
    /// Schemas created in the database, owned by the role.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Why the consumer has it (a comment in the rendered values).
    #[serde(default)]
    pub purpose: Option<String>,
}

impl DatabaseUse {
    pub fn role(&self) -> &str {
        self.role.as_deref().unwrap_or(&self.name)
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    Deserialize,
    Serialize,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    #[default]
    Write,
}

/// A bucket the consumer reads or writes.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BucketUse {
    /// The bucket's name; `{domain}` makes one bucket per data domain,
    /// `{env}` one per environment (for consumers that cannot share a
    /// bucket between environments under a prefix).
    pub name: String,
    #[serde(default)]
    pub access: Access,
    /// Spec choices that must hold for the consumer to use it (as a
    /// component's `when`).
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
    /// The use is a backup: where the environment sends its backups off
    /// the cluster (`backup_target`), they go there, and this bucket is
    /// not used.
    #[serde(default)]
    pub backup: bool,
    /// The component whose catalog vends this use's credentials (Iceberg's
    /// access delegation): the consumer holds no account of its own for
    /// the bucket; the component named, which consumes it too, does.
    #[serde(default)]
    pub through: Option<String>,
    /// The cloud targets where the consumer reaches the bucket with its
    /// own workload identity instead of the credentials its catalog vends
    /// (a client that takes no vended credentials for that cloud's
    /// storage).
    #[serde(default)]
    pub direct_on: Vec<String>,
}

/// An OIDC client the consumer signs in with.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcUse {
    pub client: String,
    /// Shown on the realm's consent and admin pages.
    pub title: String,
    /// The public host's first label (`<host>.<env domain>`); the
    /// consumer's id when unset. Clients without a browser flow have none.
    #[serde(default)]
    pub host: Option<String>,
    /// Paths on the host the realm may redirect a browser back to; empty
    /// for a client that never signs a browser in.
    #[serde(default)]
    pub redirect: Vec<String>,
    /// Path a browser may return to after logging out.
    #[serde(default)]
    pub logout: Option<String>,
    /// A browser-only client with no secret (PKCE instead).
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub pkce: bool,
    /// Signs in as itself (client credentials), as pipelines and jobs do.
    #[serde(default)]
    pub service_account: bool,
    /// Realm roles of that service account (it also joins the spec's
    /// groups that grant them).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Components the service account calls with its tokens: each grants
    /// it its roles (Trino's policy, for instance), and no other does.
    #[serde(default)]
    pub calls: Vec<String>,
    /// Client scopes added to every token (after the realm's basic ones).
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub optional_scopes: Vec<String>,
    /// Access token lifetime in seconds, when the realm's default is too short.
    #[serde(default)]
    pub token_lifespan: Option<u32>,
    /// Why (a comment in the realm).
    #[serde(default)]
    pub purpose: Option<String>,
    /// The secret-store entry (under `<client>/<environment>/`) holding the
    /// client secret, read by both the realm import and the consumer;
    /// `<client>/oidc` when unset.
    #[serde(default)]
    pub store: Option<String>,
    /// The consumer syncs before the realm exists and reads the provider's
    /// configuration only when a user first signs in: the one consumer
    /// excused from needing its provider (the provider needs it).
    #[serde(default)]
    pub deferred: bool,
}

impl OidcUse {
    pub fn store_entry(&self) -> String {
        self.store
            .clone()
            .unwrap_or_else(|| format!("{}/oidc", self.client))
    }

    /// The store entry's variable in the realm import (`<CLIENT>_CLIENT_SECRET`).
    pub fn secret_variable(&self) -> String {
        format!(
            "{}_CLIENT_SECRET",
            self.client.to_ascii_uppercase().replace('-', "_")
        )
    }
}

/// One node of the graph: a component (or a consumer installed outside the
/// components, such as Argo CD) with what it provides and consumes.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub id: &'a str,
    pub needs: &'a [String],
    pub provides: &'a Provides,
    pub consumes: &'a Consumes,
}

/// What a component consumes: the kind, a name for messages, and whether
/// the use is deferred (see [`OidcUse::deferred`]).
/// Each use: its kind, how to name it, whether it is deferred, and the
/// spec choices it holds under.
type Use<'c> = (&'static str, String, bool, Option<&'c Choices>);
type Choices = BTreeMap<String, Vec<String>>;

fn consumed_kinds(c: &Consumes) -> Vec<Use<'_>> {
    let mut out = Vec::new();
    out.extend(
        c.databases
            .iter()
            .map(|d| ("databases", format!("database {:?}", d.name), false, None)),
    );
    out.extend(c.buckets.iter().map(|b| {
        (
            "buckets",
            format!("bucket {:?}", b.name),
            false,
            Some(&b.when),
        )
    }));
    out.extend(c.oidc.iter().map(|o| {
        (
            "oidc",
            format!("OIDC client {:?}", o.client),
            o.deferred,
            None,
        )
    }));
    out
}

/// Whether a use holding under `when` is always served by one of the
/// stores outside the blueprint (`external`: the kind it serves, and the
/// choices under which it exists): true when that store exists whenever
/// the use does.
fn served_outside(kind: &str, when: Option<&Choices>, external: &[(&str, &Choices)]) -> bool {
    external.iter().any(|(k, exists)| {
        *k == kind
            && exists.iter().all(|(key, values)| {
                when.and_then(|w| w.get(key)).is_some_and(|wanted| {
                    !wanted.is_empty() && wanted.iter().all(|v| values.contains(v))
                })
            })
    })
}

fn provides(p: &Provides, kind: &str) -> bool {
    match kind {
        "databases" => p.databases,
        "buckets" => p.buckets,
        "oidc" => p.oidc,
        _ => false,
    }
}

/// Whether `from` is `to` or needs it, directly or through what it needs;
/// `needs` gives each component's needs (none for an unknown id).
pub fn reaches<'a>(from: &'a str, to: &str, needs: impl Fn(&str) -> &'a [String]) -> bool {
    let mut stack = vec![from];
    let mut seen = BTreeSet::new();
    while let Some(id) = stack.pop() {
        if id == to {
            return true;
        }
        if seen.insert(id) {
            stack.extend(needs(id).iter().map(String::as_str));
        }
    }
    false
}

/// Checks the graph as declared: every consumed resource has a provider the
/// consumer needs (directly or transitively), names are unique where the
/// provider would have to create one object for two consumers, and no
/// component consumes from itself. `bootstrap` lists consumers installed
/// before every component (they need nothing, and are served last);
/// `external` the stores outside the blueprint (an external endpoint's
/// `used_by`, with its `when`): a use that holds only where one exists
/// needs no provider.
pub fn check(
    nodes: &[Node<'_>],
    bootstrap: &[Node<'_>],
    external: &[(&str, &Choices)],
) -> Result<(), String> {
    let index: BTreeMap<&str, &Node> = nodes.iter().map(|n| (n.id, n)).collect();
    let reaches =
        |from: &str, to: &str| reaches(from, to, |id| index.get(id).map_or(&[][..], |n| n.needs));
    let mut clients: BTreeMap<&str, &str> = BTreeMap::new();
    let mut roles: BTreeMap<&str, &str> = BTreeMap::new();
    let mut databases: BTreeMap<&str, &str> = BTreeMap::new();
    for (n, outside) in nodes
        .iter()
        .map(|n| (n, false))
        .chain(bootstrap.iter().map(|n| (n, true)))
    {
        for (kind, what, deferred, when) in consumed_kinds(n.consumes) {
            let providers: Vec<&str> = nodes
                .iter()
                .filter(|p| provides(p.provides, kind))
                .map(|p| p.id)
                .collect();
            if providers.is_empty() && served_outside(kind, when, external) {
                continue;
            }
            if providers.is_empty() {
                return Err(format!(
                    "{} consumes {what}, but no component provides {kind} (declare `provides: {{{kind}: true}}` on the component that creates them)",
                    n.id
                ));
            }
            if providers.contains(&n.id) {
                return Err(format!("{} consumes {what} from itself", n.id));
            }
            if !outside && !deferred && !providers.iter().any(|p| reaches(n.id, p)) {
                return Err(format!(
                    "{} consumes {what} from {}, but does not need it: add {} to {}'s needs so it syncs after its provider",
                    n.id,
                    providers.join(" or "),
                    providers[0],
                    n.id
                ));
            }
        }
        for o in &n.consumes.oidc {
            if let Some(other) = clients.insert(&o.client, n.id) {
                return Err(format!(
                    "OIDC client {:?} is consumed by both {other} and {}: each consumer has its own client",
                    o.client, n.id
                ));
            }
            if let Some(unknown) = o.calls.iter().find(|c| !index.contains_key(c.as_str())) {
                return Err(format!(
                    "{}: OIDC client {:?} calls unknown component {unknown:?}",
                    n.id, o.client
                ));
            }
            if !o.service_account && o.redirect.is_empty() {
                return Err(format!(
                    "{}: OIDC client {:?} has neither redirect paths nor a service account, so nothing can sign in with it",
                    n.id, o.client
                ));
            }
        }
        for d in &n.consumes.databases {
            if let Some(other) = databases.insert(&d.name, n.id) {
                return Err(format!(
                    "database {:?} is consumed by both {other} and {}: each database has one owner",
                    d.name, n.id
                ));
            }
            if let Some(other) = roles.insert(d.role(), n.id) {
                if other != n.id {
                    return Err(format!(
                        "role {:?} is the login of both {other} and {}: each consumer has its own role",
                        d.role(),
                        n.id
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Expands a bucket name for the data domains (`{domain}`).
pub fn bucket_names(name: &str, domains: &[String]) -> Vec<String> {
    if name.contains("{domain}") {
        domains
            .iter()
            .map(|d| name.replace("{domain}", d))
            .collect()
    } else {
        vec![name.to_owned()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node<'a>(
        id: &'a str,
        needs: &'a [String],
        provides: &'a Provides,
        consumes: &'a Consumes,
    ) -> Node<'a> {
        Node {
            id,
            needs,
            provides,
            consumes,
        }
    }

    #[test]
    fn a_consumer_without_provider_is_refused_naming_both_ends() {
        let consumes = Consumes {
            buckets: vec![BucketUse {
                name: "logs".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let none = Provides::default();
        let needs = vec![];
        let err = check(&[node("loki", &needs, &none, &consumes)], &[], &[]).unwrap_err();
        assert!(err.contains("loki consumes bucket \"logs\""), "{err}");
        assert!(err.contains("no component provides buckets"), "{err}");
        // A store outside the blueprint (an external endpoint used by
        // every bucket consumer) serves it only where it exists whenever
        // the use does.
        let external: Choices = [("object_storage".to_owned(), vec!["external".to_owned()])].into();
        let outside = [("buckets", &external)];
        assert!(check(&[node("loki", &needs, &none, &consumes)], &[], &outside).is_err());
        let consumes = Consumes {
            buckets: vec![BucketUse {
                name: "logs".into(),
                when: external.clone(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            check(&[node("loki", &needs, &none, &consumes)], &[], &outside),
            Ok(())
        );
    }

    #[test]
    fn a_consumer_must_need_its_provider() {
        let consumes = Consumes {
            databases: vec![DatabaseUse {
                name: "grafana".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let pg = Provides {
            databases: true,
            ..Default::default()
        };
        let none = Provides::default();
        let empty = Consumes::default();
        let no_needs: Vec<String> = vec![];
        let needs_pg = vec!["postgresql".to_owned()];
        let nodes = [
            node("postgresql", &no_needs, &pg, &empty),
            node("grafana", &no_needs, &none, &consumes),
        ];
        let err = check(&nodes, &[], &[]).unwrap_err();
        assert!(
            err.contains("grafana consumes database \"grafana\" from postgresql"),
            "{err}"
        );
        let nodes = [
            node("postgresql", &no_needs, &pg, &empty),
            node("grafana", &needs_pg, &none, &consumes),
        ];
        assert_eq!(check(&nodes, &[], &[]), Ok(()));
    }

    #[test]
    fn a_client_has_one_consumer() {
        let a = Consumes {
            oidc: vec![OidcUse {
                client: "ui".into(),
                redirect: vec!["/cb".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let kc = Provides {
            oidc: true,
            ..Default::default()
        };
        let none = Provides::default();
        let empty = Consumes::default();
        let needs = vec!["keycloak".to_owned()];
        let no_needs: Vec<String> = vec![];
        let nodes = [
            node("keycloak", &no_needs, &kc, &empty),
            node("a", &needs, &none, &a),
            node("b", &needs, &none, &a),
        ];
        let err = check(&nodes, &[], &[]).unwrap_err();
        assert!(err.contains("consumed by both a and b"), "{err}");
    }

    #[test]
    fn a_service_account_calls_known_components_only() {
        let a = Consumes {
            oidc: vec![OidcUse {
                client: "jobs".into(),
                service_account: true,
                calls: vec!["warehouse".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let kc = Provides {
            oidc: true,
            ..Default::default()
        };
        let none = Provides::default();
        let empty = Consumes::default();
        let needs = vec!["keycloak".to_owned()];
        let no_needs: Vec<String> = vec![];
        let nodes = [
            node("keycloak", &no_needs, &kc, &empty),
            node("jobs", &needs, &none, &a),
        ];
        let err = check(&nodes, &[], &[]).unwrap_err();
        assert!(
            err.contains("calls unknown component \"warehouse\""),
            "{err}"
        );
    }

    #[test]
    fn domains_expand() {
        assert_eq!(
            bucket_names("domain-{domain}", &["sales".into(), "hr".into()]),
            ["domain-sales", "domain-hr"]
        );
        assert_eq!(bucket_names("backups", &["sales".into()]), ["backups"]);
    }
}
