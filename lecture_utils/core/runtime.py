"""Run-time switches every notebook uses: seeds, fast mode and the compute device."""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import torch

FAST_MODE_ENV = "LECTURE_FAST_MODE"
PROGRESS_ENV = "LECTURE_PROGRESS"
T = TypeVar("T")
P = ParamSpec("P")


def fast_mode() -> bool:
    """True when ``$LECTURE_FAST_MODE`` is set to 1/true/yes (CI turns it on)."""
    return os.environ.get(FAST_MODE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


FAST_MODE_BANNER = (
    "fast mode: budgets shrunk for testing; the numbers below are not the lesson's numbers; "
    "the stored outputs are"
)


def fast_mode_banner() -> None:
    """In fast mode, show :data:`FAST_MODE_BANNER` as a coloured box (plain text outside
    Jupyter); in full mode show nothing, so full-mode outputs stay as they were."""
    if not fast_mode():
        return
    try:
        from IPython.display import HTML, display
    except ImportError:  # pragma: no cover - IPython is a dependency
        print(f"*** {FAST_MODE_BANNER} ***")
        return
    style = "background:#fde68a;color:#111;padding:6px 10px;border-left:6px solid #b45309;"
    display(HTML(f'<div style="{style}"><b>⚠ {FAST_MODE_BANNER}</b></div>'))


def marks_fast_mode(table: Callable[P, str]) -> Callable[P, str]:
    """Decorate a function that returns a results table (text or Markdown): in fast mode the
    text starts with a warning line, :data:`FAST_MODE_BANNER`, so the banner sits beside every
    table (once, also when one marked table is built from another); in full mode the text is
    unchanged."""

    @functools.wraps(table)
    def marked(*args: P.args, **kwargs: P.kwargs) -> str:
        text = table(*args, **kwargs)
        banner = f"⚠ {FAST_MODE_BANNER}\n\n"
        if not fast_mode() or text.startswith(banner):  # a table built from a marked one
            return text
        return banner + text

    return marked


def budget(full: T, fast: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise (training steps, seeds, epochs...)."""
    return fast if fast_mode() else full


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, torch (and numpy if present); return a torch Generator seeded the same.

    Every notebook's first cell calls this, so it also sets the collection's figure style
    (:func:`lecture_utils.core.figure_style.apply_style`, once per process).
    """
    from lecture_utils.core import figure_style

    figure_style.apply_style()
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy ships with matplotlib
        pass
    return torch.Generator().manual_seed(seed)


@contextmanager
def single_thread(enabled: bool = True) -> Iterator[None]:
    """Run the block on one torch thread, then restore the previous thread count.

    The notebooks' networks are small: a second intra-op thread gains little, and on a busy
    2-core machine the two threads wait for each other (3-4x slower steps were measured).
    """
    threads = torch.get_num_threads()
    if enabled and threads != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    disable: bool = False,
    **kwargs: Any,
) -> Any:
    """The one progress bar of the collection: a tqdm that disappears when done.

    ``$LECTURE_PROGRESS`` picks its kind: ``auto`` (default; a widget in Jupyter, text in a
    terminal), ``text`` (plain text bars) or ``off`` (no bar). Headless runs that store outputs
    (``make outputs``) use ``off``, so no progress-bar widget state ends up in the notebooks.
    """
    mode = os.environ.get(PROGRESS_ENV, "auto").strip().lower() or "auto"
    if mode not in {"auto", "text", "off"}:
        raise ValueError(f"${PROGRESS_ENV}={mode!r}: choose 'auto', 'text' or 'off'.")
    if mode == "text":
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    kwargs.setdefault("leave", False)
    return tqdm(iterable, total=total, desc=desc, disable=disable or mode == "off", **kwargs)


def resolve_device(device: torch.device | str | None) -> torch.device:
    """``device`` as a :class:`torch.device`; ``None`` means :func:`get_device`."""
    return get_device() if device is None else torch.device(device)


def get_device() -> torch.device:
    """The one device helper: CUDA when present, then Apple MPS, else the CPU.

    Set ``LECTURE_DEVICE=cpu`` to force the CPU (the tests do).
    """
    forced = os.environ.get("LECTURE_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe() -> dict[str, object]:
    """Versions, threads, device and fast mode, for the first cell of a notebook."""
    import platform

    import matplotlib

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "matplotlib": matplotlib.__version__,
        "cpu_threads": torch.get_num_threads(),
        "device": str(get_device()),
        "fast_mode": fast_mode(),
    }


@contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Build modules inside this block for an initialisation fixed by ``seed``.

    The global RNG state is saved and restored around the block, so nothing outside it sees a
    change: ``with seeded_init(3): net = ConvTrunk()``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.random.manual_seed(seed)
        yield
