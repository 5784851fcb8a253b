"""Black-box models must *read* their support set: images and labels both.

Permutation invariance alone is passed by a model that ignores the support set (or its labels);
these tests fail on such a model, for every family.
"""

from __future__ import annotations

import pytest
import torch

from lecture_utils.models import black_box

B, N, K, Q, S = 3, 5, 2, 3, 10


def episode(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    support_x = torch.rand(B, N * K, 1, S, S, generator=gen)
    support_y = torch.stack([torch.randperm(N * K, generator=gen) % N for _ in range(B)])
    query_x = torch.rand(B, N * Q, 1, S, S, generator=gen)
    return support_x, support_y, query_x


def model(family: str) -> black_box.BlackBoxModel:
    return black_box.build_model(family, "pixels", n_way=N, image_size=S).eval()


def relabel(support_y: torch.Tensor) -> torch.Tensor:
    """Class c is now called (c + 1) mod N: the same images, a derangement of the labels."""
    return (support_y + 1) % N


@pytest.mark.parametrize("family", black_box.families())
def test_permuting_the_support_labels_changes_the_prediction(family: str) -> None:
    net = model(family)
    sx, sy, qx = episode()
    with torch.no_grad():
        before, after = net(sx, sy, qx), net(sx, relabel(sy), qx)
    assert (before - after).abs().max() > 1e-4, f"{family} ignores the support labels"


@pytest.mark.parametrize("family", black_box.families())
def test_changing_the_support_images_changes_the_prediction(family: str) -> None:
    net = model(family)
    sx, sy, qx = episode()
    with torch.no_grad():
        other = episode(seed=1)[0]
        before, after = net(sx, sy, qx), net(other, sy, qx)
    assert (before - after).abs().max() > 1e-4, f"{family} ignores the support images"


def test_hypernetwork_logits_follow_the_labels() -> None:
    """The hypernetwork builds row n of its head from the images labelled n, so renaming class
    c to c+1 moves logit column c to column c+1 and changes nothing else."""
    net = model("hypernet")
    sx, sy, qx = episode()
    with torch.no_grad():
        before, after = net(sx, sy, qx), net(sx, relabel(sy), qx)
    torch.testing.assert_close(after, before.roll(1, dims=-1), rtol=1e-5, atol=1e-5)
