"""The temporal-convolution + attention family (SNAIL): interface, independence, learning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lecture_utils.core import runtime
from lecture_utils.models.black_box.snail import SNAIL, CausalAttention, CausalConv, dilations_for
from lecture_utils.training import trainer

F_DIM, N, K, Q = 8, 3, 2, 2


def model(seed: int = 0, **kw: object) -> SNAIL:
    with runtime.seeded_init(seed):
        return SNAIL(nn.Flatten(), F_DIM, max_way=5, max_support=10, **kw)


def episode(b: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    sx = torch.randn(b, N * K, F_DIM, generator=g)
    sy = torch.arange(N).repeat_interleave(K).repeat(b, 1)
    qx = torch.randn(b, N * Q, F_DIM, generator=g)
    return sx, sy, qx


def test_shapes_follow_the_interface() -> None:
    sx, sy, qx = episode()
    assert model()(sx, sy, qx).shape == (2, N * Q, N)


def test_dilations_cover_the_sequence() -> None:
    assert dilations_for(11) == [1, 2, 4, 8]
    assert dilations_for(6) == [1, 2, 4]


def test_phi_size_by_hand() -> None:
    # 2 attention layers add 32 channels each, 4 convs (dilations 1,2,4,8 for 11 steps) add
    # 32 each: 192 new channels at each of the N*K = 6 support positions.
    assert model().phi_size(N, K) == 6 * (2 * 32 + 4 * 32)


def test_queries_do_not_see_each_other() -> None:
    m = model().eval()
    sx, sy, qx = episode()
    base = m(sx, sy, qx)
    qx2 = qx.clone()
    qx2[:, -1] += 5.0
    changed = m(sx, sy, qx2)
    assert torch.allclose(base[:, :-1], changed[:, :-1], atol=1e-6)
    assert not torch.allclose(base[:, -1], changed[:, -1])


def test_support_labels_and_images_matter() -> None:
    m = model().eval()
    sx, sy, qx = episode()
    base = m(sx, sy, qx)
    assert not torch.allclose(base, m(sx, sy.flip(-1), qx))
    assert not torch.allclose(base, m(sx * 2, sy, qx))


def test_convolution_and_attention_are_causal() -> None:
    torch_gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 6, 4, generator=torch_gen)
    for layer in (CausalConv(4, 3, dilation=2), CausalAttention(4, 5, 3)):
        y = layer(x)
        x2 = x.clone()
        x2[:, 4:] += 10.0  # change the future
        assert torch.allclose(y[:, :4], layer(x2)[:, :4], atol=1e-6)


def test_too_long_support_and_bad_widths_are_refused() -> None:
    m = model()
    sx = torch.randn(1, 12, F_DIM)
    with pytest.raises(ValueError, match="max_support"):
        m(sx, torch.arange(3).repeat(4)[None], torch.randn(1, 3, F_DIM))
    with pytest.raises(ValueError, match="filters"):
        model(filters=0)


def test_it_learns_a_toy_task() -> None:
    """Classes are random prototypes per task; SNAIL must match queries to labelled support."""
    m = model(seed=0)
    gen = torch.Generator().manual_seed(0)

    def task(b: int = 16):
        protos = torch.randn(b, N, F_DIM, generator=gen)
        sy = torch.arange(N).repeat_interleave(K).repeat(b, 1)
        qy = torch.arange(N).repeat_interleave(Q).repeat(b, 1)
        sx = protos.gather(1, sy[..., None].expand(-1, -1, F_DIM))
        qx = protos.gather(1, qy[..., None].expand(-1, -1, F_DIM))
        noise = lambda t: t + 0.3 * torch.randn(t.shape, generator=gen)  # noqa: E731
        return noise(sx), sy, noise(qx), qy

    def loss_at(step: int) -> torch.Tensor:
        sx, sy, qx, qy = task()
        return nn.functional.cross_entropy(m(sx, sy, qx).flatten(0, 1), qy.flatten())

    opt = trainer.make_optimizer(m.parameters(), lr=3e-3)
    trainer.optimise(m, loss_at, steps=150, optimizer=opt, progress=False)
    sx, sy, qx, qy = task(64)
    with torch.no_grad():
        acc = (m(sx, sy, qx).argmax(-1) == qy).float().mean().item()
    assert acc > 0.8  # chance is 1/3
