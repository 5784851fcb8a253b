"""Systematic mutation testing: mutmut 3 over the generic modules, one module at a time.

``scripts/mutate.py`` (``make mutate``) plants hand-written bugs; this script lets mutmut plant
every small mutation it knows (operators, constants, arguments, return values...) in each module
of ``SCOPE`` and runs only that module's own unit tests against each mutant. For every module the
repository is copied to ``build/mutate_all/<module>/`` (without .venv, .git and data), the copy's
``[tool.mutmut]`` (pyproject.toml) is narrowed to that module and its tests, and there::

    mutmut run --max-children 1          # LECTURE_DEVICE=cpu LECTURE_FAST_MODE=1, one thread

Then a table: per module the mutants in total, killed (a test failed, or it timed out),
survived, equivalent (survivors listed in ``EQUIVALENT`` with the reason no test can tell them
apart) and the score ``killed / (total - equivalent)``.

    python scripts/mutate_all.py                   # every module (make mutate-all)
    python scripts/mutate_all.py --only core/stats.py
    python scripts/mutate_all.py --show            # also print each unexplained survivor's diff

Exit status: 0 when every module reaches ``--min-score`` (default 90%); 1 when one does not, or
an ``EQUIVALENT`` entry names no surviving mutant (the code moved: update it); 2 when mutmut
fails. The copies stay in build/ (git-ignored) for ``cd build/mutate_all/<module> && mutmut
show NAME``. ``$OMNIGLOT_DIR`` is passed through; without it tests marked ``real_data`` are
deselected (and the scores can be lower).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "build" / "mutate_all"
SKIP_TOP = {".venv", ".git", "data", "build", "mutants", "student", "slides", "notebooks"}
SKIP_ANY = {"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}
TIMEOUT = 1800  # seconds per module

# Module (under lecture_utils/) -> the unit tests run against its mutants.
SCOPE: dict[str, tuple[str, ...]] = {
    "core/stats.py": ("tests/unit/core/test_stats.py", "tests/unit/core/test_stats_family.py"),
    "core/store.py": ("tests/unit/core",),
    "episodes/sampler.py": ("tests/unit/episodes",),
    "episodes/task_batch.py": ("tests/unit/episodes",),
    "training/evaluation.py": ("tests/unit/training",),
    "training/trainer.py": ("tests/unit/training",),
    "data/transforms.py": ("tests/unit/data/test_transforms.py",),
    "models/black_box/feedforward.py": ("tests/unit/models/black_box",),
}

# Surviving mutants that no test can kill, by mutmut's name (module.x_function__mutmut_N), grouped
# by the reason. Names carry the function and a counter, so they change when the function
# changes: the run then reports the stale entry. benchmarks/mutation.md lists them too.
_REASONS: dict[str, tuple[str, ...]] = {
    "zip(strict=...) after the length check has already refused unequal lengths": (
        "core.stats.x_paired_difference__mutmut_14",
        "core.stats.x_paired_difference__mutmut_17",
        "core.stats.x_paired_difference__mutmut_18",
    ),
    "fsync is a durability measure whose effect shows only after a power loss; its errors are "
    "suppressed, so every variant leaves the same files": (
        *(f"core.store.x__fsync__mutmut_{n}" for n in (1, 2, 8, 9, 10, 11, 13, 16, 17, 18, 19, 20)),
        "core.store.x_atomic_write__mutmut_34",
        "core.store.x_atomic_write__mutmut_36",
        "core.store.x_atomic_write__mutmut_37",
    ),
    "map_location: checkpoints are always saved from CPU copies (_checkpoint_payload), so "
    "loading them needs no mapping": (
        "core.store.x_read_checkpoint__mutmut_8",
        "core.store.x_read_checkpoint__mutmut_11",
    ),
    "weights_only=None or left out means True in torch >= 2.6 (the project needs 2.13's "
    "behaviour; weights_only=False is killed)": (
        "core.store.x_read_checkpoint__mutmut_9",
        "core.store.x_read_checkpoint__mutmut_12",
    ),
    "follow_symlinks=None is falsy, the same as False": (
        "core.store.x_remove_stale_temporaries__mutmut_12",
        "core.store.x_remove_stale_temporaries__mutmut_16",
        "core.store.x_remove_stale_temporaries__mutmut_21",
    ),
    "symlinks are skipped before stat(), and rmtree refuses a symlink to a folder (errors "
    "ignored), so following them changes nothing": (
        "core.store.x_remove_stale_temporaries__mutmut_13",
        "core.store.x_remove_stale_temporaries__mutmut_22",
    ),
    "stat() fails only when an entry vanishes between scandir and stat (a race between "
    "processes): not reproducible in a test": ("core.store.x_remove_stale_temporaries__mutmut_23",),
    "whole_number's minimum defaults to 1, the value passed": (
        "training.evaluation.x_fixed_episodes__mutmut_7",
        "training.trainer.x_train__mutmut_21",
        "training.trainer.x_train__mutmut_35",
        "training.trainer.x_index_batches__mutmut_13",
        "training.trainer.x_optimise__mutmut_13",
        "training.trainer.x_optimise__mutmut_42",
        "episodes.sampler.x__check_positive__mutmut_6",
    ),
    "x.to(None) leaves a tensor where it is; the data and the model are both on the CPU on "
    "every test machine (no accelerator), so the batch is already on the model's device": (
        "training.trainer.x_train__mutmut_94",
        "training.trainer.x_train__mutmut_95",
    ),
    "device=None or no device: the tensors are made on the CPU, where the images are on every "
    "test machine (no accelerator)": (
        *(f"data.transforms.x_random_shift__mutmut_{n}" for n in (38, 42, 47, 49)),
        "data.transforms.x_random_affine__mutmut_38",
        "data.transforms.x_random_affine__mutmut_40",
    ),
    "align_corners=None or left out means False in torch, the value passed": tuple(
        f"data.transforms.x_random_affine__mutmut_{n}" for n in (63, 66, 71, 74)
    ),
    "torch.randint(high, size) draws from 0..high-1, the same as randint(0, high, size)": (
        "data.transforms.x_random_shift__mutmut_26",
    ),
    "shape[-2] equals shape[-1]: the images are square [B, C, S, S], as documented": (
        "data.transforms.x_random_shift__mutmut_9",
    ),
    "only the text shown beside a progress bar (no test reads the bar)": (
        "training.trainer.x_optimise__mutmut_130",
    ),
    "make_schedule calls lr_factor only to validate the schedule's name, which does not depend "
    "on the step or the warm-up": (
        "training.trainer.x_make_schedule__mutmut_22",
        "training.trainer.x_make_schedule__mutmut_23",
    ),
    "one_cycle is continuous at t = rise: the rising branch and the cosine both give 1.0": (
        "training.trainer.x_lr_factor__mutmut_33",
    ),
    "make_optimizer checks lr again with the same message; only which of two refusals comes "
    "first could differ": ("training.trainer.x_train__mutmut_42",),
    "not observable under mutmut: its trampoline adds a stack frame to every call, so the "
    "warning's stacklevel cannot be checked there (the normal test run checks it, "
    "test_store.py TRAMPOLINED)": (
        "core.store.x_warn_once__mutmut_8",
        "core.store.x_warn_once__mutmut_9",
        "core.store.x_cached_module__mutmut_24",
        "core.store.x_cached_module__mutmut_33",
    ),
    "free is never left None: disk_usage of the root folder, the last parent tried, "
    "always succeeds": ("core.store.x_as_write_error__mutmut_5",),
}
EQUIVALENT: dict[str, str] = {
    f"lecture_utils.{name}": reason for reason, names in _REASONS.items() for name in names
}

KILLED = {"killed", "timeout", "segfault", "suspicious"}
STATUS_LINE = re.compile(r"^\s*(?P<name>\S+): (?P<status>[a-z ]+)$")


@dataclass
class Result:
    """One module's counts."""

    module: str
    total: int
    killed: int
    survivors: list[str]
    equivalent: int
    seconds: float

    @property
    def survived(self) -> int:
        return len(self.survivors)

    @property
    def score(self) -> float:
        denominator = self.total - self.equivalent
        return 100.0 * self.killed / denominator if denominator else 100.0


