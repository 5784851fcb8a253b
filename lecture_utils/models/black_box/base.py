"""The shared plumbing of the black-box families: item encoders, episode checks and the base
class every family subclasses (see :mod:`lecture_utils.models.black_box` for the families)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lecture_utils.core import checks
from lecture_utils.models.convnet import ConvTrunk


def make_encoder(
    kind: str,
    image_size: int = 28,
    channels: int = 64,
    feature_dim: int | None = None,
    stem_stride: int = 1,
) -> tuple[nn.Module, int]:
    """An item encoder and its output size.

    ``"conv"``: a fresh :class:`ConvTrunk` (``channels`` features, learned end to end; a strided
    first block with ``stem_stride`` > 1, for large images);
    ``"pixels"``: raw pixels flattened (``image_size**2`` numbers, the homework baseline);
    ``"features"``: precomputed feature vectors of size ``feature_dim``, flattened.
    """
    if kind == "conv":
        trunk = ConvTrunk(channels=channels, stem_stride=stem_stride)
        return trunk, trunk.out_features
    if kind == "pixels":
        return nn.Flatten(), image_size * image_size
    if kind == "features":
        if not feature_dim or feature_dim < 1:
            raise ValueError(
                f"encoder 'features' needs feature_dim >= 1 (the size of the precomputed "
                f"features), got {feature_dim!r}."
            )
        return nn.Flatten(), feature_dim
    raise ValueError(f"Unknown encoder kind {kind!r}; choose 'conv', 'pixels' or 'features'.")


def check_widths(**widths: int) -> None:
    """Every width a whole number >= 1 (NumPy and 0-d tensor integers accepted)."""
    for name, value in widths.items():
        checks.whole_number(name, value, 1)


def check_episode(
    support_x: torch.Tensor,
    support_y: torch.Tensor,
    query_x: torch.Tensor,
    *,
    item_numel: int | None = None,
    all_labels: bool = False,
) -> tuple[int, int]:
    """Check an episode; return ``(B, N)``, N = largest support label + 1. ``item_numel``: numbers
    per item the model expects; ``all_labels``: each task must use every label 0..N-1."""
    if support_x.dim() < 3 or query_x.dim() < 3:
        raise ValueError(
            "support_x and query_x must be [B, items, ...] (e.g. [B, N*K, 1, S, S]); got "
            f"shapes {tuple(support_x.shape)} and {tuple(query_x.shape)}."
        )
    if support_y.dim() != 2 or support_y.shape != support_x.shape[:2]:
        raise ValueError(
            f"support_y must be [B, N*K] = {tuple(support_x.shape[:2])} to match support_x, "
            f"got {tuple(support_y.shape)}."
        )
    if query_x.shape[0] != support_x.shape[0] or query_x.shape[2:] != support_x.shape[2:]:
        raise ValueError(
            f"query_x {tuple(query_x.shape)} must have the batch size and item shape of "
            f"support_x {tuple(support_x.shape)}."
        )
    if support_y.dtype in (torch.float16, torch.float32, torch.float64, torch.bfloat16):
        raise ValueError("support_y must hold integer labels 0..N-1, not floats (or one-hots).")
    if support_y.numel() == 0 or support_y.min() < 0:
        raise ValueError("support_y must be non-empty labels in 0..N-1.")
    if query_x.shape[1] == 0:
        raise ValueError(
            f"query_x {tuple(query_x.shape)} holds no query items; every task needs at least one "
            "query (n_query >= 1) to be predicted and scored."
        )
    got, side = support_x.shape[2:].numel(), round((item_numel or 0) ** 0.5)
    if item_numel is not None and got != item_numel:
        built = f"{side}x{side} px images" if side * side == item_numel else "features"
        raise ValueError(
            f"The model was built for items of {item_numel} numbers ({built}), but the episode's "
            f"items are {tuple(support_x.shape[2:])} ({got} numbers). Build the model for this "
            "image size (build_model(..., image_size=S)) or resize the images."
        )
    n_way = int(support_y.max()) + 1
    seen = torch.zeros(len(support_y), n_way if all_labels else 0, device=support_y.device)
    if all_labels and (seen.scatter_(1, support_y, 1.0) == 0).any():
        missing = (seen == 0).nonzero()[0].tolist()  # [task, label]
        raise ValueError(
            f"support_y must use every label 0..N-1 without gaps (N = largest label + 1 = {n_way})"
            f"; task {missing[0]} has no label {missing[1]}. Relabel the classes 0..N-1."
        )
    return support_x.shape[0], n_way


class BlackBoxModel(nn.Module):
    """Shared plumbing: the item encoder, ``max_way`` and input checks."""

    phi_description = ""

    def __init__(self, encoder: nn.Module, feature_dim: int, max_way: int | None) -> None:
        super().__init__()
        check_widths(feature_dim=feature_dim, **({} if max_way is None else {"n_way": max_way}))
        self.encoder = encoder
        self.feature_dim = feature_dim
        self.max_way = max_way

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, M, *item] -> [B, M, feature_dim]`` (one encoder pass over all items)."""
        B, M = x.shape[:2]
        return self.encoder(x.reshape(B * M, *x.shape[2:])).reshape(B, M, -1)

    def _n_way(self, support_x, support_y, query_x) -> int:
        size = self.feature_dim if isinstance(self.encoder, nn.Flatten) else None  # pixels
        free = self.max_way is None  # N comes from the labels alone: no gaps allowed
        _, n_way = check_episode(support_x, support_y, query_x, item_numel=size, all_labels=free)
        if self.max_way is not None and n_way > self.max_way:
            raise ValueError(
                f"{type(self).__name__} was built for at most max_way={self.max_way} classes "
                f"(its label inputs/outputs have that size), but support_y has {n_way}; test at "
                f"N <= {self.max_way} or build the model with a larger max_way."
            )
        return n_way

    def phi_size(self, n_way: int, k_shot: int) -> int:  # pragma: no cover - overridden
        """Number of floats in phi for an N-way K-shot task."""
        raise NotImplementedError


def one_hot(labels: torch.Tensor, size: int) -> torch.Tensor:
    return F.one_hot(labels, size).float()


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear → ReLU → ... → Linear (no activation after the last layer)."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])
