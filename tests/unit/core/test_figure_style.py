"""lecture_utils.core.figure_style: the slide-sized style, readable colours and the figure
audit, which must flag planted problems (tiny fonts, missing labels, a legend over a line,
overlapping tick labels, a narrow figure) and pass a figure without them."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lecture_utils.core import figure_style, runtime  # noqa: E402

FONT_KEYS = [
    "font.size",
    "axes.titlesize",
    "axes.labelsize",
    "xtick.labelsize",
    "ytick.labelsize",
    "legend.fontsize",
    "legend.title_fontsize",
    "figure.titlesize",
    "figure.labelsize",
]


@pytest.fixture(autouse=True)
def styled() -> Iterator[None]:
    """Each test runs in the collection's style; rcParams are restored afterwards."""
    with mpl.rc_context():
        figure_style.apply_style(force=True)
        yield
    plt.close("all")


def good_figure() -> Figure:
    fig, ax = plt.subplots()
    x = np.linspace(0, 10, 50)
    ax.plot(x, np.sin(x), label="sine")
    ax.plot(x, np.cos(x), label="cosine")
    ax.set(xlabel="time (s)", ylabel="signal (V)", title="two waves")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


# ---- the style ----------------------------------------------------------------------------


def test_style_fits_a_1280x720_slide_with_large_fonts() -> None:
    width, height = figure_style.STYLE["figure.figsize"]
    dpi = figure_style.STYLE["figure.dpi"]
    assert dpi >= figure_style.MIN_DPI
    assert figure_style.MIN_WIDTH_PX <= width * dpi <= 1280 and height * dpi <= 720
    for key in FONT_KEYS:
        assert float(figure_style.STYLE[key]) >= figure_style.MIN_FONT_PT, key
    assert mpl.rcParams["figure.constrained_layout.use"] is True
    assert mpl.rcParams["legend.frameon"] is True and mpl.rcParams["legend.loc"] == "best"


def test_palette_is_the_cycle_and_dark_enough() -> None:
    cycle = [c.lower() for c in mpl.rcParams["axes.prop_cycle"].by_key()["color"]]
    assert cycle == [c.lower() for c in figure_style.PALETTE]
    contrasts = [figure_style.contrast_on_white(c) for c in figure_style.PALETTE]
    assert all(c >= 3.0 for c in contrasts[:4]), contrasts  # the first four read as text too
    assert all(c >= 2.0 for c in contrasts), contrasts  # no yellow


@pytest.mark.parametrize("n", [1, 2, 5, 10, 11, 15, 20])
def test_label_colours_stay_readable_and_distinct_up_to_20(n: int) -> None:
    colours = figure_style.label_colours(n)
    assert len(colours) == len(set(colours)) == n
    assert min(figure_style.contrast_on_white(c) for c in colours) >= 3.0
    if n > 1:  # CIE76: 20 or more is a different colour, not a shade of the same one
        assert min(figure_style.delta_e(a, b) for a, b in itertools.combinations(colours, 2)) > 20


def test_colour_difference_is_a_real_distance() -> None:
    assert figure_style.delta_e("#0072B2", "#0072B2") == 0
    assert figure_style.delta_e("#0072B2", "#0074B4") < 2 < figure_style.delta_e("#0072B2", "red")
    assert figure_style.lab("white")[0] == pytest.approx(100, abs=0.1)


def test_tab20_would_fail_the_contrast_rule() -> None:
    """The old label colours (tab20 at N > 10) include pale shades: the rule is not vacuous."""
    cmap = mpl.colormaps["tab20"]
    assert min(figure_style.contrast_on_white(mpl.colors.to_hex(cmap(i))) for i in range(20)) < 1.6


def test_seed_everything_applies_the_style_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(figure_style, "_applied", False)
    mpl.rcParams["figure.dpi"] = 50
    runtime.seed_everything(0)
    assert mpl.rcParams["figure.dpi"] == figure_style.STYLE["figure.dpi"]
    mpl.rcParams["figure.dpi"] = 50  # a notebook's own later change is left alone
    runtime.seed_everything(1)
    assert mpl.rcParams["figure.dpi"] == 50


# ---- the audit ----------------------------------------------------------------------------


def test_a_clean_figure_passes() -> None:
    assert figure_style.audit_figure(good_figure()) == []


def test_tiny_font_is_flagged() -> None:
    fig = good_figure()
    fig.axes[0].set_title("two waves", fontsize=7)
    problems = figure_style.audit_figure(fig)
    assert any(p.startswith("font 7 pt") and "two waves" in p for p in problems), problems


def test_tick_labels_count_as_fonts() -> None:
    fig = good_figure()
    fig.axes[0].tick_params(labelsize=8)
    assert any(p.startswith("font 8 pt") for p in figure_style.audit_figure(fig))


def test_missing_axis_labels_are_flagged() -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    problems = figure_style.audit_figure(fig)
    assert any("no x label" in p for p in problems) and any("no y label" in p for p in problems)


