#!/usr/bin/env bash
# The project's checks: lint, types and the test suite (against a local moto SNS/SQS endpoint
# that the tests start themselves). Sets up .venv from the project's own files first: the
# test toolchain at the exact versions (and hashes) of requirements/test.lock.
#
#   bash scripts/test.sh                       # with the lock, in .venv
#   bash scripts/test.sh -m "not container" -x # extra arguments go to pytest
#   bash scripts/test.sh --latest              # with the newest releases, in .venv-latest
#
# --latest installs the newest releases that pyproject.toml allows into a venv of its own,
# so that a release that breaks the project shows up in a run, not on a newcomer's machine;
# then `bash scripts/lock.sh --upgrade` moves the lock (docs/development.md).
set -euo pipefail
cd "$(dirname "$0")/.."

latest=false
if [ "${1:-}" = "--latest" ]; then
    latest=true
    shift
fi
venv=.venv
if [ "$latest" = true ]; then venv=.venv-latest; fi

if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv"
    python3 -m venv "$venv"
fi
# uv, at the version and hashes of requirements/bootstrap.lock, installed by the venv's pip
# (a fresh machine may have no uv); then uv installs everything else.
echo "== $venv: installing uv (pip, requirements/bootstrap.lock)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r requirements/bootstrap.lock
uv=("$venv/bin/uv" pip)
if [ "$latest" = true ]; then
    echo "== $venv: installing update-job with its test extra, newest releases (uv)"
    "${uv[@]}" install --quiet --python "$venv/bin/python" --upgrade -e '.[test]'
else
    # Exactly the lock (anything else in .venv is removed), then update-job itself.
    echo "== $venv: installing the test toolchain (uv, requirements/test.lock)"
    "${uv[@]}" sync --quiet --python "$venv/bin/python" --require-hashes \
        requirements/bootstrap.lock requirements/test.lock
    "${uv[@]}" install --quiet --python "$venv/bin/python" --no-deps -e .
fi

# cwltool runs the CWL tests with the update-job of this venv: it must come first on PATH.
export PATH="$PWD/$venv/bin:$PATH"

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy --strict"
mypy
echo "== pytest"
if [ "$(id -u)" = 0 ]; then
    # Say it before it happens: the container tests change this machine the first time.
    echo "   (the container tests, run as root, install podman & co. with apt-get and build a" \
        "base image the first time, each announced; cached in" \
        "${UPDATE_JOB_TEST_CACHE:-~/.cache/update-job-tests} and podman's image store;" \
        "skip them with -m \"not container\")"
    echo "   (the cluster tests, run as root, install slurm-wlm and munge with apt-get the first" \
        "time, announced, and run a private Slurm cluster for the session; skip them with" \
        "-m \"not slurm\")"
fi
# Four workers on any machine: most tests wait on subprocesses, sockets and timeouts rather
# than compute. Workers that need the test image wait for the one that builds it (a lock in
# tests/container/harness.py). `-n 0` after the script's name runs all in one process.
exec pytest --numprocesses 4 "$@"
