import Foundation
import Hummingbird
import Logging
import ZedgeCore

/// Turns every error into a problem+json response: Problems as they are, Hummingbird's own HTTP errors
/// (404 for unknown routes, 413 for oversized bodies) with their status, and anything else into a
/// logged 500 that reveals nothing.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Known routes, to answer 405 with `Allow` (rather than 404) for a method a path does not support.
    let catalog: RouteCatalog?

    public init(catalog: RouteCatalog? = nil) {
        self.catalog = catalog
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let response = try problem(error, request, context)
            // A HEAD answer carries the headers only: a body would be read as the next answer on the connection.
            return request.method == .head ? response.createHeadResponse() : response
        }
    }

    func problem(_ error: any Error, _ request: Request, _ context: Context) throws -> Response {
        switch error {
        case let problem as Problem:
            return try problem.response(from: request, context: context)
        case let error as DomainError:
            return try Problem(error).response(from: request, context: context)
        case let failure as ValidationFailure:
            return try Problem.invalid(failure.errors).response(from: request, context: context)
        case let error as HTTPError:
            if error.status == .notFound, let catalog {
                let allowed = catalog.allowedMethods(forPath: RoutedPath.canonical(request.uri.path))
                if !allowed.isEmpty {
                    let allow = Set(allowed.map(\.rawValue)).sorted().joined(separator: ", ")
                    return try Problem(.methodNotAllowed, detail: "Allowed methods: \(allow).", headers: [.allow: allow])
                        .response(from: request, context: context)
                }
            }
            let problem = Problem(error.status, detail: error.body ?? Self.detail(for: error.status))
            return try problem.response(from: request, context: context)
        case let error as any HTTPResponseError:
            let problem = Problem(error.status, detail: Self.detail(for: error.status))
            return try problem.response(from: request, context: context)
        default:
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
