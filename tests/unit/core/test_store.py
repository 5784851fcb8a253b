"""core.store: atomic writes, stale temporaries, checked checkpoints and cached models.

The concurrency and kill tests start real processes (the venv's Python) and need no network.
"""

from __future__ import annotations

import errno
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


# --------------------------------------------------------------------------------------------
# Contracts found by mutation testing (make mutate-all); each names the mutants it kills
# (mutmut's names, lecture_utils.core.store.x_<function>__mutmut_<n>).
# --------------------------------------------------------------------------------------------


def test_default_data_dir_is_the_repository_data_folder_else_the_home_cache(tmp_path, monkeypatch):
    """default_data_dir 3-14: ``<repo>/data`` when it exists, else ``~/.cache/lecture_utils``."""
    monkeypatch.delenv(store.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(
        store, "__file__", str(tmp_path / "repo" / "lecture_utils" / "core" / "store.py")
    )
    assert store.default_data_dir() == tmp_path / "home" / ".cache" / "lecture_utils"
    (tmp_path / "repo" / "data").mkdir(parents=True)
    assert store.default_data_dir() == tmp_path / "repo" / "data"


@pytest.mark.parametrize("kind", ["", "a/b", "a\\b", ".hidden"])
def test_cache_dir_refuses_every_kind_of_non_plain_name(kind):
    """cache_dir 1-10: each of the four conditions refuses on its own."""
    with pytest.raises(ValueError, match="plain folder name"):
        store.cache_dir(kind, root="/r")
    assert store.cache_dir("a.b", root="/r") == Path("/r/cache/a.b")


def test_canonical_json_by_hand():
    """canonical_json 3, 7 (compact separators); _jsonable 1-10 (paths, sets, numpy, refusal)."""
    import numpy as np

    assert store.canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert store.canonical_json({"p": Path("x/y"), "s": {3, 1, 2}}) == '{"p":"x/y","s":[1,2,3]}'
    assert store.canonical_json({"n": np.array([1, 2]), "f": np.float64(0.5)}) == (
        '{"f":0.5,"n":[1,2]}'
    )
    with pytest.raises(TypeError, match=r"^cache_key cannot encode object value <object"):
        store.canonical_json({"o": object()})


def test_cache_key_by_hand():
    """cache_key 3, 4: the code version is hashed under the key ``code_version``."""
    import hashlib

    text = f'{{"code_version":{store.CODE_VERSION},"x":1}}'
    assert store.cache_key(x=1) == hashlib.sha256(text.encode()).hexdigest()[:16]


def test_tensor_checksum_by_hand():
    """tensor_checksum 13: names, dtype, shape, bytes, then ``|`` and each extra text."""
    import hashlib

    t = torch.tensor([1.0, 2.0])
    digest = hashlib.sha256(b"w|torch.float32|(2,)|" + t.numpy().tobytes() + b"|meta")
    assert store.tensor_checksum({"w": t}, "meta") == digest.hexdigest()


def test_atomic_write_gives_mode_644(tmp_path):
    """atomic_write 27: the file is readable by everyone, writable by its owner."""
    path = store.atomic_write(tmp_path / "f", lambda tmp: tmp.write_text("x"))
    assert path.stat().st_mode & 0o777 == 0o644


def test_staging_dir_name_marks_its_writer(tmp_path):
    """staging_dir 2-9: ``.<name>.<host>-<pid>.<random>.tmp`` inside ``parent``."""
    folder = store.staging_dir(tmp_path, "images")
    assert folder.parent == tmp_path and folder.is_dir()
    match = store._OWNED.match(folder.name)
    assert match and folder.name.startswith(".images.")
    assert match["host"] == store._HOST and int(match["pid"]) == os.getpid()


def test_remove_file_is_true_when_gone_false_when_it_cannot():
    """remove_file 1, 3 (a missing file is already gone) and 4 (a folder cannot be unlinked)."""
    assert store.remove_file("/nonexistent/never/there") is True
    assert store.remove_file(Path(__file__).parent) is False


def test_is_stale_at_exactly_the_age_limit():
    """_is_stale 12, 17: stale only when strictly older than the limit."""
    assert store._is_stale(None, 60.0, 60.0) is False
    assert store._is_stale(None, 60.5, 60.0) is True
    mine = store._OWNED.match(f".f.{store._HOST}-{os.getpid()}.abc.tmp")
    assert store._is_stale(mine, store.LIVE_WRITER_SECONDS, 1.0) is False
    assert store._is_stale(mine, store.LIVE_WRITER_SECONDS + 1, 1.0) is True


def test_pid_alive_when_it_cannot_be_checked(monkeypatch):
    """_pid_alive 11 (a process owned by someone else exists) and 4 (off POSIX every writer
    counts as alive: os.kill would end it)."""
    assert store._pid_alive(os.getpid()) is True

    def not_yours(pid, signal):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(store.os, "kill", not_yours)
    assert store._pid_alive(1) is True
    monkeypatch.setattr(store.os, "name", "nt")
    assert store._pid_alive(2**22 + 1) is True


def test_pid_alive_only_looks(tmp_path):
    """_pid_alive 9: checking a live writer must not signal it (os.kill(pid, 0) only looks;
    signal 1 would hang it up). The writer resets SIGHUP to its default, so the check holds
    even under nohup."""
    code = (
        "import signal, sys, time; signal.signal(signal.SIGHUP, signal.SIG_DFL); "
        "print('ready', flush=True); time.sleep(30)"
    )
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        assert store._pid_alive(writer.pid) is True
        time.sleep(0.2)
        assert writer.poll() is None, "the check ended the writer"
    finally:
        writer.kill()
        writer.wait()


def _age(path: Path, seconds: float = 3600.0) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old), follow_symlinks=False)


