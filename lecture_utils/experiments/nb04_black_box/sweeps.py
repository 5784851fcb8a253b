"""Notebook 04's sweeps: Q3 (what phi is), Q2 (how many classes), support order,
memorisation and other N and K. Every ± is a t 95% interval: over tasks, or over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lecture_utils.analysis.tables import INTERVAL_OVER_TASKS
from lecture_utils.analysis.verdicts import in_words
from lecture_utils.core import runtime, stats
from lecture_utils.episodes.sampler import ClassSplit
from lecture_utils.experiments.nb04_black_box.setup import Setup
from lecture_utils.models import black_box
from lecture_utils.models.convnet import count_parameters
from lecture_utils.training.evaluation import (
    TaskAccuracy,
    evaluate,
    fixed_episodes,
    prediction_changes,
)
from lecture_utils.training.meta_training import meta_train

# --------------------------------------------------------------------------------------------
# b. Q3: what phi is — one factor at a time
# --------------------------------------------------------------------------------------------

Q3_ARMS: list[tuple[str, str | None, dict]] = [
    *((f"h over all of D_tr, {d}", "feedforward", {"context_dim": d}) for d in (2, 8, 32, 128)),
    *((f"h per class, {d} each", "class_context", {"context_dim": d}) for d in (8, 64)),
    ("hypernet W,b, no shortcut", "hypernet", {"prototype_shortcut": False}),
    ("hypernet W,b + prototype", "hypernet", {"prototype_shortcut": True}),
    ("nearest class mean", None, {}),
]


@dataclass
class Q3Row:
    """One arm: how phi is made, its size, the shared parameters theta, the accuracy."""

    label: str
    phi: int
    theta: int
    accuracy: TaskAccuracy


def q3_sweep(setup: Setup, steps: int) -> dict[str, Q3Row]:
    """Every arm of :data:`Q3_ARMS`, ``steps`` meta-batches each, same data, seed and rate."""
    rows: dict[str, Q3Row] = {}
    for label, family, options in runtime.progress(Q3_ARMS, desc="Q3 arms"):
        dim = setup.bank.feature_dim
        if family is None:
            model = black_box.NearestClassMean(nn.Flatten(), dim)
        else:
            model = black_box.build_model(
                family, "features", feature_dim=dim, seed=setup.seed, **options
            )
            meta_train(
                model, setup.sampler(setup.split["train"]), steps=steps, progress=False,
                seed=setup.seed,
            )  # fmt: skip
        phi = model.phi_size(setup.n_way, setup.k_shot)
        rows[label] = Q3Row(label, phi, count_parameters(model), setup.evaluate(model))
    return rows


@runtime.marks_fast_mode
def q3_table(rows: dict[str, Q3Row]) -> str:
    """The Q3 table: |phi| (numbers per 5-way 1-shot task), |theta|, accuracy ± t 95%."""
    lines = [f"{'arm':<28}{'|phi|':>6}{'|theta|':>10}{'meta-test accuracy':>26}"]
    lines += [f"{r.label:<28}{r.phi:>6}{r.theta:>10,}{str(r.accuracy):>26}" for r in rows.values()]
    return "\n".join([*lines, f"({INTERVAL_OVER_TASKS}; all arms scored on the same tasks)"])


def q3_findings(rows: dict[str, Q3Row]) -> str:
    """The three one-factor comparisons, as paired differences over the same tasks."""

    def best(prefix: str) -> Q3Row:
        return max((r for k, r in rows.items() if k.startswith(prefix)), key=lambda r: r.phi)

    def diff(a: Q3Row, b: Q3Row) -> str:
        d = stats.paired_difference(a.accuracy.per_task, b.accuracy.per_task)
        return f"{d.format(100, 1)} points ({in_words(stats.verdict(d))})"

    whole, per_class = best("h over"), best("h per class")
    plain, shortcut = rows["hypernet W,b, no shortcut"], rows["hypernet W,b + prototype"]
    ncm = rows["nearest class mean"]
    top = max((r for r in rows.values() if r is not ncm), key=lambda r: r.accuracy.mean)
    return "\n".join(
        [
            f"1. pooling per class:        '{per_class.label}' - '{whole.label}': "
            + diff(per_class, whole),
            f"2. phi as weights of a head: '{plain.label}' - '{per_class.label}': "
            + diff(plain, per_class),
            f"3. the prototype shortcut:   '{shortcut.label}' - '{plain.label}': "
            + diff(shortcut, plain),
            f"   best meta-learned arm, '{top.label}' - '{ncm.label}': " + diff(top, ncm),
        ]
    )


def q3_answer(rows: dict[str, Q3Row]) -> str:
    """Q3 answered in sentences chosen by the verdicts of the paired comparisons."""

    def gap(a: Q3Row, b: Q3Row) -> tuple[float, str]:
        d = stats.paired_difference(a.accuracy.per_task, b.accuracy.per_task)
        return 100 * d.mean, stats.verdict(d)

    whole = [r for k, r in rows.items() if k.startswith("h over")]
    per_class = [r for k, r in rows.items() if k.startswith("h per class")]
    plain, shortcut = rows["hypernet W,b, no shortcut"], rows["hypernet W,b + prototype"]
    best_whole = max(whole, key=lambda r: r.accuracy.mean)
    small, large = min(per_class, key=lambda r: r.phi), max(per_class, key=lambda r: r.phi)
    pooled, pooled_verdict = gap(small, best_whole)
    weights, weights_verdict = gap(plain, large)
    prototype, prototype_verdict = gap(shortcut, plain)
    says = {"holds": "helps", "contradicted": "hurts", "inconclusive": "makes no clear difference"}
    return "\n".join(
        [
            f"Pooling per class {says[pooled_verdict]}: {small.phi} numbers of per-class context "
            f"vs the best h over all of D_tr ({best_whole.phi} numbers): {pooled:+.1f} points.",
            f"Using phi as the weights of a head instead of a context read by a shared network "
            f"{says[weights_verdict]} ({plain.phi} vs {large.phi} numbers): {weights:+.1f} points.",
            f"The prototype shortcut {says[prototype_verdict]}: {prototype:+.1f} points.",
        ]
    )


# --------------------------------------------------------------------------------------------
# c. Q2: how many meta-training classes
# --------------------------------------------------------------------------------------------


def subset(split: ClassSplit, n: int, seed: int) -> list[int]:
    """``n`` meta-train characters chosen at random with ``seed``."""
    order = torch.randperm(len(split["train"]), generator=torch.Generator().manual_seed(seed))
    return [split["train"][i] for i in order[:n].tolist()]


def q2_sweep(
    setup: Setup, counts: Sequence[int], seeds: Sequence[int], steps: int
) -> tuple[dict[tuple[bool, int, int], float], dict[int, float]]:
    """Hypernetworks from raw pixels on ``n`` meta-train characters (with/without rotations,
    per seed), and the contaminated variant on frozen features (first seed)."""
    pixels: dict[tuple[bool, int, int], float] = {}
    runs = [(r, n, s) for r in (False, True) for n in counts for s in seeds]
    for rot, n, seed in runtime.progress(runs, desc="Q2 sweep"):
        size = setup.data.images.shape[-1]
        model = black_box.build_model("hypernet", "pixels", image_size=size, seed=seed)
        train = setup.pixel_sampler(subset(setup.split, n, seed), rotations=rot, seed=seed)
        meta_train(model, train, steps=steps, progress=False, seed=seed)
        pixels[(rot, n, seed)] = setup.evaluate(model, setup.pixel_test).mean
    contaminated: dict[int, float] = {}
    for n in counts:
        model = black_box.build_model(
            "hypernet", "features", feature_dim=setup.bank.feature_dim, seed=seeds[0]
        )
        train = setup.sampler(subset(setup.split, n, seeds[0]), batch_size=16, seed=seeds[0])
        meta_train(model, train, steps=steps, progress=False, seed=seeds[0])
        contaminated[n] = setup.evaluate(model).mean
    return pixels, contaminated


def seed_summary(values: Sequence[float]) -> tuple[float, float]:
    """Mean and t 95% half-width over seeds (half-width 0 for a single seed)."""
    if len(values) < 2:
        return float(values[0]), 0.0
    iv = stats.t_interval(values)
    return iv.mean, iv.half_width


@runtime.marks_fast_mode
def q2_lines(pixels: dict, contaminated: dict, counts: Sequence[int], seeds: Sequence[int]):
    """Printed summary of Q2: per count, mean ± t 95% over seeds; the rotation gain."""
    lines = []
    for rot in (False, True):
        cells = [stats.summarise([pixels[(rot, n, s)] for s in seeds]) for n in counts]
        row = "  ".join(f"{n}: {c}" for n, c in zip(counts, cells, strict=True))
        lines.append(("rotations    " if rot else "no rotation  ") + row)
    lines.append("contaminated " + "  ".join(f"{n}: {100 * contaminated[n]:.1f}" for n in counts))
    lo, hi = counts[0], counts[-1]
    for rot in (False, True):
        a = seed_summary([pixels[(rot, lo, s)] for s in seeds])[0]
        b = seed_summary([pixels[(rot, hi, s)] for s in seeds])[0]
        lines.append(
            f"{'with' if rot else 'without'} rotations, {lo} -> {hi} characters: "
            f"{100 * a:.1f}% -> {100 * b:.1f}% ({100 * (b - a):+.1f} points)"
        )
    if len(seeds) > 1:
        gain = stats.paired_difference(
            [pixels[(True, hi, s)] for s in seeds], [pixels[(False, hi, s)] for s in seeds]
        )
        lines.append(
            f"rotations at {hi} characters: {gain.format(100, 1)} points (paired over seeds)"
        )
    gap = contaminated[hi] - contaminated[lo]
    lines.append(
        f"contaminated features: {lo} -> {hi} characters moves accuracy {100 * gap:+.1f} points "
        f"from {100 * contaminated[lo]:.1f}% (the encoder had already seen every class)"
    )
    return "\n".join(lines)


def q2_last_step(pixels: dict, counts: Sequence[int], seeds: Sequence[int]) -> str:
    """Has the curve stopped rising? The last count minus the one before, paired over seeds
    (t 95%), with a verdict, per curve."""
    if len(seeds) < 2 or len(counts) < 2:
        return "(one seed or one count: no interval for the last step of the curve)"
    a, b = counts[-2], counts[-1]
    lines = []
    for rot in (False, True):
        d = stats.paired_difference(
            [pixels[(rot, b, s)] for s in seeds], [pixels[(rot, a, s)] for s in seeds]
        )
        name = "with rotations   " if rot else "without rotations"
        lines.append(
            f"{name} {b} - {a} characters: {d.format(100, 1)} points over {len(seeds)} seeds "
            f"(verdict '{stats.verdict(d)}': "
            f"{in_words(stats.verdict(d), 'still rising', 'falling', 'no clear rise')})"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# d-f. Order, memorisation, other N and K
# --------------------------------------------------------------------------------------------


def permutation_rows(
    setup: Setup, models: dict[str, nn.Module], n_batches: int = 3
) -> dict[str, tuple[TaskAccuracy, float]]:
    """Per model: (fraction of query predictions that flip, as a mean over tasks with its t 95%
    interval; largest logit change)."""
    eps = setup.test_tasks[:n_batches]
    rows = {}
    for f, m in models.items():
        rates, largest = prediction_changes(m, eps, seed=setup.seed)
        rows[f] = (TaskAccuracy.from_scores(rates), largest)
    return rows


def memorisation(setup: Setup, steps: int) -> dict[bool, dict[str, float]]:
    """Feedforward (context 128) trained with and without per-task label shuffling."""
    out: dict[bool, dict[str, float]] = {}
    train_chars, n = setup.split["train"], setup.n_test
    for shuffle in (True, False):
        model = black_box.build_model(
            "feedforward", "features", feature_dim=setup.bank.feature_dim, seed=setup.seed
        )
        meta_train(
            model, setup.sampler(train_chars, shuffle_labels=shuffle), steps=steps,
            progress=f"shuffle_labels={shuffle}", seed=setup.seed,
        )  # fmt: skip
        as_trained = setup.sampler(train_chars, shuffle_labels=shuffle, batch_size=100, seed=99)
        reshuffled = setup.sampler(train_chars, batch_size=100, seed=98)
        out[shuffle] = {
            "train tasks (as trained)": evaluate(model, as_trained, n).mean,
            "train chars, new label shuffles": evaluate(model, reshuffled, n).mean,
            "meta-test tasks": setup.evaluate(model).mean,
        }
    return out


def generalisation(
    setup: Setup,
    models: dict[str, nn.Module],
    k_values: Sequence[int],
    n_values: Sequence[int],
    n_tasks: int,
) -> tuple[dict[str, list[TaskAccuracy]], dict[str, list[TaskAccuracy | None]]]:
    """Accuracy (mean and t 95% interval over tasks) of 5-way 1-shot models at other K (N=5)
    and other N (K=1); None where a model cannot take N classes."""
    grid_k = {f: [] for f in models}
    grid_n = {f: [] for f in models}
    for k in runtime.progress(k_values, desc="K sweep"):
        eps = setup.tasks("test", n_tasks, seed=5, k_shot=k)
        for f, m in models.items():
            grid_k[f].append(evaluate(m, eps, n_tasks))
    for n in runtime.progress(n_values, desc="N sweep"):
        eps = fixed_episodes(
            setup.sampler(setup.split["test"], n_way=n, batch_size=50, seed=6), n_tasks
        )
        for f, m in models.items():
            fits = getattr(m, "max_way", None) is None or n <= m.max_way
            grid_n[f].append(evaluate(m, eps, n_tasks) if fits else None)
    return grid_k, grid_n


@runtime.marks_fast_mode
def grid_lines(
    label: str, values: Sequence[int], grid: dict[str, list[TaskAccuracy | float | None]]
) -> str:
    """One row per model of a K or N sweep, mean accuracies in % (nan where missing)."""

    def mean(a: TaskAccuracy | float | None) -> float:
        return float("nan") if a is None else a.mean if isinstance(a, TaskAccuracy) else a

    lines = [f"{label + ':':<16}" + "".join(f"{v:>8}" for v in values)]
    for f, accs in grid.items():
        lines.append(f"{f[:15]:<16}" + "".join(f"{100 * mean(a):8.1f}" for a in accs))
    return "\n".join(lines)
