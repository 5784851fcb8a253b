"""The Lake et al. (2015) one-shot benchmark: 20 runs of 20-way within-alphabet classification.

The official ``one-shot-classification/all_runs.zip`` holds ``run01`` ... ``run20``. Each run has
``training/class01.png`` ... ``class20.png`` (one image of each of 20 characters of one
evaluation alphabet), ``test/item01.png`` ... ``item20.png`` (another drawer's image of each) and
``class_labels.txt``, whose lines pair a test image with its true training image, as paths
relative to the folder that holds the runs::

    run01/test/item01.png run01/training/class12.png

Tensor format everywhere in this module: images are float ``[20, 1, S, S]`` with ink = 1 and
background = 0, training images in ``classNN`` order and test images in ``itemNN`` order (the
official demo sorts both lists the same way). ``S`` is 105 (native) unless you ask for
``image_size``; resizing uses the same box filter as ``omniglot.load_omniglot``, so a model
trained there at 28x28 sees the same preprocessing here.

A *predictor* is any callable ``predict(train_images, test_images) -> LongTensor [20]`` returning,
for each test image, the index (0-19) of the training image it is classified as.

``mhd_predict`` re-implements the paper's modified-Hausdorff-distance baseline (the official
``demo_classification.py``), which scores 38.8% error; it needs the native 105x105 images.
"""

from __future__ import annotations

import io
import re
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lecture_utils.core import runtime
from lecture_utils.data import omniglot

ALL_RUNS_ZIP = "all_runs.zip"
ONE_SHOT_BASE_URL = f"{omniglot.BASE_URL}/one-shot-classification"
# Published for the unchanged official file (single commit in brendenlake/omniglot) by two
# independent loaders: jonhare/DifferentiableSketching (evaluate_one_shot.py) and an
# OmniglotOneShotDataset class; both use it with torchvision's check_integrity.
ALL_RUNS_MD5 = "e8996daecdf12afeeb4a53a179f06b19"
LABELS_FILE = "class_labels.txt"
NUM_RUNS = 20
NUM_WAYS = 20
PAPER_MHD_ERROR_PERCENT = 38.8  # Lake et al. (2015); the demo prints the same figure

_RUN_NAME = re.compile(r"run\d+")
# Direct differences, not the |a|^2 + |b|^2 - 2ab matmul trick: exact zeros and exact ties, as
# scipy's cdist in the official demo.
_EXACT = "donot_use_mm_for_euclid_dist"

Predictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class OneShotLayoutError(omniglot.CorruptDataError):
    """A runs folder does not have the official layout (missing files, bad labels...)."""


# --------------------------------------------------------------------------------------------
# Fetching and loading
# --------------------------------------------------------------------------------------------


def fetch_one_shot_runs(
    data_dir: Path | None = None,
    *,
    timeout: float = 30.0,
    opener: Callable[..., object] = urllib.request.urlopen,
) -> Path:
    """Return the folder holding ``run01`` ... ``run20``, fetching and extracting if needed.

    The zip is looked for as ``$OMNIGLOT_DIR/all_runs.zip``, then in the download cache
    (``data_dir``, default ``omniglot.default_data_dir()``), then downloaded from
    ``ONE_SHOT_BASE_URL``; it is md5-checked either way (``omniglot.fetch``) and extracted
    once, safely and atomically, to ``<cache>/one-shot-classification/all_runs``. Raises
    ``omniglot.DataUnavailableError`` when the file is missing and cannot be downloaded.
    """
    cache = Path(data_dir) if data_dir is not None else omniglot.default_data_dir()
    zip_path = omniglot.fetch(
        ALL_RUNS_ZIP,
        data_dir=cache,
        base_url=ONE_SHOT_BASE_URL,
        expected_md5=ALL_RUNS_MD5,
        timeout=timeout,
        opener=opener,
    )
    return omniglot.extract_zip(zip_path, cache / "one-shot-classification")


@dataclass(frozen=True)
class OneShotRun:
    """One 20-way run: ``test_labels[i]`` is the index of test image ``i``'s training image."""

    name: str
    train_images: torch.Tensor  # [N, 1, S, S] float, ink = 1, classNN order
    test_images: torch.Tensor  # [T, 1, S, S] float, ink = 1, itemNN order
    test_labels: torch.Tensor  # [T] long, values in 0..N-1
    train_files: list[str] = field(repr=False)  # paths relative to the runs folder
    test_files: list[str] = field(repr=False)

    @property
    def n_way(self) -> int:
        """N: one training image per class."""
        return len(self.train_images)

    @property
    def image_size(self) -> int:
        """The side of every image, in pixels."""
        return int(self.train_images.size(-1))


