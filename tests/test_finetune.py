"""Fine-tuning helpers: freezing, unfreezing schedules, per-layer rates, folds, cache, shifts."""

from __future__ import annotations

import pytest
import torch

from lecture_utils import finetune as ft
from lecture_utils.supervised import LabelledImages


def tiny_model(classes: int = 3) -> torch.nn.Module:
    return ft.new_model(classes, channels=4, seed=0)


def tiny_data(classes: int = 3, per_class: int = 5, size: int = 16) -> LabelledImages:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(classes * per_class, 1, size, size, generator=gen)
    y = torch.arange(classes).repeat_interleave(per_class)
    return LabelledImages(x, y, classes)


def one_step(model: torch.nn.Module, data: LabelledImages) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = torch.nn.functional.cross_entropy(model(data.x), data.y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_frozen_parameters_do_not_change_after_a_step() -> None:
    model, data = tiny_model(), tiny_data()
    ft.set_trainable(model, [3, 4])
    before = [p.detach().clone() for p in model.parameters()]
    one_step(model, data)
    for (name, p), old in zip(model.named_parameters(), before, strict=True):
        frozen = name.startswith(("trunk.blocks.0", "trunk.blocks.1", "trunk.blocks.2"))
        assert torch.equal(p, old) == frozen, name
    assert ft.trainable_layers(model) == [3, 4]


def test_frozen_layers_keep_batchnorm_statistics() -> None:
    model, data = tiny_model(), tiny_data()
    ft.set_trainable(model, [1])
    model.train()
    bn0, bn1 = model.trunk.blocks[0][1], model.trunk.blocks[1][1]
    mean0, mean1 = bn0.running_mean.clone(), bn1.running_mean.clone()
    model(data.x)
    assert torch.equal(bn0.running_mean, mean0)  # frozen block: statistics fixed
    assert not torch.equal(bn1.running_mean, mean1)  # trainable block: statistics update


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        ("top_down", [[4], [4], [3, 4], [3, 4], [2, 3, 4], [2, 3, 4], [1, 2, 3, 4]]),
        ("bottom_up", [[4], [4], [0, 4], [0, 4], [0, 1, 4], [0, 1, 4], [0, 1, 2, 4]]),
    ],
)
def test_unfreeze_schedule(direction: str, expected: list[list[int]]) -> None:
    assert ft.unfreeze_schedule(5, direction, every=2, epochs=7) == expected


def test_gradual_unfreezing_callback_follows_the_schedule() -> None:
    model = tiny_model()
    callback = ft.gradual_unfreezing(model, "top_down", every=1, epochs=5)
    seen = [ft.trainable_layers(model)]
    for epoch in range(4):
        callback(epoch, model)
        seen.append(ft.trainable_layers(model))
    assert seen == [[4], [3, 4], [2, 3, 4], [1, 2, 3, 4], [0, 1, 2, 3, 4]]


def test_param_groups_get_the_learning_rates_asked_for() -> None:
    model = tiny_model()
    groups = ft.discriminative_param_groups(model, top_lr=0.01, factor=2.6)
    opt = torch.optim.Adam(groups)
    rates = [g["lr"] for g in opt.param_groups]
    assert rates == pytest.approx([0.01 / 2.6**4, 0.01 / 2.6**3, 0.01 / 2.6**2, 0.01 / 2.6, 0.01])
    assert [g["name"] for g in opt.param_groups] == list(ft.LAYER_NAMES)
    # every parameter in exactly one group, in the right one
    for group, layer in zip(opt.param_groups, model.layers(), strict=True):
        assert {id(p) for p in group["params"]} == {id(p) for p in layer.parameters()}
    flat = ft.discriminative_param_groups(model, top_lr=0.01, factor=1.0)
    assert {g["lr"] for g in flat} == {0.01}


def test_kfold_folds_are_disjoint_and_cover_the_data() -> None:
    data = tiny_data(classes=4, per_class=5)
    folds = ft.kfold_indices(data, k=5)
    held = torch.cat([val for _, val in folds])
    assert sorted(held.tolist()) == list(range(len(data)))
    for train, val in folds:
        assert not set(train.tolist()) & set(val.tolist())
        assert len(train) + len(val) == len(data)
        assert torch.bincount(data.y[val], minlength=4).tolist() == [1, 1, 1, 1]


