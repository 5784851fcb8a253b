"""What tests share at import time: repository paths, the agreed notebooks, and the builder of
small Omniglot-shaped zips. Fixtures live in ``conftest.py``."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
# The agreed notebooks, in order. Every one must exist and no other may: when a notebook joins
# the collection, add its name here in the same change (test_notebook_hygiene checks it).
EXPECTED_NOTEBOOKS = [
    "00_start_here.ipynb",
    "01_multitask_vs_transfer.ipynb",
    "02_fine_tuning_rules.ipynb",
    "03_episodes.ipynb",
    "04_black_box_adaptation.ipynb",
    "05_beyond_classification.ipynb",
    "06_language_generation.ipynb",
]
PATTERN_SIZE = 16  # side of the synthetic images of the ``images`` fixture


def _png(seed: int, size: int = 105) -> bytes:
    """A white 105x105 PNG with one black square whose position depends on ``seed``."""
    image = Image.new("L", (size, size), 255)
    x, y = (seed * 7) % (size - 20), (seed * 13) % (size - 20)
    image.paste(0, (x, y, x + 20, y + 20))
    buffer = io.BytesIO()
    image.convert("1").save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(path: Path, top: str, alphabets: dict[str, int], drawers: int = 20) -> Path:
    """Write ``top/<alphabet>/characterNN/<id>_<drawer>.png`` for each alphabet."""
    with zipfile.ZipFile(path, "w") as archive:
        seed = 0
        for alphabet, n_chars in alphabets.items():
            for c in range(1, n_chars + 1):
                for d in range(1, drawers + 1):
                    seed += 1
                    name = f"{top}/{alphabet}/character{c:02d}/{c:04d}_{d:02d}.png"
                    archive.writestr(name, _png(seed))
    return path


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()
