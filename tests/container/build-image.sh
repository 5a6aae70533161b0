#!/usr/bin/env bash
# Build the update-job image with rootful podman, as the container tests do (needs root).
# The first run installs podman & co. with apt-get and makes a local stand-in for the
# python slim base image (about a minute); later runs take seconds.
#
#   bash tests/container/build-image.sh              # -> localhost/update-job:<version>
#   bash tests/container/build-image.sh --base IMG   # build on another base image
#
# Then run it through the configured podman:
#   "$(python3 tests/container/harness.py shim)/podman" run --rm localhost/update-job:0.1.0 update-job --help
set -euo pipefail
cd "$(dirname "$0")/../.."
python=python3
if [ -x .venv/bin/python ]; then python=.venv/bin/python; fi
exec "$python" tests/container/harness.py build "$@"
