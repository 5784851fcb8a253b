"""Notebook 04's figures. Every panel with error bars says which interval it shows."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from lecture_utils.training.evaluation import TaskAccuracy
from lecture_utils.training.meta_training import MetaHistory

DPI = 72  # stored notebooks stay small


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
    return plt.subplots(1, ncols, figsize=(width, height), dpi=DPI)


def learning_curves(
    histories: dict[str, list[MetaHistory]], chance: float, title: str = "Meta-training"
) -> Figure:
    """Training loss (smoothed) and meta-validation accuracy against meta-training steps; a
    model trained in stages (the LSTM curriculum) is drawn stage after stage."""
    fig, (ax_loss, ax_acc) = _figure(11, 3.8, 2)
    for name, stages in histories.items():
        offset, colour = 0, None
        for i, h in enumerate(stages):
            label = name if i == 0 else None
            steps = [offset + s for s in h.steps]
            (line,) = ax_loss.plot(steps, smooth(h.train_loss), color=colour, label=label)
            colour = line.get_color()
            val_steps = [offset + s for s in h.val_steps]
            accs = [100 * a for a in h.val_accuracy]
            ax_acc.plot(val_steps, accs, "o-", ms=3, color=colour, label=label)
            if len(stages) > 1:
                ax_acc.annotate(h.name.split()[-2], (val_steps[-1], accs[-1]), fontsize=7)
            offset = steps[-1]
    ax_loss.set(xlabel="meta-training step", ylabel="query loss (smoothed)", title=title)
    ax_acc.set(
        xlabel="meta-training step",
        ylabel="meta-val accuracy (%)",
        title="held-out alphabet (LSTM: at each stage's N)",
    )
    ax_acc.axhline(100 * chance, color="grey", ls=":", label=f"chance ({round(1 / chance)}-way)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=8)
    fig.tight_layout()
    return fig


def q3_figure(rows: dict, chance: float, steps: int) -> Figure:
    """Accuracy against the size of phi for every Q3 arm (t 95% over tasks)."""
    fig, ax = _figure(8, 4)
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
        xlabel="size of phi (numbers per 5-way 1-shot task)",
        ylabel="meta-test accuracy (%)",
        title=f"Q3, one factor at a time ({steps} steps each; bars: t 95% over tasks)",
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def q2_figure(
    pixels: dict, contaminated: dict, counts: Sequence[int], seeds: Sequence[int], summary
) -> Figure:
    """Accuracy against the number of meta-training characters (t 95% over seeds)."""
    fig, ax = _figure(7, 4)
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
    ax.axhline(20, color="grey", ls=":", label="chance")
    ax.set(
        xscale="log",
        xlabel="meta-training characters",
        ylabel="meta-test accuracy (%)",
        title=f"Q2: 5-way 1-shot ({len(seeds)} seeds; bars: t 95% over seeds)",
    )
    ax.set_xticks(list(counts), [str(n) for n in counts])
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def bars(values: dict[str, float], ylabel: str, title: str, colour: str = "tab:purple") -> Figure:
    """A plain bar chart of percentages (no error bars)."""
    fig, ax = _figure(6.5, 3.2)
    ax.bar(list(values), [100 * v for v in values.values()], color=colour)
    ax.set(ylabel=ylabel, title=title)
    ax.grid(alpha=0.3, axis="y")
    return fig


def memorisation_figure(memo: dict[bool, dict[str, float]], chance: float) -> Figure:
    """Train vs meta-test accuracy with shuffled vs fixed labels."""
    fig, ax = _figure(8, 3.6)
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
    ax.set(ylabel="accuracy (%)", title="e. Memorisation instead of adaptation")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return fig


def generalisation_figure(k_values, n_values, grid_k, grid_n) -> Figure:
    """Accuracy at other K (N = 5) and other N (K = 1) for models trained at 5-way 1-shot."""
    fig, (a1, a2) = _figure(11, 3.8, 2)
    for f in grid_k:
        style = "k--" if "NCM" in f else "-"
        a1.plot(k_values, [100 * v for v in grid_k[f]], style, marker="o", label=f)
        a2.plot(n_values, [100 * v for v in grid_n[f]], style, marker="o", label=f)
    a1.set(xlabel="K (shots) at test, N = 5", ylabel="meta-test accuracy (%)", title="other K")
    a2.plot(n_values, [100 / n for n in n_values], ":", color="grey", label="chance")
    a2.set(xlabel="N (ways) at test, K = 1", title="other N (missing: architecture cannot)")
    for a in (a1, a2):
        a.grid(alpha=0.3)
    a2.legend(fontsize=7)
    return fig


def homework_figure(results: dict, histories: dict, handout: dict) -> Figure:
    """LSTM accuracy (t 95% over tasks) against the handout, and its validation curves."""
    fig, (ax, ax2) = _figure(11, 3.6, 2)
    labels = [f"N={n}, K={k}" for n, k in results]
    ax.bar(
        labels,
        [100 * r.mean for r in results.values()],
        yerr=[100 * r.ci95 for r in results.values()],
        capsize=3,
        label="LSTM on features (bars: t 95% over tasks)",
    )
    ax.scatter(labels, [handout[key] for key in results], color="red", marker="_", s=900)
    ax.set(ylabel="meta-test accuracy (%)", ylim=(0, 100), title="g. LSTM vs the handout (red)")
    ax.legend(fontsize=8, loc="lower left")
    for (n, k), h in histories.items():
        ax2.plot(h.val_steps, [100 * a for a in h.val_accuracy], "o-", ms=3, label=f"N={n}, K={k}")
    ax2.set(
        xlabel="meta-training step (of this setting)",
        ylabel="meta-val accuracy (%)",
        title="(2,1) from scratch: plateau, then jump",
    )
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    return fig


def versus_baseline_figure(accs: dict[str, TaskAccuracy], baseline: TaskAccuracy) -> Figure:
    """Meta-learned models and the transfer baseline (t 95% over tasks)."""
    fig, ax = _figure(8, 3.4)
    names, values = [*accs, "NCM (transfer)"], [*accs.values(), baseline]
    ax.bar(
        names,
        [100 * a.mean for a in values],
        yerr=[100 * a.ci95 for a in values],
        capsize=3,
        color=["tab:blue"] * len(accs) + ["tab:grey"],
    )
    ax.set(
        ylabel="meta-test accuracy (%)",
        ylim=(0, 100),
        title="h. Meta-learned vs transfer baseline (bars: t 95% over tasks)",
    )
    return fig
