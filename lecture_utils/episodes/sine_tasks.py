"""Sine-wave regression tasks (Finn et al., 2017) in the episode vocabulary of notebook 03.

A **task** is one wave ``y = A sin(x - p)`` with amplitude ``A`` in [0.1, 5] and phase ``p`` in
[0, pi]; its inputs ``x`` are uniform in [-5, 5]. A task's **support set** D_tr holds ``K``
points ``(x, y)``, its **query set** D_test ``Q`` other points of the same wave. A **meta-batch**
stacks ``B`` tasks. Shapes of one meta-batch (:class:`RegressionEpisode`):

===============  ===========  =============================================
field            shape        meaning
===============  ===========  =============================================
``support_x``    ``[B, K, 1]``  D_train inputs of every task
``support_y``    ``[B, K, 1]``  their targets ``A sin(x - p)``
``query_x``      ``[B, Q, 1]``  D_test inputs
``query_y``      ``[B, Q, 1]``  D_test targets
``amplitude``    ``[B]``        ``A`` of each task
``phase``        ``[B]``        ``p`` of each task
===============  ===========  =============================================

Unlike the image episodes, ``Q`` counts points per *task* (a regression task has no classes).

**Meta-train vs meta-test tasks.** Every wave is a new task, so the two splits cannot be told
apart by their parameters' ranges; they differ by where the parameters come from. Meta-train
tasks are an endless stream from generator seed ``2*seed``; meta-test tasks are a fixed, finite
pool of ``pool_size`` waves from generator seed ``2*seed + 1`` (see :func:`task_seed`), so no
meta-test wave is ever drawn during meta-training, and the pool is the same for every ``K``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields

import torch

from lecture_utils.core import checks
from lecture_utils.episodes.task_batch import TaskBatch

AMPLITUDE_RANGE = (0.1, 5.0)
PHASE_RANGE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)
SPLITS = ("meta_train", "meta_test")


def task_seed(split: str, seed: int) -> int:
    """The generator seed of a split's task parameters: even for meta-train, odd for meta-test.

    Any two (split, seed) pairs with different splits get different generator seeds, so the
    meta-train stream and the meta-test pool never share a generator.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {list(SPLITS)}.")
    seed = checks.whole_number("seed", seed, 0)
    return 2 * seed + SPLITS.index(split)


