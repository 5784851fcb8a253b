"""lecture_utils.meta_training: the loop's budgets and history, CIs, checkpoints, feature banks."""

from __future__ import annotations

import math

import pytest
import torch

from lecture_utils import blackbox, meta_training
from lecture_utils.episodes import EpisodeSampler

S = 16


@pytest.fixture
def images() -> torch.Tensor:
    """12 synthetic 'characters' x 20 drawers: each class is a noisy copy of its own pattern."""
    gen = torch.Generator().manual_seed(0)
    prototypes = (torch.rand(12, 1, S, S, generator=gen) > 0.5).float()
    return (prototypes + 0.3 * torch.rand(12, 20, S, S, generator=gen)).clamp(0, 1)


def sampler(images: torch.Tensor, classes, **kwargs) -> EpisodeSampler:
    kwargs = {"n_way": 3, "k_shot": 1, "n_query": 2, "batch_size": 4, **kwargs}
    return EpisodeSampler(images, classes, **kwargs)


def test_confidence_interval_formula() -> None:
    per_task = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.5])
    acc = meta_training.confidence_interval(per_task)
    std = math.sqrt(sum((v - 0.7) ** 2 for v in per_task.tolist()) / 4)  # sample std
    assert acc.mean == pytest.approx(0.7)
    assert acc.ci95 == pytest.approx(1.96 * std / math.sqrt(5))
    assert acc.n_tasks == 5
    assert "70.0%" in str(acc)


def test_confidence_interval_needs_two_tasks() -> None:
    with pytest.raises(ValueError, match="at least 2 tasks"):
        meta_training.confidence_interval([1.0])


def test_evaluate_counts_tasks_and_scores_a_perfect_model(images: torch.Tensor) -> None:
    perfect = blackbox.NearestClassMean(torch.nn.Flatten(), S * S)
    clean = images[:, :1].expand(-1, 20, -1, -1).contiguous()  # all drawers identical
    acc = meta_training.evaluate(perfect, sampler(clean, range(12), batch_size=7), n_tasks=30)
    assert acc.n_tasks == 30
    assert acc.mean == 1.0 and acc.ci95 == 0.0


def test_meta_train_respects_step_budget_and_records_history(images: torch.Tensor) -> None:
    model = blackbox.build_model("hypernet", "pixels", image_size=S)
    train = sampler(images, range(8))
    val = sampler(images, range(8, 12))
    history = meta_training.meta_train(
        model, train, val, steps=7, eval_every=3, val_tasks=8, progress=False, name="h"
    )
    assert history.steps == list(range(1, 8))
    assert len(history.train_loss) == len(history.train_accuracy) == 7
    assert history.val_steps == [3, 6, 7]  # every 3 steps, plus the end
    assert len(history.val_accuracy) == len(history.val_seconds) == 3
    assert all(0.0 <= a <= 1.0 for a in history.val_accuracy)
    assert history.seconds > 0 and history.name == "h"


def test_meta_train_time_budget_stops(images: torch.Tensor) -> None:
    model = blackbox.build_model("feedforward", "pixels", image_size=S, n_way=3)
    history = meta_training.meta_train(
        model, sampler(images, range(12)), seconds=0.05, progress=False
    )
    assert 1 <= len(history.steps) and history.seconds < 5


def test_meta_training_learns_an_easy_problem(images: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = blackbox.build_model("hypernet", "pixels", image_size=S)
    train, test = sampler(images, range(8), batch_size=16), sampler(images, range(8, 12))
    history = meta_training.meta_train(model, train, steps=60, lr=1e-3, progress=False)
    assert sum(history.train_loss[-10:]) < 0.1 * sum(history.train_loss[:10])
    assert meta_training.evaluate(model, test, n_tasks=64).mean > 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "Give a budget"),
        ({"steps": 0}, "steps"),
        ({"seconds": -1.0}, "seconds"),
        ({"steps": 3, "eval_every": 0}, "eval_every"),
    ],
)
def test_meta_train_rejects_bad_budgets(images: torch.Tensor, kwargs, message: str) -> None:
    model = blackbox.build_model("lstm", "pixels", image_size=S, n_way=3)
    with pytest.raises(ValueError, match=message):
        meta_training.meta_train(model, sampler(images, range(12)), progress=False, **kwargs)


