"""A small causal transformer decoder, its masked loss, greedy decoding and per-task copies.

The same network serves every arm of notebook 06: read as ``^ D_tr query >`` it is the
black-box (in-context) model; read as ``^ x >`` (no D_tr) it is the plain input -> output
network that is pretrained on pooled tasks, fine-tuned, or trained from scratch.
It has no absolute positions: each token adds the embedding of its index inside its word
(:func:`word_positions`, which makes "copy letter j of the input" easy to learn), and attention
carries a recency bias (:func:`recency_bias`, ALiBi), so any sequence length works.
:class:`PerTaskCopies` holds one copy of the weights per task, so many tasks are fine-tuned in
one batched step (``torch.func.vmap``), each with its own Adam state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from lecture_utils.core import runtime
from lecture_utils.episodes.string_tasks import END, FIRST_LETTER, PAD, VOCAB_SIZE


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes of :class:`CausalTransformer` (defaults: ~70k weights, CPU-friendly)."""

    vocab_size: int = VOCAB_SIZE
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 2
    d_ff: int = 128
    max_len: int = 160
    max_word: int = 16

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} must be a multiple of n_heads.")
        if min(self.vocab_size, self.d_model, self.n_layers, self.d_ff, self.max_len) < 1:
            raise ValueError(f"Every size must be at least 1: {self}.")


