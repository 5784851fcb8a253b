"""Notebook 02: fine-tuning rules of thumb, each one a small measured experiment.

A small CNN is pretrained once per source (cached in the one store) and fine-tuned on a
held-out alphabet, or on pretraining classes under a shift. Every arm of a rule shares the seeds
and the drawer splits, so arms are compared by paired differences over seeds
(:func:`stats.paired_difference`); each verdict is read off the interval (:func:`stats.verdict`):
*holds* (the rule's arm is better), *contradicted* (it is worse), or *inconclusive*.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import torch

from lecture_utils.analysis.tables import (
    INTERVAL_OVER_SEEDS,
    interval_cell,
    plot_intervals,
    text_table,
)
from lecture_utils.analysis.widget_panel import run_panel
from lecture_utils.core import runtime
from lecture_utils.data.labelled import LabelledImages, drawer_split
from lecture_utils.experiments.nb02_fine_tuning.runs import Target, run_recipe
from lecture_utils.training import fine_tuning
from lecture_utils.training.fine_tuning import FineTuneResult, Recipe
from lecture_utils.training.pretrain import PretrainSettings, new_classifier, pretrained_classifier

LAYER_NAMES = ("block1", "block2", "block3", "block4", "head")
SOURCES = ("omniglot", "inverted", "none")


# --------------------------------------------------------------------------------------------
# Targets (:class:`fine_tuning_runs.Target`): a new alphabet, or pretraining classes under a shift
# --------------------------------------------------------------------------------------------


def split_per_class(
    data: LabelledImages, first: int, seed: int = 0
) -> tuple[LabelledImages, LabelledImages]:
    """Split every class's examples at random: ``first`` of each into the first part."""
    counts = torch.bincount(data.y, minlength=data.num_classes)
    if first < 1 or first >= int(counts.min()):
        raise ValueError(
            f"first={first} must be at least 1 and below the smallest class size "
            f"({int(counts.min())}) so that both parts get examples of every class."
        )
    gen = torch.Generator().manual_seed(seed)
    a, b = [], []
    for c in range(data.num_classes):
        idx = (data.y == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        a.append(idx[:first])
        b.append(idx[first:])
    return fine_tuning.subset(data, torch.cat(a)), fine_tuning.subset(data, torch.cat(b))


def target_split(
    images: torch.Tensor, characters: Sequence[int], name: str, shots: int = 5,
    test_per_class: int = 10, seed: int = 0,
) -> Target:  # fmt: skip
    """A new-label-space target: ``shots`` train drawers, ``test_per_class`` test drawers and
    the remaining drawers as ``fresh`` (never used for any choice) per character."""
    if shots + test_per_class >= images.shape[1]:
        raise ValueError(
            f"shots={shots} + test_per_class={test_per_class} must leave at least one of the "
            f"{images.shape[1]} drawers as fresh data; lower one of them."
        )
    train, rest = drawer_split(images, characters, shots, None, seed=seed)
    test, fresh = split_per_class(rest, test_per_class, seed=seed)
    return Target(name, train, test, fresh)


def same_label_space_target(
    heldout: LabelledImages, classes: Sequence[int], name: str, shots: int = 5, seed: int = 0
) -> Target:
    """A target over pretraining classes ``classes``, from drawers held out of pretraining
    (labels renumbered ``0..n-1``; ``head_rows`` remembers the pretraining class of each)."""
    classes = [int(c) for c in classes]
    if not classes or max(classes) >= heldout.num_classes or min(classes) < 0:
        raise ValueError(
            "classes must be a non-empty list of pretraining classes in "
            f"0..{heldout.num_classes - 1}."
        )
    lookup = torch.full((heldout.num_classes,), -1, dtype=torch.long)
    lookup[torch.tensor(classes)] = torch.arange(len(classes))
    keep = lookup[heldout.y] >= 0
    subset = LabelledImages(heldout.x[keep], lookup[heldout.y[keep]], len(classes))
    train, test = split_per_class(subset, shots, seed=seed)
    return Target(name, train, test, None, head_rows=classes)


def shift_target(target: Target, kind: str, seed: int = 0) -> Target:
    """An input shift (``"invert"``, ``"blur"``) or ``"permute"`` (labels, the same
    permutation everywhere) applied to every part of ``target``."""
    parts = [target.train, target.test, target.fresh]
    if kind == "permute":
        perm = fine_tuning.derangement(target.train.num_classes, seed)
        new = [None if p is None else fine_tuning.permute_labels(p, perm) for p in parts]
    else:
        new = [None if p is None else fine_tuning.shift_images(p, kind) for p in parts]
    return replace(target, name=f"{target.name} ({kind})", train=new[0], test=new[1], fresh=new[2])


# --------------------------------------------------------------------------------------------
# Pretrained sources and the arms of an experiment
# --------------------------------------------------------------------------------------------


def pretrained_sources(
    pretrain: LabelledImages, characters: Sequence[int], *, steps: int, lr: float = 3e-3,
    seed: int = 0, channels: int = 32, device: torch.device | str | None = None,
) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, str]]:  # fmt: skip
    """``({source: state_dict}, {source: how it was obtained})`` for :data:`SOURCES`:
    Omniglot as drawn, inverted Omniglot (a shifted source) and no pretraining."""
    states, how = {}, {}
    for name in SOURCES:
        if name == "none":
            model = new_classifier(pretrain.num_classes, channels, seed)
            how[name] = "random initialisation"
        else:
            data = fine_tuning.shift_images(pretrain, "invert" if name == "inverted" else "none")
            settings = PretrainSettings(
                steps=steps, channels=channels, lr=lr, batch_size=64, schedule="cosine",
                augment="shift", strength=2, seed=seed,
            )  # fmt: skip
            model, info = pretrained_classifier(
                data, characters, settings, cache="fine_tuning", device=device,
                progress=f"pretrain {name}",
            )  # fmt: skip
            how[name] = "loaded from cache" if info.loaded else "trained now"
        states[name] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return states, how


