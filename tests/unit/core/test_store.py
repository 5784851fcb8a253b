"""core.store: atomic writes, stale temporaries, checked checkpoints and cached models.

The concurrency and kill tests start real processes (the venv's Python) and need no network.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from shared import REPO_ROOT, make_zip, md5_of
from torch import nn

from lecture_utils.core import store
from lecture_utils.core.store import CacheWarning, CheckpointError
from lecture_utils.data import omniglot


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or "tmp" in p.name)


def small_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Run ``code`` in a new Python process (one torch thread: the machine is shared)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


# --------------------------------------------------------------------------------------------
# atomic_write
# --------------------------------------------------------------------------------------------


def test_atomic_write_creates_the_folder_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "new" / "folder" / "file.bin"
    seen: list[Path] = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_bytes(b"hello")

    assert store.atomic_write(target, write) == target
    assert target.read_bytes() == b"hello"
    assert seen[0].parent == target.parent
    assert seen[0].name.startswith(".file.bin.") and seen[0].name.endswith(".tmp")
    assert os.listdir(target.parent) == ["file.bin"]


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt  # even an interrupt must not leave a temporary behind

    with pytest.raises(KeyboardInterrupt):
        store.atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file.bin"]


# --------------------------------------------------------------------------------------------
# stale temporaries
# --------------------------------------------------------------------------------------------


def test_stale_temporaries_of_dead_or_old_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    host = store._HOST
    of_dead = tmp_path / f".model.pt.{host}-{dead.stdout.strip()}.abcd1234.tmp"
    of_live = tmp_path / f".model.pt.{host}-{os.getpid()}.efgh5678.tmp"
    legacy_old = tmp_path / ".omniglot-small-28px-v1.pt.qmklb2gs"
    legacy_new = tmp_path / ".omniglot-small-32px-v1.pt.zzzzzzzz"
    user_files = [tmp_path / "model.pt", tmp_path / ".hidden_config", tmp_path / "notes.tmp"]
    for path in [of_dead, of_live, legacy_old, legacy_new, *user_files]:
        path.write_bytes(b"x")
    old = time.time() - 2 * store.STALE_SECONDS
    os.utime(legacy_old, (old, old))
    removed = store.remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([of_dead, legacy_old])
    assert of_live.exists() and legacy_new.exists()  # a writer may still be busy with these
    assert all(path.exists() for path in user_files)
    assert store.remove_stale_temporaries(tmp_path / "missing") == []


def test_killed_cache_write_then_next_load_succeeds_and_leaves_nothing(tmp_path, monkeypatch):
    zips = tmp_path / "zips"
    zips.mkdir()
    md5 = {}
    for name, alphabets in [
        ("images_background_small1.zip", {"Greek": 2}),
        ("images_background_small2.zip", {"Latin": 1}),
    ]:
        md5[name] = md5_of(make_zip(zips / name, name[:-4], alphabets))
    root = tmp_path / "data"
    writer = run_python(
        """
        import json, sys, time, torch
        from lecture_utils.data import omniglot
        omniglot.OFFICIAL_MD5.update(json.loads(sys.argv[2]))

        def slow_save(obj, path):  # writes part of the file, then hangs until killed
            with open(path, "wb") as handle:
                handle.write(b"\\0" * 2_000_000)
                handle.flush()
            print("writing", flush=True)
            time.sleep(120)

        torch.save = slow_save
        omniglot.load_omniglot("small", image_size=20, data_dir=sys.argv[1])
        """,
        str(root),
        json.dumps(md5),
        env={omniglot.OMNIGLOT_DIR_ENV: str(zips)},
    )
    try:
        ready, _, _ = select.select([writer.stdout], [], [], 60)
        assert ready and writer.stdout.readline().strip() == "writing", writer.stderr.read()
        folder = root / "cache" / "omniglot"
        [partial] = [p for p in folder.iterdir() if p.name.endswith(".tmp")]
        assert partial.stat().st_size == 2_000_000
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    for name, value in md5.items():
        monkeypatch.setitem(omniglot.OFFICIAL_MD5, name, value)
    monkeypatch.setenv(omniglot.OMNIGLOT_DIR_ENV, str(zips))
    data = omniglot.load_omniglot("small", image_size=20, data_dir=root)
    assert data.images.shape == (3, 20, 20, 20)
    assert not partial.exists()
    assert temporaries(root) == []
    assert [p.name for p in folder.iterdir()] == [
        f"omniglot-small-20px-v{omniglot.CACHE_FORMAT}.pt"
    ]


# --------------------------------------------------------------------------------------------
# concurrent writers
# --------------------------------------------------------------------------------------------

CONCURRENT_WRITER = """
import sys, time, torch
from pathlib import Path
from lecture_utils.core import store
from lecture_utils.data import omniglot

