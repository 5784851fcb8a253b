"""The package's layout rule, read from the imports themselves (no code is run).

Floors, bottom to top, in the lecture's order: ``core`` < ``data`` < ``episodes`` < ``models``
< ``training`` < ``analysis`` < ``exercises`` < ``experiments``. A module may import from its
own floor's package and from floors below; an ``experiments`` module only from its own notebook
package (``experiments/nbXX_*``) and the generic floors. No import circles anywhere.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from shared import REPO_ROOT

PACKAGE = REPO_ROOT / "lecture_utils"
FLOORS = ["core", "data", "episodes", "models", "training", "analysis", "exercises", "experiments"]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str) -> set[str]:
    """The lecture_utils modules ``path`` imports (``from pkg import module`` counts as the
    module when it is one)."""
    known = modules()
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        out |= {t for t in targets if t.startswith("lecture_utils.") and t != name}
    return out


def graph() -> dict[str, set[str]]:
    return {name: imported(path, name) for name, path in modules().items()}


def floor(name: str) -> int | None:
    parts = name.split(".")
    return FLOORS.index(parts[1]) if len(parts) > 1 and parts[1] in FLOORS else None


def notebook_package(name: str) -> str | None:
    parts = name.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "experiments" else None


def violations(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in edges.items():
        for target in targets:
            a, b = floor(source), floor(target)
            if a is None or b is None:
                continue
            if b > a:
                found.append(f"{source} -> {target}: imports upward ({FLOORS[a]} < {FLOORS[b]})")
            mine, theirs = notebook_package(source), notebook_package(target)
            if theirs is not None and mine != theirs:
                found.append(f"{source} -> {target}: imports another notebook's package")
    return sorted(found)


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_every_module_sits_on_a_floor() -> None:
    loose = [n for n in modules() if n.count(".") >= 1 and floor(n) is None]
    assert not loose, f"modules outside the floors {FLOORS}: {loose}"


def test_no_upward_or_cross_notebook_imports() -> None:
    assert violations(graph()) == []


def test_no_import_circles() -> None:
    assert circles(graph()) == []


def test_the_checks_catch_what_they_are_for() -> None:
    """The rules themselves, on a made-up graph: an upward import, a cross-notebook import and
    a circle are each reported."""
    edges = {
        "lecture_utils.core.a": {"lecture_utils.training.b"},
        "lecture_utils.training.b": {"lecture_utils.core.a"},
        "lecture_utils.experiments.nb01_x.c": {"lecture_utils.experiments.nb04_y.d"},
        "lecture_utils.experiments.nb04_y.d": set(),
    }
    found = violations(edges)
    assert any("imports upward" in v for v in found)
    assert any("another notebook's package" in v for v in found)
    assert circles(edges) == [["lecture_utils.core.a", "lecture_utils.training.b"]]


FRESH_IMPORTS = """
import importlib, json, sys, traceback
failed = {}
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] == "lecture_utils"]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc(limit=3)
print(json.dumps(failed))
"""


def test_every_module_imports_on_its_own() -> None:
    """Each module imports with no other ``lecture_utils`` module loaded before it (the package
    is dropped from ``sys.modules`` between modules; torch stays loaded, which is safe), so no
    test passes only because another test file happened to import something first."""
    result = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORTS, *sorted(modules())],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == {}


def test_every_module_is_imported_by_a_test() -> None:
    tests = REPO_ROOT / "tests"
    text = "\n".join(p.read_text() for p in tests.rglob("*.py") if p.name != "test_layout.py")
    untested = []
    for name in modules():
        package, _, leaf = name.rpartition(".")
        if name.endswith("__init__") or leaf == "__init__":
            continue
        if name in text or f"from {package} import" in text and leaf in text:
            continue
        untested.append(name)
    assert not untested, f"no test imports these modules: {untested}"


def test_test_file_names_are_unique() -> None:
    """pytest imports test files by basename (no packages under tests/): two files with one name
    stop the whole collection."""
    names = [p.name for p in (REPO_ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
