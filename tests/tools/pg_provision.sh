#!/bin/sh
# Runs a managed PostgreSQL's provisioning script against a real, throwaway
# PostgreSQL server whose administrator is, like a cloud's, no superuser
# (LOGIN CREATEROLE CREATEDB), then prints what the server holds.
#
#   pg_provision.sh BIN PROVISION_DIR ROLES_DIR [ROUNDS [ROTATE]]
#
# BIN holds initdb, pg_ctl and psql; PROVISION_DIR the ConfigMap's keys as
# files (provision.sh reading its lists from there, and the passwords from
# ROLES_DIR, one file per role). The script runs ROUNDS times (default 1);
# with ROTATE (a role), that role's password file then changes and the
# script runs once more, as a rotation in the store would.
# Prints `role <name>`, `database <name> <owner>`, `schema <db> <schema>
# <owner>`, `login <role> ok|failed` for each role with its password and,
# with ROTATE, `old-login <role> ok|failed` with the password it replaced.
set -eu
bin=$1 provision=$2 roles=$3 rounds=${4:-1} rotate=${5:-}

. "$(dirname "$0")/pg_server.sh"
echo "superuser-password" > "$work/pw"
if [ "$(id -u)" = 0 ]; then chown postgres "$work/pw"; fi
pg_start -A scram-sha-256 --pwfile="$work/pw"

export PGHOST=127.0.0.1 PGPORT=$port PGDATABASE=postgres
PGUSER=postgres PGPASSWORD=superuser-password "$bin/psql" -q -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE platform_admin LOGIN CREATEROLE CREATEDB PASSWORD 'admin-password'"

i=0
while [ "$i" -lt "$rounds" ]; do
  PGUSER=platform_admin PGPASSWORD=admin-password PATH="$bin:$PATH" sh "$provision/provision.sh" >/dev/null
  i=$((i + 1))
done
if [ -n "$rotate" ]; then
  old=$(cat "$roles/$rotate")
  echo "$old-rotated" > "$roles/$rotate"
  PGUSER=platform_admin PGPASSWORD=admin-password PATH="$bin:$PATH" sh "$provision/provision.sh" >/dev/null
  if PGUSER=$rotate PGPASSWORD=$old "$bin/psql" -At -c "SELECT 1" >/dev/null 2>&1; then
    echo "old-login $rotate ok"
  else
    echo "old-login $rotate failed"
  fi
fi

query() {
  PGUSER=postgres PGPASSWORD=superuser-password "$bin/psql" -At -F ' ' -v ON_ERROR_STOP=1 "$@"
}
query -c "SELECT 'role ' || rolname FROM pg_roles WHERE rolcanlogin AND rolname NOT IN ('postgres', 'platform_admin') ORDER BY 1"
query -c "SELECT 'database ' || datname || ' ' || pg_get_userbyid(datdba) FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY 1"
for db in $(query -c "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'"); do
  query -d "$db" -c "SELECT 'schema ' || current_database() || ' ' || nspname || ' ' || pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname NOT IN ('information_schema', 'public') ORDER BY 1"
done
for f in "$roles"/*; do
  role=$(basename "$f")
  if PGUSER=$role PGPASSWORD=$(cat "$f") "$bin/psql" -At -c "SELECT 1" >/dev/null 2>&1; then
    echo "login $role ok"
  else
    echo "login $role failed"
  fi
done
