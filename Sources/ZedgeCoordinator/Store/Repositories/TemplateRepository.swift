import Foundation
import SQLKit
import ZedgeCore

/// Who is asking to list templates, as the visibility rules need it.
public struct TemplateReader: Sendable {
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

/// Templates, their versions (exactly one latest per template) and the groups GROUP_SPECIFIC ones are
/// shared with.
public protocol TemplateRepository: ModelRepository where Model == Template {
    /// One page of the templates `reader` may see: PUBLIC ones, its own, (TENANT_ADMIN) its tenant's, and
    /// GROUP_SPECIFIC ones of its tenant shared with one of its groups; ADMIN all.
    func list(_ query: ListQuery, visibleTo reader: TemplateReader) async throws -> Page<Template>
    /// The groups a GROUP_SPECIFIC template is shared with, in id order.
    func groupIds(of templateId: UUID) async throws -> [UUID]
    /// The groups a user belongs to.
    func groupIds(ofUser userId: UUID) async throws -> [UUID]
    /// Inserts a template with its first version and its group grants, in one transaction.
    func create(_ template: Template, version: TemplateVersion, groupIds: [UUID]) async throws
    /// Writes a template and replaces its group grants, in one transaction; 404 when it is gone.
    func update(_ template: Template, groupIds: [UUID]) async throws
    /// Adds a version that becomes the only latest one and writes the template's mirrored defaults, in one
    /// transaction holding the template's row (so concurrent publishes leave exactly one latest).
    func publish(_ version: TemplateVersion, on template: Template) async throws
}

public struct SQLTemplateRepository: TemplateRepository, SQLBackedStore {
    let base: SQLModelRepository<Template>
    var database: Database { base.database }
    let templates = Tables.templates
    let versions = Tables.templateVersions
    let grants = Tables.templateGroupGrants

    public init(database: Database) {
        base = SQLModelRepository(Tables.templates, database: database)
    }

    public func insert(_ model: Template) async throws { try await base.insert(model) }

    public func list(_ query: ListQuery, visibleTo reader: TemplateReader) async throws -> Page<Template> {
        var scope: SQLQueryString?
        if !reader.isAdmin {
            var text: SQLQueryString = "(visibility = 'PUBLIC' OR owner_id = \(bind: reader.userId)"
            if let tenant = reader.tenantId {
                if reader.isTenantAdmin { text = text + " OR tenant_id = \(bind: tenant)" }
                text = text + """
                     OR (visibility = 'GROUP_SPECIFIC' AND tenant_id = \(bind: tenant) AND id IN (SELECT g.template_id FROM template_group_grants g
                        JOIN user_group_members m ON m.group_id = g.user_group_id WHERE m.user_id = \(bind: reader.userId)))
                    """
            }
            scope = text + ")"
        }
        return try await templates.list(
            filters: try query.filters.map(SQLModelRepository<Template>.sqlFilter), scope: scope, page: query.page, on: database.sql)
    }

    public func groupIds(of templateId: UUID) async throws -> [UUID] {
        try await database.sql.select().column("user_group_id").from(grants.name)
            .where("template_id", .equal, templateId).orderBy("user_group_id").all()
            .map { try $0.decode(column: "user_group_id", as: UUID.self) }
    }

    public func groupIds(ofUser userId: UUID) async throws -> [UUID] {
        try await database.sql.select().column("group_id").from(Tables.groupMembers.name)
            .where("user_id", .equal, userId).all().map { try $0.decode(column: "group_id", as: UUID.self) }
    }

    public func create(_ template: Template, version: TemplateVersion, groupIds: [UUID]) async throws {
        let templates = self.templates, versions = self.versions, grants = self.grants
        try await database.transaction { tx in
            try await templates.insert(template, on: tx.db)
            try await versions.insert(version, on: tx.db)
            for groupId in groupIds { try await grants.insert(TemplateGroupGrant(templateId: template.id, userGroupId: groupId), on: tx.db) }
        }
    }

    public func update(_ template: Template, groupIds: [UUID]) async throws {
        let templates = self.templates, grants = self.grants
        try await database.transaction { tx in
            guard try await templates.update(template, on: tx.db) else { throw DomainError.notFound("Template") }
            try await tx.db.delete(from: grants.name).where("template_id", .equal, template.id).run()
            for groupId in groupIds { try await grants.insert(TemplateGroupGrant(templateId: template.id, userGroupId: groupId), on: tx.db) }
        }
    }

    public func publish(_ version: TemplateVersion, on template: Template) async throws {
        let templates = self.templates, versions = self.versions
        try await database.transaction { tx in
            // Concurrent publishes run one after another: each one's update below must see the version the
            // previous one inserted, or both stay latest.
            try await tx.lock(templates, template.id)
            try await tx.db.update(versions.name).set("is_latest", to: SQLBind(false))
                .where("template_id", .equal, template.id).run()
            try await versions.insert(version, on: tx.db)
            _ = try await templates.update(template, on: tx.db)
        }
    }
}
