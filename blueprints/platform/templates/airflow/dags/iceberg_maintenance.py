"""Iceberg table maintenance, through Trino.

The data domains share the tables of each layer (dbt/README.md: one `raw`,
`analytics` and `audit` schema, tables partitioned by data_domain), so the
maintenance runs per layer schema: one task group per schema, each table
compacted, then its old snapshots expired, then its orphan files removed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, TaskGroup, task

from data_platform import settings
from data_platform.callbacks import log_failure
from data_platform.clients import TrinoClient, keycloak_token, quote_ident, quote_literal
from data_platform.settings import PLATFORM

# Below Trino's default minimum retention (7d) the procedures refuse to run;
# a week also keeps time travel over the last seven daily loads.
RETENTION = "7d"
# Files smaller than this are rewritten into larger ones by optimize.
SMALL_FILE_THRESHOLD = "128MB"

PROCEDURES = {
    "optimize": f"optimize(file_size_threshold => '{SMALL_FILE_THRESHOLD}')",
    "expire_snapshots": f"expire_snapshots(retention_threshold => '{RETENTION}')",
    "remove_orphan_files": f"remove_orphan_files(retention_threshold => '{RETENTION}')",
}


@task
def run_procedure(schema: str, procedure: str) -> None:
    """Run one table procedure on every Iceberg table (views excluded) of a schema."""
    trino = TrinoClient(
        PLATFORM.trino_host, PLATFORM.trino_port, keycloak_token(settings.KEYCLOAK_CONN_ID), settings.ICEBERG_CATALOG
    )
    catalog = quote_ident(settings.ICEBERG_CATALOG)
    tables = trino.query(
        f"SELECT table_name FROM {catalog}.information_schema.tables "
        f"WHERE table_schema = {quote_literal(schema)} AND table_type = 'BASE TABLE'"
    )
    for [table] in tables:
        trino.query(f"ALTER TABLE {catalog}.{quote_ident(schema)}.{quote_ident(table)} EXECUTE {PROCEDURES[procedure]}")


with DAG(
    dag_id="iceberg_maintenance",
    description="Compaction, snapshot expiry and orphan file removal of the Iceberg tables",
    doc_md=f"""
### Iceberg maintenance ({PLATFORM.environment})

For every table of the schemas {", ".join(f"`{s}`" for s in settings.TABLE_SCHEMAS)} of the
`{settings.ICEBERG_CATALOG}` catalog, which hold the data of every domain
({", ".join(d.slug for d in settings.DOMAINS)}), through Trino's `ALTER TABLE ... EXECUTE`:

1. `optimize`: rewrites files under {SMALL_FILE_THRESHOLD} into larger ones (the daily
   appends of each domain leave small files);
2. `expire_snapshots`: drops snapshots older than {RETENTION} (the time travel window);
3. `remove_orphan_files`: deletes files no snapshot references, older than {RETENTION}.

Runs on Sunday night, two statements at a time at most, outside the daily
pipeline's window.
""",
    schedule="0 1 * * 0",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=2,
    default_args={
        "owner": settings.OWNER,
        "retries": 1,
        "retry_delay": timedelta(minutes=15),
        "email_on_failure": False,
        "email_on_retry": False,
        "on_failure_callback": log_failure,
        "execution_timeout": timedelta(hours=4),
    },
    tags=["maintenance", "iceberg", f"env:{PLATFORM.environment}"],
):
    for _schema in settings.TABLE_SCHEMAS:
        with TaskGroup(group_id=_schema, tooltip=f"Tables of {settings.ICEBERG_CATALOG}.{_schema}"):
            optimize = run_procedure.override(task_id="optimize")(_schema, "optimize")
            expire = run_procedure.override(task_id="expire_snapshots")(_schema, "expire_snapshots")
            orphans = run_procedure.override(task_id="remove_orphan_files")(_schema, "remove_orphan_files")
            optimize >> expire >> orphans
