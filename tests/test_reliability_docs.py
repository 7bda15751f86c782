"""``docs/reliability.md`` and the reliability tests stay in step: every test the document
cites exists, and every reliability test is cited (a guarantee without a test, or a test
nobody can find in the document, is a gap either way)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
#: any `<file key>::test_name` citation; the key is the test file's name after
#: ``test_reliability_`` (``test_`` for the bench files); a new test file needs no edit here
CITE = re.compile(r"`(\w+)::(test_\w+)")


def defined_tests() -> dict[str, set[str]]:
    out = {}
    paths = [*(ROOT / "tests").glob("test_reliability_*.py"),
             *(ROOT / "tests").glob("test_bench_*.py")]
    for path in sorted(paths):
        key = path.stem.removeprefix("test_reliability_").removeprefix("test_")
        if key == "docs":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        out[key] = {n.name for n in tree.body
                    if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return out


def test_every_cited_test_exists():
    tests = defined_tests()
    cited = CITE.findall(DOC.read_text(encoding="utf-8"))
    assert cited
    missing = [f"{f}::{t}" for f, t in cited if t not in tests.get(f, set())]
    assert not missing, f"docs/reliability.md cites tests that do not exist: {missing}"


def test_every_reliability_test_is_cited():
    cited = set(CITE.findall(DOC.read_text(encoding="utf-8")))
    uncited = [f"{f}::{t}" for f, names in defined_tests().items() for t in sorted(names)
               if (f, t) not in cited]
    assert not uncited, f"add these to docs/reliability.md: {uncited}"
