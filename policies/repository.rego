# Rules that span files. For `violation`, `input` is the repository:
#   files:     every file path
#   documents: every parsed document (path, line, kind, apiVersion, name,
#              namespace, labels, annotations, content)
# `data.socle.blueprint.needs` maps a component to the components it needs.
# Findings name the file (and line) themselves.
package socle.repository

finding(id, msg, d, path) := {"id": id, "msg": msg, "file": d.path, "line": d.line, "doc_path": path}

docs_of(kind) := [d | some d in input.documents; d.kind == kind]

# --- Terraform state --------------------------------------------------------

# SOC-SEC-005: Terraform's state holds, in clear, every secret Terraform read
# or generated (database passwords, keys); it belongs in the backend.
violation contains {"id": "SOC-SEC-005", "msg": sprintf("%s is committed: Terraform state holds every secret Terraform handled, in clear; remove it from git, rotate what it holds, keep the state in the backend and ignore *.tfstate and .terraform/", [f]), "file": f, "line": 1, "doc_path": []} if {
	some f in input.files
	terraform_state(f)
}

terraform_state(f) if endswith(f, ".tfstate")

terraform_state(f) if contains(f, ".tfstate.")

terraform_state(f) if startswith(f, ".terraform/")

terraform_state(f) if contains(f, "/.terraform/")

# --- namespaces -----------------------------------------------------------

platform_namespaces := [d | some d in docs_of("Namespace"); startswith(d.name, "data-platform-")]

in_namespace(kind, ns) := [d | some d in docs_of(kind); d.namespace == ns]

default_deny(d) if {
	spec := d.content.spec
	spec.podSelector == {}
	{t | some t in spec.policyTypes} == {"Ingress", "Egress"}
	count(object.get(spec, "ingress", [])) == 0
	count(object.get(spec, "egress", [])) == 0
}

violation contains finding("SOC-NS-001", sprintf("namespace %q has no default-deny NetworkPolicy (empty podSelector, policyTypes Ingress and Egress, no rules)", [ns.name]), ns, []) if {
	some ns in platform_namespaces
	not any_default_deny(ns.name)
}

any_default_deny(name) if {
	some d in in_namespace("NetworkPolicy", name)
	default_deny(d)
}

violation contains finding("SOC-NS-002", sprintf("namespace %q has no ResourceQuota", [ns.name]), ns, []) if {
	some ns in platform_namespaces
	count(in_namespace("ResourceQuota", ns.name)) == 0
}

violation contains finding("SOC-NS-003", sprintf("namespace %q has no LimitRange", [ns.name]), ns, []) if {
	some ns in platform_namespaces
	count(in_namespace("LimitRange", ns.name)) == 0
}

violation contains finding("SOC-NS-004", sprintf("namespace %q has no pod-security.kubernetes.io/enforce label", [ns.name]), ns, ["metadata"]) if {
	some ns in platform_namespaces
	not ns.labels["pod-security.kubernetes.io/enforce"]
}

# --- ArgoCD ---------------------------------------------------------------

applications := [d | some d in docs_of("Application"); d.apiVersion == "argoproj.io/v1alpha1"]

app_sets := [d | some d in docs_of("ApplicationSet"); d.apiVersion == "argoproj.io/v1alpha1"]

app_projects := [d | some d in docs_of("AppProject"); d.apiVersion == "argoproj.io/v1alpha1"]

# Projects by name; a name declared twice (a copied tree) keeps every copy
# rather than failing the evaluation.
projects := {p.name: [d | some d in app_projects; d.name == p.name] | some p in app_projects}

# A spec that is not a mapping is the schema's denial (SOC-SCHEMA-001), not
# these rules'.
app_spec(d) := spec if {
	d.kind == "Application"
	spec := d.content.spec
	is_object(spec)
}

app_spec(d) := spec if {
	d.kind == "ApplicationSet"
	spec := d.content.spec.template.spec
	is_object(spec)
}

spec_path(d) := ["spec"] if d.kind == "Application"

