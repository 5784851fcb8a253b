"""Real Omniglot, fetched, verified and decoded once into an in-memory tensor.

Where a zip comes from, in this order:

1. ``$OMNIGLOT_DIR``: a folder holding official zips you already downloaded (CI points it at
   ``../shared/data/omniglot``);
2. the download cache, the repository's ``data/`` folder (``$LECTURE_DATA_DIR`` overrides it);
3. a download from the official repository, md5-checked before it is kept.

Finding and downloading the zips is :mod:`lecture_utils.data.downloads` (re-exported here).

``load_omniglot()`` decodes every PNG once into a ``[characters, 20 drawers, S, S]`` float tensor
(ink = 1, background = 0) and caches it under ``data/cache/omniglot/`` as a tensor file that
loads with ``torch.load(weights_only=True)``: no pickled Python objects. The cache stores a
checksum and the settings it was made for, and is rebuilt when either does not match; a folder
that cannot be written only costs a warning. All writes go through :mod:`lecture_utils.core.store`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from lecture_utils.core.store import (
    DATA_DIR_ENV,
    CacheWarning,
    atomic_write_or_warn,
    cache_dir,
    canonical_json,
    remove_file,
    remove_stale_temporaries,
    staging_dir,
    tensor_checksum,
    warn_once,
)
from lecture_utils.core.store import default_data_dir as default_data_dir
from lecture_utils.data.downloads import BASE_URL as BASE_URL
from lecture_utils.data.downloads import OFFICIAL_MD5, CorruptDataError, fetch
from lecture_utils.data.downloads import OMNIGLOT_DIR_ENV as OMNIGLOT_DIR_ENV
from lecture_utils.data.downloads import DataUnavailableError as DataUnavailableError
from lecture_utils.data.downloads import DataWarning as DataWarning
from lecture_utils.data.downloads import OmniglotDataError as OmniglotDataError
from lecture_utils.data.downloads import md5sum as md5sum

DRAWERS = 20
ORIGINAL_SIZE = 105
CACHE_FORMAT = 2

SUBSETS = {
    # The notebooks' default: 8 alphabets, 242 characters, a 2.9 MB download.
    "small": ("images_background_small1.zip", "images_background_small2.zip"),
    "background": ("images_background.zip",),
    "evaluation": ("images_evaluation.zip",),
    # The standard 1623-character Omniglot: 30 background + 20 evaluation alphabets.
    "full": ("images_background.zip", "images_evaluation.zip"),
}

# Characters decoded from each official file set (keyed by md5s): a cache must hold exactly these.
KNOWN_CHARACTERS = {
    ("e704a628b5459e08445c13499850abc4", "b75a71a51d3b13f821f212756fe481fd"): 242,
    ("68d2efa1b9178cc56df9314c21c6e718",): 964,
    ("6b91aef0f799c5bb55b94e3f2daec811",): 659,
    ("68d2efa1b9178cc56df9314c21c6e718", "6b91aef0f799c5bb55b94e3f2daec811"): 1623,
}


# --------------------------------------------------------------------------------------------
# Safe zip reading and extraction
# --------------------------------------------------------------------------------------------


def _check_member(name: str) -> PurePosixPath:
    """Reject absolute member paths and paths that climb out of the target folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise CorruptDataError(
            f"Refusing zip member {name!r}: its path escapes the target folder. "
            "The zip is not an official Omniglot file; delete it and download it again."
        )
    return path


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise CorruptDataError(
            f"{path.name} is not a readable zip (truncated or not a zip). Delete it and fetch it "
            "again."
        ) from None
    for info in archive.infolist():
        _check_member(info.filename)
    return archive


