// swift-tools-version:5.7
//
// Swift binding of libgrlm. The C side comes from one of two places, chosen below:
// - `Grlm.xcframework` next to this file (made by scripts/build-xcframework.sh): the
//   static library for every Apple platform and simulator, what an iOS app ships;
// - otherwise a libgrlm the linker finds on its search path (`cargo build --release`,
//   then `swift build -Xlinker -L../../target/release`): quick iteration on a Mac.
// Both are exposed as the module `CGrlm`, so the `Grlm` target is the same either way.
import Foundation
import PackageDescription

let packageDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
let useXCFramework = FileManager.default.fileExists(
    atPath: packageDirectory.appendingPathComponent("Grlm.xcframework").path
)

let cTarget: Target = useXCFramework
    ? .binaryTarget(name: "CGrlm", path: "Grlm.xcframework")
    // A system library target compiles nothing: it only gives Swift the module map of a
    // library built elsewhere (by cargo), which is all libgrlm needs.
    : .systemLibrary(name: "CGrlm", path: "Sources/CGrlm")

let apple: [Platform] = [.macOS, .iOS]

let package = Package(
    name: "Grlm",
    // Also the deployment targets scripts/build-xcframework.sh compiles for, so the
    // static library is never newer than the apps that link it.
    platforms: [.macOS(.v11), .iOS(.v14)],
    products: [
        .library(name: "Grlm", targets: ["Grlm"]),
    ],
    targets: [
        cTarget,
        .target(
            name: "Grlm",
            dependencies: ["CGrlm"],
            // The static libgrlm bundles llama.cpp but not what llama.cpp links against
            // (the same list as llama-cpp-sys-2's build script); a dylib needs none of it,
            // and linking it anyway is harmless.
            linkerSettings: [
                .linkedLibrary("c++", .when(platforms: apple)),
                .linkedFramework("Foundation", .when(platforms: apple)),
                .linkedFramework("Accelerate", .when(platforms: apple)),
                .linkedFramework("Metal", .when(platforms: apple)),
                .linkedFramework("MetalKit", .when(platforms: apple)),
                .linkedLibrary("stdc++", .when(platforms: [.linux])),
            ]
        ),
    ]
)
