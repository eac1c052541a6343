//! What one component provisions for another, read back from the rendered
//! files: the buckets of the object stores and those consumers name, the
//! clients of the OIDC realms and those consumers sign in with, and the
//! certificate authorities behind the HTTPS endpoints consumers call, with
//! what each consumer trusts.
//!
//! Everything is read from an Application's configuration (its Helm values
//! and its manifests) by key and by shape, as an operator reading the files
//! would: `bucket:` keys, `*_BUCKET` variables, `s3://` URLs; `client_id`
//! keys and properties; `https://` URLs and the Ingress blocks that ask
//! cert-manager for their certificate. The judgement is the Rego rules'.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use serde_json::Value;

use super::build::{sources, value_files, Modelled, CONFIG_FILE};
use super::input::{
    At, BucketUse, HostCall, Issuer, IssuerUse, OidcUse, OutsideUse, Realm, RealmClient, Store,
    TlsUse,
};
use super::key_settings::{
    aws_keys, azure_key, azure_key_hint, google_key, google_key_hint, properties, s3a_bucket,
    scalar, shown, signed_connection_string, AZURE_KEY_VARIABLES,
};
use super::kustomize::Files;
use super::scans::Memo;
use super::{owned_path, Step};
use crate::check::parse::Document;

pub(super) fn re(cell: &'static OnceLock<regex::Regex>, pattern: &str) -> &'static regex::Regex {
    cell.get_or_init(|| {
        regex::Regex::new(pattern).unwrap_or_else(|_| unreachable!("the pattern is a constant"))
    })
}

fn s3_url() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    // `s3://bucket`, Hadoop's `s3a://bucket`, the `dremioS3:///bucket` of
    // a query engine's distributed storage (its authority is empty), and
    // their Cloud Storage forms `gs://bucket` and `dremiogcs:///bucket`.
    re(
        &RE,
        r"\b(?:s3a?://|dremioS3:///|gs://|dremiogcs:///)([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])",
    )
}

fn azure_url() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    // Azure Storage's containers: Hadoop's and Airflow's
    // `wasbs://container@account.blob.core.windows.net/...` (`abfss://` on
    // Data Lake Storage), and fsspec's `az://container/...`.
    re(
        &RE,
        r"\b(?:(?:wasbs?|abfss?)://([a-z0-9][a-z0-9-]{1,61}[a-z0-9])@|az://([a-z0-9][a-z0-9-]{1,61}[a-z0-9])\b)",
    )
}

fn bucket_assignment() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    re(
        &RE,
        r"(?im)^\s*[\w.-]*bucket\s*=\s*([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\s*$",
    )
}

fn client_assignment() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    re(
        &RE,
        r#"(?i)(?:^|[^a-z])client[-_.]?id["']?\s*[:=]\s*["']?([a-z0-9][a-z0-9._-]*)"#,
    )
}

fn https_url() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    re(
        &RE,
        r"\bhttps://([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)",
    )
}

/// Any of the substrings [`text`] looks for: one pass over a string that
/// has none (most do, some of them dashboards of several hundred
/// kilobytes) instead of one per substring.
fn text_markers() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    re(
        &RE,
        r"s3a?://|S3:///|gs://|gcs:///|wasbs?://|abfss?://|az://|\.core\.windows\.net|ucket|UCKET|lient(?:_id|-id|\.id|Id|ID)|https?://|/realms/|rest-catalog\.warehouse|json-key|keyfile|auth\.type|ccount(?:Key|_key|\.key)|ACCOUNT_KEY|ACCESS_KEY|STORAGE_KEY|SAS_TOKEN|sas_token|fs\.azure\.sas|access-key|access\.key",
    )
}

fn realm_path() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    re(&RE, r"/realms/([A-Za-z0-9._-]+)")
}

/// Airflow's container of task logs on Azure Storage (`[azure_remote_logging]
/// remote_wasb_log_container`), and the variable setting it: its
/// `remote_base_log_folder` is only a prefix within that container.
const WASB_LOG_CONTAINER: &str = "remote_wasb_log_container";
const WASB_LOG_CONTAINER_VARIABLE: &str = "__REMOTE_WASB_LOG_CONTAINER";

/// The keys naming an Azure storage account (Loki's `accountName`,
/// Velero's `storageAccount`, ...), lower-cased.
const STORAGE_ACCOUNT_KEYS: &[&str] = &[
    "accountname",
    "account_name",
    "storageaccount",
    "storage_account",
    "storageaccountname",
    "storage_account_name",
    // The Azure CLI's and SDKs' variable, and an ADLS client's (a
    // catalog's bootstrap naming the account of its warehouses).
    "azure_storage_account",
    "adls_account",
];

/// Azure's rules for a storage account name: 3 to 24 lowercase letters and
/// digits.
fn storage_account_name(s: &str) -> bool {
    (3..=24).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// An account's blob or Data Lake endpoint, in a URL or a `wasbs://` /
/// `abfss://` authority.
fn storage_account_host() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    re(
        &RE,
        r"\b([a-z0-9]{3,24})\.(?:blob|dfs)\.core\.windows\.net\b",
    )
}

/// S3's rules for a bucket name (the model reads nothing else as one).
fn bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn hostname(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && !s.contains(".svc")
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && s.rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_lowercase()) && tld.len() >= 2)
}

/// A value written as such (not a template filled in later).
fn literal(v: &str) -> bool {
    !v.is_empty() && !v.contains("{{") && !v.contains("${") && !v.contains("$(")
}

/// One thing a configuration says, at a field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Said {
    /// A bucket the configuration reads or writes.
    Bucket(String),
    /// A bucket the configuration marks read-only where it names it (said
    /// along with its `Bucket`, at the same field).
    ReadOnly(String),
    /// The objects under a prefix of a bucket it names at the same field
    /// (an Elasticsearch repository's `base_path`): (bucket, prefix).
    Under(String, String),
    /// A bucket an object store creates (a tenant's `buckets[].name`).
    Creates(String),
    /// An OIDC client it signs in with.
    Client(String),
    /// A realm it names (`.../realms/<name>`).
    RealmName(String),
    /// A host it calls over HTTPS.
    Https(String),
    /// A host it names (a URL's or a `host` key's): what it serves or calls.
    Host(String),
    /// A Secret or ConfigMap it names (trust material, among others).
    Names(String),
    /// Hosts whose certificate an issuer signs (an Ingress block asking
    /// cert-manager for it): (issuer kind, issuer name, host).
    Signed(String, String, String),
    /// An Azure storage account it reaches (see [`BucketUse::storage_accounts`]).
    StorageAccount(String),
    /// An Iceberg REST catalog's warehouse whose files it reads and writes
    /// itself, with no credentials the catalog vends (Trino's
    /// `iceberg.rest-catalog.warehouse` without
    /// `vended-credentials-enabled=true`): it uses the bucket the catalog
    /// declares the warehouse on.
    Warehouse(String),
    /// A warehouse a catalog's bootstrap declares on a bucket (a
    /// container's `WAREHOUSES` and `WAREHOUSE_BUCKETS`, paired in order):
    /// (warehouse, bucket).
    Declares(String, String),
    /// A Google Cloud Storage client told to sign in with a service
    /// account key rather than the pod's identity: (setting, value). See
    /// [`google_key`].
    GoogleKey(String, String),
    /// An Azure Storage client told to sign in with the storage account's
    /// shared key, or a SAS made from it: (setting, what it is set to, as
    /// [`shown`] gives it). See [`azure_key`].
    AzureKey(String, String),
    /// An S3 client given an access key in its configuration: (setting,
    /// what it is set to, as [`shown`] gives it, the bucket a per-bucket
    /// setting is for). See [`aws_key`].
    AwsKey(String, String, Option<String>),
}

const NAME_KEYS: &[&str] = &["name", "secretName", "configMapName", "secret", "configMap"];
const ISSUER_ANNOTATIONS: &[(&str, &str)] = &[
    ("cert-manager.io/cluster-issuer", "ClusterIssuer"),
    ("cert-manager.io/issuer", "Issuer"),
];

fn issuer_of(m: &serde_json::Map<String, Value>) -> Option<(&'static str, String)> {
    let annotations = m
        .get("annotations")
        .or_else(|| m.get("metadata").and_then(|x| x.get("annotations")))?;
    ISSUER_ANNOTATIONS.iter().find_map(|(key, kind)| {
        annotations
            .get(*key)
            .and_then(Value::as_str)
            .filter(|v| literal(v))
            .map(|v| (*kind, v.to_owned()))
    })
}

/// Whether a map marks the buckets it names read-only, as storage
/// settings do beside the bucket (Velero's `accessMode: ReadOnly`, a
/// `readOnly: true` flag).
fn marks_read_only(m: &serde_json::Map<String, Value>) -> bool {
    let squash = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    m.iter().any(|(k, v)| match squash(k).as_str() {
        "readonly" => v.as_bool() == Some(true) || v.as_str().is_some_and(|s| squash(s) == "true"),
        "accessmode" | "access" => v
            .as_str()
            .is_some_and(|s| matches!(squash(s).as_str(), "readonly" | "read" | "ro")),
        // OpenMetadata's dbt source (dbtPrefixConfig) only reads the
        // artifacts of the bucket it names.
        "dbtbucketname" => true,
        _ => false,
    })
}

/// Every hostname under a value (an Ingress block's hosts).
fn hosts_under(v: &Value, out: &mut BTreeSet<String>, depth: usize) {
    if depth > super::WALK_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => m.values().for_each(|x| hosts_under(x, out, depth + 1)),
        Value::Array(a) => a.iter().for_each(|x| hosts_under(x, out, depth + 1)),
        Value::String(s) if hostname(s) => {
            out.insert(s.clone());
        }
        _ => {}
    }
}

