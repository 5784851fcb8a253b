"""tests/nbval_sanitize.cfg: timings, progress bars and widget ids are masked; numbers that matter
(md5s, accuracies, counts) are not. Parsed and applied exactly as nbval does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns
from shared import REPO_ROOT

CFG = REPO_ROOT / "tests" / "nbval_sanitize.cfg"
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
PATTERNS = get_sanitize_patterns(CFG.read_text(encoding="utf-8"))


def sanitize(text: str) -> str:
    """What nbval does to each output string (``IPyNbCell.sanitize``)."""
    for regex, replace in dict(PATTERNS).items():
        text = re.sub(regex, replace, text)
    return text


def test_every_section_is_read_by_nbval() -> None:
    text = CFG.read_text(encoding="utf-8")
    sections = re.findall(r"^\[(\w+)\]$", text, flags=re.MULTILINE)
    assert len(PATTERNS) == len(sections) == text.count("\nregex: ")
    for regex, _ in PATTERNS:
        re.compile(regex)
        assert regex == regex.strip(), f"stray whitespace around {regex!r}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[1/5] 00_start_here.ipynb ... ok (14.1 s)",
            "[1/5] 00_start_here.ipynb ... ok (DURATION)",
        ),
        ("notebook wall time so far: 3.2 min (FAST = False)", "notebook wall time so far: "),
        ("Whole notebook: 10.6 min", "Whole notebook: DURATION"),
        ("3.2 min", "DURATION"),
        ("loaded in 0.04 s: Omniglot", "loaded in DURATION: Omniglot"),
        ("took 12s", "took DURATION"),
        ("reached 88.0% after 75 s of meta-training", "reached 88.0% after DURATION of"),
        ("B=32 five-way one-shot tasks: 0.21 ms each", "tasks: DURATION each"),
        ("elapsed: 4 seconds", "elapsed: DURATION"),
        ("started 12:04:31", "started CLOCK"),
        ("1.5 it/s and 3.20s/it", "RATE and RATE"),
    ],
)
def test_timings_are_masked(text: str, expected: str) -> None:
    out = sanitize(text)
    assert expected in out, out
    assert not re.search(r"\d\s?(s|ms|min)\b", out), f"a time survived: {out!r}"


@pytest.mark.parametrize(
    "text",
    [
        "images_background_small1.zip     1.3 MB  md5 e704a628b5459e08445c13499850abc4",
        "md5 b75a71a51d3b13f821f212756fe481fd does not match",
        "0123456789abcdef0123456789abcdef",
        "test accuracy 88.7%s",
        "accuracy 0.93 s",
        "mean 88.7% ± 0.7% (1000 tasks), 5-way 1-shot: 5 support + 5 query",
        "1800 steps, 64 s of training",  # a fixed budget, not a measured time
        "|88%|90%|91%|",  # a table of accuracies, not a progress bar
        "29,640 params trained, 100 steps on A",
        "task 0, support labels: [1, 2, 3, 4, 0]",
    ],
)
def test_numbers_that_matter_are_kept(text: str) -> None:
    assert sanitize(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "one-shot runs:  45%|████▌     | 9/20 [00:01<00:01,  8.12it/s]",
        "images_background_small1.zip: 100%|██████████| 1.32M/1.32M [00:00<00:00, 5.10MB/s]",
        " 10%|#         | 10/100 [00:00<?, ?it/s]",
    ],
)
def test_tqdm_bars_are_masked(text: str) -> None:
    out = sanitize(text)
    assert "PROGRESS" in out and "%|" not in out and not re.search(r"\d+/\d+", out), out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"model_id": "0123456789abcdef0123456789abcdef"}', '{"model_id": "MODEL_ID"}'),
        ("model_id='0123456789abcdef0123456789abcdef'", "model_id='MODEL_ID'"),
        ('"IPY_MODEL_0123456789abcdef0123456789abcdef"', '"IPY_MODEL_MODEL_ID"'),
        ("<function f at 0x7f3a2c1b9d30>", "<function f at 0xADDRESS>"),
    ],
)
def test_widget_ids_and_addresses_are_masked(text: str, expected: str) -> None:
    assert sanitize(text) == expected


def checked_output_texts(path: Path) -> list[tuple[int, str]]:
    """(cell number, text) of every text output of the cells marked NBVAL_CHECK_OUTPUT."""
    texts = []
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or "NBVAL_CHECK_OUTPUT" not in "".join(cell["source"]):
            continue
        for out in cell.get("outputs", []):
            if "text" in out:
                texts.append((i, "".join(out["text"])))
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/"):
                    texts.append((i, value if isinstance(value, str) else "".join(value)))
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_checked_cells_keep_every_number(path: Path) -> None:
    """The stored outputs of checked cells match themselves after sanitising, and nothing in
    them is masked: every number they print is really compared. (A checked cell that prints a
    time should print it elsewhere, or the check is weaker than it looks.)"""
    for cell, text in checked_output_texts(path):
        once = sanitize(text)
        assert sanitize(once) == once, f"cell {cell}: sanitising is not stable"
        assert once == text, f"cell {cell}: sanitising changes a checked output:\n{once}"
