#!/usr/bin/env bash
# Renders the app icon (hicolor/scalable/apps/*.svg) to the PNG sizes of the hicolor theme and
# to the Windows .ico. Run after editing the SVG; the results are committed, so packaging needs
# neither tool. Needs rsvg-convert (librsvg2-bin) and ImageMagick's convert.
set -euo pipefail
cd "$(dirname "$0")"
id=io.github.fitting_room.fitting_room
svg=hicolor/scalable/apps/$id.svg
for size in 16 32 48 64 128 256 512; do
  mkdir -p "hicolor/${size}x${size}/apps"
  rsvg-convert --width "$size" --height "$size" "$svg" --output "hicolor/${size}x${size}/apps/$id.png"
done
# Windows takes one .ico holding the sizes it shows (title bar, taskbar, Explorer).
convert hicolor/{16x16,32x32,48x48,64x64,256x256}/apps/$id.png -strip ../windows/fitting-room.ico
