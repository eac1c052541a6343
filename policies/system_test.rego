package socle.system_test

import data.socle.system

# Small models shaped like `socle graph --format json` (one environment):
# a database Application (wave 1) in data-storage, a web Application
# (wave 2) in data-core connecting to it, and the root Application of the
# bootstrap. `model` passes every rule; each test breaks one link.

deny_of(m) := fs if {
	fs := system.deny with input as m
}

warn_of(m) := fs if {
	fs := system.warn with input as m
}

denied(m) := {f.id | some f in deny_of(m)}

warned(m) := {f.id | some f in warn_of(m)}

# Every finding of rule `id`, denials and warnings, with input `m`.
findings(m, id) := {f | some f in deny_of(m); f.id == id} | {f | some f in warn_of(m); f.id == id}

at(file, line) := {"file": file, "line": line}

field(file, line, pointer) := {"file": file, "line": line, "pointer": pointer}

app_file(name) := sprintf("argocd/dev/applications/%s.yaml", [name])

app(name, wave, project, namespace) := {
	"name": name,
	"at": at(app_file(name), 3),
	"project": project,
	"wave": wave,
	"parent": "root-dev",
	"destination": {"server": "https://kubernetes.default.svc", "name": null, "namespace": namespace},
	"sources": [{
		"repoURL": "https://git.example/platform.git", "path": sprintf("components/%s", [name]),
		"chart": null, "targetRevision": "main", "ref": null, "model": "directory",
		"at": field(app_file(name), 3, "/spec/source"), "permitted": true,
	}],
	"syncOptions": [],
	"component": name,
	"destination_permitted": true,
}

root := object.union(app("root-dev", 0, "boot", "argocd"), {"parent": null, "component": null})

db := app("db", 1, "platform", "data-storage")

web := app("web", 2, "platform", "data-core")

project(name, line) := {"name": name, "at": at("argocd/dev/project.yaml", line), "spec": {}}

kind(app_name, group, k, name, namespace) := {
	"app": app_name, "group": group, "kind": k, "namespaced": true, "namespace": namespace,
	"object": sprintf("%s %s", [k, name]), "at": at(sprintf("components/%s/manifests.yaml", [app_name]), 1),
	"kind_permitted": true, "namespace_permitted": true,
}

provided(app_name, wave) := {"app": app_name, "wave": wave, "at": at(app_file(app_name), 3)}

need(app_name, object, what, group, k, name, namespace, providers) := {
	"app": app_name, "object": object, "skip_dry_run": false,
	"need": {
		"what": what, "group": group, "kind": k, "name": name, "namespace": namespace,
		"at": at(sprintf("components/%s/manifests.yaml", [app_name]), 7), "providers": providers,
	},
}

verdict(allowed, file, line) := {
	"allowed": allowed, "isolated": true,
	"allowed_by": at(file, line),
	"isolated_by": [at(file, 1), at(file, line)],
} if allowed

verdict(allowed, file, line) := {"allowed": false, "isolated": true, "allowed_by": null, "isolated_by": [at(file, 1), at(file, line)]} if not allowed

open := verdict(true, "platform/storage/networkpolicies.yaml", 40)

closed := verdict(false, "platform/storage/networkpolicies.yaml", 40)

provider(app_name, wave, ports, served) := {"app": app_name, "wave": wave, "at": field(app_file(app_name), 3, "/spec/sources/0"), "ports": ports, "port_served": served}

connection := {
	"consumer": "web", "consumer_namespace": "data-core",
	"at": at("components/web/values-dev.yaml", 12),
	"address": "postgresql-rw.data-storage.svc.cluster.local:5432",
	"service": "postgresql-rw", "namespace": "data-storage", "port": 5432,
	"provider": provider("db", 1, [5432], true),
	"egress": verdict(true, "platform/core/networkpolicies.yaml", 30),
	"ingress": open,
}

webhook := {
	"app": "db", "name": "db-webhook", "service": "db-webhook", "namespace": "data-storage", "port": 443,
	"at": field(app_file("db"), 3, "/spec/sources/0"),
	"ingress": verdict(true, "platform/storage/networkpolicies.yaml", 80),
}

model := {
	"environment": "dev",
	"root": "root-dev",
	"applications": [root, db, web],
	"projects": [project("boot", 2), project("platform", 20)],
	"objects": [],
	"kinds": [kind("web", "apps", "Deployment", "web", "data-core"), kind("db", "postgresql.cnpg.io", "Cluster", "postgresql", "data-storage")],
	"needs": [
		need("web", "Deployment web", "namespace", "", "Namespace", "data-core", "", [provided("root-dev", 0)]),
		need("db", "Cluster postgresql", "crd", "postgresql.cnpg.io", "Cluster", "", "", [provided("db", 1)]),
		need("web", "Deployment web", "secret", "", "Secret", "web-db", "data-core", [provided("web", 2)]),
	],
	"clusters": [{"server": "https://kubernetes.default.svc", "name": "in-cluster", "at": at("", 0)}],
	"external_clusters": [],
	"prerequisites": [],
	"connections": [connection],
	"webhooks": [webhook],
	"wide_egress": [],
	"not_modelled": [],
	"unbuildable": [],
}

with_apps(apps) := object.union(model, {"applications": apps})

with_connection(c) := object.union(model, {"connections": [c]})

with_need(n) := object.union(model, {"needs": [n]})

sys_ids := {"SOC-SYS-001", "SOC-SYS-002", "SOC-SYS-003", "SOC-SYS-004", "SOC-SYS-005", "SOC-SYS-006", "SOC-SYS-007", "SOC-SYS-008", "SOC-SYS-009", "SOC-SYS-010", "SOC-SYS-011", "SOC-SYS-012", "SOC-SYS-013", "SOC-SYS-014", "SOC-SYS-015", "SOC-SYS-016", "SOC-SYS-017", "SOC-SYS-018", "SOC-SYS-019", "SOC-SYS-020", "SOC-SYS-021", "SOC-SYS-022", "SOC-SYS-023", "SOC-SYS-024", "SOC-SYS-025", "SOC-SYS-026", "SOC-SYS-027", "SOC-SYS-028", "SOC-SYS-029", "SOC-SYS-030", "SOC-SYS-031", "SOC-SYS-032", "SOC-SYS-033", "SOC-SYS-034"}

# The one message of rule `id` (fails when there is none or several).
message(m, id) := msg if {
	fs := findings(m, id)
	count(fs) == 1
	some f in fs
	msg := f.msg
}

# --- the consistent model ---

test_consistent_model_has_no_findings if {
	count(denied(model) & sys_ids) == 0
	count(warned(model) & sys_ids) == 0
}

test_findings_carry_file_line_and_pointer if {
	m := with_connection(object.union(connection, {"provider": null}))
	some f in deny_of(m)
	f.id == "SOC-SYS-004"
	f.file == "components/web/values-dev.yaml"
	f.line == 12
	f.pointer == ""
}

# --- SOC-SYS-001: admission by the AppProject ---

test_undefined_project_denied if {
	m := with_apps([root, db, object.union(web, {"project": "nowhere"})])
	msg := message(m, "SOC-SYS-001")
	contains(msg, `"web"`)
	contains(msg, `"nowhere"`)
	contains(msg, "[dev]")
	contains(msg, "wave 2")
}

test_default_project_is_argocds_own if {
	m := with_apps([root, db, object.union(web, {"project": "default"})])
	not "SOC-SYS-001" in denied(m)
}

test_source_not_permitted_denied if {
	src := object.union(web.sources[0], {"permitted": false, "repoURL": "https://elsewhere.example/x.git"})
	m := with_apps([root, db, object.union(web, {"sources": [src]})])
	msg := message(m, "SOC-SYS-001")
	contains(msg, "https://elsewhere.example/x.git")
	contains(msg, `project "platform" (argocd/dev/project.yaml:20)`)
	some f in deny_of(m)
	f.id == "SOC-SYS-001"
	f.pointer == "/spec/source"
}

test_destination_not_permitted_denied if {
	m := with_apps([root, db, object.union(web, {"destination_permitted": false})])
	msg := message(m, "SOC-SYS-001")
	contains(msg, `namespace "data-core"`)
	contains(msg, "https://kubernetes.default.svc")
}

test_kind_not_admitted_denied if {
	k := object.union(kind("web", "", "ResourceQuota", "q", "data-core"), {"kind_permitted": false})
	m := object.union(model, {"kinds": [k]})
	msg := message(m, "SOC-SYS-001")
	contains(msg, "ResourceQuota q")
	contains(msg, "core/ResourceQuota")
	contains(msg, `project "platform"`)
}

test_grouped_kind_label if {
	k := object.union(kind("db", "postgresql.cnpg.io", "Cluster", "postgresql", "data-storage"), {"kind_permitted": false})
	contains(message(object.union(model, {"kinds": [k]}), "SOC-SYS-001"), "postgresql.cnpg.io/Cluster")
}

test_object_namespace_not_admitted_denied if {
	k := object.union(kind("web", "apps", "Deployment", "web", "kube-system"), {"namespace_permitted": false})
	msg := message(object.union(model, {"kinds": [k]}), "SOC-SYS-001")
	contains(msg, `namespace "kube-system"`)
	contains(msg, "Deployment web")
}

# --- SOC-SYS-002: destinations are known clusters ---

test_unregistered_cluster_denied if {
	dest := {"server": "https://prod.k8s.example:6443", "name": null, "namespace": "data-core"}
	m := with_apps([root, db, object.union(web, {"destination": dest})])
	msg := message(m, "SOC-SYS-002")
	contains(msg, "https://prod.k8s.example:6443")
	contains(msg, `"web"`)
}

test_external_cluster_passes if {
	dest := {"server": "https://prod.k8s.example:6443", "name": null, "namespace": "data-core"}
	m := object.union(with_apps([root, db, object.union(web, {"destination": dest})]), {"external_clusters": ["https://prod.k8s.example:6443"]})
	not "SOC-SYS-002" in denied(m)
}

test_cluster_by_name if {
	named := {"server": null, "name": "in-cluster", "namespace": "data-core"}
	not "SOC-SYS-002" in denied(with_apps([root, db, object.union(web, {"destination": named})]))
	unknown := {"server": null, "name": "edge", "namespace": "data-core"}
	contains(message(with_apps([root, db, object.union(web, {"destination": unknown})]), "SOC-SYS-002"), `cluster named "edge"`)
}

# --- SOC-SYS-003: what an object needs comes first ---

