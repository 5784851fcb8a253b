"""(Re)apply RISE / nbconvert slide metadata to notebooks, from their structure alone.

    python scripts/slide_metadata.py notebooks/03_episodes.ipynb      # rewrite the metadata
    python scripts/slide_metadata.py --check notebooks/*.ipynb        # exit 1 if out of date
    python scripts/slide_metadata.py --summary notebooks/*.ipynb      # slide counts, fit, figures

Rules (first match wins), deterministic and idempotent:

* markdown: the first cell, or one starting with ``# `` / ``## `` -> ``slide``; ``### `` or a
  bold lead (``**Conclusion ...``) -> ``subslide``; only a bullet list -> ``fragment``;
* code: plumbing (the first code cell, the seed-and-imports cell, or a cell of imports only)
  -> tag ``hide-input`` (and ``jupyter.source_hidden``) when it has output, else ``skip``;
  code that is not the lesson, i.e. an ``exercise-check`` cell or a cell of more than
  ``LONG_CODE`` lines that is not an ``exercise``, -> tag ``hide-input`` only (hidden on the
  static slides, unchanged in the notebook); a ``show-input`` tag opts a cell out of both;
* a cell whose stored output is a figure, a widget or more than ``LONG_OUTPUT`` lines of text
  -> ``subslide``, unless a markdown cell directly precedes it: then that cell introduces the
  output on the same slide (and starts a sub-slide itself if it would only continue one);
* everything else -> ``-`` (continues the current slide);
* then, so that slides fit the 1280x720 deck, a cell that would take its slide's estimated
  height (:func:`cell_height`) past ``PAGE_HEIGHT`` starts a sub-slide, together with the
  markdown cell that introduces it (an exercise check never starts one).

Heights are estimated in the deck's pixels from line counts and stored figure sizes, as
``scripts/slides.py`` lays them out (figures at most ``FIGURE_MAX_HEIGHT`` tall). A slide
estimated taller than 720 px is shrunk to fit by the deck (down to ``MIN_TEXT_SCALE``);
``--summary`` counts those and the slides at risk of overflowing even so.

Only ``metadata.slideshow``, the ``hide-input`` tag, ``metadata.jupyter.source_hidden`` and the
notebook's ``metadata.rise`` are written; sources, outputs and other metadata are untouched.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
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
FIGURE_MIMES = {"image/png", "image/jpeg", "image/svg+xml", WIDGET_MIME}
EXERCISE, CHECK = "exercise", "exercise-check"
LONG_CODE = 10  # lines: longer code that is not an exercise is hidden on slides
LONG_OUTPUT = 15  # lines of text output that get a sub-slide
# Layout of a deck slide (scripts/slides.py), in its pixels: the figure cap and the floor of
# the deck's last-resort shrink; the rest are estimates fitted to the rendered decks.
FIGURE_MAX_HEIGHT = 520
MIN_FIGURE_HEIGHT = 200  # the deck shrinks the figures of a tall slide down to this, ...
MIN_TEXT_SCALE = 0.5  # ... then a too-wide ``pre``'s font or the whole slide down to this
PAGE_HEIGHT = 700  # a slide is filled up to this estimated height
CONTENT_WIDTH = 1260
LINE = 23  # one line of code or text output
MD_CHARS = 110  # characters of markdown per rendered line
MARKER = re.compile(r"^[ \t]*(### (BEGIN|END) SOLUTION|# NBVAL_\w+)")
BULLET = re.compile(r"^\s*([*+-]|\d+[.)])\s+")
IMPORT = re.compile(r"^(import |from \S+ import )")


def _source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def _mimes(cell: dict) -> set[str]:
    return {mime for out in cell.get("outputs", []) for mime in out.get("data", {})}


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _code_lines(cell: dict) -> list[str]:
    """Non-blank source lines a slide would show (marker comments are stripped there)."""
    return [ln for ln in _source(cell).splitlines() if ln.strip() and not MARKER.match(ln)]


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def _output_lines(cell: dict) -> int:
    """Lines of text output (streams and plain-text results without a richer form)."""
    lines = 0
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if out.get("output_type") == "stream":
            lines += len(_text(out.get("text", "")).splitlines())
        elif "text/plain" in data and len(data) == 1:
            lines += len(_text(data["text/plain"]).splitlines())
    return lines


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
    if _mimes(cell) & FIGURE_MIMES or _output_lines(cell) > LONG_OUTPUT:
        return "subslide", False
    return "-", False


def hidden_on_slides(cell: dict) -> bool:
    """Code that is not the lesson: an exercise check, or long code that is not an exercise."""
    tags = _tags(cell)
    if cell["cell_type"] != "code" or SHOW_INPUT in tags or EXERCISE in tags:
        return False
    return CHECK in tags or len(_code_lines(cell)) > LONG_CODE


def markdown_height(text: str) -> float:
    """Estimated height of rendered markdown: wrapped lines, paragraph gaps, display maths."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    wrapped = sum(max(1, math.ceil(len(ln) / MD_CHARS)) for ln in lines)
    gaps = sum(1 for ln in text.strip().splitlines() if not ln.strip())
    maths = sum(1 for ln in lines if ln.strip().startswith("$$"))
    return 30 + 24 * wrapped + 36 * gaps + 70 * maths


