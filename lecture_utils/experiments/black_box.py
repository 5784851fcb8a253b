"""Notebook 04: black-box adaptation on frozen Omniglot features — runners, sweeps and tables.

Everything is budgeted in optimiser steps and seeded, so a rerun gives the same numbers. The
figures are in :mod:`lecture_utils.experiments.black_box_plots`. Every ± printed here is a
Student-t 95% interval: over the meta-test tasks for one model, over seeds for a sweep.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import blackbox, stats
from ..convnet import count_parameters
from ..episodes import ClassSplit, Episode, EpisodeSampler
from ..evaluation import TaskAccuracy, evaluate, fixed_episodes
from ..feature_bank import FeatureBank, unfreeze_onto_images
from ..meta_training import (
    MetaHistory,
    Pretrained,
    PretrainSettings,
    meta_train,
    pretrained_encoder,
)
from ..omniglot import OmniglotData

LSTM_OPTIONS = dict(hidden=256, input_norm=True, logit_scale=5.0)  # see section (g)
HANDOUT = {(2, 1): 90, (2, 2): 90, (3, 1): 80, (4, 1): 70}  # the homework's expectations (%)
INTERVAL_NOTE = "± = t 95% interval over the meta-test tasks"
VERDICT_WORDS = {  # a paired difference (t 95% over the same tasks), in words
    "holds": "better: the interval lies above 0",
    "contradicted": "worse: the interval lies below 0",
    "inconclusive": "no clear difference: the interval contains 0",
}


@dataclass
class Setup:
    """The data, the frozen encoder and its feature bank, and the fixed evaluation tasks."""

    data: OmniglotData
    split: ClassSplit
    encoder: nn.Module
    pretrained: Pretrained
    bank: FeatureBank
    seed: int
    n_test: int
    n_val: int
    n_way: int = 5
    k_shot: int = 1
    test_tasks: list[Episode] = field(default_factory=list)
    pixel_test: list[Episode] = field(default_factory=list)
    val_tasks: list[Episode] = field(default_factory=list)

    def sampler(self, chars: Sequence[int], **kwargs: object) -> EpisodeSampler:
        """Feature episodes of ``chars`` (defaults: N-way K-shot, 5 queries, 32 tasks)."""
        opts = dict(n_way=self.n_way, k_shot=self.k_shot, n_query=5, batch_size=32)
        opts["seed"] = self.seed
        return self.bank.sampler(chars, **{**opts, **kwargs})

    def pixel_sampler(self, chars: Sequence[int], **kwargs: object) -> EpisodeSampler:
        """The same episodes as images ``[B, M, 1, S, S]`` (same seed → same tasks)."""
        opts = dict(n_way=self.n_way, k_shot=self.k_shot, n_query=5, batch_size=16)
        opts["seed"] = self.seed
        return EpisodeSampler(self.data.images, chars, **{**opts, **kwargs})

    def tasks(self, split: str, n_tasks: int, seed: int, **kwargs: object) -> list[Episode]:
        """A fixed list of ``n_tasks`` feature tasks of a split (100 per meta-batch)."""
        return fixed_episodes(
            self.sampler(self.split[split], batch_size=100, seed=seed, **kwargs), n_tasks
        )

    def evaluate(self, model: nn.Module, tasks: Sequence[Episode] | None = None) -> TaskAccuracy:
        """Accuracy on the fixed meta-test tasks (or ``tasks``), t 95% interval over tasks."""
        return evaluate(model, self.test_tasks if tasks is None else tasks, self.n_test)


def prepare(
    data: OmniglotData,
    split: ClassSplit,
    *,
    pretrain_chars: Sequence[int],
    pretrain_steps: int,
    seed: int,
    n_test: int,
    n_val: int,
) -> Setup:
    """Pretrain (or load) the encoder on ``pretrain_chars``, encode every image, draw tasks."""
    settings = PretrainSettings(steps=pretrain_steps, augment=1.0, seed=seed)
    encoder, info = pretrained_encoder(data.images, pretrain_chars, settings)
    bank = FeatureBank(encoder, data.images)
    setup = Setup(data, split, encoder, info, bank, seed, n_test, n_val)
    setup.test_tasks = setup.tasks("test", 1000, seed=123 + seed)
    setup.val_tasks = setup.tasks("val", n_val, seed=7 + seed)
    pixels = setup.pixel_sampler(split["test"], batch_size=100, seed=123 + seed)
    setup.pixel_test = fixed_episodes(pixels, 1000)
    same = zip(setup.test_tasks, setup.pixel_test, strict=True)
    assert all(torch.equal(a.classes, b.classes) for a, b in same), "image/feature tasks differ"
    return setup


def describe_pretraining(setup: Setup) -> str:
    """One line on where the encoder came from (trained now, or loaded from the cache)."""
    info = setup.pretrained
    if info.loaded:
        name = info.path.name if info.path else "the cache"
        return f"encoder loaded from the cache ({name}; its key covers the exact characters)"
    return (
        f"encoder pretrained on {info.classes} classes for {info.steps} steps, final training "
        f"loss {info.final_loss:.2f} (augmented batches)"
    )


# --------------------------------------------------------------------------------------------
# a. The four families
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
    model = blackbox.build_model(
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
    for family in blackbox.FAMILIES:
        if family == "lstm":
            model, hists, run.snapshots = lstm_curriculum(setup, lstm_stages, eval_every)
        else:
            model = blackbox.build_model(
                family, "features", n_way=setup.n_way, feature_dim=setup.bank.feature_dim,
                seed=setup.seed,
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
    lines.append(f"({INTERVAL_NOTE}; + the shared frozen encoder: ")
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


def versus_baseline(accs: dict[str, TaskAccuracy], baseline: TaskAccuracy) -> str:
    """Each model minus NCM, paired over the same meta-test tasks (t 95%), with a verdict."""
    lines = [f"NCM on frozen supervised features: {baseline}"]
    for name, acc in accs.items():
        d = stats.paired_difference(acc.per_task, baseline.per_task)
        words = VERDICT_WORDS[stats.verdict(d)]
        lines.append(f"{name:<14} {acc}   minus NCM: {d.format(100, 1)} points ({words})")
    return "\n".join(lines)
