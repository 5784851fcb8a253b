"""Tests run in a random order (pytest-randomly), except that a notebook's cells stay in order."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from shared import NOTEBOOK_DIR, REPO_ROOT


@pytest.mark.parametrize("seed", [1, 2026])
def test_notebook_cells_keep_their_order_when_tests_are_shuffled(seed: int) -> None:
    notebooks = [str(NOTEBOOK_DIR / "03_episodes.ipynb"), str(NOTEBOOK_DIR / "00_start_here.ipynb")]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "randomly", f"--randomly-seed={seed}", *notebooks,
         str(REPO_ROOT / "tests" / "unit" / "core" / "test_stats.py")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    for name in ("03_episodes.ipynb", "00_start_here.ipynb"):
        where = [n for n, i in enumerate(ids) if name in i]
        cells = [int(re.search(r"Cell (\d+)$", ids[n]).group(1)) for n in where]
        assert len(cells) > 3 and cells == sorted(cells), f"{name}: cells run as {cells}"
        assert where == list(range(where[0], where[0] + len(where))), f"{name}: not one block"
    stats = [n for n, i in enumerate(ids) if "test_stats.py" in i]
    assert len(stats) > 5 and max(stats) < min(n for n, i in enumerate(ids) if ".ipynb" in i)
