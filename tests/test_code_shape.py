"""The shape of the source outside ``tests/``: sizes, complexity, layers, import cycles.

The rules (``docs/architecture.md``, "Code shape"):

- no class over 400 lines, no function over 60 lines (``def`` line to last line);
- no function above cyclomatic complexity 15 as radon counts it (the reference: radon's
  ``cc_visit``, the same numbers ``radon cc -s`` prints; closures are counted apart from the
  function that holds them, as radon does);
- no ``v["name"]`` string access to protocol values in ``protocols/`` (typed values instead);
- imports follow the layer table of ``docs/architecture.md`` (:data:`LAYERS`), whether at
  module level or inside a function;
- no import cycle between modules (in-function imports count: they are cycles that happen
  later);
- an import of another package inside a function only where a comment on that line or the
  line above says why (it saves start-up time).

Today's offenders are named in the allow-lists below. An entry that no longer offends fails
the test too, so the lists only shrink: whoever fixes an offender removes its entry.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: the packages whose source is checked (``labcore`` may not exist yet in an old checkout)
PACKAGES = ("labapp", "benchmarks", "protocols", "drivers", "sim_backend", "analysis", "labcore")

#: which project packages each package may import: the layers table of
#: ``docs/architecture.md`` (its "imports" column; held to it by
#: :func:`test_layers_match_docs_architecture`); ``benchmarks`` stands above them all
LAYERS: dict[str, set[str]] = {
    "benchmarks": {"labapp", "protocols", "drivers", "sim_backend", "analysis", "labcore"},
    "labapp": {"protocols", "drivers", "sim_backend", "analysis", "labcore"},
    "protocols": {"drivers", "analysis", "labcore"},
    "drivers": set(),
    "sim_backend": {"labcore"},
    "analysis": {"labcore"},
    "labcore": set(),
}

#: third-party packages a layer must not import (Qt lives only in labapp; analysis reads run
#: files without pyvisa)
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "protocols": {"PyQt6", "pyqtgraph"},
    "drivers": {"PyQt6", "pyqtgraph"},
    "sim_backend": {"PyQt6", "pyqtgraph"},
    "analysis": {"PyQt6", "pyqtgraph", "pyvisa", "pyvisa_py", "pymeasure"},
    "labcore": {"PyQt6", "pyqtgraph", "pyvisa", "pyvisa_py", "pymeasure"},
}

MAX_CLASS_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_COMPLEXITY = 15

# ---------------------------------------------------------------------------------------
# Allow-lists: today's offenders. Remove an entry in the commit that fixes it.
# ---------------------------------------------------------------------------------------

#: classes over MAX_CLASS_LINES ("path:Class")
LONG_CLASSES: set[str] = set()

#: functions over MAX_FUNCTION_LINES ("path:Qual.name")
LONG_FUNCTIONS: set[str] = set()

#: functions above MAX_COMPLEXITY ("path:Qual.name")
COMPLEX_FUNCTIONS: set[str] = set()

#: functions of protocols/ reading protocol values by string key ("path:Qual.name")
STRING_VALUE_ACCESS: set[str] = set()

#: imports against the layer table ("path -> module")
LAYER_VIOLATIONS: set[str] = {
    # the deprecated ``protocols.connect`` spelling, loaded only when a script uses it
    "protocols/__init__.py -> labapp.instrument_choice",
}

#: import edges that close a cycle ("module -> module"); with them removed no cycle is left
CYCLE_EDGES: set[str] = set()

#: cross-package imports inside a function with no comment saying why ("path:Qual -> module")
UNEXPLAINED_LOCAL_IMPORTS: set[str] = set()


# ---------------------------------------------------------------------------------------
# Reading the source
# ---------------------------------------------------------------------------------------


@dataclass
class Import:
    """One imported module as seen from one file."""

    target: str  # dotted module (a project module when it exists, else what was named)
    lineno: int
    scope: str  # "" at module level, else the qualified name of the enclosing function
    type_checking: bool  # under ``if TYPE_CHECKING:`` (never executed)


@dataclass
class Source:
    """One module of the checked packages, parsed once."""

    path: Path
    rel: str  # "pkg/mod.py"
    module: str  # "pkg.mod"
    text: str
    tree: ast.Module
    # (qualified name, node); a name may repeat (a property's setter, a conditional def)
    functions: list[tuple[str, ast.AST]] = field(default_factory=list)
    classes: list[tuple[str, ast.ClassDef]] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)

    @property
    def package(self) -> str:
        return self.module.split(".")[0]

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Walker(ast.NodeVisitor):
    """Qualified names of functions and classes, and every import with its scope."""

    def __init__(self, src: Source, modules: set[str]) -> None:
        self.src = src
        self.modules = modules
        self.stack: list[str] = []
        self.function_depth = 0
        self.type_checking = False

    def _scoped(self, node, kind: str) -> None:
        qual = ".".join([*self.stack, node.name])
        if kind == "class":
            self.src.classes.append((qual, node))
        else:
            self.src.functions.append((qual, node))
            self.function_depth += 1
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()
        if kind != "class":
            self.function_depth -= 1

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node, "class")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node, "function")

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            saved, self.type_checking = self.type_checking, True
            for child in node.body:
                self.visit(child)
            self.type_checking = saved
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _add(self, target: str, lineno: int) -> None:
        scope = ".".join(self.stack) if self.function_depth else ""
        self.src.imports.append(Import(target, lineno, scope, self.type_checking))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.src.module.split(".")
            if not self.src.path.name == "__init__.py":
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        for alias in node.names:
            candidate = f"{prefix}.{alias.name}"
            # ``from pkg import submodule`` imports the submodule; ``from pkg import name``
            # the package's ``__init__``
            self._add(candidate if candidate in self.modules else prefix, node.lineno)


@cache
def sources() -> tuple[Source, ...]:
    paths = [p for pkg in PACKAGES if (ROOT / pkg).is_dir()
             for p in sorted((ROOT / pkg).rglob("*.py"))]
    modules = {_module_name(p) for p in paths}
    out = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        src = Source(path, path.relative_to(ROOT).as_posix(), _module_name(path), text,
                     ast.parse(text, filename=str(path)))
        _Walker(src, modules).visit(src.tree)
        out.append(src)
    return tuple(out)


def _top(module: str) -> str:
    return module.split(".")[0]


def _project_module(target: str, modules: set[str]) -> str | None:
    """The project module an import names (its longest existing prefix), or None."""
    if _top(target) not in PACKAGES:
        return None
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in modules:
            return name
        parts.pop()
    return None


def _lines(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1


def _check(found: set[str], allowed: set[str], what: str) -> None:
    """New offenders and stale allow-list entries, both named."""
    new = sorted(found - allowed)
    stale = sorted(allowed - found)
    problems = []
    if new:
        problems.append(f"{what}, not allowed:\n    " + "\n    ".join(new))
    if stale:
        problems.append(f"{what}: allow-list entries that no longer offend (remove them "
                        "from tests/test_code_shape.py):\n    " + "\n    ".join(stale))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------
# Sizes and complexity
# ---------------------------------------------------------------------------------------


def test_source_found():
    """The walk sees the packages it checks (a moved root would make every check vacuous)."""
    found = {s.package for s in sources()}
    assert {"labapp", "protocols", "drivers", "sim_backend", "analysis"} <= found
    assert sum(len(s.functions) for s in sources()) > 500


def test_no_long_classes():
    found = {f"{s.rel}:{q}" for s in sources() for q, node in s.classes
             if _lines(node) > MAX_CLASS_LINES}
    _check(found, LONG_CLASSES, f"classes over {MAX_CLASS_LINES} lines")


def test_no_long_functions():
    found = {f"{s.rel}:{q}" for s in sources() for q, node in s.functions
             if _lines(node) > MAX_FUNCTION_LINES}
    _check(found, LONG_FUNCTIONS, f"functions over {MAX_FUNCTION_LINES} lines")


def complexities(src: Source) -> dict[str, int]:
    """radon's cyclomatic complexity of every function of ``src``, by qualified name."""
    from radon.complexity import add_inner_blocks, cc_visit_ast
    from radon.visitors import Function

    by_line = {node.lineno: q for q, node in src.functions}
    out: dict[str, int] = {}
    for block in add_inner_blocks(cc_visit_ast(src.tree)):
        if isinstance(block, Function):
            name = by_line[block.lineno]
            out[name] = max(out.get(name, 0), block.complexity)
    return out


