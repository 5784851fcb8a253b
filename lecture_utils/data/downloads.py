"""Official Omniglot files: found in ``$OMNIGLOT_DIR`` or the download cache, else downloaded.

Every file is md5-checked before use. A wrong file in the download cache is moved aside to
``<name>.rejected-<time>`` (never deleted) before a fresh download, and every error names the
paths that were checked and why they were rejected. Downloads are written through
:func:`lecture_utils.core.store.atomic_write`. :mod:`lecture_utils.data.omniglot` re-exports
all of this.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

from lecture_utils.core.store import (
    DATA_DIR_ENV,
    DISK_ERRNOS,
    FULL_ERRNOS,
    atomic_write,
    default_data_dir,
    write_error_fix,
    write_error_reason,
)

BASE_URL = "https://raw.githubusercontent.com/brendenlake/omniglot/master/python"
OMNIGLOT_DIR_ENV = "OMNIGLOT_DIR"

OFFICIAL_MD5 = {
    "images_background.zip": "68d2efa1b9178cc56df9314c21c6e718",
    "images_evaluation.zip": "6b91aef0f799c5bb55b94e3f2daec811",
    "images_background_small1.zip": "e704a628b5459e08445c13499850abc4",
    "images_background_small2.zip": "b75a71a51d3b13f821f212756fe481fd",
}


class OmniglotDataError(RuntimeError):
    """Base class for every data problem this module reports."""


class DataUnavailableError(OmniglotDataError):
    """A file is neither on disk nor downloadable (e.g. offline)."""


class CorruptDataError(OmniglotDataError):
    """A file failed its checksum, is not a zip, or does not have the official layout."""


class DataWarning(UserWarning):
    """A data file was set aside or replaced; the load went on."""


# --------------------------------------------------------------------------------------------
# Locating and downloading the official zips
# --------------------------------------------------------------------------------------------


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    """Hex md5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _describe_bad_file(path: Path, expected: str, actual: str) -> str:
    with open(path, "rb") as handle:
        head = handle.read(64).lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<")):
        kind = "it is an HTML page, not a zip (a proxy or login page saved under the zip's name?)"
    elif not zipfile.is_zipfile(path):
        kind = "it is not a complete zip (truncated or interrupted download?)"
    else:
        kind = "its contents differ from the official file"
    return f"{path.name}: md5 {actual} does not match the official {expected}; {kind}"


def fetch(
    filename: str,
    *,
    data_dir: Path | None = None,
    base_url: str = BASE_URL,
    expected_md5: str | None = None,
    timeout: float = 30.0,
    opener: Callable[..., object] = urllib.request.urlopen,
) -> Path:
    """Return a verified local path to an official Omniglot file, downloading it if needed.

    Looks in ``$OMNIGLOT_DIR`` first, then ``data_dir`` (the download cache), then downloads
    ``base_url/filename`` with a timeout and a progress bar into a temporary file, checks its
    md5 and only then renames it into place. ``expected_md5`` defaults to the official table.
    A wrong file in the download cache is moved aside to ``<name>.rejected-<time>`` first; every
    error says which paths were checked and why they were rejected.
    """
    md5 = expected_md5 or OFFICIAL_MD5.get(filename)
    if md5 is None:
        known = ", ".join(sorted(OFFICIAL_MD5))
        raise ValueError(f"Unknown Omniglot file {filename!r}: pass expected_md5 or use {known}.")
    notes: list[str] = []
    found = _from_env_dir(filename, md5, base_url, notes)
    if found is not None:
        return found
    cache = Path(data_dir) if data_dir is not None else default_data_dir()
    target = cache / filename
    if target.is_file():
        actual = md5sum(target)
        if actual == md5:
            return target
        reason = _describe_bad_file(target, md5, actual).split(": ", 1)[1]
        notes.append(f"{target} was rejected: {reason}; {_move_aside(target)}")
    elif target.is_symlink():
        notes.append(f"{target} is a broken symlink (to {os.readlink(target)}).")
    path = _download(filename, cache, base_url, md5, timeout, opener, notes)
    problems = [note for note in notes if "rejected" in note or "broken symlink" in note]
    if problems:  # a file merely absent from $OMNIGLOT_DIR is not worth a warning
        message = " ".join(problems) + f" A verified copy was downloaded to {path}."
        warnings.warn(message, DataWarning, stacklevel=2)
    return path


