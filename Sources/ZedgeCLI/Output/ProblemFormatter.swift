/// Turns a problem document into what zedgectl prints on stderr: one line with the detail (or title) and the
/// HTTP status, and a second line with the field errors when there are any.
///
///     error: Validation failed. (HTTP 400)
///       name: must be 1 to 64 characters; role: must be one of ADMIN, TENANT_ADMIN, OPERATOR, USER
public enum ProblemFormatter {
    public static func lines(_ problem: Problem) -> [String] {
        var first = "error: " + oneLine(problem.detail ?? problem.title ?? "the request failed")
        if let status = problem.status { first += " (HTTP \(status))" }
        var lines = [first]
        if let errors = problem.errors, !errors.isEmpty {
            lines.append("  " + errors.map { "\(oneLine($0.field)): \(oneLine($0.message))" }.joined(separator: "; "))
        }
        return lines
    }

    /// Newlines and runs of whitespace folded into single spaces.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: { $0.isNewline || $0 == " " || $0 == "\t" }).joined(separator: " ")
    }
}
