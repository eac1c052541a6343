//! Maps JSON pointers to lines of a YAML text.
//!
//! A parsed value forgets its positions, and schema errors only know the
//! JSON pointer of the failing value. A second pass over the parser's events
//! (the parser `serde-saphyr` reads with, so both agree on every line)
//! records where each node starts, so an error can say `socle.yaml:12`
//! instead of leaving the user to hunt for the field.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, Span};

#[derive(Debug, Default, Clone)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

enum Frame {
    Map { key: Option<String>, want_key: bool },
    Seq { index: usize },
}

#[derive(Default)]
struct Collector {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
    docs: usize,
}

impl Collector {
    fn pointer(&self) -> String {
        let mut out = String::new();
        for frame in &self.stack {
            match frame {
                Frame::Map { key: Some(k), .. } => {
                    out.push('/');
                    out.push_str(&k.replace('~', "~0").replace('/', "~1"));
                }
                Frame::Map { key: None, .. } => {}
                Frame::Seq { index } => out.push_str(&format!("/{index}")),
            }
        }
        out
    }

    /// Called when a node (scalar or container start) appears.
    /// Returns false when the node is a mapping key rather than a value.
    fn node_starts(&mut self, span: Span, key_text: Option<&str>) -> bool {
        let line = span.start.line();
        if let Some(Frame::Map { key, want_key }) = self.stack.last_mut() {
            if *want_key {
                *key = Some(key_text.unwrap_or("").to_owned());
                *want_key = false;
                let ptr = self.pointer();
                self.lines.entry(ptr).or_insert(line);
                return false;
            }
        }
        let ptr = self.pointer();
        self.lines.entry(ptr).or_insert(line);
        true
    }

    fn node_ends(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { want_key, .. }) => *want_key = true,
            Some(Frame::Seq { index }) => *index += 1,
            None => {}
        }
    }
}

