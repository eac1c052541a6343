//! Terraform files read for what they declare, and their values found as
//! `terraform plan` would know them before any provider answers: literals,
//! variables' defaults, locals, `for_each` and `count`, conditionals and a
//! few pure functions. Anything else (a resource's attribute, a data
//! source, a `for` expression) is unknown, never guessed.
//!
//! A variable's value is its default, or what `terraform.tfvars` and the
//! `*.auto.tfvars` files of the folder give it, as a plan run there reads
//! them (a `-var` or `-var-file` of the command line cannot be known).
//!
//! Evaluation is bounded: locals may name each other in chains and cycles,
//! and a value may be copied wherever it is named, so a small file could
//! otherwise describe a value of exponential size. Every value produced
//! counts against [`BUDGET`], a chain of locals deeper than [`MAX_DEPTH`]
//! is unknown, and so is an evaluation nested deeper than [`MAX_NESTING`]
//! (each level is a frame of the thread's stack).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use hcl::edit::Span;
use hcl::expr::{BinaryOperator, Operation, TemplateExpr, TraversalOperator, UnaryOperator};
use hcl::{Block, Expression, ObjectKey};
use serde_json::{Map, Value};

/// Values (nodes) one module's evaluation may produce.
pub(crate) const BUDGET: usize = 1_000_000;
/// Locals naming locals, at most this deep.
pub(crate) const MAX_DEPTH: usize = 32;
/// Nested evaluations (an expression's own nesting, through the locals it
/// names), at most this deep: each is a frame of the thread's stack.
pub(crate) const MAX_NESTING: usize = 160;
/// Instances one `count` or `for_each` may expand to.
const MAX_INSTANCES: usize = 10_000;

/// Why a file is not HCL, at its line.
#[derive(Debug, Clone)]
pub(crate) struct ParseError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// A file's top-level blocks, each with its line.
pub(crate) fn parse(text: &str) -> Result<Vec<(usize, Block)>, ParseError> {
    let body = hcl::edit::parser::parse_body(text).map_err(|e| ParseError {
        line: e.location().line(),
        message: e.message().to_owned(),
    })?;
    let mut out = Vec::new();
    for structure in body.into_iter() {
        let line = structure.span().map_or(1, |r| line_of(text, r.start));
        if let hcl::edit::structure::Structure::Block(block) = structure {
            out.push((line, Block::from(block)));
        }
    }
    Ok(out)
}

/// A variable definitions file's values (`terraform.tfvars`).
pub(crate) fn parse_values(text: &str) -> Result<Vec<(String, Expression)>, ParseError> {
    let body = hcl::edit::parser::parse_body(text).map_err(|e| ParseError {
        line: e.location().line(),
        message: e.message().to_owned(),
    })?;
    Ok(hcl::Body::from(body)
        .attributes()
        .map(|a| (a.key.to_string(), a.expr.clone()))
        .collect())
}

fn line_of(text: &str, offset: usize) -> usize {
    let before = text.get(..offset).unwrap_or(text);
    // The span starts at the block's decor (comments above it): the block
    // is on the first line that is not a comment or blank.
    let mut line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    for l in text.get(offset..).unwrap_or_default().lines() {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with("//") {
            line += 1;
        } else {
            break;
        }
    }
    line
}

/// A block where it is declared.
pub(crate) struct Located {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) block: Block,
}

impl Located {
    /// `resource "TYPE" "NAME"` → (TYPE, NAME).
    pub(crate) fn resource(&self) -> Option<(&str, &str)> {
        if self.block.identifier.as_str() != "resource" {
            return None;
        }
        match self.block.labels.as_slice() {
            [t, n] => Some((t.as_str(), n.as_str())),
            _ => None,
        }
    }
}

/// The blocks of one Terraform module (the `.tf` files of one folder).
#[derive(Default)]
pub(crate) struct Module {
    pub(crate) blocks: Vec<Located>,
    locals: HashMap<String, Expression>,
    variables: HashMap<String, Expression>,
}

