#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a principal holds (or asks for) in the units quotas count.
public struct ResourceUsage: Codable, Sendable, Hashable {
    public var cpuCores: Int
    public var memoryGb: Int
    public var storageGb: Int
    public var gpuCount: Int
    public var instances: Int
    public var disks: Int

    public init(cpuCores: Int = 0, memoryGb: Int = 0, storageGb: Int = 0, gpuCount: Int = 0, instances: Int = 0, disks: Int = 0) {
        self.cpuCores = cpuCores
        self.memoryGb = memoryGb
        self.storageGb = storageGb
        self.gpuCount = gpuCount
        self.instances = instances
        self.disks = disks
    }

    public static let zero = ResourceUsage()

    /// One instance of this size.
    public init(instance amounts: ClaimAmounts) {
        self.init(cpuCores: amounts.cpuCores, memoryGb: amounts.memoryGb, storageGb: amounts.storageGb,
                  gpuCount: amounts.gpuCount, instances: 1)
    }

    public static func + (a: ResourceUsage, b: ResourceUsage) -> ResourceUsage {
        ResourceUsage(cpuCores: a.cpuCores + b.cpuCores, memoryGb: a.memoryGb + b.memoryGb, storageGb: a.storageGb + b.storageGb,
                      gpuCount: a.gpuCount + b.gpuCount, instances: a.instances + b.instances, disks: a.disks + b.disks)
    }
}

/// Where a quota is set: on the user, on one of its groups, or on its tenant.
public enum QuotaLevel: Sendable, Hashable {
    case user(UUID, name: String)
    case group(UUID, name: String)
    case tenant(UUID, name: String)

    public var description: String {
        switch self {
        case .user(_, let name): "user '\(name)'"
        case .group(_, let name): "group '\(name)'"
        case .tenant(_, let name): "tenant '\(name)'"
        }
    }

    /// "USER", "GROUP" or "TENANT".
    public var kind: String {
        switch self {
        case .user: "USER"
        case .group: "GROUP"
        case .tenant: "TENANT"
        }
    }
}

/// One level's limits and what is already used under it.
public struct QuotaScope: Sendable, Hashable {
    public var level: QuotaLevel
    public var limits: QuotaConfig
    public var usage: ResourceUsage

    public init(level: QuotaLevel, limits: QuotaConfig, usage: ResourceUsage) {
        self.level = level
        self.limits = limits
        self.usage = usage
    }
}

/// A request that would go over a limit.
public struct QuotaViolation: Error, Sendable, Hashable {
    public var level: QuotaLevel
    /// The QuotaConfig field: "cpuCores", "memoryGb", "storageGb", "gpuCount", "instances" or "disks".
    public var limit: String
    public var allowed: Int
    public var used: Int
    public var requested: Int

    public var message: String {
        "The \(level.description) quota for \(limit) is \(allowed); \(used) in use and \(requested) requested would make \(used + requested)."
    }
}

/// Quotas are checked user first, then each of its groups, then its tenant (DESIGN §2); the first limit
/// the request would exceed is the answer.
public enum QuotaCheck {
    public static func check(_ request: ResourceUsage, against scopes: [QuotaScope]) -> QuotaViolation? {
        for scope in scopes {
            let fields: [(String, Int?, Int, Int)] = [
                ("instances", scope.limits.instances, scope.usage.instances, request.instances),
                ("cpuCores", scope.limits.cpuCores, scope.usage.cpuCores, request.cpuCores),
                ("memoryGb", scope.limits.memoryGb, scope.usage.memoryGb, request.memoryGb),
                ("storageGb", scope.limits.storageGb, scope.usage.storageGb, request.storageGb),
                ("gpuCount", scope.limits.gpuCount, scope.usage.gpuCount, request.gpuCount),
                ("disks", scope.limits.disks, scope.usage.disks, request.disks),
            ]
            for (name, limit, used, requested) in fields {
                guard let limit, requested > 0 else { continue }
                if used + requested > limit {
                    return QuotaViolation(level: scope.level, limit: name, allowed: limit, used: used, requested: requested)
                }
            }
        }
        return nil
    }
}
