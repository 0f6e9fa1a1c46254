#!/usr/bin/env bash
# Converts MediaPipe's person models into models/person/ and rewrites the parity fixtures in
# tests/fixtures/person/, in a virtual environment of their own (created on first use; the
# training venv's PyTorch is not needed here).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
fi
"$venv/bin/pip" install -q -r "$here/requirements.txt"
cd "$root"
"$venv/bin/python" "$here/convert.py" --out models/person
"$venv/bin/python" "$here/make_fixtures.py" --out tests/fixtures/person
