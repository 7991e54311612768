"""Observed convergence orders, shared by the accuracy studies and the FEM–FV comparison."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

__all__ = ["mesh_levels", "observed_order"]


def observed_order(
    coarse: Mapping[str, float], fine: Mapping[str, float], h_coarse: float, h_fine: float
) -> dict[str, float]:
    """log(e_coarse / e_fine) / log(h_coarse / h_fine) for every key of `fine`."""
    ratio = math.log(h_coarse / h_fine)
    return {k: math.log(coarse[k] / fine[k]) / ratio for k in fine}


def mesh_levels(levels: int) -> Iterator[int]:
    """The intervals per side n = 8, 16, 32, … (h = 1/n) of a refinement study."""
    return (8 * 2**k for k in range(levels))
