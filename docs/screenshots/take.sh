#!/usr/bin/env bash
# Screenshots of the real app for README and the AppStream metadata: starts the release binary
# under Xvfb once per view (`--view`), with a sample person and garment, waits for the try-on
# and captures the window (the same run as the CI smoke test). The sample person is one on whom
# the default model does as well as on the typical val person (models/default/MODEL_CARD.md
# shows the weak cases too); SMOKE_PERSON / SMOKE_GARMENT choose others.
#
#   cargo build --release && docs/screenshots/take.sh [extra app arguments, e.g. --model DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
export SMOKE_PERSON=${SMOKE_PERSON:-assets/persons/001360_0.jpg}
export SMOKE_GARMENT=${SMOKE_GARMENT:-assets/wardrobe/red-sweet-print-tee.jpg}
for view in try-on before-after warped-garment flow-colour flow-arrows flow-grid; do
  .ci/gui-smoke.sh target/release/fitting-room "target/screenshots/$view" --view "$view" "$@" >/dev/null
  name=$view
  [ "$view" = try-on ] && name=main-window
  cp "target/screenshots/$view/window.png" "docs/screenshots/$name.png"
  echo "docs/screenshots/$name.png"
done
