//! Where each bucket of the wiring graph lives in an environment: in the
//! cluster's object store, or, on a managed cloud whose target holds
//! buckets, in the cloud's object storage its Terraform creates.
//!
//! A consumer the environment does not deploy, or a backup the
//! environment sends off the cluster (`backup_target`), uses no bucket
//! here: the store keeps no account or bucket for it, whose keys someone
//! would have to fill in for nothing.
//!
//! A bucket moves to the cloud only when every consumer deployed in the
//! environment signs in with a workload identity (`workload_identity` in
//! the blueprint): one consumer that needs keys keeps the bucket in the
//! cluster's store, where its keys are issued, since splitting a bucket's
//! consumers between two stores would split its data. A consumer whose
//! credentials a catalog vends (`through`) counts as its catalog: the
//! catalog, which consumes the bucket too, vends the cloud's credentials
//! where it signs in with its identity, and the store's keys elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::Serialize;

use super::context::BucketConsumer;
use super::wiring::{S3Account, Wiring};
use super::{Enabled, ModelError};

/// A bucket the environment's Terraform creates.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CloudBucket {
    /// Its name in the wiring graph (what consumers declare).
    pub name: String,
    /// Its name in the cloud: bucket names are global, so the client and
    /// the environment come first.
    pub bucket: String,
    /// Its Terraform resource name (the graph name, `-` as `_`).
    pub key: String,
    /// The component ids consuming it here.
    pub consumers: Vec<String>,
    /// It holds a catalog's tables, on a cloud keeping those apart (the
    /// target's `lake_account`).
    pub lake: bool,
}

/// A consumer of cloud buckets: its role, the service accounts that take
/// it, and the buckets (cloud names) it reads only and reads and writes.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BucketIdentity {
    pub consumer: String,
    /// Its Terraform resource name.
    pub key: String,
    /// The namespace its pods run in, as the environment names it.
    pub namespace: String,
    pub service_accounts: Vec<Named>,
    /// Cloud bucket names with their resource names.
    pub read: Vec<Named>,
    pub write: Vec<Named>,
    /// Its pods exchange their service account's token for the role
    /// (web identity federation) instead of asking the node's agent.
    pub web_identity: bool,
    /// The role's ARN, which such pods' configuration names.
    pub role_arn: Option<String>,
    /// The consumers it vends credentials for its buckets, as a catalog,
    /// narrowed per table: a second role it assumes (EKS), or its own
    /// tokens downscoped (GKE).
    pub vends_to: Vec<String>,
    /// The Google service account it acts as (GKE), when the cloud gives
    /// it one: IAM then grants that account, not its service accounts.
    pub google_account: Option<super::environment::GoogleAccount>,
}

/// A name and the Terraform resource name standing for it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Named {
    pub name: String,
    pub key: String,
    /// The resource name of the one before it in its list, which it is
    /// created after: Azure refuses concurrent writes of one managed
    /// identity's federated credentials, so a consumer's service accounts
    /// are federated one at a time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// A Terraform resource name for `name`: Terraform allows `-` in names,
/// but `_` keeps references from reading as subtractions.
fn key(name: &str) -> String {
    name.replace(['-', '.'], "_")
}

/// A bucket's name in environment `env`: `{env}` in the graph's name makes
/// one bucket per environment, for consumers that cannot keep their
/// objects under a prefix of a bucket the environments share (their object
/// keys would collide, and one environment's account could read the
/// other's).
pub(crate) fn per_environment(name: &str, env: &str) -> String {
    name.replace(ENV_PLACEHOLDER, env)
}

/// The placeholder of [`per_environment`].
pub(crate) const ENV_PLACEHOLDER: &str = "{env}";

/// Resource names the cloud's other files already give their buckets.
const TAKEN: [&str; 2] = ["backups", "access_logs"];

