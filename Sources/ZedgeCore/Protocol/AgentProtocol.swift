#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The agent wire protocol (DESIGN §4): what agents and the coordinator send each other under /agent/v1.

/// What an agent reports about its host at registration.
public struct HostFacts: Codable, Sendable, Hashable {
    public var hostname: String
    public var serialNumber: String?
    public var cpuCores: Int
    public var memoryGb: Int
    public var storageGb: Int
    public var gpuCount: Int
    public var gpuModel: String?
    /// The GPUs' PCI addresses ("0000:65:00.0"), which instances get passed through; nil from agents that do
    /// not report them (their GPUs are counted for placement but not assigned to domains).
    public var gpuPciAddresses: [String]?
    public var managementIp: String
    public var macAddress: String?
    public var firmwareVersion: String?
    public var model: String?
    public var manufacturer: String?
    public var hypervisorType: HypervisorType?
    /// libvirt's `<domain type=…>` the agent uses: "kvm" where hardware virtualisation really works, "qemu"
    /// (TCG emulation) otherwise, "test" on `test:///default`. Nil from older agents.
    public var domainType: String?
    /// The Open vSwitch integration bridge NICs attach to (`br-zedge` by default) when it exists on the host;
    /// nil when it does not (or could not be checked), and from older agents.
    public var integrationBridge: String?

    public init(
        hostname: String, serialNumber: String? = nil, cpuCores: Int, memoryGb: Int, storageGb: Int,
        gpuCount: Int = 0, gpuModel: String? = nil, gpuPciAddresses: [String]? = nil, managementIp: String,
        macAddress: String? = nil, firmwareVersion: String? = nil, model: String? = nil, manufacturer: String? = nil,
        hypervisorType: HypervisorType? = nil, domainType: String? = nil, integrationBridge: String? = nil
    ) {
        self.domainType = domainType
        self.integrationBridge = integrationBridge
        self.gpuPciAddresses = gpuPciAddresses
        self.hostname = hostname
        self.serialNumber = serialNumber
        self.cpuCores = cpuCores
        self.memoryGb = memoryGb
        self.storageGb = storageGb
        self.gpuCount = gpuCount
        self.gpuModel = gpuModel
        self.managementIp = managementIp
        self.macAddress = macAddress
        self.firmwareVersion = firmwareVersion
        self.model = model
        self.manufacturer = manufacturer
        self.hypervisorType = hypervisorType
    }
}

/// `POST /agent/v1/register`.
public struct RegisterRequest: Codable, Sendable, Hashable {
    public var enrollmentToken: String
    public var kind: EnrollmentKind
    public var facts: HostFacts

    public init(enrollmentToken: String, kind: EnrollmentKind, facts: HostFacts) {
        self.enrollmentToken = enrollmentToken
        self.kind = kind
        self.facts = facts
    }
}

/// The answer to a registration: the agent's identity and its credential (shown this once).
public struct RegisterResponse: Codable, Sendable, Hashable {
    public var agentId: UUID
    public var machineId: UUID?
    public var cloudBoxId: UUID?
    public var credential: String
    public var heartbeatIntervalS: Int

    public init(agentId: UUID, machineId: UUID?, cloudBoxId: UUID?, credential: String, heartbeatIntervalS: Int) {
        self.agentId = agentId
        self.machineId = machineId
        self.cloudBoxId = cloudBoxId
        self.credential = credential
        self.heartbeatIntervalS = heartbeatIntervalS
    }
}

/// Readings an agent takes on each heartbeat.
public struct HostMetrics: Codable, Sendable, Hashable {
    public var cpuUsagePercent: Double?
    public var memoryUsagePercent: Double?
    public var diskUsagePercent: Double?
    /// Highest thermal-zone temperature, °C.
    public var temperature: Double?
    public var uptimeSeconds: Int?
    public var loadAverage1m: Double?

    public init(
        cpuUsagePercent: Double? = nil, memoryUsagePercent: Double? = nil, diskUsagePercent: Double? = nil,
        temperature: Double? = nil, uptimeSeconds: Int? = nil, loadAverage1m: Double? = nil
    ) {
        self.cpuUsagePercent = cpuUsagePercent
        self.memoryUsagePercent = memoryUsagePercent
        self.diskUsagePercent = diskUsagePercent
        self.temperature = temperature
        self.uptimeSeconds = uptimeSeconds
        self.loadAverage1m = loadAverage1m
    }
}

/// A domain's power state as libvirt reports it.
public enum DomainState: String, ZedgeEnum {
    case noState = "NO_STATE"
    case running = "RUNNING"
    case blocked = "BLOCKED"
    case paused = "PAUSED"
    case shuttingDown = "SHUTTING_DOWN"
    case shutOff = "SHUT_OFF"
    case crashed = "CRASHED"
    case suspended = "SUSPENDED"
}