def figure_height(width: int, height: int, cap: float = FIGURE_MAX_HEIGHT) -> float:
    """On-slide height of a ``width`` x ``height`` px figure (CSS: width and height capped)."""
    return min(height * min(1.0, CONTENT_WIDTH / max(width, 1)), cap) + 12


def cell_height(cell: dict, hide_input: bool = False, cap: float = FIGURE_MAX_HEIGHT) -> float:
    """Estimated height of ``cell`` on a slide (``hide_input``: only its outputs show; figures
    at most ``cap`` tall)."""
    if cell["cell_type"] != "code":
        return markdown_height(_source(cell))
    lines = _code_lines(cell)
    height = 0.0 if hide_input or not lines else 22 + LINE * len(lines)
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if out.get("output_type") == "stream":
            height += 15 + LINE * len(_text(out.get("text", "")).splitlines())
        elif out.get("output_type") == "error":
            height += 15 + LINE * len(out.get("traceback", []))
        elif "image/png" in data:
            height += figure_height(*png_size(data["image/png"]), cap)
        elif WIDGET_MIME in data:
            height += 82
        elif "text/markdown" in data:
            height += markdown_height(_text(data["text/markdown"]))
        elif data:
            text = _text(data.get("text/html", data.get("text/plain", "")))
            height += 15 + LINE * len(text.splitlines())
    return height


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
    slides_only = [
        not k[1] and hidden_on_slides(cell) for cell, k in zip(cells, kinds, strict=True)
    ]
    used = last = 0.0  # estimated height of the current slide so far, and of its last cell
    for i, cell in enumerate(cells):
        kind, hide = kinds[i]
        if kind == "skip":
            continue
        height = cell_height(cell, hide or slides_only[i])
        # an exercise check (empty on the students' slides) never starts a sub-slide
        full = used > 0 and used + height > PAGE_HEIGHT and CHECK not in _tags(cell)
        if kind in ("-", "fragment") and full:
            lead = cells[i - 1]["cell_type"] == "markdown" and kinds[i - 1][0] in ("-", "fragment")
            if lead and used > last:  # the text that introduces the cell goes along with it
                kinds[i - 1], used = ("subslide", kinds[i - 1][1]), last
            else:
                kinds[i], used = ("subslide", hide), 0.0
        elif kind in ("slide", "subslide"):
            used = 0.0
        used, last = used + height, height
    for cell, (kind, hide), extra in zip(cells, kinds, slides_only, strict=True):
        meta = cell.setdefault("metadata", {})
        meta["slideshow"] = {"slide_type": kind}
        tags = [t for t in meta.get("tags", []) if t != HIDE_INPUT]
        tags += [HIDE_INPUT] if hide or extra else []
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


def slide_heights(nb: dict, cap: float = FIGURE_MAX_HEIGHT) -> list[float]:
    """Estimated height of every slide and sub-slide, in deck order, from the metadata
    (figures at most ``cap`` tall)."""
    heights: list[float] = []
    for cell in nb["cells"]:
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")
        if kind == "skip":
            continue
        if kind in ("slide", "subslide") or not heights:
            heights.append(0.0)
        heights[-1] += cell_height(cell, HIDE_INPUT in _tags(cell), cap)
    return heights


def fit_summary(nb: dict, size: tuple[int, int] = SLIDE_SIZE) -> dict[str, int]:
    """Slides in the deck, those estimated taller than ``size`` (the deck shrinks them to fit)
    and those at risk of overflowing even so (still too tall with their figures at the
    smallest and the rest at the smallest scale the deck uses)."""
    heights, smallest = slide_heights(nb), slide_heights(nb, MIN_FIGURE_HEIGHT)
    return {
        "slides": len(heights),
        "shrunk": sum(h > size[1] for h in heights),
        "at_risk": sum(h > size[1] / MIN_TEXT_SCALE for h in smallest),
        "tallest": round(max(heights, default=0)),
    }


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
            fit = fit_summary(updated)
            print(f"{path.name}: {slide_counts(updated)}")
            print(
                f"  {fit['slides']} slides; estimated over {SLIDE_SIZE[1]} px (shrunk to fit): "
                f"{fit['shrunk']}; at risk of overflow: {fit['at_risk']}; "
                f"tallest ~{fit['tallest']} px"
            )
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
