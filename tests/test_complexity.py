"""The package stays one a maintainer can hold: no function above cyclomatic complexity 12,
as radon counts it (branches, loops, boolean operators, comprehensions)."""

from __future__ import annotations

from pathlib import Path

import pytest
from radon.complexity import cc_visit

PACKAGE = Path(__file__).resolve().parent.parent / "update_job"
MOST = 12


@pytest.mark.parametrize("module", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.name)
def test_no_function_is_above_the_complexity_a_maintainer_can_hold(module: Path) -> None:
    blocks = cc_visit(module.read_text(encoding="utf-8"))
    too_complex = {
        block.fullname: block.complexity
        for block in blocks
        if block.complexity > MOST and not hasattr(block, "methods")  # a class is its methods
    }
    assert too_complex == {}


def test_the_measure_sees_a_complex_function() -> None:
    branches = "".join(f"    if x == {n}:\n        return {n}\n" for n in range(MOST + 1))
    (block,) = cc_visit(f"def f(x):\n{branches}    return -1\n")
    assert block.complexity == MOST + 2
