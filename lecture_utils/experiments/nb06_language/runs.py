"""Notebook 06: few-shot language generation with one small causal transformer, three ways.

* **in-context** (black-box): meta-trained on ``^ D_tr query >`` sequences of meta-train rules,
  it reads D_tr and generates the query's output greedily; no weight changes per task;
* **pretrained + fine-tuned**: the same network trained on plain ``^ x > y ;`` sequences of all
  meta-train rules pooled (it never sees D_tr), then fine-tuned on each task's K pairs;
* **from scratch**: the same network, freshly initialised, trained on the K pairs.

Fine-tuning/scratch recipes (learning rate, steps) are chosen on meta-validation tasks, whose
prefixes are disjoint from both meta-train and meta-test ones. Every run takes ``seed`` and
``device``; budgets are optimiser steps. Scores: exact match and per-character accuracy of the
generated outputs; the unit of every interval is the training seed.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from lecture_utils.analysis.verdicts import in_words
from lecture_utils.core import runtime, stats
from lecture_utils.episodes import string_tasks as st
from lecture_utils.episodes.task_batch import TaskBatch
from lecture_utils.models import sequence as sq
from lecture_utils.training import meta_training, trainer

ARMS = ("in_context", "pretrained", "scratch")
SHORT = {"in_context": "in-context", "pretrained": "fine-tuned", "scratch": "scratch"}
LABELS = {
    "in_context": "in-context (black-box)",
    "shuffled": "in-context, D_tr of another task",
    "pretrained": "pretrained + fine-tuned",
    "scratch": "from scratch",
}
METRICS = {"exact": "exact match", "char": "per-character accuracy"}


def verdict_words(verdict: str) -> str:
    """A verdict on (in-context - baseline), paired over training seeds, in words."""
    return in_words(verdict, "the in-context model is better", "the baseline is better")


Scores = tuple[torch.Tensor, torch.Tensor]  # (exact [T], per-character [T]), means over queries


@dataclass(frozen=True)
class Budget:
    """Every size and step count of the experiment (``Budget.fast()`` for tests)."""

    meta_steps: int = 700
    pretrain_steps: int = 300
    batch_size: int = 32
    lr: float = 5e-3
    warmup: int = 100
    k_train: tuple[int, int] = (1, 8)
    ks: tuple[int, ...] = (1, 2, 4, 8)
    n_test_tasks: int = 32
    n_val_tasks: int = 16
    n_query: int = 3
    ft_lrs: tuple[float, ...] = (1e-3, 3e-3)  # pretrained + fine-tuned
    scratch_lrs: tuple[float, ...] = (3e-3, 1e-2)
    ft_checkpoints: tuple[int, ...] = (0, 10, 20, 40)
    seeds: tuple[int, ...] = (0, 1, 2)
    task_seed: int = 0  # the fixed meta-validation and meta-test task pools

    def __post_init__(self) -> None:
        lo, hi = self.k_train
        if not 1 <= lo <= hi:
            raise ValueError(f"k_train={self.k_train} must be (low, high) with 1 <= low <= high.")
        if not self.ks or min(self.ks) < 1 or max(self.ks) > hi:
            raise ValueError(
                f"ks={self.ks}: every evaluated K must be between 1 and k_train's {hi} (the "
                "model is only trained on sequences with that many pairs)."
            )
        if len(self.seeds) < 2 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds={self.seeds}: a t interval needs >= 2 distinct seeds.")
        if min(self.meta_steps, self.pretrain_steps, self.n_test_tasks, self.n_val_tasks) < 1:
            raise ValueError("Steps and task counts must be at least 1.")
        if not self.ft_lrs or not self.scratch_lrs or min(self.ft_checkpoints, default=-1) < 0:
            raise ValueError("Give at least one lr per baseline and step checkpoints >= 0.")
        if max(self.ft_checkpoints) < 1:
            raise ValueError(f"ft_checkpoints={self.ft_checkpoints}: include a count >= 1.")

    @classmethod
    def fast(cls) -> Budget:
        """Shrunk budgets for fast mode: the pipeline runs, the numbers are not the lesson's."""
        return cls(meta_steps=60, pretrain_steps=30, warmup=10, n_test_tasks=8,
                   n_val_tasks=6, n_query=1, ft_lrs=(3e-3,), scratch_lrs=(1e-2,),
                   ft_checkpoints=(0, 5),
                   seeds=(0, 1))  # fmt: skip

    def describe(self) -> str:
        return (
            f"{len(self.seeds)} training seeds; in-context model: {self.meta_steps} steps of "
            f"{self.batch_size} sequences (K from {self.k_train[0]} to {self.k_train[1]}); "
            f"pooled pretraining: {self.pretrain_steps} steps; {self.n_test_tasks} meta-test "
            f"tasks x {self.n_query} queries, {self.n_val_tasks} meta-validation tasks"
        )


