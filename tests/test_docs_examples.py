"""The documentation's examples run as written.

Every ```python block of README.md and docs/*.md is executed (in a scratch directory, so
its ``runs/...`` paths land there), except blocks right after an HTML comment
``<!-- not run: REASON -->`` (e.g. they need a real 4200A). The shell examples of
README's "Using it" block that run a protocol, list, export or inspect are run through
the CLI entry point in the same way.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from labapp.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"(<!-- not run:[^>]*-->\s*)?```python\n(.*?)```", re.S)


def python_blocks() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        for i, m in enumerate(_BLOCK.finditer(doc.read_text(encoding="utf-8"))):
            if not m.group(1):
                out.append((f"{doc.name}#{i + 1}", m.group(2)))
    return out


@pytest.mark.parametrize(("where", "code"), python_blocks(), ids=[b[0] for b in python_blocks()])
def test_python_example_runs(where, code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, where, "exec"), {"__name__": "__doc_example__"})  # noqa: S102
    assert capsys.readouterr().out.strip(), f"{where} printed nothing"


#: README shell examples run here (the others start windows or take minutes)
README_COMMANDS = ("run ", "protocols", "presets", "info ", "export ")


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Using it", 1)[1].split("```", 2)[1]
    lines = [ln.split("#", 1)[0].strip() for ln in block.splitlines()]
    return [ln[len("labapp "):] for ln in lines
            if ln.startswith("labapp ") and ln[len("labapp "):].startswith(README_COMMANDS)]


def test_readme_shell_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    commands = readme_commands()
    assert any(c.startswith("run dc-sweep") for c in commands)
    assert any(c.startswith("export ") for c in commands)
    for command in commands:
        argv = shlex.split(command)
        if argv[0] == "run" and "--help" not in argv:
            argv.append("--quiet")
        try:
            code = cli(argv)
        except SystemExit as exc:  # --help
            code = exc.code
        err = capsys.readouterr().err
        assert code == 0, (command, err)
