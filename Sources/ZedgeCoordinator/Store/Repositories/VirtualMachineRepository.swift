import Foundation
import SQLKit
import ZedgeCore

/// Whose virtual machines a reader may see.
public enum VirtualMachineScope: Sendable {
    case all
    /// Those of the tenant's instances (nil: none).
    case tenant(UUID?)
    /// Those of the user's own instances.
    case user(UUID)
}

/// Virtual machines as the read-only API lists them.
public protocol VirtualMachineRepository: ModelStore where Model == VirtualMachine {
    func list(_ query: ListQuery, scope: VirtualMachineScope) async throws -> Page<VirtualMachine>
    func find(_ id: UUID, scope: VirtualMachineScope) async throws -> VirtualMachine?
}

public struct SQLVirtualMachineRepository: VirtualMachineRepository, SQLBackedStore {
    let base: SQLModelRepository<VirtualMachine>
    var database: Database { base.database }
    let table = Tables.virtualMachines

    public init(database: Database) {
        base = SQLModelRepository(Tables.virtualMachines, database: database)
    }

    public func list(_ query: ListQuery, scope: VirtualMachineScope) async throws -> Page<VirtualMachine> {
        try await table.list(filters: try query.filters.map(SQLModelRepository<VirtualMachine>.sqlFilter), scope: condition(scope),
                             page: query.page, on: database.sql)
    }

    public func find(_ id: UUID, scope: VirtualMachineScope) async throws -> VirtualMachine? {
        try await table.list(filters: [try .equal("id", id)], scope: condition(scope), page: PageRequest(limit: 1), on: database.sql).items.first
    }

    func condition(_ scope: VirtualMachineScope) -> SQLQueryString? {
        switch scope {
        case .all: nil
        case .tenant(nil): "1 = 0"
        case .tenant(let tenant?): "instance_id IN (SELECT id FROM instances WHERE tenant_id = \(bind: tenant))"
        case .user(let user): "instance_id IN (SELECT id FROM instances WHERE user_id = \(bind: user))"
        }
    }
}
