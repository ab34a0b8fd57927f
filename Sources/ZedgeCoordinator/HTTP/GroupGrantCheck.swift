import Foundation
import ZedgeCore

/// The `groupIds` of a GROUP_SPECIFIC template or image: each group exists and lives in the resource's tenant
/// (any tenant for a global resource). Returns them without repeats, sorted; 400 naming `groupIds[i]`.
struct GroupGrantCheck: Sendable {
    let userGroups: any ModelRepository<UserGroup>
    /// "template", "image": how the message names the resource.
    let resource: String

    func validated(_ ids: [UUID], tenantId: UUID?) async throws -> [UUID] {
        let unique = Array(Set(ids)).sorted { $0.uuidString < $1.uuidString }
        for (i, id) in unique.enumerated() {
            guard let group = try await userGroups.find(id), tenantId == nil || group.tenantId == tenantId else {
                throw Problem.invalid(field: "groupIds[\(i)]", "no such group in the \(resource)'s tenant")
            }
        }
        return unique
    }
}
