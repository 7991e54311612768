"""Built-in geometries of the papers' test cases."""

from pnpf_fem.geometries.supercapacitor import CombElectrodes, supercapacitor_mesh

__all__ = ["CombElectrodes", "supercapacitor_mesh"]
