import Foundation
import PostgresKit
import ZedgeCore

/// Turns the engines' constraint errors into the API's answers: a unique violation is a 409 naming the
/// field; a foreign-key violation is a 409 (still referenced) on delete and a 400 (refers to nothing) on
/// write. Everything else passes through untouched. Also makes the "still has N children" conflict of a
/// refused delete (`stillReferenced`), the one place such errors are made.
enum ConstraintViolation {
    enum Operation { case write, delete }

    static func map(_ error: any Error, resource: String, operation: Operation) -> any Error {
        if let error = error as? PostgresTransactionError, let inner = error.closureError {
            return map(inner, resource: resource, operation: operation)
        }
        if let error = error as? SQLiteStoreError {
            if error.isForeignKeyViolation { return foreignKey(resource: resource, operation: operation) }
            guard error.isUniqueViolation else { return error }
            // "UNIQUE constraint failed: user_groups.tenant_id, user_groups.name"
            let columns = error.message.components(separatedBy: ": ").last?
                .split(separator: ",").map { $0.split(separator: ".").last.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? "" } ?? []
            return unique(columns: columns, resource: resource)
        }
        if let error = error as? PSQLError, error.code == .server, let state = error.serverInfo?[.sqlState] {
            if state == PostgresError.Code.uniqueViolation.raw {
                // "Key (tenant_id, name)=(…) already exists."
                let detail = error.serverInfo?[.detail] ?? ""
                let columns: [String]
                if let open = detail.firstIndex(of: "("), let close = detail.firstIndex(of: ")"), open < close {
                    columns = detail[detail.index(after: open)..<close].split(separator: ",")
                        .map { $0.trimmingCharacters(in: .whitespaces) }
                } else {
                    columns = []
                }
                return unique(columns: columns, resource: resource)
            }
            if state == PostgresError.Code.foreignKeyViolation.raw {
                return foreignKey(resource: resource, operation: operation)
            }
        }
        return error
    }

    /// The field a client can act on is the last column of the key (the name within a tenant, say).
    static func unique(columns: [String], resource: String) -> DomainError {
        guard let last = columns.last, !last.isEmpty else {
            return DomainError.conflict("\(Self.article(resource)) \(resource) like this already exists.")
        }
        let field = RowCodec.property(last)
        let scope = columns.dropLast().map { RowCodec.property($0) }
        let within = scope.isEmpty ? "" : " within this \(scope.map { $0.replacingOccurrences(of: "Id", with: "") }.joined(separator: ", "))"
        return DomainError.conflict("\(Self.article(resource)) \(resource) with this \(field) already exists\(within).", field: field)
    }

    static func foreignKey(resource: String, operation: Operation) -> DomainError {
        switch operation {
        case .delete:
            // The engine does not say by what (SQLite never does); `Table.delete` counts first, so this
            // answers only a child that arrived between its count and its delete.
            stillReferenced(resource: resource, by: [])
        case .write:
            DomainError.badRequest("A referenced object does not exist.")
        }
    }

    /// Whether `error` is an engine's foreign-key violation.
    static func isForeignKeyViolation(_ error: any Error) -> Bool {
        if let error = error as? PostgresTransactionError, let inner = error.closureError {
            return isForeignKeyViolation(inner)
        }
        if let error = error as? SQLiteStoreError { return error.isForeignKeyViolation }
        if let error = error as? PSQLError, error.code == .server {
            return error.serverInfo?[.sqlState] == PostgresError.Code.foreignKeyViolation.raw
        }
        return false
    }

    /// One kind of object that still refers to an object a delete would remove: what one is called
    /// ("resource pool"), how many there are, and their property that refers (`resourcePools.edgeDataCenterId`).
    struct Referrers: Sendable, Equatable {
        var noun: String
        var count: Int
        var field: String

        init(_ noun: String, count: Int, field: String) {
            self.noun = noun
            self.count = count
            self.field = field
        }

        init(_ reference: BlockingReference, count: Int) {
            self.init(reference.resource, count: count, field: reference.field)
        }
    }

    /// 409 for a delete refused because other objects still refer to the object: "The edge data center still
    /// has 1 resource pool and 2 compute machines.", with one `errors` entry per kind naming the referring
    /// property. `hint` says what to do instead. With no referrers (the engine refused without saying why):
    /// "The tenant is still referenced by other objects; remove those first."
    ///
    /// Every "still referenced" conflict is made here, whether counted by `Table.delete`, by a route's own
    /// rule (child groups, instances made from a template) or mapped from an engine's foreign-key error.
    static func stillReferenced(resource: String, by referrers: [Referrers], hint: String? = nil) -> DomainError {
        let referrers = referrers.filter { $0.count > 0 }
        let subject = "The " + resource
        guard !referrers.isEmpty else {
            return DomainError.conflict("\(subject) is still referenced by other objects; remove those first.")
        }
        let counted = referrers.map { ResourceNames.counted($0.count, $0.noun) }
        let list = counted.count == 1 ? counted[0] : counted.dropLast().joined(separator: ", ") + " and " + counted.last!
        let detail = "\(subject) still has \(list)" + (hint.map { "; \($0)." } ?? ".")
        let errors = referrers.map { referrer in
            FieldError(field: referrer.field, message: "\(ResourceNames.counted(referrer.count, referrer.noun)) "
                       + "\(referrer.count == 1 ? "refers" : "refer") to this \(resource)")
        }
        return DomainError(.conflict, detail, errors: errors)
    }

    /// "An" before a vowel sound ("An edge data center", "An IP address"), "A" otherwise.
    static func article(_ noun: String) -> String {
        guard let first = noun.first?.lowercased() else { return "A" }
        // "u" is left out: the nouns that start with it sound "you" (user, user group).
        return "aeio".contains(first) || noun.hasPrefix("IP") ? "An" : "A"
    }
}
