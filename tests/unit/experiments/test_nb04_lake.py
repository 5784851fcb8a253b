"""experiments.nb04_black_box.lake: the published anchors, the skip path without all_runs.zip,
and the collection's rows on synthetic runs."""

from __future__ import annotations

import torch

from lecture_utils.data import omniglot, one_shot
from lecture_utils.experiments.nb04_black_box import lake as lake


def _runs(n_runs: int = 2, n_way: int = 4) -> list[one_shot.OneShotRun]:
    gen = torch.Generator().manual_seed(0)
    runs = []
    for r in range(n_runs):
        train = (torch.rand(n_way, 1, 8, 8, generator=gen) > 0.5).float()
        order = torch.randperm(n_way, generator=gen)
        runs.append(one_shot.OneShotRun(f"run{r + 1:02d}", train, train[order], order, [], []))
    return runs


def test_missing_file_skips_with_a_clear_message() -> None:
    def unavailable(**_: object):
        raise omniglot.DataUnavailableError("all_runs.zip: offline")

    runs, message = lake.try_load_runs(28, loader=unavailable)
    assert runs is None
    assert (
        message.startswith("Skipped") and "all_runs.zip" in message and "$OMNIGLOT_DIR" in message
    )
    assert "DataUnavailableError" in message


def test_missing_folder_skips_too() -> None:
    def missing(**_: object):
        raise FileNotFoundError("no runs folder")

    assert lake.try_load_runs(None, loader=missing)[0] is None


def test_table_without_runs_prints_the_published_anchors_only() -> None:
    table = lake.benchmark_table(None)
    for figure in ("4.5%", "3.3%", "4.2%", "13.5%", "23.2%", "30.1%", "38.8%"):
        assert figure in table
    assert "not run here" in table


def test_available_runs_are_loaded_and_scored() -> None:
    runs, message = lake.try_load_runs(8, loader=lambda image_size: _runs())
    assert message == "" and len(runs) == 2

    def exact(train: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
        return (test.flatten(1)[:, None] == train.flatten(1)[None]).all(-1).float().argmax(1)

    def always_zero(train: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(test), dtype=torch.long)

    rows = lake.evaluate_models({"exact": (exact, "none"), "zero": (always_zero, "x")}, runs)
    assert [r.error_percent for r in rows] == [0.0, 75.0]
    table = lake.benchmark_table(rows)
    assert "exact" in table and "75.0%" in table and "not run here" not in table


def test_minimal_means_one_small_background_set() -> None:
    """Lake et al.'s minimal condition is ONE five-alphabet set; the 8 default ones are both."""
    from lecture_utils.experiments.nb04_black_box import lake

    minimal = [bg for _, _, bg in lake.PUBLISHED if bg.startswith("minimal")]
    assert minimal and all(bg == "minimal (one small set)" for bg in minimal)
    table = lake.benchmark_table([lake.OwnRow("x", 20.0, "both small sets (8 alphabets)")])
    assert "8 default alphabets" in table and "20.0%  both small sets" in table