def extract_zip(zip_path: Path, dest_root: Path) -> Path:
    """Extract ``zip_path`` under ``dest_root`` safely and atomically; return the top folder.

    Every member path is checked before anything is written; extraction goes to a temporary
    folder that is renamed into place only when complete, so a failure leaves nothing behind.
    An existing complete extraction is reused. Half-extracted folders of killed extractions
    (their process has exited, or they are older than ``store.STALE_SECONDS``) are removed.
    """
    zip_path, dest_root = Path(zip_path), Path(dest_root)
    dest_root.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dest_root, folders=True)
    final = dest_root / zip_path.stem
    if final.is_dir():
        return final
    with _open_zip(zip_path) as archive:
        staging = staging_dir(dest_root, zip_path.stem)
        try:
            try:
                archive.extractall(staging)
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                raise CorruptDataError(
                    f"{zip_path.name} could not be extracted ({exc}); delete it and fetch it again."
                ) from None
            top = staging / zip_path.stem
            os.replace(top if top.is_dir() else staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final


# --------------------------------------------------------------------------------------------
# Decoding into a tensor
# --------------------------------------------------------------------------------------------


@dataclass
class OmniglotData:
    """Decoded Omniglot: ``images[c, d]`` is drawer ``d`` of character ``c`` (ink = 1).

    ``alphabets[c]`` and ``characters[c]`` name character ``c``; ``files[c][d]`` is the path
    of its PNG inside the official zip; ``subset`` says which zips it came from.
    """

    images: torch.Tensor
    alphabets: list[str]
    characters: list[str]
    files: list[list[str]]
    subset: str

    @property
    def num_characters(self) -> int:
        """C: the classes (characters) in this subset."""
        return self.images.shape[0]

    @property
    def num_drawers(self) -> int:
        """20: every character was drawn once by each of 20 people."""
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        """S: the side of every decoded image, in pixels."""
        return self.images.shape[-1]

    @property
    def alphabet_names(self) -> list[str]:
        """Alphabets in the order their characters appear (alphabetical)."""
        return list(dict.fromkeys(self.alphabets))

    def character_indices(self, alphabet: str) -> list[int]:
        """Indices of the characters of one alphabet."""
        indices = [c for c, name in enumerate(self.alphabets) if name == alphabet]
        if not indices:
            raise KeyError(f"No alphabet {alphabet!r}; choose from {self.alphabet_names}.")
        return indices

    def label(self, c: int) -> str:
        """``'Alphabet/characterNN'`` for character index ``c``."""
        return f"{self.alphabets[c]}/{self.characters[c]}"

    def describe(self, c: int, d: int) -> dict[str, object]:
        """Metadata of one image: alphabet, character, drawer (1-20) and source file."""
        return {
            "alphabet": self.alphabets[c],
            "character": self.characters[c],
            "drawer": d + 1,
            "file": self.files[c][d],
        }

    def __repr__(self) -> str:
        return (
            f"OmniglotData(subset={self.subset!r}, alphabets={len(self.alphabet_names)}, "
            f"characters={self.num_characters}, drawers={self.num_drawers}, "
            f"image_size={self.image_size})"
        )


def _decode_png(raw: bytes, size: int) -> np.ndarray:
    image = Image.open(io.BytesIO(raw)).convert("L")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BOX)
    return 255 - np.asarray(image, dtype=np.uint8)  # ink = 255 before scaling to 1


def _index_characters(archive: zipfile.ZipFile, zip_name: str) -> dict[tuple[str, str], list[str]]:
    """Map (alphabet, character) to its sorted PNG members, checking the official layout."""
    found: dict[tuple[str, str], list[str]] = {}
    for info in archive.infolist():
        path = _check_member(info.filename)
        if info.is_dir() or path.suffix.lower() != ".png":
            continue
        if len(path.parts) != 4:
            raise CorruptDataError(
                f"{zip_name}: member {info.filename!r} is not <set>/<alphabet>/<character>/"
                "<file>.png, the official Omniglot layout."
            )
        _, alphabet, character, _ = path.parts
        found.setdefault((alphabet, character), []).append(info.filename)
    if not found:
        raise CorruptDataError(f"{zip_name} holds no PNG images; it is not an Omniglot zip.")
    for key, members in found.items():
        if len(members) != DRAWERS:
            raise CorruptDataError(
                f"{zip_name}: {key[0]}/{key[1]} has {len(members)} images, not {DRAWERS}."
            )
        members.sort()
    return found


