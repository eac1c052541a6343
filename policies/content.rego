# Rules on the platform's working content: the DBT project, Zeppelin notes
# and alert rules. `input` is the repository (see repository.rego).
package socle.content

finding(id, msg, d, path) := {"id": id, "msg": msg, "file": d.path, "line": d.line, "doc_path": path}

# --- DBT ------------------------------------------------------------------

profiles := [d | some d in input.documents; endswith(d.path, "profiles.yml")]

credential_fields := {"password", "jwt_token", "token", "private_key", "private_key_passphrase", "client_secret", "keyfile_json", "refresh_token"}

# SOC-DBT-001: credentials in profiles.yml come from env_var().
violation contains finding("SOC-DBT-001", sprintf("profile %q target %q sets %s literally; use \"{{ env_var('...') }}\"", [profile, target, field]), d, [profile, "outputs", target, field]) if {
	some d in profiles
	some profile, body in d.content
	is_object(body)
	some target, output in object.get(body, "outputs", {})
	some field, value in output
	field in credential_fields
	not contains(sprintf("%v", [value]), "env_var(")
}

# In a models/ folder at any depth (string tests: this runs on every file and
# document of the repository, where a regular expression costs far more).
in_models(path) if startswith(path, "models/")

in_models(path) if contains(path, "/models/")

model_yaml(path) if {
	in_models(path)
	endswith(path, ".yml")
}

model_yaml(path) if {
	in_models(path)
	endswith(path, ".yaml")
}

model_files := {f | some f in input.files; endswith(f, ".sql"); in_models(f)}

model_name(f) := trim_suffix(parts[count(parts) - 1], ".sql") if parts := split(f, "/")

project_root(f) := substring(f, 0, indexof(f, "models/"))

# The models a models/ YAML file declares. Any YAML may sit in a models/
# folder (another tool's, a list): what is not a dbt mapping declares none.
models_of(d) := [m |
	is_object(d.content)
	some m in object.get(d.content, "models", [])
	is_object(m)
]

# "project root|model name" of every documented model.
described contains sprintf("%s|%s", [project_root(d.path), m.name]) if {
	some d in input.documents
	model_yaml(d.path)
	some m in models_of(d)
	object.get(m, "description", "") != ""
}

tested(m) if count(object.get(m, "data_tests", object.get(m, "tests", []))) > 0

tested(m) if {
	some c in object.get(m, "columns", [])
	is_object(c)
	count(object.get(c, "data_tests", object.get(c, "tests", []))) > 0
}

# "project root|model name" of every tested model.
tested_models contains sprintf("%s|%s", [project_root(d.path), m.name]) if {
	some d in input.documents
	model_yaml(d.path)
	some m in models_of(d)
	tested(m)
}

# SOC-DBT-002 (warn): every model is documented and tested.
warning contains {"id": "SOC-DBT-002", "msg": sprintf("model %q has no description in a models/ YAML file", [model_name(f)]), "file": f, "line": 1, "doc_path": []} if {
	some f in model_files
	not sprintf("%s|%s", [project_root(f), model_name(f)]) in described
}

warning contains {"id": "SOC-DBT-002", "msg": sprintf("model %q has no test (model or column data_tests)", [model_name(f)]), "file": f, "line": 1, "doc_path": []} if {
	some f in model_files
	not sprintf("%s|%s", [project_root(f), model_name(f)]) in tested_models
}

# --- Zeppelin notes -------------------------------------------------------

notes := [d | some d in input.documents; endswith(d.path, ".zpln"); is_object(d.content)]

# A note's paragraphs with their code (a paragraph without text has none).
paragraphs(d) := [[i, text] |
	some i, p in object.get(d.content, "paragraphs", [])
	is_object(p)
	text := object.get(p, "text", "")
	is_string(text)
]

# The %-names each interpreter setting of the platform serves.
setting_interpreters := {
	"spark": {"spark", "spark.pyspark", "spark.sql", "spark.conf", "spark.ipyspark", "pyspark", "sql"},
	"python": {"python", "python.sql", "ipython"},
	"trino": {"trino"},
	"md": {"md"},
}