test_need_from_earlier_wave_passes if {
	n := need("web", "Deployment web", "crd", "postgresql.cnpg.io", "Cluster", "", "", [provided("db", 1)])
	count(findings(with_need(n), "SOC-SYS-003")) == 0
}

test_need_from_later_wave_denied if {
	n := need("db", "Cluster postgresql", "crd", "postgresql.cnpg.io", "Cluster", "", "", [provided("web", 2)])
	msg := message(with_need(n), "SOC-SYS-003")
	contains(msg, "the CRD of postgresql.cnpg.io/Cluster")
	contains(msg, `Application "web" in wave 2 (argocd/dev/applications/web.yaml:3)`)
	"SOC-SYS-003" in denied(with_need(n))
}

test_need_from_same_wave_other_app_denied if {
	other := app("cache", 2, "platform", "data-core")
	n := need("web", "Deployment web", "configmap", "", "ConfigMap", "settings", "data-core", [provided("cache", 2)])
	m := object.union(with_apps([root, db, web, other]), {"needs": [n]})
	contains(message(m, "SOC-SYS-003"), "ConfigMap data-core/settings")
}

test_earliest_provider_is_named if {
	n := need("db", "Cluster postgresql", "crd", "postgresql.cnpg.io", "Cluster", "", "", [provided("web", 2), provided("root-dev", 5)])
	m := with_need(n)
	msg := message(m, "SOC-SYS-003")
	contains(msg, `Application "web" in wave 2`)
}

test_one_early_provider_is_enough if {
	n := need("web", "Deployment web", "namespace", "", "Namespace", "data-core", "", [provided("db", 1), provided("web", 7)])
	count(findings(with_need(n), "SOC-SYS-003")) == 0
}

test_need_from_its_own_application_passes if {
	n := need("web", "Deployment web", "configmap", "", "ConfigMap", "settings", "data-core", [provided("web", 2)])
	count(findings(with_need(n), "SOC-SYS-003")) == 0
	count(findings(with_need(n), "SOC-SYS-010")) == 0
}

test_missing_crd_denied if {
	n := need("web", "Deployment web", "crd", "external-secrets.io", "ExternalSecret", "", "", [])
	m := with_need(n)
	"SOC-SYS-003" in denied(m)
	contains(message(m, "SOC-SYS-003"), "needs the CRD of external-secrets.io/ExternalSecret, which nothing in this environment creates")
}

test_missing_namespace_denied if {
	n := need("web", "Deployment web", "namespace", "", "Namespace", "data-core", "", [])
	contains(message(with_need(n), "SOC-SYS-003"), "needs Namespace data-core, which nothing")
}

# An Application only partly modelled (a remote base) may create the CRD:
# a warning naming it, not a denial.
test_missing_crd_with_a_partly_modelled_application_is_a_warning if {
	n := need("web", "Deployment web", "crd", "external-secrets.io", "ExternalSecret", "", "", [])
	m := object.union(with_need(n), {"partly_modelled_apps": ["db"]})
	not "SOC-SYS-003" in denied(m)
	"SOC-SYS-009" in warned(m)
	contains(message(m, "SOC-SYS-009"), "needs the CRD of external-secrets.io/ExternalSecret, which no object of the model creates; one Application is not fully modelled (db) and may create it")
}

test_missing_secret_is_a_warning if {
	n := need("web", "Deployment web", "secret", "", "Secret", "web-db", "data-core", [])
	m := with_need(n)
	not "SOC-SYS-003" in denied(m)
	"SOC-SYS-009" in warned(m)
	contains(message(m, "SOC-SYS-009"), "Secret data-core/web-db, which no object of the model creates (a chart or operator may)")
}

test_late_crd_behind_skip_dry_run_is_a_warning if {
	n := object.union(need("db", "Cluster postgresql", "crd", "postgresql.cnpg.io", "Cluster", "", "", [provided("web", 2)]), {"skip_dry_run": true})
	m := with_need(n)
	not "SOC-SYS-003" in denied(m)
	contains(message(m, "SOC-SYS-010"), "relies on SkipDryRunOnMissingResource")
}

test_skip_dry_run_from_the_application_sync_options if {
	n := need("db", "Cluster postgresql", "crd", "postgresql.cnpg.io", "Cluster", "", "", [provided("web", 2)])
	lenient := object.union(db, {"syncOptions": ["SkipDryRunOnMissingResource=true"]})
	m := object.union(with_apps([root, lenient, web]), {"needs": [n]})
	not "SOC-SYS-003" in denied(m)
	"SOC-SYS-010" in warned(m)
}

test_skip_dry_run_does_not_excuse_a_late_namespace if {
	n := object.union(need("db", "Cluster postgresql", "namespace", "", "Namespace", "data-storage", "", [provided("web", 2)]), {"skip_dry_run": true})
	"SOC-SYS-003" in denied(with_need(n))
}

# --- SOC-SYS-004: addresses resolve to a Service serving the port ---

test_missing_service_denied if {
	c := object.union(connection, {"service": "postgres-rw", "address": "postgres-rw.data-storage.svc.cluster.local:5432", "provider": null})
	m := with_connection(c)
	"SOC-SYS-004" in denied(m)
	msg := message(m, "SOC-SYS-004")
	contains(msg, `no Service "postgres-rw" exists in namespace "data-storage"`)
	contains(msg, `Application "web" (wave 2)`)
}

test_port_not_served_denied if {
	c := object.union(connection, {"port": 5433, "address": "postgresql-rw.data-storage.svc.cluster.local:5433", "provider": provider("db", 1, [5432], false)})
	msg := message(with_connection(c), "SOC-SYS-004")
	contains(msg, "Service data-storage/postgresql-rw (argocd/dev/applications/db.yaml:3, Application \"db\") serves ports [5432], not 5433")
}

test_served_port_passes if {
	count(findings(model, "SOC-SYS-004")) == 0
}

# --- SOC-SYS-005: NetworkPolicies let each connection through ---

test_ingress_blocked_denied if {
	m := with_connection(object.union(connection, {"ingress": closed}))
	msg := message(m, "SOC-SYS-005")
	contains(msg, `ingress to namespace "data-storage" from "data-core"`)
	contains(msg, "platform/storage/networkpolicies.yaml:1, platform/storage/networkpolicies.yaml:40")
}

test_egress_blocked_denied if {
	m := with_connection(object.union(connection, {"egress": verdict(false, "platform/core/networkpolicies.yaml", 30)}))
	msg := message(m, "SOC-SYS-005")
	contains(msg, `egress from namespace "data-core" is denied`)
	contains(msg, `allow it to namespace "data-storage"`)
}

test_open_policies_pass if {
	not "SOC-SYS-005" in denied(model)
}

outside_provider := object.union(connection.provider, {"external_name": "postgresql.acme-prod.internal"})

test_egress_to_an_external_name_host_denied_in_the_same_namespace if {
	c := object.union(connection, {
		"consumer": "db", "consumer_namespace": "data-storage",
		"provider": outside_provider,
		"egress": verdict(false, "platform/storage/networkpolicies.yaml", 30),
	})
	msg := message(with_connection(c), "SOC-SYS-005")
	contains(msg, "which resolves to postgresql.acme-prod.internal outside the cluster")
	contains(msg, "(an ipBlock)")
}

test_egress_to_an_external_name_host_allowed_passes if {
	c := object.union(connection, {"provider": outside_provider})
	not "SOC-SYS-005" in denied(with_connection(c))
}

test_unresolved_service_is_not_judged_by_the_network if {
	c := object.union(connection, {"provider": null, "ingress": closed})
	m := with_connection(c)
	not "SOC-SYS-005" in denied(m)
	"SOC-SYS-004" in denied(m)
}

test_same_namespace_ingress_still_judged if {
	c := object.union(connection, {"consumer": "db", "consumer_namespace": "data-storage", "ingress": closed})
	"SOC-SYS-005" in denied(with_connection(c))
}

# --- SOC-SYS-006: the API server reaches admission webhooks ---

test_webhook_reachable_passes if {
	count(findings(model, "SOC-SYS-006")) == 0
}

test_webhook_unreachable_denied if {
	w := object.union(webhook, {"ingress": verdict(false, "platform/storage/networkpolicies.yaml", 80)})
	m := object.union(model, {"webhooks": [w]})
	msg := message(m, "SOC-SYS-006")
	contains(msg, `admission webhook "db-webhook" of Application "db" (Service data-storage/db-webhook port 443)`)
	contains(msg, "platform/storage/networkpolicies.yaml:80")
}

# --- SOC-SYS-007: egress open to any destination ---

test_no_wide_egress_passes if {
	count(findings(model, "SOC-SYS-007")) == 0
}

test_wide_egress_warned if {
	e := {"namespace": "data-core", "policy": "allow-https", "at": at("platform/core/networkpolicies.yaml", 88), "ports": ["443", "6443"]}
	m := object.union(model, {"wide_egress": [e]})
	"SOC-SYS-007" in warned(m)
	not "SOC-SYS-007" in denied(m)
	contains(message(m, "SOC-SYS-007"), "NetworkPolicy data-core/allow-https opens egress to any destination on port(s) 443, 6443")
}

# --- SOC-SYS-008: providers sync in an earlier wave ---

test_provider_in_earlier_wave_passes if {
	not "SOC-SYS-008" in denied(model)
}

test_provider_in_later_wave_denied if {
	m := with_connection(object.union(connection, {"provider": provider("db", 3, [5432], true)}))
	msg := message(m, "SOC-SYS-008")
	contains(msg, `Application "web" (wave 2) connects to postgresql-rw.data-storage.svc.cluster.local:5432, served by Application "db" in wave 3`)
}

test_provider_in_same_wave_denied if {
	m := with_connection(object.union(connection, {"provider": provider("db", 2, [5432], true)}))
	"SOC-SYS-008" in denied(m)
}

test_ingress_route_to_a_later_backend_is_not_a_wave_problem if {
	c := object.union(connection, {"routed": true, "provider": provider("db", 3, [5432], true)})
	not "SOC-SYS-008" in denied(with_connection(c))
}

test_connection_to_itself_is_not_a_wave_problem if {
	c := object.union(connection, {"consumer": "db", "consumer_namespace": "data-storage", "provider": provider("db", 1, [5432], true)})
	not "SOC-SYS-008" in denied(with_connection(c))
}