def decode_zips(
    zip_paths: Iterable[Path], image_size: int = 28, subset: str = "custom"
) -> OmniglotData:
    """Decode official Omniglot zips into one :class:`OmniglotData`.

    A character present in several zips (Greek and Latin are in both small sets) is kept once.
    """
    members: dict[tuple[str, str], tuple[Path, list[str]]] = {}
    for zip_path in zip_paths:
        with _open_zip(Path(zip_path)) as archive:
            for key, names in _index_characters(archive, Path(zip_path).name).items():
                members.setdefault(key, (Path(zip_path), names))
    keys = sorted(members)
    images = np.empty((len(keys), DRAWERS, image_size, image_size), dtype=np.uint8)
    by_zip: dict[Path, list[int]] = {}
    for c, key in enumerate(keys):
        by_zip.setdefault(members[key][0], []).append(c)
    for zip_path, chars in by_zip.items():
        with _open_zip(zip_path) as archive:
            for c in chars:
                for d, name in enumerate(members[keys[c]][1]):
                    try:
                        images[c, d] = _decode_png(archive.read(name), image_size)
                    except (OSError, zipfile.BadZipFile, EOFError) as exc:
                        raise CorruptDataError(
                            f"{zip_path.name}: cannot decode {name} ({exc}); delete the zip and "
                            "fetch it again."
                        ) from None
    return OmniglotData(
        images=torch.from_numpy(images).float().div_(255.0),
        alphabets=[a for a, _ in keys],
        characters=[ch for _, ch in keys],
        files=[members[k][1] for k in keys],
        subset=subset,
    )


def _cache_path(root: Path, subset: str, image_size: int) -> Path:
    name = f"omniglot-{subset}-{image_size}px-v{CACHE_FORMAT}.pt"
    return cache_dir("omniglot", root=root) / name


def _cache_key(subset: str, image_size: int) -> dict[str, object]:
    """What a cache entry must have been made from: checked on every load."""
    md5 = [OFFICIAL_MD5[name] for name in SUBSETS[subset]]
    return {"format": CACHE_FORMAT, "subset": subset, "image_size": image_size, "md5": md5}


def _save_cache(path: Path, data: OmniglotData, key: dict[str, object]) -> Path | None:
    """Write the cache entry (8-bit images, metadata, key, checksum); warn if not writable."""
    images = (data.images * 255).round().to(torch.uint8)
    meta = json.dumps(
        {"alphabets": data.alphabets, "characters": data.characters, "files": data.files}
    )
    key_json = canonical_json(key)
    payload = {
        "format": CACHE_FORMAT,
        "images": images,
        "meta": meta,
        "key": key_json,
        "checksum": tensor_checksum({"images": images}, meta, key_json),
    }
    return atomic_write_or_warn(
        path,
        lambda tmp: torch.save(payload, tmp),
        what="decoded Omniglot cache",
        hint=f"Choose another folder with ${DATA_DIR_ENV} or load_omniglot(data_dir=...), or "
        "turn the cache off with load_omniglot(use_cache=False).",
    )