def _decode_png(path: Path, image_size: int | None) -> np.ndarray:
    """Grey-level PNG -> uint8 array with ink = 255 (the same recipe as load_omniglot)."""
    try:
        image = Image.open(io.BytesIO(path.read_bytes())).convert("L")
    except OSError as exc:
        raise OneShotLayoutError(
            f"Cannot decode {path.name} ({exc}); re-extract the runs."
        ) from None
    if image_size is not None and image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.Resampling.BOX)
    return 255 - np.asarray(image, dtype=np.uint8)


def _read_labels(run_dir: Path) -> list[tuple[str, str]]:
    labels = run_dir / LABELS_FILE
    if not labels.is_file():
        raise OneShotLayoutError(
            f"{run_dir.name}: no {LABELS_FILE}; every run folder of the official all_runs.zip "
            "has one. Re-extract the zip."
        )
    pairs = []
    for number, line in enumerate(labels.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise OneShotLayoutError(
                f"{run_dir.name}/{LABELS_FILE} line {number}: expected 2 paths "
                f"('runNN/test/itemKK.png runNN/training/classMM.png'), got {line!r}."
            )
        pairs.append((fields[0], fields[1]))
    if not pairs:
        raise OneShotLayoutError(f"{run_dir.name}/{LABELS_FILE} is empty.")
    return pairs


def _check_path(run_dir: Path, relative: str, folder: str) -> None:
    parts = relative.replace("\\", "/").split("/")
    if len(parts) != 3 or parts[0] != run_dir.name or parts[1] != folder:
        raise OneShotLayoutError(
            f"{run_dir.name}/{LABELS_FILE}: {relative!r} is not "
            f"'{run_dir.name}/{folder}/<name>.png'."
        )


def load_one_shot_run(
    run_dir: Path, image_size: int | None = None, n_way: int | None = NUM_WAYS
) -> OneShotRun:
    """Load one run folder (``runNN``), checking its layout against ``class_labels.txt``."""
    run_dir = Path(run_dir)
    root = run_dir.parent
    pairs = _read_labels(run_dir)
    for test, train in pairs:
        _check_path(run_dir, test, "test")
        _check_path(run_dir, train, "training")
    test_files = sorted(test for test, _ in pairs)
    if len(set(test_files)) != len(test_files):
        raise OneShotLayoutError(f"{run_dir.name}/{LABELS_FILE} lists a test image twice.")
    train_files = sorted(
        p.relative_to(root).as_posix() for p in (run_dir / "training").glob("*.png")
    )
    on_disk_tests = sorted(p.relative_to(root).as_posix() for p in (run_dir / "test").glob("*.png"))
    if on_disk_tests != test_files:
        missing = sorted(set(test_files) - set(on_disk_tests))
        extra = sorted(set(on_disk_tests) - set(test_files))
        raise OneShotLayoutError(
            f"{run_dir.name}: test/ does not match {LABELS_FILE} (missing files: {missing}, "
            f"unlabelled files: {extra})."
        )
    unknown = sorted({train for _, train in pairs} - set(train_files))
    if unknown:
        raise OneShotLayoutError(
            f"{run_dir.name}/{LABELS_FILE} names training images that do not exist: {unknown}."
        )
    if n_way is not None and (len(train_files) != n_way or len(test_files) != n_way):
        raise OneShotLayoutError(
            f"{run_dir.name}: {len(train_files)} training and {len(test_files)} test images; "
            f"the official runs have {n_way} of each. Pass n_way=None for custom runs."
        )
    index = {name: i for i, name in enumerate(train_files)}
    truth = dict(pairs)
    labels = torch.tensor([index[truth[name]] for name in test_files], dtype=torch.long)

    def stack(files: list[str]) -> torch.Tensor:
        arrays = [_decode_png(root / name, image_size) for name in files]
        shapes = {a.shape for a in arrays}
        if (
            len(shapes) != 1
            or len(next(iter(shapes))) != 2
            or arrays[0].shape[0] != arrays[0].shape[1]
        ):
            raise OneShotLayoutError(
                f"{run_dir.name}: images must all be square and of one size, got {sorted(shapes)}."
            )
        return torch.from_numpy(np.stack(arrays)).float().div_(255.0).unsqueeze(1)

    return OneShotRun(
        name=run_dir.name,
        train_images=stack(train_files),
        test_images=stack(test_files),
        test_labels=labels,
        train_files=train_files,
        test_files=test_files,
    )


def load_one_shot_runs(
    runs_dir: Path | str | None = None,
    image_size: int | None = None,
    *,
    n_runs: int | None = NUM_RUNS,
    n_way: int | None = NUM_WAYS,
    data_dir: Path | None = None,
) -> list[OneShotRun]:
    """Load every run as a :class:`OneShotRun` (images float ``[20, 1, S, S]``, ink = 1).

    ``runs_dir``: the folder holding ``run01`` ... ``run20``, a copy of ``all_runs.zip``
    (extracted under ``data_dir``) or ``None`` to fetch the official zip. ``image_size=None``
    keeps the native 105x105 images (what ``mhd_predict`` needs); an integer resizes, e.g. 28
    for a model trained on ``load_omniglot(image_size=28)``. ``n_runs``/``n_way`` are the
    expected counts (20/20 officially); ``None`` accepts any.
    """
    if image_size is not None and (not isinstance(image_size, int) or not 8 <= image_size <= 105):
        raise ValueError(
            f"image_size must be None (native 105x105) or an integer from 8 to 105, got "
            f"{image_size!r}."
        )
    if runs_dir is None:
        folder = fetch_one_shot_runs(data_dir)
    else:
        folder = Path(runs_dir).expanduser()
        if folder.is_file() and folder.suffix == ".zip":
            cache = Path(data_dir) if data_dir is not None else omniglot.default_data_dir()
            folder = omniglot.extract_zip(folder, cache / "one-shot-classification")
        elif not folder.is_dir():
            raise FileNotFoundError(
                f"No runs folder or zip at {folder}; pass the folder holding run01..run20, "
                "all_runs.zip, or None to fetch the official file."
            )
    run_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and _RUN_NAME.fullmatch(p.name))
    if not run_dirs:
        raise OneShotLayoutError(
            f"{folder.name} holds no runNN folders; it is not the extracted all_runs.zip."
        )
    if n_runs is not None and len(run_dirs) != n_runs:
        raise OneShotLayoutError(
            f"{folder.name} holds {len(run_dirs)} run folders, not the official {n_runs}. "
            "Re-extract all_runs.zip, or pass n_runs=None for custom runs."
        )
    return [load_one_shot_run(run, image_size, n_way) for run in run_dirs]


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


