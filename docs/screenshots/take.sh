#!/usr/bin/env bash
# Screenshots of the real app for README and the AppStream metadata: starts the release binary
# under Xvfb once per view (`--view`), with a sample person and garment, waits for the try-on
# and captures the window (the same run as the CI smoke test).
#
#   cargo build --release && docs/screenshots/take.sh [extra app arguments, e.g. --model DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
for view in try-on before-after warped-garment flow-colour flow-arrows flow-grid; do
  .ci/gui-smoke.sh target/release/fitting-room "target/screenshots/$view" --view "$view" "$@" >/dev/null
  name=$view
  [ "$view" = try-on ] && name=main-window
  cp "target/screenshots/$view/window.png" "docs/screenshots/$name.png"
  echo "docs/screenshots/$name.png"
done
