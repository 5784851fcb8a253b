"""The Omniglot data layer: look-up order, download, checksums, safe extraction, decoding, cache.

Fixture zips in the official folder layout are built at test time; nothing here needs a network.
Tests marked ``real_data`` read the official zips from ``$OMNIGLOT_DIR``.
"""

from __future__ import annotations

import hashlib
import io
import urllib.error
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from lecture_utils import omniglot

# --------------------------------------------------------------------------------------------
# Fixtures: tiny official-layout zips
# --------------------------------------------------------------------------------------------


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


@pytest.fixture
def fixture_zips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two small zips sharing the Greek alphabet, registered as the 'small' subset's files."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    one = make_zip(
        folder / "images_background_small1.zip",
        "images_background_small1",
        {"Greek": 2, "Korean": 3},
    )
    two = make_zip(
        folder / "images_background_small2.zip",
        "images_background_small2",
        {"Greek": 2, "Tagalog": 1},
    )
    monkeypatch.setitem(omniglot.OFFICIAL_MD5, one.name, md5_of(one))
    monkeypatch.setitem(omniglot.OFFICIAL_MD5, two.name, md5_of(two))
    monkeypatch.delenv(omniglot.OMNIGLOT_DIR_ENV, raising=False)
    return folder


class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes) -> None:
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


def opener_serving(payload: bytes, calls: list[str]):
    def opener(url: str, timeout: float) -> FakeResponse:
        assert timeout > 0, "downloads must use a timeout"
        calls.append(url)
        return FakeResponse(payload)

    return opener


def offline_opener(url: str, timeout: float):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


# --------------------------------------------------------------------------------------------
# fetch: look-up order, download, checksums
# --------------------------------------------------------------------------------------------


def test_env_folder_is_used_first_and_nothing_is_downloaded(fixture_zips, tmp_path, monkeypatch):
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(fixture_zips))
    cache = tmp_path / "cache"
    path = omniglot.fetch("images_background_small1.zip", data_dir=cache, opener=offline_opener)
    assert path == fixture_zips / "images_background_small1.zip"
    assert not cache.exists()


def test_download_goes_through_a_temp_file_and_lands_verified(fixture_zips, tmp_path):
    payload = (fixture_zips / "images_background_small2.zip").read_bytes()
    calls: list[str] = []
    cache = tmp_path / "cache"
    path = omniglot.fetch(
        "images_background_small2.zip", data_dir=cache, opener=opener_serving(payload, calls)
    )
    assert calls == [f"{omniglot.BASE_URL}/images_background_small2.zip"]
    assert path == cache / "images_background_small2.zip"
    assert path.read_bytes() == payload
    assert sorted(p.name for p in cache.iterdir()) == ["images_background_small2.zip"]
    # A second call is a cache hit: the opener is not called again.
    omniglot.fetch("images_background_small2.zip", data_dir=cache, opener=offline_opener)
    assert len(calls) == 1


def test_offline_without_data_names_file_url_and_env_var(tmp_path, monkeypatch):
    monkeypatch.delenv(omniglot.OMNIGLOT_DIR_ENV, raising=False)
    with pytest.raises(omniglot.DataUnavailableError) as info:
        omniglot.fetch("images_background_small1.zip", data_dir=tmp_path, opener=offline_opener)
    message = str(info.value)
    assert "images_background_small1.zip" in message
    assert f"{omniglot.BASE_URL}/images_background_small1.zip" in message
    assert omniglot.OMNIGLOT_DIR_ENV in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "HTML page"),
        ("truncated", "not a complete zip"),
        ("altered", "contents differ"),
    ],
)
def test_bad_download_is_rejected_and_removed(fixture_zips, tmp_path, payload, reason):
    good = (fixture_zips / "images_background_small1.zip").read_bytes()
    if payload == "truncated":
        payload = good[: len(good) // 2]
    elif payload == "altered":
        altered = fixture_zips / "altered.zip"
        make_zip(altered, "images_background_small1", {"Greek": 1})
        payload = altered.read_bytes()
    cache = tmp_path / "cache"
    with pytest.raises(omniglot.CorruptDataError, match=reason) as info:
        omniglot.fetch(
            "images_background_small1.zip", data_dir=cache, opener=opener_serving(payload, [])
        )
    assert "md5" in str(info.value)
    assert list(cache.iterdir()) == []


def test_damaged_cached_file_is_replaced_by_a_fresh_download(fixture_zips, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "images_background_small1.zip").write_bytes(b"garbage")
    good = (fixture_zips / "images_background_small1.zip").read_bytes()
    calls: list[str] = []
    path = omniglot.fetch(
        "images_background_small1.zip", data_dir=cache, opener=opener_serving(good, calls)
    )
    assert len(calls) == 1 and path.read_bytes() == good


def test_wrong_file_in_env_folder_is_reported_not_deleted(fixture_zips, tmp_path, monkeypatch):
    bad = tmp_path / "elsewhere"
    bad.mkdir()
    (bad / "images_background_small1.zip").write_bytes(b"<html>not a zip</html>")
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(bad))
    with pytest.raises(omniglot.CorruptDataError, match=omniglot.OMNIGLOT_DIR_ENV):
        omniglot.fetch("images_background_small1.zip", data_dir=tmp_path / "cache")
    assert (bad / "images_background_small1.zip").exists()


def test_unknown_file_names_the_known_ones():
    with pytest.raises(ValueError, match="images_evaluation.zip"):
        omniglot.fetch("images_typo.zip")


