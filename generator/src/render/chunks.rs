//! Compiling a template in pieces.
//!
//! The Handlebars compiler matches plain text one character at a time and
//! records each token's line by scanning the template from its first byte,
//! so compiling cost grows with the square of a template's length and was
//! the largest part of `socle new`'s time. A template is therefore cut at
//! lines where nothing can join across the cut: runs of plain text become
//! raw-text elements directly, the rest compiles piece by piece, and the
//! pieces' elements are joined, their line numbers moved back to where they
//! are in the whole template.
//!
//! A line is *settled* when no block, comment or expression is open at its
//! start, it holds no `{{` or `}}`, and it is not blank. A cut is made only
//! between two settled lines: the pieces are whole templates, and no
//! whitespace control (`~`, which eats blank lines too) or standalone-line
//! trimming reaches across a cut, so a cut only splits one run of text into
//! two, which render to the same bytes.
//!
//! Templates with raw blocks (`{{{{`) are never cut. A piece that does not
//! compile falls back to compiling the whole template, so an error is
//! reported as the whole template gives it.

use std::ops::Range;

use handlebars::template::{Template, TemplateElement, TemplateMapping};
use handlebars::TemplateError;

/// `text` compiled, as [`Template::compile_with_name`] compiles it.
pub(crate) fn compile(text: &str, name: String) -> Result<Template, TemplateError> {
    let pieces = pieces(text);
    let Some(proto) = mapping_prototype().filter(|_| pieces.len() > 1) else {
        return Template::compile_with_name(text, name);
    };
    let mut whole = Template::new();
    whole.name = Some(name.clone());
    let mut line = 0;
    for (range, plain) in pieces {
        let piece = &text[range];
        if plain {
            let mut at = proto.clone();
            (at.0, at.1) = (line + 1, 1);
            whole
                .elements
                .push(TemplateElement::RawString(piece.to_owned()));
            whole.mapping.push(at);
        } else {
            let Ok(mut part) = Template::compile(piece) else {
                return Template::compile_with_name(text, name);
            };
            shift(&mut part, line);
            whole.elements.append(&mut part.elements);
            whole.mapping.append(&mut part.mapping);
        }
        line += piece.matches('\n').count();
    }
    Ok(whole)
}

/// Handlebars keeps `TemplateMapping` closed to construction; a plain
/// piece's mapping is a copy of a one-character template's, moved.
fn mapping_prototype() -> Option<TemplateMapping> {
    Template::compile("x").ok()?.mapping.pop()
}

