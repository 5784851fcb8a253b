"""Notebook 06's checks: a right answer passes, each plausible mistake gets its own message,
and the package ships no reference solution for them."""

from __future__ import annotations

import pytest
import torch

from lecture_utils.episodes import string_tasks as st
from lecture_utils.exercises import language


def loss_mask(tokens):
    last = int((tokens == st.SEP).nonzero().max())
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    mask[last + 1 :] = True
    return mask


def mask_from_the_separator(tokens):
    return torch.roll(loss_mask(tokens), -1)


def mask_on_every_output(tokens):
    seps = (tokens == st.SEP).nonzero().flatten().tolist()
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    mask[seps[0] + 1 :] = True
    return mask


def mask_with_the_query_input(tokens):
    mask = loss_mask(tokens)
    ends = (tokens == st.END).nonzero().flatten().tolist()
    last_sep = int((tokens == st.SEP).nonzero().max())
    mask[(ends[-2] + 1 if len(ends) > 1 else 1) : last_sep] = True
    return mask


def mask_without_the_end(tokens):
    mask = loss_mask(tokens)
    mask[-1] = False
    return mask


def mask_as_ints(tokens):
    return loss_mask(tokens).long()


def greedy_step(logits, lengths):
    return logits[torch.arange(len(lengths)), lengths - 1].argmax(-1)


def greedy_last_column(logits, lengths):
    return logits[:, -1].argmax(-1)


def greedy_off_by_one(logits, lengths):
    return logits[torch.arange(len(lengths)), lengths.clamp(max=logits.shape[1] - 1)].argmax(-1)


def greedy_first_column(logits, lengths):
    return logits[:, 0].argmax(-1)


def greedy_over_positions(logits, lengths):
    return logits.argmax(1)  # over positions, not the vocabulary: [B, V]


def greedy_as_floats(logits, lengths):
    return greedy_step(logits, lengths).float()


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check, right", [
    (language.check_loss_mask, loss_mask), (language.check_greedy_step, greedy_step)
])  # fmt: skip
def test_a_right_answer_passes_and_a_stub_is_not_implemented(check, right, capsys) -> None:
    check(right)
    assert capsys.readouterr().out.startswith("✓")
    with pytest.raises(AssertionError, match="not implemented yet"):
        check(stub)


@pytest.mark.parametrize(
    ("check", "wrong", "message"),
    [
        (language.check_loss_mask, mask_from_the_separator, "shifted by one"),
        (language.check_loss_mask, mask_on_every_output, "covers support outputs"),
        (language.check_loss_mask, mask_with_the_query_input, "query's input letters"),
        (language.check_loss_mask, mask_without_the_end, "closing ';' .* is not in the mask"),
        (language.check_loss_mask, mask_as_ints, "dtype is torch.int64"),
        (language.check_greedy_step, greedy_last_column, "last column for every row"),
        (language.check_greedy_step, greedy_off_by_one, "off by one"),
        (language.check_greedy_step, greedy_first_column, "read position 0"),
        (language.check_greedy_step, greedy_over_positions, r"shape is \[4, 9\], expected \[4\]"),
        (language.check_greedy_step, greedy_as_floats, "return token ids"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_each_plausible_mistake_is_named(check, wrong, message) -> None:
    with pytest.raises(AssertionError, match=message):
        check(wrong)


def test_no_reference_solution_ships_with_the_package() -> None:
    assert not [name for name in vars(language) if name.startswith("reference_")]
