"""Mutation check: plant one small realistic bug at a time and make sure a test catches it.

Each mutation names a file, an exact snippet of it (usually one line, indentation included; it
must occur exactly once), its replacement, and the tests expected to fail. For every mutation
the repository is copied to a temporary folder (without .venv, .git and data), the snippet is
replaced there, and the tests run in the copy with the venv's python::

    python -m pytest -p no:cacheprovider -x -q <tests>    # LECTURE_DEVICE=cpu LECTURE_FAST_MODE=1

A failing run means the bug was *caught*; a passing run means it was *missed*. Before any
mutation, the same tests run once on an unmutated copy and must pass.

    python scripts/mutate.py                # all mutations (make mutate)
    python scripts/mutate.py --list         # names, files and tests
    python scripts/mutate.py --only NAME    # one (repeat --only for more)

Exit status: 0 when every mutation was caught; 1 when one was missed, errored, or its snippet was
not found exactly once (code moves: keep MUTATIONS up to date); 2 when the unmutated tests fail.
``$OMNIGLOT_DIR`` is passed through, so tests marked ``real_data`` run when it is set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIP_TOP = {".venv", ".git", "data"}
SKIP_ANY = {"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}
TIMEOUT = 900  # seconds per pytest run


@dataclass(frozen=True)
class Mutation:
    """One planted bug: replace ``original`` (found exactly once in ``file``) by ``mutated``;
    ``delete=True`` removes ``file`` instead. ``tests`` are pytest node ids that must fail."""

    name: str
    file: str
    original: str
    mutated: str
    tests: tuple[str, ...]
    delete: bool = False


def m(name: str, file: str, original: str, mutated: str, *tests: str) -> Mutation:
    return Mutation(name, file, original, mutated, tuple(tests))


T_CHECK = "tests/unit/data/test_checksums.py::"
T_SAMPLER = "tests/unit/episodes/test_sampler_randomness.py::"
T_MHD = "tests/unit/data/test_mhd.py::"
T_RUNTIME = "tests/unit/core/test_runtime.py::"
T_BEHAVIOUR = "tests/unit/models/black_box/test_behaviour.py::"
T_ESCAPE = "tests/unit/data/test_omniglot.py::test_extraction_rejects_paths_escaping_the_target"
T_SANITIZE = "tests/tooling/test_nbval_sanitize.py::"
T_TRAIN = "tests/unit/training/test_trainer.py::"
T_STATS = "tests/unit/core/test_stats.py::"
T_STORE = "tests/unit/core/test_store.py::"
LABELS = T_BEHAVIOUR + "test_permuting_the_support_labels_changes_the_prediction"

MUTATIONS: list[Mutation] = [
    # -- issue 15 item 1: md5 check skipped for a file in $OMNIGLOT_DIR -----------------------
    m(
        "md5-skipped-in-omniglot-dir",
        "lecture_utils/data/downloads.py",
        "        actual = md5sum(candidate)\n        if actual != md5:",
        "        actual = md5sum(candidate)\n        if False:",
        T_CHECK + "test_lookalike_in_env_folder_is_rejected_by_fetch",
        T_CHECK + "test_lookalike_in_env_folder_is_rejected_by_load_omniglot",
    ),
    # -- item 2: md5 check skipped for the cached copy in data/ --------------------------------
    m(
        "md5-skipped-in-download-cache",
        "lecture_utils/data/downloads.py",
        "        if actual == md5:\n            return target",
        "        if True:\n            return target",
        T_CHECK + "test_lookalike_in_cache_is_not_trusted",
        T_CHECK + "test_lookalike_in_cache_is_fetched_again_and_the_md5_named",
    ),
    # -- item 3: one shuffle shared by every task of a meta-batch -------------------------------
    m(
        "one-position-shuffle-per-meta-batch",
        "lecture_utils/episodes/sampler.py",
        "            perm = self._rand(T, N * (K + Q))",
        "            perm = self._rand(1, N * (K + Q)).expand(T, -1)",
        T_SAMPLER + "test_tasks_of_one_meta_batch_get_different_position_shuffles",
    ),
    m(
        "one-homework-query-shuffle-per-meta-batch",
        "lecture_utils/episodes/sampler.py",
        "            label[:, K:] = self._rand(T, Q, N).argsort(dim=-1)",
        "            label[:, K:] = self._rand(1, Q, N).argsort(dim=-1)",
        T_SAMPLER + "test_homework_query_rows_are_shuffled_per_task",
    ),
    m(
        "one-class-draw-per-meta-batch",
        "lecture_utils/episodes/sampler.py",
        "        u = self._rand(rows, k)",
        "        u = self._rand(1, k).expand(rows, k)",
        T_SAMPLER + "test_tasks_of_one_meta_batch_get_different_class_assignments",
    ),
    # -- item 5: MHD centred on the bounding box instead of the centre of mass ------------------
    m(
        "mhd-bounding-box-centring",
        "lecture_utils/data/one_shot.py",
        "    return points - points.mean(dim=0)",
        "    return points - (points.amax(dim=0) + points.amin(dim=0)) / 2",
        T_MHD + "test_ink_points_subtract_the_centre_of_mass_not_the_box_centre",
        T_MHD + "test_mhd_of_asymmetric_glyphs_uses_centre_of_mass",
        T_MHD + "test_mhd_predict_decision_depends_on_the_centring",
    ),
    m(  # the same bug, caught by the pinned real-data error alone (needs $OMNIGLOT_DIR)
        "mhd-bounding-box-centring-real-data",
        "lecture_utils/data/one_shot.py",
        "    return points - points.mean(dim=0)",
        "    return points - (points.amax(dim=0) + points.amin(dim=0)) / 2",
        T_MHD + "test_mhd_error_on_real_runs_is_pinned",
    ),
    # -- generator= ignored: every sampler falls back to seed 0 ---------------------------------
    m(
        "sampler-ignores-generator",
        "lecture_utils/episodes/sampler.py",
        "        if generator is None:",
        "        if True:",
        T_SAMPLER + "test_different_generators_give_different_episodes",
        T_SAMPLER + "test_generator_takes_precedence_over_the_default_seed",
        T_SAMPLER + "test_the_generator_passed_is_the_one_consumed",
    ),
    # -- device tests that could not fail on a CPU-only machine ---------------------------------
    m(
        "device-ignores-lecture-device",
        "lecture_utils/core/runtime.py",
        '    forced = os.environ.get("LECTURE_DEVICE")',
        "    forced = None",
        T_RUNTIME + "test_device_can_be_forced",
        T_RUNTIME + "test_tests_run_on_cpu",
    ),
    m(
        "device-ignores-cuda",
        "lecture_utils/core/runtime.py",
        "    if torch.cuda.is_available():",
        "    if False:",
        T_RUNTIME + "test_device_prefers_cuda_then_mps_then_cpu",
    ),
    m(
        "device-ignores-mps",
        "lecture_utils/core/runtime.py",
        "    if mps is not None and mps.is_available():",
        "    if False:",
        T_RUNTIME + "test_device_prefers_cuda_then_mps_then_cpu",
    ),
    m(
        "sampler-ignores-device",
        "lecture_utils/episodes/sampler.py",
        "        self.device = torch.device(device) if device is not None else images.device",
        "        self.device = images.device",
        "tests/unit/episodes/test_sampler.py::test_device_placement",
    ),
    m(
        "episode-to-ignores-device",
        "lecture_utils/episodes/task_batch.py",
        "        return self._map(lambda t: t.to(device))",
        "        return self._map(lambda t: t)",
        "tests/unit/episodes/test_sampler.py::test_device_placement",
    ),
    # -- black-box models that ignore the support labels or images ------------------------------
    m(
        "lstm-ignores-support-labels",
        "lecture_utils/models/black_box/lstm.py",
        "        seq = lstm_input_sequence(support, support_y, query, self.max_way)",
        "        seq = lstm_input_sequence(support, support_y * 0, query, self.max_way)",
        LABELS + "[lstm]",
    ),
    m(
        "feedforward-ignores-support-labels",
        "lecture_utils/models/black_box/feedforward.py",
        "pairs = torch.cat([self.embed(support_x), one_hot(support_y, self.max_way)]",
        "pairs = torch.cat([self.embed(support_x), one_hot(support_y * 0, self.max_way)]",
        LABELS + "[feedforward]",
    ),
    m(
        "attention-ignores-support-labels",
        "lecture_utils/models/black_box/attention.py",
        "self.tokenize(torch.cat([s_feat, one_hot(support_y, self.max_way)], -1))",
        "self.tokenize(torch.cat([s_feat, one_hot(support_y * 0, self.max_way)], -1))",
        LABELS + "[attention]",
    ),
    m(
        "hypernet-ignores-support-labels",
        "lecture_utils/models/black_box/hypernetwork.py",
        "        per_class = assign.transpose(1, 2) @ p / counts[..., None]  # [B, N, D]",
        "        per_class = p.mean(dim=1, keepdim=True).expand(-1, n_way, -1)",
        LABELS + "[hypernet]",
        T_BEHAVIOUR + "test_hypernetwork_logits_follow_the_labels",
    ),
    m(
        "feedforward-ignores-support-set",
        "lecture_utils/models/black_box/feedforward.py",
        "        phi = self.context(support_x, support_y)",
        "        phi = self.context(support_x, support_y) * 0",
        T_BEHAVIOUR + "test_changing_the_support_images_changes_the_prediction[feedforward]",
    ),
    m(
        "hypernet-task-context-pooled-over-meta-batch",
        "lecture_utils/models/black_box/hypernetwork.py",
        "        task = p.mean(dim=1, keepdim=True).expand(-1, n_way, -1)",
        "        task = p.mean(dim=(0, 1), keepdim=True).expand(p.shape[0], n_way, -1)",
        "tests/unit/models/black_box/test_families.py::test_hypernetwork_makes_one_head_per_task",
    ),
    # -- the zip member guard -------------------------------------------------------------------
    m(
        "zip-guard-misses-backslashes",
        "lecture_utils/data/omniglot.py",
        '    path = PurePosixPath(name.replace("\\\\", "/"))',
        "    path = PurePosixPath(name)",
        T_ESCAPE + "[backslash-dotdot]",
        T_ESCAPE + "[backslash-nested]",
    ),
    m(
        "zip-guard-misses-drive-letters",
        "lecture_utils/data/omniglot.py",
        '    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):',
        '    if path.is_absolute() or ".." in path.parts:',
        T_ESCAPE + "[drive-slash]",
        T_ESCAPE + "[drive-backslash]",
    ),
    # -- the training core (lecture_utils/training/trainer.py) ---------------------------------
    m(
        "train-ignores-clip-grad",
        "lecture_utils/training/trainer.py",
        "            if clip_grad is not None:\n"
        "                nn.utils.clip_grad_norm_(params, clip_grad)",
        "            pass",
        T_TRAIN + "test_clip_grad_limits_the_gradient_norm",
    ),
    m(
        "cosine-schedule-without-decay",
        "lecture_utils/training/trainer.py",
        "        return 0.5 * (1.0 + math.cos(math.pi * t))",
        "        return 1.0",
        T_TRAIN + "test_cosine_schedule_reaches_the_optimiser",
    ),
    m(
        "warmup-ignored",
        "lecture_utils/training/trainer.py",
        "    if warmup and step < warmup:",
        "    if False:",
        T_TRAIN + "test_warmup_starts_small",
    ),
    m(
        "train-uses-the-global-rng",
        "lecture_utils/training/trainer.py",
        "    generator = torch.Generator().manual_seed(seed)\n    batches",
        "    generator = torch.default_generator\n    batches",
        T_TRAIN + "test_same_seed_gives_identical_runs",
    ),
    m(
        "param-groups-ignored",
        "lecture_utils/training/trainer.py",
        "    groups = param_groups or [p for p in model.parameters() if p.requires_grad]",
        "    groups = [p for p in model.parameters() if p.requires_grad]",
        T_TRAIN + "test_param_groups_keep_their_rates",
    ),
    m(
        "train-ignores-the-device",
        "lecture_utils/training/trainer.py",
        "    device = runtime.resolve_device(device)\n    model.to(device)",
        "    device = torch.device('cpu')\n    model.to(device)",
        T_TRAIN + "test_default_device_comes_from_get_device",
    ),
    m(
        "evaluation-skips-the-last-step",
        "lecture_utils/training/trainer.py",
        "            last = step + 1 == steps",
        "            last = False",
        T_TRAIN + "test_hooks_and_evaluation_run_when_asked",
    ),
    # -- statistics (lecture_utils/core/stats.py) ---------------------------------------------
    m(
        "normal-quantile-instead-of-t",
        "lecture_utils/core/stats.py",
        "    return float(_scipy_stats.t.ppf(0.5 + confidence / 2, df=n - 1))",
        "    return float(_scipy_stats.norm.ppf(0.5 + confidence / 2))",
        T_STATS + "test_t_quantiles_match_published_tables",
        T_STATS + "test_t_interval_by_hand",
    ),
    m(
        "population-sd-instead-of-sample-sd",
        "lecture_utils/core/stats.py",
        "    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))",
        "    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / n)",
        T_STATS + "test_t_interval_by_hand",
    ),
    m(
        "verdict-from-the-mean-only",
        "lecture_utils/core/stats.py",
        "    if difference.low > margin:",
        "    if difference.mean > margin:",
        T_STATS + "test_verdict_follows_the_interval",
    ),
    m(
        "unpaired-difference",
        "lecture_utils/core/stats.py",
        "    return t_interval([x - y for x, y in zip(xs, ys, strict=True)], confidence)",
        "    a_iv, b_iv = t_interval(xs, confidence), t_interval(ys, confidence)\n"
        "    return Interval(a_iv.mean - b_iv.mean, a_iv.half_width + b_iv.half_width, len(xs))",
        T_STATS + "test_paired_difference_uses_the_pairs",
    ),
    # -- the store (lecture_utils/core/store.py) ----------------------------------------------
    m(
        "cache-key-ignores-its-settings",
        "lecture_utils/core/store.py",
        '    text = canonical_json({"code_version": CODE_VERSION, **parts})',
        '    text = canonical_json({"code_version": CODE_VERSION})',
        T_STORE + "test_cache_key_is_stable_and_sees_every_setting",
    ),
    m(
        "checkpoint-checksum-not-verified",
        "lecture_utils/core/store.py",
        '        or tensor_checksum(state, meta_json) != payload["checksum"]\n',
        "",
        T_STORE + "test_damaged_checkpoint_names_the_file_and_the_fix",
    ),
    # -- notebook hygiene and nbval sanitising --------------------------------------------------
    Mutation(
        "agreed-notebook-deleted",
        "notebooks/02_fine_tuning_rules.ipynb",
        "",
        "",
        ("tests/notebooks/test_hygiene.py::test_notebook_names_are_the_agreed_ones",),
        delete=True,
    ),
    m(
        "sanitizer-masks-any-32-hex-string",
        "tests/nbval_sanitize.cfg",
        "regex: (model_id[\"']?\\s*[:=]\\s*[\"']|IPY_MODEL_)[0-9a-f]{32}\\b\nreplace: \\1MODEL_ID",
        "regex: \\b[0-9a-f]{32}\\b\nreplace: MODEL_ID",
        T_SANITIZE + "test_numbers_that_matter_are_kept",
    ),
    m(
        "sanitizer-masks-any-number-before-s",
        "tests/nbval_sanitize.cfg",
        "regex: (?<![\\w.])\\d+(?:\\.\\d+)?\\s?(?:ms|sec|secs|seconds|min|mins|minutes)\\b",
        "regex: \\b\\d+(\\.\\d+)?\\s?(ms|s|sec|secs|seconds|min)\\b",
        T_SANITIZE + "test_numbers_that_matter_are_kept",
    ),
]


# --------------------------------------------------------------------------------------------


def venv_python() -> str:
    """The project's venv python, else the one running this script."""
    candidate = REPO / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def copy_repo(dest: Path) -> Path:
    """Copy the repository to ``dest/repo`` without .venv, .git, data and caches."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n in SKIP_ANY or n.endswith(".egg-info")}
        if Path(folder).resolve() == REPO:
            skip |= SKIP_TOP & set(names)
        return skip

    root = dest / "repo"
    shutil.copytree(REPO, root, ignore=ignore, symlinks=True)
    (root / "data").mkdir()  # an empty download cache, so nothing is written outside the copy
    if (REPO / "data" / "README.md").is_file():
        shutil.copy2(REPO / "data" / "README.md", root / "data" / "README.md")
    return root


def check_snippet(mutation: Mutation, root: Path = REPO) -> str | None:
    """None if the mutation applies to ``root``; else why not."""
    path = root / mutation.file
    if not path.is_file():
        return f"{mutation.file} does not exist"
    if mutation.delete:
        return None
    count = path.read_text(encoding="utf-8").count(mutation.original)
    if count != 1:
        return f"original snippet found {count} times in {mutation.file} (must be exactly once)"
    return None


def apply(mutation: Mutation, root: Path) -> None:
    path = root / mutation.file
    if mutation.delete:
        path.unlink()
        return
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(mutation.original, mutation.mutated, 1), encoding="utf-8")


def child_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LECTURE_DEVICE="cpu",
        LECTURE_FAST_MODE="1",
        PYTHONPATH=os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("LECTURE_DATA_DIR", None)  # keep every cache inside the copy
    if env.get("OMNIGLOT_DIR"):
        env["OMNIGLOT_DIR"] = str(Path(env["OMNIGLOT_DIR"]).expanduser().resolve())
    return env


def check_imports_copy(root: Path, python: str) -> None:
    """The copy's lecture_utils must be the one imported (the venv holds an editable install
    pointing at the real repository)."""
    out = subprocess.run(
        [python, "-c", "import lecture_utils; print(lecture_utils.__file__)"],
        cwd=root,
        env=child_env(root),
        capture_output=True,
        text=True,
        check=False,
    )
    where = Path(out.stdout.strip() or "?").resolve()
    if out.returncode != 0 or not where.is_relative_to(root.resolve()):
        sys.exit(
            f"sanity check failed: lecture_utils imported from {where}, not from the copy {root}\n"
            + out.stderr
        )


def run_tests(root: Path, tests: tuple[str, ...], python: str) -> tuple[int, str, float]:
    """Run ``tests`` in ``root``; return pytest's exit code, its output and the seconds taken."""
    cmd = [python, "-m", "pytest", "-p", "no:cacheprovider", "-x", "-q", *tests]
    start = time.monotonic()
    try:
        out = subprocess.run(
            cmd,
            cwd=root,
            env=child_env(root),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {TIMEOUT} s", time.monotonic() - start
    return out.returncode, out.stdout + out.stderr, time.monotonic() - start


def first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" ", 1)[1].split(" - ")[0]
    return ""


