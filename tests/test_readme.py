"""The Python examples of the README run as they are written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from mpi4py import MPI

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_python_examples() -> None:
    assert BLOCKS


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="the FV code is serial")
@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block(block: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, str(README), "exec"), {})
    lines = out.getvalue().strip().splitlines()
    assert lines, "the example printed nothing"
    # the charging example: FEM and FV on one mesh agree on the electrode charge (0.1 %)
    if "charge_right" in block:
        fem, fv = (float(line.split()[1]) for line in lines)
        assert fem == pytest.approx(fv, rel=1e-3) and fem > 0