def test_remove_stale_folders_only_when_asked_and_only_temporaries(tmp_path):
    """remove_stale_temporaries 1 (folders=False by default), 24 (other folders are kept),
    49, 50 (a removed folder is reported)."""
    legacy = tmp_path / ".images.abcd1234"
    plain = tmp_path / "keep"
    for folder in (legacy, plain):
        folder.mkdir()
        (folder / "x").write_text("x")
        _age(folder)
    assert store.remove_stale_temporaries(tmp_path) == []
    assert store.remove_stale_temporaries(tmp_path, folders=True) == [legacy]
    assert plain.is_dir() and not legacy.exists()


def test_remove_stale_skips_a_folder_it_cannot_remove(tmp_path, monkeypatch):
    """remove_stale_temporaries 45, 47, 48: rmtree failures are ignored, never raised."""
    legacy = tmp_path / ".images.abcd1234"
    legacy.mkdir()
    _age(legacy)

    def failing_rmtree(path, ignore_errors=False):
        if not ignore_errors:
            raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(store.shutil, "rmtree", failing_rmtree)
    assert store.remove_stale_temporaries(tmp_path, folders=True) == []
    assert legacy.is_dir()


def test_remove_stale_ignores_symlinks_and_goes_on_past_them(tmp_path):
    """remove_stale_temporaries 17 (a symlink is not followed, so not removed) and 18 (an
    entry that is neither file nor folder is skipped, not the end of the scan)."""
    target = tmp_path / "target"
    target.write_text("x")
    link = tmp_path / "m.pt.tmp"  # a legacy checkpoint temporary's name
    link.symlink_to(target)
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing")
    stale = [tmp_path / f"c{i:02d}.pt.tmp" for i in range(20)]
    for path in stale:
        path.write_text("x")
        _age(path)
    _age(link)
    assert sorted(store.remove_stale_temporaries(tmp_path)) == stale
    assert link.is_symlink() and target.is_file()


def test_as_write_error_by_hand(tmp_path, monkeypatch):
    """as_write_error 6, 8 (a missing folder is measured at its parent), 13 (the first 120
    characters of torch's message), 14, 16 (ENOSPC only below 16 MiB free), 22-25 (EIO)."""
    long = "file write failed " + "x" * 200
    error = store.as_write_error(RuntimeError(long), tmp_path / "missing" / "deeper")
    assert error.errno == errno.EIO
    assert error.strerror == f"the write failed, perhaps a full disk (torch: {long[:120]})"
    usage = type("Usage", (), {"free": store._LOW_SPACE_BYTES})
    monkeypatch.setattr(store.shutil, "disk_usage", lambda path: usage)
    assert store.as_write_error(RuntimeError("unexpected pos 3"), tmp_path).errno == errno.EIO
    usage.free -= 1
    assert store.as_write_error(RuntimeError("unexpected pos 3"), tmp_path).errno == errno.ENOSPC


