#!/usr/bin/env bash
# Differential check of `socle check --range` against a check of each commit.
#
#   tests/tools/range_differential.sh SEED [SPEC]
#
# Renders a repository (the embedded example, or SPEC), then makes 25
# commits, each one drawn edit of a line that says something (a flag
# flipped, a number raised, a value lengthened, a line removed), preferring
# the lines the system model reads. At every commit it compares the
# findings of `--range base..<commit>` (those not fixed within it) with
# those of `--commit <commit>`, each with its line, and prints each
# difference. A range keeps much of what it read between commits; any
# difference is something it kept that the commit changed. Exit 1 when a
# commit differs.
#
# SOCLE_BIN names the binary (default target/release/socle). The work is
# done in a temporary directory, removed on exit.
set -euo pipefail

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
  echo "usage: $0 SEED [SPEC]" >&2
  exit 2
fi
seed=$1
spec=${2:-}
bin=$(realpath "${SOCLE_BIN:-target/release/socle}")
[ -n "$spec" ] && spec=$(realpath "$spec")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo=$work/r

if [ -n "$spec" ]; then
  "$bin" new -q --spec "$spec" --out "$repo" >/dev/null
else
  "$bin" new -q --out "$repo" >/dev/null
fi
cd "$repo"
git config user.email check@example.invalid
git config user.name check
git tag base

python3 - "$seed" <<'PY'
import random, re, subprocess, sys
rng = random.Random(int(sys.argv[1]))
files = [f for f in subprocess.run(["git", "ls-files", "*.yaml", "*.tf"], capture_output=True,
                                   text=True, check=True).stdout.split()
         if not re.match(r"(\.github|ci|dbt|notebooks)/", f)]
read = re.compile(r"azure|serviceAccount|labels|client|host|port|bucket|account|secret|name|region|endpoint", re.I)
made = 0
while made < 25:
    path = rng.choice(files)
    lines = open(path).read().split("\n")
    says = [i for i, l in enumerate(lines)
            if re.search(r"[:=]\s*\S", l) and not l.lstrip().startswith("#")]
    if not says:
        continue
    hot = [i for i in says if read.search(lines[i]) or (i and re.search(r"labels|annotations", lines[i - 1]))]
    i = rng.choice(hot if hot and rng.random() < 0.8 else says)
    line, op = lines[i], rng.randrange(4)
    if op == 0 and re.search(r"\b(true|false)\b", line):
        lines[i] = re.sub(r"\btrue\b", "false", line) if "true" in line else re.sub(r"\bfalse\b", "true", line)
    elif op == 1 and re.search(r"\d", line):
        lines[i] = re.sub(r"(\d+)(?!.*\d)", lambda m: str(int(m.group(1)) + 1), line)
    elif op == 2:
        lines.pop(i)
    else:
        m = re.search(r"([A-Za-z0-9])(\"?)\s*$", line)
        if not m:
            continue
        lines[i] = line[:m.start(1) + 1] + "x" + line[m.start(1) + 1:]
    open(path, "w").write("\n".join(lines))
    if subprocess.run(["git", "commit", "-qam", f"Edit {path}"], capture_output=True).returncode == 0:
        made += 1
PY

differing=0
for c in $(git rev-list --reverse base..HEAD); do
  set +e
  "$bin" check --commit "$c" --format json . >"$work/commit.json" 2>"$work/commit.err"
  "$bin" check --range "base..$c" --format json . >"$work/range.json" 2>"$work/range.err"
  set -e
  report=$(python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def findings(name, drop_fixed):
    try:
        report = json.load(open(f"{work}/{name}.json"))
    except ValueError:
        return None
    return {(f["rule"], f["file"], f["message"], f.get("line")) for f in report.get("findings", [])
            if not (drop_fixed and f.get("fixed_in"))}
commit, ranged = findings("commit", False), findings("range", True)
if (commit is None) != (ranged is None):
    print("  one of the two checks gave no report:", open(f"{work}/commit.err").read()[:300],
          "|", open(f"{work}/range.err").read()[:300])
elif commit is not None:
    for f in sorted(commit - ranged):
        print("  only the commit's check:", f[0], f"{f[1]}:{f[3]}", f[2][:160])
    for f in sorted(ranged - commit):
        print("  only the range:", f[0], f"{f[1]}:{f[3]}", f[2][:160])
PY
)
  if [ -n "$report" ]; then
    differing=$((differing + 1))
    echo "$(git log -1 --format='%h %s' "$c")"
    echo "$report"
  fi
done
echo "seed $seed: $differing of 25 commits differ"
[ "$differing" -eq 0 ]
