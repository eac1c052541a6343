# Credentials in any structured document (values files, manifests, notes):
# private keys and cloud access keys anywhere, and literal values under keys
# that name a password or secret.
#
# `input` is {"kind": ..., "path": file, "leaves": [{"path": [...], "value": "..."}]}: every
# string of the document with its path. socle flattens the document itself
# because `walk` is not portable between OPA and regorus.
package socle.secrets

finding(id, msg, path) := {"id": id, "msg": msg, "path": path}

key_patterns := {
	"a private key": `-----BEGIN ([A-Z]+ )?PRIVATE KEY-----`,
	"an AWS access key id": `\b(AKIA|ASIA)[0-9A-Z]{16}\b`,
	"a Google API key": `\bAIza[0-9A-Za-z_\-]{35}\b`,
	"a GitHub token": `\bgh[pousr]_[0-9A-Za-z]{36}\b`,
	"a Slack token": `\bxox[abpr]-[0-9A-Za-z-]{10,}\b`,
}

# One pattern for all keys: most strings match none, and one test per
# string is much cheaper than one per kind of key.
any_key := concat("|", [sprintf("(%s)", [p]) | some p in key_patterns])

# SOC-SEC-002: private and cloud keys.
violation contains finding("SOC-SEC-002", sprintf("value looks like %s; keep it in the secret store", [what]), leaf.path) if {
	some leaf in input.leaves
	regex.match(any_key, leaf.value)
	some what, pattern in key_patterns
	regex.match(pattern, leaf.value)
	not shown_only(what, split(leaf.value, "\n"))
}

# A private key block whose body is left out, elided or redacted, as
# documentation and chart values show where a key goes
# (`-----BEGIN RSA PRIVATE KEY-----`, `...` or `REDACTED`, the footer),
# holds no key: every such block of the text is one.
shown_only("a private key", lines) if {
	headers := [i | some i, line in lines; regex.match(key_patterns["a private key"], line)]
	count(headers) > 0
	every i in headers {
		elided_block(lines, i)
	}
}

# AWS's documentation writes its example access key ids ending in
# `EXAMPLE` (`AKIAIOSFODNN7EXAMPLE`): no key AWS issues.
shown_only("an AWS access key id", lines) if {
	every line in lines {
		aws_examples_only(line)
	}
}

aws_examples_only(line) if {
	every id in regex.find_n(key_patterns["an AWS access key id"], line, -1) {
		endswith(id, "EXAMPLE")
	}
}

# The block whose header is line `i` holds no key material: the shortest
# private key in PEM (an Ed25519 one) has 64 characters of base64, so a
# key has at least 40, on the header's line (a key written with `\n`
# escapes) or on the PEM lines that follow it, up to its footer or, with
# none, to the first line that is not PEM.
elided_block(lines, i) if not key_block(lines, i)

key_block(lines, i) if regex.match(`PRIVATE KEY-----.*[A-Za-z0-9+/]{40,}`, lines[i])

key_block(lines, i) if {
	ends := [j | some j, line in lines; j > i; contains(line, "-----END ")]
	count(ends) > 0
	body := array.slice(lines, i + 1, min(ends))
	every line in body {
		pem_line(line)
	}
	sum([count(trim_space(line)) | some line in body]) >= 40
}

key_block(lines, i) if {
	not ended(lines, i)
	breaks := [j | some j, line in lines; j > i; not pem_line(line)]
	body := array.slice(lines, i + 1, min(array.concat(breaks, [count(lines)])))
	sum([count(trim_space(line)) | some line in body]) >= 40
}

ended(lines, i) if {
	some j, line in lines
	j > i
	contains(line, "-----END ")
}

# Base64, or an RFC 1421 header (`Proc-Type: 4,ENCRYPTED`), or blank.
pem_line(line) if regex.match(`^\s*([A-Za-z0-9+/=]+|[A-Za-z-]+: .*)?\s*$`, line)

# Keys (compared in lower case) whose value is a credential.
password_keys := {
	"password", "passwd", "pwd", "apikey", "api_key", "clientsecret", "client_secret",
	"rootpassword", "root_password", "adminpassword", "admin_password",
	"secret_access_key", "aws_secret_access_key", "private_key",
}

# Values that point at a credential rather than being one.
reference(v) if regex.match(`^\s*$`, v)

reference(v) if startswith(v, "$")

reference(v) if contains(v, "{{")

reference(v) if contains(v, "env_var(")

reference(v) if contains(v, "${")

reference(v) if regex.match(`^(/|file:|vault:|ref\+|secretref:|op://)`, v)

# A locally tagged scalar (`api_key: !env_var SONARR_API_KEY`, `!secret
# db_password`, CloudFormation's `!Ref DbPassword`) reaches the rules as its
# tag and its text: the application builds the value from them.
reference(v) if regex.match(`^![A-Za-z][A-Za-z0-9_.-]* `, v)