def test_write_error_reason_and_fix_by_hand(tmp_path):
    """write_error_reason 3, 4 (strerror, else the message); write_error_fix 3 (a permission
    problem asks for another folder, not for space)."""
    assert store.write_error_reason(tmp_path, OSError(errno.EACCES, "Permission denied")) == (
        "Permission denied"
    )
    assert store.write_error_reason(tmp_path, OSError("plain")) == "plain"
    assert store.write_error_fix(OSError(errno.EACCES, "x")) == (
        "Set $LECTURE_DATA_DIR to a folder you can write."
    )


# Under mutmut (make mutate-all) every function is called through a trampoline, one stack frame
# more: the stacklevel checks below only hold on the real code.
TRAMPOLINED = hasattr(store, "x_warn_once__mutmut_orig")


def _warn_from_here(key: str) -> None:
    store.warn_once(key, "once")


def test_warn_once_points_at_the_callers_caller():
    """warn_once 8, 9 (not under mutmut, see TRAMPOLINED): stacklevel=3 names the code that
    called the function that warns."""
    with pytest.warns(CacheWarning) as record:
        _warn_from_here(f"test-stacklevel-{time.time()}")
    assert TRAMPOLINED or record[0].filename == __file__


def test_load_checkpoint_mismatch_messages_by_hand(tmp_path):
    """load_checkpoint 12, 14 (an expected None is not a missing key), 18, 21, 22 (the
    settings message, cut at 300 characters)."""
    path = store.save_checkpoint(small_model(), tmp_path / "m.pt", meta={"a": 1, "b": "x"})
    fix = f"Delete {path} and train again (or pass a good checkpoint)."
    with pytest.raises(CheckpointError) as info:
        store.load_checkpoint(small_model(), path, expected_meta={"a": 2, "b": "y"})
    assert str(info.value) == (
        f"The checkpoint {path} was saved for other settings (a: stored 1, expected 2, "
        f"b: stored 'x', expected 'y'). {fix}"
    )
    with pytest.raises(CheckpointError, match="c: stored None, expected None"):
        store.load_checkpoint(small_model(), path, expected_meta={"c": None})
    shown = f"a: stored 1, expected {'z' * 400!r}"[:300]
    with pytest.raises(CheckpointError) as info:
        store.load_checkpoint(small_model(), path, expected_meta={"a": "z" * 400})
    assert str(info.value) == f"The checkpoint {path} was saved for other settings ({shown}). {fix}"


def test_load_checkpoint_refuses_each_kind_of_misfit_alone(tmp_path):
    """load_checkpoint 32, 33 (missing keys alone, extra keys alone, shapes alone), 36-40
    (at most three names of each, then the fix)."""
    path = store.save_checkpoint({f"k{i}": torch.zeros(1) for i in range(5)}, tmp_path / "m.pt")
    fix = f"Delete {path} and train again (or pass a good checkpoint)."

    class Params(nn.Module):
        def __init__(self, names: list[str], size: int = 1) -> None:
            super().__init__()
            for name in names:
                self.register_buffer(name, torch.zeros(size))

    with pytest.raises(CheckpointError) as info:  # five extra
        store.load_checkpoint(Params([]), path)
    assert str(info.value) == (
        f"The checkpoint {path} does not fit this Params (missing [], unexpected "
        f"['k0', 'k1', 'k2'], other shapes []). {fix}"
    )
    with pytest.raises(CheckpointError, match=r"missing \['k5', 'k6', 'k7'\], unexpected \[\]"):
        store.load_checkpoint(Params([f"k{i}" for i in range(9)]), path)
    with pytest.raises(CheckpointError, match=r"other shapes \['k0', 'k1', 'k2'\]\)"):
        store.load_checkpoint(Params([f"k{i}" for i in range(5)], size=2), path)


def test_read_checkpoint_refuses_pickled_objects(tmp_path):
    """read_checkpoint 15: loaded with weights_only=True, so a pickled object is refused
    before anything of it runs or is returned."""
    import datetime

    path = tmp_path / "m.pt"
    torch.save(
        {"state_dict": {}, "meta": "{}", "checksum": "", "when": datetime.date.today()}, path
    )
    with pytest.raises(CheckpointError, match="^Cannot read the checkpoint"):
        store.read_checkpoint(path)


