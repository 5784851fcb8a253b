"""lecture_utils.analysis.episode_plots: label colours that read at N = 20, and episode
figures that pass the projector audit (fonts, size, labels, no overlapping tick labels) from
a 5-way 1-shot task up to the explorer's 20-way 10-shot ones."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecture_utils.analysis import episode_plots  # noqa: E402
from lecture_utils.core import figure_style  # noqa: E402
from lecture_utils.episodes.sampler import EpisodeSampler  # noqa: E402

S = 16


@pytest.fixture(autouse=True)
def styled():
    with matplotlib.rc_context():
        figure_style.apply_style(force=True)
        yield
    plt.close("all")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(30, 20, S, S, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("n", [5, 10, 20])
def test_label_colours_read_on_white(n: int) -> None:
    colours = episode_plots.label_colours(n)
    assert colours.shape == (n, 3) and colours.min() >= 0 and colours.max() <= 1
    hexes = [matplotlib.colors.to_hex(c.tolist()) for c in colours]
    assert len(set(hexes)) == n
    assert min(figure_style.contrast_on_white(h) for h in hexes) >= 3.0


@pytest.mark.parametrize(("n", "k", "q"), [(5, 1, 1), (10, 5, 5), (20, 10, 10), (20, 1, 19)])
def test_draw_episode_passes_the_audit(images: torch.Tensor, n: int, k: int, q: int) -> None:
    episode = EpisodeSampler(
        images, list(range(30)), n_way=n, k_shot=k, n_query=q, batch_size=1, seed=0
    ).sample()
    fig = episode_plots.draw_episode(episode, title=f"{n}-way {k}-shot")
    assert figure_style.audit_figure(fig) == []
    colours = [t.get_color() for t in fig.axes[1].get_yticklabels()]
    assert len(set(map(str, colours))) == n  # the query side names labels in their colours too


def test_homework_task_passes_the_audit(images: torch.Tensor) -> None:
    batch = EpisodeSampler(
        images, n_way=5, k_shot=2, n_query=1, batch_size=1, seed=0, layout="homework"
    ).sample()
    fig = episode_plots.draw_homework_task(batch, k_shot=2)
    assert figure_style.audit_figure(fig) == []


class FakeAlphabets:
    """Just what ``split_figure`` reads: 8 alphabets of 3 characters, long names included."""

    image_size = S
    names = ["Japanese_(katakana)", "Greek", "Latin", "Sanskrit", "Tagalog", "Korean", "Bali", "X"]

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def character_indices(self, alphabet: str) -> torch.Tensor:
        first = 3 * self.names.index(alphabet)
        return torch.arange(first, first + 3)


@pytest.mark.parametrize("per_alphabet", [4, 8, 12])
def test_split_figure_keeps_long_row_names_inside(images: torch.Tensor, per_alphabet: int) -> None:
    from lecture_utils.episodes.sampler import ClassSplit

    data = FakeAlphabets(images)
    groups = {"train": data.names[:5], "val": data.names[5:6], "test": data.names[6:]}
    split = ClassSplit(groups, {s: [] for s in groups})
    fig = episode_plots.split_figure(data, split, per_alphabet=per_alphabet)
    assert figure_style.audit_figure(fig) == []  # no name sticks out of the figure
