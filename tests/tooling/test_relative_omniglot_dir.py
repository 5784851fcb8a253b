"""A relative $OMNIGLOT_DIR works for `make run` and `make lab` too.

The notebook kernels run in notebooks/, so a relative path must be resolved against the folder
where the user set it, before any kernel starts: scripts/run_notebooks.py does it, and the
Makefile exports absolute paths.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from shared import REPO_ROOT


def load_script():
    spec = importlib.util.spec_from_file_location(
        "run_notebooks_script", REPO_ROOT / "scripts" / "run_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_relative_paths_are_resolved_against_the_starting_folder(tmp_path, monkeypatch):
    script = load_script()
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    env = {"OMNIGLOT_DIR": "../shared/data/omniglot", "LECTURE_DATA_DIR": "~/cache", "X": "y"}
    changed = script.absolute_paths(env, cwd=tmp_path / "repo")
    assert env["OMNIGLOT_DIR"] == str(tmp_path / "shared" / "data" / "omniglot")
    assert env["LECTURE_DATA_DIR"] == str(home / "cache")
    assert changed == {k: env[k] for k in ("OMNIGLOT_DIR", "LECTURE_DATA_DIR")}
    assert env["X"] == "y"
    absolute = {"OMNIGLOT_DIR": str(tmp_path / "zips"), "LECTURE_DATA_DIR": ""}
    assert script.absolute_paths(absolute, cwd=Path("/elsewhere")) == {}  # left alone
    assert absolute == {"OMNIGLOT_DIR": str(tmp_path / "zips"), "LECTURE_DATA_DIR": ""}


def test_main_resolves_omniglot_dir_before_any_kernel_starts(tmp_path, monkeypatch):
    script = load_script()
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMNIGLOT_DIR", "zips")
    monkeypatch.delenv("LECTURE_DATA_DIR", raising=False)
    seen: list[str] = []

    def fake_execute(path: Path, timeout: int) -> object:
        seen.append(os.environ["OMNIGLOT_DIR"])  # what the kernel would inherit
        return object()

    monkeypatch.setattr(script, "execute", fake_execute)
    assert script.main([str(notebook)]) == 0
    assert seen == [str(tmp_path / "zips")]


def paths_seen_by_make(cwd: Path, env: dict[str, str]) -> str:
    """``$OMNIGLOT_DIR|$LECTURE_DATA_DIR`` as the Makefile's recipes see them."""
    probe = 'show-paths: ; @echo "$$OMNIGLOT_DIR|$$LECTURE_DATA_DIR"'
    done = subprocess.run(
        ["make", "-s", "-f", str(REPO_ROOT / "Makefile"), "--eval", probe, "show-paths"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_makefile_exports_an_absolute_omniglot_dir(tmp_path):
    env = {**os.environ, "OMNIGLOT_DIR": "../shared/data/omniglot", "LECTURE_DATA_DIR": "data"}
    omniglot_dir, data_dir = paths_seen_by_make(tmp_path, env).split("|")
    assert omniglot_dir == str((tmp_path / ".." / "shared" / "data" / "omniglot").resolve())
    assert data_dir == str(tmp_path / "data")
    unset = {k: v for k, v in env.items() if k not in ("OMNIGLOT_DIR", "LECTURE_DATA_DIR")}
    assert paths_seen_by_make(tmp_path, unset) == "|"  # unset stays unset
