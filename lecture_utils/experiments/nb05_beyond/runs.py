"""Notebook 05: black-box adaptation beyond image classification — runners, tables, figures.

Sine-wave regression (:mod:`lecture_utils.episodes.sine_tasks`) with the regression black-box models
(:mod:`lecture_utils.models.regression`), the pretrain-then-fine-tune and from-scratch
baselines, and a goal-reaching skill miniature. Budgets are optimiser steps; every run takes a
``seed`` and a ``device``; every ± is a Student-t 95% interval over meta-test tasks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from lecture_utils.analysis.tables import INTERVAL_OVER_SEEDS, interval_cell
from lecture_utils.analysis.verdicts import Finding, in_words
from lecture_utils.analysis.widget_panel import keyboard_guard
from lecture_utils.core import runtime, stats
from lecture_utils.core.figure_style import PALETTE
from lecture_utils.episodes.sampler import EpisodeSampler
from lecture_utils.episodes.sine_tasks import RegressionEpisode, SineTasks, make_episode, task_seed
from lecture_utils.models import regression as br
from lecture_utils.training import meta_training, trainer

WIDTH = 64  # every model's width: hidden units, context size, token size
# One loss for all (the Gaussian NLL: every model predicts a mean and a sigma), one width.
OPTIONS = {
    "neural_process": {"hidden": WIDTH, "context_dim": WIDTH, "gaussian": True},
    "attention": {"d_model": WIDTH, "gaussian": True},
    "lstm": {"hidden": WIDTH, "gaussian": True},
}
BLACK_BOXES = tuple(OPTIONS)
LABELS = {
    "neural_process": "feedforward + average (CNP)",
    "attention": "attention",
    "lstm": "LSTM",
    "pretrained": "pretrained + fine-tuned",
    "scratch": "from scratch",
}
COLOURS = {  # Okabe-Ito: colour-blind safe
    "neural_process": PALETTE[0],
    "attention": PALETTE[4],
    "lstm": PALETTE[2],
    "pretrained": PALETTE[1],
    "scratch": PALETTE[3],
}
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def verdict_words(verdict: str) -> str:
    """A verdict on (baseline MSE - black-box MSE), paired over the same waves, in words."""
    return in_words(verdict, "the black-box model is better", "the baseline is better")


# ---- counts and shapes ---------------------------------------------------------------------


def sine_counts(settings: list[tuple[int, int, int]], seed: int = 0) -> list[dict[str, object]]:
    """One row per ``(B, K, Q)``, read off a sampled meta-batch of sine tasks."""
    rows = []
    for B, K, Q in settings:
        ep = SineTasks("meta_train", K, Q, B, seed=seed, device="cpu").sample()
        rows.append(_count_row(f"sine, {K}-shot Q={Q}", ep))
    return rows


def _count_row(family: str, ep: object) -> dict[str, object]:
    """Counts and shapes read off one sampled meta-batch (any episode with the four fields)."""
    b, k, q = ep.support_x.shape[0], ep.support_x.shape[1], ep.query_x.shape[1]
    return {"task family": family, "B": b, "support/task": k, "query/task": q,
            "items/task": k + q, "items/meta-batch": b * (k + q),
            "support_x": tuple(ep.support_x.shape), "support_y": tuple(ep.support_y.shape),
            "query_x": tuple(ep.query_x.shape)}  # fmt: skip


def image_counts(settings: list[tuple[int, int, int, int]], seed: int = 0) -> list[dict]:
    """The same columns for ``(B, N, K, Q)`` image episodes (Q per class, as in notebook 03).

    The sampler runs on a blank pool shaped like Omniglot's (242 characters, 20 drawers,
    28x28): counts and shapes depend on B, N, K, Q and the image size, not on the pixels.
    """
    pool, rows = torch.zeros(242, 20, 28, 28), []
    for B, N, K, Q in settings:
        ep = EpisodeSampler(pool, n_way=N, k_shot=K, n_query=Q, batch_size=B, seed=seed).sample()
        rows.append(_count_row(f"images, {N}-way {K}-shot Q={Q}", ep))
    return rows


# ---- meta-training and the pooled baseline ---------------------------------------------------


@dataclass(frozen=True)
class Sampling:
    """How meta-training draws tasks: B new waves per step, Q queries, K drawn from a range."""

    batch_size: int = 32
    n_query: int = 20
    k_range: tuple[int, int] = (1, 20)

    def tasks(self, seed: int, device: torch.device | str) -> SineTasks:
        """The meta-training task sampler these settings describe."""
        return SineTasks(
            "meta_train", self.k_range, self.n_query, self.batch_size, seed=seed, device=device
        )


def meta_train(
    family: str,
    *,
    steps: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
    lr: float = 3e-3,
    sampling: Sampling = Sampling(),
    progress: str | bool = True,
) -> tuple[br.RegressionBlackBox, trainer.TrainLog]:
    """Meta-train one family on sine tasks (the one episode loop,
    :func:`~lecture_utils.training.meta_training.meta_train`): each step, B new waves with K in a
    range, Adam on a cosine schedule."""
    with runtime.seeded_init(seed):
        model = br.build_regressor(family, **OPTIONS[family]).to(device)
    desc = progress if isinstance(progress, str) or progress is False else LABELS[family]
    history = meta_training.meta_train(
        model, sampling.tasks(seed, device), steps=steps, lr=lr, loss=meta_training.model_loss,
        schedule="cosine", progress=desc, seed=seed, device=device,
    )  # fmt: skip
    return model, history.log


def pretrain_pooled(
    *,
    steps: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
    lr: float = 3e-3,
    sampling: Sampling = Sampling(),
    progress: str | bool = "pretraining on pooled tasks",
) -> tuple[br.MLPRegressor, trainer.TrainLog]:
    """The transfer baseline: an MLP fitted to the (x, y) of the same meta-batches, pooled.

    It never sees which task a point comes from, so the best it can learn is the average wave.
    """
    with runtime.seeded_init(seed):
        net = br.MLPRegressor().to(device)
    tasks = sampling.tasks(seed, device)

    def loss_at(step: int) -> torch.Tensor:
        ep = tasks.sample()
        x, y = torch.cat([ep.support_x, ep.query_x], 1), torch.cat([ep.support_y, ep.query_y], 1)
        return nn.functional.mse_loss(net(x), y)

    return net, trainer.fit(net, loss_at, steps=steps, lr=lr, schedule="cosine", progress=progress)


def scratch_net(seed: int = 0, device: torch.device | str = "cpu") -> br.MLPRegressor:
    """The same MLP, freshly initialised (every task starts from this one init)."""
    with runtime.seeded_init(seed + 1):
        return br.MLPRegressor().to(device)


# ---- evaluation ----------------------------------------------------------------------------


@torch.no_grad()
def task_mse(model: nn.Module, episode: RegressionEpisode, chunk: int = 250) -> torch.Tensor:
    """``[T]``: each task's query MSE (tasks in chunks of ``chunk``, one forward each)."""
    model.eval()
    out = []
    with runtime.single_thread():
        for start in range(0, episode.support_x.shape[0], chunk):
            ep = episode.tasks(start, start + chunk)
            pred = model(ep.support_x, ep.support_y, ep.query_x)
            out.append((pred - ep.query_y).pow(2).mean(dim=(1, 2)).cpu())
    return torch.cat(out)