/// A VM the agent's hypervisor knows.
public struct ObservedVm: Codable, Sendable, Hashable {
    public var vmUuid: String
    public var vmName: String
    public var state: DomainState
    /// The domain's RBD disks (live definition when it runs, persistent otherwise); nil from older agents,
    /// which the reconciler treats as "not known" rather than "none".
    public var disks: [ObservedDisk]?

    public init(vmUuid: String, vmName: String, state: DomainState, disks: [ObservedDisk]? = nil) {
        self.vmUuid = vmUuid
        self.vmName = vmName
        self.state = state
        self.disks = disks
    }
}

/// A reading taken at a known time (kept by an agent while its coordinator was unreachable).
public struct MetricReading: Codable, Sendable, Hashable {
    public var at: Date
    public var metrics: HostMetrics

    public init(at: Date, metrics: HostMetrics) {
        self.at = at
        self.metrics = metrics
    }
}

/// `POST /agent/v1/heartbeat`.
public struct HeartbeatRequest: Codable, Sendable, Hashable {
    public static let maximumBacklog = 360

    public var metrics: HostMetrics
    public var observedVms: [ObservedVm]
    public var agentVersion: String
    /// Readings the agent could not deliver earlier, oldest first (at most `maximumBacklog`).
    public var backlog: [MetricReading]?
    /// The SHA-256 (lowercase hex) of every verified image in the agent's cache; placement prefers a host that
    /// holds the image. Nil from older agents. At most `maximumCachedImages`.
    public var cachedImages: [String]?
    /// The Open vSwitch integration bridge, when it exists on the host (checked at most once a minute, so a
    /// bridge made later is seen without a restart); nil when it does not. Compute machines only.
    public var integrationBridge: String?

    public static let maximumCachedImages = 10_000

    public init(metrics: HostMetrics, observedVms: [ObservedVm], agentVersion: String, backlog: [MetricReading]? = nil,
                cachedImages: [String]? = nil, integrationBridge: String? = nil) {
        self.metrics = metrics
        self.observedVms = observedVms
        self.agentVersion = agentVersion
        self.backlog = backlog
        self.cachedImages = cachedImages
        self.integrationBridge = integrationBridge
    }
}

/// The readings an agent keeps while its coordinator is unreachable: bounded, the oldest dropped first.
public struct ReadingBacklog: Sendable, Hashable {
    public private(set) var readings: [MetricReading] = []
    public private(set) var dropped = 0
    public let capacity: Int

    public init(capacity: Int = HeartbeatRequest.maximumBacklog) {
        self.capacity = max(1, capacity)
    }

    public mutating func append(_ reading: MetricReading) {
        readings.append(reading)
        if readings.count > capacity {
            dropped += readings.count - capacity
            readings.removeFirst(readings.count - capacity)
        }
    }

    public mutating func removeAll() { readings.removeAll() }
}

public struct HeartbeatResponse: Codable, Sendable, Hashable {
    public var heartbeatIntervalS: Int
    public var serverTime: Date

    public init(heartbeatIntervalS: Int, serverTime: Date) {
        self.heartbeatIntervalS = heartbeatIntervalS
        self.serverTime = serverTime
    }
}

/// One run of an agent process: a UUID the agent picks when it starts and sends with every long-poll in the
/// `Zedge-Agent-Run` header. A poll from a new run tells the coordinator that the host's previous run has gone,
/// so the leases that run held are freed at once (handed out again) instead of running out.
public enum AgentRun {
    /// The request header that carries the run's UUID.
    public static let header = "Zedge-Agent-Run"
}

/// A task as handed to its agent by `GET /agent/v1/tasks`.
///
/// Delivery is acknowledged: the agent posts an event for every task it receives (`received`, then `started` or
/// `waiting`). Until then the lease is only as long as the delivery window, so a response written to a
/// connection whose agent has gone costs that window, not the whole lease.
public struct TaskAssignment: Codable, Sendable, Hashable {
    public var id: UUID
    public var kind: TaskKind
    public var payload: JSONValue
    /// 1 for the first delivery; more when a lease ran out and the task was handed out again.
    public var attempt: Int
    public var leaseExpiresAt: Date

    public init(id: UUID, kind: TaskKind, payload: JSONValue, attempt: Int, leaseExpiresAt: Date) {
        self.id = id
        self.kind = kind
        self.payload = payload
        self.attempt = attempt
        self.leaseExpiresAt = leaseExpiresAt
    }
}

public struct TaskPollResponse: Codable, Sendable, Hashable {
    public var tasks: [TaskAssignment]
    /// Read-only questions for the agent that a user is waiting on (e.g. a console log); answered with
    /// `POST /agent/v1/calls/{id}/answer`, not journaled and never retried. Nil or empty for none.
    public var calls: [AgentCall]?

    public init(tasks: [TaskAssignment], calls: [AgentCall]? = nil) {
        self.tasks = tasks
        self.calls = calls
    }

    /// Every key, `calls` as null when there are none, as `ExplicitNulls` would write it: every agent's long-poll is
    /// answered with this type, so `ExplicitNulls` passes it through unwrapped (`hasNoOptionals`; issue #14, the
    /// wrapping was a third of the answer's encoding). Nothing below `calls` is optional.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tasks, forKey: .tasks)
        try container.encode(calls, forKey: .calls)
    }
}

