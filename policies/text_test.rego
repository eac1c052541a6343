package socle.text_test

import data.socle.text

test_key_in_a_dag_denied if {
	some f in text.violation with input as {"path": "airflow/dags/x.py", "text": "import os\nKEY = 'AKIAABCDEFGHIJKLMNOP'\n"}
	f.id == "SOC-SEC-002"
	f.line == 2
}

test_clean_script_passes if {
	count(text.violation) == 0 with input as {"path": "dbt/models/a.sql", "text": "select 1 as id\n"}
}

# Documentation shows where a key goes with an elided block: no key. A
# whole block is one, and so is a key written on one line with `\n` escapes.
test_an_elided_private_key_block_is_no_key if {
	readme := "Here is an example:\n\n```text\n-----BEGIN RSA PRIVATE KEY-----\nMIIEogIBAAKCAQEAvLYcyu8f3skuRyUgeeNpeDvYBCDcgq\n...\nwrj2wDbCDCFmfqnSJ+dKI3vFLlEz44sAV8jX/kd4Y6ZTQhlLbYc=\n-----END RSA PRIVATE KEY-----\n```\n"
	count(text.violation) == 0 with input as {"path": "README.md", "text": readme}
	whole := "-----BEGIN RSA PRIVATE KEY-----\nMIIEogIBAAKCAQEAvLYcyu8f3skuRyUgeeNpeDvYBCDcgq\nwrj2wDbCDCFmfqnSJ+dKI3vFLlEz44sAV8jX/kd4Y6ZTQhlLbYc=\n-----END RSA PRIVATE KEY-----\n"
	some f in text.violation with input as {"path": "README.md", "text": concat("", [readme, whole])}
	f.line == 10
	oneline := "key = \"-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\\n-----END PRIVATE KEY-----\"\n"
	some g in text.violation with input as {"path": "notes.md", "text": oneline}
	g.line == 1
}

# AWS's documented example key id is no key; one beside it on the line is.
test_aws_documentation_example_key_ids_are_no_keys if {
	count(text.violation) == 0 with input as {"path": "docs/aws.md", "text": "accessKeyId: ASIAIOSFODNN7EXAMPLE\n"}
	some f in text.violation with input as {"path": "docs/aws.md", "text": "ids: AKIAIOSFODNN7EXAMPLE AKIAIOSFODNN7ABCDEFG\n"}
	f.line == 1
}