/// Whether a `bucket:` map describes one bucket (its name and settings)
/// rather than naming buckets by purpose.
fn describes_one_bucket(m: &serde_json::Map<String, Value>) -> bool {
    const SETTINGS: [&str; 12] = [
        "name",
        "region",
        "endpoint",
        "prefix",
        "path",
        "url",
        "host",
        "port",
        "policy",
        "versioning",
        "type",
        "provider",
    ];
    m.keys()
        .any(|k| SETTINGS.iter().any(|s| k.eq_ignore_ascii_case(s)))
}

/// Walks a configuration, collecting what it says with the path of each.
fn scan<'v>(
    v: &'v Value,
    base: &[Value],
    path: &mut Vec<Step<'v>>,
    out: &mut Vec<(Vec<Value>, Said)>,
    depth: usize,
) {
    if depth > super::WALK_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => {
            // Only maps naming such a setting are read as one configuration.
            if m.keys().any(|k| google_key_hint(k) || azure_key_hint(k)) {
                let props: Vec<(&str, &str)> = m
                    .iter()
                    .filter_map(|(k, x)| Some((k.as_str(), scalar(x)?)))
                    .collect();
                if let Some(i) = google_key(&props) {
                    let (k, value) = props[i];
                    let mut p = owned_path(base, path);
                    p.push(Value::from(k));
                    out.push((p, Said::GoogleKey(k.to_owned(), value.to_owned())));
                }
                if let Some(i) = azure_key(&props) {
                    let (k, value) = props[i];
                    let mut p = owned_path(base, path);
                    p.push(Value::from(k));
                    out.push((p, Said::AzureKey(k.to_owned(), shown(value))));
                }
                for i in aws_keys(&props) {
                    let (k, value) = props[i];
                    let mut p = owned_path(base, path);
                    p.push(Value::from(k));
                    let bucket = s3a_bucket(k).map(str::to_owned);
                    out.push((p, Said::AwsKey(k.to_owned(), shown(value), bucket)));
                }
            }
            // `{name: AZURE_STORAGE_KEY, value: …}`: a container's variable
            // giving Azure's clients a key.
            if let Some(name) = m.get("name").and_then(Value::as_str) {
                let upper = name.to_ascii_uppercase();
                if AZURE_KEY_VARIABLES.contains(&upper.as_str()) {
                    let set = super::cloud_keys::set_to(m).filter(|v| {
                        !upper.ends_with("CONNECTION_STRING")
                            || v.starts_with("from ")
                            || signed_connection_string(v)
                    });
                    if let Some(value) = set {
                        let mut p = owned_path(base, path);
                        p.push(Value::from(if m.contains_key("value") {
                            "value"
                        } else {
                            "valueFrom"
                        }));
                        out.push((p, Said::AzureKey(name.to_owned(), shown(&value))));
                    }
                }
            }
            if let Some((kind, issuer)) = issuer_of(m) {
                let mut hosts = BTreeSet::new();
                hosts_under(v, &mut hosts, depth);
                for h in hosts {
                    out.push((
                        owned_path(base, path),
                        Said::Signed(kind.into(), issuer.clone(), h),
                    ));
                }
            }
            // `{name: X_BUCKET, value: b}`: a container's variable.
            if let (Some(name), Some(value)) = (
                m.get("name").and_then(Value::as_str),
                m.get("value").and_then(Value::as_str),
            ) {
                let upper = name.to_ascii_uppercase();
                let mut p = owned_path(base, path);
                p.push(Value::from("value"));
                if (upper.ends_with("_BUCKET") || upper.ends_with(WASB_LOG_CONTAINER_VARIABLE))
                    && bucket_name(value)
                {
                    out.push((p.clone(), Said::Bucket(value.to_owned())));
                } else if upper.ends_with("_BUCKETS") {
                    for b in value.split([' ', ',']).filter(|b| bucket_name(b)) {
                        out.push((p.clone(), Said::Bucket(b.to_owned())));
                    }
                } else if upper.ends_with("CLIENT_ID") && literal(value) {
                    out.push((p, Said::Client(value.to_owned())));
                } else if STORAGE_ACCOUNT_KEYS.contains(&name.to_ascii_lowercase().as_str())
                    && storage_account_name(value)
                {
                    // `AZURE_STORAGE_ACCOUNT`, `ADLS_ACCOUNT`: the account
                    // the container's client calls.
                    out.push((p, Said::StorageAccount(value.to_owned())));
                }
            }
            // A map of buckets by purpose: Loki's `bucketNames: {chunks: x}`,
            // Airbyte's `storage.bucket: {log: x, state: y}`. A `bucket:` map
            // describing one bucket (`{name: x, region: y}`) names it under
            // `name`, and its other keys are settings, not buckets.
            let key_here = match path.last().copied() {
                Some(step) => step.key(),
                None => base.last().and_then(Value::as_str),
            }
            .unwrap_or_default();
            let bucket_block = key_here.eq_ignore_ascii_case("bucket");
            let one_bucket = bucket_block && describes_one_bucket(m);
            let in_bucket_names =
                key_here.eq_ignore_ascii_case("bucketNames") || (bucket_block && !one_bucket);
            let read_only = marks_read_only(m);
            let bucket = |p: &[Value], b: &str, out: &mut Vec<(Vec<Value>, Said)>| {
                out.push((p.to_vec(), Said::Bucket(b.to_owned())));
                if read_only {
                    out.push((p.to_vec(), Said::ReadOnly(b.to_owned())));
                }
            };
            if let Some(name) = m
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| one_bucket && bucket_name(n))
            {
                let mut p = owned_path(base, path);
                p.push(Value::from("name"));
                bucket(&p, name, out);
            }
            for (k, x) in m {
                path.push(Step::Key(k));
                if let Some(s) = x.as_str() {
                    let key = k.to_ascii_lowercase();
                    let bucket_key = matches!(key.as_str(), "bucket" | "bucketname" | "bucket_name")
                            // OpenMetadata's dbtBucketName.
                            || key.ends_with("bucketname")
                            || key.ends_with("_bucket")
                            || key.ends_with("-bucket")
                            || key.ends_with(".bucket")
                            || key == WASB_LOG_CONTAINER;
                    if (bucket_key || in_bucket_names) && bucket_name(s) {
                        bucket(&owned_path(base, path), s, out);
                    }
                    let account_key = STORAGE_ACCOUNT_KEYS.contains(&key.as_str())
                        // Elasticsearch's `azure.client.<name>.account`.
                        || (key.starts_with("azure.client.") && key.ends_with(".account"));
                    if account_key && storage_account_name(s) {
                        out.push((owned_path(base, path), Said::StorageAccount(s.to_owned())));
                    }
                    if key.ends_with("_buckets") {
                        for b in s.split([' ', ',']).filter(|b| bucket_name(b)) {
                            bucket(&owned_path(base, path), b, out);
                        }
                    }
                    let client_key = matches!(key.as_str(), "client_id" | "clientid" | "client-id")
                        || key.ends_with("_client_id");
                    if client_key && literal(s) && !s.contains(char::is_whitespace) {
                        out.push((owned_path(base, path), Said::Client(s.to_owned())));
                    }
                    // `<client id>:<secret>`, as OAuth2 client credentials
                    // are often handed over (Trino's Iceberg connector).
                    if key.ends_with("credential") {
                        if let Some((id, _)) = s.split_once(':') {
                            if !id.is_empty()
                                && literal(id)
                                && id
                                    .bytes()
                                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                            {
                                out.push((owned_path(base, path), Said::Client(id.to_owned())));
                            }
                        }
                    }
                    if matches!(key.as_str(), "host" | "hostname" | "domain") && hostname(s) {
                        out.push((owned_path(base, path), Said::Host(s.to_owned())));
                    }
                    if (NAME_KEYS.contains(&k.as_str())
                        || key.ends_with("secret")
                        || key.ends_with("configmap"))
                        && literal(s)
                    {
                        out.push((owned_path(base, path), Said::Names(s.to_owned())));
                    }
                }
                // A store's own list: `buckets: [{name: b}]`.
                if k == "buckets" {
                    for (i, b) in x.as_array().into_iter().flatten().enumerate() {
                        if let Some(name) = b["name"].as_str().filter(|n| bucket_name(n)) {
                            let mut p = owned_path(base, path);
                            p.extend([Value::from(i), Value::from("name")]);
                            out.push((p, Said::Creates(name.to_owned())));
                        }
                    }
                }
                if k == "hosts" {
                    for h in x.as_array().into_iter().flatten().filter_map(Value::as_str) {
                        if hostname(h) {
                            out.push((owned_path(base, path), Said::Host(h.to_owned())));
                        }
                    }
                }
                scan(x, base, path, out, depth + 1);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(Step::Index(i));
                scan(x, base, path, out, depth + 1);
                path.pop();
            }
            declared_warehouses(a, base, path, out);
        }
        Value::String(s) => {
            // A configuration file carried in a value (an ingestion
            // workflow in a ConfigMap) says what its keys say; its lines
            // are not the document's, so each finding points at the value.
            if let Some(inner) = super::carried_yaml(s) {
                let mut found = Vec::new();
                scan(&inner, &[], &mut Vec::new(), &mut found, depth + 1);
                let here = owned_path(base, path);
                out.extend(found.into_iter().map(|(_, said)| (here.clone(), said)));
                return;
            }
            if let Some(said) = snapshot_repository(s) {
                let here = owned_path(base, path);
                out.extend(said.into_iter().map(|said| (here.clone(), said)));
                return;
            }
            text(s, base, path, out)
        }
        _ => {}
    }
}

