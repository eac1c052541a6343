#!/usr/bin/env bash
# `socle check` on hostile input: flow nesting of 10k, 50k and 100k levels
# (refused before parsing, so the time must stay flat), a YAML file just
# under the 10 MB file limit (one document: refused by the 3 MB document
# cap) and a document just under that cap. Prints wall time and peak memory of each.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
bin="$PWD/target/release/socle"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

measure() { # label dir
  local out
  /usr/bin/time -o "$work/time" -f '%e %M' "$bin" check "$2" >/dev/null 2>&1 || true
  out=$(tail -1 "$work/time")
  awk -v l="$1" -v o="$out" 'BEGIN { split(o, a, " "); printf "  %-38s %8.0f ms %8.1f MB\n", l, a[1]*1000, a[2]/1024 }'
}

echo "socle check on hostile input (wall time, peak memory)"
for depth in 10000 50000 100000; do
  mkdir -p "$work/deep-$depth"
  python3 -c "import sys; d=int(sys.argv[1]); open(sys.argv[2],'w').write('a: '+'['*d+']'*d+'\n')" \
    "$depth" "$work/deep-$depth/d.yaml"
  measure "flow nesting, $depth levels" "$work/deep-$depth"
done
mkdir -p "$work/big"
python3 - "$work/big/values.yaml" <<'PY'
import sys
with open(sys.argv[1], 'w') as f:
    n = 0
    while n < 10 * 1024 * 1024 - 4096:
        line = f"key_{n:09d}: a value of about forty bytes\n"
        f.write(line)
        n += len(line)
PY
measure "a 10 MB YAML file (one document)" "$work/big"
mkdir -p "$work/cap"
head -c $((3 * 1024 * 1024 - 4096)) "$work/big/values.yaml" | sed '$d' > "$work/cap/values.yaml"
measure "a document just under the 3 MB cap" "$work/cap"
