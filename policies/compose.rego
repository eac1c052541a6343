# Rules on Docker Compose files (compose.yaml, docker-compose.yml and their
# overrides): the single-host topology socle renders for development, and
# any Compose file of a repository. `input` is the repository (see
# repository.rego); a finding names the file and the field at fault.
package socle.compose

import data.socle.secrets

finding(id, msg, d, path) := {"id": id, "msg": msg, "file": d.path, "line": d.line, "doc_path": path}

base_name(path) := name if {
	parts := split(path, "/")
	name := parts[count(parts) - 1]
}

main_names := {"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}

# The main file of a project, which holds every service whole.
main_file(path) if base_name(path) in main_names

# An override (compose.override.yaml, docker-compose.prod.yml): partial
# services, merged over the main file.
override_file(path) if {
	name := base_name(path)
	some prefix in ["compose.", "docker-compose."]
	startswith(name, prefix)
	some suffix in [".yaml", ".yml"]
	endswith(name, suffix)
	not name in main_names
}

files := [d | some d in input.documents; main_file(d.path); is_object(d.content)]

all_files := array.concat(files, [d | some d in input.documents; override_file(d.path); is_object(d.content)])

services(d) := object.get(d.content, "services", {})

# The environment as (name, value, path) whether written as a map or a list.
environment(svc, name) := [[k, sprintf("%v", [v]), ["services", name, "environment", k]] |
	some k, v in object.get(svc, "environment", {})
] if is_object(object.get(svc, "environment", {}))

environment(svc, name) := [[k, v, ["services", name, "environment", i]] |
	some i, entry in svc.environment
	is_string(entry)
	contains(entry, "=")
	k := split(entry, "=")[0]
	v := substring(entry, count(k) + 1, -1)
] if is_array(svc.environment)

credential_markers := ["pass", "secret", "token", "credential", "pwd", "private"]

# A variable whose name says it holds a credential (`DB_PASSWORD`,
# `ENCRYPTION_KEY`, `APIKEY`; not `KEYCLOAK_REALM`), unless the name says
# its value only points at one (`API_SECRET_FILE: /run/secrets/api`, Docker's
# convention for secrets) or names a kind of thing (`SECRET_PROVIDER`).
credential_name(k) if {
	n := lower(k)
	credential_word(n)
	not secrets.names_no_credential(n)
}

credential_word(n) if {
	some m in credential_markers
	contains(n, m)
}

credential_word(n) if regex.match(`key($|_)`, n)

# A value that comes from the environment or .env, or is empty.
interpolated(v) if contains(v, "${")

interpolated(v) if regex.match(`^\$[A-Za-z_][A-Za-z0-9_]*$`, v)

interpolated(v) if v == ""

# SOC-CMP-001: credentials are variables (.env, git-ignored), never literals.
violation contains finding("SOC-CMP-001", sprintf("service %q sets %s to a literal; write ${%s} and keep the value in .env (git-ignored)", [name, e[0], e[0]]), d, e[2]) if {
	some d in all_files
	some name, svc in services(d)
	some e in environment(svc, name)
	credential_name(e[0])
	not interpolated(e[1])
	not secrets.switch(e[1])
}

pinned(image) if contains(image, "@sha256:")

pinned(image) if {
	not contains(image, "@")
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	tag := split(last, ":")[1]
	tag != ""
	tag != "latest"
}

# SOC-CMP-002: images pinned to a version or a digest.
violation contains finding("SOC-CMP-002", sprintf("service %q uses image %q; pin a version tag or a digest, never latest", [name, svc.image]), d, ["services", name, "image"]) if {
	some d in all_files
	some name, svc in services(d)
	is_string(svc.image)
	not contains(svc.image, "${")
	not pinned(svc.image)
}

one_shot(svc) if svc.restart == "no"

one_shot(svc) if svc.restart == false

one_shot(svc) if startswith(object.get(svc, "restart", ""), "on-failure")

has_healthcheck(svc) if {
	svc.healthcheck.test
	not svc.healthcheck.disable == true
}

# SOC-CMP-003 (warn): long-running services have a health check, which
# `depends_on: {condition: service_healthy}` and `docker compose ps` read.
warning contains finding("SOC-CMP-003", sprintf("service %q has no healthcheck; its dependents cannot wait for it to be ready", [name]), d, ["services", name]) if {
	some d in files
	some name, svc in services(d)
	not one_shot(svc)
	not has_healthcheck(svc)
}

socket_mount(v) if {
	is_string(v)
	contains(v, "docker.sock")
}

socket_mount(v) if {
	is_object(v)
	contains(object.get(v, "source", ""), "docker.sock")
}

socket_reason(svc) := r if {
	r := svc["x-socle"]["docker-socket"]
	is_string(r)
	r != ""
}

# SOC-CMP-004: the host's Docker socket gives a container control of the
# host. Denied, unless the service records why it needs it (then SOC-CMP-005
# reports it, so it stays visible).
violation contains finding("SOC-CMP-004", sprintf("service %q mounts the Docker socket, which gives it control of the host; remove it, or record the reason under x-socle: {docker-socket: ...}", [name]), d, ["services", name, "volumes", i]) if {
	some d in all_files
	some name, svc in services(d)
	some i, v in object.get(svc, "volumes", [])
	socket_mount(v)
	not socket_reason(svc)
}

warning contains finding("SOC-CMP-005", sprintf("service %q mounts the Docker socket (control of the host): %s", [name, socket_reason(svc)]), d, ["services", name, "volumes", i]) if {
	some d in all_files
	some name, svc in services(d)
	some i, v in object.get(svc, "volumes", [])
	socket_mount(v)
}

# SOC-CMP-006 (warn): `version` is obsolete in the Compose specification.
warning contains finding("SOC-CMP-006", "the top-level version key is obsolete (the Compose specification ignores it); remove it", d, ["version"]) if {
	some d in all_files
	"version" in object.keys(d.content)
}

# SOC-CMP-007 (warn): waiting for a dependency that has a health check means
# waiting for it to be healthy, not only started.
warning contains finding("SOC-CMP-007", sprintf("service %q starts as soon as %q has started; it has a healthcheck: use depends_on: {%s: {condition: service_healthy}}", [name, dep, dep]), d, ["services", name, "depends_on"]) if {
	some d in files
	some name, svc in services(d)
	some dep in started_only(svc)
	has_healthcheck(services(d)[dep])
}

started_only(svc) := {dep | some dep in svc.depends_on; is_string(dep)} if is_array(svc.depends_on)

started_only(svc) := {dep |
	some dep, how in svc.depends_on
	object.get(how, "condition", "service_started") == "service_started"
} if is_object(svc.depends_on)

published_on_all(p) if {
	is_string(p)
	count(split(p, ":")) < 3
}

published_on_all(p) if {
	is_number(p)
}

published_on_all(p) if {
	is_object(p)
	p.published
	not p.host_ip
}

# SOC-CMP-008 (warn): a port published without an address is open on every
# interface of the host (and Docker's rules bypass the host's firewall).
warning contains finding("SOC-CMP-008", sprintf("service %q publishes port %v on every interface of the host; bind it to an address, e.g. 127.0.0.1:%v", [name, p, p]), d, ["services", name, "ports", i]) if {
	some d in files
	some name, svc in services(d)
	some i, p in object.get(svc, "ports", [])
	published_on_all(p)
}

# Megabytes in Compose's byte notation.
megabytes(q) := to_number(n) / 1024 if {
	[_, n] := regex.find_all_string_submatch_n(`^([0-9]+)[kK][bB]?$`, q, 1)[0]
}

megabytes(q) := to_number(n) if {
	[_, n] := regex.find_all_string_submatch_n(`^([0-9]+)[mM][bB]?$`, q, 1)[0]
}

megabytes(q) := to_number(n) * 1024 if {
	[_, n] := regex.find_all_string_submatch_n(`^([0-9]+)[gG][bB]?$`, q, 1)[0]
}

memory_limit(svc) := svc.deploy.resources.limits.memory

# A helper, not `not megabytes(memory_limit(svc))`: OPA evaluates a nested
# call outside the negation, so an absent limit would make the rule undefined.
has_memory_limit(svc) if megabytes(memory_limit(svc))

host(d) := d.content["x-socle"].host

# SOC-CMP-009: a file that declares its host (x-socle: {host: {memory}})
# fits it: every service has a memory limit, and the limits add up to no
# more than the host's memory.
violation contains finding("SOC-CMP-009", sprintf("service %q has no memory limit, so the services cannot be shown to fit the host's %s; set deploy.resources.limits.memory", [name, host(d).memory]), d, ["services", name]) if {
	some d in files
	host(d).memory
	some name, svc in services(d)
	not has_memory_limit(svc)
}

violation contains finding("SOC-CMP-009", sprintf("the services' memory limits add up to %v MB, more than the host's %s (%v MB); lower them or declare a larger host", [total, host(d).memory, megabytes(host(d).memory)]), d, ["x-socle", "host", "memory"]) if {
	some d in files
	total := sum([megabytes(memory_limit(svc)) | some svc in services(d)])
	total > megabytes(host(d).memory)
}

# Hosts a service's settings connect to: the host of a URL of a network
# scheme (not an object store's bucket, s3://), or the host after a
# user's `@` (after the user, not a word's start: `@scope/package` is an
# npm package); a name with a dot (outside the host) does not match.
url_hosts(v) := {m[1] |
	some m in regex.find_all_string_submatch_n(`(?:[^\s@/]@|(?:https?|postgres(?:ql)?(?:\+[a-z0-9]+)?|jdbc:postgresql|mysql|redis|amqp|kafka|mongodb)://)([A-Za-z][A-Za-z0-9_-]*)(?::[0-9]+)?(?:/|"|$)`, v, -1)
}

known_hosts(d) := {h |
	some name, svc in services(d)
	some h in array.concat([name, object.get(svc, "hostname", name), object.get(svc, "container_name", name)], aliases(svc))
}

aliases(svc) := [a |
	some _, net in object.get(svc, "networks", {})
	is_object(net)
	some a in object.get(net, "aliases", [])
]

# SOC-CMP-010: a service connects only to services of its file (or to
# itself through localhost): a host nothing answers to is a broken link.
violation contains finding("SOC-CMP-010", sprintf("service %q connects to host %q (%s), which no service of this file is", [name, h, e[0]]), d, e[2]) if {
	some d in files
	some name, svc in services(d)
	some e in environment(svc, name)
	some h in url_hosts(e[1])
	not h in known_hosts(d)
	h != "localhost"
}

# SOC-CMP-011: depends_on names services of the file.
violation contains finding("SOC-CMP-011", sprintf("service %q depends on %q, which is not a service of this file", [name, dep]), d, ["services", name, "depends_on"]) if {
	some d in files
	some name, svc in services(d)
	some dep in depends_on(svc)
	not services(d)[dep]
}

depends_on(svc) := {dep | some dep in svc.depends_on} if is_array(svc.depends_on)

depends_on(svc) := object.keys(svc.depends_on) if is_object(svc.depends_on)

# SOC-CMP-012: a Compose project's .env holds its credentials: it is kept out
# of git (the generated .gitignore does), a .env.example without values is
# committed instead.
violation contains {"id": "SOC-CMP-012", "msg": sprintf("%s is committed: a Compose project's .env holds its credentials; remove it from git, ignore it (.gitignore) and commit a .env.example without values", [f]), "file": f, "line": 1, "doc_path": []} if {
	some f in input.files
	base_name(f) == ".env"
}
