"""Plain supervised training on Omniglot characters: drawer splits, a fit loop, accuracy.

Used by the multi-task / transfer notebook (01), the fine-tuning notebook (02) and the
transfer-learning baseline of the black-box notebook (04).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class LabelledImages:
    """Images ``x`` ``[n, 1, S, S]`` with labels ``y`` ``[n]`` in ``0..num_classes-1``."""

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int

    def __len__(self) -> int:
        return len(self.y)


def drawer_split(
    images: torch.Tensor,
    characters: Sequence[int],
    train_per_class: int,
    test_per_class: int | None = None,
    seed: int = 0,
) -> tuple[LabelledImages, LabelledImages]:
    """Split the drawers of each character into train and test sets (never shared).

    ``images`` is ``OmniglotData.images`` ``[C, 20, S, S]``; ``characters`` picks the classes
    (label ``i`` is ``characters[i]``). Each class gets ``train_per_class`` training drawers and
    ``test_per_class`` (default: all the rest) test drawers, chosen at random with ``seed``.
    """
    drawers = images.shape[1]
    test_per_class = drawers - train_per_class if test_per_class is None else test_per_class
    if train_per_class < 1 or test_per_class < 1 or train_per_class + test_per_class > drawers:
        raise ValueError(
            f"train_per_class={train_per_class} + test_per_class={test_per_class} must be at "
            f"least 1 each and at most the {drawers} drawers per character."
        )
    chars = torch.as_tensor(list(characters), dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    order = torch.rand(len(chars), drawers, generator=gen).argsort(dim=1)
    labels = torch.arange(len(chars))

    def take(cols: torch.Tensor) -> LabelledImages:
        x = images[chars[:, None], cols].flatten(0, 1).unsqueeze(1)
        y = labels.repeat_interleave(cols.shape[1])
        return LabelledImages(x, y, len(chars))

    train = take(order[:, :train_per_class])
    test = take(order[:, train_per_class : train_per_class + test_per_class])
    return train, test


@dataclass
class History:
    """Per-epoch training loss and, when evaluated, accuracy on held-out data."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


@torch.no_grad()
def accuracy(
    model: nn.Module, data: LabelledImages, batch_size: int = 512, **forward_kwargs: object
) -> float:
    """Fraction of ``data`` that ``model`` classifies correctly (evaluation mode)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(data), batch_size):
        x = data.x[start : start + batch_size].to(device)
        y = data.y[start : start + batch_size].to(device)
        correct += (model(x, **forward_kwargs).argmax(dim=-1) == y).sum().item()
    model.train(was_training)
    return correct / max(len(data), 1)


def fit(
    model: nn.Module,
    train: LabelledImages,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 64,
    optimizer: torch.optim.Optimizer | None = None,
    evaluate_on: LabelledImages | None = None,
    seed: int = 0,
    progress: bool | str = True,
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
) -> History:
    """Train ``model`` with cross-entropy and Adam (or ``optimizer``) for ``epochs`` epochs.

    Shows a tqdm bar (``progress`` may be a description string). ``on_epoch_end(epoch, model)``
    runs after every epoch, e.g. to unfreeze a block. Returns the per-epoch :class:`History`.
    """
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    if optimizer is None:
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    history = History()
    desc = progress if isinstance(progress, str) else "training"
    bar = tqdm(range(epochs), desc=desc, disable=progress is False, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(train), generator=gen)
        total, seen = 0.0, 0
        for start in range(0, len(train), batch_size):
            idx = order[start : start + batch_size]
            x, y = train.x[idx].to(device), train.y[idx].to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        history.loss.append(total / seen)
        if evaluate_on is not None:
            history.accuracy.append(accuracy(model, evaluate_on))
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}", acc=f"{history.accuracy[-1]:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
    return history
