"""The `pnpf-fem` command line: one entry point, sub-commands registered by their own modules.

Exit codes: 0 ok, 1 solve failure (`SolverError`), 2 bad input (`InputError`, usage errors).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import IO, NoReturn

from pnpf_fem.app.console import emit_error, is_root
from pnpf_fem.errors import InputError, SolverError

__all__ = ["build_parser", "main"]

# Modules that each expose `register(subparsers)`; a module that cannot be imported in the
# current environment (e.g. no DOLFINx) is skipped, and `info` reports why.
_COMMAND_MODULES = (
    "pnpf_fem.app.info",
    "pnpf_fem.app.reproduce",
    "pnpf_fem.app.compare",
    "pnpf_fem.app.cell",
    "pnpf_fem.app.run",
    "pnpf_fem.app.impedance",
)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (an `InputError`) and help printed by rank 0 only."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (see {self.prog} --help)")

    def _print_message(self, message: str, file: IO[str] | None = None) -> None:
        if message and is_root():
            super()._print_message(message, file)


def build_parser() -> argparse.ArgumentParser:
    from pnpf_fem import __version__

    parser = _Parser(
        prog="pnpf-fem",
        description="Poisson–Nernst–Planck–Fourier ion transport with heat generation "
        "(FEM with DOLFINx 0.9, homogenization, finite volumes).",
    )
    parser.add_argument("--version", action="version", version=f"pnpf-fem {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as err:  # e.g. no DOLFINx: the other commands still work
            print(f"pnpf-fem: command module {name} unavailable ({err})", file=sys.stderr)
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except InputError as err:
        emit_error(f"pnpf-fem: error: {err}")
        return 2
    except SolverError as err:
        emit_error(f"pnpf-fem: solve failed: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
