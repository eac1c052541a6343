//! Files → documents. YAML streams are split into documents with the line
//! each starts on, so that findings point at `file:line`; a file that does
//! not parse is a finding (fail closed), never a silent skip.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

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
    /// needs one (most documents have none). Shared by the items of a list,
    /// which are documents of their own over one text.
    text: Arc<str>,
    lines: Arc<OnceLock<LineIndex>>,
    /// 1-based line of the document's first line of text (`lines` counts from it).
    first_line: usize,
    /// Where the document's value sits in its text (`/items/3` for a list's
    /// item; empty for a whole document).
    within: String,
    /// A kustomize patch (a file a kustomization lists as one, or a
    /// document with `$patch`): part of an object, merged into another at
    /// build time, so neither schema-validated nor judged as a workload.
    pub partial: bool,
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
        let index = self.lines.get_or_init(|| LineIndex::new(&self.text));
        let found = if self.within.is_empty() {
            index.line_of(pointer)
        } else {
            index.line_of(&format!("{}{pointer}", self.within))
        };
        found.map(|l| l + self.first_line - 1).unwrap_or(self.line)
    }

    /// A document produced by a tool (e.g. kustomize), without source lines.
    pub fn rendered(path: &str, value: Value) -> Self {
        Self {
            path: path.to_owned(),
            line: 1,
            value,
            text: Arc::from(""),
            lines: Arc::default(),
            first_line: 1,
            within: String::new(),
            partial: false,
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
    "tfvars",
    "hcl",
];

const TEMPLATE_EXTENSIONS: &[&str] = &["hbs", "tpl", "gotmpl", "j2", "jinja", "liquid"];

fn extension(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map(|(_, e)| e).unwrap_or("")
}

/// Whether `path` lies in an Ansible role's `templates/` folder
/// (`roles/<role>/templates/...`): Ansible renders those files with Jinja
/// before anything applies them, as Helm does a chart's templates.
fn is_role_template(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    (0..parts.len())
        .any(|i| parts[i] == "roles" && i + 3 < parts.len() && parts[i + 2] == "templates")
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

/// What decides how a file is read besides its own bytes: the charts (whose
/// templates are not YAML until rendered) and the files a kustomization
/// lists (deployed whatever their name, so read as YAML).
#[derive(Debug, Default, Clone)]
pub struct Layout {
    pub charts: BTreeSet<String>,
    pub listed: BTreeSet<String>,
    /// Files a kustomization lists as patches (also in `listed`).
    pub patches: BTreeSet<String>,
    /// Files in a kustomization's folder, or in a folder without one just
    /// below it, that no kustomization lists (in a repository socle did not
    /// write): kustomize builds a folder from its list, so kustomize never
    /// deploys them. Operator scaffolds keep their optional patches so,
    /// commented out of the list (`manager_auth_proxy_patch.yaml`,
    /// `patches/webhook_in_<kind>.yaml`): such a document that is not a
    /// whole object is judged like a patch (the secrets rules still read
    /// it).
    pub stray: BTreeSet<String>,
}

/// What one kustomization lists: files it reads as YAML, and among them
/// the patches; `readable` when the kustomization could be read (what an
/// unreadable one lists is not known).
#[derive(Clone, Debug, Default)]
pub struct Entries {
    pub listed: Vec<String>,
    pub patches: Vec<String>,
    pub readable: bool,
}

impl Layout {
    pub fn of(files: &[(String, Vec<u8>)]) -> Self {
        Self::with(files, |_, path, bytes| kustomization_entries(path, bytes))
    }

    /// With `entries` giving what the `i`th file, a kustomization, lists
    /// (a range check remembers it by the file's version).
    pub fn with(
        files: &[(String, Vec<u8>)],
        mut entries: impl FnMut(usize, &str, &[u8]) -> Entries,
    ) -> Self {
        let mut listed = BTreeSet::new();
        let mut patches = BTreeSet::new();
        let mut read: BTreeSet<&str> = BTreeSet::new();
        let mut unread: BTreeSet<&str> = BTreeSet::new();
        for (i, (path, bytes)) in files.iter().enumerate() {
            if is_kustomization(path) {
                let found = entries(i, path, bytes);
                let dir = folder(path);
                if found.readable {
                    read.insert(dir);
                } else {
                    unread.insert(dir);
                }
                listed.extend(found.listed);
                patches.extend(found.patches);
            }
        }
        // A repository socle wrote deploys all it holds (see `deployed`).
        let stray = if super::deployed::socle_made(files) {
            BTreeSet::new()
        } else {
            files
                .iter()
                .map(|(p, _)| p)
                .filter(|p| {
                    // The folder's own kustomization, else its parent's: a
                    // scaffold keeps its optional patches one folder down
                    // (`config/crd/patches/webhook_in_<kind>.yaml`).
                    let dir = folder(p);
                    let has = |d: &str| read.contains(d) || unread.contains(d);
                    let governing = if has(dir) || dir.is_empty() {
                        dir
                    } else {
                        folder(dir)
                    };
                    read.contains(governing)
                        && !unread.contains(governing)
                        && !is_kustomization(p)
                        && !listed.contains(*p)
                })
                .cloned()
                .collect()
        };
        Self {
            charts: chart_dirs(files.iter().map(|(p, _)| p.as_str())),
            patches,
            listed,
            stray,
        }
    }
}

/// The folder of a repository path ("" at the root).
fn folder(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The names kustomize reads a kustomization from, in its order.
pub(crate) const KUSTOMIZATION_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Whether the file at `path` is a kustomization.
pub(crate) fn is_kustomization(path: &str) -> bool {
    KUSTOMIZATION_NAMES.contains(&path.rsplit('/').next().unwrap_or(path))
}

/// Every path the kustomization at `path` names as a resource, component,
/// CRD or strategic-merge patch: kustomize reads each as YAML, whatever its
/// name (`s.txt`, `s.YAML`).
pub(crate) fn kustomization_entries(path: &str, bytes: &[u8]) -> Entries {
    const FIELDS: [&str; 4] = ["resources", "components", "crds", "bases"];
    let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    // A kustomization is small; a huge one is refused on its own.
    if bytes.len() > MAX_DOCUMENT {
        return Entries::default();
    }
    let Decoded::Text(text) = decode(bytes) else {
        return Entries::default();
    };
    let Ok(doc) = serde_saphyr::from_str::<Value>(&text) else {
        return Entries::default();
    };
    let join = |entry: &str| crate::check::system::kustomize::join(dir, entry);
    let list = |field: &str| doc[field].as_array().into_iter().flatten();
    // `patchesStrategicMerge` lists files; `patches` and `patchesJson6902`
    // list objects whose `path` names one (or that hold the patch inline).
    // A bare path under `patches` is kustomize 1's form, which kustomize now
    // refuses (SOC-SCHEMA-006 says so): the file it names is still a patch,
    // not a whole object to judge on its own.
    let patches: Vec<String> = list("patchesStrategicMerge")
        .chain(list("patches").filter(|p| p.is_string()))
        .filter_map(Value::as_str)
        .chain(
            list("patches")
                .chain(list("patchesJson6902"))
                .filter_map(|p| p.get("path").and_then(Value::as_str)),
        )
        .map(join)
        .collect();
    let mut listed: Vec<String> = FIELDS
        .iter()
        .flat_map(|field| list(field))
        .filter_map(Value::as_str)
        .map(join)
        .collect();
    listed.extend(patches.iter().cloned());
    Entries {
        listed,
        patches,
        readable: true,
    }
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
    let layout = Layout::of(files);
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    parse_many(&files, &layout)
}

/// Files into one [`Parsed`], in their order, on every core: parsing is the
/// one stage of a check that nothing else can overlap.
pub fn parse_many(files: &[(&str, &[u8])], layout: &Layout) -> Parsed {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    // Small sets are not worth a thread.
    if threads == 1 || files.len() < 64 {
        let mut out = Parsed::default();
        for (path, bytes) in files {
            parse_file(path, bytes, layout, &mut out);
        }
        return out;
    }
    let chunk = files.len().div_ceil(threads);
    let parse = |part: &[(&str, &[u8])]| {
        let mut out = Parsed::default();
        for (path, bytes) in part {
            parse_file(path, bytes, layout, &mut out);
        }
        out
    };
    // The calling thread parses the first part itself: a thread more would
    // be a heap more, holding its share of the documents until they drop.
    let parts: Vec<Parsed> = std::thread::scope(|scope| {
        let mut chunks = files.chunks(chunk);
        let first = chunks.next().unwrap_or_default();
        let handles: Vec<_> = chunks
            .map(|part| scope.spawn(move || parse(part)))
            .collect();
        let mut parts = vec![parse(first)];
        parts.extend(
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))),
        );
        parts
    });
    let mut out = Parsed::default();
    for part in parts {
        out.documents.extend(part.documents);
        out.texts.extend(part.texts);
        out.findings.extend(part.findings);
        out.skipped.extend(part.skipped);
    }
    out
}