test_result_holds_both_sets if {
	r := system.result with input as with_connection(object.union(connection, {"provider": null}))
	count(r.deny) > 0
	count(r.warn) == 0
}

test_missing_service_in_a_partly_modelled_namespace_is_a_warning if {
	c := object.union(model.connections[0], {"provider": null})
	m := object.union(model, {"connections": [c], "partly_modelled_namespaces": [c.namespace]})
	not "SOC-SYS-004" in denied(m)
	"SOC-SYS-011" in warned(m)
}

# --- SOC-SYS-004: the database and role a consumer asks for are declared ---

pg_provider := object.union(provider("db", 1, [5432], true), {"databases": ["app"], "roles": ["web"]})

test_declared_database_and_role_pass if {
	c := object.union(connection, {"database": "app", "role": "web", "provider": pg_provider})
	count(findings(with_connection(c), "SOC-SYS-004")) == 0
}

test_undeclared_database_denied if {
	c := object.union(connection, {"database": "reporting", "role": "web", "provider": pg_provider})
	m := with_connection(c)
	"SOC-SYS-004" in denied(m)
	contains(message(m, "SOC-SYS-004"), "connects to database \"reporting\"")
	contains(message(m, "SOC-SYS-004"), "(databases: app)")
}

test_undeclared_role_denied if {
	c := object.union(connection, {"database": "app", "role": "reporter", "provider": pg_provider})
	m := with_connection(c)
	"SOC-SYS-004" in denied(m)
	contains(message(m, "SOC-SYS-004"), "as role \"reporter\"")
}

test_database_of_a_service_without_catalog_not_judged if {
	c := object.union(connection, {"database": "anything"})
	count(findings(with_connection(c), "SOC-SYS-004")) == 0
}

# --- SOC-SYS-012: a bucket a consumer uses is created by the store it reaches ---

store := {"app": "db", "namespace": "data-storage", "service": "minio", "buckets": ["logs", "lake"], "at": field("components/minio/values.yaml", 50, "/tenant/buckets/0/name"), "modelled": true}

bucket_use(bucket, stores) := {"consumer": "web", "at": at("components/web/values.yaml", 9), "bucket": bucket, "stores": stores}

with_buckets(uses, external) := object.union(model, {"stores": [store], "bucket_uses": uses, "external_buckets": external})

test_created_bucket_passes if {
	count(findings(with_buckets([bucket_use("logs", ["data-storage/minio"])], []), "SOC-SYS-012")) == 0
}

test_missing_bucket_denied_naming_the_store if {
	m := with_buckets([bucket_use("log", ["data-storage/minio"])], [])
	"SOC-SYS-012" in denied(m)
	contains(message(m, "SOC-SYS-012"), "uses bucket \"log\"")
	contains(message(m, "SOC-SYS-012"), "data-storage/minio (components/minio/values.yaml:50, Application \"db\": logs, lake)")
}

test_bucket_of_an_unseen_endpoint_may_be_external if {
	count(findings(with_buckets([bucket_use("archive", [])], ["archive"]), "SOC-SYS-012")) == 0
	"SOC-SYS-012" in denied(with_buckets([bucket_use("archive", [])], []))
}

test_bucket_of_an_unreadable_store_not_judged if {
	m := object.union(with_buckets([bucket_use("log", ["data-storage/minio"])], []), {"stores": [object.union(store, {"modelled": false})]})
	count(findings(m, "SOC-SYS-012")) == 0
}

test_bucket_on_another_store_is_not_enough if {
	# The consumer reaches a second tenant that lacks the bucket.
	"SOC-SYS-012" in denied(with_buckets([bucket_use("logs", ["data-other/minio"])], []))
}

# --- SOC-SYS-015: the consumer's S3 identity is granted the access it needs ---

write_actions := ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]

policy_at := field("components/minio/policies.yaml", 14, "/data/web.json")

bindings_at := field("components/minio/policies.yaml", 14, "/data/bindings.json")

grant(actions) := {"store": "data-storage/minio", "identity": "minio-user-web", "policy": "web", "at": policy_at, "actions": actions, "unknown": null}

granted_use(bucket, access, grants) := object.union(bucket_use(bucket, ["data-storage/minio"]), {"access": access, "grants": grants})

with_grants(uses) := with_buckets(uses, [])

test_granted_access_passes if {
	m := with_grants([granted_use("logs", "write", [grant(write_actions)]), granted_use("lake", "read", [grant(["s3:ListBucket", "s3:GetObject"])])])
	count(findings(m, "SOC-SYS-015")) == 0
}

test_missing_write_denied_at_the_policy if {
	m := with_grants([granted_use("logs", "write", [grant(["s3:ListBucket", "s3:GetObject", "s3:DeleteObject"])])])
	"SOC-SYS-015" in denied(m)
	msg := message(m, "SOC-SYS-015")
	contains(msg, "[dev] Application \"web\" (wave 2)")
	contains(msg, "policy \"web\" (components/minio/policies.yaml:14) bound to its MinIO user minio-user-web")
	contains(msg, "logs needs write, granted read (missing s3:PutObject)")
	some f in deny_of(m)
	f.id == "SOC-SYS-015"
	f.pointer == "/data/web.json"
}

test_read_grant_short_of_listing_denied if {
	m := with_grants([granted_use("lake", "read", [grant(["s3:GetObject"])])])
	contains(message(m, "SOC-SYS-015"), "lake needs read, granted neither read nor write (missing s3:ListBucket)")
}

test_one_finding_per_consumer_and_policy if {
	short := grant(["s3:ListBucket", "s3:GetObject"])
	m := with_grants([granted_use("logs", "write", [short]), granted_use("lake", "write", [short])])
	msg := message(m, "SOC-SYS-015")
	contains(msg, "lake needs write, granted read (missing s3:PutObject, s3:DeleteObject); logs needs write")
}

test_unknown_grants_denied if {
	g := object.union(grant(null), {"unknown": "web.json does not parse: expected `:` at line 2 column 13"})
	m := with_grants([granted_use("logs", "write", [g])])
	msg := message(m, "SOC-SYS-015")
	contains(msg, "as MinIO user minio-user-web, whose policy \"web\" (components/minio/policies.yaml:14) cannot be evaluated: web.json does not parse")
}

test_unreadable_bindings_denied if {
	g := {"store": "data-storage/minio", "identity": null, "policy": null, "at": bindings_at, "actions": null, "unknown": "bindings.json is not an object of bindings"}
	m := with_grants([granted_use("logs", "read", [g])])
	contains(message(m, "SOC-SYS-015"), "what its identity is granted is unknown (components/minio/policies.yaml:14): bindings.json is not an object of bindings")
}

test_consumer_without_identity_denied if {
	g := {"store": "data-storage/minio", "identity": null, "policy": null, "at": bindings_at, "actions": null, "unknown": null}
	m := with_grants([granted_use("logs", "read", [g])])
	msg := message(m, "SOC-SYS-015")
	contains(msg, "(logs needs read) but holds none of the S3 identities bindings.json (components/minio/policies.yaml:14) binds")
	some f in deny_of(m)
	f.pointer == "/data/bindings.json"
}

test_one_sufficient_identity_is_enough if {
	other := object.union(grant(["s3:ListBucket", "s3:GetObject"]), {"identity": "minio-user-web-reader", "policy": "web-reader"})
	count(findings(with_grants([granted_use("logs", "write", [other, grant(write_actions)])]), "SOC-SYS-015")) == 0
	"SOC-SYS-015" in denied(with_grants([granted_use("logs", "write", [other])]))
}

test_unjudged_store_and_missing_bucket_are_not_this_rule if {
	# No grants: the store's users are not modelled.
	count(findings(with_grants([granted_use("logs", "write", [])]), "SOC-SYS-015")) == 0

	# A bucket the store does not create is SOC-SYS-012's finding alone.
	m := with_grants([granted_use("log", "write", [grant([])])])
	"SOC-SYS-012" in denied(m)
	count(findings(m, "SOC-SYS-015")) == 0
}

# --- SOC-SYS-013: the OIDC client exists and redirects back to its consumer ---

realm := {"app": "idp", "name": "acme", "at": field("components/idp/realm.yaml", 20, "/data/realm.yaml"), "clients": [{
	"client_id": "web", "public": false, "standard_flow": true, "service_account": false,
	"redirect_uris": ["https://web.example.org/callback"], "redirect_hosts": ["web.example.org"],
}]}

oidc_use(client, realms, hosts) := {"consumer": "web", "at": at("components/web/values.yaml", 14), "client": client, "realms": realms, "hosts": hosts}

with_oidc(u) := object.union(model, {"realms": [realm], "oidc_uses": [u]})

test_declared_client_passes if {
	count(findings(with_oidc(oidc_use("web", ["acme"], ["web.example.org", "idp.example.org"])), "SOC-SYS-013")) == 0
}

test_undeclared_client_denied if {
	m := with_oidc(oidc_use("webui", ["acme"], ["web.example.org"]))
	"SOC-SYS-013" in denied(m)
	contains(message(m, "SOC-SYS-013"), "OIDC client \"webui\", which realm acme (components/idp/realm.yaml:20) does not declare")
}

test_client_of_another_realm_denied if {
	"SOC-SYS-013" in denied(with_oidc(oidc_use("web", ["other"], ["web.example.org"])))
}

test_client_redirecting_elsewhere_denied if {
	m := with_oidc(oidc_use("web", ["acme"], ["app.example.org"]))
	"SOC-SYS-013" in denied(m)
	contains(message(m, "SOC-SYS-013"), "redirect URIs (https://web.example.org/callback) are on no host the Application serves (app.example.org)")
}

# --- SOC-SYS-014: a consumer trusts the private CA that signs what it calls ---

issuer(private) := {"kind": "ClusterIssuer", "name": "platform-ca", "namespace": "", "private": private, "at": at("components/pki/clusterissuer.yaml", 7), "hosts": ["idp.example.org"], "trust": ["platform-ca-key-pair", "platform-ca-bundle"]}

tls_use(trusts) := {"consumer": "web", "at": at("components/web/values.yaml", 20), "host": "idp.example.org", "issuer_kind": "ClusterIssuer", "issuer": "platform-ca", "trusts": trusts}

with_tls(i, t) := object.union(model, {"issuers": [i], "tls_uses": [t]})

test_consumer_trusting_the_bundle_passes if {
	count(findings(with_tls(issuer(true), tls_use(["platform-ca-bundle"])), "SOC-SYS-014")) == 0
}

