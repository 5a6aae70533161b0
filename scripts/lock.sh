#!/usr/bin/env bash
# Regenerate the committed locks that scripts/test.sh installs from, with uv (the version
# pinned in requirements/bootstrap.lock, set up in .venv by scripts/test.sh):
#   requirements/bootstrap.lock   uv and pip, from requirements/bootstrap.in
#   requirements/test.lock        update-job's dependencies with the cwl, local and test
#                                 extras, from pyproject.toml
# Exact versions with their hashes, for every platform (--universal), Python 3.11 and newer.
#
#   bash scripts/lock.sh                        # follow pyproject.toml; keep the other pins
#   bash scripts/lock.sh --upgrade              # take the newest releases of everything
#   bash scripts/lock.sh --upgrade-package moto # the newest moto, the rest as pinned
#
# Then run `bash scripts/test.sh` and commit requirements/ with the change that needed it.
set -euo pipefail
cd "$(dirname "$0")/.."

uv=.venv/bin/uv
if [ ! -x "$uv" ]; then
    echo "lock: no $uv: run 'bash scripts/test.sh' once first (it installs uv into .venv)" >&2
    exit 2
fi
compile=("$uv" pip compile --quiet --generate-hashes --universal --python-version 3.11
    --custom-compile-command "bash scripts/lock.sh")
"${compile[@]}" "$@" requirements/bootstrap.in -o requirements/bootstrap.lock
"${compile[@]}" "$@" pyproject.toml --extra test -o requirements/test.lock
echo "lock: wrote requirements/bootstrap.lock and requirements/test.lock" >&2
