import Foundation
import Hummingbird
import Synchronization
import ZedgeCore

/// What the coordinator knows about each of its routes: the audit action, the resource type, and what the
/// OpenAPI document says about it. Controllers register routes through `RouteCatalog.Registrar`, so a route
/// cannot exist without its description.
public final class RouteCatalog: Sendable {
    public struct Route: Sendable {
        public var method: HTTPRequest.Method
        /// Hummingbird form, `/api/v1/users/:id`.
        public var path: String
        public var summary: String
        public var tag: String
        /// Audit action, e.g. `user.create`.
        public var action: String
        public var resourceType: String
        public var requestSchema: JSONValue?
        /// The field rules the body decoder applies to the request body (`SchemaReflector.rules`), whose keywords
        /// `requestSchema` carries.
        public var requestRules: [SchemaReflector.RuleAtPath] = []
        public var responseSchema: JSONValue?
        public var successStatus: Int
        public var authenticated: Bool
        public var list: ListSpec?
        /// The body is raw bytes (`application/octet-stream`), streamed by the handler, not JSON.
        public var rawBody: Bool = false
        /// The success answer is raw bytes (`application/octet-stream`), not JSON.
        public var rawResponse: Bool = false
        /// Statuses the route may answer beyond those every route of its kind answers, with what each means (a login's
        /// 401 for credentials in its body).
        public var otherStatuses: [Int: String] = [:]
        /// The body's `nonNullFields`.
        public var nonNullFields: Set<String> = []

        /// OpenAPI form, `/api/v1/users/{id}` (also what `context.endpointPath` reports).
        public var templatePath: String {
            path.split(separator: "/", omittingEmptySubsequences: false).map { part in
                part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
            }.joined(separator: "/")
        }
    }

    /// The routes in registration order, and each one by method and template path: two middlewares look up every
    /// request's route, so the lookup must not walk the list (it once cost a fifth of a heartbeat's CPU).
    private let state = Mutex<(routes: [Route], byKey: [RouteKey: Route])>(([], [:]))

    private struct RouteKey: Hashable {
        var method: HTTPRequest.Method
        var templatePath: String
    }

    public init() {}

    public var all: [Route] { state.withLock { $0.routes } }

    func add(_ route: Route) {
        let key = RouteKey(method: route.method, templatePath: route.templatePath)
        state.withLock { state in
            state.routes.append(route)
            if state.byKey[key] == nil { state.byKey[key] = route }  // the first registration answers
        }
    }

    /// The methods registered for a concrete path (`/api/v1/users/0190…`), for 405 answers.
    func allowedMethods(forPath path: String) -> [HTTPRequest.Method] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        return all.filter { route in
            let template = route.templatePath.split(separator: "/", omittingEmptySubsequences: true)
            return template.count == parts.count && zip(template, parts).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }.map(\.method)
    }

    func route(method: HTTPRequest.Method, endpointPath: String?) -> Route? {
        guard let endpointPath else { return nil }
        return state.withLock { $0.byKey[RouteKey(method: method, templatePath: endpointPath)] }
    }
}

/// No request body.
public struct EmptyBody: RequestBody {}

/// Registers described routes on a router group.
public struct RouteRegistrar {
    let group: RouterGroup<ZedgeRequestContext>
    let prefix: String
    let catalog: RouteCatalog
    let tag: String
    let resourceType: String

    public init(group: RouterGroup<ZedgeRequestContext>, prefix: String, catalog: RouteCatalog, tag: String, resourceType: String) {
        self.group = group
        self.prefix = prefix
        self.catalog = catalog
        self.tag = tag
        self.resourceType = resourceType
    }

    /// Registers `method path`; `Input` is the JSON body it accepts (`EmptyBody` for none), `Output` what a
    /// success returns, and `list` the query a list accepts; all described in the OpenAPI document.
    /// `rawBody`/`rawResponse`: the request/answer is raw bytes (`application/octet-stream`) instead.
    public func on<Input: RequestBody, Output: Decodable>(
        _ method: HTTPRequest.Method, _ path: String, summary: String, action: String,
        input: Input.Type = EmptyBody.self, output: Output.Type, status: Int = 200,
        authenticated: Bool = true, list: ListSpec? = nil, rawBody: Bool = false, rawResponse: Bool = false,
        otherStatuses: [Int: String] = [:],
        use handler: @escaping @Sendable (Request, ZedgeRequestContext) async throws -> Response
    ) {
        catalog.add(.init(
            method: method, path: prefix + (path.isEmpty ? "" : "/" + path), summary: summary, tag: tag,
            action: action, resourceType: resourceType,
            // `.none`, not `nil`: JSONValue is ExpressibleByNilLiteral, and `nil` would mean JSON null.
            requestSchema: Input.self == EmptyBody.self ? JSONValue?.none : Self.requestSchema(Input.self),
            requestRules: Input.self == EmptyBody.self ? [] : SchemaReflector.rules(for: Input.self),
            responseSchema: Output.self == EmptyBody.self ? JSONValue?.none : SchemaReflector.responseSchema(for: Output.self),
            successStatus: status, authenticated: authenticated, list: list, rawBody: rawBody, rawResponse: rawResponse,
            otherStatuses: otherStatuses, nonNullFields: Input.nonNullFields))
        group.on(RouterPath(path), method: method, use: handler)
    }

    /// What a body may hold: closed to unknown fields at every depth, and `null` refused (left out of the type) for
    /// the body's `nonNullFields`.
    static func requestSchema<Input: RequestBody>(_ input: Input.Type) -> JSONValue {
        let schema = SchemaReflector.closed(SchemaReflector.schema(for: input))
        guard !Input.nonNullFields.isEmpty, case .object(var body) = schema, case .object(var properties)? = body["properties"] else {
            return schema
        }
        for name in Input.nonNullFields {
            guard case .object(var property)? = properties[name] else { preconditionFailure("\(input) has no field \(name)") }
            if case .array(let types)? = property["type"] {
                let kept = types.filter { $0 != "null" }
                property["type"] = kept.count == 1 ? kept[0] : .array(kept)
            }
            if case .array(let values)? = property["enum"] { property["enum"] = .array(values.filter { $0 != .null }) }
            properties[name] = .object(property)
        }
        body["properties"] = .object(properties)
        return .object(body)
    }
}
