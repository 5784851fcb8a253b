"""Two supervised tasks on Omniglot: a source task B and a held-out target task A.

B classifies the characters of the meta-train alphabets of
:func:`~lecture_utils.episodes.sampler.split_by_alphabet`
with many drawers per character; A classifies one held-out alphabet, with a *pool* of drawers
from which few-shot training sets are drawn (:func:`labelled.few_shot`) and other drawers for
testing. Every split is by drawer, so no test drawing was ever trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

from lecture_utils.core import store
from lecture_utils.data.labelled import LabelledImages, drawer_split
from lecture_utils.data.omniglot import OmniglotData
from lecture_utils.episodes.sampler import split_by_alphabet


@dataclass
class TwoTasks:
    """Source task B and target task A, split by drawer (test drawers never trained on).

    ``target_pool`` holds ``pool_per_class`` drawers per A character, from which every run draws
    its 1-10 examples per class; ``target_test`` is the same for every method and shot count.
    ``key`` names the exact characters, splits and images (a checksum), for caches.
    """

    source_train: LabelledImages
    source_test: LabelledImages
    target_pool: LabelledImages
    target_test: LabelledImages
    source_alphabets: list[str]
    target_alphabet: str
    pool_per_class: int
    source_characters: list[int]
    key: str

    def summary(self) -> str:
        nb, na = self.source_train.num_classes, self.target_test.num_classes
        return "\n".join(
            [
                f"task B (source): {nb} characters of {len(self.source_alphabets)} alphabets "
                f"({', '.join(self.source_alphabets)})",
                f"  train {len(self.source_train)} images ({len(self.source_train) // nb} "
                f"drawers per character), test {len(self.source_test)} images "
                f"({len(self.source_test) // nb} other drawers)",
                f"task A (target): {na} characters of {self.target_alphabet}",
                f"  pool of {self.pool_per_class} drawers per character to draw 1-"
                f"{self.pool_per_class} training examples from, test {len(self.target_test)} "
                f"images ({len(self.target_test) // na} other drawers, the same for every "
                "method and shot count)",
            ]
        )


def make_tasks(
    data: OmniglotData,
    target_alphabet: str | None = None,
    source_train_drawers: int = 15,
    pool_per_class: int = 10,
    split_seed: int = 0,
) -> TwoTasks:
    """B = the meta-train alphabets of ``split_by_alphabet``; A = one held-out alphabet
    (default: the largest meta-test one). B keeps ``source_train_drawers`` drawers per character
    for training, A keeps ``pool_per_class``; the other drawers are the test sets."""
    split = split_by_alphabet(data, seed=split_seed)
    held_out = split.alphabets["test"] + split.alphabets["val"]
    if target_alphabet is None:
        target_alphabet = max(split.alphabets["test"], key=lambda a: len(data.character_indices(a)))
    if target_alphabet not in held_out:
        raise ValueError(
            f"target_alphabet={target_alphabet!r} must be a held-out alphabet so that B never "
            f"sees it; choose one of {held_out}."
        )
    source = [int(c) for c in split["train"]]
    target = [int(c) for c in data.character_indices(target_alphabet)]
    b_train, b_test = drawer_split(data.images, source, source_train_drawers, seed=split_seed)
    a_pool, a_test = drawer_split(data.images, target, pool_per_class, seed=split_seed + 1)
    sets = {"b_train": b_train, "b_test": b_test, "a_pool": a_pool, "a_test": a_test}
    images = store.tensor_checksum(
        {f"{name}.{part}": getattr(d, part) for name, d in sets.items() for part in ("x", "y")}
    )  # the exact images and labels every run trains and tests on
    key = store.cache_key(
        source=source, target=target, b_drawers=source_train_drawers, pool=pool_per_class,
        split_seed=split_seed, image_size=int(data.images.shape[-1]), images=images,
    )  # fmt: skip
    return TwoTasks(
        b_train, b_test, a_pool, a_test, split.alphabets["train"], target_alphabet,
        pool_per_class, source, key,
    )  # fmt: skip
