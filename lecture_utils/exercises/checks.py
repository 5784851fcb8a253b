"""'Your turn' exercises: a reference solution and a check for each one.

A notebook exercise defines a function between ``### BEGIN SOLUTION`` / ``### END SOLUTION``
markers (``make student`` replaces that block by a stub that raises ``NotImplementedError``);
the next cell calls ``check_<name>(student_fn)``. A check builds its own small inputs (no data
loading, well under a second), compares the student's result with the reference here and raises
``AssertionError`` with an explanation of what differs, or prints one line when all is well.
A stub that still raises ``NotImplementedError`` fails the check ("not implemented yet").

| notebook | check | the student writes |
|---|---|---|
| 01 | :func:`check_joint_loss` | ``weight·CE_A + (1-weight)·CE_B`` |
| 01 | :func:`check_freeze_trunk` | a linear probe: trunk frozen, head trainable |
| 02 | :func:`check_param_groups` | one optimiser group per layer, ``lr = top_lr / factor**depth`` |
| 02 | :func:`check_warmup_factor` | the linear warm-up factor ``(step + 1) / warmup``, then 1 |
| 03 | :func:`check_label_permutation` | a fresh random label permutation per task |
| 03 | :func:`check_one_hot_layout` | the homework's one-hot labels ``[B, K+Q, N, N]`` |
| 03 | :func:`check_images_per_meta_batch` | Q1: ``B·N·(K+Q)`` |
| 04 | :func:`check_mann_inputs` | the MANN input sequence, query labels zeroed |
| 04 | :func:`check_query_loss` | cross-entropy on the query positions only |
| 04 | :func:`check_average_context` | φ = mean over the support set of g([x, one-hot y]) |
| 05 | :func:`check_gaussian_nll` | the Gaussian negative log-likelihood |
| 05 | :func:`check_pair_context` | the neural process's φ: the mean of e(x, y) over D_train |

Notebook 06's two checks (the loss mask of an in-context sequence, one greedy decoding step)
live in :mod:`lecture_utils.exercises.language`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

STUB_MESSAGE = "not implemented yet: replace the stub (`raise NotImplementedError`) with your code"


def _call(fn: Callable, name: str, *args: Any) -> Any:
    """``fn(*args)``; a stub's ``NotImplementedError`` becomes a failed check."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise AssertionError(f"{name}: {STUB_MESSAGE}.") from None


def _tensor(value: Any, name: str, shape: tuple[int, ...], floating: bool | None = None) -> None:
    """Fail unless ``value`` is a tensor of ``shape`` (and float/integer when asked)."""
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{name}: returned {type(value).__name__}, expected a torch.Tensor.")
    if tuple(value.shape) != shape:
        raise AssertionError(f"{name}: shape is {list(value.shape)}, expected {list(shape)}.")
    if floating is True and not value.is_floating_point():
        raise AssertionError(f"{name}: dtype is {value.dtype}, expected a float tensor.")
    if floating is False and (value.is_floating_point() or value.dtype == torch.bool):
        raise AssertionError(f"{name}: dtype is {value.dtype}, expected integers (torch.long).")


def _close(got: torch.Tensor, want: torch.Tensor, name: str, hint: str = "") -> None:
    if not torch.allclose(got.detach().float(), want.float(), atol=1e-5, rtol=1e-4):
        diff = (got.detach().float() - want.float()).abs().max().item()
        raise AssertionError(f"{name}: differs from the reference by up to {diff:.4g}. {hint}")


def _ok(name: str, what: str) -> None:
    print(f"✓ {name}: {what}")


# ---- 03: episodes ------------------------------------------------------------------------


def reference_label_permutation(
    n_tasks: int, n_way: int, generator: torch.Generator
) -> torch.Tensor:
    """``[n_tasks, n_way]``: row b is a random permutation of ``0..n_way-1`` (task b's labels)."""
    return torch.rand(n_tasks, n_way, generator=generator).argsort(dim=1)


