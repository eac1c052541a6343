//! The objects the providers create for their consumers (`wiring`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::context::BucketConsumer;
use super::Enabled;
use crate::blueprint::Manifest;
use crate::spec::Spec;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Wiring {
    /// By enabled component id, the service accounts that call it.
    pub callers: BTreeMap<String, Vec<Caller>>,
    pub providers: Providers,
    pub s3_accounts: Vec<S3Account>,
    pub buckets: Vec<Bucket>,
    pub databases: Vec<Database>,
    pub roles: Vec<Role>,
    pub oidc_clients: Vec<OidcClient>,
}

/// A client signing in as itself: Keycloak names its user
/// `service-account-<client>`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Caller {
    pub user: String,
    pub client: String,
    pub roles: Vec<String>,
}

/// The enabled component providing each kind of resource, if any.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Providers {
    pub databases: Option<String>,
    pub buckets: Option<String>,
    pub oidc: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct S3Account {
    pub consumer: String,
    pub user: String,
    pub store: String,
    pub policy: String,
    pub buckets: Vec<String>,
    pub read: Vec<String>,
    pub write: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Bucket {
    pub name: String,
    pub consumers: Vec<BucketConsumer>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Database {
    pub name: String,
    pub owner: String,
    pub schemas: Vec<String>,
    pub purpose: Option<String>,
    pub consumer: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Role {
    pub name: String,
    pub consumer: String,
}

/// A consumer's OIDC client (its declaration, `core::wiring::OidcUse`)
/// with what the model resolves for it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OidcClient {
    pub client: String,
    pub title: String,
    /// The host its redirects go to; null for a client without redirects.
    pub host: Option<String>,
    pub redirect: Vec<String>,
    pub logout: Option<String>,
    pub public: bool,
    pub pkce: bool,
    pub service_account: bool,
    pub roles: Vec<String>,
    pub calls: Vec<String>,
    /// The scopes the client declares, else `groups`.
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
    pub token_lifespan: Option<u32>,
    pub purpose: Option<String>,
    /// The secret-store entry of its client secret.
    pub store: String,
    pub deferred: bool,
    pub consumer: String,
    pub variable: String,
    /// The spec's groups granting the service account's roles.
    pub groups: Vec<String>,
}

/// The objects the providers create for their consumers, derived from the
/// blueprint's wiring graph (`provides` / `consumes`) for the enabled
/// components: the buckets, the databases and login roles, the realm's
/// OIDC clients. Templates of the providers iterate over these, so a
/// consumer's declaration is the only place a bucket, a database or a
/// client is named.
pub(crate) fn wiring(
    manifest: &Manifest,
    components: &[Enabled],
    choices: &BTreeMap<&str, &str>,
    domains: &[String],
    spec: &Spec,
) -> Wiring {
    use crate::core::wiring::bucket_names;
    let provided = |pick: fn(&crate::core::wiring::Provides) -> bool| {
        components
            .iter()
            .find(|e| pick(&e.component.provides))
            .map(|e| e.component.id.clone())
    };
    let consumers = components
        .iter()
        .map(|e| (e.component.id.as_str(), &e.component.consumes))
        .chain(
            manifest
                .bootstrap_consumers
                .iter()
                .map(|b| (b.id.as_str(), &b.consumes)),
        );
    let mut buckets: BTreeMap<String, Vec<BucketConsumer>> = BTreeMap::new();
    let mut databases = Vec::new();
    let mut clients = Vec::new();
    for (id, consumes) in consumers {
        for b in &consumes.buckets {
            let applies = b.when.iter().all(|(k, allowed)| {
                choices
                    .get(k.as_str())
                    .is_some_and(|v| allowed.iter().any(|a| a == v))
            });
            if !applies {
                continue;
            }
            for name in bucket_names(&b.name, domains) {
                buckets.entry(name).or_default().push(BucketConsumer {
                    consumer: id.to_owned(),
                    access: b.access,
                    backup: b.backup,
                    through: b.through.clone(),
                    direct_on: b.direct_on.clone(),
                });
            }
        }
        for d in &consumes.databases {
            databases.push(Database {
                name: d.name.clone(),
                owner: d.role().to_owned(),
                schemas: d.schemas.clone(),
                purpose: d.purpose.clone(),
                consumer: id.to_owned(),
            });
        }
        for o in &consumes.oidc {
            let host =
                (!o.redirect.is_empty()).then(|| o.host.clone().unwrap_or_else(|| id.to_owned()));
            clients.push(OidcClient {
                client: o.client.clone(),
                title: o.title.clone(),
                host,
                redirect: o.redirect.clone(),
                logout: o.logout.clone(),
                public: o.public,
                pkce: o.pkce,
                service_account: o.service_account,
                roles: o.roles.clone(),
                calls: o.calls.clone(),
                // Every token carries the user's groups unless the client
                // declares the claims it reads.
                scopes: if o.scopes.is_empty() {
                    vec!["groups".to_owned()]
                } else {
                    o.scopes.clone()
                },
                optional_scopes: o.optional_scopes.clone(),
                token_lifespan: o.token_lifespan,
                purpose: o.purpose.clone(),
                store: o.store_entry(),
                deferred: o.deferred,
                consumer: id.to_owned(),
                variable: o.secret_variable(),
                groups: spec
                    .keycloak
                    .groups
                    .iter()
                    .filter(|g| o.roles.contains(&g.role))
                    .map(|g| g.name.clone())
                    .collect(),
            });
        }
    }
    databases.sort_by(|a, b| a.name.cmp(&b.name));
    clients.sort_by(|a, b| a.client.cmp(&b.client));
    let mut roles: Vec<Role> = Vec::new();
    for d in &databases {
        if !roles.iter().any(|r| r.name == d.owner) {
            roles.push(Role {
                name: d.owner.clone(),
                consumer: d.consumer.clone(),
            });
        }
    }
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    let buckets: Vec<Bucket> = buckets
        .into_iter()
        .map(|(name, consumers)| Bucket { name, consumers })
        .collect();
    // Principals of the clients that sign in as themselves, by component
    // they call: Keycloak names a service account's user
    // `service-account-<client>` (its tokens' preferred_username), and the
    // called component grants it the realm roles the client declares.
    let mut callers: BTreeMap<String, Vec<Caller>> = components
        .iter()
        .map(|e| (e.component.id.clone(), Vec::new()))
        .collect();
    for c in clients.iter().filter(|c| c.service_account) {
        for called in &c.calls {
            if let Some(list) = callers.get_mut(called) {
                list.push(Caller {
                    user: format!("service-account-{}", c.client),
                    client: c.client.clone(),
                    roles: c.roles.clone(),
                });
            }
        }
    }
    Wiring {
        callers,
        providers: Providers {
            databases: provided(|p| p.databases),
            buckets: provided(|p| p.buckets),
            oidc: provided(|p| p.oidc),
        },
        s3_accounts: s3_accounts(&buckets, manifest.s3_user.as_deref()),
        buckets,
        databases,
        roles,
        oidc_clients: clients,
    }
}

/// The S3 account of every consumer of buckets, from the buckets' consumers
/// (`wiring.buckets`): its user in the store (the manifest's `s3_user`,
/// also the Secret holding its keys), the
/// secret-store entry both the tenant and the consumer read, the policy
/// named after it, and the buckets it may read only and read and write.
/// Writing a bucket includes reading it; a consumer declaring both gets
/// write. A use with vended credentials grants nothing: the vending
/// component's account covers it. Sorted by consumer, buckets by name, so
/// the output is stable.
fn s3_accounts(buckets: &[Bucket], user: Option<&str>) -> Vec<S3Account> {
    use crate::core::wiring::Access;
    let mut grants: BTreeMap<&str, BTreeMap<&str, bool>> = BTreeMap::new();
    for b in buckets {
        for c in b.consumers.iter().filter(|c| c.through.is_none()) {
            let write = c.access == Access::Write;
            let entry = grants
                .entry(c.consumer.as_str())
                .or_default()
                .entry(b.name.as_str())
                .or_default();
            *entry |= write;
        }
    }
    accounts_of(grants, user)
}

/// The accounts for `grants` (by consumer, each bucket with whether it is
/// written), their users named by `user` (see [`s3_accounts`]).
pub(crate) fn accounts_of(
    grants: BTreeMap<&str, BTreeMap<&str, bool>>,
    user: Option<&str>,
) -> Vec<S3Account> {
    grants
        .into_iter()
        .map(|(consumer, buckets)| {
            let pick = |write: bool| -> Vec<String> {
                buckets
                    .iter()
                    .filter(|(_, w)| **w == write)
                    .map(|(b, _)| (*b).to_owned())
                    .collect()
            };
            S3Account {
                consumer: consumer.to_owned(),
                user: user.map_or_else(
                    || consumer.to_owned(),
                    |p| p.replace(crate::blueprint::CONSUMER, consumer),
                ),
                store: format!("{consumer}/s3"),
                policy: consumer.to_owned(),
                buckets: buckets.keys().map(|b| (*b).to_owned()).collect(),
                read: pick(false),
                write: pick(true),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wiring::Access;

    /// A use with vended credentials grants its consumer nothing: a
    /// consumer with no other use has no account, whose keys nobody would
    /// read.
    #[test]
    fn a_vended_use_gives_no_account() {
        let consumer = |id: &str, access, vended: bool| BucketConsumer {
            consumer: id.into(),
            access,
            backup: false,
            through: vended.then(|| "catalog".to_owned()),
            direct_on: vec![],
        };
        let buckets = [
            Bucket {
                name: "tables".into(),
                consumers: vec![
                    consumer("catalog", Access::Write, false),
                    consumer("notes", Access::Read, true),
                ],
            },
            Bucket {
                name: "notes".into(),
                consumers: vec![consumer("notes", Access::Write, false)],
            },
        ];
        let accounts = s3_accounts(&buckets, None);
        let of = |id: &str| accounts.iter().find(|a| a.consumer == id);
        assert_eq!(
            of("catalog").map(|a| a.write.clone()),
            Some(vec!["tables".to_owned()])
        );
        assert_eq!(
            of("notes").map(|a| a.buckets.clone()),
            Some(vec!["notes".to_owned()])
        );
        let accounts = s3_accounts(&buckets[..1], None);
        assert!(
            accounts.iter().all(|a| a.consumer != "notes"),
            "{accounts:?}"
        );
    }
}
