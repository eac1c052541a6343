#!/usr/bin/env bash
# Checks the Airflow DAGs of a generated repository against a real Airflow.
#
#   tests/tools/airflow_check.sh PYTHON GENERATED_REPO_DIR
#
# PYTHON is the interpreter of a virtualenv holding apache-airflow and the
# providers the DAGs use (cncf-kubernetes). Every DAG file and the Spark job
# must byte-compile;
# then, once per environment, the DAG folder is loaded with a DagBag under the
# PLATFORM_* variables that environment's Airflow deployment sets
# (components/airflow/values-<env>.yaml), and the DAGs must import without
# error, carry one task group per data domain with the spec's ingestion, and follow the
# repository's DAG conventions. Prints the DAG ids found. Parsing needs no
# metadata database. One interpreter loads every environment: importing
# Airflow costs seconds, and it reads its installed bytecode (no cache prefix
# outside py_compile, which would recompile Airflow on every run).
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 PYTHON GENERATED_REPO_DIR" >&2
  exit 2
fi
python=$1
repo=$(cd "$2" && pwd)
dags="$repo/airflow/dags"
[ -d "$dags" ] || { echo "no DAG folder at $dags" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Compiled files go to the scratch directory, never into the repository:
# py_compile writes them under a prefix, the DagBag writes none.
export PYTHONDONTWRITEBYTECODE=1
# The Spark job the pipeline launches is Python too (it runs in the Spark
# image, so it is compiled, not imported).
sources=("$dags")
[ -d "$repo/spark" ] && sources+=("$repo/spark")
find "${sources[@]}" -name '*.py' -print0 | sort -z \
  | PYTHONPYCACHEPREFIX="$work/pycache" xargs -0 "$python" -m py_compile
echo "py_compile: $(find "${sources[@]}" -name '*.py' | wc -l | tr -d ' ') file(s) OK"

export AIRFLOW_HOME="$work/airflow"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$dags"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$work/airflow.db"
export AIRFLOW__LOGGING__LOGGING_LEVEL=ERROR
mkdir -p "$AIRFLOW_HOME"

shopt -s nullglob
values=("$repo"/components/airflow/values-*.yaml)
[ "${#values[@]}" -gt 0 ] || { echo "no components/airflow/values-<env>.yaml in $repo" >&2; exit 1; }
"$python" - "$repo" "${values[@]}" <<'PY'
import json
import os
import sys

import yaml

repo, values_files = sys.argv[1], sys.argv[2:]

with open(os.path.join(repo, "socle.yaml")) as f:
    spec = yaml.safe_load(f)
ingestion = spec["components"]["ingestion"]
domains = [d["name"] for d in spec["data_domains"]]

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow before 3.1
    from airflow.models.dagbag import DagBag

# Airflow 3 parses and runs DAGs from a bundle whose root it puts on sys.path
# (the dags folder for git-sync): the DAGs import their helper package from it.
dag_folder = os.path.join(repo, "airflow", "dags")
sys.path.insert(0, dag_folder)


def check(values_file):
    with open(values_file) as f:
        values = yaml.safe_load(f)
    platform_env = {e["name"]: str(e["value"]) for e in values.get("env") or [] if e["name"].startswith("PLATFORM_")}
    if not platform_env:
        sys.exit(f"{values_file} sets no PLATFORM_* variable")
    for name in [n for n in os.environ if n.startswith("PLATFORM_")]:
        del os.environ[name]
    os.environ.update(platform_env)
    # The helper modules read the environment when imported: forget the
    # previous environment's copies so that this DagBag imports them anew.
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(dag_folder + os.sep):
            del sys.modules[name]
    bag = DagBag(dag_folder=dag_folder, include_examples=False)
    return platform_env, bag, []


def judge(platform_env, bag, errors):
    for path, error in bag.import_errors.items():
        errors.append(f"import error in {path}:\n{error}")

    expected = {"data_pipeline", "iceberg_maintenance"}
    if set(bag.dag_ids) != expected:
        errors.append(f"DAG ids {sorted(bag.dag_ids)}, expected {sorted(expected)}")

    want_ingest = {"nifi": {"ingest_nifi"}, "airbyte": {"ingest_airbyte"},
                   "both": {"ingest_nifi", "ingest_airbyte"}}[ingestion]
    env = platform_env["PLATFORM_ENVIRONMENT"]
    processing = platform_env["PLATFORM_NAMESPACE_PROCESSING"]
    for dag_id in sorted(set(bag.dag_ids) & expected):
        dag = bag.dags[dag_id]
        if dag.max_active_runs != 1:
            errors.append(f"{dag_id}: max_active_runs is {dag.max_active_runs}")
        if dag.catchup:
            errors.append(f"{dag_id}: catchup is on")
        if not dag.tags or not dag.doc_md or dag.schedule is None:
            errors.append(f"{dag_id}: tags, doc_md and schedule are required")
        if f"env:{env}" not in dag.tags:
            errors.append(f"{dag_id}: no env:{env} tag")
        for t in dag.tasks:
            if not t.owner or t.owner == "airflow" or t.retries is None or t.email_on_failure:
                errors.append(f"{dag_id}.{t.task_id}: owner, retries and email off are required")

    if "data_pipeline" in bag.dags:
        dag = bag.dags["data_pipeline"]
        ids = set(dag.task_ids)
        for domain in domains:
            group = domain.replace("-", "_")
            ingest = {i.split(".", 1)[1] for i in ids if i.startswith(group + ".ingest_")}
            if ingest != want_ingest:
                errors.append(f"{group}: ingestion tasks {sorted(ingest)}, spec says {ingestion}")
            spark_id = f"{group}.spark_load_iceberg"
            if spark_id not in ids:
                errors.append(f"no {spark_id} task")
                continue
            spark = dag.get_task(spark_id)
            app = spark.template_spec["spark"]
            if spark.namespace != processing or app["metadata"]["namespace"] != processing:
                errors.append(f"{spark_id}: SparkApplication not in {processing}")
            if app["spec"]["arguments"][:2] != ["--domain", domain]:
                errors.append(f"{spark_id}: loads {app['spec']['arguments'][:2]}, not domain {domain}")
            # The landing bucket by the name it has in this environment.
            args = app["spec"]["arguments"]
            graph = f"domain-{domain}"
            bucket = json.loads(platform_env.get("PLATFORM_BUCKETS") or "{}").get(graph, graph)
            if "--bucket" not in args or args[args.index("--bucket") + 1] != bucket:
                errors.append(f"{spark_id}: arguments {args}, not bucket {bucket}")
            print(f"{spark_id}: bucket {bucket}")
            upstream = {u.split(".", 1)[1] for u in spark.upstream_task_ids}
            if upstream != want_ingest:
                errors.append(f"{spark_id}: runs after {sorted(upstream)}, expected the ingestion")
        dbt = dag.get_task("dbt_build") if "dbt_build" in ids else None
        if dbt is None or "quality_gate" not in ids:
            errors.append("data_pipeline: dbt_build and quality_gate are required")
        else:
            if dbt.namespace != processing:
                errors.append(f"dbt_build: pod not in {processing}")
            target = [e.value for e in dbt.env_vars if e.name == "DBT_TARGET"]
            if target != [env]:
                errors.append(f"dbt_build: target {target}, expected {env}")
            loads = {f"{d.replace('-', '_')}.spark_load_iceberg" for d in domains}
            if dbt.upstream_task_ids != loads:
                errors.append(f"dbt_build runs after {sorted(dbt.upstream_task_ids)}, expected every domain's load")

    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    for dag_id in sorted(bag.dag_ids):
        print(f"{dag_id}: {len(bag.dags[dag_id].tasks)} tasks")

for values_file in values_files:
    env_name = os.path.basename(values_file)[len("values-"):-len(".yaml")]
    print(f"== {env_name}", flush=True)
    judge(*check(values_file))
PY
echo "airflow check: OK"
