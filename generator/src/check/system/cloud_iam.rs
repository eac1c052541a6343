//! What the External Secrets operator may read in AWS Secrets Manager: the
//! role its pod identity gives it, the policies the Terraform attaches to
//! that role (evaluated as IAM does, with [`super::access`]'s evaluator),
//! and every entry the environment's ExternalSecrets read through a store
//! that authenticates as the operator. An entry outside the role's grant
//! is an ExternalSecret that never syncs (AccessDeniedException).
//!
//! References only a plan resolves are followed by name (a role's policy
//! names `aws_iam_role.workload["x"].id`, its association the same role's
//! `.arn`); the partition and the account of an ARN are taken as this
//! account's, whatever the Terraform writes there. What cannot be read
//! (a managed policy, a policy built from other documents) leaves the
//! role's grant unknown, which is said, not judged.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::access::{policy, Statement};
use super::build::Modelled;
use super::input::{At, BucketGrant, Gap, SecretRead, Unsigned};
use super::kustomize::Files;
use crate::check::terraform::{Evaluator, Instance, Located, Module};
use crate::core::charts::ChartFacts;

const READ: &str = "secretsmanager:GetSecretValue";

/// A pod identity: its namespace, service account and role reference.
pub(crate) struct Grant {
    /// With IAM's wildcards where a web identity trust names its accounts
    /// by a pattern.
    pub(crate) namespace: String,
    pub(crate) service_account: String,
    pub(crate) role: String,
}

impl Grant {
    /// Whether the grant is the account's.
    pub(crate) fn covers(&self, namespace: &str, account: &str) -> bool {
        super::access::matches(&self.namespace, namespace)
            && super::access::matches(&self.service_account, account)
    }
}

/// `${aws_iam_role.x["k"].arn}` or `.id` or `.name` → `aws_iam_role.x["k"]`.
pub(crate) fn role_key(reference: &str) -> Option<String> {
    let inner = reference.strip_prefix("${")?.strip_suffix('}')?;
    let (role, attr) = inner.rsplit_once('.')?;
    (role.starts_with("aws_iam_role.") && matches!(attr, "arn" | "id" | "name"))
        .then(|| role.to_owned())
}

/// What a role's policies grant: the statements whose resources are
/// known, and those naming a resource only a plan knows (another
/// resource's ARN), which leave any action they name unknown.
pub(crate) struct Grants {
    statements: Vec<Statement>,
    opaque: Vec<Statement>,
    /// Where the policies are declared.
    pub(crate) places: Vec<String>,
}

impl Grants {
    /// Whether some opaque statement may grant or deny `action`.
    fn unknown_for(&self, action: &str) -> bool {
        let action = action.to_ascii_lowercase();
        self.opaque.iter().any(|s| {
            s.actions
                .iter()
                .any(|a| super::access::matches(&a.to_ascii_lowercase(), &action))
                != s.not_action
        })
    }
}

/// The key a role instance is referred to by (`aws_iam_role.x["k"]`).
pub(crate) fn instance_key(name: &str, i: &Instance) -> Option<String> {
    Some(match i {
        Instance::Each { key, .. } => format!("aws_iam_role.{name}[{:?}]", key.as_str()?),
        Instance::Count(n) => format!("aws_iam_role.{name}[{n}]"),
        Instance::Single => format!("aws_iam_role.{name}"),
    })
}

