"""Every ``# HINT:`` of an exercise runs as written: the code it shows uses only names the
student's stub has.

A student sees the exercise cell with its solution replaced by a stub (``make student``): the
function's signature, whatever the function defines outside the solution block, and the hint
lines. The code in a hint (text in backticks, and every call or subscript like
``torch.arange(N)`` or ``logits[:, n_support:]``) may use only the function's parameters, names
the stub or the hint itself defines (e.g. a hint showing ``B, Q, N = query_order.shape``),
modules the notebook imports and builtins. Fragments that do not parse as Python (maths such as
``log(2π)``) are prose and are not checked.
"""

from __future__ import annotations

import ast
import builtins
import re
import sys

import nbformat
import pytest
from shared import NOTEBOOK_DIR, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import make_student as ms  # noqa: E402

ROOT_CALL = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?=[(\[])")
BACKTICKS = re.compile(r"`([^`]+)`")
CLOSING = {"(": ")", "[": "]", "{": "}"}


def python_source(source: str) -> str:
    """A cell's source without IPython magics and shell lines (so ``ast`` can read it)."""
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())


def imported_names(sources: list[str]) -> set[str]:
    """The names the notebook's imports bind (``torch``, ``F``, ``st``, ...)."""
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(python_source(source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def bracketed(text: str, start: int) -> int:
    """The index after the bracket group opening at ``text[start]`` (or -1 if unbalanced)."""
    depth: list[str] = []
    for i in range(start, len(text)):
        if text[i] in CLOSING:
            depth.append(CLOSING[text[i]])
        elif depth and text[i] == depth[-1]:
            depth.pop()
            if not depth:
                return i + 1
        elif text[i] in ")]}":
            return -1
    return -1


def code_fragments(hint: str) -> list[str]:
    """The code a hint line shows: backticked text, then each call or subscript chain outside
    the backticks (``torch.arange(N).expand(B, k_shot, N)`` is one fragment)."""
    fragments = BACKTICKS.findall(hint)
    prose = BACKTICKS.sub(" ", hint)
    for match in ROOT_CALL.finditer(prose):
        end = match.end()
        while end < len(prose) and prose[end] in "([":
            stop = bracketed(prose, end)
            if stop < 0:
                break
            end = stop
            chained = re.match(r"\.[A-Za-z_]\w*(?=[(\[])", prose[end:])
            if chained:
                end += chained.end()
        fragments.append(prose[match.start() : end])
    return fragments


def names_in(fragment: str) -> tuple[set[str], set[str]] | None:
    """(names the fragment uses, names it binds), or None when it is not Python."""
    for text in (fragment.strip(), fragment.strip().rstrip(".,;")):
        try:
            tree = ast.parse(text)
            break
        except SyntaxError:
            continue
    else:
        return None
    used, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else used).add(node.id)
    return used, bound


def stub_function(cell_source: str) -> ast.FunctionDef:
    """The function of the student's stub of an exercise cell."""
    tree = ast.parse(python_source(ms.ClearSolutions().stub_out(cell_source)))
    return next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))


def undefined_in_hints(cell_source: str, known: set[str]) -> list[tuple[str, list[str]]]:
    """Each hint line of the exercise cell with the names it uses that the stub lacks."""
    function = stub_function(cell_source)
    args = function.args
    defined = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    defined |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    defined |= {n.id for n in ast.walk(function) if isinstance(n, ast.Name)
                and isinstance(n.ctx, ast.Store)}  # fmt: skip
    defined |= known | set(dir(builtins)) | imported_names([cell_source])
    hints = [ln.split("# HINT:", 1)[1] for ln in cell_source.splitlines() if ms.HINT.match(ln)]
    parsed = [(h, [names_in(f) for f in code_fragments(h)]) for h in hints]
    for _, found in parsed:  # names a hint binds (`B, Q, N = ...`, `for i, layer in ...`)
        defined |= {name for pair in found if pair for name in pair[1]}
    problems = []
    for hint, found in parsed:
        missing = sorted({name for pair in found if pair for name in pair[0]} - defined)
        if missing:
            problems.append((hint.strip(), missing))
    return problems


def exercises() -> list[tuple[str, str, str, set[str]]]:
    """(notebook, function, cell source, the notebook's imported names) of every exercise."""
    found = []
    for path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        known = imported_names([c.source for c in cells if c.cell_type == "code"])
        for cell in cells:
            if cell.cell_type == "code" and ms.EXERCISE in cell.metadata.get("tags", []):
                found.append((path.name, stub_function(cell.source).name, cell.source, known))
    return found


EXERCISES = exercises()


def test_every_exercise_is_found() -> None:
    assert len(EXERCISES) >= 14, [(nb, fn) for nb, fn, _, _ in EXERCISES]


@pytest.mark.parametrize(
    ("notebook", "function", "source", "known"),
    EXERCISES,
    ids=[f"{nb[:2]}-{fn}" for nb, fn, _, _ in EXERCISES],
)
def test_every_hint_uses_only_names_the_stub_has(notebook, function, source, known) -> None:
    problems = undefined_in_hints(source, known)
    assert not problems, "\n".join(
        f"{notebook} {function}(): the hint '{hint}' uses {missing}, which the student's stub "
        "does not define; use the parameters or show the names' definition in the hint."
        for hint, missing in problems
    )


CELL = '''
import torch

def mann_inputs(support_features, support_y, query_features, label_size):
    """Doc."""
    ### BEGIN SOLUTION
    # HINT: torch.nn.functional.one_hot(support_y, label_size).float() for the support rows;
    # HINT: {hint}
    B, T = query_features.shape[:2]
    return torch.cat([support_features, query_features.new_zeros(B, T, label_size)], 1)
    ### END SOLUTION
'''


@pytest.mark.parametrize(
    ("hint", "missing"),
    [
        ("query_features.new_zeros(B, T, label_size) for the query rows", ["B", "T"]),
        ("torch.arange(N).expand(B, k_shot, N), then torch.cat", ["B", "N", "k_shot"]),
        ("slice logits[:, n_support:] and average", ["logits", "n_support"]),
        ("`zeros.sum()` is 0", ["zeros"]),
        ("with `B, T = query_features.shape[:2]`, query_features.new_zeros(B, T, label_size)", []),
        ("query_features.new_zeros(*query_features.shape[:2], label_size)", []),
        ("-log N(y; μ, σ²) = log σ + log(2π) / 2, then .mean().", []),
        ("`for i, x in enumerate(support_y): ...` gives x.item() for label i", []),
    ],
)
def test_the_hint_reader_finds_undefined_names(hint: str, missing: list[str]) -> None:
    """The reader can fail: names only the solution defines are reported, names the signature,
    the imports or the hint itself define are not, and maths is left alone."""
    problems = undefined_in_hints(CELL.format(hint=hint), set())
    assert (problems[0][1] if problems else []) == missing
