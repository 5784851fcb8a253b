"""Stored notebooks stay light: no progress-bar widget state and at most 600 kB each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shared import NOTEBOOK_DIR

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
MAX_BYTES = 600_000
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel", "ProgressStyleModel"}


def progress_widgets(nb: dict) -> list[str]:
    """Ids of stored widget models that are progress bars (tqdm leaves these behind)."""
    state = nb.get("metadata", {}).get("widgets", {})
    models = state.get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [key for key, model in models.items() if model.get("model_name") in PROGRESS_MODELS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_small(path: Path) -> None:
    size = path.stat().st_size
    assert size <= MAX_BYTES, (
        f"{path.name} is {size / 1000:.0f} kB (limit {MAX_BYTES / 1000:.0f} kB): shrink its "
        "figures (lower dpi) or regenerate it with `make outputs`, which stores no progress bars."
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_progress_bar_widget_state(path: Path) -> None:
    found = progress_widgets(json.loads(path.read_text()))
    assert not found, (
        f"{path.name} stores {len(found)} progress-bar widgets: use runtime.progress and "
        "regenerate with `make outputs` (LECTURE_PROGRESS=off)."
    )


def test_the_check_finds_progress_bars() -> None:
    key = "application/vnd.jupyter.widget-state+json"
    nb = {"metadata": {"widgets": {key: {"state": {"a": {"model_name": "FloatProgressModel"}}}}}}
    assert progress_widgets(nb) == ["a"]
    nb["metadata"]["widgets"][key]["state"]["a"]["model_name"] = "IntSliderModel"
    assert progress_widgets(nb) == []
