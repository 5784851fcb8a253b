"""Black-box models that pool the support set class by class.

- :class:`ClassContext`: a context vector per class, read by a shared network (Q3 of
  notebook 04: the lecture's context ``h``, pooled per class instead of over the whole set);
- :class:`NearestClassMean`: no meta-learning, the class means of fixed features (the
  transfer-learning baseline on a frozen pretrained encoder).

Both share the interface of :mod:`lecture_utils.models.black_box` and work for any N and K.
"""

from __future__ import annotations

import torch
from torch import nn

from lecture_utils.models.black_box.base import BlackBoxModel, check_widths, mlp, one_hot
from lecture_utils.models.black_box.registry import register


def class_means(values: torch.Tensor, support_y: torch.Tensor, n_way: int) -> torch.Tensor:
    """``[B, N, D]``: the mean of ``values [B, NK, D]`` over the support items of each label."""
    assign = one_hot(support_y, n_way)  # [B, NK, N]
    return assign.transpose(1, 2) @ values / assign.sum(1).clamp(min=1)[..., None]


class ClassContext(BlackBoxModel):
    """The context vector pooled per class: ``h_n`` = mean of g(x) over the support items
    labelled ``n`` (``context_dim`` numbers each); logit ``n`` = r(x, h_n), one shared MLP.

    phi is ``N`` context vectors, read by a network (not used as weights); any N works.
    """

    phi_description = "one context vector per class: mean of g(x) over its support items"

    def __init__(
        self, encoder: nn.Module, feature_dim: int, context_dim: int = 64, hidden: int = 256
    ) -> None:
        super().__init__(encoder, feature_dim, None)
        check_widths(context_dim=context_dim, hidden=hidden)
        self.context_dim = context_dim
        self.g = mlp([feature_dim, hidden, hidden, context_dim])
        self.r = mlp([feature_dim + context_dim, hidden, hidden, 1])

    def forward(self, support_x, support_y, query_x):
        n_way = self._n_way(support_x, support_y, query_x)
        phi = class_means(self.g(self.embed(support_x)), support_y, n_way)  # [B, N, d]
        query = self.embed(query_x)  # [B, NQ, F]
        pairs = torch.cat(
            [
                query[:, :, None, :].expand(-1, -1, n_way, -1),
                phi[:, None, :, :].expand(-1, query.shape[1], -1, -1),
            ],
            dim=-1,
        )
        return self.r(pairs).squeeze(-1)  # [B, NQ, N]

    def phi_size(self, n_way: int, k_shot: int) -> int:
        return n_way * self.context_dim


class NearestClassMean(BlackBoxModel):
    """Not meta-learned: logits = -squared distance from each query to its class's mean feature.

    With a frozen supervised-pretrained encoder this is the transfer-learning baseline.
    """

    phi_description = "the N class means of the (frozen) features"

    def __init__(self, encoder: nn.Module, feature_dim: int) -> None:
        super().__init__(encoder, feature_dim, None)

    def forward(self, support_x, support_y, query_x):
        n_way = self._n_way(support_x, support_y, query_x)
        means = class_means(self.embed(support_x), support_y, n_way)
        return -torch.cdist(self.embed(query_x), means).pow(2)

    def phi_size(self, n_way: int, k_shot: int) -> int:
        return n_way * self.feature_dim


register(
    "class_context",
    lambda encoder, dim, n_way, **kw: ClassContext(encoder, dim, **kw),
    order=10,
    variant=True,
)