@pytest.mark.parametrize("text", ["", "first line\nsecond", "y" * 300])
def test_read_checkpoint_unreadable_message_by_hand(tmp_path, monkeypatch, text):
    """read_checkpoint 17-26: the error's type and first line (empty allowed), cut at 200."""
    path = store.save_checkpoint(small_model(), tmp_path / "m.pt")

    def failing_load(*args, **kwargs):
        raise RuntimeError(text)

    monkeypatch.setattr(torch, "load", failing_load)
    reason = f"RuntimeError: {text.splitlines()[0] if text else ''}"[:200]
    with pytest.raises(CheckpointError) as info:
        store.read_checkpoint(path)
    assert str(info.value) == (
        f"Cannot read the checkpoint {path} ({reason}): the file is damaged or not a "
        f"checkpoint. Delete {path} and train again (or pass a good checkpoint)."
    )


def _save_payload(path: Path, **changes) -> Path:
    """A well-formed checkpoint payload of one tensor, with ``changes`` applied."""
    state = {"w": torch.ones(2)}
    payload = {
        "format": store.CHECKPOINT_FORMAT,
        "state_dict": state,
        "meta": "{}",
        "checksum": store.tensor_checksum(state, "{}"),
    }
    payload.update(changes)
    torch.save(payload, path)
    return path


def test_read_checkpoint_checks_each_field_alone(tmp_path):
    """read_checkpoint 35 (the three keys alone pass the first check), 37 and 63 (messages),
    44-46 (a wrong format, a non-string meta and a non-tensor value each fail alone)."""
    fix = "Delete {} and train again (or pass a good checkpoint)."
    good = _save_payload(tmp_path / "good.pt")
    assert store.read_checkpoint(good)[1] == {}
    no_format = _save_payload(tmp_path / "a.pt")
    payload = torch.load(no_format, weights_only=True)
    del payload["format"]
    torch.save(payload, no_format)
    with pytest.raises(CheckpointError) as info:
        store.read_checkpoint(no_format)
    assert str(info.value) == (
        f"The checkpoint {no_format} fails its checksum (its contents were changed or damaged "
        f"after it was written). {fix.format(no_format)}"
    )
    cases = {
        "format.pt": {"format": store.CHECKPOINT_FORMAT + 1},
        "meta.pt": {"meta": {"a": 1}},
        "value.pt": {"state_dict": {"w": [1.0, 1.0]}},
    }
    for name, change in cases.items():
        with pytest.raises(CheckpointError, match="fails its checksum"):
            store.read_checkpoint(_save_payload(tmp_path / name, **change))
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.ones(1)}, plain)
    with pytest.raises(CheckpointError) as info:
        store.read_checkpoint(plain)
    assert str(info.value) == (
        f"{plain} is not a checkpoint written by lecture_utils.core.store.save_checkpoint (no "
        f"checksum; perhaps an older version wrote it). {fix.format(plain)}"
    )


def test_cached_module_stores_its_settings(tmp_path):
    """cached_module 36: the entry is saved with ``meta``, so it is found again."""
    path = tmp_path / "m.pt"
    store.cached_module(small_model(), path, lambda: None, meta={"epochs": 3})
    assert store.read_checkpoint(path)[1] == {"epochs": 3}
    _, cached = store.cached_module(small_model(), path, lambda: None, meta={"epochs": 3})
    assert cached is True


@pytest.mark.parametrize("deleted", [True, False])
def test_cached_module_damaged_entry_warning_by_hand(tmp_path, monkeypatch, deleted):
    """cached_module 11-18, 27-31: the exact warning; at the caller's line (24, 33: not under
    mutmut, see TRAMPOLINED)."""
    path = _save_payload(tmp_path / "m.pt", checksum="0")
    if not deleted:
        monkeypatch.setattr(store, "remove_file", lambda p: False)
    gone = "it was deleted" if deleted else "it could not be deleted"
    with pytest.warns(CacheWarning) as record:
        store.cached_module(small_model(), path, lambda: None)
    assert str(record[0].message) == (
        f"Ignoring the cached model {path}: The checkpoint {path} fails its checksum (its "
        f"contents were changed or damaged after it was written); {gone} and the model is "
        "being retrained."
    )
    assert TRAMPOLINED or record[0].filename == __file__


def test_cached_module_unwritable_folder_warning_by_hand(tmp_path):
    """cached_module 41, 42, 52, 53: the warning names the model checkpoint and the way out."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.warns(CacheWarning) as record:
        store.cached_module(small_model(), blocker / "m.pt", lambda: None)
    message = str(record[0].message)
    assert message.startswith(f"Could not write the model checkpoint to {blocker} (")
    assert message.endswith("Choose another folder with $LECTURE_DATA_DIR, or pass no cache path.")
