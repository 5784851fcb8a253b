"""One meta-training loop for every black-box model, evaluation with confidence intervals,
checkpoints, and frozen-encoder feature banks for fast sweeps.

A model is anything with ``model(support_x, support_y, query_x) -> logits [B, N*Q, N]``
(:mod:`lecture_utils.blackbox`). The loss is cross-entropy on the query set only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .episodes import Episode, EpisodeSampler
from .runtime import single_thread

# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


@dataclass
class TaskAccuracy:
    """Mean accuracy over tasks with the half-width of its 95% confidence interval."""

    mean: float
    ci95: float
    per_task: torch.Tensor

    @property
    def n_tasks(self) -> int:
        return len(self.per_task)

    def __str__(self) -> str:
        return f"{100 * self.mean:.1f}% ± {100 * self.ci95:.1f}% ({self.n_tasks} tasks)"


def confidence_interval(per_task: torch.Tensor | Sequence[float]) -> TaskAccuracy:
    """Mean and 95% CI half-width ``1.96 · std / sqrt(n)`` (sample std) of per-task accuracies."""
    acc = torch.as_tensor(per_task, dtype=torch.float64).flatten()
    if acc.numel() < 2:
        raise ValueError(f"A confidence interval needs at least 2 tasks, got {acc.numel()}.")
    half = 1.96 * acc.std(unbiased=True).item() / math.sqrt(acc.numel())
    return TaskAccuracy(acc.mean().item(), half, acc.float())


def _episode_accuracy(model: nn.Module, ep: Episode) -> torch.Tensor:
    logits = model(ep.support_x, ep.support_y, ep.query_x)
    return (logits.argmax(-1) == ep.query_y).float().mean(dim=1)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    sampler: EpisodeSampler | Sequence[Episode],
    n_tasks: int = 1000,
    progress: bool | str = False,
) -> TaskAccuracy:
    """Accuracy on ``n_tasks`` tasks from ``sampler`` (or on a fixed list of episodes), ± 95% CI.

    The model runs in eval mode (on one torch thread); its mode is restored afterwards.
    """
    if n_tasks < 2:
        raise ValueError(f"n_tasks must be at least 2 for a confidence interval, got {n_tasks}.")
    with single_thread():
        return _evaluate(model, sampler, n_tasks, progress)


def _evaluate(model, sampler, n_tasks, progress) -> TaskAccuracy:
    from tqdm.auto import tqdm

    if n_tasks < 2:
        raise ValueError(f"n_tasks must be at least 2 for a confidence interval, got {n_tasks}.")
    was_training = model.training
    model.eval()
    scores: list[torch.Tensor] = []
    desc = progress if isinstance(progress, str) else "meta-test"
    bar = tqdm(total=n_tasks, desc=desc, disable=progress is False, leave=False)
    batches = iter(sampler) if not isinstance(sampler, EpisodeSampler) else None
    done = 0
    while done < n_tasks:
        if batches is None:
            ep = sampler.sample()
        else:
            ep = next(batches, None)
            if ep is None:
                break
        scores.append(_episode_accuracy(model, ep))
        done += len(scores[-1])
        bar.update(len(scores[-1]))
    bar.close()
    model.train(was_training)
    return confidence_interval(torch.cat(scores)[:n_tasks])


def fixed_episodes(sampler: EpisodeSampler, n_tasks: int) -> list[Episode]:
    """Draw enough meta-batches for ``n_tasks`` tasks once, to reuse as a fixed evaluation set."""
    count = math.ceil(n_tasks / sampler.batch_size)
    return [sampler.sample() for _ in range(count)]


# --------------------------------------------------------------------------------------------
# The meta-training loop
# --------------------------------------------------------------------------------------------


@dataclass
class MetaHistory:
    """What :func:`meta_train` records: training loss/accuracy per step, validation at intervals.

    ``val_*`` lists are aligned; ``val_seconds`` is the training wall time (excluding
    evaluation) when each validation ran.
    """

    name: str = ""
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_seconds: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def best_val(self) -> float:
        return max(self.val_accuracy) if self.val_accuracy else float("nan")

    def seconds_to(self, accuracy: float) -> float | None:
        """Training seconds until validation accuracy first reached ``accuracy`` (or None)."""
        for sec, acc in zip(self.val_seconds, self.val_accuracy, strict=True):
            if acc >= accuracy:
                return sec
        return None


def meta_train(
    model: nn.Module,
    train: EpisodeSampler,
    val: EpisodeSampler | Sequence[Episode] | None = None,
    *,
    steps: int | None = None,
    seconds: float | None = None,
    lr: float = 1e-3,
    eval_every: int = 100,
    val_tasks: int = 200,
    weight_decay: float = 0.0,
    clip_grad: float | None = None,
    progress: bool | str = True,
    name: str = "",
    seed: int = 0,
    on_eval: Callable[[int, MetaHistory], None] | None = None,
) -> MetaHistory:
    """Meta-train ``model`` with Adam on query cross-entropy until ``steps`` or ``seconds`` end.

    Every ``eval_every`` steps (and at the end) the model is scored on the same ``val_tasks``
    meta-validation tasks (drawn once from ``val``, e.g. held-out alphabets). The time budget
    counts training only, not validation. ``clip_grad`` clips the gradient norm (the LSTM
    needs it). Training runs on one torch thread (restored afterwards; these small models gain
    nothing from a second thread and lose a lot on a busy machine). Returns a
    :class:`MetaHistory`.
    """
    with single_thread():
        return _meta_train(
            model,
            train,
            val,
            steps=steps,
            seconds=seconds,
            lr=lr,
            eval_every=eval_every,
            val_tasks=val_tasks,
            weight_decay=weight_decay,
            clip_grad=clip_grad,
            progress=progress,
            name=name,
            seed=seed,
            on_eval=on_eval,
        )


def _meta_train(
    model,
    train,
    val,
    *,
    steps,
    seconds,
    lr,
    eval_every,
    val_tasks,
    weight_decay,
    clip_grad,
    progress,
    name,
    seed,
    on_eval,
) -> MetaHistory:
    from tqdm.auto import tqdm

    if steps is None and seconds is None:
        raise ValueError(
            "Give a budget: steps=... and/or seconds=... (both: whichever ends first)."
        )
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}.")
    if eval_every < 1:
        raise ValueError(f"eval_every must be at least 1, got {eval_every}.")
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if isinstance(val, EpisodeSampler):
        val = fixed_episodes(val, val_tasks)
    history = MetaHistory(name=name)
    desc = progress if isinstance(progress, str) else (name or "meta-training")
    total = steps if steps is not None else None
    bar = tqdm(total=total, desc=desc, disable=progress is False, leave=False)
    elapsed, step = 0.0, 0

    def validate() -> None:
        if val is None:
            return
        score = evaluate(model, val, n_tasks=val_tasks).mean
        history.val_steps.append(step)
        history.val_seconds.append(elapsed)
        history.val_accuracy.append(score)
        bar.set_postfix(val=f"{score:.3f}")
        if on_eval is not None:
            on_eval(step, history)

    model.train()
    while (steps is None or step < steps) and (seconds is None or elapsed < seconds):
        start = time.perf_counter()
        ep = train.sample()
        logits = model(ep.support_x, ep.support_y, ep.query_x)
        loss = F.cross_entropy(logits.flatten(0, 1), ep.query_y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad is not None:
            nn.utils.clip_grad_norm_(params, clip_grad)
        optimizer.step()
        elapsed += time.perf_counter() - start
        step += 1
        history.steps.append(step)
        history.train_loss.append(loss.item())
        history.train_accuracy.append((logits.argmax(-1) == ep.query_y).float().mean().item())
        bar.update(1)
        if step % eval_every == 0:
            validate()
    if not history.val_steps or history.val_steps[-1] != step:
        validate()
    bar.close()
    history.seconds = elapsed
    model.eval()
    return history


def smooth(values: Sequence[float], window: int = 25) -> list[float]:
    """Running mean over the last ``window`` values (for noisy per-step curves)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_learning_curves(
    histories: Sequence[MetaHistory],
    x: str = "seconds",
    chance: float | None = None,
    title: str = "Meta-training",
):
    """Two panels: smoothed training loss per step, and meta-validation accuracy vs ``x``
    (``"seconds"`` of training or ``"steps"``). Returns the figure."""
    import matplotlib.pyplot as plt

    if x not in ("seconds", "steps"):
        raise ValueError(f"x must be 'seconds' or 'steps', got {x!r}.")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.8))
    for h in histories:
        (line,) = ax_loss.plot(h.steps, smooth(h.train_loss), label=h.name)
        xs = h.val_seconds if x == "seconds" else h.val_steps
        ax_acc.plot(
            xs, [100 * a for a in h.val_accuracy], "o-", ms=3, color=line.get_color(), label=h.name
        )
    ax_loss.set(
        xlabel="meta-training step", ylabel="query loss (smoothed)", title=f"{title}: training loss"
    )
    ax_acc.set(
        xlabel="training seconds" if x == "seconds" else "meta-training step",
        ylabel="meta-val accuracy (%)",
        title=f"{title}: held-out alphabets",
    )
    if chance is not None:
        ax_acc.axhline(100 * chance, color="grey", ls=":", label="chance")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def save_checkpoint(model: nn.Module, path: str | Path) -> Path:
    """``torch.save(model.state_dict(), path)`` (tensors only), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a :func:`save_checkpoint` file into ``model`` with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; train the model and save it first.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model


# --------------------------------------------------------------------------------------------
# Frozen-encoder features: sweeps that train in seconds
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def encode_images(
    encoder: nn.Module, images: torch.Tensor, batch_size: int = 1024, progress: bool | str = False
) -> torch.Tensor:
    """Run a frozen ``encoder`` (eval mode) over ``images [C, D, S, S]`` -> ``[C, D, F]``."""
    from tqdm.auto import tqdm

    if images.dim() != 4:
        raise ValueError(f"images must be [classes, drawers, S, S], got {tuple(images.shape)}.")
    was_training = encoder.training
    encoder.eval()
    flat = images.flatten(0, 1).unsqueeze(1)
    desc = progress if isinstance(progress, str) else "encoding"
    chunks = [
        encoder(flat[i : i + batch_size])
        for i in tqdm(
            range(0, len(flat), batch_size), desc=desc, disable=progress is False, leave=False
        )
    ]
    encoder.train(was_training)
    return torch.cat(chunks).reshape(*images.shape[:2], -1)


class FeatureBank:
    """Frozen-encoder features of every character (and, optionally, its rotations).

    ``features`` is ``[rows, drawers, F]`` where row ``4c + r`` is character ``c`` turned by
    ``r`` quarter turns (``rotations=True``) or row ``c`` is character ``c``. :meth:`sampler`
    returns an :class:`EpisodeSampler` over these rows, whose episodes hold feature vectors:
    ``support_x [B, N*K, F]``, ``query_x [B, N*Q, F]``. Build models with
    ``make_encoder("features", feature_dim=bank.feature_dim)``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        images: torch.Tensor,
        rotations: bool = False,
        progress: bool | str = False,
    ) -> None:
        self.rotations = rotations
        if rotations:
            turned = torch.stack([torch.rot90(images, r, dims=(-2, -1)) for r in range(4)], 1)
            images = turned.flatten(0, 1)
        self.features = standardise(encode_images(encoder, images, progress=progress))

    @property
    def feature_dim(self) -> int:
        """Size of the feature vector a model receives."""
        return self.features.shape[-1]

    def rows(self, characters: Sequence[int], rotations: bool = False) -> list[int]:
        """Rows of the bank for these characters (all four turns of each with ``rotations``)."""
        if rotations and not self.rotations:
            raise ValueError("This bank has no rotated features; build it with rotations=True.")
        if not self.rotations:
            return list(characters)
        turns = range(4) if rotations else range(1)
        return [4 * c + r for c in characters for r in turns]

    def sampler(
        self, characters: Sequence[int], rotations: bool = False, **kwargs: object
    ) -> EpisodeSampler:
        """An episode sampler over the features of ``characters`` (kwargs: n_way, k_shot...)."""
        return EpisodeSampler(self.features, self.rows(characters, rotations), **kwargs)


