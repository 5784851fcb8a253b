"""A family of verdicts: p-values and Holm's correction, against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from lecture_utils.core import stats


def test_p_value_by_hand() -> None:
    # d = [1, 2, 3, 4]: mean 2.5, s = sqrt(5/3), se = s / 2, t = 2.5 / se = sqrt(15) = 3.873 on
    # 3 degrees of freedom; t tables: t_.975 = 3.182 < 3.873 < t_.99 = 4.541, and p = 0.0305.
    assert stats.p_value([1.0, 2.0, 3.0, 4.0]) == pytest.approx(0.030466, abs=1e-5)
    assert stats.p_value([-1.0, -2.0, -3.0, -4.0]) == pytest.approx(0.030466, abs=1e-5)
    assert stats.p_value([1.0, -1.0, 1.0, -1.0]) == pytest.approx(1.0)
    assert stats.p_value([0.5, 0.5, 0.5]) == 0.0 and stats.p_value([0.0, 0.0]) == 1.0


def test_p_below_5_percent_exactly_when_the_interval_excludes_0() -> None:
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        d = (torch.randn(6, generator=gen) + 0.8).tolist()
        excludes = stats.verdict(stats.t_interval(d)) != "inconclusive"
        assert (stats.p_value(d) < 0.05) == excludes


def test_holm_by_hand() -> None:
    # Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> max(0.06, 0.04).
    assert stats.holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm_adjust([0.02]) == [0.02]  # a family of one is not corrected
    assert stats.holm_adjust([]) == []


def test_holm_is_not_bonferroni_nor_uncorrected() -> None:
    # Bonferroni would give 3·0.02 = 0.06 for the second; uncorrected 0.02; Holm 2·0.02 = 0.04.
    assert stats.holm_adjust([0.01, 0.02, 0.5])[1] == pytest.approx(0.04)


def test_holm_refuses_impossible_p() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.holm_adjust([0.2, 1.5])
    with pytest.raises(ValueError, match="NaN"):
        stats.p_value([1.0, math.nan])


def test_family_verdicts_correct_only_what_needs_it() -> None:
    strong = [3.0, 3.1, 2.9, 3.2]  # p ~ 1e-5: survives any correction
    weak = [1.0, 2.0, 3.0, 4.0]  # p = 0.0305: holds alone, not in a family of three
    worse = [-3.0, -3.1, -2.9, -3.2]
    noise = [1.0, -1.0, 1.0, -1.0]
    rows = stats.family_verdicts([strong, weak, worse, noise])
    assert [r[2] for r in rows] == ["holds", "inconclusive", "contradicted", "inconclusive"]
    assert rows[1][0] == pytest.approx(0.030466, abs=1e-5)
    assert rows[1][1] == pytest.approx(2 * 0.030466, abs=1e-4)  # third smallest of 4: ×2
    alone = stats.family_verdicts([weak])
    assert alone[0][2] == "holds" and alone[0][1] == alone[0][0]