/// The bucket of an Elasticsearch snapshot repository whose REST body a
/// value carries (`{"type": "s3", "settings": {"bucket": ...}}`, a Job
/// PUTs it to `_snapshot/<name>`): Elasticsearch's nodes write their
/// snapshots there. Azure's repositories name a `container`.
fn snapshot_repository(s: &str) -> Option<Vec<Said>> {
    const MAX: usize = 64 * 1024;
    if s.len() > MAX || !s.trim_start().starts_with('{') || !s.contains("\"settings\"") {
        return None;
    }
    let v: Value = serde_json::from_str(s).ok()?;
    let key = match v["type"].as_str()? {
        "s3" | "gcs" => "bucket",
        "azure" => "container",
        _ => return None,
    };
    let settings = v["settings"].as_object()?;
    let bucket = settings.get(key)?.as_str().filter(|b| bucket_name(b))?;
    let mut said = vec![Said::Bucket(bucket.to_owned())];
    if settings.get("readonly").and_then(Value::as_bool) == Some(true) {
        said.push(Said::ReadOnly(bucket.to_owned()));
    }
    if let Some(prefix) = settings
        .get("base_path")
        .and_then(Value::as_str)
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
    {
        said.push(Said::Under(bucket.to_owned(), prefix.to_owned()));
    }
    Some(said)
}

/// The warehouses a container's variables declare on buckets: its
/// `WAREHOUSES` and `WAREHOUSE_BUCKETS`, two lists in the same order.
fn declared_warehouses(
    env: &[Value],
    base: &[Value],
    path: &[Step<'_>],
    out: &mut Vec<(Vec<Value>, Said)>,
) {
    let variable = |name: &str| {
        env.iter().find_map(|v| {
            (v.get("name")?.as_str()? == name)
                .then(|| v.get("value")?.as_str())
                .flatten()
        })
    };
    let (Some(names), Some(buckets)) = (variable("WAREHOUSES"), variable("WAREHOUSE_BUCKETS"))
    else {
        return;
    };
    for (w, b) in names.split_whitespace().zip(buckets.split_whitespace()) {
        if bucket_name(b) {
            out.push((
                owned_path(base, path),
                Said::Declares(w.to_owned(), b.to_owned()),
            ));
        }
    }
}

/// The warehouse of an Iceberg REST catalog whose files a Trino catalog's
/// properties read and write without vended credentials (off unless
/// `iceberg.rest-catalog.vended-credentials-enabled=true`).
fn own_warehouse(s: &str) -> Option<String> {
    let mut warehouse = None;
    for line in s.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key.trim() {
            "iceberg.rest-catalog.warehouse" => warehouse = Some(value.trim()),
            "iceberg.rest-catalog.vended-credentials-enabled"
                if value.trim().eq_ignore_ascii_case("true") =>
            {
                return None
            }
            _ => {}
        }
    }
    warehouse
        .filter(|w| !w.is_empty() && literal(w))
        .map(str::to_owned)
}

/// What a string says: URLs, and `key=value` / `key: value` lines of the
/// configuration files charts take as text (properties, INI, Python).
fn text(s: &str, base: &[Value], path: &[Step<'_>], out: &mut Vec<(Vec<Value>, Said)>) {
    if !text_markers().is_match(s) {
        return;
    }
    let here = || owned_path(base, path);
    if s.contains("s3://")
        || s.contains("s3a://")
        || s.contains("S3:///")
        || s.contains("gs://")
        || s.contains("gcs:///")
    {
        for c in s3_url().captures_iter(s) {
            out.push((here(), Said::Bucket(c[1].to_owned())));
        }
    }
    if s.contains("wasb://")
        || s.contains("wasbs://")
        || s.contains("abfs://")
        || s.contains("abfss://")
        || s.contains("az://")
    {
        for c in azure_url().captures_iter(s) {
            if let Some(container) = c.get(1).or_else(|| c.get(2)) {
                out.push((here(), Said::Bucket(container.as_str().to_owned())));
            }
        }
    }
    if s.contains(".core.windows.net") {
        for c in storage_account_host().captures_iter(s) {
            out.push((here(), Said::StorageAccount(c[1].to_owned())));
        }
    }
    if s.contains("ucket") || s.contains("UCKET") {
        for c in bucket_assignment().captures_iter(s) {
            if bucket_name(&c[1]) {
                out.push((here(), Said::Bucket(c[1].to_owned())));
            }
        }
    }
    if s.len() > 8
        && (s.contains("lient_id")
            || s.contains("lient-id")
            || s.contains("lient.id")
            || s.contains("lientId")
            || s.contains("lientID"))
    {
        for c in client_assignment().captures_iter(s) {
            // `"client_id": os.environ["CLIENT_ID"]` in a script carried in
            // a value assigns an expression, not a client's name.
            let end = c.get(0).map_or(0, |m| m.end());
            if matches!(s.as_bytes().get(end), Some(b'[' | b'(')) {
                continue;
            }
            out.push((here(), Said::Client(c[1].to_owned())));
        }
    }
    // As `google_key_hint`, written out for the filter's test.
    if s.contains("json-key") || s.contains("keyfile") || s.contains("auth.type") {
        let props = properties(s);
        if let Some(i) = google_key(&props) {
            let (k, value) = props[i];
            out.push((here(), Said::GoogleKey(k.to_owned(), value.to_owned())));
        }
    }
    if s.contains("ccountKey")
        || s.contains("ccount_key")
        || s.contains("ccount.key")
        || s.contains("ACCOUNT_KEY")
        || s.contains("ACCESS_KEY")
        || s.contains("STORAGE_KEY")
        || s.contains("SAS_TOKEN")
        || s.contains("sas_token")
        || s.contains("fs.azure.sas")
        || s.contains("access-key")
        || s.contains("access.key")
    {
        let props = properties(s);
        if let Some(i) = azure_key(&props) {
            let (k, value) = props[i];
            out.push((here(), Said::AzureKey(k.to_owned(), shown(value))));
        }
        for i in aws_keys(&props) {
            let (k, value) = props[i];
            let bucket = s3a_bucket(k).map(str::to_owned);
            out.push((here(), Said::AwsKey(k.to_owned(), shown(value), bucket)));
        }
    }
    if s.contains("rest-catalog.warehouse") {
        if let Some(w) = own_warehouse(s) {
            out.push((here(), Said::Warehouse(w)));
        }
    }
    if s.contains("https://") {
        for c in https_url().captures_iter(s) {
            out.push((here(), Said::Https(c[1].to_owned())));
            out.push((here(), Said::Host(c[1].to_owned())));
        }
    }
    if s.contains("http://") {
        for h in s.split("http://").skip(1) {
            let host: String = h
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect();
            if hostname(&host) {
                out.push((here(), Said::Host(host)));
            }
        }
    }
    if s.contains("/realms/") {
        for c in realm_path().captures_iter(s) {
            out.push((here(), Said::RealmName(c[1].to_owned())));
        }
    }
}

/// What a values file says, as text (part of what a range check remembers
/// of it, see `Memo`).
pub(crate) fn read_of(d: &Document, out: &mut String) {
    let mut found = Vec::new();
    scan(&d.value, &[], &mut Vec::new(), &mut found, 0);
    for (p, s) in found {
        out.push_str(&format!(
            "{}:{}:{s:?};",
            d.line,
            crate::check::parse::pointer_of(&p)
        ));
    }
}

/// A realm as keycloak-config-cli or the Keycloak operator reads it: a
/// ConfigMap value holding a realm export (`realm:` and `clients:`), or a
/// `KeycloakRealmImport`.
fn realm_of(o: &super::input::Object, v: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if o.kind == "ConfigMap" {
        for (k, text) in v["data"].as_object().into_iter().flatten() {
            let Some(text) = text.as_str() else { continue };
            if !text.contains("clients") {
                continue;
            }
            let parsed = if k.ends_with(".json") {
                serde_json::from_str::<Value>(text).ok()
            } else {
                serde_saphyr::from_str::<Value>(text).ok()
            };
            if let Some(r) = parsed.filter(|r| r["realm"].is_string() && r["clients"].is_array()) {
                out.push((k.clone(), r));
            }
        }
    } else if o.kind == "KeycloakRealmImport" {
        let r = &v["spec"]["realm"];
        if r["realm"].is_string() {
            out.push((String::new(), r.clone()));
        }
    }
    out
}

fn clients_of(realm: &Value) -> Vec<RealmClient> {
    realm["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let id = c["clientId"].as_str()?.to_owned();
            let root = c["rootUrl"].as_str().unwrap_or_default();
            let redirects = c["redirectUris"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|u| {
                    // Keycloak resolves a relative URI against the root URL.
                    if u.starts_with('/') {
                        format!("{}{u}", root.trim_end_matches('/'))
                    } else {
                        u.to_owned()
                    }
                })
                .collect::<Vec<_>>();
            let hosts = redirects
                .iter()
                .filter_map(|u| u.split_once("://").map(|(_, r)| r))
                .map(|r| {
                    r.split(['/', ':', '?'])
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            Some(RealmClient {
                client_id: id,
                public: c["publicClient"].as_bool().unwrap_or(false),
                // Keycloak's defaults: the browser flow on, service accounts off.
                standard_flow: c["standardFlowEnabled"].as_bool().unwrap_or(true),
                service_account: c["serviceAccountsEnabled"].as_bool().unwrap_or(false),
                redirect_uris: redirects,
                redirect_hosts: hosts,
            })
        })
        .collect()
}

/// `earlier` less what `later` sets, as Helm merges values: maps merge key
/// by key; anything else (a scalar, a list, null) replaces the earlier
/// value whole.
fn shadowed(earlier: &Value, later: &[&Value]) -> Value {
    let Value::Object(a) = earlier else {
        return earlier.clone();
    };
    // One pass over every later layer, so that a large values file is
    // copied once, not once per layer after it.
    let mut kept = serde_json::Map::new();
    for (k, x) in a {
        let set: Vec<&Value> = later.iter().filter_map(|l| l.get(k)).collect();
        if set.is_empty() {
            kept.insert(k.clone(), x.clone());
        } else if x.is_object() && set.iter().all(|y| y.is_object()) {
            kept.insert(k.clone(), shadowed(x, &set));
        }
    }
    Value::Object(kept)
}

/// One piece of an Application's configuration: the Application, the
/// document (None for a value inside a string), its place, the value, the
/// value's path in the document, and whether it only makes Secrets (an
/// ExternalSecret names the Secret it fills; that is not using it).
pub(crate) type Config<'a> = (
    &'a str,
    Option<&'a Document>,
    At,
    std::borrow::Cow<'a, Value>,
    Vec<Value>,
    bool,
);

/// Each Application's configuration. Helm values files count for every
/// Application that reads them.
pub(crate) fn configurations<'a>(
    m: &'a Modelled,
    files: &'a Files,
    wanted: impl Fn(&str) -> bool,
) -> Vec<Config<'a>> {
    let mut out = Vec::new();
    for app in m.system.applications.iter().filter(|a| wanted(&a.name)) {
        app_configurations(app, files, &mut out);
    }
    for i in 0..m.system.objects.len() {
        if wanted(&m.system.objects[i].app) {
            object_configuration(m, files, i, &mut out);
        }
    }
    out
}

