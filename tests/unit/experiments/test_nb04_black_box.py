"""experiments.nb04_black_box: notebook 04's runners on a tiny synthetic data set —
every table prints, budgets are steps, and the same seed gives the same numbers."""

from __future__ import annotations

import json
from types import SimpleNamespace

import matplotlib
import pytest
import torch
from shared import NOTEBOOK_DIR

from lecture_utils.core import figure_style, store
from lecture_utils.episodes.sampler import ClassSplit
from lecture_utils.experiments.nb04_black_box import families as bb
from lecture_utils.experiments.nb04_black_box import plots as plots
from lecture_utils.experiments.nb04_black_box import sweeps as sweeps
from lecture_utils.experiments.nb04_black_box.setup import Setup, describe_pretraining, prepare
from lecture_utils.training.evaluation import TaskAccuracy

matplotlib.use("Agg")
S = 16


@pytest.fixture
def setup(tmp_path, monkeypatch) -> Setup:
    monkeypatch.setenv(store.DATA_DIR_ENV, str(tmp_path))
    gen = torch.Generator().manual_seed(0)
    prototypes = (torch.rand(20, 1, S, S, generator=gen) > 0.5).float()
    images = (prototypes + 0.3 * torch.rand(20, 20, S, S, generator=gen)).clamp(0, 1)
    indices = {"train": list(range(10)), "val": list(range(10, 15)), "test": list(range(15, 20))}
    split = ClassSplit({k: [k] for k in indices}, indices)
    data = SimpleNamespace(images=images)
    return prepare(
        data, split, pretrain_chars=indices["train"], pretrain_steps=4, seed=0, n_test=20, n_val=10
    )


STAGES = [(2, 1, 2), (3, 1, 2), (4, 1, 2), (5, 1, 2)]


@pytest.fixture(autouse=True)
def styled():
    """The collection's figure style, as the notebooks have it; rcParams restored after."""
    with matplotlib.rc_context():
        figure_style.apply_style(force=True)
        yield
    matplotlib.pyplot.close("all")


def error_bar_count(fig) -> int:
    """Sets of error bars drawn (``errorbar`` and bars with ``yerr``/``xerr`` alike)."""
    error_bars = matplotlib.container.ErrorbarContainer
    return sum(isinstance(c, error_bars) for ax in fig.axes for c in ax.containers)


def test_families_table_and_homework_settings(setup: Setup) -> None:
    assert not setup.pretrained.loaded and "4 steps" in describe_pretraining(setup)
    run = bb.train_families(setup, steps=3, lstm_stages=STAGES, eval_every=2)
    assert run.steps == {"lstm": 8, "feedforward": 3, "attention": 3, "hypernet": 3, "snail": 3}
    assert run.models["snail"].max_support == bb.FAMILY_OPTIONS["snail"]["max_support"]
    assert len(run.histories["lstm"]) == 4 and set(run.snapshots) == {s[:2] for s in STAGES}
    ncm = bb.black_box.NearestClassMean(torch.nn.Flatten(), setup.bank.feature_dim)
    baseline = setup.evaluate(ncm)
    table = bb.family_table(setup, run, baseline)
    assert "t 95% interval" in table and all(f in table for f in run.models)
    results, histories = bb.homework_settings(setup, run, branch_steps=2, eval_every=2)
    assert set(results) == set(bb.HANDOUT) and histories[(2, 2)].steps[-1] == 2
    assert "the handout's ~90%" in bb.homework_lines(results, histories)
    accounting = bb.step_accounting(setup, run, finetune_steps=1)
    assert "attention e2e" in accounting and f"{setup.pretrained.steps + 8}" in accounting
    assert "paired" not in bb.versus_baseline(run.results, baseline)  # words, not jargon
    assert figure_style.audit_figure(plots.learning_curves(run.histories, chance=0.2)) == []
    fig = plots.homework_figure(results, histories, bb.HANDOUT)
    assert figure_style.audit_figure(fig) == []
    assert all(ax.get_ylim() == (0, 100) for ax in fig.axes)  # noise is not magnified
    fig = plots.versus_baseline_figure(run.results, baseline)
    assert figure_style.audit_figure(fig) == [] and error_bar_count(fig) == 1


