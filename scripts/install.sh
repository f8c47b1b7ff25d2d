#!/usr/bin/env bash
# Installs libgrlm for C and C++ apps under PREFIX: lib/libgrlm.so and libgrlm.a (debug
# info stripped), include/grlm.h and grlm.hpp, lib/pkgconfig/grlm.pc and
# lib/cmake/grlm/ (find_package(grlm)). Builds the release library first unless
# --no-build is given.
#
# usage: scripts/install.sh [--no-build] PREFIX
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
if [[ ${1:-} == --no-build ]]; then
    build=0
    shift
fi
if [[ $# -ne 1 ]]; then
    echo "usage: $0 [--no-build] PREFIX" >&2
    exit 2
fi
prefix=$1

if ((build)); then
    cargo build --release --locked --lib
fi
libs=${CARGO_TARGET_DIR:-target}/release
for f in libgrlm.so libgrlm.a; do
    [[ -f $libs/$f ]] || { echo "error: $libs/$f is missing; build with cargo build --release" >&2; exit 1; }
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
IFS=. read -r major minor _ <<<"$version"
# rustc's `--print native-static-libs` for linux-gnu; what the static archive needs.
native_libs="-lstdc++ -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

install -d "$prefix/lib/pkgconfig" "$prefix/lib/cmake/grlm" "$prefix/include"
install -m 0644 include/grlm.h bindings/cpp/grlm.hpp "$prefix/include/"
install -m 0755 "$libs/libgrlm.so" "$prefix/lib/"
install -m 0644 "$libs/libgrlm.a" "$prefix/lib/"
# The release profile keeps line tables for backtraces; apps ship without them.
if command -v strip >/dev/null; then
    strip --strip-debug "$prefix/lib/libgrlm.so" "$prefix/lib/libgrlm.a"
fi

fill() {
    sed -e "s|@VERSION@|$version|g" -e "s|@VERSION_MAJOR@|$major|g" \
        -e "s|@VERSION_MINOR@|$minor|g" -e "s|@NATIVE_LIBS@|$native_libs|g" "$1" >"$2"
}
fill bindings/packaging/grlm.pc.in "$prefix/lib/pkgconfig/grlm.pc"
fill bindings/packaging/grlmConfig.cmake.in "$prefix/lib/cmake/grlm/grlmConfig.cmake"
fill bindings/packaging/grlmConfigVersion.cmake.in "$prefix/lib/cmake/grlm/grlmConfigVersion.cmake"
echo "installed libgrlm $version under $prefix"