/// The configuration an Application's own document and its Helm values
/// files give it.
fn app_configurations<'a>(
    app: &'a super::input::Application,
    files: &'a Files,
    out: &mut Vec<Config<'a>>,
) {
    {
        let Some(doc) = files.doc_at(&app.at.file, app.at.line) else {
            return;
        };
        for (path, s) in sources(&doc.value["spec"]) {
            let helm = &s["helm"];
            let layers: Vec<&Document> = value_files(s)
                .flat_map(|rel| files.docs_of(rel).into_iter().flatten().copied())
                .collect();
            // What a later layer sets, Helm takes from it: an earlier
            // file's key it overrides or removes (null) is not configured.
            let inline = helm.get("valuesObject").into_iter();
            for (i, d) in layers.iter().enumerate() {
                let later: Vec<&Value> = layers[i + 1..]
                    .iter()
                    .map(|d| &d.value)
                    .chain(inline.clone())
                    .collect();
                let value = if later.is_empty() {
                    std::borrow::Cow::Borrowed(&d.value)
                } else {
                    std::borrow::Cow::Owned(shadowed(&d.value, &later))
                };
                out.push((
                    app.name.as_str(),
                    Some(*d),
                    At::field(d, &[]),
                    value,
                    Vec::new(),
                    false,
                ));
            }
            if let Some(obj) = helm.get("valuesObject") {
                let mut p = path.clone();
                p.extend([Value::from("helm"), Value::from("valuesObject")]);
                out.push((
                    app.name.as_str(),
                    Some(doc),
                    At::field(doc, &[]),
                    std::borrow::Cow::Borrowed(obj),
                    p,
                    false,
                ));
            }
            if let Some(text) = helm["values"].as_str() {
                if let Ok(v) = serde_saphyr::from_str::<Value>(text) {
                    let mut p = path.clone();
                    p.extend([Value::from("helm"), Value::from("values")]);
                    // Lines inside the string are not the document's: the
                    // field itself is the place.
                    out.push((
                        app.name.as_str(),
                        None,
                        At::field(doc, &p),
                        std::borrow::Cow::Owned(v),
                        Vec::new(),
                        false,
                    ));
                }
            }
        }
    }
}

/// The configuration one object (by index) is: none for a chart's
/// objects (their values are the Application's) and Applications.
fn object_configuration<'a>(
    m: &'a Modelled,
    files: &'a Files,
    i: usize,
    out: &mut Vec<Config<'a>>,
) {
    let (o, v) = (&m.system.objects[i], &m.values[i]);
    {
        let Some(v) = v else { return };
        if o.origin == "chart" || o.kind == "Application" {
            return;
        }
        let doc = files.doc_at(&o.at.file, o.at.line);
        out.push((
            o.app.as_str(),
            doc,
            o.at.clone(),
            std::borrow::Cow::Borrowed(v.as_ref()),
            Vec::new(),
            matches!(
                o.kind.as_str(),
                "ExternalSecret" | "Certificate" | "Bundle" | "ClusterIssuer" | "Issuer"
            ),
        ));
    }
}

/// What one Application's configuration says, with where, and the realms
/// its objects carry, each with the ordinal of its object among the
/// Application's (kept per Application in a range, see `scans`).
#[derive(Default)]
pub(crate) struct Saying {
    said: Vec<(At, Said)>,
    realms: Vec<(usize, Realm)>,
}

/// [`Saying`] of the Application `app` (its values when `own` is its
/// description; none for objects whose Application the system does not
/// describe) and of its `objects` (indices).
fn saying(
    m: &Modelled,
    files: &Files,
    own: Option<&super::input::Application>,
    objects: &[usize],
) -> Saying {
    let mut out = Saying::default();
    let mut realm_objects: BTreeSet<(&str, usize)> = BTreeSet::new();
    for (ordinal, &i) in objects.iter().enumerate() {
        let (o, Some(v)) = (&m.system.objects[i], &m.values[i]) else {
            continue;
        };
        for (key, r) in realm_of(o, v) {
            realm_objects.insert((o.at.file.as_str(), o.at.line));
            let pointer = if key.is_empty() {
                "/spec/realm".to_owned()
            } else {
                crate::check::parse::pointer_of(&[Value::from("data"), Value::from(key)])
            };
            out.realms.push((
                ordinal,
                Realm {
                    app: o.app.clone(),
                    name: r["realm"].as_str().unwrap_or_default().to_owned(),
                    at: At {
                        pointer,
                        ..o.at.clone()
                    },
                    clients: clients_of(&r),
                },
            ));
        }
    }
    let mut configs = Vec::new();
    if let Some(app) = own {
        app_configurations(app, files, &mut configs);
    }
    for &i in objects {
        object_configuration(m, files, i, &mut configs);
    }
    for (_, doc, at, value, base, producer) in configs {
        if realm_objects.contains(&(at.file.as_str(), at.line)) {
            continue;
        }
        let mut found = Vec::new();
        scan(&value, &base, &mut Vec::new(), &mut found, 0);
        for (p, s) in found {
            if producer && matches!(s, Said::Names(_)) {
                continue;
            }
            let place = match doc {
                Some(d) if at.pointer.is_empty() => At::field(d, &p),
                _ => at.clone(),
            };
            out.said.push((place, s));
        }
    }
    out
}

