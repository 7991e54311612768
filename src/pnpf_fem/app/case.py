"""Case files (TOML): schema, validation with one-line messages, and the typed `Case` they give.

A case names everything a run needs — mesh, species, SI parameters, boundary conditions by tag
*name*, time stepping, discretization, solver options and outputs. Validation happens completely
before anything is written; every problem raises `InputError` naming the offending key or value
(unknown keys get a "did you mean" suggestion).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnpf_fem.app.config import read_text_file
from pnpf_fem.errors import InputError
from pnpf_fem.model.waveforms import Ramp, Sine, Step, Table, Triangle, Waveform
from pnpf_fem.units import PNPFParameters, Species

__all__ = ["METHODS", "QUANTITIES", "Case", "load_case", "parse_case"]

METHODS = ("fem1", "fem2", "fem-be", "fem-bdf2", "fv1", "fv2", "fv-bdf2")
BUILTIN_MESHES = ("unit_square", "supercapacitor", "box", "comb3d")
# default (size_min, size_max) in nm of the gmsh geometries (at L = 10 nm: 0.04 L, 0.12 L in 3D)
MESH_SIZES = {"supercapacitor": (0.15, 0.8), "comb3d": (0.4, 1.2)}

Check = Callable[[Any], str | None]


def _positive(v: Any) -> str | None:
    return None if v > 0 else "must be positive"


def _non_negative(v: Any) -> str | None:
    return None if v >= 0 else "must be non-negative"


def _one_of(*choices: Any) -> Check:
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of {', '.join(map(str, choices))}"

    return check


def _between_open(lo: float, hi: float) -> Check:
    def check(v: Any) -> str | None:
        return None if lo < v < hi else f"must lie strictly between {lo} and {hi}"

    return check


# The derived quantities a run can write (`pnpf_fem.fem.quantities`, `pnpf_fem.fv.observables`);
# "mass", "charge", "current" and "faradaic" stand for their per-species / per-tag columns.
QUANTITIES = (
    "mass",
    "S",
    "S1",
    "S2",
    "min_c",
    "min_T",
    "max_dT",
    "charge",
    "current",
    "joule",
    "faradaic",
    "reaction_entropy",
)


def _quantity_names(v: Any) -> str | None:
    bad = [q for q in v if q not in QUANTITIES]
    if bad or not v:
        return f"must be a non-empty list of {', '.join(QUANTITIES)} (got {bad or 'none'})"
    return None


@dataclass(frozen=True)
class Key:
    """One key of a section: accepted type, default (required when `required`), value check."""

    kind: type | tuple[type, ...]
    default: Any = None
    required: bool = False
    check: Check | None = None


NUMBER = (int, float)

SCHEMA: dict[str, dict[str, Key]] = {
    "mesh": {
        "builtin": Key(str, check=_one_of(*BUILTIN_MESHES)),
        "file": Key(str),
        "n": Key(int, 16, check=_positive),  # unit_square, box: cells per side
        "kind": Key(str, "unstructured", check=_one_of("structured", "unstructured")),
        # nm: the mesh sizes of the gmsh geometries (defaults: MESH_SIZES)
        "size_min": Key(NUMBER, None, check=_positive),
        "size_max": Key(NUMBER, None, check=_positive),
        "fingers": Key(int, 3, check=_non_negative),  # supercapacitor, comb3d
        "branches": Key(int, 2, check=_non_negative),
    },
    "species": {
        "name": Key(str, required=True),
        "valence": Key(NUMBER, required=True),
        "friction": Key(NUMBER, required=True, check=_positive),  # J s / m²
        "initial_concentration": Key(NUMBER, required=True, check=_positive),  # mol/m³
    },
    "parameters": {
        "temperature": Key(NUMBER, required=True, check=_positive),  # K: T0 and initial T
        "relative_permittivity": Key(NUMBER, required=True, check=_positive),
        "vacuum_permittivity": Key(NUMBER, 8.8541878128e-12, check=_positive),  # F/m
        "heat_capacity": Key(NUMBER, required=True, check=_positive),  # C_T, mol/m³
        "thermal_conductivity": Key(NUMBER, required=True, check=_positive),  # W/(m K)
        "length_scale": Key(NUMBER, required=True, check=_positive),  # m
        "reference_concentration": Key(NUMBER, None, check=_positive),  # mol/m³
        "friction_scale": Key(NUMBER, None, check=_positive),  # J s/m²
        "fixed_charge": Key(NUMBER, 0.0),  # mol/m³
    },
    # each a number or a waveform table ({shape = "triangle", ...}, see WAVEFORMS)
    "boundary": {
        "potential": Key((int, float, dict)),  # V
        "potential_thermal": Key((int, float, dict)),  # in units of k_B T0 / e
        "surface_charge": Key((int, float, dict)),  # dimensionless ψ^N of (2.9)
        "surface_charge_density": Key((int, float, dict)),  # C/m² on the wall
        # a reservoir: c per species name in mol/m³, with or without a potential
        "concentrations": Key(dict),
        # beside a potential: the electrode sits behind a Stern layer, given by its
        # thickness [m] (with the electrolyte's permittivity) or its capacitance [F/m²]
        "stern_thickness": Key(NUMBER, check=_positive),
        "stern_capacitance": Key(NUMBER, check=_positive),
        # beside a potential: Butler–Volmer kinetics of one electrode reaction
        "reaction": Key(dict),  # see REACTION
        # thermal: at most one of these per tag, beside the electric key
        "temperature": Key((int, float, dict)),  # K (a thermostat)
        "heat_flux": Key((int, float, dict)),  # W/m² into the domain
        "heat_transfer": Key(dict),  # {coefficient = h [W/(m² K)], ambient = T [K]}
    },
    # one table per mesh region (a gmsh physical surface, or a box of the mesh's coordinates)
    "regions": {
        "fixed_charge": Key(NUMBER, required=True),  # mol/m³ of elementary charges (signed)
        "box": Key(list, None, check=lambda v: _box(v)),  # [x0, x1, y0, y1], dimensionless
    },
    "time": {
        "end": Key(NUMBER, required=True, check=_positive),  # s
        "dt": Key(NUMBER, required=True, check=_positive),  # s (initial step when adaptive)
        "adaptive": Key(bool, False),
        "dt_min": Key(NUMBER, None, check=_positive),
        "dt_max": Key(NUMBER, None, check=_positive),
        "growth": Key(NUMBER, 1.5, check=lambda v: None if v > 1 else "must be greater than 1"),
        "cut": Key(NUMBER, 0.5, check=_between_open(0.0, 1.0)),
        "max_steps": Key(int, 100000, check=_positive),
        # error control (with adaptive = true): tolerances on (log c, ψ, log T) per step
        # solve for the steady state (pseudo-transient continuation from the initial state)
        "steady": Key(bool, False),
        "steady_tol": Key(NUMBER, 1e-10, check=_positive),
        "rtol": Key(NUMBER, None, check=_between_open(0.0, 1.0)),
        "atol": Key(NUMBER, None, check=_positive),
    },
    "discretization": {
        "method": Key(str, "fem1", check=_one_of(*METHODS)),
        "degree": Key(int, 1, check=_one_of(1, 2)),
    },
    "solver": {
        "rtol": Key(NUMBER, 1e-9, check=_between_open(0.0, 1.0)),
        "atol": Key(NUMBER, 1e-11, check=_positive),
        "max_iterations": Key(int, 25, check=_positive),
        "linear": Key(str, "auto", check=_one_of("auto", "lu", "iterative")),
        "petsc_options": Key(dict, None),
    },
    # the upscaled porous-medium PNP system (isothermal) with the tensors of `pnpf-fem cell`
    "porous": {
        "tensors": Key(str, required=True),  # JSON written by pnpf-fem cell (relative: to case)
        "transport": Key(str, "perforated", check=_one_of("perforated", "schmuck")),
        # the upscaled PNPF system with heat (docs/porous_heating.md): the solid's heat data
        "heat": Key(bool, False),
        "solid_heat_capacity": Key(NUMBER, None, check=_positive),  # as [parameters]' (mol/m³)
        "solid_thermal_conductivity": Key(NUMBER, None, check=_positive),  # W/(m K)
        "heat_source": Key(str, "derived", check=_one_of("derived", "naive")),
    },
    "output": {
        "directory": Key(str, None),
        "every": Key(int, 1, check=_positive),
        "fields": Key(bool, True),
        "plots": Key(bool, True),
        "checkpoint_every": Key(int, 0, check=_non_negative),
        "quantities": Key(list, None, check=_quantity_names),
    },
}
# An electrode reaction: the anodic reaction makes `stoichiometry` ions of `species` (negative:
# consumes them) and releases stoichiometry × valence > 0 electrons (`pnpf_fem.model.Reaction`).
REACTION: dict[str, Key] = {
    "species": Key(str, required=True),
    "exchange_current_density": Key(NUMBER, required=True, check=_non_negative),  # A/m²
    "alpha": Key(NUMBER, 0.5, check=_between_open(0.0, 1.0)),  # anodic transfer coefficient
    "equilibrium_potential": Key(NUMBER, 0.0),  # V, at the reference concentration
    "reference_concentration": Key(NUMBER, None, check=_positive),  # mol/m³ (default c0)
    "stoichiometry": Key(NUMBER, 1.0, check=lambda v: None if v != 0 else "must not be 0"),
    "entropy": Key(NUMBER, 0.0),  # J/(mol K): the anodic reaction's entropy (Peltier heat)
}
# Waveforms for boundary data: times in s, values in the unit of the key they drive
# (rate in that unit per second, frequency in Hz); `file` (a table) is relative to the case.
WAVEFORMS: dict[str, dict[str, Key]] = {
    "step": {
        "before": Key(NUMBER, required=True),
        "after": Key(NUMBER, required=True),
        "at": Key(NUMBER, required=True, check=_non_negative),
    },
    "ramp": {
        "start": Key(NUMBER, required=True),
        "end": Key(NUMBER, required=True),
        "t0": Key(NUMBER, 0.0, check=_non_negative),
        "t1": Key(NUMBER, required=True),
    },
    "triangle": {
        "lower": Key(NUMBER, required=True),
        "upper": Key(NUMBER, required=True),
        "rate": Key(NUMBER, required=True, check=_positive),
        "cycles": Key(int, 1, check=_positive),
        "t0": Key(NUMBER, 0.0, check=_non_negative),
    },
    "sine": {
        "offset": Key(NUMBER, 0.0),
        "amplitude": Key(NUMBER, required=True),
        "frequency": Key(NUMBER, required=True, check=_positive),
        "phase": Key(NUMBER, 0.0),
    },
    "table": {"file": Key(str, required=True)},
}


def _box(v: list) -> str | None:
    numbers = [x for x in v if isinstance(x, NUMBER) and not isinstance(x, bool)]
    if len(v) != 4 or len(numbers) != 4 or not all(map(math.isfinite, numbers)):
        return "must be [x0, x1, y0, y1] (four numbers)"
    return None if v[0] < v[1] and v[2] < v[3] else "must have x0 < x1 and y0 < y1"


def waveform_from(spec: Mapping[str, Any], source: str, where: str) -> Waveform:
    """The waveform of a boundary table such as {shape = "ramp", start = 0, end = 1, t1 = 1e-6}
    (`where` names it in messages, e.g. "boundary.gamma2 potential")."""
    shape = spec.get("shape")
    if shape not in WAVEFORMS:
        raise InputError(
            f"{source}: [{where}] shape = {shape!r} must be one of {', '.join(WAVEFORMS)}"
        )
    args = _section(
        source, where, {k: v for k, v in spec.items() if k != "shape"}, WAVEFORMS[shape]
    )
    try:
        if shape == "table":
            return _table(Path(source).parent / args["file"], f"{source}: [{where}]")
        kind = {"step": Step, "ramp": Ramp, "triangle": Triangle, "sine": Sine}[shape]
        return kind(**args)
    except InputError as err:
        raise InputError(f"{source}: [{where}] {err}") from None


def _table(path: Path, where: str) -> Table:
    rows = []
    for line in read_text_file(path, f"{where} table").splitlines():
        fields = [f.strip() for f in line.replace(";", ",").split(",") if f.strip()]
        if not fields or fields[0].startswith("#"):
            continue
        try:
            rows.append((float(fields[0]), float(fields[1])))
        except (ValueError, IndexError):
            if rows:  # only a header line may fail to parse
                raise InputError(f"{where} table {str(path)!r}: bad row {line!r}") from None
    return Table(tuple(t for t, _ in rows), tuple(v for _, v in rows))


SECTIONS = tuple(SCHEMA)
REQUIRED_SECTIONS = ("mesh", "species", "parameters", "time")  # [porous], [regions] optional


@dataclass(frozen=True)
class Case:
    """A validated case. Times in seconds, concentrations in mol/m³, potentials in volts."""

    source: str
    mesh: Mapping[str, Any]
    species: tuple[Mapping[str, Any], ...]
    parameters: Mapping[str, Any]
    boundary: Mapping[str, Mapping[str, Any]]
    time: Mapping[str, Any]
    discretization: Mapping[str, Any]
    solver: Mapping[str, Any]
    output: Mapping[str, Any] = field(default_factory=dict)
    porous: Mapping[str, Any] | None = None
    regions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def physical_parameters(self) -> PNPFParameters:
        """The SI parameter object; c0 defaults to the first species' initial concentration."""
        p = self.parameters
        first = self.species[0]
        return PNPFParameters(
            species=tuple(Species(s["name"], s["valence"], s["friction"]) for s in self.species),
            reference_concentration=p["reference_concentration"] or first["initial_concentration"],
            reference_temperature=p["temperature"],
            length_scale=p["length_scale"],
            heat_capacity=p["heat_capacity"],
            thermal_conductivity=p["thermal_conductivity"],
            friction_scale=p["friction_scale"] or first["friction"],
            relative_permittivity=p["relative_permittivity"],
            vacuum_permittivity=p["vacuum_permittivity"],
            fixed_charge=p["fixed_charge"],
        )

    def check_regions(self, region_names: Mapping[str, int] | set[str]) -> None:
        """Every [regions.<name>] without a box must name a region (gmsh physical surface)."""
        known = set(region_names)
        for name, spec in self.regions.items():
            if spec["box"] is None and name not in known:
                raise InputError(
                    f"{self.source}: [regions.{name}] names no region of the mesh"
                    + _suggest(name, known)
                    + f" (regions: {', '.join(sorted(known)) or 'none'}; or give a box)"
                )
            if spec["box"] is not None and name in known:
                raise InputError(
                    f"{self.source}: [regions.{name}] box: the mesh already has a region "
                    f"{name!r}; drop the box or rename the region"
                )

    def check_tags(self, tag_names: Mapping[str, int] | set[str]) -> None:
        """Every boundary condition must name a tag of the mesh."""
        known = set(tag_names)
        for name in self.boundary:
            if name not in known:
                raise InputError(
                    f"{self.source}: [boundary.{name}] names no boundary tag of the mesh"
                    + _suggest(name, known)
                    + f" (tags: {', '.join(sorted(known)) or 'none'})"
                )


