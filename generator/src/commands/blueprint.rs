//! `socle blueprint list|show`: what the embedded blueprints offer, read
//! from their manifests (blueprints are data: nothing here names one).

use std::io::Write;

use socle::blueprint::Manifest;
use socle::source::Tree;

use crate::cli::{BlueprintCommand, ListFormat};

pub(crate) fn run(cmd: BlueprintCommand) -> anyhow::Result<u8> {
    let mut manifests = Tree::embedded_blueprints()
        .iter()
        .map(Manifest::load)
        .collect::<Result<Vec<_>, _>>()?;
    // The default first, then by name.
    manifests.sort_by(|a, b| b.default.cmp(&a.default).then(a.name.cmp(&b.name)));
    let mut out = std::io::stdout().lock();
    match cmd {
        BlueprintCommand::List { format } => {
            if format == ListFormat::Json {
                let list: Vec<serde_json::Value> = manifests.iter().map(summary).collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                for m in &manifests {
                    writeln!(
                        out,
                        "{:<20} {:<8} {:>3} components   targets: {}{}",
                        m.name,
                        m.version,
                        m.components.len(),
                        m.targets.join(", "),
                        if m.default { "   (default)" } else { "" }
                    )?;
                }
            }
        }
        BlueprintCommand::Show { name, format } => {
            let known: Vec<&str> = manifests.iter().map(|m| m.name.as_str()).collect();
            let m = match &name {
                None => manifests
                    .iter()
                    .find(|m| m.default)
                    .ok_or_else(|| anyhow::anyhow!("no default blueprint is embedded"))?,
                Some(n) => manifests.iter().find(|m| &m.name == n).ok_or_else(|| {
                    anyhow::anyhow!(
                        "no blueprint named {n:?}; this socle has: {}",
                        known.join(", ")
                    )
                })?,
            };
            if format == ListFormat::Json {
                let mut v = summary(m);
                v["namespaces"] = serde_json::json!(m
                    .namespaces
                    .iter()
                    .map(|n| serde_json::json!({"id": n.id, "name": n.name, "purpose": n.purpose}))
                    .collect::<Vec<_>>());
                v["components"] = serde_json::json!(m
                    .components
                    .iter()
                    .map(|c| serde_json::json!({
                        "id": c.id,
                        "title": c.title,
                        "namespace": c.namespace,
                        "needs": c.needs,
                        "when": c.when,
                        "chart": c.chart.as_ref().map(|ch| format!("{} {}", ch.name, ch.version)),
                        "compose_services": c.compose.keys().collect::<Vec<_>>(),
                        "targets": c.targets,
                    }))
                    .collect::<Vec<_>>());
                if let Some(target) = &m.compose {
                    v["compose"] = serde_json::json!({
                        "host": target.host,
                        "choices": target.choices,
                        "left_out": target.left_out,
                    });
                }
                if !m.clouds.is_empty() {
                    v["clouds"] = serde_json::to_value(&m.clouds)?;
                }
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                write!(out, "{}", text(m))?;
            }
        }
    }
    Ok(0)
}

/// The example spec of a blueprint: its `example.yaml`, or for the default
/// blueprint the embedded example `socle new` renders without a spec.
pub(crate) fn example(name: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let tree = socle::blueprint::embedded(name)?;
    if let Some(text) = tree.get("example.yaml") {
        return Ok(text.to_vec());
    }
    if Manifest::load(&tree)?.default {
        return Ok(socle::spec::EXAMPLE.as_bytes().to_vec());
    }
    anyhow::bail!("{}: the blueprint has no example.yaml", tree.origin)
}

/// The spec's choices (`components.<option>`) and their values.
fn options(m: &Manifest) -> serde_json::Map<String, serde_json::Value> {
    m.options
        .iter()
        .map(|o| (o.key.clone(), serde_json::json!(o.values)))
        .collect()
}

