"""Notebook 01: multi-task learning vs transfer learning on two Omniglot tasks.

Task **B** (source) classifies the characters of several alphabets with many drawers each; task
**A** (target) classifies another alphabet from 1-10 drawers per character. Four ways to solve A:
``scratch`` (A alone), ``multitask`` (one trunk, two heads, ``w·L_A + (1-w)·L_B``), ``finetune``
(pretrain on B, new head, train everything on A) and ``linear_probe`` (pretrain on B, freeze the
trunk, train a new head). Every run goes through :func:`trainer.train` with step budgets; the
pretrained networks are cached on disk
(:func:`~lecture_utils.training.pretrain.pretrained_classifier`) and the runs
are memoised in memory under a key of their settings, so the widget only trains what is new.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from lecture_utils.analysis.tables import (
    Run,
    Runs,
    interval_cell,
    interval_table,
    paired_text,
    plot_band,
    text_table,
)
from lecture_utils.analysis.widget_panel import run_panel
from lecture_utils.core import runtime
from lecture_utils.data.labelled import accuracy, few_shot, few_shot_split
from lecture_utils.experiments.nb01_multitask.tasks import TwoTasks
from lecture_utils.models import convnet
from lecture_utils.training import fine_tuning
from lecture_utils.training.multitask import train_multitask
from lecture_utils.training.pretrain import (
    PretrainSettings,
    new_classifier,
    pretrained_classifier,
    trainer,
)

METHODS = ("scratch", "multitask", "finetune", "linear_probe")
METHOD_LABELS = {
    "scratch": "A from scratch",
    "multitask": "multi-task (A+B jointly)",
    "finetune": "transfer: fine-tune all",
    "linear_probe": "transfer: linear probe",
}
METHOD_COLORS = {
    "scratch": "tab:gray",
    "multitask": "tab:purple",
    "finetune": "tab:blue",
    "linear_probe": "tab:orange",
}
CURVE_POINTS = 10  # forgetting curves: accuracy measured this many times while fine-tuning


@dataclass(frozen=True)
class Budget:
    """Optimiser steps, batch sizes and learning rates of every method.

    Pretraining and multi-task training draw B batches the same way (``batch_size`` images per
    step, shifted by up to ``max_shift`` pixels, rate ``lr`` decayed to 0 on a cosine);
    multi-task adds ``multitask_target_batch`` images of A to each step.
    """

    channels: int = 32
    pretrain_steps: int = 800
    multitask_steps: int = 800  # = pretrain_steps: equal compute (cheaper: with_budget(...))
    adapt_steps: int = 100
    probe_steps: int = 300
    batch_size: int = 48
    multitask_target_batch: int = 16
    adapt_batch_size: int = 32
    lr: float = 3e-3
    finetune_lr: float = 1e-3
    head_lr: float = 1e-2
    max_shift: int = 2

    def __post_init__(self) -> None:
        for name in ("channels", "pretrain_steps", "multitask_steps", "adapt_steps", "probe_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"Budget.{name}={getattr(self, name)} must be at least 1.")
        if self.max_shift < 0:
            raise ValueError(f"Budget.max_shift={self.max_shift} must be 0 (no shifts) or more.")


def default_budget() -> Budget:
    """The full-mode budget, or a much smaller one in fast mode (same code paths)."""
    small = Budget(pretrain_steps=20, multitask_steps=20, adapt_steps=10, probe_steps=30)
    return runtime.budget(Budget(), small)


with_budget = replace  # with_budget(budget, **changes): a copy with some fields changed


# --------------------------------------------------------------------------------------------
# Training: pretraining (cached), the joint multi-task loss, adaptation
# --------------------------------------------------------------------------------------------


def pretrained_on_source(
    tasks: TwoTasks, budget: Budget, seed: int, device: torch.device | str | None = None,
    progress: str | bool = True,
) -> convnet.Classifier:  # fmt: skip
    """A trunk + B head pretrained on B (loaded from the cache when it was trained before)."""
    settings = PretrainSettings(
        steps=budget.pretrain_steps, channels=budget.channels, lr=budget.lr,
        batch_size=budget.batch_size, schedule="cosine", augment="shift",
        strength=budget.max_shift, seed=seed,
    )  # fmt: skip
    model, _ = pretrained_classifier(
        tasks.source_train, tasks.source_characters, settings, cache="multitask_transfer",
        device=device, progress=f"pretrain on B (seed {seed})" if progress else False,
    )  # fmt: skip
    return model


_RESULTS: dict[tuple, Run] = {}


def clear_caches() -> None:
    """Forget the memoised runs (the pretrained networks stay in the disk cache)."""
    _RESULTS.clear()


def _adapt(method, tasks, target, budget, seed, weight, track, device, label) -> Run:
    """Train one method on ``target``; a :class:`Run` with scores ``"A"`` and ``"B"``."""
    n_a, n_b = tasks.target_test.num_classes, tasks.source_train.num_classes
    info: dict = {}
    if method == "scratch":
        model = new_classifier(n_a, budget.channels, seed)
        trainer.train(
            model, target, steps=budget.adapt_steps, lr=budget.lr, seed=seed, device=device,
            batch_size=budget.adapt_batch_size, progress=label,
        )  # fmt: skip
        info["params"] = convnet.count_parameters(model)
        scores = {"A": accuracy(model, tasks.target_test), "B": None}
        return Run(method, 0, seed, scores, None, info)
    if method == "multitask":
        with runtime.seeded_init(seed):
            model = convnet.MultiHeadClassifier(
                convnet.ConvTrunk(budget.channels), {"A": n_a, "B": n_b}
            )
        train_multitask(
            model, target, tasks.source_train, weight, steps=budget.multitask_steps,
            lr=budget.lr, batch_size=budget.batch_size, max_shift=budget.max_shift,
            target_batch_size=budget.multitask_target_batch, seed=seed, device=device,
            progress=label,
        )  # fmt: skip
        info["params"] = convnet.count_parameters(model)
        scores = {
            "A": accuracy(model, tasks.target_test, task="A"),
            "B": accuracy(model, tasks.source_test, task="B"),
        }
        return Run(method, 0, seed, scores, weight, info)
    model = pretrained_on_source(tasks, budget, seed, device, bool(label))
    source_view = nn.Sequential(model.trunk, copy.deepcopy(model.head))  # B's head, aside
    with runtime.seeded_init(seed):
        model.reset_head(n_a)
    if method == "finetune":
        recipe = fine_tuning.Recipe(
            lr=budget.head_lr, trunk_lr=budget.finetune_lr, steps=budget.adapt_steps,
            batch_size=budget.adapt_batch_size,
        )  # fmt: skip
        every = max(1, budget.adapt_steps // CURVE_POINTS) if track else None
    else:  # linear probe: only the new head trains; the frozen trunk keeps B's accuracy
        recipe = fine_tuning.Recipe(
            lr=budget.head_lr, steps=budget.probe_steps, batch_size=budget.adapt_batch_size,
            trainable=(len(model.layers()) - 1,),
        )  # fmt: skip
        every = None
    result = fine_tuning.fine_tune(
        model, target, recipe, evaluate=[tasks.target_test], curve_every=every, seed=seed,
        monitor=lambda: accuracy(source_view, tasks.source_test), device=device, progress=label,
    )  # fmt: skip
    info["params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if every:
        info.update(steps=result.curve_steps, A=result.curve, B=result.monitor_curve)
    scores = {"A": result.scores[0], "B": accuracy(source_view, tasks.source_test)}
    return Run(method, 0, seed, scores, None, info)


def run_method(
    tasks: TwoTasks, method: str, shots: int, seed: int, budget: Budget, weight: float = 0.5,
    track_forgetting: bool = False, device: torch.device | str | None = None,
    progress: bool = True,
) -> Run:  # fmt: skip
    """Train one method on ``shots`` examples per A character; test on A's and B's drawers.

    Returns a :class:`Run` (``x`` = shots, scores ``"A"``/``"B"``, ``tag`` = the multi-task
    weight). Memoised on the settings (never on object ids): a repeated call is instant.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose from {list(METHODS)}.")
    device = runtime.resolve_device(device)
    track = track_forgetting and method == "finetune"
    base = (tasks.key, method, shots, seed, budget, weight if method == "multitask" else None)
    for key in ((*base, str(device), True), (*base, str(device), track)):
        if key in _RESULTS:  # a run that tracked forgetting also answers one that did not
            return _RESULTS[key]
    start = time.perf_counter()
    target = few_shot(tasks.target_pool, shots, seed=seed)
    label = f"{method}, {shots}-shot, seed {seed}" if progress else False
    run = _adapt(method, tasks, target, budget, seed, weight, track, device, label)
    run.x = shots
    run.info["seconds"] = time.perf_counter() - start
    _RESULTS[(*base, str(device), track)] = run
    return run


