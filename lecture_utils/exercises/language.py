"""Notebook 06 exercises: the loss mask of an in-context sequence, and one greedy decoding step.

| check | the student writes |
|---|---|
| :func:`check_loss_mask` | ``loss_mask(tokens)``: True on the query output and its closing ``;`` |
| :func:`check_greedy_step` | ``greedy_step(logits, lengths)``: argmax at each row's last token |

Each check builds its own small inputs whose answers are known (literal masks; logits with the
answer planted), so no reference solution ships with the package, and names the mistake.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lecture_utils.episodes import string_tasks as st
from lecture_utils.exercises.common import call, guarded, ok, tensor_of

# ---- the loss mask -------------------------------------------------------------------------


def _examples() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Three sequences and their known masks (1 on the query output and its closing ';')."""
    support = [("bad", "kibod"), ("lume", "kilume"), ("sor", "kisor")]
    answers = [
        "00000000000000000000000000001111111",
        "00000111111",
        "00000000000000000000000000000000000011111",
    ]
    tokens = [
        st.build_sequence(support[:2], "mapo", "kimopo")[0],
        st.build_sequence([], "dat", "kidot")[0],
        st.build_sequence(support, "ra", "kiro")[0],
    ]
    return [(t, torch.tensor([c == "1" for c in a])) for t, a in zip(tokens, answers, strict=True)]


def _positions(tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Bool masks of the parts a wrong answer may mark (for the diagnosis)."""
    ids = tokens.tolist()
    seps = [i for i, t in enumerate(ids) if t == st.SEP]
    ends = [i for i, t in enumerate(ids) if t == st.END]
    part = {name: torch.zeros(len(ids), dtype=torch.bool) for name in
            ("support_out", "query_in", "query_sep", "final_end")}  # fmt: skip
    for sep, end in zip(seps[:-1], ends[:-1], strict=True):
        part["support_out"][sep + 1 : end + 1] = True
    query_start = ends[-2] + 1 if len(ends) > 1 else 1
    part["query_in"][query_start : seps[-1]] = True
    part["query_sep"][seps[-1]] = True
    part["final_end"][ends[-1]] = True
    return part


@guarded
def check_loss_mask(student_fn: Callable) -> None:
    """``loss_mask(tokens [L]) -> [L] bool``: only the query's output letters and closing ``;``."""
    name = getattr(student_fn, "__name__", "your function")
    for tokens, want in _examples():
        got = call(student_fn, tokens.clone(), params=("tokens",))
        tensor_of(got, name, tuple(tokens.shape))
        marked = got.bool() if got.dtype != torch.bool else got
        part = _positions(tokens)
        shown = st.show(tokens)
        if torch.equal(marked, torch.roll(want, -1)):
            raise AssertionError(
                f"{name}: the mask is shifted by one on {shown!r}: you marked the positions "
                "whose logits are read (from the query's '>' on) instead of the tokens they "
                "predict. Mark the target tokens: the output letters and the final ';'."
            )
        if (marked & part["support_out"]).any():
            raise AssertionError(
                f"{name}: the mask covers support outputs in {shown!r}. D_tr is given to the "
                "model, not scored: mark only the tokens after the LAST '>' (the query's)."
            )
        if (marked & part["query_sep"]).any():
            raise AssertionError(
                f"{name}: the mask covers the query's separator '>' in {shown!r}; it is part "
                "of the prompt. Start the mask on the token after it."
            )
        if (marked & part["query_in"]).any():
            raise AssertionError(
                f"{name}: the mask covers the query's input letters in {shown!r}; they are "
                "given, not generated. Mark only what follows the last '>'."
            )
        if not (marked & part["final_end"]).any() and (marked | part["final_end"]).equal(want):
            raise AssertionError(
                f"{name}: the closing ';' of the query output is not in the mask ({shown!r}). "
                "Include it: the model must learn to stop generating."
            )
        if not torch.equal(marked, want):
            raise AssertionError(
                f"{name}: on {shown!r} the mask is {marked.int().tolist()}, expected "
                f"{want.int().tolist()} (True exactly on the query output and its ';')."
            )
        if got.dtype != torch.bool:
            raise AssertionError(
                f"{name}: the right positions, but the dtype is {got.dtype}: return a bool "
                "tensor (e.g. build it with torch.zeros(..., dtype=torch.bool))."
            )
    ok(name, "the loss reads only the query output and its closing ';'")


# ---- one greedy decoding step -------------------------------------------------------------------


@guarded
def check_greedy_step(student_fn: Callable) -> None:
    """``greedy_step(logits [B, L, V], lengths [B]) -> [B] long``: the next token of each row."""
    name = getattr(student_fn, "__name__", "your function")
    B, L, V = 4, 6, 9
    lengths = torch.tensor([2, 6, 3, 1])
    rows = torch.arange(B)
    want = torch.tensor([3, 7, 1, 5])  # planted at each row's last prompt token
    decoys = {"last": [0, 2, 4, 6], "next": [8, 6, 0, 2], "first": [6, 0, 8, 4]}
    logits = 0.1 * torch.randn(B, L, V, generator=torch.Generator().manual_seed(3))
    logits[rows, :, torch.tensor(decoys["first"])] += 2.0  # the first-column pick everywhere
    logits[rows, L - 1, torch.tensor(decoys["last"])] += 5.0
    nxt = lengths.clamp(max=L - 1)
    logits[rows, nxt, torch.tensor(decoys["next"])] += 6.0
    logits[rows, lengths - 1] = 0.1 * torch.randn(B, V, generator=torch.Generator().manual_seed(4))
    logits[rows, lengths - 1, want] += 9.0
    wrong = {  # what the plausible mistakes return on these logits
        "last": logits[:, -1].argmax(-1),
        "next": logits[rows, nxt].argmax(-1),
        "first": logits[:, 0].argmax(-1),
    }
    got = call(student_fn, logits.clone(), lengths.clone(), params=("logits", "lengths"))
    tensor_of(got, name, (B,))
    if got.is_floating_point() or got.dtype == torch.bool:
        raise AssertionError(
            f"{name}: dtype is {got.dtype}: return token ids (torch.long), e.g. from argmax."
        )
    if torch.equal(got, wrong["last"]):
        raise AssertionError(
            f"{name}: you read the last column for every row. Rows are right-padded: row b's "
            "prompt ends at lengths[b] - 1, and the columns after it are padding."
        )
    if torch.equal(got, wrong["next"]):
        raise AssertionError(
            f"{name}: off by one: you read position lengths[b], the first padding slot. The "
            "logits that predict the next token sit at the prompt's last token, lengths[b] - 1."
        )
    if torch.equal(got, wrong["first"]):
        raise AssertionError(f"{name}: you read position 0; read lengths[b] - 1 in each row.")
    if ((got < 0) | (got >= V)).any():
        raise AssertionError(
            f"{name}: ids {got.tolist()} are not all in 0..{V - 1}: take the argmax over the "
            "vocabulary (the last dimension), not over positions."
        )
    if not torch.equal(got, want):
        again = call(student_fn, logits.clone(), lengths.clone(), params=("logits", "lengths"))
        if not torch.equal(got, again):
            raise AssertionError(
                f"{name}: two calls on the same logits gave different tokens: greedy decoding "
                "takes the argmax, it does not sample."
            )
        raise AssertionError(
            f"{name}: got {got.tolist()}, expected {want.tolist()}: the argmax over the "
            "vocabulary of logits[b, lengths[b] - 1] for each row b."
        )
    ok(name, "the argmax of each row's logits at its last prompt token")
