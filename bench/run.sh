#!/usr/bin/env bash
# Set up the AWS CLI's venv if needed, then run the benchmark: bash bench/run.sh [--runs N] [--check]
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/setup.sh >/dev/null
exec .venv/bin/python bench/run.py "$@"
