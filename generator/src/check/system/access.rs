//! What the consumers' S3 identities may do: the MinIO users a store's
//! Application binds to IAM policies (a ConfigMap holding `bindings.json`
//! and one `<policy>.json` per user, which a Job applies with `mc`), read
//! back and evaluated as IAM evaluates them, for each bucket a consumer
//! uses. A consumer's identity is the user whose secret-store entry its
//! ExternalSecrets read: the one link both sides write down, whatever the
//! Secrets are called in each namespace.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::build::Modelled;
use super::input::{At, BucketUse, Grant, Object, Store};

/// The actions a bucket use may need, with whether each acts on the
/// bucket's objects (else on the bucket). Which of them an access needs is
/// the rules' to say.
pub(crate) const ACTIONS: [(&str, bool); 4] = [
    ("s3:ListBucket", false),
    ("s3:GetObject", true),
    ("s3:PutObject", true),
    ("s3:DeleteObject", true),
];

const BINDINGS: &str = "bindings.json";

/// Why a user's grants are unknown.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Unreadable {
    #[error("{file} does not parse: {message}")]
    Json { file: String, message: String },
    #[error("{file} is not an IAM policy: {what}")]
    Policy { file: String, what: String },
    #[error("{BINDINGS} is not an object of bindings")]
    Bindings,
    #[error("the binding of {0} names no policy")]
    NoPolicy(String),
    #[error("the ConfigMap has no {0}.json")]
    Missing(String),
}

/// One statement of an IAM policy.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) allow: bool,
    /// A `Condition` the model cannot evaluate: an Allow then grants
    /// nothing for sure, a Deny may apply.
    pub(crate) conditional: bool,
    pub(crate) actions: Vec<String>,
    pub(crate) not_action: bool,
    pub(crate) resources: Vec<String>,
    pub(crate) not_resource: bool,
}

/// A string or a list of strings (IAM accepts both).
fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => None,
    }
}

/// `key` or its negation `not_key`, exactly one of them.
fn either(s: &Map<String, Value>, key: &str, not_key: &str) -> Result<(Vec<String>, bool), String> {
    match (s.get(key), s.get(not_key)) {
        (Some(v), None) => strings(v)
            .map(|l| (l, false))
            .ok_or_else(|| format!("{key} is not a string or a list of strings")),
        (None, Some(v)) => strings(v)
            .map(|l| (l, true))
            .ok_or_else(|| format!("{not_key} is not a string or a list of strings")),
        (Some(_), Some(_)) => Err(format!("both {key} and {not_key}")),
        (None, None) => Err(format!("no {key}")),
    }
}

pub(crate) fn policy(file: &str, text: &str) -> Result<Vec<Statement>, Unreadable> {
    let doc: Value = serde_json::from_str(text).map_err(|e| Unreadable::Json {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    let bad = |what: String| Unreadable::Policy {
        file: file.to_owned(),
        what,
    };
    let list = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => return Err(bad("no Statement".into())),
    };
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s
                .as_object()
                .ok_or_else(|| bad(format!("statement {} is not an object", i + 1)))?;
            let allow = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => true,
                Some("Deny") => false,
                other => {
                    return Err(bad(format!(
                        "statement {}: Effect {other:?} is neither Allow nor Deny",
                        i + 1
                    )))
                }
            };
            let (actions, not_action) = either(s, "Action", "NotAction")
                .map_err(|e| bad(format!("statement {}: {e}", i + 1)))?;
            let (resources, not_resource) = either(s, "Resource", "NotResource")
                .map_err(|e| bad(format!("statement {}: {e}", i + 1)))?;
            Ok(Statement {
                allow,
                conditional: s
                    .get("Condition")
                    .is_some_and(|c| c.as_object().is_none_or(|c| !c.is_empty())),
                actions,
                not_action,
                resources,
                not_resource,
            })
        })
        .collect()
}