# The settings rendered for each environment (components/zeppelin/overlays/
# <env>/interpreter.json).
rendered_settings contains name if {
	some d in input.documents
	regex.match(`(^|/)components/zeppelin/overlays/[^/]+/interpreter\.json$`, d.path)
	is_object(d.content)
	some name, _ in object.get(d.content, "interpreterSettings", {})
}

# Interpreters a note may use: those of the settings some environment
# enables. Notes are shared by every environment (notebooks/, included by
# each overlay), so a note is judged against the union: a paragraph on an
# interpreter only dev enables passes, and fails where it is not enabled.
# Without rendered settings, every interpreter of the platform (Spark,
# Python, Trino, Markdown); never a shell or file-system access.
allowed_interpreters := {n | some s in rendered_settings; some n in object.get(setting_interpreters, s, set())} if {
	count(rendered_settings) > 0
} else := {n | some names in setting_interpreters; some n in names}

interpreter(text) := name if {
	first := trim_space(split(text, "\n")[0])
	startswith(first, "%")
	name := split(split(trim_prefix(first, "%"), " ")[0], "(")[0]
}

# SOC-ZEP-001: notes use allowed interpreters only.
violation contains finding("SOC-ZEP-001", sprintf("paragraph %d uses interpreter %%%s, which is not allowed (allowed: %s)", [i + 1, name, concat(", ", sort(allowed_interpreters))]), d, ["paragraphs", i, "text"]) if {
	some d in notes
	some [i, text] in paragraphs(d)
	name := interpreter(text)
	not name in allowed_interpreters
}

# SOC-ZEP-002: no credentials written in a note's code.
violation contains finding("SOC-ZEP-002", sprintf("paragraph %d writes a credential literally; read it from the interpreter settings or the environment", [i + 1]), d, ["paragraphs", i, "text"]) if {
	some d in notes
	some [i, text] in paragraphs(d)
	regex.match(`(?i)(password|passwd|secret|token|access[_-]?key)["']?\s*[:=]\s*["'][^"'$\{]{4,}["']`, text)
}

# --- Alert rules ----------------------------------------------------------

alert_rules contains {"d": d, "path": ["spec", "groups", g, "rules", r], "rule": rule} if {
	some d in input.documents
	d.kind == "PrometheusRule"
	some g, group in object.get(d.content, ["spec", "groups"], [])
	is_object(group)
	some r, rule in object.get(group, "rules", [])
	is_object(rule)
	rule.alert
}

files := {f | some f in input.files}

# A runbook URL resolves to a file of this repository when it is a relative
# path, or a link into the repository's browsable tree.
runbook_path(url) := trim_prefix(url, "./") if not contains(url, "://")

runbook_path(url) := path if {
	contains(url, "://")
	parts := regex.split(`/(-/)?(blob|tree|src/branch|src)/[^/]+/`, url)
	count(parts) == 2
	path := split(parts[1], "#")[0]
}

resolves(url) if {
	is_string(url)
	runbook_path(url) in files
}

# SOC-OBS-001: every alert links a runbook that exists.
violation contains finding("SOC-OBS-001", sprintf("alert %s has no runbook_url annotation", [json.marshal(a.rule.alert)]), a.d, a.path) if {
	some a in alert_rules
	not a.rule.annotations.runbook_url
}

violation contains finding("SOC-OBS-001", sprintf("alert %s links runbook %s, which is not a file of this repository", [json.marshal(a.rule.alert), json.marshal(url)]), a.d, array.concat(a.path, ["annotations", "runbook_url"])) if {
	some a in alert_rules
	url := a.rule.annotations.runbook_url
	not resolves(url)
}

# --- Runbooks -------------------------------------------------------------

# Components deployed by ArgoCD, named by the Application's component label.
deployed_components contains {"d": d, "component": c} if {
	some d in input.documents
	d.kind == "Application"
	d.apiVersion == "argoproj.io/v1alpha1"
	c := d.labels["app.kubernetes.io/component"]
}

# SOC-OBS-002: every deployed component has its runbook, so that whoever is
# on call for it finds its health checks, failures and restore steps.
violation contains finding("SOC-OBS-002", sprintf("component %q is deployed but has no runbook %s", [a.component, runbook]), a.d, ["metadata", "labels", "app.kubernetes.io/component"]) if {
	some a in deployed_components
	runbook := sprintf("runbooks/components/%s.md", [a.component])
	not runbook in files
}
