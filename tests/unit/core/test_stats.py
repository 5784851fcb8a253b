"""Student-t intervals, paired differences and verdicts (numbers checked by hand)."""

from __future__ import annotations

import math

import pytest
import torch

from lecture_utils.core import stats


def test_t_quantiles_match_published_tables() -> None:
    # Two-sided 95%: df=2 -> 4.303, df=7 -> 2.365, df=999 -> 1.962.
    assert stats.t_quantile(3) == pytest.approx(4.303, abs=1e-3)
    assert stats.t_quantile(8) == pytest.approx(2.365, abs=1e-3)
    assert stats.t_quantile(1000) == pytest.approx(1.962, abs=1e-3)


def test_t_interval_by_hand() -> None:
    iv = stats.t_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, n 3
    assert iv.mean == pytest.approx(2.0)
    assert iv.half_width == pytest.approx(4.3027 / math.sqrt(3), rel=1e-4)
    assert iv.low < 2.0 < iv.high and iv.n == 3


def test_paired_difference_uses_the_pairs() -> None:
    a = [0.50, 0.60, 0.70, 0.80]
    b = [0.45, 0.56, 0.64, 0.77]  # differences 0.05 0.04 0.06 0.03: tight
    paired = stats.paired_difference(a, b)
    assert paired.mean == pytest.approx(0.045)
    assert paired.low > 0  # unpaired, the seed-to-seed spread would swamp it
    assert paired.half_width < stats.t_interval(a).half_width / 5


def test_paired_difference_needs_equal_lengths() -> None:
    with pytest.raises(ValueError, match="one value per shared seed"):
        stats.paired_difference([1, 2, 3], [1, 2])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.1, 0.12, 0.11, 0.09], "holds"),
        ([-0.1, -0.12, -0.11, -0.09], "contradicted"),
        ([0.1, -0.1, 0.05, -0.05], "inconclusive"),
        ([0.2, 0.0, 0.25, 0.01], "inconclusive"),  # positive mean, interval contains 0
    ],
)
def test_verdict_follows_the_interval(values: list[float], expected: str) -> None:
    iv = stats.t_interval(values)
    assert stats.verdict(iv) == expected
    assert (expected == "inconclusive") == iv.contains(0.0)


def test_verdict_margin() -> None:
    iv = stats.Interval(mean=0.02, half_width=0.01, n=8)
    assert stats.verdict(iv) == "holds"
    assert stats.verdict(iv, margin=0.015) == "inconclusive"


def test_too_few_values_and_nan_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        stats.t_interval([0.5])
    with pytest.raises(ValueError, match="NaN"):
        stats.t_interval([0.5, float("nan")])


def test_formatting() -> None:
    iv = stats.Interval(mean=0.528, half_width=0.031, n=8)
    assert iv.format(100, unit="%") == "52.8% ± 3.1%"
    assert stats.summarise([0.5, 0.6]).startswith("55.0 ± ")
    assert stats.summarise([0.5]) == "50.0 (n=1)"


@pytest.mark.parametrize("seed", range(20))
def test_verdict_is_inconclusive_exactly_when_the_interval_contains_zero(seed: int) -> None:
    """Property: for random paired samples, 'inconclusive' iff 0 is in the 95% interval;
    otherwise the sign of the interval decides."""
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(2, 12, (1,), generator=gen))
    a = torch.randn(n, generator=gen)
    b = a + 0.3 * torch.randn(n, generator=gen) + 0.2 * torch.randn(1, generator=gen)
    iv = stats.paired_difference(a, b)
    got = stats.verdict(iv)
    if iv.contains(0.0):
        assert got == "inconclusive"
    else:
        assert got == ("holds" if iv.low > 0 else "contradicted")


# -- contracts found by mutation testing (make mutate-all); each names the mutant it kills ------


def test_other_confidence_levels_by_hand() -> None:
    """90% with n=3 uses t(0.95, df=2) = 2.91999 (not the 95% default) everywhere: in the
    half-width, in the Interval it returns and through paired_difference (t_interval 9, 25, 29;
    paired_difference 10)."""
    iv = stats.t_interval([1.0, 2.0, 3.0], confidence=0.9)  # mean 2, sd 1
    assert iv.half_width == pytest.approx(2.919986 / math.sqrt(3), rel=1e-6)
    assert iv.confidence == 0.9
    paired = stats.paired_difference([2.0, 4.0, 6.0, 8.0], [1.0, 2.0, 3.0, 4.0], confidence=0.5)
    # differences 1 2 3 4: mean 2.5, sd sqrt(5/3); t(0.75, df=3) = 0.764892
    assert paired.half_width == pytest.approx(0.764892 * math.sqrt(5 / 3) / 2, rel=1e-6)
    assert paired.confidence == 0.5


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5])
def test_confidence_outside_the_open_unit_interval_is_refused(confidence: float) -> None:
    """0 and 1 themselves are refused (t_quantile 7, 8), and so is 1.5 (t_quantile 9), with a
    message naming the value (t_quantile 10)."""
    with pytest.raises(ValueError, match=rf"^confidence={confidence} must be between 0 and 1\.$"):
        stats.t_quantile(5, confidence)


def test_values_are_averaged_in_double_precision() -> None:
    """Python floats must not pass through float32 (_as_floats 3, 5): the float64 mean of
    0.1, 0.2, 0.3 is 0.20000000000000004, the float32 one is off by about 1e-9."""
    assert stats.t_interval([0.1, 0.2, 0.3]).mean == sum([0.1, 0.2, 0.3]) / 3


def test_refusal_messages_name_the_problem() -> None:
    """The NaN message (_as_floats 9) and the infinity message, which shows at most three of
    the infinite values and the count (_as_floats 14-20)."""
    with pytest.raises(ValueError, match=r"^The values contain NaN: a run diverged or a score"):
        stats.t_interval([0.5, float("nan")])
    inf = float("inf")
    expected = (
        "values=[inf, -inf, inf] (of 6) must be finite for a mean and interval; a run "
        "diverged (an infinite loss?). Drop or fix those runs first."
    )
    with pytest.raises(ValueError) as caught:
        stats.t_interval([0.5, inf, -inf, inf, inf, 0.2])
    assert str(caught.value) == expected


def test_verdict_boundaries() -> None:
    """An interval touching the margin is not beyond it (verdict 2, 5), and the contradicted
    side is compared with -margin, not +margin (verdict 6)."""
    assert stats.verdict(stats.Interval(mean=0.5, half_width=0.5, n=3)) == "inconclusive"
    assert stats.verdict(stats.Interval(mean=-0.5, half_width=0.5, n=3)) == "inconclusive"
    small = stats.Interval(mean=0.05, half_width=0.01, n=3)  # inside (-0.1, 0.1)
    assert stats.verdict(small, margin=0.1) == "inconclusive"


def test_interval_contains_its_end_points() -> None:
    """Both ends belong to the interval (contains 1, 2)."""
    iv = stats.Interval(mean=0.5, half_width=0.25, n=3)
    assert iv.contains(0.25) and iv.contains(0.75)
    assert not iv.contains(0.2) and not iv.contains(0.8)


def test_interval_text() -> None:
    """format() defaults to scale 1 (format 1); str() names n and the confidence in percent
    (__str__ 1-4)."""
    iv = stats.Interval(mean=0.5, half_width=0.25, n=8, confidence=0.9)
    assert iv.format() == "0.5 ± 0.2"
    assert str(iv) == "0.5 ± 0.25 (n=8, t 90%)"
