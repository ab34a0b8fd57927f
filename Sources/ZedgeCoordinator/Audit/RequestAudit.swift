import Foundation
import Synchronization
import ZedgeCore

/// What a request's handlers learned that its audit row should say: who (set by authentication), which
/// object, and details without secrets. A reference shared by the request's middleware and handler.
public final class RequestAudit: Sendable {
    private struct State {
        var userId: UUID?
        var tenantId: UUID?
        var resourceId: UUID?
        var details: [String: JSONValue] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func actor(_ userId: UUID?, tenantId: UUID?) {
        state.withLock {
            $0.userId = userId
            $0.tenantId = tenantId
        }
    }

    public func resource(_ id: UUID?) { state.withLock { $0.resourceId = id } }

    public func detail(_ key: String, _ value: JSONValue) { state.withLock { $0.details[key] = value } }

    var snapshot: (userId: UUID?, tenantId: UUID?, resourceId: UUID?, details: [String: JSONValue]) {
        state.withLock { ($0.userId, $0.tenantId, $0.resourceId, $0.details) }
    }
}