def test_a_shared_axis_or_figure_label_counts() -> None:
    fig, axes = plt.subplots(1, 2, sharey=True)
    for ax in axes:
        ax.plot([0, 1], [0, 1])
    axes[0].set_ylabel("loss")
    fig.supxlabel("step")
    assert figure_style.audit_figure(fig) == []


def test_image_grids_need_no_labels_but_image_axes_with_numbers_do() -> None:
    fig, axes = plt.subplots(1, 2)
    axes[0].imshow(np.zeros((4, 4)))
    axes[0].axis("off")
    axes[1].imshow(np.zeros((4, 4)))
    axes[1].set_yticks([0, 3], ["first row", "last row"])
    axes[1].set_xticks([])
    assert figure_style.audit_figure(fig) == []
    axes[1].set_xticks([0, 3])  # pixel numbers now: they need a label
    assert any("no x label" in p for p in figure_style.audit_figure(fig))


def test_legend_over_a_line_is_flagged() -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0.5, 0.5], label="flat")  # through the middle, where the legend goes
    ax.set(xlabel="x (m)", ylabel="y (m)", ylim=(0, 1))
    ax.legend(loc="center")
    problems = figure_style.audit_figure(fig)
    assert any("legend covers plotted data" in p for p in problems), problems


def test_legend_over_a_line_segment_without_a_vertex_inside_is_flagged() -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="diagonal")  # only two vertices, both far from the legend
    ax.set(xlabel="x (m)", ylabel="y (m)")
    ax.legend(loc="center")
    assert any("legend covers" in p for p in figure_style.audit_figure(fig))


def test_legend_over_bars_is_flagged_and_beside_them_is_not() -> None:
    fig, ax = plt.subplots()
    ax.bar(["a", "b", "c"], [90, 95, 92], label="accuracy")
    ax.set(xlabel="model", ylabel="accuracy (%)")
    ax.legend(loc="lower center")
    assert any("legend covers" in p for p in figure_style.audit_figure(fig))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    assert figure_style.audit_figure(fig) == []


def test_overlapping_tick_labels_are_flagged() -> None:
    fig, ax = plt.subplots(figsize=(9, 4))
    names = [f"a rather long model name {i}" for i in range(8)]
    ax.bar(names, range(8))
    ax.set(xlabel="model", ylabel="score (points)")
    assert any("tick labels" in p and "overlap" in p for p in figure_style.audit_figure(fig))
    ax.tick_params(axis="x", labelrotation=90)
    assert not any("overlap" in p for p in figure_style.audit_figure(fig))


def test_overlapping_titles_and_text_outside_the_figure_are_flagged() -> None:
    fig, axes = plt.subplots(1, 3, figsize=(9, 3), sharey=True)
    for ax in axes:
        ax.plot([0, 1], [0, 1])
        ax.set(xlabel="x (m)", ylabel="y (m)", title="a title far too long for its panel, really")
    problems = figure_style.audit_figure(fig)
    assert any(p.startswith("titles") and "overlap" in p for p in problems), problems
    assert any("sticks out" in p for p in problems), problems
    for ax in axes:
        ax.set_title("short")
    assert figure_style.audit_figure(fig) == []


def test_small_figures_and_low_dpi_are_flagged() -> None:
    fig = good_figure()
    fig.set_size_inches(5, 3)
    fig.set_dpi(72)
    problems = figure_style.audit_figure(fig)
    assert any("px wide" in p for p in problems) and any(p.startswith("dpi 72") for p in problems)
    assert not any("px wide" in p for p in figure_style.audit_figure(good_figure()))
    wide = good_figure()
    wide.set_size_inches(14, 4)  # 1540 px: wider than the slide
    assert any("> 1280" in p for p in figure_style.audit_figure(wide))


def test_audit_hook_records_every_saved_figure(tmp_path: Path) -> None:
    target = tmp_path / "audit.jsonl"
    figure_style.install_audit(target)
    try:
        good_figure().savefig(io.BytesIO(), format="png")
        bad, ax = plt.subplots(figsize=(4, 3))
        ax.plot([0, 1], [0, 1])
        bad.savefig(io.BytesIO(), format="png")
    finally:
        figure_style.uninstall_audit()
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(records) == 2
    assert records[0]["problems"] == [] and records[0]["figure"] == "two waves"
    assert records[0]["width_px"] == round(11.0 * 110)
    assert any("no x label" in p for p in records[1]["problems"])
    good_figure().savefig(io.BytesIO(), format="png")  # uninstalled: nothing more recorded
    assert len(target.read_text().splitlines()) == 2


def test_apply_style_installs_the_hook_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "audit.jsonl"
    monkeypatch.setenv(figure_style.AUDIT_ENV, str(target))
    try:
        figure_style.apply_style(force=True)
        good_figure().savefig(io.BytesIO(), format="png")
    finally:
        figure_style.uninstall_audit()
    assert len(target.read_text().splitlines()) == 1
