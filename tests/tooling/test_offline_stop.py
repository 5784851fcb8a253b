"""Offline without the data: one clear stop, and the stop's advice (-m 'not real_data') works."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from shared import REPO_ROOT

PROBE = """
import pytest

def test_unit():
    assert 1 + 1 == 2

@pytest.mark.real_data
def test_needs_omniglot():
    pass
"""


def run_offline(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """pytest on a probe file under the repository (so its root conftest applies), offline."""
    build = REPO_ROOT / "build"
    build.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build) as folder:
        test_file = Path(folder) / "test_probe.py"
        test_file.write_text(PROBE)
        env = {**os.environ, "OMNIGLOT_DIR": "", "LECTURE_DATA_DIR": str(tmp_path / "empty")}
        return subprocess.run(
            [sys.executable, "-m", "pytest", str(test_file), "-q", "-p", "no:cacheprovider", *args],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip


def test_missing_data_stops_once_with_the_data_message(tmp_path) -> None:
    result = run_offline(tmp_path)
    assert result.returncode == 3, result.stdout[-1500:]
    assert "Omniglot is not available" in result.stdout + result.stderr
    assert "-m 'not real_data'" in result.stdout + result.stderr


def test_following_the_advice_runs_the_unit_tests(tmp_path) -> None:
    result = run_offline(tmp_path, "-m", "not real_data")
    assert result.returncode == 0, result.stdout[-1500:]
    assert "1 passed, 1 deselected" in result.stdout