@pytest.mark.parametrize("family", blackbox.FAMILIES)
def test_checkpoint_round_trip(tmp_path, images: torch.Tensor, family: str) -> None:
    torch.manual_seed(0)
    model = blackbox.build_model(family, "conv", channels=4, n_way=3).eval()
    ep = sampler(images, range(12)).sample()
    path = meta_training.save_checkpoint(model, tmp_path / "sub" / "model.pt")
    torch.manual_seed(1)
    fresh = blackbox.build_model(family, "conv", channels=4, n_way=3).eval()
    assert not torch.allclose(
        fresh(ep.support_x, ep.support_y, ep.query_x), model(ep.support_x, ep.support_y, ep.query_x)
    )
    meta_training.load_checkpoint(fresh, path)
    torch.testing.assert_close(
        fresh(ep.support_x, ep.support_y, ep.query_x), model(ep.support_x, ep.support_y, ep.query_x)
    )
    # Only tensors were saved: a weights_only load gives a plain state dict.
    state = torch.load(path, weights_only=True)
    assert set(state) == set(model.state_dict())


def test_load_missing_checkpoint_is_clear(tmp_path) -> None:
    model = blackbox.build_model("lstm", "pixels")
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        meta_training.load_checkpoint(model, tmp_path / "none.pt")


def test_feature_bank_sampler_feeds_feature_models(images: torch.Tensor) -> None:
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(S * S, 5))
    bank = meta_training.FeatureBank(encoder, images, rotations=True)
    assert bank.features.shape == (48, 20, 5)
    assert bank.feature_dim == 5  # no padding: the sampler draws feature vectors as they are
    assert bank.rows([2], rotations=True) == [8, 9, 10, 11] and bank.rows([2]) == [8]
    ep = bank.sampler(range(6), n_way=3, k_shot=2, n_query=1, batch_size=2).sample()
    assert ep.support_x.shape == (2, 6, 5) and ep.query_x.shape == (2, 3, 5)
    # Every vector is standardised: mean 0, norm sqrt(F).
    torch.testing.assert_close(ep.support_x.norm(dim=-1), torch.full((2, 6), math.sqrt(5)))
    torch.testing.assert_close(ep.support_x.mean(dim=-1), torch.zeros(2, 6))
    model = blackbox.build_model("attention", "features", n_way=3, feature_dim=bank.feature_dim)
    assert model(ep.support_x, ep.support_y, ep.query_x).shape == (2, 3, 3)


def test_feature_bank_without_rotations_refuses_rotated_rows(images: torch.Tensor) -> None:
    bank = meta_training.FeatureBank(torch.nn.Flatten(), images)
    with pytest.raises(ValueError, match="rotations=True"):
        bank.rows([0], rotations=True)


def test_pretrain_encoder_caches(tmp_path, images: torch.Tensor) -> None:
    cache = tmp_path / "enc.pt"
    enc, info = meta_training.pretrain_encoder(
        images, range(6), channels=4, epochs=1, cache=cache, progress=False
    )
    assert cache.is_file() and info["seconds"] > 0
    assert info["classes"] == 24  # 6 characters x 4 rotations (rotations=True by default)
    assert not any(p.requires_grad for p in enc.parameters())
    again, info2 = meta_training.pretrain_encoder(
        images, range(6), channels=4, cache=cache, progress=False
    )
    assert info2["seconds"] == 0.0
    x = images[:2, :3].flatten(0, 1).unsqueeze(1)
    torch.testing.assert_close(enc(x), again(x))