def arm(
    state: dict[str, torch.Tensor], targets: dict[int, Target], recipe: Recipe,
    device: torch.device | str | None = None, part: int = 0,
) -> Callable[[int], float]:  # fmt: skip
    """One arm of an experiment: seed -> accuracy of ``recipe`` on ``targets[seed]``'s test
    drawers (``part=0``) or fresh drawers (``part=1``)."""
    return lambda s: run_recipe(state, targets[s], recipe, seed=s, device=device).scores[part]


def run_arms(
    arms: dict, seeds: Sequence[int], desc: str, progress: bool = True
) -> dict[object, list[float]]:
    """Every arm (a function of the seed returning a score) for every seed, on one torch
    thread. Returns ``{arm: [score per seed]}``, seeds in the given order (paired)."""
    if len(seeds) < 1:
        raise ValueError("run_arms needs at least one seed.")
    plan = [(name, s) for name in arms for s in seeds]
    scores: dict[object, list[float]] = {name: [] for name in arms}
    with runtime.single_thread():
        for name, s in runtime.progress(plan, desc=desc, disable=not progress):
            scores[name].append(float(arms[name](s)))
    return scores


def best(sweep: dict) -> object:
    """The key of ``sweep`` (``{key: [score per seed]}``) with the highest mean."""
    return max(sweep, key=lambda k: sum(sweep[k]) / len(sweep[k]))


def surgical(
    state: dict[str, torch.Tensor], targets: dict[int, Target], layers: dict[str, object],
    lrs: Sequence[float], seeds: Sequence[int], desc: str, recipe: Recipe | None = None,
    device: torch.device | str | None = None,
) -> tuple[dict[str, list[float]], dict[str, float]]:  # fmt: skip
    """Tune only ``layers[name]`` (head kept) with ``recipe``, each arm at its own best rate of
    ``lrs`` (the same rule for every arm). Returns ``({arm: scores}, {arm: chosen lr})``."""
    recipe = recipe or Recipe()
    arms = {
        (name, lr): arm(
            state, targets, replace(recipe, lr=lr, trainable=chosen, reinit_head=False), device
        )
        for name, chosen in layers.items()
        for lr in lrs
    }
    grid = run_arms(arms, seeds, desc)
    chosen_lr = {name: best({lr: grid[(name, lr)] for lr in lrs}) for name in layers}
    return {name: grid[(name, chosen_lr[name])] for name in layers}, chosen_lr