def sine(x: torch.Tensor, amplitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``A sin(x - p)``; ``amplitude`` and ``phase`` ``[B]`` broadcast over ``x [B, M, 1]``."""
    return amplitude[:, None, None] * torch.sin(x - phase[:, None, None])


def points_per_task(k_shot: int, n_query: int) -> int:
    """Points in one task: K support + Q query."""
    return k_shot + n_query


def points_per_meta_batch(batch_size: int, k_shot: int, n_query: int) -> int:
    """Points in a meta-batch of B tasks: B·(K+Q)."""
    return batch_size * points_per_task(k_shot, n_query)


@dataclass
class RegressionEpisode(TaskBatch):
    """One meta-batch of regression tasks; see the module docstring for the shapes."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    amplitude: torch.Tensor
    phase: torch.Tensor

    def with_support(self, k_shot: int) -> RegressionEpisode:
        """The same tasks and queries with only the first ``k_shot`` support points."""
        if not 1 <= k_shot <= self.support_x.shape[1]:
            raise ValueError(f"k_shot must be in 1..{self.support_x.shape[1]}, got {k_shot}.")
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["support_x"] = self.support_x[:, :k_shot]
        values["support_y"] = self.support_y[:, :k_shot]
        return RegressionEpisode(**values)


def make_episode(
    amplitude: torch.Tensor,
    phase: torch.Tensor,
    k_shot: int,
    n_query: int,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> RegressionEpisode:
    """Episodes of the given waves: K support and Q query inputs uniform in ``X_RANGE``."""
    k_shot, n_query = _check_counts(k_shot=k_shot, n_query=n_query)
    lo, hi = X_RANGE
    x = lo + (hi - lo) * torch.rand(amplitude.shape[0], k_shot + n_query, 1, generator=generator)
    y = sine(x, amplitude, phase)
    episode = RegressionEpisode(
        support_x=x[:, :k_shot],
        support_y=y[:, :k_shot],
        query_x=x[:, k_shot:],
        query_y=y[:, k_shot:],
        amplitude=amplitude,
        phase=phase,
    )
    return episode.to(device)


def _check_counts(**values: int) -> list[int]:
    """Each value as an ``int`` >= 1 (NumPy and 0-d tensor integers accepted)."""
    return [checks.whole_number(name, value, 1) for name, value in values.items()]


def _uniform(n: int, bounds: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(n, generator=generator)


class SineTasks:
    """Draws meta-batches of sine-wave tasks: ``SineTasks(split, k_shot, n_query, ...)``.

    ``split="meta_train"``: every :meth:`sample` draws ``batch_size`` new waves.
    ``split="meta_test"``: the waves come, in order and cycling, from a fixed pool of
    ``pool_size`` waves drawn once from the meta-test seed (the pool does not depend on
    ``k_shot`` or ``n_query``); :meth:`pool_episode` returns the whole pool as one meta-batch.
    ``k_shot`` may be a range ``(low, high)``: each meta-batch then draws its own K uniformly
    from ``low..high`` (one K per meta-batch, so the tensors stay rectangular). The same
    ``seed`` always gives the same sequence of meta-batches.
    """

    def __init__(
        self,
        split: str = "meta_train",
        k_shot: int | tuple[int, int] = 5,
        n_query: int = 10,
        batch_size: int = 25,
        seed: int = 0,
        device: torch.device | str = "cpu",
        pool_size: int = 1000,
    ) -> None:
        self.split = split
        self.seed = task_seed(split, seed)
        if isinstance(k_shot, tuple | list):
            if len(k_shot) != 2:
                raise ValueError(f"k_shot={k_shot!r} must be a whole number or (low, high).")
            low, high = _check_counts(k_shot_low=k_shot[0], k_shot_high=k_shot[1])
        else:
            low = high = checks.whole_number("k_shot", k_shot, 1, fix="or a range (low, high)")
        n_query, batch_size, pool_size = _check_counts(
            n_query=n_query, batch_size=batch_size, pool_size=pool_size
        )
        if high < low:
            raise ValueError(f"k_shot range must be (low, high) with low <= high, got {k_shot}.")
        self.k_range = (low, high)
        self.n_query, self.batch_size, self.pool_size = n_query, batch_size, pool_size
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.pool: tuple[torch.Tensor, torch.Tensor] | None = None
        if split == "meta_test":  # drawn first, so the pool is independent of K and Q
            pool_gen = torch.Generator().manual_seed(self.seed)
            amplitude = _uniform(pool_size, AMPLITUDE_RANGE, pool_gen)
            self.pool = (amplitude, _uniform(pool_size, PHASE_RANGE, pool_gen))
            self.generator.manual_seed(self.seed + 2**40)  # points: a stream of their own
        self._next = 0

    @property
    def k_shot(self) -> int:
        """K when it is fixed (raises for a K range)."""
        if self.k_range[0] != self.k_range[1]:
            raise AttributeError(f"k_shot varies per meta-batch in {self.k_range}.")
        return self.k_range[0]

    def _draw_k(self) -> int:
        low, high = self.k_range
        if low == high:
            return low
        return int(torch.randint(low, high + 1, (1,), generator=self.generator))

    def sample(self) -> RegressionEpisode:
        """Draw one meta-batch (see the module docstring for the shapes)."""
        k_shot, B = self._draw_k(), self.batch_size
        if self.pool is None:
            amplitude = _uniform(B, AMPLITUDE_RANGE, self.generator)
            phase = _uniform(B, PHASE_RANGE, self.generator)
        else:
            index = (self._next + torch.arange(B)) % self.pool_size
            self._next = (self._next + B) % self.pool_size
            amplitude, phase = self.pool[0][index], self.pool[1][index]
        return make_episode(amplitude, phase, k_shot, self.n_query, self.generator, self.device)

    def pool_episode(self, k_shot: int | None = None) -> RegressionEpisode:
        """Meta-test only: every wave of the pool in one meta-batch, the same on every call.

        The query points do not depend on ``k_shot``, and the support points for a smaller K
        are the first K of a larger K's: errors at different K are compared on the same tasks.
        """
        if self.pool is None:
            raise ValueError("pool_episode() is for split='meta_test' (meta-train has no pool).")
        k_shot = self.k_range[1] if k_shot is None else k_shot
        (k_shot,) = _check_counts(k_shot=k_shot)
        lo, hi = X_RANGE
        amplitude, phase = self.pool
        support_gen = torch.Generator().manual_seed(self.seed + 2**41)
        query_gen = torch.Generator().manual_seed(self.seed + 2**42)
        # Drawn as [K, P] then transposed, so that K=5 is a prefix of K=10.
        support_x = lo + (hi - lo) * torch.rand(k_shot, self.pool_size, generator=support_gen)
        query_x = lo + (hi - lo) * torch.rand(self.pool_size, self.n_query, generator=query_gen)
        support_x, query_x = support_x.T[..., None].contiguous(), query_x[..., None]
        episode = RegressionEpisode(
            support_x=support_x,
            support_y=sine(support_x, amplitude, phase),
            query_x=query_x,
            query_y=sine(query_x, amplitude, phase),
            amplitude=amplitude,
            phase=phase,
        )
        return episode.to(self.device)

    def __iter__(self) -> Iterator[RegressionEpisode]:
        while True:
            yield self.sample()

    def __repr__(self) -> str:
        low, high = self.k_range
        k = f"K={low}" if low == high else f"K={low}..{high}"
        pool = f", pool={self.pool_size}" if self.pool is not None else ""
        return f"SineTasks({self.split}, {k}, Q={self.n_query}, B={self.batch_size}{pool})"
