"""The product layer: what a user touches — console output, case and config files.

The physics packages (`fem`, `fv`, `homogenization`, `porous`) never import from here.
"""

__all__: list[str] = []
