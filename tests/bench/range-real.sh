#!/usr/bin/env bash
# `socle check --range` per commit on a real repository's history: the
# last COMMITS (default 500) commits of the first-parent line of REPO, a
# local clone (no network here: clone it first, e.g. a homelab monorepo).
#
#   bash tests/bench/range-real.sh REPO
#
# Prints, each measured in this run with `perf stat` task-clock (or
# /usr/bin/time when perf is missing):
# - the CPU time per commit: (CPU of the range over all commits - CPU of
#   the range over its first commit) / (commits - 1), so start-up and the
#   first full check are not counted;
# - peak memory over the first fifth of the range and over all of it;
# - a cold and a warm run with the persistent cache (`--cache=DIR`).
# SOCLE_BIN reuses a built binary; RUNS repeats the CPU measure (median).
set -euo pipefail
repo="${1:?usage: range-real.sh REPO}"
commits="${COMMITS:-500}"
runs="${RUNS:-5}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -z "${SOCLE_BIN:-}" ]; then
  (cd "$here" && cargo build --release --quiet)
fi
bin="${SOCLE_BIN:-$here/target/release/socle}"
cd "$repo"
base=$(git rev-list --first-parent HEAD | sed -n "$((commits + 1))p")
[ -n "$base" ] || { echo "fewer than $((commits + 1)) commits on the first-parent line" >&2; exit 2; }
first=$(git rev-list --reverse "$base..HEAD" | sed -n 1p)
fifth=$(git rev-list --reverse "$base..HEAD" | sed -n "$(( commits / 5 ))p")
n=$(git rev-list --count "$base..HEAD")

cpu_ms() {
  if command -v perf >/dev/null; then
    perf stat -x, -e task-clock "$bin" check --range "$1" . 2>&1 >/dev/null | awk -F, '/task-clock/ {print $1}'
  else
    { /usr/bin/time -f '%U %S' "$bin" check --range "$1" . >/dev/null || true; } 2>&1 | tail -1 | awk '{print ($1 + $2) * 1000}'
  fi
}
peak_kb() {
  { /usr/bin/time -f '%M' "$bin" check --range "$1" . >/dev/null || true; } 2>&1 | tail -1
}
per=()
for _ in $(seq "$runs"); do
  one=$(cpu_ms "$base..$first"); all=$(cpu_ms "$base..HEAD")
  per+=("$(awk -v a="$one" -v b="$all" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / (n - 1) }')")
done
median=$(printf '%s\n' "${per[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
mf=$(peak_kb "$base..$fifth"); mn=$(peak_kb "$base..HEAD")
cache="$(mktemp -d "${TMPDIR:-/tmp}/socle-range-cache.XXXXXX")"
trap 'rm -rf "$cache"' EXIT
t0=$(date +%s%N); "$bin" check --range "$base..HEAD" --cache="$cache" . >/dev/null || true
t1=$(date +%s%N); "$bin" check --range "$base..HEAD" --cache="$cache" . >/dev/null || true
t2=$(date +%s%N)
echo "repository: $(git ls-files | wc -l) files; $n commits"
echo "CPU per commit: $median ms (median of $runs: ${per[*]})"
awk -v mf="$mf" -v mn="$mn" -v f="$(( commits / 5 ))" -v c="$commits" 'BEGIN {
  printf "peak memory: %.1f MB over %d commits, %.1f MB over %d (%.3f MB per commit)\n", mf/1024, f, mn/1024, c, (mn - mf) / 1024 / (c - f) }'
awk -v cold="$((t1 - t0))" -v warm="$((t2 - t1))" 'BEGIN {
  printf "persistent cache: cold %.2f s, warm %.2f s (%.1fx)\n", cold/1e9, warm/1e9, cold/warm }'
