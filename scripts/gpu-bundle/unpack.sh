#!/bin/sh
# Checks every piece of a bundle against SHA256SUMS, then joins and unpacks them into DIR.
# A missing or damaged piece stops it before anything is unpacked.
#
#   sh unpack.sh DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
(cd "$here" && sha256sum --check --quiet SHA256SUMS) || {
    echo "error: a bundle piece is missing or damaged (see above); copy it again" >&2
    exit 1
}
mkdir -p "$1"
cat "$here"/bundle.tar.* | tar -C "$1" -xf -
echo "unpacked into $1; next: $1/run.sh RESULTS (or $1/run.sh --dry-run RESULTS on a CPU)" >&2