def test_no_complex_functions():
    pytest.importorskip("radon", reason="radon is in the test extra: pip install -e '.[test]'")
    found = {f"{s.rel}:{q}" for s in sources() for q, cc in complexities(s).items()
             if cc > MAX_COMPLEXITY}
    _check(found, COMPLEX_FUNCTIONS, f"functions above cyclomatic complexity {MAX_COMPLEXITY}")


def test_complexity_counts_as_radon_does():
    """The reference: radon's documented counts (one per ``if``/``elif``/loop/``except``,
    one per boolean operator's extra operand) on a function written for it."""
    pytest.importorskip("radon", reason="radon is in the test extra: pip install -e '.[test]'")
    text = ("def f(a, b):\n"
            "    if a and b:\n"  # +1 if, +1 and
            "        return 1\n"
            "    elif a:\n"  # +1
            "        return 2\n"
            "    for _ in b:\n"  # +1
            "        pass\n"
            "    try:\n"
            "        pass\n"
            "    except ValueError:\n"  # +1
            "        pass\n"
            "    return 0\n")
    src = Source(ROOT / "x.py", "x.py", "x", text, ast.parse(text))
    _Walker(src, set()).visit(src.tree)
    assert complexities(src) == {"f": 6}


# ---------------------------------------------------------------------------------------
# Typed protocol values
# ---------------------------------------------------------------------------------------

