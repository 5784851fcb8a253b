"""What students receive holds no solution: neither the student notebooks (``make student``) nor
any file of the ``lecture_utils`` package they import contains a line of an exercise solution.

Every line between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` in the instructor notebooks,
whitespace-normalised, is searched for; ``# HINT:`` lines (kept for students on purpose) and
lines shorter than :data:`MIN_LENGTH` characters (``return mask``, ``]``) are not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from shared import NOTEBOOK_DIR, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import make_student as ms  # noqa: E402

PACKAGE = REPO_ROOT / "lecture_utils"
MIN_LENGTH = 20
# Solution lines the package holds on purpose, each with its reason. Keep this short: an entry
# is only for the lecture's own implementation of the same computation, which a notebook
# compares the student's answer with.
PACKAGE_TWINS = {
    (
        "zeros = query_features.new_zeros(*query_features.shape[:2], label_size)",
        "lecture_utils/models/black_box/lstm.py",
    ): "lstm_input_sequence, the lecture's MANN input, which notebook 04 compares mann_inputs with",
    (
        "z = (y - mean) / sigma",
        "lecture_utils/models/regression.py",
    ): "the standardised residual of the package's gaussian_nll (the model's training loss)",
}


def normalised(text: str) -> str:
    return " ".join(text.split())


def solution_lines(notebooks: list[Path]) -> dict[str, str]:
    """Normalised solution line -> the notebook it comes from (hints and short lines left out)."""
    lines: dict[str, str] = {}
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if ms.EXERCISE not in cell.metadata.get("tags", []):
                continue
            inside = False
            for line in cell.source.splitlines():
                if line.strip() in (ms.BEGIN, ms.END):
                    inside = line.strip() == ms.BEGIN
                elif inside and not ms.HINT.match(line) and len(normalised(line)) >= MIN_LENGTH:
                    lines[normalised(line)] = path.name
    return lines


def notebook_texts(path: Path) -> dict[str, str]:
    """``name#cell`` -> normalised source and output text of each cell of a notebook."""
    texts = {}
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        parts = [cell.source]
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts += [str(v) for v in output.get("data", {}).values()]
            parts += output.get("traceback", [])
        texts[f"{path.name}#cell{i + 1}"] = normalised("\n".join(parts))
    return texts


def package_texts(root: Path) -> dict[str, str]:
    """Repository-relative path -> normalised text of every text file of the package."""
    texts = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            try:
                texts[path.relative_to(root.parent).as_posix()] = normalised(path.read_text())
            except UnicodeDecodeError:
                continue
    return texts


def leaks(lines: dict[str, str], texts: dict[str, str]) -> list[tuple[str, str]]:
    """(solution line, where) for every solution line found in one of ``texts``."""
    return [(line, where) for line in lines for where, text in texts.items() if line in text]


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("student")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "make_student.py"), "--out", str(out)],
        cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def lines() -> dict[str, str]:
    found = solution_lines(sorted(NOTEBOOK_DIR.glob("*.ipynb")))
    assert len(found) >= 20, "too few solution lines: is the marker search broken?"
    return found


def test_no_solution_line_is_in_the_student_notebooks(student_dir, lines) -> None:
    notebooks = sorted(student_dir.glob("*.ipynb"))
    assert [p.name for p in notebooks] == [p.name for p in sorted(NOTEBOOK_DIR.glob("*.ipynb"))]
    texts = {k: v for p in notebooks for k, v in notebook_texts(p).items()}
    found = leaks(lines, texts)
    assert not found, "\n".join(f"{where}: {line!r}" for line, where in found)


def test_no_solution_line_is_in_the_package(lines) -> None:
    found = [(line, where) for line, where in leaks(lines, package_texts(PACKAGE))
             if (line, where) not in PACKAGE_TWINS]  # fmt: skip
    assert not found, "\n".join(
        f"{where} holds the solution line {line!r} of {lines[line]}: remove it, or derive the "
        "check's answer another way (a hand-written constant, a planted input, a property)"
        for line, where in found
    )


def test_every_package_twin_is_still_needed(lines) -> None:
    """An entry of PACKAGE_TWINS that no longer matches is removed, so the list stays honest."""
    found = set(leaks(lines, package_texts(PACKAGE)))
    assert set(PACKAGE_TWINS) <= found, set(PACKAGE_TWINS) - found


def test_a_planted_solution_line_is_found(student_dir, lines, tmp_path: Path) -> None:
    """The search can fail: a solution line planted into a copy of a student notebook, and into
    a copy of a package file, is reported."""
    line = next(line for line, nb in lines.items() if nb == "03_episodes.ipynb")
    copy = tmp_path / "03_episodes.ipynb"
    nb = nbformat.read(student_dir / "03_episodes.ipynb", as_version=4)
    assert not leaks({line: "03"}, notebook_texts(student_dir / "03_episodes.ipynb"))
    exercise = next(c for c in nb.cells if ms.EXERCISE in c.metadata.get("tags", []))
    exercise.source += "\n    " + line.replace(" ", "  ")  # other whitespace, same code
    nbformat.write(nb, copy)
    assert [where for _, where in leaks({line: "03"}, notebook_texts(copy))]

    package = tmp_path / "lecture_utils"
    shutil.copytree(PACKAGE / "exercises", package / "exercises")
    planted = package / "exercises" / "episodes.py"
    planted.write_text(planted.read_text() + f"\n\ndef _answer(x):\n    {line}\n")
    assert leaks({line: "03"}, package_texts(package)) == [
        (line, "lecture_utils/exercises/episodes.py")
    ]
