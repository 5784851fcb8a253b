"""Family 3, attention (a small transformer): the queries attend to the labelled support tokens;
phi = those N·K attended tokens."""

from __future__ import annotations

import torch
from torch import nn

from lecture_utils.models.black_box.base import BlackBoxModel, check_widths, mlp, one_hot
from lecture_utils.models.black_box.registry import register


class AttentionBlock(nn.Module):
    """Pre-norm block: support tokens attend to each other, queries attend to the support set."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm_s, self.norm_q = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = mlp([dim, 2 * dim, dim])

    def forward(self, support: torch.Tensor, query: torch.Tensor):
        s, q = self.norm_s(support), self.norm_q(query)
        # One attention call: both support and query tokens read the (normalised) support set.
        tokens = torch.cat([s, q], dim=1)
        out, _ = self.attn(tokens, s, s, need_weights=False)
        tokens = torch.cat([support, query], dim=1) + out
        tokens = tokens + self.ff(self.norm_ff(tokens))
        return tokens[:, : support.shape[1]], tokens[:, support.shape[1] :]


class AttentionModel(BlackBoxModel):
    """Tokens = Linear([features, one-hot label]) (zero label for queries); ``depth`` blocks in
    which queries attend only to support tokens (never to other queries); a linear read-out.

    No positional encoding, so predictions do not depend on the order of the support set.
    """

    phi_description = "the N*K attended support tokens (d_model numbers each)"

    def __init__(
        self, encoder: nn.Module, feature_dim: int, n_way: int = 5, d_model: int = 128,
        heads: int = 4, depth: int = 2,
    ) -> None:  # fmt: skip
        super().__init__(encoder, feature_dim, n_way)
        check_widths(d_model=d_model, heads=heads, depth=depth)
        if d_model % heads:
            raise ValueError(
                f"d_model={d_model} must be divisible by heads={heads} (each head gets "
                f"d_model/heads dimensions); try d_model={heads * -(-d_model // heads)}."
            )
        self.d_model = d_model
        self.tokenize = nn.Linear(feature_dim + n_way, d_model)
        self.blocks = nn.ModuleList(AttentionBlock(d_model, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(d_model)
        self.readout = nn.Linear(d_model, n_way)

    def forward(self, support_x, support_y, query_x):
        n_way = self._n_way(support_x, support_y, query_x)
        s_feat, q_feat = self.embed(support_x), self.embed(query_x)
        support = self.tokenize(torch.cat([s_feat, one_hot(support_y, self.max_way)], -1))
        zeros = q_feat.new_zeros(*q_feat.shape[:2], self.max_way)
        query = self.tokenize(torch.cat([q_feat, zeros], -1))
        for block in self.blocks:
            support, query = block(support, query)
        return self.readout(self.norm(query))[..., :n_way]

    def phi_size(self, n_way: int, k_shot: int) -> int:
        return n_way * k_shot * self.d_model * len(self.blocks)


register(
    "attention",
    lambda encoder, dim, n_way, **kw: AttentionModel(encoder, dim, n_way, **kw),
    order=3,
)