/// The positions of `pattern` (IAM's wildcards: `*` any run, `?` one
/// character) that matching all of `text` can reach.
fn states(pattern: &[char], text: &str) -> Vec<bool> {
    let close = |st: &mut Vec<bool>| {
        for i in 0..pattern.len() {
            if st[i] && pattern[i] == '*' {
                st[i + 1] = true;
            }
        }
    };
    let mut st = vec![false; pattern.len() + 1];
    st[0] = true;
    close(&mut st);
    for c in text.chars() {
        let mut next = vec![false; pattern.len() + 1];
        for (i, p) in pattern.iter().enumerate() {
            if !st[i] {
                continue;
            }
            match p {
                '*' => next[i] = true,
                '?' => next[i + 1] = true,
                p if *p == c => next[i + 1] = true,
                _ => {}
            }
        }
        close(&mut next);
        if !next.contains(&true) {
            return next;
        }
        st = next;
    }
    st
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

/// `pattern` matches `text`.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let p = chars(pattern);
    states(&p, text)[p.len()]
}

/// `pattern` matches every string starting with `prefix` (a trailing run
/// of `*` is left once the prefix is read). Narrower patterns (`b/logs/*`)
/// do not cover a whole bucket.
fn covers(pattern: &str, prefix: &str) -> bool {
    let p = chars(pattern);
    states(&p, prefix)
        .iter()
        .enumerate()
        .any(|(i, on)| *on && i < p.len() && p[i..].iter().all(|c| *c == '*'))
}

/// `pattern` matches some string starting with `prefix`.
fn overlaps(pattern: &str, prefix: &str) -> bool {
    states(&chars(pattern), prefix).contains(&true)
}

impl Statement {
    /// Whether the statement applies to `action` on `arn`: the bucket's
    /// ARN, or with `objects` the prefix of every object's. An Allow must
    /// apply to every object; a Deny denies the objects as soon as it
    /// applies to one of them.
    pub(crate) fn applies(&self, action: &str, arn: &str, objects: bool) -> bool {
        let action = action.to_ascii_lowercase();
        let named = self
            .actions
            .iter()
            .any(|p| matches(&p.to_ascii_lowercase(), &action));
        if named == self.not_action {
            return false;
        }
        let named_by = |f: fn(&str, &str) -> bool| self.resources.iter().any(|p| f(p, arn));
        match (objects, self.not_resource, self.allow) {
            (false, negated, _) => named_by(matches) != negated,
            (true, false, true) => named_by(covers),
            (true, false, false) => named_by(overlaps),
            // NotResource: the statement applies to what no pattern names.
            (true, true, true) => !named_by(overlaps),
            (true, true, false) => !named_by(covers),
        }
    }
}

/// The actions of [`ACTIONS`] the policy allows on `bucket` (its objects
/// under `prefix` when given): some unconditional Allow applies, and no
/// Deny does.
pub(crate) fn allowed(statements: &[Statement], bucket: &str, prefix: Option<&str>) -> Vec<String> {
    ACTIONS
        .iter()
        .filter(|(action, objects)| {
            let arn = if *objects {
                match prefix {
                    Some(p) => format!("arn:aws:s3:::{bucket}/{p}/"),
                    None => format!("arn:aws:s3:::{bucket}/"),
                }
            } else {
                format!("arn:aws:s3:::{bucket}")
            };
            statements
                .iter()
                .any(|s| s.allow && !s.conditional && s.applies(action, &arn, *objects))
                && !statements
                    .iter()
                    .any(|s| !s.allow && s.applies(action, &arn, *objects))
        })
        .map(|(a, _)| (*a).to_owned())
        .collect()
}

/// A MinIO user of a store and its policy.
struct Binding {
    secret: String,
    /// The secret-store entries holding its keys: the binding's `store`,
    /// and what the store's ExternalSecret producing the Secret reads.
    entries: BTreeSet<String>,
    policy: Option<String>,
    at: At,
    statements: Result<Vec<Statement>, Unreadable>,
}

/// One ConfigMap of bindings: where `bindings.json` is, and its users.
struct Bindings {
    at: At,
    users: Result<Vec<Binding>, Unreadable>,
}

