#!/usr/bin/env bash
# Benchmark of `socle check --range` on a synthetic history: the generated
# repository, then COMMITS commits (default 1000) each changing 1 to 5 Helm
# values files (a new key, so the values really change), made with git.
# Compared in the same run with the naive loop: `git checkout` each commit and run `socle check` on the tree (over
# NAIVE commits, default 50, and scaled to the whole range). Prints the
# figures and the peak memory of the range check.
set -euo pipefail
cd "$(dirname "$0")/../.."
commits="${COMMITS:-1000}"
naive="${NAIVE:-50}"
cargo build --release --quiet
bin="$PWD/target/release/socle"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" new -q --out "$work/repo"
cd "$work/repo"
git config user.email bench@example.invalid
git config user.name bench
base=$(git rev-parse HEAD)

mapfile -t values < <(git ls-files 'components/*/values-*.yaml')
RANDOM=42
for i in $(seq "$commits"); do
  n=$(( RANDOM % 5 + 1 ))
  for j in $(seq "$n"); do
    f=${values[$(( RANDOM % ${#values[@]} ))]}
    printf 'benchNote_%d_%d: "%d"\n' "$i" "$j" "$i" >> "$f"
  done
  git commit -qam "Bench change $i"
done

now_us() { echo $(( $(date +%s%N) / 1000 )); }
t0=$(now_us)
# The exit code is not the point here (1 would mean findings).
peak_kb=$( { /usr/bin/time -f '%M' "$bin" check --range "$base..HEAD" . >/dev/null || true; } 2>&1 | tail -1)
range_us=$(( $(now_us) - t0 ))

mapfile -t list < <(git rev-list --reverse "$base..HEAD" | head -n "$naive")
t0=$(now_us)
for c in "${list[@]}"; do
  git checkout -q "$c"
  "$bin" check . >/dev/null || true
done
naive_us=$(( $(now_us) - t0 ))
git checkout -q -

awk -v r="$range_us" -v n="$naive_us" -v k="${#list[@]}" -v c="$commits" -v m="$peak_kb" 'BEGIN {
  per = n / k
  printf "socle check --range over %d commits: %.2f s, peak memory %.1f MB\n", c, r/1e6, m/1024
  printf "naive loop (checkout + socle check), %d commits: %.2f s, %.1f ms per commit, %.1f s for %d commits\n", k, n/1e6, per/1000, per*c/1e6, c
  printf "speed-up over the naive loop: %.1fx\n", per*c/r
}'
