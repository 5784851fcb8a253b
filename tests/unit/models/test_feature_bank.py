"""models.feature_bank: frozen-encoder features, their samplers, and back to images."""

from __future__ import annotations

import math

import pytest
import torch
from shared import PATTERN_SIZE

from lecture_utils.core import runtime
from lecture_utils.episodes.sampler import EpisodeSampler
from lecture_utils.models import black_box, feature_bank

S = PATTERN_SIZE  # the `images` fixture (conftest.py)


def linear_encoder(out: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(S * S, out))


def test_bank_sampler_feeds_feature_models(images: torch.Tensor) -> None:
    bank = feature_bank.FeatureBank(linear_encoder(5), images, rotations=True)
    assert bank.features.shape == (48, 20, 5) and bank.feature_dim == 5
    assert bank.rows([2], rotations=True) == [8, 9, 10, 11] and bank.rows([2]) == [8]
    ep = bank.sampler(range(6), n_way=3, k_shot=2, n_query=1, batch_size=2).sample()
    assert ep.support_x.shape == (2, 6, 5) and ep.query_x.shape == (2, 3, 5)
    # Every vector is standardised: mean 0, norm sqrt(F).
    torch.testing.assert_close(ep.support_x.norm(dim=-1), torch.full((2, 6), math.sqrt(5)))
    torch.testing.assert_close(ep.support_x.mean(dim=-1), torch.zeros(2, 6))
    model = black_box.build_model("attention", "features", n_way=3, feature_dim=bank.feature_dim)
    assert model(ep.support_x, ep.support_y, ep.query_x).shape == (2, 3, 3)


def test_rotated_rows_are_the_turned_images(images: torch.Tensor) -> None:
    encoder = torch.nn.Flatten()
    bank = feature_bank.FeatureBank(encoder, images, rotations=True)
    turned = torch.rot90(images[1, 0], 3, dims=(-2, -1)).flatten()
    torch.testing.assert_close(bank.features[4 * 1 + 3, 0], feature_bank.standardise(turned))


def test_bank_without_rotations_refuses_rotated_rows(images: torch.Tensor) -> None:
    bank = feature_bank.FeatureBank(torch.nn.Flatten(), images)
    with pytest.raises(ValueError, match="rotations=True"):
        bank.rows([0], rotations=True)


def test_encode_images_uses_the_runtime_device(images: torch.Tensor, monkeypatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(runtime, "get_device", lambda: calls.append(1) or torch.device("cpu"))
    feats = feature_bank.encode_images(linear_encoder(3), images[:4])
    assert calls and feats.shape == (4, 20, 3) and feats.device.type == "cpu"
    with pytest.raises(ValueError, match="classes, drawers"):
        feature_bank.encode_images(linear_encoder(3), images[0])


def test_on_images_matches_the_bank(images: torch.Tensor) -> None:
    encoder = linear_encoder(6)
    bank = feature_bank.FeatureBank(encoder, images)
    model = black_box.build_model("hypernet", "features", feature_dim=bank.feature_dim).eval()
    kw = dict(n_way=3, k_shot=1, n_query=2, batch_size=4, seed=4)
    pix = EpisodeSampler(images, range(12), **kw).sample()
    feat = bank.sampler(range(12), **kw).sample()
    torch.testing.assert_close(
        feature_bank.OnImages(encoder, model)(pix.support_x, pix.support_y, pix.query_x),
        model(feat.support_x, feat.support_y, feat.query_x),
    )


def test_unfreeze_onto_images_starts_where_the_feature_model_is(images: torch.Tensor) -> None:
    encoder = linear_encoder(6)
    for p in encoder.parameters():
        p.requires_grad_(False)
    model = black_box.build_model("attention", "features", n_way=3, feature_dim=6).eval()
    tuned = feature_bank.unfreeze_onto_images(model, encoder).eval()
    ep = EpisodeSampler(images, range(12), n_way=3, n_query=2, batch_size=4, seed=2).sample()
    torch.testing.assert_close(
        tuned(ep.support_x, ep.support_y, ep.query_x),
        feature_bank.OnImages(encoder, model)(ep.support_x, ep.support_y, ep.query_x),
    )
    assert all(p.requires_grad for p in tuned.encoder.parameters())
    assert not any(p.requires_grad for p in encoder.parameters())  # the original stays frozen


# ---- features are encoded in eval mode -----------------------------------


def test_features_are_encoded_in_eval_mode_and_the_encoder_is_left_as_it_was(
    images: torch.Tensor,
) -> None:
    with runtime.seeded_init(0):
        encoder = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(S * S, 6), torch.nn.BatchNorm1d(6)
        )
    with torch.no_grad():  # running statistics far from a batch's own: the modes differ
        encoder[2].running_mean.fill_(3.0)
        encoder[2].running_var.fill_(4.0)
    encoder.train()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    features = feature_bank.encode_images(encoder, images, device="cpu")
    assert encoder.training and encoder[2].training  # the caller's mode is restored
    for name, value in encoder.state_dict().items():
        assert torch.equal(before[name], value), name  # no running statistic moved
    with torch.no_grad():
        expected = encoder.eval()(images.flatten(0, 1).unsqueeze(1)).view(12, 20, -1)
        in_train_mode = encoder.train()(images.flatten(0, 1).unsqueeze(1)).view(12, 20, -1)
    assert torch.allclose(features, expected, atol=1e-6)
    assert not torch.allclose(features, in_train_mode, atol=1e-2)