@dataclass
class OneShotResult:
    """Error rates (fractions in [0, 1]) overall and per run, plus every prediction."""

    error_rate: float
    run_error_rates: list[float]
    run_names: list[str]
    predictions: list[torch.Tensor]
    image_size: int

    @property
    def error_percent(self) -> float:
        """Overall error in percent, the unit the paper reports."""
        return 100.0 * self.error_rate

    def __repr__(self) -> str:
        return (
            f"OneShotResult(error={self.error_percent:.1f}% over {len(self.run_names)} runs, "
            f"image_size={self.image_size})"
        )


def _check_predictions(pred: object, run: OneShotRun) -> torch.Tensor:
    n_test = run.test_images.shape[0]
    if not isinstance(pred, torch.Tensor) or pred.shape != (n_test,) or pred.is_floating_point():
        shape = tuple(pred.shape) if isinstance(pred, torch.Tensor) else type(pred).__name__
        raise ValueError(
            f"{run.name}: predict must return an integer tensor of shape ({n_test},), one training "
            f"index per test image, got {shape}. If you have scores, return "
            "scores.argmax(dim=1) (or argmin for distances)."
        )
    pred = pred.detach().to("cpu", torch.long)
    if pred.min() < 0 or pred.max() >= run.n_way:
        raise ValueError(
            f"{run.name}: predicted indices must be in 0..{run.n_way - 1}, got "
            f"{pred.min().item()}..{pred.max().item()}."
        )
    return pred


def evaluate_one_shot_runs(
    predict: Predictor,
    runs_dir: Path | str | Sequence[OneShotRun] | None = None,
    image_size: int | None = None,
    *,
    progress: bool = True,
) -> OneShotResult:
    """Run ``predict`` on every run; return the error rate overall and per run.

    ``predict(train_images, test_images)`` gets float ``[20, 1, S, S]`` tensors (ink = 1) and
    returns a long tensor ``[20]`` of training indices. ``runs_dir`` is anything
    ``load_one_shot_runs`` accepts, or runs you already loaded (then ``image_size`` must be
    ``None``). The overall error is the mean of the per-run errors, as in the official demo.
    """
    if isinstance(runs_dir, Sequence) and not isinstance(runs_dir, str):
        if image_size is not None:
            raise ValueError(
                "image_size applies when loading; the runs passed are already decoded. Load them "
                "with load_one_shot_runs(..., image_size=...) instead."
            )
        runs = list(runs_dir)
    else:
        runs = load_one_shot_runs(runs_dir, image_size)
    if not runs:
        raise ValueError("No runs to evaluate.")
    predictions, errors = [], []
    for run in runtime.progress(runs, desc="one-shot runs", disable=not progress):
        with torch.no_grad():
            pred = _check_predictions(predict(run.train_images, run.test_images), run)
        predictions.append(pred)
        errors.append((pred != run.test_labels).float().mean().item())
    return OneShotResult(
        error_rate=float(np.mean(errors)),
        run_error_rates=errors,
        run_names=[run.name for run in runs],
        predictions=predictions,
        image_size=runs[0].image_size,
    )


