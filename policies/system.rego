# System rules: one environment as ArgoCD, the API server and the
# components would see it. The input is the model `socle system schema`
# describes; socle builds it from the repository (Applications followed from
# the bootstrap, kustomize builds, chart facts, NetworkPolicies evaluated).
# Every finding names the environment, the Application and its wave, the
# broken link, and both of its ends.
package socle.system

# `pointer` names a field of the document at file:line; socle reports the
# field's own line.
finding(id, msg, at) := {"id": id, "msg": msg, "file": at.file, "line": at.line, "pointer": object.get(at, "pointer", "")}

env := input.environment

where(at) := sprintf("%s:%d", [at.file, at.line])

# The environment's input, documented by `socle system schema`.

apps := {a.name: a | some a in input.applications}

projects := {p.name: p | some p in input.projects}

# --- 0. Sources: kustomize can build what each Application syncs ---

# A kustomization listing a file that is not there fails `kustomize build`:
# ArgoCD then syncs nothing of the Application, whatever else it holds.
deny contains finding("SOC-SYS-016", sprintf("[%s] Application %q (wave %d) cannot be built: %s; ArgoCD fails to generate its manifests and syncs none of them", [env, g.app, apps[g.app].wave, g.message]), g.at) if {
	some g in input.unbuildable
}

# --- 1. Admission: what each Application creates is admitted by its project ---

# socle evaluates each project as ArgoCD does (sourceRepos, destinations,
# the whitelists and blacklists of each scope, globs included) and records
# the verdicts; these rules report them.
kind_label(o) := sprintf("%s/%s", [o.group, o.kind]) if o.group != ""

kind_label(o) := sprintf("core/%s", [o.kind]) if o.group == ""

# A destination field, "" when unset.
dest(a, field) := v if {
	v := a.destination[field]
	v != null
} else := ""

dest_text(a) := dest(a, "server") if dest(a, "server") != ""

dest_text(a) := sprintf("cluster named %q", [dest(a, "name")]) if dest(a, "server") == ""

deny contains finding("SOC-SYS-001", sprintf("[%s] Application %q (wave %d) names project %q, which the repository does not define", [env, a.name, a.wave, a.project]), a.at) if {
	some a in input.applications
	not projects[a.project]
	a.project != "default"
}

deny contains finding("SOC-SYS-001", sprintf("[%s] Application %q (wave %d): source %s is not in the sourceRepos of project %q (%s)", [env, a.name, a.wave, s.repoURL, a.project, where(projects[a.project].at)]), s.at) if {
	some a in input.applications
	some s in a.sources
	s.permitted == false
}

deny contains finding("SOC-SYS-001", sprintf("[%s] Application %q (wave %d) deploys to %s namespace %q, which project %q does not allow (%s)", [env, a.name, a.wave, dest_text(a), dest(a, "namespace"), a.project, where(projects[a.project].at)]), a.at) if {
	some a in input.applications
	a.destination_permitted == false
}

deny contains finding("SOC-SYS-001", sprintf("[%s] Application %q (wave %d) creates %s (%s), a kind project %q does not admit (%s); ArgoCD refuses the whole sync", [env, a.name, a.wave, o.object, kind_label(o), a.project, where(projects[a.project].at)]), o.at) if {
	some o in input.kinds
	o.kind_permitted == false
	a := apps[o.app]
}

deny contains finding("SOC-SYS-001", sprintf("[%s] Application %q (wave %d) creates %s in namespace %q, which project %q does not allow as a destination (%s)", [env, a.name, a.wave, o.object, o.namespace, a.project, where(projects[a.project].at)]), o.at) if {
	some o in input.kinds
	o.namespace_permitted == false
	a := apps[o.app]
}

# --- 2. Destinations: every destination is a cluster ArgoCD knows ---

# The Applications (by index) whose destination is a cluster ArgoCD knows:
# by server, by name, or registered outside the repository. A set, built
# once, where a function would compare every cluster again per call.
servers := {c.server | some c in input.clusters} | {s | some s in input.external_clusters}

cluster_names := {c.name | some c in input.clusters}

registered contains i if {
	some i, a in input.applications
	dest(a, "server") in servers
}

registered contains i if {
	some i, a in input.applications
	name := dest(a, "name")
	name != ""
	name in cluster_names
}

deny contains finding("SOC-SYS-002", sprintf("[%s] Application %q (wave %d) deploys to %s, a cluster neither in-cluster nor registered in the repository (no cluster Secret names it)", [env, a.name, a.wave, dest_text(a)]), a.at) if {
	some i, a in input.applications
	not i in registered
}

# --- 3. Order: what an object needs exists in an earlier wave or the same Application ---

# socle resolves each need to what satisfies it (`providers`); the rules
# judge when each provider syncs. `input.needs` has one entry per
# Application and needed thing.

need_text(n) := sprintf("the CRD of %s/%s", [n.group, n.kind]) if {
	n.what == "crd"
} else := sprintf("%s %s/%s", [n.kind, n.namespace, n.name]) if {
	n.namespace != ""
} else := sprintf("%s %s", [n.kind, n.name]) if {
	n.name != ""
} else := n.kind

# Secrets, ConfigMaps and ServiceAccounts may come from a chart or an
# operator the model only knows by its facts: a warning, not a denial.
loose(n) if n.what in {"secret", "configmap", "serviceaccount"}

# The earliest provider (one, deterministically: lowest wave, then name).
first_provider(n) := p if {
	w := min({q.wave | some q in n.providers})
	name := min({q.app | some q in n.providers; q.wave == w})
	p := [q | some q in n.providers; q.wave == w; q.app == name][0]
}

# Applications only partly modelled (a remote base, a chart without facts)
# may create what no object of the model does.
unmodelled := object.get(input, "partly_modelled_apps", [])

deny contains finding("SOC-SYS-003", sprintf("[%s] %s of Application %q (wave %d) needs %s, which nothing in this environment creates", [env, u.object, u.app, apps[u.app].wave, need_text(u.need)]), u.need.at) if {
	some u in input.needs
	count(u.need.providers) == 0
	not loose(u.need)
	count(unmodelled) == 0
}

warn contains finding("SOC-SYS-009", sprintf("[%s] %s of Application %q (wave %d) needs %s, which no object of the model creates; %s not fully modelled (%s) and may create it", [env, u.object, u.app, apps[u.app].wave, need_text(u.need), these_apps(unmodelled), concat(", ", unmodelled)]), u.need.at) if {
	some u in input.needs
	count(u.need.providers) == 0
	not loose(u.need)
	count(unmodelled) > 0
}

these_apps(list) := "one Application is" if count(list) == 1

these_apps(list) := sprintf("%d Applications are", [count(list)]) if count(list) > 1

warn contains finding("SOC-SYS-009", sprintf("[%s] %s of Application %q (wave %d) needs %s, which no object of the model creates (a chart or operator may)", [env, u.object, u.app, apps[u.app].wave, need_text(u.need)]), u.need.at) if {
	some u in input.needs
	count(u.need.providers) == 0
	loose(u.need)
}