def task_pools(budget: Budget) -> tuple[list[st.StringTask], list[st.StringTask]]:
    """``(validation, test)``: fixed task pools with ``max(ks)`` support pairs each (nested)."""
    k = max(budget.ks)
    val = st.task_set("meta_val", budget.n_val_tasks, k, budget.n_query, budget.task_seed)
    test = st.task_set("meta_test", budget.n_test_tasks, k, budget.n_query, budget.task_seed)
    return val, test


# ---- training --------------------------------------------------------------------------------


@dataclass
class TokenBatch(TaskBatch):
    """A meta-batch of in-context sequences: tokens and the loss mask, ``[B, L]`` each."""

    tokens: torch.Tensor
    mask: torch.Tensor


class InContextTasks:
    """Meta-train tasks as sequences: each :meth:`sample` draws B new tasks with one K from
    ``budget.k_train`` (a :class:`~lecture_utils.training.meta_training.TaskSource`)."""

    def __init__(self, budget: Budget, seed: int) -> None:
        self.budget = budget
        self.generator = torch.Generator().manual_seed(st.split_seed("meta_train", seed))

    def sample(self) -> TokenBatch:
        lo, hi = self.budget.k_train
        k = int(torch.randint(lo, hi + 1, (1,), generator=self.generator))
        tasks = st.sample_tasks("meta_train", self.budget.batch_size, k, 1, self.generator)
        return TokenBatch(*st.training_batch(tasks))


def token_loss(model: nn.Module, batch: TokenBatch) -> tuple[torch.Tensor, None]:
    """The loss on the query's output tokens only (the mask), for the one episode loop."""
    return sq.sequence_loss(model(batch.tokens), batch.tokens, batch.mask), None


def meta_train(
    budget: Budget, *, seed: int, device: torch.device | str = "cpu", progress: str | bool = True
) -> tuple[sq.CausalTransformer, trainer.TrainLog]:
    """The in-context model, trained by the one episode loop
    (:func:`~lecture_utils.training.meta_training.meta_train`): each step, B new meta-train
    tasks; the loss reads only the query's output tokens (the mask of :func:`st.build_sequence`).
    Adam, linear warm-up then cosine, gradients clipped at norm 1."""
    device = runtime.resolve_device(device)
    model = sq.build_transformer(seed).to(device)
    desc = "in-context model" if progress is True else progress
    history = meta_training.meta_train(
        model, InContextTasks(budget, seed), steps=budget.meta_steps, lr=budget.lr,
        loss=token_loss, schedule="cosine", warmup=min(budget.warmup, budget.meta_steps - 1),
        clip_grad=1.0, progress=desc, seed=seed, device=device,
    )  # fmt: skip
    return model, history.log


def pretrain_pooled(
    budget: Budget, *, seed: int, device: torch.device | str = "cpu", progress: str | bool = True
) -> tuple[sq.CausalTransformer, trainer.TrainLog]:
    """The transfer baseline: plain ``^ x > y ;`` pairs of all meta-train rules pooled.

    Without D_tr it cannot know a task's prefix or vowel change: it learns the shared part
    (copy the stem, put some prefix in front), which fine-tuning then adapts.
    """
    device = runtime.resolve_device(device)
    model = sq.build_transformer(seed).to(device)
    generator = torch.Generator().manual_seed(st.split_seed("meta_train", seed) + 10**6)

    def loss_at(step: int) -> torch.Tensor:
        tasks = st.sample_tasks("meta_train", 2 * budget.batch_size, 0, 1, generator)
        tokens, mask = (t.to(device) for t in st.training_batch(tasks))
        return sq.sequence_loss(model(tokens), tokens, mask)

    desc = "pooled pretraining" if progress is True else progress
    log = trainer.fit(
        model, loss_at, steps=budget.pretrain_steps, lr=budget.lr, schedule="cosine",
        warmup=min(budget.warmup, budget.pretrain_steps - 1), clip_grad=1.0, progress=desc,
    )  # fmt: skip
    return model, log


