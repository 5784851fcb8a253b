"""The small CNN shared by every notebook: a trunk of conv blocks and linear heads.

``ConvTrunk`` is the classic 4-block Omniglot encoder (conv 3x3 → batch norm → ReLU → 2x2 max
pool). With 28x28 inputs it maps ``[B, 1, 28, 28]`` to ``[B, channels]`` features.
Its blocks are exposed as ``trunk.blocks`` so that fine-tuning helpers can freeze, unfreeze or
give per-block learning rates.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """conv → BatchNorm → ReLU → max-pool 2x2: divides the spatial size by ``2 * stride``.

    ``stride=1``: a 3x3 conv (padding 1). ``stride=s > 1``: a ``(2s+1)``-wide conv with stride
    ``s``, which reads a large image at full resolution and hands on a small map.
    """
    kernel = 3 if stride == 1 else 2 * stride + 1
    return nn.Sequential(
        nn.Conv2d(
            in_channels, out_channels, kernel_size=kernel, stride=stride, padding=kernel // 2
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def min_input_size(depth: int, stem_stride: int = 1) -> int:
    """The smallest image side that still leaves a 1x1 map after ``depth`` conv blocks."""

    def out(size: int) -> int:
        for i in range(depth):
            stride = stem_stride if i == 0 else 1
            size = -(-size // stride) // 2  # the conv keeps ceil(S / stride), the pool halves
        return size

    size = 1
    while out(size) < 1:
        size += 1
    return size


class ConvTrunk(nn.Module):
    """``depth`` conv blocks then global average pooling: ``[B, 1, S, S] -> [B, channels]``.

    ``stem_stride=2`` makes the first block a strided conv, so a 56x56 image costs about what a
    28x28 one does while the first filters still see every pixel.
    """

    def __init__(
        self, channels: int = 64, depth: int = 4, in_channels: int = 1, stem_stride: int = 1
    ) -> None:
        super().__init__()
        if not isinstance(stem_stride, int) or stem_stride < 1:
            raise ValueError(f"stem_stride must be a whole number >= 1, got {stem_stride!r}.")
        sizes = [in_channels] + [channels] * depth
        self.blocks = nn.ModuleList(
            conv_block(a, b, stem_stride if i == 0 else 1)
            for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False))
        )
        self.out_features = channels
        self.min_size = min_input_size(depth, stem_stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # [B, S, S] -> [B, 1, S, S]
            x = x.unsqueeze(1)
        if x.dim() != 4 or min(x.shape[-2:]) < self.min_size:
            raise ValueError(
                f"ConvTrunk input of shape {tuple(x.shape)} must be [B, 1, S, S] images with "
                f"S >= {self.min_size} (each of the {len(self.blocks)} blocks halves the size); "
                "pass larger images (e.g. load_omniglot(image_size=28)) or a shallower trunk."
            )
        for block in self.blocks:
            x = block(x)
        return x.mean(dim=(-2, -1))


class Classifier(nn.Module):
    """A trunk and one linear head: ``[B, 1, S, S] -> [B, num_classes]`` logits."""

    def __init__(self, trunk: ConvTrunk, num_classes: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = nn.Linear(trunk.out_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))

    def layers(self) -> list[nn.Module]:
        """The trainable stages from input to output: conv blocks, then the head."""
        return [*self.trunk.blocks, self.head]

    def reset_head(self, num_classes: int | None = None) -> None:
        """Re-initialise the last layer (optionally with a new number of classes)."""
        out = num_classes or self.head.out_features
        device = self.head.weight.device
        self.head = nn.Linear(self.trunk.out_features, out).to(device)


class MultiHeadClassifier(nn.Module):
    """A shared trunk with one linear head per task: ``model(x, task) -> logits``."""

    def __init__(self, trunk: ConvTrunk, classes_per_task: dict[str, int]) -> None:
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleDict(
            {name: nn.Linear(trunk.out_features, n) for name, n in classes_per_task.items()}
        )

    def forward(self, x: torch.Tensor, task: str) -> torch.Tensor:
        return self.heads[task](self.trunk(x))

    def as_classifier(self, task: str) -> Classifier:
        """A :class:`Classifier` view that shares this trunk and the head of ``task``."""
        model = Classifier.__new__(Classifier)
        nn.Module.__init__(model)
        model.trunk, model.head = self.trunk, self.heads[task]
        return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
