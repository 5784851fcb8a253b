"""The Omniglot data layer: look-up order, download, checksums, safe extraction, decoding, cache.

Fixture zips in the official folder layout are built at test time; nothing here needs a network.
Tests marked ``real_data`` read the official zips from ``$OMNIGLOT_DIR``.
"""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
import time
import urllib.error
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from shared import make_zip, md5_of

from lecture_utils.core import store
from lecture_utils.core.store import CacheWarning
from lecture_utils.data import omniglot

# --------------------------------------------------------------------------------------------
# Fixtures: tiny official-layout zips
# --------------------------------------------------------------------------------------------


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
    with pytest.warns(omniglot.DataWarning, match="moved aside to") as record:
        path = omniglot.fetch(
            "images_background_small1.zip", data_dir=cache, opener=opener_serving(good, calls)
        )
    assert len(calls) == 1 and path.read_bytes() == good
    [aside] = cache.glob("images_background_small1.zip.rejected-*")
    assert aside.read_bytes() == b"garbage" and str(aside) in str(record[0].message)


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


@pytest.mark.parametrize(
    "member",
    [
        pytest.param("../escape.png", id="dotdot"),
        pytest.param("/etc/evil.png", id="absolute"),
        pytest.param("a/../../escape.png", id="nested-dotdot"),
        # Python's extractall would write these on POSIX as they are (it only strips "/" and
        # ".." parts): on Windows they climb out or jump drives. Only the guard stops them.
        pytest.param("..\\escape.png", id="backslash-dotdot"),
        pytest.param("a\\..\\..\\escape.png", id="backslash-nested"),
        pytest.param("C:/evil.png", id="drive-slash"),
        pytest.param("C:\\evil.png", id="drive-backslash"),
    ],
)
def test_extraction_rejects_paths_escaping_the_target(tmp_path, member, monkeypatch):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("evil/ok.png", b"x")
        zf.writestr(member, b"x")
    written: list[str] = []  # the guard must refuse before anything is extracted
    for name in ("extract", "extractall"):
        real = getattr(zipfile.ZipFile, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            written.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(zipfile.ZipFile, name, spy)
    dest = tmp_path / "out"
    with pytest.raises(omniglot.CorruptDataError, match="escapes the target folder"):
        omniglot.extract_zip(archive, dest)
    assert written == [], "members were extracted before the guard ran"
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left in (["evil.zip"], ["evil.zip", "out"]), f"files left behind: {left}"


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
    cached = list((cache / "cache" / "omniglot").glob("*.pt"))
    assert [p.name for p in cached] == [f"omniglot-small-20px-v{omniglot.CACHE_FORMAT}.pt"]
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
    entry = cache_entry(cache)
    entry.write_bytes(b"not a tensor file")
    with pytest.warns(CacheWarning, match="cannot be read"):
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


def cache_entry(root: Path, size: int = 20) -> Path:
    return root / "cache" / "omniglot" / f"omniglot-small-{size}px-v{omniglot.CACHE_FORMAT}.pt"


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch):
    """``read_only(folder)`` makes ``folder`` and everything below it refuse writes.

    The tests run as root, for whom ``chmod`` changes nothing, so the file operations this
    project uses are made to fail as on a read-only file system (and ``chmod`` is applied too,
    which is what makes it read-only for an ordinary user).
    """
    frozen: list[Path] = []

    def blocked(path: str | Path) -> bool:
        path = Path(path).absolute()
        return any(path == f or f in path.parents for f in frozen)

    def refuse(path: str | Path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    real_mkstemp, real_unlink, real_mkdir, real_replace = (
        tempfile.mkstemp, Path.unlink, Path.mkdir, os.replace
    )  # fmt: skip

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and blocked(dir):
            refuse(dir)
        return real_mkstemp(*args, dir=dir, **kwargs)

    def unlink(self, missing_ok=False):
        if blocked(self.parent):
            refuse(self)
        return real_unlink(self, missing_ok=missing_ok)

    def mkdir(self, mode=0o777, parents=False, exist_ok=False):
        if blocked(self) and not self.is_dir():
            refuse(self)
        return real_mkdir(self, mode=mode, parents=parents, exist_ok=exist_ok)

    def replace(src, dst, **kwargs):
        if blocked(Path(src).parent) or blocked(Path(dst).parent):
            refuse(dst)
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(Path, "unlink", unlink)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(os, "replace", replace)

    def freeze(folder: Path) -> None:
        frozen.append(folder.absolute())
        for sub in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
            sub.chmod(0o555)

    yield freeze
    for folder in frozen:
        for sub in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
            sub.chmod(0o755)


def cache_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, CacheWarning)]


