"""The per-step record of a FEM scheme: the derived quantities of `pnpf_fem.fem.quantities`.

Keys: ``t``, ``dt``, then the quantities' names (``mass_<species>``, ``S``, ``S1``, ``S2``,
``min_c``, ``min_T``, ``max_dT``, ``charge_<tag>``, ``current_<tag>``, ``joule``), then
``newton_iterations`` and ``wall_time`` — the names the FV module uses too.
"""

from __future__ import annotations

from collections.abc import Sequence

from pnpf_fem.fem.quantities import ElectrodeCharges, Quantity

__all__ = ["Observables"]


class Observables:
    """The quantities a scheme reports after every step, evaluated in order."""

    def __init__(self, quantities: Sequence[Quantity]) -> None:
        self.quantities = tuple(quantities)
        self._electrodes = next(
            (q for q in self.quantities if isinstance(q, ElectrodeCharges)), None
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for q in self.quantities for n in q.names)

    def charges(self) -> dict[str, float]:
        """Electrode charges Q_Γ of the Dirichlet tags at the current state."""
        return self._electrodes.charges() if self._electrodes is not None else {}

    def restart(self) -> None:
        """The state was replaced (a checkpoint): currents continue from its charges."""
        if self._electrodes is not None:
            self._electrodes.restart()

    def evaluate(self, t: float, dt: float, newton_iterations: int, wall_time: float) -> dict:
        """The record of the current state; `dt` = 0 at the initial state."""
        out: dict[str, float] = {"t": float(t), "dt": float(dt)}
        for q in self.quantities:
            out.update(q.compute(dt))
        out["newton_iterations"] = int(newton_iterations)
        out["wall_time"] = float(wall_time)
        return out
