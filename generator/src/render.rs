//! Rendering: blueprint templates + model → an in-memory file set.
//!
//! Nothing touches the disk here. YAML and JSON templates are compiled in a
//! registry whose escape function emits double-quoted YAML scalars, so a value
//! from the spec can never break the document structure (HTML escaping, the
//! Handlebars default, would corrupt `&` and `'` and protect nothing). Every
//! rendered YAML file is parsed back before it is accepted: a template that
//! produces invalid YAML is a blueprint bug and is reported as such.

use std::collections::{BTreeMap, BTreeSet};

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason,
};
use serde_json::{Map, Value};

mod chunks;
mod paths;
mod schema;

use crate::model::Model;
use crate::source::Tree;

/// The rendered repository: relative path → contents, sorted by path.
pub type FileSet = BTreeMap<String, Vec<u8>>;

/// What one template renders to: (output path, bytes) per expansion.
type Rendered = Result<Vec<(String, Vec<u8>)>, RenderFailure>;

#[derive(Debug, thiserror::Error)]
pub enum RenderFailure {
    #[error("blueprint template {template}: {message}")]
    Template { template: String, message: String },
    #[error("blueprint bug: {path} (from {template}) is not valid YAML: {message}")]
    InvalidYaml {
        path: String,
        template: String,
        message: String,
    },
    #[error("blueprint bug: template {template} renders to an unsafe path {path:?}")]
    UnsafePath { template: String, path: String },
    #[error("blueprint bug: two templates render to {path}")]
    Duplicate { path: String },
    #[error(
        "blueprint bug: {template} names {target:?}, which {problem}; a `.from` file holds one line, the path of another file of the same blueprint (e.g. components/<id>/base/init.sh)"
    )]
    Reference {
        template: String,
        target: String,
        problem: &'static str,
    },
}

/// The suffix of a file that renders as another file of its blueprint.
pub(crate) const FROM_SUFFIX: &str = ".from";

/// What a blueprint file renders: itself, or for a `<name>.from` file the
/// file whose path it holds. A target runs some of a component's scripts
/// as they are (the Compose host and the clusters run the same init); one
/// file, named twice, cannot drift the way two copies would. Returns the
/// output name, the source (the file an author edits, what `socle why`
/// names) and its bytes.
fn resolve<'t>(
    blueprint: &'t Tree,
    folder: &str,
    path: &'t str,
    bytes: &'t [u8],
) -> Result<(&'t str, String, &'t [u8]), RenderFailure> {
    let Some(name) = path.strip_suffix(FROM_SUFFIX) else {
        return Ok((path, format!("{folder}/{path}"), bytes));
    };
    let template = format!("{folder}/{path}");
    let fail = |target: &str, problem| RenderFailure::Reference {
        template: template.clone(),
        target: target.to_owned(),
        problem,
    };
    let target = std::str::from_utf8(bytes)
        .map_err(|_| fail("", "is not UTF-8 text"))?
        .trim();
    if target.contains('\n') || target.is_empty() {
        return Err(fail(target, "is not one path"));
    }
    if target.ends_with(FROM_SUFFIX) {
        return Err(fail(target, "is itself a `.from` file"));
    }
    // Whether the copy is a template is the named file's business: its
    // output keeps this file's name, without `.from`.
    if target.ends_with(".hbs") != name.ends_with(".hbs") {
        return Err(fail(
            target,
            "differs from the file's name in its `.hbs` suffix (both or neither)",
        ));
    }
    let found = blueprint
        .get(target)
        .ok_or_else(|| fail(target, "is not a file of the blueprint"))?;
    Ok((name, target.to_owned(), found))
}

const TOKENS: [&str; 3] = ["[env]", "[ns]", "[component]"];

/// Quote a string as a YAML double-quoted scalar that reads back unchanged.
/// The escapes used are common to YAML 1.1, YAML 1.2 and JSON.
pub fn yaml_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || (0x7f..=0x9f).contains(&(c as u32))
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The escape function of YAML templates: a plain scalar when the text would
/// read back as that same string under YAML 1.1 and 1.2 resolvers alike,
/// a double-quoted one otherwise. Starting with a letter rules out numbers,
/// dates and indicators; the word list rules out booleans and nulls.
pub fn yaml_scalar(s: &str) -> String {
    const WORDS: &[&str] = &["y", "n", "yes", "no", "true", "false", "on", "off", "null"];
    let mut chars = s.chars();
    let plain = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "._/:@-".contains(c))
        && !s.ends_with(':')
        && !WORDS.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_owned()
    } else {
        yaml_quote(s)
    }
}

/// Text that reads back as itself unquoted, in YAML and in the properties,
/// INI and command-line texts the templates build: an identifier, a host, a
/// URL or an absolute path (`/` is no YAML indicator).
fn is_plain_safe(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '/')
        && chars.all(|c| c.is_ascii_alphanumeric() || "._:/@+-".contains(c))
        && !s.contains(": ")
}

type RawFn = fn(&[&Value]) -> Result<String, String>;

/// A helper whose output is written verbatim (not passed to the escape
/// function): each one checks its input so that verbatim is safe.
struct Raw(&'static str, RawFn);

impl HelperDef for Raw {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let params: Vec<&Value> = h.params().iter().map(|p| p.value()).collect();
        let text = (self.1)(&params).map_err(|m| {
            RenderError::from(RenderErrorReason::Other(format!(
                "{{{{{} …}}}}: {m}",
                self.0
            )))
        })?;
        out.write(&text)?;
        Ok(())
    }
}

