"""Compile the embedded Rego policies with real OPA and run their tests.

socle evaluates its policies with regorus; conftest and OPA users must be able
to take the same files. This loads every policies/*.rego into OPA (Go, through
opa-golib-python-bindings), which compiles them with OPA 1.x's Rego v1 rules,
then evaluates every `test_` rule of the *_test.rego modules, as `opa test`
would. The regorus side runs the same tests through `socle policy test`.
"""

import pathlib
import re
import sys

from opa_bindings import OpaEngine, OpaError, OpaUndefinedError

root = pathlib.Path(__file__).resolve().parents[2] / "policies"
modules = sorted(root.glob("*.rego"))
if not modules:
    sys.exit(f"no policies under {root}")

engine = OpaEngine()
for path in modules:
    engine.add_policy(str(path.relative_to(root.parent)), path.read_text())
try:
    engine.eval_query("true")
except OpaError as err:
    sys.exit(f"OPA does not compile the policies: {err}")
print(f"OPA compiled {len(modules)} modules")

passed = failed = 0
for path in modules:
    if not path.name.endswith("_test.rego"):
        continue
    text = path.read_text()
    package = re.search(r"^package\s+(\S+)", text, re.M).group(1)
    for name in dict.fromkeys(re.findall(r"^(test_\w+)", text, re.M)):
        try:
            ok = engine.eval_document(f"{package}.{name}") is True
        except (OpaUndefinedError, OpaError):
            ok = False
        print(f"{'PASS' if ok else 'FAIL'} {path.name}: {name}")
        passed += ok
        failed += not ok
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
