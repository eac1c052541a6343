"""Registers the environment's Dremio as Superset's database "Dremio".

Run by superset-init after the schema upgrade, where the environment runs
Dremio (DREMIO_FLIGHT, its Arrow Flight endpoint as host:port, is set). It
connects as DREMIO_USER, a Dremio user the administrator creates (README.md,
Bootstrap). The URI is built here, not on a command line, so that the
password is neither quoted wrong nor shown in the process list. Superset
stores the password encrypted with SECRET_KEY. Idempotent: it updates the
database it created.
"""

import os
import sys
from urllib.parse import quote

from superset.app import create_app

# Superset 5 stores the password apart, then builds each connection's URI
# with SQLAlchemy 1.4, which escapes only ":", "@" and "/" in it and
# decodes every %XX when it reads it back: a password with "%" would reach
# Dremio altered. Refuse it here, where the cause can be named.
if "%" in os.environ["DREMIO_PASSWORD"]:
    sys.exit(
        "DREMIO_PASSWORD contains '%', which Superset 5 would alter before "
        "signing in to Dremio: give the Dremio user superset a password "
        "without '%' (in Dremio and in the secret store)"
    )

# Every other character percent-encoded, for the URI to parse back whole.
uri = "dremio+flight://{user}:{password}@{flight}/dremio?UseEncryption=false".format(
    user=quote(os.environ["DREMIO_USER"], safe=""),
    password=quote(os.environ["DREMIO_PASSWORD"], safe=""),
    # Dremio's Flight endpoint inside the cluster (or the host) is not TLS.
    flight=os.environ["DREMIO_FLIGHT"],
)

app = create_app()
with app.app_context():
    from superset.extensions import db
    from superset.utils.database import get_or_create_db

    get_or_create_db("Dremio", uri)
    db.session.commit()
