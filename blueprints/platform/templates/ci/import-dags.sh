#!/usr/bin/env bash
# Imports every Airflow DAG as the scheduler of each environment would, and
# fails on any import error.
#
#   bash ci/import-dags.sh
#
# Needs the python of an environment holding Airflow and its providers (the
# CI installs ci/requirements-airflow.txt). Every Python file of the DAG
# folder and of spark/ must compile; then, once per environment, the DAG
# folder is loaded with a DagBag under the PLATFORM_* variables that
# environment's Airflow sets (components/airflow/values-<env>.yaml, else
# values.yaml: Helm replaces lists), and must load with no import error and
# at least one DAG. Loading needs no metadata database.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
[ -d "$repo/airflow/dags" ] || { echo "import-dags: no DAG folder at airflow/dags" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Compiled files go to the scratch directory, never into the repository:
# the DAGs' imports write none, py_compile writes under the scratch prefix.
# (A prefix for the whole run would make Python ignore Airflow's installed
# bytecode and recompile it on every run.)
export PYTHONDONTWRITEBYTECODE=1
export AIRFLOW_HOME="$work/airflow"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$repo/airflow/dags"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$work/airflow.db"
export AIRFLOW__LOGGING__LOGGING_LEVEL=ERROR
mkdir -p "$AIRFLOW_HOME"

python3 - "$repo" "$work/pycache" <<'PY'
import glob
import os
import py_compile
import sys

import yaml

repo = sys.argv[1]
dag_folder = os.path.join(repo, "airflow", "dags")

# The Spark jobs run in the Spark image: compiled, not imported.
sources = sorted(
    glob.glob(os.path.join(dag_folder, "**", "*.py"), recursive=True)
    + glob.glob(os.path.join(repo, "spark", "**", "*.py"), recursive=True)
)
for path in sources:
    cfile = os.path.join(sys.argv[2], os.path.relpath(path, repo) + "c")
    py_compile.compile(path, cfile=cfile, doraise=True)
print(f"py_compile: {len(sources)} file(s) OK")

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow before 3.1
    from airflow.models.dagbag import DagBag


def platform_env(values_file):
    with open(values_file) as f:
        values = yaml.safe_load(f) or {}
    return {
        e["name"]: str(e["value"])
        for e in values.get("env") or []
        if e.get("name", "").startswith("PLATFORM_") and "value" in e
    }


common = platform_env(os.path.join(repo, "components", "airflow", "values.yaml"))
env_files = sorted(glob.glob(os.path.join(repo, "components", "airflow", "values-*.yaml")))
if not env_files:
    sys.exit("import-dags: no components/airflow/values-<env>.yaml")

# Airflow 3 puts the bundle root (the DAG folder, for git-sync) on sys.path:
# the DAGs import their helper package from it.
sys.path.insert(0, dag_folder)
failed = False
for values_file in env_files:
    env_name = os.path.basename(values_file)[len("values-"):-len(".yaml")]
    variables = platform_env(values_file) or common
    for name in [n for n in os.environ if n.startswith("PLATFORM_")]:
        del os.environ[name]
    os.environ.update(variables)
    # The helper modules read the environment when imported: forget the
    # previous environment's copies so that each DagBag imports them anew.
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(dag_folder + os.sep):
            del sys.modules[name]
    bag = DagBag(dag_folder=dag_folder, include_examples=False)
    print(f"== {env_name}: {len(variables)} PLATFORM_* variable(s)")
    for path, error in sorted(bag.import_errors.items()):
        failed = True
        print(f"import error in {os.path.relpath(path, repo)}:\n{error}", file=sys.stderr)
    if not bag.dag_ids:
        failed = True
        print(f"{env_name}: no DAG loaded", file=sys.stderr)
    for dag_id in sorted(bag.dag_ids):
        print(f"{dag_id}: {len(bag.dags[dag_id].tasks)} tasks")
if failed:
    sys.exit("import-dags: FAILED")
print("import-dags: OK")
PY
