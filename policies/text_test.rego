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
