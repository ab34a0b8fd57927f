// swift-tools-version:6.1
// libFuzzer targets for Zedge (issue #12, "Fuzzing"): a package of its own so that the root package's
// `swift build --build-tests` never sees them. Build and run them with `make fuzz` (scripts/fuzz.sh), which
// builds with `-sanitize=fuzzer` (libFuzzer's main, coverage feedback) and runs each target for FUZZ_SECONDS.
import PackageDescription

let package = Package(
    name: "zedge-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The root package. Named, so that the products below resolve whatever the checkout's directory is called.
        .package(name: "zedge", path: ".."),
    ],
    targets: [
        // libFuzzer's driver entry point, for the targets' `main` (see FuzzDriver.h).
        .target(name: "FuzzDriver"),
        // The strict JSON scan (StrictJSONScanner) against Foundation's parsers, and the typed decode path.
        .executableTarget(name: "fuzz-json", dependencies: ["FuzzDriver", .product(name: "ZedgeCore", package: "zedge")]),
        // IPv4/IPv6/CIDR/MAC parsers: parse → format → parse round-trips.
        .executableTarget(name: "fuzz-addresses", dependencies: ["FuzzDriver", .product(name: "ZedgeCore", package: "zedge")]),
        // The agent's domain XML rendering of arbitrary specs: the XML parses (libxml2) and keeps the values.
        .executableTarget(
            name: "fuzz-domain-xml",
            dependencies: ["FuzzDriver", .product(name: "ZedgeCore", package: "zedge"), .product(name: "ZedgeAgent", package: "zedge")]),
    ]
)
