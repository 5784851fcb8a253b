"""Black-box adaptation: five model families that read a labelled support set and classify queries.

Every model computes ``phi = f_theta(D_train)`` and then ``y = g_phi(x)`` in one forward pass,
with the same interface and the episode sampler's flat shapes::

    logits = model(support_x, support_y, query_x)
    # support_x [B, N*K, *item]  support_y [B, N*K] (labels 0..N-1)  query_x [B, N*Q, *item]
    # logits    [B, N*Q, N]

``*item`` is ``1, S, S`` for images, or ``F`` for precomputed features (a feature bank; see
:mod:`lecture_utils.feature_bank`); the number of classes ``N`` is read from ``support_y``
(largest label + 1). Each model owns an ``encoder`` that maps one item to a feature vector:
a :class:`~lecture_utils.convnet.ConvTrunk` (learned end to end), or ``nn.Flatten()`` for raw
pixels / precomputed features (see :func:`make_encoder`).

The families and what ``phi`` is in each:

1. :class:`MANNLSTM` (CS330 homework): phi = the LSTM state after reading the support set.
2. :class:`FeedforwardAverage` (deep sets / neural process): phi = mean of g(x, y), a context
   vector of ``context_dim`` numbers.
3. :class:`AttentionModel` (small transformer): phi = the attended support tokens
   (N·K vectors the queries read).
4. :class:`HyperNetwork`: phi = the full weight matrix and bias of a linear classifier head.
5. :class:`~lecture_utils.snail.SNAIL` (temporal convolutions + attention): phi = the
   activations at the support positions that each query's sequence reads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .convnet import ConvTrunk
from .training import seeded_init

FAMILIES = ("lstm", "feedforward", "attention", "hypernet", "snail")
VARIANTS = ("class_context",)  # built by build_model too (the Q3 comparison of notebook 04)


# --------------------------------------------------------------------------------------------
# Encoders and input checks
# --------------------------------------------------------------------------------------------


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


def _check_widths(**widths: int) -> None:
    for name, value in widths.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}.")


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
        _check_widths(feature_dim=feature_dim, **({} if max_way is None else {"n_way": max_way}))
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


# --------------------------------------------------------------------------------------------
# 1. MANN-style LSTM (the CS330 homework model)
# --------------------------------------------------------------------------------------------


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
        _check_widths(hidden=hidden)
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


# --------------------------------------------------------------------------------------------
# 2. Feedforward + average (deep sets / conditional neural process)
# --------------------------------------------------------------------------------------------


class FeedforwardAverage(BlackBoxModel):
    """phi = mean over the support set of g(x, y) (``context_dim`` numbers); logits = h(x, phi).

    The mean makes phi, hence every prediction, invariant to the order of the support set.
    """

    phi_description = "context vector: mean of g(x, y) over D_train"

    def __init__(
        self, encoder: nn.Module, feature_dim: int, n_way: int = 5, context_dim: int = 128,
        hidden: int = 256,
    ) -> None:  # fmt: skip
        super().__init__(encoder, feature_dim, n_way)
        _check_widths(context_dim=context_dim, hidden=hidden)
        self.context_dim = context_dim
        self.g = mlp([feature_dim + n_way, hidden, hidden, context_dim])
        self.h = mlp([feature_dim + context_dim, hidden, hidden, n_way])

    def context(self, support_x: torch.Tensor, support_y: torch.Tensor) -> torch.Tensor:
        """phi ``[B, context_dim]``."""
        pairs = torch.cat([self.embed(support_x), one_hot(support_y, self.max_way)], dim=-1)
        return self.g(pairs).mean(dim=1)

    def forward(self, support_x, support_y, query_x):
        n_way = self._n_way(support_x, support_y, query_x)
        phi = self.context(support_x, support_y)
        query = self.embed(query_x)
        phi = phi[:, None, :].expand(-1, query.shape[1], -1)
        return self.h(torch.cat([query, phi], dim=-1))[..., :n_way]

    def phi_size(self, n_way: int, k_shot: int) -> int:
        return self.context_dim


# --------------------------------------------------------------------------------------------
# 3. Attention: queries attend to the labelled support set
# --------------------------------------------------------------------------------------------


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
        _check_widths(d_model=d_model, heads=heads, depth=depth)
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


# --------------------------------------------------------------------------------------------
# 4. Hypernetwork: phi = the weights of the classifier head
# --------------------------------------------------------------------------------------------


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
        _check_widths(head_dim=head_dim, hidden=hidden)
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


# --------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------


def build_model(
    family: str,
    encoder: str = "conv",
    *,
    n_way: int = 5,
    image_size: int = 28,
    channels: int = 64,
    feature_dim: int | None = None,
    stem_stride: int = 1,
    seed: int = 0,
    **kwargs: object,
) -> BlackBoxModel:
    """One of the five families with a fresh encoder (``"conv"``, ``"pixels"``, ``"features"``).

    The initial weights are fixed by ``seed`` (the global RNG is left untouched). ``kwargs`` go
    to the model (e.g. ``context_dim=8`` for ``"feedforward"``); ``stem_stride`` to the conv
    encoder.
    """
    if family not in FAMILIES + VARIANTS:
        raise ValueError(f"Unknown family {family!r}; choose one of {list(FAMILIES + VARIANTS)}.")
    if n_way < 2:
        raise ValueError(f"n_way must be at least 2 (a classification task), got {n_way}.")
    with seeded_init(seed):
        enc, dim = make_encoder(encoder, image_size, channels, feature_dim, stem_stride)
        if family == "lstm":
            return MANNLSTM(enc, dim, n_way, **kwargs)
        if family == "feedforward":
            return FeedforwardAverage(enc, dim, n_way, **kwargs)
        if family == "attention":
            return AttentionModel(enc, dim, n_way, **kwargs)
        if family == "class_context":
            return ClassContext(enc, dim, **kwargs)
        if family == "snail":
            return SNAIL(enc, dim, n_way, **kwargs)
        return HyperNetwork(enc, dim, **kwargs)


# The per-class pooling models live in class_pooling.py (kept importable from here).
from .class_pooling import ClassContext, NearestClassMean  # noqa: E402, F401
from .snail import SNAIL  # noqa: E402, F401
