import Foundation
import SQLKit
import ZedgeCore

/// Who is asking to list images, as the visibility rules need it.
public struct ImageReader: Sendable {
    public var userId: UUID
    public var tenantId: UUID?
    public var isAdmin: Bool
    public var isTenantAdmin: Bool

    public init(userId: UUID, tenantId: UUID?, isAdmin: Bool, isTenantAdmin: Bool) {
        self.userId = userId
        self.tenantId = tenantId
        self.isAdmin = isAdmin
        self.isTenantAdmin = isTenantAdmin
    }
}

/// Images, their versions and tags, and the groups GROUP_SPECIFIC images are shared with. The rules
/// (exactly one latest, immutable tags, one file per version) are `ImageService`'s; the transactional
/// methods here take the caller's transaction so that it can read, check and write under one lock.
public protocol ImageRepository: ModelRepository where Model == Image {
    /// One page of the images `reader` may see: PUBLIC ones, its own, (TENANT_ADMIN) its tenant's, and
    /// GROUP_SPECIFIC ones of its tenant (or global) shared with one of its groups; ADMIN all.
    func list(_ query: ListQuery, visibleTo reader: ImageReader) async throws -> Page<Image>
    /// The groups a GROUP_SPECIFIC image is shared with, in id order.
    func groupIds(of imageId: UUID) async throws -> [UUID]
    /// The groups a user belongs to.
    func groupIds(ofUser userId: UUID) async throws -> [UUID]
    /// Inserts an image with its group grants, in one transaction.
    func create(_ image: Image, groupIds: [UUID]) async throws
    /// Writes an image and replaces its group grants, in one transaction; 404 when it is gone.
    func update(_ image: Image, groupIds: [UUID]) async throws
    /// How many templates name the image as their `baseImageId` (no foreign key: the seed gives none).
    func templateCount(baseImageId: UUID) async throws -> Int
    /// How many instances that are not DELETED were created from the image (or from one version of it): their
    /// config records the `ImageRef` (`image.imageId`, `image.versionId`) an evacuation rebuilds from.
    func liveInstanceCount(imageId: UUID, versionId: UUID?, in tx: Transaction?) async throws -> Int

    /// Reads the image, holding its row for the rest of the transaction (what serialises changes to its
    /// versions' `isLatest`/`isDefault` and to its tags).
    func lock(_ imageId: UUID, in tx: Transaction) async throws -> Image?
    /// Deletes the image; its versions, tags and grants go with it (CASCADE). False when it was gone.
    func delete(_ imageId: UUID, in tx: Transaction) async throws -> Bool

    func version(_ id: UUID, in tx: Transaction?) async throws -> ImageVersion?
    /// Reads a version, holding its row for the rest of the transaction.
    func lockVersion(_ id: UUID, in tx: Transaction) async throws -> ImageVersion?
    /// The image's version matching every filter (e.g. `versionNumber`, `isDefault`).
    func version(of imageId: UUID, where filters: [PropertyFilter], in tx: Transaction?) async throws -> ImageVersion?
    /// One page of versions (the caller forces `imageId`).
    func versions(_ query: ListQuery) async throws -> Page<ImageVersion>
    /// Every version of the image, newest first.
    func allVersions(of imageId: UUID, in tx: Transaction) async throws -> [ImageVersion]
    func insert(_ version: ImageVersion, in tx: Transaction) async throws
    func update(_ version: ImageVersion, in tx: Transaction) async throws
    func deleteVersion(_ id: UUID, in tx: Transaction) async throws
    /// Clears `isLatest` (`latest`) or `isDefault` (`!latest`) on every version of the image.
    func clearFlag(latest: Bool, of imageId: UUID, in tx: Transaction) async throws
    /// How many versions' files are this SHA-256.
    func versionCount(sha256: String, in tx: Transaction) async throws -> Int
    /// Holds the file named by `sha256` for the rest of the transaction (PostgreSQL advisory lock; SQLite's
    /// write lock already serialises): placing a file and deciding that nothing uses it run one at a time.
    func lockFile(sha256: String, in tx: Transaction) async throws

