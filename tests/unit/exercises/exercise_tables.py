"""The three contracts every exercise's check meets, shared by the per-notebook test files:
a right answer passes in well under a second and a stub is "not implemented yet"; each
plausible mistake gets its own message; every exercise has at least three mistakes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import pytest


def right_passes_and_stub_fails(check: Callable, right: Callable, stub: Callable, capsys) -> None:
    t0 = time.perf_counter()
    check(right)
    assert time.perf_counter() - t0 < 1.0
    assert capsys.readouterr().out.startswith("✓ ")
    with pytest.raises(AssertionError, match="not implemented yet: replace the stub"):
        check(stub)


def mistake_is_named(check: Callable, wrong: Callable, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check(wrong)


def three_mistakes_each(right: Sequence[tuple], mistakes: Sequence[tuple]) -> None:
    for check, _ in right:
        assert sum(m[0] is check for m in mistakes) >= 3, check.__name__