skip_dry_run(u) if u.skip_dry_run

skip_dry_run(u) if "SkipDryRunOnMissingResource=true" in apps[u.app].syncOptions

# A CRD installed later, behind SkipDryRunOnMissingResource: ArgoCD retries
# until it exists (a warning below).
excused(u) if {
	u.need.what == "crd"
	skip_dry_run(u)
}

# The needs (by index) some provider satisfies, none in time (in the same
# Application or an earlier wave). A set is evaluated once for both rules
# below, where a function runs again at each call: this was half of the
# judgement's time.
late contains i if {
	some i, u in input.needs
	count(u.need.providers) > 0
	every p in u.need.providers {
		p.app != u.app
		not p.wave < apps[u.app].wave
	}
}

deny contains finding("SOC-SYS-003", sprintf("[%s] %s of Application %q (wave %d) needs %s, created by Application %q in wave %d (%s); it must come first", [env, u.object, u.app, apps[u.app].wave, need_text(u.need), p.app, p.wave, where(p.at)]), u.need.at) if {
	some i in late
	u := input.needs[i]
	not excused(u)
	p := first_provider(u.need)
}

warn contains finding("SOC-SYS-010", sprintf("[%s] %s of Application %q (wave %d) relies on SkipDryRunOnMissingResource: %s comes from Application %q in the later wave %d (%s)", [env, u.object, u.app, apps[u.app].wave, need_text(u.need), p.app, p.wave, where(p.at)]), u.need.at) if {
	some i in late
	u := input.needs[i]
	excused(u)
	p := first_provider(u.need)
}

# --- 4. Wiring: every address resolves to a Service that serves its port ---

deny contains finding("SOC-SYS-004", sprintf("[%s] Application %q (wave %d) connects to %s, but no Service %q exists in namespace %q in this environment", [env, c.consumer, apps[c.consumer].wave, c.address, c.service, c.namespace]), c.at) if {
	some c in input.connections
	object.get(c, "provider", null) == null
	not c.namespace in object.get(input, "partly_modelled_namespaces", [])
}

# A namespace where an Application is only partly modelled (a chart without
# facts) may hold the Service: reported, not denied.
warn contains finding("SOC-SYS-011", sprintf("[%s] Application %q (wave %d) connects to %s: no Service %q in namespace %q in the model, where some Application is not fully modelled", [env, c.consumer, apps[c.consumer].wave, c.address, c.service, c.namespace]), c.at) if {
	some c in input.connections
	object.get(c, "provider", null) == null
	c.namespace in object.get(input, "partly_modelled_namespaces", [])
}

deny contains finding("SOC-SYS-004", sprintf("[%s] Application %q (wave %d) connects to %s, but Service %s/%s (%s, Application %q) serves ports %v, not %d", [env, c.consumer, apps[c.consumer].wave, c.address, c.namespace, c.service, where(c.provider.at), c.provider.app, c.provider.ports, c.port]), c.at) if {
	some c in input.connections
	object.get(c, "provider", null) != null
	not c.provider.port_served
}

deny contains finding("SOC-SYS-004", sprintf("[%s] Application %q (wave %d) connects to database %q on %s, which the PostgreSQL cluster of Application %q (%s) does not declare (databases: %s)", [env, c.consumer, apps[c.consumer].wave, c.database, c.address, c.provider.app, where(c.provider.at), concat(", ", c.provider.databases)]), c.at) if {
	some c in input.connections
	object.get(c, "database", null) != null
	object.get(c, "provider", null) != null
	object.get(c.provider, "databases", null) != null
	not c.database in c.provider.databases
}

deny contains finding("SOC-SYS-004", sprintf("[%s] Application %q (wave %d) connects to %s as role %q, which the PostgreSQL cluster of Application %q (%s) does not declare (roles: %s)", [env, c.consumer, apps[c.consumer].wave, c.address, c.role, c.provider.app, where(c.provider.at), concat(", ", c.provider.roles)]), c.at) if {
	some c in input.connections
	object.get(c, "role", null) != null
	object.get(c, "provider", null) != null
	object.get(c.provider, "roles", null) != null
	not c.role in c.provider.roles
}

# --- 4b. Provisioning: buckets, OIDC clients and CA trust a consumer relies on ---

store_label(s) := sprintf("%s/%s", [s.namespace, s.service])

# A bucket is known to the store the consumer connects to; a consumer
# whose endpoint the model does not see (an external S3 store) may use a
# bucket any store creates or `socle-check.yaml` declares.
bucket_created(u) if {
	some s in input.stores
	store_label(s) in u.stores
	u.bucket in s.buckets
}

# A store whose bucket list could not be read is not judged (the file that
# does not parse is reported on its own).
bucket_created(u) if {
	some s in input.stores
	store_label(s) in u.stores
	s.modelled == false
}

bucket_created(u) if {
	count(u.stores) == 0
	u.bucket in input.external_buckets
}

bucket_created(u) if {
	count(u.stores) == 0
	some s in input.stores
	u.bucket in s.buckets
}

# A bucket the environment's Terraform creates (an S3 store outside the
# cluster), whatever stores of the cluster the consumer also reaches: the
# cloud prefixes its names with the client and the environment, so no
# tenant in the cluster holds one, and the consumer's pod identity is
# judged on it (SOC-SYS-022, SOC-SYS-025).
bucket_created(u) if {
	u.bucket in input.cloud.buckets
}

store_texts := [sprintf("%s (%s, Application %q: %s)", [store_label(s), where(s.at), s.app, concat(", ", s.buckets)]) | some s in input.stores]

stores_text := concat("; ", store_texts) if count(store_texts) > 0

stores_text := "no object store is modelled" if count(store_texts) == 0

deny contains finding("SOC-SYS-012", sprintf("[%s] Application %q (wave %d) uses bucket %q, which no store it reaches creates (%s); add it to the store's buckets, or declare it under `buckets:` in socle-check.yaml when an external store holds it", [env, u.consumer, apps[u.consumer].wave, u.bucket, stores_text]), u.at) if {
	some u in input.bucket_uses
	not bucket_created(u)
	count(input.stores) + count(input.external_buckets) > 0
}

# The S3 actions each access needs: listing the bucket and reading its
# objects, and for a writer putting and deleting them too.
bucket_actions := {
	"read": ["s3:ListBucket", "s3:GetObject"],
	"write": ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
}

actions_missing(u, g) := [a | some a in bucket_actions[u.access]; not a in g.actions]

# Unknown grants (a policy that does not parse) and a consumer without an
# identity on the store grant nothing: the rule fails closed.
grant_enough(u, g) if {
	g.identity != null
	g.actions != null
	count(actions_missing(u, g)) == 0
}

# A consumer holding several identities on one store may use any of them:
# one that grants all it needs is enough.
store_grants(u, store) if {
	some g in u.grants
	g.store == store
	grant_enough(u, g)
}

# A bucket the store does not create is SOC-SYS-012's finding, not this one.
refused contains [u, g] if {
	some u in input.bucket_uses
	some g in u.grants
	some s in input.stores
	store_label(s) == g.store
	u.bucket in s.buckets
	not store_grants(u, g.store)
}

