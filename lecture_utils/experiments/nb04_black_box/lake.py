"""The Lake et al. (2015) one-shot benchmark beside its published anchors (notebook 04).

Twenty runs of 20-way, within-alphabet one-shot classification on the official evaluation
alphabets (``all_runs.zip``), scored as error %. :func:`try_load_runs` returns the runs, or
``None`` and a clear message when the file is not available (no download happens when
offline); :func:`benchmark_table` prints the published figures next to whatever was run here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from lecture_utils.core import runtime
from lecture_utils.data import omniglot, one_shot
from lecture_utils.training.pretrain import PretrainSettings, pretrained_encoder

# (method, error %, background set) as published. "full": the 30 background alphabets;
# "minimal": ONE small background set of 5 alphabets, images_background_small1 or small2 (Lake et
# al. 2015, Science). The 8 default alphabets of this collection are both small sets together:
# more than minimal, so those rows are a reference, not a like-for-like comparison.
PUBLISHED: list[tuple[str, float, str]] = [
    ("people", 4.5, "-"),
    ("Bayesian program learning", 3.3, "full"),
    ("Bayesian program learning", 4.2, "minimal (one small set)"),
    ("deep convolutional network", 13.5, "full"),
    ("deep convolutional network", 23.2, "minimal (one small set)"),
    ("prototypical networks", 30.1, "minimal (one small set)"),
    ("modified Hausdorff distance", one_shot.PAPER_MHD_ERROR_PERCENT, "none"),
]
SKIP_MESSAGE = (
    "Skipped: the one-shot benchmark file all_runs.zip is not available here ({reason}). "
    "Put all_runs.zip in $OMNIGLOT_DIR (or go online) and run this cell again."
)


@dataclass
class OwnRow:
    """One of this collection's models on the 20 runs."""

    name: str
    error_percent: float
    background: str


def try_load_runs(
    image_size: int | None, loader: Callable[..., Sequence] = one_shot.load_one_shot_runs
) -> tuple[list | None, str]:
    """``(runs, "")`` if ``all_runs.zip`` can be had, else ``(None, the skip message)``."""
    try:
        return list(loader(image_size=image_size)), ""
    except (omniglot.OmniglotDataError, OSError) as err:
        return None, SKIP_MESSAGE.format(reason=type(err).__name__)


def evaluate_models(predictors: Mapping[str, tuple[Callable, str]], runs: Sequence) -> list[OwnRow]:
    """Error % over the runs for each ``name -> (predict, background set)``."""
    rows = []
    for name, (predict, background) in predictors.items():
        result = one_shot.evaluate_one_shot_runs(predict, list(runs))
        rows.append(OwnRow(name, result.error_percent, background))
    return rows


@runtime.marks_fast_mode
def benchmark_table(own: Sequence[OwnRow] | None) -> str:
    """The published anchors, then this collection's rows (or a line saying they did not run)."""
    lines = [f"{'method':<52}{'error':>8}  background set", "published:"]
    for name, err, background in PUBLISHED:
        lines.append(f"  {name:<50}{err:>7.1f}%  {background}")
    lines.append("this collection (trained on the 8 default alphabets only):")
    if not own:
        lines.append("  (not run here: all_runs.zip is not available)")
    for row in own or []:
        lines.append(f"  {row.name:<50}{row.error_percent:>7.1f}%  {row.background}")
    return "\n".join(lines)


def all_default_characters_encoder(
    images: torch.Tensor, steps: int, seed: int
) -> tuple[torch.nn.Module, int]:
    """An encoder pretrained (same recipe as notebook 04's) on *every* default character (both
    small background sets: more than Lake et al.'s minimal condition): the evaluation alphabets
    share none of them. Cached like the lesson encoder; returns it and
    the number of characters it saw."""
    characters = list(range(len(images)))
    settings = PretrainSettings(steps=steps, strength=1.0, seed=seed)
    return pretrained_encoder(images, characters, settings)[0], len(characters)
