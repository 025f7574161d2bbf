#!/usr/bin/env bash
# Installs every Debian package scentrack's build, tests and demo need. Idempotent:
# a second run installs nothing and takes a second. Both README commands call it,
# so a fresh Debian 12 machine needs no manual step. Add packages here, never by hand.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config git
  # proto/ and everything above it
  libmsgpack-dev libzmq3-dev libsqlite3-dev libserialport-dev libusb-1.0-0-dev libinih-dev
  # tests: Criterion unit tests, peers nobody here wrote (python3-msgpack, scikit-learn, scipy)
  libcriterion-dev python3 python3-msgpack python3-numpy python3-sklearn python3-scipy
  # fuzzing (libFuzzer ships in clang's runtime package)
  clang libclang-rt-14-dev
  # exports are judged by tools nobody here wrote: ogrinfo (GDAL) and xmllint (libxml2)
  gdal-bin libxml2-utils
  # gateway: systemd notify/watchdog; the USB dock is tested against umockdev's emulated devices
  libsystemd-dev umockdev libumockdev-dev
  # scentrack-core's web server: libmicrohttpd runs inside the core's one event loop (external epoll)
  libmicrohttpd-dev
  # the collar core is cross-compiled for a Cortex-M4 in CI
  gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi
  # ... and its MCU image boots in an emulated Cortex-M4 board (mps2-an386)
  qemu-system-arm
  # the web map's browser tests drive Debian's Chromium (playwright-core downloads no browser)
  chromium
)

# Node.js and npm: the machine image's (node >= 20) when present, else Debian's.
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present" >&2
elif [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install: ${missing[*]} (run with sudo)" >&2
  exit 1
else
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# npm packages, pinned by their lockfiles: Leaflet for the web map (copied into the build by CMake) and
# playwright-core for its browser tests. `npm ci` only when node_modules does not match the lockfile, so a
# second run needs no network. Node.js and npm come with the machine image (node >= 20).
npm_ci() {
  local dir=$1
  if ! command -v npm >/dev/null; then
    echo "install-deps: npm not found: install Node.js >= 20 with npm (needed for $dir)" >&2
    return 1
  fi
  if [ -f "$dir/node_modules/.package-lock.json" ] &&
     node -e 'const a=require(process.argv[1]).packages,b=require(process.argv[2]).packages;
              for (const k in a) if (k && (!b[k] || b[k].integrity !== a[k].integrity)) process.exit(1);' \
          "$(realpath "$dir/package-lock.json")" "$(realpath "$dir/node_modules/.package-lock.json")"; then
    return 0
  fi
  echo "install-deps: npm ci in $dir" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --prefer-offline >&2)
}
here=$(cd "$(dirname "$0")/.." && pwd)
npm_ci "$here/analysis/web"
npm_ci "$here/tests/web"

