//! Who may take a role: its trust policy (`assume_role_policy`), read as
//! STS reads it for the ways an EKS pod gets AWS credentials.
//!
//! - EKS Pod Identity: the node's agent takes the role for the pod as the
//!   service `pods.eks.amazonaws.com`, with `sts:AssumeRole` and
//!   `sts:TagSession` (it tags each session with the cluster, namespace
//!   and account). A trust policy lacking either refuses every pod.
//! - IAM roles for service accounts (IRSA): the pod's SDK takes the role
//!   with its projected token through the cluster's OIDC provider
//!   (`sts:AssumeRoleWithWebIdentity`, a `Federated` principal). The
//!   token's subject is `system:serviceaccount:<namespace>:<account>` and
//!   its audience `sts.amazonaws.com`; the policy's conditions match them.
//!   A `Federated` principal is the cluster's OIDC provider unless it is
//!   another issuer's (a CI system's, say): one that only a plan names is
//!   taken to be the cluster's.
//! - A role's session taking another role (role chaining, as a catalog
//!   assuming the role whose credentials it vends): `sts:AssumeRole` by an
//!   `AWS` principal naming the first role, or this account.
//!
//! Conditions on what names this account (`aws:SourceAccount`, …) hold, as
//! an ARN's account is taken as this account's elsewhere; any other
//! condition leaves the answer unknown, which is said, not judged.

use serde_json::Value;

use super::access::matches;
use super::cloud_iam::{instance_key, merges_documents, policy_document};
use crate::check::terraform::{Evaluator, Instance, Located, Module};
use crate::core::clouds;

/// One instance of an `aws_iam_role` block, with its trust policy.
pub(crate) struct Role<'m> {
    /// `aws_iam_role.x["k"]`, as references name it.
    pub(crate) key: String,
    /// Its `name`, where known before a plan.
    pub(crate) name: Option<String>,
    pub(crate) block: &'m Located,
    /// Err: why the trust policy cannot be read.
    pub(crate) trust: Result<Trust, String>,
}

impl Role<'_> {
    /// How findings name it.
    pub(crate) fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.key)
    }
}

/// Every role instance of the module, and the role blocks whose instances
/// are not known before a plan.
pub(crate) fn roles<'m>(
    module: &'m Module,
    ev: &Evaluator,
    symbolic: &Evaluator,
) -> (Vec<Role<'m>>, Vec<&'m Located>) {
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for b in module.resources("aws_iam_role") {
        let Some((_, name)) = b.resource() else {
            continue;
        };
        let Some(instances) = ev.instances(&b.block) else {
            unknown.push(b);
            continue;
        };
        for i in instances {
            let Some(key) = instance_key(name, &i) else {
                continue;
            };
            out.push(Role {
                key,
                name: ev
                    .attribute(&b.block, "name", &i)
                    .and_then(|v| v.as_str().map(str::to_owned)),
                block: b,
                trust: Trust::of(module, symbolic, &b.block, &i),
            });
        }
    }
    (out, unknown)
}

/// Who asks STS for the role.
pub(crate) enum Caller<'a> {
    /// The Pod Identity agent, for any pod of an associated account.
    Pods,
    /// A pod's SDK with the projected token of `namespace/account`.
    Account {
        namespace: &'a str,
        account: &'a str,
    },
    /// A session of another role of the module (`aws_iam_role.x`, named
    /// `name` where known): role chaining, as a catalog assuming the role
    /// whose credentials it vends.
    Role { key: &'a str, name: Option<&'a str> },
}

