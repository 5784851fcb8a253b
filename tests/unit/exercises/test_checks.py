"""The checks module the notebooks import, and the helpers every check shares."""

from __future__ import annotations

import ast
import re

import pytest
import torch
from shared import REPO_ROOT

from lecture_utils.exercises import checks, common

EXERCISES = REPO_ROOT / "lecture_utils" / "exercises"


def stub(*args):
    raise NotImplementedError("your turn")


def test_the_notebooks_check_names_are_all_there() -> None:
    called = set()
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        called |= set(re.findall(r"checks\.(check_\w+)\(", path.read_text()))
    assert called, "no notebook calls checks.check_*"
    assert called <= set(dir(checks)), called - set(dir(checks))
    assert len(checks.CHECKS) == 12


@pytest.mark.parametrize("name", sorted(checks.CHECKS))
def test_every_check_fails_on_the_stub(name: str) -> None:
    with pytest.raises(AssertionError, match="not implemented yet: replace the stub"):
        checks.CHECKS[name](stub)


def test_no_reference_solution_ships_with_the_package() -> None:
    """No module of the package defines a ``reference_*`` (or ``solution_*``) function."""
    for path in sorted(EXERCISES.glob("*.py")):
        defined = [
            node.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        assert not [n for n in defined if n.startswith(("reference", "solution"))], path.name


def test_any_exception_names_the_input_and_keeps_its_cause() -> None:
    def broken(x, y):
        return x[y]

    with pytest.raises(
        AssertionError, match=r"broken\(x=\[1, 2\], y=5\) raised IndexError: .*fix"
    ) as e:
        common.call(broken, [1, 2], 5, params=("x", "y"), hint="fix the index")
    assert isinstance(e.value.__cause__, IndexError)


def test_a_students_own_assertion_passes_through_unchanged() -> None:
    def asserts(x):
        raise AssertionError("mine")

    with pytest.raises(AssertionError, match="^mine$"):
        common.call(asserts, 1)


def test_describe_keeps_messages_short() -> None:
    assert common.describe(torch.zeros(4, 5)) == "tensor[4, 5]"
    assert common.describe(torch.tensor([1, 2])) == "[1, 2]"
    assert common.describe(torch.Generator()) == "generator"
    assert common.describe(list(range(9))) == "list of 9"


def test_scalar_refuses_floats_and_vectors() -> None:
    with pytest.raises(AssertionError, match="returned float"):
        common.scalar(1.0, "f")
    with pytest.raises(AssertionError, match=r"shape \[3\]"):
        common.scalar(torch.zeros(3), "f")
    assert common.scalar(torch.tensor([2.0]), "f").item() == 2.0


def test_a_result_the_check_cannot_read_still_gives_an_assertion() -> None:
    def count_as_list(batch_size, n_way, k_shot, n_query):
        return [batch_size * n_way * (k_shot + n_query)]

    with pytest.raises(AssertionError, match="count_as_list: its result could not be checked"):
        checks.check_images_per_meta_batch(count_as_list)

    def groups_without_rates(layers, top_lr, factor):
        return [{"params": list(layer.parameters()), "lr": None} for layer in layers]

    with pytest.raises(AssertionError, match="could not be checked .*TypeError") as caught:
        checks.check_param_groups(groups_without_rates)
    assert isinstance(caught.value.__cause__, TypeError)