def run_experiment(
    tasks: TwoTasks, shots: Sequence[int], methods: Sequence[str] = METHODS,
    seeds: Sequence[int] = (0, 1, 2), budget: Budget | None = None, weight: float = 0.5,
    extra_weights: Sequence[float] = (), sweep_shots: int | None = None,
    forgetting_shots: int | None = None, track_forgetting: bool = True,
    device: torch.device | str | None = None, progress: bool = True,
) -> Runs:  # fmt: skip
    """Every method x shot count x seed, plus a multi-task weight sweep at ``sweep_shots``.

    Fine-tuning at ``forgetting_shots`` (default: the most shots) records A and B accuracy
    while it trains. Runs on one torch thread (restored afterwards).
    """
    budget = budget or default_budget()
    if not methods or any(m not in METHODS for m in methods):
        raise ValueError(f"methods={list(methods)} must be a non-empty subset of {list(METHODS)}.")
    if not shots or not seeds:
        raise ValueError("run_experiment needs at least one shot count and one seed.")
    forgetting_shots = max(shots) if forgetting_shots is None else forgetting_shots
    plan = []
    for seed in seeds:  # seed-major: each pretrained trunk is reused while it is fresh
        plan += [(m, k, seed, weight) for k in shots for m in methods]
        if "multitask" in methods and sweep_shots is not None:
            plan += [("multitask", sweep_shots, seed, w) for w in extra_weights if w != weight]
    start = time.perf_counter()
    track = track_forgetting
    with runtime.single_thread():
        bar = runtime.progress(plan, desc="runs", disable=not progress)
        runs = [
            run_method(tasks, m, k, s, budget, w, track and k == forgetting_shots, device, progress)
            for m, k, s, w in bar
        ]
    return Runs(runs, time.perf_counter() - start)


