#!/usr/bin/env bash
# Runs the reference model's Python tests in a local virtual environment (created on first use).
set -euo pipefail
cd "$(dirname "$0")"
venv=".venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
fi
"$venv/bin/pip" install -q -r requirements.txt
"$venv/bin/python" -m pytest -q tests
