"""The paper reproductions behind `pnpf-fem reproduce NAME`.

Modules: `supercapacitor` (charging and cyclic voltammetry of the PNPF paper's §4.3 with FEM and
FV side by side: configurations, runs, analysis), `supercapacitor_report` (the command: figures,
CSV, VTX, summary), `homogenization` (pore-resolved PNP against the upscaled models: the s-study
and the regime probes). Every run is driven by `pnpf_fem.integrate.integrate`.
"""

__all__: list[str] = []
