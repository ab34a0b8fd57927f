import ArgumentParser
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import ZedgeAgent
import ZedgeCore

@main
struct ZedgeAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zedge-agent",
        abstract: "The Zedge agent for ComputeMachines and CloudBoxes.",
        version: ZedgeVersion.current,
        subcommands: [Register.self, Run.self])
}

enum AgentKindOption: String, ExpressibleByArgument, CaseIterable {
    case computeMachine = "compute-machine"
    case cloudBox = "cloud-box"
    var kind: EnrollmentKind { self == .computeMachine ? .computeMachine : .cloudBox }
}

/// The help of `key`'s flag: what it does, its file key, environment variable and default.
func help(_ key: AgentConfiguration.Key) -> ArgumentHelp { ArgumentHelp(key.help) }

let configHelp = ArgumentHelp("A JSON configuration file, e.g. /etc/zedge/agent.json (flags and ZEDGE_AGENT_* environment variables override it).")

/// How settings are found, for the commands' `--help`.
let precedence = """
    Every setting comes from its flag, else its ZEDGE_AGENT_* environment variable, else its key in the JSON \
    file given with --config (camelCase, e.g. "logLevel"), else its default; each option below names its file \
    key, variable and default.
    """

/// Resolves the settings, or exits with one clear line.
func resolveSettings(flags: [AgentConfiguration.Key: String], configFile: String?) -> AgentConfiguration {
    do {
        return try AgentConfiguration.resolve(flags: flags, environment: ProcessInfo.processInfo.environment, configFile: configFile)
    } catch {
        fail(error)
    }
}

func makeLogger(level: Logger.Level) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return Logger(label: "zedge.agent")
}

/// One clear line on stderr and a non-zero exit (DESIGN §9).
func fail(_ error: any Error) -> Never {
    var line = "zedge-agent: \("\(error)".split(separator: "\n").first ?? "failed")\n"
    line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(1)
}

