//! The single-host target: an environment with `target: compose` runs on
//! one Docker host instead of a cluster.
//!
//! A blueprint that offers the target declares, for each component that can
//! run on one host, its Compose services (image, command, settings, health
//! check, limits), and for every other component why it is left out. What
//! joins the services is derived here from the same graph as the sync
//! waves and the cluster's wiring, never written twice:
//! - `depends_on`: a service waits for every service of the components its
//!   component `needs` (healthy, or completed for one-shot services);
//! - the credentials: each database role and each S3 user of a consumer
//!   that runs on the host gets a variable in `.env` (the provider's
//!   provisioning service creates it, the consumer reads it); every other
//!   credential is a variable its service declares;
//! - `.env.example` lists every variable, with no value: `.env` itself is
//!   git-ignored and filled on the host by `init-env.sh`.
//!
//! The files each provider runs to provision (SQL roles, buckets and
//! policies) are the blueprint's templates under `targets/compose/`,
//! rendered with [`ComposeContext`].

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::core::wiring::Provides;

/// The blueprint's `compose:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeTarget {
    /// The host the services share. Memory limits must add up to no more
    /// than its memory (`socle check` holds the rendered file to it).
    pub host: Host,
    /// The bridge network every service joins.
    pub network: String,
    /// Components that do not run on one host, each with the reason (the
    /// environment's README lists them).
    #[serde(default)]
    pub left_out: BTreeMap<String, String>,
    /// Choices the host makes whatever the spec says (`object_storage:
    /// in-cluster`: the host runs its own object store even when the
    /// clusters use an external one).
    #[serde(default)]
    pub choices: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub cpus: f64,
    /// Compose's byte notation: `16G`, `512M`.
    pub memory: String,
}

/// One Compose service of a component.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// A pinned image: a version tag (never `latest`) or a digest.
    pub image: String,
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// Settings; a credential is written `${NAME}`, a variable of `.env`.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// The `.env` variables this service owns (not derived from the
    /// wiring), each with what it holds.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Ports published on the host's loopback only: `PORT`, or
    /// `HOST:CONTAINER` when two services listen on the same port.
    #[serde(default)]
    pub ports: Vec<String>,
    /// Named volumes (`<service>-<key>`) by container path.
    #[serde(default)]
    pub volumes: BTreeMap<String, String>,
    /// Read-only bind mounts: a path relative to the environment's folder
    /// (`compose/<env>/`), or to the repository's root with a leading
    /// `../../`, by container path.
    #[serde(default)]
    pub mounts: BTreeMap<String, String>,
    /// The wiring resources this service creates for the consumers on the
    /// host (`databases`, `buckets`): it receives their credentials.
    #[serde(default)]
    pub provisions: Option<String>,
    /// The health check's command (Compose's `test`), required unless the
    /// service is one-shot.
    #[serde(default)]
    pub healthcheck: Vec<String>,
    /// Runs once and exits: never restarted, its dependents wait for it to
    /// complete successfully.
    #[serde(default)]
    pub oneshot: bool,
    /// Services of the same component it waits for.
    #[serde(default)]
    pub after: Vec<String>,
    pub limits: Limits,
    /// Why the service needs the host's Docker socket, which gives it
    /// control of the host: mounted only with a reason, which the rendered
    /// file carries for `socle check` to report.
    #[serde(default)]
    pub docker_socket: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub cpus: f64,
    pub memory: String,
}

/// Kinds of wiring resources a service can provision.
const PROVISIONED: &[&str] = &["databases", "buckets"];

/// Megabytes in Compose's byte notation (`512M`, `2G`, `1g`, `1024m`).
pub fn megabytes(q: &str) -> Option<u64> {
    let q = q.trim();
    let q = q.strip_suffix(['b', 'B']).unwrap_or(q);
    let (digits, unit) = q.split_at(q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len()));
    let n: u64 = digits.parse().ok()?;
    match unit.to_ascii_lowercase().as_str() {
        "k" => Some(n / 1024),
        "m" => Some(n),
        "g" => n.checked_mul(1024),
        _ => None,
    }
}