/// Where an environment's buckets are.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placement {
    pub cloud: Vec<CloudBucket>,
    pub identities: Vec<BucketIdentity>,
    /// Every bucket of the graph by its graph name: the name consumers use
    /// here (the cloud's, or the same in the cluster's store).
    pub names: BTreeMap<String, String>,
    /// The cluster store's accounts and buckets: the graph's, less what
    /// the cloud holds.
    pub s3_accounts: Vec<S3Account>,
    pub store_buckets: Vec<String>,
    /// Whether the store holds fewer buckets than the graph has.
    pub store_narrowed: bool,
    /// The consumers that would sign in by web identity here but keep
    /// their keys, for want of the account their role's ARN names.
    pub awaiting_account: Vec<String>,
    /// The consumers reaching cloud buckets with credentials a catalog
    /// vends them: they call the cloud's storage with no identity of
    /// their own.
    pub vended: BTreeSet<String>,
}

impl Placement {
    /// The component ids that reach cloud buckets with their identities.
    /// With whether each signs in by web identity.
    pub(crate) fn consumers(&self) -> BTreeMap<String, bool> {
        self.identities
            .iter()
            .map(|i| (i.consumer.clone(), i.web_identity))
            .collect()
    }
}

/// Where an environment's buckets go.
pub(crate) struct Here<'a> {
    pub env: &'a str,
    pub slug: &'a str,
    /// Which components it does not deploy.
    pub left_out: &'a BTreeMap<String, bool>,
    pub ns: &'a BTreeMap<String, String>,
    /// Its cloud target (`eks`, `gke`; "" off the clouds).
    pub target: &'a str,
    /// Its cloud target holds buckets.
    pub holds: bool,
    /// Its cloud target keeps a catalog's buckets in an account apart.
    pub lake: bool,
    /// Its backups go to an off-cluster target.
    pub off_cluster_backups: bool,
    /// The cluster's name on the cloud, which its roles' names begin with,
    /// and the account they live in, when the spec names it.
    pub cluster: &'a str,
    pub account_id: Option<&'a str>,
    /// The cloud's region, whose partition its ARNs name.
    pub region: &'a str,
    /// The cluster runs the blueprint's object store, where a bucket whose
    /// consumer cannot take its identity here stays.
    pub store: bool,
}

