"""`pnpf-fem reproduce NAME`: the paper studies, one command each.

`accuracy` runs the manufactured-solution test (4.1)–(4.2) with any discretization. Every study
function returns a JSON-ready dict; `--json` prints it, otherwise a table is printed.

Contract of an accuracy study (FV in `pnpf_fem.fv.accuracy`, FEM in `pnpf_fem.fem.accuracy`):
`accuracy_study(method: str, levels: int, degree: int = 1) -> dict` with keys
`method`, `levels` (list of {"h", "dt", "num_vertices", "errors": {"c1","c2","psi","T"},
"orders": {...} or None}), and optional extra keys (e.g. "time_order" studies).
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from pnpf_fem.app.console import emit, emit_json
from pnpf_fem.errors import InputError

__all__ = ["ACCURACY_METHODS", "format_accuracy_table", "register"]

# method name → module providing accuracy_study(method, levels, degree)
ACCURACY_METHODS = {
    "fv1": "pnpf_fem.fv.accuracy",
    "fv2": "pnpf_fem.fv.accuracy",
    "fv-bdf2": "pnpf_fem.fv.accuracy",
    "fem1": "pnpf_fem.fem.accuracy",
    "fem2": "pnpf_fem.fem.accuracy",
    "fem-be": "pnpf_fem.fem.accuracy",
    "fem-bdf2": "pnpf_fem.fem.accuracy",
}

VARIABLES = ("c1", "c2", "psi", "T")


def format_accuracy_table(result: dict[str, Any]) -> str:
    """A plain-text table: one row per level with the four L2 errors and observed orders."""
    head = f"{'h':>10} {'dt':>10} {'N':>7}" + "".join(
        f" {'err ' + v:>11} {'ord':>5}" for v in VARIABLES
    )
    lines = [f"accuracy study: method {result['method']}", head]
    for lev in result["levels"]:
        row = f"{lev['h']:10.4g} {lev['dt']:10.4g} {lev.get('num_vertices', 0):7d}"
        orders = lev.get("orders") or {}
        for v in VARIABLES:
            o = orders.get(v)
            row += f" {lev['errors'][v]:11.4e} " + (f"{o:5.2f}" if o is not None else "    -")
        lines.append(row)
    return "\n".join(lines)


def _accuracy(args: argparse.Namespace) -> int:
    if args.method not in ACCURACY_METHODS:
        raise InputError(
            f"unknown --method {args.method!r} (choose from {', '.join(ACCURACY_METHODS)})"
        )
    if args.levels < 2:
        raise InputError(f"--levels must be at least 2 to observe an order, got {args.levels}")
    if args.degree not in (1, 2):
        raise InputError(f"--degree must be 1 or 2, got {args.degree}")
    module = importlib.import_module(ACCURACY_METHODS[args.method])
    result = module.accuracy_study(method=args.method, levels=args.levels, degree=args.degree)
    if args.json:
        emit_json(result)
    else:
        emit(format_accuracy_table(result))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    rep = subparsers.add_parser("reproduce", help="reproduce a study of the papers")
    studies = rep.add_subparsers(dest="study", metavar="NAME")
    studies.required = True
    acc = studies.add_parser(
        "accuracy", help="manufactured solution (4.1)-(4.2): L2 errors and observed orders"
    )
    acc.add_argument(
        "--method", required=True, help="fv1 | fv2 | fv-bdf2 | fem1 | fem2 | fem-be | fem-bdf2"
    )
    acc.add_argument("--levels", type=int, default=4, help="number of meshes (h = 1/8, 1/16, ...)")
    acc.add_argument("--degree", type=int, default=1, help="FEM polynomial degree (1 or 2)")
    acc.add_argument("--json", action="store_true", help="print JSON instead of a table")
    acc.set_defaults(func=_accuracy)
    from pnpf_fem.studies import (
        homogenization,
        porous_heating,
        porous_impedance,
        supercapacitor_report,
    )

    supercapacitor_report.register(studies)
    homogenization.register(studies)
    porous_impedance.register(studies)
    porous_heating.register(studies)
