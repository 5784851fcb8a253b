"""What killed writers and extractions left behind goes on the next use."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from shared import make_zip

from lecture_utils.core import store
from lecture_utils.data import omniglot


def dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def age(path: Path, seconds: float) -> Path:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))
    return path


def leftovers(folder: Path) -> dict[str, Path]:
    """A temporary of a dead writer, an old one of unknown origin, and two to keep."""
    host = store._HOST
    files = {
        "dead": folder / f".m.pt.{host}-{dead_pid()}.abcd1234.tmp",
        "old_legacy": folder / ".m.pt.qmklb2gs",
        "fresh_legacy": folder / ".m.pt.zzzzzzzz",
        "live": folder / f".m.pt.{host}-{os.getpid()}.efgh5678.tmp",
    }
    for path in files.values():
        path.write_bytes(b"\0" * 100)
    age(files["old_legacy"], 90)  # older than a minute
    age(files["live"], 3600)  # our own live writer: kept however old
    return files


@pytest.mark.parametrize("use", ["save_checkpoint", "read_checkpoint", "load_checkpoint"])
def test_checkpoint_reads_and_writes_remove_stale_temporaries(tmp_path, use):
    good = tmp_path / "good.pt"
    store.save_checkpoint(torch.nn.Linear(1, 1, bias=False), good)
    files = leftovers(tmp_path)
    if use == "save_checkpoint":
        store.save_checkpoint({"w": torch.zeros(2)}, tmp_path / "other.pt")
    elif use == "read_checkpoint":
        store.read_checkpoint(good)
    else:
        store.load_checkpoint(torch.nn.Linear(1, 1, bias=False), good)
    assert not files["dead"].exists() and not files["old_legacy"].exists()
    assert files["fresh_legacy"].exists() and files["live"].exists()


def test_stale_means_older_than_a_minute_for_writers_that_cannot_be_identified(tmp_path):
    other = "0" if store._HOST != "000000" else "1"
    old, recent = (tmp_path / f".{n}.pt.{other * 6}-1.abcd1234.tmp" for n in ("m", "n"))
    for path, seconds in ((old, 61), (recent, 30)):
        path.write_bytes(b"x")
        age(path, seconds)
    assert store.remove_stale_temporaries(tmp_path) == [old]  # another machine's writer
    assert recent.exists()


def test_a_killed_extraction_is_removed_by_the_next_extraction(tmp_path):
    archive = make_zip(tmp_path / "images_background_small1.zip", "images_background_small1",
                       {"Greek": 1})  # fmt: skip
    dest = tmp_path / "out"
    dest.mkdir()
    host = store._HOST
    dead = dest / f".images_background_small1.{host}-{dead_pid()}.k2j3h4g5.tmp"
    old = age_dir(dest / ".images_background_small1.qmklb2gs", 120)  # the older naming
    fresh = dest / ".images_background_small1.abcdefgh"  # maybe still being written
    live = dest / f".images_background_small1.{host}-{os.getpid()}.zzzz.tmp"
    for folder in (dead, fresh, live):
        (folder / "images_background_small1" / "Greek").mkdir(parents=True)
    mine = dest / ".my_notes"
    mine.mkdir()
    top = omniglot.extract_zip(archive, dest)
    assert top == dest / "images_background_small1" and top.is_dir()
    assert not dead.exists() and not old.exists()
    assert fresh.exists() and live.exists() and mine.exists()


def age_dir(path: Path, seconds: float) -> Path:
    (path / "images_background_small1").mkdir(parents=True)
    return age(path, seconds)


def test_load_omniglot_removes_half_extracted_folders_and_dead_writers_temporaries(tmp_path, zips):
    root = tmp_path / "data"
    runs = root / "one-shot-classification"
    cache = root / "cache" / "omniglot"
    runs.mkdir(parents=True)
    cache.mkdir(parents=True)
    host, pid = store._HOST, dead_pid()
    half = runs / f".all_runs.{host}-{pid}.abcd1234.tmp"
    (half / "all_runs" / "run01").mkdir(parents=True)
    temp = cache / f".omniglot-small-20px-v2.pt.{host}-{pid}.abcd1234.tmp"
    temp.write_bytes(b"\0" * 1000)
    data = omniglot.load_omniglot("small", image_size=20, data_dir=root)
    assert data.num_characters == 3
    assert not half.exists() and not temp.exists()
    assert sorted(p.name for p in cache.iterdir()) == ["omniglot-small-20px-v2.pt"]
