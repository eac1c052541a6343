//! The one YAML stack: reading through `serde-saphyr` (its parser,
//! `granit-parser`, also gives [`crate::locate`] its events and spans) and
//! writing through a small emitter of our own.
//!
//! Reading keeps the YAML 1.2 core schema files have always been read with:
//! `yes`/`on` and `0755` stay strings, `1_000` is not a number, and a
//! duplicate key is an error. Writing reproduces, byte for byte, the block
//! style generated repositories have always had, so a re-render changes no
//! file.

use serde::de::DeserializeOwned;
use serde_json::Value;

pub(crate) use serde_saphyr::Error;

/// Options shared by every read of a text of `len` bytes. `merge`
/// resolves `<<` merge keys (the Kubernetes manifests `check` reads may use
/// them); elsewhere `<<` is an ordinary key, which the schema of the file
/// then names.
fn options(merge: bool, len: usize) -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.strict_booleans = true;
    o.leading_zero_numbers_as_strings = true;
    o.underscored_numbers_as_strings = true;
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    o.merge_keys = if merge {
        serde_saphyr::MergeKeyPolicy::Merge
    } else {
        serde_saphyr::MergeKeyPolicy::AsOrdinary
    };
    // `.nan` and `.inf` read as they always have: JSON values hold them as null.
    o.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
    // Messages are one line; callers name the file and line themselves.
    o.with_snippet = false;
    o.crop_radius = 0;
    o.budget = Some(budget(len));
    o
}

/// The parser's budget. What a text may cost is already bounded by its size
/// (a spec is at most 1 MiB, a checked document 3 MiB), so node, event and
/// document counts follow the size: a node takes at least half a byte of
/// text (`{a,b}`), and a text that size allows is never refused for its
/// count. Aliases keep the default limits, which stop an alias bomb that a
/// small text could expand without end. Depth stops at 128, where reading
/// stopped before.
fn budget(len: usize) -> serde_saphyr::Budget {
    let mut b = serde_saphyr::Budget::default();
    let nodes = len.saturating_mul(2).saturating_add(1024);
    b.max_nodes = b.max_nodes.max(nodes);
    b.max_events = b.max_events.max(nodes.saturating_mul(2));
    b.max_documents = b.max_documents.max(len / 4 + 1);
    b.max_depth = 128;
    b
}

/// One document of `text`.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_saphyr::from_str_with_options(text, options(false, text.len()))
}

/// One document of `bytes` (UTF-8).
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_saphyr::from_slice_with_options(bytes, options(false, bytes.len()))
}

/// One document, `<<` merge keys resolved.
pub(crate) fn from_str_merged<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_saphyr::from_str_with_options(text, options(true, text.len()))
}

/// Every document of a stream.
pub(crate) fn from_multiple<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, Error> {
    serde_saphyr::from_multiple_with_options(text, options(false, text.len()))
}

/// Every document of a stream, `<<` merge keys resolved.
pub(crate) fn from_multiple_merged<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, Error> {
    serde_saphyr::from_multiple_with_options(text, options(true, text.len()))
}

/// The 1-based line an error points at, if it knows one.
pub(crate) fn error_line(e: &Error) -> Option<usize> {
    e.location()
        .map(|l| l.line())
        .filter(|l| *l > 0)
        .and_then(|l| usize::try_from(l).ok())
}

/// An error as a user reads it (`at line L, column C` included): the
/// parser's wording for users, without its hints to programmers about
/// parser options.
pub(crate) fn describe(e: &Error) -> String {
    e.render_with_formatter(&serde_saphyr::UserMessageFormatter)
}

/// An error's message without the position it appends: callers report the
/// position in their own `file:line` form.
pub(crate) fn error_message(e: &Error) -> String {
    let text = describe(e);
    let cut = [" at line ", " (defined at line ", " (used at line "]
        .iter()
        .filter_map(|m| text.find(m))
        .min();
    match cut {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// `value` as a YAML document in block style, ending with a newline.
pub(crate) fn to_string(value: &Value) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
    };
    e.node(value, -1, false, false);
    // The document's end.
    e.write_indent(-1);
    e.out
}

/// The block emitter. Its rules (indentation, when a scalar is plain,
/// single-quoted, double-quoted or a literal block) are libyaml's, which
/// wrote every file socle has rendered so far.
struct Emitter {
    out: String,
    column: usize,
    /// The last character written is a space or an indentation.
    whitespace: bool,
    /// Only indentation has been written on the current line.
    indention: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// A line break inside a scalar: `\n` as the output's line break, any
    /// other (U+2028, U+2029) copied.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_indent(&mut self, indent: i32) {
        let indent = usize::try_from(indent).unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in indicator.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    /// A node whose parent has indentation `indent` (-1 for the document).
    fn node(&mut self, value: &Value, indent: i32, mapping: bool, simple_key: bool) {
        match value {
            Value::Object(m) if !m.is_empty() => self.block_mapping(m, indent),
            Value::Array(a) if !a.is_empty() => self.block_sequence(a, indent, mapping),
            Value::Object(_) => self.empty_flow("{", "}"),
            Value::Array(_) => self.empty_flow("[", "]"),
            Value::Null => self.scalar("null", Style::Plain, indent, simple_key),
            Value::Bool(b) => self.scalar(
                if *b { "true" } else { "false" },
                Style::Plain,
                indent,
                simple_key,
            ),
            Value::Number(n) => self.scalar(&number(n), Style::Plain, indent, simple_key),
            Value::String(s) => self.scalar(s, requested_style(s), indent, simple_key),
        }
    }

