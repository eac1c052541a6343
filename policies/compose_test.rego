package socle.compose_test

import data.socle.compose

ids(result) := {f.id | some f in result}

doc(path, content) := {"path": path, "line": 1, "kind": "", "apiVersion": "", "name": "", "namespace": "", "labels": {}, "annotations": {}, "content": content}

repo(content) := {"files": [], "documents": [doc("compose/dev/compose.yaml", content)]}

healthy := {"test": ["CMD", "pg_isready"]}

good := {"services": {
	"db": {"image": "postgres:17.6", "environment": {"POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:?set it}"}, "healthcheck": healthy, "ports": ["127.0.0.1:5432:5432"], "deploy": {"resources": {"limits": {"memory": "1G"}}}},
	"init": {"image": "postgres:17.6", "restart": "no", "depends_on": {"db": {"condition": "service_healthy"}}, "deploy": {"resources": {"limits": {"memory": "128M"}}}},
}, "x-socle": {"host": {"memory": "2G"}}}

# `good` with fields of one service replaced (a deep merge) or removed.
set(svc, fields) := object.union(good, {"services": {svc: fields}})

without(svc, keys) := object.union(object.remove(good, ["services"]), {"services": object.union(object.remove(good.services, [svc]), {svc: object.remove(good.services[svc], keys)})})

test_good_file_passes if {
	count(compose.violation) == 0 with input as repo(good)
	count(compose.warning) == 0 with input as repo(good)
}

test_literal_password_denied if {
	bad := set("db", {"environment": {"POSTGRES_PASSWORD": "hunter2"}})
	"SOC-CMP-001" in ids(compose.violation) with input as repo(bad)
}

test_literal_password_in_a_list_denied if {
	bad := set("db", {"environment": ["POSTGRES_PASSWORD=hunter2", "PGDATA=/data"]})
	"SOC-CMP-001" in ids(compose.violation) with input as repo(bad)
}

# A name says a credential; a suffix may say the value only points at one
# (Docker's `_FILE` secrets) or names a kind of thing.
test_credential_names_and_what_they_point_at if {
	pointing := {"API_SECRET_FILE": "/run/secrets/api_secret", "SECRET_PROVIDER": "1password", "KEYCLOAK_REALM": "acme", "TOKEN_URL": "https://sso.example/token", "MYSQL_ALLOW_EMPTY_PASSWORD": "yes", "MAX_NEW_TOKENS": "512"}
	count(compose.violation) == 0 with input as repo(set("db", {"environment": pointing}))
	every name in ["ENCRYPTION_KEY", "APIKEY", "SECRET_KEY_BASE", "GITHUB_TOKEN"] {
		"SOC-CMP-001" in ids(compose.violation) with input as repo(set("db", {"environment": {name: "s3cr3t-value"}}))
	}
}

test_latest_and_untagged_images_denied if {
	"SOC-CMP-002" in ids(compose.violation) with input as repo(set("db", {"image": "postgres:latest"}))
	"SOC-CMP-002" in ids(compose.violation) with input as repo(set("db", {"image": "registry:5000/postgres"}))
	count(compose.violation) == 0 with input as repo(set("db", {"image": "postgres@sha256:0123"}))
}

test_missing_healthcheck_warned_but_not_for_one_shot if {
	bad := without("db", ["healthcheck"])
	{f.doc_path | some f in compose.warning; f.id == "SOC-CMP-003"} == {["services", "db"]} with input as repo(bad)
}

test_docker_socket_denied_unless_a_reason_is_recorded if {
	mounted := set("db", {"volumes": ["/var/run/docker.sock:/var/run/docker.sock"]})
	"SOC-CMP-004" in ids(compose.violation) with input as repo(mounted)
	reasoned := object.union(mounted, {"services": {"db": {"x-socle": {"docker-socket": "starts job containers"}}}})
	not "SOC-CMP-004" in ids(compose.violation) with input as repo(reasoned)
	"SOC-CMP-005" in ids(compose.warning) with input as repo(reasoned)
}

test_obsolete_version_warned if {
	"SOC-CMP-006" in ids(compose.warning) with input as repo(object.union(good, {"version": "3.8"}))
}

test_waiting_for_start_only_warned if {
	"SOC-CMP-007" in ids(compose.warning) with input as repo(set("init", {"depends_on": ["db"]}))
	"SOC-CMP-007" in ids(compose.warning) with input as repo(set("init", {"depends_on": {"db": {"condition": "service_started"}}}))
}

test_port_on_every_interface_warned if {
	"SOC-CMP-008" in ids(compose.warning) with input as repo(set("db", {"ports": ["5432:5432"]}))
}

test_services_must_fit_the_host if {
	over := set("db", {"deploy": {"resources": {"limits": {"memory": "2G"}}}})
	"SOC-CMP-009" in ids(compose.violation) with input as repo(over)
	unlimited := without("init", ["deploy"])
	"SOC-CMP-009" in ids(compose.violation) with input as repo(unlimited)
}

test_other_files_are_not_compose_files if {
	r := {"files": [], "documents": [doc("components/db/values.yaml", object.union(good, {"version": "3.8"}))]}
	count(compose.warning) == 0 with input as r
}

test_connection_to_an_unknown_host_denied if {
	ok := set("init", {"environment": {"DATABASE_URL": "postgresql://app:${APP_DB_PASSWORD}@db:5432/app", "S3": "s3://bucket", "API": "http://localhost:8080/x", "EXT": "https://api.example.org/v1"}})
	count(compose.violation) == 0 with input as repo(ok)
	bad := set("init", {"environment": {"DATABASE_URL": "postgresql+psycopg2://app:${APP_DB_PASSWORD}@postgres:5432/app"}})
	{f.msg | some f in compose.violation; f.id == "SOC-CMP-010"} == {"service \"init\" connects to host \"postgres\" (DATABASE_URL), which no service of this file is"} with input as repo(bad)
	# An npm package's scope is no user's host.
	npm := set("init", {"environment": {"NODE_OPTIONS": "--require @opentelemetry/auto-instrumentations-node/register"}})
	count(compose.violation) == 0 with input as repo(npm)
	user := set("init", {"environment": {"DSN": "app@postgres/app"}})
	"SOC-CMP-010" in ids(compose.violation) with input as repo(user)
	json_url := set("init", {"environment": {"CONN": "{\"extra\": {\"endpoint_url\": \"http://minio:9000\"}}"}})
	"SOC-CMP-010" in ids(compose.violation) with input as repo(json_url)
}

test_dependency_on_an_unknown_service_denied if {
	"SOC-CMP-011" in ids(compose.violation) with input as repo(set("init", {"depends_on": {"cache": {"condition": "service_healthy"}}}))
	"SOC-CMP-011" in ids(compose.violation) with input as repo(set("init", {"depends_on": ["cache"]}))
}

test_committed_env_file_denied if {
	r := {"files": ["compose/dev/compose.yaml", "compose/dev/.env"], "documents": [doc("compose/dev/compose.yaml", good)]}
	"SOC-CMP-012" in ids(compose.violation) with input as r
	ok := {"files": ["compose/dev/compose.yaml", "compose/dev/.env.example"], "documents": [doc("compose/dev/compose.yaml", good)]}
	count(compose.violation) == 0 with input as ok
}