# One finding per consumer and place to fix (the policy, or the bindings):
# the grant without the per-bucket actions.
refusal_place(g) := object.remove(g, {"actions"})

refusals contains [u.consumer, refusal_place(g)] if some [u, g] in refused

policy_name(p) := p.policy if p.policy != null

policy_name(p) := "(none)" if p.policy == null

access_of(actions) := "write" if {
	every a in bucket_actions.write {
		a in actions
	}
} else := "read" if {
	every a in bucket_actions.read {
		a in actions
	}
} else := "neither read nor write"

refused_text(u, g) := sprintf("%s needs %s, granted %s (missing %s)", [u.bucket, u.access, access_of(g.actions), concat(", ", actions_missing(u, g))]) if {
	g.actions != null
} else := sprintf("%s needs %s", [u.bucket, u.access])

refused_texts(consumer, place) := sort([refused_text(u, g) | some [u, g] in refused; u.consumer == consumer; refusal_place(g) == place])

refusal_message(consumer, p) := sprintf("[%s] Application %q (wave %d) uses buckets of %s (%s) but holds none of the S3 identities bindings.json (%s) binds to a policy: it reads none of their secret-store entries; give it the keys of a MinIO user whose policy grants that access", [env, consumer, apps[consumer].wave, p.store, concat("; ", refused_texts(consumer, p)), where(p.at)]) if {
	p.identity == null
	p.unknown == null
} else := sprintf("[%s] Application %q (wave %d) uses buckets of %s (%s), but what its identity is granted is unknown (%s): %s; socle counts it as no access until the policies parse", [env, consumer, apps[consumer].wave, p.store, concat("; ", refused_texts(consumer, p)), where(p.at), p.unknown]) if {
	p.identity == null
} else := sprintf("[%s] Application %q (wave %d) uses buckets of %s (%s) as MinIO user %s, whose policy %q (%s) cannot be evaluated: %s; its grants are unknown, counted as no access", [env, consumer, apps[consumer].wave, p.store, concat("; ", refused_texts(consumer, p)), p.identity, policy_name(p), where(p.at), p.unknown]) if {
	p.unknown != null
} else := sprintf("[%s] Application %q (wave %d) is refused on %s by policy %q (%s) bound to its MinIO user %s: %s; grant the missing actions on the bucket (ListBucket on arn:aws:s3:::<bucket>, object actions on arn:aws:s3:::<bucket>/*)", [env, consumer, apps[consumer].wave, p.store, p.policy, where(p.at), p.identity, concat("; ", refused_texts(consumer, p))])

deny contains finding("SOC-SYS-015", refusal_message(consumer, place), place.at) if {
	some [consumer, place] in refusals
}

# A client is declared by a realm the consumer names (any realm when it
# names none).
realm_for(u, _) if count(u.realms) == 0

realm_for(u, r) if r.name in u.realms

client_in(u) := [[r, c] | some r in input.realms; realm_for(u, r); some c in r.clients; c.client_id == u.client]

# Each use's [realm, client] pairs (by the use's index), found once for
# both rules below.
clients_of := {i: client_in(u) | some i, u in input.oidc_uses}

realm_texts := [sprintf("%s (%s)", [r.name, where(r.at)]) | some r in input.realms]

deny contains finding("SOC-SYS-013", sprintf("[%s] Application %q (wave %d) signs in with OIDC client %q, which realm %s does not declare; add the client to the realm", [env, u.consumer, apps[u.consumer].wave, u.client, concat(" or ", realm_texts)]), u.at) if {
	some i, u in input.oidc_uses
	count(input.realms) > 0
	count(clients_of[i]) == 0
}

# A browser client redirects only to its consumer: one of its redirect
# URIs is on a host the consumer's configuration names.
deny contains finding("SOC-SYS-013", sprintf("[%s] Application %q (wave %d) signs in with OIDC client %q of realm %q (%s), whose redirect URIs (%s) are on no host the Application serves (%s): the sign-in would fail after the login page", [env, u.consumer, apps[u.consumer].wave, u.client, pair[0].name, where(pair[0].at), concat(", ", pair[1].redirect_uris), concat(", ", u.hosts)]), u.at) if {
	some i, u in input.oidc_uses
	pairs := clients_of[i]
	count(pairs) > 0
	pair := pairs[0]
	pair[1].standard_flow
	count(pair[1].redirect_hosts) > 0
	count(u.hosts) > 0
	count({h | some h in pair[1].redirect_hosts; h in u.hosts}) == 0
}

# An HTTPS endpoint whose certificate a private CA signs is trusted only by
# a consumer given that CA (its Secret, or a trust bundle made from it).
deny contains finding("SOC-SYS-014", sprintf("[%s] Application %q (wave %d) calls https://%s, whose certificate %s %q (%s) signs with a private CA, but its configuration names none of the CA's trust material (%s): TLS verification fails. Mount the CA bundle and point the component's CA option at it", [env, t.consumer, apps[t.consumer].wave, t.host, t.issuer_kind, t.issuer, where(i.at), concat(", ", i.trust)]), t.at) if {
	some t in input.tls_uses
	some i in input.issuers
	i.kind == t.issuer_kind
	i.name == t.issuer
	i.private
	count({n | some n in t.trusts; n in i.trust}) == 0
}

# A certificate is asked of an issuer the environment creates. Judged
# where the repository creates issuers of that kind: an issuer created
# outside it (by the platform team, once per cluster) is not seen.
issuer_created(u) if {
	some i in input.issuers
	i.kind == u.kind
	i.name == u.issuer
}

issuer_texts(kind) := [sprintf("%s (%s)", [i.name, where(i.at)]) | some i in input.issuers; i.kind == kind]

deny contains finding("SOC-SYS-026", sprintf("[%s] Application %q (wave %d) asks %s %q for the certificate of %s, but the environment's %ss are %s: cert-manager never issues it, and clients of https://%s fail TLS. Name one of them, or create that issuer", [env, u.consumer, apps[u.consumer].wave, u.kind, u.issuer, u.host, u.kind, concat(", ", issuer_texts(u.kind)), u.host]), u.at) if {
	some u in input.issuer_uses
	count(issuer_texts(u.kind)) > 0
	not issuer_created(u)
}

# --- 5. Network: both namespaces' policies let each connection through ---

policies_text(v) := concat(", ", [where(at) | some at in v.isolated_by])

deny contains finding("SOC-SYS-005", sprintf("[%s] Application %q (wave %d) connects to %s: egress from namespace %q is denied by its NetworkPolicies (%s); allow it to namespace %q on that port", [env, c.consumer, apps[c.consumer].wave, c.address, c.consumer_namespace, policies_text(c.egress), c.namespace]), c.at) if {
	some c in input.connections
	object.get(c, "provider", null) != null
	object.get(c.provider, "external_name", null) == null
	c.consumer_namespace != c.namespace
	not c.egress.allowed
}

