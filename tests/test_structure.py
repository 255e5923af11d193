"""The code's shape: no function or method body over :data:`LIMIT` lines outside the tests
(issue 20: a long body does several jobs; split it by job)."""

import ast
import os

from tests.test_layers import ROOT, project_modules

#: The most lines a function's body may have (its docstring aside).
LIMIT = 100

#: Bodies still over the limit, each with its length today: the test fails when one grows,
#: and when one is split (take it off the list then), so that the list only shrinks.
KNOWN = {}


def long_bodies(modules):
    """``{"path:function": lines}`` of every function body over :data:`LIMIT` lines."""
    found = {}
    for module, path in sorted(modules.items()):
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body
            if len(body) > 1 and isinstance(body[0], ast.Expr) and \
                    isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                body = body[1:]
            lines = node.end_lineno - body[0].lineno + 1
            if lines > LIMIT:
                found[f"{os.path.relpath(path, ROOT)}:{node.name}"] = lines
    return found


def test_no_body_over_the_limit():
    found = long_bodies(project_modules())
    new = {k: v for k, v in found.items() if k not in KNOWN or v > KNOWN[k]}
    assert not new, f"bodies over {LIMIT} lines (split them by job): {new}"
    gone = sorted(set(KNOWN) - set(found))
    assert not gone, f"no longer over {LIMIT} lines: take them off KNOWN: {gone}"


def test_a_long_body_is_found(tmp_path):
    path = tmp_path / "long.py"
    path.write_text("def f():\n    \"\"\"Doc.\"\"\"\n" + "    x = 1\n" * (LIMIT + 1) +
                    "def g():\n" + "    x = 1\n" * LIMIT)
    assert long_bodies({"q8.long": str(path)}) == {f"{os.path.relpath(path, ROOT)}:f": LIMIT + 1}
