"""Rotation classes, shifts and affine augmentations against hand-made images."""

from __future__ import annotations

import pytest
import torch

from lecture_utils.data import transforms


def test_rotation_classes_interleave_the_quarter_turns() -> None:
    pool = torch.arange(2 * 3 * 2 * 2, dtype=torch.float).reshape(2, 3, 2, 2)  # 2 classes
    out = transforms.rotation_classes(pool)
    assert out.shape == (8, 3, 2, 2)
    # class 4c + r is class c turned r quarter turns, drawer by drawer
    assert torch.equal(out[0], pool[0]) and torch.equal(out[4], pool[1])
    assert torch.equal(out[5], torch.rot90(pool[1], 1, dims=(-2, -1)))
    assert torch.equal(out[2, 1], torch.tensor([[pool[0, 1, 1, 1], pool[0, 1, 1, 0]],
                                                [pool[0, 1, 0, 1], pool[0, 1, 0, 0]]]))  # fmt: skip


def test_each_image_gets_its_own_shift_and_keeps_its_ink() -> None:
    x = torch.zeros(64, 1, 9, 9)
    x[:, :, 4, 4] = 1.0  # one dot in the middle of every image
    moved = transforms.random_shift(x, 2, torch.Generator().manual_seed(0))
    where = [tuple((m[0] == 1).nonzero()[0].tolist()) for m in moved]
    assert all(abs(r - 4) <= 2 and abs(c - 4) <= 2 for r, c in where)
    assert len(set(where)) > 10, "one shift for the whole batch instead of one per image"
    assert moved.sum() == x.sum()
    again = transforms.random_shift(x, 2, torch.Generator().manual_seed(0))
    assert torch.equal(moved, again)
    assert transforms.random_shift(x, 0, torch.Generator()) is x
    with pytest.raises(ValueError, match="max_shift"):
        transforms.random_shift(x, -1, torch.Generator())


def test_affine_is_seeded_and_identity_at_zero_strength() -> None:
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    x = torch.rand(16, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    assert transforms.random_affine(x, 0.0, gen()) is x
    a, b = transforms.affine(1.0)(x, gen()), transforms.affine(1.0)(x, gen())
    assert torch.equal(a, b) and not torch.equal(a, x)
    per_image = (a - x).abs().flatten(1).sum(1)
    assert per_image.unique().numel() > 8  # each image its own transform
    with pytest.raises(ValueError, match="strength"):
        transforms.random_affine(x, -0.5, gen())
