//! The managed services an environment's Terraform names by private DNS:
//! the ExternalName Services that stand for them in the cluster must
//! forward to a record of the zone, and their consumers' egress must reach
//! every subnet the service may answer from (an RDS instance's subnet
//! group: a Multi-AZ standby takes over from another zone).

use serde_json::Value;

use super::build::Modelled;
use super::cloud::at;
use super::input::{At, Gap, ManagedReach, PrivateName};
use super::network::{Peer, PodPort};
use crate::check::terraform::{self, Evaluator, Module};

/// A DNS name without its final dot, lower-cased.
pub(crate) fn dns(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A record's full name: a relative one is completed with its zone's.
pub(crate) fn full_name(record: &str, zone: &str) -> String {
    let (name, zone) = (dns(record), dns(zone));
    if name == zone || name.ends_with(&format!(".{zone}")) {
        name
    } else {
        format!("{name}.{zone}")
    }
}

/// The ExternalName Services that forward into a private zone of the
/// Terraform, with whether the zone has a record of that name. A zone some
/// record of which names an unknown zone or name is not judged.
pub(crate) fn private_names(
    m: &Modelled,
    module: &Module,
    ev: &Evaluator,
    symbolic: &Evaluator,
) -> (Vec<PrivateName>, Vec<Gap>) {
    let mut gaps = Vec::new();
    // resource name → (zone name, where); private zones only (a `vpc` block).
    let mut zones: Vec<(String, String, At)> = Vec::new();
    for z in module.resources("aws_route53_zone") {
        let private = z
            .block
            .body
            .blocks()
            .any(|b| b.identifier.as_str() == "vpc");
        match (private, ev.attribute(&z.block, "name", &terraform::Instance::Single)) {
            (false, _) => {}
            (true, Some(Value::String(name))) => {
                let (_, resource) = z.resource().unwrap_or_default();
                zones.push((resource.to_owned(), dns(&name), at(&z.file, z.line)));
            }
            (true, _) => gaps.push(Gap {
                app: m.system.root.clone(),
                at: at(&z.file, z.line),
                message: "the name of this private zone is not known before a plan: the names forwarded into it are not judged".into(),
            }),
        }
    }
    if zones.is_empty() {
        return (Vec::new(), gaps);
    }
    // Zone resource → names of its records; None when a record is unknown.
    let mut records: Records = zones
        .iter()
        .map(|(r, _, _)| (r.clone(), Some(Vec::new())))
        .collect();
    for r in module.resources("aws_route53_record") {
        let one = terraform::Instance::Single;
        let zone = symbolic.attribute(&r.block, "zone_id", &one).and_then(|z| {
            z.as_str()?
                .strip_prefix("${aws_route53_zone.")?
                .strip_suffix(".zone_id}")
                .map(str::to_owned)
        });
        let Some(zone) = zone else {
            // A record in a zone named otherwise (a literal id, a data
            // source, a variable) may be in any of them: none is judged.
            for list in records.values_mut() {
                *list = None;
            }
            continue;
        };
        if !records.contains_key(&zone) {
            // A public zone of this module.
            continue;
        }
        note_record(&mut records, &zones, zone, ev, r);
    }
    let out = forwarded(m, &zones, &records, &mut gaps);
    (out, gaps)
}

/// By zone resource, the full names of its records (None when one is not
/// known before a plan).
pub(crate) type Records = std::collections::HashMap<String, Option<Vec<String>>>;

/// Notes record `r` of the zone whose resource is `zone` (one of `zones`:
/// resource, name, where) under its full name, or, when its name or its
/// instances are not known before a plan, the zone's records as unknown.
/// Returns the full name.
pub(crate) fn note_record(
    records: &mut Records,
    zones: &[(String, String, At)],
    zone: String,
    ev: &Evaluator,
    r: &terraform::Located,
) -> Option<String> {
    let suffix = zones
        .iter()
        .find(|(res, _, _)| *res == zone)
        .map(|(_, n, _)| n.clone())
        .unwrap_or_default();
    let name = match ev.instances(&r.block) {
        Some(all) if all.len() == 1 => ev.attribute(&r.block, "name", &all[0]),
        _ => None,
    };
    let entry = records.entry(zone).or_default();
    match (name, entry.as_mut()) {
        (Some(Value::String(n)), Some(list)) => {
            let fqdn = full_name(&n, &suffix);
            list.push(fqdn.clone());
            Some(fqdn)
        }
        (_, _) => {
            *entry = None;
            None
        }
    }
}

/// The ExternalName Services forwarding into one of `zones` (resource,
/// name, where), with whether its `records` have the name.
pub(crate) fn forwarded(
    m: &Modelled,
    zones: &[(String, String, At)],
    records: &Records,
    gaps: &mut Vec<Gap>,
) -> Vec<PrivateName> {
    let mut out = Vec::new();
    for (o, v) in m.system.objects.iter().zip(&m.values) {
        let Some(v) = v else { continue };
        if o.kind != "Service" || !o.group.is_empty() || v["spec"]["type"] != "ExternalName" {
            continue;
        }
        let Some(host) = v["spec"]["externalName"].as_str().map(dns) else {
            continue;
        };
        let Some((resource, zone, zone_at)) = zones
            .iter()
            .find(|(_, z, _)| host == *z || host.ends_with(&format!(".{z}")))
        else {
            continue;
        };
        let Some(Some(names)) = records.get(resource) else {
            gaps.push(Gap {
                app: o.app.clone(),
                at: o.at.clone(),
                message: format!(
                    "a record of the private zone {zone} is not known before a plan: whether {host} resolves is not judged"
                ),
            });
            continue;
        };
        out.push(PrivateName {
            app: o.app.clone(),
            service: format!("{}/{}", o.namespace, o.name),
            host: host.clone(),
            zone: zone.clone(),
            zone_at: zone_at.clone(),
            at: At {
                pointer: crate::check::parse::pointer_of(&[
                    Value::from("spec"),
                    Value::from("externalName"),
                ]),
                ..o.at.clone()
            },
            resolves: names.contains(&host),
        });
    }
    out
}

/// A cloud's private zones: each zone's (resource, name, where), and the
/// names its records give it by (its resource's `name` reference, or the
/// name itself) with the zone resource each stands for.
#[derive(Default)]
pub(crate) struct Zones {
    pub(crate) zones: Vec<(String, String, At)>,
    pub(crate) called: Vec<(String, String)>,
}

/// How a cloud's Terraform writes the records of its private zones and
/// the database servers they point at.
pub(crate) struct Servers<'k> {
    /// The record resource types, and the attribute naming their zone.
    pub(crate) records: &'k [&'k str],
    pub(crate) zone: &'k str,
    /// The database server resource type.
    pub(crate) server: &'k str,
}