/// Buckets, realms and certificate authorities of one modelled system.
pub(crate) fn resolve(m: &mut Modelled, files: &Files, memo: Option<Memo<'_, '_, Saying>>) {
    // What each Application's configuration says, with where, and the
    // realms of its objects: scanned per Application, and kept per
    // Application in a range.
    let mut sayings: HashMap<&str, Vec<std::sync::Arc<Saying>>> = HashMap::new();
    for (name, found) in super::scans::per_app(m, files, memo, |app, objects| {
        saying(m, files, app, objects)
    }) {
        sayings.entry(name).or_default().push(found);
    }
    // A client reading an Iceberg warehouse's files as itself uses the
    // bucket the catalog declares that warehouse on.
    let declared: BTreeMap<&str, &str> = sayings
        .values()
        .flatten()
        .flat_map(|s| &s.said)
        .filter_map(|(_, s)| match s {
            Said::Declares(w, b) => Some((w.as_str(), b.as_str())),
            _ => None,
        })
        .collect();
    let warehouse_buckets: Vec<(&str, (At, Said))> = sayings
        .iter()
        .flat_map(|(name, list)| {
            list.iter()
                .flat_map(move |s| s.said.iter().map(move |x| (*name, x)))
        })
        .filter_map(|(name, (at, s))| match s {
            Said::Warehouse(w) => declared
                .get(w.as_str())
                .map(|b| (name, (at.clone(), Said::Bucket((*b).to_owned())))),
            _ => None,
        })
        .collect();
    let mut said: BTreeMap<&str, Vec<&(At, Said)>> = BTreeMap::new();
    for (name, list) in &sayings {
        for s in list.iter().filter(|s| !s.said.is_empty()) {
            said.entry(name).or_default().extend(s.said.iter());
        }
    }
    for (name, found) in &warehouse_buckets {
        said.entry(name).or_default().push(found);
    }
    for list in said.values_mut() {
        list.sort();
        list.dedup();
    }

    // Applications with a values file that does not parse: what their
    // configuration says is unknown, the parse denial is the finding, and
    // rules that read that configuration do not judge them.
    let unread: BTreeSet<&str> = m
        .system
        .applications
        .iter()
        .filter(|app| {
            files.doc_at(&app.at.file, app.at.line).is_some_and(|doc| {
                sources(&doc.value["spec"]).iter().any(|(_, s)| {
                    value_files(s).any(|rel| {
                        files.bytes.contains_key(rel)
                            && files.docs_of(rel).is_none_or(Vec::is_empty)
                    })
                })
            })
        })
        .map(|app| app.name.as_str())
        .collect();

    // Object stores an operator serves (policies/objects.yaml): the
    // values of the chart that renders the store object, or the objects.
    let kinds = &super::objects::objects().stores;
    let mut stores = Vec::new();
    for app in &m.system.applications {
        let Some(kind) = kinds.iter().find(|k| {
            app.sources.iter().any(|s| {
                s.chart.as_deref() == Some(k.chart.as_str()) && s.repo_url.contains(&k.repo_host)
            })
        }) else {
            continue;
        };
        let namespace = app.destination.namespace.clone().unwrap_or_default();
        // A values file that does not parse (a merge left unresolved, say)
        // hides the bucket list: the parse error is the finding, and the
        // store's buckets are not judged.
        let unreadable = unread.contains(app.name.as_str());
        let created: Vec<(At, String)> = said
            .get(app.name.as_str())
            .into_iter()
            .flatten()
            .filter_map(|(at, s)| match s {
                Said::Creates(b) if at.pointer.contains("/buckets/") => {
                    Some((at.clone(), b.clone()))
                }
                _ => None,
            })
            .collect();
        stores.push(Store {
            app: app.name.clone(),
            namespace,
            service: kind.service.clone(),
            at: created
                .first()
                .map(|(a, _)| a.clone())
                .unwrap_or_else(|| app.at.clone()),
            buckets: created.into_iter().map(|(_, b)| b).collect(),
            modelled: !unreadable,
        });
    }
    for (o, v) in m.system.objects.iter().zip(&m.values) {
        let Some(v) = v else { continue };
        let Some(kind) = kinds
            .iter()
            .find(|k| k.group == o.group && k.kind == o.kind)
        else {
            continue;
        };
        stores.push(Store {
            app: o.app.clone(),
            namespace: o.namespace.clone(),
            service: kind.service.clone(),
            at: o.at.clone(),
            buckets: v
                .pointer(&kind.buckets)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|b| b["name"].as_str().map(str::to_owned))
                .collect(),
            modelled: true,
        });
    }
    for s in &mut stores {
        s.buckets.sort();
        s.buckets.dedup();
    }
    let store_apps: BTreeSet<&str> = stores.iter().map(|s| s.app.as_str()).collect();

    // The tenants each Application connects to.
    let mut reaches: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for c in &m.system.connections {
        if stores
            .iter()
            .any(|s| s.namespace == c.namespace && s.service == c.service)
        {
            reaches
                .entry(c.consumer.as_str())
                .or_default()
                .insert(format!("{}/{}", c.namespace, c.service));
        }
    }
    let mut bucket_uses = Vec::new();
    for (app, list) in &said {
        if store_apps.contains(app) {
            continue;
        }
        let read_only: BTreeSet<(&At, &str)> = list
            .iter()
            .filter_map(|(at, s)| match s {
                Said::ReadOnly(b) => Some((at, b.as_str())),
                _ => None,
            })
            .collect();
        let under: BTreeMap<(&At, &str), &str> = list
            .iter()
            .filter_map(|(at, s)| match s {
                Said::Under(b, p) => Some(((at, b.as_str()), p.as_str())),
                _ => None,
            })
            .collect();
        let storage_accounts: BTreeSet<&str> = list
            .iter()
            .filter_map(|(_, s)| match s {
                Said::StorageAccount(a) => Some(a.as_str()),
                _ => None,
            })
            .collect();
        let google_keys: Vec<(String, String, At)> = list
            .iter()
            .filter_map(|(at, s)| match s {
                Said::GoogleKey(k, v) => Some((k.clone(), v.clone(), at.clone())),
                _ => None,
            })
            .collect();
        let aws_keys: Vec<(String, String, Option<String>, At)> = list
            .iter()
            .filter_map(|(at, s)| match s {
                Said::AwsKey(k, v, b) => Some((k.clone(), v.clone(), b.clone(), at.clone())),
                _ => None,
            })
            .collect();
        let azure_keys: Vec<(String, String, At)> = list
            .iter()
            .filter_map(|(at, s)| match s {
                Said::AzureKey(k, v) => Some((k.clone(), v.clone(), at.clone())),
                _ => None,
            })
            .collect();
        let mut seen = BTreeSet::new();
        for (at, s) in list {
            if let Said::Bucket(b) = s {
                if seen.insert(b.clone()) {
                    let places = list
                        .iter()
                        .filter(|(_, s)| matches!(s, Said::Bucket(x) if x == b))
                        .map(|(a, _)| a);
                    let written = places
                        .clone()
                        .any(|a| !read_only.contains(&(a, b.as_str())));
                    // Under one prefix only where every place naming the
                    // bucket says so.
                    let prefixes: BTreeSet<Option<&&str>> =
                        places.map(|a| under.get(&(a, b.as_str()))).collect();
                    let prefix = match prefixes.into_iter().collect::<Vec<_>>()[..] {
                        [Some(p)] => Some((*p).to_owned()),
                        _ => None,
                    };
                    bucket_uses.push(BucketUse {
                        consumer: (*app).to_owned(),
                        at: at.clone(),
                        bucket: b.clone(),
                        prefix,
                        stores: reaches.get(app).into_iter().flatten().cloned().collect(),
                        access: if written { "write" } else { "read" }.into(),
                        grants: Vec::new(),
                        outside: None,
                        storage_accounts: storage_accounts
                            .iter()
                            .map(|a| (*a).to_owned())
                            .collect(),
                        google_keys: google_keys.clone(),
                        azure_keys: azure_keys.clone(),
                        aws_keys: aws_keys.clone(),
                    });
                }
            }
        }
    }
    super::access::resolve(m, &stores, &mut bucket_uses);

    // Realms and their clients, in the order of their objects.
    let mut realms = Vec::new();
    let mut ordinal: HashMap<&str, usize> = HashMap::new();
    for o in &m.system.objects {
        let n = ordinal.entry(o.app.as_str()).or_default();
        for s in sayings.get(o.app.as_str()).into_iter().flatten() {
            realms.extend(
                s.realms
                    .iter()
                    .filter(|(at, _)| at == n)
                    .map(|(_, r)| r.clone()),
            );
        }
        *n += 1;
    }
    let realm_apps: BTreeSet<&str> = realms.iter().map(|r| r.app.as_str()).collect();
    let mut oidc_uses = Vec::new();
    for (app, list) in &said {
        let hosts: Vec<String> = list
            .iter()
            .filter_map(|(_, s)| match s {
                Said::Host(h) => Some(h.clone()),
                _ => None,
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let realm_names: Vec<String> = list
            .iter()
            .filter_map(|(_, s)| match s {
                Said::RealmName(r) => Some(r.clone()),
                _ => None,
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut seen = BTreeSet::new();
        for (at, s) in list {
            if let Said::Client(c) = s {
                // The provider's own admin clients are not a consumer's.
                if realm_apps.contains(app) && c.starts_with("admin") {
                    continue;
                }
                if seen.insert(c.clone()) {
                    oidc_uses.push(OidcUse {
                        consumer: (*app).to_owned(),
                        at: at.clone(),
                        client: c.clone(),
                        realms: realm_names.clone(),
                        hosts: hosts.clone(),
                    });
                }
            }
        }
    }

    // Certificate authorities: cert-manager issuers, the hosts whose
    // certificates they sign, and the Secrets and bundles that carry their
    // certificate to those who must trust it.
    let mut issuers = Vec::new();
    for (o, v) in m.system.objects.iter().zip(&m.values) {
        let Some(v) = v else { continue };
        if o.group != "cert-manager.io" || !matches!(o.kind.as_str(), "ClusterIssuer" | "Issuer") {
            continue;
        }
        let spec = &v["spec"];
        let private = spec.get("acme").is_none();
        let secret = spec["ca"]["secretName"].as_str().map(str::to_owned);
        issuers.push(Issuer {
            kind: o.kind.clone(),
            name: o.name.clone(),
            namespace: if o.kind == "Issuer" {
                o.namespace.clone()
            } else {
                String::new()
            },
            private,
            at: o.at.clone(),
            hosts: Vec::new(),
            trust: trust_names(m, secret.as_deref()),
        });
    }
    let mut signed: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut issuer_uses = Vec::new();
    let mut asked = BTreeSet::new();
    for (app, list) in &said {
        for (at, s) in list {
            if let Said::Signed(kind, issuer, host) = s {
                // One use per issuer an Application asks, at its first place.
                if asked.insert((*app, kind, issuer)) {
                    issuer_uses.push(IssuerUse {
                        consumer: (*app).to_owned(),
                        at: at.clone(),
                        kind: kind.clone(),
                        issuer: issuer.clone(),
                        host: host.clone(),
                    });
                }
                signed.insert(host.clone(), (kind.clone(), issuer.clone()));
                if let Some(i) = issuers
                    .iter_mut()
                    .find(|i| &i.kind == kind && &i.name == issuer)
                {
                    if !i.hosts.contains(host) {
                        i.hosts.push(host.clone());
                    }
                }
            }
        }
    }
    for i in &mut issuers {
        i.hosts.sort();
    }
    let trust_names: BTreeSet<&str> = issuers
        .iter()
        .flat_map(|i| i.trust.iter().map(String::as_str))
        .collect();
    let mut tls_uses = Vec::new();
    let mut https_calls = Vec::new();
    for (app, list) in &said {
        if unread.contains(app) {
            continue;
        }
        // A component naming its own public URL (a root URL, a hostname
        // setting) does not call it.
        let own: BTreeSet<&str> = list
            .iter()
            .filter_map(|(_, s)| match s {
                Said::Signed(_, _, h) => Some(h.as_str()),
                _ => None,
            })
            .collect();
        let trusts: Vec<String> = list
            .iter()
            .filter_map(|(_, s)| match s {
                Said::Names(n) if trust_names.contains(n.as_str()) => Some(n.clone()),
                _ => None,
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut seen = BTreeSet::new();
        let mut called = BTreeSet::new();
        for (at, s) in list {
            let Said::Https(host) = s else { continue };
            if own.contains(host.as_str()) {
                continue;
            }
            if called.insert(host.as_str()) {
                https_calls.push(HostCall {
                    consumer: (*app).to_owned(),
                    at: at.clone(),
                    host: host.clone(),
                });
            }
            let Some((kind, issuer)) = signed.get(host) else {
                continue;
            };
            // A URL in a workload's own pod template is called by that
            // workload's process: what trusts the CA is what that pod
            // mounts and points an option at, not what a sibling workload
            // of the same Application mounts.
            let trusts = match workload_at(m, app, at) {
                Some((o, v)) => workload_trusts(m, o, v, &trust_names),
                None => trusts.clone(),
            };
            if seen.insert((host.clone(), at.file.clone(), at.line)) {
                tls_uses.push(TlsUse {
                    consumer: (*app).to_owned(),
                    at: at.clone(),
                    host: host.clone(),
                    issuer_kind: kind.clone(),
                    issuer: issuer.clone(),
                    trusts,
                });
            }
        }
    }

    m.system.external_buckets = external_buckets(files);
    // A bucket of the client's store outside the cluster: the consumer's
    // pods call that store, through their namespace's egress policies.
    // The backup target's bucket is on its own host (the backup
    // destinations' rules judge it).
    if let Some(store) = super::outside::object_storage(files, &m.system.environment) {
        let backups =
            super::outside::backup_target(files, &m.system.environment).and_then(|t| t.bucket);
        let net = super::wiring::network(m);
        for u in bucket_uses.iter_mut().filter(|u| {
            u.stores.is_empty()
                && m.system.external_buckets.contains(&u.bucket)
                && backups.as_ref() != Some(&u.bucket)
        }) {
            let egress = super::outside::namespace_of(m, &u.consumer)
                .and_then(|ns| super::outside::egress(&net, ns, &store.url, Some(&store)));
            u.outside = egress.map(|egress| OutsideUse {
                endpoint: store.url.clone(),
                egress,
            });
        }
    }
    m.system.stores = stores;
    m.system.bucket_uses = bucket_uses;
    m.system.realms = realms;
    m.system.oidc_uses = oidc_uses;
    m.system.issuers = issuers;
    m.system.tls_uses = tls_uses;
    m.system.https_calls = https_calls;
    m.system.issuer_uses = issuer_uses;
}

const WORKLOAD_KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
];

/// The workload object of `app` declared where `at` is (its document).
fn workload_at<'m>(
    m: &'m Modelled,
    app: &str,
    at: &At,
) -> Option<(&'m super::input::Object, &'m Value)> {
    m.system
        .objects
        .iter()
        .zip(&m.values)
        .find(|(o, v)| {
            v.is_some()
                && o.app == app
                && o.at.file == at.file
                && o.at.line == at.line
                && WORKLOAD_KINDS.contains(&o.kind.as_str())
        })
        .and_then(|(o, v)| Some((o, v.as_deref()?)))
}

fn pod_spec<'v>(kind: &str, v: &'v Value) -> &'v Value {
    match kind {
        "Pod" => &v["spec"],
        "CronJob" => &v["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &v["spec"]["template"]["spec"],
    }
}

fn strings_under<'v>(v: &'v Value, out: &mut Vec<&'v str>, depth: usize) {
    if depth > super::WALK_DEPTH {
        return;
    }
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings_under(x, out, depth + 1)),
        Value::Object(o) => o.values().for_each(|x| strings_under(x, out, depth + 1)),
        _ => {}
    }
}

