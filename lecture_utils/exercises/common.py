"""What every exercise check shares: calling the student's function, shape checks, messages.

A check never holds a reference solution: it compares with answers written out by hand for
tiny inputs, with planted inputs whose answer is obvious, and with properties (a permutation
per row, order invariance). Any exception the student's function raises becomes an
``AssertionError`` that names the input (a stub's ``NotImplementedError`` becomes "not
implemented yet"), so no bare traceback reaches the student.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

STUB_MESSAGE = "not implemented yet: replace the stub (`raise NotImplementedError`) with your code"
LN2, LN3 = math.log(2), math.log(3)
"""Hand-computed losses are written in units of these: CE of logits (ln 2, 0, 0) is ln 2 for
label 0 and 2 ln 2 otherwise; CE of all-zero logits over N classes is ln N."""


def name_of(fn: Callable) -> str:
    """The student's function name, for the messages."""
    return getattr(fn, "__name__", "your function")


def describe(value: Any) -> str:
    """A short description of an argument: tensors by shape, the rest by ``repr``."""
    if isinstance(value, torch.Tensor):
        return f"tensor{list(value.shape)}" if value.numel() > 6 else repr(value.tolist())
    if isinstance(value, torch.Generator):
        return "generator"
    if isinstance(value, (list, tuple)) and len(value) > 3:
        return f"{type(value).__name__} of {len(value)}"
    if callable(value) and not isinstance(value, torch.nn.Module):
        return getattr(value, "__name__", "a function")
    if isinstance(value, torch.nn.Module):
        return type(value).__name__
    return repr(value)


def call(fn: Callable, *args: Any, params: Sequence[str] = (), hint: str = "") -> Any:
    """``fn(*args)``. A stub's ``NotImplementedError`` fails with "not implemented yet"; any
    other exception but ``AssertionError`` becomes an ``AssertionError`` naming the input that
    raised it (the original is the ``__cause__``), followed by ``hint``."""
    name = name_of(fn)
    try:
        return fn(*args)
    except NotImplementedError:
        raise AssertionError(f"{name}: {STUB_MESSAGE}.") from None
    except AssertionError:
        raise
    except Exception as error:
        shown = ", ".join(
            f"{p}={describe(a)}" if p else describe(a)
            for p, a in zip([*params, *[""] * len(args)], args, strict=False)
        )
        raise AssertionError(
            f"{name}({shown}) raised {type(error).__name__}: {error}. "
            + (hint or "Read the message above, fix the line it points to, and run it again.")
        ) from error


def guarded(check: Callable[[Callable], None]) -> Callable[[Callable], None]:
    """``check`` with a safety net: if the student's result is so unexpected that the check
    itself fails on it (an unhashable answer, an ``lr`` of None), the student still gets an
    ``AssertionError`` that says so, never a bare traceback from the check."""

    @functools.wraps(check)
    def checked(student_fn: Callable) -> None:
        try:
            check(student_fn)
        except AssertionError:
            raise
        except Exception as error:
            raise AssertionError(
                f"{name_of(student_fn)}: its result could not be checked "
                f"({type(error).__name__}: {error}); return what the exercise's docstring "
                "describes (a tensor, a number or a list of dicts)."
            ) from error

    return checked


def scalar(value: Any, name: str, what: str = "the loss") -> torch.Tensor:
    """``value`` as a 0-d float tensor; fail unless it is a one-element tensor."""
    if not isinstance(value, torch.Tensor):
        raise AssertionError(
            f"{name}: returned {type(value).__name__} {value!r}, expected a scalar torch.Tensor "
            f"({what}); keep it a tensor (no .item() or float()) so backward() still works."
        )
    if value.numel() != 1:
        raise AssertionError(
            f"{name}: returned a tensor of shape {list(value.shape)}, expected a scalar "
            f"({what}): average over every element with .mean()."
        )
    return value.detach().reshape(()).double()


def tensor_of(value: Any, name: str, shape: tuple[int, ...], floating: bool | None = None) -> None:
    """Fail unless ``value`` is a tensor of ``shape`` (and float/integer when asked)."""
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{name}: returned {type(value).__name__}, expected a torch.Tensor.")
    if tuple(value.shape) != shape:
        raise AssertionError(f"{name}: shape is {list(value.shape)}, expected {list(shape)}.")
    if floating is True and not value.is_floating_point():
        raise AssertionError(f"{name}: dtype is {value.dtype}, expected a float tensor.")
    if floating is False and (value.is_floating_point() or value.dtype == torch.bool):
        raise AssertionError(f"{name}: dtype is {value.dtype}, expected integers (torch.long).")


def same(got: torch.Tensor, want: Any, atol: float = 1e-5) -> bool:
    """``got`` equals ``want`` (a tensor, number or nested list) up to ``atol``."""
    want = torch.as_tensor(want, dtype=torch.float64)
    got = got.detach().double()
    return got.shape == want.shape and torch.allclose(got, want, atol=atol, rtol=1e-5)


def rounded(value: torch.Tensor, digits: int = 4) -> Any:
    """``value`` as (nested) floats rounded for a message."""
    out = value.detach().double()
    return (
        round(out.item(), digits)
        if out.dim() == 0
        else (out * 10**digits).round().div(10**digits).tolist()
    )


def ok(name: str, what: str) -> None:
    """The one line a passing check prints."""
    print(f"✓ {name}: {what}")
