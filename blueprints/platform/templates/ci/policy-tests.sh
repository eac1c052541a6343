#!/usr/bin/env bash
# Runs the Rego tests socle knows of: the test_ rules of the *_test.rego
# files of socle's embedded policies and of this repository's policies/.
#
#   bash ci/policy-tests.sh
#
# Needs the socle that rendered this repository (socle.lock names its
# version), so the embedded policies are the ones this repository was
# rendered and is checked with.
set -euo pipefail
cd "$(dirname "$0")/.."

socle --version
socle policy test .
