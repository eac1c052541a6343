package socle.secrets_test

import data.socle.secrets

ids(result) := {f.id | some f in result}

# The input socle builds: every string leaf with its path.
doc(kind, leaves) := {"kind": kind, "leaves": [{"path": p, "value": v} | some [p, v] in leaves]}

test_private_key_denied if {
	"SOC-SEC-002" in ids(secrets.violation) with input as doc("", [[["tls", "key"], "-----BEGIN RSA PRIVATE KEY-----\nMIIEogIBAAKCAQEAvLYcyu8f3skuRyUgeeNpeDvYBCDcgq+LsWap6zbX5f8oLqp4\n-----END RSA PRIVATE KEY-----"]])
	# Where a chart's values show the key goes: an empty or redacted
	# block, a header alone; no key.
	not "SOC-SEC-002" in ids(secrets.violation) with input as doc("", [[["oci", "privateKey"], "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n"]])
	not "SOC-SEC-002" in ids(secrets.violation) with input as doc("", [[["jwt"], "-----BEGIN EC PRIVATE KEY-----\nREDACTED\n-----END EC PRIVATE KEY-----"]])
	not "SOC-SEC-002" in ids(secrets.violation) with input as doc("", [[["tls-key"], "-----BEGIN PRIVATE KEY-----"]])
	not "SOC-SEC-002" in ids(secrets.violation) with input as doc("", [[["accessKeyId"], "AKIAIOSFODNN7EXAMPLE"]])
	"SOC-SEC-002" in ids(secrets.violation) with input as doc("", [[["accessKeyId"], "AKIAIOSFODNN7ABCDEFG"]])
	# A key cut short of its footer is still one.
	"SOC-SEC-002" in ids(secrets.violation) with input as doc("", [[["k"], "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF"]])
}

test_cloud_key_denied if {
	"SOC-SEC-002" in ids(secrets.violation) with input as doc("", [[["aws", "id"], "AKIAABCDEFGHIJKLMNOP"]])
}

test_plain_values_pass if {
	count(secrets.violation) == 0 with input as doc("", [[["image", "tag"], "1.2.3"], [["existingSecret"], "db-credentials"]])
}

test_literal_password_denied if {
	"SOC-SEC-003" in ids(secrets.violation) with input as doc("", [[["db", "password"], "hunter2"]])
}

test_password_reference_passes if {
	count(secrets.violation) == 0 with input as doc("", [[["db", "password"], "${DB_PASSWORD}"], [["oidc", "clientSecret"], "$oidc.keycloak.clientSecret"]])
}

test_locally_tagged_values_pass if {
	count(secrets.violation) == 0 with input as doc("", [
		[["sonarr", "series", "api_key"], "!env_var SONARR_API_KEY"],
		[["db", "password"], "!secret db_password"],
	])
}

test_a_literal_beside_a_tag_is_denied if {
	"SOC-SEC-003" in ids(secrets.violation) with input as doc("", [[["db", "password"], "env_var hunter2"]])
}

test_external_secret_field_names_pass if {
	count(secrets.violation) == 0 with input as doc("ExternalSecret", [[["spec", "data", 0, "secretKey"], "password"]])
}

test_chart_style_password_key_denied if {
	"SOC-SEC-003" in ids(secrets.violation) with input as doc("", [[["wordpressPassword"], "foo"]])
}

test_password_key_names_pass if {
	count(secrets.violation) == 0 with input as doc("", [
		[["auth", "existingSecret"], "wordpress-credentials"],
		[["auth", "secretKeys", "userPasswordKey"], "password"],
		[["passwordFile"], "/run/secrets/password"],
	])
}

test_literal_credential_in_env_denied if {
	"SOC-SEC-003" in ids(secrets.violation) with input as doc("Deployment", [
		[["spec", "template", "spec", "containers", 0, "env", 0, "name"], "DB_PASSWORD"],
		[["spec", "template", "spec", "containers", 0, "env", 0, "value"], "hunter2hunter2"],
	])
	# A number is a credential like any other; a token is one.
	"SOC-SEC-003" in ids(secrets.violation) with input as doc("Deployment", [
		[["spec", "template", "spec", "containers", 0, "env", 0, "name"], "DB_PASSWORD"],
		[["spec", "template", "spec", "containers", 0, "env", 0, "value"], "123456"],
	])
	"SOC-SEC-003" in ids(secrets.violation) with input as doc("Deployment", [
		[["spec", "template", "spec", "containers", 0, "env", 0, "name"], "HF_TOKEN"],
		[["spec", "template", "spec", "containers", 0, "env", 0, "value"], "hf_abcdefghijklmnop"],
	])
}

