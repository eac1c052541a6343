#!/usr/bin/env bash
# Benchmark of `socle check` on the default generated repository, release
# build: the whole check against the bare regorus evaluation of the same
# inputs (same run), the binary's wall time and peak memory, and checkov on
# the same tree as a peer. CHECKOV names a checkov binary (pip install
# checkov==3.3.30 in a venv); without it the peer is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-11}"
cargo build --release --quiet --bins --example check_bench
bin="$PWD/target/release/socle"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" new -q --no-git --out "$work/repo"

cargo run --release --quiet --example check_bench -- "$work/repo" "$runs"

now_us() { echo $(( $(date +%s%N) / 1000 )); }
times=()
for i in $(seq "$runs"); do
  t0=$(now_us); "$bin" check "$work/repo" >/dev/null; times+=($(( $(now_us) - t0 )))
done
socle_us=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
peak_kb=$( { /usr/bin/time -f '%M' "$bin" check "$work/repo" >/dev/null; } 2>&1 | tail -1)
awk -v t="$socle_us" -v r="$runs" -v m="$peak_kb" 'BEGIN { printf "socle check (binary): median %.1f ms over %d runs, peak memory %.1f MB\n", t/1000, r, m/1024 }'

# The persistent cache (--cache): a cold run fills it, warm runs read it.
cache="$work/cache"
t0=$(now_us); "$bin" check --cache="$cache" "$work/repo" >/dev/null; cold_us=$(( $(now_us) - t0 ))
times=()
for i in $(seq "$runs"); do
  t0=$(now_us); "$bin" check --cache="$cache" "$work/repo" >/dev/null; times+=($(( $(now_us) - t0 )))
done
warm_us=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
awk -v c="$cold_us" -v w="$warm_us" -v s="$socle_us" 'BEGIN { printf "socle check --cache: cold %.1f ms, warm median %.1f ms (%.2fx the uncached check)\n", c/1000, w/1000, w/s }'

if [ -n "${CHECKOV:-}" ]; then
  t0=$(now_us)
  "$CHECKOV" -d "$work/repo" --framework kubernetes --compact --quiet -o json >/dev/null 2>&1 || true
  checkov_us=$(( $(now_us) - t0 ))
  awk -v c="$checkov_us" -v s="$socle_us" 'BEGIN { printf "checkov -d (kubernetes framework): %.1f ms, %.1fx socle check\n", c/1000, c/s }'
fi
