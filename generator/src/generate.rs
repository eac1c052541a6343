//! The `new` pipeline up to the in-memory file set.

use std::collections::BTreeMap;

use crate::blueprint::{BlueprintError, Manifest};
use crate::lock::{self, Lock};
use crate::model::{self, Model, ModelError};
use crate::render::{FileSet, RenderFailure, Renderer, YamlCheck};
use crate::source::Tree;
use crate::spec::{self, SpecError};

pub use crate::core::SPEC_PATH;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Blueprint(#[from] BlueprintError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Render(#[from] RenderFailure),
}

pub struct Inputs<'a> {
    pub spec_text: &'a str,
    pub spec_origin: &'a str,
    pub blueprint: &'a Tree,
    pub environments: &'a Tree,
}

pub struct Generated {
    pub model: Model,
    pub files: FileSet,
    /// Output path → the blueprint file it was rendered from.
    pub sources: BTreeMap<String, String>,
}

pub fn generate(inputs: &Inputs<'_>) -> Result<Generated, GenerateError> {
    generate_with(inputs, &|_| Vec::new(), YamlCheck::Render)
}

/// Files that describe the rendered set (computed from it, e.g. the system
/// graph of each environment), added before the lock records every file.
/// It may take the files for a while (to check them without a copy) and
/// must give every one back.
pub type Describe<'a> = dyn Fn(&mut FileSet) -> Vec<(String, Vec<u8>)> + 'a;

/// [`generate`], with `describe`'s files added to the set before the lock
/// is written, so the lock covers them like any rendered file.
pub fn generate_with(
    inputs: &Inputs<'_>,
    describe: &Describe<'_>,
    yaml: YamlCheck,
) -> Result<Generated, GenerateError> {
    let manifest = Manifest::load(inputs.blueprint)?;
    let env_names = model::environment_names(inputs.environments);
    let spec = spec::parse_for(
        inputs.spec_text,
        inputs.spec_origin,
        &env_names,
        &manifest.options,
        manifest.reads(),
    )?;
    spec::check_blueprint(
        &spec,
        inputs.spec_text,
        inputs.spec_origin,
        &manifest.name,
        &manifest.targets,
        &manifest.cluster_sections,
    )?;
    let model = Model::build(spec, manifest, inputs.blueprint, inputs.environments)?;
    let (mut files, mut sources) = Renderer::new(&model, inputs.blueprint)
        .with_yaml_check(yaml)
        .render_with_sources()?;
    for (path, bytes) in compose_files(&model)? {
        sources.insert(path.clone(), crate::blueprint::MANIFEST.to_owned());
        files.insert(path, bytes);
    }
    // The spec is kept verbatim (comments included): it is the client's
    // document, and the lock records how it was rendered.
    files.insert(SPEC_PATH.to_owned(), inputs.spec_text.as_bytes().to_vec());
    for (path, bytes) in describe(&mut files) {
        files.insert(path, bytes);
    }
    let lock = Lock::new(
        &model.manifest.name,
        &model.manifest.version,
        lock::digest(&[inputs.blueprint, inputs.environments]),
        SPEC_PATH,
        &files,
        &sources,
    );
    files.insert(lock::PATH.to_owned(), lock.to_yaml().into_bytes());
    Ok(Generated {
        model,
        files,
        sources,
    })
}

/// Each Compose environment's `compose.yaml` and `.env.example`, derived
/// from the blueprint's declarations and the wiring (see [`crate::compose`]).
fn compose_files(model: &Model) -> Result<Vec<(String, Vec<u8>)>, ModelError> {
    let ctx = &model.base.compose;
    // The host's own set (see `ComposeContext::components`), not the
    // clusters': the blueprint may override choices for it.
    let enabled = crate::compose::in_order(
        model.manifest.compose_declared(),
        ctx.components.iter().map(|c| c.id.as_str()),
    );
    let mut out = Vec::new();
    for env in &ctx.environments {
        let project = format!("{}-{env}", model.spec.client.slug);
        out.push((
            format!("compose/{env}/compose.yaml"),
            crate::compose::compose_file(ctx, &enabled, env)
                .map_err(|message| ModelError::Compose { message })?
                .into_bytes(),
        ));
        out.push((
            format!("compose/{env}/.env.example"),
            crate::compose::env_example(ctx, env, &project).into_bytes(),
        ));
    }
    Ok(out)
}

/// Files per top-level area, for the closing summary.
pub fn areas(files: &FileSet) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for path in files.keys() {
        let area = match path.split_once('/') {
            Some((dir, _)) => format!("{dir}/"),
            None => "(root)".to_owned(),
        };
        *out.entry(area).or_insert(0) += 1;
    }
    out
}
