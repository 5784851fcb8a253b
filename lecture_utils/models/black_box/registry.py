"""The family registry: a family is a name and a builder, registered by the family's own file.

``build_model(name, ...)`` looks the name up here, so adding a family is one new file that ends
with one ``register(...)`` line (plus its import in the package's ``__init__``); no list to edit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from lecture_utils.core.runtime import seeded_init
from lecture_utils.models.black_box.base import BlackBoxModel, make_encoder

# builder(encoder, feature_dim, n_way, **options) -> a model
Builder = Callable[..., BlackBoxModel]


@dataclass(frozen=True)
class Family:
    """A registered family: its builder, its place in the lecture's order, and whether it is a
    variant built for a comparison (notebook 04's Q3) rather than one of the lecture's families."""

    name: str
    build: Builder
    order: int
    variant: bool = False


_REGISTRY: dict[str, Family] = {}


def register(name: str, build: Builder, *, order: int, variant: bool = False) -> Family:
    """Make ``build_model(name, ...)`` call ``build(encoder, feature_dim, n_way, **options)``.

    Registering the same name twice is an error (two files claiming one family).
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"A family needs a non-empty string name, got {name!r}.")
    if name in _REGISTRY and _REGISTRY[name].build is not build:
        raise ValueError(f"A black-box family named {name!r} is already registered.")
    _REGISTRY[name] = family = Family(name, build, order, variant)
    return family


def unregister(name: str) -> None:
    """Remove a family (for tests that register a toy one)."""
    _REGISTRY.pop(name, None)


def families(*, variants: bool = False) -> tuple[str, ...]:
    """The registered family names in the lecture's order (variants too with ``variants``)."""
    chosen = [f for f in _REGISTRY.values() if variants or not f.variant]
    return tuple(f.name for f in sorted(chosen, key=lambda f: (f.order, f.name)))


def build_model(
    family: str,
    encoder: str = "conv",
    *,
    n_way: int = 5,
    image_size: int = 28,
    channels: int = 64,
    feature_dim: int | None = None,
    stem_stride: int = 1,
    seed: int = 0,
    **kwargs: object,
) -> nn.Module:
    """A registered family with a fresh encoder (``"conv"``, ``"pixels"``, ``"features"``).

    The initial weights are fixed by ``seed`` (the global RNG is left untouched). ``kwargs`` go
    to the model (e.g. ``context_dim=8`` for ``"feedforward"``); ``stem_stride`` to the conv
    encoder. An unknown name raises ``ValueError`` naming the known families.
    """
    if family not in _REGISTRY:
        known = list(families(variants=True))
        raise ValueError(f"Unknown family {family!r}; choose one of {known}.")
    if n_way < 2:
        raise ValueError(f"n_way must be at least 2 (a classification task), got {n_way}.")
    with seeded_init(seed):
        enc, dim = make_encoder(encoder, image_size, channels, feature_dim, stem_stride)
        return _REGISTRY[family].build(enc, dim, n_way, **kwargs)
