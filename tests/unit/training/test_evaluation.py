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


def test_prediction_changes_are_per_task_and_average_to_the_rate(images: torch.Tensor) -> None:
    eps = [sampler(images, n_query=2).sample() for _ in range(2)]
    lstm = black_box.build_model("lstm", "pixels", n_way=3, image_size=S)
    rates, largest = evaluation.prediction_changes(lstm, eps, seed=1)
    assert rates.shape == (sum(len(ep.support_x) for ep in eps),)
    assert ((rates >= 0) & (rates <= 1)).all()
    rate, same_largest = evaluation.prediction_change_rate(lstm, eps, seed=1)
    assert rates.mean().item() == pytest.approx(rate) and same_largest == largest


# ---- the evaluation protocol as a contract ------------------------------


class BatchNormMean(torch.nn.Module):
    """Nearest class mean on features with a BatchNorm layer; records the mode of each call."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(S * S, 8))
        self.norm = torch.nn.BatchNorm1d(8)
        self.inner = black_box.NearestClassMean(torch.nn.Identity(), 8)
        self.modes: list[bool] = []

    def features(self, x: torch.Tensor) -> torch.Tensor:
        b, m = x.shape[:2]
        return self.norm(self.encoder(x.reshape(b * m, *x.shape[2:]))).view(b, m, -1)

    def forward(self, support_x, support_y, query_x):
        self.modes.append(self.norm.training)
        return self.inner(self.features(support_x), support_y, self.features(query_x))


def state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_restores_the_mode_and_leaves_batchnorm_buffers_bit_identical(
    images: torch.Tensor, training: bool
) -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = BatchNormMean()
    model.train(training)
    before = state(model)
    assert before["norm.num_batches_tracked"] == 0
    evaluation.evaluate(model, sampler(images), n_tasks=8)
    assert model.training is training and model.norm.training is training
    assert model.modes and not any(model.modes)  # every episode scored in eval mode
    after = state(model)
    assert before.keys() == after.keys()
    for name in before:  # running mean, variance and count untouched, weights too
        assert torch.equal(before[name], after[name]), name


class Oracle(torch.nn.Module):
    """Predicts the label written in each query item: logits = one-hot(query_x[..., 0])."""

    def forward(self, support_x, support_y, query_x):
        n_way = int(support_y.max()) + 1
        return torch.nn.functional.one_hot(query_x[..., 0].long(), n_way).float()


def one_task(predicted: list[int], truth: list[int]) -> Episode:
    """One task (B = 1), 2-way 1-shot, whose queries the Oracle answers with ``predicted``."""
    q = len(truth)
    return Episode(
        support_x=torch.zeros(1, 2, 1),
        support_y=torch.tensor([[0, 1]]),
        query_x=torch.tensor(predicted, dtype=torch.float32).view(1, q, 1),
        query_y=torch.tensor([truth]),
        classes=torch.tensor([[0, 1]]),
        rotations=torch.zeros(1, 2, dtype=torch.long),
    )


def test_the_interval_is_over_tasks_not_queries_hand_computed() -> None:
    # Task 1: 4 queries, 3 right (0.75). Task 2: 2 queries, none right (0.0).
    tasks = [one_task([0, 1, 1, 0], [0, 1, 1, 1]), one_task([1, 0], [0, 1])]
    acc = evaluation.evaluate(Oracle(), tasks, n_tasks=2)
    # Over tasks: mean (0.75 + 0) / 2 = 0.375 (over the 6 queries it would be 3/6 = 0.5).
    # s = sqrt((0.375^2 + 0.375^2) / 1) = 0.53033; t(0.975, df=1) = 12.7062047;
    # half-width = 12.7062047 * 0.53033 / sqrt(2) = 4.76483.
    assert acc.n_tasks == 2 and acc.per_task.tolist() == [0.75, 0.0]
    assert acc.mean == pytest.approx(0.375, abs=1e-12)
    assert acc.ci95 == pytest.approx(12.706204736174698 * 0.375, rel=1e-9)
    assert acc.ci95 == pytest.approx(4.76483, abs=1e-5)


# -- contracts found by mutation testing (make mutate-all); each names the mutant it kills ------


def test_fixed_episodes_for_one_task_and_refuses_none(images: torch.Tensor) -> None:
    """One task is enough for a fixed set (fixed_episodes 10: minimum 1, not 2); zero tasks is
    refused, naming the argument (fixed_episodes 2, 8, 9)."""
    eps = evaluation.fixed_episodes(sampler(images, batch_size=4), 1)
    assert len(eps) == 1 and eps[0].support_x.shape[0] == 4
    assert len(evaluation.fixed_episodes(sampler(images, batch_size=4), 9)) == 3  # ceil(9 / 4)
    with pytest.raises(ValueError, match=r"^n_tasks="):
        evaluation.fixed_episodes(sampler(images, batch_size=4), 0)


def test_task_accuracy_averages_in_double_precision() -> None:
    """Per-task scores given as Python floats are not rounded to float32 first
    (from_scores 3, 5): the float64 mean of 0.1, 0.2, 0.3 is 0.20000000000000004."""
    assert evaluation.TaskAccuracy.from_scores([0.1, 0.2, 0.3]).mean == sum([0.1, 0.2, 0.3]) / 3
