"""Time the Omniglot data layer: a cold load (decode every PNG) and a cached load.

    OMNIGLOT_DIR=../shared/data/omniglot python benchmarks/bench_data_load.py [--subset small]

Target (issue 2): the second, cached load takes under 1 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from lecture_utils.data import omniglot


def timed_load(subset: str, size: int, cache: Path) -> tuple[float, omniglot.OmniglotData]:
    start = time.perf_counter()
    data = omniglot.load_omniglot(subset, image_size=size, data_dir=cache)
    return time.perf_counter() - start, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", default="small", choices=sorted(omniglot.SUBSETS))
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        cold, data = timed_load(args.subset, args.size, cache)
        warm = min(timed_load(args.subset, args.size, cache)[0] for _ in range(args.repeats))
    mb = data.images.numel() * 4 / 1e6
    print(f"{data!r}  ({mb:.1f} MB as float32)")
    print(f"cold load (fetch + decode {data.num_characters * 20} PNGs + write cache): {cold:.2f} s")
    print(
        f"cached load (best of {args.repeats}): {warm * 1000:.0f} ms   target < 1000 ms: "
        f"{'met' if warm < 1 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