# an unwritable data folder never throws a finished decode away.


def test_read_only_data_folder_returns_the_data_and_warns_once(
    fixture_zips, tmp_path, monkeypatch, read_only
):
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(fixture_zips))
    root = tmp_path / "data"
    root.mkdir()
    read_only(root)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        first = omniglot.load_omniglot("small", image_size=20, data_dir=root)
        second = omniglot.load_omniglot("small", image_size=20, data_dir=root)
    assert first.images.shape == second.images.shape == (6, 20, 20, 20)
    [message] = cache_warnings(record)  # once, not once per load
    assert "Read-only file system" in message and str(root / "cache") in message
    assert "use_cache=False" in message and "LECTURE_DATA_DIR" in message
    assert list(root.iterdir()) == []


def test_read_only_folder_with_a_damaged_cache_still_loads(
    fixture_zips, tmp_path, monkeypatch, read_only
):
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(fixture_zips))
    root = tmp_path / "data"
    good = omniglot.load_omniglot("small", image_size=20, data_dir=root)
    cache_entry(root).write_bytes(b"damaged")
    read_only(root)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        data = omniglot.load_omniglot("small", image_size=20, data_dir=root)
    assert torch.equal(data.images, good.images)
    messages = " ".join(cache_warnings(record))
    assert "could not be deleted" in messages and "Could not write" in messages
    assert cache_entry(root).read_bytes() == b"damaged"  # left alone, not a crash


def test_data_folder_that_is_a_file(fixture_zips, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("I am a file")
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(fixture_zips))
    with pytest.warns(CacheWarning, match=f"{not_a_folder} is a file, not a folder"):
        data = omniglot.load_omniglot("small", image_size=20, data_dir=not_a_folder)
    assert data.num_characters == 6
    monkeypatch.delenv(omniglot.OMNIGLOT_DIR_ENV)
    with pytest.raises(omniglot.DataUnavailableError, match="is a file, not a folder"):
        omniglot.fetch("images_background_small1.zip", data_dir=not_a_folder)


# a cache is checked against its key, its shape and dtype, and its checksum.


def _rewrite(entry: Path, change) -> None:
    payload = torch.load(entry, weights_only=True)
    change(payload)
    torch.save(payload, entry)


def _keep_3_characters(payload) -> None:
    """A well-formed cache of 3 characters, with a checksum that matches it."""
    meta = json.loads(payload["meta"])
    meta = {k: v[:3] for k, v in meta.items()}
    payload["images"] = payload["images"][:3].clone()
    payload["meta"] = json.dumps(meta)
    payload["checksum"] = store.tensor_checksum(
        {"images": payload["images"]}, payload["meta"], payload["key"]
    )


