"""The episode sampler and the alphabet splits: shapes, labels, drawers, splits, seeds, errors."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import torch

from lecture_utils.episodes.sampler import (
    SPLITS,
    Episode,
    EpisodeSampler,
    HomeworkBatch,
    images_per_meta_batch,
    images_per_task,
    split_by_alphabet,
)

S = 8  # synthetic image size: small, and every image is unique


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Synthetic ``[12 characters, 20 drawers, S, S]``: random, so every image is unique."""
    return torch.rand(12, 20, S, S, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def omniglot(real_data: Path):
    from lecture_utils.data.omniglot import load_omniglot

    return load_omniglot()


def locate(images: torch.Tensor, image: torch.Tensor) -> tuple[int, int, int]:
    """(character, drawer, quarter turns) of ``image`` in ``images``; fails if absent."""
    for r in range(4):
        hits = (torch.rot90(images, r, dims=(-2, -1)) == image).flatten(2).all(-1).nonzero()
        if len(hits):
            return int(hits[0, 0]), int(hits[0, 1]), r
    raise AssertionError("image is not a (rotated) drawing of any character")


# ---- shapes and counts ------------------------------------------------------------------


@pytest.mark.parametrize("n, k, q, b", [(5, 1, 1, 32), (3, 2, 4, 2), (12, 5, 5, 1), (1, 1, 1, 3)])
def test_flat_shapes(images: torch.Tensor, n: int, k: int, q: int, b: int) -> None:
    ep = EpisodeSampler(images, n_way=n, k_shot=k, n_query=q, batch_size=b).sample()
    assert isinstance(ep, Episode)
    assert ep.support_x.shape == (b, n * k, 1, S, S)
    assert ep.support_y.shape == (b, n * k)
    assert ep.query_x.shape == (b, n * q, 1, S, S)
    assert ep.query_y.shape == (b, n * q)
    assert ep.classes.shape == ep.rotations.shape == (b, n)
    assert ep.support_y.dtype == ep.query_y.dtype == torch.int64
    assert ep.support_x.dtype == torch.float32
    assert ep.support_x.is_contiguous() and ep.query_x.is_contiguous()
    total = ep.support_x.shape[1] + ep.query_x.shape[1]
    assert total == images_per_task(n, k, q) == n * (k + q)
    assert b * total == images_per_meta_batch(b, n, k, q)


@pytest.mark.parametrize("n, k, q, b", [(5, 1, 1, 4), (4, 3, 2, 2)])
def test_homework_shapes(images: torch.Tensor, n: int, k: int, q: int, b: int) -> None:
    batch = EpisodeSampler(
        images, n_way=n, k_shot=k, n_query=q, batch_size=b, layout="homework"
    ).sample()
    assert isinstance(batch, HomeworkBatch)
    assert batch.images.shape == (b, k + q, n, S * S)
    assert batch.labels.shape == (b, k + q, n, n)
    assert batch.classes.shape == (b, n)
    assert torch.equal(batch.labels.sum(-1), torch.ones(b, k + q, n))  # one-hot
    # Support rows: column n is the class labelled n. Query rows: a permutation of the labels.
    support_labels = batch.labels[:, :k].argmax(-1)
    assert torch.equal(support_labels, torch.arange(n).expand(b, k, n))
    query_labels = batch.labels[:, k:].argmax(-1)
    assert torch.equal(query_labels.sort(-1).values, torch.arange(n).expand(b, q, n))


def test_homework_default_is_k_plus_one_rows(images: torch.Tensor) -> None:
    batch = EpisodeSampler(images, n_way=5, k_shot=2, batch_size=3, layout="homework").sample()
    assert batch.images.shape == (3, 2 + 1, 5, S * S)


# ---- labels, classes, rotations and drawers --------------------------------------------


def check_consistent(
    images: torch.Tensor, x: torch.Tensor, y: torch.Tensor, ep_classes, ep_rot
) -> dict[tuple[int, int], list[int]]:
    """Every image with label l is a drawing of classes[l] rotated by rotations[l].

    Returns the drawers used per (task, label)."""
    drawers: dict[tuple[int, int], list[int]] = defaultdict(list)
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            label = int(y[b, i])
            assert 0 <= label < ep_classes.shape[1]
            c, d, r = locate(images, x[b, i].reshape(S, S))
            assert c == int(ep_classes[b, label]), "image does not show the class of its label"
            assert r == int(ep_rot[b, label]), "image is not rotated as its class says"
            drawers[(b, label)].append(d)
    return drawers


@pytest.mark.parametrize("rotations", [False, True])
def test_labels_match_classes_and_drawers_are_distinct(
    images: torch.Tensor, rotations: bool
) -> None:
    n, k, q = 4, 3, 2
    sampler = EpisodeSampler(
        images, n_way=n, k_shot=k, n_query=q, batch_size=6, rotations=rotations, seed=1
    )
    ep = sampler.sample()
    support = check_consistent(images, ep.support_x, ep.support_y, ep.classes, ep.rotations)
    query = check_consistent(images, ep.query_x, ep.query_y, ep.classes, ep.rotations)
    for b in range(6):
        pairs = set(zip(ep.classes[b].tolist(), ep.rotations[b].tolist(), strict=True))
        assert len(pairs) == n, "a class appears twice in one task"
        for label in range(n):
            s, qd = support[(b, label)], query[(b, label)]
            assert len(s) == k and len(qd) == q, "wrong number of images per class"
            assert len(set(s)) == k and len(set(qd)) == q, "a drawer is used twice"
            assert not set(s) & set(qd), "support and query share a drawer"


def test_homework_labels_match_classes(images: torch.Tensor) -> None:
    n, k, q, b = 3, 2, 2, 4
    batch = EpisodeSampler(
        images, n_way=n, k_shot=k, n_query=q, batch_size=b, layout="homework", rotations=True
    ).sample()
    x = batch.images.reshape(b, (k + q) * n, S * S)
    y = batch.labels.argmax(-1).reshape(b, (k + q) * n)
    drawers = check_consistent(images, x, y, batch.classes, batch.rotations)
    for used in drawers.values():
        assert len(set(used)) == k + q, "support and query share a drawer"


def test_positions_do_not_give_the_label_away(images: torch.Tensor) -> None:
    ep = EpisodeSampler(images, n_way=5, k_shot=2, n_query=2, batch_size=64).sample()
    for y in (ep.support_y, ep.query_y):
        ordered = torch.arange(5).repeat_interleave(2)
        assert (y != ordered).any(dim=1).float().mean() > 0.9
        assert torch.equal(y.sort(1).values, ordered.expand_as(y))  # each label K (Q) times


def labels_per_class(sampler: EpisodeSampler, batches: int = 20) -> dict[int, set[int]]:
    seen: dict[int, set[int]] = defaultdict(set)
    for _ in range(batches):
        ep = sampler.sample()
        for b in range(ep.classes.shape[0]):
            for label, c in enumerate(ep.classes[b].tolist()):
                seen[c].add(label)
    return seen


def test_label_permutation_is_on_by_default(images: torch.Tensor) -> None:
    seen = labels_per_class(EpisodeSampler(images, n_way=5, batch_size=16))
    assert len(seen) == 12
    assert all(len(labels) >= 3 for labels in seen.values()), "labels are not reshuffled"


def test_shuffle_labels_false_fixes_the_label_of_each_class(images: torch.Tensor) -> None:
    sampler = EpisodeSampler(images, n_way=5, batch_size=16, shuffle_labels=False)
    seen = labels_per_class(sampler)
    assert len(seen) == 12, "some classes are never drawn"
    assert all(labels == {c % 5} for c, labels in seen.items())


def test_shuffle_labels_false_with_a_split(images: torch.Tensor) -> None:
    split = [11, 3, 7, 1, 9, 4, 0]
    sampler = EpisodeSampler(images, split, n_way=3, batch_size=16, shuffle_labels=False)
    seen = labels_per_class(sampler)
    assert set(seen) == set(split)
    assert all(labels == {split.index(c) % 3} for c, labels in seen.items())


def test_rotations_multiply_classes_by_four_and_stay_in_split(images: torch.Tensor) -> None:
    split = [2, 5, 8]
    plain = EpisodeSampler(images, split, n_way=3)
    rotated = EpisodeSampler(images, split, n_way=10, batch_size=16, rotations=True)
    assert plain.num_classes == 3 and rotated.num_classes == 12
    ep = rotated.sample()
    assert set(ep.classes.unique().tolist()) <= set(split)
    assert set(ep.rotations.unique().tolist()) == {0, 1, 2, 3}
    assert EpisodeSampler(images, split, n_way=3).sample().rotations.eq(0).all()
    with pytest.raises(ValueError, match="n_way=4"):
        EpisodeSampler(images, split, n_way=4)
    EpisodeSampler(images, split, n_way=12, rotations=True).sample()  # 12 = 3 characters x 4


def test_every_class_and_drawer_gets_drawn(images: torch.Tensor) -> None:
    sampler = EpisodeSampler(images, n_way=5, k_shot=1, n_query=1, batch_size=64, seed=3)
    ep = sampler.sample()
    assert set(ep.classes.flatten().tolist()) == set(range(12))
    support = check_consistent(
        images, ep.support_x[:16], ep.support_y[:16], ep.classes, ep.rotations
    )
    assert {d for used in support.values() for d in used} == set(range(20))


# ---- seeds, iteration and devices -----------------------------------------------------


def same(a: Episode, b: Episode) -> bool:
    return all(torch.equal(x, y) for x, y in zip(vars(a).values(), vars(b).values(), strict=True))


def test_same_seed_same_episodes(images: torch.Tensor) -> None:
    a = EpisodeSampler(images, n_way=5, batch_size=4, rotations=True, seed=7)
    b = EpisodeSampler(images, n_way=5, batch_size=4, rotations=True, seed=7)
    c = EpisodeSampler(images, n_way=5, batch_size=4, rotations=True, seed=8)
    first = [a.sample() for _ in range(3)]
    assert all(same(x, b.sample()) for x in first)
    assert not same(first[0], c.sample())
    assert not same(first[0], first[1]), "successive meta-batches repeat"


def test_generator_argument(images: torch.Tensor) -> None:
    a = EpisodeSampler(images, batch_size=4, generator=torch.Generator().manual_seed(5))
    b = EpisodeSampler(images, batch_size=4, generator=torch.Generator().manual_seed(5))
    assert same(a.sample(), b.sample())


def test_dataloader_with_batch_size_none(images: torch.Tensor) -> None:
    sampler = EpisodeSampler(images, n_way=5, k_shot=2, batch_size=3, num_batches=4)
    loader = torch.utils.data.DataLoader(sampler, batch_size=None)
    batches = list(loader)
    assert len(batches) == 4
    assert all(isinstance(ep, Episode) for ep in batches)
    assert batches[0].support_x.shape == (3, 10, 1, S, S)
    again = list(
        torch.utils.data.DataLoader(
            EpisodeSampler(images, n_way=5, k_shot=2, batch_size=3, num_batches=4),
            batch_size=None,
        )
    )
    assert all(same(x, y) for x, y in zip(batches, again, strict=True))


def test_device_placement(images: torch.Tensor) -> None:
    """PyTorch's "meta" device stands in for a GPU: a CPU-only machine has it too, so these
    checks fail if ``device=`` (or ``.to``) is ignored and everything stays on the CPU."""
    ep = EpisodeSampler(images, batch_size=2, device="meta").sample()
    assert {name: t.device.type for name, t in vars(ep).items()} == dict.fromkeys(vars(ep), "meta")
    assert ep.support_x.shape == (2, 5, 1, S, S)
    hw = EpisodeSampler(images, batch_size=2, device=torch.device("meta"), layout="homework")
    batch = hw.sample()
    assert batch.images.device.type == batch.labels.device.type == "meta"
    assert batch.classes.device.type == batch.rotations.device.type == "meta"
    # Without device=, episodes live where the images are.
    assert EpisodeSampler(images.to("meta"), batch_size=2).sample().query_x.device.type == "meta"
    cpu = EpisodeSampler(images, batch_size=2).sample()
    assert all(t.device.type == "cpu" for t in vars(cpu).values())
    moved = cpu.to("meta")
    assert all(t.device.type == "meta" for t in vars(moved).values())
    assert moved.task(1).support_x.shape == (1, 5, 1, S, S)
    cpu_hw = EpisodeSampler(images, batch_size=2, layout="homework").sample()
    assert cpu_hw.to("meta").images.device.type == "meta"


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"n_way": 13}, ["n_way=13", "12 classes"]),
        ({"n_way": 5, "classes": [0, 1, 2]}, ["n_way=5", "3 classes"]),
        ({"k_shot": 15, "n_query": 6}, ["15 + 6 = 21", "20 drawers"]),
        ({"k_shot": 20, "n_query": 1}, ["21", "20 drawers"]),
        ({"n_way": 0}, ["n_way", ">= 1", "0"]),
        ({"k_shot": 0}, ["k_shot", ">= 1", "0"]),
        ({"n_query": -1}, ["n_query", ">= 1", "-1"]),
        ({"batch_size": 0}, ["batch_size", ">= 1", "0"]),
        ({"n_way": 2.5}, ["n_way", "2.5"]),
        ({"layout": "nested"}, ["layout", "nested"]),
        ({"classes": [0, 12]}, ["12 characters"]),
    ],
)
def test_bad_input_names_the_limit_and_value(
    images: torch.Tensor, kwargs: dict, words: list[str]
) -> None:
    with pytest.raises(ValueError) as info:
        EpisodeSampler(images, **kwargs)
    for word in words:
        assert word in str(info.value), f"{word!r} missing from: {info.value}"