# --------------------------------------------------------------------------------------------
# A supervised-pretrained encoder (cached), for frozen features and the transfer baseline
# --------------------------------------------------------------------------------------------


def random_affine(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Small random rotations (up to ±15°·strength), scalings (±15%·strength) and shifts
    (±2 px·strength at 28 px) of a batch ``[B, 1, S, S]``, one ``grid_sample`` call."""
    B = x.shape[0]

    def uniform(*shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=generator) * 2 - 1) * strength

    angle, scale, shift = 0.26 * uniform(B), 1 + 0.15 * uniform(B), 0.15 * uniform(B, 2)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def pretrain_encoder(
    images: torch.Tensor,
    characters: Sequence[int],
    *,
    channels: int = 32,
    epochs: int = 8,
    rotations: bool = True,
    augment: float = 0.5,
    lr: float = 3e-3,
    batch_size: int = 128,
    seed: int = 0,
    cache: str | Path | None = None,
    progress: bool | str = "pretraining encoder",
) -> tuple[nn.Module, dict[str, float]]:
    """A ConvTrunk trained by plain classification of ``characters`` (all their drawers), frozen.

    ``rotations=True`` adds each character's 90°/180°/270° turns as extra classes (4x the
    classes); ``augment`` > 0 applies :func:`random_affine` of that strength to every batch.
    Adam with a one-cycle learning-rate schedule (peak ``lr``). With ``cache`` the trunk's
    state_dict is saved there and reloaded next time (delete the file to retrain). Returns
    ``(trunk in eval mode, info)`` with ``info["seconds"]`` (0 when loaded from the cache),
    ``info["train_accuracy"]`` (last epoch, on augmented batches) and ``info["classes"]``.
    """

    from .convnet import Classifier, ConvTrunk

    if len(characters) < 2:
        raise ValueError(f"Pretraining needs at least 2 characters, got {len(characters)}.")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    torch.manual_seed(seed)
    trunk = ConvTrunk(channels=channels)
    chars = torch.as_tensor(list(characters), dtype=torch.long)
    pool = images[chars]
    if rotations:  # class 4 * i + r: character i turned r quarter turns
        pool = torch.stack([torch.rot90(pool, r, dims=(-2, -1)) for r in range(4)], 1)
        pool = pool.flatten(0, 1)
    info = {"seconds": 0.0, "train_accuracy": float("nan"), "classes": float(len(pool))}
    if cache is not None and Path(cache).is_file():
        load_checkpoint(trunk, cache)
    else:
        x = pool.flatten(0, 1).unsqueeze(1)
        y = torch.arange(len(pool)).repeat_interleave(pool.shape[1])
        model = Classifier(trunk, len(pool))
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        per_epoch = math.ceil(len(x) / batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=epochs * per_epoch, pct_start=0.15
        )
        gen = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        desc = progress if isinstance(progress, str) else "pretraining"
        with single_thread():
            _pretrain_epochs(
                model,
                x,
                y,
                epochs,
                batch_size,
                augment,
                optimizer,
                schedule,
                gen,
                desc,
                progress is not False,
                info,
            )
        info["seconds"] = time.perf_counter() - start
        if cache is not None:
            save_checkpoint(trunk, cache)
    trunk.eval()
    for p in trunk.parameters():
        p.requires_grad_(False)
    return trunk, info


def _pretrain_epochs(
    model, x, y, epochs, batch_size, augment, optimizer, schedule, gen, desc, show, info
) -> None:
    """The epochs of :func:`pretrain_encoder`; stores the last epoch's accuracy in ``info``."""
    from tqdm.auto import tqdm

    for _ in tqdm(range(epochs), desc=desc, disable=not show, leave=False):
        model.train()
        order, correct = torch.randperm(len(x), generator=gen), 0
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            xb = random_affine(x[idx], augment, gen) if augment > 0 else x[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            correct += (logits.argmax(-1) == y[idx]).sum().item()
    info["train_accuracy"] = correct / len(x)


# --------------------------------------------------------------------------------------------
# Helpers the notebook's experiments share
# --------------------------------------------------------------------------------------------


def standardise(features: torch.Tensor) -> torch.Tensor:
    """Per-vector standardisation ``[..., F]`` (no statistics shared across images): every
    feature vector gets mean 0 and norm ``sqrt(F)``, so models train on well-scaled inputs."""
    features = features - features.mean(dim=-1, keepdim=True)
    return F.normalize(features, dim=-1) * math.sqrt(features.shape[-1])


class Standardise(nn.Module):
    """:func:`standardise` as a layer (the bank's preprocessing after an encoder)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return standardise(x)


class OnImages(nn.Module):
    """Wrap a model trained on a :class:`FeatureBank` so it takes images ``[B, M, 1, S, S]``:
    the frozen encoder and the bank's preprocessing run first."""

    def __init__(self, encoder: nn.Module, model: nn.Module) -> None:
        super().__init__()
        self.encoder, self.model = encoder, model

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        B, M = x.shape[:2]
        return standardise(self.encoder(x.reshape(B * M, *x.shape[2:]))).view(B, M, -1)

    def forward(self, support_x, support_y, query_x):
        self.encoder.eval()
        return self.model(self._features(support_x), support_y, self._features(query_x))


def unfreeze_onto_images(model: nn.Module, encoder: nn.Module) -> nn.Module:
    """A copy of a feature-trained black-box ``model`` that reads images end to end: its
    encoder becomes a trainable copy of the (pretrained) ``encoder`` followed by the bank's
    standardisation. Meta-training it fine-tunes encoder and model together."""
    import copy

    tuned = copy.deepcopy(model)
    trunk = copy.deepcopy(encoder)
    for p in trunk.parameters():
        p.requires_grad_(True)
    tuned.encoder = nn.Sequential(trunk, Standardise())
    return tuned


@torch.no_grad()
def prediction_change_rate(
    model: nn.Module, episodes: Sequence[Episode], seed: int = 0
) -> tuple[float, float]:
    """Shuffle the order of every support set; return (fraction of query predictions that
    change, largest absolute logit change)."""
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    changed, total, biggest = 0, 0, 0.0
    for ep in episodes:
        perm = torch.rand(ep.support_y.shape, generator=gen).argsort(dim=1)
        item_axes = (1,) * (ep.support_x.dim() - 2)
        sx = ep.support_x.gather(1, perm.view(*perm.shape, *item_axes).expand_as(ep.support_x))
        sy = ep.support_y.gather(1, perm)
        before = model(ep.support_x, ep.support_y, ep.query_x)
        after = model(sx, sy, ep.query_x)
        changed += (before.argmax(-1) != after.argmax(-1)).sum().item()
        total += ep.query_y.numel()
        biggest = max(biggest, (before - after).abs().max().item())
    return changed / total, biggest


def errorbar_summary(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation over seeds (std 0 for a single seed)."""
    t = torch.tensor(list(values), dtype=torch.float64)
    return t.mean().item(), (t.std().item() if len(t) > 1 else 0.0)
