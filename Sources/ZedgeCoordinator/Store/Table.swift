import Foundation
import SQLKit
import ZedgeCore

/// Typed access to one table whose rows are a model (see `RowCodec`): the CRUD every repository shares.
public struct Table<Model: Codable & Sendable & Identifiable>: Sendable where Model.ID == UUID {
    public let name: String
    /// The resource's name in messages ("user group").
    public let resource: String

    /// The table `name`, its rows called what `ResourceNames` says.
    public init(_ name: String) {
        self.init(name, resource: ResourceNames.of(name))
    }

    /// Prefer `init(_:)`: `ResourceNames` is the one vocabulary, and a different `resource` here makes
    /// this table's messages disagree with the delete conflicts that name its rows.
    public init(_ name: String, resource: String) {
        self.name = name
        self.resource = resource
    }

    /// An equality condition on a column (an inequality when `negated`).
    public struct Filter: Sendable {
        public var column: String
        public var value: any SQLExpression
        public var negated = false
        public init(_ column: String, _ value: any SQLExpression) {
            self.column = column
            self.value = value
        }
        public static func equal<T: Encodable & Sendable>(_ property: String, _ value: T) throws -> Filter {
            Filter(RowCodec.column(property), try RowCodec.bind(value))
        }
        /// `column IS NULL`.
        public static func isNull(_ property: String) -> Filter { Filter(RowCodec.column(property), SQLLiteral.null) }
    }

    /// Inserts `model`'s row, with `secrets` as further columns (column, value), and `overrides` (column → value) in
    /// place of what the model holds for those columns.
    public func insert(_ model: Model, secrets: [(String, String)] = [], overriding overrides: [String: any SQLExpression] = [:],
                       on db: any SQLDatabase) async throws {
        var columns = try RowCodec.columns(of: model)
        if !overrides.isEmpty {
            columns = columns.map { column in (column.column, overrides[column.column] ?? column.value) }
        }
        columns += secrets.map { ($0.0, SQLBind($0.1) as any SQLExpression) }
        do {
            try await db.execute(sql: StatementText.insert(into: name, columns, in: db)) { _ in }
        } catch {
            throw ConstraintViolation.map(error, resource: resource, operation: .write)
        }
    }

    /// Inserts `models` in multi-row statements of at most `rowsPerStatement` rows (every model encodes the
    /// same columns: `RowCodec` writes each nil as NULL).
    public func insert(_ models: [Model], rowsPerStatement: Int = 100, on db: any SQLDatabase) async throws {
        for start in stride(from: 0, to: models.count, by: max(1, rowsPerStatement)) {
            let rows = try models[start..<min(start + max(1, rowsPerStatement), models.count)].map { try RowCodec.columns(of: $0) }
            guard let columns = rows.first?.map(\.column) else { continue }
            guard rows.allSatisfy({ $0.map(\.column) == columns }) else {
                for model in models[start..<min(start + max(1, rowsPerStatement), models.count)] { try await insert(model, on: db) }
                continue
            }
            var insert = db.insert(into: name).columns(columns)
            for row in rows { insert = insert.values(row.map(\.value)) }
            do {
                try await insert.run()
            } catch {
                throw ConstraintViolation.map(error, resource: resource, operation: .write)
            }
        }
    }

    public func find(_ id: UUID, on db: any SQLDatabase) async throws -> Model? {
        try await db.raw("\(StatementText.find(in: name, id: id, in: db))").first()
            .map { try RowCodec.decode(Model.self, from: $0) }
    }

    public func first(where filters: [Filter], on db: any SQLDatabase) async throws -> Model? {
        var query = db.select().column("*").from(name)
        for filter in filters { query = query.where(condition(filter)) }
        return try await query.limit(1).first().map { try RowCodec.decode(Model.self, from: $0) }
    }

