//! Every field a template names, checked against the type of its context
//! (the JSON Schema of `model::context`), whatever the spec.
//!
//! The walk of [`super::paths`] resolves paths against the contexts some
//! specs give: a field that only those specs lack is found, but a field of
//! an object the samples never hold (an empty list, a component they all
//! leave out) is not. Here a path resolves when some value of the type could
//! have it, so a template naming a field no spec could ever provide fails,
//! in every branch and every `#each` / `#with` scope. Fields whose type is
//! open (free-form values such as `env.size`) accept any path below them.

use handlebars::template::{BlockParam, HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::Path;
use serde_json::Value;

/// A path the schema does not have: (line, path as written).
pub(crate) type Unresolved = (usize, String);

/// The schema nodes a value may have at one place of the template; `None`
/// where the walk cannot tell (a block parameter it does not follow).
type Scope<'v> = Option<Vec<&'v Value>>;

struct Frame<'v> {
    scope: Scope<'v>,
    /// Block parameters opened here (`as |item index|`) and their schemas.
    params: Vec<(String, Scope<'v>)>,
}

struct Walk<'v> {
    defs: &'v Value,
    out: Vec<Unresolved>,
}

/// The paths of `template` that no value of `root` (whose `$ref`s point
/// into `defs`) can have.
pub(crate) fn unresolved(template: &Template, root: &Value, defs: &Value) -> Vec<Unresolved> {
    let mut walk = Walk {
        defs,
        out: Vec::new(),
    };
    let mut stack = vec![Frame {
        scope: Some(vec![root]),
        params: Vec::new(),
    }];
    walk.template(template, &mut stack);
    let mut out = walk.out;
    out.sort();
    out.dedup();
    out
}

/// A schema that says nothing of its value's fields: any path resolves.
fn is_open(s: &Value) -> bool {
    match s {
        Value::Bool(b) => *b,
        Value::Object(m) => ![
            "type",
            "properties",
            "additionalProperties",
            "items",
            "$ref",
            "anyOf",
            "oneOf",
            "allOf",
            "enum",
            "const",
        ]
        .iter()
        .any(|k| m.contains_key(*k)),
        _ => false,
    }
}

