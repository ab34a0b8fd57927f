import ArgumentParser
import Dispatch
import Foundation
import Logging
import ZedgeCoordinator
import ZedgeCore

@main
struct ZedgeCoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zedge-coordinator",
        abstract: "The Zedge coordinator: API, placement and task dispatch for the edge fleet.",
        version: ZedgeVersion.current,
        subcommands: [Serve.self, Dev.self, ResetRolePermissions.self])
}

/// The options of DESIGN §9; swift-configuration reads the same flags, over ZEDGE_* variables and the file.
struct ServerOptions: ParsableArguments {
    @Option(help: "A JSON configuration file (flags and ZEDGE_* environment variables override it).")
    var config: String?
    @Option(help: "Address to listen on, HOST:PORT (default 127.0.0.1:8443).")
    var listen: String?
    @Option(help: "Data directory (default /var/lib/zedge; ./.zedge-dev in dev).")
    var dataDir: String?
    @Option(help: "Database URL: sqlite://PATH (default <data-dir>/coordinator.db) or postgres://USER@HOST:PORT/DB.")
    var database: String?
    @Option(help: "TLS certificate chain (PEM); without it the coordinator makes its own CA.")
    var tlsCert: String?
    @Option(help: "TLS private key (PEM).")
    var tlsKey: String?
    @Flag(help: "Serve plain HTTP instead of HTTPS.")
    var insecureHttp = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?
}

enum Launch {
    static func run(_ options: ServerOptions, subcommand: String, devMode: Bool) async throws {
        let arguments = Array(CommandLine.arguments.drop { $0 != subcommand }.dropFirst())
        let configuration: CoordinatorConfiguration
        do {
            let reader = try await CoordinatorConfiguration.reader(
                arguments: arguments, environment: ProcessInfo.processInfo.environment, configFile: options.config)
            configuration = try CoordinatorConfiguration(
                reader: reader, defaultDataDirectory: devMode ? "./.zedge-dev" : "/var/lib/zedge", devMode: devMode)
        } catch {
            fail(error)
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "zedge.coordinator")
        let localAgent = LocalAgent(dataDirectory: configuration.dataDirectory, logger: logger)
        do {
            try await Coordinator.run(configuration: configuration, logger: logger) { started in
                Launch.announce(started, configuration: configuration)
                if let token = started.devEnrollmentToken {
                    localAgent.start(coordinator: "\(started.scheme)://127.0.0.1:\(started.port)", token: token, pin: started.caFingerprint)
                }
            }
            localAgent.stop()
        } catch {
            localAgent.stop()
            fail(error)
        }
    }

    /// One clear line on stderr and a non-zero exit (DESIGN §9).
    static func fail(_ error: any Error) -> Never {
        let message = (error as? ConfigurationError)?.description ?? String(describing: error)
        FileHandle.standardError.write(Data("zedge-coordinator: \(message.split(separator: "\n").first ?? "failed")\n".utf8))
        exit(1)
    }

    static func announce(_ started: CoordinatorStarted, configuration: CoordinatorConfiguration) {
        let host = configuration.host == "0.0.0.0" ? "127.0.0.1" : configuration.host
        let url = "\(started.scheme)://\(host):\(started.port)"
        var lines = ["Zedge coordinator \(ZedgeVersion.current) listening on \(url)"]
        if let fingerprint = started.caFingerprint {
            let caPath = (configuration.dataDirectory as NSString).appendingPathComponent("tls/ca.pem")
            lines.append("CA certificate: \(caPath)")
            lines.append("CA SHA-256 (agents pin it with --ca-hash): \(fingerprint)")
        }
        let passwordFile = (configuration.dataDirectory as NSString).appendingPathComponent("admin-password")
        if let password = started.generatedAdminPassword {
            lines.append("Created user 'admin' with the generated password (shown only now): \(password)")
            if configuration.devMode {
                // Dev only: keep it so that the next `make run` can print the login command again.
                try? Data(password.utf8).write(to: URL(fileURLWithPath: passwordFile), options: .atomic)
                try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: passwordFile)
            }
        }
        if configuration.devMode {
            let password = started.generatedAdminPassword
                ?? (try? String(contentsOfFile: passwordFile, encoding: .utf8))
                ?? configuration.bootstrapAdminPassword
            let body = password.map { #"'{"username":"admin","password":"\#($0)"}'"# }
                ?? #""{\"username\":\"admin\",\"password\":\"$ZEDGE_BOOTSTRAP_ADMIN_PASSWORD\"}""#
            let cacert = started.caFingerprint == nil
                ? "" : " --cacert " + (configuration.dataDirectory as NSString).appendingPathComponent("tls/ca.pem")
            let pin = started.caFingerprint.map { " --ca-hash \($0)" } ?? ""
            lines += [
                "",
                "Log in with zedgectl (it asks for the password), then create the demo instance:",
                "  zedgectl login --url \(url)\(pin) --username admin",
                "  zedgectl instance create --name demo --template dev-small --tenant dev --wait",
                "",
                "Or with curl:",
                "  curl -s\(cacert) -H 'content-type: application/json' -d \(body) \(url)/api/v1/auth/login",
                "Then:",
                "  curl -s\(cacert) -H \"Authorization: Bearer <accessToken>\" \(url)/api/v1/auth/me",
                "A demo instance (template dev-small, tenant dev; ids from GET /api/v1/templates and /api/v1/tenants):",
                "  curl -s\(cacert) -H \"Authorization: Bearer <accessToken>\" -H 'content-type: application/json' \\",
                "    -d '{\"name\":\"demo\",\"templateId\":\"<template id>\",\"tenantId\":\"<tenant id>\"}' \(url)/api/v1/instances",
                "The API is described at \(url)/api/v1/openapi.json",
            ]
        }
        print(lines.joined(separator: "\n"))
        fflush(nil)
    }
}