def test_d_and_f_show_t_intervals_over_tasks(setup: Setup) -> None:
    """(d) support-order shuffling and (f) other K / other N carry t 95% error bars over tasks,
    say so, and pass the projector audit."""
    models = {
        "feedforward": bb.black_box.build_model(
            "feedforward", "features", feature_dim=setup.bank.feature_dim, seed=0
        ),
        "NCM baseline (h)": bb.black_box.NearestClassMean(
            torch.nn.Flatten(), setup.bank.feature_dim
        ),
    }
    rows = sweeps.permutation_rows(setup, models, n_batches=1)
    rate, largest = rows["NCM baseline (h)"]
    assert isinstance(rate, TaskAccuracy) and rate.n_tasks > 1 and rate.mean == 0 and largest < 1e-4
    fig = plots.bars({f: r for f, (r, _) in rows.items()}, "changed (%)", "d. Shuffling")
    assert "t 95% over tasks" in fig.axes[0].get_title() and error_bar_count(fig) == 1
    assert fig.axes[0].get_ylim()[0] == 0 and figure_style.audit_figure(fig) == []
    grid_k, grid_n = sweeps.generalisation(setup, models, [1, 2], [2, 5], n_tasks=4)
    assert all(isinstance(a, TaskAccuracy) for a in grid_k["feedforward"] + grid_n["feedforward"])
    fig = plots.generalisation_figure([1, 2], [2, 5], grid_k, grid_n)
    assert error_bar_count(fig) == 4 and figure_style.audit_figure(fig) == []
    assert "t 95% over tasks" in fig.legends[0].get_title().get_text()


def test_grid_lines_print_means_and_missing_cells() -> None:
    grid = {"lstm": [TaskAccuracy.from_scores([0.5, 0.7]), None], "old": [0.25, 0.5]}
    text = sweeps.grid_lines("N", [2, 5], grid)
    assert "60.0" in text and "nan" in text and "25.0" in text


def test_bars_without_intervals_say_nothing_about_them() -> None:
    fig = plots.bars({"a": 0.5, "b": 0.25}, "share (%)", "plain")
    assert error_bar_count(fig) == 0 and "t 95%" not in fig.axes[0].get_title()


def test_q3_is_reproducible_and_prints_its_findings(setup: Setup) -> None:
    first = sweeps.q3_sweep(setup, steps=2)
    again = sweeps.q3_sweep(setup, steps=2)
    assert [r.accuracy.mean for r in first.values()] == [r.accuracy.mean for r in again.values()]
    assert first["h over all of D_tr, 2"].phi == 2
    assert first["h per class, 64 each"].phi == 5 * 64
    assert first["hypernet W,b + prototype"].phi == 5 * 65
    assert first["nearest class mean"].theta == 0
    findings = sweeps.q3_findings(first)
    assert findings.count("points") == 4 and "pooling per class" in findings
    assert "t 95%" in sweeps.q3_table(first)
    answer = sweeps.q3_answer(first)
    assert answer.count("points") == 3 and "40 numbers of per-class context" in answer
    assert figure_style.audit_figure(plots.q3_figure(first, chance=0.2, steps=2)) == []


def test_q2_sweep_summarises_over_seeds(setup: Setup) -> None:
    pixels, contaminated = sweeps.q2_sweep(setup, counts=[5, 10], seeds=[0, 1], steps=2)
    assert len(pixels) == 8 and set(contaminated) == {5, 10}
    text = sweeps.q2_lines(pixels, contaminated, [5, 10], [0, 1])
    assert "t 95%" in text and "paired over seeds" in text
    last = sweeps.q2_last_step(pixels, [5, 10], [0, 1])
    assert last.count("10 - 5 characters") == 2 and "verdict" in last
    assert "no interval" in sweeps.q2_last_step(pixels, [5, 10], [0])
    mean, half = sweeps.seed_summary([0.5, 0.7])
    assert mean == pytest.approx(0.6) and half > 0.1
    assert sweeps.seed_summary([0.4]) == (0.4, 0.0)


