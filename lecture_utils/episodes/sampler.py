"""N-way K-shot episodes: alphabet-level class splits and a vectorised meta-batch sampler.

Shapes (default ``layout="flat"``), for a meta-batch of ``B`` tasks, each ``N``-way with ``K``
support and ``Q`` query images per class, image size ``S``:

===============  ====================  ==============================================
field            shape                 meaning
===============  ====================  ==============================================
``support_x``    ``[B, N*K, 1, S, S]``  D_train of every task (ink = 1)
``support_y``    ``[B, N*K]``           labels in ``0..N-1`` (int64)
``query_x``      ``[B, N*Q, 1, S, S]``  D_test of every task
``query_y``      ``[B, N*Q]``           labels in ``0..N-1``
``classes``      ``[B, N]``             ``classes[b, l]``: character index with label l
``rotations``    ``[B, N]``             its rotation in quarter turns (0 without augmentation)
===============  ====================  ==============================================

Items need not be square images: the sampler draws whatever lies in ``pool.shape[2:]`` (the
*item shape*). An image pool ``[C, 20, S, S]`` gives items ``[1, S, S]`` as above (a channel axis
is added); any other pool, e.g. precomputed features ``[C, 20, F]``, gives its items unchanged:
``support_x [B, N*K, F]`` and ``query_x [B, N*Q, F]``. Rotations need square 2-D items.

``layout="homework"`` gives the CS330 homework layout instead: ``images`` ``[B, K+Q, N, S*S]``
(for any item shape: the item flattened, ``[B, K+Q, N, prod(item)]``)
and one-hot ``labels`` ``[B, K+Q, N, N]``; rows ``0..K-1`` are the support set (row ``k``,
column ``n``: the k-th image of the class labelled ``n``), rows ``K..K+Q-1`` the query set,
shuffled across columns so that position does not give the label away. With the default
``n_query=1`` that is the homework's ``[B, K+1, N, S*S]``. ``classes`` and ``rotations`` come
with it too.

Counting images: one task holds ``N*K`` support + ``N*Q`` query images, ``N*(K+Q)`` in all
(``Q`` is per class); a meta-batch of ``B`` tasks holds ``B*N*(K+Q)``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields

import torch

from lecture_utils.core import checks
from lecture_utils.data.omniglot import OmniglotData
from lecture_utils.data.transforms import rotation_classes
from lecture_utils.episodes.task_batch import TaskBatch

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ClassSplit:
    """Characters grouped by alphabet into meta-train / meta-val / meta-test.

    ``alphabets["train"]`` lists the meta-train alphabets, ``indices["train"]`` the character
    indices (into ``OmniglotData.images``) of those alphabets, and so on. No character, and no
    alphabet, is in two splits.
    """

    alphabets: dict[str, list[str]]
    indices: dict[str, list[int]]

    def __getitem__(self, split: str) -> list[int]:
        if split not in self.indices:
            raise KeyError(f"Unknown split {split!r}; choose one of {list(SPLITS)}.")
        return self.indices[split]

    def summary(self) -> str:
        """One line per split: number of alphabets, characters and the alphabet names."""
        return "\n".join(
            f"meta-{s:<5} {len(self.alphabets[s])} alphabets, "
            f"{len(self.indices[s]):4d} characters: " + ", ".join(self.alphabets[s])
            for s in SPLITS
        )


def split_by_alphabet(
    data: OmniglotData, n_val: int = 1, n_test: int = 2, seed: int = 0
) -> ClassSplit:
    """Split alphabets at random (seeded) into meta-train / meta-val / meta-test.

    With the default 8-alphabet data: 5 meta-train, 1 meta-val and 2 meta-test alphabets.
    """
    names = data.alphabet_names
    if n_val < 0 or n_test < 1 or n_val + n_test >= len(names):
        raise ValueError(
            f"Cannot hold out n_val={n_val} and n_test={n_test} of {len(names)} alphabets: "
            "keep n_test >= 1, n_val >= 0 and at least one alphabet for meta-training."
        )
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
    shuffled = [names[i] for i in order]
    chosen = {
        "test": sorted(shuffled[:n_test]),
        "val": sorted(shuffled[n_test : n_test + n_val]),
        "train": sorted(shuffled[n_test + n_val :]),
    }
    alphabets = {s: chosen[s] for s in SPLITS}
    indices = {s: [i for a in alphabets[s] for i in data.character_indices(a)] for s in SPLITS}
    return ClassSplit(alphabets=alphabets, indices=indices)


@dataclass
class Episode(TaskBatch):
    """One meta-batch in the flat layout; see the module docstring for every shape."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    classes: torch.Tensor
    rotations: torch.Tensor


