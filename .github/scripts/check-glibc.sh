#!/usr/bin/env bash
# Fails when an ELF file needs a newer glibc than the given one:
#   .github/scripts/check-glibc.sh <file.so> <max-glibc>      e.g. libagdiag.so 2.28
# Reads the versioned symbols the file imports (readelf works for any architecture), so a library
# built on a new distro but meant for old ones is caught before it ships.
set -euo pipefail
file="$1"
max="$2"
needed="$(readelf --dyn-syms --wide "$file" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -u -V | tail -n 1)"
if [ -z "$needed" ]; then
  echo "$file imports no versioned glibc symbol" >&2
  exit 1
fi
newest="$(printf '%s\n%s\n' "$needed" "$max" | sort -V | tail -n 1)"
if [ "$newest" != "$max" ]; then
  echo "$file needs glibc $needed, newer than $max:" >&2
  readelf --dyn-syms --wide "$file" | grep -E "GLIBC_$needed( |$)" | sed 's/^/  /' >&2
  exit 1
fi
echo "$file needs glibc $needed (at most $max)"