_VALUE_HOLDERS = {"v", "values"}


def _string_value_access(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)):
        return False
    holder = node.value
    return (isinstance(holder, ast.Name) and holder.id in _VALUE_HOLDERS) or (
        isinstance(holder, ast.Attribute) and holder.attr == "values")


def test_no_string_access_to_protocol_values():
    found = set()
    for s in sources():
        if s.package != "protocols":
            continue
        # the innermost function holding each access
        spans = sorted(((n.lineno, n.end_lineno, q) for q, n in s.functions),
                       key=lambda t: t[1] - t[0])
        for node in ast.walk(s.tree):
            if _string_value_access(node):
                owner = next((q for a, b, q in spans if a <= node.lineno <= b), "<module>")
                found.add(f"{s.rel}:{owner}")
    _check(found, STRING_VALUE_ACCESS, 'string access to protocol values (v["..."])')


# ---------------------------------------------------------------------------------------
# Layers, cycles, imports inside functions
# ---------------------------------------------------------------------------------------


def _module_set() -> set[str]:
    return {s.module for s in sources()}


def test_layers_table_covers_every_package():
    assert set(LAYERS) == set(PACKAGES)
    assert set(FORBIDDEN_THIRD_PARTY) <= set(PACKAGES)


def documented_layers() -> dict[str, set[str]]:
    """The layers table of ``docs/architecture.md``: package -> project packages its
    "imports" cell names (in backticks; "everything below" = every package in the rows
    below it)."""
    rows = []
    for line in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`(\w+)/`", cells[0]) if len(cells) == 3 else None
        if m:
            rows.append((m.group(1), cells[2]))
    out: dict[str, set[str]] = {}
    for k, (pkg, cell) in enumerate(rows):
        named = {_top(n) for n in re.findall(r"`([\w.]+)`", cell)} & set(PACKAGES)
        if "everything below" in cell:
            named |= {p for p, _ in rows[k + 1:]}
        out[pkg] = named
    return out


