#!/usr/bin/env bash
# Runs the real dbt on the DBT project of a generated repository.
#
#   tests/tools/dbt_check.sh DBT_BIN GENERATED_REPO_DIR
#
# DBT_BIN is a dbt executable from a Python environment with dbt-core,
# dbt-duckdb, dbt-trino and dbt-dremio installed (the interpreter beside it
# runs dbt). On a copy of GENERATED_REPO_DIR/dbt it runs `dbt build --target
# local` (seeds, models and tests on DuckDB, offline) and then `dbt parse
# --target <env>` for every other target of profiles.yml, Trino or Dremio
# (parsing needs no connection). Warnings are errors. Fails unless the build
# ran at least one seed, one model and one test, all successful. With
# DBT_CHECK_SQL (queries, one per line), each must return rows on the
# local target (`dbt show --inline`).
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 DBT_BIN GENERATED_REPO_DIR" >&2
    exit 2
fi
dbt=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$2/dbt
[ -x "$dbt" ] || { echo "not an executable: $1" >&2; exit 2; }
[ -f "$src/dbt_project.yml" ] || { echo "no DBT project in $src" >&2; exit 2; }

# The interpreter of dbt's own environment runs dbt's Python entry point
# (and has PyYAML, a dbt dependency).
python=$(dirname "$dbt")/python
[ -x "$python" ] || { echo "no python beside $dbt (dbt's environment)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$src" "$work/dbt"
cd "$work/dbt"

export DBT_PROFILES_DIR="$PWD"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
export DBT_USE_COLORS=false
# Parsing renders the target's profile, so its required variables must be
# set; nothing connects.
export DBT_TRINO_JWT=parse-only DREMIO_USER=parse-only DREMIO_PASSWORD=parse-only

targets=$("$python" - profiles.yml dbt_project.yml <<'EOF'
import sys
import yaml

profile = yaml.safe_load(open(sys.argv[2]))["profile"]
outputs = yaml.safe_load(open(sys.argv[1]))[profile]["outputs"]
print(" ".join(name for name, out in outputs.items() if out.get("type") in ("trino", "dremio")))
EOF
)
[ -n "$targets" ] || { echo "profiles.yml has no Trino or Dremio target" >&2; exit 1; }

# One interpreter runs every command through dbt's Python entry point
# (dbtRunner): starting dbt costs seconds, and the project is parsed once per
# target either way.
# shellcheck disable=SC2086 # one argument per target
"$python" - $targets <<'EOF'
import collections
import json
import os
import sys

from dbt.cli.main import dbtRunner

runner = dbtRunner()


def dbt(*args):
    print(f"== dbt {' '.join(args)}", flush=True)
    result = runner.invoke(["--warn-error", *args])
    if not result.success:
        sys.exit(f"dbt {' '.join(args)} failed: {result.exception or 'see above'}")


dbt("build", "--target", "local")
results = json.load(open("target/run_results.json"))["results"]
kinds = collections.Counter(r["unique_id"].split(".")[0] for r in results)
bad = [(r["unique_id"], r["status"]) for r in results if r["status"] not in ("success", "pass")]
print(f"run_results: {dict(kinds)}")
if bad:
    sys.exit(f"nodes not successful: {bad}")
for kind in ("seed", "model", "test"):
    if kinds[kind] == 0:
        sys.exit(f"the build ran no {kind}")
queries = os.environ.get("DBT_CHECK_SQL")
for sql in filter(None, map(str.strip, (queries or "").splitlines())):
    # A query a consumer of the build runs, on the local target's tables.
    result = runner.invoke(["show", "--inline", sql, "--target", "local", "--limit", "100"])
    if not result.success:
        sys.exit(f"failed: {sql}: {result.exception or 'see above'}")
    rows = len(result.result.results[0].agate_table.rows)
    if rows == 0:
        sys.exit(f"no row: {sql}")
    print(f"sql ok, {rows} row(s): {sql}", flush=True)
for target in sys.argv[1:]:
    dbt("parse", "--target", target)
EOF
echo "dbt_check: build on local and parse on: $targets"
