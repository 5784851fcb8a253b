"""The collection's one figure style, and an opt-in audit of every figure a notebook shows.

:func:`apply_style` sets matplotlib's rcParams once per process (``runtime.seed_everything``,
which every notebook's first cell calls, does it): figures sized for a 1280x720 slide, fonts of
at least :data:`MIN_FONT_PT` points, the Okabe-Ito colour-blind-safe palette (without its
yellow, too pale on white), framed legends and constrained layout.

With ``$LECTURE_FIGURE_AUDIT=<file.jsonl>`` set, :func:`apply_style` also makes every saved or
shown figure (the inline backend saves each one to show it) first append one JSON line to that
file: the figure's size and the problems :func:`audit_figure` finds (tiny fonts, missing axis
labels, a legend over the data, overlapping tick labels). ``tests/notebooks/test_figures.py``
runs the notebooks with it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backend_bases import FigureCanvasBase, RendererBase
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.transforms import Bbox

AUDIT_ENV = "LECTURE_FIGURE_AUDIT"
MIN_FONT_PT = 11.0
MIN_WIDTH_PX = 900
MAX_WIDTH_PX = 1280  # a 1280x720 slide
MIN_DPI = 110

# Okabe & Ito (2008), reordered so neighbours in the cycle differ most; yellow left out.
PALETTE = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
)

STYLE: dict[str, Any] = {
    "figure.figsize": (11.0, 4.8),  # 1210 x 528 px at 110 dpi: fits a 1280x720 slide
    "figure.dpi": 110,
    "savefig.dpi": "figure",
    "figure.constrained_layout.use": True,
    "font.size": 13,
    "axes.titlesize": 14,
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "legend.title_fontsize": 12,
    "figure.titlesize": 15,
    "figure.labelsize": 13,
    "legend.loc": "best",
    "legend.frameon": True,
    "legend.framealpha": 0.92,
    "legend.edgecolor": "0.6",
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "lines.linewidth": 2.0,
    "lines.markersize": 6.0,
    "errorbar.capsize": 3.0,
    "grid.alpha": 0.3,
}

_applied = False


def apply_style(force: bool = False) -> None:
    """Set :data:`STYLE` in matplotlib's rcParams (once per process unless ``force``), and
    install the audit hook when ``$LECTURE_FIGURE_AUDIT`` names a file."""
    global _applied
    if _applied and not force:
        return
    mpl.rcParams.update(STYLE)
    _applied = True
    target = os.environ.get(AUDIT_ENV, "").strip()
    if target:
        install_audit(Path(target))


def _lch_to_rgb(lightness: float, chroma: float, hue: float) -> tuple[float, float, float]:
    """CIE LCh(ab) (D65) to sRGB in [0, 1], clipped to the gamut."""
    a, b = chroma * math.cos(math.radians(hue)), chroma * math.sin(math.radians(hue))
    fy = (lightness + 16) / 116
    fx, fz = fy + a / 500, fy - b / 200

    def finv(t: float) -> float:
        return t**3 if t**3 > 0.008856 else (t - 16 / 116) / 7.787

    x, y, z = 0.95047 * finv(fx), finv(fy), 1.08883 * finv(fz)
    linear = (
        3.2406 * x - 1.5372 * y - 0.4986 * z,
        -0.9689 * x + 1.8758 * y + 0.0415 * z,
        0.0557 * x - 0.2040 * y + 1.0570 * z,
    )

    def gamma(c: float) -> float:
        c = min(max(c, 0.0), 1.0)
        return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055

    r, g, b_ = (gamma(c) for c in linear)
    return r, g, b_


def lab(colour: str | tuple[float, float, float]) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of an sRGB colour."""
    rgb = mpl.colors.to_rgb(colour)
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def delta_e(a: str, b: str) -> float:
    """CIE76 colour difference (about 2 is just noticeable; 20 or more is a different colour)."""
    return math.dist(lab(a), lab(b))


def _label_sequence(count: int = 24) -> list[str]:
    """Farthest-point picks from dark, in-gamut LCh colours (contrast >= 3:1 on white),
    starting at Okabe-Ito blue: every prefix of the sequence is as spread out as it can be."""
    candidates = []
    for lightness in (35, 45, 55):
        for chroma in (35, 50, 65):
            for hue in range(0, 360, 10):
                rgb = _lch_to_rgb(lightness, chroma, hue)
                hex_ = mpl.colors.to_hex(rgb)
                if contrast_on_white(hex_) >= 3.0 and math.dist(lab(hex_), (lightness, 0, 0)) > 25:
                    candidates.append(hex_)
    points = {c: lab(c) for c in dict.fromkeys(candidates)}
    picked = [PALETTE[0]]
    nearest = {c: math.dist(p, lab(PALETTE[0])) for c, p in points.items()}
    while len(picked) < count:
        best = max(nearest, key=nearest.__getitem__)
        picked.append(best)
        nearest = {c: min(d, math.dist(points[c], points[best])) for c, d in nearest.items()}
    return picked


