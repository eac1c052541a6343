//! The repository `socle new`, `diff` and `update` write: the generator's
//! files, with each environment's system graph, as `socle check` models it
//! from those very files, embedded in the README. This module composes the
//! two pipelines; neither reaches into the other.

use crate::check::system;
use crate::generate::{self, GenerateError, Generated, Inputs};
use crate::render::FileSet;

/// Where the README template wants the graphs.
pub const GRAPH_MARKER: &str = "<!-- socle:system-graph -->";

pub fn render(inputs: &Inputs<'_>) -> Result<Generated, GenerateError> {
    generate::generate_with(inputs, &describe)
}

/// The README with the Mermaid graph of each environment in place of the
/// marker (GitHub and GitLab render Mermaid blocks).
fn describe(files: &FileSet) -> Vec<(String, Vec<u8>)> {
    let Some(readme) = files
        .get("README.md")
        .and_then(|b| std::str::from_utf8(b).ok())
    else {
        return Vec::new();
    };
    if !readme.contains(GRAPH_MARKER) {
        return Vec::new();
    }
    let list: Vec<(String, Vec<u8>)> = files.iter().map(|(p, b)| (p.clone(), b.clone())).collect();
    let mut graphs = String::new();
    for s in system::model_files(&list) {
        graphs.push_str(&format!(
            "#### {}\n\n```mermaid\n{}```\n\n",
            s.environment,
            system::graph::mermaid(&s)
        ));
    }
    let text = readme.replacen(GRAPH_MARKER, graphs.trim_end(), 1);
    vec![("README.md".to_owned(), text.into_bytes())]
}