fn summary(m: &Manifest) -> serde_json::Value {
    serde_json::json!({
        "name": m.name,
        "version": m.version,
        "components": m.components.len(),
        "default": m.default,
        "options": options(m),
        "targets": m.targets,
        // The spec's optional sections it reads (null: all of them).
        "spec_sections": m.spec_sections,
        // Those a spec with a Kubernetes environment must give.
        "cluster_sections": m.cluster_sections,
        // The roles a group of the spec's `sso` may get.
        "sso_roles": m.sso_roles,
        // Those of which the spec's `sso` gives one to a group.
        "sso_admin_roles": m.sso_admin_roles,
        // The interpreters the spec's `notebooks.interpreters` may list.
        "notebook_interpreters": m.notebooks.interpreters.iter().map(|i| &i.name).collect::<Vec<_>>(),
    })
}

fn text(m: &Manifest) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "{} {}", m.name, m.version);
    let _ = writeln!(s, "targets: {}", m.targets.join(", "));
    if let Some(sections) = &m.spec_sections {
        let _ = writeln!(
            s,
            "spec sections read (besides client, domain, repository, environments, components): {}",
            sections.join(", ")
        );
    }
    if !m.cluster_sections.is_empty() {
        let _ = writeln!(
            s,
            "required with a Kubernetes environment: {}",
            m.cluster_sections.join(", ")
        );
    }
    if !m.sso_roles.is_empty() {
        let _ = writeln!(
            s,
            "roles a group of `sso` may get: {}",
            m.sso_roles.join(", ")
        );
    }
    if !m.sso_admin_roles.is_empty() {
        let _ = writeln!(
            s,
            "roles of which `sso` gives one to a group (its administrators): {}",
            m.sso_admin_roles.join(", ")
        );
    }
    if !m.notebooks.interpreters.is_empty() {
        let names: Vec<&str> = m
            .notebooks
            .interpreters
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        let _ = writeln!(
            s,
            "interpreters `notebooks.interpreters` may list: {} (default {})",
            names.join(", "),
            m.notebooks.default.join(", ")
        );
    }
    let _ = writeln!(s, "\noptions (socle.yaml `components:`):");
    for o in &m.options {
        let _ = writeln!(
            s,
            "  {}: {}  ({})",
            o.key,
            o.values.join(", "),
            o.description
        );
    }
    if let Some(target) = &m.compose {
        let on_host: Vec<&str> = m
            .components
            .iter()
            .filter(|c| !c.compose.is_empty())
            .map(|c| c.id.as_str())
            .collect();
        let _ = writeln!(
            s,
            "\ncompose (one Docker host of {} cores and {} at the standard sizing):",
            target.host.cpus, target.host.memory
        );
        let _ = writeln!(s, "  runs: {}", on_host.join(", "));
        let _ = writeln!(
            s,
            "  leaves out {} components (their reasons: --format json, compose.left_out)",
            target.left_out.len()
        );
    }
    for (cloud, target) in &m.clouds {
        let _ = writeln!(
            s,
            "\n{cloud} (Kubernetes {}; terraform/<env>/ creates the cluster and its cloud services):",
            target.kubernetes_version
        );
        for (id, why) in &target.left_out {
            let _ = writeln!(s, "  leaves out {id}: {why}");
        }
        for c in m
            .components
            .iter()
            .filter(|c| !c.targets.is_empty() && c.runs_on(cloud))
        {
            let _ = writeln!(s, "  adds {}: {}", c.id, c.title);
        }
    }
    let _ = writeln!(s, "\nnamespaces:");
    for n in &m.namespaces {
        let _ = writeln!(s, "  {:<14} {:<28} {}", n.id, n.name, n.purpose);
    }
    let _ = writeln!(s, "\ncomponents ({}):", m.components.len());
    for c in &m.components {
        let source = match (&c.chart, &c.manifests) {
            (Some(ch), _) => format!("chart {} {}", ch.name, ch.version),
            (None, Some(_)) => "manifests".to_owned(),
            (None, None) => "compose services".to_owned(),
        };
        let mut when: Vec<String> = c
            .when
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.join("|")))
            .collect();
        // A cloud's stand-in runs on that target only.
        if !c.targets.is_empty() {
            when.push(format!("on {} only", c.targets.join(", ")));
        }
        let when = if when.is_empty() {
            "always".to_owned()
        } else {
            when.join(", ")
        };
        let _ = writeln!(
            s,
            "  {:<26} {:<14} {:<40} {when}",
            c.id, c.namespace, source
        );
    }
    s
}
