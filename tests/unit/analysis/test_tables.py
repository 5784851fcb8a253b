"""Seed-level runs pair up by seed, whatever order they were recorded in."""

from __future__ import annotations

from lecture_utils.analysis.tables import Run, Runs, paired_text


def test_values_come_in_seed_order_so_arms_pair_seed_by_seed() -> None:
    runs = Runs(
        [
            Run("a", 1, seed=2, scores={"acc": 0.9}),
            Run("b", 1, seed=0, scores={"acc": 0.5}),
            Run("a", 1, seed=0, scores={"acc": 0.6}),
            Run("b", 1, seed=2, scores={"acc": 0.8}),
            Run("a", 1, seed=1, scores={"acc": None}),  # not measured: left out
        ]
    )
    assert runs.values("a", 1, "acc") == [0.6, 0.9] and runs.values("b", 1, "acc") == [0.5, 0.8]
    assert runs.seeds == [0, 1, 2]
    # paired differences a - b are [0.1, 0.1]: +10.0 points with zero spread
    assert paired_text(runs.values("a", 1, "acc"), runs.values("b", 1, "acc")).startswith("+10.0")
