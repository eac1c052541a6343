//! The links between components, read back from the rendered files: every
//! in-cluster address (`<service>.<namespace>.svc[.cluster.local][:port]`)
//! that an Application's Helm values or manifests name is a connection from
//! that Application to the Service, which the model then resolves (does
//! the Service exist, serve the port, and do both namespaces' policies let
//! the traffic through).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use serde_json::Value;

use super::build::{sources, value_files, Modelled};
use super::input::{At, Connection, Provider, WebhookReach, WideEgress};
use super::kustomize::Files;
use super::network::{Network, Peer, PodPort, Policy};
use super::scans::Memo;
use super::{owned_path, Step};
use crate::check::parse::Document;
use crate::core::charts::ChartFacts;

/// The database PostgreSQL's initdb creates in every cluster.
const MAINTENANCE_DB: &str = "postgres";

fn address() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"(?:([a-z][a-z0-9+.-]*)://)?\b([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.svc(?:\.cluster\.local)?\b(?::(\d{1,5}))?",
        )
        .unwrap_or_else(|_| unreachable!("the pattern is a constant"))
    })
}

/// One address found in a value.
#[derive(Clone)]
pub(crate) struct Found {
    at: At,
    address: String,
    service: String,
    namespace: String,
    port: Option<u16>,
    /// The database and role the consumer asks for, from the URL or from
    /// keys beside the address (`database`, `user`, ...).
    database: Option<String>,
    role: Option<String>,
    /// A route of an Ingress, which the ingress controller serves: it
    /// does not wait for its backends, so the wave order is not judged.
    routed: bool,
}

/// The scheme of a URL whose user part stands before the address the
/// pattern found (`postgresql://superset@host...`): the pattern matches
/// from the host on, so the scheme is read back from what precedes it.
fn userinfo_scheme(before: &str) -> Option<&str> {
    let (head, user) = before.strip_suffix('@')?.rsplit_once("://")?;
    if user.contains(['/', '@']) || user.chars().any(char::is_whitespace) {
        return None;
    }
    let at = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+.-".contains(c)))
        .map_or(0, |i| i + 1);
    let scheme = &head[at..];
    scheme
        .starts_with(|c: char| c.is_ascii_lowercase())
        .then_some(scheme)
}

/// Keys that name a database, or a role, beside an address.
const DATABASE_KEYS: &[&str] = &[
    "database",
    "dbname",
    "dbName",
    "databaseName",
    "database_name",
    "db",
];
const ROLE_KEYS: &[&str] = &["user", "username", "userName", "user_name", "role"];

/// The database a block holding an address names: under a database key,
/// or under `name` in a block that says it is one (Grafana's
/// `database: {type: postgres, name: ...}`) or is called `database`
/// (Airbyte's `global.database: {host: ..., name: ...}`).
fn database_in(m: &serde_json::Map<String, Value>, block: Option<&str>) -> Option<String> {
    sibling(m, DATABASE_KEYS).or_else(|| {
        let says = m
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("postgres"))
            || block.is_some_and(|k| k.eq_ignore_ascii_case("database"));
        says.then(|| sibling(m, &["name"])).flatten()
    })
}

fn sibling(m: &serde_json::Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| m.get(*k).and_then(Value::as_str))
        .filter(|v| literal(v) && !v.contains(".svc"))
        .map(str::to_owned)
}

/// A name written as such, not a template or a variable filled in later
/// (`{{ .user }}`, `${ENV:USER}`, `$(USER)`), which the model cannot know.
fn literal(v: &str) -> bool {
    !v.is_empty()
        && !v.contains("{{")
        && !v.contains("${")
        && !v.contains("$(")
        && !v.chars().any(char::is_whitespace)
}

fn scheme_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "postgresql" | "postgres" | "jdbc:postgresql" => Some(5432),
        _ => None,
    }
}

/// Where a value is: its field in the document, or the file's first line
/// for a file read as text.
fn value_at(doc: Option<&Document>, file: &str, path: &[Value]) -> At {
    match doc {
        Some(d) => At::field(d, path),
        None => At {
            file: file.to_owned(),
            line: 1,
            pointer: String::new(),
        },
    }
}

