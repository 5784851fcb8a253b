"""The start-here notebook in a real browser: figures and ipywidgets must actually render.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install chromium``; ``.ci/run`` does
it). Without it the test skips locally and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from jupyterlab_browser import (
    LabNotebook,
    chromium_page,
    jupyterlab_server,
    stage_notebook,
)
from shared import NOTEBOOK_DIR

pytestmark = pytest.mark.browser
START_HERE = NOTEBOOK_DIR / "00_start_here.ipynb"


def test_start_here_renders_figures_and_widgets(browser_ready: None, tmp_path: Path) -> None:
    stored = START_HERE.read_bytes()
    staged = stage_notebook(START_HERE, tmp_path / "root")
    shot = Path(os.environ.get("BROWSER_SCREENSHOT_DIR", tmp_path)) / "00_start_here.png"
    t0 = time.perf_counter()
    with (
        jupyterlab_server(root_dir=staged.parent, home=tmp_path / "home") as server,
        chromium_page() as page,
    ):
        nb = LabNotebook(page, server, staged.name)
        nb.open()
        status = nb.run_all()
        try:
            assert not status["errors"], "\n".join(status["errors"])
            assert status["executed"] == status["cells"]
            nb.assert_rendered(min_figures=3, min_widgets=2)

            # The alphabet picker: changing the dropdown must redraw the gallery below it.
            picker = nb.cell_with(".widget-dropdown")
            options = picker.locator(".widget-dropdown select option").all_inner_texts()
            assert len(options) == 8, options
            gallery = picker.locator(".widget-output")
            new = nb.wait_for_change(gallery, lambda: nb.select(picker, options[-1]))
            assert "<img" in new
            assert gallery.locator("img").evaluate("el => el.naturalWidth > 0")

            # ... and so must moving the drawer slider.
            before = nb.slider_value(picker)
            nb.wait_for_change(gallery, lambda: nb.nudge_slider(picker, 3))
            assert nb.slider_value(picker) != before
            nb.assert_rendered(min_figures=3, min_widgets=2)
        finally:
            nb.screenshot(shot, show=page.locator(".widget-dropdown"))
            print(f"screenshot: {shot}; browser test took {time.perf_counter() - t0:.1f} s")
    assert START_HERE.read_bytes() == stored, "the browser run must not touch the repo's copy"
