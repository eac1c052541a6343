# System rules: one environment as ArgoCD, the API server and the
# components would see it. The input is the model `socle system schema`
# describes; socle builds it from the repository (Applications followed from
# the bootstrap, kustomize builds, chart facts, NetworkPolicies evaluated).
# Every finding names the environment, the Application and its wave, the
# broken link, and both of its ends.
package socle.system

finding(id, msg, at) := {"id": id, "msg": msg, "file": at.file, "line": at.line}

env := input.environment

where(at) := sprintf("%s:%d", [at.file, at.line])

apps := {a.name: a | some a in input.applications}

projects := {p.name: p | some p in input.projects}

# --- 1. Admission: what each Application creates is admitted by its project ---

# ArgoCD compares repository URLs without a trailing slash or `.git`, case-insensitively.
norm_repo(u) := trim_suffix(trim_suffix(lower(trim_space(u)), "/"), ".git")

repo_permitted(p, url) if {
	some pattern in object.get(p.spec, "sourceRepos", [])
	glob.match(norm_repo(pattern), [], norm_repo(url))
}

repo_permitted(p, url) if {
	some pattern in object.get(p.spec, "sourceRepos", [])
	pattern == "*"
}

dest_permitted(p, server, name, ns) if {
	some d in object.get(p.spec, "destinations", [])
	server_matches(d, server, name)
	glob.match(object.get(d, "namespace", "*"), [], ns)
}

server_matches(d, server, _) if {
	server != ""
	glob.match(object.get(d, "server", "\u0000"), [], server)
}

server_matches(d, _, name) if {
	name != ""
	glob.match(object.get(d, "name", "\u0000"), [], name)
}

in_list(list, group, kind) if {
	some e in list
	glob.match(object.get(e, "group", ""), [], group)
	glob.match(object.get(e, "kind", ""), [], kind)
}

# As ArgoCD's IsGroupKindPermitted: a missing namespaced whitelist admits
# everything, an empty one nothing; cluster-scoped kinds need a whitelist entry.
kind_permitted(p, o) if {
	o.namespaced != false
	wl := object.get(p.spec, "namespaceResourceWhitelist", null)
	ns_whitelisted(wl, o)
	not in_list(object.get(p.spec, "namespaceResourceBlacklist", []), o.group, o.kind)
}

kind_permitted(p, o) if {
	o.namespaced == false
	in_list(object.get(p.spec, "clusterResourceWhitelist", []), o.group, o.kind)
	not in_list(object.get(p.spec, "clusterResourceBlacklist", []), o.group, o.kind)
}

ns_whitelisted(null, _) := true

ns_whitelisted(wl, o) if {
	wl != null
	in_list(wl, o.group, o.kind)
}

kind_label(o) := sprintf("%s/%s", [o.group, o.kind]) if o.group != ""

kind_label(o) := sprintf("core/%s", [o.kind]) if o.group == ""

object_label(o) := sprintf("%s %s", [o.kind, o.name]) if o.name != ""

object_label(o) := sprintf("%s (chart)", [o.kind]) if o.name == ""

real(o) if o.kind != "HelmValuesReference"

deny contains finding("SOC-SYS-001", sprintf("[%s] Application %q (wave %d) names project %q, which the repository does not define", [env, a.name, a.wave, a.project]), a.at) if {
	some a in input.applications
	not projects[a.project]
	a.project != "default"
}

deny contains finding("SOC-SYS-001", sprintf("[%s] Application %q (wave %d): source %s is not in the sourceRepos of project %q (%s)", [env, a.name, a.wave, s.repoURL, a.project, where(p.at)]), s.at) if {
	some a in input.applications
	p := projects[a.project]
	some s in a.sources
	not repo_permitted(p, s.repoURL)
}

deny contains finding("SOC-SYS-001", sprintf("[%s] Application %q (wave %d) deploys to %s namespace %q, which project %q does not allow (%s)", [env, a.name, a.wave, dest_text(a), dest(a, "namespace"), a.project, where(p.at)]), a.at) if {
	some a in input.applications
	p := projects[a.project]
	not dest_permitted(p, dest(a, "server"), dest(a, "name"), dest(a, "namespace"))
}

# A destination field, "" when unset.
dest(a, field) := v if {
	v := a.destination[field]
	v != null
} else := ""

dest_text(a) := dest(a, "server") if dest(a, "server") != ""

dest_text(a) := sprintf("cluster named %q", [dest(a, "name")]) if dest(a, "server") == ""