def mutmut_command() -> list[str]:
    """mutmut from the running interpreter's environment."""
    return [sys.executable, "-m", "mutmut"]


def slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def copy_repo(dest: Path) -> Path:
    """A fresh copy of the repository at ``dest`` without .venv, .git, data and caches."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n in SKIP_ANY or n.endswith(".egg-info")}
        if Path(folder).resolve() == REPO:
            skip |= SKIP_TOP & set(names)
        return skip

    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(REPO, dest, ignore=ignore, symlinks=True)
    (dest / "data").mkdir()  # an empty download cache, so nothing is written outside the copy
    return dest


def narrow_config(root: Path, module: str, tests: tuple[str, ...], real_data: bool) -> None:
    """Point the copy's ``[tool.mutmut]`` ``only_mutate`` and test selection at one module."""
    path = root / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    settings = {
        "only_mutate": f'["lecture_utils/{module}"]',
        "pytest_add_cli_args_test_selection": "[" + ", ".join(f'"{t}"' for t in tests) + "]",
    }
    for key, value in settings.items():
        text, count = re.subn(rf"(?m)^{key} = \[[^\]]*\]$", f"{key} = {value}", text)
        if count != 1:
            sys.exit(f"pyproject.toml: [tool.mutmut] needs exactly one one-line {key} = [...]")
    if not real_data:
        text = text.replace('"not browser"', '"not browser and not real_data"')
    path.write_text(text, encoding="utf-8")