def test_smooth_and_seconds_to() -> None:
    assert meta_training.smooth([0.0, 2.0, 4.0], window=2) == [0.0, 1.0, 3.0]
    h = meta_training.MetaHistory(val_seconds=[1.0, 2.0], val_accuracy=[0.5, 0.9], val_steps=[1, 2])
    assert h.seconds_to(0.8) == 2.0 and h.seconds_to(0.95) is None and h.best_val == 0.9


def test_pretrain_encoder_without_rotations_or_augmentation(images: torch.Tensor) -> None:
    enc, info = meta_training.pretrain_encoder(
        images, range(6), channels=4, epochs=1, rotations=False, augment=0.0, progress=False
    )
    assert info["classes"] == 6 and 0.0 <= info["train_accuracy"] <= 1.0
    with pytest.raises(ValueError, match="epochs"):
        meta_training.pretrain_encoder(images, range(6), epochs=0, progress=False)


def test_random_affine_keeps_shape_and_zero_strength_is_identity(images: torch.Tensor) -> None:
    x = images[:4, 0].unsqueeze(1)
    gen = torch.Generator().manual_seed(0)
    moved = meta_training.random_affine(x, 1.0, gen)
    assert moved.shape == x.shape and not torch.allclose(moved, x)
    torch.testing.assert_close(meta_training.random_affine(x, 0.0, gen), x, atol=1e-5, rtol=0)


def test_prediction_change_rate_on_feature_episodes(images: torch.Tensor) -> None:
    bank = meta_training.FeatureBank(torch.nn.Flatten(), images)
    eps = [bank.sampler(range(12), n_way=3, n_query=2, batch_size=4).sample()]
    ff = blackbox.build_model("feedforward", "features", n_way=3, feature_dim=bank.feature_dim)
    lstm = blackbox.build_model("lstm", "features", n_way=3, feature_dim=bank.feature_dim)
    assert meta_training.prediction_change_rate(ff, eps)[1] < 1e-4
    assert meta_training.prediction_change_rate(lstm, eps)[1] > 1e-4


def test_on_images_matches_the_bank(images: torch.Tensor) -> None:
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(S * S, 6))
    bank = meta_training.FeatureBank(encoder, images)
    model = blackbox.build_model("hypernet", "features", feature_dim=bank.feature_dim).eval()
    pix = sampler(images, range(12), seed=4).sample()
    feat = bank.sampler(range(12), n_way=3, k_shot=1, n_query=2, batch_size=4, seed=4).sample()
    wrapped = meta_training.OnImages(encoder, model)
    torch.testing.assert_close(
        wrapped(pix.support_x, pix.support_y, pix.query_x),
        model(feat.support_x, feat.support_y, feat.query_x),
    )


def test_meta_train_clips_gradients(images: torch.Tensor) -> None:
    model = blackbox.build_model("lstm", "pixels", n_way=3, image_size=S)
    h = meta_training.meta_train(
        model, sampler(images, range(12)), steps=3, clip_grad=0.5, progress=False
    )
    assert len(h.train_loss) == 3 and all(math.isfinite(v) for v in h.train_loss)


def test_unfreeze_onto_images_starts_where_the_feature_model_is(images: torch.Tensor) -> None:
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(S * S, 6))
    for p in encoder.parameters():
        p.requires_grad_(False)
    bank = meta_training.FeatureBank(encoder, images)
    model = blackbox.build_model("attention", "features", n_way=3, feature_dim=6).eval()
    tuned = meta_training.unfreeze_onto_images(model, encoder).eval()
    ep = sampler(images, range(12), seed=2).sample()
    torch.testing.assert_close(
        tuned(ep.support_x, ep.support_y, ep.query_x),
        meta_training.OnImages(encoder, model)(ep.support_x, ep.support_y, ep.query_x),
    )
    assert all(p.requires_grad for p in tuned.encoder.parameters())
    assert not any(p.requires_grad for p in encoder.parameters())  # the original stays frozen
    assert bank.feature_dim == 6
