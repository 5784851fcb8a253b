"""Root pytest configuration: CPU by default, and one clear stop when the data is missing."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LECTURE_DEVICE", "cpu")


def _needs_real_data(item: pytest.Item) -> bool:
    return str(item.path).endswith(".ipynb") or item.get_closest_marker("real_data") is not None


def data_problem() -> str | None:
    """The data layer's message if Omniglot cannot be loaded (offline and not downloaded)."""
    from lecture_utils.data import omniglot

    try:
        omniglot.load_omniglot()
    except omniglot.OmniglotDataError as exc:
        return str(exc)
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Check the data once, before any notebook cell runs, instead of failing every cell. Runs
    after ``-m``/``-k`` deselection, so ``-m 'not real_data'`` runs go through offline."""
    if not any(_needs_real_data(item) for item in session.items):
        return
    problem = data_problem()
    if problem is not None:
        pytest.exit(
            "Omniglot is not available, so the notebooks and real-data tests cannot run:\n"
            f"{problem}\n(Unit tests alone: pytest tests -m 'not real_data' --ignore=tests/browser "
            "--ignore=tests/notebooks)",
            returncode=3,
        )


def _cell_number(item: pytest.Item) -> int:
    """nbval names a notebook's items ``Cell 0``, ``Cell 1``, ... in notebook order."""
    return int(item.name.rsplit(" ", 1)[-1]) if item.name.startswith("Cell ") else -1


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items) -> None:
    """Tests may run in a random order (pytest-randomly), but a notebook's cells only make sense
    top to bottom in one kernel: every notebook's cells run as one block, in order, after the
    other tests (the notebooks themselves may come in any order)."""
    notebooks: dict[str, list[pytest.Item]] = {}
    others = []
    for item in items:
        if str(item.path).endswith(".ipynb"):
            notebooks.setdefault(str(item.path), []).append(item)
        else:
            others.append(item)
    cells = [cell for block in notebooks.values() for cell in sorted(block, key=_cell_number)]
    items[:] = others + cells