def label_colours(n: int) -> list[str]:
    """``n`` colours for class labels, each readable on white (contrast >= 3:1) and far apart
    from the others (farthest-point picks, so N = 20 labels stay tellable apart); beyond the
    stored sequence, evenly spaced hues."""
    if n <= 0:
        return []
    if n <= len(LABEL_SEQUENCE):
        return LABEL_SEQUENCE[:n]
    return [mpl.colors.to_hex(_lch_to_rgb(45, 50, 360 * i / n)) for i in range(n)]


def _luminance(rgb: tuple[float, float, float]) -> float:
    """Relative luminance (WCAG) of an sRGB colour in [0, 1]."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast_on_white(colour: str) -> float:
    """WCAG contrast ratio of ``colour`` against white (1 to 21)."""
    return 1.05 / (_luminance(mpl.colors.to_rgb(colour)) + 0.05)


# --------------------------------------------------------------------------- the audit


def _drawn(artist: Artist) -> Iterator[Artist]:
    """``artist`` and the descendants that will actually be drawn (hidden ones, axes turned
    off and tick labels outside the view are skipped)."""
    if not artist.get_visible():
        return
    yield artist
    if isinstance(artist, Axes):
        children = [c for c in artist.get_children() if artist.axison or not isinstance(c, Axis)]
    elif isinstance(artist, Axis):
        children = [artist.label, artist.offsetText, *artist._update_ticks()]
    else:
        children = artist.get_children()
    for child in children:
        yield from _drawn(child)


def drawn_texts(fig: Figure) -> list[Text]:
    """Every non-empty text the figure draws."""
    return [a for a in _drawn(fig) if isinstance(a, Text) and a.get_text().strip()]


def _has_data(ax: Axes) -> bool:
    return bool(ax.lines or ax.collections or ax.patches or ax.images)


def _is_image_axes(ax: Axes) -> bool:
    return bool(ax.images) and not (ax.lines or ax.collections or ax.patches)


def _names_its_ticks(axis: Axis) -> bool:
    """True when the axis shows no numbers: no tick labels (an image grid) or words naming
    rows/columns."""
    texts = [t.label1.get_text().strip() for t in axis._update_ticks() if t.label1.get_visible()]
    texts = [t for t in texts if t]

    def is_number(text: str) -> bool:
        try:
            float(text.replace("\u2212", "-"))
        except ValueError:
            return False
        return True

    return not any(is_number(t) for t in texts)


def _label_missing(ax: Axes, which: str, fig: Figure) -> bool:
    """True when ``ax`` has no ``which`` ('x'/'y') label, nor a shared sibling or the figure
    (``supxlabel``/``supylabel``) that gives one."""
    get = (lambda a: a.get_xlabel()) if which == "x" else (lambda a: a.get_ylabel())
    if get(ax).strip():
        return False
    if _is_image_axes(ax) and _names_its_ticks(ax.xaxis if which == "x" else ax.yaxis):
        return False
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    if any(get(other).strip() for other in shared.get_siblings(ax) if other is not ax):
        return False
    sup = getattr(fig, "_supxlabel" if which == "x" else "_supylabel", None)
    return not (sup is not None and sup.get_visible() and sup.get_text().strip())


def _sample_path(points: np.ndarray, step: float = 3.0) -> np.ndarray:
    """Points along a polyline in display pixels, at most ``step`` pixels apart."""
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) < 2:
        return points
    out = [points[:1]]
    for a, b in zip(points[:-1], points[1:], strict=True):
        n = max(1, math.ceil(float(np.hypot(*(b - a))) / step))
        t = np.linspace(0, 1, n + 1)[1:, None]
        out.append(a + t * (b - a))
    return np.concatenate(out)


def _data_points(ax: Axes) -> np.ndarray:
    """The axes' lines, markers and collections as display-space points (inside the axes)."""
    chunks: list[np.ndarray] = []
    for line in ax.lines:
        if not line.get_visible():
            continue
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        if line.get_linestyle() in {"None", "none", "", " "}:
            chunks.append(xy[np.isfinite(xy).all(axis=1)])
        else:
            chunks.append(_sample_path(xy))
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        offsets = np.asarray(coll.get_offsets(), dtype=float)
        paths = coll.get_paths()
        if len(offsets) and (len(paths) <= 1 or len(offsets) == len(paths)) and offsets.any():
            chunks.append(coll.get_offset_transform().transform(offsets))
        else:
            transform = coll.get_transform()
            for path in paths:
                chunks.append(_sample_path(transform.transform(path.vertices)))
    if not chunks:
        return np.zeros((0, 2))
    points = np.concatenate([c.reshape(-1, 2) for c in chunks if c.size])
    box = ax.get_window_extent()
    inside = (
        (points[:, 0] >= box.x0 - 1)
        & (points[:, 0] <= box.x1 + 1)
        & (points[:, 1] >= box.y0 - 1)
        & (points[:, 1] <= box.y1 + 1)
    )
    return points[inside]


