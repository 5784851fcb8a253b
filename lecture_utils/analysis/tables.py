"""Seed-level results: run records, tables and figures, every ± a Student-t 95% interval.

Shared by the experiment notebooks so that an error bar always means the same thing: the
two-sided t interval of :func:`stats.t_interval` over the seeds (a single seed gets no bar);
differences between arms that share seeds are paired (:func:`paired_text`). :class:`Runs`
holds runs of several arms x a varied quantity ``x`` (shots, learning rate...) x seeds.
Scores are fractions; they are shown in percent (``scale=100``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes

from lecture_utils.core import stats

# What a ± means, one phrase per unit of variation (every table and verdict says one of these).
INTERVAL_OVER_SEEDS = "mean ± Student-t 95% half-width over seeds"
INTERVAL_OVER_TASKS = "± = t 95% interval over the meta-test tasks"


def mean_and_half_width(values: Sequence[float]) -> tuple[float, float]:
    """Mean and t 95% half-width (0 for a single value; ``nan`` for none)."""
    values = [float(v) for v in values]
    if not values:
        return float("nan"), float("nan")
    if len(values) == 1:
        return values[0], 0.0
    iv = stats.t_interval(values)
    return iv.mean, iv.half_width


def interval_cell(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    """``"65.6 ± 2.2"`` (t 95%), ``"65.6"`` for one value, ``"n/a"`` for none."""
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    mean, half = mean_and_half_width(values)
    if len(values) == 1:
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} ± {scale * half:.{digits}f}"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: numeric columns right-aligned, text columns left-aligned."""
    cols = list(zip(header, *rows, strict=True))
    widths = [max(len(str(c)) for c in col) + 2 for col in cols]
    numeric = [all(str(c)[:1] in "0123456789+-(n" for c in col[1:]) for col in cols]
    numeric[0] = False

    def line(cells: Sequence[str]) -> str:
        parts = zip(cells, widths, numeric, strict=True)
        return "".join(f"{c:>{w}}" if num else f"{c:<{w}}" for c, w, num in parts).rstrip()

    head = line(header)
    return "\n".join([head, "-" * len(head), *(line(r) for r in rows)])


def plot_intervals(
    ax: Axes,
    series: dict[str, dict[float, Sequence[float]]],
    colors: dict[str, str] | None = None,
    scale: float = 100.0,
) -> Axes:
    """One line per series over its x values, each point the mean with a t 95% error bar."""
    for i, (label, points) in enumerate(series.items()):
        xs = sorted(points)
        summary = [mean_and_half_width(points[x]) for x in xs]
        ax.errorbar(
            xs,
            [scale * m for m, _ in summary],
            yerr=[scale * h for _, h in summary],
            marker="o",
            capsize=4,
            color=(colors or {}).get(label, f"C{i}"),
            label=label,
        )
    ax.grid(alpha=0.3)
    return ax


def plot_band(
    ax: Axes,
    steps: Sequence[float],
    curves: Sequence[Sequence[float]],
    label: str,
    color: str,
    scale: float = 100.0,
) -> Axes:
    """The mean of several per-seed curves with a shaded t 95% band."""
    per_step = torch.tensor([list(c) for c in curves], dtype=torch.float64).T.tolist()
    summary = [mean_and_half_width(v) for v in per_step]
    mean = [scale * m for m, _ in summary]
    half = [scale * h for _, h in summary]
    ax.plot(steps, mean, color=color, marker=".", label=label)
    low = [m - h for m, h in zip(mean, half, strict=True)]
    high = [m + h for m, h in zip(mean, half, strict=True)]
    ax.fill_between(steps, low, high, color=color, alpha=0.2)
    return ax


def plot_arms(
    scores: dict[str, Sequence[float]],
    title: str,
    ax: Axes | None = None,
    ylabel: str = "test accuracy (%)",
    scale: float = 100.0,
    xlabel: str = "arm",
) -> Axes:
    """Bars of the arms' means with t 95% intervals; every seed's score as a dot. Long arm
    names are wrapped and tilted, so they never overlap."""
    if ax is None:
        width = max(1.6 * len(scores) + 2.5, 9.0)
        _, ax = plt.subplots(figsize=(width, 4.8), layout="constrained")
    names = list(scores)
    for i, name in enumerate(names):
        mean, half = mean_and_half_width(scores[name])
        ax.bar(i, scale * mean, yerr=scale * half, capsize=4, color=f"C{i % 10}", alpha=0.75)
        ax.plot([i] * len(scores[name]), [scale * v for v in scores[name]], "k.", ms=6)
    wrapped = [textwrap.fill(name, 16) for name in names]
    ax.set_xticks(range(len(names)), wrapped, rotation=30, ha="right", rotation_mode="anchor")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, scale)
    n = len(next(iter(scores.values()), []))
    note = f"(bars: mean, t 95% interval over {n} seeds; dots: seeds)"
    inches = ax.get_position().width * ax.figure.get_figwidth()
    size = ax.title.get_fontsize()
    ax.set_title(f"{title}\n{textwrap.fill(note, max(20, int(inches * 72 / (0.55 * size))))}")
    ax.grid(axis="y", alpha=0.3)
    return ax


