"""A full or unwritable disk costs a warning, never a trained model.

The writer (``torch.save``) is patched to fail the way it does on a full disk: it writes part
of the file, then raises ``OSError(ENOSPC)`` or torch's ``RuntimeError`` ("unexpected pos").
"""

from __future__ import annotations

import errno
import os
import warnings
from collections import namedtuple
from pathlib import Path

import pytest
import torch
from torch import nn

from lecture_utils.core import store
from lecture_utils.core.store import CacheWarning

TORCH_FULL_DISK = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"


def full_disk_save(kind: str):
    """A ``torch.save`` that writes half a file, then fails as on a full disk."""

    def save(obj: object, path: str | Path) -> None:
        Path(path).write_bytes(b"\0" * 300)
        if kind == "oserror":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        raise RuntimeError(TORCH_FULL_DISK)

    return save


def model_and_trainer(seed: int = 0) -> tuple[nn.Module, callable]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 4, generator=gen), torch.randint(0, 2, (32,), generator=gen)

    def train() -> None:
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(20):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

    return model, train


DiskUsage = namedtuple("DiskUsage", "total used free")


@pytest.fixture
def low_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk has 1 kB free (how store tells ENOSPC from other torch write failures)."""
    monkeypatch.setattr(store.shutil, "disk_usage", lambda path: DiskUsage(10**9, 10**9, 1024))


@pytest.mark.parametrize("kind", ["oserror", "torch_runtime_error"])
def test_cached_module_on_a_full_disk_returns_the_trained_weights(tmp_path, monkeypatch, kind):
    reference, train_reference = model_and_trainer()
    train_reference()  # the same training, no cache involved
    monkeypatch.setattr(torch, "save", full_disk_save(kind))
    monkeypatch.setattr(store.shutil, "disk_usage", lambda p: DiskUsage(10**9, 10**9, 0))
    model, train = model_and_trainer()
    path = tmp_path / "cache" / "models" / "m.pt"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got, loaded = store.cached_module(model, path, train, meta={"k": 1})
    assert loaded is False and got is model
    for (name, a), b in zip(reference.state_dict().items(), got.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    [warning] = [w for w in record if issubclass(w.category, CacheWarning)]
    text = str(warning.message)
    assert str(path.parent) in text and "No space left on device" in text
    assert "Free some space" in text and store.DATA_DIR_ENV in text
    assert os.listdir(path.parent) == []  # no half-written checkpoint, no temporary


def test_the_full_disk_warning_comes_once_per_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", full_disk_save("oserror"))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for name in ("a.pt", "b.pt", "c.pt"):
            model, train = model_and_trainer()
            store.cached_module(model, tmp_path / name, train)
    assert len([w for w in record if issubclass(w.category, CacheWarning)]) == 1


def test_torch_write_failure_is_named_a_full_disk_when_space_is_low(tmp_path, low_disk):
    error = store.as_write_error(RuntimeError(TORCH_FULL_DISK), tmp_path)
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    assert "No space left on device" in str(error) and "unexpected pos" in str(error)
    assert store.as_write_error(RuntimeError("shape mismatch"), tmp_path) is None  # a real bug


@pytest.mark.parametrize("kind", ["oserror", "torch_runtime_error"])
def test_save_checkpoint_on_a_full_disk_raises_a_clear_oserror_and_leaves_nothing(
    tmp_path, monkeypatch, low_disk, kind
):
    monkeypatch.setattr(torch, "save", full_disk_save(kind))
    model, _ = model_and_trainer()
    target = tmp_path / "m.pt"
    with pytest.raises(OSError, match=r"Could not save the checkpoint .*m\.pt") as info:
        store.save_checkpoint(model, target)
    assert info.value.errno == errno.ENOSPC and "No space left on device" in str(info.value)
    assert "Free some space" in str(info.value) and store.DATA_DIR_ENV in str(info.value)
    assert not isinstance(info.value, RuntimeError)
    assert os.listdir(tmp_path) == []


def test_other_errors_in_the_writer_are_not_hidden(tmp_path, monkeypatch):
    def broken(obj, path):
        raise RuntimeError("a bug, not a disk")

    monkeypatch.setattr(torch, "save", broken)
    model, train = model_and_trainer()
    with pytest.raises(RuntimeError, match="a bug, not a disk"):
        store.cached_module(model, tmp_path / "m.pt", train)
    assert os.listdir(tmp_path) == []
