import Foundation
import ZedgeCore

/// Builds the OpenAPI 3.1 document from the route catalog: every registered route, its parameters, the
/// JSON Schema of what it accepts and returns (reflected from the Swift types), and the problem+json
/// errors it may answer with.
public enum OpenAPIDocument {
    public static func build(from catalog: RouteCatalog) -> JSONValue {
        var paths: [String: [String: JSONValue]] = [:]
        let routes = catalog.all
        for route in routes {
            var described = operation(route)
            let links = links(from: route, among: routes)
            if !links.isEmpty, case .object(var operation) = described,
               case .object(var responses)? = operation["responses"],
               case .object(var success)? = responses[String(route.successStatus)] {
                success["links"] = .object(links)
                responses[String(route.successStatus)] = .object(success)
                operation["responses"] = .object(responses)
                described = .object(operation)
            }
            paths[route.templatePath, default: [:]][route.method.rawValue.lowercased()] = described
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "Zedge coordinator API",
                "version": "1",
                "description": .string("The coordinator of the Zedge edge cloud. Lists use cursor pagination (limit default \(PageRequest.defaultLimit), maximum \(PageRequest.maximumLimit)); errors are application/problem+json (RFC 9457)."),
            ],
            "paths": .object(paths.mapValues { .object($0) }),
            "components": [
                "securitySchemes": [
                    "bearer": ["type": "http", "scheme": "bearer", "description": "An access token (JWT, ES256) or an API key."],
                ],
                "schemas": ["Problem": problemSchema],
            ],
        ]
    }

    static func operation(_ route: RouteCatalog.Route) -> JSONValue {
        var operation: [String: JSONValue] = [
            "summary": .string(route.summary),
            "operationId": .string(operationId(route)),
            "tags": [.string(route.tag)],
        ]
        var parameters: [JSONValue] = route.templatePath.split(separator: "/")
            .filter { $0.hasPrefix("{") }
            .map { part in
                let name = String(part.dropFirst().dropLast())
                return ["name": .string(name), "in": "path", "required": true,
                        "schema": name.hasSuffix("id") || name.hasSuffix("Id") ? ["type": "string", "format": "uuid"] : ["type": "string"]]
            }
        if let list = route.list {
            parameters.append(["name": "limit", "in": "query", "required": false,
                               "schema": ["type": "integer", "minimum": 1, "maximum": .number(Double(PageRequest.maximumLimit)),
                                          "default": .number(Double(PageRequest.defaultLimit))]])
            parameters.append(["name": "cursor", "in": "query", "required": false,
                               "description": "An opaque cursor: the nextCursor of the previous page, passed back unchanged. Any other value is a 400.",
                               "schema": ["type": "string", "maxLength": .number(Double(ListParameters.maximumCursorLength))]])
            for (name, kind) in list.filters.merging(list.extras, uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) {
                parameters.append(["name": .string(name), "in": "query", "required": false, "schema": kind.schema])
            }
        }
        if !parameters.isEmpty { operation["parameters"] = .array(parameters) }
        if let request = route.requestSchema {
            operation["requestBody"] = ["required": true, "content": ["application/json": ["schema": request]]]
        } else if route.rawBody {
            operation["requestBody"] = ["required": true,
                                        "content": ["application/octet-stream": ["schema": ["type": "string", "format": "binary"]]]]
        }
        var responses: [String: JSONValue] = [:]
        var success: [String: JSONValue] = ["description": "Success"]
        if let response = route.responseSchema {
            success["content"] = ["application/json": ["schema": response]]
        } else if route.rawResponse {
            success["content"] = ["application/octet-stream": ["schema": ["type": "string", "format": "binary"]]]
        }
        if route.successStatus == 201 { success["headers"] = ["Location": ["schema": ["type": "string"]]] }
        responses[String(route.successStatus)] = .object(success)
        var errors = ["400": "The request breaks a rule this document states (malformed JSON, an unknown field, a wrong type, a value outside its field's rule); `errors` names the fields."]
        if route.list != nil {
            errors["422"] = "The cursor is not one this API returned."
        } else if route.method != .get, route.method != .head {
            errors["422"] = "Well-formed, but refused by a rule across fields or by what exists (an id that names nothing, a CIDR block with host bits set, a date in the past); `errors` names the fields."
        }
        if route.requestSchema != nil || route.rawBody { errors["413"] = "Body larger than the limit." }
        if route.requestSchema != nil { errors["415"] = "The body's Content-Type is not JSON (`application/json` or a `+json` type)." }
        if route.authenticated {
            errors["401"] = "Missing, invalid or expired credentials."
            errors["403"] = "The caller's role may not do this."
        }
        if route.templatePath.contains("{") { errors["404"] = "No such object within the caller's reach." }
        if [.post, .put, .patch, .delete].contains(route.method) { errors["409"] = "Conflicts with existing state (duplicate, still referenced, illegal transition)." }
        if route.action == "auth.login" { errors["429"] = "Too many failed attempts; see Retry-After." }
        for (status, description) in route.otherStatuses { errors[String(status)] = description }
        errors["503"] = "The database is unreachable or the coordinator is shutting down; retry later."
        for (status, description) in errors {
            responses[status] = ["description": .string(description),
                                 "content": ["application/problem+json": ["schema": ["$ref": "#/components/schemas/Problem"]]]]
        }
        if route.rawResponse {
            // Downloads honour Range and If-None-Match (RFC 9110 §14, §13.1.2).
            responses["206"] = ["description": "Partial content: the byte range asked for (Range); Content-Range says which.",
                                "content": ["application/octet-stream": ["schema": ["type": "string", "format": "binary"]]]]
            responses["304"] = ["description": "Not modified: If-None-Match named the file's ETag."]
            responses["416"] = ["description": "Range not satisfiable; Content-Range gives the file's size."]
        }
        operation["responses"] = .object(responses)
        if route.authenticated { operation["security"] = [["bearer": []]] }
        return .object(operation)
    }

    /// OpenAPI links (§4.8.20) from a create to every route that takes the id it made: `POST /a` → `GET`, `PATCH`,
    /// `DELETE /a/{id}` and `/a/{id}/…`, the id read from the answer (`$response.body#/id`, or `#/<member>/id` for an
    /// answer that wraps the object with its operation), other path parameters from the request's own. An answer that
    /// carries an `operation` also links to `GET /api/v1/operations/{id}`.
    static func links(from route: RouteCatalog.Route, among routes: [RouteCatalog.Route]) -> [String: JSONValue] {
        guard route.method == .post, [201, 202].contains(route.successStatus),
              case .object(let response)? = route.responseSchema,
              case .object(let properties)? = response["properties"] else { return [:] }
        let base = route.templatePath
        let sourceParameters = Set(parameterNames(base))
        var links: [String: JSONValue] = [:]
        func add(_ target: RouteCatalog.Route, idExpression: String, idParameter: String) {
            var parameters: [String: JSONValue] = [:]
            for name in parameterNames(target.templatePath) {
                if name == idParameter {
                    parameters[name] = .string(idExpression)
                } else if sourceParameters.contains(name) {
                    parameters[name] = .string("$request.path.\(name)")
                } else {
                    return
                }
            }
            let name = target.action.replacingOccurrences(of: ".", with: "_") + "_" + target.method.rawValue.lowercased()
            links[name] = ["operationId": .string(operationId(target)), "parameters": .object(parameters)]
        }
        // The id of what the create made: the answer's own, or that of its first member that is an object with an id.
        var idExpression: String?
        if properties["id"] != nil {
            idExpression = "$response.body#/id"
        } else if let member = properties.keys.sorted().first(where: { key in
            key != "operation" && properties[key]?.objectValue?["properties"]?.objectValue?["id"] != nil
        }) {
            idExpression = "$response.body#/\(member)/id"
        }
        if let idExpression {
            for target in routes where target.templatePath.hasPrefix(base + "/{") && !(target.method == .post && target.templatePath == base) {
                let rest = target.templatePath.dropFirst(base.count + 1)
                guard let close = rest.firstIndex(of: "}") else { continue }
                add(target, idExpression: idExpression, idParameter: String(rest[rest.index(after: rest.startIndex)..<close]))
            }
        }
        if properties["operation"] != nil, let get = routes.first(where: { $0.method == .get && $0.templatePath == "/api/v1/operations/{id}" }) {
            add(get, idExpression: "$response.body#/operation/id", idParameter: "id")
        }
        return links
    }

    /// The `{name}` parameters of a template path, in order.
    static func parameterNames(_ templatePath: String) -> [String] {
        templatePath.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
    }

    static func operationId(_ route: RouteCatalog.Route) -> String {
        route.action.replacingOccurrences(of: ".", with: "_") + "_" + route.method.rawValue.lowercased()
    }

    static let problemSchema: JSONValue = [
        "type": "object",
        "required": ["type", "title", "status"],
        "properties": [
            "type": ["type": "string"],
            "title": ["type": "string"],
            "status": ["type": "integer"],
            "detail": ["type": "string"],
            "errors": ["type": "array", "items": [
                "type": "object", "required": ["field", "message"],
                "properties": ["field": ["type": "string"], "message": ["type": "string"]],
            ]],
        ],
    ]
}