def fine_tune_curve(
    net: br.MLPRegressor,
    episode: RegressionEpisode,
    lr: float,
    checkpoints: list[int],
    progress: str | bool = False,
) -> dict[int, torch.Tensor]:
    """Per-task query MSE ``[T]`` after each number of fine-tuning steps in ``checkpoints``."""
    curve = {0: task_mse(br.FineTuned(net, 0, lr), episode)} if 0 in checkpoints else {}

    def score(step: int, weights: list[torch.Tensor]) -> None:
        if step in checkpoints:
            with torch.no_grad():
                pred = net.apply(episode.query_x, weights)
            curve[step] = (pred - episode.query_y).pow(2).mean(dim=(1, 2)).cpu()

    tuner = br.FineTuned(net, max(checkpoints), lr)
    with runtime.single_thread():
        tuner.adapt(episode.support_x, episode.support_y, callback=score, progress=progress)
    return curve


def choose_fine_tuning(
    net: br.MLPRegressor, episode: RegressionEpisode, lrs: list[float], checkpoints: list[int]
) -> tuple[float, int, dict[tuple[float, int], float]]:
    """``(lr, steps)`` with the lowest mean query MSE on ``episode`` (meta-train tasks)."""
    scores = {}
    for lr in lrs:
        for steps, mse in fine_tune_curve(net, episode, lr, checkpoints).items():
            scores[(lr, steps)] = mse.mean().item()
    lr, steps = min(scores, key=scores.get)
    return lr, steps, scores


def interval(values: torch.Tensor) -> stats.Interval:
    """Mean ± t 95% of per-task values."""
    return stats.t_interval(values)


