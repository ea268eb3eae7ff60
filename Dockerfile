# syntax=docker/dockerfile:1
# One image recipe for the four leadnet services: the build argument SERVICE (its directory under services/)
# picks the package, its module (the name with "_" for "-") and PORT its listening port. From the repository root
# (the image needs shared/ too):
#   docker build --build-arg SERVICE=lead-intake --build-arg PORT=8001 -t leadnet/lead-intake:0.1.0 .
# docker-compose.yml passes both for each service; the Kubernetes manifests (deploy/base) run the images it tags.
# Runs as uid 10001 with a read-only root filesystem: the process writes nowhere but /tmp (a tmpfs or emptyDir).
# The base is pinned by digest (the tag's multi-platform index): a rebuild gets the same bytes. To take a newer
# base, `docker buildx imagetools inspect python:3.11-slim-bookworm` and replace the digest in both FROM lines.
# The kit is installed without its `local` extra: no PostgreSQL server or broker binaries in the image.
FROM python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91 AS build
ARG SERVICE
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Fail the build at once on a missing or misspelt SERVICE rather than later with a confusing COPY or pip error.
RUN test -n "${SERVICE}" || { echo "build argument SERVICE is required (e.g. lead-intake)" >&2; exit 1; }
RUN python -m venv /opt/venv
COPY shared/ /src/shared/
COPY services/${SERVICE}/ /src/services/${SERVICE}/
# Not editable: the image carries the installed package (its migrations and policy files included), not the source.
# The launcher names the service's module once, so CMD (which takes no build arguments) stays the same for all.
RUN module="$(echo "${SERVICE}" | tr - _)" \
 && test -f "/src/services/${SERVICE}/${module}/__main__.py" \
 && /opt/venv/bin/pip install /src/shared "/src/services/${SERVICE}" \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib \
 && printf '#!/bin/sh\nexec python -m %s "$@"\n' "${module}" > /opt/venv/bin/leadnet-service \
 && chmod 0755 /opt/venv/bin/leadnet-service

FROM python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91
ARG SERVICE
ARG PORT
RUN test -n "${PORT}" || { echo "build argument PORT is required (e.g. 8001)" >&2; exit 1; } \
 && groupadd --system --gid 10001 leadnet \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin leadnet
COPY --from=build /opt/venv /opt/venv
# LEADNET_SERVICE_PORT is the port the HEALTHCHECK probes: PORT must be the service's default port; a deployment that
# moves it (LEADNET_<SERVICE>_PORT) sets LEADNET_SERVICE_PORT to the same value.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    LEADNET_ENV=production \
    LEADNET_HOST=0.0.0.0 \
    LEADNET_SERVICE=${SERVICE} \
    LEADNET_SERVICE_PORT=${PORT}
LABEL org.opencontainers.image.title="leadnet ${SERVICE}"
USER 10001:10001
WORKDIR /tmp
EXPOSE ${PORT}
# Liveness as the orchestrators see it: /healthz turns 503 when a consumer loop is stuck or a worker died.
HEALTHCHECK --interval=15s --timeout=5s --start-period=40s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['LEADNET_SERVICE_PORT'] + '/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["leadnet-service", "serve"]
