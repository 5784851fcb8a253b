"""Verdicts in words: what every ± means, one vocabulary for paired differences, one Finding.

:func:`lecture_utils.core.stats.verdict` reads a paired difference's t 95% interval as
``"holds"`` (above 0), ``"contradicted"`` (below 0) or ``"inconclusive"`` (contains 0). This
module is the only place those verdicts become words, so every notebook says them alike. A
table of findings is one family of tests: :func:`verdict_table` prints each row's p and its
verdict after Holm's correction beside the raw one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lecture_utils.analysis.tables import INTERVAL_OVER_SEEDS, interval_cell
from lecture_utils.core import runtime, stats

WHERE = {
    "holds": "the interval lies above 0",
    "contradicted": "the interval lies below 0",
    "inconclusive": "the interval contains 0",
}


def in_words(
    verdict: str,
    better: str = "better",
    worse: str = "worse",
    unclear: str = "no clear difference",
) -> str:
    """``"<reading>: <where the interval lies>"`` for a verdict of :func:`stats.verdict`, e.g.
    ``in_words("holds") == "better: the interval lies above 0"``."""
    if verdict not in WHERE:
        raise ValueError(
            f"Unknown verdict {verdict!r}; stats.verdict gives one of {stats.VERDICTS}."
        )
    reading = {"holds": better, "contradicted": worse, "inconclusive": unclear}[verdict]
    return f"{reading}: {WHERE[verdict]}"


@dataclass
class Finding:
    """A rule's arm against the alternative, on the same seeds and splits. Scores are
    accuracies (shown in %, differences in pp) unless ``unit`` says otherwise (e.g. steps,
    ``scale=1``); ``lower_is_better`` turns the difference into alternative - arm."""

    rule: str
    arm: str
    scores: list[float]
    alternative: str
    alternative_scores: list[float]
    unit: str = "pp"
    scale: float = 100.0
    lower_is_better: bool = False
    digits: int = 1

    @property
    def difference(self) -> stats.Interval:
        pair = (self.alternative_scores, self.scores)
        return stats.paired_difference(*(pair if self.lower_is_better else pair[::-1]))

    @property
    def verdict(self) -> str:
        return stats.verdict(self.difference)

    @property
    def differences(self) -> list[float]:
        """Seed by seed, the rule's predicted improvement (arm - alternative, or the reverse)."""
        pair = (self.alternative_scores, self.scores)
        a, b = pair if self.lower_is_better else pair[::-1]
        return [x - y for x, y in zip(a, b, strict=True)]

    @property
    def p_value(self) -> float:
        return stats.p_value(self.differences)

    def row(self) -> list[str]:
        d, unit = self.difference, "%" if self.unit == "pp" else f" {self.unit}"
        sign = "alternative - arm: " if self.lower_is_better else ""
        return [
            self.rule,
            f"{self.arm}: {interval_cell(self.scores, self.scale, self.digits)}{unit}",
            f"{self.alternative}: "
            f"{interval_cell(self.alternative_scores, self.scale, self.digits)}{unit}",
            f"{sign}{self.scale * d.mean:+.{self.digits}f} ± "
            f"{self.scale * d.half_width:.{self.digits}f} {self.unit}",
            self.verdict,
        ]

    def __str__(self) -> str:
        arm, alternative, diff, verdict = self.row()[1:]
        p = self.p_value
        return (
            f"{arm} vs {alternative}; difference {diff} (paired t 95%, p = {p:.3f}) -> {verdict} "
            "(raw; Holm's in the verdict table)"
        )


@runtime.marks_fast_mode
def verdict_table(
    findings: Sequence[Finding],
    condition: str = "",
    columns: tuple[str, str] = ("rule", "rule's arm"),
) -> str:
    """A Markdown table: rule | rule's arm | alternative | paired difference | p | verdict | verdict
    after Holm's correction over the whole table (one family: every row is a test).
    ``condition`` (e.g. "conditional on one pretrained network") goes into the header;
    ``columns`` names the first two (e.g. ``("comparison", "arm")``)."""
    n = len(findings[0].scores) if findings else 0
    family = stats.family_verdicts([f.differences for f in findings])
    rule = f"{columns[0]} ({condition})" if condition else columns[0]
    lines = [
        f"| {rule} | {columns[1]} ({INTERVAL_OVER_SEEDS}, n={n}) | alternative | "
        f"difference (paired t 95%) | p | verdict | Holm ({len(findings)} tests) |",
        "|---|---|---|---|---|---|---|",
    ]
    for f, (p, adjusted, holm) in zip(findings, family, strict=True):
        cells = [*f.row()[:4], f"{p:.3f}", f"**{f.verdict}**", f"**{holm}** (p_adj {adjusted:.3f})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict_summary(findings: Sequence[Finding]) -> str:
    """Markdown, one bullet per finding, written from its numbers: the raw verdict, the
    paired difference with its t 95% half-width, p, and the verdict after Holm's correction
    over ``findings`` (so prose quoting a result always matches the run)."""
    family = stats.family_verdicts([f.differences for f in findings])
    lines = []
    for f, (p, _adjusted, holm) in zip(findings, family, strict=True):
        diff = f.row()[3]
        after = "the same after Holm" if holm == f.verdict else f"**{holm}** after Holm"
        lines.append(
            f"* **{f.rule}: {f.verdict}** ({f.arm} vs {f.alternative}: {diff}, p = {p:.3f}; "
            f"{after})."
        )
    return "\n".join(lines)