test_env_credential_references_pass if {
	count(secrets.violation) == 0 with input as doc("Deployment", [
		[["spec", "template", "spec", "containers", 0, "env", 0, "name"], "DB_PASSWORD_FILE"],
		[["spec", "template", "spec", "containers", 0, "env", 0, "value"], "/run/secrets/db"],
		[["spec", "template", "spec", "containers", 0, "env", 1, "name"], "OAUTH_TOKEN_URL"],
		[["spec", "template", "spec", "containers", 0, "env", 1, "value"], "https://sso.example/token"],
		[["spec", "template", "spec", "containers", 0, "env", 2, "name"], "LOG_LEVEL"],
		[["spec", "template", "spec", "containers", 0, "env", 2, "value"], "debug"],
		[["spec", "template", "spec", "containers", 0, "env", 3, "name"], "API_TOKEN"],
		[["spec", "template", "spec", "containers", 0, "env", 3, "value"], "${API_TOKEN}"],
		[["spec", "template", "spec", "containers", 0, "env", 4, "name"], "SECRET_PROVIDER"],
		[["spec", "template", "spec", "containers", 0, "env", 4, "value"], "1password"],
		[["spec", "template", "spec", "containers", 0, "env", 5, "name"], "EXTERNAL_DNS_RFC2136_TSIG_SECRET_ALG"],
		[["spec", "template", "spec", "containers", 0, "env", 5, "value"], "hmac-sha512"],
		[["spec", "template", "spec", "containers", 0, "env", 6, "name"], "MAX_TOTAL_TOKENS"],
		[["spec", "template", "spec", "containers", 0, "env", 6, "value"], "2048"],
		[["spec", "template", "spec", "containers", 0, "env", 7, "name"], "MYSQL_ALLOW_EMPTY_PASSWORD"],
		[["spec", "template", "spec", "containers", 0, "env", 7, "value"], "yes"],
		[["spec", "template", "spec", "containers", 0, "env", 8, "name"], "SECRET_VERSION"],
		[["spec", "template", "spec", "containers", 0, "env", 8, "value"], "latest"],
		[["spec", "template", "spec", "containers", 0, "env", 9, "name"], "HF_TOKEN"],
		[["spec", "template", "spec", "containers", 0, "env", 9, "value"], "<your-token>"],
	])
}

# A variable naming the Secret its pod mounts or reads is no credential;
# the same value without that Secret in the document is one.
test_env_naming_its_own_secret_passes if {
	env := [
		[["spec", "template", "spec", "containers", 0, "env", 0, "name"], "WEBHOOK_SECRET"],
		[["spec", "template", "spec", "containers", 0, "env", 0, "value"], "webhook-server-cert"],
	]
	mounted := [[["spec", "template", "spec", "volumes", 0, "secret", "secretName"], "webhook-server-cert"]]
	count(secrets.violation) == 0 with input as doc("StatefulSet", array.concat(env, mounted))
	read := [[["spec", "template", "spec", "containers", 0, "envFrom", 0, "secretRef", "name"], "webhook-server-cert"]]
	count(secrets.violation) == 0 with input as doc("StatefulSet", array.concat(env, read))
	"SOC-SEC-003" in ids(secrets.violation) with input as doc("StatefulSet", env)
	other := [[["spec", "template", "spec", "volumes", 0, "secret", "secretName"], "other-cert"]]
	"SOC-SEC-003" in ids(secrets.violation) with input as doc("StatefulSet", array.concat(env, other))
}

test_secret_generator_denied if {
	"SOC-SEC-004" in ids(secrets.violation) with input as doc("", [[["secretGenerator", 0, "literals", 0], "password=hunter2"]])
	"SOC-SEC-004" in ids(secrets.violation) with input as doc("", [[["secretGenerator", 0, "envs", 0], "db.env"]])
}

test_config_map_generator_passes if {
	count(secrets.violation) == 0 with input as doc("", [[["configMapGenerator", 0, "literals", 0], "mode=fast"]])
}

# A value SOPS encrypted is ciphertext, not a literal credential.
test_sops_encrypted_values_pass if {
	count(secrets.violation) == 0 with input as doc("HelmRelease", [
		[["spec", "values", "auth", "password"], "ENC[AES256_GCM,data:SH/QO/rncxk=,iv:NHlEeQ==,tag:dGFn,type:str]"],
	])
}
