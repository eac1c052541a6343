//! The settings that give a storage client a key of its own rather than
//! the pod's workload identity: a Google service account key, an Azure
//! storage account's shared key or SAS, an S3 access key. Each cloud's
//! model judges them on the buckets the environment's Terraform creates
//! (SOC-SYS-025): a client configured with a key signs with it before it
//! asks for the pod's identity, and the Terraform's buckets take no key
//! (or, on Azure, refuse shared keys outright).
//!
//! They are read from one configuration at a time: a map's scalar
//! entries, a properties file's lines or a Hadoop XML file's properties
//! ([`properties`]), so a setting that turns another off is seen beside it.

use std::sync::OnceLock;

use serde_json::Value;

/// The settings of one configuration (a map's entries, a properties
/// file's lines, a Hadoop XML file's properties) that make a Google Cloud
/// Storage client sign in with a service account key instead of the pod's
/// identity, as the setting's index. Google's
/// clients ask the metadata server, where GKE's workload identity
/// answers, only when no key is configured:
/// - the Hadoop connector's key file (`fs.gs.auth.service.account.json.keyfile`,
///   1.x's `google.cloud.auth.…`), under any prefix (`spark.hadoop.`), unless
///   the same configuration turns service accounts off (2.x's `….enable`) or
///   names another `fs.gs.auth.type` (3.x); and that `auth.type` set to a key;
/// - Trino's key, inline or as a file (`gcs.json-key`, `gcs.json-key-file-path`,
///   with its Hive connector's `hive.` prefix);
/// - Dremio's `dremio.gcs.use_keyfile=true` (any `<prefix>.gcs.use_keyfile`).
pub(super) fn google_key(props: &[(&str, &str)]) -> Option<usize> {
    const KEY_FILES: [&str; 2] = [
        "fs.gs.auth.service.account.json.keyfile",
        "google.cloud.auth.service.account.json.keyfile",
    ];
    const KEYS: [&str; 2] = ["gcs.json-key-file-path", "gcs.json-key"];
    const KEY_TYPES: [&str; 2] = ["SERVICE_ACCOUNT_JSON_KEYFILE", "USER_CREDENTIALS"];
    let is = |key: &str, name: &str| {
        let key = key.trim().to_ascii_lowercase();
        key == name || key.ends_with(&format!(".{name}"))
    };
    let value_of = |name: &str| {
        props
            .iter()
            .find(|(k, _)| is(k, name))
            .map(|(_, v)| v.trim())
    };
    let off = [
        "fs.gs.auth.service.account.enable",
        "google.cloud.auth.service.account.enable",
    ]
    .iter()
    .any(|n| value_of(n).is_some_and(|v| v.eq_ignore_ascii_case("false")));
    let auth_type = value_of("fs.gs.auth.type");
    let keyed_type = auth_type.is_some_and(|t| KEY_TYPES.iter().any(|k| t.eq_ignore_ascii_case(k)));
    props.iter().position(|(k, v)| {
        let v = v.trim();
        if v.is_empty() {
            return false;
        }
        if KEY_FILES.iter().any(|n| is(k, n)) {
            return !off && (auth_type.is_none() || keyed_type);
        }
        if is(k, "fs.gs.auth.type") {
            return keyed_type
                && !KEY_FILES
                    .iter()
                    .any(|n| value_of(n).is_some_and(|v| !v.is_empty()));
        }
        KEYS.iter().any(|n| is(k, n))
            || (is(k, "gcs.use_keyfile") && v.eq_ignore_ascii_case("true"))
    })
}

/// The variables with which Azure's storage clients (the CLI, the SDKs'
/// samples, Velero's plugin, Airflow's wasb hook) take a shared key, a SAS
/// or a connection string holding one.
pub(super) const AZURE_KEY_VARIABLES: &[&str] = &[
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCOUNT_ACCESS_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING",
];

/// A scalar of a map, as text: a string, or a boolean flag.
pub(super) fn scalar(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Bool(true) => Some("true"),
        Value::Bool(false) => Some("false"),
        _ => None,
    }
}

/// What a key setting is set to, as a report may say it: a reference (a
/// variable, a template, a Secret's key) as written; a key written out is
/// not repeated.
pub(crate) fn shown(value: &str) -> String {
    if value.contains("${") || value.contains("{{") || value.starts_with("from ") {
        value.to_owned()
    } else {
        "a key written inline".to_owned()
    }
}