/// Walks the string leaves of `value` (at `path` in `doc`, whose lines name
/// each finding), collecting addresses. A leaf without a port takes its
/// scheme's, else a sibling `port` key's.
fn scan<'v>(
    value: &'v Value,
    base: &[Value],
    path: &mut Vec<Step<'v>>,
    doc: Option<&Document>,
    file: &str,
    out: &mut Vec<Found>,
    depth: usize,
) {
    if depth > super::WALK_DEPTH {
        return;
    }
    match value {
        Value::Object(m) => {
            let block = match path.last().copied() {
                Some(step) => step.key(),
                None => base.last().and_then(Value::as_str),
            };
            // What the map says beside an address, read only for the maps
            // that hold one (most hold none).
            let mut beside: Option<(Option<u16>, Option<String>, Option<String>)> = None;
            for (k, v) in m {
                path.push(Step::Key(k));
                let before = out.len();
                scan(v, base, path, doc, file, out, depth + 1);
                path.pop();
                if !v.is_string() || out.len() == before {
                    continue;
                }
                let (port, database, role) = beside.get_or_insert_with(|| {
                    let port = m
                        .get("port")
                        .and_then(|p| {
                            p.as_u64()
                                .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
                        })
                        .and_then(|p| u16::try_from(p).ok());
                    (port, database_in(m, block), sibling(m, ROLE_KEYS))
                });
                for f in &mut out[before..] {
                    if f.port.is_none() {
                        f.port = *port;
                    }
                    if f.database.is_none() {
                        f.database = database.clone();
                    }
                    if f.role.is_none() {
                        f.role = role.clone();
                    }
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                path.push(Step::Index(i));
                scan(v, base, path, doc, file, out, depth + 1);
                path.pop();
            }
        }
        // Most strings name no Service: skip the pattern for them.
        Value::String(s) if s.contains(".svc") => {
            // A configuration file carried in a value (an ingestion recipe
            // in a ConfigMap): read as the YAML it is, its keys say which
            // port, database and role an address is for. Its lines are not
            // known, so each address points at the value.
            if let Some(inner) = super::carried_yaml(s) {
                let before = out.len();
                scan(&inner, &[], &mut Vec::new(), None, file, out, depth + 1);
                if out.len() > before {
                    let at = value_at(doc, file, &owned_path(base, path));
                    for f in &mut out[before..] {
                        f.at = at.clone();
                    }
                    return;
                }
            }
            for c in address().captures_iter(s) {
                let start = c.get(0).map_or(0, |m| m.start());
                let scheme = c
                    .get(1)
                    .map(|m| m.as_str())
                    .or_else(|| userinfo_scheme(&s[..start]))
                    .unwrap_or_default();
                let scheme = if scheme == "postgresql" && s[..start].ends_with("jdbc:") {
                    "jdbc:postgresql"
                } else {
                    scheme
                };
                let port = c
                    .get(4)
                    .and_then(|p| p.as_str().parse().ok())
                    .or_else(|| scheme_port(scheme));
                let at = value_at(doc, file, &owned_path(base, path));
                // A URL's path names the database, its user part (or a
                // `user=` parameter) the role.
                let end = c.get(0).map_or(0, |m| m.end());
                let rest = &s[end..];
                let database = rest
                    .strip_prefix('/')
                    .map(|r| {
                        r.split(|c: char| "?/;&\"'".contains(c) || c.is_whitespace())
                            .next()
                            .unwrap_or_default()
                    })
                    .filter(|d| literal(d))
                    .map(str::to_owned);
                let role = s[..start]
                    .rsplit_once("://")
                    .map(|(_, u)| u)
                    .and_then(|u| u.strip_suffix('@'))
                    .map(|u| u.split(':').next().unwrap_or_default().to_owned())
                    .or_else(|| {
                        rest.split(['?', '&'])
                            .find_map(|kv| kv.strip_prefix("user="))
                            .map(str::to_owned)
                    })
                    .filter(|r| literal(r));
                out.push(Found {
                    at,
                    address: c.get(0).map(|m| m.as_str().to_owned()).unwrap_or_default(),
                    service: c[2].to_owned(),
                    namespace: c[3].to_owned(),
                    port,
                    database: if scheme.contains("postgres") {
                        database
                    } else {
                        None
                    },
                    role,
                    routed: false,
                });
            }
        }
        _ => {}
    }
}

/// The environment's namespaces (with their labels) and NetworkPolicies.
pub(crate) fn network<'m>(m: &'m Modelled) -> Network<'m> {
    let system = &m.system;
    let mut namespaces: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut policies = Vec::new();
    for (o, v) in system.objects.iter().zip(&m.values) {
        let Some(v) = v else { continue };
        match o.kind.as_str() {
            "Namespace" => {
                let labels = v["metadata"]["labels"]
                    .as_object()
                    .map(|l| {
                        l.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                namespaces.insert(o.name.clone(), labels);
            }
            "NetworkPolicy" => policies.push(Policy {
                namespace: &o.namespace,
                name: &o.name,
                spec: &v["spec"],
                at: o.at.clone(),
            }),
            _ => {}
        }
    }
    Network {
        policies,
        namespaces,
    }
}

/// Connections, webhooks and wide egress of one modelled system.
pub(crate) fn resolve(
    m: &mut Modelled,
    files: &Files,
    facts: &ChartFacts,
    memo: Option<Memo<'_, '_, Named>>,
) {
    let found = addresses(m, files, memo);
    connect(m, files, facts, found);
}

/// The addresses one Application names: in its Helm values (with its
/// destination namespace), and in its objects (each with the ordinal of
/// its object among the Application's, and the object's namespace).
#[derive(Default)]
pub(crate) struct Named {
    values: Vec<(String, Found)>,
    objects: Vec<(usize, String, Found)>,
}

/// [`Named`] of the Application `app` (its values when `own` is its
/// description) and of its `objects` (indices).
fn named(
    m: &Modelled,
    files: &Files,
    own: Option<&super::input::Application>,
    objects: &[usize],
) -> Named {
    let mut out = Named::default();
    if let Some(app) = own {
        let ns = app.destination.namespace.clone().unwrap_or_default();
        for f in helm_values(app, files) {
            out.values.push((ns.clone(), f));
        }
    }
    for (ordinal, &i) in objects.iter().enumerate() {
        let (o, Some(v)) = (&m.system.objects[i], &m.values[i]) else {
            continue;
        };
        if o.origin == "chart" || matches!(o.kind.as_str(), "Application" | "NetworkPolicy") {
            continue;
        }
        let doc = files.doc_at(&o.at.file, o.at.line);
        let mut found = Vec::new();
        scan(v, &[], &mut Vec::new(), doc, &o.at.file, &mut found, 0);
        for f in found {
            out.objects.push((ordinal, o.namespace.clone(), f));
        }
    }
    out
}

/// Addresses named by each Application: its Helm values (in the order of
/// the Applications), then its manifests (in the order of the objects).
/// Scanned per Application, and kept per Application in a range (see
/// `scans`).
fn addresses(
    m: &Modelled,
    files: &Files,
    memo: Option<Memo<'_, '_, Named>>,
) -> Vec<(String, String, Found)> {
    let mut by_app: HashMap<&str, std::sync::Arc<Named>> = HashMap::new();
    let mut found: Vec<(String, String, Found)> = Vec::new();
    for (name, n) in
        super::scans::per_app(m, files, memo, |app, objects| named(m, files, app, objects))
    {
        for (ns, f) in &n.values {
            found.push((name.to_owned(), ns.clone(), f.clone()));
        }
        // The first of a name holds its objects.
        by_app.entry(name).or_insert(n);
    }
    let mut ordinal: HashMap<&str, usize> = HashMap::new();
    for o in &m.system.objects {
        let n = ordinal.entry(o.app.as_str()).or_default();
        if let Some(named) = by_app.get(o.app.as_str()) {
            for (_, ns, f) in named.objects.iter().filter(|(at, _, _)| at == n) {
                found.push((o.app.clone(), ns.clone(), f.clone()));
            }
        }
        *n += 1;
    }
    found
}

/// The connections of the addresses `found` to the Services that answer
/// them, with the webhooks and wide egress of the system.
fn connect(
    m: &mut Modelled,
    files: &Files,
    facts: &ChartFacts,
    mut found: Vec<(String, String, Found)>,
) {
    let net = network(m);
    let system = &m.system;
    // Services: (namespace, name) → (object index).
    let services: HashMap<(&str, &str), usize> = system
        .objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.kind == "Service" && o.group.is_empty())
        .map(|(i, o)| ((o.namespace.as_str(), o.name.as_str()), i))
        .collect();
    let waves: HashMap<&str, i64> = system
        .applications
        .iter()
        .map(|a| (a.name.as_str(), a.wave))
        .collect();

    found.extend(ingress_backends(m, files, facts));
    // Pods the model knows: (application, namespace, template labels,
    // container ports by name).
    let pods = pod_templates(system, &m.values);
    let catalogs = postgres_catalogs(system, &m.values, files);
    let mut seen = BTreeSet::new();
    let mut connections = Vec::new();
    for (app, consumer_ns, f) in found {
        // The API server answers at kubernetes.default; it is not a pod, and
        // the egress rules towards it are judged on their own.
        if f.service == "kubernetes" && f.namespace == "default" {
            continue;
        }
        // The same address as another role or database (two workflows of
        // one ConfigMap) is another connection.
        if !seen.insert((
            app.clone(),
            f.address.clone(),
            f.at.file.clone(),
            consumer_ns.clone(),
            f.role.clone(),
            f.database.clone(),
        )) {
            continue;
        }
        let provider = services
            .get(&(f.namespace.as_str(), f.service.as_str()))
            .map(|&i| {
                let o = &system.objects[i];
                let ports = service_ports(m.values[i].as_deref());
                let outside_host = external_name(m.values[i].as_deref()).map(str::to_owned);
                // An ExternalName Service forwards nothing: the client calls
                // the outside host's port, whatever the Service lists.
                let port_served = outside_host.is_some()
                    || match f.port {
                        Some(p) => ports.iter().any(|(sp, _)| *sp == p),
                        None => !ports.is_empty(),
                    };
                let catalog = catalogs.get(&(o.namespace.clone(), o.name.clone()));
                (
                    Provider {
                        app: o.app.clone(),
                        wave: waves.get(o.app.as_str()).copied().unwrap_or(o.wave),
                        at: o.at.clone(),
                        ports: ports.iter().map(|(p, _)| *p).collect(),
                        port_served,
                        external_name: outside_host,
                        databases: catalog.map(|c| c.0.clone()),
                        roles: catalog.map(|c| c.1.clone()),
                    },
                    ports,
                    selector(m.values[i].as_deref()),
                )
            });
        let outside = provider
            .as_ref()
            .is_some_and(|(p, _, _)| p.external_name.is_some());
        let (pod_port, labels) = match &provider {
            Some((_, ports, sel)) => {
                let chosen = ports.iter().find(|(p, _)| Some(*p) == f.port).or_else(|| {
                    if f.port.is_none() {
                        ports.first()
                    } else {
                        None
                    }
                });
                let mut pod_port = chosen.map(|(_, pp)| pp.clone()).unwrap_or(PodPort {
                    number: f.port,
                    name: None,
                });
                // A port named on one side and numbered on the other is the
                // same port when the pods behind the Service say so.
                if let Some(sel) = sel {
                    for p in pods
                        .iter()
                        .filter(|p| p.namespace == f.namespace && selector_matches(sel, &p.labels))
                    {
                        for (name, number) in &p.ports {
                            if pod_port.name.as_deref() == Some(name.as_str())
                                && pod_port.number.is_none()
                            {
                                pod_port.number = Some(*number);
                            } else if pod_port.number == Some(*number) && pod_port.name.is_none() {
                                pod_port.name = Some(name.clone());
                            }
                        }
                    }
                }
                (pod_port, sel.clone())
            }
            None => (
                PodPort {
                    number: f.port,
                    name: None,
                },
                None,
            ),
        };
        // The consumer's pods: the workloads of the consuming Application
        // in that namespace, when they share one set of labels.
        let mut label_sets: Vec<&BTreeMap<String, String>> = pods
            .iter()
            .filter(|p| p.app == app && p.namespace == consumer_ns)
            .map(|p| &p.labels)
            .collect();
        label_sets.dedup();
        let consumer_labels = match label_sets.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        let from = Peer::Pods {
            namespace: &consumer_ns,
            labels: consumer_labels,
        };
        let to = if outside {
            Peer::Outside
        } else {
            Peer::Pods {
                namespace: &f.namespace,
                labels: labels.as_ref(),
            }
        };
        let egress = net.verdict(&from, &to, &pod_port, true);
        let ingress = net.verdict(&from, &to, &pod_port, false);
        connections.push(Connection {
            consumer: app,
            consumer_namespace: consumer_ns.clone(),
            at: f.at,
            address: f.address,
            service: f.service,
            namespace: f.namespace,
            port: f.port.unwrap_or(0),
            database: f.database,
            role: f.role,
            routed: f.routed,
            provider: provider.map(|(p, _, _)| p),
            egress,
            ingress,
        });
    }
    // Admission webhooks: the API server must reach their pods.
    let mut webhooks = Vec::new();
    for (o, v) in system.objects.iter().zip(&m.values) {
        let Some(v) = v else { continue };
        if !o.kind.ends_with("WebhookConfiguration") {
            continue;
        }
        for w in v["webhooks"].as_array().into_iter().flatten() {
            let s = &w["clientConfig"]["service"];
            let (Some(name), Some(ns)) = (s["name"].as_str(), s["namespace"].as_str()) else {
                continue;
            };
            let port = s["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(443);
            let target = services.get(&(ns, name)).copied();
            let ports = target
                .map(|i| service_ports(m.values[i].as_deref()))
                .unwrap_or_default();
            let labels = target.and_then(|i| selector(m.values[i].as_deref()));
            let pod_port = ports
                .iter()
                .find(|(p, _)| *p == port)
                .map(|(_, pp)| pp.clone())
                .unwrap_or(PodPort {
                    number: Some(port),
                    name: None,
                });
            let to = Peer::Pods {
                namespace: ns,
                labels: labels.as_ref(),
            };
            webhooks.push(WebhookReach {
                app: o.app.clone(),
                name: w["name"].as_str().unwrap_or(&o.name).to_owned(),
                service: name.to_owned(),
                namespace: ns.to_owned(),
                port,
                at: o.at.clone(),
                ingress: net.verdict(&Peer::ApiServer, &to, &pod_port, false),
            });
        }
    }
    let wide: Vec<WideEgress> = net
        .wide_egress()
        .into_iter()
        .map(|(p, ports)| WideEgress {
            namespace: p.namespace.to_owned(),
            policy: p.name.to_owned(),
            at: p.at.clone(),
            ports,
        })
        .collect();
    drop(net);
    m.system.connections = connections;
    m.system.webhooks = webhooks;
    m.system.wide_egress = wide;
}

/// The backends of every Ingress, as connections of the ingress
/// controller that serves its class: the pods of the Application whose
/// chart implements the IngressClass's controller (chart facts
/// `ingress_controller`), in that Application's namespace, reach each
/// backend Service. An Ingress whose class or controller the model does
/// not know is not judged here.
fn ingress_backends(
    m: &Modelled,
    files: &Files,
    facts: &ChartFacts,
) -> Vec<(String, String, Found)> {
    let system = &m.system;
    let objects = || system.objects.iter().zip(&m.values);
    let mut classes: HashMap<String, String> = HashMap::new();
    let mut default_class = None;
    for (o, v) in objects() {
        let Some(v) = v.as_deref() else { continue };
        if o.kind == "IngressClass" && o.group == "networking.k8s.io" {
            if let Some(c) = v["spec"]["controller"].as_str() {
                classes.insert(o.name.clone(), c.to_owned());
                let annotation =
                    &v["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"];
                if annotation.as_str() == Some("true") {
                    default_class = Some(o.name.clone());
                }
            }
        }
    }
    let mut controllers: HashMap<&str, (&str, String)> = HashMap::new();
    for app in &system.applications {
        for s in &app.sources {
            let (Some(chart), Some(version)) = (&s.chart, &s.target_revision) else {
                continue;
            };
            if let Some(c) = facts
                .get(&s.repo_url, chart, version)
                .and_then(|f| f.ingress_controller.as_deref())
            {
                controllers.insert(
                    c,
                    (
                        app.name.as_str(),
                        app.destination.namespace.clone().unwrap_or_default(),
                    ),
                );
            }
        }
    }
    let service_port = |namespace: &str, service: &str, name: &str| -> Option<u16> {
        objects()
            .find(|(o, _)| o.kind == "Service" && o.namespace == namespace && o.name == service)
            .and_then(|(_, v)| v.as_deref())
            .and_then(|v| {
                v["spec"]["ports"]
                    .as_array()?
                    .iter()
                    .find(|p| p["name"].as_str() == Some(name))
                    .and_then(|p| p["port"].as_u64())
                    .and_then(|n| u16::try_from(n).ok())
            })
    };
    let mut out = Vec::new();
    for (o, v) in objects() {
        let Some(v) = v.as_deref() else { continue };
        if o.kind != "Ingress" || o.group != "networking.k8s.io" {
            continue;
        }
        let class = v["spec"]["ingressClassName"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| default_class.clone());
        let Some((app, namespace)) = class
            .and_then(|c| classes.get(&c))
            .and_then(|c| controllers.get(c.as_str()))
        else {
            continue;
        };
        let doc = files.doc_at(&o.at.file, o.at.line);
        let mut backends: Vec<(Vec<Value>, &Value)> = Vec::new();
        if v["spec"]["defaultBackend"]["service"].is_object() {
            backends.push((
                vec!["spec".into(), "defaultBackend".into(), "service".into()],
                &v["spec"]["defaultBackend"]["service"],
            ));
        }
        for (i, rule) in v["spec"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            for (j, path) in rule["http"]["paths"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                if path["backend"]["service"].is_object() {
                    backends.push((
                        vec![
                            "spec".into(),
                            "rules".into(),
                            i.into(),
                            "http".into(),
                            "paths".into(),
                            j.into(),
                            "backend".into(),
                            "service".into(),
                        ],
                        &path["backend"]["service"],
                    ));
                }
            }
        }
        for (path, service) in backends {
            let Some(name) = service["name"].as_str() else {
                continue;
            };
            let port = service["port"]["number"]
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .or_else(|| {
                    service["port"]["name"]
                        .as_str()
                        .and_then(|p| service_port(&o.namespace, name, p))
                });
            out.push((
                (*app).to_owned(),
                namespace.clone(),
                Found {
                    at: value_at(doc, &o.at.file, &path),
                    address: format!(
                        "{name}.{}.svc{}",
                        o.namespace,
                        port.map(|p| format!(":{p}")).unwrap_or_default()
                    ),
                    service: name.to_owned(),
                    namespace: o.namespace.clone(),
                    port,
                    database: None,
                    role: None,
                    routed: true,
                },
            ));
        }
    }
    out
}

/// (service port, pod port) of a Service.
fn service_ports(v: Option<&Value>) -> Vec<(u16, PodPort)> {
    let Some(v) = v else { return Vec::new() };
    v["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let port = u16::try_from(p["port"].as_u64()?).ok()?;
            let pod = match &p["targetPort"] {
                Value::Number(n) => PodPort {
                    number: n.as_u64().and_then(|n| u16::try_from(n).ok()),
                    name: None,
                },
                Value::String(s) => match s.parse::<u16>() {
                    Ok(n) => PodPort {
                        number: Some(n),
                        name: None,
                    },
                    Err(_) => PodPort {
                        number: None,
                        name: Some(s.clone()),
                    },
                },
                _ => PodPort {
                    number: Some(port),
                    name: None,
                },
            };
            Some((port, pod))
        })
        .collect()
}