    fn empty_flow(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.write_indicator(close, false, false, false);
    }

    fn block_sequence(&mut self, items: &[Value], parent: i32, mapping: bool) {
        // A sequence that is a mapping's value sits at the mapping's own
        // indentation (`key:` then `- item`).
        let indentless = mapping && !self.indention;
        let indent = if parent < 0 {
            0
        } else if indentless {
            parent
        } else {
            parent + 2
        };
        for item in items {
            self.write_indent(indent);
            self.write_indicator("-", true, false, true);
            self.node(item, indent, false, false);
        }
    }

    fn block_mapping(&mut self, map: &serde_json::Map<String, Value>, parent: i32) {
        let indent = if parent < 0 { 0 } else { parent + 2 };
        for (key, value) in map {
            self.write_indent(indent);
            let analysis = analyze(key);
            // A key longer than 128 bytes or over several lines is written
            // in the explicit `? key` form.
            if !analysis.multiline && key.len() <= 128 {
                self.scalar(key, requested_style(key), indent, true);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.scalar(key, requested_style(key), indent, false);
                self.write_indent(indent);
                self.write_indicator(":", true, false, true);
            }
            self.node(value, indent, true, false);
        }
    }

    fn scalar(&mut self, text: &str, requested: Style, parent: i32, simple_key: bool) {
        let a = analyze(text);
        let mut style = requested;
        if simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.block_plain_allowed || (text.is_empty() && simple_key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || simple_key) {
            style = Style::Double;
        }
        let indent = if parent < 0 { 2 } else { parent + 2 };
        match style {
            Style::Plain => self.write_plain(text),
            Style::Single => self.write_single_quoted(text, indent),
            Style::Double => self.write_double_quoted(text),
            Style::Literal => self.write_literal(text, indent),
        }
    }

