"""Failure handling shared by the DAGs.

No e-mail: failures are alerted on from Airflow's StatsD metrics (task
instance failures) by the platform's Prometheus rules. The callback leaves one
structured line per failure in the task log, which Loki indexes.
"""

from __future__ import annotations

import logging

log = logging.getLogger("data_platform.failures")


def log_failure(context) -> None:
    ti = context.get("task_instance") or context.get("ti")
    log.error(
        "pipeline task failed dag_id=%s task_id=%s run_id=%s try=%s error=%s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        context.get("run_id"),
        getattr(ti, "try_number", "?"),
        context.get("exception"),
    )
