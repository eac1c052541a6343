package socle.content_test

import data.socle.content

ids(result) := {f.id | some f in result}

doc(path, kind, content) := {"path": path, "line": 1, "kind": kind, "apiVersion": "", "name": "", "namespace": "", "labels": {}, "annotations": {}, "content": content}

profile(password) := {"files": [], "documents": [doc("dbt/profiles.yml", "", {"platform": {"target": "dev", "outputs": {"dev": {"type": "trino", "user": "dbt", "password": password}}}})]}

test_env_var_password_passes if {
	count(content.violation) == 0 with input as profile("{{ env_var('TRINO_PASSWORD') }}")
}

test_literal_password_denied if {
	"SOC-DBT-001" in ids(content.violation) with input as profile("hunter2")
}

models_repo(schema) := {"files": ["dbt/models/staging/orders.sql"], "documents": [doc("dbt/models/staging/schema.yml", "", schema)]}

test_documented_tested_model_passes if {
	schema := {"models": [{"name": "orders", "description": "Orders", "columns": [{"name": "id", "data_tests": ["unique"]}]}]}
	count(content.warning) == 0 with input as models_repo(schema)
}

test_undocumented_model_warned if {
	"SOC-DBT-002" in ids(content.warning) with input as models_repo({"models": [{"name": "orders", "columns": [{"name": "id", "data_tests": ["unique"]}]}]})
}

test_untested_model_warned if {
	"SOC-DBT-002" in ids(content.warning) with input as models_repo({"models": [{"name": "orders", "description": "Orders"}]})
}

note(text) := {"files": [], "documents": [doc("notebooks/a.zpln", "", {"paragraphs": [{"text": "%md\n# Title"}, {"text": text}]})]}

test_allowed_interpreters_pass if {
	count(content.violation) == 0 with input as note("%trino\nselect 1")
	count(content.violation) == 0 with input as note("%spark.pyspark\ndf = spark.table('x')")
}

settings_doc(env, names) := doc(sprintf("components/zeppelin/overlays/%s/interpreter.json", [env]), "", {"interpreterSettings": {n: {"name": n} | some n in names}})

note_with_settings(text, envs) := {"files": [], "documents": array.concat(
	[doc("notebooks/a.zpln", "", {"paragraphs": [{"text": "%md\n# Title"}, {"text": text}]})],
	[settings_doc(env, names) | some env, names in envs],
)}

test_interpreters_judged_against_the_union_of_environments if {
	envs := {"dev": ["spark", "python", "trino", "md"], "prod": ["trino", "md"]}
	count(content.violation) == 0 with input as note_with_settings("%spark.pyspark\ndf = spark.table('x')", envs)
	count(content.violation) == 0 with input as note_with_settings("%python\nprint(1)", envs)
}

test_interpreter_no_environment_enables_denied if {
	envs := {"dev": ["spark", "trino", "md"], "prod": ["trino", "md"]}
	"SOC-ZEP-001" in ids(content.violation) with input as note_with_settings("%python\nprint(1)", envs)
	count(content.violation) == 0 with input as note_with_settings("%spark.sql\nselect 1", envs)
}

test_shell_interpreter_denied if {
	"SOC-ZEP-001" in ids(content.violation) with input as note("%sh\nls /")
}

test_credential_in_note_denied if {
	"SOC-ZEP-002" in ids(content.violation) with input as note("%python\npassword = 'hunter22'")
}

rules(annotations) := {"files": ["runbooks/trino-down.md"], "documents": [doc("observability/rules.yaml", "PrometheusRule", {"spec": {"groups": [{"name": "g", "rules": [{"alert": "TrinoDown", "expr": "up == 0", "annotations": annotations}]}]}})]}

test_alert_with_runbook_passes if {
	count(content.violation) == 0 with input as rules({"runbook_url": "https://git.example/acme/platform/-/blob/main/runbooks/trino-down.md"})
	count(content.violation) == 0 with input as rules({"runbook_url": "runbooks/trino-down.md"})
}

test_alert_without_runbook_denied if {
	"SOC-OBS-001" in ids(content.violation) with input as rules({})
}

# An alert with no runbook beside one linking outside the repository: each
# is one finding (an engine once failed on the second rule's reference
# that the first alert leaves undefined).
test_alerts_with_and_without_runbooks_each_denied if {
	input_rules := [
		{"alert": "ZfsPool", "expr": "zfs > 0", "annotations": {"summary": "pool"}},
		{"alert": "CertsAbsent", "expr": "absent(up)", "annotations": {"runbook_url": "https://gitlab.example/mixin/-/blob/master/RUNBOOK.md#absent"}},
	]
	found := content.violation with input as {"files": [], "documents": [doc("rules.yaml", "PrometheusRule", {"spec": {"groups": [{"name": "g", "rules": input_rules}]}})]}
	count(found) == 2
	{f.id | some f in found} == {"SOC-OBS-001"}
}

test_alert_with_missing_runbook_denied if {
	"SOC-OBS-001" in ids(content.violation) with input as rules({"runbook_url": "https://git.example/acme/platform/blob/main/runbooks/nope.md"})
}

app(component) := {"path": "argocd/prod/applications/app.yaml", "line": 1, "kind": "Application", "apiVersion": "argoproj.io/v1alpha1", "name": "app", "namespace": "argocd", "labels": {"app.kubernetes.io/component": component}, "annotations": {}, "content": {}}

test_component_with_runbook_passes if {
	count(content.violation) == 0 with input as {"files": ["runbooks/components/trino.md"], "documents": [app("trino")]}
}

test_component_without_runbook_denied if {
	"SOC-OBS-002" in ids(content.violation) with input as {"files": ["runbooks/components/airflow.md"], "documents": [app("trino")]}
}

test_runbook_elsewhere_does_not_count if {
	"SOC-OBS-002" in ids(content.violation) with input as {"files": ["docs/runbooks/components/trino.md"], "documents": [app("trino")]}
}

test_application_without_component_label_ignored if {
	unlabelled := object.union(object.remove(app("trino"), {"labels"}), {"labels": {}})
	count(content.violation) == 0 with input as {"files": [], "documents": [unlabelled]}
}

# Any YAML may sit where the content rules look (another tool's models/
# folder holding a list, a note that is not a mapping, alert rules of an
# unexpected shape): it is judged for what it declares, never a failure.
test_content_of_other_shapes_is_judged_not_failed if {
	# A list in models/ declares no model: orders.sql stays undocumented.
	"SOC-DBT-002" in ids(content.warning) with input as models_repo(["a", "b"])
	"SOC-DBT-002" in ids(content.warning) with input as models_repo({"models": ["orders", 3]})
	documented := {"models": ["x", {"name": "orders", "description": "Orders", "data_tests": ["unique"]}]}
	count(content.warning) == 0 with input as models_repo(documented)
	notes := {"files": [], "documents": [
		doc("notebooks/a.zpln", "", ["%sh ls"]),
		doc("notebooks/b.zpln", "", {"paragraphs": ["%sh ls", {"text": 5}, {"text": "%sh\nls /"}]}),
	]}
	found := content.violation with input as notes
	{[f.file, f.id] | some f in found} == {["notebooks/b.zpln", "SOC-ZEP-001"]}
	rules := {"spec": {"groups": ["g", {"name": "h", "rules": ["r", {"alert": "Down", "expr": "up == 0", "annotations": {"runbook_url": 5}}]}]}}
	alerts := content.violation with input as {"files": [], "documents": [doc("rules.yaml", "PrometheusRule", rules)]}
	{f.id | some f in alerts} == {"SOC-OBS-001"}
	count(alerts) == 1
}
