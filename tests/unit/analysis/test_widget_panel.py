"""The run-button panel: run() calls on_run inside the output area and fills the status."""

from __future__ import annotations

import ipywidgets as widgets

from lecture_utils.analysis.widget_panel import run_panel


def test_run_returns_the_result_and_writes_the_status() -> None:
    calls = []
    slider = widgets.IntSlider(value=3)
    panel, run = run_panel([[slider]], lambda: calls.append(slider.value) or slider.value * 2,
                           status=lambda r: f"got {r}")  # fmt: skip
    assert run() == 6 and calls == [3]
    slider.value = 5
    assert run() == 10 and calls == [3, 5]
    button_row = panel.children[1]
    assert button_row.children[1].value == "got 10"
    assert panel.children[0].children[0] is slider
