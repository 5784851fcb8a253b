"""Notebook 04: black-box adaptation on frozen Omniglot features — runners, sweeps and tables.

Everything is budgeted in optimiser steps and seeded, so a rerun gives the same numbers. The
figures are in :mod:`lecture_utils.experiments.nb04_black_box.plots`. Every ± printed here is a
Student-t 95% interval: over the meta-test tasks for one model, over seeds for a sweep.
"""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from lecture_utils.analysis.tables import INTERVAL_OVER_TASKS
from lecture_utils.analysis.verdicts import in_words
from lecture_utils.core import runtime, stats
from lecture_utils.experiments.nb04_black_box.setup import Setup
from lecture_utils.models import black_box
from lecture_utils.models.convnet import count_parameters
from lecture_utils.models.feature_bank import unfreeze_onto_images
from lecture_utils.training.evaluation import TaskAccuracy, evaluate, fixed_episodes
from lecture_utils.training.meta_training import MetaHistory, meta_train

LSTM_OPTIONS = dict(hidden=256, input_norm=True, logit_scale=5.0)  # see section (g)
FAMILY_OPTIONS = {"snail": dict(max_support=50)}  # SNAIL's dilations cover up to 10 shots in (f)
HANDOUT = {(2, 1): 90, (2, 2): 90, (3, 1): 80, (4, 1): 70}  # the homework's expectations (%)
# --------------------------------------------------------------------------------------------
# a. The five families
# --------------------------------------------------------------------------------------------


@dataclass
class FamilyRun:
    """Models, histories (the LSTM has one per curriculum stage), results and step counts."""

    models: dict[str, nn.Module] = field(default_factory=dict)
    histories: dict[str, list[MetaHistory]] = field(default_factory=dict)
    results: dict[str, TaskAccuracy] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    snapshots: dict[tuple[int, int], nn.Module] = field(default_factory=dict)


def train_lstm(
    setup: Setup,
    model: nn.Module,
    n_way: int,
    k_shot: int,
    steps: int,
    eval_every: int,
) -> MetaHistory:
    """One stage of the LSTM recipe of (g): 10 queries per class, clipping at norm 1."""
    return meta_train(
        model,
        setup.sampler(setup.split["train"], n_way=n_way, k_shot=k_shot, n_query=10),
        setup.tasks("val", setup.n_val, seed=7 + setup.seed, n_way=n_way, k_shot=k_shot),
        steps=steps,
        clip_grad=1.0,
        eval_every=eval_every,
        val_tasks=setup.n_val,
        name=f"lstm N={n_way} K={k_shot}",
        progress=f"LSTM N={n_way} K={k_shot}",
        seed=setup.seed,
    )


def lstm_curriculum(
    setup: Setup, stages: Sequence[tuple[int, int, int]], eval_every: int
) -> tuple[nn.Module, list[MetaHistory], dict[tuple[int, int], nn.Module]]:
    """Train one LSTM (5 label slots) through ``(n_way, k_shot, steps)`` stages in order;
    returns the model, one history per stage and a copy of the model after each stage."""
    model = black_box.build_model(
        "lstm", "features", n_way=setup.n_way, feature_dim=setup.bank.feature_dim,
        seed=setup.seed, **LSTM_OPTIONS,
    )  # fmt: skip
    histories, snapshots = [], {}
    for n_way, k_shot, steps in stages:
        histories.append(train_lstm(setup, model, n_way, k_shot, steps, eval_every))
        snapshots[(n_way, k_shot)] = copy.deepcopy(model).eval()
    return model, histories, snapshots


def train_families(
    setup: Setup, steps: int, lstm_stages: Sequence[tuple[int, int, int]], eval_every: int
) -> FamilyRun:
    """Each family on frozen features: ``steps`` meta-batches at N-way K-shot (the LSTM: its
    curriculum ``lstm_stages``), scored on the fixed meta-test tasks."""
    run = FamilyRun()
    for family in black_box.families():
        if family == "lstm":
            model, hists, run.snapshots = lstm_curriculum(setup, lstm_stages, eval_every)
        else:
            model = black_box.build_model(
                family, "features", n_way=setup.n_way, feature_dim=setup.bank.feature_dim,
                seed=setup.seed, **FAMILY_OPTIONS.get(family, {}),
            )  # fmt: skip
            train = setup.sampler(setup.split["train"])
            hists = [
                meta_train(
                    model,
                    train,
                    setup.val_tasks,
                    steps=steps,
                    eval_every=eval_every,
                    val_tasks=setup.n_val,
                    name=family,
                    seed=setup.seed,
                )  # fmt: skip
            ]
        run.models[family], run.histories[family] = model, hists
        run.steps[family] = sum(h.steps[-1] for h in hists)
        run.results[family] = setup.evaluate(model)
    return run