def _suggest(word: str, choices: set[str] | tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(kind: type | tuple[type, ...]) -> str:
    if kind == NUMBER:
        return "a number"
    if kind == (int, float, dict):
        return "a number or a waveform table"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    names[dict] = "a table"
    names[list] = "a list"
    return names.get(kind, str(kind)) if isinstance(kind, type) else "a number"


def _section(source: str, where: str, raw: Any, schema: Mapping[str, Key]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InputError(f"{source}: [{where}] must be a table")
    for key in raw:
        if key not in schema:
            raise InputError(f"{source}: [{where}] unknown key {key!r}" + _suggest(key, schema))
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        if key not in raw:
            if spec.required:
                raise InputError(f"{source}: [{where}] missing required key {key!r}")
            out[key] = spec.default
            continue
        v = raw[key]
        kind = spec.kind
        ok = isinstance(v, kind) and not (isinstance(v, bool) and kind in (int, NUMBER))
        if not ok:
            raise InputError(f"{source}: [{where}] {key} must be {_type_name(kind)}, got {v!r}")
        if isinstance(v, float) and not math.isfinite(v):
            raise InputError(f"{source}: [{where}] {key} must be finite, got {v!r}")
        if spec.check is not None and (problem := spec.check(v)):
            raise InputError(f"{source}: [{where}] {key} = {v!r} {problem}")
        out[key] = v
    return out


def _species(source: str, raw_species: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(raw_species, list) or not raw_species:
        raise InputError(f"{source}: [[species]] must list at least one species")
    species = tuple(
        _section(source, f"species.{i}", s, SCHEMA["species"]) for i, s in enumerate(raw_species)
    )
    names = [s["name"] for s in species]
    for n in names:
        if not n.isidentifier():
            raise InputError(f"{source}: [[species]] name {n!r} must be an identifier")
    if len(set(names)) != len(names):
        raise InputError(f"{source}: [[species]] names must be unique, got {names}")

    return species


def _boundary(source: str, raw_boundary: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(raw_boundary, dict):
        raise InputError(f"{source}: [boundary] must be a table of tag names")
    boundary: dict[str, dict[str, Any]] = {}
    for tag, spec in raw_boundary.items():
        bc = _section(source, f"boundary.{tag}", spec, SCHEMA["boundary"])
        given = [k for k, v in bc.items() if v is not None and k in ELECTRIC]
        thermal = [k for k, v in bc.items() if v is not None and k in THERMAL_KEYS]
        stern = [k for k in STERN_KEYS if bc[k] is not None]
        if stern and (len(stern) > 1 or not any(k.startswith("potential") for k in given)):
            raise InputError(
                f"{source}: [boundary.{tag}] {stern[-1]} needs a potential on the tag (the "
                f"electrode's) and only one of {', '.join(STERN_KEYS)}"
            )
        if len(given) > 1 or len(thermal) > 1 or not (given or thermal or bc["concentrations"]):
            raise InputError(
                f"{source}: [boundary.{tag}] takes at most one of {', '.join(ELECTRIC)}, at most "
                f"one of {', '.join(THERMAL_KEYS)} and concentrations, got "
                f"{given + thermal or 'none'}"
            )
        if bc["reaction"] is not None:
            if not any(k.startswith("potential") for k in given):
                raise InputError(
                    f"{source}: [boundary.{tag}] reaction needs the electrode's potential on the "
                    "tag (potential or potential_thermal)"
                )
            bc["reaction"] = _section(source, f"boundary.{tag} reaction", bc["reaction"], REACTION)
        if "heat_transfer" in thermal:
            _check_heat_transfer(source, tag, bc["heat_transfer"])
        given += thermal + stern
        boundary[tag] = {
            k: bc[k] for k in (*given, "concentrations", "reaction") if bc[k] is not None
        }
        for key in given:
            if isinstance(bc[key], dict) and key != "heat_transfer":  # a waveform: checked now
                waveform_from(bc[key], source, f"boundary.{tag} {key}")
        if bc["concentrations"] is not None:
            _check_reservoir(source, tag, bc["concentrations"])
    return boundary


ELECTRIC = ("potential", "potential_thermal", "surface_charge", "surface_charge_density")
THERMAL_KEYS = ("temperature", "heat_flux", "heat_transfer")
STERN_KEYS = ("stern_thickness", "stern_capacitance")


def _check_heat_transfer(source: str, tag: str, spec: Mapping[str, Any]) -> None:
    keys = {"coefficient": Key(NUMBER, required=True, check=_non_negative)}
    keys["ambient"] = Key(NUMBER, required=True, check=_positive)
    _section(source, f"boundary.{tag} heat_transfer", spec, keys)


def _check_reservoir(source: str, tag: str, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (ok and math.isfinite(value) and value > 0):
            raise InputError(
                f"{source}: [boundary.{tag}] concentrations.{name} = {value!r} must be a "
                "positive number (mol/m³)"
            )


# What the isothermal upscaled porous model cannot take, and why (key → (what it is, why))
POROUS_REFUSES = {
    **dict.fromkeys(THERMAL_KEYS, ("", "the porous model is isothermal with insulated walls")),
    **dict.fromkeys(
        STERN_KEYS, (" (a Stern layer)", "the porous model takes fixed potentials only")
    ),
    "concentrations": (
        " (a reservoir)",
        "the porous model does not take Dirichlet concentrations yet",
    ),
    "reaction": (" (Butler–Volmer kinetics)", "the porous model takes no electrode reactions"),
}


def _check_boundary_species(
    source: str,
    boundary: Mapping[str, Any],
    species: Sequence[Mapping[str, Any]],
    porous: bool,
    porous_heat: bool = False,
) -> None:
    """Reservoirs and reactions name existing species; a reaction releases electrons
    (stoichiometry × valence > 0); `[porous]` refuses the keys of `POROUS_REFUSES` (with
    `heat = true` it takes `temperature`)."""
    valence = {s["name"]: s["valence"] for s in species}
    for tag, bc in boundary.items():
        for name in bc.get("concentrations", {}):
            if name not in valence:
                raise InputError(
                    f"{source}: [boundary.{tag}] concentrations.{name}: no species {name!r}"
                    + _suggest(name, list(valence))
                )
        if "reaction" in bc:
            _check_reaction(f"{source}: [boundary.{tag}] reaction", bc["reaction"], valence)
        refused = [k for k in bc if k in POROUS_REFUSES] if porous else []
        if porous_heat:  # the upscaled PNPF system takes thermostats
            refused = [k for k in refused if k != "temperature"]
        if refused:
            what, why = POROUS_REFUSES[refused[0]]
            verb = "do" if refused[0] == "concentrations" else "does"
            raise InputError(
                f"{source}: [boundary.{tag}] {refused[0]}{what} {verb} not apply to [porous] "
                f"runs: {why}"
            )


def _check_reaction(where: str, rx: Mapping[str, Any], valence: Mapping[str, float]) -> None:
    if rx["species"] not in valence:
        raise InputError(
            f"{where} species = {rx['species']!r}: no such species"
            + _suggest(rx["species"], list(valence))
        )
    if not rx["stoichiometry"] * valence[rx["species"]] > 0:
        raise InputError(
            f"{where} stoichiometry = {rx['stoichiometry']}: the anodic reaction must release "
            f"electrons, stoichiometry × valence ({valence[rx['species']]}) > 0 (negative "
            "for a species it consumes)"
        )


def parse_case(data: Mapping[str, Any], source: str = "case") -> Case:
    """Validate a parsed TOML document into a `Case` (raises `InputError` on the first problem)."""
    for name in data:
        if name not in SCHEMA:
            raise InputError(f"{source}: unknown section [{name}]" + _suggest(name, SECTIONS))
    for name in REQUIRED_SECTIONS:
        if name not in data:
            raise InputError(f"{source}: missing section [{name}]")

    mesh = _section(source, "mesh", data["mesh"], SCHEMA["mesh"])
    if (mesh["builtin"] is None) == (mesh["file"] is None):
        raise InputError(f"{source}: [mesh] needs exactly one of 'builtin' or 'file'")
    sizes = MESH_SIZES.get(mesh["builtin"], MESH_SIZES["supercapacitor"])
    mesh["size_min"] = sizes[0] if mesh["size_min"] is None else mesh["size_min"]
    mesh["size_max"] = sizes[1] if mesh["size_max"] is None else mesh["size_max"]
    if mesh["size_min"] > mesh["size_max"]:
        raise InputError(f"{source}: [mesh] size_min must not exceed size_max")

    species = _species(source, data["species"])

    parameters = _section(source, "parameters", data["parameters"], SCHEMA["parameters"])

    boundary = _boundary(source, data.get("boundary", {}))
    if not any("potential" in bc or "potential_thermal" in bc for bc in boundary.values()):
        raise InputError(f"{source}: [boundary] needs a potential on at least one tag")

    time = _section(source, "time", data["time"], SCHEMA["time"])
    if time["dt"] > time["end"]:
        raise InputError(f"{source}: [time] dt = {time['dt']} exceeds end = {time['end']}")
    if time["dt_min"] and time["dt_max"] and time["dt_min"] > time["dt_max"]:
        raise InputError(f"{source}: [time] dt_min must not exceed dt_max")
    if not time["adaptive"] and (time["dt_min"] or time["dt_max"]):
        raise InputError(f"{source}: [time] dt_min/dt_max need adaptive = true")
    if time["steady"] and (time["adaptive"] or time["rtol"] or time["atol"]):
        raise InputError(
            f"{source}: [time] steady = true chooses its own pseudo-time steps: drop "
            "adaptive/rtol/atol"
        )
    if not time["adaptive"] and (time["rtol"] or time["atol"]):
        raise InputError(f"{source}: [time] rtol/atol (error control) need adaptive = true")

    discretization = _section(
        source, "discretization", data.get("discretization", {}), SCHEMA["discretization"]
    )
    if discretization["method"].startswith("fv") and discretization["degree"] != 1:
        raise InputError(
            f"{source}: [discretization] degree = {discretization['degree']} is FEM-only; "
            f"method {discretization['method']!r} is first-order finite volumes"
        )
    solver = _section(source, "solver", data.get("solver", {}), SCHEMA["solver"])
    porous_heat = bool(isinstance(data.get("porous"), dict) and data["porous"].get("heat"))
    _check_boundary_species(source, boundary, species, "porous" in data, porous_heat)
    if discretization["method"].startswith("fv") and solver["petsc_options"]:
        raise InputError(f"{source}: [solver] petsc_options apply to FEM methods only")
    output = _section(source, "output", data.get("output", {}), SCHEMA["output"])
    regions = _regions(source, data.get("regions", {}))
    if regions and "porous" in data:
        raise InputError(f"{source}: [regions] (charged regions) do not apply to [porous] runs")
    porous = None
    if "porous" in data:
        porous = _section(source, "porous", data["porous"], SCHEMA["porous"])
        _check_porous(source, species, discretization)
        _check_porous_heat(source, porous)
    return Case(
        source,
        mesh,
        species,
        parameters,
        boundary,
        time,
        discretization,
        solver,
        output,
        porous,
        regions,
    )


def _regions(source: str, raw: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise InputError(f"{source}: [regions] must be a table of region names")
    return {
        name: _section(source, f"regions.{name}", spec, SCHEMA["regions"])
        for name, spec in raw.items()
    }


def _check_porous(
    source: str, species: tuple[Mapping[str, Any], ...], discretization: Mapping[str, Any]
) -> None:
    """What the upscaled model (two monovalent ions, implicit Euler, P1) can run."""
    if discretization["method"] != "fem-be" or discretization["degree"] != 1:
        raise InputError(
            f"{source}: [porous] runs the upscaled PNP system with implicit Euler and P1: set "
            f'[discretization] method = "fem-be", degree = 1 (got '
            f"{discretization['method']!r}, {discretization['degree']})"
        )
    valences = sorted(s["valence"] for s in species)
    if valences != [-1, 1]:
        raise InputError(
            f"{source}: [porous] needs two species with valences +1 and -1, got {valences}"
        )
    if species[0]["friction"] != species[1]["friction"]:
        raise InputError(
            f"{source}: [porous] needs equal frictions for both species (one diffusivity), "
            f"got {species[0]['friction']} and {species[1]['friction']}"
        )


def _check_porous_heat(source: str, porous: Mapping[str, Any]) -> None:
    """`heat = true` needs the tortuosity closure and both solid values; without it they are
    meaningless."""
    solid = ("solid_heat_capacity", "solid_thermal_conductivity")
    if not porous["heat"]:
        given = [k for k in solid if porous[k] is not None]
        if given:
            raise InputError(f"{source}: [porous] {given[0]} needs heat = true")
        return
    if porous["transport"] != "perforated":
        raise InputError(
            f'{source}: [porous] heat = true needs transport = "perforated" (the upscaled '
            "PNPF model is derived for the tortuosity closure)"
        )
    for key in solid:
        if porous[key] is None:
            raise InputError(f"{source}: [porous] heat = true needs {key}")


def load_case(path: str | Path) -> Case:
    """Read and validate a TOML case file."""
    from pnpf_fem.app.config import read_toml

    return parse_case(read_toml(path, "case file"), source=str(path))
