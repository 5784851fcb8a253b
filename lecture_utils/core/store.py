"""Every file the project writes goes through here: atomic writes, checked checkpoints, caches.

* :func:`atomic_write` writes to a unique temporary file in the target's folder, flushes it to
  disk and renames it into place with ``os.replace``: readers see the old file or the new one,
  never half of one, and any number of processes may write the same path at once.
* :func:`save_checkpoint` / :func:`load_checkpoint` store a ``state_dict`` with its metadata
  and a checksum, and load it with ``torch.load(weights_only=True)`` (no pickled code). A
  damaged or mismatching file raises :class:`CheckpointError`, naming the file and the fix.
* :func:`cached_module` loads a model from the cache or trains it; a damaged entry is retrained
  (with a warning), and a cache folder that cannot be written only costs a warning.
* :func:`remove_stale_temporaries` deletes what interrupted writes left behind.

Caches live in ``cache_dir(kind)`` = ``default_data_dir()/cache/<kind>``; :func:`cache_key`
turns the settings of a cached result into a short stable name.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

# Bump when a cached result would change for the same settings (it is part of every key).
CODE_VERSION = 1
CHECKPOINT_FORMAT = 1
DATA_DIR_ENV = "LECTURE_DATA_DIR"
# A temporary file (or half-extracted folder) older than this is removed when its writer cannot
# be identified (older names, another machine); one whose writer on this machine has exited is
# removed at once, and one whose writer is still running is kept up to LIVE_WRITER_SECONDS.
STALE_SECONDS = 60.0
LIVE_WRITER_SECONDS = 24 * 3600.0

ModuleT = TypeVar("ModuleT", bound=nn.Module)


class CheckpointError(RuntimeError):
    """A checkpoint is damaged, unreadable, or does not match what it is loaded for."""


class CacheWarning(UserWarning):
    """A cache entry was ignored, or a cache could not be written (the result is still used)."""


# --------------------------------------------------------------------------------------------
# Folders and keys
# --------------------------------------------------------------------------------------------


def default_data_dir() -> Path:
    """The download cache: ``$LECTURE_DATA_DIR``, else the repository's ``data/`` folder."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    repo_data = Path(__file__).resolve().parents[2] / "data"
    if repo_data.is_dir():
        return repo_data
    return Path.home() / ".cache" / "lecture_utils"


def cache_dir(kind: str, *, root: str | Path | None = None) -> Path:
    """``<root>/cache/<kind>`` (``root`` defaults to :func:`default_data_dir`); not created."""
    if not kind or "/" in kind or "\\" in kind or kind.startswith("."):
        raise ValueError(f"cache kind must be a plain folder name, got {kind!r}.")
    base = Path(root).expanduser() if root is not None else default_data_dir()
    return base / "cache" / kind


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"cache_key cannot encode {type(value).__name__} value {value!r}.")


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: equal settings always give the same string."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)


