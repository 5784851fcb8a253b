"""lecture_utils.core.runtime: the fast-mode switch, seeds and the device helper."""

from __future__ import annotations

import os
import random

import pytest
import torch

from lecture_utils.core import runtime


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", " on "])
def test_fast_mode_on(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(runtime.FAST_MODE_ENV, value)
    assert runtime.fast_mode() is True
    assert runtime.budget(full=1000, fast=10) == 10


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off"])
def test_fast_mode_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(runtime.FAST_MODE_ENV, value)
    assert runtime.fast_mode() is False
    assert runtime.budget(full=1000, fast=10) == 1000


def test_fast_mode_unset(full_mode: None) -> None:
    assert runtime.fast_mode() is False


def test_fast_mode_banner_shows_only_in_fast_mode(monkeypatch, capsys) -> None:
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    monkeypatch.setenv(runtime.FAST_MODE_ENV, "0")
    runtime.fast_mode_banner()
    assert shown == [] and capsys.readouterr().out == ""
    monkeypatch.setenv(runtime.FAST_MODE_ENV, "1")
    runtime.fast_mode_banner()
    assert len(shown) == 1 and "not the lesson's numbers" in shown[0]


def test_results_tables_carry_the_banner_in_fast_mode_only(monkeypatch) -> None:
    @runtime.marks_fast_mode
    def table(rows: int, sep: str = "|") -> str:
        """A results table."""
        return sep.join(["a"] * rows)

    monkeypatch.setenv(runtime.FAST_MODE_ENV, "0")
    assert table(2) == "a|a" and table.__doc__ == "A results table."
    monkeypatch.setenv(runtime.FAST_MODE_ENV, "1")
    assert table(3, sep="-") == f"⚠ {runtime.FAST_MODE_BANNER}\n\na-a-a"
    outer = runtime.marks_fast_mode(lambda: table(1))  # a table built from a marked one
    assert outer() == f"⚠ {runtime.FAST_MODE_BANNER}\n\na"


def test_seed_everything_repeats_every_generator() -> None:
    def draw() -> tuple[float, list[float], list[float]]:
        gen = runtime.seed_everything(123)
        return random.random(), torch.rand(3).tolist(), torch.rand(3, generator=gen).tolist()

    first, second = draw(), draw()
    assert first == second
    runtime.seed_everything(124)
    assert torch.rand(3).tolist() != first[1]


def test_seed_everything_seeds_numpy() -> None:
    np = pytest.importorskip("numpy")
    runtime.seed_everything(7)
    a = np.random.rand(2).tolist()
    runtime.seed_everything(7)
    assert np.random.rand(2).tolist() == a


def fake_accelerators(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool) -> None:
    """Pretend this machine has (or lacks) a CUDA GPU and Apple's MPS."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_device_prefers_cuda_then_mps_then_cpu(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, expected: str
) -> None:
    monkeypatch.delenv("LECTURE_DEVICE", raising=False)
    fake_accelerators(monkeypatch, cuda, mps)
    assert runtime.get_device() == torch.device(expected)


@pytest.mark.parametrize("forced", ["cpu", "meta"])
def test_device_can_be_forced(monkeypatch: pytest.MonkeyPatch, forced: str) -> None:
    """LECTURE_DEVICE wins even on a machine that has a GPU (faked here)."""
    fake_accelerators(monkeypatch, cuda=True, mps=True)
    monkeypatch.setenv("LECTURE_DEVICE", forced)
    assert runtime.get_device() == torch.device(forced)


def test_tests_run_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """conftest forces the CPU so results do not depend on the machine's GPU, had it one."""
    assert os.environ.get("LECTURE_DEVICE") == "cpu"
    fake_accelerators(monkeypatch, cuda=True, mps=True)
    assert runtime.get_device().type == "cpu"
    assert runtime.describe()["device"] == "cpu"


def test_describe_reports_versions_threads_and_mode(fast_mode: None) -> None:
    info = runtime.describe()
    assert {"python", "torch", "matplotlib", "cpu_threads", "device", "fast_mode"} <= set(info)
    assert info["torch"] == torch.__version__
    assert isinstance(info["cpu_threads"], int) and info["cpu_threads"] >= 1
    assert info["fast_mode"] is True


def test_single_thread_restores_the_thread_count_even_after_an_error():
    import torch

    before = torch.get_num_threads()
    try:
        with runtime.single_thread():
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert torch.get_num_threads() == before
    with runtime.single_thread(enabled=False):
        assert torch.get_num_threads() == before
