"""Superset's settings on the development host.

Everything secret comes from the environment (compose/<env>/.env, filled by
init-env.sh): nothing here is a credential, so the file is committed.
"""

import os

# Signs sessions and encrypts the database passwords Superset stores;
# Superset refuses to start with its built-in default.
SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]

# Users, dashboards, charts and saved queries, in the host's PostgreSQL
# (postgresql-init creates the role and the database).
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_DATABASE_URI"]

# One host, no Redis: results and thumbnails are not cached, and queries
# run in the web process.
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = CACHE_CONFIG
FEATURE_FLAGS = {"THUMBNAILS": False, "ALERT_REPORTS": False}

# The host publishes on its loopback only; keep cookies off other sites.
SESSION_COOKIE_SAMESITE = "Lax"
WTF_CSRF_ENABLED = True
