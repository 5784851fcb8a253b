"""Impossible sampler and model inputs are refused with a message that names the problem.

The episode sampler and the black-box models; synthetic tensors only.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from lecture_utils.episodes.sampler import EpisodeSampler
from lecture_utils.models import black_box

S = 8


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(12, 20, S, S, generator=torch.Generator().manual_seed(0))


# --------------------------------------------------------------------------------------------
# the episode sampler
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "classes",
    [[0, 1.5, 2, 3, 4], [0.0, 1.0, 2.0], torch.tensor([0.0, 1.0, 2.0]), np.array([0.5, 1.0])],
    ids=["list-with-float", "whole-floats", "float-tensor", "float-array"],
)
def test_non_integer_classes_are_refused_not_truncated(images, classes):
    with pytest.raises(ValueError, match="integer|whole-number"):
        EpisodeSampler(images, classes, n_way=2)


def test_boolean_classes_are_refused(images):
    with pytest.raises(ValueError, match="bool"):
        EpisodeSampler(images, [True, False, True], n_way=2)


def test_duplicate_classes_are_refused(images):
    with pytest.raises(ValueError, match=r"distinct; \[3\] appear"):
        EpisodeSampler(images, [3, 3, 3, 3, 3, 4], n_way=5)


@pytest.mark.parametrize(
    "classes",
    [
        np.array([1, 4, 7, 9]),
        [np.int32(1), np.int64(4), 7, np.int16(9)],
        torch.tensor([1, 4, 7, 9]),
    ],
    ids=["int-array", "numpy-scalars", "long-tensor"],
)
def test_numpy_and_tensor_integers_are_accepted(images, classes):
    episode = EpisodeSampler(images, classes, n_way=4, batch_size=3).sample()
    assert sorted(episode.classes[0].tolist()) == [1, 4, 7, 9]


def test_images_with_swapped_axes_are_refused(images):
    with pytest.raises(ValueError, match=r"axes swapped.*\(12, 8, 8, 20\)|\(12, 8, 8, 20\).*axes"):
        EpisodeSampler(images.permute(0, 2, 3, 1), n_way=2)  # [C, S, S, drawers]


def test_huge_meta_batch_is_refused_before_allocating(images):
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        EpisodeSampler(images, n_way=5, batch_size=10**7)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "batch_size=10000000" in message and "MAX_META_BATCH_BYTES = 2 GiB" in message
    limit = int(message.rsplit("at most ", 1)[1].rstrip("."))
    EpisodeSampler(images, n_way=5, batch_size=min(limit, 64))  # below the limit: fine
    assert limit > 1000


def test_memory_limit_can_be_raised_or_lowered(images, monkeypatch):
    monkeypatch.setattr(EpisodeSampler, "MAX_META_BATCH_BYTES", 10_000)
    with pytest.raises(ValueError, match="MAX_META_BATCH_BYTES"):
        EpisodeSampler(images, n_way=5, batch_size=32)


# --------------------------------------------------------------------------------------------
# the black-box models
# --------------------------------------------------------------------------------------------


def episode(n_way: int = 5, k_shot: int = 2, size: int = 28, labels=None, b: int = 2):
    support_y = torch.arange(n_way).repeat_interleave(k_shot).expand(b, -1).clone()
    if labels is not None:
        support_y = torch.tensor(labels).repeat_interleave(k_shot).expand(b, -1).clone()
    n_items = support_y.shape[1]
    return torch.rand(b, n_items, 1, size, size), support_y, torch.rand(b, 3, 1, size, size)


@pytest.mark.parametrize("family", black_box.families())
def test_pixel_model_given_another_image_size_names_both_sizes(family):
    model = black_box.build_model(family, "pixels", image_size=28)
    with pytest.raises(ValueError) as info:
        model(*episode(size=32))
    message = str(info.value)
    assert "28x28 px" in message and "(1, 32, 32)" in message and "image_size" in message
    assert "mat1 and mat2" not in message


@pytest.mark.parametrize("family", ["hypernet", "ncm"])
def test_models_without_a_class_limit_need_labels_without_gaps(family):
    if family == "ncm":
        model = black_box.NearestClassMean(torch.nn.Flatten(), 28 * 28)
    else:
        model = black_box.build_model("hypernet", "pixels")
    with pytest.raises(ValueError, match=r"without gaps.*N = largest label \+ 1 = 10.*no label 4"):
        model(*episode(labels=[0, 1, 2, 3, 9]))
    assert model(*episode(labels=[3, 1, 0, 2, 4])).shape == (2, 3, 5)  # any order is fine


def test_attention_width_must_divide_into_heads():
    with pytest.raises(ValueError, match="d_model=130 must be divisible by heads=4.*d_model=132"):
        black_box.build_model("attention", "pixels", d_model=130, heads=4)


@pytest.mark.parametrize(
    ("family", "kwargs", "name"),
    [
        ("lstm", {"hidden": 0}, "hidden"),
        ("feedforward", {"hidden": -1}, "hidden"),
        ("attention", {"heads": 0}, "heads"),
        ("attention", {"depth": 0}, "depth"),
        ("hypernet", {"head_dim": 2.5}, "head_dim"),
        ("feedforward", {"context_dim": 0}, "context_dim"),
    ],
)
def test_constructors_validate_their_widths(family, kwargs, name):
    with pytest.raises(ValueError, match=f"{name}=.* must be a whole number >= 1"):
        black_box.build_model(family, "pixels", **kwargs)