/// One file into `out`; `layout` tells Helm chart templates and the files
/// kustomizations list apart.
pub fn parse_file(path: &str, bytes: &[u8], layout: &Layout, out: &mut Parsed) {
    let start = out.documents.len();
    read_file(path, bytes, layout, out);
    let patch_file = layout.patches.contains(path);
    let stray = layout.stray.contains(path);
    // A file named as a patch (`manager_patch.yaml`, `patch.json` for
    // `kubectl patch --patch-file`) that no kustomization lists as a
    // resource, which kustomize would deploy whole.
    let named_patch = !layout.listed.contains(path)
        && path
            .rsplit('/')
            .next()
            .is_some_and(|name| name.to_ascii_lowercase().contains("patch"));
    for d in &mut out.documents[start..] {
        // A document of a file no kustomization lists, or of an unlisted
        // file named as a patch, is a part when it is not a whole object; a whole one
        // may still be applied by something else (skaffold's `rawYaml`, a
        // script), so it is judged. So is a left-out document that only
        // sets metadata at an API version no release serves any more (a
        // scaffold's old `webhookcainjection_patch.yaml`): a patch nothing
        // can apply.
        d.partial = patch_file
            || d.value.get("$patch").is_some()
            || ((stray || named_patch) && super::schema::misses_required(&d.value))
            || (stray && metadata_only(&d.value) && super::schema::was_removed(&d.value));
    }
}

