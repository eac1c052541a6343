//! Files → documents. YAML streams are split into documents with the line
//! each starts on, so that findings point at `file:line`; a file that does
//! not parse is a finding (fail closed), never a silent skip.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use super::finding::{Finding, Severity};
use crate::locate::LineIndex;

#[derive(Debug, Clone)]
pub struct Document {
    pub path: String,
    /// 1-based line where the document's content starts.
    pub line: usize,
    pub value: Value,
    /// The document's text, indexed for field lines only when a finding
    /// needs one (most documents have none).
    text: String,
    lines: std::sync::OnceLock<LineIndex>,
    /// 1-based line of the document's first line of text (`lines` counts from it).
    first_line: usize,
}

impl Document {
    /// A Kubernetes object: it names its apiVersion and kind.
    pub fn is_object(&self) -> bool {
        self.value.get("apiVersion").is_some_and(Value::is_string)
            && self.value.get("kind").is_some_and(Value::is_string)
    }

    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    /// The line of the field at `path` (keys and indexes), or of its
    /// closest ancestor, or of the document.
    pub fn line_of(&self, path: &[Value]) -> usize {
        self.line_at(&pointer_of(path))
    }

    /// The line of the field at a JSON pointer (see [`pointer_of`]).
    pub fn line_at(&self, pointer: &str) -> usize {
        if pointer.is_empty() {
            return self.line;
        }
        self.lines
            .get_or_init(|| LineIndex::new(&self.text))
            .line_of(pointer)
            .map(|l| l + self.first_line - 1)
            .unwrap_or(self.line)
    }

    /// A document produced by a tool (e.g. kustomize), without source lines.
    pub fn rendered(path: &str, value: Value) -> Self {
        Self {
            path: path.to_owned(),
            line: 1,
            value,
            text: String::new(),
            lines: std::sync::OnceLock::new(),
            first_line: 1,
        }
    }

    pub fn resource(&self) -> Option<String> {
        let kind = self.kind();
        let meta = self.value.get("metadata")?;
        let name = meta.get("name").and_then(Value::as_str)?;
        let ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
        Some(format!("{kind}/{ns}/{name}"))
    }
}

/// The JSON pointer of a path of keys and indexes.
pub fn pointer_of(path: &[Value]) -> String {
    let mut pointer = String::new();
    for seg in path {
        pointer.push('/');
        match seg {
            Value::String(s) => pointer.push_str(&s.replace('~', "~0").replace('/', "~1")),
            other => pointer.push_str(&other.to_string()),
        }
    }
    pointer
}

/// A text file the text rules read (DAGs, SQL, scripts).
#[derive(Debug, Clone)]
pub struct Text {
    pub path: String,
    pub text: String,
}

#[derive(Debug, Default, Clone)]
pub struct Parsed {
    pub documents: Vec<Document>,
    pub texts: Vec<Text>,
    pub findings: Vec<Finding>,
    pub skipped: Vec<(String, String)>,
}

const TEXT_EXTENSIONS: &[&str] = &[
    "py",
    "sql",
    "sh",
    "md",
    "txt",
    "ini",
    "cfg",
    "conf",
    "properties",
    "env",
    "toml",
    "tf",
    "hcl",
];

const TEMPLATE_EXTENSIONS: &[&str] = &["hbs", "tpl", "gotmpl", "j2", "jinja", "liquid"];

fn extension(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map(|(_, e)| e).unwrap_or("")
}

/// Directories holding a Helm chart (a `Chart.yaml`).
pub fn chart_dirs<'a>(paths: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    paths
        .into_iter()
        .filter_map(|p| match p.rsplit_once('/') {
            Some((dir, "Chart.yaml")) => Some(dir.to_owned()),
            None if p == "Chart.yaml" => Some(String::new()),
            _ => None,
        })
        .collect()
}

fn is_chart_template(path: &str, charts: &BTreeSet<String>) -> bool {
    charts.iter().any(|dir| {
        let prefix = if dir.is_empty() {
            "templates/".to_owned()
        } else {
            format!("{dir}/templates/")
        };
        path.starts_with(&prefix)
    })
}

pub fn parse_all(files: &[(String, Vec<u8>)]) -> Parsed {
    let charts = chart_dirs(files.iter().map(|(p, _)| p.as_str()));
    let mut out = Parsed::default();
    for (path, bytes) in files {
        parse_file(path, bytes, &charts, &mut out);
    }
    out
}

