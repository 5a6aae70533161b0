#!/usr/bin/env bash
# The project's checks: lint, types and the test suite (against a local moto SNS/SQS endpoint
# that the tests start themselves). Sets up .venv from the project's own files first.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not container" -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
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
exec pytest "$@"
