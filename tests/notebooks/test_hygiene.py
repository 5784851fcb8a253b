"""Stored notebooks: python3 kernel, one clean top-to-bottom run, no machine-specific paths.

Regenerate outputs with ``make outputs`` (never edit them by hand); these checks only read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from shared import EXPECTED_NOTEBOOKS, NOTEBOOK_DIR, REPO_ROOT

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# EXPECTED_NOTEBOOKS (conftest.py): the agreed notebooks, in order; when a notebook joins the
# collection, add its name there in the same change.
ABSOLUTE_PATH = re.compile(
    r"(/root/|/home/|/Users/|/tmp/|/work/|/private/var/|[A-Za-z]:\\\\Users\\\\|"
    + re.escape(str(REPO_ROOT))
    + ")"
)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb: dict) -> list[dict]:
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


def source(cell: dict) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else text


def output_texts(output: dict) -> list[str]:
    """Every piece of text an output would show: stream text, text/* data, tracebacks."""
    texts = []
    if "text" in output:
        texts.append(source({"source": output["text"]}))
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            texts.append(value if isinstance(value, str) else json.dumps(value))
            if isinstance(value, list):
                texts.append("".join(value))
    texts.extend(output.get("traceback", []))
    return texts


def execution_count_problems(nb: dict) -> list[str]:
    counts = [cell.get("execution_count") for cell in code_cells(nb)]
    expected = list(range(1, len(counts) + 1))
    if counts == expected:
        return []
    return [f"execution counts are {counts}, expected {expected}: re-run with `make outputs`"]


def error_output_problems(nb: dict) -> list[str]:
    return [
        f"code cell {i + 1} has an error output: {out.get('ename')}: {out.get('evalue')}"
        for i, cell in enumerate(code_cells(nb))
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def absolute_path_problems(nb: dict) -> list[str]:
    problems = []
    for i, cell in enumerate(code_cells(nb)):
        for out in cell.get("outputs", []):
            for text in output_texts(out):
                match = ABSOLUTE_PATH.search(text)
                if match:
                    line = next(ln for ln in text.splitlines() if match.group(0) in ln)
                    problems.append(f"code cell {i + 1} shows an absolute path: {line.strip()}")
                    break
    # Stored widget state (e.g. an Output widget's captured text) is shown by renderers too.
    match = ABSOLUTE_PATH.search(json.dumps(nb.get("metadata", {}).get("widgets", {})))
    if match:
        problems.append(f"stored widget state contains an absolute path: {match.group(0)}...")
    return problems


def first_cell_problems(nb: dict) -> list[str]:
    cells = code_cells(nb)
    if not cells:
        return ["no code cells"]
    first = source(cells[0])
    problems = []
    if "seed_everything(" not in first:
        problems.append("the first code cell must call runtime.seed_everything(seed)")
    if "fast_mode(" not in first and "budget(" not in first:
        problems.append("the first code cell must read the fast-mode switch (runtime.fast_mode())")
    return problems


def kernel_problems(nb: dict) -> list[str]:
    name = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    return [] if name == "python3" else [f"kernelspec name is {name!r}, expected 'python3'"]


CHECKS = {
    "kernelspec": kernel_problems,
    "execution_counts": execution_count_problems,
    "no_errors": error_output_problems,
    "no_absolute_paths": absolute_path_problems,
    "first_cell": first_cell_problems,
}


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook(path: Path, check: str) -> None:
    problems = CHECKS[check](load(path))
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def test_notebook_names_are_the_agreed_ones() -> None:
    present = {p.name for p in NOTEBOOKS}
    missing = [name for name in EXPECTED_NOTEBOOKS if name not in present]
    assert not missing, f"agreed notebooks missing from notebooks/: {missing}"
    unexpected = sorted(present - set(EXPECTED_NOTEBOOKS))
    assert not unexpected, (
        f"unexpected notebook names (add them to EXPECTED_NOTEBOOKS?): {unexpected}"
    )


# ---- the checks themselves must be able to fail -------------------------------------------


def fake_notebook(counts: list[int | None], outputs: list[dict] | None = None) -> dict:
    cells = [
        {"cell_type": "code", "execution_count": n, "source": "x = 1", "outputs": []}
        for n in counts
    ]
    if outputs and cells:
        cells[-1]["outputs"] = outputs
    cells.insert(0, {"cell_type": "markdown", "source": "# title"})
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3"}}}


def test_checks_accept_a_clean_run() -> None:
    nb = fake_notebook([1, 2, 3])
    nb["cells"][1]["source"] = "runtime.seed_everything(0)\nFAST = runtime.fast_mode()"
    assert all(not check(nb) for check in CHECKS.values())


@pytest.mark.parametrize("counts", [[1, 3], [2, 3], [1, None], [None, None], [1, 2, 2]])
def test_execution_counts_must_be_one_run(counts: list[int | None]) -> None:
    assert execution_count_problems(fake_notebook(counts))


def test_error_outputs_are_reported() -> None:
    error = {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}
    assert error_output_problems(fake_notebook([1], [error])) == [
        "code cell 1 has an error output: ValueError: bad"
    ]


@pytest.mark.parametrize(
    "output",
    [
        {"output_type": "stream", "name": "stdout", "text": ["loaded /home/ana/data.zip\n"]},
        {"output_type": "stream", "name": "stderr", "text": f"warning in {REPO_ROOT}/x.py"},
        {"output_type": "execute_result", "data": {"text/plain": "PosixPath('/tmp/abc')"}},
        {"output_type": "display_data", "data": {"text/html": ["<b>/Users/bo/x</b>"]}},
    ],
)
def test_absolute_paths_are_reported(output: dict) -> None:
    assert absolute_path_problems(fake_notebook([1], [output]))


def test_absolute_paths_in_widget_state_are_reported() -> None:
    nb = fake_notebook([1])
    nb["metadata"]["widgets"] = {"state": {"abc": {"outputs": [{"text": "/home/ana/x.zip"}]}}}
    assert absolute_path_problems(nb)


def test_relative_paths_are_fine() -> None:
    output = {"output_type": "stream", "name": "stdout", "text": "data/images_background.zip\n"}
    assert not absolute_path_problems(fake_notebook([1], [output]))


def test_first_cell_and_kernel_checks_can_fail() -> None:
    nb = fake_notebook([1])
    assert len(first_cell_problems(nb)) == 2
    nb["metadata"]["kernelspec"]["name"] = "conda-env-foo"
    assert kernel_problems(nb)
