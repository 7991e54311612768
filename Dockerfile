# pnpf-fem environment: Debian trixie's FEniCSx 0.9 stack (DOLFINx 0.9, dolfinx_mpc 0.9, PETSc 3.22,
# Python 3.13). Stage `env` holds the dependencies only; ./env/run mounts the checkout into it.
# Stage `app` (the default) copies the project in, for `docker run` users.
FROM debian:trixie AS env
COPY env/install.sh /tmp/pnpf-env-install.sh
RUN sh /tmp/pnpf-env-install.sh && rm /tmp/pnpf-env-install.sh
# One node: shared memory between ranks (no TCP BTL, hence no interface warnings); root allowed.
ENV OMPI_ALLOW_RUN_AS_ROOT=1 \
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    OMPI_MCA_btl=self,sm \
    OMPI_MCA_rmaps_base_oversubscribe=1 \
    PRTE_MCA_rmaps_default_mapping_policy=:oversubscribe \
    PYVISTA_OFF_SCREEN=true \
    MPLBACKEND=Agg

FROM env AS app
COPY . /opt/pnpf-fem
ENV PYTHONPATH=/opt/pnpf-fem/src \
    PATH=/opt/pnpf-fem/env/bin:$PATH
WORKDIR /opt/pnpf-fem
CMD ["pnpf-fem", "info"]