/// The trust material a workload gives its own processes: a volume of a
/// trusted Secret, ConfigMap or bundle, mounted in a container whose
/// command, arguments or environment (its own, or the ConfigMaps it takes
/// variables from) name a path under the mount. A mounted bundle no option
/// points at is not used: Go, Python and the JVM read their own default
/// trust stores.
fn workload_trusts(
    m: &Modelled,
    o: &super::input::Object,
    v: &Value,
    trust_names: &BTreeSet<&str>,
) -> Vec<String> {
    let spec = pod_spec(&o.kind, v);
    let mut volumes: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for vol in spec["volumes"].as_array().into_iter().flatten() {
        let Some(name) = vol["name"].as_str() else {
            continue;
        };
        let mut sources = vec![
            vol["configMap"]["name"].as_str(),
            vol["secret"]["secretName"].as_str(),
        ];
        for p in vol["projected"]["sources"].as_array().into_iter().flatten() {
            sources.push(p["configMap"]["name"].as_str());
            sources.push(p["secret"]["name"].as_str());
        }
        let trusted: Vec<&str> = sources
            .into_iter()
            .flatten()
            .filter(|n| trust_names.contains(n))
            .collect();
        if !trusted.is_empty() {
            volumes.insert(name, trusted);
        }
    }
    let config_map = |name: &str| -> Option<&Value> {
        m.system
            .objects
            .iter()
            .zip(&m.values)
            .find(|(c, _)| {
                c.kind == "ConfigMap"
                    && c.namespace == o.namespace
                    && (c.name == name || c.base_name == name)
            })
            .and_then(|(_, v)| v.as_deref())
    };
    let mut out = BTreeSet::new();
    let containers = spec["containers"]
        .as_array()
        .into_iter()
        .chain(spec["initContainers"].as_array())
        .flatten();
    for c in containers {
        let mut said = Vec::new();
        for key in ["command", "args", "env"] {
            strings_under(&c[key], &mut said, 0);
        }
        let mut referenced = Vec::new();
        for e in c["envFrom"].as_array().into_iter().flatten() {
            referenced.extend(e["configMapRef"]["name"].as_str());
        }
        for e in c["env"].as_array().into_iter().flatten() {
            referenced.extend(e["valueFrom"]["configMapKeyRef"]["name"].as_str());
        }
        for name in referenced {
            if let Some(cm) = config_map(name) {
                strings_under(&cm["data"], &mut said, 0);
            }
        }
        for mount in c["volumeMounts"].as_array().into_iter().flatten() {
            let (Some(vol), Some(path)) = (mount["name"].as_str(), mount["mountPath"].as_str())
            else {
                continue;
            };
            let Some(trusted) = volumes.get(vol) else {
                continue;
            };
            let dir = path.trim_end_matches('/');
            if !dir.is_empty()
                && said
                    .iter()
                    .any(|s| s.contains(&format!("{dir}/")) || s.ends_with(dir))
            {
                out.extend(trusted.iter().map(|n| (*n).to_owned()));
            }
        }
    }
    out.into_iter().collect()
}

/// The names under which an issuer's CA certificate reaches consumers: its
/// own Secret, Secrets that ExternalSecrets fill from the same store entry,
/// and trust-manager Bundles built from any of them (a Bundle's target is
/// named after it).
fn trust_names(m: &Modelled, secret: Option<&str>) -> Vec<String> {
    let Some(secret) = secret else {
        return Vec::new();
    };
    let mut names: BTreeSet<String> = BTreeSet::from([secret.to_owned()]);
    let remote_keys = |v: &Value| -> BTreeSet<String> {
        v["spec"]["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["remoteRef"]["key"].as_str().map(str::to_owned))
            .collect()
    };
    let externals: Vec<(&super::input::Object, &Value)> = m
        .system
        .objects
        .iter()
        .zip(&m.values)
        .filter(|(o, _)| o.kind == "ExternalSecret")
        .filter_map(|(o, v)| Some((o, v.as_deref()?)))
        .collect();
    let keys: BTreeSet<String> = externals
        .iter()
        .filter(|(o, _)| o.produces.as_deref() == Some(secret))
        .flat_map(|(_, v)| remote_keys(v))
        .collect();
    for (o, v) in &externals {
        if !remote_keys(v).is_disjoint(&keys) {
            if let Some(p) = &o.produces {
                names.insert(p.clone());
            }
        }
    }
    for (o, v) in m.system.objects.iter().zip(&m.values) {
        let Some(v) = v else { continue };
        if o.group != "trust.cert-manager.io" || o.kind != "Bundle" {
            continue;
        }
        let from = v["spec"]["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| {
                ["secret", "configMap"]
                    .iter()
                    .any(|k| s[*k]["name"].as_str().is_some_and(|n| names.contains(n)))
            });
        if from {
            names.insert(o.name.clone());
        }
    }
    names.into_iter().collect()
}

