"""Meta-batches as dataclasses of tensors with the tasks on axis 0: move, slice, select."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TypeVar

import torch

BatchT = TypeVar("BatchT", bound="TaskBatch")


class TaskBatch:
    """Shared by every meta-batch dataclass whose fields all have the tasks on axis 0."""

    def _map(self: BatchT, fn: Callable[[torch.Tensor], torch.Tensor]) -> BatchT:
        return type(self)(**{f.name: fn(getattr(self, f.name)) for f in fields(self)})

    def to(self: BatchT, device: torch.device | str) -> BatchT:
        """Every field moved to ``device``."""
        return self._map(lambda t: t.to(device))

    def task(self: BatchT, b: int) -> BatchT:
        """Task ``b`` alone, as a meta-batch of one."""
        return self._map(lambda t: t[b : b + 1])

    def tasks(self: BatchT, start: int, stop: int) -> BatchT:
        """Tasks ``start..stop-1`` as a smaller meta-batch."""
        return self._map(lambda t: t[start:stop])
