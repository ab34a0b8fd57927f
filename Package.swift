// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "zedge",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ZedgeCore", targets: ["ZedgeCore"]),
        .library(name: "ZedgeCoordinator", targets: ["ZedgeCoordinator"]),
        .library(name: "ZedgeAgent", targets: ["ZedgeAgent"]),
        .executable(name: "zedge-coordinator", targets: ["zedge-coordinator"]),
        .executable(name: "zedge-agent", targets: ["zedge-agent"]),
        .executable(name: "zedgectl", targets: ["zedgectl"]),
        .executable(name: "zedge-bench", targets: ["zedge-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0",
                 traits: [.defaults, "CommandLineArguments"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        // The coordinator's side of console tunnels (issue #16): HTTP/1.1 upgrades to WebSocket.
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        // zedgectl: `-o yaml` and the terminal progress bar.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/console-kit.git", from: "4.16.2"),
    ],
    targets: [
        // C system libraries (agent side).
        .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt",
                       providers: [.apt(["libvirt-dev"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0",
                       providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CSQLite3", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        // RFC 6455 framing for the console tunnel's WebSocket client (no pkg-config file: linked by name).
        .systemLibrary(name: "CWslay", providers: [.apt(["libwslay-dev"])]),

        // posix_spawn(3) with glibc's closefrom and chdir file actions, for the tests' child processes.
        .target(name: "CSpawn"),

        .target(name: "ZedgeCore", swiftSettings: strict),
        // HTTPS to the coordinator over libcurl with a pinned CA: the agent's and zedgectl's one client.
        .target(
            name: "ZedgeTransport",
            dependencies: ["ZedgeCore", "CCurl", "CWslay", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(
            name: "ZedgeCoordinator",
            dependencies: [
                "ZedgeCore", "CSQLite3",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ZedgeAgent",
            dependencies: [
                "ZedgeCore", "ZedgeTransport", "CLibvirt", "CLibXML2", "CCurl", "CSQLite3",
                .product(name: "Logging", package: "swift-log"),
                // SHA-256 of downloaded images (BoringSSL's assembly: hashing keeps up with the wire).
                .product(name: "Crypto", package: "swift-crypto"),
                // Helper programs (xorriso, ovs-vsctl, systemctl) without Foundation's Process.
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "zedge-coordinator",
            dependencies: [
                "ZedgeCoordinator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "zedge-agent",
            dependencies: [
                "ZedgeAgent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The admin CLI's library: client, session (contexts, credentials), output, progress and commands.
        // Links libcurl (ZedgeTransport), not SwiftNIO's server side: the .deb is built from it.
        .target(
            name: "ZedgeCLI",
            dependencies: [
                "ZedgeCore", "ZedgeTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ConsoleKitTerminal", package: "console-kit"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "zedgectl",
            dependencies: ["ZedgeCLI"],
            swiftSettings: strict
        ),
        // `make bench`: simulated agents against a real coordinator and a bare Hummingbird ceiling. Not a test.
        .executableTarget(
            name: "zedge-bench",
            dependencies: [
                "ZedgeCore", "ZedgeCoordinator", "ZedgeAgent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // What the test targets share: child processes without Foundation's `Process` (SpawnedProcess), a seeded generator.
        .target(name: "ZedgeTestSupport", dependencies: ["CSpawn"], path: "Tests/ZedgeTestSupport", swiftSettings: strict),
        .testTarget(name: "ZedgeCoreTests", dependencies: ["ZedgeCore", "ZedgeTestSupport"], swiftSettings: strict),
        .testTarget(name: "ZedgeCLITests", dependencies: ["ZedgeCLI", "ZedgeCore", .product(name: "Yams", package: "Yams")], swiftSettings: strict),
        .testTarget(name: "ZedgeAgentTests", dependencies: ["ZedgeAgent", "ZedgeCore", "ZedgeTransport", "ZedgeTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ZedgeCoordinatorTests",
            dependencies: [
                "ZedgeCoordinator", "ZedgeCore", "ZedgeAgent", "ZedgeTransport", "ZedgeTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
    ]
)
