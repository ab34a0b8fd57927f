import Foundation
import Hummingbird
import ZedgeCore

/// `/api/v1/private-data-disks` and their `attachments` (seed §3, DESIGN §10, issue #11), plus the read-only
/// `/api/v1/instances/{id}/disk-attachments`. Disks are tenant objects reached like instances: ADMIN all,
/// TENANT_ADMIN its tenant's, OPERATOR and USER their own; another tenant's disk is a 404.
/// `rbdImageName` is the coordinator's choice, never the client's.
public struct DiskController: Sendable {
    let disks: any DiskRepository
    let instances: any InstanceRepository
    let service: DiskService
    let attachments: DiskAttachments
    let authorizer: Authorizer

    static let list = ListSpec(filters: [
        "status": .of(PrivateDataDiskStatus.self), "tenantId": .uuid, "userId": .uuid, "shareMode": .of(ShareMode.self),
        "diskType": .of(PrivateDataDiskType.self), "storagePoolId": .uuid, "name": .string,
    ])
    /// The rules of a disk's fields, in create and PATCH alike: `sizeGb` from 1 GiB to 64 TiB.
    static let rules: [String: FieldRule] = ["name": .name, "sizeGb": .integer(1...PrivateDataDisk.maximumSizeGb)]

    static let server: Set<String> = ["status", "rbdImageName", "rbdPool", "userId", "error", "createdBy", "updatedBy"]

    struct CreateBody: RequestBody, Encodable {
        var name: String
        /// GiB.
        var sizeGb: Int
        var diskType: PrivateDataDiskType?
        var shareMode: ShareMode?
        var maxAttachments: Int?
        var storagePoolId: UUID?
        var edgeDataCenterId: UUID?
        var tenantId: UUID?
        static var immutableFields: Set<String> { DiskController.server }
        static var fieldRules: [String: FieldRule] {
            DiskController.rules.merging(["maxAttachments": .integer(1...PrivateDataDisk.maximumAttachmentsLimit)]) { $1 }
        }
    }

    struct PatchBody: RequestBody {
        static var nonNullFields: Set<String> { ["name", "sizeGb"] }
        var name: String?
        var sizeGb: Int?
        static var immutableFields: Set<String> {
            DiskController.server.union(["diskType", "shareMode", "maxAttachments", "storagePoolId", "tenantId"])
        }
        static var fieldRules: [String: FieldRule] { DiskController.rules }
    }

    struct AttachBody: RequestBody {
        var instanceId: UUID
        var mountPath: String
        var mountMode: MountMode?
        static var immutableFields: Set<String> { ["diskId", "status", "attachedAt", "attachedBy", "error"] }
        static var fieldRules: [String: FieldRule] { ["mountPath": DiskAttachments.mountPathRule] }
    }

    public func register(on routes: RouteRegistrar, instances instanceRoutes: RouteRegistrar) {
        routes.on(.post, "", summary: "Create a private data disk (202: CREATING, then disk.create on a host of its STORAGE pool's data center)",
                  action: "private-data-disk.create", input: CreateBody.self, output: DiskService.Accepted.self, status: 202, use: create)
        routes.on(.get, "", summary: "List private data disks", action: "private-data-disk.list", output: Page<PrivateDataDisk>.self,
                  list: Self.list, use: list)
        routes.on(.get, ":id", summary: "Get a private data disk", action: "private-data-disk.read", output: PrivateDataDisk.self, use: read)
        routes.on(.patch, ":id", summary: "Rename a disk (200) or grow it (202 with the resize operation; shrinking is a 409)",
                  action: "private-data-disk.update", input: PatchBody.self, output: DiskService.Accepted.self, use: update)
        routes.on(.delete, ":id", summary: "Delete a disk (202: DELETING, then disk.delete; 409 naming the instances while it is attached)",
                  action: "private-data-disk.delete", output: DiskService.Accepted.self, status: 202, use: delete)
        routes.on(.post, ":id/attachments", summary: "Attach the disk to an instance (202: ATTACHING, then disk.attach, live when it runs)",
                  action: "private-data-disk.attach", input: AttachBody.self, output: DiskAttachments.Accepted.self, status: 202,
                  use: attach)
        routes.on(.get, ":id/attachments", summary: "The disk's attachments", action: "private-data-disk.attachments",
                  output: [InstancePrivateDataDiskAttachment].self, use: listAttachments)
        routes.on(.get, ":id/attachments/:attachmentId", summary: "Get one attachment of the disk", action: "private-data-disk.attachment",
                  output: InstancePrivateDataDiskAttachment.self, use: readAttachment)
        routes.on(.delete, ":id/attachments/:attachmentId", summary: "Detach the disk (202: DETACHING, then disk.detach; the disk is kept)",
                  action: "private-data-disk.detach", output: DiskAttachments.Accepted.self, status: 202, use: detach)
        instanceRoutes.on(.get, ":id/disk-attachments", summary: "The instance's private data disk attachments (read-only)",
                          action: "instance.disk-attachments", output: [InstancePrivateDataDiskAttachment].self, use: instanceAttachments)
    }

    // MARK: - Route handlers

