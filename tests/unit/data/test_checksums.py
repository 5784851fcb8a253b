"""Every Omniglot zip is md5-checked wherever it comes from: ``$OMNIGLOT_DIR`` or ``data/``.

The files here are *valid* zips in the official layout that decode fine but are not the official
bytes, so only the md5 check can reject them (an HTML page or garbage bytes would already fail as
"not a zip"). Behaviour is tested through the public ``fetch``/``load_omniglot`` API only.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import urllib.error
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from lecture_utils.data import omniglot

SMALL1 = "images_background_small1.zip"
SMALL2 = "images_background_small2.zip"


def _png(seed: int) -> bytes:
    image = Image.new("L", (105, 105), 255)
    x, y = (seed * 7) % 80, (seed * 13) % 80
    image.paste(0, (x, y, x + 20, y + 20))
    buffer = io.BytesIO()
    image.convert("1").save(buffer, format="PNG")
    return buffer.getvalue()


def lookalike_zip(path: Path, alphabet: str = "Greek") -> Path:
    """A decodable zip in the official layout (one character, 20 drawers), not the real file."""
    top = path.stem
    with zipfile.ZipFile(path, "w") as archive:
        for d in range(1, 21):
            archive.writestr(f"{top}/{alphabet}/character01/0001_{d:02d}.png", _png(d))
    return path


def offline(url: str, timeout: float):
    raise urllib.error.URLError("no network in this test")


class Served(io.BytesIO):
    def __init__(self, payload: bytes) -> None:
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(omniglot.OMNIGLOT_DIR_ENV, raising=False)


def test_lookalike_decodes_so_only_the_md5_can_reject_it(tmp_path: Path) -> None:
    zip_path = lookalike_zip(tmp_path / SMALL1)
    assert omniglot.decode_zips([zip_path]).images.shape == (1, 20, 28, 28)


# ---- $OMNIGLOT_DIR ---------------------------------------------------------------------------


def test_lookalike_in_env_folder_is_rejected_by_fetch(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    bad = lookalike_zip(folder / SMALL1)
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(folder))
    with pytest.raises(omniglot.CorruptDataError) as info:
        omniglot.fetch(SMALL1, data_dir=tmp_path / "cache", opener=offline)
    message = str(info.value)
    assert "md5" in message and omniglot.OFFICIAL_MD5[SMALL1] in message
    assert omniglot.OMNIGLOT_DIR_ENV in message
    assert bad.is_file(), "a file in the user's own folder must never be deleted"


def test_lookalike_in_env_folder_is_rejected_by_load_omniglot(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    lookalike_zip(folder / SMALL1, "Greek")
    lookalike_zip(folder / SMALL2, "Latin")
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(folder))
    with pytest.raises(omniglot.CorruptDataError, match=omniglot.OFFICIAL_MD5[SMALL1]):
        omniglot.load_omniglot("small", data_dir=tmp_path / "cache", use_cache=False)


# ---- the data/ download cache ----------------------------------------------------------------


def test_lookalike_in_cache_is_not_trusted(tmp_path, no_env) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    lookalike_zip(cache / SMALL1)
    with pytest.raises(omniglot.OmniglotDataError):
        omniglot.fetch(SMALL1, data_dir=cache, opener=offline)


def test_lookalike_in_cache_is_fetched_again_and_the_md5_named(tmp_path, no_env) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    payload = lookalike_zip(cache / SMALL1).read_bytes()
    calls: list[str] = []

    def opener(url: str, timeout: float) -> Served:
        calls.append(url)
        return Served(payload)  # the same wrong file again: must be refused too

    with pytest.raises(omniglot.CorruptDataError) as info:
        omniglot.fetch(SMALL1, data_dir=cache, opener=opener)
    assert calls == [f"{omniglot.BASE_URL}/{SMALL1}"], "the cached copy was trusted"
    assert "md5" in str(info.value) and omniglot.OFFICIAL_MD5[SMALL1] in str(info.value)


def test_lookalike_in_cache_is_replaced_by_the_right_file(tmp_path, no_env) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    lookalike_zip(cache / SMALL1, "Greek")
    good = lookalike_zip(tmp_path / SMALL1, "Latin").read_bytes()
    expected = hashlib.md5(good).hexdigest()
    path = omniglot.fetch(
        SMALL1, data_dir=cache, expected_md5=expected, opener=lambda url, timeout: Served(good)
    )
    assert path.read_bytes() == good


# ---- the real files: the right layout, the wrong file ------------------------------------------


@pytest.mark.real_data
def test_real_zip_under_the_wrong_name_is_rejected(real_data, tmp_path, monkeypatch) -> None:
    """small2 saved as small1: a genuine Omniglot zip, but not the file asked for."""
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copyfile(real_data / SMALL2, folder / SMALL1)
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(folder))
    with pytest.raises(omniglot.CorruptDataError, match=omniglot.OFFICIAL_MD5[SMALL1]):
        omniglot.fetch(SMALL1, data_dir=tmp_path / "cache", opener=offline)
    monkeypatch.delenv(omniglot.OMNIGLOT_DIR_ENV)
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copyfile(real_data / SMALL2, cache / SMALL1)
    with pytest.raises(omniglot.OmniglotDataError):
        omniglot.fetch(SMALL1, data_dir=cache, opener=offline)
