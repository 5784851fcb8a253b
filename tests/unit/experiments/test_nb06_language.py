"""Notebook 06's experiment: scores by hand, a tiny run end to end, and the in-context contract."""

from __future__ import annotations

import pytest
import torch

from lecture_utils.episodes import string_tasks as st
from lecture_utils.experiments.nb06_language import plots
from lecture_utils.experiments.nb06_language import runs as lang
from lecture_utils.models import sequence as sq

TINY = lang.Budget(meta_steps=5, pretrain_steps=3, warmup=1, batch_size=4, k_train=(1, 2),
                   ks=(1, 2), n_test_tasks=3, n_val_tasks=2, n_query=1, ft_lrs=(3e-3,),
                   scratch_lrs=(1e-2,), ft_checkpoints=(0, 2), seeds=(0, 1))  # fmt: skip


def test_char_accuracy_and_scores_by_hand() -> None:
    assert lang.char_accuracy("kibod", "kibad") == pytest.approx(4 / 5)
    assert lang.char_accuracy("ki", "kibo") == pytest.approx(2 / 4)  # too short: misses count
    assert lang.char_accuracy("kibodda", "kibod") == pytest.approx(5 / 7)  # extra letters too
    assert lang.char_accuracy("", "") == 1.0
    rule = st.Rule("ki", "a", "o")
    task = st.StringTask(rule, (), (("bad", "kibod"), ("ta", "kito")))
    exact, char = lang.score([["kibod", "kita"]], [task])
    assert exact.tolist() == [0.5]
    assert char.tolist() == pytest.approx([(1 + 3 / 4) / 2])


def test_a_tiny_run_is_reproducible_end_to_end() -> None:
    state = torch.random.get_rng_state()
    first = lang.run_all(TINY, device="cpu", progress=False)
    second = lang.run_all(TINY, device="cpu", progress=False)
    assert torch.equal(state, torch.random.get_rng_state())
    assert [r.outputs for r in first] == [r.outputs for r in second]
    assert first[0].recipes == second[0].recipes == first[1].recipes
    assert set(first[0].scores) == {"in_context", "shuffled", "pretrained", "scratch"}
    assert {lr for lr, _, _ in first[0].recipes.values()} <= {3e-3, 1e-2}
    assert all(steps >= 1 for (arm, _), (_, steps, _) in first[0].recipes.items()
               if arm == "scratch")  # fmt: skip
    table = lang.accuracy_table(first)
    assert "in-context (black-box), exact match" in table and "K=2" in table
    assert "over 2 training seeds" in table and "same 3 meta-test tasks" in table
    text = lang.results_markdown(first)
    assert "K = 1" in text and "K = 2" in text and "paired" in text
    values = lang.seed_values(first, "in_context", 1, "exact")
    assert len(values) == 2 and all(0 <= v <= 1 for v in values)


def test_fine_tuning_leaves_the_network_alone_and_zero_steps_is_the_network() -> None:
    net = lang.scratch_net(0)
    before = [p.clone() for p in net.parameters()]
    tasks = st.task_set("meta_val", 3, 2, 2, seed=0)
    outs = lang.fine_tune(net, tasks, 2, 1e-2, [0, 3])
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    prompts, lengths = st.prompt_batch(tasks)
    direct = sq.greedy_decode(net, prompts, lengths, st.max_output_length() + 1)
    assert [o[0] for o in outs[0]] == [st.decode(row) for row in direct]
    assert set(outs) == {0, 3}


def test_the_trained_in_context_model_reads_its_support_set() -> None:
    """The key contract: give each query another task's D_tr, and accuracy must fall.

    A model that ignored D_tr (a pooled network in disguise) would score the same either way.
    """
    budget = lang.Budget(meta_steps=220, warmup=20, k_train=(4, 4), ks=(4,))
    model, _ = lang.meta_train(budget, seed=0, device="cpu", progress=False)
    tasks = st.task_set("meta_test", 30, 4, 2, seed=0)
    others = tasks[1:] + tasks[:1]
    assert all(a.rule.prefix != b.rule.prefix for a, b in zip(tasks, others, strict=True))
    own = lang.score(lang.generate_in_context(model, tasks, 4), tasks)
    swapped = lang.score(lang.generate_in_context(model, tasks, 4, supports=others), tasks)
    assert own[1].mean() - swapped[1].mean() > 0.15, (own[1].mean(), swapped[1].mean())
    assert own[0].mean() > swapped[0].mean()


def test_layout_roles_and_figures() -> None:
    tokens, mask = st.build_sequence([("ba", "kibo")], "da", "kido")
    roles = plots.token_roles(tokens, mask)
    assert roles[:4] == ["special", "support input", "support input", "special"]
    assert roles[4:8] == ["support output"] * 4 and roles[9:11] == ["query input"] * 2
    assert roles[12:16] == ["query output"] * 4
    import matplotlib

    matplotlib.use("Agg")
    fig = plots.layout_figure(tokens, mask)
    width, height = fig.get_size_inches() * fig.dpi
    assert width <= 1280 and height <= 720


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ks": (1, 9)}, "between 1 and"),
        ({"k_train": (0, 8)}, "k_train"),
        ({"seeds": (0,)}, ">= 2 distinct"),
        ({"ft_checkpoints": (0,)}, ">= 1"),
        ({"scratch_lrs": ()}, "lr"),
    ],
)
def test_impossible_budgets_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lang.with_budget(lang.Budget(), **changes)
