import Foundation
import ZedgeCore

/// An RFC 9457 problem document as the coordinator sends it (`application/problem+json`):
/// `type`, `title`, `status`, `detail`, and `errors: [{field, message}]` for invalid input.
public struct Problem: Sendable, Equatable, Decodable {
    public struct FieldError: Sendable, Equatable, Decodable {
        public var field: String
        public var message: String

        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    public var type: String?
    public var title: String?
    public var status: Int?
    public var detail: String?
    public var errors: [FieldError]?

    public init(type: String? = nil, title: String? = nil, status: Int? = nil, detail: String? = nil, errors: [FieldError]? = nil) {
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
        self.errors = errors
    }

    /// The problem in `body`, or one made from the status and the body's first line when the body is not a
    /// problem document (a proxy's HTML page, say).
    public static func parse(status: Int, body: Data) -> Problem {
        if var problem = try? JSONDecoder().decode(Problem.self, from: body),
           problem.detail != nil || problem.title != nil {
            if problem.status == nil { problem.status = status }
            return problem
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self)
            .split(whereSeparator: \.isNewline).first.map(String.init)?.trimmingCharacters(in: .whitespaces)
        return Problem(status: status, detail: text?.isEmpty == false ? text : nil)
    }
}