def test_largest_valid_settings_work(images: torch.Tensor) -> None:
    ep = EpisodeSampler(images, n_way=12, k_shot=19, n_query=1).sample()
    assert ep.support_x.shape[1] == 12 * 19


# ---- alphabet splits on the real data ------------------------------------------------------


@pytest.mark.real_data
def test_default_split_is_disjoint_and_complete(omniglot) -> None:
    split = split_by_alphabet(omniglot)
    sets = {s: set(split[s]) for s in SPLITS}
    assert not sets["train"] & sets["val"]
    assert not sets["train"] & sets["test"]
    assert not sets["val"] & sets["test"]
    assert set().union(*sets.values()) == set(range(omniglot.num_characters))
    # No character leaks: each character's alphabet belongs to exactly its split.
    for s in SPLITS:
        assert {omniglot.alphabets[c] for c in split[s]} == set(split.alphabets[s])
    assert [len(split.alphabets[s]) for s in SPLITS] == [5, 1, 2]
    assert [len(split[s]) for s in SPLITS] == [161, 17, 64]


@pytest.mark.real_data
def test_split_is_seeded(omniglot) -> None:
    assert split_by_alphabet(omniglot, seed=3) == split_by_alphabet(omniglot, seed=3)
    others = {tuple(split_by_alphabet(omniglot, seed=s).alphabets["test"]) for s in range(6)}
    assert len(others) > 1, "the seed does not change the split"


