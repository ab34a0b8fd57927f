import Foundation
import SQLKit
import ZedgeCore

/// Rows appended over time and read back by equality filters and a time range: the audit log, metric
/// samples.
public protocol TimeSeriesRepository<Model>: Sendable {
    associatedtype Model: Codable & Sendable & Identifiable where Model.ID == UUID
    func append(_ entry: Model) async throws
    func list(_ query: TimeRangeQuery) async throws -> Page<Model>
    /// Removes the entries older than `date` (bounded retention).
    func prune(before date: Date) async throws
}

/// Equality filters, a time range [since, until) and a page.
public struct TimeRangeQuery: Sendable {
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

public struct SQLTimeSeriesRepository<Model: Codable & Sendable & Identifiable>: TimeSeriesRepository where Model.ID == UUID {
    let table: Table<Model>
    /// The column the range applies to (`created_at`, `recorded_at`).
    let timeColumn: String
    let database: Database

    public init(_ table: Table<Model>, timeColumn: String, database: Database) {
        self.table = table
        self.timeColumn = timeColumn
        self.database = database
    }

    public func append(_ entry: Model) async throws {
        try await table.insert(entry, on: database.sql)
    }

    public func prune(before date: Date) async throws {
        try await database.sql.delete(from: table.name).where(SQLIdentifier(timeColumn), .lessThan, SQLBind(date)).run()
    }

    public func list(_ query: TimeRangeQuery) async throws -> Page<Model> {
        var conditions: [any SQLExpression] = []
        if let since = query.since {
            conditions.append(SQLBinaryExpression(SQLIdentifier(timeColumn), SQLBinaryOperator.greaterThanOrEqual, SQLBind(since)))
        }
        if let until = query.until {
            conditions.append(SQLBinaryExpression(SQLIdentifier(timeColumn), SQLBinaryOperator.lessThan, SQLBind(until)))
        }
        let scope = conditions.isEmpty ? nil : conditions.dropFirst().reduce(conditions[0]) {
            SQLBinaryExpression($0, SQLBinaryOperator.and, $1) as any SQLExpression
        }
        return try await table.list(
            filters: try query.filters.map(SQLModelRepository<Model>.sqlFilter), scope: scope,
            page: query.page, on: database.sql)
    }
}
