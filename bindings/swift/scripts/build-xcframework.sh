#!/usr/bin/env bash
# Builds bindings/swift/Grlm.xcframework: libgrlm as a static library for iOS devices, the
# iOS simulator (arm64 + x86_64) and macOS (arm64 + x86_64), with grlm.h and the CGrlm
# module map, so that Package.swift's binary target can use it.
#
# Usage: bindings/swift/scripts/build-xcframework.sh   (on macOS, with Xcode and rustup)
set -euo pipefail

die() {
    printf 'build-xcframework: %s\n' "$1" >&2
    exit 1
}

[[ "$(uname -s)" == "Darwin" ]] || die "needs macOS with Xcode (xcodebuild, lipo); this is $(uname -s)"
for tool in cargo rustup xcodebuild lipo; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not on PATH"
done

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
swift_dir="$(cd "$script_dir/.." && pwd)"
repo_root="$(cd "$swift_dir/../.." && pwd)"
output="$swift_dir/Grlm.xcframework"

targets=(
    aarch64-apple-ios
    aarch64-apple-ios-sim
    x86_64-apple-ios
    aarch64-apple-darwin
    x86_64-apple-darwin
)

# Fail before an hour of compiling rather than at the third target.
installed="$(rustup target list --installed)"
missing=()
for target in "${targets[@]}"; do
    grep -qx "$target" <<<"$installed" || missing+=("$target")
done
if ((${#missing[@]} > 0)); then
    die "missing rustup targets: ${missing[*]}; install them with: rustup target add ${missing[*]}"
fi

# The same minimums as Package.swift's platforms, so no object is newer than the apps
# that link it (rustc, cc and cmake all read these).
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-14.0}"
export MACOSX_DEPLOYMENT_TARGET="${MACOSX_DEPLOYMENT_TARGET:-11.0}"

for target in "${targets[@]}"; do
    printf 'build-xcframework: building %s\n' "$target"
    # Only the static library: the crate's cdylib is of no use inside an XCFramework.
    cargo rustc --manifest-path "$repo_root/Cargo.toml" --release --lib \
        --target "$target" --crate-type staticlib
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

lib() {
    printf '%s/target/%s/release/libgrlm.a' "$repo_root" "$1"
}

# An XCFramework holds one library per platform, so each platform's architectures are
# merged into one fat archive first.
mkdir -p "$work/ios-simulator" "$work/macos"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$work/ios-simulator/libgrlm.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$work/macos/libgrlm.a"

# Headers go in a CGrlm/ subdirectory: Xcode copies every XCFramework's headers into one
# include directory, where two top-level module.modulemap files would collide; clang
# still finds the module map at <include>/CGrlm/module.modulemap.
headers="$work/headers"
mkdir -p "$headers/CGrlm"
cp "$repo_root/include/grlm.h" "$headers/CGrlm/grlm.h"
# No `link` line: Xcode links an XCFramework's library itself, and the libraries libgrlm
# needs come from the Grlm target's linker settings in Package.swift.
cat >"$headers/CGrlm/module.modulemap" <<'MODULEMAP'
module CGrlm [system] {
    header "grlm.h"
    export *
}
MODULEMAP

rm -rf "$output"
xcodebuild -create-xcframework \
    -library "$(lib aarch64-apple-ios)" -headers "$headers" \
    -library "$work/ios-simulator/libgrlm.a" -headers "$headers" \
    -library "$work/macos/libgrlm.a" -headers "$headers" \
    -output "$output"

printf 'build-xcframework: wrote %s\n' "$output"
