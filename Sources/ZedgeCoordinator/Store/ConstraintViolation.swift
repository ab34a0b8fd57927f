import Foundation
import PostgresKit
import SQLiteKit
import ZedgeCore

/// Turns the engines' constraint errors into the API's answers: a unique violation is a 409 naming the
/// field; a foreign-key violation is a 409 (still referenced) on delete and a 400 (refers to nothing) on
/// write. Everything else passes through untouched.
enum ConstraintViolation {
    enum Operation { case write, delete }

    static func map(_ error: any Error, resource: String, operation: Operation) -> any Error {
        if let error = error as? PostgresTransactionError, let inner = error.closureError {
            return map(inner, resource: resource, operation: operation)
        }
        if let error = error as? SQLiteError {
            switch error.reason {
            case .constraintUniqueFailed, .constraintPrimaryKeyFailed:
                // "UNIQUE constraint failed: user_groups.tenant_id, user_groups.name"
                let columns = error.message.components(separatedBy: ": ").last?
                    .split(separator: ",").map { $0.split(separator: ".").last.map(String.init) ?? "" } ?? []
                return unique(columns: columns, resource: resource)
            case .constraintForeignKeyFailed:
                return foreignKey(resource: resource, operation: operation)
            default:
                return error
            }
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
            return DomainError.conflict("A \(resource) like this already exists.")
        }
        let field = RowCodec.property(last)
        let scope = columns.dropLast().map { RowCodec.property($0) }
        let within = scope.isEmpty ? "" : " within this \(scope.map { $0.replacingOccurrences(of: "Id", with: "") }.joined(separator: ", "))"
        return DomainError.conflict("A \(resource) with this \(field) already exists\(within).", field: field)
    }

    static func foreignKey(resource: String, operation: Operation) -> DomainError {
        switch operation {
        case .delete:
            DomainError.conflict("This \(resource) is still referenced by other objects; remove those first.")
        case .write:
            DomainError.badRequest("A referenced object does not exist.")
        }
    }
}
