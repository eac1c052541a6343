#!/usr/bin/env bash
# Benchmark of `socle new` on the full platform (embedded example spec),
# release build, against `cp -r` of the same output tree in the same run.
# Prints median wall times, their ratio, and the peak resident memory.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-21}"
cargo build --release --quiet
bin="$PWD/target/release/socle"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() { # label, command...
  local label="$1"; shift
  local times=()
  for i in $(seq "$runs"); do
    rm -rf "$work/out"
    local t0; t0=$(now_ns)
    "$@" >/dev/null
    local t1; t1=$(now_ns)
    times+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | median
}

new_git_us=$(measure new "$bin" new -q --out "$work/out")
files=$(git -C "$work/out" ls-files | wc -l)
rm -rf "$work/ref"; "$bin" new -q --out "$work/ref"
cp_git_us=$(measure cp cp -r "$work/ref" "$work/out")
new_nogit_us=$(measure new-no-git "$bin" new -q --no-git --out "$work/out")
rm -rf "$work/ref-nogit"; "$bin" new -q --no-git --out "$work/ref-nogit"
cp_nogit_us=$(measure cp-no-git cp -r "$work/ref-nogit" "$work/out")

rm -rf "$work/out"
peak_kb=$( { /usr/bin/time -f '%M' "$bin" new -q --out "$work/out" >/dev/null; } 2>&1 | tail -1)

awk -v a="$new_git_us" -v b="$cp_git_us" -v c="$new_nogit_us" -v d="$cp_nogit_us" -v m="$peak_kb" -v f="$files" -v r="$runs" 'BEGIN {
  printf "socle new, full platform (%d files), median of %d runs\n", f, r
  printf "  with git commit:  socle new %.1f ms   cp -r %.1f ms   ratio %.2fx\n", a/1000, b/1000, a/b
  printf "  --no-git:         socle new %.1f ms   cp -r %.1f ms   ratio %.2fx\n", c/1000, d/1000, c/d
  printf "  peak memory (RSS, with git): %.1f MB\n", m/1024
}'
