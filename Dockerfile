# syntax=docker/dockerfile:1
# The kubegym image: the operator and the agent runner (one image, two entrypoints:
# `kubegym operator` and `python -m kubegym.agent_runner`). Task sandboxes use their
# own images from task_images/, which never contain model keys or this image's
# credentials. Build every image with `make images VERSION=0.1.0`, or this one alone:
#
#   docker build --build-arg VERSION=0.1.0 -t ghcr.io/kubegym/kubegym:0.1.0 .
#
# The base is pinned by tag (Python 3.11.7, the version the tests run on, on Debian 12).
# For a release, pin its digest too: PYTHON_IMAGE=python:3.11.7-slim-bookworm@sha256:…
# (`docker buildx imagetools inspect python:3.11.7-slim-bookworm` prints it). Where
# nothing can be pulled, `make images` builds with buildah and passes its own Debian-built
# base instead (kubegym/images/_debian.py: python-base, Debian bookworm's Python 3.11).
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# --- build: a virtual environment with the pinned dependencies and kubegym ---------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/kubegym/venv
WORKDIR /src
# The whole environment, pinned (requirements/image.txt: `python -m kubegym.images
# --write-locks`), in a layer of its own so a code change does not reinstall it.
COPY requirements/image.txt requirements/image.txt
RUN /opt/kubegym/venv/bin/pip install --no-deps -r requirements/image.txt
COPY pyproject.toml README.md ./
COPY kubegym ./kubegym
# --no-deps: every dependency came from the pins above; `pip check` proves none is missing.
# pip, setuptools and wheel leave the venv: nothing installs anything at run time.
RUN /opt/kubegym/venv/bin/pip install --no-deps . \
    && /opt/kubegym/venv/bin/pip check \
    && /opt/kubegym/venv/bin/pip uninstall --yes pip setuptools wheel

# --- runtime: the venv, the CRDs, a fixed non-root user ---------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/kubegym/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KUBEGYM_LOG_FORMAT=json \
    # litellm must never fetch its price table at import: the pod may have no egress.
    LITELLM_LOCAL_MODEL_COST_MAP=True
# The base's own pip and setuptools go too: the image installs nothing once built.
RUN python -m pip uninstall --yes pip setuptools wheel \
    && groupadd --gid 10001 kubegym \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin kubegym
COPY --from=build /opt/kubegym/venv /opt/kubegym/venv
COPY crds /opt/kubegym/crds
# The suite profiles (spec.profile): the operator reads them on its task search path, so a
# profile is part of the release that applies it, as the CRDs are (docs/profiles.md).
COPY task_images/profiles /opt/kubegym/task_images/profiles
ENV KUBEGYM_TASK_PATH=/opt/kubegym/task_images
USER 10001:10001
WORKDIR /home/kubegym
ENTRYPOINT ["kubegym"]
CMD ["--help"]
# The labels come last: the version and the commit change no step above, so a rebuild
# for a new commit reuses every cached step (buildah --layers, docker's cache).
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="kubegym" \
      org.opencontainers.image.description="The kubegym operator and agent runner: AI-research-agent benchmarks on Kubernetes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/kubegym/kubegym" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="kubegym"
