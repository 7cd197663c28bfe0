#!/usr/bin/env bash
# Builds the AgDiag PowerShell module on Linux and macOS (on Windows use build.ps1):
#   powershell/build.sh                      the native library into powershell/AgDiag/bin/<rid>/ and
#                                            the interop into powershell/AgDiag/AgDiag.Native.dll
#   powershell/build.sh --package <dir>      the same, then a Gallery-ready module in <dir>/AgDiag/
#   powershell/build.sh --package <dir> --runtimes <dir2>
#                                            no cargo: <dir2>/<rid>/<library> for every runtime built
#                                            elsewhere (the release workflow), all into one package
#   powershell/build.sh --interop <file.dll> only the interop assembly (the Mono tests)
#   AGDIAG_PROFILE=dev powershell/build.sh   a debug build instead of --release
#   AGDIAG_PROJECT_URI=https://host/owner/repo AGDIAG_PROJECT_REVISION=<commit or tag>
#                                            the package's ProjectUri and LicenseUri (the release workflow)
# Needs cargo (unless --runtimes) and Mono's C# compiler, mcs (Debian: mono-mcs; macOS: brew install mono).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
module="$here/AgDiag"
profile="${AGDIAG_PROFILE:-release}"

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

package_dir=""
runtimes_dir=""
interop_only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --package) [ $# -ge 2 ] || usage; package_dir="$2"; shift 2 ;;
    --runtimes) [ $# -ge 2 ] || usage; runtimes_dir="$2"; shift 2 ;;
    --interop) [ $# -ge 2 ] || usage; interop_only="$2"; shift 2 ;;
    -h | --help) usage ;;
    *) echo "build.sh: unknown argument $1" >&2; usage ;;
  esac
done
if [ -n "$runtimes_dir" ] && [ -z "$package_dir" ]; then
  echo "build.sh: --runtimes goes with --package" >&2
  exit 2
fi

library_file() {
  case "$1" in
    win-*) echo agdiag.dll ;;
    osx-*) echo libagdiag.dylib ;;
    *) echo libagdiag.so ;;
  esac
}

# The module version (the manifest's ModuleVersion, which a test keeps equal to the crate's).
module_version() {
  sed -n "s/^[[:space:]]*ModuleVersion[[:space:]]*=[[:space:]]*'\([0-9.]*\)'.*/\1/p" "$module/AgDiag.psd1"
}

# AgDiag.Native.cs → a .NET Framework 4.5 library: C# 5 (what Windows PowerShell 5.1 compiles)
# against the 4.5 reference assemblies, which Windows PowerShell 5.1 and PowerShell 7 both load.
# The assembly version is the module version: AgDiag.psm1 compares them to detect an old interop
# still loaded in the session.
compile_interop() {
  local out="$1"
  command -v mcs > /dev/null || {
    echo "build.sh: mcs (Mono's C# compiler) is needed to compile the interop: apt-get install mono-mcs, or brew install mono" >&2
    exit 1
  }
  local version info
  version="$(module_version)"
  [ -n "$version" ] || { echo "build.sh: no ModuleVersion in $module/AgDiag.psd1" >&2; exit 1; }
  info="$(mktemp "${TMPDIR:-/tmp}/agdiag-assembly-info.XXXXXX")"
  mv "$info" "$info.cs"
  info="$info.cs"
  cat > "$info" << EOF
[assembly: System.Reflection.AssemblyVersion("$version.0")]
[assembly: System.Reflection.AssemblyFileVersion("$version.0")]
[assembly: System.Reflection.AssemblyInformationalVersion("$version")]
[assembly: System.Reflection.AssemblyTitle("AgDiag PowerShell interop")]
EOF
  mkdir -p "$(dirname "$out")"
  if ! mcs -langversion:5 -target:library -optimize+ -warnaserror+ -nologo \
    "-out:$out" "$module/AgDiag.Native.cs" "$info"; then
    rm -f "$info"
    exit 1
  fi
  rm -f "$info"
}

if [ -n "$interop_only" ]; then
  compile_interop "$interop_only"
  exit 0
fi