def test_layers_match_docs_architecture():
    """The rules this file enforces are the ones docs/architecture.md states."""
    documented = documented_layers()
    assert set(documented) == set(LAYERS) - {"benchmarks"}, "a package missing in the table"
    for pkg, allowed in documented.items():
        assert allowed == LAYERS[pkg], (f"{pkg}: docs/architecture.md says {sorted(allowed)}, "
                                        f"LAYERS {sorted(LAYERS[pkg])}")


def test_imports_follow_the_layers():
    modules = _module_set()
    found = set()
    for s in sources():
        for imp in s.imports:
            top = _top(imp.target)
            if top in PACKAGES:
                target = _project_module(imp.target, modules) or imp.target
                if top != s.package and top not in LAYERS[s.package]:
                    found.add(f"{s.rel} -> {target}")
            elif top in FORBIDDEN_THIRD_PARTY.get(s.package, ()):
                found.add(f"{s.rel} -> {imp.target}")
    _check(found, LAYER_VIOLATIONS, "imports against the layers of docs/architecture.md")


def import_graph() -> dict[str, set[str]]:
    """Module -> project modules it imports when run (``TYPE_CHECKING`` imports left out)."""
    modules = _module_set()
    graph: dict[str, set[str]] = defaultdict(set)
    for s in sources():
        graph[s.module]
        for imp in s.imports:
            target = _project_module(imp.target, modules)
            if target and target != s.module and not imp.type_checking:
                graph[s.module].add(target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        comp.append(member)
                        if member == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def test_strongly_connected_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    graph = import_graph()
    edges = {f"{a} -> {b}" for a, targets in graph.items() for b in targets}
    missing = sorted(CYCLE_EDGES - edges)
    pruned = {a: {b for b in targets if f"{a} -> {b}" not in CYCLE_EDGES}
              for a, targets in graph.items()}
    cycles = strongly_connected(pruned)
    # an allow-listed edge still closes a cycle only if, all other listed edges removed, its
    # target reaches back to its source
    stale = sorted(e for e in CYCLE_EDGES - set(missing)
                   if not _reaches(pruned, *reversed(e.split(" -> "))))
    problems = []
    if cycles:
        problems.append("import cycles:\n    " + "\n    ".join(" <-> ".join(c) for c in cycles))
    if missing or stale:
        problems.append("CYCLE_EDGES entries that no longer close a cycle (remove them):\n    "
                        + "\n    ".join(missing + stale))
    assert not problems, "\n".join(problems)


#: a comment that says why an import waits for its function: what start-up it saves, e.g.
#: ``# deferred: JAX loads only when training runs (start-up time of the other commands)``
_WHY = re.compile(r"#.*(start-?up|import time|--help|only when|load(s|ed)? here|lazily|defer)",
                  re.IGNORECASE)


def _commented(src: Source, lineno: int) -> bool:
    """A reason on the import's line, or on the line above the block of imports holding it
    (a comment line, or a ``try:  # ...`` opening the block)."""
    lines = src.lines
    if _WHY.search(lines[lineno - 1]):
        return True
    i = lineno - 2
    while i >= 0 and (not lines[i].strip() or lines[i].lstrip().startswith(("from ", "import "))):
        i -= 1
    return i >= 0 and bool(_WHY.search(lines[i]))


def test_cross_layer_imports_inside_functions_say_why():
    found = set()
    for s in sources():
        for imp in s.imports:
            top = _top(imp.target)
            if imp.scope and top in PACKAGES and top != s.package and not _commented(
                    s, imp.lineno):
                found.add(f"{s.rel}:{imp.scope} -> {imp.target}")
    _check(found, UNEXPLAINED_LOCAL_IMPORTS,
           "imports of another package inside a function with no comment saying why")
