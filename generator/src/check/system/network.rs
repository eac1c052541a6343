//! NetworkPolicies evaluated as Kubernetes does: a pod is isolated for a
//! direction when a policy of its namespace selects it with that policy
//! type; an isolated pod's traffic is allowed when any rule of any policy
//! selecting it matches the peer and the port. Ports are the pod's ports
//! (the Service's targetPort), since policies apply after the Service.

use std::collections::BTreeMap;

use serde_json::Value;

use super::input::{At, Verdict};

/// One side of a flow.
#[derive(Debug, Clone)]
pub(crate) enum Peer<'a> {
    /// Pods in a namespace; None when their labels are not known, in which
    /// case only selectors that select every pod are taken to match.
    Pods {
        namespace: &'a str,
        labels: Option<&'a BTreeMap<String, String>>,
    },
    /// The API server calling an admission webhook: not a pod, so only a
    /// rule with no peers or with an ipBlock can admit it.
    ApiServer,
    /// A host outside the cluster that an ExternalName Service names: only
    /// a rule with no peers or with an ipBlock lets pods reach it.
    Outside,
    /// A known address that is no pod's (a node-local agent): only a rule
    /// with no peers or an ipBlock holding it, outside its `except`.
    Address(std::net::IpAddr),
    /// Any address of a range (a managed service's subnets, where it may
    /// answer from any of them): only a rule with no peers or an ipBlock
    /// holding all of it, its `except` holding none of it.
    Range(&'a str),
    /// A cloud service's public endpoint, whose addresses the model does
    /// not know one by one: only a rule with no peers, or an ipBlock whose
    /// range holds public addresses (not only private, shared, link-local
    /// or loopback ones), can reach it.
    Public,
}

/// Ranges that hold no public address: private, shared, link-local and
/// loopback ones, and those reserved for documentation and benchmarks (RFC
/// 5737, 3849, 2544), which no cloud service answers from. A policy opened
/// to an example address, as a spec's placeholder is, reaches no public
/// endpoint.
const NOT_PUBLIC: [&str; 14] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "127.0.0.0/8",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "198.18.0.0/15",
    "fc00::/7",
    "fe80::/10",
    "::1/128",
    "2001:db8::/32",
];

/// Whether an ipBlock holds every public address of its family: all of
/// the family's space, its `except` taking out only ranges with no public
/// address. Only then is a cloud service's public endpoint, whose
/// addresses change and are not the model's to know, surely reached.
fn holds_every_public_address(block: &Value) -> bool {
    let Some(cidr) = block["cidr"].as_str() else {
        return false;
    };
    if !matches!(cidr, "0.0.0.0/0" | "::/0") {
        return false;
    }
    block["except"].as_array().into_iter().flatten().all(|e| {
        e.as_str()
            .is_some_and(|e| NOT_PUBLIC.iter().any(|p| cidr_covers(p, e)))
    })
}

/// The range of an ipBlock that holds some public addresses but not all
/// of them (52.94.0.0/16, say): a cloud's public endpoint may or may not
/// answer there. None for a range that does not parse, holds no public
/// address, or that its `except` empties.
fn public_part(block: &Value) -> Option<&str> {
    let c = block["cidr"].as_str()?;
    let holds_public = cidr_covers(c, c)
        && !NOT_PUBLIC.iter().any(|p| cidr_covers(p, c))
        && !block["except"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|e| cidr_covers(e, c));
    (holds_public && !holds_every_public_address(block)).then_some(c)
}

/// A policy with where it is declared.
pub(crate) struct Policy<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) name: &'a str,
    pub(crate) spec: &'a Value,
    pub(crate) at: At,
}

/// The port of a flow at the pod: a number, a name, or both.
#[derive(Debug, Clone, Default)]
pub(crate) struct PodPort {
    pub(crate) number: Option<u16>,
    pub(crate) name: Option<String>,
}

pub(crate) struct Network<'a> {
    pub(crate) policies: Vec<Policy<'a>>,
    /// Labels of each namespace (with `kubernetes.io/metadata.name`).
    pub(crate) namespaces: BTreeMap<String, BTreeMap<String, String>>,
}

impl<'a> Network<'a> {
    fn namespace_labels(&self, ns: &str) -> BTreeMap<String, String> {
        let mut labels = self.namespaces.get(ns).cloned().unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name".into(), ns.into());
        labels
    }

