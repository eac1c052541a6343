#!/usr/bin/env bash
# Renders every kustomization of the repository, overlays and the bases they
# build on, the way Argo CD renders them, and fails if any does not build.
#
#   bash ci/render-overlays.sh
#
# Uses `kustomize build` (the CI installs the version Argo CD bundles), or
# `kubectl kustomize` where only kubectl is at hand. Kustomize Components
# (kind: Component) only build inside an overlay and are skipped. The
# rendered manifests are written under $RENDERED_DIR (default: a temporary
# directory), one file per kustomization, for the reviewer to read.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v kustomize >/dev/null 2>&1; then
  build="kustomize build"
elif command -v kubectl >/dev/null 2>&1; then
  build="kubectl kustomize"
else
  echo "render-overlays: needs kustomize (or kubectl) on PATH" >&2
  exit 2
fi
out=${RENDERED_DIR:-$(mktemp -d)}
mkdir -p "$out"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

dirs=()
while IFS= read -r file; do
  grep -qE '^kind:[[:space:]]*Component[[:space:]]*$' "$file" && continue
  dirs+=("$(dirname "${file#./}")")
done < <(find . -path ./.git -prune -o -type f \
  \( -name kustomization.yaml -o -name kustomization.yml -o -name Kustomization \) -print | LC_ALL=C sort)
if [ "${#dirs[@]}" -eq 0 ]; then
  echo "render-overlays: no kustomization in the repository" >&2
  exit 1
fi

# One kustomize per core: each build is independent.
export build out logs
printf '%s\0' "${dirs[@]}" | xargs -0 -n 1 -P "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)" \
  bash -c 'name=${1//\//__}; $build "$1" >"$out/$name.yaml" 2>"$logs/$name.err" || echo "$1" >"$logs/$name.failed"' _

failed=0
for dir in "${dirs[@]}"; do
  name=${dir//\//__}
  if [ -e "$logs/$name.failed" ]; then
    failed=$((failed + 1))
    echo "FAIL $dir"
    sed 's/^/  /' "$logs/$name.err"
  else
    echo "ok   $dir ($(grep -c '^kind:' "$out/$name.yaml" || true) objects)"
  fi
done
echo "render-overlays: ${#dirs[@]} kustomization(s) with $build, $failed failed; output in $out"
[ "$failed" -eq 0 ]
