"""Shared test set-up: CPU only, absolute OMNIGLOT_DIR, and small fixtures.

Constants that tests need at collection time (paths, the notebook list) live in ``shared.py``;
everything else a test needs comes from a fixture here, never from ``import conftest``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from shared import NOTEBOOK_DIR, PATTERN_SIZE, REPO_ROOT, make_zip, md5_of

if TYPE_CHECKING:
    import torch

# Set before any kernel starts, so nbval's notebook kernels inherit them too.
os.environ.setdefault("LECTURE_DEVICE", "cpu")
if os.environ.get("OMNIGLOT_DIR"):
    # Notebooks run with notebooks/ as working directory: a relative path would break there.
    os.environ["OMNIGLOT_DIR"] = str(Path(os.environ["OMNIGLOT_DIR"]).expanduser().resolve())


def in_ci() -> bool:
    """True under CI (``CI=true``), where missing prerequisites fail instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    """Skip locally; fail in CI, where everything the test needs must be installed."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def notebook_dir() -> Path:
    return NOTEBOOK_DIR


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of official Omniglot zips named by ``$OMNIGLOT_DIR`` (skips when unset)."""
    folder = os.environ.get("OMNIGLOT_DIR")
    if not folder:
        skip_or_fail("OMNIGLOT_DIR is not set: point it at a folder of the official Omniglot zips")
    path = Path(folder)
    if not path.is_dir():
        skip_or_fail(f"OMNIGLOT_DIR={folder} is not a directory")
    return path


@pytest.fixture
def images() -> torch.Tensor:
    """12 synthetic 'characters' x 20 drawers of ``PATTERN_SIZE`` pixels: each class is a noisy
    copy of its own pattern. A test file that defines its own ``images`` fixture (as
    test_episodes.py and test_input_validation.py do) overrides this one."""
    import torch  # here, so that tests without torch do not pay for importing it

    S = PATTERN_SIZE
    gen = torch.Generator().manual_seed(0)
    prototypes = (torch.rand(12, 1, S, S, generator=gen) > 0.5).float()
    return (prototypes + 0.3 * torch.rand(12, 20, S, S, generator=gen)).clamp(0, 1)


@pytest.fixture
def fast_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn ``LECTURE_FAST_MODE`` on for one test."""
    monkeypatch.setenv("LECTURE_FAST_MODE", "1")


@pytest.fixture
def full_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn ``LECTURE_FAST_MODE`` off for one test."""
    monkeypatch.delenv("LECTURE_FAST_MODE", raising=False)


@pytest.fixture
def browser_ready() -> None:
    """Playwright and Debian's Chromium must be present (skip locally, fail in CI)."""
    from jupyterlab_browser import CHROMIUM, chromium_available, playwright_available

    if not playwright_available():
        skip_or_fail("playwright is not installed (pip install -e '.[test]')")
    if not chromium_available():
        skip_or_fail(f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium`")


@pytest.fixture
def zips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two tiny Omniglot-shaped zips (3 characters) registered as the official small ones."""
    from lecture_utils.data import omniglot

    folder = tmp_path / "zips"
    folder.mkdir()
    for name, alphabets in [
        ("images_background_small1.zip", {"Greek": 2}),
        ("images_background_small2.zip", {"Latin": 1}),
    ]:
        path = make_zip(folder / name, name[:-4], alphabets)
        monkeypatch.setitem(omniglot.OFFICIAL_MD5, name, md5_of(path))
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(folder))
    return folder