impl Module {
    pub(crate) fn add(&mut self, file: &str, blocks: Vec<(usize, Block)>) {
        for (line, block) in blocks {
            match block.identifier.as_str() {
                "locals" => {
                    for a in block.body.attributes() {
                        self.locals.insert(a.key.to_string(), a.expr.clone());
                    }
                }
                "variable" => {
                    if let (Some(name), Some(default)) = (
                        block.labels.first(),
                        block
                            .body
                            .attributes()
                            .find(|a| a.key.as_str() == "default"),
                    ) {
                        self.variables
                            .insert(name.as_str().to_owned(), default.expr.clone());
                    }
                }
                _ => {}
            }
            self.blocks.push(Located {
                file: file.to_owned(),
                line,
                block,
            });
        }
    }

    /// Values a variable definitions file gives, over the defaults.
    pub(crate) fn set_values(&mut self, values: Vec<(String, Expression)>) {
        self.variables.extend(values);
    }

    pub(crate) fn resources<'m>(&'m self, kind: &'m str) -> impl Iterator<Item = &'m Located> {
        self.blocks
            .iter()
            .filter(move |b| b.resource().is_some_and(|(t, _)| t == kind))
    }
}

/// `each` or `count` of one instance of a resource.
#[derive(Clone, Debug)]
pub(crate) enum Instance {
    Single,
    Each { key: Value, value: Value },
    Count(u64),
}

/// Evaluates a module's expressions; remembers its locals.
pub(crate) struct Evaluator<'m> {
    module: &'m Module,
    locals: RefCell<HashMap<String, Option<Value>>>,
    active: RefCell<HashSet<String>>,
    spent: Cell<usize>,
    /// References to what only a plan knows (resources, data sources, a
    /// variable without default) evaluate to `${reference}` placeholders
    /// instead of unknown, so that the references can be followed.
    symbolic: bool,
    nesting: Cell<usize>,
    /// Set when an evaluation stopped at [`MAX_NESTING`]: its unknown
    /// depends on where it was asked from, so it is not remembered.
    cut: Cell<bool>,
}

impl<'m> Evaluator<'m> {
    pub(crate) fn new(module: &'m Module) -> Self {
        Self::with(module, false)
    }

    /// An evaluator whose unknown references are `${reference}` strings.
    pub(crate) fn symbolic(module: &'m Module) -> Self {
        Self::with(module, true)
    }

    fn with(module: &'m Module, symbolic: bool) -> Self {
        Self {
            module,
            locals: RefCell::default(),
            active: RefCell::default(),
            spent: Cell::new(0),
            symbolic,
            nesting: Cell::new(0),
            cut: Cell::new(false),
        }
    }

    /// Whether evaluation stopped at [`BUDGET`].
    pub(crate) fn exhausted(&self) -> bool {
        self.spent.get() >= BUDGET
    }

    fn charge(&self, nodes: usize) -> Option<()> {
        let spent = self.spent.get().saturating_add(nodes);
        self.spent.set(spent);
        (spent < BUDGET).then_some(())
    }

    /// The instances of a resource block (None: its `for_each` or `count`
    /// is not known, or expands past the bound).
    pub(crate) fn instances(&self, block: &Block) -> Option<Vec<Instance>> {
        let attr = |k: &str| block.body.attributes().find(|a| a.key.as_str() == k);
        if let Some(a) = attr("for_each") {
            let v = self.eval(&a.expr, &Instance::Single)?;
            let out: Vec<Instance> = match v {
                Value::Object(map) => map
                    .into_iter()
                    .map(|(k, value)| Instance::Each {
                        key: Value::String(k),
                        value,
                    })
                    .collect(),
                Value::Array(items) => items
                    .into_iter()
                    .map(|v| Instance::Each {
                        key: v.clone(),
                        value: v,
                    })
                    .collect(),
                _ => return None,
            };
            return (out.len() <= MAX_INSTANCES).then_some(out);
        }
        if let Some(a) = attr("count") {
            let n = self.eval(&a.expr, &Instance::Single)?.as_u64()?;
            return (n as usize <= MAX_INSTANCES).then(|| (0..n).map(Instance::Count).collect());
        }
        Some(vec![Instance::Single])
    }

    /// An attribute of a block for one instance: None when unknown,
    /// Some(Null) when the block does not set it.
    pub(crate) fn attribute(&self, block: &Block, key: &str, at: &Instance) -> Option<Value> {
        match block.body.attributes().find(|a| a.key.as_str() == key) {
            Some(a) => self.eval(&a.expr, at),
            None => Some(Value::Null),
        }
    }

