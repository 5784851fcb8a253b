"""Verdicts in words and Findings: paired t intervals over shared seeds, one vocabulary."""

from __future__ import annotations

import pytest

from lecture_utils.analysis.verdicts import Finding, in_words, verdict_summary, verdict_table
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
    assert "+10.0 ± " in str(better) and "p = " in str(better) and "(raw; Holm" in str(better)


def test_findings_in_steps_where_lower_is_better() -> None:
    faster = Finding("speed", "ft", [6, 12, 6], "scratch", [60, 48, 54], "steps", 1.0, True)
    assert faster.verdict == "holds" and faster.difference.mean == 46.0
    assert "steps" in faster.row()[3] and "%" not in faster.row()[1]


def test_the_table_corrects_the_family_with_holm(full_mode: None) -> None:
    # Differences [1, 2, 3, 4] pp: p = 0.0305 alone (holds). With a strong rule (smallest p, ×3)
    # and a null one (p = 1, ×1) it is the middle p of 3, so 2 × 0.0305 = 0.061: inconclusive.
    weak = Finding("weak", "a", [0.11, 0.22, 0.33, 0.44], "b", [0.10, 0.20, 0.30, 0.40])
    strong = Finding("strong", "a", [0.40, 0.41, 0.39, 0.42], "b", [0.10, 0.10, 0.10, 0.10])
    assert weak.differences == pytest.approx([0.01, 0.02, 0.03, 0.04])
    assert weak.p_value == pytest.approx(0.030466, abs=1e-5) and weak.verdict == "holds"
    null = Finding("null", "a", [0.2, 0.1, 0.2, 0.1], "b", [0.1, 0.2, 0.1, 0.2])
    rows = verdict_table([weak, strong, null]).splitlines()
    assert rows[0].endswith("| p | verdict | Holm (3 tests) |")
    assert rows[2].endswith("| 0.030 | **holds** | **inconclusive** (p_adj 0.061) |")
    assert "| **holds** | **holds** (p_adj 0.000) |" in rows[3]
    assert rows[4].endswith("| 1.000 | **inconclusive** | **inconclusive** (p_adj 1.000) |")
    alone = verdict_table([weak]).splitlines()[2]
    assert alone.endswith("| **holds** | **holds** (p_adj 0.030) |")


def test_lower_is_better_differences_point_the_rule_s_way() -> None:
    faster = Finding("speed", "ft", [6, 12, 6], "scratch", [60, 48, 54], "steps", 1.0, True)
    assert faster.differences == [54, 36, 48]


def test_the_summary_is_written_from_the_numbers_and_the_header_carries_a_condition(
    full_mode: None,
) -> None:
    weak = Finding("weak", "a", [0.02, 0.03, 0.04, 0.05], "b", [0.01] * 4)
    strong = Finding("strong", "a", [0.5, 0.6, 0.55, 0.52], "b", [0.1, 0.1, 0.12, 0.1])
    null = Finding("null", "a", [0.1, 0.2, 0.1, 0.2], "b", [0.2, 0.1, 0.2, 0.1])
    lines = verdict_summary([weak, strong, null]).splitlines()
    assert lines[0] == (
        "* **weak: holds** (a vs b: +2.5 ± 2.1 pp, p = 0.030; **inconclusive** after Holm)."
    )
    assert (
        lines[1].startswith("* **strong: holds** (a vs b: +43.8") and "same after Holm" in lines[1]
    )
    assert "p = 1.000" in lines[2]
    header = verdict_table([weak], condition="one pretrained network").splitlines()[0]
    assert header.startswith("| rule (one pretrained network) | rule's arm")
    named = verdict_table([weak], columns=("comparison", "arm")).splitlines()[0]
    assert named.startswith("| comparison | arm (mean ± Student-t 95% half-width over seeds, n=4)")