fn read_file(path: &str, bytes: &[u8], layout: &Layout, out: &mut Parsed) {
    let ext = extension(path).to_ascii_lowercase();
    let ext = ext.as_str();
    let listed = layout.listed.contains(path);
    // A YAML or JSON name, or a kustomization listing it, says the file may
    // be deployed: what cannot be read as text is a denial, never skipped.
    let deployable = listed || matches!(ext, "yaml" | "yml" | "json");
    let text = match decode(bytes) {
        Decoded::Text(text) => text,
        Decoded::Binary if !deployable => {
            out.skipped.push((path.to_owned(), "binary file".into()));
            return;
        }
        Decoded::Binary => {
            out.findings.push(Finding::new(
                "SOC-PARSE-001",
                Severity::Deny,
                path,
                None,
                "named as YAML or JSON but holds binary data (a NUL byte): not checked, so not deployable",
            ));
            return;
        }
        Decoded::Invalid(why) => {
            out.findings.push(Finding::new(
                "SOC-PARSE-001",
                Severity::Deny,
                path,
                None,
                format!("not text socle can read: {why}"),
            ));
            return;
        }
    };
    // A chart's template without template syntax is deployed as it is.
    let template = (TEMPLATE_EXTENSIONS.contains(&ext) && !listed)
        || (is_chart_template(path, &layout.charts) && text.contains("{{"))
        || (!listed && is_role_template(path) && (text.contains("{{") || text.contains("{%")));
    if template {
        out.skipped
            .push((path.to_owned(), "template, not YAML until rendered".into()));
        return;
    }
    if listed && ext != "json" {
        parse_yaml(path, &text, out);
        return;
    }
    match ext {
        "yaml" | "yml" => parse_yaml(path, &text, out),
        "json" | "zpln" => parse_json(path, &text, out),
        "tf" | "tfvars" => {
            check_terraform(path, &text, out);
            out.texts.push(Text {
                path: path.to_owned(),
                text: text.into_owned(),
            });
        }
        e if TEXT_EXTENSIONS.contains(&e) => out.texts.push(Text {
            path: path.to_owned(),
            text: text.into_owned(),
        }),
        _ => {}
    }
}

enum Decoded<'a> {
    Text(std::borrow::Cow<'a, str>),
    /// No byte-order mark and a NUL byte: not text.
    Binary,
    Invalid(String),
}