    func tag(of imageId: UUID, named name: String, in tx: Transaction?) async throws -> ImageTag?
    /// One page of tags (the caller forces `imageId`).
    func tags(_ query: ListQuery) async throws -> Page<ImageTag>
    /// The tags that point at a version.
    func tags(ofVersion versionId: UUID, in tx: Transaction) async throws -> [ImageTag]
    func insert(_ tag: ImageTag, in tx: Transaction) async throws
    func update(_ tag: ImageTag, in tx: Transaction) async throws
    func deleteTag(_ id: UUID, in tx: Transaction) async throws
}

public struct SQLImageRepository: ImageRepository, SQLBackedStore, DatabaseBacked {
    let base: SQLModelRepository<Image>
    var database: Database { base.database }
    let images = Tables.images
    let versionTable = Tables.imageVersions
    let tagTable = Tables.imageTags
    let grants = Tables.imageGroupGrants

    public init(database: Database) {
        base = SQLModelRepository(Tables.images, database: database)
    }

    public func insert(_ model: Image) async throws { try await base.insert(model) }

    public func list(_ query: ListQuery, visibleTo reader: ImageReader) async throws -> Page<Image> {
        var scope: SQLQueryString?
        if !reader.isAdmin {
            var text: SQLQueryString = "(visibility = 'PUBLIC' OR owner_id = \(bind: reader.userId)"
            var groupTenant: SQLQueryString = "tenant_id IS NULL"
            if let tenant = reader.tenantId {
                if reader.isTenantAdmin { text = text + " OR tenant_id = \(bind: tenant)" }
                groupTenant = "(tenant_id IS NULL OR tenant_id = \(bind: tenant))"
            }
            text = text + """
                 OR (visibility = 'GROUP_SPECIFIC' AND \(groupTenant) AND id IN (SELECT g.image_id FROM image_group_grants g
                    JOIN user_group_members m ON m.group_id = g.user_group_id WHERE m.user_id = \(bind: reader.userId)))
                """
            scope = text + ")"
        }
        return try await images.list(
            filters: try query.filters.map(SQLModelRepository<Image>.sqlFilter), scope: scope, page: query.page, on: database.sql)
    }

    public func groupIds(of imageId: UUID) async throws -> [UUID] {
        try await database.sql.select().column("user_group_id").from(grants.name)
            .where("image_id", .equal, imageId).orderBy("user_group_id").all()
            .map { try $0.decode(column: "user_group_id", as: UUID.self) }
    }

    public func groupIds(ofUser userId: UUID) async throws -> [UUID] {
        try await database.sql.select().column("group_id").from(Tables.groupMembers.name)
            .where("user_id", .equal, userId).all().map { try $0.decode(column: "group_id", as: UUID.self) }
    }

    public func create(_ image: Image, groupIds: [UUID]) async throws {
        let images = self.images, grants = self.grants
        try await database.transaction { tx in
            try await images.insert(image, on: tx.db)
            for groupId in groupIds { try await grants.insert(ImageGroupGrant(imageId: image.id, userGroupId: groupId), on: tx.db) }
        }
    }

    public func update(_ image: Image, groupIds: [UUID]) async throws {
        let images = self.images, grants = self.grants
        try await database.transaction { tx in
            guard try await images.update(image, on: tx.db) else { throw DomainError.notFound("Image") }
            try await tx.db.delete(from: grants.name).where("image_id", .equal, image.id).run()
            for groupId in groupIds { try await grants.insert(ImageGroupGrant(imageId: image.id, userGroupId: groupId), on: tx.db) }
        }
    }

    public func templateCount(baseImageId: UUID) async throws -> Int {
        try await Tables.templates.count(where: [try .equal("baseImageId", baseImageId)], on: database.sql)
    }

    public func liveInstanceCount(imageId: UUID, versionId: UUID?, in tx: Transaction?) async throws -> Int {
        // The config is JSON text written by ZedgeJSON (sorted keys, no spaces, UUIDs as their uuidString).
        func pattern(_ key: String, _ id: UUID) throws -> String {
            let value = String(decoding: try ZedgeJSON.encoder().encode(id), as: UTF8.self)
            return "%\"\(key)\":\(value)%"
        }
        let db = tx?.db ?? database.sql
        var query = db.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from(Tables.instances.name)
            .where("status", .notEqual, InstanceStatus.deleted.rawValue)
            .where(SQLIdentifier("config"), .like, SQLBind(try pattern("imageId", imageId)))
        if let versionId { query = query.where(SQLIdentifier("config"), .like, SQLBind(try pattern("versionId", versionId))) }
        return try await query.first()?.decode(column: "n", as: Int.self) ?? 0
    }

