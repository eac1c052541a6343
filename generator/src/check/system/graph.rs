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
                    // A route's controller does not wait for its backend.
                    || (!c.routed && p.wave >= wave(system, &c.consumer)),
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
        let in_cloud = system
            .cloud
            .as_ref()
            .is_some_and(|c| c.buckets.contains(&u.bucket));
        let (to, broken) = match store {
            Some(s) if s.buckets.contains(&u.bucket) => (s.app.clone(), false),
            // A bucket of the environment's Terraform, in the cloud's
            // object storage (the consumer may name the cluster's store for
            // others: Airflow's dbt artifacts there, its logs in S3), as
            // the cloud's rules judge it.
            _ if in_cloud => {
                let storage = match system.cloud.as_ref().map(|c| c.provider.as_str()) {
                    Some("gke") => "Cloud Storage",
                    _ => "S3",
                };
                (format!("{storage} (terraform)"), false)
            }
            Some(s) => (s.app.clone(), true),
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

/// The connections the system graph draws broken: (consumer, provider,
/// what it uses), for the lists beside a picture.
pub fn broken_links(system: &System) -> Vec<(String, String, String)> {
    edges(system)
        .into_iter()
        .filter(|(_, e)| e.broken)
        .map(|((from, to), e)| {
            let labels = e.labels.into_iter().collect::<Vec<_>>().join(", ");
            (from, to, labels)
        })
        .collect()
}

/// The system as a self-contained SVG, for the HTML report (which loads
/// nothing): Applications in columns by wave, connections as curves from
/// consumer to provider, broken ones red and dashed, providers that do not
/// exist in a last column. Each node and link has a tooltip.
pub fn svg(system: &System) -> String {
    const COLUMN: i64 = 210;
    const NODE_W: i64 = 180;
    const NODE_H: i64 = 28;
    const ROW: i64 = 40;
    const PAD: i64 = 16;
    const TOP: i64 = 30;
    let mut by_wave: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for a in system.applications.iter().filter(|a| a.parent.is_some()) {
        by_wave.entry(a.wave).or_default().push(&a.name);
    }
    let edges = edges(system);
    let mut at: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut headers = Vec::new();
    let mut rows = 0;
    for (c, (w, names)) in (0i64..).zip(&by_wave) {
        headers.push((PAD + c * COLUMN, format!("wave {w}")));
        for (r, n) in (0i64..).zip(names) {
            at.insert((*n).to_owned(), (PAD + c * COLUMN, TOP + r * ROW));
        }
        rows = rows.max(names.len() as i64);
    }
    // Providers that are not Applications: ones that do not exist (broken)
    // and ones outside the repository (an external S3 store).
    let outside: BTreeSet<&String> = edges
        .keys()
        .map(|(_, to)| to)
        .filter(|to| !at.contains_key(*to))
        .collect();
    let mut columns = by_wave.len() as i64;
    if !outside.is_empty() {
        headers.push((PAD + columns * COLUMN, "not an Application".to_owned()));
        for (r, n) in (0i64..).zip(&outside) {
            at.insert((*n).clone(), (PAD + columns * COLUMN, TOP + r * ROW));
        }
        rows = rows.max(outside.len() as i64);
        columns += 1;
    }
    let width = 2 * PAD + columns.max(1) * COLUMN;
    let height = TOP + rows.max(1) * ROW + PAD;
    let env = xml(&system.environment);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"system\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"System graph of {env}\">"
    );
    let marker_id = format!("arrow-{}", id(&system.environment));
    let _ = writeln!(
        out,
        "<defs><marker id=\"{marker_id}\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"context-stroke\"/></marker></defs>"
    );
    for (x, text) in &headers {
        let _ = writeln!(
            out,
            "<text class=\"wave\" x=\"{x}\" y=\"{}\">{}</text>",
            TOP - 10,
            xml(text)
        );
    }
    for ((from, to), e) in &edges {
        let (Some(&(fx, fy)), Some(&(tx, ty))) = (at.get(from), at.get(to)) else {
            continue;
        };
        let (x1, y1) = (fx + NODE_W, fy + NODE_H / 2);
        let (x2, y2) = (tx, ty + NODE_H / 2);
        let bend = ((x2 - x1).abs() / 2).max(40);
        let labels = e.labels.iter().cloned().collect::<Vec<_>>().join(", ");
        let class = if e.broken { "link broken" } else { "link" };
        let state = if e.broken { " (broken)" } else { "" };
        let _ = writeln!(
            out,
            "<path class=\"{class}\" d=\"M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}\" marker-end=\"url(#{marker_id})\"><title>{} → {}: {}{state}</title></path>",
            x1 + bend,
            x2 - bend,
            xml(from),
            xml(to),
            xml(&labels)
        );
    }
    for (name, (x, y)) in &at {
        let class = if name.starts_with("missing: ") {
            "node missing"
        } else if outside.contains(name) {
            "node outside"
        } else {
            "node"
        };
        let shown: String = if name.chars().count() > 26 {
            name.chars().take(25).chain(['…']).collect()
        } else {
            name.clone()
        };
        let _ = writeln!(
            out,
            "<g class=\"{class}\"><title>{}</title><rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
            xml(name),
            x + 8,
            y + 18,
            xml(&shown)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Text for XML and HTML: the five characters with a meaning escaped.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