/// A role's policies as IAM statements (None: some policy is not known).
pub(crate) fn role_statements(module: &Module, ev: &Evaluator, role: &str) -> Option<Grants> {
    // A policy may name its role by reference or by the role's name.
    let mut role_name = None;
    for b in module.resources("aws_iam_role") {
        let Some((_, name)) = b.resource() else {
            continue;
        };
        for i in ev.instances(&b.block).unwrap_or_default() {
            if instance_key(name, &i).as_deref() == Some(role) {
                role_name = ev
                    .attribute(&b.block, "name", &i)
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .filter(|n| !n.contains("${"));
            }
        }
    }
    let names_role = |v: Value| -> Option<bool> {
        let v = v.as_str()?;
        Some(role_key(v).as_deref() == Some(role) || role_name.as_deref() == Some(v))
    };
    let mut grants = Grants {
        statements: Vec::new(),
        opaque: Vec::new(),
        places: Vec::new(),
    };
    let mut add = |doc: Option<Value>, b: &Located, ev: &Evaluator| -> Option<()> {
        let text = policy_text(module, ev, &doc?)?;
        for mut s in policy(&b.file, &text).ok()? {
            if s.resources.iter().any(|r| names_unknown_resource(r)) {
                grants.opaque.push(s);
                continue;
            }
            s.resources = s.resources.iter().map(|r| this_account(r)).collect();
            grants.statements.push(s);
        }
        grants.places.push(format!("{}:{}", b.file, b.line));
        Some(())
    };
    for b in module.resources("aws_iam_role_policy") {
        for i in ev.instances(&b.block)? {
            if names_role(ev.attribute(&b.block, "role", &i)?)? {
                add(ev.attribute(&b.block, "policy", &i), b, ev)?;
            }
        }
    }
    for b in module.resources("aws_iam_role_policy_attachment") {
        for i in ev.instances(&b.block)? {
            if !names_role(ev.attribute(&b.block, "role", &i)?)? {
                continue;
            }
            // Only a policy of this module can be read; an AWS managed
            // policy's ARN leaves the grant unknown.
            let arn = ev.attribute(&b.block, "policy_arn", &i)?;
            let (kind, name) = arn
                .as_str()?
                .strip_prefix("${aws_iam_policy.")?
                .strip_suffix(".arn}")
                .map(|n| ("aws_iam_policy", n))?;
            let target = module
                .resources(kind)
                .find(|p| p.resource().is_some_and(|(_, n)| n == name))?;
            add(
                ev.attribute(&target.block, "policy", &Instance::Single),
                target,
                ev,
            )?;
        }
    }
    for b in module.resources("aws_iam_role") {
        let Some((_, name)) = b.resource() else {
            continue;
        };
        for i in ev.instances(&b.block)? {
            if instance_key(name, &i)?.as_str() != role {
                continue;
            }
            for inline in b
                .block
                .body
                .blocks()
                .filter(|x| x.identifier.as_str() == "inline_policy")
            {
                add(ev.attribute(inline, "policy", &i), b, ev)?;
            }
            if b.block
                .body
                .attributes()
                .any(|a| a.key.as_str() == "managed_policy_arns")
            {
                return None;
            }
        }
    }
    Some(grants)
}

/// Roles one may assume (their keys), each with where the policies letting
/// it are.
pub(crate) type Assumable = Vec<(String, Vec<String>)>;

/// The roles of the module a role's policies let it assume (`sts:AssumeRole`
/// on a role's reference), each with where those policies are.
pub(crate) fn assumable(grants: &Grants) -> Assumable {
    let mut out: Assumable = Vec::new();
    // A reference is only known by a plan: the statement stays opaque.
    for s in grants
        .opaque
        .iter()
        .filter(|s| s.allow && !s.conditional && !s.not_resource)
    {
        let assumes = s
            .actions
            .iter()
            .any(|a| super::access::matches(&a.to_ascii_lowercase(), "sts:assumerole"))
            != s.not_action;
        if !assumes {
            continue;
        }
        for key in s.resources.iter().filter_map(|r| role_key(r)) {
            if !out.iter().any(|(k, _)| *k == key) {
                out.push((key, grants.places.clone()));
            }
        }
    }
    out
}

/// What a role's policies let it do on `bucket`, where they grant S3 at
/// all: None when they grant no S3 action on anything (a role assumed for
/// something else), or when what they grant there is not known before a
/// plan.
pub(crate) fn bucket_actions(grants: &Grants, bucket: &str) -> Option<Vec<String>> {
    let s3 = |s: &&super::access::Statement| {
        s.allow
            && (s.not_action
                || s.actions.iter().any(|a| {
                    let a = a.to_ascii_lowercase();
                    a.starts_with("s3:") || a == "*"
                }))
    };
    if !grants
        .statements
        .iter()
        .chain(&grants.opaque)
        .any(|s| s3(&s))
    {
        return None;
    }
    s3_actions(grants, bucket, None)
}

