"""Write the student versions of the notebooks: solutions replaced by stubs (``make student``).

    python scripts/make_student.py                    # every notebooks/*.ipynb -> student/
    python scripts/make_student.py --out /tmp/s notebooks/03_episodes.ipynb

In an instructor notebook an exercise is a code cell tagged ``exercise`` whose solution sits
between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers); the cell after
it, tagged ``exercise-check``, calls a check from ``lecture_utils.exercises``. The student
version replaces each solution block by a stub that keeps the block's ``# HINT:`` lines and
raises ``NotImplementedError``, and clears the outputs of the exercise and check cells; every
other cell keeps its stored outputs. Notebooks without exercises are copied unchanged.

Built from nbconvert preprocessors (no nbgrader: its preprocessors import its gradebook
database, and installing it adds server and JupyterLab extensions to every lab session).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Unicode

from lecture_utils.core.store import atomic_write

REPO = Path(__file__).resolve().parent.parent
EXERCISE, CHECK = "exercise", "exercise-check"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HINT = re.compile(r"^\s*# HINT:")


class ClearSolutions(Preprocessor):
    """Replace every ``### BEGIN/END SOLUTION`` block by a hint-keeping stub."""

    default_hint = Unicode(
        "# HINT: read the exercise text above; the check cell below tells you what differs."
    ).tag(config=True)
    stub_error = Unicode(
        'raise NotImplementedError("your turn: replace this line with your code")'
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if BEGIN not in cell.source and END not in cell.source:
            return cell, resources
        if cell.cell_type != "code" or EXERCISE not in cell.metadata.get("tags", []):
            raise ValueError(f"cell {index + 1} has solution markers but no '{EXERCISE}' tag")
        cell.source = self.stub_out(cell.source, index)
        return cell, resources

    def stub_out(self, source: str, index: int = 0) -> str:
        """``source`` with each solution block replaced by the stub."""
        out: list[str] = []
        block: list[str] | None = None
        indent = ""
        for line in source.splitlines():
            if line.strip() == BEGIN:
                if block is not None:
                    raise ValueError(f"cell {index + 1}: nested '{BEGIN}'")
                block, indent = [], line[: len(line) - len(line.lstrip())]
            elif line.strip() == END:
                if block is None:
                    raise ValueError(f"cell {index + 1}: '{END}' without '{BEGIN}'")
                hints = [ln.strip() for ln in block if HINT.match(ln)] or [self.default_hint]
                out += [indent + "# YOUR CODE HERE"] + [indent + h for h in hints]
                out.append(indent + self.stub_error)
                block = None
            elif block is not None:
                block.append(line)
            else:
                out.append(line)
        if block is not None:
            raise ValueError(f"cell {index + 1}: '{BEGIN}' without '{END}'")
        return "\n".join(out)


class ClearExerciseOutputs(Preprocessor):
    """Clear outputs and execution counts of the exercise and check cells only."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and {EXERCISE, CHECK} & set(cell.metadata.get("tags", [])):
            cell.outputs, cell.execution_count = [], None
        return cell, resources


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A stripped copy of an instructor notebook (the argument is not modified)."""
    copy = nbformat.reads(nbformat.writes(nb), as_version=4)
    resources: dict = {}
    for pre in (ClearSolutions(), ClearExerciseOutputs()):
        copy, resources = pre.preprocess(copy, resources)
    return copy


def exercise_count(nb: nbformat.NotebookNode) -> int:
    return sum(EXERCISE in c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "student")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        student = student_version(nb)
        atomic_write(args.out / path.name, lambda tmp, nb=student: nbformat.write(nb, tmp))
        n = exercise_count(nb)
        print(f"{path.name}: {n} exercise(s) stubbed -> {args.out / path.name}")
        # RISE loads <notebook>.css and rise.css from the notebook's folder (slide styles).
        for css in (path.with_suffix(".css"), path.parent / "rise.css"):
            if css.is_file():
                shutil.copyfile(css, args.out / css.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
