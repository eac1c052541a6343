#!/bin/sh
# The pre-commit hook (.pre-commit-hooks.yaml, id socle-check): installs the
# socle release this hook's revision belongs to (ci/install.sh: a release
# binary checked against its SHA-256, kept in the user's cache) and checks
# what is staged. pre-commit checks the hook out at the `rev` the user's
# .pre-commit-config.yaml pins, so the release is that revision's version.
#
#   args: [--sha256=<the archive's line in the release's SHA256SUMS>]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sha=""
for arg in "$@"; do
  case "$arg" in
    --sha256=*) sha="${arg#--sha256=}" ;;
    *) echo "socle pre-commit hook: unknown argument $arg (expected --sha256=<checksum>)" >&2; exit 2 ;;
  esac
done
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/../generator/Cargo.toml" | head -n 1)
if [ -z "$version" ]; then
  echo "socle pre-commit hook: cannot read socle's version from generator/Cargo.toml" >&2
  exit 2
fi
bin=$("$here/install.sh" "$version" "$sha")
exec "$bin" check --staged --cache
