"""Notebook 03's episode explorer in a real browser: it renders, redraws and reports bad input.

Uses the shared JupyterLab/Playwright harness (``tests/jupyterlab_browser.py``) with Debian's
Chromium at /usr/bin/chromium. Without Chromium or Playwright it skips locally and fails under
``CI=true``; without ``$OMNIGLOT_DIR`` it skips (the notebook needs the real data).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from jupyterlab_browser import LabNotebook, notebook_run_in_lab, stage_notebook
from shared import NOTEBOOK_DIR

pytestmark = [pytest.mark.browser, pytest.mark.real_data]
EPISODES = NOTEBOOK_DIR / "03_episodes.ipynb"


def wait_for_text(nb: LabNotebook, target, text: str, timeout: float = 60) -> str:
    """Wait until ``target``'s text contains ``text``; return the text."""
    deadline = time.monotonic() + timeout
    current = ""
    while time.monotonic() < deadline:
        current = target.inner_text()
        if text in current:
            return current
        nb.page.wait_for_timeout(200)
    raise TimeoutError(f"{text!r} never appeared; last text: {current!r}")


def test_explorer_renders_redraws_and_shows_errors(
    browser_ready: None, real_data: Path, tmp_path: Path
) -> None:
    stored = EPISODES.read_bytes()
    staged = stage_notebook(EPISODES, tmp_path / "root")
    shot_dir = Path(os.environ.get("BROWSER_SCREENSHOT_DIR", tmp_path))
    fast = {"LECTURE_FAST_MODE": "1"}
    with notebook_run_in_lab(staged, tmp_path / "home", env=fast) as (nb, status):
        explorer = nb.cell_with(".widget-slider")
        try:
            assert not status["errors"], "\n".join(status["errors"])
            assert status["executed"] == status["cells"]
            nb.assert_rendered(min_figures=6, min_widgets=1)

            # The explorer: four sliders, a split selector, a rotation toggle and a button.
            assert explorer.locator(".widget-slider").count() == 4
            assert explorer.locator(".widget-dropdown select option").all_inner_texts() == [
                "meta-train",
                "meta-val",
                "meta-test",
            ]
            assert explorer.locator(".widget-checkbox").count() == 1
            grid = explorer.locator(".widget-output")
            counts = explorer.locator(".widget-html")
            assert grid.locator("img").count() == 1
            assert grid.locator("img").evaluate("el => el.complete && el.naturalWidth > 0")
            wait_for_text(nb, counts, "One task: 5·1 = 5 support")

            # Moving the N slider redraws the grid with the new counts.
            first = grid.inner_html()
            nb.wait_for_change(grid, lambda: nb.nudge_slider(explorer, 2, index=0))
            assert nb.slider_value(explorer, 0) == "7"
            wait_for_text(nb, counts, "One task: 7·1 = 7 support + 7·1 = 7 query = 14 images")
            assert grid.inner_html() != first
            assert grid.locator("img").evaluate("el => el.complete && el.naturalWidth > 0")

            # Resample draws the next meta-batch.
            nb.wait_for_change(grid, lambda: nb.click_button(explorer, "Resample"))
            wait_for_text(nb, counts, "meta-batch #2")

            # An impossible setting: K + Q = 21 > 20 drawers. The widget shows the sampler's
            # message, the grid is cleared, and no traceback appears in the notebook.
            nb.nudge_slider(explorer, 20, index=2)  # Q slider to its maximum, 20
            text = wait_for_text(nb, counts, "ValueError")
            assert "k_shot + n_query = 1 + 20 = 21" in text and "20 drawers" in text, text
            nb.wait_idle()
            assert grid.locator("img").count() == 0
            assert not nb.error_outputs()
            assert "Traceback" not in explorer.inner_text()

            # Back to a valid setting: the grid comes back.
            nb.wait_for_change(grid, lambda: nb.nudge_slider(explorer, -1, index=2))
            wait_for_text(nb, counts, "7·19 = 133 query")
            assert grid.locator("img").count() == 1
        finally:
            nb.screenshot(shot_dir / "03_episode_explorer.png", show=explorer)
    assert EPISODES.read_bytes() == stored, "the browser run must not touch the repo's copy"
