"""Notebook 02: fine-tuning rules of thumb, each one a small measured experiment.

A small CNN is pretrained once per source (cached in the one store) and fine-tuned on a
held-out alphabet, or on pretraining classes under a shift. Every arm of a rule shares the seeds
and the drawer splits, so arms are compared by paired differences over seeds
(:func:`stats.paired_difference`); each verdict is read off the interval (:func:`stats.verdict`):
*holds* (the rule's arm is better), *contradicted* (it is worse), or *inconclusive*.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

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
from lecture_utils.experiments.nb02_fine_tuning.runs import Pretrainings, Start, Target, run_recipe
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
    seeds: Sequence[int] = (0,), channels: int = 32, device: torch.device | str | None = None,
) -> tuple[dict[str, Pretrainings], dict[str, str]]:  # fmt: skip
    """``({source: Pretrainings}, {source: how it was obtained})`` for :data:`SOURCES`:
    Omniglot as drawn, inverted Omniglot (a shifted source) and no pretraining, each once per
    pretraining seed in ``seeds`` (cached on disk)."""
    states: dict[str, Pretrainings] = {}
    how: dict[str, str] = {}
    for name in SOURCES:
        done, loaded = [], 0
        for seed in seeds:
            if name == "none":
                model = new_classifier(pretrain.num_classes, channels, seed)
            else:
                data = fine_tuning.shift_images(
                    pretrain, "invert" if name == "inverted" else "none"
                )
                settings = PretrainSettings(
                    steps=steps, channels=channels, lr=lr, batch_size=64, schedule="cosine",
                    augment="shift", strength=2, seed=seed,
                )  # fmt: skip
                model, info = pretrained_classifier(
                    data, characters, settings, cache="fine_tuning", device=device,
                    progress=f"pretrain {name}, seed {seed}",
                )  # fmt: skip
                loaded += info.loaded
            done.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        states[name] = Pretrainings(tuple(done), tuple(seeds))
        if name == "none":
            how[name] = "random initialisation"
        else:
            how[name] = f"{loaded} loaded from cache, {len(seeds) - loaded} trained now"
    return states, how


_MEMO: dict[tuple, tuple] = {}


def clear_memo() -> None:
    """Forget the memoised runs of :func:`scores_of` (and the validation targets)."""
    _MEMO.clear()
    _VALIDATION.clear()


def scores_of(
    state: Start, target: Target, recipe: Recipe, seed: int,
    device: torch.device | str | None = None,
) -> list[float]:  # fmt: skip
    """``run_recipe(...).scores``, memoised: the same (state, target, recipe, seed) run is
    trained once, so an arm shared by several rules (the fair full fine-tuning) costs once."""
    key = (id(state), id(target), recipe, seed, str(device))
    if key not in _MEMO:  # the value keeps state and target alive, so their ids stay unique
        scores = run_recipe(state, target, recipe, seed=seed, device=device).scores
        _MEMO[key] = (state, target, scores)
    return _MEMO[key][2]


def arm(
    state: Start, targets: dict[int, Target], recipe: Recipe,
    device: torch.device | str | None = None, part: int = 0,
) -> Callable[[int], float]:  # fmt: skip
    """One arm of an experiment: seed -> accuracy of ``recipe`` on ``targets[seed]``'s test
    drawers (``part=0``) or fresh drawers (``part=1``)."""
    return lambda s: scores_of(state, targets[s], recipe, s, device)[part]


def fair_recipe(head_lr: float, trunk_lr: float, steps: int, **changes: object) -> Recipe:
    """The fair protocol: the new head at its own ``head_lr`` (also in an LP-FT probe), the
    trunk at ``trunk_lr``; a rule changes only the trunk or the factor it names."""
    return Recipe(lr=head_lr, trunk_lr=trunk_lr, lp_lr=head_lr, steps=steps, **changes)


def validation_target(target: Target, k: int | None = None) -> Target:
    """Hold out one fold (of ``k`` drawer-grouped folds; by default ``k`` = the shots per
    class, i.e. one drawer per class) of ``target.train`` as validation data: ``train`` = the
    rest, ``test`` = the held-out drawers. Choices are made on these; the target's own test
    drawers stay unseen."""
    if k is None:
        k = int(torch.bincount(target.train.y, minlength=target.train.num_classes).min())
    tr, va = fine_tuning.kfold_indices(target.train, k)[0]
    return replace(
        target, name=f"{target.name} (validation)", train=fine_tuning.subset(target.train, tr),
        test=fine_tuning.subset(target.train, va), fresh=None,
    )  # fmt: skip


_VALIDATION: dict[int, tuple[Target, Target]] = {}


def _validation_of(target: Target) -> Target:
    """:func:`validation_target` of ``target``, one object per target (for the memo)."""
    if id(target) not in _VALIDATION:  # the value keeps target alive, so its id stays unique
        _VALIDATION[id(target)] = (target, validation_target(target))
    return _VALIDATION[id(target)][1]


def pick_on_validation(
    state: Start, targets: dict[int, Target], recipes: dict, seeds: Sequence[int],
    desc: str, device: torch.device | str | None = None, progress: bool = True,
) -> tuple[object, dict[object, list[float]]]:  # fmt: skip
    """Every recipe on each seed's :func:`validation_target`; returns ``(key with the best mean
    validation accuracy, {key: validation scores})``. No test drawer is used. The validation
    targets are built once per target, so runs shared by two calls are memoised."""
    val = {s: _validation_of(targets[s]) for s in seeds}
    scores = run_arms({k: arm(state, val, r, device) for k, r in recipes.items()}, seeds, desc,
                      progress)  # fmt: skip
    return best(scores), scores


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


@dataclass
class Surgical:
    """Surgical fine-tuning results per arm (a layer name): the rate chosen on validation,
    the validation and test scores at that rate (seed-paired), the step whose weights were kept
    (early stopping) and each seed's validation curve ``(steps, accuracy)``."""

    lr: dict[str, float]
    val: dict[str, list[float]]
    test: dict[str, list[float]]
    stopped: dict[str, list[int]]
    curves: dict[str, list[tuple[list[int], list[float]]]]