impl Caller<'_> {
    fn actions(&self) -> &'static [&'static str] {
        match self {
            Caller::Pods => &["sts:AssumeRole", "sts:TagSession"],
            Caller::Account { .. } => &["sts:AssumeRoleWithWebIdentity"],
            Caller::Role { .. } => &["sts:AssumeRole"],
        }
    }

    fn principal(&self, kind: &str, id: &str) -> bool {
        match self {
            Caller::Pods => kind == "Service" && matches(id, clouds::EKS_POD_IDENTITY_SERVICE),
            // Other issuers' providers are gone from the principals (see
            // `may_be_cluster_provider`): any left may be the cluster's.
            Caller::Account { .. } => kind == "Federated",
            // The role by reference or by its ARN, or this account (whose
            // own policies then decide, and the caller's lets it).
            Caller::Role { key, name } => {
                kind == "AWS"
                    && (super::cloud_iam::role_key(id).as_deref() == Some(*key)
                        || id == "*"
                        || matches("arn:*:iam::*:root", id)
                        || (id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
                        || name.is_some_and(|n| {
                            !id.contains("${")
                                && id.starts_with("arn:")
                                && id.ends_with(&format!(":role/{n}"))
                        }))
            }
        }
    }

    /// Whether a principal only a plan knows may be the caller: another
    /// role's reference is not, a variable's value may be.
    fn may_be(&self, kind: &str, id: &str) -> bool {
        match self {
            Caller::Role { .. } => {
                kind == "AWS" && id.contains("${") && super::cloud_iam::role_key(id).is_none()
            }
            _ => false,
        }
    }

    /// The value of a condition key the request carries (None: a key the
    /// model does not know).
    fn key(&self, variable: &str) -> Option<Known> {
        let lower = variable.to_ascii_lowercase();
        if THIS_ACCOUNT_KEYS.contains(&lower.as_str()) {
            return Some(Known::Holds);
        }
        match self {
            // The external ID a chained role demands is taken as sent: the
            // caller reads it at run time from configuration the model
            // does not see (the secret store), and it guards the role from
            // other callers, not from this one.
            Caller::Role { .. } if lower == "sts:externalid" => Some(Known::Holds),
            Caller::Account { namespace, account } if lower.ends_with(":sub") => Some(
                Known::Value(format!("{ACCOUNT_SUBJECT}{namespace}:{account}")),
            ),
            Caller::Account { .. } if lower.ends_with(":aud") => {
                Some(Known::Value(clouds::EKS_TOKEN_AUDIENCE.to_owned()))
            }
            _ => None,
        }
    }
}

/// Condition keys naming the account, organisation or resource the call
/// comes from: this account's, so they hold.
const THIS_ACCOUNT_KEYS: &[&str] = &[
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
];

enum Known {
    Holds,
    Value(String),
}

#[derive(Debug, Default)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    not_action: bool,
    /// (type, identifiers); `Principal: "*"` is everyone.
    principals: Vec<(String, Vec<String>)>,
    everyone: bool,
    /// `NotPrincipal`: who it names is not modelled.
    opaque: bool,
    conditions: Vec<Condition>,
}

/// A condition; its variable or values are None when only a plan knows
/// them (the condition then holds only on what names this account).
#[derive(Debug)]
struct Condition {
    test: String,
    variable: Option<String>,
    values: Option<Vec<String>>,
}

/// A role's trust policy.
#[derive(Debug, Default)]
pub(crate) struct Trust {
    statements: Vec<Statement>,
}

/// A string, or a list of them, as IAM accepts either; numbers and
/// booleans as their text.
fn strings(v: &Value) -> Option<Vec<String>> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v {
        Value::Array(a) => a.iter().map(one).collect(),
        v => one(v).map(|s| vec![s]),
    }
}

impl Trust {
    /// The trust policy of one instance of an `aws_iam_role` block: its
    /// JSON (a `jsonencode`, a heredoc), or the `aws_iam_policy_document`
    /// it names. Err: why it cannot be read before a plan.
    pub(crate) fn of(
        module: &Module,
        symbolic: &Evaluator,
        role: &hcl::Block,
        at: &Instance,
    ) -> Result<Trust, String> {
        let mut trust = Self::read(module, symbolic, role, at)?;
        // Another identity provider's tokens (a CI system's, say) are not
        // the cluster's service accounts.
        for s in &mut trust.statements {
            for (kind, ids) in &mut s.principals {
                if kind == "Federated" {
                    ids.retain(|id| may_be_cluster_provider(module, symbolic, id));
                }
            }
            s.principals.retain(|(_, ids)| !ids.is_empty());
        }
        Ok(trust)
    }