# Backups written off the cluster leave through the writer's namespace:
# without egress there, every WAL segment and base backup times out.
deny contains finding("SOC-SYS-005", sprintf("[%s] Application %q (wave %d) writes its %s backups to %s, outside the cluster: egress from namespace %q on port %d is denied by its NetworkPolicies (%s); allow it to that host's addresses (an ipBlock) on that port", [env, b.app, apps[b.app].wave, b.tool, b.endpoint, b.egress.namespace, b.egress.port, policies_text(b.egress.verdict)]), b.at) if {
	some b in input.backup_destinations
	not b.in_cluster
	object.get(b, "egress", null) != null
	not b.egress.verdict.allowed
}

# A bucket of the client's S3 store outside the cluster: its consumer's
# pods call that store, through their namespace's egress policies.
deny contains finding("SOC-SYS-005", sprintf("[%s] Application %q (wave %d) uses bucket %q on the S3 store outside the cluster (%s): egress from namespace %q on port %d is denied by its NetworkPolicies (%s); allow it to the store's addresses (an ipBlock) on that port", [env, u.consumer, apps[u.consumer].wave, u.bucket, u.outside.endpoint, u.outside.egress.namespace, u.outside.egress.port, policies_text(u.outside.egress.verdict)]), u.at) if {
	some u in input.bucket_uses
	object.get(u, "outside", null) != null
	not u.outside.egress.verdict.allowed
}

# An ExternalName Service forwards nothing: the pods call the outside host
# itself, which only an ipBlock admits, from any namespace, their own too.
deny contains finding("SOC-SYS-005", sprintf("[%s] Application %q (wave %d) connects to %s, which resolves to %s outside the cluster: egress from namespace %q is denied by its NetworkPolicies (%s); allow it to that host's addresses (an ipBlock) on that port", [env, c.consumer, apps[c.consumer].wave, c.address, c.provider.external_name, c.consumer_namespace, policies_text(c.egress)]), c.at) if {
	some c in input.connections
	object.get(c, "provider", null) != null
	object.get(c.provider, "external_name", null) != null
	not c.egress.allowed
}

deny contains finding("SOC-SYS-005", sprintf("[%s] Application %q (wave %d) connects to %s: ingress to namespace %q from %q is denied by its NetworkPolicies (%s)", [env, c.consumer, apps[c.consumer].wave, c.address, c.namespace, c.consumer_namespace, policies_text(c.ingress)]), c.at) if {
	some c in input.connections
	object.get(c, "provider", null) != null
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
	object.get(c, "provider", null) != null
	c.provider.app != c.consumer
	not c.routed
	c.provider.wave >= apps[c.consumer].wave
}

# --- 7. Disaster recovery: prod's backups survive the loss of its cluster ---

deny contains finding("SOC-SYS-017", sprintf("[%s] Application %q (wave %d) writes its %s backups to %s, inside the cluster they protect: losing the cluster loses them with it. Send them to an object store off the cluster (socle.yaml: environments[].backup_target)", [env, b.app, apps[b.app].wave, b.tool, b.endpoint]), b.at) if {
	input.backups_off_cluster
	some b in input.backup_destinations
	b.in_cluster
}

# --- 8. The managed cluster: what its Terraform grants and enforces ---

# A pod gets its role from the Pod Identity agent on its node; egress
# policies that do not let it reach the agent leave it without credentials.
deny contains finding("SOC-SYS-018", sprintf("[%s] service account %s/%s gets an AWS role through EKS Pod Identity, but the NetworkPolicies of namespace %q (%s) deny egress to the node's Pod Identity agent (%s): its pods never get credentials. Allow egress to that address (an ipBlock /32) on that port", [env, i.namespace, i.service_account, i.namespace, policies_text(i.agent), input.cloud.agent]), i.at) if {
	some i in input.cloud.identities
	i.mechanism == "pod-identity"
	not i.agent.allowed
}

# On GKE a pod's identity comes from the metadata server (Workload
# Identity Federation): egress policies that do not let it reach the
# server leave it without credentials, whatever IAM grants its account.
deny contains finding("SOC-SYS-018", sprintf("[%s] service account %s/%s holds %s in Google Cloud, but the NetworkPolicies of namespace %q (%s) deny egress to %s, where its pods get their identity: they never get credentials. Allow egress to that address (an ipBlock /32) on that port", [env, i.namespace, i.service_account, i.role, i.namespace, policies_text(i.agent), i.credentials_from]), i.at) if {
	some i in input.cloud.identities
	i.mechanism == "workload-identity"
	not i.agent.allowed
}

# On AKS a pod signs in as its managed identity at Microsoft Entra ID,
# exchanging the token the webhook projects: egress policies that do not
# let it reach Entra ID leave it without credentials.
deny contains finding("SOC-SYS-018", sprintf("[%s] service account %s/%s is federated with managed identity %s, but the NetworkPolicies of namespace %q (%s) deny egress to %s, where its pods exchange their token for the identity's: they never get credentials. Allow egress to those ranges on that port", [env, i.namespace, i.service_account, i.role, i.namespace, policies_text(i.agent), i.credentials_from]), i.at) if {
	some i in input.cloud.identities
	i.mechanism == "azure-workload-identity"
	not i.agent.allowed
}

# AKS's webhook gives a pod its managed identity only when the pod carries
# its label and its service account names the identity's client ID; and
# Entra ID trusts the token only if the federated credential names this
# cluster's issuer and the webhook's audience.
deny contains finding("SOC-SYS-030", sprintf("[%s] service account %s/%s is federated with managed identity %s, but it has no client ID in its annotation azure.workload.identity/client-id: Azure's webhook gives its pods no identity, and every call they make to Azure is refused. Copy the identity's client ID there (socle: `terraform output -json client_ids` into socle.yaml cloud.client_ids, then socle update)", [env, i.namespace, i.service_account, i.role]), i.at) if {
	some i in input.cloud.identities
	i.mechanism == "azure-workload-identity"
	i.annotated == false
}

deny contains finding("SOC-SYS-031", sprintf("[%s] service account %s/%s is federated with managed identity %s, but the pods running as it lack the label azure.workload.identity/use: \"true\": Azure's webhook leaves them alone, and they get no identity. Label the pod template", [env, i.namespace, i.service_account, i.role]), i.at) if {
	some i in input.cloud.identities
	i.mechanism == "azure-workload-identity"
	i.labelled == false
}

deny contains finding("SOC-SYS-031", sprintf("[%s] the credential federating service account %s/%s with managed identity %s does not trust this cluster's tokens (its issuer is not the cluster's oidc_issuer_url, or its audience lacks api://AzureADTokenExchange): Entra ID refuses the exchange. Set issuer = azurerm_kubernetes_cluster.<name>.oidc_issuer_url and audience = [\"api://AzureADTokenExchange\"]", [env, i.namespace, i.service_account, i.role]), i.at) if {
	some i in input.cloud.identities
	i.mechanism == "azure-workload-identity"
	i.trusted == false
}

