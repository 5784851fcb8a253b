"""Argument checks shared by every public entry point, with one message style.

Each check returns the value in its plain Python form (``np.int64(5)`` and ``torch.tensor(5)``
become ``5``) and raises ``ValueError`` (``TypeError`` for a wrong kind of object) worded as
``"<argument>=<value> must be <range>; <fix>"``.
"""

from __future__ import annotations

import math
import operator
from typing import Any


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(name: str, value: Any, rule: str, fix: str = "") -> ValueError:
    return ValueError(f"{name}={_shown(value)} must be {rule}" + (f"; {fix}." if fix else "."))


def _as_int(value: Any) -> int | None:
    """``value`` as a Python int if it is a whole number of an integer type (not a bool)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return None
    dtype = getattr(value, "dtype", None)
    if dtype is not None and (getattr(value, "ndim", 0) != 0 or str(dtype).endswith("bool")):
        return None  # tensors and arrays with more than one value, and boolean scalars
    try:
        return operator.index(value)
    except TypeError:
        return None


def whole_number(
    name: str, value: Any, minimum: int = 1, maximum: int | None = None, fix: str = ""
) -> int:
    """``value`` as an ``int`` in ``minimum..maximum``; Python, NumPy and 0-d tensor integers pass.

    Floats (even ``5.0``), bools and strings are refused: a step count or a layer index must be
    given as a whole number, never rounded silently.
    """
    number = _as_int(value)
    if maximum is None:
        rule = f"a whole number >= {minimum}"
    else:
        rule = f"a whole number in {minimum}..{maximum}"
    if number is None:
        kind = type(value).__name__
        raise _fail(name, value, f"{rule} (got a {kind})", fix or "pass an int")
    if number < minimum or (maximum is not None and number > maximum):
        raise _fail(name, value, rule, fix)
    return number


def finite_number(name: str, value: Any, fix: str = "") -> float:
    """``value`` as a finite ``float`` (NaN and ±inf refused; bools refused)."""
    number = None
    if not (isinstance(value, bool | str | bytes) or type(value).__name__ == "bool_"):
        if getattr(value, "ndim", 0) == 0 and not str(getattr(value, "dtype", "")).endswith("bool"):
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
    if number is None:
        raise _fail(name, value, "a finite number", fix or "pass a float")
    if not math.isfinite(number):
        raise _fail(name, value, "a finite number", fix)
    return number


def positive_finite(name: str, value: Any, fix: str = "") -> float:
    """``value`` as a ``float`` with ``0 < value < inf`` (learning rates, scales, sigmas)."""
    number = finite_number(name, value, fix or "pass a number above 0, e.g. 1e-3")
    if number <= 0:
        raise _fail(name, value, "a finite number > 0", fix or "pass e.g. 1e-3")
    return number


def layer_indices(name: str, values: Any, n_layers: int, fix: str = "") -> list[int]:
    """Sorted distinct layer indices in ``0..n_layers-1``; at least one, all whole numbers."""
    if isinstance(values, str | bytes):
        raise _fail(name, values, "layer indices or 'all'", fix)
    try:
        items = list(values)
    except TypeError:
        raise _fail(name, values, "a collection of layer indices or 'all'", fix) from None
    if not items:
        raise _fail(name, values, f"at least one layer index in 0..{n_layers - 1}", fix)
    chosen = sorted(
        {whole_number(f"{name}[{i}]", v, 0, n_layers - 1, fix) for i, v in enumerate(items)}
    )
    return chosen


def image_tensor(name: str, value: Any, min_dims: int = 3, fix: str = "") -> Any:
    """A tensor of at least ``min_dims`` axes with finite values (the images of a data set).

    An object that carries its images (``OmniglotData``, ``LabelledImages``) is refused with a
    hint to pass ``.images`` / ``.x``.
    """
    import torch  # here: this module stays importable without torch

    if not isinstance(value, torch.Tensor):
        for attribute in ("images", "x"):
            if isinstance(getattr(value, attribute, None), torch.Tensor):
                kind = type(value).__name__
                raise TypeError(
                    f"{name} must be a tensor, got a {kind}; pass {name}=data.{attribute} "
                    f"(the {kind}'s {attribute} tensor), not the {kind} itself."
                )
        raise TypeError(f"{name} must be a torch.Tensor, got a {type(value).__name__}.")
    if value.dim() < min_dims:
        raise _fail(name, f"<tensor of shape {tuple(value.shape)}>", f"{min_dims}-D or more", fix)
    finite_check = value.is_floating_point() and value.numel() and value.device.type != "meta"
    if finite_check and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(
            f"{name} holds {bad} NaN or infinite values; every value must be finite (check "
            "how the images were made or normalised)."
        )
    return value
