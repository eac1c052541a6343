#!/usr/bin/env bash
# Benchmark of `socle diff` and `socle update` on the full platform
# repository (tests/fixtures/specs/full.yaml), release build: diff with no
# drift, diff and update to a changed spec (the catalog swapped, a domain
# renamed) with team edits in place. Median of RUNS (default 11) each.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${RUNS:-11}"
cargo build --release --quiet
bin="$PWD/target/release/socle"
spec="$PWD/tests/fixtures/specs/full.yaml"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Spec B: another catalog (components swapped) and a domain renamed.
sed -e 's/catalog: openmetadata/catalog: datahub/' -e 's/- name: finance$/- name: finance-emea/' \
  "$spec" > "$work/b.yaml"
cmp -s "$spec" "$work/b.yaml" && { echo "spec B equals spec A" >&2; exit 1; }

now_us() { echo $(( $(date +%s%N) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

fresh() {
  rm -rf "$work/repo"
  "$bin" new -q --spec "$spec" --out "$work/repo"
  printf '\nTeam note: month-end runs need two more Trino workers.\n' >> "$work/repo/README.md"
  git -C "$work/repo" -c user.email=b@example.invalid -c user.name=bench \
    commit -qam "Team edits"
}

fresh
files=$(git -C "$work/repo" ls-files | wc -l)
nodrift=(); drift=(); update=()
for i in $(seq "$runs"); do
  t0=$(now_us); "$bin" diff "$work/repo" >/dev/null; nodrift+=($(( $(now_us) - t0 )))
  t0=$(now_us); "$bin" diff --spec "$work/b.yaml" "$work/repo" >/dev/null || true; drift+=($(( $(now_us) - t0 )))
done
cold=()
for i in $(seq "$runs"); do
  # First update of a fresh clone: the check after it evaluates every file.
  fresh
  t0=$(now_us); "$bin" update --spec "$work/b.yaml" "$work/repo" >/dev/null || true; cold+=($(( $(now_us) - t0 )))
  # A repository in use: its check cache (.socle/cache) already holds the
  # results of a `socle check --cache` (the pre-commit hook's command).
  fresh
  "$bin" check --cache "$work/repo" >/dev/null || true
  t0=$(now_us); "$bin" update --spec "$work/b.yaml" "$work/repo" >/dev/null || true; update+=($(( $(now_us) - t0 )))
done
peak_kb=$( { /usr/bin/time -f '%M' "$bin" diff --spec "$work/b.yaml" "$work/repo" >/dev/null || true; } 2>&1 | tail -1)
printf 'full platform repository: %d files, median of %d runs\n' "$files" "$runs"
printf 'socle diff (no drift): %.1f ms\n' "$(printf '%s\n' "${nodrift[@]}" | median | awk '{print $1/1000}')"
printf 'socle diff (new spec): %.1f ms, peak memory %.1f MB\n' "$(printf '%s\n' "${drift[@]}" | median | awk '{print $1/1000}')" "$(awk -v k="$peak_kb" 'BEGIN{print k/1024}')"
printf 'socle update (new spec, with the check after it), check cache warm: %.1f ms\n' "$(printf '%s\n' "${update[@]}" | median | awk '{print $1/1000}')"
printf 'socle update (new spec, with the check after it), first run, cache cold: %.1f ms\n' "$(printf '%s\n' "${cold[@]}" | median | awk '{print $1/1000}')"