@runtime.marks_fast_mode
def family_table(setup: Setup, run: FamilyRun, baseline: TaskAccuracy) -> str:
    """Table (a): accuracy, parameters, meta-training steps and the size of phi."""
    n, k = setup.n_way, setup.k_shot
    lines = [f"{'family':<13}{'meta-test accuracy':>26}{'parameters':>12}{'steps':>8}{'|phi|':>7}"]
    for family, model in run.models.items():
        lines.append(
            f"{family:<13}{str(run.results[family]):>26}{count_parameters(model):>12,}"
            f"{run.steps[family]:>8}{model.phi_size(n, k):>7}"
        )
    ncm_phi = n * setup.bank.feature_dim
    lines.append(f"{'NCM (h)':<13}{str(baseline):>26}{0:>12}{0:>8}{ncm_phi:>7}")
    lines.append(f"({INTERVAL_OVER_TASKS}; + the shared frozen encoder: ")
    lines[-1] += f"{count_parameters(setup.encoder):,} parameters, {setup.pretrained.steps} steps)"
    return "\n".join(lines)


def fine_tune_end_to_end(
    setup: Setup, model: nn.Module, steps: int, lr: float = 3e-4
) -> tuple[nn.Module, MetaHistory, TaskAccuracy]:
    """A feature-trained model on a trainable copy of the encoder, meta-trained on images."""
    tuned = unfreeze_onto_images(model, setup.encoder)
    pixel_val = fixed_episodes(
        setup.pixel_sampler(setup.split["val"], batch_size=100, seed=7 + setup.seed), setup.n_val
    )
    history = meta_train(
        tuned, setup.pixel_sampler(setup.split["train"]), pixel_val, steps=steps, lr=lr,
        eval_every=steps, val_tasks=setup.n_val, name="attention, end to end", seed=setup.seed,
    )  # fmt: skip
    return tuned, history, setup.evaluate(tuned, setup.pixel_test)


# --------------------------------------------------------------------------------------------
# g-h. The homework settings; meta-learning vs the transfer baseline
# --------------------------------------------------------------------------------------------


def homework_settings(
    setup: Setup, run: FamilyRun, branch_steps: int, eval_every: int
) -> tuple[dict[tuple[int, int], TaskAccuracy], dict[tuple[int, int], MetaHistory]]:
    """The LSTM at (2,1), (2,2), (3,1), (4,1): snapshots of the (a) curriculum; (2, 2)
    continues from the (2, 1) snapshot for ``branch_steps`` steps."""
    stages = dict(zip(list(run.snapshots), run.histories["lstm"], strict=True))
    models = {key: run.snapshots[key] for key in HANDOUT if key in run.snapshots}
    model = copy.deepcopy(run.snapshots[(2, 1)])
    stages[(2, 2)] = train_lstm(setup, model, 2, 2, branch_steps, eval_every)
    models[(2, 2)] = model
    results = {}
    for n, k in HANDOUT:
        eps = setup.tasks("test", 1000, seed=11, n_way=n, k_shot=k)
        results[(n, k)] = evaluate(models[(n, k)], eps, setup.n_test)
    return results, {key: stages[key] for key in HANDOUT}


@runtime.marks_fast_mode
def homework_lines(results: dict, histories: dict) -> str:
    """One line per setting: accuracy ± t 95% against the handout's expectation."""
    lines = []
    for (n, k), acc in results.items():
        expected = HANDOUT[(n, k)]
        low, high = 100 * acc.interval.low, 100 * acc.interval.high
        where = "lies below" if high < expected else "lies above" if low > expected else "contains"
        lines.append(
            f"N={n} K={k}: {acc}  the interval {where} the handout's ~{expected}% "
            f"({histories[(n, k)].steps[-1]} steps at this setting)"
        )
    return "\n".join(lines)


def raw_pixel_mann(
    setup: Setup, steps: int, eval_every: int, n_way: int = 2, k_shot: int = 1
) -> tuple[nn.Module, MetaHistory, TaskAccuracy]:
    """The homework's model as handed out: raw pixels (784 numbers) + a one-hot label in,
    LSTM 128 then LSTM N, Adam 1e-3, 16 tasks per step, 1 query per class (shuffled, zero
    labels), no clipping or scaling. Scored on ``setup.n_test`` meta-test tasks (5 queries per
    class)."""
    size = setup.data.images.shape[-1]
    model = black_box.build_model(
        "lstm", "pixels", n_way=n_way, image_size=size, hidden=128, seed=setup.seed
    )
    opts = dict(n_way=n_way, k_shot=k_shot)
    val = setup.pixel_sampler(setup.split["val"], batch_size=100, seed=7 + setup.seed, **opts)
    history = meta_train(
        model, setup.pixel_sampler(setup.split["train"], n_query=1, **opts),
        fixed_episodes(val, setup.n_val), steps=steps, lr=1e-3, eval_every=eval_every,
        val_tasks=setup.n_val, name=f"raw-pixel MANN N={n_way} K={k_shot}", seed=setup.seed,
    )  # fmt: skip
    test = setup.pixel_sampler(setup.split["test"], batch_size=100, seed=11, **opts)
    return model, history, evaluate(model, fixed_episodes(test, setup.n_test), setup.n_test)


