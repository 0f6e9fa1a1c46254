#!/usr/bin/env bash
# Runs the reference model's Python tests in a local virtual environment (created on first use).
set -euo pipefail
cd "$(dirname "$0")"
venv=".venv"
if [ ! -x "$venv/bin/python" ]; then
  # FITTING_ROOM_VENV_CACHE: the environment (about 6 GB) lives there, linked as .venv, so
  # clones on one machine share it (.ci/run sets it).
  home="${FITTING_ROOM_VENV_CACHE:-$venv}"
  if [ ! -x "$home/bin/python" ]; then
    rm -rf "$home"
    mkdir -p "$(dirname "$home")"
    python3 -m venv "$home"
    "$home/bin/pip" install -q --no-cache-dir --upgrade pip
  fi
  if [ "$home" != "$venv" ]; then
    rm -rf "$venv"
    ln -s "$home" "$venv"
  fi
fi
# No wheel cache: PyTorch's Linux wheels bring about 3 GB of CUDA libraries, and a cached copy
# of them beside the installed one has filled a CI machine's disk.
"$venv/bin/pip" install -q --no-cache-dir -r requirements.txt
"$venv/bin/python" -m pytest -q tests
