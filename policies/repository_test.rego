package socle.repository_test

import data.socle.repository

ids(result) := {f.id | some f in result}

doc(path, kind, name, namespace, content) := {
	"path": path, "line": 1, "kind": kind, "apiVersion": object.get(content, "apiVersion", "v1"),
	"name": name, "namespace": namespace,
	"labels": object.get(content, ["metadata", "labels"], {}),
	"annotations": object.get(content, ["metadata", "annotations"], {}),
	"content": content,
}

ns := doc("ns.yaml", "Namespace", "data-platform-core", null, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})

deny_all := doc("np.yaml", "NetworkPolicy", "default-deny", "data-platform-core", {"spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})

quota := doc("q.yaml", "ResourceQuota", "q", "data-platform-core", {})

limits := doc("l.yaml", "LimitRange", "l", "data-platform-core", {})

complete := [ns, deny_all, quota, limits]

without(docs, kind) := [d | some d in docs; d.kind != kind]

test_complete_namespace_passes if {
	count(repository.violation) == 0 with input as {"files": [], "documents": complete}
}

test_missing_default_deny_denied if {
	"SOC-NS-001" in ids(repository.violation) with input as {"files": [], "documents": without(complete, "NetworkPolicy")}
}

test_allow_rule_is_not_default_deny if {
	allow := doc("np.yaml", "NetworkPolicy", "allow", "data-platform-core", {"spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}]}})
	"SOC-NS-001" in ids(repository.violation) with input as {"files": [], "documents": array.concat(without(complete, "NetworkPolicy"), [allow])}
}

test_missing_quota_denied if {
	"SOC-NS-002" in ids(repository.violation) with input as {"files": [], "documents": without(complete, "ResourceQuota")}
}

test_missing_limit_range_denied if {
	"SOC-NS-003" in ids(repository.violation) with input as {"files": [], "documents": without(complete, "LimitRange")}
}

test_missing_pod_security_label_denied if {
	bare := doc("ns.yaml", "Namespace", "data-platform-core", null, {"metadata": {}})
	"SOC-NS-004" in ids(repository.violation) with input as {"files": [], "documents": array.concat(without(complete, "Namespace"), [bare])}
}

project := doc("argocd/prod/project.yaml", "AppProject", "acme-prod", null, {
	"apiVersion": "argoproj.io/v1alpha1",
	"spec": {"destinations": [{"server": "https://prod.example:6443", "namespace": "data-platform-*"}]},
})

app(path, spec, annotations, labels) := doc(path, "Application", "trino-prod", "argocd", {
	"apiVersion": "argoproj.io/v1alpha1",
	"metadata": {"annotations": annotations, "labels": labels},
	"spec": spec,
})

good_spec := {
	"project": "acme-prod",
	"destination": {"server": "https://prod.example:6443", "namespace": "data-platform-processing"},
	"sources": [
		{"repoURL": "https://trinodb.github.io/charts/", "chart": "trino", "targetRevision": "1.42.2", "helm": {"valueFiles": ["$values/components/trino/values.yaml"]}},
		{"repoURL": "https://git.example/p.git", "targetRevision": "main", "ref": "values"},
	],
}

files := ["components/trino/values.yaml"]

repo(apps) := {"files": files, "documents": array.concat([project], apps)}

test_good_application_passes if {
	count(repository.violation) == 0 with input as repo([app("argocd/prod/applications/trino.yaml", good_spec, {}, {})])
}

test_default_project_denied if {
	"SOC-ARGO-001" in ids(repository.violation) with input as repo([app("a.yaml", object.union(good_spec, {"project": "default"}), {}, {})])
}

test_floating_chart_version_denied if {
	spec := object.union(good_spec, {"sources": [{"repoURL": "r", "chart": "trino", "targetRevision": "1.*"}]})
	"SOC-ARGO-002" in ids(repository.violation) with input as repo([app("a.yaml", spec, {}, {})])
}

appset(generators, revision) := doc("a.yaml", "ApplicationSet", "addons", "argocd", {
	"apiVersion": "argoproj.io/v1alpha1",
	"spec": {
		"generators": generators,
		"template": {"spec": object.union(good_spec, {"sources": [{"repoURL": "r", "chart": "trino", "targetRevision": revision}]})},
	},
})

# A placeholder's versions are those its generators give, in every branch
# of a merge; one a generator does not give cannot be judged pinned.
test_an_application_sets_chart_version_is_read_from_its_generators if {
	pinned := [{"merge": {"mergeKeys": ["server"], "generators": [
		{"clusters": {"values": {"v": "1.0.9"}, "selector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}}},
		{"clusters": {"values": {"v": "1.0.10"}}},
	]}}]
	count(repository.violation) == 0 with input as repo([appset(pinned, "{{values.v}}")])
	count(repository.violation) == 0 with input as repo([appset(pinned, "{{ .values.v }}")])
	floating := [{"clusters": {"values": {"v": "1.0.9"}}}, {"clusters": {"values": {"v": "1.*"}}}]
	some f in repository.violation with input as repo([appset(floating, "{{values.v}}")])
	f.id == "SOC-ARGO-002"
	contains(f.msg, "pins chart \"trino\" to \"1.* ({{values.v}}, as a generator gives it)\"")
	"SOC-ARGO-002" in ids(repository.violation) with input as repo([appset([{"clusters": {}}], "{{values.v}}")])
	# An unquoted version is a number (1.10 read as 1.1): not pinned.
	"SOC-ARGO-002" in ids(repository.violation) with input as repo([appset([{"clusters": {"values": {"v": 1.1}}}], "{{values.v}}")])
	"SOC-ARGO-002" in ids(repository.violation) with input as repo([appset(pinned, "{{metadata.annotations.version}}")])
}

test_destination_outside_project_denied if {
	spec := object.union(good_spec, {"destination": {"server": "https://prod.example:6443", "namespace": "kube-system"}})
	"SOC-ARGO-003" in ids(repository.violation) with input as repo([app("a.yaml", spec, {}, {})])
}

test_wave_before_dependency_denied if {
	trino := app("argocd/dev/applications/trino.yaml", good_spec, {"argocd.argoproj.io/sync-wave": "1"}, {"app.kubernetes.io/component": "trino"})
	lake := app("argocd/dev/applications/lakekeeper.yaml", good_spec, {"argocd.argoproj.io/sync-wave": "7"}, {"app.kubernetes.io/component": "lakekeeper"})
	"SOC-ARGO-004" in ids(repository.violation) with input as repo([trino, lake]) with data.socle.blueprint.needs as {"trino": ["lakekeeper"]}
}

test_wave_after_dependency_passes if {
	trino := app("argocd/dev/applications/trino.yaml", good_spec, {"argocd.argoproj.io/sync-wave": "9"}, {"app.kubernetes.io/component": "trino"})
	lake := app("argocd/dev/applications/lakekeeper.yaml", good_spec, {"argocd.argoproj.io/sync-wave": "7"}, {"app.kubernetes.io/component": "lakekeeper"})
	not "SOC-ARGO-004" in ids(repository.violation) with input as repo([trino, lake]) with data.socle.blueprint.needs as {"trino": ["lakekeeper"]}
}

test_missing_values_file_denied if {
	"SOC-ARGO-005" in ids(repository.violation) with input as {"files": [], "documents": [project, app("a.yaml", good_spec, {}, {})]}
}

test_prod_auto_sync_denied if {
	spec := object.union(good_spec, {"syncPolicy": {"automated": {"prune": true}}})
	"SOC-ARGO-006" in ids(repository.violation) with input as repo([app("argocd/prod/applications/trino.yaml", spec, {}, {})])
}

test_prod_auto_sync_denied_by_environment_label if {
	spec := object.union(good_spec, {"syncPolicy": {"automated": {"prune": true}}})
	"SOC-ARGO-006" in ids(repository.violation) with input as repo([app("apps/a.yaml", spec, {}, {"socle.dev/environment": "prod"})])
	"SOC-ARGO-006" in ids(repository.violation) with input as repo([app("apps/a.yaml", spec, {}, {"data-platform/environment": "prod"})])
	not "SOC-ARGO-006" in ids(repository.violation) with input as repo([app("apps/a.yaml", spec, {}, {"socle.dev/environment": "dev"})])
}

test_dev_auto_sync_passes if {
	spec := object.union(good_spec, {"syncPolicy": {"automated": {"prune": true}}})
	not "SOC-ARGO-006" in ids(repository.violation) with input as repo([app("argocd/dev/applications/trino.yaml", spec, {}, {})])
}

values_repo(replicas, pdb) := {
	"files": [],
	"documents": [doc("components/keycloak/values-prod.yaml", "", null, null, {"replicas": replicas})],
	"values": {"keycloak": {"prod": {"replicas": replicas, "podDisruptionBudget": pdb}, "dev": {"replicas": 1}}},
}

test_ha_prod_passes if {
	count(repository.availability) == 0 with input as values_repo(3, {"maxUnavailable": 1}) with data.socle.blueprint.critical as ["keycloak"]
}

test_single_replica_prod_denied if {
	"SOC-PROD-001" in ids(repository.availability) with input as values_repo(1, {"maxUnavailable": 1}) with data.socle.blueprint.critical as ["keycloak"]
}

test_missing_pdb_denied if {
	"SOC-PROD-002" in ids(repository.availability) with input as values_repo(3, null) with data.socle.blueprint.critical as ["keycloak"]
}

test_dev_may_run_one_replica if {
	not "SOC-PROD-001" in ids(repository.availability) with input as values_repo(2, {"maxUnavailable": 1}) with data.socle.blueprint.critical as ["keycloak"]
}

# Two copies of the same project (a copied tree) evaluate without error:
# a destination either copy allows passes, one neither allows is denied.
dup_projects(namespace) := {
	"files": [],
	"documents": [
		doc("a/project.yaml", "AppProject", "p", "argocd", {"apiVersion": "argoproj.io/v1alpha1", "spec": {"destinations": [{"server": "https://k", "namespace": "ns"}]}}),
		doc("b/project.yaml", "AppProject", "p", "argocd", {"apiVersion": "argoproj.io/v1alpha1", "spec": {"destinations": [{"server": "https://k", "namespace": "other"}]}}),
		doc("a/app.yaml", "Application", "x", "argocd", {"apiVersion": "argoproj.io/v1alpha1", "spec": {"project": "p", "destination": {"server": "https://k", "namespace": namespace}}}),
	],
}

test_duplicate_projects_do_not_break_the_evaluation if {
	not "SOC-ARGO-003" in ids(repository.violation) with input as dup_projects("ns")
	"SOC-ARGO-003" in ids(repository.violation) with input as dup_projects("elsewhere")
}

test_committed_terraform_state_denied if {
	some f in ["terraform/prod/terraform.tfstate", "terraform/prod/terraform.tfstate.backup", "terraform/prod/.terraform/providers/x", ".terraform/terraform.tfstate"]
	"SOC-SEC-005" in ids(repository.violation) with input as {"files": [f], "documents": []}
}

test_terraform_sources_and_lock_pass if {
	r := {"files": ["terraform/prod/main.tf", "terraform/prod/.terraform.lock.hcl", "terraform/prod/README.md"], "documents": []}
	not "SOC-SEC-005" in ids(repository.violation) with input as r
}

# An Application whose spec is not a mapping is the schema's denial, not a
# failure of these rules.
test_an_application_spec_of_another_shape_is_left_to_the_schema if {
	app := {"path": "app.yaml", "line": 1, "kind": "Application", "apiVersion": "argoproj.io/v1alpha1", "name": "a", "namespace": "argocd", "labels": {}, "annotations": {}, "content": {"spec": "oops"}}
	count(repository.violation) == 0 with input as {"files": ["app.yaml"], "documents": [app]}
}

# A sync wave that is not an integer is wave 0, as Argo CD reads it.
test_a_wave_that_is_not_an_integer_is_wave_zero if {
	app := {"path": "a.yaml", "line": 1, "kind": "Application", "apiVersion": "argoproj.io/v1alpha1", "name": "a", "namespace": "argocd", "labels": {}, "annotations": {"argocd.argoproj.io/sync-wave": "early"}, "content": {}}
	repository.wave(app) == 0
	repository.wave(object.union(app, {"annotations": {"argocd.argoproj.io/sync-wave": "-2"}})) == -2
}
