"""Few-shot language generation tasks: tiny made-up languages, one hidden rule per task.

A task is a **rule** of a made-up morphology: change one vowel into another everywhere in the
stem, then put a two-letter prefix in front (``vowel_from="a", vowel_to="o", prefix="ki"``:
``"baduk" -> "kiboduk"``). Stems are consonant-vowel words of 3-5 letters. D_tr
holds K (stem, inflected form) pairs of one rule; D_test holds new stems of the
same rule, to inflect.

**Splits.** Each of the 256 prefixes belongs to exactly one split, fixed by a hash of the
prefix (:func:`split_of_prefix`, ~25% meta-test, ~12.5% meta-validation): a meta-test rule
never shares its prefix with a meta-train rule, so no rule (and no prefix) is in two splits.

**Sequences.** One sequence holds D_tr and the query (:func:`build_sequence`)::

    ^ x1 > y1 ; x2 > y2 ; ... ; xq > yq ;

``^`` starts the sequence, ``>`` separates an input from its output, ``;`` ends an output. The
loss mask marks the tokens the model must generate: the query's output and its final ``;``.
With no support pairs the same layout is a plain input -> output sequence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import torch

CONSONANTS = "bdgklmnprst"
VOWELS = "aeiou"
LETTERS = CONSONANTS + VOWELS
PREFIX_LENGTH = 2
STEM_LENGTHS = (3, 4, 5)
SPLITS = ("meta_train", "meta_val", "meta_test")

PAD, BOS, SEP, END = 0, 1, 2, 3
SPECIALS = {PAD: "_", BOS: "^", SEP: ">", END: ";"}
FIRST_LETTER = len(SPECIALS)
VOCAB_SIZE = FIRST_LETTER + len(LETTERS)
_INDEX = {c: FIRST_LETTER + i for i, c in enumerate(LETTERS)}


# ---- rules and splits ------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Rule:
    """One task: ``vowel_from`` becomes ``vowel_to`` in the stem, then ``prefix`` goes in front."""

    prefix: str
    vowel_from: str
    vowel_to: str

    def __post_init__(self) -> None:
        if len(self.prefix) != PREFIX_LENGTH or any(c not in LETTERS for c in self.prefix):
            raise ValueError(f"prefix {self.prefix!r} must be {PREFIX_LENGTH} of {LETTERS!r}.")
        if self.vowel_from not in VOWELS or self.vowel_to not in VOWELS:
            raise ValueError(f"vowels must be among {VOWELS!r}, got {self.vowel_from!r}, "
                             f"{self.vowel_to!r}.")  # fmt: skip
        if self.vowel_from == self.vowel_to:
            raise ValueError(f"vowel_from and vowel_to are both {self.vowel_to!r}: no change.")

    def apply(self, stem: str) -> str:
        """The inflected form of ``stem`` under this rule."""
        check_word(stem)
        return self.prefix + stem.replace(self.vowel_from, self.vowel_to)

    def __str__(self) -> str:
        return f"{self.prefix}+, {self.vowel_from}->{self.vowel_to}"


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {list(SPLITS)}.")


def check_word(word: str) -> None:
    """Refuse empty words and letters outside the alphabet (naming the fix)."""
    if not isinstance(word, str) or not word:
        raise ValueError(f"Words must be non-empty strings, got {word!r}.")
    bad = sorted({c for c in word if c not in LETTERS})
    if bad:
        raise ValueError(f"{word!r} has letters {bad} outside the alphabet {LETTERS!r}.")


def split_of_prefix(prefix: str) -> str:
    """The split a prefix (and every rule with it) belongs to: a hash, the same on every run.

    The first byte of ``sha256("prefix:" + prefix)``: < 64 -> meta-test, < 96 -> meta-val,
    else meta-train. No seed is involved, so the splits never depend on a training seed.
    """
    byte = hashlib.sha256(f"prefix:{prefix}".encode()).digest()[0]
    return "meta_test" if byte < 64 else "meta_val" if byte < 96 else "meta_train"


@cache
def rules(split: str) -> tuple[Rule, ...]:
    """Every rule of ``split``, sorted (its prefix decides the split)."""
    check_split(split)
    prefixes = [a + b for a in LETTERS for b in LETTERS]
    return tuple(
        Rule(s, vf, vt)
        for s in prefixes
        if split_of_prefix(s) == split
        for vf in VOWELS
        for vt in VOWELS
        if vf != vt
    )


# ---- drawing tasks ---------------------------------------------------------------------------


def _pick(options: Sequence, generator: torch.Generator) -> object:
    return options[int(torch.randint(len(options), (1,), generator=generator))]


def random_stem(generator: torch.Generator) -> str:
    """A consonant-vowel word of 3-5 letters (``"bad"``, ``"kelo"``, ``"minus"``).

    One draw of six integers per stem (the length, then one per letter): sampling stays cheap.
    """
    draws = torch.randint(0, 2**30, (1 + max(STEM_LENGTHS),), generator=generator).tolist()
    length = STEM_LENGTHS[draws[0] % len(STEM_LENGTHS)]
    return "".join(
        (CONSONANTS if i % 2 == 0 else VOWELS)[d % (len(CONSONANTS) if i % 2 == 0 else len(VOWELS))]
        for i, d in enumerate(draws[1 : 1 + length])
    )


@dataclass(frozen=True)
class StringTask:
    """One task: its rule, ``support`` pairs (D_tr) and ``query`` pairs (D_test), distinct stems."""

    rule: Rule
    support: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str], ...]

    def with_support(self, k: int) -> StringTask:
        """The same task with only its first ``k`` support pairs (nested: K=1 is in K=2)."""
        if not 0 <= k <= len(self.support):
            raise ValueError(f"k={k} must be between 0 and the {len(self.support)} pairs drawn.")
        return StringTask(self.rule, self.support[:k], self.query)


def draw_task(rule: Rule, k_shot: int, n_query: int, generator: torch.Generator) -> StringTask:
    """``k_shot`` support and ``n_query`` query pairs of ``rule``, all with different stems."""
    check_counts(k_shot, n_query)
    stems: list[str] = []
    while len(stems) < k_shot + n_query:
        stem = random_stem(generator)
        query = len(stems) >= k_shot
        if stem not in stems and (not query or rule.vowel_from in stem):
            stems.append(stem)
    pairs = tuple((s, rule.apply(s)) for s in stems)
    return StringTask(rule, pairs[:k_shot], pairs[k_shot:])


def check_counts(k_shot: int, n_query: int) -> None:
    if not isinstance(k_shot, int) or k_shot < 0:
        raise ValueError(f"k_shot={k_shot!r} must be a whole number >= 0 (pairs in D_tr).")
    if not isinstance(n_query, int) or n_query < 1:
        raise ValueError(f"n_query={n_query!r} must be at least 1 (D_test needs a query).")
    if k_shot + n_query > 200:
        raise ValueError(f"k_shot + n_query = {k_shot + n_query} > 200: too many stems per task.")


def split_seed(split: str, seed: int) -> int:
    """The generator seed of a split's task stream: 3·seed + the split's index (never shared)."""
    check_split(split)
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}.")
    return 3 * seed + SPLITS.index(split)


def sample_tasks(
    split: str, n_tasks: int, k_shot: int, n_query: int, generator: torch.Generator
) -> list[StringTask]:
    """``n_tasks`` tasks whose rules are drawn uniformly from ``split``'s rules."""
    check_split(split)
    if not isinstance(n_tasks, int) or n_tasks < 1:
        raise ValueError(f"n_tasks={n_tasks!r} must be at least 1.")
    pool = rules(split)
    return [draw_task(_pick(pool, generator), k_shot, n_query, generator) for _ in range(n_tasks)]