/// (host, container) of a declared port.
fn port_pair(p: &str) -> Option<(u16, u16)> {
    match p.split_once(':') {
        Some((h, c)) => Some((h.parse().ok()?, c.parse().ok()?)),
        None => {
            let n = p.parse().ok()?;
            Some((n, n))
        }
    }
}

/// A size scaled by the spec's sizing factor, in Compose's notation
/// (whole gigabytes as `G`, else megabytes).
pub fn scaled_memory(q: &str, factor: f64) -> String {
    let mb = megabytes(q).map_or(0.0, |m| m as f64) * factor;
    let mb = mb.round() as u64;
    if mb.is_multiple_of(1024) {
        format!("{}G", mb / 1024)
    } else {
        format!("{mb}M")
    }
}

/// Whether an image reference names one immutable version.
pub fn pinned(image: &str) -> bool {
    if image.contains("@sha256:") {
        return true;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => !tag.is_empty() && tag != "latest",
        None => false,
    }
}

/// One `${NAME...}` of a text, as Compose interpolates it.
struct Interpolation<'t> {
    /// Byte range of the whole `${...}` (to the text's end if unclosed).
    start: usize,
    end: usize,
    name: &'t str,
    /// `${NAME}` alone: no default, no error message, closed.
    plain: bool,
}

/// Every interpolation of a text, a default's own included (`${A:-${B}}`
/// names A and B); `$${` is a literal `${`.
fn interpolations(text: &str) -> Vec<Interpolation<'_>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("${").map(|i| from + i) {
        let body = i + 2;
        from = body;
        if text[..i].ends_with('$') {
            continue;
        }
        let close = text[body..].find('}').map(|c| body + c);
        let inner = &text[body..close.unwrap_or(text.len())];
        let len = inner.find([':', '-', '?']).unwrap_or(inner.len());
        out.push(Interpolation {
            start: i,
            end: close.map_or(text.len(), |c| c + 1),
            name: &inner[..len],
            plain: close.is_some() && len == inner.len(),
        });
        from = body + len;
    }
    out
}

/// The variable names `${NAME}` in a text (Compose's interpolation).
pub fn variables(text: &str) -> Vec<String> {
    interpolations(text)
        .into_iter()
        .map(|v| v.name.to_owned())
        .collect()
}

fn upper(s: &str) -> String {
    s.to_ascii_uppercase().replace('-', "_")
}

/// The variable holding a database role's password.
pub fn role_password(role: &str) -> String {
    format!("{}_DB_PASSWORD", upper(role))
}

/// The variable holding a consumer's S3 secret key.
pub fn s3_secret(consumer: &str) -> String {
    format!("{}_S3_SECRET_KEY", upper(consumer))
}

/// For the error naming an environment a command cannot find among the
/// cluster's: the hint that it runs on one Docker host, when it does.
pub fn on_host_hint(repo: &std::path::Path, env: &str) -> String {
    if repo
        .join("compose")
        .join(env)
        .join("compose.yaml")
        .is_file()
    {
        format!("; {env} runs on one Docker host (compose/{env}/), which has no cluster files to compare or promote")
    } else {
        String::new()
    }
}

/// A component of the blueprint as the target sees it.
pub struct Declared<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub needs: &'a [String],
    pub provides: &'a Provides,
    pub services: &'a BTreeMap<String, Service>,
}

/// The enabled components' declarations, in the order of `ids` (the
/// model's wave order); components not enabled are left out.
pub fn in_order<'a, 'i>(
    declared: Vec<Declared<'a>>,
    ids: impl Iterator<Item = &'i str>,
) -> Vec<Declared<'a>> {
    let mut by_id: BTreeMap<&str, Declared<'a>> = declared.into_iter().map(|d| (d.id, d)).collect();
    ids.filter_map(|id| by_id.remove(id)).collect()
}