deny contains finding("SOC-SYS-029", sprintf("[%s] %d Kubernetes service accounts of the environment are federated with managed identities (%s), but its AKS cluster does not issue workload identity tokens (oidc_issuer_enabled and workload_identity_enabled): no pod gets its identity, and every federated credential is void. Set both to true on the cluster", [env, count(input.cloud.identities), gke_accounts_text]), input.cloud.at) if {
	input.cloud.provider == "aks"
	input.cloud.workload_pool == false
	count(input.cloud.identities) > 0
}

# On GKE a Kubernetes service account is a principal of IAM only in a
# cluster with a workload pool, and its pods get that identity only on
# nodes running GKE's metadata server: elsewhere every grant to it is void.
gke_accounts_text := concat(", ", sort([sprintf("%s/%s", [i.namespace, i.service_account]) | some i in input.cloud.identities]))

deny contains finding("SOC-SYS-029", sprintf("[%s] IAM grants %d Kubernetes service accounts of the environment roles (%s), but its GKE cluster has no workload pool (workload_identity_config): no pod gets its service account's identity, and every one of those grants is void. Give the cluster workload_identity_config { workload_pool = \"<project>.svc.id.goog\" }", [env, count(input.cloud.identities), gke_accounts_text]), input.cloud.at) if {
	input.cloud.provider == "gke"
	input.cloud.workload_pool == false
	count(input.cloud.identities) > 0
}

deny contains finding("SOC-SYS-029", sprintf("[%s] the node pool at %s runs its pods with the node's metadata (workload_metadata_config mode GCE_METADATA): pods scheduled there get the node's identity, not their service account's (%s hold IAM roles), and reach the node's credentials. Set workload_metadata_config { mode = \"GKE_METADATA\" } in its node_config", [env, where(p), gke_accounts_text]), p) if {
	input.cloud.provider == "gke"
	some p in input.cloud.node_metadata_pools
	count(input.cloud.identities) > 0
}

# A pod that signs in by web identity (IRSA) exchanges its token at STS:
# egress policies that do not let it reach STS, at the interface endpoint
# the Terraform gives it or at its public endpoint, leave it without
# credentials.
deny contains finding("SOC-SYS-018", sprintf("[%s] service account %s/%s takes AWS role %s by web identity (IRSA), but the NetworkPolicies of namespace %q (%s) deny egress to STS (%s), where its pods exchange their token for the role's credentials: they never get any. Allow egress there", [env, i.namespace, i.service_account, i.role, i.namespace, policies_text(i.agent), i.credentials_from]), i.at) if {
	some i in input.cloud.identities
	i.mechanism == "irsa"
	not i.agent.allowed
}

# A managed cluster whose network plugin does not enforce NetworkPolicies
# accepts them all and applies none: every isolation and egress rule of
# the environment is void.
enforcement_fix := "Create the cluster with datapath_provider = \"ADVANCED_DATAPATH\" (GKE Dataplane V2), or enable its network_policy (Calico)" if input.cloud.provider == "gke"

enforcement_fix := "Set network_policy = \"cilium\" (with network_data_plane = \"cilium\") or \"azure\" in the cluster's network_profile" if input.cloud.provider == "aks"

enforcement_fix := "Set enableNetworkPolicy to \"true\" in the vpc-cni add-on's configuration_values" if not input.cloud.provider in {"gke", "aks"}

deny contains finding("SOC-SYS-019", sprintf("[%s] the environment deploys %d NetworkPolicies, but its %s cluster does not enforce them (%s): the API server accepts every policy and no traffic is filtered. %s, or install a network plugin that enforces them", [env, input.cloud.network_policies, upper(input.cloud.provider), input.cloud.enforcement_by, enforcement_fix]), input.cloud.enforcement_at) if {
	input.cloud.enforces_policies == false
	input.cloud.network_policies > 0
}

identity_noun(i) := "the IAM grant to" if i.mechanism == "workload-identity"

identity_noun(i) := "the federated credential of" if i.mechanism == "azure-workload-identity"

identity_noun(i) := "the pod identity for" if not i.mechanism in {"workload-identity", "azure-workload-identity"}

warn contains finding("SOC-SYS-020", sprintf("[%s] %s %s/%s names namespace %q, which nothing in this environment creates: the role is never used, and the component it was meant for gets no credentials", [env, identity_noun(i), i.namespace, i.service_account, i.namespace]), i.at) if {
	some i in input.cloud.identities
	not i.namespace_exists
}

warn contains finding("SOC-SYS-020", sprintf("[%s] %s %s/%s names a service account that no workload of namespace %q runs as: the role is never used, and the component it was meant for gets no credentials", [env, identity_noun(i), i.namespace, i.service_account, i.namespace]), i.at) if {
	some i in input.cloud.identities
	i.namespace_exists
	i.account_exists == false
}

# An ExternalSecret whose entry the operator's role may not read fails on
# every refresh: its Secret is never written.
deny contains finding("SOC-SYS-021", sprintf("[%s] ExternalSecret %s of Application %q (wave %d) reads %q from Secrets Manager (store %q, %s) as the External Secrets operator %s, whose role %s grants secretsmanager:GetSecretValue on none of it (%s): AWS answers AccessDeniedException and the Secret is never written. Grant the role that entry's ARN, or keep the entry under a path the role reads", [env, r.external_secret, r.app, apps[r.app].wave, r.key, r.store, r.region, r.operator, r.role, concat(", ", r.policies)]), r.at) if {
	not input.cloud.provider in {"gke", "aks"}
	some r in input.cloud.secret_reads
	not r.allowed
}

deny contains finding("SOC-SYS-021", sprintf("[%s] ExternalSecret %s of Application %q (wave %d) reads %q from Key Vault %s (store %q) as the External Secrets operator %s, whose managed identity %s holds %s: Key Vault answers Forbidden and the Secret is never written. Grant the identity's principal Key Vault Secrets User on the vault (azurerm_role_assignment, scope the vault's id)", [env, r.external_secret, r.app, apps[r.app].wave, r.key, r.region, r.store, r.operator, identity_text(r), vault_grants_text(r)]), r.at) if {
	input.cloud.provider == "aks"
	some r in input.cloud.secret_reads
	not r.allowed
}

# Secret Manager and Key Vault refuse some names outright: an entry read
# under such a name cannot exist, whatever the grants.
entry_name_rule := "letters, digits, `_` and `-` (at most 255)" if input.cloud.provider == "gke"

entry_name_rule := "letters, digits and `-` (at most 127)" if input.cloud.provider == "aks"

deny contains finding("SOC-SYS-021", sprintf("[%s] ExternalSecret %s of Application %q (wave %d) reads %q from %s (store %q), whose entry names allow %s only: no entry can have that name, and the Secret is never written. Name the entry as the store allows (socle: `{{store_key env ...}}` joins the parts with the store's separator)", [env, r.external_secret, r.app, apps[r.app].wave, r.key, secret_service, r.store, entry_name_rule]), r.at) if {
	some r in input.cloud.secret_reads
	r.name_valid == false
}

identity_text(r) := r.role if r.role != ""

