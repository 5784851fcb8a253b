"""Slide metadata: the notebooks carry what scripts/slide_metadata.py writes; the rules hold."""

from __future__ import annotations

import base64
import json
import struct
import sys
import zlib
from pathlib import Path

import pytest
from shared import EXPECTED_NOTEBOOKS, NOTEBOOK_DIR, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import slide_metadata as sm  # noqa: E402

# Notebooks whose slides are final: all the agreed ones. A new notebook whose text has not
# settled yet is left out here until it has (e.g. ``[n for n in EXPECTED_NOTEBOOKS if ...]``).
WITH_SLIDES = list(EXPECTED_NOTEBOOKS)


@pytest.mark.parametrize("name", WITH_SLIDES)
def test_notebook_slide_metadata_is_up_to_date(name: str) -> None:
    path = NOTEBOOK_DIR / name
    assert sm.main(["--check", str(path)]) == 0, (
        f"{name}: slide metadata is stale; run `python scripts/slide_metadata.py {path}`"
    )


@pytest.mark.parametrize("name", WITH_SLIDES)
def test_notebook_figures_fit_a_1280x720_slide(name: str) -> None:
    nb = sm.read(NOTEBOOK_DIR / name)
    assert not sm.oversized_figures(nb)
    counts = sm.slide_counts(nb)
    assert counts["slide"] >= 3 and nb["metadata"]["rise"]["width"] == 1280


def md(text: str, **meta) -> dict:
    return {"cell_type": "markdown", "metadata": dict(meta), "source": text}


def code(text: str, outputs: list | None = None, **meta) -> dict:
    return {"cell_type": "code", "metadata": dict(meta), "source": text, "outputs": outputs or []}


def png(width: int, height: int) -> str:
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return base64.b64encode(header + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))).decode()


def figure(width: int = 600, height: int = 400) -> list:
    return [{"output_type": "display_data", "data": {"image/png": png(width, height)}}]


TEXT = [{"output_type": "stream", "name": "stdout", "text": "SEED = 0\n"}]


def kinds(nb: dict) -> list[str]:
    return [c["metadata"]["slideshow"]["slide_type"] for c in nb["cells"]]


def fake() -> dict:
    return {
        "metadata": {},
        "cells": [
            md("Intro without a heading"),
            code("import torch\nruntime.seed_everything(0)", TEXT),
            md("## Section"),
            md("* one\n* two\n  continued"),
            code("x = 1"),
            code("plot()", figure()),
            md("### Step\n\ntext"),
            md("**Conclusion.** It works."),
            md("Some text introducing a figure."),
            code("plot()", figure()),
            code("from a import b\nimport c"),
            code("setup()", TEXT, tags=["show-input", "exercise"]),
        ],
    }


def test_rules() -> None:
    nb = sm.apply(fake())
    assert kinds(nb) == [
        "slide", "-", "slide", "fragment", "-", "subslide", "subslide", "subslide", "subslide",
        "-", "skip", "-",
    ]  # fmt: skip
    first = nb["cells"][1]["metadata"]
    assert first["tags"] == ["hide-input"] and first["jupyter"] == {"source_hidden": True}
    assert nb["cells"][-1]["metadata"]["tags"] == ["show-input", "exercise"]
    assert "jupyter" not in nb["cells"][-1]["metadata"]
    assert nb["metadata"]["rise"]["height"] == 720
    assert sm.slide_counts(nb) == {"slide": 2, "subslide": 4, "fragment": 1, "skip": 1}


def test_apply_is_idempotent_and_repairs_edits() -> None:
    once = sm.apply(fake())
    twice = sm.apply(json.loads(json.dumps(once)))
    assert once == twice
    twice["cells"][1]["metadata"]["tags"] = []
    twice["cells"][2]["metadata"]["slideshow"]["slide_type"] = "-"
    assert sm.apply(twice) == once


def test_check_mode_reports_stale_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "nb.ipynb"
    sm.write(path, fake())
    assert sm.main(["--check", str(path)]) == 1
    assert "out of date" in capsys.readouterr().out
    assert sm.main([str(path)]) == 0
    assert sm.main(["--check", str(path)]) == 0


def test_oversized_figures_are_reported() -> None:
    nb = {"cells": [code("plot()", figure(1400, 500)), code("plot()", figure(1280, 720))]}
    assert sm.oversized_figures(nb) == ["cell 1: figure 1400x500 px > 1280x720"]


def stream(lines: int) -> list:
    return [{"output_type": "stream", "name": "stdout", "text": "x\n" * lines}]


def long_code(lines: int = sm.LONG_CODE + 1) -> str:
    return "\n".join(f"step_{i}()" for i in range(lines))


