"""The one statistics module: Student-t 95% intervals, paired differences and verdicts.

Every error bar and ± in the collection comes from here, so it always means the same thing:
a two-sided Student-t interval for the mean with ``n - 1`` degrees of freedom. Seed-level
comparisons of two arms that share seeds and splits use :func:`paired_difference`; episode
evaluation uses :func:`t_interval` over the per-task scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from scipy import stats as _scipy_stats

VERDICTS = ("holds", "contradicted", "inconclusive")


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided t interval: ``mean ± half_width`` from ``n`` values."""

    mean: float
    half_width: float
    n: int
    confidence: float = 0.95

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def format(self, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
        """``"52.8 ± 3.1"`` (values times ``scale``), e.g. ``scale=100, unit="%"``."""
        m, h = self.mean * scale, self.half_width * scale
        return f"{m:.{digits}f}{unit} ± {h:.{digits}f}{unit}"

    def __str__(self) -> str:
        pct = round(100 * self.confidence)
        return f"{self.mean:.3g} ± {self.half_width:.2g} (n={self.n}, t {pct}%)"


def t_quantile(n: int, confidence: float = 0.95) -> float:
    """The two-sided Student-t quantile for ``n`` values (``n - 1`` degrees of freedom)."""
    if n < 2:
        raise ValueError(f"An interval needs at least 2 values, got {n}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must be between 0 and 1.")
    return float(_scipy_stats.t.ppf(0.5 + confidence / 2, df=n - 1))


def _as_floats(values: Sequence[float] | torch.Tensor) -> list[float]:
    flat = torch.as_tensor(values, dtype=torch.float64).flatten().tolist()
    if any(math.isnan(v) for v in flat):
        raise ValueError("The values contain NaN: a run diverged or a score is missing.")
    if any(math.isinf(v) for v in flat):
        shown = [v for v in flat if math.isinf(v)][:3]
        raise ValueError(
            f"values={shown} (of {len(flat)}) must be finite for a mean and interval; a run "
            "diverged (an infinite loss?). Drop or fix those runs first."
        )
    return flat


def t_interval(values: Sequence[float] | torch.Tensor, confidence: float = 0.95) -> Interval:
    """Mean and t-interval half-width ``t · s / sqrt(n)`` (sample standard deviation)."""
    xs = _as_floats(values)
    n = len(xs)
    q = t_quantile(n, confidence)
    mean = sum(xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    return Interval(mean, q * sd / math.sqrt(n), n, confidence)


def paired_difference(
    a: Sequence[float] | torch.Tensor,
    b: Sequence[float] | torch.Tensor,
    confidence: float = 0.95,
) -> Interval:
    """The t interval of ``a - b`` pair by pair (same seeds and splits in both arms)."""
    xs, ys = _as_floats(a), _as_floats(b)
    if len(xs) != len(ys):
        raise ValueError(
            f"Paired arms need one value per shared seed: got {len(xs)} and {len(ys)} values."
        )
    return t_interval([x - y for x, y in zip(xs, ys, strict=True)], confidence)


def verdict(difference: Interval, margin: float = 0.0) -> str:
    """``"holds"`` if the interval lies above ``margin``, ``"contradicted"`` if below
    ``-margin``, else ``"inconclusive"`` (the interval contains zero, or is within the margin).

    ``difference`` is the rule's predicted improvement (e.g. rule arm minus alternative).
    """
    if difference.low > margin:
        return "holds"
    if difference.high < -margin:
        return "contradicted"
    return "inconclusive"


def summarise(values: Sequence[float] | torch.Tensor, scale: float = 100.0) -> str:
    """``"52.8 ± 3.1 (t 95%, n=8)"`` for seed-level results (a single value prints as is)."""
    xs = _as_floats(values)
    if len(xs) == 1:
        return f"{xs[0] * scale:.1f} (n=1)"
    iv = t_interval(xs)
    return f"{iv.format(scale)} (t 95%, n={iv.n})"