/// A file's text as kubectl reads it: UTF-8 (its byte-order mark dropped),
/// or UTF-16 or UTF-32 announced by a byte-order mark.
fn decode(bytes: &[u8]) -> Decoded<'_> {
    use std::borrow::Cow;
    let units = |bytes: &[u8], width: usize, big: bool| -> Vec<u32> {
        bytes
            .chunks(width)
            .map(|c| {
                let mut v = 0u32;
                for k in 0..c.len() {
                    let b = if big { c[k] } else { c[c.len() - 1 - k] };
                    v = (v << 8) | u32::from(b);
                }
                v
            })
            .collect()
    };
    let utf16 = |body: &[u8], big: bool| -> Decoded<'static> {
        if !body.len().is_multiple_of(2) {
            return Decoded::Invalid("UTF-16 with an odd number of bytes".into());
        }
        let units: Vec<u16> = units(body, 2, big).into_iter().map(|u| u as u16).collect();
        match String::from_utf16(&units) {
            Ok(t) => Decoded::Text(Cow::Owned(t)),
            Err(e) => Decoded::Invalid(format!("invalid UTF-16: {e}")),
        }
    };
    let utf32 = |body: &[u8], big: bool| -> Decoded<'static> {
        if !body.len().is_multiple_of(4) {
            return Decoded::Invalid("UTF-32 whose length is not a multiple of 4".into());
        }
        let mut out = String::with_capacity(body.len() / 4);
        for u in units(body, 4, big) {
            match char::from_u32(u) {
                Some(c) => out.push(c),
                None => return Decoded::Invalid(format!("invalid UTF-32 code point {u:#x}")),
            }
        }
        Decoded::Text(Cow::Owned(out))
    };
    // UTF-32's marks start like UTF-16's: they are tried first.
    if let Some(body) = bytes.strip_prefix(&[0xFF, 0xFE, 0, 0]) {
        return utf32(body, false);
    }
    if let Some(body) = bytes.strip_prefix(&[0, 0, 0xFE, 0xFF]) {
        return utf32(body, true);
    }
    if let Some(body) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(body, false);
    }
    if let Some(body) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(body, true);
    }
    let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    if body.contains(&0) {
        return Decoded::Binary;
    }
    match std::str::from_utf8(body) {
        Ok(t) => Decoded::Text(Cow::Borrowed(t)),
        Err(e) => Decoded::Invalid(format!("not UTF-8: {e}")),
    }
}

/// The denial of `what` (e.g. "a document of 4.2 MB") past the document
/// bound: not parsed, so not judged.
fn too_large(path: &str, line: Option<usize>, what: String, bound: &str) -> Finding {
    Finding::new(
        "SOC-REPO-002",
        Severity::Deny,
        path,
        line,
        format!(
            "{what}: larger than the {} MB {bound}, so not checked; split it",
            MAX_DOCUMENT / (1024 * 1024)
        ),
    )
}

fn megabytes(len: usize) -> f64 {
    len as f64 / (1024.0 * 1024.0)
}

const API_SERVER_BOUND: &str = "the API server accepts in one request";

/// A Terraform file that `terraform plan` would refuse is a denial: it
/// describes infrastructure, and what socle cannot read it cannot judge.
fn check_terraform(path: &str, text: &str, out: &mut Parsed) {
    if text.len() > MAX_DOCUMENT {
        out.findings.push(too_large(
            path,
            None,
            format!("{:.1} MB of Terraform", megabytes(text.len())),
            "socle reads in one file",
        ));
        return;
    }
    if let Err(e) = super::terraform::parse(text) {
        out.findings.push(Finding::new(
            "SOC-PARSE-001",
            Severity::Deny,
            path,
            Some(e.line),
            format!(
                "invalid Terraform (HCL): {}; terraform refuses the whole folder",
                e.message
            ),
        ));
    }
}

fn parse_json(path: &str, text: &str, out: &mut Parsed) {
    if text.len() > MAX_DOCUMENT {
        out.findings.push(too_large(
            path,
            None,
            format!("{:.1} MB of JSON", megabytes(text.len())),
            API_SERVER_BOUND,
        ));
        return;
    }
    let parsed = if with_comments(path) {
        jsonc_value(text)
    } else {
        serde_json::from_str::<Value>(text)
    };
    match parsed {
        // JSON is YAML's flow syntax: the YAML event parser finds its lines.
        Ok(value) => push_document(
            out,
            Document {
                path: path.to_owned(),
                line: 1,
                value,
                text: Arc::from(text),
                lines: Arc::default(),
                first_line: 1,
                within: String::new(),
                partial: false,
            },
        ),
        Err(e) => out.findings.push(Finding::new(
            "SOC-PARSE-001",
            Severity::Deny,
            path,
            Some(e.line()),
            format!("invalid JSON: {e}"),
        )),
    }
}

