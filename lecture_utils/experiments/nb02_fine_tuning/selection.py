"""Notebook 02, the rules about *choosing* and *speed*: hyperparameter selection (test set vs
a single validation split vs k-fold CV), the learning-rate range test, and learning curves of
fine-tuning against training from scratch (steps to reach a fixed accuracy).

Every arm shares the seeds and the drawer splits of :mod:`fine_tuning_rules`, so arms are
compared by paired t intervals there (:class:`~lecture_utils.analysis.verdicts.Finding`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lecture_utils.analysis.tables import (
    INTERVAL_OVER_SEEDS,
    interval_cell,
    mean_and_half_width,
    plot_band,
    steps_to_reach,
    text_table,
)
from lecture_utils.core import runtime, stats
from lecture_utils.experiments.nb02_fine_tuning.runs import Start, Target, prepare_model, run_recipe
from lecture_utils.training import fine_tuning, lr_range
from lecture_utils.training.fine_tuning import Recipe
from lecture_utils.training.lr_range import smoothed

PROCEDURES = ("test set", "single split", "k-fold CV")


def hyperparameter_selection(
    state: Start, target: Target, configs: dict[str, Recipe], k: int,
    seed: int = 0, device: torch.device | str | None = None,
) -> dict[str, dict[str, object]]:  # fmt: skip
    """Pick a config three ways; report what each believes and what its pick gets on fresh
    drawers (``target.fresh``, never used for any choice).

    ``"test set"``: best on ``target.test``, reporting that test score. ``"single split"``: one
    drawer per character held out of ``target.train`` (fold 0 of the k folds), best validation
    score. ``"k-fold CV"``: best mean validation score over the ``k`` drawer-grouped folds.
    Every pick is then trained on all of ``target.train`` and scored on ``target.fresh``.
    """
    if target.fresh is None:
        raise ValueError("hyperparameter_selection needs target.fresh (untouched drawers).")
    full = {n: run_recipe(state, target, r, seed, device).scores for n, r in configs.items()}
    folds = fine_tuning.kfold_indices(target.train, k)
    per_fold = {
        name: [
            run_recipe(
                state, target, recipe, seed, device, train=fine_tuning.subset(target.train, tr),
                evaluate=[fine_tuning.subset(target.train, va)],
            ).scores[0]
            for tr, va in folds
        ]
        for name, recipe in configs.items()
    }  # fmt: skip
    believed = {
        "test set": {n: full[n][0] for n in configs},
        "single split": {n: per_fold[n][0] for n in configs},
        "k-fold CV": {n: sum(v) / len(v) for n, v in per_fold.items()},
    }
    out = {}
    for how, scores in believed.items():
        pick = max(scores, key=lambda n: scores[n])  # ties: the first config in the grid
        out[how] = {"config": pick, "reported": scores[pick], "fresh": full[pick][1]}
    return out


@runtime.marks_fast_mode
def selection_table(selection: dict[str, dict[str, list]]) -> str:
    """Per procedure: reported score, fresh-drawer score of its pick, and the optimism."""
    rows = []
    for how, res in selection.items():
        diff = stats.paired_difference(res["reported"], res["fresh"])
        rows.append([how, interval_cell(res["reported"]), interval_cell(res["fresh"]),
                     f"{100 * diff.mean:+.1f} ± {100 * diff.half_width:.1f}"])  # fmt: skip
    head = ["picked by", "reported (%)", "pick on fresh drawers (%)", "optimism (pp, paired)"]
    return f"({INTERVAL_OVER_SEEDS}, n={len(res['fresh'])})\n" + text_table(head, rows)


def plot_selection(selection: dict[str, dict[str, list[float]]]):
    """What each selection procedure reports vs what its pick scores on fresh drawers."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.6), layout="constrained")
    for j, part in enumerate(["reported", "fresh"]):
        for i, how in enumerate(selection):
            mean, half = mean_and_half_width(selection[how][part])
            ax.bar(3 * i + j, 100 * mean, yerr=100 * half, capsize=4, color=f"C{j}",
                   label=part if i == 0 else None)  # fmt: skip
    ax.set_xticks(
        [3 * i + 0.5 for i in range(len(selection))], [f"picked by {h}" for h in selection]
    )
    ax.set(xlabel="selection procedure", ylabel="accuracy (%)", ylim=(0, 100))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.grid(axis="y", alpha=0.3)
    n = len(next(iter(selection.values()))["fresh"])
    ax.set_title(f"Reported vs fresh-drawer accuracy (mean, t 95% over {n} seeds)")
    return fig