    /// Create a private data disk (`private-data-disk.create`).
    func create(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .storage, .create)
        let body = try await request.decodeBody(CreateBody.self, context: context).value
        let accepted = try await service.create(DiskService.CreateRequest(
            name: body.name, sizeGb: body.sizeGb, diskType: body.diskType ?? .standard, shareMode: body.shareMode ?? .exclusive,
            maxAttachments: body.maxAttachments, storagePoolId: body.storagePoolId, edgeDataCenterId: body.edgeDataCenterId,
            tenantId: body.tenantId, snapshot: try JSONValue(encoding: body)), by: principal)
        context.audit.resource(accepted.disk.id)
        context.audit.detail("operationId", .string(accepted.operation.id.uuidString))
        return try JSONResponse.make(accepted, status: .accepted, headers: [.location: "/api/v1/private-data-disks/\(accepted.disk.id)"])
    }

    /// List private data disks (`private-data-disk.list`).
    func list(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        try authorizer.require(principal, .storage, .read)
        var parameters = try ListParameters.parse(request, Self.list)
        switch principal.role {
        case .admin: break
        case .tenantAdmin: parameters.force("tenantId", principal.tenantId.map { .uuid($0) } ?? .null)
        case .operator, .user: parameters.force("userId", .uuid(principal.userId))
        }
        return try JSONResponse.make(try await disks.list(parameters.query, tenantId: nil))
    }

    /// Get a private data disk (`private-data-disk.read`).
    func read(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        try JSONResponse.make(try await reachable(context, .read))
    }

    /// Rename or grow a disk (`private-data-disk.update`).
    func update(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let disk = try await reachable(context, .update)
        let patch = try await request.decodeBody(PatchBody.self, context: context)
        if patch.has("name"), patch.value.name == nil { throw Problem.malformed(field: "name", "must not be null") }
        if patch.has("sizeGb"), patch.value.sizeGb == nil { throw Problem.malformed(field: "sizeGb", "must not be null") }
        let (saved, operation) = try await service.update(disk.id, name: patch.value.name, sizeGb: patch.value.sizeGb, by: principal)
        context.audit.detail("fields", .array(patch.presentFields.sorted().map { .string($0) }))
        guard let operation else { return try JSONResponse.make(saved) }
        context.audit.detail("operationId", .string(operation.id.uuidString))
        return try JSONResponse.make(DiskService.Accepted(disk: saved, operation: operation), status: .accepted)
    }

    /// Delete a disk (`private-data-disk.delete`).
    func delete(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let disk = try await reachable(context, .delete)
        let accepted = try await service.delete(disk.id, by: principal)
        context.audit.detail("operationId", .string(accepted.operation.id.uuidString))
        return try JSONResponse.make(accepted, status: .accepted)
    }

    /// Attach the disk to an instance (`private-data-disk.attach`): the caller must be able to change both.
    func attach(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let disk = try await reachable(context, .update)
        let body = try await request.decodeBody(AttachBody.self, context: context).value
        guard let instance = try await instances.find(body.instanceId),
              authorizer.canReach(principal, tenantId: instance.tenantId, ownerId: instance.userId) else {
            throw Problem.invalid(field: "instanceId", "no such instance")
        }
        try authorizer.require(principal, .instance, .update)
        let accepted = try await attachments.attach(diskId: disk.id, instanceId: instance.id, mountPath: body.mountPath,
                                                    mountMode: body.mountMode ?? .rw, by: principal)
        context.audit.detail("attachmentId", .string(accepted.attachment.id.uuidString))
        context.audit.detail("instanceId", .string(instance.id.uuidString))
        return try JSONResponse.make(accepted, status: .accepted, headers: [
            .location: "/api/v1/private-data-disks/\(disk.id)/attachments/\(accepted.attachment.id)",
        ])
    }

    /// The disk's attachments (`private-data-disk.attachments`).
    func listAttachments(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let disk = try await reachable(context, .read)
        return try JSONResponse.make(try await disks.attachments(diskId: disk.id, in: nil))
    }

    /// One attachment of the disk (`private-data-disk.attachment`).
    func readAttachment(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let disk = try await reachable(context, .read)
        let id = try context.id("attachmentId", resource: "Disk attachment")
        guard let attachment = try await disks.attachment(id, in: nil), attachment.diskId == disk.id else {
            throw Problem.notFound("Disk attachment")
        }
        return try JSONResponse.make(attachment)
    }

    /// Detach the disk (`private-data-disk.detach`).
    func detach(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let disk = try await reachable(context, .update)
        let id = try context.id("attachmentId", resource: "Disk attachment")
        let accepted = try await attachments.detach(diskId: disk.id, attachmentId: id, by: principal)
        context.audit.detail("attachmentId", .string(id.uuidString))
        return try JSONResponse.make(accepted, status: .accepted)
    }

    /// The instance's disk attachments (`instance.disk-attachments`).
    func instanceAttachments(_ request: Request, context: ZedgeRequestContext) async throws -> Response {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Instance")
        let instance = try await authorizer.reach(principal, .instance, .read, notFound: "Instance") {
            try await instances.find(id)
        } visible: { instance in
            authorizer.canReach(principal, tenantId: instance.tenantId, ownerId: instance.userId)
        }
        return try JSONResponse.make(try await disks.attachments(instanceId: instance.id, in: nil))
    }

    /// The disk if the caller may `action` it (404 outside its reach).
    func reachable(_ context: ZedgeRequestContext, _ action: PermissionAction) async throws -> PrivateDataDisk {
        let principal = try context.requirePrincipal()
        let id = try context.id(resource: "Private data disk")
        context.audit.resource(id)
        return try await authorizer.reach(principal, .storage, action, notFound: "Private data disk") {
            try await disks.find(id)
        } visible: { disk in
            authorizer.canReach(principal, tenantId: disk.tenantId, ownerId: disk.userId)
        }
    }
}
