import Foundation
import ZedgeCore

/// Every table whose rows are a model, declared once: its SQL name and its name in messages.
enum Tables {
    static let tenants = Table<Tenant>("tenants")
    static let users = Table<User>("users")
    static let userGroups = Table<UserGroup>("user_groups")
    static let groupMembers = Table<UserGroupMember>("user_group_members")
    static let permissions = Table<Permission>("permissions")
    static let rolePermissions = Table<RolePermission>("role_permissions")
    static let apiKeys = Table<ApiKey>("api_keys")
    static let refreshTokens = Table<RefreshToken>("refresh_tokens")
    static let auditLogs = Table<AuditLog>("audit_logs")
    static let metricSamples = Table<MetricSample>("metric_samples")
    static let edgeDataCenters = Table<EdgeDataCenter>("edge_data_centers")
    static let resourcePools = Table<ResourcePool>("resource_pools")
    static let computeMachines = Table<ComputeMachine>("compute_machines")
    static let cloudBoxes = Table<CloudBox>("cloud_boxes")
    static let enrollmentTokens = Table<EnrollmentToken>("enrollment_tokens")
    static let agentCredentials = Table<AgentCredential>("agent_credentials")
    static let templates = Table<Template>("templates")
    static let templateVersions = Table<TemplateVersion>("template_versions")
    static let templateGroupGrants = Table<TemplateGroupGrant>("template_group_grants")
    static let instances = Table<Instance>("instances")
    static let virtualMachines = Table<VirtualMachine>("virtual_machines")
    static let instanceSets = Table<InstanceSet>("instance_sets")
    static let instanceSetMembers = Table<InstanceSetMember>("instance_set_members")
    static let capacityClaims = Table<CapacityClaim>("capacity_claims")
    static let agentTasks = Table<AgentTask>("agent_tasks")
    static let operations = Table<ZedgeCore.Operation>("operations")
    static let taskEvents = Table<TaskEvent>("task_events")
}
