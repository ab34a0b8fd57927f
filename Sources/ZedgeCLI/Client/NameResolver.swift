import Foundation
import ZedgeCore

/// Names where users expect names: a data center by name, a user by username, a CloudBox by serial number.
/// A UUID is used as it is; anything else is looked up with a list call (all pages) and must match exactly one
/// object's name field.
public struct NameResolver: Sendable {
    public let client: APIClient

    public init(client: APIClient) { self.client = client }

    /// The id of the object of `spec` that `nameOrId` names.
    /// - Throws: `CLIError.notFound` for no match or several.
    public func id(_ nameOrId: String, _ spec: ResourceSpec, query: [(String, String)] = []) async throws -> String {
        if UUID(uuidString: nameOrId) != nil { return nameOrId }
        guard let field = spec.nameField else {
            throw CLIError.usage("\(spec.plural) are addressed by id: \"\(nameOrId)\" is not a UUID")
        }
        let matches = try await client.listAll(spec.path, query: query).filter { $0[field]?.stringValue == nameOrId }
        guard let match = matches.first, let id = match["id"]?.stringValue else {
            throw CLIError.notFound("no \(spec.noun) with \(field) \"\(nameOrId)\"")
        }
        guard matches.count == 1 else {
            throw CLIError.notFound("\(matches.count) \(spec.plural) have \(field) \"\(nameOrId)\": use an id")
        }
        return id
    }

    /// The body with each reference field (`Resources.references`, at any depth: `networks[0].subnetId` too)
    /// that holds a name replaced by the id it names.
    public func resolveReferences(_ body: [String: JSONValue]) async throws -> [String: JSONValue] {
        var body = body
        for (key, value) in body {
            if let spec = Resources.references[key], let name = value.stringValue, UUID(uuidString: name) == nil {
                body[key] = .string(try await id(name, spec))
            } else {
                body[key] = try await resolveNested(value)
            }
        }
        return body
    }

    private func resolveNested(_ value: JSONValue) async throws -> JSONValue {
        switch value {
        case .object(let members): return .object(try await resolveReferences(members))
        case .array(let items):
            var resolved: [JSONValue] = []
            for item in items { resolved.append(try await resolveNested(item)) }
            return .array(resolved)
        default: return value
        }
    }
}
