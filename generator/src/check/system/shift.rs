//! An environment's judgement carried over a commit that only moved
//! documents within their files.
//!
//! The system rules' input places everything it names (`at`: a file and
//! the line its document starts on), and the rules never compute with
//! those lines: they copy them into each finding's place and into the
//! `file:line` of its message, and they order places by them, which a
//! move that keeps each file's documents in order keeps. A commit that
//! adds a line to a file's first document (a label, an annotation) moves
//! every later document of that file, so the input's text changes
//! although nothing the rules judge did; in a range such commits are most
//! of the commits that touch a manifest. When the two inputs are the same
//! text but for the lines of their places, the earlier findings are this
//! input's, with each place's line (in the finding and in its message)
//! moved as its document moved.

use std::collections::HashMap;

use crate::check::finding::Finding;

/// The key of a place's line in the input's JSON (`input::At`, whose
/// `file` comes right before it).
const LINE: &str = "\"line\":";
const FILE: &str = "\"file\":\"";

/// Where each document that moved now starts: file → old line → new line.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Moved(HashMap<String, HashMap<usize, usize>>);

/// How `new` places what `old` placed, when the two inputs differ in the
/// lines of their places alone; `None` when anything else differs, a
/// place of one line moved to two, or a file's documents changed order.
pub(crate) fn moved(old: &str, new: &str) -> Option<Moved> {
    // Every place of the new input, by its file (as JSON text) and old
    // line: one document cannot start on two lines.
    let mut places: HashMap<(&str, usize), usize> = HashMap::new();
    let (mut o, mut n) = (old, new);
    loop {
        match (o.find(LINE), n.find(LINE)) {
            (None, None) => break,
            (Some(a), Some(b)) => {
                if o[..a] != n[..b] {
                    return None;
                }
                let (lo, rest_o) = digits(&o[a + LINE.len()..]);
                let (ln, rest_n) = digits(&n[b + LINE.len()..]);
                let place = file_before(&n[..b])
                    .zip(lo.parse::<usize>().ok())
                    .zip(ln.parse::<usize>().ok());
                if let Some(((file, from), to)) = place {
                    if *places.entry((file, from)).or_insert(to) != to {
                        return None;
                    }
                } else if lo != ln {
                    // Not a place's line: a number the rules may read,
                    // which must be the same.
                    return None;
                }
                o = rest_o;
                n = rest_n;
            }
            _ => return None,
        }
    }
    if o != n {
        return None;
    }
    // Each file's documents keep their order: the rules order places (a
    // set's first element, the earliest of several), and a file whose
    // documents were reordered could change which one they pick.
    let mut in_order: Vec<(&str, usize, usize)> = places
        .iter()
        .map(|(&(file, from), &to)| (file, from, to))
        .collect();
    in_order.sort_unstable();
    if in_order
        .windows(2)
        .any(|w| w[0].0 == w[1].0 && w[0].2 >= w[1].2)
    {
        return None;
    }
    let mut moved: HashMap<String, HashMap<usize, usize>> = HashMap::new();
    for (file, from, to) in in_order {
        if from != to {
            let file: String = serde_json::from_str(&format!("\"{file}\"")).ok()?;
            moved.entry(file).or_default().insert(from, to);
        }
    }
    Some(Moved(moved))
}

