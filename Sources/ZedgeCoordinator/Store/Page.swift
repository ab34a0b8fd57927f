import Foundation
import ZedgeCore

/// One page of a list: the items and the cursor of the next page (nil on the last one).
public struct Page<Item: Codable & Sendable>: Codable, Sendable {
    public var items: [Item]
    public var nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    public func map<Other>(_ transform: (Item) throws -> Other) rethrows -> Page<Other> {
        Page<Other>(items: try items.map(transform), nextCursor: nextCursor)
    }
}

/// Where a list starts and how long it is. Lists are ordered by id (UUIDv7, so by creation); the cursor is
/// the last id of the previous page.
public struct PageRequest: Sendable {
    public static let defaultLimit = 50
    public static let maximumLimit = 500

    public var limit: Int
    public var after: UUID?

    public init(limit: Int = PageRequest.defaultLimit, after: UUID? = nil) {
        self.limit = limit
        self.after = after
    }
}

/// Reads every page of a list, in id order.
func allPages<T>(_ fetch: (PageRequest) async throws -> Page<T>) async throws -> [T] where T: Identifiable, T.ID == UUID {
    var items: [T] = []
    var page = PageRequest(limit: PageRequest.maximumLimit)
    while true {
        let result = try await fetch(page)
        items += result.items
        guard result.nextCursor != nil, let last = result.items.last else { return items }
        page.after = last.id
    }
}