def recency_bias(length: int, n_heads: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[heads, L, L]`` attention bias: ``-slope_h · (i - j)`` for ``j <= i``, -inf after i.

    ALiBi (Press et al., 2022): each head prefers recent tokens, with slopes spread
    geometrically from 1/4 (local) to 1/256 (almost global). No absolute positions are needed,
    so the model works on every sequence length it meets.
    """
    index = torch.arange(length, device=device)
    distance = (index[:, None] - index[None, :]).float()
    steps = torch.arange(n_heads, device=device) / max(1, n_heads - 1)
    slopes = 2.0 ** -(2.0 + 6.0 * steps)
    bias = -slopes[:, None, None] * distance
    return bias.masked_fill(distance < 0, float("-inf"))


class Block(nn.Module):
    """Pre-norm block: causal multi-head self-attention, then a ReLU MLP, both residual."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.fused = True
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff), nn.ReLU(), nn.Linear(cfg.d_ff, cfg.d_model)
        )

    def attend(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        *lead, L, D = h.shape
        q, k, v = self.qkv(h).reshape(*lead, L, 3, self.n_heads, D // self.n_heads).unbind(-3)
        q, k, v = (t.transpose(-2, -3) for t in (q, k, v))  # [..., heads, L, d_head]
        if self.fused:
            mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        else:  # plain ops, which torch.func.vmap batches (PerTaskCopies)
            scores = q @ k.transpose(-1, -2) / math.sqrt(D // self.n_heads)
            mixed = (scores + bias).softmax(-1) @ v
        return self.out(mixed.transpose(-2, -3).reshape(*lead, L, D))

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``h [..., L, D]``; ``bias [heads, L, L]`` from :func:`recency_bias`."""
        h = h + self.attend(self.norm1(h), bias)
        return h + self.mlp(self.norm2(h))


class CausalTransformer(nn.Module):
    """``tokens [..., L]`` -> next-token logits ``[..., L, V]``; position i sees tokens <= i."""

    def __init__(self, cfg: TransformerConfig = TransformerConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.word_position = nn.Embedding(cfg.max_word, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        L = tokens.shape[-1]
        if L > self.cfg.max_len:
            raise ValueError(
                f"Sequence of {L} tokens > max_len={self.cfg.max_len}: use fewer support pairs "
                "or build the model with a larger max_len."
            )
        h = self.embed(tokens) + self.word_position(word_positions(tokens, self.cfg.max_word))
        bias = recency_bias(L, self.cfg.n_heads, tokens.device)
        for block in self.blocks:
            h = block(h, bias)
        return self.head(self.norm(h))


def word_positions(tokens: torch.Tensor, max_word: int = 16) -> torch.Tensor:
    """Each token's index within its word: tokens since the last special token (which is 0).

    ``^dar>darin;`` -> ``0 1 2 3 0 1 2 3 4 5 0``; capped at ``max_word - 1``. It depends on
    earlier tokens only, so it keeps the model causal.
    """
    index = torch.arange(tokens.shape[-1], device=tokens.device).expand_as(tokens)
    special = tokens < FIRST_LETTER
    last = torch.where(special, index, torch.zeros_like(index)).cummax(-1).values
    return (index - last).clamp(max=max_word - 1)


def build_transformer(seed: int, cfg: TransformerConfig = TransformerConfig()) -> CausalTransformer:
    """A :class:`CausalTransformer` initialised under ``seed`` (global RNG untouched)."""
    with runtime.seeded_init(seed):
        return CausalTransformer(cfg)


def sequence_loss(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the masked tokens, each predicted from the position before it.

    ``logits [..., L, V]``, ``tokens [..., L]``, ``mask [..., L]`` (bool; position 0 is never a
    target). Read ``logits[..., i-1, :]`` for ``tokens[..., i]`` wherever ``mask[..., i]``.
    """
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor, got {mask.dtype}.")
    target = mask[..., 1:]
    if not target.any():
        raise ValueError("The loss mask marks no tokens after position 0: nothing to learn.")
    ce = F.cross_entropy(
        logits[..., :-1, :].reshape(-1, logits.shape[-1]), tokens[..., 1:].reshape(-1),
        reduction="none",
    ).reshape(target.shape)  # fmt: skip
    return (ce * target).sum() / target.sum()


@torch.no_grad()
def greedy_decode(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    prompts: torch.Tensor,
    lengths: torch.Tensor,
    max_new: int,
) -> torch.Tensor:
    """``[..., max_new]`` greedily generated tokens after each prompt (PAD after the first END).

    ``prompts [..., L]`` are right-padded and ``lengths [...]`` give their true lengths; at
    each step the next token of row b is the argmax of ``logits_fn(tokens)[b, lengths[b]-1]``.
    Causal attention means the padding after a row's end never changes what it generates.
    """
    if max_new < 1:
        raise ValueError(f"max_new={max_new} must be at least 1.")
    if (lengths < 1).any() or (lengths > prompts.shape[-1]).any():
        raise ValueError("Every prompt length must be between 1 and the padded length.")
    lead = prompts.shape[:-1]
    total = prompts.shape[-1] + max_new
    tokens = torch.full((*lead, total), PAD, dtype=torch.long, device=prompts.device)
    tokens[..., : prompts.shape[-1]] = prompts
    pos = lengths.clone().to(prompts.device)
    done = torch.zeros(lead, dtype=torch.bool, device=prompts.device)
    out = torch.full((*lead, max_new), PAD, dtype=torch.long, device=prompts.device)
    for step in range(max_new):
        width = int(pos.max())  # only the columns up to the longest row are needed
        logits = logits_fn(tokens[..., :width])
        last = logits.gather(-2, (pos - 1)[..., None, None].expand(*lead, 1, logits.shape[-1]))
        nxt = last.squeeze(-2).argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        out[..., step] = nxt
        tokens.scatter_(-1, pos[..., None], nxt[..., None])
        done = done | (nxt == END)
        pos = pos + 1
        if done.all():
            break
    return out


class PerTaskCopies(nn.Module):
    """``n_tasks`` independent copies of ``base``'s weights, run together with ``vmap``.

    ``forward(tokens [T, N, L])`` runs copy t on ``tokens[t]``. Summing the tasks' losses gives
    each copy exactly its own gradient, and Adam is elementwise, so one optimiser over the
    stacked weights is T independent fine-tuning runs.
    """

    def __init__(self, base: nn.Module, n_tasks: int) -> None:
        super().__init__()
        if n_tasks < 1:
            raise ValueError(f"n_tasks={n_tasks} must be at least 1.")
        self.base, self.n_tasks = base, n_tasks
        self.names = [name for name, _ in base.named_parameters()]
        self.stacked = nn.ParameterList(
            nn.Parameter(p.detach().unsqueeze(0).repeat(n_tasks, *[1] * p.dim()).clone())
            for p in base.parameters()
        )
        for module in base.modules():  # vmap needs the plain-ops attention
            if isinstance(module, Block):
                module.fused = False

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[0] != self.n_tasks:
            raise ValueError(f"tokens has {tokens.shape[0]} tasks, the copies {self.n_tasks}.")

        def one(params: tuple[torch.Tensor, ...], x: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, dict(zip(self.names, params, strict=True)), (x,))

        return vmap(one)(tuple(self.stacked), tokens)