def scratch_net(seed: int, device: torch.device | str = "cpu") -> sq.CausalTransformer:
    """The same network, freshly initialised (every task starts from this one init)."""
    return sq.build_transformer(seed + 7919).to(runtime.resolve_device(device))


# ---- scoring ---------------------------------------------------------------------------------


def char_accuracy(prediction: str, truth: str) -> float:
    """Matching letters at the same positions / the longer length (extra letters count wrong)."""
    longest = max(len(prediction), len(truth))
    if longest == 0:
        return 1.0
    return sum(p == t for p, t in zip(prediction, truth, strict=False)) / longest


def score(predictions: Sequence[Sequence[str]], tasks: Sequence[st.StringTask]) -> Scores:
    """``(exact [T], char [T])``: each task's mean over its queries."""
    exact, char = [], []
    for preds, task in zip(predictions, tasks, strict=True):
        truths = [y for _, y in task.query]
        exact.append(sum(p == y for p, y in zip(preds, truths, strict=True)) / len(truths))
        char.append(sum(map(char_accuracy, preds, truths)) / len(truths))
    return torch.tensor(exact), torch.tensor(char)


@torch.no_grad()
def generate_in_context(
    model: nn.Module,
    tasks: Sequence[st.StringTask],
    k: int,
    *,
    supports: Sequence[st.StringTask] | None = None,
    chunk: int = 128,
) -> list[list[str]]:
    """Greedy outputs ``[T][Q]`` of the in-context model given K pairs of D_tr per task.

    ``supports`` (default: ``tasks``) supplies each task's D_tr; pass a permutation of the tasks
    to give every query another task's support set.
    """
    model.eval()
    device = next(model.parameters()).device
    shots = [t.with_support(k) for t in (tasks if supports is None else supports)]
    out: list[list[str]] = [[] for _ in tasks]
    with runtime.single_thread():
        for q in range(len(tasks[0].query)):
            prompts, lengths = st.prompt_batch(tasks, q, supports=shots)
            for start in range(0, len(tasks), chunk):
                p, n = prompts[start : start + chunk].to(device), lengths[start : start + chunk]
                gen = sq.greedy_decode(model, p, n.to(device), st.max_output_length() + 1)
                for i, row in enumerate(gen.cpu()):
                    out[start + i].append(st.decode(row))
    return out


