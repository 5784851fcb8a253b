"""Verdicts in words and Findings: paired t intervals over shared seeds, one vocabulary."""

from __future__ import annotations

import pytest

from lecture_utils.analysis.verdicts import Finding, in_words, verdict_table
from lecture_utils.core import stats


def test_verdicts_in_one_vocabulary() -> None:
    assert in_words("holds") == "better: the interval lies above 0"
    assert in_words("contradicted") == "worse: the interval lies below 0"
    assert in_words("inconclusive") == "no clear difference: the interval contains 0"
    rising = in_words("holds", "still rising", "falling", "no clear rise")
    assert rising == "still rising: the interval lies above 0"
    with pytest.raises(ValueError, match="Unknown verdict"):
        in_words("likely")


def test_a_finding_reads_its_verdict_from_its_own_arms() -> None:
    """The verdict is about arm - alternative: swapping the arms flips it."""
    a, b = [0.60, 0.70, 0.65], [0.50, 0.61, 0.54]
    assert Finding("r", "a", a, "b", b).verdict == "holds"
    assert Finding("r", "b", b, "a", a).verdict == "contradicted"
    assert Finding("r", "b", b, "a", a).row()[3].startswith("-10.0 ± ")


def test_findings_print_verdicts_from_paired_intervals() -> None:
    better = Finding("rule", "a", [0.60, 0.70, 0.65], "b", [0.50, 0.61, 0.54])
    assert better.verdict == "holds"
    assert better.difference == stats.paired_difference([0.6, 0.7, 0.65], [0.5, 0.61, 0.54])
    worse = Finding("rule", "a", [0.40, 0.50, 0.45], "b", [0.50, 0.61, 0.54])
    noisy = Finding("rule", "a", [0.60, 0.40, 0.50], "b", [0.50, 0.50, 0.50])
    assert (worse.verdict, noisy.verdict) == ("contradicted", "inconclusive")
    table = verdict_table([better, worse, noisy])
    assert "**holds**" in table and "**contradicted**" in table and "t 95%" in table
    assert "+10.0 ± " in str(better)


def test_findings_in_steps_where_lower_is_better() -> None:
    faster = Finding("speed", "ft", [6, 12, 6], "scratch", [60, 48, 54], "steps", 1.0, True)
    assert faster.verdict == "holds" and faster.difference.mean == 46.0
    assert "steps" in faster.row()[3] and "%" not in faster.row()[1]
