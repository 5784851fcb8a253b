"""Every cache key covers the images it was trained on, and every setting.

Notebook 01 memoises its runs under ``TwoTasks.key``; pretrained networks are cached under
``store.cache_key(**pretrain.cache_meta(...))`` (its own field loop is in
tests/unit/training/test_pretrain.py). Each key must change when any setting or any pixel of
the images it covers changes, and stay the same for the same content.
"""

from __future__ import annotations

import pytest
import torch

from lecture_utils.core import store
from lecture_utils.data.omniglot import OmniglotData
from lecture_utils.experiments.nb01_multitask.tasks import make_tasks
from lecture_utils.training import pretrain


def synthetic(seed: int = 0, size: int = 8) -> OmniglotData:
    """5 alphabets x 3 characters x 20 drawers of random ink."""
    gen = torch.Generator().manual_seed(seed)
    images = (torch.rand(15, 20, size, size, generator=gen) > 0.7).float()
    alphabets = [f"A{c // 3}" for c in range(15)]
    characters = [f"character{c % 3 + 1:02d}" for c in range(15)]
    pairs = zip(alphabets, characters, strict=True)
    files = [[f"{a}/{ch}/{d}.png" for d in range(20)] for a, ch in pairs]
    return OmniglotData(images, alphabets, characters, files, "small")


def test_nb01_run_key_is_a_function_of_the_content():
    assert make_tasks(synthetic()).key == make_tasks(synthetic()).key


SETTINGS = {
    "source_train_drawers": [14, 10],
    "pool_per_class": [9, 5],
    "split_seed": [1, 2],
}


@pytest.mark.parametrize("field", sorted(SETTINGS))
def test_nb01_run_key_changes_with_every_setting(field):
    base = make_tasks(synthetic()).key
    for value in SETTINGS[field]:
        assert make_tasks(synthetic(), **{field: value}).key != base, (field, value)


def test_nb01_run_key_changes_with_the_target_alphabet():
    data = synthetic()
    tasks = make_tasks(data)
    held_out = [a for a in data.alphabet_names if a not in tasks.source_alphabets]
    others = [a for a in held_out if a != tasks.target_alphabet]
    assert others and all(make_tasks(data, a).key != tasks.key for a in others)


def test_nb01_run_key_changes_when_any_image_changes():
    data = synthetic()
    tasks = make_tasks(data)
    used = tasks.source_characters + [
        c for c in range(15) if data.alphabets[c] == tasks.target_alphabet
    ]
    gen = torch.Generator().manual_seed(3)
    for trial in range(12):  # one flipped pixel, at random places in the characters used
        changed = synthetic()
        c = used[int(torch.randint(len(used), (1,), generator=gen))]
        d, i, j = (int(v) for v in torch.randint(8, (3,), generator=gen))
        d = (d * 2 + trial) % 20
        changed.images[c, d, i, j] = 1 - changed.images[c, d, i, j]
        assert make_tasks(changed).key != tasks.key, (c, d, i, j)
    resized = synthetic(size=9)
    resized.images = resized.images[..., :8, :8].contiguous()
    assert make_tasks(resized).key != tasks.key  # other content, same shape


def test_pretrain_cache_key_changes_with_the_image_content():
    data = pretrain.pretraining_data(synthetic().images, [0, 1, 2], rotations=False)
    settings = pretrain.PretrainSettings(steps=3)
    key = store.cache_key(**pretrain.cache_meta(data, [0, 1, 2], settings))
    for n in range(0, len(data.x), 7):
        x = data.x.clone()
        x.view(len(x), -1)[n, n % x[0].numel()] += 0.5
        other = type(data)(x, data.y, data.num_classes)
        assert store.cache_key(**pretrain.cache_meta(other, [0, 1, 2], settings)) != key, n