def surgical(
    state: Start, targets: dict[int, Target], layers: dict[str, object],
    lrs: Sequence[float], seeds: Sequence[int], desc: str, *, max_steps: int, every: int,
    patience: int, batch_size: int = 20, device: torch.device | str | None = None,
    progress: bool = True,
) -> Surgical:  # fmt: skip
    """Tune only ``layers[name]`` (head kept), for each rate of ``lrs``, on each seed's
    :func:`validation_target`, checking the validation drawers every ``every`` steps and
    stopping once ``patience`` checks in a row did not improve (at most ``max_steps``; the best
    weights are kept). Each arm's rate is the one with the best mean validation accuracy; its
    test scores come from the target's test drawers, which no choice saw."""
    runs: dict[tuple, list] = {}
    plan = [(name, lr, s) for name in layers for lr in lrs for s in seeds]
    with runtime.single_thread():
        for name, lr, s in runtime.progress(plan, desc=desc, disable=not progress):
            val = validation_target(targets[s])
            recipe = Recipe(lr=lr, steps=max_steps, batch_size=batch_size,
                            trainable=layers[name], reinit_head=False)  # fmt: skip
            res = run_recipe(state, val, recipe, s, device, curve_every=every,
                             evaluate=[val.test, targets[s].test], patience=patience)  # fmt: skip
            runs.setdefault((name, lr), []).append(res)
    out = Surgical({}, {}, {}, {}, {})
    for name in layers:
        lr = best({lr: [r.scores[0] for r in runs[(name, lr)]] for lr in lrs})
        chosen = runs[(name, lr)]
        out.lr[name] = lr
        out.val[name] = [r.scores[0] for r in chosen]
        out.test[name] = [r.scores[1] for r in chosen]
        out.stopped[name] = [r.best_step for r in chosen]
        out.curves[name] = [(r.curve_steps, r.curve) for r in chosen]
    return out


