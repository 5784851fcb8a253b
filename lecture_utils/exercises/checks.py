"""'Your turn' exercises: the check of each one (the notebooks call ``checks.check_<name>``).

A notebook exercise defines a function between ``### BEGIN SOLUTION`` / ``### END SOLUTION``
markers (``make student`` replaces that block by a stub that raises ``NotImplementedError``);
the next cell calls ``check_<name>(student_fn)``. A check builds its own tiny inputs (no data
loading, well under a second) and compares the student's result with answers written out by
hand, planted inputs whose answer is obvious, or properties (a permutation per row, order
invariance). No reference solution ships with the package. A check raises ``AssertionError``
naming the mistake it recognises, or prints one line when all is well. A stub that still raises
``NotImplementedError`` fails the check ("not implemented yet"); any other exception becomes an
``AssertionError`` naming the input that raised it.

| notebook | check | the student writes | module |
|---|---|---|---|
| 01 | :func:`check_joint_loss` | ``weight·CE_A + (1-weight)·CE_B`` | ``multitask`` |
| 01 | :func:`check_freeze_trunk` | a linear probe: trunk frozen, head trainable | ``multitask`` |
| 02 | :func:`check_param_groups` | one group per layer, ``lr = top_lr / factor**depth`` | \
``fine_tuning`` |
| 02 | :func:`check_warmup_factor` | the linear warm-up factor, then 1 | ``fine_tuning`` |
| 03 | :func:`check_images_per_meta_batch` | Q1: the images in a meta-batch | ``episodes`` |
| 03 | :func:`check_label_permutation` | a fresh random label permutation per task | ``episodes`` |
| 03 | :func:`check_one_hot_layout` | the homework's one-hot labels ``[B, K+Q, N, N]`` | \
``episodes`` |
| 04 | :func:`check_mann_inputs` | the MANN input sequence, query labels zeroed | ``black_box`` |
| 04 | :func:`check_query_loss` | cross-entropy on the query positions only | ``black_box`` |
| 04 | :func:`check_average_context` | φ = mean over the support set of g([x, one-hot y]) | \
``black_box`` |
| 05 | :func:`check_gaussian_nll` | the Gaussian negative log-likelihood | ``regression`` |
| 05 | :func:`check_pair_context` | the neural process's φ: the mean of e(x, y) over D_train | \
``regression`` |

Notebook 06's two checks (the loss mask of an in-context sequence, one greedy decoding step)
live in :mod:`lecture_utils.exercises.language`; the shared helpers in
:mod:`lecture_utils.exercises.common`.
"""

from __future__ import annotations

from collections.abc import Callable

from lecture_utils.exercises.black_box import (
    check_average_context,
    check_mann_inputs,
    check_query_loss,
)
from lecture_utils.exercises.common import STUB_MESSAGE
from lecture_utils.exercises.episodes import (
    check_images_per_meta_batch,
    check_label_permutation,
    check_one_hot_layout,
)
from lecture_utils.exercises.fine_tuning import check_param_groups, check_warmup_factor
from lecture_utils.exercises.multitask import check_freeze_trunk, check_joint_loss
from lecture_utils.exercises.regression import check_gaussian_nll, check_pair_context

__all__ = [
    "STUB_MESSAGE",
    "check_average_context",
    "check_freeze_trunk",
    "check_gaussian_nll",
    "check_images_per_meta_batch",
    "check_joint_loss",
    "check_label_permutation",
    "check_mann_inputs",
    "check_one_hot_layout",
    "check_pair_context",
    "check_param_groups",
    "check_query_loss",
    "check_warmup_factor",
]

CHECKS: dict[str, Callable[[Callable], None]] = {
    name.removeprefix("check_"): check
    for name, check in sorted(globals().items())
    if name.startswith("check_")
}
"""name -> check, for the 12 exercises of notebooks 01-05."""