spec_path(d) := ["spec", "template", "spec"] if d.kind == "ApplicationSet"

# Every source of an Application with the path of its entry.
source_entries(d) := array.concat(
	[{"s": s, "path": array.concat(spec_path(d), ["sources", i])} | some i, s in object.get(app_spec(d), "sources", [])],
	[{"s": s, "path": array.concat(spec_path(d), ["source"])} | s := app_spec(d).source],
)

violation contains finding("SOC-ARGO-001", sprintf("%s %q uses the default project; give it a least-privilege AppProject", [d.kind, d.name]), d, ["spec", "project"]) if {
	some d in array.concat(applications, app_sets)
	object.get(app_spec(d), "project", "default") == "default"
}

# A YAML number (`1.10`, read as 1.1) is no version string.
exact_version(v) if {
	is_string(v)
	regex.match(`^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$`, v)
}

# The key of an ApplicationSet template's `{{values.X}}` placeholder
# (`{{ .values.X }}` with goTemplate): generators give each its value.
values_placeholder(v) := m[0][1] if {
	m := regex.find_all_string_submatch_n(`^\{\{\s*\.?values\.([A-Za-z0-9_-]+)\s*\}\}$`, v, 1)
	count(m) == 1
}

# Every value the ApplicationSet's generators give `values.<key>`: each
# generator's `values` mapping, at any depth (merge and matrix nest them;
# a selector's `values` is a list, not one of these).
generator_values(d, key) := [v |
	walk(object.get(d.content.spec, "generators", []), [_, x])
	is_object(x)
	is_object(x.values)
	v := x.values[key]
]

# The versions a chart's targetRevision takes: itself, or for a
# placeholder every value its generators give (none given: the
# placeholder itself, which no exact version matches).
chart_versions(d, revision) := [revision] if {
	d.kind == "Application"
} else := vs if {
	key := values_placeholder(revision)
	vs := generator_values(d, key)
	count(vs) > 0
} else := [revision]

violation contains finding("SOC-ARGO-002", sprintf("%s %q pins chart %q to %q; use an exact version (no HEAD, *, or range)", [d.kind, d.name, e.s.chart, shown_version(revision, version)]), d, array.concat(e.path, ["targetRevision"])) if {
	some d in array.concat(applications, app_sets)
	some e in source_entries(d)
	e.s.chart
	revision := object.get(e.s, "targetRevision", "")
	some version in chart_versions(d, revision)
	not exact_version(version)
}

shown_version(revision, version) := revision if revision == version

shown_version(revision, version) := sprintf("%v (%s, as a generator gives it)", [version, revision]) if revision != version

glob_ok(pattern, value) if pattern == value

glob_ok(pattern, value) if {
	pattern != value
	glob.match(pattern, [], value)
}

allowed(project, dest) if {
	some d in object.get(project.content.spec, "destinations", [])
	glob_ok(object.get(d, "server", "*"), object.get(dest, "server", ""))
	glob_ok(object.get(d, "namespace", "*"), object.get(dest, "namespace", ""))
}

violation contains finding("SOC-ARGO-003", sprintf("Application %q deploys to %s namespace %q, which its project %q does not allow", [d.name, object.get(dest, "server", ""), object.get(dest, "namespace", ""), name]), d, ["spec", "destination"]) if {
	some d in applications
	name := object.get(app_spec(d), "project", "default")
	candidates := projects[name]
	dest := app_spec(d).destination
	is_object(dest)
	not allowed_by_any(candidates, dest)
}

allowed_by_any(candidates, dest) if {
	some project in candidates
	allowed(project, dest)
}

# Argo CD reads a wave that is not an integer as wave 0.
wave(d) := to_number(w) if {
	w := object.get(d.annotations, "argocd.argoproj.io/sync-wave", "0")
	is_string(w)
	regex.match(`^[-+]?[0-9]+$`, w)
} else := 0

component(d) := d.labels["app.kubernetes.io/component"]

env_dir(d) := concat("/", array.slice(split(d.path, "/"), 0, count(split(d.path, "/")) - 1))