def _plain_pairs(pairs: Sequence[Sequence[tuple[str, str]]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tokens, mask)`` ``[T, P, L]`` of plain ``^ x > y ;`` sequences, one row per pair."""
    built = [[st.build_sequence([], x, y) for x, y in row] for row in pairs]
    width = max(len(b[0]) for row in built for b in row)
    T, P = len(built), len(built[0])
    tokens = torch.full((T, P, width), st.PAD, dtype=torch.long)
    mask = torch.zeros(T, P, width, dtype=torch.bool)
    for t, row in enumerate(built):
        for p, (tok, m) in enumerate(row):
            tokens[t, p, : len(tok)], mask[t, p, : len(m)] = tok, m
    return tokens, mask


def _plain_prompts(tasks: Sequence[st.StringTask]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(prompts [T, Q, L], lengths [T, Q])``: ``^ x >`` for every query."""
    seqs = [[st.build_sequence([], x)[0] for x, _ in t.query] for t in tasks]
    width = max(len(s) for row in seqs for s in row)
    prompts = torch.full((len(tasks), len(seqs[0]), width), st.PAD, dtype=torch.long)
    for t, row in enumerate(seqs):
        for q, s in enumerate(row):
            prompts[t, q, : len(s)] = s
    return prompts, torch.tensor([[len(s) for s in row] for row in seqs])


def fine_tune(
    net: nn.Module,
    tasks: Sequence[st.StringTask],
    k: int,
    lr: float,
    checkpoints: Sequence[int],
    *,
    device: torch.device | str = "cpu",
    progress: str | bool = False,
) -> dict[int, list[list[str]]]:
    """Greedy outputs ``[T][Q]`` after each number of steps in ``checkpoints``.

    Every task gets its own copy of ``net`` (unchanged itself), trained with Adam at ``lr`` on
    its K support pairs (the full K each step: no random draws, so no seed is needed).
    """
    if k < 1:
        raise ValueError(f"k={k}: fine-tuning needs at least one support pair.")
    device = runtime.resolve_device(device)
    copies = sq.PerTaskCopies(copy.deepcopy(net), len(tasks)).to(device)
    tokens, mask = (t.to(device) for t in _plain_pairs([t.support[:k] for t in tasks]))
    prompts, lengths = (t.to(device) for t in _plain_prompts(tasks))
    results: dict[int, list[list[str]]] = {}

    def generate() -> list[list[str]]:
        copies.eval()
        gen = sq.greedy_decode(copies, prompts, lengths, st.max_output_length() + 1).cpu()
        return [[st.decode(row) for row in per_task] for per_task in gen]

    def on_step(step: int, model: nn.Module) -> None:
        if step in checkpoints:
            results[step] = generate()

    steps = max(checkpoints)
    if steps == 0:
        with runtime.single_thread():
            return {0: generate()}
    trainer.fit(
        copies, lambda step: sq.sequence_loss(copies(tokens), tokens, mask), steps=steps, lr=lr,
        progress=progress, on_step=on_step,
    )  # fmt: skip
    with runtime.single_thread():
        results[steps] = generate()
    return results


def choose_recipe(
    net: nn.Module,
    val_tasks: Sequence[st.StringTask],
    k: int,
    budget: Budget,
    *,
    scratch: bool,
    device: torch.device | str = "cpu",
) -> tuple[float, int, dict[tuple[float, int], tuple[float, float]]]:
    """``(lr, steps, scores)``: the recipe with the best validation exact match (then per-char)
    on meta-validation tasks. ``net`` is the pretrained network (learning rates ``ft_lrs``,
    0 steps allowed: "no fine-tuning" may win) or a fresh one (``scratch_lrs``, >= 1 step)."""
    pretrained = scratch is False
    lrs = budget.ft_lrs if pretrained else budget.scratch_lrs
    checkpoints = [c for c in budget.ft_checkpoints if pretrained or c > 0]
    scores: dict[tuple[float, int], tuple[float, float]] = {}
    for lr in lrs:
        for steps, preds in fine_tune(net, val_tasks, k, lr, checkpoints, device=device).items():
            exact, char = score(preds, val_tasks)
            scores[(lr, steps)] = (exact.mean().item(), char.mean().item())
    lr, steps = max(scores, key=lambda key: (*scores[key], -key[1]))  # ties: fewer steps
    return lr, steps, scores


# ---- one seed, all seeds -----------------------------------------------------------------------


Recipe = tuple[float, int, tuple[float, float]]  # (lr, steps, validation (exact, per-char))


@dataclass
class SeedResult:
    """One training seed: scores and greedy outputs per arm and K, recipes, run times."""

    seed: int
    scores: dict[str, dict[int, Scores]] = field(default_factory=dict)
    outputs: dict[str, dict[int, list[list[str]]]] = field(default_factory=dict)
    recipes: dict[tuple[str, int], Recipe] = field(default_factory=dict)
    final_loss: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def choose_recipes(
    nets: dict[str, nn.Module],
    val_tasks: Sequence[st.StringTask],
    budget: Budget,
    *,
    device: torch.device | str = "cpu",
    progress: str | bool = "choosing recipes on meta-validation tasks",
) -> dict[tuple[str, int], Recipe]:
    """The fine-tuning recipe of each baseline (``"pretrained"``, ``"scratch"``) at each K."""
    recipes = {}
    bar = runtime.progress(total=len(nets) * len(budget.ks), desc=str(progress),
                           disable=progress is False)  # fmt: skip
    for arm, net in nets.items():
        for k in budget.ks:
            lr, steps, scores = choose_recipe(
                net, val_tasks, k, budget, scratch=arm == "scratch", device=device
            )
            recipes[arm, k] = (lr, steps, scores[lr, steps])
            bar.update()
    bar.close()
    return recipes


def run_seed(
    budget: Budget,
    seed: int,
    val_tasks: Sequence[st.StringTask],
    test_tasks: Sequence[st.StringTask],
    *,
    recipes: dict[tuple[str, int], Recipe] | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> SeedResult:
    """Train and score every arm for one training seed on the fixed task pools.

    ``recipes=None`` chooses the baselines' recipes on ``val_tasks`` with this seed's networks
    (:func:`choose_recipes`); :func:`run_all` does so for the first seed and reuses them.
    """
    start = time.perf_counter()
    result = SeedResult(seed)
    tag = f" (seed {seed})"
    desc = f"in-context model{tag}" if progress else False
    model, log = meta_train(budget, seed=seed, device=device, progress=desc)
    result.final_loss["in_context"] = sum(log.loss[-50:]) / len(log.loss[-50:])
    result.outputs["in_context"] = {k: generate_in_context(model, test_tasks, k) for k in budget.ks}
    shuffled = list(test_tasks[1:]) + [test_tasks[0]]  # task i gets task i+1's D_tr
    k = max(budget.ks)  # the control: at the largest K only (what it costs is a forward pass)
    result.outputs["shuffled"] = {k: generate_in_context(model, test_tasks, k, supports=shuffled)}
    desc = f"pooled pretraining{tag}" if progress else False
    pretrained, plog = pretrain_pooled(budget, seed=seed, device=device, progress=desc)
    result.final_loss["pretrained"] = sum(plog.loss[-50:]) / len(plog.loss[-50:])
    nets = {"pretrained": pretrained, "scratch": scratch_net(seed, device)}
    if recipes is None:
        desc = f"choosing recipes{tag}" if progress else False
        recipes = choose_recipes(nets, val_tasks, budget, device=device, progress=desc)
    result.recipes = dict(recipes)
    bar = runtime.progress(total=len(nets) * len(budget.ks), desc=f"fine-tuning{tag}",
                           disable=not progress)  # fmt: skip
    for arm, net in nets.items():
        result.outputs[arm] = {}
        for k in budget.ks:
            lr, steps, _ = recipes[arm, k]
            result.outputs[arm][k] = fine_tune(net, test_tasks, k, lr, [steps], device=device)[
                steps
            ]
            bar.update()
    bar.close()
    result.scores = {
        arm: {k: score(preds, test_tasks) for k, preds in per_k.items()}
        for arm, per_k in result.outputs.items()
    }
    result.seconds = time.perf_counter() - start
    return result


def run_all(
    budget: Budget, *, device: torch.device | str = "cpu", progress: bool = True
) -> list[SeedResult]:
    """:func:`run_seed` for every training seed, on the same validation and test pools; the
    baselines' recipes are chosen once, on meta-validation tasks with the first seed's nets."""
    val_tasks, test_tasks = task_pools(budget)
    results: list[SeedResult] = []
    for seed in budget.seeds:
        recipes = results[0].recipes if results else None
        results.append(
            run_seed(
                budget,
                seed,
                val_tasks,
                test_tasks,
                recipes=recipes,
                device=device,
                progress=progress,
            )  # fmt: skip
        )
    return results


# ---- tables and sentences ------------------------------------------------------------------------


def seed_values(results: Sequence[SeedResult], arm: str, k: int, metric: str) -> list[float]:
    """One number per training seed: the mean over the fixed meta-test tasks."""
    index = list(METRICS).index(metric)
    return [r.scores[arm][k][index].mean().item() for r in results]


def interval(results: Sequence[SeedResult], arm: str, k: int, metric: str) -> stats.Interval:
    """Mean ± t 95% over training seeds."""
    return stats.t_interval(seed_values(results, arm, k, metric))


@runtime.marks_fast_mode
def accuracy_table(results: Sequence[SeedResult], arms: Sequence[str] | None = None) -> str:
    """Rows: arm and metric; columns: K; cells: mean % ± t 95% over training seeds."""
    arms = list(arms or results[0].scores)
    ks = sorted({k for arm in arms for k in results[0].scores[arm]})
    width = max(len(LABELS[a]) for a in arms) + 24
    head = f"{'model':<{width}}" + "".join(f"{f'K={k}':>15}" for k in ks)
    lines = [head, "-" * len(head)]
    for arm in arms:
        for metric, name in METRICS.items():
            cells = "".join(
                f"{interval(results, arm, k, metric).format(scale=100):>15}"
                if k in results[0].scores[arm]
                else f"{'—':>15}"
                for k in ks
            )
            lines.append(f"{f'{LABELS[arm]}, {name}':<{width}}{cells}")
    n_tasks = len(next(iter(results[0].scores[arms[0]].values()))[0])
    lines.append(
        f"(% of meta-test outputs; ± = t 95% over {len(results)} training seeds, each seed's "
        f"value the mean over the same {n_tasks} meta-test tasks)"
    )
    return "\n".join(lines)


def recipe_lines(recipes: dict[tuple[str, int], Recipe]) -> list[str]:
    """What the validation search chose, per arm and K."""
    return [
        f"{LABELS[arm]:<24} K={k}: lr {lr:g}, {steps:>2} steps (meta-validation exact match "
        f"{100 * exact:.0f}%, per-char {100 * char:.0f}%)"
        for (arm, k), (lr, steps, (exact, char)) in sorted(recipes.items())
    ]


def comparison(
    results: Sequence[SeedResult], a: str, b: str, k: int, metric: str
) -> tuple[stats.Interval, str]:
    """The paired difference ``a - b`` over training seeds, and its :func:`stats.verdict`."""
    diff = stats.paired_difference(
        seed_values(results, a, k, metric), seed_values(results, b, k, metric)
    )
    return diff, stats.verdict(diff)


def best_baseline(results: Sequence[SeedResult], k: int, metric: str = "exact") -> str:
    return max(("pretrained", "scratch"), key=lambda arm: interval(results, arm, k, metric).mean)


def results_markdown(results: Sequence[SeedResult]) -> str:
    """The results paragraph, every number and every ranking written from ``results``."""
    ks = sorted(results[0].scores["in_context"])
    n = len(results)
    pct = lambda iv: iv.format(scale=100, digits=0, unit=" points")  # noqa: E731
    parts = [f"**What this run shows** ({n} training seeds; ± = paired t 95% over seeds)."]
    rows = []
    for k in ks:
        base = best_baseline(results, k)
        diff, word = comparison(results, "in_context", base, k, "exact")
        rows.append(
            f"* K = {k}: in-context {interval(results, 'in_context', k, 'exact').format(100, 0)}% "
            f"exact match vs {LABELS[base]} {interval(results, base, k, 'exact').format(100, 0)}%"
            f"; difference {pct(diff)}: {verdict_words(word)}."
        )
    parts.append("\n".join(rows))
    lo, hi = ks[0], ks[-1]
    gain = stats.paired_difference(
        seed_values(results, "in_context", hi, "exact"),
        seed_values(results, "in_context", lo, "exact"),
    )
    if stats.verdict(gain) == "holds":
        grow = f"grows with K: K = {hi} minus K = {lo} is {pct(gain)}"
    elif stats.verdict(gain) == "contradicted":
        grow = f"*falls* with K, against expectation: K = {hi} minus K = {lo} is {pct(gain)}"
    else:
        grow = f"shows no clear change from K = {lo} to K = {hi} ({pct(gain)})"
    drop, word = comparison(results, "in_context", "shuffled", hi, "exact")
    read = "so it reads D_tr" if word == "holds" else "so this run cannot tell that it reads D_tr"
    parts.append(
        f"The in-context model's exact match {grow}. Given another task's D_tr at K = {hi}, it "
        f"scores {interval(results, 'shuffled', hi, 'exact').format(100, 0)}% (a drop of "
        f"{pct(drop)}), {read}."
    )
    return "\n\n".join(parts)


def example_lines(
    result: SeedResult, tasks: Sequence[st.StringTask], k: int, task_ids: Sequence[int]
) -> list[str]:
    """D_tr, then each query with the truth and every arm's greedy output (✓ when exact)."""
    arms = [a for a in ("in_context", "pretrained", "scratch") if a in result.outputs]
    lines = []
    for t in task_ids:
        task = tasks[t]
        shots = ", ".join(f"{x}→{y}" for x, y in task.support[:k])
        lines.append(f"task {t} (hidden rule {task.rule}); D_tr: {shots}")
        for q, (x, y) in enumerate(task.query):
            outs = "  ".join(
                f"{SHORT[a]}: {result.outputs[a][k][t][q] or '∅':<8}"
                f"{'✓' if result.outputs[a][k][t][q] == y else '✗'}"
                for a in arms
            )
            lines.append(f"    {x:<6}→ truth {y:<8} {outs}")
    return lines


def with_budget(budget: Budget, **changes: object) -> Budget:
    """``budget`` with some fields changed (validated again)."""
    return replace(budget, **changes)
