//! The repository `socle new`, `diff` and `update` write: the generator's
//! files, with each environment's system graph, as `socle check` models it
//! from those very files, embedded in the README. This module composes the
//! two pipelines; neither reaches into the other.

use std::cell::RefCell;

use crate::check::engine::{Embedded, PolicyError};
use crate::check::{self, system, Checker, Outcome};
use crate::generate::{self, GenerateError, Generated, Inputs};
use crate::render::{FileSet, RenderFailure, YamlCheck};

/// Where the README template wants the graphs.
pub const GRAPH_MARKER: &str = "<!-- socle:system-graph -->";

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    Check(#[from] check::CheckError),
}

pub fn render(inputs: &Inputs<'_>) -> Result<Generated, GenerateError> {
    generate::generate_with(
        inputs,
        &|files| {
            // Moved out and back: the model reads a list, not a copy.
            let list: Vec<(String, Vec<u8>)> = std::mem::take(files).into_iter().collect();
            let systems = system::model_files(&list);
            *files = list.into_iter().collect();
            with_graphs(files, &systems)
        },
        YamlCheck::Render,
    )
}

/// [`render`], and the check of the result by the embedded policies (what
/// `socle new` runs before it writes anything). The check's own models of
/// the environments give the graphs, so the files are parsed and modelled
/// once (the check's parse is also the rendered YAML's only parse); the
/// policies compile while the spec renders.
pub fn render_checked(
    inputs: &Inputs<'_>,
    options: &check::Options,
) -> Result<(Generated, Outcome), RepositoryError> {
    std::thread::scope(|scope| {
        let gate = RefCell::new(Gate::Loading(scope.spawn(Embedded::load)));
        let describe = |files: &mut FileSet| {
            // Rendering's scratch is freed; the check starts on clean heaps.
            crate::memory::release();
            let mut gate = gate.borrow_mut();
            // The lock is written after the graphs; an empty one stands in,
            // so that the final check sees the same list of files and
            // reuses every result that does not read the README or the lock.
            let lock = vec![(crate::lock::PATH.to_owned(), Vec::new())];
            match gate
                .checker(options)
                .and_then(|c| c.check_lent(files, lock))
            {
                Ok(outcome) => with_graphs(files, &outcome.systems),
                Err(e) => {
                    *gate = Gate::Failed(e);
                    Vec::new()
                }
            }
        };
        let mut generated = generate::generate_with(inputs, &describe, YamlCheck::Caller)?;
        let outcome = gate
            .into_inner()
            .checker(options)?
            .check_lent(&mut generated.files, Vec::new())?;
        crate::memory::release();
        if let Some(failure) = invalid_yaml(&generated, &outcome) {
            return Err(GenerateError::Render(failure).into());
        }
        Ok((generated, outcome))
    })
}

/// The check of [`render_checked`]: its policies compiling, then ready.
enum Gate<'scope> {
    Loading(std::thread::ScopedJoinHandle<'scope, Result<Embedded, PolicyError>>),
    Ready(Box<Checker>),
    Failed(check::CheckError),
    Spent,
}

impl Gate<'_> {
    fn checker(&mut self, options: &check::Options) -> Result<&mut Checker, check::CheckError> {
        match std::mem::replace(self, Gate::Spent) {
            Gate::Loading(handle) => {
                let embedded = handle
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
                *self = Gate::Ready(Box::new(Checker::with_embedded(embedded, &[], options)?));
            }
            Gate::Failed(e) => return Err(e),
            other => *self = other,
        }
        match self {
            Gate::Ready(checker) => Ok(checker),
            _ => Err(PolicyError::Eval("the embedded policies failed to load".into()).into()),
        }
    }
}

/// A rendered file the check could not parse: a blueprint bug, reported
/// as rendering reports it, with the template it came from.
fn invalid_yaml(generated: &Generated, outcome: &Outcome) -> Option<RenderFailure> {
    outcome.findings.iter().find_map(|f| {
        let template = generated.sources.get(&f.file)?;
        (f.rule == "SOC-PARSE-001").then(|| RenderFailure::InvalidYaml {
            path: f.file.clone(),
            template: template.clone(),
            message: match f.line {
                Some(line) => format!("line {line}: {}", f.message),
                None => f.message.clone(),
            },
        })
    })
}

/// The README with the Mermaid graph of each environment in place of the
/// marker (GitHub and GitLab render Mermaid blocks).
fn with_graphs(files: &FileSet, systems: &[system::System]) -> Vec<(String, Vec<u8>)> {
    let Some(readme) = files
        .get("README.md")
        .and_then(|b| std::str::from_utf8(b).ok())
    else {
        return Vec::new();
    };
    if !readme.contains(GRAPH_MARKER) {
        return Vec::new();
    }
    let mut graphs = String::new();
    for s in systems {
        graphs.push_str(&format!(
            "#### {}\n\n```mermaid\n{}```\n\n",
            s.environment,
            system::graph::mermaid(s)
        ));
    }
    let text = readme.replacen(GRAPH_MARKER, graphs.trim_end(), 1);
    vec![("README.md".to_owned(), text.into_bytes())]
}
