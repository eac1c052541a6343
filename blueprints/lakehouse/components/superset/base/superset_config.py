"""Superset's settings in the Kubernetes environments.

Mounted from the ConfigMap superset-config. Every credential comes from the
Secret superset (an ExternalSecret of the environment's overlay), the
database's address from the ConfigMap superset-env: nothing here is a
secret, so the file is committed.
"""

import os

from sqlalchemy.engine import make_url

# Signs sessions and encrypts the database passwords Superset stores;
# Superset refuses to start with its built-in default.
SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]

# Users, dashboards, charts and saved queries: the database the blueprint's
# wiring gives Superset on the environment's PostgreSQL (role and database
# created by the postgresql component). SUPERSET_DB_URL names them without
# the password, which comes from the Secret.
SQLALCHEMY_DATABASE_URI = (
    make_url(os.environ["SUPERSET_DB_URL"])
    .set(drivername="postgresql+psycopg2", password=os.environ["SUPERSET_DB_PASSWORD"])
    .render_as_string(hide_password=False)
)

# No Redis in this version: several web replicas share nothing but the
# database, so results are not cached and queries run in the web process.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = CACHE_CONFIG
FEATURE_FLAGS = {"THUMBNAILS": False, "ALERT_REPORTS": False}

# Behind the ingress controller's TLS.
ENABLE_PROXY_FIX = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_SAMESITE = "Lax"
WTF_CSRF_ENABLED = True
