#!/usr/bin/env bash
# Builds the DBT project on DuckDB: seeds (the sample raw data), models and
# every data test, offline, with warnings as errors.
#
#   bash ci/dbt-build.sh
#
# The profile is the project's own dbt/profiles.yml, target `local`: a DuckDB
# file in dbt/, the target developers run too, so CI tests what they test.
# Fails unless at least one seed, one model and one test ran, all successful:
# a build that selects nothing must not pass.
set -euo pipefail
cd "$(dirname "$0")/../dbt"

export DBT_PROFILES_DIR="$PWD"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
export DBT_USE_COLORS=false

dbt --version
dbt --warn-error build --target local

python3 - target/run_results.json <<'PY'
import collections
import json
import sys

with open(sys.argv[1]) as f:
    results = json.load(f)["results"]
kinds = collections.Counter(r["unique_id"].split(".")[0] for r in results)
bad = [(r["unique_id"], r["status"]) for r in results if r["status"] not in ("success", "pass")]
if bad:
    sys.exit(f"dbt-build: nodes not successful: {bad}")
for kind in ("seed", "model", "test"):
    if kinds[kind] == 0:
        sys.exit(f"dbt-build: the build ran no {kind}")
print("dbt-build: " + ", ".join(f"{n} {k}(s)" for k, n in sorted(kinds.items())) + " OK")
PY
