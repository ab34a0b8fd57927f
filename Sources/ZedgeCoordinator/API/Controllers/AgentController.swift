import Foundation
import Hummingbird
import ZedgeCore

/// `/agent/v1`: the agent protocol (DESIGN §4). Agents fetch the CA they pin, register with an enrollment
/// token, then speak with their credential.
public struct AgentController: Sendable {
    let enrollment: AgentEnrollment
    let caCertificatePEM: String?
    let tracker: LivenessTracker
    let heartbeatInterval: Int

    public func register(on routes: RouteRegistrar) {
        routes.on(.get, "ca.pem", summary: "The CA certificate agents pin (compare its SHA-256 with --ca-hash)",
                  action: "agent.ca", output: EmptyBody.self, authenticated: false) { _, _ in
            guard let caCertificatePEM else {
                throw Problem(.notFound, detail: "This coordinator uses an operator-supplied certificate; give agents its CA.")
            }
            return Response(status: .ok, headers: [.contentType: "application/x-pem-file"],
                            body: .init(byteBuffer: ByteBuffer(string: caCertificatePEM)))
        }
        routes.on(.post, "register", summary: "Register an agent with an enrollment token", action: "agent.register",
                  input: RegisterRequest.self, output: RegisterResponse.self, status: 201, authenticated: false) { request, context in
            let body = try await request.decodeBody(RegisterRequest.self, context: context).value
            let response = try await enrollment.register(body, audit: context.audit)
            return try JSONResponse.make(response, status: .created)
        }
        routes.on(.post, "heartbeat", summary: "Report liveness, readings and the VMs the hypervisor sees",
                  action: "agent.heartbeat", input: HeartbeatRequest.self, output: HeartbeatResponse.self) { request, context in
            let agent = try context.requireAgent()
            let body = try await request.decodeBody(HeartbeatRequest.self, context: context).value
            let now = Date()
            tracker.record(.init(
                host: agent.hostId, kind: agent.computeMachineId != nil ? .computeMachine : .cloudBox, at: now,
                metrics: body.metrics, observedVms: body.observedVms, agentVersion: body.agentVersion))
            return try JSONResponse.make(HeartbeatResponse(heartbeatIntervalS: heartbeatInterval, serverTime: now))
        }
    }
}

extension RegisterRequest: RequestBody {}

extension HeartbeatRequest: RequestBody {
    public func validate() -> [FieldError] {
        func percent(_ value: Double?, _ field: String) -> FieldError? {
            guard let value else { return nil }
            return (0...100).contains(value) ? nil : FieldError(field: "metrics.\(field)", message: "must be from 0 to 100")
        }
        return Validate.collect(
            percent(metrics.cpuUsagePercent, "cpuUsagePercent"),
            percent(metrics.memoryUsagePercent, "memoryUsagePercent"),
            percent(metrics.diskUsagePercent, "diskUsagePercent"),
            metrics.temperature.flatMap { (-60...200).contains($0) ? nil : FieldError(field: "metrics.temperature", message: "must be from -60 to 200") },
            metrics.uptimeSeconds.flatMap { $0 >= 0 ? nil : FieldError(field: "metrics.uptimeSeconds", message: "must not be negative") },
            observedVms.count > 10_000 ? FieldError(field: "observedVms", message: "at most 10000") : nil,
            agentVersion.count > 64 ? FieldError(field: "agentVersion", message: "at most 64 characters") : nil)
    }
}
