"""Galleries and names: titles, grid sizes and clear errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from lecture_utils.analysis import plotting  # noqa: E402


def test_pretty_name_and_character_label() -> None:
    class Data:
        characters = ["character01", "Greek/character02"]
        alphabets = ["Japanese_(katakana)", "Greek"]

    assert plotting.pretty_name("Japanese_(katakana)") == "Japanese (katakana)"
    assert plotting.character_label(Data(), 0) == "Japanese_(katakana)/character01"
    assert plotting.character_label(Data(), 1) == "Greek/character02"


def test_image_grid_lays_out_titles_and_hides_spare_axes() -> None:
    fig = plotting.image_grid([torch.zeros(4, 4)] * 5, titles=list("abcde"), ncols=3)
    axes = fig.axes
    assert len(axes) == 6 and [a.get_title() for a in axes[:5]] == list("abcde")
    assert not axes[5].images  # the spare sixth cell stays empty
    with pytest.raises(ValueError, match="at least one image"):
        plotting.image_grid([])
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        plotting.image_grid([torch.zeros(2, 2)] * 3, titles=["a", "b"])


@pytest.mark.parametrize(("n", "ncols", "cell"), [(4, 4, 1.1), (24, 12, 0.8), (5, 5, 2.2)])
def test_galleries_fit_a_slide_with_readable_titles(n: int, ncols: int, cell: float) -> None:
    """Narrow grids are centred on a figure at least 9 in wide; titles stay >= 11 pt."""
    from lecture_utils.core import figure_style

    with matplotlib.rc_context():
        figure_style.apply_style(force=True)
        fig = plotting.image_grid(
            [torch.rand(8, 8)] * n, [f"{i:02d}" for i in range(n)], ncols=ncols, cell_size=cell
        )
        assert figure_style.audit_figure(fig) == []
        assert fig.get_figwidth() >= 9.0
        centres = [ax.get_position().x0 + ax.get_position().width / 2 for ax in fig.axes[:ncols]]
        assert sum(centres) / ncols == pytest.approx(0.5, abs=0.02)