/// The outside host an ExternalName Service resolves to.
fn external_name(v: Option<&Value>) -> Option<&str> {
    let spec = &v?["spec"];
    (spec["type"].as_str() == Some("ExternalName"))
        .then(|| spec["externalName"].as_str())
        .flatten()
}

fn selector(v: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let sel = v?["spec"]["selector"].as_object()?;
    if sel.is_empty() {
        return None;
    }
    Some(
        sel.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect(),
    )
}

/// Addresses in an Application's Helm values: its value files from this
/// repository (`$values/...` or a path beside a repository chart), inline
/// `values` and `valuesObject`.
fn helm_values(app: &super::input::Application, files: &Files) -> Vec<Found> {
    let mut out = helm_values_by_file(app, files);
    // Helm merges the files: a host in one file and its database in another
    // belong together. Fill what a file leaves out from the merged values.
    let merged = app_values(app, files);
    for f in &mut out {
        let parent = f.at.pointer.rsplit_once('/').map_or("", |(p, _)| p);
        if let Some(Value::Object(m)) = merged.pointer(parent) {
            if f.database.is_none() {
                let block = parent.rsplit_once('/').map(|(_, k)| k);
                f.database = database_in(m, block);
            }
            if f.role.is_none() {
                f.role = sibling(m, ROLE_KEYS);
            }
        }
    }
    out
}

