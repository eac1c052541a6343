package socle.secrets_test

import data.socle.secrets

ids(result) := {f.id | some f in result}

# The input socle builds: every string leaf with its path.
doc(kind, leaves) := {"kind": kind, "leaves": [{"path": p, "value": v} | some [p, v] in leaves]}

test_private_key_denied if {
	"SOC-SEC-002" in ids(secrets.violation) with input as doc("", [[["tls", "key"], "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"]])
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

test_external_secret_field_names_pass if {
	count(secrets.violation) == 0 with input as doc("ExternalSecret", [[["spec", "data", 0, "secretKey"], "password"]])
}