def child_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LECTURE_DEVICE="cpu",
        LECTURE_FAST_MODE="1",
        LECTURE_PROGRESS="off",  # no tqdm monitor thread in the process mutmut forks from
        PYTHONDONTWRITEBYTECODE="1",
        # One thread: fork-safe (mutmut forks a worker per mutant) and fair on a shared machine.
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    env.pop("LECTURE_DATA_DIR", None)  # keep every cache inside the copy
    # mutmut puts its mutants/ first on sys.path itself; a PYTHONPATH breaks conftest imports.
    env.pop("PYTHONPATH", None)
    if env.get("OMNIGLOT_DIR"):
        env["OMNIGLOT_DIR"] = str(Path(env["OMNIGLOT_DIR"]).expanduser().resolve())
    return env


def statuses(root: Path) -> dict[str, str]:
    """Every mutant's status, from ``mutmut results --all true``."""
    out = subprocess.run(
        [*mutmut_command(), "results", "--all", "true"],
        cwd=root,
        env=child_env(root),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(out.stdout + out.stderr, file=sys.stderr)
        sys.exit(2)
    found = {}
    for line in out.stdout.splitlines():
        match = STATUS_LINE.match(line)
        if match:
            found[match["name"]] = match["status"]
    return found


def show(root: Path, name: str) -> str:
    out = subprocess.run(
        [*mutmut_command(), "show", name],
        cwd=root,
        env=child_env(root),
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip()


def run_module(module: str, tests: tuple[str, ...], show_diffs: bool) -> Result:
    """Mutate one module in its own copy and count the outcomes."""
    root = copy_repo(WORK / slug(module))
    narrow_config(root, module, tests, real_data=bool(os.environ.get("OMNIGLOT_DIR")))
    start = time.monotonic()
    log = root / "mutmut-run.log"
    with log.open("w") as handle:
        try:
            proc = subprocess.run(
                [*mutmut_command(), "run", "--max-children", "1"],
                cwd=root,
                env=child_env(root),
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            sys.exit(f"{module}: mutmut did not finish in {TIMEOUT} s (log: {log})")
    seconds = time.monotonic() - start
    found = statuses(root)
    if proc.returncode != 0 or not found:
        sys.exit(f"{module}: mutmut failed (exit {proc.returncode}); see {log}")
    killed = sum(status in KILLED for status in found.values())
    survivors = sorted(n for n, s in found.items() if s not in KILLED and n not in EQUIVALENT)
    equivalent = sum(n in EQUIVALENT and found[n] not in KILLED for n in found)
    for name in survivors:
        print(f"  survived: {name} ({found[name]})")
        if show_diffs:
            print(show(root, name))
    return Result(module, len(found), killed, survivors, equivalent, seconds)


def stale_equivalents(results: list[Result]) -> list[str]:
    """``EQUIVALENT`` names of the modules run that no longer name a surviving mutant."""
    prefixes = {f"lecture_utils.{slug(r.module)}.": r for r in results}
    stale = []
    for name in EQUIVALENT:
        for prefix, result in prefixes.items():
            if name.startswith(prefix):
                root = WORK / slug(result.module)
                status = statuses(root).get(name)
                if status is None or status in KILLED:
                    stale.append(f"{name} ({status or 'no such mutant'})")
    return stale


def print_table(results: list[Result]) -> None:
    header = ("module", "total", "killed", "survived", "equivalent", "score", "time")
    rows = [header] + [
        (
            r.module,
            str(r.total),
            str(r.killed),
            str(r.survived),
            str(r.equivalent),
            f"{r.score:.1f}%",
            f"{r.seconds:.0f} s",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(SCOPE), help="one module")
    parser.add_argument("--show", action="store_true", help="print each survivor's diff")
    parser.add_argument("--min-score", type=float, default=90.0, help="percent, per module")
    args = parser.parse_args(argv)
    modules = args.only or list(SCOPE)
    if not os.environ.get("OMNIGLOT_DIR"):
        print("OMNIGLOT_DIR is not set: tests marked real_data are deselected.")
    results = []
    for module in modules:
        print(f"{module}: mutmut over {' '.join(SCOPE[module])}", flush=True)
        results.append(run_module(module, SCOPE[module], args.show))
    print()
    print_table(results)
    failed = [r.module for r in results if r.score < args.min_score]
    stale = stale_equivalents(results)
    if failed:
        print(f"\nbelow {args.min_score:.0f}%: {', '.join(failed)}")
    if stale:
        print("\nEQUIVALENT entries that name no surviving mutant:\n  " + "\n  ".join(stale))
    return 1 if failed or stale else 0


if __name__ == "__main__":
    sys.exit(main())