fn helm_values_by_file(app: &super::input::Application, files: &Files) -> Vec<Found> {
    let mut out = Vec::new();
    let Some(doc) = files.doc_at(&app.at.file, app.at.line) else {
        return out;
    };
    for (path, s) in sources(&doc.value["spec"]) {
        let helm = &s["helm"];
        for rel in value_files(s) {
            for d in files.docs_of(rel).into_iter().flatten() {
                scan(&d.value, &[], &mut Vec::new(), Some(d), rel, &mut out, 0);
            }
        }
        if let Some(obj) = helm.get("valuesObject") {
            let mut p = path.clone();
            p.extend([Value::from("helm"), Value::from("valuesObject")]);
            scan(obj, &p, &mut Vec::new(), Some(doc), &doc.path, &mut out, 0);
        }
        if let Some(text) = helm["values"].as_str() {
            if let Ok(v) = serde_saphyr::from_str::<Value>(text) {
                let mut p = path.clone();
                p.extend([Value::from("helm"), Value::from("values")]);
                let at = At::field(doc, &p);
                let before = out.len();
                scan(&v, &[], &mut Vec::new(), None, &doc.path, &mut out, 0);
                for f in &mut out[before..] {
                    f.at = at.clone();
                }
            }
        }
    }
    out
}

