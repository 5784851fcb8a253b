"""Notebook 06 figures: the sequence layout, and accuracy against K with t 95% error bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from lecture_utils.core.stats import Interval
from lecture_utils.episodes import string_tasks as st

FONT = 12
ROLE_COLOURS = {
    "special": "#d9d9d9",
    "support input": "#c6dbef",
    "support output": "#6baed6",
    "query input": "#fdd0a2",
    "query output": "#fd8d3c",
}
COLOURS = {
    "in_context": "tab:blue",
    "shuffled": "tab:gray",
    "pretrained": "tab:red",
    "scratch": "tab:purple",
}


def token_roles(tokens: torch.Tensor, mask: torch.Tensor) -> list[str]:
    """The role of every token of one :func:`st.build_sequence` sequence (for colouring)."""
    roles, output, query_start = [], False, _query_start(tokens)
    for i, t in enumerate(tokens.tolist()):
        if t in (st.BOS, st.SEP, st.END, st.PAD):
            roles.append("special")
            output = t == st.SEP
            continue
        side = "query" if i >= query_start else "support"
        roles.append(f"{side} {'output' if output or mask[i] else 'input'}")
    return roles


def _query_start(tokens: torch.Tensor) -> int:
    """Index of the query's first token: one after the last ``;`` before the query's ``>``."""
    ids = tokens.tolist()
    last_sep = max(i for i, t in enumerate(ids) if t == st.SEP)
    ends = [i for i, t in enumerate(ids[:last_sep]) if t == st.END]
    return ends[-1] + 1 if ends else 1


def layout_figure(tokens: torch.Tensor, mask: torch.Tensor, title: str = "") -> Figure:
    """One sequence as a row of boxes coloured by role; arrows mark what the loss reads.

    Above each masked token an arrow from the position before it: the logits there are scored
    against that token. A dashed line marks where D_tr ends and the query starts.
    """
    n = len(tokens)
    roles = token_roles(tokens, mask)
    fig, ax = plt.subplots(figsize=(max(9.0, min(11.5, 0.34 * n + 1.2)), 3.2), layout="constrained")
    for i, (t, role) in enumerate(zip(tokens.tolist(), roles, strict=True)):
        ax.add_patch(Rectangle((i, 0), 0.92, 1, color=ROLE_COLOURS[role], ec="k", lw=0.6))
        ax.text(i + 0.46, 0.5, st.show([t]), ha="center", va="center", fontsize=FONT,
                family="monospace", fontweight="bold" if mask[i] else "normal")  # fmt: skip
        if mask[i]:
            ax.annotate("", xy=(i + 0.46, 1.05), xytext=(i - 0.54, 1.05),
                        arrowprops=dict(arrowstyle="->", color="tab:red", lw=1.4,
                                        connectionstyle="arc3,rad=-0.6"))  # fmt: skip
    start = _query_start(tokens)
    ax.axvline(start - 0.04, color="k", ls="--", lw=1.2)
    ax.text(start / 2, -0.45, "D_tr: K support pairs", ha="center", fontsize=FONT)
    ax.text((start + n) / 2, -0.45, "query: x > y ;", ha="center", fontsize=FONT)
    targets = [i for i in range(n) if mask[i]]
    if targets:
        ax.text((targets[0] + targets[-1] + 1) / 2, 1.75, "loss reads these tokens",
                ha="center", fontsize=FONT, color="tab:red")  # fmt: skip
    handles = [Rectangle((0, 0), 1, 1, color=c, ec="k", lw=0.6) for c in ROLE_COLOURS.values()]
    ax.legend(handles, list(ROLE_COLOURS), ncol=5, fontsize=FONT - 1, frameon=False,
              loc="upper center", bbox_to_anchor=(0.5, -0.35))  # fmt: skip
    ax.set(xlim=(-0.3, n + 0.2), ylim=(-0.7, 2.1))
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=FONT)
    return fig


def accuracy_figure(
    curves: Mapping[str, Mapping[str, Mapping[int, Interval]]],
    labels: Mapping[str, str],
    metric_names: Mapping[str, str],
    n_seeds: int,
) -> Figure:
    """Accuracy (%) against K, one panel per metric; error bars are t 95% over training seeds.

    ``curves[metric][arm][k]`` is the interval of that arm at that K.
    """
    metrics = list(curves)
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(11, 4.8), squeeze=False, layout="constrained"
    )
    ks: Sequence[int] = []
    for ax, metric in zip(axes[0], metrics, strict=True):
        for j, (arm, per_k) in enumerate(curves[metric].items()):
            ks = sorted(per_k)
            offset = [k * 2 ** (0.03 * (j - 1.5)) for k in ks]  # keep the error bars apart
            ax.errorbar(
                offset, [100 * per_k[k].mean for k in ks],
                yerr=[100 * per_k[k].half_width for k in ks], marker="o", capsize=4, lw=1.8,
                color=COLOURS.get(arm), label=labels.get(arm, arm),
            )  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_ylim(-3, 103)
        ax.set_xlabel("K (pairs in D_tr)", fontsize=FONT)
        ax.set_ylabel(f"{metric_names[metric]} (%)", fontsize=FONT)
        ax.set_title(f"{metric_names[metric]} on meta-test tasks", fontsize=FONT)
        ax.tick_params(labelsize=FONT - 1)
        ax.grid(alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=len(names), fontsize=FONT - 1)
    fig.suptitle(f"error bars: t 95% over {n_seeds} training seeds", fontsize=FONT)
    return fig
