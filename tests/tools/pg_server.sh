# Sourced by the tools that need a real, throwaway PostgreSQL server: with
# $bin (initdb, pg_ctl, psql), it makes $work (removed on exit, the server
# stopped first), and pg_start starts a server there with initdb's extra
# arguments, on 127.0.0.1:$port. The caller may create files in $work
# before starting it (a password file); those the server reads it chowns
# to postgres when run as root, as it does $work/data and $work/sock.
work=$(mktemp -d)
chmod 755 "$work"
as_server() {
  # The server refuses to run as root.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  as_server "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
mkdir "$work/data" "$work/sock"
if [ "$(id -u)" = 0 ]; then chown postgres "$work/data" "$work/sock"; fi

pg_start() {
  as_server "$bin/initdb" -D "$work/data" -U postgres "$@" >/dev/null
  port=$(( 20000 + $$ % 20000 ))
  as_server "$bin/pg_ctl" -D "$work/data" -l "$work/sock/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $work/sock" start >/dev/null
}
