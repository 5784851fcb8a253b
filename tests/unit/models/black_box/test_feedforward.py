"""FeedforwardAverage (family 2): its documented default widths and its width checks.

Written from mutation testing (make mutate-all); each test names the mutants it kills.
"""

from __future__ import annotations

import pytest
from torch import nn

from lecture_utils.models.black_box.feedforward import FeedforwardAverage


def test_default_widths() -> None:
    """__init__ 1-3: 5-way, a context of 128 numbers, hidden layers of 256."""
    model = FeedforwardAverage(nn.Flatten(), 4)
    first_g, last_g = model.g[0], model.g[-1]
    assert (first_g.in_features, first_g.out_features) == (4 + 5, 256)
    assert last_g.out_features == 128 == model.context_dim == model.phi_size(5, 1)
    assert model.h[-1].out_features == 5


@pytest.mark.parametrize("kwargs", [{"context_dim": 0}, {"hidden": 0}])
def test_zero_widths_are_refused(kwargs: dict) -> None:
    """__init__ 13: both widths are checked."""
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=rf"^{name}=0 must be a whole number >= 1"):
        FeedforwardAverage(nn.Flatten(), 4, **kwargs)