# The runtime of this machine, named like the module's bin/<rid>/ folders.
host_rid() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=osx ;;
    *) echo "build.sh: unsupported OS $(uname -s); on Windows run powershell/build.ps1" >&2; exit 1 ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "build.sh: no AgDiag build for architecture $(uname -m) (x64 and arm64 are supported)" >&2; exit 1 ;;
  esac
  echo "$os-$arch"
}

if [ -z "$runtimes_dir" ]; then
  rid="$(host_rid)"
  file="$(library_file "$rid")"
  cargo build --locked --lib --profile "$profile" --manifest-path "$repo/Cargo.toml"
  # cargo's output folder is named after the profile, except dev → debug.
  out_dir="$profile"
  [ "$profile" = dev ] && out_dir=debug
  built="${CARGO_TARGET_DIR:-$repo/target}/$out_dir/$file"
fi

if [ -z "$package_dir" ]; then
  dest="$module/bin/$rid"
  mkdir -p "$dest"
  cp "$built" "$dest/$file"
  compile_interop "$module/AgDiag.Native.dll"
  echo "AgDiag module ready: $module"
  echo "  native library: $dest/$file"
  echo "  try: pwsh -NoProfile -Command \"Import-Module '$module'; Get-AgCheck\""
  exit 0
fi

# ---- the package: <dir>/AgDiag/, what Publish-Module uploads (the source folder is not touched) ----
mkdir -p "$package_dir"
package="$(cd "$package_dir" && pwd)/AgDiag"
rm -rf "$package"
mkdir -p "$package"
cp "$module/AgDiag.psd1" "$module/AgDiag.psm1" "$module/AgDiag.format.ps1xml" "$package/"
cp -R "$module/Public" "$module/Private" "$module/en-US" "$module/sql" "$package/"
cp "$repo/LICENSE-MIT" "$repo/LICENSE-APACHE" "$package/"
compile_interop "$package/AgDiag.Native.dll"

if [ -n "$runtimes_dir" ]; then
  found=0
  for folder in "$runtimes_dir"/*/; do
    rid="$(basename "$folder")"
    file="$(library_file "$rid")"
    [ -f "$folder/$file" ] || { echo "build.sh: $folder has no $file" >&2; exit 1; }
    mkdir -p "$package/bin/$rid"
    cp "$folder/$file" "$package/bin/$rid/$file"
    found=$((found + 1))
  done
  [ "$found" -gt 0 ] || { echo "build.sh: no <rid>/ folders in $runtimes_dir" >&2; exit 1; }
else
  mkdir -p "$package/bin/$rid"
  cp "$built" "$package/bin/$rid/$file"
fi

# FileList: every file of the package, so the Gallery and Test-ModuleManifest see them all.
files="$(cd "$package" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | sed "s/.*/'&'/" | paste -sd, - | sed 's/,/, /g')"
manifest="$package/AgDiag.psd1"
[ "$(grep -c '^[[:space:]]*FileList[[:space:]]*=' "$manifest")" = 1 ] || { echo "build.sh: the manifest needs exactly one FileList line" >&2; exit 1; }
tmp="$manifest.tmp"
awk -v files="$files" '/^[[:space:]]*FileList[[:space:]]*=/ { sub(/=.*/, "= @(" files ")") } { print }' "$manifest" > "$tmp"
# Where the project and its licence live, pinned to the commit built: links that resolve.
if [ -n "${AGDIAG_PROJECT_URI:-}" ]; then
  revision="${AGDIAG_PROJECT_REVISION:-main}"
  awk -v project="$AGDIAG_PROJECT_URI" -v licence="$AGDIAG_PROJECT_URI/blob/$revision/LICENSE-MIT" '
    { print }
    /^[[:space:]]*PSData[[:space:]]*=[[:space:]]*@\{/ {
      print "            ProjectUri   = '\''" project "'\''"
      print "            LicenseUri   = '\''" licence "'\''"
    }' "$tmp" > "$tmp.2"
  mv "$tmp.2" "$tmp"
fi
mv "$tmp" "$manifest"

echo "AgDiag package ready: $package"
(cd "$package" && find bin -type f | LC_ALL=C sort | sed 's/^/  /')