# --------------------------------------------------------------------------------------------
# Tables, figures and verdicts (every ± a Student-t 95% interval over seeds)
# --------------------------------------------------------------------------------------------


def _labels(runs: Runs) -> dict[str, str]:
    return {m: METHOD_LABELS[m] for m in METHODS if m in runs.arms}


@runtime.marks_fast_mode
def accuracy_table(runs: Runs, weight: float = 0.5) -> str:
    """Accuracy on A's test drawers (%): methods x shots, mean ± t 95% half-width."""
    rows = {
        label: {f"{int(k)}-shot": values for k, values in points.items()}
        for label, points in runs.series(_labels(runs), "A", weight).items()
    }
    return runs.note() + "\n" + interval_table(rows)


@runtime.marks_fast_mode
def summary_table(runs: Runs, shots: int, weight: float = 0.5) -> str:
    """A and B accuracy at one shot count (mean ± t 95%), and what each method trains."""
    rows = []
    for m, label in _labels(runs).items():
        b = runs.values(m, shots, "B", weight)
        chosen = runs.select(m, shots, weight)
        params = f"{chosen[0].info['params']:,}" if chosen else "n/a"
        a = interval_cell(runs.values(m, shots, "A", weight))
        rows.append([label, a, interval_cell(b) if b else "(no B head)", params])
    head = ["method", "acc. on A", "acc. on B", "params trained"]
    return runs.note() + "\n" + text_table(head, rows)


@runtime.marks_fast_mode
def two_task_table(entries: dict[str, tuple[Runs, str, float | None]], shots: int) -> str:
    """A and B accuracy (mean ± t 95%) of ``{row label: (runs, method, weight)}``."""
    rows = {
        label: {
            "acc. on A": runs.values(m, shots, "A", w),
            "acc. on B": runs.values(m, shots, "B", w),
        }
        for label, (runs, m, w) in entries.items()
    }
    note = next(iter(entries.values()))[0].note()
    return note + "\n" + interval_table(rows, f"{shots} examples per A class")