/// Buckets `socle-check.yaml` declares on stores outside the repository
/// (`buckets:`), which the client creates.
fn external_buckets(files: &Files) -> Vec<String> {
    files
        .docs_of(CONFIG_FILE)
        .into_iter()
        .flatten()
        .flat_map(|d| {
            d.value["buckets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| b.as_str().or_else(|| b["name"].as_str()))
                .map(str::to_owned)
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_values_file_takes_what_it_sets_as_helm_merges() {
        let shared = serde_json::json!({
            "storage": {"bucketNames": {"chunks": "loki-chunks", "ruler": "loki-ruler"}, "s3": {"accessKeyId": "k"}},
            "coordinator": {"additionalVolumes": [{"name": "platform-ca"}], "jvm": {"heap": "1G"}},
        });
        let env = serde_json::json!({
            "storage": {"bucketNames": {"chunks": "acme-prod-loki-chunks"}, "s3": {"accessKeyId": null}},
            "coordinator": {"additionalVolumes": [{"name": "tmp"}]},
        });
        assert_eq!(
            shadowed(&shared, &[&env]),
            serde_json::json!({
                "storage": {"bucketNames": {"ruler": "loki-ruler"}, "s3": {}},
                "coordinator": {"jvm": {"heap": "1G"}},
            })
        );
    }

    #[test]
    fn layers_shadow_together_as_they_do_one_after_the_other() {
        let shared = serde_json::json!({
            "a": {"b": 1, "c": {"d": 2, "e": 3}, "f": [1]},
            "g": "kept",
            "h": {"i": 4},
        });
        let env = serde_json::json!({"a": {"c": {"d": 9}}, "h": {"j": 5}});
        let inline = serde_json::json!({"a": {"c": "replaced", "f": null}, "h": {}});
        // Each layer in turn, as Helm applies them.
        let one_by_one = shadowed(&shadowed(&shared, &[&env]), &[&inline]);
        assert_eq!(shadowed(&shared, &[&env, &inline]), one_by_one);
        assert_eq!(
            one_by_one,
            serde_json::json!({"a": {"b": 1}, "g": "kept", "h": {"i": 4}})
        );
        // A layer that is not a mapping (an empty file) sets nothing.
        assert_eq!(shadowed(&shared, &[&Value::Null]), shared);
    }

    #[test]
    fn every_substring_text_looks_for_passes_its_first_filter() {
        let source = include_str!("resources.rs");
        let body = &source[source.find("fn text(").expect("text")..];
        let body = &body[..body.find("\n}\n").expect("end of text")];
        let mut looked_for = Vec::new();
        for part in body.split("contains(\"").skip(1) {
            looked_for.push(&part[..part.find('"').expect("literal")]);
        }
        assert!(looked_for.len() >= 10, "{looked_for:?}");
        for marker in looked_for {
            assert!(text_markers().is_match(marker), "{marker}");
        }
    }

    fn said(v: Value) -> Vec<Said> {
        let mut out = Vec::new();
        scan(&v, &[], &mut Vec::new(), &mut out, 0);
        out.into_iter().map(|(_, s)| s).collect()
    }

    /// What `v` says of one kind, as `pick` takes it out.
    fn said_as<T>(v: Value, pick: impl Fn(Said) -> Option<T>) -> Vec<T> {
        said(v).into_iter().filter_map(pick).collect()
    }

    /// A Trino catalog reading its warehouse's files itself names that
    /// warehouse; one taking vended credentials does not. A bootstrap's
    /// variables pair warehouses with their buckets.
    #[test]
    fn warehouses_read_directly_and_those_declared_on_buckets() {
        let found = said(serde_json::json!({
            "catalogs": {
                "own": "connector.name=iceberg\niceberg.rest-catalog.warehouse=tables\niceberg.rest-catalog.vended-credentials-enabled=false\n",
                "plain": "iceberg.rest-catalog.warehouse = logs\n",
                "vended": "iceberg.rest-catalog.warehouse=other\niceberg.rest-catalog.vended-credentials-enabled=true\n",
            },
            "env": [{"name": "WAREHOUSES", "value": "tables logs"},
                    {"name": "WAREHOUSE_BUCKETS", "value": "acme-tables acme-logs"}],
        }));
        for w in ["tables", "logs"] {
            assert!(found.contains(&Said::Warehouse(w.into())), "{w}: {found:?}");
        }
        assert!(
            !found.contains(&Said::Warehouse("other".into())),
            "{found:?}"
        );
        assert!(found.contains(&Said::Declares("tables".into(), "acme-tables".into())));
        assert!(found.contains(&Said::Declares("logs".into(), "acme-logs".into())));
    }

    #[test]
    fn buckets_are_read_by_key_variable_and_url() {
        let found = said(serde_json::json!({
            "loki": {"storage": {"bucketNames": {"chunks": "loki-chunks"}}},
            "airbyte": {"storage": {"bucket": {"log": "airbyte-logs", "state": "airbyte-state"}}},
            "one": {"bucket": {"name": "described", "region": "eu-west-3", "prefix": "logs"}},
            "backups": {"s3": {"bucket": "backups"}, "destinationPath": "s3://pg-wal/x"},
            "env": [{"name": "NOTES_S3_BUCKET", "value": "notebooks"},
                    {"name": "WAREHOUSE_BUCKETS", "value": "a-1 b-2"}],
            "literals": ["ZEPPELIN_NOTEBOOK_S3_BUCKET=notes"],
            "conf": "paths: {\n  dist: \"dremioS3:///engine-dist/prod\"\n}\n",
            "gcs": "paths: {\n  dist: \"dremiogcs:///engine-gcs/prod\"\n}\n",
            "archive": "gs://cold-archive/2026/",
            "logs": "wasbs://airflow-logs@acmeprodlogs.blob.core.windows.net/prod",
            "lake": "abfss://raw-zone@acmelake.dfs.core.windows.net/x",
            "fsspec": "az://loki-chunks-az/index",
            "expr": "sum by (bucket) (x{bucket=~\"iceberg-.+\"})",
            "tenant": {"buckets": [{"name": "made"}]},
        }));
        for b in [
            "loki-chunks",
            "described",
            "airbyte-logs",
            "airbyte-state",
            "backups",
            "pg-wal",
            "notebooks",
            "a-1",
            "b-2",
            "notes",
            "engine-dist",
            "engine-gcs",
            "cold-archive",
            "airflow-logs",
            "raw-zone",
            "loki-chunks-az",
        ] {
            assert!(found.contains(&Said::Bucket(b.into())), "{b}: {found:?}");
        }
        assert!(found.contains(&Said::Creates("made".into())));
        // A map describing one bucket: its settings are not buckets; an
        // Azure URL's account is not one either.
        for b in ["eu-west-3", "logs", "acmeprodlogs", "acmelake"] {
            assert!(!found.contains(&Said::Bucket(b.into())), "{b}: {found:?}");
        }
        assert!(!found
            .iter()
            .any(|s| matches!(s, Said::Bucket(b) if b.contains("iceberg"))));
    }

    /// Airflow's task logs on Azure: the container is its own option (or
    /// variable); the `wasb://` folder is only a prefix inside it.
    #[test]
    fn airflows_wasb_log_container_is_a_bucket_and_its_folder_is_not() {
        let found = said(serde_json::json!({
            "config": {
                "logging": {"remote_base_log_folder": "wasb://task-logs"},
                "azure_remote_logging": {"remote_wasb_log_container": "acme-prod-airflow-logs"},
            },
            "env": [{"name": "AIRFLOW__AZURE_REMOTE_LOGGING__REMOTE_WASB_LOG_CONTAINER",
                     "value": "from-variable"}],
            "other": {"container": "not-a-bucket"},
        }));
        for b in ["acme-prod-airflow-logs", "from-variable"] {
            assert!(found.contains(&Said::Bucket(b.into())), "{b}: {found:?}");
        }
        for b in ["task-logs", "not-a-bucket"] {
            assert!(!found.contains(&Said::Bucket(b.into())), "{b}: {found:?}");
        }
    }

    /// The Azure storage accounts a configuration names: by key, and as
    /// the host of a blob or Data Lake endpoint.
    #[test]
    fn storage_accounts_are_read_by_key_and_endpoint() {
        let found = said(serde_json::json!({
            "loki": {"storage": {"azure": {"accountName": "bykey"}}},
            "velero": {"config": {"storageAccount": "velerokey",
                                   "storageAccountURI": "https://byuri.blob.core.windows.net"}},
            "es": {"azure.client.default.account": "esaccount"},
            "connection": "{\"conn_type\": \"wasb\", \"host\": \"https://injson.blob.core.windows.net/\"}",
            "hadoop": "wasbs://logs@inwasb.blob.core.windows.net/x abfss://raw@indfs.dfs.core.windows.net/y",
            "bad": {"accountName": "Not_An_Account", "storageAccount": "waytoolongforanazurestorageaccount"},
            "other": {"account": "plainaccount"},
            "env": [{"name": "ADLS_ACCOUNT", "value": "byvariable"},
                    {"name": "ACCOUNT", "value": "notbyvariable"}],
        }));
        for a in [
            "bykey",
            "velerokey",
            "byuri",
            "esaccount",
            "injson",
            "inwasb",
            "indfs",
            "byvariable",
        ] {
            assert!(
                found.contains(&Said::StorageAccount(a.into())),
                "{a}: {found:?}"
            );
        }
        let accounts: Vec<&Said> = found
            .iter()
            .filter(|s| matches!(s, Said::StorageAccount(_)))
            .collect();
        assert_eq!(accounts.len(), 8, "{accounts:?}");
    }

    /// An Azure Storage client given the account's shared key, a SAS or a
    /// signed connection string, by the names its clients read; and the
    /// settings that ask for a token instead.
    #[test]
    fn an_azure_shared_key_is_read_from_a_storage_clients_configuration() {
        let keys = |v: Value| {
            said_as(v, |s| match s {
                Said::AzureKey(k, v) => Some((k, v)),
                _ => None,
            })
        };
        let pair = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        // Loki's storage block: the key, unless the federated token is asked.
        assert_eq!(
            keys(serde_json::json!({"azure": {"accountName": "acme", "accountKey": "c2VjcmV0"}})),
            pair("accountKey", "a key written inline")
        );
        assert!(keys(serde_json::json!({"azure": {
            "accountName": "acme", "account_key": "${KEY}", "use_federated_token": true
        }}))
        .is_empty());
        // Connection strings: only one signed by the key or a SAS.
        assert_eq!(
            keys(serde_json::json!({"connectionString": "AccountName=a;AccountKey=eA=="})),
            pair("connectionString", "a key written inline")
        );
        assert!(keys(serde_json::json!({
            "connection_string": "BlobEndpoint=https://a.blob.core.windows.net/"
        }))
        .is_empty());
        // Hadoop's, Trino's and Elasticsearch's settings, as text or map.
        assert_eq!(
            keys(serde_json::json!({"sparkConf": {
                "spark.hadoop.fs.azure.account.key.acme.dfs.core.windows.net": "{{ .key }}"
            }})),
            pair(
                "spark.hadoop.fs.azure.account.key.acme.dfs.core.windows.net",
                "{{ .key }}"
            )
        );
        assert!(keys(serde_json::json!({"sparkConf": {
            "spark.hadoop.fs.azure.account.key.acme.dfs.core.windows.net": "x",
            "spark.hadoop.fs.azure.account.auth.type": "OAuth"
        }}))
        .is_empty());
        assert_eq!(
            keys(
                serde_json::json!({"catalogs": {"lake": "fs.native-azure.enabled=true\nazure.auth-type=ACCESS_KEY\nazure.access-key=${ENV:AZURE_KEY}\n"}})
            ),
            pair("azure.access-key", "${ENV:AZURE_KEY}")
        );
        assert!(keys(serde_json::json!({"catalogs": {"lake": "azure.auth-type=DEFAULT\nazure.access-key=x\n"}})).is_empty());
        assert_eq!(
            keys(serde_json::json!({"es": {"azure.client.default.sas_token": "sv=2024"}})),
            pair("azure.client.default.sas_token", "a key written inline")
        );
        // A container's variable, from a Secret; an empty one is none.
        assert_eq!(
            keys(serde_json::json!({"env": [
                {"name": "AZURE_STORAGE_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                {"name": "AZURE_STORAGE_SAS_TOKEN", "value": ""}
            ]})),
            pair("AZURE_STORAGE_KEY", "from key k of Secret s")
        );
        // Names that are no key of Azure's.
        assert!(keys(serde_json::json!({
            "secretKeyRef": {"name": "s", "key": "k"},
            "apiKey": "x",
            "primaryKey": "y"
        }))
        .is_empty());
    }

    /// An S3 client given an access key by its configuration: Hadoop's,
    /// per bucket or not, unless its provider list reads no key; Trino's,
    /// Iceberg's and the usual names of an access key id.
    #[test]
    fn an_aws_access_key_is_read_from_a_storage_clients_configuration() {
        let keys = |v: Value| {
            said_as(v, |s| match s {
                Said::AwsKey(k, _, b) => Some((k, b)),
                _ => None,
            })
        };
        let one = |k: &str, b: Option<&str>| vec![(k.to_owned(), b.map(str::to_owned))];
        assert_eq!(
            keys(serde_json::json!({"sparkConf": {"spark.hadoop.fs.s3a.access.key": "${KEY}"}})),
            one("spark.hadoop.fs.s3a.access.key", None)
        );
        assert_eq!(
            keys(serde_json::json!({"hadoopConf": {"fs.s3a.bucket.landing.access.key": "${KEY}"}})),
            one("fs.s3a.bucket.landing.access.key", Some("landing"))
        );
        assert!(keys(serde_json::json!({"hadoopConf": {
            "fs.s3a.access.key": "${KEY}",
            "fs.s3a.aws.credentials.provider": "software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider"
        }}))
        .is_empty());
        assert_eq!(
            keys(
                serde_json::json!({"catalogs": {"lake": "fs.native-s3.enabled=true\ns3.aws-access-key=${ENV:KEY}\n"}})
            ),
            one("s3.aws-access-key", None)
        );
        assert_eq!(
            keys(serde_json::json!({"storage": {"s3": {"accessKeyId": "${LOKI_KEY}"}}})),
            one("accessKeyId", None)
        );
        // Emptied, or named otherwise.
        assert!(keys(serde_json::json!({
            "s3": {"accessKeyId": "", "access_key_id": null},
            "other": {"keyId": "x", "accessKeyRef": "y"}
        }))
        .is_empty());
    }

    /// As deep as a parsed document may nest, a configuration still says
    /// what it says (a bucket, a host).
    #[test]
    fn a_configuration_is_read_as_deep_as_a_document_nests() {
        let mut deep =
            serde_json::json!({"bucket": "deep-logs", "url": "https://deep.example.com"});
        // 125 levels of maps and lists: more than the old bound of 64.
        for _ in 0..62 {
            deep = serde_json::json!({ "x": [deep] });
        }
        let found = said(serde_json::json!({"x": deep}));
        assert!(
            found.contains(&Said::Bucket("deep-logs".into())),
            "{found:?}"
        );
        assert!(
            found.contains(&Said::Host("deep.example.com".into())),
            "{found:?}"
        );
    }

    /// A storage client's configuration naming a Google key, as a map,
    /// a properties file or a Hadoop XML file; and the settings that turn
    /// it off or leave it unused.
    #[test]
    fn a_google_key_is_read_from_a_storage_clients_configuration() {
        let keys = |v: Value| {
            said_as(v, |s| match s {
                Said::GoogleKey(k, v) => Some((k, v)),
                _ => None,
            })
        };
        let pair = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        // Spark's configuration, under its prefix.
        assert_eq!(
            keys(serde_json::json!({"sparkConf": {
                "spark.hadoop.fs.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
                "spark.hadoop.fs.gs.auth.service.account.json.keyfile": "/mnt/key.json"
            }})),
            pair(
                "spark.hadoop.fs.gs.auth.service.account.json.keyfile",
                "/mnt/key.json"
            )
        );
        // 2.x turned off, or 3.x asked for the metadata server: unused.
        for off in [
            (
                "spark.hadoop.google.cloud.auth.service.account.enable",
                "false",
            ),
            ("spark.hadoop.fs.gs.auth.type", "COMPUTE_ENGINE"),
            ("spark.hadoop.fs.gs.auth.type", "APPLICATION_DEFAULT"),
        ] {
            let mut conf = serde_json::json!({
                "spark.hadoop.fs.gs.auth.service.account.json.keyfile": "/mnt/key.json"
            });
            conf[off.0] = Value::from(off.1);
            assert!(keys(conf).is_empty(), "{off:?}");
        }
        assert_eq!(
            keys(serde_json::json!({"fs.gs.auth.type": "USER_CREDENTIALS"})),
            pair("fs.gs.auth.type", "USER_CREDENTIALS")
        );
        // Trino's catalog properties, as text.
        assert_eq!(
            keys(
                serde_json::json!({"catalogs": {"lake": "connector.name=iceberg\nfs.native-gcs.enabled=true\ngcs.json-key-file-path=/etc/trino/gcs.json\n"}})
            ),
            pair("gcs.json-key-file-path", "/etc/trino/gcs.json")
        );
        assert_eq!(
            keys(serde_json::json!({"catalogs": {"hive": "hive.gcs.json-key=${ENV:GCS_KEY}"}})),
            pair("hive.gcs.json-key", "${ENV:GCS_KEY}")
        );
        // Dremio's core-site.xml: only `true` uses a key.
        let dremio = |flag: &str| {
            serde_json::json!({"data": {"core-site.xml": format!(
                "<configuration>\n  <property>\n    <name>dremio.gcs.use_keyfile</name>\n    <value>{flag}</value>\n  </property>\n</configuration>\n"
            )}})
        };
        assert_eq!(keys(dremio("true")), pair("dremio.gcs.use_keyfile", "true"));
        assert!(keys(dremio("false")).is_empty());
        // An empty key, a commented line, a setting of another name.
        assert!(keys(serde_json::json!({
            "a": {"gcs.json-key-file-path": ""},
            "b": "# gcs.json-key-file-path=/etc/key.json\nconnector.name=hive",
            "c": {"keyfile": "/etc/ssl/tls.key"}
        }))
        .is_empty());
    }

    #[test]
    fn a_bucket_marked_read_only_beside_it_is_read_only() {
        let found = said(serde_json::json!({
            "backupStorageLocation": [{"bucket": "backups", "accessMode": "ReadOnly"}],
            "restore": {"bucket": "archive", "readOnly": true},
            "logs": {"bucket": "logs", "accessMode": "ReadWrite"},
        }));
        for b in ["backups", "archive"] {
            assert!(found.contains(&Said::ReadOnly(b.into())), "{b}: {found:?}");
        }
        assert!(found.contains(&Said::Bucket("logs".into())));
        assert!(!found.contains(&Said::ReadOnly("logs".into())));
    }

    #[test]
    fn a_configuration_file_in_a_value_says_what_its_keys_say() {
        let found = said(serde_json::json!({
            "data": {"dbt.yaml": "source:\n  sourceConfig:\n    dbtPrefixConfig:\n      dbtBucketName: dbt-artifacts\n      dbtObjectPrefix: dev\n"},
        }));
        assert!(
            found.contains(&Said::Bucket("dbt-artifacts".into())),
            "{found:?}"
        );
        assert!(
            found.contains(&Said::ReadOnly("dbt-artifacts".into())),
            "{found:?}"
        );
    }

    #[test]
    fn clients_realms_and_https_hosts_are_read() {
        let found = said(serde_json::json!({
            "auth": {"client_id": "grafana", "token_url": "https://kc.example.org/realms/acme/protocol/openid-connect/token"},
            "props": "http-server.authentication.oauth2.client-id=trino\nother=1",
            "py": "OAUTH_PROVIDERS = [{\"client_id\": \"airflow\"}]",
            "env": [{"name": "AUTH_OIDC_CLIENT_ID", "value": "datahub"},
                    {"name": "X_CLIENT_ID", "value": "${FROM_ENV}"}],
            "args": ["--client-id=zeppelin"],
            "script": "form = {\"client_id\": os.environ[\"CLIENT_ID\"], \"x\": 1}",
        }));
        for c in ["grafana", "trino", "airflow", "datahub", "zeppelin"] {
            assert!(found.contains(&Said::Client(c.into())), "{c}: {found:?}");
        }
        assert!(!found
            .iter()
            .any(|s| matches!(s, Said::Client(c) if c.contains("FROM") || c.starts_with("os"))));
        assert!(found.contains(&Said::RealmName("acme".into())));
        assert!(found.contains(&Said::Https("kc.example.org".into())));
    }

    #[test]
    fn an_ingress_block_names_the_issuer_of_its_hosts() {
        let found = said(serde_json::json!({
            "ingress": {
                "annotations": {"cert-manager.io/cluster-issuer": "platform-ca"},
                "rules": [{"host": "keycloak.example.org"}],
                "tls": [{"hosts": ["keycloak.example.org"], "secretName": "kc-tls"}],
            }
        }));
        assert!(found.contains(&Said::Signed(
            "ClusterIssuer".into(),
            "platform-ca".into(),
            "keycloak.example.org".into()
        )));
    }

    #[test]
    fn an_elasticsearch_repository_body_names_its_bucket_and_prefix() {
        let s3 = r#"{"type": "s3", "settings": {"client": "default", "bucket": "backups", "base_path": "elasticsearch/prod/"}}"#;
        assert_eq!(
            snapshot_repository(s3),
            Some(vec![
                Said::Bucket("backups".into()),
                Said::Under("backups".into(), "elasticsearch/prod".into())
            ])
        );
        let azure = r#"{"type": "azure", "settings": {"container": "backups", "readonly": true}}"#;
        assert_eq!(
            snapshot_repository(azure),
            Some(vec![
                Said::Bucket("backups".into()),
                Said::ReadOnly("backups".into())
            ])
        );
        for not_one in [
            r#"{"type": "fs", "settings": {"location": "/mnt/backups"}}"#,
            r#"{"schedule": "0 30 1 * * ?", "repository": "backup-target"}"#,
            r#"{"type": "s3", "settings": {"bucket": "Not_A_Bucket"}}"#,
            "{\"type\": \"s3\", \"settings\": ",
        ] {
            assert_eq!(snapshot_repository(not_one), None, "{not_one}");
        }
    }

    #[test]
    fn names_follow_s3_rules() {
        assert!(bucket_name("iceberg-raw"));
        for bad in ["ab", "Upper", "-x-", "a_b", "~\"iceberg-.+\""] {
            assert!(!bucket_name(bad), "{bad}");
        }
        assert!(hostname("grafana.dev.data.acme.example"));
        assert!(!hostname("minio.storage.svc.cluster.local"));
        assert!(!hostname("1.2.3.4"));
    }
}
