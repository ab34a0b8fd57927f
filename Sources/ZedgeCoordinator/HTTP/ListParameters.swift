import Foundation
import Hummingbird
import ZedgeCore

/// The type of an equality filter a list accepts in its query string.
public enum FilterKind: Sendable {
    case uuid
    case string
    case bool
    case enumeration([String])
    case dateTime
    /// A decimal integer in the range.
    case integer(ClosedRange<Int>)

    static func of<E: ZedgeEnum>(_ type: E.Type) -> FilterKind { .enumeration(E.allowedValues) }

    /// The JSON Schema of a query value of this kind (for the OpenAPI document).
    var schema: JSONValue {
        switch self {
        case .uuid: ["type": "string", "format": "uuid"]
        case .string: ["type": "string", "maxLength": 256]
        case .bool: ["type": "boolean"]
        case .enumeration(let values): ["type": "string", "enum": .array(values.map { .string($0) })]
        case .dateTime: ["type": "string", "format": "date-time"]
        case .integer(let range):
            ["type": "integer", "minimum": .number(Double(range.lowerBound)), "maximum": .number(Double(range.upperBound))]
        }
    }
}

/// What a list route accepts besides `limit` and `cursor`: equality filters on model properties, and
/// other parameters the handler reads itself (`extras`). Declared once per route, used both to parse and
/// to document it.
public struct ListSpec: Sendable {
    public var filters: [String: FilterKind]
    public var extras: [String: FilterKind]

    public init(filters: [String: FilterKind] = [:], extras: [String: FilterKind] = [:]) {
        self.filters = filters
        self.extras = extras
    }
}

/// Parses `limit`, `cursor` and equality filters from a list request's query string. A parameter the
/// route does not know is a 400 naming it (a misspelt filter must not silently return everything).
public struct ListParameters: Sendable {
    public var page: PageRequest
    public var filters: [PropertyFilter]
    /// Values of the route's extra (non-filter) parameters, e.g. time bounds.
    public var extras: [String: String]

    public static func parse(_ request: Request, _ spec: ListSpec) throws -> ListParameters {
        let allowed = spec.filters
        let allowedExtras = Set(spec.extras.keys)
        var page = PageRequest()
        var filters: [PropertyFilter] = []
        var extras: [String: String] = [:]
        var unknownCursor: FieldError?
        var errors: [FieldError] = []
        var seen = Set<String>()
        for (rawKey, rawValue) in request.uri.queryParameters {
            let key = String(rawKey)
            let value = String(rawValue)
            guard seen.insert(key).inserted else {
                errors.append(FieldError(field: key, message: "may be given only once"))
                continue
            }
            switch key {
            case "limit":
                if let limit = Int(value), (1...PageRequest.maximumLimit).contains(limit) {
                    page.limit = limit
                } else {
                    errors.append(FieldError(field: "limit", message: "must be an integer from 1 to \(PageRequest.maximumLimit)"))
                }
            case "cursor":
                if value.unicodeScalars.count > Self.maximumCursorLength {
                    errors.append(FieldError(field: "cursor", message: "must be at most \(Self.maximumCursorLength) characters"))
                } else if let id = Cursor.decode(value) {
                    page.after = id
                } else {
                    unknownCursor = FieldError(field: "cursor", message: "names no position: pass back the nextCursor of the previous page")
                }
            default:
                if let kind = allowed[key] ?? spec.extras[key] {
                    switch check(value, as: kind) {
                    case .success(let parsed):
                        if allowed[key] != nil { filters.append(.init(key, parsed)) } else { extras[key] = value }
                    case .failure(let message):
                        errors.append(FieldError(field: key, message: message.text))
                    }
                } else {
                    let known = (["limit", "cursor"] + allowed.keys.sorted() + allowedExtras.sorted()).joined(separator: ", ")
                    errors.append(FieldError(field: key, message: "unknown query parameter (known: \(known))"))
                }
            }
        }
        guard errors.isEmpty else { throw Problem.malformed(errors) }
        // Any string of at most 1024 characters is a well-formed cursor (the document says it is opaque); one that names
        // no position is a 422.
        if let unknownCursor { throw Problem.invalid([unknownCursor]) }
        return ListParameters(page: page, filters: filters, extras: extras)
    }

    struct Refusal: Error { var text: String }

    /// The longest `cursor` (the document's `maxLength`).
    static let maximumCursorLength = 1024

    /// A query value checked against its kind: the value to filter by, or why it is refused.
    static func check(_ value: String, as kind: FilterKind) -> Result<PropertyFilter.Value, Refusal> {
        switch kind {
        case .uuid:
            UUID(uuidString: value).map { .success(.uuid($0)) } ?? .failure(Refusal(text: "must be a UUID"))
        case .string:
            value.count <= 256 ? .success(.string(value)) : .failure(Refusal(text: "is too long"))
        case .bool:
            Bool(value).map { .success(.bool($0)) } ?? .failure(Refusal(text: "must be true or false"))
        case .dateTime:
            ZedgeJSON.parseDate(value) != nil ? .success(.string(value)) : .failure(Refusal(text: "must be an ISO-8601 date-time"))
        case .enumeration(let values):
            values.contains(value) ? .success(.string(value)) : .failure(Refusal(text: "must be one of \(values.joined(separator: ", "))"))
        case .integer(let range):
            Int(value).map { range.contains($0) } == true
                ? .success(.string(value)) : .failure(Refusal(text: "must be an integer from \(range.lowerBound) to \(range.upperBound)"))
        }
    }

    /// An extra parameter declared `.dateTime` (already checked by `parse`).
    public func date(_ name: String) -> Date? {
        extras[name].flatMap(ZedgeJSON.parseDate)
    }

    /// Replaces any client filter on `property` with the caller's scope (a TENANT_ADMIN's tenant, say).
    public mutating func force(_ property: String, _ value: PropertyFilter.Value) {
        filters.removeAll { $0.property == property }
        filters.append(.init(property, value))
    }

    /// Leaves out soft-deleted rows (`property` = `value`: a user's INACTIVE) unless the request filters on
    /// `property` itself: `?status=INACTIVE` lists them, and only them.
    public mutating func hideSoftDeleted(_ value: String, property: String = "status") {
        guard !filters.contains(where: { $0.property == property }) else { return }
        filters.append(.init(property, .string(value), negated: true))
    }

    public var query: ListQuery { ListQuery(filters: filters, page: page) }
}
