"""Reading the TOML files a user gives (case files, cell configs) with one-line errors.

Every way a file can be wrong before its keys are looked at — missing, a directory, unreadable,
binary or not UTF-8, empty, not TOML, or a TOML file of the other kind — becomes an `InputError`
naming the file, so the command exits with code 2 before anything is written.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pnpf_fem.errors import InputError

__all__ = ["KINDS", "read_text_file", "read_toml"]

# Top-level names that identify each kind of TOML file the commands read.
KINDS: dict[str, frozenset[str]] = {
    "case file": frozenset({"mesh", "species", "parameters", "boundary", "time", "porous"}),
    "cell config": frozenset(
        {
            "cell",
            "shape",
            "porosity",
            "porosities",
            "sweep",
            "electrolyte_permittivity",
            "electrolyte-permittivity",
            "solid_permittivity",
            "solid-permittivity",
        }
    ),
}
_COMMAND = {"case file": "pnpf-fem run CASE.toml", "cell config": "pnpf-fem cell --config"}


def read_text_file(path: str | Path, what: str) -> str:
    """The UTF-8 text of a file the user named; `what` ("case file", …) starts each message."""
    p = Path(path)
    name = repr(str(path))
    if not p.exists():
        raise InputError(f"{what} {name} does not exist")
    if p.is_dir():
        raise InputError(f"{what} {name} is a directory, not a file")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise InputError(f"{what} {name} cannot be read ({err.strerror or err})") from None
    if not data.strip():
        raise InputError(f"{what} {name} is empty")
    if b"\x00" in data:
        raise InputError(f"{what} {name} is a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{what} {name} is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})"
        ) from None


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """Parse a TOML file of kind `what` (a key of `KINDS`); refuse a file of another kind."""
    text = read_text_file(path, what)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{what} {str(path)!r} is not valid TOML: {err}") from None
    names = set(data)
    for other, markers in KINDS.items():
        if other != what and names & markers and not names & KINDS[what]:
            raise InputError(f"{str(path)!r} is a {other} (for `{_COMMAND[other]}`), not a {what}")
    return data