deny contains finding("SOC-SYS-001", sprintf("[%s] Application %q (wave %d) creates %s (%s), a kind project %q does not admit (%s); ArgoCD refuses the whole sync", [env, a.name, a.wave, object_label(o), kind_label(o), a.project, where(p.at)]), o.at) if {
	some o in input.objects
	real(o)
	a := apps[o.app]
	p := projects[a.project]
	not kind_permitted(p, o)
}

deny contains finding("SOC-SYS-001", sprintf("[%s] Application %q (wave %d) creates %s in namespace %q, which project %q does not allow as a destination (%s)", [env, a.name, a.wave, object_label(o), o.namespace, a.project, where(p.at)]), o.at) if {
	some o in input.objects
	real(o)
	o.namespace != ""
	a := apps[o.app]
	p := projects[a.project]
	not dest_permitted(p, dest(a, "server"), dest(a, "name"), o.namespace)
}

# --- 2. Destinations: every destination is a cluster ArgoCD knows ---

registered(a) if {
	some c in input.clusters
	c.server == dest(a, "server")
}

registered(a) if {
	some c in input.clusters
	dest(a, "name") != ""
	c.name == dest(a, "name")
}

registered(a) if {
	some s in input.external_clusters
	s == dest(a, "server")
}

deny contains finding("SOC-SYS-002", sprintf("[%s] Application %q (wave %d) deploys to %s, a cluster neither in-cluster nor registered in the repository (no cluster Secret names it)", [env, a.name, a.wave, dest_text(a)]), a.at) if {
	some a in input.applications
	not registered(a)
}

# --- 3. Order: what an object needs exists in an earlier wave or the same Application ---

before_or_same(provider, o) if provider.app == o.app

before_or_same(provider, o) if apps[provider.app].wave < apps[o.app].wave

creates_namespace(o, n) if {
	a := apps[o.app]
	"CreateNamespace=true" in a.syncOptions
	dest(a, "namespace") == n.name
}

provided(o, n) if {
	n.what == "namespace"
	some x in input.objects
	x.kind == "Namespace"
	x.name == n.name
	before_or_same(x, o)
}

provided(o, n) if {
	n.what == "namespace"
	creates_namespace(o, n)
}

provided(o, n) if {
	n.what in {"storageclass", "ingressclass", "clustersecretstore"}
	some x in input.objects
	x.kind == n.kind
	x.name == n.name
	before_or_same(x, o)
}

provided(o, n) if {
	n.what in {"secretstore", "serviceaccount", "configmap", "secret"}
	some x in input.objects
	x.kind == n.kind
	n.name in {x.name, x.base_name}
	x.namespace == n.namespace
	before_or_same(x, o)
}

provided(o, n) if {
	n.what == "secret"
	some x in input.objects
	x.kind == "ExternalSecret"
	x.produces == n.name
	x.namespace == n.namespace
	before_or_same(x, o)
}

crd_of(n) := [x |
	some x in input.objects
	x.defines.group == n.group
	x.defines.kind == n.kind
]

skip_dry_run(o) if "SkipDryRunOnMissingResource=true" in o.sync_options

skip_dry_run(o) if "SkipDryRunOnMissingResource=true" in apps[o.app].syncOptions

crd_ready(o, n) if {
	some x in crd_of(n)
	apps[x.app].wave < apps[o.app].wave
}

crd_ready(o, n) if {
	some x in crd_of(n)
	x.app == o.app
}

need_text(n) := sprintf("%s %s/%s", [n.kind, n.namespace, n.name]) if n.namespace != ""

need_text(n) := sprintf("%s %s", [n.kind, n.name]) if {
	n.namespace == ""
	n.name != ""
}

need_text(n) := sprintf("the CRD of %s/%s", [n.group, n.kind]) if n.what == "crd"

deny contains finding("SOC-SYS-003", sprintf("[%s] %s of Application %q (wave %d) needs %s, which nothing in this environment creates in an earlier wave or the same Application", [env, object_label(o), o.app, apps[o.app].wave, need_text(n)]), n.at) if {
	some o in input.objects
	some n in o.needs
	n.what != "crd"
	not provided(o, n)
	not loose(n)
}

# Secrets, ConfigMaps and ServiceAccounts may come from a chart or an
# operator the model only knows by its facts: a warning, not a denial.
loose(n) if n.what in {"secret", "configmap", "serviceaccount"}

warn contains finding("SOC-SYS-003", sprintf("[%s] %s of Application %q (wave %d) needs %s, which no object of the model creates earlier (a chart or operator may)", [env, object_label(o), o.app, apps[o.app].wave, need_text(n)]), n.at) if {
	some o in input.objects
	some n in o.needs
	loose(n)
	not provided(o, n)
}

