#!/usr/bin/env bash
# Build the container tests' image with rootful podman, as the tests do (needs root).
# The first run installs podman & co. with apt-get and makes a local stand-in for the
# python slim base image (about a minute), saying so first; later runs take seconds.
# The stand-in carries this machine's CA certificates, so the result is tagged
# localhost/update-job-test:<version>, never with the production name: for tests only.
#
#   bash tests/container/build-image.sh              # -> localhost/update-job-test:<version>
#   bash tests/container/build-image.sh --base IMG   # build on another base image
#
# Then run it through the configured podman:
#   "$(python3 tests/container/harness.py shim)/podman" run --rm localhost/update-job-test:0.1.0 update-job --help
#
# The image users build and deploy: `docker build -t localhost/update-job:0.1.0 .`
# (docs/container.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=python3
if [ -x .venv/bin/python ]; then python=.venv/bin/python; fi
exec "$python" tests/container/harness.py build "$@"