def _cache_problem(payload: object, key: dict[str, object]) -> str | None:
    """Why a loaded cache payload cannot be trusted for ``key``, or None if it can."""
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
        return "it was written by another version of this code"
    if payload.get("key") != canonical_json(key):
        return f"it was made for {payload.get('key')}, not {canonical_json(key)}"
    images, meta_json, size = payload.get("images"), payload.get("meta"), key["image_size"]
    if not (
        isinstance(images, torch.Tensor)
        and images.dtype == torch.uint8
        and images.dim() == 4
        and tuple(images.shape[1:]) == (DRAWERS, size, size)
    ):
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else "no"
        return f"it holds {got} images, not uint8 [characters, {DRAWERS}, {size}, {size}]"
    checksum = tensor_checksum({"images": images}, str(meta_json), payload["key"])
    if not isinstance(meta_json, str) or payload.get("checksum") != checksum:
        return "it fails its checksum (changed or damaged after it was written)"
    meta, count = json.loads(meta_json), images.shape[0]
    if any(len(meta.get(field, ())) != count for field in ("alphabets", "characters", "files")):
        return f"its metadata does not describe its {count} characters"
    expected = KNOWN_CHARACTERS.get(tuple(key["md5"]))  # type: ignore[arg-type]
    if expected is not None and count != expected:
        return f"it holds {count} characters, not the {expected} of the official files"
    return None


def _load_cache(path: Path, subset: str, key: dict[str, object]) -> OmniglotData | None:
    """The cached data if ``path`` holds a valid entry for ``key``; else None (and a warning)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        problem = _cache_problem(payload, key)
    except FileNotFoundError:  # removed since we looked (e.g. by another process)
        return None
    except Exception as exc:  # a damaged cache is rebuilt, never trusted
        problem = f"it cannot be read ({type(exc).__name__})"
    if problem is not None:
        gone = "" if remove_file(path) else " (it could not be deleted)"
        warn_once(
            f"bad-cache:{path}",
            f"Ignoring the Omniglot cache {path}: {problem}; decoding the zips again{gone}.",
            CacheWarning,
        )
        return None
    meta = json.loads(payload["meta"])
    return OmniglotData(
        images=payload["images"].float().div_(255.0),
        alphabets=meta["alphabets"],
        characters=meta["characters"],
        files=meta["files"],
        subset=subset,
    )


def _tidy(root: Path, subset: str, image_size: int) -> None:
    """Remove what interrupted writes and older cache formats left behind (best effort)."""
    for folder in (root, root / "cache", cache_dir("omniglot", root=root)):
        remove_stale_temporaries(folder)
    remove_stale_temporaries(root / "one-shot-classification", folders=True)  # one_shot.py
    for old in range(1, CACHE_FORMAT):
        remove_file(root / "cache" / f"omniglot-{subset}-{image_size}px-v{old}.pt")


def load_omniglot(
    subset: str = "small",
    image_size: int = 28,
    *,
    data_dir: Path | None = None,
    use_cache: bool = True,
) -> OmniglotData:
    """Load Omniglot as a ``[characters, 20, image_size, image_size]`` tensor, ink = 1.

    ``subset``: ``"small"`` (default; background_small1 ∪ small2: 8 alphabets, 242 characters),
    ``"background"`` (30 alphabets, 964 characters), ``"evaluation"`` (20 alphabets, 659
    characters) or ``"full"`` (both, 1623 characters). The first call fetches and decodes; later
    calls read the decoded tensor from ``data/cache/omniglot`` in well under a second. A cache
    that fails its checks is rebuilt; one that cannot be written only warns (once per folder).
    """
    if subset not in SUBSETS:
        raise ValueError(f"Unknown subset {subset!r}; choose one of {sorted(SUBSETS)}.")
    if not isinstance(image_size, int) or not 8 <= image_size <= ORIGINAL_SIZE:
        raise ValueError(
            f"image_size must be an integer from 8 to {ORIGINAL_SIZE} pixels, got {image_size!r}."
        )
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    cache_file, key = _cache_path(root, subset, image_size), _cache_key(subset, image_size)
    if use_cache:
        _tidy(root, subset, image_size)
        if cache_file.is_file():
            cached = _load_cache(cache_file, subset, key)
            if cached is not None:
                return cached
    zips = [fetch(name, data_dir=root) for name in SUBSETS[subset]]
    data = decode_zips(zips, image_size=image_size, subset=subset)
    if use_cache:
        _save_cache(cache_file, data, key)
    return data
