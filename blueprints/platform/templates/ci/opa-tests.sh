#!/bin/sh
# Runs the repository's own Rego policies and their tests through OPA itself
# (`opa test`), when policies/ holds any: a second engine beside socle's, the
# one the policies would run on anywhere else. POSIX sh, for OPA's image.
#
#   sh ci/opa-tests.sh
set -eu
cd "$(dirname "$0")/.."

# Only the Rego files: policies/exceptions.yaml is socle's, not OPA data.
files=$(find policies -type f -name '*.rego' 2>/dev/null | LC_ALL=C sort)
if [ -z "$files" ]; then
  echo "opa-tests: no Rego file under policies/: nothing for opa to test"
  exit 0
fi
opa version
# shellcheck disable=SC2086 # one argument per file; paths have no spaces
opa test --verbose $files
