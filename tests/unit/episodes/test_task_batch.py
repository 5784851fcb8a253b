"""Meta-batches move and slice along the task axis, every field alike."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lecture_utils.episodes.task_batch import TaskBatch


@dataclass
class Pair(TaskBatch):
    support_x: torch.Tensor
    query_x: torch.Tensor


def test_task_and_tasks_slice_every_field_on_axis_0() -> None:
    batch = Pair(torch.arange(12).reshape(4, 3), torch.arange(8).reshape(4, 2))
    one = batch.task(2)
    assert one.support_x.tolist() == [[6, 7, 8]] and one.query_x.tolist() == [[4, 5]]
    some = batch.tasks(1, 3)
    assert some.support_x.tolist() == [[3, 4, 5], [6, 7, 8]] and some.query_x.shape == (2, 2)
    moved = batch.to("cpu")
    assert isinstance(moved, Pair) and torch.equal(moved.query_x, batch.query_x)
