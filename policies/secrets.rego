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
}

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

reference(v) if regex.match(`^(/|file:|vault:|ref\+|secretref:)`, v)

# Kinds whose fields name secrets rather than hold them, and Secret itself,
# whose data SOC-SEC-001 already refuses as a whole.
reference_kinds := {"ExternalSecret", "SealedSecret", "SecretStore", "ClusterSecretStore", "PushSecret", "Secret"}

# SOC-SEC-003: literal passwords.
violation contains finding("SOC-SEC-003", sprintf("%q holds a literal credential; reference a Secret instead", [key]), leaf.path) if {
	not input.kind in reference_kinds
	# DBT profiles have their own rule (SOC-DBT-001), whose fix is env_var().
	not endswith(object.get(input, "path", ""), "profiles.yml")
	some leaf in input.leaves
	count(leaf.path) > 0
	key := leaf.path[count(leaf.path) - 1]
	is_string(key)
	lower(key) in password_keys
	not reference(leaf.value)
}
