"""The one statistics module: Student-t 95% intervals, paired differences and verdicts.

Every error bar and ± in the collection comes from here, so it always means the same thing:
a two-sided Student-t interval for the mean with ``n - 1`` degrees of freedom. Seed-level
comparisons of two arms that share seeds and splits use :func:`paired_difference`; episode
evaluation uses :func:`t_interval` over the per-task scores. A family of verdicts is corrected
for multiplicity with Holm's step-down method (:func:`holm_adjust`, :func:`family_verdicts`).
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


def p_value(difference: Sequence[float] | torch.Tensor) -> float:
    """Two-sided one-sample t-test p of "mean difference = 0" (the test behind :func:`verdict`:
    ``p < 0.05`` exactly when the t 95% interval excludes 0)."""
    xs = _as_floats(difference)
    n = len(xs)
    t_quantile(n)  # the same n >= 2 check as every interval
    mean = sum(xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    if sd == 0.0:
        return 1.0 if mean == 0.0 else 0.0
    t = mean / (sd / math.sqrt(n))
    return float(2 * _scipy_stats.t.sf(abs(t), df=n - 1))


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order.

    Sorted ascending, the i-th smallest (1-based) becomes ``(m - i + 1) · p``, capped at 1 and made
    non-decreasing. Rejecting where the adjusted p < alpha keeps the chance of *any* false verdict
    in the family at most alpha (family-wise error), whatever the dependence between the tests.
    """
    ps = [float(p) for p in p_values]
    if any(not 0.0 <= p <= 1.0 for p in ps):
        raise ValueError(f"p-values must lie in [0, 1], got {ps}.")
    m = len(ps)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: ps[j])):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def family_verdicts(
    differences: Sequence[Sequence[float] | torch.Tensor], alpha: float = 0.05
) -> list[tuple[float, float, str]]:
    """For a family of paired differences: ``(p, Holm-adjusted p, verdict)`` per difference; the
    verdict is "holds"/"contradicted" by the sign of the mean where the adjusted p < ``alpha``,
    else "inconclusive"."""
    ps = [p_value(d) for d in differences]
    out = []
    for d, p, adj in zip(differences, ps, holm_adjust(ps), strict=True):
        mean = sum(_as_floats(d)) / len(_as_floats(d))
        word = "inconclusive" if adj >= alpha else ("holds" if mean > 0 else "contradicted")
        out.append((p, adj, word))
    return out


def summarise(values: Sequence[float] | torch.Tensor, scale: float = 100.0) -> str:
    """``"52.8 ± 3.1 (t 95%, n=8)"`` for seed-level results (a single value prints as is)."""
    xs = _as_floats(values)
    if len(xs) == 1:
        return f"{xs[0] * scale:.1f} (n=1)"
    iv = t_interval(xs)
    return f"{iv.format(scale)} (t 95%, n={iv.n})"