/// The leading ASCII digits of `s`, and the rest.
fn digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// The file of the place whose line follows `before`: the JSON string
/// that `"file":"…",` ends it with, as JSON text.
fn file_before(before: &str) -> Option<&str> {
    let body = before.strip_suffix("\",")?;
    let start = body.rfind(FILE)? + FILE.len();
    let file = &body[start..];
    // No quote that is not escaped: the string does end here.
    let mut escaped = false;
    for c in file.chars() {
        match c {
            '"' if !escaped => return None,
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
    }
    (!escaped).then_some(file)
}

/// `found` (an earlier judgement) placed as [`Moved`] says: each finding's
/// line, and each `file:line` of its message naming a place that moved.
pub(crate) fn placed(found: &[(Finding, String)], moved: &Moved) -> Vec<(Finding, String)> {
    found
        .iter()
        .map(|(f, pointer)| {
            let mut f = f.clone();
            if let Some(to) = f
                .line
                .and_then(|l| moved.0.get(&f.file).and_then(|m| m.get(&l)))
            {
                f.line = Some(*to);
            }
            for (file, lines) in &moved.0 {
                if f.message.contains(file.as_str()) {
                    f.message = moved_in(&f.message, file, lines);
                }
            }
            (f, pointer.clone())
        })
        .collect()
}

/// `text` with each `file:N` whose N moved written with its new line, in
/// one pass (a line moved onto another that moved too is not moved twice).
fn moved_in(text: &str, file: &str, lines: &HashMap<usize, usize>) -> String {
    let needle = format!("{file}:");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&needle) {
        let after = at + needle.len();
        out.push_str(&rest[..after]);
        let (number, tail) = digits(&rest[after..]);
        // Another path ending like this one (`x/a.yaml` for `a.yaml`)
        // is not this file.
        let whole = text_before(text, rest, at)
            .is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '/' | '.' | '-' | '_')));
        match number.parse::<usize>().ok().and_then(|n| lines.get(&n)) {
            Some(to) if whole => out.push_str(&to.to_string()),
            _ => out.push_str(number),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// The character before `rest[at..]` in `text`, of which `rest` is a
/// tail.
fn text_before(text: &str, rest: &str, at: usize) -> Option<char> {
    let offset = text.len() - rest.len() + at;
    text[..offset].chars().next_back()
}

#[cfg(test)]
mod tests {
    use super::{moved, placed};
    use crate::check::finding::{Finding, Severity};

    fn at(file: &str, line: usize) -> String {
        format!(
            "{{\"file\":{},\"line\":{line},\"pointer\":\"/spec\"}}",
            serde_json::json!(file)
        )
    }

    #[test]
    fn inputs_differing_in_their_places_lines_alone_carry_findings_over() {
        let old = format!(
            "{{\"apps\":[{{\"at\":{}}},{{\"at\":{}}},{{\"at\":{}}}],\"projects\":[{{\"at\":{}}}]}}",
            at("a.yaml", 1),
            at("a.yaml", 12),
            at("b \"q\".yaml", 5),
            at("a.yaml", 12)
        );
        let new = old
            .replace("\"line\":12", "\"line\":13")
            .replace("\"line\":5", "\"line\":6");
        let m = moved(&old, &new).expect("only lines differ");
        let found = vec![
            (
                Finding::new(
                    "SOC-SYS-001",
                    Severity::Deny,
                    "a.yaml",
                    Some(12),
                    "app at a.yaml:12 is refused by its project (a.yaml:12; a.yaml:1; a.yaml:120; b/a.yaml:12)",
                ),
                "/spec".to_owned(),
            ),
            (
                Finding::new("SOC-SYS-002", Severity::Warn, "b \"q\".yaml", Some(5), "x"),
                String::new(),
            ),
        ];
        let now = placed(&found, &m);
        assert_eq!(now[0].0.line, Some(13));
        assert_eq!(
            now[0].0.message,
            "app at a.yaml:13 is refused by its project (a.yaml:13; a.yaml:1; a.yaml:120; b/a.yaml:12)"
        );
        assert_eq!(now[1].0.line, Some(6));
        assert_eq!(now[0].1, "/spec");
    }

    #[test]
    fn anything_but_a_place_s_line_differing_is_a_new_input() {
        let old = format!("{{\"a\":{},\"wave\":2}}", at("a.yaml", 3));
        // Another value.
        assert!(moved(&old, &old.replace("\"wave\":2", "\"wave\":3")).is_none());
        // A number named line that is not a place's.
        let odd = "{\"x\":{\"line\":4}}";
        assert!(moved(odd, &odd.replace('4', "5")).is_none());
        assert_eq!(moved(odd, odd), Some(Default::default()));
        // A pointer.
        assert!(moved(&old, &old.replace("/spec", "/metadata")).is_none());
        // One document moved to two places.
        let two = format!("[{},{}]", at("a.yaml", 3), at("a.yaml", 3));
        let split = format!("[{},{}]", at("a.yaml", 4), at("a.yaml", 5));
        assert!(moved(&two, &split).is_none());
        // Two documents of a file swapped.
        let pair = format!("[{},{}]", at("a.yaml", 3), at("a.yaml", 8));
        let swapped = format!("[{},{}]", at("a.yaml", 9), at("a.yaml", 2));
        assert!(moved(&pair, &swapped).is_none());
        // Two documents that became one.
        assert!(moved(&pair, &format!("[{},{}]", at("a.yaml", 3), at("a.yaml", 3))).is_none());
        // A place more.
        assert!(moved(
            &two,
            &format!(
                "[{},{},{}]",
                at("a.yaml", 3),
                at("a.yaml", 3),
                at("a.yaml", 3)
            )
        )
        .is_none());
    }
}