def _from_env_dir(filename: str, md5: str, base_url: str, notes: list[str]) -> Path | None:
    """The file in ``$OMNIGLOT_DIR`` if it is there and correct; else note why not."""
    env_dir = os.environ.get(OMNIGLOT_DIR_ENV)
    if not env_dir:
        return None
    folder = Path(env_dir).expanduser()
    candidate = folder / filename
    if candidate.is_file():
        actual = md5sum(candidate)
        if actual != md5:
            # Not our folder: report, never move or delete.
            raise CorruptDataError(
                _describe_bad_file(candidate, md5, actual)
                + f". It is {candidate} (from ${OMNIGLOT_DIR_ENV}); replace it with the official "
                f"file from {base_url}/{filename}, or unset ${OMNIGLOT_DIR_ENV}."
            )
        return candidate
    if not folder.is_dir():
        why = "that folder does not exist" if not folder.exists() else "that is not a folder"
    elif candidate.is_symlink():
        why = f"{candidate} is a broken symlink (to {os.readlink(candidate)})"
    elif candidate.exists():
        why = f"{candidate} is not a regular file"
    else:
        why = f"it holds no {filename}"
    notes.append(f"${OMNIGLOT_DIR_ENV} is set to {env_dir}, but {why}.")
    return None


def _move_aside(path: Path) -> str:
    """Rename a rejected file to ``<name>.rejected-<time>``; say where it went."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.rejected-{stamp}")
    counter = 1
    while aside.exists():
        counter += 1
        aside = path.with_name(f"{path.name}.rejected-{stamp}-{counter}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        return f"it could not be moved aside ({exc.strerror or exc}) and was left in place."
    return f"it was moved aside to {aside}."


def _download(
    filename: str,
    cache: Path,
    base_url: str,
    md5: str,
    timeout: float,
    opener: Callable[..., object],
    notes: list[str],
) -> Path:
    url = f"{base_url}/{filename}"
    env_set = bool(os.environ.get(OMNIGLOT_DIR_ENV))
    hint = (
        f"put the official file in ${OMNIGLOT_DIR_ENV}"
        if env_set
        else f"download it by hand and set ${OMNIGLOT_DIR_ENV} to the folder that holds it"
    )
    context = "".join(f" {note}" for note in notes)

    def write(tmp: Path) -> None:
        from tqdm.auto import tqdm

        with open(tmp, "wb") as out:
            try:
                response = opener(url, timeout=timeout)
                with response:  # type: ignore[attr-defined]
                    total = int(response.headers.get("Content-Length") or 0) or None  # type: ignore[attr-defined]
                    with tqdm(total=total, unit="B", unit_scale=True, desc=filename) as bar:
                        while block := response.read(1 << 16):  # type: ignore[attr-defined]
                            out.write(block)
                            bar.update(len(block))
            except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
                if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
                    raise  # the disk, not the network: reported below as a write failure
                reason = getattr(exc, "reason", exc)
                raise DataUnavailableError(
                    f"Omniglot file {filename} is missing and could not be downloaded from {url} "
                    f"({reason}).{context} Go online, or {hint}."
                ) from None
        actual = md5sum(tmp)
        if actual != md5:
            message = _describe_bad_file(tmp, md5, actual).replace(tmp.name, filename, 1)
            raise CorruptDataError(f"{message}. The download from {url} was discarded; try again.")

    try:
        return atomic_write(cache / filename, write)
    except OmniglotDataError:
        raise
    except OSError as exc:
        if exc.errno in FULL_ERRNOS:
            raise DataUnavailableError(
                f"Cannot save the download of {filename} in the data folder {cache}: the disk "
                f"is full ({write_error_reason(cache, exc)}); the partial file was removed."
                f"{context} {write_error_fix(exc)} (or pass data_dir=...), or {hint}."
            ) from None
        raise DataUnavailableError(
            f"Cannot save the download of {filename} in the data folder {cache} "
            f"({write_error_reason(cache, exc)}).{context} Choose a writable folder with "
            f"${DATA_DIR_ENV} (or data_dir=...), or {hint}."
        ) from None
