import Foundation
import NIOCore
import Synchronization
import ZedgeCore

/// The domains each simulated agent runs: one per `vm.create` it was given. Its heartbeats list them, as a real
/// agent's do; without that the reconciler would take every new instance for one whose domain went missing
/// and create it again.
final class HostedVms: Sendable {
    private let domains: Mutex<[[ObservedVm]]>
    let created = Counter()

    init(agents: Int) {
        domains = Mutex(Array(repeating: [], count: agents))
    }

    /// The agent ran a task: for a `vm.create`, its domain (the spec's `uuid` and `name`) now runs. Returns the
    /// task's `observed` result (the domain for a create, as the agent reports it).
    func ran(_ task: PolledTask, on agent: Int) -> JSONValue? {
        guard task.kind == .vmCreate, let uuid = task.payload?.spec?.uuid, let name = task.payload?.spec?.name else {
            return ["state": "RUNNING"]
        }
        let domain = ObservedVm(vmUuid: uuid, vmName: name, state: .running)
        domains.withLock { $0[agent].append(domain) }
        created.increment()
        return try? JSONValue(encoding: domain)
    }

    /// How evenly placement spread the domains: each machine's domains of `coresEach` CPU cores as a percentage of
    /// its cores (`SimulatedFleet.facts`: 16, 32 or 64; load_balance fills them alike).
    func spread(coresEach: Int) -> Spread {
        let counts = domains.withLock { $0.map(\.count) }
        return Spread(values: counts.enumerated().map { index, count in
            Double(count * coresEach * 100) / Double(SimulatedFleet.facts(index).cpuCores)
        })
    }

    /// The agent's next heartbeat: fresh readings and the domains it runs.
    func heartbeat(_ agent: Int) -> ByteBuffer {
        let running = domains.withLock { $0[agent] }
        return (try? AgentWire.encode(SimulatedFleet.heartbeat(observedVms: running))) ?? ByteBuffer()
    }
}
