"""`make student`: stubs instead of solutions, and every check fails until the student answers.

The generated notebooks are executed in fast mode: everything before the first exercise must
run, and every check cell must raise while its stub is in place (so the checks can fail).
The instructor notebooks' check cells pass: nbval runs them, and their stored outputs show it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from shared import NOTEBOOK_DIR, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import make_student as ms  # noqa: E402

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
WITH_EXERCISES = [p for p in NOTEBOOKS if ms.exercise_count(nbformat.read(p, as_version=4))]


def tags(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


def test_some_notebook_has_exercises() -> None:
    assert any(p.name == "03_episodes.ipynb" for p in WITH_EXERCISES)


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=[p.name for p in WITH_EXERCISES])
def test_instructor_exercises_are_well_formed(path: Path) -> None:
    """2-4 exercises, each a tagged solution followed by a check whose stored output passed."""
    cells = nbformat.read(path, as_version=4).cells
    exercises = [i for i, c in enumerate(cells) if ms.EXERCISE in tags(c)]
    assert 2 <= len(exercises) <= 4, f"{path.name}: {len(exercises)} exercises"
    for i in exercises:
        assert ms.BEGIN in cells[i].source and ms.END in cells[i].source
        check = cells[i + 1]
        assert ms.CHECK in tags(check), f"cell {i + 2} must be the check of exercise cell {i + 1}"
        assert re.search(r"\b\w+\.check_\w+\(", check.source), "the check cell calls no check_*"
        stored = "".join(o.get("text", "") for o in check.outputs)
        assert stored.startswith("✓"), f"{path.name} cell {i + 2}: stored output {stored!r}"


def test_stub_keeps_hints_and_indentation() -> None:
    source = "def f(x):\n    ### BEGIN SOLUTION\n    # HINT: double it\n    return 2 * x\n"
    source += "    ### END SOLUTION\n\nprint(f)"
    stub = ms.ClearSolutions().stub_out(source)
    assert stub.splitlines() == [
        "def f(x):",
        "    # YOUR CODE HERE",
        "    # HINT: double it",
        '    raise NotImplementedError("your turn: replace this line with your code")',
        "",
        "print(f)",
    ]
    default = ms.ClearSolutions().stub_out("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    assert "# HINT: read the exercise text" in default and "x = 1" not in default


@pytest.mark.parametrize(
    ("source", "tagged", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1", True, "without"),
        ("x = 1\n### END SOLUTION", True, "without"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", True, "nested"),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", False, "no 'exercise' tag"),
    ],
)
def test_malformed_exercises_are_refused(source: str, tagged: bool, message: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(source, metadata={"tags": ["exercise"] if tagged else []})
    ]
    with pytest.raises(ValueError, match=message):
        ms.student_version(nb)


def test_student_versions_strip_solutions_only(tmp_path: Path) -> None:
    assert ms.main(["--out", str(tmp_path), *map(str, NOTEBOOKS)]) == 0
    for path in NOTEBOOKS:
        teacher = nbformat.read(path, as_version=4)
        student = nbformat.read(tmp_path / path.name, as_version=4)
        assert len(student.cells) == len(teacher.cells)
        for t, s in zip(teacher.cells, student.cells, strict=True):
            if ms.EXERCISE in tags(t):
                assert ms.BEGIN not in s.source and "raise NotImplementedError" in s.source
                assert "# HINT:" in s.source and not s.outputs
            elif ms.CHECK in tags(t):
                assert s.source == t.source and not s.outputs and s.execution_count is None
            else:  # untouched, stored outputs included
                assert s == t
    assert teacher == nbformat.read(path, as_version=4), "the instructor notebook is unchanged"


@pytest.mark.real_data
@pytest.mark.parametrize("path", WITH_EXERCISES, ids=[p.name for p in WITH_EXERCISES])
def test_student_notebook_checks_fail_while_stubbed(
    path: Path, tmp_path: Path, real_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LECTURE_FAST_MODE", "1")
    monkeypatch.setenv("LECTURE_PROGRESS", "off")
    ms.main(["--out", str(tmp_path), str(path)])
    nb = nbformat.read(tmp_path / path.name, as_version=4)
    NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        allow_errors=True,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    ).execute()
    first = next(i for i, c in enumerate(nb.cells) if ms.EXERCISE in tags(c))
    for i, cell in enumerate(nb.cells[:first]):
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        assert not errors, f"cell {i + 1} before the first exercise failed: {errors[0].evalue}"
    checks = [(i, c) for i, c in enumerate(nb.cells) if ms.CHECK in tags(c)]
    assert checks
    for i, cell in checks:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors, f"check cell {i + 1} passed although its exercise is a stub"
        assert errors[0].ename == "AssertionError", errors[0]
        assert "not implemented yet" in errors[0].evalue