# --------------------------------------------------------------------------------------------
# Findings and verdicts: paired t intervals over shared seeds
# --------------------------------------------------------------------------------------------


def sweep_table(sweeps: dict[str, dict[float, list[float]]]) -> str:
    """Learning rate x arm, test accuracy (%, mean ± t 95% half-width over seeds)."""
    lrs = sorted({lr for sweep in sweeps.values() for lr in sweep})
    rows = [[f"{lr:g}", *(interval_cell(s.get(lr, [])) for s in sweeps.values())] for lr in lrs]
    return f"(test accuracy %, {INTERVAL_OVER_SEEDS})\n" + text_table(["lr", *sweeps], rows)


def plot_sweep(sweeps: dict[str, dict[float, list[float]]], title: str, mark: float | None = None):
    """Accuracy against learning rate (log axis), one line per arm, t 95% error bars."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.6), layout="constrained")
    plot_intervals(ax, sweeps)
    if mark is not None:
        ax.axvline(mark, color="gray", ls="--", label=f"pretraining lr {mark:g}")
    n = len(next(iter(next(iter(sweeps.values())).values())))
    ax.set(xscale="log", ylim=(0, 100), ylabel="test accuracy (%)",
           xlabel="fine-tuning learning rate (head; Adam; log scale)")  # fmt: skip
    ax.set_title(f"{title}\n(mean, t 95% interval over {n} seeds)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return fig


# --------------------------------------------------------------------------------------------
# The fine-tuning lab (ipywidgets)
# --------------------------------------------------------------------------------------------


def fine_tuning_lab(
    state: dict[str, torch.Tensor], target: Target, scratch_state: dict[str, torch.Tensor],
    steps: int = 60, curve_every: int = 6, seed: int = 0,
    device: torch.device | str | None = None,
) -> tuple[object, Callable[[], object]]:  # fmt: skip
    """Widgets to pick trainable layers, learning rate, per-layer divisor and steps; "run"
    fine-tunes (with ``seed``) and draws its test curve beside training from scratch.

    Returns ``(widget, run)``; call ``run()`` to run once without clicking.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    boxes = [widgets.Checkbox(value=True, description=n, indent=False) for n in LAYER_NAMES]
    lr = widgets.FloatLogSlider(value=3e-3, base=10, min=-4, max=-1, step=0.25, description="lr")
    factor = widgets.FloatSlider(value=2.6, min=1.0, max=4.0, step=0.1, description="divide/layer")
    n_steps = widgets.IntSlider(value=steps, min=12, max=180, step=6, description="steps")
    scratch: dict[int, FineTuneResult] = {}

    def on_run() -> FineTuneResult | None:
        chosen = tuple(i for i, b in enumerate(boxes) if b.value)
        if not chosen:
            print("Tick at least one layer to train.")
            return None
        recipe = Recipe(lr=lr.value, steps=n_steps.value, trainable=chosen, factor=factor.value)
        res = run_recipe(state, target, recipe, seed, device, curve_every)
        if n_steps.value not in scratch:
            base = Recipe(lr=3e-3, steps=n_steps.value)
            scratch[n_steps.value] = run_recipe(
                scratch_state, target, base, seed, device, curve_every
            )
        fig, ax = plt.subplots(figsize=(11, 4.4), layout="constrained")
        label = "+".join(LAYER_NAMES[i] for i in chosen)
        ax.plot(res.curve_steps, [100 * v for v in res.curve], "o-", label=f"fine-tune {label}")
        base = scratch[n_steps.value]
        ax.plot(base.curve_steps, [100 * v for v in base.curve], "s--", color="gray",
                label="from scratch")  # fmt: skip
        ax.set(xlabel="fine-tuning step", ylabel="test accuracy (%)", ylim=(0, 100))
        ax.set_title(
            f"{target.name}: lr {lr.value:.1e}, ÷{factor.value:.1f} per layer (seed {seed})"
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        ax.grid(alpha=0.3)
        plt.show()
        return res

    return run_panel([boxes, [lr, factor], [n_steps]], on_run, label="run")
