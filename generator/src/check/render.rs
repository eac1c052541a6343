//! `socle check --render`: each kustomize overlay built with the real
//! kustomize and its documents checked as the cluster will receive them
//! (namespaces renamed, patches applied). Findings name the overlay and,
//! where the rendered object can be traced to a file of the repository, that
//! file and line.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use super::finding::Finding;
use super::parse::Document;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("--render needs `kustomize` or `kubectl` on PATH to build the overlays; install one or drop --render")]
    NoTool,
    #[error("building overlay {overlay} failed:\n{message}")]
    Build { overlay: String, message: String },
}

/// Overlay directories: `.../overlays/<name>/` holding a kustomization.
pub fn overlays(files: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut out: Vec<String> = files
        .iter()
        .filter_map(|(p, _)| {
            let dir = p
                .strip_suffix("/kustomization.yaml")
                .or_else(|| p.strip_suffix("/kustomization.yml"))?;
            (dir.rsplit('/').nth(1) == Some("overlays")).then(|| dir.to_owned())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
}

fn build(root: &Path, overlay: &str) -> Result<String, RenderError> {
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
        return Err(RenderError::NoTool);
    };
    let out = cmd.output().map_err(|e| RenderError::Build {
        overlay: overlay.to_owned(),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(RenderError::Build {
            overlay: overlay.to_owned(),
            message: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The rendered documents of every overlay, each labelled with its overlay.
pub fn render_all(
    root: &Path,
    files: &[(String, Vec<u8>)],
) -> Result<Vec<(String, Vec<Document>)>, RenderError> {
    let mut out = Vec::new();
    for overlay in overlays(files) {
        let text = build(root, &overlay)?;
        let mut docs = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc).map_err(|e| RenderError::Build {
                overlay: overlay.clone(),
                message: e.to_string(),
            })?;
            if let Ok(value) = serde_json::to_value(value) {
                if !value.is_null() {
                    docs.push(Document::rendered(&format!("{overlay} (rendered)"), value));
                }
            }
        }
        out.push((overlay, docs));
    }
    Ok(out)
}

fn kind_and_name(v: &Value) -> Option<(&str, &str)> {
    Some((
        v.get("kind")?.as_str()?,
        v.get("metadata")?.get("name")?.as_str()?,
    ))
}

/// Point findings on rendered documents at the repository file the object
/// comes from (same kind and name), keeping the overlay in the message.
pub fn trace(
    findings: Vec<Finding>,
    overlay: &str,
    rendered: &[Document],
    sources: &[&Document],
) -> Vec<Finding> {
    let rendered_path = format!("{overlay} (rendered)");
    findings
        .into_iter()
        .map(|mut f| {
            if f.file != rendered_path {
                return f;
            }
            f.message = format!("[{overlay}] {}", f.message);
            let resource = f.resource.clone();
            let origin = rendered
                .iter()
                .find(|d| d.resource() == resource)
                .and_then(|d| kind_and_name(&d.value))
                .and_then(|(kind, name)| {
                    sources.iter().find(|s| {
                        kind_and_name(&s.value) == Some((kind, name))
                            && s.path.starts_with(overlay.split('/').next().unwrap_or(""))
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
