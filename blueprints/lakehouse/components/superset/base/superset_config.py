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

# Single sign-on, where the spec gives the client's Keycloak realm (`sso`;
# superset-env sets OIDC_ISSUER): users sign in there, never with a
# password of Superset's. A user's roles are those its groups map to
# (OIDC_ROLES_MAPPING, from the spec), set again at every sign-in, plus
# Public, which grants nothing: a member of no mapped group sees nothing.
# The groups come from the userinfo endpoint's `groups` claim (the realm's
# client superset has a group membership mapper, README.md, Bootstrap).
if os.environ.get("OIDC_ISSUER"):
    import json

    from flask_appbuilder.security.manager import AUTH_OAUTH

    _issuer = os.environ["OIDC_ISSUER"].rstrip("/")
    AUTH_TYPE = AUTH_OAUTH
    OAUTH_PROVIDERS = [
        {
            # Flask-AppBuilder reads Keycloak's userinfo (username, names,
            # email, groups) for the provider of this name.
            "name": "keycloak",
            "icon": "fa-key",
            "token_key": "access_token",
            "remote_app": {
                "client_id": os.environ["OIDC_CLIENT_ID"],
                "client_secret": os.environ["OIDC_CLIENT_SECRET"],
                "server_metadata_url": f"{_issuer}/.well-known/openid-configuration",
                "api_base_url": f"{_issuer}/protocol/",
                "client_kwargs": {"scope": "openid email profile"},
            },
        }
    ]
    AUTH_USER_REGISTRATION = True
    AUTH_USER_REGISTRATION_ROLE = "Public"
    AUTH_ROLES_MAPPING = json.loads(os.environ.get("OIDC_ROLES_MAPPING", "{}"))
    AUTH_ROLES_SYNC_AT_LOGIN = True