def task_set(split: str, n_tasks: int, k_shot: int, n_query: int, seed: int) -> list[StringTask]:
    """A fixed pool of tasks: the same ``(split, seed)`` always gives the same tasks."""
    generator = torch.Generator().manual_seed(split_seed(split, seed))
    return sample_tasks(split, n_tasks, k_shot, n_query, generator)


# ---- tokens and sequences ----------------------------------------------------------------------


def encode(word: str) -> list[int]:
    """Letter ids of ``word`` (no special tokens)."""
    check_word(word)
    return [_INDEX[c] for c in word]


def decode(ids: Sequence[int] | torch.Tensor) -> str:
    """The letters of ``ids`` up to the first ``;`` (padding dropped, other specials shown)."""
    out = []
    for i in torch.as_tensor(ids).tolist():
        if i == END:
            break
        if i == PAD:
            continue
        if not 0 <= i < VOCAB_SIZE:
            raise ValueError(f"token id {i} is outside the vocabulary 0..{VOCAB_SIZE - 1}.")
        out.append(SPECIALS[i] if i < FIRST_LETTER else LETTERS[i - FIRST_LETTER])
    return "".join(out)


def show(ids: Sequence[int] | torch.Tensor) -> str:
    """Every token of ``ids`` as one character (specials as ``^ > ; _``)."""
    return "".join(
        SPECIALS[i] if i < FIRST_LETTER else LETTERS[i - FIRST_LETTER]
        for i in torch.as_tensor(ids).tolist()
    )