@runtime.marks_fast_mode
def seed_table(
    scores: dict[str, dict[int, list[float]]], budget: dict[str, str], n_tasks: int
) -> str:
    """Mean query MSE ± t 95% over training seeds per model (rows) and K (columns); each
    seed's score is its mean over the same ``n_tasks`` meta-test waves."""
    ks = sorted(next(iter(scores.values())))
    n = len(next(iter(scores.values()))[ks[0]])
    width = max(len(LABELS.get(name, name)) for name in scores) + 2
    head = f"{'model':<{width}}" + "".join(f"{f'MSE, K={k}':>19}" for k in ks) + "   budget"
    lines = [head, "-" * (len(head) + 30)]
    for name, per_k in scores.items():
        cells = "".join(f"{interval_cell(per_k[k], 1.0, 3):>19}" for k in ks)
        lines.append(f"{LABELS.get(name, name):<{width}}{cells}   {budget[name]}")
    lines.append(
        f"(± = {INTERVAL_OVER_SEEDS}, n={n}; each seed's score is its mean over the same "
        f"{n_tasks} meta-test waves)"
    )
    return "\n".join(lines)


def comparisons(
    scores: dict[str, dict[int, list[float]]], ks: tuple[int, ...] = (5, 10)
) -> list[Finding]:
    """The comparisons declared before the run, one family of tests: at each K, every
    black-box model against the pretrained + fine-tuned baseline, and every pair of black-box
    models. Lower MSE is better, so each difference is alternative - arm (> 0: arm better)."""
    out = []
    pairs = [(f, "pretrained") for f in BLACK_BOXES]
    pairs += [(a, b) for i, a in enumerate(BLACK_BOXES) for b in BLACK_BOXES[i + 1 :]]
    for k in ks:
        for arm, alternative in pairs:
            out.append(
                Finding(
                    f"K={k}: {LABELS[arm]} vs {LABELS[alternative]}", LABELS[arm],
                    scores[arm][k], LABELS[alternative], scores[alternative][k], unit="MSE",
                    scale=1.0, lower_is_better=True, digits=3,
                )
            )  # fmt: skip
    return out


# ---- figures -------------------------------------------------------------------------------