# --------------------------------------------------------------------------------------------
# Extraction and decoding
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["../escape.png", "/etc/evil.png", "a/../../escape.png"])
def test_extraction_rejects_paths_escaping_the_target(tmp_path, member):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("evil/ok.png", b"x")
        zf.writestr(member, b"x")
    dest = tmp_path / "out"
    with pytest.raises(omniglot.CorruptDataError, match="escapes the target folder"):
        omniglot.extract_zip(archive, dest)
    assert not (tmp_path / "escape.png").exists()
    assert not dest.exists() or list(dest.iterdir()) == []


def test_extraction_is_complete_and_reused(fixture_zips, tmp_path):
    dest = tmp_path / "out"
    top = omniglot.extract_zip(fixture_zips / "images_background_small1.zip", dest)
    assert top == dest / "images_background_small1"
    assert len(list(top.glob("*/*/*.png"))) == 5 * 20
    assert [p.name for p in dest.iterdir()] == ["images_background_small1"]  # no staging left
    assert omniglot.extract_zip(fixture_zips / "images_background_small1.zip", dest) == top


def test_truncated_zip_cannot_be_extracted_or_decoded(tmp_path):
    good = make_zip(tmp_path / "good.zip", "images_background_small1", {"Greek": 1})
    truncated = tmp_path / "images_background_small1.zip"
    truncated.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(omniglot.CorruptDataError, match="not a readable zip"):
        omniglot.extract_zip(truncated, tmp_path / "out")
    with pytest.raises(omniglot.CorruptDataError):
        omniglot.decode_zips([truncated])
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_decoding_deduplicates_and_keeps_metadata(fixture_zips):
    zips = sorted(fixture_zips.glob("*.zip"))
    data = omniglot.decode_zips(zips, image_size=28, subset="small")
    # Greek (2) is in both zips and kept once; Korean 3, Tagalog 1.
    assert data.images.shape == (6, 20, 28, 28)
    assert data.alphabet_names == ["Greek", "Korean", "Tagalog"]
    assert data.character_indices("Korean") == [2, 3, 4]
    meta = data.describe(2, 4)
    assert meta == {
        "alphabet": "Korean",
        "character": "character01",
        "drawer": 5,
        "file": "images_background_small1/Korean/character01/0001_05.png",
    }
    assert data.images.dtype == torch.float32
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    # Ink is 1: each image is a black square on white, i.e. about 20*20/105^2 of the area.
    assert data.images.mean().item() == pytest.approx(400 / 105**2, rel=0.1)
    with pytest.raises(KeyError, match="choose from"):
        data.character_indices("Klingon")


def test_character_with_missing_drawers_is_reported(tmp_path):
    bad = make_zip(tmp_path / "bad.zip", "images_background_small1", {"Greek": 1}, drawers=19)
    with pytest.raises(omniglot.CorruptDataError, match="19 images, not 20"):
        omniglot.decode_zips([bad])


# --------------------------------------------------------------------------------------------
# load_omniglot: cache keyed by subset and size
# --------------------------------------------------------------------------------------------


def test_cache_hit_skips_the_zips_and_loads_without_pickle(fixture_zips, tmp_path, monkeypatch):
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(fixture_zips))
    cache = tmp_path / "cache"
    first = omniglot.load_omniglot("small", image_size=20, data_dir=cache)
    cached = list((cache / "cache").glob("*.pt"))
    assert [p.name for p in cached] == ["omniglot-small-20px-v1.pt"]
    torch.load(cached[0], weights_only=True)  # plain tensors and strings only

    def no_zip_access(*args, **kwargs):
        raise AssertionError("a cache hit must not touch the zips")

    monkeypatch.setattr(omniglot, "fetch", no_zip_access)
    second = omniglot.load_omniglot("small", image_size=20, data_dir=cache)
    assert torch.allclose(first.images, second.images, atol=1 / 255)
    assert second.alphabets == first.alphabets and second.files == first.files
    # Another size is another cache entry, decoded afresh.
    with pytest.raises(AssertionError, match="cache hit"):
        omniglot.load_omniglot("small", image_size=24, data_dir=cache)


def test_damaged_cache_is_rebuilt(fixture_zips, tmp_path, monkeypatch):
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(fixture_zips))
    cache = tmp_path / "cache"
    omniglot.load_omniglot("small", image_size=20, data_dir=cache)
    entry = cache / "cache" / "omniglot-small-20px-v1.pt"
    entry.write_bytes(b"not a tensor file")
    data = omniglot.load_omniglot("small", image_size=20, data_dir=cache)
    assert data.images.shape == (6, 20, 20, 20)
    assert entry.stat().st_size > 1000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"subset": "tiny"}, "Unknown subset"),
        ({"image_size": 4}, "from 8 to 105"),
        ({"image_size": 28.0}, "integer"),
    ],
)
def test_bad_arguments_are_named(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        omniglot.load_omniglot(data_dir=tmp_path, **kwargs)


# --------------------------------------------------------------------------------------------
# The real files
# --------------------------------------------------------------------------------------------


@pytest.mark.real_data
def test_real_small_set_has_8_alphabets_and_242_characters(real_data, tmp_path):
    data = omniglot.load_omniglot("small", data_dir=tmp_path)
    assert data.images.shape == (242, 20, 28, 28)
    assert data.alphabet_names == [
        "Balinese",
        "Early_Aramaic",
        "Greek",
        "Japanese_(katakana)",
        "Korean",
        "Latin",
        "Sanskrit",
        "Tagalog",
    ]
    assert len(data.character_indices("Greek")) == 24  # in both zips, kept once
    assert len(set(map(data.label, range(242)))) == 242
    # Ink is a thin stroke: a few percent to a few tens of percent of each image.
    ink = data.images.mean(dim=(-2, -1))
    assert 0.01 < ink.min() and ink.max() < 0.5
    assert data.describe(0, 0)["file"].startswith("images_background_small1/Balinese/")
