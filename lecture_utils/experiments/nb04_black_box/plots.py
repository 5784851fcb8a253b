"""Notebook 04's figures. Every panel with error bars says which interval it shows.

Sizes and fonts come from the collection's style (``lecture_utils.core.figure_style``, set by
``runtime.seed_everything``); legends sit outside the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lecture_utils.core.figure_style import PALETTE
from lecture_utils.training.evaluation import TaskAccuracy
from lecture_utils.training.meta_training import MetaHistory

OVER_TASKS = "error bars: t 95% over tasks"


def smooth(values: Sequence[float], window: int = 25) -> list[float]:
    """Running mean over the last ``window`` values (for noisy per-step curves)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _figure(width: float, height: float, ncols: int = 1):
    return plt.subplots(1, ncols, figsize=(width, height), layout="constrained")


def _legend_right(ax: Axes, **kwargs) -> None:
    """A framed legend just right of ``ax`` (never over the data)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


def _legend_below(ax: Axes, ncols: int = 2) -> None:
    """A framed legend under ``ax``'s x label (never over the data)."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=ncols, borderaxespad=0.0)


def _value_and_error(value: float | TaskAccuracy | None) -> tuple[float, float]:
    """(mean, t 95% half-width) in %; a plain number has no error bar, None is missing."""
    if value is None:
        return float("nan"), 0.0
    if isinstance(value, TaskAccuracy):
        return 100 * value.mean, 100 * value.ci95
    return 100 * float(value), 0.0


def learning_curves(
    histories: dict[str, list[MetaHistory]], chance: float, title: str = "Meta-training"
) -> Figure:
    """Training loss (smoothed) and meta-validation accuracy against meta-training steps; a
    model trained in stages (the LSTM curriculum) is drawn stage after stage."""
    fig, (ax_loss, ax_acc) = _figure(11.5, 4.6, 2)
    for name, stages in histories.items():
        offset, colour = 0, None
        for i, h in enumerate(stages):
            label = name if i == 0 else None
            steps = [offset + s for s in h.steps]
            (line,) = ax_loss.plot(steps, smooth(h.train_loss), color=colour, label=label)
            colour = line.get_color()
            val_steps = [offset + s for s in h.val_steps]
            accs = [100 * a for a in h.val_accuracy]
            ax_acc.plot(val_steps, accs, "o-", ms=4, color=colour, label=label)
            if len(stages) > 1:
                ax_acc.annotate(
                    h.name.split()[-2], (val_steps[-1], accs[-1]), xytext=(3, 3),
                    textcoords="offset points", color=colour,
                )  # fmt: skip
            offset = steps[-1]
    ax_loss.set(
        xlabel="meta-training step",
        ylabel="query loss (nats, mean of 25 steps)",
        title=title,
    )
    ax_acc.set(
        xlabel="meta-training step",
        ylabel="meta-val accuracy (%)",
        ylim=(0, 100),
        title="held-out alphabet (LSTM: at each stage's N)",
    )
    ax_acc.axhline(100 * chance, color="grey", ls=":", label=f"chance ({round(1 / chance)}-way)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    _legend_right(ax_acc)
    return fig


def q3_figure(rows: dict, chance: float, steps: int) -> Figure:
    """Accuracy against the size of phi for every Q3 arm (t 95% over tasks)."""
    fig, ax = _figure(11, 4.6)
    groups = {"h over": "o-", "h per class": "s-", "hypernet": "D", "nearest": "k*"}
    for prefix, style in groups.items():
        arm = [r for k, r in rows.items() if k.startswith(prefix)]
        ax.errorbar(
            [r.phi for r in arm],
            [100 * r.accuracy.mean for r in arm],
            yerr=[100 * r.accuracy.ci95 for r in arm],
            fmt=style,
            capsize=3,
            ms=7,
            label=prefix if len(arm) > 1 else arm[0].label,
        )
    ax.axhline(100 * chance, color="grey", ls=":", label="chance")
    ax.set(
        xscale="log",
        xlabel="size of phi (numbers per 5-way 1-shot task, log scale)",
        ylabel="meta-test accuracy (%)",
        ylim=(0, 100),
        title=f"Q3, one factor at a time ({steps} steps each; {OVER_TASKS})",
    )
    _legend_right(ax)
    ax.grid(alpha=0.3)
    return fig


def q2_figure(
    pixels: dict, contaminated: dict, counts: Sequence[int], seeds: Sequence[int], summary
) -> Figure:
    """Accuracy against the number of meta-training characters (t 95% over seeds)."""
    fig, ax = _figure(11, 5.2)
    for rot, label in ((False, "no rotations"), (True, "with rotations (4x classes)")):
        points = [summary([pixels[(rot, n, s)] for s in seeds]) for n in counts]
        ax.errorbar(
            counts,
            [100 * m for m, _ in points],
            yerr=[100 * h for _, h in points],
            marker="o",
            capsize=3,
            label=f"raw pixels, end to end: {label}",
        )
    ax.plot(
        counts,
        [100 * contaminated[n] for n in counts],
        "k--",
        marker="x",
        label="frozen encoder pretrained on ALL classes (contaminated)",
    )
    ax.axhline(20, color="grey", ls=":", label="chance (5-way)")
    ax.set(
        xscale="log",
        xlabel="meta-training characters (log scale)",
        ylabel="meta-test accuracy (%)",
        ylim=(0, 100),
        title=f"Q2: 5-way 1-shot ({len(seeds)} seeds; error bars: t 95% over seeds)",
    )
    ax.set_xticks(list(counts), [str(n) for n in counts])
    ax.minorticks_off()
    _legend_below(ax)
    ax.grid(alpha=0.3)
    return fig


def bars(
    values: dict[str, float | TaskAccuracy],
    ylabel: str,
    title: str,
    colour: str = PALETTE[3],
    xlabel: str = "model",
) -> Figure:
    """A bar chart of percentages, from 0; values given as a :class:`TaskAccuracy` get t 95%
    error bars over tasks (and the title says so)."""
    fig, ax = _figure(9, 4.2)
    points = [_value_and_error(v) for v in values.values()]
    has_errors = any(isinstance(v, TaskAccuracy) for v in values.values())
    ax.bar(
        list(values),
        [m for m, _ in points],
        yerr=[e for _, e in points] if has_errors else None,
        capsize=4,
        color=colour,
    )
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title + (f"\n({OVER_TASKS})" if has_errors else ""))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3, axis="y")
    return fig


