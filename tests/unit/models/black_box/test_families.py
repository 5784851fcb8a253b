"""models.black_box: shapes, invariances, label handling and input checks of the four
black-box families (small synthetic tensors; no data needed)."""

from __future__ import annotations

import pytest
import torch

from lecture_utils.models import black_box

B, N, K, Q, S = 3, 5, 2, 3, 28


def episode(n_way: int = N, k_shot: int = K, n_query: int = Q, size: int = S, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    support_x = torch.rand(B, n_way * k_shot, 1, size, size, generator=gen)
    support_y = torch.arange(n_way).repeat_interleave(k_shot).expand(B, -1).clone()
    for b in range(B):  # shuffled order, as the sampler gives it
        perm = torch.randperm(n_way * k_shot, generator=gen)
        support_x[b], support_y[b] = support_x[b, perm], support_y[b, perm]
    query_x = torch.rand(B, n_way * n_query, 1, size, size, generator=gen)
    return support_x, support_y, query_x


def small(family: str, encoder: str = "pixels", **kwargs) -> black_box.BlackBoxModel:
    torch.manual_seed(0)
    if encoder == "conv":
        kwargs.setdefault("channels", 8)
    return black_box.build_model(family, encoder, n_way=N, **kwargs).eval()


@pytest.mark.parametrize("encoder", ["pixels", "conv"])
@pytest.mark.parametrize("family", black_box.families())
def test_logit_shapes(family: str, encoder: str) -> None:
    model = small(family, encoder)
    logits = model(*episode())
    assert logits.shape == (B, N * Q, N)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("family", black_box.families())
def test_feature_inputs(family: str) -> None:
    model = black_box.build_model(family, "features", feature_dim=36)
    sx, sy, qx = episode(size=6)
    assert model(sx, sy, qx).shape == (B, N * Q, N)
    # Feature banks give flat items [B, M, F]: the same numbers, the same logits.
    torch.testing.assert_close(model(sx.flatten(2), sy, qx.flatten(2)), model(sx, sy, qx))


@pytest.mark.parametrize("family", black_box.families())
def test_fewer_classes_than_built_for(family: str) -> None:
    model = small(family)
    assert model(*episode(n_way=3)).shape == (B, 3 * Q, 3)


@pytest.mark.parametrize("family", ["lstm", "feedforward", "attention", "snail"])
def test_more_classes_than_built_for_is_a_clear_error(family: str) -> None:
    model = small(family)
    with pytest.raises(ValueError, match="max_way=5"):
        model(*episode(n_way=7))


def test_hypernetwork_handles_any_number_of_classes() -> None:
    model = small("hypernet")
    assert model(*episode(n_way=9, k_shot=1)).shape == (B, 9 * Q, 9)


@pytest.mark.parametrize("context_dim", [2, 8, 128])
def test_feedforward_is_permutation_invariant(context_dim: int) -> None:
    model = small("feedforward", context_dim=context_dim)
    sx, sy, qx = episode()
    perm = torch.randperm(N * K, generator=torch.Generator().manual_seed(1))
    before = model(sx, sy, qx)
    after = model(sx[:, perm], sy[:, perm], qx)
    torch.testing.assert_close(before, after, rtol=1e-5, atol=1e-5)
    # ... and not trivially: the support set does change the prediction (blank support images).
    other = model(torch.zeros_like(sx), sy, qx)
    assert not torch.allclose(before, other, atol=1e-4)


@pytest.mark.parametrize("family", ["attention", "hypernet"])
def test_set_models_are_permutation_invariant_too(family: str) -> None:
    model = small(family)
    sx, sy, qx = episode()
    perm = torch.randperm(N * K, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(
        model(sx, sy, qx), model(sx[:, perm], sy[:, perm], qx), rtol=1e-4, atol=1e-4
    )


def test_lstm_depends_on_support_order() -> None:
    model = small("lstm")
    sx, sy, qx = episode()
    perm = torch.randperm(N * K, generator=torch.Generator().manual_seed(3))
    assert not torch.allclose(model(sx, sy, qx), model(sx[:, perm], sy[:, perm], qx))


def test_lstm_sequence_zeroes_query_labels() -> None:
    feats_s, feats_q = torch.randn(B, N * K, 7), torch.randn(B, N * Q, 7)
    sy = episode()[1]
    seq = black_box.lstm_input_sequence(feats_s, sy, feats_q, label_size=N)
    assert seq.shape == (B, N * K + N * Q, 7 + N)
    torch.testing.assert_close(seq[:, : N * K, 7:], torch.nn.functional.one_hot(sy, N).float())
    assert torch.equal(seq[:, N * K :, 7:], torch.zeros(B, N * Q, N))
    torch.testing.assert_close(seq[:, N * K :, :7], feats_q)


def test_lstm_reads_labels_of_the_support_set() -> None:
    model = small("lstm")
    sx, sy, qx = episode()
    relabelled = (sy + 1) % N
    assert not torch.allclose(model(sx, sy, qx), model(sx, relabelled, qx))


def test_hypernetwork_makes_one_head_per_task() -> None:
    model = small("hypernet")  # default head_dim=64
    sx, sy, qx = episode()
    weight, bias = model.head(sx, sy, N)
    assert tuple(weight.shape) == (3, 5, 64) and tuple(bias.shape) == (3, 5)
    assert not torch.allclose(weight[0], weight[1])  # different tasks, different heads
    # Each task is classified by its own head: changing task 0's support set (4x brighter, so
    # any statistic pooled over tasks would move) changes task 0's logits and leaves tasks 1
    # and 2 exactly as they were.
    before = model(sx, sy, qx)
    changed = sx.clone()
    changed[0] *= 4
    after = model(changed, sy, qx)
    assert not torch.allclose(before[0], after[0], atol=1e-4)
    torch.testing.assert_close(before[1:], after[1:])


def test_phi_sizes() -> None:
    """Hand-counted for 5-way 2-shot (N=5, K=2)."""
    assert small("feedforward", context_dim=8).phi_size(5, 2) == 8  # the context vector
    assert small("lstm").phi_size(5, 2) == 266  # h and c of both layers: 2 * (128 + 5)
    assert small("attention").phi_size(5, 2) == 2560  # 10 tokens x 128 numbers x 2 blocks
    assert small("hypernet").phi_size(5, 2) == 325  # W 5x64 and b 5


def test_nearest_class_mean_classifies_its_own_support() -> None:
    model = black_box.NearestClassMean(torch.nn.Flatten(), S * S)
    sx, sy, _ = episode(k_shot=1)
    logits = model(sx, sy, sx)
    assert torch.equal(logits.argmax(-1), sy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda sx, sy, qx: (sx, sy.float(), qx), "integer labels"),
        (lambda sx, sy, qx: (sx, sy[:, :-1], qx), "support_y must be"),
        (lambda sx, sy, qx: (sx, sy, qx[:2]), "batch size"),
        (lambda sx, sy, qx: (sx, sy - 1, qx), "0..N-1"),
        (lambda sx, sy, qx: (sx[0, :, 0, 0], sy, qx[0, :, 0, 0]), r"\[B, items"),
    ],
)
def test_bad_inputs_raise_clear_errors(change, message: str) -> None:
    model = small("attention")
    with pytest.raises(ValueError, match=message):
        model(*change(*episode()))


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="Unknown family"):
        black_box.build_model("rnn")
    with pytest.raises(ValueError, match="Unknown encoder"):
        black_box.build_model("lstm", "resnet")
    with pytest.raises(ValueError, match="feature_dim"):
        black_box.build_model("lstm", "features")
    with pytest.raises(ValueError, match="n_way"):
        black_box.build_model("lstm", n_way=1)
    with pytest.raises(ValueError, match="context_dim"):
        black_box.build_model("feedforward", "pixels", context_dim=0)