/// A policy attribute's JSON: a document's text, or the JSON of the
/// `aws_iam_policy_document` data source it names.
fn policy_text(module: &Module, ev: &Evaluator, doc: &Value) -> Option<String> {
    let s = doc.as_str()?;
    if s.trim_start().starts_with('{') {
        return Some(s.to_owned());
    }
    let name = s
        .strip_prefix("${data.aws_iam_policy_document.")?
        .strip_suffix(".json}")?;
    let data = policy_document(module, name)?;
    let one = Instance::Single;
    if merges_documents(&data.block) {
        return None;
    }
    let mut statements = Vec::new();
    for st in data
        .block
        .body
        .blocks()
        .filter(|b| b.identifier.as_str() == "statement")
    {
        let mut out = serde_json::Map::new();
        let effect = match ev.attribute(st, "effect", &one)? {
            Value::Null => "Allow".to_owned(),
            Value::String(e) => e,
            _ => return None,
        };
        out.insert("Effect".into(), Value::String(effect));
        for (key, json_key) in [
            ("actions", "Action"),
            ("not_actions", "NotAction"),
            ("resources", "Resource"),
            ("not_resources", "NotResource"),
        ] {
            match ev.attribute(st, key, &one)? {
                Value::Null => {}
                list @ Value::Array(_) => {
                    out.insert(json_key.into(), list);
                }
                _ => return None,
            }
        }
        if st
            .body
            .blocks()
            .any(|c| c.identifier.as_str() == "condition")
        {
            out.insert("Condition".into(), json!({"unknown": {}}));
        }
        statements.push(Value::Object(out));
    }
    serde_json::to_string(&json!({"Statement": statements})).ok()
}

/// The `aws_iam_policy_document` data source of that name.
pub(crate) fn policy_document<'m>(module: &'m Module, name: &str) -> Option<&'m Located> {
    module.blocks.iter().find(|b| {
        b.block.identifier.as_str() == "data"
            && matches!(b.block.labels.as_slice(), [t, n] if t.as_str() == "aws_iam_policy_document" && n.as_str() == name)
    })
}

/// Whether a policy document merges other documents into its own, or is
/// repeated: what it says is then not its statements alone.
pub(crate) fn merges_documents(data: &hcl::Block) -> bool {
    const MERGING: [&str; 6] = [
        "source_policy_documents",
        "override_policy_documents",
        "source_json",
        "override_json",
        "for_each",
        "count",
    ];
    data.body
        .attributes()
        .any(|a| MERGING.contains(&a.key.as_str()))
}

/// Whether a resource pattern's resource part is only a plan's to know (a
/// reference in it): a partition, region or account reference is this
/// account's, but which secrets or buckets a reference names cannot be
/// guessed.
fn names_unknown_resource(pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, _, _, _, resource] => resource.contains("${"),
        _ => pattern.contains("${"),
    }
}

/// A resource pattern with its partition and account left open, and each
/// placeholder a wildcard: what it names in this account.
fn this_account(pattern: &str) -> String {
    let mut open = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        open.push_str(&rest[..start]);
        open.push('*');
        rest = rest[start..]
            .find('}')
            .map_or("", |end| &rest[start + end + 1..]);
    }
    open.push_str(rest);
    let mut parts: Vec<&str> = open.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" {
        parts[1] = "*";
        parts[4] = "*";
    }
    parts.join(":")
}

/// Whether the grants let the role read `key` in `region`: some
/// unconditional Allow applies and no Deny does (Secrets Manager appends a
/// hyphen and six characters to a secret's ARN). None: not known.
fn may_read(grants: &Grants, region: &str, key: &str) -> Option<bool> {
    if grants.unknown_for(READ) {
        return None;
    }
    let arn = format!("arn:aws:secretsmanager:{region}:000000000000:secret:{key}-AbCdEf");
    let statements = &grants.statements;
    Some(
        statements
            .iter()
            .any(|s| s.allow && !s.conditional && s.applies(READ, &arn, false))
            && !statements
                .iter()
                .any(|s| !s.allow && s.applies(READ, &arn, false)),
    )
}

