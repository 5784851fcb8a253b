"""The models refuse an empty query set and accept NumPy integer widths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecture_utils.models import black_box
from lecture_utils.models.regression import build_regressor


def test_an_empty_query_set_is_refused_by_the_models():
    model = black_box.build_model("feedforward", "pixels", image_size=8, n_way=2)
    support_x, support_y = torch.rand(1, 2, 1, 8, 8), torch.tensor([[0, 1]])
    with pytest.raises(ValueError, match="holds no query items"):
        model(support_x, support_y, torch.rand(1, 0, 1, 8, 8))
    regressor = build_regressor("neural_process")
    with pytest.raises(ValueError, match="holds no query points"):
        regressor(torch.rand(2, 5, 1), torch.rand(2, 5, 1), torch.rand(2, 0, 1))


def test_model_widths_accept_numpy_integers():
    model = black_box.build_model("feedforward", "pixels", image_size=8, n_way=np.int64(5))
    assert model.max_way == 5
