"""Fine-tuning tools (lecture_utils.training.fine_tuning) and notebook 02's runners and verdicts."""

from __future__ import annotations

from dataclasses import replace

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from lecture_utils.core import runtime
from lecture_utils.data.labelled import LabelledImages
from lecture_utils.experiments.nb02_fine_tuning import rules as fr
from lecture_utils.experiments.nb02_fine_tuning import runs as ftr
from lecture_utils.experiments.nb02_fine_tuning import selection as fs
from lecture_utils.training import fine_tuning as ft
from lecture_utils.training import lr_range, trainer
from lecture_utils.training.pretrain import new_classifier


def tiny_model(classes: int = 3, seed: int = 0) -> torch.nn.Module:
    return new_classifier(classes, channels=4, seed=seed)


def tiny_data(classes: int = 3, per_class: int = 5, size: int = 16, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(classes * per_class, 1, size, size, generator=gen)
    y = torch.arange(classes).repeat_interleave(per_class)
    return LabelledImages(x, y, classes)


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer (BatchNorm running statistics included)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed(before: dict, model: torch.nn.Module, prefix: str) -> bool:
    now = model.state_dict()
    keys = [k for k in before if k.startswith(prefix) and before[k].is_floating_point()]
    assert keys, prefix
    return any(not torch.equal(before[k], now[k].cpu()) for k in keys)


def one_step(model: torch.nn.Module, data: LabelledImages) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = torch.nn.functional.cross_entropy(model(data.x), data.y)
    opt.zero_grad()
    loss.backward()
    opt.step()


# ---- freezing, BatchNorm, unfreezing, per-layer rates ---------------------------------------


def test_frozen_parameters_do_not_change_after_a_step() -> None:
    model, data = tiny_model(), tiny_data()
    ft.set_trainable(model, [3, 4])
    before = [p.detach().clone() for p in model.parameters()]
    one_step(model, data)
    for (name, p), old in zip(model.named_parameters(), before, strict=True):
        frozen = name.startswith(("trunk.blocks.0", "trunk.blocks.1", "trunk.blocks.2"))
        assert torch.equal(p, old) == frozen, name
    assert ft.trainable_layers(model) == [3, 4]
    with pytest.raises(ValueError, match=r"layers\[0\]=5 must be a whole number in 0\.\.4"):
        ft.set_trainable(model, [5])


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
def test_unfreeze_schedule_in_steps(direction: str, expected: list[list[int]]) -> None:
    assert ft.unfreeze_schedule(5, direction, every=2, steps=7) == expected


def test_gradual_unfreezing_is_an_on_step_hook() -> None:
    model = tiny_model()
    hook = ft.gradual_unfreezing(model, "top_down", every=2, steps=9)
    seen = []
    for step in range(9):
        hook(step, model)
        seen.append(ft.trainable_layers(model))
    assert seen[0] == [4] and seen[1] == [4] and seen[2] == [3, 4] and seen[8] == [0, 1, 2, 3, 4]


def test_param_groups_get_the_learning_rates_asked_for() -> None:
    model = tiny_model()
    groups = ft.discriminative_param_groups(model, top_lr=0.01, factor=2.6)
    assert [g["lr"] for g in groups] == pytest.approx([0.01 / 2.6**k for k in (4, 3, 2, 1, 0)])
    assert [g["name"] for g in groups] == list(fr.LAYER_NAMES)
    for group, layer in zip(groups, model.layers(), strict=True):
        assert {id(p) for p in group["params"]} == {id(p) for p in layer.parameters()}
    assert {g["lr"] for g in ft.discriminative_param_groups(model, 0.01, 1.0)} == {0.01}


# ---- data: shifts and folds -----------------------------------------------------------------


def test_kfold_folds_are_disjoint_and_cover_the_data() -> None:
    data = tiny_data(classes=4, per_class=5)
    folds = ft.kfold_indices(data, k=5)
    held = torch.cat([val for _, val in folds])
    assert sorted(held.tolist()) == list(range(len(data)))
    for train, val in folds:
        assert not set(train.tolist()) & set(val.tolist())
        assert torch.bincount(data.y[val], minlength=4).tolist() == [1, 1, 1, 1]


def test_shifts_do_what_they_say() -> None:
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    assert torch.equal(ft.invert(x), 1 - x)
    blurred = ft.blur(x, sigma=1.0)
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5)  # mass preserved
    assert blurred[0, 0, 4, 4] < 1.0 and blurred[0, 0, 4, 5] > 0  # spread to neighbours
    perm = ft.derangement(6, seed=3)
    assert sorted(perm.tolist()) == list(range(6)) and all(perm[i] != i for i in range(6))
    data = tiny_data()
    permuted = ft.permute_labels(data, ft.derangement(3, seed=0))
    assert torch.equal(permuted.x, data.x) and (permuted.y != data.y).all()


