"""The best black-box recipe of notebook 04 within a 10-minute CPU budget, and what it reaches.

    OMNIGLOT_DIR=/path/to/zips .venv/bin/python benchmarks/bench_black_box.py   # = make bench
    .venv/bin/python benchmarks/bench_black_box.py --steps 300 --out ''   # a quick look, not stored

Recipe: the hypernetwork with the prototype shortcut (phi = the weights W, b of a linear head,
written from the support set) on a conv-64 encoder (``ConvTrunk(64)``), trained end to end from
raw pixels, episodically: wide episodes (``--train-way`` classes, 1 shot, ``--queries`` queries
per class), every rotation a new class, small random affine distortions of every image, Adam
with a cosine learning-rate schedule. No pretraining stage: the episodes are the only training.
It trains on the default data's meta-train and meta-validation alphabets (nothing is tuned on
the validation alphabet here), so the meta-test alphabets (Balinese, Korean) stay unseen.

Printed: training steps and seconds; 5-way 1-shot accuracy on the meta-test alphabets (fixed
tasks, t 95% interval); the 20-way 1-shot error **within each meta-test alphabet** (one drawing
per character as support, one query per character, as in the Lake et al. runs); the same for
nearest class mean on the trained encoder. Every number is seeded (``--seed``). The figures are
also written to ``benchmarks/results/black_box.json`` (``--out``), which notebook 04 prints.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lecture_utils.core import runtime, stats, store
from lecture_utils.data import omniglot, transforms
from lecture_utils.episodes.sampler import EpisodeSampler, split_by_alphabet
from lecture_utils.models import black_box
from lecture_utils.training import trainer
from lecture_utils.training.evaluation import evaluate, fixed_episodes

RESULTS = Path(__file__).resolve().parent / "results" / "black_box.json"


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=2000, help="optimiser steps (one episode each)")
    p.add_argument("--image-size", type=int, default=28, help="pixels per side (8-105)")
    p.add_argument(
        "--stem-stride",
        type=int,
        default=1,
        help="stride of the first conv (2: 56 px costs ~28 px)",
    )
    p.add_argument("--train-way", type=int, default=60, help="classes per training episode")
    p.add_argument("--queries", type=int, default=5, help="queries per class in training")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (cosine decay)")
    p.add_argument("--augment", type=float, default=1.0, help="affine strength (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-tasks", type=int, default=1000, help="5-way 1-shot test tasks")
    p.add_argument("--runs", type=int, default=200, help="20-way tasks per meta-test alphabet")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    p.add_argument(
        "--out", default=str(RESULTS), help="JSON file for the figures ('' stores nothing)"
    )
    return p.parse_args()


def train(model, data, chars, args) -> tuple[float, float, float]:
    """Episodic end-to-end training; returns (wall seconds, CPU seconds, mean loss of the last 50
    steps)."""
    sampler = EpisodeSampler(
        data.images, chars, n_way=args.train_way, k_shot=1, n_query=args.queries,
        batch_size=1, rotations=True, seed=args.seed,
    )  # fmt: skip
    gen = torch.Generator().manual_seed(args.seed + 1)
    augment = transforms.affine(args.augment)

    def loss_at(step: int) -> torch.Tensor:
        ep = sampler.sample()
        sx, qx = ep.support_x.flatten(0, 1), ep.query_x.flatten(0, 1)
        sx, qx = augment(sx, gen).unsqueeze(0), augment(qx, gen).unsqueeze(0)
        return F.cross_entropy(model(sx, ep.support_y, qx).flatten(0, 1), ep.query_y.flatten())

    optimizer = trainer.make_optimizer(list(model.parameters()), lr=args.lr)
    start, cpu = time.perf_counter(), time.process_time()
    with runtime.seeded_init(args.seed):
        log = trainer.optimise(
            model, loss_at, steps=args.steps, optimizer=optimizer, schedule="cosine",
            progress="black-box recipe", single_thread=False,
        )  # fmt: skip
    tail = log.loss[-50:]
    return time.perf_counter() - start, time.process_time() - cpu, sum(tail) / len(tail)


def twenty_way_error(model, data, chars, n_tasks: int, seed: int) -> tuple[float, float]:
    """Error (%) and its t 95% half-width over tasks: 20-way 1-shot within one alphabet."""
    sampler = EpisodeSampler(
        data.images, chars, n_way=20, k_shot=1, n_query=1, batch_size=50, seed=seed
    )
    acc = evaluate(model, fixed_episodes(sampler, n_tasks), n_tasks)
    iv = stats.t_interval([1 - a for a in acc.per_task])
    return 100 * iv.mean, 100 * iv.half_width


def main() -> None:
    args = parse()
    if args.threads:
        torch.set_num_threads(args.threads)
    wall = time.perf_counter()
    data = omniglot.load_omniglot(image_size=args.image_size)
    split = split_by_alphabet(data, seed=0)
    chars = split["train"] + split["val"]
    model = black_box.build_model(
        "hypernet", "conv", image_size=args.image_size, channels=64,
        stem_stride=args.stem_stride, seed=args.seed,
    )  # fmt: skip
    seconds, cpu_seconds, loss = train(model, data, chars, args)
    model.eval()
    ncm = black_box.NearestClassMean(model.encoder, model.encoder.out_features).eval()
    test = EpisodeSampler(
        data.images, split["test"], n_way=5, k_shot=1, n_query=5, batch_size=100, seed=123
    )
    tasks = fixed_episodes(test, args.test_tasks)
    result = {
        "recipe": (
            f"hypernetwork with the prototype shortcut on a conv-64 encoder, end to end from raw "
            f"{args.image_size}x{args.image_size} pixels (first conv stride {args.stem_stride}); "
            f"{args.train_way}-way 1-shot episodes with {args.queries} queries per class, every "
            f"rotation a new class, affine strength {args.augment}, Adam, cosine from {args.lr}"
        ),
        "steps": args.steps,
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "final_loss": round(loss, 4),
        "train_alphabets": split.alphabets["train"] + split.alphabets["val"],
        "train_classes": 4 * len(chars),
        "load_average": round(os.getloadavg()[0], 2),
        "torch_threads": torch.get_num_threads(),
        "seed": args.seed,
        "models": {},
    }
    print(f"load average {result['load_average']:.2f}, torch threads {result['torch_threads']}")
    print(
        f"trained {args.steps} steps ({args.train_way}-way 1-shot, {args.queries} queries/class, "
        f"{4 * len(chars)} rotated classes, {args.image_size} px) in {seconds:.0f} s "
        f"({cpu_seconds:.0f} s of CPU time); final loss {loss:.3f}"
    )
    for name, m in (("hypernetwork (black box)", model), ("NCM on its encoder", ncm)):
        acc = evaluate(m, tasks, args.test_tasks)
        row = {"five_way": [100 * acc.mean, 100 * acc.ci95], "five_way_tasks": args.test_tasks}
        print(f"{name:<26} 5-way 1-shot on {', '.join(split.alphabets['test'])}: {acc}")
        for alphabet in split.alphabets["test"]:
            ids = [c for c in split["test"] if data.alphabets[c] == alphabet]
            err, half = twenty_way_error(m, data, ids, args.runs, seed=321)
            row[f"twenty_way_error_{alphabet}"] = [err, half]
            print(f"{'':<26} 20-way 1-shot error within {alphabet}: {err:.1f}% ± {half:.1f}%")
        result["models"][name] = row
    result["twenty_way_tasks"] = args.runs
    result["total_seconds"] = round(time.perf_counter() - wall, 1)
    print(f"total wall time {result['total_seconds']:.0f} s ({runtime.describe()['device']})")
    if args.out:
        out = Path(args.out)
        store.atomic_write(out, lambda p: p.write_text(json.dumps(result, indent=2) + "\n"))
        print(f"figures written to {out.name}")


if __name__ == "__main__":
    main()
