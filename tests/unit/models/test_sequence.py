"""The causal transformer: causal, seeded, a masked loss and greedy decoding checked by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lecture_utils.episodes import string_tasks as st
from lecture_utils.models import sequence as sq

SMALL = sq.TransformerConfig(d_model=16, n_heads=2, d_ff=32)


def test_changing_a_later_token_leaves_earlier_logits_unchanged() -> None:
    model = sq.build_transformer(0, SMALL).eval()
    tokens = torch.randint(st.FIRST_LETTER, st.VOCAB_SIZE, (2, 12), generator=torch.Generator())
    tokens[:, 4] = st.SEP
    changed = tokens.clone()
    changed[:, 7] = (changed[:, 7] - st.FIRST_LETTER + 1) % len(st.LETTERS) + st.FIRST_LETTER
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-6)
    assert not torch.allclose(a[:, 7], b[:, 7], atol=1e-4)


def test_same_seed_same_weights_and_the_global_rng_is_untouched() -> None:
    state = torch.random.get_rng_state()
    a, b, c = (sq.build_transformer(s, SMALL) for s in (3, 3, 4))
    assert torch.equal(state, torch.random.get_rng_state())
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(),
                                                         strict=True))  # fmt: skip


def test_word_positions_and_recency_bias_by_hand() -> None:
    tokens, _ = st.build_sequence([("bad", "kibod")], "ta", "kito")  # ^bad>kibod;ta>kito;
    assert sq.word_positions(tokens).tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 0, 1, 2, 0, 1,
                                                  2, 3, 4, 0]  # fmt: skip
    bias = sq.recency_bias(3, 2)
    assert bias[0].tolist() == [[0, -math.inf, -math.inf], [-0.25, 0, -math.inf],
                                [-0.5, -0.25, 0]]  # fmt: skip
    assert bias[1, 2, 0].item() == pytest.approx(-2 / 256)  # slopes 1/4 ... 1/256


def test_sequence_loss_reads_the_logits_one_position_earlier() -> None:
    V = 5
    logits = torch.log_softmax(torch.arange(3 * V, dtype=torch.float).reshape(1, 3, V) % 4, -1)
    tokens = torch.tensor([[1, 2, 4]])
    mask = torch.tensor([[False, False, True]])  # only token 4, predicted at position 1
    want = -torch.log_softmax(logits[0, 1], -1)[4]
    assert sq.sequence_loss(logits, tokens, mask).item() == pytest.approx(want.item())
    both = torch.tensor([[False, True, True]])
    want2 = (F.cross_entropy(logits[0, :2], tokens[0, 1:], reduction="sum") / 2).item()
    assert sq.sequence_loss(logits, tokens, both).item() == pytest.approx(want2)
    with pytest.raises(ValueError, match="bool"):
        sq.sequence_loss(logits, tokens, mask.long())
    with pytest.raises(ValueError, match="no tokens"):
        sq.sequence_loss(logits, tokens, torch.tensor([[True, False, False]]))


def successor(tokens: torch.Tensor) -> torch.Tensor:
    """A hand-made 'model': after token t predict t + 1, and END after 9 (one-hot logits)."""
    nxt = torch.where(tokens < 9, tokens + 1, torch.full_like(tokens, st.END))
    return F.one_hot(nxt, 12).float()


def test_greedy_decoding_against_a_hand_made_model() -> None:
    prompts = torch.tensor([[4, 5, st.PAD, st.PAD], [7, 8, 9, 4]])
    out = sq.greedy_decode(successor, prompts, torch.tensor([2, 4]), max_new=8)
    assert out.tolist() == [[6, 7, 8, 9, st.END, 0, 0, 0], [5, 6, 7, 8, 9, st.END, 0, 0]]
    short = sq.greedy_decode(successor, prompts, torch.tensor([2, 4]), max_new=2)
    assert short.tolist() == [[6, 7], [5, 6]]
    nested = sq.greedy_decode(successor, prompts[None], torch.tensor([[2, 4]]), max_new=8)
    assert torch.equal(nested[0], out)  # leading dimensions are kept
    with pytest.raises(ValueError, match="length"):
        sq.greedy_decode(successor, prompts, torch.tensor([0, 4]), max_new=2)


def test_per_task_copies_match_the_model_and_train_independently() -> None:
    model = sq.build_transformer(1, SMALL).eval()
    tasks = st.task_set("meta_val", 3, 0, 2, seed=0)
    prompts, lengths = st.prompt_batch(tasks)
    copies = sq.PerTaskCopies(model, 3)
    want = sq.greedy_decode(model, prompts, lengths, 8)
    got = sq.greedy_decode(copies, prompts[:, None], lengths[:, None], 8)[:, 0]
    assert torch.equal(want, got)
    tokens, mask = st.training_batch(tasks)
    logits = copies(tokens[:, None])
    sq.sequence_loss(logits[:1], tokens[:1, None], mask[:1, None]).backward()
    grads = [p.grad for p in copies.stacked]
    assert all(g[1:].abs().max() == 0 for g in grads)  # task 0's loss moves only copy 0
    assert any(g[0].abs().max() > 0 for g in grads)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple"):
        sq.TransformerConfig(d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="max_len"):
        sq.build_transformer(0, sq.TransformerConfig(d_model=8, n_heads=2, max_len=4))(
            torch.zeros(1, 5, dtype=torch.long)
        )
