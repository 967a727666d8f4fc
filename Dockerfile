# syntax=docker/dockerfile:1
# The hopper-operator image: a wheel built in one stage, installed offline into a venv in
# a slim, non-root runtime stage.
#
#   docker build -t ghcr.io/hopper-dev/hopper-operator:0.1.0 .
#
# The base is pinned to an exact patch tag (same in both stages); pin its digest as well
# (python:3.11.14-slim-bookworm@sha256:...) where builds must be bit-for-bit reproducible.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps everything else out of the
# context). README.md is the package's long description and LICENSE goes into the wheel's
# metadata; the globs keep the build working while either is absent.
COPY pyproject.toml README.md* LICENSE* ./
COPY operator/ operator/
# The project's wheel plus one for every dependency (all ship manylinux wheels, so no
# compiler is needed): the runtime stage installs from these, offline.
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="hopper-operator" \
      org.opencontainers.image.description="Kopf operator for HopperInstance resources" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A venv without pip of its own: the base image's pip installs into it (--python), so the
# final environment holds the operator and its dependencies and nothing to install more.
# Installing compiles the bytecode now, because the root filesystem is read-only at run
# time. The wheels are bind-mounted from the build stage, so they add no layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv --without-pip /opt/hopper \
    && python -m pip --python /opt/hopper/bin/python install \
        --no-index --find-links=/wheels hopper-operator \
    && /opt/hopper/bin/hopper-operator --help >/dev/null
ENV PATH=/opt/hopper/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The same numeric uid/gid as the Deployment's securityContext (runAsNonRoot needs a
# numeric user to verify). Nothing in the image is writable by it.
USER 65532:65532
WORKDIR /
# liveness (--liveness=http://0.0.0.0:8080/healthz) and Prometheus metrics
EXPOSE 8080 9090
# Kopf handles SIGTERM itself (graceful stop, cleanup handlers), also as PID 1.
ENTRYPOINT ["hopper-operator"]
CMD ["run"]
