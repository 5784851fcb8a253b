"""Family 1, MANN-style LSTM (the CS330 homework model): phi = the LSTM state after reading the
support pairs."""

from __future__ import annotations

import torch
from torch import nn

from lecture_utils.models.black_box.base import BlackBoxModel, check_widths, one_hot
from lecture_utils.models.black_box.registry import register


def lstm_input_sequence(
    support_features: torch.Tensor,
    support_y: torch.Tensor,
    query_features: torch.Tensor,
    label_size: int,
) -> torch.Tensor:
    """``[B, N*K + N*Q, F + label_size]``: support pairs (features, one-hot label), then queries.

    The query rows get an all-zero label part: the model must *predict* those labels, so giving
    them would let it copy the answer (the function does not even take the query labels).
    """
    support = torch.cat([support_features, one_hot(support_y, label_size)], dim=-1)
    zeros = query_features.new_zeros(*query_features.shape[:2], label_size)
    query = torch.cat([query_features, zeros], dim=-1)
    return torch.cat([support, query], dim=1)


class MANNLSTM(BlackBoxModel):
    """Two LSTM layers over [features, label] pairs; logits are read at the query positions.

    As in the homework: layer 1 has ``hidden`` units, layer 2 has ``max_way`` units and its
    output is the logits. With ``make_encoder("pixels")`` it is the homework's raw-pixel model.
    Two optional changes get it off its long initial plateau (see notebook 04):
    ``input_norm=True`` layer-normalises the features before they meet the one-hot labels, and
    ``logit_scale`` multiplies layer 2's output, which an LSTM bounds to [-1, 1] (so softmax
    could never be confident).
    """

    phi_description = "LSTM state (h, c of both layers) after reading D_train"

    def __init__(
        self,
        encoder: nn.Module,
        feature_dim: int,
        n_way: int = 5,
        hidden: int = 128,
        input_norm: bool = False,
        logit_scale: float = 1.0,
    ) -> None:
        super().__init__(encoder, feature_dim, n_way)
        check_widths(hidden=hidden)
        self.hidden = hidden
        self.norm = nn.LayerNorm(feature_dim) if input_norm else nn.Identity()
        self.logit_scale = logit_scale
        self.layer1 = nn.LSTM(feature_dim + n_way, hidden, batch_first=True)
        self.layer2 = nn.LSTM(hidden, n_way, batch_first=True)

    def forward(self, support_x, support_y, query_x):
        n_way = self._n_way(support_x, support_y, query_x)
        support, query = self.norm(self.embed(support_x)), self.norm(self.embed(query_x))
        seq = lstm_input_sequence(support, support_y, query, self.max_way)
        out, _ = self.layer1(seq)
        out, _ = self.layer2(out)
        return self.logit_scale * out[:, support.shape[1] :, :n_way]

    def phi_size(self, n_way: int, k_shot: int) -> int:
        return 2 * (self.hidden + self.max_way)


register("lstm", lambda encoder, dim, n_way, **kw: MANNLSTM(encoder, dim, n_way, **kw), order=1)
