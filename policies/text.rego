# Credentials in text files that are not parsed as documents (DAGs, SQL,
# scripts, notes). `input` is {"path": ..., "text": ...}.
package socle.text

import data.socle.secrets.any_key
import data.socle.secrets.aws_examples_only
import data.socle.secrets.elided_block
import data.socle.secrets.key_patterns

violation contains {"id": "SOC-SEC-002", "msg": sprintf("line looks like it holds %s; keep it in the secret store", [what]), "line": i + 1} if {
	regex.match(any_key, input.text)
	lines := split(input.text, "\n")
	some i, line in lines
	some what, pattern in key_patterns
	regex.match(pattern, line)
	not shown_only(what, lines, i)
}

# A private key block whose body is left out or elided (see
# `data.socle.secrets.elided_block`): documentation showing where a key goes.
shown_only("a private key", lines, i) if elided_block(lines, i)

shown_only("an AWS access key id", lines, i) if aws_examples_only(lines[i])
