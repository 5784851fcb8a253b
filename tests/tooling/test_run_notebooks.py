"""scripts/run_notebooks.py: stored figures are re-encoded smaller without a visible change."""

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
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))).convert("RGB"))


def stored_after_optimising(original: str) -> tuple[int, str]:
    cell = nbformat.v4.new_code_cell(
        outputs=[nbformat.v4.new_output("display_data", data={"image/png": original})]
    )
    nb = nbformat.v4.new_notebook(cells=[cell])
    saved = run_notebooks.optimise_pngs(nb)
    return saved, nb.cells[0].outputs[0]["data"]["image/png"]


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


def figure_png() -> str:
    """A real figure: anti-aliased curves, markers and text on white (thousands of colours)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3), dpi=110)
    x = np.linspace(0, 6, 200)
    for k in range(5):
        ax.plot(x, np.sin(x + k), label=f"curve {k}")
    ax.errorbar([1, 2, 3], [0.2, 0.5, 0.1], yerr=0.1, fmt="o")
    ax.set(xlabel="x", ylabel="y", title="a figure")
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_figures_become_a_palette_within_a_few_levels() -> None:
    original = figure_png()
    pixels = decode(original)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 256  # not a palette image already
    saved, stored = stored_after_optimising(original)
    error = np.abs(decode(stored).astype(int) - pixels.astype(int))
    assert saved > 0 and Image.open(io.BytesIO(base64.b64decode(stored))).mode == "P"
    assert error.max() <= run_notebooks.PALETTE_MAX_ERROR and error.mean() < 1.0


def test_smooth_gradients_keep_their_exact_pixels() -> None:
    # 4096 colours spread evenly: a 256-colour palette would move pixels by ~4 levels on average.
    y, x = np.mgrid[0:64, 0:64]
    pixels = np.stack([4 * x, 4 * y, 255 - 2 * (x + y)], axis=-1).astype(np.uint8)
    _, stored = stored_after_optimising(png(pixels, level=0))
    assert np.array_equal(decode(stored), pixels)


def test_noise_keeps_its_exact_pixels() -> None:
    # 64x64 random colours: a 256-colour palette would move pixels far, so nothing changes
    # (the exact re-encoding is not smaller than a best-compressed original either).
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    saved, stored = stored_after_optimising(png(pixels, level=0))
    assert np.array_equal(decode(stored), pixels)