/// `text` as consecutive pieces: (byte range, whether it is plain text).
fn pieces(text: &str) -> Vec<(Range<usize>, bool)> {
    if text.contains("{{{{") {
        return vec![(0..text.len(), false)];
    }
    // Each line's range and whether it is settled.
    let mut lines: Vec<(Range<usize>, bool)> = Vec::new();
    let mut depth: i64 = 0;
    let mut open = Open::None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let settled = open == Open::None
            && depth == 0
            && !line.contains("{{")
            && !line.contains("}}")
            && !line.trim().is_empty();
        scan(line, &mut depth, &mut open);
        if depth < 0 {
            // More closings than openings: leave it to the compiler to say.
            return vec![(0..text.len(), false)];
        }
        lines.push((offset..offset + line.len(), settled));
        offset += line.len();
    }
    // A line is plain text on its own when a cut may be made before it
    // (after a settled line, or at the start) and after it (before a
    // settled line, or at the end).
    let mut out: Vec<(Range<usize>, bool)> = Vec::new();
    for (i, (range, settled)) in lines.iter().enumerate() {
        let after_cut = i == 0 || lines[i - 1].1;
        let before_cut = lines.get(i + 1).is_none_or(|l| l.1);
        let plain = *settled && after_cut && before_cut;
        match out.last_mut() {
            // Plain runs join; code joins code unless a cut separates them.
            Some((last, last_plain))
                if *last_plain == plain && (plain || !(lines[i - 1].1 && *settled)) =>
            {
                last.end = range.end;
            }
            _ => out.push((range.clone(), plain)),
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    /// Inside `{{ … }}`.
    Mustache,
    /// Inside `{{!-- … --}}`.
    LongComment,
}

/// Follow the mustaches of one line: which are open at its end, and the
/// block depth (`{{#…}}` and `{{^name}}` open a block, `{{/…}}` closes one).
fn scan(line: &str, depth: &mut i64, open: &mut Open) {
    let mut rest = line;
    loop {
        match *open {
            Open::LongComment => match rest.find("--}}") {
                Some(i) => {
                    rest = &rest[i + 4..];
                    *open = Open::None;
                }
                None => return,
            },
            Open::Mustache => match rest.find("}}") {
                Some(i) => {
                    rest = &rest[i + 2..];
                    *open = Open::None;
                }
                None => return,
            },
            Open::None => {
                let Some(i) = rest.find("{{") else { return };
                let tag = rest[i + 2..].trim_start_matches('~');
                if let Some(comment) = tag.strip_prefix("!--") {
                    *open = Open::LongComment;
                    rest = comment;
                    continue;
                }
                if tag.starts_with('#') {
                    *depth += 1;
                } else if tag.starts_with('/') {
                    *depth -= 1;
                } else if let Some(after) = tag.strip_prefix('^') {
                    // `{{^}}` is `else`; `{{^name}}` opens an inverse block.
                    if !after.trim_start_matches('~').trim_start().starts_with("}}") {
                        *depth += 1;
                    }
                }
                *open = Open::Mustache;
                rest = tag;
            }
        }
    }
}

/// Move every line number of `t` (and of the blocks inside it) down by `by`.
fn shift(t: &mut Template, by: usize) {
    for m in &mut t.mapping {
        m.0 += by;
    }
    for e in &mut t.elements {
        match e {
            TemplateElement::HtmlExpression(h)
            | TemplateElement::Expression(h)
            | TemplateElement::HelperBlock(h) => {
                for inner in [&mut h.template, &mut h.inverse].into_iter().flatten() {
                    shift(inner, by);
                }
            }
            TemplateElement::DecoratorExpression(d)
            | TemplateElement::DecoratorBlock(d)
            | TemplateElement::PartialExpression(d)
            | TemplateElement::PartialBlock(d) => {
                if let Some(inner) = &mut d.template {
                    shift(inner, by);
                }
            }
            // Plain text, and kinds a later Handlebars may add: at worst an
            // error in one of those would name its line within its piece.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use handlebars::Handlebars;
    use serde_json::json;

    fn render(t: Template, data: &serde_json::Value) -> String {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_template("t", t);
        hb.render("t", data)
            .unwrap_or_else(|e| format!("ERROR {e}"))
    }

    fn long(body: &str) -> String {
        let filler = "plain text line, nothing to expand here\n".repeat(60);
        format!("{filler}{body}{filler}{body}{filler}")
    }

    #[test]
    fn pieces_render_what_the_whole_renders() {
        let data = json!({"a": true, "xs": [1, 2], "name": "n"});
        for body in [
            "{{#if a}}\n  yes\n{{else}}\n  no\n{{/if}}\n",
            "{{#each xs}}\n- {{this}}\n{{/each}}\n",
            "  {{~name~}}  \nafter\n",
            "{{name~}}\n\n   \n\n{{~name}}\n",
            "{{!-- a comment\nwith {{#if}} inside\n--}}\nx\n",
            "{{#unless a}}\nnone\n{{/unless}}\n",
            "{{#if a}}\n\nplain\n\nplain\n\n{{/if}}\n",
            "\\{{escaped}}\n",
        ] {
            let text = long(body);
            assert!(pieces(&text).len() > 1, "{body:?} is not cut");
            let whole = Template::compile(&text).expect("compiles");
            let pieces = compile(&text, "t".into()).expect("compiles");
            assert_eq!(render(pieces, &data), render(whole, &data), "{body:?}");
        }
    }

    #[test]
    fn no_cut_inside_a_block_or_a_comment_or_next_to_blank_lines() {
        let filler = "line\n".repeat(1000);
        for text in [
            format!("{{{{#if a}}}}\n{filler}{{{{/if}}}}\n"),
            format!("{{{{!--\n{filler}--}}}}\n"),
            format!("{{{{{{{{raw}}}}}}}}\n{filler}{{{{{{{{/raw}}}}}}}}\n"),
            format!("{{{{a~}}}}\n{}{{{{b}}}}\n", "\n".repeat(1000)),
        ] {
            assert_eq!(pieces(&text).len(), 1, "{text:.40}");
        }
    }

    #[test]
    fn a_render_error_names_its_line_in_the_whole_template() {
        let text = long("{{missing}}\n");
        let line = text.lines().position(|l| l == "{{missing}}").map(|i| i + 1);
        assert!(pieces(&text).len() > 2);
        let whole = Template::compile_with_name(&text, "t".to_owned()).expect("compiles");
        let whole = render(whole, &json!({}));
        let pieces = render(compile(&text, "t".into()).expect("compiles"), &json!({}));
        assert_eq!(pieces, whole);
        assert!(
            whole.contains(&format!("line {}", line.unwrap_or(0))),
            "{whole}"
        );
    }

    /// Runs of raw text joined into one element, recursively: the form in
    /// which a template compiled in pieces and compiled whole must agree.
    fn joined(t: &Template) -> Vec<(TemplateElement, Option<usize>)> {
        let mut out: Vec<(TemplateElement, Option<usize>)> = Vec::new();
        for (e, m) in t.elements.iter().zip(&t.mapping) {
            let mut e = e.clone();
            match &mut e {
                TemplateElement::RawString(s) => {
                    if let Some((TemplateElement::RawString(prev), _)) = out.last_mut() {
                        prev.push_str(s);
                        continue;
                    }
                    out.push((e, None));
                    continue;
                }
                TemplateElement::HtmlExpression(h)
                | TemplateElement::Expression(h)
                | TemplateElement::HelperBlock(h) => {
                    for inner in [&mut h.template, &mut h.inverse].into_iter().flatten() {
                        let parts = joined(inner);
                        inner.mapping.clear();
                        inner.elements = parts.into_iter().map(|(e, _)| e).collect();
                    }
                }
                _ => {}
            }
            out.push((e, Some(m.0)));
        }
        out
    }

    #[test]
    fn every_blueprint_template_compiles_in_pieces_to_what_it_compiles_whole() {
        let blueprint = crate::source::Tree::embedded_blueprint();
        let (mut templates, mut cut) = (0, 0);
        let files = blueprint
            .under("templates")
            .chain(blueprint.under("components"));
        for (path, bytes) in files {
            let Some(text) = path
                .ends_with(".hbs")
                .then(|| std::str::from_utf8(bytes).ok())
                .flatten()
            else {
                continue;
            };
            templates += 1;
            cut += usize::from(pieces(text).len() > 1);
            let whole = Template::compile(text).expect("compiles");
            let pieces = compile(text, path.to_owned()).expect("compiles");
            assert_eq!(joined(&pieces), joined(&whole), "{path}");
        }
        assert!(
            templates > 100 && cut * 2 > templates,
            "{cut} of {templates} cut"
        );
    }
}
