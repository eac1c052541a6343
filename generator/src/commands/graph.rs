//! `socle graph` and `socle secrets list`: what the system model of a
//! repository holds, printed.

use std::io::Write;
use std::path::Path;

use socle::check::{self as checker};

pub(crate) fn graph(
    dir: &Path,
    env: Option<&str>,
    format: checker::system::graph::GraphFormat,
) -> anyhow::Result<u8> {
    if !dir.is_dir() {
        anyhow::bail!("{}: not a directory; pass the repository", dir.display());
    }
    let input = checker::files::Input::from_dir(dir)?;
    let mut systems = checker::system::model_files(&input.files);
    let known: Vec<String> = systems.iter().map(|s| s.environment.clone()).collect();
    if let Some(env) = env {
        systems.retain(|s| s.environment == env);
        if systems.is_empty() {
            anyhow::bail!(
                "no environment {env:?} in {}; known: {}{}",
                dir.display(),
                known.join(", "),
                socle::compose::on_host_hint(dir, env)
            );
        }
    }
    if format == checker::system::graph::GraphFormat::Json {
        // With each place's line resolved to the field it names.
        let mut models = checker::system::model_json(&input.files);
        models.retain(|m| env.is_none_or(|e| m["environment"] == e));
        writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&models)?
        )?;
        return Ok(0);
    }
    if systems.is_empty() {
        // Not an error: a repository of Docker hosts only has no Argo CD
        // environment to draw, and says so rather than print nothing.
        eprintln!(
            "{}: no Argo CD environment to draw (an environment on one Docker host is its compose/<env>/compose.yaml)",
            dir.display()
        );
        return Ok(0);
    }
    let text = checker::system::graph::render(&systems, format);
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(0)
}

pub(crate) fn secrets_list(
    dir: &Path,
    env: Option<&str>,
    format: socle::secrets::SecretsFormat,
) -> anyhow::Result<u8> {
    let (listing, warnings) = socle::secrets::list(dir, env)?;
    for w in &warnings {
        let at = w.line.map(|l| format!(":{l}")).unwrap_or_default();
        eprintln!(
            "warning: {}{at}: {}; ExternalSecrets in it are not listed",
            w.file, w.message
        );
    }
    let text = match format {
        socle::secrets::SecretsFormat::Text => socle::secrets::render_text(&listing),
        socle::secrets::SecretsFormat::Json => {
            format!("{}\n", serde_json::to_string_pretty(&listing)?)
        }
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(0)
}
