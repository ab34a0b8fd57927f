import Foundation
import ZedgeCore

/// `POST <object>/actions/<name>` (or any asynchronous POST), then `Accepted.finish`: prints the answer, or
/// with `--wait` follows the operation and prints the object as it ended up.
enum ActionRunner {
    static func run(_ global: GlobalOptions, spec: ResourceSpec, target: String, path: String, body: JSONValue? = nil,
                    wait: WaitOptions, refetch: Bool = true) async throws {
        let session = try await global.session()
        let id = try await NameResolver(client: session.client).id(target, spec)
        let response = try await session.client.send("POST", spec.item(id) + path, json: body ?? .object([:]))
        try await Accepted.finish(response, spec: spec, session: session, wait: wait, printer: global.printer, refetch: refetch)
    }

    /// A GET under an object (`/metrics`, `/console-log`): printed as an object, or as a list when it has `items`.
    static func read(_ global: GlobalOptions, spec: ResourceSpec, target: String, path: String, query: [(String, String)] = [],
                     columns: [Column] = [], wideColumns: [Column] = []) async throws {
        let session = try await global.session()
        let id = try await NameResolver(client: session.client).id(target, spec)
        let response = try await session.client.send("GET", spec.item(id) + path, query: query)
        let body = try response.json()
        if let items = body["items"]?.arrayValue, !columns.isEmpty {
            try global.printer.list(items, raw: response.body, columns: columns, wideColumns: wideColumns)
        } else {
            try global.printer.object(body, raw: response.body, columns: columns)
        }
    }
}
