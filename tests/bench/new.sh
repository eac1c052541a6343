#!/usr/bin/env bash
# Benchmark of `socle new` on the full platform (embedded example spec),
# release build, against `cp -r` of the same output tree in the same run.
# TARGET=compose measures the example with dev on one Docker host instead;
# TARGET=eks, with prod on Amazon EKS (its Terraform rendered too);
# TARGET=gke, on Google Kubernetes Engine; TARGET=aks, on Azure Kubernetes
# Service.
# BLUEPRINT=lakehouse measures that blueprint's example instead (with
# TARGET as above).
# Runs alternate between the two commands and write to fresh directories
# (nothing is deleted until the end) so that both see the same filesystem
# state. Prints median wall times, their ratio, and the peak resident memory.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-21}"
cargo build --release --quiet
bin="$PWD/target/release/socle"
# BENCH_DIR picks the filesystem (e.g. /dev/shm to leave the disk out).
work="$(mktemp -d -p "${BENCH_DIR:-${TMPDIR:-/tmp}}")"
trap 'rm -rf "$work"' EXIT

# The blueprint's example (the default's unless BLUEPRINT names another),
# then TARGET's change to it.
"$bin" spec example ${BLUEPRINT:+--blueprint "$BLUEPRINT"} > "$work/example.yaml"
case "${TARGET:-kubernetes}" in
  kubernetes) cp "$work/example.yaml" "$work/socle.yaml" ;;
  # Its dev entry replaced by a Compose one.
  compose) python3 -c '
import re, sys
text = sys.stdin.read()
out = re.sub(r"  - name: dev\n(    .*\n)+", "  - name: dev\n    target: compose\n", text, count=1)
assert out != text
sys.stdout.write(out)' < "$work/example.yaml" > "$work/socle.yaml" ;;
  # Its prod entry replaced by an EKS one (with an account: the lakehouse's
  # IRSA role is named by its ARN).
  eks) python3 -c '
import re, sys
text = sys.stdin.read()
out = re.sub(r"  - name: prod\n(    .*\n)+", "  - name: prod\n    target: eks\n    cloud: {region: eu-west-3, vpc_cidr: 10.30.0.0/16, account_id: \"111122223333\"}\n", text, count=1)
assert out != text
sys.stdout.write(out)' < "$work/example.yaml" > "$work/socle.yaml" ;;
  # Its prod entry replaced by a GKE one (its project).
  gke) python3 -c '
import re, sys
text = sys.stdin.read()
out = re.sub(r"  - name: prod\n(    .*\n)+", "  - name: prod\n    target: gke\n    cloud: {project: acme-lakehouse-prod, region: europe-west9, vpc_cidr: 10.30.0.0/16}\n", text, count=1)
assert out != text
sys.stdout.write(out)' < "$work/example.yaml" > "$work/socle.yaml" ;;
  # Its prod entry replaced by an AKS one (subscription, tenant and the
  # client IDs of the blueprint's identities, as after the first apply).
  aks) second="velero"; [ "${BLUEPRINT:-}" = lakehouse ] && second="elasticsearch"
    SECOND="$second" python3 -c '
import os, re, sys
text = sys.stdin.read()
out = re.sub(r"  - name: prod\n(    .*\n)+", "  - name: prod\n    target: aks\n    cloud: {subscription: 4f6c2a1e-8b7d-4c3a-9e21-5d0b7a6c9f13, tenant: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d, region: francecentral, vpc_cidr: 10.30.0.0/16, client_ids: {external-secrets: 0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e, " + os.environ["SECOND"] + ": 1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5}}\n", text, count=1)
assert out != text
sys.stdout.write(out)' < "$work/example.yaml" > "$work/socle.yaml" ;;
  *) echo "TARGET is kubernetes, compose, eks, gke or aks" >&2; exit 2 ;;
esac
spec=(--spec "$work/socle.yaml")

now_us() { echo $(( $(date +%s%N) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { local t0; t0=$(now_us); "$@" >/dev/null; echo $(( $(now_us) - t0 )); }

"$bin" new -q "${spec[@]}" --out "$work/ref-git"
"$bin" new -q "${spec[@]}" --no-git --out "$work/ref-plain"
files=$(git -C "$work/ref-git" ls-files | wc -l)

new_git=(); cp_git=(); new_plain=(); cp_plain=()
for i in $(seq "$runs"); do
  new_git+=("$(timed "$bin" new -q "${spec[@]}" --out "$work/new-git-$i")")
  cp_git+=("$(timed cp -r "$work/ref-git" "$work/cp-git-$i")")
  new_plain+=("$(timed "$bin" new -q "${spec[@]}" --no-git --out "$work/new-plain-$i")")
  cp_plain+=("$(timed cp -r "$work/ref-plain" "$work/cp-plain-$i")")
done
a=$(printf '%s\n' "${new_git[@]}" | median)
b=$(printf '%s\n' "${cp_git[@]}" | median)
c=$(printf '%s\n' "${new_plain[@]}" | median)
d=$(printf '%s\n' "${cp_plain[@]}" | median)
peak_kb=$( { /usr/bin/time -f '%M' "$bin" new -q "${spec[@]}" --out "$work/peak" >/dev/null; } 2>&1 | tail -1)

if [ -n "${BLUEPRINT:-}" ]; then
  label="blueprint $BLUEPRINT (its example spec), TARGET=${TARGET:-kubernetes}"
else
  label="full platform, TARGET=${TARGET:-kubernetes}"
fi
awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v m="$peak_kb" -v f="$files" -v r="$runs" -v t="$label" 'BEGIN {
  printf "socle new, %s (%d files), median of %d alternating runs\n", t, f, r
  printf "  with git commit:  socle new %.1f ms   cp -r of the result %.1f ms   ratio %.2fx\n", a/1000, b/1000, a/b
  printf "  --no-git:         socle new %.1f ms   cp -r of the result %.1f ms   ratio %.2fx\n", c/1000, d/1000, c/d
  printf "  peak memory (RSS, with git): %.1f MB\n", m/1024
}'