def _data_boxes(ax: Axes) -> list[Bbox]:
    """Display boxes of the axes' patches (bars), clipped to the axes."""
    box = ax.get_window_extent()
    out = []
    for patch in ax.patches:
        if not patch.get_visible():
            continue
        extent = patch.get_window_extent()
        clipped = Bbox.intersection(extent, box)
        if clipped is not None and clipped.width > 1 and clipped.height > 1:
            out.append(clipped)
    return out


def legend_overlaps(ax: Axes, legend: Legend, renderer: RendererBase) -> bool:
    """True when the legend's box covers any of the axes' points, lines or bars."""
    frame = legend.get_window_extent(renderer).padded(-1)
    points = _data_points(ax)
    if (
        len(points)
        and (
            (points[:, 0] > frame.x0)
            & (points[:, 0] < frame.x1)
            & (points[:, 1] > frame.y0)
            & (points[:, 1] < frame.y1)
        ).any()
    ):
        return True
    return any(
        (inter := Bbox.intersection(frame, b)) is not None and inter.width * inter.height > 4
        for b in _data_boxes(ax)
    )


def _tick_label_overlaps(ax: Axes, which: str, renderer: RendererBase) -> list[str]:
    axis = ax.xaxis if which == "x" else ax.yaxis
    box = ax.get_window_extent(renderer)
    extents = []
    for tick in axis._update_ticks():
        for label in (tick.label1, tick.label2):
            if label.get_visible() and label.get_text().strip():
                extents.append((label.get_text(), label.get_window_extent(renderer)))
    if which == "x":
        extents = [(t, e) for t, e in extents if box.x0 - 2 <= (e.x0 + e.x1) / 2 <= box.x1 + 2]
    else:
        extents = [(t, e) for t, e in extents if box.y0 - 2 <= (e.y0 + e.y1) / 2 <= box.y1 + 2]
    found = []
    for i, (text_a, a) in enumerate(extents):
        for text_b, b in extents[i + 1 :]:
            inter = Bbox.intersection(a.padded(-0.5), b.padded(-0.5))
            if inter is not None and inter.width > 0.5 and inter.height > 0.5:
                found.append(f"{which} tick labels {text_a!r} and {text_b!r} overlap")
    return found


def _text_layout_problems(fig: Figure, renderer: RendererBase) -> list[str]:
    """Titles that overlap each other, and text that sticks out of the figure (the saved
    image would grow past the slide width to hold it)."""
    found = []
    titles = [
        (t.get_text(), t.get_window_extent(renderer))
        for ax in fig.axes
        if ax.get_visible()
        for t in (ax.title, ax._left_title, ax._right_title)
        if t.get_visible() and t.get_text().strip()
    ]
    for i, (text_a, a) in enumerate(titles):
        for text_b, b in titles[i + 1 :]:
            inter = Bbox.intersection(a, b)
            if inter is not None and inter.width > 1 and inter.height > 1:
                found.append(f"titles {text_a[:30]!r} and {text_b[:30]!r} overlap")
    page = fig.bbox
    for text in drawn_texts(fig):
        box = text.get_window_extent(renderer)
        if box.x0 < page.x0 - 2 or box.x1 > page.x1 + 2:
            found.append(f"text sticks out of the figure: {text.get_text()[:30]!r}")
    return found


def _axes_name(ax: Axes, index: int) -> str:
    title = ax.get_title() or ax.get_title("left") or ax.get_ylabel()
    return f"axes {index}" + (f" ({title[:40]!r})" if title else "")


