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


# -- contracts found by mutation testing (make mutate-all); each names the mutants it kills ------


def test_quarter_turns_of_a_single_image_by_hand() -> None:
    """quarter_turns 8: the turns are over the last two axes, also for a plain [S, S] image."""
    image = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    turns = transforms.quarter_turns(image)
    assert turns[1].tolist() == [[1.0, 3.0], [0.0, 2.0]]  # 90° counter-clockwise
    assert turns[2].tolist() == [[3.0, 2.0], [1.0, 0.0]]


def test_random_shift_reaches_every_offset_and_repeats_the_border() -> None:
    """random_shift 30 (offsets -max..+max, zero included), 16 (the gap repeats the border:
    an all-ones image stays all ones)."""
    dot = torch.zeros(400, 1, 5, 5)
    dot[:, :, 2, 2] = 1.0
    out = transforms.random_shift(dot, 1, torch.Generator().manual_seed(0))
    places = {tuple(int(i) for i in (o[0] == 1).nonzero()[0]) for o in out}
    assert places == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}
    ones = torch.ones(8, 1, 5, 5)
    assert torch.equal(transforms.random_shift(ones, 2, torch.Generator().manual_seed(0)), ones)


def test_shifts_and_affine_are_the_functions_with_their_setting() -> None:
    """shifts 1-7: shifts(m)(x, g) is random_shift(x, m, g)."""
    x = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    got = transforms.shifts(2)(x, torch.Generator().manual_seed(3))
    assert torch.equal(got, transforms.random_shift(x, 2, torch.Generator().manual_seed(3)))


def test_random_affine_matches_its_documented_ranges() -> None:
    """random_affine 8-35, 50, 51, 68, 75: rotation 0.26·u rad (±15°), scale 1 + 0.15·u,
    shift 0.15·u per axis (±7.5% of the width in [-1, 1] units), with u uniform in
    [-strength, strength] drawn in that order; theta = [[cos/s, -sin/s, tx], [sin/s, cos/s,
    ty]]; grid and sampling with align_corners=False. 39, 41: the input's dtype is kept."""
    import math

    import torch.nn.functional as F

    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    strength = 0.7
    got = transforms.random_affine(x, strength, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    u = [(torch.rand(*shape, generator=g) * 2 - 1) * strength for shape in ((3,), (3,), (3, 2))]
    theta = torch.zeros(3, 2, 3, dtype=torch.float64)
    for i in range(3):
        angle, scale = 0.26 * float(u[0][i]), 1 + 0.15 * float(u[1][i])
        c, s = math.cos(angle) / scale, math.sin(angle) / scale
        tx, ty = 0.15 * float(u[2][i, 0]), 0.15 * float(u[2][i, 1])
        theta[i] = torch.tensor([[c, -s, tx], [s, c, ty]])
    grid = F.affine_grid(theta, [3, 1, 8, 8], align_corners=False)
    expected = F.grid_sample(x, grid, align_corners=False)
    assert got.dtype == torch.float64
    assert torch.allclose(got, expected, atol=1e-5)