def build_sequence(
    support: Sequence[tuple[str, str]], query_x: str, query_y: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tokens [L] long, mask [L] bool)`` of ``^ x1 > y1 ; ... ; xq > yq ;``.

    ``mask[i]`` is True when token ``i`` is one the model must generate: the query output's
    letters and its closing ``;`` (the loss reads the logits at ``i - 1`` for them). Without
    ``query_y`` the sequence stops after the query's ``>``: the prompt for generation.
    """
    tokens, mask = [BOS], [False]
    for x, y in support:
        part = [*encode(x), SEP, *encode(y), END]
        tokens += part
        mask += [False] * len(part)
    tokens += [*encode(query_x), SEP]
    mask += [False] * (len(query_x) + 1)
    if query_y is not None:
        tokens += [*encode(query_y), END]
        mask += [True] * (len(query_y) + 1)
    return torch.tensor(tokens, dtype=torch.long), torch.tensor(mask, dtype=torch.bool)


def pad_batch(
    sequences: Sequence[torch.Tensor], masks: Sequence[torch.Tensor] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad to ``(tokens [B, L], mask [B, L], lengths [B])`` with ``PAD`` (mask False)."""
    if not sequences:
        raise ValueError("pad_batch needs at least one sequence.")
    lengths = torch.tensor([len(s) for s in sequences])
    tokens = torch.full((len(sequences), int(lengths.max())), PAD, dtype=torch.long)
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    for i, seq in enumerate(sequences):
        tokens[i, : len(seq)] = seq
        if masks is not None:
            mask[i, : len(seq)] = masks[i]
    return tokens, mask, lengths


def training_batch(
    tasks: Sequence[StringTask], query_index: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tokens, mask)`` ``[B, L]``: each task's support pairs, then its query ``query_index``."""
    built = [build_sequence(t.support, *t.query[query_index]) for t in tasks]
    tokens, mask, _ = pad_batch([b[0] for b in built], [b[1] for b in built])
    return tokens, mask


def prompt_batch(
    tasks: Sequence[StringTask], query_index: int = 0, supports: Sequence[StringTask] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tokens [B, L], lengths [B])``: prompts ending at each query's ``>``.

    ``supports`` (default: ``tasks``) supplies D_tr, so a test can hand each query another
    task's support set.
    """
    supports = tasks if supports is None else supports
    if len(supports) != len(tasks):
        raise ValueError(f"{len(supports)} support sets for {len(tasks)} tasks: one each.")
    prompts = [
        build_sequence(s.support, t.query[query_index][0])[0]
        for t, s in zip(tasks, supports, strict=True)
    ]
    tokens, _, lengths = pad_batch(prompts)
    return tokens, lengths


def max_output_length() -> int:
    """The longest output a rule can produce (prefix + longest stem)."""
    return max(STEM_LENGTHS) + PREFIX_LENGTH
