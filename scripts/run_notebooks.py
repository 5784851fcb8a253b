"""Execute the lecture notebooks top to bottom, headless, in the current environment.

    python scripts/run_notebooks.py                 # every notebooks/*.ipynb, outputs discarded
    python scripts/run_notebooks.py --inplace       # ... and store the fresh outputs in the files
    python scripts/run_notebooks.py notebooks/03_episodes.ipynb

Fast or full mode follows ``$LECTURE_FAST_MODE`` (``make outputs`` runs in full mode). With
``--inplace`` progress bars are off (``LECTURE_PROGRESS=off``), so the stored notebooks hold no
progress-bar widget state. Each
notebook runs in a fresh ``python3`` kernel with ``notebooks/`` as its working directory and
prints one progress line; the first failing cell stops the run with exit status 1.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import sys
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"
sys.path.insert(0, str(REPO))

from lecture_utils.core import runtime  # noqa: E402
from lecture_utils.core.store import atomic_write  # noqa: E402

# Folders the kernels read; they run in notebooks/, so a relative path must be made absolute
# against the folder where the user set it (the directory this script was started from).
PATH_VARIABLES = ("OMNIGLOT_DIR", "LECTURE_DATA_DIR")


def absolute_paths(environ: MutableMapping[str, str], cwd: Path | None = None) -> dict[str, str]:
    """Make each set :data:`PATH_VARIABLES` entry of ``environ`` absolute (``~`` expanded),
    resolved against ``cwd`` (default: the current directory); return what changed."""
    base = Path.cwd() if cwd is None else Path(cwd)
    changed: dict[str, str] = {}
    for name in PATH_VARIABLES:
        value = environ.get(name, "")
        if not value.strip():
            continue
        path = Path(value).expanduser()
        absolute = str(path if path.is_absolute() else (base / path).resolve())
        if absolute != value:
            environ[name] = changed[name] = absolute
    return changed


class NotebookFailed(Exception):
    """A cell raised; carries a one-paragraph description of where and what."""


def _source_head(cell: nbformat.NotebookNode, lines: int = 3) -> str:
    head = cell.source.strip().splitlines()[:lines]
    return "\n".join("      | " + line for line in head)


def failing_cell(nb: nbformat.NotebookNode) -> tuple[int, nbformat.NotebookNode, str] | None:
    """The first cell with an error output: (index among all cells, cell, 'Name: message')."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return index, cell, f"{output.get('ename')}: {output.get('evalue')}"
    return None


def execute(path: Path, timeout: int, kernel_name: str = "python3") -> nbformat.NotebookNode:
    """Run one notebook in a fresh kernel; raise NotebookFailed naming the failing cell."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=timeout,
        record_timing=False,  # keep stored notebooks free of per-run timestamps
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    # The kernel's own stderr (start-up warnings) goes to a log, shown only if it dies.
    with tempfile.TemporaryFile(mode="w+") as kernel_log:
        try:
            client.execute(stderr=kernel_log)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
            found = failing_cell(nb)
            if found is None:  # a timeout or a dead kernel leaves no error output
                kernel_log.seek(0)
                tail = "\n".join(kernel_log.read().splitlines()[-15:])
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise NotebookFailed(f"{path.name}: {first}\n{tail}".rstrip()) from exc
            index, cell, error = found
            raise NotebookFailed(
                f"{path.name}, cell {index + 1} of {len(nb.cells)} "
                f"(In [{cell.get('execution_count')}]):\n{_source_head(cell)}\n    {error}"
            ) from exc
    return nb


PALETTE_MAX_ERROR = 24


def _smallest_png(image: Image.Image) -> bytes:
    """The smaller of two encodings at zlib's best compression: the pixels as they are, and a
    256-colour palette, kept only when no pixel moves by more than ``PALETTE_MAX_ERROR`` levels
    (of 255) and the mean change is under one level: exact for figures of at most 256 colours,
    and invisible on anti-aliased lines and images."""
    candidates = []
    exact = io.BytesIO()
    image.save(exact, format="PNG", optimize=True, compress_level=9)
    candidates.append(exact.getvalue())
    rgb = image.convert("RGB")
    palette = rgb.quantize(colors=256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)
    error = np.abs(
        np.asarray(palette.convert("RGB"), dtype=np.int16) - np.asarray(rgb, dtype=np.int16)
    )
    if (
        image.mode in ("RGB", "RGBA", "P", "L")
        and error.max() <= PALETTE_MAX_ERROR
        and (error.mean() < 1.0)
    ):
        if image.mode == "RGBA" and np.asarray(image)[..., 3].min() < 255:
            return min(candidates, key=len)  # transparency: keep the exact encoding
        small = io.BytesIO()
        palette.save(small, format="PNG", optimize=True, compress_level=9)
        candidates.append(small.getvalue())
    return min(candidates, key=len)


def optimise_pngs(nb: nbformat.NotebookNode) -> int:
    """Re-encode every stored PNG as small as it goes without a visible change (zlib's best
    compression; a 256-colour palette where it changes no pixel by more than a few levels);
    returns the bytes saved."""
    saved = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" not in data:
                continue
            raw = base64.b64decode(data["image/png"])
            image = Image.open(io.BytesIO(raw))
            image.load()
            smaller = _smallest_png(image)
            if len(smaller) < len(raw):
                saved += len(raw) - len(smaller)
                data["image/png"] = base64.b64encode(smaller).decode("ascii")
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--inplace", action="store_true", help="write the outputs back")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)
    absolute_paths(os.environ)  # before any kernel starts: the kernels inherit them

    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 1
    if not paths:
        print(f"no notebooks found in {NOTEBOOK_DIR.relative_to(REPO)}/", file=sys.stderr)
        return 1
    if args.inplace:  # stored outputs: no progress-bar widgets (the kernels inherit this)
        os.environ.setdefault(runtime.PROGRESS_ENV, "off")
    mode = "fast" if runtime.fast_mode() else "full"
    print(f"Running {len(paths)} notebook(s) in {mode} mode ({runtime.FAST_MODE_ENV})", flush=True)
    started = time.perf_counter()
    for number, path in enumerate(paths, start=1):
        print(f"[{number}/{len(paths)}] {path.name} ... ", end="", flush=True)
        t0 = time.perf_counter()
        try:
            nb = execute(path, args.timeout)
        except NotebookFailed as exc:
            print(f"FAILED ({time.perf_counter() - t0:.1f} s)", flush=True)
            print(f"\nStopped at the first failure: {exc}", file=sys.stderr)
            return 1
        if args.inplace:
            optimise_pngs(nb)
            atomic_write(path, lambda tmp, nb=nb: nbformat.write(nb, tmp))  # never half-written
        stored = ", outputs stored" if args.inplace else ""
        print(f"ok ({time.perf_counter() - t0:.1f} s{stored})", flush=True)
    print(f"All {len(paths)} notebook(s) ran in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
