import Foundation
import SQLKit
import ZedgeCore

/// An equality condition on a model property, independent of SQL.
public struct PropertyFilter: Sendable {
    public enum Value: Sendable {
        case uuid(UUID)
        case string(String)
        case int(Int)
        case bool(Bool)
        case null
    }

    public var property: String
    public var value: Value
    /// `property <> value` (or `IS NOT NULL`) instead of equality: how lists leave soft-deleted rows out.
    public var negated: Bool

    public init(_ property: String, _ value: Value, negated: Bool = false) {
        self.property = property
        self.value = value
        self.negated = negated
    }

    public static func equal(_ property: String, _ id: UUID?) -> PropertyFilter {
        PropertyFilter(property, id.map { .uuid($0) } ?? .null)
    }
}

/// A list request: equality filters (ANDed) and a page.
public struct ListQuery: Sendable {
    public var filters: [PropertyFilter]
    public var page: PageRequest

    public init(filters: [PropertyFilter] = [], page: PageRequest = .init()) {
        self.filters = filters
        self.page = page
    }
}

/// Read, update, delete and list for one model. Creation is separate because some models are created
/// with a secret beside them (see `UserRepository`, `ApiKeyRepository`).
public protocol ModelStore<Model>: Sendable {
    associatedtype Model: Codable & Sendable & Identifiable where Model.ID == UUID
    func find(_ id: UUID) async throws -> Model?
    /// False when the row is gone.
    func update(_ model: Model) async throws -> Bool
    /// False when there was no such row.
    func delete(_ id: UUID) async throws -> Bool
    func list(_ query: ListQuery) async throws -> Page<Model>
    func count(_ filters: [PropertyFilter]) async throws -> Int
}

extension ModelStore {
    /// The first model matching every filter, in id order.
    public func first(_ filters: [PropertyFilter]) async throws -> Model? {
        try await list(ListQuery(filters: filters, page: PageRequest(limit: 1))).items.first
    }
}

/// A `ModelStore` whose models are created as they are.
public protocol ModelRepository<Model>: ModelStore {
    func insert(_ model: Model) async throws
}

/// A store that keeps its rows in an `SQLModelRepository` and adds its own (secret-aware) creation.
protocol SQLBackedStore: ModelStore {
    var base: SQLModelRepository<Model> { get }
}

extension SQLBackedStore {
    public func find(_ id: UUID) async throws -> Model? { try await base.find(id) }
    public func update(_ model: Model) async throws -> Bool { try await base.update(model) }
    public func delete(_ id: UUID) async throws -> Bool { try await base.delete(id) }
    public func list(_ query: ListQuery) async throws -> Page<Model> { try await base.list(query) }
    public func count(_ filters: [PropertyFilter]) async throws -> Int { try await base.count(filters) }
}

/// `ModelRepository` on SQL.
public struct SQLModelRepository<Model: Codable & Sendable & Identifiable>: ModelRepository where Model.ID == UUID {
    public let table: Table<Model>
    public let database: Database

    public init(_ table: Table<Model>, database: Database) {
        self.table = table
        self.database = database
    }

    public func insert(_ model: Model) async throws { try await table.insert(model, on: database.sql) }
    /// The row by its primary key, read on the caller's thread with SQLite (`Database.pointReads`).
    public func find(_ id: UUID) async throws -> Model? { try await table.find(id, on: database.pointReads) }
    public func update(_ model: Model) async throws -> Bool { try await table.update(model, on: database.sql) }
    public func delete(_ id: UUID) async throws -> Bool { try await table.delete(id, on: database.sql) }

    public func list(_ query: ListQuery) async throws -> Page<Model> {
        try await table.list(filters: try query.filters.map(Self.sqlFilter), page: query.page, on: database.sql)
    }

    public func count(_ filters: [PropertyFilter]) async throws -> Int {
        try await table.count(where: try filters.map(Self.sqlFilter), on: database.sql)
    }

    static func sqlFilter(_ filter: PropertyFilter) throws -> Table<Model>.Filter {
        var result: Table<Model>.Filter = switch filter.value {
        case .uuid(let v): try .equal(filter.property, v)
        case .string(let v): try .equal(filter.property, v)
        case .int(let v): try .equal(filter.property, v)
        case .bool(let v): try .equal(filter.property, v)
        case .null: .isNull(filter.property)
        }
        result.negated = filter.negated
        return result
    }
}
