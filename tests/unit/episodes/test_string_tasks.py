"""The string-task generator: disjoint splits, seeded draws, decodable text, sequence layout."""

from __future__ import annotations

import pytest
import torch

from lecture_utils.episodes import string_tasks as st

B, K, II, OO, D, S, A, E = (st.FIRST_LETTER + st.LETTERS.index(c) for c in "bkiodsae")


def test_rule_applies_the_vowel_change_then_the_prefix() -> None:
    rule = st.Rule("ki", "a", "o")
    assert rule.apply("bada") == "kibodo"
    assert rule.apply("lume") == "kilume"  # no 'a': only the prefix
    assert str(rule) == "ki+, a->o"


def test_splits_are_disjoint_and_cover_every_rule() -> None:
    by_split = {split: set(st.rules(split)) for split in st.SPLITS}
    assert {s: len(r) for s, r in by_split.items()} == {
        "meta_train": 3200, "meta_val": 680, "meta_test": 1240,
    }  # fmt: skip
    assert sum(map(len, by_split.values())) == 256 * 20  # 16x16 prefixes x 5x4 vowel changes
    for a in st.SPLITS:
        for b in st.SPLITS:
            if a < b:
                assert not by_split[a] & by_split[b]
                assert not {r.prefix for r in by_split[a]} & {r.prefix for r in by_split[b]}
    for split, rules in by_split.items():
        assert all(st.split_of_prefix(r.prefix) == split for r in rules)


def test_split_of_a_prefix_is_its_hash() -> None:
    import hashlib

    for prefix in ("ki", "ba", "uu"):
        byte = hashlib.sha256(f"prefix:{prefix}".encode()).digest()[0]
        want = "meta_test" if byte < 64 else "meta_val" if byte < 96 else "meta_train"
        assert st.split_of_prefix(prefix) == want


def test_sampled_tasks_come_from_their_split_only() -> None:
    gen = torch.Generator().manual_seed(0)
    train = st.sample_tasks("meta_train", 300, 2, 1, gen)
    test = st.task_set("meta_test", 300, 2, 1, seed=0)
    assert {t.rule for t in train} <= set(st.rules("meta_train"))
    assert {t.rule for t in test} <= set(st.rules("meta_test"))
    assert not {t.rule.prefix for t in train} & {t.rule.prefix for t in test}


def test_same_seed_same_tasks_and_the_global_rng_is_untouched() -> None:
    state = torch.random.get_rng_state()
    a = st.task_set("meta_test", 20, 4, 2, seed=3)
    b = st.task_set("meta_test", 20, 4, 2, seed=3)
    c = st.task_set("meta_test", 20, 4, 2, seed=4)
    assert a == b and a != c
    assert torch.equal(state, torch.random.get_rng_state())
    assert st.split_seed("meta_train", 1) != st.split_seed("meta_test", 0)
    assert len({st.split_seed(s, seed) for s in st.SPLITS for seed in range(10)}) == 30


def test_task_pairs_follow_the_rule_with_distinct_stems() -> None:
    for task in st.task_set("meta_train", 50, 5, 3, seed=0):
        pairs = task.support + task.query
        assert all(task.rule.apply(x) == y for x, y in pairs)
        assert len({x for x, _ in pairs}) == len(pairs)
        assert all(task.rule.vowel_from in x for x, _ in task.query)
        assert all(len(x) in st.STEM_LENGTHS for x, _ in pairs)
        assert task.with_support(2).support == task.support[:2]


def test_encode_decode_round_trip() -> None:
    assert st.encode("bad") == [B, A, D]
    assert st.decode([K, II, B, OO, D, st.END, K, K]) == "kibod"  # stops at ';'
    assert st.decode([K, st.PAD, II]) == "ki"
    for task in st.task_set("meta_val", 30, 2, 2, seed=1):
        for x, y in task.support + task.query:
            assert st.decode(st.encode(y)) == y and st.decode(st.encode(x)) == x


def test_sequence_layout_and_loss_mask_by_hand() -> None:
    tokens, mask = st.build_sequence([("ba", "kibo")], "da", "kido")
    #        ^       b  a  >       k  i  b  o  ;       d  a  >       k  i  d  o  ;
    assert tokens.tolist() == [st.BOS, B, A, st.SEP, K, II, B, OO, st.END, D, A, st.SEP,
                               K, II, D, OO, st.END]  # fmt: skip
    assert mask.tolist() == [False] * 12 + [True] * 5
    assert mask.dtype == torch.bool and tokens.dtype == torch.long
    assert st.show(tokens) == "^ba>kibo;da>kido;"
    prompt, pmask = st.build_sequence([("ba", "kibo")], "da")
    assert prompt.tolist() == tokens[:12].tolist() and not pmask.any()
    plain, pmask = st.build_sequence([], "da", "kido")
    assert st.show(plain) == "^da>kido;" and pmask.tolist() == [False] * 4 + [True] * 5


def test_batches_are_right_padded() -> None:
    tasks = [st.StringTask(st.Rule("ki", "a", "o"), (("ba", "kibo"),), (("dab", "kidob"),)),
             st.StringTask(st.Rule("sa", "e", "i"), (), (("de", "sadi"),))]  # fmt: skip
    tokens, mask = st.training_batch(tasks)
    assert [st.show(row) for row in tokens] == ["^ba>kibo;dab>kidob;", "^de>sadi;__________"]
    assert mask.sum(1).tolist() == [6, 5] and not mask[1, 9:].any()
    prompts, lengths = st.prompt_batch(tasks, supports=[tasks[1], tasks[0]])
    assert [st.show(p[:n]) for p, n in zip(prompts, lengths, strict=True)] == [
        "^dab>",
        "^ba>kibo;de>",
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: st.Rule("k", "a", "o"), "prefix"),
        (lambda: st.Rule("ki", "a", "a"), "no change"),
        (lambda: st.Rule("ki", "x", "a"), "vowels"),
        (lambda: st.encode(""), "non-empty"),
        (lambda: st.encode("bax"), "outside the alphabet"),
        (lambda: st.rules("train"), "Unknown split"),
        (lambda: st.task_set("meta_test", 2, -1, 1, 0), "k_shot"),
        (lambda: st.task_set("meta_test", 2, 1, 0, 0), "n_query"),
        (lambda: st.task_set("meta_test", 0, 1, 1, 0), "n_tasks"),
        (lambda: st.task_set("meta_test", 1, 2, 1, 0)[0].with_support(3), "between 0"),
    ],
)
def test_bad_inputs_are_refused_with_the_fix(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
