import Foundation
import Hummingbird
import Logging
import ZedgeCore

/// Turns every error into a problem+json response: Problems as they are, Hummingbird's own HTTP errors
/// (404 for unknown routes, 413 for oversized bodies) with their status, and anything else into a
/// logged 500 that reveals nothing.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return try problem.response(from: request, context: context)
        } catch let failure as ValidationFailure {
            return try Problem.invalid(failure.errors).response(from: request, context: context)
        } catch let error as HTTPError {
            let problem = Problem(error.status, detail: error.body ?? Self.detail(for: error.status))
            return try problem.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            let problem = Problem(error.status, detail: Self.detail(for: error.status))
            return try problem.response(from: request, context: context)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return try Problem(.internalServerError, detail: "An internal error occurred; it has been logged.")
                .response(from: request, context: context)
        }
    }

    static func detail(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "No such route."
        case .contentTooLarge: "The request body is larger than the limit."
        case .methodNotAllowed: "This method is not allowed on this route."
        default: status.reasonPhrase
        }
    }
}