/// The secret-store entries an ExternalSecret reads, each with the path
/// of the field naming it.
pub(crate) fn entries_at(v: &Value) -> impl Iterator<Item = (&str, [Value; 5])> + '_ {
    let from = |list: &'static str, object: &'static str| {
        v["spec"][list]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(move |(i, d)| {
                let key = d[object]["key"].as_str()?;
                Some((
                    key,
                    [
                        "spec".into(),
                        list.into(),
                        i.into(),
                        object.into(),
                        "key".into(),
                    ],
                ))
            })
    };
    from("data", "remoteRef").chain(from("dataFrom", "extract"))
}

/// The secret-store entries an ExternalSecret reads.
fn entries(v: &Value) -> impl Iterator<Item = String> + '_ {
    entries_at(v).map(|(key, _)| key.to_owned())
}

fn at_key(o: &Object, key: &str) -> At {
    At {
        pointer: crate::check::parse::pointer_of(&[Value::from("data"), Value::from(key)]),
        ..o.at.clone()
    }
}

/// The bindings a store's Application declares for it (None: the store's
/// users are not modelled, and its grants are not judged).
fn bindings_of(m: &Modelled, store: &Store) -> Option<Vec<Bindings>> {
    let objects = || m.system.objects.iter().zip(&m.values);
    let mut out = Vec::new();
    for (o, v) in objects() {
        let Some(v) = v else { continue };
        if o.app != store.app || o.kind != "ConfigMap" || o.namespace != store.namespace {
            continue;
        }
        let data = &v["data"];
        let Some(text) = data[BINDINGS].as_str() else {
            continue;
        };
        let users = serde_json::from_str::<Value>(text)
            .map_err(|e| Unreadable::Json {
                file: BINDINGS.into(),
                message: e.to_string(),
            })
            .and_then(|b| match b {
                Value::Object(b) if b.values().all(Value::is_object) => Ok(b),
                _ => Err(Unreadable::Bindings),
            })
            .map(|b| {
                b.iter()
                    .map(|(secret, b)| {
                        let policy = b["policy"].as_str().map(str::to_owned);
                        let mut keys: BTreeSet<String> =
                            b["store"].as_str().map(str::to_owned).into_iter().collect();
                        for (e, ev) in objects() {
                            if let (Some(ev), true) = (
                                ev,
                                e.app == store.app
                                    && e.kind == "ExternalSecret"
                                    && e.produces.as_deref() == Some(secret),
                            ) {
                                keys.extend(entries(ev));
                            }
                        }
                        let file = policy.as_ref().map(|p| format!("{p}.json"));
                        let (at, statements) = match (&policy, &file) {
                            (Some(p), Some(file)) => match data[file.as_str()].as_str() {
                                Some(text) => (at_key(o, file), self::policy(file, text)),
                                None => (at_key(o, BINDINGS), Err(Unreadable::Missing(p.clone()))),
                            },
                            _ => (
                                at_key(o, BINDINGS),
                                Err(Unreadable::NoPolicy(secret.clone())),
                            ),
                        };
                        Binding {
                            secret: secret.clone(),
                            entries: keys,
                            policy,
                            at,
                            statements,
                        }
                    })
                    .collect()
            });
        out.push(Bindings {
            at: at_key(o, BINDINGS),
            users,
        });
    }
    (!out.is_empty()).then_some(out)
}