def _flip_a_pixel(payload) -> None:
    payload["images"][0, 0, 5, 5] ^= 0xFF


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_keep_3_characters, "holds 3 characters, not the 6"),
        (_flip_a_pixel, "fails its checksum"),
        ("copy 32 px", "made for"),
        ("32 px tensor", "not uint8 \\[characters, 20, 20, 20\\]"),
    ],
)
def test_tampered_cache_is_rebuilt(fixture_zips, tmp_path, monkeypatch, tamper, reason):
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(fixture_zips))
    md5s = tuple(omniglot.OFFICIAL_MD5[name] for name in omniglot.SUBSETS["small"])
    monkeypatch.setitem(omniglot.KNOWN_CHARACTERS, md5s, 6)
    root = tmp_path / "data"
    good = omniglot.load_omniglot("small", image_size=20, data_dir=root)
    entry = cache_entry(root)
    if tamper == "copy 32 px":  # the 32 px file under the 20 px name
        omniglot.load_omniglot("small", image_size=32, data_dir=root)
        entry.write_bytes(cache_entry(root, 32).read_bytes())
    elif tamper == "32 px tensor":  # 32 px images, but the key and checksum of the 20 px entry
        big = omniglot.load_omniglot("small", image_size=32, data_dir=root)
        images = (big.images * 255).round().to(torch.uint8)

        def swap(payload) -> None:
            payload["images"] = images

        _rewrite(entry, swap)
    else:
        _rewrite(entry, tamper)
    with pytest.warns(CacheWarning, match=reason):
        data = omniglot.load_omniglot("small", image_size=20, data_dir=root)
    assert torch.equal(data.images, good.images) and data.files == good.files
    # ... and the rebuilt entry is trusted again: a cache hit, without the zips.
    monkeypatch.setattr(omniglot, "fetch", None)
    assert torch.equal(omniglot.load_omniglot("small", 20, data_dir=root).images, good.images)


@pytest.mark.real_data
def test_real_cache_must_hold_every_character(real_data, tmp_path):
    root = tmp_path / "data"
    omniglot.load_omniglot("small", data_dir=root)
    _rewrite(cache_entry(root, 28), _keep_3_characters)
    with pytest.warns(CacheWarning, match="holds 3 characters, not the 242"):
        assert omniglot.load_omniglot("small", data_dir=root).num_characters == 242


# what interrupted writes left behind is removed.


def test_load_removes_temporaries_of_interrupted_writes(fixture_zips, tmp_path, monkeypatch):
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(fixture_zips))
    root = tmp_path / "data"
    (root / "cache").mkdir(parents=True)
    old = time.time() - 2 * store.STALE_SECONDS
    legacy = [
        root / "cache" / ".omniglot-small-28px-v1.pt.qmklb2gs",  # the old cache writer
        root / ".images_background_small1.zip.k2j3h4g5.part",  # the old downloader
        root / "cache" / "omniglot-small-20px-v1.pt",  # the old cache format
    ]
    for path in legacy:
        path.write_bytes(b"x" * 1000)
        os.utime(path, (old, old))
    keep = root / "cache" / "notes.txt"
    keep.write_text("mine")
    omniglot.load_omniglot("small", image_size=20, data_dir=root)
    assert not any(path.exists() for path in legacy)
    assert keep.read_text() == "mine"


# fetch never deletes a user's file, and says what it checked.


def test_wrong_file_in_data_folder_offline_is_moved_aside_and_named(fixture_zips, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    mine = cache / "images_background_small1.zip"
    mine.write_bytes(b"<html>my notes</html>")
    with pytest.raises(omniglot.DataUnavailableError) as info:
        omniglot.fetch("images_background_small1.zip", data_dir=cache, opener=offline_opener)
    [aside] = cache.glob("images_background_small1.zip.rejected-*")
    assert aside.read_bytes() == b"<html>my notes</html>"
    message = str(info.value)
    assert f"moved aside to {aside}" in message and "HTML page" in message
    assert "could not be downloaded" in message


@pytest.mark.parametrize("kind", ["dangling symlink", "missing folder"])
def test_rejected_omniglot_dir_is_named_with_the_reason(tmp_path, monkeypatch, kind):
    folder = tmp_path / "mine"
    if kind == "dangling symlink":
        folder.mkdir()
        (folder / "images_background_small1.zip").symlink_to(tmp_path / "gone.zip")
        why = f"{folder / 'images_background_small1.zip'} is a broken symlink"
    else:
        why = "that folder does not exist"
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(folder))
    with pytest.raises(omniglot.DataUnavailableError) as info:
        omniglot.fetch(
            "images_background_small1.zip", data_dir=tmp_path / "cache", opener=offline_opener
        )
    message = str(info.value)
    assert f"${omniglot.OMNIGLOT_DIR_ENV} is set to {folder}, but {why}" in message
    assert "put the official file in" in message


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
