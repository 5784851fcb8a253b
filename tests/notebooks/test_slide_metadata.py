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
