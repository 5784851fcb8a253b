"""The family registry: a new family is one registration, built through the public API."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lecture_utils.models import black_box


class MeanOfSupport(black_box.BlackBoxModel):
    """A toy family: logits = -distance to each label's mean support feature."""

    def __init__(self, encoder: nn.Module, feature_dim: int, n_way: int) -> None:
        super().__init__(encoder, feature_dim, n_way)
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, support_x, support_y, query_x):
        n_way = self._n_way(support_x, support_y, query_x)
        means = black_box.class_means(self.embed(support_x), support_y, n_way)
        return -self.scale * torch.cdist(self.embed(query_x), means)


@pytest.fixture
def toy_family():
    black_box.register(
        "toy", lambda enc, dim, n_way, **kw: MeanOfSupport(enc, dim, n_way), order=99
    )
    yield "toy"
    black_box.unregister("toy")


def test_the_lecture_families_in_order() -> None:
    assert black_box.families() == ("lstm", "feedforward", "attention", "hypernet", "snail")
    assert black_box.families(variants=True)[-1] == "class_context"


def test_a_registered_toy_family_is_built_and_listed(toy_family: str) -> None:
    assert black_box.families()[-1] == "toy"
    model = black_box.build_model("toy", "features", feature_dim=2, n_way=2, seed=0)
    support_x = torch.tensor([[[0.0, 0.0], [4.0, 0.0]]])
    query_x = torch.tensor([[[1.0, 0.0], [3.0, 0.0]]])
    logits = model(support_x, torch.tensor([[0, 1]]), query_x)
    assert torch.allclose(logits, torch.tensor([[[-1.0, -3.0], [-3.0, -1.0]]]))


def test_unknown_family_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown family 'lstn'.*'lstm'.*'class_context'"):
        black_box.build_model("lstn")


def test_a_second_file_cannot_claim_a_taken_name(toy_family: str) -> None:
    with pytest.raises(ValueError, match="already registered"):
        black_box.register("toy", lambda *a, **k: None, order=1)