@runtime.marks_fast_mode
def weight_sweep_table(runs: Runs, shots: int) -> str:
    """Multi-task accuracy on A and B for each loss weight w (mean ± t 95%)."""
    weights = sorted({r.tag for r in runs.select("multitask", shots)})
    return two_task_table({f"w = {w:.2f}": (runs, "multitask", w) for w in weights}, shots)


def cost_table(tasks: TwoTasks, budget: Budget) -> str:
    """What each method needs when task A arrives (parameter counts from the actual models)."""
    n_a, n_b = tasks.target_test.num_classes, tasks.source_train.num_classes
    with runtime.seeded_init(0):  # only counted, never trained
        trunk = convnet.ConvTrunk(channels=budget.channels)
    full_a = convnet.count_parameters(convnet.Classifier(trunk, n_a))
    multi = convnet.count_parameters(convnet.MultiHeadClassifier(trunk, {"A": n_a, "B": n_b}))
    probe = convnet.count_parameters(nn.Linear(trunk.out_features, n_a))
    after, b = "yes: after pretrain", budget
    img = lambda n, batch, on="A": f"{n} steps on {on} ({n * batch:,} images)"  # noqa: E731
    rows = [
        ["scratch", "no", "no", f"{full_a:,}", img(b.adapt_steps, b.adapt_batch_size)],
        ["multitask", f"yes ({len(tasks.source_train)} images)", "no: 1 joint run", f"{multi:,}",
         img(b.multitask_steps, b.batch_size + b.multitask_target_batch, "A+B")],
        ["finetune", "no", after, f"{full_a:,}", img(b.adapt_steps, b.adapt_batch_size)],
        ["linear_probe", "no", after, f"{probe:,}", img(b.probe_steps, b.adapt_batch_size)],
    ]  # fmt: skip
    head = ["method", "needs B data when A arrives", "second run", "params trained", "compute"]
    table = text_table(head, [[METHOD_LABELS[r[0]], *r[1:]] for r in rows])
    return table + (
        f"\n(transfer also pays one pretraining run on B per seed: {b.pretrain_steps} steps, "
        f"{b.pretrain_steps * b.batch_size:,} images, reused for every A and shot count)"
    )


