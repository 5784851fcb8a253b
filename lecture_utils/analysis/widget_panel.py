"""The one pattern of the notebooks' interactive panels: controls, a Run button, a redraw area.

:func:`run_panel` lays out the controls above a button and an output area; pressing the button
(or calling the returned ``run()``, handy in tests and to draw once when the cell runs) clears
the area and calls ``on_run()`` inside it, so its prints and figures appear there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


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
    layout = [widgets.HBox(list(row)) for row in rows]
    return widgets.VBox([*layout, widgets.HBox([button, line]), out]), run