# The waves of each component's Applications, per folder of Applications:
# built once, so that the wave rule looks a need up instead of scanning every
# Application for every need of every Application.
component_waves[key] contains wave(d) if {
	some d in applications
	key := concat("\n", [env_dir(d), component(d)])
}

violation contains finding("SOC-ARGO-004", sprintf("Application %q (wave %v) needs %q, which syncs in wave %v; it must come later", [d.name, wave(d), need, other]), d, ["metadata", "annotations"]) if {
	some d in applications
	some need in object.get(data.socle.blueprint.needs, component(d), [])
	some other in component_waves[concat("\n", [env_dir(d), need])]
	other >= wave(d)
}

files := {f | some f in input.files}

violation contains finding("SOC-ARGO-005", sprintf("Application %q reads values file %q, which is not in the repository", [d.name, file]), d, array.concat(e.path, ["helm", "valueFiles", j])) if {
	some d in applications
	some e in source_entries(d)
	some j, vf in object.get(e.s, ["helm", "valueFiles"], [])
	startswith(vf, "$values/")
	file := substring(vf, 8, -1)
	not file in files
}

prod(d) if d.labels["socle.dev/environment"] == "prod"

# The label's key in repositories rendered before it moved under socle.dev.
prod(d) if d.labels["data-platform/environment"] == "prod"

prod(d) if contains(d.path, "/prod/")

violation contains finding("SOC-ARGO-006", sprintf("prod Application %q syncs automatically; prod changes are synced by hand after review", [d.name]), d, ["spec", "syncPolicy", "automated"]) if {
	some d in applications
	prod(d)
	d.content.spec.syncPolicy.automated
}

# --- prod: critical services run highly available -------------------------
#
# These rules read another input: `input.values[component].prod`, a critical
# component's effective Helm values (values.yaml under values-prod.yaml), and
# `input.documents`, the inventory of its values-prod.yaml. Charts keep replicas and disruption
# budgets under different keys; this table says where, for the critical
# components of the blueprint.

ha_keys := {
	"keycloak": {"replicas": [["replicas"]], "pdb": [["podDisruptionBudget"]]},
	"airflow": {
		"replicas": [["scheduler", "replicas"], ["apiServer", "replicas"]],
		"pdb": [["scheduler", "podDisruptionBudget", "enabled"], ["apiServer", "podDisruptionBudget", "enabled"]],
	},
	"postgresql": {"replicas": [["cluster", "instances"]], "pdb": [["cluster", "enablePDB"]]},
	"lakekeeper": {"replicas": [["catalog", "replicas"]], "pdb": [["catalog", "podDisruptionBudget", "enabled"]]},
	"trino": {"replicas": [["server", "workers"]], "pdb": []},
	"minio": {"replicas": [["tenant", "pools", 0, "servers"]], "pdb": []},
}

prod_values_file(id) := sprintf("components/%s/values-prod.yaml", [id])

values_doc(file) := d if {
	some d in input.documents
	d.path == file
}

availability contains {"id": "SOC-PROD-001", "msg": sprintf("%s runs %v replica(s) of %s in prod; critical services need at least 2", [id, object.get(values, path, 1), concat(".", [sprintf("%v", [p]) | some p in path])]), "file": file, "line": values_doc(file).line, "doc_path": path} if {
	some id in data.socle.blueprint.critical
	values := input.values[id].prod
	some path in ha_keys[id].replicas
	object.get(values, path, 1) < 2
	file := prod_values_file(id)
}

has_pdb(values, path) if {
	pdb := object.get(values, path, false)
	pdb != false
	pdb != null
	not pdb.enabled == false
	not pdb.create == false
}

availability contains {"id": "SOC-PROD-002", "msg": sprintf("%s has no PodDisruptionBudget in prod (%s)", [id, concat(".", path)]), "file": file, "line": values_doc(file).line, "doc_path": []} if {
	some id in data.socle.blueprint.critical
	values := input.values[id].prod
	some path in ha_keys[id].pdb
	not has_pdb(values, path)
	file := prod_values_file(id)
}
