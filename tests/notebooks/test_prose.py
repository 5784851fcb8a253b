"""The notebooks' prose: numbers quoted in the text are the stored run's, notation is one, and
notebook 04 stays within its word budget (details go into collapsed ``<details>`` blocks)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from shared import NOTEBOOK_DIR

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
DETAILS = re.compile(r"<details>.*?</details>", re.DOTALL)
# "88.1% ± 0.7%", "+3.1 ± 2.1", "−0.0 ± 2.1 points": a value with its interval.
INTERVAL = re.compile(r"([−+-]?\d+\.\d+)%? ± (\d+\.\d+)")
# A percentage with a decimal ("61.9%") outside an interval.
PERCENT = re.compile(r"(?<![\d.±])([−+-]?\d+\.\d+)%")
MAIN_TEXT_WORDS = {"04_black_box_adaptation.ipynb": 3000}
# One spelling per symbol: the lecture's D^tr / D^ts.
OLD_NOTATION = (
    r"\mathcal{D}^{test}",
    r"\mathcal{D}^{\mathrm{tr}}",
    r"\mathcal{D}^{\mathrm{ts}}",
    "$D^{",
)


def main_text(cell_source: str) -> str:
    """A markdown cell without its collapsed ``<details>`` blocks."""
    return DETAILS.sub("", cell_source)


def outputs_text(nb: nbformat.NotebookNode) -> str:
    """All text the stored outputs show, with minus signs unified."""
    parts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts += [data.get(k, "") for k in ("text/plain", "text/markdown", "text/html")]
    return "".join(parts).replace("−", "-")


def unquoted_numbers(nb: nbformat.NotebookNode) -> list[str]:
    """Numbers the main text quotes (intervals, percentages) that no stored output prints."""
    shown = outputs_text(nb)
    missing: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text = main_text(cell.source).replace("−", "-")
        for value, half in INTERVAL.findall(text):
            value = value.lstrip("+")
            pattern = rf"(?<![\d.]){re.escape(value)}%? ± {re.escape(half)}(?!\d)"
            if not re.search(pattern, shown) and not re.search(
                rf"(?<![\d.])\+?{re.escape(value)}%? ± {re.escape(half)}(?!\d)", shown
            ):
                missing.append(f"{value} ± {half}")
        for value in PERCENT.findall(INTERVAL.sub("", text)):
            value = value.lstrip("+")
            if not re.search(rf"(?<![\d.]){re.escape(value.lstrip('-'))}(?![\d])", shown):
                missing.append(f"{value}%")
    return missing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_quoted_numbers_come_from_the_stored_run(path: Path) -> None:
    missing = unquoted_numbers(nbformat.read(path, as_version=4))
    assert not missing, (
        f"{path.name}: the text quotes numbers that no stored output prints: {missing}. "
        "Rerun the notebook (make outputs) and rewrite the sentence from the printed results."
    )


def test_the_number_check_can_fail() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("It reaches 88.1% ± 0.7%, and 61.9% alone, +3.1 ± 2.1."),
        nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
            "stream", name="stdout", text="attention 88.1% ± 0.7%\ndiff +3.1 ± 2.1\n")]),
    ]  # fmt: skip
    assert unquoted_numbers(nb) == ["61.9%"]
    nb.cells[0].source = "It reaches 88.1% ± 0.6%. <details>99.9%</details>"
    assert unquoted_numbers(nb) == ["88.1 ± 0.6"]


@pytest.mark.parametrize("name", sorted(MAIN_TEXT_WORDS))
def test_main_text_word_budget(name: str) -> None:
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    words = sum(len(main_text(c.source).split()) for c in nb.cells if c.cell_type == "markdown")
    assert words <= MAIN_TEXT_WORDS[name], (
        f"{name}: {words} words of markdown outside <details> blocks, budget "
        f"{MAIN_TEXT_WORDS[name]}: shorten, or move budgets and details into a <details> block."
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_notation(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    text = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
    used = [old for old in OLD_NOTATION if old in text]
    assert not used, f"{path.name} writes {used}: use the symbols of 00's table, D^tr and D^ts."


def test_start_here_has_the_symbol_table() -> None:
    nb = nbformat.read(NOTEBOOK_DIR / "00_start_here.ipynb", as_version=4)
    table = next(c.source for c in nb.cells if c.source.startswith("## 6. Symbols"))
    for symbol in (
        r"\mathcal{D}^{tr}_i",
        r"\mathcal{D}^{ts}_i",
        r"f_\theta",
        r"g_{\phi_i}(x)",
        "$N$",
    ):
        assert symbol in table, symbol