@pytest.mark.real_data
def test_split_rejects_impossible_hold_outs(omniglot) -> None:
    with pytest.raises(ValueError, match="n_test=8"):
        split_by_alphabet(omniglot, n_val=0, n_test=8)
    with pytest.raises(KeyError, match="meta"):
        split_by_alphabet(omniglot)["meta"]


@pytest.mark.real_data
def test_real_episode_from_each_split_stays_in_split(omniglot) -> None:
    split = split_by_alphabet(omniglot)
    for s in SPLITS:
        sampler = EpisodeSampler(omniglot.images, split[s], n_way=5, batch_size=8, rotations=True)
        ep = sampler.sample()
        assert set(ep.classes.flatten().tolist()) <= set(split[s])
        assert ep.support_x.shape == (8, 5, 1, 28, 28)
        assert 0.0 <= float(ep.support_x.min()) and float(ep.support_x.max()) <= 1.0
        c = int(ep.classes[0, ep.support_y[0, 0]])
        r = int(ep.rotations[0, ep.support_y[0, 0]])
        original = torch.rot90(ep.support_x[0, 0, 0], -r)
        d = (omniglot.images[c] == original).flatten(1).all(1).nonzero()
        assert len(d) == 1, "a real support image is not a drawing of its class"
    with pytest.raises(ValueError, match="n_way=65"):
        EpisodeSampler(omniglot.images, split["test"], n_way=65)