    pub(crate) fn eval(&self, e: &Expression, at: &Instance) -> Option<Value> {
        self.charge(1)?;
        if self.nesting.get() >= MAX_NESTING {
            self.cut.set(true);
            return None;
        }
        self.nesting.set(self.nesting.get() + 1);
        let v = self.eval_nested(e, at);
        self.nesting.set(self.nesting.get() - 1);
        v
    }

    fn eval_nested(&self, e: &Expression, at: &Instance) -> Option<Value> {
        match e {
            Expression::Null => Some(Value::Null),
            Expression::Bool(b) => Some(Value::Bool(*b)),
            Expression::Number(n) => serde_json::to_value(n).ok(),
            Expression::String(s) => Some(Value::String(s.clone())),
            Expression::Array(items) => items
                .iter()
                .map(|i| self.eval(i, at))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            Expression::Object(object) => {
                let mut out = Map::new();
                for (k, v) in object {
                    let key = match k {
                        ObjectKey::Identifier(id) => id.to_string(),
                        ObjectKey::Expression(e) => text(self.eval(e, at)?)?,
                        _ => return None,
                    };
                    out.insert(key, self.eval(v, at)?);
                }
                Some(Value::Object(out))
            }
            Expression::TemplateExpr(t) => {
                let raw = match t.as_ref() {
                    TemplateExpr::QuotedString(s) => s.as_str(),
                    TemplateExpr::Heredoc(h) => h.template.as_str(),
                };
                self.template(raw, at)
            }
            Expression::Variable(v) => match (v.as_str(), at) {
                ("each", Instance::Each { key, value }) => {
                    Some(serde_json::json!({"key": key, "value": value}))
                }
                ("count", Instance::Count(i)) => Some(serde_json::json!({ "index": i })),
                _ => None,
            },
            Expression::Traversal(t) => {
                let mut ops = t.operators.iter();
                let mut value = match &t.expr {
                    Expression::Variable(v) if matches!(v.as_str(), "local" | "var") => {
                        let Some(TraversalOperator::GetAttr(name)) = ops.next() else {
                            return None;
                        };
                        let found = if v.as_str() == "local" {
                            self.local(name.as_str())
                        } else {
                            self.module
                                .variables
                                .get(name.as_str())
                                .and_then(|e| self.eval(e, &Instance::Single))
                        };
                        match found {
                            Some(v) => v,
                            None if self.symbolic && v.as_str() == "var" => {
                                return self.reference(v.as_str(), &t.operators, at);
                            }
                            None => return None,
                        }
                    }
                    Expression::Variable(v)
                        if self.symbolic && !matches!(v.as_str(), "each" | "count") =>
                    {
                        return self.reference(v.as_str(), &t.operators, at);
                    }
                    other => self.eval(other, at)?,
                };
                for op in ops {
                    value = match op {
                        TraversalOperator::GetAttr(name) => value.get_mut(name.as_str())?.take(),
                        TraversalOperator::Index(i) => match self.eval(i, at)? {
                            Value::String(k) => value.get_mut(k.as_str())?.take(),
                            Value::Number(n) => value.get_mut(n.as_u64()? as usize)?.take(),
                            _ => return None,
                        },
                        _ => return None,
                    };
                }
                Some(value)
            }
            Expression::FuncCall(call) => {
                if !call.name.namespace.is_empty() || call.expand_final {
                    return None;
                }
                let args = call
                    .args
                    .iter()
                    .map(|a| self.eval(a, at))
                    .collect::<Option<Vec<_>>>()?;
                function(call.name.name.as_str(), args)
            }
            Expression::Parenthesis(inner) => self.eval(inner, at),
            Expression::Conditional(c) => match self.eval(&c.cond_expr, at)? {
                Value::Bool(true) => self.eval(&c.true_expr, at),
                Value::Bool(false) => self.eval(&c.false_expr, at),
                _ => None,
            },
            Expression::Operation(op) => match op.as_ref() {
                Operation::Unary(u) => match (u.operator, self.eval(&u.expr, at)?) {
                    (UnaryOperator::Not, Value::Bool(b)) => Some(Value::Bool(!b)),
                    _ => None,
                },
                Operation::Binary(b) => {
                    let l = self.eval(&b.lhs_expr, at)?;
                    let r = self.eval(&b.rhs_expr, at)?;
                    match (b.operator, l, r) {
                        (BinaryOperator::Eq, l, r) => Some(Value::Bool(l == r)),
                        (BinaryOperator::NotEq, l, r) => Some(Value::Bool(l != r)),
                        (BinaryOperator::And, Value::Bool(l), Value::Bool(r)) => {
                            Some(Value::Bool(l && r))
                        }
                        (BinaryOperator::Or, Value::Bool(l), Value::Bool(r)) => {
                            Some(Value::Bool(l || r))
                        }
                        _ => None,
                    }
                }
            },
            // A `for` expression could multiply its collections' sizes:
            // left unknown rather than bounded by a guess.
            Expression::ForExpr(_) => None,
            _ => None,
        }
    }

