import Foundation
import ZedgeCore

/// Who may see, change and use a template (see `TemplateController`), and finding the version an instance
/// create asks for.
public struct TemplateAccess: Sendable {
    let templates: any TemplateRepository
    let versions: any ModelRepository<TemplateVersion>

    public init(templates: any TemplateRepository, versions: any ModelRepository<TemplateVersion>) {
        self.templates = templates
        self.versions = versions
    }

    /// The groups a GROUP_SPECIFIC template is shared with.
    func groupIds(of templateId: UUID) async throws -> [UUID] {
        try await templates.groupIds(of: templateId)
    }

    public func canSee(_ template: Template, _ principal: Principal) async throws -> Bool {
        if principal.role == .admin || template.visibility == .public || canManage(template, principal) { return true }
        guard template.visibility == .groupSpecific, template.tenantId == nil || template.tenantId == principal.tenantId else {
            return false
        }
        let mine = Set(try await templates.groupIds(ofUser: principal.userId))
        return try await templates.groupIds(of: template.id).contains(where: mine.contains)
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
        try await templates.list(query, visibleTo: TemplateReader(
            userId: principal.userId, tenantId: principal.tenantId, isAdmin: principal.role == .admin,
            isTenantAdmin: principal.role == .tenantAdmin))
    }

    /// The template and version an instance create names, checked for visibility (400 naming `templateId`)
    /// and status (409): the latest version unless `versionNumber` names one.
    func resolveForUse(
        templateId: UUID, versionNumber: String?, principal: Principal
    ) async throws -> (Template, TemplateVersion, TemplateConfig) {
        guard let template = try await templates.find(templateId), try await canSee(template, principal) else {
            throw DomainError.invalid(field: "templateId", "no such template")
        }
        guard template.status == .active else {
            throw DomainError.conflict("Template '\(template.name)' is \(template.status.rawValue): it takes no new instances.", field: "templateId")
        }
        var filters: [PropertyFilter] = [.equal("templateId", template.id)]
        filters.append(versionNumber.map { PropertyFilter("versionNumber", .string($0)) } ?? PropertyFilter("isLatest", .bool(true)))
        guard let version = try await versions.first(filters) else {
            throw DomainError.invalid(field: versionNumber == nil ? "templateId" : "templateVersion",
                                      versionNumber.map { "the template has no version '\($0)'" } ?? "the template has no published version")
        }
        do {
            return (template, version, try version.configSnapshot.decode(as: TemplateConfig.self))
        } catch {
            throw DomainError.conflict("Template version \(version.versionNumber) has an unreadable config; publish a new version.")
        }
    }
}
