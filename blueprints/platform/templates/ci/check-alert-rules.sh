#!/usr/bin/env bash
# Checks the alert rules with promtool and runs their unit tests.
#
#   bash ci/check-alert-rules.sh
#
# promtool reads plain rule files, not PrometheusRule objects, so the `spec`
# (the rule groups) of every PrometheusRule of the repository is extracted
# into a scratch copy that keeps each file's path: `promtool check rules`
# runs on every one of them. The unit tests under observability/tests/ name
# the repository's PrometheusRule files in `rule_files`; they run against
# the extracted groups, without annotations, since a unit test compares the
# alerts' labels and the thresholds that fire them (promtool check rules has
# already validated the annotation templates). Needs promtool and a python
# with PyYAML.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

promtool --version | head -n 1
python3 - "$repo" "$work" <<'PY'
import os
import sys

import yaml

repo, work = sys.argv[1], sys.argv[2]
found = []
for root, dirs, files in os.walk(repo):
    # Hidden directories hold git's data and the CI's caches, not rules.
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    for name in sorted(files):
        if not name.endswith((".yaml", ".yml")):
            continue
        path = os.path.join(root, name)
        with open(path) as f:
            text = f.read()
        if "PrometheusRule" not in text:
            continue
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind") == "PrometheusRule"]
        if not docs:
            continue
        if len(docs) > 1:
            sys.exit(f"{os.path.relpath(path, repo)}: one PrometheusRule per file, so that unit tests can name it")
        rel = os.path.relpath(path, repo)
        groups = docs[0].get("spec") or {}
        bare = {"groups": [dict(g, rules=[{k: v for k, v in r.items() if k != "annotations"} for r in g.get("rules") or []]) for g in groups.get("groups") or []]}
        for tree, content in (("check", groups), ("test", bare)):
            target = os.path.join(work, tree, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as out:
                yaml.safe_dump(content, out, sort_keys=False)
        found.append(rel)
if not found:
    sys.exit("check-alert-rules: no PrometheusRule in the repository")
with open(os.path.join(work, "rule-files"), "w") as out:
    out.write("\n".join(found) + "\n")
print(f"extracted {len(found)} PrometheusRule file(s)")
PY

rule_files=()
while IFS= read -r rel; do
  rule_files+=("$work/check/$rel")
done <"$work/rule-files"
(cd "$work/check" && promtool check rules "${rule_files[@]#"$work/check/"}")

tests=()
if [ -d "$repo/observability/tests" ]; then
  mkdir -p "$work/test/observability"
  cp -R "$repo/observability/tests" "$work/test/observability/"
  while IFS= read -r t; do
    tests+=("$t")
  done < <(cd "$work/test" && find observability/tests -type f \( -name '*.yaml' -o -name '*.yml' \) | LC_ALL=C sort)
fi
if [ "${#tests[@]}" -eq 0 ]; then
  echo "check-alert-rules: no unit test under observability/tests/" >&2
  exit 1
fi
(cd "$work/test" && promtool test rules "${tests[@]}")
echo "check-alert-rules: ${#rule_files[@]} rule file(s) checked, ${#tests[@]} unit test file(s) passed"