/// The repository files Applications read as Helm values (`$values/...`).
pub(crate) fn values_files(docs: &[&Document]) -> std::collections::HashSet<String> {
    let mut out = std::collections::HashSet::new();
    for d in docs.iter().filter(|d| d.kind() == "Application") {
        for (_, s) in sources(&d.value["spec"]) {
            out.extend(value_files(s).map(str::to_owned));
        }
    }
    out
}

/// Keys whose values the model reads beside an address (ports, databases,
/// roles), anywhere in a values file: another file's address may take them.
fn read_keys(v: &Value, path: &mut String, out: &mut String, depth: usize) {
    if depth > super::WALK_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let len = path.len();
                path.push('/');
                path.push_str(k);
                let read = k == "port"
                    || k == "name"
                    || k == "type"
                    || DATABASE_KEYS.contains(&k.as_str())
                    || ROLE_KEYS.contains(&k.as_str());
                if read && !x.is_object() && !x.is_array() {
                    out.push_str(&format!("{path}={x};"));
                }
                read_keys(x, path, out, depth + 1);
                path.truncate(len);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                read_keys(x, path, out, depth + 1);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// The addresses a values file names, with the field of each, and the keys
/// read beside addresses: what the model reads of it.
pub(crate) fn addresses_of<'d>(docs: impl Iterator<Item = &'d Document>) -> String {
    let mut out = String::new();
    for d in docs {
        let mut found = Vec::new();
        scan(
            &d.value,
            &[],
            &mut Vec::new(),
            Some(d),
            &d.path,
            &mut found,
            0,
        );
        for f in found {
            out.push_str(&format!(
                "{}:{}={}:{:?}:{:?}:{:?};",
                d.line, f.at.pointer, f.address, f.port, f.database, f.role
            ));
        }
        read_keys(&d.value, &mut String::new(), &mut out, 0);
        super::resources::read_of(d, &mut out);
    }
    out
}

