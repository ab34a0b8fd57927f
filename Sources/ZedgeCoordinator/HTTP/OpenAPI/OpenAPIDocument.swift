import Foundation
import ZedgeCore

/// Builds the OpenAPI 3.1 document from the route catalog: every registered route, its parameters, the
/// JSON Schema of what it accepts and returns (reflected from the Swift types), and the problem+json
/// errors it may answer with.
public enum OpenAPIDocument {
    public static func build(from catalog: RouteCatalog) -> JSONValue {
        var paths: [String: [String: JSONValue]] = [:]
        for route in catalog.all {
            paths[route.templatePath, default: [:]][route.method.rawValue.lowercased()] = operation(route)
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
            "operationId": .string(route.action.replacingOccurrences(of: ".", with: "_") + "_" + route.method.rawValue.lowercased()),
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
                               "description": "The nextCursor of the previous page.", "schema": ["type": "string"]])
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
        var errors = ["400": "Invalid input; `errors` names the fields."]
        if route.requestSchema != nil || route.rawBody { errors["413"] = "Body larger than the limit." }
        if route.authenticated {
            errors["401"] = "Missing, invalid or expired credentials."
            errors["403"] = "The caller's role may not do this."
        }
        if route.templatePath.contains("{") { errors["404"] = "No such object within the caller's reach." }
        if [.post, .put, .patch, .delete].contains(route.method) { errors["409"] = "Conflicts with existing state (duplicate, still referenced, illegal transition)." }
        if route.action == "auth.login" { errors["429"] = "Too many failed attempts; see Retry-After." }
        for (status, description) in errors {
            responses[status] = ["description": .string(description),
                                 "content": ["application/problem+json": ["schema": ["$ref": "#/components/schemas/Problem"]]]]
        }
        operation["responses"] = .object(responses)
        if route.authenticated { operation["security"] = [["bearer": []]] }
        return .object(operation)
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
