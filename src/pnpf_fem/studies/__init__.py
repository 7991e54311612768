"""Studies of the PNPF paper's Section 4 that run FEM and FV side by side."""

from pnpf_fem.adaptive import (
    AdaptiveControl,
    AdaptiveResult,
    FEMStepper,
    FVStepper,
    adaptive_run,
)

__all__ = ["AdaptiveControl", "AdaptiveResult", "FEMStepper", "FVStepper", "adaptive_run"]
