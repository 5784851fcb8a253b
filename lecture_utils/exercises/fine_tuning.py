"""Notebook 02's checks: per-layer learning rates and the linear warm-up factor.

| check | the student writes |
|---|---|
| :func:`check_param_groups` | one optimiser group per layer, ``lr = top_lr / factor**depth`` |
| :func:`check_warmup_factor` | the linear warm-up factor ``(step + 1) / warmup``, then 1 |
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from lecture_utils.exercises.common import call, guarded, name_of, ok

# (number of layers, top_lr, factor) -> the learning rates, first layer to last, by hand.
_GROUP_CASES = {
    (3, 0.01, 2.0): [0.0025, 0.005, 0.01],
    (4, 1.0, 10.0): [0.001, 0.01, 0.1, 1.0],
}


def _rates_message(name: str, got: list[float], want: list[float], factor: float) -> str:
    """Why the rates ``got`` differ from ``want`` (both first layer to last)."""
    close = lambda a, b: all(math.isclose(x, y, rel_tol=1e-6) for x, y in zip(a, b, strict=True))  # noqa: E731
    if len(set(got)) == 1:
        why = "every layer got the same rate: each layer below the head gets `factor` less"
    elif close(got, want[::-1]):
        why = "the rates are reversed: the last layer (the head) gets top_lr, the first the least"
    elif close(got, [w / factor for w in want]):
        why = "off by one: every rate is `factor` too small, the head too; the head's depth is 0"
    elif close(got, [w * factor for w in want]):
        why = "off by one: every rate is `factor` too large; the first layer's depth is n - 1"
    elif got[0] > got[-1]:
        why = "the rates grow towards the input: divide top_lr by factor**depth, not multiply"
    else:
        why = "layer i of n gets top_lr / factor ** (n - 1 - i)"
    return f"{name}: learning rates {got}, expected {want} (first layer to last): {why}."


@guarded
def check_param_groups(student_fn: Callable) -> None:
    """Groups: one per layer, holding exactly its parameters, rates falling towards the input."""
    name = name_of(student_fn)
    for (n, top_lr, factor), want in _GROUP_CASES.items():
        layers = [nn.Linear(3, 3) for _ in range(n)]
        groups = call(student_fn, layers, top_lr, factor, params=("layers", "top_lr", "factor"))
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise AssertionError(
                f"{name}: expected a list of dicts (one per layer), got {type(groups).__name__}."
            )
        if len(groups) != n:
            raise AssertionError(
                f"{name}: {len(groups)} group(s) for {n} layers: make one group per layer, "
                "each with that layer's parameters and its own lr."
            )
        for i, (group, layer) in enumerate(zip(groups, layers, strict=True)):
            if "params" not in group or "lr" not in group:
                raise AssertionError(
                    f"{name}: group {i} has keys {sorted(group)}; each needs 'params' and 'lr'."
                )
            group["params"] = list(group["params"])
            if {id(p) for p in group["params"]} != {id(p) for p in layer.parameters()}:
                raise AssertionError(
                    f"{name}: group {i} must hold exactly layer {i}'s parameters "
                    f"(list(layers[{i}].parameters())), in the order of `layers`."
                )
        got = [float(g["lr"]) for g in groups]
        if not all(math.isclose(g, w, rel_tol=1e-6) for g, w in zip(got, want, strict=True)):
            raise AssertionError(_rates_message(name, got, want, factor))
    ok(name, "one group per layer, learning rates top_lr / factor**depth")


# warmup -> the factor at steps 0..11, written out by hand.
_WARMUP_CASES = {
    4: [0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    1: [1] * 12,
    10: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1, 1],
    0: [1] * 12,
}


def _warmup_message(name: str, warmup: int, got: list[float], want: list[float]) -> str:
    """Why the factors ``got`` at steps 0..11 differ from ``want``."""
    shown = f"with warmup={warmup}, steps 0..11 give {[round(g, 3) for g in got]}"
    if warmup > 1 and math.isclose(got[0], 0.0, abs_tol=1e-9):
        why = "step 0 gives 0, a wasted step: step is 0-based, so start at (0 + 1) / warmup"
    elif any(g > 1 + 1e-9 for g in got) and got[warmup + 1 :] == want[warmup + 1 :]:
        why = (
            f"off by one at the end: step {warmup} gives {round(got[warmup], 3)}; the warm-up "
            "covers steps 0..warmup-1, then the factor is 1"
        )
    elif any(g > 1 + 1e-9 for g in got):
        why = "the factor keeps rising above 1 after the warm-up: it must then stay at 1"
    elif got[warmup - 1 if warmup else 0] < 1 - 1e-9:
        why = "the warm-up is too slow: the factor must reach 1 at step warmup - 1"
    else:
        why = "start at 1/warmup, rise linearly to 1 at step warmup - 1, then stay at 1"
    return f"{name}: {shown}, expected {want}: {why}."


@guarded
def check_warmup_factor(student_fn: Callable) -> None:
    """Linear warm-up ``(step + 1) / warmup``, then 1 (:func:`training.lr_factor`, constant),
    on warm-ups of 4, 1, 10 and 0 steps (0: no warm-up, the factor is 1 throughout)."""
    name = name_of(student_fn)
    for warmup, want in _WARMUP_CASES.items():
        hint = (
            "warmup=0 means no warm-up: the factor must then be 1 at every step; divide by "
            "warmup only while step < warmup."
            if warmup == 0
            else ""
        )
        got = []
        for step in range(12):
            value = call(student_fn, step, warmup, params=("step", "warmup"), hint=hint)
            try:
                got.append(float(value))
            except (TypeError, ValueError):
                raise AssertionError(
                    f"{name}(step={step}, warmup={warmup}) returned {value!r}, expected a number."
                ) from None
        if not all(math.isclose(g, w, abs_tol=1e-9) for g, w in zip(got, want, strict=True)):
            raise AssertionError(_warmup_message(name, warmup, got, want))
    ok(name, "linear warm-up from 1/warmup to 1, then constant")
