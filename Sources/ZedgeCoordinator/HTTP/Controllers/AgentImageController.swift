import Foundation
import Hummingbird
import ZedgeCore

/// `/agent/v1/image-versions/{versionId}/file` (`ImageRef.downloadPath`): agents fetch image files with their
/// own credential, resuming with `Range`. An agent may read only a version that a task leased to its host
/// names (`image.fetch`, or `vm.create` with a root image); any other, existing or not, is a 404.
public struct AgentImageController: Sendable {
    let images: ImageService

    public init(images: ImageService) {
        self.images = images
    }

    public func register(on routes: RouteRegistrar) {
        routes.on(.get, "image-versions/:versionId/file",
                  summary: "Download an image version's file that a task leased to this agent names (Range supported; ETag is its SHA-256)",
                  action: "agent.image.download", output: EmptyBody.self, rawResponse: true, use: download)
        routes.on(.head, "image-versions/:versionId/file", summary: "The size and SHA-256 (ETag) of such a file, without the bytes",
                  action: "agent.image.head", output: EmptyBody.self, use: download)
    }

    // MARK: - Route handlers

    /// Download an image version's file that a task leased to this agent names (`agent.image.download`), and
    /// its HEAD (`agent.image.head`).
    func download(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let agent = try context.requireAgent()
        let versionId = try context.id("versionId", resource: "Image version")
        guard let version = try await images.downloadable(versionId, by: agent) else { throw Problem.notFound("Image version") }
        let images = self.images
        return try ImageFileResponse.make(request, version: version) { range, body in
            try await images.read(version, range: range, body)
        }
    }
}