/// The managed database behind private DNS: the ExternalName Services
/// forwarding into one of `zones`, and the connections to the servers
/// their records point at (`targets`: the server resource names a record
/// names), each reaching the ranges `ranges` gives for the server; where
/// those are not known before a plan, a gap that `unknown(full name)`
/// words.
#[allow(clippy::too_many_arguments)]
pub(crate) fn managed_names(
    m: &Modelled,
    module: &Module,
    ev: &Evaluator,
    symbolic: &Evaluator,
    gaps: &mut Vec<Gap>,
    zones: Zones,
    kinds: &Servers,
    targets: impl Fn(&terraform::Located) -> Vec<String>,
    ranges: impl Fn(&terraform::Located) -> Option<Vec<String>>,
    unknown: impl Fn(&str) -> String,
) -> (Vec<PrivateName>, Vec<ManagedReach>) {
    let Zones { zones, called } = zones;
    if zones.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let one = terraform::Instance::Single;
    let mut records: Records = zones
        .iter()
        .map(|(r, _, _)| (r.clone(), Some(Vec::new())))
        .collect();
    // Full name → the server resource it names.
    let mut servers: Vec<(String, String)> = Vec::new();
    for kind in kinds.records {
        for r in module.resources(kind) {
            let zone = match symbolic.attribute(&r.block, kinds.zone, &one) {
                Some(Value::String(z)) => {
                    called.iter().find(|(n, _)| *n == z).map(|(_, r)| r.clone())
                }
                _ => None,
            };
            let Some(zone) = zone else {
                // A record in a zone named otherwise may be in any of them.
                for list in records.values_mut() {
                    *list = None;
                }
                continue;
            };
            let Some(fqdn) = note_record(&mut records, &zones, zone, ev, r) else {
                continue;
            };
            for server in targets(r) {
                servers.push((fqdn.clone(), server));
            }
        }
    }
    let names = forwarded(m, &zones, &records, gaps);
    let mut hosts = Vec::new();
    for (fqdn, server) in servers {
        let Some(r) = module
            .resources(kinds.server)
            .find(|r| r.resource().is_some_and(|(_, n)| n == server))
        else {
            continue;
        };
        match ranges(r) {
            Some(ranges) => hosts.push((fqdn, ranges, at(&r.file, r.line))),
            None => gaps.push(Gap {
                app: m.system.root.clone(),
                at: at(&r.file, r.line),
                message: unknown(&fqdn),
            }),
        }
    }
    (names, reaches(m, &hosts))
}