/// The S3 actions the grants allow on `bucket` (None: not known).
fn s3_actions(grants: &Grants, bucket: &str, prefix: Option<&str>) -> Option<Vec<String>> {
    if super::access::ACTIONS
        .iter()
        .any(|(a, _)| grants.unknown_for(a))
    {
        return None;
    }
    Some(super::access::allowed(&grants.statements, bucket, prefix))
}

/// The stores on Secrets Manager that authenticate as the operator
/// (no `auth`): (kind, namespace for a SecretStore, name) → region.
fn stores(m: &Modelled, files: &Files) -> BTreeMap<(String, String, String), String> {
    operator_stores(m, files, |p| {
        let aws = &p["aws"];
        (aws["service"] == "SecretsManager" && aws.get("auth").is_none())
            .then(|| aws["region"].as_str().map(str::to_owned))
            .flatten()
    })
}

/// The secret stores of the environment (its objects, and the one the
/// Terraform's folder holds, applied at bootstrap) for which `place`,
/// given the store's `spec.provider`, says where it reads as the operator:
/// (kind, namespace for a SecretStore, name) → that place.
pub(crate) fn operator_stores(
    m: &Modelled,
    files: &Files,
    place: impl Fn(&Value) -> Option<String>,
) -> BTreeMap<(String, String, String), String> {
    let mut out = BTreeMap::new();
    let mut add = |kind: &str, namespace: &str, v: &Value| {
        if let (Some(name), Some(at)) = (
            v["metadata"]["name"].as_str(),
            place(&v["spec"]["provider"]),
        ) {
            let ns = if kind == "SecretStore" { namespace } else { "" };
            out.insert((kind.to_owned(), ns.to_owned(), name.to_owned()), at);
        }
    };
    for (o, v) in m.system.objects.iter().zip(&m.values) {
        if o.group == "external-secrets.io"
            && matches!(o.kind.as_str(), "ClusterSecretStore" | "SecretStore")
        {
            if let Some(v) = v {
                add(&o.kind, &o.namespace, v);
            }
        }
    }
    // The store the Terraform's folder holds, applied at bootstrap.
    let dir = format!("{}/", super::cloud::folder(&m.system.environment));
    for (path, docs) in files.all_docs() {
        if !path.starts_with(&dir) {
            continue;
        }
        for d in docs {
            if d.value["apiVersion"]
                .as_str()
                .is_some_and(|a| a.starts_with("external-secrets.io/"))
                && d.value["kind"] == "ClusterSecretStore"
            {
                add("ClusterSecretStore", "", &d.value);
            }
        }
    }
    out
}

/// Every Secrets Manager entry the operator reads for the environment,
/// judged against its role, and what could not be judged.
pub(crate) fn secret_reads(
    m: &Modelled,
    files: &Files,
    module: &Module,
    grants: &[Grant],
    operator: &[(String, String)],
) -> (Vec<SecretRead>, Vec<Gap>) {
    let mut reads = Vec::new();
    let mut gaps = Vec::new();
    let stores = stores(m, files);
    if stores.is_empty() {
        return (reads, gaps);
    }
    let ev = Evaluator::symbolic(module);
    let mut unknown_read = false;
    for (namespace, account) in operator {
        let Some(grant) = grants.iter().find(|g| g.covers(namespace, account)) else {
            continue;
        };
        let Some(role) = role_key(&grant.role) else {
            continue;
        };
        let Some(grants) = role_statements(module, &ev, &role) else {
            gaps.push(Gap {
                app: m.system.root.clone(),
                at: At::default(),
                message: format!(
                    "the policies of role {role} (External Secrets' pod identity) are not all known before a plan: what it may read in Secrets Manager is not judged"
                ),
            });
            continue;
        };
        for e in store_entries(m, &stores) {
            let Some(allowed) = may_read(&grants, &e.place, &e.key) else {
                unknown_read = true;
                continue;
            };
            reads.push(SecretRead {
                app: e.object.app.clone(),
                external_secret: format!("{}/{}", e.object.namespace, e.object.name),
                key: e.key,
                at: e.at,
                store: e.store,
                region: e.place,
                operator: format!("{namespace}/{account}"),
                role: role.clone(),
                policies: grants.places.clone(),
                allowed,
                reach: Default::default(),
                endpoint: String::new(),
                name_valid: None,
            });
        }
    }
    if unknown_read {
        gaps.push(Gap {
            app: m.system.root.clone(),
            at: At::default(),
            message: "a policy of External Secrets' role names a secret only a plan knows (another resource's ARN): what it may read in Secrets Manager is not judged".into(),
        });
    }
    (reads, gaps)
}

