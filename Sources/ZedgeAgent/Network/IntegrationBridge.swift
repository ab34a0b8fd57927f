#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// The host's Open vSwitch integration bridge (`--integration-bridge`, default `br-zedge`), which VM NICs on
/// tenant networks attach to (DESIGN §10). Checked at start and then at most once per `recheckInterval` when a
/// heartbeat asks, so a bridge an operator makes later is reported without restarting the agent. A warning
/// says what to do whenever the answer changes to missing.
public actor IntegrationBridge {
    public static let defaultName = "br-zedge"

    public nonisolated let name: String
    let probe: OVSBridgeProbe
    let recheckInterval: Duration
    let logger: Logger
    /// The time (injectable, so that tests can step past `recheckInterval`).
    let now: @Sendable () -> ContinuousClock.Instant
    private var last: (answer: OVSBridgeProbe.Answer, at: ContinuousClock.Instant)?

    public init(name: String = IntegrationBridge.defaultName, probe: OVSBridgeProbe = .init(),
                recheckInterval: Duration = .seconds(60), logger: Logger,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.name = name
        self.probe = probe
        self.recheckInterval = recheckInterval
        self.logger = logger
        self.now = now
    }

    /// The last answer if it is younger than `recheckInterval`, else a fresh one.
    public func current() async -> OVSBridgeProbe.Answer {
        if let last, now() - last.at < recheckInterval { return last.answer }
        return await check()
    }

    /// Asks ovs-vsctl now, and logs when the answer differs from the previous one.
    @discardableResult
    public func check() async -> OVSBridgeProbe.Answer {
        let answer = await probe.check(name)
        if answer != last?.answer { log(answer) }
        last = (answer, now())
        return answer
    }

    /// What registration and heartbeats report: the bridge's name when it exists, else nil.
    public func reportedName() async -> String? {
        await current() == .present ? name : nil
    }

    private func log(_ answer: OVSBridgeProbe.Answer) {
        switch answer {
        case .present:
            logger.info("integration bridge present", metadata: ["bridge": "\(name)"])
        case .absent, .unknown:
            logger.warning("\(Self.problem(bridge: name, answer: answer) ?? "missing"); instances with tenant networks cannot run on this host until it exists (or name another with --integration-bridge)",
                           metadata: ["bridge": "\(name)"])
        }
    }

    /// Why `bridge` cannot be used, and the command that makes it; nil when it is present.
    public static func problem(bridge: String, answer: OVSBridgeProbe.Answer) -> String? {
        switch answer {
        case .present:
            return nil
        case .absent:
            return "the Open vSwitch bridge \(bridge) does not exist on this host; create it: \(OVSBridgeProbe.howToCreate(bridge))"
        case .unknown(let reason):
            return "the Open vSwitch bridge \(bridge) could not be checked: \(reason); start Open vSwitch (ovsdb-server, ovs-vswitchd) and create it: \(OVSBridgeProbe.howToCreate(bridge))"
        }
    }
}