/// One file into `out`; `charts` tells Helm chart templates apart.
pub fn parse_file(path: &str, bytes: &[u8], charts: &BTreeSet<String>, out: &mut Parsed) {
    let ext = extension(path);
    if bytes.iter().take(8192).any(|b| *b == 0) {
        out.skipped.push((path.to_owned(), "binary file".into()));
        return;
    }
    if TEMPLATE_EXTENSIONS.contains(&ext) || is_chart_template(path, charts) {
        out.skipped
            .push((path.to_owned(), "template, not YAML until rendered".into()));
        return;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            out.findings.push(Finding::new(
                "SOC-PARSE-001",
                Severity::Deny,
                path,
                None,
                format!("not UTF-8 text: {e}"),
            ));
            return;
        }
    };
    match ext {
        "yaml" | "yml" => parse_yaml(path, text, out),
        "json" | "zpln" => parse_json(path, text, out),
        e if TEXT_EXTENSIONS.contains(&e) => out.texts.push(Text {
            path: path.to_owned(),
            text: text.to_owned(),
        }),
        _ => {}
    }
}

fn parse_json(path: &str, text: &str, out: &mut Parsed) {
    match serde_json::from_str::<Value>(text) {
        // JSON is YAML's flow syntax: the YAML event parser finds its lines.
        Ok(value) => out.documents.push(Document {
            path: path.to_owned(),
            line: 1,
            value,
            text: text.to_owned(),
            lines: std::sync::OnceLock::new(),
            first_line: 1,
        }),
        Err(e) => out.findings.push(Finding::new(
            "SOC-PARSE-001",
            Severity::Deny,
            path,
            Some(e.line()),
            format!("invalid JSON: {e}"),
        )),
    }
}

/// Split a YAML stream at `---` lines: (first line number, text).
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut start = 1;
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line == "---" || line.starts_with("--- ") || line == "..." {
            if !current.trim().is_empty() {
                docs.push((start, std::mem::take(&mut current)));
            }
            current.clear();
            start = n + 1;
            if let Some(rest) = line.strip_prefix("--- ") {
                current.push_str(rest);
                current.push('\n');
                start = n;
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        docs.push((start, current));
    }
    docs
}

fn parse_yaml(path: &str, text: &str, out: &mut Parsed) {
    for (first_line, chunk) in split_documents(text) {
        let value = serde_yaml::Value::deserialize(serde_yaml::Deserializer::from_str(&chunk))
            .and_then(|mut v| {
                v.apply_merge()?;
                Ok(v)
            });
        let value = match value {
            Ok(v) => v,
            Err(e) => {
                let line = e.location().map(|l| l.line() + first_line - 1);
                let message = e.to_string();
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_owned();
                out.findings.push(Finding::new(
                    "SOC-PARSE-001",
                    Severity::Deny,
                    path,
                    line.or(Some(first_line)),
                    format!("invalid YAML: {message}"),
                ));
                continue;
            }
        };
        if value.is_null() {
            continue;
        }
        let value: Value = match serde_json::to_value(&value) {
            Ok(v) => v,
            Err(e) => {
                out.findings.push(Finding::new(
                    "SOC-PARSE-001",
                    Severity::Deny,
                    path,
                    Some(first_line),
                    format!("YAML value socle cannot represent: {e}"),
                ));
                continue;
            }
        };
        let content_line = chunk
            .lines()
            .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|i| i + first_line)
            .unwrap_or(first_line);
        out.documents.push(Document {
            path: path.to_owned(),
            line: content_line,
            value,
            lines: std::sync::OnceLock::new(),
            text: chunk,
            first_line,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_lines() {
        let text = "# c\na: 1\n---\nb:\n  c: 2\n--- \n---\nd: [\n";
        let mut out = Parsed::default();
        parse_yaml("f.yaml", text, &mut out);
        assert_eq!(out.documents.len(), 2);
        assert_eq!(out.documents[0].line, 2);
        assert_eq!(out.documents[1].line, 4);
        assert_eq!(
            out.documents[1].line_of(&[Value::from("b"), Value::from("c")]),
            5
        );
        assert_eq!(out.findings.len(), 1);
        assert!(out.findings[0].line >= Some(8), "{:?}", out.findings[0]);
    }

    #[test]
    fn anchors_and_merge_keys_resolve() {
        let mut out = Parsed::default();
        parse_yaml(
            "f.yaml",
            "base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n",
            &mut out,
        );
        assert_eq!(out.documents[0].value["use"]["x"], 1);
    }
}