def episode_model_predict(model: torch.nn.Module, device: torch.device | None = None) -> Predictor:
    """Adapt a ``model(support_x, support_y, query_x) -> query_logits`` to a predictor.

    The 20 training images become one 20-way 1-shot task (label ``i`` for training image
    ``i``); the model runs in eval mode (its mode is restored after) and the predictions are
    the logits' argmax.
    """

    def predict(train_images: torch.Tensor, test_images: torch.Tensor) -> torch.Tensor:
        was_training = model.training
        model.eval()
        dev = device if device is not None else next(model.parameters()).device
        support_y = torch.arange(train_images.shape[0], device=dev).unsqueeze(0)
        try:
            with torch.no_grad():
                logits = model(
                    train_images.to(dev).unsqueeze(0), support_y, test_images.to(dev).unsqueeze(0)
                )
        finally:
            model.train(was_training)
        return logits[0].argmax(dim=-1).cpu()

    return predict


# --------------------------------------------------------------------------------------------
# The modified-Hausdorff-distance baseline (Dubuisson & Jain 1994), as in the official demo
# --------------------------------------------------------------------------------------------


def ink_points(image: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Coordinates ``[n, 2]`` (float64, row/col) of the ink pixels, centred on their mean.

    The official demo treats every pure-black pixel of the binary PNG as ink and subtracts the
    centre of mass; with ink = 1 images, ``> threshold`` selects the same pixels.
    """
    plane = image.squeeze()
    if plane.dim() != 2:
        raise ValueError(f"Expected one image [S, S] or [1, S, S], got shape {tuple(image.shape)}.")
    points = torch.nonzero(plane > threshold).to(torch.float64)
    if points.shape[0] == 0:
        raise ValueError("The image has no ink (no pixel above the threshold); MHD is undefined.")
    return points - points.mean(dim=0)


def modified_hausdorff_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """MHD between point sets ``a`` [n, 2] and ``b`` [m, 2]: the larger of the two mean
    nearest-neighbour distances (a to b, b to a). Symmetric; 0 for identical sets."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[0] == 0 or b.shape[0] == 0:
        raise ValueError(
            f"Expected two non-empty point sets [n, d], got {tuple(a.shape)} and {tuple(b.shape)}."
        )
    distances = torch.cdist(a.to(torch.float64), b.to(torch.float64), compute_mode=_EXACT)
    mean_a = distances.min(dim=1).values.mean()
    mean_b = distances.min(dim=0).values.mean()
    return torch.maximum(mean_a, mean_b).item()


def mhd_cost_matrix(test_images: torch.Tensor, train_images: torch.Tensor) -> torch.Tensor:
    """``cost[i, c]`` = MHD between test image ``i`` and training image ``c`` (ink = 1 images).

    Vectorised per test image: one ``cdist`` against all training points at once, then
    per-image minima and means with scatter reductions.
    """
    train_points = [ink_points(image) for image in train_images]
    counts = torch.tensor([p.shape[0] for p in train_points])
    owner = torch.repeat_interleave(torch.arange(len(train_points)), counts)
    all_train = torch.cat(train_points)
    n_train = len(train_points)
    cost = torch.empty(test_images.shape[0], n_train, dtype=torch.float64)
    for i, image in enumerate(test_images):
        test_points = ink_points(image)
        # [test points, all training points]
        distances = torch.cdist(test_points, all_train, compute_mode=_EXACT)
        # test -> train: for each test point, its nearest point within each training image
        nearest = torch.full((test_points.shape[0], n_train), float("inf"), dtype=torch.float64)
        nearest.scatter_reduce_(1, owner.expand_as(distances), distances, reduce="amin")
        mean_test = nearest.mean(dim=0)
        # train -> test: every training point's nearest test point, averaged per training image
        per_point = distances.min(dim=0).values
        mean_train = torch.zeros(n_train, dtype=torch.float64).index_add_(0, owner, per_point)
        mean_train /= counts
        cost[i] = torch.maximum(mean_test, mean_train)
    return cost


def mhd_predict(train_images: torch.Tensor, test_images: torch.Tensor) -> torch.Tensor:
    """The paper's baseline as a predictor: each test image takes the class of the training
    image at the smallest MHD (a cost, so argmin; ties go to the first class, like the demo).

    Use it on native 105x105 runs (``image_size=None``) to reproduce the published 38.8%.
    """
    return mhd_cost_matrix(test_images, train_images).argmin(dim=1)
