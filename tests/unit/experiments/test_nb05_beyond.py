"""Notebook 05's runners: meta-training through the one episode loop, and their verdict words."""

from __future__ import annotations

import math

import torch

from lecture_utils.episodes.sine_tasks import make_episode
from lecture_utils.experiments.nb05_beyond import runs as bc

TINY = bc.Sampling(batch_size=4, n_query=5, k_range=(2, 4))


def test_meta_training_goes_through_the_one_loop_and_reproduces() -> None:
    first, log = bc.meta_train("neural_process", steps=6, sampling=TINY, progress=False, seed=2)
    again, log2 = bc.meta_train("neural_process", steps=6, sampling=TINY, progress=False, seed=2)
    assert log.steps == 6 and log.loss == log2.loss
    assert log.lr[0] > log.lr[-1]  # the notebook's cosine schedule reached the loop
    pairs = zip(first.state_dict().values(), again.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    _, other = bc.meta_train("neural_process", steps=6, sampling=TINY, progress=False, seed=3)
    assert other.loss != log.loss


def test_verdict_words_name_the_winner() -> None:
    assert bc.verdict_words("holds").startswith("the black-box model is better")
    assert bc.verdict_words("contradicted").startswith("the baseline is better")
    assert bc.verdict_words("inconclusive").startswith("no clear difference")


def test_average_wave_is_the_task_blind_guess() -> None:
    """On a wave with A = 2.55 and p = pi/2 (so y = -2.55 cos x), the guess is off by the
    factor 2/pi only: MSE = mean(((1 - 2/pi) 2.55 cos x)^2) over the query points."""
    episode = make_episode(
        torch.tensor([2.55]), torch.tensor([math.pi / 2]), 1, 200, torch.Generator().manual_seed(0)
    )
    want = ((1 - 2 / math.pi) * 2.55 * torch.cos(episode.query_x)).pow(2).mean()
    torch.testing.assert_close(bc.average_wave_mse(episode), want.reshape(1))


def test_wave_panels_name_their_numbers_and_pass_the_projector_audit() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from lecture_utils.core import figure_style

    assert bc.wave_title(3.0, 1.0, 5) == "amplitude A=3.00\nphase p=1.00, K=5"
    gen = torch.Generator().manual_seed(0)
    episode = make_episode(torch.tensor([3.0, 1.5]), torch.tensor([1.0, 0.2]), 10, 1, gen)
    with matplotlib.rc_context():
        figure_style.apply_style(force=True)
        fig = bc.prediction_grid({}, episode, tasks=[0, 1], ks=[5, 10])
        assert figure_style.audit_figure(fig) == []
        assert fig.axes[0].get_title().startswith("amplitude A=3.00")
        assert fig.axes[0].get_ylabel() == "output y" and fig.legends  # one legend, outside
        paths = {name: torch.rand(2, 5, 2) for name in ("expert", "CNP", "pooled")}
        fig = bc.trajectory_figure(paths, torch.rand(2, 2), (torch.rand(2, 3, 2),) * 2, [0, 1])
        assert figure_style.audit_figure(fig) == []
        matplotlib.pyplot.close("all")


def test_seed_table_is_over_training_seeds(full_mode: None) -> None:
    """Mean ± t 95% over seeds: [0.1, 0.2, 0.3] -> 0.200 ± t(0.975, 2) * 0.1 / sqrt(3) = 0.248."""
    scores = {"attention": {5: [0.1, 0.2, 0.3]}, "scratch": {5: [4.0, 4.0, 4.0]}}
    table = bc.seed_table(scores, {"attention": "A", "scratch": "S"}, n_tasks=1000)
    lines = table.splitlines()
    assert lines[2].split() == ["attention", "0.200", "±", "0.248", "A"]
    assert lines[3].split() == ["from", "scratch", "4.000", "±", "0.000", "S"]
    assert "over seeds" in lines[-1] and "n=3" in lines[-1] and "1000" in lines[-1]


def test_comparisons_are_the_declared_family_with_lower_mse_better() -> None:
    """At each K: 3 black boxes vs the pretrained baseline, then the 3 pairs; a lower MSE for
    the arm is a positive difference (alternative - arm)."""
    scores = {name: {5: [1.0, 2.0], 10: [1.0, 1.0]} for name in (*bc.BLACK_BOXES, "pretrained")}
    scores["pretrained"][5] = [3.0, 5.0]
    found = bc.comparisons(scores)
    assert len(found) == 12
    assert [f.rule for f in found[:6]] == [
        "K=5: feedforward + average (CNP) vs pretrained + fine-tuned",
        "K=5: attention vs pretrained + fine-tuned",
        "K=5: LSTM vs pretrained + fine-tuned",
        "K=5: feedforward + average (CNP) vs attention",
        "K=5: feedforward + average (CNP) vs LSTM",
        "K=5: attention vs LSTM",
    ]
    assert found[0].differences == [2.0, 3.0]  # pretrained - CNP, seed by seed
    assert found[0].row()[3] == "alternative - arm: +2.500 ± 6.353 MSE"  # t(0.975, 1) = 12.706
    assert all(f.rule.startswith("K=10") for f in found[6:])
