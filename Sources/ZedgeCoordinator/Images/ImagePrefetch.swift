import Foundation
import ZedgeCore

/// Warms agents' image caches ahead of a rollout (`POST /api/v1/images/{id}/versions/{versionId}/actions/prefetch`):
/// one Operation with an `image.fetch` step per compute machine — every machine of an edge data center, or the
/// machines named. Machines that are OFFLINE or DECOMMISSIONING get a SKIPPED step (a fetch would wait for a
/// host that may never come back); a machine that already holds the image answers its task at once.
public struct ImagePrefetch: Sendable {
    let computeMachines: any ModelRepository<ComputeMachine>
    let dataCenters: any ModelRepository<EdgeDataCenter>
    let dispatcher: WorkDispatcher

    /// At most this many machines named in one request.
    public static let maximumMachines = 10_000

    public init(computeMachines: any ModelRepository<ComputeMachine>, dataCenters: any ModelRepository<EdgeDataCenter>,
                dispatcher: WorkDispatcher) {
        self.computeMachines = computeMachines
        self.dataCenters = dataCenters
        self.dispatcher = dispatcher
    }

    /// Where to warm the cache: every machine of a data center, or the machines named (exactly one of the two).
    public enum Target: Sendable {
        case edgeDataCenter(UUID)
        case computeMachines([UUID])
    }

    /// Queues the fetches. 409 for a version without a file or not ACTIVE; 400 naming `edgeDataCenterId` or
    /// `computeMachineIds[i]` for what does not exist.
    public func prefetch(_ version: ImageVersion, of image: Image, to target: Target, by principal: Principal,
                         request: JSONValue, now: Date = Date()) async throws -> ZedgeCore.Operation {
        guard let ref = version.imageRef else {
            throw DomainError.conflict("Image version \(version.versionNumber) has no file yet; upload it first.", field: "versionId")
        }
        guard image.status == .active, version.status == .active else {
            throw DomainError.conflict("Image version \(version.versionNumber) is \(version.status == .active ? image.status.rawValue : version.status.rawValue): it is not rolled out.",
                                       field: "versionId")
        }
        let machines: [ComputeMachine]
        switch target {
        case .edgeDataCenter(let id):
            guard try await dataCenters.find(id) != nil else { throw DomainError.invalid(field: "edgeDataCenterId", "no such edge data center") }
            machines = try await allPages({ try await computeMachines.list(.init(filters: [PropertyFilter("edgeDataCenterId", .uuid(id))], page: $0)) })
        case .computeMachines(let ids):
            var found: [ComputeMachine] = []
            var errors: [FieldError] = []
            for (i, id) in ids.enumerated() {
                if let machine = try await computeMachines.find(id) {
                    found.append(machine)
                } else {
                    errors.append(FieldError(field: "computeMachineIds[\(i)]", message: "no such compute machine"))
                }
            }
            guard errors.isEmpty else { throw DomainError.invalid(errors) }
            machines = found
        }
        let payload = try JSONValue(encoding: ImageFetchPayload(image: ref))
        var plan = OperationPlan(kind: "image.prefetch", tenantId: image.tenantId, userId: principal.userId,
                                 resourceType: ResourceType.image.rawValue, resourceId: version.id, request: request)
        for machine in machines.sorted(by: { $0.name < $1.name }) {
            if machine.status == .offline || machine.status == .decommissioning {
                plan.settled("\(machine.name): \(machine.status.rawValue)", weight: 1, .skipped)
            } else {
                plan.task(.imageFetch, for: .computeMachine(machine.id), payload: payload, name: "fetch on \(machine.name)")
            }
        }
        return try await dispatcher.submit(plan, now: now)
    }
}