def range_test(
    state: Start, target: Target, *, lr_min: float, lr_max: float, steps: int,
    seed: int = 0, batch_size: int = 20, device: torch.device | str | None = None,
) -> tuple[list[float], list[float]]:  # fmt: skip
    """:func:`lr_range.lr_range_test` of full fine-tuning (new head) on ``target.train``."""
    model = prepare_model(state, target, True, seed)
    return lr_range.lr_range_test(
        model, target.train, lr_min=lr_min, lr_max=lr_max, steps=steps, seed=seed,
        device=device, batch_size=batch_size,
    )  # fmt: skip


def plot_range_tests(tests: dict[int, tuple[list[float], list[float]]], picks: dict[int, float]):
    """Smoothed loss against the rate for each seed's range test, its pick marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.6), layout="constrained")
    for i, (seed, (lrs, losses)) in enumerate(tests.items()):
        curve = smoothed(losses)
        ax.plot(lrs[: len(curve)], curve, color=f"C{i % 10}", alpha=0.8, lw=1.5)
        ax.axvline(picks[seed], color=f"C{i % 10}", ls=":", lw=1.5)
    ax.set(
        xscale="log",
        xlabel="learning rate (raised every step; log scale)",
        ylabel="training loss (nats, smoothed)",
    )
    top = max(max(losses[:5]) for _, losses in tests.values())
    ax.set_ylim(0, 1.5 * top)
    ax.set_title(f"LR range tests, one per seed ({len(tests)}); dotted: picked rate")
    ax.grid(alpha=0.3)
    return fig


def learning_curves(
    states: dict[str, Start], targets: dict[int, Target], recipe: Recipe,
    seeds: Sequence[int], every: int, device: torch.device | str | None = None,
    progress: bool = True,
) -> dict[str, tuple[list[int], list[list[float]]]]:  # fmt: skip
    """``{arm: (eval steps, [test-accuracy curve per seed])}``, one arm per starting point."""
    out: dict[str, tuple[list[int], list[list[float]]]] = {}
    plan = [(name, s) for name in states for s in seeds]
    with runtime.single_thread():
        for name, s in runtime.progress(plan, desc="learning curves", disable=not progress):
            res = run_recipe(states[name], targets[s], recipe, s, device, curve_every=every)
            out.setdefault(name, (res.curve_steps, []))[1].append(res.curve)
    return out


def steps_needed(
    curves: dict[str, tuple[list[int], list[list[float]]]], threshold: float
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Steps each seed's curve needs to reach ``threshold``. A curve that never gets there is
    counted at its last step (a lower bound: it favours the slower arm). Returns
    ``({arm: steps per seed}, {arm: how many seeds never reached it})``."""
    steps, missed = {}, {}
    for name, (at, per_seed) in curves.items():
        found = [steps_to_reach(at, c, threshold) for c in per_seed]
        missed[name] = sum(f is None for f in found)
        steps[name] = [at[-1] if f is None else f for f in found]
    return steps, missed


def plot_learning_curves(curves, threshold: float, title: str):
    """Mean test accuracy against fine-tuning steps per arm (t 95% bands), threshold dashed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.6), layout="constrained")
    for i, (name, (at, per_seed)) in enumerate(curves.items()):
        plot_band(ax, at, per_seed, name, f"C{i}")
    ax.axhline(100 * threshold, color="gray", ls="--", label=f"{100 * threshold:.0f}% threshold")
    n = len(next(iter(curves.values()))[1])
    ax.set(xlabel="training step", ylabel="test accuracy (%)", ylim=(0, 100))
    ax.set_title(f"{title}\n(mean, t 95% band over {n} seeds)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.grid(alpha=0.3)
    return fig
