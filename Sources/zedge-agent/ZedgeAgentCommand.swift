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

enum CPUModeOption: String, ExpressibleByArgument, CaseIterable {
    case hostPassthrough = "host-passthrough"
    case hostModel = "host-model"
    case hypervisorDefault = "default"
    var mode: CPUMode { CPUMode(rawValue: rawValue)! }
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

    func run() async throws {
        let logger = makeLogger()
        do {
            let state = try await AgentRegistration.register(
                coordinator: coordinator, token: token, caPin: caHash, kind: kind.kind, stateDirectory: stateDir,
                overrides: .init(hostname: hostname, managementIp: managementIp, serialNumber: serialNumber), logger: logger)
            print("Registered as \(state.machineId.map { "compute machine \($0)" } ?? "CloudBox \(state.cloudBoxId!)"); state in \(stateDir)")
        } catch {
            fail(error)
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the agent: heartbeats with metrics, and the tasks the coordinator sends.")
    @Option(help: "Where the agent keeps its state.") var stateDir = "/var/lib/zedge-agent"
    @Option(help: "The libvirt URI (test:///default for development).") var libvirtUri = "qemu:///system"
    @Option(help: "A configuration file (reserved; flags win).") var config: String?
    @Option(help: "KVM guests' CPU: host-passthrough, host-model, or default (QEMU's model; for nested hosts).")
    var cpuMode: CPUModeOption = .hostPassthrough
    @Option(help: "CloudBoxes: where the session and network settings for the box's tools are written.")
    var cloudboxDir = FileCloudBoxControl.defaultDirectory.path

    func run() async throws {
        let logger = makeLogger()
        let loaded: (state: AgentState, credential: String, caPEM: String)
        do { loaded = try AgentState.load(from: stateDir) } catch { fail(error) }
        // One client per loop: a client runs one request at a time, and the long-poll holds its own.
        func client() -> CoordinatorClient {
            CoordinatorClient(baseURL: loaded.state.coordinator, caPEM: loaded.caPEM, credential: loaded.credential)
        }
        // ZEDGE_AGENT_FAULT=fail-vm-create (tests) makes every define fail; see FaultInjection.
        let hypervisor: (any Hypervisor)? = loaded.state.kind == .computeMachine
            ? FaultInjection.hypervisor(LibvirtHypervisor(uri: libvirtUri, cpuMode: cpuMode.mode)) : nil
        let loop = HeartbeatLoop(client: client(), metrics: MetricsCollector(), hypervisor: hypervisor,
                                 initialInterval: loaded.state.heartbeatIntervalS, logger: logger)
        var cloudBox: (any CloudBoxControl)?
        if loaded.state.kind == .cloudBox {
            let directory = URL(fileURLWithPath: cloudboxDir, isDirectory: true)
            // ZEDGE_AGENT_REBOOTER=record (tests) records reboots instead of rebooting; see RebooterHook.
            do {
                cloudBox = FileCloudBoxControl(directory: directory, rebooter: try RebooterHook.rebooter(cloudBoxDirectory: directory))
            } catch {
                fail(error)
            }
        }
        var tasks: TaskLoop?
        if hypervisor != nil || cloudBox != nil {
            do {
                let journal = try TaskJournal(path: (stateDir as NSString).appendingPathComponent("journal.db"))
                tasks = TaskLoop(poller: client(), reporter: client(), journal: journal,
                                 executor: TaskExecutor(hypervisor: hypervisor, cloudBox: cloudBox), logger: logger)
            } catch {
                fail(error)
            }
        }
        var metadata: Logger.Metadata = ["coordinator": "\(loaded.state.coordinator)", "kind": "\(loaded.state.kind.rawValue)"]
        if cloudBox != nil { metadata["cloudboxDir"] = "\(cloudboxDir)" } else { metadata["libvirt"] = "\(libvirtUri)" }
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