def predict(
    model: nn.Module, ep: RegressionEpisode, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean ``[G]`` on the grid ``x [G]`` for task 0 of ``ep``, and sigma (or None)."""
    qx = x.reshape(1, -1, 1).to(ep.support_x.device)
    with torch.no_grad():
        if getattr(model, "gaussian", False):
            mean, sigma = model.distribution(ep.support_x[:1], ep.support_y[:1], qx)
            return mean.flatten().cpu(), sigma.flatten().cpu()
        return model(ep.support_x[:1], ep.support_y[:1], qx).flatten().cpu(), None


def wave_title(amplitude: float, phase: float, k: int | None = None) -> str:
    """A panel title that names its numbers: ``amplitude A=3.00, phase p=1.00`` (and K)."""
    title = f"amplitude A={amplitude:.2f}\nphase p={phase:.2f}"
    return title + (f", K={k}" if k is not None else "")


def draw_task(
    ax: Axes, models: dict[str, nn.Module], ep: RegressionEpisode, legend: bool = False
) -> None:
    """True wave, support points, each model's mean and the CNP's ±2 sigma band; with
    ``legend``, a legend to the right of ``ax`` (outside the data)."""
    x = torch.linspace(-5, 5, 200)
    a, p = ep.amplitude[0].item(), ep.phase[0].item()
    ax.plot(x, a * torch.sin(x - p), color="k", lw=3, alpha=0.35, label="true wave")
    for name, model in models.items():
        mean, sigma = predict(model, ep, x)
        if sigma is not None and name == "neural_process":
            ax.fill_between(x, mean - 2 * sigma, mean + 2 * sigma, color=COLOURS[name],
                            alpha=0.15, label="CNP ± 2σ")  # fmt: skip
        ax.plot(x, mean, color=COLOURS[name], lw=1.8, label=LABELS[name])
    sx, sy = ep.support_x[0, :, 0].cpu(), ep.support_y[0, :, 0].cpu()
    ax.scatter(sx, sy, color="k", zorder=5, s=28, label="support (D_tr)")
    ax.set(xlim=(-5, 5), ylim=(-6.5, 6.5), xlabel="input x", ylabel="output y")
    ax.set_xticks([-4, -2, 0, 2, 4])  # no label on the edges, where neighbours' labels meet
    ax.set_title(wave_title(a, p, sx.numel()), fontsize=12)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def prediction_grid(
    models: dict[str, nn.Module], episode: RegressionEpisode, tasks: list[int], ks: list[int]
) -> Figure:
    """Rows: K; columns: meta-test waves ``tasks``; every model on the same support points.
    One legend for all panels, under them."""
    fig, axes = plt.subplots(
        len(ks), len(tasks), figsize=(11.5, 2.6 * len(ks) + 1.2), sharex=True, sharey=True,
        squeeze=False, layout="constrained",
    )  # fmt: skip
    for i, k in enumerate(ks):
        for j, t in enumerate(tasks):
            ep = episode.task(t).with_support(k)
            draw_task(axes[i][j], models, ep)
    for ax in axes.flat:
        ax.label_outer()
        if not ax.get_subplotspec().is_last_row():
            ax.set_xlabel("")
        if not ax.get_subplotspec().is_first_col():
            ax.set_ylabel("")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=4)
    return fig


def error_vs_k_figure(curves: dict[str, dict[int, torch.Tensor]], n_tasks: int) -> Figure:
    """Mean query MSE (± t 95% over waves) against K for every model, log scales."""
    fig, ax = plt.subplots(figsize=(11, 4.8), layout="constrained")
    for name, per_k in curves.items():
        ks = sorted(per_k)
        ivs = [interval(per_k[k]) for k in ks]
        ax.errorbar(ks, [iv.mean for iv in ivs], yerr=[iv.half_width for iv in ivs], marker="o",
                    capsize=3, color=COLOURS[name], label=LABELS[name])  # fmt: skip
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="K (support points, log scale)",
        ylabel="query MSE (log scale)",
        title=f"Error against K ({n_tasks} meta-test waves; error bars: t 95% over waves)",
    )
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.minorticks_off()
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return fig


class AdaptExplorer:
    """ipywidgets: pick amplitude, phase and K; every model adapts to K points of that wave.

    The K inputs are drawn from ``seed`` (change it to see other support points); the same
    points go to every model. ``widget`` is the box to display.
    """

    def __init__(self, models: dict[str, nn.Module], seed: int = 0) -> None:
        import ipywidgets as widgets

        self.models, self.seed = models, seed
        slider = dict(continuous_update=False, style={"description_width": "initial"})
        self.controls = {
            "amplitude": widgets.FloatSlider(value=3.0, min=0.1, max=5.0, step=0.1, **slider),
            "phase": widgets.FloatSlider(value=1.0, min=0.0, max=3.14, step=0.05, **slider),
            "k_shot": widgets.IntSlider(value=5, min=1, max=20, description="K", **slider),
            "seed": widgets.IntSlider(
                value=seed, min=0, max=20, description="points seed", **slider
            ),  # fmt: skip
        }
        out = widgets.interactive_output(self.draw, self.controls)
        self.widget = widgets.VBox([widgets.HBox(list(self.controls.values())), out])
        keyboard_guard()

    def draw(self, amplitude: float, phase: float, k_shot: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        ep = make_episode(torch.tensor([amplitude]), torch.tensor([phase]), k_shot, 1, gen)
        fig, ax = plt.subplots(figsize=(11, 4.6), layout="constrained")
        draw_task(ax, self.models, ep, legend=True)
        plt.show()


# ---- skill miniature: reach a new goal from a few demonstrated (state, action) pairs ----------

MAX_SPEED = 0.25  # the point moves at most this far per step


def clip_speed(action: torch.Tensor) -> torch.Tensor:
    """Scale actions ``[..., 2]`` down to length ``MAX_SPEED`` at most."""
    norm = action.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    return action * (MAX_SPEED / norm).clamp(max=1.0)


def goal_batch(goals: torch.Tensor, k_shot: int, n_query: int, generator: torch.Generator) -> Batch:
    """States uniform in [-1.5, 1.5]^2 labelled with the expert's action for each goal
    ``[B, 2]``: head straight for the goal at full speed (``clip_speed(goal - state)``)."""
    states = 3 * torch.rand(goals.shape[0], k_shot + n_query, 2, generator=generator) - 1.5
    actions = clip_speed(goals[:, None, :] - states)
    return states[:, :k_shot], actions[:, :k_shot], states[:, k_shot:], actions[:, k_shot:]


def draw_goals(n: int, split: str, seed: int = 0) -> torch.Tensor:
    """``[n, 2]`` goals uniform in [-1, 1]^2; the split rule of :func:`sine_tasks.task_seed`."""
    return 2 * torch.rand(n, 2, generator=torch.Generator().manual_seed(task_seed(split, seed))) - 1


def train_policy(
    model: nn.Module, *, pooled: bool, steps: int, k_range: tuple[int, int] = (1, 10),
    seed: int = 0, device: torch.device | str = "cpu", lr: float = 3e-3, batch_size: int = 32,
) -> trainer.TrainLog:  # fmt: skip
    """Meta-train a black-box policy (``pooled=False``: loss on queries given D_tr, K drawn
    from ``k_range`` per step), or fit a plain network to the same (state, action) pairs with
    the goals hidden (``pooled=True``)."""
    gen = torch.Generator().manual_seed(task_seed("meta_train", seed))
    model.to(device)

    def loss_at(step: int) -> torch.Tensor:
        goals = 2 * torch.rand(batch_size, 2, generator=gen) - 1
        k_shot = int(torch.randint(k_range[0], k_range[1] + 1, (1,), generator=gen))
        sx, sy, qx, qy = (t.to(device) for t in goal_batch(goals, k_shot, 20, gen))
        if pooled:
            return nn.functional.mse_loss(model(qx), qy)
        return model.loss(sx, sy, qx, qy)

    desc = "pooled policy" if pooled else "meta-trained policy (CNP)"
    return trainer.fit(model, loss_at, steps=steps, lr=lr, schedule="cosine", progress=desc)


@torch.no_grad()
def rollout(
    policy: Callable[[torch.Tensor], torch.Tensor], goals: torch.Tensor, starts: torch.Tensor,
    horizon: int = 16,
) -> torch.Tensor:  # fmt: skip
    """``[T, horizon+1, 2]`` closed-loop trajectories; ``policy(states [T, 1, 2])`` -> actions."""
    path = [starts]
    for _ in range(horizon):
        path.append(path[-1] + clip_speed(policy(path[-1][:, None, :])[:, 0]))
    return torch.stack(path, dim=1)


def trajectory_figure(
    paths: dict[str, torch.Tensor],
    goals: torch.Tensor,
    support: tuple[torch.Tensor, torch.Tensor] | list[torch.Tensor],
    tasks: list[int],
) -> Figure:
    """A few goals: each policy's path, the goal (star) and the demonstrated pairs (arrows);
    one legend for all panels, under them."""
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(11.5, 4.4), sharex=True, sharey=True, squeeze=False,
        layout="constrained",
    )  # fmt: skip
    axes = axes[0]
    for ax, t in zip(axes, tasks, strict=True):
        for (name, path), c in zip(paths.items(), ["k", PALETTE[0], PALETTE[1]], strict=False):
            ax.plot(path[t, :, 0], path[t, :, 1], ".-", color=c, lw=1.6, ms=5, label=name)
        sx, sy = support[0][t], support[1][t]
        ax.quiver(sx[:, 0], sx[:, 1], sy[:, 0], sy[:, 1], angles="xy", scale_units="xy",
                  scale=1, color=PALETTE[2], width=0.008, label="D_tr pairs")  # fmt: skip
        ax.plot(*goals[t], "*", color=PALETTE[4], ms=18, mec="k", label="goal (the task)")
        ax.set(xlim=(-1.6, 1.6), ylim=(-1.6, 1.6), aspect="equal", title=f"meta-test goal {t}")
        ax.set(xlabel="position x1", ylabel="position x2" if ax is axes[0] else "")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    return fig


def mean_distance(paths: torch.Tensor, goals: torch.Tensor) -> stats.Interval:
    """Mean final distance to the goal, ± t 95% over the goals."""
    return stats.t_interval((paths[:, -1] - goals).norm(dim=-1))


def phi_rows(models: dict[str, nn.Module], ks: tuple[int, ...] = (5, 10)) -> list[str]:
    """One line per model: what phi is and how many numbers it holds at each K."""
    return [
        f"{LABELS[name]:<28} |phi| = "
        + ", ".join(f"{model.phi_size(k):>5} (K={k})" for k in ks)
        + f"   phi = {model.phi_description}"
        for name, model in models.items()
    ]


def average_wave_mse(episode: RegressionEpisode) -> torch.Tensor:
    """``[T]``: query MSE of the best task-blind guess, the average wave ``-(2/pi) E[A] cos x``.

    (Averaged over phases in [0, pi], ``A sin(x - p)`` is ``-(2/pi) A cos x``; E[A] = 2.55.)
    """
    guess = -(2 / math.pi) * 2.55 * torch.cos(episode.query_x)
    return (guess - episode.query_y).pow(2).mean(dim=(1, 2)).cpu()
