import Foundation
import ZedgeCore

/// Who may see, change and use an image: the rules of `TemplateAccess`, for images.
///
/// PUBLIC images are everyone's; a PRIVATE one is its owner's and its tenant's TENANT_ADMINs'; a
/// GROUP_SPECIFIC one also belongs to the members of the groups it names (in its tenant, or any tenant for a
/// global image). ADMIN sees all. Seeing is using: an image one may read may make instances.
public struct ImageAccess: Sendable {
    let images: any ImageRepository

    public init(images: any ImageRepository) {
        self.images = images
    }

    /// The groups a GROUP_SPECIFIC image is shared with.
    public func groupIds(of imageId: UUID) async throws -> [UUID] {
        try await images.groupIds(of: imageId)
    }

    public func canSee(_ image: Image, _ principal: Principal) async throws -> Bool {
        if principal.role == .admin || image.visibility == .public || canManage(image, principal) { return true }
        guard image.visibility == .groupSpecific, image.tenantId == nil || image.tenantId == principal.tenantId else {
            return false
        }
        let mine = Set(try await images.groupIds(ofUser: principal.userId))
        return try await images.groupIds(of: image.id).contains(where: mine.contains)
    }

    /// Its owner, its tenant's TENANT_ADMINs and ADMIN.
    public func canManage(_ image: Image, _ principal: Principal) -> Bool {
        switch principal.role {
        case .admin: true
        case .tenantAdmin: image.tenantId != nil && image.tenantId == principal.tenantId
        case .operator, .user: image.ownerId == principal.userId
        }
    }

    /// One page of the images `principal` can see.
    public func list(_ query: ListQuery, for principal: Principal) async throws -> Page<Image> {
        try await images.list(query, visibleTo: ImageReader(
            userId: principal.userId, tenantId: principal.tenantId, isAdmin: principal.role == .admin,
            isTenantAdmin: principal.role == .tenantAdmin))
    }

    /// The image if it exists and `principal` may see it; nil otherwise (a 404 for the caller, whatever the
    /// reason).
    public func visible(_ imageId: UUID, to principal: Principal) async throws -> Image? {
        guard let image = try await images.find(imageId), try await canSee(image, principal) else { return nil }
        return image
    }
}