def run_one(mutation: Mutation, python: str) -> tuple[str, str, float]:
    """(result, detail, seconds) for one mutation: caught, missed, error or line missing."""
    problem = check_snippet(mutation)
    if problem:
        return "LINE MISSING", problem, 0.0
    with tempfile.TemporaryDirectory(prefix=f"mutate-{mutation.name}-") as tmp:
        root = copy_repo(Path(tmp))
        check_imports_copy(root, python)
        apply(mutation, root)
        code, output, seconds = run_tests(root, mutation.tests, python)
    if code == 1:
        return "caught", first_failure(output), seconds
    if code == 0:
        return "MISSED", "all named tests passed with the bug in place", seconds
    tail = " | ".join(output.strip().splitlines()[-3:])
    return "ERROR", f"pytest exit code {code}: {tail}", seconds


def baseline(mutations: list[Mutation], python: str) -> None:
    """The named tests must pass on the unmutated code, or 'caught' would mean nothing."""
    tests = tuple(dict.fromkeys(t for mutation in mutations for t in mutation.tests))
    with tempfile.TemporaryDirectory(prefix="mutate-baseline-") as tmp:
        root = copy_repo(Path(tmp))
        check_imports_copy(root, python)
        code, output, seconds = run_tests(root, tests, python)
    if code != 0:
        print(output)
        print(f"baseline: the named tests fail WITHOUT any mutation (exit {code}); fix them first.")
        sys.exit(2)
    print(f"baseline: {len(tests)} named test(s) pass on the unmutated copy ({seconds:.0f} s)")


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Left-aligned columns; the last column (details) is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    rule = tuple("-" * w for w in widths) + ("------",)
    for row in [rows[0], rule, *rows[1:]]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME", help="run just this mutation")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--python", default=venv_python(), help="interpreter that runs pytest")
    args = parser.parse_args(argv)

    names = [mutation.name for mutation in MUTATIONS]
    assert len(names) == len(set(names)), "mutation names must be unique"
    if args.list:
        for mutation in MUTATIONS:
            state = check_snippet(mutation) or "ok"
            print(f"{mutation.name}\n    {mutation.file} ({state})")
            for test in mutation.tests:
                print(f"    {test}")
        return 0
    selected = MUTATIONS
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"unknown mutation(s) {unknown}; see --list")
        selected = [mutation for mutation in MUTATIONS if mutation.name in args.only]
    if not os.environ.get("OMNIGLOT_DIR"):
        print("note: OMNIGLOT_DIR is not set, so tests marked real_data are skipped (and pass)")

    runnable = [mutation for mutation in selected if check_snippet(mutation) is None]
    if runnable:
        baseline(runnable, args.python)
    rows = []
    for mutation in selected:
        result, detail, seconds = run_one(mutation, args.python)
        rows.append((mutation.name, mutation.file, result, f"{seconds:.0f}s", detail))
        print(f"  {result:<12} {mutation.name}", flush=True)

    print()
    print_table([HEADER, *rows])
    caught = sum(row[2] == "caught" for row in rows)
    broken = sum(row[2] in ("ERROR", "LINE MISSING") for row in rows)
    if broken:
        print(f"\n{broken} of the missed could not run (ERROR / LINE MISSING): update MUTATIONS")
    print(f"\n{caught} caught, {len(rows) - caught} missed")
    return 0 if caught == len(rows) else 1


HEADER = ("mutation", "file", "result", "time", "detail")

if __name__ == "__main__":
    sys.exit(main())
