"""Imports the starter dashboard (starter_dashboard.yaml) on the database
register_dremio.py registered.

Run by superset-init after it. The dashboard, its charts and its dataset
are imported once, owned by nobody, for Superset's administrators to hand
over: a dashboard with the starter's uuid is left as its users made it,
so a sync never undoes their edits. Nothing is queried here: the charts
read Dremio when someone opens them.
"""

import datetime
import os
import sys
import uuid

import yaml

from superset.app import create_app

BUNDLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "starter_dashboard.yaml")
DATABASE = "Dremio"

with open(BUNDLE, encoding="utf-8") as f:
    bundle = yaml.safe_load(f)

app = create_app()
with app.app_context():
    from superset.commands.chart.importers.v1.utils import import_chart
    from superset.commands.dashboard.importers.v1.utils import (
        find_chart_uuids,
        import_dashboard,
        update_id_refs,
    )
    from superset.commands.dataset.importers.v1.utils import import_dataset
    from superset.commands.importers.v1.examples import ImportExamplesCommand
    from superset.extensions import db
    from superset.models.core import Database
    from superset.models.dashboard import Dashboard

    class ImportStarter(ImportExamplesCommand):
        """Superset's importer of bundled assets (it validates each file
        with Superset's own schemas and needs no signed-in user), bound to
        the registered database: it creates what is missing and leaves
        what exists, rather than refusing the lot or adding an examples
        database."""

        def _prevent_overwrite_existing_model(self, exceptions):
            pass

        @staticmethod
        def _import(configs, overwrite=False, force_data=False):
            datasets = {}
            for path, config in configs.items():
                if path.startswith("datasets/"):
                    config["database_id"] = database.id
                    dataset = import_dataset(config, ignore_permissions=True)
                    datasets[str(dataset.uuid)] = {
                        "datasource_id": dataset.id,
                        "datasource_type": "table",
                        "datasource_name": dataset.table_name,
                    }
            charts = {}
            for path, config in configs.items():
                if path.startswith("charts/"):
                    config.update(datasets[config["dataset_uuid"]])
                    chart = import_chart(config, ignore_permissions=True)
                    charts[str(chart.uuid)] = chart
            for path, config in configs.items():
                if path.startswith("dashboards/"):
                    ids = {u: c.id for u, c in charts.items()}
                    config = update_id_refs(config, ids, datasets)
                    dashboard = import_dashboard(config, ignore_permissions=True)
                    dashboard.slices = [charts[u] for u in sorted(find_chart_uuids(config["position"]))]

    wanted = [uuid.UUID(d["uuid"]) for p, d in bundle.items() if p.startswith("dashboards/")]
    present = db.session.query(Dashboard).filter(Dashboard.uuid.in_(wanted)).count()
    if present == len(wanted):
        print("starter dashboard: already imported, left as it is")
        sys.exit(0)
    database = db.session.query(Database).filter_by(database_name=DATABASE).one_or_none()
    if database is None:
        sys.exit(f"starter dashboard: no database {DATABASE!r} (register_dremio.py registers it)")
    contents = {
        "metadata.yaml": yaml.safe_dump(
            {
                "version": "1.0.0",
                "type": "assets",
                "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            }
        ),
    }
    for path, document in bundle.items():
        if path.startswith("datasets/"):
            document["database_uuid"] = str(database.uuid)
        contents[path] = yaml.safe_dump(document)
    ImportStarter(contents, overwrite=False).run()
    print("starter dashboard: imported")
