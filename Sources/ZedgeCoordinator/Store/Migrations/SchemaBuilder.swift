import Foundation

// The DDL builder every schema migration uses.

enum Nullability {
    case notNull
    case nullable
}

enum OnDelete: String {
    case cascade = "CASCADE"
    case restrict = "RESTRICT"
    case setNull = "SET NULL"
}

/// Collects one table's columns, constraints and indexes.
final class TableBuilder {
    struct ForeignKey {
        let column: String
        let target: String
        let onDelete: OnDelete
    }

    let name: String
    let t: ColumnTypes
    private(set) var columns: [String] = []
    private(set) var checks: [String] = []
    private(set) var foreignKeys: [ForeignKey] = []
    private(set) var uniques: [[String]] = []
    private(set) var indexes: [[String]] = []
    /// Columns that get a single-column index unless an index or UNIQUE already leads with them.
    private(set) var indexCandidates: [String] = []

    init(name: String, types: ColumnTypes) {
        self.name = name
        self.t = types
    }

    func id() { columns.append("id \(t.uuid) NOT NULL PRIMARY KEY") }

    func column(_ column: String, _ type: String, _ null: Nullability, default value: String?) {
        var definition = "\(column) \(type)"
        if null == .notNull { definition += " NOT NULL" }
        if let value { definition += " DEFAULT \(value)" }
        columns.append(definition)
        if column == "status" || column == "tenant_id" || column == "user_id" { indexCandidates.append(column) }
    }

    func uuid(_ c: String, _ null: Nullability = .notNull) { column(c, t.uuid, null, default: nil) }
    func timestamp(_ c: String, _ null: Nullability = .notNull) { column(c, t.timestamp, null, default: nil) }
    func json(_ c: String, _ null: Nullability = .notNull) { column(c, t.json, null, default: nil) }
    func text(_ c: String, _ null: Nullability = .notNull, default value: String? = nil) {
        column(c, t.text, null, default: value)
    }
    func integer(_ c: String, _ null: Nullability = .notNull, default value: String? = nil) {
        column(c, t.integer, null, default: value)
    }
    func double(_ c: String, _ null: Nullability = .notNull, default value: String? = nil) {
        column(c, t.double, null, default: value)
    }
    func bool(_ c: String, _ null: Nullability = .notNull, default value: String? = nil) {
        column(c, t.bool, null, default: value)
    }

    /// A TEXT column restricted to an enum's raw values (NULL passes a CHECK, so nullable columns work).
    func oneOf(_ c: String, _ values: [String], _ null: Nullability = .notNull) {
        column(c, t.text, null, default: nil)
        let list = values.map { "'\($0)'" }.joined(separator: ", ")
        checks.append("CONSTRAINT ck_\(name)_\(c) CHECK (\(c) IN (\(list)))")
    }

    /// A UUID column referencing `target(id)`.
    func ref(_ c: String, _ target: String, _ onDelete: OnDelete, _ null: Nullability = .notNull) {
        precondition(!(onDelete == .setNull && null == .notNull), "\(name).\(c): a NOT NULL column cannot SET NULL")
        column(c, t.uuid, null, default: nil)
        foreignKeys.append(ForeignKey(column: c, target: target, onDelete: onDelete))
        if !indexCandidates.contains(c) { indexCandidates.append(c) }
    }

    func unique(_ cols: String...) { uniques.append(cols) }
    func index(_ cols: String...) { indexes.append(cols) }
}

/// Renders tables in declaration order; forward foreign keys become ALTERs at the end on PostgreSQL.
final class SchemaBuilder {
    let types: ColumnTypes
    let engine: DatabaseEngine
    private var created: Set<String> = []
    private var statements: [String] = []
    private var deferred: [String] = []
    /// The tables and foreign keys declared so far (what `ReferenceCatalog` derives the delete rules from).
    private(set) var declared = DeclaredSchema()

    init(types: ColumnTypes, engine: DatabaseEngine) {
        self.types = types
        self.engine = engine
    }

    func table(_ name: String, _ body: (TableBuilder) -> Void) {
        precondition(!created.contains(name), "table \(name) declared twice")
        let c = TableBuilder(name: name, types: types)
        body(c)

        var parts = c.columns
        for cols in c.uniques {
            parts.append("CONSTRAINT uq_\(name)_\(cols.joined(separator: "_")) UNIQUE (\(cols.joined(separator: ", ")))")
        }
        parts += c.checks
        declared.tables.append(name)
        for fk in c.foreignKeys {
            declared.foreignKeys.append(ForeignKeyReference(table: name, column: fk.column, target: fk.target, onDelete: fk.onDelete))
            let clause = "CONSTRAINT fk_\(name)_\(fk.column) FOREIGN KEY (\(fk.column)) "
                + "REFERENCES \(fk.target)(id) ON DELETE \(fk.onDelete.rawValue)"
            if engine == .sqlite || fk.target == name || created.contains(fk.target) {
                parts.append(clause)
            } else {
                deferred.append("ALTER TABLE \(name) ADD \(clause)")
            }
        }
        statements.append("CREATE TABLE \(name) (\n    " + parts.joined(separator: ",\n    ") + "\n)")
        created.insert(name)

        var indexes = c.indexes
        let leading = Set((c.uniques + c.indexes).compactMap(\.first))
        for column in c.indexCandidates where !leading.contains(column) {
            indexes.append([column])
        }
        for cols in indexes {
            statements.append("CREATE INDEX ix_\(name)_\(cols.joined(separator: "_")) ON \(name) (\(cols.joined(separator: ", ")))")
        }
    }

    func finish() -> [String] { statements + deferred }
}