# ---- fine_tune ------------------------------------------------------------------------------


def test_fine_tune_freezing_leaves_frozen_blocks_and_their_batchnorm_alone() -> None:
    model, data = tiny_model(), tiny_data()
    before = snapshot(model)
    ft.fine_tune(model, data, ft.Recipe(lr=0.05, steps=5, batch_size=5, trainable=(0, 4)),
                 evaluate=[data], device="cpu")  # fmt: skip
    for frozen in ("trunk.blocks.1.", "trunk.blocks.2.", "trunk.blocks.3."):
        assert not changed(before, model, frozen), frozen  # weights AND running statistics
    assert changed(before, model, "trunk.blocks.0.1.running_mean")  # trainable: BN updates
    assert changed(before, model, "trunk.blocks.0.0.") and changed(before, model, "head.")


def test_fine_tune_frozen_prefix_shortcut_matches_plain_training() -> None:
    data = tiny_data()
    fast, plain = tiny_model(), tiny_model()
    recipe = ft.Recipe(lr=0.05, steps=4, batch_size=5, trainable=(3, 4))
    ft.fine_tune(fast, data, recipe, seed=2, device="cpu")
    ft.set_trainable(plain, (3, 4))
    trainer.train(plain, data, steps=4, batch_size=5, seed=2, device="cpu", progress=False,
                   param_groups=ft.discriminative_param_groups(plain, 0.05, 1.0))  # fmt: skip
    for (name, a), b in zip(fast.state_dict().items(), plain.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


def test_gradual_unfreezing_and_lp_ft_train_the_layers_they_say(monkeypatch) -> None:
    model, data = tiny_model(), tiny_data()
    before = snapshot(model)
    recipe = ft.Recipe(lr=0.05, steps=4, batch_size=5, schedule="bottom_up", unfreeze_every=10)
    ft.fine_tune(model, data, recipe, device="cpu")  # never reaches the first unfreezing
    assert not changed(before, model, "trunk.") and changed(before, model, "head.")
    seen = []
    real_train = trainer.train
    monkeypatch.setattr(trainer, "train", lambda m, *a, **k: (
        seen.append(ft.trainable_layers(model)), real_train(m, *a, **k))[1])  # fmt: skip
    model = tiny_model()
    ft.fine_tune(model, data, ft.Recipe(steps=4, lp_steps=2, batch_size=5), device="cpu")
    assert seen == [[4], [0, 1, 2, 3, 4]]  # LP (head alone), then FT (everything)


def test_fine_tune_is_reproducible_and_records_a_curve() -> None:
    data = tiny_data()
    runs = []
    for _ in range(2):
        model = tiny_model()
        result = ft.fine_tune(model, data, ft.Recipe(lr=0.05, steps=6, batch_size=5),
                              evaluate=[data], curve_every=2, seed=4, device="cpu",
                              monitor=lambda: 0.5)  # fmt: skip
        runs.append((result, snapshot(model)))
    (a, sa), (b, sb) = runs
    assert a.scores == b.scores and a.curve == b.curve
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.curve_steps == [0, 2, 4, 6] and a.monitor_curve == [0.5] * 4


def test_fine_tune_device(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(runtime, "get_device", lambda: calls.append(1) or torch.device("cpu"))
    model, data = tiny_model(), tiny_data()
    ft.fine_tune(model, data, ft.Recipe(steps=1, batch_size=5), device="cpu")
    assert not calls and next(model.parameters()).device.type == "cpu"
    ft.fine_tune(model, data, ft.Recipe(steps=1, batch_size=5))
    assert calls


# ---- notebook 02: targets, runners, verdicts ------------------------------------------------


def coded_images(chars: int = 4, drawers: int = 20, size: int = 16) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(chars, drawers, size, size, generator=gen)


def test_target_split_keeps_fresh_drawers_apart() -> None:
    target = fr.target_split(coded_images(), [0, 2, 3], "t", shots=5, test_per_class=10)
    assert (len(target.train), len(target.test), len(target.fresh)) == (15, 30, 15)
    seen = torch.cat([target.train.x, target.test.x, target.fresh.x]).flatten(1)
    assert len(torch.unique(seen, dim=0)) == 60  # every drawing in exactly one part
    shifted = fr.shift_target(target, "permute", seed=1)
    assert torch.equal(shifted.train.x, target.train.x) and "permute" in shifted.name


def small_target(seed: int) -> ftr.Target:
    return fr.target_split(coded_images(), [0, 1, 2], "t", shots=4, test_per_class=6, seed=seed)


def test_runners_are_reproducible_and_arms_are_paired() -> None:
    state = tiny_model(classes=4).state_dict()
    targets = {s: small_target(s) for s in (0, 1)}
    recipe = ft.Recipe(lr=0.05, steps=3, batch_size=4)
    arms = {
        "a": fr.arm(state, targets, recipe, device="cpu"),
        "b": fr.arm(state, targets, ft.Recipe(lr=0.01, steps=3, batch_size=4), device="cpu"),
    }
    first = fr.run_arms(arms, [0, 1], "x", progress=False)
    again = fr.run_arms(arms, [0, 1], "x", progress=False)
    assert first == again and len(first["a"]) == 2
    configs = {"r": recipe, "slow": ft.Recipe(lr=1e-4, steps=3, batch_size=4, trainable=(4,))}
    picked = fs.hyperparameter_selection(state, targets[0], configs, k=2, device="cpu")
    assert set(picked) == set(fs.PROCEDURES)
    assert picked == fs.hyperparameter_selection(state, targets[0], configs, k=2, device="cpu")
    for res in picked.values():  # the fresh score is the pick's, trained on all of train
        full = ftr.run_recipe(state, targets[0], configs[res["config"]], 0, "cpu").scores
        assert res["fresh"] == full[1]
    assert picked["test set"]["reported"] == max(
        ftr.run_recipe(state, targets[0], r, 0, "cpu").scores[0] for r in configs.values()
    )


def test_keeping_the_head_reuses_the_pretraining_rows() -> None:
    model = tiny_model(classes=5)
    target = ftr.Target("t", tiny_data(), tiny_data(), head_rows=[4, 0, 2])
    kept = ftr.prepare_model(model.state_dict(), target, reinit_head=False, seed=0)
    assert torch.equal(kept.head.weight, model.head.weight[[4, 0, 2]])
    fresh = ftr.prepare_model(model.state_dict(), target, reinit_head=True, seed=0)
    assert fresh.head.out_features == 3 and not torch.equal(fresh.head.weight, kept.head.weight)


def test_each_fine_tuning_seed_starts_from_its_pretraining() -> None:
    """Three pretrainings (seeds 10, 11, 12): fine-tuning seed s loads pretraining s mod 3, in
    every arm alike; a plain state_dict is used for every seed."""
    states = [tiny_model(classes=5, seed=s).state_dict() for s in (10, 11, 12)]
    pre = ftr.Pretrainings(tuple(states), (10, 11, 12))
    target = ftr.Target("t", tiny_data(), tiny_data(), head_rows=[4, 0, 2])
    for seed, index in [(0, 0), (1, 1), (2, 2), (3, 0), (7, 1)]:
        kept = ftr.prepare_model(pre, target, reinit_head=False, seed=seed)
        trunk = kept.state_dict()["trunk.blocks.0.0.weight"]
        assert torch.equal(trunk, states[index]["trunk.blocks.0.0.weight"]), (seed, index)
        assert pre.seed_for(seed) == 10 + index
    assert ftr.state_for(states[1], seed=5) is states[1]
    with pytest.raises(ValueError, match="one state per seed"):
        ftr.Pretrainings(tuple(states), (10, 11))


def test_sweep_table_and_figures_say_which_interval(full_mode: None) -> None:
    sweeps = {"one": {1e-3: [0.2, 0.3], 1e-2: [0.5, 0.6]}, "two": {1e-3: [0.1, 0.1]}}
    table = fr.sweep_table(sweeps)
    assert "t 95%" in table and "55.0 ± 63.5" in table and "n/a" in table
    fig = fr.plot_sweep(sweeps, "title", mark=3e-3)
    assert "t 95%" in fig.axes[0].get_title()
    assert fr.sweep_table(sweeps, "validation accuracy").startswith("(validation accuracy %")
    fig = fr.plot_sweep(sweeps, "t", what="validation accuracy", xlabel="trunk rate")
    assert fig.axes[0].get_ylabel() == "validation accuracy (%)"
    selection = {h: {"reported": [0.5, 0.6], "fresh": [0.4, 0.5]} for h in fs.PROCEDURES}
    assert "t 95%" in fs.plot_selection(selection).axes[0].get_title()
    table = fs.selection_table(selection)
    assert "+10.0 ± 0.0" in table and "n=2" in table


def test_recipe_warmup_reaches_the_training_loop(monkeypatch) -> None:
    seen = []
    real = trainer.train

    def spy(*args, **kwargs):
        seen.append(kwargs.get("warmup", 0))
        return real(*args, **kwargs)

    monkeypatch.setattr(ft.trainer, "train", spy)
    ft.fine_tune(tiny_model(), tiny_data(), ft.Recipe(lr=0.01, steps=4, warmup=3, batch_size=4))
    assert seen == [3]
    with pytest.raises(ValueError, match="warmup"):
        ft.Recipe(steps=4, warmup=4)


def test_learning_curves_and_steps_needed() -> None:
    state = tiny_model(classes=4).state_dict()
    targets = {s: small_target(s) for s in (0, 1)}
    recipe = ft.Recipe(lr=0.05, steps=6, batch_size=4)
    curves = fs.learning_curves({"a": state}, targets, recipe, [0, 1], 2, "cpu", progress=False)
    steps, per_seed = curves["a"]
    assert steps == [0, 2, 4, 6] and len(per_seed) == 2
    needed, missed = fs.steps_needed(curves, threshold=2.0)  # never reached: censored at 6
    assert needed == {"a": [6, 6]} and missed == {"a": 2}
    needed, missed = fs.steps_needed(curves, threshold=0.0)
    assert needed == {"a": [0, 0]} and missed == {"a": 0}
    fig = fs.plot_learning_curves(curves, 0.5, "t")
    assert "t 95%" in fig.axes[0].get_title()


def test_range_test_on_a_target_leaves_the_state_alone() -> None:
    state = tiny_model(classes=4).state_dict()
    before = {k: v.clone() for k, v in state.items()}
    lrs, losses = fs.range_test(state, small_target(0), lr_min=1e-4, lr_max=1.0, steps=12,
                                batch_size=4, device="cpu")  # fmt: skip
    assert len(lrs) == len(losses) == 12
    assert all(torch.equal(before[k], state[k]) for k in state)
    fig = fs.plot_range_tests({0: (lrs, losses)}, {0: lr_range.pick_lr(lrs, losses)})
    assert "range test" in fig.axes[0].get_title()


def test_trunk_lr_sets_the_trunk_and_leaves_the_head_at_lr(monkeypatch) -> None:
    """A new head is a factor of its own: with ``trunk_lr`` every block gets it and the head
    keeps ``lr`` (a bug that gave the head the trunk's rate would fail here)."""
    seen = []
    real = trainer.train

    def spy(*args, **kwargs):
        seen.append([g["lr"] for g in kwargs["param_groups"]])
        return real(*args, **kwargs)

    monkeypatch.setattr(ft.trainer, "train", spy)
    recipe = ft.Recipe(lr=0.01, trunk_lr=0.001, steps=2, batch_size=4)
    ft.fine_tune(tiny_model(), tiny_data(), recipe, device="cpu")
    assert seen == [[0.001, 0.001, 0.001, 0.001, 0.01]]


def test_fair_protocol_groups_give_the_head_its_rate_and_the_trunk_its_own() -> None:
    """Hand values: head 0.03 (its own rate); trunk 0.002 at block4, ÷2 per block down."""
    model = tiny_model()
    groups = ft.recipe_param_groups(model, ft.Recipe(lr=0.03, trunk_lr=0.002, factor=2.0))
    assert [g["name"] for g in groups] == ["block1", "block2", "block3", "block4", "head"]
    assert [g["lr"] for g in groups] == pytest.approx([0.00025, 0.0005, 0.001, 0.002, 0.03])
    head_params = {id(p) for p in model.head.parameters()}
    assert {id(p) for p in groups[-1]["params"]} == head_params
    assert not any(id(p) in head_params for g in groups[:-1] for p in g["params"])
    uniform = ft.recipe_param_groups(model, ft.Recipe(lr=0.01, trunk_lr=0.003))
    assert [g["lr"] for g in uniform] == pytest.approx([0.003] * 4 + [0.01])
    old = ft.recipe_param_groups(model, ft.Recipe(lr=0.01, factor=2.0))  # no trunk_lr
    assert [g["lr"] for g in old] == pytest.approx([0.01 / 16, 0.01 / 8, 0.01 / 4, 0.01 / 2, 0.01])


def test_patience_stops_early_and_restores_the_best_weights() -> None:
    data = tiny_data(per_class=6)
    recipe = ft.Recipe(lr=0.3, steps=40, batch_size=6, trainable=(4,))
    res = ft.fine_tune(tiny_model(), data, recipe, evaluate=[data], curve_every=2, patience=2,
                       device="cpu")  # fmt: skip
    best = max(res.curve)
    assert res.best_step == res.curve_steps[res.curve.index(best)]
    assert res.scores[0] == pytest.approx(best)  # the restored model is the best one
    if res.curve_steps[-1] < 40:  # it stopped: the last `patience` checks did not improve
        assert all(v <= best for v in res.curve[-2:]) and res.curve[-3] <= best
    with pytest.raises(ValueError, match="patience needs curve_every"):
        ft.fine_tune(tiny_model(), data, recipe, evaluate=[data], patience=2, device="cpu")


def test_validation_target_holds_out_training_drawers_only() -> None:
    target = small_target(0)
    val = fr.validation_target(target, k=4)
    assert len(val.train) + len(val.test) == len(target.train) and val.fresh is None
    assert len(val.test) == 3  # one drawer of each of the 3 classes
    rows = lambda d: {tuple(r.tolist()) for r in d.x.flatten(1)}  # noqa: E731
    assert rows(val.test) <= rows(target.train) and not rows(val.test) & rows(val.train)
    assert not rows(val.test) & rows(target.test)  # the test drawers stay unseen


def test_picks_on_validation_and_memoises_shared_arms() -> None:
    fr.clear_memo()
    state = tiny_model(classes=4).state_dict()
    targets = {s: small_target(s) for s in (0, 1)}
    recipes = {h: fr.fair_recipe(h, 1e-3, steps=3, batch_size=4) for h in (1e-4, 0.1)}
    assert recipes[0.1].lr == recipes[0.1].lp_lr == 0.1 and recipes[0.1].trunk_lr == 1e-3
    pick, scores = fr.pick_on_validation(state, targets, recipes, [0, 1], "x", "cpu", False)
    assert pick == fr.best(scores)
    val = fr.validation_target(targets[0])
    assert scores[0.1][0] == ftr.run_recipe(state, val, recipes[0.1], 0, "cpu").scores[0]
    n = len(fr._MEMO)
    again = fr.pick_on_validation(state, targets, {0.1: recipes[0.1]}, [0, 1], "x", "cpu", False)
    assert again[1][0.1] == scores[0.1] and len(fr._MEMO) == n  # shared runs, not retrained
    fr.run_arms({"a": fr.arm(state, targets, recipes[0.1], "cpu")}, [0, 1], "x", False)
    fr.run_arms({"b": fr.arm(state, targets, recipes[0.1], "cpu")}, [0, 1], "x", False)
    assert len(fr._MEMO) == n + 2  # the second arm reused the first one's runs


def test_surgical_chooses_rates_on_validation_and_stops_early() -> None:
    state = tiny_model(classes=4).state_dict()
    base = {s: small_target(s) for s in (0, 1)}
    targets = {s: replace(t, head_rows=[0, 1, 2]) for s, t in base.items()}
    res = fr.surgical(state, targets, {"block1": (0,), "head": (4,)}, [1e-3, 0.1], [0, 1], "x",
                      max_steps=12, every=3, patience=1, batch_size=4, device="cpu",
                      progress=False)  # fmt: skip
    assert set(res.test) == {"block1", "head"} and all(len(v) == 2 for v in res.test.values())
    for name, per_seed in res.curves.items():
        for (steps, curve), stop in zip(per_seed, res.stopped[name], strict=True):
            assert steps[0] == 0 and steps[-1] <= 12 and stop in steps
            assert curve[steps.index(stop)] == max(curve)
    fig = fr.plot_surgical_curves(res, ["block1"], "t", 12)
    assert "validation" in fig.axes[0].get_ylabel()


def test_lp_ft_and_full_fine_tuning_give_the_head_the_same_rate(monkeypatch) -> None:
    """Rule 2c under the fair protocol: the probe phase and the full phase both train the new
    head at its own rate; the trunk gets the trunk's rate (hand values)."""
    seen = []
    real = trainer.train

    def spy(*args, **kwargs):
        seen.append([g["lr"] for g in kwargs["param_groups"]])
        return real(*args, **kwargs)

    monkeypatch.setattr(ft.trainer, "train", spy)
    lp_ft = fr.fair_recipe(0.03, 0.001, steps=4, lp_steps=2, batch_size=4)
    ft.fine_tune(tiny_model(), tiny_data(), lp_ft, device="cpu")
    ft.fine_tune(
        tiny_model(), tiny_data(), fr.fair_recipe(0.03, 0.001, 4, batch_size=4), device="cpu"
    )
    assert seen == [[0.03], [0.001] * 4 + [0.03], [0.001] * 4 + [0.03]]