/// Checks a blueprint's declarations when it loads, whatever the spec.
pub fn check(target: &ComposeTarget, components: &[Declared<'_>]) -> Result<(), String> {
    if megabytes(&target.host.memory).is_none() {
        return Err(format!(
            "compose.host.memory {:?} is not a size such as 16G",
            target.host.memory
        ));
    }
    for id in target.left_out.keys() {
        if !components.iter().any(|c| c.id == id) {
            return Err(format!("compose.left_out names unknown component {id:?}"));
        }
    }
    let mut names = BTreeSet::new();
    let mut published = BTreeSet::new();
    for c in components {
        let left_out = target.left_out.contains_key(c.id);
        match (c.services.is_empty(), left_out) {
            (true, false) => {
                return Err(format!(
                    "component {}: the blueprint offers target compose: declare its `compose` services, or list it in compose.left_out with the reason",
                    c.id
                ))
            }
            (false, true) => {
                return Err(format!(
                    "component {}: has `compose` services and is in compose.left_out; keep one",
                    c.id
                ))
            }
            _ => {}
        }
        for (name, s) in c.services {
            let at = format!("component {} compose service {name}", c.id);
            if !crate::blueprint::is_slug(name) || !names.insert(name.as_str()) {
                return Err(format!("{at}: the name must be a unique slug"));
            }
            if !pinned(&s.image) {
                return Err(format!(
                    "{at}: image {:?} is not pinned (give a version tag, never latest, or a digest)",
                    s.image
                ));
            }
            if s.healthcheck.is_empty() != s.oneshot {
                return Err(format!(
                    "{at}: a long-running service needs a `healthcheck`, a one-shot service has none"
                ));
            }
            if megabytes(&s.limits.memory).is_none() || s.limits.cpus <= 0.0 {
                return Err(format!(
                    "{at}: limits {{cpus: {}, memory: {:?}}} must be a positive CPU count and a size such as 512M",
                    s.limits.cpus, s.limits.memory
                ));
            }
            for p in &s.ports {
                let host = match port_pair(p) {
                    Some((host, _)) => host,
                    None => {
                        return Err(format!(
                            "{at}: port {p:?} is neither PORT nor HOST:CONTAINER"
                        ))
                    }
                };
                if !published.insert(host) {
                    return Err(format!(
                        "{at}: host port {host} is published by another service too"
                    ));
                }
            }
            for a in &s.after {
                if !c.services.contains_key(a) || a == name {
                    return Err(format!(
                        "{at}: `after` names {a:?}, which is not another service of {}",
                        c.id
                    ));
                }
            }
            if let Some(kind) = &s.provisions {
                let provides = match kind.as_str() {
                    "databases" => c.provides.databases,
                    "buckets" => c.provides.buckets,
                    _ => false,
                };
                if !PROVISIONED.contains(&kind.as_str()) || !provides {
                    return Err(format!(
                        "{at}: provisions {kind:?}, which {} does not provide (one of: {})",
                        c.id,
                        PROVISIONED.join(", ")
                    ));
                }
            }
            for path in s.mounts.keys() {
                let inner = path.strip_prefix("../../").unwrap_or(path);
                if inner.is_empty()
                    || inner.starts_with('/')
                    || inner
                        .split('/')
                        .any(|seg| seg.is_empty() || seg == ".." || seg == ".")
                {
                    return Err(format!(
                        "{at}: mount {path:?} must stay in the repository (relative, no `..` but a leading ../../)"
                    ));
                }
            }
            for var in s.secrets.keys() {
                if var.is_empty()
                    || !var
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    return Err(format!(
                        "{at}: secret {var:?} is not an UPPER_SNAKE variable name"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// What the Compose templates see as `compose` (and what builds
/// `compose.yaml` and `.env.example`): the services that run on the host
/// and the wiring between them.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct ComposeContext {
    /// The environments that target compose, in spec order.
    pub environments: Vec<String>,
    /// Those of them whose spec lets services mount the Docker socket.
    pub docker_socket: Vec<String>,
    /// The spec's sizing factor, applied to every limit and to the host.
    pub factor: f64,
    pub network: String,
    pub host: Option<Host>,
    /// Enabled components with services on the host, in wave order.
    pub components: Vec<HostComponent>,
    /// Enabled components that stay off the host, with the reason.
    pub left_out: Vec<LeftOut>,
    /// The databases to create, each with its owner's password variable.
    pub databases: Vec<HostDatabase>,
    /// The S3 users to create and their policies.
    pub s3_accounts: Vec<HostS3Account>,
    /// Every bucket a consumer on the host uses.
    pub buckets: Vec<String>,
    /// Every variable of `.env`, sorted.
    pub variables: Vec<Variable>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HostComponent {
    pub id: String,
    pub title: String,
    pub services: Vec<String>,
    /// Where its services answer on the host: `127.0.0.1:<port>`.
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LeftOut {
    pub id: String,
    pub title: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HostDatabase {
    pub name: String,
    pub owner: String,
    pub schemas: Vec<String>,
    pub consumer: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HostS3Account {
    pub consumer: String,
    pub user: String,
    pub policy: String,
    pub secret: String,
    pub read: Vec<String>,
    pub write: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Variable {
    pub name: String,
    /// The services that read it.
    pub services: Vec<String>,
    pub purpose: String,
}

/// The wiring objects of the model that the host may provision.
pub struct WiringView<'a> {
    pub databases: Vec<DatabaseRef<'a>>,
    pub s3_accounts: Vec<S3Ref<'a>>,
}

pub struct DatabaseRef<'a> {
    pub name: &'a str,
    pub owner: &'a str,
    pub schemas: &'a [String],
    pub consumer: &'a str,
}

pub struct S3Ref<'a> {
    pub consumer: &'a str,
    pub user: &'a str,
    pub policy: &'a str,
    pub read: &'a [String],
    pub write: &'a [String],
}

/// Derives the context from the enabled components (wave order) and the
/// model's wiring; `None` when no environment targets compose.
pub fn context(
    target: Option<&ComposeTarget>,
    environments: Vec<String>,
    docker_socket: Vec<String>,
    factor: f64,
    enabled: &[Declared<'_>],
    wiring: &WiringView<'_>,
) -> Result<ComposeContext, String> {
    let Some(target) = target else {
        return Ok(ComposeContext {
            environments,
            docker_socket,
            factor,
            ..Default::default()
        });
    };
    let components: Vec<HostComponent> = enabled
        .iter()
        .filter(|c| !c.services.is_empty())
        .map(|c| HostComponent {
            id: c.id.to_owned(),
            title: c.title.to_owned(),
            services: c.services.keys().cloned().collect(),
            addresses: c
                .services
                .values()
                .flat_map(|s| s.ports.iter().filter_map(|p| port_pair(p)))
                .map(|(host, _)| format!("127.0.0.1:{host}"))
                .collect(),
        })
        .collect();
    let on_host: BTreeSet<&str> = components.iter().map(|c| c.id.as_str()).collect();
    let left_out = enabled
        .iter()
        .filter(|c| c.services.is_empty())
        .map(|c| LeftOut {
            id: c.id.to_owned(),
            title: c.title.to_owned(),
            reason: target.left_out.get(c.id).cloned().unwrap_or_default(),
        })
        .collect();
    // What each consumer's services read: a consumer on the host that
    // reads none of a resource's credentials does not use it there (a
    // database that archives to S3 on a cluster may not on the host).
    let mut reads: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (c, _, s) in host_services(enabled) {
        for var in own_variables(s) {
            reads.entry(var).or_default().insert(c.id);
        }
    }
    let read_by = |var: &str, consumer: &str| reads.get(var).is_some_and(|r| r.contains(consumer));
    let databases: Vec<HostDatabase> = wiring
        .databases
        .iter()
        .filter(|d| on_host.contains(d.consumer))
        .map(|d| HostDatabase {
            name: d.name.to_owned(),
            owner: d.owner.to_owned(),
            schemas: d.schemas.to_vec(),
            consumer: d.consumer.to_owned(),
            password: role_password(d.owner),
        })
        .filter(|d| read_by(&d.password, &d.consumer))
        .collect();
    let s3_accounts: Vec<HostS3Account> = wiring
        .s3_accounts
        .iter()
        .filter(|a| on_host.contains(a.consumer))
        .map(|a| HostS3Account {
            consumer: a.consumer.to_owned(),
            user: a.user.to_owned(),
            policy: a.policy.to_owned(),
            secret: s3_secret(a.consumer),
            read: a.read.to_vec(),
            write: a.write.to_vec(),
        })
        .filter(|a| read_by(&a.secret, &a.consumer))
        .collect();
    let buckets: BTreeSet<String> = s3_accounts
        .iter()
        .flat_map(|a| a.read.iter().chain(&a.write).cloned())
        .collect();
    let mut ctx = ComposeContext {
        environments,
        docker_socket,
        factor,
        network: target.network.clone(),
        // The host scales with the services: the seed's 16 GB host for the
        // standard sizing, its 32 GB one for large.
        host: Some(Host {
            cpus: target.host.cpus * factor,
            memory: scaled_memory(&target.host.memory, factor),
        }),
        components,
        left_out,
        databases,
        s3_accounts,
        buckets: buckets.into_iter().collect(),
        variables: Vec::new(),
    };
    ctx.variables = variables_of(&ctx, enabled)?;
    Ok(ctx)
}

/// Every `.env` variable: the services' own and the wiring's, each with
/// the services reading it. A `${NAME}` that is neither is refused: the
/// service would start with an empty credential.
fn variables_of(ctx: &ComposeContext, enabled: &[Declared<'_>]) -> Result<Vec<Variable>, String> {
    let mut purpose: BTreeMap<String, String> = BTreeMap::new();
    for c in enabled {
        for s in c.services.values() {
            for (var, what) in &s.secrets {
                purpose.insert(var.clone(), what.clone());
            }
        }
    }
    for d in &ctx.databases {
        purpose.insert(
            d.password.clone(),
            format!(
                "password of the database role {} (database {}, for {})",
                d.owner, d.name, d.consumer
            ),
        );
    }
    for a in &ctx.s3_accounts {
        purpose.insert(
            a.secret.clone(),
            format!("S3 secret key of the user {} (for {})", a.user, a.consumer),
        );
    }
    let mut readers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (c, name, s) in host_services(enabled) {
        let mut used = own_variables(s);
        used.extend(provisioned(ctx, s));
        for var in used {
            if !purpose.contains_key(&var) {
                return Err(format!(
                    "component {} compose service {name}: ${{{var}}} is neither a secret a service declares nor a credential of the wiring (known: {})",
                    c.id,
                    purpose.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            readers.entry(var).or_default().insert(name.clone());
        }
    }
    Ok(purpose
        .into_iter()
        .map(|(name, purpose)| Variable {
            services: readers
                .remove(&name)
                .unwrap_or_default()
                .into_iter()
                .collect(),
            name,
            purpose,
        })
        .collect())
}

/// The variables a service's own settings name.
fn own_variables(s: &Service) -> Vec<String> {
    s.environment
        .values()
        .chain(&s.command)
        .chain(&s.entrypoint)
        .flat_map(|v| variables(v))
        .collect()
}

/// The wiring credentials a provisioning service receives.
fn provisioned(ctx: &ComposeContext, s: &Service) -> Vec<String> {
    match s.provisions.as_deref() {
        Some("databases") => ctx.databases.iter().map(|d| d.password.clone()).collect(),
        Some("buckets") => ctx.s3_accounts.iter().map(|a| a.secret.clone()).collect(),
        _ => Vec::new(),
    }
}

fn host_services<'a>(
    enabled: &'a [Declared<'a>],
) -> impl Iterator<Item = (&'a Declared<'a>, &'a String, &'a Service)> {
    enabled
        .iter()
        .flat_map(|c| c.services.iter().map(move |(n, s)| (c, n, s)))
}

/// `${NAME}` becomes `${NAME:?…}`: Compose refuses to start a service whose
/// credential is unset or empty rather than start it without one.
fn required(text: &str) -> String {
    let mut out = String::new();
    let mut copied = 0;
    for v in interpolations(text).into_iter().filter(|v| v.plain) {
        out.push_str(&text[copied..v.start]);
        out.push_str(&format!(
            "${{{0}:?{0} is not set: run sh init-env.sh}}",
            v.name
        ));
        copied = v.end;
    }
    out.push_str(&text[copied..]);
    out
}

/// `compose.yaml` for one environment. A service that needs the Docker
/// socket is refused unless the environment's spec allows it.
pub fn compose_file(
    ctx: &ComposeContext,
    enabled: &[Declared<'_>],
    env: &str,
) -> Result<String, String> {
    let socket_allowed = ctx.docker_socket.iter().any(|e| e == env);
    if !socket_allowed {
        if let Some((c, name, reason)) =
            host_services(enabled).find_map(|(c, n, s)| s.docker_socket.as_ref().map(|r| (c, n, r)))
        {
            return Err(format!(
                "environment {env}: service {name} of {} needs the host's Docker socket ({reason}), which gives it control of the host; allow it with `docker_socket: true` on the environment",
                c.id
            ));
        }
    }
    let services_of: BTreeMap<&str, &BTreeMap<String, Service>> =
        enabled.iter().map(|c| (c.id, c.services)).collect();
    let condition = |s: &Service| {
        if s.oneshot {
            "service_completed_successfully"
        } else {
            "service_healthy"
        }
    };
    let mut services = Map::new();
    let mut volumes = Map::new();
    for (c, name, s) in host_services(enabled) {
        let mut depends = Map::new();
        // The services of what the component needs, then its own `after`.
        for need in c.needs {
            if let Some(theirs) = services_of.get(need.as_str()) {
                for (other, o) in theirs.iter() {
                    depends.insert(other.clone(), json!({ "condition": condition(o) }));
                }
            }
        }
        for a in &s.after {
            if let Some(o) = c.services.get(a) {
                depends.insert(a.clone(), json!({ "condition": condition(o) }));
            }
        }
        let mut svc = Map::new();
        svc.insert("image".into(), json!(s.image));
        if let Some(user) = &s.user {
            svc.insert("user".into(), json!(user));
        }
        if !s.entrypoint.is_empty() {
            svc.insert(
                "entrypoint".into(),
                json!(s.entrypoint.iter().map(|v| required(v)).collect::<Vec<_>>()),
            );
        }
        if !s.command.is_empty() {
            svc.insert(
                "command".into(),
                json!(s.command.iter().map(|v| required(v)).collect::<Vec<_>>()),
            );
        }
        let mut env = Map::new();
        for (k, v) in &s.environment {
            env.insert(k.clone(), json!(required(v)));
        }
        for var in provisioned(ctx, s) {
            env.insert(var.clone(), json!(required(&format!("${{{var}}}"))));
        }
        if !env.is_empty() {
            svc.insert("environment".into(), Value::Object(env));
        }
        if !s.ports.is_empty() {
            let ports: Vec<String> = s
                .ports
                .iter()
                .filter_map(|p| port_pair(p))
                .map(|(h, c)| format!("127.0.0.1:{h}:{c}"))
                .collect();
            svc.insert("ports".into(), json!(ports));
        }
        let mut mounts: Vec<String> = Vec::new();
        for (key, path) in &s.volumes {
            let volume = format!("{name}-{key}");
            mounts.push(format!("{volume}:{path}"));
            volumes.insert(volume, json!({}));
        }
        for (from, path) in &s.mounts {
            let from = if from.starts_with("../") {
                from.clone()
            } else {
                format!("./{from}")
            };
            mounts.push(format!("{from}:{path}:ro"));
        }
        if s.docker_socket.is_some() {
            mounts.push("/var/run/docker.sock:/var/run/docker.sock".into());
        }
        if !mounts.is_empty() {
            svc.insert("volumes".into(), json!(mounts));
        }
        if !depends.is_empty() {
            svc.insert("depends_on".into(), Value::Object(depends));
        }
        if !s.healthcheck.is_empty() {
            svc.insert(
                "healthcheck".into(),
                json!({
                    "test": s.healthcheck,
                    "interval": "10s",
                    "timeout": "5s",
                    "retries": 30,
                    "start_period": "60s",
                }),
            );
        }
        svc.insert(
            "restart".into(),
            json!(if s.oneshot { "no" } else { "unless-stopped" }),
        );
        svc.insert("networks".into(), json!([ctx.network]));
        svc.insert(
            "deploy".into(),
            json!({"resources": {"limits": {
                "cpus": format!("{}", s.limits.cpus * ctx.factor),
                "memory": scaled_memory(&s.limits.memory, ctx.factor),
            }}}),
        );
        if let Some(reason) = &s.docker_socket {
            svc.insert("x-socle".into(), json!({ "docker-socket": reason }));
        }
        services.insert(name.clone(), Value::Object(svc));
    }
    let mut doc = Map::new();
    doc.insert("services".into(), Value::Object(services));
    if !volumes.is_empty() {
        doc.insert("volumes".into(), Value::Object(volumes));
    }
    doc.insert("networks".into(), json!({ ctx.network.clone(): {} }));
    if let Some(host) = &ctx.host {
        doc.insert(
            "x-socle".into(),
            json!({"host": {"cpus": host.cpus, "memory": host.memory}}),
        );
    }
    Ok(crate::yaml::to_string(&Value::Object(doc)))
}

/// `.env.example`: every variable, no value; and the project's name, which
/// Compose reads from `.env` (the file's own `name:` is unknown to the
/// Compose 1.x still packaged by distributions).
pub fn env_example(ctx: &ComposeContext, env: &str, project: &str) -> String {
    let mut out = format!(
        "# The credentials of {env}'s services. Copy to .env and fill it, or run\n\
         # sh init-env.sh, which writes .env with a random value for each empty\n\
         # variable. .env is git-ignored: never commit it.\n\n\
         # The Compose project: its containers, volumes and network are named after it.\n\
         COMPOSE_PROJECT_NAME={project}\n"
    );
    for v in &ctx.variables {
        out.push_str(&format!(
            "\n# {} (read by {})\n{}=\n",
            v.purpose.replace('\n', " "),
            if v.services.is_empty() {
                "no service".to_owned()
            } else {
                v.services.join(", ")
            },
            v.name
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_megabytes() {
        assert_eq!(megabytes("512M"), Some(512));
        assert_eq!(megabytes("2G"), Some(2048));
        assert_eq!(megabytes("1gb"), Some(1024));
        assert_eq!(megabytes("lots"), None);
        assert_eq!(megabytes("12"), None);
    }

    #[test]
    fn declarations_are_refused_with_the_reason() {
        let target: ComposeTarget =
            crate::yaml::from_str("host: {cpus: 4, memory: 16G}\nnetwork: n\n").expect("target");
        let good = "image: db:1.0\nhealthcheck: [CMD, /bin/true]\nlimits: {cpus: 1, memory: 1G}\nports: [\"5432\"]\n";
        let check_one = |yaml: &str, provides: &Provides| {
            let s: Service = crate::yaml::from_str(yaml).expect("service");
            let services = BTreeMap::from([("db".to_owned(), s)]);
            let needs = Vec::new();
            check(
                &target,
                &[Declared {
                    id: "db",
                    title: "DB",
                    needs: &needs,
                    provides,
                    services: &services,
                }],
            )
        };
        let none = Provides::default();
        assert_eq!(check_one(good, &none), Ok(()));
        for (edit, expected) in [
            (good.replace("db:1.0", "db:latest"), "is not pinned"),
            (
                good.replace("healthcheck: [CMD, /bin/true]\n", ""),
                "needs a `healthcheck`",
            ),
            (
                format!("{good}oneshot: true\n"),
                "a one-shot service has none",
            ),
            (good.replace("memory: 1G", "memory: lots"), "limits"),
            (
                good.replace("\"5432\"", "\"54:32:1\""),
                "neither PORT nor HOST:CONTAINER",
            ),
            (
                format!("{good}mounts: {{../../../etc: /etc}}\n"),
                "must stay in the repository",
            ),
            (
                format!("{good}mounts: {{/etc: /etc}}\n"),
                "must stay in the repository",
            ),
            (format!("{good}provisions: databases\n"), "does not provide"),
            (format!("{good}after: [db]\n"), "not another service"),
            (format!("{good}secrets: {{lower_case: x}}\n"), "UPPER_SNAKE"),
        ] {
            let err = check_one(&edit, &none).expect_err(expected);
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let empty = BTreeMap::new();
        let needs = Vec::new();
        let bare = [Declared {
            id: "op",
            title: "Operator",
            needs: &needs,
            provides: &none,
            services: &empty,
        }];
        let err = check(&target, &bare).expect_err("neither declared nor left out");
        assert!(err.contains("compose.left_out"), "{err}");
    }

    #[test]
    fn sizes_scale_with_the_sizing() {
        assert_eq!(scaled_memory("16G", 2.0), "32G");
        assert_eq!(scaled_memory("1G", 0.5), "512M");
        assert_eq!(scaled_memory("64M", 0.5), "32M");
        assert_eq!(scaled_memory("3G", 1.0), "3G");
    }

    #[test]
    fn only_versions_and_digests_are_pinned() {
        assert!(pinned("postgres:17.6"));
        assert!(pinned("registry:5000/team/app:1.2"));
        assert!(pinned("app@sha256:abcd"));
        assert!(!pinned("postgres"));
        assert!(!pinned("postgres:latest"));
        assert!(!pinned("registry:5000/team/app"));
    }

    #[test]
    fn the_docker_socket_is_mounted_only_where_the_spec_allows_it() {
        let worker: Service = crate::yaml::from_str(
            "image: example/worker:1.0\nhealthcheck: [CMD, /bin/true]\nlimits: {cpus: 1, memory: 1G}\ndocker_socket: starts one container per job\n",
        )
        .expect("service");
        let services = BTreeMap::from([("worker".to_owned(), worker)]);
        let provides = Provides::default();
        let needs = Vec::new();
        let declared = [Declared {
            id: "ingest",
            title: "Ingest",
            needs: &needs,
            provides: &provides,
            services: &services,
        }];
        let mut ctx = ComposeContext {
            environments: vec!["dev".into()],
            network: "n".into(),
            factor: 1.0,
            ..Default::default()
        };
        let err = compose_file(&ctx, &declared, "dev").expect_err("not allowed");
        assert!(
            err.contains("docker_socket: true") && err.contains("starts one container per job"),
            "{err}"
        );
        ctx.docker_socket = vec!["dev".into()];
        let text = compose_file(&ctx, &declared, "dev").expect("allowed");
        assert!(
            text.contains("- /var/run/docker.sock:/var/run/docker.sock"),
            "{text}"
        );
        assert!(
            text.contains("docker-socket: starts one container per job"),
            "{text}"
        );
    }

    #[test]
    fn credentials_become_required_variables() {
        assert_eq!(
            required("postgresql://u:${U_DB_PASSWORD}@db/x"),
            "postgresql://u:${U_DB_PASSWORD:?U_DB_PASSWORD is not set: run sh init-env.sh}@db/x"
        );
        assert_eq!(required("${A:-b}"), "${A:-b}");
        assert_eq!(variables("a ${X} ${Y:-z} $${Z}"), ["X", "Y"]);
        assert_eq!(required("$${Z}"), "$${Z}");
        assert_eq!(variables("${A:-${B}}"), ["A", "B"]);
        assert_eq!(
            required("${A:-${B}} ${C"),
            "${A:-${B:?B is not set: run sh init-env.sh}} ${C"
        );
    }
}