    fn read(
        module: &Module,
        symbolic: &Evaluator,
        role: &hcl::Block,
        at: &Instance,
    ) -> Result<Trust, String> {
        let unknown = || "its trust policy is not known before a plan".to_owned();
        let text = match symbolic.attribute(role, "assume_role_policy", at) {
            Some(Value::String(s)) => s,
            Some(Value::Null) => return Err("it has no assume_role_policy".into()),
            _ => return Err(unknown()),
        };
        if text.trim_start().starts_with('{') {
            return Self::from_json(&text);
        }
        let name = text
            .strip_prefix("${data.aws_iam_policy_document.")
            .and_then(|s| s.strip_suffix(".json}"))
            .ok_or_else(unknown)?;
        let data = policy_document(module, name).ok_or_else(|| format!("its trust policy names data.aws_iam_policy_document.{name}, which this Terraform does not declare"))?;
        Self::from_document(symbolic, &data.block).ok_or_else(|| {
            format!(
                "its trust policy (data.aws_iam_policy_document.{name}) is not known before a plan"
            )
        })
    }

    fn from_json(text: &str) -> Result<Trust, String> {
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| format!("its trust policy is not JSON ({e})"))?;
        let list = match &doc["Statement"] {
            Value::Array(a) => a.iter().collect::<Vec<_>>(),
            s @ Value::Object(_) => vec![s],
            _ => return Err("its trust policy has no Statement".into()),
        };
        let mut statements = Vec::new();
        for (n, s) in list.into_iter().enumerate() {
            let bad = |what: &str| format!("statement {} of its trust policy: {what}", n + 1);
            let mut out = Statement {
                allow: match s["Effect"].as_str() {
                    Some("Allow") => true,
                    Some("Deny") => false,
                    _ => return Err(bad("Effect is neither Allow nor Deny")),
                },
                ..Statement::default()
            };
            (out.actions, out.not_action) = match (s.get("Action"), s.get("NotAction")) {
                (Some(a), None) => (
                    strings(a).ok_or_else(|| bad("Action is not a string or a list of strings"))?,
                    false,
                ),
                (None, Some(a)) => (
                    strings(a)
                        .ok_or_else(|| bad("NotAction is not a string or a list of strings"))?,
                    true,
                ),
                _ => return Err(bad("it needs exactly one of Action and NotAction")),
            };
            match s.get("Principal") {
                Some(Value::String(p)) if p == "*" => out.everyone = true,
                Some(Value::Object(p)) => {
                    for (kind, ids) in p {
                        let ids = strings(ids).ok_or_else(|| {
                            bad("a Principal is not a string or a list of strings")
                        })?;
                        out.principals.push((kind.clone(), ids));
                    }
                }
                _ if s.get("NotPrincipal").is_some() => out.opaque = true,
                _ => return Err(bad("it has no Principal")),
            }
            if let Some(c) = s.get("Condition") {
                let c = c
                    .as_object()
                    .ok_or_else(|| bad("Condition is not an object"))?;
                for (test, keys) in c {
                    let keys = keys
                        .as_object()
                        .ok_or_else(|| bad("a Condition operator does not hold an object"))?;
                    for (variable, values) in keys {
                        out.conditions.push(Condition {
                            test: test.clone(),
                            variable: Some(variable.clone()),
                            values: Some(
                                strings(values)
                                    .ok_or_else(|| bad("a Condition's values are not strings"))?,
                            ),
                        });
                    }
                }
            }
            statements.push(out);
        }
        Ok(Trust { statements })
    }

    /// An `aws_iam_policy_document` data source (None: some part is not
    /// known before a plan, or it merges other documents).
    fn from_document(ev: &Evaluator, data: &hcl::Block) -> Option<Trust> {
        let one = Instance::Single;
        if merges_documents(data) {
            return None;
        }
        let list = |b: &hcl::Block, key: &str| -> Option<Option<Vec<String>>> {
            match ev.attribute(b, key, &one)? {
                Value::Null => Some(None),
                v => strings(&v).map(Some),
            }
        };
        let mut statements = Vec::new();
        for st in data
            .body
            .blocks()
            .filter(|b| b.identifier.as_str() == "statement")
        {
            let mut out = Statement {
                allow: match ev.attribute(st, "effect", &one)? {
                    Value::Null => true,
                    Value::String(e) if e == "Allow" => true,
                    Value::String(e) if e == "Deny" => false,
                    _ => return None,
                },
                ..Statement::default()
            };
            (out.actions, out.not_action) = match (list(st, "actions")?, list(st, "not_actions")?) {
                (Some(a), None) => (a, false),
                (None, Some(a)) => (a, true),
                _ => return None,
            };
            for b in st.body.blocks() {
                match b.identifier.as_str() {
                    "principals" => {
                        let kind = ev.attribute(b, "type", &one)?.as_str()?.to_owned();
                        let ids = list(b, "identifiers")??;
                        // `type = "*"` is `Principal: "*"`; `AWS` with
                        // `*` is any account's principals, not a service
                        // or a provider.
                        if kind == "*" {
                            out.everyone = true;
                        }
                        out.principals.push((kind, ids));
                    }
                    "not_principals" => out.opaque = true,
                    "condition" => out.conditions.push(Condition {
                        test: ev.attribute(b, "test", &one)?.as_str()?.to_owned(),
                        variable: ev
                            .attribute(b, "variable", &one)
                            .and_then(|v| v.as_str().map(str::to_owned)),
                        values: list(b, "values").flatten(),
                    }),
                    _ => {}
                }
            }
            statements.push(out);
        }
        Some(Trust { statements })
    }

    /// Whether the caller may take the role: each action it calls is
    /// allowed by a statement whose principal and conditions hold, and
    /// denied by none. None: a statement that may decide it is not known.
    pub(crate) fn admits(&self, caller: &Caller) -> Option<bool> {
        let mut unknown = false;
        for action in caller.actions() {
            let decide = |allow: bool| {
                let found: Vec<Option<bool>> = self
                    .statements
                    .iter()
                    .filter(|s| s.allow == allow)
                    .map(|s| s.applies(caller, action))
                    .collect();
                if found.contains(&Some(true)) {
                    Some(true)
                } else if found.contains(&None) {
                    None
                } else {
                    Some(false)
                }
            };
            match (decide(true), decide(false)) {
                (_, Some(true)) | (Some(false), _) => return Some(false),
                (Some(true), Some(false)) => {}
                _ => unknown = true,
            }
        }
        (!unknown).then_some(true)
    }

    /// The service accounts the role trusts by web identity, each named
    /// on its own (`StringEquals` on the token's subject), and the
    /// patterns of those it trusts by a wildcard (`StringLike`), as
    /// (namespace, account) with IAM's wildcards. A statement with no
    /// subject condition trusts every account the provider signs for.
    pub(crate) fn web_subjects(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for s in self.statements.iter().filter(|s| {
            s.allow
                && s.principals.iter().any(|(k, _)| k == "Federated")
                && (s
                    .actions
                    .iter()
                    .any(|a| matches(&a.to_ascii_lowercase(), "sts:assumerolewithwebidentity"))
                    != s.not_action)
        }) {
            let subjects: Vec<&Condition> = s
                .conditions
                .iter()
                .filter(|c| {
                    c.variable
                        .as_deref()
                        .is_some_and(|v| v.to_ascii_lowercase().ends_with(":sub"))
                })
                .collect();
            if subjects.is_empty() {
                out.push(("*".to_owned(), "*".to_owned()));
            }
            for c in subjects {
                // Values only a plan knows, or a test other than a match
                // (a negation trusts every account but those it names):
                // any account may be one it trusts.
                let test = c.test.strip_suffix("IfExists").unwrap_or(&c.test);
                let (Some(values), "StringEquals" | "StringLike" | "StringEqualsIgnoreCase") =
                    (&c.values, test)
                else {
                    out.push(("*".to_owned(), "*".to_owned()));
                    continue;
                };
                for v in values {
                    let rest = v.strip_prefix(ACCOUNT_SUBJECT);
                    match rest.and_then(|r| r.split_once(':')) {
                        Some((ns, sa)) if !ns.contains("${") && !sa.contains("${") => {
                            out.push((ns.to_owned(), sa.to_owned()));
                        }
                        // A pattern that may match an account's subject, or
                        // a subject built from what a plan knows: any
                        // account may be it.
                        _ if (test == "StringLike" && may_match_account(v)) || v.contains("${") => {
                            out.push(("*".to_owned(), "*".to_owned()));
                        }
                        _ => {}
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Whether a `Federated` principal may be the cluster's OIDC provider: an
/// EKS issuer's (`oidc.eks.<region>.amazonaws.com`), a provider of the
/// module made from the cluster's issuer, or one only a plan names. A
/// provider whose URL is another issuer's is not.
fn may_be_cluster_provider(module: &Module, symbolic: &Evaluator, id: &str) -> bool {
    const EKS_ISSUER: &str = "oidc.eks.";
    if !id.contains("${") {
        return !id.contains(":oidc-provider/") || id.contains(EKS_ISSUER);
    }
    let Some(name) = id
        .strip_prefix("${aws_iam_openid_connect_provider.")
        .and_then(|s| s.strip_suffix(".arn}"))
    else {
        return true;
    };
    let provider = module
        .resources("aws_iam_openid_connect_provider")
        .find(|p| p.resource().is_some_and(|(_, n)| n == name));
    match provider.map(|p| symbolic.attribute(&p.block, "url", &Instance::Single)) {
        Some(Some(Value::String(url))) => url.contains("${") || url.contains(EKS_ISSUER),
        _ => true,
    }
}

/// How a projected token names its account: `<prefix><namespace>:<account>`.
const ACCOUNT_SUBJECT: &str = "system:serviceaccount:";

/// Whether an IAM pattern may match some account's subject: its text
/// before the first wildcard agrees with the subject's prefix.
fn may_match_account(pattern: &str) -> bool {
    let fixed = pattern.split(['*', '?']).next().unwrap_or_default();
    ACCOUNT_SUBJECT.starts_with(fixed) || fixed.starts_with(ACCOUNT_SUBJECT)
}

impl Statement {
    fn applies(&self, caller: &Caller, action: &str) -> Option<bool> {
        let action = action.to_ascii_lowercase();
        if self
            .actions
            .iter()
            .any(|a| matches(&a.to_ascii_lowercase(), &action))
            == self.not_action
        {
            return Some(false);
        }
        if self.opaque {
            return None;
        }
        if !self.everyone
            && !self
                .principals
                .iter()
                .any(|(kind, ids)| ids.iter().any(|id| caller.principal(kind, id)))
        {
            let unknown = self
                .principals
                .iter()
                .any(|(kind, ids)| ids.iter().any(|id| caller.may_be(kind, id)));
            return if unknown { None } else { Some(false) };
        }
        let mut unknown = false;
        for c in &self.conditions {
            match c.holds(caller) {
                Some(false) => return Some(false),
                None => unknown = true,
                Some(true) => {}
            }
        }
        (!unknown).then_some(true)
    }
}

impl Condition {
    fn holds(&self, caller: &Caller) -> Option<bool> {
        let value = match caller.key(self.variable.as_deref()?)? {
            Known::Holds => return Some(true),
            Known::Value(v) => v,
        };
        let values = self.values.as_ref()?;
        let test = self.test.strip_suffix("IfExists").unwrap_or(&self.test);
        let equal = |p: &str| p == value;
        let like = |p: &str| matches(p, &value);
        let (found, negated) = match test {
            "StringEquals" => (values.iter().any(|p| equal(p)), false),
            "StringNotEquals" => (values.iter().any(|p| equal(p)), true),
            "StringLike" => (values.iter().any(|p| like(p)), false),
            "StringNotLike" => (values.iter().any(|p| like(p)), true),
            "StringEqualsIgnoreCase" => {
                (values.iter().any(|p| p.eq_ignore_ascii_case(&value)), false)
            }
            _ => return None,
        };
        // A value only a plan knows may be the one.
        if !found && values.iter().any(|p| p.contains("${")) {
            return None;
        }
        Some(found != negated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(text: &str) -> Module {
        let mut m = Module::default();
        m.add(
            "iam.tf",
            crate::check::terraform::parse(text).expect("parses"),
        );
        m
    }

    fn trust_of(text: &str) -> Result<Trust, String> {
        let m = module(text);
        let ev = Evaluator::symbolic(&m);
        let role = m.resources("aws_iam_role").next().expect("a role");
        Trust::of(&m, &ev, &role.block, &Instance::Single)
    }

    /// A role assumed by another: trusted by reference, by ARN or through
    /// the account; the external ID it demands taken as sent; another
    /// role refused; a principal only a plan names not judged.
    #[test]
    fn a_role_trusts_the_role_its_policy_names() {
        let vended = |principal: &str| {
            trust_of(&format!(
                r#"
resource "aws_iam_role" "vended" {{
  assume_role_policy = jsonencode({{
    Statement = [{{
      Effect    = "Allow"
      Action    = ["sts:AssumeRole", "sts:TagSession"]
      Principal = {{ AWS = {principal} }}
      Condition = {{ StringEquals = {{ "sts:ExternalId" = terraform_data.id.output }} }}
    }}]
  }})
}}
"#
            ))
            .expect("trust")
        };
        let catalog = Caller::Role {
            key: "aws_iam_role.catalog",
            name: Some("acme-prod-catalog"),
        };
        for (principal, admitted) in [
            ("aws_iam_role.catalog.arn", Some(true)),
            (
                "\"arn:aws:iam::123456789012:role/acme-prod-catalog\"",
                Some(true),
            ),
            ("\"arn:aws:iam::123456789012:root\"", Some(true)),
            ("aws_iam_role.loki.arn", Some(false)),
            (
                "\"arn:aws:iam::123456789012:role/acme-prod-loki\"",
                Some(false),
            ),
            ("var.catalog_role", None),
        ] {
            assert_eq!(vended(principal).admits(&catalog), admitted, "{principal}");
        }
        // A service or the pods are not the role.
        assert_eq!(
            vended("aws_iam_role.catalog.arn").admits(&Caller::Pods),
            Some(false)
        );
    }

    const IRSA: &str = r#"
resource "aws_iam_openid_connect_provider" "eks" {
  url             = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list  = ["sts.amazonaws.com"]
}
resource "aws_iam_role" "dremio" {
  name = "acme-prod-dremio"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = aws_iam_openid_connect_provider.eks.arn }
      Condition = {
        StringEquals = {
          "${replace(aws_iam_openid_connect_provider.eks.url, "https://", "")}:sub" = "system:serviceaccount:query:dremio"
          "${replace(aws_iam_openid_connect_provider.eks.url, "https://", "")}:aud" = "sts.amazonaws.com"
        }
      }
    }]
  })
}
"#;

    fn account<'a>(namespace: &'a str, account: &'a str) -> Caller<'a> {
        Caller::Account { namespace, account }
    }

    #[test]
    fn a_web_identity_trust_admits_the_account_its_subject_names_and_no_other() {
        let t = trust_of(IRSA).expect("read");
        assert_eq!(t.admits(&account("query", "dremio")), Some(true));
        assert_eq!(t.admits(&account("query", "other")), Some(false));
        assert_eq!(t.admits(&Caller::Pods), Some(false));
        assert_eq!(
            t.web_subjects(),
            vec![("query".to_owned(), "dremio".to_owned())]
        );
        // A token for another audience is refused.
        let t = trust_of(&IRSA.replace(
            "= \"sts.amazonaws.com\"\n        }",
            "= \"vault\"\n        }",
        ))
        .expect("read");
        assert_eq!(t.admits(&account("query", "dremio")), Some(false));
    }

    #[test]
    fn a_pattern_or_a_missing_subject_trusts_accounts_not_named_one_by_one() {
        let like = IRSA.replace("StringEquals", "StringLike").replace(
            "system:serviceaccount:query:dremio",
            "system:serviceaccount:query:*",
        );
        let t = trust_of(&like).expect("read");
        assert_eq!(t.admits(&account("query", "anything")), Some(true));
        assert_eq!(t.admits(&account("bi", "anything")), Some(false));
        assert_eq!(t.web_subjects(), vec![("query".to_owned(), "*".to_owned())]);
    }

    #[test]
    fn another_identity_providers_tokens_are_not_service_accounts() {
        // A CI system's role: its provider is not the cluster's.
        let ci = IRSA
            .replace(
                "aws_eks_cluster.this.identity[0].oidc[0].issuer",
                "\"https://token.actions.githubusercontent.com\"",
            )
            .replace("StringEquals", "StringLike")
            .replace("system:serviceaccount:query:dremio", "repo:acme/*");
        let t = trust_of(&ci).expect("read");
        assert_eq!(t.web_subjects(), Vec::<(String, String)>::new());
        assert_eq!(t.admits(&account("query", "dremio")), Some(false));
        // The same pattern on the cluster's provider matches no account.
        let other = IRSA
            .replace("StringEquals", "StringLike")
            .replace("system:serviceaccount:query:dremio", "repo:acme/*");
        assert_eq!(trust_of(&other).expect("read").web_subjects(), vec![]);
        // A literal provider ARN: an EKS issuer's is the cluster's.
        for (arn, subjects) in [
            (
                "arn:aws:iam::1:oidc-provider/oidc.eks.eu-west-3.amazonaws.com/id/AB",
                1,
            ),
            (
                "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com",
                0,
            ),
        ] {
            let literal = IRSA.replace(
                "Federated = aws_iam_openid_connect_provider.eks.arn",
                &format!("Federated = \"{arn}\""),
            );
            assert_eq!(
                trust_of(&literal).expect("read").web_subjects().len(),
                subjects,
                "{arn}"
            );
        }
    }

    #[test]
    fn a_pod_identity_trust_needs_the_service_and_both_actions() {
        let doc = |actions: &str, service: &str, condition: &str| {
            format!(
                r#"
data "aws_iam_policy_document" "trust" {{
  statement {{
    actions = [{actions}]
    principals {{
      type        = "Service"
      identifiers = ["{service}"]
    }}
    {condition}
  }}
}}
resource "aws_iam_role" "r" {{
  name               = "r"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}}
"#
            )
        };
        let both = r#""sts:AssumeRole", "sts:TagSession""#;
        let account = r#"condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }"#;
        let admits = |text: String| trust_of(&text).expect("read").admits(&Caller::Pods);
        assert_eq!(
            admits(doc(both, "pods.eks.amazonaws.com", account)),
            Some(true)
        );
        assert_eq!(
            admits(doc("\"sts:AssumeRole\"", "pods.eks.amazonaws.com", "")),
            Some(false)
        );
        assert_eq!(admits(doc(both, "ec2.amazonaws.com", "")), Some(false));
        assert_eq!(
            admits(doc("\"sts:*\"", "pods.eks.amazonaws.com", "")),
            Some(true)
        );
        // A condition on something the model does not know.
        let tagged = r#"condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/team"
      values   = ["data"]
    }"#;
        assert_eq!(admits(doc(both, "pods.eks.amazonaws.com", tagged)), None);
    }

    #[test]
    fn a_trust_policy_that_cannot_be_read_says_why() {
        let err = trust_of(r#"resource "aws_iam_role" "r" { assume_role_policy = data.aws_iam_policy_document.gone.json }"#)
            .expect_err("not declared");
        assert!(err.contains("data.aws_iam_policy_document.gone"), "{err}");
        let err = trust_of(r#"resource "aws_iam_role" "r" { assume_role_policy = "{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"sts:AssumeRole\"}]}" }"#)
            .expect_err("no principal");
        assert!(
            err.contains("statement 1") && err.contains("Principal"),
            "{err}"
        );
        let err = trust_of(r#"resource "aws_iam_role" "r" { assume_role_policy = var.trust }"#)
            .expect_err("a variable");
        assert!(err.contains("not known before a plan"), "{err}");
    }
}