def memorisation_figure(memo: dict[bool, dict[str, float]], chance: float) -> Figure:
    """Train vs meta-test accuracy with shuffled vs fixed labels."""
    fig, ax = _figure(11, 4.6)
    keys = list(memo[True])
    for i, shuffle in enumerate((True, False)):
        ax.bar(
            [j + 0.38 * i for j in range(len(keys))],
            [100 * memo[shuffle][k] for k in keys],
            width=0.38,
            label="labels shuffled per task" if shuffle else "fixed class -> label (c mod N)",
        )
    ax.set_xticks([j + 0.19 for j in range(len(keys))], keys)
    ax.axhline(100 * chance, color="grey", ls=":", label="chance")
    ax.set(
        xlabel="tasks the accuracy is measured on",
        ylabel="accuracy (%)",
        ylim=(0, 100),
        title="e. Memorisation instead of adaptation",
    )
    _legend_right(ax)
    ax.grid(alpha=0.3, axis="y")
    return fig


def generalisation_figure(k_values, n_values, grid_k, grid_n) -> Figure:
    """Accuracy at other K (N = 5) and other N (K = 1) for models trained at 5-way 1-shot,
    with t 95% error bars over tasks when the grids hold :class:`TaskAccuracy` values."""
    fig, (a1, a2) = _figure(11.5, 4.8, 2)
    for i, f in enumerate(grid_k):
        colour = "black" if "NCM" in f else PALETTE[i % len(PALETTE)]
        style = "--" if "NCM" in f else "-"
        for ax, xs, grid in ((a1, k_values, grid_k), (a2, n_values, grid_n)):
            points = [_value_and_error(v) for v in grid[f]]
            ax.errorbar(
                xs,
                [m for m, _ in points],
                yerr=[e for _, e in points],
                ls=style,
                color=colour,
                marker="o",
                capsize=3,
                label=f if ax is a1 else None,
            )
    a1.set(
        xlabel="K (shots per class) at test, N = 5",
        ylabel="meta-test accuracy (%)",
        ylim=(0, 100),
        title="other K",
    )
    a1.plot([], [], ":", color="grey", label="chance")
    a2.plot(n_values, [100 / n for n in n_values], ":", color="grey")
    a2.set(
        xlabel="N (classes) at test, K = 1",
        ylabel="meta-test accuracy (%)",
        ylim=(0, 100),
        title="other N (missing: the architecture cannot)",
    )
    a1.plot(k_values, [20] * len(k_values), ":", color="grey")
    for a in (a1, a2):
        a.grid(alpha=0.3)
    fig.legend(
        *a1.get_legend_handles_labels(),
        loc="outside right upper",
        title=OVER_TASKS.replace("error bars: ", "bars: "),
    )
    return fig


