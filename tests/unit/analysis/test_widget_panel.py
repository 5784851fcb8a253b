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


def test_panels_display_the_keyboard_guard(monkeypatch) -> None:
    import IPython.display

    from lecture_utils.analysis import widget_panel

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **_: shown.extend(objs))
    run_panel([[widgets.IntSlider()]], lambda: None)
    (script,) = shown
    assert isinstance(script, IPython.display.Javascript)
    # Shortcuts suppressed in the capture phase, the key stopped after the widget used it.
    assert script.data == widget_panel.KEYBOARD_GUARD_JS
    assert 'addEventListener("keydown"' in script.data and "}, true);" in script.data
    assert "data-lm-suppress-shortcuts" in script.data and "stopPropagation" in script.data
    assert "window.lectureKeyboardGuard" in script.data  # registered once per page