    /// Whether traffic from `from` to pods `to` on `port` is allowed, on
    /// one side: `egress` judges the sender's policies, else the receiver's.
    pub(crate) fn verdict(&self, from: &Peer, to: &Peer, port: &PodPort, egress: bool) -> Verdict {
        let (own, other) = if egress { (from, to) } else { (to, from) };
        let Peer::Pods { namespace, labels } = own else {
            return Verdict {
                allowed: true,
                ..Verdict::default()
            };
        };
        let kind = if egress { "Egress" } else { "Ingress" };
        let selecting: Vec<&Policy> = self
            .policies
            .iter()
            .filter(|p| p.namespace == *namespace)
            .filter(|p| policy_types(p.spec).contains(&kind))
            // Pods whose labels the model does not know may be the ones a
            // policy selects: it is taken to apply to them.
            .filter(|p| labels.is_none() || selects(&p.spec["podSelector"], *labels))
            .collect();
        if selecting.is_empty() {
            return Verdict {
                allowed: true,
                ..Verdict::default()
            };
        }
        let rules_key = if egress { "egress" } else { "ingress" };
        let peers_key = if egress { "to" } else { "from" };
        let isolated_by = || selecting.iter().map(|p| p.at.clone()).collect();
        // A rule allowing part of the public addresses only, kept in case no
        // rule allows them all.
        let mut partly: Option<(At, String)> = None;
        for p in &selecting {
            for rule in p.spec[rules_key].as_array().into_iter().flatten() {
                if !ports_match(&rule["ports"], port) {
                    continue;
                }
                let peers = rule[peers_key].as_array();
                let peer_ok = match peers {
                    None => true,
                    Some(list) if list.is_empty() => true,
                    Some(list) => list
                        .iter()
                        .any(|peer| self.peer_matches(peer, p.namespace, other)),
                };
                if peer_ok {
                    return Verdict {
                        allowed: true,
                        isolated: true,
                        allowed_by: Some(p.at.clone()),
                        isolated_by: isolated_by(),
                        public_range: None,
                    };
                }
                if partly.is_none() && matches!(other, Peer::Public) {
                    partly = peers
                        .into_iter()
                        .flatten()
                        .find_map(|peer| public_part(&peer["ipBlock"]))
                        .map(|range| (p.at.clone(), range.to_owned()));
                }
            }
        }
        match partly {
            // Allowed as far as the model can tell: whether the service
            // answers from that range is not known (see SOC-SYS-033).
            Some((at, range)) => Verdict {
                allowed: true,
                isolated: true,
                allowed_by: Some(at),
                isolated_by: isolated_by(),
                public_range: Some(range),
            },
            None => Verdict {
                allowed: false,
                isolated: true,
                allowed_by: None,
                isolated_by: isolated_by(),
                public_range: None,
            },
        }
    }