identity_text(r) := "(none: no credential is federated with its service account)" if r.role == ""

vault_grants_text(r) := "no role able to read its secrets" if count(r.policies) == 0

vault_grants_text(r) := sprintf("only %s", [concat(", ", r.policies)]) if count(r.policies) > 0

secret_grants_text(r) := "no role" if count(r.policies) == 0

secret_grants_text(r) := sprintf("%s (%s), none of which reaches it", [r.role, concat(", ", r.policies)]) if count(r.policies) > 0

deny contains finding("SOC-SYS-021", sprintf("[%s] ExternalSecret %s of Application %q (wave %d) reads %q from Secret Manager (store %q, project %s) as the External Secrets operator %s, whose Kubernetes service account holds %s: Google answers PERMISSION_DENIED and the Secret is never written. Grant roles/secretmanager.secretAccessor to its principal (principal://.../subject/ns/<namespace>/sa/<account>) on the entry, or on the project with a condition on the environment's prefix that the entry's name begins with", [env, r.external_secret, r.app, apps[r.app].wave, r.key, r.store, r.region, r.operator, secret_grants_text(r)]), r.at) if {
	input.cloud.provider == "gke"
	some r in input.cloud.secret_reads
	not r.allowed
}

# A consumer of a bucket outside the cluster signing in with its pod
# identity gets what its role's policies grant on that bucket, no more.
grant_missing(g) := [a | some a in bucket_actions[g.access]; not a in g.actions]

deny contains finding("SOC-SYS-022", sprintf("[%s] Application %q (wave %d) uses bucket %q (%s access) with the pod identity of %s, whose role %s grants %s on it (%s): missing %s, which AWS refuses (AccessDenied). Grant them in the role's policy (s3:ListBucket on the bucket's ARN, the object actions on <ARN>/*)", [env, g.consumer, apps[g.consumer].wave, g.bucket, g.access, g.identity, g.role, granted_text(g.actions), concat(", ", g.policies), concat(", ", grant_missing(g))]), g.at) if {
	some g in input.cloud.bucket_grants
	count(grant_missing(g)) > 0
}

# A Service forwarding into a private zone whose records do not have the
# name: every connection through it fails to resolve.
deny contains finding("SOC-SYS-023", sprintf("[%s] Service %s of Application %q (wave %d) forwards to %s, in the private zone %q of the environment's Terraform (%s), which has no record of that name: every connection through the Service fails to resolve. Point externalName at a record of the zone, or add the record", [env, n.service, n.app, apps[n.app].wave, n.host, n.zone, where(n.zone_at)]), n.at) if {
	some n in input.cloud.private_names
	not n.resolves
}

# A managed instance answers from any subnet of its group (a Multi-AZ
# standby takes over in another zone): egress must reach them all.
deny contains finding("SOC-SYS-024", sprintf("[%s] Application %q (wave %d) connects to %s, a managed instance of the environment's Terraform (%s) in subnets %s, but egress from namespace %q on port %d does not reach %s (%s): the connection fails whenever the instance answers from there. Widen the ipBlock to the instance's subnets (or the network's range)", [env, r.consumer, apps[r.consumer].wave, r.host, where(r.service_at), concat(", ", r.subnets), r.consumer_namespace, r.port, concat(", ", r.unreached), policies_text(r.egress)]), r.at) if {
	some r in input.cloud.managed_reaches
	r.egress_allowed
	count(r.unreached) > 0
}

# The cloud's APIs answer at their interface endpoint in the network (any
# of its subnets) or, without one, at public addresses: a consumer whose
# egress reaches neither never gets an answer, whatever its role grants.
deny contains finding("SOC-SYS-024", sprintf("[%s] Application %q (wave %d) uses bucket %q with the identity of %s, but egress from namespace %q does not reach S3 (%s; %s): every request times out. Allow egress there", [env, g.consumer, apps[g.consumer].wave, g.bucket, g.identity, split(g.identity, "/")[0], g.endpoint, policies_text(g.reach)]), g.at) if {
	some g in input.cloud.bucket_grants
	g.reach.allowed == false
}

# A catalog's clients call S3 with the credentials it vends them: no grant
# of their own, but their pods still make the calls.
deny contains finding("SOC-SYS-024", sprintf("[%s] Application %q (wave %d) calls S3 at %s, but egress from namespace %q does not reach S3 (%s; %s): every request for its objects times out. Allow egress there", [env, c.consumer, apps[c.consumer].wave, c.host, c.namespace, c.endpoint, policies_text(c.reach)]), c.at) if {
	some c in input.cloud.service_calls
	c.endpoint != ""
	c.reach.allowed == false
}

# A cloud service's public endpoint answers from addresses the provider
# publishes and changes: egress allowed only to part of the public space
# (one provider range, say) may reach it today and time out tomorrow, and
# socle cannot tell which.
warn contains finding("SOC-SYS-033", sprintf("[%s] %s reaches %s only through ipBlock %s of %s, which holds part of the public addresses: the service's public addresses are not socle's to know, and they change, so its calls fail whenever the service answers from outside the range. Allow egress on that port to every public address (0.0.0.0/0, excepting only private ranges), or reach the service at a private endpoint", [env, public_caller(x), service, v.public_range, where(v.allowed_by)]), x.at) if {
	some [x, v, service] in cloud_reaches
	is_string(v.public_range)
}

# Each verdict of the cloud's model on a flow to one of its services, with
# what it judges and the service, for a reader.
cloud_reaches contains [x, x.reach, sprintf("S3 (%s)", [x.endpoint])] if {
	some x in input.cloud.bucket_grants
}

cloud_reaches contains [x, x.reach, sprintf("%s (%s)", [secret_service, x.endpoint])] if {
	some x in input.cloud.secret_reads
}

cloud_reaches contains [x, x.reach, sprintf("%s (%s)", [storage_service, x.endpoint])] if {
	some x in input.cloud.gcs_grants
}

cloud_reaches contains [x, x.agent, sprintf("STS (%s)", [x.credentials_from])] if {
	some x in input.cloud.identities
	x.mechanism == "irsa"
}

cloud_reaches contains [x, x.agent, x.credentials_from] if {
	some x in input.cloud.identities
	x.mechanism != "irsa"
}

cloud_reaches contains [x, x.reach, sprintf("STS (%s)", [x.endpoint])] if {
	some x in input.cloud.assumed_roles
}

cloud_reaches contains [x, x.reach, sprintf("S3 (%s)", [x.endpoint])] if {
	some x in input.cloud.service_calls
}

storage_service := "Azure Storage" if input.cloud.provider == "aks"

storage_service := "Google's APIs" if input.cloud.provider != "aks"

# Who makes the call: a secret-store entry is read by the External Secrets
# operator, whatever Application the ExternalSecret is of.
public_caller(x) := sprintf("the External Secrets operator %s (ExternalSecret %s)", [x.operator, x.external_secret]) if {
	is_string(x.operator)
} else := sprintf("Application %q", [x.consumer]) if {
	is_string(x.consumer)
} else := sprintf("Application %q", [x.app]) if {
	is_string(x.app)
} else := sprintf("service account %s", [x.identity]) if {
	is_string(x.identity)
} else := sprintf("service account %s/%s", [x.namespace, x.service_account])

