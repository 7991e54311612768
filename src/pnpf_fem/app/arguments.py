"""Declaring sub-commands: one call per command, its --help text from the handler's docstring."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from pathlib import Path

__all__ = ["add_command", "add_report_options"]

Handler = Callable[[argparse.Namespace], int]


def add_command(
    subparsers: argparse._SubParsersAction, name: str, handler: Handler, summary: str
) -> argparse.ArgumentParser:
    """The sub-command `name`: `summary` in the command list, the handler's docstring as its
    description, `handler(args)` as what it runs."""
    parser = subparsers.add_parser(name, help=summary, description=inspect.getdoc(handler))
    parser.set_defaults(func=handler)
    return parser


def add_report_options(parser: argparse.ArgumentParser, quick: str, quiet: str) -> None:
    """--quick (what the quick variant is), --output DIR and --quiet (what it silences)."""
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--output", type=Path, default=None, help="output folder")
    parser.add_argument("--quiet", action="store_true", help=quiet)