def plot_surgical_curves(result: Surgical, names: Sequence[str], title: str, max_steps: int):
    """Each seed's validation accuracy against steps for the arms ``names`` (at their chosen
    rates), the kept step marked: flat ends before ``max_steps`` show the budget sufficed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.6), layout="constrained")
    for i, name in enumerate(names):
        for j, ((steps, curve), stop) in enumerate(
            zip(result.curves[name], result.stopped[name], strict=True)
        ):
            label = f"{name} (lr {result.lr[name]:g})" if j == 0 else None
            ax.plot(steps, [100 * v for v in curve], color=f"C{i}", alpha=0.7, label=label)
            ax.plot([stop], [100 * curve[steps.index(stop)]], "o", color=f"C{i}")
    ax.axvline(max_steps, color="gray", ls="--", label=f"budget cap {max_steps}")
    ax.set(xlabel="step", ylabel="validation accuracy (%)", ylim=(0, 100))
    ax.set_title(f"{title}\n(one line per seed; dot: the step kept)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.grid(alpha=0.3)
    return fig


# --------------------------------------------------------------------------------------------
# Findings and verdicts: paired t intervals over shared seeds
# --------------------------------------------------------------------------------------------


@runtime.marks_fast_mode
def sweep_table(sweeps: dict[str, dict[float, list[float]]], what: str = "test accuracy") -> str:
    """Learning rate x arm, ``what`` (%, mean ± t 95% half-width over seeds)."""
    lrs = sorted({lr for sweep in sweeps.values() for lr in sweep})
    rows = [[f"{lr:g}", *(interval_cell(s.get(lr, [])) for s in sweeps.values())] for lr in lrs]
    return f"({what} %, {INTERVAL_OVER_SEEDS})\n" + text_table(["lr", *sweeps], rows)


def plot_sweep(
    sweeps: dict[str, dict[float, list[float]]], title: str, mark: float | None = None,
    what: str = "test accuracy", xlabel: str = "fine-tuning learning rate (head; Adam)",
):  # fmt: skip
    """``what`` against learning rate (log axis), one line per arm, t 95% error bars."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.6), layout="constrained")
    plot_intervals(ax, sweeps)
    if mark is not None:
        ax.axvline(mark, color="gray", ls="--", label=f"pretraining lr {mark:g}")
    n = len(next(iter(next(iter(sweeps.values())).values())))
    ax.set(xscale="log", ylim=(0, 100), ylabel=f"{what} (%)", xlabel=f"{xlabel}; log scale")
    ax.set_title(f"{title}\n(mean, t 95% interval over {n} seeds)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return fig


# --------------------------------------------------------------------------------------------
# The fine-tuning lab (ipywidgets)
# --------------------------------------------------------------------------------------------


def fine_tuning_lab(
    state: Start, target: Target, scratch_state: Start,
    head_lr: float, trunk_lr: float, steps: int = 60, curve_every: int = 6, seed: int = 0,
    device: torch.device | str | None = None,
) -> tuple[object, Callable[[], object]]:  # fmt: skip
    """Widgets for the fair protocol (:func:`fair_recipe`): trainable trunk blocks, the new
    head's rate, the trunk's rate, a per-block divisor and steps; "run" fine-tunes (with
    ``seed``) and draws its test curve beside training from scratch (head at the same rate,
    trunk at the pretraining rate 3e-3).

    Returns ``(widget, run)``; call ``run()`` to run once without clicking.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    head = len(LAYER_NAMES) - 1
    boxes = [widgets.Checkbox(value=True, description=n, indent=False) for n in LAYER_NAMES[:-1]]
    head_rate = widgets.FloatLogSlider(value=head_lr, base=10, min=-4, max=-1, step=0.25,
                                       description="head lr")  # fmt: skip
    trunk_rate = widgets.FloatLogSlider(value=trunk_lr, base=10, min=-5, max=-1, step=0.25,
                                        description="trunk lr")  # fmt: skip
    factor = widgets.FloatSlider(value=1.0, min=1.0, max=4.0, step=0.1, description="divide/block")
    n_steps = widgets.IntSlider(value=steps, min=12, max=180, step=6, description="steps")
    scratch: dict[tuple[int, float], FineTuneResult] = {}

    def on_run() -> FineTuneResult | None:
        chosen = tuple(i for i, b in enumerate(boxes) if b.value) + (head,)
        recipe = fair_recipe(head_rate.value, trunk_rate.value, n_steps.value,
                             trainable=chosen, factor=factor.value)  # fmt: skip
        res = run_recipe(state, target, recipe, seed, device, curve_every)
        key = (n_steps.value, head_rate.value)
        if key not in scratch:
            base = fair_recipe(head_rate.value, 3e-3, n_steps.value)
            scratch[key] = run_recipe(scratch_state, target, base, seed, device, curve_every)
        fig, ax = plt.subplots(figsize=(11, 4.4), layout="constrained")
        label = "+".join(LAYER_NAMES[i] for i in chosen)
        ax.plot(res.curve_steps, [100 * v for v in res.curve], "o-", label=f"fine-tune {label}")
        base = scratch[key]
        ax.plot(base.curve_steps, [100 * v for v in base.curve], "s--", color="gray",
                label="from scratch")  # fmt: skip
        ax.set(xlabel="fine-tuning step", ylabel="test accuracy (%)", ylim=(0, 100))
        ax.set_title(
            f"{target.name}: head lr {head_rate.value:.1e}, trunk lr {trunk_rate.value:.1e}, "
            f"÷{factor.value:.1f} per block (seed {seed})"
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        ax.grid(alpha=0.3)
        plt.show()
        return res

    return run_panel([boxes, [head_rate, trunk_rate], [factor, n_steps]], on_run, label="run")
