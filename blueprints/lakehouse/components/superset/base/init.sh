#!/bin/sh
# superset-init: upgrades the metadata schema, sets the built-in roles up
# and, where the environment runs Dremio, registers it (register_dremio.py)
# and imports the starter dashboard on it (import_starter.py).
# Every step is idempotent: it runs on every sync.
set -eu
superset db upgrade
superset init
if [ -n "${DREMIO_FLIGHT:-}" ]; then
  python "$(dirname "$0")/register_dremio.py"
  # The starter dashboard on it, once (import_starter.py).
  python "$(dirname "$0")/import_starter.py"
fi
