//! `socle graph`: the modelled system of each environment as Mermaid, DOT
//! or JSON — Applications by wave, the connections between them, broken
//! links highlighted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::input::System;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
    Json,
}

/// An edge between two Applications, broken when any connection it stands
/// for does not resolve or is blocked.
struct Edge {
    labels: BTreeSet<String>,
    broken: bool,
}

fn edges(system: &System) -> BTreeMap<(String, String), Edge> {
    let mut out: BTreeMap<(String, String), Edge> = BTreeMap::new();
    for c in &system.connections {
        let (to, broken) = match &c.provider {
            Some(p) => (
                p.app.clone(),
                !p.port_served
                    || !c.egress.allowed
                    || !c.ingress.allowed
                    || p.wave >= wave(system, &c.consumer),
            ),
            None => (format!("missing: {}.{}", c.service, c.namespace), true),
        };
        if to == c.consumer {
            continue;
        }
        let e = out.entry((c.consumer.clone(), to)).or_insert(Edge {
            labels: BTreeSet::new(),
            broken: false,
        });
        e.labels.insert(if c.port == 0 {
            c.service.clone()
        } else {
            format!("{}:{}", c.service, c.port)
        });
        e.broken |= broken;
    }
    // Buckets, drawn to the store that creates them (or should).
    for u in &system.bucket_uses {
        let store = system.stores.iter().find(|s| {
            u.stores.contains(&format!("{}/{}", s.namespace, s.service))
                || (u.stores.is_empty() && s.buckets.contains(&u.bucket))
        });
        let (to, broken) = match store {
            Some(s) => (s.app.clone(), !s.buckets.contains(&u.bucket)),
            None if system.external_buckets.contains(&u.bucket) => {
                ("external S3 store".to_owned(), false)
            }
            None => (format!("missing: bucket {}", u.bucket), true),
        };
        let e = out.entry((u.consumer.clone(), to)).or_insert(Edge {
            labels: BTreeSet::new(),
            broken: false,
        });
        e.labels.insert(format!("bucket {}", u.bucket));
        e.broken |= broken;
    }
    // OIDC clients, drawn to the realm that declares them.
    for u in &system.oidc_uses {
        let realm = system.realms.iter().find(|r| {
            (u.realms.is_empty() || u.realms.contains(&r.name))
                && r.clients.iter().any(|c| c.client_id == u.client)
        });
        let (to, broken) = match (realm, system.realms.first()) {
            (Some(r), _) => (r.app.clone(), false),
            (None, Some(r)) => (r.app.clone(), true),
            (None, None) => continue,
        };
        if to == u.consumer {
            continue;
        }
        let e = out.entry((u.consumer.clone(), to)).or_insert(Edge {
            labels: BTreeSet::new(),
            broken: false,
        });
        e.labels.insert(format!("oidc {}", u.client));
        e.broken |= broken;
    }
    out
}

fn wave(system: &System, app: &str) -> i64 {
    system
        .applications
        .iter()
        .find(|a| a.name == app)
        .map_or(0, |a| a.wave)
}

fn id(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

pub fn render(systems: &[System], format: GraphFormat) -> String {
    match format {
        GraphFormat::Json => {
            let v = serde_json::to_value(systems).unwrap_or_default();
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
        GraphFormat::Mermaid => systems.iter().map(mermaid).collect::<Vec<_>>().join("\n"),
        GraphFormat::Dot => systems.iter().map(dot).collect::<Vec<_>>().join("\n"),
    }
}

/// One environment as a Mermaid flowchart: a subgraph per wave.
pub fn mermaid(system: &System) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "%% {} (bootstrap Application {})",
        system.environment, system.root
    );
    out.push_str("flowchart LR\n");
    let mut by_wave: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for a in system.applications.iter().filter(|a| a.parent.is_some()) {
        by_wave.entry(a.wave).or_default().push(&a.name);
    }
    for (w, names) in &by_wave {
        let _ = writeln!(out, "  subgraph wave_{}[\"wave {w}\"]", id(&w.to_string()));
        for n in names {
            let _ = writeln!(out, "    {}[\"{n}\"]", id(n));
        }
        out.push_str("  end\n");
    }
    let mut broken = Vec::new();
    for (i, ((from, to), e)) in edges(system).iter().enumerate() {
        if to.starts_with("missing: ") {
            let _ = writeln!(out, "  {}[\"{to}\"]", id(to));
        }
        let label = e.labels.iter().cloned().collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "  {} -->|\"{label}\"| {}", id(from), id(to));
        if e.broken {
            broken.push(i.to_string());
        }
    }
    if !broken.is_empty() {
        let _ = writeln!(
            out,
            "  linkStyle {} stroke:#d00,stroke-width:3px",
            broken.join(",")
        );
    }
    out
}

fn dot(system: &System) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", system.environment);
    out.push_str("  rankdir=LR;\n");
    for a in system.applications.iter().filter(|a| a.parent.is_some()) {
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\\nwave {}\"];",
            a.name, a.name, a.wave
        );
    }
    for ((from, to), e) in edges(system) {
        let label = e.labels.into_iter().collect::<Vec<_>>().join(", ");
        let colour = if e.broken {
            ", color=red, fontcolor=red"
        } else {
            ""
        };
        let _ = writeln!(out, "  \"{from}\" -> \"{to}\" [label=\"{label}\"{colour}];");
    }
    out.push_str("}\n");
    out
}