def check_label_permutation(student_fn: Callable) -> None:
    """Each task: a permutation of 0..N-1, fresh per task, uniform, drawn from ``generator``."""
    name = getattr(student_fn, "__name__", "your function")
    labels = _call(student_fn, name, 4, 5, torch.Generator().manual_seed(0))
    _tensor(labels, name, (4, 5), floating=False)
    for b, row in enumerate(labels.tolist()):
        if sorted(row) != list(range(5)):
            raise AssertionError(
                f"{name}: labels are not a permutation of 0..N-1 in task {b}: {row} "
                "(every label 0..4 must appear exactly once)."
            )
    many = _call(student_fn, name, 2000, 5, torch.Generator().manual_seed(1))
    _tensor(many, name, (2000, 5), floating=False)
    if (many == many[0]).all():
        raise AssertionError(
            f"{name}: every task got the same labels {many[0].tolist()}: then class c always "
            "has the same label and a model can memorise it. Draw a new permutation per task."
        )
    share = torch.bincount(many[:, 0], minlength=5).float() / len(many)
    if (share - 0.2).abs().max() > 0.05:
        raise AssertionError(
            f"{name}: the first class gets labels 0..4 with frequencies {share.tolist()}, "
            "expected about 0.2 each: the permutation is not uniformly random."
        )
    again = [_call(student_fn, name, 6, 5, torch.Generator().manual_seed(7)) for _ in range(2)]
    if not torch.equal(again[0], again[1]):
        raise AssertionError(
            f"{name}: two calls with equally seeded generators gave different labels: draw "
            "every random number from the `generator` argument, not the global RNG."
        )
    _ok(name, "a fresh, uniform permutation of 0..N-1 per task, reproducible from the generator")


def reference_one_hot_layout(query_order: torch.Tensor, k_shot: int) -> torch.Tensor:
    """Homework labels ``[B, K+Q, N, N]``: support row k, column n is one-hot(n); query row q,
    column n is one-hot(``query_order[b, q, n]``) (shuffled, so a column gives nothing away)."""
    B, Q, N = query_order.shape
    support = torch.arange(N).expand(B, k_shot, N)
    return F.one_hot(torch.cat([support, query_order], dim=1), N).float()


def check_one_hot_layout(student_fn: Callable) -> None:
    """The homework layout: K support rows in label order, then Q shuffled query rows."""
    name = getattr(student_fn, "__name__", "your function")
    B, K, Q, N = 3, 2, 2, 4
    gen = torch.Generator().manual_seed(0)
    query_order = torch.rand(B, Q, N, generator=gen).argsort(dim=-1)
    got = _call(student_fn, name, query_order.clone(), K)
    _tensor(got, name, (B, K + Q, N, N), floating=True)
    ones, sums = ((got == 0) | (got == 1)).all(-1), got.sum(-1)
    bad = (~ones | (sums != 1)).nonzero()
    if len(bad):
        b, r, n = bad[0].tolist()
        raise AssertionError(
            f"{name}: task {b}, row {r}, column {n} is {got[b, r, n].tolist()}, not a one-hot "
            "vector (one 1, the rest 0)."
        )
    labels = got.argmax(-1)
    for b in range(B):
        for r in range(K + Q):
            want = list(range(N)) if r < K else query_order[b, r - K].tolist()
            if labels[b, r].tolist() != want:
                role = "support" if r < K else "query"
                why = (
                    "support rows hold the class labelled n in column n"
                    if r < K
                    else "query rows take their labels from query_order (shuffled columns)"
                )
                raise AssertionError(
                    f"{name}: task {b}, {role} row {r} has labels {labels[b, r].tolist()}, "
                    f"expected {want}: {why}; the K support rows come first."
                )
    _ok(name, f"labels [B, K+Q, N, N] = {list(got.shape)}, support then shuffled query rows")


def reference_images_per_meta_batch(batch_size: int, n_way: int, k_shot: int, n_query: int) -> int:
    """``B·N·(K+Q)`` images, Q counted per class."""
    return batch_size * n_way * (k_shot + n_query)