/// The resource a `${type.name.attr}` reference names, and the attribute.
fn referred<'m>(
    module: &'m Module,
    reference: &str,
    kind: &str,
) -> Option<(&'m terraform::Located, String)> {
    let inner = reference.strip_prefix("${")?.strip_suffix('}')?;
    let rest = inner.strip_prefix(kind)?.strip_prefix('.')?;
    let (name, attr) = rest.split_once('.')?;
    let block = module
        .blocks
        .iter()
        .find(|b| b.resource().is_some_and(|(t, n)| t == kind && n == name))?;
    Some((block, attr.to_owned()))
}

/// The subnets an RDS instance may answer from: its subnet group's.
fn instance_subnets(
    module: &Module,
    ev: &Evaluator,
    symbolic: &Evaluator,
    instance: &terraform::Located,
) -> Option<Vec<String>> {
    let one = terraform::Instance::Single;
    let group = symbolic.attribute(&instance.block, "db_subnet_group_name", &one)?;
    let (group, _) = referred(module, group.as_str()?, "aws_db_subnet_group")?;
    let ids = symbolic.attribute(&group.block, "subnet_ids", &one)?;
    subnets(module, ev, ids)
}

/// The CIDRs of the subnets `ids` (a list of `aws_subnet` ids, as the
/// symbolic evaluator writes them) refers to.
fn subnets(module: &Module, ev: &Evaluator, ids: Value) -> Option<Vec<String>> {
    let ids: Vec<String> = match ids {
        Value::String(s) => vec![s],
        Value::Array(a) => a
            .into_iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    let mut out = Vec::new();
    for id in ids {
        let inner = id.strip_prefix("${aws_subnet.")?.strip_suffix(".id}")?;
        let (name, index) = match inner.split_once('[') {
            Some((n, i)) => (n, Some(i.strip_suffix(']')?)),
            None => (inner, None),
        };
        let subnet = module
            .resources("aws_subnet")
            .find(|b| b.resource().is_some_and(|(_, n)| n == name))?;
        let instances = ev.instances(&subnet.block)?;
        for (k, i) in instances.iter().enumerate() {
            let wanted = match (index, i) {
                (None | Some("*"), _) => true,
                (Some(n), terraform::Instance::Count(_)) => n.parse::<usize>().ok() == Some(k),
                (Some(key), terraform::Instance::Each { key: each, .. }) => {
                    each.as_str().is_some_and(|e| format!("{e:?}") == key)
                }
                _ => false,
            };
            if wanted {
                out.push(
                    ev.attribute(&subnet.block, "cidr_block", i)?
                        .as_str()?
                        .to_owned(),
                );
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Connections to an RDS instance behind a private record of the
/// Terraform, with the subnets each consumer's egress does not reach.
pub(crate) fn managed_reaches(
    m: &Modelled,
    module: &Module,
    ev: &Evaluator,
    symbolic: &Evaluator,
    gaps: &mut Vec<Gap>,
) -> Vec<ManagedReach> {
    let one = terraform::Instance::Single;
    // Record name → (subnets, the instance's resource).
    let mut hosts: Vec<(String, Vec<String>, At)> = Vec::new();
    for r in module.resources("aws_route53_record") {
        let (Some(Value::String(name)), Some(zone)) = (
            ev.attribute(&r.block, "name", &one),
            symbolic.attribute(&r.block, "zone_id", &one),
        ) else {
            continue;
        };
        let Some((zone, _)) = zone
            .as_str()
            .and_then(|z| referred(module, z, "aws_route53_zone"))
        else {
            continue;
        };
        let Some(Value::String(zone_name)) = ev.attribute(&zone.block, "name", &one) else {
            continue;
        };
        let fqdn = full_name(&name, &zone_name);
        let Some(Value::Array(targets)) = symbolic.attribute(&r.block, "records", &one) else {
            continue;
        };
        for t in targets.iter().filter_map(Value::as_str) {
            let Some((instance, attr)) = referred(module, t, "aws_db_instance") else {
                continue;
            };
            if !matches!(attr.as_str(), "address" | "endpoint") {
                continue;
            }
            match instance_subnets(module, ev, symbolic, instance) {
                Some(subnets) => hosts.push((fqdn.clone(), subnets, at(&instance.file, instance.line))),
                None => gaps.push(Gap {
                    app: m.system.root.clone(),
                    at: at(&instance.file, instance.line),
                    message: format!("the subnets of the instance behind {fqdn} are not known before a plan: whether its consumers' egress reaches them is not judged"),
                }),
            }
        }
    }
    reaches(m, &hosts)
}

/// The connections to a managed service behind one of `hosts` (its private
/// name, the ranges it may answer from, its resource), with the ranges the
/// consumer's egress does not reach.
pub(crate) fn reaches(m: &Modelled, hosts: &[(String, Vec<String>, At)]) -> Vec<ManagedReach> {
    if hosts.is_empty() {
        return Vec::new();
    }
    let net = super::wiring::network(m);
    let mut out = Vec::new();
    for c in &m.system.connections {
        let Some(provider) = c.provider.as_ref() else {
            continue;
        };
        let Some(host) = provider.external_name.as_deref() else {
            continue;
        };
        // An address without a port uses the Service's first, as the
        // connection's own verdict does.
        let Some(number) = (if c.port == 0 {
            provider.ports.first().copied()
        } else {
            Some(c.port)
        }) else {
            continue;
        };
        let host = dns(host);
        let Some((_, subnets, service_at)) = hosts.iter().find(|(h, _, _)| *h == host) else {
            continue;
        };
        let from = Peer::Pods {
            namespace: &c.consumer_namespace,
            labels: None,
        };
        let port = PodPort {
            number: Some(number),
            name: None,
        };
        let mut unreached = Vec::new();
        let mut egress = None;
        for s in subnets {
            let v = net.verdict(&from, &Peer::Range(s), &port, true);
            if !v.allowed {
                unreached.push(s.clone());
                egress.get_or_insert(v);
            }
        }
        out.push(ManagedReach {
            consumer: c.consumer.clone(),
            consumer_namespace: c.consumer_namespace.clone(),
            host,
            port: number,
            at: c.at.clone(),
            service_at: service_at.clone(),
            subnets: subnets.clone(),
            unreached,
            egress: egress.unwrap_or_default(),
            egress_allowed: c.egress.allowed,
        });
    }
    out
}

/// Where pods reach an AWS API (`sts`, `s3`...) of the environment's region.
pub(crate) enum ServiceEndpoint {
    /// Its public endpoint: the Terraform declares no interface endpoint
    /// with private DNS for it, so its name resolves to public addresses.
    Public,
    /// An interface endpoint with private DNS, answering from these subnets.
    Private { subnets: Vec<String> },
    /// An interface endpoint whose service, DNS or subnets are not known
    /// before a plan.
    Unknown { at: At },
}

/// Where the pods of the cluster reach `service`: an interface endpoint of
/// the Terraform with private DNS takes its name inside the VPC.
pub(crate) fn service_endpoint(
    module: &Module,
    ev: &Evaluator,
    symbolic: &Evaluator,
    service: &str,
) -> ServiceEndpoint {
    let mut unknown = None;
    for e in module.resources("aws_vpc_endpoint") {
        let here = at(&e.file, e.line);
        let Some(instances) = ev.instances(&e.block) else {
            unknown.get_or_insert(here);
            continue;
        };
        for i in &instances {
            let name = ev.attribute(&e.block, "service_name", i);
            let Some(Value::String(name)) = name else {
                unknown.get_or_insert(here.clone());
                continue;
            };
            if name.rsplit('.').next() != Some(service) {
                continue;
            }
            let interface = ev.attribute(&e.block, "vpc_endpoint_type", i);
            if interface.as_ref().and_then(Value::as_str) != Some("Interface") {
                continue;
            }
            // Without private DNS the service's name stays public.
            match ev.attribute(&e.block, "private_dns_enabled", i) {
                Some(Value::Bool(true)) => {}
                Some(Value::Bool(false)) | None => continue,
                Some(_) => {
                    unknown.get_or_insert(here.clone());
                    continue;
                }
            }
            let ids = symbolic.attribute(&e.block, "subnet_ids", i);
            match ids.and_then(|ids| subnets(module, ev, ids)) {
                Some(subnets) => return ServiceEndpoint::Private { subnets },
                None => {
                    unknown.get_or_insert(here.clone());
                }
            }
        }
    }
    match unknown {
        Some(at) => ServiceEndpoint::Unknown { at },
        None => ServiceEndpoint::Public,
    }
}
