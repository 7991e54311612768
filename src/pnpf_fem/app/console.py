"""What the commands print: every report, table and JSON from rank 0 only, errors as one line.

Under ``mpirun`` every rank runs the same command and reaches the same print; printing only on
rank 0 keeps the output parseable (one JSON object, not one per rank).
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

__all__ = ["emit", "emit_error", "emit_json", "is_root"]


def is_root() -> bool:
    """True on rank 0 of COMM_WORLD (and without MPI)."""
    try:
        from mpi4py import MPI
    except ImportError:  # the host side of `pnpf-fem info` may lack mpi4py
        return True
    return MPI.COMM_WORLD.rank == 0


def emit(text: str, stream: TextIO | None = None) -> None:
    """Print `text` (a report or table) once, from rank 0, and flush."""
    if is_root():
        out = stream or sys.stdout
        print(text, file=out)
        out.flush()


def emit_json(obj: Any, indent: int | None = 2) -> None:
    """Print one JSON document from rank 0 (NumPy scalars and paths become numbers and text)."""
    emit(json.dumps(obj, indent=indent, default=_plain))


def emit_error(message: str) -> None:
    """A one-line error on stderr from rank 0 (every rank fails the same way)."""
    emit(" ".join(message.split("\n")), stream=sys.stderr)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # NumPy arrays and scalars
        return value.tolist()
    if isinstance(value, complex):
        return [value.real, value.imag]
    return str(value)