def test_checkpoint_round_trip_with_weights_only(tmp_path) -> None:
    model = tiny_model()
    path = tmp_path / "m.pt"
    ft.save_state(model, path)
    state = ft.load_state(path)
    other = ft.new_model(3, channels=4, seed=1)
    other.load_state_dict(state)
    for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_pretrained_state_is_cached(tmp_path) -> None:
    data = tiny_data(classes=3, per_class=4, size=16)
    first, cached = ft.pretrained_state(data, epochs=1, channels=4, cache_dir=tmp_path)
    again, cached_again = ft.pretrained_state(data, epochs=1, channels=4, cache_dir=tmp_path)
    assert (cached, cached_again) == (False, True)
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_shifts_do_what_they_say() -> None:
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    assert torch.equal(ft.invert(x), 1 - x)
    blurred = ft.blur(x, sigma=1.0)
    assert blurred.shape == x.shape
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5)  # mass preserved
    assert blurred[0, 0, 4, 4] < 1.0 and blurred[0, 0, 4, 5] > 0  # spread to neighbours
    perm = ft.derangement(6, seed=3)
    assert sorted(perm.tolist()) == list(range(6))
    assert all(perm[i] != i for i in range(6))
    data = tiny_data()
    permuted = ft.permute_labels(data, ft.derangement(3, seed=0))
    assert torch.equal(permuted.x, data.x) and not torch.equal(permuted.y, data.y)


def test_fine_tune_tail_path_matches_frozen_prefix_semantics() -> None:
    data = tiny_data(classes=3, per_class=6, size=16)
    train, test = ft.split_per_class(data, 4)
    target = ft.Target("toy", train, test)
    state = ft.new_model(3, channels=4, seed=0).state_dict()
    recipe = ft.Recipe(lr=0.01, epochs=2, batch_size=6, trainable=(3, 4))
    model, result = ft.fine_tune(state, target, recipe, seed=0)
    for key in ("trunk.blocks.0.0.weight", "trunk.blocks.2.1.running_mean"):
        assert torch.equal(model.state_dict()[key], state[key])  # frozen: untouched
    assert not torch.equal(
        model.state_dict()["trunk.blocks.3.0.weight"], state["trunk.blocks.3.0.weight"]
    )
    assert 0.0 <= result.test <= 1.0


def test_bad_inputs_raise_clear_value_errors() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match="out of range"):
        ft.set_trainable(model, [7])
    with pytest.raises(ValueError, match="'all'"):
        ft.set_trainable(model, "everything")
    with pytest.raises(ValueError, match="direction"):
        ft.unfreeze_order(5, "sideways")
    with pytest.raises(ValueError, match="top_lr"):
        ft.layer_learning_rates(-1.0, 5)
    with pytest.raises(ValueError, match="k=9"):
        ft.kfold_indices(tiny_data(per_class=5), k=9)
    with pytest.raises(ValueError, match="sigma"):
        ft.blur(torch.zeros(1, 1, 5, 5), sigma=0)
    with pytest.raises(ValueError, match="unknown shift"):
        ft.shift_images(tiny_data(), "rotate")
    with pytest.raises(ValueError, match="lp_epochs"):
        ft.Recipe(epochs=3, lp_epochs=3)
    with pytest.raises(ValueError, match="source"):
        ft.pretrained_state(tiny_data(), "imagenet")
    with pytest.raises(ValueError, match="paired"):
        ft.compare([0.1], [0.1, 0.2])


def test_compare_outcomes() -> None:
    assert ft.compare([0.6, 0.62, 0.61], [0.5, 0.5, 0.52])[0] == "better"
    assert ft.compare([0.5, 0.5, 0.52], [0.6, 0.62, 0.61])[0] == "worse"
    assert ft.compare([0.5, 0.6, 0.4], [0.5, 0.4, 0.6])[0] == "tie"


def test_fine_tune_trains_on_one_thread_and_restores_the_count(monkeypatch) -> None:
    seen = []
    real_fit = ft.supervised.fit

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(torch.get_num_threads())
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(ft.supervised, "fit", spy)
    data = tiny_data()
    state = ft.new_model(data.num_classes, channels=4).state_dict()
    target = ft.Target("tiny", data, data)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ft.fine_tune(state, target, ft.Recipe(epochs=1))
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
