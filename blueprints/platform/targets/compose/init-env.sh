#!/bin/sh
# Writes .env from .env.example: every variable left empty gets a random
# value (a Fernet key for *_FERNET_KEY), the ones already set in .env are
# kept. Run it once on the host, then `docker compose up -d`. .env is
# git-ignored: the values never leave the host.
set -eu
cd "$(dirname "$0")"
umask 077
touch .env
random() {
  LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40
}
fernet() {
  head -c 32 /dev/urandom | base64 | tr '+/' '-_'
}
while IFS= read -r line; do
  case "$line" in
    ''|'#'*) continue ;;
  esac
  name=${line%%=*}
  value=${line#*=}
  if grep -q "^$name=." .env; then
    continue
  fi
  if [ -z "$value" ]; then
    case "$name" in
      *_FERNET_KEY) value=$(fernet) ;;
      *) value=$(random) ;;
    esac
  fi
  grep -v "^$name=" .env > .env.tmp || true
  printf '%s=%s\n' "$name" "$value" >> .env.tmp
  mv .env.tmp .env
done < .env.example
echo "$(grep -c . .env) variables in $(pwd)/.env"