/// One entry an ExternalSecret reads through a store of
/// [`operator_stores`].
pub(crate) struct Entry<'m> {
    pub(crate) object: &'m super::input::Object,
    pub(crate) key: String,
    /// Where the ExternalSecret names it.
    pub(crate) at: At,
    pub(crate) store: String,
    /// The store's place (its region, its project).
    pub(crate) place: String,
}

/// Every entry the environment's ExternalSecrets read through `stores`.
pub(crate) fn store_entries<'m>(
    m: &'m Modelled,
    stores: &BTreeMap<(String, String, String), String>,
) -> Vec<Entry<'m>> {
    let mut out = Vec::new();
    for (o, v) in m.system.objects.iter().zip(&m.values) {
        if o.group != "external-secrets.io" || o.kind != "ExternalSecret" {
            continue;
        }
        let Some(v) = v else { continue };
        let store = &v["spec"]["secretStoreRef"];
        let kind = store["kind"].as_str().unwrap_or("SecretStore");
        let ns = if kind == "SecretStore" {
            o.namespace.as_str()
        } else {
            ""
        };
        let Some(name) = store["name"].as_str() else {
            continue;
        };
        let Some(place) = stores.get(&(kind.to_owned(), ns.to_owned(), name.to_owned())) else {
            continue;
        };
        for (key, path) in super::access::entries_at(v) {
            out.push(Entry {
                object: o,
                key: key.to_owned(),
                at: At {
                    pointer: crate::check::parse::pointer_of(&path),
                    ..o.at.clone()
                },
                store: name.to_owned(),
                place: place.clone(),
            });
        }
    }
    out
}

/// The service accounts an Application's workloads may run as: those
/// its charts' facts name, and the ServiceAccounts it creates.
pub(crate) fn accounts(m: &Modelled, facts: &ChartFacts, app: &str) -> Vec<(String, String)> {
    let Some(a) = m.system.applications.iter().find(|a| a.name == app) else {
        return Vec::new();
    };
    let ns = a.destination.namespace.clone().unwrap_or_default();
    let mut out: Vec<(String, String)> = a
        .sources
        .iter()
        .filter_map(|s| s.chart_facts(facts))
        .flat_map(|c| c.accounts())
        // A name the chart computes from the release is not one.
        .filter(|sa| !sa.is_empty())
        .map(|sa| (ns.clone(), sa.to_owned()))
        .collect();
    out.extend(
        m.system
            .objects
            .iter()
            .filter(|o| o.app == app && o.kind == "ServiceAccount" && o.group.is_empty())
            // A chart's account whose name its values compute is no
            // account one can name.
            .filter(|o| !o.name.is_empty())
            .map(|o| (o.namespace.clone(), o.name.clone())),
    );
    out
}

/// The buckets the environment's Terraform creates.
pub(crate) struct Created<'a> {
    pub(crate) all: &'a [String],
    /// Those no key of the Terraform may sign in to: a pod identity or
    /// nothing.
    pub(crate) keyless: &'a [String],
}