    public func lock(_ imageId: UUID, in tx: Transaction) async throws -> Image? {
        try await tx.lock(images, imageId)
        return try await images.find(imageId, on: tx.db)
    }

    public func delete(_ imageId: UUID, in tx: Transaction) async throws -> Bool {
        try await images.delete(imageId, on: tx.db)
    }

    public func version(_ id: UUID, in tx: Transaction?) async throws -> ImageVersion? {
        try await versionTable.find(id, on: db(tx))
    }

    public func lockVersion(_ id: UUID, in tx: Transaction) async throws -> ImageVersion? {
        try await tx.lock(versionTable, id)
        return try await versionTable.find(id, on: tx.db)
    }

    public func version(of imageId: UUID, where filters: [PropertyFilter], in tx: Transaction?) async throws -> ImageVersion? {
        let conditions = try [.equal("imageId", imageId)] + filters.map(SQLModelRepository<ImageVersion>.sqlFilter)
        return try await versionTable.first(where: conditions, on: db(tx))
    }

    public func versions(_ query: ListQuery) async throws -> Page<ImageVersion> {
        try await versionTable.list(filters: try query.filters.map(SQLModelRepository<ImageVersion>.sqlFilter), page: query.page,
                                    on: database.sql)
    }

    public func allVersions(of imageId: UUID, in tx: Transaction) async throws -> [ImageVersion] {
        try await tx.db.select().column("*").from(versionTable.name).where("image_id", .equal, imageId)
            .orderBy("id", .descending).all().map { try RowCodec.decode(ImageVersion.self, from: $0) }
    }

    public func insert(_ version: ImageVersion, in tx: Transaction) async throws { try await versionTable.insert(version, on: tx.db) }

    public func update(_ version: ImageVersion, in tx: Transaction) async throws {
        guard try await versionTable.update(version, on: tx.db) else { throw DomainError.notFound("Image version") }
    }

    public func deleteVersion(_ id: UUID, in tx: Transaction) async throws {
        guard try await versionTable.delete(id, on: tx.db) else { throw DomainError.notFound("Image version") }
    }

    public func clearFlag(latest: Bool, of imageId: UUID, in tx: Transaction) async throws {
        try await tx.db.update(versionTable.name).set(SQLIdentifier(latest ? "is_latest" : "is_default"), to: SQLBind(false))
            .where("image_id", .equal, imageId).run()
    }

    public func versionCount(sha256: String, in tx: Transaction) async throws -> Int {
        try await versionTable.count(where: [try .equal("checksumSha256", sha256)], on: tx.db)
    }

    public func lockFile(sha256: String, in tx: Transaction) async throws {
        guard tx.engine == .postgres else { return }
        try await tx.db.raw("SELECT pg_advisory_xact_lock(hashtextextended(\(bind: "zedge-image-file:" + sha256), 0))").run()
    }

    public func tag(of imageId: UUID, named name: String, in tx: Transaction?) async throws -> ImageTag? {
        try await tagTable.first(where: [try .equal("imageId", imageId), try .equal("tagName", name)], on: db(tx))
    }

    public func tags(_ query: ListQuery) async throws -> Page<ImageTag> {
        try await tagTable.list(filters: try query.filters.map(SQLModelRepository<ImageTag>.sqlFilter), page: query.page, on: database.sql)
    }

    public func tags(ofVersion versionId: UUID, in tx: Transaction) async throws -> [ImageTag] {
        try await tx.db.select().column("*").from(tagTable.name).where("version_id", .equal, versionId).orderBy("id").all()
            .map { try RowCodec.decode(ImageTag.self, from: $0) }
    }

    public func insert(_ tag: ImageTag, in tx: Transaction) async throws { try await tagTable.insert(tag, on: tx.db) }

    public func update(_ tag: ImageTag, in tx: Transaction) async throws {
        guard try await tagTable.update(tag, on: tx.db) else { throw DomainError.notFound("Image tag") }
    }

    public func deleteTag(_ id: UUID, in tx: Transaction) async throws {
        guard try await tagTable.delete(id, on: tx.db) else { throw DomainError.notFound("Image tag") }
    }
}
