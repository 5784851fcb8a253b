"""The one pattern of the notebooks' interactive panels: controls, a Run button, a redraw area.

:func:`run_panel` lays out the controls above a button and an output area; pressing the button
(or calling the returned ``run()``, handy in tests and to draw once when the cell runs) clears
the area and calls ``on_run()`` inside it, so its prints and figures appear there.
:func:`keyboard_guard` keeps arrow keys on a focused slider with the slider when the notebook is
presented with RISE (reveal.js would otherwise take them to change slides).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# Two listeners keep a focused widget's keys with the widget. On `window`, in the capture phase
# (before JupyterLab's shortcut handler on `document`), the widget's element is marked
# `data-lm-suppress-shortcuts`, so RISE's "next slide" shortcut does not fire; on `body`, after
# the widget has used the key, the key is stopped before reveal.js's own listener on `document`.
KEYBOARD_GUARD_JS = """
if (!window.lectureKeyboardGuard) {
  window.lectureKeyboardGuard = true;
  const inWidget = (event) => event.target && event.target.closest
    && event.target.closest(".jupyter-widgets");
  window.addEventListener("keydown", (event) => {
    if (inWidget(event)) event.target.setAttribute("data-lm-suppress-shortcuts", "true");
  }, true);
  document.body.addEventListener("keydown", (event) => {
    if (inWidget(event)) event.stopPropagation();
  });
}
"""


def keyboard_guard() -> None:
    """Display the script that keeps a focused widget's keys away from the RISE slideshow."""
    from IPython.display import Javascript, display

    display(Javascript(KEYBOARD_GUARD_JS))


def run_panel(
    rows: Sequence[Sequence[Any]],
    on_run: Callable[[], Any],
    label: str = "Run and redraw",
    status: Callable[[Any], str] | None = None,
) -> tuple[Any, Callable[..., Any]]:
    """``(panel, run)``: ``rows`` of widgets, then the button and a status line, then the output.

    ``run()`` returns what ``on_run()`` returned; ``status(result)`` (if given) fills the line.
    """
    import ipywidgets as widgets
    from IPython.display import clear_output

    button = widgets.Button(description=label, button_style="primary", icon="play")
    line, out = widgets.HTML(), widgets.Output()

    def run(*_: object) -> Any:
        with out:
            clear_output(wait=True)
            result = on_run()
        if status is not None and result is not None:
            line.value = status(result)
        return result

    button.on_click(run)
    keyboard_guard()
    layout = [widgets.HBox(list(row)) for row in rows]
    return widgets.VBox([*layout, widgets.HBox([button, line]), out]), run