    fn peer_matches(&self, peer: &Value, policy_ns: &str, other: &Peer) -> bool {
        if let Peer::Address(addr) = other {
            let block = &peer["ipBlock"];
            return block["cidr"].as_str().is_some_and(|c| cidr_holds(c, *addr))
                && !block["except"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .any(|c| cidr_holds(c, *addr));
        }
        if let Peer::Range(range) = other {
            let block = &peer["ipBlock"];
            return block["cidr"]
                .as_str()
                .is_some_and(|c| cidr_covers(c, range))
                && !block["except"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .any(|c| cidr_covers(c, range) || cidr_covers(range, c));
        }
        if let Peer::Public = other {
            return holds_every_public_address(&peer["ipBlock"]);
        }
        let Peer::Pods { namespace, labels } = other else {
            // The API server and outside hosts are reached through an
            // ipBlock only (their addresses are not the model's to know).
            return peer.get("ipBlock").is_some();
        };
        if let Some(block) = peer.get("ipBlock") {
            let cidr = block["cidr"].as_str().unwrap_or_default();
            return (cidr == "0.0.0.0/0" || cidr == "::/0")
                && block["except"].as_array().is_none_or(Vec::is_empty);
        }
        let ns_sel = peer.get("namespaceSelector");
        let pod_sel = peer.get("podSelector");
        let ns_ok = match ns_sel {
            Some(sel) => matches_labels(sel, &self.namespace_labels(namespace)),
            None => *namespace == policy_ns,
        };
        let pod_ok = match pod_sel {
            Some(sel) => selects(sel, *labels),
            None => true,
        };
        ns_ok && pod_ok
    }

    /// Egress rules that open a port to any destination.
    pub(crate) fn wide_egress(&self) -> Vec<(&Policy<'a>, Vec<String>)> {
        let mut out = Vec::new();
        for p in &self.policies {
            for rule in p.spec["egress"].as_array().into_iter().flatten() {
                let open = match rule["to"].as_array() {
                    None => true,
                    Some(list) => {
                        list.is_empty()
                            || list.iter().any(|peer| {
                                peer["ipBlock"]["cidr"].as_str().is_some_and(is_wide_cidr)
                            })
                    }
                };
                let ports: Vec<String> = rule["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| match &p["port"] {
                        Value::Null => "any".into(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                // A rule open to every destination on every port is the
                // same as no isolation: that is the author's explicit choice
                // (e.g. allow-all), and reported the same way.
                if open {
                    out.push((
                        p,
                        if ports.is_empty() {
                            vec!["any".into()]
                        } else {
                            ports
                        },
                    ));
                }
            }
        }
        out
    }
}

/// A block so large it names no host in particular: shorter than a /8 in
/// IPv4 (16 million addresses) or a /16 in IPv6. Splitting "anywhere" into
/// two halves (`0.0.0.0/1`, `128.0.0.0/1`) is still anywhere. A CIDR that
/// does not parse is wide too: the API server would refuse it, and the
/// model cannot say what it names.
fn is_wide_cidr(cidr: &str) -> bool {
    let Some((addr, len)) = cidr.split_once('/') else {
        return true;
    };
    let Ok(len) = len.parse::<u8>() else {
        return true;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => len < 8,
        Ok(std::net::IpAddr::V6(_)) => len < 16,
        Err(_) => true,
    }
}

/// Whether `cidr` holds `addr` (false for a CIDR that does not parse, or
/// of the other address family).
pub(crate) fn cidr_holds(cidr: &str, addr: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Whether `outer` holds every address of `inner` (false when either
/// does not parse, or for different families).
pub(crate) fn cidr_covers(outer: &str, inner: &str) -> bool {
    let Some((net, len)) = inner.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<std::net::IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    let outer_len = outer
        .split_once('/')
        .and_then(|(_, l)| l.parse::<u32>().ok());
    outer_len.is_some_and(|o| o <= len) && cidr_holds(outer, net)
}

fn policy_types(spec: &Value) -> Vec<&str> {
    match spec["policyTypes"].as_array() {
        Some(list) => list.iter().filter_map(Value::as_str).collect(),
        None => {
            let mut t = vec!["Ingress"];
            if spec["egress"].as_array().is_some_and(|e| !e.is_empty()) {
                t.push("Egress");
            }
            t
        }
    }
}

/// Whether a pod selector selects pods with `labels` (None: labels not
/// known, so only a selector that selects every pod does).
fn selects(selector: &Value, labels: Option<&BTreeMap<String, String>>) -> bool {
    match labels {
        Some(l) => matches_labels(selector, l),
        None => is_empty_selector(selector),
    }
}

fn is_empty_selector(s: &Value) -> bool {
    s.is_null()
        || (s["matchLabels"].as_object().is_none_or(|m| m.is_empty())
            && s["matchExpressions"].as_array().is_none_or(Vec::is_empty))
}

/// A label selector (matchLabels and matchExpressions) against labels.
pub(crate) fn matches_labels(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    if selector.is_null() {
        return true;
    }
    if let Some(m) = selector["matchLabels"].as_object() {
        for (k, v) in m {
            if labels.get(k).map(String::as_str) != v.as_str() {
                return false;
            }
        }
    }
    for e in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let have = labels.get(key).map(String::as_str);
        let ok = match e["operator"].as_str().unwrap_or_default() {
            "In" => have.is_some_and(|h| values.contains(&h)),
            "NotIn" => have.is_none_or(|h| !values.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

fn ports_match(ports: &Value, port: &PodPort) -> bool {
    let Some(list) = ports.as_array() else {
        return true;
    };
    if list.is_empty() {
        return true;
    }
    list.iter().any(|p| {
        if p["protocol"].as_str().is_some_and(|proto| proto != "TCP") {
            return false;
        }
        match &p["port"] {
            Value::Null => true,
            Value::Number(n) => {
                let lo = n.as_u64().unwrap_or(0);
                let hi = p["endPort"].as_u64().unwrap_or(lo);
                port.number
                    .is_some_and(|x| (lo..=hi).contains(&u64::from(x)))
            }
            Value::String(name) => port.name.as_deref() == Some(name.as_str()),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_block_that_names_no_host_in_particular_is_wide() {
        for wide in [
            "0.0.0.0/0",
            "0.0.0.0/1",
            "128.0.0.0/7",
            "::/0",
            "2000::/3",
            "10.0.0.0",
            "x/8",
            "10.0.0.0/x",
        ] {
            assert!(is_wide_cidr(wide), "{wide}");
        }
        for narrow in ["10.0.0.0/8", "10.30.0.10/32", "fd00:40::/64", "fe80::/16"] {
            assert!(!is_wide_cidr(narrow), "{narrow}");
        }
    }

    #[test]
    fn an_address_is_reached_through_an_ip_block_that_holds_it() {
        let agent: std::net::IpAddr = "169.254.170.23".parse().expect("address");
        for (cidr, holds) in [
            ("169.254.170.23/32", true),
            ("169.254.0.0/16", true),
            ("0.0.0.0/0", true),
            ("169.254.170.22/32", false),
            ("10.0.0.0/8", false),
            ("::/0", false),
            ("169.254.170.23", false),
            ("169.254.170.23/33", false),
        ] {
            assert_eq!(cidr_holds(cidr, agent), holds, "{cidr}");
        }
        let spec = json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
            {"to": [{"ipBlock": {"cidr": "169.254.0.0/16", "except": ["169.254.170.0/24"]}}], "ports": [{"port": 80}]},
            {"to": [{"namespaceSelector": {}}], "ports": [{"port": 80}]},
        ]});
        let mut net = Network {
            policies: vec![policy("a", &spec)],
            namespaces: BTreeMap::new(),
        };
        let from = Peer::Pods {
            namespace: "a",
            labels: None,
        };
        let port = PodPort {
            number: Some(80),
            name: None,
        };
        // Excepted, and no pod selector names a host's address.
        assert!(
            !net.verdict(&from, &Peer::Address(agent), &port, true)
                .allowed
        );
        let open = json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
            {"to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}], "ports": [{"port": 80, "protocol": "TCP"}]},
        ]});
        net.policies.push(policy("a", &open));
        assert!(
            net.verdict(&from, &Peer::Address(agent), &port, true)
                .allowed
        );
        let other = PodPort {
            number: Some(443),
            name: None,
        };
        assert!(
            !net.verdict(&from, &Peer::Address(agent), &other, true)
                .allowed
        );
    }

    #[test]
    fn a_public_endpoint_is_reached_only_through_a_range_with_public_addresses() {
        let from = Peer::Pods {
            namespace: "a",
            labels: None,
        };
        let port = PodPort {
            number: Some(443),
            name: None,
        };
        let verdict = |to: Value| {
            let spec = json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
                {"to": to, "ports": [{"port": 443, "protocol": "TCP"}]},
            ]});
            let net = Network {
                policies: vec![policy("a", &spec)],
                namespaces: BTreeMap::new(),
            };
            net.verdict(&from, &Peer::Public, &port, true)
        };
        // Surely reached: the verdict names no range.
        let reaches = |to: Value| {
            let v = verdict(to);
            v.allowed && v.public_range.is_none()
        };
        // Reached if the service answers from the range: named.
        let partly = |to: Value| {
            let v = verdict(to);
            v.allowed.then_some(v.public_range).flatten()
        };
        assert!(!reaches(json!([{"ipBlock": {"cidr": "10.30.0.0/16"}}])));
        assert!(!reaches(
            json!([{"ipBlock": {"cidr": "169.254.170.23/32"}}])
        ));
        assert!(!reaches(json!([{"podSelector": {}}])));
        assert!(reaches(
            json!([{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "169.254.0.0/16"]}}])
        ));
        assert!(reaches(json!([{"ipBlock": {"cidr": "::/0"}}])));
        assert!(reaches(json!([])));
        // One provider range, or all space but a public range: maybe.
        assert_eq!(
            partly(json!([{"ipBlock": {"cidr": "52.94.0.0/16"}}])).as_deref(),
            Some("52.94.0.0/16")
        );
        assert_eq!(
            partly(json!([{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["52.0.0.0/8"]}}]))
                .as_deref(),
            Some("0.0.0.0/0")
        );
        // A rule allowing every public address wins over an earlier
        // partial one.
        assert!(reaches(json!([
            {"ipBlock": {"cidr": "52.94.0.0/16"}},
            {"ipBlock": {"cidr": "0.0.0.0/0"}},
        ])));
        // A documentation address (a spec's placeholder) is no cloud's.
        assert!(!verdict(json!([{"ipBlock": {"cidr": "203.0.113.40/32"}}])).allowed);
        assert!(!verdict(json!([{"ipBlock": {"cidr": "2001:db8::/48"}}])).allowed);
        assert!(!verdict(json!([{"ipBlock": {"cidr": "not a range"}}])).allowed);
        assert!(
            !verdict(json!([{"ipBlock": {"cidr": "52.94.0.0/16", "except": ["52.0.0.0/8"]}}]))
                .allowed
        );
    }

    #[test]
    fn a_range_is_reached_only_through_an_ip_block_holding_all_of_it() {
        assert!(cidr_covers("10.30.0.0/16", "10.30.64.0/18"));
        assert!(cidr_covers("10.30.64.0/18", "10.30.64.0/18"));
        assert!(!cidr_covers("10.30.64.0/18", "10.30.0.0/16"));
        assert!(!cidr_covers("10.30.0.0/24", "10.30.64.0/18"));
        assert!(!cidr_covers("x", "10.30.64.0/18"));
        let spec = json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
            {"to": [{"ipBlock": {"cidr": "10.30.0.0/16", "except": ["10.30.64.0/24"]}}], "ports": [{"port": 5432}]},
        ]});
        let net = Network {
            policies: vec![policy("a", &spec)],
            namespaces: BTreeMap::new(),
        };
        let from = Peer::Pods {
            namespace: "a",
            labels: None,
        };
        let port = PodPort {
            number: Some(5432),
            name: None,
        };
        assert!(
            net.verdict(&from, &Peer::Range("10.30.0.0/18"), &port, true)
                .allowed
        );
        // Part of the range is excepted: some addresses are not reached.
        assert!(
            !net.verdict(&from, &Peer::Range("10.30.64.0/18"), &port, true)
                .allowed
        );
        assert!(
            !net.verdict(&from, &Peer::Range("10.31.0.0/18"), &port, true)
                .allowed
        );
    }

    fn policy<'a>(ns: &'a str, spec: &'a Value) -> Policy<'a> {
        Policy {
            namespace: ns,
            name: "p",
            spec,
            at: At::default(),
        }
    }

    #[test]
    fn default_deny_then_a_namespace_rule_on_a_port() {
        let deny = json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]});
        let allow = json!({"podSelector": {}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}], "ports": [{"port": 5432}]}]});
        let mut namespaces = BTreeMap::new();
        namespaces.insert(
            "client".to_owned(),
            BTreeMap::from([("team".to_owned(), "a".to_owned())]),
        );
        let net = Network {
            policies: vec![policy("db", &deny), policy("db", &allow)],
            namespaces,
        };
        let from = Peer::Pods {
            namespace: "client",
            labels: None,
        };
        let to = Peer::Pods {
            namespace: "db",
            labels: None,
        };
        let on = |n| PodPort {
            number: Some(n),
            name: None,
        };
        assert!(net.verdict(&from, &to, &on(5432), false).allowed);
        assert!(!net.verdict(&from, &to, &on(5433), false).allowed);
        // The client's namespace has no policy: its egress is not isolated.
        assert!(!net.verdict(&from, &to, &on(5432), true).isolated);
        let other = Peer::Pods {
            namespace: "other",
            labels: None,
        };
        assert!(!net.verdict(&other, &to, &on(5432), false).allowed);
        // The API server is not a pod in a labelled namespace.
        assert!(!net.verdict(&Peer::ApiServer, &to, &on(5432), false).allowed);
    }

    #[test]
    fn selectors_and_expressions() {
        let labels = BTreeMap::from([("app".to_owned(), "x".to_owned())]);
        assert!(matches_labels(
            &json!({"matchLabels": {"app": "x"}}),
            &labels
        ));
        assert!(!matches_labels(
            &json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}]}),
            &labels
        ));
        assert!(matches_labels(
            &json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
            &labels
        ));
        // Unknown pod labels match only a selector that selects every pod.
        assert!(!selects(&json!({"matchLabels": {"app": "x"}}), None));
        assert!(selects(&json!({}), None));
    }
}