def test_lstm_options_keep_shapes_and_scale_logits() -> None:
    torch.manual_seed(0)
    plain = black_box.build_model("lstm", "pixels", n_way=N, hidden=16)
    torch.manual_seed(0)
    scaled = black_box.build_model("lstm", "pixels", n_way=N, hidden=16, logit_scale=4.0)
    sx, sy, qx = episode()
    torch.testing.assert_close(scaled(sx, sy, qx), 4.0 * plain(sx, sy, qx))
    normed = black_box.build_model("lstm", "pixels", n_way=N, hidden=16, input_norm=True)
    assert normed(sx, sy, qx).shape == (B, N * Q, N)
    assert isinstance(normed.norm, torch.nn.LayerNorm)


def test_snail_is_built_by_build_model() -> None:
    from lecture_utils.models.black_box.snail import SNAIL

    model = black_box.build_model("snail", "features", feature_dim=12, max_support=6, seed=3)
    assert isinstance(model, SNAIL) and "snail" in black_box.families()
    again = black_box.build_model("snail", "features", feature_dim=12, max_support=6, seed=3)
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        torch.testing.assert_close(a, b)  # seeded initialisation
    gen = torch.Generator().manual_seed(0)
    sx, qx = torch.randn(2, 6, 12, generator=gen), torch.randn(2, 4, 12, generator=gen)
    sy = torch.arange(3).repeat(2).expand(2, -1)
    assert model(sx, sy, qx).shape == (2, 4, 3)
    assert model.phi_size(3, 2) > 0
    with pytest.raises(ValueError, match="max_support=6"):
        model(torch.randn(2, 9, 12), torch.arange(3).repeat(3).expand(2, -1), qx)


# ---- the feedforward context is the mean of g(x, y), not the sum ---------


def test_feedforward_context_is_the_average_of_g_over_the_support_set() -> None:
    from lecture_utils.models.black_box.base import one_hot
    from lecture_utils.models.black_box.feedforward import FeedforwardAverage

    torch.manual_seed(0)
    model = FeedforwardAverage(torch.nn.Flatten(), 4, n_way=2, context_dim=3, hidden=5)
    support_x = torch.randn(2, 5, 4)
    support_y = torch.tensor([[0, 1, 0, 1, 1], [1, 0, 0, 0, 1]])
    phi = model.context(support_x, support_y)
    rows = model.g(torch.cat([support_x, one_hot(support_y, 2)], dim=-1))  # [2, 5, 3]
    by_hand = (rows[:, 0] + rows[:, 1] + rows[:, 2] + rows[:, 3] + rows[:, 4]) / 5
    assert torch.allclose(phi, by_hand, atol=1e-6)
    assert not torch.allclose(phi, by_hand * 5, atol=1e-3)  # the sum would be 5x larger
    # The mean does not grow with copies of the support set; a sum would double.
    doubled = model.context(support_x.repeat(1, 2, 1), support_y.repeat(1, 2))
    assert torch.allclose(doubled, phi, atol=1e-6)
