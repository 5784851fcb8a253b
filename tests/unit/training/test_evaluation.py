"""training.evaluation: per-task accuracy with a t 95% interval, devices, order checks."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats as scipy_stats
from shared import PATTERN_SIZE

from lecture_utils.episodes.sampler import Episode, EpisodeSampler
from lecture_utils.models import black_box
from lecture_utils.training import evaluation

S = PATTERN_SIZE  # the `images` fixture (conftest.py)


def sampler(images: torch.Tensor, **kwargs) -> EpisodeSampler:
    kwargs = {"n_way": 3, "k_shot": 1, "n_query": 2, "batch_size": 4, **kwargs}
    return EpisodeSampler(images, range(12), **kwargs)


def test_task_accuracy_is_a_t_interval_over_tasks() -> None:
    per_task = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.5])
    acc = evaluation.TaskAccuracy.from_scores(per_task)
    sd = math.sqrt(sum((v - 0.7) ** 2 for v in per_task.tolist()) / 4)  # sample std
    t = scipy_stats.t.ppf(0.975, df=4)
    assert acc.mean == pytest.approx(0.7) and acc.n_tasks == 5
    assert acc.ci95 == pytest.approx(t * sd / math.sqrt(5))
    assert str(acc).startswith("70.0% ± ") and "(5 tasks)" in str(acc)


def test_task_accuracy_needs_two_tasks() -> None:
    with pytest.raises(ValueError, match="at least 2 tasks"):
        evaluation.TaskAccuracy.from_scores([1.0])


def test_evaluate_counts_tasks_and_scores_a_perfect_model(images: torch.Tensor) -> None:
    perfect = black_box.NearestClassMean(torch.nn.Flatten(), S * S)
    clean = images[:, :1].expand(-1, 20, -1, -1).contiguous()  # all drawers identical
    acc = evaluation.evaluate(perfect, sampler(clean, batch_size=7), n_tasks=30)
    assert acc.n_tasks == 30 and acc.mean == 1.0 and acc.ci95 == 0.0


def test_evaluate_a_fixed_list_and_restore_the_mode(images: torch.Tensor) -> None:
    eps = evaluation.fixed_episodes(sampler(images, batch_size=4), 10)
    assert len(eps) == 3  # ceil(10 / 4) meta-batches
    model = black_box.build_model("hypernet", "pixels", image_size=S).train()
    acc = evaluation.evaluate(model, eps, n_tasks=10)
    assert acc.n_tasks == 10 and model.training
    with pytest.raises(ValueError, match="at least 2"):
        evaluation.evaluate(model, eps, n_tasks=1)


def test_evaluate_moves_episodes_to_the_model(images: torch.Tensor, monkeypatch) -> None:
    moved: list[str] = []
    original = Episode.to
    monkeypatch.setattr(Episode, "to", lambda self, d: moved.append(str(d)) or original(self, d))
    model = black_box.build_model("hypernet", "pixels", image_size=S)
    evaluation.evaluate(model, sampler(images), n_tasks=8)
    assert moved and set(moved) == {"cpu"}
    assert evaluation.episode_device(torch.nn.Flatten()).type == "cpu"  # stateless model


def test_prediction_change_rate_tells_sets_from_sequences(images: torch.Tensor) -> None:
    eps = [sampler(images, n_query=2).sample()]
    ff = black_box.build_model("feedforward", "pixels", n_way=3, image_size=S)
    lstm = black_box.build_model("lstm", "pixels", n_way=3, image_size=S)
    assert evaluation.prediction_change_rate(ff, eps)[1] < 1e-4
    assert evaluation.prediction_change_rate(lstm, eps)[1] > 1e-4
