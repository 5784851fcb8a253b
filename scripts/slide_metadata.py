"""(Re)apply RISE / nbconvert slide metadata to notebooks, from their structure alone.

    python scripts/slide_metadata.py notebooks/03_episodes.ipynb      # rewrite the metadata
    python scripts/slide_metadata.py --check notebooks/*.ipynb        # exit 1 if out of date
    python scripts/slide_metadata.py --summary notebooks/*.ipynb      # slide counts, figures

Rules (first match wins), deterministic and idempotent:

* markdown: the first cell, or one starting with ``# `` / ``## `` -> ``slide``; ``### `` or a
  bold lead (``**Conclusion ...``) -> ``subslide``; only a bullet list -> ``fragment``;
* code: plumbing (the first code cell, the seed-and-imports cell, or a cell of imports only)
  -> tag ``hide-input`` (and ``jupyter.source_hidden``) when it has output, else ``skip``
  (a ``show-input`` tag opts a cell out); a cell whose stored output is a figure or a widget
  -> ``subslide``, unless a markdown cell directly precedes it: then that cell introduces the
  figure on the same slide (and starts a sub-slide itself if it would only continue one);
* everything else -> ``-`` (continues the current slide).

Only ``metadata.slideshow``, the ``hide-input`` tag, ``metadata.jupyter.source_hidden`` and the
notebook's ``metadata.rise`` are written; sources, outputs and other metadata are untouched.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import struct
import sys
from pathlib import Path

from lecture_utils.core.store import atomic_write

HIDE_INPUT = "hide-input"
SHOW_INPUT = "show-input"
SLIDE_SIZE = (1280, 720)
RISE = {"width": SLIDE_SIZE[0], "height": SLIDE_SIZE[1], "scroll": True, "theme": "white",
        "start_slideshow_at": "beginning"}  # fmt: skip
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
BULLET = re.compile(r"^\s*([*+-]|\d+[.)])\s+")
IMPORT = re.compile(r"^(import |from \S+ import )")


def _source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def _mimes(cell: dict) -> set[str]:
    return {mime for out in cell.get("outputs", []) for mime in out.get("data", {})}


def is_plumbing(cell: dict, first_code: bool) -> bool:
    """The first code cell (seeds, imports, fast-mode switch) or a cell of imports only."""
    if SHOW_INPUT in cell.get("metadata", {}).get("tags", []):
        return False
    if first_code:
        return True
    lines = [ln for ln in _source(cell).splitlines() if ln.strip() and not ln.startswith("#")]
    return bool(lines) and all(IMPORT.match(ln) or ln.startswith((" ", ")")) for ln in lines)


def slide_type(cell: dict, index: int, first_code: bool) -> tuple[str, bool]:
    """``(slide_type, hide_input)`` for one cell."""
    text = _source(cell).lstrip()
    if cell["cell_type"] != "code":
        if index == 0 or text.startswith(("# ", "## ")):
            return "slide", False
        if text.startswith("### ") or text.startswith("**"):
            return "subslide", False
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if (
            lines
            and BULLET.match(lines[0])
            and all(BULLET.match(ln) or ln.startswith("  ") for ln in lines)
        ):
            return "fragment", False
        return "-", False
    if is_plumbing(cell, first_code):
        return ("-", True) if cell.get("outputs") else ("skip", False)
    if _mimes(cell) & {"image/png", "image/jpeg", "image/svg+xml", WIDGET_MIME}:
        return "subslide", False
    return "-", False


def apply(nb: dict) -> dict:
    """Return ``nb`` with the slide metadata the rules give (modifies it in place too)."""
    cells, seen_code, kinds = nb["cells"], False, []
    for index, cell in enumerate(cells):
        first_code = cell["cell_type"] == "code" and not seen_code
        seen_code = seen_code or cell["cell_type"] == "code"
        kinds.append(slide_type(cell, index, first_code))
    for i in range(1, len(cells)):  # a figure stays on the slide of the text that introduces it
        if cells[i]["cell_type"] == "code" and kinds[i][0] == "subslide":
            if cells[i - 1]["cell_type"] == "markdown":
                kinds[i] = ("-", False)
                if kinds[i - 1][0] in ("-", "fragment"):
                    kinds[i - 1] = ("subslide", False)
    for cell, (kind, hide) in zip(cells, kinds, strict=True):
        meta = cell.setdefault("metadata", {})
        meta["slideshow"] = {"slide_type": kind}
        tags = [t for t in meta.get("tags", []) if t != HIDE_INPUT] + ([HIDE_INPUT] if hide else [])
        if tags:
            meta["tags"] = tags
        else:
            meta.pop("tags", None)
        jupyter = {k: v for k, v in meta.get("jupyter", {}).items() if k != "source_hidden"}
        if hide:
            jupyter["source_hidden"] = True
        if jupyter:
            meta["jupyter"] = jupyter
        else:
            meta.pop("jupyter", None)
    nb.setdefault("metadata", {})["rise"] = dict(RISE)
    return nb


def slide_counts(nb: dict) -> dict[str, int]:
    """Number of slides, sub-slides, fragments and skipped cells from the metadata."""
    counts = {"slide": 0, "subslide": 0, "fragment": 0, "skip": 0}
    for cell in nb["cells"]:
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")
        if kind in counts:
            counts[kind] += 1
    return counts


def png_size(data: str | list[str]) -> tuple[int, int]:
    raw = base64.b64decode("".join(data) if isinstance(data, list) else data)
    return struct.unpack(">II", raw[16:24])


def oversized_figures(nb: dict, limit: tuple[int, int] = SLIDE_SIZE) -> list[str]:
    """Stored PNG figures wider or taller than a ``limit`` slide, in pixels."""
    problems = []
    for index, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            data = out.get("data", {}).get("image/png")
            if data:
                w, h = png_size(data)
                if w > limit[0] or h > limit[1]:
                    problems.append(f"cell {index + 1}: figure {w}x{h} px > {limit[0]}x{limit[1]}")
    return problems


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write(path: Path, nb: dict) -> None:
    """Write like nbformat does (indent 1, sorted keys, final newline)."""
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report out-of-date files")
    parser.add_argument("--summary", action="store_true", help="print slide counts and figures")
    args = parser.parse_args(argv)
    stale = []
    for path in args.notebooks:
        original = read(path)
        updated = apply(json.loads(json.dumps(original)))
        if args.summary:
            print(f"{path.name}: {slide_counts(updated)}")
            for problem in oversized_figures(updated):
                print(f"  {problem}")
        if updated == original:
            continue
        if args.check:
            stale.append(path)
        elif not args.summary:
            write(path, updated)
            print(f"{path}: slide metadata updated")
    if stale:
        names = " ".join(str(p) for p in stale)
        print(
            f"slide metadata out of date in: {names}\nfix: python scripts/slide_metadata.py {names}"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