def check_images_per_meta_batch(student_fn: Callable) -> None:
    """Q1: the count for several settings, with hints for the usual mistakes."""
    name = getattr(student_fn, "__name__", "your function")
    for B, N, K, Q in [(1, 5, 1, 1), (32, 5, 1, 1), (32, 20, 5, 5), (16, 20, 1, 15)]:
        got = _call(student_fn, name, B, N, K, Q)
        want = reference_images_per_meta_batch(B, N, K, Q)
        if got == want:
            continue
        if got == B * (N * K + Q):
            why = "you counted Q per task; here (as in the homework) Q is per class: N·Q queries"
        elif got == N * (K + Q):
            why = "that is one task: a meta-batch holds B of them"
        elif got == B * N * K:
            why = "you left out the query images"
        else:
            why = "a task has N·K support and N·Q query images; a meta-batch has B tasks"
        raise AssertionError(f"{name}({B}, {N}, {K}, {Q}) = {got}, expected {want}: {why}.")
    _ok(name, "B·N·(K+Q) images in a meta-batch")


# ---- 04: black-box adaptation ------------------------------------------------------------


def reference_mann_inputs(
    support_features: torch.Tensor,
    support_y: torch.Tensor,
    query_features: torch.Tensor,
    label_size: int,
) -> torch.Tensor:
    """``[B, S+T, F+label_size]``: (features, one-hot label) pairs, then zero-label queries."""
    support = torch.cat([support_features, F.one_hot(support_y, label_size).float()], dim=-1)
    query = F.pad(query_features, (0, label_size))
    return torch.cat([support, query], dim=1)


