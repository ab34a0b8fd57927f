#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ZedgeCore
import ZedgeTransport

/// `zedge-agent register`: pins the coordinator's CA, reports the host's facts with an enrollment token,
/// and keeps the credential it gets back.
public enum AgentRegistration {
    public struct Overrides: Sendable {
        public var hostname: String?
        public var managementIp: String?
        public var serialNumber: String?
        /// libvirt's `<domain type=…>` the agent will use (`DomainTypeSelection`); compute machines only.
        public var domainType: String?
        /// The Open vSwitch integration bridge, when it exists (`IntegrationBridge`); compute machines only.
        public var integrationBridge: String?
        public init(hostname: String? = nil, managementIp: String? = nil, serialNumber: String? = nil, domainType: String? = nil,
                    integrationBridge: String? = nil) {
            self.hostname = hostname
            self.managementIp = managementIp
            self.serialNumber = serialNumber
            self.domainType = domainType
            self.integrationBridge = integrationBridge
        }
    }

    public static func register(
        coordinator: String, token: String, caPin: String, kind: EnrollmentKind, stateDirectory: String,
        overrides: Overrides = .init(), logger: Logger
    ) async throws -> AgentState {
        // Refuses any coordinator whose CA does not match the pin, before sending the token anywhere.
        let caPEM = try await CAPinning.fetchPinnedCA(coordinator: coordinator, pin: caPin)
        var facts = HostFactsCollector().collect()
        if let hostname = overrides.hostname { facts.hostname = hostname }
        if let managementIp = overrides.managementIp { facts.managementIp = managementIp }
        if let serialNumber = overrides.serialNumber { facts.serialNumber = serialNumber }
        facts.domainType = overrides.domainType
        facts.integrationBridge = overrides.integrationBridge
        logger.info("registering", metadata: ["hostname": "\(facts.hostname)", "managementIp": "\(facts.managementIp)", "kind": "\(kind.rawValue)"])
        let client = CoordinatorClient(baseURL: coordinator, caPEM: caPEM, credential: nil)
        let response = try await client.register(RegisterRequest(enrollmentToken: token, kind: kind, facts: facts))
        let state = AgentState(
            coordinator: client.baseURL, kind: kind, agentId: response.agentId, machineId: response.machineId,
            cloudBoxId: response.cloudBoxId, heartbeatIntervalS: response.heartbeatIntervalS)
        try state.save(in: stateDirectory, credential: response.credential, caPEM: caPEM)
        return state
    }
}