    /// Writes every column of `model` (by id); false when no such row.
    @discardableResult
    public func update(_ model: Model, on db: any SQLDatabase) async throws -> Bool {
        let columns = try RowCodec.columns(of: model).filter { $0.column != "id" }
        do {
            return try await db.raw("\(StatementText.update(name, set: columns, id: model.id, in: db))").all().count == 1
        } catch {
            throw ConstraintViolation.map(error, resource: resource, operation: .write)
        }
    }

    /// Writes only `columns` of the row `id` (each a column name and its value, as `RowCodec.bind` makes it): what a
    /// change touches, without encoding the rest of the model again; false when no such row.
    @discardableResult
    public func update(_ id: UUID, set columns: [(column: String, value: any SQLExpression)], on db: any SQLDatabase) async throws -> Bool {
        do {
            return try await db.raw("\(StatementText.update(name, set: columns, id: id, in: db))").all().count == 1
        } catch {
            throw ConstraintViolation.map(error, resource: resource, operation: .write)
        }
    }

    /// Deletes the row; false when there was none. Refused with a 409 that names what still refers to the
    /// row and how many (`ConstraintViolation.stillReferenced`) while rows refer to it with ON DELETE
    /// RESTRICT (`ReferenceCatalog`): counted first, on the connection that then deletes. A row that
    /// arrives between the count and the delete fails the delete in the engine; that is a 409 too, counted
    /// again when the connection still answers (not inside a failed PostgreSQL transaction).
    @discardableResult
    public func delete(_ id: UUID, on db: any SQLDatabase) async throws -> Bool {
        let name = self.name, resource = self.resource
        return try await db.withSession { session in
            if let conflict = try await ReferenceCatalog.conflict(deleting: id, from: name, resource: resource, on: session) {
                throw conflict
            }
            do {
                return try await session.delete(from: name).where("id", .equal, id).returning("id").all().count == 1
            } catch {
                if ConstraintViolation.isForeignKeyViolation(error),
                   let conflict = try? await ReferenceCatalog.conflict(deleting: id, from: name, resource: resource, on: session) {
                    throw conflict
                }
                throw ConstraintViolation.map(error, resource: resource, operation: .delete)
            }
        }
    }

    /// One page in id order, with equality filters and an optional extra condition (a scope).
    public func list(
        filters: [Filter], scope: (any SQLExpression)? = nil, page: PageRequest, on db: any SQLDatabase
    ) async throws -> Page<Model> {
        var query = db.select().column("*").from(name)
        for filter in filters { query = query.where(condition(filter)) }
        if let scope { query = query.where(scope) }
        if let after = page.after { query = query.where("id", .greaterThan, after) }
        let rows = try await query.orderBy("id").limit(page.limit + 1).all()
        let items = try rows.prefix(page.limit).map { try RowCodec.decode(Model.self, from: $0) }
        let next = rows.count > page.limit ? items.last.map { Cursor.encode($0.id) } : nil
        return Page(items: items, nextCursor: next)
    }

    public func count(where filters: [Filter], on db: any SQLDatabase) async throws -> Int {
        var query = db.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from(name)
        for filter in filters { query = query.where(condition(filter)) }
        return try await query.first()?.decode(column: "n", as: Int.self) ?? 0
    }

    func condition(_ filter: Filter) -> any SQLExpression {
        if filter.value is SQLLiteral {
            return SQLBinaryExpression(
                SQLIdentifier(filter.column), filter.negated ? SQLBinaryOperator.isNot : SQLBinaryOperator.is, SQLLiteral.null)
        }
        return SQLBinaryExpression(
            SQLIdentifier(filter.column), filter.negated ? SQLBinaryOperator.notEqual : SQLBinaryOperator.equal, filter.value)
    }
}

/// Opaque page cursors: base64url of the last id.
public enum Cursor {
    public static func encode(_ id: UUID) -> String {
        Data(id.uuidString.utf8).base64URLEncoded()
    }

    public static func decode(_ cursor: String) -> UUID? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64) else { return nil }
        return UUID(uuidString: String(decoding: data, as: UTF8.self))
    }
}
