"""Multi-task vs transfer helpers (lecture_utils.multitask): splits, training, runs, tables."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from lecture_utils import convnet
from lecture_utils import multitask as mt
from lecture_utils.supervised import LabelledImages

TINY = mt.Budget(
    channels=8,
    pretrain_steps=4,
    multitask_steps=4,
    adapt_steps=4,
    probe_steps=4,
    batch_size=16,
    multitask_target_batch=8,
    adapt_batch_size=8,
)


def class_sorted_pool(classes: int = 4, per_class: int = 6) -> LabelledImages:
    """Image ``i`` is filled with the value ``i``, so picks can be traced back to the pool."""
    n = classes * per_class
    x = torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 1, 4, 4).clone()
    return LabelledImages(x, torch.arange(classes).repeat_interleave(per_class), classes)


# ---- few_shot -------------------------------------------------------------------------------


def test_few_shot_draws_k_pool_images_per_class() -> None:
    pool = class_sorted_pool()
    picked = mt.few_shot(pool, 3, seed=0)
    assert len(picked) == 12 and picked.num_classes == 4
    assert torch.bincount(picked.y).tolist() == [3, 3, 3, 3]
    ids = picked.x[:, 0, 0, 0].long()
    assert torch.equal(pool.y[ids], picked.y)  # every image keeps its own label
    assert len(set(ids.tolist())) == 12
    assert torch.equal(mt.few_shot(pool, 3, seed=0).x, picked.x)
    assert not torch.equal(mt.few_shot(pool, 3, seed=1).x, picked.x)


@pytest.mark.parametrize("shots", [0, 7])
def test_few_shot_rejects_shots_outside_the_pool(shots: int) -> None:
    with pytest.raises(ValueError, match="from 1 to the 6 pool drawers"):
        mt.few_shot(class_sorted_pool(), shots)


def test_budget_rejects_zero_steps() -> None:
    with pytest.raises(ValueError, match="adapt_steps=0"):
        mt.Budget(adapt_steps=0)


# ---- joint training -------------------------------------------------------------------------


def tiny_two_task_model() -> convnet.MultiHeadClassifier:
    torch.manual_seed(0)
    return convnet.MultiHeadClassifier(convnet.ConvTrunk(channels=4), {"A": 4, "B": 3})


def random_task(classes: int, n: int) -> LabelledImages:
    gen = torch.Generator().manual_seed(classes)
    return LabelledImages(
        torch.rand(n, 1, 28, 28, generator=gen), torch.arange(n) % classes, classes
    )


@pytest.mark.parametrize("weight, frozen_head", [(1.0, "B"), (0.0, "A")])
def test_multitask_weight_extremes_train_only_one_head(weight: float, frozen_head: str) -> None:
    model = tiny_two_task_model()
    other = "A" if frozen_head == "B" else "B"
    frozen = model.heads[frozen_head].weight.detach().clone()
    trained = model.heads[other].weight.detach().clone()
    losses = mt.train_multitask(
        model, random_task(4, 12), random_task(3, 20), weight, steps=3, batch_size=8,
        target_batch_size=4, progress=False,
    )  # fmt: skip
    assert len(losses) == 3
    torch.testing.assert_close(model.heads[frozen_head].weight, frozen)
    assert not torch.equal(model.heads[other].weight, trained)


def test_multitask_rejects_weights_outside_0_1() -> None:
    with pytest.raises(ValueError, match="weight=1.5"):
        mt.train_multitask(
            tiny_two_task_model(), random_task(4, 8), random_task(3, 8), 1.5, 1, progress=False
        )


# ---- runs on real data ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tasks(request):
    request.getfixturevalue("real_data")
    from lecture_utils import omniglot

    mt.clear_caches()
    return mt.make_tasks(omniglot.load_omniglot())


@pytest.mark.real_data
def test_make_tasks_keeps_a_out_of_b_and_splits_by_drawer(tasks: mt.TwoTasks) -> None:
    assert tasks.target_alphabet not in tasks.source_alphabets
    nb, na = tasks.source_train.num_classes, tasks.target_test.num_classes
    assert len(tasks.source_train) == 15 * nb and len(tasks.source_test) == 5 * nb
    assert len(tasks.target_pool) == 10 * na and len(tasks.target_test) == 10 * na
    # No A test image is also in A's pool (drawer split), compared pixel for pixel.
    pool = tasks.target_pool.x.flatten(1)
    test = tasks.target_test.x.flatten(1)
    assert not (torch.cdist(test, pool).min(dim=1).values < 1e-6).any()
    assert "Korean" in tasks.summary() or tasks.target_alphabet in tasks.summary()


@pytest.mark.real_data
def test_make_tasks_rejects_a_source_alphabet_as_target(tasks: mt.TwoTasks) -> None:
    from lecture_utils import omniglot

    with pytest.raises(ValueError, match="held-out alphabet"):
        mt.make_tasks(omniglot.load_omniglot(), target_alphabet=tasks.source_alphabets[0])


@pytest.mark.real_data
def test_linear_probe_keeps_b_and_finetune_records_forgetting(tasks: mt.TwoTasks) -> None:
    probe = mt.run_method(tasks, "linear_probe", 2, seed=0, budget=TINY, progress=False)
    fine = mt.run_method(
        tasks, "finetune", 2, seed=0, budget=TINY, track_forgetting=True, progress=False
    )
    # Both start from the same cached pretrained network: before fine-tuning, B's accuracy is
    # exactly what the frozen-trunk probe keeps.
    assert fine.source_curve[0] == pytest.approx(probe.source_accuracy)
    epochs = mt._epochs_for(TINY.adapt_steps, 2 * tasks.target_test.num_classes, 8)
    assert len(fine.source_curve) == len(fine.target_curve) == epochs + 1
    assert fine.source_accuracy == pytest.approx(fine.source_curve[-1])
    n_a = tasks.target_test.num_classes
    assert probe.trained_parameters == 8 * n_a + n_a  # only the new linear head
    # Memoised: asking again returns the stored result without training.
    assert mt.run_method(tasks, "linear_probe", 2, 0, TINY, progress=False) is probe
    assert mt.run_method(tasks, "finetune", 2, 0, TINY, progress=False) is fine  # tracked run


@pytest.mark.real_data
def test_run_experiment_runs_every_method_and_the_sweep(tasks: mt.TwoTasks) -> None:
    threads = torch.get_num_threads()
    exp = mt.run_experiment(
        tasks, [1, 2], seeds=[0], budget=TINY, extra_weights=[0.2, 0.5], sweep_shots=2,
        progress=False,
    )  # fmt: skip
    assert len(exp.results) == 4 * 2 + 1
    assert torch.get_num_threads() == threads  # the single-thread run restored the setting
    assert exp.methods == list(mt.METHODS) and exp.shots == [1, 2]
    for r in exp.results:
        assert 0.0 <= r.target_accuracy <= 1.0
        assert (r.source_accuracy is None) == (r.method == "scratch")
    assert len(mt.weight_sweep_table(exp, 2).splitlines()) == 2 + 2
    assert "A from scratch" in mt.accuracy_table(exp) and "(no B head)" in mt.summary_table(exp, 2)
    assert mt.forgetting_numbers(exp, 2)["curve"]
    assert "frozen trunk" in mt.closing_verdict(exp)
    with pytest.raises(ValueError, match="non-empty subset"):
        mt.run_experiment(tasks, [1], methods=["maml"], budget=TINY, progress=False)


@pytest.mark.real_data
def test_controls_rerun_with_the_chosen_methods(tasks: mt.TwoTasks) -> None:
    calls = []

    def runner(tasks, shots, methods, **kwargs):
        calls.append((shots, methods))
        return mt.run_experiment(tasks, shots, methods, progress=False, **kwargs)

    panel, run = mt.build_controls(tasks, TINY, default_shots=[1], runner=runner)
    exp = run()
    assert calls == [([1], list(mt.METHODS))] and len(exp.results) == 4
    checkboxes = panel.children[0].children[1].children
    for box in checkboxes[1:]:
        box.value = False
    assert run().methods == ["scratch"]
    checkboxes[0].value = False
    assert run() is None  # nothing selected: a message, no training


# ---- summaries from known numbers -----------------------------------------------------------


def fake_experiment() -> mt.Experiment:
    def result(method: str, shots: int, seed: int, a: float, b: float | None) -> mt.RunResult:
        weight = 0.5 if method == "multitask" else None
        return mt.RunResult(method, shots, seed, weight, a, b, 10, 0.1, [0.6, b or 0], [0.0, a])

    results = []
    for seed, noise in enumerate([-0.02, 0.02]):
        for k, (scratch, fine, probe, multi) in {
            1: (0.10, 0.40, 0.45, 0.20),
            10: (0.60, 0.85, 0.80, 0.70),
        }.items():
            results += [
                result("scratch", k, seed, scratch + noise, None),
                result("finetune", k, seed, fine + noise, 0.30),
                result("linear_probe", k, seed, probe + noise, 0.60),
                result("multitask", k, seed, multi + noise, 0.55),
            ]
    return mt.Experiment(results, TINY, 1.0, {"A": 4, "B": 3})


def test_mean_std_and_verdicts_follow_the_numbers() -> None:
    exp = fake_experiment()
    mean, std, n = exp.mean_std("finetune", 10)
    assert (round(mean, 6), n) == (0.85, 2) and std == pytest.approx(0.02828, abs=1e-4)
    assert exp.mean_std("scratch", 10, "source_accuracy")[2] == 0
    verdict = mt.transfer_verdict(exp)
    assert "helps most at 1 example(s) per class (+35.0 points)" in verdict
    assert "+25.0 at 10" in verdict
    forgetting = mt.forgetting_numbers(exp, 10)
    assert forgetting["before"] == pytest.approx(60.0) and forgetting["drop"] == pytest.approx(30)
    assert "30.0% on B (60.0% before fine-tuning, -30.0 points)" in mt.closing_verdict(exp)


def test_plots_draw_one_line_per_method() -> None:
    exp = fake_experiment()
    fig = mt.plot_accuracy_vs_shots(exp)
    assert len(fig.axes[0].containers) == 4  # one errorbar container per method
    fig = mt.plot_forgetting(exp, 10)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 1 + 2 + 1  # curve, 2 methods, chance
    fig = mt.plot_forgetting(exp, 10, compare={"lr x10": fake_experiment()})
    assert len(fig.axes[0].lines) == 2 + 2 + 1
    with pytest.raises(ValueError, match="No fine-tuning run"):
        mt.plot_forgetting(exp, 5)


# ---- source training: shifts and the cosine schedule ----------------------------------------


def test_random_shift_moves_each_image_by_at_most_max_shift() -> None:
    x = torch.zeros(50, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0  # one ink pixel in the middle
    gen = torch.Generator().manual_seed(0)
    moved = mt.random_shift(x, 2, gen)
    assert moved.shape == x.shape
    where = torch.stack([(m[0] == 1).nonzero()[0] for m in moved])  # [50, 2]
    offsets = where - 4
    assert offsets.abs().max() == 2
    assert len({tuple(o) for o in offsets.tolist()}) > 5  # different images, different moves
    assert torch.equal(moved.sum(dim=(1, 2, 3)), torch.ones(50))  # ink kept, nothing added
    assert torch.equal(mt.random_shift(x, 0, gen), x)
    with pytest.raises(ValueError, match="max_shift=-1"):
        mt.random_shift(x, -1, gen)


def test_random_shift_fills_the_gap_with_the_paper_of_inverted_images() -> None:
    x = torch.ones(8, 1, 6, 6)  # inverted paper: all ones
    assert torch.equal(mt.random_shift(x, 2, torch.Generator().manual_seed(1)), x)


def test_train_on_source_decays_the_learning_rate_and_learns() -> None:
    data = random_task(3, 30)
    torch.manual_seed(0)
    model = convnet.Classifier(convnet.ConvTrunk(channels=8), 3)
    losses = mt.train_on_source(model, data, steps=40, lr=1e-2, batch_size=15, progress=False)
    assert len(losses) == 40
    assert sum(losses[-5:]) < sum(losses[:5])
    with pytest.raises(ValueError, match="steps=0"):
        mt.train_on_source(model, data, steps=0, progress=False)
