#!/usr/bin/env bash
# What reading an environment's Terraform costs `socle check`: the example
# with prod on Amazon EKS, checked whole and without `terraform/prod/`
# (the same tree otherwise), alternating the two in one run (RUNS each,
# default 11). Prints median wall and CPU time, and peak memory, of each.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-11}"
cargo build --release --quiet
bin="$PWD/target/release/socle"
work="$(mktemp -d -p "${BENCH_DIR:-${TMPDIR:-/tmp}}")"
trap 'rm -rf "$work"' EXIT

"$bin" spec example | python3 -c '
import re, sys
text = sys.stdin.read()
out = re.sub(r"  - name: prod\n(    .*\n)+", "  - name: prod\n    target: eks\n    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/16}\n", text, count=1)
assert out != text
sys.stdout.write(out)' > "$work/socle.yaml"
"$bin" new --spec "$work/socle.yaml" --out "$work/with" --no-git -q
cp -r "$work/with" "$work/without"
rm -r "$work/without/terraform/prod"
tf=$(find "$work/with/terraform/prod" -name '*.tf' | wc -l)

for i in $(seq "$runs"); do
  for tree in with without; do
    /usr/bin/time -a -o "$work/$tree.times" -f '%e %U %S %M' "$bin" check "$work/$tree" >/dev/null || true
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
report() { # label file
  local wall cpu mem
  wall=$(awk '{print $1*1000}' "$2" | median)
  cpu=$(awk '{print ($2+$3)*1000}' "$2" | median)
  mem=$(awk '{print $4/1024}' "$2" | median)
  printf "  %-44s %7.0f ms wall %7.0f ms CPU %6.1f MB\n" "$1" "$wall" "$cpu" "$mem"
}
echo "socle check, prod on EKS (median of $runs, alternating)"
report "with terraform/prod ($tf .tf files)" "$work/with.times"
report "without terraform/prod" "$work/without.times"
