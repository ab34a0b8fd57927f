#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Resource limits stored in `quotaConfig` on Tenant, UserGroup and User (DESIGN §2).
///
/// A `nil` limit means "no limit at this level". Every create/resize checks user ≤ groups ≤ tenant.
public struct QuotaConfig: Codable, Sendable, Hashable {
    public var cpuCores: Int?
    public var memoryGb: Int?
    public var storageGb: Int?
    public var gpuCount: Int?
    public var instances: Int?
    public var disks: Int?

    public init(
        cpuCores: Int? = nil, memoryGb: Int? = nil, storageGb: Int? = nil,
        gpuCount: Int? = nil, instances: Int? = nil, disks: Int? = nil
    ) {
        self.cpuCores = cpuCores
        self.memoryGb = memoryGb
        self.storageGb = storageGb
        self.gpuCount = gpuCount
        self.instances = instances
        self.disks = disks
    }

    /// A quota with no limits.
    public static let unlimited = QuotaConfig()

    /// The largest limit a quota may set.
    public static let maximumLimit = 1_000_000_000
}

extension QuotaConfig: FieldRuleDeclaring {
    /// Limits are counts: 0 (nothing allowed) to `maximumLimit`.
    public static var fieldRules: [String: FieldRule] {
        let limit = FieldRule.integer(0...maximumLimit)
        return ["cpuCores": limit, "memoryGb": limit, "storageGb": limit, "gpuCount": limit, "instances": limit, "disks": limit]
    }
}
