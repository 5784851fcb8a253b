"""Notebook 01's runners (experiments.multitask_transfer), joint training and result tables."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from lecture_utils.analysis.tables import Run, Runs
from lecture_utils.core import runtime
from lecture_utils.data import labelled
from lecture_utils.data.labelled import LabelledImages
from lecture_utils.experiments.nb01_multitask import runs as mt
from lecture_utils.experiments.nb01_multitask.tasks import TwoTasks, make_tasks
from lecture_utils.models import convnet
from lecture_utils.training import multitask, pretrain

TINY = mt.Budget(
    channels=8, pretrain_steps=4, multitask_steps=4, adapt_steps=4, probe_steps=4,
    batch_size=16, multitask_target_batch=8, adapt_batch_size=8,
)  # fmt: skip


def test_budget_rejects_zero_steps() -> None:
    with pytest.raises(ValueError, match="adapt_steps=0"):
        mt.Budget(adapt_steps=0)


# ---- joint training -------------------------------------------------------------------------


def tiny_two_task_model() -> convnet.MultiHeadClassifier:
    with runtime.seeded_init(0):
        return convnet.MultiHeadClassifier(convnet.ConvTrunk(channels=4), {"A": 4, "B": 3})


def random_task(classes: int, n: int) -> LabelledImages:
    gen = torch.Generator().manual_seed(classes)
    x = torch.rand(n, 1, 28, 28, generator=gen)
    return LabelledImages(x, torch.arange(n) % classes, classes)


@pytest.mark.parametrize("weight, ignored", [(1.0, "B"), (0.0, "A")])
def test_multitask_weight_extremes_ignore_one_task(weight: float, ignored: str) -> None:
    model = tiny_two_task_model()
    other = "A" if ignored == "B" else "B"
    frozen = model.heads[ignored].weight.detach().clone()
    trained = model.heads[other].weight.detach().clone()
    log = multitask.train_multitask(
        model, random_task(4, 12), random_task(3, 20), weight, steps=3, batch_size=8,
        target_batch_size=4, device="cpu", progress=False,
    )  # fmt: skip
    assert log.steps == 3
    torch.testing.assert_close(model.heads[ignored].weight, frozen)
    assert not torch.equal(model.heads[other].weight, trained)
    assert model.heads[ignored].weight.grad.abs().sum() == 0  # no gradient reaches it
    assert model.heads[other].weight.grad.abs().sum() > 0


def test_multitask_is_reproducible_and_rejects_bad_weights() -> None:
    losses = []
    for _ in range(2):
        log = multitask.train_multitask(
            tiny_two_task_model(), random_task(4, 12), random_task(3, 20), 0.5, steps=4,
            batch_size=8, target_batch_size=4, max_shift=2, seed=3, device="cpu",
            progress=False,
        )  # fmt: skip
        losses.append(log.loss)
    assert losses[0] == losses[1]
    with pytest.raises(ValueError, match="weight=1.5"):
        multitask.train_multitask(
            tiny_two_task_model(), random_task(4, 8), random_task(3, 8), 1.5, steps=1,
            progress=False,
        )  # fmt: skip


# ---- runs on real data ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(request):
    request.getfixturevalue("real_data")
    from lecture_utils.data import omniglot

    return omniglot.load_omniglot()


@pytest.fixture
def tasks(data, tmp_path, monkeypatch):
    monkeypatch.setenv("LECTURE_DATA_DIR", str(tmp_path))  # the pretrained-model cache
    mt.clear_caches()
    return make_tasks(data)


@pytest.mark.real_data
def test_make_tasks_keeps_a_out_of_b_and_splits_by_drawer(tasks: TwoTasks, data) -> None:
    assert tasks.target_alphabet not in tasks.source_alphabets
    nb, na = tasks.source_train.num_classes, tasks.target_test.num_classes
    assert len(tasks.source_train) == 15 * nb and len(tasks.source_test) == 5 * nb
    assert len(tasks.target_pool) == 10 * na and len(tasks.target_test) == 10 * na
    pool, test = tasks.target_pool.x.flatten(1), tasks.target_test.x.flatten(1)
    assert not (torch.cdist(test, pool).min(dim=1).values < 1e-6).any()
    assert make_tasks(data).key == tasks.key  # a key of the content, not of the object
    assert make_tasks(data, source_train_drawers=14).key != tasks.key
    with pytest.raises(ValueError, match="held-out alphabet"):
        make_tasks(data, target_alphabet=tasks.source_alphabets[0])


@pytest.mark.real_data
def test_pretraining_reaches_a_working_accuracy_on_real_data(data) -> None:
    train, test = labelled.drawer_split(data.images, range(5), 10, 10, seed=0)
    model = pretrain.new_classifier(5, channels=8, seed=0)
    settings = pretrain.PretrainSettings(
        steps=60, lr=1e-2, batch_size=10, schedule="cosine", augment="shift", strength=2
    )
    log = pretrain.pretrain(model, train, settings, device="cpu", progress=False)
    assert log.lr[0] > 10 * log.lr[-1]  # the cosine decay is there
    assert labelled.accuracy(model, test) > 0.6  # held-out drawers; chance is 0.2


@pytest.mark.real_data
@pytest.mark.parametrize("method", mt.METHODS)
def test_each_method_is_reproducible_and_memoised(tasks: TwoTasks, method: str) -> None:
    first = mt.run_method(tasks, method, 2, seed=1, budget=TINY, device="cpu", progress=False)
    assert mt.run_method(tasks, method, 2, 1, TINY, device="cpu", progress=False) is first
    mt.clear_caches()
    again = mt.run_method(tasks, method, 2, seed=1, budget=TINY, device="cpu", progress=False)
    assert again is not first and again.scores == first.scores
    assert (first.scores["B"] is None) == (method == "scratch")
    assert first.x == 2 and first.seed == 1


@pytest.mark.real_data
def test_linear_probe_keeps_b_and_finetune_tracks_forgetting(tasks: TwoTasks) -> None:
    probe = mt.run_method(tasks, "linear_probe", 2, seed=0, budget=TINY, progress=False)
    fine = mt.run_method(tasks, "finetune", 2, seed=0, budget=TINY, track_forgetting=True,
                         progress=False)  # fmt: skip
    # Same cached pretrained network: B before fine-tuning = what the frozen probe keeps.
    assert fine.info["B"][0] == pytest.approx(probe.scores["B"])
    assert fine.info["steps"] == [0, 1, 2, 3, 4] and len(fine.info["A"]) == 5
    assert fine.scores["B"] == pytest.approx(fine.info["B"][-1])
    n_a = tasks.target_test.num_classes
    assert probe.info["params"] == 8 * n_a + n_a  # only the new linear head
    assert mt.run_method(tasks, "finetune", 2, 0, TINY, progress=False) is fine


@pytest.mark.real_data
def test_device_default_comes_from_runtime(tasks: TwoTasks, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(runtime, "get_device", lambda: calls.append(1) or torch.device("cpu"))
    mt.run_method(tasks, "scratch", 1, seed=0, budget=TINY, device="cpu", progress=False)
    assert not calls
    mt.run_method(tasks, "scratch", 1, seed=0, budget=TINY, progress=False)
    assert calls
    model = mt.pretrained_on_source(tasks, TINY, seed=0, device="cpu", progress=False)
    assert {p.device.type for p in model.parameters()} == {"cpu"}


@pytest.mark.real_data
def test_run_experiment_runs_every_method_and_the_sweep(tasks: TwoTasks, full_mode: None) -> None:
    threads = torch.get_num_threads()
    runs = mt.run_experiment(tasks, [1, 2], seeds=[0, 1], budget=TINY, extra_weights=[0.2, 0.5],
                             sweep_shots=2, progress=False)  # fmt: skip
    assert len(runs.runs) == (4 * 2 + 1) * 2
    assert torch.get_num_threads() == threads
    assert runs.arms == list(mt.METHODS) and runs.xs == [1, 2] and runs.seeds == [0, 1]
    assert len(mt.weight_sweep_table(runs, 2).splitlines()) == 1 + 2 + 2
    assert "t 95%" in mt.accuracy_table(runs) and "(no B head)" in mt.summary_table(runs, 2)
    assert "frozen trunk" in mt.closing_verdict(runs)
    with pytest.raises(ValueError, match="non-empty subset"):
        mt.run_experiment(tasks, [1], methods=["maml"], budget=TINY, progress=False)


@pytest.mark.real_data
def test_controls_rerun_with_the_chosen_methods(tasks: TwoTasks) -> None:
    calls = []

    def runner(tasks, shots, methods, **kwargs):
        calls.append((shots, methods))
        return mt.run_experiment(tasks, shots, methods, progress=False, **kwargs)

    panel, run = mt.build_controls(tasks, TINY, default_shots=[1], runner=runner)
    runs = run()
    assert calls == [([1], list(mt.METHODS))] and len(runs.runs) == 4
    checkboxes = panel.children[0].children[1].children
    for box in checkboxes[1:]:
        box.value = False
    assert run().arms == ["scratch"]
    checkboxes[0].value = False
    assert run() is None  # nothing selected: a message, no training


# ---- summaries from known numbers -----------------------------------------------------------


def fake_runs() -> Runs:
    runs = []
    for seed, noise in enumerate([-0.02, 0.0, 0.02]):
        for k, (scratch, fine, probe, multi) in {
            1: (0.10, 0.40, 0.45, 0.20),
            10: (0.60, 0.85, 0.80, 0.70),
        }.items():
            curve = {"steps": [0, 5], "B": [0.6, 0.3 + noise], "A": [0.0, fine + noise]}
            runs += [
                Run("scratch", k, seed, {"A": scratch + noise, "B": None}, None, {"params": 9}),
                Run("finetune", k, seed, {"A": fine + 2 * noise, "B": 0.3 + noise}, None,
                    {"params": 9, **curve}),
                Run("linear_probe", k, seed, {"A": probe, "B": 0.6}, None, {"params": 1}),
                Run("multitask", k, seed, {"A": multi + noise, "B": 0.55}, 0.5, {"params": 9}),
            ]  # fmt: skip
    return Runs(runs, 1.0)


def test_verdicts_use_paired_t_intervals(full_mode: None) -> None:
    runs = fake_runs()
    verdict = mt.declared_comparisons(runs)
    # probe - scratch at 1 shot: 0.35 - noise per seed -> +35.0 ± t(2)·0.02/sqrt(3)·100
    assert "transfer: linear probe minus A from scratch (paired over seeds)" in verdict
    assert "  shots 1: +35.0 ± 5.0 points (paired t 95%, n=3): holds" in verdict
    # declared, not picked: at 10 shots the probe (0.80) is reported against multi-task (0.70)
    # even though fine-tuning (0.85) has the higher mean
    lines = verdict.splitlines()
    probe_vs_multi = lines.index(
        "transfer: linear probe minus multi-task (A+B jointly) (paired over seeds)"
    )
    assert lines[probe_vs_multi + 2].startswith("  shots 10: +10.0 ± ")
    found = mt.findings_markdown(runs)
    assert found.count("* **") == len(mt.DECLARED)
    assert "(85.0% vs 70.0% at 10 shots)" in found
    report = mt.forgetting_report({"ft": runs}, 10)
    assert "B 60.0 ± 0.0% before -> 30.0 ± 5.0% after" in report
    assert "drop on B (before - after): +30.0 ± 5.0 points (paired t 95%, n=3): holds" in report
    assert "30.0% on B (60.0% right after pretraining)" in mt.closing_verdict(runs)
    table = mt.accuracy_table(runs)
    assert "t 95%" in table.splitlines()[0] and "85.0 ± 9.9" in table


def test_plots_draw_one_line_per_method() -> None:
    runs = fake_runs()
    fig = mt.plot_accuracy_vs_shots(runs)
    assert len(fig.axes[0].containers) == 4  # one errorbar container per method
    assert "t 95%" in fig.axes[0].get_title()
    fig = mt.plot_forgetting(runs, 10, compare={"other": fake_runs()})
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2 + 2  # two curves, two methods
    with pytest.raises(ValueError, match="recorded the curve"):
        mt.plot_forgetting(runs, 5)


def test_few_shot_split_leaves_the_rest_of_the_pool_for_validation() -> None:
    x = torch.arange(3 * 4, dtype=torch.float32).view(12, 1, 1, 1).expand(12, 1, 2, 2)
    pool = LabelledImages(x.clone(), torch.arange(3).repeat_interleave(4), 3)
    drawn, rest = labelled.few_shot_split(pool, 1, seed=3)
    assert torch.equal(drawn.x, labelled.few_shot(pool, 1, seed=3).x)  # the same draw
    ids = lambda d: set(d.x[:, 0, 0, 0].tolist())  # noqa: E731
    assert (
        len(rest) == 9 and ids(drawn) | ids(rest) == set(range(12)) and not ids(drawn) & ids(rest)
    )
    assert torch.bincount(rest.y).tolist() == [3, 3, 3]
    assert labelled.few_shot_split(pool, 4)[1] is None


@pytest.mark.real_data
def test_choose_head_lr_scores_on_pool_drawers_not_test(tasks: TwoTasks, monkeypatch) -> None:
    seen = []
    real = mt.fine_tuning.fine_tune

    def spy(model, train, recipe, *, evaluate, **kw):
        seen.append((recipe.lr, recipe.trunk_lr, evaluate[0]))
        return real(model, train, recipe, evaluate=evaluate, **kw)

    monkeypatch.setattr(mt.fine_tuning, "fine_tune", spy)
    best, scores = mt.choose_head_lr(tasks, TINY, [1e-3, 1e-1], 2, [0], "cpu", False)
    assert best == max(scores, key=lambda lr: scores[lr][0]) and set(scores) == {1e-3, 1e-1}
    assert [(lr, trunk) for lr, trunk, _ in seen] == [
        (1e-3, TINY.finetune_lr),
        (1e-1, TINY.finetune_lr),
    ]
    val = seen[0][2]
    pool_rows = {tuple(r.tolist()) for r in tasks.target_pool.x.flatten(1)}
    assert all(tuple(r.tolist()) in pool_rows for r in val.x.flatten(1))  # pool, not test
    assert len(val) == len(tasks.target_pool) - 2 * tasks.target_pool.num_classes
