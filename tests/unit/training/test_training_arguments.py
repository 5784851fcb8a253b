"""The training entry points refuse bad arguments at once, by name.

Each refusal used to be a hang (a negative batch size spun ``index_batches`` forever), a deep
torch error, or a silent run to chance (``lr=nan``). A valid call is unchanged: see the
equality checks with NumPy and tensor integers at the end.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lecture_utils.core import runtime
from lecture_utils.data.labelled import LabelledImages
from lecture_utils.training import fine_tuning as ft
from lecture_utils.training import lr_range, trainer
from lecture_utils.training.pretrain import new_classifier

# A refusal must come at once; a hang (the old negative-batch-size bug) fails here instead.
pytestmark = pytest.mark.timeout(60)


def toy_data(n: int = 24, size: int = 16) -> LabelledImages:
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    return LabelledImages(torch.rand(n, 1, size, size, generator=gen), y, 3)


def flat_model() -> nn.Module:
    with runtime.seeded_init(0):
        return nn.Sequential(nn.Flatten(), nn.Linear(256, 3))


@pytest.mark.parametrize("batch_size", [-1, -32, 0])
def test_index_batches_refuses_a_batch_size_below_one_instead_of_spinning(batch_size):
    batches = trainer.index_batches(10, batch_size, torch.Generator())
    with pytest.raises(ValueError, match=rf"^batch_size={batch_size} must be a whole number >= 1"):
        next(batches)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": -1}, r"batch_size=-1 must be a whole number >= 1"),
        ({"batch_size": 0}, r"batch_size=0 must be a whole number >= 1"),
        ({"batch_size": 2.5}, r"batch_size=2.5 must be a whole number >= 1"),
        ({"steps": True}, r"steps=True must be a whole number >= 1"),
        ({"steps": 0}, r"steps=0 must be a whole number >= 1"),
        ({"steps": 3.0}, r"steps=3.0 must be a whole number >= 1"),
        ({"lr": float("nan")}, r"lr=nan must be a finite number"),
        ({"lr": float("inf")}, r"lr=inf must be a finite number"),
        ({"lr": 0.0}, r"lr=0.0 must be a finite number > 0"),
        ({"lr": -1e-3}, r"lr=-0.001 must be a finite number > 0"),
        ({"warmup": -2}, r"warmup=-2 must be a whole number >= 0"),
        ({"clip_grad": float("nan")}, r"clip_grad=nan must be a finite number"),
        ({"eval_every": 0, "evaluate": lambda m: 0.0}, r"eval_every=0 must be a whole number"),
    ],
)
def test_train_refuses_bad_arguments_by_name(kwargs, match):
    args = {"steps": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        trainer.train(flat_model(), toy_data(), progress=False, device="cpu", **args)


def test_train_refuses_nan_images_instead_of_training_on_nan_logits():
    data = toy_data()
    data.x[5, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match=r"data\.x holds 1 NaN or infinite values"):
        trainer.train(flat_model(), data, steps=2, progress=False, device="cpu")


def test_optimise_refuses_bool_steps_and_a_nan_group_rate():
    model = flat_model()
    opt = trainer.make_optimizer(model.parameters(), lr=1e-3)
    with pytest.raises(ValueError, match="steps=True must be a whole number >= 1"):
        trainer.optimise(model, lambda s: model[1].weight.sum(), steps=True, optimizer=opt)
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['lr'\]=nan must be a finite"):
        trainer.make_optimizer([{"params": list(model.parameters()), "lr": float("nan")}], 1e-3)


def build(call: str, kwargs: dict) -> None:
    """Call ``Recipe(**kwargs)`` or ``lr_range_test`` with ``kwargs`` on a toy problem."""
    if call == "recipe":
        ft.Recipe(**kwargs)
    else:
        lr_range.lr_range_test(flat_model(), toy_data(), device="cpu", **{"steps": 4, **kwargs})


@pytest.mark.parametrize(
    ("call", "kwargs", "match"),
    [
        ("recipe", {"batch_size": -4}, r"Recipe\.batch_size=-4 must be a whole number >= 1"),
        ("recipe", {"batch_size": 0}, r"Recipe\.batch_size=0 must be a whole number >= 1"),
        ("recipe", {"steps": True}, r"Recipe\.steps=True must be a whole number >= 1"),
        ("recipe", {"lr": float("nan")}, r"Recipe\.lr=nan must be a finite number"),
        ("recipe", {"lr": float("inf")}, r"Recipe\.lr=inf must be a finite number"),
        ("recipe", {"trunk_lr": float("nan")}, r"Recipe\.trunk_lr=nan must be a finite number"),
        ("recipe", {"factor": 0}, r"Recipe\.factor=0 must be a finite number > 0"),
        ("recipe", {"trainable": (1.7,)}, r"Recipe\.trainable\[0\]=1\.7 must be a whole number"),
        ("recipe", {"trainable": ()}, r"Recipe\.trainable=\(\) must be at least one layer index"),
        ("recipe", {"unfreeze_every": 0}, r"Recipe\.unfreeze_every=0 must be a whole number >= 1"),
        ("lr_range_test", {"batch_size": -1}, r"batch_size=-1 must be a whole number >= 1"),
        ("lr_range_test", {"batch_size": 0}, r"batch_size=0 must be a whole number >= 1"),
        ("lr_range_test", {"steps": True}, r"steps=True must be a whole number >= 2"),
        ("lr_range_test", {"lr_min": float("nan")}, r"lr_min=nan must be a finite number"),
        ("lr_range_test", {"lr_max": float("inf")}, r"lr_max=inf must be a finite number"),
    ],
)
def test_bad_arguments_are_refused_by_name(call: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build(call, kwargs)


def test_fine_tune_refuses_layers_the_model_does_not_have_and_nan_images():
    model = new_classifier(3, channels=4)
    with pytest.raises(
        ValueError, match=r"recipe\.trainable\[0\]=5 must be a whole number in 0\.\.4"
    ):
        ft.fine_tune(model, toy_data(), ft.Recipe(steps=2, trainable=(5,)), device="cpu")
    data = toy_data()
    data.x[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"train\.x holds 1 NaN or infinite values"):
        ft.fine_tune(model, data, ft.Recipe(steps=2), device="cpu")


def test_conv_trunk_says_how_large_images_must_be():
    model = new_classifier(3, channels=4)
    with pytest.raises(ValueError, match=r"S >= 16 \(each of the 4 blocks halves the size\)"):
        model(torch.zeros(2, 1, 15, 15))
    assert model.eval()(torch.zeros(2, 1, 16, 16)).shape == (2, 3)  # 16 px: exactly enough


def test_numpy_and_tensor_integers_train_exactly_like_python_ints():
    logs = []
    for steps, batch in [(3, 8), (np.int64(3), np.int64(8)), (torch.tensor(3), torch.tensor(8))]:
        model = flat_model()
        log = trainer.train(
            model, toy_data(), steps=steps, batch_size=batch, progress=False, device="cpu"
        )
        logs.append((log.loss, model[1].weight.detach().clone()))
    assert logs[0][0] == logs[1][0] == logs[2][0]
    assert torch.equal(logs[0][1], logs[1][1]) and torch.equal(logs[0][1], logs[2][1])
    recipe = ft.Recipe(steps=np.int64(4), batch_size=np.int64(6), trainable=(np.int64(4),))
    assert recipe == ft.Recipe(steps=4, batch_size=6, trainable=(np.int64(4),))
    assert type(recipe.steps) is int and type(recipe.batch_size) is int
