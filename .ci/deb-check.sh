#!/usr/bin/env bash
# Debian package check: builds the .deb with cargo-deb, validates its desktop entry and AppStream
# metadata, unpacks it into a scratch root and runs the unpacked program from an empty folder,
# where only the package's own files can be found: `--version`, a headless try-on of a bundled
# sample person in a bundled garment, and (with Xvfb) the app's window, which must find the
# bundled wardrobe. A scratch root behaves like / here because the program finds its files
# relative to itself (<root>/usr/bin -> <root>/usr/share/fitting-room).
#
#   .ci/deb-check.sh [output-folder]
#
# The package carries the default model (models/default); the try-on and the window must use
# the installed copy.
set -euo pipefail
self=$(realpath "$0")
cd "$(dirname "$self")/.."

# Runs the unpacked program ($app) in the empty folder $work with no overrides, so only the
# lookup relative to the program can find its files.
run_installed() {
  (cd "$work" && env -u FITTING_ROOM_MODEL -u FITTING_ROOM_WARDROBE \
    FITTING_ROOM_DATA_DIR="$work/data" XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/share" \
    "$app" "$@")
}

# Inside Xvfb: starts the installed app from the empty folder on a sample person and garment,
# waits for the try-on, and checks the window's class.
if [ "${1:-}" = "--in-display" ]; then
  shift
  app=$1 work=$2 log=$3 person=$4 garment=$5
  shift 5
  RUST_LOG=info run_installed --person "$person" --garment "$garment" "$@" >"$log" 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 240); do
    grep -q "try-on shown" "$log" && break
    kill -0 $pid 2>/dev/null || { cat "$log"; echo "deb-check: the app exited early" >&2; exit 1; }
    sleep 0.5
  done
  grep -q "try-on shown" "$log" || { cat "$log"; echo "deb-check: no try-on within 120 s" >&2; exit 1; }
  # The desktop entry's StartupWMClass names this class.
  window=$(xdotool search --class '^io\.github\.fitting_room\.fitting_room$' | head -n 1 || true)
  [ -n "$window" ] || { echo "deb-check: no window of class io.github.fitting_room.fitting_room" >&2; exit 1; }
  echo "window $window has the desktop entry's class"
  exit 0
fi

repo=$(pwd)
out=$(realpath -m "${1:-target/deb-check}")

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "deb-check: $*" >&2; exit 1; }

for tool in dpkg-deb desktop-file-validate appstreamcli identify; do
  command -v "$tool" >/dev/null ||
    fail "$tool is missing (Debian/Ubuntu: dpkg, desktop-file-utils, appstream, imagemagick)"
done

step "cargo-deb"
if ! cargo deb --version >/dev/null 2>&1; then
  cargo install cargo-deb --locked
fi
cargo deb --version

step "build the package"
[ -f models/default/warp.safetensors ] && [ -f models/default/gen.safetensors ] ||
  fail "models/default holds no model to package"
# cargo-deb runs `cargo build --release`, which reuses the release build of the tests, and
# prints the package's path last.
deb=$(cargo deb --locked | tail -n 1)
[ -f "$deb" ] || fail "cargo deb made no package (got '$deb')"
mkdir -p "$out"
cp "$deb" "$out/"
deb="$out/$(basename "$deb")"
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"

step "unpack into a scratch root"
root="$out/root"
rm -rf "$root"
dpkg-deb -x "$deb" "$root"
app="$root/usr/bin/fitting-room"
share="$root/usr/share/fitting-room"
for path in "$app" "$share/wardrobe/wardrobe.json" "$share/persons" \
  "$root/usr/share/applications/io.github.fitting_room.fitting_room.desktop" \
  "$root/usr/share/metainfo/io.github.fitting_room.fitting_room.metainfo.xml" \
  "$root/usr/share/icons/hicolor/scalable/apps/io.github.fitting_room.fitting_room.svg" \
  "$root/usr/share/icons/hicolor/48x48/apps/io.github.fitting_room.fitting_room.png"; do
  [ -e "$path" ] || fail "the package lacks ${path#"$root"}"
done
[ -f "$share/models/default/warp.safetensors" ] || fail "the package lacks the default model"

step "validate the desktop entry and the AppStream metadata"
desktop-file-validate "$root/usr/share/applications/io.github.fitting_room.fitting_room.desktop"
echo "desktop entry: valid"
appstreamcli validate --no-net --pedantic \
  "$root/usr/share/metainfo/io.github.fitting_room.fitting_room.metainfo.xml"

if command -v apt-get >/dev/null 2>&1; then
  step "the declared dependencies resolve (apt-get --simulate)"
  apt-get install --simulate --no-install-recommends "$deb" >"$out/apt-simulate.log" 2>&1 ||
    { cat "$out/apt-simulate.log"; fail "apt cannot satisfy the package's dependencies"; }
  grep -E '^(Inst|Conf) ' "$out/apt-simulate.log" || echo "nothing to install: every dependency is present"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "fitting-room --version"
version=$(run_installed --version)
echo "$version"
expected=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ "$version" = "fitting-room $expected" ] || fail "expected 'fitting-room $expected'"

step "headless try-on with the installed files, from an empty folder"
person="$share/persons/000523_0.jpg"
garment="$share/wardrobe/red-sweet-print-tee.jpg"
RUST_LOG=info run_installed tryon --person "$person" --garment "$garment" \
  --mask "$share/wardrobe/red-sweet-print-tee.mask.png" --device cpu \
  --out out.png 2>&1 | tee "$out/tryon.log"
grep -qF "model: $share/models/default/warp.safetensors" "$out/tryon.log" ||
  fail "the try-on did not use the installed default model"
read -r format width height spread < <(identify -format '%m %w %h %[fx:standard_deviation]\n' "$work/out.png")
echo "out.png: $format ${width}x${height}, standard deviation $spread"
[ "$format" = PNG ] && [ "$width" = 192 ] && [ "$height" = 256 ] ||
  fail "expected a 192x256 PNG"
awk -v s="$spread" 'BEGIN { exit !(s > 0.02) }' || fail "the result is a flat picture"
cp "$work/out.png" "$out/tryon.png"

step "the installed app's window (Xvfb)"
if ! command -v xvfb-run >/dev/null 2>&1 || ! command -v xdotool >/dev/null 2>&1; then
  echo "skipped: needs xvfb-run and xdotool"
  echo "deb-check passed: $deb"
  exit 0
fi
log="$out/app.log"
xvfb-run -a -s "-screen 0 1400x900x24" \
  "$self" --in-display "$app" "$work" "$log" "$person" "$garment"
grep -E "bundled wardrobe|model .* loaded|try-on shown" "$log"
grep -qF "bundled wardrobe: $share/wardrobe" "$log" ||
  fail "the app did not find the installed wardrobe"
grep -qE "loaded on .*$share/models/default/warp.safetensors" "$log" ||
  fail "the app did not load the installed default model"
echo "deb-check passed: $deb"
