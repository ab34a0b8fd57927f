import Foundation

/// Everything zedgectl reports as a failure (exit status 1). The root command prints it on one or two lines
/// to stderr (`ProblemFormatter`).
public enum CLIError: Error, CustomStringConvertible, Sendable {
    /// The coordinator answered 4xx/5xx with this problem.
    case api(Problem)
    /// An asynchronous operation ended FAILED or CANCELLED.
    case operationFailed(id: String, status: String, error: String?)
    /// No context, no credentials, a bad setting: what to do is in the message.
    case usage(String)
    /// The coordinator answered something zedgectl could not read.
    case invalidResponse(String)
    /// A name matched no object, or several.
    case notFound(String)

    public var description: String {
        switch self {
        case .api(let problem): return ProblemFormatter.lines(problem).joined(separator: "\n")
        case .operationFailed(let id, let status, let error):
            return "operation \(id) \(status)" + (error.map { ": \($0)" } ?? "")
        case .usage(let message), .invalidResponse(let message), .notFound(let message): return message
        }
    }
}