/// What an agent call asks.
public enum AgentCallKind: String, ZedgeEnum {
    /// The tail of a VM's serial console log: payload `ConsoleLogCall`, answer `ConsoleLogOutput`.
    case consoleLog = "vm.console-log"
    /// Open a console tunnel: the agent dials a WebSocket back to the coordinator and connects it to the VM's
    /// serial console or graphics; payload `ConsoleOpenCall`, answered once the WebSocket is up (no answer body).
    case consoleOpen = "vm.console-open"
    /// Set or rotate a VM's graphics password and close some of its tunnels: payload `GraphicsPasswordCall`, no
    /// answer body.
    case graphicsPassword = "vm.graphics-password"
}

/// A read-only question handed to an agent with its long-poll (like Nova's `get_console_output` RPC call).
/// The coordinator waits for the answer until `expiresAt`; an answer after that is dropped.
public struct AgentCall: Codable, Sendable, Hashable {
    public var id: UUID
    public var kind: AgentCallKind
    public var payload: JSONValue
    public var expiresAt: Date

    public init(id: UUID, kind: AgentCallKind, payload: JSONValue, expiresAt: Date) {
        self.id = id
        self.kind = kind
        self.payload = payload
        self.expiresAt = expiresAt
    }
}

/// `vm.console-log`: the last `lines` lines of the VM's serial console log.
public struct ConsoleLogCall: Codable, Sendable, Hashable {
    public var vmUuid: UUID
    public var vmName: String
    /// 1...1000.
    public var lines: Int

    public static let linesRange = 1...1000
    public static let defaultLines = 100

    public init(vmUuid: UUID, vmName: String, lines: Int) {
        self.vmUuid = vmUuid
        self.vmName = vmName
        self.lines = lines
    }
}

/// The answer to `vm.console-log`, and the body of `GET /api/v1/instances/{id}/console-log`.
public struct ConsoleLogOutput: Codable, Sendable, Hashable {
    /// The last lines of the log, oldest first, without line terminators (invalid UTF-8 replaced).
    public var lines: [String]
    /// True when the log holds more lines than were asked for.
    public var truncated: Bool

    public init(lines: [String], truncated: Bool) {
        self.lines = lines
        self.truncated = truncated
    }
}

/// `POST /agent/v1/calls/{id}/answer`: the agent's answer to a call (the first answer wins).
public struct AgentCallAnswer: Codable, Sendable, Hashable {
    public var outcome: TaskOutcome
    public var error: String?
    public var answer: JSONValue?

    public init(outcome: TaskOutcome, error: String? = nil, answer: JSONValue? = nil) {
        self.outcome = outcome
        self.error = error
        self.answer = answer
    }
}

/// `POST /agent/v1/tasks/{id}/events`: idempotent by (task, sequence).
public struct TaskEventReport: Codable, Sendable, Hashable {
    public var sequence: Int
    public var kind: EventKind
    public var name: String
    public var metadata: JSONValue?

    public init(sequence: Int, kind: EventKind, name: String, metadata: JSONValue? = nil) {
        self.sequence = sequence
        self.kind = kind
        self.name = name
        self.metadata = metadata
    }
}

/// How a task ended, as its agent saw it.
public enum TaskOutcome: String, ZedgeEnum {
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
}

/// `POST /agent/v1/tasks/{id}/result`: idempotent (the same result twice changes nothing).
public struct TaskResultReport: Codable, Sendable, Hashable {
    public var outcome: TaskOutcome
    public var error: String?
    /// What the agent observed after the task (e.g. the domain's state).
    public var observed: JSONValue?

    public init(outcome: TaskOutcome, error: String? = nil, observed: JSONValue? = nil) {
        self.outcome = outcome
        self.error = error
        self.observed = observed
    }

    /// The key of `observed` that says the host has no domain with the task's `vmUuid` (`{"domainAbsent": true}`).
    public static let domainAbsentKey = "domainAbsent"

    /// The report of a `vm.*` task whose domain the host does not have: a `vm.stop` (and `vm.delete`) has then
    /// reached what was asked and SUCCEEDS; a `vm.start` or `vm.restart` FAILS, and the coordinator rebuilds the
    /// domain from the instance's snapshot.
    public static func domainAbsent(_ kind: TaskKind, vmUuid: UUID) -> TaskResultReport {
        let absent: JSONValue = [domainAbsentKey: true]
        switch kind {
        case .vmStop, .vmDelete: return .init(outcome: .succeeded, observed: absent)
        default: return .init(outcome: .failed, error: "this host has no domain \(vmUuid.uuidString.lowercased())", observed: absent)
        }
    }

    /// Whether an `observed` value says the host has no such domain.
    public static func saysDomainAbsent(_ observed: JSONValue?) -> Bool {
        observed?.objectValue?[domainAbsentKey] == .bool(true)
    }
}
