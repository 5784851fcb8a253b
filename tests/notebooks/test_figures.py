"""Every figure the notebooks show passes the projector audit, in fast mode.

Each notebook runs (a copy, in a fresh kernel with ``notebooks/`` as its working directory,
as ``scripts/run_notebooks.py`` runs it) with ``$LECTURE_FIGURE_AUDIT`` set: the figure style
then records, for every figure the inline backend draws, the problems
:func:`lecture_utils.core.figure_style.audit_figure` finds (fonts under 11 pt, figures
narrower than 900 px or wider than the slide, axes without labels, legends over data,
overlapping tick labels). The test asserts that no figure has a problem and that each
notebook still draws at least the figures it is known to draw (so a figure that silently
stops being shown, or an audit that stops recording, fails too).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellTimeoutError
from shared import NOTEBOOK_DIR, REPO_ROOT

from lecture_utils.core.figure_style import AUDIT_ENV
from lecture_utils.core.runtime import FAST_MODE_BANNER

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import run_notebooks  # noqa: E402

CELL_TIMEOUT = 240  # seconds; fast-mode cells take under a minute

# Figures each notebook shows in fast mode (widgets included: a widget's first drawing is
# shown when the cell runs). Raise a number when a notebook gains a figure.
EXPECTED_FIGURES = {
    "00_start_here.ipynb": 6,
    "01_multitask_vs_transfer.ipynb": 4,
    "02_fine_tuning_rules.ipynb": 10,
    "03_episodes.ipynb": 7,
    "04_black_box_adaptation.ipynb": 9,
    "05_beyond_classification.ipynb": 7,
    "06_language_generation.ipynb": 2,
}

# Outputs that carry the fast-mode banner in fast mode: the first cell's, and each results
# table's (runtime.marks_fast_mode). Raise a number when a notebook gains a results table.
EXPECTED_BANNERS = {
    "00_start_here.ipynb": 1,
    "01_multitask_vs_transfer.ipynb": 5,
    "02_fine_tuning_rules.ipynb": 4,
    "03_episodes.ipynb": 1,
    "04_black_box_adaptation.ipynb": 9,
    "05_beyond_classification.ipynb": 3,
    "06_language_generation.ipynb": 3,
}


def read_audit(path: Path) -> list[dict]:
    """The JSON lines the audit hook wrote (none if no figure was drawn)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def problems_by_cell(records: list[dict], nb: nbformat.NotebookNode) -> list[str]:
    """Every recorded problem as ``cell N ('figure'): problem``, N counting all cells from 1."""
    cell_of = {
        cell.get("execution_count"): index + 1
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and cell.get("execution_count") is not None
    }
    return [
        f"cell {cell_of.get(r['execution_count'], '?')} ({r['figure'][:50]!r}): {problem}"
        for r in records
        for problem in r["problems"]
    ]


def execute_with_one_retry(path: Path, audit: Path, timeout: int = CELL_TIMEOUT):
    """Run the notebook; after a cell timeout, run it once more from the start.

    nbclient sometimes waits forever for the reply to a cell that displays ipywidgets although
    the kernel has finished (jupyter/nbclient#312): a per-cell timeout turns that wait into an
    error, and a second run (fresh kernel, fresh audit file) almost always passes.
    """
    try:
        return run_notebooks.execute(path, timeout=timeout)
    except run_notebooks.NotebookFailed as exc:
        if not isinstance(exc.__cause__, CellTimeoutError):
            raise
    audit.unlink(missing_ok=True)
    return run_notebooks.execute(path, timeout=timeout)


def banner_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indices (among the code cells) of the cells whose outputs show the fast-mode banner."""
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    return [i for i, cell in enumerate(code) if FAST_MODE_BANNER in json.dumps(cell.outputs)]


def test_problems_are_reported_with_their_cell() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("plot()")]
    nb.cells[1].execution_count = 3
    records = [
        {"execution_count": 3, "figure": "loss", "problems": ["font 8 pt (< 11): 'x'"]},
        {"execution_count": 3, "figure": "fine", "problems": []},
    ]
    assert problems_by_cell(records, nb) == ["cell 2 ('loss'): font 8 pt (< 11): 'x'"]


def test_a_cell_timeout_is_retried_once_and_other_failures_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = tmp_path / "figures.jsonl"
    calls: list[bool] = []

    def flaky(path: Path, timeout: int) -> str:
        calls.append(audit.exists())
        audit.write_text("{}\n")
        if len(calls) == 1:
            try:
                raise CellTimeoutError("a cell timed out")
            except CellTimeoutError as cause:
                raise run_notebooks.NotebookFailed("timed out") from cause
        return "ran"

    monkeypatch.setattr(run_notebooks, "execute", flaky)
    assert execute_with_one_retry(tmp_path / "nb.ipynb", audit) == "ran"
    assert calls == [False, False]  # the half-written audit of the first run was dropped

    def broken(path: Path, timeout: int) -> str:
        raise run_notebooks.NotebookFailed("cell 3 raised ValueError")

    monkeypatch.setattr(run_notebooks, "execute", broken)
    with pytest.raises(run_notebooks.NotebookFailed, match="ValueError"):
        execute_with_one_retry(tmp_path / "nb.ipynb", audit)


def test_every_notebook_is_audited() -> None:
    assert sorted(EXPECTED_BANNERS) == sorted(EXPECTED_FIGURES)
    assert sorted(EXPECTED_FIGURES) == sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))


@pytest.mark.real_data
@pytest.mark.parametrize("name", sorted(EXPECTED_FIGURES))
def test_every_figure_passes_the_projector_audit(
    name: str, tmp_path: Path, real_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = tmp_path / "figures.jsonl"
    monkeypatch.setenv("LECTURE_FAST_MODE", "1")
    monkeypatch.setenv("LECTURE_PROGRESS", "off")
    monkeypatch.setenv(AUDIT_ENV, str(audit))
    # The kernel imports this checkout's lecture_utils (not another editable install's).
    others = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), others])))
    copy = tmp_path / name
    shutil.copy(NOTEBOOK_DIR / name, copy)
    nb = execute_with_one_retry(copy, audit)
    records = read_audit(audit)
    assert len(records) >= EXPECTED_FIGURES[name], (
        f"{name} drew {len(records)} figures, expected at least {EXPECTED_FIGURES[name]}"
    )
    shown = banner_cells(nb)
    assert shown[:1] == [0] and len(shown) >= EXPECTED_BANNERS[name], (
        f"{name}: the fast-mode banner shows in code cells {shown}: expected the first one and "
        f"at least {EXPECTED_BANNERS[name]} in all (one per results table)"
    )
    problems = problems_by_cell(records, nb)
    assert not problems, f"{name}: {len(problems)} figure problems:\n" + "\n".join(problems)
