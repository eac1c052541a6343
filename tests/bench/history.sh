#!/usr/bin/env bash
# Benchmark of `socle check --range` per commit on a realistic history: the
# generated repository (about 600 files), then COMMITS commits (default 500)
# that each change ONE file, as most commits of a GitOps repository do: a
# Helm values file (a key added), a manifest (a label added), a runbook or
# the README, chosen at random; with KINDS=manifest, values or docs, a file
# of that kind every time.
#
# Prints, each measured in this run:
# - the CPU time per commit: (CPU of the range over all commits - CPU of the
#   range over its first commit) / (COMMITS - 1), so the first commit's full
#   check and the start-up are not counted;
# - peak memory over the first fifth of the range and over all of it, and
#   the growth per commit between the two;
# - a cold and a warm run with the persistent cache (`--cache=DIR`), and
#   their ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
commits="${COMMITS:-500}"
if [ -z "${SOCLE_BIN:-}" ]; then
  cargo build --release --quiet
fi
bin="${SOCLE_BIN:-$PWD/target/release/socle}"
work="$(mktemp -d "${BENCH_DIR:-/tmp}/socle-history.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$bin" new -q --out "$work/repo"
cd "$work/repo"
git config user.email bench@example.invalid
git config user.name bench
base=$(git rev-parse HEAD)

mapfile -t values < <(git ls-files 'components/*/values*.yaml')
mapfile -t manifests < <(git ls-files 'components/*/manifests/*' 'platform/*' | grep -E '\.ya?ml$' | grep -v kustomization)
mapfile -t docs < <(git ls-files '*.md')
RANDOM=42
for i in $(seq "$commits"); do
  kind=$(( RANDOM % 4 ))
  # KINDS=manifest (the costliest kind), values or docs: every commit
  # changes a file of that kind.
  case "${KINDS:-}" in manifest) kind=2 ;; values) kind=0 ;; docs) kind=3 ;; esac
  case $kind in
    0|1) f=${values[$(( RANDOM % ${#values[@]} ))]}; printf 'benchNote%d: "%d"\n' "$i" "$i" >> "$f" ;;
    # A manifest's content changes (a label added to its first object), not
    # a comment only: the model and its judgement are built again.
    2) f=${manifests[$(( RANDOM % ${#manifests[@]} ))]}
       if grep -q '^  labels:$' "$f"; then
         sed -i "0,/^  labels:\$/s//  labels:\n    bench.example\/note-$i: \"$i\"/" "$f"
       else
         printf '# bench note %d\n' "$i" >> "$f"
       fi ;;
    3) f=${docs[$(( RANDOM % ${#docs[@]} ))]}; printf '\nBench note %d.\n' "$i" >> "$f" ;;
  esac
  git commit -qam "Bench change $i"
done
files=$(git ls-files | wc -l)

# CPU seconds (user + system) and peak kB of one range check.
measure() {
  local out
  out=$( { /usr/bin/time -f '%U %S %M' "$bin" check "$@" . >/dev/null || true; } 2>&1 | tail -1)
  echo "$out"
}
first=$(git rev-list --reverse "$base..HEAD" | sed -n 1p)
fifth=$(git rev-list --reverse "$base..HEAD" | sed -n "$(( commits / 5 ))p")
read -r u1 s1 m1 < <(measure --range "$base..$first")
read -r uf sf mf < <(measure --range "$base..$fifth")
read -r un sn mn < <(measure --range "$base..HEAD")
cache="$work/cache"
t0=$(date +%s%N); measure --range "$base..HEAD" --cache="$cache" >/dev/null; cold=$(( $(date +%s%N) - t0 ))
t0=$(date +%s%N); measure --range "$base..HEAD" --cache="$cache" >/dev/null; warm=$(( $(date +%s%N) - t0 ))

awk -v c="$commits" -v files="$files" -v u1="$u1" -v s1="$s1" -v un="$un" -v sn="$sn" \
    -v mf="$mf" -v mn="$mn" -v cold="$cold" -v warm="$warm" -v fifth="$(( commits / 5 ))" 'BEGIN {
  one = u1 + s1; all = un + sn
  printf "repository: %d files; %d commits of one file each\n", files, c
  printf "range over the first commit: %.2f s CPU; over all %d: %.2f s CPU\n", one, c, all
  printf "CPU per commit: %.2f ms\n", (all - one) / (c - 1) * 1000
  printf "peak memory: %.1f MB over %d commits, %.1f MB over %d (%.3f MB per commit)\n", mf/1024, fifth, mn/1024, c, (mn - mf) / 1024 / (c - fifth)
  printf "persistent cache: cold %.2f s, warm %.2f s (%.1fx)\n", cold/1e9, warm/1e9, cold/warm
}'
