#!/usr/bin/env bash
# Assembles "Fitting Room.app" from a release build (macOS only; not built or tested in CI):
#
#   Contents/Info.plist                       this folder's Info.plist (camera usage text)
#   Contents/MacOS/fitting-room               the program
#   Contents/Resources/FittingRoom.icns       the app icon, from packaging/icons
#   Contents/Resources/wardrobe, persons      the bundled garments and sample photos
#   Contents/Resources/models/default         the default model, when models/default has one
#
# The program finds these from Contents/MacOS through ../Resources (src/resources.rs).
#
#   packaging/macos/make-app.sh [output-folder]      default: target/macos
#
# Environment: FEATURES (cargo features, e.g. "metal"); SIGN_IDENTITY (a Developer ID
# Application identity: signs with the hardened runtime and the camera entitlement, as
# notarisation needs; without it the bundle is signed ad hoc, which runs on this Mac only).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-target/macos}
app="$out/Fitting Room.app"

[ "$(uname -s)" = Darwin ] || { echo "make-app.sh: needs macOS (iconutil, codesign)" >&2; exit 1; }

cargo build --release --locked ${FEATURES:+--features "$FEATURES"}

rm -rf "$app"
mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
cp packaging/macos/Info.plist "$app/Contents/Info.plist"
cp target/release/fitting-room "$app/Contents/MacOS/fitting-room"
cp -R assets/wardrobe "$app/Contents/Resources/wardrobe"
cp -R assets/persons "$app/Contents/Resources/persons"
if [ -f models/default/warp.safetensors ]; then
  mkdir -p "$app/Contents/Resources/models"
  cp -R models/default "$app/Contents/Resources/models/default"
else
  echo "make-app.sh: models/default holds no model; the bundle carries none" >&2
fi

# iconutil takes an .iconset of the sizes Finder and the Dock use (the @2x ones are Retina).
iconset=$(mktemp -d)/FittingRoom.iconset
mkdir -p "$iconset"
png() { echo "packaging/icons/hicolor/${1}x${1}/apps/io.github.fitting_room.fitting_room.png"; }
cp "$(png 16)" "$iconset/icon_16x16.png"
cp "$(png 32)" "$iconset/icon_16x16@2x.png"
cp "$(png 32)" "$iconset/icon_32x32.png"
cp "$(png 64)" "$iconset/icon_32x32@2x.png"
cp "$(png 128)" "$iconset/icon_128x128.png"
cp "$(png 256)" "$iconset/icon_128x128@2x.png"
cp "$(png 256)" "$iconset/icon_256x256.png"
cp "$(png 512)" "$iconset/icon_256x256@2x.png"
cp "$(png 512)" "$iconset/icon_512x512.png"
iconutil --convert icns --output "$app/Contents/Resources/FittingRoom.icns" "$iconset"

if [ -n "${SIGN_IDENTITY:-}" ]; then
  codesign --force --options runtime --timestamp \
    --entitlements packaging/macos/entitlements.plist --sign "$SIGN_IDENTITY" "$app"
else
  codesign --force --sign - "$app"
fi
echo "$app"