ident, folder = int(sys.argv[1]), Path(sys.argv[2])
gen = torch.Generator().manual_seed(0)  # the same data in both processes
images = (torch.rand(64, 20, 28, 28, generator=gen) > 0.8).float()
names = [f"c{i}" for i in range(64)]
files = [[f"{n}/{d}" for d in range(20)] for n in names]
data = omniglot.OmniglotData(images, ["A"] * 64, names, files, "small")
key = {"format": omniglot.CACHE_FORMAT, "subset": "small", "image_size": 28, "md5": ["x"]}
checkpoint, cache = folder / "model.pt", folder / "cache.pt"
(folder / f"ready-{ident}").touch()
while not (folder / "go").exists():
    time.sleep(0.005)
for _ in range(10):
    store.save_checkpoint({"w": torch.full((300, 300), float(ident))}, checkpoint, meta={"k": 1})
    state, meta = store.read_checkpoint(checkpoint)
    assert meta == {"k": 1} and state["w"].unique().tolist() in ([0.0], [1.0]), state["w"]
    assert omniglot._save_cache(cache, data, key) == cache
    loaded = omniglot._load_cache(cache, "small", key)
    assert loaded is not None and torch.equal(loaded.images, images)
print("ok")
"""


def test_two_processes_writing_the_same_checkpoint_and_cache_never_fail(tmp_path):
    writers = [run_python(CONCURRENT_WRITER, str(i), str(tmp_path)) for i in range(2)]
    try:
        deadline = time.time() + 120
        while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
            assert time.time() < deadline and all(w.poll() is None for w in writers), [
                w.stderr.read() for w in writers if w.poll() is not None
            ]
            time.sleep(0.01)
        (tmp_path / "go").touch()  # both start writing at the same moment
        results = [w.communicate(timeout=120) for w in writers]
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
                w.wait()
    for writer, (out, err) in zip(writers, results, strict=True):
        assert writer.returncode == 0 and out.strip() == "ok", err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cache.pt", "go", "model.pt", "ready-0", "ready-1"
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------
# checkpoints that are damaged, tampered with or do not fit
# --------------------------------------------------------------------------------------------


def test_checkpoint_round_trip_with_metadata(tmp_path):
    path = store.save_checkpoint(small_model(0), tmp_path / "m.pt", meta={"chars": [3, 1, 2]})
    model = store.load_checkpoint(small_model(1), path, expected_meta={"chars": [3, 1, 2]})
    for a, b in zip(model.state_dict().values(), small_model(0).state_dict().values(), strict=True):
        assert torch.equal(a, b)
    torch.load(path, weights_only=True)  # tensors, strings and numbers only


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "Cannot read"),
        (lambda p: p.write_bytes(b"\0" * 100), "Cannot read"),
        (lambda p: p.write_bytes(pickle.dumps(Evil())), "Cannot read"),
        (lambda p: torch.save(small_model(2).state_dict(), p), "no checksum"),
        ("flip", "fails its checksum"),
    ],
    ids=["truncated", "zeros", "malicious-pickle", "plain-state-dict", "flipped-weight"],
)
def test_damaged_checkpoint_names_the_file_and_the_fix(tmp_path, damage, reason):
    path = store.save_checkpoint(small_model(0), tmp_path / "m.pt")
    if damage == "flip":
        payload = torch.load(path, weights_only=True)
        payload["state_dict"]["0.weight"][0, 0] += 1.0
        torch.save(payload, path)
    else:
        damage(path)
    model = small_model(1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=reason) as info:
        store.load_checkpoint(model, path)
    assert str(path) in str(info.value) and "Delete" in str(info.value)
    assert info.value.__cause__ is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_checkpoint_for_other_settings_or_another_model_is_refused(tmp_path):
    path = store.save_checkpoint(small_model(0), tmp_path / "m.pt", meta={"chars": [1, 2]})
    with pytest.raises(CheckpointError, match=r"other settings \(chars: stored \[1, 2\]"):
        store.load_checkpoint(small_model(), path, expected_meta={"chars": [1, 3]})
    other = nn.Sequential(nn.Linear(4, 5))
    with pytest.raises(CheckpointError, match="does not fit this Sequential"):
        store.load_checkpoint(other, path)
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        store.load_checkpoint(other, tmp_path / "missing.pt")


def test_damaged_cache_entry_is_retrained_with_a_warning(tmp_path):
    path = tmp_path / "cache" / "encoder.pt"
    calls: list[int] = []

    def train_into(model: nn.Module):
        def train() -> None:
            calls.append(1)
            with torch.no_grad():
                model[0].weight.fill_(0.5)

        return train

    model = small_model()
    model, cached = store.cached_module(model, path, train_into(model))
    assert cached is False and len(calls) == 1 and path.is_file()
    model = small_model()
    model, cached = store.cached_module(model, path, train_into(model), meta={})
    assert cached is True and len(calls) == 1 and bool((model[0].weight == 0.5).all())
    path.write_bytes(b"\x00garbage")  # e.g. a disk error: an OSError "Invalid argument" before
    model = small_model()
    with pytest.warns(CacheWarning, match=f"Ignoring the cached model {path}.*being retrained"):
        model, cached = store.cached_module(model, path, train_into(model))
    assert cached is False and len(calls) == 2
    assert store.load_checkpoint(small_model(), path)  # the retrained entry is valid again
    # Different settings under the same path: retrained too, not silently reused.
    model = small_model()
    with pytest.warns(CacheWarning, match="other settings"):
        _, cached = store.cached_module(model, path, train_into(model), meta={"epochs": 3})
    assert cached is False and len(calls) == 3


def test_cached_module_in_an_unwritable_folder_trains_and_warns(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    model = small_model()
    with pytest.warns(CacheWarning, match="is a file, not a folder"):
        model, cached = store.cached_module(model, blocker / "m.pt", lambda: None)
    assert cached is False and isinstance(model, nn.Sequential)


# --------------------------------------------------------------------------------------------
# Keys and folders
# --------------------------------------------------------------------------------------------


def test_cache_key_is_stable_and_sees_every_setting(monkeypatch):
    key = store.cache_key(chars=[5, 1, 2], epochs=3, lr=1e-3)
    assert key == store.cache_key(lr=1e-3, epochs=3, chars=[5, 1, 2])  # order of kwargs
    assert key == store.cache_key(chars=torch.tensor([5, 1, 2]), epochs=3, lr=1e-3)
    assert len(key) == 16 and int(key, 16) >= 0
    assert key != store.cache_key(chars=[5, 1, 3], epochs=3, lr=1e-3)
    assert key != store.cache_key(chars=[1, 2, 5], epochs=3, lr=1e-3)
    monkeypatch.setattr(store, "CODE_VERSION", store.CODE_VERSION + 1)
    assert key != store.cache_key(chars=[5, 1, 2], epochs=3, lr=1e-3)


def test_cache_dir_is_not_created_by_asking(tmp_path, monkeypatch):
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path))
    assert store.cache_dir("encoders") == tmp_path / "cache" / "encoders"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="plain folder name"):
        store.cache_dir("../escape")
