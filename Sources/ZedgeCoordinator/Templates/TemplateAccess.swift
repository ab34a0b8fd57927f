import Foundation
import SQLKit
import ZedgeCore

/// Who may see, change and use a template (see `TemplateController`), and finding the version an instance
/// create asks for.
public struct TemplateAccess: Sendable {
    let database: Database
    let store: Store
    let tables = Tables()

    struct Tables: Sendable {
        let templates = Table<Template>("templates", resource: "template")
        let versions = Table<TemplateVersion>("template_versions", resource: "template version")
        let grants = Table<TemplateGroupGrant>("template_group_grants", resource: "template group grant")
    }

    public init(store: Store) {
        self.store = store
        self.database = store.database
    }

    /// The groups the user belongs to.
    func groupIds(ofUser userId: UUID) async throws -> [UUID] {
        try await database.sql.select().column("group_id").from("user_group_members")
            .where("user_id", .equal, userId).all().map { try $0.decode(column: "group_id", as: UUID.self) }
    }

    /// The groups a GROUP_SPECIFIC template is shared with.
    func groupIds(of templateId: UUID) async throws -> [UUID] {
        try await database.sql.select().column("user_group_id").from("template_group_grants")
            .where("template_id", .equal, templateId).orderBy("user_group_id").all()
            .map { try $0.decode(column: "user_group_id", as: UUID.self) }
    }

    public func canSee(_ template: Template, _ principal: Principal) async throws -> Bool {
        if principal.role == .admin || template.visibility == .public || canManage(template, principal) { return true }
        guard template.visibility == .groupSpecific, template.tenantId == nil || template.tenantId == principal.tenantId else {
            return false
        }
        let mine = Set(try await groupIds(ofUser: principal.userId))
        return try await groupIds(of: template.id).contains(where: mine.contains)
    }

    /// Its owner, its tenant's TENANT_ADMINs and ADMIN.
    public func canManage(_ template: Template, _ principal: Principal) -> Bool {
        switch principal.role {
        case .admin: true
        case .tenantAdmin: template.tenantId != nil && template.tenantId == principal.tenantId
        case .operator, .user: template.ownerId == principal.userId
        }
    }

    /// One page of the templates `principal` can see.
    func list(_ query: ListQuery, for principal: Principal) async throws -> Page<Template> {
        var scope: SQLQueryString?
        if principal.role != .admin {
            var text: SQLQueryString = "(visibility = 'PUBLIC' OR owner_id = \(bind: principal.userId)"
            if let tenant = principal.tenantId {
                if principal.role == .tenantAdmin { text = text + " OR tenant_id = \(bind: tenant)" }
                text = text + """
                     OR (visibility = 'GROUP_SPECIFIC' AND tenant_id = \(bind: tenant) AND id IN (SELECT g.template_id FROM template_group_grants g
                        JOIN user_group_members m ON m.group_id = g.user_group_id WHERE m.user_id = \(bind: principal.userId)))
                    """
            }
            scope = text + ")"
        }
        return try await tables.templates.list(
            filters: try query.filters.map(SQLModelRepository<Template>.sqlFilter), scope: scope, page: query.page, on: database.sql)
    }

    /// The template and version an instance create names, checked for visibility (404) and status (409):
    /// the latest version unless `versionNumber` names one.
    func resolveForUse(
        templateId: UUID, versionNumber: String?, principal: Principal
    ) async throws -> (Template, TemplateVersion, TemplateConfig) {
        guard let template = try await store.templates.find(templateId), try await canSee(template, principal) else {
            throw Problem(.badRequest, detail: "No such template.", errors: [FieldError(field: "templateId", message: "no such template")])
        }
        guard template.status == .active else {
            throw Problem.conflict("Template '\(template.name)' is \(template.status.rawValue): it takes no new instances.", field: "templateId")
        }
        var filters: [PropertyFilter] = [.equal("templateId", template.id)]
        filters.append(versionNumber.map { PropertyFilter("versionNumber", .string($0)) } ?? PropertyFilter("isLatest", .bool(true)))
        guard let version = try await store.templateVersions.first(filters) else {
            throw Problem.invalid(field: versionNumber == nil ? "templateId" : "templateVersion",
                                  versionNumber.map { "the template has no version '\($0)'" } ?? "the template has no published version")
        }
        do {
            return (template, version, try version.configSnapshot.decode(as: TemplateConfig.self))
        } catch {
            throw Problem.conflict("Template version \(version.versionNumber) has an unreadable config; publish a new version.")
        }
    }
}