def interval_table(
    rows: dict[str, dict[str, Sequence[float]]], first: str = "method", scale: float = 100.0
) -> str:
    """:func:`text_table` of interval cells: ``rows[label][column]`` holds per-seed values."""
    columns = list(dict.fromkeys(c for cells in rows.values() for c in cells))
    body = [
        [label, *(interval_cell(cells.get(c, []), scale) for c in columns)]
        for label, cells in rows.items()
    ]
    return text_table([first, *columns], body)


def steps_to_reach(
    eval_steps: Sequence[int], values: Sequence[float], threshold: float
) -> int | None:
    """The first evaluated step whose value is at least ``threshold``; ``None`` if never."""
    if len(eval_steps) != len(values):
        raise ValueError(f"{len(eval_steps)} steps but {len(values)} values: one per step.")
    if any(b <= a for a, b in zip(eval_steps, eval_steps[1:], strict=False)):
        raise ValueError("eval_steps must increase.")
    return next((int(s) for s, v in zip(eval_steps, values, strict=True) if v >= threshold), None)


def paired_text(a: Sequence[float], b: Sequence[float], scale: float = 100.0) -> str:
    """``"+45.2 ± 3.1 points (paired t 95%, n=3): holds"`` for ``a - b`` seed by seed."""
    diff = stats.paired_difference(a, b)
    return (
        f"{scale * diff.mean:+.1f} ± {scale * diff.half_width:.1f} points "
        f"(paired t 95%, n={diff.n}): {stats.verdict(diff)}"
    )


@dataclass
class Run:
    """One arm at one ``x`` (e.g. shots) and one seed: named ``scores`` (``None``: not
    measured), an optional condition ``tag`` (e.g. a loss weight) and free-form ``info``."""

    arm: str
    x: float
    seed: int
    scores: dict[str, float | None]
    tag: float | None = None
    info: dict = field(default_factory=dict)


@dataclass
class Runs:
    """A list of :class:`Run` with selection, per-seed values, tables and figures."""

    runs: list[Run] = field(default_factory=list)
    seconds: float = 0.0

    def select(self, arm: str, x: float | None = None, tag: float | None = None) -> list[Run]:
        """The runs of ``arm`` (at ``x``; with ``tag``, or untagged), in seed order."""
        chosen = [
            r
            for r in self.runs
            if r.arm == arm
            and (x is None or r.x == x)
            and (tag is None or r.tag is None or abs(r.tag - tag) < 1e-9)
        ]
        return sorted(chosen, key=lambda r: r.seed)

    def values(self, arm: str, x: float, score: str, tag: float | None = None) -> list[float]:
        """One value per seed, in seed order (so two arms pair up seed by seed)."""
        found = [r.scores.get(score) for r in self.select(arm, x, tag)]
        return [v for v in found if v is not None]

    def mean(self, arm: str, x: float, score: str, tag: float | None = None) -> float:
        values = self.values(arm, x, score, tag)
        return sum(values) / len(values) if values else float("nan")

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.runs})

    @property
    def xs(self) -> list[float]:
        return sorted({r.x for r in self.runs})

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(r.arm for r in self.runs))

    def note(self) -> str:
        """``"(%, mean ± Student-t 95% half-width over seeds, n=3)"``."""
        return f"(%, {INTERVAL_OVER_SEEDS}, n={len(self.seeds)})"

    def series(
        self, labels: dict[str, str], score: str, tag: float | None = None
    ) -> dict[str, dict[float, list[float]]]:
        """``{label: {x: per-seed values}}`` of the arms in ``labels`` that have runs."""
        return {
            label: {x: self.values(arm, x, score, tag) for x in self.xs if self.select(arm, x)}
            for arm, label in labels.items()
            if self.select(arm)
        }

    def curves(self, arm: str, x: float, key: str) -> tuple[list[float], list[list[float]]]:
        """``(steps, per-seed curves)`` that runs of ``arm`` at ``x`` recorded in ``info``."""
        tracked = [r for r in self.select(arm, x) if key in r.info]
        if not tracked:
            raise ValueError(f"No {arm} run at x={x} recorded the curve {key!r}.")
        return tracked[0].info["steps"], [r.info[key] for r in tracked]

    def plot(
        self,
        ax: Axes,
        labels: dict[str, str],
        score: str,
        tag: float | None = None,
        colors: dict[str, str] | None = None,
        log_x: bool = True,
    ) -> Axes:
        """Mean score against ``x`` for each arm of ``labels``, t 95% error bars."""
        series = self.series(labels, score, tag)
        by_label = {labels[a]: c for a, c in (colors or {}).items() if a in labels}
        plot_intervals(ax, series, by_label)
        if log_x:
            ax.set_xscale("log")
            ax.set_xticks(self.xs, [f"{x:g}" for x in self.xs])
            ax.minorticks_off()
        return ax
