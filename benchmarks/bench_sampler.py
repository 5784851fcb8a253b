"""How fast is the episode sampler? Meta-batches per second, three ways of building them.

    OMNIGLOT_DIR=/path/to/zips .venv/bin/python benchmarks/bench_sampler.py
    .venv/bin/python benchmarks/bench_sampler.py --rounds 9 --threads 1

Approaches, all drawing the same N-way K-shot tasks from the meta-train split:

1. ``EpisodeSampler``: tensor indexing over the in-memory ``[C, 20, 28, 28]`` tensor.
2. A plain Python loop over the same tensor: per task, ``random.sample`` the classes, per class
   the drawers, then ``torch.stack`` image by image.
3. Per-file PNG reading, the way the CS330 homework starter code does it: for every task, list
   the character folders of the meta-train alphabets, pick N of them, list each folder's files,
   pick K+Q, open every PNG with PIL, flatten it to ``1 - x/255`` and fill a
   ``[B, K+Q, N, 784]`` array. Like the homework (which ships pre-resized 28x28 PNGs), it reads
   28x28 PNG copies that this script writes once into a temporary folder from the official zips
   (``omniglot.extract_zip``); the operating system's file cache is warm, the best case for
   this approach.

Each approach runs ``--rounds`` timed rounds of at least ``--min-seconds`` each (after a
warm-up); the table shows the best and the median round. The machine's load average is
printed, because a shared machine slows everything down.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lecture_utils.data import omniglot  # noqa: E402
from lecture_utils.episodes.sampler import EpisodeSampler, split_by_alphabet  # noqa: E402

SETTINGS = [  # (label, B, N, K, Q)
    ("B=32, 5-way 1-shot 1-query", 32, 5, 1, 1),
    ("B=32, 20-way 5-shot 5-query", 32, 20, 5, 5),
]
TARGET_MS = 0.5  # per 5-way 1-shot meta-batch of 32
TARGET_RATIO = 1000  # at least this many times faster than per-file PNG reading


# ---- approach 2: a plain Python loop over the in-memory tensor ------------------------------


def python_loop_batch(
    images: torch.Tensor, classes: list[int], B: int, N: int, K: int, Q: int, rng: random.Random
) -> tuple[torch.Tensor, ...]:
    """Same output as ``EpisodeSampler`` (flat layout), built one image at a time."""
    support_x, support_y, query_x, query_y = [], [], [], []
    for _ in range(B):
        support, query = [], []
        for label, c in enumerate(rng.sample(classes, N)):
            drawers = rng.sample(range(images.shape[1]), K + Q)
            support += [(images[c, d], label) for d in drawers[:K]]
            query += [(images[c, d], label) for d in drawers[K:]]
        rng.shuffle(support)
        rng.shuffle(query)
        support_x.append(torch.stack([x for x, _ in support]))
        support_y.append(torch.tensor([y for _, y in support]))
        query_x.append(torch.stack([x for x, _ in query]))
        query_y.append(torch.tensor([y for _, y in query]))
    return (
        torch.stack(support_x).unsqueeze(2),
        torch.stack(support_y),
        torch.stack(query_x).unsqueeze(2),
        torch.stack(query_y),
    )


# ---- approach 3: reading PNG files per episode, homework style --------------------------


def write_resized_pngs(zip_paths: list[Path], root: Path, size: int = 28) -> Path:
    """Extract the official zips and save every image as a ``size``-px PNG under ``root``.

    Layout: ``root/resized/<alphabet>/<character>/<file>.png`` (what the homework downloads).
    """
    resized = root / "resized"
    for zip_path in zip_paths:
        top = omniglot.extract_zip(zip_path, root / "extracted")
        for png in top.glob("*/*/*.png"):
            alphabet, character = png.parent.parent.name, png.parent.name
            out = resized / alphabet / character / png.name
            if out.exists():  # Greek and Latin are in both small zips
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(png) as img:
                img.convert("L").resize((size, size), Image.Resampling.BOX).save(out)
    return resized


def character_folders(root: Path, alphabets: list[str]) -> list[str]:
    """Every character folder of ``alphabets`` (the homework lists them once, up front)."""
    return [os.path.join(root, a, c) for a in alphabets for c in sorted(os.listdir(root / a))]


def png_per_episode_batch(
    folders: list[str], B: int, N: int, K: int, Q: int, rng: random.Random
) -> tuple[torch.Tensor, torch.Tensor]:
    """A homework-layout meta-batch ``[B, K+Q, N, 784]`` read from PNG files on disk.

    Per task: pick N character folders, list each folder, pick K+Q files, open each PNG.
    """
    images = np.zeros((B, K + Q, N, 28 * 28), dtype=np.float32)
    labels = np.zeros((B, K + Q, N, N), dtype=np.float32)
    for b in range(B):
        for n, folder in enumerate(rng.sample(folders, N)):
            files = rng.sample(sorted(os.listdir(folder)), K + Q)
            for k, name in enumerate(files):
                with Image.open(os.path.join(folder, name)) as img:
                    pixels = np.asarray(img.convert("L"), dtype=np.float32).reshape(-1)
                images[b, k, n] = 1.0 - pixels / 255.0
                labels[b, k, n, n] = 1.0
        for k in range(K, K + Q):  # query rows: shuffle the classes across columns
            order = rng.sample(range(N), N)
            images[b, k], labels[b, k] = images[b, k, order], labels[b, k, order]
    return torch.from_numpy(images), torch.from_numpy(labels)


# ---- timing --------------------------------------------------------------------------------


def time_rounds(fn: Callable[[], object], rounds: int, min_seconds: float) -> list[float]:
    """Seconds per call in each of ``rounds`` timed rounds of at least ``min_seconds``."""
    fn()  # warm-up
    start, calls = time.perf_counter(), 1
    fn()
    per_call = max(time.perf_counter() - start, 1e-6)
    calls = max(1, int(min_seconds / per_call))
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        results.append((time.perf_counter() - start) / calls)
    return results


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} thread(s), Python {platform.python_version()}"
    )


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per approach")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="length of one round")
    parser.add_argument("--png-rounds", type=int, default=3, help="rounds for the PNG reader")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    data = omniglot.load_omniglot()
    split = split_by_alphabet(data)
    train = split["train"]
    print(f"Machine: {machine()}")
    print(f"Before: {load()}")
    print(
        f"Data: {data.num_characters} characters; meta-train split {len(train)} characters "
        f"({', '.join(split.alphabets['train'])})\n"
    )
    with tempfile.TemporaryDirectory(prefix="omniglot-png-") as tmp:
        t0 = time.perf_counter()
        zips = [omniglot.fetch(name) for name in omniglot.SUBSETS["small"]]
        png_root = write_resized_pngs(zips, Path(tmp))
        print(
            f"(set-up, not timed in the table: extracted and resized PNGs in "
            f"{time.perf_counter() - t0:.1f} s)\n"
        )

        rows = []
        for label, B, N, K, Q in SETTINGS:
            common = dict(n_way=N, k_shot=K, n_query=Q, batch_size=B, seed=args.seed)
            flat = EpisodeSampler(data.images, train, **common)
            homework = EpisodeSampler(data.images, train, layout="homework", **common)
            rng = random.Random(args.seed)
            folders = character_folders(png_root, split.alphabets["train"])
            loop = functools.partial(python_loop_batch, data.images, train, B, N, K, Q, rng)
            png = functools.partial(png_per_episode_batch, folders, B, N, K, Q, rng)
            approaches = {
                "EpisodeSampler (flat)": (flat.sample, args.rounds, args.min_seconds),
                "EpisodeSampler (homework layout)": (
                    homework.sample,
                    args.rounds,
                    args.min_seconds,
                ),
                "Python loop, same tensor": (
                    loop,
                    args.rounds,
                    args.min_seconds,
                ),
                "PNG files per episode (homework style)": (
                    png,
                    args.png_rounds,
                    0.0,
                ),
            }
            timings = {
                name: time_rounds(fn, rounds, seconds)
                for name, (fn, rounds, seconds) in approaches.items()
            }
            rows.append((label, timings))

    reference = "EpisodeSampler (flat)"
    header = (
        f"{'setting':<29} {'approach':<40} {'batches/s (best)':>16} {'ms/batch best':>13} "
        f"{'median':>9} {'slower than sampler (best / median)':>36}"
    )
    print(header)
    print("-" * len(header))
    for label, timings in rows:
        ref_best, ref_median = min(timings[reference]), statistics.median(timings[reference])
        for name, secs in timings.items():
            best, median = min(secs), statistics.median(secs)
            ratio = f"{best / ref_best:,.1f}x / {median / ref_median:,.1f}x"
            print(
                f"{label:<29} {name:<40} {1 / best:>16,.1f} {best * 1e3:>13,.3f} "
                f"{median * 1e3:>9,.3f} {ratio:>36}"
            )
        print()
    label, timings = rows[0]
    best = min(timings[reference]) * 1e3
    median = statistics.median(timings[reference]) * 1e3
    png_ratio = min(timings["PNG files per episode (homework style)"]) / min(timings[reference])
    print(
        f"Target 1: <= {TARGET_MS} ms per {label} meta-batch: best {best:.3f} ms, median "
        f"{median:.3f} ms -> {'met' if best <= TARGET_MS else 'NOT met'} (best), "
        f"{'met' if median <= TARGET_MS else 'NOT met'} (median)"
    )
    print(
        f"Target 2: >= {TARGET_RATIO}x faster than per-file PNG reading: {png_ratio:,.0f}x -> "
        f"{'met' if png_ratio >= TARGET_RATIO else 'NOT met'}"
    )
    print(f"After: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