    /// `${root.attr["key"]}`: a reference only a plan resolves, but for
    /// the attributes AWS derives from what the module sets (a bucket's
    /// name and ARN).
    fn reference(&self, root: &str, ops: &[TraversalOperator], at: &Instance) -> Option<Value> {
        use std::fmt::Write;
        if let (
            kind @ ("aws_s3_bucket" | "google_storage_bucket"),
            [TraversalOperator::GetAttr(name), TraversalOperator::GetAttr(attr)],
        ) = (root, ops)
        {
            if let Some(bucket) = self.bucket_name(kind, name.as_str()) {
                match (kind, attr.as_str()) {
                    ("aws_s3_bucket", "id" | "bucket")
                    | ("google_storage_bucket", "id" | "name") => {
                        return Some(Value::String(bucket))
                    }
                    ("aws_s3_bucket", "arn") => {
                        return Some(Value::String(format!(
                            "arn:${{data.aws_partition.current.partition}}:s3:::{bucket}"
                        )))
                    }
                    ("google_storage_bucket", "url") => {
                        return Some(Value::String(format!("gs://{bucket}")))
                    }
                    _ => {}
                }
            }
        }
        let mut path = root.to_owned();
        for op in ops {
            match op {
                TraversalOperator::GetAttr(name) => {
                    path.push('.');
                    path.push_str(name.as_str());
                }
                TraversalOperator::Index(i) => match self.eval(i, at)? {
                    Value::String(k) => write!(path, "[{k:?}]").ok()?,
                    Value::Number(n) => write!(path, "[{n}]").ok()?,
                    _ => return None,
                },
                TraversalOperator::FullSplat => path.push_str("[*]"),
                _ => return None,
            }
        }
        Some(Value::String(format!("${{{path}}}")))
    }

    /// The name a bucket resource of `kind` (S3's, Cloud Storage's) is
    /// created with, when it is one bucket and the module sets it: the
    /// provider derives its id, ARN or URL from it.
    fn bucket_name(&self, kind: &str, resource: &str) -> Option<String> {
        let key = if kind == "aws_s3_bucket" {
            "bucket"
        } else {
            "name"
        };
        let b = self
            .module
            .resources(kind)
            .find(|b| b.resource().is_some_and(|(_, n)| n == resource))?;
        let repeated = b
            .block
            .body
            .attributes()
            .any(|a| matches!(a.key.as_str(), "for_each" | "count"));
        match self.attribute(&b.block, key, &Instance::Single)? {
            Value::String(name) if !repeated => Some(name),
            _ => None,
        }
    }

    fn local(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.locals.borrow().get(name) {
            let v = v.clone()?;
            self.charge(nodes(&v))?;
            return Some(v);
        }
        let e = self.module.locals.get(name)?;
        if self.active.borrow().len() >= MAX_DEPTH || !self.active.borrow_mut().insert(name.into())
        {
            return None;
        }
        let was_cut = self.cut.replace(false);
        let v = self.eval(e, &Instance::Single);
        self.active.borrow_mut().remove(name);
        if v.is_some() || !self.cut.get() {
            self.locals.borrow_mut().insert(name.into(), v.clone());
        }
        self.cut.set(was_cut || self.cut.get());
        v
    }

