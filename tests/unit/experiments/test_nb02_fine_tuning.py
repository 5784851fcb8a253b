"""Notebook 02's fine-tuning lab: every run it starts follows the fair protocol."""

from __future__ import annotations

import matplotlib

from lecture_utils.experiments.nb02_fine_tuning import rules as fr

matplotlib.use("Agg")


def test_lab_runs_the_fair_protocol(monkeypatch) -> None:
    """The lab's run gives the new head its own rate, the trunk the slider's rate, and keeps
    the head trainable even with every trunk box unticked; from scratch the trunk gets the
    pretraining rate 3e-3 and the head the same head rate."""
    calls = []

    class Result:
        curve_steps, curve = [0, 6], [0.2, 0.4]

    def fake_run(state, target, recipe, seed, device, curve_every):
        calls.append((state, recipe, seed))
        return Result()

    monkeypatch.setattr(fr, "run_recipe", fake_run)
    target = fr.Target("toy", train=None, test=None)  # type: ignore[arg-type]
    panel, run = fr.fine_tuning_lab("pre", target, "scratch", head_lr=0.03, trunk_lr=1e-3,
                                    steps=24, seed=7)  # fmt: skip
    run()
    (state, tuned, seed), (scratch_state, scratch, _) = calls
    assert (state, seed, scratch_state) == ("pre", 7, "scratch")
    assert (tuned.lr, tuned.lp_lr, tuned.trunk_lr, tuned.steps) == (0.03, 0.03, 1e-3, 24)
    assert tuned.trainable == (0, 1, 2, 3, 4) and tuned.factor == 1.0
    assert (scratch.lr, scratch.trunk_lr, scratch.steps) == (0.03, 3e-3, 24)
    boxes = panel.children[0].children
    for box in boxes:
        box.value = False
    run()
    assert calls[-1][1].trainable == (4,)  # the head alone; scratch was cached
    assert len(calls) == 3
