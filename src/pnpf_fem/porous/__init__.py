"""Porous media: the upscaled PNP equations (25)/(28) and the pore-resolved model (19)/(20).

See `shared/papers/porous-pnp-homogenization.md` (the implementer's digest).
Modules: `macroscale` (effective equations, two transport closures), `microscale` (resolved
periodic array of cells, ions on the electrolyte submesh), `arrays` (meshes of periodic arrays).
"""