/// Where `here`'s buckets go.
pub(crate) fn place(
    wiring: &Wiring,
    components: &[Enabled],
    here: &Here<'_>,
) -> Result<Placement, ModelError> {
    let Here {
        env,
        slug,
        left_out,
        ns,
        target,
        holds,
        lake,
        off_cluster_backups,
        cluster,
        account_id,
        region,
        store,
    } = *here;
    // Only EKS federates by web identity with a role's ARN in the pods'
    // configuration; GKE's metadata server gives every pod its service
    // account's identity, whatever its SDK.
    let federates = target == crate::core::spec::EKS;
    let deployed = |id: &str| left_out.get(id) == Some(&false);
    // The (consumer, bucket) uses that hold in this environment.
    let used: BTreeSet<(&str, &str)> = wiring
        .buckets
        .iter()
        .flat_map(|b| {
            b.consumers
                .iter()
                .filter(|c| deployed(&c.consumer) && !(c.backup && off_cluster_backups))
                .map(move |c| (c.consumer.as_str(), b.name.as_str()))
        })
        .collect();
    // A client that signs in by web identity names its role's ARN, which
    // needs the account: without it, where the cluster runs a store, the
    // client keeps its keys there, as it would on a cloud where it takes
    // no identity; with no store, the spec is refused below.
    let identity = |id: &str| {
        components
            .iter()
            .find(|e| e.component.id == id)
            .map(|e| &e.component)
            .filter(|c| c.identity_on(target))
            .filter(|c| !(c.web_identity && federates && account_id.is_none() && store))
    };
    let awaiting_account: Vec<String> = used
        .iter()
        .map(|(c, _)| *c)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|c| {
            components.iter().any(|e| {
                e.component.id == *c
                    && e.component.identity_on(target)
                    && e.component.web_identity
                    && federates
                    && holds
                    && account_id.is_none()
                    && store
            })
        })
        .map(str::to_owned)
        .collect();
    // A use through a catalog that this cloud's target has the consumer
    // make with its own identity (`direct_on`).
    let direct = |c: &BucketConsumer| {
        c.through.is_some()
            && c.direct_on.iter().any(|t| t == target)
            && identity(&c.consumer).is_some()
    };
    let mut moved = BTreeSet::new();
    let mut vended = BTreeSet::new();
    // The catalogs vending those consumers the cloud's credentials, with
    // the consumers of each.
    let mut vendors: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut cloud = Vec::new();
    // The catalogs: the components some use reaches a bucket through.
    let catalogs: BTreeSet<&str> = wiring
        .buckets
        .iter()
        .flat_map(|b| b.consumers.iter().filter_map(|c| c.through.as_deref()))
        .collect();
    // From the cluster's store or from the client's external one alike: on
    // a cloud that holds buckets, the cloud's storage is the one its
    // identities reach without keys.
    if holds {
        for b in &wiring.buckets {
            let here: Vec<&BucketConsumer> = b
                .consumers
                .iter()
                .filter(|c| used.contains(&(c.consumer.as_str(), b.name.as_str())))
                .collect();
            // A use with vended credentials follows its catalog, which
            // consumes the bucket too: with its identity here, the catalog
            // vends the cloud's credentials (assuming its vending role,
            // identity.tf); without, the store's keys.
            let own: Vec<&str> = here
                .iter()
                .filter(|c| c.through.is_none() || direct(c))
                .map(|c| c.consumer.as_str())
                .collect();
            if own.is_empty() || !own.iter().all(|c| identity(c).is_some()) {
                continue;
            }
            let bucket = cloud_name(slug, env, &per_environment(&b.name, env), target)?;
            if TAKEN.contains(&key(&b.name).as_str()) {
                return Err(ModelError::Bucket {
                    env: env.to_owned(),
                    message: format!(
                        "bucket {:?} would move to the cloud, whose Terraform already has a bucket of that name; rename it in the blueprint",
                        b.name
                    ),
                });
            }
            let mut consumers: Vec<String> = here.iter().map(|c| c.consumer.clone()).collect();
            consumers.sort();
            consumers.dedup();
            for c in here.iter().filter(|c| !direct(c)) {
                if let Some(catalog) = &c.through {
                    vended.insert(c.consumer.clone());
                    vendors
                        .entry(catalog.clone())
                        .or_default()
                        .insert(c.consumer.clone());
                }
            }
            moved.insert(b.name.clone());
            cloud.push(CloudBucket {
                key: key(&b.name),
                name: b.name.clone(),
                bucket,
                lake: lake
                    && here
                        .iter()
                        .any(|c| c.through.is_some() || catalogs.contains(c.consumer.as_str())),
                consumers,
            });
        }
    }
    let names: BTreeMap<String, String> = wiring
        .buckets
        .iter()
        .map(|b| {
            let name = cloud
                .iter()
                .find(|c| c.name == b.name)
                .map_or_else(|| per_environment(&b.name, env), |c| c.bucket.clone());
            (b.name.clone(), name)
        })
        .collect();
    // The store's accounts and buckets under the names used here.
    let here_name = |b: &String| names.get(b).cloned().unwrap_or_else(|| b.clone());
    let mut identities = Vec::new();
    let mut s3_accounts = Vec::new();
    // A consumer whose catalog vends it credentials elsewhere, but which
    // has an identity of its own here, reaches the cloud's buckets with it:
    // the same grants as an account of its own, and no store keys (where
    // its buckets stay in the store, its catalog still vends them).
    let own = own_accounts(wiring, &used, direct);
    let accounts = wiring
        .s3_accounts
        .iter()
        .map(|a| (a, true))
        .chain(own.iter().map(|a| (a, false)));
    for (a, keys) in accounts {
        let split = |list: &[String], cloud_side: bool| -> Vec<String> {
            list.iter()
                .filter(|b| used.contains(&(a.consumer.as_str(), b.as_str())))
                .filter(|b| moved.contains(*b) == cloud_side)
                .cloned()
                .collect()
        };
        let named = |list: Vec<String>| -> Vec<Named> {
            list.iter()
                .map(|b| Named {
                    name: names.get(b).cloned().unwrap_or_default(),
                    key: key(b),
                    after: None,
                })
                .collect()
        };
        let (read, write) = (split(&a.read, true), split(&a.write, true));
        if !(read.is_empty() && write.is_empty()) {
            if let Some(c) = identity(&a.consumer) {
                // The role's name is the Terraform's: the cluster's, then
                // the consumer's.
                let partition = crate::core::clouds::aws_partition(region);
                let role_arn = account_id
                    .filter(|_| federates)
                    .map(|id| format!("arn:{partition}:iam::{id}:role/{cluster}-{}", a.consumer));
                let web_identity = c.web_identity && federates;
                if web_identity && role_arn.is_none() {
                    return Err(ModelError::Bucket {
                        env: env.to_owned(),
                        message: format!(
                            "{} signs in to the cloud's storage by web identity, whose role ARN its pods' configuration names: give the environment's cloud.account_id (12 digits, quoted)",
                            a.consumer
                        ),
                    });
                }
                identities.push(BucketIdentity {
                    google_account: None,
                    vends_to: vendors
                        .get(&a.consumer)
                        .into_iter()
                        .flatten()
                        .cloned()
                        .collect(),
                    web_identity,
                    role_arn,
                    consumer: a.consumer.clone(),
                    key: key(&a.consumer),
                    namespace: ns.get(&c.namespace).cloned().unwrap_or_default(),
                    service_accounts: c
                        .workload_identity
                        .iter()
                        .scan(None, |before: &mut Option<String>, sa| {
                            let after = before.replace(key(sa));
                            Some(Named {
                                name: sa.clone(),
                                key: key(sa),
                                after,
                            })
                        })
                        .collect(),
                    read: named(read),
                    write: named(write),
                });
            }
        }
        if !keys {
            continue;
        }
        let (read, write) = (split(&a.read, false), split(&a.write, false));
        let (read, write): (Vec<String>, Vec<String>) = (
            read.iter().map(here_name).collect(),
            write.iter().map(here_name).collect(),
        );
        if !(read.is_empty() && write.is_empty()) {
            let mut buckets: Vec<String> = read.iter().chain(&write).cloned().collect();
            buckets.sort();
            s3_accounts.push(S3Account {
                buckets,
                read,
                write,
                ..a.clone()
            });
        }
    }
    identities.sort_by(|a, b| a.consumer.cmp(&b.consumer));
    let store_buckets: Vec<String> = wiring
        .buckets
        .iter()
        .filter(|b| !moved.contains(&b.name))
        .filter(|b| used.iter().any(|(_, u)| *u == b.name))
        .map(|b| here_name(&b.name))
        .collect();
    Ok(Placement {
        cloud,
        identities,
        names,
        s3_accounts,
        store_narrowed: store_buckets.len() != wiring.buckets.len(),
        awaiting_account,
        store_buckets,
        vended,
    })
}