def test_code_that_is_not_the_lesson_is_hidden_on_slides_only() -> None:
    nb = sm.apply(
        {
            "metadata": {},
            "cells": [
                md("# Title"),
                code("import torch", TEXT),
                code(long_code(), TEXT),  # bookkeeping: hidden on slides
                code(long_code(), TEXT, tags=["show-input"]),  # opted out
                code(long_code(), tags=["exercise"]),  # the student's code: always shown
                code("check(f)", TEXT, tags=["exercise-check"]),  # the check: hidden
                code(long_code(sm.LONG_CODE), TEXT),  # short enough
                code("# NBVAL_CHECK_OUTPUT\n" + long_code(sm.LONG_CODE), TEXT),  # markers ignored
            ],
        }
    )
    tags = [c["metadata"].get("tags", []) for c in nb["cells"]]
    assert ["hide-input" in t for t in tags] == [
        False,
        True,
        True,
        False,
        False,
        True,
        False,
        False,
    ]
    # hidden on the static slides only: the notebook (and RISE) still show the code
    assert [("jupyter" in c["metadata"]) for c in nb["cells"]] == [False, True] + [False] * 6
    assert tags[5] == ["exercise-check", "hide-input"]


def test_long_outputs_get_a_sub_slide() -> None:
    nb = sm.apply(
        {
            "metadata": {},
            "cells": [
                md("# Title"),
                code("import torch", TEXT),
                code("x = 1", stream(3)),
                code("report()", stream(sm.LONG_OUTPUT + 1)),
                md("Text introducing a long table."),
                code("table()", stream(sm.LONG_OUTPUT + 1)),
            ],
        }
    )
    assert kinds(nb) == ["slide", "-", "-", "subslide", "subslide", "-"]


def test_slides_are_paginated_by_estimated_height() -> None:
    cells = [md("# Title")] + [code(f"x{i} = {i}", stream(8)) for i in range(12)]
    nb = sm.apply({"metadata": {}, "cells": cells})
    heights = sm.slide_heights(nb)
    assert len(heights) > 3 and kinds(nb).count("subslide") == len(heights) - 1
    assert max(heights) <= sm.PAGE_HEIGHT
    shown = [sm.cell_height(c, "hide-input" in c["metadata"].get("tags", [])) for c in cells]
    assert sum(heights) == pytest.approx(sum(shown))
    # the text introducing a cell moves with it; an exercise check (empty on the students'
    # slides) stays where it is
    cells = [md("# T"), code("x", stream(20)), md("Intro."), code("y", stream(8))]
    cells += [code("f()", stream(2), tags=["exercise-check"])]
    assert kinds(sm.apply({"metadata": {}, "cells": cells})) == ["slide", "-", "subslide", "-", "-"]
    # a cell taller than a page still gets one slide (the deck shrinks it), never an empty one
    nb = sm.apply({"metadata": {}, "cells": [md("# T\n\n" + "word " * 4000), code("x", stream(2))]})
    assert kinds(nb) == ["slide", "subslide"]


def test_height_estimates() -> None:
    assert sm.cell_height(code("a\nb", stream(3))) == 22 + 2 * sm.LINE + 15 + 3 * sm.LINE
    assert sm.cell_height(code("a\nb", stream(3)), hide_input=True) == 15 + 3 * sm.LINE
    # figures: scaled to the slide's width, capped in height (as the deck's CSS does)
    assert sm.cell_height(code("", figure(600, 400))) == 400 + 12
    assert sm.cell_height(code("", figure(2520, 400))) == 200 + 12
    assert sm.cell_height(code("", figure(600, 2000))) == sm.FIGURE_MAX_HEIGHT + 12
    assert sm.markdown_height("# T") < sm.markdown_height("# T\n\nA paragraph.\n\nAnother.")


def test_summary_counts_slides_shrunk_and_at_risk(capsys: pytest.CaptureFixture) -> None:
    small = {"metadata": {}, "cells": [md("# T"), code("x", stream(3))]}
    assert sm.fit_summary(sm.apply(small)) == {
        "slides": 1, "shrunk": 0, "at_risk": 0, "tallest": round(sm.slide_heights(small)[0])
    }  # fmt: skip
    tall = sm.apply({"metadata": {}, "cells": [md("# T"), code("x", stream(40))]})
    assert sm.fit_summary(tall)["shrunk"] == 1 and sm.fit_summary(tall)["at_risk"] == 0
    huge = sm.apply({"metadata": {}, "cells": [md("# T"), code("x", stream(80))]})
    assert sm.fit_summary(huge)["at_risk"] == 1
    # figures are what the deck shrinks first: three tall ones (a sub-slide) fit, shrunk
    three = sm.apply({"metadata": {}, "cells": [md("# T"), code("x", figure() * 3)]})
    assert kinds(three) == ["slide", "subslide"]
    assert sm.fit_summary(three) == {"slides": 2, "shrunk": 1, "at_risk": 0, "tallest": 1236}


@pytest.mark.parametrize("name", WITH_SLIDES)
def test_no_slide_is_at_risk_of_overflow(name: str, capsys: pytest.CaptureFixture) -> None:
    """The estimate agrees with the browser test (tests/browser/test_slides.py), where every
    slide of these decks fits: none is at risk."""
    path = NOTEBOOK_DIR / name
    nb = sm.read(path)
    fit = sm.fit_summary(nb)
    counts = sm.slide_counts(nb)
    assert fit["slides"] == counts["slide"] + counts["subslide"]
    assert fit["at_risk"] == 0, f"{name}: {fit}"
    assert sm.main(["--summary", str(path)]) == 0
    assert "at risk of overflow: 0" in capsys.readouterr().out
