"""Black-box adaptation: the model families that read a labelled support set and classify queries.

Every model computes ``phi = f_theta(D_train)`` and then ``y = g_phi(x)`` in one forward pass,
with the same interface and the episode sampler's flat shapes::

    logits = model(support_x, support_y, query_x)
    # support_x [B, N*K, *item]  support_y [B, N*K] (labels 0..N-1)  query_x [B, N*Q, *item]
    # logits    [B, N*Q, N]

``*item`` is ``1, S, S`` for images, or ``F`` for precomputed features (a feature bank; see
:mod:`lecture_utils.models.feature_bank`); the number of classes ``N`` is read from ``support_y``
(largest label + 1). Each model owns an ``encoder`` that maps one item to a feature vector:
a :class:`~lecture_utils.models.convnet.ConvTrunk` (learned end to end), or ``nn.Flatten()`` for raw
pixels / precomputed features (see :func:`make_encoder`).

The families and what ``phi`` is in each:

1. :class:`MANNLSTM` (CS330 homework): phi = the LSTM state after reading the support set.
2. :class:`FeedforwardAverage` (deep sets / neural process): phi = mean of g(x, y), a context
   vector of ``context_dim`` numbers.
3. :class:`AttentionModel` (small transformer): phi = the attended support tokens
   (N·K vectors the queries read).
4. :class:`HyperNetwork`: phi = the full weight matrix and bias of a linear classifier head.
5. :class:`SNAIL` (temporal convolutions + attention): phi = the
   activations at the support positions that each query's sequence reads.

Each family lives in its own file, which registers it (:func:`register`); the import line below
is what loads them. A new family is one file ending in ``register(...)`` plus its name there.
"""

from lecture_utils.models.black_box import (  # noqa: F401 (each import registers a family)
    attention,
    class_pooling,
    feedforward,
    hypernetwork,
    lstm,
    snail,
)
from lecture_utils.models.black_box.attention import AttentionBlock, AttentionModel
from lecture_utils.models.black_box.base import (
    BlackBoxModel,
    check_episode,
    make_encoder,
    mlp,
    one_hot,
)
from lecture_utils.models.black_box.class_pooling import ClassContext, NearestClassMean, class_means
from lecture_utils.models.black_box.feedforward import FeedforwardAverage
from lecture_utils.models.black_box.hypernetwork import HyperNetwork
from lecture_utils.models.black_box.lstm import MANNLSTM, lstm_input_sequence
from lecture_utils.models.black_box.registry import build_model, families, register, unregister
from lecture_utils.models.black_box.snail import SNAIL

__all__ = [
    "SNAIL",
    "MANNLSTM",
    "AttentionBlock",
    "AttentionModel",
    "BlackBoxModel",
    "ClassContext",
    "FeedforwardAverage",
    "HyperNetwork",
    "NearestClassMean",
    "build_model",
    "check_episode",
    "class_means",
    "families",
    "lstm_input_sequence",
    "make_encoder",
    "mlp",
    "one_hot",
    "register",
    "unregister",
]
