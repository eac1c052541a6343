#!/bin/sh
# Runs the lakehouse's superset-init, as the Kubernetes Job does, with a
# real Apache Superset against a real, throwaway PostgreSQL, then prints
# what Superset registered.
#
#   superset_init.sh PG_BIN SUPERSET_VENV CONFIG_DIR
#
# PG_BIN holds initdb, pg_ctl and psql; SUPERSET_VENV is a virtualenv with
# apache-superset at the image's version (`pip install apache-superset==5.0.0
# 'marshmallow<4'`: the image pins marshmallow 3); CONFIG_DIR the
# ConfigMap superset-config as files (components/superset/base). The
# drivers of requirements.txt go to a packages folder on PYTHONPATH, as
# the init container installs them, and init.sh runs twice (every sync runs
# it again), the second time with another password.
# Prints what the second run said of the starter dashboard (edited by its
# users in between), `database <name>`, `dialect <class>` and `password
# ok|altered` for the database the run registered, and `dashboard <title>
# ...` for each dashboard; then, with SSO_GROUPS (a JSON list
# of the groups the realm gives the user), the lines of superset_sso.py,
# which signs a user in through a stand-in Keycloak realm (OIDC_ROLES_MAPPING
# comes from the environment, as the overlay's superset-env gives it).
set -eu
bin=$1 venv=$2 config=$3
here=$(cd "$(dirname "$0")" && pwd)

. "$here/pg_server.sh"
mkdir "$work/home" "$work/packages"
pg_start -A trust
"$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE superset LOGIN PASSWORD 'db-password'" \
  -c "CREATE DATABASE superset OWNER superset"

"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
  --target "$work/packages" -r "$config/requirements.txt"

run() {
  password=$1
  shift
  env -i PATH="$venv/bin:/usr/bin:/bin" HOME="$work/home" SUPERSET_HOME="$work/home" \
    FLASK_APP='superset.app:create_app()' SUPERSET_CONFIG_PATH="$config/superset_config.py" \
    PYTHONPATH="$work/packages" SUPERSET_SECRET_KEY=a-key-for-this-run-only \
    SUPERSET_DB_URL="postgresql://superset@127.0.0.1:$port/superset" SUPERSET_DB_PASSWORD=db-password \
    DREMIO_FLIGHT=dremio-client.lakehouse-query.svc.cluster.local:32010 DREMIO_USER=superset \
    DREMIO_PASSWORD="$password" "$@"
}
init() {
  run "$1" sh "$config/init.sh" >"$work/init.log" 2>&1 || { cat "$work/init.log" >&2; exit 1; }
}
init 'first p@ss:w/rd?&#'
# Its users edit the starter dashboard: the next sync leaves it as they made it.
run 'first p@ss:w/rd?&#' python - >/dev/null 2>&1 <<'PY'
from superset.app import create_app

app = create_app()
with app.app_context():
    from superset.extensions import db
    from superset.models.dashboard import Dashboard

    db.session.query(Dashboard).one().dashboard_title = "Starter, edited"
    db.session.commit()
PY
init 'p@ss:w/rd ?&#+=;x'
grep -h '^starter dashboard' "$work/init.log"
run 'p@ss:w/rd ?&#+=;x' python - 2>/dev/null <<'PY'
import os

from superset.app import create_app

app = create_app()
with app.app_context():
    from superset.extensions import db
    from superset.models.core import Database

    for d in db.session.query(Database).all():
        print("database", d.database_name)
        with d.get_sqla_engine() as engine:
            print("dialect", type(engine.dialect).__name__)
            same = engine.url.password == os.environ["DREMIO_PASSWORD"]
            print("password", "ok" if same else "altered")

    from superset.models.dashboard import Dashboard

    for d in db.session.query(Dashboard).all():
        tables = sorted({f"{s.datasource.schema}.{s.datasource.table_name} on {s.datasource.database.database_name}" for s in d.slices})
        print("dashboard", d.dashboard_title, "published" if d.published else "draft", len(d.slices), "charts on", ", ".join(tables))
PY
if [ -n "${SSO_GROUPS:-}" ]; then
  run 'p@ss:w/rd ?&#+=;x' env OIDC_ISSUER=https://replaced.invalid/realms/acme \
    OIDC_CLIENT_ID=superset OIDC_CLIENT_SECRET=a-client-secret \
    OIDC_ROLES_MAPPING="$OIDC_ROLES_MAPPING" SSO_GROUPS="$SSO_GROUPS" \
    python "$here/superset_sso.py" 2>/dev/null
fi
