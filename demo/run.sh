#!/usr/bin/env bash
# The demo, from a fresh checkout: set up .venv with the project and its cwl and local
# extras (cwltool, moto), start a local SNS -> SQS endpoint (moto_server on 127.0.0.1: a FIFO topic with a queue
# subscribed, like production), run the example workflow with cwltool against it, print
# the job's updates as the queue received them, and stop the endpoint.
#
#   bash demo/run.sh              # the run that succeeds
#   bash demo/run.sh --failure    # and then the run whose stage 1 fails
#
# Needs Python 3.11+ and the package registry (pip); no AWS account, no Docker, no Node.js.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "demo: needs Python 3.11 or newer as '$PYTHON' (set PYTHON=... to choose one)" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    echo "demo: creating .venv and installing update-job with cwltool and moto (a minute or two)" >&2
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[cwl,local]'

exec .venv/bin/python demo/demo.py "$@"
