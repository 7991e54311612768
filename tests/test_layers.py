"""The physics packages never import the product layer (`pnpf_fem.app`).

The product layer (command line, case files, output, progress, plots) depends on the physics;
the reverse would tie every solver to the command line. Checked on the source text, imports
inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "pnpf_fem"
PRODUCT = ("app", "studies")  # the studies are reports built on the physics


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_physics_does_not_import_the_product_layer() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in PRODUCT or rel.name == "__main__.py":
            continue
        bad = sorted(
            n for n in _imports(path) if n.startswith(("pnpf_fem.app", "pnpf_fem.studies"))
        )
        offenders += [f"{rel}: {n}" for n in bad]
    assert not offenders, "physics imports the product layer:\n" + "\n".join(offenders)


def test_the_check_sees_imports() -> None:
    assert "pnpf_fem.app.console" in _imports(PACKAGE / "app" / "cli.py")


def test_physics_imports_at_module_top() -> None:
    """Imports inside functions (lazy imports) belong to the product layer only."""
    lazy = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in PRODUCT:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lazy += [
                    f"{rel}:{sub.lineno} in {node.name}"
                    for sub in ast.walk(node)
                    if isinstance(sub, (ast.Import, ast.ImportFrom))
                ]
    assert not lazy, "imports inside functions of the physics packages:\n" + "\n".join(lazy)
