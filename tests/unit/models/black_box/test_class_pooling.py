"""The Q3 arms of notebook 04: per-class context, the hypernetwork with and without its
prototype shortcut, nearest class mean — shapes, invariances and hand-computed sizes of phi."""

from __future__ import annotations

import pytest
import torch

from lecture_utils.models import black_box
from lecture_utils.models.black_box import class_pooling

B, N, K, Q, F = 2, 5, 1, 3, 32


def episode(n_way: int = N, k_shot: int = K, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    support_x = torch.randn(B, n_way * k_shot, F, generator=gen)
    support_y = torch.arange(n_way).repeat_interleave(k_shot).expand(B, -1).clone()
    query_x = torch.randn(B, n_way * Q, F, generator=gen)
    return support_x, support_y, query_x


def build(family: str, **kwargs) -> black_box.BlackBoxModel:
    return black_box.build_model(family, "features", feature_dim=F, **kwargs).eval()


@pytest.mark.parametrize(
    ("family", "kwargs", "phi"),
    [
        ("feedforward", {"context_dim": 2}, 2),  # h over all of D_tr: d numbers
        ("feedforward", {"context_dim": 128}, 128),
        ("class_context", {"context_dim": 8}, 5 * 8),  # one h per class: N * d
        ("class_context", {"context_dim": 64}, 5 * 64),
        ("hypernet", {"prototype_shortcut": False}, 5 * (64 + 1)),  # W [N, 64] and b [N]
        ("hypernet", {"prototype_shortcut": True}, 5 * (64 + 1)),
    ],
)
def test_phi_sizes_by_hand(family: str, kwargs: dict, phi: int) -> None:
    model = build(family, **kwargs)
    assert model.phi_size(5, 1) == phi
    assert model(*episode()).shape == (B, N * Q, N)


def test_nearest_class_mean_phi_is_the_class_means() -> None:
    ncm = class_pooling.NearestClassMean(torch.nn.Flatten(), F)
    assert ncm.phi_size(5, 1) == 5 * 32
    assert black_box.NearestClassMean is class_pooling.NearestClassMean  # still importable


def test_hypernet_head_with_and_without_the_prototype_shortcut() -> None:
    sx, sy, qx = episode()
    plain = build("hypernet", prototype_shortcut=False, seed=1)
    shortcut = build("hypernet", prototype_shortcut=True, seed=1)  # the same weights
    w_plain, b_plain = plain.head(sx, sy, N)
    w_short, b_short = shortcut.head(sx, sy, N)
    prototypes = plain.project(plain.embed(sx))  # K = 1: each class mean is its one item
    order = sy[0].argsort()
    torch.testing.assert_close(w_short - w_plain, prototypes[:, order])
    torch.testing.assert_close(b_short, b_plain)


def test_class_context_is_order_invariant_and_reads_the_support_set() -> None:
    model = build("class_context", context_dim=8)
    sx, sy, qx = episode(k_shot=2)
    perm = torch.randperm(N * 2, generator=torch.Generator().manual_seed(3))
    before = model(sx, sy, qx)
    torch.testing.assert_close(model(sx[:, perm], sy[:, perm], qx), before)
    assert not torch.allclose(model(torch.zeros_like(sx), sy, qx), before, atol=1e-4)
    # any number of classes: one context vector per label present
    assert model(*episode(n_way=9)).shape == (B, 9 * Q, 9)


def test_swapping_two_classes_swaps_their_logits() -> None:
    model = build("class_context", context_dim=8)
    sx, sy, qx = episode()
    swapped = sy.clone()
    swapped[sy == 0], swapped[sy == 1] = 1, 0
    before, after = model(sx, sy, qx), model(sx, swapped, qx)
    torch.testing.assert_close(after[..., [1, 0, 2, 3, 4]], before)


def test_build_model_is_seeded_without_the_global_rng() -> None:
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    a, b = build("class_context", seed=3), build("class_context", seed=3)
    torch.testing.assert_close(torch.rand(2), expected)  # the global RNG did not move
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    c = build("class_context", seed=4)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))
    with pytest.raises(ValueError, match="class_context"):
        build("prototype")


# ---- class means divide by the class count, not the set size ------------


def test_class_means_divide_by_each_class_count_hand_example() -> None:
    # One task, N = 3 with unequal shots: label 0 three times, label 1 once, label 2 twice.
    values = torch.tensor([[[1.0, 0.0], [2.0, 6.0], [3.0, 3.0], [10.0, -4.0], [4.0, 1.0],
                            [8.0, 5.0]]])  # fmt: skip
    support_y = torch.tensor([[0, 0, 0, 1, 2, 2]])
    means = class_pooling.class_means(values, support_y, 3)
    expected = torch.tensor([[[2.0, 3.0], [10.0, -4.0], [6.0, 3.0]]])  # (1+2+3)/3, (0+6+3)/3...
    assert torch.equal(means, expected)
    # Dividing by the set size (6) instead would give [[1.0, 1.5], [1.667, -0.667], [2.0, 1.0]].
    assert not torch.allclose(means, values.sum(1, keepdim=True) / 6)
