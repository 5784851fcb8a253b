"""A fifth black-box family: temporal convolutions + attention (SNAIL, Mishra et al. 2018).

The model reads the same sequence as the MANN: the support pairs ``[features, one-hot label]``
and then one query with an all-zero label. Causal dilated 1-D convolutions aggregate nearby
steps, causal attention looks anything up in the past, and the last position's output is the
query's logits. Each query gets its own sequence (support set + that query), as in the paper,
so queries never see each other and the prediction does not depend on their order.

phi = the convolution and attention activations at the support positions, which the query
reads: per layer ``N·K`` vectors (``phi_size`` counts them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lecture_utils.models.black_box.base import BlackBoxModel
from lecture_utils.models.black_box.lstm import lstm_input_sequence
from lecture_utils.models.black_box.registry import register


class CausalConv(nn.Module):
    """A gated (tanh · sigmoid) dilated causal convolution whose output is concatenated to its
    input: ``[B, T, C] -> [B, T, C + filters]`` (SNAIL's dense block)."""

    def __init__(self, channels: int, filters: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(channels, 2 * filters, kernel_size=2, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.pad(x.transpose(1, 2), (self.dilation, 0))  # left padding only: causal
        a, b = self.conv(h).chunk(2, dim=1)
        return torch.cat([x, (torch.tanh(a) * torch.sigmoid(b)).transpose(1, 2)], dim=-1)


class CausalAttention(nn.Module):
    """Single-head causal attention whose read-out is concatenated to the input."""

    def __init__(self, channels: int, key_dim: int, value_dim: int) -> None:
        super().__init__()
        self.query, self.key = nn.Linear(channels, key_dim), nn.Linear(channels, key_dim)
        self.value = nn.Linear(channels, value_dim)
        self.scale = key_dim**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.query(x) @ self.key(x).transpose(1, 2) * self.scale  # [B, T, T]
        steps = x.shape[1]
        future = torch.ones(steps, steps, dtype=torch.bool, device=x.device).triu(1)
        weights = scores.masked_fill(future, float("-inf")).softmax(dim=-1)
        return torch.cat([x, weights @ self.value(x)], dim=-1)


def dilations_for(length: int) -> list[int]:
    """1, 2, 4, ... up to the sequence length: the receptive field covers the whole sequence."""
    out, d = [], 1
    while d < max(length, 2):
        out.append(d)
        d *= 2
    return out


class SNAIL(BlackBoxModel):
    """Temporal convolutions + attention over ``support pairs, query`` sequences."""

    phi_description = "conv/attention activations at the N·K support positions (per layer)"

    def __init__(
        self,
        encoder: nn.Module,
        feature_dim: int,
        max_way: int,
        max_support: int = 25,
        filters: int = 32,
        key_dim: int = 64,
        value_dim: int = 32,
    ) -> None:
        super().__init__(encoder, feature_dim, max_way)
        for name, value in {"max_support": max_support, "filters": filters, "key_dim": key_dim,
                            "value_dim": value_dim}.items():  # fmt: skip
            if value < 1:
                raise ValueError(f"SNAIL {name}={value} must be at least 1.")
        self.max_support = max_support
        width = feature_dim + max_way
        layers: list[nn.Module] = [CausalAttention(width, key_dim, value_dim)]
        width += value_dim
        for d in dilations_for(max_support + 1):
            layers.append(CausalConv(width, filters, d))
            width += filters
        layers.append(CausalAttention(width, key_dim, value_dim))
        width += value_dim
        self.layers = nn.Sequential(*layers)
        self.out = nn.Linear(width, max_way)
        self.width = width

    def forward(self, support_x, support_y, query_x):
        n_way = self._n_way(support_x, support_y, query_x)
        if support_x.shape[1] > self.max_support:
            raise ValueError(
                f"SNAIL was built for at most max_support={self.max_support} support items "
                f"(its dilations cover that length), got {support_x.shape[1]}; build it with "
                "a larger max_support."
            )
        support, query = self.embed(support_x), self.embed(query_x)  # [B, NK, F], [B, M, F]
        b, m = query.shape[:2]
        # One sequence per query: [B*M, NK + 1, F + max_way], the query's label part zeroed.
        support = support.unsqueeze(1).expand(b, m, *support.shape[1:]).flatten(0, 1)
        labels = support_y.unsqueeze(1).expand(b, m, support_y.shape[1]).flatten(0, 1)
        seq = lstm_input_sequence(support, labels, query.reshape(b * m, 1, -1), self.max_way)
        logits = self.out(self.layers(seq)[:, -1])  # the query's position
        return logits.reshape(b, m, self.max_way)[..., :n_way]

    def phi_size(self, n_way: int, k_shot: int) -> int:
        """Numbers a query reads at the support positions: every layer's new channels there."""
        return n_way * k_shot * (self.width - self.feature_dim - self.max_way)


register("snail", lambda encoder, dim, n_way, **kw: SNAIL(encoder, dim, n_way, **kw), order=5)
