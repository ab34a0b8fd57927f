import Foundation
import SQLKit

/// The models the seed deletes softly, through their status ("Soft Deletes: implemented via status enums",
/// the seed's design note 3), and what a soft delete of a row needs first.
///
/// A soft-deleted row stays (its id in audit rows, instances, templates and history stays meaningful), so
/// the foreign keys that point at it never fire. What keeps it from being deleted is the live rows that
/// refer to it with ON DELETE RESTRICT (`ReferenceCatalog`), counted here without the rows that are
/// themselves soft-deleted: a user whose instances are all DELETED can go; one with a RUNNING instance
/// cannot (409 naming it). References through CASCADE do not count: a soft delete cascades nothing.
enum SoftDeletes {
    /// Table → the condition its live rows meet (the value its status takes when soft-deleted).
    /// An instance counts as gone once its deletion is asked for (`desired_status`): its agent finishes it.
    static let live: [String: String] = [
        "users": "status <> 'INACTIVE'",
        "tenants": "status <> 'INACTIVE'",
        "instances": "desired_status <> 'DELETED'",
        "vpcs": "status <> 'DELETED'",
        "instance_sets": "status <> 'DELETED'",
    ]

    /// The 409 for soft-deleting `id` of `table` while live rows refer to it (RESTRICT, directly), naming
    /// each kind and how many (`ConstraintViolation.stillReferenced`); nil when nothing live refers to it.
    static func conflict(deleting id: UUID, from table: String, resource: String, on db: any SQLDatabase) async throws -> DomainError? {
        let references = ReferenceCatalog.blocking(table).filter(\.through.isEmpty)
        guard !references.isEmpty else { return nil }
        let columns = references.enumerated().map { index, reference -> SQLQueryString in
            let matches = reference.columns.map { column -> SQLQueryString in "\(ident: column) = \(bind: id)" }
            let alive = live[reference.table].map { " AND " + $0 } ?? ""
            return "(SELECT COUNT(*) FROM \(ident: reference.table) WHERE (\(matches.joined(separator: " OR ")))\(unsafeRaw: alive)) AS \(ident: "n\(index)")"
        }
        guard let row = try await db.raw("SELECT \(columns.joined(separator: ", "))").first() else { return nil }
        let referrers = try references.enumerated().compactMap { index, reference -> ConstraintViolation.Referrers? in
            let count = try row.decode(column: "n\(index)", as: Int.self)
            return count > 0 ? ConstraintViolation.Referrers(reference, count: count) : nil
        }
        guard !referrers.isEmpty else { return nil }
        return ConstraintViolation.stillReferenced(resource: resource, by: referrers)
    }
}