@dataclass
class HomeworkBatch:
    """One meta-batch in the CS330 homework layout (see the module docstring).

    ``images`` ``[B, K+Q, N, S*S]``, one-hot ``labels`` ``[B, K+Q, N, N]``; ``classes`` and
    ``rotations`` ``[B, N]`` name the character (and quarter turns) behind label ``n``, as in
    :class:`Episode`.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: torch.Tensor | None = None
    rotations: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> HomeworkBatch:
        return HomeworkBatch(*(None if t is None else t.to(device) for t in _field_values(self)))


def _field_values(obj: object) -> tuple:
    """Dataclass fields as a tuple, without copying tensors (unlike ``dataclasses.astuple``)."""
    return tuple(getattr(obj, f.name) for f in fields(obj))


def images_per_task(n_way: int, k_shot: int, n_query: int) -> int:
    """Images in one task: N·K support + N·Q query."""
    return n_way * (k_shot + n_query)


def images_per_meta_batch(batch_size: int, n_way: int, k_shot: int, n_query: int) -> int:
    """Images in a meta-batch of B tasks: B·N·(K+Q)."""
    return batch_size * images_per_task(n_way, k_shot, n_query)


def _check_positive(**values: int) -> list[int]:
    """Each value as an ``int`` >= 1 (NumPy and 0-d tensor integers accepted)."""
    return [checks.whole_number(name, value, 1) for name, value in values.items()]


def _class_indices(classes: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """``classes`` as distinct int64 indices; floats, bools and repeats are refused."""
    if isinstance(classes, torch.Tensor) and (
        classes.dtype.is_floating_point or classes.dtype.is_complex or classes.dtype == torch.bool
    ):
        raise ValueError(
            f"classes must be integer character indices, got a {classes.dtype} tensor."
        )
    values = classes.tolist() if hasattr(classes, "tolist") else list(classes)
    values = values if isinstance(values, list) else [values]
    for value in values:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise ValueError(
                f"classes must be whole-number character indices; got {value!r} "
                f"({type(value).__name__}), which would be truncated. Pass integers."
            )
    chars = torch.tensor([operator.index(v) for v in values], dtype=torch.long)
    unique, counts = chars.unique(return_counts=True)
    if (counts > 1).any():
        repeated = unique[counts > 1].tolist()
        raise ValueError(
            f"classes must be distinct; {repeated[:5]} appear more than once (a task could then "
            "show the same character under several labels)."
        )
    return chars


class EpisodeSampler(torch.utils.data.IterableDataset):
    """Draws meta-batches of N-way K-shot tasks from an in-memory Omniglot tensor.

    ``images`` is ``[C, 20, S, S]`` (``OmniglotData.images``), or any ``[C, drawers, *item]`` pool
    such as precomputed features ``[C, 20, F]`` (see the module docstring); ``classes`` restricts
    sampling to some character indices (a split). ``rotations=True`` adds 90°, 180° and 270°
    rotations of every character as new classes (4× the classes; all rotations of a character stay
    in its split). ``shuffle_labels=True`` (default) draws a new random class→label assignment per
    task; with ``False`` class ``c`` always gets label ``c mod N`` (non-mutually-exclusive tasks,
    which a model can solve by memorisation). Support and query images of a class are always
    different drawers. Everything is tensor indexing: no Python loop per image or per task.

    Iterating yields meta-batches forever (or ``num_batches`` of them); pass it to a
    ``DataLoader(sampler, batch_size=None)`` (keep ``num_workers=0``: workers would copy the
    generator and repeat each other's episodes; the sampler is fast enough without them) or just
    call :meth:`sample`. For speed, the random indices of several meta-batches (about
    ``PLAN_IMAGES`` images) are drawn from the generator at once and handed out one meta-batch
    per call; the same seed always gives the same sequence. To restart a sequence, build a new
    sampler (re-seeding ``generator`` only affects batches not yet drawn ahead).
    ``single_thread=True`` (default) runs :meth:`sample` on one torch thread and then restores
    ``torch.get_num_threads()``; it is faster, since the work is memory-bound, and far faster on
    a busy machine.
    """

    def __init__(
        self,
        images: torch.Tensor,
        classes: Sequence[int] | torch.Tensor | None = None,
        *,
        n_way: int = 5,
        k_shot: int = 1,
        n_query: int = 1,
        batch_size: int = 1,
        rotations: bool = False,
        shuffle_labels: bool = True,
        layout: str = "flat",
        seed: int | None = 0,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        num_batches: int | None = None,
        single_thread: bool = True,
    ) -> None:
        super().__init__()
        checks.image_tensor("images", images, 1)
        if images.dim() < 3:
            raise ValueError(
                f"images must be [characters, drawers, *item], e.g. [C, 20, S, S] "
                f"(OmniglotData.images) or features [C, 20, F]; got shape {tuple(images.shape)}."
            )
        if images.dim() == 4 and images.shape[-1] != images.shape[-2]:
            raise ValueError(
                f"images must be [characters, drawers, S, S] with square S x S images; got shape "
                f"{tuple(images.shape)}. Are the axes swapped (e.g. [C, S, S, 20])? Pass "
                "non-image items as a 3-D pool [C, drawers, F]."
            )
        if rotations and (images.dim() != 4 or images.shape[-1] != images.shape[-2]):
            raise ValueError(
                f"rotations=True turns square images [C, drawers, S, S], got items of shape "
                f"{tuple(images.shape[2:])}; pass rotations=False (or rotate before encoding)."
            )
        n_way, k_shot, n_query, batch_size = _check_positive(
            n_way=n_way, k_shot=k_shot, n_query=n_query, batch_size=batch_size
        )
        if num_batches is not None:
            num_batches = checks.whole_number("num_batches", num_batches, 1, fix="or pass None")
        if layout not in ("flat", "homework"):
            raise ValueError(f"layout must be 'flat' or 'homework', got {layout!r}.")
        chars = torch.arange(images.shape[0]) if classes is None else _class_indices(classes)
        if chars.numel() and (chars.min() < 0 or chars.max() >= images.shape[0]):
            raise ValueError(
                f"classes must index the {images.shape[0]} characters of images; got indices "
                f"from {chars.min().item()} to {chars.max().item()}."
            )
        self.rotations = 4 if rotations else 1
        self.num_classes = chars.numel() * self.rotations
        drawers = images.shape[1]
        if n_way > self.num_classes:
            hint = "" if rotations else " or turn on rotations (4x the classes)"
            raise ValueError(
                f"n_way={n_way} exceeds the {self.num_classes} classes available in this split; "
                f"lower n_way{hint}."
            )
        if k_shot + n_query > drawers:
            raise ValueError(
                f"k_shot + n_query = {k_shot} + {n_query} = {k_shot + n_query} exceeds the "
                f"{drawers} drawers (images) per class; support and query must be distinct "
                "drawers, so lower k_shot or n_query."
            )
        # Memory of one meta-batch, plus the sampling indices of one refill (see _refill).
        per_image = images.shape[2:].numel() * images.element_size()
        per_task = n_way * (k_shot + n_query) * per_image + 8 * (
            self.num_classes + n_way * drawers + 6 * n_way * (k_shot + n_query)
        )
        per_task += 4 * (k_shot + n_query) * n_way * n_way if layout == "homework" else 0
        if batch_size * per_task > self.MAX_META_BATCH_BYTES:
            raise ValueError(
                f"A meta-batch of batch_size={batch_size} tasks ({n_way}-way {k_shot}-shot, "
                f"{n_query} query) needs about {batch_size * per_task / 2**30:.1f} GiB, above "
                f"EpisodeSampler.MAX_META_BATCH_BYTES = {self.MAX_META_BATCH_BYTES / 2**30:g} GiB; "
                f"lower batch_size to at most {self.MAX_META_BATCH_BYTES // per_task}."
            )
        self.device = torch.device(device) if device is not None else images.device
        pool = images[chars]
        if rotations:  # class id = 4 * position + quarter turns
            pool = rotation_classes(pool)
        self.pool = pool.to(self.device).contiguous()  # [num_classes, drawers, *item]
        self.flat_pool = self.pool.view(-1, *self.pool.shape[2:])  # [classes * drawers, *item]
        item = tuple(self.pool.shape[2:])
        # Episode items: images [S, S] get a channel axis, [1, S, S]; other items stay as they are.
        self.item_shape = (1, *item) if images.dim() == 4 else item
        self.item_numel = self.flat_pool[0].numel() if len(self.flat_pool) else 0
        self.num_drawers = drawers
        self.chars = chars
        self.n_way, self.k_shot, self.n_query, self.batch_size = n_way, k_shot, n_query, batch_size
        self.shuffle_labels = shuffle_labels
        self.layout = layout
        self.num_batches = num_batches
        self.single_thread = single_thread
        if generator is None:
            generator = torch.Generator().manual_seed(0 if seed is None else seed)
        self.generator = generator
        # Meta-batches whose indices are drawn per refill (see the speed notes below).
        self._plan_size = max(1, min(64, self.PLAN_IMAGES // self.images_per_meta_batch))
        self._plan: dict[str, torch.Tensor] = {}
        self._plan_next = self._plan_size

    # -- counts ---------------------------------------------------------------------------
    @property
    def images_per_task(self) -> int:
        return images_per_task(self.n_way, self.k_shot, self.n_query)

    @property
    def images_per_meta_batch(self) -> int:
        return images_per_meta_batch(self.batch_size, self.n_way, self.k_shot, self.n_query)

    # -- sampling -------------------------------------------------------------------------
    # Speed notes (this is the hot loop of every meta-training run):
    # * the random indices of several meta-batches (about PLAN_IMAGES images) are drawn in one
    #   go, so the fixed cost of the ~15 small tensor operations is shared; ``sample()`` itself
    #   is then one ``index_select`` plus views;
    # * a partial Fisher-Yates shuffle (N vectorised steps) draws N of C classes from N random
    #   numbers per task, instead of sorting (or topk-ing) C random numbers per task;
    # * one ``index_select`` on the flattened pool ``[classes * drawers, S, S]`` is several
    #   times faster than advanced indexing with two index tensors;
    # * ``single_thread=True`` runs these few memory-bound operations on one torch thread (the
    #   previous thread count is restored right after): intra-op threads only add
    #   synchronisation here, and on a busy 2-core machine one index_select took 11 ms with 2
    #   threads against 0.25 ms with 1.
    PLAN_IMAGES = 8192
    MAX_META_BATCH_BYTES = 2 * 1024**3  # refuse meta-batches that would need more memory

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator)

    def _first_of_permutations(self, rows: int, n: int, k: int) -> torch.Tensor:
        """``[rows, k]``: the first ``k`` entries of an independent random permutation of
        ``0..n-1`` per row, i.e. a uniformly random ordered ``k``-subset (partial Fisher-Yates:
        ``k`` vectorised swap steps, ``rows * k`` random numbers instead of ``rows * n``)."""
        perm = torch.arange(n).repeat(rows, 1)
        u = self._rand(rows, k)
        row = torch.arange(rows)
        for j in range(k):
            pick = (j + (u[:, j] * (n - j)).long()).clamp_(max=n - 1)  # uniform in j..n-1
            chosen = perm[row, pick]
            perm[row, pick] = perm[:, j]
            perm[:, j] = chosen
        return perm[:, :k]

    def _draw_classes(self, tasks: int) -> torch.Tensor:
        """``[tasks, N]`` class ids, column ``l`` being the class that gets label ``l``."""
        N, C = self.n_way, self.num_classes
        if self.shuffle_labels:
            return self._first_of_permutations(tasks, C, N)
        # Fixed assignment: class c always has label c mod N; pick one class per label.
        group_sizes = (C - torch.arange(N) + N - 1) // N
        pick = (self._rand(tasks, N) * group_sizes).long()
        return torch.arange(N) + N * pick

    def _draw_drawers(self, tasks: int) -> torch.Tensor:
        """``[tasks, N, K+Q]`` distinct drawers per class, in random order (first K: support)."""
        N, K, Q = self.n_way, self.k_shot, self.n_query
        return self._first_of_permutations(tasks * N, self.num_drawers, K + Q).view(tasks, N, -1)

    def _refill(self) -> None:
        """Draw the indices (and labels) of the next ``M`` meta-batches at once."""
        B, N, K, Q, M = self.batch_size, self.n_way, self.k_shot, self.n_query, self._plan_size
        T = M * B  # tasks are independent: draw M*B of them, then cut into M meta-batches
        class_ids = self._draw_classes(T)  # [T, N]: column l gets label l
        ids = class_ids[:, :, None] * self.num_drawers + self._draw_drawers(T)  # [T, N, K+Q]
        plan = {
            "classes": self.chars[class_ids // self.rotations].view(M, B, N),
            "rotations": (class_ids % self.rotations).view(M, B, N),
        }
        if self.layout == "homework":
            # Row k < K, column n: the k-th support image of the class labelled n. Query rows
            # shuffle the classes across columns, so a column no longer gives the label away.
            label = torch.arange(N).expand(T, K + Q, N).clone()
            label[:, K:] = self._rand(T, Q, N).argsort(dim=-1)
            shot = torch.arange(K + Q)[None, :, None].expand(T, K + Q, N)
            plan["ids"] = ids[torch.arange(T)[:, None, None], label, shot].view(M, -1)
            plan["labels"] = torch.eye(N)[label].view(M, B, K + Q, N, N)
        else:
            # Shuffle positions within the support set and within the query set so that order
            # never reveals a label: position p holds label perm[p] // count.
            perm = self._rand(T, N * (K + Q))
            perm_s, perm_q = perm[:, : N * K].argsort(dim=1), perm[:, N * K :].argsort(dim=1)
            support_ids = ids[:, :, :K].reshape(T, N * K).gather(1, perm_s)
            query_ids = ids[:, :, K:].reshape(T, N * Q).gather(1, perm_q)
            # Per meta-batch: all support ids, then all query ids (one gather, two views).
            plan["ids"] = torch.cat([support_ids.view(M, -1), query_ids.view(M, -1)], dim=1)
            plan["support_y"] = (perm_s // K).view(M, B, N * K)
            plan["query_y"] = (perm_q // Q).view(M, B, N * Q)
        self._plan = {key: value.to(self.device) for key, value in plan.items()}
        self._plan_next = 0

    def sample(self) -> Episode | HomeworkBatch:
        """Draw one meta-batch (see the module docstring for the shapes)."""
        if not self.single_thread or torch.get_num_threads() == 1:
            return self._sample()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._sample()
        finally:
            torch.set_num_threads(threads)

    def _sample(self) -> Episode | HomeworkBatch:
        if self._plan_next >= self._plan_size:
            self._refill()
        i, plan = self._plan_next, self._plan
        self._plan_next += 1
        B, N, K, Q = self.batch_size, self.n_way, self.k_shot, self.n_query
        item = self.item_shape
        x = self.flat_pool.index_select(0, plan["ids"][i])  # [B * N * (K+Q), *item]
        if self.layout == "homework":
            return HomeworkBatch(
                x.view(B, K + Q, N, self.item_numel),
                plan["labels"][i],
                plan["classes"][i],
                plan["rotations"][i],
            )
        return Episode(
            support_x=x[: B * N * K].view(B, N * K, *item),
            support_y=plan["support_y"][i],
            query_x=x[B * N * K :].view(B, N * Q, *item),
            query_y=plan["query_y"][i],
            classes=plan["classes"][i],
            rotations=plan["rotations"][i],
        )

    def __iter__(self) -> Iterator[Episode | HomeworkBatch]:
        count = 0
        while self.num_batches is None or count < self.num_batches:
            yield self.sample()
            count += 1

    def __repr__(self) -> str:
        return (
            f"EpisodeSampler({self.n_way}-way {self.k_shot}-shot, {self.n_query} query/class, "
            f"B={self.batch_size}, classes={self.num_classes}, layout={self.layout!r})"
        )