/// Fills each bucket use's grants on the stores it reaches whose users and
/// policies are modelled.
pub(crate) fn resolve(m: &Modelled, stores: &[Store], uses: &mut [BucketUse]) {
    let bound: BTreeMap<String, Vec<Bindings>> = stores
        .iter()
        .filter_map(|s| Some((format!("{}/{}", s.namespace, s.service), bindings_of(m, s)?)))
        .collect();
    if bound.is_empty() {
        return;
    }
    // The secret-store entries each Application's ExternalSecrets read.
    let mut read: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (o, v) in m.system.objects.iter().zip(&m.values) {
        if let (Some(v), "ExternalSecret") = (v, o.kind.as_str()) {
            read.entry(o.app.as_str()).or_default().extend(entries(v));
        }
    }
    for u in uses.iter_mut() {
        let held = read.get(u.consumer.as_str());
        for store in &u.stores {
            let Some(sources) = bound.get(store) else {
                continue;
            };
            let mut grants = Vec::new();
            for b in sources {
                let users = match &b.users {
                    Ok(users) => users,
                    Err(e) => {
                        grants.push(Grant {
                            store: store.clone(),
                            at: b.at.clone(),
                            unknown: Some(e.to_string()),
                            ..Grant::default()
                        });
                        continue;
                    }
                };
                for user in users {
                    if held.is_none_or(|h| h.is_disjoint(&user.entries)) {
                        continue;
                    }
                    let (actions, unknown) = match &user.statements {
                        Ok(s) => (Some(allowed(s, &u.bucket, u.prefix.as_deref())), None),
                        Err(e) => (None, Some(e.to_string())),
                    };
                    grants.push(Grant {
                        store: store.clone(),
                        identity: Some(user.secret.clone()),
                        policy: user.policy.clone(),
                        at: user.at.clone(),
                        actions,
                        unknown,
                    });
                }
            }
            // No user of the store is the consumer's: it holds no identity.
            if let (true, Some(first)) = (grants.is_empty(), sources.first()) {
                grants.push(Grant {
                    store: store.clone(),
                    at: first.at.clone(),
                    ..Grant::default()
                });
            }
            u.grants.extend(grants);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(policy_json: Value, bucket: &str) -> Vec<String> {
        let statements = policy("p.json", &policy_json.to_string()).expect("a policy");
        allowed(&statements, bucket, None)
    }

    const WRITE: [&str; 4] = [
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
    ];

    #[test]
    fn the_generated_statements_grant_read_and_write() {
        let p = serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"], "Resource": ["arn:aws:s3:::logs"]},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::logs/*"]},
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": ["arn:aws:s3:::logs/*"]},
        ]});
        assert_eq!(granted(p.clone(), "logs"), WRITE);
        assert!(granted(p, "logs-archive").is_empty());
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        let any = serde_json::json!({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"}});
        assert_eq!(granted(any, "logs"), WRITE);
        let all =
            serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        assert_eq!(granted(all, "logs"), WRITE);
        let prefix = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": ["S3:Get*", "s3:List*"], "Resource": ["arn:aws:s3:::log?", "arn:aws:s3:::log?/*"]}]});
        assert_eq!(
            granted(prefix.clone(), "logs"),
            ["s3:ListBucket", "s3:GetObject"]
        );
        assert!(granted(prefix, "logs2").is_empty());
        // A prefix inside the bucket is not the whole bucket.
        let narrow = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/app/*"]}]});
        assert_eq!(granted(narrow, "logs"), ["s3:ListBucket"]);
        let other = serde_json::json!({"Statement": [{"Effect": "Allow", "NotAction": "s3:PutObject", "NotResource": "arn:aws:s3:::secret*"}]});
        assert_eq!(
            granted(other.clone(), "logs"),
            ["s3:ListBucket", "s3:GetObject", "s3:DeleteObject"]
        );
        assert!(granted(other, "secrets").is_empty());
    }

    #[test]
    fn a_deny_wins_and_a_condition_grants_nothing_for_sure() {
        let p = serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"},
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::logs/archive/*"},
        ]});
        assert_eq!(
            granted(p, "logs"),
            ["s3:ListBucket", "s3:GetObject", "s3:PutObject"]
        );
        let p = serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*",
             "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        ]});
        assert!(granted(p, "logs").is_empty());
        let p = serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"},
            {"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "*"},
        ]});
        assert_eq!(granted(p, "logs"), ["s3:GetObject"]);
    }

    #[test]
    fn a_policy_iam_would_refuse_is_unreadable() {
        for text in [
            "{\"Statement\": [",
            "{}",
            "{\"Statement\": [{\"Effect\": \"allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"}]}",
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Resource\": \"*\"}]}",
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": [1], \"Resource\": \"*\"}]}",
            "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\"}]}",
        ] {
            assert!(policy("p.json", text).is_err(), "{text}");
        }
    }
}