# A placeholder a reader replaces (`<your-token>`, `<REDACTED>`): no value.
reference(v) if regex.match(`^<[^<>]+>$`, v)

# A value SOPS encrypted: ciphertext, which its decryption turns back into
# the value before anything reads it.
reference(v) if regex.match(`^ENC\[[A-Z0-9_]+,data:`, v)

# Kinds whose fields name secrets rather than hold them, and Secret itself,
# whose data SOC-SEC-001 already refuses as a whole.
reference_kinds := {"ExternalSecret", "SealedSecret", "SecretStore", "ClusterSecretStore", "PushSecret", "Secret"}

# Charts name their credentials after the user or component they belong
# to (`wordpressPassword`, `postgresPassword`): the end of the key counts.
credential_key(key) if lower(key) in password_keys

credential_key(key) if regex.match(`(password|passwd)$`, lower(key))

# An environment variable's name that says its value is a credential
# (`DB_PASSWORD`, `AWS_SECRET_ACCESS_KEY`, `GITHUB_TOKEN`), unless it names
# where one is (`..._FILE`, `..._URL`) or a kind of thing (`SECRET_PROVIDER`,
# a TSIG key's `..._SECRET_ALG`, `SECRET_VERSION`).
credential_variable(name) if {
	n := lower(name)
	regex.match(`(password|passwd|secret|token|api_?key|private_?key|credentials?)`, n)
	not names_no_credential(n)
}

# A lower-case name that says where a credential is, or what kind of thing
# it is, rather than holding one; shared with the Compose rules.
names_no_credential(n) if regex.match(`_(file|path|url|uri|endpoint|name|ref|id|header|type|kind|provider|alg|algorithm|version)$`, n)

# A language model's token counts (`MAX_TOTAL_TOKENS`).
names_no_credential(n) if regex.match(`tokens($|_)`, n)

# A switch (`MYSQL_ALLOW_EMPTY_PASSWORD=yes`), not a credential.
switch(v) if regex.match(`^(?i)(true|false|yes|no|on|off|0|1)$`, v)

# SOC-SEC-003: literal passwords.
violation contains finding("SOC-SEC-003", sprintf("%q holds a literal credential; reference a Secret instead", [key]), leaf.path) if {
	not input.kind in reference_kinds
	# DBT profiles have their own rule (SOC-DBT-001), whose fix is env_var().
	not endswith(object.get(input, "path", ""), "profiles.yml")
	some leaf in input.leaves
	count(leaf.path) > 0
	key := leaf.path[count(leaf.path) - 1]
	is_string(key)
	credential_key(key)
	not reference(leaf.value)
}

# SOC-SEC-003: a container's environment variable set to a literal
# credential (`env: [{name: DB_PASSWORD, value: ...}]`).
violation contains finding("SOC-SEC-003", sprintf("environment variable %q holds a literal credential; use valueFrom.secretKeyRef", [name]), leaf.path) if {
	not input.kind in reference_kinds
	some leaf in input.leaves
	n := count(leaf.path)
	n >= 3
	leaf.path[n - 1] == "value"
	leaf.path[n - 3] == "env"
	not reference(leaf.value)
	not switch(leaf.value)
	not regex.match(`^[a-z][a-z0-9+.-]*://`, leaf.value)
	some other in input.leaves
	other.path == array.concat(array.slice(leaf.path, 0, n - 1), ["name"])
	name := other.value
	credential_variable(name)
	not names_own_secret(leaf.value)
}

# A value that is the name of a Secret the same document refers to (a
# volume's `secretName`, a `secretRef` or `secretKeyRef`): it tells the
# program which Secret to read (an operator's `WEBHOOK_SECRET` naming the
# Secret of the certificate it mounts), and holds no credential itself.
names_own_secret(v) if {
	some other in input.leaves
	n := count(other.path)
	n >= 1
	other.path[n - 1] == "secretName"
	other.value == v
}

names_own_secret(v) if {
	some other in input.leaves
	n := count(other.path)
	n >= 2
	other.path[n - 1] == "name"
	other.path[n - 2] in {"secretRef", "secretKeyRef"}
	other.value == v
}

# SOC-SEC-004: a kustomization generating a Secret from literals or files
# committed beside it. The value is not repeated in the message.
violation contains finding("SOC-SEC-004", sprintf("secretGenerator builds a Secret from %s committed to the repository; generate it from the secret store (ExternalSecret) instead", [what[field]]), leaf.path) if {
	some leaf in input.leaves
	count(leaf.path) >= 3
	leaf.path[0] == "secretGenerator"
	field := leaf.path[2]
	what := {"literals": "a literal value", "envs": "an env file", "env": "an env file", "files": "a file"}
	what[field]
}