test_consumer_not_trusting_a_private_ca_denied if {
	m := with_tls(issuer(true), tls_use([]))
	"SOC-SYS-014" in denied(m)
	count(findings(m, "SOC-SYS-014")) == 1
	contains(message(m, "SOC-SYS-014"), "calls https://idp.example.org")
	contains(message(m, "SOC-SYS-014"), "ClusterIssuer \"platform-ca\" (components/pki/clusterissuer.yaml:7)")
	contains(message(m, "SOC-SYS-014"), "(platform-ca-key-pair, platform-ca-bundle)")
}

test_public_issuer_needs_no_trust if {
	count(findings(with_tls(issuer(false), tls_use([])), "SOC-SYS-014")) == 0
}

# --- SOC-SYS-026: a certificate is asked of an issuer the environment creates ---

issuer_use(kind, name) := {"consumer": "web", "at": at("components/web/ingress.yaml", 9), "kind": kind, "issuer": name, "host": "web.example.org"}

with_issuer_use(u) := object.union(model, {"issuers": [issuer(true)], "issuer_uses": [u]})

test_certificate_of_a_created_issuer_passes if {
	count(findings(with_issuer_use(issuer_use("ClusterIssuer", "platform-ca")), "SOC-SYS-026")) == 0
}

test_certificate_of_an_issuer_nothing_creates_denied if {
	m := with_issuer_use(issuer_use("ClusterIssuer", "platform-ca2"))
	"SOC-SYS-026" in denied(m)
	contains(message(m, "SOC-SYS-026"), "asks ClusterIssuer \"platform-ca2\" for the certificate of web.example.org")
	contains(message(m, "SOC-SYS-026"), "ClusterIssuers are platform-ca (components/pki/clusterissuer.yaml:7)")
}

# An issuer created outside the repository (none of that kind is in it)
# is not judged.
test_issuer_of_a_kind_the_repository_does_not_create_is_not_judged if {
	count(findings(with_issuer_use(issuer_use("Issuer", "team-ca")), "SOC-SYS-026")) == 0
	count(findings(object.union(model, {"issuer_uses": [issuer_use("ClusterIssuer", "letsencrypt")]}), "SOC-SYS-026")) == 0
}

# --- SOC-SYS-016: kustomize can build what an Application syncs ---

gap(message) := {"app": "web", "at": at("apps/web/kustomization.yaml", 4), "message": message}

test_unbuildable_source_denied if {
	m := object.union(model, {"unbuildable": [gap("apps/web/kustomization.yaml lists egress.yaml, which is not in the repository")]})
	"SOC-SYS-016" in denied(m)
	some f in findings(m, "SOC-SYS-016")
	f.file == "apps/web/kustomization.yaml"
	f.line == 4
	contains(f.msg, "[dev] Application \"web\" (wave 2) cannot be built: apps/web/kustomization.yaml lists egress.yaml")
}

test_what_is_not_modelled_is_no_denial if {
	m := object.union(model, {"not_modelled": [gap("remote resource https://example.org/base is not modelled")]})
	count(findings(m, "SOC-SYS-016")) == 0
}

# --- SOC-SYS-017: prod's backups leave its cluster ---

destination(inside) := {"app": "db", "tool": "postgresql", "at": at("components/db/values-prod.yaml", 40), "endpoint": "http://minio.data-storage.svc", "in_cluster": inside}

test_prod_backups_inside_the_cluster_denied if {
	m := object.union(model, {"environment": "prod", "backups_off_cluster": true, "backup_destinations": [destination(true)]})
	msg := message(m, "SOC-SYS-017")
	contains(msg, "[prod] Application \"db\" (wave 1) writes its postgresql backups to http://minio.data-storage.svc, inside the cluster")
}

test_prod_backups_off_the_cluster_pass if {
	m := object.union(model, {"environment": "prod", "backups_off_cluster": true, "backup_destinations": [destination(false)]})
	count(findings(m, "SOC-SYS-017")) == 0
}

test_dev_backups_may_stay_in_the_cluster if {
	m := object.union(model, {"backups_off_cluster": false, "backup_destinations": [destination(true)]})
	count(findings(m, "SOC-SYS-017")) == 0
}

# --- SOC-SYS-005: backups off the cluster get out of the writer's namespace ---

off_cluster_destination(allowed) := object.union(destination(false), {
	"endpoint": "https://s3.backup.example.org",
	"egress": {"namespace": "data-storage", "port": 443, "verdict": {"allowed": allowed, "isolated": true, "isolated_by": [at("platform/overlays/prod/egress.yaml", 3)]}},
})

test_backups_whose_egress_is_denied_are_denied if {
	m := object.union(model, {"environment": "prod", "backups_off_cluster": true, "backup_destinations": [off_cluster_destination(false)]})
	msg := message(m, "SOC-SYS-005")
	contains(msg, "[prod] Application \"db\" (wave 1) writes its postgresql backups to https://s3.backup.example.org, outside the cluster: egress from namespace \"data-storage\" on port 443 is denied by its NetworkPolicies (platform/overlays/prod/egress.yaml:3)")
}

test_backups_whose_egress_is_allowed_pass if {
	m := object.union(model, {"environment": "prod", "backups_off_cluster": true, "backup_destinations": [off_cluster_destination(true)]})
	count(findings(m, "SOC-SYS-005")) == 0
}

# --- SOC-SYS-005: a bucket of the client's store outside the cluster ---

outside_bucket(allowed) := {
	"consumer": "db", "at": at("components/db/overlays/prod/kustomization.yaml", 12), "bucket": "engine",
	"stores": [], "access": "write", "grants": [],
	"outside": {"endpoint": "https://s3.example.org", "egress": {"namespace": "data-query", "port": 443, "verdict": {"allowed": allowed, "isolated": true, "isolated_by": [at("platform/overlays/prod/egress.yaml", 5)]}}},
}

test_a_bucket_outside_the_cluster_out_of_reach_is_denied if {
	m := object.union(model, {"external_buckets": ["engine"], "bucket_uses": [outside_bucket(false)]})
	msg := message(m, "SOC-SYS-005")
	contains(msg, "Application \"db\" (wave 1) uses bucket \"engine\" on the S3 store outside the cluster (https://s3.example.org): egress from namespace \"data-query\" on port 443 is denied by its NetworkPolicies (platform/overlays/prod/egress.yaml:5)")
}

test_a_bucket_outside_the_cluster_within_reach_passes if {
	m := object.union(model, {"external_buckets": ["engine"], "bucket_uses": [outside_bucket(true)]})
	count(findings(m, "SOC-SYS-005")) == 0
}

# --- SOC-SYS-018 to 020: the EKS cluster under the environment ---

identity(allowed, ns_exists, sa_exists) := {
	"namespace": "velero", "service_account": "velero-server",
	"at": at("terraform/prod/identity.tf", 40),
	"agent": {"allowed": allowed, "isolated": true, "isolated_by": [at("platform/overlays/prod/egress.yaml", 12)]},
	"namespace_exists": ns_exists, "account_exists": sa_exists,
	"mechanism": "pod-identity", "role": "acme-prod-velero", "trusted": true, "annotated": null,
}

irsa(trusted, annotated) := object.union(identity(true, true, true), {
	"namespace": "query", "service_account": "dremio", "at": at("terraform/prod/identity.tf", 90),
	"mechanism": "irsa", "role": "acme-prod-dremio", "trusted": trusted, "annotated": annotated,
	"credentials_from": "its interface endpoint in subnets 10.30.0.0/18, port 443",
})

cloud(identities, enforces, policies) := {
	"provider": "eks", "at": at("terraform/prod/cluster.tf", 1), "agent": "169.254.170.23:80",
	"identities": identities, "enforces_policies": enforces,
	"enforcement_by": "the vpc-cni add-on", "enforcement_at": at("terraform/prod/cluster.tf", 160),
	"network_policies": policies,
}

with_cloud(c) := object.union(model, {"environment": "prod", "cloud": c})

test_a_pod_identity_the_policies_cut_off_from_its_agent_is_denied if {
	msg := message(with_cloud(cloud([identity(false, true, true)], true, 3)), "SOC-SYS-018")
	contains(msg, "[prod] service account velero/velero-server gets an AWS role through EKS Pod Identity")
	contains(msg, "platform/overlays/prod/egress.yaml:12")
	contains(msg, "169.254.170.23:80")
}

test_a_pod_identity_that_reaches_its_agent_passes if {
	m := with_cloud(cloud([identity(true, true, true)], true, 3))
	count(findings(m, "SOC-SYS-018")) == 0
	count(findings(m, "SOC-SYS-019")) == 0
	count(findings(m, "SOC-SYS-020")) == 0
}

test_policies_on_a_cluster_that_ignores_them_are_denied if {
	msg := message(with_cloud(cloud([], false, 3)), "SOC-SYS-019")
	contains(msg, "deploys 3 NetworkPolicies, but its EKS cluster does not enforce them (the vpc-cni add-on)")
}

test_policies_on_a_gke_cluster_that_ignores_them_are_denied if {
	c := object.union(cloud([], false, 3), {"provider": "gke", "enforcement_by": "the cluster's default datapath"})
	msg := message(with_cloud(c), "SOC-SYS-019")
	contains(msg, "deploys 3 NetworkPolicies, but its GKE cluster does not enforce them (the cluster's default datapath)")
	contains(msg, "datapath_provider = \"ADVANCED_DATAPATH\"")
	not contains(msg, "vpc-cni")
}

test_no_policies_nothing_to_enforce if {
	count(findings(with_cloud(cloud([], false, 0)), "SOC-SYS-019")) == 0
}

test_unknown_enforcement_is_no_denial if {
	count(findings(with_cloud(cloud([], null, 3)), "SOC-SYS-019")) == 0
}

test_a_pod_identity_for_nothing_is_reported if {
	contains(message(with_cloud(cloud([identity(true, false, null)], true, 3)), "SOC-SYS-020"), "names namespace \"velero\", which nothing in this environment creates")
	contains(message(with_cloud(cloud([identity(true, true, false)], true, 3)), "SOC-SYS-020"), "names a service account that no workload of namespace \"velero\" runs as")
	count(findings(with_cloud(cloud([identity(true, true, null)], true, 3)), "SOC-SYS-020")) == 0
}

# --- SOC-SYS-027: a role whose trust policy refuses the pods meant to take it ---