deny contains finding("SOC-SYS-003", sprintf("[%s] %s of Application %q (wave %d) is a custom kind whose CRD nothing in this environment installs", [env, object_label(o), o.app, apps[o.app].wave]), n.at) if {
	some o in input.objects
	real(o)
	some n in o.needs
	n.what == "crd"
	count(crd_of(n)) == 0
}

deny contains finding("SOC-SYS-003", sprintf("[%s] %s of Application %q (wave %d) needs %s, installed by Application %q in wave %d (%s); it must come first", [env, object_label(o), o.app, apps[o.app].wave, need_text(n), x.app, apps[x.app].wave, where(x.at)]), n.at) if {
	some o in input.objects
	real(o)
	some n in o.needs
	n.what == "crd"
	not crd_ready(o, n)
	not skip_dry_run(o)
	some x in crd_of(n)
}

warn contains finding("SOC-SYS-003", sprintf("[%s] %s of Application %q (wave %d) relies on SkipDryRunOnMissingResource: %s comes from Application %q in the later wave %d (%s)", [env, object_label(o), o.app, apps[o.app].wave, need_text(n), x.app, apps[x.app].wave, where(x.at)]), n.at) if {
	some o in input.objects
	real(o)
	some n in o.needs
	n.what == "crd"
	not crd_ready(o, n)
	skip_dry_run(o)
	some x in crd_of(n)
}

# --- 4. Wiring: every address resolves to a Service that serves its port ---

deny contains finding("SOC-SYS-004", sprintf("[%s] Application %q (wave %d) connects to %s, but no Service %q exists in namespace %q in this environment", [env, c.consumer, apps[c.consumer].wave, c.address, c.service, c.namespace]), c.at) if {
	some c in input.connections
	c.provider == null
}

deny contains finding("SOC-SYS-004", sprintf("[%s] Application %q (wave %d) connects to %s, but Service %s/%s (%s, Application %q) serves ports %v, not %d", [env, c.consumer, apps[c.consumer].wave, c.address, c.namespace, c.service, where(c.provider.at), c.provider.app, c.provider.ports, c.port]), c.at) if {
	some c in input.connections
	c.provider != null
	not c.provider.port_served
}

# --- 5. Network: both namespaces' policies let each connection through ---

policies_text(v) := concat(", ", [where(at) | some at in v.isolated_by])

deny contains finding("SOC-SYS-005", sprintf("[%s] Application %q (wave %d) connects to %s: egress from namespace %q is denied by its NetworkPolicies (%s); allow it to namespace %q on that port", [env, c.consumer, apps[c.consumer].wave, c.address, c.consumer_namespace, policies_text(c.egress), c.namespace]), c.at) if {
	some c in input.connections
	c.provider != null
	c.consumer_namespace != c.namespace
	not c.egress.allowed
}

deny contains finding("SOC-SYS-005", sprintf("[%s] Application %q (wave %d) connects to %s: ingress to namespace %q from %q is denied by its NetworkPolicies (%s)", [env, c.consumer, apps[c.consumer].wave, c.address, c.namespace, c.consumer_namespace, policies_text(c.ingress)]), c.at) if {
	some c in input.connections
	c.provider != null
	not c.ingress.allowed
}

deny contains finding("SOC-SYS-006", sprintf("[%s] the API server cannot reach admission webhook %q of Application %q (Service %s/%s port %d): the NetworkPolicies of %q (%s) admit no traffic from outside the pod network to it", [env, w.name, w.app, w.namespace, w.service, w.port, w.namespace, policies_text(w.ingress)]), w.at) if {
	some w in input.webhooks
	not w.ingress.allowed
}

warn contains finding("SOC-SYS-007", sprintf("[%s] NetworkPolicy %s/%s opens egress to any destination on port(s) %s, wider than the connections the namespace declares", [env, e.namespace, e.policy, concat(", ", e.ports)]), e.at) if {
	some e in input.wide_egress
}

# --- 6. Waves: a component never shares or precedes the wave of what it connects to ---

deny contains finding("SOC-SYS-008", sprintf("[%s] Application %q (wave %d) connects to %s, served by Application %q in wave %d (%s); the provider must sync in an earlier wave", [env, c.consumer, apps[c.consumer].wave, c.address, c.provider.app, c.provider.wave, where(c.provider.at)]), c.at) if {
	some c in input.connections
	c.provider != null
	c.provider.app != c.consumer
	c.provider.wave >= apps[c.consumer].wave
}

result := {"deny": deny, "warn": warn}
