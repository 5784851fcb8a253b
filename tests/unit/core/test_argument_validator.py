"""core.checks (the shared argument validator) and the statistics it guards."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lecture_utils.core import checks, stats


@pytest.mark.parametrize("value", [5, np.int64(5), np.int32(5), torch.tensor(5)])
def test_whole_number_accepts_every_integer_type_and_returns_an_int(value):
    got = checks.whole_number("n_way", value, 1)
    assert got == 5 and type(got) is int


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "True"),
        (1.7, "1.7"),
        (5.0, "5.0"),
        ("3", "'3'"),
        (torch.tensor([5]), "tensor"),
        (torch.tensor(5.0), "tensor"),
        (0, "0"),
        (-3, "-3"),
    ],
)
def test_whole_number_refuses_non_integers_and_out_of_range(value, shown):
    with pytest.raises(ValueError, match=rf"^steps={shown}.* must be a whole number >= 1"):
        checks.whole_number("steps", value, 1)


def test_whole_number_names_a_closed_range_and_the_fix():
    with pytest.raises(
        ValueError, match=r"^layer=7 must be a whole number in 0\.\.4; use a head\.$"
    ):
        checks.whole_number("layer", 7, 0, 4, fix="use a head")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 0, -1e-3, True, "1"])
def test_positive_finite_refuses_nan_inf_zero_negative_bool_and_text(value):
    with pytest.raises(ValueError, match=r"^lr=.* must be a finite number"):
        checks.positive_finite("lr", value)


@pytest.mark.parametrize("value", [1e-3, np.float64(1e-3), torch.tensor(1e-3), 3])
def test_positive_finite_accepts_numbers_of_every_kind(value):
    assert checks.positive_finite("lr", value) == pytest.approx(1e-3 if value != 3 else 3.0)


def test_layer_indices_are_sorted_distinct_whole_numbers_in_range():
    assert checks.layer_indices("trainable", (3, 1, np.int64(3), torch.tensor(0)), 5) == [0, 1, 3]
    with pytest.raises(ValueError, match=r"^trainable\[0\]=1.7 must be a whole number in 0\.\.4"):
        checks.layer_indices("trainable", (1.7,), 5)
    with pytest.raises(ValueError, match=r"^trainable=\(\) must be at least one layer index"):
        checks.layer_indices("trainable", (), 5)
    with pytest.raises(ValueError, match=r"^trainable\[1\]=5 must be a whole number in 0\.\.4"):
        checks.layer_indices("trainable", [0, 5], 5)


def test_image_tensor_says_which_attribute_to_pass():
    class Holder:
        images = torch.zeros(2, 20, 8, 8)

    with pytest.raises(TypeError, match=r"pass images=data\.images"):
        checks.image_tensor("images", Holder())
    bad = torch.zeros(2, 20, 8, 8)
    bad[1, 3, 0, 0] = float("nan")
    bad[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="images holds 2 NaN or infinite values"):
        checks.image_tensor("images", bad)


def test_t_interval_refuses_infinite_values_instead_of_inf_plus_minus_nan():
    with pytest.raises(ValueError, match=r"values=\[inf\] \(of 3\) must be finite"):
        stats.t_interval([1, 2, math.inf])
    with pytest.raises(ValueError, match="must be finite"):
        stats.paired_difference([1, 2, 3], [1, -math.inf, 2])
    # A valid call is unchanged: mean 2, s = 1, t(0.975, 2) = 4.302652729749464, n = 3.
    iv = stats.t_interval([1, 2, 3])
    assert iv.mean == 2 and iv.half_width == pytest.approx(4.302652729749464 / math.sqrt(3))
