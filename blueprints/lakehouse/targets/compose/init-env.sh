#!/bin/sh
# Writes .env (git-ignored) from .env.example. A variable already set in
# .env keeps its value; one that .env.example gives a value to takes it;
# every other gets 48 random characters. Run it once on the host before
# `docker compose up -d`: the values never leave it.
set -eu
here=$(dirname "$0")
umask 077
[ -f "$here/.env" ] || : > "$here/.env"
added=0
while IFS= read -r line; do
  case "$line" in
    [A-Z_]*=*) ;;
    *) continue ;;
  esac
  name=${line%%=*}
  grep -q "^$name=." "$here/.env" && continue
  value=${line#*=}
  [ -n "$value" ] || value=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | dd bs=48 count=1 2>/dev/null)
  { grep -v "^$name=" "$here/.env" || true; printf '%s=%s\n' "$name" "$value"; } > "$here/.env.new"
  mv "$here/.env.new" "$here/.env"
  added=$((added + 1))
done < "$here/.env.example"
echo "$added value(s) written to $here/.env"
