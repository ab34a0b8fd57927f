import ArgumentParser
import Dispatch
import Foundation
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

func makeLogger() -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = ProcessInfo.processInfo.environment["ZEDGE_AGENT_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        return handler
    }
    return Logger(label: "zedge.agent")
}

/// One clear line on stderr and a non-zero exit (DESIGN §9).
func fail(_ error: any Error) -> Never {
    FileHandle.standardError.write(Data("zedge-agent: \("\(error)".split(separator: "\n").first ?? "failed")\n".utf8))
    exit(1)
}

struct Register: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Register this host with a coordinator using an enrollment token.")
    @Option(help: "The coordinator's URL, e.g. https://coordinator.example:8443.") var coordinator: String
    @Option(help: "An enrollment token (zet_…).") var token: String
    @Option(help: "The coordinator CA's SHA-256, sha256:HEX, as the coordinator printed it.") var caHash: String
    @Option(help: "Where the agent keeps its state.") var stateDir = "/var/lib/zedge-agent"
    @Option(help: "What this host is.") var kind: AgentKindOption = .computeMachine
    @Option(help: "Report this management IP instead of the default route's address.") var managementIp: String?
    @Option(help: "Report this hostname instead of the system's.") var hostname: String?
    @Option(help: "Report this serial number instead of the DMI one (CloudBoxes).") var serialNumber: String?
    @Option(help: "Compute machines: the libvirt URI whose domain capabilities decide the domain type (default qemu:///system).")
    var libvirtUri: String?
    @Option(help: "Compute machines: auto, kvm or qemu, as `run` takes it; reported as the host's domain type (default auto).")
    var domainType: String?
    @Option(help: "Compute machines: the Open vSwitch bridge VM NICs attach to, as `run` takes it; reported when it exists (default br-zedge).")
    var integrationBridge: String?
    @Option(help: "A JSON configuration file, as `run` reads it (for libvirtUri, domainType and integrationBridge).") var config: String?

    func run() async throws {
        let logger = makeLogger()
        do {
            var decided: String?
            var bridge: String?
            if kind == .computeMachine {
                var flags: [AgentConfiguration.Key: String] = [:]
                flags[.libvirtUri] = libvirtUri
                flags[.domainType] = domainType
                flags[.integrationBridge] = integrationBridge
                let settings = try AgentConfiguration.resolve(flags: flags, environment: ProcessInfo.processInfo.environment, configFile: config)
                let connection = LibvirtConnection(uri: settings.libvirtURI)
                let decision = await DomainTypeSelection.resolve(settings.domainType, connection: connection)
                await connection.close()
                logger.info("domain type", metadata: ["domainType": "\(decision.domainType)", "reason": "\(decision.reason)"])
                decided = decision.domainType
                bridge = await IntegrationBridge(name: settings.integrationBridge, logger: logger).reportedName()
            }
            let state = try await AgentRegistration.register(
                coordinator: coordinator, token: token, caPin: caHash, kind: kind.kind, stateDirectory: stateDir,
                overrides: .init(hostname: hostname, managementIp: managementIp, serialNumber: serialNumber, domainType: decided,
                                 integrationBridge: bridge),
                logger: logger)
            print("Registered as \(state.machineId.map { "compute machine \($0)" } ?? "CloudBox \(state.cloudBoxId!)"); state in \(stateDir)")
        } catch {
            fail(error)
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the agent: heartbeats with metrics, and the tasks the coordinator sends.",
        discussion: """
        Every option may also come from its ZEDGE_AGENT_* environment variable (e.g. ZEDGE_AGENT_DOMAIN_TYPE) or \
        from the JSON file given with --config (camelCase keys, e.g. "domainType"); flags win over the \
        environment, the environment over the file.
        """)
    @Option(help: "A JSON configuration file (flags and ZEDGE_AGENT_* environment variables override it).") var config: String?
    @Option(help: "Where the agent keeps its state (default /var/lib/zedge-agent).") var stateDir: String?
    @Option(help: "The libvirt URI (default qemu:///system; test:///default for development).") var libvirtUri: String?
    @Option(help: "KVM guests' CPU: host-passthrough (default), host-model, or default (QEMU's model; for nested hosts).")
    var cpuMode: String?
    @Option(help: "CloudBoxes: where the session and network settings for the box's tools are written.")
    var cloudboxDir: String?
    @Option(help: "libvirt's domain type: auto (default: kvm only with hardware virtualisation that libvirt offers, else qemu), kvm, or qemu (TCG).")
    var domainType: String?
    @Option(help: "The image cache's bound in bytes (suffixes K, M, G, T; default 20G). Images a VM uses are never evicted.")
    var imageCacheBytes: String?
    @Option(help: "Image downloads' rate limit in bytes per second (suffixes K, M, G; default 0: none).")
    var imageDownloadBytesPerSecond: String?
    @Option(help: "The Open vSwitch bridge VM NICs on tenant networks attach to (default br-zedge); checked at start and reported.")
    var integrationBridge: String?

    func run() async throws {
        let logger = makeLogger()
        var flags: [AgentConfiguration.Key: String] = [:]
        flags[.stateDir] = stateDir
        flags[.libvirtUri] = libvirtUri
        flags[.cpuMode] = cpuMode
        flags[.cloudboxDir] = cloudboxDir
        flags[.domainType] = domainType
        flags[.imageCacheBytes] = imageCacheBytes
        flags[.imageDownloadBytesPerSecond] = imageDownloadBytesPerSecond
        flags[.integrationBridge] = integrationBridge
        let settings: AgentConfiguration
        do {
            settings = try AgentConfiguration.resolve(flags: flags, environment: ProcessInfo.processInfo.environment, configFile: config)
        } catch { fail(error) }
        let stateDir = settings.stateDirectory
        let loaded: (state: AgentState, credential: String, caPEM: String)
        do { loaded = try AgentState.load(from: stateDir) } catch { fail(error) }
        // One client per loop: a client runs one request at a time, and the long-poll holds its own.
        func client() -> CoordinatorClient {
            CoordinatorClient(baseURL: loaded.state.coordinator, caPEM: loaded.caPEM, credential: loaded.credential)
        }
        var hypervisor: (any Hypervisor)?
        var compute: ComputeResources?
        var rbd: RbdStorage?
        var bridge: IntegrationBridge?
        var metadata: Logger.Metadata = ["coordinator": "\(loaded.state.coordinator)", "kind": "\(loaded.state.kind.rawValue)"]
        if loaded.state.kind == .computeMachine {
            let layout = AgentLayout(stateDirectory: stateDir)
            do { try layout.prepare() } catch { fail(error) }
            let connection = LibvirtConnection(uri: settings.libvirtURI)
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
            metadata["integrationBridge"] = "\(settings.integrationBridge)"
            metadata["libvirt"] = "\(settings.libvirtURI)"
            metadata["imageCacheBytes"] = "\(settings.imageCacheBytes)"
            metadata["imageDownloadBytesPerSecond"] = "\(settings.imageDownloadBytesPerSecond)"
        }
        let loop = HeartbeatLoop(client: client(), metrics: MetricsCollector(), hypervisor: hypervisor, images: compute?.images,
                                 integrationBridge: bridge, initialInterval: loaded.state.heartbeatIntervalS, logger: logger)
        var cloudBox: (any CloudBoxControl)?
        if loaded.state.kind == .cloudBox {
            let directory = URL(fileURLWithPath: settings.cloudBoxDirectory, isDirectory: true)
            // ZEDGE_AGENT_REBOOTER=record (tests) records reboots instead of rebooting; see RebooterHook.
            do {
                cloudBox = FileCloudBoxControl(directory: directory, rebooter: try RebooterHook.rebooter(cloudBoxDirectory: directory))
            } catch {
                fail(error)
            }
            metadata["cloudboxDir"] = "\(settings.cloudBoxDirectory)"
        }
        var tasks: TaskLoop?
        if hypervisor != nil || cloudBox != nil {
            do {
                let journal = try TaskJournal(path: (stateDir as NSString).appendingPathComponent("journal.db"))
                tasks = TaskLoop(poller: client(), reporter: client(), journal: journal,
                                 executor: TaskExecutor(hypervisor: hypervisor, cloudBox: cloudBox, compute: compute,
                                                        integrationBridge: bridge, rbd: rbd), logger: logger)
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
