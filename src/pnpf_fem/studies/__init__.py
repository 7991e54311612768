"""The paper reproductions behind `pnpf-fem reproduce NAME`.

Modules: `supercapacitor` (charging and cyclic voltammetry of the PNPF paper's §4.3 with FEM and
FV side by side: configurations, runs, analysis), `supercapacitor_report` (the command: figures,
CSV, VTX, summary), `homogenization` (pore-resolved PNP against the upscaled models: the s-study
and the regime probes). The adaptive stepper they share lives in `pnpf_fem.adaptive` and is
re-exported here for existing imports.
"""

from pnpf_fem.adaptive import (
    AdaptiveControl,
    AdaptiveResult,
    FEMStepper,
    FVStepper,
    adaptive_run,
)

__all__ = ["AdaptiveControl", "AdaptiveResult", "FEMStepper", "FVStepper", "adaptive_run"]