/// Whether a connection string carries a credential of the account (its
/// key, or a SAS) rather than only naming its endpoints.
pub(super) fn signed_connection_string(s: &str) -> bool {
    s.contains("AccountKey=") || s.contains("SharedAccessSignature=")
}

/// Whether a key may name one of [`azure_key`]'s settings.
pub(super) fn azure_key_hint(k: &str) -> bool {
    // Without allocating: it runs on every key of every map scanned.
    let k = k.as_bytes();
    [&b"key"[..], b"sas", b"connection"]
        .iter()
        .any(|h| k.windows(h.len()).any(|w| w.eq_ignore_ascii_case(h)))
}

/// The settings of one configuration that make an Azure Storage client
/// sign in with the storage account's shared key (or a SAS, which the key
/// signs) rather than a token of Microsoft Entra ID, as the setting's
/// index:
/// - a key, SAS or signed connection string by its usual names (Loki's
///   `account_key`, `sas_token`, `connection_string`…), unless the same
///   configuration asks for a token instead (`use_federated_token`,
///   `use_managed_identity`: Loki takes those first);
/// - Hadoop's `fs.azure.account.key.<account>…` and `fs.azure.sas.…`, under
///   any prefix, unless `fs.azure.account.auth.type` names another scheme;
/// - Trino's `azure.access-key`, unless `azure.auth-type` is not `ACCESS_KEY`;
/// - Elasticsearch's `azure.client.<name>.key` and `.sas_token`.
pub(super) fn azure_key(props: &[(&str, &str)]) -> Option<usize> {
    let norm = |k: &str| {
        let last = k.rsplit('.').next().unwrap_or(k);
        last.to_ascii_lowercase().replace(['_', '-'], "")
    };
    let token = props.iter().any(|(k, v)| {
        matches!(
            norm(k).as_str(),
            "usefederatedtoken"
                | "usemanagedidentity"
                | "useworkloadidentity"
                | "useserviceprincipal"
        ) && v.trim().eq_ignore_ascii_case("true")
    });
    let lower = |k: &str| k.trim().to_ascii_lowercase();
    let hadoop_other = props.iter().any(|(k, v)| {
        lower(k).contains("fs.azure.account.auth.type")
            && !v.trim().eq_ignore_ascii_case("SharedKey")
    });
    let trino_other = props.iter().any(|(k, v)| {
        lower(k).ends_with("azure.auth-type") && !v.trim().eq_ignore_ascii_case("ACCESS_KEY")
    });
    props.iter().position(|(k, v)| {
        let v = v.trim();
        if v.is_empty() {
            return false;
        }
        let key = lower(k);
        if key.contains("fs.azure.account.key") {
            return !hadoop_other;
        }
        if key.contains("fs.azure.sas.") {
            return true;
        }
        if key.ends_with("azure.access-key") {
            return !trino_other;
        }
        if key.starts_with("azure.client.") || key.contains(".azure.client.") {
            return key.ends_with(".key") || key.ends_with(".sas_token");
        }
        match norm(&key).as_str() {
            "accountkey"
            | "storageaccountkey"
            | "sastoken"
            | "azurestoragekey"
            | "azurestorageaccesskey"
            | "azurestorageaccountkey"
            | "azurestorageaccountaccesskey"
            | "azurestoragesastoken" => !token,
            "connectionstring" | "azurestorageconnectionstring" => {
                !token && signed_connection_string(v)
            }
            _ => false,
        }
    })
}

/// The settings of one configuration that give an S3 client a static
/// access key, which it signs with rather than asking its pod identity, as
/// their indices:
/// - Hadoop's `fs.s3a.access.key` (under any prefix, or per bucket,
///   `fs.s3a.bucket.<bucket>.access.key`), unless the configuration's
///   `fs.s3a.aws.credentials.provider` names no provider that reads it;
/// - Trino's `s3.aws-access-key` (and its Hive connector's), Iceberg's
///   `s3.access-key-id`;
/// - an access key id by its usual names (Loki's `access_key_id`, boto's
///   `aws_access_key_id`, `accessKeyId`).
pub(super) fn aws_keys(props: &[(&str, &str)]) -> Vec<usize> {
    let lower = |k: &str| k.trim().to_ascii_lowercase();
    // The providers that read the configuration's keys; a list naming
    // none of them (web identity, the container's credentials) leaves
    // them unused.
    let provider_reads_keys = props
        .iter()
        .find(|(k, _)| lower(k).ends_with("fs.s3a.aws.credentials.provider"))
        .is_none_or(|(_, v)| {
            v.contains("SimpleAWSCredentialsProvider")
                || v.contains("TemporaryAWSCredentialsProvider")
        });
    props
        .iter()
        .enumerate()
        .filter(|(_, (k, v))| {
            if v.trim().is_empty() {
                return false;
            }
            let key = lower(k);
            if key.ends_with("fs.s3a.access.key") || s3a_bucket(k).is_some() {
                return provider_reads_keys;
            }
            if key.ends_with("s3.aws-access-key") || key.ends_with("s3.access-key-id") {
                return true;
            }
            let last = key
                .rsplit('.')
                .next()
                .unwrap_or(&key)
                .replace(['_', '-'], "");
            matches!(last.as_str(), "accesskeyid" | "awsaccesskeyid")
        })
        .map(|(i, _)| i)
        .collect()
}