/// A pod template of a workload the model has the manifest of.
struct PodTemplate {
    app: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    ports: Vec<(String, u16)>,
}

fn pod_templates(
    system: &super::input::System,
    values: &[Option<std::borrow::Cow<'_, Value>>],
) -> Vec<PodTemplate> {
    let mut out = Vec::new();
    for (o, v) in system.objects.iter().zip(values) {
        let Some(v) = v else { continue };
        let template = match o.kind.as_str() {
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                &v["spec"]["template"]
            }
            "CronJob" => &v["spec"]["jobTemplate"]["spec"]["template"],
            "Pod" => v.as_ref(),
            _ => continue,
        };
        let labels = template["metadata"]["labels"]
            .as_object()
            .map(|l| {
                l.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let mut ports = Vec::new();
        for section in ["initContainers", "containers"] {
            for c in template["spec"][section].as_array().into_iter().flatten() {
                for p in c["ports"].as_array().into_iter().flatten() {
                    if let (Some(name), Some(n)) = (p["name"].as_str(), p["containerPort"].as_u64())
                    {
                        if let Ok(n) = u16::try_from(n) {
                            ports.push((name.to_owned(), n));
                        }
                    }
                }
            }
        }
        out.push(PodTemplate {
            app: o.app.clone(),
            namespace: o.namespace.clone(),
            labels,
            ports,
        });
    }
    out
}

fn selector_matches(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// (namespace, Service) → (databases, roles) of each CloudNativePG cluster:
/// from the `cluster` chart's values (`cluster.roles[]`, `databases[]`,
/// `cluster.initdb`), or from `Cluster` and `Database` manifests.
type Catalogs = HashMap<(String, String), (Vec<String>, Vec<String>)>;

fn postgres_catalogs(
    system: &super::input::System,
    values: &[Option<std::borrow::Cow<'_, Value>>],
    files: &Files,
) -> Catalogs {
    let mut out: Catalogs = HashMap::new();
    let names = |v: &Value, key: &str| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x[key].as_str())
            .map(str::to_owned)
            .collect()
    };
    for app in &system.applications {
        let is_cnpg = app.sources.iter().any(|s| {
            s.chart.as_deref() == Some("cluster") && s.repo_url.contains("cloudnative-pg")
        });
        if !is_cnpg {
            continue;
        }
        let v = app_values(app, files);
        let mut dbs = names(&v["databases"], "name");
        let mut roles = names(&v["cluster"]["roles"], "name");
        let initdb = &v["cluster"]["initdb"];
        dbs.extend(initdb["database"].as_str().map(str::to_owned));
        // initdb creates it in every cluster: the database a client that
        // lists all the others (a catalog's ingestion) connects to first.
        dbs.push(MAINTENANCE_DB.to_owned());
        roles.extend(initdb["owner"].as_str().map(str::to_owned));
        for o in system
            .objects
            .iter()
            .filter(|o| o.app == app.name && o.kind == "Service")
        {
            out.insert(
                (o.namespace.clone(), o.name.clone()),
                (dbs.clone(), roles.clone()),
            );
        }
    }
    for (o, v) in system.objects.iter().zip(values) {
        let Some(v) = v else { continue };
        if o.group != "postgresql.cnpg.io" || o.kind != "Cluster" {
            continue;
        }
        let spec = &v["spec"];
        let mut dbs: Vec<String> = spec["bootstrap"]["initdb"]["database"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect();
        dbs.push(MAINTENANCE_DB.to_owned());
        let mut roles = names(&spec["managed"]["roles"], "name");
        roles.extend(
            spec["bootstrap"]["initdb"]["owner"]
                .as_str()
                .map(str::to_owned),
        );
        for (d, dv) in system.objects.iter().zip(values) {
            let Some(dv) = dv else { continue };
            if d.kind == "Database"
                && d.namespace == o.namespace
                && dv["spec"]["cluster"]["name"].as_str() == Some(&o.name)
            {
                dbs.extend(dv["spec"]["name"].as_str().map(str::to_owned));
            }
        }
        for suffix in ["rw", "ro", "r"] {
            out.insert(
                (o.namespace.clone(), format!("{}-{suffix}", o.name)),
                (dbs.clone(), roles.clone()),
            );
        }
    }
    provisioned_catalogs(system, values, &mut out);
    out
}

/// Databases and roles a provisioning Job creates in a PostgreSQL the
/// cluster does not run (a cloud's managed instance): a Job whose
/// container connects through a Service (`PGHOST`) and mounts a ConfigMap
/// listing the `roles` (one per line) and `databases` (`<name> <owner>`)
/// it creates. ExternalName Services naming the same outside host serve
/// the same catalog.
fn provisioned_catalogs(
    system: &super::input::System,
    values: &[Option<std::borrow::Cow<'_, Value>>],
    out: &mut Catalogs,
) {
    let lines = |v: &Value| -> Vec<String> {
        v.as_str()
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    };
    let config_maps: HashMap<(&str, &str), &Value> = system
        .objects
        .iter()
        .zip(values)
        .filter(|(o, _)| o.kind == "ConfigMap" && o.group.is_empty())
        .filter_map(|(o, v)| {
            Some((
                (o.namespace.as_str(), o.name.as_str()),
                &v.as_deref()?["data"],
            ))
        })
        .collect();
    let external: Vec<(&str, &str, &str)> = system
        .objects
        .iter()
        .zip(values)
        .filter(|(o, _)| o.kind == "Service" && o.group.is_empty())
        .filter_map(|(o, v)| {
            Some((
                o.namespace.as_str(),
                o.name.as_str(),
                external_name(v.as_deref())?,
            ))
        })
        .collect();
    for (o, v) in system.objects.iter().zip(values) {
        let Some(v) = v else { continue };
        if o.kind != "Job" || o.group != "batch" {
            continue;
        }
        let pod = &v["spec"]["template"]["spec"];
        let lists: Vec<&Value> = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|vol| vol["configMap"]["name"].as_str())
            .filter_map(|name| config_maps.get(&(o.namespace.as_str(), name)).copied())
            .filter(|data| data.get("roles").is_some() && data.get("databases").is_some())
            .collect();
        let [data] = lists.as_slice() else { continue };
        let hosts = pod["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["env"].as_array().into_iter().flatten())
            .filter(|e| e["name"].as_str() == Some("PGHOST"))
            .filter_map(|e| e["value"].as_str());
        for host in hosts {
            let Some(caps) = address().captures(host) else {
                continue;
            };
            let (service, namespace) = (caps[2].to_owned(), caps[3].to_owned());
            let mut dbs = lines(&data["databases"]);
            dbs.push(MAINTENANCE_DB.to_owned());
            let catalog = (dbs, lines(&data["roles"]));
            let target = external
                .iter()
                .find(|(ns, n, _)| *ns == namespace && *n == service)
                .map(|(_, _, h)| *h);
            for (ns, n, h) in &external {
                if Some(*h) == target && *ns == namespace {
                    out.insert(((*ns).to_owned(), (*n).to_owned()), catalog.clone());
                }
            }
            out.insert((namespace, service), catalog);
        }
    }
}

/// An Application's Helm values as Helm merges them: its value files from
/// this repository in order, then `valuesObject`.
pub(crate) fn app_values(app: &super::input::Application, files: &Files) -> Value {
    let mut merged = Value::Object(Default::default());
    let Some(doc) = files.doc_at(&app.at.file, app.at.line) else {
        return merged;
    };
    for (_, s) in sources(&doc.value["spec"]) {
        for rel in value_files(s) {
            for d in files.docs_of(rel).into_iter().flatten() {
                crate::core::values::deep_merge(&mut merged, &d.value);
            }
        }
        if let Some(obj) = s["helm"].get("valuesObject") {
            crate::core::values::deep_merge(&mut merged, obj);
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::userinfo_scheme;

    #[test]
    fn a_url_with_a_user_part_keeps_its_scheme() {
        assert_eq!(
            userinfo_scheme("SUPERSET_DB_URL=postgresql://superset@"),
            Some("postgresql")
        );
        assert_eq!(
            userinfo_scheme("postgresql://u:secret@"),
            Some("postgresql")
        );
        // No user part, or something else before the host.
        assert_eq!(userinfo_scheme("postgresql://"), None);
        assert_eq!(userinfo_scheme("mail me@"), None);
        assert_eq!(userinfo_scheme("http://a/b@"), None);
    }
}