# ---- the explorer's logic (the browser test checks that it renders) ------------------------


@pytest.mark.real_data
def test_explorer_reports_bad_settings_instead_of_raising(omniglot) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from lecture_utils.analysis.episode_plots import EpisodeExplorer

    explorer = EpisodeExplorer(omniglot, split_by_alphabet(omniglot), batch_size=4)
    assert "One task: 5·1 = 5 support + 5·1 = 5 query = <b>10 images</b>" in explorer.counts.value
    explorer.split_name.value = "val"
    explorer.n_way.value = 18  # meta-val has 17 characters
    assert explorer.sampler is None
    assert "ValueError: n_way=18 exceeds the 17 classes" in explorer.counts.value
    explorer.rotations.value = True  # 68 classes now
    assert explorer.sampler is not None and explorer.sampler.num_classes == 68
    assert "18·1 = 18 support" in explorer.counts.value
    explorer.resample.click()
    assert explorer.draws == 2
    explorer.k_shot.value = 20
    assert "k_shot + n_query = 20 + 1 = 21" in explorer.counts.value


def test_classes_and_labels_are_uniform(images: torch.Tensor) -> None:
    """Each of 12 classes is equally likely at each of the 5 labels (4000 tasks, ±20%)."""
    ep = EpisodeSampler(images, n_way=5, batch_size=4000, seed=11).sample()
    counts = torch.zeros(12, 5)
    for label in range(5):
        counts[:, label] = torch.bincount(ep.classes[:, label], minlength=12).float()
    expected = 4000 / 12
    assert ((counts - expected).abs() < 0.2 * expected).all(), counts


