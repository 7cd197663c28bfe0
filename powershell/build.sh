#!/usr/bin/env bash
# Builds the AgDiag native library and copies it into the module: powershell/AgDiag/bin/<rid>/.
# Linux and macOS; on Windows use build.ps1. Afterwards: pwsh -c 'Import-Module ./powershell/AgDiag'.
#   AGDIAG_PROFILE=dev powershell/build.sh   # a debug build instead of --release
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
profile="${AGDIAG_PROFILE:-release}"

case "$(uname -s)" in
  Linux) os=linux; file=libagdiag.so ;;
  Darwin) os=osx; file=libagdiag.dylib ;;
  *) echo "build.sh: unsupported OS $(uname -s); on Windows run powershell/build.ps1" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "build.sh: no AgDiag build for architecture $(uname -m) (x64 and arm64 are supported)" >&2; exit 1 ;;
esac
rid="$os-$arch"

cargo build --locked --lib --profile "$profile" --manifest-path "$repo/Cargo.toml"

# cargo's output folder is named after the profile, except dev → debug.
out_dir="$profile"
[ "$profile" = dev ] && out_dir=debug
source_file="${CARGO_TARGET_DIR:-$repo/target}/$out_dir/$file"
dest="$here/AgDiag/bin/$rid"
mkdir -p "$dest"
cp "$source_file" "$dest/$file"

echo "AgDiag module ready: $here/AgDiag"
echo "  native library: $dest/$file"
echo "  try: pwsh -NoProfile -Command \"Import-Module '$here/AgDiag'; Get-AgCheck\""