    fn template(&self, raw: &str, at: &Instance) -> Option<Value> {
        use hcl::template::Element;
        let template = hcl::Template::from_str(raw).ok()?;
        let mut out = String::new();
        for element in template.elements() {
            match element {
                Element::Literal(s) => out.push_str(s),
                Element::Interpolation(i) => out.push_str(&text(self.eval(&i.expr, at)?)?),
                Element::Directive(_) => return None,
            }
        }
        self.charge(out.len() / 64)?;
        Some(Value::String(out))
    }
}

/// A value as an interpolation writes it.
fn text(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(nodes).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(nodes).sum::<usize>(),
        _ => 1,
    }
}

/// The pure functions whose results do not depend on anything outside the
/// module.
fn function(name: &str, args: Vec<Value>) -> Option<Value> {
    let mut args = args.into_iter();
    let first = args.next();
    match (name, first) {
        ("jsonencode", Some(v)) => serde_json::to_string(&v).ok().map(Value::String),
        ("tolist" | "tomap", Some(v)) => Some(v),
        // A placeholder goes through whole: the cluster's OIDC issuer
        // without its scheme is how web identity trusts name their keys.
        // A substring between slashes is a regular expression: not modelled.
        ("replace", Some(Value::String(s))) => match (args.next()?, args.next()?) {
            (Value::String(from), Value::String(to)) if !from.is_empty() && !is_pattern(&from) => {
                Some(Value::String(s.replace(&from, &to)))
            }
            _ => None,
        },
        ("trimprefix", Some(Value::String(s))) => match args.next()? {
            Value::String(prefix) => Some(Value::String(
                s.strip_prefix(prefix.as_str()).unwrap_or(&s).to_owned(),
            )),
            _ => None,
        },
        ("toset", Some(Value::Array(mut items))) => {
            // A set iterates in its elements' order (strings: lexical).
            items.sort_by_key(|v| v.to_string());
            items.dedup();
            Some(Value::Array(items))
        }
        ("cidrsubnet", Some(Value::String(prefix))) => {
            let newbits = args.next()?.as_u64()?;
            let netnum = args.next()?.as_u64()?;
            cidrsubnet(&prefix, newbits, netnum).map(Value::String)
        }
        ("cidrhost", Some(Value::String(prefix))) => {
            let host = args.next()?.as_u64()?;
            cidrhost(&prefix, host).map(Value::String)
        }
        ("split", Some(Value::String(sep))) if !sep.is_empty() => match args.next()? {
            Value::String(s) => Some(Value::Array(
                s.split(sep.as_str())
                    .map(|p| Value::String(p.to_owned()))
                    .collect(),
            )),
            _ => None,
        },
        ("tonumber", Some(Value::Number(n))) => Some(Value::Number(n)),
        ("tonumber", Some(Value::String(s))) => {
            s.parse::<u64>().ok().map(|n| Value::Number(n.into()))
        }
        ("merge", first) => {
            let mut out = Map::new();
            for v in first.into_iter().chain(args) {
                match v {
                    Value::Object(o) => out.extend(o),
                    Value::Null => {}
                    _ => return None,
                }
            }
            Some(Value::Object(out))
        }
        _ => None,
    }
}

/// Terraform's `cidrhost` for IPv4: the `host`th address of `prefix`
/// (None where Terraform would fail, and for IPv6, not modelled).
fn cidrhost(prefix: &str, host: u64) -> Option<String> {
    let (net, len) = prefix.split_once('/')?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let a: std::net::Ipv4Addr = net.parse().ok()?;
    let size = 1u64 << (32 - len);
    if host >= size {
        return None;
    }
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    let base = u32::from(a) & mask;
    Some(std::net::Ipv4Addr::from(base | u32::try_from(host).ok()?).to_string())
}

/// `replace`'s substring between slashes: a regular expression.
fn is_pattern(s: &str) -> bool {
    s.len() > 1 && s.starts_with('/') && s.ends_with('/')
}