def test_q2_last_step_verdicts_follow_the_paired_difference() -> None:
    seeds = [0, 1, 2]
    rising = {
        (r, n, s): n / 100 + 0.001 * s for r in (False, True) for n in (50, 60) for s in seeds
    }
    assert sweeps.q2_last_step(rising, [50, 60], seeds).count("still rising") == 2
    flat = {(r, n, s): 0.5 + 0.01 * ((n + s) % 3) for r in (False, True) for n in (50, 60)
            for s in seeds}  # fmt: skip
    assert "no clear rise" in sweeps.q2_last_step(flat, [50, 60], seeds)


def test_raw_pixel_mann_is_the_homework_model(setup: Setup) -> None:
    model, history, result = bb.raw_pixel_mann(setup, steps=3, eval_every=2)
    assert model.hidden == 128 and model.max_way == 2 and model.logit_scale == 1.0
    assert model.layer1.input_size == S * S + 2  # 784 + N for 28 px images
    assert isinstance(model.norm, torch.nn.Identity) and history.steps[-1] == 3
    assert len(result.per_task) == setup.n_test
    again = bb.raw_pixel_mann(setup, steps=3, eval_every=2)[2]
    assert again.mean == result.mean  # seeded
    text = bb.raw_mann_lines(result, history, result, chance=0.5)
    assert "after 3 steps" in text and "chance (50%)" in text and "t 95%" in text


def test_notebook_04_experiment_modules_do_not_import_each_other() -> None:
    import inspect
    import re

    for module in (bb, sweeps, plots):
        imports = re.findall(r"^from \.(\w+)", inspect.getsource(module), flags=re.M)
        assert not imports, f"{module.__name__} imports experiment module(s) {imports}"
    assert Setup is sweeps.Setup  # both use lecture_utils.experiments.nb04_black_box.setup


# ---- i. the benchmark recipe's stored figures ----------------------------------------------


def test_recipe_report_prints_the_stored_figures(tmp_path) -> None:
    figures = {
        "recipe": "hypernetwork on conv-64",
        "steps": 1800,
        "train_seconds": 540.0,
        "train_alphabets": ["Greek", "Latin"],
        "train_classes": 200,
        "torch_threads": 2,
        "seed": 0,
        "twenty_way_tasks": 200,
        "models": {
            "hypernetwork (black box)": {
                "five_way": [93.41, 0.52],
                "five_way_tasks": 1000,
                "twenty_way_error_Balinese": [51.26, 1.3],
                "twenty_way_error_Korean": [7.04, 0.8],
            },
            "NCM on its encoder": {
                "five_way": [92.0, 0.6],
                "five_way_tasks": 1000,
                "twenty_way_error_Balinese": [53.0, 1.2],
                "twenty_way_error_Korean": [8.5, 0.9],
            },
        },
    }
    path = tmp_path / "black_box.json"
    path.write_text(json.dumps(figures))
    text = bb.recipe_report(path)
    assert "1800 steps in 9.0 min" in text
    rows = {line.split("  ")[0]: line for line in text.splitlines()}
    hyper = rows["hypernetwork (black box)"]
    # columns in the stored order: 5-way, then Balinese, then Korean
    assert hyper.index("93.4% ± 0.5%") < hyper.index("51.3% ± 1.3%") < hyper.index("7.0% ± 0.8%")
    assert "53.0% ± 1.2%" in rows["NCM on its encoder"]
    assert "20-way err. Balinese" in text and "20-way err. Korean" in text


def test_recipe_report_says_how_to_make_missing_figures(tmp_path) -> None:
    text = bb.recipe_report(tmp_path / "nothing.json")
    assert "make bench" in text and str(tmp_path) not in text


def test_notebook_04_shows_the_stored_benchmark_figures() -> None:
    """Section (i) prints benchmarks/results/black_box.json; the stored output must be what the
    committed file gives now (rerun notebook 04 after `make bench`)."""
    nb_path = NOTEBOOK_DIR / "04_black_box_adaptation.ipynb"
    cells = json.loads(nb_path.read_text())["cells"]
    (cell,) = [c for c in cells if "bb.recipe_report()" in "".join(c["source"])]
    stored = "".join("".join(o.get("text", "")) for o in cell["outputs"])
    assert bb.RECIPE_FIGURES.is_file(), "benchmarks/results/black_box.json is missing"
    assert stored == bb.recipe_report() + "\n"