/// For each bucket a consumer uses on a store outside the cluster, what
/// its pod identity's role may do there. A consumer that also reaches a
/// store in the cluster (an endpoint it hands to others) still uses the
/// Terraform's buckets in the cloud: their names are no tenant's.
pub(crate) fn bucket_grants(
    m: &Modelled,
    module: &Module,
    grants: &[Grant],
    facts: &ChartFacts,
    created: Created<'_>,
) -> (Vec<BucketGrant>, Vec<Unsigned>, Vec<Gap>) {
    let mut out = Vec::new();
    let mut unsigned = Vec::new();
    let mut gaps = Vec::new();
    let ev = Evaluator::symbolic(module);
    let outside =
        |u: &&super::input::BucketUse| u.stores.is_empty() || created.all.contains(&u.bucket);
    for u in m.system.bucket_uses.iter().filter(outside) {
        let accounts: Vec<(String, String)> = accounts(m, facts, &u.consumer)
            .into_iter()
            .filter(|(_, a)| !a.is_empty())
            .collect();
        // A bucket this Terraform creates has no keys anyone issues: its
        // consumer signs in with a pod identity or not at all.
        if created.keyless.contains(&u.bucket)
            && !accounts
                .iter()
                .any(|(n, a)| grants.iter().any(|g| g.covers(n, a)))
        {
            if accounts.is_empty() {
                gaps.push(Gap {
                    app: u.consumer.clone(),
                    at: u.at.clone(),
                    message: format!(
                        "the service accounts of the consumer of bucket {} are not known: whether a pod identity signs it in is not judged",
                        u.bucket
                    ),
                });
            } else {
                unsigned.push(Unsigned {
                    consumer: u.consumer.clone(),
                    bucket: u.bucket.clone(),
                    at: u.at.clone(),
                    accounts: accounts.iter().map(|(n, a)| format!("{n}/{a}")).collect(),
                });
            }
        }
        for (namespace, account) in accounts {
            let Some(grant) = grants.iter().find(|g| g.covers(&namespace, &account)) else {
                continue;
            };
            let Some(role) = role_key(&grant.role) else {
                continue;
            };
            let known = role_statements(module, &ev, &role)
                .and_then(|g| Some((s3_actions(&g, &u.bucket, u.prefix.as_deref())?, g.places)));
            let Some((actions, policies)) = known else {
                gaps.push(Gap {
                    app: u.consumer.clone(),
                    at: u.at.clone(),
                    message: format!(
                        "what role {role} ({namespace}/{account}'s pod identity) may do on bucket {} is not known before a plan: not judged",
                        u.bucket
                    ),
                });
                continue;
            };
            out.push(BucketGrant {
                consumer: u.consumer.clone(),
                bucket: u.bucket.clone(),
                access: u.access.clone(),
                at: u.at.clone(),
                identity: format!("{namespace}/{account}"),
                role: role.clone(),
                policies,
                actions,
                reach: Default::default(),
                endpoint: String::new(),
            });
        }
    }
    (out, unsigned, gaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_pattern_names_this_account_whatever_it_writes_there() {
        assert_eq!(
            this_account("arn:${data.aws_partition.current.partition}:secretsmanager:${local.region}:123456789012:secret:acme/prod/*"),
            "arn:*:secretsmanager:*:*:secret:acme/prod/*"
        );
        assert_eq!(this_account("*"), "*");
        assert!(!names_unknown_resource(
            "arn:${p}:secretsmanager:${r}:${a}:secret:acme/prod/*"
        ));
        assert!(names_unknown_resource(
            "arn:aws:secretsmanager:*:*:secret:${var.prefix}/*"
        ));
        assert!(names_unknown_resource(
            "${aws_secretsmanager_secret.db.arn}"
        ));
        assert!(!names_unknown_resource("*"));
        assert_eq!(this_account("${aws_kms_key.platform.arn}"), "*");
    }

    fn module(text: &str) -> Module {
        let mut m = Module::default();
        m.add("iam.tf", crate::check::terraform::parse(text).expect("HCL"));
        m
    }

    #[test]
    fn a_roles_policies_are_read_wherever_the_terraform_attaches_them() {
        let m = module(
            r#"
resource "aws_iam_role" "eso" {
  name = "eso"
  inline_policy {
    name   = "deny-shared"
    policy = jsonencode({ Statement = [{ Effect = "Deny", Action = "secretsmanager:*", Resource = "arn:aws:secretsmanager:*:*:secret:acme/shared/admin*" }] })
  }
}
resource "aws_iam_role_policy" "read" {
  role   = aws_iam_role.eso.id
  policy = data.aws_iam_policy_document.read.json
}
data "aws_iam_policy_document" "read" {
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["arn:${data.aws_partition.current.partition}:secretsmanager:eu-west-3:123456789012:secret:acme/prod/*"]
  }
}
resource "aws_iam_role_policy_attachment" "shared" {
  role       = "eso"
  policy_arn = aws_iam_policy.shared.arn
}
resource "aws_iam_policy" "shared" {
  policy = <<-EOF
    {"Statement": [{"Effect": "Allow", "Action": ["secretsmanager:Get*"], "Resource": "arn:aws:secretsmanager:eu-west-3:*:secret:acme/shared/*"}]}
  EOF
}
"#,
        );
        let ev = Evaluator::symbolic(&m);
        let grants = role_statements(&m, &ev, "aws_iam_role.eso").expect("known");
        assert_eq!(grants.places.len(), 3, "{:?}", grants.places);
        for (key, region, allowed) in [
            ("acme/prod/db", "eu-west-3", true),
            ("acme/shared/smtp", "eu-west-3", true),
            ("acme/shared/admin", "eu-west-3", false),
            ("acme/staging/db", "eu-west-3", false),
            ("acme/shared/smtp", "us-east-1", false),
        ] {
            assert_eq!(
                may_read(&grants, region, key),
                Some(allowed),
                "{key} in {region}"
            );
        }
        // Another role's policies are not this one's.
        let none = role_statements(&m, &ev, "aws_iam_role.other").expect("known");
        assert!(none.statements.is_empty() && none.places.is_empty());
    }

    #[test]
    fn a_grant_only_aws_or_a_plan_knows_is_unknown() {
        for text in [
            r#"resource "aws_iam_role_policy_attachment" "a" {
  role       = aws_iam_role.eso.name
  policy_arn = "arn:aws:iam::aws:policy/SecretsManagerReadWrite"
}"#,
            r#"resource "aws_iam_role_policy" "a" {
  role   = aws_iam_role.eso.name
  policy = data.aws_iam_policy_document.a.json
}
data "aws_iam_policy_document" "a" {
  source_policy_documents = [data.aws_iam_policy_document.b.json]
}"#,
            r#"resource "aws_iam_role_policy" "a" {
  role   = aws_iam_role.eso.name
  policy = jsonencode({ Statement = [{ Effect = "Allow", Action = "secretsmanager:GetSecretValue", Resource = aws_secretsmanager_secret.db.arn }] })
}"#,
        ] {
            let m = module(text);
            let ev = Evaluator::symbolic(&m);
            let known = role_statements(&m, &ev, "aws_iam_role.eso")
                .and_then(|g| may_read(&g, "eu-west-3", "acme/prod/db"));
            assert_eq!(known, None, "{text}");
        }
        // A reference to another resource leaves unknown only the actions
        // its statement names.
        let m = module(
            r#"resource "aws_iam_role_policy" "a" {
  role   = aws_iam_role.eso.name
  policy = jsonencode({ Statement = [
    { Effect = "Allow", Action = "kms:Decrypt", Resource = aws_kms_key.k.arn },
    { Effect = "Allow", Action = "secretsmanager:GetSecretValue", Resource = "arn:aws:secretsmanager:*:*:secret:acme/prod/*" },
  ] })
}"#,
        );
        let ev = Evaluator::symbolic(&m);
        let grants = role_statements(&m, &ev, "aws_iam_role.eso").expect("known");
        assert_eq!(may_read(&grants, "eu-west-3", "acme/prod/db"), Some(true));
        assert_eq!(s3_actions(&grants, "b", None), Some(Vec::new()));
    }

    #[test]
    fn roles_are_named_by_their_reference() {
        assert_eq!(
            role_key(r#"${aws_iam_role.workload["external-secrets"].arn}"#).as_deref(),
            Some(r#"aws_iam_role.workload["external-secrets"]"#)
        );
        assert_eq!(
            role_key("${aws_iam_role.eso.id}").as_deref(),
            Some("aws_iam_role.eso")
        );
        assert_eq!(role_key("arn:aws:iam::1:role/eso"), None);
        assert_eq!(role_key("${aws_iam_policy.eso.arn}"), None);
    }
}