/// Terraform's `cidrsubnet`: the `netnum`th subnet of `prefix` with
/// `newbits` more bits of prefix (None where Terraform would fail).
fn cidrsubnet(prefix: &str, newbits: u64, netnum: u64) -> Option<String> {
    use std::net::IpAddr;
    let (net, len) = prefix.split_once('/')?;
    let len: u32 = len.parse().ok()?;
    let newbits = u32::try_from(newbits).ok()?;
    match net.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => {
            let new = len.checked_add(newbits).filter(|n| *n <= 32)?;
            if newbits < 64 && netnum >> newbits != 0 {
                return None;
            }
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            let base = u32::from(a) & mask;
            let shift = 32 - new;
            let sub = u32::try_from(netnum).ok()?.checked_shl(shift).unwrap_or(0);
            Some(format!("{}/{new}", std::net::Ipv4Addr::from(base | sub)))
        }
        IpAddr::V6(a) => {
            let new = len.checked_add(newbits).filter(|n| *n <= 128)?;
            if newbits < 64 && netnum >> newbits != 0 {
                return None;
            }
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            let base = u128::from(a) & mask;
            let sub = u128::from(netnum).checked_shl(128 - new).unwrap_or(0);
            Some(format!("{}/{new}", std::net::Ipv6Addr::from(base | sub)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(text: &str) -> Module {
        let mut m = Module::default();
        m.add("main.tf", parse(text).expect("HCL"));
        m
    }

    #[test]
    fn values_known_before_a_plan_are_found() {
        let m = module(
            r#"
variable "env" {
  default = "prod"
}
locals {
  name = "acme-${var.env}"
  workloads = {
    "velero" = { namespace = "velero", service_account = "velero-server" }
  }
}

# The add-ons.
resource "aws_eks_addon" "this" {
  for_each             = toset(["vpc-cni", "coredns"])
  addon_name           = each.value
  configuration_values = each.value == "vpc-cni" ? jsonencode({ enableNetworkPolicy = "true" }) : null
}

resource "aws_eks_pod_identity_association" "velero" {
  namespace       = local.workloads["velero"].namespace
  service_account = local.workloads.velero.service_account
  role_arn        = aws_iam_role.workload["velero"].arn
  name            = "${local.name}-velero"
}
"#,
        );
        let ev = Evaluator::new(&m);
        let addon = m.resources("aws_eks_addon").next().expect("addon");
        assert_eq!(addon.line, 13);
        let instances = ev.instances(&addon.block).expect("known");
        let values: Vec<_> = instances
            .iter()
            .map(|i| {
                (
                    ev.attribute(&addon.block, "addon_name", i),
                    ev.attribute(&addon.block, "configuration_values", i),
                )
            })
            .collect();
        assert_eq!(
            values,
            vec![
                (Some("coredns".into()), Some(Value::Null)),
                (
                    Some("vpc-cni".into()),
                    Some(r#"{"enableNetworkPolicy":"true"}"#.into())
                ),
            ]
        );
        let a = m
            .resources("aws_eks_pod_identity_association")
            .next()
            .expect("association");
        let one = Instance::Single;
        assert_eq!(
            ev.attribute(&a.block, "namespace", &one),
            Some("velero".into())
        );
        assert_eq!(
            ev.attribute(&a.block, "service_account", &one),
            Some("velero-server".into())
        );
        assert_eq!(
            ev.attribute(&a.block, "name", &one),
            Some("acme-prod-velero".into())
        );
        // A resource's attribute is known only after apply.
        assert_eq!(ev.attribute(&a.block, "role_arn", &one), None);
        assert_eq!(
            ev.attribute(&a.block, "cluster_name", &one),
            Some(Value::Null)
        );
    }

    #[test]
    fn references_only_a_plan_resolves_can_be_followed() {
        let m = module(
            r#"
locals {
  partition = data.aws_partition.current.partition
}
resource "aws_iam_role_policy" "p" {
  for_each = toset(["velero"])
  role     = aws_iam_role.workload[each.key].id
  policy   = data.aws_iam_policy_document.p.json
  arn      = "arn:${local.partition}:s3:::${var.bucket}/*"
}
"#,
        );
        let r = m.resources("aws_iam_role_policy").next().expect("resource");
        for (ev, known) in [(Evaluator::symbolic(&m), true), (Evaluator::new(&m), false)] {
            let i = &ev.instances(&r.block).expect("instances")[0];
            let get = |k: &str| ev.attribute(&r.block, k, i);
            if known {
                assert_eq!(
                    get("role"),
                    Some(r#"${aws_iam_role.workload["velero"].id}"#.into())
                );
                assert_eq!(
                    get("policy"),
                    Some("${data.aws_iam_policy_document.p.json}".into())
                );
                assert_eq!(
                    get("arn"),
                    Some("arn:${data.aws_partition.current.partition}:s3:::${var.bucket}/*".into())
                );
            } else {
                assert_eq!((get("role"), get("policy"), get("arn")), (None, None, None));
            }
        }
    }

    #[test]
    fn a_buckets_name_and_arn_are_known_from_what_it_sets() {
        let m = module(
            r#"
locals {
  name = "acme-prod"
}
resource "aws_s3_bucket" "backups" {
  bucket = "${local.name}-backups"
}
resource "aws_s3_bucket" "prefixed" {
  bucket_prefix = "logs-"
}
resource "x" "y" {
  a = aws_s3_bucket.backups.arn
  b = "${aws_s3_bucket.backups.arn}/*"
  c = aws_s3_bucket.backups.id
  d = aws_s3_bucket.prefixed.arn
  e = aws_s3_bucket.backups.region
}
"#,
        );
        let ev = Evaluator::symbolic(&m);
        let r = m.resources("x").next().expect("resource");
        let get = |k: &str| ev.attribute(&r.block, k, &Instance::Single);
        let arn = "arn:${data.aws_partition.current.partition}:s3:::acme-prod-backups";
        assert_eq!(get("a"), Some(arn.into()));
        assert_eq!(get("b"), Some(format!("{arn}/*").into()));
        assert_eq!(get("c"), Some("acme-prod-backups".into()));
        assert_eq!(get("d"), Some("${aws_s3_bucket.prefixed.arn}".into()));
        assert_eq!(get("e"), Some("${aws_s3_bucket.backups.region}".into()));
    }

    #[test]
    fn cidrhost_split_and_tonumber_are_terraforms() {
        let m = module(
            r#"
locals {
  range  = cidrsubnet("10.30.0.0/16", 4, 2)
  first  = cidrhost(local.range, 0)
  tenth  = cidrhost(local.range, 10)
  length = tonumber(split("/", local.range)[1])
  beyond = cidrhost("10.0.0.0/30", 4)
}
"#,
        );
        let ev = Evaluator::new(&m);
        let get = |k: &str| ev.local(k);
        assert_eq!(get("first"), Some("10.30.32.0".into()));
        assert_eq!(get("tenth"), Some("10.30.32.10".into()));
        assert_eq!(get("length"), Some(serde_json::json!(20)));
        assert_eq!(get("beyond"), None);
    }

    #[test]
    fn cidrsubnet_is_terraforms() {
        // The examples of Terraform's documentation.
        assert_eq!(
            cidrsubnet("172.16.0.0/12", 4, 2).as_deref(),
            Some("172.18.0.0/16")
        );
        assert_eq!(
            cidrsubnet("10.1.2.0/24", 4, 15).as_deref(),
            Some("10.1.2.240/28")
        );
        assert_eq!(
            cidrsubnet("fd00:fd12:3456:7890::/56", 16, 162).as_deref(),
            Some("fd00:fd12:3456:7800:a200::/72")
        );
        assert_eq!(
            cidrsubnet("10.30.0.0/16", 6, 48 + 2).as_deref(),
            Some("10.30.200.0/22")
        );
        // Terraform refuses a number that does not fit, or a prefix too long.
        assert_eq!(cidrsubnet("10.0.0.0/24", 2, 4), None);
        assert_eq!(cidrsubnet("10.0.0.0/30", 4, 0), None);
    }

    #[test]
    fn replace_and_trimprefix_are_terraforms_on_plain_substrings() {
        let s = |v: &str| Value::String(v.to_owned());
        let call = |name: &str, args: &[&str]| function(name, args.iter().map(|a| s(a)).collect());
        assert_eq!(
            call("replace", &["https://oidc.eks/id/1", "https://", ""]),
            Some(s("oidc.eks/id/1"))
        );
        assert_eq!(call("replace", &["a-b-c", "-", "_"]), Some(s("a_b_c")));
        // A placeholder goes through whole, so a reference stays followable.
        assert_eq!(
            call(
                "replace",
                &["${aws_iam_openid_connect_provider.eks.url}", "https://", ""]
            ),
            Some(s("${aws_iam_openid_connect_provider.eks.url}"))
        );
        // A regular expression is not modelled.
        assert_eq!(call("replace", &["a1b2", "/[0-9]/", ""]), None);
        assert_eq!(call("trimprefix", &["https://x", "https://"]), Some(s("x")));
        assert_eq!(call("trimprefix", &["x", "https://"]), Some(s("x")));
    }

    #[test]
    fn variable_definitions_files_override_the_defaults() {
        let mut m = module(
            "variable \"cidr\" {\n  default = \"10.0.0.0/16\"\n}\nvariable \"zones\" {}\nlocals {\n  first = cidrsubnet(var.cidr, 2, 0)\n}\n",
        );
        m.set_values(parse_values("cidr = \"10.30.0.0/16\"\n").expect("values"));
        let ev = Evaluator::new(&m);
        let e = hcl::edit::parser::parse_expr("local.first")
            .map(Expression::from)
            .expect("expression");
        assert_eq!(ev.eval(&e, &Instance::Single), Some("10.30.0.0/18".into()));
        let e = hcl::edit::parser::parse_expr("var.zones")
            .map(Expression::from)
            .expect("expression");
        assert_eq!(ev.eval(&e, &Instance::Single), None);
        assert!(parse_values("cidr = \n").is_err());
    }

    #[test]
    fn cycles_chains_and_growth_are_bounded() {
        // A cycle, and a chain past the depth bound, are unknown.
        let mut text = String::from("locals {\n  a = local.b\n  b = local.a\n");
        for i in 0..100 {
            text.push_str(&format!("  c{i} = local.c{}\n", i + 1));
        }
        text.push_str("  c100 = \"end\"\n");
        // Each local doubles the one before: 2^30 strings if copied.
        text.push_str("  d0 = [\"x\", \"y\"]\n");
        for i in 1..=30 {
            text.push_str(&format!("  d{i} = [local.d{0}, local.d{0}]\n", i - 1));
        }
        text.push_str("}\n");
        let m = module(&text);
        let ev = Evaluator::new(&m);
        let one = Instance::Single;
        let get = |name: &str| {
            let e = hcl::edit::parser::parse_expr(&format!("local.{name}"))
                .map(Expression::from)
                .expect("expression");
            ev.eval(&e, &one)
        };
        assert_eq!(get("a"), None);
        assert_eq!(get("c90"), Some("end".into()));
        assert_eq!(get("c0"), None);
        let started = std::time::Instant::now();
        assert_eq!(get("d30"), None);
        assert!(ev.exhausted());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn deep_expressions_in_a_chain_of_locals_stay_on_the_stack() {
        // The parser bounds one expression's nesting, and the locals'
        // chain is bounded: together they bound the evaluation's depth.
        let depth = 60;
        let mut text = String::from("locals {\n");
        for i in 0..40 {
            text.push_str(&format!(
                "  c{i} = {}local.c{}{}\n",
                "[(".repeat(depth / 2),
                i + 1,
                ")]".repeat(depth / 2)
            ));
        }
        text.push_str("  c40 = 1\n}\n");
        let blocks = match parse(&text) {
            Ok(b) => b,
            // Refused by the parser's own bound: also safe.
            Err(_) => return,
        };
        let mut m = Module::default();
        m.add("main.tf", blocks);
        let ev = Evaluator::new(&m);
        let e = hcl::edit::parser::parse_expr("local.c0")
            .map(Expression::from)
            .expect("expression");
        assert_eq!(ev.eval(&e, &Instance::Single), None);
        let e = hcl::edit::parser::parse_expr("local.c38")
            .map(Expression::from)
            .expect("expression");
        assert!(ev.eval(&e, &Instance::Single).is_some());
    }

    #[test]
    fn nested_blocks_past_the_bound_are_refused() {
        let text = format!("{}{}", "a {\n".repeat(5_000), "}\n".repeat(5_000));
        assert!(parse(&text).is_err());
    }

    #[test]
    fn what_is_not_hcl_is_an_error_at_its_line() {
        let e = parse("locals {\n  a = \"x\"\n  b = \n}\n").expect_err("not HCL");
        assert_eq!(e.line, 3, "{}", e.message);
        let deep = format!(
            "locals {{\n  a = {}1{}\n}}\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(parse(&deep).is_err());
    }
}
