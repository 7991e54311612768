"""What every small-signal response offers once it has an admittance Y(ω) = δI/δV: the
impedance Z = 1/Y and a spectrum (`pnpf_fem.fem.impedance`, `pnpf_fem.fv.impedance`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from pnpf_fem.errors import SolverError

__all__ = ["Admittance"]


class Admittance:
    """Base of the frequency responses: subclasses define `admittance(omega)`."""

    def admittance(self, omega: float) -> complex:
        raise NotImplementedError

    def impedance(self, omega: float) -> complex:
        """Z(ω) = 1/Y(ω); SolverError where Y vanishes (a blocking cell at ω = 0)."""
        y = self.admittance(omega)
        if y == 0:
            raise SolverError(f"the admittance vanishes at ω = {omega:g} (no DC current path)")
        return 1.0 / y

    def spectrum(self, omegas: Sequence[float]) -> npt.NDArray[np.complex128]:
        """Z at every ω of `omegas`."""
        return np.array([self.impedance(w) for w in omegas], dtype=complex)
