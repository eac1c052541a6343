//! `socle check --render`: each kustomize overlay built with the real
//! kustomize and its documents checked as the cluster will receive them
//! (namespaces renamed, patches applied). Findings name the overlay and,
//! where the rendered object can be traced to a file of the repository, that
//! file and line.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::finding::{Finding, Severity};
use super::parse::Document;

/// A kustomize overlay `--render` refuses to build.
const RULE: &str = "SOC-RENDER-001";

/// A kustomize overlay kustomize cannot build.
const UNBUILT: &str = "SOC-RENDER-002";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("--render needs `kustomize` or `kubectl` on PATH to build the overlays; install one or drop --render")]
    NoTool,
    #[error("running kustomize on overlay {overlay} failed")]
    Run {
        overlay: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why kustomize could not build an overlay, or could not be run.
enum Failure {
    Tool(RenderError),
    Build(String),
}

/// The kustomization roots: every folder with a kustomization that no
/// other kustomization includes (as a resource, base or component), what
/// `kustomize build` is run on. A `kind: Component` is only built through
/// what includes it.
pub fn overlays(files: &[(String, Vec<u8>)]) -> Vec<String> {
    let layout = super::parse::Layout::of(files);
    let mut out: Vec<String> = files
        .iter()
        .filter(|(p, _)| super::parse::is_kustomization(p))
        .filter(|(_, bytes)| {
            crate::yaml::from_slice::<Value>(bytes)
                .map(|k| k["kind"] != "Component")
                .unwrap_or(true)
        })
        .map(|(p, _)| p.rsplit_once('/').map_or("", |(dir, _)| dir).to_owned())
        .filter(|dir| !layout.listed.contains(dir))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
}

fn build(root: &Path, overlay: &str) -> Result<String, Failure> {
    let dir = root.join(overlay);
    let mut cmd = if on_path("kustomize") {
        let mut c = Command::new("kustomize");
        c.arg("build").arg(&dir);
        c
    } else if on_path("kubectl") {
        let mut c = Command::new("kubectl");
        c.arg("kustomize").arg(&dir);
        c
    } else {
        return Err(Failure::Tool(RenderError::NoTool));
    };
    let out = cmd.output().map_err(|e| {
        Failure::Tool(RenderError::Run {
            overlay: overlay.to_owned(),
            source: e,
        })
    })?;
    if !out.status.success() {
        // Paths relative to the repository, as every other message: the
        // report does not depend on where the checkout lies.
        let absolute = fs_err::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if absolute.is_absolute() {
            let absolute = absolute.display().to_string();
            stderr = stderr
                .replace(&format!("{absolute}/"), "")
                .replace(&absolute, ".");
        }
        return Err(Failure::Build(kustomize_error(&stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// kustomize's error, as a one-paragraph message: its deprecation
/// warnings dropped, kubectl's log prefix (`E1205 10:00:00 run.go:72]
/// "command failed" err=`) taken off, bounded to 600 characters.
fn kustomize_error(stderr: &str) -> String {
    const LOGGED: &str = "\"command failed\" err=";
    let mut text = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("# Warning:"))
        .map(|l| match l.find(LOGGED) {
            // klog writes `err="…"` Go-quoted on one line, or `err=<` and
            // the message on the lines up to `>`.
            Some(i) => {
                let err = &l[i + LOGGED.len()..];
                match err.strip_prefix('"').and_then(|e| e.strip_suffix('"')) {
                    Some(quoted) => quoted.replace("\\\"", "\"").replace("\\\\", "\\"),
                    None => err.trim_start_matches('<').to_owned(),
                }
            }
            None => l.strip_prefix("Error: ").unwrap_or(l).to_owned(),
        })
        .filter(|l| !l.is_empty() && l != ">")
        .collect::<Vec<_>>()
        .join(" ");
    if text.chars().count() > 600 {
        text = text.chars().take(600).collect::<String>() + "…";
    }
    if text.is_empty() {
        "kustomize failed and said nothing".to_owned()
    } else {
        text
    }
}

/// The kustomization file of `overlay`, as the repository names it.
fn kustomization_of(files: &[(String, Vec<u8>)], overlay: &str) -> String {
    super::parse::KUSTOMIZATION_NAMES
        .iter()
        .map(|name| {
            if overlay.is_empty() {
                (*name).to_owned()
            } else {
                format!("{overlay}/{name}")
            }
        })
        .find(|path| files.iter().any(|(p, _)| p == path))
        .unwrap_or_else(|| format!("{overlay}/kustomization.yaml"))
}

/// What `--render` produced: the documents of every overlay it built, each
/// labelled with its overlay, and the overlays it refused to build.
#[derive(Default)]
pub struct Rendered {
    pub overlays: Vec<(String, Vec<Document>)>,
    pub refused: Vec<Finding>,
}

/// The kustomization fields whose entries kustomize loads, and so fetches
/// when they name a URL.
const LOADED: &[&str] = &[
    "resources",
    "bases",
    "components",
    "crds",
    "configurations",
    "transformers",
    "generators",
    "validators",
];

/// URL prefixes `socle-check.yaml` allows `--render` to fetch
/// (`render.allowed_remote_bases`), or why the file cannot tell.
pub(crate) fn allowed_remote_bases(files: &[(String, Vec<u8>)]) -> Result<Vec<String>, String> {
    let config = super::config::Config::from_files(files).map_err(|e| {
        format!("{e}; no remote base is fetched until render.allowed_remote_bases is a list of URL prefixes, e.g. `render: {{allowed_remote_bases: [\"https://github.com/acme/bases//\"]}}`")
    })?;
    let list = config.render.allowed_remote_bases;
    if list.iter().any(|p| p.trim().is_empty()) {
        return Err("render.allowed_remote_bases holds an empty prefix, which would allow every URL; remove it".into());
    }
    Ok(list)
}

/// Whether kustomize would fetch `entry` of a kustomization in `dir`: a URL
/// or git address, or a host-like path (`example.com/org/repo`) that is not
/// in the repository (kustomize tries what is not local as a git address).
fn fetched(entry: &str, dir: &str, exists: &dyn Fn(&str) -> bool) -> bool {
    use super::system::kustomize::{is_remote, join};
    if is_remote(entry) || entry.starts_with("git::") || entry.starts_with("gh:") {
        return true;
    }
    match entry.split_once('/') {
        Some((host, _)) => {
            host.contains('.') && host != "." && host != ".." && !exists(&join(dir, entry))
        }
        None => false,
    }
}

/// The remote entries of `overlay` and of the local kustomizations it
/// includes, not in `allowed`: (kustomization file, line, entry). A
/// kustomization that does not read is listed too (entry `None`): what it
/// would fetch cannot be told.
fn remote_entries(
    files: &[(String, Vec<u8>)],
    overlay: &str,
    allowed: &[String],
) -> Vec<(String, Option<usize>, Option<String>)> {
    use super::system::kustomize::join;
    let by_path: std::collections::HashMap<&str, &[u8]> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let exists = |path: &str| {
        let prefix = format!("{path}/");
        by_path.contains_key(path) || files.iter().any(|(p, _)| p.starts_with(&prefix))
    };
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![overlay.to_owned()];
    while let Some(dir) = todo.pop() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let Some((path, bytes)) = super::parse::KUSTOMIZATION_NAMES.iter().find_map(|name| {
            let path = format!("{dir}/{name}");
            by_path.get(path.as_str()).map(|b| (path, *b))
        }) else {
            continue;
        };
        let Ok(k) = crate::yaml::from_slice::<Value>(bytes) else {
            out.push((path, None, None));
            continue;
        };
        let text = String::from_utf8_lossy(bytes);
        let listed = LOADED
            .iter()
            .flat_map(|field| k[*field].as_array().into_iter().flatten())
            .chain(std::iter::once(&k["openapi"]["path"]));
        for entry in listed.filter_map(Value::as_str) {
            if fetched(entry, &dir, &exists) {
                if !allowed
                    .iter()
                    .any(|prefix| entry.starts_with(prefix.as_str()))
                {
                    let line = text.lines().position(|l| l.contains(entry)).map(|i| i + 1);
                    out.push((path.clone(), line, Some(entry.to_owned())));
                }
            } else {
                todo.push(join(&dir, entry));
            }
        }
    }
    out
}

/// The rendered documents of every overlay, each labelled with its overlay.
/// An overlay that would make kustomize fetch a remote base the repository
/// does not allow is not built: the pull request under check would choose
/// the URLs the CI runner requests.
pub fn render_all(root: &Path, files: &[(String, Vec<u8>)]) -> Result<Rendered, RenderError> {
    let mut out = Rendered::default();
    // A configuration that does not read allows nothing, and is reported
    // once an overlay needs it.
    let config = allowed_remote_bases(files);
    let allowed = config.as_deref().unwrap_or_default();
    let mut config_reported = false;
    for overlay in overlays(files) {
        let remote = remote_entries(files, &overlay, allowed);
        if !remote.is_empty() {
            if let (Err(why), false) = (&config, config_reported) {
                config_reported = true;
                out.refused.push(Finding::new(
                    RULE,
                    Severity::Deny,
                    super::config::PATH,
                    None,
                    why.clone(),
                ));
            }
            for (file, line, entry) in remote {
                let message = match entry {
                    Some(url) => format!(
                        "overlay {overlay} is not built: kustomize would fetch the remote base {url}, which render.allowed_remote_bases in {} does not name; vendor the base into the repository, or add its URL prefix to the allow-list",
                        super::config::PATH
                    ),
                    None => format!(
                        "overlay {overlay} is not built: {file} does not parse as YAML, so what it would fetch cannot be told; fix its syntax"
                    ),
                };
                out.refused
                    .push(Finding::new(RULE, Severity::Deny, &file, line, message));
            }
            continue;
        }
        // An overlay kustomize cannot build is a denial on its
        // kustomization (ArgoCD could not sync it either); the other
        // overlays are still built and judged.
        let built = match build(root, &overlay) {
            Ok(text) => crate::yaml::from_multiple_merged::<Value>(&text)
                .map_err(|e| format!("its output does not parse: {}", crate::yaml::describe(&e))),
            Err(Failure::Tool(e)) => return Err(e),
            Err(Failure::Build(why)) => Err(why),
        };
        let values = match built {
            Ok(values) => values,
            Err(why) => {
                out.refused.push(Finding::new(
                    UNBUILT,
                    Severity::Deny,
                    &kustomization_of(files, &overlay),
                    None,
                    format!(
                        "kustomize cannot build overlay {}: {why}",
                        display(&overlay)
                    ),
                ));
                continue;
            }
        };
        let mut docs = Vec::new();
        for value in values {
            if !value.is_null() {
                docs.push(Document::rendered(&format!("{overlay} (rendered)"), value));
            }
        }
        out.overlays.push((overlay, docs));
    }
    Ok(out)
}

/// An overlay as the messages name it (`.` for the repository's root).
fn display(overlay: &str) -> &str {
    if overlay.is_empty() {
        "."
    } else {
        overlay
    }
}

fn kind_and_name(v: &Value) -> Option<(&str, &str)> {
    Some((
        v.get("kind")?.as_str()?,
        v.get("metadata")?.get("name")?.as_str()?,
    ))
}

/// Point findings on rendered documents at the repository file the object
/// comes from, keeping the overlay in the message. The object is found by
/// its identity in the kustomize model of the overlay (names after prefixes
/// and suffixes), else by kind and name under the overlay's top folder.
pub(crate) fn trace(
    findings: Vec<Finding>,
    overlay: &str,
    rendered: &[Document],
    sources: &[&Document],
    model: &super::system::kustomize::Files<'_>,
) -> Vec<Finding> {
    let rendered_path = format!("{overlay} (rendered)");
    let emitted = super::system::kustomize::build(model, overlay).objects;
    findings
        .into_iter()
        .map(|mut f| {
            if f.file != rendered_path {
                return f;
            }
            f.message = format!("[{overlay}] {}", f.message);
            let resource = f.resource.clone();
            let object = rendered
                .iter()
                .find(|d| d.resource() == resource)
                .and_then(|d| kind_and_name(&d.value));
            let modelled = object.and_then(|(kind, name)| {
                emitted
                    .iter()
                    .find(|o| o.kind == kind && o.name == name && o.doc.is_some())
                    .and_then(|o| o.doc)
            });
            let origin = modelled.or_else(|| {
                object.and_then(|(kind, name)| {
                    sources.iter().copied().find(|s| {
                        kind_and_name(&s.value) == Some((kind, name))
                            && s.path.starts_with(overlay.split('/').next().unwrap_or(""))
                    })
                })
            });
            match origin {
                Some(src) => {
                    f.file = src.path.clone();
                    f.line = Some(src.line);
                }
                None => {
                    f.file = format!("{overlay}/kustomization.yaml");
                    f.line = None;
                }
            }
            f
        })
        .collect()
}

/// One finding per place and problem: a base that several overlays build
/// is reported once, at its line, naming every overlay (`[a, b] message`).
pub(crate) fn merge_overlays(findings: Vec<Finding>) -> Vec<Finding> {
    let mut merged: Vec<(Finding, Vec<String>)> = Vec::new();
    let mut index: std::collections::HashMap<(String, Option<usize>, String, String), usize> =
        std::collections::HashMap::new();
    for mut f in findings {
        let Some((overlay, rest)) = f
            .message
            .strip_prefix('[')
            .and_then(|m| m.split_once("] "))
            .map(|(o, r)| (o.to_owned(), r.to_owned()))
        else {
            merged.push((f, Vec::new()));
            continue;
        };
        let key = (f.file.clone(), f.line, f.rule.clone(), rest.clone());
        match index.get(&key) {
            Some(&i) => merged[i].1.push(overlay),
            None => {
                f.message = rest;
                index.insert(key, merged.len());
                merged.push((f, vec![overlay]));
            }
        }
    }
    merged
        .into_iter()
        .map(|(mut f, overlays)| {
            if !overlays.is_empty() {
                f.message = format!("[{}] {}", overlays.join(", "), f.message);
            }
            f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        list.iter()
            .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn kustomize_errors_read_as_one_message() {
        let kubectl = "# Warning: 'bases' is deprecated. Please use 'resources' instead.\nE1205 15:02:53.983553    6103 run.go:72] \"command failed\" err=\"invalid Kustomization: json: unknown field \\\"namePrefx\\\"\"\n";
        assert_eq!(
            kustomize_error(kubectl),
            "invalid Kustomization: json: unknown field \"namePrefx\""
        );
        assert_eq!(
            kustomize_error("Error: accumulating resources: x\n"),
            "accumulating resources: x"
        );
        assert_eq!(kustomize_error(""), "kustomize failed and said nothing");
        assert!(kustomize_error(&"y".repeat(2000)).chars().count() <= 601);
    }

    #[test]
    fn what_kustomize_would_fetch() {
        let here = |p: &str| p == "a/vendor.io/base" || p == "a/service.yaml";
        for remote in [
            "github.com/x/y//base?ref=v1",
            "https://example.com/base.yaml",
            "git@github.com:x/y.git",
            "git::https://example.com/y",
            "example.com/org/repo",
        ] {
            assert!(fetched(remote, "a", &here), "{remote}");
        }
        for local in ["../base", "service.yaml", "vendor.io/base", "missing.yaml"] {
            assert!(!fetched(local, "a", &here), "{local}");
        }
    }

    #[test]
    fn a_remote_base_is_found_through_local_ones_and_the_allow_list_admits_it() {
        let tree = files(&[
            (
                "c/overlays/dev/kustomization.yaml",
                "resources:\n  - ../../base\n  - cm.yaml\n",
            ),
            ("c/overlays/dev/cm.yaml", "kind: ConfigMap\n"),
            (
                "c/base/kustomization.yaml",
                "resources:\n  - s.yaml\ncomponents:\n  - https://example.com/c\n",
            ),
            ("c/base/s.yaml", "kind: Service\n"),
        ]);
        let found = remote_entries(&tree, "c/overlays/dev", &[]);
        assert_eq!(
            found,
            vec![(
                "c/base/kustomization.yaml".to_owned(),
                Some(4),
                Some("https://example.com/c".to_owned())
            )]
        );
        assert!(
            remote_entries(&tree, "c/overlays/dev", &["https://example.com/".into()]).is_empty()
        );
        // What does not parse cannot be vouched for.
        let broken = files(&[("c/overlays/dev/kustomization.yaml", "resources: [\n")]);
        assert_eq!(remote_entries(&broken, "c/overlays/dev", &[])[0].2, None);
    }
}