/// The accounts of the consumers that use buckets through a catalog
/// elsewhere and directly here (`direct`): what an account of theirs would
/// read and write of the buckets used here.
fn own_accounts(
    wiring: &Wiring,
    used: &BTreeSet<(&str, &str)>,
    direct: impl Fn(&BucketConsumer) -> bool,
) -> Vec<S3Account> {
    use crate::core::wiring::Access;
    let mut grants: BTreeMap<&str, BTreeMap<&str, bool>> = BTreeMap::new();
    for b in &wiring.buckets {
        for c in &b.consumers {
            let consumer = c.consumer.as_str();
            if !used.contains(&(consumer, b.name.as_str())) || !direct(c) {
                continue;
            }
            *grants
                .entry(consumer)
                .or_default()
                .entry(b.name.as_str())
                .or_default() |= c.access == Access::Write;
        }
    }
    super::wiring::accounts_of(grants, None)
}

/// `<client>-<env>-<bucket>`, checked against the cloud's naming rules
/// (S3's and Cloud Storage's; Azure's containers also refuse two hyphens in
/// a row), which a long slug or domain name could break: refused here
/// rather than by the cloud at apply time.
fn cloud_name(slug: &str, env: &str, bucket: &str, target: &str) -> Result<String, ModelError> {
    let name = format!("{slug}-{env}-{bucket}");
    let valid = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-');
    let azure = target == crate::core::spec::AKS;
    if valid && !(azure && name.contains("--")) {
        Ok(name)
    } else {
        let what = if azure {
            "Azure container name: at most 63 lowercase letters, digits and single hyphens"
        } else {
            "S3 bucket name: at most 63 lowercase letters, digits and hyphens"
        };
        Err(ModelError::Bucket {
            env: env.to_owned(),
            message: format!(
                "the cloud bucket {name:?} (client slug, environment, bucket {bucket:?}) is not a valid {what}; shorten client.slug or the data domain's name"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::context::BucketConsumer;
    use crate::model::wiring::{Bucket, Providers};

    /// `{env}` gives each environment its own bucket, in the names the
    /// consumers use and in the store's account and bucket lists.
    #[test]
    fn a_bucket_per_environment_takes_the_environment_name() {
        let wiring = Wiring {
            callers: BTreeMap::new(),
            providers: Providers {
                databases: None,
                buckets: Some("store".into()),
                oidc: None,
            },
            s3_accounts: vec![S3Account {
                consumer: "ingest".into(),
                user: "ingest".into(),
                store: "ingest/s3".into(),
                policy: "ingest".into(),
                buckets: vec!["ingest-{env}".into(), "shared".into()],
                read: vec![],
                write: vec!["ingest-{env}".into(), "shared".into()],
            }],
            buckets: ["ingest-{env}", "shared"]
                .map(|name| Bucket {
                    name: name.into(),
                    consumers: vec![BucketConsumer {
                        consumer: "ingest".into(),
                        access: crate::core::wiring::Access::Write,
                        backup: false,
                        through: None,
                        direct_on: vec![],
                    }],
                })
                .to_vec(),
            databases: vec![],
            roles: vec![],
            oidc_clients: vec![],
        };
        let left_out = BTreeMap::from([("ingest".to_owned(), false)]);
        let ns = BTreeMap::new();
        let placed = place(
            &wiring,
            &[],
            &Here {
                env: "prod",
                slug: "acme",
                left_out: &left_out,
                ns: &ns,
                target: "",
                holds: false,
                lake: false,
                off_cluster_backups: false,
                cluster: "acme-prod",
                account_id: None,
                region: "eu-west-3",
                store: false,
            },
        )
        .expect("placed");
        assert_eq!(placed.names["ingest-{env}"], "ingest-prod");
        assert_eq!(placed.names["shared"], "shared");
        assert_eq!(placed.store_buckets, ["ingest-prod", "shared"]);
        assert_eq!(placed.s3_accounts[0].write, ["ingest-prod", "shared"]);
        assert_eq!(placed.s3_accounts[0].buckets, ["ingest-prod", "shared"]);
    }

    /// A graph whose one consumer writes its own bucket of its name, with
    /// the store that provides buckets, if any.
    fn one_writer(name: &str, store: Option<&str>) -> Wiring {
        Wiring {
            callers: BTreeMap::new(),
            providers: Providers {
                databases: None,
                buckets: store.map(str::to_owned),
                oidc: None,
            },
            s3_accounts: vec![S3Account {
                consumer: name.into(),
                user: name.into(),
                store: format!("{name}/s3"),
                policy: name.into(),
                buckets: vec![name.into()],
                read: vec![],
                write: vec![name.into()],
            }],
            buckets: vec![Bucket {
                name: name.into(),
                consumers: vec![BucketConsumer {
                    consumer: name.into(),
                    access: crate::core::wiring::Access::Write,
                    backup: false,
                    through: None,
                    direct_on: vec![],
                }],
            }],
            databases: vec![],
            roles: vec![],
            oidc_clients: vec![],
        }
    }

    /// On a cloud holding buckets, a bucket of the client's external store
    /// (no provider in the blueprint) moves too once its consumer has an
    /// identity; one taken by web identity gets its role's ARN, which needs
    /// the account.
    #[test]
    fn an_external_stores_bucket_moves_to_the_cloud_with_its_role() {
        let wiring = one_writer("engine", None);
        let component: crate::blueprint::Component = serde_json::from_value(serde_json::json!({
            "id": "engine", "title": "Engine", "namespace": "query", "needs": [],
            "workload_identity": ["engine"], "web_identity": true,
        }))
        .expect("component");
        let components = [Enabled { component, wave: 1 }];
        let left_out = BTreeMap::from([("engine".to_owned(), false)]);
        let ns = BTreeMap::from([("query".to_owned(), "lh-query".to_owned())]);
        let here = |account_id| Here {
            env: "prod",
            slug: "acme",
            left_out: &left_out,
            ns: &ns,
            target: "eks",
            holds: true,
            lake: false,
            off_cluster_backups: false,
            cluster: "acme-prod",
            account_id,
            region: "cn-north-1",
            store: false,
        };
        let placed = place(&wiring, &components, &here(Some("111122223333"))).expect("placed");
        assert_eq!(placed.cloud.len(), 1);
        // No catalog reads it: it is no lake bucket, whatever the cloud.
        let apart = Here {
            lake: true,
            ..here(Some("111122223333"))
        };
        assert!(!place(&wiring, &components, &apart).expect("placed").cloud[0].lake);
        assert_eq!(placed.names["engine"], "acme-prod-engine");
        assert!(placed.s3_accounts.is_empty());
        assert!(placed.store_buckets.is_empty());
        let identity = &placed.identities[0];
        assert!(identity.web_identity);
        assert_eq!(identity.namespace, "lh-query");
        assert_eq!(
            identity.role_arn.as_deref(),
            Some("arn:aws-cn:iam::111122223333:role/acme-prod-engine")
        );
        assert_eq!(
            placed.consumers(),
            BTreeMap::from([("engine".to_owned(), true)])
        );
        let err = place(&wiring, &components, &here(None))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("engine signs in to the cloud's storage by web identity"),
            "{err}"
        );
        assert!(err.contains("cloud.account_id"), "{err}");
    }

    /// The catalog's bucket, which an engine writes through it (directly
    /// on the targets `direct_on` names).
    fn catalog_and_engine(direct_on: &[&str]) -> Wiring {
        let mut wiring = one_writer("catalog", Some("store"));
        wiring.buckets[0].consumers.push(BucketConsumer {
            consumer: "engine".into(),
            access: crate::core::wiring::Access::Write,
            backup: false,
            through: Some("catalog".into()),
            direct_on: direct_on.iter().map(|t| (*t).to_owned()).collect(),
        });
        wiring
    }

    /// A component of the blueprint, enabled.
    fn enabled(v: serde_json::Value) -> Enabled {
        Enabled {
            component: serde_json::from_value(v).expect("component"),
            wave: 1,
        }
    }

    /// Prod of client acme in eu-west-3, on a `target` that holds buckets,
    /// with the cluster's store running.
    fn prod<'a>(
        left_out: &'a BTreeMap<String, bool>,
        ns: &'a BTreeMap<String, String>,
        target: &'a str,
        account_id: Option<&'a str>,
    ) -> Here<'a> {
        Here {
            env: "prod",
            slug: "acme",
            left_out,
            ns,
            target,
            holds: true,
            lake: false,
            off_cluster_backups: false,
            cluster: "acme-prod",
            account_id,
            region: "eu-west-3",
            store: true,
        }
    }

    /// A use through a catalog follows the catalog: where the catalog
    /// takes its identity, the bucket moves and the catalog vends its
    /// client the cloud's credentials (the client, with no identity, only
    /// calls the cloud's storage); where it does not, the bucket stays.
    #[test]
    fn a_vended_use_follows_its_catalog() {
        let wiring = catalog_and_engine(&[]);
        let components = [
            enabled(serde_json::json!({
                "id": "catalog", "title": "Catalog", "namespace": "storage", "needs": [],
                "workload_identity": ["catalog"], "identity_targets": ["eks"],
            })),
            enabled(serde_json::json!({
                "id": "engine", "title": "Engine", "namespace": "query", "needs": ["catalog"],
                "consumes": {"buckets": [{"name": "catalog", "access": "write", "through": "catalog"}]},
            })),
        ];
        let left_out =
            BTreeMap::from([("catalog".to_owned(), false), ("engine".to_owned(), false)]);
        let ns = BTreeMap::new();
        let here = |target| prod(&left_out, &ns, target, None);
        let placed = place(&wiring, &components, &here("eks")).expect("placed");
        assert_eq!(placed.cloud.len(), 1);
        assert_eq!(placed.cloud[0].consumers, ["catalog", "engine"]);
        assert_eq!(placed.vended, BTreeSet::from(["engine".to_owned()]));
        assert_eq!(placed.identities.len(), 1);
        assert_eq!(placed.identities[0].consumer, "catalog");
        assert_eq!(placed.identities[0].vends_to, ["engine"]);
        assert!(!placed.consumers().contains_key("engine"));
        assert!(!placed.cloud[0].lake, "no lake account on this cloud");
        // A cloud keeping the catalogs' buckets apart puts it there.
        let apart = Here {
            lake: true,
            ..here("eks")
        };
        let placed = place(&wiring, &components, &apart).expect("placed");
        assert!(placed.cloud[0].lake);

        let placed = place(&wiring, &components, &here("gke")).expect("placed");
        assert!(placed.cloud.is_empty());
        assert!(placed.vended.is_empty());
        assert_eq!(placed.store_buckets, ["catalog"]);
    }

    /// A use through a catalog made directly on one cloud (`direct_on`):
    /// there the client takes its own identity and grants, and is vended
    /// nothing; elsewhere it follows its catalog.
    #[test]
    fn a_direct_use_takes_its_own_identity_on_its_cloud() {
        let wiring = catalog_and_engine(&["gke"]);
        let engine = |targets: &[&str]| {
            enabled(serde_json::json!({
                "id": "engine", "title": "Engine", "namespace": "query", "needs": ["catalog"],
                "workload_identity": ["engine"], "identity_targets": targets,
            }))
        };
        let catalog = enabled(serde_json::json!({
            "id": "catalog", "title": "Catalog", "namespace": "storage", "needs": [],
            "workload_identity": ["catalog"], "identity_targets": ["eks", "gke"],
        }));
        let left_out =
            BTreeMap::from([("catalog".to_owned(), false), ("engine".to_owned(), false)]);
        let ns = BTreeMap::from([("query".to_owned(), "acme-query".to_owned())]);
        let here = |target| prod(&left_out, &ns, target, None);

        let components = [catalog.clone(), engine(&["gke"])];
        let placed = place(&wiring, &components, &here("gke")).expect("placed");
        assert_eq!(placed.cloud.len(), 1);
        assert!(placed.vended.is_empty());
        let consumers: Vec<&str> = placed
            .identities
            .iter()
            .map(|i| i.consumer.as_str())
            .collect();
        assert_eq!(consumers, ["catalog", "engine"]);
        let own = &placed.identities[1];
        assert_eq!(own.namespace, "acme-query");
        assert_eq!(own.write.len(), 1);
        assert_eq!(own.write[0].name, "acme-prod-catalog");
        assert!(placed.identities[0].vends_to.is_empty());
        // No store account for it, in the cloud or out.
        assert!(placed.s3_accounts.is_empty());

        // Elsewhere it is vended, with no grant of its own.
        let placed = place(&wiring, &components, &here("eks")).expect("placed");
        assert_eq!(placed.vended, BTreeSet::from(["engine".to_owned()]));
        assert_eq!(placed.identities.len(), 1);

        // Without its identity there (which the blueprint's check
        // refuses), it follows its catalog.
        let components = [catalog, engine(&["eks"])];
        let placed = place(&wiring, &components, &here("gke")).expect("placed");
        assert_eq!(placed.vended, BTreeSet::from(["engine".to_owned()]));
        assert_eq!(placed.identities.len(), 1);
    }

    /// A client that takes no identity on this cloud, or that signs in by
    /// web identity in an environment whose account the spec does not
    /// name, keeps its keys: its bucket stays in the cluster's store.
    #[test]
    fn a_client_without_its_identity_here_keeps_its_bucket_in_the_store() {
        let wiring = one_writer("notes", Some("store"));
        let component: crate::blueprint::Component = serde_json::from_value(serde_json::json!({
            "id": "notes", "title": "Notes", "namespace": "lab", "needs": [],
            "workload_identity": ["notes"], "web_identity": true,
            "identity_targets": ["eks", "gke"],
        }))
        .expect("component");
        let components = [Enabled { component, wave: 1 }];
        let left_out = BTreeMap::from([("notes".to_owned(), false)]);
        let ns = BTreeMap::from([("lab".to_owned(), "acme-lab".to_owned())]);
        let here = |target, account_id| prod(&left_out, &ns, target, account_id);
        let in_store = |placed: &Placement| {
            placed.cloud.is_empty()
                && placed.identities.is_empty()
                && placed.store_buckets == ["notes"]
                && placed.s3_accounts.len() == 1
        };
        for (target, account) in [("aks", None), ("aks", Some("111122223333")), ("eks", None)] {
            let placed = place(&wiring, &components, &here(target, account)).expect("placed");
            assert!(in_store(&placed), "{target} {account:?}: {placed:?}");
            // Only the account keeps the keys on EKS; AKS takes none.
            assert_eq!(
                placed.awaiting_account.is_empty(),
                target == "aks",
                "{target}"
            );
        }
        for (target, account) in [("eks", Some("111122223333")), ("gke", None)] {
            let placed = place(&wiring, &components, &here(target, account)).expect("placed");
            assert!(!in_store(&placed), "{target}: {placed:?}");
            assert_eq!(placed.names["notes"], "acme-prod-notes");
            assert_eq!(placed.identities[0].web_identity, target == "eks");
        }
    }

    #[test]
    fn a_cloud_bucket_name_follows_s3_rules() {
        assert_eq!(
            cloud_name("acme", "prod", "loki-chunks", "eks")
                .ok()
                .as_deref(),
            Some("acme-prod-loki-chunks")
        );
        let long = "a".repeat(60);
        let err = cloud_name(&long, "prod", "loki-chunks", "eks")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("at most 63")));
        assert!(cloud_name("acme", "prod", "Domain_A", "gke").is_err());
    }

    /// S3 takes two hyphens in a row; an Azure container does not.
    #[test]
    fn an_azure_container_name_has_single_hyphens() {
        assert!(cloud_name("acme", "prod", "raw--zone", "eks").is_ok());
        let err = cloud_name("acme", "prod", "raw--zone", "aks")
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("not a valid Azure container name")),
            "{err:?}"
        );
        assert!(cloud_name("acme", "prod", "raw-zone", "aks").is_ok());
    }
}