    fn write_plain(&mut self, text: &str) {
        if !self.whitespace && !text.is_empty() {
            self.put(' ');
        }
        for c in text.chars() {
            self.put(c);
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, text: &str, indent: i32) {
        self.write_indicator("'", true, false, false);
        let mut breaks = false;
        for c in text.chars() {
            if c == ' ' {
                self.put(c);
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
        if breaks {
            self.write_indent(indent);
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, text: &str) {
        self.write_indicator("\"", true, false, false);
        for c in text.chars() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let code = u32::from(c);
                let short = match code {
                    0x00 => Some('0'),
                    0x07 => Some('a'),
                    0x08 => Some('b'),
                    0x09 => Some('t'),
                    0x0A => Some('n'),
                    0x0B => Some('v'),
                    0x0C => Some('f'),
                    0x0D => Some('r'),
                    0x1B => Some('e'),
                    0x22 => Some('"'),
                    0x5C => Some('\\'),
                    0x85 => Some('N'),
                    0xA0 => Some('_'),
                    0x2028 => Some('L'),
                    0x2029 => Some('P'),
                    _ => None,
                };
                let escaped = match short {
                    Some(s) => s.to_string(),
                    None if code <= 0xFF => format!("x{code:02X}"),
                    None if code <= 0xFFFF => format!("u{code:04X}"),
                    None => format!("U{code:08X}"),
                };
                for e in escaped.chars() {
                    self.put(e);
                }
            } else {
                self.put(c);
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, text: &str, indent: i32) {
        self.write_indicator("|", true, false, false);
        let mut chars = text.chars();
        if chars.next().is_some_and(|c| c == ' ' || is_break(c)) {
            self.write_indicator("2", false, false, false);
        }
        let mut back = text.chars().rev();
        let chomp = match (back.next(), back.next()) {
            (None, _) => Some("-"),
            (Some(last), _) if !is_break(last) => Some("-"),
            (Some(_), None) => Some("+"),
            (Some(_), Some(before)) if is_break(before) => Some("+"),
            _ => None,
        };
        if let Some(chomp) = chomp {
            self.write_indicator(chomp, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in text.chars() {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// A number as rendered so far: `1e21`, not JSON's `1e+21`.
fn number(n: &serde_json::Number) -> String {
    let text = n.to_string();
    if n.is_f64() {
        text.replace("e+", "e")
    } else {
        text
    }
}

/// The style a string asks for: a literal block when it has lines, quotes
/// when plain it would read back as something other than a string.
fn requested_style(s: &str) -> Style {
    if s.contains('\n') {
        Style::Literal
    } else if reads_as_non_string(s) {
        Style::Single
    } else {
        Style::Plain
    }
}

/// Whether a plain scalar would read back as null, a boolean or a number
/// (YAML 1.2 core schema, `0x`/`0o`/`0b` integers), or is digits with a
/// leading zero, which some readers take for an octal number. YAML 1.1's
/// booleans (`no`, `on`...) are quoted too: PyYAML (docker-compose) and
/// go-yaml v2 still read them so (Compose's `restart: no` would be false).
fn reads_as_non_string(s: &str) -> bool {
    s.is_empty()
        || matches!(s, "~" | "null" | "Null" | "NULL")
        || matches!(s, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
        || matches!(
            s,
            "y" | "Y"
                | "yes"
                | "Yes"
                | "YES"
                | "n"
                | "N"
                | "no"
                | "No"
                | "NO"
                | "on"
                | "On"
                | "ON"
                | "off"
                | "Off"
                | "OFF"
        )
        || digits_but_not_number(s)
        || parse_unsigned_int(s)
        || parse_negative_int(s)
        || parse_f64(s)
}

fn digits_but_not_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    s.len() > 1 && s.starts_with('0') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

fn parse_unsigned_int(s: &str) -> bool {
    let unpositive = s.strip_prefix('+').unwrap_or(s);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return false;
            }
            if u128::from_str_radix(rest, radix).is_ok() {
                return true;
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(s) {
        return false;
    }
    unpositive.parse::<u128>().is_ok()
}

fn parse_negative_int(s: &str) -> bool {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = s.strip_prefix(prefix) {
            if i128::from_str_radix(&format!("-{rest}"), radix).is_ok() {
                return true;
            }
        }
    }
    !digits_but_not_number(s) && s.parse::<i128>().is_ok()
}

fn parse_f64(s: &str) -> bool {
    let unpositive = match s.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return false,
        Some(u) => u,
        None => s,
    };
    matches!(unpositive, ".inf" | ".Inf" | ".INF")
        || matches!(s, "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN")
        || unpositive.parse::<f64>().is_ok_and(f64::is_finite)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blankz(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c == ' ' || c == '\t' || c == '\0' || is_break(c),
    }
}

fn is_printable(c: char) -> bool {
    matches!(u32::from(c),
        0x0A | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
        && c != '\u{FEFF}'
}

struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// Which styles can hold `text` unchanged.
fn analyze(text: &str) -> Analysis {
    if text.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = text.starts_with("---") || text.starts_with("...");
    let mut line_breaks = false;
    let mut special = false;
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let chars: Vec<char> = text.chars().collect();
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = is_blankz(chars.get(i + 1).copied());
        let first = i == 0;
        let last = i + 1 == chars.len();
        if first {
            if "#,[]{}&*!|>'\"%@`".contains(c) || (c == '-' && followed_by_whitespace) {
                block_indicators = true;
            }
            if (c == '?' || c == ':') && followed_by_whitespace {
                block_indicators = true;
            }
        } else if (c == ':' && followed_by_whitespace) || (c == '#' && preceded_by_whitespace) {
            block_indicators = true;
        }
        if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            leading_space |= first;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            leading_break |= first;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blankz(Some(c));
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_style_as_rendered_before() {
        let v = json!({
            "requests": {"cpu": "100m", "memory": "1Gi"},
            "list": [1, "two", {"a": null, "b": [true]}, [], {}],
            "quoted": ["", "yes", "1.10", "0755", "null", "a: b", " x", "#c", "-"],
            "text": "line one\nline two\n",
            "float": 1.5,
        });
        assert_eq!(
            to_string(&v),
            "requests:\n  cpu: 100m\n  memory: 1Gi\nlist:\n- 1\n- two\n- a: null\n  b:\n  - true\n- []\n- {}\nquoted:\n- ''\n- 'yes'\n- '1.10'\n- '0755'\n- 'null'\n- 'a: b'\n- ' x'\n- '#c'\n- '-'\ntext: |\n  line one\n  line two\nfloat: 1.5\n"
        );
        assert_eq!(to_string(&json!("x")), "x\n");
        assert_eq!(to_string(&json!({})), "{}\n");
        assert_eq!(to_string(&json!({"k": "a\n\n"})), "k: |+\n  a\n\n");
        assert_eq!(to_string(&json!(["tab\there"])), "- \"tab\\there\"\n");
        // YAML 1.1 readers (PyYAML, go-yaml v2) take these for booleans.
        assert_eq!(to_string(&json!({"restart": "no"})), "restart: 'no'\n");
        assert_eq!(
            to_string(&json!(["On", "off", "n"])),
            "- 'On'\n- 'off'\n- 'n'\n"
        );
    }

    #[test]
    fn reading_keeps_the_core_schema() {
        let v: Value = from_str("a: yes\nb: 0755\nc: 1_000\nd: on\ne: 0x10\n").unwrap();
        assert_eq!(
            v,
            json!({"a": "yes", "b": "0755", "c": "1_000", "d": "on", "e": 16})
        );
        let e = from_str::<Value>("a: 1\na: 2\n").unwrap_err();
        assert_eq!(error_line(&e), Some(2), "{e}");
        assert_eq!(
            error_message(&e),
            "duplicate mapping key `a` is not allowed here"
        );
    }
}