secret_service := "Secret Manager" if input.cloud.provider == "gke"

secret_service := "Key Vault" if input.cloud.provider == "aks"

secret_service := "Secrets Manager" if not input.cloud.provider in {"gke", "aks"}

deny contains finding("SOC-SYS-024", sprintf("[%s] ExternalSecret %s of Application %q reads %q from %s as the External Secrets operator %s, but egress from namespace %q does not reach %s (%s; %s): the Secret is never written. Allow egress there", [env, r.external_secret, r.app, r.key, secret_service, r.operator, split(r.operator, "/")[0], secret_service, r.endpoint, policies_text(r.reach)]), r.at) if {
	some r in input.cloud.secret_reads
	r.endpoint != ""
	r.reach.allowed == false
}

# On GKE each Kubernetes service account is an IAM principal of its own:
# a consumer none of whose accounts holds a role giving the access it needs
# on the bucket is refused by Cloud Storage (403).
gcs_roles_text(g) := "no role" if count(g.roles) == 0

gcs_roles_text(g) := sprintf("only %s (%s)", [concat(", ", g.roles), concat(", ", g.places)]) if count(g.roles) > 0

gcs_needed := {"read": "roles/storage.objectViewer", "write": "roles/storage.objectUser"}

blob_needed := {"read": "Storage Blob Data Reader", "write": "Storage Blob Data Contributor"}

# On AKS a consumer signs in to Azure Storage as the managed identity
# federated with its service account: one holding no blob role giving the
# access it needs on the container is refused.
deny contains finding("SOC-SYS-028", sprintf("[%s] Application %q (wave %d) uses container %q (%s access) in Azure Storage, but the managed identities federated with its service accounts (%s) hold %s on it: Azure Storage refuses them (403 AuthorizationPermissionMismatch). Grant %s on the container to the identity federated with the account its pods run as (azurerm_role_assignment, scope the container)", [env, g.consumer, apps[g.consumer].wave, g.bucket, g.access, concat(", ", g.accounts), gcs_roles_text(g), blob_needed[g.access]]), g.at) if {
	input.cloud.provider == "aks"
	some g in input.cloud.gcs_grants
	not g.allowed
}

# On AKS a container's name is its storage account's own: a consumer whose
# configuration names only other accounts asks them for a container they
# do not hold. An account named nowhere in its configuration (read from a
# secret) is not judged.
deny contains finding("SOC-SYS-032", sprintf("[%s] Application %q (wave %d) uses container %q in Azure Storage at storage account %s, but the Terraform creates that container in %s: Azure Storage answers 404 ContainerNotFound there (403 where its identity holds no role). Name %s in its configuration, or create the container in the account it names", [env, g.consumer, apps[g.consumer].wave, g.bucket, concat(", ", g.named_accounts), concat(", ", g.holding_accounts), g.holding_accounts[0]]), g.at) if {
	input.cloud.provider == "aks"
	some g in input.cloud.gcs_grants
	count(g.named_accounts) > 0
	count(g.holding_accounts) > 0
	every a in g.named_accounts {
		not a in g.holding_accounts
	}
}

deny contains finding("SOC-SYS-024", sprintf("[%s] Application %q (wave %d) uses container %q in Azure Storage with its service accounts (%s), but egress from namespace %q does not reach Azure Storage (%s; %s): every request times out. Allow egress there", [env, g.consumer, apps[g.consumer].wave, g.bucket, concat(", ", g.accounts), split(g.accounts[0], "/")[0], g.endpoint, policies_text(g.reach)]), g.at) if {
	input.cloud.provider == "aks"
	some g in input.cloud.gcs_grants
	count(g.accounts) > 0
	g.endpoint != ""
	g.reach.allowed == false
}

# A container whose account answers at no address at all: no egress can
# fix that, the Terraform must give the service a private endpoint.
deny contains finding("SOC-SYS-024", sprintf("[%s] Application %q (wave %d) uses container %q in Azure Storage with its service accounts (%s), but %s: every request fails, whatever its egress. Add a private endpoint for that service (azurerm_private_endpoint, subresource_names [\"dfs\"]) in the network its pods reach", [env, g.consumer, apps[g.consumer].wave, g.bucket, concat(", ", g.accounts), g.unreachable]), g.at) if {
	input.cloud.provider == "aks"
	some g in input.cloud.gcs_grants
	count(g.accounts) > 0
	object.get(g, "unreachable", "") != ""
}

deny contains finding("SOC-SYS-028", sprintf("[%s] Application %q (wave %d) uses bucket %q (%s access) in Cloud Storage, but its service accounts (%s) hold %s on it: Cloud Storage refuses them (403). Grant %s on the bucket to the account its pods run as (google_storage_bucket_iam_member, member principal://.../subject/ns/<namespace>/sa/<account>)", [env, g.consumer, apps[g.consumer].wave, g.bucket, g.access, concat(", ", g.accounts), gcs_roles_text(g), gcs_needed[g.access]]), g.at) if {
	input.cloud.provider != "aks"
	some g in input.cloud.gcs_grants
	not g.allowed
}

deny contains finding("SOC-SYS-024", sprintf("[%s] Application %q (wave %d) uses bucket %q in Cloud Storage with its service accounts (%s), but egress from namespace %q does not reach Google's APIs (%s; %s): every request times out. Allow egress there", [env, g.consumer, apps[g.consumer].wave, g.bucket, concat(", ", g.accounts), split(g.accounts[0], "/")[0], g.endpoint, policies_text(g.reach)]), g.at) if {
	input.cloud.provider != "aks"
	some g in input.cloud.gcs_grants
	count(g.accounts) > 0
	g.endpoint != ""
	g.reach.allowed == false
}

# A bucket the Terraform creates has no keys: its consumer signs in with a
# pod identity, and one whose service accounts have none gets no
# credentials at all.
deny contains finding("SOC-SYS-025", sprintf("[%s] Application %q (wave %d) uses bucket %q, which the environment's Terraform creates, but none of its service accounts (%s) has a pod identity: it gets no AWS credentials and S3 refuses it. Associate a role granting the bucket with one of them (aws_eks_pod_identity_association)", [env, u.consumer, apps[u.consumer].wave, u.bucket, concat(", ", u.accounts)]), u.at) if {
	some u in input.cloud.unsigned
}

# Keys in a pod's environment come first in the AWS SDKs' default chain:
# a consumer given keys signs in with them, never with its pod identity,
# and no key signs in to the Terraform's buckets.
deny contains finding("SOC-SYS-025", sprintf("[%s] Application %q (wave %d) uses bucket %q, which the environment's Terraform creates, but its pods get access keys from Secret %s (%s, filled %s by the ExternalSecret at %s): the AWS SDKs take keys from the environment before the pod identity, and S3 refuses these keys, which no IAM user of the Terraform has. Leave the keys out of the Secret, or empty (a template value of \"\"), so the pods take their pod identity", [env, k.consumer, apps[k.consumer].wave, k.bucket, k.secret, k.key, k.filled, where(k.external_secret)]), k.at) if {
	some k in input.cloud.keyed
}

