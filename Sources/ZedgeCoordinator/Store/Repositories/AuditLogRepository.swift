import Foundation
import SQLKit
import ZedgeCore

/// The audit log: appended to, filtered by user, resource type, action, status, tenant and time.
public protocol AuditLogRepository: Sendable {
    func append(_ entry: AuditLog) async throws
    func list(_ query: AuditLogQuery) async throws -> Page<AuditLog>
}

public struct AuditLogQuery: Sendable {
    public var filters: [PropertyFilter]
    public var since: Date?
    public var until: Date?
    public var page: PageRequest

    public init(filters: [PropertyFilter] = [], since: Date? = nil, until: Date? = nil, page: PageRequest = .init()) {
        self.filters = filters
        self.since = since
        self.until = until
        self.page = page
    }
}

public struct SQLAuditLogRepository: AuditLogRepository {
    let table = Table<AuditLog>("audit_logs", resource: "audit log entry")
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func append(_ entry: AuditLog) async throws {
        try await table.insert(entry, on: database.sql)
    }

    public func list(_ query: AuditLogQuery) async throws -> Page<AuditLog> {
        var conditions: [any SQLExpression] = []
        if let since = query.since {
            conditions.append(SQLBinaryExpression(SQLIdentifier("created_at"), SQLBinaryOperator.greaterThanOrEqual, SQLBind(since)))
        }
        if let until = query.until {
            conditions.append(SQLBinaryExpression(SQLIdentifier("created_at"), SQLBinaryOperator.lessThan, SQLBind(until)))
        }
        let scope = conditions.isEmpty ? nil : conditions.dropFirst().reduce(conditions[0]) {
            SQLBinaryExpression($0, SQLBinaryOperator.and, $1) as any SQLExpression
        }
        return try await table.list(
            filters: try query.filters.map(SQLModelRepository<AuditLog>.sqlFilter), scope: scope,
            page: query.page, on: database.sql)
    }
}
