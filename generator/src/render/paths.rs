//! Every field a template names, checked against the contexts it renders
//! with, branches not taken included.
//!
//! Handlebars (in strict mode) fails on a missing field only when it
//! evaluates it: a typo inside `{{#if enabled.airbyte}}` passes every spec
//! that leaves Airbyte out, and breaks the first client who enables it.
//! Walking the template's syntax tree instead, every path is resolved in
//! the scope it appears in (`#each` and `#with` open one; `../` and `@root`
//! climb), against every context the template is expanded with.

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::Path;
use serde_json::Value;

/// A path no context resolves: (line, path as written).
pub(crate) type Unresolved = (usize, String);

/// The paths of `template` that resolve in none of `contexts`.
pub(crate) fn unresolved(template: &Template, contexts: &[Value]) -> Vec<Unresolved> {
    let root: Vec<&Value> = contexts.iter().collect();
    let mut out = Vec::new();
    walk(template, &mut vec![root], &mut out);
    out.sort();
    out.dedup();
    out
}

/// The values a path names in the current scope (`stack` holds one list of
/// candidate values per open scope, outermost first); None for what no
/// context can tell (local variables, block parameters, an empty scope).
fn resolve<'v>(raw: &str, stack: &[Vec<&'v Value>]) -> Option<Result<Vec<&'v Value>, ()>> {
    let mut rest = raw;
    let mut level = stack.len().checked_sub(1)?;
    if let Some(r) = rest.strip_prefix("@root") {
        level = 0;
        rest = r.trim_start_matches(['.', '/']);
    } else {
        while let Some(r) = rest.strip_prefix("../") {
            level = level.checked_sub(1)?;
            rest = r;
        }
    }
    if rest.starts_with('@') {
        return None;
    }
    let rest = rest
        .strip_prefix("this")
        .map(|r| r.trim_start_matches(['.', '/']))
        .unwrap_or(rest);
    let scope = stack.get(level)?;
    if scope.is_empty() {
        return None;
    }
    let segments: Vec<&str> = rest
        .split(['.', '/'])
        .filter(|s| !s.is_empty() && *s != ".")
        .map(|s| s.trim_start_matches('[').trim_end_matches(']'))
        .collect();
    let found: Vec<&Value> = scope
        .iter()
        .filter_map(|v| {
            segments.iter().try_fold(*v, |v, seg| match v {
                Value::Object(m) => m.get(*seg),
                Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            })
        })
        .collect();
    Some(if found.is_empty() { Err(()) } else { Ok(found) })
}

fn check(p: &Parameter, stack: &[Vec<&Value>], line: usize, out: &mut Vec<Unresolved>) {
    match p {
        Parameter::Path(Path::Relative((_, raw))) => {
            if let Some(Err(())) = resolve(raw, stack) {
                out.push((line, raw.to_owned()));
            }
        }
        Parameter::Subexpression(sub) => {
            if let TemplateElement::Expression(h) | TemplateElement::HelperBlock(h) =
                sub.element.as_ref()
            {
                helper(h, stack, line, out);
            }
        }
        // `@index`, `@last`...: the walk has no value for them.
        _ => {}
    }
}

fn helper(h: &HelperTemplate, stack: &[Vec<&Value>], line: usize, out: &mut Vec<Unresolved>) {
    // `{{field}}` is a path; `{{helper arg}}` names a helper.
    if h.params.is_empty() && h.hash.is_empty() {
        check(&h.name, stack, line, out);
    }
    for p in h.params.iter().chain(h.hash.values()) {
        check(p, stack, line, out);
    }
}

fn walk(t: &Template, stack: &mut Vec<Vec<&Value>>, out: &mut Vec<Unresolved>) {
    for (i, e) in t.elements.iter().enumerate() {
        let line = t.mapping.get(i).map_or(0, |m| m.0);
        match e {
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                helper(h, stack, line, out);
            }
            TemplateElement::HelperBlock(h) => {
                for p in h.params.iter().chain(h.hash.values()) {
                    check(p, stack, line, out);
                }
                let name = match &h.name {
                    Parameter::Name(n) => n.as_str(),
                    _ => "",
                };
                let opens = matches!(name, "each" | "with") && h.block_param.is_none();
                if let Some(body) = &h.template {
                    if opens {
                        let inner: Vec<&Value> = match h.params.first() {
                            Some(Parameter::Path(Path::Relative((_, raw)))) => {
                                match resolve(raw, stack) {
                                    Some(Ok(values)) => values
                                        .into_iter()
                                        .flat_map(|v| -> Vec<&Value> {
                                            match (name, v) {
                                                ("each", Value::Array(a)) => a.iter().collect(),
                                                ("each", Value::Object(m)) => m.values().collect(),
                                                ("each", _) => Vec::new(),
                                                _ => vec![v],
                                            }
                                        })
                                        .collect(),
                                    _ => Vec::new(),
                                }
                            }
                            _ => Vec::new(),
                        };
                        stack.push(inner);
                        walk(body, stack, out);
                        stack.pop();
                    } else if h.block_param.is_some() {
                        // Block parameters name values the walk does not
                        // follow: the body's own paths are not judged.
                        stack.push(Vec::new());
                        walk(body, stack, out);
                        stack.pop();
                    } else {
                        walk(body, stack, out);
                    }
                }
                if let Some(inverse) = &h.inverse {
                    walk(inverse, stack, out);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(source: &str, contexts: &[Value]) -> Vec<String> {
        let t = Template::compile(source).expect("template");
        unresolved(&t, contexts)
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    #[test]
    fn a_typo_in_a_branch_not_taken_is_found() {
        let ctx = json!({"enabled": {"trino": true}, "env": {"name": "dev"}});
        let found = problems(
            "{{#if enabled.airbyte}}{{env.nmae}}{{/if}}{{env.name}}",
            &[ctx],
        );
        assert_eq!(found, ["enabled.airbyte", "env.nmae"]);
    }

    #[test]
    fn scopes_follow_each_with_parent_and_root() {
        let ctx = json!({
            "domain": "d", "list": [{"name": "a", "ports": [1]}],
            "obj": {"x": {"y": 1}},
        });
        let ok = "{{#each list}}{{name}}{{../domain}}{{@root.domain}}{{@index}}{{#each ports}}{{this}}{{../name}}{{/each}}{{/each}}{{#with obj.x}}{{y}}{{/with}}{{concat domain \"x\"}}";
        assert!(problems(ok, std::slice::from_ref(&ctx)).is_empty());
        let bad = "{{#each list}}{{nmae}}{{../domian}}{{/each}}{{concat domian \"x\"}}";
        assert_eq!(problems(bad, &[ctx]), ["../domian", "domian", "nmae"]);
    }

    #[test]
    fn a_field_of_any_context_counts() {
        let found = problems(
            "{{env.size.workers}}",
            &[json!({"env": {}}), json!({"env": {"size": {"workers": 2}}})],
        );
        assert!(found.is_empty(), "{found:?}");
    }
}