/// `zedge-coordinator reset-role-permissions`: every role's grants back to the seeded defaults (README, "Role
/// permissions"). Reads the same configuration as `serve`.
struct ResetRolePermissions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset-role-permissions",
        abstract: "Restore the seeded role permissions (RolePermission rows) in the configured database.")
    @OptionGroup var options: ServerOptions

    func run() async throws {
        let arguments = Array(CommandLine.arguments.drop { $0 != "reset-role-permissions" }.dropFirst())
        do {
            let reader = try await CoordinatorConfiguration.reader(
                arguments: arguments, environment: ProcessInfo.processInfo.environment, configFile: options.config)
            let configuration = try CoordinatorConfiguration(reader: reader, defaultDataDirectory: "/var/lib/zedge", devMode: false)
            var logger = Logger(label: "zedge.coordinator")
            logger.logLevel = .warning
            let count = try await Coordinator.resetRolePermissions(configuration: configuration, logger: logger)
            print("Restored the seeded role permissions: \(count) grants.")
        } catch {
            Launch.fail(error)
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the coordinator.")
    @OptionGroup var options: ServerOptions

    func run() async throws {
        try await Launch.run(options, subcommand: "serve", devMode: false)
    }
}

struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the coordinator in dev mode: data under ./.zedge-dev, login instructions printed.")
    @OptionGroup var options: ServerOptions

    func run() async throws {
        try await Launch.run(options, subcommand: "dev", devMode: true)
    }
}

/// Dev mode's local agent: registered through the real enrollment path (token, CA pin), then run on
/// libvirt's test driver as a child process, stopped with the coordinator.
final class LocalAgent: @unchecked Sendable {  // `process` is touched only on `queue`
    let dataDirectory: String
    let logger: Logger
    private var process: Process?

    init(dataDirectory: String, logger: Logger) {
        self.dataDirectory = dataDirectory
        self.logger = logger
    }

    var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("zedge-agent")
    }

    /// Starts registration and the agent off the caller's thread: the server accepts connections only after
    /// its started callback returns, and registering needs it to.
    func start(coordinator: String, token: String, pin: String?) {
        queue.async { self.startNow(coordinator: coordinator, token: token, pin: pin) }
    }

    private let queue = DispatchQueue(label: "zedge.dev.local-agent")

    private func startNow(coordinator: String, token: String, pin: String?) {
        guard let pin else {
            logger.warning("no local agent: it pins the coordinator's own CA, which --insecure-http or --tls-cert leave out")
            return
        }
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            logger.warning("no local agent: \(executable.path) is missing (swift build --product zedge-agent)")
            return
        }
        let stateDir = (dataDirectory as NSString).appendingPathComponent("agent")
        let register = Process()
        register.executableURL = executable
        register.arguments = ["register", "--coordinator", coordinator, "--token", token, "--ca-hash", pin,
                              "--state-dir", stateDir, "--management-ip", "127.0.0.1", "--libvirt-uri", "test:///default"]
        do {
            try register.run()
            register.waitUntilExit()
            guard register.terminationStatus == 0 else {
                logger.error("the local agent could not register")
                return
            }
            let run = Process()
            run.executableURL = executable
            run.arguments = ["run", "--state-dir", stateDir, "--libvirt-uri", "test:///default"]
            try run.run()
            process = run
            print("Local agent registered (state in \(stateDir)) and running on test:///default")
            fflush(nil)  // piped to a file (`make run > log`), stdout is fully buffered: this line came out at exit
        } catch {
            logger.error("the local agent did not start", metadata: ["error": "\(error)"])
        }
    }

    func stop() {
        queue.sync {
            guard let process, process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
    }
}