/// Files tools read as JSON with comments and trailing commas: TypeScript's
/// and JavaScript's project files, an editor's settings, a dev container's.
/// None is a Kubernetes object; read as strict JSON they would be denied
/// for not parsing in a repository where every file may be deployed.
fn with_comments(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let name = parts.next().unwrap_or(path);
    ((name.starts_with("tsconfig") || name.starts_with("jsconfig")) && name.ends_with(".json"))
        || matches!(
            name,
            "devcontainer.json" | ".devcontainer.json" | ".eslintrc.json"
        )
        || parts.any(|dir| matches!(dir, ".vscode" | ".devcontainer"))
}

/// JSON with comments (turned to spaces, so lines and columns stay) and
/// trailing commas.
fn jsonc_value(text: &str) -> Result<Value, serde_json::Error> {
    use std::io::Read;
    let mut plain = String::with_capacity(text.len());
    if json_comments::CommentSettings::c_style()
        .strip_comments(text.as_bytes())
        .read_to_string(&mut plain)
        .is_err()
    {
        return serde_json::from_str(text);
    }
    // A comma before a closing bracket, outside strings, becomes a space.
    let mut bytes = plain.into_bytes();
    let (mut in_string, mut escaped) = (false, false);
    let mut comma: Option<usize> = None;
    for i in 0..bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                comma = None;
            }
            b',' => comma = Some(i),
            b'}' | b']' => {
                if let Some(c) = comma.take() {
                    bytes[c] = b' ';
                }
            }
            b if b.is_ascii_whitespace() => {}
            _ => comma = None,
        }
    }
    serde_json::from_slice(&bytes)
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

/// The line of a document's first content (past comments and blank lines).
fn content_line(chunk: &str, first_line: usize) -> usize {
    chunk
        .lines()
        .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map_or(first_line, |i| i + first_line)
}

/// A document as a JSON value, which is what every rule reads: merge keys
/// resolved, tags dropped, keys as strings. What does not parse (a duplicate
/// key, which the API server refuses and which could hide a field from the
/// rules, included) is a finding in `out`.
fn yaml_path(path: &str, chunk: &str, first_line: usize, out: &mut Parsed) -> Option<Value> {
    match crate::yaml::from_str_merged::<Value>(chunk) {
        Ok(v) => Some(v),
        Err(e) => {
            let line = crate::yaml::error_line(&e).map(|l| l + first_line - 1);
            out.findings.push(Finding::new(
                "SOC-PARSE-001",
                Severity::Deny,
                path,
                line.or(Some(first_line)),
                format!("invalid YAML: {}", crate::yaml::error_message(&e)),
            ));
            None
        }
    }
}

/// Whether `text` may hold a local tag (`!name` where a node starts): a
/// byte scan, so that only such texts pay for the parser's second pass.
fn may_hold_local_tag(text: &str) -> bool {
    let b = text.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b'!'
            && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic)
            && (i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'[' | b'{' | b','))
    })
}

/// A string the document tags locally (`api_key: !env_var SONARR_API_KEY`)
/// is read as its tag and its text (`"!env_var SONARR_API_KEY"`): the
/// application that reads the file builds the value from them (an
/// environment variable, an entry of its secrets file), so the rules must
/// not take the bare text for a literal, and can tell the tag.
fn keep_local_tags(chunk: &str, value: &mut Value) {
    for (pointer, tag) in crate::locate::locally_tagged(chunk) {
        if let Some(Value::String(s)) = value.pointer_mut(&pointer) {
            *s = format!("{tag} {s}");
        }
    }
}

/// Whether a parsed document is a Kubernetes object (what kubectl, Argo CD
/// and the API server read).
/// Whether a document sets nothing but its identity and metadata.
fn metadata_only(v: &Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.keys()
            .all(|k| matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
    })
}

fn is_object_value(v: &Value) -> bool {
    v.get("apiVersion").is_some_and(Value::is_string) && v.get("kind").is_some_and(Value::is_string)
}

/// Whether `text` may hold a plain scalar YAML 1.1 reads otherwise than
/// YAML 1.2 (see [`read_as_yaml11`]): a cheap scan, so that only such
/// texts pay for the parser's second pass.
fn may_read_otherwise_in_yaml11(text: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"(?m)(?:^|[\s\[{,])(?:[-+]?0[0-9][0-9_]*|[-+]?[1-9][0-9]*_[0-9_]*|[yYnN]|[yY]es|YES|[nN]o|NO|[oO]n|ON|[oO]ff|OFF)[ \t]*(?:[,\]}#]|$)",
        )
        .unwrap_or_else(|_| unreachable!("the pattern is a constant"))
    })
    .is_match(text)
}

