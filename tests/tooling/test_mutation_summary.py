"""``make mutate-all`` and its summary agree (cheap: reads files, runs no mutation).

benchmarks/mutation.md must list every module of scripts/mutate_all.py's scope and every mutant
the script counts as equivalent; pyproject.toml's ``[tool.mutmut]`` must cover the same modules;
mutmut's working folder must be git-ignored.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from types import ModuleType

import pytest
from shared import REPO_ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

SUMMARY = REPO_ROOT / "benchmarks" / "mutation.md"


def mutate_all() -> ModuleType:
    """scripts/mutate_all.py as a module (importing it runs nothing)."""
    spec = importlib.util.spec_from_file_location("mutate_all", REPO_ROOT / "scripts/mutate_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutate_all"] = module  # its dataclass looks itself up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["mutate_all"]
    return module


def test_the_summary_lists_every_module_in_scope() -> None:
    text = SUMMARY.read_text(encoding="utf-8")
    missing = [m for m in mutate_all().SCOPE if f"lecture_utils/{m}" not in text]
    assert not missing, f"benchmarks/mutation.md does not mention {missing}"


def test_the_summary_lists_every_equivalent_mutant_with_its_reason() -> None:
    text = SUMMARY.read_text(encoding="utf-8")
    missing = [name for name in mutate_all().EQUIVALENT if name not in text]
    assert not missing, f"benchmarks/mutation.md does not list the equivalent mutants {missing}"


def test_equivalent_mutants_belong_to_modules_in_scope() -> None:
    script = mutate_all()
    prefixes = tuple(f"lecture_utils.{script.slug(m)}.x" for m in script.SCOPE)
    assert all(name.startswith(prefixes) for name in script.EQUIVALENT)


def test_makefile_target_runs_the_script_and_installs_mutmut() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^mutate-all:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, "Makefile has no mutate-all target"
    assert "scripts/mutate_all.py" in recipe[1]
    assert "pip install" in recipe[1] and "MUTMUT_PIN" in recipe[1]
    assert "mutate-all" in re.search(r"^\.PHONY:.*$", makefile, re.MULTILINE)[0]


def test_pyproject_mutmut_table_covers_the_same_modules() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    scope = {f"lecture_utils/{m}" for m in mutate_all().SCOPE}
    assert set(config["only_mutate"]) == scope
    assert config["source_paths"] == ["lecture_utils"]


def test_mutmut_working_folders_are_git_ignored() -> None:
    ignored = (REPO_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "mutants/" in ignored
    assert "build/" in ignored  # the script's per-module copies live in build/mutate_all/
