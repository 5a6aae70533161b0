# update-job: publish a job-status update to the jobs database's SNS topic.
#
#   docker build -t localhost/update-job:0.1.0 .        # or: podman build -t ...
#   docker run --rm localhost/update-job:0.1.0 update-job --help
#
# localhost/update-job:<version> is the image cwl/update-job.cwl's DockerRequirement names;
# to run it from a registry, push it there and point the hint (or cwltool --overrides) at it:
# see docs/container.md.
#
# BASE must be a Debian python slim image (python on PATH, with venv). Both stages use it,
# so the venv's interpreter path is the same in the runtime stage.
ARG BASE=python:3.11.11-slim-bookworm

FROM ${BASE} AS build
# botocore ships the API models of every AWS service (about 28 MB); update-job calls only
# SNS, plus STS/SSO for the credential chain (web identity, SSO profiles). Models of other
# services are removed; set BOTOCORE_SERVICES="" to keep them all.
ARG BOTOCORE_SERVICES="sns sts sso sso-oidc"
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . .
# Build the wheel, install it and its dependencies into a venv, then drop what only
# installing needs (pip, setuptools, wheel) and make everything readable by any uid.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/python -m pip wheel --no-deps --wheel-dir /tmp/dist . \
    && /opt/venv/bin/python -m pip install /tmp/dist/*.whl \
    && /opt/venv/bin/python -m pip uninstall --yes pip setuptools wheel \
    && if [ -n "${BOTOCORE_SERVICES}" ]; then \
         for dir in /opt/venv/lib/python*/site-packages/botocore/data/*/; do \
           case " ${BOTOCORE_SERVICES} " in \
             *" $(basename "$dir") "*) ;; \
             *) rm -rf "$dir" ;; \
           esac; \
         done; \
       fi \
    && rm -f /opt/venv/bin/activate* /opt/venv/bin/Activate.ps1 \
    && chmod -R a+rX,go-w /opt/venv \
    && /opt/venv/bin/update-job --version

FROM ${BASE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="update-job" \
      org.opencontainers.image.description="Publish a job's status update to the jobs database's SNS topic" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Any uid works (cwltool runs containers as the calling user); by default not root.
USER 65534:65534
CMD ["update-job", "--help"]
