"""A full disk keeps the decoded images and says so."""

from __future__ import annotations

import errno
import io
import os
import warnings
from collections import namedtuple
from pathlib import Path

import pytest
import torch

from lecture_utils.core import store
from lecture_utils.core.store import CacheWarning
from lecture_utils.data import omniglot

DiskUsage = namedtuple("DiskUsage", "total used free")


@pytest.mark.parametrize("kind", ["oserror", "torch_runtime_error"])
def test_load_omniglot_on_a_full_disk_returns_the_images_and_warns(
    zips, tmp_path, monkeypatch, kind
):
    root = tmp_path / "data"
    expected = omniglot.load_omniglot("small", image_size=20, use_cache=False)

    def full_disk_save(obj, path):
        Path(path).write_bytes(b"\0" * 300)
        if kind == "oserror":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", full_disk_save)
    monkeypatch.setattr(store.shutil, "disk_usage", lambda p: DiskUsage(10**9, 10**9, 0))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        data = omniglot.load_omniglot("small", image_size=20, data_dir=root)
    assert torch.equal(data.images, expected.images) and data.characters == expected.characters
    [message] = [str(w.message) for w in record if issubclass(w.category, CacheWarning)]
    folder = root / "cache" / "omniglot"
    assert str(folder) in message and "No space left on device" in message
    assert "Free some space" in message and store.DATA_DIR_ENV in message
    assert os.listdir(folder) == []  # nothing half-written, no temporary


class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes) -> None:
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


def test_download_onto_a_full_disk_says_the_disk_is_full_not_go_online(zips, tmp_path, monkeypatch):
    monkeypatch.delenv(omniglot.OMNIGLOT_DIR_ENV)
    payload = (zips / "images_background_small1.zip").read_bytes()
    real_open = open

    class FullFile:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, block):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fake_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return FullFile(handle) if mode == "wb" and str(path).endswith(".tmp") else handle

    monkeypatch.setattr("builtins.open", fake_open)
    cache = tmp_path / "cache"
    with pytest.raises(omniglot.DataUnavailableError) as info:
        omniglot.fetch(
            "images_background_small1.zip",
            data_dir=cache,
            opener=lambda url, timeout: FakeResponse(payload),
        )
    message = str(info.value)
    assert "the disk is full" in message and "No space left on device" in message
    assert "Free some space" in message and store.DATA_DIR_ENV in message
    assert "Go online" not in message
    assert list(cache.iterdir()) == []  # the partial download was removed
