"""The Lake et al. one-shot benchmark: loader, evaluation and the MHD baseline, on fixture runs."""

from __future__ import annotations

import io
import math
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lecture_utils.data import omniglot, one_shot

SIZE = 16


def _random_glyph(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A binary image (True = ink) with a few random strokes, never empty."""
    ink = np.zeros((size, size), dtype=bool)
    for _ in range(3):
        r, c = rng.integers(2, size - 2, size=2)
        length = int(rng.integers(3, size // 2))
        if rng.random() < 0.5:
            ink[r, c : c + length] = True
        else:
            ink[r : r + length, c] = True
    return ink


def _write_png(path: Path, ink: np.ndarray) -> None:
    # Official PNGs are 1-bit: black ink (0) on white (1).
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(~ink).convert("1").save(path)


def make_runs(
    root: Path, n_runs: int = 2, n_way: int = 4, seed: int = 0, shuffle_lines: bool = False
) -> dict[str, dict]:
    """Write runs in the official layout; test item k is an exact copy of training class
    ``perm[k]``. Returns, per run, the true labels and the training glyphs."""
    rng = np.random.default_rng(seed)
    truth = {}
    for r in range(1, n_runs + 1):
        run = f"run{r:02d}"
        glyphs = [_random_glyph(rng) for _ in range(n_way)]
        for c, glyph in enumerate(glyphs, start=1):
            _write_png(root / run / "training" / f"class{c:02d}.png", glyph)
        perm = rng.permutation(n_way)
        lines = []
        for k in range(n_way):
            _write_png(root / run / "test" / f"item{k + 1:02d}.png", glyphs[perm[k]])
            lines.append(
                f"{run}/test/item{k + 1:02d}.png {run}/training/class{perm[k] + 1:02d}.png"
            )
        if shuffle_lines:
            lines = [lines[i] for i in rng.permutation(n_way)]
        (root / run / one_shot.LABELS_FILE).write_text("\n".join(lines) + "\n")
        truth[run] = {"labels": perm.tolist(), "glyphs": glyphs}
    return truth


@pytest.fixture
def runs_root(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "all_runs"
    return root, make_runs(root)


def _exact_match_predict(train: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
    """A perfect predictor on fixtures: the training image identical to each test image."""
    same = (test[:, None] == train[None]).flatten(2).all(dim=2)
    return same.float().argmax(dim=1)


# --------------------------------------------------------------------------------------------
# Loader
# --------------------------------------------------------------------------------------------


def test_loader_parses_labels_and_images(runs_root):
    root, truth = runs_root
    runs = one_shot.load_one_shot_runs(root, n_runs=2, n_way=4)
    assert [run.name for run in runs] == ["run01", "run02"]
    for run in runs:
        assert run.train_images.shape == (4, 1, SIZE, SIZE)
        assert run.test_images.shape == (4, 1, SIZE, SIZE)
        assert run.test_labels.tolist() == truth[run.name]["labels"]
        assert run.train_files[0] == f"{run.name}/training/class01.png"
        assert run.test_files[-1] == f"{run.name}/test/item04.png"
        # ink = 1 exactly where the glyph was drawn, classNN order
        for c, glyph in enumerate(truth[run.name]["glyphs"]):
            assert torch.equal(run.train_images[c, 0], torch.from_numpy(glyph).float())


def test_loader_does_not_depend_on_line_order(tmp_path):
    truth = make_runs(tmp_path / "all_runs", shuffle_lines=True, seed=3)
    runs = one_shot.load_one_shot_runs(tmp_path / "all_runs", n_runs=2, n_way=4)
    assert [run.test_labels.tolist() for run in runs] == [t["labels"] for t in truth.values()]


def test_loader_resizes_like_load_omniglot(runs_root):
    root, _ = runs_root
    run = one_shot.load_one_shot_runs(root, image_size=8, n_runs=2, n_way=4)[0]
    assert run.train_images.shape == (4, 1, 8, 8)
    raw = (root / "run01" / "training" / "class02.png").read_bytes()
    expected = torch.from_numpy(omniglot._decode_png(raw, 8)).float() / 255
    assert torch.allclose(run.train_images[1, 0], expected)


def test_loader_extracts_a_zip(runs_root, tmp_path):
    root, truth = runs_root
    zip_path = tmp_path / "all_runs.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:  # runNN at the top, like the official zip
        for path in sorted(root.rglob("*")):
            archive.write(path, path.relative_to(root).as_posix())
    cache = tmp_path / "cache"
    runs = one_shot.load_one_shot_runs(zip_path, n_runs=2, n_way=4, data_dir=cache)
    assert (cache / "one-shot-classification" / "all_runs" / "run01" / "class_labels.txt").is_file()
    assert runs[1].test_labels.tolist() == truth["run02"]["labels"]


def test_official_counts_are_enforced_by_default(runs_root):
    root, _ = runs_root
    with pytest.raises(one_shot.OneShotLayoutError, match="2 run folders, not the official 20"):
        one_shot.load_one_shot_runs(root)
    with pytest.raises(one_shot.OneShotLayoutError, match="the official runs have 20"):
        one_shot.load_one_shot_runs(root, n_runs=2)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: (r / "run01" / "class_labels.txt").unlink(), "no class_labels.txt"),
        (lambda r: (r / "run01" / "test" / "item02.png").unlink(), "missing files"),
        (
            lambda r: (r / "run01" / "class_labels.txt").write_text(
                "run01/test/item01.png run01/training/class01.png extra\n"
            ),
            "expected 2 paths",
        ),
        (
            lambda r: (r / "run01" / "class_labels.txt").write_text(
                "".join(
                    f"run01/test/item{k:02d}.png run01/training/class{9 if k == 1 else k:02d}.png\n"
                    for k in range(1, 5)
                )
            ),
            "do not exist",
        ),
        (
            lambda r: (r / "run01" / "class_labels.txt").write_text(
                "run01/test/item01.png run02/training/class01.png\n"
            ),
            "is not 'run01/training/<name>.png'",
        ),
        (
            lambda r: (r / "run02" / "test" / "item03.png").write_bytes(b"not a png"),
            "Cannot decode",
        ),
    ],
)
def test_malformed_runs_raise_clear_errors(runs_root, damage, message):
    root, _ = runs_root
    damage(root)
    with pytest.raises(one_shot.OneShotLayoutError, match=message):
        one_shot.load_one_shot_runs(root, n_runs=2, n_way=4)


def test_folder_without_runs_and_bad_arguments(tmp_path):
    with pytest.raises(one_shot.OneShotLayoutError, match="no runNN folders"):
        one_shot.load_one_shot_runs(tmp_path, n_runs=None)
    with pytest.raises(FileNotFoundError, match="No runs folder or zip"):
        one_shot.load_one_shot_runs(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="image_size must be None"):
        one_shot.load_one_shot_runs(tmp_path, image_size=200)


# --------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------


def test_offline_fetch_raises_data_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("OMNIGLOT_DIR", str(tmp_path / "empty"))
    requested = []

    def offline(url, timeout):
        requested.append(url)
        raise urllib.error.URLError("no network in this test")

    with pytest.raises(omniglot.DataUnavailableError, match="all_runs.zip"):
        one_shot.fetch_one_shot_runs(tmp_path / "cache", opener=offline)
    assert requested == [f"{omniglot.BASE_URL}/one-shot-classification/all_runs.zip"]
    assert not any((tmp_path / "cache").iterdir())  # no partial download left behind


def test_fetch_rejects_a_download_with_the_wrong_md5(tmp_path, monkeypatch):
    monkeypatch.delenv("OMNIGLOT_DIR", raising=False)

    class FakeResponse(io.BytesIO):
        headers: dict = {}

    with pytest.raises(omniglot.CorruptDataError, match=one_shot.ALL_RUNS_MD5):
        one_shot.fetch_one_shot_runs(
            tmp_path / "cache", opener=lambda url, timeout: FakeResponse(b"<html>proxy</html>")
        )
    assert not (tmp_path / "cache" / "all_runs.zip").exists()


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def test_evaluate_perfect_constant_and_one_wrong_predictors(runs_root):
    root, truth = runs_root
    runs = one_shot.load_one_shot_runs(root, n_runs=2, n_way=4)

    perfect = one_shot.evaluate_one_shot_runs(_exact_match_predict, runs, progress=False)
    assert perfect.error_rate == 0.0 and perfect.run_error_rates == [0.0, 0.0]
    assert perfect.run_names == ["run01", "run02"] and perfect.image_size == SIZE

    constant = one_shot.evaluate_one_shot_runs(
        lambda train, test: torch.zeros(test.shape[0], dtype=torch.long), runs, progress=False
    )
    # each run's labels are a permutation: class 0 is the answer for exactly 1 of 4 items
    assert constant.run_error_rates == [0.75, 0.75]
    assert constant.error_rate == 0.75 and constant.error_percent == 75.0

    def wrong_on_first_item_of_run01(train, test):
        pred = _exact_match_predict(train, test)
        if torch.equal(train, runs[0].train_images):
            pred[0] = (pred[0] + 1) % 4
        return pred

    mixed = one_shot.evaluate_one_shot_runs(wrong_on_first_item_of_run01, runs, progress=False)
    assert mixed.run_error_rates == [0.25, 0.0]
    assert mixed.error_rate == pytest.approx(0.125)
    assert "12.5%" in repr(mixed)


def test_evaluate_loads_from_a_folder_and_resizes(runs_root):
    root, _ = runs_root
    seen = []

    def spy(train, test):
        seen.append((tuple(train.shape), tuple(test.shape), train.dtype))
        return torch.zeros(test.shape[0], dtype=torch.long)

    with pytest.raises(one_shot.OneShotLayoutError):  # official counts by default
        one_shot.evaluate_one_shot_runs(spy, root, image_size=8)
    runs = one_shot.load_one_shot_runs(root, image_size=8, n_runs=2, n_way=4)
    one_shot.evaluate_one_shot_runs(spy, runs, progress=False)
    assert seen == [((4, 1, 8, 8), (4, 1, 8, 8), torch.float32)] * 2
    with pytest.raises(ValueError, match="already decoded"):
        one_shot.evaluate_one_shot_runs(spy, runs, image_size=8)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (torch.zeros(4), "integer tensor of shape"),
        (torch.zeros(4, 4, dtype=torch.long), "integer tensor of shape"),
        ([0, 0, 0, 0], "integer tensor of shape"),
        (torch.tensor([0, 1, 2, 4]), r"must be in 0\.\.3"),
    ],
)
def test_evaluate_rejects_bad_predictions(runs_root, output, message):
    root, _ = runs_root
    runs = one_shot.load_one_shot_runs(root, n_runs=2, n_way=4)
    with pytest.raises(ValueError, match=message):
        one_shot.evaluate_one_shot_runs(lambda train, test: output, runs, progress=False)


def test_episode_model_predict_adapts_the_shared_model_interface(runs_root):
    root, _ = runs_root
    runs = one_shot.load_one_shot_runs(root, n_runs=2, n_way=4)

    class NearestSupport(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, support_x, support_y, query_x):
            assert support_x.shape == (1, 4, 1, SIZE, SIZE) and support_y.tolist() == [[0, 1, 2, 3]]
            distances = torch.cdist(query_x.flatten(2), support_x.flatten(2))
            return -self.scale * distances  # [1, queries, ways]

    model = NearestSupport().train()
    result = one_shot.evaluate_one_shot_runs(
        one_shot.episode_model_predict(model), runs, progress=False
    )
    assert result.error_rate == 0.0
    assert model.training  # the adapter restores the mode it found


# --------------------------------------------------------------------------------------------
# Modified Hausdorff distance
# --------------------------------------------------------------------------------------------


def _points(*coords):
    return torch.tensor(coords, dtype=torch.float64)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (_points((0, 0)), _points((3, 4)), 5.0),
        # a->b means 0 and 1 -> 0.5; b->a 0 -> 0: max is 0.5
        (_points((0, 0), (0, 1)), _points((0, 0)), 0.5),
        # a->b: 0, 0 -> 0; b->a: 0, 1, 0, 8 -> 9/4
        (_points((0, 0), (0, 2)), _points((0, 0), (0, 1), (0, 2), (0, 10)), 2.25),
        # a->b: 1, 1 -> 1; b->a: 1 -> 1
        (_points((0, 0), (2, 0)), _points((1, 0)), 1.0),
    ],
)
def test_mhd_matches_hand_computed_values(a, b, expected):
    assert one_shot.modified_hausdorff_distance(a, b) == pytest.approx(expected)
    assert one_shot.modified_hausdorff_distance(b, a) == pytest.approx(expected)


def test_mhd_is_symmetric_and_zero_on_identical_sets():
    gen = torch.Generator().manual_seed(0)
    a = torch.randint(0, 105, (50, 2), generator=gen).double()
    b = torch.randint(0, 105, (70, 2), generator=gen).double()
    assert one_shot.modified_hausdorff_distance(a, b) == one_shot.modified_hausdorff_distance(b, a)
    assert one_shot.modified_hausdorff_distance(a, b) > 0
    assert one_shot.modified_hausdorff_distance(a, a.flip(0)) == 0.0
    with pytest.raises(ValueError, match="non-empty point sets"):
        one_shot.modified_hausdorff_distance(a, torch.empty(0, 2))


def test_ink_points_are_centred_so_mhd_ignores_translation():
    image = torch.zeros(1, 12, 12)
    image[0, 2, 2:6] = 1.0
    shifted = torch.roll(image, shifts=(5, 3), dims=(1, 2))
    points = one_shot.ink_points(image)
    assert points.shape == (4, 2) and torch.allclose(points.mean(dim=0), torch.zeros(2).double())
    assert points[:, 1].tolist() == [-1.5, -0.5, 0.5, 1.5]
    assert one_shot.modified_hausdorff_distance(points, one_shot.ink_points(shifted)) == 0.0
    with pytest.raises(ValueError, match="no ink"):
        one_shot.ink_points(torch.zeros(1, 12, 12))


def test_vectorised_cost_matrix_equals_pairwise_mhd(runs_root):
    root, _ = runs_root
    run = one_shot.load_one_shot_runs(root, n_runs=2, n_way=4)[1]
    cost = one_shot.mhd_cost_matrix(run.test_images, run.train_images)
    for i, test in enumerate(run.test_images):
        for c, train in enumerate(run.train_images):
            expected = one_shot.modified_hausdorff_distance(
                one_shot.ink_points(test), one_shot.ink_points(train)
            )
            assert math.isclose(cost[i, c].item(), expected, rel_tol=1e-12, abs_tol=1e-12)
    # exact copies: zero on the true pairs, positive elsewhere
    assert torch.all(cost[torch.arange(4), run.test_labels] == 0)
    assert (cost > 0).sum() == 12


def test_mhd_predict_classifies_exact_copies(runs_root):
    root, _ = runs_root
    runs = one_shot.load_one_shot_runs(root, n_runs=2, n_way=4)
    result = one_shot.evaluate_one_shot_runs(one_shot.mhd_predict, runs, progress=False)
    assert result.error_rate == 0.0
    assert [p.tolist() for p in result.predictions] == [r.test_labels.tolist() for r in runs]


@pytest.mark.real_data
def test_mhd_baseline_reproduces_the_paper_on_real_runs(real_data, tmp_path):
    """38.8% error on the official runs (Lake et al. 2015), when all_runs.zip is available."""
    if not (real_data / one_shot.ALL_RUNS_ZIP).is_file():
        pytest.skip(f"{one_shot.ALL_RUNS_ZIP} is not in $OMNIGLOT_DIR (optional file)")
    runs = one_shot.load_one_shot_runs(data_dir=tmp_path)
    assert runs[0].image_size == 105 and len(runs) == 20
    result = one_shot.evaluate_one_shot_runs(one_shot.mhd_predict, runs, progress=False)
    assert result.error_percent == pytest.approx(one_shot.PAPER_MHD_ERROR_PERCENT, abs=0.05)
