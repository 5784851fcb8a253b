"""environment.yml must describe the same dependencies as pyproject.toml (no conda needed)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from shared import REPO_ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")


def requirement_map(specs: Iterable[str]) -> dict[str, str]:
    """``["Torch >= 2.2", ...]`` -> ``{"torch": ">=2.2", ...}`` (names canonicalised)."""
    result: dict[str, str] = {}
    for spec in specs:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        if name in result:
            raise ValueError(f"{name} is listed twice")
        result[name] = str(SpecifierSet(str(req.specifier)))
    return result


def compare(pyproject: dict[str, str], conda: dict[str, str]) -> list[str]:
    """Human-readable differences between two requirement maps (empty when they agree)."""
    problems = []
    for name in sorted(pyproject.keys() - conda.keys()):
        problems.append(f"{name}{pyproject[name]} is in pyproject.toml but not environment.yml")
    for name in sorted(conda.keys() - pyproject.keys()):
        problems.append(f"{name}{conda[name]} is in environment.yml but not pyproject.toml")
    for name in sorted(pyproject.keys() & conda.keys()):
        if pyproject[name] != conda[name]:
            problems.append(
                f"{name}: pyproject.toml says '{pyproject[name]}', environment.yml '{conda[name]}'"
            )
    return problems


def pyproject_requirements(path: Path) -> dict[str, str]:
    """Runtime dependencies plus the ``test`` extra from pyproject.toml."""
    project = tomllib.loads(path.read_text())["project"]
    return requirement_map(project["dependencies"] + project["optional-dependencies"]["test"])


def environment_pip_section(env: dict) -> list[str]:
    """The strings of the ``pip:`` entry of a conda environment's dependencies."""
    sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, "environment.yml needs exactly one `pip:` section"
    return sections[0]


@pytest.fixture(scope="module")
def env() -> dict:
    return yaml.safe_load((REPO_ROOT / "environment.yml").read_text())


def test_channel_python_and_pip(env: dict) -> None:
    assert env["channels"] == ["conda-forge"]
    conda_deps = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "pip" in conda_deps
    pythons = [d for d in conda_deps if d.startswith("python")]
    assert len(pythons) == 1
    version = pythons[0].split("=", 1)[1]
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert version in SpecifierSet(project["requires-python"]), "python pin violates pyproject"


def test_installs_the_project_itself_with_test_extra(env: dict) -> None:
    editable = [s for s in environment_pip_section(env) if s.startswith("-e")]
    assert [s.split(None, 1)[1].strip() for s in editable] == [".[test]"]


def test_same_dependencies_as_pyproject(env: dict) -> None:
    pip_specs = [s for s in environment_pip_section(env) if not s.startswith("-")]
    problems = compare(
        pyproject_requirements(REPO_ROOT / "pyproject.toml"), requirement_map(pip_specs)
    )
    assert not problems, "\n".join(problems)


def test_compare_reports_every_kind_of_mismatch() -> None:
    pyproject = requirement_map(["torch>=2.2", "tqdm>=4.66", "pytest>=8.0"])
    conda = requirement_map(["Torch>=2.1", "tqdm >= 4.66", "ruff"])
    assert compare(pyproject, conda) == [
        "pytest>=8.0 is in pyproject.toml but not environment.yml",
        "ruff is in environment.yml but not pyproject.toml",
        "torch: pyproject.toml says '>=2.2', environment.yml '>=2.1'",
    ]
    assert compare(pyproject, pyproject) == []


def test_requirement_map_normalises_and_rejects_duplicates() -> None:
    assert requirement_map(["PyYAML >= 6.0", "Pillow<12,>=9.0"]) == {
        "pyyaml": ">=6.0",
        "pillow": "<12,>=9.0",
    }
    with pytest.raises(ValueError, match="listed twice"):
        requirement_map(["torch>=2.2", "Torch"])
