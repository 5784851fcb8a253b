"""Family 4, hypernetwork: phi = the full weight matrix and bias of a linear classifier head."""

from __future__ import annotations

import torch
from torch import nn

from lecture_utils.models.black_box.base import BlackBoxModel, check_widths, mlp, one_hot
from lecture_utils.models.black_box.registry import register


class HyperNetwork(BlackBoxModel):
    """Generates a linear head ``W [N, D]``, ``b [N]`` from D_train; logits = W p(x) + b.

    Row ``n`` of ``W`` (and ``b[n]``) is produced by an MLP from two set summaries: the mean
    embedding of the support images labelled ``n`` and the mean over the whole support set
    (the task context). The labels enter by choosing which row an image writes to, so the
    model works for any N and K and is invariant to the support order. With
    ``prototype_shortcut`` (default) each row is the class mean plus the generated correction,
    so the head starts as a prototype classifier; without it the MLP must write every weight.
    """

    phi_description = "full weight matrix W [N, D] and bias b [N] of the classifier head"

    def __init__(
        self, encoder: nn.Module, feature_dim: int, head_dim: int = 64, hidden: int = 256,
        prototype_shortcut: bool = True,
    ) -> None:  # fmt: skip
        super().__init__(encoder, feature_dim, None)
        check_widths(head_dim=head_dim, hidden=hidden)
        self.head_dim = head_dim
        self.prototype_shortcut = prototype_shortcut
        self.project = mlp([feature_dim, hidden, head_dim])
        self.generate = mlp([2 * head_dim, hidden, head_dim + 1])

    def head(self, support_x: torch.Tensor, support_y: torch.Tensor, n_way: int):
        """phi: ``W [B, N, D]`` and ``b [B, N]`` for every task of the batch."""
        p = self.project(self.embed(support_x))  # [B, NK, D]
        assign = one_hot(support_y, n_way)  # [B, NK, N]
        counts = assign.sum(dim=1).clamp(min=1)  # [B, N]
        per_class = assign.transpose(1, 2) @ p / counts[..., None]  # [B, N, D]
        task = p.mean(dim=1, keepdim=True).expand(-1, n_way, -1)
        out = self.generate(torch.cat([per_class, task], dim=-1))
        weight = out[..., :-1]
        if self.prototype_shortcut:  # residual: the head starts as a prototype classifier
            weight = per_class + weight
        return weight, out[..., -1]

    def forward(self, support_x, support_y, query_x):
        n_way = self._n_way(support_x, support_y, query_x)
        weight, bias = self.head(support_x, support_y, n_way)
        q = self.project(self.embed(query_x))  # [B, NQ, D]
        return q @ weight.transpose(1, 2) + bias[:, None, :]

    def phi_size(self, n_way: int, k_shot: int) -> int:
        return n_way * (self.head_dim + 1)


register("hypernet", lambda encoder, dim, n_way, **kw: HyperNetwork(encoder, dim, **kw), order=4)