impl Collector {
    /// Takes one event; false once the first document is done.
    fn on_event(&mut self, ev: Event, span: Span) -> bool {
        match ev {
            Event::DocumentStart(..) => {
                self.docs += 1;
                if self.docs > 1 {
                    return false;
                }
            }
            Event::DocumentEnd | Event::StreamEnd => return false,
            Event::Scalar(text, ..) if self.node_starts(span, Some(text.as_ref())) => {
                self.node_ends()
            }
            Event::Alias(_) | Event::UnresolvedAlias(_) if self.node_starts(span, None) => {
                self.node_ends()
            }
            Event::MappingStart(..) => {
                self.node_starts(span, None);
                self.stack.push(Frame::Map {
                    key: None,
                    want_key: true,
                });
            }
            Event::SequenceStart(..) => {
                self.node_starts(span, None);
                self.stack.push(Frame::Seq { index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.node_ends();
            }
            _ => {}
        }
        true
    }
}

impl LineIndex {
    /// Index the first document of `text`. A text the parser rejects yields
    /// an empty index: callers report the parse error separately.
    pub fn new(text: &str) -> Self {
        let mut collector = Collector::default();
        for event in Parser::new_from_str(text) {
            match event {
                Ok((ev, span)) => {
                    if !collector.on_event(ev, span) {
                        break;
                    }
                }
                Err(_) => return Self::default(),
            }
        }
        Self {
            lines: collector.lines,
        }
    }

    /// The 1-based line of the node at exactly `pointer`, if it exists.
    pub fn exact(&self, pointer: &str) -> Option<usize> {
        self.lines.get(pointer).copied()
    }

    /// The 1-based line of the node at `pointer`, or of its closest ancestor
    /// that exists (a missing field is reported at its parent); none for the
    /// document itself, whose first line says nothing about the problem.
    pub fn line_of(&self, pointer: &str) -> Option<usize> {
        let mut p = pointer;
        loop {
            if p.is_empty() {
                return None;
            }
            if let Some(line) = self.lines.get(p) {
                return Some(*line);
            }
            p = match p.rfind('/') {
                Some(i) => &p[..i],
                None => "",
            };
        }
    }
}

/// The scalars of the first document of `text` that carry a local tag
/// (`!env_var NAME`, `!secret key`, `!Ref Param`): their JSON pointer and
/// the tag as written. Such a value is what the application reading the
/// file builds from the scalar (an environment variable, an entry of its
/// secrets file, a template parameter), never the literal it spells. Empty
/// when the parser rejects the text.
pub(crate) fn locally_tagged(text: &str) -> Vec<(String, String)> {
    values_where(text, |ev| match ev {
        Event::Scalar(.., Some(tag)) if tag.handle() == "!" => Some(format!("!{}", tag.suffix())),
        _ => None,
    })
}

/// The values (not keys) of the first document of `text` for which `pick`
/// says something, by JSON pointer. Empty when the parser rejects the text.
fn values_where<T>(text: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> Vec<(String, T)> {
    let mut collector = Collector::default();
    let mut out = Vec::new();
    for event in Parser::new_from_str(text) {
        let Ok((ev, span)) = event else {
            return Vec::new();
        };
        let picked = pick(&ev);
        let value = matches!(
            collector.stack.last(),
            Some(Frame::Seq { .. })
                | Some(Frame::Map {
                    want_key: false,
                    ..
                })
                | None
        );
        let pointer = picked
            .as_ref()
            .filter(|_| value)
            .map(|_| collector.pointer());
        if !collector.on_event(ev, span) {
            break;
        }
        if let (Some(picked), Some(pointer)) = (picked, pointer) {
            out.push((pointer, picked));
        }
    }
    out
}

/// The plain scalars of the first document of `text` that YAML 1.1 reads
/// as other than YAML 1.2 does, with the value YAML 1.1 gives them:
/// `0755` (octal, 493), `1_000` (1000), `yes`/`no`/`on`/`off`/`y`/`n`
/// (booleans). kubectl, Argo CD and Helm read manifests with a YAML 1.1
/// library (go-yaml v2, through sigs.k8s.io/yaml) into untyped objects, so
/// the API server receives those values, not the strings YAML 1.2 reads.
/// Keys are left as they are. Empty when the parser rejects the text.
pub(crate) fn yaml11_scalars(text: &str) -> Vec<(String, serde_json::Value)> {
    use serde_saphyr::granit_parser::ScalarStyle;
    values_where(text, |ev| match ev {
        Event::Scalar(plain, ScalarStyle::Plain, _, None) => yaml11_value(plain),
        _ => None,
    })
}

/// What go-yaml v2 makes of a plain scalar YAML 1.2 reads as a string: its
/// booleans, and the integers `strconv.ParseInt(s, 0, 64)` reads once
/// underscores are taken out (a leading `0` is octal; `08`, no octal,
/// falls back to a float as go-yaml does).
fn yaml11_value(plain: &str) -> Option<serde_json::Value> {
    use serde_json::Value;
    match plain {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Some(Value::Bool(true)),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Some(Value::Bool(false)),
        _ => {}
    }
    let (negative, unsigned) = match plain.as_bytes().first()? {
        b'-' => (true, &plain[1..]),
        b'+' => (false, &plain[1..]),
        _ => (false, plain),
    };
    let digits: String = unsigned.chars().filter(|c| *c != '_').collect();
    let legacy =
        digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit());
    let underscored =
        unsigned.contains('_') && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.is_empty();
    if !legacy && !underscored {
        return None;
    }
    let sign = if negative { -1 } else { 1 };
    if legacy {
        if let Ok(v) = i64::from_str_radix(&digits[1..], 8) {
            return Some(Value::from(sign * v));
        }
        return digits
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(if negative { -f } else { f }))
            .map(Value::Number);
    }
    digits.parse::<i64>().ok().map(|v| Value::from(sign * v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_reads_octals_underscores_and_word_booleans() {
        let text = "mode: 0755\nplain: 755\nquoted: \"0644\"\nbig: 1_000\nflag: yes\nlist: [off, \"no\", y]\nyes: 1\neight: 08\nneg: -010\n";
        let found: Vec<(String, serde_json::Value)> = yaml11_scalars(text);
        assert_eq!(
            found,
            [
                ("/mode".to_owned(), serde_json::json!(493)),
                ("/big".to_owned(), serde_json::json!(1000)),
                ("/flag".to_owned(), serde_json::json!(true)),
                ("/list/0".to_owned(), serde_json::json!(false)),
                ("/list/2".to_owned(), serde_json::json!(true)),
                ("/eight".to_owned(), serde_json::json!(8.0)),
                ("/neg".to_owned(), serde_json::json!(-8)),
            ]
        );
    }

    #[test]
    fn local_tags_are_found_on_values_only() {
        let text = "a: !env_var KEY\nb:\n  - !secret db_password\n  - plain\n!k x: 1\nc: !!str 5\n";
        assert_eq!(
            locally_tagged(text),
            [
                ("/a".to_owned(), "!env_var".to_owned()),
                ("/b/0".to_owned(), "!secret".to_owned())
            ]
        );
        assert!(locally_tagged("a: [\n").is_empty());
    }

    #[test]
    fn finds_lines_of_nested_fields() {
        let text = "a: 1\nb:\n  c: x\n  d:\n    - p\n    - q: 2\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.line_of("/a"), Some(1));
        assert_eq!(idx.line_of("/b/c"), Some(3));
        assert_eq!(idx.line_of("/b/d/1"), Some(6));
        assert_eq!(idx.line_of("/b/d/1/q"), Some(6));
        assert_eq!(idx.line_of("/b/missing"), Some(2));
    }

    #[test]
    fn keys_in_flow_collections_and_only_the_first_document() {
        let text = "# c\na: {x: 1,\n  y: [p,\n    q]}\n---\nz: 1\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.exact("/a"), Some(2));
        assert_eq!(idx.exact("/a/y"), Some(3));
        assert_eq!(idx.exact("/a/y/1"), Some(4));
        assert_eq!(idx.exact("/z"), None);
        assert_eq!(LineIndex::new("a: [\n").exact("/a"), None);
    }
}