/// A Kubernetes object is read as kubectl and Argo CD read it: with YAML
/// 1.1's scalars (go-yaml v2, through sigs.k8s.io/yaml, into untyped
/// objects). `defaultMode: 0755` is the integer 493, which the API server
/// accepts, not the string YAML 1.2 reads; `value: yes` is the boolean
/// true, which it refuses for a string field.
fn read_as_yaml11(chunk: &str, value: &mut Value) {
    for (pointer, read) in crate::locate::yaml11_scalars(chunk) {
        if let Some(v @ Value::String(_)) = value.pointer_mut(&pointer) {
            *v = read;
        }
    }
}

/// One YAML document larger than this is not parsed: the API server refuses
/// a request over 3 MiB, and judging one (a 10 MB mapping took 5 s and
/// 560 MB) would cost more than the rest of a repository.
pub(crate) const MAX_DOCUMENT: usize = 3 * 1024 * 1024;

/// Deeper flow nesting than this is refused before parsing: the parser's
/// time grows with the square of the depth (100,000 levels, a 200 KB file,
/// took 39 s), and the deserializer refuses beyond 128 levels anyway.
pub(crate) const MAX_FLOW_DEPTH: usize = 128;

/// Where a YAML text first nests flow collections (`[`, `{`) deeper than
/// `limit`: its line. One pass: quoted strings, comments and block scalars
/// are skipped. It errs towards counting (a bracket that opens a block
/// value counts): nothing legitimate nests a hundred levels.
pub(crate) fn too_deep(text: &str, limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    // A block scalar (`|`, `>`): lines more indented than its key are text.
    let mut scalar_indent: Option<usize> = None;
    let mut quote: Option<u8> = None;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(parent) = scalar_indent {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            scalar_indent = None;
        }
        let bytes = line.as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            let b = bytes[j];
            match quote {
                Some(q) => {
                    if b == b'\\' && q == b'"' {
                        j += 1;
                    } else if b == q {
                        quote = None;
                    }
                }
                None => match b {
                    b'#' if j == 0 || bytes[j - 1] == b' ' || bytes[j - 1] == b'\t' => break,
                    // A quote opens a string only where a value starts.
                    b'"' | b'\''
                        if matches!(
                            bytes[..j].iter().rev().find(|c| **c != b' '),
                            None | Some(b':' | b'-' | b'?' | b',' | b'[' | b'{')
                        ) =>
                    {
                        quote = Some(b)
                    }
                    b'[' | b'{' => {
                        depth += 1;
                        if depth > limit {
                            return Some(i + 1);
                        }
                    }
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                },
            }
            j += 1;
        }
        if depth == 0 && quote.is_none() {
            let value = line.split(" #").next().unwrap_or(line).trim_end();
            let indicator = value
                .trim_end_matches(['+', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
            if indicator.ends_with(": |")
                || indicator.ends_with(": >")
                || indicator.ends_with("- |")
                || indicator.ends_with("- >")
                || indicator == "|"
                || indicator == ">"
            {
                scalar_indent = Some(indent);
            }
        }
    }
    None
}

fn parse_yaml(path: &str, text: &str, out: &mut Parsed) {
    if let Some(line) = too_deep(text, MAX_FLOW_DEPTH) {
        out.findings.push(Finding::new(
            "SOC-PARSE-001",
            Severity::Deny,
            path,
            Some(line),
            format!(
                "YAML nested deeper than {MAX_FLOW_DEPTH} levels: not parsed (no Kubernetes object nests this deep)"
            ),
        ));
        return;
    }
    for (first_line, chunk) in split_documents(text) {
        if chunk.len() > MAX_DOCUMENT {
            out.findings.push(too_large(
                path,
                Some(first_line),
                format!("a document of {:.1} MB", megabytes(chunk.len())),
                API_SERVER_BOUND,
            ));
            continue;
        }
        let Some(mut value) = yaml_path(path, &chunk, first_line, out) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        if may_hold_local_tag(&chunk) {
            keep_local_tags(&chunk, &mut value);
        }
        // kustomize reads its kustomizations through go-yaml v2 as well.
        let kubernetes_reads = is_object_value(&value) || is_kustomization(path);
        if kubernetes_reads && may_read_otherwise_in_yaml11(&chunk) {
            read_as_yaml11(&chunk, &mut value);
        }
        let content_line = content_line(&chunk, first_line);
        push_document(
            out,
            Document {
                path: path.to_owned(),
                line: content_line,
                value,
                lines: Arc::default(),
                text: Arc::from(chunk),
                first_line,
                within: String::new(),
                partial: false,
            },
        );
    }
}