def check_mann_inputs(student_fn: Callable) -> None:
    """Support rows carry their one-hot labels; query rows carry zeros (no label leak)."""
    name = getattr(student_fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(0)
    B, S, T, D, N = 2, 6, 3, 4, 3
    sf, qf = torch.randn(B, S, D, generator=gen), torch.randn(B, T, D, generator=gen)
    sy = torch.randint(0, N, (B, S), generator=gen)
    got = _call(student_fn, name, sf, sy, qf, N)
    _tensor(got, name, (B, S + T, D + N), floating=True)
    want = reference_mann_inputs(sf, sy, qf, N)
    if torch.allclose(got[:, :T, :D], qf) and torch.allclose(got[:, T:, :D], sf):
        raise AssertionError(
            f"{name}: the query rows come first; the support rows (features, one-hot label) must "
            "come first and the queries after them, so the model has read D_tr before it predicts."
        )
    if got[:, S:, D:].abs().sum() > 0:
        raise AssertionError(
            f"{name}: query labels leak: the label part of the query rows must be all zeros "
            "(the model has to predict those labels, not read them)."
        )
    _close(got[:, :S, :D], sf, name, "The support rows must start with the support features.")
    _close(got[:, :S, D:], want[:, :S, D:], name, "Support rows end with one-hot(support_y).")
    _close(got[:, S:, :D], qf, name, "The query rows come after the support rows.")
    _ok(name, "support (features, one-hot label) pairs, then queries with zeroed labels")


def reference_query_loss(
    logits: torch.Tensor, labels: torch.Tensor, n_support: int
) -> torch.Tensor:
    """Mean cross-entropy over the query positions ``n_support:`` of ``[B, T, N]`` logits."""
    query = logits[:, n_support:]
    return F.cross_entropy(query.reshape(-1, query.shape[-1]), labels[:, n_support:].reshape(-1))


def check_query_loss(student_fn: Callable) -> None:
    """The loss counts the query positions only, averaged over all of them."""
    name = getattr(student_fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(0)
    B, S, T, N = 3, 5, 4, 5
    logits = torch.randn(B, S + T, N, generator=gen)
    labels = torch.randint(0, N, (B, S + T), generator=gen)
    got = _call(student_fn, name, logits, labels, S)
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        raise AssertionError(f"{name}: expected a scalar tensor, got {got!r}.")
    everything = F.cross_entropy(logits.reshape(-1, N), labels.reshape(-1))
    if torch.allclose(got.float(), everything, atol=1e-5):
        raise AssertionError(
            f"{name}: your loss includes the support positions: the model sees their labels in "
            "its input, so only the query positions measure learning."
        )
    hint = "Use the mean cross-entropy over positions n_support: (logits are [B, T, N])."
    _close(got.reshape(()), reference_query_loss(logits, labels, S), name, hint)
    _ok(name, "mean cross-entropy over the query positions only")


def reference_average_context(
    g: Callable[[torch.Tensor], torch.Tensor],
    support_features: torch.Tensor,
    support_y: torch.Tensor,
    n_way: int,
) -> torch.Tensor:
    """φ ``[B, C]`` = mean over the support set of ``g([features, one-hot label])``."""
    pairs = torch.cat([support_features, F.one_hot(support_y, n_way).float()], dim=-1)
    return g(pairs).mean(dim=1)


def check_average_context(student_fn: Callable) -> None:
    """φ uses features and labels, averages (not sums) and ignores the support order."""
    name = getattr(student_fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(0)
    B, S, D, N, C = 2, 6, 4, 3, 5
    g = nn.Linear(D + N, C)
    with torch.no_grad():
        g.weight.copy_(torch.randn(C, D + N, generator=gen))
        g.bias.copy_(torch.randn(C, generator=gen))
    sf, sy = torch.randn(B, S, D, generator=gen), torch.randint(0, N, (B, S), generator=gen)
    got = _call(student_fn, name, g, sf, sy, N)
    _tensor(got, name, (B, C), floating=True)
    want = reference_average_context(g, sf, sy, N)
    if torch.allclose(got, want * S, atol=1e-4):
        raise AssertionError(f"{name}: φ is {S}× too large: average over the support set, not sum.")
    _close(got, want, name, "φ = mean over the support set of g([features, one-hot(label)]).")
    perm = torch.randperm(S, generator=gen)
    shuffled = _call(student_fn, name, g, sf[:, perm], sy[:, perm], N)
    _close(shuffled, want, name, "φ must not depend on the order of the support set.")
    _ok(name, "φ = mean of g([x, one-hot y]) over D_train, order-invariant")


# ---- 01, 02, 05 --------------------------------------------------------------------------


def reference_joint_loss(logits_a, y_a, logits_b, y_b, weight: float) -> torch.Tensor:
    """``weight·CE(A) + (1-weight)·CE(B)``: the joint multi-task objective."""
    return weight * F.cross_entropy(logits_a, y_a) + (1 - weight) * F.cross_entropy(logits_b, y_b)


def check_joint_loss(student_fn: Callable) -> None:
    """Both tasks' cross-entropies, weighted by ``weight`` and ``1 - weight``."""
    name = getattr(student_fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(0)
    la, lb = torch.randn(8, 5, generator=gen), torch.randn(6, 7, generator=gen)
    ya, yb = torch.randint(0, 5, (8,), generator=gen), torch.randint(0, 7, (6,), generator=gen)
    for w in (0.5, 0.9, 0.0):
        got = _call(student_fn, name, la, ya, lb, yb, w)
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            raise AssertionError(f"{name}: expected a scalar tensor, got {got!r}.")
        want = reference_joint_loss(la, ya, lb, yb, w)
        swapped = reference_joint_loss(la, ya, lb, yb, 1 - w)
        if w != 0.5 and torch.allclose(got.float(), swapped, atol=1e-5):
            raise AssertionError(f"{name}: weight belongs to task A, 1 - weight to task B.")
        _close(got.reshape(()), want, name, f"With weight={w}: weight·CE_A + (1-weight)·CE_B.")
    _ok(name, "weight·CE_A + (1-weight)·CE_B")


def reference_param_groups(layers: list[nn.Module], top_lr: float, factor: float) -> list[dict]:
    """One group per layer; the last layer at ``top_lr``, each earlier one ``factor`` lower."""
    n = len(layers)
    return [
        {"params": list(layer.parameters()), "lr": top_lr / factor ** (n - 1 - i)}
        for i, layer in enumerate(layers)
    ]


def check_param_groups(student_fn: Callable) -> None:
    """Groups: one per layer, exactly its parameters, learning rates falling towards the input."""
    name = getattr(student_fn, "__name__", "your function")
    layers = [nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)]
    groups = _call(student_fn, name, layers, 0.01, 2.0)
    if not isinstance(groups, list) or len(groups) != len(layers):
        raise AssertionError(f"{name}: expected a list of {len(layers)} groups (one per layer).")
    for i, (group, layer, want) in enumerate(
        zip(groups, layers, reference_param_groups(layers, 0.01, 2.0), strict=True)
    ):
        ids = {id(p) for p in group.get("params", [])}
        if ids != {id(p) for p in layer.parameters()}:
            raise AssertionError(f"{name}: group {i} must hold exactly layer {i}'s parameters.")
        if not math.isclose(group.get("lr", -1.0), want["lr"], rel_tol=1e-6):
            raise AssertionError(
                f"{name}: group {i} has lr={group.get('lr')}, expected {want['lr']:.4g}: the "
                "last layer (the head) gets top_lr, each earlier layer top_lr / factor**depth."
            )
    _ok(name, "one group per layer, learning rates top_lr / factor**depth")


def reference_freeze_trunk(model: nn.Module) -> None:
    model.trunk.requires_grad_(False)
    model.head.requires_grad_(True)


def check_freeze_trunk(student_fn: Callable) -> None:
    """A linear probe: after the call the trunk is frozen and the head trains (any start)."""
    name = getattr(student_fn, "__name__", "your function")
    for start in (True, False):  # a fresh model, then one whose every parameter was frozen
        model = nn.Module()
        model.trunk, model.head = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), nn.Linear(4, 2)
        _call(student_fn, name, model.requires_grad_(start))
        trunk = [p.requires_grad for p in model.trunk.parameters()]
        head = [p.requires_grad for p in model.head.parameters()]
        if any(trunk) or not all(head):
            raise AssertionError(f"{name}: trunk requires_grad {trunk}, head {head}; expected "
                                 "all False for the trunk and all True for the head.")  # fmt: skip
    _ok(name, "trunk frozen, head trainable")


def reference_warmup_factor(step: int, warmup: int) -> float:
    return (step + 1) / warmup if step < warmup else 1.0


def check_warmup_factor(student_fn: Callable) -> None:
    """Linear warm-up ``(step + 1) / warmup``, then 1 (:func:`training.lr_factor`, constant)."""
    name = getattr(student_fn, "__name__", "your function")
    for warmup in (4, 1, 0, 10):
        try:
            got = [float(_call(student_fn, name, step, warmup)) for step in range(12)]
        except ZeroDivisionError:
            raise AssertionError(
                f"{name}: warmup=0 (no warm-up) divides by zero; the factor must then be 1 at "
                "every step: divide only while step < warmup."
            ) from None
        want = [reference_warmup_factor(step, warmup) for step in range(12)]
        if not all(math.isclose(g, w, abs_tol=1e-9) for g, w in zip(got, want, strict=True)):
            raise AssertionError(
                f"{name}: with warmup={warmup}, steps 0..11 give {[round(g, 3) for g in got]}, "
                f"expected {[round(w, 3) for w in want]}: step is 0-based, start at 1/warmup "
                "(a factor of 0 wastes a step), rise linearly to 1, then stay at 1."
            )
    _ok(name, "linear warm-up from 1/warmup to 1, then constant")


def reference_gaussian_nll(
    y: torch.Tensor, mean: torch.Tensor, sigma: torch.Tensor
) -> torch.Tensor:
    """Mean of ``log σ + (y-μ)²/(2σ²) + log(2π)/2``."""
    return (torch.log(sigma) + 0.5 * ((y - mean) / sigma) ** 2 + 0.5 * math.log(2 * math.pi)).mean()


def check_gaussian_nll(student_fn: Callable) -> None:
    """Against the reference, with hints for a missing log σ, σ for σ² and the constant."""
    name = getattr(student_fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(0)
    y, mean = torch.randn(4, 6, generator=gen), torch.randn(4, 6, generator=gen)
    sigma = torch.rand(4, 6, generator=gen) + 0.5
    got = _call(student_fn, name, y, mean, sigma)
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        raise AssertionError(f"{name}: expected a scalar tensor (the mean NLL), got {got!r}.")
    got, want = got.reshape(()).float(), reference_gaussian_nll(y, mean, sigma)
    const = 0.5 * math.log(2 * math.pi)
    z2 = 0.5 * ((y - mean) / sigma) ** 2
    hints = [
        (want - const, "you left out the constant log(2π)/2 (harmless for training, not an NLL)"),
        ((z2 + const).mean(), "the log σ term is missing: nothing stops σ from growing"),
        ((torch.log(sigma) + 0.5 * (y - mean) ** 2 / sigma + const).mean(), "divide by σ², not σ"),
    ]
    for value, hint in hints:
        if torch.allclose(got, value, atol=1e-5):
            raise AssertionError(f"{name}: {got.item():.4f} instead of {want.item():.4f}: {hint}.")
    _close(got, want, name, "−log N(y; μ, σ²) = log σ + (y−μ)²/(2σ²) + log(2π)/2, averaged.")
    _ok(name, "mean Gaussian negative log-likelihood")


def reference_pair_context(
    encoder: Callable[[torch.Tensor], torch.Tensor],
    support_x: torch.Tensor,
    support_y: torch.Tensor,
) -> torch.Tensor:
    """The neural process's φ ``[B, C]``: the mean over D_train of ``e([x_k, y_k])``."""
    return encoder(torch.cat([support_x, support_y], dim=-1)).mean(dim=1)


def check_pair_context(student_fn: Callable) -> None:
    """φ reads (x, y) pairs in that order, averages (not sums) and ignores the order of D_train."""
    name = getattr(student_fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(0)
    B, K, C = 3, 5, 4
    e = nn.Linear(2, C)
    with torch.no_grad():
        e.weight.copy_(torch.randn(C, 2, generator=gen))
        e.bias.copy_(torch.randn(C, generator=gen))
    sx, sy = torch.randn(B, K, 1, generator=gen), torch.randn(B, K, 1, generator=gen)
    got = _call(student_fn, name, e, sx, sy)
    _tensor(got, name, (B, C), floating=True)
    want = reference_pair_context(e, sx, sy)
    if torch.allclose(got, want * K, atol=1e-4):
        raise AssertionError(f"{name}: φ is {K}× too large: average over D_train, not sum.")
    if torch.allclose(got, reference_pair_context(e, sy, sx), atol=1e-5):
        raise AssertionError(f"{name}: the pairs are [y, x]; the encoder expects [x, y].")
    _close(got, want, name, "φ = mean over the K support points of e([x_k, y_k]).")
    perm = torch.randperm(K, generator=gen)
    _close(_call(student_fn, name, e, sx[:, perm], sy[:, perm]), want, name,
           "φ must not depend on the order of D_train.")  # fmt: skip
    _ok(name, "φ = mean of e([x, y]) over D_train, order-invariant")


_NAMES = """label_permutation one_hot_layout images_per_meta_batch mann_inputs query_loss
average_context joint_loss param_groups freeze_trunk warmup_factor gaussian_nll pair_context"""
CHECKS: dict[str, tuple[Callable, Callable]] = {
    name: (globals()[f"check_{name}"], globals()[f"reference_{name}"]) for name in _NAMES.split()
}
"""name -> (check, reference): every check passes with its reference."""
