"""The one pretrain-and-cache function: schedules, augmentation, the key recipe, the cache."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from lecture_utils.core import store
from lecture_utils.data.labelled import LabelledImages
from lecture_utils.training import pretrain


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """Caches go to a temporary folder."""
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path))
    return tmp_path


def tiny(images: torch.Tensor, chars=(0, 1, 2)) -> LabelledImages:
    return pretrain.pretraining_data(images, list(chars), rotations=False)


def weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [v.detach().clone() for v in module.state_dict().values()]


def test_settings_reject_an_unknown_augmentation() -> None:
    with pytest.raises(ValueError, match="augment must be one of"):
        pretrain.PretrainSettings(steps=1, augment="rotate")


def test_augmentation_follows_the_settings() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(2, 1, 8, 8)
    x[:, :, 3:5, 3:5] = 1.0
    assert pretrain.PretrainSettings(steps=1, augment="none").augmentation() is None
    assert pretrain.PretrainSettings(steps=1, strength=0.0).augmentation() is None
    shifted = pretrain.PretrainSettings(steps=1, augment="shift", strength=2).augmentation()
    moved = shifted(x, gen)
    assert moved.sum() == x.sum()  # a shift by <= 2 px keeps a centred 2x2 blob whole
    assert pretrain.PretrainSettings(steps=1, strength=1.0).augmentation() is not None


def test_one_cycle_pretraining_is_reproducible_and_peaks_at_lr(images: torch.Tensor) -> None:
    settings = pretrain.PretrainSettings(steps=12, channels=4, batch_size=16, seed=3)
    runs = [
        pretrain.pretrained_encoder(images, range(6), settings, cache=None, progress=False)
        for _ in range(2)
    ]
    (enc_a, info_a), (enc_b, info_b) = runs
    assert info_a.log.loss == info_b.log.loss
    assert all(torch.equal(a, b) for a, b in zip(weights(enc_a), weights(enc_b), strict=True))
    lr = info_a.log.lr
    assert max(lr) == pytest.approx(3e-3, rel=0.2) and lr.index(max(lr)) < len(lr) // 2
    assert lr[0] < 0.2 * max(lr) and lr[-1] < 0.2 * max(lr)
    assert not any(p.requires_grad for p in enc_a.parameters()) and not enc_a.training
    assert info_a.classes == 24 and not info_a.loaded


def test_cosine_schedule_halves_the_rate_halfway(images: torch.Tensor) -> None:
    settings = pretrain.PretrainSettings(
        steps=20, channels=4, lr=0.01, batch_size=5, schedule="cosine", augment="none"
    )
    log = pretrain.pretrain(pretrain.new_classifier(3, 4), tiny(images), settings, progress=False)
    assert log.lr[0] == pytest.approx(0.01) and log.lr[10] == pytest.approx(0.005, rel=1e-6)


def test_pretraining_data_rotation_classes(images: torch.Tensor) -> None:
    data = pretrain.pretraining_data(images, [3, 5])
    assert data.num_classes == 8 and len(data) == 8 * 20
    # class 4i + r is character i turned r quarter turns; labels line up with the images
    torch.testing.assert_close(data.x[20 * 5, 0], torch.rot90(images[5, 0], 1, dims=(-2, -1)))
    assert data.y[20 * 5].item() == 5 and data.y[20 * 4 - 1].item() == 3
    plain = pretrain.pretraining_data(images, [3, 5], rotations=False)
    assert plain.num_classes == 2 and torch.equal(plain.x[20, 0], images[5, 0])
    with pytest.raises(ValueError, match="at least 2"):
        pretrain.pretraining_data(images, [3])


def test_classifier_is_cached_and_reloaded_identically(images: torch.Tensor, cache_root) -> None:
    settings = pretrain.PretrainSettings(steps=3, channels=4, batch_size=16)
    first, info = pretrain.pretrained_classifier(tiny(images), [0, 1, 2], settings, progress=False)
    assert not info.loaded and info.path.is_file() and cache_root in info.path.parents
    again, info2 = pretrain.pretrained_classifier(tiny(images), [0, 1, 2], settings, progress=False)
    assert info2.loaded and info2.path == info.path and math.isnan(info2.final_loss)
    assert all(torch.equal(a, b) for a, b in zip(weights(first), weights(again), strict=True))


def test_the_key_changes_with_every_setting_and_with_the_images(images: torch.Tensor) -> None:
    base = pretrain.PretrainSettings(steps=2, channels=4, batch_size=16)
    data = tiny(images)
    key = store.cache_key(**pretrain.cache_meta(data, [0, 1, 2], base))
    changed = {
        "characters": pretrain.cache_meta(data, [0, 1, 3], base),
        "character order": pretrain.cache_meta(data, [0, 2, 1], base),
        "images": pretrain.cache_meta(
            LabelledImages(1 - data.x, data.y, data.num_classes), [0, 1, 2], base
        ),
        "labels": pretrain.cache_meta(
            LabelledImages(data.x, data.y.roll(1), data.num_classes), [0, 1, 2], base
        ),
        "image size": pretrain.cache_meta(tiny(images[..., :12, :12]), [0, 1, 2], base),
    }
    for field in ("steps", "channels", "lr", "batch_size", "schedule", "augment", "strength"):
        other = {"schedule": "cosine", "augment": "shift", "lr": 1e-2}.get(field, 7)
        changed[field] = pretrain.cache_meta(data, [0, 1, 2], base.__class__(
            **{**base.__dict__, field: other}))  # fmt: skip
    changed["seed"] = pretrain.cache_meta(
        data, [0, 1, 2], base.__class__(**{**base.__dict__, "seed": 1})
    )
    for what, meta in changed.items():
        assert store.cache_key(**meta) != key, f"the cache key ignores the {what}"


def test_damaged_cache_entry_is_retrained_with_a_warning(images: torch.Tensor, cache_root) -> None:
    settings = pretrain.PretrainSettings(steps=2, channels=4, batch_size=16)
    _, info = pretrain.pretrained_encoder(images, range(4), settings, progress=False)
    info.path.write_bytes(b"not a checkpoint")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, again = pretrain.pretrained_encoder(images, range(4), settings, progress=False)
    assert not again.loaded and any("retrained" in str(w.message) for w in caught)