test_a_pod_identity_whose_role_does_not_trust_the_agent_is_denied if {
	untrusted := object.union(identity(true, true, true), {"trusted": false})
	msg := message(with_cloud(cloud([untrusted], true, 3)), "SOC-SYS-027")
	contains(msg, "[prod] service account velero/velero-server gets role acme-prod-velero through EKS Pod Identity")
	contains(msg, "pods.eks.amazonaws.com")
	count(findings(with_cloud(cloud([object.union(untrusted, {"trusted": null})], true, 3)), "SOC-SYS-027")) == 0
}

# Role chaining: the catalog's role assumes the role whose credentials it
# vends.
assumed(trusted, reach) := {
	"identity": "storage/lakekeeper", "at": at("terraform/prod/identity.tf", 230),
	"role": "acme-prod-lakekeeper", "assumes": "acme-prod-lakekeeper-vended", "assumes_at": at("terraform/prod/identity.tf", 301),
	"policies": ["terraform/prod/identity.tf:237", "terraform/prod/identity.tf:337"], "trusted": trusted, "buckets": [],
	"reach": reach, "endpoint": "its interface endpoint in subnets 10.30.0.0/18, port 443",
}

test_a_role_assumed_by_a_role_it_does_not_trust_is_denied if {
	open := {"allowed": true, "isolated": true, "isolated_by": []}
	m := with_cloud(object.union(cloud([], true, 3), {"assumed_roles": [assumed(false, open)]}))
	msg := message(m, "SOC-SYS-027")
	contains(msg, "[prod] the policies of role acme-prod-lakekeeper (storage/lakekeeper, terraform/prod/identity.tf:237, terraform/prod/identity.tf:337) let it assume role acme-prod-lakekeeper-vended (terraform/prod/identity.tf:301), but that role's trust policy does not admit it")
	count(findings(m, "SOC-SYS-018")) == 0
	# Trusted, or not known before a plan: nothing.
	count(findings(with_cloud(object.union(cloud([], true, 3), {"assumed_roles": [assumed(true, open)]})), "SOC-SYS-027")) == 0
	count(findings(with_cloud(object.union(cloud([], true, 3), {"assumed_roles": [assumed(null, open)]})), "SOC-SYS-027")) == 0
}

test_a_role_assumed_that_grants_less_on_the_pods_buckets_is_a_warning if {
	open := {"allowed": true, "isolated": true, "isolated_by": []}
	short := object.union(assumed(true, open), {"buckets": [
		{"bucket": "acme-prod-iceberg-raw", "access": "write", "actions": ["s3:ListBucket", "s3:GetObject"]},
		{"bucket": "acme-prod-iceberg-ml", "access": "write", "actions": ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]},
	]})
	m := with_cloud(object.union(cloud([], true, 3), {"assumed_roles": [short]}))
	msg := message(m, "SOC-SYS-034")
	contains(msg, "[prod] service account storage/lakekeeper uses bucket \"acme-prod-iceberg-raw\" (write access) with role acme-prod-lakekeeper, and may assume role acme-prod-lakekeeper-vended (terraform/prod/identity.tf:301)")
	contains(msg, "missing s3:PutObject, s3:DeleteObject")
	count(denied(m) & sys_ids) == 0
}

test_a_role_assumed_from_pods_cut_off_from_sts_is_denied if {
	cut := {"allowed": false, "isolated": true, "isolated_by": [at("platform/overlays/prod/namespaces/storage/egress.yaml", 3)]}
	m := with_cloud(object.union(cloud([], true, 3), {"assumed_roles": [assumed(true, cut)]}))
	msg := message(m, "SOC-SYS-018")
	contains(msg, "[prod] service account storage/lakekeeper assumes role acme-prod-lakekeeper-vended with role acme-prod-lakekeeper's credentials, but the NetworkPolicies of namespace \"storage\"")
	contains(msg, "deny egress to STS (its interface endpoint in subnets 10.30.0.0/18, port 443)")
	count(findings(m, "SOC-SYS-027")) == 0
	partly := {"allowed": true, "isolated": true, "isolated_by": [], "allowed_by": at("platform/overlays/prod/namespaces/storage/egress.yaml", 3), "public_range": "52.94.0.0/16"}
	msg2 := message(with_cloud(object.union(cloud([], true, 3), {"assumed_roles": [assumed(true, partly)]})), "SOC-SYS-033")
	contains(msg2, "service account storage/lakekeeper reaches STS (its interface endpoint in subnets 10.30.0.0/18, port 443) only through ipBlock 52.94.0.0/16")
}

test_a_client_calling_s3_with_vended_credentials_cut_off_from_it_is_denied if {
	cut := {"allowed": false, "isolated": true, "isolated_by": [at("platform/overlays/prod/namespaces/processing/egress.yaml", 3)]}
	call := {
		"consumer": "trino", "at": at("components/trino/values-prod.yaml", 72), "host": "s3.eu-west-3.amazonaws.com",
		"namespace": "processing", "reach": cut, "endpoint": "its interface endpoint in subnets 10.30.0.0/18, port 443",
	}
	m := object.union(model, {"environment": "prod", "applications": [app("trino", 5, "platform", "processing")], "cloud": object.union(cloud([], true, 3), {"service_calls": [call]})})
	msg := message(m, "SOC-SYS-024")
	contains(msg, "[prod] Application \"trino\" (wave 5) calls S3 at s3.eu-west-3.amazonaws.com, but egress from namespace \"processing\" does not reach S3 (its interface endpoint in subnets 10.30.0.0/18, port 443;")
	open := object.union(call, {"reach": {"allowed": true, "isolated": true, "isolated_by": []}})
	m2 := object.union(model, {"environment": "prod", "applications": [app("trino", 5, "platform", "processing")], "cloud": object.union(cloud([], true, 3), {"service_calls": [open]})})
	count(findings(m2, "SOC-SYS-024")) == 0
}

test_an_irsa_identity_calls_sts_not_the_agent if {
	m := with_cloud(cloud([irsa(true, true)], true, 3))
	count(findings(m, "SOC-SYS-018")) == 0
	count(findings(m, "SOC-SYS-027")) == 0
	count(findings(with_cloud(cloud([irsa(true, null)], true, 3)), "SOC-SYS-027")) == 0
}

test_an_irsa_identity_the_policies_cut_off_from_sts_is_denied if {
	cut := object.union(irsa(true, true), {"agent": {"allowed": false, "isolated": true, "isolated_by": [at("platform/overlays/prod/namespaces/query/egress.yaml", 3)]}})
	msg := message(with_cloud(cloud([cut], true, 3)), "SOC-SYS-018")
	contains(msg, "[prod] service account query/dremio takes AWS role acme-prod-dremio by web identity (IRSA)")
	contains(msg, "deny egress to STS (its interface endpoint in subnets 10.30.0.0/18, port 443)")
	contains(msg, "platform/overlays/prod/namespaces/query/egress.yaml:3")
	not contains(msg, "Pod Identity agent")
}

test_a_bucket_consumer_or_the_operator_cut_off_from_the_api_is_denied if {
	cut := {"allowed": false, "isolated": true, "isolated_by": [at("platform/overlays/prod/namespaces/query/egress.yaml", 3)]}
	grant := {
		"consumer": "dremio", "bucket": "acme-prod-dremio", "access": "write", "at": at("components/dremio/overlays/prod/dremio.conf", 11),
		"identity": "query/dremio", "role": "aws_iam_role.dremio", "policies": [], "actions": [],
		"reach": cut, "endpoint": "its interface endpoint in subnets 10.30.0.0/18, port 443",
	}
	m := object.union(model, {"environment": "prod", "applications": [app("dremio", 4, "platform", "query")], "cloud": object.union(cloud([], true, 3), {"bucket_grants": [grant]})})
	msg := message(m, "SOC-SYS-024")
	contains(msg, "uses bucket \"acme-prod-dremio\" with the identity of query/dremio, but egress from namespace \"query\" does not reach S3 (its interface endpoint in subnets 10.30.0.0/18, port 443;")
	read := {
		"app": "cert-manager", "external_secret": "core/ca", "key": "acme/prod/pki/ca", "at": at("components/pki/ca.yaml", 1),
		"store": "secrets", "region": "eu-west-3", "operator": "core/external-secrets", "role": "aws_iam_role.external_secrets",
		"policies": [], "allowed": true, "reach": cut, "endpoint": "its public endpoint, port 443",
	}
	msg2 := message(with_cloud(object.union(cloud([], true, 3), {"secret_reads": [read]})), "SOC-SYS-024")
	contains(msg2, "does not reach Secrets Manager (its public endpoint, port 443;")
	reached := object.union(grant, {"reach": {"allowed": true}})
	count(findings(object.union(m, {"cloud": object.union(cloud([], true, 3), {"bucket_grants": [reached]})}), "SOC-SYS-024")) == 0
}

test_a_public_endpoint_reached_through_part_of_the_public_space_warns if {
	partly := {"allowed": true, "isolated": true, "allowed_by": at("platform/overlays/prod/namespaces/query/egress.yaml", 3), "isolated_by": [at("platform/overlays/prod/namespaces/query/egress.yaml", 3)], "public_range": "52.94.0.0/16"}
	grant := {
		"consumer": "dremio", "bucket": "acme-prod-dremio", "access": "write", "at": at("components/dremio/overlays/prod/dremio.conf", 11),
		"identity": "query/dremio", "role": "aws_iam_role.dremio", "policies": [], "actions": [],
		"reach": partly, "endpoint": "its public endpoint, port 443",
	}
	m := object.union(model, {"environment": "prod", "applications": [app("dremio", 4, "platform", "query")], "cloud": object.union(cloud([], true, 3), {"bucket_grants": [grant]})})
	msg := message(m, "SOC-SYS-033")
	contains(msg, "[prod] Application \"dremio\" reaches S3 (its public endpoint, port 443) only through ipBlock 52.94.0.0/16 of platform/overlays/prod/namespaces/query/egress.yaml:3")
	count(findings(m, "SOC-SYS-024")) == 0
	# A pod identity's STS, named by its service account.
	agent := {"namespace": "query", "service_account": "dremio", "at": at("terraform/prod/identity.tf", 4), "agent": partly, "mechanism": "irsa", "credentials_from": "its public endpoint, port 443"}
	msg2 := message(with_cloud(object.union(cloud([], true, 3), {"identities": [agent]})), "SOC-SYS-033")
	contains(msg2, "service account query/dremio reaches STS (its public endpoint, port 443) only through ipBlock 52.94.0.0/16")
	# A secret-store entry: the operator calls.
	read := {
		"app": "cert-manager", "external_secret": "core/ca", "key": "acme/prod/pki/ca", "at": at("components/pki/ca.yaml", 1),
		"store": "secrets", "region": "eu-west-3", "operator": "core/external-secrets", "role": "aws_iam_role.external_secrets",
		"policies": [], "allowed": true, "reach": partly, "endpoint": "its public endpoint, port 443",
	}
	msg3 := message(with_cloud(object.union(cloud([], true, 3), {"secret_reads": [read]})), "SOC-SYS-033")
	contains(msg3, "[prod] the External Secrets operator core/external-secrets (ExternalSecret core/ca) reaches Secrets Manager (its public endpoint, port 443) only through ipBlock 52.94.0.0/16")
	# Every public address allowed: nothing to say.
	whole := object.union(object.remove(grant, ["reach"]), {"reach": {"allowed": true, "isolated": true}})
	count(findings(object.union(m, {"cloud": object.union(cloud([], true, 3), {"bucket_grants": [whole]})}), "SOC-SYS-033")) == 0
}

