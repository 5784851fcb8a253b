"""RISE loads ``rise.css`` and ``<notebook>.css`` from a notebook's folder; a missing file is a
console error in every slideshow, so both exist for every notebook, here and in student/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shared import NOTEBOOK_DIR, REPO_ROOT

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_every_notebook_has_its_rise_stylesheet() -> None:
    missing = [p.with_suffix(".css").name for p in NOTEBOOKS if not p.with_suffix(".css").is_file()]
    assert not missing, f"RISE would log a 404 for {missing}: add them (a comment is enough)"
    rules = (NOTEBOOK_DIR / "rise.css").read_text()
    assert ".jp-InputPlaceholder" in rules and "display: none" in rules


def test_student_version_carries_the_stylesheets(tmp_path: Path) -> None:
    notebook = NOTEBOOK_DIR / "03_episodes.ipynb"
    subprocess.run(
        [sys.executable, "scripts/make_student.py", "--out", str(tmp_path), str(notebook)],
        cwd=REPO_ROOT, check=True, capture_output=True,
    )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "03_episodes.css", "03_episodes.ipynb", "rise.css",
    ]  # fmt: skip