impl<'v> Walk<'v> {
    /// The schemas `s` stands for: references followed, unions and
    /// intersections (`#[serde(flatten)]`) spread.
    fn alternatives(&self, s: &'v Value, out: &mut Vec<&'v Value>, depth: usize) {
        if depth > 32 {
            return;
        }
        if let Some(name) = s
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            if let Some(d) = self.defs.get(name) {
                self.alternatives(d, out, depth + 1);
            }
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for sub in s.get(key).and_then(Value::as_array).into_iter().flatten() {
                self.alternatives(sub, out, depth + 1);
            }
        }
        out.push(s);
    }

    fn spread(&self, scope: &[&'v Value]) -> Vec<&'v Value> {
        let mut out = Vec::new();
        for s in scope {
            self.alternatives(s, &mut out, 0);
        }
        out
    }

    /// The schemas of field `seg` of a value of one of `scope`.
    fn field(&self, scope: &[&'v Value], seg: &str) -> Vec<&'v Value> {
        let mut out = Vec::new();
        for s in self.spread(scope) {
            if is_open(s) {
                out.push(s);
                continue;
            }
            if let Some(p) = s.get("properties").and_then(|p| p.get(seg)) {
                out.push(p);
                continue;
            }
            if let Some(extra) = s.get("additionalProperties").filter(|a| **a != false) {
                out.push(extra);
            }
            if seg.parse::<usize>().is_ok() {
                if let Some(items) = s.get("items") {
                    out.push(items);
                }
            }
        }
        out
    }

    /// The schemas of what `#each` iterates (a list's items, a map's
    /// values, an object's fields) or `lookup` finds.
    fn elements(&self, scope: &[&'v Value]) -> Vec<&'v Value> {
        let mut out = Vec::new();
        for s in self.spread(scope) {
            if is_open(s) {
                out.push(s);
                continue;
            }
            if let Some(items) = s.get("items") {
                out.push(items);
            }
            if let Some(extra) = s.get("additionalProperties").filter(|a| **a != false) {
                out.push(extra);
            }
            if let Some(Value::Object(p)) = s.get("properties") {
                out.extend(p.values());
            }
        }
        out
    }

    /// The schemas a path names, `None` when the walk cannot tell, an empty
    /// list when nothing of the type has it.
    fn resolve(&self, raw: &str, stack: &[Frame<'v>]) -> Scope<'v> {
        let mut rest = raw;
        let mut level = stack.len().checked_sub(1)?;
        let mut climbed = false;
        if let Some(r) = rest.strip_prefix("@root") {
            level = 0;
            rest = r.trim_start_matches(['.', '/']);
            climbed = true;
        } else {
            while let Some(r) = rest.strip_prefix("../") {
                level = level.checked_sub(1)?;
                rest = r;
                climbed = true;
            }
        }
        if rest.starts_with('@') {
            return None;
        }
        let this = rest.strip_prefix("this");
        let explicit = this.is_some_and(|r| r.is_empty() || r.starts_with(['.', '/']));
        let rest = if explicit {
            this.unwrap_or(rest).trim_start_matches(['.', '/'])
        } else {
            rest
        };
        let mut segments: Vec<&str> = rest
            .split(['.', '/'])
            .filter(|s| !s.is_empty() && *s != ".")
            .map(|s| s.trim_start_matches('[').trim_end_matches(']'))
            .collect();
        // A block parameter, named bare, from the innermost scope out.
        let first = segments.first().copied();
        let bound = match first {
            Some(first) if !climbed && !explicit => stack[..=level]
                .iter()
                .rev()
                .flat_map(|f| f.params.iter())
                .find(|(name, _)| name == first),
            _ => None,
        };
        let mut current: Vec<&'v Value> = match bound {
            Some((_, scope)) => {
                segments.remove(0);
                scope.clone()?
            }
            None => stack.get(level)?.scope.clone()?,
        };
        for seg in segments {
            current = self.field(&current, seg);
            if current.is_empty() {
                break;
            }
        }
        Some(current)
    }

    fn check(&mut self, p: &Parameter, stack: &[Frame<'v>], line: usize) {
        match p {
            Parameter::Path(Path::Relative((_, raw)))
                if self.resolve(raw, stack).is_some_and(|s| s.is_empty()) =>
            {
                self.out.push((line, raw.to_owned()));
            }
            Parameter::Subexpression(sub) => {
                if let TemplateElement::Expression(h) | TemplateElement::HelperBlock(h) =
                    sub.element.as_ref()
                {
                    self.helper(h, stack, line);
                }
            }
            _ => {}
        }
    }

    fn helper(&mut self, h: &HelperTemplate, stack: &[Frame<'v>], line: usize) {
        // `{{field}}` is a path; `{{helper arg}}` names a helper.
        if h.params.is_empty() && h.hash.is_empty() {
            self.check(&h.name, stack, line);
        }
        for p in h.params.iter().chain(h.hash.values()) {
            self.check(p, stack, line);
        }
    }

    /// The schemas of a block's first parameter: a path, or `(lookup map key)`.
    fn value_of(&self, p: Option<&Parameter>, stack: &[Frame<'v>]) -> Scope<'v> {
        match p? {
            Parameter::Path(Path::Relative((_, raw))) => self.resolve(raw, stack),
            Parameter::Subexpression(sub) => match sub.element.as_ref() {
                TemplateElement::Expression(h) if matches!(&h.name, Parameter::Name(n) if n == "lookup") =>
                {
                    let of = self.value_of(h.params.first(), stack)?;
                    Some(self.elements(&of))
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn template(&mut self, t: &Template, stack: &mut Vec<Frame<'v>>) {
        for (i, e) in t.elements.iter().enumerate() {
            let line = t.mapping.get(i).map_or(0, |m| m.0);
            match e {
                TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                    self.helper(h, stack, line);
                }
                TemplateElement::HelperBlock(h) => {
                    for p in h.params.iter().chain(h.hash.values()) {
                        self.check(p, stack, line);
                    }
                    let name = match &h.name {
                        Parameter::Name(n) => n.as_str(),
                        _ => "",
                    };
                    if let Some(body) = &h.template {
                        let frame = match name {
                            "each" | "with" => {
                                let value = self.value_of(h.params.first(), stack);
                                let inner = match (name, value) {
                                    ("each", Some(v)) => Some(self.elements(&v)),
                                    (_, v) => v,
                                };
                                // An empty list: the block's value is already
                                // reported, its body cannot be judged.
                                let inner = inner.filter(|v| !v.is_empty());
                                let names: Vec<String> = match &h.block_param {
                                    Some(BlockParam::Single(Parameter::Name(n))) => {
                                        vec![n.clone()]
                                    }
                                    Some(BlockParam::Pair((
                                        Parameter::Name(a),
                                        Parameter::Name(b),
                                    ))) => vec![a.clone(), b.clone()],
                                    _ => Vec::new(),
                                };
                                let params = names
                                    .into_iter()
                                    .enumerate()
                                    .map(|(k, n)| (n, if k == 0 { inner.clone() } else { None }))
                                    .collect();
                                Some(Frame {
                                    scope: inner,
                                    params,
                                })
                            }
                            _ if h.block_param.is_some() => Some(Frame {
                                scope: None,
                                params: Vec::new(),
                            }),
                            _ => None,
                        };
                        match frame {
                            Some(f) => {
                                stack.push(f);
                                self.template(body, stack);
                                stack.pop();
                            }
                            None => self.template(body, stack),
                        }
                    }
                    if let Some(inverse) = &h.inverse {
                        self.template(inverse, stack);
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(source: &str) -> Vec<String> {
        let defs = json!({
            "Env": {"type": "object", "properties": {
                "name": {"type": "string"},
                "size": true,
                "ns": {"type": "object", "additionalProperties": {"type": "string"}},
            }},
            "Item": {"type": "object", "properties": {
                "name": {"type": "string"},
                "ports": {"type": "array", "items": {"type": "integer"}},
            }},
        });
        let root = json!({"type": "object", "properties": {
            "domain": {"type": "string"},
            "env": {"$ref": "#/$defs/Env"},
            "list": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
            "maybe": {"anyOf": [{"$ref": "#/$defs/Item"}, {"type": "null"}]},
            "by_ns": {"type": "object", "additionalProperties": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
        }});
        let t = Template::compile(source).expect("template");
        unresolved(&t, &root, &defs)
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    #[test]
    fn a_field_the_type_lacks_is_found_in_any_branch() {
        let found = problems("{{#if env.name}}{{else}}{{env.nmae}}{{/if}}{{env.name}}");
        assert_eq!(found, ["env.nmae"]);
    }

    #[test]
    fn scopes_follow_each_with_lookup_and_block_parameters() {
        let ok = "{{#each list}}{{name}}{{../domain}}{{@root.domain}}{{@index}}{{#each ports}}{{this}}{{../name}}{{/each}}{{/each}}\
                  {{#with maybe}}{{name}}{{/with}}{{#each (lookup by_ns env.name)}}{{name}}{{/each}}\
                  {{#each list as |item i|}}{{item.name}}{{i}}{{/each}}{{env.size.any.thing}}{{env.ns.core}}";
        assert!(problems(ok).is_empty(), "{:?}", problems(ok));
        let bad = "{{#each list}}{{nmae}}{{../domian}}{{/each}}{{#with maybe}}{{nmae}}{{/with}}\
                   {{#each (lookup by_ns env.name)}}{{prots}}{{/each}}{{#each list as |item|}}{{item.nmae}}{{/each}}\
                   {{concat domian \"x\"}}{{domain.length}}";
        assert_eq!(
            problems(bad),
            [
                "../domian",
                "domain.length",
                "domian",
                "item.nmae",
                "nmae",
                "prots"
            ]
        );
    }
}