def test_single_thread_restores_the_thread_count_and_changes_nothing(
    images: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sample() drops to one torch thread and restores the count afterwards; with
    single_thread=False it leaves the count alone; both draw the same episode. The count is a
    fake 2: a real second OpenMP thread would deadlock the workers mutmut forks from this
    process (libgomp is not fork-safe)."""
    count, calls = [2], []

    def set_threads(n: int) -> None:
        calls.append(n)
        count[0] = n

    monkeypatch.setattr(torch, "get_num_threads", lambda: count[0])
    monkeypatch.setattr(torch, "set_num_threads", set_threads)
    a = EpisodeSampler(images, batch_size=3, seed=4).sample()
    assert calls == [1, 2] and count[0] == 2
    b = EpisodeSampler(images, batch_size=3, seed=4, single_thread=False).sample()
    assert calls == [1, 2]
    assert same(a, b)


# ---- items of any shape (e.g. precomputed features) -----------------------------------------


def _feature_pool(images: torch.Tensor) -> torch.Tensor:
    """``[C, 20, S*S]``: each image flattened, so item ``(c, d)`` is image ``(c, d)``."""
    return images.flatten(2).clone()


@pytest.mark.parametrize("layout", ["flat", "homework"])
@pytest.mark.parametrize("shuffle", [True, False])
def test_feature_pool_draws_the_same_episodes_as_the_image_pool(
    images: torch.Tensor, layout: str, shuffle: bool
) -> None:
    kw = dict(n_way=4, k_shot=2, n_query=3, batch_size=5, layout=layout, shuffle_labels=shuffle)
    img = EpisodeSampler(images, list(range(10)), seed=3, **kw)
    feat = EpisodeSampler(_feature_pool(images), list(range(10)), seed=3, **kw)
    for _ in range(5):
        a, b = img.sample(), feat.sample()
        if layout == "homework":
            assert b.images.shape == a.images.shape == (5, 5, 4, S * S)
            assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
            continue
        assert b.support_x.shape == (5, 8, S * S) and b.query_x.shape == (5, 12, S * S)
        assert torch.equal(a.support_x.flatten(2), b.support_x)
        assert torch.equal(a.query_x.flatten(2), b.query_x)
        for name in ("support_y", "query_y", "classes", "rotations"):
            assert torch.equal(getattr(a, name), getattr(b, name))


def test_item_shape_keeps_extra_axes(images: torch.Tensor) -> None:
    pool = images[:, :, None].expand(-1, -1, 2, -1, -1).contiguous()  # [C, 20, 2, S, S]
    ep = EpisodeSampler(pool, n_way=3, k_shot=1, n_query=2, batch_size=4).sample()
    assert ep.support_x.shape == (4, 3, 2, S, S) and ep.query_x.shape == (4, 6, 2, S, S)


def test_rotations_need_square_images(images: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="rotations=True"):
        EpisodeSampler(_feature_pool(images), rotations=True)
    with pytest.raises(ValueError, match=r"\[characters, drawers, \*item\]"):
        EpisodeSampler(images[:, 0, 0])


# -- contracts found by mutation testing (make mutate-all); each names the mutants it kills ------


def test_split_summary_by_hand() -> None:
    """ClassSplit.summary 1-5: one line per split, names joined by ", "."""
    from lecture_utils.episodes.sampler import ClassSplit

    split = ClassSplit(
        {"train": ["A", "B"], "val": ["C"], "test": ["D"]},
        {"train": [0, 1, 2], "val": [3], "test": [4, 5]},
    )
    assert split.summary() == (
        "meta-train 2 alphabets,    3 characters: A, B\n"
        "meta-val   1 alphabets,    1 characters: C\n"
        "meta-test  1 alphabets,    2 characters: D"
    )


def test_split_by_alphabet_edges() -> None:
    """split_by_alphabet 6-10 (n_val=0 and n_test=1 are allowed; n_val=-1 is refused on its
    own), 14, 15 (the message's advice)."""
    from types import SimpleNamespace

    names = ["A", "B", "C", "D"]
    data = SimpleNamespace(alphabet_names=names, character_indices=lambda a: [names.index(a)])
    split = split_by_alphabet(data, n_val=0, n_test=1)
    assert (len(split.alphabets["train"]), split.alphabets["val"]) == (3, [])
    assert len(split.alphabets["test"]) == 1
    with pytest.raises(ValueError, match=r"alphabet for meta-training\.$") as info:
        split_by_alphabet(data, n_val=-1, n_test=2)
    assert "keep n_test >= 1, n_val >= 0 and at least one alphabet" in str(info.value)


def test_homework_batch_to_keeps_missing_fields() -> None:
    """HomeworkBatch.to 1: fields left as None stay None."""
    batch = HomeworkBatch(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 3)).to("cpu")
    assert batch.classes is None and batch.rotations is None


def test_images_per_task_and_meta_batch_by_hand() -> None:
    """images_per_task 1, 2; images_per_meta_batch 1-7: N·(K+Q) and B·N·(K+Q)."""
    assert images_per_task(5, 1, 15) == 80
    assert images_per_meta_batch(4, 5, 2, 3) == 100


def test_check_positive_names_the_value() -> None:
    """_check_positive 1-5, 7: each value >= 1 as an int, the bad one named."""
    from lecture_utils.episodes.sampler import _check_positive

    assert _check_positive(a=1, b=3) == [1, 3]
    with pytest.raises(ValueError, match=r"^k_shot=0 must be a whole number >= 1"):
        _check_positive(n_way=2, k_shot=0)


def test_class_indices_by_hand() -> None:
    """_class_indices 2, 3 (float and bool tensors are refused as such), 7-18 (a 0-d tensor is
    one index), 31, 33 (always int64, even when empty), 40-47 (a class given twice, at most
    five shown)."""
    from lecture_utils.episodes.sampler import _class_indices

    with pytest.raises(ValueError, match="got a torch.bool tensor"):
        _class_indices(torch.tensor([True, False]))
    with pytest.raises(ValueError, match="got a torch.float32 tensor"):
        _class_indices(torch.tensor([1.0, 2.0]))
    assert _class_indices(torch.tensor(3)).tolist() == [3]
    assert _class_indices([]).dtype == torch.long
    with pytest.raises(ValueError, match=r"\[1\] appear more than once"):
        _class_indices([1, 2, 1])
    with pytest.raises(ValueError) as info:
        _class_indices([v for v in range(6) for _ in range(2)])
    assert str(info.value) == (
        "classes must be distinct; [0, 1, 2, 3, 4] appear more than once (a task could then "
        "show the same character under several labels)."
    )


def test_sampler_defaults(images: torch.Tensor) -> None:
    """EpisodeSampler.__init__ 1-7: 5-way 1-shot, one query per class, one task a batch, no
    rotations, labels shuffled, flat layout."""
    sampler = EpisodeSampler(images)
    assert (sampler.n_way, sampler.k_shot, sampler.n_query, sampler.batch_size) == (5, 1, 1, 1)
    assert sampler.rotations == 1 and sampler.shuffle_labels is True
    assert sampler.layout == "flat" and isinstance(sampler.sample(), Episode)
