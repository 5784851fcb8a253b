"""Pictures of episodes: the labelled support/query grid, label permutation, rotations, splits,
and the ipywidgets episode explorer of notebook 03.

Grids are drawn as one mosaic image per panel (not one axis per drawing), so even a 20-way
10-shot task redraws in a fraction of a second. Each drawing gets a coloured frame: the colour
is its label, so you can match query images to support images by eye.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from lecture_utils.analysis.plotting import pretty_name
from lecture_utils.analysis.widget_panel import keyboard_guard
from lecture_utils.core import figure_style
from lecture_utils.data.omniglot import OmniglotData
from lecture_utils.data.transforms import quarter_turns
from lecture_utils.episodes.sampler import (
    SPLITS,
    ClassSplit,
    Episode,
    EpisodeSampler,
    HomeworkBatch,
)

SPLIT_TITLES = {"train": "meta-train", "val": "meta-val", "test": "meta-test"}
PAD = 3  # frame width in pixels around each drawing


def label_colours(n: int) -> torch.Tensor:
    """``[n, 3]`` RGB colours in 0..1, one per label, each readable on white (contrast >= 3:1
    even at N = 20; :func:`lecture_utils.core.figure_style.label_colours`)."""
    return torch.tensor([to_rgb(c) for c in figure_style.label_colours(n)]).reshape(n, 3)


def mosaic(images: torch.Tensor, colours: torch.Tensor | None = None, gap: int = 2) -> torch.Tensor:
    """RGB mosaic ``[H, W, 3]`` of ``images [rows, cols, S, S]`` (ink = 1, NaN = empty cell).

    ``colours [rows, cols, 3]`` frames each drawing; empty (NaN) cells stay white.
    """
    rows, cols, size, _ = images.shape
    cell = size + 2 * PAD
    out = torch.ones(rows * (cell + gap) - gap, cols * (cell + gap) - gap, 3)
    for r in range(rows):
        for c in range(cols):
            img = images[r, c]
            if torch.isnan(img).any():
                continue
            top, left = r * (cell + gap), c * (cell + gap)
            if colours is not None:
                out[top : top + cell, left : left + cell] = colours[r, c]
            paper = (1.0 - img.clamp(0, 1))[..., None].expand(size, size, 3)
            out[top + PAD : top + PAD + size, left + PAD : left + PAD + size] = paper
    return out


def by_label(x: torch.Tensor, y: torch.Tensor, n_way: int) -> torch.Tensor:
    """Rearrange one task's images ``[M, 1, S, S]`` into rows by label: ``[N, M/N, S, S]``."""
    order = torch.argsort(y, stable=True)
    return x[order].reshape(n_way, -1, *x.shape[-2:])


def class_name(data: OmniglotData | None, character: int, rotation: int) -> str:
    if data is None:
        name = f"character {character}"
    else:
        alphabet, char = data.alphabets[character], data.characters[character]
        name = f"{pretty_name(alphabet)} {char.replace('character', '#')}"
    return name + (f" ↻{90 * rotation}°" if rotation else "")


def draw_episode(
    episode: Episode,
    task: int = 0,
    data: OmniglotData | None = None,
    title: str | None = None,
    cell_inches: float | None = None,
) -> Figure:
    """One task as a labelled grid: support set D_train left, query set D_test right.

    Row ``l`` holds the drawings with label ``l`` (frame colour = label); the left margin names
    the character (and rotation) behind each label. The sampler shuffles positions inside each
    set; here they are sorted by label so that you can read the grid. ``cell_inches`` (one
    drawing's side) shrinks with N by default, so a 20-way task still fits a slide.
    """
    ep = episode.task(task)
    n = ep.classes.shape[1]
    k, q = ep.support_x.shape[1] // n, ep.query_x.shape[1] // n
    colours = label_colours(n)
    panels = [
        ("support\n$D^{tr}$", by_label(ep.support_x[0], ep.support_y[0], n), k),
        ("query\n$D^{ts}$", by_label(ep.query_x[0], ep.query_y[0], n), q),
    ]
    size = ep.support_x.shape[-1] + 2 * PAD
    if cell_inches is None:
        cell_inches = min(0.7, 7.0 / max(n, 1), 7.0 / max(k + q, 1))
    width = cell_inches * (k + q) + (4.4 if data is not None else 2.4)
    height = cell_inches * n + 1.4
    fig, axes = plt.subplots(
        1,
        2,
        figsize=(max(width, 9.0), max(height, 3.0)),
        gridspec_kw={"width_ratios": [max(k, 3), max(q, 3)]},  # room for the x labels
        layout="constrained",
    )
    for ax, (name, grid, count) in zip(axes, panels, strict=True):
        frame_colours = colours[:, None, :].expand(n, count, 3)
        ax.imshow(mosaic(grid, frame_colours).numpy(), interpolation="nearest")
        ax.set_title(f"{name}\n{n}×{count} = {n * count}", fontsize=12)
        ax.set_xticks([(size + 2) * i + size / 2 - 0.5 for i in range(count)])
        every = 1 if count <= 10 else 5  # many columns: label 1, 5, 10, ... so none overlap
        shown = [f"{i + 1}" if i == 0 or (i + 1) % every == 0 else "" for i in range(count)]
        ax.set_xticklabels(shown, fontsize=11)
        ax.set_yticks([(size + 2) * i + size / 2 - 0.5 for i in range(n)])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
    names = [
        f"label {label}" + (f": {class_name(data, int(c), int(r))}" if data is not None else "")
        for label, (c, r) in enumerate(zip(ep.classes[0], ep.rotations[0], strict=True))
    ]
    axes[0].set_yticklabels(names, fontsize=11)
    axes[1].set_yticklabels([f"label {label}" for label in range(n)], fontsize=11)
    for label, tick in enumerate(axes[0].get_yticklabels()):
        tick.set_color(colours[label].tolist())
    axes[1].yaxis.tick_right()
    for label, tick in enumerate(axes[1].get_yticklabels()):
        tick.set_color(colours[label].tolist())
    axes[0].set_xlabel("shot number" if k >= 3 else "shot", fontsize=12)
    axes[1].set_xlabel("query number" if q >= 3 else "query", fontsize=12)
    if title:
        fig.suptitle(title, fontsize=14)
    return fig


