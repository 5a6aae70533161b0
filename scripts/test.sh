#!/usr/bin/env bash
# The project's checks: lint, types and the test suite (against a local moto SNS/SQS endpoint
# that the tests start themselves). Sets up .venv from the project's own files first.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not container" -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    python3 -m venv .venv
fi
echo "== .venv: installing update-job with its test extra (pip)"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

# cwltool runs the CWL tests with the update-job of this venv: it must come first on PATH.
export PATH="$PWD/.venv/bin:$PATH"

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