/// The bucket a per-bucket Hadoop key is for
/// (`fs.s3a.bucket.<bucket>.access.key`).
pub(super) fn s3a_bucket(setting: &str) -> Option<&str> {
    let lower = setting.to_ascii_lowercase();
    let at = lower.find("fs.s3a.bucket.")? + "fs.s3a.bucket.".len();
    let rest = &setting[at..];
    rest.to_ascii_lowercase()
        .ends_with(".access.key")
        .then(|| &rest[..rest.len() - ".access.key".len()])
        .filter(|b| !b.is_empty())
}

/// The storage account a Hadoop key setting is for
/// (`fs.azure.account.key.<account>.dfs.core.windows.net`), if it names one.
pub(crate) fn keyed_account(setting: &str) -> Option<&str> {
    let lower = setting.to_ascii_lowercase();
    let at = lower.find("fs.azure.account.key.")? + "fs.azure.account.key.".len();
    setting[at..].split('.').next().filter(|a| !a.is_empty())
}

/// Whether a key or a text may name one of [`google_key`]'s settings.
pub(super) fn google_key_hint(s: &str) -> bool {
    s.contains("json-key") || s.contains("keyfile") || s.contains("auth.type")
}

/// The `name`/`value` pairs of a properties file (`key=value`,
/// `key: value`, `key value` lines) or of a Hadoop XML configuration.
pub(super) fn properties(s: &str) -> Vec<(&str, &str)> {
    if s.contains("<name>") {
        return hadoop_property()
            .captures_iter(s)
            .filter_map(|c| Some((c.get(1)?.as_str(), c.get(2)?.as_str())))
            .collect();
    }
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(['#', '!']))
        .filter_map(|l| {
            let split = l.find(['=', ':']).or_else(|| l.find(char::is_whitespace))?;
            Some((l[..split].trim(), l[split + 1..].trim()))
        })
        .collect()
}

fn hadoop_property() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    super::resources::re(
        &RE,
        r"(?s)<name>\s*([^<]+?)\s*</name>\s*<value>\s*([^<]*?)\s*</value>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_properties_file_and_a_hadoop_file_give_their_settings() {
        let text = "# a comment\n! another\nfs.gs.impl=x\nkey: value\nspark.key  spaced\n\n";
        assert_eq!(
            properties(text),
            [
                ("fs.gs.impl", "x"),
                ("key", "value"),
                ("spark.key", "spaced")
            ]
        );
        let xml = "<configuration>\n  <property>\n    <name> fs.azure.sas.fixed.token </name>\n    <value>sv=1</value>\n  </property>\n</configuration>\n";
        assert_eq!(properties(xml), [("fs.azure.sas.fixed.token", "sv=1")]);
    }

    #[test]
    fn a_per_bucket_or_per_account_key_names_its_bucket_or_account() {
        assert_eq!(
            keyed_account("spark.hadoop.fs.azure.account.key.acme.dfs.core.windows.net"),
            Some("acme")
        );
        assert_eq!(keyed_account("accountKey"), None);
        assert_eq!(
            s3a_bucket("fs.s3a.bucket.landing.access.key"),
            Some("landing")
        );
        assert_eq!(s3a_bucket("fs.s3a.bucket.landing.endpoint"), None);
        assert_eq!(s3a_bucket("fs.s3a.access.key"), None);
    }

    #[test]
    fn a_key_written_out_is_not_repeated_and_a_reference_is() {
        assert_eq!(shown("c2VjcmV0"), "a key written inline");
        assert_eq!(shown("${ENV:KEY}"), "${ENV:KEY}");
        assert_eq!(shown("from key k of Secret s"), "from key k of Secret s");
        assert!(azure_key_hint("AccountKey") && azure_key_hint("sas_token"));
        assert!(!azure_key_hint("accountName"));
    }
}