def permutation_figure(
    images: torch.Tensor, characters: Sequence[int], data: OmniglotData | None = None, seed: int = 0
) -> Figure:
    """The same characters in three tasks: two with per-task label permutation, one without.

    The sampler is restricted to exactly ``len(characters)`` classes, so every task uses the
    same characters; only the labels they receive change (top two rows), unless
    ``shuffle_labels=False`` (bottom row), where a character keeps its label in every task.
    """
    n = len(characters)
    shuffled = EpisodeSampler(images, characters, n_way=n, batch_size=2, seed=seed).sample()
    fixed = EpisodeSampler(
        images, characters, n_way=n, batch_size=1, seed=seed, shuffle_labels=False
    ).sample()
    rows = [
        ("task 1 (labels shuffled)", shuffled.task(0)),
        ("task 2 (labels shuffled)", shuffled.task(1)),
        ("any task, shuffle_labels=False", fixed.task(0)),
    ]
    colours = label_colours(n)  # one colour per character here, so you can follow it
    colour_of = {int(c): colours[i] for i, c in enumerate(characters)}
    fig, axes = plt.subplots(
        len(rows), n, figsize=(max(1.6 * n + 3.0, 9.0), 1.9 * len(rows) + 0.6), layout="constrained"
    )
    for row, (name, ep) in enumerate(rows):
        first = by_label(ep.support_x[0], ep.support_y[0], n)[:, 0]  # label order
        for label in range(n):
            ax = axes[row, label]
            char = int(ep.classes[0, label])
            frame = colour_of[char][None, None].expand(1, 1, 3)
            ax.imshow(mosaic(first[label][None, None], frame).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            who = class_name(data, char, 0) if data is not None else f"char {char}"
            ax.set_title(f"label {label}\n{who}", fontsize=11, color=colour_of[char].tolist())
        axes[row, 0].set_ylabel(name, fontsize=12, rotation=0, ha="right", va="center")
    fig.suptitle(
        f"The same {n} characters (frame colour = character), columns sorted by label",
        fontsize=14,
    )
    return fig


def rotation_figure(data: OmniglotData, character: int, drawers: int = 4) -> Figure:
    """One character turned by 0°, 90°, 180° and 270°: four classes, ``drawers`` drawings each."""
    drawings = data.images[character, :drawers]
    grid = quarter_turns(drawings)
    colours = label_colours(4)[:, None, :].expand(4, drawers, 3)
    fig, ax = plt.subplots(figsize=(max(1.1 * drawers + 3.4, 9.0), 4.6), layout="constrained")
    ax.imshow(mosaic(grid, colours).numpy())
    size = data.image_size + 2 * PAD
    ax.set_yticks([(size + 2) * i + size / 2 - 0.5 for i in range(4)])
    names = ["original"] + [f"new class: ↻{90 * r}°" for r in (1, 2, 3)]
    ax.set_yticklabels(names, fontsize=12)
    ax.set_xticks([(size + 2) * i + size / 2 - 0.5 for i in range(drawers)])
    ax.set_xticklabels([f"drawer {d + 1}" for d in range(drawers)], fontsize=11)
    ax.tick_params(length=0)
    ax.set_title(f"{class_name(data, character, 0)}: one character, four classes", fontsize=14)
    return fig


def split_figure(data: OmniglotData, split: ClassSplit, per_alphabet: int = 10) -> Figure:
    """Every alphabet of every split: one row each, its first ``per_alphabet`` characters."""
    rows, names = [], []
    for s in SPLITS:
        for alphabet in split.alphabets[s]:
            chars = data.character_indices(alphabet)[:per_alphabet]
            row = torch.full((per_alphabet, data.image_size, data.image_size), float("nan"))
            row[: len(chars)] = data.images[chars, 0]
            rows.append(row)
            names.append(
                f"{SPLIT_TITLES[s]}: {pretty_name(alphabet)} "
                f"({len(data.character_indices(alphabet))} chars)"
            )
    split_colour = {"train": "#0072B2", "val": "#9A5B00", "test": "#D55E00"}  # dark on white
    colours = [split_colour[s] for s in SPLITS for _ in split.alphabets[s]]
    rgb = torch.tensor([plt.matplotlib.colors.to_rgb(c) for c in colours])
    grid = torch.stack(rows)
    fig, ax = plt.subplots(
        figsize=(min(max(0.6 * per_alphabet + 5.0, 10.0), 11.5), 0.56 * len(rows) + 0.9),
        layout="constrained",
    )
    ax.imshow(mosaic(grid, rgb[:, None, :].expand(len(rows), per_alphabet, 3)).numpy())
    ax.set_anchor("E")  # the image to the right, its long row names in the room on the left
    size = data.image_size + 2 * PAD
    ax.set_yticks([(size + 2) * i + size / 2 - 0.5 for i in range(len(rows))])
    ax.set_yticklabels(names, fontsize=12)
    for tick, colour in zip(ax.get_yticklabels(), colours, strict=True):
        tick.set_color(colour)
    ax.set_xticks([])
    ax.tick_params(length=0)
    fig.suptitle(  # over the whole figure: the image sits to the right
        f"Alphabet split (seeded): the first {per_alphabet} characters of each alphabet, drawer 1",
        fontsize=13,
    )
    return fig


# ---- counts -------------------------------------------------------------------------------


def episode_counts(episode: Episode) -> dict[str, object]:
    """Counts and shapes read off a sampled meta-batch (not computed from N, K, Q by hand)."""
    batch, support = episode.support_x.shape[:2]
    query = episode.query_x.shape[1]
    return {
        "B": batch,
        "N": episode.classes.shape[1],
        "support/task": support,
        "query/task": query,
        "images/task": support + query,
        "images/meta-batch": batch * (support + query),
        "support_x": tuple(episode.support_x.shape),
        "query_x": tuple(episode.query_x.shape),
    }


def counts_table(rows: Sequence[dict[str, object]]) -> str:
    """A plain-text table of :func:`episode_counts` rows (plus any extra leading columns)."""
    keys = list(rows[0])
    cells = [[str(k) for k in keys]] + [[str(r[k]) for k in keys] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(keys))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---- the explorer ---------------------------------------------------------------------------


class EpisodeExplorer:
    """ipywidgets explorer: N, K, Q, seed, split, rotations and a resample button.

    Every change rebuilds the sampler from the seed and redraws task 1 of a fresh meta-batch;
    "Resample" draws the next meta-batch from the same sampler. Settings the sampler refuses
    show its ``ValueError`` message in the widget instead of a traceback. ``widget`` is the
    box to display.
    """

    def __init__(
        self, data: OmniglotData, split: ClassSplit, batch_size: int = 32, seed: int = 0
    ) -> None:
        import ipywidgets as widgets

        self.data, self.split, self.batch_size = data, split, batch_size
        style = {"description_width": "initial"}
        slider = dict(continuous_update=False, style=style)
        self.n_way = widgets.IntSlider(5, min=1, max=30, description="N (ways)", **slider)
        self.k_shot = widgets.IntSlider(1, min=1, max=20, description="K (shots)", **slider)
        self.n_query = widgets.IntSlider(1, min=1, max=20, description="Q (query/class)", **slider)
        self.seed = widgets.IntSlider(seed, min=0, max=99, description="seed", **slider)
        self.split_name = widgets.Dropdown(
            options=[(SPLIT_TITLES[s], s) for s in SPLITS], value="train", description="split"
        )
        self.rotations = widgets.Checkbox(False, description="rotations (×4 classes)")
        self.resample = widgets.Button(description="Resample", icon="refresh")
        self.counts = widgets.HTML()
        self.figure = widgets.Output()
        self.sampler: EpisodeSampler | None = None
        self.error: str | None = None
        self.draws = 0
        for control in (
            self.n_way,
            self.k_shot,
            self.n_query,
            self.seed,
            self.split_name,
            self.rotations,
        ):
            control.observe(self._rebuild, names="value")
        self.resample.on_click(lambda _: self.redraw())
        controls = widgets.HBox(
            [
                widgets.VBox([self.n_way, self.k_shot, self.n_query]),
                widgets.VBox([self.seed, self.split_name, self.rotations, self.resample]),
            ]
        )
        self.widget = widgets.VBox([controls, self.counts, self.figure])
        keyboard_guard()
        self._rebuild()

    def _rebuild(self, _change: object = None) -> None:
        split = self.split_name.value
        try:
            self.sampler = EpisodeSampler(
                self.data.images,
                self.split[split],
                n_way=self.n_way.value,
                k_shot=self.k_shot.value,
                n_query=self.n_query.value,
                batch_size=self.batch_size,
                rotations=self.rotations.value,
                seed=self.seed.value,
            )
            self.error = None
        except ValueError as exc:
            self.sampler, self.error = None, str(exc)
        self.draws = 0
        self.redraw()

    def redraw(self) -> None:
        """Draw the next meta-batch (or show the error) and update the counts."""
        from IPython.display import clear_output

        if self.sampler is None:
            self.counts.value = (
                f"<div style='color:#b00020'><b>The sampler refuses these settings:</b> "
                f"ValueError: {self.error}</div>"
            )
            with self.figure:
                clear_output()  # not wait=True: nothing follows, the old grid must go now
            return
        episode = self.sampler.sample()
        self.draws += 1
        c = episode_counts(episode)
        s = self.split_name.value
        self.counts.value = (
            f"<b>{SPLIT_TITLES[s]}</b>: {len(self.split.alphabets[s])} alphabets, "
            f"{self.sampler.num_classes} classes"
            f"{' (with rotations)' if self.rotations.value else ''}. "
            f"One task: {c['N']}·{self.sampler.k_shot} = {c['support/task']} support + "
            f"{c['N']}·{self.sampler.n_query} = {c['query/task']} query = "
            f"<b>{c['images/task']} images</b>. A meta-batch of B={c['B']} tasks: "
            f"<b>{c['images/meta-batch']} images</b>; support_x {list(c['support_x'])}, "
            f"query_x {list(c['query_x'])}. (meta-batch #{self.draws})"
        )
        with self.figure:
            clear_output(wait=True)
            draw_episode(episode, 0, self.data, title=f"Task 1 of meta-batch #{self.draws}")
            plt.show()


def draw_homework_task(
    batch: HomeworkBatch, k_shot: int, task: int = 0, cell_inches: float = 0.9
) -> Figure:
    """One task of the CS330 homework layout, drawn as its ``[K+Q, N]`` grid.

    Row ``r`` is ``images[task, r]``: rows ``0..K-1`` are the support set (column = label), the
    remaining rows the query set (columns shuffled). Frame colour and ``y=`` text show the
    argmax of each drawing's one-hot label.
    """
    images, labels = batch.images[task], batch.labels[task]  # [K+Q, N, S*S], [K+Q, N, N]
    rows, n = images.shape[:2]
    size = int(round(images.shape[-1] ** 0.5))
    label = labels.argmax(-1)  # [K+Q, N]
    colours = label_colours(n)[label]
    fig, ax = plt.subplots(
        figsize=(max(cell_inches * n + 3.0, 9.0), cell_inches * rows + 1.2), layout="constrained"
    )
    ax.imshow(mosaic(images.reshape(rows, n, size, size), colours).numpy())
    cell = size + 2 * PAD + 2
    ax.set_xticks([cell * i + (cell - 2) / 2 - 0.5 for i in range(n)])
    ax.set_xticklabels([f"col {i}" for i in range(n)], fontsize=11)
    ax.set_yticks([cell * r + (cell - 2) / 2 - 0.5 for r in range(rows)])
    ax.set_yticklabels(
        [f"row {r}: {'support' if r < k_shot else 'query'}" for r in range(rows)], fontsize=11
    )
    for r in range(rows):
        for c in range(n):
            ax.text(
                cell * c + (cell - 2) / 2 - 0.5,
                cell * r + PAD + 0.5,
                f"y={int(label[r, c])}",
                ha="center",
                va="top",
                fontsize=11,
                fontweight="bold",
                color=colours[r, c].tolist(),
            )
    ax.tick_params(length=0)
    ax.set_title(f"images[{task}]: [K+Q, N, S*S] = {list(images.shape)}", fontsize=13)
    return fig