fn one<'a>(p: &[&'a Value]) -> Result<&'a Value, String> {
    match p {
        [v] => Ok(v),
        _ => Err(format!("expects 1 parameter, got {}", p.len())),
    }
}

fn helper_int(p: &[&Value]) -> Result<String, String> {
    match one(p)? {
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        other => Err(format!("expects an integer, got {other}")),
    }
}

fn helper_bool(p: &[&Value]) -> Result<String, String> {
    match one(p)? {
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expects a boolean, got {other}")),
    }
}

fn helper_plain(p: &[&Value]) -> Result<String, String> {
    let text = match one(p)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => return Err(format!("expects a string, got {other}")),
    };
    if is_plain_safe(&text) {
        Ok(text)
    } else {
        Err(format!(
            "{text:?} is not safe unquoted; use {{{{value}}}} to quote it"
        ))
    }
}

fn helper_json(p: &[&Value]) -> Result<String, String> {
    serde_json::to_string(one(p)?).map_err(|e| e.to_string())
}

fn helper_indent(p: &[&Value]) -> Result<String, String> {
    let [n, v] = p else {
        return Err(format!("expects 2 parameters, got {}", p.len()));
    };
    let n = n
        .as_u64()
        .ok_or("first parameter must be the indent width")? as usize;
    let yaml = crate::yaml::to_string(v);
    let pad = " ".repeat(n);
    Ok(yaml
        .trim_end_matches('\n')
        .lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Join the parameters into one string, quoted: for values built from parts
/// (`{{concat client.name " (" env.name ")"}}`), which `{{a}}-{{b}}` would
/// turn into `"a"-"b"`.
fn helper_concat(p: &[&Value]) -> Result<String, String> {
    let mut joined = String::new();
    for v in p {
        match v {
            Value::String(s) => joined.push_str(s),
            Value::Number(n) => joined.push_str(&n.to_string()),
            Value::Bool(b) => joined.push_str(&b.to_string()),
            other => return Err(format!("cannot join {other}")),
        }
    }
    Ok(yaml_quote(&joined))
}

/// A secret-store entry's name in an environment: `{{store_key env "web"
/// "admin"}}` (see `model::environment::StoreKeys`). A part holding `/`
/// (the wiring's `web/s3`) is that many parts. Each part is plain-safe
/// without its separator, so the name is too.
fn helper_store_key(p: &[&Value]) -> Result<String, String> {
    let [env, parts @ ..] = p else {
        return Err("expects the environment, then the entry's parts".into());
    };
    let keys = env
        .get("store_keys")
        .ok_or("the first parameter must be an environment (env or @root.env)")?;
    let text = |k: &str| keys.get(k).and_then(Value::as_str).unwrap_or_default();
    let (prefix, separator) = (text("prefix"), text("separator"));
    if parts.is_empty() {
        return Err("expects the entry's parts after the environment".into());
    }
    let mut name = prefix.to_owned();
    let mut split = Vec::new();
    for part in parts {
        match part {
            Value::String(s) => split.extend(s.split('/')),
            other => return Err(format!("a part must be a string, got {other}")),
        }
    }
    for part in split {
        if part.is_empty()
            || !part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(format!(
                "{part:?}: a part holds letters, digits, `-` and `.` only"
            ));
        }
        name.push_str(separator);
        name.push_str(part);
    }
    if is_plain_safe(&name) {
        Ok(name)
    } else {
        Err(format!("{name:?} is not safe unquoted"))
    }
}

/// Free text inside a `#` comment: only a line break could escape it.
fn helper_comment(p: &[&Value]) -> Result<String, String> {
    match one(p)? {
        Value::String(s) => Ok(s
            .split(['\n', '\r', '\u{2028}', '\u{2029}', '\u{85}'])
            .collect::<Vec<_>>()
            .join(" ")),
        other => Ok(other.to_string()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Yaml,
    Json,
    Text,
}

fn kind_of(path: &str) -> Kind {
    if is_yaml_path(path) {
        Kind::Yaml
    } else if path.ends_with(".json") {
        Kind::Json
    } else {
        Kind::Text
    }
}

fn registry(kind: Kind) -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    match kind {
        Kind::Yaml => hb.register_escape_fn(yaml_scalar),
        Kind::Json => hb.register_escape_fn(yaml_quote),
        Kind::Text => hb.register_escape_fn(handlebars::no_escape),
    }
    let helpers: [(&'static str, RawFn); 8] = [
        ("concat", helper_concat),
        ("store_key", helper_store_key),
        ("comment", helper_comment),
        ("int", helper_int),
        ("bool", helper_bool),
        ("plain", helper_plain),
        ("json", helper_json),
        ("indent", helper_indent),
    ];
    for (name, f) in helpers {
        hb.register_helper(name, Box::new(Raw(name, f)));
    }
    hb
}

/// The three registries with every template compiled, and the blueprint's
/// partials in each. Templates compile in pieces ([`chunks`]) on every
/// core, then join their registry.
fn compile(
    templates: &[Template<'_>],
    partials: &[Partial],
) -> Result<[Handlebars<'static>; 3], RenderFailure> {
    let compiled = crate::parallel::map(templates, |t| {
        if !t.hbs {
            return Ok(None);
        }
        let text = std::str::from_utf8(t.bytes).map_err(|_| RenderFailure::Template {
            template: t.source.clone(),
            message: "not UTF-8 text".into(),
        })?;
        chunks::compile(text, t.source.clone())
            .map(Some)
            .map_err(|e| RenderFailure::Template {
                template: t.source.clone(),
                message: e.to_string(),
            })
    });
    let mut registries = [
        registry(Kind::Yaml),
        registry(Kind::Json),
        registry(Kind::Text),
    ];
    for p in partials {
        for r in &mut registries {
            r.register_partial(&p.name, &p.text)
                .map_err(|e| RenderFailure::Template {
                    template: p.source.clone(),
                    message: e.to_string(),
                })?;
        }
    }
    for (t, compiled) in templates.iter().zip(compiled) {
        if let Some(template) = compiled? {
            registries[kind_of(&t.pattern) as usize].register_template(&t.source, template);
        }
    }
    Ok(registries)
}

/// The blueprint's folder of partials: `partials/<name>.<ext>.hbs` is
/// included as `{{> <name>}}`.
const PARTIALS: &str = "partials";

/// Text several templates share (two scripts declaring the same things
/// from different places), included with `{{> name}}` on a line of its
/// own, every line then indented as that line is (inside a YAML block
/// scalar, say).
struct Partial {
    name: String,
    source: String,
    text: String,
}

/// The partials of `blueprint`. A partial names no field: the templates
/// sharing it render with different contexts, and the checks that every
/// field a template names resolves read each template alone. It has no
/// blank line either, which the indentation would fill with spaces.
fn partials(blueprint: &Tree) -> Result<Vec<Partial>, RenderFailure> {
    let mut out = Vec::new();
    for (path, bytes) in blueprint.under(PARTIALS) {
        let source = format!("{PARTIALS}/{path}");
        let refuse = |message: &str| RenderFailure::Template {
            template: source.clone(),
            message: message.to_owned(),
        };
        let name = path
            .strip_suffix(".hbs")
            .and_then(|p| p.split('.').next())
            .filter(|n| {
                !n.is_empty()
                    && !path.contains('/')
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
            .ok_or_else(|| {
                refuse("a partial is partials/<name>.<ext>.hbs, its name letters, digits and _")
            })?;
        let text = std::str::from_utf8(bytes).map_err(|_| refuse("not UTF-8 text"))?;
        if text.contains("{{") {
            return Err(refuse(
                "a partial names no field ({{...}}): the templates including it render with different contexts",
            ));
        }
        if text.lines().any(|l| l.trim().is_empty()) {
            return Err(refuse(
                "a partial has no blank line: its lines are indented as the line including it",
            ));
        }
        out.push(Partial {
            name: name.to_owned(),
            source,
            text: text.to_owned(),
        });
    }
    Ok(out)
}

fn is_yaml_path(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// One template file of the blueprint and the scope it renders in.
struct Template<'a> {
    /// Path inside the blueprint (also the registry name).
    source: String,
    /// Output path pattern (tokens not yet expanded; `.hbs` stripped).
    pattern: String,
    /// Fixed component for files under `components/<id>/`.
    component: Option<usize>,
    /// The component whose `manifests` folder an environment's file under
    /// `templates/` belongs to: not rendered where it is left out.
    deployed_by: Option<usize>,
    /// Under `targets/compose/`: `[env]` expands over the Compose
    /// environments, whose `env` is only their name.
    compose: bool,
    /// Under `targets/<cloud>/`: `[env]` expands over the environments on
    /// that managed cloud only.
    cloud: Option<String>,
    hbs: bool,
    bytes: &'a [u8],
}

/// The blueprint's folder of single-host templates, rendered to
/// `compose/<env>/` for each environment that targets compose.
pub const COMPOSE_TEMPLATES: &str = "targets/compose";

/// The blueprint's folder of per-target templates: `targets/<cloud>/` is
/// rendered to `terraform/<env>/` for each environment on that cloud.
pub const TARGET_TEMPLATES: &str = "targets";

pub struct Renderer<'a> {
    model: &'a Model,
    blueprint: &'a Tree,
    yaml: YamlCheck,
}

/// Who parses the rendered YAML files back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YamlCheck {
    /// Rendering does, and names the template of a file that does not parse.
    Render,
    /// The caller parses every file anyway (`socle new` checks the whole
    /// set before writing it), so a second parse here would only double
    /// the cost; the caller names the template from the sources.
    Caller,
}

impl<'a> Renderer<'a> {
    pub fn new(model: &'a Model, blueprint: &'a Tree) -> Self {
        Self {
            model,
            blueprint,
            yaml: YamlCheck::Render,
        }
    }

    pub fn with_yaml_check(self, yaml: YamlCheck) -> Self {
        Self { yaml, ..self }
    }

    fn templates(&self) -> Result<Vec<Template<'a>>, RenderFailure> {
        let mut out = Vec::new();
        for (path, bytes) in self.blueprint.under("templates") {
            let (path, source, bytes) = resolve(self.blueprint, "templates", path, bytes)?;
            let folder = path.split('/').next().unwrap_or_default();
            // An environment's files of a component that is not rendered
            // (off by the spec's choices, or deployed in no environment).
            // Its other files stay: a folder's README may describe more
            // than its component (the backups' covers Velero too).
            let owned = |c: &crate::blueprint::Component| c.manifests.as_deref() == Some(folder);
            if path.contains("[env]")
                && self.model.manifest.components.iter().any(owned)
                && !self.model.components.iter().any(|e| owned(&e.component))
            {
                continue;
            }
            let deployed_by = path
                .contains("[env]")
                .then(|| {
                    self.model
                        .components
                        .iter()
                        .position(|e| e.component.manifests.as_deref() == Some(folder))
                })
                .flatten();
            out.push(Template {
                source,
                pattern: path.strip_suffix(".hbs").unwrap_or(path).to_owned(),
                component: None,
                deployed_by,
                compose: false,
                cloud: None,
                hbs: path.ends_with(".hbs"),
                bytes,
            });
        }
        for (i, e) in self.model.components.iter().enumerate() {
            let prefix = format!("components/{}", e.component.id);
            for (path, bytes) in self.blueprint.under(&prefix) {
                let (path, source, bytes) = resolve(self.blueprint, &prefix, path, bytes)?;
                out.push(Template {
                    source,
                    pattern: format!("{prefix}/{}", path.strip_suffix(".hbs").unwrap_or(path)),
                    component: Some(i),
                    deployed_by: None,
                    compose: false,
                    cloud: None,
                    hbs: path.ends_with(".hbs"),
                    bytes,
                });
            }
        }
        if !self.model.base.compose.environments.is_empty() {
            self.target_templates(COMPOSE_TEMPLATES, "compose", None, &mut out)?;
        }
        let mut clouds: Vec<&str> = self
            .model
            .envs()
            .iter()
            .filter_map(|e| e.cloud.as_ref().map(|c| c.target.as_str()))
            .collect();
        clouds.sort_unstable();
        clouds.dedup();
        for cloud in clouds {
            let folder = format!("{TARGET_TEMPLATES}/{cloud}");
            self.target_templates(&folder, "terraform", Some(cloud), &mut out)?;
        }
        Ok(out)
    }

    /// A target's templates, under `folder`, rendered to `<to>/<env>/` for
    /// each environment on it: the Compose environments (`cloud` none), or
    /// those on that managed cloud.
    fn target_templates(
        &self,
        folder: &str,
        to: &str,
        cloud: Option<&str>,
        out: &mut Vec<Template<'a>>,
    ) -> Result<(), RenderFailure> {
        for (path, bytes) in self.blueprint.under(folder) {
            let (path, source, bytes) = resolve(self.blueprint, folder, path, bytes)?;
            out.push(Template {
                source,
                pattern: format!("{to}/[env]/{}", path.strip_suffix(".hbs").unwrap_or(path)),
                component: None,
                deployed_by: None,
                compose: cloud.is_none(),
                cloud: cloud.map(str::to_owned),
                hbs: path.ends_with(".hbs"),
                bytes,
            });
        }
        Ok(())
    }

    pub fn render(&self) -> Result<FileSet, RenderFailure> {
        self.render_with_sources().map(|(files, _)| files)
    }

    /// The file set, and for each output path the blueprint file it was
    /// rendered from (what `socle why` reports and the lock records).
    pub fn render_with_sources(
        &self,
    ) -> Result<(FileSet, BTreeMap<String, String>), RenderFailure> {
        let templates = self.templates()?;
        let registries = compile(&templates, &partials(self.blueprint)?)?;
        let base = self.base()?;
        let envs = environments(&base);
        // Templates render independently, on every core; their outputs join
        // in template order, so errors and duplicates are reported as a
        // serial run would report them. Those that ask whether a component
        // has manifests of its own in an environment render last, told by
        // what the others rendered: a folder whose every file renders empty
        // there (keys a workload identity replaces, say) does not exist,
        // and an Application naming it would not sync.
        let asks = |t: &Template<'_>| {
            t.hbs && std::str::from_utf8(t.bytes).is_ok_and(|s| s.contains("extra_manifests"))
        };
        let (last, first): (Vec<usize>, Vec<usize>) =
            (0..templates.len()).partition(|i| asks(&templates[*i]));
        let mut rendered: Vec<Option<Rendered>> = (0..templates.len()).map(|_| None).collect();
        let done = crate::parallel::map(&first, |i| {
            self.render_one(&templates[*i], &base, envs, &registries, None)
        });
        let mut present = BTreeSet::new();
        for (i, r) in first.iter().zip(done) {
            if let Ok(outputs) = &r {
                for (path, _) in outputs {
                    if let Some(folder) = manifests_folder(path) {
                        present.insert(folder.to_owned());
                    }
                }
            }
            rendered[*i] = Some(r);
        }
        let done = crate::parallel::map(&last, |i| {
            self.render_one(&templates[*i], &base, envs, &registries, Some(&present))
        });
        for (i, r) in last.iter().zip(done) {
            rendered[*i] = Some(r);
        }
        let mut files = FileSet::new();
        let mut sources = BTreeMap::new();
        for (t, outputs) in templates.iter().zip(rendered.into_iter().flatten()) {
            for (path, bytes) in outputs? {
                if files.insert(path.clone(), bytes).is_some() {
                    return Err(RenderFailure::Duplicate { path });
                }
                sources.insert(path, t.source.clone());
            }
        }
        Ok((files, sources))
    }

    /// The files one template renders to.
    fn render_one(
        &self,
        t: &Template<'_>,
        base: &Map<String, Value>,
        envs: &[Value],
        registries: &[Handlebars<'static>; 3],
        present: Option<&BTreeSet<String>>,
    ) -> Result<Vec<(String, Vec<u8>)>, RenderFailure> {
        let mut out = Vec::new();
        let base = trimmed_base(base, t);
        // Contexts are built and rendered one at a time: holding every
        // expansion's context at once would multiply peak memory.
        self.expand(t, base, envs, present, &mut |path, ctx| {
            if !check_path(&path) {
                return Err(RenderFailure::UnsafePath {
                    template: t.source.clone(),
                    path,
                });
            }
            let bytes = if t.hbs {
                let hb = &registries[kind_of(&t.pattern) as usize];
                let text = hb.render_with_context(&t.source, ctx).map_err(|e| {
                    RenderFailure::Template {
                        template: t.source.clone(),
                        message: render_error_message(&e),
                    }
                })?;
                if text.trim().is_empty() {
                    return Ok(());
                }
                if self.yaml == YamlCheck::Render && is_yaml_path(&path) {
                    check_yaml(&text).map_err(|message| RenderFailure::InvalidYaml {
                        path: path.clone(),
                        template: t.source.clone(),
                        message,
                    })?;
                }
                // Handlebars writes into an 8 KiB buffer; most files are
                // smaller, and all of them are held until the end.
                let mut bytes = text.into_bytes();
                bytes.shrink_to_fit();
                bytes
            } else {
                t.bytes.to_vec()
            };
            out.push((path, bytes));
            Ok(())
        })?;
        Ok(out)
    }

    /// Each template's source text and the contexts it renders with, to
    /// check with [`unresolved_fields`] (across several specs: a component
    /// one spec leaves out is rendered by another).
    pub fn contexts(&self) -> Result<TemplateContexts, RenderFailure> {
        let base = self.base()?;
        let envs = environments(&base);
        let mut out = TemplateContexts::new();
        for t in self.templates()?.iter().filter(|t| t.hbs) {
            let text = std::str::from_utf8(t.bytes).map_err(|_| RenderFailure::Template {
                template: t.source.clone(),
                message: "not UTF-8 text".into(),
            })?;
            let entry = out
                .entry(t.source.clone())
                .or_insert_with(|| (text.to_owned(), Vec::new()));
            let base = trimmed_base(&base, t);
            self.expand(t, base, envs, None, &mut |_, ctx| {
                entry.1.push(ctx.data().clone());
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// The typed context as handlebars reads it, converted once per render.
    fn base(&self) -> Result<Map<String, Value>, RenderFailure> {
        match serde_json::to_value(&self.model.base).map_err(context_failure)? {
            Value::Object(m) => Ok(m),
            _ => Ok(Map::new()),
        }
    }

    /// Call `each` with every (output path, context) a template expands to.
    /// One context is built per template and changed in place between
    /// expansions (only `env`, `env.size`, `component` and `ns` differ):
    /// copying the base for each of a template's up to hundreds of
    /// expansions was a tenth of `socle new`'s time.
    fn expand(
        &self,
        t: &Template<'_>,
        base: Map<String, Value>,
        env_values: &[Value],
        present: Option<&BTreeSet<String>>,
        each: &mut dyn FnMut(String, &handlebars::Context) -> Result<(), RenderFailure>,
    ) -> Result<(), RenderFailure> {
        let model = self.model;
        let uses = |tok: &str| t.pattern.contains(tok);
        if t.compose {
            let mut ctx = handlebars::Context::from(Value::Object(base));
            for name in &model.base.compose.environments {
                if let Value::Object(m) = ctx.data_mut() {
                    m.insert("env".into(), serde_json::json!({ "name": name }));
                }
                each(t.pattern.replace("[env]", name), &ctx)?;
            }
            return Ok(());
        }
        // Component files always see their component; values-[env] files also see env.size.
        let envs: Vec<Option<usize>> = if uses("[env]") {
            (0..env_values.len()).map(Some).collect()
        } else {
            vec![None]
        };
        let comps: Vec<Option<usize>> = match t.component {
            Some(i) => vec![Some(i)],
            None if uses("[component]") => (0..model.components.len()).map(Some).collect(),
            None => vec![None],
        };
        let nss: Vec<Option<usize>> = if uses("[ns]") {
            (0..model.manifest.namespaces.len()).map(Some).collect()
        } else {
            vec![None]
        };
        let mut ctx = handlebars::Context::from(Value::Object(base));
        // Every expansion of a template sets the same keys (the lists above
        // are all `Some` or all `None`), so nothing of one expansion is
        // left over in the next.
        let set = |ctx: &mut handlebars::Context, key: &str, value: Value| {
            if let Value::Object(m) = ctx.data_mut() {
                m.insert(key.to_owned(), value);
            }
        };

        let enabled_everywhere = ctx.data().get("enabled").cloned();
        let namespaces_everywhere = ctx.data().get("namespaces").cloned();
        for env in &envs {
            let env_typed = env.and_then(|i| model.envs().get(i));
            if let Some(cloud) = &t.cloud {
                if env_typed.and_then(|e| e.cloud.as_ref()).map(|c| &c.target) != Some(cloud) {
                    continue;
                }
            }
            let owns_cluster = env_typed.is_none_or(|e| e.owns_cluster);
            // The component deploying this folder is left out here.
            if let (Some(i), Some(e)) = (t.deployed_by, env_typed) {
                if e.left_out.get(&model.components[i].component.id) == Some(&true) {
                    continue;
                }
            }
            // In an environment's files, `enabled` is what runs there.
            if let (Some(Value::Object(all)), Some(e)) = (&enabled_everywhere, env_typed) {
                let mut here = all.clone();
                here.retain(|id, _| e.left_out.get(id) != Some(&true));
                set(&mut ctx, "enabled", Value::Object(here));
            }
            // ... and `namespaces` what it creates.
            if let (Some(Value::Array(all)), Some(e)) = (&namespaces_everywhere, env_typed) {
                let mut here = all.clone();
                here.retain(|n| {
                    !n["id"]
                        .as_str()
                        .is_some_and(|id| e.absent_namespaces.iter().any(|a| a == id))
                });
                set(&mut ctx, "namespaces", Value::Array(here));
            }
            let mut env_path = t.pattern.clone();
            if let Some(e) = env {
                let value = env_values[*e].clone();
                env_path = env_path.replace("[env]", value["name"].as_str().unwrap_or_default());
                set(&mut ctx, "env", value);
            }
            for comp in &comps {
                // Another environment on the same cluster deploys it.
                if !owns_cluster && comp.is_some_and(|i| model.components[i].component.cluster_wide)
                {
                    continue;
                }
                // The environment's cloud provides it.
                if let (Some(i), Some(e)) = (comp, env_typed) {
                    if e.left_out.get(&model.components[*i].component.id) == Some(&true) {
                        continue;
                    }
                }
                let mut comp_path = env_path.clone();
                if let Some(i) = comp {
                    let e = &model.components[*i];
                    if let Some(env) = env {
                        let size = model.sizes[*env]
                            .get(&e.component.id)
                            .cloned()
                            .unwrap_or(Value::Object(Map::new()));
                        if let Some(Value::Object(env)) = ctx.data_mut().get_mut("env") {
                            env.insert("size".into(), size);
                        }
                    }
                    let mut component = model.component_context(e, env_typed, self.blueprint);
                    if let (Some(present), Some(env)) = (present, env_typed) {
                        component.extra_manifests = present.contains(&format!(
                            "components/{}/manifests/{}",
                            e.component.id, env.name
                        ));
                    }
                    set(
                        &mut ctx,
                        "component",
                        serde_json::to_value(component).map_err(context_failure)?,
                    );
                    comp_path = comp_path.replace("[component]", &e.component.id);
                }
                for ns in &nss {
                    if !owns_cluster && ns.is_some_and(|i| model.manifest.namespaces[i].system) {
                        continue;
                    }
                    if let (Some(i), Some(e)) = (ns, env_typed) {
                        if e.absent_namespaces
                            .contains(&model.manifest.namespaces[*i].id)
                        {
                            continue;
                        }
                    }
                    let mut path = comp_path.clone();
                    if let Some(i) = ns {
                        let n = &model.manifest.namespaces[*i];
                        let name = match env_typed {
                            Some(env) => env.ns.get(&n.id).unwrap_or(&n.name).clone(),
                            None => n.name.clone(),
                        };
                        let mut v = serde_json::to_value(n).unwrap_or(Value::Null);
                        v["name"] = Value::String(name);
                        set(&mut ctx, "ns", v);
                        path = path.replace("[ns]", &n.id);
                    }
                    each(path, &ctx)?;
                }
            }
        }
        Ok(())
    }
}

/// `components/<id>/manifests/<env>` of a file rendered in it.
fn manifests_folder(path: &str) -> Option<&str> {
    let mut parts = path.match_indices('/').map(|(i, _)| i);
    let (_, _, _, end) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let folder = &path[..end];
    let mut names = folder.split('/');
    (names.next() == Some("components") && names.nth(1) == Some("manifests")).then_some(folder)
}

/// The base context without the top-level keys a template never names. A
/// template can only reach a key by writing its name (partials name no
/// field, and there are no computed lookups of top-level keys; strict mode makes a key this
/// would wrongly drop an error, not a silent blank), so this cannot change
/// any output; it spares cloning the spec, the components and the
/// environments for each of the hundreds of renders that never read them.
fn trimmed_base(base: &Map<String, Value>, t: &Template<'_>) -> Map<String, Value> {
    if !t.hbs {
        return Map::new();
    }
    let text = String::from_utf8_lossy(t.bytes);
    base.iter()
        .filter(|(key, _)| text.contains(key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Each environment's object, as the base holds it (`environments`).
fn environments(base: &Map<String, Value>) -> &[Value] {
    base.get("environments")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The typed context did not convert to JSON: only a map with keys that
/// are not strings could cause it, and the context has none.
fn context_failure(e: serde_json::Error) -> RenderFailure {
    RenderFailure::Template {
        template: "(context)".into(),
        message: e.to_string(),
    }
}

fn render_error_message(e: &RenderError) -> String {
    let mut msg = e.reason().to_string();
    if let (Some(line), Some(col)) = (e.line_no, e.column_no) {
        msg = format!("line {line}, column {col}: {msg}");
    }
    msg
}

/// Template source → (text, contexts), see [`Renderer::contexts`].
pub type TemplateContexts = BTreeMap<String, (String, Vec<Value>)>;

/// Every field a template names that none of the contexts it renders with
/// has, branches not taken included: `template:line: path`. (Rendering
/// alone reports only the fields it evaluates.)
pub fn unresolved_fields(templates: &TemplateContexts) -> Result<Vec<String>, RenderFailure> {
    let mut out = Vec::new();
    for (source, (text, contexts)) in templates {
        let compiled =
            handlebars::Template::compile(text).map_err(|e| RenderFailure::Template {
                template: source.clone(),
                message: e.to_string(),
            })?;
        for (line, path) in paths::unresolved(&compiled, contexts) {
            out.push(format!("{source}:{line}: {path}"));
        }
    }
    Ok(out)
}

/// Every field a template of `blueprint` names that the type of its
/// context does not have, branches not taken and components no spec
/// enables included: `template:line: path`. Unlike [`unresolved_fields`],
/// this needs no spec: a field is missing when no spec could provide it.
pub fn unresolved_in_schema(blueprint: &Tree) -> Result<Vec<String>, RenderFailure> {
    let manifest =
        crate::blueprint::Manifest::load(blueprint).map_err(|e| RenderFailure::Template {
            template: crate::blueprint::MANIFEST.into(),
            message: e.to_string(),
        })?;
    let mut schemas = BTreeMap::new();
    let mut out = Vec::new();
    let files = blueprint
        .under("templates")
        .map(|(path, bytes)| (format!("templates/{path}"), path.to_owned(), false, bytes))
        .chain(
            blueprint
                .under("components")
                .map(|(path, bytes)| (format!("components/{path}"), path.to_owned(), true, bytes)),
        )
        // A cloud's templates render once per environment on it (the
        // Compose ones see a context of their own, checked by rendering).
        .chain(
            blueprint
                .under(TARGET_TEMPLATES)
                .filter(|(path, _)| !path.starts_with("compose/"))
                .map(|(path, bytes)| {
                    (
                        format!("{TARGET_TEMPLATES}/{path}"),
                        format!("[env]/{path}"),
                        false,
                        bytes,
                    )
                }),
        );
    for (source, pattern, in_component, bytes) in files {
        if !source.ends_with(".hbs") {
            continue;
        }
        let text = std::str::from_utf8(bytes).map_err(|_| RenderFailure::Template {
            template: source.clone(),
            message: "not UTF-8 text".into(),
        })?;
        let compiled =
            handlebars::Template::compile(text).map_err(|e| RenderFailure::Template {
                template: source.clone(),
                message: e.to_string(),
            })?;
        // The context has what `Renderer::expand` gives a template of this
        // pattern.
        let scope = (
            pattern.contains("[env]"),
            in_component || pattern.contains("[component]"),
            pattern.contains("[ns]"),
        );
        let (root, defs) = schemas.entry(scope).or_insert_with(|| {
            crate::model::context::template_schema(&manifest, scope.0, scope.1, scope.2)
        });
        for (line, path) in schema::unresolved(&compiled, root, defs) {
            out.push(format!("{source}:{line}: {path}"));
        }
    }
    Ok(out)
}

/// Output paths come from the blueprint and validated slugs only; this is the
/// last line of defence against a path escaping the output directory.
pub fn check_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && seg != ".git")
        && !TOKENS.iter().any(|t| path.contains(t))
}

fn check_yaml(text: &str) -> Result<(), String> {
    // Read, not built: the check only asks whether the text parses.
    crate::yaml::from_multiple::<serde::de::IgnoredAny>(text)
        .map(drop)
        .map_err(|e| crate::yaml::describe(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifests_folder_is_the_component_and_the_environment() {
        assert_eq!(
            manifests_folder("components/loki/manifests/prod/externalsecrets.yaml"),
            Some("components/loki/manifests/prod")
        );
        assert_eq!(
            manifests_folder("components/a/manifests/dev/sub/x.yaml"),
            Some("components/a/manifests/dev")
        );
        assert_eq!(manifests_folder("components/loki/values-prod.yaml"), None);
        assert_eq!(
            manifests_folder("components/zeppelin/overlays/prod/x.yaml"),
            None
        );
        assert_eq!(manifests_folder("components/a/manifests/prod"), None);
    }

    #[test]
    fn quoted_values_read_back_unchanged() {
        let hostile = [
            "plain",
            "a: b",
            "# not a comment",
            "\"quoted\" and 'single'",
            "multi\nline\n",
            "{{ not a template }}",
            "*alias",
            "&anchor",
            "!tag",
            "Société Générale — ÉÈ 日本",
            "tab\there",
            "yes",
            "null",
            "1.10",
            "- item",
            "back\\slash",
            "\u{2028}sep\u{85}",
            "",
            "Yes",
            "OFF",
            "a:",
            "trino",
            "https://keycloak.dev.acme.example/realms/acme",
            "v1.21.1",
        ];
        for s in hostile {
            for doc in [
                format!("k: {}\n", yaml_quote(s)),
                format!("k: {}\n", yaml_scalar(s)),
            ] {
                let v: serde_json::Value =
                    crate::yaml::from_str(&doc).unwrap_or_else(|e| panic!("{s:?}: {e}"));
                assert_eq!(v["k"].as_str(), Some(s), "{doc}");
            }
            let j: serde_json::Value = serde_json::from_str(&yaml_quote(s)).expect("valid JSON");
            assert_eq!(j.as_str(), Some(s));
        }
    }

    #[test]
    fn plain_refuses_unsafe_text() {
        assert!(is_plain_safe("trino.data-platform-processing.svc:8080"));
        assert!(is_plain_safe(
            "https://keycloak.dev.acme.example/realms/acme"
        ));
        assert!(is_plain_safe("/etc/platform-ca/ca.crt"));
        for bad in ["", "a b", "#x", "*x", "a: b", "-x", "x\ny"] {
            assert!(!is_plain_safe(bad), "{bad:?}");
        }
    }

    #[test]
    fn unsafe_paths_are_refused() {
        assert!(check_path("components/trino/values-dev.yaml"));
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../b",
            "a//b",
            ".git/config",
            "x/[env]/y",
        ] {
            assert!(!check_path(bad), "{bad}");
        }
    }
}

#[cfg(test)]
mod from_tests {
    use super::*;

    /// A blueprint tree of these files.
    pub(super) fn tree(files: &[(&str, &str)]) -> Tree {
        let mut files: Vec<(String, std::borrow::Cow<'static, [u8]>)> = files
            .iter()
            .map(|(p, b)| ((*p).to_owned(), b.as_bytes().to_vec().into()))
            .collect();
        files.sort();
        Tree {
            origin: "test".into(),
            files,
        }
    }

    #[test]
    fn a_from_file_renders_as_the_file_it_names() {
        let t = tree(&[
            ("components/a/base/init.sh", "echo hi\n"),
            (
                "targets/compose/a/init.sh.from",
                "components/a/base/init.sh\n",
            ),
        ]);
        let (name, source, bytes) = resolve(
            &t,
            "targets/compose",
            "a/init.sh.from",
            b"components/a/base/init.sh\n",
        )
        .unwrap();
        assert_eq!(name, "a/init.sh");
        assert_eq!(source, "components/a/base/init.sh");
        assert_eq!(bytes, b"echo hi\n");
        // Any other file is itself.
        let (name, source, _) = resolve(&t, "components/a", "base/init.sh", b"x").unwrap();
        assert_eq!(
            (name, source.as_str()),
            ("base/init.sh", "components/a/base/init.sh")
        );
    }

    #[test]
    fn a_from_file_that_names_nothing_usable_is_refused_with_both_ends() {
        let t = tree(&[
            ("components/a/base/init.sh", "echo hi\n"),
            ("components/a/base/v.yaml.hbs", "a: {{x}}\n"),
            ("targets/compose/b.from", "components/a/base/init.sh"),
        ]);
        for (text, problem) in [
            (
                "components/a/base/missing.sh",
                "is not a file of the blueprint",
            ),
            (
                "../components/a/base/init.sh",
                "is not a file of the blueprint",
            ),
            ("targets/compose/b.from", "is itself a `.from` file"),
            ("components/a/base/v.yaml.hbs", "`.hbs` suffix"),
            ("components/a/base/init.sh\nother", "is not one path"),
            ("", "is not one path"),
        ] {
            let err = resolve(&t, "targets/compose", "x/init.sh.from", text.as_bytes())
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(err.contains("targets/compose/x/init.sh.from"), "{err}");
            assert!(err.contains(problem), "{text:?}: {err}");
        }
    }
}

#[cfg(test)]
mod partial_tests {
    use super::from_tests::tree;
    use super::*;

    fn refused(path: &str, text: &str) -> String {
        match partials(&tree(&[(path, text)])) {
            Err(RenderFailure::Template { template, message }) => format!("{template}: {message}"),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("{path} accepted"),
        }
    }

    #[test]
    fn a_partial_is_named_by_its_file_and_indented_where_it_is_included() {
        let p = partials(&tree(&[("partials/greet.sh.hbs", "a() {\n  echo hi\n}\n")]))
            .expect("partials");
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].name.as_str(), p[0].source.as_str()),
            ("greet", "partials/greet.sh.hbs")
        );
        let template = Template {
            source: "t".into(),
            pattern: "t.yaml".into(),
            component: None,
            deployed_by: None,
            compose: false,
            cloud: None,
            hbs: true,
            bytes: b"script: |\n  {{> greet}}\n  a\n",
        };
        let registries = compile(std::slice::from_ref(&template), &p).expect("compile");
        let out = registries[Kind::Yaml as usize]
            .render("t", &serde_json::json!({}))
            .expect("render");
        assert_eq!(out, "script: |\n  a() {\n    echo hi\n  }\n  a\n");
    }

    #[test]
    fn a_partial_naming_a_field_a_blank_line_or_no_name_is_refused() {
        assert!(refused("partials/p.sh.hbs", "echo {{env.name}}\n").contains("names no field"),);
        assert!(refused("partials/p.sh.hbs", "a\n\nb\n").contains("no blank line"));
        for path in [
            "partials/.sh.hbs",
            "partials/p-q.sh.hbs",
            "partials/sub/p.sh.hbs",
            "partials/p.sh",
        ] {
            assert!(
                refused(path, "a\n").contains("partials/<name>.<ext>.hbs"),
                "{path}"
            );
        }
    }
}
