"""scripts/run_notebooks.py: stored figures are re-encoded losslessly (same pixels, fewer bytes)."""

from __future__ import annotations

import base64
import io
import sys

import nbformat
import numpy as np
from PIL import Image
from shared import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import run_notebooks  # noqa: E402


def png(pixels: np.ndarray, level: int) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=level)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))


def test_pngs_shrink_and_keep_every_pixel() -> None:
    pixels = np.zeros((64, 64, 3), dtype=np.uint8)
    pixels[10:30, 5:60] = (200, 30, 40)
    original = png(pixels, level=0)  # stored without compression
    cell = nbformat.v4.new_code_cell(
        outputs=[nbformat.v4.new_output("display_data", data={"image/png": original})]
    )
    nb = nbformat.v4.new_notebook(cells=[cell])
    saved = run_notebooks.optimise_pngs(nb)
    stored = nb.cells[0].outputs[0]["data"]["image/png"]
    assert saved > 0 and len(stored) < len(original)
    assert np.array_equal(decode(stored), pixels)