/// How deep lists in lists are opened (kubectl opens them at any depth,
/// Argo CD one level down; a deeper one is kept whole and judged as what
/// it claims to be).
const MAX_LIST_DEPTH: usize = 4;

/// A document, or the items of a list, as the tools that apply it see them.
///
/// Argo CD and kubectl send each item of an object whose `items` is an
/// array (`kind: List`, `RoleBindingList`, ...) to the API server on its
/// own, and kustomize inlines them: judged whole, a list's Secrets and
/// workloads escaped every rule but the credential scan. Each item becomes
/// a document at its own line; `items: null` applies nothing, as in Argo
/// CD.
///
/// Objects are told apart by the line they start on (the system model
/// finds an object's document by it): items written on one line (a list
/// in flow style, minified JSON) are judged each, and denied together.
fn push_document(out: &mut Parsed, doc: Document) {
    let from = out.documents.len();
    push_items(out, doc, 0);
    let mut lines = BTreeSet::new();
    if let Some(d) = out.documents[from..].iter().find(|d| !lines.insert(d.line)) {
        let (path, line) = (d.path.clone(), d.line);
        out.findings.push(Finding::new(
            "SOC-PARSE-001",
            Severity::Deny,
            &path,
            Some(line),
            "two items of this list start on this line: socle tells objects apart by the line each starts on; write one item per line (as `kubectl get -o yaml` does)".to_owned(),
        ));
    }
}

