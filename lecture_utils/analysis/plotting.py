"""Small shared figure helpers: image grids and Omniglot galleries.

Images follow the data layer's convention (ink = 1), so they are drawn with a reversed grey
map: black strokes on white paper, as the characters were drawn. Every helper returns the
matplotlib ``Figure``; in a notebook, finish the cell with ``plt.show()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

INK_CMAP = "gray_r"


class AlphabetData(Protocol):
    """What the galleries need from ``lecture_utils.data.omniglot.OmniglotData``."""

    images: torch.Tensor  # [characters, drawers, S, S]
    alphabets: Sequence[str]  # alphabet of each character
    characters: Sequence[str]  # e.g. "character01"
    alphabet_names: Sequence[str]

    def character_indices(self, alphabet: str) -> Sequence[int] | torch.Tensor: ...


def pretty_name(name: str) -> str:
    """``"Japanese_(katakana)"`` -> ``"Japanese (katakana)"``."""
    return name.replace("_", " ")


def character_label(data: AlphabetData, character: int) -> str:
    """``"Greek/character01"``, whether or not ``data.characters`` holds the alphabet."""
    name = data.characters[character]
    return name if "/" in name else f"{data.alphabets[character]}/{name}"


def image_grid(
    images: torch.Tensor | Sequence[torch.Tensor],
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    cell_size: float = 1.1,
    suptitle: str | None = None,
    fontsize: int = 11,
    min_width: float = 9.0,
) -> Figure:
    """Draw ``n`` images of shape ``[S, S]`` in a grid, with optional per-image titles; the
    figure is at least ``min_width`` inches wide (the grid stays centred)."""
    images = [torch.as_tensor(img).detach().cpu() for img in images]
    n = len(images)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    ncols = min(n, ncols or math.ceil(math.sqrt(n)))
    nrows = math.ceil(n / ncols)
    title_room = 0.3 if titles is not None else 0.0
    width = cell_size * ncols
    height = (cell_size + title_room) * nrows + (0.5 if suptitle else 0)
    fig = plt.figure(figsize=(max(width, min_width), height), layout="constrained")
    margin = max(1e-3, (min_width - width) / 2)  # empty columns left and right
    grid = fig.add_gridspec(nrows, ncols + 2, width_ratios=[margin, *[cell_size] * ncols, margin])
    axes = np.array([[fig.add_subplot(grid[r, c + 1]) for c in range(ncols)] for r in range(nrows)])
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(
            images[i].squeeze().numpy(), cmap=INK_CMAP, vmin=0.0, vmax=1.0, interpolation="nearest"
        )
        if titles is not None:
            ax.set_title(titles[i], fontsize=fontsize)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def alphabet_gallery(data: AlphabetData, drawer: int = 0, ncols: int = 4) -> Figure:
    """One example per alphabet: the first character of each, as drawn by ``drawer``."""
    images, titles = [], []
    for name in data.alphabet_names:
        first = int(list(data.character_indices(name))[0])
        images.append(data.images[first, drawer])
        titles.append(pretty_name(name))
    return image_grid(images, titles, ncols=ncols, cell_size=2.2, fontsize=12)


def character_gallery(
    data: AlphabetData,
    alphabet: str,
    drawer: int = 0,
    ncols: int = 12,
    max_characters: int | None = None,
) -> Figure:
    """Every character of one alphabet, one drawing each (by ``drawer``), titled by number."""
    indices = [int(i) for i in data.character_indices(alphabet)]
    if max_characters is not None:
        indices = indices[:max_characters]
    images = [data.images[i, drawer] for i in indices]
    titles = [data.characters[i].rsplit("character", 1)[-1].lstrip("/") for i in indices]
    return image_grid(
        images,
        titles,
        ncols=ncols,
        cell_size=0.8,
        fontsize=11,
        suptitle=f"{pretty_name(alphabet)}: {len(indices)} characters, drawer {drawer + 1}",
    )


def drawers_gallery(data: AlphabetData, character: int, ncols: int = 10) -> Figure:
    """One character as drawn by all of its drawers (usually 20 people)."""
    drawings = data.images[character]
    return image_grid(
        list(drawings),
        ncols=ncols,
        cell_size=0.8,
        suptitle=f"{pretty_name(character_label(data, character))}: {len(drawings)} drawers",
    )
