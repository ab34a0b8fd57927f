import Foundation
import Hummingbird
import ZedgeCore

/// JSON responses in the API's conventions.
public enum JSONResponse {
    public static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        // Every key of the type, `null` for an optional one without a value (issue #15: stable shapes).
        let data = try ZedgeJSON.encoder().encode(ExplicitNulls<T>.wrapped(value))
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// 201 with `Location: <collection>/<id>`.
    public static func created<T: Encodable>(_ value: T, at location: String) throws -> Response {
        try make(value, status: .created, headers: [.location: location])
    }

    public static func noContent() -> Response { Response(status: .noContent) }
}

extension ZedgeRequestContext {
    /// The `{id}` path parameter as a UUID; a malformed one is a 404 (no object has that id).
    public func id(_ name: String = "id", resource: String) throws -> UUID {
        guard let text = parameters.get(name), let id = UUID(uuidString: text) else { throw Problem.notFound(resource) }
        return id
    }
}