def homework_figure(results: dict, histories: dict, handout: dict) -> Figure:
    """LSTM accuracy (t 95% over tasks) against the handout, and its validation curves (with
    each setting's chance level; the y axis runs from 0 to 100% so noise stays small)."""
    fig, (ax, ax2) = _figure(11.5, 5.0, 2)
    labels = [f"N={n}, K={k}" for n, k in results]
    ax.bar(
        labels,
        [100 * r.mean for r in results.values()],
        yerr=[100 * r.ci95 for r in results.values()],
        capsize=4,
        color=PALETTE[0],
        label="LSTM on features (t 95% over tasks)",
    )
    ax.scatter(
        labels, [handout[key] for key in results], color=PALETTE[1], marker="_", s=900,
        linewidths=3, label="the handout's accuracy", zorder=3,
    )  # fmt: skip
    ax.set(
        xlabel="setting (N classes, K shots)",
        ylabel="meta-test accuracy (%)",
        ylim=(0, 100),
        title="g. LSTM vs the handout",
    )
    _legend_below(ax, ncols=1)
    chance_drawn: set[int] = set()
    for (n, k), h in histories.items():
        (line,) = ax2.plot(
            h.val_steps, [100 * a for a in h.val_accuracy], "o-", ms=4, label=f"N={n}, K={k}"
        )
        if n not in chance_drawn:
            ax2.axhline(100 / n, color="grey", ls=":", lw=1.5)
            chance_drawn.add(n)
    if chance_drawn:
        ax2.plot([], [], color="grey", ls=":", lw=1.5, label="chance (1/N)")
    ax2.set(
        xlabel="meta-training step (of this setting)",
        ylabel="meta-val accuracy (%)",
        ylim=(0, 100),
        title="(2,1) from scratch: plateau, then jump",
    )
    ax2.grid(alpha=0.3)
    _legend_below(ax2, ncols=3)
    return fig


def versus_baseline_figure(accs: dict[str, TaskAccuracy], baseline: TaskAccuracy) -> Figure:
    """Meta-learned models and the transfer baseline (t 95% over tasks), as horizontal bars so
    the names never overlap."""
    names, values = [*accs, "NCM (transfer)"], [*accs.values(), baseline]
    fig, ax = _figure(11, 1.2 + 0.5 * len(names))
    ax.barh(
        names,
        [100 * a.mean for a in values],
        xerr=[100 * a.ci95 for a in values],
        capsize=4,
        color=[PALETTE[0]] * len(accs) + ["0.45"],
    )
    ax.invert_yaxis()
    ax.set(
        xlabel="meta-test accuracy (%)",
        ylabel="model",
        xlim=(0, 100),
        title=f"h. Meta-learned vs transfer baseline ({OVER_TASKS})",
    )
    ax.grid(alpha=0.3, axis="x")
    return fig