struct Register: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register this host with a coordinator using an enrollment token.",
        discussion: precedence + " `run` reads the same file: register and run with the same --config.")
    @Option(help: "The coordinator's URL, e.g. https://coordinator.example:8443.") var coordinator: String
    @Option(help: "An enrollment token (zet_…).") var token: String
    @Option(help: "The coordinator CA's SHA-256, sha256:HEX, as the coordinator printed it.") var caHash: String
    @Option(help: "What this host is.") var kind: AgentKindOption = .computeMachine
    @Option(help: "Report this management IP instead of the default route's address.") var managementIp: String?
    @Option(help: "Report this hostname instead of the system's.") var hostname: String?
    @Option(help: "Report this serial number instead of the DMI one (CloudBoxes).") var serialNumber: String?
    @Option(help: configHelp) var config: String?
    @Option(help: help(.stateDir)) var stateDir: String?
    @Option(help: ArgumentHelp("Compute machines: " + AgentConfiguration.Key.libvirtUri.help + " Its domain capabilities decide the reported domain type."))
    var libvirtUri: String?
    @Option(help: ArgumentHelp("Compute machines: " + AgentConfiguration.Key.domainType.help + " Reported as the host's domain type."))
    var domainType: String?
    @Option(help: ArgumentHelp("Compute machines: " + AgentConfiguration.Key.integrationBridge.help))
    var integrationBridge: String?
    @Option(help: help(.logLevel)) var logLevel: String?

    func run() async throws {
        var flags: [AgentConfiguration.Key: String] = [:]
        flags[.stateDir] = stateDir
        flags[.libvirtUri] = libvirtUri
        flags[.domainType] = domainType
        flags[.integrationBridge] = integrationBridge
        flags[.logLevel] = logLevel
        let settings = resolveSettings(flags: flags, configFile: config)
        let logger = makeLogger(level: settings.logLevel)
        do {
            var decided: String?
            var bridge: String?
            if kind == .computeMachine {
                let connection = LibvirtConnection(uri: settings.libvirtURI)
                let decision = await DomainTypeSelection.resolve(settings.domainType, connection: connection)
                await connection.close()
                logger.info("domain type", metadata: ["domainType": "\(decision.domainType)", "reason": "\(decision.reason)"])
                decided = decision.domainType
                bridge = await IntegrationBridge(name: settings.integrationBridge, logger: logger).reportedName()
            }
            let state = try await AgentRegistration.register(
                coordinator: coordinator, token: token, caPin: caHash, kind: kind.kind, stateDirectory: settings.stateDirectory,
                overrides: .init(hostname: hostname, managementIp: managementIp, serialNumber: serialNumber, domainType: decided,
                                 integrationBridge: bridge),
                logger: logger)
            print("Registered as \(state.machineId.map { "compute machine \($0)" } ?? "CloudBox \(state.cloudBoxId!)"); state in \(settings.stateDirectory)")
        } catch {
            fail(error)
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the agent: heartbeats with metrics, and the tasks the coordinator sends.",
        discussion: precedence + " The coordinator's URL, credential and CA come from `register`, in the state dir.")
    @Option(help: configHelp) var config: String?
    @Option(help: help(.stateDir)) var stateDir: String?
    @Option(help: help(.libvirtUri)) var libvirtUri: String?
    @Option(help: help(.cpuMode)) var cpuMode: String?
    @Option(help: help(.cloudboxDir)) var cloudboxDir: String?
    @Option(help: help(.domainType)) var domainType: String?
    @Option(help: help(.imageCacheBytes)) var imageCacheBytes: String?
    @Option(help: help(.imageDownloadBytesPerSecond)) var imageDownloadBytesPerSecond: String?
    @Option(help: help(.integrationBridge)) var integrationBridge: String?
    @Option(help: help(.logLevel)) var logLevel: String?

    func run() async throws {
        var flags: [AgentConfiguration.Key: String] = [:]
        flags[.stateDir] = stateDir
        flags[.libvirtUri] = libvirtUri
        flags[.cpuMode] = cpuMode
        flags[.cloudboxDir] = cloudboxDir
        flags[.domainType] = domainType
        flags[.imageCacheBytes] = imageCacheBytes
        flags[.imageDownloadBytesPerSecond] = imageDownloadBytesPerSecond
        flags[.integrationBridge] = integrationBridge
        flags[.logLevel] = logLevel
        let settings = resolveSettings(flags: flags, configFile: config)
        let logger = makeLogger(level: settings.logLevel)
        var startup = settings.effectiveValues
        startup["configFile"] = "\(config ?? "none")"
        startup["version"] = "\(ZedgeVersion.current)"
        logger.info("zedge-agent starting", metadata: startup)
        let stateDir = settings.stateDirectory
        let loaded: (state: AgentState, credential: String, caPEM: String)
        do { loaded = try AgentState.load(from: stateDir) } catch { fail(error) }
        // Held until the process ends: a second agent on this state dir stops here.
        let stateLock: StateDirectoryLock
        do { stateLock = try StateDirectoryLock(stateDirectory: stateDir) } catch { fail(error) }
        defer { withExtendedLifetime(stateLock) {} }
        // One client per loop: a client runs one request at a time, and the long-poll holds its own.
        func client() -> CoordinatorClient {
            CoordinatorClient(baseURL: loaded.state.coordinator, caPEM: loaded.caPEM, credential: loaded.credential)
        }
        var hypervisor: (any Hypervisor)?
        var compute: ComputeResources?
        var rbd: RbdStorage?
        var bridge: IntegrationBridge?
        var consoles: ConsoleTunnels?
        let metadata: Logger.Metadata = ["coordinator": "\(loaded.state.coordinator)", "kind": "\(loaded.state.kind.rawValue)"]
        if loaded.state.kind == .computeMachine {
            let layout = AgentLayout(stateDirectory: stateDir)
            do { try layout.prepare() } catch { fail(error) }
            let connection = LibvirtConnection(uri: settings.libvirtURI)
            // A libvirt URI that cannot be opened stops the agent here, not at its first task (systemd restarts it
            // while libvirtd comes up).
            do { try await connection.open() } catch { fail(error) }
            let decision = await DomainTypeSelection.resolve(settings.domainType, connection: connection)
            logger.info("domain type chosen", metadata: ["domainType": "\(decision.domainType)", "reason": "\(decision.reason)"])
            let libvirt = LibvirtHypervisor(connection: connection, domainType: decision.domainType, cpuMode: settings.cpuMode, layout: layout)
            // ZEDGE_AGENT_FAULT=fail-vm-create (tests) makes every define fail; see FaultInjection.
            hypervisor = FaultInjection.hypervisor(libvirt)
            let storage = LibvirtStorage(connection: connection)
            let images = ImageCache(
                directory: layout.imagesDirectory, capacityBytes: settings.imageCacheBytes,
                downloader: ImageDownloader(client: client(), bytesPerSecond: settings.imageDownloadBytesPerSecond),
                usage: { try await ComputeResources.imagesInUse(hypervisor: libvirt, storage: storage, pool: layout.diskPoolName) }, logger: logger)
            compute = ComputeResources(layout: layout, images: images, storage: storage)
            // Its own connection: an rbd pool that cannot reach Ceph holds libvirt for 30 s, not the domain calls.
            rbd = RbdStorage(connection: LibvirtConnection(uri: settings.libvirtURI))
            // Checked now (a warning says what to do when it is missing), then again with heartbeats.
            let integrationBridge = IntegrationBridge(name: settings.integrationBridge, logger: logger)
            await integrationBridge.check()
            bridge = integrationBridge
            consoles = ConsoleTunnels(libvirtURI: settings.libvirtURI, tickets: hypervisor.map(GraphicsTickets.init(hypervisor:)), coordinator: loaded.state.coordinator, credential: loaded.credential,
                                      caPEM: loaded.caPEM, logger: logger)
        }
        let loop = HeartbeatLoop(client: client(), metrics: MetricsCollector(), hypervisor: hypervisor, images: compute?.images,
                                 integrationBridge: bridge, initialInterval: loaded.state.heartbeatIntervalS, logger: logger)
        var cloudBox: (any CloudBoxControl)?
        if loaded.state.kind == .cloudBox {
            let directory = URL(fileURLWithPath: settings.cloudBoxDirectory, isDirectory: true)
            // ZEDGE_AGENT_REBOOTER=record (tests) records reboots instead of rebooting; see RebooterHook.
            do {
                cloudBox = FileCloudBoxControl(directory: directory, rebooter: try RebooterHook.rebooter(cloudBoxDirectory: directory),
                                               coordinator: loaded.state.coordinator)
            } catch {
                fail(error)
            }
        }
        var tasks: TaskLoop?
        if hypervisor != nil || cloudBox != nil {
            do {
                let journal = try TaskJournal(path: "\(stateDir)/journal.db")
                tasks = TaskLoop(poller: client(), reporter: client(), journal: journal,
                                 executor: TaskExecutor(hypervisor: hypervisor, cloudBox: cloudBox, compute: compute,
                                                        integrationBridge: bridge, rbd: rbd, consoles: consoles), logger: logger)
            } catch {
                fail(error)
            }
        }
        logger.info("agent running", metadata: metadata)
        // SIGTERM and SIGINT cancel the loops; VMs are left as they are.
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let outcome: Result<Void, any Error> = await withTaskGroup(of: Result<Void, any Error>?.self) { group in
            group.addTask {
                do { try await loop.run(); return .success(()) } catch { return .failure(error) }
            }
            if let tasks {
                group.addTask {
                    do { try await tasks.run(); return .success(()) } catch { return .failure(error) }
                }
            }
            group.addTask {
                await Self.waitForTermination()
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .success(())
        }
        // Open consoles end with the agent (their users see the WebSocket close).
        consoles?.closeAll()
        if case .failure(let error) = outcome { fail(error) }
        logger.info("agent stopped")
    }

    /// Returns when SIGTERM or SIGINT arrives.
    static func waitForTermination() async {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let sources = [SIGTERM, SIGINT].map { signal in
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { continuation.yield(signal) }
            source.resume()
            return source
        }
        for await _ in stream { break }
        sources.forEach { $0.cancel() }
    }
}
