"""The shared trunk and heads (lecture_utils.models.convnet) and labelled sets (.labelled)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lecture_utils.core import runtime
from lecture_utils.data import labelled
from lecture_utils.models import convnet
from lecture_utils.training import trainer


def small_trunk(channels: int = 8) -> convnet.ConvTrunk:
    with runtime.seeded_init(0):
        return convnet.ConvTrunk(channels=channels)


# ---- shapes -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [28, 32])
def test_trunk_maps_images_to_channel_features(size: int) -> None:
    trunk = small_trunk(8)
    assert trunk(torch.rand(5, 1, size, size)).shape == (5, 8)
    assert trunk(torch.rand(5, size, size)).shape == (5, 8)  # channel dimension added
    assert len(trunk.blocks) == 4 and trunk.out_features == 8


def test_strided_stem_reads_a_large_image_into_the_small_map() -> None:
    with runtime.seeded_init(0):
        plain, strided = convnet.ConvTrunk(8), convnet.ConvTrunk(8, stem_stride=2)
    first = strided.blocks[0][0]
    assert (first.stride, first.kernel_size) == ((2, 2), (5, 5))
    assert plain.blocks[0][0].stride == (1, 1)  # the default trunk is unchanged
    assert strided.blocks[1][0].stride == (1, 1)  # only the first block is strided
    grid = {}

    def record(module, inputs, output) -> None:
        grid["map"] = output.shape

    strided.blocks[0].register_forward_hook(record)
    assert strided(torch.rand(2, 1, 56, 56)).shape == (2, 8)
    assert grid["map"][-2:] == (14, 14)  # 56 px in, the map a 28 px image gives the plain trunk
    # every input pixel reaches the output (no pixel skipped by the stride)
    x = torch.rand(1, 1, 56, 56, requires_grad=True)
    strided.eval()(x).sum().backward()
    assert (x.grad.abs() > 0).float().mean() > 0.9


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_stem_stride_must_be_a_positive_integer(bad) -> None:
    with pytest.raises(ValueError, match="stem_stride"):
        convnet.ConvTrunk(8, stem_stride=bad)


def test_classifier_logits_and_layers() -> None:
    model = convnet.Classifier(small_trunk(8), num_classes=7)
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 7)
    layers = model.layers()
    assert len(layers) == 5 and layers[-1] is model.head


def test_multi_head_classifier_shares_one_trunk() -> None:
    model = convnet.MultiHeadClassifier(small_trunk(8), {"A": 3, "B": 5})
    x = torch.rand(4, 1, 28, 28)
    assert model(x, "A").shape == (4, 3) and model(x, "B").shape == (4, 5)
    # One trunk: a loss on task A alone produces gradients in the trunk B uses too.
    model(x, "A").sum().backward()
    assert model.trunk.blocks[0][0].weight.grad is not None
    assert model.heads["B"].weight.grad is None
    view = model.as_classifier("B")
    assert view.trunk is model.trunk and view.head is model.heads["B"]
    torch.testing.assert_close(view(x), model(x, "B"))
    # Trunk parameters are counted once, not once per head.
    trunk_params = convnet.count_parameters(model.trunk)
    heads = sum(convnet.count_parameters(h) for h in model.heads.values())
    assert convnet.count_parameters(model) == trunk_params + heads


def test_reset_head_reinitialises_and_can_change_the_class_count() -> None:
    model = convnet.Classifier(small_trunk(8), num_classes=4)
    before = model.head.weight.detach().clone()
    trunk_before = model.trunk.blocks[0][0].weight.detach().clone()
    model.reset_head()
    assert model.head.weight.shape == before.shape
    assert not torch.equal(model.head.weight, before)
    model.reset_head(9)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 9)
    torch.testing.assert_close(model.trunk.blocks[0][0].weight, trunk_before)  # trunk untouched


def test_count_parameters_trainable_only() -> None:
    model = convnet.Classifier(small_trunk(8), num_classes=3)
    for p in model.trunk.parameters():
        p.requires_grad_(False)
    assert convnet.count_parameters(model, trainable_only=True) == 8 * 3 + 3
    assert convnet.count_parameters(model) > 8 * 3 + 3


# ---- drawer_split -------------------------------------------------------------------------


def coded_images(chars: int = 6, drawers: int = 20, size: int = 4) -> torch.Tensor:
    """Every image is filled with ``character * 100 + drawer`` so a split can be traced back."""
    codes = torch.arange(chars)[:, None] * 100 + torch.arange(drawers)[None, :]
    return codes[:, :, None, None].float().expand(chars, drawers, size, size).clone()


def traced(data: labelled.LabelledImages) -> list[tuple[int, int, int]]:
    codes = data.x[:, 0, 0, 0].long()
    return [(int(y), int(c) // 100, int(c) % 100) for y, c in zip(data.y, codes, strict=True)]


def test_drawer_split_has_disjoint_drawers_and_right_counts() -> None:
    images = coded_images()
    characters = [4, 1, 2]
    train, test = labelled.drawer_split(images, characters, 5, 3, seed=1)
    assert len(train) == 15 and len(test) == 9 and train.num_classes == test.num_classes == 3
    for label, char in enumerate(characters):
        train_drawers = {d for y, c, d in traced(train) if y == label}
        test_drawers = {d for y, c, d in traced(test) if y == label}
        assert len(train_drawers) == 5 and len(test_drawers) == 3
        assert not train_drawers & test_drawers
        assert {c for y, c, _ in traced(train) + traced(test) if y == label} == {char}


def test_drawer_split_defaults_to_all_remaining_drawers_and_is_seeded() -> None:
    images = coded_images()
    train, test = labelled.drawer_split(images, [0, 1], 12, seed=3)
    assert len(train) == 24 and len(test) == 16
    again, _ = labelled.drawer_split(images, [0, 1], 12, seed=3)
    other, _ = labelled.drawer_split(images, [0, 1], 12, seed=4)
    assert torch.equal(train.x, again.x) and not torch.equal(train.x, other.x)


@pytest.mark.parametrize("train_n, test_n", [(0, 5), (5, 0), (15, 6), (21, None)])
def test_drawer_split_rejects_bad_counts(train_n: int, test_n: int | None) -> None:
    with pytest.raises(ValueError, match="20 drawers"):
        labelled.drawer_split(coded_images(), [0, 1], train_n, test_n)


# ---- accuracy and fit -----------------------------------------------------------------------


class ConstantClassifier(nn.Module):
    """Always predicts ``label`` (for ``task="A"``) or ``label + 1`` (any other task)."""

    def __init__(self, label: int, num_classes: int = 3) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(num_classes))
        self.label = label

    def forward(self, x: torch.Tensor, task: str = "A") -> torch.Tensor:
        logits = torch.zeros(len(x), len(self.bias))
        logits[:, self.label if task == "A" else self.label + 1] = 1.0
        return logits + self.bias


def test_accuracy_counts_correct_predictions_and_passes_forward_kwargs() -> None:
    data = labelled.LabelledImages(torch.rand(10, 1, 4, 4), torch.tensor([0] * 7 + [1] * 3), 3)
    model = ConstantClassifier(0)
    assert labelled.accuracy(model, data, batch_size=3) == pytest.approx(0.7)
    assert labelled.accuracy(model, data, task="B") == pytest.approx(0.3)
    model.train()
    labelled.accuracy(model, data)
    assert model.training  # the mode is restored


@pytest.mark.real_data
def test_training_reduces_the_loss_on_a_tiny_real_subset(real_data) -> None:
    from lecture_utils.data import omniglot

    data = omniglot.load_omniglot()
    train, test = labelled.drawer_split(data.images, range(5), 6, 4, seed=0)
    model = convnet.Classifier(small_trunk(8), num_classes=5)
    seen = []
    log = trainer.train(
        model,
        train,
        steps=36,
        lr=1e-2,
        batch_size=10,
        eval_every=3,
        evaluate=lambda m: labelled.accuracy(m, test),
        on_step=lambda step, m: seen.append(step),
        device="cpu",
        progress=False,
    )
    assert seen == list(range(36)) and log.eval_steps == list(range(3, 37, 3))
    assert sum(log.loss[-3:]) < 0.6 * sum(log.loss[:3])
    assert labelled.accuracy(model, train) > 0.6  # well above the 0.2 of chance
