"""Episode samplers accept every integer type and name what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecture_utils.data.omniglot import OmniglotData
from lecture_utils.episodes.sampler import EpisodeSampler
from lecture_utils.episodes.sine_tasks import SineTasks


def pool(chars: int = 6, size: int = 8) -> torch.Tensor:
    return torch.rand(chars, 20, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("kind", [np.int64, torch.tensor])
def test_sampler_takes_numpy_and_tensor_integers_and_draws_the_same_episodes(kind):
    images = pool()
    plain = EpisodeSampler(images, n_way=5, k_shot=2, n_query=1, batch_size=3).sample()
    other = EpisodeSampler(
        images, n_way=kind(5), k_shot=kind(2), n_query=kind(1), batch_size=kind(3)
    ).sample()
    for name in ("support_x", "support_y", "query_x", "query_y", "classes"):
        assert torch.equal(getattr(plain, name), getattr(other, name)), name


def test_sampler_given_the_data_object_says_pass_data_images():
    images = pool()
    data = OmniglotData(images, ["A"] * 6, [f"c{i}" for i in range(6)], [[""] * 20] * 6, "x")
    with pytest.raises(TypeError, match=r"pass images=data\.images"):
        EpisodeSampler(data, n_way=2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_way": True}, r"n_way=True must be a whole number >= 1"),
        ({"k_shot": 1.5}, r"k_shot=1\.5 must be a whole number >= 1"),
        ({"n_query": 0}, r"n_query=0 must be a whole number >= 1"),
        ({"batch_size": -2}, r"batch_size=-2 must be a whole number >= 1"),
        ({"num_batches": 0}, r"num_batches=0 must be a whole number >= 1"),
    ],
)
def test_sampler_refuses_bad_counts_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EpisodeSampler(pool(), **{"n_way": 2, **kwargs})


def test_sampler_refuses_nan_images():
    images = pool()
    images[2, 4, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="images holds 1 NaN or infinite values"):
        EpisodeSampler(images, n_way=2)


@pytest.mark.parametrize("kind", [np.int64, torch.tensor])
def test_sine_tasks_take_numpy_and_tensor_integers(kind):
    plain = SineTasks(k_shot=5, n_query=3, batch_size=4, seed=1).sample()
    other = SineTasks(k_shot=kind(5), n_query=kind(3), batch_size=kind(4), seed=kind(1)).sample()
    assert torch.equal(plain.support_x, other.support_x)
    assert torch.equal(plain.query_y, other.query_y)
    ranged = SineTasks(k_shot=(np.int64(2), np.int64(4)), seed=0)
    assert ranged.k_range == (2, 4) and all(type(k) is int for k in ranged.k_range)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k_shot": 0}, r"k_shot=0 must be a whole number >= 1"),
        ({"k_shot": 2.5}, r"k_shot=2\.5 must be a whole number >= 1"),
        ({"k_shot": (1, 2, 3)}, r"k_shot=\(1, 2, 3\) must be a whole number or \(low, high\)"),
        ({"n_query": True}, r"n_query=True must be a whole number >= 1"),
        ({"batch_size": -1}, r"batch_size=-1 must be a whole number >= 1"),
        ({"seed": -1}, r"seed=-1 must be a whole number >= 0"),
    ],
)
def test_sine_tasks_refuse_bad_counts_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SineTasks(**kwargs)