def audit_figure(fig: Figure, dpi: float | None = None) -> list[str]:
    """What a projector audience would miss in ``fig``: each problem as one sentence.

    Checks: width between :data:`MIN_WIDTH_PX` and :data:`MAX_WIDTH_PX` pixels at ``dpi``
    (default: the figure's) and
    ``dpi`` >= :data:`MIN_DPI`; every drawn text >= :data:`MIN_FONT_PT` pt; every axes with
    data has x and y labels (a shared sibling's or the figure's ``sup*label`` count; image axes
    are exempt per axis when it shows no numbers: turned off, no ticks, or ticks named in words);
    no legend covers a point, line or bar of its axes; no two tick labels of one axis overlap;
    no two axes titles overlap and no text sticks out of the figure sideways.
    """
    dpi = float(dpi if isinstance(dpi, int | float) else fig.dpi)
    problems: list[str] = []
    width = fig.get_figwidth() * dpi
    if width < MIN_WIDTH_PX - 0.5:
        problems.append(f"figure is {width:.0f} px wide (< {MIN_WIDTH_PX})")
    if width > MAX_WIDTH_PX + 0.5:
        problems.append(f"figure is {width:.0f} px wide (> {MAX_WIDTH_PX}, the slide)")
    if dpi < MIN_DPI:
        problems.append(f"dpi {dpi:g} (< {MIN_DPI})")
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    small = sorted({(round(t.get_fontsize(), 1), t.get_text()[:30]) for t in drawn_texts(fig)})
    for size, text in small:
        if size < MIN_FONT_PT:
            problems.append(f"font {size:g} pt (< {MIN_FONT_PT:g}): {text!r}")
    problems.extend(_text_layout_problems(fig, renderer))
    for index, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        name = _axes_name(ax, index)
        is_colorbar = hasattr(ax, "_colorbar")
        if ax.axison and _has_data(ax) and not is_colorbar:
            for which in ("x", "y"):
                if _label_missing(ax, which, fig):
                    problems.append(f"{name}: no {which} label")
        elif is_colorbar and not (ax.get_xlabel().strip() or ax.get_ylabel().strip()):
            problems.append(f"{name}: colour bar without a label")
        legend = ax.get_legend()
        if legend is not None and legend.get_visible() and legend_overlaps(ax, legend, renderer):
            problems.append(f"{name}: legend covers plotted data")
        if ax.axison:
            for which in ("x", "y"):
                problems.extend(f"{name}: {p}" for p in _tick_label_overlaps(ax, which, renderer))
    for legend in fig.legends:
        for index, ax in enumerate(fig.axes):
            if legend.get_visible() and legend_overlaps(ax, legend, renderer):
                problems.append(f"figure legend covers data of {_axes_name(ax, index)}")
    return problems


def figure_summary(fig: Figure) -> str:
    """A short name for a figure: its suptitle or its first axes titles."""
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_text():
        return sup.get_text()[:80]
    return " | ".join(ax.get_title()[:40] for ax in fig.axes[:3] if ax.get_title())


def audit_record(fig: Figure, dpi: float | None = None) -> dict[str, Any]:
    """One JSON-ready line: where (IPython execution count), what and which problems."""
    count = None
    try:
        from IPython import get_ipython

        shell = get_ipython()
        count = getattr(shell, "execution_count", None)
    except ImportError:  # pragma: no cover - IPython is a dependency
        pass
    used_dpi = float(dpi if isinstance(dpi, int | float) else fig.dpi)
    try:
        problems = audit_figure(fig, used_dpi)
    except Exception as exc:  # an audit bug must not break the lecture
        problems = [f"audit failed: {type(exc).__name__}: {exc}"]
    return {
        "execution_count": count,
        "figure": figure_summary(fig),
        "width_px": round(fig.get_figwidth() * used_dpi),
        "height_px": round(fig.get_figheight() * used_dpi),
        "dpi": used_dpi,
        "problems": problems,
    }


def install_audit(path: Path) -> None:
    """Make ``FigureCanvasBase.print_figure`` append :func:`audit_record` to ``path`` first
    (once; a second call only changes the file)."""
    original = getattr(FigureCanvasBase.print_figure, "_lecture_original", None)
    original = original or FigureCanvasBase.print_figure
    target = Path(path)

    def print_figure(self: FigureCanvasBase, *args: Any, **kwargs: Any) -> Any:
        record = audit_record(self.figure, kwargs.get("dpi"))
        with target.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        return original(self, *args, **kwargs)

    print_figure._lecture_original = original  # type: ignore[attr-defined]
    FigureCanvasBase.print_figure = print_figure  # type: ignore[method-assign]


def uninstall_audit() -> None:
    """Undo :func:`install_audit` (for tests)."""
    original = getattr(FigureCanvasBase.print_figure, "_lecture_original", None)
    if original is not None:
        FigureCanvasBase.print_figure = original  # type: ignore[method-assign]


LABEL_SEQUENCE = _label_sequence()