# A key in the storage client's own configuration is signed with before
# any pod identity is asked, and no key signs in to the Terraform's
# buckets.
deny contains finding("SOC-SYS-025", sprintf("[%s] Application %q (wave %d) uses bucket %q (%s), which the environment's Terraform creates, but its storage client's configuration gives it an access key (%s: %s): the client signs with that key rather than its pod identity, and S3 refuses it, as no IAM user of the Terraform has it. %s so the pods take their pod identity", [env, k.consumer, apps[k.consumer].wave, k.bucket, where(k.at), k.setting, k.value, k.fix]), k.set_at) if {
	some k in input.cloud.configured_keys
}

# Google's clients read the file GOOGLE_APPLICATION_CREDENTIALS names, or
# the key their storage client's configuration names, before they ask the
# metadata server, where GKE's workload identity answers: the pods sign in
# as that key says, never as the identity whose grants admit them.
deny contains finding("SOC-SYS-025", sprintf("[%s] Application %q (wave %d) uses bucket %q (%s), which the environment's Terraform creates in Cloud Storage, but it sets %s (%s): Google's clients sign in with the key it gives before they ask the metadata server, so they never take the workload identity whose grants admit them, and the Terraform issues no key. %s so the pods take their workload identity", [env, k.consumer, apps[k.consumer].wave, k.bucket, where(k.at), k.setting, k.value, k.fix]), k.set_at) if {
	some k in input.cloud.key_files
}

# A storage account that refuses shared keys answers a request signed
# with its key, or with a SAS the key signs, by KeyBasedAuthenticationNotPermitted:
# a client given one fails on every read and write.
deny contains finding("SOC-SYS-025", sprintf("[%s] Application %q (wave %d) uses container %q (%s) of storage account %s, which refuses shared keys (shared_access_key_enabled = false, %s), but it sets %s (%s): Azure Storage refuses every request signed with the account's key or a SAS made from it (KeyBasedAuthenticationNotPermitted), so its reads and writes fail. Remove %s and let its pods sign in as the managed identity federated with their service account", [env, k.consumer, apps[k.consumer].wave, k.bucket, where(k.at), k.account, where(k.account_at), k.setting, k.value, k.setting]), k.set_at) if {
	some k in input.cloud.shared_keys
}

# A role whose trust policy does not let its pods' mechanism take it gives
# them no credentials: STS refuses every attempt.
deny contains finding("SOC-SYS-027", sprintf("[%s] service account %s/%s gets role %s through EKS Pod Identity, but the role's trust policy does not let the service %s call both sts:AssumeRole and sts:TagSession: the agent's every attempt is refused and its pods get no credentials. Trust that service principal with both actions in the role's assume_role_policy", [env, i.namespace, i.service_account, i.role, pod_identity_service]), i.at) if {
	some i in input.cloud.identities
	i.mechanism == "pod-identity"
	i.trusted == false
}

# Role chaining: a pod's role that assumes another (a catalog vending its
# clients that role's credentials) gets nothing from STS unless the other
# role trusts it, and its pods call STS to ask.
deny contains finding("SOC-SYS-027", sprintf("[%s] the policies of role %s (%s, %s) let it assume role %s (%s), but that role's trust policy does not admit it: STS refuses every attempt, and the credentials the pods take or vend from it never come. Trust role %s's ARN with sts:AssumeRole in the assume_role_policy of %s", [env, a.role, a.identity, concat(", ", a.policies), a.assumes, where(a.assumes_at), a.role, a.assumes]), a.assumes_at) if {
	some a in input.cloud.assumed_roles
	a.trusted == false
}

# A role assumed in turn that grants S3 but less on one of the buckets the
# first role's pods use: if those pods vend its credentials for the bucket
# (a catalog), or use them there, S3 refuses what is missing.
assumed_missing(a, b) := [x | some x in bucket_actions[b.access]; not x in b.actions]

warn contains finding("SOC-SYS-034", sprintf("[%s] service account %s uses bucket %q (%s access) with role %s, and may assume role %s (%s), which grants %s on it: missing %s. Credentials of that role for the bucket (a catalog's vended credentials) are refused (AccessDenied). Grant %s the same access on the bucket", [env, a.identity, b.bucket, b.access, a.role, a.assumes, where(a.assumes_at), granted_text(b.actions), concat(", ", assumed_missing(a, b)), a.assumes]), a.assumes_at) if {
	some a in input.cloud.assumed_roles
	some b in a.buckets
	count(assumed_missing(a, b)) > 0
}

deny contains finding("SOC-SYS-018", sprintf("[%s] service account %s assumes role %s with role %s's credentials, but the NetworkPolicies of namespace %q (%s) deny egress to STS (%s), where it asks for them: it never gets them. Allow egress there", [env, a.identity, a.assumes, a.role, split(a.identity, "/")[0], policies_text(a.reach), a.endpoint]), a.at) if {
	some a in input.cloud.assumed_roles
	a.endpoint != ""
	a.reach.allowed == false
}

deny contains finding("SOC-SYS-027", sprintf("[%s] role %s trusts service account %s/%s by web identity (IRSA), but refuses the token EKS projects for it (subject system:serviceaccount:%s:%s, audience sts.amazonaws.com): its pods get no credentials. Make the trust policy's conditions match that subject and audience", [env, i.role, i.namespace, i.service_account, i.namespace, i.service_account]), i.at) if {
	some i in input.cloud.identities
	i.mechanism == "irsa"
	i.trusted == false
}

deny contains finding("SOC-SYS-027", sprintf("[%s] role %s trusts service account %s/%s by web identity (IRSA), but that ServiceAccount does not name the role in eks.amazonaws.com/role-arn: EKS projects no token into its pods, which get no credentials. Annotate the ServiceAccount with the role's ARN", [env, i.role, i.namespace, i.service_account]), i.at) if {
	some i in input.cloud.identities
	i.mechanism == "irsa"
	i.annotated == false
}

deny contains finding("SOC-SYS-027", sprintf("[%s] ServiceAccount %s/%s takes role %s (%s) by web identity, but the role's trust policy does not admit it (it trusts %s): STS refuses the pods' every attempt and they get no credentials. Add system:serviceaccount:%s:%s to the role's trusted subjects, or name the role meant for this account", [env, b.namespace, b.service_account, b.role, where(b.role_at), trusted_text(b.trusted_accounts), b.namespace, b.service_account]), b.at) if {
	some b in input.cloud.misbound
}

pod_identity_service := "pods.eks.amazonaws.com"

trusted_text(accounts) := concat(", ", accounts) if count(accounts) > 0

trusted_text(accounts) := "no service account by web identity" if count(accounts) == 0

granted_text(actions) := concat(", ", actions) if count(actions) > 0

granted_text(actions) := "nothing" if count(actions) == 0

result := {"deny": deny, "warn": warn}
