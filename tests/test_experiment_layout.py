"""The layout of lecture_utils/experiments/: one module per notebook, none importing another.

Shared building blocks belong in the flat ``lecture_utils`` package (e.g. ``fine_tuning_runs``),
so each experiment module depends only on generic modules, never on a sibling experiment.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO_ROOT

EXPERIMENTS = REPO_ROOT / "lecture_utils" / "experiments"
PACKAGE = "lecture_utils.experiments"


def imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The absolute module names ``node`` may import, relative imports resolved from a module
    of ``lecture_utils.experiments`` (``from . import x`` gives the package and ``...x``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = PACKAGE.split(".")[: len(PACKAGE.split(".")) - node.level + 1] if node.level else []
    full = ".".join([*base, *([node.module] if node.module else [])])
    return [full, *(f"{full}.{alias.name}" for alias in node.names)]


def sibling_imports(path: Path) -> list[str]:
    """Every import in ``path`` of (a module of) ``lecture_utils.experiments``, relative or
    absolute, as ``"line N: <import statement>"``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(m == PACKAGE or m.startswith(PACKAGE + ".") for m in imported_modules(node))
    ]


def test_the_check_flags_relative_and_absolute_sibling_imports(tmp_path: Path) -> None:
    module = tmp_path / "mod.py"
    module.write_text(
        "from .fine_tuning_rules import Target\n"
        "from . import black_box\n"
        "import lecture_utils.experiments.nb04_black_box.plots\n"
        "from lecture_utils.experiments import multitask_transfer\n"
        "from ..experiments.black_box import Setup\n"
        "from .. import experiments\n"
        "from .. import finetuning, stats\n"
        "from ..fine_tuning_runs import run_recipe\n"
        "import torch\n"
    )
    assert [line.split(":")[0] for line in sibling_imports(module)] == [
        f"line {n}" for n in range(1, 7)
    ]


def test_no_experiment_module_imports_a_sibling_experiment() -> None:
    files = sorted(EXPERIMENTS.glob("*.py"))
    assert len(files) > 1, f"no experiment modules found in {EXPERIMENTS}"
    offenders = [
        f"{path.relative_to(REPO_ROOT)} {hit}" for path in files for hit in sibling_imports(path)
    ]
    assert not offenders, (
        "An experiment module imports another module of lecture_utils.experiments; move what "
        "they share into a flat lecture_utils module:\n" + "\n".join(offenders)
    )
