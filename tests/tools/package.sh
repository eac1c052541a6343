#!/usr/bin/env bash
# Packages the socle crate as `cargo publish` would upload it, builds it
# from the .crate alone (outside the workspace, so nothing beside the
# package can leak in), and runs the packaged binary: `socle new` on the
# embedded example, then `socle check` on the result, which must pass.
#
#   bash tests/tools/package.sh
#
# The build shares the workspace's target directory and dependency profile,
# so the dependencies the test suite built are reused (a fresh build of
# them takes ten minutes on two cores); .ci/run runs it after the tests, as
# it replaces target/debug/socle with the packaged build of the same source.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo package --quiet --no-verify --allow-dirty -p socle --target-dir "$root/target/packaged"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' generator/Cargo.toml | head -n 1)
crate="$root/target/packaged/package/socle-$version.crate"
echo "packaged: $crate ($(du -k "$crate" | cut -f1) KiB, $(tar -tzf "$crate" | wc -l) files)"
tar -xzf "$crate" -C "$work"
src="$work/socle-$version"
# The package carries its data, its licence and its lock file.
for f in LICENSE README.md Cargo.lock data/blueprints/platform/blueprint.yaml \
  data/environments data/policies data/blueprints/example/socle.yaml; do
  [ -e "$src/$f" ] || { echo "package misses $f" >&2; exit 1; }
done
(cd "$src" && CARGO_TARGET_DIR="$root/target" cargo build --quiet --locked \
  --config 'profile.dev.debug="line-tables-only"' \
  --config 'profile.dev.package."*".opt-level=1' \
  --config 'profile.dev.package."*".debug=false')
bin="$root/target/debug/socle"
"$bin" --version
"$bin" new -q --out "$work/acme" --no-git
"$bin" check "$work/acme"
echo "the packaged crate builds and runs"
