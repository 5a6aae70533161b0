#!/usr/bin/env bash
# The benchmark's own venv for the AWS CLI (bench/.venv-awscli, not in git): awscli is kept
# out of the project's venv so its pins never move the botocore update-job is tested with.
# Needs the project's venv (.venv) for moto; scripts/test.sh sets that up.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=bench/.venv-awscli
if [[ ! -x $venv/bin/aws ]]; then
    .venv/bin/python -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet awscli
fi
"$venv/bin/aws" --version
# update-job installed from this tree as a user installs it (not editable), with the bench
# extra (boto3, for the one-liner); reinstalled every time so it is the code in the tree.
app=bench/.venv-update-job
if [[ ! -x $app/bin/python ]]; then
    .venv/bin/python -m venv "$app"
fi
"$app/bin/python" -m pip install --quiet --upgrade --force-reinstall --no-deps .
"$app/bin/python" -m pip install --quiet '.[bench]'
