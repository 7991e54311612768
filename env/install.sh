#!/bin/sh
# The one package list of the pnpf-fem environment (Debian trixie's FEniCSx 0.9 stack).
# Run by the Dockerfile; anything else that provisions a root file system must run this file.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
    ca-certificates git procps \
    g++ make pkg-config python3-dev python3-pip \
    openmpi-bin libopenmpi-dev \
    python3-dolfinx-real python3-dolfinx-mpc python3-adios4dolfinx \
    python3-petsc4py python3-mpi4py python3-basix python3-ufl python3-ffcx \
    python3-gmsh gmsh python3-meshio \
    python3-pyvista python3-vtk9 xvfb xauth libgl1 libglx-mesa0 libosmesa6 \
    python3-matplotlib python3-scipy python3-numpy python3-sympy python3-tqdm python3-rich \
    python3-pytest python3-pytest-xdist python3-pytest-timeout python3-hypothesis
# Behind a TLS-intercepting proxy the builder mounts the host's CA bundle here (see env/run).
if [ -s /etc/pnpf-host-ca.crt ]; then export PIP_CERT=/etc/pnpf-host-ca.crt; fi
pip3 install --no-cache-dir --break-system-packages ruff==0.14.14
apt-get clean
rm -rf /var/lib/apt/lists/*