test_an_irsa_identity_refused_or_not_annotated_is_denied if {
	contains(message(with_cloud(cloud([irsa(false, true)], true, 3)), "SOC-SYS-027"), "role acme-prod-dremio trusts service account query/dremio by web identity (IRSA), but refuses the token")
	contains(message(with_cloud(cloud([irsa(true, false)], true, 3)), "SOC-SYS-027"), "that ServiceAccount does not name the role in eks.amazonaws.com/role-arn")
}

test_a_service_account_naming_a_role_that_does_not_trust_it_is_denied if {
	b := {
		"namespace": "bi", "service_account": "superset", "at": at("components/superset/manifests/base/serviceaccount.yaml", 1),
		"role": "acme-prod-dremio", "role_at": at("terraform/prod/identity.tf", 90), "trusted_accounts": ["query/dremio"],
	}
	msg := message(with_cloud(object.union(cloud([], true, 3), {"misbound": [b]})), "SOC-SYS-027")
	contains(msg, "[prod] ServiceAccount bi/superset takes role acme-prod-dremio (terraform/prod/identity.tf:90) by web identity, but the role's trust policy does not admit it (it trusts query/dremio)")
	contains(message(with_cloud(object.union(cloud([], true, 3), {"misbound": [object.union(b, {"trusted_accounts": []})]})), "SOC-SYS-027"), "(it trusts no service account by web identity)")
}

test_no_cloud_no_cloud_findings if {
	every id in {"SOC-SYS-018", "SOC-SYS-019", "SOC-SYS-020", "SOC-SYS-021", "SOC-SYS-022", "SOC-SYS-023", "SOC-SYS-024", "SOC-SYS-025", "SOC-SYS-027", "SOC-SYS-028", "SOC-SYS-029"} {
		count(findings(model, id)) == 0
	}
}

read(allowed) := {
	"app": "db", "external_secret": "storage/db-credentials", "key": "acme/shared/db",
	"at": at("components/db/manifests/prod/externalsecrets.yaml", 3),
	"store": "platform-secrets", "region": "eu-west-3", "operator": "core/external-secrets",
	"role": "aws_iam_role.workload[\"external-secrets\"]", "policies": ["terraform/prod/identity.tf:47"],
	"allowed": allowed,
}

test_an_entry_the_operator_may_not_read_is_denied if {
	c := object.union(cloud([], true, 3), {"secret_reads": [read(false)]})
	msg := message(with_cloud(c), "SOC-SYS-021")
	contains(msg, "[prod] ExternalSecret storage/db-credentials of Application \"db\" (wave 1) reads \"acme/shared/db\"")
	contains(msg, "terraform/prod/identity.tf:47")
}

test_an_entry_the_operator_may_read_passes if {
	c := object.union(cloud([], true, 3), {"secret_reads": [read(true)]})
	count(findings(with_cloud(c), "SOC-SYS-021")) == 0
}

bucket_grant(actions) := {
	"consumer": "db", "bucket": "acme-prod-backups", "access": "write",
	"at": at("components/db/values-prod.yaml", 30), "identity": "data-storage/db",
	"role": "aws_iam_role.workload[\"db\"]", "policies": ["terraform/prod/backups.tf:92"], "actions": actions,
}

test_a_pod_identity_short_of_the_access_it_needs_is_denied if {
	c := object.union(cloud([], true, 3), {"bucket_grants": [bucket_grant(["s3:ListBucket", "s3:GetObject"])]})
	msg := message(with_cloud(c), "SOC-SYS-022")
	contains(msg, "[prod] Application \"db\" (wave 1) uses bucket \"acme-prod-backups\" (write access)")
	contains(msg, "missing s3:PutObject, s3:DeleteObject")
	contains(message(with_cloud(object.union(cloud([], true, 3), {"bucket_grants": [bucket_grant([])]})), "SOC-SYS-022"), "grants nothing on it")
}

test_a_pod_identity_granted_what_it_needs_passes if {
	c := object.union(cloud([], true, 3), {"bucket_grants": [bucket_grant(["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"])]})
	count(findings(with_cloud(c), "SOC-SYS-022")) == 0
}

test_a_bucket_the_terraform_creates_is_created if {
	tf_use := {"consumer": "db", "at": at("components/db/values-prod.yaml", 30), "bucket": "acme-prod-backups", "stores": [], "access": "write", "grants": []}
	minio_store := {"app": "minio", "namespace": "data-storage", "service": "minio", "buckets": ["x"], "at": at("m.yaml", 1), "modelled": true}
	m := object.union(with_cloud(object.union(cloud([], true, 3), {"buckets": ["acme-prod-backups"]})), {"bucket_uses": [tf_use], "stores": [minio_store], "external_buckets": []})
	count(findings(m, "SOC-SYS-012")) == 0
	m2 := object.union(with_cloud(object.union(cloud([], true, 3), {"buckets": []})), {"bucket_uses": [tf_use], "stores": [minio_store], "external_buckets": []})
	count(findings(m2, "SOC-SYS-012")) == 1
}


private_name(resolves) := {
	"app": "db", "service": "data-storage/postgresql-rw", "host": "postgres.acme-prod.internal",
	"zone": "acme-prod.internal", "zone_at": at("terraform/prod/database.tf", 167),
	"at": field("components/db/service.yaml", 3, "/spec/externalName"), "resolves": resolves,
}

test_a_name_the_private_zone_does_not_have_is_denied if {
	msg := message(with_cloud(object.union(cloud([], true, 3), {"private_names": [private_name(false)]})), "SOC-SYS-023")
	contains(msg, "[prod] Service data-storage/postgresql-rw of Application \"db\" (wave 1) forwards to postgres.acme-prod.internal, in the private zone \"acme-prod.internal\"")
	contains(msg, "terraform/prod/database.tf:167")
	count(findings(with_cloud(object.union(cloud([], true, 3), {"private_names": [private_name(true)]})), "SOC-SYS-023")) == 0
}

reach(unreached, allowed) := {
	"consumer": "db", "consumer_namespace": "data-storage", "host": "postgresql.acme-prod.internal", "port": 5432,
	"at": at("components/db/values-prod.yaml", 12), "service_at": at("terraform/prod/database.tf", 70),
	"subnets": ["10.30.0.0/18", "10.30.64.0/18"], "unreached": unreached,
	"egress": {"allowed": false, "isolated": true, "isolated_by": [at("platform/overlays/prod/egress.yaml", 4)]},
	"egress_allowed": allowed,
}

test_egress_short_of_a_managed_instances_subnets_is_denied if {
	msg := message(with_cloud(object.union(cloud([], true, 3), {"managed_reaches": [reach(["10.30.64.0/18"], true)]})), "SOC-SYS-024")
	contains(msg, "connects to postgresql.acme-prod.internal, a managed instance of the environment's Terraform (terraform/prod/database.tf:70) in subnets 10.30.0.0/18, 10.30.64.0/18")
	contains(msg, "does not reach 10.30.64.0/18 (platform/overlays/prod/egress.yaml:4)")
	count(findings(with_cloud(object.union(cloud([], true, 3), {"managed_reaches": [reach([], true)]})), "SOC-SYS-024")) == 0
	count(findings(with_cloud(object.union(cloud([], true, 3), {"managed_reaches": [reach(["10.30.64.0/18"], false)]})), "SOC-SYS-024")) == 0
}

test_a_consumer_of_a_terraform_bucket_without_a_pod_identity_is_denied if {
	u := {"consumer": "db", "bucket": "acme-prod-logs", "at": at("components/db/values-prod.yaml", 14), "accounts": ["data-storage/db"]}
	msg := message(with_cloud(object.union(cloud([], true, 3), {"unsigned": [u]})), "SOC-SYS-025")
	contains(msg, "[prod] Application \"db\" (wave 1) uses bucket \"acme-prod-logs\", which the environment's Terraform creates, but none of its service accounts (data-storage/db) has a pod identity")
	count(findings(with_cloud(object.union(cloud([], true, 3), {"unsigned": []})), "SOC-SYS-025")) == 0
}

test_a_consumer_of_a_terraform_bucket_given_access_keys_is_denied if {
	k := {"consumer": "db", "bucket": "acme-prod-logs", "at": at("components/db/values-prod.yaml", 14), "secret": "data-storage/db-config", "key": "AWS_ACCESS_KEY_ID", "filled": "from entry acme/prod/db/s3", "external_secret": at("components/db/manifests/prod/externalsecrets.yaml", 2)}
	msg := message(with_cloud(object.union(cloud([], true, 3), {"keyed": [k]})), "SOC-SYS-025")
	contains(msg, "uses bucket \"acme-prod-logs\", which the environment's Terraform creates, but its pods get access keys from Secret data-storage/db-config (AWS_ACCESS_KEY_ID, filled from entry acme/prod/db/s3 by the ExternalSecret at components/db/manifests/prod/externalsecrets.yaml:2)")
	count(findings(with_cloud(object.union(cloud([], true, 3), {"keyed": []})), "SOC-SYS-025")) == 0
}

