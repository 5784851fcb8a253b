"""Image transforms shared by every notebook: rotation classes and batch augmentations.

Each augmentation has the signature ``augment(x, generator) -> x`` on a batch ``[B, 1, S, S]``
and draws its randomness from the generator it is given, never from the global RNG.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def quarter_turns(images: torch.Tensor) -> torch.Tensor:
    """``[..., S, S] -> [4, ..., S, S]``: the images turned by 0°, 90°, 180° and 270°."""
    return torch.stack([torch.rot90(images, r, dims=(-2, -1)) for r in range(4)])


def rotation_classes(pool: torch.Tensor) -> torch.Tensor:
    """``[C, D, ...]`` classes → ``[4C, D, ...]``: class ``4c + r`` is class ``c`` turned ``r``
    quarter turns (the standard trick that quadruples Omniglot's classes)."""
    return quarter_turns(pool).transpose(0, 1).flatten(0, 1)


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Move every image of ``x`` ``[B, C, S, S]`` by its own random offset of up to
    ``max_shift`` pixels along each axis; the gap repeats the border pixels."""
    if max_shift < 0:
        raise ValueError(f"max_shift={max_shift} must be 0 (no shift) or more pixels.")
    if max_shift == 0:
        return x
    n, size = x.shape[0], x.shape[-1]
    padded = F.pad(x, (max_shift,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator)
    rows = (dy + torch.arange(size)).to(x.device)  # [B, S]
    cols = (dx + torch.arange(size)).to(x.device)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def random_affine(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Small random rotations (±15°·strength), scalings (±15%·strength) and shifts
    (±7.5% of the width·strength) of a batch ``[B, 1, S, S]``, in one ``grid_sample`` call."""
    if strength < 0:
        raise ValueError(f"strength={strength} must be 0 (no change) or more.")
    if strength == 0:
        return x
    b = x.shape[0]

    def uniform(*shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=generator) * 2 - 1) * strength

    angle, scale, shift = 0.26 * uniform(b), 1 + 0.15 * uniform(b), 0.15 * uniform(b, 2)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    ).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def shifts(max_shift: int) -> Augment:
    """:func:`random_shift` as an ``augment(x, generator)`` function."""
    return lambda x, g: random_shift(x, max_shift, g)


def affine(strength: float) -> Augment:
    """:func:`random_affine` as an ``augment(x, generator)`` function."""
    return lambda x, g: random_affine(x, strength, g)