def cache_key(**parts: Any) -> str:
    """A 16-hex-digit hash of ``parts`` and :data:`CODE_VERSION`.

    Values are encoded verbatim (lists of character indices included), so any difference in
    the settings gives a different key.
    """
    text = canonical_json({"code_version": CODE_VERSION, **parts})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tensor_checksum(tensors: Mapping[str, torch.Tensor], *extra: str) -> str:
    """sha256 over the names, dtypes, shapes and bytes of ``tensors``, and the ``extra`` text."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    for text in extra:
        digest.update(b"|" + text.encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Atomic writes and stale temporaries
# --------------------------------------------------------------------------------------------

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
# .<name>.<host>-<pid>.<random>.tmp (atomic_write), plus what older versions left behind:
# .<name>.<random> (the data cache), .<name>.<random>.part (downloads), <name>.tmp (checkpoints).
_OWNED = re.compile(r"^\..+\.(?P<host>[0-9a-f]{6})-(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")
_LEGACY = re.compile(r"^(\..+\.pt\.[a-z0-9_]{8}|\..+\.zip\.[a-z0-9_]{8}\.part|[^.].*\.pt\.tmp)$")
# Folders: .<name>.<host>-<pid>.<random>.tmp (staging_dir), or .<name>.<random> (older extraction).
_LEGACY_DIR = re.compile(r"^\.[^.].*\.[a-z0-9_]{8}$")


def _fsync(path: Path, directory: bool = False) -> None:
    """Flush ``path`` to disk where the platform allows it (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_file(path: str | Path) -> bool:
    """Delete a file, never raising (a read-only folder just keeps it); True if it is gone."""
    try:
        Path(path).unlink(missing_ok=True)
    except OSError:
        return False
    return True


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a unique temporary file, then rename.

    The temporary file (``.<name>.<host>-<pid>.<random>.tmp``) is in the same folder, so the
    final ``os.replace`` is atomic; it is removed if anything fails. Creates the parent folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        _fsync(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        remove_file(tmp)
    _fsync(path.parent, directory=True)
    return path


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, owned by someone else
        return True
    return True


def staging_dir(parent: str | Path, name: str) -> Path:
    """A new empty folder ``.<name>.<host>-<pid>.<random>.tmp`` in ``parent`` to fill and then
    rename into place; :func:`remove_stale_temporaries` removes it if its writer dies."""
    return Path(
        tempfile.mkdtemp(prefix=f".{name}.{_HOST}-{os.getpid()}.", suffix=".tmp", dir=parent)
    )


def _is_stale(owned: re.Match | None, age: float, max_age_seconds: float) -> bool:
    if owned is not None and owned["host"] == _HOST:
        if not _pid_alive(int(owned["pid"])):
            return True  # its writer has exited: nothing will ever finish it
        return age > max(max_age_seconds, LIVE_WRITER_SECONDS)  # a running writer keeps it
    return age > max_age_seconds


def remove_stale_temporaries(
    folder: str | Path, max_age_seconds: float = STALE_SECONDS, *, folders: bool = False
) -> list[Path]:
    """Delete what interrupted writes left in ``folder``; return the paths removed.

    A temporary file of :func:`atomic_write` is stale once its writer (a process on this
    machine) has exited; names left by older versions of this project, or by another machine,
    are stale when older than ``max_age_seconds``. ``folders=True`` also removes half-extracted
    folders (:func:`staging_dir`, and the older ``.<name>.<random>``) by the same rules.
    Whatever cannot be removed is skipped.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        owned = _OWNED.match(entry.name)
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            if not (is_dir or entry.is_file(follow_symlinks=False)):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if is_dir:
            if not folders or not (owned or _LEGACY_DIR.match(entry.name)):
                continue
        elif not (owned or _LEGACY.match(entry.name)):
            continue
        if not _is_stale(owned, age, max_age_seconds):
            continue
        path = Path(entry.path)
        if is_dir:
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(path)
        elif remove_file(path):
            removed.append(path)
    return removed


# errno values that mean "this disk or folder cannot take the file", not "the code is wrong".
_DISK_NAMES = ("ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EACCES", "EPERM", "EIO")
DISK_ERRNOS = frozenset(getattr(errno, name) for name in _DISK_NAMES if hasattr(errno, name))
FULL_ERRNOS = frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT") if hasattr(errno, n))
# How torch.save reports a failed write (it wraps the OSError in a RuntimeError).
_TORCH_WRITE_FAILURE = re.compile(r"unexpected pos|file write failed|PytorchStreamWriter failed")
_LOW_SPACE_BYTES = 16 * 2**20


def as_write_error(exc: BaseException, folder: Path) -> OSError | None:
    """``exc`` as an ``OSError`` if it means that writing into ``folder`` failed, else None.

    torch's ``RuntimeError`` ("unexpected pos ...", "file write failed") is turned into an
    ``OSError`` with ``ENOSPC`` when the disk has (almost) no free space left, ``EIO`` otherwise.
    """
    if isinstance(exc, OSError):
        return exc
    if not (isinstance(exc, RuntimeError) and _TORCH_WRITE_FAILURE.search(str(exc))):
        return None
    free = None
    for parent in (folder, *folder.parents):
        with contextlib.suppress(OSError):
            free = shutil.disk_usage(parent).free
            break
    first = str(exc).strip().splitlines()[0][:120]
    if free is not None and free < _LOW_SPACE_BYTES:
        return OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (torch: {first})")
    return OSError(errno.EIO, f"the write failed, perhaps a full disk (torch: {first})")


def write_error_reason(folder: Path, exc: OSError) -> str:
    """Why ``folder`` could not be written, e.g. "/x/data is a file, not a folder"."""
    for parent in (folder, *folder.parents):
        if parent.exists() and not parent.is_dir():
            return f"{parent} is a file, not a folder"
    return exc.strerror or str(exc)


def write_error_fix(exc: OSError) -> str:
    """What to do about a failed write: free space for a full disk, else another folder."""
    if exc.errno in FULL_ERRNOS or exc.errno == errno.EIO:
        return f"Free some space on that disk, or set ${DATA_DIR_ENV} to a folder on another disk."
    return f"Set ${DATA_DIR_ENV} to a folder you can write."


_warned: set[str] = set()


def warn_once(key: str, message: str, category: type[Warning] = CacheWarning) -> None:
    """``warnings.warn(message)`` the first time ``key`` is seen in this process."""
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, category, stacklevel=3)


def atomic_write_or_warn(
    path: str | Path, write: Callable[[Path], None], *, what: str, hint: str
) -> Path | None:
    """:func:`atomic_write`, but a folder that cannot be written only warns (once per folder).

    For caches: the result is still returned to the caller, only not kept. ``what`` names the
    cached thing, ``hint`` says how to choose another folder or turn the cache off.
    """
    path = Path(path)
    try:
        return atomic_write(path, write)
    except (OSError, RuntimeError) as exc:
        error = as_write_error(exc, path.parent)
        if error is None:
            raise
        reason = write_error_reason(path.parent, error)
        warn_once(
            f"unwritable:{path.parent}",
            f"Could not write the {what} to {path.parent} ({reason}); the result is used but "
            f"not kept, so it will be computed again next time. {write_error_fix(error)} "
            f"{hint}",
        )
        return None


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def _fix(path: Path) -> str:
    return f"Delete {path} and train again (or pass a good checkpoint)."


def _checkpoint_payload(
    module_or_state_dict: nn.Module | Mapping[str, torch.Tensor], meta: dict[str, Any] | None
) -> dict[str, Any]:
    if isinstance(module_or_state_dict, nn.Module):
        module_or_state_dict = module_or_state_dict.state_dict()
    state = {name: t.detach().cpu().clone() for name, t in module_or_state_dict.items()}
    meta_json = canonical_json(meta or {})
    return {
        "format": CHECKPOINT_FORMAT,
        "state_dict": state,
        "meta": meta_json,
        "checksum": tensor_checksum(state, meta_json),
    }


def save_checkpoint(
    module_or_state_dict: nn.Module | Mapping[str, torch.Tensor],
    path: str | Path,
    *,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Atomically save ``{"state_dict", "meta", "checksum"}`` (tensors and JSON only).

    A write that fails (full disk, read-only folder) leaves no file behind and raises an
    ``OSError`` naming the folder and the fix (never torch's bare "unexpected pos" error).
    """
    path = Path(path)
    payload = _checkpoint_payload(module_or_state_dict, meta)
    remove_stale_temporaries(path.parent)
    try:
        return atomic_write(path, lambda tmp: torch.save(payload, tmp))
    except (OSError, RuntimeError) as exc:
        error = as_write_error(exc, path.parent)
        if error is None:
            raise
        reason = write_error_reason(path.parent, error)
        raise OSError(
            error.errno,
            f"Could not save the checkpoint {path} ({reason}); nothing was written and the "
            f"model in memory is unchanged. {write_error_fix(error)}",
        ) from None


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, meta)`` of a :func:`save_checkpoint` file, checksum verified.

    Raises ``FileNotFoundError`` when there is no file and :class:`CheckpointError` when it is
    damaged, not a checkpoint of this project, or fails its checksum.
    """
    path = Path(path)
    remove_stale_temporaries(path.parent)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; train the model and save it first.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        raise CheckpointError(
            f"Cannot read the checkpoint {path} ({reason[:200]}): the file is damaged or not "
            f"a checkpoint. {_fix(path)}"
        ) from None
    if not (isinstance(payload, dict) and {"state_dict", "meta", "checksum"} <= payload.keys()):
        raise CheckpointError(
            f"{path} is not a checkpoint written by lecture_utils.core.store.save_checkpoint (no "
            f"checksum; perhaps an older version wrote it). {_fix(path)}"
        )
    state, meta_json = payload["state_dict"], payload["meta"]
    if (
        payload.get("format") != CHECKPOINT_FORMAT
        or not isinstance(meta_json, str)
        or not isinstance(state, dict)
        or not all(isinstance(t, torch.Tensor) for t in state.values())
        or tensor_checksum(state, meta_json) != payload["checksum"]
    ):
        raise CheckpointError(
            f"The checkpoint {path} fails its checksum (its contents were changed or damaged "
            f"after it was written). {_fix(path)}"
        )
    return state, json.loads(meta_json)


def load_checkpoint(
    module: ModuleT, path: str | Path, *, expected_meta: dict[str, Any] | None = None
) -> ModuleT:
    """Load a :func:`save_checkpoint` file into ``module`` and return it.

    Every key of ``expected_meta`` must equal the stored metadata. The module is only changed
    when the file is intact and fits it exactly; otherwise :class:`CheckpointError` names the
    file and the fix (``FileNotFoundError`` when there is no file).
    """
    path = Path(path)
    state, meta = read_checkpoint(path)
    wanted = json.loads(canonical_json(expected_meta or {}))
    differ = [k for k in sorted(wanted) if meta.get(k, object()) != wanted[k]]
    if differ:
        shown = ", ".join(f"{k}: stored {meta.get(k)!r}, expected {wanted[k]!r}" for k in differ)
        raise CheckpointError(
            f"The checkpoint {path} was saved for other settings ({shown[:300]}). {_fix(path)}"
        )
    own = module.state_dict()
    missing, extra = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
    shapes = [k for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    if missing or extra or shapes:
        raise CheckpointError(
            f"The checkpoint {path} does not fit this {type(module).__name__} (missing "
            f"{missing[:3]}, unexpected {extra[:3]}, other shapes {sorted(shapes)[:3]}). "
            f"{_fix(path)}"
        )
    module.load_state_dict(state)
    return module


def cached_module(
    module: ModuleT,
    path: str | Path,
    train: Callable[[], object],
    *,
    meta: dict[str, Any] | None = None,
) -> tuple[ModuleT, bool]:
    """Load ``module`` from the checkpoint ``path``, or ``train()`` it and save it there.

    Returns ``(module, loaded_from_cache)``. A damaged or mismatching entry is deleted with a
    warning saying that the model is retrained; a folder that cannot be written only warns.
    """
    path = Path(path)
    remove_stale_temporaries(path.parent)
    if path.is_file():
        try:
            return load_checkpoint(module, path, expected_meta=meta), True
        except CheckpointError as exc:
            gone = "it was deleted" if remove_file(path) else "it could not be deleted"
            warnings.warn(
                f"Ignoring the cached model {path}: {str(exc).split('. Delete')[0]}; {gone} "
                "and the model is being retrained.",
                CacheWarning,
                stacklevel=2,
            )
    train()
    payload = _checkpoint_payload(module, meta)
    atomic_write_or_warn(
        path,
        lambda tmp: torch.save(payload, tmp),
        what="model checkpoint",
        hint=f"Choose another folder with ${DATA_DIR_ENV}, or pass no cache path.",
    )
    return module, False
