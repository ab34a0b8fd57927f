import Foundation
import SQLKit

/// One foreign key as a migration declared it (`TableBuilder.ref`): `table.column` refers to `target(id)`.
struct ForeignKeyReference: Hashable, Sendable, CustomStringConvertible {
    let table: String
    let column: String
    let target: String
    let onDelete: OnDelete

    var description: String { "\(table).\(column) → \(target) ON DELETE \(onDelete.rawValue)" }
}

/// What the schema builder of one migration declared: its tables and their foreign keys.
struct DeclaredSchema: Sendable {
    var tables: [String] = []
    var foreignKeys: [ForeignKeyReference] = []
}

/// Rows of `table` that keep a parent row from being deleted: `table.columns` refer to the parent with ON
/// DELETE RESTRICT, either directly (`through` is empty) or to a row that deleting the parent would CASCADE
/// to (`through`: the CASCADE steps, from the parent outwards; the child refers to the last one's table).
struct BlockingReference: Hashable, Sendable, CustomStringConvertible {
    let table: String
    /// The child's columns that refer to the parent (one row counts once, however many of them do).
    let columns: [String]
    let through: [ForeignKeyReference]

    /// What one child row is called in messages.
    var resource: String { ResourceNames.of(table) }

    /// The child's property that refers to the parent, as the API spells it: `resourcePools.edgeDataCenterId`.
    var field: String { RowCodec.property(table) + "." + columns.map(RowCodec.property).joined(separator: ",") }

    var description: String {
        (through.map { "\($0.table).\($0.column) CASCADE → " }.joined()) + "\(table).\(columns.joined(separator: ","))"
    }

    /// `(SELECT COUNT(*) FROM child WHERE …)` for the parent row `id`.
    func countExpression(parent id: UUID) -> SQLQueryString {
        // The innermost condition selects the rows CASCADE would reach, outwards from the parent.
        var rows: SQLQueryString = "\(bind: id)"
        for step in through {
            rows = "SELECT id FROM \(ident: step.table) WHERE \(ident: step.column) IN (\(rows))"
        }
        let matches = columns.map { column -> SQLQueryString in
            through.isEmpty ? "\(ident: column) = \(bind: id)" : "\(ident: column) IN (\(rows))"
        }
        return "(SELECT COUNT(*) FROM \(ident: table) WHERE \(matches.joined(separator: " OR ")))"
    }
}

/// The references that block deletes, derived once from the foreign keys every migration declares: for
/// each parent table, the child tables whose RESTRICT references point at it. CASCADE and SET NULL children
/// do not block a delete, but the RESTRICT children of rows a delete would cascade to do (deleting a VPC
/// cascades to its subnets, which IP addresses still use).
///
/// `Table.delete` counts these children before it deletes, so a refused delete says what still refers to
/// the row and how many (`ConstraintViolation.stillReferenced`).
enum ReferenceCatalog {
    /// Every foreign key of every migration, in declaration order.
    static let foreignKeys: [ForeignKeyReference] = Migrator.all.flatMap(\.declared.foreignKeys)

    /// Parent table → the references that block deleting one of its rows, in declaration order.
    static let blocking: [String: [BlockingReference]] = derive(foreignKeys)

    static func blocking(_ table: String) -> [BlockingReference] { blocking[table] ?? [] }

    static func derive(_ keys: [ForeignKeyReference]) -> [String: [BlockingReference]] {
        var result: [String: [BlockingReference]] = [:]
        for parent in Set(keys.map(\.target)) {
            let found = blocking(parent, keys, through: [], visited: [parent])
            if !found.isEmpty { result[parent] = found }
        }
        return result
    }

    private static func blocking(
        _ parent: String, _ keys: [ForeignKeyReference], through: [ForeignKeyReference], visited: Set<String>
    ) -> [BlockingReference] {
        let into = keys.filter { $0.target == parent }
        var tables: [String] = []
        var columns: [String: [String]] = [:]
        for key in into where key.onDelete.blocksDelete {
            if columns[key.table] == nil { tables.append(key.table) }
            columns[key.table, default: []].append(key.column)
        }
        var found = tables.map { BlockingReference(table: $0, columns: columns[$0]!, through: through) }
        for key in into where key.onDelete == .cascade && !visited.contains(key.table) {
            found += blocking(key.table, keys, through: through + [key], visited: visited.union([key.table]))
        }
        return found
    }

    /// The 409 for deleting `id` from `table` (whose rows are called `resource`) while rows refer to it
    /// with ON DELETE RESTRICT, naming each kind and how many; nil when nothing blocks the delete.
    static func conflict(deleting id: UUID, from table: String, resource: String, on db: any SQLDatabase) async throws -> DomainError? {
        let referrers = try await referrers(of: id, in: table, on: db)
        guard !referrers.isEmpty else { return nil }
        return ConstraintViolation.stillReferenced(
            resource: resource, by: referrers.map { ConstraintViolation.Referrers($0.0, count: $0.1) })
    }

    /// How many rows of each blocking kind refer to `id` of `table` (only the kinds with any), in one query.
    static func referrers(of id: UUID, in table: String, on db: any SQLDatabase) async throws -> [(BlockingReference, Int)] {
        let references = blocking(table)
        guard !references.isEmpty else { return [] }
        let columns = references.enumerated().map { index, reference -> SQLQueryString in
            "\(reference.countExpression(parent: id)) AS \(ident: "n\(index)")"
        }
        guard let row = try await db.raw("SELECT \(columns.joined(separator: ", "))").first() else { return [] }
        return try references.enumerated().compactMap { index, reference in
            let count = try row.decode(column: "n\(index)", as: Int.self)
            return count > 0 ? (reference, count) : nil
        }
    }
}

extension OnDelete {
    /// Whether a row referring with this rule keeps its parent from being deleted.
    var blocksDelete: Bool {
        switch self {
        case .restrict: true
        case .cascade, .setNull: false
        }
    }
}
