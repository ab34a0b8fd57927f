import Foundation
import Logging
import SQLKit
import ZedgeCore

/// Every repository of the coordinator over one database.
public struct Store: Sendable {
    public let database: Database
    public let tenants: any ModelRepository<Tenant>
    public let users: any UserRepository
    public let userGroups: any ModelRepository<UserGroup>
    public let groupMembers: any ModelRepository<UserGroupMember>
    public let permissions: any ModelRepository<Permission>
    public let rolePermissions: any ModelRepository<RolePermission>
    public let apiKeys: any ApiKeyRepository
    public let refreshTokens: any RefreshTokenRepository
    public let auditLogs: any TimeSeriesRepository<AuditLog>
    public let metricSamples: any TimeSeriesRepository<MetricSample>
    public let edgeDataCenters: any ModelRepository<EdgeDataCenter>
    public let resourcePools: any ModelRepository<ResourcePool>
    public let computeMachines: any ModelRepository<ComputeMachine>
    public let cloudBoxes: any ModelRepository<CloudBox>
    public let enrollmentTokens: any EnrollmentTokenRepository
    public let agentCredentials: any AgentCredentialRepository
    public let templates: any ModelRepository<Template>
    public let templateVersions: any ModelRepository<TemplateVersion>
    public let templateGroupGrants: any ModelRepository<TemplateGroupGrant>
    public let instances: any ModelRepository<Instance>
    public let virtualMachines: any ModelRepository<VirtualMachine>
    public let instanceSets: any ModelRepository<InstanceSet>
    public let instanceSetMembers: any ModelRepository<InstanceSetMember>
    public let capacityClaims: any ModelRepository<CapacityClaim>

    public init(database: Database) {
        self.database = database
        tenants = SQLModelRepository(Table("tenants"), database: database)
        users = SQLUserRepository(database: database)
        userGroups = SQLModelRepository(Table("user_groups"), database: database)
        groupMembers = SQLModelRepository(Table("user_group_members"), database: database)
        permissions = SQLModelRepository(Table("permissions"), database: database)
        rolePermissions = SQLModelRepository(Table("role_permissions"), database: database)
        apiKeys = SQLApiKeyRepository(database: database)
        refreshTokens = SQLRefreshTokenRepository(database: database)
        auditLogs = SQLTimeSeriesRepository(Table("audit_logs"), timeColumn: "created_at", database: database)
        metricSamples = SQLTimeSeriesRepository(Table("metric_samples"), timeColumn: "recorded_at", database: database)
        edgeDataCenters = SQLModelRepository(Table("edge_data_centers"), database: database)
        resourcePools = SQLModelRepository(Table("resource_pools"), database: database)
        computeMachines = SQLModelRepository(Table("compute_machines"), database: database)
        cloudBoxes = SQLModelRepository(Table("cloud_boxes"), database: database)
        enrollmentTokens = SQLEnrollmentTokenRepository(database: database)
        agentCredentials = SQLAgentCredentialRepository(database: database)
        templates = SQLModelRepository(Table("templates"), database: database)
        templateVersions = SQLModelRepository(Table("template_versions"), database: database)
        templateGroupGrants = SQLModelRepository(Table("template_group_grants"), database: database)
        instances = SQLModelRepository(Table("instances"), database: database)
        virtualMachines = SQLModelRepository(Table("virtual_machines"), database: database)
        instanceSets = SQLModelRepository(Table("instance_sets"), database: database)
        instanceSetMembers = SQLModelRepository(Table("instance_set_members"), database: database)
        capacityClaims = SQLModelRepository(Table("capacity_claims"), database: database)
    }
}

extension Store {
    /// Inserts the Permission rows that do not exist yet and, for each new one, the default grants of
    /// `PermissionCatalog`; grants an operator removed from an existing permission stay removed.
    public func seedPermissions() async throws {
        let existing = try await allPages { try await permissions.list(.init(page: $0)) }
        let known = Set(existing.map(\.permissionName))
        for (resource, action) in PermissionCatalog.allPermissions {
            let name = PermissionCatalog.name(resource, action)
            guard !known.contains(name) else { continue }
            let permission = Permission(
                resourceType: resource, action: action, permissionName: name,
                description: PermissionCatalog.describe(resource, action))
            try await permissions.insert(permission)
            for role in UserRole.allCases where PermissionCatalog.defaultGrants(for: role).contains(name) {
                try await rolePermissions.insert(RolePermission(role: role, permissionId: permission.id))
            }
        }
    }

    /// The grants per role as the RolePermission rows say.
    public func loadGrants() async throws -> [UserRole: Set<String>] {
        let permissionsById = Dictionary(
            uniqueKeysWithValues: try await allPages { try await permissions.list(.init(page: $0)) }.map { ($0.id, $0) })
        var grants: [UserRole: Set<String>] = [:]
        for grant in try await allPages({ try await rolePermissions.list(.init(page: $0)) }) {
            if let permission = permissionsById[grant.permissionId] {
                grants[grant.role, default: []].insert(permission.permissionName)
            }
        }
        return grants
    }

    /// Reads every page of a list.
    func allPages<T>(_ fetch: (PageRequest) async throws -> Page<T>) async throws -> [T] where T: Identifiable, T.ID == UUID {
        var items: [T] = []
        var page = PageRequest(limit: PageRequest.maximumLimit)
        while true {
            let result = try await fetch(page)
            items += result.items
            guard result.nextCursor != nil, let last = result.items.last else { return items }
            page.after = last.id
        }
    }

    /// Creates the `admin` user on first start with an empty user table. Returns the generated password
    /// when none was configured (to be printed once), nil otherwise.
    public func bootstrapAdmin(password configured: String?, hasher: PasswordHasher) async throws -> (created: Bool, generatedPassword: String?) {
        guard try await users.count([]) == 0 else { return (false, nil) }
        let password = configured ?? SecretToken.generate(.apiKey).value.split(separator: "_").last.map(String.init)!
        if let problem = Validate.password(password, field: "ZEDGE_BOOTSTRAP_ADMIN_PASSWORD") {
            throw ConfigurationError("\(problem.field) \(problem.message)")
        }
        let admin = User(username: "admin", email: "admin@zedge.invalid", role: .admin, status: .active)
        try await users.insert(admin, passwordHash: try await hasher.hash(password))
        return (true, configured == nil ? password : nil)
    }
}