@runtime.marks_fast_mode
def raw_mann_lines(
    result: TaskAccuracy, history: MetaHistory, recipe: TaskAccuracy, chance: float
) -> str:
    """What the raw-pixel MANN reached, against chance and the feature LSTM at (2, 1)."""
    iv, best = result.interval, max(history.val_accuracy)
    where = "above" if iv.low > chance else "below" if iv.high < chance else "contains"
    words = {"above": "lies above", "below": "lies below", "contains": "contains"}[where]
    return "\n".join(
        [
            f"raw-pixel MANN, 2-way 1-shot, after {history.steps[-1]} steps: {result}; "
            f"the interval {words} chance ({100 * chance:.0f}%)",
            f"best meta-validation accuracy {100 * best:.1f}% "
            f"(step {history.val_steps[history.val_accuracy.index(best)]})",
            f"the feature LSTM with the recipe at the same setting: {recipe} "
            f"({INTERVAL_OVER_TASKS})",
        ]
    )


def step_accounting(setup: Setup, run: FamilyRun, finetune_steps: int) -> str:
    """Training steps behind each arm of (h): encoder pretraining + meta-training."""
    pre = setup.pretrained.steps
    rows = [("NCM (transfer)", pre, 0, "128 images")]
    for family in run.models:
        rows.append((family, pre, run.steps[family], "32 tasks"))
    rows.append(("attention e2e", pre, run.steps["attention"] + finetune_steps, "32 / 16 tasks"))
    lines = [f"{'arm':<16}{'pretraining':>13}{'meta-training':>15}{'total':>8}  batch"]
    for name, a, b, batch in rows:
        lines.append(f"{name:<16}{a:>13}{b:>15}{a + b:>8}  {batch}")
    return "\n".join(lines)


@runtime.marks_fast_mode
def versus_baseline(accs: dict[str, TaskAccuracy], baseline: TaskAccuracy) -> str:
    """Each model minus NCM, paired over the same meta-test tasks (t 95%), with a verdict."""
    lines = [f"NCM on frozen supervised features: {baseline}"]
    for name, acc in accs.items():
        d = stats.paired_difference(acc.per_task, baseline.per_task)
        words = in_words(stats.verdict(d))
        lines.append(f"{name:<14} {acc}   minus NCM: {d.format(100, 1)} points ({words})")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# i. More compute: the benchmark recipe (benchmarks/bench_black_box.py writes the figures)
# --------------------------------------------------------------------------------------------


RECIPE_FIGURES = Path(__file__).resolve().parents[3] / "benchmarks" / "results" / "black_box.json"


def recipe_report(path: Path = RECIPE_FIGURES) -> str:
    """The stored figures of ``benchmarks/bench_black_box.py`` as lines (or how to make them)."""
    path = Path(path)
    if not path.is_file():
        return (
            f"No stored figures at {path.name}: run `make bench` (about 11 minutes on 2 cores) "
            "to train the recipe and write them."
        )
    r = json.loads(path.read_text())
    lines = [
        textwrap.fill(f"Recipe: {r['recipe']}.", 100),
        textwrap.fill(
            f"Trained on {r['train_classes']} classes ({', '.join(r['train_alphabets'])}, with "
            f"rotations): {r['steps']} steps in {r['train_seconds'] / 60:.1f} min on "
            f"{r['torch_threads']} CPU threads (seed {r['seed']}); no pretraining stage.",
            100,
        ),
        "",
        f"{'model':<26}{'5-way 1-shot':>16}"
        + "".join(f"{'20-way err. ' + a:>24}" for a in _alphabets(r)),
    ]
    for name, row in r["models"].items():
        five = row["five_way"]
        cells = "".join(
            f"{f'{e:.1f}% ± {h:.1f}%':>24}" for e, h in (row[k] for k in _error_keys(row))
        )
        lines.append(f"{name:<26}{f'{five[0]:.1f}% ± {five[1]:.1f}%':>16}{cells}")
    first = next(iter(r["models"].values()))
    note = (
        f"(5-way: {first['five_way_tasks']} meta-test tasks over both alphabets; 20-way: "
        f"{r['twenty_way_tasks']} tasks within each alphabet, one drawing per character as "
        "support, one query per character; t 95% over tasks)"
    )
    lines.append(textwrap.fill(note, 100))
    return "\n".join(lines)


def _error_keys(row: dict) -> list[str]:
    return [k for k in row if k.startswith("twenty_way_error_")]


def _alphabets(result: dict) -> list[str]:
    row = next(iter(result["models"].values()))
    return [k.removeprefix("twenty_way_error_") for k in _error_keys(row)]