def plot_accuracy_vs_shots(runs: Runs, weight: float = 0.5, ax=None):
    """Accuracy on A against examples per class, one line per method, t 95% error bars."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.8), layout="constrained")
    labels = {m: f"{label} (w={weight})" if m == "multitask" else label
              for m, label in _labels(runs).items()}  # fmt: skip
    runs.plot(ax, labels, "A", weight, METHOD_COLORS)
    ax.set_xlabel("labelled examples per class of task A (log scale)")
    ax.set_ylabel("accuracy on A's test drawers (%)")
    ax.set_title(f"Task A accuracy vs data\n(mean, t 95% interval over {len(runs.seeds)} seeds)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return ax.figure


def plot_forgetting(runs: Runs, shots: int, weight: float = 0.5, compare=None):
    """Fine-tuning's accuracy on B and on A while it trains (mean, t 95% band), against
    multi-task and the probe; ``compare`` adds ``{label: runs}`` fine-tuning curves."""
    import matplotlib.pyplot as plt

    curves = {"transfer: fine-tune all": runs, **(compare or {})}
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 5.4), layout="constrained")
    colors = [METHOD_COLORS["finetune"], "tab:red", "tab:green", "tab:brown"]
    for ax, task in zip(axes, ("B", "A"), strict=True):
        for (label, e), color in zip(curves.items(), colors, strict=False):
            plot_band(ax, *e.curves("finetune", shots, task), label, color)
        for m in ("multitask", "linear_probe"):
            if runs.values(m, shots, task, weight):
                mean = 100 * runs.mean(m, shots, task, weight)
                ax.axhline(mean, color=METHOD_COLORS[m], ls="--", label=METHOD_LABELS[m])
        ax.set_ylim(0, 100)
        ax.set_xlabel("fine-tuning step on A (0 = right after pretraining on B)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"task {task}" + (" — with B's own head, kept aside" if task == "B" else ""))
        ax.grid(alpha=0.3)
    fig.legend(*axes[1].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    n = len(runs.seeds)
    fig.suptitle(f"Fine-tuning on {shots} examples per A class (bands: t 95% over {n} seeds)")
    return fig


def forgetting_report(experiments: dict[str, Runs], shots: int) -> str:
    """Per fine-tuning setting: A, B before and after, the paired change and the B curve."""
    lines = []
    for label, e in experiments.items():
        steps, curves = e.curves("finetune", shots, "B")
        before, after = [c[0] for c in curves], [c[-1] for c in curves]
        mean = torch.tensor(curves).mean(0).tolist()
        drop = paired_text(before, after) if len(curves) > 1 else "(one seed: no interval)"
        lines += [
            f"{label}: A {interval_cell(e.values('finetune', shots, 'A'))}%, "
            f"B {interval_cell(before)}% before -> {interval_cell(after)}% after",
            f"  drop on B (before - after): {drop}",
            "  B (mean %) at step "
            + ", ".join(f"{s}: {100 * v:.1f}" for s, v in zip(steps, mean, strict=True)),
        ]
    return "\n".join(lines)


# The comparisons the notebook reports, named before the run (never "the best of" on test).
DECLARED = (
    ("finetune", "multitask"),
    ("linear_probe", "multitask"),
    ("finetune", "scratch"),
    ("linear_probe", "scratch"),
    ("multitask", "scratch"),
)


def declared_comparisons(
    runs: Runs, weight: float = 0.5, pairs: Sequence[tuple[str, str]] = DECLARED
) -> str:
    """Each pre-declared ``(arm, baseline)`` of ``pairs`` at every shot count: the paired
    difference on A with its t 95% interval and verdict. No arm is picked on the test scores."""
    lines = []
    for arm, baseline in pairs:
        if arm not in runs.arms or baseline not in runs.arms:
            continue
        lines.append(f"{METHOD_LABELS[arm]} minus {METHOD_LABELS[baseline]} (paired over seeds)")
        for k in runs.xs:
            a, b = runs.values(arm, k, "A", weight), runs.values(baseline, k, "A", weight)
            gap = (
                paired_text(a, b) if len(a) > 1 else f"{100 * (a[0] - b[0]):+.1f} points (one seed)"
            )
            lines.append(f"  shots {k:g}: {gap}")
    return "\n".join(lines)


def findings_markdown(runs: Runs, weight: float = 0.5) -> str:
    """The run's main results as Markdown bullets, written from the numbers (means on A and
    the declared paired comparisons at the fewest and the most shots)."""
    first, last = min(runs.xs), max(runs.xs)

    def gap(arm: str, baseline: str, k: float) -> str:
        a, b = runs.values(arm, k, "A", weight), runs.values(baseline, k, "A", weight)
        if len(a) < 2:
            return f"{100 * (a[0] - b[0]):+.1f} points (one seed)"
        return paired_text(a, b)

    def pct(method: str, k: float) -> str:
        return f"{100 * runs.mean(method, k, 'A', weight):.1f}%"

    lines = []
    for arm, baseline in DECLARED:
        if arm not in runs.arms or baseline not in runs.arms:
            continue
        lines.append(
            f"* **{METHOD_LABELS[arm]} vs {METHOD_LABELS[baseline]}** ({pct(arm, last)} vs "
            f"{pct(baseline, last)} at {last:g} shots). At {first:g} shot(s): "
            f"{gap(arm, baseline, first)}. At {last:g} shots: {gap(arm, baseline, last)}."
        )
    return "\n".join(lines)


def choose_head_lr(
    tasks: TwoTasks, budget: Budget, lrs: Sequence[float], shots: int, seeds: Sequence[int],
    device: torch.device | str | None = None, progress: bool = True,
) -> tuple[float, dict[float, list[float]]]:  # fmt: skip
    """The new head's rate for fine-tuning, chosen on validation data: per seed, fine-tune the
    pretrained network (trunk at ``budget.finetune_lr``, head at each rate of ``lrs``) on
    ``shots`` examples per A class and score it on the pool drawers that draw left out (never
    A's test drawers). Returns ``(rate with the best mean, {rate: validation scores})``."""
    n_a = tasks.target_pool.num_classes
    scores: dict[float, list[float]] = {lr: [] for lr in lrs}
    plan = [(lr, s) for s in seeds for lr in lrs]
    with runtime.single_thread():
        for lr, seed in runtime.progress(plan, desc="head rate (validation)", disable=not progress):
            train, val = few_shot_split(tasks.target_pool, shots, seed=seed)
            if val is None:
                raise ValueError(f"shots={shots} leaves no pool drawer for validation.")
            model = pretrained_on_source(tasks, budget, seed, device, progress)
            with runtime.seeded_init(seed):
                model.reset_head(n_a)
            recipe = fine_tuning.Recipe(
                lr=lr, trunk_lr=budget.finetune_lr, steps=budget.adapt_steps,
                batch_size=budget.adapt_batch_size,
            )  # fmt: skip
            res = fine_tuning.fine_tune(model, train, recipe, evaluate=[val], seed=seed,
                                        device=device)  # fmt: skip
            scores[lr].append(res.scores[0])
    best = max(lrs, key=lambda lr: sum(scores[lr]) / len(scores[lr]))
    return best, scores


def closing_verdict(runs: Runs, weight: float = 0.5) -> str:
    """The multi-task vs transfer conclusion, with the numbers it rests on (means, %)."""
    k = max(runs.xs)

    def pct(method: str, task: str = "A") -> str:
        return f"{100 * runs.mean(method, k, task, weight):.1f}%"

    lines = [f"At {int(k)} examples per A class (means over {len(runs.seeds)} seeds):"]
    if "finetune" in runs.arms:
        tracked = [r for r in runs.select("finetune", k) if "B" in r.info]
        before = sum(r.info["B"][0] for r in tracked) / len(tracked) if tracked else None
        was = f" ({100 * before:.1f}% right after pretraining)" if tracked else ""
        lines.append(
            f"- transfer (fine-tune) reaches {pct('finetune')} on A; the same trunk with B's old "
            f"head now gives {pct('finetune', 'B')} on B{was}. Keeping B at its pretrained "
            "level means keeping a second copy of the pretrained network."
        )
    if "linear_probe" in runs.arms:
        lines.append(
            f"- transfer with a frozen trunk reaches {pct('linear_probe')} on A and keeps "
            f"{pct('linear_probe', 'B')} on B: two heads on one trunk, without B's data at "
            "adaptation time — a transfer solution to the two-task problem."
        )
    if "multitask" in runs.arms:
        lines.append(
            f"- multi-task (w={weight}) reaches {pct('multitask')} on A and "
            f"{pct('multitask', 'B')} on B, but only because B's training data was there while "
            "A was learned."
        )
    if "scratch" in runs.arms:
        lines.append(f"- A from scratch: {pct('scratch')} on A, nothing on B.")
    return "\n".join(lines)


def build_controls(
    tasks: TwoTasks, budget: Budget, seeds: Sequence[int] = (0,),
    default_shots: Sequence[int] = (1, 5), weight: float = 0.5,
    runner: Callable[..., Runs] = run_experiment, device: torch.device | str | None = None,
):  # fmt: skip
    """A panel: pick shots per class and methods, press Run, see the new figure and table.

    Returns ``(panel, run)``; ``run()`` does what the button does. Runs are memoised.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    shots_box = widgets.SelectMultiple(
        options=list(range(1, tasks.pool_per_class + 1)), value=tuple(default_shots),
        description="shots/class", rows=5,
    )  # fmt: skip
    boxes = {m: widgets.Checkbox(value=True, description=METHOD_LABELS[m], indent=False)
             for m in METHODS}  # fmt: skip

    def on_run() -> Runs | None:
        methods = [m for m, box in boxes.items() if box.value]
        shots = sorted(shots_box.value)
        if not methods or not shots:
            print("Pick at least one method and one shot count.")
            return None
        runs = runner(tasks, shots, methods, seeds=seeds, budget=budget, weight=weight,
                      track_forgetting=False, device=device)  # fmt: skip
        plot_accuracy_vs_shots(runs, weight=weight)
        plt.show()
        print(summary_table(runs, max(shots), weight=weight))
        return runs

    rows = [[shots_box, widgets.VBox(list(boxes.values()))]]
    return run_panel(rows, on_run, status=lambda r: f"{len(r.runs)} runs in {r.seconds:.1f} s")