fn push_items(out: &mut Parsed, mut doc: Document, depth: usize) {
    let v = &doc.value;
    let is_list = depth < MAX_LIST_DEPTH
        && is_object_value(v)
        && match v.get("items") {
            Some(Value::Array(_)) => true,
            Some(Value::Null) => v.get("spec").is_none() && v.get("status").is_none(),
            _ => false,
        };
    if !is_list {
        out.documents.push(doc);
        return;
    }
    let Some(Value::Array(items)) = doc.value.get_mut("items").map(Value::take) else {
        return;
    };
    for (i, value) in items.into_iter().enumerate() {
        let mut item = Document {
            path: doc.path.clone(),
            line: doc.line,
            value,
            text: Arc::clone(&doc.text),
            lines: Arc::clone(&doc.lines),
            first_line: doc.first_line,
            within: format!("{}/items/{i}", doc.within),
            partial: doc.partial,
        };
        item.line = doc.line_at(&format!("/items/{i}"));
        push_items(out, item, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list's items are documents at their own lines, fields included,
    /// in YAML and in JSON; items sharing a line are judged and denied.
    #[test]
    fn the_items_of_a_list_are_documents_at_their_own_lines() {
        let parse =
            |path: &str, text: &str| parse_all(&[(path.to_owned(), text.as_bytes().to_vec())]);
        let yaml = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: a\n  - apiVersion: v1\n    kind: ConfigMapList\n    items:\n      - apiVersion: v1\n        kind: ConfigMap\n        metadata:\n          name: b\n";
        let json = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": [\n    {\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",\n     \"metadata\": {\"name\": \"a\"}},\n    {\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",\n     \"metadata\": {\"name\": \"b\"}}\n  ]\n}\n";
        for (path, text, lines, names) in [
            ("l.yaml", yaml, [4, 11], [7, 14]),
            ("l.json", json, [5, 7], [6, 8]),
        ] {
            let p = parse(path, text);
            assert!(p.findings.is_empty(), "{path}: {:?}", p.findings);
            let got: Vec<(usize, usize)> = p
                .documents
                .iter()
                .map(|d| (d.line, d.line_of(&["metadata".into(), "name".into()])))
                .collect();
            assert_eq!(got, [(lines[0], names[0]), (lines[1], names[1])], "{path}");
        }
        let p = parse(
            "flow.yaml",
            "apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Secret, data: {k: dg==}}, {apiVersion: v1, kind: Secret}]\n",
        );
        assert_eq!(p.documents.len(), 2);
        assert!(p.documents.iter().all(|d| d.kind() == "Secret"));
        let denied: Vec<(&str, Option<usize>)> = p
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.line))
            .collect();
        assert_eq!(denied, [("SOC-PARSE-001", Some(3))]);
        // A null list applies nothing; an object with spec and a null
        // `items` is the object.
        assert!(parse(
            "n.yaml",
            "apiVersion: v1\nkind: ConfigMapList\nitems: null\n"
        )
        .documents
        .is_empty());
        assert_eq!(
            parse(
                "c.yaml",
                "apiVersion: x/v1\nkind: Thing\nspec: {}\nitems: null\n"
            )
            .documents
            .len(),
            1
        );
    }

    #[test]
    fn stray_files_are_those_a_readable_kustomization_leaves_out() {
        let files = |extra: &[(&str, &str)]| -> Vec<(String, Vec<u8>)> {
            [
                ("a/kustomization.yaml", "resources: [d.yaml]\n"),
                ("a/d.yaml", "kind: ConfigMap\n"),
                ("a/patch.yaml", "kind: Deployment\n"),
                ("b/kustomization.yaml", "resources: [\n"),
                ("b/x.yaml", "kind: ConfigMap\n"),
                ("c/y.yaml", "kind: ConfigMap\n"),
                ("a/patches/webhook.yaml", "kind: CustomResourceDefinition\n"),
                ("a/patches/deep/z.yaml", "kind: ConfigMap\n"),
                ("a/sub/kustomization.yaml", "resources: [\n"),
                ("a/sub/w.yaml", "kind: ConfigMap\n"),
            ]
            .iter()
            .chain(extra)
            .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
            .collect()
        };
        let layout = Layout::of(&files(&[]));
        assert_eq!(
            layout.stray.iter().collect::<Vec<_>>(),
            ["a/patch.yaml", "a/patches/webhook.yaml"],
            "an unreadable kustomization's folder, a folder without one and a folder two below one keep their files whole"
        );
        let made = Layout::of(&files(&[(crate::lock::PATH, "")]));
        assert!(
            made.stray.is_empty(),
            "socle's own repositories deploy all they hold"
        );
    }

    #[test]
    fn project_and_editor_files_are_read_with_comments() {
        let text =
            "/* To learn more */\n{\n  \"a\": [1, 2,], // two\n  \"b\": \"x, ]\", // a string\n}\n";
        assert_eq!(
            jsonc_value(text).ok(),
            Some(serde_json::json!({"a": [1, 2], "b": "x, ]"}))
        );
        assert!(with_comments("web/tsconfig.app.json"));
        assert!(with_comments(".vscode/settings.json"));
        assert!(with_comments(".devcontainer/devcontainer.json"));
        assert!(!with_comments("apps/web/deployment.json"));
        assert!(!with_comments("vscode.json"));
    }

    #[test]
    fn role_templates_are_those_of_a_role() {
        assert!(is_role_template("roles/cilium/templates/pool.yaml"));
        assert!(is_role_template(
            "metal/roles/k3s/templates/sub/config.yaml"
        ));
        assert!(!is_role_template("ansible/templates/users.yaml"));
        assert!(!is_role_template("roles/cilium/templates"));
        assert!(!is_role_template("roles/templates/x.yaml"));
    }

    #[test]
    fn local_tags_stay_with_their_strings() {
        let mut out = Parsed::default();
        parse_yaml(
            "c.yml",
            "a: !env_var KEY\nb: [!secret pw, plain]\nc: !!str 5\nd: \"!quoted x\"\n",
            &mut out,
        );
        let v = &out.documents[0].value;
        assert_eq!(v["a"], "!env_var KEY");
        assert_eq!(v["b"][0], "!secret pw");
        assert_eq!(v["b"][1], "plain");
        assert_eq!(v["c"], "5");
        assert!(!may_hold_local_tag("a: hello!world\n# wow!\n"));
    }

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
    fn duplicate_keys_are_a_parse_finding() {
        let mut out = Parsed::default();
        parse_yaml(
            "f.yaml",
            "kind: ConfigMap\ndata: {a: 1}\nkind: Secret\n",
            &mut out,
        );
        assert!(out.documents.is_empty());
        assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
        assert!(
            out.findings[0].message.contains("duplicate"),
            "{:?}",
            out.findings
        );
    }

    #[test]
    fn keys_tags_and_special_floats_parse() {
        let mut out = Parsed::default();
        parse_yaml("f.yaml", "1: a\nb: !custom x\nc: .nan\n", &mut out);
        assert!(out.findings.is_empty(), "{:?}", out.findings);
        assert_eq!(out.documents[0].value["1"], "a");
        let mut direct = Parsed::default();
        parse_yaml("f.yaml", "a: [1, 2.5, true, null, x]\n", &mut direct);
        assert_eq!(
            direct.documents[0].value,
            serde_json::json!({"a": [1, 2.5, true, null, "x"]})
        );
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