test_an_s3_consumer_given_a_key_by_its_configuration_is_denied_where_it_is_set if {
	k := {"consumer": "db", "bucket": "acme-prod-logs", "at": at("components/db/values-prod.yaml", 14), "setting": "fs.s3a.access.key", "value": "${env.AWS_KEY}", "set_at": at("components/db/values-prod.yaml", 20), "fix": "Remove fs.s3a.access.key from the configuration"}
	input_with := with_cloud(object.union(cloud([], true, 3), {"configured_keys": [k]}))
	some f in findings(input_with, "SOC-SYS-025")
	f.line == 20
	contains(f.msg, "uses bucket \"acme-prod-logs\" (components/db/values-prod.yaml:14), which the environment's Terraform creates, but its storage client's configuration gives it an access key (fs.s3a.access.key: ${env.AWS_KEY})")
	contains(f.msg, "Remove fs.s3a.access.key from the configuration so the pods take their pod identity")
	count(findings(with_cloud(object.union(cloud([], true, 3), {"configured_keys": []})), "SOC-SYS-025")) == 0
}

test_a_cloud_storage_consumer_pointed_at_a_key_file_is_denied_where_it_is_set if {
	k := {"consumer": "db", "bucket": "acme-prod-loki-chunks", "at": at("components/loki/values-prod.yaml", 9), "setting": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/var/secrets/google/key.json", "set_at": at("components/loki/values-prod.yaml", 30), "fix": "Remove the variable GOOGLE_APPLICATION_CREDENTIALS"}
	input_with := with_cloud(object.union(cloud([], true, 3), {"provider": "gke", "key_files": [k]}))
	some f in findings(input_with, "SOC-SYS-025")
	f.file == "components/loki/values-prod.yaml"
	f.line == 30
	contains(f.msg, "uses bucket \"acme-prod-loki-chunks\" (components/loki/values-prod.yaml:9), which the environment's Terraform creates in Cloud Storage, but it sets GOOGLE_APPLICATION_CREDENTIALS (/var/secrets/google/key.json)")
	contains(f.msg, "Remove the variable GOOGLE_APPLICATION_CREDENTIALS so the pods take their workload identity")
	count(findings(with_cloud(object.union(cloud([], true, 3), {"provider": "gke", "key_files": []})), "SOC-SYS-025")) == 0
}

test_a_consumer_signing_with_the_shared_key_of_an_account_that_refuses_it_is_denied if {
	k := {"consumer": "db", "bucket": "acme-prod-loki-chunks", "at": at("components/loki/values-prod.yaml", 9), "account": "acmeproddata", "account_at": at("terraform/prod/buckets.tf", 16), "setting": "accountKey", "value": "a key written inline", "set_at": at("components/loki/values-prod.yaml", 26)}
	input_with := with_cloud(object.union(cloud([], true, 3), {"provider": "aks", "shared_keys": [k]}))
	some f in findings(input_with, "SOC-SYS-025")
	f.file == "components/loki/values-prod.yaml"
	f.line == 26
	contains(f.msg, "uses container \"acme-prod-loki-chunks\" (components/loki/values-prod.yaml:9) of storage account acmeproddata, which refuses shared keys (shared_access_key_enabled = false, terraform/prod/buckets.tf:16), but it sets accountKey (a key written inline)")
	contains(f.msg, "Remove accountKey and let its pods sign in as the managed identity federated with their service account")
	count(findings(with_cloud(object.union(cloud([], true, 3), {"provider": "aks", "shared_keys": []})), "SOC-SYS-025")) == 0
}

# --- SOC-SYS-028: a Cloud Storage consumer its bucket's IAM does not admit ---

gcs_grant(roles, allowed) := {
	"consumer": "dremio", "bucket": "acme-prod-dremio", "access": "write", "at": at("components/dremio/overlays/prod/dremio.conf", 9),
	"accounts": ["lakehouse-query/dremio"], "roles": roles, "places": ["terraform/prod/identities.tf:40" | some _ in roles], "allowed": allowed,
	"reach": {"allowed": true}, "endpoint": "private.googleapis.com (199.36.153.8), port 443",
}

gke_with(grants) := object.union(model, {"environment": "prod", "applications": [app("dremio", 4, "platform", "lakehouse-query")], "cloud": object.union(cloud([], true, 3), {"provider": "gke", "gcs_grants": grants})})

test_a_gcs_consumer_without_a_grant_is_denied if {
	msg := message(gke_with([gcs_grant([], false)]), "SOC-SYS-028")
	contains(msg, "uses bucket \"acme-prod-dremio\" (write access) in Cloud Storage, but its service accounts (lakehouse-query/dremio) hold no role on it")
	contains(msg, "Grant roles/storage.objectUser")
}

test_a_gcs_consumer_that_may_only_read_is_denied_writing if {
	msg := message(gke_with([gcs_grant(["roles/storage.objectViewer"], false)]), "SOC-SYS-028")
	contains(msg, "hold only roles/storage.objectViewer (terraform/prod/identities.tf:40)")
}

test_a_granted_gcs_consumer_passes if {
	count(findings(gke_with([gcs_grant(["roles/storage.objectUser"], true)]), "SOC-SYS-028")) == 0
}

# --- SOC-SYS-021 on GKE: an entry the operator's account may not read ---

gke_read(role, policies, allowed) := {
	"app": "superset", "external_secret": "bi/superset", "key": "acme_prod_superset_app", "at": at("components/superset/overlays/prod/externalsecret.yaml", 27),
	"store": "lakehouse-secrets", "region": "acme-lakehouse-prod", "operator": "lakehouse-core/external-secrets",
	"role": role, "policies": policies, "allowed": allowed, "reach": {"allowed": false}, "endpoint": "",
}

gke_reads(reads) := object.union(model, {"environment": "prod", "applications": [app("superset", 5, "platform", "bi")], "cloud": object.union(cloud([], true, 3), {"provider": "gke", "secret_reads": reads})})

test_a_secret_the_gke_operator_may_not_read_is_denied if {
	msg := message(gke_reads([gke_read("", [], false)]), "SOC-SYS-021")
	contains(msg, "reads \"acme_prod_superset_app\" from Secret Manager (store \"lakehouse-secrets\", project acme-lakehouse-prod)")
	contains(msg, "holds no role: Google answers PERMISSION_DENIED")
	not contains(msg, "AWS")
	msg2 := message(gke_reads([gke_read("roles/secretmanager.secretAccessor", ["terraform/prod/identities.tf:17"], false)]), "SOC-SYS-021")
	contains(msg2, "holds roles/secretmanager.secretAccessor (terraform/prod/identities.tf:17), none of which reaches it")
}

test_a_secret_the_gke_operator_reads_passes_and_its_reach_is_not_judged if {
	m := gke_reads([gke_read("roles/secretmanager.secretAccessor", ["terraform/prod/identities.tf:17"], true)])
	count(findings(m, "SOC-SYS-021")) == 0
	count(findings(m, "SOC-SYS-024")) == 0
}

# --- GKE: the metadata server and Google's APIs out of reach ---

test_a_gke_workload_cut_off_from_the_metadata_server_is_denied if {
	i := {
		"namespace": "lakehouse-query", "service_account": "dremio", "at": at("terraform/prod/identities.tf", 40),
		"agent": {"allowed": false, "isolated": true, "isolated_by": [at("platform/overlays/prod/egress.yaml", 12)]},
		"credentials_from": "GKE's metadata server, 169.254.169.254:80", "namespace_exists": true, "account_exists": true,
		"mechanism": "workload-identity", "role": "roles/storage.objectUser", "trusted": true,
	}
	m := object.union(model, {"environment": "prod", "cloud": object.union(cloud([i], true, 3), {"provider": "gke"})})
	msg := message(m, "SOC-SYS-018")
	contains(msg, "service account lakehouse-query/dremio holds roles/storage.objectUser in Google Cloud, but the NetworkPolicies of namespace \"lakehouse-query\"")
	contains(msg, "deny egress to GKE's metadata server, 169.254.169.254:80")
	count(findings(m, "SOC-SYS-027")) == 0
	ok := object.union(m, {"cloud": object.union(m.cloud, {"identities": [object.union(i, {"agent": {"allowed": true}})]})})
	count(findings(ok, "SOC-SYS-018")) == 0
	gone := object.union(m, {"cloud": object.union(m.cloud, {"identities": [object.union(i, {"agent": {"allowed": true}, "namespace_exists": false})]})})
	contains(message(gone, "SOC-SYS-020"), "the IAM grant to lakehouse-query/dremio names namespace")
}

test_a_gcs_consumer_cut_off_from_googles_apis_is_denied if {
	g := object.union(gcs_grant(["roles/storage.objectUser"], true), {"reach": {"allowed": false, "isolated": true, "isolated_by": [at("platform/overlays/prod/egress.yaml", 12)]}})
	msg := message(gke_with([g]), "SOC-SYS-024")
	contains(msg, "uses bucket \"acme-prod-dremio\" in Cloud Storage with its service accounts (lakehouse-query/dremio), but egress from namespace \"lakehouse-query\" does not reach Google's APIs (private.googleapis.com (199.36.153.8), port 443")
}

test_a_gke_operator_cut_off_from_secret_manager_is_denied if {
	r := object.union(gke_read("roles/secretmanager.secretAccessor", ["terraform/prod/identities.tf:17"], true), {"reach": {"allowed": false, "isolated": true, "isolated_by": []}, "endpoint": "Google's public API addresses, port 443"})
	msg := message(gke_reads([r]), "SOC-SYS-024")
	contains(msg, "reads \"acme_prod_superset_app\" from Secret Manager as the External Secrets operator lakehouse-core/external-secrets, but egress from namespace \"lakehouse-core\" does not reach Secret Manager")
}

# --- SOC-SYS-029: a GKE cluster that gives no workload identity ---

gke_identity := {
	"namespace": "lakehouse-query", "service_account": "dremio", "at": at("terraform/prod/identities.tf", 40),
	"agent": {"allowed": true}, "credentials_from": "GKE's metadata server, 169.254.169.254:80",
	"namespace_exists": true, "account_exists": true, "mechanism": "workload-identity", "role": "roles/storage.objectUser", "trusted": true,
}

gke_cluster(pool, pools) := object.union(model, {"environment": "prod", "cloud": object.union(cloud([gke_identity], true, 3), {"provider": "gke", "workload_pool": pool, "node_metadata_pools": pools})})

test_a_gke_cluster_without_a_workload_pool_is_denied if {
	msg := message(gke_cluster(false, []), "SOC-SYS-029")
	contains(msg, "IAM grants 1 Kubernetes service accounts of the environment roles (lakehouse-query/dremio), but its GKE cluster has no workload pool")
	count(findings(gke_cluster(null, []), "SOC-SYS-029")) == 0
	count(findings(gke_cluster(true, []), "SOC-SYS-029")) == 0
}

test_a_node_pool_on_the_nodes_metadata_is_denied if {
	msg := message(gke_cluster(true, [at("terraform/prod/gke.tf", 143)]), "SOC-SYS-029")
	contains(msg, "the node pool at terraform/prod/gke.tf:143 runs its pods with the node's metadata")
}

# --- AKS: Microsoft Entra Workload ID ---

aks_identity := {
	"namespace": "lakehouse-core", "service_account": "external-secrets", "at": at("terraform/prod/identities.tf", 20),
	"agent": {"allowed": true}, "credentials_from": "Microsoft Entra ID (login.microsoftonline.com), 20.190.128.0/18:443",
	"namespace_exists": true, "account_exists": true, "mechanism": "azure-workload-identity",
	"role": "acme-prod-external-secrets", "trusted": true, "annotated": true, "labelled": true,
}

aks_with(identities, pool) := object.union(model, {"environment": "prod", "cloud": object.union(cloud(identities, true, 3), {"provider": "aks", "workload_pool": pool})})

test_an_aks_identity_with_everything_passes if {
	m := aks_with([aks_identity], true)
	count(findings(m, "SOC-SYS-018")) == 0
	count(findings(m, "SOC-SYS-029")) == 0
	count(findings(m, "SOC-SYS-030")) == 0
	count(findings(m, "SOC-SYS-031")) == 0
}

test_an_aks_workload_cut_off_from_entra_id_is_denied if {
	i := object.union(aks_identity, {"agent": {"allowed": false, "isolated": true, "isolated_by": [at("platform/overlays/prod/egress.yaml", 12)]}})
	msg := message(aks_with([i], true), "SOC-SYS-018")
	contains(msg, "service account lakehouse-core/external-secrets is federated with managed identity acme-prod-external-secrets")
	contains(msg, "deny egress to Microsoft Entra ID (login.microsoftonline.com)")
}

test_an_aks_account_without_its_client_id_or_label_is_denied if {
	msg := message(aks_with([object.union(aks_identity, {"annotated": false})], true), "SOC-SYS-030")
	contains(msg, "has no client ID in its annotation azure.workload.identity/client-id")
	contains(msg, "terraform output -json client_ids")
	msg2 := message(aks_with([object.union(aks_identity, {"labelled": false})], true), "SOC-SYS-031")
	contains(msg2, "lack the label azure.workload.identity/use")
	msg3 := message(aks_with([object.union(aks_identity, {"trusted": false})], true), "SOC-SYS-031")
	contains(msg3, "does not trust this cluster's tokens")
	# Not known: not judged.
	unknown := aks_with([object.union(aks_identity, {"annotated": null, "labelled": null, "trusted": null})], true)
	count(findings(unknown, "SOC-SYS-030")) == 0
	count(findings(unknown, "SOC-SYS-031")) == 0
}

test_an_aks_cluster_without_workload_identity_is_denied if {
	msg := message(aks_with([aks_identity], false), "SOC-SYS-029")
	contains(msg, "its AKS cluster does not issue workload identity tokens (oidc_issuer_enabled and workload_identity_enabled)")
	count(findings(aks_with([aks_identity], null), "SOC-SYS-029")) == 0
	count(findings(aks_with([], false), "SOC-SYS-029")) == 0
}

test_an_aks_cluster_without_a_policy_engine_is_denied_with_azures_fix if {
	m := object.union(model, {"environment": "prod", "cloud": object.union(cloud([], false, 3), {"provider": "aks", "enforcement_by": "network_profile without network_policy: no engine"})})
	msg := message(m, "SOC-SYS-019")
	contains(msg, "its AKS cluster does not enforce them")
	contains(msg, "network_policy = \"cilium\"")
	not contains(msg, "vpc-cni")
}

aks_read(role, policies, allowed) := {
	"app": "superset", "external_secret": "bi/superset", "key": "acme-prod-superset-app", "at": at("components/superset/overlays/prod/externalsecret.yaml", 27),
	"store": "lakehouse-secrets", "region": "acme-prod-kv", "operator": "lakehouse-core/external-secrets",
	"role": role, "policies": policies, "allowed": allowed, "reach": {"allowed": false, "isolated": true, "isolated_by": [at("platform/overlays/prod/egress.yaml", 12)]}, "endpoint": "its private endpoint in 10.30.16.0/24",
}

aks_reads(reads) := object.union(model, {"environment": "prod", "applications": [app("superset", 5, "platform", "bi")], "cloud": object.union(cloud([], true, 3), {"provider": "aks", "secret_reads": reads})})

test_a_secret_the_aks_operator_may_not_read_is_denied if {
	msg := message(aks_reads([aks_read("", [], false)]), "SOC-SYS-021")
	contains(msg, "reads \"acme-prod-superset-app\" from Key Vault acme-prod-kv (store \"lakehouse-secrets\")")
	contains(msg, "(none: no credential is federated with its service account) holds no role able to read its secrets")
	not contains(msg, "AWS")
	msg2 := message(aks_reads([aks_read("acme-prod-external-secrets", ["Key Vault Secrets User on other-kv (terraform/prod/identities.tf:30)"], false)]), "SOC-SYS-021")
	contains(msg2, "whose managed identity acme-prod-external-secrets holds only Key Vault Secrets User on other-kv")
	msg3 := message(aks_reads([aks_read("acme-prod-external-secrets", ["Key Vault Secrets User on acme-prod-kv (terraform/prod/identities.tf:30)"], true)]), "SOC-SYS-024")
	contains(msg3, "does not reach Key Vault (its private endpoint in 10.30.16.0/24")
	count(findings(aks_reads([aks_read("acme-prod-external-secrets", ["x"], true)]), "SOC-SYS-021")) == 0
}

aks_blob(roles, allowed) := {
	"consumer": "velero", "bucket": "acme-prod-backups", "access": "write", "at": at("components/velero/values-prod.yaml", 57),
	"accounts": ["velero/velero-server"], "roles": roles, "places": ["terraform/prod/identity.tf:40" | some _ in roles],
	"allowed": allowed, "reach": {"allowed": true}, "endpoint": "its private endpoint in 10.30.16.0/20",
}

aks_blobs(grants) := object.union(model, {"environment": "prod", "applications": [app("velero", 15, "platform", "velero")], "cloud": object.union(cloud([], true, 3), {"provider": "aks", "gcs_grants": grants})})

test_an_aks_container_consumer_without_a_blob_role_is_denied if {
	msg := message(aks_blobs([aks_blob([], false)]), "SOC-SYS-028")
	contains(msg, "uses container \"acme-prod-backups\" (write access) in Azure Storage")
	contains(msg, "hold no role on it")
	contains(msg, "Grant Storage Blob Data Contributor on the container")
	not contains(msg, "Cloud Storage")
	msg2 := message(aks_blobs([aks_blob(["Storage Blob Data Reader"], false)]), "SOC-SYS-028")
	contains(msg2, "hold only Storage Blob Data Reader")
	count(findings(aks_blobs([aks_blob(["Storage Blob Data Contributor"], true)]), "SOC-SYS-028")) == 0
	cut := aks_blobs([object.union(aks_blob(["Storage Blob Data Contributor"], true), {"reach": {"allowed": false, "isolated": true, "isolated_by": [at("platform/overlays/prod/egress.yaml", 12)]}})])
	contains(message(cut, "SOC-SYS-024"), "does not reach Azure Storage (its private endpoint in 10.30.16.0/20")
}

test_an_aks_container_whose_account_answers_nowhere_is_denied if {
	why := "storage account acmeprodlake has a hierarchical namespace, so its clients call its Data Lake endpoint (acmeprodlake.dfs.core.windows.net), but it refuses public network access and no private endpoint serves dfs"
	closed := object.union(aks_blob(["Storage Blob Data Contributor"], true), {"endpoint": "", "unreachable": why})
	msg := message(aks_blobs([closed]), "SOC-SYS-024")
	contains(msg, "uses container \"acme-prod-backups\" in Azure Storage")
	contains(msg, "no private endpoint serves dfs: every request fails, whatever its egress")
	count(findings(aks_blobs([aks_blob(["Storage Blob Data Contributor"], true)]), "SOC-SYS-024")) == 0
}

test_an_aks_container_consumer_naming_another_account_is_denied if {
	wrong := object.union(aks_blob(["Storage Blob Data Contributor"], true), {"holding_accounts": ["acmeproddata"], "named_accounts": ["acmeprodbackups"]})
	msg := message(aks_blobs([wrong]), "SOC-SYS-032")
	contains(msg, "uses container \"acme-prod-backups\" in Azure Storage at storage account acmeprodbackups, but the Terraform creates that container in acmeproddata")
	contains(msg, "Name acmeproddata in its configuration")
	right := object.union(wrong, {"named_accounts": ["acmeprodbackups", "acmeproddata"]})
	count(findings(aks_blobs([right]), "SOC-SYS-032")) == 0
	unsaid := object.union(wrong, {"named_accounts": []})
	count(findings(aks_blobs([unsaid]), "SOC-SYS-032")) == 0
	unknown := object.union(wrong, {"holding_accounts": []})
	count(findings(aks_blobs([unknown]), "SOC-SYS-032")) == 0
	gke := object.union(wrong, {"roles": ["roles/storage.objectUser"]})
	count(findings(gke_with([gke]), "SOC-SYS-032")) == 0
}

test_an_entry_name_the_store_refuses_is_denied if {
	bad := object.union(aks_read("acme-prod-external-secrets", ["Key Vault Secrets User on acme-prod-kv (terraform/prod/identities.tf:30)"], true), {"key": "acme/prod/superset/app", "name_valid": false, "reach": {"allowed": true}})
	msg := message(aks_reads([bad]), "SOC-SYS-021")
	contains(msg, "reads \"acme/prod/superset/app\" from Key Vault (store \"lakehouse-secrets\"), whose entry names allow letters, digits and `-` (at most 127) only")
	good := object.union(bad, {"key": "acme-prod-superset-app", "name_valid": true})
	count(findings(aks_reads([good]), "SOC-SYS-021")) == 0
	gke := object.union(gke_read("roles/secretmanager.secretAccessor", ["terraform/prod/identities.tf:17"], true), {"key": "acme/prod/x", "name_valid": false})
	contains(message(gke_reads([gke]), "SOC-SYS-021"), "whose entry names allow letters, digits, `_` and `-` (at most 255) only")
}
